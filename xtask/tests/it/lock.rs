//! The committed dependency locks: fresh, URL-free, and enforced by the build.

use std::process::Command;

use runtime_spec::Target;

use crate::pbs;
use crate::support::{root, run, scratch_root, shared_cache, xtask};
use test_support::http::Server;

#[test]
fn committed_locks_are_fresh_and_carry_no_urls() {
    let cache = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = run(xtask(cache.path()).args(["lock", "--check"]));
    assert!(ok, "{stderr}");
    for target in Target::ALL {
        let text = std::fs::read_to_string(
            root()
                .join("apps/tokenizer-studio/lockfiles")
                .join(format!("{target}.txt")),
        )
        .unwrap();
        assert!(!text.contains("://"), "{target} lock has a URL");
        assert!(
            text.contains("--hash=sha256:"),
            "{target} lock has no hashes"
        );
        assert!(
            text.contains("tokenizers=="),
            "{target} lock lacks tokenizers"
        );
    }
}

#[test]
fn lock_check_names_a_stale_lock() {
    let scratch = scratch_root();
    let pyproject = scratch
        .path()
        .join("apps/tokenizer-studio/api/pyproject.toml");
    let text = std::fs::read_to_string(&pyproject).unwrap();
    std::fs::write(
        &pyproject,
        text.replace("dependencies = [", "dependencies = [\n    \"six\","),
    )
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = run(xtask(cache.path())
        .env("XTASK_PROJECT_ROOT", scratch.path())
        .args(["lock", "--check"]));
    assert!(!ok);
    for target in Target::ALL {
        assert!(
            stderr.contains(&format!("{target}.txt is stale")),
            "{stderr}"
        );
    }
    assert!(stderr.contains("run `cargo xtask lock`"), "{stderr}");
}

/// A lock whose wheel hashes do not match what the index serves (a tampered lock, or an index
/// serving other bytes) stops the build at the wheels stage, with uv's mismatch and what to do,
/// and leaves no runtime behind.
#[test]
fn a_lock_with_a_wrong_wheel_hash_stops_the_build() {
    if !test_support::slow_tests_enabled() {
        return;
    }
    // A checkout of this commit (the plan reads the web and engine sources too).
    let scratch = tempfile::tempdir().unwrap();
    let status = Command::new("git")
        .args(["clone", "--quiet", "--no-hardlinks"])
        .arg(root())
        .arg(scratch.path())
        .status()
        .unwrap();
    assert!(status.success());
    let lock = scratch
        .path()
        .join("apps/tokenizer-studio/lockfiles/windows-x64.txt");
    let text = std::fs::read_to_string(&lock).unwrap();
    // Every hash of one package changed; the header's inputs hash still matches, so this is
    // not a stale lock but a wrong one.
    let mut in_tokenizers = false;
    let tampered: Vec<String> = text
        .lines()
        .map(|line| {
            if !line.starts_with(' ') {
                in_tokenizers = line.starts_with("tokenizers==");
            }
            match line.find("sha256:") {
                Some(at) if in_tokenizers => {
                    let hex = at + "sha256:".len();
                    format!("{}{}{}", &line[..hex], "0".repeat(64), &line[hex + 64..])
                }
                _ => line.to_owned(),
            }
        })
        .collect();
    assert_ne!(tampered.join("\n"), text.trim_end());
    std::fs::write(&lock, tampered.join("\n") + "\n").unwrap();
    let (archive, sha256) = pbs::synthetic_pbs(Target::WindowsX64);
    let server = Server::with_routes([("/pbs.tar.gz", archive)]);
    let out = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = run(xtask(&shared_cache())
        .env("XTASK_PROJECT_ROOT", scratch.path())
        .args(["runtime", "--target", "windows-x64", "--python-archive"])
        .arg(server.url("/pbs.tar.gz"))
        .args(["--python-sha256", &sha256, "--out-dir"])
        .arg(out.path()));
    assert!(!ok, "a wrong wheel hash must fail the build");
    assert!(stderr.contains("windows-x64.txt"), "{stderr}");
    assert!(
        stderr.contains("Hash mismatch for `tokenizers=="),
        "uv's own mismatch must be shown:\n{stderr}"
    );
    assert!(
        stderr.contains("regenerate the lock with `cargo xtask lock`"),
        "{stderr}"
    );
    assert!(
        !out.path().join("runtime-windows-x64").exists(),
        "no runtime may be left behind"
    );
}
