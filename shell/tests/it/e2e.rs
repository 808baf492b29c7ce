//! WebDriver E2E: the real shell + runtime under Xvfb, driven through tauri-driver.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{self, SHELL_EXE};
use crate::webdriver::Session;

const UI_TIMEOUT: Duration = Duration::from_secs(120);
const TRAINING_TIMEOUT: Duration = Duration::from_secs(240);
const CORPUS_NAME: &str = "shell-e2e-corpus.txt";

/// Deterministic English-like text with a growing vocabulary, ~`bytes` long.
fn corpus(bytes: usize) -> String {
    let subjects = [
        "The tokenizer",
        "A small model",
        "Our team",
        "Every student",
        "The river",
    ];
    let verbs = ["reads", "splits", "counts", "learns", "writes", "measures"];
    let objects = [
        "long sentences",
        "rare words",
        "byte pairs",
        "unicode text",
        "train timetables",
    ];
    let syllables = [
        "ka", "lo", "mi", "ter", "vos", "qua", "zen", "dri", "pel", "sun",
    ];
    let mut state: u32 = 42;
    let mut pick = |n: usize| {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (state >> 8) as usize % n
    };
    let mut text = String::with_capacity(bytes + 100);
    while text.len() < bytes {
        let word: String = (0..2 + pick(3))
            .map(|_| syllables[pick(syllables.len())])
            .collect();
        text.push_str(&format!(
            "{} {} {} near {word}.\n",
            subjects[pick(subjects.len())],
            verbs[pick(verbs.len())],
            objects[pick(objects.len())]
        ));
    }
    text
}

