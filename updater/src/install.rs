//! Thin first run and background updates: signed index → space check → resumable download →
//! extract into `staging-<version>` → verify every file → rename to `pending`.
//! [`Store::settle`](crate::Store::settle) makes `pending` the `current` runtime at the next
//! start (for a first run, at once).

use std::time::{Duration, Instant};

use runtime_archive::{ExpectedFile, Progress, RetryPolicy};
use runtime_spec::{IndexEntry, ReleaseIndex, Variant, Version};

use crate::delta;
use crate::error::{Error, Result};
use crate::index::{self, Offer, UpdateSource};
use crate::store::{Store, DOWNLOADS, PENDING};

/// Free space kept for the user's own data on top of what the runtime needs.
pub const SPACE_MARGIN_BYTES: u64 = 200 * 1024 * 1024;

/// What the installer is doing, for the splash and the log.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// Fetching and checking the signed index.
    CheckingIndex,
    /// Downloading runtime `version`: its archive, or only the objects it lacks.
    Downloading {
        version: Version,
        method: Method,
        downloaded: u64,
        total: u64,
        /// Average since this launch's download began (resumed bytes excluded).
        bytes_per_second: Option<f64>,
        seconds_left: Option<f64>,
    },
    /// Extracting and verifying every file: `done` of `total` bytes (each file counts twice,
    /// once written and once checked; both 0 while unknown).
    Installing {
        version: Version,
        done: u64,
        total: u64,
        seconds_left: Option<f64>,
    },
}

/// How a runtime was fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Only the objects of files not already on disk, assembled beside the installed ones.
    Delta,
    /// The whole archive (first installs, and whenever a delta cannot be used).
    Archive,
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Method::Delta => "delta",
            Method::Archive => "archive",
        })
    }
}

/// How an install may fetch, and with which network settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Timeouts, retries and backoff of every download.
    pub policy: RetryPolicy,
    /// Whether an update may fetch only what changed (`false`: always the archive).
    pub delta: bool,
    /// Objects fetched at once.
    pub parallel: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            policy: RetryPolicy::default(),
            delta: true,
            parallel: 6,
        }
    }
}

/// What an install transferred, for the log, the UI ("12 KB update") and the benches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub method: Method,
    /// Bytes this install downloads (packed objects and the manifest, or the archive), known
    /// before the first byte; what was already downloaded by an interrupted try is included.
    pub download_bytes: u64,
    /// Files fetched as objects (delta) or extracted from the archive.
    pub fetched_files: u64,
    /// Files taken from what is already on disk (delta only).
    pub reused_files: u64,
    /// Their bytes.
    pub reused_bytes: u64,
    /// Why a delta was not used, when one was considered.
    pub fallback: Option<String>,
}

/// What [`check_and_install`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `version` is in `pending`, verified; it becomes current at the next settle.
    Installed {
        version: Version,
        transfer: Transfer,
    },
    UpToDate {
        version: Version,
    },
    /// The index offers a version that failed here before.
    KnownBad {
        version: Version,
    },
}

/// One line for a log.
impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Installed { version, transfer } => {
                write!(
                    f,
                    "runtime {version} installed by {} ({} downloaded",
                    transfer.method,
                    human_bytes(transfer.download_bytes)
                )?;
                if transfer.method == Method::Delta {
                    write!(
                        f,
                        ", {} files fetched, {} reused",
                        transfer.fetched_files, transfer.reused_files
                    )?;
                }
                if let Some(reason) = &transfer.fallback {
                    write!(f, "; no delta: {reason}")?;
                }
                f.write_str(")")
            }
            Outcome::UpToDate { version } => write!(f, "runtime {version} is up to date"),
            Outcome::KnownBad { version } => {
                write!(
                    f,
                    "runtime {version} failed here before; waiting for a newer one"
                )
            }
        }
    }
}

/// Picks the variant to install from a verified index (the compute decision at first run,
/// the installed variant for update checks); `Err` is a sentence for the user.
pub type Chooser<'a> = &'a mut dyn FnMut(&ReleaseIndex) -> std::result::Result<Variant, String>;

/// Why a runtime of the app `found` is not installed for the app `expected`.
pub(crate) fn another_app(found: &str, expected: &str) -> String {
    format!(
        "the index offers a runtime of another app ({found}), not of {expected}: check the release URL this app updates from"
    )
}

