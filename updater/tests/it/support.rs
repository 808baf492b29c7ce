//! Fixtures: small runtimes with a fake engine (the real runtime is 100 MB; these tests are
//! about the updater, so the engine is `supervisor/tests/fake_engine.py` run by the system
//! Python), a minisign-signed index, and test-support's loopback HTTP server over the release
//! folder, whose misbehaviour each test scripts.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use runtime_spec::manifest::{FileEntry, PythonInfo, PythonSource, MANIFEST_SCHEMA_VERSION};
use runtime_spec::{layout, IndexEntry, LaunchContract, Manifest, Target, Variant};
pub use test_support::http::{Server, Step};
pub use test_support::sha256_hex;

pub const TARGET: Target = Target::LinuxX64;
pub const CHANNEL: &str = "beta";
const FAKE_ENGINE: &str = include_str!("../../../supervisor/tests/fake_engine.py");
const BROKEN_ENGINE: &str =
    "import sys\nprint('fatal: this runtime is broken on purpose', file=sys.stderr)\nsys.exit(3)\n";

/// Builds a runtime folder of `variant` and its archive; `healthy: false` gives an engine that
/// exits at once. `padding` bytes of incompressible data make the archive big enough to cut
/// mid-download. Every variant holds the same stand-in engine, with the manifest's profile,
/// accelerator and requirements of `variant` (the updater reads only those).
pub fn build_variant(
    work: &Path,
    version: &str,
    variant: Variant,
    healthy: bool,
    padding: usize,
) -> PathBuf {
    let noise = noise(padding, version);
    build_with(
        work,
        version,
        variant,
        healthy,
        &[("padding.bin", noise.as_slice())],
    )
}

/// [`build_variant`] with these files (path, bytes) instead of the padding.
pub fn build_with(
    work: &Path,
    version: &str,
    variant: Variant,
    healthy: bool,
    extra: &[(&str, &[u8])],
) -> PathBuf {
    let root = work.join(format!("rt-{version}-{variant}"));
    let _ = std::fs::remove_dir_all(&root);
    let bin = root.join("python").join("bin");
    fs_err::create_dir_all(&bin).unwrap();
    let python = bin.join("python3");
    fs_err::write(
        &python,
        format!("#!/bin/sh\nexec {} \"$@\"\n", system_python().display()),
    )
    .unwrap();
    fs_err::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    let engine = if healthy { FAKE_ENGINE } else { BROKEN_ENGINE };
    fs_err::write(root.join("fake_engine.py"), engine).unwrap();
    for (path, bytes) in extra {
        let path = root.join(path);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, bytes).unwrap();
    }
    fs_err::write(root.join(layout::VERSION_FILE), format!("{version}\n")).unwrap();
    let mut files: Vec<FileEntry> = runtime_archive::build_manifest_files(&root).unwrap();
    // The release's object store, as `cargo xtask release` publishes it beside the index.
    let store = work.join("serve").join(layout::OBJECTS_DIR);
    runtime_archive::objects::pack_objects(&root, &mut files, &store, 2).unwrap();
    let mut launch = LaunchContract::for_app(&crate::app(), TARGET);
    launch.argv.truncate(2);
    launch.argv.push("fake_engine.py".into());
    let manifest = Manifest {
        schema_version: MANIFEST_SCHEMA_VERSION,
        app_id: crate::app().identifier,
        runtime_version: version.parse().unwrap(),
        target: TARGET,
        python: PythonInfo {
            version: "3.11".into(),
            build: "local".into(),
            source: PythonSource::Local,
            sha256: None,
        },
        profile: variant.profile,
        accelerator: variant.accelerator,
        requirements: Some(variant.base_requirements()),
        lock_sha256: "0".repeat(64).parse().unwrap(),
        launch,
        files,
    };
    fs_err::write(root.join(layout::MANIFEST_FILE), manifest.to_json()).unwrap();
    let manifest_ref = release_meta::manifest_ref(&manifest);
    runtime_archive::objects::pack_object(
        &root.join(layout::MANIFEST_FILE),
        &manifest_ref.sha256,
        &store,
    )
    .unwrap();
    let archive = work.join("serve").join(layout::archive_name(
        &crate::app().archive_stem(),
        &version.parse().unwrap(),
        variant,
    ));
    // Level 1: the tests are about moving archives around, not about their size.
    let mut options = runtime_archive::PackOptions::new(1_700_000_000);
    options.zstd_level = 1;
    runtime_archive::pack_tar_zst(&root, &archive, &options).unwrap();
    archive
}

