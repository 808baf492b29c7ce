//! Launch attempts, readiness, health and the handle to a running engine.

use std::fmt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use runtime_spec::launch::{launch_env, parse_ready_line, Ready};

use crate::health::{HealthAnswer, HealthProbe};
use crate::logs::{LogSink, Stream};
use crate::platform;
use crate::process::{spawn_owned, Exit, Process, DRAIN_TIMEOUT};
use crate::{EventHandler, LaunchRequest, StopOutcome, SupervisorError, SupervisorEvent};

/// Health polling backoff: quick at first (a warm start answers in well under a second),
/// capped so a slow start is not hammered.
const FIRST_POLL_DELAY: Duration = Duration::from_millis(20);
const MAX_POLL_DELAY: Duration = Duration::from_millis(500);
/// Per request; a request started just before the deadline still gets a fair chance.
const MIN_REQUEST_TIMEOUT: Duration = Duration::from_millis(500);
const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Starts the engine and blocks until it is ready and trusted, retrying when it exits before
/// readiness. Call it off the UI thread. Every failure is also reported as
/// [`SupervisorEvent::GaveUp`].
pub fn launch(request: &LaunchRequest, on_event: EventHandler) -> Result<Engine, SupervisorError> {
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

/// How one attempt ended when it did not produce a ready engine.
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
) -> Result<Engine, SupervisorError> {
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
            Ok(engine) => return Ok(engine),
            Err(AttemptFailure::Fatal(error)) => return Err(error),
            Err(AttemptFailure::ExitedEarly(exit)) => {
                logs.line(
                    Stream::Supervisor,
                    &format!("attempt {attempt} ended before ready: {}", exit.description),
                );
                last_exit = exit.description;
                let permanent = exit
                    .code
                    .is_some_and(|code| runtime_spec::launch::PERMANENT_EXIT_CODES.contains(&code));
                if permanent {
                    // Bad settings or an unusable GPU: the same spawn fails the same way.
                    return Err(SupervisorError::ExitedBeforeReady {
                        attempts: attempt,
                        last_exit,
                        log: logs.path().to_owned(),
                    });
                }
                if attempt < max_attempts {
                    // A short pause lets whatever the engine collided with (a port, a lock
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
) -> Result<Engine, AttemptFailure> {
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
        // stdin stays open and unused: its end of file is the engine's "parent gone" signal.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in &request.extra_env {
        command.env(name, value);
    }
    let Some(env_prefix) = contract.env_prefix() else {
        return Err(AttemptFailure::Fatal(SupervisorError::BadContract {
            ready_prefix: contract.ready_prefix.clone(),
        }));
    };
    for (name, value) in launch_env(
        env_prefix,
        &request.data_root,
        &secrets.token,
        &secrets.launch_id,
    ) {
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
            if let Some(ready) = parse_ready_line(&prefix, line) {
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
    Ok(Engine {
        process,
        port,
        url,
        secrets,
        logs: Arc::clone(logs),
        stop_grace: request.stop_grace,
        stopped: false,
    })
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

/// A running, trusted engine. Dropping it stops the engine.
pub struct Engine {
    process: Process,
    port: u16,
    url: String,
    secrets: Secrets,
    logs: Arc<LogSink>,
    stop_grace: Duration,
    stopped: bool,
}

impl Engine {
    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The port the engine announced and answered `/health` on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The engine's process id (also its process group id on Unix).
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

    /// The last [`crate::TAIL_LINES`] log lines (engine output and supervisor notes), oldest
    /// first, for error screens.
    pub fn log_tail(&self) -> Vec<String> {
        self.logs.tail()
    }

    /// The live log file, `<log_dir>/engine.log`.
    pub fn log_path(&self) -> PathBuf {
        self.logs.path().to_owned()
    }

    /// Whether the engine process is still alive.
    pub fn is_running(&self) -> bool {
        self.process.exit().is_none()
    }

    /// Stops the engine: closes stdin and waits `grace`, then SIGTERMs its process group and
    /// waits `grace`, then SIGKILLs the group. Whatever the engine started is killed once it
    /// has exited. Blocks until done; calling it again reports `AlreadyExited`.
    pub fn stop(&mut self, grace: Duration) -> StopOutcome {
        self.stopped = true;
        let outcome = self.process.stop(grace, &self.logs);
        // The engine's last words ("shutting down", a traceback) belong in the log and the
        // tail by the time the caller looks.
        self.logs.wait_streams_closed(DRAIN_TIMEOUT);
        self.logs
            .line(Stream::Supervisor, &format!("stopped: {outcome:?}"));
        outcome
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if !self.stopped {
            self.stop(self.stop_grace);
        }
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hand-written so the token never ends up in a `{:?}` in some log.
        formatter
            .debug_struct("Engine")
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

    #[test]
    fn the_handle_can_live_in_shared_app_state() {
        // Tauri's `manage()` needs Send + Sync + 'static.
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<Engine>();
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
