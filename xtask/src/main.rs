//! The release toolchain: `cargo xtask <command>` builds, verifies and packages the apps of
//! `apps/`, each described by its `app.toml`.

mod app;
mod assemble;
mod bench;
mod bench_corpus;
mod bench_install;
mod bench_report;
mod bench_shell;
mod bench_update;
mod bench_variants;
mod bytecode;
mod ci_installed;
mod doctor;
mod fsutil;
mod lock;
mod package;
mod plan;
mod python;
mod release;
mod release_site;
mod sign;
mod smoke;
mod test;
mod tidy;
mod tools;
mod ui;
mod verify;
mod web;
mod wheels;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use runtime_spec::{Accelerator, Profile, Target, Variant};

use crate::plan::{Channel, Plan, PlanInput};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Build, verify and package the apps of apps/ as desktop products",
    version
)]
struct Cli {
    /// Only warnings, errors and the final summary.
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Also the commands run and per-stage detail.
    #[arg(long, short, global = true)]
    verbose: bool,
    /// The app to build (a folder of `apps/`); default: the only app, or the workspace's
    /// `[workspace.metadata.apps] default`.
    #[arg(long, global = true, value_name = "ID")]
    app: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Assemble `dist/runtime-<target>/` and its `.tar.zst` archive (docs/runtime-contract.md).
    Runtime(RuntimeArgs),
    /// Everything a release needs, into `dist/<version>/`: runtime, smoke, shell, installers,
    /// signatures, SBOM, checksums, signed release index, updater manifest.
    Release(ReleaseArgs),
    /// Make a minisign key pair for the release index and the shell updater.
    Keygen {
        /// Folder for `minisign.pub` and `minisign.key` (never inside the repository).
        #[arg(long)]
        out: PathBuf,
    },
    /// Release index operations.
    Index {
        #[command(subcommand)]
        command: IndexCommand,
    },
    /// Regenerate `lockfiles/<variant>.txt` for every runtime variant, or check them offline.
    Lock {
        /// Fail when a lock is missing or stale instead of regenerating it (offline).
        #[arg(long)]
        check: bool,
        /// Lock only this variant (`linux-x64`, `linux-x64-torch-cuda`, …); repeatable.
        #[arg(long = "variant", value_parser = parse_variant)]
        variants: Vec<Variant>,
        /// `<variant>=<url>`: the package index of a variant the default index does not build
        /// (`linux-x64-torch-cpu`, `windows-x64-torch-cuda`); repeatable. Searched before the
        /// default index; never written into a lock.
        #[arg(long = "extra-index", value_parser = parse_extra_index, value_name = "VARIANT=URL")]
        extra_indexes: Vec<(Variant, String)>,
    },
    /// Smoke-test a runtime: extract, start through the supervisor, train, restart, SIGKILL.
    Smoke {
        /// A runtime folder or archive (default: the host target's archive in `dist/`).
        #[arg(long)]
        runtime: Option<PathBuf>,
    },
    /// Sign (and notarize when configured) every `.app` in a folder (cargo-packager's hook).
    #[command(hide = true)]
    SignMacosBundles {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, value_parser = plan::channel_arg())]
        channel: Channel,
        #[arg(long)]
        source_date_epoch: u64,
    },
    /// The supervising process the smoke tests SIGKILL (internal).
    #[command(hide = true)]
    SmokeSupervise {
        #[arg(long)]
        runtime: PathBuf,
        #[arg(long)]
        data: PathBuf,
    },
    /// Install the release's thin and offline installers the way users do, on this OS, and
    /// prove the installed app: its `--self-test`, a hard kill of the shell, a close like a
    /// user's, its own shell update, and uninstalling (the data folder stays).
    CiInstalled {
        /// The app's release (default: `dist/<version>/`, and `dist/<version>/<id>/` for an app
        /// other than the default one, from `cargo xtask release --bundle both`).
        #[arg(long)]
        release_dir: Option<PathBuf>,
        /// Where `summary.json`, the self-test reports and the app's output go (default:
        /// `target/ci-installed/`).
        #[arg(long)]
        report_dir: Option<PathBuf>,
    },
    /// Check the prerequisites of `cargo xtask release` without changing anything.
    Doctor {
        /// macos-arm64, windows-x64 or linux-x64 (default: this host).
        #[arg(long, value_parser = parse_target)]
        target: Option<Target>,
    },
    /// Benchmarks: `runtime` (build speed, sizes, zstd levels; with `--profile`, the variants
    /// side by side), `startup` (cold start), `install` (first-run install from a loopback
    /// server vs `tar --zstd -xf`), `update` (a runtime update as a delta vs the archive),
    /// `shell` (release binary size, launch → UI ready, idle memory, beside a minimal Tauri
    /// app), `corpus` (engine memory while a large corpus uploads and trains), `all` (every
    /// bench, one report: `bench/report.md` and `bench/report.json`).
    Bench {
        #[arg(value_enum)]
        what: BenchKind,
        /// Measurements per case for `startup` (default 7), `install` (default 5), `update`
        /// (updates per side and scenario, default 5), `shell` (launches, default 5) and
        /// `runtime --profile` (cold starts, default 5); the median is reported.
        #[arg(long)]
        runs: Option<usize>,
        /// `runtime`: measure every variant of these profiles this host builds (`base`,
        /// `torch`, `base,torch`), side by side: wheel bytes, site-packages, runtime and archive
        /// sizes, cold assembly, first-run install, cold start; writes
        /// `bench-runtime-variants.json`. Without it: the base runtime's build speed and zstd
        /// levels.
        #[arg(long = "profile", value_parser = parse_profile, value_delimiter = ',')]
        profiles: Vec<Profile>,
        /// `runtime --profile`: the variants of another target (sizes and assembly only; its
        /// install and start need its own host).
        #[arg(long, value_parser = parse_target, requires = "profiles")]
        target: Option<Target>,
        /// Output folder of the benchmarked builds (default: `dist/`); `install` reads the
        /// runtime archive from it and writes `bench-install.json` into it.
        #[arg(long)]
        out_dir: Option<PathBuf>,
        /// `shell`: the runtime folder the shell starts (default: the host target's runtime in
        /// the output folder, as `cargo xtask runtime` makes it).
        #[arg(long)]
        runtime: Option<PathBuf>,
        /// `shell`: measure the existing release binary instead of building it first.
        #[arg(long)]
        no_build: bool,
        /// `update`: a python-build-standalone archive (path or URL) of an earlier CPython
        /// patch release of the runtime's minor version; scenario (c) updates from a runtime
        /// built with it to the runtime's own interpreter.
        #[arg(long, requires = "python_sha256_previous")]
        python_archive_previous: Option<String>,
        /// sha256 of `--python-archive-previous`.
        #[arg(long, requires = "python_archive_previous")]
        python_sha256_previous: Option<String>,
        /// A smoke run: one measurement per case and the fewest cases that still run every
        /// code path of the bench. Its figures are not measurements; `all --quick` writes its
        /// report under `target/bench/quick/`.
        #[arg(long)]
        quick: bool,
        /// `all`: where `report.md` and `report.json` go (default `bench/`, or
        /// `target/bench/quick/` with `--quick`).
        #[arg(long)]
        report_dir: Option<PathBuf>,
    },
    /// The installer process `bench install` measures (internal).
    #[command(hide = true, name = bench_install::CHILD_COMMAND)]
    BenchInstallChild {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        index_url: String,
        #[arg(long)]
        public_key_file: PathBuf,
        #[arg(long)]
        channel: String,
    },
    /// Runs one command and measures it: wall clock and peak RSS (internal, `bench install`).
    #[command(hide = true, name = bench_install::MEASURE_COMMAND)]
    BenchMeasure {
        /// Where to write `<elapsed ns> <peak RSS KiB>`.
        #[arg(long)]
        report: PathBuf,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<std::ffi::OsString>,
    },
    /// Run every test suite: pytest, the web build and Playwright E2E, cargo test.
    Test {
        /// Skip the slow end-to-end tests (full runtime builds).
        #[arg(long)]
        fast: bool,
        /// Run clippy in the tidy step too (`cargo xtask tidy` always does; it costs a
        /// type-check of the whole workspace that the tests share nothing with).
        #[arg(long)]
        clippy: bool,
        /// Fail when a test skips that this file (`<suite>: <pattern>` lines, `*` wildcards)
        /// does not list: a CI job names the skips its OS expects (`.ci/allowed-skips-*.txt`).
        #[arg(long, value_name = "FILE")]
        allowed_skips: Option<PathBuf>,
    },
    /// Lint the whole tree: rustfmt, clippy, ruff, eslint + tsc, lock headers and the source
    /// rules (doc lines, markers, `dead_code` reasons, no references outside the repo).
    Tidy {
        /// Skip `cargo clippy --workspace --all-targets`, the slow check.
        #[arg(long)]
        no_clippy: bool,
    },
    /// List the workspace's apps, the default one first, one line each: id, the app's folder in
    /// the release folder (`.` for the default app, else its id) and product name, separated by
    /// tabs (what the release workflow loops over).
    Apps,
    /// Copy the shell E2E's screenshots (`target/shell-e2e/`) of the main screen and every
    /// failure screen it drives into `docs/screenshots/`, so the docs show the screens as built.
    Screenshots,
    /// Print the path of a build tool, bootstrapping the pinned uv when needed.
    Tools {
        #[arg(value_enum)]
        tool: ToolName,
    },
    /// Check a runtime folder or archive against its manifest; names every bad file.
    Verify {
        /// A runtime folder or a `.tar.zst` archive.
        path: PathBuf,
    },
}

