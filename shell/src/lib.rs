//! The desktop shell of an app: finds its runtime, starts its engine, shows its UI.
//!
//! Flow (`docs/runtime-contract.md` has the contract it follows): the window opens on a bundled
//! splash page; a background thread checks free space, discovers a runtime ([`discovery`]),
//! starts it with the supervisor, mints a launch code with the token and navigates the window
//! to the engine ([`handoff`]). Every step is a transition of the pure state machine in
//! [`state`]; the splash renders [`view`]s of it, including the error screens. Closing the
//! window, SIGTERM and SIGINT stop the engine gracefully; SIGKILL of the shell kills it through
//! the supervisor's `PR_SET_PDEATHSIG`.

pub mod app;
pub mod built_in;
pub mod bundled;
mod commands;
pub mod compute_choice;
pub mod crash;
pub mod diagnostics;
pub mod discovery;
pub mod downloads;
pub mod fetched;
pub mod handoff;
pub mod help;
pub mod launcher;
pub mod navigation;
mod opener;
pub mod runtime_update;
pub mod self_test;
pub mod shell_log;
pub mod shell_update;
pub mod state;
pub mod view;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use runtime_spec::discovery::{data_root, Os};
use runtime_spec::{AppNames, Target};
use tauri::{Manager, RunEvent};

use crate::app::{Shell, MAIN_WINDOW};
use crate::discovery::DiscoveryInputs;

/// The runtime platform this shell runs; a shell for anything else is not built.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub(crate) const HOST_TARGET: Target = Target::LinuxX64;
#[cfg(all(target_os = "macos", target_arch = "aarch64"))]
pub(crate) const HOST_TARGET: Target = Target::MacosArm64;
#[cfg(all(target_os = "windows", target_arch = "x86_64"))]
pub(crate) const HOST_TARGET: Target = Target::WindowsX64;

/// An app's descriptor and self-test steps as build.rs embedded them.
pub struct CarriedApp {
    pub descriptor: &'static str,
    pub self_test: &'static str,
    /// [`runtime_spec::layout::app_release_folder`] of the app.
    pub release_folder: &'static str,
}

/// Every app of the workspace, the primary one (the app this shell is installed as) first.
const CARRIED: &[CarriedApp] = include!(concat!(env!("OUT_DIR"), "/carried_apps.rs"));

/// An app this shell can open: one it carries (its names and self-test steps compiled in) or
/// one it fetched through the signed app registry ([`fetched`]).
#[derive(Debug, Clone)]
pub struct KnownApp {
    pub names: AppNames,
    /// The app's self-test steps; empty for a fetched app.
    pub self_test: &'static str,
    /// Where its release is under the release URL: `""` (the workspace's default app) or
    /// `<id>/`.
    pub release_folder: &'static str,
    /// A fetched app's runtime index, absolute, as the registry names it; `None` for a carried
    /// app, whose index is in its folder under the release URL built in.
    pub index_url: Option<String>,
}

impl KnownApp {
    /// The app's release URL: the release URL built in, and under it the app's folder; `""`
    /// when this build has no release URL.
    pub fn release_url(&self) -> String {
        app_release_url(crate::built_in::release_base_url(), self.release_folder)
    }

    /// The app's runtime index for `channel`: a fetched app's from the registry, a carried
    /// app's in its folder under the release URL (`""` without one).
    pub fn index_url_for(&self, channel: runtime_spec::Channel) -> String {
        match &self.index_url {
            Some(url) => url.clone(),
            None => updater::index_url_for(&self.release_url(), channel),
        }
    }
}

fn app_release_url(base: &str, folder: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    if base.is_empty() || folder.is_empty() {
        return base.to_owned();
    }
    format!("{base}/{}", folder.trim_end_matches('/'))
}

/// The apps the shell carries, primary first; build.rs checked every descriptor.
pub fn carried() -> &'static [KnownApp] {
    static APPS: OnceLock<Vec<KnownApp>> = OnceLock::new();
    APPS.get_or_init(|| {
        CARRIED
            .iter()
            .map(|carried| KnownApp {
                names: runtime_spec::AppDescriptor::parse(carried.descriptor, "app.toml")
                    .expect("build.rs checked the descriptor")
                    .names(),
                self_test: carried.self_test,
                release_folder: carried.release_folder,
                index_url: None,
            })
            .collect()
    })
}

/// Every app this shell can open: the carried ones (primary first), then the ones the kept
/// app registry adds ([`fetched::cached_apps`]), read once per process.
pub fn known() -> &'static [KnownApp] {
    static APPS: OnceLock<Vec<KnownApp>> = OnceLock::new();
    APPS.get_or_init(|| {
        let mut apps = carried().to_vec();
        apps.extend(fetched::cached_apps(carried()));
        apps
    })
}

