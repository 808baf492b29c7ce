//! `cargo xtask bench shell`: the shell's release binary size (goal ≤ 12 MB), launch → UI-ready
//! time over N launches sharing one data folder, and idle RSS of the shell, its WebKit
//! processes and the engine once the UI is up.
//!
//! "UI ready" is the shell log's `ui loaded` line (`<data>/logs/shell.log`): the engine's page
//! finished loading in the window, after discovery, engine start, `/health` and the launch-code
//! hand-off. Without a `DISPLAY` the bench starts a private Xvfb; it always starts a private
//! D-Bus session bus, so the single-instance plugin never hands over to a shell already running
//! on the desktop. Every process it starts is owned by a guard that stops it on every exit path.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use crate::bench::{cores, print_table, Samples};
use crate::bench_report::Figure;
use crate::plan::Plan;
use crate::{assemble, package, tools, ui};

/// The budget for the release binary, in decimal megabytes
/// (`docs/decisions/0015-performance-budgets.md`).
const GOAL_BINARY_BYTES: u64 = 12_000_000;
/// How long the last launch idles after UI ready before its RSS is read.
const IDLE_BEFORE_RSS: Duration = Duration::from_secs(5);
/// A launch that shows no UI within this long fails the bench.
const UI_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a stopped shell gets to shut its engine down before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// X display numbers the bench tries (the shell E2E tests use :90–:139).
const DISPLAY_NUMBERS: std::ops::Range<u32> = 140..190;
/// The shell log line that marks UI ready (`shell/src/lib.rs`, `on_page_load`).
const UI_READY_LINE: &str = "ui loaded";

/// What `bench shell` measures and with what.
pub struct ShellBenchOptions {
    /// Launches; the first one starts with an empty data folder.
    pub runs: usize,
    /// The runtime folder the shell is pointed at (`TOKENIZER_STUDIO_RUNTIME_DIR`).
    pub runtime: PathBuf,
    /// `cargo build --release -p shell` first (else the existing release binary is measured).
    pub build: bool,
    /// A smoke run (`--quick`): shorter idle before memory is read.
    pub quick: bool,
}

