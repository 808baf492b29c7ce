//! Safe extraction of `.tar.zst`, `.tar.gz` and `.tar` archives into a fresh folder.
//!
//! The archive is untrusted: every member path is checked before anything is written, nothing
//! is ever written through a symlink (symlinks are only created after every other member is
//! on disk, and only when they resolve inside the destination), special files are refused,
//! and any failure removes everything written so far.
//!
//! A runtime archive ([`extract_runtime`]) is held to its manifest as well: the manifest is
//! its first member, is read (bounded) and checked before anything else is written, and from
//! then on only the files it lists, at their listed sizes, and their folders reach the disk.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use runtime_spec::layout::MANIFEST_FILE;
use runtime_spec::{Manifest, ObjectRef, Target};
use sha2::Digest;

use crate::error::{io_at, Error, Result};

/// Mode for every extracted or packed file that has any execute bit.
pub(crate) const MODE_EXECUTABLE: u32 = 0o755;
/// Mode for every other file.
pub(crate) const MODE_REGULAR: u32 = 0o644;
/// Mode for every folder.
pub(crate) const MODE_DIR: u32 = 0o755;
/// How many symlinks one resolution may pass through before it counts as a loop (Linux's
/// own limit).
const MAX_SYMLINK_HOPS: usize = 40;
/// The largest `manifest.json` read into memory when the release index does not give its
/// size: a real one is a few MiB (one entry per file).
const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;
/// The largest zstd window (log2 of its bytes) a `.tar.zst` may need: 128 MiB. The window is
/// the memory the decoder holds; the packer's long-distance window is this size
/// (`pack::ZSTD_WINDOW_LOG`), which is also the default limit of the zstd library and
/// command-line tool, so `tar --zstd -xf` unpacks every archive we pack without extra flags.
/// An archive that needs more is refused before anything is written.
pub(crate) const MAX_ZSTD_WINDOW_LOG: u32 = 27;

/// Options for [`extract_archive_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Leading path components to drop from every member, like `tar --strip-components`;
    /// members with no components left are skipped. PBS archives wrap everything in
    /// `python/`, which a caller that wants the bare tree strips with 1.
    pub strip_components: usize,
}

/// What an extraction wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractReport {
    /// Regular files written (hardlinks not included).
    pub n_files: u64,
    /// Folders created, explicit members and implied parents alike.
    pub n_dirs: u64,
    /// Symlinks created.
    pub n_symlinks: u64,
    /// Hardlinks created.
    pub n_hardlinks: u64,
    /// Sum of the regular files' sizes.
    pub unpacked_bytes: u64,
}

/// Extracts `archive` into `dest_dir` with default options (no components stripped).
///
/// See [`extract_archive_with`].
pub fn extract_archive(archive: &Path, dest_dir: &Path) -> Result<ExtractReport> {
    extract_archive_with(archive, dest_dir, &ExtractOptions::default())
}

/// Extracts a `.tar.zst`, `.tar.gz` or `.tar` (detected by magic bytes, not by name) into
/// `dest_dir`, which must not exist yet or be an empty folder.
///
/// Refuses, naming the member: absolute paths, `..` components, backslashes and drive
/// letters, symlinks whose target is absolute or resolves outside `dest_dir`, members under
/// a symlink, hardlinks to anything but an earlier regular file, devices and fifos, and
/// duplicate members. File modes become 0755 when any execute bit is set, else 0644 (never
/// setuid/setgid/sticky); folders are 0755; file mtimes are kept so timestamp-checked `.pyc`
/// files stay valid. On any error everything written is removed again.
pub fn extract_archive_with(
    archive: &Path,
    dest_dir: &Path,
    options: &ExtractOptions,
) -> Result<ExtractReport> {
    with_cleanup(dest_dir, || extract_into(archive, dest_dir, options, None))
}

/// What the signed release index declares about a runtime archive.
#[derive(Debug, Clone, Default)]
pub struct Declared {
    /// sha256 and size of the archive's manifest.json (the index's `manifest` ObjectRef), when
    /// known.
    pub manifest: Option<ObjectRef>,
    /// The index's unpacked_size: the most bytes of files the extraction may write.
    pub unpacked_size: Option<u64>,
}

/// Extracts a runtime archive into `staging` (absent or an empty folder), writing nothing its
/// manifest does not declare, and returns the manifest once every file verified against it.
///
/// The archive's first member must be `manifest.json` (see [`crate::pack_tar_zst`]). It is
/// read into memory, at most `declared.manifest`'s size (else 64 MiB), checked against
/// `declared.manifest`, parsed, checked for `target`, and its files' total against
/// `declared.unpacked_size`, all before anything is written. Every later member gets the
/// checks of [`extract_archive_with`] and: a folder only when a listed file lies in it; a
/// file, hardlink or symlink only when its path is listed, once; a file only when its size
/// is the listed one, refused before it is created, and never written past that size; the
/// bytes written never more than the declared total (the manifest's own when
/// `declared.unpacked_size` is `None`). So the disk holds at most the manifest, the listed
/// files and their folders. At the end every listed file is verified ([`crate::verify_dir`]), so a
/// missing or different file is refused too. On any error everything written is removed.
pub fn extract_runtime(
    archive: &Path,
    staging: &Path,
    target: Target,
    declared: &Declared,
) -> Result<Manifest> {
    extract_runtime_with_progress(archive, staging, target, declared, &mut |_| {})
}