static SELECTED: OnceLock<usize> = OnceLock::new();

/// Makes the known app `id` the one this process runs (once, before anything uses [`app`]);
/// `Err` names the apps there are.
pub fn select_app(id: &str) -> Result<(), String> {
    let index = known()
        .iter()
        .position(|app| app.names.id == id)
        .ok_or_else(|| {
            let ids: Vec<&str> = known().iter().map(|app| app.names.id.as_str()).collect();
            format!("there is no app `{id}` in this shell: {}", ids.join(", "))
        })?;
    SELECTED
        .set(index)
        .map_err(|_| "the app was already chosen".to_owned())
}

/// The app this process runs: the one chosen with `--app` or by the launcher, else the primary
/// one. Its names, data folder and variables are this process's.
pub fn selected() -> &'static KnownApp {
    &known()[SELECTED.get().copied().unwrap_or(0)]
}

/// The names of the app this process runs ([`selected`]).
pub fn app() -> &'static AppNames {
    &selected().names
}

/// `--app <id>`: the app to open, skipping the launcher.
pub const APP_ARG: &str = "--app";

fn app_arg(args: &[std::ffi::OsString]) -> Result<Option<String>, String> {
    let Some(at) = args.iter().position(|arg| arg == APP_ARG) else {
        return Ok(None);
    };
    args.get(at + 1)
        .and_then(|value| value.to_str())
        .filter(|value| !value.starts_with("--"))
        .map(|value| Some(value.to_owned()))
        .ok_or_else(|| format!("{APP_ARG} needs the id of an app"))
}

/// Id of the banner offering an earlier session's crash report (its test id too).
pub const CRASH_NOTICE_ID: &str = "shell-crash-notice";

