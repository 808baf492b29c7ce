//! `cargo xtask bench shell`: the shell beside a minimal Tauri v2 app of the same Tauri and
//! release profile (`bench/tauri-minimal`: one window, one static page): release binary size
//! (goal ≤ 12 MB), launch → UI ready, and idle memory by process (the app process, WebKit's web
//! and network processes; for ours also the engine), over N interleaved launches of each.
//!
//! "UI ready" is the shell log's `ui loaded` line (`<data>/logs/shell.log`): the engine's page
//! finished loading in the window, after discovery, engine start, `/health` and the launch-code
//! hand-off; the anchor prints `ui loaded` on stdout when its page has loaded. A third case,
//! ours on its bundled splash page with no runtime to find, is the shell showing a static page,
//! so the figures tell the shell's own cost from its web UI's. Without a `DISPLAY` the bench
//! starts a private Xvfb; it always starts a private D-Bus session bus, so the single-instance
//! plugin never hands over to a shell already running on the desktop. Every process it starts
//! is owned by a guard that stops it, and the WebKit processes below it, on every exit path.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use crate::bench::{cores, print_table, Samples};
use crate::bench_report::{Figure, Goal, Unit};
use crate::plan::Plan;
use crate::{assemble, package, tools, ui};

/// The budget for the release binary, in decimal megabytes
/// (`docs/decisions/0015-performance-budgets.md`).
const GOAL_BINARY_BYTES: u64 = 12_000_000;
/// Idle memory of the shell and its WebKit processes, at most this × the minimal Tauri app's.
const GOAL_MEMORY_RATIO: f64 = 1.1;
/// The anchor's package and binary (`bench/tauri-minimal`).
const ANCHOR_BINARY: &str = "tauri-minimal";
/// How long each launch idles after UI ready before its memory is read.
const IDLE_BEFORE_MEMORY: Duration = Duration::from_secs(5);
/// The same with `--quick`.
const QUICK_IDLE_BEFORE_MEMORY: Duration = Duration::from_secs(1);
/// A launch that shows no UI within this long fails the bench.
const UI_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a stopped app gets to exit (the shell: to shut its engine down), and its WebKit
/// processes to follow it, before they are killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// X display numbers the bench tries (the shell E2E tests use :90–:139).
const DISPLAY_NUMBERS: std::ops::Range<u32> = 140..190;
/// The shell log line that marks UI ready (`shell/src/lib.rs`, `on_page_load`); the anchor
/// prints the same on stdout.
const UI_READY_LINE: &str = "ui loaded";
/// The shell log line that marks the splash page loaded.
const SPLASH_READY_LINE: &str = "page loaded: tauri://localhost";
/// A release index nobody serves (port 9, discard), for the launch with no runtime: a shell
/// built with a release URL fails its first-run install at once instead of downloading.
const NO_INDEX_URL: &str = "http://127.0.0.1:9/runtime-dev.json";

