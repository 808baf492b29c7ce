//! The engine's health endpoint: one GET on loopback, answered with a small JSON object.

use std::io::Read;
use std::time::Duration;

use crate::loopback;

/// Larger answers are not a health response; stop reading there.
const MAX_RESPONSE_BYTES: u64 = 64 * 1024;

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

/// Health requests of one launch attempt, over one loopback client.
pub(crate) struct HealthProbe {
    client: Result<reqwest::blocking::Client, String>,
}

impl HealthProbe {
    /// `max_timeout` bounds every request; [`HealthProbe::check`] may ask for less.
    pub(crate) fn new(max_timeout: Duration) -> HealthProbe {
        HealthProbe {
            client: loopback::client(max_timeout).map_err(|error| {
                format!(
                    "the HTTP client could not be set up ({})",
                    loopback::error_chain(&error)
                )
            }),
        }
    }

    /// `GET <path>` on `127.0.0.1:<port>`, connecting and answering within `timeout`.
    pub(crate) fn check(&self, port: u16, path: &str, timeout: Duration) -> HealthAnswer {
        let client = match &self.client {
            Ok(client) => client,
            Err(problem) => return HealthAnswer::Unreachable(problem.clone()),
        };
        let sent = client
            .get(loopback::url(port, path))
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(timeout)
            .send();
        let response = match sent {
            Ok(response) => response,
            Err(error) if loopback::is_unreachable(&error) => {
                return HealthAnswer::Unreachable(format!(
                    "request failed: {}",
                    loopback::error_chain(&error)
                ))
            }
            // Something answered, but not in HTTP (another service on the port).
            Err(error) => {
                return HealthAnswer::NotYet(format!(
                    "not an HTTP response ({})",
                    loopback::error_chain(&error)
                ))
            }
        };
        let status = response.status().as_u16();
        if status != 200 {
            return HealthAnswer::NotYet(format!("HTTP {status}"));
        }
        let mut body = Vec::with_capacity(1024);
        if let Err(error) = response.take(MAX_RESPONSE_BYTES).read_to_end(&mut body) {
            return HealthAnswer::Unreachable(format!(
                "request failed: {}",
                loopback::error_chain(&error)
            ));
        }
        parse_health_body(&body)
    }
}

/// Interprets the body of a 200 answer.
fn parse_health_body(body: &[u8]) -> HealthAnswer {
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

#[cfg(test)]
mod tests {

    use super::*;

    fn ok(id: Option<&str>) -> HealthAnswer {
        HealthAnswer::Ok {
            launch_id: id.map(str::to_owned),
        }
    }

    #[test]
    fn interprets_answers_off_a_real_socket() {
        let not_yet = |reason: &str| HealthAnswer::NotYet(reason.to_owned());
        let probe = HealthProbe::new(Duration::from_secs(5));
        for (raw, expected) in [
            (
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 46\r\n\r\n{\"status\":\"ok\",\"version\":\"0\",\"launch_id\":\"ab\"}",
                ok(Some("ab")),
            ),
            (
                "HTTP/1.0 200 OK\r\n\r\n{\"status\":\"ok\",\"launch_id\":null}",
                ok(None),
            ),
            // Bytes past Content-Length are not part of the body.
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 17\r\n\r\n{\"launch_id\":\"x\"}trailing",
                ok(Some("x")),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"lau\r\nc\r\nnch_id\":\"z\"}\r\n0\r\n\r\n",
                ok(Some("z")),
            ),
            ("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 8\r\n\r\nstarting", not_yet("HTTP 503")),
            // No redirect is followed: the engine never sends one.
            ("HTTP/1.1 302 Found\r\nLocation: http://example.invalid/\r\nContent-Length: 0\r\n\r\n", not_yet("HTTP 302")),
            ("HTTP/1.0 200 OK\r\n\r\n<html>", not_yet("HTTP 200 without a JSON object")),
            ("HTTP/1.0 200 OK\r\n\r\n[1]", not_yet("HTTP 200 without a JSON object")),
        ] {
            let (port, server) = test_support::http::serve_raw_once(raw);
            let answer = probe.check(port, "/health", Duration::from_secs(5));
            let request = server.join().unwrap();
            assert_eq!(answer, expected, "{raw:?}");
            assert!(request.starts_with("GET /health HTTP/1.1\r\n"), "{request}");
            let lower = request.to_ascii_lowercase();
            assert!(
                lower.contains(&format!("\r\nhost: 127.0.0.1:{port}\r\n")),
                "{request}"
            );
            assert!(lower.contains("\r\naccept: application/json\r\n"), "{request}");
        }
    }

    #[test]
    fn a_server_speaking_another_protocol_is_not_yet() {
        let probe = HealthProbe::new(Duration::from_secs(5));
        let (port, server) = test_support::http::serve_raw_once("SSH-2.0-OpenSSH\r\n\r\n");
        let answer = probe.check(port, "/health", Duration::from_secs(5));
        server.join().unwrap();
        match answer {
            HealthAnswer::NotYet(problem) => {
                assert!(problem.starts_with("not an HTTP response ("), "{problem}")
            }
            other => panic!("{other:?}"),
        }
    }

    /// reqwest reads `HTTP_PROXY` and friends when a client is built; a loopback client must
    /// ignore them. The environment is process-wide, so the check runs in a child process of
    /// this test binary running only itself.
    #[test]
    fn a_proxy_in_the_environment_is_not_used_for_loopback() {
        if !test_support::in_own_process(
            "health::tests::a_proxy_in_the_environment_is_not_used_for_loopback",
        ) {
            return;
        }
        // A proxy that would answer for the engine if the client went through it.
        let (proxy_port, _proxy) = test_support::http::serve_raw_once(
            "HTTP/1.1 200 OK\r\nContent-Length: 23\r\n\r\n{\"launch_id\":\"proxied\"}",
        );
        let proxy = format!("http://127.0.0.1:{proxy_port}");
        for name in ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
            std::env::set_var(name, &proxy);
        }
        for name in ["NO_PROXY", "no_proxy"] {
            std::env::remove_var(name);
        }
        let (port, server) = test_support::http::serve_raw_once(
            "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n{\"launch_id\":\"ours\"}",
        );
        let probe = HealthProbe::new(Duration::from_secs(5));
        assert_eq!(
            probe.check(port, "/health", Duration::from_secs(5)),
            ok(Some("ours"))
        );
        server.join().unwrap();
    }

    #[test]
    fn a_closed_port_is_unreachable() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let answer =
            HealthProbe::new(Duration::from_secs(1)).check(port, "/health", Duration::from_secs(1));
        match answer {
            HealthAnswer::Unreachable(problem) => {
                assert!(problem.starts_with("request failed: "), "{problem}");
                // The cause, not only reqwest's "error sending request".
                assert!(
                    problem.to_ascii_lowercase().contains("refused"),
                    "{problem}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_silent_server_times_out_as_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let probe = HealthProbe::new(Duration::from_secs(5));
        let started = std::time::Instant::now();
        let answer = probe.check(port, "/health", Duration::from_millis(300));
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
        assert!(matches!(answer, HealthAnswer::Unreachable(_)), "{answer:?}");
        drop(listener);
    }
}
