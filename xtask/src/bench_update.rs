//! `cargo xtask bench update`: a runtime update N → N+1 fetched as a delta from the release's
//! object store and as the full archive, side by side, from the same installed N. Each side is
//! measured by the bytes the loopback server sent (every request: index, signature, manifest,
//! objects or archive), the wall time of `updater::check_and_install`, the `Transfer` the
//! updater reports, and the disk `current` + `previous` use once the update is applied
//! (hard-linked files counted once).
//!
//! N is the host's base runtime as `cargo xtask runtime` left it; every N+1 is derived from it
//! here the way the build makes a runtime ([`Bench::derive`]: a hard-link copy, the change,
//! `VERSION`, the manifest with every file's object packed into the bench's store, the archive
//! at the build's zstd level and workers). Each side of each run starts from a hard-link copy of
//! one installed N (installed once by the updater itself, from the archive, and settled), so
//! every run updates the same state; nothing the updater does writes into an installed file.
//!
//! The updates run in this process: the timed call is the updater's own entry point and no
//! peak RSS is read (`bench install` runs its child for that). The release folder is served by
//! test-support's loopback server, so the times are CPU and disk costs with free bandwidth; the
//! crossover rows add a modelled link to show where bandwidth moves the balance.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use runtime_spec::{layout, IndexEntry, Manifest, PythonInfo, PythonSource, Version};

use crate::bench::{cores, print_table, Samples};
use crate::bench_report::{load_average, Figure, Goal as GoalOf, Unit};
use crate::plan::{self, Plan, PythonChoice};
use crate::{assemble, bytecode, fsutil, python, release, tools, ui};

/// The channel of the bench's signed indexes.
const CHANNEL: runtime_spec::Channel = runtime_spec::Channel::Dev;
/// Goal of (a): one changed app file costs at most this to download, index and manifest
/// included.
const GOAL_APP_DOWNLOAD_BYTES: u64 = 1_000_000;
/// Goal of (a): the runtime kept as `previous` shares every unchanged file with `current`.
const GOAL_DISK_RATIO: f64 = 1.05;
/// Shares of site-packages' bytes the synthetic crossover rows rewrite.
const SYNTHETIC_SHARES: [u32; 5] = [10, 30, 50, 70, 90];
/// The crossover rows' delta side is served an index declaring the archive this many times its
/// size, so `updater::DELTA_MAX_FRACTION` never sends it to the archive: both paths are timed at
/// every share.
const LIFT: u64 = 1000;
/// Pure-Python packages of the base lock, in the order (b) tries them: small, a package folder,
/// released often enough that the release before the pin exists.
const WHEEL_CANDIDATES: [&str; 4] = ["click", "h11", "idna", "filelock"];
/// Links the crossover rows model on top of the loopback times (bits per second). The first is
/// the one the recommended threshold is read at, a user's download; loopback and the second
/// show how far faster links move it.
const LINKS: [(&str, f64); 2] = [("100 Mbit/s", 100e6), ("1 Gbit/s", 1e9)];
/// Bytes the bench's scratch needs at most, per byte of the unpacked runtime: two derived
/// runtimes' changed files, one run's data folder, the store and two archives.
const SCRATCH_PER_RUNTIME_BYTE: u64 = 4;

/// `--python-archive-previous` and its sha256: the interpreter of scenario (c)'s N.
pub struct PreviousPython {
    pub location: String,
    pub sha256: String,
}

pub struct UpdateBenchOptions {
    pub runs: usize,
    pub previous_python: Option<PreviousPython>,
    /// A smoke run (`--quick`): one synthetic crossover share instead of all.
    pub quick: bool,
}

/// Refuses what cannot be measured before anything is built or served.
pub fn check_options(options: &UpdateBenchOptions) -> Result<()> {
    ensure!(options.runs > 0, "--runs must be at least 1");
    if let Some(previous) = &options.previous_python {
        ensure!(
            runtime_spec::Sha256::parse(&previous.sha256).is_ok(),
            "--python-sha256-previous must be 64 hex digits, got `{}`",
            previous.sha256
        );
    }
    Ok(())
}

pub fn update(plan: &Plan, options: &UpdateBenchOptions) -> Result<Vec<Figure>> {
    check_options(options)?;
    let base = Runtime::built(plan)?;
    let bench_dir = plan.root.join("target").join("bench");
    fs_err::create_dir_all(&bench_dir)?;
    let needed = base.manifest.unpacked_size() * SCRATCH_PER_RUNTIME_BYTE;
    let free = runtime_archive::free_space(&bench_dir)
        .with_context(|| format!("reading the free space at {}", bench_dir.display()))?;
    ensure!(
        free >= needed,
        "bench update needs about {} free at {} (it has {})",
        ui::human_bytes(needed),
        bench_dir.display(),
        ui::human_bytes(free)
    );
    let load_at_start = load_average();
    // Scratch on the same disk as the runtime (not a tmpfs /tmp): derived runtimes are hard-link
    // copies of it, and the installs write there.
    let scratch = tempfile::Builder::new()
        .prefix("update-")
        .tempdir_in(&bench_dir)?;
    let bench = Bench::new(plan, scratch.path(), options.runs)?;
    let next_version = next_patch(&base.manifest.runtime_version);

    ui::step(
        "bench",
        &format!(
            "update: installing runtime {} once as the N every run starts from",
            base.manifest.runtime_version
        ),
    );
    let template = bench.scratch.join("installed-n");
    bench.install_template(&base, &template)?;

    let scenarios = vec![
        bench.app_file_scenario(&base, &template, &next_version)?,
        bench.wheel_scenario(&base, &template, &next_version)?,
        bench.python_scenario(&base, &next_version, options.previous_python.as_ref())?,
    ];
    let mut crossover = Vec::new();
    let shares: &[u32] = if options.quick {
        &SYNTHETIC_SHARES[2..3]
    } else {
        &SYNTHETIC_SHARES
    };
    for &share in shares {
        crossover.push(bench.synthetic_row(&base, &template, &next_version, share)?);
    }
    let load_at_end = load_average();
    report(
        plan,
        &bench,
        &base,
        &next_version,
        &scenarios,
        &crossover,
        (load_at_start, load_at_end),
    )?;
    Ok(figures(&scenarios))
}

/// The report's figures of each scenario: bytes and time, delta beside the full archive, and
/// for (a) the disk `current` + `previous` use beside one runtime.
fn figures(scenarios: &[Scenario]) -> Vec<Figure> {
    let mut figures = Vec::new();
    for scenario in scenarios {
        let name = |what: &str| format!("update ({}) {}: {what}", scenario.id, scenario.title);
        let bytes_name = name("bytes downloaded");
        let (sides, _) = match &scenario.outcome {
            Ok(outcome) => outcome,
            Err(reason) => {
                figures.push(Figure::not_measured(
                    "update",
                    bytes_name,
                    Unit::Bytes,
                    reason.clone(),
                ));
                continue;
            }
        };
        let served = |runs: &[Run]| Samples::of(runs.iter().map(|run| run.served as f64).collect());
        let mut bytes = Figure::new("update", bytes_name, Unit::Bytes, served(&sides.delta))
            .anchor("the full archive", served(&sides.archive))
            .note(format!(
                "({}) The delta's download includes the index, its signature and the packed \
                 manifest ({}).",
                scenario.id,
                ui::human_bytes(sides.manifest_packed)
            ));
        if scenario.id == "a" {
            bytes = bytes.goal(GoalOf::AtMost {
                value: GOAL_APP_DOWNLOAD_BYTES as f64,
            });
        }
        figures.push(bytes);
        figures.push(
            Figure::new(
                "update",
                name("time, check → applied (loopback)"),
                Unit::Seconds,
                Sides::seconds(&sides.delta),
            )
            .anchor("the full archive", Sides::seconds(&sides.archive)),
        );
        if scenario.id == "a" {
            let disk = |runs: &[Run], of: fn(&Run) -> u64| {
                Samples::of(runs.iter().map(|run| of(run) as f64).collect())
            };
            figures.push(
                Figure::new(
                    "update",
                    name("current + previous on disk"),
                    Unit::Bytes,
                    disk(&sides.delta, |run| run.disk_both),
                )
                .anchor("one runtime", disk(&sides.delta, |run| run.disk_current))
                .goal(GoalOf::RatioAtMost {
                    ratio: GOAL_DISK_RATIO,
                }),
            );
        }
    }
    figures
}

