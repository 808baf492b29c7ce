//! The installed app's self-test: `<app> --self-test <report.json> [--self-test-timeout <s>]`.
//!
//! It exists because macOS has no WebDriver for WKWebView, yet every OS must prove that the
//! *installed* app works: the normal start (disk check, bundled-runtime install or first-run
//! download, discovery, supervisor, health, launch code) runs unchanged, then, when the
//! engine's page has loaded in the real window, the shell injects `self_test.js` with the app's
//! steps (its descriptor's `self_test` script) in it. They do what a user's first use does over
//! the engine's API from inside the page, on the session the UI opened, and the harness hands
//! the result back over the IPC bridge (`self_test_report`). The shell then
//! exits through its normal path (engine stopped gracefully, a ready shell update installed)
//! and writes a JSON report: timings, versions, where it looked for a runtime, what it found,
//! the engine's stop, and the failing step when one failed. Exit code 0 when it passed, 1 when
//! a step failed, 2 for a bad command line.
//!
//! Only an explicit command-line argument turns it on. Web content cannot: the IPC command
//! refuses unless the process was started in this mode, and then only from the engine's
//! origin. The mode skips the single-instance hand-off, so a test never silently becomes a
//! focus request to an app that is already open.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};
use tauri::{AppHandle, Manager};

use crate::state::{Failure, Phase};

/// Presses the splash's Install button once it is rendered (the view arrives by event).
const INSTALL_CLICK: &str = r#"(function press(tries) {
  const button = document.querySelector('[data-testid="action-install_runtime"]');
  if (button && !button.disabled) { button.click(); return; }
  if (tries > 0) setTimeout(() => press(tries - 1), 100);
})(300);"#;

/// The argument that turns the self-test on; its value is where the report goes.
pub const ARG: &str = "--self-test";
/// Optional: seconds before the self-test gives up (default [`DEFAULT_TIMEOUT`]).
pub const TIMEOUT_ARG: &str = "--self-test-timeout";
/// A thin first run downloads its runtime before anything else; a slow CI runner needs room.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// The IPC command the injected script reports through.
pub const COMMAND: &str = "self_test_report";
/// Exit codes: passed, a step failed, the command line was wrong.
pub const EXIT_PASSED: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub report: PathBuf,
    pub timeout: Duration,
}

/// Reads the self-test arguments; `Ok(None)` when there are none (a normal start). Arguments
/// it does not know are left alone: the OS may pass its own (macOS `-psn_…`).
pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Option<Request>, String> {
    let mut report = None;
    let mut timeout = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == ARG {
            let value = args
                .next()
                .ok_or_else(|| format!("{ARG} needs the path of the report to write"))?;
            report = Some(PathBuf::from(value));
        } else if arg == TIMEOUT_ARG {
            let value = args
                .next()
                .and_then(|value| value.to_str().map(str::to_owned))
                .ok_or_else(|| format!("{TIMEOUT_ARG} needs a number of seconds"))?;
            let seconds: u64 = value
                .parse()
                .ok()
                .filter(|seconds| *seconds > 0)
                .ok_or_else(|| format!("{TIMEOUT_ARG} {value}: not a whole number of seconds"))?;
            timeout = Some(Duration::from_secs(seconds));
        }
    }
    match (report, timeout) {
        (Some(report), timeout) => Ok(Some(Request {
            report,
            timeout: timeout.unwrap_or(DEFAULT_TIMEOUT),
        })),
        (None, Some(_)) => Err(format!("{TIMEOUT_ARG} goes with {ARG} <report.json>")),
        (None, None) => Ok(None),
    }
}

/// How it ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Passed,
    Failed { step: String, message: String },
}

/// One step reached, with the time since the shell started.
#[derive(Debug, Clone)]
struct Step {
    name: String,
    ms: u128,
    detail: Value,
}

#[derive(Debug, Default)]
struct State {
    steps: Vec<Step>,
    /// The step in progress: named by a failure that has no step of its own (a time-out).
    current: String,
    outcome: Option<Outcome>,
    /// The page's own report (its steps, timings and what it found).
    page: Option<Value>,
    injected: bool,
    install_clicked: bool,
}

/// The running self-test, `manage()`d by Tauri only in this mode.
#[derive(Debug)]
pub struct SelfTest {
    request: Request,
    started: Instant,
    started_at: SystemTime,
    state: Mutex<State>,
}

