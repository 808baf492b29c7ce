//! Tauri build step: embeds the config, the splash UI and the access control list, and the apps
//! the shell carries.
//!
//! The primary app, the one the shell is built and installed as, is `XTASK_SHELL_APP` (the path
//! of an `apps/<id>/app.toml`, set by `cargo xtask` when it builds the shell for an app), else the
//! workspace's default app (`[workspace.metadata.apps] default` in the root Cargo.toml). Its
//! names and icons replace the placeholders of `tauri.conf.json` through `TAURI_CONFIG`, the JSON
//! merge patch both tauri-build and `tauri::generate_context!` apply. Every app's descriptor and
//! self-test steps are copied into `OUT_DIR` and listed in `carried_apps.rs`, primary first.

use std::path::{Path, PathBuf};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the shell sits in the workspace")
        .to_owned();
    let default_id = default_app_id(&root);
    let primary_path = primary_descriptor_path(&root, &default_id);
    println!("cargo:rerun-if-env-changed=XTASK_SHELL_APP");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));

    // Every app of the workspace is carried (its descriptor and self-test steps, a few KB): the
    // launcher lists those installed on this computer. The primary one comes first.
    let mut paths = vec![primary_path.clone()];
    let apps_dir = root.join("apps");
    println!("cargo:rerun-if-changed={}", apps_dir.display());
    let mut others: Vec<PathBuf> = std::fs::read_dir(&apps_dir)
        .expect("reading apps/")
        .filter_map(|entry| entry.ok().map(|entry| entry.path().join("app.toml")))
        .filter(|path| path.is_file())
        .filter(|path| !same_file(path, &primary_path))
        .collect();
    others.sort();
    paths.extend(others);

    let mut carried = String::from("&[\n");
    let mut primary = None;
    for (index, path) in paths.iter().enumerate() {
        println!("cargo:rerun-if-changed={}", path.display());
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
        let app = runtime_spec::AppDescriptor::parse(&text, &path.display().to_string())
            .unwrap_or_else(|error| panic!("{error}"));
        let app_dir = path.parent().expect("a descriptor sits in its app folder");
        let descriptor_copy = out_dir.join(format!("app-{index}.toml"));
        std::fs::write(&descriptor_copy, &text).expect("writing into OUT_DIR");
        let self_test = app_dir.join(&app.self_test);
        println!("cargo:rerun-if-changed={}", self_test.display());
        let self_test_copy = out_dir.join(format!("self-test-{index}.js"));
        std::fs::copy(&self_test, &self_test_copy)
            .unwrap_or_else(|error| panic!("copying {}: {error}", self_test.display()));
        // Where the app's release sits under the release URL: the default app's at it, another
        // app's one folder down.
        let release_folder =
            runtime_spec::layout::app_release_folder(&app.id, app.id == default_id);
        carried.push_str(&format!(
            "    crate::CarriedApp {{ descriptor: include_str!({:?}), self_test: include_str!({:?}), release_folder: {:?} }},\n",
            descriptor_copy.display().to_string(),
            self_test_copy.display().to_string(),
            release_folder
        ));
        if index == 0 {
            primary = Some((app, app_dir.to_owned()));
        }
    }
    carried.push(']');
    std::fs::write(out_dir.join("carried_apps.rs"), carried).expect("writing into OUT_DIR");

    let (app, app_dir) = primary.expect("the primary app is first");
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
            "launcher_state",
            "open_app",
            "install_app",
        ]),
    ))
    .expect("tauri-build failed; see the message above");
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// `XTASK_SHELL_APP`, else the workspace default's descriptor.
fn primary_descriptor_path(root: &Path, default_id: &str) -> PathBuf {
    if let Some(path) = std::env::var_os("XTASK_SHELL_APP").filter(|path| !path.is_empty()) {
        return PathBuf::from(path);
    }
    root.join("apps")
        .join(default_id)
        .join(runtime_spec::app::APP_FILE)
}

/// `[workspace.metadata.apps] default` of the root Cargo.toml.
fn default_app_id(root: &Path) -> String {
    let manifest_path = root.join("Cargo.toml");
    println!("cargo:rerun-if-changed={}", manifest_path.display());
    let manifest: toml::Value = toml::from_str(
        &std::fs::read_to_string(&manifest_path).expect("reading the workspace Cargo.toml"),
    )
    .expect("the workspace Cargo.toml parses");
    manifest["workspace"]["metadata"]["apps"]["default"]
        .as_str()
        .expect("the workspace Cargo.toml names [workspace.metadata.apps] default")
        .to_owned()
}