/// A runtime folder with its manifest and archive.
struct Runtime {
    dir: PathBuf,
    manifest: Manifest,
    archive: PathBuf,
}

impl Runtime {
    /// The runtime the plan built (`dist/runtime-<target>` and its archive).
    fn built(plan: &Plan) -> Result<Runtime> {
        let missing = || {
            format!(
                "no runtime at {} with its archive {}: run `cargo xtask runtime` first",
                plan.runtime_dir.display(),
                plan.archive.display()
            )
        };
        ensure!(plan.archive.is_file(), missing());
        let manifest = assemble::read_manifest(&plan.runtime_dir).with_context(missing)?;
        ensure!(
            manifest.target == plan.target && manifest.variant() == plan.variant,
            "{} holds the {} runtime, not {}: run `cargo xtask runtime` first",
            plan.runtime_dir.display(),
            manifest.variant(),
            plan.variant
        );
        Ok(Runtime {
            dir: plan.runtime_dir.clone(),
            manifest,
            archive: plan.archive.clone(),
        })
    }
}

/// N+1 as the release folder offers it.
struct Published {
    entry: IndexEntry,
}

/// One side of one run.
#[derive(Debug, Clone)]
struct Run {
    elapsed: Duration,
    /// Body bytes the server sent for this update.
    served: u64,
    requests: usize,
    transfer: updater::Transfer,
    /// Disk used by `current` + `previous` after the update was applied, each inode once.
    disk_both: u64,
    /// Disk used by `current` alone.
    disk_current: u64,
}

/// Both sides of a scenario, `runs` each (warm-up excluded).
struct Sides {
    delta: Vec<Run>,
    archive: Vec<Run>,
    /// The packed manifest's bytes, part of every delta download.
    manifest_packed: u64,
}

impl Sides {
    fn seconds(runs: &[Run]) -> Samples {
        Samples::of(runs.iter().map(|run| run.elapsed.as_secs_f64()).collect())
    }

    fn served(runs: &[Run]) -> u64 {
        let mut served: Vec<u64> = runs.iter().map(|run| run.served).collect();
        served.sort_unstable();
        served[served.len() / 2]
    }

    fn time_ratio(&self) -> f64 {
        Sides::seconds(&self.delta).median / Sides::seconds(&self.archive).median
    }

    fn bytes_ratio(&self) -> f64 {
        Sides::served(&self.delta) as f64 / Sides::served(&self.archive) as f64
    }
}

/// One scenario's outcome: measured, or why it cannot be here.
struct Scenario {
    id: &'static str,
    title: String,
    details: serde_json::Value,
    outcome: std::result::Result<(Sides, Vec<Goal>), String>,
}

struct Goal {
    what: String,
    value: String,
    met: bool,
}

/// One synthetic crossover row.
struct CrossoverRow {
    share: u32,
    changed_files: usize,
    changed_bytes: u64,
    site_packages_bytes: u64,
    archive_size: u64,
    sides: Sides,
}

impl CrossoverRow {
    /// What `DELTA_MAX_FRACTION` is compared with: the planned delta download over the archive.
    fn planned_fraction(&self) -> f64 {
        self.sides.delta[0].transfer.download_bytes as f64 / self.archive_size as f64
    }

    /// Median seconds of a side on a link of `bits_per_second`: the loopback time plus the
    /// served bytes at that rate (no overlap of transfer and work assumed, for either side).
    fn modelled(&self, runs: &[Run], bits_per_second: f64) -> f64 {
        Sides::seconds(runs).median + Sides::served(runs) as f64 * 8.0 / bits_per_second
    }
}

struct Bench<'a> {
    plan: &'a Plan,
    scratch: PathBuf,
    runs: usize,
    host_python: PathBuf,
    shell_version: Version,
    serve: PathBuf,
    /// The bench's object store, served as the release's `objects/`.
    store: PathBuf,
    server: test_support::http::Server,
    source: updater::UpdateSource,
    secret_key: String,
    published_at: std::cell::Cell<u64>,
}

