//! The token hand-off: mint a one-time launch code with the token, build the URL to open.
//!
//! The token goes only into a request header on loopback; the window URL carries the
//! single-use code in its fragment, which browsers never send to the server (API.md).

use std::io::Read;
use std::time::Duration;

use runtime_spec::launch::LAUNCH_CODE_PATH;
use supervisor::loopback;

const TIMEOUT: Duration = Duration::from_secs(10);
/// A launch-code answer is a few dozen bytes; anything much larger is not our engine.
const MAX_RESPONSE_BYTES: u64 = 64 * 1024;

/// Asks the engine on `port` for a launch code. Errors are plain sentences.
pub fn mint_launch_code(port: u16, token: &str) -> Result<String, String> {
    let client = loopback::client(TIMEOUT).map_err(|error| {
        format!(
            "could not ask the engine for a session ({})",
            loopback::error_chain(&error)
        )
    })?;
    let response = client
        .post(loopback::url(port, LAUNCH_CODE_PATH))
        .header(crate::app().token_header(), token)
        .body(Vec::new())
        .send()
        .map_err(|error| {
            let cause = loopback::error_chain(&error);
            if error.is_connect() {
                format!("could not reach the engine on port {port} ({cause})")
            } else {
                format!("the engine did not answer the session request ({cause})")
            }
        })?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(format!(
            "the engine refused to open a session (HTTP {status})"
        ));
    }
    let mut body = Vec::new();
    response
        .take(MAX_RESPONSE_BYTES)
        .read_to_end(&mut body)
        .map_err(|error| {
            format!(
                "the engine did not answer the session request ({})",
                loopback::error_chain(&error)
            )
        })?;
    parse_launch_code(&body)
}

/// Pulls `code` out of the body of a `2xx` answer.
fn parse_launch_code(body: &[u8]) -> Result<String, String> {
    #[derive(serde::Deserialize)]
    struct LaunchCode {
        code: String,
    }
    let parsed: LaunchCode = serde_json::from_slice(body)
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

/// The address the window opens: the engine origin with the code in the fragment.
pub fn launch_url(engine_url: &str, code: &str) -> String {
    format!("{}/#launch={code}", engine_url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn mints_codes_over_loopback() {
        for (raw, expected) in [
            (
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 36\r\n\r\n{\"code\":\"abc_DEF-1\",\"expires_in\":60}",
                Ok("abc_DEF-1"),
            ),
            (
                "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\na\r\n{\"code\":\"x\r\n2\r\n\"}\r\n0\r\n\r\n",
                Ok("x"),
            ),
            // The body ends where Content-Length says, whatever follows on the connection.
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n{\"code\":\"y\"}{\"code\":\"evil\"}",
                Ok("y"),
            ),
            ("HTTP/1.1 401 Unauthorized\r\ncontent-length: 2\r\n\r\n{}", Err("refused to open a session (HTTP 401)")),
            ("HTTP/1.1 200 OK\r\ncontent-length: 14\r\n\r\n{\"code\":\"a b\"}", Err("unexpected characters")),
            ("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}", Err("no launch code")),
            ("garbage\r\n\r\n", Err("did not answer the session request")),
        ] {
            let (port, server) = test_support::http::serve_raw_once(raw);
            let minted = mint_launch_code(port, "t0ken");
            let request = server.join().unwrap();
            match (minted, expected) {
                (Ok(code), Ok(want)) => assert_eq!(code, want),
                (Err(message), Err(want)) => assert!(message.contains(want), "{message}"),
                (got, want) => panic!("{raw:?}: {got:?} vs {want:?}"),
            }
            assert!(
                request.starts_with(&format!("POST {LAUNCH_CODE_PATH} HTTP/1.1\r\n")),
                "{request}"
            );
            let lower = request.to_ascii_lowercase();
            assert!(lower.contains(&format!("\r\nhost: 127.0.0.1:{port}\r\n")), "{request}");
            assert!(
                lower.contains(&format!("\r\n{}: t0ken\r\n", crate::app().token_header().to_ascii_lowercase())),
                "{request}"
            );
            assert!(lower.contains("\r\ncontent-length: 0\r\n"), "{request}");
        }
    }

    #[test]
    fn a_closed_port_is_named() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let message = mint_launch_code(port, "t").unwrap_err();
        assert!(
            message.starts_with(&format!("could not reach the engine on port {port} (")),
            "{message}"
        );
    }

    #[test]
    fn the_code_goes_in_the_fragment() {
        assert_eq!(
            launch_url("http://127.0.0.1:5000/", "c0de"),
            "http://127.0.0.1:5000/#launch=c0de"
        );
    }
}
