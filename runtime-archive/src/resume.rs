//! Resumable downloads for the shell's runtime installer: a `.part` file kept across failures
//! and restarts, HTTP `Range` requests, retries with backoff, stall detection, a final sha256.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use reqwest::header::{CONTENT_RANGE, RANGE};
use sha2::{Digest, Sha256};

use crate::download::{
    classify_request_error, http_client, parse_sha256, Downloaded, Progress, Source, CHUNK,
};
use crate::error::{io_at, Error, Result};
use crate::http::{Failed, RetryPolicy};

/// What the archive must be (from the signed release index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedFile {
    /// Exact size in bytes.
    pub size: u64,
    /// sha256 as 64 hex digits (either case).
    pub sha256: String,
}

/// Where [`download_resumable`] keeps the bytes of `dest_file` until they are verified:
/// the same folder, the file name with `.part` appended (`runtime.tar.zst.part`).
pub fn part_file_for(dest_file: &Path) -> PathBuf {
    let mut name = dest_file
        .file_name()
        .map(OsString::from)
        .unwrap_or_else(|| OsString::from("download"));
    name.push(".part");
    dest_file.with_file_name(name)
}

/// Downloads `url` into `dest_file`, resuming where an earlier attempt, call or process
/// stopped, and keeps the result only if it has exactly `expected.size` bytes and sha256
/// `expected.sha256`.
///
/// - `dest_file` already there with the expected size and sha256: returned at once, without
///   any request (one progress report, complete).
/// - Bytes go to [`part_file_for`]`(dest_file)` (`<dest_file>.part`, folder created if
///   missing). It is **kept** across failed attempts, failed calls and killed processes, so
///   the next call resumes: its bytes are hashed again (the sha256 state continues from
///   them) and the request asks for `Range: bytes=<len>-`. A `206` whose `Content-Range`
///   starts there is appended; a `200` (the server ignored the range) starts over; a `416`,
///   an unusable `206` or a `.part` longer than `expected.size` deletes the `.part` and
///   starts over without a range. An empty `.part` is not left behind.
/// - Never more than `expected.size` bytes are written: a longer body, or a server announcing
///   another size (`Content-Length` of a `200`, complete length of a `Content-Range`), is
///   [`Error::WrongSize`] and the `.part` is deleted.
/// - Transient failures are retried, up to `policy.attempts` tries in all, waiting
///   `initial_backoff`, doubled each time, at most `max_backoff`: connection errors, connect
///   timeouts, a stall (no byte for `read_timeout`, which is not a cap on the whole
///   transfer), a body cut short, HTTP 5xx, 408 and 429. Other statuses (404, 403…) fail at
///   once with [`Error::HttpStatus`]. When the last try fails the result is
///   [`Error::RetriesExhausted`] (naming the number of attempts and wrapping the last
///   error, network per [`Error::is_network`] when that one is) and the `.part` is kept.
/// - At `expected.size` bytes the sha256 is compared. A mismatch deletes the `.part` and is
///   [`Error::ChecksumMismatch`], not retried: a server serving bad bytes serves them again.
///   One exception: when bytes inherited from an earlier call were part of the file (they
///   may be what is damaged, or belong to an older release under the same name), it is
///   downloaded once more from scratch before giving that answer. A match is flushed to
///   disk (`fsync`) and renamed onto `dest_file` atomically.
/// - `progress` is called before the first byte of every attempt and after every chunk;
///   `downloaded` includes resumed bytes (it goes back to 0 when a download starts over),
///   `total` is always `Some(expected.size)`.
///
/// `file://` URLs and plain paths are copied through the same `.part` (no retries, no
/// resuming). Only one call at a time may use a given `dest_file`.
pub fn download_resumable(
    url: &str,
    expected: &ExpectedFile,
    dest_file: &Path,
    policy: &RetryPolicy,
    progress: &mut dyn FnMut(Progress),
) -> Result<Downloaded> {
    let sha256 = parse_sha256(url, &expected.sha256)?;
    resumable(
        url,
        expected.size,
        Some(&sha256),
        true,
        dest_file,
        policy,
        progress,
    )?;
    Ok(Downloaded {
        path: dest_file.to_path_buf(),
        size: expected.size,
        sha256,
    })
}

