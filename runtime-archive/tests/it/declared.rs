//! `extract_runtime` holds a runtime archive to its manifest and to what the release index
//! declares: hostile archives built byte by byte are refused at the member that breaks the
//! rule, before its bytes reach the disk, and leave nothing behind.
//!
//! "Before the bytes reach the disk" is shown two ways. Most archives here end in a member
//! whose header promises far more data than follows (the archive is cut off right after
//! that header): an extractor that wrote first and checked afterwards would fail reading it
//! (`ArchiveRead`), one that refuses on the header names the rule. And in a tmpfs barely
//! larger than the declared size, a refusal must come before the disk is full (never
//! ENOSPC), while the generic extractor does fill it with the same archive.

use std::path::{Path, PathBuf};

use runtime_archive::{
    build_manifest_files, extract_and_verify, extract_archive, extract_runtime,
    extract_runtime_with_progress, pack_tar_zst, Declared, Error, PackOptions, Unpacking,
};
use runtime_spec::{FileEntry, Manifest, ObjectRef, Target};

use crate::support::{
    dir, file, hardlink, list_dir, make_tree, manifest_with, raw_tar, sha256_hex, symlink, write,
    zstd_bytes, Raw,
};

/// A header claiming this much data that is not in the archive.
const GIB: u64 = 1 << 30;

/// The manifest of a runtime holding `files`, and its JSON.
fn manifest_of(files: &[(&str, &[u8])]) -> (Manifest, Vec<u8>) {
    let mut entries: Vec<FileEntry> = files
        .iter()
        .map(|(path, data)| FileEntry {
            path: (*path).to_owned(),
            size: data.len() as u64,
            sha256: sha256_hex(data).parse().unwrap(),
            executable: false,
            packed_size: None,
        })
        .collect();
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let manifest = manifest_with(entries);
    let json = manifest.to_json().into_bytes();
    (manifest, json)
}

/// What the release index says about a manifest's JSON.
fn object_ref(json: &[u8]) -> ObjectRef {
    ObjectRef {
        sha256: sha256_hex(json).parse().unwrap(),
        size: json.len() as u64,
        packed_size: 0,
    }
}

