//! The no-orphan check: SIGKILL a supervising process and prove its engine died with it.

use std::io::Write;
use std::path::Path;
use std::time::Duration;
// The check itself runs on Linux only (its process-group and /proc evidence).
#[cfg(target_os = "linux")]
use std::io::{BufRead, BufReader};
#[cfg(target_os = "linux")]
use std::process::Stdio;
#[cfg(target_os = "linux")]
use std::time::Instant;

use crate::{fail, start, SmokeError};

/// Prefix of the line the supervising process prints once its engine is ready.
pub const SUPERVISOR_LINE_PREFIX: &str = "SMOKE_SUPERVISOR ";

/// Body of the supervising process: start the runtime, announce the engine's pid and port,
/// then wait to be killed.
pub fn supervise_until_killed(runtime: &Path, data: &Path) -> Result<(), SmokeError> {
    let bytes = fs_err::read(runtime.join(runtime_spec::layout::MANIFEST_FILE))
        .map_err(|error| fail("orphan", error.to_string()))?;
    let manifest = runtime_spec::Manifest::from_json(&bytes)
        .map_err(|error| fail("orphan", error.to_string()))?;
    let engine = start(runtime, &manifest, data)?;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(
        stdout,
        "{SUPERVISOR_LINE_PREFIX}{{\"pid\": {}, \"port\": {}}}",
        engine.pid(),
        engine.port()
    );
    let _ = stdout.flush();
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Starts a supervising process, SIGKILLs it, and checks within 2 s that the engine and every
/// process in its group are gone (a zombie counts as gone: PID 1 here may not reap) and that
/// its port can be bound again.
#[cfg(target_os = "linux")]
pub(crate) fn check_no_orphan_after_sigkill(
    command: &dyn Fn(&Path, &Path) -> std::process::Command,
    runtime: &Path,
    data: &Path,
) -> Result<String, SmokeError> {
    let mut child = command(runtime, data)
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .map_err(|error| {
            fail(
                "orphan",
                format!("starting the supervising process: {error}"),
            )
        })?;
    let stdout = child.stdout.take().expect("piped");
    let mut line = String::new();
    let mut reader = BufReader::new(stdout);
    let (pid, port) = loop {
        line.clear();
        let read = reader
            .read_line(&mut line)
            .map_err(|error| fail("orphan", error.to_string()))?;
        if read == 0 {
            let _ = child.kill();
            return Err(fail(
                "orphan",
                "the supervising process exited before its engine was ready",
            ));
        }
        if let Some(json) = line.trim().strip_prefix(SUPERVISOR_LINE_PREFIX) {
            let value: serde_json::Value =
                serde_json::from_str(json).map_err(|error| fail("orphan", error.to_string()))?;
            let pid = value["pid"].as_u64().unwrap_or(0) as i32;
            let port = value["port"].as_u64().unwrap_or(0) as u16;
            break (pid, port);
        }
    };
    if !is_alive(pid) {
        return Err(fail(
            "orphan",
            format!("engine {pid} was not running before the kill"),
        ));
    }
    // SIGKILL: no handler, no cleanup in the supervising process can run.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    let killed_at = Instant::now();
    let deadline = killed_at + Duration::from_secs(2);
    loop {
        let group_alive = processes_in_group(pid);
        let port_free = std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
        if !is_alive(pid) && group_alive.is_empty() && port_free {
            return Ok(format!(
                "SIGKILL of the supervising process: engine {pid} and its group gone, port {port} free after {:.2?}",
                killed_at.elapsed()
            ));
        }
        if Instant::now() > deadline {
            return Err(fail(
                "orphan",
                format!(
                    "2 s after SIGKILL of its supervisor: engine {pid} alive={}, group members alive={group_alive:?}, port {port} free={port_free}",
                    is_alive(pid)
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn check_no_orphan_after_sigkill(
    _: &dyn Fn(&Path, &Path) -> std::process::Command,
    _: &Path,
    _: &Path,
) -> Result<String, SmokeError> {
    Ok("SIGKILL orphan check runs on Linux only".into())
}

/// Alive = has a `/proc` entry whose state is not zombie (`Z`) or dead (`X`).
#[cfg(target_os = "linux")]
fn is_alive(pid: i32) -> bool {
    proc_stat(pid).is_some_and(|(state, _)| state != 'Z' && state != 'X')
}

/// (state, process group) from `/proc/<pid>/stat`; the command name may contain spaces and
/// parentheses, so parse after the last `)`.
#[cfg(target_os = "linux")]
fn proc_stat(pid: i32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

/// Live processes whose process group is `pgid` (the engine leads its own group).
#[cfg(target_os = "linux")]
fn processes_in_group(pgid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            proc_stat(*pid)
                .is_some_and(|(state, group)| group == pgid && state != 'Z' && state != 'X')
        })
        .collect()
}
