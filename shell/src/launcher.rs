//! The launcher: with more than one app installed on this computer, the shell opens on a list
//! of them (name, engine version and state, disk used) and opens the chosen one in a process of
//! its own (`<shell> --app <id>`), which is then that app's shell exactly as if it were the only
//! one: its own data folder, engine, updates and single-instance hand-off. One app's broken
//! engine therefore never touches another's, and closing the launcher closes no app.
//!
//! An app is installed when it is the shell's primary app (the one its installer installed) or
//! when its data folder holds an engine (`runtime/current` or `runtime/default`): another
//! app's installer, or an earlier run, put it there.
//!
//! The launcher also fetches the channel's app registry (`apps-<channel>.json` under the release
//! URL, signed with the update key built in; `updater::registry` checks it like the runtime
//! index) and offers the apps it lists that this computer lacks, whether this shell carries
//! them or not: Install downloads the app's engine from the index the registry names, verified
//! with the same key, into that app's own data folder, with the same choice of engine a first
//! run makes. It keeps the registry it accepted (`crate::fetched`), so an app the shell does not
//! carry is known to its next starts by the registry's names. With one app installed the shell
//! opens it directly; `--launcher` opens the launcher instead.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use runtime_spec::layout;
use serde::Serialize;
use tauri::{Manager, State};

use crate::shell_log::ShellLog;
use crate::KnownApp;

/// Opens the launcher even with one app installed (to install another from the registry).
pub const LAUNCHER_ARG: &str = "--launcher";

/// The launcher window's label: the splash's capability (`capabilities/default.json`) covers it.
const WINDOW: &str = "main";

/// One row of the launcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub id: String,
    pub product_name: String,
    /// The installed engine's version, if one is installed.
    pub version: Option<String>,
    /// The engine's state in words.
    pub status: String,
    /// Bytes the app's data folder takes on disk (hard-linked files once).
    pub disk_bytes: u64,
    /// [`Entry::disk_bytes`] for people.
    pub disk: String,
    /// Installed here (Open), or offered by the registry (Install).
    pub installed: bool,
}

/// What the launcher page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LauncherView {
    pub entries: Vec<Entry>,
    /// Why no app can be installed from the registry, when it could not be read.
    pub registry_problem: Option<String>,
}

/// An install the launcher runs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Install {
    Running { words: String },
    Failed { message: String },
}

/// The launcher's state: the apps it lists, the registry, the installs under way, its log.
pub struct Launcher {
    apps: Vec<&'static KnownApp>,
    /// The verified registry and its URL, once fetched.
    registry: Mutex<Option<(String, runtime_spec::AppRegistry)>>,
    registry_problem: Mutex<Option<String>>,
    installs: Mutex<HashMap<String, Install>>,
    /// Each app's disk use and when it was measured: walking a data folder's thousands of files
    /// once a second would cost more than the figure is worth.
    disk: Mutex<HashMap<String, (std::time::Instant, u64)>>,
    log: ShellLog,
}

/// The installed apps, the primary one first, then the other carried ones, then the fetched.
pub fn installed_apps() -> Vec<&'static KnownApp> {
    crate::known()
        .iter()
        .enumerate()
        .filter(|(index, app)| {
            *index == 0 || installed_version(&crate::resolve_data_root_of(&app.names)).is_some()
        })
        .map(|(_, app)| app)
        .collect()
}

/// The version of the engine installed in a data folder: `runtime/current`, else
/// `runtime/default` (the one an offline installer carried).
pub fn installed_version(data_root: &Path) -> Option<String> {
    ["current", "default"].iter().find_map(|slot| {
        let text = std::fs::read_to_string(
            data_root
                .join("runtime")
                .join(slot)
                .join(layout::VERSION_FILE),
        )
        .ok()?;
        let version = text.trim();
        (!version.is_empty()).then(|| version.to_owned())
    })
}

/// The row of one installed app.
pub fn entry(app: &KnownApp) -> Entry {
    entry_with_disk(app, disk_usage(&crate::resolve_data_root_of(&app.names)))
}

