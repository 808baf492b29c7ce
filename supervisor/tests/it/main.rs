//! Integration tests: the supervisor against a fake engine speaking the launch contract, with
//! the process table and ports checked for real.
//!
//! Unix: Linux and macOS run the same assertions (the macOS CI job runs them). Signals go
//! through libc; what contains the engine when the supervising process is SIGKILLed differs and
//! each OS's orphan test names its mechanism: Linux `PR_SET_PDEATHSIG` (for the engine) and the
//! engine's own parent-death signal for its children; macOS the engine's stdin closing (it has
//! no parent-death signal, so an engine's children are its own job there). Windows' Job Object
//! is checked on an installed app by `cargo xtask ci-installed` (its hard-kill step).
#![cfg(unix)]

mod support;

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use supervisor::{launch, StopOutcome, SupervisorError, SupervisorEvent, TAIL_LINES};

use support::{http_get, is_alive, port_is_free, timeout, wait_until, Events, Fixture};

/// Long enough for a loaded CI machine, short enough to keep the suite quick.
fn death_timeout() -> Duration {
    timeout(Duration::from_secs(2))
}

fn assert_gone(pid: u32, port: u16) {
    assert!(
        wait_until(death_timeout(), || !is_alive(pid)),
        "engine pid {pid} is still alive"
    );
    assert!(
        wait_until(death_timeout(), || port_is_free(port)),
        "port {port} is still taken"
    );
}

#[test]
fn normal_launch_is_trusted_then_stops_on_stdin_close() {
    let fixture = Fixture::new();
    let events = Events::default();
    let mut engine = launch(&fixture.request("normal"), events.handler()).unwrap();

    let (port, pid) = (engine.port(), engine.pid());
    assert_eq!(engine.url(), format!("http://127.0.0.1:{port}"));
    assert_eq!(
        events.all(),
        [
            SupervisorEvent::Starting { attempt: 1 },
            SupervisorEvent::WaitingForHealth { port },
            SupervisorEvent::Ready {
                url: engine.url().to_owned(),
                port,
                pid
            },
        ]
    );
    assert!(engine.is_running());
    assert!(is_alive(pid));
    // What the engine really got in its environment and what it serves.
    assert_eq!(fixture.recorded("tokens"), [engine.token()]);
    assert_eq!(fixture.recorded("launch_ids"), [engine.launch_id()]);
    assert_eq!(fixture.recorded("pids"), [pid.to_string()]);
    let health = http_get(port, "/health").unwrap();
    assert!(
        health.contains(&format!("\"launch_id\": \"{}\"", engine.launch_id())),
        "{health}"
    );

    let outcome = engine.stop(timeout(Duration::from_secs(3)));
    assert_eq!(outcome, StopOutcome::StdinClosed { code: Some(0) });
    assert!(!engine.is_running());
    assert_gone(pid, port);

    let log = fixture.log_text();
    assert!(
        log.contains(" stdout | fake engine starting in mode normal"),
        "{log}"
    );
    assert!(log.contains(" stdout | TOKENIZER_STUDIO_READY {"), "{log}");
    assert!(log.contains(" stdout | stdin closed"), "{log}");
    assert!(
        !log.contains(engine.token()),
        "the token leaked into the log:\n{log}"
    );
    assert!(!format!("{engine:?}").contains(engine.token()));
    assert!(engine
        .log_tail()
        .iter()
        .any(|line| line.contains("stdin closed")));
    // The exit came from `stop`: no `Exited` event.
    assert_eq!(events.all().len(), 3, "{:?}", events.all());
    assert_eq!(
        engine.stop(Duration::from_secs(1)),
        StopOutcome::AlreadyExited { code: Some(0) }
    );
}

