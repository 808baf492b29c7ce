//! Downloading, verifying, safely extracting and deterministically packing runtime archives.
//!
//! Shared by the xtask (pack, manifest file lists), the smoke tests and the shell's
//! installer/updater (download, extract into staging, verify, check free space); see
//! DESIGN.md §3, §6, §10 and §11. Archives are treated as untrusted input throughout.

mod download;
mod error;
mod extract;
mod pack;
mod space;
mod verify;

pub use download::{download_verified, Downloaded, Progress};
pub use error::{Error, Result};
pub use extract::{extract_archive, extract_archive_with, ExtractOptions, ExtractReport};
pub use pack::{pack_tar_zst, PackOptions, PackReport, DEFAULT_ZSTD_LEVEL};
pub use space::free_space;
pub use verify::{
    build_manifest_files, verify_archive, verify_dir, Difference, Modified, Unreadable,
    VerifyReport,
};
