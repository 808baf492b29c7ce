//! The app registry, `apps-<channel>.json` (`.minisig` beside it) under the release base URL: the
//! apps a channel publishes, each with the version of its release and where that app's own
//! signed runtime index is. It is signed with the release key, like the runtime index, and a
//! shell trusts it under the same rules: the key built in, its own channel, never older than
//! the newest one it has seen (`docs/runtime-contract.md`, "App registry").

use serde::{Deserialize, Serialize};

use crate::{Channel, SpecError, Version};

/// Version of the registry format.
pub const REGISTRY_SCHEMA_VERSION: u32 = 1;

/// `apps-<channel>.json`.
pub fn registry_file_name(channel: Channel) -> String {
    format!("apps-{channel}.json")
}

/// The apps one channel publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppRegistry {
    /// Always [`REGISTRY_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// `dev`, `alpha`, `beta` or `stable`; the shell refuses a registry for another channel.
    pub channel: Channel,
    /// Seconds since the Unix epoch (`SOURCE_DATE_EPOCH` of the release commit); a registry
    /// older than the newest one seen is refused (replay defence).
    pub published_at: u64,
    /// One entry per app, sorted by id.
    pub apps: Vec<RegistryApp>,
}

/// One published app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistryApp {
    /// The app's id (its descriptor's `id`).
    pub id: String,
    /// What a user reads.
    pub product_name: String,
    /// The version of the app's release.
    #[schemars(with = "String")]
    pub version: Version,
    /// The app's runtime index (`runtime-<channel>.json`), relative to the registry's own URL
    /// or absolute. A shell verifies it with the same key.
    pub index_url: String,
    /// The rest of the names the app goes by at run time ([`crate::AppNames`]), so that a
    /// shell that does not carry the app can install and open it: its identifier (the `app_id`
    /// of its runtimes), data folder, variable prefix and engine module.
    pub identifier: String,
    pub data_folder: String,
    pub env_prefix: String,
    pub module: String,
}

impl RegistryApp {
    /// The names the app goes by at run time.
    pub fn names(&self) -> crate::AppNames {
        crate::AppNames {
            id: self.id.clone(),
            product_name: self.product_name.clone(),
            identifier: self.identifier.clone(),
            data_folder: self.data_folder.clone(),
            env_prefix: self.env_prefix.clone(),
            module: self.module.clone(),
        }
    }
}

impl AppRegistry {
    /// Parses a registry: its schema version first (a later format is never half-read), then
    /// the rest; ids must be unique and sorted.
    pub fn from_json(json: &[u8]) -> Result<AppRegistry, SpecError> {
        #[derive(Deserialize)]
        struct Head {
            schema_version: u32,
        }
        let head: Head = serde_json::from_slice(json).map_err(SpecError::RegistryJson)?;
        if head.schema_version != REGISTRY_SCHEMA_VERSION {
            return Err(SpecError::RegistryVersion {
                found: head.schema_version,
                expected: REGISTRY_SCHEMA_VERSION,
            });
        }
        let registry: AppRegistry =
            serde_json::from_slice(json).map_err(SpecError::RegistryJson)?;
        registry.validate()?;
        Ok(registry)
    }

