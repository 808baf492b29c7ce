//! Stage 5, app: the engine packages copied into `runtime/app/` and precompiled.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use runtime_spec::layout;

use crate::{bytecode, fsutil, ui};

/// Copies `app/`, `tokenizer/`, `templates/` (no tests, no caches) into `<build>/app` and
/// compiles them; reused while their sources are unchanged.
pub fn prepare(api_dir: &Path, build_dir: &Path, host_python: &Path) -> Result<PathBuf> {
    let dir = build_dir.join("app");
    let stamp_file = build_dir.join("app.stamp");
    let sources: Vec<PathBuf> = layout::APP_PACKAGES
        .iter()
        .map(|package| api_dir.join(package))
        .collect();
    for source in &sources {
        if !source.join("__init__.py").is_file() {
            bail!(
                "{} is not a Python package (no __init__.py): the engine layout changed",
                source.display()
            );
        }
    }
    let roots: Vec<&Path> = sources.iter().map(PathBuf::as_path).collect();
    let stamp = fsutil::hash_tree(&roots, api_dir, &|path| is_shipped(path))?;
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
            "copying {} from {}",
            layout::APP_PACKAGES.join(", "),
            api_dir.display()
        ),
    );
    let staging = fsutil::fresh_sibling(&dir)?;
    for (package, source) in layout::APP_PACKAGES.iter().zip(&sources) {
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
