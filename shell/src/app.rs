//! The Tauri glue: owns the state machine and the engine, runs launches off the UI thread,
//! and turns phases into side effects (splash updates, navigation, stopping the engine).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use runtime_spec::Manifest;
use supervisor::{Engine, LaunchRequest, SupervisorError, SupervisorEvent};
use tauri::{AppHandle, Emitter, Manager, Url};

use crate::bundled;
use crate::compute_choice;
use crate::crash;
use crate::discovery::{self, DiscoveryInputs};
use crate::handoff;
use crate::runtime_update;
use crate::shell_log::ShellLog;
use crate::state::{Failure, Input, InstallProgress, Phase};
use crate::view::{self, Context, View, MIN_FREE_BYTES};
use compute::DevicePreference;

mod store;

/// Label of the one window: it shows the splash, then the engine's UI.
pub const MAIN_WINDOW: &str = "main";
/// Event carrying a [`View`] to the splash page.
pub const STATE_EVENT: &str = "shell-state";
/// The shell log's size cap: a few thousand lines of decisions is plenty.
const SHELL_LOG_MAX_BYTES: u64 = 512 * 1024;
/// How long the engine gets for each polite stop step when the app closes.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Everything the shell knows, `manage()`d by Tauri.
pub struct Shell {
    pub data_root: PathBuf,
    pub discovery: DiscoveryInputs,
    pub log: ShellLog,
    inner: Mutex<Inner>,
    /// `<data>/runtime/`: installs, updates, rollbacks. `None` if it cannot be created (the
    /// shell still runs a runtime found elsewhere).
    store: Mutex<Option<updater::Store>>,
    /// Where this build downloads runtimes from (`None`: built without one, or no store).
    update_source: Option<updater::UpdateSource>,
    /// The updater's sentence for the user (a rollback), shown on the next UI.
    notice: Mutex<Option<String>>,
    /// Banners of this session (banner id, sentence): an update or an engine switch is ready.
    /// Shown when they happen if the UI is up, and again whenever the engine's page loads.
    banners: Mutex<Vec<(&'static str, String)>>,
    /// The background update check runs once per process.
    update_check_started: AtomicBool,
    /// The crash reports of earlier sessions, offered over the UI this session, and the
    /// sentence offering them.
    earlier_crashes: Mutex<Option<(Vec<PathBuf>, String)>>,
}

struct Inner {
    phase: Phase,
    /// Bumped on every new launch so late events of an abandoned one are dropped.
    generation: u64,
    engine: Option<Engine>,
    /// `http://127.0.0.1:<port>` of the running engine: the only origin allowed to call
    /// `open_artifacts_folder`.
    engine_origin: Option<String>,
    /// Where the bundled splash page lives (`tauri://localhost/…` on Linux and macOS).
    splash_url: Option<Url>,
    /// Views built so far ([`View::seq`]).
    views_handed_out: u64,
    /// The last engine started drives a GPU: its error screen offers the CPU engine.
    gpu_engine: bool,
}

impl Shell {
    pub fn new(data_root: PathBuf, discovery: DiscoveryInputs) -> Shell {
        // Before the log: the first folder created in the data root must not be world-readable.
        let private_root = supervisor::private::create_private_dir(&data_root);
        let log = ShellLog::open(&data_root.join("logs"), SHELL_LOG_MAX_BYTES);
        if let Err(error) = private_root {
            log.line(&format!("could not make the data folder private: {error}"));
        }
        let store = match updater::Store::open(&data_root.join("runtime"), discovery.target) {
            Ok(store) => Some(store),
            Err(error) => {
                log.line(&format!("runtime updates are off: {error}"));
                None
            }
        };
        // Without a store there is nowhere to install to: no source either.
        let update_source = runtime_update::built_in_source().filter(|_| store.is_some());
        log.line(&match &update_source {
            Some(source) => format!(
                "runtime downloads from {} (channel {})",
                source.index_url, source.channel
            ),
            None => "this build has no runtime download source".to_owned(),
        });
        let earlier = crash::unoffered(&data_root.join("logs"));
        if !earlier.is_empty() {
            log.line(&format!(
                "{} crash report(s) from earlier sessions to offer",
                earlier.len()
            ));
        }
        let earlier_crashes = (!earlier.is_empty()).then(|| {
            let notice = crash::notice(&earlier);
            (earlier, notice)
        });
        Shell {
            earlier_crashes: Mutex::new(earlier_crashes),
            data_root,
            discovery,
            log,
            store: Mutex::new(store),
            update_source,
            notice: Mutex::new(None),
            banners: Mutex::new(Vec::new()),
            update_check_started: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                phase: Phase::Discovering,
                generation: 0,
                engine: None,
                engine_origin: None,
                splash_url: None,
                views_handed_out: 0,
                gpu_engine: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.data_root.join("logs")
    }

    pub fn artifacts_dir(&self) -> PathBuf {
        self.data_root.join("artifacts").join("tokenizers")
    }

    /// The splash's current view (the page asks on load, then follows [`STATE_EVENT`]).
    pub fn current_view(&self) -> View {
        let context = self.view_context();
        let mut inner = self.lock();
        // Numbered under the same lock as the phase is changed under: a higher number is
        // never an older phase.
        inner.views_handed_out += 1;
        let mut view = view::view(&inner.phase, &context);
        view.seq = inner.views_handed_out;
        view
    }

    pub fn remember_splash_url(&self, url: Url) {
        self.lock().splash_url = Some(url);
    }

    /// The updater's notice for this session (a rollback happened), if any.
    pub fn notice(&self) -> Option<String> {
        self.notice
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The sentence offering earlier sessions' crash reports, if any. The first call records
    /// them as offered, so the next start does not offer them again.
    pub fn crash_notice(&self) -> Option<String> {
        let mut earlier = self
            .earlier_crashes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let (reports, notice) = earlier.as_mut()?;
        if !reports.is_empty() {
            if let Err(error) = crash::mark_offered(&self.logs_dir(), reports) {
                self.log.line(&format!(
                    "could not record the crash reports as offered: {error}"
                ));
            }
            reports.clear();
        }
        Some(notice.clone())
    }

    /// This session's banners (id, sentence), for the engine's page when it loads.
    pub fn banners(&self) -> Vec<(&'static str, String)> {
        self.banners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether this build can download a runtime (the no-runtime screen offers "Install").
    pub fn can_install(&self) -> bool {
        self.update_source.is_some()
    }

    /// `http://127.0.0.1:<port>` of the running engine, if one runs.
    pub fn engine_origin(&self) -> Option<String> {
        self.lock().engine_origin.clone()
    }

    /// Whether `origin` is the running engine's.
    pub fn is_engine_origin(&self, origin: &str) -> bool {
        self.lock().engine_origin.as_deref() == Some(origin)
    }

    fn view_context(&self) -> Context {
        Context {
            logs_dir: self.logs_dir(),
            previous_runtime_available: discovery::check_runtime(
                &discovery::previous_runtime_dir(&self.data_root),
                self.discovery.target,
            )
            .is_ok(),
            can_install: self.update_source.is_some(),
            gpu_engine: self.lock().gpu_engine,
            notice: self
                .notice
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .clone(),
        }
    }

    /// Stops the engine if one runs (window closed, SIGTERM, quit). Blocks until it is gone.
    /// Returns how it stopped, in words (`None`: no engine ran).
    pub fn stop_engine(&self, why: &str) -> Option<String> {
        let engine = {
            let mut inner = self.lock();
            inner.generation += 1;
            inner.engine_origin = None;
            inner.engine.take()
        };
        if let Some(mut engine) = engine {
            self.log.line(&format!(
                "stopping the engine (pid {}): {why}",
                engine.pid()
            ));
            let outcome = engine.stop(STOP_GRACE);
            self.log.line(&format!("engine stopped: {outcome:?}"));
            return Some(format!("{outcome:?}"));
        }
        None
    }
}

/// Origin of a URL: `scheme://host:port` as the engine URL spells it, or `scheme://host`
/// for schemes without a port (`tauri://localhost`).
pub fn origin_of(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port_or_known_default() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

/// [`origin_of`] for a URL in text; the text itself when it does not parse.
pub fn origin_of_text(url: &str) -> String {
    Url::parse(url)
        .ok()
        .as_ref()
        .and_then(origin_of)
        .unwrap_or_else(|| url.to_owned())
}

/// The first launch: the machine already starts in `Discovering`.
pub fn begin_first_launch(app: &AppHandle) {
    let shell = app.state::<Arc<Shell>>();
    let generation = {
        let mut inner = shell.lock();
        inner.generation += 1;
        inner.generation
    };
    let app = app.clone();
    spawn_named("discover", move || discover_and_launch(&app, generation));
}

/// Starts from scratch: disk check, discovery, launch. Used at startup and by "Retry".
pub fn start_over(app: &AppHandle, input: Input) -> Result<(), String> {
    let shell = app.state::<Arc<Shell>>();
    let generation = {
        let mut inner = shell.lock();
        let next = inner
            .phase
            .next(input.clone())
            .ok_or("nothing to retry right now")?;
        inner.generation += 1;
        inner.phase = next;
        inner.generation
    };
    let installing = matches!(shell.lock().phase, Phase::Installing(_));
    shell.log.line(&format!(
        "{input:?} -> {}",
        if installing {
            "installing"
        } else {
            "discovering"
        }
    ));
    publish(app);
    let app = app.clone();
    if installing {
        spawn_named("install", move || install_runtime(&app, generation));
    } else {
        spawn_named("discover", move || discover_and_launch(&app, generation));
    }
    Ok(())
}

/// Thin first run: download the runtime named by the signed index, install it, then discover
/// and start it like any other.
fn install_runtime(app: &AppHandle, generation: u64) {
    let shell = app.state::<Arc<Shell>>();
    let Some(source) = shell.update_source.clone() else {
        apply(
            app,
            generation,
            Input::InstallFailed {
                message: updater::Error::NotConfigured.to_string(),
            },
        );
        return;
    };
    let shell_version = shell_version();
    let mut last_publish = Instant::now() - Duration::from_secs(1);
    let result = {
        let mut guard = shell.store.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            None => Err(updater::Error::NotConfigured),
            Some(store) => {
                // The machine is probed and the variant chosen once the signed index says what
                // is on offer; the reason is shown under the download's progress.
                let preference = compute_choice::preference(&shell.data_root);
                let chosen: std::cell::RefCell<Option<String>> = Default::default();
                let result = updater::check_and_install(
                    store,
                    &source,
                    &shell_version,
                    &updater::Options::default(),
                    &mut |index| {
                        let choice = compute_choice::choose_from_index(
                            &shell.data_root,
                            index,
                            &preference,
                        )?;
                        shell.log.line(&format!(
                            "first-run choice: {} on {} ({}{})",
                            choice.variant,
                            choice.device,
                            choice.reason,
                            choice
                                .notes
                                .iter()
                                .map(|note| format!(" {note}"))
                                .collect::<String>()
                        ));
                        *chosen.borrow_mut() = Some(
                            std::iter::once(choice.reason.clone())
                                .chain(choice.notes.iter().cloned())
                                .collect::<Vec<_>>()
                                .join(" "),
                        );
                        Ok(choice.variant)
                    },
                    &mut |stage| {
                        let progress = match stage {
                            updater::Stage::CheckingIndex => InstallProgress::CheckingIndex,
                            updater::Stage::Downloading {
                                version,
                                method,
                                downloaded,
                                total,
                                bytes_per_second,
                                seconds_left,
                                ..
                            } => {
                                // Ten updates a second are plenty for a progress bar.
                                if downloaded < total
                                    && last_publish.elapsed() < Duration::from_millis(100)
                                {
                                    return;
                                }
                                InstallProgress::Downloading {
                                    version,
                                    method,
                                    downloaded,
                                    total,
                                    bytes_per_second: bytes_per_second.map(|b| b as u64),
                                    seconds_left: seconds_left.map(|s| s.ceil() as u64),
                                    choice: chosen.borrow().clone(),
                                }
                            }
                            updater::Stage::Installing {
                                version,
                                done,
                                total,
                                seconds_left,
                            } => {
                                if done > 0
                                    && done < total
                                    && last_publish.elapsed() < Duration::from_millis(100)
                                {
                                    return;
                                }
                                InstallProgress::Installing {
                                    version,
                                    done,
                                    total,
                                    seconds_left: seconds_left.map(|s| s.ceil() as u64),
                                }
                            }
                        };
                        last_publish = Instant::now();
                        apply(app, generation, Input::InstallProgress(progress));
                    },
                );
                shell.log_store_notes(store);
                result
            }
        }
    };
    match result {
        Ok(outcome) => {
            shell.log.line(&format!("first-run install: {outcome}"));
            if apply(app, generation, Input::Reinstalled) {
                discover_and_launch(app, generation);
            }
        }
        Err(error) => {
            shell
                .log
                .line(&format!("first-run install failed: {error}"));
            apply(
                app,
                generation,
                Input::InstallFailed {
                    message: error.to_string(),
                },
            );
        }
    }
}

/// After a healthy start: look for a newer runtime in the background and install it as
/// `pending` (applied at the next launch). Once per process; off by setting.
fn check_for_updates_in_background(app: &AppHandle) {
    let shell = app.state::<Arc<Shell>>();
    let Some(source) = shell.update_source.clone() else {
        return;
    };
    if !runtime_update::background_check_enabled(&shell.data_root) {
        shell.log.line("background update check is turned off");
        return;
    }
    if shell.update_check_started.swap(true, Ordering::SeqCst) {
        return;
    }
    let app = app.clone();
    let shell = Arc::clone(&shell);
    spawn_named("update-check", move || {
        let shell_version = shell_version();
        let mut guard = shell.store.lock().unwrap_or_else(|p| p.into_inner());
        let Some(store) = guard.as_mut() else { return };
        // Updates keep the installed variant; switching is the user's choice in Settings.
        let wanted = store.installed_variant();
        let result = updater::check_and_install(
            store,
            &source,
            &shell_version,
            &updater::Options::default(),
            &mut |_| Ok(wanted),
            &mut |_| {},
        );
        shell.log_store_notes(store);
        drop(guard);
        // The Installed line names the method, the bytes, the files fetched and reused, and
        // why a delta was not used.
        shell.log.line(&match &result {
            Ok(outcome @ updater::Outcome::Installed { .. }) => {
                format!("update check: {outcome}; it is used from the next start")
            }
            Ok(outcome) => format!("update check: {outcome}"),
            Err(error) => format!("update check: {error}"),
        });
        if let Ok(updater::Outcome::Installed { version, transfer }) = &result {
            show_notice(
                &app,
                runtime_update::UPDATE_NOTICE_ID,
                &runtime_update::update_ready_notice(version, transfer),
            );
        }
    });
}

/// This shell's version, for the index's `min_shell_version`.
fn shell_version() -> semver::Version {
    semver::Version::parse(env!("CARGO_PKG_VERSION")).expect("the crate version is semver")
}

/// "Download and install the engine" on the no-runtime screen.
pub fn request_install(app: &AppHandle) -> Result<(), String> {
    start_over(app, Input::InstallRequested)
}

/// "Use the CPU engine" on a GPU engine's error screen: saves the setting, then runs the
/// install flow with it (the index's CPU variant; or, when it offers none, the GPU build
/// already installed, which then runs on the CPU).
pub fn use_cpu_engine(app: &AppHandle) -> Result<(), String> {
    let shell = app.state::<Arc<Shell>>();
    compute_choice::set_device_preference(&shell.data_root, DevicePreference::Cpu).map_err(
        |error| {
            format!(
                "The setting could not be saved in {}: {error}",
                shell.data_root.display()
            )
        },
    )?;
    shell
        .log
        .line("compute setting: cpu (from the error screen)");
    start_over(app, Input::UseCpuEngine)
}

/// The GPU/CPU setting from "About this computer": saved, then the variant it selects is
/// downloaded, verified and left in `pending` in the background (used from the next start).
/// Returns the sentence to show; the outcome is logged and, when something was installed,
/// announced over the page.
pub fn set_compute_engine(app: &AppHandle, device: DevicePreference) -> Result<String, String> {
    let shell = Arc::clone(&app.state::<Arc<Shell>>());
    let Some(source) = shell.update_source.clone() else {
        return Err(format!(
            "This copy of {} cannot download engines; reinstall it with the full installer.",
            crate::app().product_name
        ));
    };
    compute_choice::set_device_preference(&shell.data_root, device).map_err(|error| {
        format!(
            "The setting could not be saved in {}: {error}",
            shell.data_root.display()
        )
    })?;
    shell.log.line(&format!("compute setting: {device:?}"));
    let app = app.clone();
    spawn_named("compute-switch", move || {
        let preference = compute_choice::preference(&shell.data_root);
        let mut guard = shell.store.lock().unwrap_or_else(|p| p.into_inner());
        let Some(store) = guard.as_mut() else { return };
        let result = updater::check_and_install(
            store,
            &source,
            &shell_version(),
            &updater::Options::default(),
            &mut |index| {
                compute_choice::choose_from_index(&shell.data_root, index, &preference)
                    .map(|choice| choice.variant)
            },
            &mut |_| {},
        );
        shell.log_store_notes(store);
        drop(guard);
        let notice = match &result {
            Ok(updater::Outcome::Installed { transfer, .. }) => {
                Some(runtime_update::switch_ready_notice(transfer))
            }
            Ok(_) => None,
            Err(error) => Some(format!("The engine could not be switched: {error}")),
        };
        shell.log.line(&match &result {
            Ok(outcome) => format!("compute switch: {outcome}"),
            Err(error) => format!("compute switch: {error}"),
        });
        if let Some(notice) = notice {
            show_notice(&app, COMPUTE_NOTICE_ID, &notice);
        }
    });
    Ok(match device {
        DevicePreference::Cpu => "Switching to the CPU engine: it downloads in the background if needed and is used from the next start.",
        DevicePreference::Gpu => "Switching to the GPU engine: it downloads in the background if needed and is used from the next start.",
        DevicePreference::Auto => "The engine will use the GPU when one is usable: a different engine downloads in the background if needed and is used from the next start.",
    }
    .to_owned())
}

/// "Remove old engines" in "About this computer": deletes the previous engine and kept
/// downloads (never the engine in use, a pending update or the bundled engine); the sentence
/// to show. Refused while an install or update holds the runtimes folder.
pub fn remove_old_engines(shell: &Shell) -> Result<String, String> {
    let mut guard = match shell.store.try_lock() {
        Ok(guard) => guard,
        Err(std::sync::TryLockError::Poisoned(poison)) => poison.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => {
            return Err(
                "An engine download is in progress; try again once it has finished.".to_owned(),
            )
        }
    };
    let store = guard
        .as_mut()
        .ok_or_else(|| "This app keeps no engines of its own to remove.".to_owned())?;
    match store.remove_previous() {
        Ok(removed) => {
            shell.log.line(&format!(
                "removed old engines: previous {}, {} freed",
                removed
                    .previous
                    .as_ref()
                    .map_or_else(|| "none".to_owned(), ToString::to_string),
                updater::human_bytes(removed.freed_bytes)
            ));
            Ok(match removed.previous {
                Some(previous) => format!(
                    "Removed the previous engine ({}) and kept downloads: {} freed. The engine in use stays.",
                    previous.version,
                    updater::human_bytes(removed.freed_bytes)
                ),
                None if removed.freed_bytes > 0 => format!(
                    "Removed kept downloads: {} freed. The engine in use stays.",
                    updater::human_bytes(removed.freed_bytes)
                ),
                None => "There is no old engine to remove.".to_owned(),
            })
        }
        Err(error) => {
            shell
                .log
                .line(&format!("could not remove old engines: {error}"));
            Err(format!("Old engines were not removed: {error}."))
        }
    }
}

/// Id of the banner [`set_compute_engine`] shows when the switch finished.
pub const COMPUTE_NOTICE_ID: &str = "shell-compute-notice";

/// Shows `notice` as banner `id` over the engine's page: now if the window shows it, and
/// whenever the page loads again this session (the page is the engine's; the shell adds one
/// dismissible element per banner).
fn show_notice(app: &AppHandle, id: &'static str, notice: &str) {
    let shell = app.state::<Arc<Shell>>();
    {
        let mut banners = shell.banners.lock().unwrap_or_else(|p| p.into_inner());
        banners.retain(|(kept, _)| *kept != id);
        banners.push((id, notice.to_owned()));
    }
    let Some(window) = app.get_webview_window(MAIN_WINDOW) else {
        return;
    };
    let on_ui = window
        .url()
        .ok()
        .and_then(|url| origin_of(&url))
        .is_some_and(|origin| shell.is_engine_origin(&origin));
    if on_ui {
        if let Err(error) = window.eval(runtime_update::notice_banner_script(id, notice)) {
            shell
                .log
                .line(&format!("could not show the notice: {error}"));
        }
    }
}

/// "Use previous runtime": checks `<data>/runtime/previous` and launches it.
pub fn use_previous(app: &AppHandle) -> Result<(), String> {
    let shell = app.state::<Arc<Shell>>();
    let dir = discovery::previous_runtime_dir(&shell.data_root);
    let manifest = discovery::check_runtime(&dir, shell.discovery.target)
        .map_err(|reason| format!("the previous runtime cannot be used: {reason:?}"))?;
    let generation = {
        let mut inner = shell.lock();
        let next = inner
            .phase
            .next(Input::UsePrevious {
                runtime_dir: dir.clone(),
                runtime_version: manifest.runtime_version.clone(),
            })
            .ok_or("the previous runtime can only be chosen from an error screen")?;
        inner.generation += 1;
        inner.phase = next;
        inner.generation
    };
    shell
        .log
        .line(&format!("using the previous runtime {}", dir.display()));
    publish(app);
    let app = app.clone();
    spawn_named("launch", move || launch(&app, generation, &dir, &manifest));
    Ok(())
}

fn discover_and_launch(app: &AppHandle, generation: u64) {
    let shell = app.state::<Arc<Shell>>();
    match runtime_archive::free_space(&shell.data_root) {
        Ok(free_bytes) if free_bytes < MIN_FREE_BYTES => {
            apply(
                app,
                generation,
                Input::DiskTooFull {
                    data_root: shell.data_root.clone(),
                    free_bytes,
                    needed_bytes: MIN_FREE_BYTES,
                },
            );
            return;
        }
        Ok(_) => {}
        // Not knowing is no reason to refuse: the engine reports real write failures.
        Err(error) => shell
            .log
            .line(&format!("could not check free space: {error}")),
    }
    shell.settle_runtimes();
    // Full bundle: the runtime the installer carries goes through the same verify-and-promote
    // path into runtime/default before discovery looks there. No network.
    if let Some(archive) = std::env::current_exe()
        .ok()
        .and_then(|exe| bundled::bundled_archive(crate::app(), &exe, shell.discovery.target))
    {
        match bundled::install_if_needed(&archive, &shell.data_root, shell.discovery.target) {
            Ok(Some(version)) => shell.log.line(&format!(
                "installed the bundled runtime {version} from {}",
                archive.display()
            )),
            Ok(None) => {}
            Err(error) => shell.log.line(&format!(
                "could not install the bundled runtime {}: {error}",
                archive.display()
            )),
        }
    }
    match discovery::discover(&shell.discovery) {
        Ok(found) => {
            shell.log.line(&format!(
                "runtime {} found at {} ({})",
                found.manifest.runtime_version,
                found.dir.display(),
                discovery::step_name(found.step)
            ));
            let moved = apply(
                app,
                generation,
                Input::RuntimeFound {
                    runtime_dir: found.dir.clone(),
                    runtime_version: found.manifest.runtime_version.clone(),
                },
            );
            if moved {
                launch(app, generation, &found.dir, &found.manifest);
            }
        }
        Err(rejections) => {
            for rejection in &rejections {
                shell.log.line(&format!(
                    "rejected {} ({}): {:?}",
                    rejection.dir.display(),
                    rejection.source,
                    rejection.reason
                ));
            }
            apply(app, generation, Input::RuntimeNotFound { rejections });
        }
    }
}

/// Runs one supervised launch on the calling (background) thread, then the hand-off.
fn launch(app: &AppHandle, generation: u64, runtime_dir: &Path, manifest: &Manifest) {
    let shell = app.state::<Arc<Shell>>();
    let mut request =
        LaunchRequest::from_manifest(runtime_dir.to_path_buf(), manifest, shell.data_root.clone());
    // The engine proves a GPU at start; where none is usable, a GPU build runs on the CPU.
    let (device, line) = compute_choice::launch_device(&shell.data_root, manifest);
    shell.log.line(&line);
    shell.lock().gpu_engine = manifest.accelerator.is_gpu();
    request.extra_env.push((
        crate::app().var(runtime_spec::env::DEVICE).into(),
        device.name().into(),
    ));
    // The supervisor reports a final failure twice (GaveUp, then the Err); the state machine
    // takes the classified error, with the tail from the event.
    let gave_up_tail: Arc<Mutex<Vec<String>>> = Arc::default();
    let on_event: supervisor::EventHandler = {
        let app = app.clone();
        let gave_up_tail = gave_up_tail.clone();
        Arc::new(move |event: SupervisorEvent| {
            if let SupervisorEvent::GaveUp { log_tail, .. } = &event {
                *gave_up_tail.lock().unwrap_or_else(|p| p.into_inner()) = log_tail.clone();
            }
            apply(&app, generation, Input::Supervisor(event));
        })
    };
    let engine = match supervisor::launch(&request, on_event) {
        Ok(engine) => {
            shell.runtime_healthy(runtime_dir);
            engine
        }
        Err(error) => {
            if let Some(notice) = shell.roll_back_if_on_trial(runtime_dir) {
                shell.log.line(&format!("{notice} ({error})"));
                if apply(app, generation, Input::Reinstalled) {
                    discover_and_launch(app, generation);
                }
                return;
            }
            let log_tail =
                std::mem::take(&mut *gave_up_tail.lock().unwrap_or_else(|p| p.into_inner()));
            apply(
                app,
                generation,
                Input::LaunchFailed {
                    timed_out: matches!(
                        error,
                        SupervisorError::ReadyTimeout { .. }
                            | SupervisorError::HealthTimeout { .. }
                    ),
                    message: error.to_string(),
                    log_tail,
                },
            );
            return;
        }
    };
    let url = engine.url().to_owned();
    let code = handoff::mint_launch_code(engine.port(), engine.token());
    {
        let mut inner = shell.lock();
        if inner.generation != generation {
            // Retry or quit happened meanwhile: this engine is nobody's.
            drop(inner);
            shell
                .log
                .line("a launch finished after it was abandoned; stopping it");
            let mut engine = engine;
            engine.stop(STOP_GRACE);
            return;
        }
        inner.engine_origin = Url::parse(&url).ok().as_ref().and_then(origin_of);
        inner.engine = Some(engine);
    }
    let opened = code.and_then(|code| {
        let target = Url::parse(&handoff::launch_url(&url, &code)).map_err(|e| e.to_string())?;
        let window = app
            .get_webview_window(MAIN_WINDOW)
            .ok_or("the window is gone")?;
        window.navigate(target).map_err(|e| e.to_string())
    });
    match opened {
        Ok(()) => {
            apply(app, generation, Input::UiOpened { url });
            check_for_updates_in_background(app);
        }
        Err(message) => {
            let log_tail = shell
                .lock()
                .engine
                .as_ref()
                .map(Engine::log_tail)
                .unwrap_or_default();
            let _ = shell.stop_engine("the UI could not be opened");
            // stop_engine bumped the generation; the failure belongs to the new one.
            let generation = shell.lock().generation;
            apply(
                app,
                generation,
                Input::HandoffFailed {
                    message: format!("The workspace could not be opened: {message}"),
                    log_tail,
                },
            );
        }
    }
}

/// Feeds `input` to the state machine if it belongs to the current launch; on a change,
/// logs it, updates the splash and performs the phase's side effects. Returns whether the
/// phase changed.
fn apply(app: &AppHandle, generation: u64, input: Input) -> bool {
    let shell = app.state::<Arc<Shell>>();
    let (changed_to, leaving_ui, splash_url, dead_engine) = {
        let mut inner = shell.lock();
        if inner.generation != generation {
            return false;
        }
        let Some(next) = inner.phase.next(input.clone()) else {
            shell.log.line(&format!(
                "ignored in {}: {}",
                phase_summary(&inner.phase),
                input_name(&input)
            ));
            return false;
        };
        let leaving_ui = matches!(next, Phase::Failed(_));
        // A failed phase has no engine worth keeping (it exited, or the hand-off failed).
        let dead_engine = if leaving_ui {
            inner.engine_origin = None;
            inner.engine.take()
        } else {
            None
        };
        inner.phase = next.clone();
        (next, leaving_ui, inner.splash_url.clone(), dead_engine)
    };
    shell.log.line(&format!(
        "{} -> {}",
        input_name(&input),
        phase_summary(&changed_to)
    ));
    crate::self_test::observe_phase(app, &changed_to);
    if let Some(mut engine) = dead_engine {
        engine.stop(STOP_GRACE);
    }
    if let Phase::Failed(Failure::Crashed { message, log_tail }) = &changed_to {
        let body = crash::engine_body(message, log_tail);
        match crash::write_report(&shell.logs_dir(), crash::Kind::Engine, &body) {
            Ok(path) => shell
                .log
                .line(&format!("crash report written: {}", path.display())),
            Err(error) => shell
                .log
                .line(&format!("could not write the crash report: {error}")),
        }
    }
    if leaving_ui {
        if let (Some(window), Some(splash)) = (app.get_webview_window(MAIN_WINDOW), splash_url) {
            let showing_splash = window
                .url()
                .is_ok_and(|current| origin_of(&current) == origin_of(&splash));
            if !showing_splash {
                let _ = window.navigate(splash);
            }
        }
    }
    publish(app);
    true
}

/// Sends the current view to the splash page.
fn publish(app: &AppHandle) {
    let shell = app.state::<Arc<Shell>>();
    let view = shell.current_view();
    if let Err(error) = app.emit_to(MAIN_WINDOW, STATE_EVENT, &view) {
        shell
            .log
            .line(&format!("could not update the splash: {error}"));
    }
}

fn input_name(input: &Input) -> String {
    match input {
        Input::Supervisor(event) => format!("supervisor {}", event_kind(event)),
        Input::LaunchFailed { message, .. } => format!("launch failed: {message}"),
        Input::HandoffFailed { message, .. } => format!("hand-off failed: {message}"),
        Input::RuntimeNotFound { rejections } => {
            format!("no runtime ({} places looked at)", rejections.len())
        }
        Input::RuntimeFound {
            runtime_dir,
            runtime_version,
        } => format!(
            "runtime {runtime_version} found in {}",
            runtime_dir.display()
        ),
        Input::UsePrevious {
            runtime_dir,
            runtime_version,
        } => format!(
            "use previous runtime {runtime_version} in {}",
            runtime_dir.display()
        ),
        Input::InstallProgress(progress) => format!("install progress: {progress}"),
        other => format!("{other:?}"),
    }
}

fn event_kind(event: &SupervisorEvent) -> String {
    serde_json::to_value(event)
        .ok()
        .and_then(|value| value["kind"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn phase_summary(phase: &Phase) -> String {
    match phase {
        Phase::Failed(failure) => format!(
            "failed ({})",
            serde_json::to_value(failure)
                .ok()
                .and_then(|value| value["kind"].as_str().map(str::to_owned))
                .unwrap_or_default()
        ),
        Phase::Starting { step, .. } => format!("starting ({step:?})"),
        Phase::Ready { url } => format!("ready at {url}"),
        Phase::Discovering => "discovering".into(),
        Phase::Installing(progress) => format!("installing ({progress})"),
    }
}

pub(crate) fn spawn_named(name: &str, work: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .name(format!("shell-{name}"))
        .spawn(work)
        .expect("the OS refused to start a thread");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `open_artifacts_folder` answers only a page whose origin is exactly the engine's:
    /// `origin_of(caller) == origin_of(engine URL)`. Any other local server, host spelling,
    /// scheme or the bundled splash is refused.
    #[test]
    fn only_the_engines_exact_origin_matches() {
        let engine = origin_of(&Url::parse("http://127.0.0.1:4000/#launch=one-time-code").unwrap());
        assert_eq!(engine.as_deref(), Some("http://127.0.0.1:4000"));
        // (caller page, allowed)
        for (caller, allowed) in [
            ("http://127.0.0.1:4000/", true),
            ("http://127.0.0.1:4000/jobs?id=1#x", true),
            ("http://127.0.0.1:4001/", false),
            ("http://localhost:4000/", false),
            ("https://127.0.0.1:4000/", false),
            ("http://127.0.0.2:4000/", false),
            ("http://127.0.0.1/", false),
            ("tauri://localhost/index.html", false),
            ("http://tauri.localhost/index.html", false),
        ] {
            let origin = origin_of(&Url::parse(caller).unwrap());
            assert_eq!(origin == engine, allowed, "{caller} → {origin:?}");
        }
    }
}
