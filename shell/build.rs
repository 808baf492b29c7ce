//! Tauri build step: embeds the config, the splash UI and the access control list, and the app
//! the shell is built for.
//!
//! The app is `XTASK_SHELL_APP` (the path of an `apps/<id>/app.toml`, set by `cargo xtask` when
//! it builds the shell for an app), else the workspace's default app
//! (`[workspace.metadata.apps] default` in the root Cargo.toml). Its descriptor is copied into
//! `OUT_DIR` for the shell to include, and its names and icons replace the placeholders of
//! `tauri.conf.json` through `TAURI_CONFIG`, the JSON merge patch both tauri-build and
//! `tauri::generate_context!` apply.

use std::path::{Path, PathBuf};

fn main() {
    let descriptor_path = app_descriptor_path();
    println!("cargo:rerun-if-env-changed=XTASK_SHELL_APP");
    println!("cargo:rerun-if-changed={}", descriptor_path.display());
    let text = std::fs::read_to_string(&descriptor_path)
        .unwrap_or_else(|error| panic!("reading {}: {error}", descriptor_path.display()));
    let app = runtime_spec::AppDescriptor::parse(&text, &descriptor_path.display().to_string())
        .unwrap_or_else(|error| panic!("{error}"));
    let app_dir = descriptor_path.parent().expect("a descriptor sits in its app folder");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out_dir.join("app.toml"), &text).expect("writing OUT_DIR/app.toml");
    let self_test = app_dir.join(&app.self_test);
    println!("cargo:rerun-if-changed={}", self_test.display());
    std::fs::copy(&self_test, out_dir.join("self_test_app.js"))
        .unwrap_or_else(|error| panic!("copying {}: {error}", self_test.display()));

    let icon = |relative: &str| -> String {
        let path = app_dir.join(relative);
        println!("cargo:rerun-if-changed={}", path.display());
        path.display().to_string()
    };
    let patch = serde_json::json!({
        "productName": app.product_name,
        "mainBinaryName": app.id,
        "identifier": app.identifier,
        "bundle": { "icon": [icon(&app.icons.png), icon(&app.icons.ico)] },
    });
    let patch = patch.to_string();
    // For tauri-build below (it reads the variable from this process) and for the
    // `generate_context!` macro when the crate compiles.
    std::env::set_var("TAURI_CONFIG", &patch);
    println!("cargo:rustc-env=TAURI_CONFIG={patch}");

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

/// `XTASK_SHELL_APP`, else the workspace default's descriptor.
fn app_descriptor_path() -> PathBuf {
    if let Some(path) = std::env::var_os("XTASK_SHELL_APP").filter(|path| !path.is_empty()) {
        return PathBuf::from(path);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the shell sits in the workspace")
        .to_owned();
    let manifest_path = root.join("Cargo.toml");
    println!("cargo:rerun-if-changed={}", manifest_path.display());
    let manifest: toml::Value = toml::from_str(
        &std::fs::read_to_string(&manifest_path).expect("reading the workspace Cargo.toml"),
    )
    .expect("the workspace Cargo.toml parses");
    let id = manifest["workspace"]["metadata"]["apps"]["default"]
        .as_str()
        .expect("the workspace Cargo.toml names [workspace.metadata.apps] default");
    root.join("apps").join(id).join(runtime_spec::app::APP_FILE)
}
