//! The values `cargo xtask release` builds into the shell, read here and nowhere else: the
//! update key, the channel and the release URL. A plain `cargo build` sets none of them and gets
//! a dev shell that never updates itself. The names are rows of `runtime_spec::env`'s table
//! (`option_env!` needs them spelled out).

use runtime_spec::{Channel, PublicKey};

/// The minisign public key (any form [`PublicKey`] reads) that signs runtimes and shells.
const UPDATE_PUBKEY: &str = match option_env!("XTASK_UPDATE_PUBKEY") {
    Some(key) => key,
    None => "",
};

/// The channel this shell follows.
const CHANNEL: &str = match option_env!("XTASK_CHANNEL") {
    Some(channel) => channel,
    None => "dev",
};

/// Where the release is published (`runtime-<channel>.json`, `latest-<channel>.json`).
const RELEASE_BASE_URL: &str = match option_env!("XTASK_RELEASE_BASE_URL") {
    Some(url) => url,
    None => "",
};

/// The built-in update key, if one was built in and it is a key.
pub fn update_key() -> Option<PublicKey> {
    PublicKey::parse(UPDATE_PUBKEY).ok()
}

/// The channel's name as built in (the xtask only sets names of [`Channel`]).
pub fn channel_name() -> &'static str {
    CHANNEL
}

/// The channel built in; `None` for a name no release would set.
pub fn channel() -> Option<Channel> {
    CHANNEL.parse().ok()
}

/// The release URL built in, `""` when there is none.
pub fn release_base_url() -> &'static str {
    RELEASE_BASE_URL
}
