//! One spawned engine process: the thread that owns it (spawn, containment in its group,
//! reaping), its recorded exit, and the stop sequence. The launch attempts around it live in
//! `engine.rs`.

use std::path::Path;
use std::process::{ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::logs::{LogSink, Stream};
use crate::platform::{self, Group};
use crate::{EventHandler, StopOutcome, SupervisorError, SupervisorEvent};

/// How long to let the pipe readers catch the last lines before reporting an exit.
pub(crate) const DRAIN_TIMEOUT: Duration = Duration::from_millis(500);
/// After SIGKILL, a process ends as soon as the kernel lets it; longer means it is stuck.
pub(crate) const KILL_TIMEOUT: Duration = Duration::from_secs(5);

/// How a process ended, in the words the UI shows.
#[derive(Debug, Clone)]
pub(crate) struct Exit {
    pub(crate) code: Option<i32>,
    pub(crate) description: String,
}

impl Exit {
    fn from_status(status: std::io::Result<ExitStatus>) -> Exit {
        match status {
            Ok(status) => Exit {
                code: status.code(),
                description: describe(status),
            },
            Err(error) => Exit {
                code: None,
                description: format!("exit status unknown: {error}"),
            },
        }
    }
}

fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit code {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("killed by signal {signal}");
        }
    }
    status.to_string()
}

/// Shared between the owning thread (which records the exit) and the handle.
#[derive(Default)]
struct ProcessState {
    inner: Mutex<ProcessInner>,
    changed: Condvar,
}

#[derive(Default)]
struct ProcessInner {
    exit: Option<Exit>,
    /// Set once `/health` trusted it: an exit after this is reported as an event.
    ready: bool,
    /// Set by `stop`: that exit is expected and not reported.
    stopping: bool,
}

impl ProcessState {
    fn lock(&self) -> MutexGuard<'_, ProcessInner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One spawned engine process and its group.
pub(crate) struct Process {
    pub(crate) pid: u32,
    stdin: Option<ChildStdin>,
    group: Arc<Group>,
    state: Arc<ProcessState>,
}

/// Spawns `command` on a dedicated thread that lives exactly as long as the child.
///
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, not the process:
/// spawning from the caller's thread (a Tauri setup thread, a short-lived worker) would kill
/// the engine as soon as that thread ends. The owner thread also waits for the exit, kills
/// what the engine left behind in its group, and reports unexpected exits.
pub(crate) fn spawn_owned(
    mut command: Command,
    program: &Path,
    logs: Arc<LogSink>,
    on_event: EventHandler,
) -> Result<(Process, ChildStdout, ChildStderr), SupervisorError> {
    let spawn_error = |source| SupervisorError::Spawn {
        program: program.to_owned(),
        source,
    };
    let state = Arc::new(ProcessState::default());
    let owner_state = Arc::clone(&state);
    let (sender, receiver) = mpsc::channel();
    std::thread::Builder::new()
        .name("engine-owner".into())
        .spawn(move || {
            let mut child = match command.spawn() {
                Ok(child) => child,
                Err(error) => {
                    let _ = sender.send(Err(error));
                    return;
                }
            };
            let group = match platform::contain(&child) {
                Ok(group) => Arc::new(group),
                Err(error) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let _ = sender.send(Err(error));
                    return;
                }
            };
            let pid = child.id();
            let pipes = (child.stdin.take(), child.stdout.take(), child.stderr.take());
            if sender.send(Ok((pid, pipes, Arc::clone(&group)))).is_err() {
                group.kill();
                let _ = child.wait();
                return;
            }
            let early_status = platform::block_until_exit(&mut child);
            // The leader is gone; nothing it started may outlive it. On Linux its pid (= the
            // group id) is still held by the unreaped zombie, so this cannot hit a stranger.
            group.kill();
            let (exit, unexpected) = {
                let mut inner = owner_state.lock();
                let exit = match early_status {
                    Some(status) => Exit::from_status(Ok(status)),
                    None => Exit::from_status(child.wait()),
                };
                // Logged before anyone waiting on the exit wakes up, so the line is in the log
                // by the time `stop` returns.
                logs.line(
                    Stream::Supervisor,
                    &format!("engine pid {pid} ended: {}", exit.description),
                );
                inner.exit = Some(exit.clone());
                (exit, inner.ready && !inner.stopping)
            };
            owner_state.changed.notify_all();
            if unexpected {
                logs.wait_streams_closed(DRAIN_TIMEOUT);
                on_event(SupervisorEvent::Exited {
                    code: exit.code,
                    log_tail: logs.tail(),
                });
            }
        })
        .map_err(spawn_error)?;
    let (pid, (stdin, stdout, stderr), group) = receiver
        .recv()
        .map_err(|_| {
            spawn_error(std::io::Error::other(
                "the process owner thread ended early",
            ))
        })?
        .map_err(spawn_error)?;
    let (Some(stdout), Some(stderr)) = (stdout, stderr) else {
        unreachable!("stdout and stderr are configured as pipes");
    };
    let process = Process {
        pid,
        stdin,
        group,
        state,
    };
    Ok((process, stdout, stderr))
}

