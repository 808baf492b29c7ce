//! The crate's one error type; every variant names the file or variable it is about.

use std::path::PathBuf;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while loading an identity, signing or verifying.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// File system error; `fs-err` already put the path in the message.
    #[error(transparent)]
    Io(#[from] std::io::Error),

    /// The signing certificate or key could not be loaded.
    #[error(
        "cannot load the signing identity from {origin}: {message}; check the file and its password \
         (a .p12 must be exported with `openssl pkcs12 -export -legacy`: OpenSSL 3's default \
         encryption is not supported and shows up as a wrong password)"
    )]
    Identity {
        /// File path or environment variable the identity came from.
        origin: String,
        /// What was wrong.
        message: String,
    },

    /// An environment variable is set but unusable, or one it needs is missing.
    #[error("environment variable {name}: {message}")]
    Env {
        /// The variable.
        name: &'static str,
        /// What was wrong and what to set.
        message: String,
    },

    /// A [`crate::SignOptions`] field is unusable.
    #[error("SignOptions::{option}: {message}")]
    InvalidOption {
        /// The field.
        option: &'static str,
        /// What is wrong with it.
        message: String,
    },

    /// apple-codesign refused to sign a file.
    #[error("signing {path} failed: {message}; if the file is not meant to be loaded on macOS, remove it from the runtime")]
    Sign {
        /// The file being signed.
        path: PathBuf,
        /// apple-codesign's error.
        message: String,
    },

    /// A file given to the verifier is not a Mach-O binary.
    #[error("{path} is not a Mach-O file (no Mach-O magic bytes); pass a binary, or use verify_runtime on its folder")]
    NotMachO {
        /// The file.
        path: PathBuf,
    },

    /// A file given to the disk image signer or verifier has no UDIF (`koly`) trailer.
    #[error("{path} is not a disk image (no UDIF `koly` trailer in its last 512 bytes); pass the `.dmg` the packager made")]
    NotDmg {
        /// The file.
        path: PathBuf,
    },

    /// A Mach-O file or its signature could not be parsed.
    #[error("cannot parse {path}: {message}; the file is truncated or not a valid Mach-O")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },

    /// The folder given to [`crate::sign_app_bundle`] is not a macOS `.app`.
    #[error("{path} is not an app bundle: {message}")]
    NotAppBundle {
        /// The folder.
        path: PathBuf,
        /// What is missing.
        message: String,
    },

    /// A file failed verification (see [`crate::VerifyReport::ensure_signed_by`]).
    #[error("code signature of {path} is not valid: {}; re-sign the runtime and check nothing modifies it afterwards", problems.join("; "))]
    Verification {
        /// The file that failed.
        path: PathBuf,
        /// Every problem found in it.
        problems: Vec<String>,
    },

    /// A file is validly signed, but not by the expected identity.
    #[error("{path} is {found}, expected {expected}; sign the runtime with the release identity")]
    WrongSigner {
        /// The file.
        path: PathBuf,
        /// What the file carries (ad-hoc, unsigned, or a certificate fingerprint).
        found: String,
        /// What the caller asked for.
        expected: String,
    },
}