#[derive(Subcommand)]
enum IndexCommand {
    /// Merge per-target `runtime-<channel>-<target>.fragment.json` files into one signed index.
    Merge {
        #[arg(long, value_parser = plan::channel_arg())]
        channel: Channel,
        /// Output folder for `runtime-<channel>.json` and its `.minisig`.
        #[arg(long)]
        out: PathBuf,
        fragments: Vec<PathBuf>,
    },
    /// Check a release folder as it is to be published (`dist/<version>/`): every app's index
    /// verifies with the `minisign.pub` beside it, every object its manifests name is in the
    /// object store it names and unpacks to its file, the registry's apps are all there, and
    /// the store holds nothing else. Prints the objects the apps share.
    Check {
        /// The release folder: the default app's release at its top, the others' in `<id>/`
        /// (default: `dist/<version>/`).
        dir: Option<PathBuf>,
    },
}

#[derive(Args)]
struct ReleaseArgs {
    #[command(flatten)]
    runtime: RuntimeArgs,
    /// thin: the installer carries the shell only; full: also the runtime archive (published
    /// as `…-offline…`); both: the two side by side.
    #[arg(long, value_enum, default_value = "thin")]
    bundle: package::Bundle,
    /// Installer formats to build (deb, appimage, app, dmg, nsis, wix); an explicit format that
    /// cannot be built fails the release. Default: what this host builds offline.
    #[arg(long = "format")]
    formats: Vec<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum BenchKind {
    /// Cold, warm, no-op and one-file rebuilds; sizes; zstd levels. With `--profile`: every
    /// variant of the profiles side by side (wheels, sizes, assembly, install, cold start).
    Runtime,
    /// Spawn → /health 200 of the runtime vs the import floor vs PyInstaller.
    Startup,
    /// First-run install (signed index → download → extract → verify → settle) from a
    /// loopback server vs `tar --zstd -xf` of the same archive; peak RSS of both.
    Install,
    /// A runtime update N → N+1 as a delta from the object store vs the full archive, from the
    /// same installed N: one app file, one wheel, a Python patch release, and a synthetic
    /// crossover; writes `bench-update.json`.
    Update,
    /// The shell's release binary size (goal ≤ 12 MB), launch → UI ready and idle memory by
    /// process, beside a minimal Tauri v2 app of the same profile (Linux).
    Shell,
    /// The engine's peak memory and time while a large corpus (up to 2 GiB) uploads and a
    /// tokenizer trains on it: the largest beside the smallest, with a closed vocabulary and
    /// with a long tail of new words (Linux; `all` uses 32 and 256 MiB).
    Corpus,
    /// Every bench above in one run, each figure beside its anchor; writes `bench/report.md`
    /// and `bench/report.json`.
    All,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ToolName {
    /// The host CPython 3.12 used for bytecode and resolution.
    Python,
    /// The pinned uv.
    Uv,
    /// The dev venv's Python (`target/test-venv`: CPython 3.12 + the host lock + pytest),
    /// created or refreshed when the lock changed; the one the tests and dev mode use.
    Venv,
}

#[derive(Args)]
struct RuntimeArgs {
    /// macos-arm64, windows-x64 or linux-x64 (default: this host).
    #[arg(long, value_parser = parse_target)]
    target: Option<Target>,
    /// base (the app's dependencies) or torch (plus torch). `release` takes a list
    /// (`--profile base,torch`) and puts every variant of them into one signed index.
    #[arg(
        long = "profile",
        value_parser = parse_profile,
        value_delimiter = ',',
        default_value = "base"
    )]
    profiles: Vec<Profile>,
    /// cpu, cuda or mps (default: what the default package index builds for the target and
    /// profile: linux-x64 torch → cuda, macos-arm64 torch → mps, else cpu; `release` builds
    /// every variant of the profiles this host can lock, extra-index ones when configured).
    #[arg(long, value_parser = parse_accelerator)]
    accelerator: Option<Accelerator>,
    /// Release channel; alpha, beta and stable refuse a local Python.
    #[arg(long, value_parser = plan::channel_arg(), default_value = "dev")]
    channel: Channel,
    /// Use this python-build-standalone archive (path or URL) instead of the pinned one.
    #[arg(long, requires = "python_sha256")]
    python_archive: Option<String>,
    /// sha256 of `--python-archive`.
    #[arg(long, requires = "python_archive")]
    python_sha256: Option<String>,
    /// Output folder (default: `dist/`).
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// zstd level of the archive.
    #[arg(long)]
    zstd_level: Option<i32>,
    /// Print the plan and exit without building (a release: its whole configuration, secrets
    /// shown as set or unset).
    #[arg(long)]
    dry_run: bool,
    /// Skip the smoke tests that follow a host-target build.
    #[arg(long)]
    no_smoke: bool,
    /// Check that every tool the build needs is present, then exit.
    #[arg(long)]
    preflight: bool,
}

