//! Every way an install or update can refuse or fail, worded for the shell's error screen and log.

use std::path::PathBuf;

use runtime_spec::Version;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an install or update did not happen. Nothing installed is ever changed by one of these.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("this build has no update source (no release index URL or public key was built in); install the full package instead")]
    NotConfigured,

    #[error("the update public key built into this app is unreadable ({reason})")]
    BadPublicKey { reason: String },

    #[error("could not reach {url}: {reason}; check the connection and try again", url = runtime_archive::url_policy::redact(.url))]
    Network { url: String, reason: String },

    #[error("{url} answered HTTP {status}; the release server may be down, try again later", url = runtime_archive::url_policy::redact(.url))]
    HttpStatus { url: String, status: u16 },

    #[error("{url} is larger than {limit} bytes, which no release index is; refusing it", url = runtime_archive::url_policy::redact(.url))]
    IndexTooLarge { url: String, limit: u64 },

    #[error("the release index from {url} has no valid signature ({reason}); refusing it", url = runtime_archive::url_policy::redact(.url))]
    BadSignature { url: String, reason: String },

    #[error("the release index from {url} is signed with a different key than this app trusts; refusing it", url = runtime_archive::url_policy::redact(.url))]
    WrongKey { url: String },

    #[error("the release index from {url} is not readable JSON ({reason})", url = runtime_archive::url_policy::redact(.url))]
    IndexInvalid { url: String, reason: String },

    #[error("the release index is for channel `{found}`, but this app follows `{expected}`; refusing it")]
    WrongChannel { expected: String, found: String },

    #[error("the release index offers no runtime {variant} (it has: {available}); refusing it")]
    NoRuntimeForVariant { variant: String, available: String },

    #[error("{reason}")]
    NoSuitableVariant { reason: String },

    #[error("the release index was published at {published_at}, before one already seen ({newest_seen}); refusing an old (replayed) index")]
    Replay { published_at: u64, newest_seen: u64 },

    #[error("the release index offers runtime {offered}, older than the installed {installed}; refusing to downgrade")]
    Downgrade {
        offered: Box<Version>,
        installed: Box<Version>,
    },

    #[error("runtime {version} needs app version {min_shell_version} or newer (this is {shell_version}); update the app first")]
    /// The versions are boxed (as in `Downgrade`): they keep every `Result` of this crate small.
    ShellTooOld {
        version: Box<Version>,
        min_shell_version: Box<Version>,
        shell_version: Box<Version>,
    },

    #[error("{url} is refused: runtimes and their index come over https (plain http only from this computer); fix the release URL or the app's index URL override (`<PREFIX>_INDEX_URL`)", url = runtime_archive::url_policy::redact(.url))]
    InsecureTransport { url: String },

    #[error("{reason}")]
    Refused { reason: String },

    #[error("the release index entry is unusable: {reason}")]
    BadEntry { reason: String },

    #[error("not enough free space in {dir}: the runtime needs {needed} bytes, {available} are free; free some space and try again")]
    NotEnoughSpace {
        dir: PathBuf,
        needed: u64,
        available: u64,
    },

    #[error(transparent)]
    Archive(#[from] runtime_archive::Error),

    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { what, path, source }
    }

    /// Whether trying again later could help (the network or the server), as opposed to a
    /// refusal (signature, channel, downgrade, …) or a local problem.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Network { .. } => true,
            Error::HttpStatus { status, .. } => {
                runtime_archive::RetryPolicy::is_retryable_status(*status)
            }
            Error::Archive(error) => error.is_network(),
            _ => false,
        }
    }
}