/// `.tar.zst` bytes of `members`; with `cut`, a last member whose header promises that many
/// bytes and is followed by nothing (not even the end-of-archive blocks).
fn archive_bytes(members: &[Raw<'_>], cut: Option<(&str, u64)>) -> Vec<u8> {
    let mut tar = raw_tar(members);
    if let Some((path, size)) = cut {
        // raw_tar ends with the two zero blocks that mark the end of an archive.
        assert!(tar.ends_with(&[0u8; 1024]));
        tar.truncate(tar.len() - 1024);
        let mut header = tar::Header::new_gnu();
        header.set_path(path).unwrap();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_size(size);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        tar.extend_from_slice(header.as_bytes());
    }
    zstd_bytes(&tar)
}

struct Place {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Place {
    fn new() -> Place {
        let tmp = tempfile::tempdir().unwrap();
        Place {
            root: tmp.path().to_path_buf(),
            _tmp: tmp,
        }
    }

    fn archive(&self, name: &str, bytes: &[u8]) -> PathBuf {
        write(&self.root.join("archives").join(name), bytes)
    }

    fn staging(&self, name: &str) -> PathBuf {
        self.root.join("runtime").join(format!("staging-{name}"))
    }
}

/// Extracts and expects a refusal: staging must be gone and nothing written beside it.
fn refused(place: &Place, name: &str, bytes: &[u8], declared: &Declared) -> Error {
    let archive = place.archive(&format!("{name}.tar.zst"), bytes);
    let staging = place.staging(name);
    let error = extract_runtime(&archive, &staging, Target::LinuxX64, declared)
        .expect_err(&format!("{name}: extracted"));
    eprintln!("{name}: {error}");
    assert!(
        !staging.exists(),
        "{name}: staging left behind: {:?}",
        list_dir(&staging)
    );
    assert_eq!(
        list_dir(&place.root.join("runtime")),
        Vec::<String>::new(),
        "{name}: written beside staging"
    );
    error
}

/// The control for an archive cut off after its last header: the generic extractor, which
/// writes whatever the archive holds, fails reading that member. So a refusal naming the
/// rule instead shows the member's data was never read, let alone written.
fn reaching_the_cut_is_a_read_error(place: &Place, name: &str, bytes: &[u8]) {
    let archive = place.archive(&format!("{name}-control.tar.zst"), bytes);
    let error = extract_archive(&archive, &place.root.join(format!("control-{name}")))
        .expect_err(&format!("{name}: the cut-off archive extracted"));
    assert!(
        matches!(error, Error::ArchiveRead { .. }),
        "{name}: {error:?}"
    );
}

const VERSION: &[u8] = b"0.1.0\n";
const MAIN: &[u8] = b"import sys\n";

/// The runtime most cases start from: `VERSION` and `app/main.py`.
fn small_runtime() -> (Manifest, Vec<u8>) {
    manifest_of(&[("VERSION", VERSION), ("app/main.py", MAIN)])
}

#[test]
fn a_member_of_another_size_than_listed_is_refused_before_it_is_created() {
    let place = Place::new();
    let (manifest, json) = small_runtime();
    let declared = Declared {
        manifest: Some(object_ref(&json)),
        unpacked_size: Some(manifest.unpacked_size()),
    };
    let cases: [(&str, Vec<u8>, Option<u64>); 3] = [
        (
            "a header a GiB larger than listed, its data not even there",
            archive_bytes(
                &[file("manifest.json", &json), file("VERSION", VERSION)],
                Some(("app/main.py", GIB)),
            ),
            Some(GIB),
        ),
        (
            "one byte more",
            archive_bytes(
                &[
                    file("manifest.json", &json),
                    file("VERSION", VERSION),
                    file("app/main.py", b"import sys\n#"),
                ],
                None,
            ),
            Some(MAIN.len() as u64 + 1),
        ),
        (
            "one byte less",
            archive_bytes(
                &[
                    file("manifest.json", &json),
                    file("VERSION", VERSION),
                    file("app/main.py", b"import sys"),
                ],
                None,
            ),
            Some(MAIN.len() as u64 - 1),
        ),
    ];
    reaching_the_cut_is_a_read_error(&place, "size", &cases[0].1);
    for (index, (name, bytes, size)) in cases.iter().enumerate() {
        let error = refused(&place, &format!("size-{index}"), bytes, &declared);
        match &error {
            Error::MemberSize {
                member,
                size: found,
                declared,
                ..
            } => {
                assert_eq!(member, "app/main.py", "{name}");
                assert_eq!(found, size, "{name}");
                assert_eq!(*declared, MAIN.len() as u64, "{name}");
            }
            other => panic!("{name}: expected MemberSize, got {other:?}"),
        }
        let text = error.to_string();
        assert!(
            text.contains(&format!(
                "`app/main.py` is {} bytes in archive",
                size.unwrap()
            )) && text.contains("the manifest declares 11"),
            "{name}: {text}"
        );
    }
}

#[test]
fn members_the_manifest_does_not_list_are_refused_before_they_are_written() {
    let place = Place::new();
    let (manifest, json) = small_runtime();
    let declared = Declared {
        manifest: Some(object_ref(&json)),
        unpacked_size: Some(manifest.unpacked_size()),
    };
    let manifest_first = || file("manifest.json", &json);
    // (case, members, the cut-off member, the member refused, whether it is a folder)
    type Case<'a> = (&'a str, Vec<Raw<'a>>, Option<(&'a str, u64)>, &'a str, bool);
    let cases: Vec<Case> = vec![
        (
            "a file, a GiB of it promised and not there",
            vec![manifest_first(), file("VERSION", VERSION)],
            Some(("payload.bin", GIB)),
            "payload.bin",
            false,
        ),
        (
            "a file in a listed folder",
            vec![manifest_first(), dir("app/"), file("app/evil.py", b"x")],
            None,
            "app/evil.py",
            false,
        ),
        (
            "a folder no listed file lies in, stopped before what it would hold",
            vec![manifest_first(), dir("junk/")],
            Some(("junk/payload.bin", GIB)),
            "junk/",
            true,
        ),
        (
            "a listed file's path used as a folder",
            vec![manifest_first(), dir("VERSION/")],
            Some(("VERSION/x", GIB)),
            "VERSION/",
            true,
        ),
        (
            "a symlink",
            vec![
                manifest_first(),
                file("VERSION", VERSION),
                symlink("v", "VERSION"),
            ],
            Some(("app/main.py", GIB)),
            "v",
            false,
        ),
        (
            "a hardlink",
            vec![
                manifest_first(),
                file("VERSION", VERSION),
                hardlink("VERSION2", "VERSION"),
            ],
            Some(("app/main.py", GIB)),
            "VERSION2",
            false,
        ),
    ];
    for (index, (name, members, cut, member, folder)) in cases.into_iter().enumerate() {
        let bytes = archive_bytes(&members, cut);
        if cut.is_some() {
            reaching_the_cut_is_a_read_error(&place, &format!("undeclared-{index}"), &bytes);
        }
        let error = refused(&place, &format!("undeclared-{index}"), &bytes, &declared);
        match &error {
            Error::UndeclaredMember {
                member: found,
                folder: is_folder,
                ..
            } => {
                assert_eq!(found, member, "{name}");
                assert_eq!(*is_folder, folder, "{name}");
            }
            other => panic!("{name}: expected UndeclaredMember, got {other:?}"),
        }
        assert!(
            error
                .to_string()
                .contains(&format!("`{member}` in archive")),
            "{name}: {error}"
        );
        assert!(
            error
                .to_string()
                .contains("is not listed in the archive's manifest"),
            "{name}: {error}"
        );
    }

    // A listed file twice: the second copy is refused before it overwrites the first.
    let bytes = archive_bytes(
        &[
            manifest_first(),
            file("VERSION", VERSION),
            file("VERSION", b"6.6.6\n"),
        ],
        None,
    );
    let error = refused(&place, "twice", &bytes, &declared);
    assert!(
        matches!(&error, Error::UnsafeMember { member, reason, .. } if member == "VERSION" && reason.contains("twice")),
        "{error:?}"
    );
}

#[test]
fn files_adding_up_to_more_than_the_index_declares_are_refused_before_any_is_written() {
    let place = Place::new();
    let (manifest, json) = small_runtime();
    let listed = manifest.unpacked_size();
    let declared = Declared {
        manifest: Some(object_ref(&json)),
        unpacked_size: Some(listed - 1),
    };
    // The first member after the manifest is cut off: it is never reached.
    let bytes = archive_bytes(&[file("manifest.json", &json)], Some(("VERSION", GIB)));
    reaching_the_cut_is_a_read_error(&place, "total", &bytes);
    let error = refused(&place, "total", &bytes, &declared);
    match &error {
        Error::UnpackedTooLarge {
            limit,
            limit_by,
            found,
            ..
        } => {
            assert_eq!(
                (*limit, *limit_by, *found),
                (listed - 1, "release index", listed)
            );
        }
        other => panic!("expected UnpackedTooLarge, got {other:?}"),
    }
    assert!(
        error.to_string().contains(&format!(
            "add up to more than the {} bytes the release index declares",
            listed - 1
        )),
        "{error}"
    );

    // Exactly the declared total extracts.
    let archive = place.archive(
        "exact.tar.zst",
        &archive_bytes(
            &[
                file("manifest.json", &json),
                file("VERSION", VERSION),
                file("app/main.py", MAIN),
            ],
            None,
        ),
    );
    let staging = place.staging("exact");
    let declared = Declared {
        unpacked_size: Some(listed),
        ..declared
    };
    let got = extract_runtime(&archive, &staging, Target::LinuxX64, &declared).unwrap();
    assert_eq!(got, manifest);

    // The same with progress: every listed byte written, then every listed byte checked, each
    // rising to the manifest's total, extraction before verification.
    let staging = place.staging("progress");
    let mut steps = Vec::new();
    let got = extract_runtime_with_progress(
        &archive,
        &staging,
        Target::LinuxX64,
        &declared,
        &mut |step| steps.push(step),
    )
    .unwrap();
    assert_eq!(got, manifest);
    let extracting: Vec<(u64, u64)> = steps
        .iter()
        .filter_map(|step| match *step {
            Unpacking::Extracting { done, total } => Some((done, total)),
            Unpacking::Verifying { .. } => None,
        })
        .collect();
    let verifying: Vec<(u64, u64)> = steps
        .iter()
        .filter_map(|step| match *step {
            Unpacking::Verifying { done, total } => Some((done, total)),
            Unpacking::Extracting { .. } => None,
        })
        .collect();
    let first_verify = steps
        .iter()
        .position(|step| matches!(step, Unpacking::Verifying { .. }))
        .unwrap();
    assert!(steps[..first_verify]
        .iter()
        .all(|step| matches!(step, Unpacking::Extracting { .. })));
    for series in [&extracting, &verifying] {
        assert!(
            series.windows(2).all(|pair| pair[0].0 <= pair[1].0),
            "{series:?}"
        );
        assert_eq!(series.last(), Some(&(listed, listed)), "{series:?}");
    }
    assert_eq!(verifying.len(), manifest.files.len());
}

#[test]
fn an_archive_that_does_not_start_with_its_manifest_is_refused() {
    let place = Place::new();
    let (_, json) = small_runtime();
    let declared = Declared {
        manifest: Some(object_ref(&json)),
        unpacked_size: None,
    };
    type Case<'a> = (&'a str, Vec<Raw<'a>>, Option<(&'a str, u64)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "a file first, a GiB of it promised and not there",
            vec![],
            Some(("VERSION", GIB)),
            "VERSION",
        ),
        (
            "the manifest after another file",
            vec![file("VERSION", VERSION), file("manifest.json", &json)],
            None,
            "VERSION",
        ),
        (
            "a folder first",
            vec![dir("app/"), file("manifest.json", &json)],
            None,
            "app/",
        ),
        (
            "manifest.json below a folder",
            vec![dir("app/"), file("app/manifest.json", &json)],
            None,
            "app/",
        ),
    ];
    for (index, (name, members, cut, member)) in cases.into_iter().enumerate() {
        let bytes = archive_bytes(&members, cut);
        if cut.is_some() {
            reaching_the_cut_is_a_read_error(&place, &format!("first-{index}"), &bytes);
        }
        let error = refused(&place, &format!("first-{index}"), &bytes, &declared);
        match &error {
            Error::ManifestNotFirst { member: found, .. } => assert_eq!(found, member, "{name}"),
            other => panic!("{name}: expected ManifestNotFirst, got {other:?}"),
        }
        assert!(
            error
                .to_string()
                .contains("does not start with its manifest"),
            "{name}: {error}"
        );
    }

    let error = refused(&place, "empty", &archive_bytes(&[], None), &declared);
    assert!(matches!(error, Error::ManifestMissing { .. }), "{error:?}");

    let bytes = archive_bytes(&[symlink("manifest.json", "VERSION")], None);
    let error = refused(&place, "link", &bytes, &declared);
    assert!(
        matches!(&error, Error::UnsafeMember { member, .. } if member == "manifest.json"),
        "{error:?}"
    );
}

