//! The shell's side of runtime installs and updates: the update source built into
//! this binary, the background check setting, the notices (an update or an engine switch is
//! ready, with its real download size; a rollback) and their banner. The moves themselves live
//! in the `updater` crate ([`updater::Store`]).

use std::path::Path;

use runtime_spec::Version;
use updater::{Transfer, UpdateSource};

use crate::view::transfer_phrase;

/// Shell settings file in the data root; `{"check_for_updates": false}` turns the background
/// update check off (so does the app's `<PREFIX>_UPDATE_CHECK=0`).
pub const SETTINGS_FILE: &str = "shell-settings.json";

/// Where this build downloads runtimes from: the channel's index under the release base URL
/// and the public key, both fixed at build time by `cargo xtask release`. Only the index URL
/// may be overridden at run time (tests, mirrors): the key never, so an override can only
/// point at indexes signed by the release key.
pub fn built_in_source() -> Option<UpdateSource> {
    source_from(
        crate::built_in::update_key(),
        crate::built_in::channel(),
        // The app this process runs: another app's runtime index is in its own folder, a
        // fetched app's where the registry says.
        |channel| crate::selected().index_url_for(channel),
        std::env::var(crate::app().var(runtime_spec::env::INDEX_URL)).ok(),
        &crate::app().identifier,
    )
}

fn source_from(
    public_key: Option<runtime_spec::PublicKey>,
    channel: Option<runtime_spec::Channel>,
    index_url_for: impl FnOnce(runtime_spec::Channel) -> String,
    index_url_override: Option<String>,
    app_id: &str,
) -> Option<UpdateSource> {
    let (public_key, channel) = (public_key?, channel?);
    let index_url = index_url_override
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| index_url_for(channel));
    (!index_url.is_empty()).then(|| UpdateSource {
        index_url,
        public_key,
        channel,
        app_id: app_id.to_owned(),
    })
}

/// Whether the background update check may run (env first, then the settings file).
pub fn background_check_enabled(data_root: &Path) -> bool {
    check_enabled(
        std::env::var(crate::app().var(runtime_spec::env::UPDATE_CHECK)).ok(),
        data_root,
    )
}

