//! The CPython download: faults are hard errors, nothing bad is cached, no silent local fallback.

use std::path::Path;

use runtime_spec::Target;

use crate::pbs;
use crate::support::{files_under, run, xtask};
use test_support::http::{Server, Step};

/// Runs `xtask runtime` for windows-x64 with an explicit archive URL; nothing of the target runs.
fn runtime_with_archive(cache: &Path, url: &str, sha256: &str) -> (bool, String, String) {
    let out = tempfile::tempdir().unwrap();
    let mut command = xtask(cache);
    command.args([
        "runtime",
        "--target",
        "windows-x64",
        "--python-archive",
        url,
        "--python-sha256",
        sha256,
        "--out-dir",
    ]);
    command.arg(out.path());
    run(&mut command)
}

#[test]
fn python_download_faults_are_hard_errors_that_cache_nothing() {
    let (good, sha256) = pbs::synthetic_pbs(Target::WindowsX64);
    let mut corrupt = good.clone();
    corrupt[good.len() / 2] ^= 0xff;
    let server = Server::with_routes([
        ("/corrupt.tar.gz", corrupt),
        ("/truncated.tar.gz", good.clone()),
        ("/fault.tar.gz", good.clone()),
    ]);
    // The full length announced, half the body sent.
    server.script("/truncated.tar.gz", vec![Step::CutAfter(good.len() / 2)]);
    server.script("/fault.tar.gz", vec![Step::Status(500)]);
    for (path, expected) in [
        ("/corrupt.tar.gz", "sha256"),
        ("/truncated.tar.gz", "truncated.tar.gz"),
        ("/fault.tar.gz", "500"),
        ("/missing.tar.gz", "404"),
    ] {
        let cache = tempfile::tempdir().unwrap();
        let url = server.url(path);
        let (ok, _, stderr) = runtime_with_archive(cache.path(), &url, &sha256);
        assert!(!ok, "{path} should fail");
        assert!(
            stderr.contains(expected),
            "{path}: expected {expected:?} in:\n{stderr}"
        );
        assert!(
            stderr.contains(&url),
            "{path}: the error must name the URL:\n{stderr}"
        );
        let leftovers = files_under(&cache.path().join("downloads"));
        assert!(
            leftovers.is_empty(),
            "{path}: nothing may enter the cache, found {leftovers:?}"
        );
    }
    assert!(server.hits("/corrupt.tar.gz") > 0);
}

#[test]
fn checksum_mismatch_on_the_pinned_url_never_falls_back_to_a_local_python() {
    // The mirror serves the pinned host-target path with the wrong bytes: a dev build for the
    // host target may fall back on *network* failures only, never on a checksum mismatch.
    let pins = runtime_spec::pins::PythonPins::builtin();
    let pinned = pins.url("", Target::LinuxX64).unwrap();
    let server = Server::with_routes([(pinned.as_str(), b"not python".to_vec())]);
    let cache = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut command = xtask(cache.path());
    command.env("XTASK_PYTHON_MIRROR", server.url("")).args([
        "runtime",
        "--target",
        "linux-x64",
        "--out-dir",
    ]);
    command.arg(out.path());
    let (ok, _, stderr) = run(&mut command);
    assert!(!ok, "a checksum mismatch must fail the build");
    assert!(stderr.contains("sha256"), "{stderr}");
    assert!(
        !stderr.contains("LOCAL CPython"),
        "no local fallback on a checksum error:\n{stderr}"
    );
    assert_eq!(server.hits(pinned.as_str()), 1);
    assert!(files_under(&cache.path().join("downloads")).is_empty());
}

#[test]
fn unreachable_mirror_fails_release_channels_and_foreign_targets() {
    let refused = test_support::http::refused_url("");
    for args in [
        ["--target", "linux-x64", "--channel", "stable"],
        ["--target", "macos-arm64", "--channel", "dev"],
    ] {
        let cache = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let mut command = xtask(cache.path());
        command
            .env("XTASK_PYTHON_MIRROR", &refused)
            .arg("runtime")
            .args(args)
            .arg("--out-dir")
            .arg(out.path());
        let (ok, _, stderr) = run(&mut command);
        assert!(!ok, "{args:?} must fail");
        assert!(
            stderr.contains(&refused),
            "{args:?}: error must name the mirror URL:\n{stderr}"
        );
        assert!(
            stderr.contains("XTASK_PYTHON_MIRROR"),
            "{args:?}: error must say what to do:\n{stderr}"
        );
        assert!(
            !stderr.contains("LOCAL CPython"),
            "{args:?}: no local fallback here:\n{stderr}"
        );
    }
}
