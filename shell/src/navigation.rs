//! Where the window may go: the bundled splash and the running engine, nothing else.
//!
//! The engine's session cookie is scoped to `127.0.0.1`, not to its port (browsers do not
//! scope cookies by port), so any other local server the window reached would receive it.
//! Every navigation of the window, links, scripts and server redirects alike (WebKit asks
//! for each redirect hop too), goes through [`decide`] before a request is sent. A web
//! address the window may not show is handed to the user's browser instead, where no
//! session of ours exists; anything else (files, other schemes) is refused.

use tauri::Url;

use crate::app::{origin_of, Shell};
use crate::opener;

/// The origins Tauri serves the bundled pages from: `tauri://localhost` on Linux and macOS,
/// `http(s)://tauri.localhost` on Windows. Only this app's own assets live there. Spelled as
/// [`origin_of`] spells them (with the scheme's default port).
const APP_ORIGINS: [&str; 3] = [
    "tauri://localhost",
    "http://tauri.localhost:80",
    "https://tauri.localhost:443",
];

/// What to do with one navigation of the main window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Navigation {
    /// The splash, or the engine's own origin.
    Allow,
    /// A web address elsewhere: the user's browser opens it, the window stays.
    OpenOutside,
    /// Not a web address (a file, `data:`, another scheme): nothing happens.
    Refuse,
}

/// The decision for `url` while `engine_origin` (`http://127.0.0.1:<port>`) is the running
/// engine's, if one runs.
pub fn decide(url: &Url, engine_origin: Option<&str>) -> Navigation {
    // WebKit's blank first page, before the splash loads; it reaches no server.
    if url.as_str() == "about:blank" {
        return Navigation::Allow;
    }
    let origin = origin_of(url);
    let allowed = origin
        .as_deref()
        .is_some_and(|origin| APP_ORIGINS.contains(&origin) || Some(origin) == engine_origin);
    if allowed {
        Navigation::Allow
    } else if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() {
        Navigation::OpenOutside
    } else {
        Navigation::Refuse
    }
}

/// The window's navigation handler: true lets the navigation happen.
pub fn guard(shell: &Shell, url: &Url) -> bool {
    match decide(url, shell.engine_origin().as_deref()) {
        Navigation::Allow => true,
        Navigation::OpenOutside => {
            shell.log.line(&format!("opening outside the app: {url}"));
            if let Err(error) = opener::open_url(url) {
                shell.log.line(&error);
            }
            false
        }
        Navigation::Refuse => {
            shell
                .log
                .line(&format!("refused to navigate the window to {url}"));
            false
        }
    }
}

/// The window's new-window handler (`target="_blank"`, `window.open`): no second webview
/// ever; a web address goes to the browser like any other the window may not show.
pub fn new_window(shell: &Shell, url: &Url) {
    if decide(url, None) == Navigation::Refuse {
        shell
            .log
            .line(&format!("refused to open a window for {url}"));
        return;
    }
    if matches!(url.scheme(), "http" | "https") {
        shell.log.line(&format!("opening outside the app: {url}"));
        if let Err(error) = opener::open_url(url) {
            shell.log.line(&error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_splash_and_the_running_engine_stay_in_the_window() {
        let engine = Some("http://127.0.0.1:4000");
        for (url, running, expected) in [
            ("tauri://localhost/index.html", engine, Navigation::Allow),
            ("http://tauri.localhost/index.html", None, Navigation::Allow),
            ("about:blank", None, Navigation::Allow),
            (
                "http://127.0.0.1:4000/#launch=code",
                engine,
                Navigation::Allow,
            ),
            ("http://127.0.0.1:4000/jobs/1", engine, Navigation::Allow),
            // Another local server: it would get the session cookie.
            ("http://127.0.0.1:4001/", engine, Navigation::OpenOutside),
            ("http://localhost:4000/", engine, Navigation::OpenOutside),
            ("https://127.0.0.1:4000/", engine, Navigation::OpenOutside),
            // The engine is gone (crash screen): its origin is no longer trusted.
            ("http://127.0.0.1:4000/", None, Navigation::OpenOutside),
            (
                "https://huggingface.co/docs",
                engine,
                Navigation::OpenOutside,
            ),
            ("file:///etc/passwd", engine, Navigation::Refuse),
            ("data:text/html,<p>hi</p>", engine, Navigation::Refuse),
            ("javascript:alert(1)", engine, Navigation::Refuse),
            ("tauri://evil/index.html", engine, Navigation::Refuse),
        ] {
            let decision = decide(&Url::parse(url).unwrap(), running);
            assert_eq!(decision, expected, "{url} with engine {running:?}");
        }
    }
}