/// How far [`extract_runtime_with_progress`] is: bytes of the listed files written, then
/// bytes of them hashed. Each total is the manifest's sum of file sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unpacking {
    Extracting { done: u64, total: u64 },
    Verifying { done: u64, total: u64 },
}

/// [`extract_runtime`], reporting progress after each file written and each file verified
/// (an installer shows a fraction and a time left from it).
pub fn extract_runtime_with_progress(
    archive: &Path,
    staging: &Path,
    target: Target,
    declared: &Declared,
    progress: &mut dyn FnMut(Unpacking),
) -> Result<Manifest> {
    with_cleanup(staging, || {
        let mut rules = RuntimeRules {
            archive,
            target,
            declared,
            allowed: None,
            written: 0,
            progress: &mut *progress,
        };
        extract_into(
            archive,
            staging,
            &ExtractOptions::default(),
            Some(&mut rules),
        )?;
        let manifest = rules
            .allowed
            .ok_or_else(|| Error::ManifestMissing {
                archive: archive.to_path_buf(),
            })?
            .manifest;
        let total = manifest.files.iter().map(|file| file.size).sum();
        let report = crate::verify::verify_dir_with_progress(staging, &manifest, &mut |done| {
            progress(Unpacking::Verifying { done, total })
        });
        if !report.is_ok() {
            return Err(Error::VerifyFailed {
                dir: staging.to_path_buf(),
                report: report.to_string(),
            });
        }
        Ok(manifest)
    })
}

/// Prepares `dest_dir`, runs `extract` into it, and removes everything written when that
/// fails.
fn with_cleanup<T>(dest_dir: &Path, extract: impl FnOnce() -> Result<T>) -> Result<T> {
    let created_dest = prepare_destination(dest_dir)?;
    let result = extract();
    if result.is_err() {
        // Best effort: the caller's error is the interesting one, not a failed cleanup.
        // `remove_dir_all` does not follow symlinks, so it cannot delete outside `dest_dir`.
        if created_dest {
            let _ = std::fs::remove_dir_all(dest_dir);
        } else if let Ok(children) = std::fs::read_dir(dest_dir) {
            for child in children.flatten() {
                let path = child.path();
                match child.file_type() {
                    Ok(kind) if kind.is_dir() => {
                        let _ = std::fs::remove_dir_all(&path);
                    }
                    _ => {
                        let _ = std::fs::remove_file(&path);
                    }
                }
            }
        }
    }
    result
}

/// Returns whether the destination was created here (and so may be removed whole on error).
fn prepare_destination(dest_dir: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(dest_dir) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            fs_err::create_dir_all(dest_dir).map_err(io_at(dest_dir))?;
            Ok(true)
        }
        Err(error) => Err(io_at(dest_dir)(error)),
        // A symlink to an empty folder is refused too: we only write below a real folder.
        Ok(metadata) if metadata.is_dir() => {
            let mut children = fs_err::read_dir(dest_dir).map_err(io_at(dest_dir))?;
            if children.next().is_none() {
                Ok(false)
            } else {
                Err(Error::DestinationNotEmpty {
                    dest: dest_dir.to_path_buf(),
                })
            }
        }
        Ok(_) => Err(Error::DestinationNotEmpty {
            dest: dest_dir.to_path_buf(),
        }),
    }
}

/// What a path inside the destination currently is, as far as this extraction knows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Written {
    Dir,
    File,
    /// Recorded with its target; created only at the very end.
    Symlink(String),
}

/// What a runtime archive may write: once its manifest is read, only the listed files at
/// their listed sizes, the folders they lie in, and no more bytes than declared.
struct RuntimeRules<'a> {
    archive: &'a Path,
    target: Target,
    declared: &'a Declared,
    /// `None` until the manifest, the first member, has been read.
    allowed: Option<Allowed>,
    /// Bytes of listed files written so far, and who hears of it.
    written: u64,
    progress: &'a mut dyn FnMut(Unpacking),
}

struct Allowed {
    manifest: Manifest,
    /// Listed paths not extracted yet, with their listed sizes.
    files: HashMap<Vec<String>, u64>,
    /// Every folder a listed path lies in.
    folders: HashSet<Vec<String>>,
    /// The most bytes of files the extraction may write, and who declared it.
    limit: u64,
    limit_by: &'static str,
    /// Bytes of files admitted so far (each file is admitted at its listed size and never
    /// written past it).
    admitted_bytes: u64,
}