fn entry_with_disk(app: &KnownApp, disk_bytes: u64) -> Entry {
    let data_root = crate::resolve_data_root_of(&app.names);
    let version = installed_version(&data_root);
    let pending = data_root.join("runtime").join("pending").is_dir();
    let status = match (&version, pending) {
        (None, _) => {
            "Its engine is not installed yet: it installs when you open the app".to_owned()
        }
        (Some(_), true) => "Ready; an engine update is waiting for its next start".to_owned(),
        (Some(_), false) => "Ready".to_owned(),
    };
    Entry {
        id: app.names.id.clone(),
        product_name: app.names.product_name.clone(),
        version,
        status,
        disk_bytes,
        disk: human_size(disk_bytes),
        installed: true,
    }
}

/// Bytes the files under `dir` take, each hard-linked file once (engines share unchanged files
/// with each other); symlinks are not followed. 0 for a folder that does not exist.
pub fn disk_usage(dir: &Path) -> u64 {
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() && first_link(&meta, &mut seen) {
                total += meta.len();
            }
        }
    }
    total
}

#[cfg(unix)]
fn first_link(meta: &std::fs::Metadata, seen: &mut std::collections::HashSet<(u64, u64)>) -> bool {
    use std::os::unix::fs::MetadataExt;
    meta.nlink() <= 1 || seen.insert((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn first_link(
    _meta: &std::fs::Metadata,
    _seen: &mut std::collections::HashSet<(u64, u64)>,
) -> bool {
    true
}

/// `1.2 GB`, `84 MB`, `12 KB` (decimal, as the OS's file managers count).
fn human_size(bytes: u64) -> String {
    updater::human_bytes(bytes)
}

impl Launcher {
    /// [`entry`] with the disk use measured at most every 10 s.
    fn entry(&self, app: &KnownApp) -> Entry {
        let mut disk = self.disk.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = disk
            .get(&app.names.id)
            .filter(|(measured, _)| measured.elapsed() < std::time::Duration::from_secs(10))
            .map(|(_, bytes)| *bytes);
        let bytes = fresh.unwrap_or_else(|| {
            let bytes = disk_usage(&crate::resolve_data_root_of(&app.names));
            disk.insert(app.names.id.clone(), (std::time::Instant::now(), bytes));
            bytes
        });
        entry_with_disk(app, bytes)
    }

    /// Every app the launcher can list: the ones this process knows ([`crate::known`]), then
    /// the ones the registry it fetched adds, which the next start will know too.
    fn apps_known(&self) -> Vec<KnownApp> {
        let mut apps = crate::known().to_vec();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((url, registry)) = registry.as_ref() {
            let ids: Vec<String> = apps.iter().map(|app| app.names.id.clone()).collect();
            apps.extend(
                crate::fetched::fetched_apps(crate::carried(), url, registry)
                    .into_iter()
                    .filter(|app| !ids.contains(&app.names.id)),
            );
        }
        apps
    }

    /// The app `id`, from [`Launcher::apps_known`].
    fn app(&self, id: &str) -> Option<KnownApp> {
        self.apps_known().into_iter().find(|app| app.names.id == id)
    }

    fn view(&self) -> LauncherView {
        let installs = self
            .installs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut entries = Vec::new();
        for app in &self.apps_known() {
            let id = &app.names.id;
            let installed = self.apps.iter().any(|listed| listed.names.id == *id)
                || installed_version(&crate::resolve_data_root_of(&app.names)).is_some();
            if installed && !matches!(installs.get(id), Some(Install::Running { .. })) {
                entries.push(self.entry(app));
                continue;
            }
            // Not here yet: offered when the registry lists it.
            let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
            let Some(listed) = registry.as_ref().and_then(|(_, registry)| registry.app(id)) else {
                continue;
            };
            let status = match installs.get(id) {
                Some(Install::Running { words }) => words.clone(),
                Some(Install::Failed { message }) => format!("Could not install: {message}"),
                None => "Available to install".to_owned(),
            };
            entries.push(Entry {
                id: id.clone(),
                product_name: app.names.product_name.clone(),
                version: Some(listed.version.to_string()),
                status,
                disk_bytes: 0,
                disk: human_size(0),
                installed: false,
            });
        }
        LauncherView {
            entries,
            registry_problem: self
                .registry_problem
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

/// The launcher page's view.
#[tauri::command]
pub fn launcher_state(launcher: State<'_, Arc<Launcher>>) -> LauncherView {
    launcher.view()
}

/// "Install" on a row the registry offers: the app's engine is downloaded, verified and
/// installed into its data folder in the background; the row says how far it got.
#[tauri::command]
pub fn install_app(launcher: State<'_, Arc<Launcher>>, id: String) -> Result<(), String> {
    let Some(app) = launcher.app(&id) else {
        return Err(format!(
            "there is no app `{id}` in this shell or the list of apps"
        ));
    };
    let index_url = {
        let registry = launcher.registry.lock().unwrap_or_else(|p| p.into_inner());
        let (url, registry) = registry
            .as_ref()
            .ok_or("the list of apps could not be read; try again later")?;
        let listed = registry
            .app(&id)
            .ok_or_else(|| format!("{} is not offered on this channel", app.names.product_name))?;
        updater::registry::index_url(url, listed).map_err(|error| error.to_string())?
    };
    {
        let mut installs = launcher.installs.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(installs.get(&id), Some(Install::Running { .. })) {
            return Ok(());
        }
        installs.insert(
            id.clone(),
            Install::Running {
                words: "Installing: checking the latest engine…".to_owned(),
            },
        );
    }
    launcher
        .log
        .line(&format!("installing {id} from {index_url}"));
    let launcher = Arc::clone(&launcher);
    std::thread::Builder::new()
        .name("launcher-install".into())
        .spawn(move || {
            let result = install(&launcher, &app, &index_url);
            let mut installs = launcher.installs.lock().unwrap_or_else(|p| p.into_inner());
            match result {
                Ok(version) => {
                    launcher
                        .log
                        .line(&format!("installed {} engine {version}", app.names.id));
                    installs.remove(&app.names.id);
                }
                Err(message) => {
                    launcher
                        .log
                        .line(&format!("installing {} failed: {message}", app.names.id));
                    installs.insert(app.names.id.clone(), Install::Failed { message });
                }
            }
        })
        .map_err(|error| format!("could not start the install: {error}"))?;
    Ok(())
}

/// Installs `app`'s engine from `index_url` into its data folder and makes it current; the
/// installed version.
fn install(launcher: &Launcher, app: &KnownApp, index_url: &str) -> Result<String, String> {
    let key = crate::built_in::update_key().ok_or("this copy was built without an update key")?;
    let channel = crate::built_in::channel().ok_or("this copy was built for no channel")?;
    let data_root = crate::resolve_data_root_of(&app.names);
    let mut store = updater::Store::open(&data_root.join("runtime"), crate::HOST_TARGET)
        .map_err(|error| error.to_string())?;
    let source = updater::UpdateSource {
        index_url: index_url.to_owned(),
        public_key: key,
        channel,
        app_id: app.names.identifier.clone(),
    };
    let preference = crate::compute_choice::preference(&data_root);
    let shell_version =
        semver::Version::parse(env!("CARGO_PKG_VERSION")).expect("the shell's version is semver");
    let set_words = |words: String| {
        launcher
            .installs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(app.names.id.clone(), Install::Running { words });
    };
    let outcome = updater::check_and_install(
        &mut store,
        &source,
        &shell_version,
        &updater::Options::default(),
        &mut |index| {
            crate::compute_choice::choose_from_index(&data_root, index, &preference)
                .map(|choice| choice.variant)
        },
        &mut |stage| match stage {
            updater::Stage::CheckingIndex => {}
            updater::Stage::Downloading {
                downloaded, total, ..
            } => set_words(format!(
                "Installing: downloading {} of {}…",
                human_size(downloaded),
                human_size(total)
            )),
            updater::Stage::Installing { done, total, .. } => set_words(format!(
                "Installing: unpacking and checking ({}%)…",
                (done * 100).checked_div(total).unwrap_or(0)
            )),
        },
    )
    .map_err(|error| error.to_string())?;
    // The app is not running (it was not installed): its engine becomes current now, as its
    // first start would make it.
    store.settle().map_err(|error| error.to_string())?;
    Ok(match outcome {
        updater::Outcome::Installed { version, .. }
        | updater::Outcome::UpToDate { version }
        | updater::Outcome::KnownBad { version } => version.to_string(),
    })
}

/// The registry's URL: the primary app's `<PREFIX>_REGISTRY_URL`, else
/// `<release URL>/apps-<channel>.json`; `None` when this build has neither.
fn registry_url() -> Option<String> {
    let over = crate::carried()[0]
        .names
        .var(runtime_spec::env::REGISTRY_URL);
    if let Some(url) = std::env::var(over)
        .ok()
        .filter(|url| !url.trim().is_empty())
    {
        return Some(url);
    }
    let base = crate::built_in::release_base_url().trim_end_matches('/');
    let channel = crate::built_in::channel()?;
    (!base.is_empty()).then(|| {
        format!(
            "{base}/{}",
            runtime_spec::registry::registry_file_name(channel)
        )
    })
}

/// Fetches and verifies the registry in the background; its `published_at` is remembered in the
/// primary app's data folder, so an older registry is never accepted again here.
fn fetch_registry(launcher: Arc<Launcher>) {
    let Some(url) = registry_url() else {
        return;
    };
    let (Some(public_key), Some(channel)) =
        (crate::built_in::update_key(), crate::built_in::channel())
    else {
        return;
    };
    std::thread::spawn(move || {
        let seen_file = crate::resolve_data_root_of(&crate::carried()[0].names)
            .join("runtime")
            .join("registry-seen.txt");
        let newest_seen = std::fs::read_to_string(&seen_file)
            .ok()
            .and_then(|text| text.trim().parse().ok());
        let source = updater::registry::RegistrySource {
            url: url.clone(),
            public_key,
            channel,
        };
        match updater::registry::fetch_verified_raw(&source, newest_seen) {
            Ok((registry, json, signature)) => {
                launcher.log.line(&format!(
                    "registry {url}: {} apps, published {}",
                    registry.apps.len(),
                    registry.published_at
                ));
                if let Some(parent) = seen_file.parent() {
                    let _ = supervisor::private::create_private_dir(parent);
                }
                let _ = std::fs::write(&seen_file, format!("{}\n", registry.published_at));
                // Kept for the next starts: an app it lists that this shell does not carry is
                // then known to them (`fetched`).
                if let Err(error) =
                    crate::fetched::save(&crate::fetched::cache_dir(), &url, &json, &signature)
                {
                    launcher
                        .log
                        .line(&format!("could not keep the registry: {error}"));
                }
                *launcher.registry.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((url, registry));
            }
            Err(error) => {
                launcher
                    .log
                    .line(&format!("registry {url} refused or unreachable: {error}"));
                *launcher
                    .registry_problem
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(format!(
                    "The list of apps to install could not be read ({error})."
                ));
            }
        }
    });
}

/// "Open" on a row: the app starts in its own process; the launcher stays.
#[tauri::command]
pub fn open_app(launcher: State<'_, Arc<Launcher>>, id: String) -> Result<(), String> {
    let Some(app) = launcher.app(&id).filter(|app| {
        launcher.apps.iter().any(|listed| listed.names.id == id)
            || installed_version(&crate::resolve_data_root_of(&app.names)).is_some()
    }) else {
        return Err(format!("{id} is not an app installed here"));
    };
    let exe = std::env::current_exe()
        .map_err(|error| format!("cannot find this program to start {id}: {error}"))?;
    let child = Command::new(&exe)
        .arg(crate::APP_ARG)
        .arg(&app.names.id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| format!("{} could not be started: {error}", app.names.product_name))?;
    launcher
        .log
        .line(&format!("opened {id} (pid {})", child.id()));
    // The app runs on when the launcher closes; its exit status is its own business.
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
    Ok(())
}

/// The launcher's log file, in the primary app's logs folder.
pub const LOG_FILE_NAME: &str = "launcher.log";
/// Its cap: a line per start and per app opened.
const LOG_MAX_BYTES: u64 = 256 * 1024;

/// The primary app's logs folder, where `launcher.log` goes.
pub fn logs_dir() -> PathBuf {
    crate::resolve_data_root_of(&crate::carried()[0].names).join("logs")
}

/// Runs the launcher window until it is closed.
pub fn run(apps: Vec<&'static KnownApp>) {
    let log = ShellLog::open_file(&logs_dir(), LOG_FILE_NAME, LOG_MAX_BYTES);
    let ids: Vec<&str> = apps.iter().map(|app| app.names.id.as_str()).collect();
    log.line(&format!(
        "launcher {} starting: {}",
        env!("CARGO_PKG_VERSION"),
        ids.join(", ")
    ));
    let launcher = Arc::new(Launcher {
        apps,
        registry: Mutex::new(None),
        registry_problem: Mutex::new(None),
        installs: Mutex::new(HashMap::new()),
        disk: Mutex::new(HashMap::new()),
        log,
    });
    fetch_registry(Arc::clone(&launcher));
    let primary = &crate::carried()[0].names;
    let mut identifier = primary.identifier.clone();
    identifier.push_str(".launcher");
    let mut context = crate::context_for(primary);
    context.config_mut().identifier = identifier;
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            if let Some(window) = app.get_webview_window(WINDOW) {
                let _ = window.unminimize();
                let _ = window.show();
                let _ = window.set_focus();
            }
        }))
        .manage(Arc::clone(&launcher))
        .invoke_handler(tauri::generate_handler![
            launcher_state,
            open_app,
            install_app
        ])
        .setup(|app| {
            tauri::WebviewWindowBuilder::new(
                app,
                WINDOW,
                tauri::WebviewUrl::App("launcher.html".into()),
            )
            .title("Apps")
            .inner_size(760.0, 560.0)
            .min_inner_size(480.0, 360.0)
            .on_navigation(|url| {
                url.scheme() == "tauri" || url.host_str() == Some("tauri.localhost")
            })
            .build()?;
            Ok(())
        })
        .build(context)
        .expect("the window system could not be started (is a display available?)");
    app.run(move |_app, event| {
        if let tauri::RunEvent::Exit = event {
            launcher.log.line("launcher exiting");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engine_counts_as_installed_in_either_slot_and_hard_links_count_once() {
        let data = tempfile::tempdir().unwrap();
        assert_eq!(installed_version(data.path()), None);
        assert_eq!(disk_usage(&data.path().join("missing")), 0);
        let default = data.path().join("runtime").join("default");
        std::fs::create_dir_all(&default).unwrap();
        std::fs::write(default.join(layout::VERSION_FILE), "0.1.0\n").unwrap();
        assert_eq!(installed_version(data.path()).as_deref(), Some("0.1.0"));
        let current = data.path().join("runtime").join("current");
        std::fs::create_dir_all(&current).unwrap();
        std::fs::write(current.join(layout::VERSION_FILE), "0.2.0\n").unwrap();
        assert_eq!(installed_version(data.path()).as_deref(), Some("0.2.0"));

        let before = disk_usage(data.path());
        std::fs::write(default.join("big"), vec![0u8; 10_000]).unwrap();
        assert_eq!(disk_usage(data.path()), before + 10_000);
        std::fs::hard_link(default.join("big"), current.join("big")).unwrap();
        let expected = if cfg!(unix) {
            before + 10_000
        } else {
            before + 20_000
        };
        assert_eq!(disk_usage(data.path()), expected);
    }
}
