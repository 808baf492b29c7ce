//! Release metadata: SHA256SUMS, the minisign-signed release index, the CycloneDX SBOM, Tauri's latest-<channel>.json.
//!
//! Everything a release job writes beside the runtime archives and installers (formats in
//! `docs/runtime-contract.md`): each concern is one module, and every function takes its
//! timestamps from the caller (`SOURCE_DATE_EPOCH`) so two runs over the same inputs write the
//! same bytes, except the ed25519 signatures minisign randomises on purpose.

pub mod authenticode;
pub mod index;
pub mod minisign;
pub mod sbom;
pub mod sums;
pub mod time;
pub mod updater;

mod error;

pub use self::time::rfc3339_utc;
pub use authenticode::{sign_pe_with_osslsigncode, signtool_command, verify_pe_with_osslsigncode};
pub use error::Error;
pub use index::{
    build_index, entry_for_archive, fragment_file_name, index_file_name, index_json, manifest_ref,
    merge_fragments, read_index_file, verify_index, write_fragment, write_signed_index,
    write_signed_registry,
};
pub use minisign::{generate_keypair, sign, tauri_pubkey, verify};
pub use sbom::{cyclonedx_from_lock, parse_lock, LockedPackage, SbomMetadata};
pub use sums::write_sha256sums;
pub use updater::{shell_manifest_name, tauri_latest_json, updater_trusted_comment};

/// Shorthand for results whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