/// What `bench shell` measures and with what.
pub struct ShellBenchOptions {
    /// Launches of each app; the first of ours starts with an empty data folder.
    pub runs: usize,
    /// The runtime folder the shell is pointed at (the app's `<PREFIX>_RUNTIME_DIR`).
    pub runtime: PathBuf,
    /// `cargo build --release -p shell -p tauri-minimal` first (else the existing release
    /// binaries are measured).
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
        build_release_binaries(&plan.root)?;
    }
    let release = release_dir(&plan.root)?;
    let exe = release.join(tools::exe_name(package::SHELL_BINARY));
    let anchor_exe = release.join(tools::exe_name(ANCHOR_BINARY));
    let size = |exe: &Path| -> Result<u64> {
        Ok(fs_err::metadata(exe)
            .with_context(|| {
                format!(
                    "no release binary at {}: run without --no-build",
                    exe.display()
                )
            })?
            .len())
    };
    let (binary_bytes, anchor_bytes) = (size(&exe)?, size(&anchor_exe)?);

    let display =
        test_support::display::Display::start(crate::plan::var("DISPLAY"), DISPLAY_NUMBERS)
            .map_err(anyhow::Error::msg)?;
    let bus = SessionBus::start()?;
    // Scratch on the same disk as the repository, like `bench install`; one data folder for all
    // launches of ours: the first is a first start, the others warm ones. Each app gets its own
    // XDG folders, so WebKit's caches land in the scratch folder, not in the user's home.
    let bench_dir = plan.root.join("target").join("bench");
    fs_err::create_dir_all(&bench_dir)?;
    let scratch = tempfile::Builder::new()
        .prefix("shell-")
        .tempdir_in(&bench_dir)?;
    let data = scratch.path().join("data");
    let log = data.join("logs").join("shell.log");
    let splash_data = scratch.path().join("splash-data");
    let splash_log = splash_data.join("logs").join("shell.log");
    let idle = if options.quick {
        QUICK_IDLE_BEFORE_MEMORY
    } else {
        IDLE_BEFORE_MEMORY
    };
    let base = |name: &str| -> Command {
        let xdg = scratch.path().join(format!("xdg-{name}"));
        let mut command = Command::new(if name == "anchor" { &anchor_exe } else { &exe });
        command
            .env("DISPLAY", &display.name)
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .env("XDG_DATA_HOME", xdg.join("data"))
            .env("XDG_CACHE_HOME", xdg.join("cache"))
            .env("XDG_CONFIG_HOME", xdg.join("config"))
            .current_dir(scratch.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    };

    ui::step(
        "bench",
        &format!(
            "shell: {} launches each of {} (runtime {}), of it on its splash page, and of {}, on display {}",
            options.runs,
            exe.display(),
            manifest.runtime_version,
            anchor_exe.display(),
            display.name
        ),
    );
    let (mut ours, mut splash, mut anchor) = (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=options.runs {
        let label = format!("launch {run}/{}", options.runs);
        let mut command = base("ours");
        command
            .env(
                crate::bench::app().var(runtime_spec::env::RUNTIME_DIR),
                runtime,
            )
            .env(crate::bench::app().var(runtime_spec::env::DATA_DIR), &data);
        let launch = launch_once(
            &format!("{label}, ours"),
            command,
            idle,
            ReadyOn::Log(&log, UI_READY_LINE),
        )?;
        ui::info(&format!(
            "{label}: ours: launch → UI ready {:.2} s, shell + WebKit {} PSS",
            launch.seconds,
            mb(launch.memory.sum(&Kind::APP, Field::Pss))
        ));
        ours.push(launch);

        // Ours with a static page: no runtime to find (an empty data folder, a runtime folder
        // that does not exist, no index to install from), so the window stays on the bundled
        // splash page, as the anchor stays on its static page.
        let mut command = base("splash");
        command
            .env(
                crate::bench::app().var(runtime_spec::env::RUNTIME_DIR),
                scratch.path().join("no-runtime"),
            )
            .env(
                crate::bench::app().var(runtime_spec::env::DATA_DIR),
                &splash_data,
            )
            .env(
                crate::bench::app().var(runtime_spec::env::INDEX_URL),
                NO_INDEX_URL,
            );
        let launch = launch_once(
            &format!("{label}, ours on the splash page"),
            command,
            idle,
            ReadyOn::Log(&splash_log, SPLASH_READY_LINE),
        )?;
        splash.push(launch);

        let mut command = base("anchor");
        command.stdout(Stdio::piped());
        let launch = launch_once(
            &format!("{label}, minimal Tauri app"),
            command,
            idle,
            ReadyOn::Stdout,
        )?;
        ui::info(&format!(
            "{label}: minimal Tauri app: launch → UI ready {:.2} s, app + WebKit {} PSS",
            launch.seconds,
            mb(launch.memory.sum(&Kind::APP, Field::Pss))
        ));
        anchor.push(launch);
    }

    let launches = |launches: &[Launch]| Samples::of(launches.iter().map(|l| l.seconds).collect());
    let memory = |launches: &[Launch], kinds: &[Kind], field: Field| {
        Samples::of(
            launches
                .iter()
                .map(|l| (l.memory.sum(kinds, field) * 1024) as f64)
                .collect(),
        )
    };
    let median_mb = |launches: &[Launch], kinds: &[Kind], field: Field| -> String {
        format!("{:.0} MB", memory(launches, kinds, field).median / 1e6)
    };
    let ratio = |field: Field| {
        memory(&ours, &Kind::APP, field).median / memory(&anchor, &Kind::APP, field).median
    };

    let mut rows = vec![
        (
            "release binary: ours".to_owned(),
            describe_binary(binary_bytes),
        ),
        (
            "  minimal Tauri app".to_owned(),
            describe_binary(anchor_bytes),
        ),
        (
            format!("  goal ours ≤ {} MB", GOAL_BINARY_BYTES / 1_000_000),
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
            "launch → UI ready: ours".to_owned(),
            format!(
                "{} (first launch creates the data folder); each: {}",
                launches(&ours).describe(),
                each_launch(&ours)
            ),
        ),
        (
            "  minimal Tauri app".to_owned(),
            format!(
                "{}; each: {}",
                launches(&anchor).describe(),
                each_launch(&anchor)
            ),
        ),
        (
            format!("idle memory {} s after UI ready (median)", idle.as_secs()),
            "ours: RSS / PSS | on splash: RSS / PSS | minimal Tauri: RSS / PSS".to_owned(),
        ),
    ];
    let split: [(&str, &[Kind]); 6] = [
        ("  shell / app process", &[Kind::App]),
        ("  WebKit web process(es)", &[Kind::WebProcess]),
        ("  WebKit network process", &[Kind::NetworkProcess]),
        ("  other descendants", &[Kind::Other]),
        ("  app + WebKit (the goal's sum)", &Kind::APP),
        ("  engine (python) and its children", &[Kind::Engine]),
    ];
    for (name, kinds) in split {
        let cell = |launches: &[Launch]| {
            format!(
                "{} / {}",
                median_mb(launches, kinds, Field::Rss),
                median_mb(launches, kinds, Field::Pss)
            )
        };
        rows.push((
            name.to_owned(),
            format!("{} | {} | {}", cell(&ours), cell(&splash), cell(&anchor)),
        ));
    }
    rows.push((
        format!("  ours / minimal Tauri (goal ≤ {GOAL_MEMORY_RATIO} ×, PSS)"),
        format!(
            "PSS {:.2} ×, RSS {:.2} ×",
            ratio(Field::Pss),
            ratio(Field::Rss)
        ),
    ));
    print_table(
        &format!(
            "bench shell ({}, runtime {}, {} launches each, median [min–max], {} cores)",
            manifest.target,
            manifest.runtime_version,
            options.runs,
            cores()
        ),
        &rows,
    );

    Ok(figures(
        &Measured {
            binary_bytes,
            anchor_bytes,
            ours: &ours,
            splash: &splash,
            anchor: &anchor,
        },
        idle,
    ))
}

/// Every launch of each case, for the figures.
struct Measured<'a> {
    binary_bytes: u64,
    anchor_bytes: u64,
    ours: &'a [Launch],
    splash: &'a [Launch],
    anchor: &'a [Launch],
}

