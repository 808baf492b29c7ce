//! The HTTP client for requests to the engine on `127.0.0.1`: the health check here, the
//! shell's launch-code hand-off.
//!
//! reqwest's blocking client, the one every crate of the workspace already links for downloads,
//! set up for loopback: no proxy (reqwest honours `HTTP_PROXY`/`ALL_PROXY`, and a proxy cannot
//! reach this machine's loopback), no redirects (the engine never redirects these requests,
//! so a redirect means another server), and one timeout for connecting and for each read.

use std::time::Duration;

/// A client for requests to `127.0.0.1`; `timeout` bounds the connection and then the wait for
/// the answer.
pub fn client(timeout: Duration) -> Result<reqwest::blocking::Client, reqwest::Error> {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .timeout(timeout)
        .build()
}

/// `http://127.0.0.1:<port><path>`. The engine accepts only the Host `127.0.0.1:<port>` or
/// `localhost:<port>`, and reqwest sends exactly the URL's host and port.
pub fn url(port: u16, path: &str) -> String {
    format!("http://127.0.0.1:{port}{path}")
}

/// reqwest's own message ("error sending request for url (…)") hides the cause: the whole
/// chain, joined by `: `.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // hyper and reqwest repeat their cause inside their message now and then.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Whether the request never reached a server: refused, unreachable, or no answer in time.
pub fn is_unreachable(error: &reqwest::Error) -> bool {
    error.is_connect() || error.is_timeout()
}