impl<'a> Bench<'a> {
    fn new(plan: &'a Plan, scratch: &Path, runs: usize) -> Result<Bench<'a>> {
        let serve = scratch.join("release");
        let store = serve.join(layout::OBJECTS_DIR);
        fs_err::create_dir_all(&store)?;
        let (public_key, secret_key) = release::dev_keys(&plan.root)?;
        let server = test_support::http::Server::serving_dir(&serve);
        let source = updater::UpdateSource {
            index_url: server.url(&runtime_spec::index::index_file_name(CHANNEL)),
            public_key: public_key.parse()?,
            channel: CHANNEL,
            app_id: plan.app.names.identifier.clone(),
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |now| now.as_secs());
        Ok(Bench {
            plan,
            scratch: scratch.to_owned(),
            runs,
            host_python: tools::host_python312()?,
            shell_version: plan::workspace_version(),
            serve,
            store,
            server,
            source,
            secret_key,
            published_at: std::cell::Cell::new(now),
        })
    }

    /// Puts `runtime`'s archive into the release folder; its index entry.
    fn publish(&self, runtime: &Runtime) -> Result<Published> {
        let name = runtime.archive.file_name().context("archive has a name")?;
        let served = self.serve.join(name);
        fsutil::remove_path(&served)?;
        if std::fs::hard_link(&runtime.archive, &served).is_err() {
            fs_err::copy(&runtime.archive, &served)?;
        }
        let entry =
            release_meta::entry_for_archive(&served, &runtime.manifest, &self.shell_version)?;
        Ok(Published { entry })
    }

    /// Signs and serves a one-entry index for `published` (`lift`: declaring the archive
    /// [`LIFT`] times its size). Every index is newer than the last, as a release's would be.
    fn write_index(&self, published: &Published, lift: bool) -> Result<()> {
        let mut entry = published.entry.clone();
        if lift {
            entry.size = entry.size.saturating_mul(LIFT);
        }
        let published_at = self.published_at.get() + 1;
        self.published_at.set(published_at);
        let index = release_meta::build_index(
            CHANNEL,
            published_at,
            None,
            vec![(self.plan.target, entry)],
        )?;
        release_meta::write_signed_index(&index, &self.serve, &self.secret_key, None)?;
        Ok(())
    }

    /// Body bytes sent and requests answered since request number `mark`. A server thread
    /// counts its bytes just after writing them, so the count is read until it holds still.
    fn served_since(&self, mark: usize) -> (u64, usize) {
        let count = || {
            let requests = self.server.requests();
            let tail = requests.get(mark..).unwrap_or_default();
            (
                tail.iter().map(|request| request.sent as u64).sum::<u64>(),
                tail.len(),
            )
        };
        let mut last = count();
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(20));
            let now = count();
            if now == last {
                break;
            }
            last = now;
        }
        last
    }

    /// Installs `runtime` into the data folder `data` the way the shell's first run does
    /// (archive → `pending` → settle → healthy), leaving it as `current`.
    fn install_template(&self, runtime: &Runtime, data: &Path) -> Result<()> {
        let published = self.publish(runtime)?;
        self.write_index(&published, false)?;
        let mut store = updater::Store::open(&data.join("runtime"), self.plan.target)?;
        let wanted = store.installed_variant();
        let outcome = updater::check_and_install(
            &mut store,
            &self.source,
            &self.shell_version,
            &updater::Options::default(),
            &mut |_| Ok(wanted),
            &mut |_| {},
        )?;
        ensure!(
            matches!(&outcome, updater::Outcome::Installed { version, .. } if *version == runtime.manifest.runtime_version),
            "installing N gave {outcome}"
        );
        store.settle()?;
        store.confirm_healthy()?;
        ensure!(
            store.version_in(updater::CURRENT).as_ref() == Some(&runtime.manifest.runtime_version),
            "N is not current after its install"
        );
        Ok(())
    }

    /// Updates a hard-link copy of the installed N in `template` to `next`: by delta (`delta`,
    /// with the threshold lifted when `lift`) or by the archive. Applies it and measures.
    fn run(&self, template: &Path, next: &Published, delta: bool, lift: bool) -> Result<Run> {
        let data = self.scratch.join("run");
        fsutil::remove_path(&data)?;
        fsutil::hardlink_tree(template, &data, &|_| true)?;
        self.write_index(next, lift && delta)?;
        let mut store = updater::Store::open(&data.join("runtime"), self.plan.target)?;
        let wanted = store.installed_variant();
        let options = updater::Options {
            delta,
            ..updater::Options::default()
        };
        let mark = self.server.requests().len();
        let started = Instant::now();
        let outcome = updater::check_and_install(
            &mut store,
            &self.source,
            &self.shell_version,
            &options,
            &mut |_| Ok(wanted),
            &mut |_| {},
        )?;
        let elapsed = started.elapsed();
        let (served, requests) = self.served_since(mark);
        let updater::Outcome::Installed { version, transfer } = outcome else {
            bail!(
                "expected an update to {}, got {outcome}",
                next.entry.version
            );
        };
        ensure!(
            version == next.entry.version,
            "installed {version}, not {}",
            next.entry.version
        );
        if lift && delta {
            ensure!(
                transfer.method == updater::Method::Delta,
                "the delta fell back to the archive with the threshold lifted: {}",
                transfer.fallback.as_deref().unwrap_or("no reason given")
            );
        }
        store.settle()?;
        ensure!(
            store.version_in(updater::CURRENT).as_ref() == Some(&version),
            "runtime {version} is not current after settling"
        );
        let (current, previous) = (store.slot(updater::CURRENT), store.slot(updater::PREVIOUS));
        let disk_both = disk_used(&[&current, &previous])?;
        let disk_current = disk_used(&[&current])?;
        drop(store);
        fsutil::remove_path(&data)?;
        Ok(Run {
            elapsed,
            served,
            requests,
            transfer,
            disk_both,
            disk_current,
        })
    }

    /// One untimed round, then `runs` rounds of delta and archive in turn, each from N.
    fn measure(&self, template: &Path, next: &Runtime, lift: bool) -> Result<Sides> {
        let published = self.publish(next)?;
        let mut sides = Sides {
            delta: Vec::new(),
            archive: Vec::new(),
            manifest_packed: published.entry.manifest.packed_size,
        };
        for round in 0..=self.runs {
            let delta = self.run(template, &published, true, lift)?;
            let archive = self.run(template, &published, false, false)?;
            if round > 0 {
                sides.delta.push(delta);
                sides.archive.push(archive);
            }
        }
        Ok(sides)
    }

    /// N+1 from `from`, as the build would make it: a hard-link copy of `from` (no file of it
    /// is ever written: `edit` replaces files, see [`replace_file`]), `edit` applied, `VERSION`
    /// = `version`, every file hashed into a new manifest whose objects are packed into the
    /// bench's store, and the archive packed at the build's zstd level and workers.
    fn derive(
        &self,
        from: &Runtime,
        name: &str,
        version: &Version,
        python: Option<PythonInfo>,
        edit: &mut dyn FnMut(&Path) -> Result<()>,
    ) -> Result<Runtime> {
        let dir = self.scratch.join(format!("runtime-{name}"));
        fsutil::remove_path(&dir)?;
        fsutil::hardlink_tree(&from.dir, &dir, &|relative| {
            relative != Path::new(layout::MANIFEST_FILE)
        })?;
        edit(&dir)?;
        replace_file(
            &dir.join(layout::VERSION_FILE),
            format!("{version}\n").as_bytes(),
        )?;
        let mut files = runtime_archive::build_manifest_files(&dir)
            .with_context(|| format!("hashing the files of {}", dir.display()))?;
        self.seed_objects(&files)?;
        // Packed on every core, as assembly packs them (the worker count never changes an
        // object's bytes).
        runtime_archive::objects::pack_objects(&dir, &mut files, &self.store, cores())
            .with_context(|| format!("packing the objects of {}", dir.display()))?;
        let lock_path = format!(
            "{}/{}",
            layout::WHEELHOUSE_DIR,
            self.plan
                .lock_file
                .file_name()
                .context("lock has a name")?
                .to_string_lossy()
        );
        let lock_sha256 = files
            .iter()
            .find(|file| file.path == lock_path)
            .map_or(from.manifest.lock_sha256, |file| file.sha256);
        let manifest = Manifest {
            runtime_version: version.clone(),
            python: python.unwrap_or_else(|| from.manifest.python.clone()),
            lock_sha256,
            files,
            ..from.manifest.clone()
        };
        manifest.validate()?;
        fs_err::write(dir.join(layout::MANIFEST_FILE), manifest.to_json())?;
        let reference = release_meta::manifest_ref(&manifest);
        runtime_archive::objects::pack_object(
            &dir.join(layout::MANIFEST_FILE),
            &reference.sha256,
            &self.store,
        )?;
        let archive = self
            .scratch
            .join("archives")
            .join(name)
            .join(layout::archive_name(
                &self.plan.app.names.archive_stem(),
                version,
                manifest.variant(),
            ));
        fs_err::create_dir_all(archive.parent().expect("has a parent"))?;
        let options = runtime_archive::PackOptions {
            source_date_epoch: self.plan.source_date_epoch,
            zstd_level: self.plan.zstd_level,
            zstd_workers: plan::ZSTD_WORKERS,
        };
        runtime_archive::pack_tar_zst(&dir, &archive, &options)
            .with_context(|| format!("packing {}", archive.display()))?;
        Ok(Runtime {
            dir,
            manifest,
            archive,
        })
    }

    /// Objects the build already packed (the same bytes pack to the same object) are linked
    /// into the bench's store instead of being packed again.
    fn seed_objects(&self, files: &[runtime_spec::FileEntry]) -> Result<()> {
        let built = assemble::object_store(self.plan);
        if !built.is_dir() {
            return Ok(());
        }
        for file in files {
            let source = runtime_archive::objects::object_file(&built, &file.sha256);
            let dest = runtime_archive::objects::object_file(&self.store, &file.sha256);
            if source.is_file() && !dest.exists() {
                fs_err::create_dir_all(dest.parent().expect("fan-out folder"))?;
                if std::fs::hard_link(&source, &dest).is_err() {
                    fs_err::copy(&source, &dest)?;
                }
            }
        }
        Ok(())
    }

    /// Removes a derived runtime and its archive once measured.
    fn discard(&self, runtime: &Runtime) -> Result<()> {
        fsutil::remove_path(&runtime.dir)?;
        fsutil::remove_path(runtime.archive.parent().expect("archives have a folder"))
    }

    /// (a) One engine module changed, and its `.pyc` recompiled as the app stage compiles it.
    fn app_file_scenario(
        &self,
        base: &Runtime,
        template: &Path,
        next_version: &Version,
    ) -> Result<Scenario> {
        let changed = app_file_to_change(&base.manifest)?;
        ui::step("bench", &format!("update (a): {changed} changed"));
        // The same compile of the unchanged file must give N's own `.pyc`: then the one of the
        // changed file is what a build would ship.
        let work = self.scratch.join("compile-check");
        let pyc = compile_like_app_stage(&self.host_python, &base.dir, &changed, &work)?;
        let shipped = runtime_spec::launch::join_relative(&base.dir, &pyc.relative);
        let pyc_as_built = fs_err::read(&pyc.compiled)? == fs_err::read(&shipped)?;
        if !pyc_as_built {
            ui::warn(&format!(
                "the host CPython compiles {changed} to other bytes than N's {}: N was built by another CPython 3.12, so (a)'s N+1 differs from a real build's in that one file",
                pyc.relative
            ));
        }
        fsutil::remove_path(&work)?;

        let mut edit = |dir: &Path| -> Result<()> {
            let source = runtime_spec::launch::join_relative(dir, &changed);
            let mut text = fs_err::read(&source)?;
            text.extend_from_slice(
                format!(
                    "\n# Changed by `cargo xtask bench update` for runtime {next_version}.\nBENCH_UPDATE_RELEASE = \"{next_version}\"\n"
                )
                .as_bytes(),
            );
            replace_file(&source, &text)?;
            let work = self.scratch.join("compile-changed");
            let pyc = compile_like_app_stage(&self.host_python, dir, &changed, &work)?;
            let dest = runtime_spec::launch::join_relative(dir, &pyc.relative);
            replace_file(&dest, &fs_err::read(&pyc.compiled)?)?;
            fsutil::remove_path(&work)
        };
        let next = self.derive(base, "a", next_version, None, &mut edit)?;
        let sides = self.measure(template, &next, false)?;
        self.discard(&next)?;

        let delta_bytes = Sides::served(&sides.delta);
        let time_ratio = sides.time_ratio();
        let disk = Samples::of(
            sides
                .delta
                .iter()
                .map(|run| run.disk_both as f64 / run.disk_current as f64)
                .collect(),
        );
        let goals = vec![
            Goal {
                what: format!(
                    "delta download ≤ {} (index and manifest included)",
                    ui::human_bytes(GOAL_APP_DOWNLOAD_BYTES)
                ),
                value: ui::human_bytes(delta_bytes),
                met: delta_bytes <= GOAL_APP_DOWNLOAD_BYTES,
            },
            Goal {
                what: "delta time ≤ archive time".into(),
                value: format!("{time_ratio:.2}×"),
                met: time_ratio <= 1.0,
            },
            Goal {
                what: format!("current + previous on disk ≤ {GOAL_DISK_RATIO} × one runtime"),
                value: format!(
                    "{:.3}× ({} / {})",
                    disk.max,
                    ui::human_bytes(sides.delta[0].disk_both),
                    ui::human_bytes(sides.delta[0].disk_current)
                ),
                met: disk.max <= GOAL_DISK_RATIO,
            },
        ];
        Ok(Scenario {
            id: "a",
            title: format!("one app .py changed ({changed} and its .pyc)"),
            details: serde_json::json!({
                "changed_file": changed,
                "recompiled_pyc": pyc.relative,
                "pyc_of_the_unchanged_file_matches_the_build": pyc_as_built,
            }),
            outcome: Ok((sides, goals)),
        })
    }

    /// (b) One pure-Python package replaced by the release before its pin, compiled as the
    /// wheels stage compiles site-packages.
    fn wheel_scenario(
        &self,
        base: &Runtime,
        template: &Path,
        next_version: &Version,
    ) -> Result<Scenario> {
        let lock_text = fs_err::read_to_string(&self.plan.lock_file)?;
        let site = self.plan.target.site_packages();
        let site_in_base = runtime_spec::launch::join_relative(&base.dir, site);
        let Some((name, pinned)) = WHEEL_CANDIDATES.iter().find_map(|name| {
            let pinned = pinned_version(&lock_text, name)?;
            dist_info(&site_in_base, name).ok().flatten()?;
            Some((name.to_string(), pinned))
        }) else {
            return Ok(Scenario {
                id: "b",
                title: "one wheel's version bumped".into(),
                details: serde_json::json!({}),
                outcome: Err(format!(
                    "none of {} is pinned in {} and installed in the runtime",
                    WHEEL_CANDIDATES.join(", "),
                    self.plan.lock_file.display()
                )),
            });
        };
        ui::step(
            "bench",
            &format!("update (b): {name} {pinned} → the release before it"),
        );
        let other = self.install_other_release(&name, &pinned)?;
        let mut old_installed = 0;
        let mut edit = |dir: &Path| -> Result<()> {
            let site_dir = runtime_spec::launch::join_relative(dir, site);
            old_installed = remove_package(&site_dir, &name)?;
            move_children(&other.dir, &site_dir)?;
            let lock = dir
                .join(layout::WHEELHOUSE_DIR)
                .join(self.plan.lock_file.file_name().expect("lock has a name"));
            let text = fs_err::read_to_string(&lock)?;
            let text = repin(&text, &name, &pinned, &other.version)
                .with_context(|| format!("{name}=={pinned} is not in {}", lock.display()))?;
            replace_file(&lock, text.as_bytes())
        };
        let next = self.derive(base, "b", next_version, None, &mut edit)?;
        let sides = self.measure(template, &next, false)?;
        self.discard(&next)?;

        let delta_bytes = Sides::served(&sides.delta);
        let goals = vec![Goal {
            what: format!("delta download ≤ {name} {}'s installed size", other.version),
            value: format!(
                "{} vs {} installed (.pyc included)",
                ui::human_bytes(delta_bytes),
                ui::human_bytes(other.installed_size)
            ),
            met: delta_bytes <= other.installed_size,
        }];
        Ok(Scenario {
            id: "b",
            title: format!(
                "one wheel's version changed ({name} {pinned} → {})",
                other.version
            ),
            details: serde_json::json!({
                "package": name,
                "from_version": pinned,
                "to_version": other.version,
                "to_version_chosen_as": "the newest release before the pinned one (uv: <name><<pin>)",
                "installed_size_from_bytes": old_installed,
                "installed_size_to_bytes": other.installed_size,
                "lock_in_wheelhouse": "its pin line names the new version (hashes unchanged: nothing installs from it here)",
            }),
            outcome: Ok((sides, goals)),
        })
    }

    /// `name`'s newest release before `pinned`, installed with the pinned uv and the wheels
    /// stage's flags into a folder of its own and compiled like site-packages.
    fn install_other_release(&self, name: &str, pinned: &str) -> Result<OtherRelease> {
        let dir = self.scratch.join("other-release");
        fsutil::remove_path(&dir)?;
        let uv = tools::uv(&self.plan.cache_dir)?;
        let output = Command::new(&uv)
            .args(["pip", "install"])
            .arg(format!("{name}<{pinned}"))
            .arg("--target")
            .arg(&dir)
            .args([
                "--python-platform",
                self.plan.target.triple(),
                "--python-version",
                "3.12",
                "--python",
            ])
            .arg(&self.host_python)
            .args([
                "--no-deps",
                "--only-binary",
                ":all:",
                "--no-compile",
                "--quiet",
            ])
            .env("UV_CACHE_DIR", self.plan.cache_dir.join("uv"))
            .output()
            .with_context(|| format!("running {}", uv.display()))?;
        if !output.status.success() {
            bail!(
                "installing the release of {name} before {pinned} failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        for leftover in ["bin", "uv_cache.json", ".lock"] {
            fsutil::remove_path(&dir.join(leftover))?;
        }
        let (_, version) = dist_info(&dir, name)?
            .with_context(|| format!("uv installed no {name} into {}", dir.display()))?;
        if walkdir::WalkDir::new(&dir)
            .into_iter()
            .flatten()
            .any(|entry| {
                let name = entry.file_name().to_string_lossy();
                name.ends_with(".so") || name.ends_with(".pyd") || name.ends_with(".dylib")
            })
        {
            bail!("{name} {version} ships native code: (b) needs a pure-Python package");
        }
        bytecode::compile_tree(&self.host_python, &dir, self.plan.target.site_packages())?;
        Ok(OtherRelease {
            installed_size: fsutil::tree_size(&dir),
            dir,
            version,
        })
    }

    /// (c) A CPython patch release: N runs an older build of the same minor version, N+1 the
    /// runtime's own. Needs two python-build-standalone builds; says why not when they are
    /// not both here.
    fn python_scenario(
        &self,
        base: &Runtime,
        next_version: &Version,
        previous: Option<&PreviousPython>,
    ) -> Result<Scenario> {
        let current = &base.manifest.python;
        let title = "a Python patch release (the interpreter tree of another CPython 3.12 build)";
        let not_measurable = |reason: String| Scenario {
            id: "c",
            title: title.into(),
            details: serde_json::json!({ "runtime_python": current.version, "runtime_python_source": python_source_name(current.source) }),
            outcome: Err(reason),
        };
        let local = current.source == PythonSource::Local;
        let Some(previous) = previous else {
            return Ok(not_measurable(if local {
                format!(
                    "needs two python-build-standalone builds of one CPython minor version; this runtime's interpreter is the local CPython {} (python.source = local: the pinned archive was unreachable when it was built) and no older archive was given (--python-archive-previous <file> --python-sha256-previous <hex>)",
                    current.version
                )
            } else {
                format!(
                    "needs an older python-build-standalone build of CPython {} than the runtime's {}: pass it with --python-archive-previous <file> --python-sha256-previous <hex>",
                    minor_of(&current.version),
                    current.version
                )
            }));
        };
        if local {
            return Ok(not_measurable(format!(
                "this runtime's interpreter is the local CPython {} (python.source = local), not a python-build-standalone build: an update from the given archive's interpreter to it would replace every interpreter file, which no patch release does; build the runtime from the pinned archive first",
                current.version
            )));
        }
        ui::step("bench", "update (c): N with the older CPython build");
        let mut previous_plan = self.plan.clone();
        previous_plan.python = PythonChoice::Override {
            location: previous.location.clone(),
            sha256: runtime_spec::Sha256::parse(&previous.sha256)?.to_hex(),
        };
        previous_plan.build_dir = self.scratch.join("previous-python-build");
        let tree = python::prepare(&previous_plan)?;
        bytecode::compile_tree(&self.host_python, &tree.dir, layout::PYTHON_DIR)?;
        let interpreter = runtime_spec::launch::join_relative(
            tree.dir.parent().expect("the tree has a root"),
            self.plan.target.python_exe(),
        );
        let previous_version = python_version_of(&interpreter)?;
        if !is_earlier_patch(&previous_version, &current.version) {
            return Ok(not_measurable(format!(
                "{} holds CPython {previous_version}, not an earlier patch release of the runtime's CPython {}",
                previous.location, current.version
            )));
        }
        let info = PythonInfo {
            version: previous_version.clone(),
            build: pbs_build_of(&previous.location),
            source: PythonSource::Override,
            sha256: Some(runtime_spec::Sha256::parse(&previous.sha256)?),
        };
        let site_relative = Path::new(self.plan.target.site_packages())
            .strip_prefix(layout::PYTHON_DIR)
            .expect("site-packages is under python/")
            .to_path_buf();
        let mut swap_python = |dir: &Path| -> Result<()> {
            let python_dir = dir.join(layout::PYTHON_DIR);
            remove_all_but(&python_dir, &site_relative)?;
            fsutil::hardlink_tree(&tree.dir, &python_dir, &|relative| {
                !relative.starts_with(&site_relative)
            })
        };
        let older = self.derive(
            base,
            "c-n",
            &base.manifest.runtime_version,
            Some(info),
            &mut swap_python,
        )?;
        let template = self.scratch.join("installed-n-older-python");
        self.install_template(&older, &template)?;
        let next = self.derive(base, "c", next_version, None, &mut |_| Ok(()))?;
        let sides = self.measure(&template, &next, false)?;
        self.discard(&next)?;
        self.discard(&older)?;
        fsutil::remove_path(&template)?;
        Ok(Scenario {
            id: "c",
            title: format!(
                "a Python patch release (CPython {previous_version} → {})",
                current.version
            ),
            details: serde_json::json!({
                "from_python": previous_version,
                "to_python": current.version,
                "from_archive": previous.location,
            }),
            outcome: Ok((sides, Vec::new())),
        })
    }

    /// A synthetic N+1: `share` % of site-packages' bytes rewritten (whole files, picked in a
    /// fixed pseudo-random order), measured with the delta threshold lifted.
    fn synthetic_row(
        &self,
        base: &Runtime,
        template: &Path,
        next_version: &Version,
        share: u32,
    ) -> Result<CrossoverRow> {
        let prefix = format!("{}/", self.plan.target.site_packages());
        let mut candidates: Vec<&runtime_spec::FileEntry> = base
            .manifest
            .files
            .iter()
            .filter(|file| file.path.starts_with(&prefix))
            .collect();
        let site_packages_bytes: u64 = candidates.iter().map(|file| file.size).sum();
        candidates.sort_by_key(|file| file.sha256.to_hex());
        let wanted = site_packages_bytes * u64::from(share) / 100;
        let mut chosen = Vec::new();
        let mut changed_bytes = 0;
        for file in candidates {
            if changed_bytes >= wanted {
                break;
            }
            changed_bytes += file.size;
            chosen.push(file.path.clone());
        }
        ui::step(
            "bench",
            &format!(
                "update, synthetic: {share} % of site-packages rewritten ({} files, {})",
                chosen.len(),
                ui::human_bytes(changed_bytes)
            ),
        );
        let mut edit = |dir: &Path| -> Result<()> {
            for path in &chosen {
                let file = runtime_spec::launch::join_relative(dir, path);
                let mut bytes = fs_err::read(&file)?;
                // Whole new contents that compress like the old: the file's bytes with a
                // trailer, so its object is as large as a rewritten file's would be.
                bytes.extend_from_slice(format!("\n#bench-update {share}\n").as_bytes());
                replace_file(&file, &bytes)?;
            }
            Ok(())
        };
        let next = self.derive(
            base,
            &format!("synthetic-{share}"),
            next_version,
            None,
            &mut edit,
        )?;
        let sides = self.measure(template, &next, true)?;
        self.discard(&next)?;
        Ok(CrossoverRow {
            share,
            changed_files: chosen.len(),
            changed_bytes,
            site_packages_bytes,
            archive_size: sides.archive[0].transfer.download_bytes,
            sides,
        })
    }
}

