//! CycloneDX 1.5 JSON SBOM of a runtime: every locked wheel plus the embedded CPython.
//!
//! Sources: the uv-generated hashed lock (`lockfiles/<target>.txt`, also shipped as
//! `runtime/wheelhouse/<target>.txt`) gives names, versions, sha256 hashes and the `# via`
//! dependency edges; the installed `*.dist-info/METADATA` gives licences; the manifest gives
//! CPython. Output is reproducible: the timestamp is `SOURCE_DATE_EPOCH`, arrays are sorted and
//! the serial number is a UUIDv5 of the rest of the document.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use runtime_spec::{Manifest, Target};
use serde_json::{json, Value};

use crate::{rfc3339_utc, Error, Result};

/// CycloneDX specification version written.
pub const SPEC_VERSION: &str = "1.5";

/// Longest free-text `License:` field taken as a licence name; longer ones are usually the
/// whole licence text pasted in, and the classifiers say it better.
const MAX_LICENSE_FIELD_LEN: usize = 100;

/// What the SBOM describes: the runtime as a whole, and the CPython inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbomMetadata {
    /// Name of the described runtime ([`runtime_spec::AppNames::archive_stem`]).
    pub name: String,
    /// The app's id: the prefix of the document's own property names (`<app>:target`).
    pub app: String,
    /// Runtime semver.
    pub version: String,
    /// The platform the runtime runs on.
    pub target: Target,
    /// CPython version, e.g. `3.12.14`.
    pub python_version: String,
    /// python-build-standalone release, or `local`.
    pub python_build: String,
    /// sha256 of the CPython archive the runtime was built from, when there was one.
    pub python_sha256: Option<runtime_spec::Sha256>,
    /// `SOURCE_DATE_EPOCH` of the release commit; becomes `metadata.timestamp`.
    pub source_date_epoch: u64,
}

impl SbomMetadata {
    /// Metadata for the runtime a manifest describes.
    pub fn from_manifest(
        app: &runtime_spec::AppNames,
        manifest: &Manifest,
        source_date_epoch: u64,
    ) -> SbomMetadata {
        SbomMetadata {
            name: app.archive_stem(),
            app: app.id.clone(),
            version: manifest.runtime_version.to_string(),
            target: manifest.target,
            python_version: manifest.python.version.clone(),
            python_build: manifest.python.build.clone(),
            python_sha256: manifest.python.sha256,
            source_date_epoch,
        }
    }
}

/// One `name==version` entry of a hashed requirements lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedPackage {
    /// PEP 503-normalised name (lowercase, runs of `-_.` as one `-`).
    pub name: String,
    /// The pinned version.
    pub version: String,
    /// Every `--hash=sha256:` of the entry (one per wheel or sdist), lowercase hex, sorted.
    pub sha256: Vec<String>,
    /// The `# via` lines under the entry: what required it, as uv wrote them.
    pub via: Vec<String>,
}

