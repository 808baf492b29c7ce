//! Fixtures: small runtimes with a fake backend (the real runtime is 100 MB; these tests are
//! about the updater, so the backend is `supervisor/tests/fake_sidecar.py` run by the system
//! Python), a minisign-signed index, and a loopback HTTP server with Range support whose
//! misbehaviour each test scripts.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use runtime_spec::manifest::{FileEntry, PythonInfo, PythonSource, MANIFEST_SCHEMA_VERSION};
use runtime_spec::{layout, IndexEntry, LaunchContract, Manifest, Target};

pub const TARGET: Target = Target::LinuxX64;
pub const CHANNEL: &str = "beta";
const FAKE_SIDECAR: &str = include_str!("../../../supervisor/tests/fake_sidecar.py");
const BROKEN_BACKEND: &str =
    "import sys\nprint('fatal: this runtime is broken on purpose', file=sys.stderr)\nsys.exit(3)\n";

/// Builds a runtime folder and its archive; `healthy: false` gives a backend that exits at once.
/// `padding` bytes of incompressible data make the archive big enough to cut mid-download.
pub fn build_runtime(work: &Path, version: &str, healthy: bool, padding: usize) -> PathBuf {
    let root = work.join(format!("rt-{version}"));
    let bin = root.join("python").join("bin");
    fs_err::create_dir_all(&bin).unwrap();
    let python = bin.join("python3");
    fs_err::write(
        &python,
        format!("#!/bin/sh\nexec {} \"$@\"\n", system_python().display()),
    )
    .unwrap();
    fs_err::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    let backend = if healthy {
        FAKE_SIDECAR
    } else {
        BROKEN_BACKEND
    };
    fs_err::write(root.join("fake_sidecar.py"), backend).unwrap();
    fs_err::write(root.join("padding.bin"), noise(padding, version)).unwrap();
    fs_err::write(root.join(layout::VERSION_FILE), format!("{version}\n")).unwrap();
    let files: Vec<FileEntry> = runtime_archive::build_manifest_files(&root).unwrap();
    let mut launch = LaunchContract::for_target(TARGET);
    launch.argv.truncate(2);
    launch.argv.push("fake_sidecar.py".into());
    let manifest = Manifest {
        schema_version: MANIFEST_SCHEMA_VERSION,
        app_id: runtime_spec::APP_ID.into(),
        runtime_version: version.into(),
        target: TARGET,
        python: PythonInfo {
            version: "3.11".into(),
            build: "local".into(),
            source: PythonSource::Local,
            sha256: None,
        },
        lock_sha256: "0".repeat(64),
        launch,
        files,
    };
    fs_err::write(root.join(layout::MANIFEST_FILE), manifest.to_json()).unwrap();
    let archive = work
        .join("serve")
        .join(layout::archive_name(version, TARGET));
    // Level 1: the tests are about moving archives around, not about their size.
    let mut options = runtime_archive::PackOptions::new(1_700_000_000);
    options.zstd_level = 1;
    runtime_archive::pack_tar_zst(&root, &archive, &options).unwrap();
    archive
}

fn noise(len: usize, seed: &str) -> Vec<u8> {
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
    panic!("the fake backend needs a system python3");
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
        let archive = build_runtime(self.work.path(), version, healthy, padding);
        let bytes = fs_err::read(&archive).unwrap();
        IndexEntry {
            version: version.into(),
            url: archive.file_name().unwrap().to_string_lossy().into_owned(),
            size: bytes.len() as u64,
            sha256: sha256_hex(&bytes),
            unpacked_size: (padding + 4096) as u64,
            min_shell_version: "0.1.0".into(),
        }
    }

    /// The archive file name of `version`.
    pub fn runtime_name(&self, version: &str) -> String {
        layout::archive_name(version, TARGET)
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
        let index = release_meta::build_index(channel, published_at, entries).unwrap();
        release_meta::write_signed_index(&index, &self.serve_dir(), secret_key, None).unwrap();
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// How the server misbehaves for one path.
#[derive(Debug, Clone, Default)]
pub struct Fault {
    /// Statuses answered (in order) before the file is served.
    pub statuses: Vec<u16>,
    /// On the next full (non-Range) request: send the headers, this many body bytes, then close.
    pub drop_after: Option<usize>,
    /// On the next request: send the headers and this many bytes, then stall for `stall`.
    pub stall_after: Option<(usize, Duration)>,
    /// Delay between 64 KiB chunks (a slow link).
    pub throttle: Option<Duration>,
    /// Serve these bytes instead of the file (corruption).
    pub replace: Option<Vec<u8>>,
}

/// One request the server saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub range: Option<String>,
    pub status: u16,
}

