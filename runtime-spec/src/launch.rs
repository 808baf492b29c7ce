//! The launch contract the shell, the smoke tests and the engine all follow
//! (`docs/runtime-contract.md`, "Launch contract").

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{env, AppNames, Target};
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
    /// The contract for an app on a target: `<python> -I -m <module>`, cwd = runtime root; the
    /// readiness line starts with [`AppNames::ready_prefix`] (`<PREFIX>_READY `, then a JSON
    /// object with at least `port` and `pid`).
    pub fn for_app(app: &AppNames, target: Target) -> LaunchContract {
        LaunchContract {
            argv: vec![
                target.python_exe().to_owned(),
                "-I".into(),
                "-m".into(),
                app.module.clone(),
            ],
            cwd: ".".into(),
            env: vec![
                app.var(env::DATA_DIR),
                app.var(env::RUNTIME_TOKEN),
                app.var(env::LAUNCH_ID),
                env::HF_HOME.into(),
                env::HF_DATASETS_CACHE.into(),
                env::HUGGINGFACE_HUB_CACHE.into(),
            ],
            ready_prefix: app.ready_prefix(),
            health_path: HEALTH_PATHS[0].into(),
        }
    }

    /// The app's variable prefix: the readiness line is `<PREFIX>_READY `, so a manifest names
    /// the prefix of the launch variables without a field of its own. `None` for a prefix of
    /// another shape.
    pub fn env_prefix(&self) -> Option<&str> {
        self.ready_prefix
            .strip_suffix("_READY ")
            .filter(|prefix| !prefix.is_empty())
    }

    /// The header carrying the per-launch token, named after [`LaunchContract::env_prefix`].
    pub fn token_header(&self) -> Option<String> {
        self.env_prefix().map(token_header)
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

/// The header carrying the per-launch token for the variable prefix `env_prefix`:
/// `X-Tokenizer-Studio-Token` for `TOKENIZER_STUDIO`.
pub fn token_header(env_prefix: &str) -> String {
    let words: Vec<String> = env_prefix
        .split('_')
        .filter(|word| !word.is_empty())
        .map(|word| {
            let lower = word.to_ascii_lowercase();
            let mut chars = lower.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect();
    format!("X-{}-Token", words.join("-"))
}

/// Values for the launch environment of one launch. `token` and `launch_id` must be fresh,
/// random values for every launch.
pub fn launch_env(
    env_prefix: &str,
    data_root: &Path,
    token: &str,
    launch_id: &str,
) -> Vec<(String, PathOrString)> {
    let hf = data_root.join("cache").join("huggingface");
    vec![
        (
            env::DATA_DIR.name(env_prefix),
            PathOrString::Path(data_root.to_path_buf()),
        ),
        (
            env::RUNTIME_TOKEN.name(env_prefix),
            PathOrString::String(token.to_owned()),
        ),
        (
            env::LAUNCH_ID.name(env_prefix),
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

/// Parses a stdout line; `None` when it is not a readiness line (one starting with `prefix`,
/// the contract's `ready_prefix`) or its JSON is malformed.
pub fn parse_ready_line(prefix: &str, line: &str) -> Option<Ready> {
    let json = line.trim_end().strip_prefix(prefix)?;
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
            let parsed = parse_ready_line("TOKENIZER_STUDIO_READY ", line)
                .map(|ready| (ready.port, ready.pid));
            assert_eq!(parsed, expected, "{line:?}");
        }
    }

    #[test]
    fn contract_uses_target_interpreter() {
        let contract = LaunchContract::for_app(&crate::app::test_app(), Target::WindowsX64);
        assert_eq!(contract.argv, ["python/python.exe", "-I", "-m", "app"]);
        assert_eq!(contract.ready_prefix, "TOKENIZER_STUDIO_READY ");
        assert_eq!(contract.env[0], "TOKENIZER_STUDIO_DATA_DIR");
        assert_eq!(contract.env_prefix(), Some("TOKENIZER_STUDIO"));
        assert_eq!(contract.token_header().unwrap(), "X-Tokenizer-Studio-Token");
        let odd = LaunchContract {
            ready_prefix: "READY ".into(),
            ..contract.clone()
        };
        assert_eq!(odd.env_prefix(), None);
        let program = contract.program(Path::new("/r t"));
        assert_eq!(program, Path::new("/r t").join("python").join("python.exe"));
        assert_eq!(contract.working_dir(Path::new("/r")), Path::new("/r"));
    }
}
