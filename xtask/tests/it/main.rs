//! Integration tests of `cargo xtask`: plans, locks, the download path, runtime assembly.
//!
//! Slow end-to-end cases (full runtime builds) run only with `TOKENIZER_STUDIO_SLOW_TESTS=1`;
//! `.ci/run` sets it.
//!
//! Unix only: these tests drive unshare, dpkg, Xvfb and POSIX signals; Windows CI runs the
//! other crates' tests (`cargo xtask test --fast`).
#![cfg(unix)]

mod http;
mod pbs;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use runtime_spec::Target;

use http::{Reply, Server};

/// Builds of the repository's own host runtime share one build folder: one at a time.
static HOST_BUILD: Mutex<()> = Mutex::new(());

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A persistent cache for the slow tests (wheels, uv), so reruns don't download again.
fn shared_cache() -> PathBuf {
    root().join("target").join("xtask-test-cache")
}

fn xtask(cache: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command
        .env("CI", "1")
        .env("TOKENIZER_STUDIO_CACHE_DIR", cache)
        .env_remove("TOKENIZER_STUDIO_PYTHON_MIRROR");
    command
}

fn run(command: &mut Command) -> (bool, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().unwrap();
    (
        status.success(),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn slow_tests_enabled(name: &str) -> bool {
    let enabled = std::env::var("TOKENIZER_STUDIO_SLOW_TESTS").is_ok_and(|value| value == "1");
    if !enabled {
        eprintln!("{name}: slow end-to-end test not run; set TOKENIZER_STUDIO_SLOW_TESTS=1");
    }
    enabled
}

/// `program` run as root: directly when the tests are root (`.ci/run`), else through
/// passwordless `sudo -n` (GitHub's runners), which fails at once instead of prompting.
fn as_root(program: &str) -> Command {
    if unsafe { libc::geteuid() } == 0 {
        Command::new(program)
    } else {
        let mut command = Command::new("sudo");
        command.args(["-n", program]);
        command
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_file())
        .map(|entry| entry.into_path())
        .collect()
}

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

#[test]
fn committed_locks_are_fresh_and_carry_no_urls() {
    let cache = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = run(xtask(cache.path()).args(["lock", "--check"]));
    assert!(ok, "{stderr}");
    for target in Target::ALL {
        let text = std::fs::read_to_string(root().join("lockfiles").join(format!("{target}.txt")))
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

/// A minimal project root: the backend's pyproject and the committed locks.
fn scratch_root() -> tempfile::TempDir {
    let scratch = tempfile::tempdir().unwrap();
    let api = scratch.path().join("apps/tokenizer-studio/api");
    std::fs::create_dir_all(&api).unwrap();
    std::fs::copy(
        root().join("apps/tokenizer-studio/api/pyproject.toml"),
        api.join("pyproject.toml"),
    )
    .unwrap();
    std::fs::create_dir_all(scratch.path().join("lockfiles")).unwrap();
    for target in Target::ALL {
        let name = format!("{target}.txt");
        std::fs::copy(
            root().join("lockfiles").join(&name),
            scratch.path().join("lockfiles").join(&name),
        )
        .unwrap();
    }
    scratch
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
    let server = Server::start(vec![
        ("/corrupt.tar.gz", Reply::Body(corrupt)),
        ("/truncated.tar.gz", Reply::Truncated(good.clone())),
        ("/fault.tar.gz", Reply::Status(500)),
    ]);
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
    assert!(server.hits.lock().unwrap().get("/corrupt.tar.gz").is_some());
}

/// A lock whose wheel hashes do not match what the index serves (a tampered lock, or an index
/// serving other bytes) stops the build at the wheels stage, with uv's mismatch and what to do,
/// and leaves no runtime behind.
#[test]
fn a_lock_with_a_wrong_wheel_hash_stops_the_build() {
    if !slow_tests_enabled("wrong_wheel_hash") {
        return;
    }
    // A checkout of this commit (the plan reads the web and backend sources too).
    let scratch = tempfile::tempdir().unwrap();
    let status = Command::new("git")
        .args(["clone", "--quiet", "--no-hardlinks"])
        .arg(root())
        .arg(scratch.path())
        .status()
        .unwrap();
    assert!(status.success());
    let lock = scratch.path().join("lockfiles/windows-x64.txt");
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
    let server = Server::start(vec![("/pbs.tar.gz", Reply::Body(archive))]);
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

#[test]
fn checksum_mismatch_on_the_pinned_url_never_falls_back_to_a_local_python() {
    // The mirror serves the pinned host-target path with the wrong bytes: a dev build for the
    // host target may fall back on *network* failures only, never on a checksum mismatch.
    let pins = runtime_spec::pins::PythonPins::builtin();
    let pinned = pins.url("", Target::LinuxX64).unwrap();
    let server = Server::start(vec![(pinned.as_str(), Reply::Body(b"not python".to_vec()))]);
    let cache = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut command = xtask(cache.path());
    command
        .env("TOKENIZER_STUDIO_PYTHON_MIRROR", server.url(""))
        .args(["runtime", "--target", "linux-x64", "--out-dir"]);
    command.arg(out.path());
    let (ok, _, stderr) = run(&mut command);
    assert!(!ok, "a checksum mismatch must fail the build");
    assert!(stderr.contains("sha256"), "{stderr}");
    assert!(
        !stderr.contains("LOCAL CPython"),
        "no local fallback on a checksum error:\n{stderr}"
    );
    assert_eq!(server.hits.lock().unwrap().get(pinned.as_str()), Some(&1));
    assert!(files_under(&cache.path().join("downloads")).is_empty());
}

#[test]
fn unreachable_mirror_fails_release_channels_and_foreign_targets() {
    let refused = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port())
    };
    for args in [
        ["--target", "linux-x64", "--channel", "stable"],
        ["--target", "macos-arm64", "--channel", "dev"],
    ] {
        let cache = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let mut command = xtask(cache.path());
        command
            .env("TOKENIZER_STUDIO_PYTHON_MIRROR", &refused)
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
            stderr.contains("TOKENIZER_STUDIO_PYTHON_MIRROR"),
            "{args:?}: error must say what to do:\n{stderr}"
        );
        assert!(
            !stderr.contains("LOCAL CPython"),
            "{args:?}: no local fallback here:\n{stderr}"
        );
    }
}

/// A release whose configuration cannot work is refused before anything is built, with the
/// variable or tool to fix named: release channels need the index key pair and the platform's
/// signing identity (no ad hoc, no unsigned Windows), a thin release-channel installer needs
/// its download URL, an explicitly asked-for format must be buildable here.
#[test]
fn misconfigured_releases_are_refused_before_building_anything() {
    // (case, arguments, environment, what the error must name)
    let key_pair = [
        ("TOKENIZER_STUDIO_MINISIGN_KEY", "untrusted comment: x\nRWQ"),
        (
            "TOKENIZER_STUDIO_UPDATE_PUBKEY",
            "untrusted comment: x\nRWQ",
        ),
    ];
    let url = [(
        "TOKENIZER_STUDIO_RELEASE_BASE_URL",
        "https://releases.invalid/ts",
    )];
    type Case<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "stable without the index signing key",
            vec!["--channel", "stable", "--bundle", "full"],
            vec![],
            "TOKENIZER_STUDIO_MINISIGN_KEY",
        ),
        (
            "beta with a secret key but no public key to build in",
            vec!["--channel", "beta", "--bundle", "full"],
            vec![key_pair[0]],
            "TOKENIZER_STUDIO_UPDATE_PUBKEY",
        ),
        (
            "a thin stable installer with nowhere to download from",
            vec!["--channel", "stable", "--bundle", "thin"],
            key_pair.to_vec(),
            "TOKENIZER_STUDIO_RELEASE_BASE_URL",
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
            .env_remove("TOKENIZER_STUDIO_MINISIGN_KEY")
            .env_remove("TOKENIZER_STUDIO_UPDATE_PUBKEY")
            .env_remove("TOKENIZER_STUDIO_RELEASE_BASE_URL")
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
            .env_remove("TOKENIZER_STUDIO_UV")
            .env_remove("TOKENIZER_STUDIO_HOST_PYTHON")
            .args(["runtime", "--target", "windows-x64", "--preflight"]);
        for (name, value) in tools {
            command.env(name, value);
        }
        run(&mut command)
    };
    let missing_python = std::ffi::OsStr::new("/nonexistent/python3.12");
    let (ok, _, stderr) = preflight(&[("TOKENIZER_STUDIO_HOST_PYTHON", missing_python)]);
    assert!(!ok);
    assert!(
        stderr.contains("no CPython 3.12 found") && stderr.contains("install"),
        "{stderr}"
    );

    let host_python = host_python();
    let (ok, _, stderr) = preflight(&[("TOKENIZER_STUDIO_HOST_PYTHON", host_python.as_os_str())]);
    assert!(!ok);
    assert!(
        stderr.contains("bootstrapping uv needs a Python with pip on PATH")
            && stderr.contains("put uv on PATH"),
        "uv bootstrap needs pip: {stderr}"
    );

    let uv = real_uv();
    let (ok, _, stderr) = preflight(&[
        ("TOKENIZER_STUDIO_HOST_PYTHON", host_python.as_os_str()),
        ("TOKENIZER_STUDIO_UV", uv.as_os_str()),
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
        ("TOKENIZER_STUDIO_HOST_PYTHON", host_python.as_os_str()),
        ("TOKENIZER_STUDIO_UV", uv.as_os_str()),
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("`node` is not on PATH") && stderr.contains("install Node.js 20+"),
        "{stderr}"
    );
}

/// The host CPython 3.12 the build uses (resolved by the xtask itself).
fn host_python() -> PathBuf {
    let cache = shared_cache();
    let (ok, stdout, stderr) = run(xtask(&cache).args(["tools", "python"]));
    assert!(ok, "{stderr}");
    PathBuf::from(stdout.trim())
}

/// The pinned uv (bootstrapped into the shared test cache when needed).
fn real_uv() -> PathBuf {
    let cache = shared_cache();
    let (ok, stdout, stderr) = run(xtask(&cache).args(["tools", "uv"]));
    assert!(ok, "{stderr}");
    PathBuf::from(stdout.trim())
}

/// Builds a foreign-target runtime from a synthetic PBS-layout archive served on loopback, with
/// the real wheels for that platform from the package index, through `cargo xtask <subcommand>`
/// (`runtime`, or `release`, which also signs) with `envs` set. Returns the output folder and
/// the runtime folder in it.
fn build_foreign_runtime_with_synthetic_pbs(
    target: Target,
    subcommand: &str,
    envs: &[(&str, String)],
) -> (tempfile::TempDir, PathBuf) {
    let (mut archive, _) = pbs::synthetic_pbs(target);
    // A fresh archive each run, so the download really goes through the HTTP path.
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    archive.extend_from_slice(&[0u8; 1024]);
    archive.extend_from_slice(nonce.to_string().as_bytes());
    let sha256 = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&archive))
    };
    let server = Server::start(vec![("/pbs.tar.gz", Reply::Body(archive))]);
    let out = tempfile::tempdir().unwrap();
    let mut command = xtask(&shared_cache());
    command
        .args([
            subcommand,
            "--target",
            target.name(),
            "--python-archive",
            &server.url("/pbs.tar.gz"),
        ])
        .args(["--python-sha256", &sha256, "--zstd-level", "3", "--out-dir"])
        .arg(out.path())
        .envs(envs.iter().map(|(name, value)| (name, value)));
    let (ok, stdout, stderr) = run(&mut command);
    assert!(ok, "{target} build failed:\n{stderr}");
    assert!(
        stdout.contains(&format!("{subcommand} 0.1.0 {target}")),
        "{stdout}"
    );
    assert_eq!(server.hits.lock().unwrap().get("/pbs.tar.gz"), Some(&1));

    let runtime = out.path().join(format!("runtime-{target}"));
    let site_packages = runtime_spec::launch::join_relative(&runtime, target.site_packages());
    let natives: Vec<PathBuf> = files_under(&site_packages)
        .into_iter()
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "so" || ext == "pyd")
        })
        .collect();
    for (package, prefix) in [
        ("pydantic_core", "_pydantic_core."),
        ("tokenizers", "tokenizers."),
        ("pyarrow", "lib."),
    ] {
        let found = natives.iter().any(|path| {
            path.parent().unwrap().ends_with(package)
                && path
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(prefix)
        });
        assert!(
            found,
            "{target}: no native module {package}/{prefix}* among {natives:?}"
        );
    }
    // Every native module is a binary for the target (Mach-O arm64 / PE x86-64), never ELF.
    for path in &natives {
        let head = std::fs::read(path).unwrap();
        let ok = match target {
            Target::MacosArm64 => {
                head.starts_with(&[0xcf, 0xfa, 0xed, 0xfe, 0x0c, 0x00, 0x00, 0x01])
                    || head.starts_with(&[0xca, 0xfe, 0xba, 0xbe])
            }
            Target::WindowsX64 => head.starts_with(b"MZ") && pe_machine(&head) == Some(0x8664),
            Target::LinuxX64 => head.starts_with(b"\x7fELF"),
        };
        assert!(ok, "{target}: {} is not a {target} binary", path.display());
    }
    assert!(
        !site_packages.join("bin").exists(),
        "{target}: uv's bin/ must be dropped"
    );
    assert!(site_packages
        .join(runtime_spec::layout::APP_PTH_FILE)
        .is_file());
    let python = runtime_spec::launch::join_relative(&runtime, target.python_exe());
    assert!(python.exists(), "{target}: {} missing", python.display());
    assert!(
        !runtime.join(target.stdlib_dir()).join("test").exists(),
        "{target}: stdlib tests must be trimmed"
    );
    assert!(files_under(&runtime.join("app"))
        .iter()
        .any(|path| path.extension().is_some_and(|ext| ext == "pyc")));

    let manifest: runtime_spec::Manifest =
        runtime_spec::Manifest::from_json(&std::fs::read(runtime.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest.target, target);
    assert_eq!(manifest.python.source, runtime_spec::PythonSource::Override);
    assert_eq!(manifest.launch.argv[0], target.python_exe());
    let archive = out
        .path()
        .join(format!("tokenizer-studio-runtime-0.1.0-{target}.tar.zst"));
    for path in [&runtime, &archive] {
        let (ok, stdout, stderr) = run(xtask(&shared_cache()).arg("verify").arg(path));
        assert!(ok, "verify {}: {stderr}", path.display());
        assert!(stdout.contains("matches its manifest"));
    }
    (out, runtime)
}

