//! Downloads hashed while they stream, kept only when the sha256 matches: a mismatch is a hard
//! error, never a reason to fall back, and nothing unverified enters a cache.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{io_at, Error, Result};
use crate::http::RetryPolicy;
use crate::verify::HashingWriter;

/// Copy buffer; also the granularity of progress reports.
pub(crate) const CHUNK: usize = 256 * 1024;

/// Download progress, reported once before the first byte and after every chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes received so far.
    pub downloaded: u64,
    /// Total size when the server (or the local file) tells it.
    pub total: Option<u64>,
}

/// What a successful download produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// Where the file now is (the `dest_file` passed in).
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its lowercase hex sha256 (equal to the expected one).
    pub sha256: String,
}

/// Fetches `url` into `dest_file`, hashing while streaming, and keeps it only if its sha256 is
/// `expected_sha256`.
///
/// `url` may be `http://`, `https://`, `file://` or a plain local path. Bytes go to a temp file
/// in `dest_file`'s folder (created if missing) which is renamed into place only after the
/// hash matched, so `dest_file` is either absent/unchanged or complete and verified. On any
/// error the temp file is removed. Use [`Error::is_network`] to decide on a fallback; a
/// checksum mismatch is never a network error.
pub fn download_verified(
    url: &str,
    expected_sha256: &str,
    dest_file: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<Downloaded> {
    let expected_sha256 = parse_sha256(url, expected_sha256)?;
    let source = Source::parse(url)?;

    let dest_dir = match dest_file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs_err::create_dir_all(&dest_dir).map_err(io_at(&dest_dir))?;
    let file_name = dest_file
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "download".to_owned());
    // Dot-prefixed and `.part`-suffixed so a half download is never mistaken for the real file;
    // NamedTempFile deletes it on drop, which covers every early return below.
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{file_name}."))
        .suffix(".part")
        .tempfile_in(&dest_dir)
        .map_err(io_at(&dest_dir))?;

    let temp_path = temp.path().to_path_buf();
    let mut sink = HashingWriter::new(temp.as_file_mut());
    match &source {
        Source::Http => copy_http(url, &mut sink, &temp_path, progress)?,
        Source::Local(path) => copy_local(url, path, &mut sink, &temp_path, progress)?,
    };
    let (_, actual_sha256, size) = sink.finish();
    if actual_sha256 != expected_sha256 {
        // Dropping `temp` deletes it: a file with the wrong hash must never be kept.
        drop(temp);
        return Err(Error::ChecksumMismatch {
            url: url.to_owned(),
            expected: expected_sha256,
            actual: actual_sha256,
        });
    }

    // Flush to disk before the rename so a crash cannot leave a verified name on partial data.
    temp.as_file().sync_all().map_err(io_at(temp.path()))?;
    temp.persist(dest_file)
        .map_err(|error| io_at(dest_file)(error.error))?;
    Ok(Downloaded {
        path: dest_file.to_path_buf(),
        size,
        sha256: actual_sha256,
    })
}

/// Where the bytes come from.
pub(crate) enum Source {
    Http,
    Local(PathBuf),
}

impl Source {
    pub(crate) fn parse(url: &str) -> Result<Source> {
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return Ok(Source::Http);
        }
        if lower.starts_with("file:") {
            let parsed = url::Url::parse(url).map_err(|error| Error::InvalidUrl {
                url: url.to_owned(),
                reason: error.to_string(),
            })?;
            // `to_file_path` decodes `%2B` and friends (PBS asset names contain `+`).
            let path = parsed.to_file_path().map_err(|()| Error::InvalidUrl {
                url: url.to_owned(),
                reason: "the file:// URL is not an absolute local path".to_owned(),
            })?;
            return Ok(Source::Local(path));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            return Err(Error::InvalidUrl {
                url: url.to_owned(),
                reason: format!("the scheme `{scheme}` is not supported"),
            });
        }
        Ok(Source::Local(PathBuf::from(url)))
    }
}

pub(crate) fn parse_sha256(url: &str, value: &str) -> Result<String> {
    let value = value.trim();
    match runtime_spec::Sha256::parse(value) {
        Ok(digest) => Ok(digest.to_hex()),
        Err(_) => Err(Error::InvalidSha256 {
            url: url.to_owned(),
            value: value.to_owned(),
        }),
    }
}

/// The HTTP client of `url` under `policy`; a client that cannot be set up is the caller's
/// configuration, not the network.
pub(crate) fn http_client(url: &str, policy: &RetryPolicy) -> Result<reqwest::blocking::Client> {
    policy.client(url).map_err(|error| Error::InvalidUrl {
        url: url.to_owned(),
        reason: format!("the HTTP client could not be set up ({error})"),
    })
}

fn copy_http(
    url: &str,
    sink: &mut HashingWriter<&mut std::fs::File>,
    temp_path: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<u64> {
    // One try: the xtask falls back to a local CPython on a network failure at once.
    let mut response = http_client(url, &RetryPolicy::ONE_SHOT)?
        .get(url)
        .send()
        .map_err(|error| classify_request_error(url, error))?;
    let status = response.status();
    // Redirects are followed by the client; anything else but 2xx (a 304, a redirect loop
    // cut short) has no file in its body.
    if !status.is_success() {
        return Err(Error::HttpStatus {
            url: url.to_owned(),
            status: status.as_u16(),
        });
    }
    let total = response.content_length();
    let mut downloaded = 0u64;
    progress(Progress { downloaded, total });
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let n = match response.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => {
                // A reset, a stall past the timeout or a close before Content-Length.
                return Err(Error::Network {
                    url: url.to_owned(),
                    source: Box::new(error),
                });
            }
        };
        sink.write_all(&buffer[..n]).map_err(io_at(temp_path))?;
        downloaded += n as u64;
        progress(Progress { downloaded, total });
    }
    // hyper already fails a body shorter than Content-Length; this is the belt to its braces.
    if let Some(expected) = total {
        if downloaded != expected {
            return Err(Error::Truncated {
                url: url.to_owned(),
                expected,
                received: downloaded,
            });
        }
    }
    Ok(downloaded)
}

/// A request that never got a response: a malformed URL is the caller's mistake, anything
/// else (DNS, refused, TLS, timeout) is the network's.
pub(crate) fn classify_request_error(url: &str, error: reqwest::Error) -> Error {
    if error.is_builder() {
        Error::InvalidUrl {
            url: url.to_owned(),
            reason: error.to_string(),
        }
    } else {
        Error::Network {
            url: url.to_owned(),
            source: Box::new(error),
        }
    }
}

fn copy_local(
    url: &str,
    path: &Path,
    sink: &mut HashingWriter<&mut std::fs::File>,
    temp_path: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<u64> {
    let local = |source| Error::LocalSource {
        url: url.to_owned(),
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(local)?;
    let total = file.metadata().map_err(local)?.len();
    let mut downloaded = 0u64;
    progress(Progress {
        downloaded,
        total: Some(total),
    });
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(local(error)),
        };
        sink.write_all(&buffer[..n]).map_err(io_at(temp_path))?;
        downloaded += n as u64;
        progress(Progress {
            downloaded,
            total: Some(total),
        });
    }
    Ok(downloaded)
}
