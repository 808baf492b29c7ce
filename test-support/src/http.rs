//! A real HTTP/1.1 server on 127.0.0.1 for download tests: files by path, one scripted answer
//! per request, and a record of every request. One thread per connection, `Connection: close`.
//!
//! ```no_run
//! use test_support::http::{Server, Step};
//! let server = Server::start();
//! server.route("/runtime.tar.zst", b"archive bytes".to_vec());
//! // First request: cut after 5 bytes; every later one: served, honouring `Range`.
//! server.script("/runtime.tar.zst", vec![Step::CutAfter(5), Step::Serve]);
//! let url = server.url("/runtime.tar.zst");
//! ```

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the server answers one request for a path.
#[derive(Clone, Debug)]
pub enum Step {
    /// 200 with the body, or 206 from byte k for `Range: bytes=<k>-` (416 past the end).
    Serve,
    /// 200 with the whole body, whatever range the request asked for.
    IgnoreRange,
    /// Like `Serve`, announcing the full length, but the connection is closed after this many
    /// body bytes.
    CutAfter(usize),
    /// Like `Serve`, but after this many body bytes the server goes silent for the duration,
    /// then closes the connection.
    StallAfter(usize, Duration),
    /// Like `Serve`, the body in this many pieces with a pause between them.
    Slow(usize, Duration),
    /// Like `Serve`, with a pause after every 64 KiB (a slow link).
    Throttle(Duration),
    /// 200 without Content-Length: the whole body, then close.
    NoLength,
    /// This status, with a short text body.
    Status(u16),
    /// Like `Serve`, with these bytes instead of the path's own (corruption on the way).
    WrongBytes(Vec<u8>),
}

/// One request as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The request target as sent (`/runtime.tar.zst`).
    pub path: String,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// Every header as sent, in order.
    pub headers: Vec<(String, String)>,
    /// The status answered.
    pub status: u16,
    /// Body bytes written back.
    pub sent: usize,
}

impl Request {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

#[derive(Default)]
struct State {
    bodies: HashMap<String, Arc<Vec<u8>>>,
    dir: Option<PathBuf>,
    any: Option<Arc<Vec<u8>>>,
    scripts: HashMap<String, (Vec<Step>, usize)>,
    requests: Vec<Request>,
}

/// A running server; it lives as long as the test process (tests are short).
pub struct Server {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl Server {
    /// A server with nothing routed yet: every path is 404 until [`Server::route`].
    pub fn start() -> Server {
        Server::with_state(State::default())
    }

    /// A server over the files in `dir`, read at each request (tests change them between
    /// requests); [`Server::route`] can add or override paths.
    pub fn serving_dir(dir: impl Into<PathBuf>) -> Server {
        Server::with_state(State {
            dir: Some(dir.into()),
            ..State::default()
        })
    }

    /// A server answering every path with `body` (200), recording each request.
    pub fn answering_any(body: impl Into<Vec<u8>>) -> Server {
        Server::with_state(State {
            any: Some(Arc::new(body.into())),
            ..State::default()
        })
    }

    /// A server with `routes` (path, body) and nothing else.
    pub fn with_routes<P: AsRef<str>, B: Into<Vec<u8>>>(
        routes: impl IntoIterator<Item = (P, B)>,
    ) -> Server {
        let server = Server::start();
        for (path, body) in routes {
            server.route(path.as_ref(), body);
        }
        server
    }

