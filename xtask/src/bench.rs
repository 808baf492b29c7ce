//! `cargo xtask bench runtime|startup|install`: build speed, sizes, compression trade-off, cold
//! start; `install` (first-run install vs `tar`) lives in `bench_install.rs`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use runtime_spec::launch::parse_ready_line;

use crate::bench_report::{Figure, Goal, Unit};
use crate::plan::{self, Plan};
use crate::{assemble, fsutil, tools, ui};

/// Goal for our archive / the PyInstaller onedir's, both packed the way the build packs ours.
const ARCHIVE_GOAL_RATIO: f64 = 0.9;
/// Goal for our cold start / the PyInstaller onedir's (`docs/decisions/0015-performance-budgets.md`).
const START_GOAL_RATIO: f64 = 0.6;
/// Goal for our cold start / the import floor with the GC paused: the server's own work.
const FLOOR_GOAL_RATIO: f64 = 1.1;
/// Goal for the edit → runnable runtime loop.
const ONE_FILE_REBUILD_GOAL_SECONDS: f64 = 15.0;
/// zstd levels whose time and size `bench runtime` compares.
const ZSTD_LEVELS: [i32; 6] = [1, 3, 6, 9, 15, 19];

/// Times cold, warm, no-op and one-file rebuilds of the host runtime, and the archive at
/// several zstd levels. `quick`: the stage caches are kept (the first build is not cold) and one
/// level is packed.
pub fn runtime(plan: &Plan, quick: bool) -> Result<Vec<Figure>> {
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut figures = Vec::new();
    let mut figure = |rows: &mut Vec<(String, String)>, name: &str, elapsed: Duration| {
        rows.push((name.to_owned(), secs(elapsed)));
        let figure = Figure::new(
            "runtime",
            name,
            Unit::Seconds,
            Samples::one(elapsed.as_secs_f64()),
        );
        figures.push(figure);
    };
    let first = if quick {
        "first build (--quick: stage caches kept)"
    } else {
        clear_stage_caches(plan)?;
        "cold build (download cache kept)"
    };
    let (cold, output) = timed(|| assemble::runtime(plan))?;
    figure(&mut rows, first, cold);

    assemble::invalidate(plan);
    fsutil::remove_path(&plan.runtime_dir)?;
    let (warm, _) = timed(|| assemble::runtime(plan))?;
    figure(
        &mut rows,
        "warm build (stage caches kept, re-assemble + pack)",
        warm,
    );

    let (noop, _) = timed(|| assemble::runtime(plan))?;
    figure(&mut rows, "no-op rebuild", noop);

    let touched = plan.api_dir.join("app").join("__init__.py");
    let original = fs_err::read(&touched)?;
    let mut edited = original.clone();
    edited.extend_from_slice(b"\n# edited by cargo xtask bench runtime\n");
    fs_err::write(&touched, &edited)?;
    let one_file = timed(|| assemble::runtime(plan));
    // Restore before looking at the result, so a failed build never leaves the edit behind.
    fs_err::write(&touched, &original)?;
    let (one_file, _) = one_file?;
    let one_file_name = "rebuild after editing one engine .py";
    rows.push((one_file_name.into(), secs(one_file)));
    figures.push(
        Figure::new(
            "runtime",
            one_file_name,
            Unit::Seconds,
            Samples::one(one_file.as_secs_f64()),
        )
        .goal(Goal::AtMost {
            value: ONE_FILE_REBUILD_GOAL_SECONDS,
        }),
    );
    assemble::runtime(plan)?;

    rows.push((
        "runtime size unpacked".into(),
        ui::human_bytes(output.unpacked_size),
    ));
    figures.push(Figure::new(
        "runtime",
        "runtime size unpacked",
        Unit::Bytes,
        Samples::one(output.unpacked_size as f64),
    ));
    rows.push((
        format!("archive size (zstd {})", plan.zstd_level),
        ui::human_bytes(output.archive_size),
    ));

    let scratch = tempfile::tempdir()?;
    let levels: &[i32] = if quick { &[1] } else { &ZSTD_LEVELS };
    let mut sizes = Vec::new();
    for &level in levels {
        let archive = scratch.path().join(format!("level-{level}.tar.zst"));
        let options = runtime_archive::PackOptions {
            source_date_epoch: plan.source_date_epoch,
            zstd_level: level,
            zstd_workers: plan::ZSTD_WORKERS,
        };
        let (elapsed, report) = timed(|| {
            Ok(runtime_archive::pack_tar_zst(
                &plan.runtime_dir,
                &archive,
                &options,
            )?)
        })?;
        rows.push((
            format!("  zstd level {level:>2} ({})", threads(plan::ZSTD_WORKERS)),
            format!("{:>9}  {}", secs(elapsed), ui::human_bytes(report.size)),
        ));
        sizes.push(format!(
            "level {level}: {} in {}",
            ui::human_bytes(report.size),
            secs(elapsed)
        ));
        fsutil::remove_path(&archive)?;
    }
    figures.push(
        Figure::new(
            "runtime",
            format!("runtime archive (zstd {}, as built)", plan.zstd_level),
            Unit::Bytes,
            Samples::one(output.archive_size as f64),
        )
        .note(format!(
            "Other zstd levels ({}): {}.",
            threads(plan::ZSTD_WORKERS),
            sizes.join("; ")
        )),
    );
    print_table(
        &format!("bench runtime ({}, {} cores)", plan.target, cores()),
        &rows,
    );
    Ok(figures)
}

