//! Stage 5, app: the engine packages copied into `runtime/app/` and precompiled.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use runtime_spec::layout;

use crate::plan::App;
use crate::{bytecode, fsutil, ui};

/// Copies the app's engine packages and the shared ones it names (no tests, no caches) into
/// `<build>/app` and compiles them; reused while their sources are unchanged.
pub fn prepare(app: &App, root: &Path, build_dir: &Path, host_python: &Path) -> Result<PathBuf> {
    let dir = build_dir.join("app");
    let stamp_file = build_dir.join("app.stamp");
    let packages = app.packages(root);
    for (_, source) in &packages {
        if !source.join("__init__.py").is_file() {
            bail!(
                "{} is not a Python package (no __init__.py): fix `engine.packages` or `engine.shared` in {}",
                source.display(),
                app.dir.join(runtime_spec::app::APP_FILE).display()
            );
        }
    }
    let roots: Vec<&Path> = packages
        .iter()
        .map(|(_, source)| source.as_path())
        .collect();
    let stamp = fsutil::hash_tree(&roots, root, &|path| is_shipped(path))?;
    if fsutil::stamp_matches(&stamp_file, &stamp) && dir.is_dir() {
        ui::step(
            "app",
            "reusing the compiled engine packages (sources unchanged)",
        );
        return Ok(dir);
    }
    ui::step(
        "app",
        &format!(
            "copying {} of {}",
            packages
                .iter()
                .map(|(name, _)| name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            app.names.id
        ),
    );
    let staging = fsutil::fresh_sibling(&dir)?;
    for (package, source) in &packages {
        fsutil::copy_tree(source, &staging.join(package), &|relative| {
            is_shipped(relative)
        })?;
    }
    bytecode::compile_tree(host_python, &staging, layout::APP_DIR)?;
    fsutil::replace_dir(&staging, &dir)?;
    fsutil::write_stamp(&stamp_file, &stamp)?;
    Ok(dir)
}

/// Caches and compiled files are rebuilt, and tests are not part of the app.
fn is_shipped(path: &Path) -> bool {
    !path.components().any(|part| {
        let part = part.as_os_str().to_string_lossy();
        part == "__pycache__" || part == "tests" || part.ends_with(".pyc")
    })
}
