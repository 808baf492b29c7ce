//! Delta updates from the release's object store (`docs/runtime-contract.md`, "Object store";
//! the record: `docs/decisions/0020-object-store-delta-updates.md`).
//!
//! The signed index names the new runtime's `manifest.json` by sha256 and size; its object is
//! fetched and verified first. Every file the manifest lists is then taken from what is
//! already on disk when a runtime here holds the same bytes (hard-linked, or copied where
//! links fail), from the local object cache (objects an interrupted try already verified), or
//! fetched as an object, in parallel, each resumable and verified while it is unpacked. The
//! result is assembled in `staging-<version>`, verified file by file against the manifest and
//! renamed to `pending` like an archive install. Anything a delta cannot do (no runtime to
//! start from, too much changed, a missing or damaged object) is a reason to fetch the full
//! archive instead, never to accept bytes the manifest does not describe.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use runtime_archive::objects::{self, UnpackError};
use runtime_spec::{layout, FileEntry, Manifest, Sha256};
use sha2::Digest;

use crate::error::{Error, Result};
use crate::index::{self, Selected};
use crate::install::{self, Method, Options, Stage, Transfer};
use crate::store::{Store, CURRENT, DEFAULT, DOWNLOADS, PREVIOUS};

/// A delta is used when its objects are at most this fraction of the archive's size.
/// Objects are packed one by one, so all of them are ≈ 1.2× the solid archive, and each is one
/// request: past half the archive the archive is as fast and needs no planning
/// (`cargo xtask bench update` measures both paths side by side).
pub const DELTA_MAX_FRACTION: f64 = 0.5;

/// Where verified objects and object downloads live: `downloads/objects/`.
const OBJECT_CACHE: &str = "objects";
/// A downloaded object waiting to be unpacked and verified (its `.part` while downloading).
const UNVERIFIED_SUFFIX: &str = "download";
/// No honest manifest is anywhere near this (the CUDA runtime's is a few MB).
const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;

/// What [`try_delta`] did.
pub(crate) enum Attempt {
    /// `pending` holds the new runtime.
    Installed(Transfer),
    /// Nothing changed in the runtimes folder; the archive should be fetched. `None` when a
    /// delta was not even possible (a first install), else the one-line reason for the log.
    UseArchive(Option<String>),
}

/// Where a file of the new runtime comes from.
#[derive(Debug, Clone)]
enum Source {
    /// The same bytes in an installed runtime.
    Local { path: PathBuf, executable: bool },
    /// An object already downloaded and verified by an earlier try.
    Cached,
    /// An object to download.
    Fetch,
    /// The same bytes as an earlier file of this manifest (written before it is needed).
    Sibling(usize),
    /// Bytes the verified manifest itself determines: `VERSION` is the version and a newline,
    /// which changes with every release and needs no request.
    Generated(Vec<u8>),
}

/// The update planned against what is on disk.
struct Plan {
    sources: Vec<Source>,
    /// Bytes of objects to download, the manifest's included.
    download_bytes: u64,
    reused_files: u64,
    reused_bytes: u64,
    fetched_files: u64,
    /// Bytes written into staging by unpacking objects (cached or fetched).
    unpacked_bytes: u64,
}

