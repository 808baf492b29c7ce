//! Deterministic `.tar.zst` packing of a runtime folder: the same commit gives the same archive
//! bytes, so anyone can rebuild a release and compare its sha256.
//!
//! The archive depends only on the tree's relative paths, contents, executable bits and
//! symlink targets, plus the options: entries sorted by path bytes, folders included,
//! uid/gid 0, no user/group names, one mtime for all, modes 0644/0755, no xattrs or PAX
//! records (long names use GNU `L`/`K` records, always), a fixed zstd level, long-distance
//! window and worker count.
//!
//! A runtime tree (one with a root `manifest.json`) is packed the way
//! [`crate::extract_runtime`] reads it: `manifest.json` is the first member, before the sorted
//! rest, so the extractor knows what the archive may write before it writes anything; folders
//! that hold no file or symlink are left out and symlinks to folders refused, since the
//! manifest lists neither and the extractor refuses what the manifest does not list.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use runtime_spec::layout::MANIFEST_FILE;

use crate::error::{io_at, Error, Result};
use crate::extract::{resolve_symlink, MODE_DIR, MODE_EXECUTABLE, MODE_REGULAR};
use crate::verify::{relative_manifest_path, walk_error, HashingWriter};

/// zstd level of [`PackOptions::new`]: slow to pack, fast to unpack. The runtime build passes
/// its own, faster level (`docs/decisions/0006-zstd-level-9.md`).
pub const DEFAULT_ZSTD_LEVEL: i32 = 19;
/// zstd long-distance matching over a 128 MiB window, in every archive: a runtime repeats
/// itself at distances far beyond a level's own window (4 MiB at level 9); with it the Linux
/// runtime packs 2.5–5 % smaller at level 9 on 2 workers, for 0.4 s
/// (`docs/decisions/0006-zstd-level-9.md`). It is the most the extractor allows
/// (`extract::MAX_ZSTD_WINDOW_LOG`) and the zstd tool's default limit, so `tar --zstd -xf`
/// still unpacks the archives.
pub const ZSTD_WINDOW_LOG: u32 = crate::extract::MAX_ZSTD_WINDOW_LOG;
/// What GNU tar and every other writer store for a symlink; extractors ignore it.
const MODE_SYMLINK: u32 = 0o777;

/// Settings for [`pack_tar_zst`]. Everything here ends up in the archive's bytes, so keep
/// them fixed across builds that must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackOptions {
    /// `SOURCE_DATE_EPOCH` (seconds since 1970): the mtime of every entry.
    pub source_date_epoch: u64,
    /// zstd compression level (1–22).
    pub zstd_level: i32,
    /// zstd worker threads; 0 compresses on the calling thread. With the pinned zstd the
    /// output for any count >= 1 is the same (tested), but it differs from the output for 0:
    /// release builds must agree on "0" versus "some", so keep this fixed per pipeline. Workers
    /// compress separate jobs, and a long-distance match cannot reach back past its job's
    /// start and overlap, so multithreaded archives come out larger.
    pub zstd_workers: u32,
}

impl PackOptions {
    /// [`DEFAULT_ZSTD_LEVEL`], single-threaded, with the given `SOURCE_DATE_EPOCH`.
    pub fn new(source_date_epoch: u64) -> PackOptions {
        PackOptions {
            source_date_epoch,
            zstd_level: DEFAULT_ZSTD_LEVEL,
            zstd_workers: 0,
        }
    }
}

/// What [`pack_tar_zst`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackReport {
    /// The archive (the `out_file` passed in).
    pub archive: PathBuf,
    /// The `<archive>.sha256` file next to it.
    pub sha256_file: PathBuf,
    /// Lowercase hex sha256 of the archive.
    pub sha256: String,
    /// Archive size in bytes.
    pub size: u64,
    /// Regular files packed.
    pub n_files: u64,
    /// Folders packed.
    pub n_dirs: u64,
    /// Symlinks packed.
    pub n_symlinks: u64,
    /// Sum of the regular files' sizes.
    pub unpacked_bytes: u64,
}

