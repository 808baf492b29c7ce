//! Thin first run and rollback, end to end: the real shell (built with the dev update key, as a
//! dev release's shell is) with no runtime, a signed index and the real runtime archive served
//! on loopback → "Download and install" → UI up; then a newer runtime whose engine exits at
//! once is published → downloaded in the background → applied at the next start → fails its
//! health check → rolled back to the previous runtime, UI up, the bad version recorded.

use std::path::{Path, PathBuf};
use std::time::Duration;

use runtime_spec::{layout, Manifest, Target, Version};
use test_support::http::Server;

use crate::support::{self, SHELL_EXE};
use crate::webdriver::Session;

const UI_TIMEOUT: Duration = Duration::from_secs(180);
const CHANNEL: &str = "dev";

/// The dev key pair `cargo xtask` made; the shell under test must embed its public half.
fn dev_secret_key() -> String {
    let built_in = shell::built_in::update_key().expect(
        "this shell was built without an update key: run the shell tests through `cargo xtask test`, which builds it with the dev key",
    );
    let dir = support::workspace_root()
        .join("target")
        .join("dev-minisign");
    let secret = std::fs::read_to_string(dir.join("minisign.key")).expect(
        "target/dev-minisign/minisign.key (made by `cargo xtask release` or `cargo xtask test`)",
    );
    let probe = release_meta::sign(b"probe", &secret, None, "probe").unwrap();
    release_meta::verify(b"probe", &probe, &built_in.key_line())
        .expect("the shell under test embeds a different key than target/dev-minisign");
    secret
}

/// The runtime archive `cargo xtask runtime` wrote beside `dist/runtime-linux-x64`.
fn good_archive(runtime: &Path, manifest: &Manifest) -> PathBuf {
    let archive = runtime.parent().unwrap().join(layout::archive_name(
        &manifest.runtime_version,
        manifest.variant(),
    ));
    assert!(
        archive.is_file(),
        "no {}: build it with `cargo xtask runtime`",
        archive.display()
    );
    archive
}

/// A newer runtime whose engine exits at once: the real one with `__main__` replaced, the
/// version bumped and the manifest rewritten (the updater verifies every file), then packed.
fn broken_newer_archive(runtime: &Path, manifest: &Manifest, work: &Path) -> (PathBuf, Version) {
    let copy = support::broken_runtime(runtime, work, "this update is broken on purpose");
    let mut version = manifest.runtime_version.clone();
    version.patch += 1;
    version.pre = semver::Prerelease::EMPTY;
    for name in [layout::VERSION_FILE, layout::MANIFEST_FILE] {
        std::fs::remove_file(copy.join(name)).unwrap(); // hard links: replace, never edit
    }
    std::fs::write(copy.join(layout::VERSION_FILE), format!("{version}\n")).unwrap();
    let mut newer = manifest.clone();
    newer.runtime_version = version.clone();
    newer.files = runtime_archive::build_manifest_files(&copy).unwrap();
    std::fs::write(copy.join(layout::MANIFEST_FILE), newer.to_json()).unwrap();
    let archive = work.join("serve").join(layout::archive_name(
        &version,
        runtime_spec::Variant::base(Target::LinuxX64),
    ));
    let mut options = runtime_archive::PackOptions::new(1_700_000_000);
    options.zstd_level = 3;
    runtime_archive::pack_tar_zst(&copy, &archive, &options).unwrap();
    (archive, version)
}

fn publish(serve: &Path, secret: &str, published_at: u64, archive: &Path, manifest: &Manifest) {
    let entry =
        release_meta::entry_for_archive(archive, manifest, &"0.1.0".parse().unwrap()).unwrap();
    let index = release_meta::build_index(
        CHANNEL.parse().unwrap(),
        published_at,
        vec![(Target::LinuxX64, entry)],
    )
    .unwrap();
    release_meta::write_signed_index(&index, serve, secret, None).unwrap();
}

fn read_manifest(dir: &Path) -> Manifest {
    Manifest::from_json(&std::fs::read(dir.join(layout::MANIFEST_FILE)).unwrap()).unwrap()
}

