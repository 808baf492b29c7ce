//! Every index the updater must refuse, and what it must skip, with nothing installed changing.

use std::time::Duration;

use runtime_archive::RetryPolicy;
use semver::Version;
use updater::{check_and_install, Error, Outcome, Store, UpdateSource, CURRENT, PENDING};

use crate::support::{Release, Server, CHANNEL, TARGET};

fn policy() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_millis(700),
    }
}

struct Setup {
    release: Release,
    server: Server,
    data: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let release = Release::new();
        let server = Server::start(release.serve_dir());
        Setup {
            release,
            server,
            data: tempfile::tempdir().unwrap(),
        }
    }

    fn source(&self) -> UpdateSource {
        UpdateSource {
            index_url: self.server.index_url(),
            public_key: self.release.public_key.clone(),
            channel: CHANNEL.into(),
        }
    }

    fn store(&self) -> Store {
        Store::open(&self.data.path().join("runtime"), TARGET).unwrap()
    }

    fn install(&self, shell_version: &str) -> Result<Outcome, Error> {
        let mut store = self.store();
        let result = check_and_install(
            &mut store,
            &self.source(),
            &Version::parse(shell_version).unwrap(),
            &policy(),
            &mut |_| {},
        );
        if result.is_ok() {
            store.settle().unwrap();
        }
        result
    }

    fn current(&self) -> Option<String> {
        self.store().version_in(CURRENT).map(|v| v.to_string())
    }
}

#[test]
fn first_install_then_up_to_date() {
    let setup = Setup::new();
    let entry = setup.release.runtime("0.2.0", true, 1000);
    setup.release.publish(CHANNEL, 100, vec![(TARGET, entry)]);
    assert_eq!(
        setup.install("0.1.0").unwrap(),
        Outcome::Installed {
            version: "0.2.0".into()
        }
    );
    assert_eq!(setup.current().as_deref(), Some("0.2.0"));
    assert_eq!(setup.store().state().trial.as_deref(), Some("0.2.0"));
    assert_eq!(
        setup.install("0.1.0").unwrap(),
        Outcome::UpToDate {
            version: "0.2.0".into()
        }
    );
}

#[test]
fn refuses_tampered_unsigned_and_foreign_indexes() {
    let setup = Setup::new();
    let entry = setup.release.runtime("0.2.0", true, 1000);
    setup
        .release
        .publish(CHANNEL, 100, vec![(TARGET, entry.clone())]);
    let index_path = setup
        .release
        .serve_dir()
        .join(format!("runtime-{CHANNEL}.json"));
    let signed = fs_err::read_to_string(&index_path).unwrap();

    // One changed byte in the signed JSON.
    fs_err::write(&index_path, signed.replace("\"size\": ", "\"size\": 1")).unwrap();
    let error = setup.install("0.1.0").unwrap_err();
    assert!(matches!(error, Error::BadSignature { .. }), "{error}");
    fs_err::write(&index_path, &signed).unwrap();

    // No signature at all.
    let minisig = setup
        .release
        .serve_dir()
        .join(format!("runtime-{CHANNEL}.json.minisig"));
    let signature = fs_err::read(&minisig).unwrap();
    fs_err::remove_file(&minisig).unwrap();
    let error = setup.install("0.1.0").unwrap_err();
    assert!(
        matches!(error, Error::HttpStatus { status: 404, .. }),
        "{error}"
    );
    fs_err::write(&minisig, &signature).unwrap();

    // A perfectly good signature by another key.
    let (_, other_secret) = release_meta::minisign::generate_keypair(None).unwrap();
    setup
        .release
        .publish_with_key(CHANNEL, 100, vec![(TARGET, entry.clone())], &other_secret);
    let error = setup.install("0.1.0").unwrap_err();
    assert!(matches!(error, Error::WrongKey { .. }), "{error}");

    // The stable index's bytes and signature served where the beta index should be.
    setup
        .release
        .publish("stable", 100, vec![(TARGET, entry.clone())]);
    for suffix in ["", ".minisig"] {
        fs_err::copy(
            setup
                .release
                .serve_dir()
                .join(format!("runtime-stable.json{suffix}")),
            setup
                .release
                .serve_dir()
                .join(format!("runtime-{CHANNEL}.json{suffix}")),
        )
        .unwrap();
    }
    let error = setup.install("0.1.0").unwrap_err();
    assert!(matches!(error, Error::WrongChannel { .. }), "{error}");

    // An index with only another platform's runtime.
    setup.release.publish(
        CHANNEL,
        100,
        vec![(runtime_spec::Target::MacosArm64, entry.clone())],
    );
    let error = setup.install("0.1.0").unwrap_err();
    assert!(matches!(error, Error::NoRuntimeForTarget { .. }), "{error}");
    assert!(error.to_string().contains("macos-arm64"), "{error}");

    // A runtime for a newer shell.
    let mut needs_newer = entry.clone();
    needs_newer.min_shell_version = "9.0.0".into();
    setup
        .release
        .publish(CHANNEL, 100, vec![(TARGET, needs_newer)]);
    let error = setup.install("0.1.0").unwrap_err();
    assert!(matches!(error, Error::ShellTooOld { .. }), "{error}");

    // None of that installed anything or left a download behind.
    assert_eq!(setup.current(), None);
    assert!(!setup.data.path().join("runtime").join(PENDING).exists());
    assert!(setup.server.seen(&entry.url).is_empty());
}

