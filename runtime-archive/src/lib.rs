//! Downloading, verifying, safely extracting and deterministically packing runtime archives.
//!
//! Shared by the xtask (pack, manifest file lists), the smoke tests and the shell's
//! installer/updater (download, extract into staging, verify, check free space); the archive
//! format and the install steps are in `docs/runtime-contract.md`. Archives are treated as
//! untrusted input throughout.
//!
//! Choices worth knowing:
//! - A symlink to a file appears in the manifest under its own path with the content, size
//!   and executable bit of its target ([`build_manifest_files`]); symlinks to folders are not
//!   listed, so a runtime archive cannot hold one ([`pack_tar_zst`] refuses it in a runtime
//!   tree). [`verify_dir`] follows symlinks and [`verify_archive`] resolves them inside the
//!   archive, so both agree.
//! - [`pack_tar_zst`] puts the folder's children at the archive root (no top-level folder),
//!   so `manifest.json` sits at the root where [`verify_archive`] looks for it, and packs it
//!   first, so [`extract_runtime`] knows what the archive may write before it writes anything.
//! - zstd multithreading gives the same bytes for any worker count >= 1 but different bytes
//!   from single-threaded mode; [`PackOptions::zstd_workers`] must be fixed per pipeline.
//! - Install flow for the shell: [`free_space`] → [`download_resumable`] (keeps a
//!   `.part` across failures and restarts, resumes with HTTP ranges, retries transient
//!   errors; [`download_verified`] is the one-shot variant the xtask uses) →
//!   [`verify_archive`] → [`extract_runtime`] into a staging folder (only what the manifest
//!   lists, then [`verify_dir`]) → promote by rename; [`install_archive`] does the last steps
//!   for a local archive.

mod download;
mod error;
mod extract;
pub mod http;
mod install;
pub mod objects;
mod pack;
mod resume;
mod space;
pub mod url_policy;
mod verify;

pub use download::{download_verified, Downloaded, Progress};
pub use error::{Error, Result};
pub use extract::{
    extract_archive, extract_archive_with, extract_runtime, extract_runtime_with_progress,
    Declared, ExtractOptions, ExtractReport, Unpacking,
};
pub use http::RetryPolicy;
pub use install::{extract_and_verify, install_archive, InstallReport};
pub use pack::{pack_tar_zst, PackOptions, PackReport, DEFAULT_ZSTD_LEVEL, ZSTD_WINDOW_LOG};
pub use resume::{download_resumable, download_resumable_sized, part_file_for, ExpectedFile};
pub use space::free_space;
pub use verify::{
    build_manifest_files, verify_archive, verify_dir, verify_dir_with_progress, Difference,
    Modified, Unreadable, VerifyReport,
};