/// The manifest packed in `archive`.
pub fn manifest_of(archive: &Path) -> Manifest {
    let dir = tempfile::tempdir().unwrap();
    runtime_archive::extract_archive(archive, dir.path()).unwrap();
    Manifest::from_json(&fs_err::read(dir.path().join(layout::MANIFEST_FILE)).unwrap()).unwrap()
}

pub fn noise(len: usize, seed: &str) -> Vec<u8> {
    let mut x: u64 = seed
        .bytes()
        .fold(0x9E37_79B9_7F4A_7C15, |a, b| a.rotate_left(5) ^ b as u64);
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

pub fn system_python() -> PathBuf {
    for candidate in ["/usr/bin/python3", "/usr/local/bin/python3"] {
        if Path::new(candidate).exists() {
            return candidate.into();
        }
    }
    panic!("the fake engine needs a system python3");
}

/// A key pair and a folder served over HTTP with the archives and the signed index.
pub struct Release {
    pub work: tempfile::TempDir,
    pub public_key: String,
    secret_key: String,
}

impl Release {
    pub fn new() -> Release {
        let (public_key, secret_key) = release_meta::minisign::generate_keypair(None).unwrap();
        let work = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(work.path().join("serve")).unwrap();
        Release {
            work,
            public_key,
            secret_key,
        }
    }

    pub fn serve_dir(&self) -> PathBuf {
        self.work.path().join("serve")
    }

    pub fn key_file(&self) -> PathBuf {
        let path = self.work.path().join("minisign.pub");
        fs_err::write(&path, &self.public_key).unwrap();
        path
    }

    /// Builds runtime `version` and returns its index entry.
    pub fn runtime(&self, version: &str, healthy: bool, padding: usize) -> IndexEntry {
        self.variant(version, Variant::base(TARGET), healthy, padding)
    }

    /// Builds `version` of `variant` and returns its index entry.
    pub fn variant(
        &self,
        version: &str,
        variant: Variant,
        healthy: bool,
        padding: usize,
    ) -> IndexEntry {
        let archive = build_variant(self.work.path(), version, variant, healthy, padding);
        self.entry_for(&archive)
    }

    /// Builds runtime `version` (base, healthy) holding `files` and returns its index entry.
    pub fn runtime_with(&self, version: &str, files: &[(&str, &[u8])]) -> IndexEntry {
        let archive = build_with(
            self.work.path(),
            version,
            Variant::base(TARGET),
            true,
            files,
        );
        self.entry_for(&archive)
    }

    /// The index entry of an archive built here.
    pub fn entry_for(&self, archive: &Path) -> IndexEntry {
        let manifest = manifest_of(archive);
        let bytes = fs_err::read(archive).unwrap();
        IndexEntry {
            version: manifest.runtime_version.clone(),
            url: archive.file_name().unwrap().to_string_lossy().into_owned(),
            size: bytes.len() as u64,
            sha256: sha256_hex(&bytes).parse().unwrap(),
            unpacked_size: manifest.unpacked_size(),
            min_shell_version: "0.1.0".parse().unwrap(),
            profile: manifest.profile,
            accelerator: manifest.accelerator,
            requirements: manifest.requirements(),
            manifest: release_meta::manifest_ref(&manifest),
        }
    }

    /// The archive file name of `version`.
    pub fn runtime_name(&self, version: &str) -> String {
        layout::archive_name(
            &crate::app().archive_stem(),
            &version.parse().unwrap(),
            runtime_spec::Variant::base(TARGET),
        )
    }

    /// Writes and signs `runtime-<channel>.json` with this release's key.
    pub fn publish(&self, channel: &str, published_at: u64, entries: Vec<(Target, IndexEntry)>) {
        self.publish_with_key(channel, published_at, entries, &self.secret_key);
    }

    pub fn publish_with_key(
        &self,
        channel: &str,
        published_at: u64,
        entries: Vec<(Target, IndexEntry)>,
        secret_key: &str,
    ) {
        let index =
            release_meta::build_index(channel.parse().unwrap(), published_at, None, entries)
                .unwrap();
        release_meta::write_signed_index(&index, &self.serve_dir(), secret_key, None).unwrap();
    }

    /// Writes and signs `<folder>/runtime-<channel>.json`, naming `objects` as its object
    /// store: an app released one folder below the release URL.
    pub fn publish_in(
        &self,
        folder: &str,
        objects: &str,
        channel: &str,
        published_at: u64,
        entries: Vec<(Target, IndexEntry)>,
    ) {
        let index = release_meta::build_index(
            channel.parse().unwrap(),
            published_at,
            Some(objects.to_owned()),
            entries,
        )
        .unwrap();
        release_meta::write_signed_index(
            &index,
            &self.serve_dir().join(folder),
            &self.secret_key,
            None,
        )
        .unwrap();
    }
}

/// The URL of the channel's signed index on `server`.
pub trait IndexUrl {
    fn index_url(&self) -> String;
}

impl IndexUrl for Server {
    fn index_url(&self) -> String {
        self.url(&format!("runtime-{CHANNEL}.json"))
    }
}

/// A data folder with user files whose bytes must survive every fault.
pub struct DataDir {
    pub dir: tempfile::TempDir,
    before: Vec<(PathBuf, Vec<u8>)>,
}

impl DataDir {
    pub fn new() -> DataDir {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            (
                "db/tokenizer_studio.db",
                b"SQLite format 3\0 user rows".to_vec(),
            ),
            ("uploads/corpus.txt", b"the user's own corpus\n".to_vec()),
            (
                "artifacts/tokenizers/bpe.json",
                b"{\"model\": \"bpe\"}".to_vec(),
            ),
        ];
        let mut before = Vec::new();
        for (path, bytes) in files {
            let path = dir.path().join(path);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(&path, &bytes).unwrap();
            before.push((path, bytes));
        }
        DataDir { dir, before }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn assert_user_data_intact(&self) {
        for (path, bytes) in &self.before {
            assert_eq!(
                &fs_err::read(path).unwrap(),
                bytes,
                "{} changed",
                path.display()
            );
        }
    }

    pub fn runtime_children(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path().join("runtime"))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

/// Runs `ts-runtime` to completion.
pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn line(&self, prefix: &str) -> Option<String> {
        self.stdout
            .lines()
            .find_map(|line| line.strip_prefix(prefix).map(str::to_owned))
    }
}

pub fn ts_runtime(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_ts-runtime"))
        .args(args)
        .output()
        .unwrap();
    Run {
        ok: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The read timeout the installs run with: short, so a stall costs little, and scaled with
/// the stalls the tests inject.
pub fn read_timeout_ms() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        test_support::timeout(Duration::from_millis(700))
            .as_millis()
            .to_string()
    })
}

