//! Runtime installs and updates, end to end, with the real shell (built with the dev update
//! key, as a dev release's shell is) and a signed index on loopback:
//!
//! - Thin first run and rollback: no runtime, the real runtime archive served → "Download and
//!   install" → UI up; then a newer runtime whose engine exits at once is published →
//!   downloaded in the background → applied at the next start → fails its health check →
//!   rolled back to the previous runtime, UI up, the bad version recorded.
//! - A delta update: a newer runtime that differs in one file is fetched as that file's object
//!   (and the manifest's), the UI says how big the update was, the next start runs it.
//! - Install failures: the archive missing on the server, or one byte different from the
//!   signed one → the failure screen with its troubleshooting section, details collapsed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use runtime_spec::{layout, Manifest, Version};
use test_support::http::Server;

use crate::support::{self, read_manifest, SHELL_EXE};
use crate::webdriver::Session;

const UI_TIMEOUT: Duration = Duration::from_secs(180);
const CHANNEL: &str = "dev";

/// The runtime archive `cargo xtask runtime` wrote beside `dist/runtime-linux-x64`.
fn good_archive(runtime: &Path, manifest: &Manifest) -> PathBuf {
    let archive = runtime.parent().unwrap().join(layout::archive_name(
        &crate::app().archive_stem(),
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

/// The next patch release after `version`.
fn next_version(version: &Version) -> Version {
    let mut next = version.clone();
    next.patch += 1;
    next.pre = semver::Prerelease::EMPTY;
    next
}

/// Makes `copy`, a changed copy of the runtime `manifest` describes, runtime `version`:
/// `VERSION` and `manifest.json` replaced (they may be hard links) and every file listed anew,
/// since the updater verifies every file. With `objects`, each file and the manifest are also
/// packed into that object store, as a release publishes them beside the index.
fn relabel(
    copy: &Path,
    manifest: &Manifest,
    version: &Version,
    objects: Option<&Path>,
) -> Manifest {
    let _ = std::fs::remove_file(copy.join(layout::MANIFEST_FILE));
    support::replace_file(&copy.join(layout::VERSION_FILE), format!("{version}\n"));
    let mut relabelled = manifest.clone();
    relabelled.runtime_version = version.clone();
    relabelled.files = runtime_archive::build_manifest_files(copy).unwrap();
    if let Some(objects) = objects {
        runtime_archive::objects::pack_objects(copy, &mut relabelled.files, objects, 2).unwrap();
    }
    let manifest_path = copy.join(layout::MANIFEST_FILE);
    std::fs::write(&manifest_path, relabelled.to_json()).unwrap();
    if let Some(objects) = objects {
        let reference = release_meta::manifest_ref(&relabelled);
        runtime_archive::objects::pack_object(&manifest_path, &reference.sha256, objects).unwrap();
    }
    relabelled
}

/// `copy` packed into `serve` under the archive name of `manifest` (level 1: these tests are
/// about what is fetched, not about the archive's size).
fn pack(copy: &Path, manifest: &Manifest, serve: &Path) -> PathBuf {
    let archive = serve.join(layout::archive_name(
        &crate::app().archive_stem(),
        &manifest.runtime_version,
        manifest.variant(),
    ));
    let mut options = runtime_archive::PackOptions::new(1_700_000_000);
    options.zstd_level = 1;
    options.zstd_workers = 2;
    runtime_archive::pack_tar_zst(copy, &archive, &options).unwrap();
    archive
}

/// A newer runtime whose engine exits at once: the real one with `__main__` replaced and
/// relabelled as the next version, packed into `work/serve` without objects (so its update
/// takes the archive). Returns the archive and its manifest.
fn broken_newer_archive(runtime: &Path, manifest: &Manifest, work: &Path) -> (PathBuf, Manifest) {
    let copy = support::broken_runtime(runtime, work, "this update is broken on purpose");
    let newer = relabel(
        &copy,
        manifest,
        &next_version(&manifest.runtime_version),
        None,
    );
    (pack(&copy, &newer, &work.join("serve")), newer)
}

fn publish(serve: &Path, secret: &str, published_at: u64, archive: &Path, manifest: &Manifest) {
    let entry =
        release_meta::entry_for_archive(archive, manifest, &"0.1.0".parse().unwrap()).unwrap();
    let index = release_meta::build_index(
        CHANNEL.parse().unwrap(),
        published_at,
        None,
        vec![(manifest.target, entry)],
    )
    .unwrap();
    release_meta::write_signed_index(&index, serve, secret, None).unwrap();
}

/// The shell under WebDriver with data folder `data`, the index at `index_url` and the
/// background update check on (`"1"`) or off (`"0"`).
fn start_shell(
    data: &Path,
    index_url: &str,
    update_check: &str,
    display: &support::Display,
    bus: &support::SessionBus,
) -> (support::Driver, Session) {
    let driver = support::tauri_driver(
        &[
            ("TOKENIZER_STUDIO_DATA_DIR", data),
            ("TOKENIZER_STUDIO_INDEX_URL", Path::new(index_url)),
            ("TOKENIZER_STUDIO_UPDATE_CHECK", Path::new(update_check)),
        ],
        display,
        bus,
    );
    let session = Session::start(&driver.url, Path::new(SHELL_EXE)).expect("WebDriver session");
    (driver, session)
}

#[test]
fn thin_first_run_installs_then_a_bad_update_rolls_back() {
    let Some(_serial) = support::slow_test() else {
        return;
    };
    let secret = support::dev_secret_key();
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
    let session_with =
        |update_check: &str| start_shell(&data, &index_url, update_check, &display, &bus);

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
    let (bad_archive, bad_manifest) = broken_newer_archive(&runtime, &manifest, work.path());
    let bad_version = bad_manifest.runtime_version.clone();
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

/// A delta update end to end. The shell runs runtime N from `current`; the index announces
/// N+1, which differs from N in one file of `app/` (and `VERSION`, which the updater writes from
/// the verified manifest). The background check fetches only the index, its signature, N+1's
/// manifest and that one file (as objects), and says over the UI how small the update was; the
/// next start runs N+1.
#[test]
fn a_one_file_update_fetches_only_that_file_and_says_its_size() {
    let Some(_serial) = support::slow_test() else {
        return;
    };
    let started = Instant::now();
    let secret = support::dev_secret_key();
    let runtime = support::runtime_dir();
    let manifest = read_manifest(&runtime);
    let work = support::scratch("e2e-delta");
    let serve_dir = work.path().join("serve");
    let objects = serve_dir.join(layout::OBJECTS_DIR);

    // N+1: N hard-linked, one app file replaced, relabelled; every object packed and published.
    let changed = "app/app/__init__.py";
    let copy = work.path().join("runtime-next");
    support::linked_copy(&runtime, &copy);
    let mut changed_bytes = std::fs::read(copy.join(changed)).unwrap();
    changed_bytes.extend_from_slice(b"# The one file this delta update changes.\n");
    support::replace_file(&copy.join(changed), &changed_bytes);
    let next = relabel(
        &copy,
        &manifest,
        &next_version(&manifest.runtime_version),
        Some(&objects),
    );
    let archive = pack(&copy, &next, &serve_dir);
    publish(&serve_dir, &secret, 1_000, &archive, &next);
    let version = next.runtime_version.clone();
    let manifest_object = release_meta::manifest_ref(&next);
    let changed_entry = next.files.iter().find(|file| file.path == changed).unwrap();
    let in_n: std::collections::HashSet<(&str, &runtime_spec::Sha256)> = manifest
        .files
        .iter()
        .map(|file| (file.path.as_str(), &file.sha256))
        .collect();
    let differing: Vec<&str> = next
        .files
        .iter()
        .filter(|file| !in_n.contains(&(file.path.as_str(), &file.sha256)))
        .map(|file| file.path.as_str())
        .collect();
    assert_eq!(
        differing,
        [layout::VERSION_FILE, changed],
        "N+1 differs from N"
    );
    assert_eq!(next.files.len(), manifest.files.len());
    let update_bytes = manifest_object.packed_size + changed_entry.packed_size.unwrap();
    eprintln!(
        "published runtime {version} ({} files as objects) in {:.1?}; its delta is the manifest's object ({} bytes) and {changed}'s ({} bytes)",
        next.files.len(),
        started.elapsed(),
        manifest_object.packed_size,
        changed_entry.packed_size.unwrap()
    );

    // N in `current`, as an earlier install leaves it (hard links: the engine writes nothing
    // into its runtime).
    let data = work.path().join("data");
    let runtimes = data.join("runtime");
    std::fs::create_dir_all(&runtimes).unwrap();
    support::linked_copy(&runtime, &runtimes.join("current"));
    let server = Server::serving_dir(&serve_dir);
    let index_url = server.url(&format!("/runtime-{CHANNEL}.json"));
    let display = support::display();
    let bus = support::session_bus();
    let shots = support::artifacts_dir();

    // 1. Runtime N starts; the background check installs N+1 as a delta and says so.
    let (driver, session) = start_shell(&data, &index_url, "1", &display, &bus);
    let mut notice = String::new();
    let result = (|| -> Result<(), String> {
        session.wait_for("[data-testid=datasets-screen]", None, UI_TIMEOUT)?;
        let banner = session.wait_for(
            &format!("[data-testid={}]", shell::runtime_update::UPDATE_NOTICE_ID),
            None,
            UI_TIMEOUT,
        )?;
        // The bar's text ends with its dismiss button's ×.
        notice = session
            .text(&banner)?
            .trim_end_matches(|c: char| c == '×' || c.is_whitespace())
            .to_owned();
        session.screenshot(&shots.join("delta-update-notice.png"))?;
        Ok(())
    })();
    finish(&session, &data, &shots, "delta-update-download", result);
    session.end().expect("end the session");
    drop(driver);
    assert_eq!(
        notice,
        format!(
            "Engine {version} is ready ({}). It is used from the next start.",
            shell::view::transfer_phrase(updater::Method::Delta, update_bytes)
        )
    );
    assert_eq!(
        read_manifest(&runtimes.join("pending")).runtime_version,
        version
    );
    let mut fetched: Vec<(String, u16, usize)> = server
        .requests()
        .into_iter()
        .map(|request| (request.path, request.status, request.sent))
        .collect();
    fetched.sort();
    let index_path = format!("/runtime-{CHANNEL}.json");
    let mut expected_paths = vec![
        index_path.clone(),
        format!("{index_path}.minisig"),
        format!("/{}", layout::object_path(&manifest_object.sha256)),
        format!("/{}", layout::object_path(&changed_entry.sha256)),
    ];
    expected_paths.sort();
    assert_eq!(
        fetched
            .iter()
            .map(|(path, _, _)| path.clone())
            .collect::<Vec<_>>(),
        expected_paths,
        "only the index, its signature and two objects are fetched, no archive"
    );
    assert!(
        fetched.iter().all(|(_, status, _)| *status == 200),
        "{fetched:?}"
    );
    let object_bytes: usize = fetched
        .iter()
        .filter(|(path, _, _)| path.starts_with(&format!("/{}/", layout::OBJECTS_DIR)))
        .map(|(_, _, sent)| sent)
        .sum();
    assert_eq!(object_bytes as u64, update_bytes, "{fetched:?}");
    let log = std::fs::read_to_string(data.join("logs").join("shell.log")).unwrap();
    let installed = log
        .lines()
        .find(|line| line.contains("update check: runtime"))
        .unwrap_or_default();
    assert!(
        installed.contains(&format!(
            "update check: runtime {version} installed by delta ({} downloaded",
            updater::human_bytes(update_bytes)
        )) && installed.ends_with("; it is used from the next start"),
        "{log}"
    );

    // 2. The next start applies N+1, which answers its health check and serves the UI.
    let (driver, session) = start_shell(&data, &index_url, "0", &display, &bus);
    let mut engine_version = String::new();
    let result = (|| -> Result<(), String> {
        session.wait_for("[data-testid=datasets-screen]", None, UI_TIMEOUT)?;
        session.click(&session.wait_for("[data-testid=nav-about]", None, UI_TIMEOUT)?)?;
        engine_version =
            session.text(&session.wait_for("[data-testid=engine-version]", None, UI_TIMEOUT)?)?;
        session.screenshot(&shots.join("delta-update-applied.png"))?;
        // "Remove old engines": the previous engine goes, the one in use stays and keeps
        // serving this page.
        let previous_version = read_manifest(&runtimes.join("previous")).runtime_version;
        session.click(&session.wait_for(
            "[data-testid=remove-old-engines]",
            None,
            UI_TIMEOUT,
        )?)?;
        session.click(&session.wait_for(
            "[data-testid=confirm-remove-old-engines]",
            None,
            UI_TIMEOUT,
        )?)?;
        let said = session.text(&session.wait_for(
            "[data-testid=remove-old-engines-said]",
            None,
            UI_TIMEOUT,
        )?)?;
        assert!(
            said.starts_with(&format!("Removed the previous engine ({previous_version})")),
            "{said}"
        );
        assert!(!runtimes.join("previous").exists(), "{said}");
        session.click(&session.wait_for("[data-testid=nav-datasets]", None, UI_TIMEOUT)?)?;
        session.wait_for("[data-testid=datasets-screen]", None, UI_TIMEOUT)?;
        Ok(())
    })();
    finish(&session, &data, &shots, "delta-update-applied", result);
    session.end().expect("end the session");
    drop(driver);
    assert_eq!(
        engine_version,
        version.to_string(),
        "the engine's About screen"
    );
    let current = runtimes.join("current");
    assert_eq!(read_manifest(&current).runtime_version, version);
    assert_eq!(std::fs::read(current.join(changed)).unwrap(), changed_bytes);
    assert_eq!(
        std::fs::read_to_string(current.join(layout::VERSION_FILE)).unwrap(),
        format!("{version}\n")
    );
    let log = std::fs::read_to_string(data.join("logs").join("shell.log")).unwrap();
    assert!(
        log.contains(&format!(
            "removed old engines: previous {} ({})",
            manifest.runtime_version,
            manifest.variant()
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "runtime {version} ({}) is healthy",
            next.variant()
        )),
        "{log}"
    );
    let state = support::read_json(&runtimes.join("state.json"));
    assert_eq!(state["trial"], serde_json::Value::Null, "{state}");
    assert_eq!(
        server.requests().len(),
        expected_paths.len(),
        "nothing is fetched with the check off"
    );
    eprintln!("delta update end to end took {:.1?}", started.elapsed());
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

/// The first-run install's two commonest failures: the archive is missing on the server (a
/// download that does not arrive) and the archive that arrives is not the signed one (one byte
/// flipped). Each screen leads with its sentence and the guide's section for it, the details
/// collapsed; nothing is installed. Their screenshots are the guide's.
#[test]
fn install_failures_lead_with_a_sentence_and_their_troubleshooting_section() {
    let Some(_serial) = support::slow_test() else {
        return;
    };
    let secret = support::dev_secret_key();
    let runtime = support::runtime_dir();
    let manifest = read_manifest(&runtime);
    let good = good_archive(&runtime, &manifest);
    let display = support::display();
    let bus = support::session_bus();
    let shots = support::artifacts_dir();
    let cases: [(&str, &str, &str); 2] = [
        ("missing", "Download failed", "error-download-failed"),
        ("flipped", "Signature refused", "error-signature-refused"),
    ];
    for (damage, section, shot) in cases {
        let work = support::scratch(&format!("e2e-install-{damage}"));
        let serve_dir = work.path().join("serve");
        std::fs::create_dir_all(&serve_dir).unwrap();
        let served = serve_dir.join(good.file_name().unwrap());
        std::fs::copy(&good, &served).unwrap();
        publish(&serve_dir, &secret, 1_000, &served, &manifest);
        match damage {
            "missing" => std::fs::remove_file(&served).unwrap(),
            _ => {
                // The same size, one byte different: only the signed sha256 can tell.
                let mut bytes = std::fs::read(&served).unwrap();
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0x55;
                std::fs::write(&served, bytes).unwrap();
            }
        }
        let server = Server::serving_dir(&serve_dir);
        let index_url = server.url(&format!("/runtime-{CHANNEL}.json"));
        let data = work.path().join("data");
        let (driver, session) = start_shell(&data, &index_url, "0", &display, &bus);
        let result = (|| -> Result<(), String> {
            session.click(&session.wait_for(
                "[data-testid=action-install_runtime]",
                None,
                UI_TIMEOUT,
            )?)?;
            session.wait_for(
                "body[data-phase=failed][data-kind=install_failed]",
                None,
                UI_TIMEOUT,
            )?;
            let title = session.text(&session.wait_for(
                "[data-testid=splash-title]",
                None,
                UI_TIMEOUT,
            )?)?;
            assert_eq!(title, "The engine could not be installed");
            let help = session.text(&session.wait_for(
                "[data-testid=splash-help-title]",
                None,
                UI_TIMEOUT,
            )?)?;
            assert_eq!(
                help, section,
                "{damage}: the guide's section for this cause"
            );
            // The section's text and the technical details wait behind their toggles.
            let open = session.execute(
                "return [...document.querySelectorAll('details')].filter((d) => d.open).length;",
                vec![],
            )?;
            assert_eq!(open, serde_json::json!(0), "{damage}: everything collapsed");
            session.wait_for("[data-testid=action-retry]", None, UI_TIMEOUT)?;
            session.screenshot(&shots.join(format!("{shot}.png")))?;
            Ok(())
        })();
        finish(&session, &data, &shots, shot, result);
        session.end().expect("end the session");
        drop(driver);
        assert!(
            !data.join("runtime").join("current").exists(),
            "{damage}: nothing installed"
        );
    }
}
