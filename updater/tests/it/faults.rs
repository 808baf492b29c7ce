//! Process-level faults: the `ts-runtime` binary (the shell's installer code without a window)
//! against a misbehaving loopback server, killed with SIGKILL at exact steps. After each fault
//! the next launch must start a healthy runtime and the user's data must be untouched.

use std::time::Duration;

use crate::support::{
    install_args, sigkill, spawn_until, ts_runtime, wait_for_size, DataDir, IndexUrl, Release,
    Server, Step, CHANNEL, TARGET,
};

const TIMEOUT: Duration = Duration::from_secs(60);

struct World {
    release: Release,
    server: Server,
    data: DataDir,
    key_file: String,
}

impl World {
    /// A data folder where runtime 0.1.0 is installed and healthy.
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
        let v1 = world.release.runtime("0.1.0", true, 1000);
        world.release.publish(CHANNEL, 100, vec![(TARGET, v1)]);
        let run = world.install();
        assert!(run.ok, "{}{}", run.stdout, run.stderr);
        world.expect_launch("0.1.0");
        world
    }

    fn data_str(&self) -> String {
        self.data.path().to_string_lossy().into_owned()
    }

    fn install(&self) -> crate::support::Run {
        let (data, url) = (self.data_str(), self.server.index_url());
        ts_runtime(&install_args(&data, &url, &self.key_file))
    }

    fn launch(&self) -> crate::support::Run {
        ts_runtime(&["launch", "--data-dir", &self.data_str()])
    }

    /// The next launch starts `version`, healthy; user data untouched; no debris left.
    fn expect_launch(&self, version: &str) -> crate::support::Run {
        let run = self.launch();
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
            .filter(|name| {
                name.starts_with("staging-")
                    || name.starts_with("retired-")
                    || name.starts_with("failed-")
                    || name.starts_with('.')
            })
            .collect();
        assert!(
            debris.is_empty(),
            "left behind after a healthy start: {debris:?}"
        );
        run
    }

    fn publish_v2(&self, healthy: bool, padding: usize) -> runtime_spec::IndexEntry {
        let v2 = self.release.runtime("0.2.0", healthy, padding);
        self.release
            .publish(CHANNEL, 200, vec![(TARGET, v2.clone())]);
        v2
    }

    fn part_file(&self, entry: &runtime_spec::IndexEntry) -> std::path::PathBuf {
        self.data
            .path()
            .join("runtime")
            .join("downloads")
            .join(format!("{}.part", entry.url))
    }

    /// Runs `body` (sh) in a private mount namespace where a copy of the data folder sits on
    /// a tmpfs of `size`: `$M` is that folder, `install` and `launch` run `ts-runtime` on it.
    /// Returns stdout and stderr; the script itself must succeed.
    fn in_private_tmpfs(&self, size: &str, body: &str) -> (String, String) {
        let unshare_works = std::process::Command::new("unshare")
            .args(["-rm", "true"])
            .status()
            .is_ok_and(|status| status.success());
        assert!(
            unshare_works,
            "this test needs `unshare -rm` (util-linux, user namespaces) to mount a tmpfs"
        );
        let mount = tempfile::tempdir().unwrap();
        let script = format!(
            "set -e; M='{m}'; mount -t tmpfs -o size={size} tmpfs \"$M\"; cp -a '{d}/.' \"$M/\"; \
             install() {{ '{bin}' install --data-dir \"$M\" --index-url '{u}' --public-key-file '{k}' --channel {c} --app-id '{a}' --backoff-ms 20; }}; \
             launch() {{ '{bin}' launch --data-dir \"$M\"; }}; {body}",
            m = mount.path().display(),
            d = self.data.path().display(),
            bin = env!("CARGO_BIN_EXE_ts-runtime"),
            u = self.server.index_url(),
            k = self.key_file,
            c = CHANNEL,
            a = crate::support::app_id(),
        );
        let output = std::process::Command::new("unshare")
            .args(["-rm", "sh", "-c", &script])
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        );
        assert!(output.status.success(), "{stdout}{stderr}");
        (stdout, stderr)
    }

    fn status(&self) -> serde_json::Value {
        let run = ts_runtime(&["status", "--data-dir", &self.data_str()]);
        assert!(run.ok, "{}", run.stderr);
        serde_json::from_str(run.stdout.lines().next().unwrap()).unwrap()
    }
}