/// One thing to pack.
enum Item {
    Dir,
    File {
        path: PathBuf,
        executable: bool,
        size: u64,
    },
    Symlink {
        target: String,
    },
}

/// Packs the contents of `src_dir` (its children at the archive root, no top-level folder)
/// into `out_file` as a deterministic `.tar.zst`, and writes `<out_file>.sha256` in
/// `sha256sum` format (`<hex>  <file name>\n`).
///
/// Two trees with the same relative paths, contents, executable bits and symlink targets
/// give byte-identical archives, wherever they are and whatever their mtimes, owners or
/// other mode bits. Symlinks are stored as symlinks and must be relative and resolve inside
/// the tree; hardlinked files are stored as separate files; special files are refused.
/// Both outputs are written to temp files and renamed into place. A runtime tree (with a root
/// `manifest.json`) packs its manifest first, leaves out folders that hold no file or
/// symlink, and refuses symlinks to folders (see the module documentation).
pub fn pack_tar_zst(src_dir: &Path, out_file: &Path, options: &PackOptions) -> Result<PackReport> {
    let items = collect_items(src_dir)?;

    let out_dir = match out_file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let out_name = out_file
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or_else(|| Error::Unpackable {
            path: out_file.to_path_buf(),
            reason: "the output needs a UTF-8 file name".to_owned(),
        })?
        .to_owned();
    fs_err::create_dir_all(&out_dir).map_err(io_at(&out_dir))?;
    let temp = tempfile::Builder::new()
        .prefix(&format!(".{out_name}."))
        .suffix(".part")
        .tempfile_in(&out_dir)
        .map_err(io_at(&out_dir))?;
    let temp_path = temp.path().to_path_buf();
    // Split so the file handle can move into the encoder while the path still deletes the
    // temp file on every early return.
    let (temp_file, temp_handle) = temp.into_parts();

    let write_error = |source| Error::Io {
        path: temp_path.clone(),
        source,
    };
    let mut encoder =
        zstd::stream::write::Encoder::new(HashingWriter::new(temp_file), options.zstd_level)
            .map_err(write_error)?;
    // A frame checksum lets `zstd -t` and our extractor catch corruption; it is a function
    // of the content, so it keeps the output deterministic.
    encoder.include_checksum(true).map_err(write_error)?;
    encoder.long_distance_matching(true).map_err(write_error)?;
    encoder.window_log(ZSTD_WINDOW_LOG).map_err(write_error)?;
    if options.zstd_workers > 0 {
        encoder
            .multithread(options.zstd_workers)
            .map_err(write_error)?;
    }
    let mut builder = tar::Builder::new(encoder);

    let mut report = PackReport {
        archive: out_file.to_path_buf(),
        sha256_file: sha256_path(out_file),
        sha256: String::new(),
        size: 0,
        n_files: 0,
        n_dirs: 0,
        n_symlinks: 0,
        unpacked_bytes: 0,
    };
    for (relative, item) in &items {
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(options.source_date_epoch);
        // new_gnu leaves user and group names all zero bytes, i.e. empty.
        match item {
            Item::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(MODE_DIR);
                header.set_size(0);
                builder
                    .append_data(&mut header, relative, std::io::empty())
                    .map_err(write_error)?;
                report.n_dirs += 1;
            }
            Item::File {
                path,
                executable,
                size,
            } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(if *executable {
                    MODE_EXECUTABLE
                } else {
                    MODE_REGULAR
                });
                header.set_size(*size);
                let file = fs_err::File::open(path).map_err(io_at(path))?;
                let mut counted = CountingReader {
                    inner: file.take(*size),
                    count: 0,
                    error: None,
                };
                let appended = builder.append_data(&mut header, relative, &mut counted);
                if let Some(error) = counted.error.take() {
                    return Err(io_at(path)(error));
                }
                appended.map_err(write_error)?;
                let size_now = fs_err::metadata(path).map_err(io_at(path))?.len();
                if counted.count != *size || size_now != *size {
                    return Err(Error::Unpackable {
                        path: path.clone(),
                        reason: "the file changed while it was being packed; stop whatever writes to the tree and pack again".to_owned(),
                    });
                }
                report.n_files += 1;
                report.unpacked_bytes += size;
            }
            Item::Symlink { target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(MODE_SYMLINK);
                header.set_size(0);
                builder
                    .append_link(&mut header, relative, target)
                    .map_err(write_error)?;
                report.n_symlinks += 1;
            }
        }
    }

    let encoder = builder.into_inner().map_err(write_error)?;
    let hashing = encoder.finish().map_err(write_error)?;
    let (temp_file, sha256, size) = hashing.finish();
    temp_file.sync_all().map_err(write_error)?;
    drop(temp_file);
    make_world_readable(&temp_handle)?;
    temp_handle
        .persist(out_file)
        .map_err(|error| io_at(out_file)(error.error))?;
    report.sha256 = sha256;
    report.size = size;

    write_sha256_file(&report.sha256_file, &report.sha256, &out_name)?;
    Ok(report)
}

