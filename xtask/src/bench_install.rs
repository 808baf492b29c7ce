//! `cargo xtask bench install`: the shell's first-run install of the host runtime archive
//! (signed index → download from a loopback server → extract → verify every file → settle)
//! against `tar --zstd -xf` of the same archive, wall clock and peak RSS of each.
//!
//! The installer runs in a child process (`cargo xtask bench-install-child`, hidden) so its
//! peak RSS is its own. Each measured process is started by a fresh, small measuring process
//! (`cargo xtask bench-measure`, hidden) that reaps it with `wait4` and reads `ru_maxrss`: Linux
//! carries the peak of the address space a process was forked from across `exec`, so reaped
//! straight from this bench (hundreds of MB by then) every side would report at least the
//! bench's own peak. The measuring process's small peak is the floor left; the report names it. The archive, a `runtime-dev.json` signed with a throw-away minisign key and its
//! signature are served from a throw-away folder by test-support's loopback server.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use runtime_spec::{layout, Target};

use crate::bench::{cores, print_table, Samples};
use crate::bench_report::{Figure, Goal, Unit};
use crate::plan::Plan;
use crate::{assemble, fsutil, ui};

/// Goal for ours / tar: a first-run install may cost at most half again what unpacking the same
/// archive with the system tools costs (it also verifies the index, the archive and every file).
const GOAL_RATIO: f64 = 1.5;
/// The channel of the throw-away index.
const CHANNEL: runtime_spec::Channel = runtime_spec::Channel::Dev;
/// Name of the hidden subcommand the parent spawns (see `main.rs`).
pub const CHILD_COMMAND: &str = "bench-install-child";
/// Name of the hidden subcommand that starts, reaps and measures one process.
pub const MEASURE_COMMAND: &str = "bench-measure";

/// One measured process: wall clock from spawn to reaped, and its peak RSS.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Measured {
    elapsed: Duration,
    peak_rss_kib: u64,
}

impl Measured {
    /// `<elapsed ns> <peak RSS KiB>`, as the measuring process writes it.
    fn line(&self) -> String {
        format!("{} {}\n", self.elapsed.as_nanos(), self.peak_rss_kib)
    }

    fn parse(line: &str) -> Result<Measured> {
        let parsed = line
            .split_whitespace()
            .map(str::parse::<u64>)
            .collect::<Result<Vec<u64>, _>>();
        match parsed.as_deref() {
            Ok([nanos, kib]) => Ok(Measured {
                elapsed: Duration::from_nanos(*nanos),
                peak_rss_kib: *kib,
            }),
            _ => bail!(
                "the measuring process wrote `{}`, not `<ns> <KiB>`",
                line.trim()
            ),
        }
    }
}

/// The hidden measuring process: runs `command` (its stdio inherited, stdin closed), reaps it
/// with `wait4`, writes `<elapsed ns> <peak RSS KiB>` to the file named by
/// `--report`, and exits with its exit code.
pub fn measure(report: &Path, command: &[std::ffi::OsString]) -> Result<()> {
    let (program, args) = command
        .split_first()
        .context("bench-measure needs a command to run")?;
    let (status, measured) = run_measured(Command::new(program).args(args))?;
    fs_err::write(report, measured.line())?;
    std::process::exit(status.code().unwrap_or(1))
}

