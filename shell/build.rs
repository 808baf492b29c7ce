//! Tauri build step: embeds the config, the splash UI and the access control list.

fn main() {
    // Listing the app's commands makes Tauri generate `allow-<command>` permissions and, more
    // importantly, stop allowing every command by default: each window origin gets exactly
    // what `capabilities/*.json` grants.
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(
        tauri_build::AppManifest::new().commands(&[
            "shell_state",
            "retry",
            "use_previous_runtime",
            "install_runtime",
            "open_logs_folder",
            "open_artifacts_folder",
            "open_crash_report",
            "open_data_folder",
            "open_downloads_folder",
            "export_diagnostics",
            "remove_old_engines",
            "use_cpu_engine",
            "set_compute_engine",
            "self_test_report",
        ]),
    ))
    .expect("tauri-build failed; see the message above");
}
