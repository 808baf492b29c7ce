//! Fetching and trusting the channel's app registry (`apps-<channel>.json`): the runtime index's
//! rules, in the same order. Signature with the built-in key and its trusted comment → JSON →
//! channel → replay (never older than the newest registry already accepted here).

use runtime_spec::{AppRegistry, Channel, PublicKey, RegistryApp};

use crate::error::{Error, Result};
use crate::index::{
    check_channel_and_age, client, fetch_small, require_secure_transport, verify_signature,
    MAX_INDEX_BYTES, MAX_SIGNATURE_BYTES,
};

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
    require_secure_transport(&source.url)?;
    let client = client(&source.url)?;
    let json = fetch_small(&client, &source.url, MAX_INDEX_BYTES)?;
    let signature = fetch_small(
        &client,
        &format!("{}.minisig", source.url),
        MAX_SIGNATURE_BYTES,
    )?;
    verify(
        &json,
        &String::from_utf8_lossy(&signature),
        source,
        newest_seen,
    )
}

/// The checks of [`fetch_verified`] on bytes already fetched.
pub fn verify(
    json: &[u8],
    signature_text: &str,
    source: &RegistrySource,
    newest_seen: Option<u64>,
) -> Result<AppRegistry> {
    let url = &source.url;
    let signature = verify_signature(json, signature_text, url, &source.public_key)?;
    let registry = AppRegistry::from_json(json).map_err(|error| Error::IndexInvalid {
        url: url.clone(),
        reason: error.to_string(),
    })?;
    if signature.trusted_comment() != registry.trusted_comment() {
        return Err(Error::BadSignature {
            url: url.clone(),
            reason: format!(
                "the signed comment `{}` does not describe this registry",
                signature.trusted_comment()
            ),
        });
    }
    check_channel_and_age(
        registry.channel,
        registry.published_at,
        source.channel,
        newest_seen,
    )?;
    Ok(registry)
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