impl RuntimeRules<'_> {
    /// Counts a listed file's bytes and reports the extraction's progress.
    fn wrote(&mut self, bytes: u64) {
        self.written += bytes;
        let total = self.allowed.as_ref().map_or(0, |allowed| {
            allowed.manifest.files.iter().map(|file| file.size).sum()
        });
        (self.progress)(Unpacking::Extracting {
            done: self.written,
            total,
        });
    }

    /// Reads the first member, which must be `manifest.json`, into memory and checks it; the
    /// bytes to write come back. Nothing of the archive is on disk yet when this refuses.
    fn read_manifest(
        &mut self,
        member: &str,
        components: &[String],
        entry_type: tar::EntryType,
        entry: &mut impl Read,
        size: u64,
    ) -> Result<Vec<u8>> {
        let archive = self.archive.to_path_buf();
        if components != [MANIFEST_FILE] {
            return Err(Error::ManifestNotFirst {
                archive,
                member: member.to_owned(),
            });
        }
        if !is_regular_file(entry_type) {
            return Err(Error::UnsafeMember {
                archive,
                member: member.to_owned(),
                reason: "is not a regular file; a runtime archive's manifest is one".to_owned(),
            });
        }
        let declared = self.declared.manifest.as_ref();
        match declared {
            Some(declared) if size != declared.size => {
                return Err(Error::ManifestNotDeclared {
                    archive,
                    detail: format!(
                        "it is {size} bytes, the release index declares {}",
                        declared.size
                    ),
                })
            }
            None if size > MAX_MANIFEST_BYTES => {
                return Err(Error::ManifestTooLarge {
                    archive,
                    size,
                    limit: MAX_MANIFEST_BYTES,
                })
            }
            _ => {}
        }
        let mut bytes = Vec::new();
        entry
            .take(size)
            .read_to_end(&mut bytes)
            .map_err(|source| Error::ArchiveRead {
                archive: archive.clone(),
                source,
            })?;
        if bytes.len() as u64 != size {
            return Err(Error::ArchiveRead {
                archive,
                source: std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "member `{member}` is cut off: {} of {size} bytes",
                        bytes.len()
                    ),
                ),
            });
        }
        if let Some(declared) = declared {
            let actual = runtime_spec::Sha256::from_bytes(sha2::Sha256::digest(&bytes).into());
            if actual != declared.sha256 {
                return Err(Error::ManifestNotDeclared {
                    archive,
                    detail: format!(
                        "its sha256 is {actual}, the release index declares {}",
                        declared.sha256
                    ),
                });
            }
        }
        let manifest = Manifest::from_json(&bytes).map_err(|source| Error::ManifestInvalid {
            path: archive.clone(),
            source,
        })?;
        if manifest.target != self.target {
            return Err(Error::WrongTarget {
                archive,
                expected: self.target,
                found: manifest.target,
            });
        }
        // Summed without overflow: a hostile manifest may list sizes near u64::MAX.
        let listed = manifest
            .files
            .iter()
            .fold(0u64, |sum, file| sum.saturating_add(file.size));
        let (limit, limit_by) = match self.declared.unpacked_size {
            Some(declared) if listed > declared => {
                return Err(Error::UnpackedTooLarge {
                    archive,
                    limit: declared,
                    limit_by: "release index",
                    found: listed,
                })
            }
            Some(declared) => (declared, "release index"),
            None => (listed, "manifest"),
        };
        let mut files = HashMap::with_capacity(manifest.files.len());
        let mut folders = HashSet::new();
        for file in &manifest.files {
            let components: Vec<String> = file.path.split('/').map(str::to_owned).collect();
            for depth in 1..components.len() {
                if !folders.contains(&components[..depth]) {
                    folders.insert(components[..depth].to_vec());
                }
            }
            files.insert(components, file.size);
        }
        self.allowed = Some(Allowed {
            manifest,
            files,
            folders,
            limit,
            limit_by,
            admitted_bytes: 0,
        });
        Ok(bytes)
    }

    /// Admits a member after the manifest, or refuses it before anything of it is written.
    /// For a regular file, the most bytes its copy may write comes back.
    fn admit(
        &mut self,
        member: &str,
        components: &[String],
        entry_type: tar::EntryType,
        size: u64,
    ) -> Result<Option<u64>> {
        let allowed = self
            .allowed
            .as_mut()
            .expect("the manifest is read before any other member is admitted");
        let undeclared = |folder| Error::UndeclaredMember {
            archive: self.archive.to_path_buf(),
            member: member.to_owned(),
            folder,
        };
        if entry_type.is_dir() {
            return if allowed.folders.contains(components) {
                Ok(None)
            } else {
                Err(undeclared(true))
            };
        }
        let regular = is_regular_file(entry_type);
        if !(regular || entry_type.is_symlink() || entry_type.is_hard_link()) {
            // Devices, fifos and the like: the generic checks refuse them by kind.
            return Ok(None);
        }
        // Removed on admission: each listed path is extracted at most once.
        let Some(listed) = allowed.files.remove(components) else {
            return Err(undeclared(false));
        };
        if !regular {
            // Links write no bytes; verification checks what they lead to.
            return Ok(None);
        }
        if size != listed {
            return Err(Error::MemberSize {
                archive: self.archive.to_path_buf(),
                member: member.to_owned(),
                size: Some(size),
                declared: listed,
            });
        }
        let total = allowed.admitted_bytes.saturating_add(size);
        if total > allowed.limit {
            return Err(Error::UnpackedTooLarge {
                archive: self.archive.to_path_buf(),
                limit: allowed.limit,
                limit_by: allowed.limit_by,
                found: total,
            });
        }
        allowed.admitted_bytes = total;
        Ok(Some(listed))
    }
}

