//! Delta updates through `ts-runtime` (the shell's installer without a window) against the
//! loopback server over a release folder with its object store: only what changed is fetched,
//! damaged or missing objects fall back to the archive, interrupted downloads resume, and a
//! SIGKILL at any step leaves a runtime that starts, with the user's data untouched.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use runtime_spec::{layout, IndexEntry, Sha256};

use crate::support::{
    delta_args, install_args, noise, sha256_hex, sigkill, spawn_until, ts_runtime, wait_for_size,
    DataDir, IndexUrl, Release, Run, Server, Step, CHANNEL, TARGET,
};

const TIMEOUT: Duration = Duration::from_secs(60);
/// Files that never change between the versions here: the bulk a delta does not fetch.
const BIG: usize = 600_000;

struct World {
    release: Release,
    server: Server,
    data: DataDir,
    key_file: String,
}

/// The files of a runtime version: `app/` sources, an unchanged big library, and `lib/mid.so`
/// and `app/main.py`, whose bytes the tests vary.
fn files(main_py: &str, mid_seed: &str) -> Vec<(String, Vec<u8>)> {
    let mut files = vec![
        ("app/main.py".to_owned(), main_py.as_bytes().to_vec()),
        ("lib/big.so".to_owned(), noise(BIG, "big")),
        ("lib/mid.so".to_owned(), noise(120_000, mid_seed)),
        // The same bytes twice: the runtime holds them under two names.
        ("lib/copy-a.bin".to_owned(), noise(20_000, "twin")),
        ("lib/copy-b.bin".to_owned(), noise(20_000, "twin")),
    ];
    for n in 0..40 {
        files.push((
            format!("app/module_{n:02}.py"),
            format!("VALUE = {n}\n").into_bytes(),
        ));
    }
    files
}

impl World {
    /// Runtime 0.1.0 installed (from its archive: nothing to start a delta from) and healthy.
    fn with_v1() -> World {
        let release = Release::new();
        let server = Server::serving_dir(release.serve_dir());
        let key_file = release.key_file().to_string_lossy().into_owned();
        let world = World {
            release,
            server,
            data: DataDir::new(),
            key_file,
        };
        world.publish("0.1.0", 100, &files("print('v1')\n", "mid-1"));
        let run = world.install_delta();
        assert!(run.ok, "{}{}", run.stdout, run.stderr);
        assert!(
            run.stdout.contains("TRANSFER archive"),
            "a first install has nothing to start a delta from:\n{}",
            run.stdout
        );
        assert!(!run.stdout.contains("FALLBACK"), "{}", run.stdout);
        world.expect_launch("0.1.0");
        world
    }

    /// Builds runtime `version` of `files`: its archive and objects, not yet in an index.
    fn build_runtime(&self, version: &str, files: &[(String, Vec<u8>)]) -> IndexEntry {
        let borrowed: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(path, bytes)| (path.as_str(), bytes.as_slice()))
            .collect();
        self.release.runtime_with(version, &borrowed)
    }

    fn publish(&self, version: &str, published_at: u64, files: &[(String, Vec<u8>)]) -> IndexEntry {
        let entry = self.build_runtime(version, files);
        self.release
            .publish(CHANNEL, published_at, vec![(TARGET, entry.clone())]);
        entry
    }

    fn data_str(&self) -> String {
        self.data.path().to_string_lossy().into_owned()
    }

    fn install_delta(&self) -> Run {
        let (data, url) = (self.data_str(), self.server.index_url());
        ts_runtime(&delta_args(&data, &url, &self.key_file))
    }

    /// Runs a delta install that must end in the archive; returns the one line saying why.
    fn install_falls_back(&self) -> String {
        let run = self.install_delta();
        assert!(run.ok, "{}{}", run.stdout, run.stderr);
        assert!(transfer(&run).starts_with("archive "), "{}", run.stdout);
        run.line("FALLBACK ")
            .unwrap_or_else(|| panic!("no line says why:\n{}", run.stdout))
    }

    fn expect_launch(&self, version: &str) {
        let run = ts_runtime(&["launch", "--data-dir", &self.data_str()]);
        assert!(run.ok, "launch failed:\n{}{}", run.stdout, run.stderr);
        let launched = run.line("LAUNCHED ").expect("a LAUNCHED line");
        assert!(
            launched.starts_with(&format!("{version} http://127.0.0.1:")),
            "{launched}"
        );
        self.data.assert_user_data_intact();
        let debris: Vec<String> = self
            .data
            .runtime_children()
            .into_iter()
            .filter(|name| name.starts_with("staging-") || name.starts_with('.'))
            .collect();
        assert!(debris.is_empty(), "left behind: {debris:?}");
    }

    fn runtime(&self, slot: &str) -> std::path::PathBuf {
        self.data.path().join("runtime").join(slot)
    }

    /// Requests made from `from` on (an index into the server's log), by path.
    fn paths_since(&self, from: usize) -> Vec<String> {
        self.server.requests()[from..]
            .iter()
            .map(|request| request.path.clone())
            .collect()
    }
}

