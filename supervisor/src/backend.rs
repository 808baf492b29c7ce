//! Launch attempts, readiness, health and the handle to a running backend.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use runtime_spec::launch::{launch_env, Ready};

use crate::health::{HealthAnswer, HealthProbe};
use crate::logs::{LogSink, Stream};
use crate::platform::{self, Group};
use crate::{EventHandler, LaunchRequest, StopOutcome, SupervisorError, SupervisorEvent};

/// How long to let the pipe readers catch the last lines before reporting an exit.
const DRAIN_TIMEOUT: Duration = Duration::from_millis(500);
/// After SIGKILL, a process ends as soon as the kernel lets it; longer means it is stuck.
const KILL_TIMEOUT: Duration = Duration::from_secs(5);
/// Health polling backoff: quick at first (a warm start answers in well under a second),
/// capped so a slow start is not hammered.
const FIRST_POLL_DELAY: Duration = Duration::from_millis(20);
const MAX_POLL_DELAY: Duration = Duration::from_millis(500);
/// Per request; a request started just before the deadline still gets a fair chance.
const MIN_REQUEST_TIMEOUT: Duration = Duration::from_millis(500);
const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Starts the backend and blocks until it is ready and trusted, retrying when it exits before
/// readiness. Call it off the UI thread. Every failure is also reported as
/// [`SupervisorEvent::GaveUp`].
pub fn launch(request: &LaunchRequest, on_event: EventHandler) -> Result<Backend, SupervisorError> {
    // The log folder may be the first thing created in the data root: make the root private
    // before anything lands in it.
    let opened = crate::private::create_private_dir(&request.data_root)
        .map_err(|source| SupervisorError::Log {
            path: request.data_root.clone(),
            source,
        })
        .and_then(|()| LogSink::open(&request.log_dir, request.log_rotation));
    let logs = match opened {
        Ok(logs) => logs,
        Err(error) => {
            on_event(SupervisorEvent::GaveUp {
                reason: error.to_string(),
                log_tail: Vec::new(),
            });
            return Err(error);
        }
    };
    launch_with_logs(request, &logs, &on_event).inspect_err(|error| {
        logs.line(Stream::Supervisor, &format!("giving up: {error}"));
        on_event(SupervisorEvent::GaveUp {
            reason: error.to_string(),
            log_tail: logs.tail(),
        });
    })
}

/// How one attempt ended when it did not produce a ready backend.
enum AttemptFailure {
    /// It exited before it was ready: a fresh spawn may work (port or lock contention).
    ExitedEarly(Exit),
    /// Retrying would not help or would hide a problem (timeouts, a foreign server).
    Fatal(SupervisorError),
}

fn launch_with_logs(
    request: &LaunchRequest,
    logs: &Arc<LogSink>,
    on_event: &EventHandler,
) -> Result<Backend, SupervisorError> {
    if request.contract.argv.is_empty() {
        return Err(SupervisorError::EmptyArgv {
            runtime_root: request.runtime_root.clone(),
        });
    }
    let max_attempts = request.max_attempts.max(1);
    let mut last_exit = String::new();
    for attempt in 1..=max_attempts {
        on_event(SupervisorEvent::Starting { attempt });
        match try_once(request, attempt, logs, on_event) {
            Ok(backend) => return Ok(backend),
            Err(AttemptFailure::Fatal(error)) => return Err(error),
            Err(AttemptFailure::ExitedEarly(exit)) => {
                logs.line(
                    Stream::Supervisor,
                    &format!("attempt {attempt} ended before ready: {}", exit.description),
                );
                last_exit = exit.description;
                if attempt < max_attempts {
                    // A short pause lets whatever the backend collided with (a port, a lock
                    // file of a previous instance still shutting down) go away.
                    std::thread::sleep(Duration::from_millis(100) * attempt);
                }
            }
        }
    }
    Err(SupervisorError::ExitedBeforeReady {
        attempts: max_attempts,
        last_exit,
        log: logs.path().to_owned(),
    })
}