/// Every index the updater refuses, through the real binary: after each refusal (with the
/// reason in its error) the next launch starts the installed runtime, healthy, with the user's
/// data untouched and nothing half-installed.
#[test]
fn refused_indexes_leave_the_installed_runtime_running() {
    let world = World::with_v1();
    let v2 = world.release.runtime("0.2.0", true, 1000);
    let index_path = world
        .release
        .serve_dir()
        .join(format!("runtime-{CHANNEL}.json"));
    let (_, other_secret) = release_meta::minisign::generate_keypair(None).unwrap();
    // (case, how the server's index is made bad, what the error must say)
    type Case<'a> = (&'a str, Box<dyn Fn() + 'a>, &'a str);
    let cases: [Case; 5] = [
        (
            "one byte of the signed index changed",
            Box::new(|| {
                world
                    .release
                    .publish(CHANNEL, 200, vec![(TARGET, v2.clone())]);
                let signed = fs_err::read_to_string(&index_path).unwrap();
                fs_err::write(&index_path, signed.replace("\"size\": ", "\"size\": 1")).unwrap();
            }),
            "signature",
        ),
        (
            "signed by another key",
            Box::new(|| {
                world.release.publish_with_key(
                    CHANNEL,
                    200,
                    vec![(TARGET, v2.clone())],
                    &other_secret,
                )
            }),
            "different key",
        ),
        (
            "only another platform's runtime",
            Box::new(|| {
                world.release.publish(
                    CHANNEL,
                    200,
                    vec![(runtime_spec::Target::MacosArm64, v2.clone())],
                )
            }),
            "macos-arm64",
        ),
        (
            "a newer index offering an older runtime (downgrade)",
            Box::new(|| {
                let older = world.release.runtime("0.0.9", true, 1000);
                world.release.publish(CHANNEL, 300, vec![(TARGET, older)]);
            }),
            "0.0.9",
        ),
        (
            "an older index than one already seen (replay)",
            Box::new(|| {
                world
                    .release
                    .publish(CHANNEL, 250, vec![(TARGET, v2.clone())])
            }),
            "replayed",
        ),
    ];
    for (case, make_bad, expected) in cases {
        make_bad();
        let run = world.install();
        assert!(
            !run.ok,
            "{case}: the install must be refused:\n{}",
            run.stdout
        );
        assert!(
            run.stderr.contains(expected),
            "{case}: the error should name {expected:?}:\n{}",
            run.stderr
        );
        world.expect_launch("0.1.0");
        assert_eq!(world.status()["pending"], serde_json::Value::Null, "{case}");
    }
    assert!(
        world.server.requests_to(&v2.url).is_empty(),
        "no refused index may lead to a download"
    );
}

#[test]
fn update_applies_at_next_launch_and_keeps_one_previous() {
    let world = World::with_v1();
    world.publish_v2(true, 1000);
    let run = world.install();
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    assert_eq!(world.status()["pending"], "0.2.0");
    assert_eq!(world.status()["current"], "0.1.0");
    world.expect_launch("0.2.0");
    assert_eq!(world.status()["previous"], "0.1.0");

    let v3 = world.release.runtime("0.3.0", true, 1000);
    world.release.publish(CHANNEL, 300, vec![(TARGET, v3)]);
    assert!(world.install().ok);
    world.expect_launch("0.3.0");
    let status = world.status();
    assert_eq!(status["previous"], "0.2.0");
    assert_eq!(status["state"]["trial"], serde_json::Value::Null);
    // Exactly current + previous (0.1.0 is gone).
    let runtimes: Vec<String> = world
        .data
        .runtime_children()
        .into_iter()
        .filter(|name| !matches!(name.as_str(), "downloads" | "state.json"))
        .collect();
    assert_eq!(runtimes, ["current", "previous"]);
}