/// Tries to install `selected` as a delta from the runtimes on disk. Errors that a full
/// archive could not avoid either (no space, the runtimes folder unwritable) are returned;
/// every other failure leaves the folder as it was and answers [`Attempt::UseArchive`].
pub(crate) fn try_delta(
    store: &mut Store,
    selected: &Selected,
    options: &Options,
    on_stage: &mut dyn FnMut(Stage),
) -> Result<Attempt> {
    let installed: Vec<(PathBuf, Manifest)> = [CURRENT, PREVIOUS, DEFAULT]
        .iter()
        .filter_map(|slot| Some((store.slot(slot), store.manifest_in(slot)?)))
        .collect();
    if installed.is_empty() {
        return Ok(Attempt::UseArchive(None));
    }
    let entry = &selected.entry;
    let (manifest, manifest_bytes) = match fetch_manifest(selected, options) {
        Ok(fetched) => fetched,
        Err(reason) => return Ok(Attempt::UseArchive(Some(reason))),
    };
    // The manifest is the one the signed index names: its archive would be the same other
    // app's runtime, so there is nothing to fall back to.
    if manifest.app_id != selected.app_id {
        return Err(Error::BadEntry {
            reason: crate::install::another_app(&manifest.app_id, &selected.app_id),
        });
    }
    let cache = store.slot(DOWNLOADS).join(OBJECT_CACHE);
    let plan = plan(&manifest, &installed, &cache, entry.manifest.packed_size);
    let limit = (entry.size as f64 * DELTA_MAX_FRACTION) as u64;
    if plan.download_bytes > limit {
        return Ok(Attempt::UseArchive(Some(format!(
            "the changed files are {} to download, more than {:.0} % of the {} archive",
            install::human_bytes(plan.download_bytes),
            DELTA_MAX_FRACTION * 100.0,
            install::human_bytes(entry.size)
        ))));
    }

    let staging = store.slot(&format!("staging-{}", entry.version));
    let _ = std::fs::remove_dir_all(&staging);
    fs_err::create_dir_all(&staging).map_err(Error::io("creating", &staging))?;
    let links = probe_links(&plan, &staging);
    if let Err(error) = check_space(store, &plan, &manifest, links.is_ok()) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(error);
    }

    store.step("delta-download");
    let result = assemble(
        store,
        selected,
        &manifest,
        &plan,
        &staging,
        &cache,
        options,
        links.is_ok(),
        on_stage,
    );
    let copied = match result {
        Ok(copied) => copied,
        Err(failure) => {
            let _ = std::fs::remove_dir_all(&staging);
            return match failure {
                Failure::Fatal(error) => Err(error),
                Failure::UseArchive(reason) => Ok(Attempt::UseArchive(Some(reason))),
            };
        }
    };
    if let Err(reason) = &links {
        if copied > 0 {
            store.note(format!(
                "copied {copied} unchanged files instead of hard-linking them: {reason}"
            ));
        }
    }

    let total: u64 = manifest.files.iter().map(|file| file.size).sum();
    on_stage(Stage::Installing {
        version: entry.version.clone(),
        done: 0,
        total,
        seconds_left: None,
    });
    let manifest_path = staging.join(layout::MANIFEST_FILE);
    fs_err::write(&manifest_path, &manifest_bytes).map_err(Error::io("writing", &manifest_path))?;
    store.step("delta-verify");
    let verify_started = Instant::now();
    let mut last_reported: Option<Instant> = None;
    let report = runtime_archive::verify_dir_with_progress(&staging, &manifest, &mut |done| {
        let now = Instant::now();
        if done < total && last_reported.is_some_and(|at| now - at < Duration::from_millis(100)) {
            return;
        }
        last_reported = Some(now);
        let (_, seconds_left) = install::rate(verify_started.elapsed(), done, total - done);
        on_stage(Stage::Installing {
            version: entry.version.clone(),
            done,
            total,
            seconds_left,
        });
    });
    if !report.is_ok() {
        let _ = std::fs::remove_dir_all(&staging);
        return Ok(Attempt::UseArchive(Some(format!(
            "the assembled runtime differs from its manifest ({report})"
        ))));
    }
    install::promote_staging(store, &staging)?;
    Ok(Attempt::Installed(Transfer {
        method: Method::Delta,
        download_bytes: plan.download_bytes,
        fetched_files: plan.fetched_files,
        reused_files: plan.reused_files,
        reused_bytes: plan.reused_bytes,
        fallback: None,
    }))
}

