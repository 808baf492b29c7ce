//! Test helpers: raw tar building, small trees, a one-file scripted server (test-support's).

use std::io::Write;
use std::path::{Path, PathBuf};

use runtime_spec::{FileEntry, LaunchContract, Manifest, PythonInfo, PythonSource, Target};
pub use test_support::http::{refused_url, Request as Seen, Server, Step};
pub use test_support::sha256_hex;

/// Names of everything directly in `dir` (empty when it does not exist).
pub fn list_dir(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// One raw tar member; paths and link names go into the header bytes unchecked, so hostile
/// names like `../evil` are really in the archive.
pub struct Raw<'a> {
    pub path: &'a [u8],
    pub kind: tar::EntryType,
    pub link: Option<&'a [u8]>,
    pub data: &'a [u8],
    pub mode: u32,
}

pub fn file<'a>(path: &'a str, data: &'a [u8]) -> Raw<'a> {
    Raw {
        path: path.as_bytes(),
        kind: tar::EntryType::Regular,
        link: None,
        data,
        mode: 0o644,
    }
}

pub fn dir(path: &str) -> Raw<'_> {
    Raw {
        path: path.as_bytes(),
        kind: tar::EntryType::Directory,
        link: None,
        data: b"",
        mode: 0o755,
    }
}

pub fn symlink<'a>(path: &'a str, target: &'a str) -> Raw<'a> {
    Raw {
        path: path.as_bytes(),
        kind: tar::EntryType::Symlink,
        link: Some(target.as_bytes()),
        data: b"",
        mode: 0o777,
    }
}

pub fn hardlink<'a>(path: &'a str, target: &'a str) -> Raw<'a> {
    Raw {
        path: path.as_bytes(),
        kind: tar::EntryType::Link,
        link: Some(target.as_bytes()),
        data: b"",
        mode: 0o644,
    }
}

pub fn special(path: &str, kind: tar::EntryType) -> Raw<'_> {
    Raw {
        path: path.as_bytes(),
        kind,
        link: None,
        data: b"",
        mode: 0o644,
    }
}

/// A PAX extended header record (`<len> <key>=<value>\n`, the length counting itself).
pub fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}{body}").len() != len {
        len += 1;
    }
    format!("{len}{body}").into_bytes()
}

/// A PAX `x` member; the member after it takes its path (or link) from the record, so the
/// innocent name in the next header is not what an extractor uses.
pub fn pax(record: &[u8]) -> Raw<'_> {
    Raw {
        path: b"PaxHeaders/next",
        kind: tar::EntryType::XHeader,
        link: None,
        data: record,
        mode: 0o644,
    }
}

/// Uncompressed tar bytes with the members exactly as given.
pub fn raw_tar(members: &[Raw<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for member in members {
        let mut header = tar::Header::new_gnu();
        {
            let old = header.as_old_mut();
            old.name = [0; 100];
            old.name[..member.path.len()].copy_from_slice(member.path);
            if let Some(link) = member.link {
                old.linkname = [0; 100];
                old.linkname[..link.len()].copy_from_slice(link);
            }
        }
        header.set_entry_type(member.kind);
        header.set_mode(member.mode);
        header.set_size(member.data.len() as u64);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        builder.append(&header, member.data).unwrap();
    }
    builder.into_inner().unwrap()
}

pub fn zstd_bytes(tar: &[u8]) -> Vec<u8> {
    zstd::encode_all(tar, 3).unwrap()
}

pub fn gzip_bytes(tar: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(tar).unwrap();
    encoder.finish().unwrap()
}

pub fn write(path: &Path, bytes: &[u8]) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

#[cfg(unix)]
pub fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(unix)]
pub fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

/// A manifest around the given files, with fixed everything else.
pub fn manifest_with(files: Vec<FileEntry>) -> Manifest {
    Manifest {
        schema_version: runtime_spec::manifest::MANIFEST_SCHEMA_VERSION,
        app_id: crate::app().identifier,
        runtime_version: "0.1.0".parse().unwrap(),
        target: Target::LinuxX64,
        python: PythonInfo {
            version: "3.12.14".to_owned(),
            build: "20260814".to_owned(),
            source: PythonSource::Pbs,
            sha256: None,
        },
        profile: Default::default(),
        accelerator: Default::default(),
        requirements: None,
        lock_sha256: "0".repeat(64).parse().unwrap(),
        launch: LaunchContract::for_app(&crate::app(), Target::LinuxX64),
        files,
    }
}

/// A small PBS-like runtime tree: folders, an executable, a relative symlink, an empty file,
/// an empty folder and a path longer than the 100 bytes a plain tar header holds.
/// `private` makes the modes 0600/0700 instead of 0644/0755, as a strict umask would.
#[cfg(unix)]
pub fn make_tree(root: &Path, private: bool) {
    let (regular, executable) = if private {
        (0o600, 0o700)
    } else {
        (0o644, 0o755)
    };
    let long_dir = format!(
        "python/lib/python3.12/site-packages/{}",
        "a_rather_long_package_name/".repeat(4)
    );
    let files: Vec<(String, &[u8], bool)> = vec![
        ("VERSION".to_owned(), b"0.1.0\n", false),
        (
            "python/bin/python3.12".to_owned(),
            b"#!/bin/sh\necho python\n",
            true,
        ),
        (
            "python/lib/libpython3.12.so".to_owned(),
            &[0u8, 1, 2, 3, 255, 254][..],
            false,
        ),
        ("python/lib/empty.txt".to_owned(), b"", false),
        (
            format!("{long_dir}module_with_a_long_name.py"),
            b"print('hi')\n",
            false,
        ),
        ("app/main.py".to_owned(), b"import sys\n", false),
        (
            "app-b.txt".to_owned(),
            b"sorts between app and app/ by bytes\n",
            false,
        ),
    ];
    for (path, data, exec) in &files {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, data).unwrap();
        chmod(&full, if *exec { executable } else { regular });
    }
    std::fs::create_dir_all(root.join("web/assets")).unwrap();
    std::os::unix::fs::symlink("python3.12", root.join("python/bin/python3")).unwrap();
}

/// A loopback server with one file, `/runtime.tar.zst`, answered by `script` (one step per
/// request, the last repeats); every request is recorded.
pub struct ScriptedServer {
    pub url: String,
    server: Server,
}

impl ScriptedServer {
    pub fn start(body: Vec<u8>, script: Vec<Step>) -> ScriptedServer {
        let server = Server::with_routes([("/runtime.tar.zst", body)]);
        server.script("/runtime.tar.zst", script);
        ScriptedServer {
            url: server.url("/runtime.tar.zst"),
            server,
        }
    }

    /// Every request so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.server.requests()
    }
}