fn is_regular_file(entry_type: tar::EntryType) -> bool {
    entry_type.is_file() || entry_type.is_contiguous() || entry_type.is_gnu_sparse()
}

fn extract_into(
    archive: &Path,
    dest_dir: &Path,
    options: &ExtractOptions,
    mut rules: Option<&mut RuntimeRules<'_>>,
) -> Result<ExtractReport> {
    let mut tar = open_archive(archive)?;
    let read_error = |source| Error::ArchiveRead {
        archive: archive.to_path_buf(),
        source,
    };
    let mut report = ExtractReport::default();
    let mut written: HashMap<Vec<String>, Written> = HashMap::new();
    let mut symlinks: Vec<(Vec<String>, String, String)> = Vec::new();

    for entry in tar.entries().map_err(read_error)? {
        let mut entry = entry.map_err(read_error)?;
        let raw_path = entry.path_bytes().into_owned();
        let member = String::from_utf8_lossy(&raw_path).into_owned();
        let unsafe_member = |reason: String| Error::UnsafeMember {
            archive: archive.to_path_buf(),
            member: member.clone(),
            reason,
        };
        let entry_type = entry.header().entry_type();
        if entry_type.is_pax_global_extensions() {
            continue;
        }
        let components = member_components(&raw_path).map_err(unsafe_member)?;
        if components.is_empty() {
            // `./` names the destination itself, which already exists as a folder.
            if entry_type.is_dir() {
                continue;
            }
            return Err(unsafe_member(
                "names the archive root but is not a folder".to_owned(),
            ));
        }
        let Some(components) = strip(components, options.strip_components) else {
            continue;
        };
        check_not_below_link_or_file(&components, &written).map_err(unsafe_member)?;
        if let Some(existing) = written.get(&components) {
            if !(entry_type.is_dir() && *existing == Written::Dir) {
                return Err(unsafe_member(
                    "appears twice in the archive (or clashes with an implied folder)".to_owned(),
                ));
            }
            continue;
        }
        let target = join(dest_dir, &components);
        let expected_size = entry.size();
        let mut size_limit = expected_size;
        if let Some(rules) = rules.as_deref_mut() {
            if rules.allowed.is_none() {
                let bytes = rules.read_manifest(
                    &member,
                    &components,
                    entry_type,
                    &mut entry,
                    expected_size,
                )?;
                let mode = normalized_mode(entry.header().mode().map_err(read_error)?);
                let mtime = entry.header().mtime().ok();
                let size = bytes.len() as u64;
                write_file(&target, mode, mtime, &mut &bytes[..], size, read_error)?;
                written.insert(components, Written::File);
                report.n_files += 1;
                report.unpacked_bytes += size;
                continue;
            }
            if let Some(listed) = rules.admit(&member, &components, entry_type, expected_size)? {
                size_limit = listed;
            }
        }

        if entry_type.is_dir() {
            ensure_dir(dest_dir, &components, &mut written, &mut report)?;
        } else if is_regular_file(entry_type) {
            ensure_dir(dest_dir, parent(&components), &mut written, &mut report)?;
            let mode = normalized_mode(entry.header().mode().map_err(read_error)?);
            let mtime = entry.header().mtime().ok();
            let written_file =
                write_file(&target, mode, mtime, &mut entry, size_limit, read_error)?;
            let Some(copied) = written_file else {
                // More data than the header gives (and, in a runtime archive, than the
                // manifest lists); nothing beyond the limit was written.
                return Err(if rules.is_some() {
                    Error::MemberSize {
                        archive: archive.to_path_buf(),
                        member,
                        size: None,
                        declared: size_limit,
                    }
                } else {
                    let message = format!(
                        "member `{member}` holds more than the {size_limit} bytes its header gives"
                    );
                    read_error(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        message,
                    ))
                });
            };
            if copied != expected_size {
                return Err(read_error(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("member `{member}` is cut off: {copied} of {expected_size} bytes"),
                )));
            }
            written.insert(components, Written::File);
            report.n_files += 1;
            report.unpacked_bytes += copied;
            if let Some(rules) = rules.as_deref_mut() {
                rules.wrote(copied);
            }
        } else if entry_type.is_symlink() {
            let link_target = entry
                .link_name_bytes()
                .ok_or_else(|| unsafe_member("symlink without a target".to_owned()))?;
            let link_target = check_symlink_target(&link_target).map_err(unsafe_member)?;
            ensure_dir(dest_dir, parent(&components), &mut written, &mut report)?;
            written.insert(components.clone(), Written::Symlink(link_target.clone()));
            symlinks.push((components, link_target, member.clone()));
        } else if entry_type.is_hard_link() {
            let raw_target = entry
                .link_name_bytes()
                .ok_or_else(|| unsafe_member("hardlink without a target".to_owned()))?;
            let shown_target = String::from_utf8_lossy(&raw_target).into_owned();
            let target_components = member_components(&raw_target)
                .ok()
                .and_then(|parts| strip(parts, options.strip_components));
            let source = match target_components {
                Some(parts) if written.get(&parts) == Some(&Written::File) => join(dest_dir, &parts),
                _ => {
                    return Err(unsafe_member(format!(
                        "hardlink to `{shown_target}`, which is not an earlier regular file of the archive"
                    )))
                }
            };
            ensure_dir(dest_dir, parent(&components), &mut written, &mut report)?;
            fs_err::hard_link(&source, &target).map_err(io_at(&target))?;
            written.insert(components, Written::File);
            report.n_hardlinks += 1;
        } else {
            let kind = if entry_type.is_character_special() {
                "a character device"
            } else if entry_type.is_block_special() {
                "a block device"
            } else if entry_type.is_fifo() {
                "a fifo"
            } else {
                "an unsupported entry type"
            };
            return Err(unsafe_member(format!(
                "is {kind}; runtime archives hold only files, folders and links"
            )));
        }
    }

    // Only now, with every file and folder in place, do symlinks appear, so no member could
    // have been written through one. Each must resolve inside the tree even when it goes
    // through other symlinks of the archive.
    let links: HashMap<Vec<String>, String> = written
        .iter()
        .filter_map(|(path, kind)| match kind {
            Written::Symlink(target) => Some((path.clone(), target.clone())),
            _ => None,
        })
        .collect();
    for (components, link_target, member) in &symlinks {
        if resolve_symlink(components, link_target, &links).is_none() {
            return Err(Error::UnsafeMember {
                archive: archive.to_path_buf(),
                member: member.clone(),
                reason: format!("symlink to `{link_target}` resolves outside the destination"),
            });
        }
    }
    for (components, link_target, _) in &symlinks {
        create_symlink(link_target, &join(dest_dir, components))?;
        report.n_symlinks += 1;
    }
    Ok(report)
}

