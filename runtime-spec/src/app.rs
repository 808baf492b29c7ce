//! The app descriptor, `apps/<app>/app.toml`: what makes one app of the toolchain different
//! from another (its id, names, data folder, variable prefix, profiles, engine package, web
//! build, icons, release URL). Schema snapshot-tested in `schema/app.schema.json`.

use std::path::{Component, Path};

use serde::{Deserialize, Serialize};

use crate::Profile;

/// The descriptor schema this build reads.
pub const APP_SCHEMA_VERSION: u32 = 1;
/// The descriptor's file name inside its app folder.
pub const APP_FILE: &str = "app.toml";

/// One app, as `apps/<app>/app.toml` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppDescriptor {
    pub schema_version: u32,
    /// Short id, lower-case words joined by `-` (`tokenizer-studio`): the binary, the package
    /// and the archive names, `cargo xtask release --app <id>`.
    pub id: String,
    /// What a user sees (`Tokenizer Studio`): window title, installers, menus.
    pub product_name: String,
    /// Reverse-DNS identifier (`dev.tokenizerstudio.app`): the manifest's `app_id`, the macOS
    /// bundle id, the Windows installer's key.
    pub identifier: String,
    /// The per-user data folder's name (`TokenizerStudio`), under the OS's data location.
    pub data_folder: String,
    /// Prefix of every environment variable the app reads (`TOKENIZER_STUDIO` →
    /// `TOKENIZER_STUDIO_DATA_DIR`, …).
    pub env_prefix: String,
    /// The runtime profiles this app supports; `base` is always one.
    pub profiles: Vec<Profile>,
    pub engine: EngineDescriptor,
    pub web: WebDescriptor,
    pub icons: IconsDescriptor,
    #[serde(default)]
    pub release: ReleaseDescriptor,
}

/// The engine: a Python package run as `python -m <module>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EngineDescriptor {
    /// The engine's Python project folder, relative to the app folder (`api`).
    pub project: String,
    /// The module `python -m` runs (`app`).
    pub module: String,
}

/// The web UI's production build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebDescriptor {
    /// The web project folder, relative to the app folder (`web`).
    pub project: String,
    /// What the build writes, relative to the web project (`dist`).
    pub out_dir: String,
}

/// The app's icons, relative to the app folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IconsDescriptor {
    pub png: String,
    /// Windows needs an `.ico` in the executable.
    pub ico: String,
}

/// Where releases are published; empty until the app has a home.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseDescriptor {
    #[serde(default)]
    pub base_url: Option<String>,
}

/// A descriptor that cannot be used, with the field to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    #[error("{file}: {message}")]
    Toml { file: String, message: String },
    #[error(
        "{file}: schema_version {found} is not supported (this build reads {APP_SCHEMA_VERSION})"
    )]
    Version { file: String, found: u32 },
    #[error("{file}: `{field}` {problem}")]
    Field {
        file: String,
        field: &'static str,
        problem: String,
    },
}

