//! Finds the runtime to start, in the contract's order (`docs/runtime-contract.md`, "Runtime
//! discovery"), and remembers why each candidate was refused.
//!
//! At launch the shell checks only what it must to pick a folder: `manifest.json` parses with a
//! schema this build reads and names this platform. It does not re-hash every file (≈ 460 MB,
//! seconds of IO on each start): the installer verifies the whole tree before it promotes a
//! runtime into `<data>/runtime/`, and a corrupted file shows up as a failed start with its log.

use std::io;
use std::path::{Path, PathBuf};

use runtime_spec::discovery::{candidates, DiscoveryStep};
use runtime_spec::layout::MANIFEST_FILE;
use runtime_spec::{Manifest, Target};
use serde::Serialize;

/// A runtime folder that passed the launch-time checks.
#[derive(Debug, Clone)]
pub struct FoundRuntime {
    pub step: DiscoveryStep,
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// Why one candidate folder was not used, in words for the error screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RejectReason {
    /// No folder (or no `manifest.json` in it): the common case for the later steps.
    Missing,
    /// The manifest exists but could not be read.
    Unreadable { message: String },
    /// The manifest is not one this build understands (broken JSON, newer schema, ...).
    Invalid { message: String },
    /// A fine runtime, for another platform (e.g. copied from a Mac).
    WrongPlatform { found: String, expected: String },
    /// A runtime of another app (its manifest's `app_id`): never started as this app's engine.
    OtherApp { found: String },
}

/// One refused candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// Which discovery step proposed it, in words (`"<PREFIX>_RUNTIME_DIR"`, ...).
    pub source: String,
    pub dir: PathBuf,
    pub reason: RejectReason,
}

/// What the shell needs to look for a runtime, gathered once from the environment.
#[derive(Debug, Clone)]
pub struct DiscoveryInputs {
    pub data_root: PathBuf,
    /// Where the development step looks (`runtime/`, `dist/runtime-<target>/`): `Some` only
    /// in debug builds, see [`development_working_dir`].
    pub working_dir: Option<PathBuf>,
    pub runtime_dir_override: Option<String>,
    pub target: Target,
}

/// Every folder discovery looks at, in order, with the step that proposes it.
pub fn candidate_list(inputs: &DiscoveryInputs) -> Vec<(&'static str, PathBuf)> {
    let lookup = |name: &str| {
        (name == crate::app().var(runtime_spec::env::RUNTIME_DIR))
            .then(|| inputs.runtime_dir_override.clone())
            .flatten()
    };
    candidates(
        crate::app(),
        &lookup,
        &inputs.data_root,
        inputs.working_dir.as_deref(),
        inputs.target.name(),
    )
    .into_iter()
    .map(|(step, dir)| (step_name(step), dir))
    .collect()
}

/// Tries every candidate in discovery order and returns the first acceptable one, or every
/// rejection (in order) when none is.
pub fn discover(inputs: &DiscoveryInputs) -> Result<FoundRuntime, Vec<Rejection>> {
    let lookup = |name: &str| {
        (name == crate::app().var(runtime_spec::env::RUNTIME_DIR))
            .then(|| inputs.runtime_dir_override.clone())
            .flatten()
    };
    let mut rejections = Vec::new();
    for (step, dir) in candidates(
        crate::app(),
        &lookup,
        &inputs.data_root,
        inputs.working_dir.as_deref(),
        inputs.target.name(),
    ) {
        match check_runtime(&dir, inputs.target) {
            Ok(manifest) => {
                return Ok(FoundRuntime {
                    step,
                    dir,
                    manifest,
                })
            }
            Err(reason) => rejections.push(Rejection {
                source: step_name(step).to_owned(),
                dir,
                reason,
            }),
        }
    }
    Err(rejections)
}

/// The launch-time check of one folder: its manifest parses and names `target`.
pub fn check_runtime(dir: &Path, target: Target) -> Result<Manifest, RejectReason> {
    let bytes = match std::fs::read(dir.join(MANIFEST_FILE)) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Err(RejectReason::Missing),
        // A folder given as a file path, or a dangling `current` link, is just as absent.
        Err(error) if error.kind() == io::ErrorKind::NotADirectory => {
            return Err(RejectReason::Missing)
        }
        Err(error) => {
            return Err(RejectReason::Unreadable {
                message: error.to_string(),
            })
        }
    };
    check_manifest_bytes(&bytes, target)
}

