//! Integration tests for release-meta against the real tools (minisign, sha256sum, osslsigncode).

mod authenticode;
mod index;
mod minisign;
mod sbom;
mod sums;
mod updater;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use test_support::workspace_root;

/// Whether `tool` can be started; records the test as skipped, with why, when not. Under CI on Linux a
/// missing tool fails the test instead (`.ci/run` and `ci.yml` install every tool used here), so
/// a green CI run means the check against the real tool ran.
/// The workspace's default app's names.
fn app() -> runtime_spec::AppNames {
    let (id, text) = test_support::default_app_descriptor();
    runtime_spec::AppDescriptor::parse(&text, &id)
        .unwrap()
        .names()
}

fn tool_available(tool: &str, install_hint: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .output()
        .or_else(|_| Command::new(tool).arg("-v").output())
        .is_ok();
    if !found {
        assert!(
            !(cfg!(target_os = "linux") && std::env::var_os("CI").is_some()),
            "`{tool}` is not installed, and CI must run this test: {install_hint}"
        );
        test_support::skip(&format!("`{tool}` is not installed ({install_hint})"));
    }
    found
}

/// The host runtime the README's main job leaves in `dist/runtime-linux-x64`, or `None` (the
/// test is skipped) when there is none. The slow suite runs after the main job, so with
/// `XTASK_SLOW_TESTS=1` a missing runtime fails the test instead.
fn built_linux_runtime() -> Option<PathBuf> {
    let runtime = workspace_root().join("dist/runtime-linux-x64");
    if runtime.join("manifest.json").is_file() {
        return Some(runtime);
    }
    assert!(
        std::env::var(test_support::SLOW_TESTS_ENV).as_deref() != Ok("1"),
        "no built runtime at {}: run `cargo xtask runtime` (or the README's main job) first",
        runtime.display()
    );
    test_support::skip(&format!(
        "no built runtime at {} (`cargo xtask runtime` makes one)",
        runtime.display()
    ));
    None
}

/// Runs a command to completion, returning its output whatever the exit status.
fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|error| panic!("cannot start {command:?}: {error}"))
}

/// Flips the low bit of the byte at `offset`.
fn flip_byte(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset] ^= 1;
    std::fs::write(path, bytes).unwrap();
}
