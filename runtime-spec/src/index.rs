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
    /// Where the object store is, relative to the index's own URL: a path of `..` and plain
    /// segments ending in `/`, so it can only name a folder on the index's own server. Absent
    /// means [`crate::layout::OBJECTS_DIR`] beside the index; an app released one folder below
    /// the release URL says [`crate::layout::SHARED_OBJECTS_FROM_APP`], the one store every app
    /// of the release shares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects: Option<String>,
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

/// One object of the release's object store (see [`ReleaseIndex::objects`]), named by the
/// sha256 of the bytes it unpacks to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectRef {
    /// sha256 of the unpacked bytes, lowercase hex; the object is at
    /// [`ReleaseIndex::object_url_path`] of it.
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

    /// The object store's folder relative to the index's URL, ending in `/`.
    pub fn objects_dir(&self) -> String {
        self.objects
            .clone()
            .unwrap_or_else(|| format!("{}/", crate::layout::OBJECTS_DIR))
    }

    /// The URL of the object of `sha256`, relative to the index's own URL.
    pub fn object_url_path(&self, sha256: &Sha256) -> String {
        format!(
            "{}{}",
            self.objects_dir(),
            crate::layout::object_name(sha256)
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
    /// archives of one variant. The object store, when named, is a folder on the index's own
    /// server.
    pub fn validate(&self) -> Result<(), SpecError> {
        if let Some(objects) = &self.objects {
            check_objects_dir(objects)?;
        }
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

/// `objects` is a relative path of `..` and plain segments ending in `/`: no scheme, host,
/// absolute path, query, fragment, `.`, empty segment or backslash. Resolved against the
/// index's URL, such a path stays on the index's server whatever that URL is.
fn check_objects_dir(objects: &str) -> Result<(), SpecError> {
    let invalid = |why: &str| SpecError::IndexObjects {
        objects: objects.to_owned(),
        why: why.to_owned(),
    };
    let Some(body) = objects.strip_suffix('/') else {
        return Err(invalid("it must end in `/`"));
    };
    if body.is_empty() {
        return Err(invalid("it names no folder"));
    }
    for segment in body.split('/') {
        if segment == ".." {
            continue;
        }
        if segment.is_empty() || segment == "." {
            return Err(invalid(
                "it has an empty or `.` segment (or starts with `/`)",
            ));
        }
        if !segment
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
        {
            return Err(invalid(
                "a segment holds a character other than letters, digits, `-`, `_` and `.`",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(objects: Option<&str>) -> ReleaseIndex {
        ReleaseIndex {
            schema_version: INDEX_SCHEMA_VERSION,
            channel: Channel::Beta,
            published_at: 1,
            runtimes: BTreeMap::new(),
            objects: objects.map(str::to_owned),
        }
    }

    #[test]
    fn the_object_store_is_beside_the_index_unless_the_index_names_a_folder_on_its_server() {
        let sha = Sha256::parse(&"ab".repeat(32)).unwrap();
        let beside = index(None);
        assert_eq!(
            beside.object_url_path(&sha),
            format!("objects/ab/{}.zst", "ab".repeat(32))
        );
        assert_eq!(
            beside.object_url_path(&sha),
            crate::layout::object_path(&sha)
        );
        // An index without the field serialises exactly as before the field existed.
        assert!(!serde_json::to_string(&beside).unwrap().contains("objects"));
        let shared = index(Some(crate::layout::SHARED_OBJECTS_FROM_APP));
        shared.validate().unwrap();
        assert_eq!(
            shared.object_url_path(&sha),
            format!("../objects/ab/{}.zst", "ab".repeat(32))
        );
        for good in ["objects/", "../objects/", "../../store/v1/", "a.b_c-d/"] {
            index(Some(good))
                .validate()
                .unwrap_or_else(|error| panic!("{good}: {error}"));
        }
        for bad in [
            "https://elsewhere.invalid/objects/",
            "//elsewhere.invalid/objects/",
            "/objects/",
            "objects",
            "./objects/",
            "",
            "/",
            "objects//",
            "ob?jects/",
            "ob#jects/",
            "..\\objects/",
            "C:/objects/",
            "ob jects/",
        ] {
            let error = index(Some(bad)).validate().unwrap_err().to_string();
            assert!(
                error.contains("not a folder on its own server"),
                "{bad}: {error}"
            );
        }
        // A parsed index is validated too.
        let json = serde_json::to_vec(&index(Some("//elsewhere.invalid/o/"))).unwrap();
        assert!(ReleaseIndex::from_json(&json).is_err());
    }
}