#[test]
fn trains_a_tokenizer_through_the_ui_and_stops_the_engine_when_closed() {
    let Some(_serial) = support::slow_test() else {
        return;
    };
    let runtime = support::runtime_dir();
    let work = support::scratch("e2e-train");
    let data = work.path().join("data");
    let (config_home, downloads) = support::downloads_folder(work.path(), "My Downloads");
    let display = support::display();
    let bus = support::session_bus();
    let driver = support::tauri_driver(
        &[
            ("TOKENIZER_STUDIO_RUNTIME_DIR", runtime.as_path()),
            ("TOKENIZER_STUDIO_DATA_DIR", data.as_path()),
            // xdg-open without a desktop falls back to $BROWSER: keep "Open folder" quiet.
            ("BROWSER", Path::new("true")),
            ("XDG_CONFIG_HOME", config_home.as_path()),
        ],
        &display,
        &bus,
    );
    let shots = support::artifacts_dir();
    let started = Instant::now();
    let session = Session::start(&driver.url, Path::new(SHELL_EXE)).expect("WebDriver session");

    // The window starts on the splash and is sent to the engine's page with a launch code.
    let result = (|| -> Result<(), String> {
        session.wait_for("[data-testid=datasets-screen]", None, UI_TIMEOUT)?;
        eprintln!(
            "UI ready {:.1} s after the session started",
            started.elapsed().as_secs_f64()
        );
        let url = session.url()?;
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        assert!(
            !url.contains("launch="),
            "the launch code must leave the URL: {url}"
        );

        // Upload through the real file input (WebDriver sets its file list from a path).
        let corpus_path = work.path().join(CORPUS_NAME);
        std::fs::write(&corpus_path, corpus(200_000)).unwrap();
        let input = session.wait_for("[data-testid=file-input]", None, UI_TIMEOUT)?;
        session.send_keys(&input, corpus_path.to_str().unwrap())?;
        session.wait_for(
            "[data-testid=upload-item][data-state=done]",
            Some(CORPUS_NAME),
            Duration::from_secs(60),
        )?;
        eprintln!("step: uploaded");
        // Train gpt2-byte-bpe with vocabulary 1000. The training screen loads the dataset list
        // when it opens; under heavy load the list can predate the upload, so reopen it then.
        let mut listed = Err(String::new());
        for _ in 0..3 {
            session.click(&session.wait_for(
                "[data-testid=nav-new-training]",
                None,
                UI_TIMEOUT,
            )?)?;
            listed = session.wait_for(
                "[data-testid=dataset-option]",
                Some(CORPUS_NAME),
                Duration::from_secs(20),
            );
            if listed.is_ok() {
                break;
            }
            session.click(&session.wait_for("[data-testid=nav-datasets]", None, UI_TIMEOUT)?)?;
        }
        listed?;
        session.click(&session.wait_for(
            "[data-testid=template-gpt2-byte-bpe]",
            None,
            UI_TIMEOUT,
        )?)?;
        eprintln!("step: template chosen");
        let vocab = session.wait_for("[data-testid=knob-vocab_size]", None, UI_TIMEOUT)?;
        session.clear(&vocab)?;
        session.send_keys(&vocab, "1000")?;
        eprintln!("step: vocabulary set");
        session.wait_for(
            "[data-testid=dataset-option]",
            Some(CORPUS_NAME),
            UI_TIMEOUT,
        )?;
        // Tick it only if needed (the screen preselects a lone dataset), like Playwright's check().
        let checkbox = session.wait_for("[data-testid=dataset-option] input", None, UI_TIMEOUT)?;
        let ticked = session.execute(
            "return [...document.querySelectorAll('[data-testid=dataset-option]')]
               .find((el) => el.textContent.includes(arguments[0])).querySelector('input').checked;",
            vec![json!(CORPUS_NAME)],
        )?;
        if ticked != json!(true) {
            session.click(&checkbox)?;
        }
        // React re-renders the controlled checkbox after the event: poll, do not read at once.
        session.wait_for(
            "[data-testid=dataset-option] input:checked",
            None,
            UI_TIMEOUT,
        )?;
        let name = session.wait_for("[data-testid=job-name]", None, UI_TIMEOUT)?;
        session.send_keys(&name, "shell-e2e")?;
        session.click(&session.wait_for("[data-testid=start-training]", None, UI_TIMEOUT)?)?;
        session.wait_for("[data-testid=job-detail]", None, UI_TIMEOUT)?;
        eprintln!("step: training started");
        let status = session.wait_for(
            "[data-testid=job-status]:is([data-status=succeeded],[data-status=failed],[data-status=cancelled],[data-status=interrupted])",
            None,
            TRAINING_TIMEOUT,
        )?;
        assert_eq!(
            session.attribute(&status, "data-status")?.as_deref(),
            Some("succeeded")
        );
        session.wait_for("[data-testid=artifact-panel]", None, UI_TIMEOUT)?;
        session.wait_for("[data-testid=download-artifact]", None, UI_TIMEOUT)?;
        let artifacts = data.join("artifacts").join("tokenizers");
        let n_tokenizers = walk_count(&artifacts, "tokenizer.json");
        assert_eq!(
            n_tokenizers,
            1,
            "one tokenizer.json under {}",
            artifacts.display()
        );
        // Created in the shipped order (shell log, runtime store, supervisor, engine): every
        // folder of the user's data is 0700 and every file 0600.
        assert_private(&data);

        // The shell bridge: the page sees Tauri, may call only its one command.
        assert!(
            web_bundle_mentions(&runtime, "open-artifacts-folder"),
            "the runtime's web UI has no Open folder button: rebuild it with `cargo xtask runtime`"
        );
        session.wait_for("[data-testid=open-artifacts-folder]", None, UI_TIMEOUT)?;
        let invoke = |command: &str| {
            session.execute_async(
                "const [command, done] = arguments;
                 window.__TAURI_INTERNALS__.invoke(command)
                   .then(() => done('ok'), (error) => done('refused: ' + error));",
                vec![json!(command)],
            )
        };
        // "ok", or (on a machine without xdg-open) the opener's own error: either way the
        // call passed the capability and the origin check.
        let opened = invoke("open_artifacts_folder")?;
        assert!(
            opened == json!("ok")
                || opened
                    .as_str()
                    .is_some_and(|text| text.contains("could not start")),
            "the engine page may open the artifacts folder: {opened}"
        );
        let shell_log = std::fs::read_to_string(data.join("logs").join("shell.log"))
            .map_err(|error| format!("reading the shell log: {error}"))?;
        assert!(
            shell_log.contains("opening the artifacts folder")
                && !shell_log.contains("refused open_artifacts_folder"),
            "the call must pass the origin check:\n{shell_log}"
        );
        // Downloads land in the Downloads folder, byte for byte, and a banner says where.
        let shell_log = data.join("logs").join("shell.log");
        let trained = walk_find(&artifacts, "tokenizer.json").expect("the trained tokenizer");
        session.click(&session.wait_for("[data-testid=download-artifact]", None, UI_TIMEOUT)?)?;
        let downloaded = nth_finished_download(&shell_log, 1)?;
        assert_eq!(downloaded.parent(), Some(downloads.as_path()));
        assert!(
            downloaded.to_string_lossy().ends_with("tokenizer.json"),
            "{}",
            downloaded.display()
        );
        assert_eq!(
            std::fs::read(&downloaded).unwrap(),
            std::fs::read(&trained).unwrap(),
            "{} is the trained tokenizer",
            downloaded.display()
        );
        let banner = session.wait_for(
            "[data-testid=shell-download-notice]",
            Some("Saved"),
            UI_TIMEOUT,
        )?;
        let said = session.text(&banner)?;
        assert!(
            said.contains(downloaded.file_name().unwrap().to_str().unwrap()),
            "{said}"
        );
        session.screenshot(&shots.join("ui-download-saved.png"))?;
        session.click(&session.wait_for(
            "[data-testid=export-transformers]",
            None,
            UI_TIMEOUT,
        )?)?;
        let exported = nth_finished_download(&shell_log, 2)?;
        let zip = std::fs::read(&exported).unwrap();
        assert!(
            zip.starts_with(b"PK\x03\x04"),
            "a zip: {}",
            exported.display()
        );
        // The same file again keeps the first copy.
        session.click(&session.wait_for("[data-testid=download-artifact]", None, UI_TIMEOUT)?)?;
        let again = nth_finished_download(&shell_log, 3)?;
        assert_ne!(again, downloaded);
        assert!(downloaded.is_file() && again.is_file());
        session.click(&session.wait_for(
            "[data-testid=shell-download-notice-action]",
            None,
            UI_TIMEOUT,
        )?)?;
        support::wait_until(Duration::from_secs(10), "Show in folder", || {
            std::fs::read_to_string(&shell_log)
                .is_ok_and(|log| log.contains("opening the downloads folder"))
        });

        // The same for "About this computer"'s Open folder beside the data folder.
        let opened = invoke("open_data_folder")?;
        assert!(
            opened == json!("ok")
                || opened
                    .as_str()
                    .is_some_and(|text| text.contains("could not start")),
            "the engine page may open the data folder: {opened}"
        );
        let refused = invoke("retry")?;
        assert!(
            refused
                .as_str()
                .is_some_and(|text| text.starts_with("refused")),
            "the engine's page must not reach splash commands: {refused}"
        );
        session.screenshot(&shots.join("ui-trained-tokenizer.png"))?;
        Ok(())
    })();
    if let Err(error) = &result {
        let _ = session.screenshot(&shots.join("ui-trained-tokenizer-failure.png"));
        dump_logs(&data);
        panic!("{error}");
    }

    let engines = support::live_engines(&data);
    assert_eq!(engines.len(), 1, "exactly one engine runs: {engines:?}");
    session.end().expect("end the session");
    support::wait_until(
        Duration::from_secs(20),
        "the engine to stop with the window",
        || support::live_engines(&data).is_empty(),
    );
    dump_logs(&data);
}

