//! `cargo xtask bench runtime --profile base,torch`: every variant of the given profiles this
//! host builds for the target, side by side in one table and in `bench-runtime-variants.json`:
//! what its wheels weigh, its site-packages, runtime and archive, its cold assembly, its
//! first-run install (against `tar --zstd -xf` of the same archive) and its cold start
//! (interleaved over the variants; the base runtime is the anchor).
//!
//! Wheel bytes are measured, not looked up: the pinned uv installs the variant's lock with an
//! empty cache into a throw-away folder, and each wheel's size is read from the archive pointer
//! uv writes for it (`wheels-v*/**/<wheel>.http`: id, hashes, file name, bucket version, size).
//! Every file counted must carry a hash of the lock, and there must be one per locked package.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use runtime_spec::{layout, Profile, Target, Variant};

use crate::bench::{self, cores, print_table, Samples};
use crate::plan::{self, Channel, Plan, PlanInput};
use crate::{assemble, fsutil, lock, tools, ui};

/// Name of the report written into the output folder.
pub const REPORT_FILE: &str = "bench-runtime-variants.json";
/// The channel of the throw-away index the install is measured from.
const CHANNEL: runtime_spec::Channel = runtime_spec::Channel::Dev;
/// The device every measured engine starts on: the CPU needs no proof, so the start of every
/// profile is the same code path (a GPU start adds `import torch` and a tensor operation,
/// reported separately as the `import torch` floor).
const START_DEVICE: &str = "cpu";

/// What `bench runtime --profile …` measures.
pub struct VariantsOptions {
    /// Default: this host.
    pub target: Option<Target>,
    pub profiles: Vec<Profile>,
    /// Cold starts per runtime (interleaved).
    pub runs: usize,
    pub out_dir: Option<PathBuf>,
}

/// One variant's figures; `None` where this host cannot measure it.
#[derive(Debug, Default, serde::Serialize)]
pub struct VariantReport {
    pub variant: String,
    pub profile: String,
    pub accelerator: String,
    /// The embedded CPython as the manifest records it (`3.12.14 pbs`, `3.12.1 local`).
    pub python: Option<String>,
    pub wheels: Option<WheelBytes>,
    /// `uv pip install` of the lock with an empty cache (download + unzip + link), seconds.
    pub fresh_cache_uv_install_seconds: Option<f64>,
    /// site-packages as uv installs it, before the trims.
    pub site_packages_installed_bytes: Option<u64>,
    /// site-packages in the runtime (trimmed, with bytecode).
    pub site_packages_bytes: Option<u64>,
    /// The manifest's unpacked size.
    pub unpacked_bytes: Option<u64>,
    pub archive_bytes: Option<u64>,
    pub zstd_level: i32,
    /// Cold assembly: stage caches and the web build cleared, download caches warm.
    pub assembly_seconds: Option<f64>,
    pub install: Option<InstallReport>,
    pub start: Option<StartReport>,
    /// `python -I -c 'import torch'` in the torch runtime: what a GPU start adds before its
    /// device check.
    pub import_torch: Option<StartReport>,
}

#[derive(Debug, serde::Serialize)]
pub struct WheelBytes {
    pub count: usize,
    pub bytes: u64,
    /// The largest wheels, largest first.
    pub largest: Vec<(String, u64)>,
}

#[derive(Debug, serde::Serialize)]
pub struct InstallReport {
    /// Signed index on a loopback server → download → extract → verify → settle (in-process).
    pub ours_seconds: f64,
    /// `tar --zstd -xf` of the same archive, right after.
    pub tar_seconds: f64,
    pub ratio: f64,
}

#[derive(Debug, serde::Serialize)]
pub struct StartReport {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub seconds: Vec<f64>,
}

impl StartReport {
    fn of(values: Vec<f64>) -> StartReport {
        let samples = Samples::of(values.clone());
        StartReport {
            median: samples.median,
            min: samples.min,
            max: samples.max,
            seconds: values,
        }
    }

    fn describe(&self) -> String {
        Samples {
            median: self.median,
            min: self.min,
            max: self.max,
            n: self.seconds.len(),
        }
        .describe()
    }
}

