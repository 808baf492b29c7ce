//! `cargo xtask bench runtime|startup|install`: build speed, sizes, compression trade-off, cold
//! start; `install` (first-run install vs `tar`) lives in `bench_install.rs`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use runtime_spec::launch::parse_ready_line;

use crate::plan::{self, Plan};
use crate::{assemble, fsutil, tools, ui};

/// Goal for our archive / the PyInstaller onedir's, both packed the way the build packs ours.
const ARCHIVE_GOAL_RATIO: f64 = 0.9;
/// zstd levels whose time and size `bench runtime` compares.
const ZSTD_LEVELS: [i32; 6] = [1, 3, 6, 9, 15, 19];

/// Times cold, warm, no-op and one-file rebuilds of the host runtime, and the archive at
/// several zstd levels.
pub fn runtime(plan: &Plan) -> Result<()> {
    let mut rows: Vec<(String, String)> = Vec::new();
    clear_stage_caches(plan)?;
    let (cold, output) = timed(|| assemble::runtime(plan))?;
    rows.push(("cold build (download cache kept)".into(), secs(cold)));

    assemble::invalidate(plan);
    fsutil::remove_path(&plan.runtime_dir)?;
    let (warm, _) = timed(|| assemble::runtime(plan))?;
    rows.push((
        "warm build (stage caches kept, re-assemble + pack)".into(),
        secs(warm),
    ));

    let (noop, _) = timed(|| assemble::runtime(plan))?;
    rows.push(("no-op rebuild".into(), secs(noop)));

    let touched = plan.api_dir.join("app").join("__init__.py");
    let original = fs_err::read(&touched)?;
    let mut edited = original.clone();
    edited.extend_from_slice(b"\n# edited by cargo xtask bench runtime\n");
    fs_err::write(&touched, &edited)?;
    let one_file = timed(|| assemble::runtime(plan));
    // Restore before looking at the result, so a failed build never leaves the edit behind.
    fs_err::write(&touched, &original)?;
    let (one_file, _) = one_file?;
    rows.push((
        "rebuild after editing one engine .py".into(),
        secs(one_file),
    ));
    assemble::runtime(plan)?;

    rows.push((
        "runtime size unpacked".into(),
        ui::human_bytes(output.unpacked_size),
    ));
    rows.push((
        format!("archive size (zstd {})", plan.zstd_level),
        ui::human_bytes(output.archive_size),
    ));

    let scratch = tempfile::tempdir()?;
    for level in ZSTD_LEVELS {
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
        fsutil::remove_path(&archive)?;
    }
    print_table(
        &format!("bench runtime ({}, {} cores)", plan.target, cores()),
        &rows,
    );
    Ok(())
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

/// Median-of-N cold starts (spawn → `/health` 200) of the runtime, the import floor and a
/// PyInstaller onedir build of the same engine with the same CPython.
pub fn startup(plan: &Plan, runs: usize) -> Result<()> {
    let runtime = &plan.runtime_dir;
    let manifest = assemble::read_manifest(runtime).with_context(|| {
        format!(
            "no runtime at {}: run `cargo xtask runtime` first",
            runtime.display()
        )
    })?;
    let python = manifest.launch.program(runtime);
    let scratch = tempfile::tempdir()?;
    let data = scratch.path().join("data");
    // Built before anything is timed: a first build takes minutes.
    let bundle = pyinstaller_bundle(plan)?;

    let mut ours = || {
        let mut command = Command::new(&python);
        command
            .args(["-I", "-m", "app", "--port", "0"])
            .current_dir(runtime);
        time_to_health(command, &data)
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
        let mut command = Command::new(bundle.join(tools::exe_name("tokenizer-studio")));
        command.args(["--port", "0"]);
        time_to_health(command, &data)
    };
    let [ours, floor_package, floor_server, floor_server_gc_paused, frozen] = sample_interleaved(
        runs,
        [
            &mut ours,
            &mut floor_package,
            &mut floor_server,
            &mut floor_server_gc_paused,
            &mut frozen,
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
    let frozen_archive = archive_of(&bundle, "frozen.tar.zst")?;
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
            "ours / PyInstaller (goal ≤ 0.6)".to_owned(),
            format!("{:.2}", ours.median / frozen.median),
        ),
        (
            "ours / import floor, GC paused (goal ≤ 1.1)".to_owned(),
            format!("{:.2}", ours.median / floor_server_gc_paused.median),
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
                ui::human_bytes(fsutil::tree_size(&bundle)),
                ui::human_bytes(frozen_archive)
            ),
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
    Ok(())
}

/// Repeated measurements (seconds unless said otherwise).
pub(crate) struct Samples {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
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
        }
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

/// Spawns an engine, reads its READY line, polls `/health` until 200, then closes its stdin.
pub(crate) fn time_to_health(mut command: Command, data: &Path) -> Result<Duration> {
    let started = Instant::now();
    let mut child = command
        .env(runtime_spec::env::DATA_DIR, data)
        .env(runtime_spec::env::RUNTIME_TOKEN, "bench-token")
        .env(runtime_spec::env::LAUNCH_ID, "bench")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("spawning {command:?}"))?;
    let mut reader = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let Some(ready) = parse_ready_line(&line) else {
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
    drop(child.stdin.take());
    child.wait()?;
    Ok(elapsed)
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
];

/// A PyInstaller onedir build of the engine with the host CPython 3.12 and the same lock,
/// cached in `target/bench/pyinstaller` and rebuilt when the engine or the lock changes.
fn pyinstaller_bundle(plan: &Plan) -> Result<PathBuf> {
    let work = plan.root.join("target").join("bench").join("pyinstaller");
    let bundle = work.join("dist").join("tokenizer-studio");
    let stamp_file = work.join("bundle.stamp");
    let sources: Vec<PathBuf> = runtime_spec::layout::APP_PACKAGES
        .iter()
        .map(|package| plan.api_dir.join(package))
        .collect();
    let mut roots: Vec<&Path> = sources.iter().map(PathBuf::as_path).collect();
    roots.push(&plan.lock_file);
    let sources_hash = fsutil::hash_tree(&roots, &plan.root, &|path| {
        !path
            .components()
            .any(|part| part.as_os_str() == "__pycache__")
    })?;
    // The entry script and the module flags change the bundle as much as the sources do.
    let stamp = format!(
        "{sources_hash}\n{PYINSTALLER_ENTRY}\n{}",
        PYINSTALLER_MODULES.join(" ")
    );
    if fsutil::stamp_matches(&stamp_file, &stamp) && bundle.is_dir() {
        return Ok(bundle);
    }
    ui::step(
        "bench",
        "building the PyInstaller onedir comparison bundle (once)",
    );
    let host_python = tools::host_python312()?;
    let uv = tools::uv(&plan.cache_dir)?;
    fsutil::remove_path(&work)?;
    fs_err::create_dir_all(&work)?;
    let uv_cache = plan.cache_dir.join("uv");
    let venv_python = tools::lock_venv(
        &uv,
        &host_python,
        &work.join("venv"),
        &plan.lock_file,
        &uv_cache,
        &["pyinstaller"],
    )?;
    let run = |command: &mut Command, what: &str| -> Result<()> {
        let output = command
            .output()
            .with_context(|| format!("running {what}"))?;
        if !output.status.success() {
            bail!(
                "{what} failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    };
    let entry = work.join("tokenizer_studio_entry.py");
    fs_err::write(&entry, PYINSTALLER_ENTRY)?;
    run(
        Command::new(&venv_python)
            .args([
                "-m",
                "PyInstaller",
                "--onedir",
                "--noconfirm",
                "--log-level",
                "WARN",
                "--name",
                "tokenizer-studio",
            ])
            .arg("--paths")
            .arg(&plan.api_dir)
            .args(PYINSTALLER_MODULES)
            .arg("--distpath")
            .arg(work.join("dist"))
            .arg("--workpath")
            .arg(work.join("build"))
            .arg("--specpath")
            .arg(&work)
            .arg(&entry)
            .current_dir(&work),
        "PyInstaller",
    )?;
    fsutil::write_stamp(&stamp_file, &stamp)?;
    Ok(bundle)
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
}
