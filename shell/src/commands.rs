//! The native commands. Thin: each checks who may call it and hands over to `app`.
//!
//! The splash page (bundled, local origin) may call the error screens' actions; the engine's
//! page (`http://127.0.0.1:*`) may call only `open_artifacts_folder`, `open_data_folder`,
//! `open_downloads_folder`, `open_crash_report`, `remove_old_engines` and `set_compute_engine`,
//! and each of those also checks the caller is the current engine's exact origin: see
//! `capabilities/`.

use std::sync::Arc;

use tauri::{AppHandle, Manager as _, State, Webview};

use crate::app::{self, Shell};
use crate::opener;
use crate::state::Input;
use crate::view::View;

/// The splash's current view; it then follows the `shell-state` event.
#[tauri::command]
pub fn shell_state(shell: State<'_, Arc<Shell>>) -> View {
    shell.current_view()
}

/// "Retry" on an error screen.
#[tauri::command]
pub fn retry(app: AppHandle) -> Result<(), String> {
    app::start_over(&app, Input::Retry)
}

/// "Use previous runtime" on a crash screen.
#[tauri::command]
pub fn use_previous_runtime(app: AppHandle) -> Result<(), String> {
    app::use_previous(&app)
}

/// "Download and install the engine" on the no-runtime screen (thin builds).
#[tauri::command]
pub fn install_runtime(app: AppHandle) -> Result<(), String> {
    app::request_install(&app)
}

/// "Use the CPU engine" on a GPU engine's crash screen.
#[tauri::command]
pub fn use_cpu_engine(app: AppHandle) -> Result<(), String> {
    app::use_cpu_engine(&app)
}

/// "About this computer"'s GPU/CPU setting (`auto`, `gpu` or `cpu`). Like
/// `open_artifacts_folder`, only the current engine's exact origin may ask.
#[tauri::command]
pub fn set_compute_engine(
    app: AppHandle,
    webview: Webview,
    shell: State<'_, Arc<Shell>>,
    device: String,
) -> Result<String, String> {
    require_engine_origin(&webview, &shell, "set_compute_engine")
        .map_err(|()| "This page may not change the engine.".to_owned())?;
    let device: compute::DevicePreference =
        serde_json::from_value(serde_json::Value::from(device.as_str()))
            .map_err(|_| format!("`{device}` is not a compute setting: use auto, gpu or cpu."))?;
    app::set_compute_engine(&app, device)
}

/// "Export diagnostics" on every error screen: writes the shell's diagnostics zip into the
/// Downloads folder and says where.
#[tauri::command]
pub fn export_diagnostics(app: AppHandle, shell: State<'_, Arc<Shell>>) -> Result<String, String> {
    let folder = crate::downloads::downloads_dir(&app)
        .ok_or_else(|| "This system has no Downloads folder.".to_owned())?;
    let home = tauri::Manager::path(&app).home_dir().ok();
    let screen = shell.current_view();
    match crate::diagnostics::export(&shell.data_root, &folder, &screen, home.as_deref()) {
        Ok(path) => {
            shell
                .log
                .line(&format!("diagnostics exported to {}", path.display()));
            Ok(format!("Saved {}.", path.display()))
        }
        Err(error) => {
            shell
                .log
                .line(&format!("could not export diagnostics: {error}"));
            Err(format!(
                "The diagnostics could not be saved in {} ({error}).",
                folder.display()
            ))
        }
    }
}

/// "Open logs folder" on a crash screen.
#[tauri::command]
pub fn open_logs_folder(shell: State<'_, Arc<Shell>>) -> Result<(), String> {
    shell.log.line("opening the logs folder");
    opener::open_folder(&shell.logs_dir())
}

/// The web UI's "Open folder" button. The capability lets any `http://127.0.0.1:*` page ask,
/// so the command also insists the caller is the current engine's exact origin (another
/// local server the window was somehow sent to must not get it).
#[tauri::command]
pub fn open_artifacts_folder(webview: Webview, shell: State<'_, Arc<Shell>>) -> Result<(), String> {
    require_engine_origin(&webview, &shell, "open_artifacts_folder")
        .map_err(|()| "This page may not open folders.".to_owned())?;
    shell.log.line("opening the artifacts folder");
    opener::open_folder(&shell.artifacts_dir())
}