/// Opens an archive, picking the decompressor from the magic bytes.
pub(crate) fn open_archive(archive: &Path) -> Result<tar::Archive<Box<dyn Read>>> {
    let mut file = File::open(archive).map_err(io_at(archive))?;
    let mut magic = [0u8; 512];
    let n = read_up_to(&mut file, &mut magic).map_err(io_at(archive))?;
    let magic = &magic[..n];
    file.seek(SeekFrom::Start(0)).map_err(io_at(archive))?;
    let buffered = BufReader::with_capacity(256 * 1024, file);
    let read_error = |source| Error::ArchiveRead {
        archive: archive.to_path_buf(),
        source,
    };
    let reader: Box<dyn Read> = if magic.starts_with(&ZSTD_MAGIC) {
        // The first frame's header says how much memory decoding takes: refuse a too-large
        // window with a sentence that says so. Later frames (our packer writes one) meet the
        // decoder's own limit.
        if let Some(window) = zstd_window_size(magic) {
            if window > 1 << MAX_ZSTD_WINDOW_LOG {
                return Err(read_error(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "it needs a {} MiB zstd window to unpack, more than the {} MiB this \
                         extractor allows, so it was not packed by this toolchain",
                        window.div_ceil(1 << 20),
                        1u64 << (MAX_ZSTD_WINDOW_LOG - 20)
                    ),
                )));
            }
        }
        let mut decoder = zstd::stream::read::Decoder::with_buffer(buffered).map_err(read_error)?;
        decoder
            .window_log_max(MAX_ZSTD_WINDOW_LOG)
            .map_err(read_error)?;
        Box::new(decoder)
    } else if magic.starts_with(&[0x1F, 0x8B]) {
        // Multi-member so a gzip made of concatenated streams is read to its end.
        Box::new(flate2::bufread::MultiGzDecoder::new(buffered))
    } else if magic.len() >= 262 && &magic[257..262] == b"ustar" {
        Box::new(buffered)
    } else {
        return Err(Error::UnknownFormat {
            archive: archive.to_path_buf(),
        });
    };
    Ok(tar::Archive::new(reader))
}

