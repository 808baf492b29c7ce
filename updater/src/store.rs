//! The runtimes folder `<data>/runtime/` and every move inside it.
//!
//! ```text
//! runtime/
//!   current/      the runtime launched (on trial until its first health check passes)
//!   previous/     the one `current` replaced: the rollback target; exactly one is kept
//!   default/      the full installer's bundled runtime
//!   pending/      a downloaded, extracted and verified update, applied at the next launch
//!   staging-<v>/  an extraction or delta assembly in progress (removed when found at start)
//!   downloads/    archives being downloaded (`.part`, resumed across launches), and
//!     objects/    objects of a delta update: `<aa>/<sha256>.zst` verified (reused by the next
//!                 try), `.zst.download[.part]` not verified yet (resumed, never used unverified)
//!   state.json    trial version, bad versions, newest index seen, a notice for the user
//! ```
//!
//! Every change is a rename within one folder, and every sequence of renames is written so that
//! the process can be killed between any two of them: [`Store::settle`] at the next start
//! finishes or undoes the sequence. A folder is only ever renamed to `current`, `previous` or
//! `pending` after its files were verified against its manifest.

use std::path::{Path, PathBuf};

use runtime_spec::Version;
use runtime_spec::{layout, Manifest, Target};

use crate::error::{Error, Result};
use crate::state::{RuntimeId, UpdateState};

pub const CURRENT: &str = "current";
pub const PREVIOUS: &str = "previous";
pub const PENDING: &str = "pending";
pub const DEFAULT: &str = "default";
pub const DOWNLOADS: &str = "downloads";

/// Called with a step name before each step that changes the folder (`extract`, `promote`,
/// `retire-previous`, `current-to-previous`, `pending-to-current`, `current-to-failed`,
/// `previous-to-current`). Lets the fault tests stop a real process at an exact point.
pub type StepHook = Box<dyn FnMut(&str) + Send>;

/// The runtimes folder and the updater's remembered state.
pub struct Store {
    dir: PathBuf,
    target: Target,
    state: UpdateState,
    hook: Option<StepHook>,
    /// What [`Store::open`] and [`Store::settle`] repaired, for the shell log.
    notes: Vec<String>,
}

/// What [`Store::remove_previous`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemovedOld {
    /// The runtime that was in `previous`, if one was.
    pub previous: Option<RuntimeId>,
    pub freed_bytes: u64,
}

/// Bytes of the regular files under `dir` that no other link keeps (symlinks not followed).
fn unshared_bytes(dir: &Path) -> u64 {
    let Ok(metadata) = std::fs::symlink_metadata(dir) else {
        return 0;
    };
    if metadata.is_dir() {
        return std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|entry| unshared_bytes(&entry.path()))
                    .sum()
            })
            .unwrap_or(0);
    }
    if !metadata.is_file() {
        return 0;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if metadata.nlink() > 1 {
            return 0;
        }
    }
    metadata.len()
}

/// A rollback that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolledBack {
    /// The runtime that failed its health check (now remembered as bad on this machine).
    pub bad: RuntimeId,
    /// The runtime back in `current`.
    pub restored: RuntimeId,
    /// The sentence to show the user.
    pub notice: String,
}

