//! File system helpers: stamps, atomic folder replacement, tree copies and hashing.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

/// Whether `stamp_file` holds exactly `stamp` (a stage's inputs are unchanged).
pub fn stamp_matches(stamp_file: &Path, stamp: &str) -> bool {
    std::fs::read_to_string(stamp_file).is_ok_and(|recorded| recorded == stamp)
}

/// Records a stage's inputs after the stage succeeded.
pub fn write_stamp(stamp_file: &Path, stamp: &str) -> Result<()> {
    fs_err::create_dir_all(stamp_file.parent().expect("stamp has a folder"))?;
    fs_err::write(stamp_file, stamp)?;
    Ok(())
}

/// An empty folder beside `path` (same file system, so a rename can promote it).
pub fn fresh_sibling(path: &Path) -> Result<PathBuf> {
    let parent = path.parent().expect("path has a parent");
    fs_err::create_dir_all(parent)?;
    let name = path.file_name().expect("path has a name").to_string_lossy();
    let staging = parent.join(format!(".{name}.staging-{}", std::process::id()));
    remove_path(&staging)?;
    fs_err::create_dir_all(&staging)?;
    Ok(staging)
}

/// Moves `staging` to `dest`, replacing what was there with two renames, so `dest` is never a
/// half-written tree: either the old one or the new one.
pub fn replace_dir(staging: &Path, dest: &Path) -> Result<()> {
    let parent = dest.parent().expect("dest has a parent");
    let name = dest.file_name().expect("dest has a name").to_string_lossy();
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    if dest.exists() {
        fs_err::rename(dest, &old)?;
    }
    fs_err::rename(staging, dest)?;
    remove_path(&old)?;
    Ok(())
}

/// Removes a file, symlink or folder; missing is fine.
pub fn remove_path(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
        Ok(meta) if meta.is_dir() => Ok(fs_err::remove_dir_all(path)?),
        Ok(_) => Ok(fs_err::remove_file(path)?),
    }
}

/// Lowercase hex sha256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = fs_err::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file
            .read(&mut buffer)
            .with_context(|| format!("reading {}", path.display()))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Modification time in whole seconds.
pub fn mtime_secs(path: &Path) -> Option<u64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(
        modified
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs(),
    )
}

/// Creates a relative symlink `link -> target`.
#[cfg(unix)]
pub fn symlink(target: &str, link: &Path) -> Result<()> {
    std::os::unix::fs::symlink(target, link)
        .with_context(|| format!("creating symlink {}", link.display()))
}

#[cfg(not(unix))]
pub fn symlink(target: &str, link: &Path) -> Result<()> {
    let dir = link.parent().expect("link has a folder");
    fs_err::copy(dir.join(target), link)?;
    Ok(())
}

/// Copies `src` into `dst` (created), keeping symlinks as symlinks and the executable bit.
/// `keep` sees each path relative to `src` and can skip files and whole folders.
pub fn copy_tree(src: &Path, dst: &Path, keep: &dyn Fn(&Path) -> bool) -> Result<()> {
    link_or_copy_tree(src, dst, keep, false)
}

/// Like [`copy_tree`], but hard-links regular files (falling back to a copy across file
/// systems). Used to assemble the staging runtime from the stage caches in a second.
pub fn hardlink_tree(src: &Path, dst: &Path, keep: &dyn Fn(&Path) -> bool) -> Result<()> {
    link_or_copy_tree(src, dst, keep, true)
}

fn link_or_copy_tree(
    src: &Path,
    dst: &Path,
    keep: &dyn Fn(&Path) -> bool,
    hardlink: bool,
) -> Result<()> {
    fs_err::create_dir_all(dst)?;
    let mut walker = walkdir::WalkDir::new(src)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter();
    while let Some(entry) = walker.next() {
        let entry = entry.with_context(|| format!("walking {}", src.display()))?;
        let relative = entry
            .path()
            .strip_prefix(src)
            .expect("walk stays under src");
        if !keep(relative) {
            if entry.file_type().is_dir() {
                walker.skip_current_dir();
            }
            continue;
        }
        let target = dst.join(relative);
        if entry.file_type().is_dir() {
            fs_err::create_dir_all(&target)?;
        } else if entry.file_type().is_symlink() {
            let link = fs_err::read_link(entry.path())?;
            symlink(&link.to_string_lossy(), &target)?;
        } else if !hardlink || std::fs::hard_link(entry.path(), &target).is_err() {
            fs_err::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// sha256 over the relative paths and contents of every file under `roots` (sorted), skipping
/// what `keep` rejects (it sees paths relative to `base`): a stage's input fingerprint.
pub fn hash_tree(roots: &[&Path], base: &Path, keep: &dyn Fn(&Path) -> bool) -> Result<String> {
    let mut hasher = Sha256::new();
    for root in roots {
        if root.is_file() {
            hash_one(&mut hasher, root, base)?;
            continue;
        }
        let mut walker = walkdir::WalkDir::new(root).sort_by_file_name().into_iter();
        while let Some(entry) = walker.next() {
            let entry = entry.with_context(|| format!("walking {}", root.display()))?;
            if !keep(entry.path().strip_prefix(base).unwrap_or(entry.path())) {
                if entry.file_type().is_dir() {
                    walker.skip_current_dir();
                }
                continue;
            }
            if entry.file_type().is_file() {
                hash_one(&mut hasher, entry.path(), base)?;
            }
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

fn hash_one(hasher: &mut Sha256, path: &Path, base: &Path) -> Result<()> {
    let relative = path.strip_prefix(base).unwrap_or(path);
    hasher.update(relative.to_string_lossy().as_bytes());
    hasher.update([0]);
    hasher.update(fs_err::read(path)?);
    hasher.update([0]);
    Ok(())
}

/// Total size of the regular files under `dir`.
pub fn tree_size(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_file())
        .filter_map(|entry| entry.metadata().ok())
        .map(|meta| meta.len())
        .sum()
}

/// Removes every entry under `root` that `rule_for` assigns to a rule (the rule's index, from
/// the entry and whether it is a folder; a removed folder is not entered) and returns the bytes
/// each of `rules` rules removed. The trim stages' one walker.
pub fn remove_by_rule(
    root: &Path,
    rules: usize,
    rule_for: &dyn Fn(&walkdir::DirEntry, bool) -> Option<usize>,
) -> Result<Vec<u64>> {
    let mut saved = vec![0u64; rules];
    let mut doomed = Vec::new();
    let mut walk = walkdir::WalkDir::new(root).min_depth(1).into_iter();
    while let Some(entry) = walk.next() {
        let entry = entry.with_context(|| format!("walking {}", root.display()))?;
        let is_dir = entry.file_type().is_dir();
        let Some(rule) = rule_for(&entry, is_dir) else {
            continue;
        };
        saved[rule] += if is_dir {
            walk.skip_current_dir();
            tree_size(entry.path())
        } else {
            entry.metadata()?.len()
        };
        doomed.push(entry.into_path());
    }
    for path in doomed {
        remove_path(&path)?;
    }
    Ok(saved)
}
