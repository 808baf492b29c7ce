//! Notarization: the commands CI runs, built from the App Store Connect API key variables.
//!
//! apple-codesign's `notarize` feature links the AWS S3 SDK and an HTTP stack (Apple's notary
//! service uploads through S3), roughly doubling the build and adding a TLS stack to the
//! release toolchain for one network call in one CI job. So this crate does not link it:
//! CI installs `rcodesign` (`cargo install apple-codesign`, the same crate) and runs the
//! commands returned by [`NotaryApiKey::notarize_commands`].

use std::path::{Path, PathBuf};

/// App Store Connect API key ID (10 characters, e.g. `DEADBEEF42`).
pub const ENV_API_KEY_ID: &str = "APPLE_API_KEY_ID";
/// App Store Connect API issuer ID (a UUID).
pub const ENV_API_ISSUER: &str = "APPLE_API_ISSUER";
/// Path of the `AuthKey_<ID>.p8` private key downloaded from App Store Connect.
pub const ENV_API_KEY_P8_PATH: &str = "APPLE_API_KEY_P8_PATH";
/// The contents of that `.p8` file (a CI secret holds text, not a file); used when
/// [`ENV_API_KEY_P8_PATH`] is not set.
pub const ENV_API_KEY_P8: &str = "APPLE_API_KEY_P8";
/// Apple's RFC 3161 time-stamp server: notarization requires a secure timestamp on every
/// signature it checks.
pub const APPLE_TIMESTAMP_URL: &str = "http://timestamp.apple.com/ts01";

/// Where the `.p8` private key comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum P8Source {
    /// [`ENV_API_KEY_P8_PATH`]: a file.
    Path(PathBuf),
    /// [`ENV_API_KEY_P8`]: the PEM text, written to a private scratch file only while the
    /// notarization commands run.
    Contents(String),
}

impl std::fmt::Debug for P8Source {
    // Never print the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Path(path) => f.debug_tuple("Path").field(path).finish(),
            Self::Contents(_) => f.write_str("Contents(<redacted>)"),
        }
    }
}

/// An App Store Connect API key, as CI provides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotaryApiKey {
    /// [`ENV_API_KEY_ID`].
    pub key_id: String,
    /// [`ENV_API_ISSUER`].
    pub issuer: String,
    /// [`ENV_API_KEY_P8_PATH`] or [`ENV_API_KEY_P8`].
    pub p8: P8Source,
}

/// A program and its arguments, printable as a shell line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellCommand {
    /// The program (`rcodesign`).
    pub program: String,
    /// Its arguments, unquoted.
    pub args: Vec<String>,
}

impl std::fmt::Display for ShellCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&shell_quote(&self.program))?;
        for arg in &self.args {
            write!(f, " {}", shell_quote(arg))?;
        }
        Ok(())
    }
}

fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | '@' | '+')
        });
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

impl NotaryApiKey {
    /// Reads [`ENV_API_KEY_ID`], [`ENV_API_ISSUER`] and [`ENV_API_KEY_P8_PATH`] (or
    /// [`ENV_API_KEY_P8`]); `None` unless all three are set (notarization is skipped, e.g. on
    /// the dev channel or forks).
    pub fn from_env() -> Option<Self> {
        Self::from_env_lookup(&|name: &str| {
            std::env::var(name).ok().filter(|value| !value.is_empty())
        })
    }

    /// [`NotaryApiKey::from_env`] over any variable source.
    pub fn from_env_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Option<Self> {
        let p8 = match lookup(ENV_API_KEY_P8_PATH) {
            Some(path) => P8Source::Path(PathBuf::from(path)),
            None => P8Source::Contents(lookup(ENV_API_KEY_P8)?),
        };
        Some(Self {
            key_id: lookup(ENV_API_KEY_ID)?,
            issuer: lookup(ENV_API_ISSUER)?,
            p8,
        })
    }