#[test]
fn an_engine_that_exits_at_once_shows_its_log_tail() {
    let Some(_serial) = support::slow_test() else {
        return;
    };
    let work = support::scratch("e2e-crash");
    let message = "engine self-test failed: the model store is unreadable (E2E)";
    let runtime = support::broken_runtime(&support::runtime_dir(), work.path(), message);
    let data = work.path().join("data");
    let (config_home, downloads) = support::downloads_folder(work.path(), "Downloads here");
    let display = support::display();
    let bus = support::session_bus();
    let driver = support::tauri_driver(
        &[
            ("TOKENIZER_STUDIO_RUNTIME_DIR", runtime.as_path()),
            ("TOKENIZER_STUDIO_DATA_DIR", data.as_path()),
            ("XDG_CONFIG_HOME", config_home.as_path()),
        ],
        &display,
        &bus,
    );
    let shots = support::artifacts_dir();
    let session = Session::start(&driver.url, Path::new(SHELL_EXE)).expect("WebDriver session");
    let result = (|| -> Result<(), String> {
        session.wait_for(
            "body[data-phase=failed][data-kind=crashed]",
            None,
            UI_TIMEOUT,
        )?;
        // The log is behind "Show details": the screen leads with its sentence, and the tail
        // is in the page but not drawn until asked for (WebKit lays out a closed <details>'
        // content and hides it, so its size says nothing: ask whether it is visible).
        session.wait_for("[data-testid=splash-log-tail]", Some(message), UI_TIMEOUT)?;
        let drawn = |session: &Session| -> Result<Value, String> {
            session.execute(
                "const log = document.querySelector('[data-testid=splash-log]');
                 const tail = document.querySelector('[data-testid=splash-log-tail]');
                 return [log.open, tail.checkVisibility({ contentVisibilityAuto: true })];",
                vec![],
            )
        };
        assert_eq!(
            drawn(&session)?,
            json!([false, false]),
            "collapsed at first"
        );
        // The troubleshooting section for this screen, from the guide built into the shell.
        let help_title = session.text(&session.wait_for(
            "[data-testid=splash-help-title]",
            None,
            UI_TIMEOUT,
        )?)?;
        assert_eq!(help_title, "Engine won't start");
        session.screenshot(&shots.join("error-engine-exited-collapsed.png"))?;
        session.click(&session.wait_for(
            "[data-testid=splash-help-toggle]",
            None,
            UI_TIMEOUT,
        )?)?;
        session.wait_for(
            "[data-testid=splash-help-body]",
            Some("What to do:"),
            UI_TIMEOUT,
        )?;
        session.click(&session.wait_for("[data-testid=splash-log-toggle]", None, UI_TIMEOUT)?)?;
        assert_eq!(
            drawn(&session)?,
            json!([true, true]),
            "shown once asked for"
        );
        let tail = session.text(&session.wait_for(
            "[data-testid=splash-log-tail]",
            Some(message),
            UI_TIMEOUT,
        )?)?;
        assert!(
            tail.contains(message),
            "log tail shows the engine's words: {tail}"
        );
        let title =
            session.text(&session.wait_for("[data-testid=splash-title]", None, UI_TIMEOUT)?)?;
        assert_eq!(title, "The engine stopped");
        let page = session.text(&session.wait_for("main", None, UI_TIMEOUT)?)?;
        assert!(
            !page.contains("panicked") && !page.contains("RUST_BACKTRACE"),
            "{page}"
        );
        session.wait_for("[data-testid=action-retry]", None, UI_TIMEOUT)?;
        session.wait_for("[data-testid=action-open_logs_folder]", None, UI_TIMEOUT)?;
        assert!(
            session
                .find_all("[data-testid=action-use_previous_runtime]", None)?
                .is_empty(),
            "no previous runtime, no button"
        );
        session.screenshot(&shots.join("error-engine-exited.png"))?;

        // Export diagnostics: a zip in the Downloads folder, the sentence says where.
        session.click(&session.wait_for(
            "[data-testid=action-export_diagnostics]",
            None,
            UI_TIMEOUT,
        )?)?;
        let said = session.text(&session.wait_for(
            "[data-testid=splash-action-said]",
            Some("Saved"),
            UI_TIMEOUT,
        )?)?;
        let zips: Vec<PathBuf> = std::fs::read_dir(&downloads)
            .map_err(|error| format!("{}: {error}", downloads.display()))?
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "zip"))
            .collect();
        assert_eq!(zips.len(), 1, "{zips:?}");
        assert!(said.contains(&zips[0].display().to_string()), "{said}");
        let zip = std::fs::read(&zips[0]).unwrap();
        assert!(zip.starts_with(b"PK\x03\x04"));

        // Retry runs the whole launch again and lands on the same screen.
        session.click(&session.wait_for("[data-testid=action-retry]", None, UI_TIMEOUT)?)?;
        session.wait_for(
            "body[data-phase=failed][data-kind=crashed]",
            None,
            UI_TIMEOUT,
        )?;
        let log = std::fs::read_to_string(data.join("logs").join("shell.log")).unwrap();
        assert_eq!(log.matches("-> failed (crashed)").count(), 2, "{log}");
        Ok(())
    })();
    if let Err(error) = &result {
        let _ = session.screenshot(&shots.join("error-engine-exited-failure.png"));
        dump_logs(&data);
        panic!("{error}");
    }
    session.end().expect("end the session");
    drop(driver);

    // Each crash left a report with the engine's words in the logs folder.
    let logs = data.join("logs");
    let reports = crash_reports(&logs);
    assert_eq!(reports.len(), 2, "one report per crash: {reports:?}");
    for report in &reports {
        let text = std::fs::read_to_string(report).unwrap();
        assert!(text.contains(message), "{}: {text}", report.display());
    }

    // The next start with a working engine offers them once, over the UI, with a button that
    // opens the newest.
    let good = support::tauri_driver(
        &[
            (
                "TOKENIZER_STUDIO_RUNTIME_DIR",
                support::runtime_dir().as_path(),
            ),
            ("TOKENIZER_STUDIO_DATA_DIR", data.as_path()),
        ],
        &display,
        &bus,
    );
    let session = Session::start(&good.url, Path::new(SHELL_EXE)).expect("WebDriver session");
    let result = (|| -> Result<(), String> {
        session.wait_for("[data-testid=datasets-screen]", None, UI_TIMEOUT)?;
        let banner = session.wait_for(
            "[data-testid=shell-crash-notice]",
            Some("The engine stopped unexpectedly"),
            UI_TIMEOUT,
        )?;
        let text = session.text(&banner)?;
        assert!(text.contains("nothing was sent anywhere"), "{text}");
        session.screenshot(&shots.join("crash-report-offered.png"))?;
        session.click(&session.wait_for(
            "[data-testid=shell-crash-notice-action]",
            None,
            UI_TIMEOUT,
        )?)?;
        support::wait_until(Duration::from_secs(10), "the report opens", || {
            std::fs::read_to_string(logs.join("shell.log"))
                .is_ok_and(|log| log.contains("opening the crash report"))
        });
        let log = std::fs::read_to_string(logs.join("shell.log")).unwrap();
        let newest = reports.last().unwrap().display().to_string();
        assert!(
            log.contains(&format!("opening the crash report {newest}")),
            "the newest report: {log}"
        );
        Ok(())
    })();
    if let Err(error) = &result {
        let _ = session.screenshot(&shots.join("crash-report-offered-failure.png"));
        dump_logs(&data);
        panic!("{error}");
    }
    session.end().expect("end the session");
    drop(good);
    let offered = std::fs::read_to_string(logs.join("crash-reports-offered.txt")).unwrap();
    for report in &reports {
        let name = report.file_name().unwrap().to_str().unwrap();
        assert!(offered.lines().any(|line| line == name), "{offered}");
    }
}

