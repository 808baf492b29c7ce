//! CycloneDX SBOM from the real linux-x64 lock (and the built runtime's licences, when built),
//! validated against the official CycloneDX 1.5 JSON schema.

use std::path::{Path, PathBuf};

use release_meta::{cyclonedx_from_lock, Error, SbomMetadata};
use runtime_spec::{Manifest, Target};
use serde_json::Value;

use crate::{built_linux_runtime, workspace_root};

const SOURCE_DATE_EPOCH: u64 = 1_795_311_941;
const N_LOCKED: usize = 35;

fn metadata() -> SbomMetadata {
    SbomMetadata {
        name: "tokenizer-studio-runtime".to_owned(),
        app: "tokenizer-studio".to_owned(),
        version: "0.1.0".to_owned(),
        target: Target::LinuxX64,
        python_version: "3.12.14".to_owned(),
        python_build: "20260814".to_owned(),
        python_sha256: Some("cd".repeat(32).parse().unwrap()),
        source_date_epoch: SOURCE_DATE_EPOCH,
    }
}

fn lock_text() -> String {
    std::fs::read_to_string(workspace_root().join("apps/tokenizer-studio/lockfiles/linux-x64.txt"))
        .unwrap()
}

/// Validates against the vendored official schema (and the two schemas it references).
fn assert_valid_cyclonedx_1_5(bom: &Value) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cyclonedx");
    let load = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(fixtures.join(name)).unwrap()).unwrap()
    };
    // The bom schema refers to its siblings by these file names relative to its `$id`.
    let registry = jsonschema::Registry::new()
        .add(
            "http://cyclonedx.org/schema/spdx.SNAPSHOT.schema.json",
            load("spdx.SNAPSHOT.schema.json"),
        )
        .unwrap()
        .add(
            "http://cyclonedx.org/schema/jsf-0.82.SNAPSHOT.schema.json",
            load("jsf-0.82.SNAPSHOT.schema.json"),
        )
        .unwrap()
        .prepare()
        .unwrap();
    let validator = jsonschema::options()
        .with_registry(&registry)
        .should_validate_formats(true)
        .build(&load("bom-1.5.SNAPSHOT.schema.json"))
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(bom)
        .map(|error| format!("{}: {error}", error.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "SBOM violates CycloneDX 1.5:\n{}",
        errors.join("\n")
    );
}

#[test]
fn schema_check_is_not_vacuous() {
    let bom = cyclonedx_from_lock(&lock_text(), None, &metadata()).unwrap();
    for (pointer, bad) in [
        ("/components/0/hashes/0/content", Value::from("not hex")),
        ("/components/0/type", Value::from("wheel")),
        ("/serialNumber", Value::from("1234")),
        ("/metadata/timestamp", Value::from("yesterday")),
    ] {
        let mut broken = bom.clone();
        *broken.pointer_mut(pointer).unwrap() = bad;
        let result = std::panic::catch_unwind(|| assert_valid_cyclonedx_1_5(&broken));
        assert!(result.is_err(), "schema accepted a broken {pointer}");
    }
}

fn components(bom: &Value) -> &Vec<Value> {
    bom["components"].as_array().unwrap()
}

fn component<'a>(bom: &'a Value, name: &str) -> &'a Value {
    components(bom)
        .iter()
        .find(|component| component["name"] == name)
        .unwrap_or_else(|| panic!("no component {name}"))
}

