//! `cargo xtask test`: every test suite of the repo, the one command README and CI run.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use runtime_spec::Target;

use crate::{fsutil, plan, tools, ui};

/// Which suites to run.
pub struct TestOptions {
    /// Also the slow end-to-end tests (full runtime builds, browsers).
    pub slow: bool,
}

/// Runs the Rust, Python and web suites in order; stops at the first failing suite.
pub fn test(options: &TestOptions) -> Result<()> {
    let root = plan::project_root();
    let cache_dir = plan::cache_dir()?;
    let venv_python = test_venv(&root, &cache_dir)?;

    ui::step("test", "pytest (apps/tokenizer-studio/api)");
    run_suite(
        Command::new(&venv_python)
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
            .current_dir(root.join("apps/tokenizer-studio/api")),
        "pytest",
    )?;

    let web_dir = root.join("apps/tokenizer-studio/web");
    let npm = tools::require(
        "npm",
        "install Node.js 20+ with npm (Debian/Ubuntu: `apt-get install nodejs npm`)",
    )?;
    ui::step("test", "web: npm ci, API types, build, Playwright E2E");
    run_suite(
        Command::new(&npm)
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&web_dir),
        "npm ci",
    )?;
    // Before the build: a stale src/api/schema.d.ts says so in one line, where tsc would
    // report its consequences.
    run_suite(
        Command::new(&npm)
            .args(["run", "test:api-types"])
            .current_dir(&web_dir)
            .env("TOKENIZER_STUDIO_PYTHON", &venv_python),
        "web API types",
    )?;
    run_suite(
        Command::new(&npm)
            .args(["run", "build"])
            .current_dir(&web_dir),
        "npm run build",
    )?;
    run_suite(
        Command::new(&npm)
            .args(["run", "test:e2e"])
            .current_dir(&web_dir)
            .env("TOKENIZER_STUDIO_PYTHON", &venv_python),
        "web E2E",
    )?;

    // The workflow lint's result does not depend on the host; it needs bash and python3.
    if cfg!(unix) {
        ui::step("test", "workflow lint (.github/lint-workflows.sh)");
        run_suite(
            Command::new("bash")
                .arg(root.join(".github/lint-workflows.sh"))
                .current_dir(&root),
            "workflow lint",
        )?;
    }

    ui::step(
        "test",
        &format!(
            "cargo test --workspace{}",
            if options.slow {
                " (with slow end-to-end tests)"
            } else {
                ""
            }
        ),
    );
    let cargo = std::env::var_os("CARGO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("cargo"));
    let slow_env = if options.slow { "1" } else { "0" };
    // The shell is tested in release mode: it reuses the release build the main job made, instead
    // of compiling Tauri's tree a second time, and its window tests drive the real binary.
    run_suite(
        Command::new(&cargo)
            .args(["test", "--workspace", "--exclude", "shell"])
            .current_dir(&root)
            .env("TOKENIZER_STUDIO_SLOW_TESTS", slow_env),
        "cargo test",
    )?;
    ui::step(
        "test",
        "shell: unit tests and Tauri window E2E (release build, Xvfb + tauri-driver)",
    );
    // The E2E tests sign their loopback indexes with the dev secret key and point the shell at
    // them with TOKENIZER_STUDIO_INDEX_URL.
    run_suite(
        Command::new(&cargo)
            .args(["test", "--release", "-p", "shell"])
            .current_dir(&root)
            .env("TOKENIZER_STUDIO_SLOW_TESTS", slow_env)
            .envs(dev_shell_env(&root)?),
        "cargo test -p shell",
    )?;
    ui::summary("all test suites passed");
    Ok(())
}

/// The build-time settings of a dev release's shell: the dev update key, the dev channel, no
/// release URL, and the release's `SOURCE_DATE_EPOCH` (cc-based build scripts such as ring's
/// and zstd-sys's rerun when it changes, and Tauri's tree above them with them). The shell
/// tests and `bench shell` build with them, so they share the main job's release build.
pub(crate) fn dev_shell_env(root: &Path) -> Result<[(&'static str, String); 4]> {
    let (dev_public_key, _) = crate::release::dev_keys(root)?;
    Ok([
        (crate::release::UPDATE_PUBKEY_ENV, dev_public_key),
        (crate::release::RELEASE_BASE_URL_ENV, String::new()),
        ("TOKENIZER_STUDIO_CHANNEL", "dev".to_owned()),
        (
            "SOURCE_DATE_EPOCH",
            plan::source_date_epoch(root).to_string(),
        ),
    ])
}

fn run_suite(command: &mut Command, name: &str) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("starting {name}"))?;
    if !status.success() {
        bail!("{name} failed ({status}); see its output above");
    }
    Ok(())
}

/// A CPython 3.12 venv with the host target's hashed lock plus the test tools, rebuilt when
/// the lock changes (`target/test-venv`); `cargo xtask tools venv` prints it for dev mode.
pub(crate) fn test_venv(root: &Path, cache_dir: &Path) -> Result<PathBuf> {
    let venv = root.join("target").join("test-venv");
    let python = tools::venv_python(&venv);
    let target = Target::host().context("tests run on a release target host")?;
    let lock = root.join("lockfiles").join(format!("{target}.txt"));
    let stamp_file = root.join("target").join("test-venv.stamp");
    // pip + setuptools: the packaging test builds the backend's wheel offline, as
    // `pip install ./apps/tokenizer-studio/api` would.
    let test_tools = ["pytest", "httpx", "pip", "setuptools"];
    let stamp = format!(
        "{}:{}:{}",
        fsutil::sha256_file(&lock)?,
        tools::UV_VERSION,
        test_tools.join(",")
    );
    if fsutil::stamp_matches(&stamp_file, &stamp) && python.is_file() {
        return Ok(python);
    }
    ui::step(
        "test",
        "creating the test venv (CPython 3.12 + the hashed lock + pytest)",
    );
    let host_python = tools::host_python312()?;
    let uv = tools::uv(cache_dir)?;
    fsutil::remove_path(&venv)?;
    tools::lock_venv(
        &uv,
        &host_python,
        &venv,
        &lock,
        &cache_dir.join("uv"),
        &test_tools,
    )?;
    fsutil::write_stamp(&stamp_file, &stamp)?;
    Ok(python)
}
