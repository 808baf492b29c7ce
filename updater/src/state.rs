//! `<data>/runtime/state.json`: what the updater must remember between launches.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use runtime_spec::{Variant, Version};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// File name of the state inside the runtimes folder.
pub const STATE_FILE: &str = "state.json";
const STATE_SCHEMA_VERSION: u32 = 1;

/// One runtime: a version of a variant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RuntimeId {
    pub version: Version,
    pub variant: Variant,
}

impl std::fmt::Display for RuntimeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.version, self.variant)
    }
}

/// Remembered across launches; written atomically (temp file + fsync + rename).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateState {
    pub schema_version: u32,
    /// Per channel, `published_at` of the newest verified index (replay defence).
    pub newest_index: BTreeMap<String, u64>,
    /// Runtimes that failed their first health check on this machine; never installed again
    /// (another variant of the same version still may be: a GPU engine that cannot use this
    /// machine's GPU leaves the CPU engine of that version installable).
    pub bad_runtimes: BTreeSet<RuntimeId>,
    /// The runtime in `current` that has not passed a health check yet.
    pub trial: Option<RuntimeId>,
    /// One sentence for the user about what the updater did (a rollback), shown once.
    pub notice: Option<String>,
}

impl UpdateState {
    /// Reads the state; a missing file is a fresh state. An unreadable one is moved aside
    /// (`state.json.corrupt`) and replaced by a fresh state: losing it costs at most a retried
    /// bad version, while refusing to start would cost the user the app.
    pub fn load(dir: &Path) -> (UpdateState, Option<String>) {
        let path = dir.join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<UpdateState>(&bytes) {
                Ok(state) => (state, None),
                Err(error) => {
                    let aside = dir.join(format!("{STATE_FILE}.corrupt"));
                    let _ = std::fs::rename(&path, &aside);
                    (
                        UpdateState::default(),
                        Some(format!(
                            "{} was unreadable ({error}); kept as {} and started afresh",
                            path.display(),
                            aside.display()
                        )),
                    )
                }
            },
            Err(_) => (UpdateState::default(), None),
        }
    }

    /// Writes the state atomically into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let mut state = self.clone();
        state.schema_version = STATE_SCHEMA_VERSION;
        let mut json = serde_json::to_vec_pretty(&state).expect("the state serialises");
        json.push(b'\n');
        write_atomically(&dir.join(STATE_FILE), &json)
    }
}

/// Writes `bytes` to `path` through a synced temp file and a rename, so a crash leaves the old
/// or the new content, never a mix.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let mut file = supervisor::private::private_write_options().open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    };
    write().map_err(|source| {
        let _ = std::fs::remove_file(&temp);
        Error::Io {
            what: "writing",
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corrupt_file() {
        let dir = tempfile::tempdir().unwrap();
        let (fresh, note) = UpdateState::load(dir.path());
        assert_eq!(fresh, UpdateState::default());
        assert!(note.is_none());

        let mut state = UpdateState::default();
        state.newest_index.insert("beta".into(), 7);
        let cuda = RuntimeId {
            version: "0.2.0".parse().unwrap(),
            variant: Variant::new(
                runtime_spec::Target::LinuxX64,
                runtime_spec::Profile::Torch,
                runtime_spec::Accelerator::Cuda,
            ),
        };
        state.bad_runtimes.insert(cuda.clone());
        state.trial = Some(cuda.clone());
        state.save(dir.path()).unwrap();
        let (loaded, _) = UpdateState::load(dir.path());
        assert_eq!(loaded.newest_index["beta"], 7);
        assert!(loaded.bad_runtimes.contains(&cuda));
        assert_eq!(loaded.trial, Some(cuda));
        assert_eq!(loaded.schema_version, STATE_SCHEMA_VERSION);

        std::fs::write(dir.path().join(STATE_FILE), b"{ not json").unwrap();
        let (reset, note) = UpdateState::load(dir.path());
        assert_eq!(reset, UpdateState::default());
        assert!(note.unwrap().contains("unreadable"));
        assert!(dir.path().join("state.json.corrupt").exists());
    }
}