fn figures(measured: &Measured<'_>, idle: Duration) -> Vec<Figure> {
    const ANCHOR: &str = "minimal Tauri v2 app";
    let memory = |launches: &[Launch], kinds: &[Kind], field: Field| {
        Samples::of(
            launches
                .iter()
                .map(|l| (l.memory.sum(kinds, field) * 1024) as f64)
                .collect(),
        )
    };
    let show = |samples: Samples| Unit::Bytes.show(samples.median);
    let (ours, splash, anchor) = (measured.ours, measured.splash, measured.anchor);
    let idle_s = idle.as_secs();
    let mut figures = vec![
        Figure::new(
            "shell",
            "release binary",
            Unit::Bytes,
            Samples::one(measured.binary_bytes as f64),
        )
        .anchor(ANCHOR, Samples::one(measured.anchor_bytes as f64))
        .goal(Goal::AtMost {
            value: GOAL_BINARY_BYTES as f64,
        }),
        Figure::new(
            "shell",
            "launch → UI ready",
            Unit::Seconds,
            Samples::of(ours.iter().map(|l| l.seconds).collect()),
        )
        .anchor(
            ANCHOR,
            Samples::of(anchor.iter().map(|l| l.seconds).collect()),
        )
        .note(
            "Ours: discovery, engine start, /health, the launch-code hand-off and the engine's \
             web UI loaded; the first launch creates the data folder. The anchor: its static \
             page loaded.",
        ),
    ];
    // The goal is judged on PSS: RSS counts the pages of WebKit, GTK and the other shared
    // libraries once in every process that maps them, so a sum of RSS over the app process and
    // its WebKit processes counts them two or three times; PSS splits each shared page among
    // the processes mapping it, so the sum is what the app really occupies. Both apps run with
    // the same neighbours (interleaved launches), so the pages they share with other processes
    // split alike. RSS is reported beside it.
    let app_pss = memory(ours, &Kind::APP, Field::Pss);
    let anchor_pss = memory(anchor, &Kind::APP, Field::Pss);
    let splash_pss = memory(splash, &Kind::APP, Field::Pss);
    let web = |launches: &[Launch]| memory(launches, &[Kind::WebProcess], Field::Pss);
    let app = |launches: &[Launch]| memory(launches, &[Kind::App], Field::Pss);
    figures.push(
        Figure::new(
            "shell",
            format!("idle memory {idle_s} s after UI ready: shell + WebKit processes (PSS)"),
            Unit::Bytes,
            app_pss.clone(),
        )
        .anchor(ANCHOR, anchor_pss.clone())
        .goal(Goal::RatioAtMost {
            ratio: GOAL_MEMORY_RATIO,
        })
        .note(format!(
            "PSS, shared pages counted once (RSS sums count WebKit's libraries per process). \
             Ours shows the engine's web UI, the anchor a static page. Ours on its bundled \
             static splash page (no runtime), same run: {} (web process {}, shell {}), against \
             the anchor's {} (web process {}, app {}); on the web UI: web process {}, shell {}. \
             So most of the gap is WebKit's web process, about half of it with a static page of \
             ours, the rest our UI's content. Tried and not kept: WebKit's document-viewer cache \
             model with the page cache off (324 → 321 MB PSS, within the runs' spread).",
            show(splash_pss),
            show(web(splash)),
            show(app(splash)),
            show(anchor_pss),
            show(web(anchor)),
            show(app(anchor)),
            show(web(ours)),
            show(app(ours)),
        )),
    );
    figures.push(
        Figure::new(
            "shell",
            format!("idle memory {idle_s} s after UI ready: shell + WebKit processes (RSS)"),
            Unit::Bytes,
            memory(ours, &Kind::APP, Field::Rss),
        )
        .anchor(ANCHOR, memory(anchor, &Kind::APP, Field::Rss))
        .note("RSS: pages shared between the processes are counted in each."),
    );
    for (what, kind) in [
        ("shell process", Kind::App),
        ("WebKit web process", Kind::WebProcess),
        ("WebKit network process", Kind::NetworkProcess),
    ] {
        for field in [Field::Pss, Field::Rss] {
            figures.push(
                Figure::new(
                    "shell",
                    format!("idle memory: {what} ({})", field.name()),
                    Unit::Bytes,
                    memory(ours, &[kind], field),
                )
                .anchor(ANCHOR, memory(anchor, &[kind], field)),
            );
        }
    }
    for field in [Field::Pss, Field::Rss] {
        figures.push(
            Figure::new(
                "shell",
                format!(
                    "idle memory: engine (python) and its children ({})",
                    field.name()
                ),
                Unit::Bytes,
                memory(ours, &[Kind::Engine], field),
            )
            .note("The engine the shell starts; the minimal Tauri app has none."),
        );
    }
    figures
}

