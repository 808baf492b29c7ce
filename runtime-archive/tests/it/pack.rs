//! `pack_tar_zst`: byte-identical output for identical trees, and a round trip.

use std::path::Path;

use runtime_archive::{
    build_manifest_files, extract_archive, pack_tar_zst, verify_dir, Error, PackOptions,
};

use crate::support::{chmod, list_dir, make_tree, manifest_with, mode_of, sha256_hex};

const EPOCH: u64 = 1_750_000_000;

fn options(workers: u32) -> PackOptions {
    PackOptions {
        source_date_epoch: EPOCH,
        zstd_level: 3,
        zstd_workers: workers,
    }
}

/// Same relative content, different absolute paths, mtimes and non-executable mode bits.
fn two_trees() -> (tempfile::TempDir, tempfile::TempDir) {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::Builder::new()
        .prefix("other-place")
        .tempdir()
        .unwrap();
    make_tree(&first.path().join("runtime"), false);
    make_tree(&second.path().join("somewhere/else/runtime"), true);
    for entry in walkdir::WalkDir::new(second.path()) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let old = filetime::FileTime::from_unix_time(978_307_200, 0);
            filetime::set_file_mtime(entry.path(), old).unwrap();
        }
    }
    (first, second)
}

#[test]
fn identical_trees_pack_to_identical_bytes() {
    let (first, second) = two_trees();
    let out = tempfile::tempdir().unwrap();
    let a = out.path().join("a/rt.tar.zst");
    let b = out.path().join("b/rt.tar.zst");
    let report_a = pack_tar_zst(&first.path().join("runtime"), &a, &options(0)).unwrap();
    let report_b = pack_tar_zst(
        &second.path().join("somewhere/else/runtime"),
        &b,
        &options(0),
    )
    .unwrap();

    let bytes_a = std::fs::read(&a).unwrap();
    assert_eq!(bytes_a, std::fs::read(&b).unwrap(), "archives differ");
    assert_eq!(report_a.sha256, report_b.sha256);
    assert_eq!(report_a.sha256, sha256_hex(&bytes_a));
    assert_eq!(report_a.size, bytes_a.len() as u64);
    assert_eq!(
        std::fs::read_to_string(out.path().join("a/rt.tar.zst.sha256")).unwrap(),
        format!("{}  rt.tar.zst\n", report_a.sha256)
    );
    assert_eq!(
        list_dir(&out.path().join("a")),
        vec!["rt.tar.zst", "rt.tar.zst.sha256"]
    );
    assert_eq!(report_a.n_symlinks, 1);
}

#[test]
fn archive_entries_are_sorted_normalised_and_timestamped() {
    let (first, _second) = two_trees();
    let out = tempfile::tempdir().unwrap();
    let archive = out.path().join("rt.tar.zst");
    pack_tar_zst(&first.path().join("runtime"), &archive, &options(0)).unwrap();

    let decoded = zstd::decode_all(std::fs::File::open(&archive).unwrap()).unwrap();
    let mut tar = tar::Archive::new(&decoded[..]);
    let mut paths = Vec::new();
    for entry in tar.entries().unwrap() {
        let entry = entry.unwrap();
        let header = entry.header();
        let path = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        assert_eq!(header.uid().unwrap(), 0, "{path}");
        assert_eq!(header.gid().unwrap(), 0, "{path}");
        assert_eq!(header.username_bytes(), Some(&b""[..]), "{path}");
        assert_eq!(header.groupname_bytes(), Some(&b""[..]), "{path}");
        assert_eq!(header.mtime().unwrap(), EPOCH, "{path}");
        let mode = header.mode().unwrap();
        let kind = header.entry_type();
        assert!(
            (kind.is_symlink() && mode == 0o777)
                || (!kind.is_symlink() && (mode == 0o644 || mode == 0o755)),
            "{path}: mode {mode:o}"
        );
        assert!(
            kind.is_dir() || kind.is_file() || kind.is_symlink(),
            "{path}: {kind:?}"
        );
        paths.push(path);
    }
    let mut sorted = paths.clone();
    sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    assert_eq!(paths, sorted);
    // Folders are entries too, empty ones included, and "app-b.txt" sorts before "app/…".
    assert!(paths.contains(&"web/assets".to_owned()), "{paths:?}");
    let app_b = paths.iter().position(|p| p == "app-b.txt").unwrap();
    let app_main = paths.iter().position(|p| p == "app/main.py").unwrap();
    assert!(app_b < app_main);
    assert!(
        paths.iter().any(|p| p.len() > 100),
        "long path stored whole"
    );
}

