//! `extract_archive` on hostile and benign archives built byte by byte.

use std::path::Path;

use runtime_archive::{extract_archive, extract_archive_with, Error, ExtractOptions};
use tar::EntryType;

use crate::support::{
    dir, file, gzip_bytes, hardlink, list_dir, pax, pax_record, raw_tar, special, symlink, write,
    zstd_bytes, Raw,
};

/// Layout per case: `<tmp>/outside/` (must stay empty) and `<tmp>/sandbox/dest` (the
/// destination, must not exist afterwards), so an escape shows up as a file in either.
struct Sandbox {
    _tmp: tempfile::TempDir,
    outside: std::path::PathBuf,
    sandbox: std::path::PathBuf,
    dest: std::path::PathBuf,
    archives: std::path::PathBuf,
}

fn sandbox() -> Sandbox {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    let sandbox = tmp.path().join("sandbox");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(&sandbox).unwrap();
    Sandbox {
        outside,
        dest: sandbox.join("dest"),
        sandbox,
        archives: tmp.path().join("archives"),
        _tmp: tmp,
    }
}

#[test]
fn hostile_archives_are_refused_naming_the_member() {
    let sb = sandbox();
    let outside = sb.outside.display().to_string();
    let abs_file = format!("{outside}/abs");
    let pax_evil_path = pax_record("path", "../evil");
    let pax_abs_link = pax_record("linkpath", "/etc");
    let escaping_abs = format!("{outside}/x");

    struct Case<'a> {
        name: &'a str,
        members: Vec<Raw<'a>>,
        member: &'a str,
    }
    let cases = vec![
        Case {
            name: "parent dir",
            members: vec![file("../evil", b"x")],
            member: "../evil",
        },
        Case {
            name: "absolute",
            members: vec![file(&abs_file, b"x")],
            member: &abs_file,
        },
        Case {
            name: "absolute root",
            members: vec![file("/abs", b"x")],
            member: "/abs",
        },
        Case {
            name: "dotdot in the middle",
            members: vec![dir("a/"), file("a/../../x", b"x")],
            member: "a/../../x",
        },
        Case {
            name: "write through symlink to an outside dir",
            members: vec![symlink("link", &outside), file("link/passwd", b"x")],
            member: "link",
        },
        Case {
            name: "write through a relative symlink leaving the tree",
            members: vec![symlink("link", "../outside"), file("link/x", b"x")],
            member: "link/x",
        },
        Case {
            name: "absolute symlink",
            members: vec![symlink("link", "/etc"), file("link/passwd", b"x")],
            member: "link",
        },
        Case {
            name: "write through an in-tree symlink",
            members: vec![dir("d/"), symlink("s", "d"), file("s/x", b"x")],
            member: "s/x",
        },
        Case {
            name: "symlink escaping with ..",
            members: vec![dir("a/"), symlink("a/link", "../../x")],
            member: "a/link",
        },
        Case {
            name: "symlink escaping through another symlink",
            members: vec![dir("d/"), symlink("d/up", ".."), symlink("t", "d/up/../x")],
            member: "t",
        },
        Case {
            name: "absolute symlink target to an outside file",
            members: vec![symlink("x", &escaping_abs)],
            member: "x",
        },
        Case {
            name: "hardlink to /etc/passwd",
            members: vec![hardlink("passwd", "/etc/passwd")],
            member: "passwd",
        },
        Case {
            name: "hardlink to a missing member",
            members: vec![file("a", b"a"), hardlink("b", "missing")],
            member: "b",
        },
        Case {
            name: "hardlink to a later member",
            members: vec![hardlink("b", "a"), file("a", b"a")],
            member: "b",
        },
        Case {
            name: "hardlink escaping with ..",
            members: vec![file("a", b"a"), hardlink("b", "../outside/a")],
            member: "b",
        },
        Case {
            name: "character device",
            members: vec![file("ok", b"ok"), special("dev", EntryType::Char)],
            member: "dev",
        },
        Case {
            name: "block device",
            members: vec![special("disk", EntryType::Block)],
            member: "disk",
        },
        Case {
            name: "fifo",
            members: vec![special("fifo", EntryType::Fifo)],
            member: "fifo",
        },
        Case {
            name: "symlink as the root",
            members: vec![symlink("./", "/etc")],
            member: "./",
        },
        Case {
            name: "PAX path with ..",
            members: vec![pax(&pax_evil_path), file("innocent", b"x")],
            member: "../evil",
        },
        Case {
            name: "PAX absolute link target",
            members: vec![
                pax(&pax_abs_link),
                symlink("link", "innocent"),
                file("link/passwd", b"x"),
            ],
            member: "link",
        },
        Case {
            name: "backslash",
            members: vec![file("a\\..\\..\\x", b"x")],
            member: "a\\..\\..\\x",
        },
        Case {
            name: "drive letter",
            members: vec![file("C:/x", b"x")],
            member: "C:/x",
        },
        Case {
            name: "duplicate file",
            members: vec![file("a", b"1"), file("a", b"2")],
            member: "a",
        },
    ];

    for (index, case) in cases.iter().enumerate() {
        let tar = raw_tar(&case.members);
        // Alternate the containers so all three readers see hostile input.
        let (bytes, kind) = match index % 3 {
            0 => (zstd_bytes(&tar), "zst"),
            1 => (gzip_bytes(&tar), "gz"),
            _ => (tar.clone(), "tar"),
        };
        let archive = write(&sb.archives.join(format!("{index}.{kind}")), &bytes);

        let error = extract_archive(&archive, &sb.dest).expect_err(case.name);
        eprintln!("{}: {error}", case.name);
        match &error {
            Error::UnsafeMember { member, .. } => {
                assert_eq!(member, case.member, "{}: {error}", case.name)
            }
            other => panic!("{}: expected UnsafeMember, got {other:?}", case.name),
        }
        assert!(
            error.to_string().contains(case.member),
            "{}: {error}",
            case.name
        );
        assert!(!sb.dest.exists(), "{}: destination left behind", case.name);
        assert_eq!(
            list_dir(&sb.sandbox),
            Vec::<String>::new(),
            "{}: written next to dest",
            case.name
        );
        assert_eq!(
            list_dir(&sb.outside),
            Vec::<String>::new(),
            "{}: written outside",
            case.name
        );
    }
    assert!(!Path::new("/abs").exists());
}

