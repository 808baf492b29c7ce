//! A real HTTP/1.1 server on loopback for download tests: serves fixed bodies and faults.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// How the server answers one path.
#[derive(Clone)]
pub enum Reply {
    /// 200 with the body.
    Body(Vec<u8>),
    /// 200 announcing the full length but closing after half the body.
    Truncated(Vec<u8>),
    /// A bare status code.
    Status(u16),
}

/// A running server; requests are counted per path.
pub struct Server {
    pub port: u16,
    pub hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl Server {
    pub fn start(routes: Vec<(&str, Reply)>) -> Server {
        let routes: Vec<(String, Reply)> = routes
            .into_iter()
            .map(|(path, reply)| (path.to_owned(), reply))
            .collect();
        Server::start_with(move |_| routes)
    }

    /// Like [`Server::start`], for bodies that name the server's own URL: `routes` gets the port.
    pub fn start_with(routes: impl FnOnce(u16) -> Vec<(String, Reply)>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let routes: HashMap<String, Reply> = routes(port).into_iter().collect();
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                        break;
                    }
                }
                let path = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .to_owned();
                *counter.lock().unwrap().entry(path.clone()).or_default() += 1;
                let _ = match routes.get(&path).cloned().unwrap_or(Reply::Status(404)) {
                    Reply::Body(body) => {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        stream
                            .write_all(head.as_bytes())
                            .and_then(|_| stream.write_all(&body))
                    }
                    Reply::Truncated(body) => {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        stream
                            .write_all(head.as_bytes())
                            .and_then(|_| stream.write_all(&body[..body.len() / 2]))
                    }
                    Reply::Status(code) => {
                        let head = format!("HTTP/1.1 {code} Fault\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                        stream.write_all(head.as_bytes())
                    }
                };
            }
        });
        Server { port, hits }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}