#[test]
fn macos_arm64_runtime_gets_darwin_wheels_with_synthetic_pbs_on_loopback() {
    if slow_tests_enabled("macos_arm64_runtime") {
        build_foreign_runtime_with_synthetic_pbs(Target::MacosArm64, "runtime", &[]);
    }
}

/// A Windows release cross-assembled here with a self-signed Authenticode certificate: every
/// PE file of the runtime (interpreter, DLLs, `.pyd`) is signed by osslsigncode before the
/// manifest is written, so the manifest and archive describe the signed bytes.
#[test]
fn windows_x64_release_gets_win_amd64_wheels_signed_with_synthetic_pbs_on_loopback() {
    if !slow_tests_enabled("windows_x64_runtime") {
        return;
    }
    use base64::Engine as _;
    let keys = tempfile::tempdir().unwrap();
    let cert = keys.path().join("cert.pem");
    let password = "test signing password";
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(keys.path())
            .output()
            .expect("openssl (Debian package openssl)");
        assert!(output.status.success(), "openssl {args:?}: {output:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-sha256",
        "-days",
        "30",
        "-nodes",
        "-subj",
        "/CN=Tokenizer Studio Test Signing",
        "-addext",
        "extendedKeyUsage=codeSigning",
        "-addext",
        "keyUsage=critical,digitalSignature",
        "-keyout",
        "key.pem",
        "-out",
        "cert.pem",
    ]);
    openssl(&[
        "pkcs12",
        "-export",
        "-in",
        "cert.pem",
        "-inkey",
        "key.pem",
        "-out",
        "signing.p12",
        "-passout",
        &format!("pass:{password}"),
    ]);
    let p12 = std::fs::read(keys.path().join("signing.p12")).unwrap();
    let (_out, runtime) = build_foreign_runtime_with_synthetic_pbs(
        Target::WindowsX64,
        "release",
        &[
            (
                "WINDOWS_SIGNING_P12_BASE64",
                base64::engine::general_purpose::STANDARD.encode(p12),
            ),
            ("WINDOWS_SIGNING_P12_PASSWORD", password.to_owned()),
        ],
    );
    let pe_files: Vec<PathBuf> = files_under(&runtime)
        .into_iter()
        .filter(|path| {
            path.extension().is_some_and(|ext| {
                ["exe", "dll", "pyd"].contains(&ext.to_string_lossy().to_lowercase().as_str())
            })
        })
        .collect();
    assert!(pe_files.len() > 20, "{pe_files:?}");
    for path in &pe_files {
        let output = Command::new("osslsigncode")
            .args(["verify", "-CAfile"])
            .arg(&cert)
            .arg("-in")
            .arg(path)
            .output()
            .expect("osslsigncode (Debian package osslsigncode)");
        assert!(
            output.status.success(),
            "{} is not Authenticode-signed by the test certificate:\n{}",
            path.display(),
            String::from_utf8_lossy(&output.stdout)
        );
    }
}