/// How the archive is compressed, for a table row: every archive uses the 128 MiB
/// long-distance window (`runtime_archive::pack_tar_zst`).
fn threads(workers: u32) -> String {
    match workers {
        0 => "one thread, long window".to_owned(),
        n => format!("{n} workers, long window"),
    }
}

/// Makes the next build of `plan` cold: every stage output and the web build gone; downloads
/// (PBS archive, uv's wheel cache, the bootstrapped uv) kept, so a timed build measures the
/// build, not the network.
pub(crate) fn clear_stage_caches(plan: &Plan) -> Result<()> {
    fsutil::remove_path(&plan.build_dir)?;
    for stamp in ["web.stamp", "web.deps"] {
        fsutil::remove_path(&plan.build_dir.parent().expect("has parent").join(stamp))?;
    }
    fsutil::remove_path(&plan.web_dir.join("dist"))
}

/// Median-of-N cold starts (spawn → `/health` 200) of the runtime, the import floor and
/// PyInstaller onedir and onefile builds of the same engine with the same CPython; the engine's
/// memory once it answers; the archive of each packed the way the build packs ours.
pub fn startup(plan: &Plan, runs: usize) -> Result<Vec<Figure>> {
    let runtime = &plan.runtime_dir;
    let manifest = built_runtime(runtime)?;
    let python = manifest.launch.program(runtime);
    let scratch = tempfile::tempdir()?;
    let data = scratch.path().join("data");
    // Built before anything is timed: a first build takes minutes.
    let onedir = pyinstaller_bundle(plan, Freeze::Onedir)?;
    let onefile = pyinstaller_bundle(plan, Freeze::Onefile)?;

    let mut ours_memory = Vec::new();
    let mut onedir_memory = Vec::new();
    let mut ours = || {
        let mut command = Command::new(&python);
        command
            .args(["-I", "-m", "app", "--port", "0"])
            .current_dir(runtime);
        let (elapsed, memory) = time_to_health_measured(command, &data)?;
        ours_memory.extend(memory);
        Ok(elapsed)
    };
    // The floors time spawn → a line printed once the import is done, like `ours` times spawn
    // → /health: the interpreter's teardown (≈ 0.1 s after importing FastAPI) is in neither.
    let floor = |import: &str| {
        let mut command = Command::new(&python);
        command
            .args(["-I", "-c"])
            .arg(format!("{import}\nprint('imported', flush=True)"))
            .current_dir(runtime);
        move || time_to_line(&mut command)
    };
    let mut floor_package = floor("import app");
    let mut floor_server = floor("import app.server");
    // `python -m app` imports with the cyclic GC paused (app/__main__.py); the goal ratio
    // compares it with the same imports done the same way, so only the server's own work counts.
    let mut floor_server_gc_paused = floor("import gc\ngc.disable()\nimport app.server");
    let mut frozen = || {
        let mut command = Command::new(onedir.join(tools::exe_name(PYINSTALLER_NAME)));
        command.args(["--port", "0"]);
        let (elapsed, memory) = time_to_health_measured(command, &data)?;
        onedir_memory.extend(memory);
        Ok(elapsed)
    };
    let mut frozen_onefile = || {
        let mut command = Command::new(&onefile);
        command.args(["--port", "0"]);
        time_to_health(command, &data)
    };
    let [ours, floor_package, floor_server, floor_server_gc_paused, frozen, frozen_onefile] =
        sample_interleaved(
            runs,
            [
                &mut ours,
                &mut floor_package,
                &mut floor_server,
                &mut floor_server_gc_paused,
                &mut frozen,
                &mut frozen_onefile,
            ],
        )?;

    // Both archives packed exactly as the build packs ours (level, workers, long window).
    let archive_of = |dir: &Path, name: &str| -> Result<u64> {
        let archive = scratch.path().join(name);
        let options = runtime_archive::PackOptions {
            source_date_epoch: plan.source_date_epoch,
            zstd_level: plan.zstd_level,
            zstd_workers: plan::ZSTD_WORKERS,
        };
        Ok(runtime_archive::pack_tar_zst(dir, &archive, &options)?.size)
    };
    let ours_archive = archive_of(runtime, "ours.tar.zst")?;
    let frozen_archive = archive_of(&onedir, "frozen.tar.zst")?;
    let onefile_size = fs_err::metadata(&onefile)?.len();
    // The first value of each is the untimed warm-up round's.
    let memory = |values: Vec<u64>| {
        (values.len() > 1).then(|| Samples::of(values[1..].iter().map(|&v| v as f64).collect()))
    };
    let (ours_memory, onedir_memory) = (memory(ours_memory), memory(onedir_memory));
    let show_memory = |samples: &Option<Samples>| {
        samples
            .as_ref()
            .map_or("not measured (no /proc)".to_owned(), |samples| {
                ui::human_bytes(samples.median as u64)
            })
    };
    let rows = vec![
        (
            "our runtime: spawn → /health 200".to_owned(),
            ours.describe(),
        ),
        (
            "floor: python -I -c 'import app.server'".to_owned(),
            floor_server.describe(),
        ),
        (
            "       the same with the GC paused, as -m app".to_owned(),
            floor_server_gc_paused.describe(),
        ),
        (
            "       python -I -c 'import app'".to_owned(),
            floor_package.describe(),
        ),
        (
            "PyInstaller --onedir: spawn → /health 200".to_owned(),
            frozen.describe(),
        ),
        (
            "PyInstaller --onefile: spawn → /health 200".to_owned(),
            frozen_onefile.describe(),
        ),
        (
            format!("ours / PyInstaller onedir (goal ≤ {START_GOAL_RATIO})"),
            format!("{:.2}", ours.median / frozen.median),
        ),
        (
            format!("ours / import floor, GC paused (goal ≤ {FLOOR_GOAL_RATIO})"),
            format!("{:.2}", ours.median / floor_server_gc_paused.median),
        ),
        (
            "engine memory at /health (PSS): ours / onedir".to_owned(),
            format!(
                "{} / {}",
                show_memory(&ours_memory),
                show_memory(&onedir_memory)
            ),
        ),
        (
            "our runtime on disk / archive".to_owned(),
            format!(
                "{} / {} ({ours_archive} bytes)",
                ui::human_bytes(fsutil::tree_size(runtime)),
                ui::human_bytes(ours_archive)
            ),
        ),
        (
            "PyInstaller onedir on disk / archive".to_owned(),
            format!(
                "{} / {} ({frozen_archive} bytes)",
                ui::human_bytes(fsutil::tree_size(&onedir)),
                ui::human_bytes(frozen_archive)
            ),
        ),
        (
            "PyInstaller onefile".to_owned(),
            ui::human_bytes(onefile_size),
        ),
        (
            format!("archive ours / PyInstaller (goal ≤ {ARCHIVE_GOAL_RATIO})"),
            format!("{:.3}", ours_archive as f64 / frozen_archive as f64),
        ),
    ];
    print_table(
        &format!(
            "bench startup ({} runs each, median [min–max], {} cores; archives at zstd level {}, {})",
            runs,
            cores(),
            plan.zstd_level,
            threads(plan::ZSTD_WORKERS)
        ),
        &rows,
    );

    let start = "engine cold start, spawn → /health 200";
    let best_possible = floor_server_gc_paused.median / frozen.median;
    let mut figures = vec![
        Figure::new("startup", start, Unit::Seconds, ours.clone())
            .anchor("PyInstaller onedir", frozen)
            .goal(Goal::RatioAtMost {
                ratio: START_GOAL_RATIO,
            })
            .note(format!(
                "The import floor bounds it: `import app.server` with the GC paused (FastAPI, \
                 uvicorn, pydantic and the engine's health layer) takes {:.3} s, so the best a \
                 start can do against this anchor is {:.2} ×; FastAPI's own import is about \
                 170 ms of it (`-X importtime`). Routers, `tokenizers`, `sqlite3` and templates \
                 are imported on first use already (ARCHITECTURE.md, the engine in the code \
                 map). Tried, no gain: no `site` scan (`-S` with the paths set by hand: 250.9 \
                 vs 248.3 ms for the same imports; the bare interpreter starts in 8.8 ms).",
                floor_server_gc_paused.median, best_possible
            )),
        Figure::new("startup", start, Unit::Seconds, ours.clone())
            .anchor("PyInstaller onefile", frozen_onefile),
        Figure::new("startup", start, Unit::Seconds, ours)
            .anchor("import floor, GC paused", floor_server_gc_paused)
            .goal(Goal::RatioAtMost {
                ratio: FLOOR_GOAL_RATIO,
            }),
    ];
    let memory_name = "engine memory (PSS) once /health answers";
    figures.push(match (ours_memory, onedir_memory) {
        (Some(ours), Some(onedir)) => Figure::new("startup", memory_name, Unit::Bytes, ours)
            .anchor("PyInstaller onedir", onedir),
        _ => Figure::not_measured(
            "startup",
            memory_name,
            Unit::Bytes,
            "this host has no /proc/<pid>/smaps_rollup",
        ),
    });
    let archive = format!(
        "runtime archive, {} (zstd {}, long window)",
        manifest.target, plan.zstd_level
    );
    figures.push(
        Figure::new(
            "startup",
            &archive,
            Unit::Bytes,
            Samples::one(ours_archive as f64),
        )
        .anchor(
            "PyInstaller onedir, packed the same way",
            Samples::one(frozen_archive as f64),
        )
        .goal(Goal::RatioAtMost {
            ratio: ARCHIVE_GOAL_RATIO,
        }),
    );
    figures.push(
        Figure::new(
            "startup",
            archive,
            Unit::Bytes,
            Samples::one(ours_archive as f64),
        )
        .anchor(
            "PyInstaller onefile (zlib)",
            Samples::one(onefile_size as f64),
        ),
    );
    Ok(figures)
}