/// Fetches the manifest's object, checks it is the one the signed index names and that it
/// describes the promised runtime. `Err` is the reason to use the archive instead.
fn fetch_manifest(
    selected: &Selected,
    options: &Options,
) -> std::result::Result<(Manifest, Vec<u8>), String> {
    let reference = &selected.entry.manifest;
    if reference.size > MAX_MANIFEST_BYTES
        || reference.packed_size > objects::max_packed_size(reference.size)
    {
        return Err(format!(
            "the index declares a {} byte manifest, which no runtime has",
            reference.size
        ));
    }
    let url = object_url(selected, &reference.sha256)?;
    let client = options
        .policy
        .client(&url)
        .map_err(|error| format!("the HTTP client could not be set up ({error})"))?;
    let packed = index::fetch_small(&client, &url, reference.packed_size)
        .map_err(|error| match error {
            // A release folder published without its object store: nothing is wrong with the
            // server, the archive is the way to this runtime.
            Error::HttpStatus { status: 404, .. } => {
                "the release publishes no object for its manifest (no object store beside the index)"
                    .to_owned()
            }
            error => format!("the manifest could not be fetched: {error}"),
        })?;
    let mut bytes = Vec::with_capacity(reference.size as usize);
    objects::unpack_object(&packed[..], &mut bytes, reference.size, &reference.sha256).map_err(
        |error| match error {
            UnpackError::Object(fault) => {
                format!("the manifest object is not the one the index names: {fault}")
            }
            UnpackError::Write(error) => error.to_string(),
        },
    )?;
    let manifest = Manifest::from_json(&bytes)
        .map_err(|error| format!("the manifest object is unreadable: {error}"))?;
    let entry = &selected.entry;
    if manifest.runtime_version != entry.version || manifest.variant() != selected.variant {
        return Err(format!(
            "the manifest describes runtime {} {}, the index promised {} {}",
            manifest.runtime_version,
            manifest.variant(),
            entry.version,
            selected.variant
        ));
    }
    if manifest.unpacked_size() > entry.unpacked_size {
        return Err(format!(
            "the manifest's files add up to {} bytes, more than the {} the index declares",
            manifest.unpacked_size(),
            entry.unpacked_size
        ));
    }
    if !manifest.has_objects() {
        return Err(
            "the manifest names no objects (a runtime built before the object store)".into(),
        );
    }
    Ok((manifest, bytes))
}

/// The URL of the object of `sha256` in the index's object store.
fn object_url(selected: &Selected, sha256: &Sha256) -> std::result::Result<String, String> {
    url::Url::parse(&selected.objects_url)
        .and_then(|base| base.join(&layout::object_name(sha256)))
        .map(|url| url.to_string())
        .map_err(|error| format!("no object URL in {}: {error}", selected.objects_url))
}

/// Decides where each file comes from. Files of an installed runtime are trusted by their
/// manifest (they were verified before the folder got its name) and checked again with the
/// whole staging folder at the end.
fn plan(
    manifest: &Manifest,
    installed: &[(PathBuf, Manifest)],
    cache: &Path,
    manifest_packed_size: u64,
) -> Plan {
    let mut local: HashMap<(&Sha256, u64), (PathBuf, bool)> = HashMap::new();
    for (dir, installed) in installed.iter().rev() {
        // Reversed, so `current` (first) wins over `previous` and `default`.
        for file in &installed.files {
            local.insert(
                (&file.sha256, file.size),
                (
                    runtime_spec::launch::join_relative(dir, &file.path),
                    file.executable,
                ),
            );
        }
    }
    let mut first_of: HashMap<&Sha256, usize> = HashMap::new();
    let mut plan = Plan {
        sources: Vec::with_capacity(manifest.files.len()),
        download_bytes: manifest_packed_size,
        reused_files: 0,
        reused_bytes: 0,
        fetched_files: 0,
        unpacked_bytes: 0,
    };
    let version_file = format!("{}\n", manifest.runtime_version).into_bytes();
    for (at, file) in manifest.files.iter().enumerate() {
        let source = if file.path == layout::VERSION_FILE
            && file.size == version_file.len() as u64
            && Sha256::from_bytes(sha2::Sha256::digest(&version_file).into()) == file.sha256
        {
            Source::Generated(version_file.clone())
        } else if let Some((path, executable)) = local.get(&(&file.sha256, file.size)) {
            plan.reused_files += 1;
            plan.reused_bytes += file.size;
            Source::Local {
                path: path.clone(),
                executable: *executable,
            }
        } else if let Some(first) = first_of.get(&file.sha256) {
            Source::Sibling(*first)
        } else {
            first_of.insert(&file.sha256, at);
            plan.unpacked_bytes += file.size;
            if objects::object_file(cache, &file.sha256).is_file() {
                Source::Cached
            } else {
                plan.fetched_files += 1;
                plan.download_bytes += file.packed_size.unwrap_or(0);
                Source::Fetch
            }
        };
        plan.sources.push(source);
    }
    plan
}

/// Whether a file of an installed runtime can be hard-linked into staging (the same file
/// system, and one that has links); `Err` says why not.
fn probe_links(plan: &Plan, staging: &Path) -> std::result::Result<(), String> {
    let Some(path) = plan.sources.iter().find_map(|source| match source {
        Source::Local { path, .. } => Some(path),
        _ => None,
    }) else {
        return Ok(());
    };
    let probe = staging.join(".link-probe");
    let result = std::fs::hard_link(path, &probe).map_err(|error| error.to_string());
    let _ = std::fs::remove_file(&probe);
    result
}