/// Parses a `uv pip compile --generate-hashes` lock (pip's hashed requirements format).
///
/// Every requirement must be pinned with `==` and carry at least one sha256 hash, as
/// `--require-hashes` installs demand; options such as index URLs are refused because no
/// committed lock may name an index (`docs/decisions/0007-no-registry-host-names.md`).
pub fn parse_lock(lock_text: &str) -> Result<Vec<LockedPackage>> {
    let mut packages: Vec<LockedPackage> = Vec::new();
    // Where each requirement starts, for errors found once the whole entry is read.
    let mut start_lines: Vec<(usize, String)> = Vec::new();
    // True after a bare `# via` line: the following `#   name` lines list the requirers.
    let mut in_via_list = false;
    for (index, line) in lock_text.lines().enumerate() {
        let line_number = index + 1;
        let syntax = |reason| Error::LockSyntax {
            line_number,
            line: line.to_owned(),
            reason,
        };
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            let comment = comment.trim();
            let current = packages.last_mut();
            if let Some(rest) = comment.strip_prefix("via") {
                if rest.is_empty() {
                    in_via_list = true;
                } else if rest.starts_with(' ') {
                    in_via_list = false;
                    if let Some(package) = current {
                        package.via.push(rest.trim().to_owned());
                    }
                }
            } else if in_via_list && !comment.is_empty() {
                if let Some(package) = current {
                    package.via.push(comment.to_owned());
                }
            }
            continue;
        }
        in_via_list = false;
        let is_continuation = line.starts_with([' ', '\t']);
        let mut tokens = trimmed.trim_end_matches('\\').split_whitespace();
        if !is_continuation {
            let requirement = tokens.next().unwrap_or_default();
            if requirement.starts_with('-') {
                return Err(syntax("pip options are not allowed in a release lock"));
            }
            packages.push(
                parse_requirement(requirement)
                    .ok_or_else(|| syntax("expected a pinned requirement `name==version`"))?,
            );
            start_lines.push((line_number, line.to_owned()));
        }
        for token in tokens {
            let Some(hash) = token.strip_prefix("--hash=") else {
                // Environment markers after `;` describe when the pin applies, not what it is.
                continue;
            };
            let package = packages
                .last_mut()
                .ok_or_else(|| syntax("hash before any requirement"))?;
            if let Some(hex) = hash.strip_prefix("sha256:") {
                let digest = runtime_spec::Sha256::parse(hex)
                    .map_err(|_| syntax("malformed sha256 hash"))?;
                package.sha256.push(digest.to_hex());
            }
        }
    }
    let mut names = BTreeSet::new();
    for (package, (line_number, line)) in packages.iter_mut().zip(start_lines) {
        if !names.insert(package.name.clone()) {
            return Err(Error::LockDuplicate {
                name: package.name.clone(),
            });
        }
        if package.sha256.is_empty() {
            return Err(Error::LockSyntax {
                line_number,
                line,
                reason: "requirement without a sha256 hash (`--require-hashes` installs refuse it)",
            });
        }
        package.sha256.sort();
        package.sha256.dedup();
    }
    packages.sort_by(|left, right| left.name.cmp(&right.name));
    Ok(packages)
}

/// `name[extras]==version[;marker]` → package; `None` unless pinned to one exact version.
fn parse_requirement(requirement: &str) -> Option<LockedPackage> {
    let requirement = requirement.split(';').next()?;
    let (name, version) = requirement.split_once("==")?;
    let name = name.split('[').next()?.trim();
    let version = version.trim();
    let valid_version = !version.is_empty()
        && !version.starts_with('=')
        && version
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || "._+!-".contains(character));
    if name.is_empty() || !valid_version {
        return None;
    }
    Some(LockedPackage {
        name: normalise_name(name),
        version: version.to_owned(),
        sha256: Vec::new(),
        via: Vec::new(),
    })
}

/// PEP 503 name normalisation; also what the `pypi` purl type asks for.
fn normalise_name(name: &str) -> String {
    let mut normalised = String::with_capacity(name.len());
    let mut previous_was_separator = false;
    for character in name.chars() {
        if matches!(character, '-' | '_' | '.') {
            if !previous_was_separator {
                normalised.push('-');
            }
            previous_was_separator = true;
        } else {
            normalised.push(character.to_ascii_lowercase());
            previous_was_separator = false;
        }
    }
    normalised
}

/// What one installed `*.dist-info/METADATA` says about its distribution.
struct Installed {
    version: String,
    licenses: Vec<Value>,
    metadata_path: PathBuf,
}