#[test]
fn refuses_downgrade_and_replay() {
    let setup = Setup::new();
    let v2 = setup.release.runtime("0.2.0", true, 1000);
    let v1 = setup.release.runtime("0.1.5", true, 1000);
    setup.release.publish(CHANNEL, 200, vec![(TARGET, v2)]);
    setup.install("0.1.0").unwrap();
    assert_eq!(setup.current().as_deref(), Some("0.2.0"));

    // Newer publication, lower version: a downgrade.
    setup
        .release
        .publish(CHANNEL, 300, vec![(TARGET, v1.clone())]);
    let error = setup.install("0.1.0").unwrap_err();
    assert!(matches!(error, Error::Downgrade { .. }), "{error}");

    // An older, validly signed index (replayed by a hostile mirror).
    setup.release.publish(CHANNEL, 250, vec![(TARGET, v1)]);
    let error = setup.install("0.1.0").unwrap_err();
    assert!(
        matches!(
            error,
            Error::Replay {
                newest_seen: 300,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(setup.current().as_deref(), Some("0.2.0"));
}

#[test]
fn corrupted_archive_byte_is_refused_and_nothing_changes() {
    let setup = Setup::new();
    let v1 = setup.release.runtime("0.1.0", true, 1000);
    setup.release.publish(CHANNEL, 100, vec![(TARGET, v1)]);
    setup.install("0.1.0").unwrap();
    let v2 = setup.release.runtime("0.2.0", true, 300_000);
    let mut bytes = fs_err::read(setup.release.serve_dir().join(&v2.url)).unwrap();
    bytes[150_000] ^= 0x20;
    setup.server.fault(
        &v2.url,
        crate::support::Fault {
            replace: Some(bytes),
            ..Default::default()
        },
    );
    setup.release.publish(CHANNEL, 200, vec![(TARGET, v2)]);
    let error = setup.install("0.1.0").unwrap_err();
    assert!(
        matches!(
            error,
            Error::Archive(runtime_archive::Error::ChecksumMismatch { .. })
        ),
        "{error}"
    );
    assert_eq!(setup.current().as_deref(), Some("0.1.0"));
    let downloads = setup.data.path().join("runtime").join("downloads");
    let kept: Vec<String> = std::fs::read_dir(&downloads)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("0.2.0"))
        .collect();
    assert!(kept.is_empty(), "a bad download was kept: {kept:?}");
}

#[test]
fn full_disk_is_refused_before_downloading() {
    let setup = Setup::new();
    let mut entry = setup.release.runtime("0.2.0", true, 1000);
    // More than any disk here has free: the check must refuse before a byte is fetched.
    entry.unpacked_size = u64::MAX / 4;
    setup
        .release
        .publish(CHANNEL, 100, vec![(TARGET, entry.clone())]);
    let error = setup.install("0.1.0").unwrap_err();
    assert!(matches!(error, Error::NotEnoughSpace { .. }), "{error}");
    assert!(setup.server.seen(&entry.url).is_empty());
}
