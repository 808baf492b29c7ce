//! Integration tests for release-meta against the real tools (minisign, sha256sum, osslsigncode).

mod authenticode;
mod index;
mod minisign;
mod sbom;
mod sums;
mod tidy;
mod updater;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root (`release-meta/..`).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("release-meta sits in the workspace")
        .to_owned()
}

/// Whether `tool` can be started; prints why a test is skipped when not.
fn tool_available(tool: &str, install_hint: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .output()
        .or_else(|_| Command::new(tool).arg("-v").output())
        .is_ok();
    if !found {
        eprintln!("skipped: `{tool}` is not installed ({install_hint})");
    }
    found
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