/// [`check_runtime`] on bytes already read.
pub fn check_manifest_bytes(bytes: &[u8], target: Target) -> Result<Manifest, RejectReason> {
    match Manifest::from_json(bytes) {
        Ok(manifest) if manifest.target == target && manifest.app_id != crate::app().identifier => {
            Err(RejectReason::OtherApp {
                found: manifest.app_id,
            })
        }
        Ok(manifest) if manifest.target == target => Ok(manifest),
        Ok(manifest) => Err(RejectReason::WrongPlatform {
            found: manifest.target.name().to_owned(),
            expected: target.name().to_owned(),
        }),
        Err(error) => {
            // A target this build does not know (e.g. a future `linux-arm64`) fails the strict
            // parse; it is still "another platform" to the user, not a broken file.
            #[derive(serde::Deserialize)]
            struct TargetProbe {
                target: String,
            }
            match serde_json::from_slice::<TargetProbe>(bytes) {
                Ok(probe) if probe.target != target.name() => Err(RejectReason::WrongPlatform {
                    found: probe.target,
                    expected: target.name().to_owned(),
                }),
                _ => Err(RejectReason::Invalid {
                    message: error.to_string(),
                }),
            }
        }
    }
}

/// The user-facing name of a discovery step (the override: the app's variable's name).
pub fn step_name(step: DiscoveryStep) -> &'static str {
    static OVERRIDE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    match step {
        DiscoveryStep::EnvOverride => {
            OVERRIDE.get_or_init(|| crate::app().var(runtime_spec::env::RUNTIME_DIR))
        }
        DiscoveryStep::Current => "installed runtime",
        DiscoveryStep::Default => "runtime that came with the app",
        DiscoveryStep::Development => "development build",
    }
}

/// The working directory for the development step: debug builds only. A release build
/// (every installer, whatever its channel) finds runtimes only where it installed them, or
/// through the app's explicit `<PREFIX>_RUNTIME_DIR`.
pub fn development_working_dir() -> Option<PathBuf> {
    if cfg!(debug_assertions) {
        std::env::current_dir().ok()
    } else {
        None
    }
}

/// `<data>/runtime/previous`: the runtime an update replaced, offered after a failed start.
pub fn previous_runtime_dir(data_root: &Path) -> PathBuf {
    data_root.join("runtime").join("previous")
}

#[cfg(test)]
mod tests {
    use super::*;
    use runtime_spec::{LaunchContract, PythonInfo, PythonSource};

    fn manifest_json(target: Target) -> String {
        Manifest {
            schema_version: runtime_spec::manifest::MANIFEST_SCHEMA_VERSION,
            app_id: crate::app().identifier.clone(),
            runtime_version: "0.1.0".parse().unwrap(),
            target,
            python: PythonInfo {
                version: "3.12.1".parse().unwrap(),
                build: "local".into(),
                source: PythonSource::Local,
                sha256: None,
            },
            profile: Default::default(),
            accelerator: Default::default(),
            requirements: None,
            lock_sha256: "0".repeat(64).parse().unwrap(),
            launch: LaunchContract::for_app(crate::app(), target),
            files: Vec::new(),
        }
        .to_json()
    }

    fn write_runtime(dir: &Path, manifest: &str) {
        fs_err::create_dir_all(dir).unwrap();
        fs_err::write(dir.join(MANIFEST_FILE), manifest).unwrap();
    }

    fn inputs(root: &Path, override_dir: Option<&Path>) -> DiscoveryInputs {
        DiscoveryInputs {
            data_root: root.join("data"),
            working_dir: Some(root.join("cwd")),
            runtime_dir_override: override_dir.map(|dir| dir.to_str().unwrap().to_owned()),
            target: Target::LinuxX64,
        }
    }

    #[test]
    fn each_step_is_found_when_it_is_the_only_runtime() {
        for (step, relative) in [
            (DiscoveryStep::EnvOverride, "custom"),
            (DiscoveryStep::Current, "data/runtime/current"),
            (DiscoveryStep::Default, "data/runtime/default"),
            (DiscoveryStep::Development, "cwd/runtime"),
            (DiscoveryStep::Development, "cwd/dist/runtime-linux-x64"),
        ] {
            let temp = tempfile::tempdir().unwrap();
            let dir = temp.path().join(relative);
            write_runtime(&dir, &manifest_json(Target::LinuxX64));
            let override_dir = temp.path().join("custom");
            let found = discover(&inputs(temp.path(), Some(&override_dir))).unwrap();
            assert_eq!((found.step, found.dir), (step, dir), "{relative}");
        }
    }