/// The manifest of the runtime a bench starts, or how to build it.
pub(crate) fn built_runtime(runtime: &Path) -> Result<runtime_spec::Manifest> {
    assemble::read_manifest(runtime).with_context(|| {
        format!(
            "no runtime at {}: run `cargo xtask runtime` first",
            runtime.display()
        )
    })
}

/// Repeated measurements (seconds unless said otherwise).
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct Samples {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    /// How many measurements.
    pub(crate) n: usize,
}

impl Samples {
    /// Median (the upper one for an even count), min and max of at least one value.
    pub(crate) fn of(mut values: Vec<f64>) -> Samples {
        assert!(!values.is_empty(), "no measurements");
        values.sort_by(f64::total_cmp);
        Samples {
            median: values[values.len() / 2],
            min: values[0],
            max: values[values.len() - 1],
            n: values.len(),
        }
    }

    /// One measurement.
    pub(crate) fn one(value: f64) -> Samples {
        Samples::of(vec![value])
    }

    pub(crate) fn describe(&self) -> String {
        format!("{:.3} s [{:.3}–{:.3}]", self.median, self.min, self.max)
    }
}

/// `runs` rounds over every case in turn, after one untimed round (the page cache, not the
/// code, would otherwise decide the first). Interleaving spreads a shared machine's changing
/// load over all cases alike; timing one case after the other would not.
fn sample_interleaved<const N: usize>(
    runs: usize,
    cases: [&mut dyn FnMut() -> Result<Duration>; N],
) -> Result<[Samples; N]> {
    let samples = sample_interleaved_all(runs, cases.into_iter().collect())?;
    Ok(samples
        .try_into()
        .unwrap_or_else(|_| unreachable!("one sample set per case")))
}