/// The first bytes of every zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// The window size, in bytes, that the zstd frame at the start of `bytes` declares (RFC 8878,
/// 3.1.1.1): from its window descriptor, or for a single-segment frame its content size.
/// `None` when the header is cut off or is not a zstd frame's.
pub(crate) fn zstd_window_size(bytes: &[u8]) -> Option<u64> {
    let descriptor = *bytes.strip_prefix(&ZSTD_MAGIC)?.first()?;
    let single_segment = descriptor & 0x20 != 0;
    if !single_segment {
        let window_descriptor = *bytes.get(ZSTD_MAGIC.len() + 1)?;
        let window_log = 10 + u64::from(window_descriptor >> 3);
        let base = 1u64 << window_log;
        return Some(base + (base / 8) * u64::from(window_descriptor & 7));
    }
    let dictionary_id_bytes = [0, 1, 2, 4][usize::from(descriptor & 3)];
    let content_size_bytes = [1, 2, 4, 8][usize::from(descriptor >> 6)];
    let start = ZSTD_MAGIC.len() + 1 + dictionary_id_bytes;
    let field = bytes.get(start..start + content_size_bytes)?;
    let mut value = [0u8; 8];
    value[..content_size_bytes].copy_from_slice(field);
    let size = u64::from_le_bytes(value);
    // A 2-byte field stores the size minus 256.
    Some(if content_size_bytes == 2 {
        size + 256
    } else {
        size
    })
}

/// Creates `target` (never an existing file, never through a symlink) with `mode` and
/// `mtime` and copies at most `limit` bytes of `data` into it: `Ok(None)` when `data` holds
/// more, before any byte beyond the limit is written (the caller's cleanup removes the file).
fn write_file(
    target: &Path,
    mode: u32,
    mtime: Option<u64>,
    data: &mut impl Read,
    limit: u64,
    on_read: impl Fn(std::io::Error) -> Error,
) -> Result<Option<u64>> {
    let mut file = create_new_file(target, mode)?;
    let Some(copied) = copy_member(data, &mut file, limit, on_read, io_at(target))? else {
        return Ok(None);
    };
    if let Some(mtime) = mtime {
        let mtime = filetime::FileTime::from_unix_time(mtime as i64, 0);
        filetime::set_file_handle_times(&file, None, Some(mtime)).map_err(io_at(target))?;
    }
    set_mode(&file, target, mode)?;
    Ok(Some(copied))
}

/// Copies a member's data, at most `limit` bytes, keeping apart the archive's read errors and
/// the disk's write errors. `Ok(None)` when the member holds more than `limit` bytes: the
/// read that would pass the limit is not written.
pub(crate) fn copy_member(
    reader: &mut impl Read,
    writer: &mut impl Write,
    limit: u64,
    on_read: impl Fn(std::io::Error) -> Error,
    on_write: impl FnOnce(std::io::Error) -> Error,
) -> Result<Option<u64>> {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut copied = 0u64;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(on_read(error)),
        };
        if copied + n as u64 > limit {
            return Ok(None);
        }
        if let Err(error) = writer.write_all(&buffer[..n]) {
            return Err(on_write(error));
        }
        copied += n as u64;
    }
    Ok(Some(copied))
}

fn read_up_to(reader: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// Splits a member path into safe components; `Err` carries the reason it is unsafe.
///
/// `.` parts, empty parts and a trailing `/` are dropped (tar writes `./x` and `dir/`); an
/// empty result means the archive root itself.
pub(crate) fn member_components(raw: &[u8]) -> Result<Vec<String>, String> {
    let path = std::str::from_utf8(raw).map_err(|_| "its path is not UTF-8".to_owned())?;
    if path.starts_with('/') {
        return Err("absolute path".to_owned());
    }
    if path.contains('\\') {
        return Err("backslash in the path (Windows-style path)".to_owned());
    }
    if path.contains(':') {
        // Drive letters (`C:`) and NTFS alternate streams (`file:stream`).
        return Err("`:` in the path (drive letter or alternate data stream)".to_owned());
    }
    if path.contains('\0') {
        return Err("NUL in the path".to_owned());
    }
    let mut components = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("`..` component in the path".to_owned()),
            name => components.push(name.to_owned()),
        }
    }
    Ok(components)
}

/// Drops the first `n` components; `None` when nothing is left (the member is skipped).
fn strip(mut components: Vec<String>, n: usize) -> Option<Vec<String>> {
    if components.len() <= n {
        return None;
    }
    components.drain(..n);
    Some(components)
}