/// `<archive>.sha256`, next to the archive.
fn sha256_path(out_file: &Path) -> PathBuf {
    let mut name = out_file.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

fn write_sha256_file(path: &Path, sha256: &str, archive_name: &str) -> Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".sha256.")
        .suffix(".part")
        .tempfile_in(&dir)
        .map_err(io_at(&dir))?;
    // Two spaces: `sha256sum -c` reads this as "binary-safe text mode", the common form.
    writeln!(temp.as_file_mut(), "{sha256}  {archive_name}").map_err(io_at(temp.path()))?;
    temp.as_file().sync_all().map_err(io_at(temp.path()))?;
    make_world_readable(temp.path())?;
    temp.persist(path)
        .map_err(|error| io_at(path)(error.error))?;
    Ok(())
}

/// Temp files are created 0600; a published archive is meant to be read by anyone (0644).
#[cfg(unix)]
fn make_world_readable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o644)).map_err(io_at(path))
}

#[cfg(not(unix))]
fn make_world_readable(_path: &Path) -> Result<()> {
    Ok(())
}

/// Walks `src_dir` and returns what to pack, sorted by path bytes (parents first).
fn collect_items(src_dir: &Path) -> Result<Vec<(String, Item)>> {
    let root_metadata = fs_err::metadata(src_dir).map_err(io_at(src_dir))?;
    if !root_metadata.is_dir() {
        return Err(Error::Unpackable {
            path: src_dir.to_path_buf(),
            reason: "not a folder; pass the runtime folder to pack".to_owned(),
        });
    }
    let mut items = Vec::new();
    let mut links: HashMap<Vec<String>, String> = HashMap::new();
    for entry in walkdir::WalkDir::new(src_dir)
        .follow_links(false)
        .min_depth(1)
    {
        let entry = entry.map_err(|error| walk_error(src_dir, error))?;
        let Some(relative) = relative_manifest_path(src_dir, entry.path())? else {
            continue;
        };
        let file_type = entry.file_type();
        let item = if file_type.is_dir() {
            Item::Dir
        } else if file_type.is_file() {
            let metadata = entry
                .metadata()
                .map_err(|error| walk_error(src_dir, error))?;
            Item::File {
                path: entry.path().to_path_buf(),
                executable: is_executable(&metadata),
                size: metadata.len(),
            }
        } else if file_type.is_symlink() {
            let target = fs_err::read_link(entry.path()).map_err(io_at(entry.path()))?;
            let target = target
                .to_str()
                .map(str::to_owned)
                .ok_or_else(|| Error::Unpackable {
                    path: entry.path().to_path_buf(),
                    reason: "the symlink target is not UTF-8".to_owned(),
                })?;
            links.insert(
                relative.split('/').map(str::to_owned).collect(),
                target.clone(),
            );
            Item::Symlink { target }
        } else {
            return Err(Error::Unpackable {
                path: entry.path().to_path_buf(),
                reason: "not a regular file, folder or symlink (device, fifo or socket); remove it from the tree".to_owned(),
            });
        };
        items.push((relative, item));
    }
    // The extractor refuses links that leave the tree, so refuse to write them.
    for (relative, item) in &items {
        if let Item::Symlink { target } = item {
            let components: Vec<String> = relative.split('/').map(str::to_owned).collect();
            if resolve_symlink(&components, target, &links).is_none() {
                return Err(Error::Unpackable {
                    path: src_dir.join(relative),
                    reason: format!(
                        "symlink to `{target}` leaves the tree (absolute, or too many `..`); make it relative and in-tree, or replace it with a copy"
                    ),
                });
            }
        }
    }
    items.sort_by(|(a, _), (b, _)| a.as_bytes().cmp(b.as_bytes()));
    let is_runtime = items
        .iter()
        .any(|(relative, item)| relative == MANIFEST_FILE && matches!(item, Item::File { .. }));
    if is_runtime {
        items = runtime_items(src_dir, items, &links)?;
    }
    Ok(items)
}