#[test]
fn failure_empties_an_existing_empty_destination() {
    let sb = sandbox();
    std::fs::create_dir_all(&sb.dest).unwrap();
    let tar = raw_tar(&[dir("a/"), file("a/ok", b"ok"), file("../evil", b"x")]);
    let archive = write(&sb.archives.join("a.tar"), &tar);
    extract_archive(&archive, &sb.dest).unwrap_err();
    assert!(
        sb.dest.is_dir(),
        "an existing destination is emptied, not removed"
    );
    assert_eq!(list_dir(&sb.dest), Vec::<String>::new());
    assert_eq!(list_dir(&sb.sandbox), vec!["dest"]);
}

#[test]
fn non_empty_destination_is_refused_and_untouched() {
    let sb = sandbox();
    write(&sb.dest.join("keep"), b"mine");
    let archive = write(&sb.archives.join("a.tar"), &raw_tar(&[file("x", b"x")]));
    let error = extract_archive(&archive, &sb.dest).unwrap_err();
    assert!(
        matches!(error, Error::DestinationNotEmpty { .. }),
        "{error:?}"
    );
    assert_eq!(list_dir(&sb.dest), vec!["keep"]);
}

#[test]
fn unknown_format_is_refused() {
    let sb = sandbox();
    let archive = write(
        &sb.archives.join("python.tar.zst"),
        b"PK\x03\x04 this is a zip",
    );
    let error = extract_archive(&archive, &sb.dest).unwrap_err();
    assert!(matches!(error, Error::UnknownFormat { .. }), "{error:?}");
    assert!(!sb.dest.exists());
}