/// The other release of (b)'s package, installed and compiled in a folder of its own.
struct OtherRelease {
    dir: PathBuf,
    version: String,
    installed_size: u64,
}

/// N's version with the patch number one higher.
fn next_patch(version: &Version) -> Version {
    let mut next = Version::new(version.major, version.minor, version.patch + 1);
    next.build = version.build.clone();
    next
}

/// Replaces a file of a derived runtime with new bytes and the same mode. Derived runtimes are
/// hard-link copies: writing into the file would change every runtime sharing it.
fn replace_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let permissions = fs_err::metadata(path).ok().map(|meta| meta.permissions());
    fsutil::remove_path(path)?;
    fs_err::write(path, bytes)?;
    if let Some(permissions) = permissions {
        fs_err::set_permissions(path, permissions)?;
    }
    Ok(())
}

/// The engine module (a) changes: the server module, else the largest `.py` of the runtime's
/// `app/` folder.
fn app_file_to_change(manifest: &Manifest) -> Result<String> {
    let preferred = format!("{}/app/server.py", layout::APP_DIR);
    let prefix = format!("{}/", layout::APP_DIR);
    let modules = || {
        manifest
            .files
            .iter()
            .filter(|file| file.path.starts_with(&prefix) && file.path.ends_with(".py"))
    };
    if modules().any(|file| file.path == preferred) {
        return Ok(preferred);
    }
    modules()
        .max_by_key(|file| file.size)
        .map(|file| file.path.clone())
        .context("the runtime has no .py file under app/")
}