/// Needs the objects still to download, every byte unpacked or copied into staging, and the
/// margin kept for the user's data.
fn check_space(store: &Store, plan: &Plan, manifest: &Manifest, links: bool) -> Result<()> {
    let copies: u64 = if links { 0 } else { plan.reused_bytes }
        + manifest
            .files
            .iter()
            .zip(&plan.sources)
            .filter(|(_, source)| matches!(source, Source::Sibling(_)))
            .map(|(file, _)| if links { 0 } else { file.size })
            .sum::<u64>();
    install::require_space(
        store,
        plan.download_bytes + plan.unpacked_bytes + copies + install::SPACE_MARGIN_BYTES,
    )
}

/// Why assembling stopped.
enum Failure {
    /// A problem the archive would hit too.
    Fatal(Error),
    /// A problem of the delta (an object missing, damaged or unreachable).
    UseArchive(String),
}

/// Writes every file into `staging`: local files first, then objects (downloaded in parallel),
/// then files that repeat an earlier one's bytes. Returns how many files were copied where a
/// link was wanted.
#[allow(clippy::too_many_arguments)]
fn assemble(
    store: &mut Store,
    selected: &Selected,
    manifest: &Manifest,
    plan: &Plan,
    staging: &Path,
    cache: &Path,
    options: &Options,
    links: bool,
    on_stage: &mut dyn FnMut(Stage),
) -> std::result::Result<u64, Failure> {
    let mut copied = 0;
    for (file, source) in manifest.files.iter().zip(&plan.sources) {
        if let Source::Generated(bytes) = source {
            let dest = create_parent(staging, file)?;
            let write = |error| {
                Failure::Fatal(Error::Io {
                    what: "writing",
                    path: dest.clone(),
                    source: error,
                })
            };
            std::io::Write::write_all(
                &mut create_file(&dest, file.executable).map_err(write)?,
                bytes,
            )
            .map_err(write)?;
        }
        if let Source::Local { path, executable } = source {
            let dest = create_parent(staging, file)?;
            if !(links && *executable == file.executable && std::fs::hard_link(path, &dest).is_ok())
            {
                copy_file(path, &dest, file)?;
                copied += 1;
            }
        }
    }

    let version = &selected.entry.version;
    let total = plan.download_bytes;
    let manifest_bytes = selected.entry.manifest.packed_size;
    on_stage(Stage::Downloading {
        version: version.clone(),
        method: Method::Delta,
        downloaded: manifest_bytes,
        total,
        bytes_per_second: None,
        seconds_left: None,
    });
    let work: Vec<(&FileEntry, bool)> = manifest
        .files
        .iter()
        .zip(&plan.sources)
        .filter_map(|(file, source)| match source {
            Source::Fetch => Some((file, true)),
            Source::Cached => Some((file, false)),
            _ => None,
        })
        .collect();
    fetch_all(
        selected,
        &work,
        staging,
        cache,
        options,
        &mut |downloaded, rate| {
            on_stage(Stage::Downloading {
                version: version.clone(),
                method: Method::Delta,
                downloaded: manifest_bytes + downloaded,
                total,
                bytes_per_second: rate.0,
                seconds_left: rate.1,
            })
        },
    )?;
    store.step("delta-assemble");

    for (file, source) in manifest.files.iter().zip(&plan.sources) {
        if let Source::Sibling(first) = source {
            let from = runtime_spec::launch::join_relative(staging, &manifest.files[*first].path);
            let dest = create_parent(staging, file)?;
            let same_mode = manifest.files[*first].executable == file.executable;
            if !(links && same_mode && std::fs::hard_link(&from, &dest).is_ok()) {
                copy_file(&from, &dest, file)?;
            }
        }
    }
    Ok(copied)
}