impl SelfTest {
    pub fn new(request: Request) -> SelfTest {
        SelfTest {
            request,
            started: Instant::now(),
            started_at: SystemTime::now(),
            state: Mutex::new(State {
                current: "start".to_owned(),
                ..State::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Records that `name` was reached; it becomes the step in progress.
    pub fn step(&self, name: &str, detail: Value) {
        let mut state = self.lock();
        let ms = self.started.elapsed().as_millis();
        state.current = name.to_owned();
        state.steps.push(Step {
            name: name.to_owned(),
            ms,
            detail,
        });
    }

    fn last_step(&self) -> Option<String> {
        self.lock().steps.last().map(|step| step.name.clone())
    }

    /// Records the outcome; the first one wins (a time-out after a pass changes nothing).
    /// Returns whether this call decided it.
    pub fn finish(&self, outcome: Outcome) -> bool {
        let mut state = self.lock();
        if state.outcome.is_some() {
            return false;
        }
        state.outcome = Some(outcome);
        true
    }

    /// A failure in the step in progress.
    pub fn fail_current(&self, message: &str) -> bool {
        let step = self.lock().current.clone();
        self.finish(Outcome::Failed {
            step,
            message: message.to_owned(),
        })
    }

    /// The page's report: passed when it says so and carries no failing step.
    pub fn page_report(&self, report: Value) -> bool {
        let outcome = if report["ok"] == Value::Bool(true) {
            Outcome::Passed
        } else {
            Outcome::Failed {
                step: report["step"].as_str().unwrap_or("page").to_owned(),
                message: report["message"]
                    .as_str()
                    .unwrap_or("the page reported a failure without a message")
                    .to_owned(),
            }
        };
        self.lock().page = Some(report);
        self.finish(outcome)
    }

    /// True the first time only: Install is pressed once.
    pub fn take_install_click(&self) -> bool {
        let mut state = self.lock();
        !std::mem::replace(&mut state.install_clicked, true)
    }

    /// True the first time only: the script runs once, on the first engine page.
    pub fn take_injection(&self) -> bool {
        let mut state = self.lock();
        !std::mem::replace(&mut state.injected, true)
    }

    pub fn outcome(&self) -> Option<Outcome> {
        self.lock().outcome.clone()
    }

    pub fn exit_code(&self) -> i32 {
        match self.outcome() {
            Some(Outcome::Passed) => EXIT_PASSED,
            _ => EXIT_FAILED,
        }
    }

    pub fn timeout(&self) -> Duration {
        self.request.timeout
    }

    /// The report, as written to disk. `after_exit` holds what the exit path found (the
    /// engine's stop), added once the window is gone.
    pub fn report(&self, context: &Value, after_exit: &Value) -> Value {
        let state = self.lock();
        let outcome = state.outcome.clone().unwrap_or(Outcome::Failed {
            step: state.current.clone(),
            message: "the app exited before the self-test finished (was the window closed?)"
                .to_owned(),
        });
        let (passed, failed_step, message) = match &outcome {
            Outcome::Passed => (true, Value::Null, Value::Null),
            Outcome::Failed { step, message } => (false, json!(step), json!(message)),
        };
        let started = self
            .started_at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|since| since.as_secs())
            .unwrap_or_default();
        json!({
            "schema": 1,
            "passed": passed,
            "failed_step": failed_step,
            "message": message,
            "started_unix": started,
            "total_ms": self.started.elapsed().as_millis() as u64,
            "shell": context,
            "steps": state.steps.iter().map(|step| json!({
                "name": step.name,
                "ms": step.ms as u64,
                "detail": step.detail,
            })).collect::<Vec<_>>(),
            "page": state.page.clone().unwrap_or(Value::Null),
            "exit": after_exit,
        })
    }

    /// Writes the report (a temporary file renamed over the target, so a reader never sees
    /// half of one).
    pub fn write_report(&self, report: &Value) -> std::io::Result<PathBuf> {
        let path = &self.request.report;
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)?;
        }
        let temporary = temporary_name(path);
        let mut text = serde_json::to_string_pretty(report).unwrap_or_default();
        text.push('\n');
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, path)?;
        Ok(path.clone())
    }
}

fn temporary_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    path.with_file_name(name)
}

