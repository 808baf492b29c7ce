//! Where the data root is and where the shell looks for a runtime (`docs/runtime-contract.md`,
//! "Data root" and "Runtime discovery").

use std::path::{Path, PathBuf};

use crate::{env, AppNames};

/// The operating system family, passed in explicitly so every branch is testable anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    Macos,
    Windows,
    Linux,
}

impl Os {
    /// The OS this code was compiled for (other Unixes follow Linux/XDG).
    pub fn host() -> Os {
        if cfg!(target_os = "macos") {
            Os::Macos
        } else if cfg!(windows) {
            Os::Windows
        } else {
            Os::Linux
        }
    }
}

/// Resolves an app's data root: `<PREFIX>_DATA_DIR`, else, with the app's data folder name
/// `<folder>`, macOS `~/Library/Application Support/<folder>`, Windows `%APPDATA%\<folder>`,
/// Linux `$XDG_DATA_HOME/<folder>` (absolute values only, per the XDG spec) or
/// `~/.local/share/<folder>`. `None` when nothing usable is set.
///
/// Values are trimmed: a value of only whitespace is unset, and whitespace around a path is
/// dropped (a trailing space pasted into a launcher or a CI setting is a mistake far more often
/// than a folder name). The engine's `app/paths.py::resolve_data_root` follows the same rule;
/// both run the cases in `runtime-spec/tests/data-root-cases.json`.
pub fn data_root(
    app: &AppNames,
    os: Os,
    var: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
) -> Option<PathBuf> {
    let non_empty = |name: &str| {
        var(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    };
    if let Some(dir) = non_empty(&app.var(env::DATA_DIR)) {
        return Some(PathBuf::from(dir));
    }
    let folder = app.data_folder.as_str();
    match os {
        Os::Macos => Some(
            home?
                .join("Library")
                .join("Application Support")
                .join(folder),
        ),
        Os::Windows => match non_empty("APPDATA") {
            Some(appdata) => Some(PathBuf::from(appdata).join(folder)),
            None => Some(home?.join("AppData").join("Roaming").join(folder)),
        },
        // Absolute in the POSIX sense whatever the host, so the rule is testable anywhere.
        Os::Linux => match non_empty("XDG_DATA_HOME").filter(|dir| dir.starts_with('/')) {
            Some(xdg) => Some(PathBuf::from(xdg).join(folder)),
            None => Some(home?.join(".local").join("share").join(folder)),
        },
    }
}

/// One place the shell looks for a runtime, in [`DISCOVERY_ORDER`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryStep {
    /// `TOKENIZER_STUDIO_RUNTIME_DIR`.
    EnvOverride,
    /// `<data>/runtime/current`: the last runtime that passed its health check.
    Current,
    /// `<data>/runtime/default`: the runtime a full installer carried.
    Default,
    /// `runtime/` and `dist/runtime-<target>/` near the working directory. Development builds
    /// only: a release build started from a folder that holds a `runtime/` must not run an
    /// interpreter nobody verified.
    Development,
}

/// The order the shell tries: an explicit override first, then the installed runtimes (the one
/// that last passed its health check before the installer's bundled one), development folders
/// last.
pub const DISCOVERY_ORDER: [DiscoveryStep; 4] = [
    DiscoveryStep::EnvOverride,
    DiscoveryStep::Current,
    DiscoveryStep::Default,
    DiscoveryStep::Development,
];