/// The test app's identifier, for `--app-id`.
pub fn app_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| crate::app().identifier)
}

pub fn install_args<'a>(data: &'a str, index_url: &'a str, key_file: &'a str) -> Vec<&'a str> {
    vec![
        "install",
        "--data-dir",
        data,
        "--index-url",
        index_url,
        "--public-key-file",
        key_file,
        "--channel",
        CHANNEL,
        "--app-id",
        app_id(),
        "--backoff-ms",
        "20",
        "--read-timeout-ms",
        read_timeout_ms(),
        // These tests are about the archive path; `delta_args` takes the delta path.
        "--no-delta",
    ]
}

/// [`install_args`] that let the installer fetch only what changed.
pub fn delta_args<'a>(data: &'a str, index_url: &'a str, key_file: &'a str) -> Vec<&'a str> {
    let mut args = install_args(data, index_url, key_file);
    args.retain(|arg| *arg != "--no-delta");
    args
}

/// Starts `ts-runtime` and returns once it printed `wanted` (e.g. `PAUSED verify`).
pub fn spawn_until(args: &[&str], wanted: &str, timeout: Duration) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ts-runtime"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let awaited = wanted.to_owned();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if line.trim_end() == awaited {
                let _ = tx.send(());
            }
            line.clear();
        }
    });
    if rx.recv_timeout(timeout).is_err() {
        let _ = child.kill();
        panic!("ts-runtime never printed `{wanted}`");
    }
    child
}

pub fn sigkill(child: &mut Child) {
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    let status = child.wait().unwrap();
    assert!(!status.success());
}

/// Waits until `path` exists with more than `min` bytes.
pub fn wait_for_size(path: &Path, min: u64, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if std::fs::metadata(path).is_ok_and(|meta| meta.len() > min) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("{} never grew past {min} bytes", path.display());
}
