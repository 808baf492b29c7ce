//! Atomic runtime installation: check space → extract into a staging folder, writing only what
//! the archive's manifest lists, and verify every file against it → promote by rename. Never a
//! half runtime. The folder this works in is described in `docs/runtime-contract.md` ("The
//! runtimes folder").

use std::path::{Path, PathBuf};

use runtime_spec::{Manifest, Target};

use crate::error::{Error, Result};
use crate::{extract_runtime, free_space, Declared};

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

/// Extracts the runtime `archive` into `staging` (absent or empty), checking its manifest is
/// for `target` before anything else is written and every file against it:
/// [`extract_runtime`] with nothing declared beyond the archive, whose own manifest then
/// bounds what is written. On error `staging` is emptied (removed when this created it); the
/// caller promotes it on success ([`install_archive`] does; the updater names its own staging
/// folder).
pub fn extract_and_verify(archive: &Path, staging: &Path, target: Target) -> Result<Manifest> {
    extract_runtime(archive, staging, target, &Declared::default())
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