pub fn variants(options: &VariantsOptions) -> Result<()> {
    let host = Target::host();
    let target = match options.target.or(host) {
        Some(target) => target,
        None => bail!("this host is not a release target: pass --target"),
    };
    let on_host = host == Some(target);
    let variants = plan::variants_to_build(target, &options.profiles, &plan::var);
    ensure!(
        !variants.is_empty(),
        "no variant of {} for {target} is buildable here",
        names(&options.profiles)
    );
    let plans = variants
        .iter()
        .map(|variant| {
            Plan::new(PlanInput {
                app: None,
                target: Some(target),
                profile: variant.profile,
                accelerator: Some(variant.accelerator),
                channel: Channel::Dev,
                python_archive: None,
                python_sha256: None,
                out_dir: options.out_dir.as_deref(),
                zstd_level: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let bench_dir = plans[0].root.join("target").join("bench").join("variants");
    fs_err::create_dir_all(&bench_dir)?;

    let mut reports = Vec::new();
    for plan in &plans {
        ui::step(
            "bench",
            &format!("{}: wheels, assembly, sizes", plan.variant),
        );
        reports.push(build_and_measure(plan, &bench_dir)?);
    }
    let mut not_measured = Vec::new();
    if on_host {
        for (plan, report) in plans.iter().zip(reports.iter_mut()) {
            ui::step(
                "bench",
                &format!("{}: first-run install vs tar", plan.variant),
            );
            report.install = Some(install_once(plan, &bench_dir)?);
        }
        ui::step(
            "bench",
            &format!(
                "cold starts: 1 warm-up + {} runs of each runtime, interleaved",
                options.runs
            ),
        );
        starts(&plans, &mut reports, options.runs)?;
    } else {
        not_measured.push(format!(
            "first-run install and cold start of the {target} runtimes: they run on a {target} host only"
        ));
    }
    if reports.iter().any(|report| report.accelerator != "cpu") {
        not_measured.push(
            "the GPU start (import torch + a tensor operation on the device): every engine is started with device cpu; the `import torch` floor is what a GPU start adds before its check".into(),
        );
    }
    report(target, &plans, &reports, &not_measured, options.runs)
}

fn names(profiles: &[Profile]) -> String {
    profiles
        .iter()
        .map(|profile| profile.name())
        .collect::<Vec<_>>()
        .join(",")
}

/// Wheels (empty cache), the cold assembly (warm caches) and the sizes of one variant.
fn build_and_measure(plan: &Plan, bench_dir: &Path) -> Result<VariantReport> {
    let host_python = tools::host_python312()?;
    let uv = tools::uv(&plan.cache_dir)?;
    let work = bench_dir.join(plan.variant.name());
    fsutil::remove_path(&work)?;
    fs_err::create_dir_all(&work)?;

    // Wheels: an empty cache, so every wheel of the lock is downloaded and recorded once.
    let fresh_cache = work.join("uv-cache");
    let (fresh_install, ()) = bench::timed(|| {
        crate::wheels::install_lock(plan, &uv, &host_python, &fresh_cache, &work.join("fresh"))
    })?;
    let wheels = wheel_bytes(&fresh_cache, &fs_err::read_to_string(&plan.lock_file)?)?;
    let installed = fsutil::tree_size(&work.join("fresh"));
    fsutil::remove_path(&work)?;
    fs_err::create_dir_all(&work)?;

    // The build's own download cache must hold the wheels before the assembly is timed.
    crate::wheels::install_lock(
        plan,
        &uv,
        &host_python,
        &plan.cache_dir.join("uv"),
        &work.join("warm-up"),
    )?;
    fsutil::remove_path(&work)?;
    bench::clear_stage_caches(plan)?;
    let (assembly, output) = bench::timed(|| assemble::runtime(plan))?;
    let site =
        runtime_spec::launch::join_relative(&output.runtime_dir, plan.target.site_packages());
    let python = assemble::read_manifest(&output.runtime_dir)?.python;
    let python = format!(
        "{} {}",
        python.version,
        serde_json::to_value(python.source)?.as_str().unwrap_or("?")
    );
    Ok(VariantReport {
        variant: plan.variant.name(),
        profile: plan.variant.profile.name().into(),
        accelerator: plan.variant.accelerator.name().into(),
        python: Some(python),
        wheels: Some(wheels),
        fresh_cache_uv_install_seconds: Some(fresh_install.as_secs_f64()),
        site_packages_installed_bytes: Some(installed),
        site_packages_bytes: Some(fsutil::tree_size(&site)),
        unpacked_bytes: Some(output.unpacked_size),
        archive_bytes: Some(output.archive_size),
        zstd_level: plan.zstd_level,
        assembly_seconds: Some(assembly.as_secs_f64()),
        ..VariantReport::default()
    })
}

/// The wheels an empty uv cache received, from uv's archive pointers: each must carry one of
/// the lock's hashes, and there must be exactly one per locked package.
fn wheel_bytes(uv_cache: &Path, lock_text: &str) -> Result<WheelBytes> {
    let locked: BTreeSet<&str> = lock_text
        .split_whitespace()
        .filter_map(|word| word.strip_prefix("--hash=sha256:"))
        .collect();
    let mut wheels = Vec::new();
    for bucket in fs_err::read_dir(uv_cache)? {
        let bucket = bucket?;
        if !bucket.file_name().to_string_lossy().starts_with("wheels-v") {
            continue;
        }
        for entry in walkdir::WalkDir::new(bucket.path()) {
            let entry = entry?;
            if !entry.file_type().is_file()
                || entry.path().extension().is_none_or(|ext| ext != "http")
            {
                continue;
            }
            let bytes = fs_err::read(entry.path())?;
            let pointer = ArchivePointer::parse(&bytes)
                .with_context(|| format!("reading uv's {}", entry.path().display()))?;
            ensure!(
                pointer
                    .sha256
                    .iter()
                    .any(|sha| locked.contains(sha.as_str())),
                "{} is in the cache but carries no hash of the lock",
                pointer.filename
            );
            let size = pointer
                .size
                .with_context(|| format!("uv recorded no size for {}", pointer.filename))?;
            wheels.push((pointer.filename, size));
        }
    }
    let expected = lock::count_packages(lock_text);
    ensure!(
        wheels.len() == expected,
        "the empty cache received {} wheels for {expected} locked packages",
        wheels.len()
    );
    wheels.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(WheelBytes {
        count: wheels.len(),
        bytes: wheels.iter().map(|(_, size)| size).sum(),
        largest: wheels.into_iter().take(5).collect(),
    })
}

/// The msgpack head of uv's `<wheel>.http` cache entry: `[id, [{algorithm: hex}…], file name,
/// bucket version, size]` (the HTTP cache policy follows it).
#[derive(Debug, PartialEq)]
struct ArchivePointer {
    filename: String,
    sha256: Vec<String>,
    size: Option<u64>,
}

impl ArchivePointer {
    fn parse(bytes: &[u8]) -> Result<ArchivePointer> {
        let mut reader = MsgPack { bytes, at: 0 };
        let fields = reader.array()?;
        ensure!(
            fields >= 4,
            "an archive pointer has at least 4 fields, not {fields}"
        );
        reader.string()?;
        let mut sha256 = Vec::new();
        for _ in 0..reader.array()? {
            for _ in 0..reader.map()? {
                let algorithm = reader.string()?;
                let digest = reader.string()?;
                if algorithm.eq_ignore_ascii_case("sha256") {
                    sha256.push(digest.to_ascii_lowercase());
                }
            }
        }
        let filename = reader.string()?;
        ensure!(filename.ends_with(".whl"), "`{filename}` is not a wheel");
        reader.uint()?;
        let size = if fields >= 5 {
            reader.optional_uint()?
        } else {
            None
        };
        Ok(ArchivePointer {
            filename,
            sha256,
            size,
        })
    }
}

/// Just enough msgpack for [`ArchivePointer`].
struct MsgPack<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl MsgPack<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len());
        let end = end.context("truncated msgpack")?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn be(&mut self, n: usize) -> Result<u64> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |value, byte| (value << 8) | u64::from(*byte)))
    }

    fn array(&mut self) -> Result<usize> {
        match self.byte()? {
            tag @ 0x90..=0x9f => Ok(usize::from(tag & 0x0f)),
            0xdc => Ok(self.be(2)? as usize),
            tag => bail!("expected a msgpack array, got 0x{tag:02x}"),
        }
    }

    fn map(&mut self) -> Result<usize> {
        match self.byte()? {
            tag @ 0x80..=0x8f => Ok(usize::from(tag & 0x0f)),
            0xde => Ok(self.be(2)? as usize),
            tag => bail!("expected a msgpack map, got 0x{tag:02x}"),
        }
    }

    fn string(&mut self) -> Result<String> {
        let len = match self.byte()? {
            tag @ 0xa0..=0xbf => usize::from(tag & 0x1f),
            0xd9 => self.be(1)? as usize,
            0xda => self.be(2)? as usize,
            0xdb => self.be(4)? as usize,
            tag => bail!("expected a msgpack string, got 0x{tag:02x}"),
        };
        Ok(String::from_utf8(self.take(len)?.to_vec())?)
    }

    fn optional_uint(&mut self) -> Result<Option<u64>> {
        if self.bytes.get(self.at) == Some(&0xc0) {
            self.at += 1;
            return Ok(None);
        }
        self.uint().map(Some)
    }

    fn uint(&mut self) -> Result<u64> {
        match self.byte()? {
            tag @ 0x00..=0x7f => Ok(u64::from(tag)),
            0xcc => self.be(1),
            0xcd => self.be(2),
            0xce => self.be(4),
            0xcf => self.be(8),
            tag => bail!("expected a msgpack unsigned integer, got 0x{tag:02x}"),
        }
    }
}