fn parent(components: &[String]) -> &[String] {
    &components[..components.len().saturating_sub(1)]
}

fn join(root: &Path, components: &[String]) -> PathBuf {
    let mut path = root.to_path_buf();
    path.extend(components);
    path
}

fn check_not_below_link_or_file(
    components: &[String],
    written: &HashMap<Vec<String>, Written>,
) -> Result<(), String> {
    for depth in 1..components.len() {
        let prefix = &components[..depth];
        match written.get(prefix) {
            Some(Written::Symlink(_)) => {
                return Err(format!(
                    "would be written through the symlink `{}`",
                    prefix.join("/")
                ))
            }
            Some(Written::File) => {
                return Err(format!("is below `{}`, which is a file", prefix.join("/")))
            }
            Some(Written::Dir) | None => {}
        }
    }
    Ok(())
}

/// Checks a symlink target's shape; where it points is checked once all links are known.
fn check_symlink_target(raw: &[u8]) -> Result<String, String> {
    let target = std::str::from_utf8(raw).map_err(|_| "symlink target is not UTF-8".to_owned())?;
    if target.is_empty() {
        return Err("symlink with an empty target".to_owned());
    }
    if target.starts_with('/') {
        return Err(format!("symlink to the absolute path `{target}`"));
    }
    if target.contains('\\') || target.contains(':') || target.contains('\0') {
        return Err(format!("symlink to the Windows-style path `{target}`"));
    }
    Ok(target.to_owned())
}

/// Resolves the symlink at `link` (components below the root) pointing to `target`, following
/// the other symlinks in `links` the way the OS would. `None` when it leaves the root, is
/// absolute or loops.
pub(crate) fn resolve_symlink(
    link: &[String],
    target: &str,
    links: &HashMap<Vec<String>, String>,
) -> Option<Vec<String>> {
    let mut current: Vec<String> = parent(link).to_vec();
    let mut pending: VecDeque<String> = VecDeque::new();
    push_target(&mut pending, target)?;
    let mut hops = 0;
    while let Some(part) = pending.pop_front() {
        match part.as_str() {
            "" | "." => {}
            ".." => {
                current.pop()?;
            }
            _ => {
                current.push(part);
                if let Some(next) = links.get(&current) {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return None;
                    }
                    current.pop();
                    push_target(&mut pending, next)?;
                }
            }
        }
    }
    Some(current)
}

/// Puts a link target's parts in front of what is still to resolve; `None` if absolute.
fn push_target(pending: &mut VecDeque<String>, target: &str) -> Option<()> {
    if target.starts_with('/') || target.contains('\\') || target.contains(':') {
        return None;
    }
    for part in target.split('/').rev() {
        pending.push_front(part.to_owned());
    }
    Some(())
}

/// Creates the folders for `components` one by one, each 0755, refusing to pass through
/// anything that is not a folder this extraction created or the destination itself.
fn ensure_dir(
    dest_dir: &Path,
    components: &[String],
    written: &mut HashMap<Vec<String>, Written>,
    report: &mut ExtractReport,
) -> Result<()> {
    for depth in 1..=components.len() {
        let prefix = &components[..depth];
        match written.get(prefix) {
            Some(Written::Dir) => continue,
            Some(_) => {
                return Err(Error::Io {
                    path: join(dest_dir, prefix),
                    source: std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        "a file or link of the archive is where a folder is needed",
                    ),
                })
            }
            None => {}
        }
        let path = join(dest_dir, prefix);
        // Plain create_dir (not _all) fails on anything already there, so an unexpected
        // entry in the destination is never reused.
        fs_err::create_dir(&path).map_err(io_at(&path))?;
        set_path_mode(&path, MODE_DIR)?;
        written.insert(prefix.to_vec(), Written::Dir);
        report.n_dirs += 1;
    }
    Ok(())
}

/// 0755 when any execute bit is set, else 0644: drops setuid/setgid/sticky and odd modes.
pub(crate) fn normalized_mode(mode: u32) -> u32 {
    if mode & 0o111 != 0 {
        MODE_EXECUTABLE
    } else {
        MODE_REGULAR
    }
}

#[cfg(unix)]
fn create_new_file(path: &Path, mode: u32) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // create_new is O_EXCL: it never opens an existing file and never follows a symlink.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io_at(path))
}

#[cfg(not(unix))]
fn create_new_file(path: &Path, _mode: u32) -> Result<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io_at(path))
}

#[cfg(unix)]
fn set_mode(file: &File, path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // Explicit, because the umask may have trimmed the mode given at creation.
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io_at(path))
}

#[cfg(not(unix))]
fn set_mode(_file: &File, _path: &Path, _mode: u32) -> Result<()> {
    Ok(())
}

#[cfg(unix)]
fn set_path_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io_at(path))
}

