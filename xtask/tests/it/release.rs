//! `cargo xtask release` for the host: the installable .deb, checksums, the signed index, the
//! object store, and the installed shell updating itself.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::support::{
    as_root, files_under, host_build_lock, http_get, root, run, shared_cache, xtask,
};
use test_support::http::Server;
use test_support::wait_until;

/// The release's output folder after `cargo xtask release` for the host (dev channel, full
/// bundle): a `.deb` that installs and runs, checksums, a signed index, every runtime file's
/// object.
#[test]
fn release_produces_an_installable_deb_checksums_and_a_signed_index() {
    let Some(_lock) = host_build_lock() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let mut command = xtask(&shared_cache());
    command
        .args(["release", "--bundle", "full", "--out-dir"])
        .arg(out.path());
    let (ok, stdout, stderr) = run(&mut command);
    assert!(ok, "release failed:\n{stderr}");
    assert!(
        stdout.contains("release 0.1.0 linux-x64 (dev, full bundle, 1 variant)"),
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

    // The object store: the runtime's every file, and its manifest, once each as the index and
    // manifest name them (SHA256SUMS lists none of them).
    let published =
        crate::objects::check_release_objects(out.path(), runtime_spec::Target::LinuxX64);
    assert!(published.files > 1000, "{published:?}");

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
    let entry = &index_json["runtimes"]["linux-x64"][0];
    assert!(entry["sha256"].as_str().is_some_and(|sha| sha.len() == 64));
    assert_eq!(entry["profile"], "base", "{index_json}");
    assert_eq!(entry["accelerator"], "cpu", "{index_json}");

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
    let log = data.path().join("logs").join("engine.log");
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
            "the installed app's engine never became ready; log:\n{text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    };
    let page = http_get(port, "/");
    // The window itself navigated to the engine's UI (the shell logs each page it loads).
    let shell_log = data.path().join("logs").join("shell.log");
    let ui_line = format!("ui loaded: http://127.0.0.1:{port}");
    let window_shows_ui = wait_until(std::time::Duration::from_secs(60), || {
        std::fs::read_to_string(&shell_log).is_ok_and(|text| text.contains(&ui_line))
    });
    unsafe { libc::kill(-(app.id() as i32), libc::SIGTERM) };
    let _ = app.wait();
    let engine_gone = wait_until(std::time::Duration::from_secs(10), || {
        test_support::port_is_free(port)
    });
    assert!(
        engine_gone,
        "SIGTERM to the app must stop its engine (port {port} still in use)"
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
            &release_meta::updater_trusted_comment(
                0,
                "tokenizer-studio_0.1.1_amd64.deb",
                &"0.1.1".parse().unwrap(),
            ),
        )
        .unwrap()
    };
    let manifest = |signature: &str, url: &str| {
        release_meta::tauri_latest_json(
            &"0.1.1".parse().unwrap(),
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
        let server = Server::with_routes([("/new.deb", body)]);
        server.route(
            "/latest-dev.json",
            manifest(&signature, &server.url("/new.deb")),
        );
        server
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
