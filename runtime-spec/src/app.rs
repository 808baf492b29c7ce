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
    /// The app's steps of the installed app's self-test (`<app> --self-test`), relative to the
    /// app folder: one JavaScript async function the shell runs in the engine's page.
    pub self_test: String,
    /// The app's smoke step, relative to the app folder: a Python script the smoke tests run
    /// with the runtime's own interpreter against the started engine (`--base-url <url>`, the
    /// token in `<PREFIX>_RUNTIME_TOKEN`); exit 0 means the app works. Without one, the smoke
    /// tests train a tokenizer over the engine's API.
    #[serde(default)]
    pub smoke: Option<String>,
    /// What the installers say about the app.
    pub package: PackageDescriptor,
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
    /// The app's own Python packages, folders relative to the app folder (`api/app`), each
    /// copied into the runtime's `app/` under its folder name.
    pub packages: Vec<String>,
    /// Packages of the shared engine kit (`enginekit/<name>`) the engine imports (`jobrunner`).
    #[serde(default)]
    pub shared: Vec<String>,
}

/// The web UI's production build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebDescriptor {
    /// The web project folder, relative to the app folder (`web`).
    pub project: String,
    /// What the build writes, relative to the web project (`dist`); `.` for a UI without a
    /// build step, served as it is (a web project without `package.json`).
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

/// What the installers say about the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageDescriptor {
    /// One line (`Train tokenizers on your own files, on your own computer`).
    pub summary: String,
    /// A paragraph for package managers.
    pub description: String,
    /// Who publishes it; also the package maintainer's name.
    pub publisher: String,
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
        if let Err((name, problem)) = self.names().check() {
            // The module is the descriptor's `engine.module`.
            return Err(field(
                if name == "module" {
                    "engine.module"
                } else {
                    name
                },
                problem,
            ));
        }
        for (name, text) in [
            ("package.summary", &self.package.summary),
            ("package.description", &self.package.description),
            ("package.publisher", &self.package.publisher),
        ] {
            if text.trim().is_empty() {
                return Err(field(name, "must not be empty"));
            }
        }
        if !self.profiles.contains(&Profile::Base) {
            return Err(field(
                "profiles",
                "must include `base`: every app runs on the base runtime",
            ));
        }
        let mut paths = vec![
            ("engine.project", &self.engine.project),
            ("web.project", &self.web.project),
            ("icons.png", &self.icons.png),
            ("icons.ico", &self.icons.ico),
            ("self_test", &self.self_test),
        ];
        if let Some(smoke) = &self.smoke {
            paths.push(("smoke", smoke));
        }
        if self.web.out_dir != "." {
            paths.push(("web.out_dir", &self.web.out_dir));
        }
        paths.extend(
            self.engine
                .packages
                .iter()
                .map(|path| ("engine.packages", path)),
        );
        if self.engine.packages.is_empty() {
            return Err(field(
                "engine.packages",
                "must name at least one package folder",
            ));
        }
        let mut names: Vec<&str> = self
            .engine
            .packages
            .iter()
            .map(|path| package_name(path))
            .collect();
        names.extend(self.engine.shared.iter().map(String::as_str));
        for name in &names {
            if !python_identifier(name) {
                return Err(field(
                    "engine.shared",
                    &format!("`{name}` is not a Python package name"),
                ));
            }
        }
        let mut sorted = names.clone();
        sorted.sort_unstable();
        if let Some(pair) = sorted.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(field(
                "engine.packages",
                &format!(
                    "names the package `{}` twice: the runtime's `app/` holds one of each",
                    pair[0]
                ),
            ));
        }
        for (name, path) in paths {
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

    /// The names the app goes by at run time.
    pub fn names(&self) -> AppNames {
        AppNames {
            id: self.id.clone(),
            product_name: self.product_name.clone(),
            identifier: self.identifier.clone(),
            data_folder: self.data_folder.clone(),
            env_prefix: self.env_prefix.clone(),
            module: self.engine.module.clone(),
        }
    }
}

