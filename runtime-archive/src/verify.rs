//! Checking a runtime folder or archive against its manifest, and listing files for one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::io::{Read, Write};
use std::path::Path;

use runtime_spec::layout::MANIFEST_FILE;
use runtime_spec::manifest::is_safe_relative_path;
use runtime_spec::{FileEntry, Manifest, Sha256};
use sha2::{Digest, Sha256 as Sha256Hasher};

use crate::error::{io_at, Error, Result};
use crate::extract::{member_components, open_archive, resolve_symlink};

/// `manifest.json` larger than this is refused rather than read into memory.
const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;

/// The outcome of checking files against a manifest. Paths are relative and `/`-separated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// How many manifest entries were checked.
    pub n_checked: usize,
    /// Listed in the manifest but absent (or a dangling symlink), in manifest order.
    pub missing: Vec<String>,
    /// Present but not listed (the root `manifest.json` excepted), sorted.
    pub extra: Vec<String>,
    /// Present but different from the manifest, in manifest order.
    pub modified: Vec<Modified>,
    /// Present but could not be read, with the error.
    pub unreadable: Vec<Unreadable>,
}

/// A file that differs from its manifest entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modified {
    /// The file's path.
    pub path: String,
    /// The first difference found (size, then content, then executable bit).
    pub difference: Difference,
}

/// How a file differs from its manifest entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// The size differs (the content was not hashed).
    Size {
        /// From the manifest.
        expected: u64,
        /// On disk or in the archive.
        actual: u64,
    },
    /// Same size, different sha256.
    Sha256 {
        /// From the manifest.
        expected: String,
        /// On disk or in the archive.
        actual: String,
    },
    /// The executable bit differs (checked on Unix and in archives).
    Executable {
        /// From the manifest.
        expected: bool,
    },
    /// The path is a folder or special file, not a file.
    NotAFile,
}

/// A file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The file's path.
    pub path: String,
    /// The error, as text.
    pub error: String,
}

impl VerifyReport {
    /// True when nothing is missing, extra, modified or unreadable.
    pub fn is_ok(&self) -> bool {
        self.missing.is_empty()
            && self.extra.is_empty()
            && self.modified.is_empty()
            && self.unreadable.is_empty()
    }

    /// The paths of the modified files.
    pub fn modified_paths(&self) -> Vec<&str> {
        self.modified
            .iter()
            .map(|modified| modified.path.as_str())
            .collect()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ok() {
            return write!(f, "all {} files match the manifest", self.n_checked);
        }
        writeln!(
            f,
            "{} of {} files do not match the manifest ({} missing, {} modified, {} unreadable; {} extra); reinstall the runtime:",
            self.missing.len() + self.modified.len() + self.unreadable.len(),
            self.n_checked,
            self.missing.len(),
            self.modified.len(),
            self.unreadable.len(),
            self.extra.len(),
        )?;
        for path in &self.missing {
            writeln!(f, "  missing     {path}")?;
        }
        for modified in &self.modified {
            let detail = match &modified.difference {
                Difference::Size { expected, actual } => {
                    format!("size {actual}, expected {expected}")
                }
                Difference::Sha256 { expected, actual } => {
                    format!("sha256 {actual}, expected {expected}")
                }
                Difference::Executable { expected: true } => {
                    "not executable, expected executable".to_owned()
                }
                Difference::Executable { expected: false } => {
                    "executable, expected not executable".to_owned()
                }
                Difference::NotAFile => "not a regular file".to_owned(),
            };
            writeln!(f, "  modified    {} ({detail})", modified.path)?;
        }
        for unreadable in &self.unreadable {
            writeln!(
                f,
                "  unreadable  {} ({})",
                unreadable.path, unreadable.error
            )?;
        }
        for path in &self.extra {
            writeln!(f, "  extra       {path}")?;
        }
        Ok(())
    }
}