/// The machine field of a PE file's COFF header.
fn pe_machine(bytes: &[u8]) -> Option<u16> {
    let offset = u32::from_le_bytes(bytes.get(0x3c..0x40)?.try_into().ok()?) as usize;
    if bytes.get(offset..offset + 4)? != b"PE\0\0" {
        return None;
    }
    Some(u16::from_le_bytes(
        bytes.get(offset + 4..offset + 6)?.try_into().ok()?,
    ))
}

/// Builds the host runtime of this checkout into `out` (serialised with other host builds).
fn build_host_runtime(project_root: &Path, out: &Path) -> String {
    let mut command = xtask(&shared_cache());
    command
        .env("XTASK_PROJECT_ROOT", project_root)
        .args(["runtime", "--out-dir"])
        .arg(out);
    let (ok, stdout, stderr) = run(&mut command);
    assert!(
        ok,
        "host build in {} failed:\n{stderr}",
        project_root.display()
    );
    let archive = out.join("tokenizer-studio-runtime-0.1.0-linux-x64.tar.zst.sha256");
    let line = std::fs::read_to_string(&archive).unwrap();
    assert!(stdout.contains("linux-x64"), "{stdout}");
    line.split_whitespace().next().unwrap().to_owned()
}

#[test]
fn two_checkouts_of_one_commit_build_identical_archives() {
    if !slow_tests_enabled("two_checkouts") || Target::host() != Some(Target::LinuxX64) {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let mut hashes = Vec::new();
    for name in ["first checkout", "second/much-longer-checkout-path"] {
        let checkout = scratch.path().join(name);
        std::fs::create_dir_all(checkout.parent().unwrap()).unwrap();
        let status = Command::new("git")
            .args(["clone", "--quiet", "--no-hardlinks"])
            .arg(root())
            .arg(&checkout)
            .status()
            .unwrap();
        assert!(status.success());
        hashes.push(build_host_runtime(&checkout, &checkout.join("dist")));
    }
    assert_eq!(
        hashes[0], hashes[1],
        "the same commit built in two places must give the same archive"
    );
}

#[test]
fn verify_names_the_file_whose_byte_was_flipped() {
    if !slow_tests_enabled("verify_flip") || Target::host() != Some(Target::LinuxX64) {
        return;
    }
    let _guard = HOST_BUILD
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let out = tempfile::tempdir().unwrap();
    build_host_runtime(&root(), out.path());
    let runtime = out.path().join("runtime-linux-x64");
    let (ok, _, stderr) = run(xtask(&shared_cache()).arg("verify").arg(&runtime));
    assert!(ok, "{stderr}");
    let victim = runtime.join("app/app/__init__.py");
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[0] ^= 0x01;
    // The runtime's files may be hard links into the build cache: replace, don't edit in place.
    std::fs::remove_file(&victim).unwrap();
    std::fs::write(&victim, bytes).unwrap();
    let (ok, _, stderr) = run(xtask(&shared_cache()).arg("verify").arg(&runtime));
    assert!(!ok, "verify must fail after a flipped byte");
    assert!(stderr.contains("app/app/__init__.py"), "{stderr}");
}

#[test]
fn runtime_starts_from_a_path_with_spaces_with_the_original_interpreter_hidden() {
    if !slow_tests_enabled("relocation") || Target::host() != Some(Target::LinuxX64) {
        return;
    }
    let _guard = HOST_BUILD
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let out = tempfile::tempdir().unwrap();
    build_host_runtime(&root(), out.path());
    let moved = out.path().join("moved here/with spaces/runtime");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    let status = Command::new("cp")
        .arg("-a")
        .arg(out.path().join("runtime-linux-x64"))
        .arg(&moved)
        .status()
        .unwrap();
    assert!(status.success());
    let manifest =
        runtime_spec::Manifest::from_json(&std::fs::read(moved.join("manifest.json")).unwrap())
            .unwrap();
    // Hide the folder the interpreter was packed from (a local CPython's prefix), so a stale
    // RUNPATH to it would fail to load libpython.
    let host = host_python();
    let prefix = host.parent().unwrap().parent().unwrap().to_path_buf();
    let data = tempfile::tempdir().unwrap();
    let script = format!(
        "mount -t tmpfs none '{prefix}' && exec '{python}' -I -m app --port 0",
        prefix = prefix.display(),
        python = manifest.launch.program(&moved).display()
    );
    // As root a private mount namespace is enough; otherwise map ourselves to root in a user
    // namespace so the mount is allowed (GitHub runners are not root).
    let is_root = unsafe { libc::geteuid() } == 0;
    let namespace_args: &[&str] = if is_root { &["-m"] } else { &["-r", "-m"] };
    let mut child = Command::new("unshare")
        .args(namespace_args)
        .args(["--propagation", "private", "sh", "-c", &script])
        .current_dir(&moved)
        .env("TOKENIZER_STUDIO_DATA_DIR", data.path())
        .env("TOKENIZER_STUDIO_LAUNCH_ID", "relocated")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
    let ready = runtime_spec::launch::parse_ready_line(&line);
    if ready.is_none() {
        let _ = child.kill();
        let output = child.wait_with_output().unwrap();
        panic!(
            "no READY line ({line:?}); stderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let port = ready.unwrap().port;
    let body = http_get(port, "/health");
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert!(
        body.contains("\"launch_id\":\"relocated\"")
            || body.contains("\"launch_id\": \"relocated\""),
        "{body}"
    );
    assert!(
        status.success(),
        "the backend must exit cleanly on stdin EOF: {status}"
    );
}

fn wait_until(timeout: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    done()
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

#[test]
fn smoke_tests_pass_on_the_host_archive() {
    if !slow_tests_enabled("smoke") || Target::host() != Some(Target::LinuxX64) {
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

/// The release's output folder after `cargo xtask release` for the host (dev channel, full
/// bundle): a `.deb` that installs and runs, checksums, a signed index.
#[test]
fn release_produces_an_installable_deb_checksums_and_a_signed_index() {
    if !slow_tests_enabled("release") || Target::host() != Some(Target::LinuxX64) {
        return;
    }
    let _guard = HOST_BUILD
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let out = tempfile::tempdir().unwrap();
    let mut command = xtask(&shared_cache());
    command
        .args(["release", "--bundle", "full", "--out-dir"])
        .arg(out.path());
    let (ok, stdout, stderr) = run(&mut command);
    assert!(ok, "release failed:\n{stderr}");
    assert!(
        stdout.contains("release 0.1.0 linux-x64 (dev, full bundle)"),
        "{stdout}"
    );
    assert!(
        stderr.contains("skipped AppImage"),
        "the skipped format must be named: {stderr}"
    );
    let dir = out.path().join("0.1.0");
    let deb = files_under(&dir)
        .into_iter()
        .find(|path| path.extension().is_some_and(|ext| ext == "deb"))
        .expect("a .deb");

    // Checksums: `sha256sum -c` passes in the release folder.
    let status = Command::new("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(status.success(), "sha256sum -c SHA256SUMS failed");

    // The index verifies with the reference minisign, and fails after a one-byte change.
    let index = dir.join("runtime-dev.json");
    let minisign_verify = |file: &Path| {
        Command::new("minisign")
            .args(["-V", "-q", "-p"])
            .arg(dir.join("minisign.pub"))
            .arg("-m")
            .arg(file)
            .arg("-x")
            .arg(dir.join("runtime-dev.json.minisig"))
            .status()
            .unwrap()
            .success()
    };
    assert!(minisign_verify(&index), "minisign -V rejected the index");
    let tampered = out.path().join("runtime-dev.json");
    let mut bytes = std::fs::read(&index).unwrap();
    let position = bytes.iter().position(|byte| *byte == b'"').unwrap();
    bytes[position + 1] ^= 0x20;
    std::fs::write(&tampered, bytes).unwrap();
    assert!(
        !minisign_verify(&tampered),
        "minisign -V accepted a tampered index"
    );
    let index_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index).unwrap()).unwrap();
    assert_eq!(index_json["channel"], "dev");
    assert!(index_json["runtimes"]["linux-x64"]["sha256"]
        .as_str()
        .is_some_and(|sha| sha.len() == 64));

    // lintian: no errors.
    let lintian = Command::new("lintian")
        .args(["--no-tag-display-limit"])
        .arg(&deb)
        .output()
        .unwrap();
    // lintian exits 0 (clean or only warnings) or 1 (errors, listed below); anything else means
    // it did not check the package at all.
    assert!(
        matches!(lintian.status.code(), Some(0 | 1)),
        "lintian did not run: {}\n{}",
        lintian.status,
        String::from_utf8_lossy(&lintian.stderr)
    );
    let report = String::from_utf8_lossy(&lintian.stdout);
    let errors: Vec<&str> = report
        .lines()
        .filter(|line| line.starts_with("E:"))
        .collect();
    assert!(errors.is_empty(), "lintian errors:\n{}", errors.join("\n"));

    // dpkg -i installs it; the installed app (full bundle) starts under Xvfb and serves the UI.
    let status = as_root("dpkg").arg("-i").arg(&deb).status().unwrap();
    assert!(status.success(), "dpkg -i failed");
    let data = tempfile::tempdir().unwrap();
    // Its own process group: SIGTERM must reach the app itself, not only the xvfb-run script.
    let mut app = Command::new("xvfb-run")
        .process_group(0)
        .args(["-a", "/usr/bin/tokenizer-studio"])
        .env("TOKENIZER_STUDIO_DATA_DIR", data.path())
        .env_remove("TOKENIZER_STUDIO_RUNTIME_DIR")
        .current_dir(data.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let log = data.path().join("logs").join("backend.log");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let port = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(port) = text
            .lines()
            .filter_map(|line| line.find("TOKENIZER_STUDIO_READY ").map(|at| &line[at..]))
            .find_map(runtime_spec::launch::parse_ready_line)
        {
            break port.port;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the installed app's backend never became ready; log:\n{text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    };
    let page = http_get(port, "/");
    // The window itself navigated to the backend's UI (the shell logs each page it loads).
    let shell_log = data.path().join("logs").join("shell.log");
    let ui_line = format!("ui loaded: http://127.0.0.1:{port}");
    let window_shows_ui = wait_until(std::time::Duration::from_secs(60), || {
        std::fs::read_to_string(&shell_log).is_ok_and(|text| text.contains(&ui_line))
    });
    unsafe { libc::kill(-(app.id() as i32), libc::SIGTERM) };
    let _ = app.wait();
    let backend_gone = wait_until(std::time::Duration::from_secs(10), || {
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
    });
    assert!(
        backend_gone,
        "SIGTERM to the app must stop its backend (port {port} still in use)"
    );
    assert!(
        page.contains("<div id=\"root\">") || page.contains("id=\"root\""),
        "the UI page was not served:\n{page}"
    );
    assert!(
        window_shows_ui,
        "the installed app's window never loaded the UI ({ui_line:?}); shell log:\n{}",
        std::fs::read_to_string(&shell_log).unwrap_or_default()
    );
    let updated = std::panic::catch_unwind(|| installed_deb_updates_itself(&dir, &deb));
    let _ = as_root("dpkg").args(["-r", "tokenizer-studio"]).status();
    if let Err(panic) = updated {
        std::panic::resume_unwind(panic);
    }
    assert!(
        data.path()
            .join("runtime")
            .join("default")
            .join("manifest.json")
            .is_file(),
        "the bundled runtime was not installed into runtime/default"
    );
}

/// The installed package's version, as dpkg records it.
fn installed_version() -> String {
    let output = Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", "tokenizer-studio"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A private X display (`Xvfb -displayfd`), killed on drop.
struct Xvfb {
    child: std::process::Child,
    display: String,
}

impl Xvfb {
    fn start() -> Xvfb {
        use std::io::Read;
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("Xvfb (Debian package xvfb)");
        let mut stdout = child.stdout.take().unwrap();
        let mut number = String::new();
        let mut byte = [0u8; 1];
        while stdout.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
            number.push(byte[0] as char);
        }
        assert!(!number.trim().is_empty(), "Xvfb printed no display number");
        Xvfb {
            child,
            display: format!(":{}", number.trim()),
        }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the installed app with its shell updates pointed at `manifest_url` until its log shows
/// `wait_for`, then SIGTERMs it (the normal exit path, where a ready update is installed) and
/// returns the shell log once the process is gone.
fn run_installed_app_until(manifest_url: &str, wait_for: &str) -> String {
    let xvfb = Xvfb::start();
    let data = tempfile::tempdir().unwrap();
    let mut app = Command::new("/usr/bin/tokenizer-studio")
        .env("DISPLAY", &xvfb.display)
        .env("TOKENIZER_STUDIO_DATA_DIR", data.path())
        .env("TOKENIZER_STUDIO_SHELL_UPDATE_URL", manifest_url)
        .env_remove("TOKENIZER_STUDIO_RUNTIME_DIR")
        .env_remove("TOKENIZER_STUDIO_UPDATE_CHECK")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .current_dir(data.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let log_path = data.path().join("logs").join("shell.log");
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let seen = wait_until(std::time::Duration::from_secs(120), || {
        log().contains(wait_for)
    });
    unsafe { libc::kill(app.id() as i32, libc::SIGTERM) };
    let exited = wait_until(std::time::Duration::from_secs(120), || {
        matches!(app.try_wait(), Ok(Some(_)))
    });
    if !exited {
        let _ = app.kill();
        let _ = app.wait();
    }
    let text = log();
    assert!(seen, "the shell log never showed {wait_for:?}:\n{text}");
    assert!(exited, "the app did not exit after SIGTERM:\n{text}");
    text
}

/// The shell updates itself through Tauri's updater: the installed 0.1.0 `.deb` finds a 0.1.1
/// in a signed `latest-dev.json` on loopback, downloads and verifies it, and installs it with
/// dpkg when it closes. The 0.1.1 package is the 0.1.0 one repacked with a new version by this
/// test (one commit builds one version); the updater's part — manifest, signature bound to the
/// version, download, package manager — is all real. A signature over other bytes is refused
/// and changes nothing.
fn installed_deb_updates_itself(release_dir: &Path, deb: &Path) {
    // The release stamped the packaged binary so Tauri's updater knows it came from a .deb.
    let installed = std::fs::read("/usr/bin/tokenizer-studio").unwrap();
    assert!(
        installed
            .windows(27)
            .any(|window| window == b"__TAURI_BUNDLE_TYPE_VAR_DEB"),
        "the packaged shell binary carries no deb bundle-type marker"
    );
    // The release's own manifest: the .deb under its Tauri key, its signature bound to 0.1.0.
    let latest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(release_dir.join("latest-dev.json")).unwrap())
            .unwrap();
    assert_eq!(latest["version"], "0.1.0");
    let entry = &latest["platforms"]["linux-x86_64-deb"];
    let deb_name = deb.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(entry["url"], deb_name.as_str(), "{latest}");
    let public_key = std::fs::read_to_string(release_dir.join("minisign.pub")).unwrap();
    let comment = release_meta::verify(
        &std::fs::read(deb).unwrap(),
        &std::fs::read_to_string(release_dir.join(format!("{deb_name}.sig"))).unwrap(),
        &public_key,
    )
    .expect("the .deb's updater signature verifies with the release key");
    assert!(comment.ends_with("\tversion:0.1.0"), "{comment}");

    // 0.1.1: the same package with a new version in its control file.
    assert_eq!(installed_version(), "0.1.0");
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("pkg");
    assert!(Command::new("dpkg-deb")
        .arg("-R")
        .arg(deb)
        .arg(&tree)
        .status()
        .unwrap()
        .success());
    let control = tree.join("DEBIAN").join("control");
    let text = std::fs::read_to_string(&control).unwrap();
    std::fs::write(&control, text.replace("Version: 0.1.0", "Version: 0.1.1")).unwrap();
    let new_deb = work.path().join("tokenizer-studio_0.1.1_amd64.deb");
    assert!(Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Znone", "-b"])
        .arg(&tree)
        .arg(&new_deb)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success());
    let new_bytes = std::fs::read(&new_deb).unwrap();
    let secret = std::fs::read_to_string(root().join("target/dev-minisign/minisign.key")).unwrap();
    let sign = |bytes: &[u8]| {
        release_meta::sign(
            bytes,
            &secret,
            None,
            &release_meta::updater_trusted_comment(0, "tokenizer-studio_0.1.1_amd64.deb", "0.1.1"),
        )
        .unwrap()
    };
    let manifest = |signature: &str, url: &str| {
        release_meta::tauri_latest_json(
            "0.1.1",
            "test",
            "2026-01-01T00:00:00Z",
            &[("linux-x86_64-deb", url, signature)],
        )
        .unwrap()
        .into_bytes()
    };

    // A signature over other bytes: downloaded, refused, nothing installed.
    let mut other = new_bytes.clone();
    let last = other.len() - 1;
    other[last] ^= 1;
    let serve = |signature: String| {
        let body = new_bytes.clone();
        Server::start_with(move |port| {
            let url = format!("http://127.0.0.1:{port}/new.deb");
            vec![
                (
                    "/latest-dev.json".to_owned(),
                    Reply::Body(manifest(&signature, &url)),
                ),
                ("/new.deb".to_owned(), Reply::Body(body)),
            ]
        })
    };
    let bad_server = serve(sign(&other));
    let log = run_installed_app_until(
        &bad_server.url("/latest-dev.json"),
        "shell update check failed",
    );
    assert!(!log.contains("installing shell update"), "{log}");
    assert_eq!(
        installed_version(),
        "0.1.0",
        "a badly signed update was installed"
    );

    // Signed for 0.1.1: downloaded and verified while the app runs, installed when it closes.
    let server = serve(sign(&new_bytes));
    let log = run_installed_app_until(&server.url("/latest-dev.json"), "downloaded and verified");
    assert!(
        log.contains("shell update 0.1.1 installed"),
        "the update was not installed at exit:\n{log}"
    );
    assert_eq!(installed_version(), "0.1.1");
}
