//! `cargo xtask smoke` on the host archive.

use crate::support::{
    build_host_runtime, host_slow_test, root, run, shared_cache, xtask, HOST_BUILD,
};

#[test]
fn smoke_tests_pass_on_the_host_archive() {
    if !host_slow_test() {
        return;
    }
    let _guard = HOST_BUILD
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let out = tempfile::tempdir().unwrap();
    build_host_runtime(&root(), out.path());
    let archive = out
        .path()
        .join("tokenizer-studio-runtime-0.1.0-linux-x64.tar.zst");
    let (ok, stdout, stderr) = run(xtask(&shared_cache())
        .arg("smoke")
        .arg("--runtime")
        .arg(&archive));
    assert!(ok, "{stderr}");
    assert!(stdout.contains("smoke ok: 7 steps passed"), "{stdout}");
    for step in [
        "extracted",
        "echo the launch id",
        "→ 401",
        "round-trips",
        "in the history",
        "port",
    ] {
        assert!(
            stderr.contains(step),
            "smoke output lacks {step:?}:\n{stderr}"
        );
    }
}
