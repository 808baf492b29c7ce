//! The one error type of this crate: every variant names the key, file or tool it is about
//! and what to do next.

use std::path::PathBuf;

/// Everything that can go wrong while writing or checking release metadata.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// File IO; `fs-err` already puts the path in the message.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// What the contract refuses (an index's object store that is not a relative folder).
    #[error(transparent)]
    Spec(#[from] runtime_spec::SpecError),

    #[error("minisign {what} failed: {source}")]
    Minisign {
        /// What was being done: `key generation`, `reading the secret key`, ...
        what: &'static str,
        #[source]
        source: ::minisign::PError,
    },
    #[error("the minisign secret key is encrypted: pass its password (in CI from the secret env var next to the key)")]
    SecretKeyNeedsPassword,
    #[error("the minisign secret key is not encrypted, but a password was given: drop the password or regenerate the key with one")]
    SecretKeyNotEncrypted,
    #[error("{what} is not a minisign key: expected the two-line text `minisign -G`/`cargo xtask keygen` writes, or its base64 (Tauri's form)")]
    KeyFormat {
        /// `public key` or `secret key`.
        what: &'static str,
    },
    #[error("the minisign signature does not verify against public key {key_id}: {reason}; the file was changed after signing or was signed with another key")]
    BadSignature {
        /// The public key id, uppercase hex as `minisign` prints it.
        key_id: String,
        /// The verifier's own words.
        reason: String,
    },
    #[error("a minisign trusted comment must be one line; got {comment:?}")]
    TrustedCommentNewline { comment: String },

    #[error("release index fragments disagree on the channel: `{expected}` and `{found}`; merge only the fragments of one release job")]
    ChannelMismatch { expected: String, found: String },
    #[error("release index fragments disagree on schema_version: {expected} and {found}; rebuild every fragment with the same xtask")]
    SchemaVersionMismatch { expected: u32, found: u32 },
    #[error("release index fragments name different object stores, `{expected}` and `{found}`: they are two apps' releases; merge each app's fragments on their own")]
    ObjectsMismatch { expected: String, found: String },
    #[error("runtime variant {variant} appears in more than one index entry or fragment; each variant must be built by one job")]
    DuplicateVariant { variant: String },
    #[error("a fragment holds exactly one target, this one {n_targets}; write one fragment per matrix job")]
    FragmentTargets { n_targets: usize },
    #[error("no release index fragments to merge: download the matrix jobs' fragments first")]
    NoFragments,
    #[error("{path}: not a release index ({source})")]
    IndexJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the signed index's trusted comment `{comment}` does not name channel `{channel}` and published_at {published_at}: the signature belongs to another index")]
    IndexCommentMismatch {
        comment: String,
        channel: String,
        published_at: u64,
    },
    #[error("{path}: archive file name is not valid UTF-8; rename it")]
    NonUtf8Name { path: PathBuf },

    #[error("{path} is not inside {dir}: SHA256SUMS lists files relative to its own folder")]
    OutsideSumsDir { path: PathBuf, dir: PathBuf },
    #[error(
        "{path}: `sha256sum -c` cannot read this name (newline or backslash); rename the file"
    )]
    UnsupportedSumsName { path: PathBuf },

    #[error(
        "lockfile line {line_number}: {reason}: `{line}`; regenerate it with `cargo xtask lock`"
    )]
    LockSyntax {
        line_number: usize,
        line: String,
        reason: &'static str,
    },
    #[error("lockfile locks `{name}` twice; regenerate it with `cargo xtask lock`")]
    LockDuplicate { name: String },
    #[error("{path}: installs {name} {installed} but the lock pins {locked}; the runtime was not built from this lock, rebuild it")]
    InstalledVersionMismatch {
        path: PathBuf,
        name: String,
        installed: String,
        locked: String,
    },
    #[error("{site_packages}: `{name}` is locked but not installed; the runtime was not built from this lock, rebuild it")]
    NotInstalled {
        site_packages: PathBuf,
        name: String,
    },
    #[error("{path}: METADATA has no `Name:` or `Version:` header; the wheel install is damaged, rebuild the runtime")]
    BadDistInfo { path: PathBuf },

    #[error("updater platform key `{key}` is not `<os>-<arch>[-<bundle>]` with os linux/darwin/windows and arch x86_64/aarch64/i686/armv7")]
    UpdaterPlatformKey { key: String },
    #[error("updater platform `{key}` is listed twice")]
    UpdaterDuplicatePlatform { key: String },
    #[error("updater signature for `{key}` is neither minisign signature text nor its base64 (the content of a `.sig` file)")]
    UpdaterSignature { key: String },

    #[error("`{tool}` was not found ({source}); install it (Debian/Ubuntu: `apt-get install {package}`)")]
    ToolMissing {
        tool: &'static str,
        package: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("`{tool} {action}` failed on {path} ({status}):\n{output}")]
    ToolFailed {
        tool: &'static str,
        action: &'static str,
        path: PathBuf,
        status: std::process::ExitStatus,
        output: String,
    },
}