#[test]
fn failed_health_rolls_back_and_remembers_the_bad_version() {
    let world = World::with_v1();
    world.publish_v2(false, 1000);
    assert!(world.install().ok);
    let run = world.expect_launch("0.1.0");
    assert_eq!(
        run.line("ROLLED_BACK ").as_deref(),
        Some("0.2.0 linux-x64 0.1.0 linux-x64")
    );
    let notice = run.line("NOTICE ").unwrap();
    assert!(
        notice.contains("0.2.0") && notice.contains("went back to runtime 0.1.0"),
        "{notice}"
    );
    assert_eq!(
        world.status()["state"]["bad_runtimes"],
        serde_json::json!([{"version": "0.2.0", "variant": {"target": "linux-x64", "profile": "base", "accelerator": "cpu"}}])
    );

    // The same index again: skipped, not downloaded again.
    let run = world.install();
    assert!(run.ok);
    assert!(
        run.stdout.contains("OUTCOME KnownBad 0.2.0"),
        "{}",
        run.stdout
    );
    world.expect_launch("0.1.0");

    // A newer fixed release is taken.
    let v3 = world.release.runtime("0.3.0", true, 1000);
    world.release.publish(CHANNEL, 300, vec![(TARGET, v3)]);
    assert!(world.install().ok);
    world.expect_launch("0.3.0");
}

#[test]
fn dropped_connection_resumes_with_range() {
    let world = World::with_v1();
    let v2 = world.publish_v2(true, 600_000);
    // The first request is cut after 200 kB; the resumed one is served.
    world
        .server
        .script(&v2.url, vec![Step::CutAfter(200_000), Step::Serve]);
    let run = world.install();
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    let seen = world.server.requests_to(&v2.url);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].status, 206);
    let resumed_from: u64 = seen[1]
        .range
        .as_deref()
        .unwrap()
        .trim_start_matches("bytes=")
        .trim_end_matches('-')
        .parse()
        .unwrap();
    assert!(resumed_from >= 64 * 1024, "resumed from {resumed_from}");
    world.expect_launch("0.2.0");
}

#[test]
fn server_errors_and_a_stall_are_retried() {
    let world = World::with_v1();
    let v2 = world.publish_v2(true, 300_000);
    // The stall outlasts the install's read timeout at any scale (both scale together).
    world.server.script(
        &v2.url,
        vec![
            Step::Status(500),
            Step::Status(503),
            Step::StallAfter(100_000, test_support::timeout(Duration::from_secs(3))),
            Step::Serve,
        ],
    );
    let run = world.install();
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    let statuses: Vec<u16> = world
        .server
        .requests_to(&v2.url)
        .iter()
        .map(|s| s.status)
        .collect();
    // 500, 503, the stalled 200, then a 206 resuming after the stall.
    assert_eq!(statuses, [500, 503, 200, 206], "{statuses:?}");
    world.expect_launch("0.2.0");
}

#[test]
fn persistent_server_errors_give_up_and_change_nothing() {
    let world = World::with_v1();
    let v2 = world.publish_v2(true, 1000);
    world.server.script(&v2.url, vec![Step::Status(500)]);
    let run = world.install();
    assert!(!run.ok);
    assert!(run.stderr.contains("500"), "{}", run.stderr);
    world.expect_launch("0.1.0");
}

#[test]
fn sigkill_during_download_resumes_next_time() {
    let world = World::with_v1();
    let v2 = world.publish_v2(true, 2_000_000);
    world
        .server
        .script(&v2.url, vec![Step::Throttle(Duration::from_millis(40))]);
    let (data, url) = (world.data_str(), world.server.index_url());
    let mut child = spawn_until(
        &install_args(&data, &url, &world.key_file),
        "STAGE CheckingIndex",
        TIMEOUT,
    );
    let part = world.part_file(&v2);
    wait_for_size(&part, 300_000, TIMEOUT);
    sigkill(&mut child);
    let kept = std::fs::metadata(&part).unwrap().len();
    assert!(kept < v2.size);
    world.expect_launch("0.1.0");

    world.server.clear_scripts();
    let run = world.install();
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    let seen = world.server.requests_to(&v2.url);
    assert_eq!(seen.last().unwrap().status, 206, "{seen:?}");
    world.expect_launch("0.2.0");
}

