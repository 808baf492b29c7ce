//! The per-channel release index (`runtime-<channel>.json` + `.minisig`; fields and checks in
//! `docs/runtime-contract.md`, "Release index").
//!
//! Each CI matrix job builds one target and publishes a one-entry fragment; the release job
//! merges the fragments, signs the result and uploads it beside the archives.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use runtime_spec::index::INDEX_SCHEMA_VERSION;
use runtime_spec::{
    Channel, IndexEntry, Manifest, ObjectRef, ReleaseIndex, Sha256, Target, Version,
};
use sha2::Digest;

use crate::{minisign, Error, Result};

/// Builds an index for one channel from `(target, entry)` pairs, one per variant, whose object
/// store is `objects` relative to the index (`None`: `objects/` beside it).
///
/// A variant given twice is an error rather than "last one wins", because it means two jobs
/// built the same variant and only one of them would be published.
pub fn build_index(
    channel: Channel,
    published_at: u64,
    objects: Option<String>,
    entries: Vec<(Target, IndexEntry)>,
) -> Result<ReleaseIndex> {
    let mut index = ReleaseIndex {
        schema_version: INDEX_SCHEMA_VERSION,
        channel,
        published_at,
        runtimes: BTreeMap::new(),
        objects,
    };
    index.validate()?;
    for (target, entry) in entries {
        add_entry(&mut index, target, entry)?;
    }
    Ok(index)
}

fn add_entry(index: &mut ReleaseIndex, target: Target, entry: IndexEntry) -> Result<()> {
    let variant = entry.variant(target);
    if index.entry(variant).is_some() {
        return Err(Error::DuplicateVariant {
            variant: variant.name(),
        });
    }
    let entries = index.runtimes.entry(target).or_default();
    entries.push(entry);
    // A fixed order (base first, then by accelerator) keeps the index byte-identical
    // whatever order the jobs finished in.
    entries.sort_by_key(|entry| (entry.profile, entry.accelerator));
    Ok(())
}

/// The index entry for a built archive: size and sha256 read from the file, version, variant,
/// requirements and unpacked size from its manifest, URL = the archive's file name (the archives sit beside the
/// index, and the shell resolves the URL relative to the index's own URL).
pub fn entry_for_archive(
    archive: &Path,
    manifest: &Manifest,
    min_shell_version: &Version,
) -> Result<IndexEntry> {
    let file_name = archive
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or_else(|| Error::NonUtf8Name {
            path: archive.to_owned(),
        })?;
    let (size, sha256) = crate::sums::size_and_sha256(archive)?;
    Ok(IndexEntry {
        version: manifest.runtime_version.clone(),
        url: file_name.to_owned(),
        size,
        sha256: Sha256::parse(&sha256).expect("sums writes 64 hex digits"),
        unpacked_size: manifest.unpacked_size(),
        min_shell_version: min_shell_version.clone(),
        profile: manifest.profile,
        accelerator: manifest.accelerator,
        requirements: manifest.requirements(),
        manifest: manifest_ref(manifest),
    })
}

/// The index's reference to `manifest.json` as the runtime holds it ([`Manifest::to_json`]),
/// and to its object in the store.
pub fn manifest_ref(manifest: &Manifest) -> ObjectRef {
    let json = manifest.to_json();
    ObjectRef {
        sha256: Sha256::from_bytes(sha2::Sha256::digest(json.as_bytes()).into()),
        size: json.len() as u64,
        packed_size: runtime_archive::objects::pack_bytes(json.as_bytes()).len() as u64,
    }
}

/// Merges the one-target fragments of the CI matrix into one index.
///
/// All fragments must share channel, schema version and object store (fragments of two apps'
/// releases never merge: their stores are named from different folders) and no variant may
/// appear twice;
/// `published_at` is the newest of the fragments' (they normally agree: all jobs read
/// `SOURCE_DATE_EPOCH` from the same commit).
pub fn merge_fragments(fragments: &[ReleaseIndex]) -> Result<ReleaseIndex> {
    let (first, rest) = fragments.split_first().ok_or(Error::NoFragments)?;
    let mut merged = first.clone();
    for fragment in rest {
        if fragment.channel != merged.channel {
            return Err(Error::ChannelMismatch {
                expected: merged.channel.to_string(),
                found: fragment.channel.to_string(),
            });
        }
        if fragment.schema_version != merged.schema_version {
            return Err(Error::SchemaVersionMismatch {
                expected: merged.schema_version,
                found: fragment.schema_version,
            });
        }
        if fragment.objects != merged.objects {
            return Err(Error::ObjectsMismatch {
                expected: merged.objects_dir(),
                found: fragment.objects_dir(),
            });
        }
        merged.published_at = merged.published_at.max(fragment.published_at);
        for (target, entries) in &fragment.runtimes {
            for entry in entries {
                add_entry(&mut merged, *target, entry.clone())?;
            }
        }
    }
    Ok(merged)
}

/// `runtime-<channel>-<target>.fragment.json`: what one CI matrix job uploads for the release
/// job to merge (the release workflow collects `runtime-*.fragment.json`).
pub fn fragment_file_name(channel: Channel, target: Target) -> String {
    format!("runtime-{channel}-{}.fragment.json", target.name())
}