#[cfg(not(unix))]
fn set_path_mode(_path: &Path, _mode: u32) -> Result<()> {
    Ok(())
}

#[cfg(unix)]
fn create_symlink(target: &str, path: &Path) -> Result<()> {
    fs_err::os::unix::fs::symlink(target, path).map_err(io_at(path))
}

#[cfg(windows)]
fn create_symlink(target: &str, path: &Path) -> Result<()> {
    // Windows archives (PBS windows-x64) carry no symlinks, and creating one needs
    // developer mode or admin rights, so refuse clearly rather than half-work.
    Err(Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            format!("symlink to `{target}` cannot be created on Windows"),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(path: &str) -> Vec<String> {
        path.split('/').map(str::to_owned).collect()
    }

    #[test]
    fn member_paths() {
        for (raw, expected) in [
            ("a/b", Some("a/b")),
            ("./a/b/", Some("a/b")),
            ("./", Some("")),
            ("../evil", None),
            ("a/../../x", None),
            ("/abs", None),
            ("a\\b", None),
            ("C:/x", None),
            ("a/b:c", None),
        ] {
            let got = member_components(raw.as_bytes()).ok().map(|c| c.join("/"));
            assert_eq!(got.as_deref(), expected, "{raw:?}");
        }
    }

    #[test]
    fn a_copy_stops_before_the_first_byte_beyond_its_limit() {
        let read_error = |source| Error::ArchiveRead {
            archive: PathBuf::from("a.tar"),
            source,
        };
        let write_error = |source| Error::io(Path::new("out"), source);
        let data = [7u8; 100];
        let mut out = Vec::new();
        let copied = copy_member(&mut &data[..], &mut out, 99, read_error, write_error).unwrap();
        assert_eq!(copied, None);
        assert!(out.len() <= 99, "{} bytes written", out.len());
        let mut out = Vec::new();
        let copied = copy_member(&mut &data[..], &mut out, 100, read_error, write_error).unwrap();
        assert_eq!((copied, out.len()), (Some(100), 100));
    }

    #[test]
    fn zstd_window_sizes_from_frame_headers() {
        let frame = |rest: &[u8]| [&ZSTD_MAGIC[..], rest].concat();
        // Window descriptor: exponent 17 → 2^27; mantissa 4 adds half of it.
        assert_eq!(zstd_window_size(&frame(&[0x00, 17 << 3])), Some(1 << 27));
        assert_eq!(
            zstd_window_size(&frame(&[0x00, (18 << 3) | 4])),
            Some((1 << 28) + (1 << 27))
        );
        // Single segment: the window is the content size (a 2-byte field adds 256).
        assert_eq!(zstd_window_size(&frame(&[0x20, 200])), Some(200));
        assert_eq!(zstd_window_size(&frame(&[0x60, 0x00, 0x01])), Some(512));
        assert_eq!(
            zstd_window_size(&frame(&[0xA0, 0, 0, 0, 0x20])),
            Some(1 << 29)
        );
        // With a 1-byte dictionary id before an 8-byte content size.
        assert_eq!(
            zstd_window_size(&frame(&[0xE1, 9, 0, 0, 0, 0, 1, 0, 0, 0])),
            Some(1 << 32)
        );
        assert_eq!(zstd_window_size(&frame(&[0x00])), None);
        assert_eq!(zstd_window_size(&frame(&[0xA0, 0, 0])), None);
        assert_eq!(zstd_window_size(b"PK\x03\x04\x00\x00"), None);
    }

    #[test]
    fn packed_archives_declare_the_window_the_extractor_allows() {
        let tree = tempfile::tempdir().unwrap();
        fs_err::write(tree.path().join("a"), b"a").unwrap();
        let out = tempfile::tempdir().unwrap();
        let archive = out.path().join("a.tar.zst");
        crate::pack_tar_zst(tree.path(), &archive, &crate::PackOptions::new(0)).unwrap();
        let bytes = fs_err::read(&archive).unwrap();
        assert_eq!(zstd_window_size(&bytes), Some(1 << MAX_ZSTD_WINDOW_LOG));
    }

    #[test]
    fn symlink_resolution() {
        let links: HashMap<Vec<String>, String> = [
            (parts("d/up"), "..".to_owned()),
            (parts("loop"), "loop".to_owned()),
        ]
        .into();
        for (link, target, inside) in [
            ("bin/python3", "python3.12", true),
            ("bin/x", "../lib/x", true),
            ("bin/x", "../../x", false),
            ("x", "/etc", false),
            ("t", "d/up/../x", false),
            ("t", "d/up/x", true),
            ("t", "loop", false),
            ("d/e", ".", true),
        ] {
            assert_eq!(
                resolve_symlink(&parts(link), target, &links).is_some(),
                inside,
                "{link} -> {target}"
            );
        }
    }
}
