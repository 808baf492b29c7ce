//! Atomic runtime installation: check space → extract into a staging folder → verify every
//! file against the manifest → promote by rename. Never a half runtime. The folder this works
//! in is described in `docs/runtime-contract.md` ("The runtimes folder").

use std::path::{Path, PathBuf};

use runtime_spec::{layout, Manifest, Target};

use crate::error::{Error, Result};
use crate::{extract_archive, free_space, verify_dir};

/// Unpacked runtimes are a few times their `.tar.zst`; refuse early rather than fill the disk.
const UNPACK_FACTOR: u64 = 6;
/// Space kept free for the user's own data after an install.
const MARGIN_BYTES: u64 = 200 * 1024 * 1024;

/// What [`install_archive`] installed.
#[derive(Debug, Clone)]
pub struct InstallReport {
    /// `<runtimes_dir>/<name>`.
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// Installs `archive` as `<runtimes_dir>/<name>` (e.g. `runtime/default`). The archive is
/// extracted into `<runtimes_dir>/staging-<name>-<pid>`, checked file by file against its
/// `manifest.json` and for `target`, then renamed into place; a runtime already at `<name>`
/// is replaced only after the new one verified. On any error nothing at `<name>` changes and
/// the staging folder is removed.
pub fn install_archive(
    archive: &Path,
    runtimes_dir: &Path,
    name: &str,
    target: Target,
) -> Result<InstallReport> {
    fs_err::create_dir_all(runtimes_dir).map_err(|source| Error::io(runtimes_dir, source))?;
    let archive_size = fs_err::metadata(archive)
        .map_err(|source| Error::io(archive, source))?
        .len();
    let needed = archive_size * UNPACK_FACTOR + MARGIN_BYTES;
    let available = free_space(runtimes_dir).map_err(|source| Error::io(runtimes_dir, source))?;
    if available < needed {
        return Err(Error::NotEnoughSpace {
            dir: runtimes_dir.to_path_buf(),
            needed,
            available,
        });
    }
    let staging = runtimes_dir.join(format!("staging-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let result = extract_and_verify(archive, &staging, target).and_then(|manifest| {
        let dest = runtimes_dir.join(name);
        promote(&staging, &dest)?;
        Ok(InstallReport {
            dir: dest,
            manifest,
        })
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

/// Extracts `archive` into `staging` (absent or empty), then checks its `manifest.json` is for
/// `target` and every file matches it. The caller removes `staging` on error and promotes it
/// on success ([`install_archive`] does both; the updater names its own staging folder).
pub fn extract_and_verify(archive: &Path, staging: &Path, target: Target) -> Result<Manifest> {
    extract_archive(archive, staging)?;
    let manifest_path = staging.join(layout::MANIFEST_FILE);
    let bytes = fs_err::read(&manifest_path).map_err(|_| Error::ManifestMissing {
        archive: archive.to_path_buf(),
    })?;
    let manifest = Manifest::from_json(&bytes).map_err(|source| Error::ManifestInvalid {
        path: manifest_path.clone(),
        source,
    })?;
    if manifest.target != target {
        return Err(Error::WrongTarget {
            archive: archive.to_path_buf(),
            expected: target,
            found: manifest.target,
        });
    }
    let report = verify_dir(staging, &manifest);
    if !report.is_ok() {
        return Err(Error::VerifyFailed {
            dir: staging.to_path_buf(),
            report: report.to_string(),
        });
    }
    Ok(manifest)
}

/// Two renames: the old runtime (if any) moves aside, the new one moves in, the old is removed.
fn promote(staging: &Path, dest: &Path) -> Result<()> {
    let parent = dest.parent().expect("runtime folder has a parent");
    let name = dest
        .file_name()
        .expect("runtime folder has a name")
        .to_string_lossy();
    let aside = parent.join(format!(".{name}.replaced-{}", std::process::id()));
    if dest.exists() {
        fs_err::rename(dest, &aside).map_err(|source| Error::io(dest, source))?;
    }
    if let Err(source) = fs_err::rename(staging, dest) {
        // Put the old runtime back: a failed promotion must leave what worked.
        if aside.exists() {
            let _ = std::fs::rename(&aside, dest);
        }
        return Err(Error::io(dest, source));
    }
    let _ = std::fs::remove_dir_all(&aside);
    Ok(())
}