/// [`sample_interleaved`] over any number of cases; the raw values too (seconds, per case).
pub(crate) fn sample_interleaved_all(
    runs: usize,
    mut cases: Vec<&mut dyn FnMut() -> Result<Duration>>,
) -> Result<Vec<Samples>> {
    Ok(sample_interleaved_raw(runs, &mut cases)?
        .into_iter()
        .map(Samples::of)
        .collect())
}

/// The measurements behind [`sample_interleaved_all`]: per case, one value per run.
pub(crate) fn sample_interleaved_raw(
    runs: usize,
    cases: &mut [&mut dyn FnMut() -> Result<Duration>],
) -> Result<Vec<Vec<f64>>> {
    anyhow::ensure!(runs > 0, "--runs must be at least 1");
    for case in cases.iter_mut() {
        case()?;
    }
    let mut values: Vec<Vec<f64>> = cases.iter().map(|_| Vec::with_capacity(runs)).collect();
    for _ in 0..runs {
        for (case, values) in cases.iter_mut().zip(values.iter_mut()) {
            values.push(case()?.as_secs_f64());
        }
    }
    Ok(values)
}

/// Spawns a process and times it up to its first line on stdout; its exit is not timed.
pub(crate) fn time_to_line(command: &mut Command) -> Result<Duration> {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawning {command:?}"))?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
    let elapsed = started.elapsed();
    let status = child.wait()?;
    if !status.success() || line.is_empty() {
        bail!("{command:?} failed ({status}) or printed nothing");
    }
    Ok(elapsed)
}