pub fn install(plan: &Plan, runs: usize) -> Result<Vec<Figure>> {
    ensure!(runs > 0, "--runs must be at least 1");
    let manifest = built_manifest(plan)?;
    let tar = which_tar()?;

    // Scratch on the same disk as the repository (not a tmpfs /tmp): both sides write there.
    let bench_dir = plan.root.join("target").join("bench");
    fs_err::create_dir_all(&bench_dir)?;
    let scratch = tempfile::Builder::new()
        .prefix("install-")
        .tempdir_in(&bench_dir)?;
    let published = publish(plan, &manifest, scratch.path())?;
    let sides = Sides {
        exe: std::env::current_exe().context("finding the xtask executable")?,
        tar,
        archive: plan.archive.clone(),
        scratch: scratch.path().to_owned(),
        index_url: published
            .server
            .url(&runtime_spec::index::index_file_name(CHANNEL)),
        key_file: published.key_file.clone(),
    };

    ui::step(
        "bench",
        &format!("install: 1 warm-up + {runs} runs each, ours and tar alternating"),
    );
    // What the measuring process leaves in any peak it reads: the peak of `true`.
    let (status, floor) = sides.run(
        &mut sides.measured(Path::new("true"), &sides.report_file("floor", 0)),
        0,
        "floor",
    )?;
    ensure!(
        status.success(),
        "`true` under the measuring process failed ({status})"
    );
    // One untimed run of each first, so both read the archive from the page cache.
    sides.ours(0)?;
    sides.tar(0)?;
    let (mut ours_runs, mut tar_runs) = (Vec::new(), Vec::new());
    for n in 1..=runs {
        ours_runs.push(sides.ours(n)?);
        tar_runs.push(sides.tar(n)?);
    }
    report(
        plan,
        &published,
        runs,
        &ours_runs,
        &tar_runs,
        floor.peak_rss_kib,
    )
}

/// The manifest of the runtime the plan built, checked to belong to the archive measured.
fn built_manifest(plan: &Plan) -> Result<runtime_spec::Manifest> {
    if !plan.archive.is_file() {
        bail!(
            "no runtime archive at {}: run `cargo xtask runtime` first",
            plan.archive.display()
        );
    }
    let manifest = assemble::read_manifest(&plan.runtime_dir).with_context(|| {
        format!(
            "no runtime at {}: run `cargo xtask runtime` first",
            plan.runtime_dir.display()
        )
    })?;
    ensure!(
        manifest.runtime_version == plan.version && manifest.target == plan.target,
        "{} holds runtime {} for {}, not {} for {}: run `cargo xtask runtime` first",
        plan.runtime_dir.display(),
        manifest.runtime_version,
        manifest.target,
        plan.version,
        plan.target
    );
    Ok(manifest)
}

/// The archive and a signed one-target index, served from a loopback server.
struct Published {
    server: test_support::http::Server,
    key_file: PathBuf,
    archive_size: u64,
    unpacked_size: u64,
}

fn publish(plan: &Plan, manifest: &runtime_spec::Manifest, scratch: &Path) -> Result<Published> {
    let archive = &plan.archive;
    let serve = scratch.join("serve");
    fs_err::create_dir_all(&serve)?;
    let served = serve.join(archive.file_name().context("archive has a file name")?);
    if std::fs::hard_link(archive, &served).is_err() {
        fs_err::copy(archive, &served)?;
    }
    let (public_key, secret_key) = release_meta::generate_keypair(None)?;
    let key_file = scratch.join("minisign.pub");
    fs_err::write(&key_file, &public_key)?;
    let shell_version =
        runtime_spec::version::parse(env!("CARGO_PKG_VERSION"), "the xtask's version")?;
    let entry = release_meta::entry_for_archive(&served, manifest, &shell_version)?;
    let (archive_size, unpacked_size) = (entry.size, entry.unpacked_size);
    let published_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |now| now.as_secs());
    let index = release_meta::build_index(CHANNEL, published_at, None, vec![(plan.target, entry)])?;
    release_meta::write_signed_index(&index, &serve, &secret_key, None)?;
    Ok(Published {
        // Read from disk at each request: the parent must not hold the archive when it spawns
        // the measured child, whose peak RSS would otherwise start at the parent's.
        server: test_support::http::Server::serving_dir(serve),
        key_file,
        archive_size,
        unpacked_size,
    })
}

/// The two things measured: our first-run install (a child process) and `tar --zstd -xf`.
struct Sides {
    exe: PathBuf,
    tar: PathBuf,
    archive: PathBuf,
    scratch: PathBuf,
    index_url: String,
    key_file: PathBuf,
}

impl Sides {
    /// A command that runs `program` under the measuring process, which writes to `report`;
    /// add its arguments.
    fn measured(&self, program: &Path, report: &Path) -> Command {
        let mut command = Command::new(&self.exe);
        command
            .arg(MEASURE_COMMAND)
            .arg("--report")
            .arg(report)
            .arg("--")
            .arg(program);
        command
    }