/// Builds the CycloneDX 1.5 JSON document.
///
/// One `library` component per locked package (`pkg:pypi/<name>@<version>` purl and bom-ref,
/// every lock sha256 as a hash), with licences from `site_packages_dir` when given; a CPython
/// component; the runtime itself as `metadata.component`; and `dependencies` from the lock's
/// `# via` comments (anything not in the lock, such as the engine's own pyproject, is the
/// runtime). With `site_packages_dir`, every locked package must be installed at its locked
/// version: an SBOM that disagrees with what ships is worse than none.
pub fn cyclonedx_from_lock(
    lock_text: &str,
    site_packages_dir: Option<&Path>,
    metadata: &SbomMetadata,
) -> Result<Value> {
    let packages = parse_lock(lock_text)?;
    let installed = match site_packages_dir {
        Some(dir) => read_site_packages(dir)?,
        None => BTreeMap::new(),
    };
    let root_ref = format!("{}@{}", metadata.name, metadata.version);
    let python_ref = format!("pkg:generic/cpython@{}", metadata.python_version);

    let purls: BTreeMap<&str, String> = packages
        .iter()
        .map(|package| {
            let purl = format!("pkg:pypi/{}@{}", package.name, package.version);
            (package.name.as_str(), purl)
        })
        .collect();
    let mut components = Vec::with_capacity(packages.len() + 1);
    let mut depends_on: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    depends_on
        .entry(root_ref.clone())
        .or_default()
        .insert(python_ref.clone());
    for package in &packages {
        let purl = &purls[package.name.as_str()];
        let mut component = json!({
            "type": "library",
            "bom-ref": purl,
            "name": package.name,
            "version": package.version,
            "purl": purl,
            "hashes": package.sha256.iter()
                .map(|hex| json!({"alg": "SHA-256", "content": hex}))
                .collect::<Vec<_>>(),
        });
        if let Some(dir) = site_packages_dir {
            let found = installed
                .get(&package.name)
                .ok_or_else(|| Error::NotInstalled {
                    site_packages: dir.to_owned(),
                    name: package.name.clone(),
                })?;
            if found.version != package.version {
                return Err(Error::InstalledVersionMismatch {
                    path: found.metadata_path.clone(),
                    name: package.name.clone(),
                    installed: found.version.clone(),
                    locked: package.version.clone(),
                });
            }
            if !found.licenses.is_empty() {
                component["licenses"] = Value::Array(found.licenses.clone());
            }
        }
        components.push(component);
        depends_on.entry(purl.clone()).or_default();
        for requirer in &package.via {
            // uv writes `name`, `name (pyproject.toml)` or `-r file`; only the first word names
            // a package, and whatever is not a locked package is the runtime's own engine.
            let requirer = normalise_name(requirer.split_whitespace().next().unwrap_or_default());
            let parent = purls.get(requirer.as_str()).unwrap_or(&root_ref);
            depends_on
                .entry(parent.clone())
                .or_default()
                .insert(purl.clone());
        }
    }
    let mut python = json!({
        "type": "application",
        "bom-ref": python_ref,
        "name": "cpython",
        "version": metadata.python_version,
        "purl": python_ref,
        "licenses": [{"expression": "PSF-2.0"}],
        "properties": [
            {"name": format!("{}:python:build", metadata.app), "value": metadata.python_build},
        ],
    });
    if let Some(sha256) = &metadata.python_sha256 {
        python["hashes"] = json!([{"alg": "SHA-256", "content": sha256}]);
    }
    components.push(python);
    components.sort_by(|left, right| left["bom-ref"].as_str().cmp(&right["bom-ref"].as_str()));

    let dependencies: Vec<Value> = depends_on
        .into_iter()
        .map(|(reference, children)| json!({"ref": reference, "dependsOn": children}))
        .collect();
    let mut bom = json!({
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "version": 1,
        "metadata": {
            "timestamp": rfc3339_utc(metadata.source_date_epoch),
            "tools": {"components": [{
                "type": "application",
                "name": env!("CARGO_PKG_NAME"),
                "version": env!("CARGO_PKG_VERSION"),
            }]},
            "component": {
                "type": "application",
                "bom-ref": root_ref,
                "name": metadata.name,
                "version": metadata.version,
                "properties": [{"name": format!("{}:target", metadata.app), "value": metadata.target.name()}],
            },
        },
        "components": components,
        "dependencies": dependencies,
    });
    // Deterministic serial number: the same inputs give the same document, so the same UUID.
    let content = serde_json::to_vec(&bom).expect("a JSON value serialises");
    let serial = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, &content);
    bom["serialNumber"] = Value::String(format!("urn:uuid:{serial}"));
    Ok(bom)
}

/// Every `*.dist-info` in `dir`, by normalised name.
fn read_site_packages(dir: &Path) -> Result<BTreeMap<String, Installed>> {
    let mut installed = BTreeMap::new();
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let is_dist_info = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.ends_with(".dist-info"));
        if !is_dist_info {
            continue;
        }
        let metadata_path = entry.path().join("METADATA");
        let text = fs_err::read_to_string(&metadata_path)?;
        let headers = metadata_headers(&text);
        let header = |key: &str| {
            headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(key))
                .map(|(_, value)| value.clone())
        };
        let (Some(name), Some(version)) = (header("Name"), header("Version")) else {
            return Err(Error::BadDistInfo {
                path: metadata_path,
            });
        };
        installed.insert(
            normalise_name(&name),
            Installed {
                version,
                licenses: licenses(&headers),
                metadata_path,
            },
        );
    }
    Ok(installed)
}

/// The header block of a core-metadata file (RFC 822 style): up to the first blank line, with
/// indented continuation lines folded into the previous value.
fn metadata_headers(text: &str) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    headers
}