/// A `.pyc` compiled by the bench.
struct Compiled {
    /// Where it is, in the work folder.
    compiled: PathBuf,
    /// Where it goes in the runtime (`/`-separated).
    relative: String,
}

/// Compiles the runtime's `relative` (`app/…/x.py`) as the app stage compiles the `app/`
/// folder ([`bytecode::compile_tree`] with the prefix `app`), in a work folder that holds
/// only that file, so the recorded path is the one a build records.
fn compile_like_app_stage(
    host_python: &Path,
    runtime: &Path,
    relative: &str,
    work: &Path,
) -> Result<Compiled> {
    let inner = relative
        .strip_prefix(&format!("{}/", layout::APP_DIR))
        .context("not under app/")?;
    fsutil::remove_path(work)?;
    let source = runtime_spec::launch::join_relative(work, inner);
    fs_err::create_dir_all(source.parent().expect("a file has a folder"))?;
    fs_err::copy(
        runtime_spec::launch::join_relative(runtime, relative),
        &source,
    )?;
    bytecode::compile_tree(host_python, work, layout::APP_DIR)?;
    let (folder, file) = inner.rsplit_once('/').unwrap_or(("", inner));
    let stem = file.strip_suffix(".py").context("not a .py file")?;
    let pyc_inner = if folder.is_empty() {
        format!("__pycache__/{stem}.cpython-312.pyc")
    } else {
        format!("{folder}/__pycache__/{stem}.cpython-312.pyc")
    };
    let compiled = runtime_spec::launch::join_relative(work, &pyc_inner);
    ensure!(
        compiled.is_file(),
        "compiling {relative} left no {}",
        compiled.display()
    );
    Ok(Compiled {
        compiled,
        relative: format!("{}/{pyc_inner}", layout::APP_DIR),
    })
}

