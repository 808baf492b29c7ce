//! Integration tests of the contract crate: schema snapshots and manifest validation.

mod contract;

use std::path::Path;

use runtime_spec::manifest::MANIFEST_SCHEMA_VERSION;
use runtime_spec::{schema, LaunchContract, Manifest, PythonInfo, PythonSource, Target};

/// Compares `actual` with the committed snapshot; `UPDATE_SNAPSHOTS=1` rewrites it.
fn check_snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schema")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "{} is stale: run `UPDATE_SNAPSHOTS=1 cargo test -p runtime-spec` and commit the result",
        path.display()
    );
}

#[test]
fn manifest_schema_snapshot() {
    check_snapshot("manifest.schema.json", &schema::manifest_schema());
}

#[test]
fn release_index_schema_snapshot() {
    check_snapshot("release-index.schema.json", &schema::release_index_schema());
}

#[test]
fn app_schema_snapshot() {
    check_snapshot("app.schema.json", &schema::app_schema());
}

/// The committed descriptor parses, and agrees with the names the contract still carries as
/// constants (the manifest's app id, the data folder, the variable prefix), so neither can
/// drift from the other; its icons exist.
#[test]
fn the_committed_app_descriptor_matches_the_contract() {
    let app_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("apps")
        .join("tokenizer-studio");
    let text = std::fs::read_to_string(app_dir.join("app.toml")).unwrap();
    let app = runtime_spec::AppDescriptor::parse(&text, "apps/tokenizer-studio/app.toml").unwrap();
    assert_eq!(app.identifier, runtime_spec::APP_ID);
    assert_eq!(app.id, runtime_spec::APP_NAME);
    assert_eq!(app.product_name, runtime_spec::PRODUCT_NAME);
    assert_eq!(
        runtime_spec::layout::ARCHIVE_STEM,
        format!("{}-runtime", app.id)
    );
    assert_eq!(app.data_folder, runtime_spec::discovery::DATA_FOLDER_NAME);
    assert_eq!(app.env_var("DATA_DIR"), runtime_spec::env::DATA_DIR);
    assert!(app.profiles.contains(&runtime_spec::Profile::Torch));
    for icon in [&app.icons.png, &app.icons.ico] {
        assert!(app_dir.join(icon).is_file(), "{icon} is missing");
    }
    assert!(app_dir
        .join(&app.engine.project)
        .join("pyproject.toml")
        .is_file());
    assert!(app_dir
        .join(&app.web.project)
        .join("package.json")
        .is_file());
}

fn sample_manifest() -> Manifest {
    Manifest {
        schema_version: MANIFEST_SCHEMA_VERSION,
        app_id: runtime_spec::APP_ID.into(),
        runtime_version: "0.1.0".parse().unwrap(),
        target: Target::LinuxX64,
        python: PythonInfo {
            version: "3.12.14".parse().unwrap(),
            build: "20260814".into(),
            source: PythonSource::Pbs,
            sha256: None,
        },
        profile: Default::default(),
        accelerator: Default::default(),
        requirements: None,
        lock_sha256: "0".repeat(64).parse().unwrap(),
        launch: LaunchContract::for_target(Target::LinuxX64),
        files: vec![],
    }
}

#[test]
fn manifest_round_trips_and_rejects_bad_input() {
    let manifest = sample_manifest();
    let json = manifest.to_json();
    assert_eq!(Manifest::from_json(json.as_bytes()).unwrap(), manifest);

    let future = json.replace("\"schema_version\": 1", "\"schema_version\": 2");
    let error = Manifest::from_json(future.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(error.contains("schema_version 2"), "{error}");

    for bad_path in ["../etc/passwd", "/abs", "a/./b"] {
        let mut manifest = sample_manifest();
        manifest.files.push(runtime_spec::FileEntry {
            path: bad_path.into(),
            size: 0,
            sha256: "0".repeat(64).parse().unwrap(),
            executable: false,
            packed_size: None,
        });
        let error = Manifest::from_json(manifest.to_json().as_bytes())
            .unwrap_err()
            .to_string();
        assert!(error.contains(bad_path), "{error}");
    }

    let mut unsorted = sample_manifest();
    for path in ["b", "a"] {
        unsorted.files.push(runtime_spec::FileEntry {
            path: path.into(),
            size: 0,
            sha256: "0".repeat(64).parse().unwrap(),
            executable: false,
            packed_size: None,
        });
    }
    assert!(Manifest::from_json(unsorted.to_json().as_bytes()).is_err());

    let extra = json.replacen('{', "{\"surprise\": 1,", 1);
    assert!(Manifest::from_json(extra.as_bytes()).is_err());

    // The version is parsed with the manifest: nothing downstream sees a malformed one.
    let not_semver = json.replace(
        "\"runtime_version\": \"0.1.0\"",
        "\"runtime_version\": \"1.0\"",
    );
    assert_ne!(not_semver, json);
    let error = Manifest::from_json(not_semver.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(error.contains("minor version number"), "{error}");
}

#[test]
fn pth_line_reaches_app_dir_from_site_packages() {
    for target in Target::ALL {
        let line = runtime_spec::layout::app_pth_line(target);
        let joined = Path::new("/rt").join(target.site_packages()).join(&line);
        let mut normal = std::path::PathBuf::new();
        for part in joined.components() {
            match part {
                std::path::Component::ParentDir => {
                    normal.pop();
                }
                other => normal.push(other),
            }
        }
        assert_eq!(normal, Path::new("/rt/app"), "{target}");
    }
}