/// CycloneDX `licenses` for a distribution, best source first (core metadata 2.4):
/// `License-Expression` is SPDX by definition, so it becomes an `expression`; the free-text
/// `License` field and `License ::` classifiers become licence `name`s (their words are not
/// guaranteed SPDX ids, and the schema rejects an unknown `id`).
fn licenses(headers: &[(String, String)]) -> Vec<Value> {
    fn field<'a>(
        headers: &'a [(String, String)],
        key: &'static str,
    ) -> impl Iterator<Item = &'a str> {
        headers
            .iter()
            .filter(move |(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, value)| value.as_str())
    }
    if let Some(expression) = field(headers, "License-Expression").find(|value| !value.is_empty()) {
        return vec![json!({"expression": expression})];
    }
    let short_license = field(headers, "License").find(|value| {
        !value.is_empty()
            && !value.eq_ignore_ascii_case("UNKNOWN")
            && !value.contains('\n')
            && value.len() <= MAX_LICENSE_FIELD_LEN
    });
    if let Some(name) = short_license {
        return vec![json!({"license": {"name": name}})];
    }
    let classifier_names: BTreeSet<&str> = field(headers, "Classifier")
        .filter_map(|classifier| classifier.strip_prefix("License ::"))
        .filter_map(|rest| rest.rsplit("::").next())
        .map(str::trim)
        .filter(|name| !name.is_empty() && *name != "OSI Approved")
        .collect();
    classifier_names
        .into_iter()
        .map(|name| json!({"license": {"name": name}}))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements() {
        for (requirement, expected) in [
            ("numpy==2.5.5", Some(("numpy", "2.5.5"))),
            (
                "Typing_Extensions==4.16.0",
                Some(("typing-extensions", "4.16.0")),
            ),
            ("uvicorn[standard]==0.54.0", Some(("uvicorn", "0.54.0"))),
            (
                "tzdata==2026.6;sys_platform=='win32'",
                Some(("tzdata", "2026.6")),
            ),
            ("numpy>=2", None),
            ("numpy===2", None),
            ("numpy==2.*", None),
            ("numpy", None),
        ] {
            let got = parse_requirement(requirement);
            let got = got
                .as_ref()
                .map(|package| (package.name.as_str(), package.version.as_str()));
            assert_eq!(got, expected, "{requirement}");
        }
    }

    #[test]
    fn lock_with_via_lists_and_errors() {
        let hash_a = "a".repeat(64);
        let hash_b = "B".repeat(64);
        let lock = format!(
            "# header\nfoo==1.0 \\\n    --hash=sha256:{hash_b} \\\n    --hash=sha256:{hash_a}\n    # via\n    #   bar\n    #   app (pyproject.toml)\nbar==2.0 --hash=sha256:{hash_a}\n    # via app (pyproject.toml)\n"
        );
        let packages = parse_lock(&lock).unwrap();
        assert_eq!(packages.len(), 2);
        assert_eq!(packages[0].name, "bar");
        assert_eq!(
            packages[1].sha256,
            vec![hash_a.clone(), hash_b.to_lowercase()]
        );
        assert_eq!(packages[1].via, vec!["bar", "app (pyproject.toml)"]);
        for bad in [
            "--index-url x\n".to_owned(),
            "foo>=1\n".to_owned(),
            "foo==1.0\n".to_owned(),
            format!("foo==1 --hash=sha256:{hash_a}\nfoo==1 --hash=sha256:{hash_a}\n"),
            "foo==1 --hash=sha256:abc\n".to_owned(),
        ] {
            assert!(parse_lock(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn licence_sources() {
        let headers = |text: &str| metadata_headers(text);
        for (metadata, expected) in [
            ("Name: a\nLicense-Expression: MIT\nLicense: Other\n", json!([{"expression": "MIT"}])),
            ("Name: a\nLicense: Apache 2.0\n", json!([{"license": {"name": "Apache 2.0"}}])),
            (
                "Name: a\nLicense: Long text\n  continued\nClassifier: License :: OSI Approved :: MIT License\n",
                json!([{"license": {"name": "MIT License"}}]),
            ),
            ("Name: a\n\nLicense-Expression: MIT\n", json!([])),
        ] {
            assert_eq!(Value::Array(licenses(&headers(metadata))), expected, "{metadata}");
        }
    }
}