/// [`download_resumable`] for a file whose content the caller checks itself: the same `.part`,
/// ranges, retries and size limit, and the `.part` becomes `dest_file` once it holds exactly
/// `size` bytes, with no sha256 compared. Objects of the release's object store use it: they
/// are named by the sha256 of the bytes they *unpack* to, which the caller verifies while
/// unpacking (and deletes `dest_file` when they are wrong). Nor is `dest_file` flushed to disk:
/// bytes a power loss cut short are refused by that check like any damaged ones, and an update
/// fetching thousands of small objects does not wait for the disk thousands of times.
pub fn download_resumable_sized(
    url: &str,
    size: u64,
    dest_file: &Path,
    policy: &RetryPolicy,
    progress: &mut dyn FnMut(Progress),
) -> Result<()> {
    resumable(url, size, None, false, dest_file, policy, progress)
}

fn resumable(
    url: &str,
    size: u64,
    sha256: Option<&str>,
    durable: bool,
    dest_file: &Path,
    policy: &RetryPolicy,
    progress: &mut dyn FnMut(Progress),
) -> Result<()> {
    let source = Source::parse(url)?;
    let dest_dir = match dest_file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs_err::create_dir_all(&dest_dir).map_err(io_at(&dest_dir))?;

    if is_complete(dest_file, size, sha256)? {
        progress(Progress {
            downloaded: size,
            total: Some(size),
        });
        return Ok(());
    }

    let mut part = Part::new(part_file_for(dest_file), url, size);
    loop {
        match &source {
            Source::Http => fetch_with_retries(&mut part, policy, progress)?,
            Source::Local(path) => copy_local(&mut part, path, progress)?,
        }
        let actual = part.sha256()?;
        if sha256.is_none_or(|sha256| actual == sha256) {
            part.promote(dest_file, &dest_dir, durable)?;
            return Ok(());
        }
        let inherited = part.inherited;
        part.discard()?;
        if inherited == 0 {
            return Err(Error::ChecksumMismatch {
                url: url.to_owned(),
                expected: sha256.unwrap_or_default().to_owned(),
                actual,
            });
        }
        // Bytes from an earlier call were in it: fetch the whole file once more (`discard`
        // reset `inherited`, so a second mismatch is final).
    }
}

/// Whether `dest_file` is already the expected file (by size alone when no sha256 is given).
fn is_complete(dest_file: &Path, size: u64, sha256: Option<&str>) -> Result<bool> {
    match std::fs::metadata(dest_file) {
        Ok(metadata) if metadata.is_file() && metadata.len() == size => {
            let Some(sha256) = sha256 else {
                return Ok(true);
            };
            let (_, actual) = crate::verify::hash_file(dest_file)?;
            Ok(actual.to_hex() == sha256)
        }
        Ok(_) => Ok(false),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(Error::io(dest_file, error)),
    }
}

/// The `.part` file and the sha256 state of its bytes.
struct Part {
    path: PathBuf,
    url: String,
    size: u64,
    /// sha256 state and length of the bytes on disk, when known to match them.
    state: Option<(Sha256, u64)>,
    /// Bytes that were in the `.part` when this call started and are still used.
    inherited: u64,
    /// Whether the `.part` was looked at yet in this call.
    seen: bool,
}

impl Part {
    fn new(path: PathBuf, url: &str, size: u64) -> Part {
        Part {
            path,
            url: url.to_owned(),
            size,
            state: None,
            inherited: 0,
            seen: false,
        }
    }

    /// Bytes on disk (0 when there is no `.part`).
    fn disk_len(&self) -> Result<u64> {
        match std::fs::metadata(&self.path) {
            Ok(metadata) => Ok(metadata.len()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(error) => Err(Error::io(&self.path, error)),
        }
    }

    /// Bytes written and hashed so far.
    fn len(&self) -> u64 {
        self.state.as_ref().map_or(0, |(_, len)| *len)
    }

    /// Deletes the `.part`; the next attempt starts from byte 0.
    fn discard(&mut self) -> Result<()> {
        self.state = None;
        self.inherited = 0;
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(Error::io(&self.path, error)),
        }
    }

    /// Removes a `.part` that holds nothing, so a failure before the first byte leaves no
    /// file suggesting a download is under way.
    fn remove_if_empty(&mut self) -> Result<()> {
        if self.path.exists() && self.disk_len()? == 0 {
            self.discard()?;
        }
        Ok(())
    }