/// The served path of the object of `bytes`.
fn object_of(bytes: &[u8]) -> String {
    let sha: Sha256 = sha256_hex(bytes).parse().unwrap();
    format!("/{}", layout::object_path(&sha))
}

fn manifest_object(entry: &IndexEntry) -> String {
    format!("/{}", layout::object_path(&entry.manifest.sha256))
}

fn transfer(run: &Run) -> String {
    run.line("TRANSFER ")
        .unwrap_or_else(|| panic!("no TRANSFER line:\n{}{}", run.stdout, run.stderr))
}

#[test]
fn one_changed_file_fetches_only_its_object_and_shares_the_rest_with_the_previous_runtime() {
    let world = World::with_v1();
    let before = world.server.requests().len();
    let v2_files = files("print('v2')\n", "mid-1");
    let v2 = world.publish("0.2.0", 200, &v2_files);

    let run = world.install_delta();
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    let transfer = transfer(&run);
    assert!(transfer.starts_with("delta "), "{transfer}");
    let mut fetched = world.paths_since(before);
    fetched.sort();
    let mut expected = vec![
        format!("/runtime-{CHANNEL}.json"),
        format!("/runtime-{CHANNEL}.json.minisig"),
        manifest_object(&v2),
        object_of(b"print('v2')\n"),
    ];
    expected.sort();
    assert_eq!(
        fetched, expected,
        "only the index, the manifest and main.py's object"
    );
    // The planned size is what went over the wire for the manifest and the one object.
    let sent: usize = world.server.requests()[before + 2..]
        .iter()
        .map(|request| request.sent)
        .sum();
    let planned: usize = transfer.split(' ').nth(1).unwrap().parse().unwrap();
    assert_eq!(planned, sent, "{transfer}");

    world.expect_launch("0.2.0");
    // current (0.2.0) and previous (0.1.0) share every unchanged file's bytes on disk.
    let (current, previous) = (world.runtime("current"), world.runtime("previous"));
    let inode = |dir: &Path, path: &str| std::fs::metadata(dir.join(path)).unwrap().ino();
    for path in [
        "lib/big.so",
        "lib/mid.so",
        "app/module_07.py",
        "python/bin/python3",
    ] {
        assert_eq!(inode(&current, path), inode(&previous, path), "{path}");
    }
    assert_ne!(
        inode(&current, "app/main.py"),
        inode(&previous, "app/main.py")
    );
    assert_eq!(
        std::fs::read(current.join("app/main.py")).unwrap(),
        b"print('v2')\n"
    );
    // Nothing downloaded is left once the new runtime is healthy.
    let cache = world.data.path().join("runtime/downloads/objects");
    let left: Vec<_> = walk_files(&cache);
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn an_app_released_one_folder_down_fetches_its_objects_from_the_shared_store_at_the_release_url() {
    let world = World::with_v1();
    // The archive stays at the release URL; the index one folder down names both it and the
    // store relative to itself, as an app other than the default one is published.
    let mut v2 = world.build_runtime("0.2.0", &files("print('v2')\n", "mid-1"));
    v2.url = format!("../{}", v2.url);
    world.release.publish_in(
        "other-app",
        layout::SHARED_OBJECTS_FROM_APP,
        CHANNEL,
        200,
        vec![(TARGET, v2.clone())],
    );
    let before = world.server.requests().len();
    let (data, url) = (
        world.data_str(),
        world
            .server
            .url(&format!("/other-app/runtime-{CHANNEL}.json")),
    );
    let run = ts_runtime(&delta_args(&data, &url, &world.key_file));
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    assert!(transfer(&run).starts_with("delta "), "{}", run.stdout);
    let mut fetched = world.paths_since(before);
    fetched.sort();
    let mut expected = vec![
        format!("/other-app/runtime-{CHANNEL}.json"),
        format!("/other-app/runtime-{CHANNEL}.json.minisig"),
        manifest_object(&v2),
        object_of(b"print('v2')\n"),
    ];
    expected.sort();
    assert_eq!(
        fetched, expected,
        "the objects come from /objects/, the one store"
    );
    world.expect_launch("0.2.0");
}

#[test]
fn a_damaged_object_is_refused_and_the_archive_installs_instead() {
    let world = World::with_v1();
    let v2 = world.publish("0.2.0", 200, &files("print('v2')\n", "mid-1"));
    let object = object_of(b"print('v2')\n");
    world
        .server
        .script(&object, vec![Step::WrongBytes(b"print('evil')\n".to_vec())]);
    let reason = world.install_falls_back();
    assert!(reason.contains("app/main.py"), "{reason}");
    assert_eq!(world.server.requests_to(&v2.url).len(), 1);
    // The refused bytes were not kept anywhere.
    assert!(walk_files(&world.data.path().join("runtime/downloads/objects")).is_empty());
    world.expect_launch("0.2.0");
    assert_eq!(
        std::fs::read(world.runtime("current").join("app/main.py")).unwrap(),
        b"print('v2')\n"
    );
}

#[test]
fn a_missing_object_falls_back_to_the_archive() {
    let world = World::with_v1();
    world.publish("0.2.0", 200, &files("print('v2')\n", "mid-1"));
    world
        .server
        .script(&object_of(b"print('v2')\n"), vec![Step::Status(404)]);
    let reason = world.install_falls_back();
    assert!(reason.contains("404"), "{reason}");
    world.expect_launch("0.2.0");
}

#[test]
fn a_manifest_that_is_not_the_one_the_index_names_is_never_used() {
    let world = World::with_v1();
    let v2 = world.publish("0.2.0", 200, &files("print('v2')\n", "mid-1"));
    // The previous version's manifest object, served in place of the new one's.
    let v1_archive = world
        .release
        .serve_dir()
        .join(world.release.runtime_name("0.1.0"));
    let v1_json = crate::support::manifest_of(&v1_archive).to_json();
    let v1_sha: Sha256 = sha256_hex(v1_json.as_bytes()).parse().unwrap();
    let v1_manifest =
        std::fs::read(world.release.serve_dir().join(layout::object_path(&v1_sha))).unwrap();
    world
        .server
        .script(&manifest_object(&v2), vec![Step::WrongBytes(v1_manifest)]);
    let before = world.server.requests().len();
    let reason = world.install_falls_back();
    assert!(reason.contains("manifest"), "{reason}");
    // No object was fetched on the strength of the wrong manifest.
    assert!(world
        .paths_since(before)
        .iter()
        .all(|path| !path.starts_with("/objects/") || *path == manifest_object(&v2)));
    world.expect_launch("0.2.0");
}

#[test]
fn a_dropped_connection_mid_object_resumes_with_a_range() {
    let world = World::with_v1();
    let v2_files = files("print('v1')\n", "mid-2");
    world.publish("0.2.0", 200, &v2_files);
    let object = object_of(&noise(120_000, "mid-2"));
    world
        .server
        .script(&object, vec![Step::CutAfter(50_000), Step::Serve]);
    let run = world.install_delta();
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    assert!(transfer(&run).starts_with("delta "), "{}", run.stdout);
    let seen = world.server.requests_to(&object);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].status, 206);
    assert!(
        seen[1].range.as_deref().unwrap().starts_with("bytes="),
        "{seen:?}"
    );
    world.expect_launch("0.2.0");
}