fn mb(kib: u64) -> String {
    format!("{:.0} MB", kib as f64 * 1024.0 / 1e6)
}

/// `0.91, 0.74, 0.75 s`.
fn each_launch(launches: &[Launch]) -> String {
    let each: Vec<String> = launches
        .iter()
        .map(|launch| format!("{:.2}", launch.seconds))
        .collect();
    format!("{} s", each.join(", "))
}

/// How a launch says its UI is ready.
enum ReadyOn<'a> {
    /// One more line holding this text in the shell log.
    Log(&'a Path, &'static str),
    /// A `ui loaded` line on the process's stdout (the anchor).
    Stdout,
}

/// One launch: its time to UI ready and its memory after idling.
struct Launch {
    seconds: f64,
    memory: Memory,
}

/// Starts `command`, waits for its UI, idles, reads its memory, stops it and waits until its
/// WebKit processes are gone too (else the next launch would share pages with them).
fn launch_once(
    label: &str,
    mut command: Command,
    idle: Duration,
    ready_on: ReadyOn,
) -> Result<Launch> {
    let (log, ready_line) = match ready_on {
        ReadyOn::Log(log, line) => (Some(log), line),
        ReadyOn::Stdout => (None, UI_READY_LINE),
    };
    let tail = || log.map_or_else(|| "(the app writes no log)".to_owned(), log_tail);
    let ready_before = log.map_or(0, |log| count_lines(log, ready_line));
    let started = Instant::now();
    let mut app = AppProcess::new(
        command
            .spawn()
            .with_context(|| format!("{label}: starting {command:?}"))?,
    );
    // The anchor's stdout: a reader thread sends one message per `ui loaded` line.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    if let Some(stdout) = app.child.stdout.take() {
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
                let Ok(line) = line else { break };
                if line.contains(UI_READY_LINE) && ready_tx.send(()).is_err() {
                    break;
                }
            }
        });
    }
    loop {
        let ready = match log {
            Some(log) => count_lines(log, ready_line) > ready_before,
            None => ready_rx.try_recv().is_ok(),
        };
        if ready {
            break;
        }
        if let Some(status) = app.child.try_wait()? {
            bail!(
                "{label}: exited before its UI was ready ({status}); its log:\n{}",
                tail()
            );
        }
        if started.elapsed() > UI_TIMEOUT {
            bail!(
                "{label}: no UI after {} s; its log:\n{}",
                UI_TIMEOUT.as_secs(),
                tail()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let seconds = started.elapsed().as_secs_f64();
    std::thread::sleep(idle);
    let memory = Memory::of(app.child.id())
        .with_context(|| format!("{label}: reading its memory: did it exit?"))?;
    let status = app.stop()?;
    // SIGTERM: the shell stops its engine and exits 0; the anchor has no handler and dies of it.
    ensure!(
        log.is_none() || status.success(),
        "{label}: exited with {status} when asked to stop (SIGTERM); its log:\n{}",
        tail()
    );
    Ok(Launch { seconds, memory })
}

/// `15629872 bytes (15.63 MB, 14.91 MiB)`.
fn describe_binary(bytes: u64) -> String {
    format!(
        "{bytes} bytes ({:.2} MB, {:.2} MiB)",
        bytes as f64 / 1e6,
        bytes as f64 / (1024.0 * 1024.0)
    )
}

/// `cargo build --release` of the shell and the anchor in one cargo call (one feature
/// resolution, so both link the same Tauri build), with the build-time settings
/// `cargo xtask test` uses, so the tests and the bench share one release build.
fn build_release_binaries(root: &Path) -> Result<()> {
    ui::step(
        "bench",
        "cargo build --release -p shell -p tauri-minimal (dev update key, dev channel)",
    );
    let status = Command::new(cargo())
        .args([
            "build",
            "--release",
            "-p",
            "shell",
            "-p",
            ANCHOR_BINARY,
            "--bin",
            package::SHELL_BINARY,
            "--bin",
            ANCHOR_BINARY,
        ])
        .current_dir(root)
        .envs(crate::test::dev_shell_env(root)?)
        .status()
        .context("running cargo build for the shell and the minimal Tauri app")?;
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

/// How many lines of the shell log hold `text` (0 when the log does not exist yet).
fn count_lines(log: &Path, text: &str) -> usize {
    std::fs::read_to_string(log).map_or(0, |log| {
        log.lines().filter(|line| line.contains(text)).count()
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

/// What a process below the app is, for the split by process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// The shell, or the anchor's process.
    App,
    WebProcess,
    NetworkProcess,
    /// The engine's interpreter and everything below it.
    Engine,
    /// Anything else below the app (none expected).
    Other,
}

impl Kind {
    /// What the memory goal sums: the app process and every WebKit process (and anything else
    /// the app itself starts), not the engine.
    const APP: [Kind; 4] = [
        Kind::App,
        Kind::WebProcess,
        Kind::NetworkProcess,
        Kind::Other,
    ];

    /// A descendant of the app, from its `/proc/<pid>/comm` (cut at 15 bytes:
    /// `WebKitWebProces`, `WebKitNetworkPr`, `python3.12`) and its parent's kind: all below the
    /// engine is the engine's.
    fn of(comm: &str, parent: Kind) -> Kind {
        let comm = comm.trim();
        if parent == Kind::Engine || comm.starts_with("python") {
            Kind::Engine
        } else if comm.starts_with("WebKitWebProc") {
            Kind::WebProcess
        } else if comm.starts_with("WebKitNetwork") {
            Kind::NetworkProcess
        } else {
            Kind::Other
        }
    }
}

#[derive(Clone, Copy)]
enum Field {
    Rss,
    Pss,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Rss => "RSS",
            Field::Pss => "PSS",
        }
    }
}

/// One process's memory, KiB.
#[derive(Debug)]
struct ProcessMemory {
    kind: Kind,
    rss_kib: u64,
    pss_kib: u64,
}

/// The memory of an app process and every process below it, read from `/proc`.
struct Memory(Vec<ProcessMemory>);

impl Memory {
    fn of(app_pid: u32) -> Result<Memory> {
        let read = |pid: u32, kind: Kind| -> Option<ProcessMemory> {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
            Some(ProcessMemory {
                kind,
                rss_kib: parse_kib_field(&status, "VmRSS:")?,
                pss_kib: parse_kib_field(&rollup, "Pss:")?,
            })
        };
        let app = read(app_pid, Kind::App)
            .with_context(|| format!("reading /proc/{app_pid}/status and smaps_rollup"))?;
        let mut processes = vec![app];
        let mut kinds = vec![(app_pid, Kind::App)];
        // Breadth first, so a parent's kind is known before its children's.
        for (pid, parent) in descendants(app_pid)? {
            let parent_kind = kinds
                .iter()
                .find(|(known, _)| *known == parent)
                .map_or(Kind::Other, |(_, kind)| *kind);
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let kind = Kind::of(&comm, parent_kind);
            kinds.push((pid, kind));
            // A process may exit between the scan and the read: it no longer counts.
            processes.extend(read(pid, kind));
        }
        Ok(Memory(processes))
    }

    /// KiB of these kinds of process.
    fn sum(&self, kinds: &[Kind], field: Field) -> u64 {
        self.0
            .iter()
            .filter(|process| kinds.contains(&process.kind))
            .map(|process| match field {
                Field::Rss => process.rss_kib,
                Field::Pss => process.pss_kib,
            })
            .sum()
    }
}

/// A `<name>:   123 kB` line of `/proc/<pid>/status` (`VmRSS:`) or `smaps_rollup` (`Pss:`), in
/// KiB; `None` when missing (a zombie has no `VmRSS`).
fn parse_kib_field(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        line.strip_prefix(field)?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    })
}

/// Every process below `root_pid` with its parent, breadth first, from the parent pids in
/// `/proc/<pid>/stat`.
fn descendants(root_pid: u32) -> Result<Vec<(u32, u32)>> {
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
    Ok(below(root_pid, &parent_of))
}

/// The `(pid, parent)` pairs below `root`, breadth first.
fn below(root: u32, parent_of: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut found: Vec<(u32, u32)> = Vec::new();
    let mut next = 0;
    let mut parent = root;
    loop {
        found.extend(parent_of.iter().filter(|(_, of)| *of == parent).copied());
        let Some((pid, _)) = found.get(next) else {
            return found;
        };
        parent = *pid;
        next += 1;
    }
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

/// A launched app (the shell or the anchor). `stop` asks it to quit with SIGTERM (the shell
/// stops the engine gracefully and exits 0; the anchor dies of it), then waits until the
/// processes that were below it are gone, killing those still there after [`STOP_TIMEOUT`].
/// Dropping it unstopped, on an error path, does the same. The engine dies with the shell
/// either way (`PR_SET_PDEATHSIG`).
struct AppProcess {
    child: Child,
    stopped: bool,
}

impl AppProcess {
    fn new(child: Child) -> AppProcess {
        AppProcess {
            child,
            stopped: false,
        }
    }

    fn stop(&mut self) -> Result<ExitStatus> {
        self.stopped = true;
        // Taken before the app goes: its orphans are re-parented and no longer found below it.
        let below: Vec<u32> = descendants(self.child.id())
            .unwrap_or_default()
            .into_iter()
            .map(|(pid, _)| pid)
            .collect();
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = match self.child.try_wait()? {
            Some(status) => Some(status),
            None => {
                terminate(self.child.id());
                loop {
                    if let Some(status) = self.child.try_wait()? {
                        break Some(status);
                    }
                    if Instant::now() >= deadline {
                        self.child.kill()?;
                        self.child.wait()?;
                        break None;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        };
        while below.iter().any(|pid| is_alive(*pid)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let left: Vec<u32> = below.into_iter().filter(|pid| is_alive(*pid)).collect();
        for pid in &left {
            kill(*pid);
        }
        let Some(status) = status else {
            bail!(
                "the app did not exit within {} s of SIGTERM: killed it",
                STOP_TIMEOUT.as_secs()
            )
        };
        ensure!(
            left.is_empty(),
            "processes {left:?} outlived their app by {} s: killed them",
            STOP_TIMEOUT.as_secs()
        );
        Ok(status)
    }
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        if !self.stopped && self.stop().is_err() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

#[cfg(unix)]
fn terminate(pid: u32) {
    // SAFETY: kill(2) on our own child, which is not reaped yet (try_wait said it runs).
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
}

#[cfg(unix)]
fn kill(pid: u32) {
    // SAFETY: kill(2) on a process that was below our own child a moment ago.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGKILL);
    }
}

#[cfg(not(unix))]
fn terminate(_pid: u32) {}

#[cfg(not(unix))]
fn kill(_pid: u32) {}

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
            assert_eq!(parse_kib_field(status, "VmRSS:"), kib, "{status:?}");
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
    fn pss_comes_from_the_rollup_in_kib() {
        let rollup = "55d0c0000000-7ffd4a5f1000 ---p 00000000 00:00 0 [rollup]\n\
                      Rss:              123456 kB\n\
                      Pss:               98765 kB\n\
                      Pss_Anon:          50000 kB\n\
                      Pss_File:          48765 kB\n";
        assert_eq!(parse_kib_field(rollup, "Pss:"), Some(98765));
        assert_eq!(parse_kib_field(rollup, "Rss:"), Some(123456));
        assert_eq!(parse_kib_field("Rss: 1 kB\n", "Pss:"), None);
    }

    #[test]
    fn processes_are_told_apart_by_comm_and_parent() {
        for (comm, parent, kind) in [
            ("WebKitWebProces\n", Kind::App, Kind::WebProcess),
            ("WebKitNetworkPr\n", Kind::App, Kind::NetworkProcess),
            ("python3.12\n", Kind::App, Kind::Engine),
            ("python3", Kind::App, Kind::Engine),
            // A worker the engine starts is the engine's, whatever its name.
            ("tokenizers-work", Kind::Engine, Kind::Engine),
            ("sh", Kind::App, Kind::Other),
            ("", Kind::Other, Kind::Other),
        ] {
            assert_eq!(Kind::of(comm, parent), kind, "{comm:?} below {parent:?}");
        }
    }

    #[test]
    fn descendants_come_breadth_first_with_their_parent() {
        // 1 ─┬─ 2 ── 4 ── 5
        //    └─ 3
        // 9 (not below 1)
        let parent_of = [(5, 4), (4, 2), (3, 1), (2, 1), (9, 0)];
        assert_eq!(below(1, &parent_of), vec![(3, 1), (2, 1), (4, 2), (5, 4)]);
        assert_eq!(below(5, &parent_of), vec![]);
    }

    #[test]
    fn memory_sums_by_kind() {
        let process = |kind, rss_kib, pss_kib| ProcessMemory {
            kind,
            rss_kib,
            pss_kib,
        };
        let memory = Memory(vec![
            process(Kind::App, 100, 50),
            process(Kind::WebProcess, 200, 150),
            process(Kind::WebProcess, 20, 10),
            process(Kind::NetworkProcess, 60, 30),
            process(Kind::Engine, 50, 48),
        ]);
        assert_eq!(memory.sum(&Kind::APP, Field::Pss), 240);
        assert_eq!(memory.sum(&Kind::APP, Field::Rss), 380);
        assert_eq!(memory.sum(&[Kind::Engine], Field::Rss), 50);
        assert_eq!(memory.sum(&[Kind::Other], Field::Pss), 0);
    }

    #[test]
    fn binary_size_in_bytes_mb_and_mib() {
        assert_eq!(
            describe_binary(15_629_872),
            "15629872 bytes (15.63 MB, 14.91 MiB)"
        );
    }

    #[test]
    fn ready_lines_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("shell.log");
        assert_eq!(count_lines(&log, UI_READY_LINE), 0);
        fs_err::write(
            &log,
            "page loaded: tauri://localhost\nui loaded: http://127.0.0.1:1\nui loaded: http://127.0.0.1:2\n",
        )
        .unwrap();
        assert_eq!(count_lines(&log, UI_READY_LINE), 2);
        assert_eq!(count_lines(&log, SPLASH_READY_LINE), 1);
    }
}