#[test]
fn multithreaded_zstd_is_deterministic_and_independent_of_worker_count() {
    // Big enough (several MiB) that zstd really splits the input into jobs.
    let make = |root: &Path| {
        std::fs::create_dir_all(root).unwrap();
        let mut state = 0x2545_f491_u32;
        let data: Vec<u8> = (0..12 * 1024 * 1024)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                // Half noise, half runs: compressible but not trivially.
                if (i / 4096) % 2 == 0 {
                    (state & 0xff) as u8
                } else {
                    b'a'
                }
            })
            .collect();
        std::fs::write(root.join("big.bin"), &data).unwrap();
    };
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    make(&first.path().join("t"));
    make(&second.path().join("deeper/t"));
    let out = tempfile::tempdir().unwrap();

    let pack = |src: &Path, name: &str, workers: u32| {
        let archive = out.path().join(name);
        pack_tar_zst(src, &archive, &options(workers)).unwrap();
        std::fs::read(archive).unwrap()
    };
    let mt_a = pack(&first.path().join("t"), "a.tar.zst", 2);
    let mt_b = pack(&second.path().join("deeper/t"), "b.tar.zst", 2);
    assert!(mt_a == mt_b, "two MT packs with 2 workers differ");
    let mt_c = pack(&first.path().join("t"), "c.tar.zst", 2);
    assert!(mt_a == mt_c, "repeated MT pack differs");
    // zstd's multithreaded format depends on workers >= 1, not on how many: machines with
    // different worker counts still agree. It differs from the single-threaded output,
    // which also shows the workers setting really took effect.
    let mt_4 = pack(&first.path().join("t"), "e.tar.zst", 4);
    let mt_1 = pack(&first.path().join("t"), "f.tar.zst", 1);
    assert!(mt_a == mt_4, "2 and 4 workers differ");
    assert!(mt_a == mt_1, "2 and 1 workers differ");
    let single = pack(&first.path().join("t"), "d.tar.zst", 0);
    assert!(mt_a != single, "workers had no effect");
    assert_eq!(
        zstd::decode_all(&mt_a[..]).unwrap(),
        zstd::decode_all(&single[..]).unwrap(),
        "same tar inside"
    );
}

#[test]
fn repeats_beyond_the_level_window_are_found_and_unpack() {
    // 4 MiB of noise twice: level 3's own window (2 MiB) cannot see the first copy from the
    // second, the long-distance window can.
    let tree = tempfile::tempdir().unwrap();
    let mut state = 0x9e37_79b9_u32;
    let noise: Vec<u8> = (0..4 * 1024 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state & 0xff) as u8
        })
        .collect();
    std::fs::write(tree.path().join("a.bin"), &noise).unwrap();
    std::fs::write(tree.path().join("b.bin"), &noise).unwrap();
    let out = tempfile::tempdir().unwrap();
    for workers in [0, 2] {
        let archive = out.path().join(format!("twice-{workers}.tar.zst"));
        let report = pack_tar_zst(tree.path(), &archive, &options(workers)).unwrap();
        assert!(
            report.size < noise.len() as u64 * 11 / 10,
            "{} workers: {} bytes for two copies of {} bytes of noise",
            workers,
            report.size,
            noise.len()
        );
        // The frame's window descriptor (the byte after the frame header descriptor): 2^27.
        let bytes = std::fs::read(&archive).unwrap();
        assert_eq!(10 + u32::from(bytes[5] >> 3), 27, "window log");
        let dest = out.path().join(format!("unpacked-{workers}"));
        extract_archive(&archive, &dest).unwrap();
        assert!(std::fs::read(dest.join("b.bin")).unwrap() == noise);
    }
}