/// One first-run install of the variant's archive (signed one-variant index on a loopback
/// server → download → extract → verify every file → settle), then `tar --zstd -xf` of the
/// same archive; both after one untimed read of the archive, so both read it from the page
/// cache. Once each: a torch archive is gigabytes.
fn install_once(plan: &Plan, bench_dir: &Path) -> Result<InstallReport> {
    let manifest = assemble::read_manifest(&plan.runtime_dir)?;
    let scratch = tempfile::Builder::new()
        .prefix("install-")
        .tempdir_in(bench_dir)?;
    let serve = scratch.path().join("serve");
    fs_err::create_dir_all(&serve)?;
    let served = serve.join(
        plan.archive
            .file_name()
            .context("archive has a file name")?,
    );
    if std::fs::hard_link(&plan.archive, &served).is_err() {
        fs_err::copy(&plan.archive, &served)?;
    }
    let (public_key, secret_key) = release_meta::generate_keypair(None)?;
    let shell_version = plan::workspace_version();
    let entry = release_meta::entry_for_archive(&served, &manifest, &shell_version)?;
    let published_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |now| now.as_secs());
    let index = release_meta::build_index(CHANNEL, published_at, None, vec![(plan.target, entry)])?;
    release_meta::write_signed_index(&index, &serve, &secret_key, None)?;
    let server = test_support::http::Server::serving_dir(serve);
    std::io::copy(
        &mut fs_err::File::open(&plan.archive)?,
        &mut std::io::sink(),
    )?;

    let data = scratch.path().join("data");
    let variant = plan.variant;
    let (ours, ()) = bench::timed(|| {
        let mut store = updater::Store::open(&data.join("runtime"), plan.target)?;
        let source = updater::UpdateSource {
            index_url: server.url(&runtime_spec::index::index_file_name(CHANNEL)),
            public_key: public_key.parse()?,
            channel: CHANNEL,
            app_id: plan.app.names.identifier.clone(),
        };
        let outcome = updater::check_and_install(
            &mut store,
            &source,
            &shell_version,
            &updater::Options::default(),
            &mut |_| Ok::<Variant, String>(variant),
            &mut |_| {},
        )?;
        ensure!(
            matches!(outcome, updater::Outcome::Installed { .. }),
            "expected a first install, got {outcome:?}"
        );
        store.settle()?;
        Ok(())
    })?;
    let installed = data
        .join("runtime")
        .join(updater::CURRENT)
        .join(layout::MANIFEST_FILE);
    ensure!(
        installed.is_file(),
        "the install left no {}",
        installed.display()
    );
    fsutil::remove_path(&data)?;

    let dest = scratch.path().join("tar");
    fs_err::create_dir_all(&dest)?;
    let (tar, ()) = bench::timed(|| {
        let status = Command::new("tar")
            .args(["--zstd", "-xf"])
            .arg(&plan.archive)
            .arg("-C")
            .arg(&dest)
            .stdin(Stdio::null())
            .status()
            .context("running tar (bench install compares with `tar --zstd -xf`)")?;
        ensure!(status.success(), "tar --zstd -xf failed ({status})");
        Ok(())
    })?;
    ensure!(
        dest.join(layout::MANIFEST_FILE).is_file(),
        "tar left no manifest"
    );
    Ok(InstallReport {
        ours_seconds: ours.as_secs_f64(),
        tar_seconds: tar.as_secs_f64(),
        ratio: ours.as_secs_f64() / tar.as_secs_f64(),
    })
}