    /// Where the next request starts: the length of a usable `.part`, with its bytes hashed.
    fn resume_point(&mut self) -> Result<u64> {
        let on_disk = self.disk_len()?;
        if on_disk > self.size {
            self.discard()?;
        } else if self.state.as_ref().is_none_or(|(_, len)| *len != on_disk) {
            // Left by an earlier call (or changed behind our back): hash what is there.
            let mut hasher = Sha256::new();
            let mut hashed = 0u64;
            if on_disk > 0 {
                let file = File::open(&self.path).map_err(io_at(&self.path))?;
                let mut limited = file.take(on_disk);
                let mut buffer = vec![0u8; CHUNK];
                loop {
                    let n = match limited.read(&mut buffer) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(error) => return Err(Error::io(&self.path, error)),
                    };
                    hasher.update(&buffer[..n]);
                    hashed += n as u64;
                }
            }
            self.state = Some((hasher, hashed));
        }
        let len = self.len();
        if !self.seen {
            self.seen = true;
            self.inherited = len;
        }
        Ok(len)
    }

    /// Opens the `.part` for writing at `start`, which is 0 or [`Part::resume_point`].
    fn open_at(&mut self, start: u64) -> Result<File> {
        if start == 0 {
            self.state = Some((Sha256::new(), 0));
            self.inherited = 0;
        }
        debug_assert_eq!(self.len(), start);
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)
            .map_err(io_at(&self.path))?;
        file.set_len(start).map_err(io_at(&self.path))?;
        file.seek(SeekFrom::Start(start))
            .map_err(io_at(&self.path))?;
        Ok(file)
    }

    /// Appends `bytes`, refusing to go past the expected size (the `.part` is then deleted).
    fn append(&mut self, file: File, bytes: &[u8]) -> Result<File> {
        let mut file = file;
        let received = self.len() + bytes.len() as u64;
        if received > self.size {
            drop(file);
            self.discard()?;
            return Err(Error::WrongSize {
                url: self.url.clone(),
                expected: self.size,
                received,
            });
        }
        file.write_all(bytes).map_err(io_at(&self.path))?;
        if let Some((hasher, len)) = self.state.as_mut() {
            hasher.update(bytes);
            *len += bytes.len() as u64;
        }
        Ok(file)
    }

    /// The sha256 of the complete `.part`.
    fn sha256(&self) -> Result<String> {
        match &self.state {
            Some((hasher, len)) if *len == self.size => Ok(hex::encode(hasher.clone().finalize())),
            _ => Err(Error::Truncated {
                url: self.url.clone(),
                expected: self.size,
                received: self.len(),
            }),
        }
    }

    /// Renames the complete `.part` onto `dest_file`; `durable` flushes it to disk first and
    /// the rename after.
    fn promote(&mut self, dest_file: &Path, dest_dir: &Path, durable: bool) -> Result<()> {
        if durable {
            let file = OpenOptions::new()
                .write(true)
                .open(&self.path)
                .map_err(io_at(&self.path))?;
            file.sync_all().map_err(io_at(&self.path))?;
        }
        fs_err::rename(&self.path, dest_file).map_err(io_at(dest_file))?;
        self.state = None;
        if !durable {
            return Ok(());
        }
        // Make the rename itself durable; not possible (nor needed) on every platform.
        #[cfg(unix)]
        if let Ok(dir) = File::open(dest_dir) {
            let _ = dir.sync_all();
        }
        #[cfg(not(unix))]
        let _ = dest_dir;
        Ok(())
    }
}

/// Whether another attempt may succeed where this one failed.
fn is_transient(error: &Error) -> bool {
    match error {
        Error::Network { .. } | Error::Truncated { .. } => true,
        Error::HttpStatus { status, .. } => RetryPolicy::is_retryable_status(*status),
        _ => false,
    }
}

/// Runs attempts until the `.part` holds `size` bytes, a permanent error, or the last try.
fn fetch_with_retries(
    part: &mut Part,
    policy: &RetryPolicy,
    progress: &mut dyn FnMut(Progress),
) -> Result<()> {
    let client = http_client(&part.url, policy)?;
    let result = policy.run(
        || {
            let result = fetch_once(&client, part, progress);
            if result.is_err() {
                part.remove_if_empty()?;
            }
            result
        },
        is_transient,
    );
    match result {
        Ok(()) => Ok(()),
        Err(Failed {
            error,
            attempts,
            exhausted: true,
        }) => Err(Error::RetriesExhausted {
            url: part.url.clone(),
            attempts,
            partial_bytes: part.disk_len()?,
            last: Box::new(error),
        }),
        Err(Failed { error, .. }) => Err(error),
    }
}