/// The app the benches measure: the workspace's default one.
pub(crate) fn app() -> &'static runtime_spec::AppNames {
    static APP: std::sync::OnceLock<runtime_spec::AppNames> = std::sync::OnceLock::new();
    APP.get_or_init(|| {
        crate::plan::App::load(&crate::plan::project_root(), None)
            .map(|app| app.names)
            .unwrap_or_else(|error| panic!("{error:#}"))
    })
}

/// Spawns an engine, reads its READY line, polls `/health` until 200, then closes its stdin.
pub(crate) fn time_to_health(command: Command, data: &Path) -> Result<Duration> {
    Ok(time_to_health_measured(command, data)?.0)
}

/// [`time_to_health`], and the engine's memory (PSS, bytes) once `/health` answered, where the
/// host shows it.
fn time_to_health_measured(mut command: Command, data: &Path) -> Result<(Duration, Option<u64>)> {
    let started = Instant::now();
    let mut child = command
        .env(app().var(runtime_spec::env::DATA_DIR), data)
        .env(app().var(runtime_spec::env::RUNTIME_TOKEN), "bench-token")
        .env(app().var(runtime_spec::env::LAUNCH_ID), "bench")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("spawning {command:?}"))?;
    let mut reader = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let Some(ready) = parse_ready_line(&app().ready_prefix(), &line) else {
        let _ = child.kill();
        bail!("{command:?} printed no READY line (got {line:?})");
    };
    let deadline = started + Duration::from_secs(30);
    while !health_ok(ready.port) {
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("/health did not answer 200 within 30 s");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let elapsed = started.elapsed();
    let memory = pss_bytes(child.id());
    drop(child.stdin.take());
    child.wait()?;
    Ok((elapsed, memory))
}