fn parse_target(name: &str) -> Result<Target, String> {
    name.parse()
        .map_err(|error: runtime_spec::SpecError| error.to_string())
}

fn parse_profile(name: &str) -> Result<Profile, String> {
    name.parse()
        .map_err(|error: runtime_spec::variant::UnknownProfile| error.to_string())
}

fn parse_accelerator(name: &str) -> Result<Accelerator, String> {
    name.parse()
        .map_err(|error: runtime_spec::variant::UnknownAccelerator| error.to_string())
}

fn parse_variant(name: &str) -> Result<Variant, String> {
    name.parse()
        .map_err(|error: runtime_spec::variant::UnknownVariantName| error.to_string())
}

fn parse_extra_index(text: &str) -> Result<(Variant, String), String> {
    let (name, url) = text
        .split_once('=')
        .ok_or_else(|| format!("expected <variant>=<url>, got `{text}`"))?;
    let variant = parse_variant(name)?;
    if !variant.needs_extra_index() {
        return Err(format!(
            "{variant} is built from the default package index: it takes no extra index"
        ));
    }
    if url.trim().is_empty() {
        return Err(format!("--extra-index {variant}= needs a URL"));
    }
    Ok((variant, url.trim().to_owned()))
}

fn main() {
    let cli = Cli::parse();
    ui::init(if cli.quiet {
        ui::Verbosity::Quiet
    } else if cli.verbose {
        ui::Verbosity::Verbose
    } else {
        ui::Verbosity::Normal
    });
    if let Err(error) = run(cli.command, cli.app.as_deref()) {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

fn run(command: Command, app_id: Option<&str>) -> Result<()> {
    match command {
        Command::Runtime(args) => runtime(args, app_id),
        Command::Release(args) => {
            let release = plan::ReleasePlan::resolve(plan::ReleaseInput {
                build: plan_input(&args.runtime, app_id),
                profiles: &args.runtime.profiles,
                bundle: args.bundle,
                formats: &args.formats,
                skip_smoke: args.runtime.no_smoke,
            })?;
            if args.runtime.dry_run {
                print!("{release}");
                return Ok(());
            }
            release::release(&release)
        }
        Command::Keygen { out } => release::keygen(&out, plan::minisign_password().as_ref()),
        Command::Index {
            command:
                IndexCommand::Merge {
                    channel,
                    out,
                    fragments,
                },
        } => release::merge_index(channel, &out, &fragments, &plan::index_signing_key()?),
        Command::Index {
            command: IndexCommand::Check { dir },
        } => release_site::check_command(dir.unwrap_or_else(|| {
            plan::project_root()
                .join("dist")
                .join(plan::workspace_version().to_string())
        })),
        Command::Lock {
            check,
            variants,
            extra_indexes,
        } => {
            let root = plan::project_root();
            let app = plan::App::load(&root, app_id)?;
            if check {
                lock::check(&app)
            } else {
                let mut configured = plan::configured_extra_indexes(&plan::var);
                configured.extend(extra_indexes);
                lock::lock(&lock::LockOptions {
                    app: &app,
                    cache_dir: &plan::cache_dir()?,
                    only: variants,
                    extra_indexes: configured,
                })
            }
        }
        Command::Verify { path } => verify::verify(&path),
        Command::Smoke { runtime } => {
            let root = plan::project_root();
            let app = plan::App::load(&root, app_id)?;
            let runtime = match runtime {
                Some(runtime) => runtime,
                None => smoke::default_runtime(
                    &app,
                    &app.subdir(&root.join("dist")),
                    &plan::workspace_version(),
                )?,
            };
            smoke::smoke(&app, &runtime)
        }
        Command::SignMacosBundles {
            dir,
            channel,
            source_date_epoch,
        } => sign::sign_macos_bundles(
            &dir,
            channel,
            source_date_epoch,
            &plan::Signing::from_env(Target::MacosArm64)?,
        ),
        Command::SmokeSupervise { runtime, data } => smoke::supervise(&runtime, &data),
        Command::CiInstalled {
            release_dir,
            report_dir,
        } => ci_installed::ci_installed(&ci_installed::Options {
            app: plan::App::load(&plan::project_root(), app_id)?,
            release_dir,
            report_dir,
        }),
        Command::Doctor { target } => {
            let target = match target {
                Some(target) => target,
                None => {
                    Target::host().context("this host is not a release target: pass --target")?
                }
            };
            doctor::doctor(target, &plan::cache_dir()?)
        }
        Command::Bench {
            what,
            runs,
            profiles,
            target,
            out_dir,
            runtime,
            no_build,
            python_archive_previous,
            python_sha256_previous,
            quick,
            report_dir,
        } => {
            let previous_python = python_archive_previous
                .zip(python_sha256_previous)
                .map(|(location, sha256)| bench_update::PreviousPython { location, sha256 });
            if previous_python.is_some() {
                anyhow::ensure!(
                    matches!(what, BenchKind::Update),
                    "--python-archive-previous and --python-sha256-previous are options of `cargo xtask bench update`"
                );
            }
            let update_options = bench_update::UpdateBenchOptions {
                runs: runs.unwrap_or(if quick { 1 } else { 5 }),
                previous_python,
                quick,
            };
            if matches!(what, BenchKind::Update) {
                bench_update::check_options(&update_options)?;
            }
            if !profiles.is_empty() {
                anyhow::ensure!(
                    matches!(what, BenchKind::Runtime),
                    "--profile and --target are options of `cargo xtask bench runtime`"
                );
                return bench_variants::variants(&bench_variants::VariantsOptions {
                    target,
                    profiles,
                    runs: runs.unwrap_or(5),
                    out_dir,
                });
            }
            anyhow::ensure!(
                app_id.is_none(),
                "the benches measure the default app against its anchors; --app is not one of their options"
            );
            let plan = Plan::new(PlanInput {
                app: None,
                target: None,
                profile: Profile::Base,
                accelerator: None,
                channel: Channel::Dev,
                python_archive: None,
                python_sha256: None,
                out_dir: out_dir.as_deref(),
                zstd_level: None,
            })?;
            let shell_options = bench_shell::ShellBenchOptions {
                runs: runs.unwrap_or(if quick { 1 } else { 5 }),
                runtime: runtime.unwrap_or_else(|| plan.runtime_dir.clone()),
                build: !no_build,
                quick,
            };
            let figures = match what {
                BenchKind::Runtime => bench::runtime(&plan, quick)?,
                BenchKind::Startup => bench::startup(&plan, runs.unwrap_or(7))?,
                BenchKind::Install => bench_install::install(&plan, runs.unwrap_or(5))?,
                BenchKind::Update => bench_update::update(&plan, &update_options)?,
                BenchKind::Shell => bench_shell::shell(&plan, &shell_options)?,
                BenchKind::Corpus => bench_corpus::corpus(
                    &plan,
                    if quick {
                        bench_corpus::Scale::Quick
                    } else {
                        bench_corpus::Scale::Full
                    },
                )?,
                BenchKind::All => {
                    let runs_or = |full: usize| runs.unwrap_or(if quick { 1 } else { full });
                    let update_options = bench_update::UpdateBenchOptions {
                        runs: runs_or(5),
                        quick,
                        ..update_options
                    };
                    let plan = &plan;
                    let benches: Vec<(&'static str, bench_report::BenchFn<'_>)> = vec![
                        ("runtime", Box::new(move || bench::runtime(plan, quick))),
                        (
                            "startup",
                            Box::new(move || bench::startup(plan, runs_or(7))),
                        ),
                        (
                            "install",
                            Box::new(move || bench_install::install(plan, runs_or(5))),
                        ),
                        (
                            "update",
                            Box::new(move || bench_update::update(plan, &update_options)),
                        ),
                        (
                            "shell",
                            Box::new(move || bench_shell::shell(plan, &shell_options)),
                        ),
                        (
                            "corpus",
                            Box::new(move || {
                                let scale = if quick {
                                    bench_corpus::Scale::Quick
                                } else {
                                    bench_corpus::Scale::Report
                                };
                                bench_corpus::corpus(plan, scale)
                            }),
                        ),
                    ];
                    let report_dir = report_dir
                        .unwrap_or_else(|| bench_report::default_report_dir(&plan.root, quick));
                    return bench_report::all(plan, quick, &report_dir, benches);
                }
            };
            drop(figures);
            Ok(())
        }
        Command::BenchInstallChild {
            data_dir,
            index_url,
            public_key_file,
            channel,
        } => bench_install::child(&data_dir, &index_url, &public_key_file, &channel),
        Command::BenchMeasure { report, command } => bench_install::measure(&report, &command),
        Command::Test {
            fast,
            clippy,
            allowed_skips,
        } => test::test(&test::TestOptions {
            slow: !fast,
            clippy,
            allowed_skips,
        }),
        Command::Screenshots => screenshots(&plan::project_root()),
        Command::Apps => {
            for app in plan::App::all(&plan::project_root())? {
                let folder = if app.is_default { "." } else { &app.names.id };
                println!(
                    "{}\t{folder}\t{}",
                    app.names.id, app.descriptor.product_name
                );
            }
            Ok(())
        }
        Command::Tidy { no_clippy } => tidy::tidy(&tidy::TidyOptions { clippy: !no_clippy }),
        Command::Tools { tool } => {
            let path = match tool {
                ToolName::Python => tools::host_python312()?,
                ToolName::Uv => tools::uv(&plan::cache_dir()?)?,
                ToolName::Venv => test::test_venv(&plan::project_root(), &plan::cache_dir()?)?,
            };
            println!("{}", path.display());
            Ok(())
        }
    }
}

fn plan_input<'a>(args: &'a RuntimeArgs, app: Option<&'a str>) -> PlanInput<'a> {
    PlanInput {
        app,
        target: args.target,
        profile: args.profiles.first().copied().unwrap_or_default(),
        accelerator: args.accelerator,
        channel: args.channel,
        python_archive: args.python_archive.as_deref(),
        python_sha256: args.python_sha256.as_deref(),
        out_dir: args.out_dir.as_deref(),
        zstd_level: args.zstd_level,
    }
}

fn plan_of(args: &RuntimeArgs, app: Option<&str>) -> Result<Plan> {
    Plan::new(plan_input(args, app))
}

fn runtime(args: RuntimeArgs, app: Option<&str>) -> Result<()> {
    let started = Instant::now();
    if args.profiles.len() != 1 {
        anyhow::bail!("`cargo xtask runtime` builds one profile at a time; `cargo xtask release --profile base,torch` builds several into one release");
    }
    let plan = plan_of(&args, app)?;
    if args.dry_run {
        print!("{plan}");
        let buildable: Vec<String> =
            plan::variants_to_build(plan.target, &Profile::ALL, &plan::var)
                .into_iter()
                .map(|variant| variant.name())
                .collect();
        println!("buildable here:    {}", buildable.join(", "));
        return Ok(());
    }
    if args.preflight {
        assemble::preflight(&plan)?;
        ui::summary("preflight ok: every tool the build needs is present");
        return Ok(());
    }
    let output = assemble::runtime(&plan)?;
    if Some(plan.target) == Target::host() && !args.no_smoke && output.rebuilt {
        // A runtime that fails its smoke tests must not count as up to date next time.
        smoke::smoke(&plan.app, &output.archive).inspect_err(|_| assemble::invalidate(&plan))?;
    }
    ui::summary(&format!(
        "{} runtime {} {} -> {} ({} unpacked), {} ({}, sha256 {}) in {:.1}s",
        if output.rebuilt {
            "built"
        } else {
            "up-to-date"
        },
        plan.version,
        plan.variant,
        output.runtime_dir.display(),
        ui::human_bytes(output.unpacked_size),
        output.archive.display(),
        ui::human_bytes(output.archive_size),
        &output.archive_sha256[..output.archive_sha256.len().min(12)],
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// The shell E2E's screenshot → its name in `docs/screenshots/`. Every failure screen an E2E
/// test drives is here, captured with its details collapsed, as a user first sees it.
const SCREENSHOTS: [(&str, &str); 12] = [
    ("ui-trained-tokenizer.png", "shell-trained-tokenizer.png"),
    ("launcher-two-apps.png", "shell-launcher.png"),
    (
        "error-engine-exited-collapsed.png",
        "shell-error-engine-exited.png",
    ),
    ("error-no-runtime.png", "shell-error-no-engine.png"),
    (
        "error-engine-did-not-answer.png",
        "shell-error-engine-did-not-answer.png",
    ),
    (
        "error-incompatible-computer.png",
        "shell-error-incompatible-computer.png",
    ),
    (
        "variants-rtx-4090-gpu-failed-collapsed.png",
        "shell-error-gpu-engine-failed.png",
    ),
    (
        "error-not-enough-space.png",
        "shell-error-not-enough-space.png",
    ),
    (
        "error-download-failed.png",
        "shell-error-download-failed.png",
    ),
    (
        "error-signature-refused.png",
        "shell-error-signature-refused.png",
    ),
    (
        "thin-first-run-installing.png",
        "shell-first-run-installing.png",
    ),
    ("thin-rollback-notice.png", "shell-rollback-notice.png"),
];

fn screenshots(root: &std::path::Path) -> Result<()> {
    let from = root.join("target").join("shell-e2e");
    let to = root.join("docs").join("screenshots");
    let missing: Vec<&str> = SCREENSHOTS
        .iter()
        .map(|(shot, _)| *shot)
        .filter(|shot| !from.join(shot).is_file())
        .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "no {} in {}: run the shell E2E first (`cargo xtask test`, or `cargo test --release -p shell --test it -- e2e updates` with its variables)",
        missing.join(", "),
        from.display()
    );
    for (shot, name) in SCREENSHOTS {
        fs_err::copy(from.join(shot), to.join(name))?;
        ui::step("screenshots", &format!("{name} <- {shot}"));
    }
    Ok(())
}
