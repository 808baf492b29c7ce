//! The launch contract the shell, the smoke tests and the engine all follow
//! (`docs/runtime-contract.md`, "Launch contract").

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{env, Target};

/// Prefix of the one stdout line the engine prints when it listens, followed by a JSON object
/// with at least `port` and `pid`.
pub const READY_PREFIX: &str = "TOKENIZER_STUDIO_READY ";
/// Header carrying the per-launch token.
pub const TOKEN_HEADER: &str = "X-Tokenizer-Studio-Token";
/// Open health endpoints; both answer `{"status", "version", "launch_id"}`.
pub const HEALTH_PATHS: [&str; 2] = ["/health", "/api/v1/health"];
/// Mints a one-time code the web page exchanges for a session cookie.
pub const LAUNCH_CODE_PATH: &str = "/api/v1/session/launch-code";
/// Authenticated graceful shutdown.
pub const SHUTDOWN_PATH: &str = "/api/v1/shutdown";
/// Exit code of an engine whose settings (arguments, environment) are invalid.
pub const EXIT_BAD_SETTINGS: i32 = 2;
/// Exit code of an engine whose GPU failed its start-up check (sysexits' `EX_CONFIG`): the
/// machine's device or driver, not chance, stopped it.
pub const EXIT_DEVICE_UNUSABLE: i32 = 78;
/// Exits before readiness that another attempt cannot fix: the supervisor stops trying at once.
pub const PERMANENT_EXIT_CODES: [i32; 2] = [EXIT_BAD_SETTINGS, EXIT_DEVICE_UNUSABLE];

/// How to start the engine: recorded in the manifest so the shell never hard-codes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LaunchContract {
    /// argv; the first item is the interpreter relative to the runtime root (`/`-separated).
    pub argv: Vec<String>,
    /// Working directory relative to the runtime root (`.`).
    pub cwd: String,
    /// Names of the environment variables the launcher must set.
    pub env: Vec<String>,
    /// Prefix of the readiness line on stdout.
    pub ready_prefix: String,
    /// Health endpoint the launcher polls after readiness.
    pub health_path: String,
}

impl LaunchContract {
    /// The contract for a target: `<python> -I -m app`, cwd = runtime root.
    pub fn for_target(target: Target) -> LaunchContract {
        LaunchContract {
            argv: vec![
                target.python_exe().to_owned(),
                "-I".into(),
                "-m".into(),
                "app".into(),
            ],
            cwd: ".".into(),
            env: vec![
                env::DATA_DIR.into(),
                env::RUNTIME_TOKEN.into(),
                env::LAUNCH_ID.into(),
                env::HF_HOME.into(),
                env::HF_DATASETS_CACHE.into(),
                env::HUGGINGFACE_HUB_CACHE.into(),
            ],
            ready_prefix: READY_PREFIX.into(),
            health_path: HEALTH_PATHS[0].into(),
        }
    }

    /// The interpreter as a native path under `runtime_root`.
    pub fn program(&self, runtime_root: &Path) -> PathBuf {
        join_relative(runtime_root, &self.argv[0])
    }

    /// The working directory as a native path under `runtime_root`.
    pub fn working_dir(&self, runtime_root: &Path) -> PathBuf {
        join_relative(runtime_root, &self.cwd)
    }
}

/// Values for the launch environment of one launch. `token` and `launch_id` must be fresh,
/// random values for every launch.
pub fn launch_env(data_root: &Path, token: &str, launch_id: &str) -> Vec<(String, PathOrString)> {
    let hf = data_root.join("cache").join("huggingface");
    vec![
        (
            env::DATA_DIR.into(),
            PathOrString::Path(data_root.to_path_buf()),
        ),
        (
            env::RUNTIME_TOKEN.into(),
            PathOrString::String(token.to_owned()),
        ),
        (
            env::LAUNCH_ID.into(),
            PathOrString::String(launch_id.to_owned()),
        ),
        (env::HF_HOME.into(), PathOrString::Path(hf.clone())),
        (
            env::HF_DATASETS_CACHE.into(),
            PathOrString::Path(hf.join("datasets")),
        ),
        (
            env::HUGGINGFACE_HUB_CACHE.into(),
            PathOrString::Path(hf.join("hub")),
        ),
    ]
}

/// An environment value: paths stay `OsStr`-exact (non-UTF-8 data dirs work).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathOrString {
    Path(PathBuf),
    String(String),
}

impl AsRef<std::ffi::OsStr> for PathOrString {
    fn as_ref(&self) -> &std::ffi::OsStr {
        match self {
            PathOrString::Path(path) => path.as_os_str(),
            PathOrString::String(string) => string.as_ref(),
        }
    }
}

/// Parsed readiness line.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Ready {
    pub port: u16,
    pub pid: u32,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub launch_id: Option<String>,
}

/// Parses a stdout line; `None` when it is not a readiness line or its JSON is malformed.
pub fn parse_ready_line(line: &str) -> Option<Ready> {
    let json = line.trim_end().strip_prefix(READY_PREFIX)?;
    serde_json::from_str(json).ok()
}

/// Joins a `/`-separated relative path onto a native root.
pub fn join_relative(root: &Path, relative: &str) -> PathBuf {
    let mut path = root.to_path_buf();
    for part in relative
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
    {
        path.push(part);
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ready_lines() {
        for (line, expected) in [
            (
                "TOKENIZER_STUDIO_READY {\"port\": 5, \"pid\": 7}\n",
                Some((5, 7)),
            ),
            (
                "TOKENIZER_STUDIO_READY {\"port\": 5, \"pid\": 7, \"launch_id\": \"x\"}",
                Some((5, 7)),
            ),
            ("TOKENIZER_STUDIO_READY {\"port\": 70000, \"pid\": 7}", None),
            ("TOKENIZER_STUDIO_READY not json", None),
            (
                "INFO: TOKENIZER_STUDIO_READY {\"port\": 5, \"pid\": 7}",
                None,
            ),
            ("", None),
        ] {
            let parsed = parse_ready_line(line).map(|ready| (ready.port, ready.pid));
            assert_eq!(parsed, expected, "{line:?}");
        }
    }

    #[test]
    fn contract_uses_target_interpreter() {
        let contract = LaunchContract::for_target(Target::WindowsX64);
        assert_eq!(contract.argv, ["python/python.exe", "-I", "-m", "app"]);
        let program = contract.program(Path::new("/r t"));
        assert_eq!(program, Path::new("/r t").join("python").join("python.exe"));
        assert_eq!(contract.working_dir(Path::new("/r")), Path::new("/r"));
    }
}