#[test]
fn a_change_bigger_than_the_threshold_takes_the_archive() {
    let world = World::with_v1();
    let mut v2_files = files("print('v2')\n", "mid-1");
    v2_files[1].1 = noise(BIG, "big-2");
    world.publish("0.2.0", 200, &v2_files);
    let reason = world.install_falls_back();
    assert!(reason.contains("% of the"), "{reason}");
    world.expect_launch("0.2.0");
}

#[test]
fn sigkill_during_a_delta_download_resumes_the_object_next_time() {
    let world = World::with_v1();
    world.publish("0.2.0", 200, &files("print('v1')\n", "mid-2"));
    let mid = noise(120_000, "mid-2");
    let object = object_of(&mid);
    world.server.script(
        &object,
        vec![Step::StallAfter(60_000, Duration::from_secs(600))],
    );
    let (data, url) = (world.data_str(), world.server.index_url());
    let mut child = spawn_until(
        &delta_args(&data, &url, &world.key_file),
        "STAGE CheckingIndex",
        TIMEOUT,
    );
    let sha: Sha256 = sha256_hex(&mid).parse().unwrap();
    let hex = sha.to_hex();
    let part = world
        .data
        .path()
        .join("runtime/downloads/objects")
        .join(&hex[..2])
        .join(format!("{hex}.zst.download.part"));
    wait_for_size(&part, 30_000, TIMEOUT);
    sigkill(&mut child);
    world.expect_launch("0.1.0");

    world.server.clear_scripts();
    let run = world.install_delta();
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    assert!(transfer(&run).starts_with("delta "), "{}", run.stdout);
    let seen = world.server.requests_to(&object);
    assert_eq!(seen.last().unwrap().status, 206, "{seen:?}");
    world.expect_launch("0.2.0");
}