impl Process {
    pub(crate) fn exit(&self) -> Option<Exit> {
        self.state.lock().exit.clone()
    }

    /// Waits up to `timeout` for the exit.
    pub(crate) fn wait_exit(&self, timeout: Duration) -> Option<Exit> {
        let deadline = Instant::now() + timeout;
        let mut inner = self.state.lock();
        loop {
            if let Some(exit) = &inner.exit {
                return Some(exit.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            inner = match self.state.changed.wait_timeout(inner, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Runs `send` on the group unless the exit was already recorded: the owner reaps under the
    /// same lock, so a signal never reaches a recycled pid. Returns whether it was sent.
    pub(crate) fn signal(&self, send: impl FnOnce(&Group)) -> bool {
        let inner = self.state.lock();
        if inner.exit.is_some() {
            return false;
        }
        send(&self.group);
        true
    }

    pub(crate) fn mark_ready(&self) -> Result<(), Exit> {
        let mut inner = self.state.lock();
        match &inner.exit {
            Some(exit) => Err(exit.clone()),
            None => {
                inner.ready = true;
                Ok(())
            }
        }
    }

    pub(crate) fn kill_and_wait(&self) {
        self.state.lock().stopping = true;
        self.signal(Group::kill);
        self.wait_exit(KILL_TIMEOUT);
    }

    /// Close stdin → wait → SIGTERM the group → wait → SIGKILL the group.
    pub(crate) fn stop(&mut self, grace: Duration, logs: &LogSink) -> StopOutcome {
        {
            let mut inner = self.state.lock();
            inner.stopping = true;
            if let Some(exit) = &inner.exit {
                return StopOutcome::AlreadyExited { code: exit.code };
            }
        }
        logs.line(Stream::Supervisor, "stopping: closing stdin");
        drop(self.stdin.take());
        if let Some(exit) = self.wait_exit(grace) {
            return StopOutcome::StdinClosed { code: exit.code };
        }
        logs.line(
            Stream::Supervisor,
            "stopping: still running, sending SIGTERM to its process group",
        );
        if !self.signal(Group::terminate) {
            let code = self.exit().and_then(|exit| exit.code);
            return StopOutcome::StdinClosed { code };
        }
        if let Some(exit) = self.wait_exit(grace) {
            return StopOutcome::Terminated { code: exit.code };
        }
        logs.line(
            Stream::Supervisor,
            "stopping: still running, sending SIGKILL to its process group",
        );
        if !self.signal(Group::kill) {
            let code = self.exit().and_then(|exit| exit.code);
            return StopOutcome::Terminated { code };
        }
        match self.wait_exit(KILL_TIMEOUT) {
            Some(_) => StopOutcome::Killed,
            None => StopOutcome::StillRunning,
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Safety net for paths that return early; a stopped process makes this a no-op.
        self.state.lock().stopping = true;
        self.signal(Group::kill);
    }
}
