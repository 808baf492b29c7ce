//! The user's data folder is private: only its owner may list or read it.
//!
//! Uploads, training history and trained tokenizers are nobody else's business, and on a
//! shared Linux or macOS machine the default umask (022) would leave them readable by every
//! local user. Whoever touches the data root first (the shell's log, the runtime store, the
//! supervisor's `engine.log`, the engine itself) makes it 0700, and re-applies that on every
//! start, so a folder created by an older build or by hand is repaired too. Files the shell
//! side writes there are created 0600. Windows folders under `%APPDATA%` are already private
//! to the user through their inherited ACL, so nothing is changed there.

use std::fs::OpenOptions;
use std::io;
use std::path::Path;

/// Mode of every folder the app creates in the data root.
pub const PRIVATE_DIR_MODE: u32 = 0o700;
/// Mode of every file the app creates in the data root.
pub const PRIVATE_FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents, with the usual modes: they are not ours) and makes
/// `dir` itself 0700, also when it already existed.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs_err::create_dir_all(dir)?;
    set_private(dir)
}

/// Makes the data root private, then `sub` inside it: the order the shell, the store and the
/// supervisor need, since each may be the first to create anything under the root.
pub fn create_private_subdir(data_root: &Path, sub: &Path) -> io::Result<()> {
    create_private_dir(data_root)?;
    create_private_dir(sub)
}

#[cfg(unix)]
fn set_private(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs_err::metadata(dir)?.permissions().mode() & 0o7777;
    if mode != PRIVATE_DIR_MODE {
        fs_err::set_permissions(dir, std::fs::Permissions::from_mode(PRIVATE_DIR_MODE))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn set_private(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Options that create a file readable and writable by its owner only (append mode, the
/// way both logs write).
pub fn private_append_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(PRIVATE_FILE_MODE);
    }
    options
}

/// Options that create (or truncate) a file readable and writable by its owner only.
pub fn private_write_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.create(true).write(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(PRIVATE_FILE_MODE);
    }
    options
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs_err::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn an_existing_open_root_is_made_private_and_a_new_one_is_created_private() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().join("data");
        // What a default umask leaves behind: the shell used to create `<root>/logs` first.
        fs_err::create_dir_all(root.join("logs")).unwrap();
        fs_err::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_private_subdir(&root, &root.join("logs")).unwrap();
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join("logs")), 0o700);

        let fresh = temp.path().join("fresh").join("data");
        create_private_subdir(&fresh, &fresh.join("runtime")).unwrap();
        assert_eq!(mode(&fresh), 0o700);
        assert_eq!(mode(&fresh.join("runtime")), 0o700);
        // The parent is the user's, not ours: left with the usual mode.
        assert_ne!(mode(&temp.path().join("fresh")), 0o700);
    }

    #[test]
    fn files_are_created_owner_only() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("a.log");
        private_append_options().open(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
    }
}