#[test]
fn a_manifest_other_than_the_declared_one_is_refused_before_anything_is_written() {
    let place = Place::new();
    let (_, json) = small_runtime();
    // Its files are cut off: nothing after the manifest is ever reached.
    let bytes = archive_bytes(&[file("manifest.json", &json)], Some(("VERSION", GIB)));
    reaching_the_cut_is_a_read_error(&place, "manifest", &bytes);
    let other_sha256 = ObjectRef {
        sha256: sha256_hex(b"another manifest").parse().unwrap(),
        ..object_ref(&json)
    };
    let error = refused(
        &place,
        "sha256",
        &bytes,
        &Declared {
            manifest: Some(other_sha256.clone()),
            unpacked_size: None,
        },
    );
    assert!(
        matches!(error, Error::ManifestNotDeclared { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains("is not the one the release index declares")
            && text.contains(&format!("its sha256 is {}", sha256_hex(&json)))
            && text.contains(&other_sha256.sha256.to_hex()),
        "{text}"
    );

    let other_size = ObjectRef {
        size: json.len() as u64 - 1,
        ..object_ref(&json)
    };
    let error = refused(
        &place,
        "size",
        &bytes,
        &Declared {
            manifest: Some(other_size),
            unpacked_size: None,
        },
    );
    assert!(
        matches!(error, Error::ManifestNotDeclared { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains(&format!("it is {} bytes", json.len())),
        "{error}"
    );

    // Without a declaration the manifest is read only up to a fixed bound: one promising a
    // GiB is refused on its header.
    let bytes = archive_bytes(&[], Some(("manifest.json", GIB)));
    reaching_the_cut_is_a_read_error(&place, "huge", &bytes);
    let error = refused(&place, "huge", &bytes, &Declared::default());
    assert!(
        matches!(error, Error::ManifestTooLarge { size: GIB, .. }),
        "{error:?}"
    );

    // A manifest for another target is refused before its files are reached.
    let (mut manifest, _) = small_runtime();
    manifest.target = Target::WindowsX64;
    let windows = manifest.to_json().into_bytes();
    let bytes = archive_bytes(&[file("manifest.json", &windows)], Some(("VERSION", GIB)));
    let error = refused(&place, "target", &bytes, &Declared::default());
    assert!(matches!(error, Error::WrongTarget { .. }), "{error:?}");
}

#[test]
fn a_listed_file_missing_from_the_archive_is_refused_and_nothing_is_left() {
    let place = Place::new();
    let (_, json) = small_runtime();
    let bytes = archive_bytes(
        &[file("manifest.json", &json), file("VERSION", VERSION)],
        None,
    );
    let error = refused(&place, "missing", &bytes, &Declared::default());
    assert!(matches!(error, Error::VerifyFailed { .. }), "{error:?}");
    assert!(error.to_string().contains("app/main.py"), "{error}");

    // An existing empty staging folder is emptied, not removed.
    let archive = place.archive("missing-again.tar.zst", &bytes);
    let staging = place.root.join("kept-staging");
    std::fs::create_dir_all(&staging).unwrap();
    extract_and_verify(&archive, &staging, Target::LinuxX64).unwrap_err();
    assert!(staging.is_dir());
    assert_eq!(list_dir(&staging), Vec::<String>::new());
}

/// A tree as the build makes it (folders, an executable, a symlink to a file, an empty
/// folder, a long path) with its manifest, packed.
#[cfg(unix)]
fn packed_runtime(root: &Path) -> (PathBuf, Manifest, Vec<u8>) {
    let tree = root.join("tree");
    make_tree(&tree, false);
    let manifest = manifest_with(build_manifest_files(&tree).unwrap());
    let json = manifest.to_json().into_bytes();
    std::fs::write(tree.join("manifest.json"), &json).unwrap();
    let archive = root.join("runtime.tar.zst");
    pack_tar_zst(&tree, &archive, &PackOptions::new(1_700_000_000)).unwrap();
    (archive, manifest, json)
}

#[cfg(unix)]
#[test]
fn a_packed_runtime_starts_with_its_manifest_and_extracts() {
    let place = Place::new();
    let (archive, manifest, json) = packed_runtime(&place.root);

    let decoded = zstd::decode_all(std::fs::File::open(&archive).unwrap()).unwrap();
    let mut tar = tar::Archive::new(&decoded[..]);
    let paths: Vec<String> = tar
        .entries()
        .unwrap()
        .map(|entry| String::from_utf8(entry.unwrap().path_bytes().into_owned()).unwrap())
        .collect();
    assert_eq!(paths[0], "manifest.json", "{paths:?}");
    let rest = &paths[1..];
    let mut sorted = rest.to_vec();
    sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    assert_eq!(rest, sorted, "the rest stays sorted");

    let declared = Declared {
        manifest: Some(object_ref(&json)),
        unpacked_size: Some(manifest.unpacked_size()),
    };
    let staging = place.staging("good");
    let got = extract_runtime(&archive, &staging, Target::LinuxX64, &declared).unwrap();
    assert_eq!(got, manifest);
    assert_eq!(std::fs::read(staging.join("manifest.json")).unwrap(), json);
    assert!(
        std::fs::symlink_metadata(staging.join("python/bin/python3"))
            .unwrap()
            .file_type()
            .is_symlink()
    );

    let again = place.staging("again");
    assert_eq!(
        extract_and_verify(&archive, &again, Target::LinuxX64).unwrap(),
        manifest
    );
}

/// A tmpfs mounted on a fresh folder in a mount namespace of this thread's own, so nothing
/// outside the test sees it; unmounted when dropped, before its folder is removed.
#[cfg(target_os = "linux")]
struct PrivateTmpfs {
    dir: tempfile::TempDir,
}

#[cfg(target_os = "linux")]
impl PrivateTmpfs {
    fn mount(size: u64) -> Result<PrivateTmpfs, String> {
        use std::ffi::CString;
        let dir = tempfile::tempdir().unwrap();
        let os_error = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
        // SAFETY: plain syscalls on NUL-terminated strings that outlive the calls.
        unsafe {
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return Err(os_error("unshare(CLONE_NEWNS)"));
            }
            let root = CString::new("/").unwrap();
            // Private first, or the mount below would propagate to the host's namespace.
            if libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) != 0
            {
                return Err(os_error("making / private"));
            }
            let target = CString::new(dir.path().to_str().unwrap()).unwrap();
            let kind = CString::new("tmpfs").unwrap();
            let options = CString::new(format!("size={size}")).unwrap();
            if libc::mount(
                kind.as_ptr(),
                target.as_ptr(),
                kind.as_ptr(),
                0,
                options.as_ptr().cast(),
            ) != 0
            {
                return Err(os_error("mounting a tmpfs"));
            }
        }
        Ok(PrivateTmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

#[cfg(target_os = "linux")]
impl Drop for PrivateTmpfs {
    fn drop(&mut self) {
        let target = std::ffi::CString::new(self.dir.path().to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path that outlives the call.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Bytes in use on the file system holding `path`.
#[cfg(target_os = "linux")]
fn used_bytes(path: &Path) -> u64 {
    let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `stat` is a valid out-pointer and `c_path` is NUL-terminated.
    assert_eq!(unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) }, 0);
    (stat.f_blocks - stat.f_bfree) as u64 * stat.f_frsize as u64
}

/// Peak disk use: in a tmpfs of the declared size plus a small bound, a good runtime
/// extracts, and archives carrying far more than declared (an oversize file, an undeclared
/// one, an index declaring less than the manifest lists) are refused by rule, never by a
/// full disk. The generic extractor, given the oversize archive, does fill the disk, so the
/// tmpfs really is too small for what the archives carry.
#[cfg(target_os = "linux")]
#[test]
fn extraction_fits_in_the_declared_size_and_refuses_before_the_disk_fills() {
    if unsafe { libc::geteuid() } != 0 {
        test_support::skip("mounting a tmpfs of a given size needs root");
        return;
    }
    // The mount namespace is changed in a child process, so no other test shares it.
    if !test_support::in_own_process(
        "declared::extraction_fits_in_the_declared_size_and_refuses_before_the_disk_fills",
    ) {
        return;
    }
    const MIB: usize = 1024 * 1024;
    // A small bound over the declared size: the manifest and tmpfs' page rounding.
    const BOUND: u64 = 256 * 1024;
    let big = vec![7u8; 2 * MIB];
    let huge = vec![7u8; 32 * MIB];
    let (manifest, json) = manifest_of(&[("VERSION", VERSION), ("app/big.bin", &big)]);
    let declared_size = manifest.unpacked_size();
    let declared = Declared {
        manifest: Some(object_ref(&json)),
        unpacked_size: Some(declared_size),
    };
    let (_, small_json) = manifest_of(&[("VERSION", VERSION)]);
    let (huge_manifest, huge_json) = manifest_of(&[("VERSION", VERSION), ("app/big.bin", &huge)]);
    assert!(huge_manifest.unpacked_size() > declared_size);

    let place = Place::new();
    let good = place.archive(
        "good.tar.zst",
        &archive_bytes(
            &[
                file("manifest.json", &json),
                file("VERSION", VERSION),
                file("app/big.bin", &big),
            ],
            None,
        ),
    );
    let oversize = place.archive(
        "oversize.tar.zst",
        &archive_bytes(
            &[
                file("manifest.json", &json),
                file("VERSION", VERSION),
                file("app/big.bin", &huge),
            ],
            None,
        ),
    );
    let undeclared = place.archive(
        "undeclared.tar.zst",
        &archive_bytes(
            &[
                file("manifest.json", &small_json),
                file("VERSION", VERSION),
                file("app/big.bin", &huge),
            ],
            None,
        ),
    );
    let over_index = place.archive(
        "over-index.tar.zst",
        &archive_bytes(
            &[
                file("manifest.json", &huge_json),
                file("VERSION", VERSION),
                file("app/big.bin", &huge),
            ],
            None,
        ),
    );

    let size = declared_size + BOUND;
    let mount = match PrivateTmpfs::mount(size) {
        Ok(mount) => mount,
        Err(reason) => {
            test_support::skip(&format!("cannot mount a private tmpfs here: {reason}"));
            return;
        }
    };
    let disk = mount.path();
    let is_enospc = |error: &Error| matches!(error, Error::Io { source, .. } if source.raw_os_error() == Some(libc::ENOSPC));

    let small_declared = Declared {
        manifest: Some(object_ref(&small_json)),
        unpacked_size: Some(VERSION.len() as u64),
    };
    let huge_declared = Declared {
        manifest: Some(object_ref(&huge_json)),
        unpacked_size: Some(declared_size),
    };
    for (name, archive, declared) in [
        ("oversize", &oversize, &declared),
        ("undeclared", &undeclared, &small_declared),
        ("over-index", &over_index, &huge_declared),
        (
            "oversize, nothing declared",
            &oversize,
            &Declared::default(),
        ),
    ] {
        let staging = disk.join("staging");
        let error = extract_runtime(archive, &staging, Target::LinuxX64, declared).expect_err(name);
        eprintln!("{name}: {error}");
        assert!(!is_enospc(&error), "{name}: the disk filled up: {error}");
        assert!(
            matches!(
                error,
                Error::MemberSize { .. }
                    | Error::UndeclaredMember { .. }
                    | Error::UnpackedTooLarge { .. }
            ),
            "{name}: {error:?}"
        );
        assert_eq!(list_dir(disk), Vec::<String>::new(), "{name}");
    }

    let staging = disk.join("staging");
    let got = extract_runtime(&good, &staging, Target::LinuxX64, &declared).unwrap();
    assert_eq!(got, manifest);
    let used = used_bytes(disk);
    eprintln!(
        "PEAK-DISK declared {declared_size} bytes, tmpfs {size} bytes, used after extraction {used} bytes"
    );
    assert!(used <= size, "{used} of {size}");
    std::fs::remove_dir_all(&staging).unwrap();

    let error = extract_archive(&oversize, &disk.join("generic")).unwrap_err();
    assert!(
        is_enospc(&error),
        "the generic extractor should have filled the tmpfs: {error:?}"
    );
}
