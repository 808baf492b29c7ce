//! Load: 200 clients updating at once from one loopback static server over a release folder
//! with its object store. The runtime is the small fake-engine one of these tests (200 copies
//! of the real 420 MB runtime would not fit this machine's disk budget); what is under load
//! is the update protocol and the server, whose egress is compared with 200 full downloads.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use semver::Version;
use updater::{check_and_install, Method, Outcome, Store, UpdateSource};

use crate::support::{noise, IndexUrl, Release, Server, CHANNEL, TARGET};

const CLIENTS: usize = 200;

fn files(main_py: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("app/main.py", main_py.to_vec()),
        ("lib/big.so", noise(1_500_000, "big")),
        ("lib/mid.so", noise(200_000, "mid")),
    ]
}

fn publish(release: &Release, version: &str, published_at: u64, main_py: &[u8]) -> u64 {
    let files = files(main_py);
    let borrowed: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(path, bytes)| (*path, bytes.as_slice()))
        .collect();
    let entry = release.runtime_with(version, &borrowed);
    let size = entry.size;
    release.publish(CHANNEL, published_at, vec![(TARGET, entry)]);
    size
}

#[test]
fn two_hundred_clients_update_at_once_from_one_static_server() {
    let release = Release::new();
    let server = Server::serving_dir(release.serve_dir());
    let source = UpdateSource {
        index_url: server.index_url(),
        public_key: release.public_key.parse().unwrap(),
        channel: CHANNEL.parse().unwrap(),
        app_id: crate::app().identifier,
    };
    let shell = Version::new(0, 1, 0);
    let options = updater::Options::default();

    // One client installs 0.1.0 the ordinary way; the others start from copies of its folder
    // (hard links, as cheap as the disk allows).
    publish(&release, "0.1.0", 100, b"print('v1')\n");
    let clients = tempfile::tempdir().unwrap();
    let seed = clients.path().join("seed");
    let mut store = Store::open(&seed.join("runtime"), TARGET).unwrap();
    check_and_install(
        &mut store,
        &source,
        &shell,
        &options,
        &mut |_| Ok(runtime_spec::Variant::base(TARGET)),
        &mut |_| {},
    )
    .unwrap();
    store.settle().unwrap();
    store.confirm_healthy().unwrap();
    for client in 0..CLIENTS {
        let status = Command::new("cp")
            .arg("-al")
            .arg(&seed)
            .arg(clients.path().join(format!("client-{client}")))
            .status()
            .unwrap();
        assert!(status.success());
    }

    let archive_size = publish(&release, "0.2.0", 200, b"print('v2')\n");
    let before = server.requests().len();
    let deltas = AtomicUsize::new(0);
    let failures: std::sync::Mutex<Vec<String>> = Default::default();
    std::thread::scope(|scope| {
        for client in 0..CLIENTS {
            let (source, shell, options) = (&source, &shell, &options);
            let (deltas, failures) = (&deltas, &failures);
            let dir = clients.path().join(format!("client-{client}"));
            scope.spawn(move || {
                let mut store = Store::open(&dir.join("runtime"), TARGET).unwrap();
                let wanted = store.installed_variant();
                match check_and_install(
                    &mut store,
                    source,
                    shell,
                    options,
                    &mut |_| Ok(wanted),
                    &mut |_| {},
                ) {
                    Ok(Outcome::Installed { transfer, .. }) if transfer.method == Method::Delta => {
                        deltas.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(other) => failures
                        .lock()
                        .unwrap()
                        .push(format!("client {client}: {other}")),
                    Err(error) => failures
                        .lock()
                        .unwrap()
                        .push(format!("client {client}: {error}")),
                }
                // The update is applied as the next start would.
                let trial = store.settle().unwrap();
                assert_eq!(
                    trial.map(|trial| trial.version.to_string()),
                    Some("0.2.0".to_owned())
                );
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} failed: {failures:#?}",
        failures.len()
    );
    assert_eq!(deltas.load(Ordering::SeqCst), CLIENTS);

    let requests = &server.requests()[before..];
    let failed: Vec<_> = requests
        .iter()
        .filter(|request| request.status >= 400)
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    let egress: u64 = requests.iter().map(|request| request.sent as u64).sum();
    let full = archive_size * CLIENTS as u64;
    eprintln!(
        "load: {CLIENTS} clients, {} requests, server egress {egress} bytes vs {full} for {CLIENTS} full downloads ({:.2} %)",
        requests.len(),
        100.0 * egress as f64 / full as f64
    );
    // Each client fetched the index, its signature, the manifest and one small object.
    assert_eq!(requests.len(), CLIENTS * 4, "{} requests", requests.len());
    assert!(
        egress * 20 < full,
        "egress {egress} is not a small fraction of {full}"
    );
}