#[test]
fn sigkill_during_assembly_verification_or_promotion_keeps_the_old_runtime_and_the_objects() {
    for step in ["delta-assemble", "delta-verify", "promote"] {
        let world = World::with_v1();
        world.publish("0.2.0", 200, &files("print('v2')\n", "mid-2"));
        let (data, url) = (world.data_str(), world.server.index_url());
        let mut args = delta_args(&data, &url, &world.key_file);
        args.extend(["--pause-at", step]);
        let mut child = spawn_until(&args, &format!("PAUSED {step}"), TIMEOUT);
        sigkill(&mut child);
        world.expect_launch("0.1.0");

        // The objects verified before the kill are not fetched again.
        let before = world.server.requests().len();
        let run = world.install_delta();
        assert!(run.ok, "{step}: {}{}", run.stdout, run.stderr);
        assert!(
            transfer(&run).starts_with("delta "),
            "{step}: {}",
            run.stdout
        );
        let objects: Vec<String> = world
            .paths_since(before)
            .into_iter()
            .filter(|path| path.starts_with("/objects/"))
            .collect();
        assert_eq!(
            objects.len(),
            1,
            "{step}: only the manifest again: {objects:?}"
        );
        world.expect_launch("0.2.0");
    }
}

#[test]
fn the_archive_path_stays_available_with_delta_off() {
    let world = World::with_v1();
    world.publish("0.2.0", 200, &files("print('v2')\n", "mid-1"));
    let (data, url) = (world.data_str(), world.server.index_url());
    let run = ts_runtime(&install_args(&data, &url, &world.key_file));
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    assert!(transfer(&run).starts_with("archive "), "{}", run.stdout);
    assert!(run.line("FALLBACK ").is_none());
    assert!(
        run.stdout.contains("shares 46 unchanged files"),
        "{}",
        run.stdout
    );
    world.expect_launch("0.2.0");
    // An archive install shares the unchanged files with the runtime it replaced too.
    let (current, previous) = (world.runtime("current"), world.runtime("previous"));
    let inode = |dir: &Path, path: &str| std::fs::metadata(dir.join(path)).unwrap().ino();
    for path in ["lib/big.so", "app/module_07.py"] {
        assert_eq!(inode(&current, path), inode(&previous, path), "{path}");
    }
    assert_ne!(
        inode(&current, "app/main.py"),
        inode(&previous, "app/main.py")
    );
}

/// Runs `script` (sh) in a private user and mount namespace, where it may mount a tmpfs; it
/// must succeed. Returns its stdout and stderr.
fn in_mount_namespace(script: &str) -> (String, String) {
    let unshare_works = std::process::Command::new("unshare")
        .args(["-rm", "true"])
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        unshare_works,
        "this test needs `unshare -rm` (util-linux, user namespaces) to mount a tmpfs"
    );
    let output = std::process::Command::new("unshare")
        .args(["-rm", "sh", "-c", script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stdout}{stderr}");
    (stdout, stderr)
}

/// `args` quoted for `sh`.
fn quoted(args: &[&str]) -> String {
    args.iter()
        .map(|arg| format!("'{arg}'"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every file below `dir` (none when it does not exist).
fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.path().is_dir() {
                stack.push(entry.path());
            } else {
                found.push(entry.path());
            }
        }
    }
    found
}

