//! Supervises the Python engine: spawn, readiness, health, logs, shutdown, no orphans.
//!
//! Plain Rust on threads, no Tauri types and no async runtime, so the shell, the smoke tests
//! and tools can all use it. The launch contract it follows is described in
//! `docs/runtime-contract.md` (types in `runtime_spec::launch`): start `argv` under the runtime
//! root with [`runtime_spec::launch::launch_env`], read the port from the readiness line, then
//! trust the server only once `/health` echoes this launch's id.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # fn demo(manifest: &runtime_spec::Manifest) -> Result<(), supervisor::SupervisorError> {
//! let request = supervisor::LaunchRequest::from_manifest(
//!     "/opt/example-app/runtime".into(),
//!     manifest,
//!     "/home/me/.local/share/ExampleApp".into(),
//! );
//! let on_event: supervisor::EventHandler = Arc::new(|event| println!("{event:?}"));
//! let mut engine = supervisor::launch(&request, on_event)?;
//! println!("open {}", engine.url());
//! let outcome = engine.stop(request.stop_grace);
//! # let _ = outcome; Ok(()) }
//! ```

mod engine;
mod error;
mod health;
mod logs;
pub mod loopback;
mod platform;
pub mod private;
mod process;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use runtime_spec::LaunchContract;
use serde::{Deserialize, Serialize};

pub use engine::{launch, Engine};
pub use error::SupervisorError;
pub use logs::{format_line, utc_timestamp, Rotation, LOG_FILE_NAME, TAIL_LINES};

/// Everything one launch needs. Build it with [`LaunchRequest::new`] or
/// [`LaunchRequest::from_manifest`] and adjust the public fields.
#[derive(Debug, Clone)]
pub struct LaunchRequest {
    /// The unpacked runtime; `contract.argv[0]` and `contract.cwd` are relative to it.
    pub runtime_root: PathBuf,
    /// How to start the engine (from the runtime's manifest).
    pub contract: LaunchContract,
    /// The user's data root, passed to the engine in the launch environment.
    pub data_root: PathBuf,
    /// Appended after the contract's argv (e.g. `--web-dir DIR` in development).
    pub extra_args: Vec<OsString>,
    /// Set before the contract's variables, which therefore always win (the token and launch id
    /// cannot be overridden by accident).
    pub extra_env: Vec<(OsString, OsString)>,
    /// Where `engine.log` and its rotated copies go; `<data>/logs/` by default.
    pub log_dir: PathBuf,
    /// How long to wait for the readiness line after each spawn.
    pub ready_timeout: Duration,
    /// How long, after the readiness line, `/health` may take to answer 200 for this launch.
    pub health_deadline: Duration,
    /// Spawns tried when the engine exits before it is ready (e.g. it failed to bind).
    pub max_attempts: u32,
    /// Used by `Drop` for each polite stop step (stdin closed, then SIGTERM) before SIGKILL.
    pub stop_grace: Duration,
    /// Size cap and number of rotated copies of `engine.log`.
    pub log_rotation: Rotation,
}

impl LaunchRequest {
    /// A request with defaults sized for a cold start on a slow laptop: a first launch without
    /// compiled bytecode plus `import datasets` measured ≈ 5 s here, so 60 s leaves room for
    /// antivirus scans on Windows.
    pub fn new(
        runtime_root: PathBuf,
        contract: LaunchContract,
        data_root: PathBuf,
    ) -> LaunchRequest {
        let log_dir = data_root.join("logs");
        LaunchRequest {
            runtime_root,
            contract,
            data_root,
            extra_args: Vec::new(),
            extra_env: Vec::new(),
            log_dir,
            ready_timeout: Duration::from_secs(60),
            health_deadline: Duration::from_secs(15),
            max_attempts: 3,
            stop_grace: Duration::from_secs(5),
            log_rotation: Rotation {
                max_bytes: 5 * 1024 * 1024,
                n_files_kept: 3,
            },
        }
    }

    /// [`LaunchRequest::new`] with the launch contract recorded in the runtime's manifest.
    pub fn from_manifest(
        runtime_root: PathBuf,
        manifest: &runtime_spec::Manifest,
        data_root: PathBuf,
    ) -> LaunchRequest {
        LaunchRequest::new(runtime_root, manifest.launch.clone(), data_root)
    }
}

/// Progress of a launch and of the running engine, for the UI (serialises as
/// `{"kind": "ready", "url": ..., ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SupervisorEvent {
    /// A spawn is about to happen (1-based).
    Starting { attempt: u32 },
    /// The engine announced its port; `/health` is being polled.
    WaitingForHealth { port: u16 },
    /// `/health` answered for this launch; the UI may navigate to `url`.
    Ready { url: String, port: u16, pid: u32 },
    /// The engine exited on its own after it was ready (not through [`Engine::stop`]).
    /// `code` is `None` when a signal ended it.
    Exited {
        code: Option<i32>,
        log_tail: Vec<String>,
    },
    /// The launch failed for good; `reason` is the error message.
    GaveUp {
        reason: String,
        log_tail: Vec<String>,
    },
}

/// Receives [`SupervisorEvent`]s, from the launching thread and from the thread that notices
/// an exit. Wrap an `mpsc::Sender` or a Tauri `emit` in it.
pub type EventHandler = Arc<dyn Fn(SupervisorEvent) + Send + Sync>;

/// Which step of [`Engine::stop`] ended the engine. `code` is `None` when a signal ended it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum StopOutcome {
    /// It had already exited before `stop` was called.
    AlreadyExited { code: Option<i32> },
    /// It exited after its stdin was closed (the engine's normal shutdown).
    StdinClosed { code: Option<i32> },
    /// It exited after SIGTERM to its process group (Windows: after its job was terminated).
    Terminated { code: Option<i32> },
    /// It ignored both and was killed with SIGKILL to its process group.
    Killed,
    /// Even SIGKILL did not end it within a few seconds (a process stuck in the kernel).
    StillRunning,
}
