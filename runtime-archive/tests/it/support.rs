//! Test helpers: a hand-written loopback HTTP server, raw tar building, small trees.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use runtime_spec::{FileEntry, LaunchContract, Manifest, PythonInfo, PythonSource, Target};
use sha2::{Digest, Sha256};

/// What the server answers for one path.
#[derive(Clone)]
pub enum Reply {
    /// 200 with this body and a correct Content-Length.
    Body(Vec<u8>),
    /// 200 announcing `announced` bytes, sending `body`, then closing the connection.
    Truncated { announced: u64, body: Vec<u8> },
    /// This status with a short body.
    Status(u16),
}

/// An HTTP/1.1 server on 127.0.0.1 with an OS-chosen port, one thread per connection.
pub struct HttpServer {
    pub base: String,
}

impl HttpServer {
    pub fn start(routes: Vec<(&str, Reply)>) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let routes: Arc<HashMap<String, Reply>> = Arc::new(
            routes
                .into_iter()
                .map(|(path, reply)| (path.to_owned(), reply))
                .collect(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let routes = Arc::clone(&routes);
                std::thread::spawn(move || {
                    let _ = serve(stream, &routes);
                });
            }
        });
        HttpServer { base }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

fn serve(stream: TcpStream, routes: &HashMap<String, Reply>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    let mut stream = stream;
    match routes.get(&path).cloned().unwrap_or(Reply::Status(404)) {
        Reply::Body(body) => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            stream.write_all(&body)?;
        }
        Reply::Truncated { announced, body } => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {announced}\r\nConnection: close\r\n\r\n"
            )?;
            stream.write_all(&body)?;
        }
        Reply::Status(status) => {
            let body = format!("status {status}\n");
            write!(
                stream,
                "HTTP/1.1 {status} Whatever\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )?;
        }
    }
    stream.flush()?;
    stream.shutdown(std::net::Shutdown::Both)
}

/// A URL on a port nothing listens on: bind, read the port, drop the listener.
pub fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/file.bin")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

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
        app_id: runtime_spec::APP_ID.to_owned(),
        runtime_version: "0.1.0".to_owned(),
        target: Target::LinuxX64,
        python: PythonInfo {
            version: "3.12.14".to_owned(),
            build: "20260814".to_owned(),
            source: PythonSource::Pbs,
            sha256: None,
        },
        lock_sha256: "0".repeat(64),
        launch: LaunchContract::for_target(Target::LinuxX64),
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

/// How [`ScriptedServer`] answers one request.
#[derive(Clone, Debug)]
pub enum Step {
    /// Honour `Range: bytes=<k>-` (206, or 416 past the end); 200 with everything otherwise.
    Serve,
    /// 200 with the whole body, whatever the request asked.
    IgnoreRange,
    /// Like `Serve`, announcing the full length, but close after this many body bytes.
    CutAfter(usize),
    /// Like `Serve`, but after this many body bytes go silent for the duration, then close.
    StallAfter(usize, std::time::Duration),
    /// Like `Serve`, the body in this many pieces with a pause between them.
    Slow(usize, std::time::Duration),
    /// 200 without Content-Length: the whole body, then close.
    NoLength,
    /// This status with a short body.
    Status(u16),
}

/// One request as [`ScriptedServer`] saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// Body bytes written back.
    pub sent: usize,
}

/// A loopback HTTP server with one file whose answers follow a script, one step per
/// request (the last step repeats), and which records every request.
pub struct ScriptedServer {
    pub url: String,
    seen: Arc<std::sync::Mutex<Vec<Seen>>>,
}

impl ScriptedServer {
    pub fn start(body: Vec<u8>, script: Vec<Step>) -> ScriptedServer {
        assert!(!script.is_empty());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/runtime.tar.zst", listener.local_addr().unwrap());
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let body = Arc::new(body);
        let recorder = Arc::clone(&seen);
        std::thread::spawn(move || {
            for (index, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { continue };
                let step = script[index.min(script.len() - 1)].clone();
                let body = Arc::clone(&body);
                let recorder = Arc::clone(&recorder);
                std::thread::spawn(move || {
                    let _ = serve_step(stream, &body, step, &recorder);
                });
            }
        });
        ScriptedServer { url, seen }
    }

    /// Every request so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve_step(
    stream: TcpStream,
    body: &[u8],
    step: Step,
    seen: &std::sync::Mutex<Vec<Seen>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut range = None;
    let mut line = String::new();
    reader.read_line(&mut line)?;
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
    let index = {
        let mut seen = seen.lock().unwrap();
        seen.push(Seen {
            range: range.clone(),
            sent: 0,
        });
        seen.len() - 1
    };
    let mut stream = stream;
    let len = body.len();
    let start = match (&step, &range) {
        (Step::IgnoreRange | Step::NoLength | Step::Status(_), _) | (_, None) => None,
        (_, Some(range)) => Some(
            range
                .strip_prefix("bytes=")
                .and_then(|rest| rest.strip_suffix('-'))
                .and_then(|first| first.parse::<usize>().ok())
                .expect("only `bytes=<k>-` ranges are expected"),
        ),
    };
    if let Step::Status(status) = step {
        let text = format!("status {status}\n");
        write!(
            stream,
            "HTTP/1.1 {status} Whatever\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        )?;
        return stream.shutdown(std::net::Shutdown::Both);
    }
    let payload = match start {
        Some(first) if first >= len => {
            write!(
                stream,
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )?;
            return stream.shutdown(std::net::Shutdown::Both);
        }
        Some(first) => {
            write!(
                stream,
                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {first}-{}/{len}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                len - 1,
                len - first
            )?;
            &body[first..]
        }
        None if matches!(step, Step::NoLength) => {
            write!(stream, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")?;
            body
        }
        None => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
            )?;
            body
        }
    };
    let mut send = |bytes: &[u8]| -> std::io::Result<()> {
        stream.write_all(bytes)?;
        stream.flush()?;
        seen.lock().unwrap()[index].sent += bytes.len();
        Ok(())
    };
    match step {
        Step::CutAfter(n) => send(&payload[..n.min(payload.len())])?,
        Step::StallAfter(n, pause) => {
            send(&payload[..n.min(payload.len())])?;
            std::thread::sleep(pause);
        }
        Step::Slow(pieces, pause) => {
            let piece = payload.len().div_ceil(pieces.max(1)).max(1);
            for (i, chunk) in payload.chunks(piece).enumerate() {
                if i > 0 {
                    std::thread::sleep(pause);
                }
                send(chunk)?;
            }
        }
        _ => send(payload)?,
    }
    stream.shutdown(std::net::Shutdown::Both)
}
