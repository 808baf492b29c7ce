//! The runtime contract: targets, layout, manifest, release index, launch contract, every
//! environment variable, and the nouns they share (channel, sha256, version, minisign key),
//! each parsed once where it enters a program and passed around typed.
//!
//! Everything here is pure (no network, no processes, no file IO beyond parsing bytes it is
//! given) so the xtask, the supervisor, the smoke tests and the shell can all depend on it and
//! agree on every path and name. What each part means: `docs/runtime-contract.md`.

pub mod app;
pub mod channel;
pub mod discovery;
pub mod env;
pub mod index;
pub mod keys;
pub mod launch;
pub mod layout;
pub mod manifest;
pub mod pins;
pub mod registry;
pub mod schema;
pub mod sha256;
pub mod target;
pub mod variant;
pub mod version;

pub use app::{AppDescriptor, AppNames};
pub use channel::Channel;
pub use index::{IndexEntry, ObjectRef, ReleaseIndex};
pub use keys::PublicKey;
pub use launch::LaunchContract;
pub use manifest::{FileEntry, Manifest, PythonInfo, PythonSource};
pub use registry::{AppRegistry, RegistryApp};
pub use sha256::Sha256;
pub use target::Target;
pub use variant::{Accelerator, CpuLevel, Profile, Requirements, Variant};
pub use version::Version;

/// Errors from parsing or validating contract data.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("unknown target `{name}`: expected one of macos-arm64, windows-x64, linux-x64")]
    UnknownTarget { name: String },
    #[error("manifest is not valid JSON for schema version {expected}: {source}")]
    ManifestJson {
        expected: u32,
        #[source]
        source: serde_json::Error,
    },
    #[error("manifest schema_version {found} is not supported (this build reads {expected}); update the app")]
    ManifestVersion { found: u32, expected: u32 },
    #[error("manifest lists an unsafe path `{path}`: paths must be relative, `/`-separated, without `..`")]
    UnsafePath { path: String },
    #[error(
        "manifest lists `{path}` twice or out of order: files must be sorted by path and unique"
    )]
    UnsortedFiles { path: String },
    #[error("python pins file is invalid: {0}")]
    Pins(#[from] toml::de::Error),
    #[error("python pins have no entry for target {target}")]
    MissingPin { target: String },
    #[error("release index is not valid JSON: {0}")]
    IndexJson(#[source] serde_json::Error),
    #[error("release index schema_version {found} is not supported (this build reads {expected}); update the app")]
    IndexVersion { found: u32, expected: u32 },
    #[error("release index names its object store as `{objects}`, which is not a folder on its own server: {why}")]
    IndexObjects { objects: String, why: String },
    #[error("release index lists runtime variant {variant} twice; publish each variant once")]
    DuplicateVariant { variant: String },
    #[error("app registry is not valid JSON: {0}")]
    RegistryJson(#[source] serde_json::Error),
    #[error("app registry schema_version {found} is not supported (this build reads {expected}); update the app")]
    RegistryVersion { found: u32, expected: u32 },
    #[error("app registry is invalid: {reason}")]
    RegistryApps { reason: String },
}
