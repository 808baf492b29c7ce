//! Fetching and trusting the channel's app registry (`apps-<channel>.json`): the runtime index's
//! rules, in the same order. Signature with the built-in key and its trusted comment → JSON →
//! channel → replay (never older than the newest registry already accepted here).

use runtime_spec::{AppRegistry, Channel, PublicKey, RegistryApp};

use crate::error::{Error, Result};
use crate::index::{fetch_signed, fetch_signed_raw, verify_signed, SignedDocument};

/// Where the registry comes from and how it must be signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrySource {
    /// `<release URL>/apps-<channel>.json`.
    pub url: String,
    pub public_key: PublicKey,
    pub channel: Channel,
}

/// Downloads `<url>` and `<url>.minisig` and checks them; `newest_seen` is the newest
/// `published_at` already accepted for this channel.
pub fn fetch_verified(source: &RegistrySource, newest_seen: Option<u64>) -> Result<AppRegistry> {
    fetch_signed(&source.url, &source.public_key, source.channel, newest_seen)
}

/// [`fetch_verified`], with the verified bytes and signature text, for a copy that is checked
/// again whenever it is read back ([`verify`]).
pub fn fetch_verified_raw(
    source: &RegistrySource,
    newest_seen: Option<u64>,
) -> Result<(AppRegistry, Vec<u8>, String)> {
    fetch_signed_raw(&source.url, &source.public_key, source.channel, newest_seen)
}

/// The checks of [`fetch_verified`] on bytes already fetched.
pub fn verify(
    json: &[u8],
    signature_text: &str,
    source: &RegistrySource,
    newest_seen: Option<u64>,
) -> Result<AppRegistry> {
    verify_signed(
        json,
        signature_text,
        &source.url,
        &source.public_key,
        source.channel,
        newest_seen,
    )
}

impl SignedDocument for AppRegistry {
    const WHAT: &'static str = "registry";
    fn parse(json: &[u8]) -> std::result::Result<Self, runtime_spec::SpecError> {
        AppRegistry::from_json(json)
    }
    fn trusted_comment(&self) -> String {
        AppRegistry::trusted_comment(self)
    }
    fn channel(&self) -> Channel {
        self.channel
    }
    fn published_at(&self) -> u64 {
        self.published_at
    }
}

/// The absolute URL of an app's runtime index: its `index_url` as is when absolute, else
/// relative to the registry's own URL.
pub fn index_url(registry_url: &str, app: &RegistryApp) -> Result<String> {
    let base = url::Url::parse(registry_url).map_err(|error| Error::IndexInvalid {
        url: registry_url.to_owned(),
        reason: error.to_string(),
    })?;
    base.join(&app.index_url)
        .map(|url| url.to_string())
        .map_err(|error| Error::IndexInvalid {
            url: registry_url.to_owned(),
            reason: format!("the entry `{}` has an unusable index_url: {error}", app.id),
        })
}
