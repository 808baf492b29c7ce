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
fn registry_schema_snapshot() {
    check_snapshot("registry.schema.json", &schema::registry_schema());
}

#[test]
fn app_schema_snapshot() {
    check_snapshot("app.schema.json", &schema::app_schema());
}

/// The descriptors of every app under `apps/`, parsed, with their folders.
pub(crate) fn apps() -> Vec<(std::path::PathBuf, runtime_spec::AppDescriptor)> {
    let apps_dir = test_support::workspace_root().join("apps");
    let mut apps = Vec::new();
    for entry in std::fs::read_dir(&apps_dir).unwrap() {
        let dir = entry.unwrap().path();
        let file = dir.join(runtime_spec::app::APP_FILE);
        if let Ok(text) = std::fs::read_to_string(&file) {
            let app = runtime_spec::AppDescriptor::parse(&text, &file.display().to_string())
                .unwrap_or_else(|error| panic!("{error}"));
            apps.push((dir, app));
        }
    }
    apps.sort_by(|a, b| a.1.id.cmp(&b.1.id));
    apps
}

/// The workspace's default app (`[workspace.metadata.apps] default` in Cargo.toml).
pub(crate) fn default_app() -> runtime_spec::AppDescriptor {
    let text = std::fs::read_to_string(test_support::workspace_root().join("Cargo.toml")).unwrap();
    let manifest: toml::Value = toml::from_str(&text).unwrap();
    let id = manifest["workspace"]["metadata"]["apps"]["default"]
        .as_str()
        .unwrap()
        .to_owned();
    apps()
        .into_iter()
        .map(|(_, app)| app)
        .find(|app| app.id == id)
        .unwrap_or_else(|| panic!("the default app {id} has no apps/{id}/app.toml"))
}

/// Every committed descriptor parses, names an app folder that is its id, points at files that
/// exist (icons, engine project, packages, shared packages, web project), and no two apps share
/// an id, identifier, data folder or variable prefix (two apps on one machine must never read
/// each other's data or settings).
#[test]
fn the_committed_app_descriptors_are_whole_and_distinct() {
    let apps = apps();
    assert!(apps.len() >= 2, "expected at least two apps under apps/");
    let root = test_support::workspace_root();
    for (dir, app) in &apps {
        assert_eq!(dir.file_name().unwrap().to_str().unwrap(), app.id);
        for icon in [&app.icons.png, &app.icons.ico] {
            assert!(dir.join(icon).is_file(), "{}: {icon} is missing", app.id);
        }
        assert!(dir
            .join(&app.engine.project)
            .join("pyproject.toml")
            .is_file());
        for package in &app.engine.packages {
            assert!(
                dir.join(package).join("__init__.py").is_file(),
                "{}: {package}",
                app.id
            );
        }
        for package in &app.engine.shared {
            assert!(
                root.join("enginekit")
                    .join(package)
                    .join("__init__.py")
                    .is_file(),
                "{package}"
            );
        }
        let web = dir.join(&app.web.project);
        assert!(
            web.join("package.json").is_file()
                || web.join(&app.web.out_dir).join("index.html").is_file()
        );
    }
    for (index, (_, app)) in apps.iter().enumerate() {
        for (_, other) in &apps[index + 1..] {
            assert_ne!(app.id, other.id);
            assert_ne!(app.identifier, other.identifier);
            assert_ne!(app.data_folder, other.data_folder);
            assert_ne!(app.env_prefix, other.env_prefix);
        }
    }
    assert!(default_app()
        .profiles
        .contains(&runtime_spec::Profile::Torch));
}

fn sample_manifest() -> Manifest {
    Manifest {
        schema_version: MANIFEST_SCHEMA_VERSION,
        app_id: default_app().identifier,
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
        launch: LaunchContract::for_app(&default_app().names(), Target::LinuxX64),
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
