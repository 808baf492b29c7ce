//! `verify_dir`, `verify_archive` and `build_manifest_files`.

use std::path::Path;

use runtime_archive::{
    build_manifest_files, pack_tar_zst, verify_archive, verify_dir, Difference, Error, PackOptions,
};
use runtime_spec::Manifest;

use crate::support::{chmod, make_tree, manifest_with, sha256_hex, write};

fn tree_with_manifest() -> (tempfile::TempDir, Manifest) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("runtime");
    make_tree(&root, false);
    let manifest = manifest_with(build_manifest_files(&root).unwrap());
    std::fs::write(root.join("manifest.json"), manifest.to_json()).unwrap();
    (tmp, manifest)
}

#[test]
fn manifest_files_are_sorted_hashed_and_skip_the_manifest() {
    let (tmp, manifest) = tree_with_manifest();
    let root = tmp.path().join("runtime");
    let files = build_manifest_files(&root).unwrap();
    assert_eq!(files, manifest.files, "manifest.json itself is not listed");
    let paths: Vec<&str> = files.iter().map(|file| file.path.as_str()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
    assert!(!paths.contains(&"manifest.json"));
    assert!(
        !paths.iter().any(|path| path.starts_with("web")),
        "folders are not files"
    );
    let version = files.iter().find(|file| file.path == "VERSION").unwrap();
    assert_eq!(version.size, 6);
    assert_eq!(version.sha256.to_hex(), sha256_hex(b"0.1.0\n"));
    assert!(!version.executable);
    let python = files
        .iter()
        .find(|file| file.path == "python/bin/python3.12")
        .unwrap();
    assert!(python.executable);
    // The symlink is listed with its target's content.
    let link = files
        .iter()
        .find(|file| file.path == "python/bin/python3")
        .unwrap();
    assert_eq!(
        (link.size, &link.sha256, link.executable),
        (python.size, &python.sha256, true)
    );
    manifest.validate().unwrap();
}

#[cfg(unix)]
#[test]
fn each_kind_of_damage_is_named() {
    struct Case {
        name: &'static str,
        damage: fn(&Path),
        missing: &'static [&'static str],
        extra: &'static [&'static str],
        modified: &'static [&'static str],
    }
    for case in [
        Case {
            name: "untouched",
            damage: |_| {},
            missing: &[],
            extra: &[],
            modified: &[],
        },
        Case {
            name: "one byte flipped",
            damage: |root| {
                let path = root.join("python/lib/libpython3.12.so");
                let mut bytes = std::fs::read(&path).unwrap();
                bytes[2] ^= 0x40;
                std::fs::write(&path, bytes).unwrap();
            },
            missing: &[],
            extra: &[],
            modified: &["python/lib/libpython3.12.so"],
        },
        Case {
            name: "file deleted",
            damage: |root| std::fs::remove_file(root.join("app/main.py")).unwrap(),
            missing: &["app/main.py"],
            extra: &[],
            modified: &[],
        },
        Case {
            name: "file added",
            damage: |root| std::fs::write(root.join("python/lib/intruder.py"), b"x").unwrap(),
            missing: &[],
            extra: &["python/lib/intruder.py"],
            modified: &[],
        },
        Case {
            name: "executable bit dropped",
            damage: |root| chmod(&root.join("python/bin/python3.12"), 0o644),
            missing: &[],
            extra: &[],
            // The symlink points at it, so it changes too.
            modified: &["python/bin/python3", "python/bin/python3.12"],
        },
        Case {
            name: "size changed",
            damage: |root| std::fs::write(root.join("VERSION"), b"0.2.0-beta\n").unwrap(),
            missing: &[],
            extra: &[],
            modified: &["VERSION"],
        },
        Case {
            name: "symlink removed",
            damage: |root| std::fs::remove_file(root.join("python/bin/python3")).unwrap(),
            missing: &["python/bin/python3"],
            extra: &[],
            modified: &[],
        },
    ] {
        let (tmp, manifest) = tree_with_manifest();
        let root = tmp.path().join("runtime");
        (case.damage)(&root);
        let report = verify_dir(&root, &manifest);
        assert_eq!(report.missing, case.missing, "{}: {report}", case.name);
        assert_eq!(report.extra, case.extra, "{}: {report}", case.name);
        assert_eq!(
            report.modified_paths(),
            case.modified,
            "{}: {report}",
            case.name
        );
        assert!(report.unreadable.is_empty(), "{}: {report}", case.name);
        assert_eq!(
            report.is_ok(),
            case.missing.is_empty() && case.extra.is_empty() && case.modified.is_empty()
        );
        let shown = report.to_string();
        for path in case.missing.iter().chain(case.extra).chain(case.modified) {
            assert!(
                shown.contains(path),
                "{}: display lacks {path}: {shown}",
                case.name
            );
        }
    }
}

#[test]
fn differences_say_what_changed() {
    let (tmp, manifest) = tree_with_manifest();
    let root = tmp.path().join("runtime");
    std::fs::write(root.join("app/main.py"), b"import abc\n").unwrap();
    let report = verify_dir(&root, &manifest);
    assert_eq!(report.modified.len(), 1);
    match &report.modified[0].difference {
        Difference::Sha256 { actual, .. } => assert_eq!(actual, &sha256_hex(b"import abc\n")),
        other => panic!("expected a sha256 difference, got {other:?}"),
    }
}

#[cfg(unix)]
#[test]
fn archive_is_verified_while_streaming() {
    let (tmp, manifest) = tree_with_manifest();
    let root = tmp.path().join("runtime");
    let archive = tmp.path().join("rt.tar.zst");
    let options = PackOptions {
        zstd_level: 3,
        ..PackOptions::new(1_700_000_000)
    };
    pack_tar_zst(&root, &archive, &options).unwrap();
    let report = verify_archive(&archive).unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.n_checked, manifest.files.len());

    // Damage the tree, keep the old manifest, pack again: the archive check must see it.
    std::fs::write(root.join("app/main.py"), b"import sys\r\n").unwrap();
    std::fs::remove_file(root.join("VERSION")).unwrap();
    std::fs::write(root.join("extra.txt"), b"x").unwrap();
    chmod(&root.join("python/bin/python3.12"), 0o600);
    pack_tar_zst(&root, &archive, &options).unwrap();
    let report = verify_archive(&archive).unwrap();
    assert_eq!(report.missing, ["VERSION"]);
    assert_eq!(report.extra, ["extra.txt"]);
    assert_eq!(
        report.modified_paths(),
        ["app/main.py", "python/bin/python3", "python/bin/python3.12"]
    );
}

#[test]
fn archive_without_or_with_a_bad_manifest_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("runtime");
    write(&root.join("a.txt"), b"a");
    let archive = tmp.path().join("rt.tar.zst");
    let options = PackOptions {
        zstd_level: 1,
        ..PackOptions::new(0)
    };
    pack_tar_zst(&root, &archive, &options).unwrap();
    let error = verify_archive(&archive).unwrap_err();
    assert!(matches!(error, Error::ManifestMissing { .. }), "{error:?}");

    write(&root.join("manifest.json"), b"{\"schema_version\": 99}");
    pack_tar_zst(&root, &archive, &options).unwrap();
    let error = verify_archive(&archive).unwrap_err();
    assert!(matches!(error, Error::ManifestInvalid { .. }), "{error:?}");
}
