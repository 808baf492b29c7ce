//! Release channels: what a build follows and what an index, a fragment and an updater
//! manifest are published for.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A release channel. The dev channel may ship a local CPython and signs with a local dev key;
/// the others need the release key and signed installers.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Dev,
    Alpha,
    Beta,
    Stable,
}

impl Channel {
    /// Every channel, in the order of their names in [`Channel::NAMES`].
    pub const ALL: [Channel; 4] = [Channel::Dev, Channel::Alpha, Channel::Beta, Channel::Stable];
    /// The names a user types (`--channel`) and file names carry.
    pub const NAMES: [&'static str; 4] = ["dev", "alpha", "beta", "stable"];

    pub fn name(self) -> &'static str {
        match self {
            Channel::Dev => "dev",
            Channel::Alpha => "alpha",
            Channel::Beta => "beta",
            Channel::Stable => "stable",
        }
    }

    /// Alpha, beta and stable: real users, so real keys, signed installers, no local CPython.
    pub fn is_release(self) -> bool {
        self != Channel::Dev
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialEq<str> for Channel {
    fn eq(&self, name: &str) -> bool {
        self.name() == name
    }
}

impl PartialEq<&str> for Channel {
    fn eq(&self, name: &&str) -> bool {
        self.name() == *name
    }
}

/// A name that is not one of [`Channel::NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown channel `{0}`: expected one of dev, alpha, beta, stable")]
pub struct UnknownChannel(pub String);

impl FromStr for Channel {
    type Err = UnknownChannel;

    fn from_str(name: &str) -> Result<Channel, UnknownChannel> {
        Channel::ALL
            .into_iter()
            .find(|channel| channel.name() == name)
            .ok_or_else(|| UnknownChannel(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_the_wire_form() {
        for (channel, name) in Channel::ALL.into_iter().zip(Channel::NAMES) {
            assert_eq!(channel.name(), name);
            assert_eq!(name.parse::<Channel>(), Ok(channel));
            assert_eq!(
                serde_json::to_string(&channel).unwrap(),
                format!("\"{name}\"")
            );
        }
        assert!("Stable".parse::<Channel>().is_err());
        assert!(" beta".parse::<Channel>().is_err());
        assert!(serde_json::from_str::<Channel>("\"nightly\"").is_err());
    }
}