    /// The commands that notarize `path` (a signed `.app`, `.dmg` or `.pkg`; a bare `.app` is
    /// zipped by rcodesign) and staple the ticket to it, in order:
    /// 1. encode the key into the JSON file rcodesign reads (`api-key.json` in `scratch`, a
    ///    private temporary folder outside the repository: it holds the private key, as does
    ///    `AuthKey.p8` written there when the key came as text);
    /// 2. submit, wait for Apple's verdict (up to 30 minutes) and staple.
    pub fn notarize_commands(
        &self,
        path: &Path,
        scratch: &Path,
    ) -> std::io::Result<Vec<ShellCommand>> {
        let p8_path = match &self.p8 {
            P8Source::Path(p8_path) => p8_path.clone(),
            P8Source::Contents(contents) => {
                let p8_path = scratch.join("AuthKey.p8");
                fs_err::write(&p8_path, contents)?;
                p8_path
            }
        };
        let api_key_json = scratch.join("api-key.json");
        let rcodesign = |args: Vec<String>| ShellCommand {
            program: "rcodesign".to_string(),
            args,
        };
        Ok(vec![
            rcodesign(vec![
                "encode-app-store-connect-api-key".to_string(),
                "--output-path".to_string(),
                api_key_json.display().to_string(),
                self.issuer.clone(),
                self.key_id.clone(),
                p8_path.display().to_string(),
            ]),
            rcodesign(vec![
                "notary-submit".to_string(),
                "--api-key-file".to_string(),
                api_key_json.display().to_string(),
                "--staple".to_string(),
                "--max-wait-seconds".to_string(),
                "1800".to_string(),
                path.display().to_string(),
            ]),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variables(name: &str) -> Option<String> {
        match name {
            ENV_API_KEY_ID => Some("DEADBEEF42".to_string()),
            ENV_API_ISSUER => Some("69a6de7e-0000-47e3-e053-5b8c7c11a4d1".to_string()),
            ENV_API_KEY_P8_PATH => Some("/secrets/AuthKey_DEADBEEF42.p8".to_string()),
            _ => None,
        }
    }

    #[test]
    fn api_key_needs_all_three_variables() {
        let key = NotaryApiKey::from_env_lookup(&variables).expect("all three set");
        let commands: Vec<String> = key
            .notarize_commands(Path::new("dist/Tokenizer Studio.app"), Path::new("/tmp/n"))
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            commands,
            [
                "rcodesign encode-app-store-connect-api-key --output-path /tmp/n/api-key.json \
                 69a6de7e-0000-47e3-e053-5b8c7c11a4d1 DEADBEEF42 /secrets/AuthKey_DEADBEEF42.p8",
                "rcodesign notary-submit --api-key-file /tmp/n/api-key.json --staple --max-wait-seconds 1800 \
                 'dist/Tokenizer Studio.app'",
            ]
        );

        for missing in [ENV_API_KEY_ID, ENV_API_ISSUER, ENV_API_KEY_P8_PATH] {
            let partial = |name: &str| {
                if name == missing {
                    None
                } else {
                    variables(name)
                }
            };
            assert_eq!(
                NotaryApiKey::from_env_lookup(&partial),
                None,
                "{missing} unset"
            );
        }
    }

    /// CI secrets hold the key's text: it is written into the scratch folder for rcodesign
    /// and never shown in debug output.
    #[test]
    fn api_key_contents_are_written_to_the_scratch_folder_and_redacted() {
        let pem = "-----BEGIN PRIVATE KEY-----\nMIGTAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\n";
        let lookup = |name: &str| match name {
            ENV_API_KEY_P8_PATH => None,
            ENV_API_KEY_P8 => Some(pem.to_string()),
            other => variables(other),
        };
        let key = NotaryApiKey::from_env_lookup(&lookup).expect("the key's text is enough");
        assert_eq!(key.p8, P8Source::Contents(pem.to_string()));
        assert!(!format!("{key:?}").contains("MIGTAgEA"), "{key:?}");
        let scratch = tempfile::tempdir().unwrap();
        let commands = key
            .notarize_commands(Path::new("image.dmg"), scratch.path())
            .unwrap();
        let written = scratch.path().join("AuthKey.p8");
        assert_eq!(std::fs::read_to_string(&written).unwrap(), pem);
        assert_eq!(
            commands[0].args.last().map(String::as_str),
            Some(written.to_str().unwrap())
        );
    }
}
