//! The crate's one error type; every variant names the file, member or URL it is about.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while downloading, extracting, packing or verifying.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation failed.
    #[error("{}", describe_io(path, source))]
    Io {
        /// The file or folder the operation was about.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// The expected checksum given by the caller is not 64 hex digits.
    #[error("expected sha256 `{value}` for {url} is not 64 hex digits; pass the lowercase hex digest from the pin", url = crate::url_policy::redact(.url))]
    InvalidSha256 {
        /// The URL the checksum was meant for.
        url: String,
        /// What the caller passed.
        value: String,
    },

    /// The URL is neither `http(s)://`, `file://` nor a plain path.
    #[error("cannot download `{url}`: {reason}; use an http(s):// or file:// URL or a plain path", url = crate::url_policy::redact(.url))]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        reason: String,
    },

    /// Connecting, sending the request or reading the body failed (DNS, refused, reset,
    /// timeout, TLS...).
    #[error("could not download {url}: {}; check the network connection or configure a mirror", chain(source.as_ref()), url = crate::url_policy::redact(.url))]
    Network {
        /// The URL being fetched.
        url: String,
        /// What the HTTP client reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The server answered with a status other than 2xx (after following redirects).
    #[error("{url} answered HTTP {status}; {hint}", hint = status_hint(*status), url = crate::url_policy::redact(.url))]
    HttpStatus {
        /// The URL being fetched.
        url: String,
        /// The HTTP status code.
        status: u16,
    },

    /// The body ended before the announced `Content-Length`.
    #[error("download of {url} was cut off after {received} of {expected} bytes; try again", url = crate::url_policy::redact(.url))]
    Truncated {
        /// The URL being fetched.
        url: String,
        /// The announced length.
        expected: u64,
        /// What actually arrived.
        received: u64,
    },

    /// A `file://` URL or plain path could not be read.
    #[error("cannot read {url} ({path}): {source}; check the mirror path", url = crate::url_policy::redact(.url))]
    LocalSource {
        /// The URL or path as given.
        url: String,
        /// The local path it resolves to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// The downloaded bytes do not hash to the pinned sha256. Never retried, never kept.
    #[error("sha256 mismatch for {url}: expected {expected}, got {actual}; the file was deleted. The mirror or the pin is wrong: do not retry, report it", url = crate::url_policy::redact(.url))]
    ChecksumMismatch {
        /// The URL that was fetched.
        url: String,
        /// The pinned hash.
        expected: String,
        /// The hash of what arrived.
        actual: String,
    },

    /// The server's file is not the size the release index says: the body ran past it, or
    /// the server announced another size. Never retried; the partial download is deleted.
    #[error("{url} is not the file the release index describes: expected {expected} bytes, the server sent or announced {received}; the partial download was deleted. The mirror or the release index is wrong: do not retry, report it", url = crate::url_policy::redact(.url))]
    WrongSize {
        /// The URL being fetched.
        url: String,
        /// The size from the release index.
        expected: u64,
        /// What the server announced, or how many bytes had arrived when the body ran past
        /// the expected size.
        received: u64,
    },

    /// A request for the whole file got a partial (206) answer that does not start at byte 0,
    /// or one whose `Content-Range` cannot be read.
    #[error("{url} answered a request for the whole file with a partial response (Content-Range `{content_range}`); the server or a proxy in between is misbehaving, try another mirror", url = crate::url_policy::redact(.url))]
    BadContentRange {
        /// The URL being fetched.
        url: String,
        /// The `Content-Range` header as received (empty when missing).
        content_range: String,
    },

    /// Every attempt of a resumable download failed on a transient problem (network, stall,
    /// cut-off body, HTTP 5xx/408/429). The partial file is kept so the next call resumes.
    #[error("gave up downloading {url} after {attempts} attempt{plural}; the last one failed: {last}. {partial_bytes} bytes are kept and the next try resumes from there", plural = if *attempts == 1 { "" } else { "s" }, url = crate::url_policy::redact(.url))]
    RetriesExhausted {
        /// The URL being fetched.
        url: String,
        /// How many attempts were made.
        attempts: u32,
        /// Bytes in the `.part` file when giving up.
        partial_bytes: u64,
        /// The last attempt's error.
        #[source]
        last: Box<Error>,
    },

    /// The file does not start with zstd, gzip or tar magic bytes.
    #[error("{archive} is not a .tar.zst, .tar.gz or .tar archive (unknown magic bytes); check that the download completed")]
    UnknownFormat {
        /// The archive file.
        archive: PathBuf,
    },

    /// Decompressing or parsing the archive failed.
    #[error("cannot read archive {archive}: {source}; the archive is corrupt or truncated, download it again")]
    ArchiveRead {
        /// The archive file.
        archive: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A member would escape the destination or is of a kind we refuse to create.
    #[error("archive {archive} has an unsafe member `{member}`: {reason}; refusing to extract it")]
    UnsafeMember {
        /// The archive file.
        archive: PathBuf,
        /// The member's path as stored (lossily decoded).
        member: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The extraction destination exists and is not an empty folder.
    #[error("destination {dest} already exists and is not an empty folder; extract into a fresh staging folder")]
    DestinationNotEmpty {
        /// The destination folder.
        dest: PathBuf,
    },

    /// The archive has no `manifest.json` at its root.
    #[error("archive {archive} has no manifest.json at its root; it is not a runtime archive")]
    ManifestMissing {
        /// The archive file.
        archive: PathBuf,
    },

    /// `manifest.json` could not be parsed or validated.
    #[error("manifest in {path} is invalid: {source}")]
    ManifestInvalid {
        /// The archive or file the manifest came from.
        path: PathBuf,
        /// What runtime-spec reported.
        #[source]
        source: runtime_spec::SpecError,
    },

    /// A runtime archive's first member is not its `manifest.json`, so it cannot be held to
    /// its manifest while it is extracted.
    #[error("archive {archive} does not start with its manifest (its first member is `{member}`), so it cannot be checked before it is extracted; runtime archives are packed with manifest.json first: repack it with the current toolchain")]
    ManifestNotFirst {
        /// The archive file.
        archive: PathBuf,
        /// The first member's path as stored (lossily decoded).
        member: String,
    },

    /// A runtime archive's `manifest.json` is larger than any runtime's manifest can be.
    #[error("the manifest.json of archive {archive} is {size} bytes, more than the {limit} bytes a runtime manifest may be; the archive is damaged or was tampered with: do not retry, report it")]
    ManifestTooLarge {
        /// The archive file.
        archive: PathBuf,
        /// The size its tar header gives.
        size: u64,
        /// The most read into memory.
        limit: u64,
    },

    /// A runtime archive's `manifest.json` is not the one the release index names.
    #[error("the manifest.json of archive {archive} is not the one the release index declares: {detail}; the archive or the release index is wrong: do not retry, report it")]
    ManifestNotDeclared {
        /// The archive file.
        archive: PathBuf,
        /// Which of size and sha256 differs, with both values.
        detail: String,
    },

    /// A runtime archive holds a member its manifest does not list; nothing of it was written.
    #[error("`{member}` in archive {archive} is not listed in the archive's manifest{folder_note}; the archive is damaged or was tampered with: do not retry, report it", folder_note = if *folder { " (it is a folder and no listed file lies in it)" } else { "" })]
    UndeclaredMember {
        /// The archive file.
        archive: PathBuf,
        /// The member's path as stored (lossily decoded).
        member: String,
        /// Whether the member is a folder.
        folder: bool,
    },

    /// A file of a runtime archive is not the size its manifest lists; refused before the file
    /// was created, or before a byte beyond the listed size was written.
    #[error("`{member}` is {shown} bytes in archive {archive}, the manifest declares {declared}; the archive is damaged or was tampered with: do not retry, report it", shown = match size { Some(size) => size.to_string(), None => format!("more than {declared}") })]
    MemberSize {
        /// The archive file.
        archive: PathBuf,
        /// The member's path as stored (lossily decoded).
        member: String,
        /// The size its tar header gives; `None` when its data ran past the listed size.
        size: Option<u64>,
        /// The size the manifest lists.
        declared: u64,
    },

    /// A runtime archive's files add up to more bytes than declared for it.
    #[error("the files of archive {archive} add up to more than the {limit} bytes the {limit_by} declares (at least {found}); the archive or the release index is wrong: do not retry, report it")]
    UnpackedTooLarge {
        /// The archive file.
        archive: PathBuf,
        /// The most bytes of files the extraction may write.
        limit: u64,
        /// Who declared `limit`: `release index` or `manifest`.
        limit_by: &'static str,
        /// The bytes found so far (the manifest's total when refused before extracting).
        found: u64,
    },

    /// The disk holding the runtimes folder is too full to unpack the archive safely.
    #[error("not enough free space in {dir}: {needed} bytes needed, {available} available; free some disk space and try again")]
    NotEnoughSpace {
        /// The runtimes folder.
        dir: PathBuf,
        /// Estimated bytes needed (unpacked size plus a margin).
        needed: u64,
        /// Bytes free.
        available: u64,
    },

    /// The archive holds a runtime for another platform.
    #[error("{archive} is a runtime for {found}, but this is {expected}; download the {expected} runtime")]
    WrongTarget {
        /// The archive.
        archive: PathBuf,
        /// This platform.
        expected: runtime_spec::Target,
        /// The manifest's target.
        found: runtime_spec::Target,
    },

    /// Extracted files do not match the manifest (the archive was tampered with or damaged).
    #[error("the runtime unpacked into {dir} does not match its manifest, so it was not installed:\n{report}")]
    VerifyFailed {
        /// The staging folder (removed afterwards).
        dir: PathBuf,
        /// The verification report, naming every bad file.
        report: String,
    },

    /// A file in a tree to pack or list cannot be represented in a runtime archive.
    #[error("cannot pack {path}: {reason}")]
    Unpackable {
        /// The offending file.
        path: PathBuf,
        /// Why, and what to do.
        reason: String,
    },
}

/// `fs-err` messages already name the path; plain `io::Error`s get it added.
fn describe_io(path: &std::path::Path, source: &io::Error) -> String {
    let message = source.to_string();
    let shown = path.display().to_string();
    if message.contains(&shown) {
        message
    } else {
        format!("{message} (at {shown})")
    }
}

/// reqwest's top-level message ("error sending request") hides the cause; show the chain,
/// with the URLs reqwest puts in it redacted like every other URL we show.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut current = error.source();
    while let Some(cause) = current {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        current = cause.source();
    }
    crate::url_policy::redact_in_text(&message)
}

fn status_hint(status: u16) -> &'static str {
    match status {
        404 | 410 => "the file is not there: check the URL, release name and mirror",
        401 | 403 => "access was refused: check the mirror's credentials",
        500..=599 => "the server failed; try again later or use a mirror",
        _ => "check the URL and mirror",
    }
}

impl Error {
    /// Whether this is a network failure a caller may answer with a fallback or a retry:
    /// connect/DNS/timeout/reset, a cut-off body, and HTTP 5xx/408/429, also when
    /// [`download_resumable`](crate::download_resumable) gave up retrying them
    /// ([`Error::RetriesExhausted`] is network when its last error is).
    ///
    /// A checksum mismatch is never a network error: it means the mirror or pin is wrong,
    /// and falling back would hide that.
    pub fn is_network(&self) -> bool {
        match self {
            Error::Network { .. } => true,
            Error::Truncated { .. } => true,
            Error::HttpStatus { status, .. } => crate::RetryPolicy::is_retryable_status(*status),
            Error::RetriesExhausted { last, .. } => last.is_network(),
            _ => false,
        }
    }
}

/// Short for `Result<T, runtime_archive::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An IO error about `path`.
    pub(crate) fn io(path: &std::path::Path, source: io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Attaches a path to an `io::Error`.
pub(crate) fn io_at(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
