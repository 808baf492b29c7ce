//! `cargo xtask smoke` on the host archive.

use crate::support::{built_host_runtime, run, shared_cache, xtask};

#[test]
fn smoke_tests_pass_on_the_host_archive() {
    let Some(host) = built_host_runtime() else {
        return;
    };
    let out = &host.out;
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
