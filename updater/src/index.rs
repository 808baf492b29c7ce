//! Fetching and trusting the channel's release index (why minisign:
//! `docs/decisions/0008-minisign-release-index.md`).
//!
//! Order of checks: signature with the built-in key (and its trusted comment) → JSON → channel
//! → replay (not older than the newest index already seen) ([`fetch_verified`]); then, for the
//! variant chosen from the verified index, an entry for it → the shell is new enough → its URL
//! ([`select`]). Choosing what to install ([`offer`]) then refuses downgrades and skips runtimes
//! remembered as bad on this machine.

use std::io::Read;
use std::time::Duration;

use runtime_archive::RetryPolicy;
use runtime_spec::{Channel, IndexEntry, ReleaseIndex, Variant, Version};

use crate::error::{Error, Result};
use crate::state::RuntimeId;

/// No honest index is anywhere near this; a bigger answer is refused before parsing.
pub(crate) const MAX_INDEX_BYTES: u64 = 1024 * 1024;
pub(crate) const MAX_SIGNATURE_BYTES: u64 = 16 * 1024;
/// Small files: a few quick tries, then the caller decides (retry button, next launch).
const FETCH_POLICY: RetryPolicy = RetryPolicy {
    attempts: 3,
    initial_backoff: Duration::from_millis(500),
    max_backoff: Duration::from_secs(8),
    connect_timeout: Duration::from_secs(20),
    read_timeout: Duration::from_secs(20),
};

/// Where updates come from: built into the shell at compile time, the URL overridable by env.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateSource {
    /// URL of `runtime-<channel>.json`; the signature is at the same URL + `.minisig`.
    pub index_url: String,
    /// The key that signs the release index.
    pub public_key: runtime_spec::PublicKey,
    /// The channel this build follows.
    pub channel: Channel,
    /// The identifier of the app these runtimes are for (a manifest's `app_id`): a runtime of
    /// another app is refused before it is installed, whatever index offered it.
    pub app_id: String,
}

/// An index whose signature, channel and freshness were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIndex {
    pub index: ReleaseIndex,
    /// The URL it came from (archive URLs are relative to it).
    pub url: String,
}

/// The entry of one variant in a verified index, checked against this shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    pub variant: Variant,
    pub entry: IndexEntry,
    /// The archive's absolute URL (the entry's URL resolved against the index URL).
    pub archive_url: String,
    /// The object store's absolute URL, ending in `/`: the index's `objects` (by default
    /// `objects/` beside it) resolved against the index's URL, on the index's own server.
    pub objects_url: String,
    /// `published_at` of the index it came from.
    pub published_at: u64,
    /// The app the runtime must be of ([`UpdateSource::app_id`]).
    pub app_id: String,
}

/// What the verified index means for this installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    /// A runtime this installation does not have yet: download it.
    Install(Box<Selected>),
    /// The index offers what is already installed (or waiting to be applied).
    UpToDate { version: Version },
    /// The offered runtime failed on this machine before; wait for a newer one.
    KnownBad { version: Version },
}

/// Downloads `<index_url>` and `<index_url>.minisig` and checks them (see the module docs).
/// `newest_seen` is the newest `published_at` already accepted for this channel.
pub fn fetch_verified(source: &UpdateSource, newest_seen: Option<u64>) -> Result<VerifiedIndex> {
    let index = fetch_signed(
        &source.index_url,
        &source.public_key,
        source.channel,
        newest_seen,
    )?;
    Ok(VerifiedIndex {
        index,
        url: source.index_url.clone(),
    })
}

/// The checks of [`fetch_verified`] on bytes already fetched.
pub fn verify(
    json: &[u8],
    signature_text: &str,
    source: &UpdateSource,
    newest_seen: Option<u64>,
) -> Result<VerifiedIndex> {
    let index = verify_signed(
        json,
        signature_text,
        &source.index_url,
        &source.public_key,
        source.channel,
        newest_seen,
    )?;
    Ok(VerifiedIndex {
        index,
        url: source.index_url.clone(),
    })
}

/// A channel's signed JSON document: the release index, the app registry. Both are trusted by
/// the same rules, in the same order ([`verify_signed`]).
pub(crate) trait SignedDocument: Sized {
    /// What it is, in messages: `index`, `registry`.
    const WHAT: &'static str;
    /// Parses and validates the JSON (after its signature was checked).
    fn parse(json: &[u8]) -> std::result::Result<Self, runtime_spec::SpecError>;
    /// The trusted comment it must be signed with.
    fn trusted_comment(&self) -> String;
    fn channel(&self) -> Channel;
    fn published_at(&self) -> u64;
}

