//! Variants in one signed index: the chosen one is installed, a switch between the GPU and
//! CPU engines of one version goes through the normal verified download and promote, and a
//! variant that fails on this machine is remembered as bad without blocking the others.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use runtime_spec::{Accelerator, Profile, Variant};
use semver::Version;
use updater::launch::launch_with_rollback;
use updater::{check_and_install, Error, Outcome, Store, UpdateSource, CURRENT, PENDING};

use crate::support::{IndexUrl, Release, Server, CHANNEL, TARGET};

const BASE: Variant = Variant::base(TARGET);
const CUDA: Variant = Variant::new(TARGET, Profile::Torch, Accelerator::Cuda);
const TORCH_CPU: Variant = Variant::new(TARGET, Profile::Torch, Accelerator::Cpu);

struct Setup {
    release: Release,
    server: Server,
    data: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let release = Release::new();
        let server = Server::serving_dir(release.serve_dir());
        Setup {
            release,
            server,
            data: tempfile::tempdir().unwrap(),
        }
    }

    fn store(&self) -> Store {
        Store::open(&self.data.path().join("runtime"), TARGET).unwrap()
    }

    /// Installs `wanted`, checking the chooser is shown the verified index that offers it.
    fn install(&self, store: &mut Store, wanted: Variant) -> Result<Outcome, Error> {
        self.install_with(store, &mut |index| {
            assert!(index.entry(wanted).is_some(), "{index:?}");
            Ok(wanted)
        })
    }

    fn install_with(&self, store: &mut Store, choose: updater::Chooser) -> Result<Outcome, Error> {
        let source = UpdateSource {
            index_url: self.server.index_url(),
            public_key: self.release.public_key.parse().unwrap(),
            channel: CHANNEL.parse().unwrap(),
            app_id: crate::app().identifier,
        };
        check_and_install(
            store,
            &source,
            &Version::new(0, 1, 0),
            &updater::Options::default(),
            choose,
            &mut |_| {},
        )
    }

    fn launch(&self, store: &mut Store) -> updater::launch::Launched {
        let data: PathBuf = self.data.path().to_path_buf();
        launch_with_rollback(
            store,
            data,
            &|request| {
                request.ready_timeout = Duration::from_secs(20);
                request.max_attempts = 1;
            },
            Arc::new(|_| {}),
        )
        .unwrap()
    }
}

/// The version an install put in `pending`, or what it did instead.
fn installed(outcome: Outcome) -> Result<String, Outcome> {
    match outcome {
        Outcome::Installed { version, .. } => Ok(version.to_string()),
        other => Err(other),
    }
}

#[test]
fn the_chosen_variant_is_installed_and_a_switch_of_the_same_version_goes_through() {
    let setup = Setup::new();
    let base = setup.release.variant("0.2.0", BASE, true, 1000);
    let cuda = setup.release.variant("0.2.0", CUDA, true, 1000);
    setup
        .release
        .publish(CHANNEL, 100, vec![(TARGET, base), (TARGET, cuda)]);
    let mut store = setup.store();

    assert_eq!(
        installed(setup.install(&mut store, CUDA).unwrap()).as_deref(),
        Ok("0.2.0")
    );
    assert_eq!(store.runtime_in(PENDING).unwrap().variant, CUDA);
    let launched = setup.launch(&mut store);
    assert_eq!(store.runtime_in(CURRENT).unwrap().variant, CUDA);
    drop(launched);

    // The same version of the same variant: nothing to do.
    assert_eq!(
        setup.install(&mut store, CUDA).unwrap(),
        Outcome::UpToDate {
            version: "0.2.0".parse().unwrap()
        }
    );
    // The CPU engine of the same version: a switch, downloaded, verified and promoted.
    assert_eq!(
        installed(setup.install(&mut store, BASE).unwrap()).as_deref(),
        Ok("0.2.0")
    );
    let launched = setup.launch(&mut store);
    assert_eq!(store.runtime_in(CURRENT).unwrap().variant, BASE);
    assert_eq!(store.runtime_in(updater::PREVIOUS).unwrap().variant, CUDA);
    assert_eq!(store.installed_variant(), BASE);
    drop(launched);
}