impl Store {
    /// Opens (creating) `runtimes_dir`, which is `<data>/runtime`: its parent is the data root
    /// and is made private (0700) with it.
    pub fn open(runtimes_dir: &Path, target: Target) -> Result<Store> {
        // `<data>/runtime` may be the first folder created in the data root (a headless
        // install): the root is made private first.
        if let Some(data_root) = runtimes_dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            supervisor::private::create_private_dir(data_root)
                .map_err(Error::io("creating", data_root))?;
        }
        supervisor::private::create_private_dir(runtimes_dir)
            .map_err(Error::io("creating", runtimes_dir))?;
        let (state, note) = UpdateState::load(runtimes_dir);
        Ok(Store {
            dir: runtimes_dir.to_path_buf(),
            target,
            state,
            hook: None,
            notes: note.into_iter().collect(),
        })
    }

    pub fn set_step_hook(&mut self, hook: StepHook) {
        self.hook = Some(hook);
    }

    pub(crate) fn step(&mut self, name: &str) {
        if let Some(hook) = self.hook.as_mut() {
            hook(name);
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn target(&self) -> Target {
        self.target
    }

    pub fn state(&self) -> &UpdateState {
        &self.state
    }

    /// Adds a line for the log (taken with [`Store::take_notes`]).
    pub(crate) fn note(&mut self, line: String) {
        self.notes.push(line);
    }

    /// Repairs and applies since the last call, one line each, for the log.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    pub fn slot(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The runtime version in slot `name`, if it holds a readable manifest for this target.
    /// (The files were verified before the folder got this name; see the module docs.)
    pub fn version_in(&self, name: &str) -> Option<Version> {
        Some(self.manifest_in(name)?.runtime_version)
    }

    /// The runtime (version and variant) in slot `name`, as [`Store::version_in`].
    pub fn runtime_in(&self, name: &str) -> Option<RuntimeId> {
        let manifest = self.manifest_in(name)?;
        Some(RuntimeId {
            variant: manifest.variant(),
            version: manifest.runtime_version,
        })
    }

    /// The runtimes installed or waiting (`current`, `pending`, `default`): an index offering
    /// an older version is a downgrade, and one offering one of these is up to date.
    pub fn held(&self) -> Vec<RuntimeId> {
        [CURRENT, PENDING, DEFAULT]
            .iter()
            .filter_map(|name| self.runtime_in(name))
            .collect()
    }

    /// The variant updates keep to: the one in `current`, else `default`, else the target's
    /// base variant.
    pub fn installed_variant(&self) -> runtime_spec::Variant {
        [CURRENT, DEFAULT]
            .iter()
            .find_map(|name| self.runtime_in(name))
            .map(|runtime| runtime.variant)
            .unwrap_or(runtime_spec::Variant::base(self.target))
    }

    pub fn manifest_in(&self, name: &str) -> Option<Manifest> {
        let bytes = std::fs::read(self.slot(name).join(layout::MANIFEST_FILE)).ok()?;
        let manifest = Manifest::from_json(&bytes).ok()?;
        (manifest.target == self.target).then_some(manifest)
    }

    /// The newest version installed or waiting: an index offering less is a downgrade.
    pub fn newest_installed(&self) -> Option<Version> {
        [CURRENT, PENDING, DEFAULT]
            .iter()
            .filter_map(|name| self.version_in(name))
            .max()
    }

    /// Whether `version` of `variant` failed its first health check on this machine.
    pub fn is_bad(&self, version: &Version, variant: runtime_spec::Variant) -> bool {
        self.state.bad_runtimes.contains(&RuntimeId {
            version: version.clone(),
            variant,
        })
    }

    fn is_bad_runtime(&self, runtime: &RuntimeId) -> bool {
        self.state.bad_runtimes.contains(runtime)
    }

    /// The newest index `published_at` accepted for `channel`.
    pub fn newest_index_seen(&self, channel: &str) -> Option<u64> {
        self.state.newest_index.get(channel).copied()
    }

    pub(crate) fn remember_index(&mut self, channel: &str, published_at: u64) -> Result<()> {
        let newest = self
            .state
            .newest_index
            .entry(channel.to_owned())
            .or_insert(0);
        if published_at > *newest {
            *newest = published_at;
            self.save()?;
        }
        Ok(())
    }

    /// The one-sentence notice left by a rollback, once.
    pub fn take_notice(&mut self) -> Result<Option<String>> {
        let notice = self.state.notice.take();
        if notice.is_some() {
            self.save()?;
        }
        Ok(notice)
    }

    fn save(&self) -> Result<()> {
        self.state.save(&self.dir)
    }

    fn rename(&mut self, step: &str, from: &str, to: &str) -> Result<()> {
        self.step(step);
        let (from, to) = (self.slot(from), self.slot(to));
        fs_err::rename(&from, &to).map_err(Error::io("renaming", from))
    }

    fn exists(&self, name: &str) -> bool {
        self.slot(name).exists()
    }

    /// Run at every start, before discovery: removes interrupted extractions, finishes or undoes
    /// interrupted renames, and applies a pending update (which becomes `current` on trial).
    /// Returns the version on trial, if any: the caller must report its health check with
    /// [`Store::confirm_healthy`] or [`Store::roll_back`].
    pub fn settle(&mut self) -> Result<Option<RuntimeId>> {
        self.remove_leftovers();
        // runtime-archive's own promotion moves an old folder to `.<name>.replaced-<pid>`.
        for entry in self.children() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(rest) = name.strip_prefix('.') {
                if let Some((slot, _)) = rest.split_once(".replaced-") {
                    if !self.exists(slot) && self.manifest_in(&name).is_some() {
                        self.notes
                            .push(format!("restored {slot} from an interrupted install"));
                        let _ = std::fs::rename(self.slot(&name), self.slot(slot));
                    } else {
                        let _ = std::fs::remove_dir_all(self.slot(&name));
                    }
                }
            }
        }
        if self.exists(PENDING) {
            match self.runtime_in(PENDING) {
                Some(runtime) if self.pending_applies(&runtime) => self.apply_pending(runtime)?,
                other => {
                    self.notes.push(match other {
                        Some(runtime) => {
                            format!("discarded pending runtime {runtime}: not newer, or known bad")
                        }
                        None => "discarded an unreadable pending runtime".to_owned(),
                    });
                    self.remove_slot(PENDING);
                }
            }
        }
        let current_is_bad = self
            .runtime_in(CURRENT)
            .is_some_and(|runtime| self.is_bad_runtime(&runtime));
        let fallback = self.version_in(PREVIOUS).is_some() || self.version_in(DEFAULT).is_some();
        if current_is_bad && fallback {
            // Killed inside a rollback after the verdict was saved: finish it.
            let failed = format!("failed-{}", std::process::id());
            self.rename("current-to-failed", CURRENT, &failed)?;
            self.notes
                .push("finished an interrupted rollback".to_owned());
        }
        if !self.exists(CURRENT) && self.version_in(PREVIOUS).is_some() {
            // Killed between the two renames of a rollback (or of an apply with no pending
            // left): the previous runtime is the last one known to work.
            self.rename("previous-to-current", PREVIOUS, CURRENT)?;
            self.notes
                .push("restored the previous runtime as current".to_owned());
        }
        let current = self.runtime_in(CURRENT);
        if self.state.trial.is_some() && self.state.trial != current {
            self.state.trial = None;
            self.save()?;
        }
        Ok(self.state.trial.clone())
    }

    /// A newer version, or the same version in another variant (a GPU/CPU switch).
    fn pending_applies(&self, pending: &RuntimeId) -> bool {
        if self.is_bad_runtime(pending) {
            return false;
        }
        match self.runtime_in(CURRENT) {
            Some(current) => {
                pending.version > current.version
                    || (pending.version == current.version && pending.variant != current.variant)
            }
            // No current: after an interrupted apply (current moved to previous) or first run.
            None => true,
        }
    }

    /// pending → current, keeping the old current as previous. The trial is recorded first, so
    /// a kill anywhere in between is finished by the next [`Store::settle`].
    fn apply_pending(&mut self, runtime: RuntimeId) -> Result<()> {
        self.state.trial = Some(runtime.clone());
        self.save()?;
        if self.exists(CURRENT) {
            if self.exists(PREVIOUS) {
                let retired = format!("retired-{}", std::process::id());
                self.rename("retire-previous", PREVIOUS, &retired)?;
            }
            self.rename("current-to-previous", CURRENT, PREVIOUS)?;
        }
        self.rename("pending-to-current", PENDING, CURRENT)?;
        self.notes.push(format!(
            "applied runtime {runtime} (on trial until it is healthy)"
        ));
        Ok(())
    }

    /// The runtime in `current` answered its health check: it is no longer on trial, and
    /// runtimes older than `previous` (and finished downloads) are deleted.
    pub fn confirm_healthy(&mut self) -> Result<()> {
        if let Some(runtime) = self.state.trial.take() {
            self.save()?;
            self.notes.push(format!("runtime {runtime} is healthy"));
        }
        for entry in self.children() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("retired-") || name.starts_with("failed-") {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        crate::delta::prune_cache(self, self.manifest_in(CURRENT).as_ref());
        // Archives of versions up to the running one are installed; newer ones (an install
        // interrupted after its download) and `.part` files are kept for the next try.
        let running = self.version_in(CURRENT);
        if let Ok(entries) = std::fs::read_dir(self.slot(DOWNLOADS)) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".part") {
                    continue;
                }
                let newer = archive_version(&name, self.target)
                    .zip(running.as_ref())
                    .is_some_and(|(version, running)| version > *running);
                if !newer {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(())
    }

    /// "Remove old engines": deletes `previous` (the rollback target) once `current` has
    /// proven healthy, and the downloads kept for a retry. Never touches `current`, `pending` or
    /// `default`. Returns the bytes freed: files still linked from another runtime (unchanged
    /// files share their bytes with `current`) free nothing and are not counted.
    pub fn remove_previous(&mut self) -> Result<RemovedOld> {
        if let Some(trial) = &self.state.trial {
            return Err(Error::Refused {
                reason: format!(
                    "runtime {trial} has not passed its first start yet; the previous engine is its way back"
                ),
            });
        }
        let mut removed = RemovedOld::default();
        if self.exists(PREVIOUS) {
            removed.previous = self.runtime_in(PREVIOUS);
            removed.freed_bytes += unshared_bytes(&self.slot(PREVIOUS));
            // A rename first, like every change here: a kill before the removal leaves a
            // `retired-*` folder that the next healthy start deletes.
            let retired = format!("retired-{}", std::process::id());
            self.rename("retire-previous", PREVIOUS, &retired)?;
            let path = self.slot(&retired);
            fs_err::remove_dir_all(&path).map_err(Error::io("removing", &path))?;
        }
        let downloads = self.slot(DOWNLOADS);
        if downloads.exists() {
            removed.freed_bytes += unshared_bytes(&downloads);
            fs_err::remove_dir_all(&downloads).map_err(Error::io("removing", &downloads))?;
        }
        Ok(removed)
    }

    /// The runtime on trial failed its health check: remember it as bad and put `previous` back
    /// as `current` (with no `previous`, a full install's `default` is what discovery finds
    /// next). `None` when nothing is on trial or there is nothing to go back to (first install:
    /// the caller shows the error screen instead).
    pub fn roll_back(&mut self) -> Result<Option<RolledBack>> {
        let Some(bad) = self.state.trial.clone() else {
            return Ok(None);
        };
        let Some(restored) = self
            .runtime_in(PREVIOUS)
            .or_else(|| self.runtime_in(DEFAULT))
        else {
            return Ok(None);
        };
        let notice = if bad.variant == restored.variant {
            format!(
                "The update to runtime {} did not start, so the app went back to runtime {}.",
                bad.version, restored.version
            )
        } else {
            format!(
                "The {} did not start on this computer, so the app went back to the {}.",
                engine_words(bad.variant),
                engine_words(restored.variant)
            )
        };
        self.state.bad_runtimes.insert(bad.clone());
        self.state.trial = None;
        self.state.notice = Some(notice.clone());
        self.save()?;
        let failed = format!("failed-{}", std::process::id());
        self.rename("current-to-failed", CURRENT, &failed)?;
        if self.exists(PREVIOUS) {
            self.rename("previous-to-current", PREVIOUS, CURRENT)?;
        }
        let _ = std::fs::remove_dir_all(self.slot(&failed));
        self.notes
            .push(format!("rolled back from {bad} to {restored}"));
        Ok(Some(RolledBack {
            bad,
            restored,
            notice,
        }))
    }

    /// Interrupted extractions (`staging-*`) never become anything: remove them.
    fn remove_leftovers(&mut self) {
        for entry in self.children() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("staging-") {
                self.notes
                    .push(format!("removed the interrupted extraction {name}"));
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    pub(crate) fn remove_slot(&self, name: &str) {
        let _ = std::fs::remove_dir_all(self.slot(name));
    }

    fn children(&self) -> Vec<std::fs::DirEntry> {
        std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|entry| entry.path().is_dir())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// What the user calls a variant: "GPU engine (NVIDIA CUDA)", "CPU engine".
pub fn engine_words(variant: runtime_spec::Variant) -> &'static str {
    match variant.accelerator {
        runtime_spec::Accelerator::Cuda => "GPU engine (NVIDIA CUDA)",
        runtime_spec::Accelerator::Mps => "GPU engine (Apple Metal)",
        runtime_spec::Accelerator::Cpu => "CPU engine",
    }
}

/// The version in a runtime archive's name of any variant of `target`
/// (`<app>-runtime-<version>-<target>[-<profile>-<accelerator>].tar.zst`). The downloads
/// folder is the app's own, so the app's part of the name is not checked.
fn archive_version(file_name: &str, target: Target) -> Option<Version> {
    let rest = file_name.strip_suffix(".tar.zst")?;
    let marker = format!("-{}", target.name());
    let at = rest.rfind(&marker)?;
    let variant = &rest[at + marker.len()..];
    if !(variant.is_empty() || variant.starts_with('-')) {
        return None;
    }
    let before = &rest[..at];
    let (_, version) = before.rsplit_once("-runtime-")?;
    Version::parse(version).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_versions() {
        let version: Version = "0.2.0".parse().unwrap();
        for variant in runtime_spec::Variant::ALL
            .into_iter()
            .filter(|variant| variant.target == Target::LinuxX64)
        {
            let name =
                runtime_spec::layout::archive_name("tokenizer-studio-runtime", &version, variant);
            assert_eq!(
                archive_version(&name, Target::LinuxX64),
                Some(version.clone())
            );
        }
        let name = runtime_spec::layout::archive_name(
            "tokenizer-studio-runtime",
            &version,
            runtime_spec::Variant::base(Target::LinuxX64),
        );
        assert_eq!(archive_version(&name, Target::MacosArm64), None);
        assert_eq!(archive_version("other.tar.zst", Target::LinuxX64), None);
    }

    #[test]
    fn removing_old_engines_keeps_the_one_in_use_and_counts_only_unshared_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let runtimes = dir.path().join("runtime");
        let mut store = Store::open(&runtimes, Target::LinuxX64).unwrap();
        for slot in [CURRENT, PREVIOUS, PENDING, DEFAULT] {
            std::fs::create_dir_all(runtimes.join(slot).join("lib")).unwrap();
            std::fs::write(
                runtimes.join(slot).join("lib").join("own.py"),
                vec![b'x'; 1000],
            )
            .unwrap();
        }
        // An unchanged file shared with `current` frees nothing when `previous` goes.
        std::fs::write(runtimes.join(CURRENT).join("shared.so"), vec![b's'; 5000]).unwrap();
        std::fs::hard_link(
            runtimes.join(CURRENT).join("shared.so"),
            runtimes.join(PREVIOUS).join("shared.so"),
        )
        .unwrap();
        std::fs::create_dir_all(runtimes.join(DOWNLOADS)).unwrap();
        std::fs::write(
            runtimes.join(DOWNLOADS).join("next.tar.zst.part"),
            vec![0; 300],
        )
        .unwrap();

        // While `current` is on trial, `previous` is its way back: refused, nothing removed.
        store.state.trial = Some(RuntimeId {
            version: "0.2.0".parse().unwrap(),
            variant: runtime_spec::Variant::base(Target::LinuxX64),
        });
        let refused = store.remove_previous().unwrap_err().to_string();
        assert!(
            refused.contains("has not passed its first start"),
            "{refused}"
        );
        assert!(runtimes.join(PREVIOUS).exists() && runtimes.join(DOWNLOADS).exists());

        store.state.trial = None;
        let removed = store.remove_previous().unwrap();
        assert_eq!(removed.freed_bytes, 1000 + 300);
        assert!(!runtimes.join(PREVIOUS).exists());
        assert!(!runtimes.join(DOWNLOADS).exists());
        for slot in [CURRENT, PENDING, DEFAULT] {
            assert!(
                runtimes.join(slot).join("lib").join("own.py").is_file(),
                "{slot}"
            );
        }
        assert_eq!(
            std::fs::read(runtimes.join(CURRENT).join("shared.so"))
                .unwrap()
                .len(),
            5000
        );
        assert!(
            !store
                .children()
                .iter()
                .any(|entry| entry.file_name().to_string_lossy().starts_with("retired-")),
            "the retired folder is gone too"
        );
        // Nothing left to remove: nothing freed, no error.
        assert_eq!(store.remove_previous().unwrap(), RemovedOld::default());
    }
}