/// Checks the index and, when it offers a runtime this installation lacks (a newer version, or
/// the chosen variant of the same version), downloads and installs it as `pending`. Every
/// refusal (signature, key, channel, variant, replay, downgrade, space) is an error that
/// changes nothing installed.
pub fn check_and_install(
    store: &mut Store,
    source: &UpdateSource,
    shell_version: &Version,
    options: &Options,
    choose: Chooser,
    on_stage: &mut dyn FnMut(Stage),
) -> Result<Outcome> {
    if source.index_url.is_empty() {
        return Err(Error::NotConfigured);
    }
    on_stage(Stage::CheckingIndex);
    let verified = index::fetch_verified(source, store.newest_index_seen(source.channel.name()))?;
    store.remember_index(source.channel.name(), verified.index.published_at)?;
    let variant = choose(&verified.index).map_err(|reason| Error::NoSuitableVariant { reason })?;
    if variant.target != store.target() {
        return Err(Error::NoSuitableVariant {
            reason: format!(
                "runtime {variant} is for another kind of computer than this one ({})",
                store.target()
            ),
        });
    }
    let selected = index::select(&verified, variant, shell_version, &source.app_id)?;
    let held = store.held();
    let selected = match index::offer(selected, &held, |version, variant| {
        store.is_bad(version, variant)
    })? {
        Offer::Install(selected) => *selected,
        Offer::UpToDate { version } => return Ok(Outcome::UpToDate { version }),
        Offer::KnownBad { version } => return Ok(Outcome::KnownBad { version }),
    };
    let entry = &selected.entry;
    let version = entry.version.clone();

    let fallback = if options.delta {
        match delta::try_delta(store, &selected, options, on_stage)? {
            delta::Attempt::Installed(transfer) => {
                return Ok(Outcome::Installed { version, transfer })
            }
            delta::Attempt::UseArchive(reason) => reason,
        }
    } else {
        None
    };
    if let Some(reason) = &fallback {
        store.note(format!(
            "runtime {version}: fetching the full archive: {reason}"
        ));
    }

    let policy = &options.policy;
    let downloads = store.slot(DOWNLOADS);
    fs_err::create_dir_all(&downloads).map_err(Error::io("creating", &downloads))?;
    let file_name = archive_file_name(&entry.url)?;
    let archive = downloads.join(&file_name);
    check_space(store, &archive, entry.size, entry.unpacked_size)?;

    let started = Instant::now();
    let mut first: Option<u64> = None;
    let total = entry.size;
    runtime_archive::download_resumable(
        &selected.archive_url,
        &ExpectedFile {
            size: entry.size,
            sha256: entry.sha256.to_string(),
        },
        &archive,
        policy,
        &mut |progress: Progress| {
            let resumed = *first.get_or_insert(progress.downloaded);
            let (speed, left) = rate(
                started.elapsed(),
                progress.downloaded - resumed,
                total - progress.downloaded,
            );
            on_stage(Stage::Downloading {
                version: version.clone(),
                method: Method::Archive,
                downloaded: progress.downloaded,
                total,
                bytes_per_second: speed,
                seconds_left: left,
            });
        },
    )?;

    on_stage(Stage::Installing {
        version: version.clone(),
        done: 0,
        total: 2 * entry.unpacked_size,
        seconds_left: None,
    });
    install_pending(store, &archive, entry, variant, &source.app_id, on_stage)?;
    Ok(Outcome::Installed {
        version,
        transfer: Transfer {
            method: Method::Archive,
            download_bytes: entry.size,
            fetched_files: 0,
            reused_files: 0,
            reused_bytes: 0,
            fallback,
        },
    })
}

