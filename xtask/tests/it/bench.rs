//! `cargo xtask bench`'s arguments: refusals before anything is built or measured.

use crate::support::{run, scratch_root, xtask};

/// `--profile` and `--target` belong to `bench runtime` (the variants bench); a foreign target
/// needs the profiles to measure, and an unknown profile is named.
#[test]
fn bench_variant_options_are_refused_where_they_mean_nothing() {
    let scratch = scratch_root();
    let cache = scratch.path().join("cache");
    for (args, expected) in [
        (
            vec!["bench", "install", "--profile", "torch"],
            "options of `cargo xtask bench runtime`",
        ),
        (
            vec!["bench", "runtime", "--target", "windows-x64"],
            "--profile",
        ),
        (vec!["bench", "runtime", "--profile", "gpu"], "gpu"),
    ] {
        let (ok, _stdout, stderr) = run(xtask(&cache).args(&args));
        assert!(!ok, "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

/// `bench update`'s older interpreter comes as an archive with its sha256, belongs to that
/// bench alone, and a bad checksum or no runs is refused before N is installed.
#[test]
fn bench_update_options_are_refused_before_anything_is_measured() {
    let scratch = scratch_root();
    let cache = scratch.path().join("cache");
    let sha256 = "0".repeat(64);
    for (args, expected) in [
        (
            vec![
                "bench",
                "install",
                "--python-archive-previous",
                "old.tar.gz",
                "--python-sha256-previous",
                &sha256,
            ],
            "options of `cargo xtask bench update`",
        ),
        (
            vec!["bench", "update", "--python-archive-previous", "old.tar.gz"],
            "--python-sha256-previous",
        ),
        (
            vec![
                "bench",
                "update",
                "--python-archive-previous",
                "old.tar.gz",
                "--python-sha256-previous",
                "beef",
            ],
            "64 hex digits",
        ),
        (
            vec!["bench", "update", "--runs", "0"],
            "--runs must be at least 1",
        ),
    ] {
        let (ok, _stdout, stderr) = run(xtask(&cache).args(&args));
        assert!(!ok, "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