    #[test]
    fn a_release_build_ignores_a_runtime_in_the_working_directory() {
        let temp = tempfile::tempdir().unwrap();
        for relative in ["cwd/runtime", "cwd/dist/runtime-linux-x64"] {
            write_runtime(
                &temp.path().join(relative),
                &manifest_json(Target::LinuxX64),
            );
        }
        let mut release = inputs(temp.path(), None);
        release.working_dir = None;
        let rejections = discover(&release).unwrap_err();
        let looked_at: Vec<_> = rejections.iter().map(|r| r.source.as_str()).collect();
        assert_eq!(
            looked_at,
            ["installed runtime", "runtime that came with the app"]
        );
        // This test binary is built like the shell it tests: in release, no working dir.
        if !cfg!(debug_assertions) {
            assert_eq!(development_working_dir(), None);
        }
    }

    #[test]
    fn earlier_steps_win_and_bad_ones_are_skipped_with_a_reason() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path();
        write_runtime(&root.join("custom"), "{ not json");
        write_runtime(
            &root.join("data/runtime/current"),
            &manifest_json(Target::MacosArm64),
        );
        write_runtime(
            &root.join("data/runtime/default"),
            &manifest_json(Target::LinuxX64),
        );
        write_runtime(&root.join("cwd/runtime"), &manifest_json(Target::LinuxX64));
        let found = discover(&inputs(root, Some(&root.join("custom")))).unwrap();
        assert_eq!(found.step, DiscoveryStep::Default);
    }

    #[test]
    fn nothing_found_lists_every_rejection_in_order() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path();
        write_runtime(&root.join("custom"), r#"{"schema_version": 99}"#);
        write_runtime(
            &root.join("data/runtime/current"),
            &manifest_json(Target::WindowsX64),
        );
        let rejections = discover(&inputs(root, Some(&root.join("custom")))).unwrap_err();
        let reasons: Vec<_> = rejections
            .iter()
            .map(|rejection| (rejection.source.as_str(), &rejection.reason))
            .collect();
        assert_eq!(reasons.len(), 5);
        assert_eq!(reasons[0].0, "TOKENIZER_STUDIO_RUNTIME_DIR");
        assert!(
            matches!(reasons[0].1, RejectReason::Invalid { message } if message.contains("99"))
        );
        assert_eq!(
            reasons[1].1,
            &RejectReason::WrongPlatform {
                found: "windows-x64".into(),
                expected: "linux-x64".into()
            }
        );
        for (_, reason) in &reasons[2..] {
            assert_eq!(*reason, &RejectReason::Missing);
        }
    }

    #[test]
    fn manifest_checks() {
        let linux = manifest_json(Target::LinuxX64);
        let future_target = linux.replace("\"linux-x64\"", "\"linux-arm64\"");
        let other_app = linux.replace(
            &format!("\"{}\"", crate::app().identifier),
            "\"dev.example.other\"",
        );
        assert_ne!(other_app, linux);
        for (bytes, expected) in [
            (linux.as_str(), "ok"),
            (future_target.as_str(), "wrong_platform"),
            (other_app.as_str(), "other_app"),
            ("[]", "invalid"),
            ("", "invalid"),
            (r#"{"schema_version": 1}"#, "invalid"),
        ] {
            let kind = match check_manifest_bytes(bytes.as_bytes(), Target::LinuxX64) {
                Ok(_) => "ok",
                Err(RejectReason::WrongPlatform { .. }) => "wrong_platform",
                Err(RejectReason::Invalid { .. }) => "invalid",
                Err(RejectReason::OtherApp { found }) => {
                    assert_eq!(found, "dev.example.other");
                    "other_app"
                }
                Err(other) => panic!("{other:?}"),
            };
            assert_eq!(kind, expected, "{bytes:?}");
        }
    }

    #[test]
    fn a_file_where_a_folder_should_be_counts_as_missing() {
        let temp = tempfile::tempdir().unwrap();
        let file = temp.path().join("file");
        fs_err::write(&file, "x").unwrap();
        assert_eq!(
            check_runtime(&file, Target::LinuxX64).unwrap_err(),
            RejectReason::Missing
        );
    }
}