/// The self-test script's result (`self_test`). Refused unless this process was started with
/// `--self-test`, and then from any page but the current engine's exact origin; the first
/// result ends the run through the normal exit path.
#[tauri::command]
pub fn self_test_report(
    handle: AppHandle,
    webview: Webview,
    shell: State<'_, Arc<Shell>>,
    report: serde_json::Value,
) -> Result<(), String> {
    let Some(test) = handle.try_state::<Arc<crate::self_test::SelfTest>>() else {
        shell
            .log
            .line("refused self_test_report: not started with --self-test");
        return Err("This app was not started as a self-test.".to_owned());
    };
    require_engine_origin(&webview, &shell, "self_test_report")
        .map_err(|()| "This page may not report a self-test.".to_owned())?;
    shell.log.line(&format!(
        "self-test page result: {}",
        if report["ok"] == serde_json::Value::Bool(true) {
            "passed".to_owned()
        } else {
            format!("failed in {}: {}", report["step"], report["message"])
        }
    ));
    test.page_report(report);
    crate::self_test::exit_when_decided(&handle);
    Ok(())
}

/// "Open folder" beside the data folder in "About this computer". Only the current engine's
/// exact origin may ask.
#[tauri::command]
pub fn open_data_folder(webview: Webview, shell: State<'_, Arc<Shell>>) -> Result<(), String> {
    require_engine_origin(&webview, &shell, "open_data_folder")
        .map_err(|()| "This page may not open folders.".to_owned())?;
    shell.log.line("opening the data folder");
    opener::open_folder(&shell.data_root)
}

/// "Show in folder" on the banner saying where a download went. Only the current engine's
/// exact origin may ask.
#[tauri::command]
pub fn open_downloads_folder(webview: Webview, shell: State<'_, Arc<Shell>>) -> Result<(), String> {
    require_engine_origin(&webview, &shell, "open_downloads_folder")
        .map_err(|()| "This page may not open folders.".to_owned())?;
    let folder = crate::downloads::downloads_dir(&webview)
        .ok_or_else(|| "This system has no Downloads folder.".to_owned())?;
    shell.log.line("opening the downloads folder");
    opener::open_folder(&folder)
}

/// "Remove old engines" in "About this computer". Only the current engine's exact origin may
/// ask.
#[tauri::command]
pub fn remove_old_engines(
    webview: Webview,
    shell: State<'_, Arc<Shell>>,
) -> Result<String, String> {
    require_engine_origin(&webview, &shell, "remove_old_engines")
        .map_err(|()| "This page may not remove engines.".to_owned())?;
    app::remove_old_engines(&shell)
}

/// "Open the report" on the banner offering an earlier session's crash report: opens the
/// newest report in the logs folder. Only the current engine's exact origin may ask.
#[tauri::command]
pub fn open_crash_report(webview: Webview, shell: State<'_, Arc<Shell>>) -> Result<(), String> {
    require_engine_origin(&webview, &shell, "open_crash_report")
        .map_err(|()| "This page may not open files.".to_owned())?;
    let report = crate::crash::newest(&shell.logs_dir())
        .ok_or_else(|| "No crash report is left in the logs folder.".to_owned())?;
    shell
        .log
        .line(&format!("opening the crash report {}", report.display()));
    opener::open_file(&report)
}

/// The engine page's commands answer only the current engine's exact origin: the capability
/// lets any `http://127.0.0.1:*` page ask. A refusal is logged with the caller.
fn require_engine_origin(webview: &Webview, shell: &Shell, command: &str) -> Result<(), ()> {
    let caller = webview
        .url()
        .ok()
        .as_ref()
        .and_then(app::origin_of)
        .unwrap_or_default();
    if shell.is_engine_origin(&caller) {
        return Ok(());
    }
    shell
        .log
        .line(&format!("refused {command} from {caller:?}"));
    Err(())
}