#[test]
fn an_engine_that_never_announces_times_out_and_is_killed() {
    let fixture = Fixture::new();
    let events = Events::default();
    let mut request = fixture.request("never-ready");
    // Long enough for Python to start and print even on a loaded machine.
    request.ready_timeout = timeout(Duration::from_secs(3));
    let started = Instant::now();
    let error = launch(&request, events.handler()).unwrap_err();

    assert!(started.elapsed() >= request.ready_timeout);
    assert!(
        matches!(error, SupervisorError::ReadyTimeout { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("engine.log"), "{error}");
    // A hung start is not retried: it would only double the wait.
    assert_eq!(events.attempts(), [1]);
    let Some(SupervisorEvent::GaveUp { reason, log_tail }) = events.all().pop() else {
        panic!("no GaveUp event: {:?}", events.all());
    };
    assert_eq!(reason, error.to_string());
    assert!(
        log_tail
            .iter()
            .any(|line| line.contains("still importing things")),
        "{log_tail:?}"
    );
    let pid: u32 = fixture.recorded("pids")[0].parse().unwrap();
    assert!(
        wait_until(death_timeout(), || !is_alive(pid)),
        "pid {pid} outlived the timeout"
    );
}

#[test]
fn an_engine_dying_after_ready_is_retried_then_given_up_with_the_reason() {
    let fixture = Fixture::new();
    let events = Events::default();
    let mut request = fixture.request("die-after-ready");
    request.max_attempts = 2;
    let error = launch(&request, events.handler()).unwrap_err();

    let SupervisorError::ExitedBeforeReady {
        attempts,
        last_exit,
        ..
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!((*attempts, last_exit.as_str()), (2, "exit code 3"));
    assert_eq!(events.attempts(), [1, 2]);
    let launch_ids = fixture.recorded("launch_ids");
    assert_eq!(launch_ids.len(), 2);
    assert_ne!(
        launch_ids[0], launch_ids[1],
        "each attempt needs a fresh launch id"
    );
    let tokens = fixture.recorded("tokens");
    assert_ne!(tokens[0], tokens[1], "each attempt needs a fresh token");
    let Some(SupervisorEvent::GaveUp { log_tail, .. }) = events.all().pop() else {
        panic!("no GaveUp event: {:?}", events.all());
    };
    assert!(
        log_tail
            .iter()
            .any(|line| line.contains("stderr | fatal: could not open the database")),
        "{log_tail:?}"
    );
}

#[test]
fn an_unusable_device_is_not_retried() {
    let fixture = Fixture::new();
    let events = Events::default();
    let mut request = fixture.request("device-unusable");
    request.max_attempts = 3;
    let error = launch(&request, events.handler()).unwrap_err();
    let SupervisorError::ExitedBeforeReady {
        attempts,
        last_exit,
        ..
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!((*attempts, last_exit.as_str()), (1, "exit code 78"));
    assert_eq!(
        events.attempts(),
        [1],
        "a second spawn would fail the same way"
    );
    let Some(SupervisorEvent::GaveUp { log_tail, .. }) = events.all().pop() else {
        panic!("no GaveUp event: {:?}", events.all());
    };
    assert!(
        log_tail
            .iter()
            .any(|line| line.contains("update the driver")),
        "{log_tail:?}"
    );
}

#[test]
fn a_failed_bind_is_retried_with_fresh_secrets() {
    let fixture = Fixture::new();
    let events = Events::default();
    let engine = launch(&fixture.request("fail-bind-once"), events.handler()).unwrap();

    assert_eq!(events.attempts(), [1, 2]);
    assert!(matches!(
        events.all().last(),
        Some(SupervisorEvent::Ready { .. })
    ));
    let launch_ids = fixture.recorded("launch_ids");
    assert_eq!(launch_ids.len(), 2);
    assert_ne!(launch_ids[0], launch_ids[1]);
    assert_eq!(launch_ids[1], engine.launch_id());
    assert_eq!(fixture.recorded("tokens")[1], engine.token());
    let log = fixture.log_text();
    assert!(
        log.contains("stderr | OSError: [Errno 98] address already in use"),
        "{log}"
    );
    assert!(
        log.contains("attempt 1 ended before ready: exit code 1"),
        "{log}"
    );
}

#[test]
fn slow_health_is_polled_until_it_answers() {
    let fixture = Fixture::new();
    let events = Events::default();
    let mut request = fixture.request("slow-health");
    support::Fixture::with_env(&mut request, "FAKE_SLOW_SECONDS", "1.2");
    let started = Instant::now();
    let engine = launch(&request, events.handler()).unwrap();

    assert!(
        started.elapsed() >= Duration::from_millis(1200),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(events.attempts(), [1]);
    // The fake writes its access log line after answering: give the reader a moment.
    let logged = |status: &str| {
        let line = format!("\"GET /health HTTP/1.1\" {status}");
        wait_until(death_timeout(), || fixture.log_text().contains(&line))
    };
    assert!(logged("503"), "{}", fixture.log_text());
    assert!(logged("200"), "{}", fixture.log_text());
    drop(engine);
}

#[test]
fn slow_health_past_the_deadline_is_an_error() {
    let fixture = Fixture::new();
    let events = Events::default();
    let mut request = fixture.request("slow-health");
    support::Fixture::with_env(&mut request, "FAKE_SLOW_SECONDS", "30");
    request.health_deadline = Duration::from_millis(1500);
    let error = launch(&request, events.handler()).unwrap_err();

    let SupervisorError::HealthTimeout { last_problem, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(last_problem, "HTTP 503");
    let pid: u32 = fixture.recorded("pids")[0].parse().unwrap();
    assert!(wait_until(death_timeout(), || !is_alive(pid)));
}

#[test]
fn a_wrong_launch_id_is_never_trusted() {
    let fixture = Fixture::new();
    let events = Events::default();
    let error = launch(&fixture.request("wrong-launch-id"), events.handler()).unwrap_err();

    let SupervisorError::ForeignServer { found, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(found.as_deref(), Some("somebody-elses-launch"));
    assert_eq!(events.attempts(), [1]);
    assert!(!events
        .all()
        .iter()
        .any(|event| matches!(event, SupervisorEvent::Ready { .. })));
    let pid: u32 = fixture.recorded("pids")[0].parse().unwrap();
    assert!(wait_until(death_timeout(), || !is_alive(pid)));
}

#[test]
fn a_stderr_flood_rotates_the_log_without_blocking() {
    let fixture = Fixture::new();
    let mut request = fixture.request("flood-stderr");
    let flood_bytes = 3 * 1024 * 1024;
    support::Fixture::with_env(&mut request, "FAKE_FLOOD_BYTES", &flood_bytes.to_string());
    request.log_rotation.max_bytes = 256 * 1024;
    request.log_rotation.n_files_kept = 3;
    // The flood comes before the readiness line: if stderr were not drained meanwhile the
    // engine would block on a full pipe and this would time out.
    request.ready_timeout = timeout(Duration::from_secs(20));
    let mut engine = launch(&request, Events::default().handler()).unwrap();

    let mut names: Vec<String> = fs_err::read_dir(fixture.log_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["engine.log", "engine.log.1", "engine.log.2", "engine.log.3"]
    );
    for name in &names {
        let size = fs_err::metadata(fixture.log_dir().join(name))
            .unwrap()
            .len();
        assert!(
            size <= request.log_rotation.max_bytes,
            "{name}: {size} bytes"
        );
    }
    // Full but bounded: thousands of lines went through it.
    assert_eq!(engine.log_tail().len(), TAIL_LINES);
    let read_all_logs = || -> String {
        let mut text = String::new();
        for name in ["engine.log.3", "engine.log.2", "engine.log.1", "engine.log"] {
            text += &fs_err::read_to_string(fixture.log_dir().join(name)).unwrap_or_default();
        }
        text
    };
    assert!(read_all_logs().contains("stdout | TOKENIZER_STUDIO_READY {"));
    // The stderr reader may still be catching up with the pipe: wait for it, with a deadline.
    let last_flood_line = format!("stderr | {:09}", flood_bytes / 100 - 1);
    assert!(
        wait_until(timeout(Duration::from_secs(5)), || read_all_logs()
            .contains(&last_flood_line)),
        "the last stderr line never reached the log"
    );
    assert_eq!(
        engine.stop(timeout(Duration::from_secs(3))),
        StopOutcome::StdinClosed { code: Some(0) }
    );
}

/// The launch contract's environment reaches the engine: its data folder, the Hugging Face
/// caches under `<data>/cache/huggingface/`, and the runtime root as working directory.
#[test]
fn the_engine_gets_the_launch_contracts_environment() {
    let fixture = Fixture::new();
    let mut engine = launch(&fixture.request("normal"), Events::default().handler()).unwrap();
    let recorded = fixture.recorded("environment");
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    let environment: serde_json::Value = serde_json::from_str(&recorded[0]).unwrap();
    let data = fixture.data_root();
    let hf = data.join("cache").join("huggingface");
    for (name, expected) in [
        ("TOKENIZER_STUDIO_DATA_DIR", data.clone()),
        ("HF_HOME", hf.clone()),
        ("HF_DATASETS_CACHE", hf.join("datasets")),
        ("HUGGINGFACE_HUB_CACHE", hf.join("hub")),
        ("cwd", fixture.runtime_root()),
    ] {
        assert_eq!(
            environment[name].as_str().map(std::path::PathBuf::from),
            Some(expected),
            "{name}: {environment}"
        );
    }
    assert_eq!(
        engine.stop(timeout(Duration::from_secs(3))),
        StopOutcome::StdinClosed { code: Some(0) }
    );
}

/// An engine that no longer notices stdin (its reader thread is stuck, say) but still handles
/// SIGTERM: the second step of `stop` ends it gracefully, before any kill.
#[test]
fn an_engine_deaf_to_stdin_stops_on_sigterm() {
    let fixture = Fixture::new();
    let mut request = fixture.request("normal");
    Fixture::with_env(&mut request, "FAKE_IGNORE_STDIN_EOF", "1");
    let mut engine = launch(&request, Events::default().handler()).unwrap();
    let (pid, port) = (engine.pid(), engine.port());
    let grace = timeout(Duration::from_millis(400));
    let started = Instant::now();
    let outcome = engine.stop(grace);
    assert_eq!(outcome, StopOutcome::Terminated { code: Some(0) });
    assert!(started.elapsed() >= grace, "{:?}", started.elapsed());
    assert_gone(pid, port);
    let log = fixture.log_text();
    assert!(log.contains("sending SIGTERM"), "{log}");
    assert!(!log.contains("killed by signal 9"), "{log}");
}

#[test]
fn an_engine_ignoring_sigterm_is_killed_after_the_grace_period() {
    let fixture = Fixture::new();
    let mut engine = launch(
        &fixture.request("ignore-sigterm"),
        Events::default().handler(),
    )
    .unwrap();
    let (pid, port) = (engine.pid(), engine.port());

    let grace = timeout(Duration::from_millis(400));
    let started = Instant::now();
    let outcome = engine.stop(grace);
    assert_eq!(outcome, StopOutcome::Killed);
    assert!(started.elapsed() >= grace * 2, "{:?}", started.elapsed());
    assert_gone(pid, port);
    let log = fixture.log_text();
    assert!(log.contains("sending SIGTERM"), "{log}");
    assert!(
        log.contains(&format!("engine pid {pid} ended: killed by signal 9")),
        "{log}"
    );
}

#[test]
fn a_child_of_the_engine_dies_with_it_on_stop() {
    let fixture = Fixture::new();
    // No parent-death signal on the child: only the supervisor's group kill can end it.
    let mut engine = launch(&fixture.request("spawn-child"), Events::default().handler()).unwrap();
    let child: u32 = fixture.recorded("child_pid")[0].parse().unwrap();
    let _cleanup = KillOnDrop(vec![child]);
    assert!(is_alive(child));

    assert_eq!(
        engine.stop(timeout(Duration::from_secs(3))),
        StopOutcome::StdinClosed { code: Some(0) }
    );
    assert!(
        wait_until(death_timeout(), || !is_alive(child)),
        "the engine's child {child} survived"
    );
    assert_gone(engine.pid(), engine.port());
}

#[test]
fn an_unexpected_exit_after_ready_is_reported() {
    let fixture = Fixture::new();
    let events = Events::default();
    let mut engine = launch(&fixture.request("normal"), events.handler()).unwrap();

    let _ = http_get(engine.port(), "/crash");
    let exited = events.wait_for(timeout(Duration::from_secs(5)), |event| {
        matches!(event, SupervisorEvent::Exited { .. })
    });
    let Some(SupervisorEvent::Exited { code, log_tail }) = exited else {
        panic!("no Exited event: {:?}", events.all());
    };
    assert_eq!(code, Some(7));
    assert!(
        log_tail
            .iter()
            .any(|line| line.contains("ended: exit code 7")),
        "{log_tail:?}"
    );
    assert!(!engine.is_running());
    assert_eq!(
        engine.stop(Duration::from_secs(1)),
        StopOutcome::AlreadyExited { code: Some(7) }
    );
}

#[test]
fn dropping_the_handle_stops_the_engine() {
    let fixture = Fixture::new();
    let engine = launch(&fixture.request("normal"), Events::default().handler()).unwrap();
    let (pid, port) = (engine.pid(), engine.port());
    drop(engine);
    // Drop blocks until the exit, so no waiting is needed for the pid.
    assert!(!is_alive(pid));
    assert!(wait_until(death_timeout(), || port_is_free(port)));
    assert!(fixture.log_text().contains("stopped: StdinClosed"));
}

#[test]
fn a_missing_interpreter_is_reported_with_its_path() {
    let fixture = Fixture::new();
    let events = Events::default();
    fs_err::remove_file(fixture.runtime_root().join("python/bin/python3")).unwrap();
    let error = launch(&fixture.request("normal"), events.handler()).unwrap_err();

    let SupervisorError::Spawn { program, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(*program, fixture.runtime_root().join("python/bin/python3"));
    assert!(error.to_string().contains("reinstall"), "{error}");
    assert!(matches!(
        events.all().last(),
        Some(SupervisorEvent::GaveUp { .. })
    ));
}

#[test]
fn an_empty_contract_is_rejected() {
    let fixture = Fixture::new();
    let mut request = fixture.request("normal");
    request.contract.argv.clear();
    let error = launch(&request, Events::default().handler()).unwrap_err();
    assert!(
        matches!(error, SupervisorError::EmptyArgv { .. }),
        "{error:?}"
    );
}

/// Set to a fixture folder when this binary is re-executed as the supervising process.
const HELPER_ENV: &str = "SUPERVISOR_IT_HELPER_FIXTURE";

/// Not a test on its own: the body of the supervising process that
/// `sigkilling_the_supervisor_leaves_no_live_orphans` starts and then SIGKILLs.
#[test]
fn helper_supervising_process() {
    let Some(root) = std::env::var_os(HELPER_ENV) else {
        return;
    };
    let fixture = Fixture::reuse(std::path::Path::new(&root));
    let mut request = fixture.request("spawn-child");
    if cfg!(target_os = "linux") {
        // A well-behaved engine gives its own children a parent-death signal (the
        // supervisor's reaches only its direct child once the supervisor itself is SIGKILLed).
        Fixture::with_env(&mut request, "FAKE_CHILD_PDEATHSIG", "1");
        // Without this the engine would also exit on stdin EOF when we die, hiding whether the
        // parent-death signal works.
        Fixture::with_env(&mut request, "FAKE_IGNORE_STDIN_EOF", "1");
    }
    let engine = launch(&request, Events::default().handler()).unwrap();
    let child = fixture.recorded("child_pid")[0].clone();
    println!(
        "HELPER pid={} port={} child={child}",
        engine.pid(),
        engine.port()
    );
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn sigkilling_the_supervisor_leaves_no_live_orphans() {
    let fixture = Fixture::new();
    let mut helper = Command::new(std::env::current_exe().unwrap())
        .args([
            "helper_supervising_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_ENV, &fixture.root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = helper.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // libtest prints "test helper_supervising_process ... " on the same line first.
            if let Some((_, rest)) = line.split_once("HELPER ") {
                let _ = sender.send(rest.to_owned());
            }
        }
    });
    let announced = receiver.recv_timeout(timeout(Duration::from_secs(20)));
    let Ok(announced) = announced else {
        let _ = helper.kill();
        let _ = helper.wait();
        panic!(
            "the helper never reported its engine; log:\n{}",
            fixture.log_text()
        );
    };
    let field = |name: &str| -> u32 {
        announced
            .split(' ')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .unwrap()
            .parse()
            .unwrap()
    };
    let (engine, port, child) = (field("pid"), field("port") as u16, field("child"));
    // A failing run must not leave its live orphans behind for the next tests.
    let _cleanup = KillOnDrop(vec![engine, child]);
    assert!(is_alive(engine) && is_alive(child), "{announced}");
    assert!(
        !port_is_free(port),
        "{announced}: nothing listens on the port"
    );

    // SAFETY: plain syscall on our own child.
    assert_eq!(
        unsafe { libc::kill(helper.id() as libc::pid_t, libc::SIGKILL) },
        0
    );
    helper.wait().unwrap();

    assert!(
        wait_until(death_timeout(), || !is_alive(engine)),
        "engine {engine} outlived its supervisor"
    );
    // macOS has no parent-death signal for the engine to give its children: they are the
    // engine's to stop (today's engine starts none).
    if cfg!(target_os = "linux") {
        assert!(
            wait_until(death_timeout(), || !is_alive(child)),
            "the engine's child {child} outlived the supervisor"
        );
    }
    assert!(
        wait_until(death_timeout(), || port_is_free(port)),
        "port {port} is still taken"
    );
}

/// SIGKILLs the listed processes when dropped, if they are still alive.
struct KillOnDrop(Vec<u32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for &pid in &self.0 {
            if is_alive(pid) {
                // SAFETY: plain syscall; the pids were announced by our own helper.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            }
        }
    }
}