/// The first file under `dir` (recursively) named `file_name`.
fn walk_find(dir: &Path, file_name: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir).ok()?.flatten().find_map(|entry| {
        let path = entry.path();
        if path.is_dir() {
            walk_find(&path, file_name)
        } else {
            (entry.file_name() == file_name).then_some(path)
        }
    })
}

/// Waits for the shell to log its `n`-th finished download (1-based) and returns its path.
fn nth_finished_download(shell_log: &Path, n: usize) -> Result<PathBuf, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = std::fs::read_to_string(shell_log).unwrap_or_default();
        let finished: Vec<&str> = log
            .lines()
            .filter_map(|line| line.split_once("download finished: ").map(|(_, path)| path))
            .collect();
        if let Some(path) = finished.get(n - 1) {
            return Ok(PathBuf::from(path));
        }
        if log.contains("download failed") {
            return Err(format!("a download failed:\n{log}"));
        }
        if Instant::now() > deadline {
            return Err(format!("no download #{n} finished within 60 s:\n{log}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The crash reports in a logs folder, oldest first.
fn crash_reports(logs: &Path) -> Vec<PathBuf> {
    let mut reports: Vec<PathBuf> = std::fs::read_dir(logs)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with("crash-") && name.ends_with("-engine.txt")
        })
        .collect();
    reports.sort();
    reports
}

/// A data folder on a drive with less free space than the app needs: "Not enough disk space"
/// with its troubleshooting section, details collapsed, before any engine starts. The drive is
/// a real 64 MiB tmpfs, so the shell's own free-space check decides.
#[test]
fn a_nearly_full_drive_is_said_before_anything_starts() {
    let Some(_serial) = support::slow_test() else {
        return;
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        test_support::skip("mounting a small tmpfs needs root (CI and .ci/run are root)");
        return;
    }
    let work = support::scratch("e2e-low-disk");
    let drive = work.path().join("small drive");
    std::fs::create_dir_all(&drive).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs"])
        .arg(&drive)
        .status()
        .expect("run mount (util-linux)");
    assert!(
        mounted.success(),
        "mount a 64 MiB tmpfs at {}",
        drive.display()
    );
    /// Unmounts when the test ends, passed or not.
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let _unmount = Unmount(drive.clone());
    let data = drive.join("data");
    let display = support::display();
    let bus = support::session_bus();
    let driver = support::tauri_driver(
        &[
            (
                "TOKENIZER_STUDIO_RUNTIME_DIR",
                support::runtime_dir().as_path(),
            ),
            ("TOKENIZER_STUDIO_DATA_DIR", data.as_path()),
        ],
        &display,
        &bus,
    );
    let shots = support::artifacts_dir();
    let session = Session::start(&driver.url, Path::new(SHELL_EXE)).expect("WebDriver session");
    let result = (|| -> Result<(), String> {
        session.wait_for(
            "body[data-phase=failed][data-kind=low_disk]",
            None,
            UI_TIMEOUT,
        )?;
        let title =
            session.text(&session.wait_for("[data-testid=splash-title]", None, UI_TIMEOUT)?)?;
        assert_eq!(title, "Not enough disk space");
        let help = session.text(&session.wait_for(
            "[data-testid=splash-help-title]",
            None,
            UI_TIMEOUT,
        )?)?;
        assert_eq!(help, "Not enough space");
        let open = session.execute(
            "return [...document.querySelectorAll('details')].filter((d) => d.open).length;",
            vec![],
        )?;
        assert_eq!(open, json!(0), "everything collapsed");
        session.wait_for("[data-testid=action-retry]", None, UI_TIMEOUT)?;
        session.screenshot(&shots.join("error-not-enough-space.png"))?;
        Ok(())
    })();
    if let Err(error) = &result {
        let _ = session.screenshot(&shots.join("error-not-enough-space-failure.png"));
        dump_logs(&data);
        panic!("{error}");
    }
    assert!(
        support::live_engines(&data).is_empty(),
        "no engine starts on a full drive"
    );
    session.end().expect("end the session");
}

#[test]
fn no_runtime_explains_where_it_looked() {
    let Some(_serial) = support::slow_test() else {
        return;
    };
    let work = support::scratch("e2e-none");
    let data = work.path().join("data");
    let missing = work.path().join("no-such-runtime");
    let window = support::window(&[
        ("TOKENIZER_STUDIO_RUNTIME_DIR", missing.as_path()),
        ("TOKENIZER_STUDIO_DATA_DIR", data.as_path()),
    ]);
    let session = &window.session;
    let result = (|| -> Result<(), String> {
        session.wait_for(
            "body[data-phase=failed][data-kind=no_runtime]",
            None,
            UI_TIMEOUT,
        )?;
        let details =
            session.text(&session.wait_for("[data-testid=splash-details]", None, UI_TIMEOUT)?)?;
        assert!(details.contains(missing.to_str().unwrap()), "{details}");
        let install = session.wait_for("[data-testid=action-install_runtime]", None, UI_TIMEOUT)?;
        assert!(
            session.attribute(&install, "disabled")?.is_some(),
            "no download source (no index URL in this build or environment): disabled"
        );
        session.screenshot(&support::artifacts_dir().join("error-no-runtime.png"))?;
        Ok(())
    })();
    if let Err(error) = &result {
        dump_logs(&data);
        panic!("{error}");
    }
    window.session.end().expect("end the session");
}

/// An engine stuck before it announces itself: after the supervisor's 60 s the screen says the
/// engine did not answer, with Retry, its section of the guide and the log behind "Show
/// details", collapsed.
#[test]
fn an_engine_that_never_answers_says_so_after_the_time_limit() {
    let Some(_serial) = support::slow_test() else {
        return;
    };
    let work = support::scratch("e2e-hung");
    let message = "loading the model store (E2E: this engine never answers)";
    let runtime = support::hung_runtime(&support::runtime_dir(), work.path(), message);
    let data = work.path().join("data");
    let window = support::window(&[
        ("TOKENIZER_STUDIO_RUNTIME_DIR", runtime.as_path()),
        ("TOKENIZER_STUDIO_DATA_DIR", data.as_path()),
    ]);
    let session = &window.session;
    let result = (|| -> Result<(), String> {
        session.wait_for(
            "body[data-phase=failed][data-kind=timed_out]",
            None,
            Duration::from_secs(120),
        )?;
        let help_title = session.text(&session.wait_for(
            "[data-testid=splash-help-title]",
            None,
            UI_TIMEOUT,
        )?)?;
        assert_eq!(help_title, "Engine did not answer");
        session.wait_for("[data-testid=action-retry]", None, UI_TIMEOUT)?;
        let collapsed: Value = session.execute(
            "return [document.querySelector('[data-testid=splash-log]').open,
                     document.querySelector('[data-testid=splash-help]').open];",
            vec![],
        )?;
        assert_eq!(
            collapsed,
            json!([false, false]),
            "details and help start collapsed"
        );
        session.wait_for("[data-testid=splash-log-tail]", Some(message), UI_TIMEOUT)?;
        session.screenshot(&support::artifacts_dir().join("error-engine-did-not-answer.png"))?;
        Ok(())
    })();
    if let Err(error) = &result {
        dump_logs(&data);
        panic!("{error}");
    }
    window.session.end().expect("end the session");
    assert!(
        support::live_engines(&data).is_empty(),
        "the stuck engine was left running"
    );
}