/// A loopback file server over `dir`, honouring `Range: bytes=N-`.
pub struct Server {
    pub port: u16,
    faults: Arc<Mutex<HashMap<String, Fault>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    pub fn start(dir: PathBuf) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let faults: Arc<Mutex<HashMap<String, Fault>>> = Arc::default();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let (f, s) = (faults.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (dir, f, s) = (dir.clone(), f.clone(), s.clone());
                std::thread::spawn(move || {
                    let _ = handle(stream, &dir, &f, &s);
                });
            }
        });
        Server { port, faults, seen }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    pub fn index_url(&self) -> String {
        self.url(&format!("runtime-{CHANNEL}.json"))
    }

    pub fn fault(&self, path: &str, fault: Fault) {
        self.faults
            .lock()
            .unwrap()
            .insert(format!("/{path}"), fault);
    }

    pub fn clear_faults(&self) {
        self.faults.lock().unwrap().clear();
    }

    pub fn seen(&self, path: &str) -> Vec<Seen> {
        let path = format!("/{path}");
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|seen| seen.path == path)
            .cloned()
            .collect()
    }
}

fn handle(
    stream: TcpStream,
    dir: &Path,
    faults: &Mutex<HashMap<String, Fault>>,
    seen: &Mutex<Vec<Seen>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut stream = stream;
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("range") {
                range = Some(value.trim().to_owned());
            }
        }
    }
    let record = |status: u16| {
        seen.lock().unwrap().push(Seen {
            path: path.clone(),
            range: range.clone(),
            status,
        })
    };
    let (status_fault, drop_after, stall_after, throttle, replace) = {
        let mut faults = faults.lock().unwrap();
        match faults.get_mut(&path) {
            Some(fault) => {
                let status = if fault.statuses.is_empty() {
                    None
                } else {
                    Some(fault.statuses.remove(0))
                };
                let drop_after = if status.is_none() && range.is_none() {
                    fault.drop_after.take()
                } else {
                    None
                };
                let stall = if status.is_none() {
                    fault.stall_after.take()
                } else {
                    None
                };
                (
                    status,
                    drop_after,
                    stall,
                    fault.throttle,
                    fault.replace.clone(),
                )
            }
            None => (None, None, None, None, None),
        }
    };
    if let Some(status) = status_fault {
        record(status);
        let body = format!("injected {status}");
        write!(
            stream,
            "HTTP/1.1 {status} Injected\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        return Ok(());
    }
    let file = dir.join(path.trim_start_matches('/'));
    let data = match replace {
        Some(bytes) => bytes,
        None => match std::fs::read(&file) {
            Ok(bytes) => bytes,
            Err(_) => {
                record(404);
                write!(
                    stream,
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )?;
                return Ok(());
            }
        },
    };
    let start = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok());
    let (status, body) = match start {
        Some(start) if start < data.len() => {
            record(206);
            write!(
                stream,
                "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{}\r\nConnection: close\r\n\r\n",
                data.len() - start,
                data.len() - 1,
                data.len()
            )?;
            (206, &data[start..])
        }
        _ => {
            record(200);
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n",
                data.len()
            )?;
            (200, &data[..])
        }
    };
    let _ = status;
    let limit = drop_after.unwrap_or(body.len()).min(body.len());
    let stall_at = stall_after.map(|(n, _)| n.min(limit));
    let mut sent = 0;
    for chunk in body[..limit].chunks(64 * 1024) {
        if let (Some(at), Some((_, pause))) = (stall_at, stall_after) {
            if sent >= at {
                std::thread::sleep(pause);
                return Ok(());
            }
        }
        stream.write_all(chunk)?;
        sent += chunk.len();
        if let Some(delay) = throttle {
            std::thread::sleep(delay);
        }
    }
    stream.flush()?;
    if drop_after.is_some() {
        // Close without the rest of the promised body.
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }
    Ok(())
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
        "--backoff-ms",
        "20",
        "--read-timeout-ms",
        "700",
    ]
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

#[allow(dead_code)]
pub fn read_all(mut reader: impl Read) -> String {
    let mut text = String::new();
    reader.read_to_string(&mut text).unwrap();
    text
}