/// Cold starts of every runtime (device cpu), and `import torch` in each torch runtime, all
/// interleaved.
fn starts(plans: &[Plan], reports: &mut [VariantReport], runs: usize) -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let mut engines = Vec::new();
    let mut floors = Vec::new();
    for (n, plan) in plans.iter().enumerate() {
        let manifest = assemble::read_manifest(&plan.runtime_dir)?;
        let python = manifest.launch.program(&plan.runtime_dir);
        let runtime = plan.runtime_dir.clone();
        let data = scratch.path().join(format!("data-{n}"));
        let engine_python = python.clone();
        let engine_runtime = runtime.clone();
        engines.push(Box::new(move || {
            let mut command = Command::new(&engine_python);
            command
                .args(["-I", "-m", "app", "--port", "0"])
                .env(
                    crate::bench::app().var(runtime_spec::env::DEVICE),
                    START_DEVICE,
                )
                .current_dir(&engine_runtime);
            bench::time_to_health(command, &data)
        }) as Box<dyn FnMut() -> Result<Duration>>);
        if plan.variant.profile == Profile::Torch {
            floors.push((
                n,
                Box::new(move || {
                    bench::time_to_line(
                        Command::new(&python)
                            .args(["-I", "-c", "import torch\nprint('imported', flush=True)"])
                            .current_dir(&runtime),
                    )
                }) as Box<dyn FnMut() -> Result<Duration>>,
            ));
        }
    }
    let mut cases: Vec<&mut dyn FnMut() -> Result<Duration>> = engines
        .iter_mut()
        .map(|case| case.as_mut() as &mut dyn FnMut() -> Result<Duration>)
        .collect();
    cases.extend(
        floors
            .iter_mut()
            .map(|(_, case)| case.as_mut() as &mut dyn FnMut() -> Result<Duration>),
    );
    let mut values = bench::sample_interleaved_raw(runs, &mut cases)?.into_iter();
    for report in reports.iter_mut() {
        report.start = Some(StartReport::of(values.next().expect("one per engine")));
    }
    for (n, _) in &floors {
        reports[*n].import_torch = Some(StartReport::of(values.next().expect("one per floor")));
    }
    Ok(())
}