/// A runtime for another platform (a data folder copied from another computer): the
/// incompatible-computer screen, which names both platforms and starts nothing.
#[test]
fn a_runtime_for_another_computer_is_named_and_not_started() {
    let Some(_serial) = support::slow_test() else {
        return;
    };
    let work = support::scratch("e2e-foreign");
    let runtime = support::foreign_runtime(&support::runtime_dir(), work.path(), "macos-arm64");
    let data = work.path().join("data");
    let window = support::window(&[
        ("TOKENIZER_STUDIO_RUNTIME_DIR", runtime.as_path()),
        ("TOKENIZER_STUDIO_DATA_DIR", data.as_path()),
    ]);
    let session = &window.session;
    let result = (|| -> Result<(), String> {
        session.wait_for(
            "body[data-phase=failed][data-kind=wrong_platform]",
            None,
            UI_TIMEOUT,
        )?;
        let help_title = session.text(&session.wait_for(
            "[data-testid=splash-help-title]",
            None,
            UI_TIMEOUT,
        )?)?;
        assert_eq!(help_title, "Incompatible computer");
        let page = session.text(&session.wait_for("main", None, UI_TIMEOUT)?)?;
        assert!(
            page.contains("macos-arm64") || page.contains("Mac"),
            "{page}"
        );
        session.screenshot(&support::artifacts_dir().join("error-incompatible-computer.png"))?;
        Ok(())
    })();
    if let Err(error) = &result {
        dump_logs(&data);
        panic!("{error}");
    }
    window.session.end().expect("end the session");
    assert!(
        !data.join("logs").join("engine.log").exists(),
        "an engine was started for another computer"
    );
}