/// Writes a one-target fragment as `dir/runtime-<channel>-<target>.fragment.json` (unsigned:
/// it never leaves CI; only the merged index is signed) and returns its path.
pub fn write_fragment(index: &ReleaseIndex, dir: &Path) -> Result<PathBuf> {
    let mut targets = index.runtimes.keys();
    let (Some(&target), None) = (targets.next(), targets.next()) else {
        return Err(Error::FragmentTargets {
            n_targets: index.runtimes.len(),
        });
    };
    fs_err::create_dir_all(dir)?;
    let path = dir.join(fragment_file_name(index.channel, target));
    fs_err::write(&path, index_json(index))?;
    Ok(path)
}

/// Reads an index or fragment file; the error names the file.
pub fn read_index_file(path: &Path) -> Result<ReleaseIndex> {
    let bytes = fs_err::read(path)?;
    serde_json::from_slice(&bytes).map_err(|source| Error::IndexJson {
        path: path.to_owned(),
        source,
    })
}

pub use runtime_spec::layout::index_file_name;

/// The index as written: pretty JSON with a trailing newline. Field order is fixed by the
/// struct and targets are a `BTreeMap`, so equal indexes give equal bytes.
pub fn index_json(index: &ReleaseIndex) -> String {
    let mut json = serde_json::to_string_pretty(index).expect("a release index serialises");
    json.push('\n');
    json
}

/// Writes `runtime-<channel>.json` and `runtime-<channel>.json.minisig` into `dir`;
/// returns `(json_path, minisig_path)`.
///
/// `secret_key` is the minisign secret key text (or its base64); `password` as for
/// [`minisign::sign`].
pub fn write_signed_index(
    index: &ReleaseIndex,
    dir: &Path,
    secret_key: &str,
    password: Option<&str>,
) -> Result<(PathBuf, PathBuf)> {
    let json = index_json(index);
    let signature = minisign::sign(
        json.as_bytes(),
        secret_key,
        password,
        &index.trusted_comment(),
    )?;
    fs_err::create_dir_all(dir)?;
    let json_path = dir.join(index_file_name(index.channel));
    let minisig_path = dir.join(format!("{}.minisig", index_file_name(index.channel)));
    fs_err::write(&json_path, json)?;
    fs_err::write(&minisig_path, signature)?;
    Ok((json_path, minisig_path))
}

/// Writes `apps-<channel>.json` and its `.minisig` into `dir`, signed like the runtime index
/// (the trusted comment names the file, channel and publication time); returns their paths.
pub fn write_signed_registry(
    registry: &runtime_spec::AppRegistry,
    dir: &Path,
    secret_key: &str,
    password: Option<&str>,
) -> Result<(PathBuf, PathBuf)> {
    let json = registry.to_json();
    let signature = minisign::sign(
        json.as_bytes(),
        secret_key,
        password,
        &registry.trusted_comment(),
    )?;
    fs_err::create_dir_all(dir)?;
    let name = runtime_spec::registry::registry_file_name(registry.channel);
    let json_path = dir.join(&name);
    let minisig_path = dir.join(format!("{name}.minisig"));
    fs_err::write(&json_path, json)?;
    fs_err::write(&minisig_path, signature)?;
    Ok((json_path, minisig_path))
}

/// Checks a downloaded index the way the shell must: signature first, then the JSON, then
/// that the signed trusted comment names this index's channel and `published_at`.
///
/// `source` only labels errors (the URL or path the bytes came from).
pub fn verify_index(
    json: &[u8],
    signature_text: &str,
    public_key_text: &str,
    source: &Path,
) -> Result<ReleaseIndex> {
    let comment = minisign::verify(json, signature_text, public_key_text)?;
    let index: ReleaseIndex = serde_json::from_slice(json).map_err(|error| Error::IndexJson {
        path: source.to_owned(),
        source: error,
    })?;
    if comment != index.trusted_comment() {
        return Err(Error::IndexCommentMismatch {
            comment,
            channel: index.channel.to_string(),
            published_at: index.published_at,
        });
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(version: &str) -> IndexEntry {
        IndexEntry {
            version: version.parse().unwrap(),
            url: format!("tokenizer-studio-runtime-{version}.tar.zst"),
            size: 10,
            sha256: Sha256::parse(&"0".repeat(64)).unwrap(),
            unpacked_size: 20,
            min_shell_version: "0.1.0".parse().unwrap(),
            profile: runtime_spec::Profile::Base,
            accelerator: runtime_spec::Accelerator::Cpu,
            requirements: runtime_spec::Variant::base(runtime_spec::Target::LinuxX64)
                .base_requirements(),
            manifest: runtime_spec::ObjectRef {
                sha256: Sha256::parse(&"1".repeat(64)).unwrap(),
                size: 2,
                packed_size: 3,
            },
        }
    }

    #[test]
    fn channels_and_duplicates() {
        // An unknown channel cannot be named any more: it fails where the text is read.
        assert!(serde_json::from_str::<ReleaseIndex>(
            r#"{"schema_version": 1, "channel": "nightly", "published_at": 1, "runtimes": {}}"#
        )
        .is_err());
        assert!(matches!(
            build_index(
                Channel::Beta,
                1,
                None,
                vec![
                    (Target::LinuxX64, entry("1.0.0")),
                    (Target::LinuxX64, entry("2.0.0"))
                ]
            ),
            Err(Error::DuplicateVariant { .. })
        ));
        assert!(matches!(merge_fragments(&[]), Err(Error::NoFragments)));
    }
}