    /// The file the measuring process of run `n` of `side` writes.
    fn report_file(&self, side: &str, n: usize) -> PathBuf {
        self.scratch.join(format!("measured-{side}-{n}.txt"))
    }

    /// Runs a [`Sides::measured`] command; its status and what the measuring process read.
    fn run(&self, command: &mut Command, n: usize, side: &str) -> Result<(ExitStatus, Measured)> {
        let report = self.report_file(side, n);
        let status = command
            .stdin(Stdio::null())
            .status()
            .with_context(|| format!("running {command:?}"))?;
        let text = fs_err::read_to_string(&report).with_context(|| {
            format!("the measuring process of {command:?} ({status}) wrote no report")
        })?;
        fsutil::remove_path(&report)?;
        Ok((status, Measured::parse(&text)?))
    }

    /// Run `n` of the installer child into a fresh data folder, which it must leave with a
    /// `current` runtime.
    fn ours(&self, n: usize) -> Result<Measured> {
        let data = self.scratch.join(format!("data-{n}"));
        let log = self.scratch.join(format!("child-{n}.log"));
        let mut command = self.measured(&self.exe, &self.report_file("ours", n));
        command
            .arg(CHILD_COMMAND)
            .arg("--data-dir")
            .arg(&data)
            .arg("--index-url")
            .arg(&self.index_url)
            .arg("--public-key-file")
            .arg(&self.key_file)
            .args(["--channel", CHANNEL.name()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?);
        let (status, measured) = self.run(&mut command, n, "ours")?;
        if !status.success() {
            bail!(
                "the installer child failed ({status}):\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        let installed = data
            .join("runtime")
            .join(updater::CURRENT)
            .join(layout::MANIFEST_FILE);
        ensure!(
            installed.is_file(),
            "the installer child succeeded but left no {}",
            installed.display()
        );
        fsutil::remove_path(&data)?;
        Ok(measured)
    }

    /// Run `n` of `tar --zstd -xf` of the same archive into a fresh folder.
    fn tar(&self, n: usize) -> Result<Measured> {
        let dest = self.scratch.join(format!("tar-{n}"));
        let log = self.scratch.join(format!("tar-{n}.log"));
        fs_err::create_dir_all(&dest)?;
        let mut command = self.measured(&self.tar, &self.report_file("tar", n));
        command
            .args(["--zstd", "-xf"])
            .arg(&self.archive)
            .arg("-C")
            .arg(&dest)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?);
        let (status, measured) = self.run(&mut command, n, "tar")?;
        if !status.success() {
            bail!(
                "{command:?} failed ({status}):\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        ensure!(
            dest.join(layout::MANIFEST_FILE).is_file(),
            "tar left no {} in {}",
            layout::MANIFEST_FILE,
            dest.display()
        );
        fsutil::remove_path(&dest)?;
        Ok(measured)
    }
}

/// Prints the side-by-side table and writes `bench-install.json`.
fn report(
    plan: &Plan,
    published: &Published,
    runs: usize,
    ours_runs: &[Measured],
    tar_runs: &[Measured],
    floor_kib: u64,
) -> Result<Vec<Figure>> {
    let seconds =
        |runs: &[Measured]| Samples::of(runs.iter().map(|run| run.elapsed.as_secs_f64()).collect());
    let rss_mb = |runs: &[Measured]| {
        Samples::of(
            runs.iter()
                .map(|run| run.peak_rss_kib as f64 * 1024.0 / 1e6)
                .collect(),
        )
    };
    let (ours_s, tar_s) = (seconds(ours_runs), seconds(tar_runs));
    let (ours_rss, tar_rss) = (rss_mb(ours_runs), rss_mb(tar_runs));
    let ratio = ours_s.median / tar_s.median;
    let profile = if cfg!(debug_assertions) {
        "dev (installer crates runtime-archive + updater and dependencies at opt-level 2)"
    } else {
        "release"
    };
    let (archive_size, unpacked_size) = (published.archive_size, published.unpacked_size);
    let rows = vec![
        (
            "archive / unpacked".to_owned(),
            format!(
                "{} / {}",
                ui::human_bytes(archive_size),
                ui::human_bytes(unpacked_size)
            ),
        ),
        (
            "ours: first run from loopback (index → settle)".to_owned(),
            ours_s.describe(),
        ),
        (
            "tar --zstd -xf of the same archive".to_owned(),
            tar_s.describe(),
        ),
        (
            format!("ours / tar (goal ≤ {GOAL_RATIO})"),
            verdict(ratio, GOAL_RATIO),
        ),
        (
            "peak RSS ours (installer process)".to_owned(),
            describe_mb(&ours_rss),
        ),
        (
            "peak RSS tar (largest of tar, zstd)".to_owned(),
            describe_mb(&tar_rss),
        ),
        (
            "  floor in both: peak RSS of `true`, measured the same way".to_owned(),
            format!("{:.1} MB", floor_kib as f64 * 1024.0 / 1e6),
        ),
        ("installer build profile".to_owned(), profile.to_owned()),
    ];
    print_table(
        &format!(
            "bench install ({} runtime {}, {} runs each, median [min–max], {} cores)",
            plan.target,
            plan.version,
            runs,
            cores()
        ),
        &rows,
    );

    let report = serde_json::json!({
        "bench": "install",
        "target": plan.target.name(),
        "runtime_version": plan.version,
        "archive": plan.archive,
        "archive_bytes": archive_size,
        "unpacked_bytes": unpacked_size,
        "runs": runs,
        "cores": cores(),
        "installer_profile": profile,
        "peak_rss_floor_kib": floor_kib,
        "goal_ratio": GOAL_RATIO,
        "ratio": ratio,
        "goal_met": ratio <= GOAL_RATIO,
        "ours": side_json(
            "cargo xtask bench-install-child: updater::check_and_install + Store::settle from a loopback server",
            ours_runs,
        ),
        "tar": side_json(
            "tar --zstd -xf (peak RSS is the largest of tar and its zstd child, not their sum)",
            tar_runs,
        ),
    });
    fs_err::create_dir_all(&plan.out_dir)?;
    let report_path = plan.out_dir.join("bench-install.json");
    fs_err::write(&report_path, serde_json::to_string_pretty(&report)? + "\n")?;
    println!("  report: {}", report_path.display());

    let bytes = |runs: &[Measured]| {
        Samples::of(
            runs.iter()
                .map(|run| run.peak_rss_kib as f64 * 1024.0)
                .collect(),
        )
    };
    Ok(vec![
        Figure::new(
            "install",
            "first-run install from loopback (signed index → download → extract → verify → settle)",
            Unit::Seconds,
            ours_s,
        )
        .anchor("tar --zstd -xf of the same archive", tar_s)
        .goal(Goal::RatioAtMost { ratio: GOAL_RATIO })
        .note(format!(
            "Installer built {profile}; archive {} unpacking to {}.",
            ui::human_bytes(archive_size),
            ui::human_bytes(unpacked_size)
        )),
        Figure::new(
            "install",
            "first-run install, peak RSS of the installer",
            Unit::Bytes,
            bytes(ours_runs),
        )
        .anchor("tar --zstd -xf (largest of tar and zstd)", bytes(tar_runs))
        .note(format!(
            "Each peak is read by a small measuring process; what it leaves in any peak it reads \
             (the peak of `true` measured the same way) is {}.",
            ui::human_bytes(floor_kib * 1024)
        )),
    ])
}

fn side_json(what: &str, runs: &[Measured]) -> serde_json::Value {
    serde_json::json!({
        "what": what,
        "seconds": runs.iter().map(|run| run.elapsed.as_secs_f64()).collect::<Vec<_>>(),
        "peak_rss_kib": runs.iter().map(|run| run.peak_rss_kib).collect::<Vec<_>>(),
    })
}

fn describe_mb(samples: &Samples) -> String {
    format!(
        "{:.1} MB [{:.1}–{:.1}]",
        samples.median, samples.min, samples.max
    )
}

/// `1.23× — goal ≤ 1.5×: met`.
fn verdict(ratio: f64, goal: f64) -> String {
    format!(
        "{ratio:.2}× — goal ≤ {goal}×: {}",
        if ratio <= goal { "met" } else { "NOT met" }
    )
}

fn which_tar() -> Result<PathBuf> {
    let output = Command::new("tar")
        .arg("--version")
        .output()
        .context("bench install compares with `tar --zstd -xf`: tar is not on PATH")?;
    ensure!(output.status.success(), "`tar --version` failed");
    Ok(PathBuf::from("tar"))
}

/// Spawns `command`, reaps it with `wait4` and returns its status, wall clock (spawn → reaped)
/// and peak RSS. Linux counts the peak of the child and of the descendants it waited for (the
/// largest single process, not their sum).
#[cfg(unix)]
fn run_measured(command: &mut Command) -> Result<(ExitStatus, Measured)> {
    use std::os::unix::process::ExitStatusExt;

    let started = std::time::Instant::now();
    let child = command
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("spawning {command:?}"))?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; wait4 fills it for our own child `pid`.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to locals; `pid` is our unreaped child (`child` never waits).
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            break;
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error).with_context(|| format!("waiting for {command:?}"));
        }
    }
    let elapsed = started.elapsed();
    // `child` is reaped already: dropping a `Child` neither waits nor kills.
    drop(child);
    // ru_maxrss is KiB on Linux, bytes on macOS.
    let max_rss = usage.ru_maxrss.max(0) as u64;
    let peak_rss_kib = if cfg!(target_os = "macos") {
        max_rss / 1024
    } else {
        max_rss
    };
    Ok((
        ExitStatus::from_raw(status),
        Measured {
            elapsed,
            peak_rss_kib,
        },
    ))
}