/// One attempt: a request (two when the `.part` had to be dropped) and its body.
fn fetch_once(
    client: &reqwest::blocking::Client,
    part: &mut Part,
    progress: &mut dyn FnMut(Progress),
) -> Result<()> {
    let url = part.url.clone();
    let size = part.size;
    let total = Some(size);
    loop {
        let start = part.resume_point()?;
        progress(Progress {
            downloaded: start,
            total,
        });
        if start == size {
            return Ok(());
        }
        let mut request = client.get(&url);
        if start > 0 {
            request = request.header(RANGE, format!("bytes={start}-"));
        }
        let mut response = request
            .send()
            .map_err(|error| classify_request_error(&url, error))?;
        let wrong_size = |received| Error::WrongSize {
            url: url.clone(),
            expected: size,
            received,
        };
        let from = match response.status().as_u16() {
            206 => {
                let header = response
                    .headers()
                    .get(CONTENT_RANGE)
                    .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
                    .unwrap_or_default();
                match parse_content_range(&header) {
                    Some((_, Some(complete))) if complete != size => {
                        part.discard()?;
                        return Err(wrong_size(complete));
                    }
                    Some((first, _)) if first == start => start,
                    Some((0, _)) => 0,
                    // A range we did not ask for: drop the `.part`, ask for the whole file.
                    _ if start > 0 => {
                        part.discard()?;
                        continue;
                    }
                    _ => {
                        return Err(Error::BadContentRange {
                            url,
                            content_range: header,
                        })
                    }
                }
            }
            200 => {
                if let Some(announced) = response.content_length() {
                    if announced != size {
                        part.discard()?;
                        return Err(wrong_size(announced));
                    }
                }
                0
            }
            // The `.part` is longer than the server's file: it is not a prefix of it.
            416 if start > 0 => {
                part.discard()?;
                continue;
            }
            status => return Err(Error::HttpStatus { url, status }),
        };
        if from != start {
            progress(Progress {
                downloaded: from,
                total,
            });
        }
        return stream_body(part, &mut response, from, progress);
    }
}

/// `bytes <first>-<last>/<complete or *>` → `(first, complete)`.
fn parse_content_range(header: &str) -> Option<(u64, Option<u64>)> {
    let rest = header.trim().strip_prefix("bytes")?.trim_start();
    let (range, complete) = rest.split_once('/')?;
    let (first, last) = range.trim().split_once('-')?;
    let first: u64 = first.trim().parse().ok()?;
    let last: u64 = last.trim().parse().ok()?;
    if last < first {
        return None;
    }
    let complete = match complete.trim() {
        "*" => None,
        value => Some(value.parse().ok()?),
    };
    Some((first, complete))
}

/// Appends the body to the `.part` from `from` on; a clean end before `size` is `Truncated`.
fn stream_body(
    part: &mut Part,
    body: &mut dyn Read,
    from: u64,
    progress: &mut dyn FnMut(Progress),
) -> Result<()> {
    let total = Some(part.size);
    let mut file = part.open_at(from)?;
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let n = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            // A reset, a stall past the read timeout or a close before Content-Length.
            Err(error) => {
                return Err(Error::Network {
                    url: part.url.clone(),
                    source: Box::new(error),
                })
            }
        };
        file = part.append(file, &buffer[..n])?;
        progress(Progress {
            downloaded: part.len(),
            total,
        });
    }
    if part.len() < part.size {
        return Err(Error::Truncated {
            url: part.url.clone(),
            expected: part.size,
            received: part.len(),
        });
    }
    Ok(())
}

/// Copies a `file://` URL or plain path into the `.part` from scratch (no retries).
fn copy_local(part: &mut Part, path: &Path, progress: &mut dyn FnMut(Progress)) -> Result<()> {
    let local = |source| local_error(&part.url, path, source);
    let mut source = File::open(path).map_err(local)?;
    let len = source.metadata().map_err(local)?.len();
    if len != part.size {
        return Err(Error::WrongSize {
            url: part.url.clone(),
            expected: part.size,
            received: len,
        });
    }
    progress(Progress {
        downloaded: 0,
        total: Some(part.size),
    });
    let url = part.url.clone();
    stream_body(part, &mut source, 0, progress).map_err(|error| match error {
        // `stream_body` speaks of the network; here it is the file that failed or shrank.
        Error::Network { source, .. } => local_error(&url, path, std::io::Error::other(source)),
        Error::Truncated { received, .. } => local_error(
            &url,
            path,
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the file shrank to {received} bytes while being copied"),
            ),
        ),
        other => other,
    })
}

fn local_error(url: &str, path: &Path, source: std::io::Error) -> Error {
    Error::LocalSource {
        url: url.to_owned(),
        path: path.to_path_buf(),
        source,
    }
}