/// `name`'s version pinned in a lock (`name==1.2.3 \`).
fn pinned_version(lock_text: &str, name: &str) -> Option<String> {
    lock_text.lines().find_map(|line| {
        let (pinned, rest) = line.split_once("==")?;
        (pinned.trim() == name).then(|| {
            rest.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        })
    })
}

/// The lock with `name`'s pin line naming `to` instead of `from`.
fn repin(lock_text: &str, name: &str, from: &str, to: &str) -> Option<String> {
    let old = format!("{name}=={from} ");
    lock_text
        .contains(&old)
        .then(|| lock_text.replacen(&old, &format!("{name}=={to} "), 1))
}

/// The project name as wheels spell it in `.dist-info` folder names.
fn wheel_name(name: &str) -> String {
    name.to_ascii_lowercase().replace(['-', '.'], "_")
}

/// `name`'s `.dist-info` folder in `site` and the version it names.
fn dist_info(site: &Path, name: &str) -> Result<Option<(PathBuf, String)>> {
    let wanted = wheel_name(name);
    for entry in fs_err::read_dir(site)? {
        let entry = entry?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = file_name.strip_suffix(".dist-info") else {
            continue;
        };
        let Some((project, version)) = stem.rsplit_once('-') else {
            continue;
        };
        if wheel_name(project) == wanted {
            return Ok(Some((entry.path(), version.to_owned())));
        }
    }
    Ok(None)
}

/// Removes `name`'s files from site-packages (its top-level folders and modules from its
/// `RECORD`, their bytecode, and its `.dist-info`); returns the bytes removed.
fn remove_package(site: &Path, name: &str) -> Result<u64> {
    let (info, _) = dist_info(site, name)?
        .with_context(|| format!("{name} is not installed in {}", site.display()))?;
    let record = fs_err::read_to_string(info.join("RECORD"))?;
    let mut top_level: Vec<String> = record
        .lines()
        .filter_map(|line| line.split(',').next())
        .map(|path| path.trim_matches('"'))
        .filter(|path| !path.is_empty() && !path.starts_with(".."))
        .filter_map(|path| path.split('/').next())
        .filter(|top| !top.ends_with(".dist-info") && *top != "__pycache__")
        .map(str::to_owned)
        .collect();
    top_level.sort();
    top_level.dedup();
    let mut doomed: Vec<PathBuf> = vec![info];
    for top in &top_level {
        doomed.push(site.join(top));
        if let Some(module) = top.strip_suffix(".py") {
            doomed.push(
                site.join("__pycache__")
                    .join(format!("{module}.cpython-312.pyc")),
            );
        }
    }
    let mut removed = 0;
    for path in doomed {
        removed += match fs_err::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => fsutil::tree_size(&path),
            Ok(meta) => meta.len(),
            Err(_) => continue,
        };
        fsutil::remove_path(&path)?;
    }
    Ok(removed)
}

/// Moves every child of `from` into `into`; a `__pycache__` folder's files join the one there.
fn move_children(from: &Path, into: &Path) -> Result<()> {
    for entry in fs_err::read_dir(from)? {
        let entry = entry?;
        let dest = into.join(entry.file_name());
        if entry.file_name() == "__pycache__" && dest.is_dir() {
            move_children(&entry.path(), &dest)?;
            continue;
        }
        ensure!(
            fs_err::symlink_metadata(&dest).is_err(),
            "{} is already there: another package ships the same name",
            dest.display()
        );
        fs_err::rename(entry.path(), &dest)?;
    }
    Ok(())
}

/// Removes everything below `root` except `keep` (a path relative to it) and the folders
/// leading to it.
fn remove_all_but(root: &Path, keep: &Path) -> Result<()> {
    let mut components = keep.components();
    let Some(first) = components.next() else {
        return Ok(());
    };
    let rest = components.as_path();
    for entry in fs_err::read_dir(root)? {
        let entry = entry?;
        if entry.file_name() != first.as_os_str() {
            fsutil::remove_path(&entry.path())?;
        } else if !rest.as_os_str().is_empty() {
            remove_all_but(&entry.path(), rest)?;
        }
    }
    Ok(())
}

/// `3.12.4` → `3.12`.
fn minor_of(version: &str) -> String {
    version.splitn(3, '.').take(2).collect::<Vec<_>>().join(".")
}

/// Whether CPython `older` is an earlier patch release of `newer`'s minor version.
fn is_earlier_patch(older: &str, newer: &str) -> bool {
    let patch = |version: &str| -> Option<u32> { version.splitn(3, '.').nth(2)?.parse().ok() };
    minor_of(older) == minor_of(newer)
        && matches!((patch(older), patch(newer)), (Some(a), Some(b)) if a < b)
}

/// The python-build-standalone release in an archive's name
/// (`cpython-3.12.3+20240415-…` → `20240415`), else `unknown`.
fn pbs_build_of(location: &str) -> String {
    location
        .rsplit('/')
        .next()
        .and_then(|name| name.split_once('+'))
        .and_then(|(_, rest)| rest.split('-').next())
        .filter(|build| !build.is_empty())
        .unwrap_or("unknown")
        .to_owned()
}

fn python_source_name(source: PythonSource) -> &'static str {
    match source {
        PythonSource::Pbs => "pbs",
        PythonSource::Override => "override",
        PythonSource::Local => "local",
    }
}

/// The CPython version an interpreter reports.
fn python_version_of(interpreter: &Path) -> Result<String> {
    let output = Command::new(interpreter)
        .args([
            "-I",
            "-c",
            "import platform; print(platform.python_version())",
        ])
        .output()
        .with_context(|| format!("running {}", interpreter.display()))?;
    ensure!(
        output.status.success(),
        "{} failed: {}",
        interpreter.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Disk used by everything below `dirs`, as `du` counts it: allocated blocks, each inode once
/// (hard links shared between the folders cost nothing twice).
#[cfg(unix)]
fn disk_used(dirs: &[&Path]) -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    for dir in dirs {
        for entry in walkdir::WalkDir::new(dir) {
            let entry = entry.with_context(|| format!("walking {}", dir.display()))?;
            let meta = entry.metadata()?;
            if seen.insert((meta.dev(), meta.ino())) {
                total += meta.blocks() * 512;
            }
        }
    }
    Ok(total)
}

#[cfg(not(unix))]
fn disk_used(_dirs: &[&Path]) -> Result<u64> {
    bail!("bench update counts hard-linked files by inode: run it on Linux or macOS")
}

/// Least squares of the delta's median time over the objects it fetched: (seconds per object,
/// seconds at none). `None` with fewer than two distinct counts.
fn per_object_seconds(rows: &[CrossoverRow]) -> Option<(f64, f64)> {
    let points: Vec<(f64, f64)> = rows
        .iter()
        .map(|row| {
            (
                row.sides.delta[0].transfer.fetched_files as f64,
                Sides::seconds(&row.sides.delta).median,
            )
        })
        .collect();
    least_squares(&points)
}

fn least_squares(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
    let (mx, my) = (sx / n, sy / n);
    let sxx: f64 = points.iter().map(|(x, _)| (x - mx).powi(2)).sum();
    if points.len() < 2 || sxx == 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let slope = sxy / sxx;
    Some((slope, my - slope * mx))
}

/// Where the delta time meets the archive time, on the planned fraction's axis.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Crossover {
    /// Delta is slower already at the smallest fraction measured.
    Below(f64),
    /// Linear between the two measured fractions around it.
    At(f64),
    /// Delta is faster up to the largest fraction measured.
    Above(f64),
}