/// Every folder under `data` is 0700 and every file 0600, except inside runtimes (program
/// files keep their modes; the private `runtime/` folder around them is what hides them).
fn assert_private(data: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut open = Vec::new();
    let mut stack = vec![data.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        if mode != 0o700 {
            open.push(format!("{} {mode:o}", dir.display()));
        }
        if dir == data.join("runtime") {
            continue;
        }
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.permissions().mode() & 0o777 != 0o600 {
                open.push(format!(
                    "{} {:o}",
                    entry.path().display(),
                    meta.permissions().mode() & 0o777
                ));
            }
        }
    }
    assert!(open.is_empty(), "readable by others: {open:#?}");
}

fn walk_count(dir: &Path, file_name: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                walk_count(&path, file_name)
            } else {
                usize::from(entry.file_name() == file_name)
            }
        })
        .sum()
}

fn web_bundle_mentions(runtime: &Path, needle: &str) -> bool {
    std::fs::read_dir(runtime.join("web").join("assets"))
        .map(|entries| {
            entries.flatten().any(|entry| {
                std::fs::read_to_string(entry.path()).is_ok_and(|text| text.contains(needle))
            })
        })
        .unwrap_or(false)
}

fn dump_logs(data: &Path) {
    for name in ["shell.log", "engine.log"] {
        let path = data.join("logs").join(name);
        if let Ok(text) = std::fs::read_to_string(&path) {
            let tail: Vec<_> = text.lines().rev().take(40).collect();
            eprintln!("--- {} (last lines) ---", path.display());
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}