#[test]
fn sbom_from_the_lock_alone() {
    let lock = lock_text();
    let bom = cyclonedx_from_lock(&lock, None, &metadata()).unwrap();
    assert_valid_cyclonedx_1_5(&bom);

    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["specVersion"], "1.5");
    assert_eq!(bom["metadata"]["timestamp"], "2026-11-22T01:45:41Z");
    assert!(bom["serialNumber"]
        .as_str()
        .unwrap()
        .starts_with("urn:uuid:"));
    let libraries: Vec<&Value> = components(&bom)
        .iter()
        .filter(|component| component["type"] == "library")
        .collect();
    assert_eq!(libraries.len(), N_LOCKED);
    let n_lock_hashes = lock.matches("--hash=sha256:").count();
    let n_sbom_hashes: usize = libraries
        .iter()
        .map(|library| library["hashes"].as_array().unwrap().len())
        .sum();
    assert_eq!(
        n_sbom_hashes, n_lock_hashes,
        "every lock hash is in the SBOM"
    );
    for library in &libraries {
        let purl = format!(
            "pkg:pypi/{}@{}",
            library["name"].as_str().unwrap(),
            library["version"].as_str().unwrap()
        );
        assert_eq!(library["purl"], purl.as_str());
        assert_eq!(library["bom-ref"], purl.as_str());
        assert!(library["hashes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|hash| hash["alg"] == "SHA-256"));
    }
    let python = component(&bom, "cpython");
    assert_eq!(python["version"], "3.12.14");

    // The `# via` comments become edges: fastapi is required by the engine (the runtime),
    // starlette by fastapi.
    let dependencies = bom["dependencies"].as_array().unwrap();
    let depends_on = |reference: &str| -> Vec<String> {
        dependencies
            .iter()
            .find(|dependency| dependency["ref"] == reference)
            .unwrap_or_else(|| panic!("no dependency entry for {reference}"))["dependsOn"]
            .as_array()
            .unwrap()
            .iter()
            .map(|child| child.as_str().unwrap().to_owned())
            .collect()
    };
    let fastapi = component(&bom, "fastapi")["purl"]
        .as_str()
        .unwrap()
        .to_owned();
    let root = depends_on("tokenizer-studio-runtime@0.1.0");
    assert!(root.contains(&fastapi) && root.contains(&"pkg:generic/cpython@3.12.14".to_owned()));
    assert!(depends_on(&fastapi)
        .iter()
        .any(|child| child.starts_with("pkg:pypi/starlette@")));

    // Reproducible: same inputs, same bytes (serial number included).
    let again = cyclonedx_from_lock(&lock, None, &metadata()).unwrap();
    assert_eq!(
        serde_json::to_string_pretty(&bom).unwrap(),
        serde_json::to_string_pretty(&again).unwrap()
    );
    let mut later = metadata();
    later.source_date_epoch += 1;
    let later = cyclonedx_from_lock(&lock, None, &later).unwrap();
    assert_ne!(later["serialNumber"], bom["serialNumber"]);
}

/// Copies every `*.dist-info/METADATA` of the built runtime (never touching the runtime).
fn copy_dist_infos(site_packages: &Path, into: &Path) {
    for entry in std::fs::read_dir(site_packages).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if name.ends_with(".dist-info") {
            std::fs::create_dir_all(into.join(&name)).unwrap();
            std::fs::copy(
                entry.path().join("METADATA"),
                into.join(&name).join("METADATA"),
            )
            .unwrap();
        }
    }
}

#[test]
fn sbom_licences_from_the_built_runtime() {
    let Some(runtime) = built_linux_runtime() else {
        return;
    };
    let manifest_json = std::fs::read(runtime.join("manifest.json")).unwrap();
    let manifest = Manifest::from_json(&manifest_json).unwrap();
    let lock = std::fs::read_to_string(runtime.join("wheelhouse/linux-x64.txt")).unwrap();
    let site_packages: PathBuf = runtime.join(Target::LinuxX64.site_packages());
    let copy = tempfile::tempdir().unwrap();
    copy_dist_infos(&site_packages, copy.path());

    let metadata = SbomMetadata::from_manifest(&crate::app(), &manifest, SOURCE_DATE_EPOCH);
    let bom = cyclonedx_from_lock(&lock, Some(copy.path()), &metadata).unwrap();
    assert_valid_cyclonedx_1_5(&bom);
    assert_eq!(
        component(&bom, "cpython")["version"],
        manifest.python.version.as_str()
    );

    let licenses = |name: &str| component(&bom, name)["licenses"].to_string();
    assert_eq!(licenses("fastapi"), r#"[{"expression":"MIT"}]"#);
    assert!(
        licenses("numpy").contains("BSD-3-Clause"),
        "{}",
        licenses("numpy")
    );
    assert!(licenses("pyarrow").contains("Apache-2.0"));
    // No License-Expression: the short `License:` field, then the classifiers.
    assert_eq!(
        licenses("datasets"),
        r#"[{"license":{"name":"Apache 2.0"}}]"#
    );
    assert_eq!(
        licenses("tokenizers"),
        r#"[{"license":{"name":"Apache Software License"}}]"#
    );
    let n_with_licence = components(&bom)
        .iter()
        .filter(|component| component.get("licenses").is_some())
        .count();
    assert_eq!(
        n_with_licence,
        N_LOCKED + 1,
        "every wheel here states a licence"
    );

    let again = cyclonedx_from_lock(&lock, Some(copy.path()), &metadata).unwrap();
    assert_eq!(bom, again);

    // A runtime that was not built from this lock is refused.
    let fastapi_dir = std::fs::read_dir(copy.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            path.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("fastapi-")
        })
        .unwrap();
    let metadata_path = fastapi_dir.join("METADATA");
    let original = std::fs::read_to_string(&metadata_path).unwrap();
    let version_line = original
        .lines()
        .find(|line| line.starts_with("Version:"))
        .unwrap();
    std::fs::write(
        &metadata_path,
        original.replacen(version_line, "Version: 0.0.1", 1),
    )
    .unwrap();
    assert!(matches!(
        cyclonedx_from_lock(&lock, Some(copy.path()), &metadata),
        Err(Error::InstalledVersionMismatch { .. })
    ));
    std::fs::remove_dir_all(&fastapi_dir).unwrap();
    assert!(matches!(
        cyclonedx_from_lock(&lock, Some(copy.path()), &metadata),
        Err(Error::NotInstalled { .. })
    ));
}
