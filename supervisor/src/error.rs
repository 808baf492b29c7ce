//! The one error type of the crate: every variant names the file or URL it is about and says
//! what to do next, because the shell shows these messages to users as they are.

use std::path::PathBuf;
use std::time::Duration;

/// Why a launch could not produce a ready, trusted engine.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    /// The manifest's launch contract has no program to run.
    #[error(
        "the runtime's launch contract has an empty argv; reinstall the runtime at {runtime_root}"
    )]
    EmptyArgv { runtime_root: PathBuf },

    /// The launch contract's readiness prefix is not `<PREFIX>_READY `, so the launch
    /// variables cannot be named.
    #[error("the runtime's launch contract has the readiness prefix {ready_prefix:?}, not `<PREFIX>_READY `; reinstall the runtime")]
    BadContract { ready_prefix: String },

    /// The OS refused to start the interpreter (missing file, not executable, ...).
    #[error("could not start the engine {program}: {source}; check that the runtime is complete or reinstall it")]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The log folder or file could not be created or written.
    #[error("could not write the engine log {path}: {source}; check free disk space and permissions of the data folder")]
    Log {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The OS random number generator failed, so no token can be minted.
    #[error("the operating system's random number generator failed ({0}); restart the computer and try again")]
    Random(#[source] std::io::Error),

    /// Every attempt exited before announcing readiness.
    #[error("the engine stopped before it was ready ({last_exit}) after {attempts} attempt(s); see the log {log}")]
    ExitedBeforeReady {
        attempts: u32,
        last_exit: String,
        log: PathBuf,
    },

    /// No readiness line arrived in time.
    #[error("the engine did not announce its port within {timeout:?}; see the log {log}, and try again (a first start after an update can be slower)")]
    ReadyTimeout { timeout: Duration, log: PathBuf },

    /// The readiness line named another launch: some other process wrote it.
    #[error("the engine announced launch id {found:?}, not this launch's; another copy may be running: close the app's other windows and try again")]
    ReadyLaunchIdMismatch { found: String },

    /// `/health` never answered 200 for this launch before the deadline.
    #[error("the engine at {url} did not become healthy within {deadline:?} (last answer: {last_problem}); see the log {log}")]
    HealthTimeout {
        url: String,
        deadline: Duration,
        last_problem: String,
        log: PathBuf,
    },

    /// `/health` answered for a different launch: a stale or foreign server is on that port.
    #[error("the server at {url} answered for launch id {found:?}, not this launch's; it is not ours and is not trusted: close the app's other windows and try again")]
    ForeignServer { url: String, found: Option<String> },
}