/// Downloads (`true`) or takes from the cache (`false`) every object of `work` and unpacks it
/// into staging, on `options.parallel` threads. The first failure stops the others.
fn fetch_all(
    selected: &Selected,
    work: &[(&FileEntry, bool)],
    staging: &Path,
    cache: &Path,
    options: &Options,
    on_progress: &mut dyn FnMut(u64, (Option<f64>, Option<f64>)),
) -> std::result::Result<(), Failure> {
    if work.is_empty() {
        return Ok(());
    }
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let first_failure: Mutex<Option<Failure>> = Mutex::new(None);
    let (progress_tx, progress_rx) = mpsc::channel::<u64>();
    let total: u64 = work
        .iter()
        .filter(|(_, fetch)| *fetch)
        .map(|(file, _)| file.packed_size.unwrap_or(0))
        .sum();
    std::thread::scope(|scope| {
        for _ in 0..options.parallel.clamp(1, work.len()) {
            let progress_tx = progress_tx.clone();
            let (next, stop, first_failure) = (&next, &stop, &first_failure);
            scope.spawn(move || loop {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let at = next.fetch_add(1, Ordering::SeqCst) as usize;
                let Some((file, fetch)) = work.get(at) else {
                    break;
                };
                let result = fetch_one(selected, file, *fetch, staging, cache, options, &|bytes| {
                    let _ = progress_tx.send(bytes);
                });
                if let Err(failure) = result {
                    stop.store(true, Ordering::SeqCst);
                    first_failure
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .get_or_insert(failure);
                    break;
                }
            });
        }
        drop(progress_tx);
        // The caller's progress callback is not `Send`: every report is forwarded from here.
        let started = Instant::now();
        let mut downloaded = 0u64;
        for bytes in progress_rx {
            downloaded += bytes;
            let rate = install::rate(
                started.elapsed(),
                downloaded,
                total.saturating_sub(downloaded),
            );
            on_progress(downloaded, rate);
        }
    });
    match first_failure
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
    {
        Some(failure) => Err(failure),
        None => Ok(()),
    }
}

/// One object: downloaded (resumable) into the cache under a name that says it is not verified
/// yet, unpacked into staging with every byte counted and hashed, then renamed to its verified
/// name in the cache (an interrupted update does not fetch it again). `progress` gets byte
/// counts as they arrive.
fn fetch_one(
    selected: &Selected,
    file: &FileEntry,
    fetch: bool,
    staging: &Path,
    cache: &Path,
    options: &Options,
    progress: &(dyn Fn(u64) + Sync),
) -> std::result::Result<(), Failure> {
    let verified = objects::object_file(cache, &file.sha256);
    let packed_size = file.packed_size.unwrap_or(0);
    let unverified = verified.with_extension(format!("zst.{UNVERIFIED_SUFFIX}"));
    let object = if fetch {
        if packed_size > objects::max_packed_size(file.size) {
            return Err(Failure::UseArchive(format!(
                "the manifest declares a {packed_size} byte object for the {} byte `{}`",
                file.size, file.path
            )));
        }
        let url = object_url(selected, &file.sha256).map_err(Failure::UseArchive)?;
        let mut reported = 0u64;
        runtime_archive::download_resumable_sized(
            &url,
            packed_size,
            &unverified,
            &options.policy,
            &mut |step| {
                if step.downloaded > reported {
                    progress(step.downloaded - reported);
                    reported = step.downloaded;
                }
            },
        )
        .map_err(|error| match error {
            runtime_archive::Error::Io { .. } => Failure::Fatal(Error::Archive(error)),
            other => Failure::UseArchive(format!(
                "the object of `{}` could not be fetched: {other}",
                file.path
            )),
        })?;
        unverified.clone()
    } else {
        verified.clone()
    };
    let dest = create_parent(staging, file)?;
    let unpacked = (|| {
        let packed = File::open(&object).map_err(UnpackError::Write)?;
        let mut out = std::io::BufWriter::with_capacity(
            256 * 1024,
            create_file(&dest, file.executable).map_err(UnpackError::Write)?,
        );
        objects::unpack_object(
            std::io::BufReader::with_capacity(256 * 1024, packed),
            &mut out,
            file.size,
            &file.sha256,
        )?;
        std::io::Write::flush(&mut out).map_err(UnpackError::Write)
    })();
    match unpacked {
        Ok(()) => {
            if fetch {
                // The bytes are now known good: keep them under their verified name.
                let _ = std::fs::rename(&unverified, &verified);
            }
            Ok(())
        }
        Err(UnpackError::Object(fault)) => {
            let _ = std::fs::remove_file(&object);
            Err(Failure::UseArchive(format!(
                "the object of `{}` was refused: {fault}",
                file.path
            )))
        }
        Err(UnpackError::Write(error)) => Err(Failure::Fatal(Error::Io {
            what: "writing",
            path: dest,
            source: error,
        })),
    }
}

