//! The shell's side of the runtime store protocol (`<data>/runtime/`): settle before
//! discovery, confirm a healthy start, roll an update on trial back when it fails. The store
//! itself (the renames and their crash safety) is `updater::Store`.

use std::path::Path;
use std::sync::MutexGuard;

use super::Shell;

impl Shell {
    /// The store, when no other thread (a background download) holds it.
    pub(super) fn try_store(&self) -> Option<MutexGuard<'_, Option<updater::Store>>> {
        match self.store.try_lock() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(poison)) => Some(poison.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Logs what the store repaired or applied.
    pub(super) fn log_store_notes(&self, store: &mut updater::Store) {
        for note in store.take_notes() {
            self.log.line(&format!("runtime store: {note}"));
        }
    }

    /// Before discovery: finish interrupted moves and apply a downloaded update. Skipped (and
    /// logged) while a background download holds the store: nothing is pending then anyway.
    pub(super) fn settle_runtimes(&self) {
        let Some(mut guard) = self.try_store() else {
            self.log
                .line("an update download is running; runtimes left as they are");
            return;
        };
        let Some(store) = guard.as_mut() else { return };
        match store.settle() {
            Ok(Some(trial)) => self.log.line(&format!(
                "runtime {trial} is on trial until its health check"
            )),
            Ok(None) => {}
            Err(error) => self
                .log
                .line(&format!("could not settle the runtimes: {error}")),
        }
        self.log_store_notes(store);
        if let Ok(Some(notice)) = store.take_notice() {
            *self.notice.lock().unwrap_or_else(|p| p.into_inner()) = Some(notice);
        }
    }

    /// Whether `runtime_dir` is the store's `current` (only that one is on trial).
    pub(super) fn is_store_current(&self, runtime_dir: &Path) -> bool {
        runtime_dir == self.data_root.join("runtime").join(updater::CURRENT)
    }

    /// The engine in `runtime_dir` answered its health check.
    pub(super) fn runtime_healthy(&self, runtime_dir: &Path) {
        if !self.is_store_current(runtime_dir) {
            return;
        }
        if let Some(mut guard) = self.try_store() {
            if let Some(store) = guard.as_mut() {
                if let Err(error) = store.confirm_healthy() {
                    self.log
                        .line(&format!("could not record a healthy start: {error}"));
                }
                self.log_store_notes(store);
            }
        }
    }

    /// The engine in `runtime_dir` failed to start: if it was an update on trial, put the
    /// previous runtime back and return the notice.
    pub(super) fn roll_back_if_on_trial(&self, runtime_dir: &Path) -> Option<String> {
        if !self.is_store_current(runtime_dir) {
            return None;
        }
        let mut guard = self.try_store()?;
        let store = guard.as_mut()?;
        let result = store.roll_back();
        self.log_store_notes(store);
        match result {
            Ok(Some(rolled_back)) => {
                let _ = store.take_notice();
                *self.notice.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(rolled_back.notice.clone());
                Some(rolled_back.notice)
            }
            Ok(None) => None,
            Err(error) => {
                self.log.line(&format!("could not roll back: {error}"));
                None
            }
        }
    }
}
