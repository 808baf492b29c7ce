//! The launch protocol around [`Store`]: settle → start `current` (else `default`) → confirm,
//! or roll back and start the previous runtime. The shell follows the same steps inside its
//! state machine; this headless version drives `ts-runtime launch` and the fault tests.

use std::path::PathBuf;

use runtime_spec::Version;
use supervisor::{Engine, EventHandler, LaunchRequest, SupervisorError};

use crate::store::{RolledBack, Store, CURRENT, DEFAULT};

/// A healthy engine and how it was reached.
pub struct Launched {
    pub engine: Engine,
    pub runtime_dir: PathBuf,
    pub version: Version,
    /// Set when the runtime on trial failed and the previous one was started instead.
    pub rolled_back: Option<RolledBack>,
}

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("no runtime is installed in {dir}")]
    NoRuntime { dir: PathBuf },
    /// Boxed: the store's errors carry versions, and a launch error is returned often.
    #[error(transparent)]
    Store(Box<crate::Error>),
    #[error("runtime {version} did not start: {source}")]
    Failed {
        version: Version,
        #[source]
        source: Box<SupervisorError>,
    },
}

impl From<crate::Error> for LaunchError {
    fn from(error: crate::Error) -> LaunchError {
        LaunchError::Store(Box::new(error))
    }
}

/// Settles the store, starts its runtime and applies the health verdict. `configure` adjusts
/// each request (timeouts, test env) before the spawn.
pub fn launch_with_rollback(
    store: &mut Store,
    data_root: PathBuf,
    configure: &dyn Fn(&mut LaunchRequest),
    on_event: EventHandler,
) -> Result<Launched, LaunchError> {
    let trial = store.settle()?;
    let start = |store: &Store| -> Result<(Engine, PathBuf, Version), LaunchError> {
        let (slot, manifest) = [CURRENT, DEFAULT]
            .iter()
            .find_map(|slot| Some((*slot, store.manifest_in(slot)?)))
            .ok_or_else(|| LaunchError::NoRuntime {
                dir: store.dir().to_path_buf(),
            })?;
        let dir = store.slot(slot);
        let mut request = LaunchRequest::from_manifest(dir.clone(), &manifest, data_root.clone());
        configure(&mut request);
        let version = manifest.runtime_version.clone();
        match supervisor::launch(&request, on_event.clone()) {
            Ok(engine) => Ok((engine, dir, version)),
            Err(source) => Err(LaunchError::Failed {
                version,
                source: Box::new(source),
            }),
        }
    };
    match start(store) {
        Ok((engine, runtime_dir, version)) => {
            store.confirm_healthy()?;
            Ok(Launched {
                engine,
                runtime_dir,
                version,
                rolled_back: None,
            })
        }
        Err(error) if trial.is_some() => match store.roll_back()? {
            Some(rolled_back) => {
                let (engine, runtime_dir, version) = start(store)?;
                store.confirm_healthy()?;
                Ok(Launched {
                    engine,
                    runtime_dir,
                    version,
                    rolled_back: Some(rolled_back),
                })
            }
            None => Err(error),
        },
        Err(error) => Err(error),
    }
}
