//! The launcher, as a user meets it with two apps installed: Tokenizer Studio (this shell's
//! primary app, its engine in its data folder) and Corpus Inspector, installed the way its
//! offline installer installs it. The shell opens on the list of both, with each engine's
//! version and the disk each app uses, and opens each in its own process, which loads that
//! app's UI from that app's engine and data folder.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::{self, SHELL_EXE};
use crate::webdriver::Session;

const TIMEOUT: Duration = Duration::from_secs(120);

/// The second app's runtime archive, as `cargo xtask --app corpus-inspector runtime` leaves it.
fn second_app_archive() -> PathBuf {
    let dir = test_support::workspace_root()
        .join("dist")
        .join("corpus-inspector");
    let archive = std::fs::read_dir(&dir)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| {
                    name.starts_with("corpus-inspector-runtime-")
                        && name.ends_with("-linux-x64.tar.zst")
                })
        });
    archive.unwrap_or_else(|| {
        panic!(
            "no Corpus Inspector runtime archive in {}: build it with `cargo xtask --app corpus-inspector runtime`",
            dir.display()
        )
    })
}

/// Live engines running `python -m <module>` whose environment sets `variable=<data_dir>` (an
/// app's shell passes its environment on, so another app's engine may carry the variable too).
fn live_engines(variable: &str, data_dir: &Path, module: &str) -> usize {
    let needle = format!("{variable}={}", data_dir.display());
    let module_args = format!("-m\0{module}\0");
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| {
            let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
            environ
                .split(|byte| *byte == 0)
                .any(|pair| pair == needle.as_bytes())
                && cmdline
                    .windows(module_args.len())
                    .any(|part| part == module_args.as_bytes())
                && !status.contains("State:\tZ")
        })
        .count()
}

/// The pids the launcher says it started, from its log.
fn opened_pids(log: &Path) -> Vec<(String, u32)> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let rest = &line[line.find("opened ")? + "opened ".len()..];
            let (id, pid) = rest.split_once(" (pid ")?;
            Some((id.to_owned(), pid.trim_end_matches(')').parse().ok()?))
        })
        .collect()
}

/// Closes the apps the launcher opened as a user would (SIGTERM: the graceful exit) and waits
/// until none of `engines` (`(variable, data folder, module)`, see [`live_engines`]) runs any
/// more. Returns the opened apps and whether their engines are gone.
fn close_opened_apps(log: &Path, engines: &[(&str, &Path, &str)]) -> (Vec<(String, u32)>, bool) {
    let opened = opened_pids(log);
    for (_, pid) in &opened {
        unsafe {
            libc::kill(*pid as i32, libc::SIGTERM);
        }
    }
    let gone = test_support::wait_until(Duration::from_secs(30), || {
        engines
            .iter()
            .all(|(variable, data, module)| live_engines(variable, data, module) == 0)
    });
    (opened, gone)
}