pub fn shell(plan: &Plan, options: &ShellBenchOptions) -> Result<Vec<Figure>> {
    ensure!(options.runs > 0, "--runs must be at least 1");
    ensure!(
        cfg!(target_os = "linux"),
        "bench shell reads /proc and starts Xvfb: run it on Linux"
    );
    let runtime = &options.runtime;
    let manifest = assemble::read_manifest(runtime).with_context(|| {
        format!(
            "no runtime at {}: build one with `cargo xtask runtime`, or pass --runtime <dir>",
            runtime.display()
        )
    })?;
    if options.build {
        build_release_shell(&plan.root)?;
    }
    let exe = release_dir(&plan.root)?.join(tools::exe_name(package::SHELL_BINARY));
    let binary_bytes = fs_err::metadata(&exe)
        .with_context(|| {
            format!(
                "no release shell at {}: run without --no-build",
                exe.display()
            )
        })?
        .len();

    let display = Display::start()?;
    let bus = SessionBus::start()?;
    // Scratch on the same disk as the repository, like `bench install`; one data folder for all
    // launches: the first is a first start, the others warm ones.
    let bench_dir = plan.root.join("target").join("bench");
    fs_err::create_dir_all(&bench_dir)?;
    let scratch = tempfile::Builder::new()
        .prefix("shell-")
        .tempdir_in(&bench_dir)?;
    let data = scratch.path().join("data");
    let log = data.join("logs").join("shell.log");

    ui::step(
        "bench",
        &format!(
            "shell: {} launches of {} with runtime {} on display {}",
            options.runs,
            exe.display(),
            manifest.runtime_version,
            display.name
        ),
    );
    let mut launch_seconds = Vec::with_capacity(options.runs);
    let mut idle_rss = None;
    for run in 1..=options.runs {
        let ready_before = count_ui_ready(&log);
        let started = Instant::now();
        let mut shell = ShellProcess(
            Command::new(&exe)
                .env("DISPLAY", &display.name)
                .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
                .env(runtime_spec::env::RUNTIME_DIR, runtime)
                .env(runtime_spec::env::DATA_DIR, &data)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .with_context(|| format!("starting {}", exe.display()))?,
        );
        loop {
            if count_ui_ready(&log) > ready_before {
                break;
            }
            if let Some(status) = shell.0.try_wait()? {
                bail!(
                    "launch {run}: the shell exited before its UI was ready ({status}); its log:\n{}",
                    log_tail(&log)
                );
            }
            if started.elapsed() > UI_TIMEOUT {
                bail!(
                    "launch {run}: no UI after {} s; the shell log:\n{}",
                    UI_TIMEOUT.as_secs(),
                    log_tail(&log)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let elapsed = started.elapsed().as_secs_f64();
        ui::info(&format!(
            "launch {run}/{}: launch → UI ready {elapsed:.2} s",
            options.runs
        ));
        launch_seconds.push(elapsed);
        if run == options.runs {
            std::thread::sleep(IDLE_BEFORE_RSS);
            idle_rss = Some(IdleRss::of(shell.0.id())?);
        }
        let status = shell.stop()?;
        ensure!(
            status.success(),
            "launch {run}: the shell exited with {status} when asked to stop (SIGTERM); its log:\n{}",
            log_tail(&log)
        );
    }
    let idle_rss = idle_rss.expect("the last launch measured RSS");

    let launches = Samples::of(launch_seconds.clone());
    let per_launch: Vec<String> = launch_seconds
        .iter()
        .map(|seconds| format!("{seconds:.2}"))
        .collect();
    let mb = |kib: u64| format!("{:.0} MB", kib as f64 * 1024.0 / 1e6);
    let rows = vec![
        ("release binary".to_owned(), describe_binary(binary_bytes)),
        (
            format!("goal ≤ {} MB", GOAL_BINARY_BYTES / 1_000_000),
            if binary_bytes <= GOAL_BINARY_BYTES {
                "met".to_owned()
            } else {
                format!(
                    "NOT met ({:.2} MB over)",
                    (binary_bytes - GOAL_BINARY_BYTES) as f64 / 1e6
                )
            },
        ),
        (
            "launch → UI ready".to_owned(),
            format!(
                "{} (first launch creates the data folder)",
                launches.describe()
            ),
        ),
        (
            "  each launch".to_owned(),
            format!("{} s", per_launch.join(", ")),
        ),
        (
            format!(
                "idle RSS {} s after UI ready: shell",
                IDLE_BEFORE_RSS.as_secs()
            ),
            mb(idle_rss.shell_kib),
        ),
        (
            format!("  WebKit processes ({})", idle_rss.n_webkit),
            mb(idle_rss.webkit_kib),
        ),
        ("  engine (python)".to_owned(), mb(idle_rss.engine_kib)),
        (
            format!(
                "  shell + all {} descendants (shared pages counted per process)",
                idle_rss.n_descendants
            ),
            mb(idle_rss.shell_kib + idle_rss.descendants_kib),
        ),
    ];
    print_table(
        &format!(
            "bench shell ({}, runtime {}, {} launches, median [min–max], {} cores)",
            manifest.target,
            manifest.runtime_version,
            options.runs,
            cores()
        ),
        &rows,
    );
    Ok(Vec::new())
}

/// `15629872 bytes (15.63 MB, 14.91 MiB)`.
fn describe_binary(bytes: u64) -> String {
    format!(
        "{bytes} bytes ({:.2} MB, {:.2} MiB)",
        bytes as f64 / 1e6,
        bytes as f64 / (1024.0 * 1024.0)
    )
}

/// `cargo build --release -p shell` with the build-time settings `cargo xtask test` uses, so
/// the tests and the bench share one release build.
fn build_release_shell(root: &Path) -> Result<()> {
    ui::step(
        "bench",
        "cargo build --release -p shell (dev update key, dev channel)",
    );
    let status = Command::new(cargo())
        .args([
            "build",
            "--release",
            "-p",
            "shell",
            "--bin",
            package::SHELL_BINARY,
        ])
        .current_dir(root)
        .envs(crate::test::dev_shell_env(root)?)
        .status()
        .context("running cargo build for the shell")?;
    ensure!(
        status.success(),
        "building the shell failed ({status}); the compiler output above names the problem"
    );
    Ok(())
}

/// `<target dir>/release`, wherever `CARGO_TARGET_DIR` or cargo's config puts the target dir.
fn release_dir(root: &Path) -> Result<PathBuf> {
    let output = Command::new(cargo())
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root)
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo metadata")?;
    ensure!(
        output.status.success(),
        "cargo metadata failed ({})",
        output.status
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("parsing cargo metadata's output")?;
    let target_dir = metadata["target_directory"]
        .as_str()
        .context("cargo metadata printed no target_directory")?;
    Ok(Path::new(target_dir).join("release"))
}

fn cargo() -> PathBuf {
    crate::plan::var_os("CARGO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("cargo"))
}

/// How many `ui loaded` lines the shell log holds (0 when it does not exist yet).
fn count_ui_ready(log: &Path) -> usize {
    std::fs::read_to_string(log).map_or(0, |text| {
        text.lines()
            .filter(|line| line.contains(UI_READY_LINE))
            .count()
    })
}

/// The last lines of the shell log, for error messages (the scratch folder is removed on exit).
fn log_tail(log: &Path) -> String {
    let Ok(text) = std::fs::read_to_string(log) else {
        return format!("({} was not written)", log.display());
    };
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// RSS of the shell and its descendants, read from `/proc` (KiB).
struct IdleRss {
    shell_kib: u64,
    webkit_kib: u64,
    n_webkit: usize,
    engine_kib: u64,
    descendants_kib: u64,
    n_descendants: usize,
}

impl IdleRss {
    fn of(shell_pid: u32) -> Result<IdleRss> {
        let shell_kib = rss_kib(shell_pid)
            .with_context(|| format!("reading /proc/{shell_pid}/status: did the shell exit?"))?;
        let mut rss = IdleRss {
            shell_kib,
            webkit_kib: 0,
            n_webkit: 0,
            engine_kib: 0,
            descendants_kib: 0,
            n_descendants: 0,
        };
        for pid in descendants(shell_pid)? {
            // A process may exit between the scan and the read: it no longer counts.
            let Some(kib) = rss_kib(pid) else { continue };
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            rss.descendants_kib += kib;
            rss.n_descendants += 1;
            // comm is cut at 15 bytes: WebKitWebProces, WebKitNetworkPr; python3.12.
            if comm.starts_with("WebKit") {
                rss.webkit_kib += kib;
                rss.n_webkit += 1;
            } else if comm.starts_with("python") {
                rss.engine_kib += kib;
            }
        }
        Ok(rss)
    }
}

/// `VmRSS` of a live process in KiB (`None` when it is gone or a zombie without memory).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss_kib(&status)
}

fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// Every process below `root_pid`, from the parent pids in `/proc/<pid>/stat`.
fn descendants(root_pid: u32) -> Result<Vec<u32>> {
    let mut parent_of = Vec::new();
    for entry in fs_err::read_dir("/proc")?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some(parent) = parse_stat_parent(&stat) {
            parent_of.push((pid, parent));
        }
    }
    let mut found = vec![root_pid];
    let mut next = 0;
    while next < found.len() {
        let parent = found[next];
        found.extend(
            parent_of
                .iter()
                .filter(|(_, of)| *of == parent)
                .map(|(pid, _)| *pid),
        );
        next += 1;
    }
    found.remove(0);
    Ok(found)
}

/// The ppid field of `/proc/<pid>/stat` (the command name in parentheses may hold spaces).
fn parse_stat_parent(stat: &str) -> Option<u32> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Alive = exists and is not a zombie.
fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

/// A helper process (Xvfb, dbus-daemon) killed and reaped when dropped.
struct Guarded(Child);

impl Drop for Guarded {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A launched shell. `stop` asks it to quit (SIGTERM: it stops the engine gracefully and
/// exits 0); dropping it unstopped, on an error path, does the same and kills it after
/// [`STOP_TIMEOUT`]. The engine dies with the shell either way (`PR_SET_PDEATHSIG`).
struct ShellProcess(Child);

impl ShellProcess {
    fn stop(&mut self) -> Result<ExitStatus> {
        if let Some(status) = self.0.try_wait()? {
            return Ok(status);
        }
        terminate(&self.0);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.0.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.0.kill()?;
        bail!(
            "the shell did not exit within {} s of SIGTERM: killed it",
            STOP_TIMEOUT.as_secs()
        )
    }
}

impl Drop for ShellProcess {
    fn drop(&mut self) {
        if self.stop().is_err() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

#[cfg(unix)]
fn terminate(child: &Child) {
    // SAFETY: kill(2) on our own child, which is not reaped yet (try_wait said it runs).
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
}

#[cfg(not(unix))]
fn terminate(_child: &Child) {}

/// The X display the shell opens: the caller's `DISPLAY`, else a private Xvfb.
struct Display {
    name: String,
    _xvfb: Option<Guarded>,
}

impl Display {
    fn start() -> Result<Display> {
        if let Some(name) = crate::plan::var("DISPLAY") {
            return Ok(Display { name, _xvfb: None });
        }
        for number in DISPLAY_NUMBERS {
            let socket = PathBuf::from(format!("/tmp/.X11-unix/X{number}"));
            let lock = PathBuf::from(format!("/tmp/.X{number}-lock"));
            // A killed Xvfb leaves its lock and socket behind: reclaim them when the pid is gone.
            let owner = std::fs::read_to_string(&lock)
                .ok()
                .and_then(|text| text.trim().parse::<u32>().ok());
            if owner.is_some_and(|pid| !is_alive(pid)) {
                let _ = std::fs::remove_file(&lock);
                let _ = std::fs::remove_file(&socket);
            }
            if socket.exists() || lock.exists() {
                continue;
            }
            let name = format!(":{number}");
            let mut xvfb = Guarded(
                Command::new("Xvfb")
                    .args([&name, "-screen", "0", "1280x900x24", "-nolisten", "tcp"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .context(
                        "starting Xvfb (Debian/Ubuntu: `apt-get install xvfb`), or set DISPLAY",
                    )?,
            );
            let deadline = Instant::now() + Duration::from_secs(10);
            // Another process may take the same number at the same moment: its Xvfb wins, ours
            // exits, and the next number is tried.
            while !socket.exists() && xvfb.0.try_wait()?.is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if socket.exists() && xvfb.0.try_wait()?.is_none() {
                return Ok(Display {
                    name,
                    _xvfb: Some(xvfb),
                });
            }
        }
        bail!(
            "no X display number in :{}–:{} could be started: set DISPLAY, or remove stale /tmp/.X*-lock files",
            DISPLAY_NUMBERS.start,
            DISPLAY_NUMBERS.end - 1
        )
    }
}

/// A private D-Bus session bus for the single-instance plugin.
struct SessionBus {
    address: String,
    _daemon: Guarded,
}

impl SessionBus {
    fn start() -> Result<SessionBus> {
        let mut daemon = Guarded(
            Command::new("dbus-daemon")
                .args(["--session", "--nofork", "--print-address=1"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .context("starting dbus-daemon (Debian/Ubuntu: `apt-get install dbus`)")?,
        );
        let stdout = daemon.0.stdout.take().expect("piped");
        let mut address = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut address)
            .context("reading dbus-daemon's address")?;
        let address = address.trim().to_owned();
        ensure!(!address.is_empty(), "dbus-daemon printed no bus address");
        Ok(SessionBus {
            address,
            _daemon: daemon,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_fields() {
        for (status, kib) in [
            (
                "Name:\tx\nVmPeak:\t 9 kB\nVmRSS:\t  123456 kB\n",
                Some(123456),
            ),
            ("Name:\tzombie\nState:\tZ (zombie)\n", None),
        ] {
            assert_eq!(parse_vm_rss_kib(status), kib, "{status:?}");
        }
        for (stat, parent) in [
            ("42 (tokenizer-studio) S 7 42 42 0", Some(7)),
            ("43 (Web Content (x)) S 42 43", Some(42)),
            ("garbage", None),
        ] {
            assert_eq!(parse_stat_parent(stat), parent, "{stat:?}");
        }
    }

    #[test]
    fn binary_size_in_bytes_mb_and_mib() {
        assert_eq!(
            describe_binary(15_629_872),
            "15629872 bytes (15.63 MB, 14.91 MiB)"
        );
    }

    #[test]
    fn ui_ready_lines_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("shell.log");
        assert_eq!(count_ui_ready(&log), 0);
        fs_err::write(
            &log,
            "page loaded: tauri://localhost\nui loaded: http://127.0.0.1:1\nui loaded: http://127.0.0.1:2\n",
        )
        .unwrap();
        assert_eq!(count_ui_ready(&log), 2);
    }
}
