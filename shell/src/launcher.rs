//! The launcher: with more than one app installed on this computer, the shell opens on a list
//! of them (name, engine version and state, disk used) and opens the chosen one in a process of
//! its own (`<shell> --app <id>`), which is then that app's shell exactly as if it were the only
//! one: its own data folder, engine, updates and single-instance hand-off. One app's broken
//! engine therefore never touches another's, and closing the launcher closes no app.
//!
//! An app is installed when it is the shell's primary app (the one its installer installed) or
//! when its data folder holds an engine (`runtime/current` or `runtime/default`): another
//! app's installer, or an earlier run, put it there.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use runtime_spec::layout;
use serde::Serialize;
use tauri::{Manager, State};

use crate::shell_log::ShellLog;
use crate::KnownApp;

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
}

/// What the launcher page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LauncherView {
    pub entries: Vec<Entry>,
}

/// The launcher's state: the apps it lists and where it logs.
pub struct Launcher {
    apps: Vec<&'static KnownApp>,
    log: ShellLog,
}

/// The installed apps, the primary one first.
pub fn installed_apps() -> Vec<&'static KnownApp> {
    crate::carried()
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

/// The row of one app.
pub fn entry(app: &KnownApp) -> Entry {
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
    let disk_bytes = disk_usage(&data_root);
    Entry {
        id: app.names.id.clone(),
        product_name: app.names.product_name.clone(),
        version,
        status,
        disk_bytes,
        disk: human_size(disk_bytes),
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

/// The launcher page's view.
#[tauri::command]
pub fn launcher_state(launcher: State<'_, Arc<Launcher>>) -> LauncherView {
    LauncherView {
        entries: launcher.apps.iter().map(|app| entry(app)).collect(),
    }
}

/// "Open" on a row: the app starts in its own process; the launcher stays.
#[tauri::command]
pub fn open_app(launcher: State<'_, Arc<Launcher>>, id: String) -> Result<(), String> {
    let Some(app) = launcher.apps.iter().find(|app| app.names.id == id) else {
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
    let launcher = Arc::new(Launcher { apps, log });
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
        .invoke_handler(tauri::generate_handler![launcher_state, open_app])
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