/// Candidate folders in discovery order. The caller keeps the first whose `manifest.json`
/// parses and names its own target. `working_dir` is `Some` only in development builds; with
/// `None` the development step proposes nothing.
pub fn candidates(
    app: &AppNames,
    var: &dyn Fn(&str) -> Option<String>,
    data_root: &Path,
    working_dir: Option<&Path>,
    target_name: &str,
) -> Vec<(DiscoveryStep, PathBuf)> {
    let mut found = Vec::new();
    for step in DISCOVERY_ORDER {
        match step {
            DiscoveryStep::EnvOverride => {
                if let Some(dir) = var(&app.var(env::RUNTIME_DIR)).filter(|dir| !dir.is_empty()) {
                    found.push((step, PathBuf::from(dir)));
                }
            }
            DiscoveryStep::Current => found.push((step, data_root.join("runtime").join("current"))),
            DiscoveryStep::Default => found.push((step, data_root.join("runtime").join("default"))),
            DiscoveryStep::Development => {
                let Some(working_dir) = working_dir else {
                    continue;
                };
                found.push((step, working_dir.join("runtime")));
                found.push((
                    step,
                    working_dir
                        .join("dist")
                        .join(format!("runtime-{target_name}")),
                ));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::app::test_app;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn data_root_per_os() {
        let app = test_app();
        let home = Path::new("/home/ada");
        for (os, env_pairs, expected) in [
            (
                Os::Linux,
                vec![],
                Some("/home/ada/.local/share/TokenizerStudio"),
            ),
            (
                Os::Linux,
                vec![("XDG_DATA_HOME", "/xdg")],
                Some("/xdg/TokenizerStudio"),
            ),
            (
                Os::Linux,
                vec![("XDG_DATA_HOME", "relative")],
                Some("/home/ada/.local/share/TokenizerStudio"),
            ),
            (
                Os::Macos,
                vec![],
                Some("/home/ada/Library/Application Support/TokenizerStudio"),
            ),
            (
                Os::Windows,
                vec![("APPDATA", "C:/Users/ada/AppData/Roaming")],
                Some("C:/Users/ada/AppData/Roaming/TokenizerStudio"),
            ),
            (
                Os::Windows,
                vec![("APPDATA", "")],
                Some("/home/ada/AppData/Roaming/TokenizerStudio"),
            ),
            (
                Os::Macos,
                vec![("TOKENIZER_STUDIO_DATA_DIR", "/override")],
                Some("/override"),
            ),
            (
                Os::Linux,
                vec![("TOKENIZER_STUDIO_DATA_DIR", "")],
                Some("/home/ada/.local/share/TokenizerStudio"),
            ),
        ] {
            let map = vars(&env_pairs);
            let lookup = |name: &str| map.get(name).cloned();
            let root = data_root(&app, os, &lookup, Some(home));
            assert_eq!(
                root.as_deref(),
                expected.map(Path::new),
                "{os:?} {env_pairs:?}"
            );
        }
        let empty = |_: &str| None;
        assert_eq!(data_root(&app, Os::Linux, &empty, None), None);
    }

    #[test]
    fn discovery_follows_the_contract_order() {
        let app = test_app();
        let map = vars(&[("TOKENIZER_STUDIO_RUNTIME_DIR", "/custom")]);
        let lookup = |name: &str| map.get(name).cloned();
        let found = candidates(
            &app,
            &lookup,
            Path::new("/data"),
            Some(Path::new("/cwd")),
            "linux-x64",
        );
        let paths: Vec<_> = found
            .iter()
            .map(|(_, path)| path.to_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            paths,
            [
                "/custom",
                "/data/runtime/current",
                "/data/runtime/default",
                "/cwd/runtime",
                "/cwd/dist/runtime-linux-x64"
            ]
        );
        let empty = |_: &str| None;
        let found = candidates(
            &app,
            &empty,
            Path::new("/data"),
            Some(Path::new("/cwd")),
            "linux-x64",
        );
        assert_eq!(found[0].0, DiscoveryStep::Current);
    }

    #[test]
    fn without_a_working_dir_nothing_near_it_is_proposed() {
        let app = test_app();
        let empty = |_: &str| None;
        let found = candidates(&app, &empty, Path::new("/data"), None, "linux-x64");
        let steps: Vec<_> = found.iter().map(|(step, _)| *step).collect();
        assert_eq!(steps, [DiscoveryStep::Current, DiscoveryStep::Default]);
    }
}
