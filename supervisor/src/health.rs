//! A minimal HTTP/1.1 GET for the backend's health endpoint.
//!
//! Hand-written on `std::net::TcpStream` on purpose: the only request the supervisor makes is
//! one GET to 127.0.0.1 with a small JSON answer, and the Tauri shell links this crate, so
//! pulling reqwest/hyper/tokio (and a TLS stack) in for it would cost build time and binary
//! size for nothing.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// Larger answers are not a health response; stop reading there.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// What one health request found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HealthAnswer {
    /// 200 with a JSON body; `launch_id` is the body's field (`None` when null or missing).
    Ok { launch_id: Option<String> },
    /// The server answered, but not yet usefully: 503 while starting, garbage.
    NotYet(String),
    /// No answer: connection refused, timed out.
    Unreachable(String),
}

/// `GET <path>` on `127.0.0.1:<port>` with `Connection: close`.
pub(crate) fn check(port: u16, path: &str, timeout: Duration) -> HealthAnswer {
    match get(port, path, timeout) {
        Ok(raw) => parse_health(&raw),
        Err(error) => HealthAnswer::Unreachable(format!("request failed: {error}")),
    }
}

fn get(port: u16, path: &str, timeout: Duration) -> std::io::Result<Vec<u8>> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    // The backend rejects any Host other than 127.0.0.1:<port> or localhost:<port> (API.md).
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::with_capacity(1024);
    stream
        .take(MAX_RESPONSE_BYTES as u64)
        .read_to_end(&mut raw)?;
    Ok(raw)
}

/// Interprets a raw HTTP/1.x response.
pub(crate) fn parse_health(raw: &[u8]) -> HealthAnswer {
    let Some(header_end) = raw.windows(4).position(|window| window == b"\r\n\r\n") else {
        return HealthAnswer::NotYet("incomplete HTTP response".into());
    };
    let head = String::from_utf8_lossy(&raw[..header_end]);
    let mut body = &raw[header_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse::<u16>().ok());
    let Some(status) = status else {
        return HealthAnswer::NotYet(format!("not an HTTP response: {status_line:?}"));
    };
    if status != 200 {
        return HealthAnswer::NotYet(format!("HTTP {status}"));
    }
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            if let Ok(length) = value.parse::<usize>() {
                body = &body[..length.min(body.len())];
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.eq_ignore_ascii_case("chunked")
        {
            chunked = true;
        }
    }
    let decoded;
    if chunked {
        match decode_chunked(body) {
            Some(bytes) => decoded = bytes,
            None => return HealthAnswer::NotYet("malformed chunked body".into()),
        }
        body = &decoded;
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(json) if json.is_object() => HealthAnswer::Ok {
            launch_id: json
                .get("launch_id")
                .and_then(|value| value.as_str())
                .map(str::to_owned),
        },
        _ => HealthAnswer::NotYet("HTTP 200 without a JSON object".into()),
    }
}

fn decode_chunked(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|window| window == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(id: Option<&str>) -> HealthAnswer {
        HealthAnswer::Ok {
            launch_id: id.map(str::to_owned),
        }
    }

    #[test]
    fn parses_health_responses() {
        let not_yet = |reason: &str| HealthAnswer::NotYet(reason.to_owned());
        for (raw, expected) in [
            (
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 47\r\n\r\n{\"status\":\"ok\",\"version\":\"0\",\"launch_id\":\"ab\"}",
                ok(Some("ab")),
            ),
            (
                "HTTP/1.0 200 OK\r\n\r\n{\"status\":\"ok\",\"launch_id\":null}",
                ok(None),
            ),
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 17\r\n\r\n{\"launch_id\":\"x\"}trailing",
                ok(Some("x")),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"lau\r\nc\r\nnch_id\":\"z\"}\r\n0\r\n\r\n",
                ok(Some("z")),
            ),
            ("HTTP/1.1 503 Service Unavailable\r\n\r\nstarting", not_yet("HTTP 503")),
            ("HTTP/1.1 200 OK\r\n\r\n<html>", not_yet("HTTP 200 without a JSON object")),
            ("HTTP/1.1 200 OK\r\n\r\n[1]", not_yet("HTTP 200 without a JSON object")),
            ("SSH-2.0-OpenSSH\r\n\r\n", not_yet("not an HTTP response: \"SSH-2.0-OpenSSH\"")),
            ("HTTP/1.1 200 OK\r\nContent-Le", not_yet("incomplete HTTP response")),
        ] {
            assert_eq!(parse_health(raw.as_bytes()), expected, "{raw:?}");
        }
    }

    #[test]
    fn talks_to_a_real_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut connection, _) = listener.accept().unwrap();
            let mut request = [0u8; 1024];
            let n = connection.read(&mut request).unwrap();
            let body = "{\"status\":\"ok\",\"launch_id\":\"feed\"}";
            write!(
                connection,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            String::from_utf8_lossy(&request[..n]).into_owned()
        });
        let answer = check(port, "/health", Duration::from_secs(5));
        let request = server.join().unwrap();
        assert_eq!(answer, ok(Some("feed")));
        assert!(request.starts_with("GET /health HTTP/1.1\r\n"), "{request}");
        assert!(
            request.contains(&format!("Host: 127.0.0.1:{port}\r\n")),
            "{request}"
        );
    }

    #[test]
    fn a_closed_port_is_not_yet() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let answer = check(port, "/health", Duration::from_secs(1));
        assert!(matches!(answer, HealthAnswer::Unreachable(_)), "{answer:?}");
    }
}