impl Crossover {
    /// From `(fraction, delta seconds / archive seconds)` points sorted by fraction.
    fn of(points: &[(f64, f64)]) -> Option<Crossover> {
        let first = points.first()?;
        if first.1 > 1.0 {
            return Some(Crossover::Below(first.0));
        }
        for pair in points.windows(2) {
            let ((x0, r0), (x1, r1)) = (pair[0], pair[1]);
            if r1 > 1.0 {
                return Some(Crossover::At(x0 + (1.0 - r0) * (x1 - x0) / (r1 - r0)));
            }
        }
        Some(Crossover::Above(points.last()?.0))
    }

    fn describe(self) -> String {
        match self {
            Crossover::Below(x) => format!("below {x:.2}"),
            Crossover::At(x) => format!("{x:.2}"),
            Crossover::Above(x) => format!("above {x:.2} (delta faster at every share measured)"),
        }
    }

    fn json(self) -> serde_json::Value {
        match self {
            Crossover::Below(x) => serde_json::json!({ "below": x }),
            Crossover::At(x) => serde_json::json!({ "at": x }),
            Crossover::Above(x) => serde_json::json!({ "above": x }),
        }
    }

    /// The threshold this crossover argues for: the fraction past which a delta is slower than
    /// the archive, rounded down to 0.05; never below 0.05.
    fn threshold(self) -> f64 {
        let x = match self {
            Crossover::Below(x) | Crossover::At(x) | Crossover::Above(x) => x,
        };
        ((x * 20.0).floor() / 20.0).max(0.05)
    }
}

/// A goal's verdict as the tables print it.
fn met(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}

fn side_summary(runs: &[Run]) -> String {
    let transfer = &runs[0].transfer;
    let mut text = format!(
        "{} in {} requests, {}; {}",
        ui::human_bytes(Sides::served(runs)),
        runs[0].requests,
        Sides::seconds(runs).describe(),
        transfer.method
    );
    if transfer.method == updater::Method::Delta {
        text.push_str(&format!(
            ", {} files fetched, {} reused ({})",
            transfer.fetched_files,
            transfer.reused_files,
            ui::human_bytes(transfer.reused_bytes)
        ));
    }
    if let Some(reason) = &transfer.fallback {
        text.push_str(&format!(" (no delta: {reason})"));
    }
    text
}

fn transfer_json(transfer: &updater::Transfer) -> serde_json::Value {
    serde_json::json!({
        "method": transfer.method.to_string(),
        "download_bytes": transfer.download_bytes,
        "fetched_files": transfer.fetched_files,
        "reused_files": transfer.reused_files,
        "reused_bytes": transfer.reused_bytes,
        "fallback": transfer.fallback,
    })
}

fn side_json(runs: &[Run]) -> serde_json::Value {
    let seconds = Sides::seconds(runs);
    serde_json::json!({
        "served_bytes": Sides::served(runs),
        "served_bytes_per_run": runs.iter().map(|run| run.served).collect::<Vec<_>>(),
        "requests": runs[0].requests,
        "seconds_median": seconds.median,
        "seconds_min": seconds.min,
        "seconds_max": seconds.max,
        "seconds": runs.iter().map(|run| run.elapsed.as_secs_f64()).collect::<Vec<_>>(),
        "transfer": transfer_json(&runs[0].transfer),
        "disk_current_and_previous_bytes": runs[0].disk_both,
        "disk_current_bytes": runs[0].disk_current,
    })
}

/// The commit measured and the installer's files that differ from it (other work in
/// progress is measured with it).
fn source_tree(root: &Path) -> serde_json::Value {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let commit = git(&["rev-parse", "--short", "HEAD"]).map(|text| text.trim().to_owned());
    let dirty: Vec<String> = git(&[
        "status",
        "--porcelain",
        "--",
        "updater",
        "runtime-archive",
        "runtime-spec",
    ])
    .unwrap_or_default()
    .lines()
    .map(|line| line.get(3..).unwrap_or(line).to_owned())
    .collect();
    serde_json::json!({ "commit": commit, "uncommitted_installer_files": dirty })
}

