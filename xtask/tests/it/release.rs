//! `cargo xtask release` for the host: the thin and offline .debs, checksums, the signed index,
//! and the object store.

use std::path::Path;
use std::process::Command;

use crate::support::{files_under, host_build_lock, run, shared_cache, xtask};

/// The release's output folder after `cargo xtask release --bundle both` for the host (dev
/// channel): a thin and an offline `.deb` that pass lintian, checksums, a signed index, every
/// runtime file's object.
#[test]
fn release_produces_thin_and_offline_debs_checksums_and_a_signed_index() {
    let Some(_lock) = host_build_lock() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let mut command = xtask(&shared_cache());
    command
        .args(["release", "--bundle", "both", "--out-dir"])
        .arg(out.path());
    let (ok, stdout, stderr) = run(&mut command);
    assert!(ok, "release failed:\n{stderr}");
    assert!(
        stdout.contains("release 0.1.0 linux-x64 (dev, thin and full bundle, 1 variant)"),
        "{stdout}"
    );
    assert!(
        stderr.contains("skipped AppImage"),
        "the skipped format must be named: {stderr}"
    );
    let dir = out.path().join("0.1.0");
    let debs: Vec<_> = files_under(&dir)
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "deb"))
        .collect();
    assert_eq!(debs.len(), 2, "a thin and an offline .deb: {debs:?}");

    // Checksums: `sha256sum -c` passes in the release folder.
    let status = Command::new("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(status.success(), "sha256sum -c SHA256SUMS failed");

    // The object store: the runtime's every file, and its manifest, once each as the index and
    // manifest name them (SHA256SUMS lists none of them).
    let published =
        crate::objects::check_release_objects(out.path(), runtime_spec::Target::LinuxX64);
    assert!(published.files > 1000, "{published:?}");

    // The index verifies with the reference minisign, and fails after a one-byte change.
    let index = dir.join("runtime-dev.json");
    let minisign_verify = |file: &Path| {
        Command::new("minisign")
            .args(["-V", "-q", "-p"])
            .arg(dir.join("minisign.pub"))
            .arg("-m")
            .arg(file)
            .arg("-x")
            .arg(dir.join("runtime-dev.json.minisig"))
            .status()
            .unwrap()
            .success()
    };
    assert!(minisign_verify(&index), "minisign -V rejected the index");
    let tampered = out.path().join("runtime-dev.json");
    let mut bytes = std::fs::read(&index).unwrap();
    let position = bytes.iter().position(|byte| *byte == b'"').unwrap();
    bytes[position + 1] ^= 0x20;
    std::fs::write(&tampered, bytes).unwrap();
    assert!(
        !minisign_verify(&tampered),
        "minisign -V accepted a tampered index"
    );
    let index_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index).unwrap()).unwrap();
    assert_eq!(index_json["channel"], "dev");
    let entry = &index_json["runtimes"]["linux-x64"][0];
    assert!(entry["sha256"].as_str().is_some_and(|sha| sha.len() == 64));
    assert_eq!(entry["profile"], "base", "{index_json}");
    assert_eq!(entry["accelerator"], "cpu", "{index_json}");

    // lintian: no errors, in either package.
    let lintian = Command::new("lintian")
        .args(["--no-tag-display-limit"])
        .args(&debs)
        .output()
        .unwrap();
    // lintian exits 0 (clean or only warnings) or 1 (errors, listed below); anything else means
    // it did not check the package at all.
    assert!(
        matches!(lintian.status.code(), Some(0 | 1)),
        "lintian did not run: {}\n{}",
        lintian.status,
        String::from_utf8_lossy(&lintian.stderr)
    );
    let report = String::from_utf8_lossy(&lintian.stdout);
    let errors: Vec<&str> = report
        .lines()
        .filter(|line| line.starts_with("E:"))
        .collect();
    assert!(errors.is_empty(), "lintian errors:\n{}", errors.join("\n"));

    // The offline .deb carries the published runtime archive byte for byte; the thin one
    // carries none. (Installing, running, updating and removing them is `cargo xtask
    // ci-installed`, which `cargo xtask test` runs on the main job's release.)
    let offline = debs
        .iter()
        .find(|deb| deb.to_string_lossy().ends_with("-offline.deb"))
        .expect("an offline .deb");
    let thin = debs
        .iter()
        .find(|deb| !deb.to_string_lossy().ends_with("-offline.deb"))
        .expect("a thin .deb");
    let archive_name = "tokenizer-studio-runtime-0.1.0-linux-x64.tar.zst";
    let published = sha256_hex(&std::fs::read(dir.join(archive_name)).unwrap());
    let unpacked = tempfile::tempdir().unwrap();
    for deb in [offline, thin] {
        let into = unpacked.path().join(deb.file_name().unwrap());
        assert!(Command::new("dpkg-deb")
            .arg("-x")
            .arg(deb)
            .arg(&into)
            .status()
            .unwrap()
            .success());
        let carried = into.join("usr/lib/tokenizer-studio").join(archive_name);
        if deb == offline {
            assert_eq!(
                sha256_hex(&std::fs::read(&carried).unwrap()),
                published,
                "the offline .deb carries other runtime bytes than the release publishes"
            );
        } else {
            assert!(!carried.exists(), "the thin .deb carries the runtime");
        }
    }
    // Tauri's updater gets the thin package (an installed app already has its runtime).
    let latest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("latest-dev.json")).unwrap()).unwrap();
    assert_eq!(
        latest["platforms"]["linux-x86_64-deb"]["url"],
        thin.file_name().unwrap().to_string_lossy().as_ref(),
        "{latest}"
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