#[test]
fn sigkill_before_the_verified_extraction_is_promoted_reuses_the_download() {
    let world = World::with_v1();
    world.publish_v2(true, 1000);
    let (data, url) = (world.data_str(), world.server.index_url());
    let mut args = install_args(&data, &url, &world.key_file);
    args.extend(["--pause-at", "promote"]);
    let mut child = spawn_until(&args, "PAUSED promote", TIMEOUT);
    sigkill(&mut child);
    assert!(world
        .data
        .runtime_children()
        .contains(&"staging-0.2.0".to_owned()));
    world.expect_launch("0.1.0");
    // The finished download is reused: no second archive request.
    let archive_requests = world
        .server
        .requests_to(&world.release.runtime_name("0.2.0"))
        .len();
    assert!(world.install().ok);
    assert_eq!(
        world
            .server
            .requests_to(&world.release.runtime_name("0.2.0"))
            .len(),
        archive_requests
    );
    world.expect_launch("0.2.0");
}

#[test]
fn sigkill_during_promotion_is_finished_or_undone() {
    for step in [
        "retire-previous",
        "current-to-previous",
        "pending-to-current",
    ] {
        let world = World::with_v1();
        // A second update so `previous` exists and gets retired.
        world.publish_v2(true, 1000);
        assert!(world.install().ok);
        world.expect_launch("0.2.0");
        let v3 = world.release.runtime("0.3.0", true, 1000);
        world.release.publish(CHANNEL, 300, vec![(TARGET, v3)]);
        assert!(world.install().ok);

        let data = world.data_str();
        let mut child = spawn_until(
            &["launch", "--data-dir", &data, "--pause-at", step],
            &format!("PAUSED {step}"),
            TIMEOUT,
        );
        sigkill(&mut child);
        world.expect_launch("0.3.0");
        assert_eq!(
            world.status()["previous"],
            "0.2.0",
            "after a kill at {step}"
        );
    }
}

#[test]
fn sigkill_during_rollback_ends_on_the_old_runtime() {
    for step in ["current-to-failed", "previous-to-current"] {
        let world = World::with_v1();
        world.publish_v2(false, 1000);
        assert!(world.install().ok);
        let data = world.data_str();
        let mut child = spawn_until(
            &["launch", "--data-dir", &data, "--pause-at", step],
            &format!("PAUSED {step}"),
            TIMEOUT,
        );
        sigkill(&mut child);
        world.expect_launch("0.1.0");
        assert_eq!(
            world.status()["state"]["bad_runtimes"],
            serde_json::json!([{"version": "0.2.0", "variant": {"target": "linux-x64", "profile": "base", "accelerator": "cpu"}}]),
            "{step}"
        );
    }
}

/// A real small filesystem: a 64 MiB tmpfs mounted in a private mount namespace (`unshare`),
/// holding the data folder, against an update that needs more than that.
#[test]
fn full_disk_on_a_small_tmpfs() {
    let world = World::with_v1();
    let mut v2 = world.release.runtime("0.2.0", true, 1000);
    v2.unpacked_size = 100 * 1024 * 1024;
    world
        .release
        .publish(CHANNEL, 200, vec![(TARGET, v2.clone())]);
    let (stdout, stderr) = world.in_private_tmpfs(
        "64m",
        "if install; then echo INSTALL_SUCCEEDED; fi; launch; ls \"$M/runtime\"; cat \"$M/uploads/corpus.txt\"",
    );
    assert!(!stdout.contains("INSTALL_SUCCEEDED"), "{stdout}");
    assert!(stderr.contains("not enough free space"), "{stderr}");
    assert!(stdout.contains("LAUNCHED 0.1.0 "), "{stdout}");
    assert!(stdout.contains("the user's own corpus"), "{stdout}");
    assert!(!stdout.contains(".part"), "{stdout}");
    assert!(
        world.server.requests_to(&v2.url).is_empty(),
        "downloaded despite the full disk"
    );
}