#[allow(clippy::too_many_arguments)]
fn report(
    plan: &Plan,
    bench: &Bench,
    base: &Runtime,
    next_version: &Version,
    scenarios: &[Scenario],
    crossover: &[CrossoverRow],
    load: (Option<f64>, Option<f64>),
) -> Result<()> {
    let probe = compute::probe(&bench.scratch);
    let profile = if cfg!(debug_assertions) {
        "dev (installer crates runtime-archive + updater and dependencies at opt-level 2)"
    } else {
        "release"
    };
    let tree = source_tree(&plan.root);
    let version = &base.manifest.runtime_version;
    let load_text = |load: Option<f64>| load.map_or("?".into(), |load| format!("{load:.1}"));
    println!(
        "bench update ({} runtime {version} → {next_version}, {} runs each side, median [min–max], {} cores, 1-min load {} → {}, loopback server)",
        plan.target,
        bench.runs,
        cores(),
        load_text(load.0),
        load_text(load.1)
    );
    let mut scenario_json = Vec::new();
    for scenario in scenarios {
        let mut rows = Vec::new();
        let mut json = serde_json::json!({
            "scenario": scenario.id,
            "title": scenario.title,
            "details": scenario.details,
        });
        match &scenario.outcome {
            Err(reason) => {
                rows.push(("not measurable on this host".to_owned(), reason.to_owned()));
                json["measurable"] = false.into();
                json["reason"] = reason.as_str().into();
            }
            Ok((sides, goals)) => {
                rows.push(("delta".to_owned(), side_summary(&sides.delta)));
                rows.push((
                    "  of which the manifest".to_owned(),
                    ui::human_bytes(sides.manifest_packed),
                ));
                rows.push(("archive".to_owned(), side_summary(&sides.archive)));
                rows.push((
                    "delta / archive".to_owned(),
                    format!(
                        "bytes {:.4}×, time {:.2}×",
                        sides.bytes_ratio(),
                        sides.time_ratio()
                    ),
                ));
                rows.push((
                    "current + previous on disk after (delta / archive)".to_owned(),
                    format!(
                        "{} / {} (one runtime: {})",
                        ui::human_bytes(sides.delta[0].disk_both),
                        ui::human_bytes(sides.archive[0].disk_both),
                        ui::human_bytes(sides.delta[0].disk_current)
                    ),
                ));
                for goal in goals {
                    rows.push((
                        format!("goal: {}", goal.what),
                        format!("{} — {}", goal.value, met(goal.met)),
                    ));
                }
                json["measurable"] = true.into();
                json["delta"] = side_json(&sides.delta);
                json["archive"] = side_json(&sides.archive);
                json["manifest_packed_bytes"] = sides.manifest_packed.into();
                json["bytes_ratio"] = sides.bytes_ratio().into();
                json["time_ratio"] = sides.time_ratio().into();
                json["goals"] = goals
                    .iter()
                    .map(|goal| serde_json::json!({ "goal": goal.what, "value": goal.value, "met": goal.met }))
                    .collect();
            }
        }
        print_table(&format!("({}) {}", scenario.id, scenario.title), &rows);
        scenario_json.push(json);
    }

    let mut rows = vec![(
        "share".to_owned(),
        format!(
            "{:>7} {:>9} {:>8} {:>9} {:>9} {:>8} {:>8} {:>6} {:>11} {:>9}",
            "objects",
            "changed",
            "planned",
            "delta",
            "archive",
            "delta s",
            "arch. s",
            "ratio",
            LINKS[0].0,
            LINKS[1].0
        ),
    )];
    let mut points = Vec::new();
    let mut modelled_points: Vec<Vec<(f64, f64)>> = vec![Vec::new(); LINKS.len()];
    let mut rows_json = Vec::new();
    for row in crossover {
        let (delta_s, archive_s) = (
            Sides::seconds(&row.sides.delta).median,
            Sides::seconds(&row.sides.archive).median,
        );
        let ratio = delta_s / archive_s;
        points.push((row.planned_fraction(), ratio));
        let mut modelled_json = serde_json::Map::new();
        let mut modelled_text = Vec::new();
        for (at, (link, rate)) in LINKS.iter().enumerate() {
            let (delta_m, archive_m) = (
                row.modelled(&row.sides.delta, *rate),
                row.modelled(&row.sides.archive, *rate),
            );
            modelled_points[at].push((row.planned_fraction(), delta_m / archive_m));
            modelled_text.push(format!("{:.2}×", delta_m / archive_m));
            modelled_json.insert(
                (*link).to_owned(),
                serde_json::json!({ "delta_seconds": delta_m, "archive_seconds": archive_m, "time_ratio": delta_m / archive_m }),
            );
        }
        rows.push((
            format!("{} %", row.share),
            format!(
                "{:>7} {:>9} {:>8.2} {:>9} {:>9} {:>8.2} {:>8.2} {:>5.2}× {:>11} {:>9}",
                row.sides.delta[0].transfer.fetched_files,
                ui::human_bytes(row.changed_bytes),
                row.planned_fraction(),
                ui::human_bytes(Sides::served(&row.sides.delta)),
                ui::human_bytes(Sides::served(&row.sides.archive)),
                delta_s,
                archive_s,
                ratio,
                modelled_text[0],
                modelled_text[1]
            ),
        ));
        rows_json.push(serde_json::json!({
            "share_of_site_packages_bytes": f64::from(row.share) / 100.0,
            "changed_files": row.changed_files,
            "changed_bytes": row.changed_bytes,
            "site_packages_bytes": row.site_packages_bytes,
            "planned_fraction": row.planned_fraction(),
            "archive_bytes": row.archive_size,
            "delta": side_json(&row.sides.delta),
            "archive": side_json(&row.sides.archive),
            "time_ratio": ratio,
            "modelled_links": modelled_json,
        }));
    }
    let loopback = Crossover::of(&points);
    let modelled: Vec<Option<Crossover>> = modelled_points
        .iter()
        .map(|points| Crossover::of(points))
        .collect();
    let describe = |crossover: Option<Crossover>| crossover.map_or("—".into(), Crossover::describe);
    rows.push((
        "crossover, loopback (measured)".to_owned(),
        format!("planned fraction {}", describe(loopback)),
    ));
    for ((link, _), crossover) in LINKS.iter().zip(&modelled) {
        rows.push((
            format!("crossover, {link} (modelled)"),
            format!("planned fraction {}", describe(*crossover)),
        ));
    }
    let per_object = per_object_seconds(crossover);
    rows.push((
        "delta cost per fetched object (loopback)".to_owned(),
        per_object.map_or("—".into(), |(slope, fixed)| {
            format!(
                "{:.1} ms each on top of {:.2} s (least squares over the rows)",
                slope * 1e3,
                fixed
            )
        }),
    ));
    let recommended = modelled[0].map(Crossover::threshold);
    rows.push((
        "DELTA_MAX_FRACTION".to_owned(),
        format!(
            "{} in updater/; the {} crossover argues for {}",
            updater::DELTA_MAX_FRACTION,
            LINKS[0].0,
            recommended.map_or("—".into(), |value| format!("{value:.2}"))
        ),
    ));
    print_table(
        &format!(
            "crossover (SYNTHETIC: N+1 = N with a share of site-packages' bytes rewritten; the delta side's index declares the archive {LIFT}× its size so the delta runs at every share; planned = the delta download the updater plans / the archive, what DELTA_MAX_FRACTION bounds; modelled links add served bytes at that rate to the loopback time)"
        ),
        &rows,
    );

    let report = serde_json::json!({
        "bench": "update",
        "target": plan.target.name(),
        "runtime_version": version,
        "next_version": next_version,
        "runs": bench.runs,
        "installer_profile": profile,
        "source_tree": tree,
        "machine": {
            "os": probe.os.name,
            "cpu": probe.cpu.name,
            "cores": cores(),
            "ram_bytes": probe.ram_bytes,
            "load_average_1m_at_start": load.0,
            "load_average_1m_at_end": load.1,
            "server": "test-support's loopback HTTP server (one thread per connection, files read at each request)",
        },
        "runtime_unpacked_bytes": base.manifest.unpacked_size(),
        "scenarios": scenario_json,
        "crossover": {
            "synthetic": true,
            "what": "N+1 = N with this share of site-packages' bytes rewritten (whole files, fixed pseudo-random order); the delta side's index declares the archive LIFT times its size so the updater's threshold never sends it to the archive",
            "lift": LIFT,
            "rows": rows_json,
            "crossover_planned_fraction_loopback": loopback.map(Crossover::json),
            "crossover_planned_fraction_modelled": LINKS.iter().zip(&modelled).map(|((link, _), crossover)| ((*link).to_owned(), crossover.map(Crossover::json).unwrap_or_default())).collect::<serde_json::Map<_, _>>(),
            "delta_seconds_per_fetched_object": per_object.map(|(slope, _)| slope),
            "delta_fixed_seconds": per_object.map(|(_, fixed)| fixed),
            "delta_max_fraction": updater::DELTA_MAX_FRACTION,
            "recommended_threshold": recommended,
            "recommendation_rule": format!("the crossover on the modelled {} link, rounded down to 0.05: past it a delta is slower than the archive there; the loopback and 1 Gbit/s crossovers bound it for faster links", LINKS[0].0),
            "model": "modelled seconds = loopback median + served bytes at the link's rate; the archive path downloads before it extracts, so it is additive there, while the delta unpacks objects as they arrive, so the model overstates the delta's time",
        },
    });
    fs_err::create_dir_all(&plan.out_dir)?;
    let report_path = plan.out_dir.join("bench-update.json");
    fs_err::write(&report_path, serde_json::to_string_pretty(&report)? + "\n")?;
    println!("  report: {}", report_path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossovers_interpolate_between_the_measured_shares() {
        assert_eq!(Crossover::of(&[]), None);
        assert_eq!(
            Crossover::of(&[(0.1, 0.5), (0.3, 1.5)]),
            Some(Crossover::At(0.2))
        );
        assert_eq!(
            Crossover::of(&[(0.1, 1.2), (0.3, 1.5)]),
            Some(Crossover::Below(0.1))
        );
        assert_eq!(
            Crossover::of(&[(0.1, 0.2), (0.7, 0.9)]),
            Some(Crossover::Above(0.7))
        );
        assert_eq!(Crossover::At(0.63).threshold(), 0.6);
        let (slope, fixed) = least_squares(&[(0.0, 1.0), (10.0, 2.0), (20.0, 3.0)]).unwrap();
        assert!((slope - 0.1).abs() < 1e-9 && (fixed - 1.0).abs() < 1e-9);
        assert_eq!(least_squares(&[(1.0, 1.0)]), None);
        assert_eq!(Crossover::Below(0.02).threshold(), 0.05);
    }

    #[test]
    fn locks_are_read_and_repinned() {
        let lock = "click==8.5.1 \\\n    --hash=sha256:ab\nh11==0.16.0 \\\n";
        assert_eq!(pinned_version(lock, "click").as_deref(), Some("8.5.1"));
        assert_eq!(pinned_version(lock, "idna"), None);
        assert_eq!(
            repin(lock, "click", "8.5.1", "8.5.0").unwrap(),
            lock.replace("8.5.1", "8.5.0")
        );
        assert_eq!(repin(lock, "click", "9", "8"), None);
    }

    #[test]
    fn python_versions() {
        assert!(is_earlier_patch("3.12.3", "3.12.11"));
        assert!(!is_earlier_patch("3.12.11", "3.12.3"));
        assert!(!is_earlier_patch("3.11.9", "3.12.11"));
        assert_eq!(minor_of("3.12.4"), "3.12");
        assert_eq!(
            pbs_build_of("/x/cpython-3.12.3+20240415-x86_64-unknown-linux-gnu-install_only.tar.gz"),
            "20240415"
        );
        assert_eq!(pbs_build_of("python.tar.gz"), "unknown");
    }

    #[test]
    fn the_next_version_is_the_next_patch() {
        let version = runtime_spec::version::parse("0.1.0", "test").unwrap();
        assert_eq!(next_patch(&version).to_string(), "0.1.1");
    }
}
