//! `cargo xtask verify <dir|archive>`: checks a runtime against its manifest, offline.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::{assemble, ui};

/// Verifies a runtime folder or archive; the error names every missing, extra or modified file.
pub fn verify(path: &Path) -> Result<()> {
    let report = if path.is_dir() {
        let manifest = assemble::read_manifest(path)?;
        runtime_archive::verify_dir(path, &manifest)
    } else if path.is_file() {
        runtime_archive::verify_archive(path)
            .with_context(|| format!("verifying {}", path.display()))?
    } else {
        bail!(
            "{} does not exist: pass a runtime folder or a .tar.zst archive",
            path.display()
        );
    };
    if !report.is_ok() {
        bail!("{} does not match its manifest:\n{report}", path.display());
    }
    ui::summary(&format!("ok: {} matches its manifest", path.display()));
    Ok(())
}