/// The script the shell injects into the engine's page.
pub fn script() -> String {
    script_for(crate::selected())
}

/// The harness with `app`'s steps in it.
fn script_for(app: &crate::KnownApp) -> String {
    include_str!("self_test.js")
        .replace("__COMMAND__", COMMAND)
        .replace("__APP_STEPS__", app.self_test.trim_end())
}

/// Gives up after the time limit: the failing step is the one in progress.
pub fn start_timer(app: &AppHandle, test: Arc<SelfTest>) {
    let app = app.clone();
    crate::app::spawn_named("self-test-timer", move || {
        std::thread::sleep(test.timeout());
        let message = format!(
            "no result within {} s (the --self-test-timeout)",
            test.timeout().as_secs()
        );
        if test.fail_current(&message) {
            app.exit(EXIT_FAILED);
        }
    });
}

/// Follows the shell's phases: each new kind of phase is a step (with the runtime found when
/// the engine starts), and a failure screen ends the self-test with that failure.
pub fn observe_phase(app: &AppHandle, phase: &Phase) {
    let Some(test) = app.try_state::<Arc<SelfTest>>() else {
        return;
    };
    let (name, detail) = match phase {
        Phase::Discovering => ("discovering", Value::Null),
        Phase::Installing(_) => ("installing runtime", Value::Null),
        Phase::Starting {
            runtime_dir,
            runtime_version,
            ..
        } => (
            "starting engine",
            json!({ "runtime_dir": runtime_dir, "runtime_version": runtime_version.to_string() }),
        ),
        Phase::Ready { url } => (
            "engine ready",
            json!({ "origin": crate::app::origin_of_text(url) }),
        ),
        // A thin first run: the screen offers "Install", and the self-test presses it in the
        // splash as a user would (once: a second no-runtime screen is a failure).
        Phase::Failed(Failure::NoRuntime { .. })
            if app.state::<Arc<crate::app::Shell>>().can_install() && test.take_install_click() =>
        {
            test.step("install button", json!({ "screen": "no_runtime" }));
            if let Some(window) = app.get_webview_window(crate::app::MAIN_WINDOW) {
                if let Err(error) = window.eval(INSTALL_CLICK) {
                    test.fail_current(&format!("could not press Install: {error}"));
                    app.exit(EXIT_FAILED);
                }
            }
            return;
        }
        Phase::Failed(failure) => {
            let failure = serde_json::to_value(failure).unwrap_or(Value::Null);
            test.step("failure screen", failure.clone());
            let message = format!(
                "the shell showed the {} screen: {}",
                failure["kind"].as_str().unwrap_or("error"),
                failure
            );
            if test.fail_current(&message) {
                app.exit(EXIT_FAILED);
            }
            return;
        }
    };
    if test.last_step().as_deref() != Some(name) {
        test.step(name, detail);
    }
}

