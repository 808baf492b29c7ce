//! What the workspace's tests share, so each fault, wait and skip is written once:
//!
//! - [`http::Server`]: a real HTTP/1.1 server on loopback whose answers a test scripts per
//!   path (drop the connection after N bytes, stall, a status, wrong bytes, no Range support);
//! - [`timeout`]: every timing constant of a test, scaled by `TEST_TIMEOUT_SCALE` so a loaded
//!   machine can give the timing tests more room without editing them;
//! - [`skip`] and [`slow_tests_enabled`]: a test that cannot run here says so where
//!   `cargo xtask test` counts it, instead of passing silently;
//! - [`sha256_hex`], [`wait_until`], [`is_alive`], [`port_is_free`], [`workspace_root`];
//! - [`display::Display`]: the caller's X display or a private Xvfb.

pub mod display;
pub mod http;
mod skip;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use skip::{skip, slow_tests_enabled, SKIP_LOG_ENV, SKIP_MARKER, SLOW_TESTS_ENV};

/// The variable that multiplies every [`timeout`] (a positive number; 1 when unset).
pub const TIMEOUT_SCALE_ENV: &str = "TEST_TIMEOUT_SCALE";

/// `duration` times `TEST_TIMEOUT_SCALE` (default 1). Timeouts, stalls and grace periods of a
/// test go through this together, so their ratios (a stall longer than the read timeout) hold
/// at any scale; lower bounds a test asserts ("took at least 600 ms") need not.
pub fn timeout(duration: Duration) -> Duration {
    duration.mul_f64(timeout_scale())
}

fn timeout_scale() -> f64 {
    parse_scale(std::env::var(TIMEOUT_SCALE_ENV).ok().as_deref())
}

fn parse_scale(value: Option<&str>) -> f64 {
    let Some(text) = value.filter(|text| !text.trim().is_empty()) else {
        return 1.0;
    };
    match text.trim().parse::<f64>() {
        Ok(scale) if scale.is_finite() && scale > 0.0 => scale,
        _ => panic!("{TIMEOUT_SCALE_ENV}={text:?}: expected a positive number such as 2 or 1.5"),
    }
}

/// Marks the child process [`in_own_process`] starts.
const OWN_PROCESS_ENV: &str = "TEST_SUPPORT_OWN_PROCESS";

/// For a test that changes process-wide state (environment variables read by a library):
/// in the test binary it reruns the test `test_path` (`module::tests::name`) alone in a child
/// process, asserts that it passed, and returns `false` (the caller returns); in that child it
/// returns `true` (the caller runs its body).
pub fn in_own_process(test_path: &str) -> bool {
    if std::env::var_os(OWN_PROCESS_ENV).is_some() {
        return true;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test_path, "--test-threads=1", "--nocapture"])
        .env(OWN_PROCESS_ENV, "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
    false
}

/// The lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Polls `condition` every 20 ms until it holds or `timeout` (not scaled here: pass
/// [`timeout`]`(…)` for a bound that should scale) passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether `pid` is a live process. On Linux a zombie (`Z`) or dead (`X`) entry is not: a
/// container's PID 1 may not reap orphans, so their entries linger without being leaks.
#[cfg(target_os = "linux")]
pub fn is_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The command name is in parentheses and may contain spaces; the state follows it.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z') | Some('X') | None)
}

/// Whether `pid` is a live process (signal 0 reaches it).
#[cfg(all(unix, not(target_os = "linux")))]
pub fn is_alive(pid: u32) -> bool {
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

/// Whether `pid` is a live process (`tasklist` lists it).
#[cfg(windows)]
pub fn is_alive(pid: u32) -> bool {
    std::process::Command::new("tasklist")
        .args(["/NH", "/FO", "CSV", "/FI", &format!("PID eq {pid}")])
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).contains(&format!("\"{pid}\"")))
}

/// Whether nothing listens on loopback `port` any more (std sets SO_REUSEADDR, so TIME_WAIT
/// connections of a server that is gone do not count).
pub fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// The workspace's root folder (this crate sits directly in it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("test-support sits in the workspace")
        .to_owned()
}

/// The workspace's default app (`[workspace.metadata.apps] default` in Cargo.toml): its id
/// and the text of its `apps/<id>/app.toml`, for the tests to parse with runtime-spec.
pub fn default_app_descriptor() -> (String, String) {
    let root = workspace_root();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    let manifest: toml::Value = toml::from_str(&manifest).expect("Cargo.toml parses");
    let id = manifest["workspace"]["metadata"]["apps"]["default"]
        .as_str()
        .expect("Cargo.toml names [workspace.metadata.apps] default")
        .to_owned();
    let text = std::fs::read_to_string(root.join("apps").join(&id).join("app.toml"))
        .expect("the default app has an app.toml");
    (id, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_the_empty_string() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn the_scale_defaults_to_one_and_refuses_nonsense() {
        assert_eq!(parse_scale(None), 1.0);
        assert_eq!(parse_scale(Some("")), 1.0);
        assert_eq!(parse_scale(Some(" 2.5 ")), 2.5);
        for bad in ["0", "-1", "fast", "inf"] {
            assert!(
                std::panic::catch_unwind(|| parse_scale(Some(bad))).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn wait_until_reports_whether_the_condition_held() {
        let mut calls = 0;
        assert!(wait_until(Duration::from_secs(5), || {
            calls += 1;
            calls == 3
        }));
        assert!(!wait_until(Duration::from_millis(50), || false));
    }

    #[test]
    fn the_workspace_root_holds_the_workspace_manifest() {
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"));
    }

    #[cfg(unix)]
    #[test]
    fn this_process_is_alive_and_a_reaped_child_is_not() {
        assert!(is_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!is_alive(pid));
    }
}
