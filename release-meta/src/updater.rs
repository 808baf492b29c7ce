//! Tauri v2 updater static JSON (`latest.json`) for the shell's own updates.
//!
//! The release publishes one per channel, as `latest-<channel>.json`.
//!
//! Format (Tauri v2 updater plugin, "static JSON file"): `version` (semver, optional `v`),
//! optional `notes` and `pub_date` (RFC 3339), and `platforms.<os>-<arch>[-<bundle>]`, each with
//! `url` and `signature`. The signature is the *content of the `.sig` file* Tauri's bundler
//! writes, which is the base64 of the minisign signature text, not the text itself. Tauri
//! rejects the whole file if any platform entry is malformed, so every key is checked here.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use runtime_spec::Version;
use serde::Serialize;

use crate::{Error, Result};

const OSES: [&str; 3] = ["linux", "darwin", "windows"];
const ARCHES: [&str; 4] = ["x86_64", "aarch64", "i686", "armv7"];
/// Bundle suffixes Tauri v2 looks up before the plain `<os>-<arch>` key.
const BUNDLES: [&str; 6] = ["appimage", "deb", "rpm", "msi", "nsis", "app"];

#[derive(Serialize)]
struct LatestJson<'a> {
    version: &'a Version,
    notes: &'a str,
    pub_date: &'a str,
    platforms: BTreeMap<&'a str, Platform<'a>>,
}

#[derive(Serialize)]
struct Platform<'a> {
    signature: String,
    url: &'a str,
}

pub use runtime_spec::layout::shell_update_manifest_name as shell_manifest_name;

/// The trusted comment of an installer's updater signature, in the Tauri CLI's tab-separated
/// form: `timestamp:<unix>\tfile:<name>\tversion:<version>`. Tauri's updater reads `version:`
/// from it (`requireSignedVersion`) and refuses an installer signed for another version than
/// the manifest announces.
pub fn updater_trusted_comment(timestamp: u64, file_name: &str, version: &Version) -> String {
    format!("timestamp:{timestamp}\tfile:{file_name}\tversion:{version}")
}

/// Renders `latest.json` (pretty, trailing newline, platforms sorted by key).
///
/// `platforms` holds `(platform_key, url, signature)`, e.g. `("linux-x86_64", url, sig)`.
/// `signature` may be minisign signature text (as [`crate::sign`] returns) or already the
/// base64 `.sig` content; both end up as the base64 form Tauri expects.
/// `pub_date_rfc3339` should come from [`crate::rfc3339_utc`] of `SOURCE_DATE_EPOCH`.
pub fn tauri_latest_json(
    version: &Version,
    notes: &str,
    pub_date_rfc3339: &str,
    platforms: &[(&str, &str, &str)],
) -> Result<String> {
    let mut seen = BTreeSet::new();
    let mut rendered = BTreeMap::new();
    for &(key, url, signature) in platforms {
        check_platform_key(key)?;
        if !seen.insert(key) {
            return Err(Error::UpdaterDuplicatePlatform {
                key: key.to_owned(),
            });
        }
        let signature = sig_file_content(signature).ok_or_else(|| Error::UpdaterSignature {
            key: key.to_owned(),
        })?;
        rendered.insert(key, Platform { signature, url });
    }
    let latest = LatestJson {
        version,
        notes,
        pub_date: pub_date_rfc3339,
        platforms: rendered,
    };
    let mut json = serde_json::to_string_pretty(&latest).expect("latest.json serialises");
    json.push('\n');
    Ok(json)
}

fn check_platform_key(key: &str) -> Result<()> {
    let parts: Vec<&str> = key.split('-').collect();
    let valid = match parts.as_slice() {
        [os, arch] => OSES.contains(os) && ARCHES.contains(arch),
        [os, arch, bundle] => {
            OSES.contains(os) && ARCHES.contains(arch) && BUNDLES.contains(bundle)
        }
        _ => false,
    };
    if valid {
        Ok(())
    } else {
        Err(Error::UpdaterPlatformKey {
            key: key.to_owned(),
        })
    }
}

/// The base64 `.sig` content for a signature given either as minisign text or already encoded.
fn sig_file_content(signature: &str) -> Option<String> {
    let engine = base64::engine::general_purpose::STANDARD;
    let trimmed = signature.trim();
    if trimmed.starts_with("untrusted comment:") {
        return Some(engine.encode(signature));
    }
    let decoded = engine.decode(trimmed).ok()?;
    String::from_utf8(decoded)
        .ok()?
        .starts_with("untrusted comment:")
        .then(|| trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_keys() {
        for (key, valid) in [
            ("linux-x86_64", true),
            ("darwin-aarch64", true),
            ("windows-x86_64-nsis", true),
            ("linux-x86_64-appimage", true),
            ("macos-arm64", false),
            ("linux", false),
            ("windows-x86_64-zip", false),
            ("linux-x86_64-deb-extra", false),
        ] {
            assert_eq!(check_platform_key(key).is_ok(), valid, "{key}");
        }
    }
}