#[test]
fn two_installed_apps_are_listed_and_each_opens_in_its_own_process() {
    let Some(_serial) = support::slow_test() else {
        return;
    };
    let work = support::scratch("e2e-launcher");
    let studio_data = work.path().join("studio data");
    let inspector_data = work.path().join("inspector data");
    // Each app's engine where its installer puts it: the studio's as its current runtime, the
    // inspector's unpacked from its archive as the default one (the offline installer's first
    // run does exactly this).
    std::fs::create_dir_all(studio_data.join("runtime")).unwrap();
    support::linked_copy(
        &support::runtime_dir(),
        &studio_data.join("runtime").join("current"),
    );
    runtime_archive::install_archive(
        &second_app_archive(),
        &inspector_data.join("runtime"),
        "default",
        runtime_spec::Target::LinuxX64,
    )
    .expect("installing the Corpus Inspector runtime");

    let display = support::display();
    let bus = support::session_bus();
    let driver = support::tauri_driver(
        &[
            ("TOKENIZER_STUDIO_DATA_DIR", studio_data.as_path()),
            ("CORPUS_INSPECTOR_DATA_DIR", inspector_data.as_path()),
            ("TOKENIZER_STUDIO_UPDATE_CHECK", Path::new("0")),
            ("CORPUS_INSPECTOR_UPDATE_CHECK", Path::new("0")),
        ],
        &display,
        &bus,
    );
    let session = Session::start(&driver.url, Path::new(SHELL_EXE)).expect("WebDriver session");
    let launcher_log = studio_data.join("logs").join("launcher.log");
    let result = (|| -> Result<(), String> {
        for (id, name) in [
            ("tokenizer-studio", "Tokenizer Studio"),
            ("corpus-inspector", "Corpus Inspector"),
        ] {
            let facts =
                session.wait_for(&format!("[data-testid=launcher-facts-{id}]"), None, TIMEOUT)?;
            let facts = session.text(&facts)?;
            assert!(facts.contains("Engine 0.1.0"), "{id}: {facts}");
            assert!(facts.contains("Ready"), "{id}: {facts}");
            assert!(facts.contains("MB on disk"), "{id}: {facts}");
            let shown = session.text(&session.wait_for(
                &format!("[data-testid=launcher-name-{id}]"),
                None,
                TIMEOUT,
            )?)?;
            assert_eq!(shown, name);
        }
        session.screenshot(&support::artifacts_dir().join("launcher-two-apps.png"))?;

        for (id, data) in [
            ("corpus-inspector", &inspector_data),
            ("tokenizer-studio", &studio_data),
        ] {
            let open =
                session.wait_for(&format!("[data-testid=launcher-open-{id}]"), None, TIMEOUT)?;
            session.click(&open)?;
            // That app's own shell loads that app's UI from its engine, in its data folder.
            support::wait_for_ui(data, TIMEOUT);
            let said =
                session.text(&session.wait_for("[data-testid=launcher-said]", None, TIMEOUT)?)?;
            assert!(said.contains("is opening in its own window"), "{said}");
        }
        assert_eq!(
            live_engines("CORPUS_INSPECTOR_DATA_DIR", &inspector_data, "inspector"),
            1
        );
        assert_eq!(
            live_engines("TOKENIZER_STUDIO_DATA_DIR", &studio_data, "app"),
            1
        );
        let inspector_log = std::fs::read_to_string(inspector_data.join("logs").join("shell.log"))
            .unwrap_or_default();
        assert!(
            inspector_log.contains("runtime that came with the app"),
            "{inspector_log}"
        );
        Ok(())
    })();
    // The apps run on their own: close them as a user would.
    let (opened, gone) = close_opened_apps(
        &launcher_log,
        &[
            ("CORPUS_INSPECTOR_DATA_DIR", &inspector_data, "inspector"),
            ("TOKENIZER_STUDIO_DATA_DIR", &studio_data, "app"),
        ],
    );
    if let Err(error) = &result {
        support::print_log_tails(&studio_data, 40);
        support::print_log_tails(&inspector_data, 40);
        panic!("{error}");
    }
    let ids: Vec<&str> = opened.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["corpus-inspector", "tokenizer-studio"], "{opened:?}");
    assert!(
        gone,
        "the opened apps' engines are still running after SIGTERM"
    );
    session.end().expect("end the session");
}

/// The second app's runtime folder beside its archive.
fn second_app_runtime() -> PathBuf {
    test_support::workspace_root()
        .join("dist")
        .join("corpus-inspector")
        .join("runtime-linux-x64")
}