impl SignedDocument for ReleaseIndex {
    const WHAT: &'static str = "index";
    fn parse(json: &[u8]) -> std::result::Result<Self, runtime_spec::SpecError> {
        ReleaseIndex::from_json(json)
    }
    fn trusted_comment(&self) -> String {
        ReleaseIndex::trusted_comment(self)
    }
    fn channel(&self) -> Channel {
        self.channel
    }
    fn published_at(&self) -> u64 {
        self.published_at
    }
}

/// Downloads `<url>` and `<url>.minisig` (each within its size cap, over an allowed transport)
/// and checks them with [`verify_signed`].
pub(crate) fn fetch_signed<D: SignedDocument>(
    url: &str,
    public_key: &runtime_spec::PublicKey,
    channel: Channel,
    newest_seen: Option<u64>,
) -> Result<D> {
    fetch_signed_raw(url, public_key, channel, newest_seen).map(|(document, _, _)| document)
}

/// [`fetch_signed`], with the verified bytes and signature text (kept to be checked again).
pub(crate) fn fetch_signed_raw<D: SignedDocument>(
    url: &str,
    public_key: &runtime_spec::PublicKey,
    channel: Channel,
    newest_seen: Option<u64>,
) -> Result<(D, Vec<u8>, String)> {
    require_secure_transport(url)?;
    let client = client(url)?;
    let json = fetch_small(&client, url, MAX_INDEX_BYTES)?;
    let signature = fetch_small(&client, &format!("{url}.minisig"), MAX_SIGNATURE_BYTES)?;
    let signature = String::from_utf8_lossy(&signature).into_owned();
    let document = verify_signed(&json, &signature, url, public_key, channel, newest_seen)?;
    Ok((document, json, signature))
}

/// The signature with `public_key` → the JSON → the signed trusted comment describes this very
/// document (binding its channel and publication time) → the channel → not older than
/// `newest_seen`.
pub(crate) fn verify_signed<D: SignedDocument>(
    json: &[u8],
    signature_text: &str,
    url: &str,
    public_key: &runtime_spec::PublicKey,
    channel: Channel,
    newest_seen: Option<u64>,
) -> Result<D> {
    let signature = verify_signature(json, signature_text, url, public_key)?;
    let document = D::parse(json).map_err(|error| Error::IndexInvalid {
        url: url.to_owned(),
        reason: error.to_string(),
    })?;
    if signature.trusted_comment() != document.trusted_comment() {
        return Err(Error::BadSignature {
            url: url.to_owned(),
            reason: format!(
                "the signed comment `{}` does not describe this {}",
                signature.trusted_comment(),
                D::WHAT
            ),
        });
    }
    check_channel_and_age(
        document.channel(),
        document.published_at(),
        channel,
        newest_seen,
    )?;
    Ok(document)
}

/// The entry of `variant` in a verified index, if this shell can run it.
pub fn select(
    verified: &VerifiedIndex,
    variant: Variant,
    shell_version: &Version,
    app_id: &str,
) -> Result<Selected> {
    let Some(entry) = verified.index.entry(variant).cloned() else {
        return Err(Error::NoRuntimeForVariant {
            variant: variant.name(),
            available: available_variants(&verified.index),
        });
    };
    // Version and sha256 are typed: the JSON parse already refused malformed ones.
    if *shell_version < entry.min_shell_version {
        return Err(Error::ShellTooOld {
            version: Box::new(entry.version.clone()),
            min_shell_version: Box::new(entry.min_shell_version.clone()),
            shell_version: Box::new(shell_version.clone()),
        });
    }
    if entry.size == 0 {
        return Err(Error::BadEntry {
            reason: format!("size {} / sha256 `{}`", entry.size, entry.sha256),
        });
    }
    let archive_url = url::Url::parse(&verified.url)
        .and_then(|base| base.join(&entry.url))
        .map_err(|error| Error::BadEntry {
            reason: format!(
                "archive URL `{}`: {error}",
                runtime_archive::url_policy::redact(&entry.url)
            ),
        })?;
    // A signed index may still name an archive on another host: the same rule applies there.
    require_secure_transport(archive_url.as_str())?;
    let objects_url = objects_url(verified)?;
    Ok(Selected {
        variant,
        entry,
        archive_url: archive_url.to_string(),
        objects_url,
        published_at: verified.index.published_at,
        app_id: app_id.to_owned(),
    })
}