    fn with_state(state: State) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(state));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || {
                    let _ = answer(stream, &state);
                });
            }
        });
        Server { port, state }
    }

    /// Serves `body` at `path` (from now on).
    pub fn route(&self, path: &str, body: impl Into<Vec<u8>>) {
        self.state
            .lock()
            .unwrap()
            .bodies
            .insert(normalise(path), Arc::new(body.into()));
    }

    /// Answers the next requests for `path` with `steps`, one per request; the last step
    /// repeats. Replaces the path's previous script.
    pub fn script(&self, path: &str, steps: Vec<Step>) {
        assert!(!steps.is_empty(), "a script needs at least one step");
        self.state
            .lock()
            .unwrap()
            .scripts
            .insert(normalise(path), (steps, 0));
    }

    /// Drops every script: all paths are served plainly again.
    pub fn clear_scripts(&self) {
        self.state.lock().unwrap().scripts.clear();
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port><path>` (a missing leading `/` is added; `""` gives the bare
    /// origin, for base URLs).
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, normalise(path))
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The requests for `path` so far, in order.
    pub fn requests_to(&self, path: &str) -> Vec<Request> {
        let path = normalise(path);
        self.requests()
            .into_iter()
            .filter(|request| request.path == path)
            .collect()
    }

    /// How many requests `path` got.
    pub fn hits(&self, path: &str) -> usize {
        self.requests_to(path).len()
    }
}

/// A loopback port free a moment ago (bound, read, released): for a server a test starts
/// itself, or for a URL that is refused.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A one-connection server for answers [`Server`] cannot give (bytes past `Content-Length`,
/// another protocol, a hand-made chunked body): it reads the request head, writes `raw` as it
/// is, closes, and the handle returns the request head it received.
pub fn serve_raw_once(raw: &'static str) -> (u16, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut connection, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") && connection.read(&mut byte).unwrap() == 1 {
            request.push(byte[0]);
        }
        connection.write_all(raw.as_bytes()).unwrap();
        String::from_utf8_lossy(&request).into_owned()
    });
    (port, server)
}

/// A URL on a loopback port nothing listens on.
pub fn refused_url(path: &str) -> String {
    format!("http://127.0.0.1:{}{}", free_port(), normalise(path))
}

fn normalise(path: &str) -> String {
    if path.is_empty() || path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}

/// The file a request path names in a served folder: one plain name (no folders, no dot files,
/// no query), so a request cannot read anything else of the disk.
/// The served folder's file a request names: plain names (no leading dot, no `%`, nothing
/// but letters, digits and `.-_+`) joined by `/`, like a release's `objects/ab/<sha>.zst`.
fn plain_file_name(path: &str) -> Option<&str> {
    let name = path.split(['?', '#']).next()?.strip_prefix('/')?;
    let plain = name.split('/').all(|part| {
        !part.is_empty()
            && !part.starts_with('.')
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'))
    });
    plain.then_some(name)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn answer(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let range = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("range"))
        .map(|(_, value)| value.clone());

    // The step and the body, chosen under the lock; the transfer happens outside it.
    let (step, body, dir) = {
        let mut state = state.lock().unwrap();
        let step = match state.scripts.get_mut(&path) {
            Some((steps, next)) => {
                let step = steps[(*next).min(steps.len() - 1)].clone();
                *next += 1;
                step
            }
            None => Step::Serve,
        };
        let body = state
            .bodies
            .get(&path)
            .cloned()
            .or_else(|| state.any.clone());
        (step, body, state.dir.clone())
    };
    let body = match (&step, body, dir) {
        (Step::WrongBytes(bytes), _, _) => Some(Arc::new(bytes.clone())),
        (_, Some(body), _) => Some(body),
        (_, None, Some(dir)) => plain_file_name(&path)
            .and_then(|name| std::fs::read(dir.join(name)).ok())
            .map(Arc::new),
        (_, None, None) => None,
    };
    let index = {
        let mut state = state.lock().unwrap();
        state.requests.push(Request {
            path: path.clone(),
            range: range.clone(),
            headers,
            status: 0,
            sent: 0,
        });
        state.requests.len() - 1
    };
    let set_status = |status: u16| state.lock().unwrap().requests[index].status = status;
    let mut stream = stream;

    let status_only = match (&step, &body) {
        (Step::Status(status), _) => Some(*status),
        (_, None) => Some(404),
        _ => None,
    };
    if let Some(status) = status_only {
        set_status(status);
        let text = format!("status {status}\n");
        write!(
            stream,
            "HTTP/1.1 {status} {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            reason(status),
            text.len()
        )?;
        stream.flush()?;
        return stream.shutdown(Shutdown::Both);
    }
    let body = body.expect("a body unless answered with a status above");
    let len = body.len();
    let start = match (&step, &range) {
        (Step::IgnoreRange | Step::NoLength, _) | (_, None) => None,
        (_, Some(range)) => Some(
            range
                .strip_prefix("bytes=")
                .and_then(|rest| rest.strip_suffix('-'))
                .and_then(|first| first.parse::<usize>().ok())
                .unwrap_or_else(|| panic!("only `bytes=<k>-` ranges are expected, got {range:?}")),
        ),
    };
    let payload: &[u8] = match start {
        Some(first) if first >= len => {
            set_status(416);
            write!(
                stream,
                "HTTP/1.1 416 {}\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                reason(416)
            )?;
            stream.flush()?;
            return stream.shutdown(Shutdown::Both);
        }
        Some(first) => {
            set_status(206);
            write!(
                stream,
                "HTTP/1.1 206 {}\r\nContent-Range: bytes {first}-{}/{len}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                reason(206),
                len - 1,
                len - first
            )?;
            &body[first..]
        }
        None if matches!(step, Step::NoLength) => {
            set_status(200);
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
            )?;
            &body[..]
        }
        None => {
            set_status(200);
            let ranges = if matches!(step, Step::IgnoreRange) {
                ""
            } else {
                "Accept-Ranges: bytes\r\n"
            };
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n{ranges}Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
            )?;
            &body[..]
        }
    };
    let mut send = |bytes: &[u8]| -> std::io::Result<()> {
        stream.write_all(bytes)?;
        stream.flush()?;
        state.lock().unwrap().requests[index].sent += bytes.len();
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
        Step::Throttle(pause) => {
            for chunk in payload.chunks(64 * 1024) {
                send(chunk)?;
                std::thread::sleep(pause);
            }
        }
        _ => send(payload)?,
    }
    stream.shutdown(Shutdown::Both)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One raw request; the whole answer (the server closes the connection).
    fn get(server: &Server, path: &str, range: Option<&str>) -> Vec<u8> {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
        let range = range.map(|r| format!("Range: {r}\r\n")).unwrap_or_default();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n{range}\r\n").unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        answer
    }

    fn split(answer: &[u8]) -> (String, Vec<u8>) {
        let at = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        (
            String::from_utf8_lossy(&answer[..at]).into_owned(),
            answer[at + 4..].to_vec(),
        )
    }

    #[test]
    fn a_served_folder_gives_only_its_plain_files() {
        let root = std::env::temp_dir().join(format!("test-support-dir-{}", std::process::id()));
        let dir = root.join("served");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.json"), b"{}").unwrap();
        std::fs::write(dir.join(".hidden"), b"no").unwrap();
        std::fs::create_dir_all(dir.join("objects/ab")).unwrap();
        std::fs::write(dir.join("objects/ab/abc.zst"), b"object").unwrap();
        std::fs::write(root.join("secret.txt"), b"outside").unwrap();
        let server = Server::serving_dir(&dir);
        let (head, body) = split(&get(&server, "/index.json?x=1", None));
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(body, b"{}");
        let (head, body) = split(&get(&server, "/objects/ab/abc.zst", None));
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(body, b"object");
        for path in [
            "/objects/../index.json",
            "/objects//ab/abc.zst",
            "/objects/./ab/abc.zst",
            "/objects/ab/",
            "/../secret.txt",
            "/%2e%2e/secret.txt",
            "/.hidden",
            "/",
            "/served/index.json",
        ] {
            let (head, _) = split(&get(&server, path, None));
            assert!(head.starts_with("HTTP/1.1 404"), "{path}: {head}");
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn routes_ranges_scripts_and_records() {
        let server = Server::with_routes([("/file", b"0123456789".to_vec())]);
        server.script(
            "file",
            vec![
                Step::Status(503),
                Step::CutAfter(3),
                Step::WrongBytes(b"evil".to_vec()),
                Step::Serve,
            ],
        );
        let (head, body) = split(&get(&server, "/file", None));
        assert!(head.starts_with("HTTP/1.1 503"), "{head}");
        assert_eq!(body, b"status 503\n");
        let (head, body) = split(&get(&server, "/file", None));
        assert!(head.contains("Content-Length: 10"), "{head}");
        assert_eq!(body, b"012");
        assert_eq!(split(&get(&server, "/file", None)).1, b"evil");
        let (head, body) = split(&get(&server, "/file", Some("bytes=4-")));
        assert!(head.starts_with("HTTP/1.1 206"), "{head}");
        assert!(head.contains("Content-Range: bytes 4-9/10"), "{head}");
        assert_eq!(body, b"456789");
        // The last step repeats.
        let (head, _) = split(&get(&server, "/file", Some("bytes=10-")));
        assert!(head.starts_with("HTTP/1.1 416"), "{head}");
        assert!(split(&get(&server, "/other", None))
            .0
            .starts_with("HTTP/1.1 404"));

        let seen: Vec<(u16, usize, Option<String>)> = server
            .requests_to("/file")
            .into_iter()
            .map(|r| (r.status, r.sent, r.range))
            .collect();
        assert_eq!(
            seen,
            [
                (503, 0, None),
                (200, 3, None),
                (200, 4, None),
                (206, 6, Some("bytes=4-".to_owned())),
                (416, 0, Some("bytes=10-".to_owned())),
            ]
        );
        assert_eq!(server.hits("/other"), 1);
        server.clear_scripts();
        assert_eq!(split(&get(&server, "/file", None)).1, b"0123456789");
    }

    #[test]
    fn ignore_range_and_no_length() {
        let server = Server::with_routes([("/a", b"abcdef".to_vec()), ("/b", b"xyz".to_vec())]);
        server.script("/a", vec![Step::IgnoreRange]);
        server.script("/b", vec![Step::NoLength]);
        let (head, body) = split(&get(&server, "/a", Some("bytes=2-")));
        assert!(
            head.starts_with("HTTP/1.1 200") && !head.contains("Accept-Ranges"),
            "{head}"
        );
        assert_eq!(body, b"abcdef");
        let (head, body) = split(&get(&server, "/b", None));
        assert!(!head.contains("Content-Length"), "{head}");
        assert_eq!(body, b"xyz");
    }

    #[test]
    fn a_stall_goes_silent_then_closes() {
        let server = Server::with_routes([("/s", vec![7u8; 100])]);
        server.script("/s", vec![Step::StallAfter(10, Duration::from_millis(300))]);
        let started = std::time::Instant::now();
        let (_, body) = split(&get(&server, "/s", None));
        assert_eq!(body.len(), 10);
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    #[test]
    fn serves_a_folder_and_answers_any_path() {
        let dir = std::env::temp_dir().join(format!("test-support-http-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.json"), b"{}").unwrap();
        let server = Server::serving_dir(&dir);
        assert_eq!(split(&get(&server, "/index.json", None)).1, b"{}");
        assert!(split(&get(&server, "/nope", None))
            .0
            .starts_with("HTTP/1.1 404"));
        std::fs::remove_dir_all(&dir).unwrap();

        let any = Server::answering_any(b"hello".to_vec());
        assert_eq!(split(&get(&any, "/whatever?x=1", None)).1, b"hello");
        assert_eq!(any.requests()[0].path, "/whatever?x=1");
    }

    #[test]
    fn a_refused_url_refuses() {
        let url = refused_url("/x");
        let port: u16 = url
            .trim_start_matches("http://127.0.0.1:")
            .trim_end_matches("/x")
            .parse()
            .unwrap();
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    }
}