/// `staging/<file.path>`, its folders created.
fn create_parent(staging: &Path, file: &FileEntry) -> std::result::Result<PathBuf, Failure> {
    let dest = runtime_spec::launch::join_relative(staging, &file.path);
    if let Some(parent) = dest.parent() {
        fs_err::create_dir_all(parent)
            .map_err(|error| Failure::Fatal(Error::io("creating", parent)(error)))?;
    }
    Ok(dest)
}

/// A new file with the runtime's mode for it (0755 or 0644).
fn create_file(path: &Path, executable: bool) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if executable { 0o755 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = executable;
    options.open(path)
}

/// Copies at most the `file.size` bytes the manifest declares: a local file that grew since it
/// was verified cannot make staging bigger than declared (the final verification refuses it).
fn copy_file(from: &Path, to: &Path, file: &FileEntry) -> std::result::Result<(), Failure> {
    let executable = file.executable;
    let fatal = |error: std::io::Error| {
        Failure::Fatal(Error::Io {
            what: "copying into",
            path: to.to_path_buf(),
            source: error,
        })
    };
    let mut source = File::open(from).map_err(fatal)?;
    let mut dest = create_file(to, executable).map_err(fatal)?;
    std::io::copy(&mut std::io::Read::take(&mut source, file.size), &mut dest).map_err(fatal)?;
    Ok(())
}

/// What [`share_unchanged`] did.
pub(crate) struct Shared {
    pub files: u64,
    pub bytes: u64,
    /// Why hard links could not be made, when they could not.
    pub failed: Option<String>,
}

/// After an archive install into `staging` (verified against `manifest`): every file whose
/// bytes and mode `current` already holds becomes a hard link to that file, so the runtime
/// kept as `previous` after the update costs only what changed. The file in `current` is
/// hashed first: only bytes that are still what its manifest says are shared.
pub(crate) fn share_unchanged(store: &Store, staging: &Path, manifest: &Manifest) -> Shared {
    let mut shared = Shared {
        files: 0,
        bytes: 0,
        failed: None,
    };
    let Some(current) = store.manifest_in(CURRENT) else {
        return shared;
    };
    let current_dir = store.slot(CURRENT);
    let by_content: HashMap<(&Sha256, u64, bool), &str> = current
        .files
        .iter()
        .map(|file| {
            (
                (&file.sha256, file.size, file.executable),
                file.path.as_str(),
            )
        })
        .collect();
    for file in &manifest.files {
        let Some(path) = by_content.get(&(&file.sha256, file.size, file.executable)) else {
            continue;
        };
        let source = runtime_spec::launch::join_relative(&current_dir, path);
        if !hashes_to(&source, &file.sha256) {
            continue;
        }
        let dest = runtime_spec::launch::join_relative(staging, &file.path);
        let temp = dest.with_file_name(".share-link");
        let _ = std::fs::remove_file(&temp);
        let linked =
            std::fs::hard_link(&source, &temp).and_then(|()| std::fs::rename(&temp, &dest));
        if let Err(error) = linked {
            let _ = std::fs::remove_file(&temp);
            shared.failed = Some(error.to_string());
            break;
        }
        shared.files += 1;
        shared.bytes += file.size;
    }
    shared
}

fn hashes_to(path: &Path, sha256: &Sha256) -> bool {
    let Ok(mut file) = File::open(path) else {
        return false;
    };
    let mut hasher = sha2::Sha256::new();
    if std::io::copy(&mut file, &mut hasher).is_err() {
        return false;
    }
    Sha256::from_bytes(hasher.finalize().into()) == *sha256
}

/// Objects of the cache that `current` now holds are no longer needed; objects of a newer
/// runtime not installed yet, and unfinished downloads, stay for the next try.
pub(crate) fn prune_cache(store: &Store, running: Option<&Manifest>) {
    let cache = store.slot(DOWNLOADS).join(OBJECT_CACHE);
    let Some(running) = running else { return };
    for file in &running.files {
        let _ = std::fs::remove_file(objects::object_file(&cache, &file.sha256));
    }
}
