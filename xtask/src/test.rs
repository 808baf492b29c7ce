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
    /// Tidy with clippy too: it type-checks the whole workspace, the Tauri tree included, a
    /// build the tests share nothing with (`cargo xtask tidy` always runs it).
    pub clippy: bool,
    /// An allow-list of the skips this job expects (`.ci/allowed-skips-<os>.txt`): any other
    /// skipped test fails the run. Without it skips are only counted and named.
    pub allowed_skips: Option<PathBuf>,
}

/// Runs the Rust, Python and web suites in order; stops at the first failing suite. Ends with
/// one line per suite: passed, failed, and skipped with each skip's reason.
pub fn test(options: &TestOptions) -> Result<()> {
    let root = plan::project_root();
    let cache_dir = plan::cache_dir()?;
    let venv_python = test_venv(&root, &cache_dir)?;
    let mut report = Report::new(&root)?;

    // First: the lints take seconds, the suites minutes.
    ui::step(
        "test",
        if options.clippy {
            "tidy"
        } else {
            "tidy (without clippy; `--clippy` adds it)"
        },
    );
    crate::tidy::tidy(&crate::tidy::TidyOptions {
        clippy: options.clippy,
    })?;

    let apps = plan::App::all(&root)?;
    // Every engine's suite and the shared engine kit's; the default app's suite keeps the name
    // the allowed-skips lists use.
    let mut python_suites: Vec<(String, PathBuf)> = apps
        .iter()
        .map(|app| {
            let name = if app.is_default {
                "pytest".to_owned()
            } else {
                format!("pytest {}", app.names.id)
            };
            (name, app.api_dir())
        })
        .collect();
    python_suites.push((
        "pytest enginekit".to_owned(),
        root.join(plan::ENGINEKIT_DIR),
    ));
    for (name, dir) in &python_suites {
        ui::step("test", &format!("{name} ({})", dir.display()));
        // `-rs`: one line per skip with its reason, for the summary.
        report.run(
            Command::new(&venv_python)
                .args(["-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"])
                .current_dir(dir),
            name,
            Format::Pytest,
        )?;
    }

    let npm = tools::require(
        "npm",
        "install Node.js 20+ with npm (Debian/Ubuntu: `apt-get install nodejs npm`)",
    )?;
    for app in apps.iter().filter(|app| app.web_has_build()) {
        let web_dir = app.web_dir();
        let python_var = app.names.var(runtime_spec::env::PYTHON);
        ui::step(
            "test",
            &format!(
                "{} web: npm ci, API types, build, Playwright E2E",
                app.names.id
            ),
        );
        report.run(
            Command::new(&npm)
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&web_dir),
            "npm ci",
            Format::Step,
        )?;
        // Before the build: a stale src/api/schema.d.ts says so in one line, where tsc would
        // report its consequences.
        report.run(
            Command::new(&npm)
                .args(["run", "test:api-types"])
                .current_dir(&web_dir)
                .env(&python_var, &venv_python),
            "web API types",
            Format::NodeTest,
        )?;
        report.run(
            Command::new(&npm)
                .args(["run", "build"])
                .current_dir(&web_dir),
            "npm run build",
            Format::Step,
        )?;
        report.run(
            Command::new(&npm)
                .args(["run", "test:e2e"])
                .current_dir(&web_dir)
                .env(&python_var, &venv_python),
            "web E2E",
            Format::NodeTest,
        )?;
    }

    // The workflow lint's result does not depend on the host; it needs bash and python3.
    if cfg!(unix) {
        ui::step("test", "workflow lint (.github/lint-workflows.sh)");
        report.run(
            Command::new("bash")
                .arg(root.join(".github/lint-workflows.sh"))
                .current_dir(&root),
            "workflow lint",
            Format::WorkflowLint,
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
    let cargo = crate::plan::var_os("CARGO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("cargo"));
    let slow_env = if options.slow { "1" } else { "0" };
    // The shell is tested in release mode: it reuses the release build the main job made, instead
    // of compiling Tauri's tree a second time, and its window tests drive the real binary.
    report.run(
        Command::new(&cargo)
            .args([
                "test",
                "--workspace",
                "--exclude",
                "shell",
                "--exclude",
                "tauri-minimal",
            ])
            .current_dir(&root)
            .env("XTASK_SLOW_TESTS", slow_env),
        "cargo test",
        Format::Libtest,
    )?;
    if options.slow {
        // The launcher E2E installs the other apps' engines beside the default app's: build
        // them (each smoke-tested) the way their releases will.
        for app in apps.iter().filter(|app| !app.is_default) {
            let id = &app.names.id;
            ui::step("test", &format!("{id}: runtime (for the launcher E2E)"));
            report.run(
                Command::new(&cargo)
                    .args(["run", "--quiet", "--package", "xtask", "--"])
                    .args(["--app", id, "runtime"])
                    .current_dir(&root),
                &format!("runtime {id}"),
                Format::Step,
            )?;
        }
    }
    ui::step(
        "test",
        "shell: unit tests and Tauri window E2E (release build, Xvfb + tauri-driver)",
    );
    // The E2E tests sign their loopback indexes with the dev secret key and point the shell at
    // them with the default app's `<PREFIX>_INDEX_URL`.
    report.run(
        Command::new(&cargo)
            .args(["test", "--release", "-p", "shell"])
            .current_dir(&root)
            .env("XTASK_SLOW_TESTS", slow_env)
            .envs(dev_shell_env(&root)?),
        "cargo test -p shell",
        Format::Libtest,
    )?;
    if options.slow {
        // The main job's installers (`release --bundle both`), installed as users install them:
        // self-test, hard kill, close, shell update, uninstall (`cargo xtask ci-installed`).
        ui::step(
            "test",
            "ci-installed (the release's thin and offline installers, installed and run)",
        );
        let cargo = crate::plan::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        report.run(
            Command::new(cargo)
                .args(["run", "--quiet", "--package", "xtask", "--"])
                .arg("ci-installed")
                .current_dir(&root),
            "ci-installed",
            Format::Step,
        )?;
        // Last: it reuses the runtime, the release shell and the web build made above. One
        // measurement of every bench, so a change that breaks a bench fails here, not in the
        // next `bench all`; its report goes to target/bench/quick/, never over bench/report.md.
        ui::step("test", "bench all --quick (every bench, one run each)");
        // Through cargo, not this process's own executable: `cargo test --workspace` above
        // rebuilt target/debug/xtask (dev-dependencies unify other features), and the file
        // this process was started from is gone.
        let cargo = crate::plan::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        report.run(
            Command::new(&cargo)
                .args(["run", "--quiet", "--package", "xtask", "--"])
                .args(["bench", "all", "--quick"])
                .current_dir(&root),
            "bench all --quick",
            Format::Step,
        )?;
        // The other apps, built and proven by the same commands as the main job's: a dev
        // release (its runtime smoke-tested), then its installers installed and run. Last: the
        // shell is rebuilt for each app, and the steps above use the default app's build.
        for app in apps.iter().filter(|app| !app.is_default) {
            let id = &app.names.id;
            ui::step(
                "test",
                &format!("{id}: release --bundle both, then ci-installed"),
            );
            report.run(
                Command::new(&cargo)
                    .args(["run", "--quiet", "--package", "xtask", "--"])
                    .args(["--app", id, "release", "--bundle", "both"])
                    .current_dir(&root),
                &format!("release {id}"),
                Format::Step,
            )?;
            report.run(
                Command::new(&cargo)
                    .args(["run", "--quiet", "--package", "xtask", "--"])
                    .args(["--app", id, "ci-installed"])
                    .current_dir(&root),
                &format!("ci-installed {id}"),
                Format::Step,
            )?;
        }
        // Every app released into the one release folder: each index verifies, every object
        // its manifests name is in the shared store and unpacks to its file, the registry's
        // apps are all there, and the store holds nothing else.
        ui::step(
            "test",
            "index check (every app's release in dist/<version>/)",
        );
        report.run(
            Command::new(&cargo)
                .args(["run", "--quiet", "--package", "xtask", "--"])
                .args(["index", "check"])
                .current_dir(&root),
            "index check",
            Format::Step,
        )?;
    }
    report.print();
    if let Some(allowed) = &options.allowed_skips {
        report.check_skips(allowed)?;
    }
    ui::summary("all test suites passed");
    Ok(())
}

/// The build-time settings of a dev release's shell: the default app, the dev update key, the
/// dev channel, no release URL, and the release's `SOURCE_DATE_EPOCH` (cc-based build scripts such as ring's
/// and zstd-sys's rerun when it changes, and Tauri's tree above them with them). The shell
/// tests and `bench shell` build with them, so they share the main job's release build.
pub(crate) fn dev_shell_env(root: &Path) -> Result<[(&'static str, String); 5]> {
    let (dev_public_key, _) = crate::release::dev_keys(root)?;
    let app = plan::App::load(root, None)?;
    Ok([
        (
            runtime_spec::env::SHELL_APP,
            app.dir
                .join(runtime_spec::app::APP_FILE)
                .display()
                .to_string(),
        ),
        (runtime_spec::env::UPDATE_PUBKEY, dev_public_key),
        (runtime_spec::env::RELEASE_BASE_URL, String::new()),
        (runtime_spec::env::CHANNEL, "dev".to_owned()),
        (
            runtime_spec::env::SOURCE_DATE_EPOCH,
            plan::source_date_epoch(root).to_string(),
        ),
    ])
}

/// A CPython 3.12 venv with the host target's hashed lock plus the test tools, rebuilt when
/// the lock changes (`target/test-venv`); `cargo xtask tools venv` prints it for dev mode.
pub(crate) fn test_venv(root: &Path, cache_dir: &Path) -> Result<PathBuf> {
    let venv = root.join("target").join("test-venv");
    let python = tools::venv_python(&venv);
    let target = Target::host().context("tests run on a release target host")?;
    // The default app's lock: the other engines' dependencies are a part of it (a test of the
    // second engine's pyproject holds it to that).
    let lock = plan::App::load(root, None)?
        .lock_dir()
        .join(format!("{target}.txt"));
    let stamp_file = root.join("target").join("test-venv.stamp");
    // pip + setuptools: the packaging test builds the engine's wheel offline, as
    // `pip install ./apps/<app>/api` would. ruff is pinned: `cargo xtask tidy` fails
    // on what it reports, so a new release must not change the verdict on unchanged code.
    // transformers (pinned; it resolves to the lock's tokenizers and huggingface-hub): the
    // export test loads an exported tokenizer with `AutoTokenizer` as a user's script would.
    let test_tools = [
        "pytest",
        "httpx",
        "pip",
        "setuptools",
        "ruff==0.17.6",
        "transformers==5.25.0",
    ];
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

/// The variable test-support's skip gate appends `TEST-SKIPPED <package> <test>: <reason>`
/// lines to (libtest has no skipped outcome: a test that cannot run returns early as passed).
const SKIP_LOG_ENV: &str = "TEST_SKIP_LOG";
const SKIP_MARKER: &str = "TEST-SKIPPED ";

/// How a suite reports what it ran, so the summary can count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// cargo test: libtest's `test result:` lines, skips from the skip log.
    Libtest,
    /// pytest `-q -rs`: the last summary line, `SKIPPED [n] <where>: <reason>` lines.
    Pytest,
    /// node --test: `# pass N` (TAP) or `ℹ pass N` (spec) totals, `# SKIP` lines.
    NodeTest,
    /// `.github/lint-workflows.sh`: `workflow-lint: N passed, M failed`.
    WorkflowLint,
    /// A step that only succeeds or fails (npm ci, a build).
    Step,
}

/// What one suite reported.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub passed: u64,
    pub failed: u64,
    /// `<test>: <reason>` of every test that did not run.
    pub skipped: Vec<String>,
}

/// The suites of one `cargo xtask test` run, in order, with their counts.
pub(crate) struct Report {
    skip_dir: PathBuf,
    suites: Vec<(String, Option<Counts>)>,
}

impl Report {
    pub(crate) fn new(root: &Path) -> Result<Report> {
        let skip_dir = root.join("target").join("test-skips");
        fsutil::remove_path(&skip_dir)?;
        std::fs::create_dir_all(&skip_dir)
            .with_context(|| format!("creating {}", skip_dir.display()))?;
        Ok(Report {
            skip_dir,
            suites: Vec::new(),
        })
    }

    /// Runs one suite with its output shown as it comes and kept for counting; a failing
    /// suite ends the run (after the summary so far).
    pub(crate) fn run(&mut self, command: &mut Command, name: &str, format: Format) -> Result<()> {
        let skip_log = self.skip_dir.join(format!(
            "{}.log",
            name.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
        ));
        if format == Format::Libtest {
            command.env(SKIP_LOG_ENV, &skip_log);
        }
        let (status, stdout) = run_teed(command).with_context(|| format!("starting {name}"))?;
        let skip_lines = std::fs::read_to_string(&skip_log).unwrap_or_default();
        self.suites
            .push((name.to_owned(), count(format, &stdout, &skip_lines)));
        if !status.success() {
            self.print();
            bail!("{name} failed ({status}); see its output above");
        }
        Ok(())
    }

    /// One line per suite, `<suite>: N passed, N failed, N skipped`, each skip with its reason.
    pub(crate) fn print(&self) {
        println!();
        for (name, counts) in &self.suites {
            match counts {
                None => println!("{name}: ok"),
                Some(counts) => {
                    println!(
                        "{name}: {} passed, {} failed, {} skipped",
                        counts.passed,
                        counts.failed,
                        counts.skipped.len()
                    );
                    for skip in &counts.skipped {
                        println!("    skipped {skip}");
                    }
                }
            }
        }
    }

    /// Fails when a suite skipped a test `allowed` (an allow-list file) does not name. Each of
    /// its lines is `<suite>: <pattern>`, `*` matching any text, `#` starting a comment.
    pub(crate) fn check_skips(&self, allowed: &Path) -> Result<()> {
        let text = std::fs::read_to_string(allowed)
            .with_context(|| format!("reading the allowed skips {}", allowed.display()))?;
        let patterns = allowed_patterns(&text);
        let unexpected = self.unexpected_skips(&patterns);
        if !unexpected.is_empty() {
            bail!(
                "{} test(s) skipped that this job must run (not in {}):\n  {}\nmake them run here (install what the reason names), or list them there with why",
                unexpected.len(),
                allowed.display(),
                unexpected.join("\n  ")
            );
        }
        Ok(())
    }

    fn unexpected_skips(&self, patterns: &[String]) -> Vec<String> {
        self.suites
            .iter()
            .filter_map(|(name, counts)| Some((name, counts.as_ref()?)))
            .flat_map(|(name, counts)| {
                counts
                    .skipped
                    .iter()
                    .map(move |skip| format!("{name}: {skip}"))
            })
            .filter(|skip| !patterns.iter().any(|pattern| glob_matches(pattern, skip)))
            .collect()
    }
}

/// The non-comment, non-empty lines of an allow-list.
fn allowed_patterns(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.split_once(" #").map_or(line, |(kept, _)| kept).trim())
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// `*` matches any run of characters; everything else matches itself.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Runs `command` with its stdout echoed line by line and kept; stderr passes straight through.
fn run_teed(command: &mut Command) -> std::io::Result<(std::process::ExitStatus, String)> {
    use std::io::{BufRead, Write};
    let mut child = command.stdout(std::process::Stdio::piped()).spawn()?;
    let mut kept = String::new();
    let reader = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
    let stdout = std::io::stdout();
    for line in reader.split(b'\n') {
        let line = line?;
        let mut out = stdout.lock();
        out.write_all(&line)?;
        out.write_all(b"\n")?;
        out.flush()?;
        kept.push_str(&String::from_utf8_lossy(&line));
        kept.push('\n');
    }
    Ok((child.wait()?, kept))
}

/// The counts a suite's output reports (`None` for a plain step, or output without totals).
pub(crate) fn count(format: Format, stdout: &str, skip_log: &str) -> Option<Counts> {
    let number = |text: &str| text.trim().parse::<u64>().ok();
    match format {
        Format::Step => None,
        Format::Libtest => {
            let mut counts = Counts::default();
            let mut seen = false;
            for line in stdout.lines() {
                let Some(rest) = line.strip_prefix("test result: ") else {
                    continue;
                };
                seen = true;
                for field in rest.split(['.', ';']) {
                    let mut words = field.split_whitespace();
                    if let (Some(n), Some(what)) = (words.next().and_then(number), words.next()) {
                        match what {
                            "passed" => counts.passed += n,
                            "failed" => counts.failed += n,
                            _ => {}
                        }
                    }
                }
            }
            let mut skipped: Vec<String> = skip_log
                .lines()
                .filter_map(|line| line.strip_prefix(SKIP_MARKER))
                .map(str::to_owned)
                .collect();
            skipped.sort();
            skipped.dedup();
            // A skipped test returned early, so libtest counted it as passed.
            counts.passed = counts.passed.saturating_sub(skipped.len() as u64);
            counts.skipped = skipped;
            seen.then_some(counts)
        }
        Format::Pytest => {
            let mut counts = Counts::default();
            let summary = stdout.lines().rev().find(|line| {
                let line = line.trim_matches(|c| c == '=' || c == ' ');
                line.contains(" in ") && (line.contains("passed") || line.contains("failed"))
            })?;
            let mut n_skipped = 0;
            for part in summary.trim_matches(|c| c == '=' || c == ' ').split(',') {
                let mut words = part.split_whitespace();
                if let (Some(n), Some(what)) = (words.next().and_then(number), words.next()) {
                    match what {
                        "passed" => counts.passed += n,
                        "failed" | "errors" | "error" => counts.failed += n,
                        "skipped" => n_skipped += n,
                        _ => {}
                    }
                }
            }
            // `SKIPPED [n] tests/test_x.py:22: reason`, one line per reason and place.
            for line in stdout.lines() {
                let Some(rest) = line.strip_prefix("SKIPPED [") else {
                    continue;
                };
                let Some((times, what)) = rest.split_once("] ") else {
                    continue;
                };
                for _ in 0..number(times).unwrap_or(1) {
                    counts.skipped.push(what.to_owned());
                }
            }
            while (counts.skipped.len() as u64) < n_skipped {
                counts.skipped.push("(pytest gave no reason)".to_owned());
            }
            Some(counts)
        }
        Format::NodeTest => {
            let mut counts = Counts::default();
            let mut seen = false;
            let mut n_skipped = 0;
            for line in stdout.lines() {
                let line = line.trim_start();
                let total = line.strip_prefix("# ").or_else(|| line.strip_prefix("ℹ "));
                if let Some(total) = total {
                    let mut words = total.split_whitespace();
                    if let (Some(what), Some(n), None) =
                        (words.next(), words.next().and_then(number), words.next())
                    {
                        seen = true;
                        match what {
                            "pass" => counts.passed = n,
                            "fail" | "cancelled" => counts.failed += n,
                            "skipped" => n_skipped = n,
                            _ => {}
                        }
                    }
                }
                if line.starts_with("ok ") {
                    if let Some((name, reason)) = line.split_once(" # SKIP") {
                        counts.skipped.push(format!(
                            "{}: {}",
                            name.trim_start_matches("ok ").trim(),
                            reason.trim()
                        ));
                    }
                }
            }
            while (counts.skipped.len() as u64) < n_skipped {
                counts.skipped.push("(node gave no reason)".to_owned());
            }
            seen.then_some(counts)
        }
        Format::WorkflowLint => {
            let line = stdout
                .lines()
                .rev()
                .find_map(|line| line.strip_prefix("workflow-lint: "))?;
            let mut counts = Counts::default();
            for part in line.split(',') {
                let mut words = part.split_whitespace();
                if let (Some(n), Some(what)) = (words.next().and_then(number), words.next()) {
                    match what {
                        "passed" => counts.passed = n,
                        "failed" => counts.failed = n,
                        _ => {}
                    }
                }
            }
            Some(counts)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_skip_log_names_match_test_support() {
        assert_eq!(SKIP_LOG_ENV, test_support::SKIP_LOG_ENV);
        assert_eq!(SKIP_MARKER.trim_end(), test_support::SKIP_MARKER);
    }

    #[test]
    fn libtest_totals_minus_the_recorded_skips() {
        let stdout = "running 3 tests\ntest a ... ok\n\
            test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.1s\n\
            test result: FAILED. 4 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out; finished in 1s\n";
        let log = "TEST-SKIPPED xtask smoke::b: slow end-to-end test\n\
            TEST-SKIPPED xtask smoke::b: slow end-to-end test\n\
            TEST-SKIPPED release-meta index::c: `minisign` is not installed\n";
        assert_eq!(
            count(Format::Libtest, stdout, log),
            Some(Counts {
                passed: 5,
                failed: 2,
                skipped: vec![
                    "release-meta index::c: `minisign` is not installed".to_owned(),
                    "xtask smoke::b: slow end-to-end test".to_owned(),
                ],
            })
        );
        assert_eq!(count(Format::Libtest, "no tests ran\n", ""), None);
    }

    #[test]
    fn pytest_summary_and_reasons() {
        let stdout = "....s.s\n\
            =========================== short test summary info ============================\n\
            SKIPPED [2] tests/test_hardening.py:22: POSIX file modes and /proc\n\
            1 failed, 40 passed, 2 skipped in 3.21s\n";
        assert_eq!(
            count(Format::Pytest, stdout, ""),
            Some(Counts {
                passed: 40,
                failed: 1,
                skipped: vec![
                    "tests/test_hardening.py:22: POSIX file modes and /proc".to_owned();
                    2
                ],
            })
        );
    }

    #[test]
    fn node_test_tap_and_spec_totals() {
        let tap = "ok 1 - loads\nok 2 - exports # SKIP needs a browser\n# tests 3\n# pass 1\n# fail 1\n# skipped 1\n";
        assert_eq!(
            count(Format::NodeTest, tap, ""),
            Some(Counts {
                passed: 1,
                failed: 1,
                skipped: vec!["2 - exports: needs a browser".to_owned()],
            })
        );
        let spec = "✔ loads (3ms)\nℹ tests 2\nℹ pass 2\nℹ fail 0\nℹ skipped 0\n";
        assert_eq!(
            count(Format::NodeTest, spec, ""),
            Some(Counts {
                passed: 2,
                ..Counts::default()
            })
        );
    }

    #[test]
    fn workflow_lint_line() {
        assert_eq!(
            count(
                Format::WorkflowLint,
                "x\nworkflow-lint: 7 passed, 0 failed\n",
                ""
            ),
            Some(Counts {
                passed: 7,
                ..Counts::default()
            })
        );
    }

    #[test]
    fn unexpected_skips_are_those_no_pattern_matches() {
        let report = Report {
            skip_dir: PathBuf::new(),
            suites: vec![
                (
                    "cargo test".to_owned(),
                    Some(Counts {
                        passed: 1,
                        failed: 0,
                        skipped: vec![
                            "xtask smoke::s: slow end-to-end test; set X=1".to_owned(),
                            "release-meta index::c: `minisign` is not installed".to_owned(),
                        ],
                    }),
                ),
                ("npm ci".to_owned(), None),
            ],
        };
        let patterns =
            allowed_patterns("# comment\n\ncargo test: * slow end-to-end test* # the --fast job\n");
        assert_eq!(patterns, ["cargo test: * slow end-to-end test*"]);
        assert_eq!(
            report.unexpected_skips(&patterns),
            ["cargo test: release-meta index::c: `minisign` is not installed"]
        );
        assert!(report
            .unexpected_skips(&["cargo test: *".to_owned()])
            .is_empty());
    }

    /// The full-disk tests skip off Linux, and the macOS and Windows jobs accept exactly those
    /// skips, as each suite reports them.
    #[test]
    fn the_other_oses_accept_the_linux_only_full_disk_skips() {
        let pytest = count(
            Format::Pytest,
            "SKIPPED [9] tests/test_disk_full.py:79: mounting a small tmpfs needs Linux\n3 passed, 9 skipped in 1.00s\n",
            "",
        );
        let web = count(
            Format::NodeTest,
            "ok 3 - A full data disk against the real engine # SKIP a small tmpfs in a private mount namespace needs Linux\n# pass 40\n# skipped 1\n",
            "",
        );
        let report = Report {
            skip_dir: PathBuf::new(),
            suites: vec![("pytest".to_owned(), pytest), ("web E2E".to_owned(), web)],
        };
        for os in ["macos", "windows"] {
            let path = crate::plan::project_root().join(format!(".ci/allowed-skips-{os}.txt"));
            let patterns = allowed_patterns(&std::fs::read_to_string(path).unwrap());
            assert_eq!(
                report.unexpected_skips(&patterns),
                Vec::<String>::new(),
                "{os}"
            );
        }
        // Linux runs them: a skip there is unexpected.
        let linux = crate::plan::project_root().join(".ci/allowed-skips-linux.txt");
        let patterns = allowed_patterns(&std::fs::read_to_string(linux).unwrap());
        let unexpected = report.unexpected_skips(&patterns);
        assert!(
            unexpected.iter().any(|skip| skip.starts_with("pytest: ")),
            "{unexpected:?}"
        );
        assert!(
            unexpected.iter().any(|skip| skip.starts_with("web E2E: ")),
            "{unexpected:?}"
        );
    }

    #[test]
    fn globs() {
        assert!(glob_matches("a*c", "abc"));
        assert!(glob_matches("a*", "a"));
        assert!(glob_matches("*x*", "axb"));
        assert!(!glob_matches("a*c", "ab"));
        assert!(!glob_matches("abc", "abcd"));
        assert!(glob_matches("abc", "abc"));
    }
}
