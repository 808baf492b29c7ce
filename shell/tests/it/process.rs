//! The shell's process lifecycle: signals stop the engine, SIGKILL leaves no orphan,
//! a second launch hands over to the first.

use std::time::Duration;

use crate::support;

const UI_TIMEOUT: Duration = Duration::from_secs(120);

fn send_signal(pid: u32, signal: i32) {
    // SAFETY: plain kill(2) on a pid this test spawned.
    let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal})");
}

#[test]
fn sigkill_of_the_shell_leaves_no_engine() {
    let Some(_serial) = support::slow_test() else {
        return;
    };
    let work = support::scratch("sigkill");
    let data = work.path().join("data");
    let display = support::display();
    let bus = support::session_bus();
    let mut shell = support::spawn_shell(&display, &bus, &support::runtime_dir(), &data);
    support::wait_for_ui(&data, UI_TIMEOUT);
    let engines = support::live_engines(&data);
    assert_eq!(engines.len(), 1, "{engines:?}");
    send_signal(shell.id(), libc::SIGKILL);
    let _ = shell.wait();
    // PR_SET_PDEATHSIG: the kernel kills the engine when the shell's owner thread dies.
    support::wait_until(
        Duration::from_secs(10),
        "the engine to die with the shell",
        || !support::is_alive(engines[0]),
    );
}

#[test]
fn sigterm_and_sigint_stop_the_engine_gracefully() {
    let Some(_serial) = support::slow_test() else {
        return;
    };
    for (signal, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let work = support::scratch("sigterm");
        let data = work.path().join("data");
        let display = support::display();
        let bus = support::session_bus();
        let mut shell = support::spawn_shell(&display, &bus, &support::runtime_dir(), &data);
        support::wait_for_ui(&data, UI_TIMEOUT);
        let engines = support::live_engines(&data);
        assert_eq!(engines.len(), 1, "{name}: {engines:?}");
        send_signal(shell.id(), signal);
        let status = shell.wait().unwrap();
        assert!(
            status.success(),
            "{name}: the shell exits 0 through app.exit(0), got {status}"
        );
        assert!(
            support::live_engines(&data).is_empty(),
            "{name}: engine still running"
        );
        let engine_log = std::fs::read_to_string(data.join("logs").join("engine.log")).unwrap();
        assert!(
            engine_log.contains("stopped: StdinClosed"),
            "{name}: a graceful stop (stdin closed), not a kill:\n{engine_log}"
        );
    }
}

#[test]
fn a_second_launch_hands_over_to_the_first() {
    let Some(_serial) = support::slow_test() else {
        return;
    };
    let work = support::scratch("single");
    let data = work.path().join("data");
    let display = support::display();
    let bus = support::session_bus();
    let runtime = support::runtime_dir();
    let mut first = support::spawn_shell(&display, &bus, &runtime, &data);
    support::wait_for_ui(&data, UI_TIMEOUT);
    let mut second = support::spawn_shell(&display, &bus, &runtime, &data);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the second launch kept running"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first instance keeps running"
    );
    assert_eq!(support::live_engines(&data).len(), 1, "still one engine");
    send_signal(first.id(), libc::SIGTERM);
    assert!(first.wait().unwrap().success());
}

#[test]
fn an_engine_dying_under_the_ui_brings_back_the_error_screen() {
    let Some(_serial) = support::slow_test() else {
        return;
    };
    let work = support::scratch("engine-dies");
    let data = work.path().join("data");
    let display = support::display();
    let bus = support::session_bus();
    let mut shell = support::spawn_shell(&display, &bus, &support::runtime_dir(), &data);
    support::wait_for_ui(&data, UI_TIMEOUT);
    let engines = support::live_engines(&data);
    assert_eq!(engines.len(), 1, "{engines:?}");
    send_signal(engines[0], libc::SIGKILL);
    let log = data.join("logs").join("shell.log");
    support::wait_until(
        Duration::from_secs(20),
        "the splash to come back with the crash",
        || {
            std::fs::read_to_string(&log).is_ok_and(|text| {
                text.split_once("supervisor exited -> failed (crashed)")
                    .is_some_and(|(_, after)| after.contains("page loaded: tauri://localhost"))
            })
        },
    );
    send_signal(shell.id(), libc::SIGTERM);
    assert!(shell.wait().unwrap().success());
}
