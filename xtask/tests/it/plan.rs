//! `--dry-run`: the plan of a build, printed without building.

use crate::support::{run, xtask};

#[test]
fn dry_run_prints_the_plan_for_a_foreign_target() {
    let cache = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) =
        run(xtask(cache.path()).args(["runtime", "--target", "windows-x64", "--dry-run"]));
    assert!(ok, "{stderr}");
    for expected in [
        "target:            windows-x64 (x86_64-pc-windows-msvc)",
        "site-packages:     python/Lib/site-packages",
        "cpython-3.12.14%2B20260814-x86_64-pc-windows-msvc-install_only_stripped.tar.gz",
        "local fallback:  no",
        "tokenizer-studio-runtime-0.1.0-windows-x64.tar.zst",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    let (ok, _, stderr) =
        run(xtask(cache.path()).args(["runtime", "--target", "amiga-m68k", "--dry-run"]));
    assert!(!ok);
    assert!(
        stderr.contains("expected one of macos-arm64, windows-x64, linux-x64"),
        "{stderr}"
    );
}
