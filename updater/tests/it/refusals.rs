//! Every index the updater must refuse, and what it must skip, with nothing installed changing.

use std::time::Duration;

use runtime_archive::RetryPolicy;
use semver::Version;
use updater::{check_and_install, Error, Outcome, Store, UpdateSource, CURRENT, PENDING};

use crate::support::{IndexUrl, Release, Server, Step, CHANNEL, TARGET};

fn policy() -> updater::Options {
    updater::Options {
        policy: RetryPolicy {
            attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
            connect_timeout: test_support::timeout(Duration::from_secs(2)),
            read_timeout: test_support::timeout(Duration::from_millis(700)),
        },
        ..updater::Options::default()
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
        let server = Server::serving_dir(release.serve_dir());
        Setup {
            release,
            server,
            data: tempfile::tempdir().unwrap(),
        }
    }

    fn source(&self) -> UpdateSource {
        UpdateSource {
            index_url: self.server.index_url(),
            public_key: self.release.public_key.parse().unwrap(),
            channel: CHANNEL.parse().unwrap(),
            app_id: crate::app().identifier,
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
            &mut |_| Ok(runtime_spec::Variant::base(TARGET)),
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
    assert!(matches!(
        setup.install("0.1.0").unwrap(),
        Outcome::Installed { version, .. } if version.to_string() == "0.2.0"
    ));
    assert_eq!(setup.current().as_deref(), Some("0.2.0"));
    assert_eq!(
        setup
            .store()
            .state()
            .trial
            .as_ref()
            .map(|trial| trial.version.to_string()),
        Some("0.2.0".to_owned())
    );
    assert_eq!(
        setup.install("0.1.0").unwrap(),
        Outcome::UpToDate {
            version: "0.2.0".parse().unwrap()
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
    assert!(
        matches!(error, Error::NoRuntimeForVariant { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("macos-arm64"), "{error}");

    // A runtime for a newer shell.
    let mut needs_newer = entry.clone();
    needs_newer.min_shell_version = "9.0.0".parse().unwrap();
    setup
        .release
        .publish(CHANNEL, 100, vec![(TARGET, needs_newer)]);
    let error = setup.install("0.1.0").unwrap_err();
    assert!(matches!(error, Error::ShellTooOld { .. }), "{error}");

    // None of that installed anything or left a download behind.
    assert_eq!(setup.current(), None);
    assert!(!setup.data.path().join("runtime").join(PENDING).exists());
    assert!(setup.server.requests_to(&entry.url).is_empty());
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
    setup.server.script(&v2.url, vec![Step::WrongBytes(bytes)]);
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
    assert!(setup.server.requests_to(&entry.url).is_empty());
}

#[test]
fn plain_http_from_another_host_is_refused_and_secrets_never_reach_the_message() {
    let setup = Setup::new();
    // An index on another host over plain http: refused before any connection (`.invalid`
    // never resolves, so nothing could be reached anyway).
    for index_url in [
        "http://user:hunter2@mirror.invalid/dl/runtime-beta.json?token=abc",
        "ftp://mirror.invalid/dl/runtime-beta.json",
        "file:///tmp/runtime-beta.json",
    ] {
        let source = UpdateSource {
            index_url: index_url.into(),
            ..setup.source()
        };
        let error = check_and_install(
            &mut setup.store(),
            &source,
            &Version::parse("0.1.0").unwrap(),
            &policy(),
            &mut |_| Ok(runtime_spec::Variant::base(TARGET)),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(matches!(error, Error::InsecureTransport { .. }), "{error}");
        let message = error.to_string();
        assert!(message.contains("https"), "{message}");
        assert!(
            !message.contains("hunter2") && !message.contains("token=abc"),
            "{message}"
        );
    }

    // A correctly signed index on loopback that names an archive on another host over plain
    // http: the archive URL follows the same rule, and nothing is downloaded.
    let mut entry = setup.release.runtime("0.2.0", true, 1000);
    entry.url = "http://mirror.invalid/runtime.tar.zst?sig=s3cr3t".into();
    setup.release.publish(CHANNEL, 100, vec![(TARGET, entry)]);
    let error = setup.install("0.1.0").unwrap_err();
    assert!(matches!(error, Error::InsecureTransport { .. }), "{error}");
    assert!(!error.to_string().contains("s3cr3t"), "{error}");
    assert_eq!(setup.current(), None);
    assert!(!setup.data.path().join("runtime").join(PENDING).exists());
}

#[test]
fn a_network_failure_names_the_url_without_its_credentials() {
    // A port nothing listens on, with credentials and a query in the URL: the error the
    // shell logs and shows must keep neither (the HTTP client repeats the URL in its own
    // message too).
    let refused = test_support::http::refused_url("");
    let port = refused.rsplit(':').next().unwrap();
    let setup = Setup::new();
    let source = UpdateSource {
        index_url: format!("http://me:hunter2@127.0.0.1:{port}/runtime-beta.json?token=abc"),
        ..setup.source()
    };
    let error = check_and_install(
        &mut setup.store(),
        &source,
        &Version::parse("0.1.0").unwrap(),
        &policy(),
        &mut |_| Ok(runtime_spec::Variant::base(TARGET)),
        &mut |_| {},
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, Error::Network { .. }), "{message}");
    assert!(
        message.contains(&format!("127.0.0.1:{port}/runtime-beta.json")),
        "{message}"
    );
    assert!(
        !message.contains("hunter2") && !message.contains("token=abc"),
        "{message}"
    );
}

#[test]
fn the_data_root_is_private_even_when_it_already_existed_open() {
    use std::os::unix::fs::PermissionsExt;
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    fs_err::create_dir_all(data.join("logs")).unwrap();
    fs_err::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    Store::open(&data.join("runtime"), TARGET).unwrap();
    let mode = |p: &std::path::Path| fs_err::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("runtime")), 0o700);
}

#[test]
fn a_runtime_of_another_app_is_never_installed_whichever_way_it_would_arrive() {
    let setup = Setup::new();
    let v1 = setup.release.runtime("0.1.0", true, 1000);
    setup.release.publish(CHANNEL, 100, vec![(TARGET, v1)]);
    // An app whose update source points at this index by mistake: the runtimes it offers are
    // the test app's, not this one's.
    let another = UpdateSource {
        app_id: "dev.example.another".into(),
        ..setup.source()
    };
    let install = |source: &UpdateSource| {
        check_and_install(
            &mut setup.store(),
            source,
            &Version::parse("0.1.0").unwrap(),
            &policy(),
            &mut |_| Ok(runtime_spec::Variant::base(TARGET)),
            &mut |_| {},
        )
    };
    let nothing_staged = |setup: &Setup| {
        let left: Vec<String> = std::fs::read_dir(setup.data.path().join("runtime"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("staging-") || name == PENDING)
            .collect();
        assert!(left.is_empty(), "{left:?}");
    };

    // The archive (nothing installed to start a delta from): checked once extracted.
    let error = install(&another).unwrap_err().to_string();
    assert!(
        error.contains("another app") && error.contains("dev.example.another"),
        "{error}"
    );
    nothing_staged(&setup);
    assert_eq!(setup.current(), None);

    // A delta: refused at the manifest, before any object or the archive is fetched.
    assert!(setup.install("0.1.0").is_ok());
    let v2 = setup.release.runtime("0.2.0", true, 1000);
    setup
        .release
        .publish(CHANNEL, 200, vec![(TARGET, v2.clone())]);
    let before = setup.server.requests().len();
    let error = install(&another).unwrap_err().to_string();
    assert!(error.contains("another app"), "{error}");
    let fetched: Vec<String> = setup.server.requests()[before..]
        .iter()
        .map(|request| request.path.clone())
        .collect();
    assert_eq!(
        fetched.len(),
        3,
        "index, signature, manifest only: {fetched:?}"
    );
    assert!(
        !fetched.iter().any(|path| path.ends_with(&v2.url)),
        "{fetched:?}"
    );
    nothing_staged(&setup);
    assert_eq!(setup.current().as_deref(), Some("0.1.0"));
}