fn try_once(
    request: &LaunchRequest,
    attempt: u32,
    logs: &Arc<LogSink>,
    on_event: &EventHandler,
) -> Result<Backend, AttemptFailure> {
    let secrets = Secrets::fresh().map_err(AttemptFailure::Fatal)?;
    let contract = &request.contract;
    // The interpreter's path is resolved after the change of working directory, so a relative
    // runtime root (`--runtime dist/runtime-linux-x64`) must be made absolute first.
    let runtime_root = std::path::absolute(&request.runtime_root).map_err(|error| {
        AttemptFailure::Fatal(SupervisorError::Spawn {
            program: request.runtime_root.clone(),
            source: error,
        })
    })?;
    let program = contract.program(&runtime_root);
    let mut command = Command::new(&program);
    command
        .args(&contract.argv[1..])
        .args(&request.extra_args)
        .current_dir(contract.working_dir(&runtime_root))
        // stdin stays open and unused: its end of file is the backend's "parent gone" signal.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in &request.extra_env {
        command.env(name, value);
    }
    for (name, value) in launch_env(&request.data_root, &secrets.token, &secrets.launch_id) {
        command.env(name, value);
    }
    platform::configure(&mut command);

    // The environment is deliberately not logged: it holds the token.
    logs.line(
        Stream::Supervisor,
        &format!(
            "attempt {attempt}: starting {} with args {:?} {:?} (launch id {})",
            program.display(),
            &contract.argv[1..],
            request.extra_args,
            secrets.launch_id
        ),
    );
    let (process, stdout, stderr) =
        spawn_owned(command, &program, Arc::clone(logs), Arc::clone(on_event))
            .map_err(AttemptFailure::Fatal)?;

    let (ready_sender, ready_receiver) = mpsc::channel();
    let prefix = contract.ready_prefix.clone();
    let mut announced = false;
    logs.spawn_reader(Stream::Stdout, stdout, move |line| {
        if !announced {
            if let Some(ready) = parse_ready(&prefix, line) {
                announced = true;
                let _ = ready_sender.send(ready);
            }
        }
    });
    logs.spawn_reader(Stream::Stderr, stderr, |_| {});

    let ready = wait_for_ready_line(&process, &ready_receiver, request.ready_timeout, logs)?;
    if ready
        .launch_id
        .as_ref()
        .is_some_and(|id| *id != secrets.launch_id)
    {
        process.kill_and_wait();
        return Err(AttemptFailure::Fatal(
            SupervisorError::ReadyLaunchIdMismatch {
                found: ready.launch_id.unwrap_or_default(),
            },
        ));
    }
    if ready.pid != process.pid {
        // Not fatal: a launcher shim (a venv's python on Windows) legitimately differs. The
        // launch id check on /health is what decides trust.
        logs.line(
            Stream::Supervisor,
            &format!(
                "readiness line names pid {}, the spawned pid is {}",
                ready.pid, process.pid
            ),
        );
    }

    let port = ready.port;
    on_event(SupervisorEvent::WaitingForHealth { port });
    let url = format!("http://127.0.0.1:{port}");
    wait_for_health(&process, request, &url, port, &secrets.launch_id, logs)?;

    if let Err(exit) = process.mark_ready() {
        return Err(AttemptFailure::ExitedEarly(exit));
    }
    logs.line(
        Stream::Supervisor,
        &format!("ready at {url}, pid {}", process.pid),
    );
    on_event(SupervisorEvent::Ready {
        url: url.clone(),
        port,
        pid: process.pid,
    });
    Ok(Backend {
        process,
        port,
        url,
        secrets,
        logs: Arc::clone(logs),
        stop_grace: request.stop_grace,
        stopped: false,
    })
}

/// The readiness line's JSON after the contract's prefix (the contract default is
/// [`runtime_spec::launch::READY_PREFIX`], which `parse_ready_line` hard-codes; the manifest
/// may name another).
fn parse_ready(prefix: &str, line: &str) -> Option<Ready> {
    let json = line.trim_end().strip_prefix(prefix)?;
    serde_json::from_str(json).ok()
}

fn wait_for_ready_line(
    process: &Process,
    ready_receiver: &mpsc::Receiver<Ready>,
    timeout: Duration,
    logs: &LogSink,
) -> Result<Ready, AttemptFailure> {
    let deadline = Instant::now() + timeout;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match ready_receiver.recv_timeout(remaining.min(Duration::from_millis(100))) {
            Ok(ready) => return Ok(ready),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // Stdout closed: nothing more can come; wait for the exit (or the deadline).
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                process.wait_exit(remaining.min(Duration::from_millis(100)));
            }
        }
        if let Some(exit) = process.exit() {
            logs.wait_streams_closed(DRAIN_TIMEOUT);
            return Err(AttemptFailure::ExitedEarly(exit));
        }
        if Instant::now() >= deadline {
            process.kill_and_wait();
            return Err(AttemptFailure::Fatal(SupervisorError::ReadyTimeout {
                timeout,
                log: logs.path().to_owned(),
            }));
        }
    }
}