/// Writes through to `inner` while hashing and counting the bytes.
pub(crate) struct HashingWriter<W> {
    pub(crate) inner: W,
    pub(crate) hasher: Sha256Hasher,
    pub(crate) written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256Hasher::new(),
            written: 0,
        }
    }

    /// Lowercase hex sha256 of everything written, and the inner writer.
    pub(crate) fn finish(self) -> (W, String, u64) {
        let (inner, digest, written) = self.finish_digest();
        (inner, digest.to_hex(), written)
    }

    /// The sha256 of everything written, and the inner writer.
    pub(crate) fn finish_digest(self) -> (W, Sha256, u64) {
        (
            self.inner,
            Sha256::from_bytes(self.hasher.finalize().into()),
            self.written,
        )
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Size and lowercase hex sha256 of everything `reader` yields.
pub(crate) fn hash_reader(reader: &mut impl Read) -> std::io::Result<(u64, Sha256)> {
    let mut sink = HashingWriter::new(std::io::sink());
    std::io::copy(reader, &mut sink)?;
    let (_, sha256, size) = sink.finish_digest();
    Ok((size, sha256))
}

/// Size and sha256 of a file (following a symlink).
pub(crate) fn hash_file(path: &Path) -> Result<(u64, Sha256)> {
    let mut file = fs_err::File::open(path).map_err(io_at(path))?;
    hash_reader(&mut file).map_err(io_at(path))
}

#[cfg(unix)]
fn is_executable(metadata: &std::fs::Metadata) -> Option<bool> {
    use std::os::unix::fs::PermissionsExt;
    Some(metadata.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_metadata: &std::fs::Metadata) -> Option<bool> {
    // Windows has no executable bit to compare.
    None
}

/// Lists every file under `root` for the manifest: `/`-joined path, size, sha256 and
/// executable bit, sorted by path, without the root `manifest.json`.
///
/// A symlink to a file is listed under its own path with the content (and mode) of the file
/// it points to, so removing or retargeting it shows up in [`verify_dir`]; a symlink to a
/// folder is skipped (the files are listed under their real paths). Refuses dangling
/// symlinks, special files, and names that are not UTF-8 or not safe manifest paths.
pub fn build_manifest_files(root: &Path) -> Result<Vec<FileEntry>> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(root).follow_links(false).min_depth(1) {
        let entry = entry.map_err(|error| walk_error(root, error))?;
        let Some(path) = relative_manifest_path(root, entry.path())? else {
            continue;
        };
        if path == MANIFEST_FILE {
            continue;
        }
        let file_type = entry.file_type();
        if file_type.is_dir() {
            continue;
        }
        // Follows a symlink; for a plain file it is the file's own metadata.
        let metadata = match fs_err::metadata(entry.path()) {
            Ok(metadata) => metadata,
            Err(error)
                if file_type.is_symlink() && error.kind() == std::io::ErrorKind::NotFound =>
            {
                return Err(Error::Unpackable {
                    path: entry.path().to_path_buf(),
                    reason: "dangling symlink; remove it or point it at a file of the tree"
                        .to_owned(),
                })
            }
            Err(error) => return Err(io_at(entry.path())(error)),
        };
        if metadata.is_dir() {
            continue;
        }
        if !metadata.is_file() {
            return Err(Error::Unpackable {
                path: entry.path().to_path_buf(),
                reason: "not a regular file, folder or symlink; remove it from the tree".to_owned(),
            });
        }
        let (size, sha256) = hash_file(entry.path())?;
        files.push(FileEntry {
            path,
            size,
            sha256,
            executable: is_executable(&metadata).unwrap_or(false),
            packed_size: None,
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// The `/`-joined path of `path` below `root`, refusing names the manifest cannot hold.
/// `None` for `root` itself.
pub(crate) fn relative_manifest_path(root: &Path, path: &Path) -> Result<Option<String>> {
    let relative = path
        .strip_prefix(root)
        .expect("walkdir yields paths below its root");
    let mut parts = Vec::new();
    for component in relative.components() {
        let Some(part) = component.as_os_str().to_str() else {
            return Err(Error::Unpackable {
                path: path.to_path_buf(),
                reason: "the name is not UTF-8; rename it".to_owned(),
            });
        };
        parts.push(part);
    }
    if parts.is_empty() {
        return Ok(None);
    }
    let joined = parts.join("/");
    if !is_safe_relative_path(&joined) {
        return Err(Error::Unpackable {
            path: path.to_path_buf(),
            reason: "the name has a backslash, `:` or other character a runtime path may not have; rename it".to_owned(),
        });
    }
    Ok(Some(joined))
}

pub(crate) fn walk_error(root: &Path, error: walkdir::Error) -> Error {
    let path = error.path().unwrap_or(root).to_path_buf();
    let source = error
        .into_io_error()
        .unwrap_or_else(|| std::io::Error::other("filesystem loop"));
    Error::Io { path, source }
}

/// What was actually found for one path.
#[derive(Clone)]
struct Found {
    size: u64,
    sha256: Sha256,
    executable: Option<bool>,
}

fn compare(entry: &FileEntry, found: &Found) -> Option<Difference> {
    if found.size != entry.size {
        return Some(Difference::Size {
            expected: entry.size,
            actual: found.size,
        });
    }
    if found.sha256 != entry.sha256 {
        return Some(Difference::Sha256 {
            expected: entry.sha256.to_hex(),
            actual: found.sha256.to_hex(),
        });
    }
    match found.executable {
        Some(executable) if executable != entry.executable => Some(Difference::Executable {
            expected: entry.executable,
        }),
        _ => None,
    }
}

/// Checks the folder `root` against `manifest`: every listed file must be there with the
/// same size, sha256 and (on Unix) executable bit, and nothing unlisted may be there except
/// the root `manifest.json` and folders. Symlinks are followed, matching
/// [`build_manifest_files`].
pub fn verify_dir(root: &Path, manifest: &Manifest) -> VerifyReport {
    verify_dir_with_progress(root, manifest, &mut |_| {})
}

/// [`verify_dir`], reporting the bytes of listed files checked so far after each file.
pub fn verify_dir_with_progress(
    root: &Path,
    manifest: &Manifest,
    progress: &mut dyn FnMut(u64),
) -> VerifyReport {
    let mut done = 0u64;
    let mut report = VerifyReport {
        n_checked: manifest.files.len(),
        ..VerifyReport::default()
    };
    let mut listed = BTreeSet::new();
    for entry in &manifest.files {
        // Counted before the checks: a file that fails one is done with too.
        done += entry.size;
        progress(done);
        listed.insert(entry.path.as_str());
        let mut path = root.to_path_buf();
        path.extend(entry.path.split('/'));
        let metadata = match std::fs::metadata(&path) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                report.missing.push(entry.path.clone());
                continue;
            }
            Err(error) => {
                report.unreadable.push(Unreadable {
                    path: entry.path.clone(),
                    error: error.to_string(),
                });
                continue;
            }
        };
        if !metadata.is_file() {
            report.modified.push(Modified {
                path: entry.path.clone(),
                difference: Difference::NotAFile,
            });
            continue;
        }
        // Size first: a different size needs no hashing.
        if metadata.len() != entry.size {
            report.modified.push(Modified {
                path: entry.path.clone(),
                difference: Difference::Size {
                    expected: entry.size,
                    actual: metadata.len(),
                },
            });
            continue;
        }
        let (size, sha256) = match hash_file(&path) {
            Ok(hashed) => hashed,
            Err(error) => {
                report.unreadable.push(Unreadable {
                    path: entry.path.clone(),
                    error: error.to_string(),
                });
                continue;
            }
        };
        let found = Found {
            size,
            sha256,
            executable: is_executable(&metadata),
        };
        if let Some(difference) = compare(entry, &found) {
            report.modified.push(Modified {
                path: entry.path.clone(),
                difference,
            });
        }
    }

    for walked in walkdir::WalkDir::new(root).follow_links(false).min_depth(1) {
        let walked = match walked {
            Ok(walked) => walked,
            Err(error) => {
                let path = error.path().unwrap_or(root).display().to_string();
                report.unreadable.push(Unreadable {
                    path,
                    error: error.to_string(),
                });
                continue;
            }
        };
        if walked.file_type().is_dir() {
            continue;
        }
        let relative = walked
            .path()
            .strip_prefix(root)
            .expect("walkdir yields paths below its root");
        let path = relative
            .components()
            .map(|part| part.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        if path == MANIFEST_FILE || listed.contains(path.as_str()) {
            continue;
        }
        // A symlink to a folder is a folder for our purposes (its files are listed at their
        // real paths); anything else unlisted, dangling links included, is extra.
        if walked.file_type().is_symlink()
            && std::fs::metadata(walked.path()).is_ok_and(|metadata| metadata.is_dir())
        {
            continue;
        }
        report.extra.push(path);
    }
    report.extra.sort();
    report
}

/// Reads `manifest.json` from the root of a runtime archive (`.tar.zst`, `.tar.gz` or
/// `.tar`) and checks every member against it while streaming, without writing anything to
/// disk: the same rules as [`verify_dir`], symlinks resolved inside the archive. Members
/// that [`crate::extract_archive`] would refuse (unsafe paths, escaping symlinks) are an
/// error.
pub fn verify_archive(archive: &Path) -> Result<VerifyReport> {
    let mut tar = open_archive(archive)?;
    let read_error = |source| Error::ArchiveRead {
        archive: archive.to_path_buf(),
        source,
    };
    let unsafe_member = |member: &str, reason: String| Error::UnsafeMember {
        archive: archive.to_path_buf(),
        member: member.to_owned(),
        reason,
    };

    let mut manifest_bytes: Option<Vec<u8>> = None;
    let mut files: BTreeMap<Vec<String>, Found> = BTreeMap::new();
    let mut dirs: BTreeSet<Vec<String>> = BTreeSet::new();
    let mut links: HashMap<Vec<String>, String> = HashMap::new();
    let mut hardlinks: Vec<(Vec<String>, Vec<String>, String)> = Vec::new();
    let mut others: Vec<String> = Vec::new();

    for entry in tar.entries().map_err(read_error)? {
        let mut entry = entry.map_err(read_error)?;
        let raw_path = entry.path_bytes().into_owned();
        let member = String::from_utf8_lossy(&raw_path).into_owned();
        let entry_type = entry.header().entry_type();
        if entry_type.is_pax_global_extensions() {
            continue;
        }
        let components =
            member_components(&raw_path).map_err(|reason| unsafe_member(&member, reason))?;
        if components.is_empty() {
            continue;
        }
        if entry_type.is_dir() {
            dirs.insert(components);
        } else if entry_type.is_file() || entry_type.is_contiguous() || entry_type.is_gnu_sparse() {
            if components.len() == 1 && components[0] == MANIFEST_FILE {
                let mut bytes = Vec::new();
                (&mut entry)
                    .take(MAX_MANIFEST_BYTES)
                    .read_to_end(&mut bytes)
                    .map_err(read_error)?;
                manifest_bytes = Some(bytes);
                continue;
            }
            let executable = entry.header().mode().map_err(read_error)? & 0o111 != 0;
            let (size, sha256) = hash_reader(&mut entry).map_err(read_error)?;
            files.insert(
                components,
                Found {
                    size,
                    sha256,
                    executable: Some(executable),
                },
            );
        } else if entry_type.is_symlink() {
            let target = entry
                .link_name_bytes()
                .map(|target| String::from_utf8_lossy(&target).into_owned())
                .unwrap_or_default();
            links.insert(components, target);
        } else if entry_type.is_hard_link() {
            let target = entry.link_name_bytes().unwrap_or_default();
            let target_components = member_components(&target)
                .map_err(|reason| unsafe_member(&member, format!("hardlink target: {reason}")))?;
            hardlinks.push((components, target_components, member));
        } else {
            others.push(components.join("/"));
        }
    }

    let manifest_bytes = manifest_bytes.ok_or_else(|| Error::ManifestMissing {
        archive: archive.to_path_buf(),
    })?;
    let manifest =
        Manifest::from_json(&manifest_bytes).map_err(|source| Error::ManifestInvalid {
            path: archive.to_path_buf(),
            source,
        })?;

    // Every path that reads as a file once extracted: regular members, hardlinks to them,
    // and symlinks that resolve to one of those.
    let mut found: BTreeMap<String, Found> = BTreeMap::new();
    let mut dangling: Vec<String> = Vec::new();
    for (path, file) in &files {
        found.insert(path.join("/"), file.clone());
    }
    for (path, target, member) in &hardlinks {
        match files.get(target) {
            Some(file) => {
                found.insert(path.join("/"), file.clone());
            }
            None => {
                return Err(unsafe_member(
                    member,
                    format!(
                        "hardlink to `{}`, which is not a regular file of the archive",
                        target.join("/")
                    ),
                ))
            }
        }
    }
    for (path, target) in &links {
        let Some(resolved) = resolve_symlink(path, target, &links) else {
            return Err(unsafe_member(
                &path.join("/"),
                format!("symlink to `{target}` resolves outside the archive root"),
            ));
        };
        if let Some(file) = files.get(&resolved) {
            found.insert(path.join("/"), file.clone());
        } else if resolved.is_empty()
            || dirs.contains(&resolved)
            || files.keys().any(|file| file.starts_with(&resolved))
        {
            // A link to a folder: its files are checked at their real paths.
        } else {
            dangling.push(path.join("/"));
        }
    }

    let mut report = VerifyReport {
        n_checked: manifest.files.len(),
        ..VerifyReport::default()
    };
    let mut listed = BTreeSet::new();
    for entry in &manifest.files {
        listed.insert(entry.path.as_str());
        match found.get(&entry.path) {
            None => report.missing.push(entry.path.clone()),
            Some(file) => {
                if let Some(difference) = compare(entry, file) {
                    report.modified.push(Modified {
                        path: entry.path.clone(),
                        difference,
                    });
                }
            }
        }
    }
    for path in found.keys().chain(&dangling).chain(&others) {
        if !listed.contains(path.as_str()) {
            report.extra.push(path.clone());
        }
    }
    report.extra.sort();
    for path in others.iter().filter(|path| listed.contains(path.as_str())) {
        // Listed but a device or fifo in the archive: shown as modified, not missing.
        report.missing.retain(|missing| missing != path);
        report.modified.push(Modified {
            path: path.clone(),
            difference: Difference::NotAFile,
        });
    }
    Ok(report)
}
