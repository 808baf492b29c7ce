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

/// `release --dry-run` prints the whole release configuration, secrets only as `set`, builds
/// nothing; the key pair comes from `keygen` through the binary, as a release engineer makes it.
#[test]
fn release_dry_run_prints_the_release_plan_without_secrets() {
    let cache = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = run(xtask(cache.path())
        .env("XTASK_MINISIGN_PASSWORD", "dry-run-password")
        .args(["keygen", "--out"])
        .arg(keys.path().join("k")));
    assert!(ok, "{stderr}");
    let public = std::fs::read_to_string(keys.path().join("k/minisign.pub")).unwrap();
    let secret = std::fs::read_to_string(keys.path().join("k/minisign.key")).unwrap();
    let (ok, stdout, stderr) = run(xtask(cache.path())
        .args([
            "release",
            "--target",
            "windows-x64",
            "--channel",
            "beta",
            "--dry-run",
        ])
        .arg("--out-dir")
        .arg(out.path())
        .env("XTASK_MINISIGN_KEY", &secret)
        .env("XTASK_MINISIGN_PASSWORD", "dry-run-password")
        .env("XTASK_UPDATE_PUBKEY", &public)
        .env("XTASK_RELEASE_BASE_URL", "https://releases.invalid/ts/")
        .env("WINDOWS_SIGNING_P12_BASE64", "c2VjcmV0LWNlcnRpZmljYXRl")
        .env("WINDOWS_SIGNING_P12_PASSWORD", "p12-password"));
    assert!(ok, "{stderr}");
    for expected in [
        "channel:           beta",
        "bundle:            thin",
        "release URL:       https://releases.invalid/ts\n",
        "index key:         secret set, password set",
        "windows cert:      set",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    let output = format!("{stdout}{stderr}");
    for leaked in [
        secret.lines().nth(1).unwrap(),
        "dry-run-password",
        "c2VjcmV0LWNlcnRpZmljYXRl",
        "p12-password",
    ] {
        assert!(!output.contains(leaked), "{leaked:?} printed:\n{output}");
    }
    assert!(std::fs::read_dir(out.path()).unwrap().next().is_none());
}

/// A release channel for macOS without the App Store Connect key fails before building, and
/// says which secrets to set; the dev channel only warns and goes on.
#[test]
fn a_macos_release_dry_run_without_notarization_names_the_missing_secrets() {
    let cache = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut command = xtask(cache.path());
    command
        .args([
            "release",
            "--target",
            "macos-arm64",
            "--channel",
            "stable",
            "--dry-run",
        ])
        .arg("--out-dir")
        .arg(out.path());
    for name in [
        "APPLE_API_KEY_ID",
        "APPLE_API_ISSUER",
        "APPLE_API_KEY_P8",
        "APPLE_API_KEY_P8_PATH",
    ] {
        command.env_remove(name);
    }
    let (ok, _, stderr) = run(&mut command);
    assert!(
        !ok,
        "a stable macOS release without notarization was planned"
    );
    assert!(
        stderr.contains(
            "must be notarized and stapled: set APPLE_API_KEY_ID and APPLE_API_ISSUER and APPLE_API_KEY_P8 (or APPLE_API_KEY_P8_PATH)"
        ),
        "{stderr}"
    );
    assert!(std::fs::read_dir(out.path()).unwrap().next().is_none());

    let (ok, stdout, stderr) = run(xtask(cache.path())
        .args(["release", "--target", "macos-arm64", "--dry-run"])
        .arg("--out-dir")
        .arg(out.path())
        .env_remove("APPLE_API_KEY_ID"));
    assert!(ok, "{stderr}");
    assert!(stdout.contains("channel:           dev"), "{stdout}");
    assert!(
        stderr.contains("not notarized (APPLE_API_KEY_ID"),
        "{stderr}"
    );
}
