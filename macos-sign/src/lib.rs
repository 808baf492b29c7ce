//! Signs and verifies the Mach-O files of a macOS runtime and app bundle (apple-codesign, from any host).
//!
//! The release toolchain calls [`sign_runtime`] on an assembled `runtime-macos-arm64/` folder (or
//! [`sign_app_bundle`] on the finished `.app`), then [`verify_runtime`] (or
//! [`verify_app_bundle`], which adds the resource seal) to check every Mach-O with this
//! crate's own verifier ([`verify_file`]): apple-codesign's verifier misses a forged
//! code directory and fails every ad-hoc signature, so we recompute the page hashes and check the
//! CMS signature against the code directory ourselves. The `.dmg` that carries the signed app
//! is signed last ([`sign_dmg`], checked by [`verify_dmg`]). Notarization is not linked in: see
//! [`NotaryApiKey`] for the commands CI runs.

mod bundle;
mod detect;
mod dmg;
mod error;
mod identity;
mod notarize;
mod sign;
mod verify;

pub use bundle::verify_app_bundle;
pub use detect::{find_macho_files, macho_kind, MachoKind};
pub use dmg::{sign_dmg, verify_dmg};
pub use error::{Error, Result};
pub use identity::{Identity, SigningIdentity, ENV_P12_BASE64, ENV_P12_PASSWORD, ENV_P12_PATH};
pub use notarize::{
    NotaryApiKey, P8Source, ShellCommand, APPLE_TIMESTAMP_URL, ENV_API_ISSUER, ENV_API_KEY_ID,
    ENV_API_KEY_P8, ENV_API_KEY_P8_PATH,
};
pub use sign::{
    sign_app_bundle, sign_file, sign_runtime, SignOptions, SignReport, SignedFile,
    DEFAULT_IDENTIFIER_PREFIX, PYTHON_RUNTIME_ENTITLEMENTS,
};
pub use verify::{
    extract_cms_and_code_directory, verify_file, verify_runtime, FileVerification, VerifyOutcome,
    VerifyReport,
};
