//! The shell's own updates through Tauri's updater plugin: at start, in the
//! background, fetch `latest-<channel>.json` from the release base URL built in, download the
//! installer for the kind of package this binary came from, verify its minisign signature
//! with the same key the runtime index uses (and the version it was signed for), and keep it
//! in memory; it is installed when the app closes, so a running session is never swapped out.
//!
//! The package kind is the marker `cargo xtask release` stamps into each installer's binary
//! (`xtask/src/package.rs`); an unstamped binary (a `cargo build`, the E2E tests' binary) is
//! not updated, because it was not installed by a package that could be replaced.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tauri::{AppHandle, Manager, Url};
use tauri_plugin_updater::UpdaterExt as _;

use crate::app::{self, Shell};
use crate::runtime_update;

/// Id of the banner that announces a downloaded shell update over the UI.
pub const NOTICE_ID: &str = "shell-update-notice";
/// How long one request of the check or the download may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A verified installer waiting for the app to close.
pub struct ReadyUpdate {
    update: tauri_plugin_updater::Update,
    bytes: Vec<u8>,
}

/// The shell-update state `manage()`d next to [`Shell`].
#[derive(Default)]
pub struct ShellUpdates {
    ready: Mutex<Option<ReadyUpdate>>,
    notice: Mutex<Option<String>>,
}

