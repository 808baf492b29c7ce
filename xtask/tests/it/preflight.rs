//! Refusals before anything is built: misconfigured releases and missing tools.

use crate::support::{host_python, real_uv, run, scratch_root, shared_cache, xtask};

/// A release whose configuration cannot work is refused before anything is built, with the
/// variable or tool to fix named: release channels need the index key pair and the platform's
/// signing identity (no ad hoc, no unsigned Windows), a thin release-channel installer needs
/// its download URL, an explicitly asked-for format must be buildable here.
#[test]
fn misconfigured_releases_are_refused_before_building_anything() {
    // (case, arguments, environment, what the error must name)
    let key_pair = [
        ("XTASK_MINISIGN_KEY", "untrusted comment: x\nRWQ"),
        ("XTASK_UPDATE_PUBKEY", "untrusted comment: x\nRWQ"),
    ];
    let url = [("XTASK_RELEASE_BASE_URL", "https://releases.invalid/ts")];
    type Case<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "stable without the index signing key",
            vec!["--channel", "stable", "--bundle", "full"],
            vec![],
            "XTASK_MINISIGN_KEY",
        ),
        (
            "beta with a secret key but no public key to build in",
            vec!["--channel", "beta", "--bundle", "full"],
            vec![key_pair[0]],
            "XTASK_UPDATE_PUBKEY",
        ),
        (
            "a thin stable installer with nowhere to download from",
            vec!["--channel", "stable", "--bundle", "thin"],
            key_pair.to_vec(),
            "XTASK_RELEASE_BASE_URL",
        ),
        (
            "macOS stable without an Apple identity (ad hoc is dev only)",
            vec!["--target", "macos-arm64", "--channel", "stable"],
            [key_pair.as_slice(), url.as_slice()].concat(),
            "APPLE_SIGNING_P12",
        ),
        (
            "Windows beta without an Authenticode certificate",
            vec!["--target", "windows-x64", "--channel", "beta"],
            [key_pair.as_slice(), url.as_slice()].concat(),
            "WINDOWS_SIGNING_P12_BASE64",
        ),
        (
            "AppImage asked for without linuxdeploy",
            vec!["--format", "appimage"],
            vec![],
            "linuxdeploy",
        ),
        (
            "a format that does not exist",
            vec!["--format", "zip"],
            vec![],
            "unknown installer format `zip`",
        ),
    ];
    for (case, args, envs, expected) in cases {
        let out = tempfile::tempdir().unwrap();
        let mut command = xtask(&shared_cache());
        command
            .arg("release")
            .args(&args)
            .arg("--out-dir")
            .arg(out.path())
            .env_remove("XTASK_MINISIGN_KEY")
            .env_remove("XTASK_UPDATE_PUBKEY")
            .env_remove("XTASK_RELEASE_BASE_URL")
            .env_remove("APPLE_SIGNING_P12_BASE64")
            .env_remove("APPLE_SIGNING_P12_PATH")
            .env_remove("WINDOWS_SIGNING_P12_BASE64")
            // linuxdeploy is never on this PATH: cargo-packager would fetch it from GitHub.
            .env("PATH", "/usr/bin:/bin")
            .envs(envs.iter().copied());
        let (ok, _, stderr) = run(&mut command);
        assert!(!ok, "{case}: must be refused");
        assert!(
            stderr.contains(expected),
            "{case}: the error must name {expected:?}:\n{stderr}"
        );
        for stage in [
            "==> prerequisites",
            "==> python",
            "==> runtime",
            "==> shell",
        ] {
            assert!(
                !stderr.contains(stage),
                "{case}: refused only after `{stage}` started:\n{stderr}"
            );
        }
        assert!(
            std::fs::read_dir(out.path()).unwrap().next().is_none(),
            "{case}: wrote into the output folder"
        );
    }
}

#[test]
fn missing_tools_are_named_with_what_to_install() {
    let empty_path = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let scratch = scratch_root();
    std::fs::create_dir_all(scratch.path().join("apps/tokenizer-studio/web")).unwrap();
    std::fs::write(
        scratch
            .path()
            .join("apps/tokenizer-studio/web/package.json"),
        "{}",
    )
    .unwrap();
    // `--preflight` runs only the tool checks a real build starts with; each call supplies one
    // more tool than the last, so each error names the next missing one.
    let preflight = |tools: &[(&str, &std::ffi::OsStr)]| {
        let mut command = xtask(cache.path());
        command
            .env("PATH", empty_path.path())
            .env("HOME", home.path())
            .env("XTASK_PROJECT_ROOT", scratch.path())
            .env_remove("PYENV_ROOT")
            .env_remove("XTASK_UV")
            .env_remove("XTASK_HOST_PYTHON")
            .args(["runtime", "--target", "windows-x64", "--preflight"]);
        for (name, value) in tools {
            command.env(name, value);
        }
        run(&mut command)
    };
    let missing_python = std::ffi::OsStr::new("/nonexistent/python3.12");
    let (ok, _, stderr) = preflight(&[("XTASK_HOST_PYTHON", missing_python)]);
    assert!(!ok);
    assert!(
        stderr.contains("no CPython 3.12 found") && stderr.contains("install"),
        "{stderr}"
    );

    let host_python = host_python();
    let (ok, _, stderr) = preflight(&[("XTASK_HOST_PYTHON", host_python.as_os_str())]);
    assert!(!ok);
    assert!(
        stderr.contains("bootstrapping uv needs a Python with pip on PATH")
            && stderr.contains("put uv on PATH"),
        "uv bootstrap needs pip: {stderr}"
    );

    let uv = real_uv();
    let (ok, _, stderr) = preflight(&[
        ("XTASK_HOST_PYTHON", host_python.as_os_str()),
        ("XTASK_UV", uv.as_os_str()),
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("`npm` is not on PATH") && stderr.contains("apt-get install nodejs npm"),
        "{stderr}"
    );

    // npm without node (a broken Node.js install).
    let npm = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|dir| dir.join("npm"))
        .find(|path| path.is_file())
        .expect("npm on the test's PATH");
    std::os::unix::fs::symlink(&npm, empty_path.path().join("npm")).unwrap();
    let (ok, _, stderr) = preflight(&[
        ("XTASK_HOST_PYTHON", host_python.as_os_str()),
        ("XTASK_UV", uv.as_os_str()),
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("`node` is not on PATH") && stderr.contains("install Node.js 20+"),
        "{stderr}"
    );
}