/// The package a folder of [`EngineDescriptor::packages`] becomes: its last part.
pub fn package_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn python_identifier(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The names one app goes by at run time, from its descriptor: what the shared crates (the
/// supervisor, the updater, the archive and release tools) take instead of naming an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppNames {
    /// `tokenizer-studio`: archive, binary and package names, the user agent.
    pub id: String,
    /// `Tokenizer Studio`: what a user reads.
    pub product_name: String,
    /// `dev.tokenizerstudio.app`: the manifest's `app_id`, bundle ids.
    pub identifier: String,
    /// `TokenizerStudio`: the data folder's name.
    pub data_folder: String,
    /// `TOKENIZER_STUDIO`: the prefix of the app's variables.
    pub env_prefix: String,
    /// The engine module `python -m` runs.
    pub module: String,
}

impl AppNames {
    /// Each name is one a computer can use as it is: `Err` names the field and what it must be.
    /// An app's names come from its descriptor, or from the signed app registry for an app a
    /// shell fetches; a data folder of `..` or a prefix with `=` must never reach a path or an
    /// environment either way.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
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
            return Err((
                "id",
                "must be lower-case words joined by `-` (e.g. `corpus-inspector`)",
            ));
        }
        if self.product_name.trim().is_empty() || self.product_name.chars().any(char::is_control) {
            return Err((
                "product_name",
                "must be a non-empty name without control characters",
            ));
        }
        let parts: Vec<&str> = self.identifier.split('.').collect();
        if parts.len() < 3 || !parts.iter().all(|part| kebab(part)) {
            return Err((
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
            return Err((
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
            return Err((
                "env_prefix",
                "must be upper-case letters, digits and `_`, without a trailing `_`",
            ));
        }
        let module_ok = !self.module.is_empty()
            && self.module.split('.').all(|part| {
                part.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
        if !module_ok {
            return Err(("module", "must be a Python module name (e.g. `app`)"));
        }
        Ok(())
    }

    /// The app's name for one of its variables (`<PREFIX>_DATA_DIR`).
    pub fn var(&self, var: crate::env::AppVar) -> String {
        var.name(&self.env_prefix)
    }

    /// The start of the engine's readiness line: `<PREFIX>_READY `.
    pub fn ready_prefix(&self) -> String {
        format!("{}_READY ", self.env_prefix)
    }

    /// The header carrying the per-launch token ([`crate::launch::token_header`]).
    pub fn token_header(&self) -> String {
        crate::launch::token_header(&self.env_prefix)
    }

    /// What every runtime archive of the app is named from: `<id>-runtime`.
    pub fn archive_stem(&self) -> String {
        format!("{}-runtime", self.id)
    }

    /// The `.pth` file in site-packages that puts `runtime/app/` on `sys.path`.
    pub fn pth_file(&self) -> String {
        format!("{}_app.pth", self.id.replace('-', "_"))
    }
}

fn is_relative_inside(path: &str) -> bool {
    !path.is_empty()
        && Path::new(path)
            .components()
            .all(|component| matches!(component, Component::Normal(_)))
}

/// The workspace's default app, for this crate's tests.
#[cfg(test)]
pub(crate) fn test_app() -> AppNames {
    AppDescriptor::parse(
        include_str!("../../apps/tokenizer-studio/app.toml"),
        "app.toml",
    )
    .unwrap()
    .names()
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
self_test = "self-test.js"

[engine]
project = "api"
module = "inspector"
packages = ["api/inspector"]
shared = ["jobrunner"]

[web]
project = "web"
out_dir = "dist"

[icons]
png = "icons/icon.png"
ico = "icons/icon.ico"

[package]
summary = "See what is in a corpus"
description = "Corpus statistics, on your own computer."
publisher = "Example developers"
"#;

    #[test]
    fn a_descriptor_parses_and_names_its_variables() {
        let app = AppDescriptor::parse(GOOD, "app.toml").unwrap();
        assert_eq!(app.env_var("DATA_DIR"), "CORPUS_INSPECTOR_DATA_DIR");
        assert_eq!(app.release, ReleaseDescriptor::default());
        let names = app.names();
        assert_eq!(names.var(crate::env::DATA_DIR), "CORPUS_INSPECTOR_DATA_DIR");
        assert_eq!(names.ready_prefix(), "CORPUS_INSPECTOR_READY ");
        assert_eq!(names.token_header(), "X-Corpus-Inspector-Token");
        assert_eq!(names.archive_stem(), "corpus-inspector-runtime");
        assert_eq!(names.pth_file(), "corpus_inspector_app.pth");
        let static_ui = GOOD.replace("out_dir = \"dist\"", "out_dir = \".\"");
        assert!(AppDescriptor::parse(&static_ui, "app.toml").is_ok());
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
                "packages = [\"api/inspector\"]",
                "packages = [\"../tokenizer-studio/api/app\"]",
                "`engine.packages`",
            ),
            (
                "shared = [\"jobrunner\"]",
                "shared = [\"inspector\"]",
                "twice",
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