/// A process's proportional set size in bytes (`Pss:` of `/proc/<pid>/smaps_rollup`): its
/// private pages plus its share of pages mapped by several processes, so the figures of
/// processes measured together add up to the memory they use. `None` off Linux.
pub(crate) fn pss_bytes(pid: u32) -> Option<u64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    parse_pss_kib(&rollup).map(|kib| kib * 1024)
}

/// The `Pss:` line of an smaps_rollup, in KiB.
fn parse_pss_kib(rollup: &str) -> Option<u64> {
    rollup.lines().find_map(|line| {
        line.strip_prefix("Pss:")?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    })
}

fn health_ok(port: u16) -> bool {
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let request =
        format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200")
}

/// The frozen build's entry script: it runs `app/__main__.py` as `python -m app` does, so both
/// start the same way (that module pauses the GC during the imports, for one).
const PYINSTALLER_ENTRY: &str =
    "import runpy\n\nrunpy.run_module('app', run_name='__main__', alter_sys=True)\n";

/// Modules PyInstaller's analysis cannot see from the entry script: `app` is named only as a
/// string (runpy), and the engine imports the others lazily (training, parquet).
const PYINSTALLER_MODULES: &[&str] = &[
    "--hidden-import",
    "app.__main__",
    "--collect-submodules",
    "app",
    "--collect-submodules",
    "uvicorn",
    "--hidden-import",
    "tokenizers",
    "--hidden-import",
    "datasets",
    "--hidden-import",
    "pyarrow.parquet",
    "--hidden-import",
    "templates",
    "--hidden-import",
    "jobrunner",
    "--collect-submodules",
    "enginecore",
];

/// The PyInstaller the anchors are built with, pinned (with the hooks that decide what it
/// collects) so a new release cannot move the anchor between two reports.
const PYINSTALLER_PINS: &[&str] = &["pyinstaller==6.22.3", "pyinstaller-hooks-contrib==2026.10"];

/// The name of the frozen engine (its executable, or its onedir folder).
const PYINSTALLER_NAME: &str = "engine";

/// How PyInstaller packs the engine.
#[derive(Clone, Copy)]
enum Freeze {
    /// A folder: the bootloader, the interpreter and the collected modules beside it.
    Onedir,
    /// One executable that unpacks the onedir into a temporary folder at every start.
    Onefile,
}

impl Freeze {
    fn flag(self) -> &'static str {
        match self {
            Freeze::Onedir => "--onedir",
            Freeze::Onefile => "--onefile",
        }
    }
}

