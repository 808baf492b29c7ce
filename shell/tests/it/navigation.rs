//! The window stays on the splash and the engine: a link, a server redirect and a
//! new-window link towards another loopback port all go to the OS opener instead, and that
//! server never sees a request (so never the session cookie, which is not port-scoped).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use test_support::http::Server;

use crate::support::{self, SHELL_EXE};
use crate::webdriver::Session;

const UI_TIMEOUT: Duration = Duration::from_secs(120);

/// A hard-linked copy of `runtime` whose engine has one extra route, `GET /test-redirect?to=
/// <url>`, answering 302 to `<url>`: the real engine redirects nowhere, and the guard must
/// hold for a redirect from the trusted origin too. The route is added in a replaced
/// `__main__.py` (a new file, not an edit of the hard link), before the app is served.
fn redirecting_runtime(runtime: &Path, into: &Path) -> PathBuf {
    let copy = into.join("runtime-redirecting");
    support::linked_copy(runtime, &copy);
    let main = copy.join("app").join("app").join("__main__.py");
    std::fs::remove_file(&main).unwrap();
    std::fs::write(
        &main,
        r#"import sys

from starlette.responses import RedirectResponse
from starlette.routing import Route

import app.server as server

_create_app = server.create_app


def _with_redirect(*args, **kwargs):
    api = _create_app(*args, **kwargs)

    async def redirect(request):
        return RedirectResponse(request.query_params["to"], status_code=302)

    api.router.routes.insert(0, Route("/test-redirect", redirect))
    return api


server.create_app = _with_redirect
sys.exit(server.main())
"#,
    )
    .unwrap();
    let cache = copy.join("app").join("app").join("__pycache__");
    for entry in std::fs::read_dir(&cache).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with("__main__.") {
            std::fs::remove_file(entry.path()).unwrap();
        }
    }
    copy
}

/// A stand-in for the OS opener (`xdg-open`) first on `PATH`: it records what the shell
/// handed it instead of starting a browser (a real one would fetch the page and spoil the
/// "no request reached the other server" check).
fn recording_opener(dir: &Path) -> (PathBuf, PathBuf) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let record = dir.join("opened.txt");
    let script = bin.join("xdg-open");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n",
            record.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (bin, record)
}

#[test]
fn other_local_servers_open_in_the_browser_not_in_the_window_recording_opener() {
    let Some(_serial) = support::slow_test() else {
        return;
    };
    let work = support::scratch("e2e-navigation");
    let runtime = redirecting_runtime(&support::runtime_dir(), work.path());
    let data = work.path().join("data");
    let (opener_bin, opened) = recording_opener(work.path());
    let path = format!(
        "{}:{}",
        opener_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // Another local web server, as a second app or a hostile one would run: 200 to everything,
    // each request recorded with its headers (the cookie among them).
    let other_server = Server::answering_any(b"hello".to_vec());
    let other_port = other_server.port();
    let display = support::display();
    let bus = support::session_bus();
    let driver = support::tauri_driver(
        &[
            ("TOKENIZER_STUDIO_RUNTIME_DIR", runtime.as_path()),
            ("TOKENIZER_STUDIO_DATA_DIR", data.as_path()),
            ("PATH", Path::new(&path)),
        ],
        &display,
        &bus,
    );
    let session = Session::start(&driver.url, Path::new(SHELL_EXE)).expect("WebDriver session");
    let opened_urls = || std::fs::read_to_string(&opened).unwrap_or_default();

    let result = (|| -> Result<(), String> {
        session.wait_for("[data-testid=datasets-screen]", None, UI_TIMEOUT)?;
        let ui_url = session.url()?;
        let origin = origin_of(&ui_url);
        assert!(origin.starts_with("http://127.0.0.1:"), "{ui_url}");
        let other = format!("http://127.0.0.1:{other_port}");

        // 1. A link in the page.
        session.execute(
            "const a = document.createElement('a');
             a.href = arguments[0]; a.textContent = 'elsewhere'; a.dataset.testid = 'elsewhere';
             document.body.prepend(a);",
            vec![json!(format!("{other}/from-link"))],
        )?;
        session.click(&session.wait_for("[data-testid=elsewhere]", None, UI_TIMEOUT)?)?;
        wait_for_opened(&opened_urls, &format!("{other}/from-link"))?;

        // 2. A server redirect from the engine's own origin to the other port.
        session.execute(
            "window.location.href = '/test-redirect?to=' + encodeURIComponent(arguments[0]);",
            vec![json!(format!("{other}/from-redirect"))],
        )?;
        wait_for_opened(&opened_urls, &format!("{other}/from-redirect"))?;

        // 3. A link to a new window: no second webview, the browser gets it. (A scripted
        // window.open without a click is already dropped by WebKit's popup blocking.)
        session.execute(
            "const a = document.createElement('a');
             a.href = arguments[0]; a.target = '_blank'; a.textContent = 'new window';
             a.dataset.testid = 'new-window';
             document.body.prepend(a);",
            vec![json!(format!("{other}/from-new-window"))],
        )?;
        session.click(&session.wait_for("[data-testid=new-window]", None, UI_TIMEOUT)?)?;
        wait_for_opened(&opened_urls, &format!("{other}/from-new-window"))?;

        // 4. Not a web address: never handed to the opener (WebKit itself already stops a
        // web page from opening a local file; the guard refuses it too, see its unit test).
        session.execute("window.location.href = 'file:///etc/hostname';", vec![])?;
        std::thread::sleep(Duration::from_millis(500));

        // The window is still on the engine, and the UI still works there.
        let now = session.url()?;
        assert_eq!(origin_of(&now), origin, "the window left the app: {now}");
        session.click(&session.wait_for("[data-testid=nav-new-training]", None, UI_TIMEOUT)?)?;
        let seen = other_server.requests();
        assert!(
            seen.is_empty(),
            "the other server must get no request (nor the session cookie): {seen:?}"
        );
        let urls = opened_urls();
        assert!(!urls.contains("file:"), "{urls}");
        Ok(())
    })();
    if let Err(error) = &result {
        let _ = session.screenshot(&support::artifacts_dir().join("navigation-failure.png"));
        panic!("{error}\nopened: {}", opened_urls());
    }
    session.end().expect("end the session");
}

fn origin_of(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..]
        .find('/')
        .map_or(url.len(), |i| after_scheme + i);
    url[..end].to_owned()
}

fn wait_for_opened(opened: &dyn Fn() -> String, url: &str) -> Result<(), String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if opened().lines().any(|line| line == url) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "{url} was not handed to the opener; it got: {:?}",
        opened()
    ))
}