#[cfg(unix)]
#[test]
fn pack_extract_verify_round_trip() {
    let (first, _second) = two_trees();
    let src = first.path().join("runtime");
    let out = tempfile::tempdir().unwrap();
    let archive = out.path().join("rt.tar.zst");
    pack_tar_zst(&src, &archive, &options(0)).unwrap();

    let dest = out.path().join("staging");
    extract_archive(&archive, &dest).unwrap();
    let manifest = manifest_with(build_manifest_files(&src).unwrap());
    let report = verify_dir(&dest, &manifest);
    assert!(report.is_ok(), "{report}");
    assert_eq!(mode_of(&dest.join("python/bin/python3.12")), 0o755);
    assert_eq!(mode_of(&dest.join("VERSION")), 0o644);
    assert!(std::fs::symlink_metadata(dest.join("python/bin/python3"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(dest.join("web/assets").is_dir());
}

#[cfg(unix)]
#[test]
fn unpackable_trees_are_refused_and_nothing_is_written() {
    for (name, setup) in [
        (
            "absolute symlink",
            (|root: &Path| std::os::unix::fs::symlink("/etc/passwd", root.join("x")).unwrap())
                as fn(&Path),
        ),
        ("escaping symlink", |root: &Path| {
            std::os::unix::fs::symlink("../../x", root.join("x")).unwrap()
        }),
        ("fifo", |root: &Path| {
            let path = std::ffi::CString::new(root.join("fifo").display().to_string()).unwrap();
            assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o644) }, 0);
        }),
        ("backslash name", |root: &Path| {
            std::fs::write(root.join("a\\b"), b"x").unwrap()
        }),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("ok"), b"ok").unwrap();
        chmod(&src.join("ok"), 0o644);
        setup(&src);
        let out = tmp.path().join("out");
        let error = pack_tar_zst(&src, &out.join("rt.tar.zst"), &options(0)).expect_err(name);
        assert!(
            matches!(error, Error::Unpackable { .. }),
            "{name}: {error:?}"
        );
        assert_eq!(list_dir(&out), Vec::<String>::new(), "{name}: leftovers");
    }
}

/// A runtime tree (one with a root manifest.json) packs as `extract_runtime` reads it: the
/// manifest first, no folder that holds no file, no symlink to a folder. Other trees keep
/// their empty folders.
#[cfg(unix)]
#[test]
fn a_runtime_tree_packs_its_manifest_first_and_only_what_it_can_list() {
    let (first, _second) = two_trees();
    let src = first.path().join("runtime");
    std::fs::create_dir_all(src.join("empty/nested")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let paths_of = |archive: &Path| -> Vec<String> {
        let decoded = zstd::decode_all(std::fs::File::open(archive).unwrap()).unwrap();
        let mut tar = tar::Archive::new(&decoded[..]);
        tar.entries()
            .unwrap()
            .map(|entry| String::from_utf8(entry.unwrap().path_bytes().into_owned()).unwrap())
            .collect()
    };

    let plain = out.path().join("plain.tar.zst");
    pack_tar_zst(&src, &plain, &options(0)).unwrap();
    let paths = paths_of(&plain);
    assert!(paths.contains(&"web/assets".to_owned()), "{paths:?}");
    assert!(paths.contains(&"empty/nested".to_owned()), "{paths:?}");

    let manifest = manifest_with(build_manifest_files(&src).unwrap());
    std::fs::write(src.join("manifest.json"), manifest.to_json()).unwrap();
    let runtime = out.path().join("runtime.tar.zst");
    let report = pack_tar_zst(&src, &runtime, &options(0)).unwrap();
    let paths = paths_of(&runtime);
    assert_eq!(paths[0], "manifest.json");
    let mut sorted = paths[1..].to_vec();
    sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    assert_eq!(paths[1..], sorted[..]);
    for empty in ["web", "web/assets", "empty", "empty/nested"] {
        assert!(!paths.contains(&empty.to_owned()), "{empty}: {paths:?}");
    }
    assert!(paths.contains(&"python/bin".to_owned()), "{paths:?}");
    assert_eq!(
        report.n_dirs as usize,
        paths.iter().filter(|p| src.join(p).is_dir()).count()
    );
    // Same tree, same bytes.
    let again = out.path().join("again.tar.zst");
    assert_eq!(
        pack_tar_zst(&src, &again, &options(0)).unwrap().sha256,
        report.sha256
    );

    std::os::unix::fs::symlink("../python", src.join("app/python")).unwrap();
    let error = pack_tar_zst(&src, &out.path().join("linked.tar.zst"), &options(0)).unwrap_err();
    assert!(
        matches!(&error, Error::Unpackable { path, reason } if path.ends_with("app/python") && reason.contains("symlink to the folder")),
        "{error:?}"
    );
}
