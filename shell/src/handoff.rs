//! The token hand-off: mint a one-time launch code with the token, build the URL to open.
//!
//! The token goes only into a request header on loopback; the window URL carries the
//! single-use code in its fragment, which browsers never send to the server (API.md).
//! One small HTTP/1.1 request over `std::net` keeps an HTTP client out of the shell binary.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use runtime_spec::launch::{LAUNCH_CODE_PATH, TOKEN_HEADER};

const TIMEOUT: Duration = Duration::from_secs(10);
/// A launch-code answer is a few dozen bytes; anything much larger is not our backend.
const MAX_RESPONSE_BYTES: u64 = 64 * 1024;

/// Asks the backend on `port` for a launch code. Errors are plain sentences.
pub fn mint_launch_code(port: u16, token: &str) -> Result<String, String> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, TIMEOUT)
        .map_err(|error| format!("could not reach the engine on port {port} ({error})"))?;
    stream.set_read_timeout(Some(TIMEOUT)).ok();
    stream.set_write_timeout(Some(TIMEOUT)).ok();
    let request = format!(
        "POST {LAUNCH_CODE_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{TOKEN_HEADER}: {token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|error| format!("could not ask the engine for a session ({error})"))?;
    let mut response = Vec::new();
    stream
        .take(MAX_RESPONSE_BYTES)
        .read_to_end(&mut response)
        .map_err(|error| format!("the engine did not answer the session request ({error})"))?;
    parse_launch_code_response(&response)
}

/// Pulls `code` out of a raw `200`/`201` answer (plain or chunked body).
pub fn parse_launch_code_response(response: &[u8]) -> Result<String, String> {
    let text = String::from_utf8_lossy(response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("the engine sent an incomplete answer to the session request")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|status| status.parse::<u16>().ok())
        .ok_or("the engine sent an unreadable answer to the session request")?;
    if !(200..300).contains(&status) {
        return Err(format!(
            "the engine refused to open a session (HTTP {status})"
        ));
    }
    let chunked = head.lines().any(|line| {
        line.to_ascii_lowercase().starts_with("transfer-encoding:")
            && line.to_ascii_lowercase().contains("chunked")
    });
    let json = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    #[derive(serde::Deserialize)]
    struct LaunchCode {
        code: String,
    }
    let parsed: LaunchCode = serde_json::from_str(json.trim())
        .map_err(|_| "the engine's session answer had no launch code".to_owned())?;
    // The code goes into a URL fragment: refuse anything that would need escaping.
    if parsed.code.is_empty()
        || !parsed
            .code
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
    {
        return Err("the engine's launch code has unexpected characters".into());
    }
    Ok(parsed.code)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size_line, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// The address the window opens: the sidecar origin with the code in the fragment.
pub fn launch_url(sidecar_url: &str, code: &str) -> String {
    format!("{}/#launch={code}", sidecar_url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_answers() {
        for (raw, expected) in [
            (
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{\"code\":\"abc_DEF-1\",\"expires_in\":60}",
                Ok("abc_DEF-1"),
            ),
            (
                "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\na\r\n{\"code\":\"x\r\n2\r\n\"}\r\n0\r\n\r\n",
                Ok("x"),
            ),
            ("HTTP/1.1 401 Unauthorized\r\n\r\n{}", Err("HTTP 401")),
            ("HTTP/1.1 200 OK\r\n\r\n{\"code\":\"a b\"}", Err("unexpected characters")),
            ("HTTP/1.1 200 OK\r\n\r\n{}", Err("no launch code")),
            ("garbage", Err("incomplete")),
        ] {
            let parsed = parse_launch_code_response(raw.as_bytes());
            match (parsed, expected) {
                (Ok(code), Ok(want)) => assert_eq!(code, want),
                (Err(message), Err(want)) => assert!(message.contains(want), "{message}"),
                (got, want) => panic!("{raw:?}: {got:?} vs {want:?}"),
            }
        }
    }

    #[test]
    fn the_code_goes_in_the_fragment() {
        assert_eq!(
            launch_url("http://127.0.0.1:5000/", "c0de"),
            "http://127.0.0.1:5000/#launch=c0de"
        );
    }
}