fn wait_for_health(
    process: &Process,
    request: &LaunchRequest,
    url: &str,
    port: u16,
    launch_id: &str,
    logs: &LogSink,
) -> Result<(), AttemptFailure> {
    let deadline = Instant::now() + request.health_deadline;
    let mut delay = FIRST_POLL_DELAY;
    // What the server last said outranks a later timeout: "HTTP 503" tells the user more.
    let mut last_answer: Option<String> = None;
    let probe = HealthProbe::new(MAX_REQUEST_TIMEOUT);
    loop {
        if let Some(exit) = process.exit() {
            logs.wait_streams_closed(DRAIN_TIMEOUT);
            return Err(AttemptFailure::ExitedEarly(exit));
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        let request_timeout = remaining.clamp(MIN_REQUEST_TIMEOUT, MAX_REQUEST_TIMEOUT);
        let last_failure = match probe.check(port, &request.contract.health_path, request_timeout) {
            HealthAnswer::Ok { launch_id: found } if found.as_deref() == Some(launch_id) => {
                return Ok(());
            }
            HealthAnswer::Ok { launch_id: found } => {
                process.kill_and_wait();
                return Err(AttemptFailure::Fatal(SupervisorError::ForeignServer {
                    url: url.to_owned(),
                    found,
                }));
            }
            HealthAnswer::NotYet(problem) => {
                last_answer = Some(problem.clone());
                problem
            }
            HealthAnswer::Unreachable(problem) => problem,
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            process.kill_and_wait();
            return Err(AttemptFailure::Fatal(SupervisorError::HealthTimeout {
                url: url.to_owned(),
                deadline: request.health_deadline,
                last_problem: last_answer.unwrap_or(last_failure),
                log: logs.path().to_owned(),
            }));
        }
        process.wait_exit(delay.min(remaining));
        delay = (delay * 2).min(MAX_POLL_DELAY);
    }
}

/// The per-launch token and launch id, fresh for every attempt: a server left over from an
/// earlier attempt or launch cannot answer `/health` with this id.
struct Secrets {
    token: String,
    launch_id: String,
}

impl Secrets {
    fn fresh() -> Result<Secrets, SupervisorError> {
        Ok(Secrets {
            token: random_hex(32)?,
            launch_id: random_hex(16)?,
        })
    }
}

fn random_hex(n_bytes: usize) -> Result<String, SupervisorError> {
    let mut bytes = vec![0u8; n_bytes];
    getrandom::fill(&mut bytes)
        .map_err(|error| SupervisorError::Random(std::io::Error::other(error)))?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// How a process ended, in the words the UI shows.
#[derive(Debug, Clone)]
struct Exit {
    code: Option<i32>,
    description: String,
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

/// One spawned backend process and its group.
struct Process {
    pid: u32,
    stdin: Option<ChildStdin>,
    group: Arc<Group>,
    state: Arc<ProcessState>,
}

/// Spawns `command` on a dedicated thread that lives exactly as long as the child.
///
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, not the process:
/// spawning from the caller's thread (a Tauri setup thread, a short-lived worker) would kill
/// the backend as soon as that thread ends. The owner thread also waits for the exit, kills
/// what the backend left behind in its group, and reports unexpected exits.
fn spawn_owned(
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
        .name("backend-owner".into())
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
                    &format!("backend pid {pid} ended: {}", exit.description),
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
    fn exit(&self) -> Option<Exit> {
        self.state.lock().exit.clone()
    }

    /// Waits up to `timeout` for the exit.
    fn wait_exit(&self, timeout: Duration) -> Option<Exit> {
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
    fn signal(&self, send: impl FnOnce(&Group)) -> bool {
        let inner = self.state.lock();
        if inner.exit.is_some() {
            return false;
        }
        send(&self.group);
        true
    }

    fn mark_ready(&self) -> Result<(), Exit> {
        let mut inner = self.state.lock();
        match &inner.exit {
            Some(exit) => Err(exit.clone()),
            None => {
                inner.ready = true;
                Ok(())
            }
        }
    }

    fn kill_and_wait(&self) {
        self.state.lock().stopping = true;
        self.signal(Group::kill);
        self.wait_exit(KILL_TIMEOUT);
    }

    /// Close stdin → wait → SIGTERM the group → wait → SIGKILL the group.
    fn stop(&mut self, grace: Duration, logs: &LogSink) -> StopOutcome {
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

/// A running, trusted backend. Dropping it stops the backend.
pub struct Backend {
    process: Process,
    port: u16,
    url: String,
    secrets: Secrets,
    logs: Arc<LogSink>,
    stop_grace: Duration,
    stopped: bool,
}

impl Backend {
    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The port the backend announced and answered `/health` on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The backend's process id (also its process group id on Unix).
    pub fn pid(&self) -> u32 {
        self.process.pid
    }

    /// The secret API clients send in [`runtime_spec::launch::TOKEN_HEADER`]. Never log it.
    pub fn token(&self) -> &str {
        &self.secrets.token
    }

    /// This launch's id, as `/health` echoes it.
    pub fn launch_id(&self) -> &str {
        &self.secrets.launch_id
    }

    /// The last [`crate::TAIL_LINES`] log lines (backend output and supervisor notes), oldest
    /// first, for error screens.
    pub fn log_tail(&self) -> Vec<String> {
        self.logs.tail()
    }

    /// The live log file, `<log_dir>/backend.log`.
    pub fn log_path(&self) -> PathBuf {
        self.logs.path().to_owned()
    }

    /// Whether the backend process is still alive.
    pub fn is_running(&self) -> bool {
        self.process.exit().is_none()
    }

    /// Stops the backend: closes stdin and waits `grace`, then SIGTERMs its process group and
    /// waits `grace`, then SIGKILLs the group. Whatever the backend started is killed once it
    /// has exited. Blocks until done; calling it again reports `AlreadyExited`.
    pub fn stop(&mut self, grace: Duration) -> StopOutcome {
        self.stopped = true;
        let outcome = self.process.stop(grace, &self.logs);
        // The backend's last words ("shutting down", a traceback) belong in the log and the
        // tail by the time the caller looks.
        self.logs.wait_streams_closed(DRAIN_TIMEOUT);
        self.logs
            .line(Stream::Supervisor, &format!("stopped: {outcome:?}"));
        outcome
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if !self.stopped {
            self.stop(self.stop_grace);
        }
    }
}

impl fmt::Debug for Backend {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hand-written so the token never ends up in a `{:?}` in some log.
        formatter
            .debug_struct("Backend")
            .field("url", &self.url)
            .field("pid", &self.process.pid)
            .field("launch_id", &self.secrets.launch_id)
            .field("token", &"<redacted>")
            .field("running", &self.is_running())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runtime_spec::launch::{parse_ready_line, READY_PREFIX};

    #[test]
    fn ready_parsing_agrees_with_the_contract_for_the_default_prefix() {
        for line in [
            "TOKENIZER_STUDIO_READY {\"port\": 5, \"pid\": 7}\n",
            "TOKENIZER_STUDIO_READY {\"port\": 5, \"pid\": 7, \"launch_id\": \"x\"}",
            "TOKENIZER_STUDIO_READY {\"port\": 70000, \"pid\": 7}",
            "TOKENIZER_STUDIO_READY not json",
            "INFO: TOKENIZER_STUDIO_READY {\"port\": 5, \"pid\": 7}",
            "",
        ] {
            assert_eq!(
                parse_ready(READY_PREFIX, line),
                parse_ready_line(line),
                "{line:?}"
            );
        }
        let custom = parse_ready("UP ", "UP {\"port\": 9, \"pid\": 1}").map(|ready| ready.port);
        assert_eq!(custom, Some(9));
    }

    #[test]
    fn the_handle_can_live_in_shared_app_state() {
        // Tauri's `manage()` needs Send + Sync + 'static.
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<Backend>();
        shareable::<crate::LaunchRequest>();
        shareable::<SupervisorError>();
    }

    #[test]
    fn secrets_are_fresh_hex() {
        let first = Secrets::fresh().unwrap();
        let second = Secrets::fresh().unwrap();
        assert_eq!(first.token.len(), 64);
        assert_eq!(first.launch_id.len(), 32);
        assert!(first
            .token
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(first.token, second.token);
        assert_ne!(first.launch_id, second.launch_id);
    }

    #[test]
    fn events_and_outcomes_serialise_for_the_ui() {
        let event = SupervisorEvent::Ready {
            url: "http://127.0.0.1:5".into(),
            port: 5,
            pid: 7,
        };
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"kind":"ready","url":"http://127.0.0.1:5","port":5,"pid":7}"#
        );
        let event = SupervisorEvent::GaveUp {
            reason: "r".into(),
            log_tail: vec!["l".into()],
        };
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"kind":"gave_up","reason":"r","log_tail":["l"]}"#
        );
        assert_eq!(
            serde_json::to_string(&StopOutcome::StdinClosed { code: Some(0) }).unwrap(),
            r#"{"step":"stdin_closed","code":0}"#
        );
    }
}