/// The index's object store, resolved against the index's URL. The index's own validation
/// admits only a relative folder; the origin is compared again here so that no parsing quirk
/// can move the store to another server.
fn objects_url(verified: &VerifiedIndex) -> Result<String> {
    let dir = verified.index.objects_dir();
    let bad = |reason: String| Error::BadEntry { reason };
    let index_url =
        url::Url::parse(&verified.url).map_err(|error| bad(format!("index URL: {error}")))?;
    let objects = index_url
        .join(&dir)
        .map_err(|error| bad(format!("object store `{dir}`: {error}")))?;
    if objects.origin() != index_url.origin() {
        return Err(bad(format!(
            "object store `{dir}` is not on the index's server"
        )));
    }
    Ok(objects.to_string())
}

/// `linux-x64, linux-x64-torch-cuda`, or `none`: for messages.
fn available_variants(index: &ReleaseIndex) -> String {
    let names: Vec<String> = index
        .runtimes
        .iter()
        .flat_map(|(target, entries)| entries.iter().map(|entry| entry.variant(*target).name()))
        .collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// What to do with a selected entry, given the runtimes installed or waiting and whether a
/// runtime is remembered as bad. A newer version, or the same version in another variant (a
/// switch between the GPU and CPU engines), is installed; an older one is a downgrade.
pub fn offer(
    selected: Selected,
    held: &[RuntimeId],
    is_bad: impl Fn(&Version, Variant) -> bool,
) -> Result<Offer> {
    let offered = selected.entry.version.clone();
    if let Some(newest) = held.iter().map(|held| &held.version).max() {
        if offered < *newest {
            return Err(Error::Downgrade {
                offered: Box::new(offered),
                installed: Box::new(newest.clone()),
            });
        }
    }
    if held
        .iter()
        .any(|held| held.version == offered && held.variant == selected.variant)
    {
        return Ok(Offer::UpToDate { version: offered });
    }
    if is_bad(&offered, selected.variant) {
        return Ok(Offer::KnownBad { version: offered });
    }
    Ok(Offer::Install(Box::new(selected)))
}

/// A signed file of `channel` published at `published_at` is for this shell's channel and not
/// older than the newest one already accepted (a replay otherwise).
pub(crate) fn check_channel_and_age(
    channel: Channel,
    published_at: u64,
    expected: Channel,
    newest_seen: Option<u64>,
) -> Result<()> {
    if channel != expected {
        return Err(Error::WrongChannel {
            expected: expected.to_string(),
            found: channel.to_string(),
        });
    }
    match newest_seen {
        Some(newest_seen) if published_at < newest_seen => Err(Error::Replay {
            published_at,
            newest_seen,
        }),
        _ => Ok(()),
    }
}

/// Checks `json` against its minisign signature with `key`; the decoded signature, whose trusted
/// comment the caller then holds to what the file says.
pub(crate) fn verify_signature(
    json: &[u8],
    signature_text: &str,
    url: &str,
    key: &runtime_spec::PublicKey,
) -> Result<minisign_verify::Signature> {
    let public_key = minisign_key(key)?;
    let signature = minisign_verify::Signature::decode(signature_text).map_err(|error| {
        Error::BadSignature {
            url: url.to_owned(),
            reason: format!("unreadable signature file: {error}"),
        }
    })?;
    match public_key.verify(json, &signature, false) {
        Ok(()) => Ok(signature),
        Err(minisign_verify::Error::UnexpectedKeyId) => Err(Error::WrongKey {
            url: url.to_owned(),
        }),
        Err(error) => Err(Error::BadSignature {
            url: url.to_owned(),
            reason: error.to_string(),
        }),
    }
}

/// Index and archive URLs: https, or plain http from this computer (tests, a local mirror).
pub(crate) fn require_secure_transport(url: &str) -> Result<()> {
    let allowed = url::Url::parse(url)
        .is_ok_and(|parsed| runtime_archive::url_policy::transport_allowed(&parsed));
    if allowed {
        Ok(())
    } else {
        Err(Error::InsecureTransport {
            url: url.to_owned(),
        })
    }
}

/// The verifier's form of the contract's key (its key line is what minisign reads).
fn minisign_key(key: &runtime_spec::PublicKey) -> Result<minisign_verify::PublicKey> {
    minisign_verify::PublicKey::from_base64(&key.key_line()).map_err(|error| Error::BadPublicKey {
        reason: error.to_string(),
    })
}

pub(crate) fn client(url: &str) -> Result<reqwest::blocking::Client> {
    FETCH_POLICY.client(url).map_err(|error| Error::Network {
        url: String::new(),
        reason: format!("the HTTP client could not be set up ({error})"),
    })
}

/// GETs a small file with a few retries on network errors and 5xx; refuses big answers.
pub(crate) fn fetch_small(
    client: &reqwest::blocking::Client,
    url: &str,
    limit: u64,
) -> Result<Vec<u8>> {
    FETCH_POLICY
        .run(|| fetch_once(client, url, limit), Error::is_transient)
        .map_err(|failed| failed.error)
}

fn fetch_once(client: &reqwest::blocking::Client, url: &str, limit: u64) -> Result<Vec<u8>> {
    // The HTTP client's messages repeat the URL, credentials and all.
    let network = |error: &dyn std::fmt::Display| Error::Network {
        url: url.to_owned(),
        reason: runtime_archive::url_policy::redact_in_text(&error.to_string()),
    };
    let response = client.get(url).send().map_err(|error| network(&error))?;
    let status = response.status();
    if !status.is_success() {
        return Err(Error::HttpStatus {
            url: url.to_owned(),
            status: status.as_u16(),
        });
    }
    if response
        .content_length()
        .is_some_and(|length| length > limit)
    {
        return Err(Error::IndexTooLarge {
            url: url.to_owned(),
            limit,
        });
    }
    let mut bytes = Vec::new();
    response
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| network(&error))?;
    if bytes.len() as u64 > limit {
        return Err(Error::IndexTooLarge {
            url: url.to_owned(),
            limit,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use runtime_spec::{Channel, IndexEntry, Sha256, Target};

    use super::*;

    /// Every form of the release key a release engineer may configure (the xtask accepts them
    /// all and builds the text in as given), read by the contract's parser as the shell reads
    /// it: the runtime updater must trust each of them, and no other key.
    #[test]
    fn every_form_of_the_release_key_verifies_a_signed_index() {
        let (public, secret) = release_meta::generate_keypair(None).unwrap();
        let line = release_meta::minisign::public_key_line(&public).unwrap();
        let tauri = release_meta::tauri_pubkey(&public);
        let index = release_meta::build_index(
            Channel::Beta,
            7,
            None,
            vec![(
                Target::LinuxX64,
                IndexEntry {
                    version: "0.2.0".parse().unwrap(),
                    url: "runtime.tar.zst".to_owned(),
                    size: 1,
                    sha256: Sha256::from_bytes([7; 32]),
                    unpacked_size: 1,
                    min_shell_version: "0.1.0".parse().unwrap(),
                    profile: runtime_spec::Profile::Base,
                    accelerator: runtime_spec::Accelerator::Cpu,
                    requirements: runtime_spec::Variant::base(runtime_spec::Target::LinuxX64)
                        .base_requirements(),
                    manifest: runtime_spec::ObjectRef {
                        sha256: Sha256::from_bytes([8; 32]),
                        size: 1,
                        packed_size: 1,
                    },
                },
            )],
        )
        .unwrap();
        let json = release_meta::index_json(&index);
        let signature =
            release_meta::sign(json.as_bytes(), &secret, None, &index.trusted_comment()).unwrap();
        let shell = Version::parse("0.1.0").unwrap();
        for form in [
            public.clone(),
            public.trim_end().to_owned(),
            public.replace('\n', "\r\n"),
            format!("  {public}\n\n"),
            line.clone(),
            format!("{line}\n"),
            tauri.clone(),
            format!("{tauri}\n"),
        ] {
            let source = UpdateSource {
                index_url: "https://releases.invalid/runtime-beta.json".to_owned(),
                public_key: runtime_spec::PublicKey::parse(&form)
                    .unwrap_or_else(|error| panic!("{form:?}: {error}")),
                channel: Channel::Beta,
                app_id: "dev.example.app".to_owned(),
            };
            let verified = verify(json.as_bytes(), &signature, &source, None)
                .unwrap_or_else(|error| panic!("{form:?}: {error}"));
            let selected = select(
                &verified,
                Variant::base(Target::LinuxX64),
                &shell,
                &source.app_id,
            )
            .unwrap();
            assert_eq!(
                selected.archive_url,
                "https://releases.invalid/runtime.tar.zst"
            );
        }
        let (other, _) = release_meta::generate_keypair(None).unwrap();
        let source = UpdateSource {
            index_url: "https://releases.invalid/runtime-beta.json".to_owned(),
            public_key: release_meta::tauri_pubkey(&other).parse().unwrap(),
            channel: Channel::Beta,
            app_id: "dev.example.app".to_owned(),
        };
        assert!(matches!(
            verify(json.as_bytes(), &signature, &source, None),
            Err(Error::WrongKey { .. })
        ));
    }
}