/// Builds and runs the app; returns when it exits.
pub fn run() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let self_test = match self_test::parse_args(args.iter().cloned()) {
        Ok(request) => request.map(|request| Arc::new(self_test::SelfTest::new(request))),
        Err(message) => {
            eprintln!("error: {message}");
            std::process::exit(self_test::EXIT_USAGE);
        }
    };
    match app_arg(&args) {
        Ok(Some(id)) => {
            if let Err(message) = select_app(&id) {
                eprintln!("error: {message}");
                std::process::exit(self_test::EXIT_USAGE);
            }
            if self_test.is_some() && selected().self_test.trim().is_empty() {
                eprintln!(
                    "error: this shell holds no self-test steps for {id}, an app it fetched; run the self-test of the shell that app's installer installs"
                );
                std::process::exit(self_test::EXIT_USAGE);
            }
        }
        // More than one app installed: the launcher lists them and opens the chosen one in its
        // own process. The self-test runs the primary app.
        Ok(None) if self_test.is_none() => {
            let installed = launcher::installed_apps();
            if installed.len() > 1 || args.iter().any(|arg| arg == launcher::LAUNCHER_ARG) {
                launcher::run(installed);
                return;
            }
        }
        Ok(None) => {}
        Err(message) => {
            eprintln!("error: {message}");
            std::process::exit(self_test::EXIT_USAGE);
        }
    }
    let data_root = resolve_data_root();
    // First: a panic anywhere after this leaves a report in the logs folder.
    crash::install_panic_hook(data_root.join("logs"));
    let shell = Arc::new(Shell::new(data_root.clone(), discovery_inputs(data_root)));
    shell.log.line(&format!(
        "shell {} starting; data root {}",
        env!("CARGO_PKG_VERSION"),
        shell.data_root.display()
    ));
    if let Some(test) = &self_test {
        shell.log.line(&format!("self-test mode: {test:?}"));
        test.step("start", self_test_context(&shell));
    }
    let mut builder = tauri::Builder::default();
    if self_test.is_none() {
        // First, so a second launch hands over before this one builds anything.
        builder = builder.plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
                let _ = window.unminimize();
                let _ = window.show();
                let _ = window.set_focus();
            }
        }));
    }
    let app = builder
        // The shell's own updates: Rust API only (no updater permission is granted to any
        // page), keyed with the update key built in.
        .plugin(shell_update::plugin())
        .manage(Arc::clone(&shell))
        .manage(shell_update::ShellUpdates::default())
        .invoke_handler(tauri::generate_handler![
            commands::shell_state,
            commands::retry,
            commands::use_previous_runtime,
            commands::install_runtime,
            commands::open_logs_folder,
            commands::open_artifacts_folder,
            commands::open_crash_report,
            commands::open_data_folder,
            commands::open_downloads_folder,
            commands::export_diagnostics,
            commands::remove_old_engines,
            commands::use_cpu_engine,
            commands::set_compute_engine,
            commands::self_test_report,
        ])
        .on_page_load(|webview, payload| {
            if payload.event() != tauri::webview::PageLoadEvent::Finished {
                return;
            }
            // Only the origin: the first UI URL carries the (single-use) launch code.
            let origin = app::origin_of(payload.url()).unwrap_or_default();
            let shell = webview.state::<Arc<Shell>>();
            let what = if shell.is_engine_origin(&origin) {
                // A rollback happened this session, a new shell or engine is ready, an engine
                // switch finished: say so, in one sentence each, over the UI.
                let notices = [
                    (runtime_update::ROLLBACK_NOTICE_ID, shell.notice()),
                    (
                        shell_update::NOTICE_ID,
                        webview.state::<shell_update::ShellUpdates>().notice(),
                    ),
                ]
                .into_iter()
                .filter_map(|(id, notice)| Some((id, notice?)))
                .chain(shell.banners());
                let mut scripts: Vec<String> = notices
                    .map(|(id, notice)| runtime_update::notice_banner_script(id, &notice))
                    .collect();
                // An earlier session's crash: offered with a button that opens the report.
                if let Some(notice) = shell.crash_notice() {
                    scripts.push(runtime_update::notice_banner_with_action(
                        CRASH_NOTICE_ID,
                        &notice,
                        "Open the report",
                        "open_crash_report",
                    ));
                }
                // `--self-test`: the first engine page gets the self-test script.
                if let Some(test) = webview.try_state::<Arc<self_test::SelfTest>>() {
                    if test.take_injection() {
                        test.step("ui loaded", serde_json::json!({ "origin": origin }));
                        scripts.push(self_test::script());
                    }
                }
                for script in scripts {
                    if let Err(error) = webview.eval(script) {
                        shell
                            .log
                            .line(&format!("could not show the notice: {error}"));
                    }
                }
                "ui loaded"
            } else {
                "page loaded"
            };
            shell.log.line(&format!("{what}: {origin}"));
        })
        .setup(move |app| {
            let handle = app.handle().clone();
            let shell = app.state::<Arc<Shell>>();
            let window = main_window(app, Arc::clone(&shell))?;
            if let Ok(url) = window.url() {
                shell.remember_splash_url(url);
            }
            if let Some(test) = &self_test {
                app.manage(Arc::clone(test));
                self_test::start_timer(&handle, Arc::clone(test));
            }
            watch_termination_signals(handle.clone());
            app::begin_first_launch(&handle);
            shell_update::check_in_background(&handle);
            Ok(())
        })
        .build(context_for(app()))
        .expect("the window system could not be started (is a display available?)");
    app.run(move |app, event| {
        if let RunEvent::Exit = event {
            // Window closed, quit, or a signal turned into `exit(0)`: the engine goes too.
            let engine_stop = shell.stop_engine("the app is exiting");
            // Then a downloaded shell update replaces this app (Windows: its installer starts).
            shell_update::install_if_ready(app);
            shell.log.line("shell exiting");
            if let Some(test) = app.try_state::<Arc<self_test::SelfTest>>() {
                let report = test.report(
                    &self_test_context(&shell),
                    &serde_json::json!({ "engine_stop": engine_stop }),
                );
                match test.write_report(&report) {
                    Ok(path) => shell.log.line(&format!(
                        "self-test {}: report in {}",
                        if report["passed"] == true {
                            "passed"
                        } else {
                            "failed"
                        },
                        path.display()
                    )),
                    Err(error) => {
                        shell
                            .log
                            .line(&format!("could not write the self-test report: {error}"));
                        std::process::exit(self_test::EXIT_FAILED);
                    }
                }
                std::process::exit(test.exit_code());
            }
        }
    });
}

/// Tauri's context with the identifier of `app`: the single-instance hand-off and the OS's
/// per-app state follow the app this process runs, so two apps' windows never hand off to
/// each other.
pub(crate) fn context_for(app: &AppNames) -> tauri::Context<tauri::Wry> {
    let mut context = tauri::generate_context!();
    context.config_mut().identifier = app.identifier.clone();
    context.config_mut().product_name = Some(app.product_name.clone());
    context
}