#[test]
fn a_gpu_engine_that_fails_here_is_remembered_without_blocking_the_cpu_engine() {
    let setup = Setup::new();
    let base = setup.release.variant("0.2.0", BASE, true, 1000);
    setup
        .release
        .publish(CHANNEL, 100, vec![(TARGET, base.clone())]);
    let mut store = setup.store();
    assert_eq!(
        installed(setup.install(&mut store, BASE).unwrap()).as_deref(),
        Ok("0.2.0")
    );
    drop(setup.launch(&mut store));

    // The GPU engine of the same version cannot start on this machine (its device check
    // exits, like a CUDA build facing a broken driver).
    let cuda = setup.release.variant("0.2.0", CUDA, false, 1000);
    setup
        .release
        .publish(CHANNEL, 200, vec![(TARGET, base), (TARGET, cuda)]);
    assert_eq!(
        installed(setup.install(&mut store, CUDA).unwrap()).as_deref(),
        Ok("0.2.0")
    );
    let launched = setup.launch(&mut store);
    let rolled_back = launched.rolled_back.clone().expect("a rollback");
    assert_eq!(rolled_back.bad.variant, CUDA);
    assert_eq!(rolled_back.restored.variant, BASE);
    assert_eq!(
        rolled_back.notice,
        "The GPU engine (NVIDIA CUDA) did not start on this computer, so the app went back to the CPU engine."
    );
    assert_eq!(store.runtime_in(CURRENT).unwrap().variant, BASE);
    drop(launched);

    // Offered again: skipped, not downloaded again; the CPU engine stays installable.
    assert_eq!(
        setup.install(&mut store, CUDA).unwrap(),
        Outcome::KnownBad {
            version: "0.2.0".parse().unwrap()
        }
    );
    assert!(store.is_bad(&"0.2.0".parse().unwrap(), CUDA));
    assert!(!store.is_bad(&"0.2.0".parse().unwrap(), BASE));
    assert_eq!(
        setup.install(&mut store, BASE).unwrap(),
        Outcome::UpToDate {
            version: "0.2.0".parse().unwrap()
        }
    );
}

#[test]
fn a_missing_variant_a_refused_choice_and_a_mislabelled_archive_change_nothing() {
    let setup = Setup::new();
    let base = setup.release.variant("0.2.0", BASE, true, 1000);
    setup
        .release
        .publish(CHANNEL, 100, vec![(TARGET, base.clone())]);
    let mut store = setup.store();

    setup.install(&mut store, BASE).unwrap();
    let error = setup
        .install_with(&mut store, &mut |_| Ok(TORCH_CPU))
        .unwrap_err();
    assert!(
        matches!(error, Error::NoRuntimeForVariant { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("linux-x64-torch-cpu") && message.contains("it has: linux-x64"),
        "{message}"
    );

    // The chooser's refusal is the user's sentence, and nothing is fetched after it.
    let data = tempfile::tempdir().unwrap();
    let mut fresh = Store::open(&data.path().join("runtime"), TARGET).unwrap();
    let refusal = "This Mac has an Intel processor; the engine needs Apple Silicon.";
    let error = setup
        .install_with(&mut fresh, &mut |_| Err(refusal.to_owned()))
        .unwrap_err();
    assert!(matches!(error, Error::NoSuitableVariant { .. }), "{error}");
    assert_eq!(error.to_string(), refusal);
    assert!(!data.path().join("runtime").join("downloads").exists());

    // An index entry that says CUDA for an archive holding the base runtime: refused after
    // extraction, nothing promoted.
    let mut mislabelled = base;
    mislabelled.profile = Profile::Torch;
    mislabelled.accelerator = Accelerator::Cuda;
    setup
        .release
        .publish(CHANNEL, 200, vec![(TARGET, mislabelled)]);
    let error = setup
        .install_with(&mut fresh, &mut |_| Ok(CUDA))
        .unwrap_err();
    assert!(matches!(error, Error::BadEntry { .. }), "{error}");
    assert!(
        error.to_string().contains("linux-x64-torch-cuda"),
        "{error}"
    );
    assert!(fresh.runtime_in(PENDING).is_none());
}
