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