pub(crate) fn check_enabled(env_value: Option<String>, data_root: &Path) -> bool {
    if let Some(value) = env_value {
        return !matches!(
            value.trim().to_ascii_lowercase().as_str(),
            "0" | "off" | "false" | "no"
        );
    }
    let settings = std::fs::read(data_root.join(SETTINGS_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    !matches!(
        settings
            .as_ref()
            .and_then(|value| value.get("check_for_updates")),
        Some(serde_json::Value::Bool(false))
    )
}

/// Id of the rollback notice's banner.
pub const ROLLBACK_NOTICE_ID: &str = "shell-rollback-notice";
/// Id of the banner saying the background check installed a runtime: its own, so it neither
/// replaces nor is replaced by a rollback or engine-switch notice.
pub const UPDATE_NOTICE_ID: &str = "shell-runtime-update";

/// What the background check says when it installed `version`: "Engine 0.2.0 is ready (a 12 KB
/// update). It is used from the next start."
pub fn update_ready_notice(version: &Version, transfer: &Transfer) -> String {
    format!(
        "Engine {version} is ready ({}). It is used from the next start.",
        transfer_phrase(transfer.method, transfer.download_bytes)
    )
}

/// What the GPU/CPU switch says when the other engine was installed.
pub fn switch_ready_notice(transfer: &Transfer) -> String {
    format!(
        "The new engine is downloaded and checked ({}); it is used from the next start of {}.",
        transfer_phrase(transfer.method, transfer.download_bytes),
        crate::app().product_name
    )
}

/// JavaScript that shows `notice` as a dismissible bar with element id `id` over the engine's
/// page (the page is the engine's; the shell adds this one element and nothing else). A bar
/// with that id already there is replaced, so the newest sentence of each kind is shown once.
/// The rollback banner's test id is `shell-notice`; others are `<id>` itself.
pub fn notice_banner_script(id: &str, notice: &str) -> String {
    banner_script(id, notice, None)
}

/// [`notice_banner_script`] with one button (`label`) that calls the shell command `command`
/// (which must check its caller, as every command the engine's page may call does).
pub fn notice_banner_with_action(id: &str, notice: &str, label: &str, command: &str) -> String {
    banner_script(id, notice, Some((label, command)))
}

fn banner_script(id: &str, notice: &str, action: Option<(&str, &str)>) -> String {
    let text = serde_json::to_string(notice).expect("a string serialises");
    let action = action
        .map(|(label, command)| {
            let label = serde_json::to_string(label).expect("a string serialises");
            let command = serde_json::to_string(command).expect("a string serialises");
            format!(
                r#"
  const act = document.createElement('button');
  act.textContent = {label};
  act.dataset.testid = bar.dataset.testid + '-action';
  act.style.cssText = 'margin-left:12px;padding:2px 10px;border:1px solid #b89a30;border-radius:4px;background:#fffaf0;cursor:pointer;font:inherit';
  act.addEventListener('click', () => window.__TAURI_INTERNALS__?.invoke({command}).catch(() => {{}}));
  bar.append(act);"#
            )
        })
        .unwrap_or_default();
    let id_json = serde_json::to_string(id).expect("a string serialises");
    let test_id = if id == ROLLBACK_NOTICE_ID {
        "\"shell-notice\"".to_owned()
    } else {
        id_json.clone()
    };
    format!(
        r#"(() => {{
  document.getElementById({id_json})?.remove();
  const bar = document.createElement('div');
  bar.id = {id_json};
  bar.dataset.testid = {test_id};
  bar.setAttribute('role', 'status');
  bar.style.cssText = 'position:relative;z-index:2147483647;padding:10px 44px 10px 16px;background:#fff4d6;color:#3d2f00;border-bottom:1px solid #e0c060;font:14px system-ui,sans-serif';
  bar.textContent = {text};{action}
  const close = document.createElement('button');
  close.textContent = '×';
  close.setAttribute('aria-label', 'Dismiss');
  close.style.cssText = 'position:absolute;right:12px;top:6px;border:0;background:none;font-size:20px;cursor:pointer';
  close.addEventListener('click', () => bar.remove());
  bar.append(close);
  document.body.prepend(bar);
}})();"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_needs_a_key_a_channel_and_a_url() {
        const APP: &str = "dev.example.app";
        let from_base = |base: &'static str| move |channel| updater::index_url_for(base, channel);
        let key = || {
            Some(
                runtime_spec::PublicKey::parse(
                    "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3",
                )
                .unwrap(),
            )
        };
        let beta = Some(runtime_spec::Channel::Beta);
        assert_eq!(
            source_from(None, beta, from_base("https://r.example/x"), None, APP),
            None
        );
        assert_eq!(
            source_from(key(), None, from_base("https://r.example/x"), None, APP),
            None
        );
        assert_eq!(source_from(key(), beta, from_base(""), None, APP), None);
        let built = source_from(key(), beta, from_base("https://r.example/x/"), None, APP).unwrap();
        assert_eq!(built.index_url, "https://r.example/x/runtime-beta.json");
        assert_eq!(built.channel, "beta");
        let overridden = source_from(
            key(),
            beta,
            from_base(""),
            Some("http://127.0.0.1:9/runtime-beta.json".into()),
            APP,
        )
        .unwrap();
        assert_eq!(overridden.app_id, APP);
        assert_eq!(overridden.index_url, "http://127.0.0.1:9/runtime-beta.json");
        assert_eq!(Some(overridden.public_key), key());
    }

    #[test]
    fn settings_file_turns_the_check_off() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_enabled(None, dir.path()));
        assert!(!check_enabled(Some("off".into()), dir.path()));
        std::fs::write(
            dir.path().join(SETTINGS_FILE),
            br#"{"check_for_updates": false}"#,
        )
        .unwrap();
        assert!(!check_enabled(None, dir.path()));
        // The environment wins over the file.
        assert!(check_enabled(Some("1".into()), dir.path()));
        std::fs::write(dir.path().join(SETTINGS_FILE), b"not json").unwrap();
        assert!(check_enabled(None, dir.path()));
    }

    fn transfer(method: updater::Method, download_bytes: u64) -> Transfer {
        Transfer {
            method,
            download_bytes,
            fetched_files: 1,
            reused_files: 5878,
            reused_bytes: 420_000_000,
            fallback: None,
        }
    }

    #[test]
    fn notices_name_the_real_download_size() {
        let version: Version = "0.2.0".parse().unwrap();
        assert_eq!(
            update_ready_notice(&version, &transfer(updater::Method::Delta, 12_345)),
            "Engine 0.2.0 is ready (a 12 KB update). It is used from the next start."
        );
        assert_eq!(
            update_ready_notice(&version, &transfer(updater::Method::Archive, 1_234_567_890)),
            "Engine 0.2.0 is ready (a 1.2 GB download). It is used from the next start."
        );
        assert_eq!(
            switch_ready_notice(&transfer(updater::Method::Delta, 84_000_000)),
            "The new engine is downloaded and checked (an 84 MB update); it is used from the next start of Tokenizer Studio."
        );
    }

    #[test]
    fn a_banner_action_calls_its_command() {
        let script = notice_banner_with_action(
            "crash-notice",
            "It stopped.",
            "Open the report",
            "open_crash_report",
        );
        assert!(script.contains(r#"act.textContent = "Open the report""#));
        assert!(script.contains(r#"invoke("open_crash_report")"#));
        assert!(!notice_banner_script("x", "y").contains("invoke("));
    }

    #[test]
    fn banner_text_is_escaped() {
        let script = notice_banner_script(ROLLBACK_NOTICE_ID, "went back to 0.1.0 </script> \"x\"");
        assert!(script.contains(r#"dataset.testid = "shell-notice""#));
        assert!(script.contains(r#""went back to 0.1.0 </script> \"x\"""#));
    }
}