/// The disk fills up in the middle of an install (another program took the space after the
/// free-space check passed): the install fails with the OS's own "no space" error and changes
/// nothing; once space is back, the next launch still starts the old runtime and the next
/// install finishes (resuming the kept download).
#[test]
fn disk_filling_up_during_the_download_fails_cleanly_and_recovers() {
    let world = World::with_v1();
    // 20 MB, incompressible; the index's sizes are true, so the space check (download + unpacked
    // + 200 MB margin) passes on a 256 MB tmpfs.
    let v2 = world.publish_v2(true, 20_000_000);
    world
        .server
        .script(&v2.url, vec![Step::Throttle(Duration::from_millis(3))]);
    // As soon as the download has started, a ballast file takes every free byte.
    let (stdout, stderr) = world.in_private_tmpfs(
        "256m",
        &format!(
            "( while [ ! -s \"$M/runtime/downloads/{url}.part\" ]; do sleep 0.01; done; \
               dd if=/dev/zero of=\"$M/ballast\" bs=1M 2>/dev/null || true; echo BALLAST_WRITTEN ) & \
             if install; then echo FIRST_INSTALL_SUCCEEDED; fi; \
             wait; rm \"$M/ballast\"; \
             launch; ls \"$M/runtime\"; cat \"$M/uploads/corpus.txt\"; \
             install; launch",
            url = v2.url
        ),
    );
    assert!(stdout.contains("BALLAST_WRITTEN"), "{stdout}");
    assert!(!stdout.contains("FIRST_INSTALL_SUCCEEDED"), "{stdout}");
    assert!(
        stderr.to_lowercase().contains("no space left on device"),
        "the failed install must say the disk is full:\n{stderr}"
    );
    let launches: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("LAUNCHED "))
        .collect();
    assert_eq!(launches.len(), 2, "{stdout}");
    assert!(launches[0].starts_with("LAUNCHED 0.1.0 "), "{stdout}");
    assert!(launches[1].starts_with("LAUNCHED 0.2.0 "), "{stdout}");
    assert!(stdout.contains("the user's own corpus"), "{stdout}");
    assert!(
        !stdout.contains("staging-"),
        "extraction debris left:\n{stdout}"
    );
    let seen = world.server.requests_to(&v2.url);
    assert!(
        seen.iter().any(|request| request.status == 206),
        "the second install should resume the kept download: {seen:?}"
    );
}

#[test]
fn full_install_rolls_back_to_its_bundled_default() {
    let release = Release::new();
    let server = Server::serving_dir(release.serve_dir());
    let key_file = release.key_file().to_string_lossy().into_owned();
    let data = DataDir::new();
    // What a full installer's first run leaves: the bundled archive verified into `default`.
    release.runtime("0.1.0", true, 1000);
    runtime_archive::install_archive(
        &release.serve_dir().join(release.runtime_name("0.1.0")),
        &data.path().join("runtime"),
        "default",
        TARGET,
    )
    .unwrap();
    let world = World {
        release,
        server,
        data,
        key_file,
    };
    world.expect_launch("0.1.0");
    world.publish_v2(false, 1000);
    assert!(world.install().ok);
    let run = world.expect_launch("0.1.0");
    assert_eq!(
        run.line("ROLLED_BACK ").as_deref(),
        Some("0.2.0 linux-x64 0.1.0 linux-x64")
    );
    assert_eq!(world.status()["current"], serde_json::Value::Null);
    assert_eq!(
        world.status()["state"]["bad_runtimes"],
        serde_json::json!([{"version": "0.2.0", "variant": {"target": "linux-x64", "profile": "base", "accelerator": "cpu"}}])
    );
}

/// A kill in the middle of writing the files: a 100 MB incompressible file takes long enough
/// to extract that the kill usually lands while it is half written. That is asserted, not
/// assumed: on a busy machine the kill can come late, and the scenario is then run again.
#[test]
fn sigkill_in_the_middle_of_extraction_leaves_the_old_runtime() {
    const PADDING: usize = 100_000_000;
    const TRIES: usize = 5;
    for attempt in 1..=TRIES {
        let world = World::with_v1();
        world.publish_v2(true, PADDING);
        let (data, url) = (world.data_str(), world.server.index_url());
        let mut child = spawn_until(
            &install_args(&data, &url, &world.key_file),
            "STAGE Installing 0.2.0",
            TIMEOUT,
        );
        let padding = world
            .data
            .path()
            .join("runtime")
            .join("staging-0.2.0")
            .join("padding.bin");
        wait_for_size(&padding, 0, TIMEOUT);
        sigkill(&mut child);
        let written = std::fs::metadata(&padding).map_or(0, |meta| meta.len());
        if written == PADDING as u64 {
            assert!(
                attempt < TRIES,
                "in {TRIES} tries the kill always came after the file was complete"
            );
            continue;
        }
        world.expect_launch("0.1.0");
        assert!(world.install().ok);
        world.expect_launch("0.2.0");
        return;
    }
}
