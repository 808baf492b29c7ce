//! The per-channel release index the shell downloads runtimes from (`docs/runtime-contract.md`,
//! "Release index").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    Accelerator, Channel, Profile, Requirements, Sha256, SpecError, Target, Variant, Version,
};

/// Version of the release index format.
pub const INDEX_SCHEMA_VERSION: u32 = 3;

/// `runtime-<channel>.json`, signed with minisign (`.minisig` beside it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseIndex {
    /// Always [`INDEX_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// `dev`, `alpha`, `beta` or `stable`; the shell refuses an index for another channel.
    pub channel: Channel,
    /// Seconds since the Unix epoch (`SOURCE_DATE_EPOCH` of the release commit). The shell
    /// refuses an index older than the newest one it has seen (replay defence).
    pub published_at: u64,
    /// Per target, one entry per variant built for it (at most one per profile × accelerator).
    pub runtimes: BTreeMap<Target, Vec<IndexEntry>>,
}

/// One downloadable runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IndexEntry {
    /// Runtime semver.
    #[schemars(with = "String")]
    pub version: Version,
    /// Archive URL relative to the index's own URL.
    pub url: String,
    /// Archive size in bytes.
    pub size: u64,
    /// Archive sha256, lowercase hex.
    pub sha256: Sha256,
    /// Sum of the unpacked file sizes (for the free-space check).
    pub unpacked_size: u64,
    /// Oldest shell version that can run this runtime.
    #[schemars(with = "String")]
    pub min_shell_version: Version,
    /// What the engine can import.
    pub profile: Profile,
    /// The device family the wheels are built for.
    pub accelerator: Accelerator,
    /// What a machine needs to run it: the shell decides before downloading.
    pub requirements: Requirements,
    /// The runtime's `manifest.json`, also published as an object of the store: a client
    /// fetches and verifies it first, then fetches only the objects of files it lacks.
    pub manifest: ObjectRef,
}

/// One object of the release's object store (`objects/`, beside the index), named by the
/// sha256 of the bytes it unpacks to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectRef {
    /// sha256 of the unpacked bytes, lowercase hex; the object is at
    /// [`crate::layout::object_path`] of it.
    pub sha256: Sha256,
    /// Unpacked size in bytes.
    pub size: u64,
    /// Size of the object as served (its zstd frame).
    pub packed_size: u64,
}

impl IndexEntry {
    /// This entry's variant of `target`.
    pub fn variant(&self, target: Target) -> Variant {
        Variant::new(target, self.profile, self.accelerator)
    }
}

pub use crate::layout::index_file_name;

impl ReleaseIndex {
    /// The minisign trusted comment the index is signed with: it names the file, channel and
    /// publication time, so a signature cannot be replayed for another channel's index or
    /// another day's. Signer (release-meta) and verifier (updater) both use this.
    pub fn trusted_comment(&self) -> String {
        // Tab-separated `key:value` pairs, the layout `minisign -S` itself uses.
        format!(
            "timestamp:{published_at}\tfile:{file}\tchannel:{channel}\tpublished_at:{published_at}",
            published_at = self.published_at,
            file = index_file_name(self.channel),
            channel = self.channel,
        )
    }

    /// Every variant offered for `target`.
    pub fn entries(&self, target: Target) -> &[IndexEntry] {
        self.runtimes.get(&target).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The entry of `variant`, if the index offers it.
    pub fn entry(&self, variant: Variant) -> Option<&IndexEntry> {
        self.entries(variant.target)
            .iter()
            .find(|entry| entry.variant(variant.target) == variant)
    }

    /// Parses an index (after its signature was verified).
    pub fn from_json(bytes: &[u8]) -> Result<ReleaseIndex, SpecError> {
        #[derive(Deserialize)]
        struct Probe {
            schema_version: u32,
        }
        let probe: Probe = serde_json::from_slice(bytes).map_err(SpecError::IndexJson)?;
        if probe.schema_version != INDEX_SCHEMA_VERSION {
            return Err(SpecError::IndexVersion {
                found: probe.schema_version,
                expected: INDEX_SCHEMA_VERSION,
            });
        }
        let index: ReleaseIndex = serde_json::from_slice(bytes).map_err(SpecError::IndexJson)?;
        index.validate()?;
        Ok(index)
    }

    /// Each variant at most once per target: the shell must never have to pick between two
    /// archives of one variant.
    pub fn validate(&self) -> Result<(), SpecError> {
        for (target, entries) in &self.runtimes {
            let mut seen = std::collections::BTreeSet::new();
            for entry in entries {
                let variant = entry.variant(*target);
                if !seen.insert(variant) {
                    return Err(SpecError::DuplicateVariant {
                        variant: variant.name(),
                    });
                }
            }
        }
        Ok(())
    }
}
