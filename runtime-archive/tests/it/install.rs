//! Atomic install of a runtime archive: verify before promote, never a half runtime.

use std::path::{Path, PathBuf};

use runtime_archive::{build_manifest_files, install_archive, pack_tar_zst, Error, PackOptions};
use runtime_spec::Target;

use crate::support::{make_tree, manifest_with};

/// Packs a runtime tree (optionally corrupted after its manifest was written) and returns the archive.
fn runtime_archive(dir: &Path, version: &str, corrupt: bool, target: Target) -> PathBuf {
    let root = dir.join(format!("tree-{version}-{corrupt}-{target}"));
    make_tree(&root, false);
    std::fs::write(root.join("VERSION"), format!("{version}\n")).unwrap();
    let mut manifest = manifest_with(build_manifest_files(&root).unwrap());
    manifest.runtime_version = version.parse().unwrap();
    manifest.target = target;
    std::fs::write(root.join("manifest.json"), manifest.to_json()).unwrap();
    if corrupt {
        std::fs::write(root.join("VERSION"), "6.6.6\n").unwrap();
    }
    let archive = dir.join(format!("runtime-{version}-{corrupt}-{target}.tar.zst"));
    pack_tar_zst(&root, &archive, &PackOptions::new(1_700_000_000)).unwrap();
    archive
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_good_archive_installs_and_replaces_the_old_runtime() {
    let tmp = tempfile::tempdir().unwrap();
    let runtimes = tmp.path().join("runtime");
    let first = runtime_archive(tmp.path(), "0.1.0", false, Target::LinuxX64);
    let report = install_archive(&first, &runtimes, "default", Target::LinuxX64).unwrap();
    assert_eq!(report.dir, runtimes.join("default"));
    assert_eq!(
        std::fs::read_to_string(runtimes.join("default/VERSION")).unwrap(),
        "0.1.0\n"
    );
    let second = runtime_archive(tmp.path(), "0.2.0", false, Target::LinuxX64);
    install_archive(&second, &runtimes, "default", Target::LinuxX64).unwrap();
    assert_eq!(
        std::fs::read_to_string(runtimes.join("default/VERSION")).unwrap(),
        "0.2.0\n"
    );
    assert_eq!(
        entries(&runtimes),
        ["default"],
        "no staging or replaced folders are left behind"
    );
}

#[test]
fn a_tampered_or_foreign_archive_is_refused_and_the_old_runtime_stays() {
    let tmp = tempfile::tempdir().unwrap();
    let runtimes = tmp.path().join("runtime");
    let good = runtime_archive(tmp.path(), "0.1.0", false, Target::LinuxX64);
    install_archive(&good, &runtimes, "default", Target::LinuxX64).unwrap();

    let tampered = runtime_archive(tmp.path(), "0.2.0", true, Target::LinuxX64);
    let error = install_archive(&tampered, &runtimes, "default", Target::LinuxX64).unwrap_err();
    assert!(matches!(error, Error::VerifyFailed { .. }), "{error}");
    assert!(
        error.to_string().contains("VERSION"),
        "the bad file must be named: {error}"
    );

    let foreign = runtime_archive(tmp.path(), "0.3.0", false, Target::WindowsX64);
    let error = install_archive(&foreign, &runtimes, "default", Target::LinuxX64).unwrap_err();
    assert!(matches!(error, Error::WrongTarget { .. }), "{error}");
    assert!(error.to_string().contains("windows-x64"), "{error}");

    assert_eq!(
        std::fs::read_to_string(runtimes.join("default/VERSION")).unwrap(),
        "0.1.0\n"
    );
    assert_eq!(
        entries(&runtimes),
        ["default"],
        "failed installs leave no staging folders"
    );
}