/// A PyInstaller build of the engine with the host CPython 3.12 and the same lock, cached in
/// `target/bench/pyinstaller/<onedir|onefile>` and rebuilt when the engine or the lock changes:
/// the onedir folder, or the onefile executable.
fn pyinstaller_bundle(plan: &Plan, freeze: Freeze) -> Result<PathBuf> {
    let mode = freeze.flag().trim_start_matches('-');
    let build = plan
        .root
        .join("target")
        .join("bench")
        .join("pyinstaller")
        .join(mode);
    let output = match freeze {
        Freeze::Onedir => build.join("dist").join(PYINSTALLER_NAME),
        Freeze::Onefile => build.join("dist").join(tools::exe_name(PYINSTALLER_NAME)),
    };
    let stamp_file = build.join("bundle.stamp");
    let packages = plan.app.packages(&plan.root);
    let sources: Vec<PathBuf> = packages.iter().map(|(_, source)| source.clone()).collect();
    // PyInstaller finds each package in its parent folder.
    let mut search_paths: Vec<PathBuf> = sources
        .iter()
        .filter_map(|source| source.parent().map(Path::to_path_buf))
        .collect();
    search_paths.sort();
    search_paths.dedup();
    let mut roots: Vec<&Path> = sources.iter().map(PathBuf::as_path).collect();
    roots.push(&plan.lock_file);
    let sources_hash = fsutil::hash_tree(&roots, &plan.root, &|path| {
        !path
            .components()
            .any(|part| part.as_os_str() == "__pycache__")
    })?;
    // The entry script, the module flags and the pins change the bundle as much as the
    // sources do.
    let stamp = format!(
        "{sources_hash}\n{PYINSTALLER_ENTRY}\n{}\n{}",
        PYINSTALLER_MODULES.join(" "),
        PYINSTALLER_PINS.join(" ")
    );
    if fsutil::stamp_matches(&stamp_file, &stamp) && output.exists() {
        return Ok(output);
    }
    ui::step(
        "bench",
        &format!("building the PyInstaller {mode} comparison bundle (once)"),
    );
    let host_python = tools::host_python312()?;
    let uv = tools::uv(&plan.cache_dir)?;
    fsutil::remove_path(&build)?;
    fs_err::create_dir_all(&build)?;
    let uv_cache = plan.cache_dir.join("uv");
    let venv_python = tools::lock_venv(
        &uv,
        &host_python,
        &build.join("venv"),
        &plan.lock_file,
        &uv_cache,
        PYINSTALLER_PINS,
    )?;
    let entry = build.join("engine_entry.py");
    fs_err::write(&entry, PYINSTALLER_ENTRY)?;
    let output_of = Command::new(&venv_python)
        .args([
            "-m",
            "PyInstaller",
            freeze.flag(),
            "--noconfirm",
            "--log-level",
            "WARN",
            "--name",
            PYINSTALLER_NAME,
        ])
        .args(
            search_paths
                .iter()
                .flat_map(|path| [std::ffi::OsString::from("--paths"), path.clone().into()]),
        )
        .args(PYINSTALLER_MODULES)
        .arg("--distpath")
        .arg(build.join("dist"))
        .arg("--workpath")
        .arg(build.join("build"))
        .arg("--specpath")
        .arg(&build)
        .arg(&entry)
        .current_dir(&build)
        .output()
        .context("running PyInstaller")?;
    if !output_of.status.success() {
        bail!(
            "PyInstaller {mode} failed:\n{}",
            String::from_utf8_lossy(&output_of.stderr)
        );
    }
    fsutil::write_stamp(&stamp_file, &stamp)?;
    Ok(output)
}

pub(crate) fn timed<T>(work: impl FnOnce() -> Result<T>) -> Result<(Duration, T)> {
    let started = Instant::now();
    let value = work()?;
    Ok((started.elapsed(), value))
}

pub(crate) fn secs(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub(crate) fn print_table(title: &str, rows: &[(String, String)]) {
    let width = rows
        .iter()
        .map(|(name, _)| name.chars().count())
        .max()
        .unwrap_or(0);
    println!("{title}");
    for (name, value) in rows {
        println!("  {name:<width$}  {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_take_the_median_and_range() {
        let samples = Samples::of(vec![3.0, 1.0, 2.0]);
        assert_eq!((samples.median, samples.min, samples.max), (2.0, 1.0, 3.0));
        let even = Samples::of(vec![4.0, 1.0, 3.0, 2.0]);
        assert_eq!((even.median, even.min, even.max), (3.0, 1.0, 4.0));
        assert_eq!(Samples::of(vec![0.5]).describe(), "0.500 s [0.500–0.500]");
    }

    #[test]
    fn pss_comes_from_the_rollup_in_kib() {
        let rollup = "55d0c0000000-7ffd4a5f1000 ---p 00000000 00:00 0 [rollup]\n\
                      Rss:              123456 kB\n\
                      Pss:               98765 kB\n\
                      Pss_Anon:          50000 kB\n";
        assert_eq!(parse_pss_kib(rollup), Some(98765));
        assert_eq!(parse_pss_kib("Rss: 1 kB\n"), None);
    }
}