#[cfg(not(unix))]
fn run_measured(_command: &mut Command) -> Result<(ExitStatus, Measured)> {
    bail!("bench install reads peak RSS with wait4: run it on Linux or macOS")
}

/// The hidden child: the shell's first run, headless. Fetches and verifies the signed index,
/// downloads, extracts and verifies the runtime into `pending`, then settles (pending →
/// current), exactly as the shell does before its first discovery.
pub fn child(
    data_dir: &Path,
    index_url: &str,
    public_key_file: &Path,
    channel: &str,
) -> Result<()> {
    let target = Target::host().context("this host is not a release target")?;
    let mut store = updater::Store::open(&data_dir.join("runtime"), target)?;
    let source = updater::UpdateSource {
        index_url: index_url.to_owned(),
        public_key: fs_err::read_to_string(public_key_file)?.parse()?,
        channel: channel.parse()?,
        // The benches measure the workspace's default app.
        app_id: crate::plan::App::load(&crate::plan::project_root(), None)?
            .names
            .identifier,
    };
    let shell_version = crate::plan::workspace_version();
    let wanted = store.installed_variant();
    let outcome = updater::check_and_install(
        &mut store,
        &source,
        &shell_version,
        &updater::Options::default(),
        &mut |_| Ok(wanted),
        &mut |_| {},
    )?;
    let updater::Outcome::Installed { version, .. } = outcome else {
        bail!("expected a first install, got {outcome:?}");
    };
    let trial = store.settle()?;
    ensure!(
        trial.as_ref().map(|trial| &trial.version) == Some(&version),
        "settle left {trial:?} on trial, not {version}"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_measured_line_round_trips() {
        let measured = Measured {
            elapsed: Duration::from_nanos(1_234_567_890),
            peak_rss_kib: 4321,
        };
        assert_eq!(Measured::parse(&measured.line()).unwrap(), measured);
        assert!(Measured::parse("12").is_err());
        assert!(Measured::parse("a b").is_err());
    }

    #[test]
    fn verdicts() {
        assert_eq!(verdict(1.234, 1.5), "1.23× — goal ≤ 1.5×: met");
        assert_eq!(verdict(1.5, 1.5), "1.50× — goal ≤ 1.5×: met");
        assert_eq!(verdict(1.51, 1.5), "1.51× — goal ≤ 1.5×: NOT met");
    }
}
