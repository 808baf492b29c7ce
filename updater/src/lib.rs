//! Runtime installs and updates for the shell (`docs/runtime-contract.md`: "Release index",
//! "The runtimes folder"). No Tauri types, so it runs headless (`ts-runtime`) and in tests.
//!
//! - [`Store`]: the `<data>/runtime/` folder (`current`, `previous`, `pending`, `default`,
//!   `staging-*`, `downloads/`, `state.json`) and every rename in it, crash-safe at each step.
//! - [`index`]: fetch `runtime-<channel>.json` + `.minisig`, verify with the built-in key, and
//!   refuse another channel or target, a replayed (older) index and a downgrade.
//! - [`check_and_install`]: index → a delta from the object store when a runtime is installed
//!   (`delta`: manifest object → plan against the files on disk → fetch only the missing
//!   objects → assemble in `staging-<version>` → verify → `pending`), else, or when the delta
//!   cannot be used, free-space check → resumable archive download → extract to
//!   `staging-<version>` → verify → share unchanged files with `current` → `pending`.
//! - Launch protocol for the shell: [`Store::settle`] before discovery (applies `pending`, which
//!   is then `current` on trial) → start it → [`Store::confirm_healthy`], or
//!   [`Store::roll_back`] (previous back, version remembered as bad, a one-sentence notice).
//! - [`launch`]: that protocol with the supervisor, for headless use (`ts-runtime`, tests).

mod delta;
mod error;
pub mod index;
mod install;
pub mod launch;
pub mod registry;
pub mod state;
mod store;

pub use delta::DELTA_MAX_FRACTION;
pub use error::{Error, Result};
pub use index::{Offer, Selected, UpdateSource, VerifiedIndex};
pub use install::{
    check_and_install, human_bytes, install_pending, Chooser, Method, Options, Outcome, Stage,
    Transfer, SPACE_MARGIN_BYTES,
};
pub use state::RuntimeId;
pub use store::{
    RemovedOld, RolledBack, StepHook, Store, CURRENT, DEFAULT, DOWNLOADS, PENDING, PREVIOUS,
};

/// The built-in index URL for `channel` under the release base URL.
pub fn index_url_for(base_url: &str, channel: runtime_spec::Channel) -> String {
    if base_url.is_empty() {
        return String::new();
    }
    format!(
        "{}/{}",
        base_url.trim_end_matches('/'),
        runtime_spec::layout::index_file_name(channel)
    )
}
