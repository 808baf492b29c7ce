//! `runtime/manifest.json`: what a runtime is and every file it holds (`docs/runtime-contract.md`,
//! "Manifest").

use serde::{Deserialize, Serialize};

use crate::{
    Accelerator, LaunchContract, Profile, Requirements, Sha256, SpecError, Target, Variant, Version,
};

/// Version of the manifest format this build writes and reads.
pub const MANIFEST_SCHEMA_VERSION: u32 = 1;

/// The runtime manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`MANIFEST_SCHEMA_VERSION`] for manifests this build writes.
    pub schema_version: u32,
    /// [`crate::APP_ID`].
    pub app_id: String,
    /// Runtime semver (also in `VERSION`).
    #[schemars(with = "String")]
    pub runtime_version: Version,
    /// The platform the runtime runs on.
    pub target: Target,
    /// What the engine can import; manifests written before profiles existed are `base`.
    #[serde(default)]
    pub profile: Profile,
    /// The device family the wheels are built for; `cpu` when absent.
    #[serde(default)]
    pub accelerator: Accelerator,
    /// What a machine needs to run this runtime; absent in manifests written before variants
    /// (then [`Variant::base_requirements`] applies, see [`Manifest::requirements`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requirements: Option<Requirements>,
    /// Where the embedded interpreter came from.
    pub python: PythonInfo,
    /// sha256 of `wheelhouse/<target>.txt`, the lock the wheels were installed from.
    pub lock_sha256: Sha256,
    /// How to start the engine.
    pub launch: LaunchContract,
    /// Every file in the runtime except `manifest.json` itself, sorted by path.
    pub files: Vec<FileEntry>,
}

/// The embedded interpreter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PythonInfo {
    /// CPython version, e.g. `3.12.14`.
    pub version: String,
    /// python-build-standalone release (e.g. `20260814`), or `local` for a packed local CPython.
    pub build: String,
    /// Where the tree came from.
    pub source: PythonSource,
    /// sha256 of the archive it was unpacked from (`null` for a local CPython).
    pub sha256: Option<Sha256>,
}

/// Provenance of the embedded interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PythonSource {
    /// The pinned python-build-standalone archive (possibly through a mirror).
    Pbs,
    /// An archive given explicitly with `--python-archive` and `--python-sha256`.
    Override,
    /// A local CPython packed for development; release channels refuse it.
    Local,
}

/// One file of the runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Relative, `/`-separated path.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex sha256 of the contents.
    pub sha256: Sha256,
    /// Whether the file carries the executable bit (mode 0755 rather than 0644).
    pub executable: bool,
    /// Size of the file's object in the release's object store: the zstd frame of its bytes
    /// at [`crate::layout::object_path`] of its sha256. Delta updates fetch only the objects of
    /// files not already on disk and know the download size from these before the first byte.
    /// Absent in manifests written before the object store (such runtimes update by archive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packed_size: Option<u64>,
}

impl Manifest {
    /// Parses and validates a manifest: schema version, safe sorted unique paths.
    pub fn from_json(bytes: &[u8]) -> Result<Manifest, SpecError> {
        #[derive(Deserialize)]
        struct Probe {
            schema_version: u32,
        }
        let probe: Probe =
            serde_json::from_slice(bytes).map_err(|source| SpecError::ManifestJson {
                expected: MANIFEST_SCHEMA_VERSION,
                source,
            })?;
        if probe.schema_version != MANIFEST_SCHEMA_VERSION {
            return Err(SpecError::ManifestVersion {
                found: probe.schema_version,
                expected: MANIFEST_SCHEMA_VERSION,
            });
        }
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|source| SpecError::ManifestJson {
                expected: MANIFEST_SCHEMA_VERSION,
                source,
            })?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Pretty JSON with a trailing newline; byte-identical for identical manifests.
    pub fn to_json(&self) -> String {
        let mut json = serde_json::to_string_pretty(self).expect("manifest serialises");
        json.push('\n');
        json
    }

    /// Checks every path is safe and the list is sorted and unique.
    pub fn validate(&self) -> Result<(), SpecError> {
        let mut previous: Option<&str> = None;
        for file in &self.files {
            if !is_safe_relative_path(&file.path) {
                return Err(SpecError::UnsafePath {
                    path: file.path.clone(),
                });
            }
            if previous.is_some_and(|previous| previous >= file.path.as_str()) {
                return Err(SpecError::UnsortedFiles {
                    path: file.path.clone(),
                });
            }
            previous = Some(&file.path);
        }
        Ok(())
    }

    /// Target × profile × accelerator.
    pub fn variant(&self) -> Variant {
        Variant::new(self.target, self.profile, self.accelerator)
    }

    /// The recorded requirements, or the variant's known ones for manifests written before
    /// variants existed.
    pub fn requirements(&self) -> Requirements {
        self.requirements
            .clone()
            .unwrap_or_else(|| self.variant().base_requirements())
    }

    /// Sum of all file sizes (the unpacked size, without the manifest itself).
    pub fn unpacked_size(&self) -> u64 {
        self.files.iter().map(|file| file.size).sum()
    }

    /// Whether every file names its object's size, so the runtime can be assembled from the
    /// object store (a delta update) rather than only from its archive.
    pub fn has_objects(&self) -> bool {
        self.files.iter().all(|file| file.packed_size.is_some())
    }
}

/// A path is safe when it is relative, `/`-separated, and has no empty, `.` or `..` parts,
/// no backslashes, no NUL and no drive prefix, so it cannot leave the folder it is joined to.
pub fn is_safe_relative_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.contains('\0')
        && !path.contains(':')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_paths() {
        for (path, safe) in [
            ("python/bin/python3", true),
            ("VERSION", true),
            ("a/../b", false),
            ("../x", false),
            ("/etc/passwd", false),
            ("a//b", false),
            ("./a", false),
            ("a\\b", false),
            ("C:/x", false),
            ("", false),
            ("a\0b", false),
        ] {
            assert_eq!(is_safe_relative_path(path), safe, "{path:?}");
        }
    }
}