/// What the self-test report says about this shell: its version, where it runs from, the data
/// folder, and every place discovery looks for a runtime, in order.
fn self_test_context(shell: &Shell) -> serde_json::Value {
    serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "target": HOST_TARGET.name(),
        "executable": std::env::current_exe().ok(),
        "data_root": shell.data_root,
        "runtime_candidates": discovery::candidate_list(&shell.discovery)
            .into_iter()
            .map(|(source, dir)| serde_json::json!({ "source": source, "dir": dir }))
            .collect::<Vec<_>>(),
    })
}

/// The one window, from its configuration (`create: false` there, so that it is built only
/// here), with the navigation guard in place before its first page loads.
fn main_window(
    app: &tauri::App,
    shell: Arc<Shell>,
) -> Result<tauri::WebviewWindow, Box<dyn std::error::Error>> {
    let config = app
        .config()
        .app
        .windows
        .iter()
        .find(|window| window.label == MAIN_WINDOW)
        .ok_or("tauri.conf.json has no main window")?
        .clone();
    let for_new_windows = Arc::clone(&shell);
    let for_downloads = Arc::clone(&shell);
    let window = tauri::WebviewWindowBuilder::from_config(app.handle(), &config)?
        .title(&crate::app().product_name)
        .on_download(move |webview, event| match event {
            tauri::webview::DownloadEvent::Requested { url, destination } => {
                downloads::requested(&for_downloads, &webview, &url, destination)
            }
            tauri::webview::DownloadEvent::Finished { path, success, .. } => {
                downloads::finished(&for_downloads, &webview, path, success);
                true
            }
            _ => true,
        })
        .on_navigation(move |url| navigation::guard(&shell, url))
        .on_new_window(move |url, _features| {
            navigation::new_window(&for_new_windows, &url);
            tauri::webview::NewWindowResponse::Deny
        })
        .build()?;
    Ok(window)
}

/// SIGTERM (logout, `kill`, a WebDriver session ending) and SIGINT (Ctrl-C) take the normal
/// exit path, so `RunEvent::Exit` stops the engine gracefully. Tauri does not do this itself.
#[cfg(unix)]
fn watch_termination_signals(app: tauri::AppHandle) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = match signal_hook::iterator::Signals::new([SIGTERM, SIGINT]) {
        Ok(signals) => signals,
        Err(error) => {
            app.state::<Arc<Shell>>()
                .log
                .line(&format!("cannot watch for SIGTERM/SIGINT: {error}"));
            return;
        }
    };
    std::thread::Builder::new()
        .name("shell-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                app.state::<Arc<Shell>>()
                    .log
                    .line(&format!("signal {signal} received; exiting"));
                app.exit(0);
            }
        })
        .expect("the OS refused to start a thread");
}

#[cfg(not(unix))]
fn watch_termination_signals(_app: tauri::AppHandle) {}

fn resolve_data_root() -> PathBuf {
    resolve_data_root_of(app())
}

/// The data folder of `app` on this computer.
pub(crate) fn resolve_data_root_of(app: &AppNames) -> PathBuf {
    let var = |name: &str| std::env::var(name).ok();
    let home =
        std::env::var_os(if cfg!(windows) { "USERPROFILE" } else { "HOME" }).map(PathBuf::from);
    data_root(app, Os::host(), &var, home.as_deref())
        // No home and no override (a stripped service environment): still run, somewhere
        // writable, rather than refuse to open.
        .unwrap_or_else(|| std::env::temp_dir().join(&app.data_folder))
}

fn discovery_inputs(data_root: PathBuf) -> DiscoveryInputs {
    DiscoveryInputs {
        data_root,
        working_dir: discovery::development_working_dir(),
        runtime_dir_override: std::env::var(app().var(runtime_spec::env::RUNTIME_DIR)).ok(),
        target: HOST_TARGET,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_app_updates_from_its_own_folder_under_the_release_url() {
        assert_eq!(
            app_release_url("https://r.example/x/", ""),
            "https://r.example/x"
        );
        assert_eq!(
            app_release_url("https://r.example/x", "other-app/"),
            "https://r.example/x/other-app"
        );
        assert_eq!(app_release_url("", "other-app/"), "");
        assert_eq!(app_release_url("  ", ""), "");
        // Exactly one carried app (the workspace's default) is published at the release URL;
        // every other one in its own folder, named by its id.
        let at_top: Vec<&str> = carried()
            .iter()
            .filter(|app| app.release_folder.is_empty())
            .map(|app| app.names.id.as_str())
            .collect();
        assert_eq!(at_top.len(), 1, "{at_top:?}");
        for app in carried()
            .iter()
            .filter(|app| !app.release_folder.is_empty())
        {
            assert_eq!(app.release_folder, format!("{}/", app.names.id));
        }
    }
}