impl ShellUpdates {
    /// The sentence shown over the UI once an update is ready, if one is.
    pub fn notice(&self) -> Option<String> {
        self.notice
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The updater plugin, with the update key built into this binary (Tauri's form of it).
pub fn plugin<R: tauri::Runtime>() -> tauri::plugin::TauriPlugin<R, tauri_plugin_updater::Config> {
    tauri_plugin_updater::Builder::new()
        .pubkey(
            crate::built_in::update_key()
                .map(|key| key.tauri_form())
                .unwrap_or_default(),
        )
        .build()
}

/// Where this build looks for newer shells: the override, else
/// `<base>/latest-<channel>.json` from the build, else nowhere. `Err` says why a URL is refused.
pub fn endpoint() -> Result<Option<Url>, String> {
    endpoint_from(
        // This binary is the primary app's: its shell updates are that app's, whichever app
        // the process opened.
        &crate::carried()[0].release_url(),
        crate::built_in::channel_name(),
        // The app's `<PREFIX>_SHELL_UPDATE_URL` overrides where the shell looks for
        // `latest-<channel>.json` (tests, mirrors). Only the URL: the key stays the one built in.
        std::env::var(crate::app().var(runtime_spec::env::SHELL_UPDATE_URL)).ok(),
    )
}

fn endpoint_from(
    base_url: &str,
    channel: &str,
    override_url: Option<String>,
) -> Result<Option<Url>, String> {
    let text = match override_url.filter(|url| !url.trim().is_empty()) {
        Some(url) => url.trim().to_owned(),
        None if base_url.trim().is_empty() => return Ok(None),
        None => {
            let channel: runtime_spec::Channel = channel
                .parse()
                .map_err(|error| format!("this build's channel: {error}"))?;
            format!(
                "{}/{}",
                base_url.trim().trim_end_matches('/'),
                runtime_spec::layout::shell_update_manifest_name(channel)
            )
        }
    };
    let url = Url::parse(&text).map_err(|error| format!("`{text}` is not a URL: {error}"))?;
    if !transport_allowed(&url) {
        return Err(format!(
            "`{url}` is refused: shell updates come over https (plain http only from this computer)"
        ));
    }
    Ok(Some(url))
}

/// https anywhere; plain http only from a loopback address (tests, a local mirror), the rule
/// runtime downloads follow too. The installer's signature is checked either way; this keeps
/// a network from withholding or watching updates. (The plugin's
/// `dangerousInsecureTransportProtocol` is on so that this rule, not the plugin's blanket
/// https-only one, decides.)
pub use runtime_archive::url_policy::transport_allowed;

/// Starts the background check (once, at start; off with the same setting as runtime
/// updates). Never blocks the UI and never fails the app: every outcome is one log line.
pub fn check_in_background(app: &AppHandle) {
    let shell = Arc::clone(&app.state::<Arc<Shell>>());
    if !runtime_update::background_check_enabled(&shell.data_root) {
        return;
    }
    let endpoint = match endpoint() {
        Ok(Some(endpoint)) => endpoint,
        Ok(None) => {
            shell.log.line("this build has no shell update source");
            return;
        }
        Err(why) => {
            shell.log.line(&format!("shell updates are off: {why}"));
            return;
        }
    };
    if crate::built_in::update_key().is_none() {
        shell
            .log
            .line("shell updates are off: this build has no update key");
        return;
    }
    let Some(kind) = tauri::utils::platform::bundle_type() else {
        shell
            .log
            .line("shell updates are off: this binary was not installed from one of our packages");
        return;
    };
    let app = app.clone();
    app::spawn_named("shell-update", move || {
        shell.log.line(&format!(
            "shell update check: {endpoint} ({kind:?} install)"
        ));
        match check_and_download(&app, &endpoint) {
            Ok(None) => shell.log.line(&format!(
                "shell update check: {} is the newest",
                env!("CARGO_PKG_VERSION")
            )),
            Ok(Some(ready)) => {
                let version = ready.update.version.clone();
                shell.log.line(&format!(
                    "shell update {version}: downloaded and verified; it is installed when the app closes"
                ));
                let updates = app.state::<ShellUpdates>();
                let notice = ready_notice(&version);
                *updates.ready.lock().unwrap_or_else(|p| p.into_inner()) = Some(ready);
                *updates.notice.lock().unwrap_or_else(|p| p.into_inner()) = Some(notice.clone());
                // The UI may be up already: show the sentence now (else on its page load).
                if let Some(window) = app.get_webview_window(app::MAIN_WINDOW) {
                    let on_ui = window
                        .url()
                        .ok()
                        .and_then(|url| app::origin_of(&url))
                        .is_some_and(|origin| shell.is_engine_origin(&origin));
                    if on_ui {
                        let _ =
                            window.eval(runtime_update::notice_banner_script(NOTICE_ID, &notice));
                    }
                }
            }
            Err(error) => shell
                .log
                .line(&format!("shell update check failed: {error}")),
        }
    });
}

fn ready_notice(version: &str) -> String {
    let password = if cfg!(target_os = "linux") {
        " (your computer may ask for your password)"
    } else {
        ""
    };
    format!(
        "{} {version} is ready: it is installed when you close the app{password}.",
        crate::app().product_name
    )
}

/// The check and the download (which verifies the signature and the signed version).
fn check_and_download(app: &AppHandle, endpoint: &Url) -> Result<Option<ReadyUpdate>, String> {
    let updater = app
        .updater_builder()
        .endpoints(vec![endpoint.clone()])
        .and_then(|builder| builder.timeout(REQUEST_TIMEOUT).build())
        .map_err(|error| error.to_string())?;
    let Some(update) =
        tauri::async_runtime::block_on(updater.check()).map_err(|error| error.to_string())?
    else {
        return Ok(None);
    };
    if !transport_allowed(&update.download_url) {
        return Err(format!(
            "{} {} is refused: shell updates come over https (plain http only from this computer)",
            update.version, update.download_url
        ));
    }
    let bytes = tauri::async_runtime::block_on(update.download(|_, _| {}, || {}))
        .map_err(|error| format!("{} from {}: {error}", update.version, update.download_url))?;
    Ok(Some(ReadyUpdate { update, bytes }))
}

/// At exit, after the engine stopped: installs the update that is ready, if any. Linux runs
/// the package manager (pkexec or sudo asks for a password), macOS swaps the `.app`, Windows
/// starts the installer, which replaces the app once this process is gone.
pub fn install_if_ready(app: &AppHandle) {
    let Some(updates) = app.try_state::<ShellUpdates>() else {
        return;
    };
    let Some(ready) = updates
        .ready
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    else {
        return;
    };
    let shell = app.state::<Arc<Shell>>();
    let version = ready.update.version.clone();
    shell
        .log
        .line(&format!("installing shell update {version}"));
    match ready.update.install(&ready.bytes) {
        Ok(()) => shell.log.line(&format!(
            "shell update {version} installed; it starts the next time the app opens"
        )),
        Err(error) => shell.log.line(&format!(
            "shell update {version} could not be installed: {error}; the next start checks again"
        )),
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn endpoint_from_base_url_or_override() {
        assert_eq!(endpoint_from("", "beta", None), Ok(None));
        assert_eq!(
            endpoint_from("https://r.example/dl/", "beta", None)
                .unwrap()
                .unwrap()
                .as_str(),
            "https://r.example/dl/latest-beta.json"
        );
        let overridden = endpoint_from(
            "https://r.example/dl",
            "beta",
            Some("http://127.0.0.1:9/latest-beta.json".into()),
        );
        assert_eq!(
            overridden.unwrap().unwrap().as_str(),
            "http://127.0.0.1:9/latest-beta.json"
        );
        // An empty override is no override.
        assert!(endpoint_from("https://r.example", "dev", Some(" ".into()))
            .unwrap()
            .is_some());
        for refused in [
            "http://r.example/latest-dev.json",
            "ftp://127.0.0.1/x",
            "not a url",
        ] {
            let error = endpoint_from("", "dev", Some(refused.into())).unwrap_err();
            assert!(error.contains(refused), "{error}");
        }
        assert!(endpoint_from("http://updates.example", "stable", None).is_err());
    }

    #[test]
    fn plain_http_only_from_this_computer() {
        for (url, allowed) in [
            ("https://updates.example/x", true),
            ("http://127.0.0.1:8000/x", true),
            ("http://127.8.9.1/x", true),
            ("http://[::1]:8000/x", true),
            ("http://localhost:8000/x", true),
            ("http://LOCALHOST/x", true),
            ("http://192.168.1.2/x", false),
            ("http://localhost.evil.example/x", false),
            ("http://updates.example/x", false),
            ("file:///tmp/x", false),
        ] {
            assert_eq!(
                transport_allowed(&Url::parse(url).unwrap()),
                allowed,
                "{url}"
            );
        }
    }
}
