//! A minimal W3C WebDriver client (JSON over HTTP) for driving the shell through tauri-driver.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The W3C key under which an element reference travels.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

pub type Result<T> = std::result::Result<T, String>;

/// One WebDriver session = one launch of the shell.
pub struct Session {
    http: reqwest::blocking::Client,
    base: String,
}

/// An element reference of the current page.
#[derive(Clone, Debug)]
pub struct Element(pub String);

impl Session {
    /// Starts the app at `application` through the driver at `driver_url`.
    pub fn start(driver_url: &str, application: &Path) -> Result<Session> {
        Session::start_with_args(driver_url, application, &[])
    }

    /// [`Session::start`] with command-line arguments for the app.
    pub fn start_with_args(driver_url: &str, application: &Path, args: &[&str]) -> Result<Session> {
        let http = reqwest::blocking::Client::builder()
            // Generous for the new-session call (it starts the app); a stuck command fails.
            .timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| e.to_string())?;
        let body = json!({
            "capabilities": {
                "alwaysMatch": {
                    "tauri:options": { "application": application, "args": args }
                }
            }
        });
        let answer = send(
            &http,
            reqwest::Method::POST,
            &format!("{driver_url}/session"),
            Some(&body),
        )?;
        let id = answer["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no sessionId in {answer}"))?
            .to_owned();
        Ok(Session {
            http,
            base: format!("{driver_url}/session/{id}"),
        })
    }

    fn post(&self, path: &str, body: Value) -> Result<Value> {
        send(
            &self.http,
            reqwest::Method::POST,
            &format!("{}{path}", self.base),
            Some(&body),
        )
    }

    fn get(&self, path: &str) -> Result<Value> {
        send(
            &self.http,
            reqwest::Method::GET,
            &format!("{}{path}", self.base),
            None,
        )
    }

    /// Ends the session: the driver closes the app.
    pub fn end(self) -> Result<()> {
        send(&self.http, reqwest::Method::DELETE, &self.base, None).map(|_| ())
    }

    pub fn url(&self) -> Result<String> {
        Ok(self.get("/url")?.as_str().unwrap_or_default().to_owned())
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
    }

    /// Like [`Session::execute`], for a body that calls `arguments[arguments.length - 1]`.
    pub fn execute_async(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.post("/execute/async", json!({ "script": script, "args": args }))
    }

    /// All elements matching a CSS selector, optionally only those whose text contains `text`.
    pub fn find_all(&self, css: &str, text: Option<&str>) -> Result<Vec<Element>> {
        let found = self.execute(
            "const [css, text] = arguments;
             return [...document.querySelectorAll(css)]
               .filter((el) => text === null || el.textContent.includes(text));",
            vec![json!(css), json!(text)],
        )?;
        Ok(found
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item[ELEMENT_KEY].as_str())
                    .map(|id| Element(id.to_owned()))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Waits until an element matches (and, with `text`, contains it).
    pub fn wait_for(&self, css: &str, text: Option<&str>, timeout: Duration) -> Result<Element> {
        let mut last: String;
        let deadline = Instant::now() + timeout;
        loop {
            match self.find_all(css, text) {
                Ok(found) if !found.is_empty() => return Ok(found[0].clone()),
                Ok(_) => last = "no match yet".into(),
                // Navigations briefly make the page unscriptable; keep polling.
                Err(error) => last = error,
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "timed out after {timeout:?} waiting for {css} {text:?}: {last}"
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    pub fn click(&self, element: &Element) -> Result<()> {
        self.post(&format!("/element/{}/click", element.0), json!({}))
            .map(|_| ())
    }

    pub fn clear(&self, element: &Element) -> Result<()> {
        self.post(&format!("/element/{}/clear", element.0), json!({}))
            .map(|_| ())
    }

    pub fn send_keys(&self, element: &Element, text: &str) -> Result<()> {
        self.post(
            &format!("/element/{}/value", element.0),
            json!({ "text": text }),
        )
        .map(|_| ())
    }

    pub fn text(&self, element: &Element) -> Result<String> {
        Ok(self
            .get(&format!("/element/{}/text", element.0))?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    pub fn attribute(&self, element: &Element, name: &str) -> Result<Option<String>> {
        Ok(self
            .get(&format!("/element/{}/attribute/{name}", element.0))?
            .as_str()
            .map(str::to_owned))
    }

    /// Saves a PNG of the window.
    pub fn screenshot(&self, path: &Path) -> Result<()> {
        use base64_decode::decode;
        // WebKit paints asynchronously: without waiting for two frames the capture can show
        // the page as it was before the last DOM change.
        self.execute_async(
            "const done = arguments[arguments.length - 1];
             let called = false;
             const finish = () => { if (!called) { called = true; done(true); } };
             requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(finish, 200)));
             setTimeout(finish, 1500);",
            vec![],
        )?;
        let data = self.get("/screenshot")?;
        let bytes = decode(data.as_str().unwrap_or_default())?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
    }
}

fn send(
    http: &reqwest::blocking::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<&Value>,
) -> Result<Value> {
    let mut request = http.request(method.clone(), url);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().map_err(|e| format!("{method} {url}: {e}"))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .map_err(|e| format!("{method} {url}: unreadable answer ({e})"))?;
    let answer: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{method} {url}: answer is not JSON ({e})"))?;
    let value = answer.get("value").cloned().unwrap_or(Value::Null);
    if !status.is_success() || value.get("error").is_some() {
        return Err(format!(
            "{method} {url}: {status} {}: {}",
            value["error"].as_str().unwrap_or("?"),
            value["message"].as_str().unwrap_or_default()
        ));
    }
    Ok(value)
}

/// Standard base64 (screenshots), so the tests need no extra crate.
mod base64_decode {
    pub fn decode(text: &str) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(text.len() * 3 / 4);
        let mut buffer = 0u32;
        let mut bits = 0;
        for byte in text.bytes() {
            let value = match byte {
                b'A'..=b'Z' => byte - b'A',
                b'a'..=b'z' => byte - b'a' + 26,
                b'0'..=b'9' => byte - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                b'=' | b'\n' | b'\r' => continue,
                other => return Err(format!("not base64: {other}")),
            };
            buffer = (buffer << 6) | u32::from(value);
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((buffer >> bits) as u8);
                buffer &= (1 << bits) - 1;
            }
        }
        Ok(out)
    }
}