#[test]
fn thin_first_run_installs_then_a_bad_update_rolls_back() {
    let Some(_serial) = support::slow_test() else {
        return;
    };
    let secret = dev_secret_key();
    let runtime = support::runtime_dir();
    let manifest = read_manifest(&runtime);
    let work = support::scratch("e2e-thin");
    let serve_dir = work.path().join("serve");
    std::fs::create_dir_all(&serve_dir).unwrap();
    let good = serve_dir.join(good_archive(&runtime, &manifest).file_name().unwrap());
    std::fs::hard_link(good_archive(&runtime, &manifest), &good).unwrap();
    publish(&serve_dir, &secret, 1_000, &good, &manifest);
    let server = Server::serving_dir(&serve_dir);
    let index_url = server.url(&format!("/runtime-{CHANNEL}.json"));

    let data = work.path().join("data");
    let runtimes = data.join("runtime");
    let display = support::display();
    let bus = support::session_bus();
    let shots = support::artifacts_dir();
    let session_with = |update_check: &str| {
        let driver = support::tauri_driver(
            &[
                ("TOKENIZER_STUDIO_DATA_DIR", data.as_path()),
                ("TOKENIZER_STUDIO_INDEX_URL", Path::new(&index_url)),
                ("TOKENIZER_STUDIO_UPDATE_CHECK", Path::new(update_check)),
            ],
            &display,
            &bus,
        );
        let session = Session::start(&driver.url, Path::new(SHELL_EXE)).expect("WebDriver session");
        (driver, session)
    };

    // 1. First run: nothing installed → the install screen → real progress → the UI.
    let (driver, session) = session_with("0");
    let result = (|| -> Result<(), String> {
        session.wait_for(
            "body[data-phase=failed][data-kind=no_runtime]",
            None,
            UI_TIMEOUT,
        )?;
        let install = session.wait_for("[data-testid=action-install_runtime]", None, UI_TIMEOUT)?;
        assert_eq!(
            session.attribute(&install, "disabled")?,
            None,
            "install is offered"
        );
        session.click(&install)?;
        session.wait_for("body[data-phase=installing]", None, UI_TIMEOUT)?;
        // Best effort: on loopback the install screen may already be gone.
        let _ = session.screenshot(&shots.join("thin-first-run-installing.png"));
        session.wait_for("[data-testid=datasets-screen]", None, UI_TIMEOUT)?;
        session.screenshot(&shots.join("thin-first-run-ui.png"))?;
        Ok(())
    })();
    finish(&session, &data, &shots, "thin-first-run", result);
    session.end().expect("end the session");
    drop(driver);
    assert_eq!(
        read_manifest(&runtimes.join("current")).runtime_version,
        manifest.runtime_version
    );
    let log = std::fs::read_to_string(data.join("logs").join("shell.log")).unwrap();
    assert!(
        log.contains("-> installing (Downloading"),
        "progress was shown: {log}"
    );
    assert!(
        log.contains(&format!(
            "runtime {} ({}) is healthy",
            manifest.runtime_version,
            manifest.variant()
        )),
        "{log}"
    );

    // 2. A newer runtime that cannot start is published; the background check fetches it.
    let (bad_archive, bad_version) = broken_newer_archive(&runtime, &manifest, work.path());
    let mut bad_manifest = manifest.clone();
    bad_manifest.runtime_version = bad_version.clone();
    publish(&serve_dir, &secret, 2_000, &bad_archive, &bad_manifest);
    let (driver, session) = session_with("1");
    let result = (|| -> Result<(), String> {
        session.wait_for("[data-testid=datasets-screen]", None, UI_TIMEOUT)?;
        support::wait_until(
            UI_TIMEOUT,
            "the update to be downloaded and verified",
            || {
                runtimes
                    .join("pending")
                    .join(layout::MANIFEST_FILE)
                    .is_file()
            },
        );
        Ok(())
    })();
    finish(&session, &data, &shots, "thin-update-download", result);
    session.end().expect("end the session");
    drop(driver);
    assert_eq!(
        read_manifest(&runtimes.join("pending")).runtime_version,
        bad_version
    );

    // 3. Next start: the update is applied, fails its health check, the previous runtime is
    //    put back and started, and the user is told in one sentence.
    let (driver, session) = session_with("0");
    let result = (|| -> Result<(), String> {
        session.wait_for("[data-testid=datasets-screen]", None, UI_TIMEOUT)?;
        let notice =
            session.text(&session.wait_for("[data-testid=shell-notice]", None, UI_TIMEOUT)?)?;
        assert!(
            notice.contains(&bad_version.to_string()) && notice.contains("went back"),
            "{notice}"
        );
        session.screenshot(&shots.join("thin-rollback-notice.png"))?;
        Ok(())
    })();
    finish(&session, &data, &shots, "thin-rollback", result);
    session.end().expect("end the session");
    drop(driver);
    assert_eq!(
        read_manifest(&runtimes.join("current")).runtime_version,
        manifest.runtime_version
    );
    assert!(!runtimes.join("pending").exists());
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(runtimes.join("state.json")).unwrap()).unwrap();
    assert_eq!(
        state["bad_runtimes"],
        serde_json::json!([{"version": bad_version, "variant": manifest.variant()}]),
        "{state}"
    );
    assert_eq!(state["trial"], serde_json::Value::Null);
}

fn finish(session: &Session, data: &Path, shots: &Path, name: &str, result: Result<(), String>) {
    if let Err(error) = result {
        let _ = session.screenshot(&shots.join(format!("{name}-failure.png")));
        for file in ["shell.log", "engine.log"] {
            if let Ok(text) = std::fs::read_to_string(data.join("logs").join(file)) {
                eprintln!("--- {file} ---");
                for line in text
                    .lines()
                    .rev()
                    .take(40)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                {
                    eprintln!("{line}");
                }
            }
        }
        panic!("{name}: {error}");
    }
}