/// A full install's bundled runtime on another volume than the data folder (here a tmpfs
/// mounted over `runtime/default` in a private mount namespace): hard links cannot cross it,
/// so the unchanged files are copied, and the log says so.
#[test]
fn unchanged_files_on_another_volume_are_copied_and_the_log_says_so() {
    let release = Release::new();
    let server = Server::serving_dir(release.serve_dir());
    let key_file = release.key_file().to_string_lossy().into_owned();
    let world = World {
        release,
        server,
        data: DataDir::new(),
        key_file,
    };
    let v1 = world.publish("0.1.0", 100, &files("print('v1')\n", "mid-1"));
    let seed = tempfile::tempdir().unwrap();
    runtime_archive::install_archive(
        &world.release.serve_dir().join(&v1.url),
        seed.path(),
        "default",
        TARGET,
    )
    .unwrap();
    world.publish("0.2.0", 200, &files("print('v2')\n", "mid-1"));
    let (data, url) = (world.data_str(), world.server.index_url());
    let install = quoted(&delta_args(&data, &url, &world.key_file));
    let script = format!(
        "set -e; D='{data}/runtime/default'; mkdir -p \"$D\"; mount -t tmpfs -o size=64m tmpfs \"$D\"; \
         cp -a '{seed}/default/.' \"$D/\"; '{bin}' {install}; '{bin}' launch --data-dir '{data}'",
        seed = seed.path().display(),
        bin = env!("CARGO_BIN_EXE_ts-runtime"),
    );
    let (stdout, _) = in_mount_namespace(&script);
    assert!(stdout.contains("TRANSFER delta "), "{stdout}");
    let note = stdout
        .lines()
        .find(|line| line.contains("instead of hard-linking them"))
        .unwrap_or_else(|| panic!("no line says the files were copied:\n{stdout}"));
    assert!(note.contains("cross-device"), "{note}");
    assert!(stdout.contains("LAUNCHED 0.2.0 "), "{stdout}");
    world.data.assert_user_data_intact();
}

/// The signed index names a manifest the archive does not start with: the archive path refuses
/// it at its first member, before any file is written, and the installed runtime keeps running.
#[test]
fn an_archive_whose_manifest_is_not_the_declared_one_is_refused_before_extraction() {
    let world = World::with_v1();
    let borrowed_files = files("print('v2')\n", "mid-1");
    let borrowed: Vec<(&str, &[u8])> = borrowed_files
        .iter()
        .map(|(path, bytes)| (path.as_str(), bytes.as_slice()))
        .collect();
    let mut v2 = world.release.runtime_with("0.2.0", &borrowed);
    v2.manifest.sha256 = sha256_hex(b"another manifest").parse().unwrap();
    world.release.publish(CHANNEL, 200, vec![(TARGET, v2)]);
    let run = world.install_delta();
    assert!(!run.ok, "{}", run.stdout);
    assert!(
        run.stderr
            .contains("not the one the release index declares"),
        "{}",
        run.stderr
    );
    assert!(!world
        .data
        .runtime_children()
        .iter()
        .any(|name| name.starts_with("staging-")));
    world.expect_launch("0.1.0");
}

#[test]
fn a_release_without_an_object_store_is_fetched_as_an_archive_and_the_log_says_why() {
    let world = World::with_v1();
    world.publish("0.2.0", 200, &files("print('v2')\n", "mid-1"));
    std::fs::remove_dir_all(world.release.serve_dir().join(layout::OBJECTS_DIR)).unwrap();
    let reason = world.install_falls_back();
    assert!(reason.contains("no object store"), "{reason}");
    world.expect_launch("0.2.0");
}

/// Not enough space for what the delta writes (the data folder on a 16 MB tmpfs, in a private
/// mount namespace): refused before anything is written, nothing left behind, the installed
/// runtime still starts.
#[test]
fn a_delta_that_does_not_fit_is_refused_before_writing() {
    let world = World::with_v1();
    world.publish("0.2.0", 200, &files("print('v2')\n", "mid-1"));
    let (url, key) = (world.server.index_url(), world.key_file.clone());
    let mount = tempfile::tempdir().unwrap();
    let m = mount.path().to_string_lossy().into_owned();
    let install = quoted(&delta_args(&m, &url, &key));
    let script = format!(
        "M='{m}'; mount -t tmpfs -o size=16m tmpfs \"$M\" || exit 90; cp -a '{data}/.' \"$M/\"; \
         '{bin}' {install}; echo \"INSTALL_RC $?\"; ls \"$M/runtime\"; '{bin}' launch --data-dir \"$M\"",
        data = world.data_str(),
        bin = env!("CARGO_BIN_EXE_ts-runtime"),
    );
    let (stdout, stderr) = in_mount_namespace(&script);
    assert!(stdout.contains("INSTALL_RC 1"), "{stdout}{stderr}");
    assert!(stderr.contains("not enough free space"), "{stderr}");
    assert!(!stdout.contains("staging-"), "{stdout}");
    assert!(stdout.contains("LAUNCHED 0.1.0 "), "{stdout}");
}