    /// Ids are unique and sorted; each app's names are usable ([`crate::AppNames::check`]) and
    /// no two apps share an identifier, data folder or variable prefix; each names an index.
    pub fn validate(&self) -> Result<(), SpecError> {
        for pair in self.apps.windows(2) {
            if pair[0].id >= pair[1].id {
                return Err(SpecError::RegistryApps {
                    reason: format!("`{}` is listed twice or out of order", pair[1].id),
                });
            }
        }
        for app in &self.apps {
            if let Err((field, problem)) = app.names().check() {
                return Err(SpecError::RegistryApps {
                    reason: format!("the entry `{}`: `{field}` {problem}", app.id),
                });
            }
            if app.index_url.trim().is_empty() {
                return Err(SpecError::RegistryApps {
                    reason: format!("the entry `{}` names no index", app.id),
                });
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for app in &self.apps {
            for (what, name) in [
                ("identifier", &app.identifier),
                ("data folder", &app.data_folder),
                ("variable prefix", &app.env_prefix),
            ] {
                if !seen.insert((what, name.to_ascii_lowercase())) {
                    return Err(SpecError::RegistryApps {
                        reason: format!("two apps share the {what} `{name}`"),
                    });
                }
            }
        }
        Ok(())
    }

    /// The entry of the app `id`.
    pub fn app(&self, id: &str) -> Option<&RegistryApp> {
        self.apps.iter().find(|app| app.id == id)
    }

    /// The minisign trusted comment the registry is signed with: its file, channel and
    /// publication time, so a signature cannot be replayed for another channel or day (the
    /// runtime index's rule).
    pub fn trusted_comment(&self) -> String {
        format!(
            "timestamp:{published_at}\tfile:{file}\tchannel:{channel}\tpublished_at:{published_at}",
            published_at = self.published_at,
            file = registry_file_name(self.channel),
            channel = self.channel,
        )
    }

    /// Pretty JSON with a trailing newline: identical registries give identical bytes.
    pub fn to_json(&self) -> String {
        let mut json = serde_json::to_string_pretty(self).expect("a registry serialises");
        json.push('\n');
        json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AppRegistry {
        AppRegistry {
            schema_version: REGISTRY_SCHEMA_VERSION,
            channel: Channel::Dev,
            published_at: 1_700_000_000,
            apps: vec![
                RegistryApp {
                    id: "corpus-inspector".into(),
                    product_name: "Corpus Inspector".into(),
                    version: "0.1.0".parse().unwrap(),
                    index_url: "corpus-inspector/runtime-dev.json".into(),
                    identifier: "dev.corpusinspector.app".into(),
                    data_folder: "CorpusInspector".into(),
                    env_prefix: "CORPUS_INSPECTOR".into(),
                    module: "inspector".into(),
                },
                RegistryApp {
                    id: "tokenizer-studio".into(),
                    product_name: "Tokenizer Studio".into(),
                    version: "0.1.0".parse().unwrap(),
                    index_url: "runtime-dev.json".into(),
                    identifier: "dev.tokenizerstudio.app".into(),
                    data_folder: "TokenizerStudio".into(),
                    env_prefix: "TOKENIZER_STUDIO".into(),
                    module: "app".into(),
                },
            ],
        }
    }

    #[test]
    fn a_registry_round_trips_and_names_its_file_in_the_signed_comment() {
        let registry = sample();
        let parsed = AppRegistry::from_json(registry.to_json().as_bytes()).unwrap();
        assert_eq!(parsed, registry);
        assert!(registry.trusted_comment().contains("file:apps-dev.json"));
        assert_eq!(
            registry.app("corpus-inspector").unwrap().product_name,
            "Corpus Inspector"
        );
    }

    #[test]
    fn bad_registries_are_refused_with_the_reason() {
        let later = sample()
            .to_json()
            .replace("\"schema_version\": 1", "\"schema_version\": 2");
        let error = AppRegistry::from_json(later.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(error.contains("update the app"), "{error}");

        let mut twice = sample();
        twice.apps[1].id = "corpus-inspector".into();
        let error = AppRegistry::from_json(twice.to_json().as_bytes())
            .unwrap_err()
            .to_string();
        assert!(error.contains("twice or out of order"), "{error}");

        let mut empty = sample();
        empty.apps[0].index_url = " ".into();
        assert!(AppRegistry::from_json(empty.to_json().as_bytes()).is_err());

        // Names a shell would turn into paths and variables are held to the descriptor's rules.
        let mut escaping = sample();
        escaping.apps[0].data_folder = "../TokenizerStudio".into();
        let error = AppRegistry::from_json(escaping.to_json().as_bytes())
            .unwrap_err()
            .to_string();
        assert!(error.contains("`data_folder`"), "{error}");
        let mut injected = sample();
        injected.apps[0].env_prefix = "PATH=".into();
        assert!(AppRegistry::from_json(injected.to_json().as_bytes()).is_err());
        let mut shared = sample();
        shared.apps[1].data_folder = "corpusinspector".into();
        let error = AppRegistry::from_json(shared.to_json().as_bytes())
            .unwrap_err()
            .to_string();
        assert!(error.contains("share the data folder"), "{error}");

        let unknown = sample()
            .to_json()
            .replacen("\"apps\"", "\"extra\": 1, \"apps\"", 1);
        assert!(AppRegistry::from_json(unknown.as_bytes()).is_err());
    }
}