/// The sorted items of a runtime tree as [`crate::extract_runtime`] accepts them: the
/// manifest first, no folder without a file or symlink below it, no symlink to a folder.
fn runtime_items(
    src_dir: &Path,
    mut items: Vec<(String, Item)>,
    links: &HashMap<Vec<String>, String>,
) -> Result<Vec<(String, Item)>> {
    let folders: HashSet<&str> = items
        .iter()
        .filter(|(_, item)| matches!(item, Item::Dir))
        .map(|(relative, _)| relative.as_str())
        .collect();
    for (relative, item) in &items {
        let Item::Symlink { target } = item else {
            continue;
        };
        let components: Vec<String> = relative.split('/').map(str::to_owned).collect();
        let resolved = resolve_symlink(&components, target, links)
            .expect("escaping symlinks were refused above")
            .join("/");
        if resolved.is_empty() || folders.contains(resolved.as_str()) {
            return Err(Error::Unpackable {
                path: src_dir.join(relative),
                reason: format!(
                    "symlink to the folder `{target}`; a runtime's manifest lists only files, so its archive cannot hold it: replace the link with the folder's files or remove it"
                ),
            });
        }
    }
    // The folders above each file or symlink; walking up stops at a folder already found,
    // since everything above it was found with it.
    let mut holding: HashSet<String> = HashSet::new();
    for (relative, item) in &items {
        if matches!(item, Item::Dir) {
            continue;
        }
        let mut end = relative.len();
        while let Some(slash) = relative[..end].rfind('/') {
            if !holding.insert(relative[..slash].to_owned()) {
                break;
            }
            end = slash;
        }
    }
    items.retain(|(relative, item)| !matches!(item, Item::Dir) || holding.contains(relative));
    let manifest = items
        .iter()
        .position(|(relative, _)| relative == MANIFEST_FILE)
        .expect("a runtime tree has a manifest");
    let manifest = items.remove(manifest);
    items.insert(0, manifest);
    Ok(items)
}

#[cfg(unix)]
fn is_executable(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_metadata: &std::fs::Metadata) -> bool {
    false
}

/// Counts what the tar builder reads and keeps the read error apart from write errors.
struct CountingReader<R> {
    inner: R,
    count: u64,
    error: Option<std::io::Error>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.count += n as u64;
                Ok(n)
            }
            Err(error) => {
                let kind = error.kind();
                self.error = Some(error);
                Err(std::io::Error::new(kind, "reading a file to pack failed"))
            }
        }
    }
}