#[test]
fn truncated_archive_is_an_error_and_leaves_nothing() {
    let sb = sandbox();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let tar = raw_tar(&[file("a", b"a"), file("big", &big)]);
    let archive = write(&sb.archives.join("cut.tar"), &tar[..tar.len() / 2]);
    let error = extract_archive(&archive, &sb.dest).unwrap_err();
    assert!(matches!(error, Error::ArchiveRead { .. }), "{error:?}");
    assert!(!sb.dest.exists());
}

/// `data` as zstd frames of unknown size with a long-distance window of 2^`window_log` bytes:
/// the header declares that window whatever the data's size, as a streaming packer writes it.
fn zstd_with_window(data: &[u8], window_log: u32) -> Vec<u8> {
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    encoder.long_distance_matching(true).unwrap();
    encoder.window_log(window_log).unwrap();
    std::io::Write::write_all(&mut encoder, data).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn an_archive_needing_a_larger_zstd_window_than_allowed_is_refused() {
    let sb = sandbox();
    let tar = raw_tar(&[file("a", b"hello")]);
    // 2^28 bytes: one step past the 128 MiB window the extractor allows.
    let wide = write(
        &sb.archives.join("wide.tar.zst"),
        &zstd_with_window(&tar, 28),
    );
    let error = extract_archive(&wide, &sb.dest).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, Error::ArchiveRead { .. }), "{error:?}");
    assert!(
        message.contains("256 MiB zstd window") && message.contains("the 128 MiB"),
        "{message}"
    );
    assert!(!sb.dest.exists());

    // A later frame is held to the same limit by the decoder.
    let mut two_frames = zstd_with_window(&tar[..512], 20);
    two_frames.extend(zstd_with_window(&tar[512..], 28));
    let late = write(&sb.archives.join("late.tar.zst"), &two_frames);
    let error = extract_archive(&late, &sb.dest).unwrap_err();
    assert!(matches!(error, Error::ArchiveRead { .. }), "{error:?}");
    assert!(!sb.dest.exists());

    // At the limit it unpacks.
    let at_limit = write(&sb.archives.join("ok.tar.zst"), &zstd_with_window(&tar, 27));
    extract_archive(&at_limit, &sb.dest).unwrap();
    assert_eq!(std::fs::read(sb.dest.join("a")).unwrap(), b"hello");
}

fn benign_members(long_path: &str) -> Vec<Raw<'_>> {
    vec![
        dir("./"),
        dir("python/"),
        dir("python/bin/"),
        Raw {
            mode: 0o4755,
            ..file("python/bin/python3.12", b"#!/bin/sh\n")
        },
        symlink("python/bin/python3", "python3.12"),
        dir("python/lib/"),
        Raw {
            mode: 0o600,
            ..file("python/lib/data.txt", b"data")
        },
        hardlink("python/lib/data-link.txt", "python/lib/data.txt"),
        symlink("python/include", "lib"),
        symlink("python/lib/up", "../bin/python3"),
        Raw {
            mode: 0o700,
            ..file(long_path, b"long")
        },
        Raw {
            mode: 0o2650,
            ..file("python/lib/group-exec.sh", b"sh")
        },
        Raw {
            mode: 0o1666,
            ..file("python/lib/world-writable.txt", b"w")
        },
    ]
}

