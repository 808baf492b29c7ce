//! Versions of runtimes and shells: semantic versions, compared as such (`0.10.0` > `0.9.0`).

pub use semver::Version;

/// Text that is not a semantic version; `what` names the field or the source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} `{text}` is not a semantic version ({reason})")]
pub struct BadVersion {
    pub what: String,
    pub text: String,
    pub reason: String,
}

/// Parses `text` as a semantic version; the error names `what` was being read.
pub fn parse(text: &str, what: &str) -> Result<Version, BadVersion> {
    Version::parse(text).map_err(|error| BadVersion {
        what: what.to_owned(),
        text: text.to_owned(),
        reason: error.to_string(),
    })
}