/// Extracts `archive` into `staging-<version>`, writing only what the manifest the index names
/// declares (its first member, checked against `entry.manifest`, bounded by
/// `entry.unpacked_size`), verifies every file (and that it is `entry.version` of `variant`, a
/// runtime of the app `app_id`),
/// shares unchanged files with `current`, then renames it to `pending`. On failure the staging
/// folder is removed and `pending` is whatever it was.
pub fn install_pending(
    store: &mut Store,
    archive: &std::path::Path,
    entry: &IndexEntry,
    variant: Variant,
    app_id: &str,
    on_stage: &mut dyn FnMut(Stage),
) -> Result<()> {
    let version = &entry.version;
    let started = Instant::now();
    let mut last_reported: Option<Instant> = None;
    let mut report = |unpacking: runtime_archive::Unpacking| {
        // Written bytes, then checked bytes: one fraction over both passes.
        let (done, total) = match unpacking {
            runtime_archive::Unpacking::Extracting { done, total } => (done, 2 * total),
            runtime_archive::Unpacking::Verifying { done, total } => (total + done, 2 * total),
        };
        // A few reports a second are enough for a progress bar; the last one always goes.
        let now = Instant::now();
        if done < total && last_reported.is_some_and(|at| now - at < Duration::from_millis(100)) {
            return;
        }
        last_reported = Some(now);
        let (_, seconds_left) = rate(started.elapsed(), done, total - done);
        on_stage(Stage::Installing {
            version: version.clone(),
            done,
            total,
            seconds_left,
        });
    };
    let staging_name = format!("staging-{version}");
    let staging = store.slot(&staging_name);
    let _ = std::fs::remove_dir_all(&staging);
    let result = (|| {
        store.step("extract");
        let declared = runtime_archive::Declared {
            manifest: Some(entry.manifest.clone()),
            unpacked_size: Some(entry.unpacked_size),
        };
        let manifest = runtime_archive::extract_runtime_with_progress(
            archive,
            &staging,
            store.target(),
            &declared,
            &mut report,
        )?;
        if manifest.app_id != app_id {
            return Err(Error::BadEntry {
                reason: another_app(&manifest.app_id, app_id),
            });
        }
        if manifest.runtime_version != *version || manifest.variant() != variant {
            return Err(Error::BadEntry {
                reason: format!(
                    "the index promised runtime {version} {variant}, the archive holds {} {}",
                    manifest.runtime_version,
                    manifest.variant()
                ),
            });
        }
        store.step("share-unchanged");
        let shared = delta::share_unchanged(store, &staging, &manifest);
        match shared.failed {
            None if shared.files > 0 => store.note(format!(
                "runtime {version} shares {} unchanged files ({}) with the runtime in use",
                shared.files,
                human_bytes(shared.bytes)
            )),
            None => {}
            Some(reason) => store.note(format!(
                "runtime {version} keeps its own copy of unchanged files: hard links failed ({reason})"
            )),
        }
        promote_staging(store, &staging)
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

/// A verified staging folder becomes `pending` (replacing a pending runtime not applied yet).
pub(crate) fn promote_staging(store: &mut Store, staging: &std::path::Path) -> Result<()> {
    store.step("promote");
    store.remove_slot(PENDING);
    fs_err::rename(staging, store.slot(PENDING)).map_err(Error::io("renaming", staging))
}

/// The archive's file name from the index entry's (relative) URL; refuses anything that could
/// name a path outside `downloads/`.
fn archive_file_name(url: &str) -> Result<String> {
    let name = url
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .split(['?', '#'])
        .next()
        .unwrap_or_default();
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'));
    if ok {
        Ok(name.to_owned())
    } else {
        Err(Error::BadEntry {
            reason: format!("archive URL `{url}` has no plain file name"),
        })
    }
}

/// Needs the rest of the download plus the unpacked runtime plus a margin.
fn check_space(
    store: &Store,
    archive: &std::path::Path,
    size: u64,
    unpacked_size: u64,
) -> Result<()> {
    let have = std::fs::metadata(runtime_archive::part_file_for(archive))
        .map(|meta| meta.len())
        .unwrap_or(0);
    require_space(
        store,
        size.saturating_sub(have) + unpacked_size + SPACE_MARGIN_BYTES,
    )
}

/// Refuses, before anything is written, an install that needs more than the free space.
pub(crate) fn require_space(store: &Store, needed: u64) -> Result<()> {
    let available = runtime_archive::free_space(store.dir())
        .map_err(Error::io("checking free space in", store.dir()))?;
    if available < needed {
        return Err(Error::NotEnoughSpace {
            dir: store.dir().to_path_buf(),
            needed,
            available,
        });
    }
    Ok(())
}

/// A size as people read it: `12 KB`, `3.4 MB`, `1.2 GB` (powers of 1000, like file managers).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.5 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if value < 9.95 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// Speed and time left, once there is enough to say.
pub(crate) fn rate(elapsed: Duration, fetched: u64, remaining: u64) -> (Option<f64>, Option<f64>) {
    let seconds = elapsed.as_secs_f64();
    if seconds < 0.25 || fetched == 0 {
        return (None, None);
    }
    let speed = fetched as f64 / seconds;
    (Some(speed), Some(remaining as f64 / speed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_names_stay_in_downloads() {
        assert_eq!(
            archive_file_name("tokenizer-studio-runtime-0.2.0-linux-x64.tar.zst").unwrap(),
            "tokenizer-studio-runtime-0.2.0-linux-x64.tar.zst"
        );
        assert_eq!(
            archive_file_name("https://h/x/a.tar.zst?sig=1").unwrap(),
            "a.tar.zst"
        );
        for bad in ["", "..", "dir/", "a\\..\\b", "%2e%2e"] {
            assert!(archive_file_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_read_like_a_file_manager() {
        for (bytes, text) in [
            (0, "0 bytes"),
            (999, "999 bytes"),
            (12_345, "12 KB"),
            (1_500, "1.5 KB"),
            (999_600, "1.0 MB"),
            (105_369_509, "105 MB"),
            (1_234_567_890, "1.2 GB"),
        ] {
            assert_eq!(human_bytes(bytes), text);
        }
    }

    #[test]
    fn rate_needs_data() {
        assert_eq!(rate(Duration::from_millis(10), 5, 5), (None, None));
        let (speed, left) = rate(Duration::from_secs(2), 200, 100);
        assert_eq!(speed, Some(100.0));
        assert_eq!(left, Some(1.0));
    }
}