#[cfg(unix)]
#[test]
fn benign_archive_extracts_with_normalised_modes_in_every_format() {
    use crate::support::mode_of;

    // Needs the GNU long-name record: longer than a header's 100 bytes.
    let long_path = format!("python/{}", "deep/".repeat(25)) + "x.py";
    let mut builder = tar::Builder::new(Vec::new());
    for member in benign_members(&long_path) {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(member.kind);
        header.set_mode(member.mode);
        header.set_size(member.data.len() as u64);
        header.set_mtime(1_600_000_000);
        let path = std::str::from_utf8(member.path).unwrap();
        match member.link {
            Some(link) => builder
                .append_link(&mut header, path, std::str::from_utf8(link).unwrap())
                .unwrap(),
            None => builder.append_data(&mut header, path, member.data).unwrap(),
        }
    }
    let tar = builder.into_inner().unwrap();

    for (name, bytes) in [
        ("zst", zstd_bytes(&tar)),
        ("gz", gzip_bytes(&tar)),
        ("tar", tar.clone()),
    ] {
        let sb = sandbox();
        // Named misleadingly on purpose: the format comes from the magic bytes.
        let archive = write(&sb.archives.join("archive.bin"), &bytes);
        let report =
            extract_archive(&archive, &sb.dest).unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(report.n_files, 5, "{name}");
        assert_eq!(report.n_hardlinks, 1, "{name}");
        assert_eq!(report.n_symlinks, 3, "{name}");

        let python = sb.dest.join("python");
        assert_eq!(
            std::fs::read(python.join("bin/python3")).unwrap(),
            b"#!/bin/sh\n"
        );
        assert_eq!(
            std::fs::read_link(python.join("bin/python3")).unwrap(),
            Path::new("python3.12")
        );
        assert_eq!(
            std::fs::read(python.join("lib/data-link.txt")).unwrap(),
            b"data"
        );
        assert_eq!(
            std::fs::read(python.join("include/data.txt")).unwrap(),
            b"data"
        );
        assert_eq!(
            std::fs::read(python.join("lib/up")).unwrap(),
            b"#!/bin/sh\n"
        );
        assert_eq!(std::fs::read(sb.dest.join(&long_path)).unwrap(), b"long");
        assert_eq!(
            mode_of(&python.join("bin/python3.12")),
            0o755,
            "{name}: setuid dropped"
        );
        assert_eq!(mode_of(&python.join("lib/data.txt")), 0o644, "{name}");
        assert_eq!(mode_of(&sb.dest.join(&long_path)), 0o755, "{name}");
        assert_eq!(mode_of(&python.join("lib")), 0o755, "{name}");
        assert_eq!(
            mode_of(&python.join("lib/group-exec.sh")),
            0o755,
            "{name}: any x bit counts"
        );
        assert_eq!(
            mode_of(&python.join("lib/world-writable.txt")),
            0o644,
            "{name}"
        );
        let mtime = std::fs::metadata(python.join("lib/data.txt"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(
            mtime
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            1_600_000_000,
            "{name}: mtime kept"
        );
        assert_eq!(list_dir(&sb.outside), Vec::<String>::new());
    }
}

#[cfg(unix)]
#[test]
fn strip_components_drops_the_top_folder() {
    let sb = sandbox();
    let tar = raw_tar(&[
        dir("python/"),
        dir("python/bin/"),
        Raw {
            mode: 0o755,
            ..file("python/bin/python3.12", b"py")
        },
        symlink("python/bin/python3", "python3.12"),
        hardlink("python/bin/python", "python/bin/python3.12"),
        file("python/VERSION", b"3.12"),
    ]);
    let archive = write(&sb.archives.join("pbs.tar.gz"), &gzip_bytes(&tar));
    let report = extract_archive_with(
        &archive,
        &sb.dest,
        &ExtractOptions {
            strip_components: 1,
        },
    )
    .unwrap();
    assert_eq!(list_dir(&sb.dest), vec!["VERSION", "bin"]);
    assert_eq!(
        list_dir(&sb.dest.join("bin")),
        vec!["python", "python3", "python3.12"]
    );
    assert_eq!(std::fs::read(sb.dest.join("bin/python3")).unwrap(), b"py");
    assert_eq!(std::fs::read(sb.dest.join("bin/python")).unwrap(), b"py");
    assert_eq!(report.n_files, 2);
}