/// Ends the run once an outcome is known: the normal exit path follows.
pub fn exit_when_decided(app: &AppHandle) {
    if let Some(test) = app.try_state::<Arc<SelfTest>>() {
        if test.outcome().is_some() {
            app.exit(test.exit_code());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn no_argument_is_a_normal_start_and_foreign_arguments_are_ignored() {
        assert_eq!(parse_args(args(&[])), Ok(None));
        assert_eq!(parse_args(args(&["-psn_0_12345"])), Ok(None));
        assert_eq!(
            parse_args(args(&["--self-test", "/tmp/r.json", "-psn_0_1"])),
            Ok(Some(Request {
                report: "/tmp/r.json".into(),
                timeout: DEFAULT_TIMEOUT
            }))
        );
        assert_eq!(
            parse_args(args(&[
                "--self-test-timeout",
                "30",
                "--self-test",
                "r.json"
            ]))
            .unwrap()
            .unwrap()
            .timeout,
            Duration::from_secs(30)
        );
    }

    #[test]
    fn a_wrong_command_line_is_named() {
        for (list, expected) in [
            (&["--self-test"][..], "needs the path"),
            (&["--self-test", "r", "--self-test-timeout"][..], "seconds"),
            (
                &["--self-test", "r", "--self-test-timeout", "0"][..],
                "not a whole",
            ),
            (
                &["--self-test", "r", "--self-test-timeout", "x"][..],
                "not a whole",
            ),
            (&["--self-test-timeout", "5"][..], "goes with"),
        ] {
            let error = parse_args(args(list)).unwrap_err();
            assert!(error.contains(expected), "{list:?}: {error}");
        }
    }

    fn test() -> SelfTest {
        SelfTest::new(Request {
            report: "unused".into(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    #[test]
    fn the_first_outcome_wins_and_decides_the_exit_code() {
        let run = test();
        assert_eq!(run.exit_code(), EXIT_FAILED, "no outcome yet is no pass");
        run.step("engine ready", json!({}));
        assert!(run.page_report(json!({"ok": true, "steps": []})));
        assert!(!run.fail_current("late time-out"));
        assert_eq!(run.exit_code(), EXIT_PASSED);
        let report = run.report(&json!({}), &json!({}));
        assert_eq!(report["passed"], true);
        assert_eq!(report["failed_step"], Value::Null);
        assert_eq!(report["steps"][0]["name"], "engine ready");
    }

    #[test]
    fn a_failure_names_its_step() {
        let run = test();
        run.step("installing runtime", json!({}));
        assert!(run.fail_current("no result within 5 s"));
        let report = run.report(&json!({}), &json!({}));
        assert_eq!(report["passed"], false);
        assert_eq!(report["failed_step"], "installing runtime");
        assert_eq!(run.exit_code(), EXIT_FAILED);

        let run = test();
        run.page_report(json!({"ok": false, "step": "train", "message": "job ended failed"}));
        let report = run.report(&json!({}), &json!({}));
        assert_eq!(report["failed_step"], "train");
        assert_eq!(report["message"], "job ended failed");
        assert_eq!(report["page"]["step"], "train");

        // A page that says neither ok nor why still fails.
        let run = test();
        run.page_report(json!({}));
        assert_eq!(run.exit_code(), EXIT_FAILED);
    }

    #[test]
    fn an_exit_without_an_outcome_is_a_failure_of_the_step_in_progress() {
        let run = test();
        run.step("ui loaded", json!({}));
        let report = run.report(&json!({}), &json!({"engine_stop": "Graceful"}));
        assert_eq!(report["passed"], false);
        assert_eq!(report["failed_step"], "ui loaded");
        assert!(report["message"]
            .as_str()
            .unwrap()
            .contains("window closed"));
        assert_eq!(report["exit"]["engine_stop"], "Graceful");
    }

    #[test]
    fn the_report_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let run = SelfTest::new(Request {
            report: dir.path().join("sub").join("report.json"),
            timeout: DEFAULT_TIMEOUT,
        });
        let written = run.write_report(&json!({"passed": true})).unwrap();
        let read: Value = serde_json::from_slice(&std::fs::read(&written).unwrap()).unwrap();
        assert_eq!(read["passed"], true);
        assert!(!dir.path().join("sub").join("report.json.part").exists());
    }

    #[test]
    fn the_script_reports_through_the_command() {
        let script = script();
        assert!(script.contains(&format!("'{COMMAND}'")));
        assert!(!script.contains("__COMMAND__"));
        assert!(!script.contains("__APP_STEPS__"));
        // Each placeholder stands once, as code: one in a `//` comment would put the app's
        // multi-line steps into the comment's line, and the script would not parse.
        let template = include_str!("self_test.js");
        for placeholder in ["'__COMMAND__'", "= __APP_STEPS__;"] {
            let bare = placeholder.trim_matches(|c| c == '\'' || c == '=' || c == ';' || c == ' ');
            assert_eq!(template.matches(bare).count(), 1, "{bare}");
            assert!(template.contains(placeholder), "{placeholder}");
        }
        assert!(
            script.contains("const appSteps = // "),
            "the app's steps are in place"
        );
    }

    /// Every carried app's steps, put into the harness, make a script that parses (node's
    /// syntax check; the webview would run nothing of a script that does not).
    #[test]
    fn every_apps_script_parses() {
        let node_found = std::process::Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|output| output.status.success());
        if !node_found {
            test_support::skip("Node.js is not installed");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        for app in crate::carried() {
            let script = script_for(app);
            let file = dir.path().join(format!("{}.js", app.names.id));
            std::fs::write(&file, script).unwrap();
            let output = std::process::Command::new("node")
                .arg("--check")
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{}: {}",
                app.names.id,
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}