fn or_not_measured<T>(value: Option<T>, show: impl Fn(T) -> String) -> String {
    value.map_or_else(|| "not measured".to_owned(), show)
}

/// Prints the table (one column per variant) and writes [`REPORT_FILE`].
fn report(
    target: Target,
    plans: &[Plan],
    reports: &[VariantReport],
    not_measured: &[String],
    runs: usize,
) -> Result<()> {
    let anchor = reports.first().and_then(|report| report.start.as_ref());
    let mut rows: Vec<(String, Vec<String>)> = vec![
        (
            "embedded CPython (manifest)".into(),
            reports
                .iter()
                .map(|r| or_not_measured(r.python.clone(), |python| python))
                .collect(),
        ),
        (
            "wheels (files, bytes uv downloads)".into(),
            reports
                .iter()
                .map(|r| {
                    or_not_measured(r.wheels.as_ref(), |w| {
                        format!("{} files, {}", w.count, ui::human_bytes(w.bytes))
                    })
                })
                .collect(),
        ),
        (
            "uv install, empty cache (network)".into(),
            column(
                reports,
                |r| r.fresh_cache_uv_install_seconds,
                |s| format!("{s:.1} s"),
            ),
        ),
        (
            "site-packages as installed".into(),
            column(
                reports,
                |r| r.site_packages_installed_bytes,
                ui::human_bytes,
            ),
        ),
        (
            "site-packages in the runtime (trimmed, .pyc)".into(),
            column(reports, |r| r.site_packages_bytes, ui::human_bytes),
        ),
        (
            "runtime unpacked (manifest)".into(),
            column(reports, |r| r.unpacked_bytes, ui::human_bytes),
        ),
        (
            format!("archive (zstd {})", plans[0].zstd_level),
            column(reports, |r| r.archive_bytes, ui::human_bytes),
        ),
        (
            "cold assembly (download cache warm)".into(),
            column(reports, |r| r.assembly_seconds, |s| format!("{s:.1} s")),
        ),
        (
            "first-run install from loopback (once)".into(),
            column(
                reports,
                |r| r.install.as_ref().map(|i| i.ours_seconds),
                |s| format!("{s:.2} s"),
            ),
        ),
        (
            "tar --zstd -xf of the same archive (once)".into(),
            column(
                reports,
                |r| r.install.as_ref().map(|i| i.tar_seconds),
                |s| format!("{s:.2} s"),
            ),
        ),
        (
            "install / tar".into(),
            column(
                reports,
                |r| r.install.as_ref().map(|i| i.ratio),
                |s| format!("{s:.2}×"),
            ),
        ),
        (
            "cold start: spawn → /health 200 (cpu)".into(),
            reports
                .iter()
                .map(|r| or_not_measured(r.start.as_ref(), StartReport::describe))
                .collect(),
        ),
        (
            format!("start / {} start", reports[0].variant),
            reports
                .iter()
                .map(|r| match (r.start.as_ref(), anchor) {
                    (Some(start), Some(anchor)) => format!("{:.2}", start.median / anchor.median),
                    _ => "not measured".into(),
                })
                .collect(),
        ),
        (
            "python -I -c 'import torch'".into(),
            reports
                .iter()
                .map(|r| match (&r.import_torch, r.profile.as_str()) {
                    (Some(floor), _) => floor.describe(),
                    (None, "base") => "—".into(),
                    (None, _) => "not measured".into(),
                })
                .collect(),
        ),
    ];
    rows.insert(
        0,
        (
            "variant".into(),
            reports.iter().map(|r| r.variant.clone()).collect(),
        ),
    );
    let name_width = rows
        .iter()
        .map(|(name, _)| name.chars().count())
        .max()
        .unwrap_or(0);
    let widths: Vec<usize> = (0..reports.len())
        .map(|n| {
            rows.iter()
                .map(|(_, cells)| cells[n].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    println!(
        "bench runtime --profile ({target}, {} start runs each, median [min–max], {} cores)",
        runs,
        cores()
    );
    for (name, cells) in &rows {
        let mut line = format!("  {name:<name_width$}");
        for (cell, width) in cells.iter().zip(&widths) {
            line.push_str(&format!("  {cell:<width$}"));
        }
        println!("{}", line.trim_end());
    }
    if !not_measured.is_empty() {
        println!("  not measured on this host:");
        for what in not_measured {
            println!("    - {what}");
        }
    }
    let report = serde_json::json!({
        "bench": "runtime-variants",
        "target": target.name(),
        "runtime_version": plans[0].version,
        "cores": cores(),
        "start_runs": runs,
        "start_device": START_DEVICE,
        "anchor": reports[0].variant,
        "variants": reports,
        "not_measured": not_measured,
    });
    let out_dir = &plans[0].out_dir;
    fs_err::create_dir_all(out_dir)?;
    let path = out_dir.join(REPORT_FILE);
    fs_err::write(&path, serde_json::to_string_pretty(&report)? + "\n")?;
    print_table("", &[("report".into(), path.display().to_string())]);
    Ok(())
}

fn column<T>(
    reports: &[VariantReport],
    value: impl Fn(&VariantReport) -> Option<T>,
    show: impl Fn(T) -> String,
) -> Vec<String> {
    reports
        .iter()
        .map(|report| or_not_measured(value(report), &show))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head of a real `wheels-v8/pypi/tokenizers/….http` entry written by uv 0.13.9.
    fn pointer_bytes(size: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0x95, 0xb0];
        bytes.extend_from_slice(b"hnhgakaQT0pHhmj3");
        bytes.extend_from_slice(&[0x91, 0x81, 0xa6]);
        bytes.extend_from_slice(b"Sha256");
        bytes.extend_from_slice(&[0xd9, 64]);
        bytes.extend_from_slice(&[b'a'; 64]);
        let name = b"tokenizers-0.23.3-cp310-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";
        bytes.extend_from_slice(&[0xd9, name.len() as u8]);
        bytes.extend_from_slice(name);
        bytes.push(0x00);
        bytes.extend_from_slice(size);
        bytes.extend_from_slice(b"policy follows");
        bytes
    }

    #[test]
    fn archive_pointers_give_name_hash_and_size() {
        let pointer =
            ArchivePointer::parse(&pointer_bytes(&[0xce, 0x00, 0x33, 0xd2, 0x61])).expect("parses");
        assert_eq!(
            pointer,
            ArchivePointer {
                filename:
                    "tokenizers-0.23.3-cp310-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
                        .into(),
                sha256: vec!["a".repeat(64)],
                size: Some(3_396_193),
            }
        );
        let unknown = ArchivePointer::parse(&pointer_bytes(&[0xc0])).expect("parses");
        assert_eq!(unknown.size, None);
        let mut truncated = pointer_bytes(&[0xce, 0x00, 0x33, 0xd2, 0x61]);
        truncated.truncate(truncated.len() - "policy follows".len() - 2);
        assert!(ArchivePointer::parse(&truncated).is_err());
    }

    #[test]
    fn wheel_bytes_need_the_lock_hashes_and_one_wheel_per_package() {
        let cache = tempfile::tempdir().expect("tempdir");
        let dir = cache.path().join("wheels-v8/pypi/tokenizers");
        fs_err::create_dir_all(&dir).expect("mkdir");
        fs_err::write(
            dir.join("0.23.3.http"),
            pointer_bytes(&[0xce, 0x00, 0x33, 0xd2, 0x61]),
        )
        .expect("write");
        let hash = "a".repeat(64);
        let lock = format!("tokenizers==0.23.3 \\\n    --hash=sha256:{hash}\n");
        let wheels = wheel_bytes(cache.path(), &lock).expect("counted");
        assert_eq!((wheels.count, wheels.bytes), (1, 3_396_193));
        let other = format!(
            "tokenizers==0.23.3 \\\n    --hash=sha256:{}\n",
            "b".repeat(64)
        );
        assert!(wheel_bytes(cache.path(), &other).is_err());
        let two = format!(
            "{lock}numpy==2.0 \\\n    --hash=sha256:{}\n",
            "c".repeat(64)
        );
        assert!(wheel_bytes(cache.path(), &two).is_err());
    }

    #[test]
    fn the_report_names_what_was_not_measured() {
        let report = VariantReport {
            variant: "linux-x64-torch-cuda".into(),
            ..VariantReport::default()
        };
        let json = serde_json::to_value(&report).expect("serializes");
        assert!(json["start"].is_null() && json["install"].is_null());
        assert_eq!(
            column(&[report], |r| r.archive_bytes, ui::human_bytes),
            vec!["not measured".to_owned()]
        );
    }
}