impl AppDescriptor {
    /// Parses and checks a descriptor; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<AppDescriptor, AppError> {
        let descriptor: AppDescriptor = toml::from_str(text).map_err(|error| AppError::Toml {
            file: file.to_owned(),
            message: error.message().to_owned(),
        })?;
        if descriptor.schema_version != APP_SCHEMA_VERSION {
            return Err(AppError::Version {
                file: file.to_owned(),
                found: descriptor.schema_version,
            });
        }
        descriptor.check(file)?;
        Ok(descriptor)
    }

    fn check(&self, file: &str) -> Result<(), AppError> {
        let field = |field: &'static str, problem: &str| AppError::Field {
            file: file.to_owned(),
            field,
            problem: problem.to_owned(),
        };
        let kebab = |text: &str| {
            !text.is_empty()
                && text.split('-').all(|word| {
                    !word.is_empty()
                        && word
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                })
        };
        if !kebab(&self.id) {
            return Err(field(
                "id",
                "must be lower-case words joined by `-` (e.g. `corpus-inspector`)",
            ));
        }
        if self.product_name.trim().is_empty() || self.product_name.chars().any(char::is_control) {
            return Err(field(
                "product_name",
                "must be a non-empty name without control characters",
            ));
        }
        let parts: Vec<&str> = self.identifier.split('.').collect();
        if parts.len() < 3 || !parts.iter().all(|part| kebab(part)) {
            return Err(field(
                "identifier",
                "must be reverse-DNS with at least three lower-case parts (e.g. `dev.example.app`)",
            ));
        }
        let folder_ok = !self.data_folder.is_empty()
            && self
                .data_folder
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !folder_ok {
            return Err(field(
                "data_folder",
                "must be one folder name of letters, digits, `-` or `_`",
            ));
        }
        let prefix_ok = self
            .env_prefix
            .starts_with(|c: char| c.is_ascii_uppercase())
            && self
                .env_prefix
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            && !self.env_prefix.ends_with('_');
        if !prefix_ok {
            return Err(field(
                "env_prefix",
                "must be upper-case letters, digits and `_`, without a trailing `_`",
            ));
        }
        if !self.profiles.contains(&Profile::Base) {
            return Err(field(
                "profiles",
                "must include `base`: every app runs on the base runtime",
            ));
        }
        let module_ok = !self.engine.module.is_empty()
            && self.engine.module.split('.').all(|part| {
                part.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
        if !module_ok {
            return Err(field(
                "engine.module",
                "must be a Python module name (e.g. `app`)",
            ));
        }
        for (name, path) in [
            ("engine.project", &self.engine.project),
            ("web.project", &self.web.project),
            ("web.out_dir", &self.web.out_dir),
            ("icons.png", &self.icons.png),
            ("icons.ico", &self.icons.ico),
        ] {
            if !is_relative_inside(path) {
                return Err(field(
                    name,
                    "must be a relative path inside the app's folder (no `..`, not absolute)",
                ));
            }
        }
        if let Some(url) = &self.release.base_url {
            if !url.starts_with("https://") {
                return Err(field("release.base_url", "must be an https:// URL"));
            }
        }
        Ok(())
    }

    /// `<PREFIX>_<NAME>`: the app's name for one of its variables.
    pub fn env_var(&self, name: &str) -> String {
        format!("{}_{name}", self.env_prefix)
    }
}

fn is_relative_inside(path: &str) -> bool {
    !path.is_empty()
        && Path::new(path)
            .components()
            .all(|component| matches!(component, Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
schema_version = 1
id = "corpus-inspector"
product_name = "Corpus Inspector"
identifier = "dev.corpusinspector.app"
data_folder = "CorpusInspector"
env_prefix = "CORPUS_INSPECTOR"
profiles = ["base"]

[engine]
project = "api"
module = "inspector"

[web]
project = "web"
out_dir = "dist"

[icons]
png = "icons/icon.png"
ico = "icons/icon.ico"
"#;

    #[test]
    fn a_descriptor_parses_and_names_its_variables() {
        let app = AppDescriptor::parse(GOOD, "app.toml").unwrap();
        assert_eq!(app.env_var("DATA_DIR"), "CORPUS_INSPECTOR_DATA_DIR");
        assert_eq!(app.release, ReleaseDescriptor::default());
    }

    #[test]
    fn each_bad_field_is_named() {
        for (from, to, field) in [
            (
                "id = \"corpus-inspector\"",
                "id = \"Corpus Inspector\"",
                "`id`",
            ),
            (
                "identifier = \"dev.corpusinspector.app\"",
                "identifier = \"inspector\"",
                "`identifier`",
            ),
            (
                "data_folder = \"CorpusInspector\"",
                "data_folder = \"../Corpus\"",
                "`data_folder`",
            ),
            (
                "env_prefix = \"CORPUS_INSPECTOR\"",
                "env_prefix = \"corpus_\"",
                "`env_prefix`",
            ),
            (
                "profiles = [\"base\"]",
                "profiles = [\"torch\"]",
                "`profiles`",
            ),
            (
                "module = \"inspector\"",
                "module = \"9lives\"",
                "`engine.module`",
            ),
            (
                "project = \"api\"",
                "project = \"../../shell\"",
                "`engine.project`",
            ),
            (
                "png = \"icons/icon.png\"",
                "png = \"/etc/passwd\"",
                "`icons.png`",
            ),
            (
                "schema_version = 1",
                "schema_version = 2",
                "schema_version 2",
            ),
            (
                "out_dir = \"dist\"",
                "out_dir = \"dist\"\nextra = 1",
                "unknown field",
            ),
        ] {
            let text = GOOD.replacen(from, to, 1);
            assert_ne!(text, GOOD, "{from}");
            let error = AppDescriptor::parse(&text, "apps/x/app.toml")
                .unwrap_err()
                .to_string();
            assert!(error.contains(field), "{to}: {error}");
            assert!(error.starts_with("apps/x/app.toml"), "{error}");
        }
        let text = format!("{GOOD}\n[release]\nbase_url = \"http://example.invalid\"\n");
        let error = AppDescriptor::parse(&text, "app.toml")
            .unwrap_err()
            .to_string();
        assert!(error.contains("release.base_url"), "{error}");
    }
}