/// With only Tokenizer Studio installed, `--launcher` opens the launcher; the signed registry
/// served on loopback offers Corpus Inspector, whose Install downloads its engine from the index
/// the registry names (signed with the same key), into its own data folder; it then opens like
/// any installed app. A registry signed by another key is refused and offers nothing.
#[test]
fn an_app_the_signed_registry_offers_installs_from_the_launcher_and_opens() {
    let Some(_serial) = support::slow_test() else {
        return;
    };
    let work = support::scratch("e2e-registry");
    let studio_data = work.path().join("studio data");
    let inspector_data = work.path().join("inspector data");
    std::fs::create_dir_all(studio_data.join("runtime")).unwrap();
    support::linked_copy(
        &support::runtime_dir(),
        &studio_data.join("runtime").join("current"),
    );

    // The release as published: the registry at the top, the second app's index and archive in
    // its folder, all signed with the key this shell was built with.
    let secret = support::dev_secret_key();
    let serve = work.path().join("serve");
    let inspector_serve = serve.join("corpus-inspector");
    std::fs::create_dir_all(&inspector_serve).unwrap();
    let archive = second_app_archive();
    let served_archive = inspector_serve.join(archive.file_name().unwrap());
    std::fs::copy(&archive, &served_archive).unwrap();
    let manifest = support::read_manifest(&second_app_runtime());
    let entry =
        release_meta::entry_for_archive(&served_archive, &manifest, &"0.1.0".parse().unwrap())
            .unwrap();
    let index = release_meta::build_index(
        "dev".parse().unwrap(),
        1_800_000_000,
        Some(runtime_spec::layout::SHARED_OBJECTS_FROM_APP.to_owned()),
        vec![(manifest.target, entry)],
    )
    .unwrap();
    release_meta::write_signed_index(&index, &inspector_serve, &secret, None).unwrap();
    let registry = runtime_spec::AppRegistry {
        schema_version: runtime_spec::registry::REGISTRY_SCHEMA_VERSION,
        channel: "dev".parse().unwrap(),
        published_at: 1_800_000_000,
        apps: vec![runtime_spec::RegistryApp {
            id: "corpus-inspector".into(),
            product_name: "Corpus Inspector".into(),
            version: manifest.runtime_version.clone(),
            index_url: "corpus-inspector/runtime-dev.json".into(),
            identifier: manifest.app_id.clone(),
            data_folder: "CorpusInspector".into(),
            env_prefix: "CORPUS_INSPECTOR".into(),
            module: "inspector".into(),
        }],
    };
    release_meta::write_signed_registry(&registry, &serve, &secret, None).unwrap();
    // The same registry signed by another key, served beside it.
    let foreign = work.path().join("foreign");
    let (_, other_secret) = release_meta::minisign::generate_keypair(None).unwrap();
    release_meta::write_signed_registry(&registry, &foreign, &other_secret, None).unwrap();
    let server = test_support::http::Server::serving_dir(work.path());

    let display = support::display();
    // Each start gets a session bus of its own: the single-instance hand-off goes over it, and
    // the first launcher may still be leaving when the second starts.
    let launch = |registry_path: &str| {
        let bus = support::session_bus();
        let registry_url = server.url(registry_path);
        let driver = support::tauri_driver(
            &[
                ("TOKENIZER_STUDIO_DATA_DIR", studio_data.as_path()),
                ("CORPUS_INSPECTOR_DATA_DIR", inspector_data.as_path()),
                ("TOKENIZER_STUDIO_REGISTRY_URL", Path::new(&registry_url)),
                ("TOKENIZER_STUDIO_UPDATE_CHECK", Path::new("0")),
                ("CORPUS_INSPECTOR_UPDATE_CHECK", Path::new("0")),
            ],
            &display,
            &bus,
        );
        let session = Session::start_with_args(
            &driver.url,
            Path::new(SHELL_EXE),
            &[shell::launcher::LAUNCHER_ARG],
        )
        .expect("WebDriver session");
        (driver, session, bus)
    };

    // Signed by another key: refused, said, and nothing offered.
    let (driver, session, bus) = launch("/foreign/apps-dev.json");
    let refused = (|| -> Result<(), String> {
        let problem = session.wait_for(
            "[data-testid=launcher-problem]:not([hidden])",
            None,
            TIMEOUT,
        )?;
        let problem = session.text(&problem)?;
        assert!(problem.contains("could not be read"), "{problem}");
        assert!(session
            .find_all("[data-testid=launcher-install-corpus-inspector]", None)?
            .is_empty());
        session.wait_for(
            "[data-testid=launcher-open-tokenizer-studio]",
            None,
            TIMEOUT,
        )?;
        Ok(())
    })();
    session.end().expect("end the session");
    drop(driver);
    drop(bus);
    if let Err(error) = refused {
        panic!("{error}");
    }
    assert!(!inspector_data.join("runtime").exists());
    assert!(
        !studio_data.join("runtime").join("registry").exists(),
        "a refused registry is never kept"
    );

    let (driver, session, _bus) = launch("/serve/apps-dev.json");
    let launcher_log = studio_data.join("logs").join("launcher.log");
    let result = (|| -> Result<(), String> {
        let facts = session.wait_for(
            "[data-testid=launcher-facts-corpus-inspector]",
            None,
            TIMEOUT,
        )?;
        let facts = session.text(&facts)?;
        assert!(facts.contains("Available to install"), "{facts}");
        session.screenshot(&support::artifacts_dir().join("launcher-available.png"))?;
        let install = session.wait_for(
            "[data-testid=launcher-install-corpus-inspector]",
            None,
            TIMEOUT,
        )?;
        session.click(&install)?;
        // Installed into its own data folder, verified: the row turns into an installed app.
        let open = session.wait_for(
            "[data-testid=launcher-open-corpus-inspector]",
            None,
            TIMEOUT,
        )?;
        let facts = session.text(&session.wait_for(
            "[data-testid=launcher-facts-corpus-inspector]",
            None,
            TIMEOUT,
        )?)?;
        assert!(
            facts.contains(&format!("Engine {}", manifest.runtime_version)),
            "{facts}"
        );
        assert!(facts.contains("Ready"), "{facts}");
        assert!(inspector_data
            .join("runtime")
            .join("current")
            .join("manifest.json")
            .is_file());
        session.click(&open)?;
        support::wait_for_ui(&inspector_data, TIMEOUT);
        Ok(())
    })();
    let (_, gone) = close_opened_apps(
        &launcher_log,
        &[("CORPUS_INSPECTOR_DATA_DIR", &inspector_data, "inspector")],
    );
    if let Err(error) = &result {
        support::print_log_tails(&studio_data, 40);
        support::print_log_tails(&inspector_data, 40);
        panic!("{error}");
    }
    let log = std::fs::read_to_string(&launcher_log).unwrap_or_default();
    assert!(log.contains("refused or unreachable"), "{log}");
    assert!(log.contains("installed corpus-inspector engine"), "{log}");
    // The accepted registry is kept for the next starts, which know its apps by it.
    assert!(
        studio_data
            .join("runtime")
            .join("registry")
            .join("apps.json")
            .is_file(),
        "the accepted registry was not kept"
    );
    assert!(
        gone,
        "the opened app's engine is still running after SIGTERM"
    );
    session.end().expect("end the session");
    drop(driver);
}
