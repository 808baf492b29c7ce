//! `cargo xtask ci-installed`: installs a release's installers the way users do, on the OS it
//! runs on, and proves the installed app works from where it was installed.
//!
//! One definition for the three OSes (the CI matrix runs this command, nothing else): per
//! installer it installs, checks that an offline installer carries the published runtime
//! bytes, runs the app's `--self-test` (real start from the installed location, the app's own
//! steps inside the real window, graceful exit), kills the shell hard and checks the engine
//! dies with it, asks it to close like a user and checks the engine finished its shutdown work
//! (SQLite closed, no `-wal` left), updates the shell through its own updater, and uninstalls,
//! leaving the user's data folder. What differs per OS is only how a user installs, closes and
//! uninstalls, in [`Os`].
//!
//! Every step lands in `<report-dir>/summary.json` (name, verdict, seconds, what it found), next
//! to each self-test's own report; the first failing step stops the run and is named.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use runtime_spec::{env, AppNames, Target};
use serde_json::{json, Value};
use test_support::http::Server;
use test_support::wait_until;

use crate::{fsutil, package, plan, ui};

/// How long the engine may outlive a hard-killed shell.
const KILL_DEADLINE: Duration = Duration::from_secs(2);
/// A normal start to the engine's READY line (a first start compiles nothing: bytecode ships).
const READY_DEADLINE: Duration = Duration::from_secs(180);
/// The self-test's own limit (it downloads the runtime on a thin first run).
const SELF_TEST_TIMEOUT: Duration = Duration::from_secs(600);

pub struct Options {
    /// The app whose release it is.
    pub app: plan::App,
    /// The release folder (default: the app's `dist/<workspace version>/`).
    pub release_dir: Option<PathBuf>,
    /// Where the summary, the self-test reports and the app logs go (default
    /// `target/ci-installed/`, another app's `target/ci-installed/<id>/`).
    pub report_dir: Option<PathBuf>,
}

/// One installer to prove, and what to prove with it.
struct Case {
    /// `deb`, `dmg`, `nsis`, `msi`, with `-offline` for a full bundle.
    label: String,
    installer: PathBuf,
    offline: bool,
    /// Hard kill and graceful close (once per OS: the mechanism does not depend on the bundle).
    lifecycle: bool,
    /// The shell's self-update (on the thin installer: the one the update manifest names).
    self_update: bool,
}

/// Another app installed beside the one under test, and its shell's sha256 then.
struct Beside {
    names: AppNames,
    installer: PathBuf,
    installed: Installed,
    sha256: String,
}

/// An installed app.
struct Installed {
    /// The shell executable, where the installer put it.
    exe: PathBuf,
    /// The folder the installer filled (searched for the bundled runtime archive).
    root: PathBuf,
}

pub fn ci_installed(options: &Options) -> Result<()> {
    let root = plan::project_root();
    let target = Target::host().context("ci-installed runs on a release target host")?;
    let version = plan::workspace_version();
    let release_dir = options.release_dir.clone().unwrap_or_else(|| {
        options
            .app
            .release_dir(&root.join("dist").join(version.to_string()))
    });
    if !release_dir.is_dir() {
        bail!(
            "no release folder {}: run `cargo xtask release --bundle both` first",
            release_dir.display()
        );
    }
    let report_dir = options.report_dir.clone().unwrap_or_else(|| {
        options
            .app
            .subdir(&root.join("target").join("ci-installed"))
    });
    fsutil::remove_path(&report_dir)?;
    fs_err::create_dir_all(&report_dir)?;
    // Data folders and installs go under a folder with a space in its name: a path a user
    // can have ("Application Support", "Program Files") must not break anything.
    let work = report_dir.join("work dir");
    fs_err::create_dir_all(&work)?;
    let folder =
        runtime_spec::layout::app_release_folder(&options.app.names.id, options.app.is_default);
    let site = if folder.is_empty() {
        release_dir.clone()
    } else {
        release_dir
            .parent()
            .context("an app's release folder sits in the release folder")?
            .to_path_buf()
    };
    let os = Os::for_target(target);
    // An app other than the default one is installed beside the default app, as a user who
    // has both does: the default app's thin installer goes in first, and must come out of this
    // app's installs and uninstalls untouched. Without a release of the default app in the
    // release folder, the app is installed alone (and the summary says so).
    let beside_installer = if options.app.is_default {
        None
    } else {
        let default = plan::App::load(&root, None)?;
        let folder = default.release_dir(&site);
        match cases(target, &folder) {
            Ok(found) => Some((
                default.names,
                found
                    .into_iter()
                    .find(|case| !case.offline)
                    .context("the default app's release has no thin installer")?
                    .installer,
            )),
            Err(error) => {
                ui::info(&format!(
                    "{} is installed alone: {error:#}",
                    options.app.names.id
                ));
                None
            }
        }
    };
    let cases = cases(target, &release_dir)?;
    let mut run = Run {
        app: options.app.names.clone(),
        steps: Vec::new(),
        report_dir: report_dir.clone(),
        target,
        version: version.to_string(),
        release_dir: release_dir.clone(),
        site,
        folder,
        // Linux: a private Xvfb when no display is set; macOS and Windows runners have a
        // desktop session.
        display: if cfg!(target_os = "linux") {
            Some(
                test_support::display::Display::start(plan::var("DISPLAY"), 190..240)
                    .map_err(anyhow::Error::msg)?,
            )
        } else {
            None
        },
    };
    ui::step(
        "ci-installed",
        &format!(
            "{} installers of {} from {} on {target}",
            cases.len(),
            version,
            release_dir.display()
        ),
    );
    let result = (|| -> Result<()> {
        let beside = match &beside_installer {
            Some((names, installer)) => Some(run.install_beside(&os, names, installer, &work)?),
            None => None,
        };
        let checked = cases.iter().try_for_each(|case| run.case(&os, case, &work));
        match (&beside, checked) {
            (Some(beside), Ok(())) => run.check_beside(&os, beside),
            // Whatever failed, the machine is left without the other app too.
            (Some(beside), Err(error)) => {
                os.kill_running(&beside.installed.exe);
                let _ = os.uninstall(&beside.names, &beside.installer, &beside.installed);
                Err(error)
            }
            (None, checked) => checked,
        }
    })();
    run.write_summary(&result)?;
    result?;
    ui::summary(&format!(
        "ci-installed: {} steps passed on {target}; summary in {}",
        run.steps.len(),
        report_dir.join("summary.json").display()
    ));
    Ok(())
}

/// The installers of the release folder this OS installs, offline ones first (they need no
/// server), each with its checks.
fn cases(target: Target, release_dir: &Path) -> Result<Vec<Case>> {
    let names: Vec<String> = fs_err::read_dir(release_dir)?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    let find = |extension: &str, offline: bool| -> Option<PathBuf> {
        let mut found: Vec<&String> = names
            .iter()
            .filter(|name| name.contains(package::OFFLINE_MARK) == offline)
            // `…-setup-offline.exe` is an offline `…-setup.exe`.
            .filter(|name| name.replace(package::OFFLINE_MARK, "").ends_with(extension))
            .collect();
        found.sort();
        found.first().map(|name| release_dir.join(name))
    };
    let kinds: &[(&str, &str)] = match target {
        Target::LinuxX64 => &[("deb", ".deb")],
        Target::MacosArm64 => &[("dmg", ".dmg")],
        Target::WindowsX64 => &[("nsis", "-setup.exe"), ("msi", ".msi")],
    };
    let mut cases = Vec::new();
    for (position, (kind, extension)) in kinds.iter().enumerate() {
        let primary = position == 0;
        if let Some(installer) = find(extension, true) {
            cases.push(Case {
                label: format!("{kind}{}", package::OFFLINE_MARK),
                installer,
                offline: true,
                lifecycle: primary,
                self_update: false,
            });
        }
        // The second kind (the MSI) proves it installs and runs; the lifecycle checks do not
        // depend on the installer.
        if let Some(installer) = find(extension, false) {
            cases.push(Case {
                label: (*kind).to_owned(),
                installer,
                offline: false,
                lifecycle: false,
                self_update: primary,
            });
        }
    }
    let offline = cases.iter().filter(|case| case.offline).count();
    if offline == 0 || offline == cases.len() {
        bail!(
            "{} needs thin and offline installers for {target} (found: {}); build them with `cargo xtask release --bundle both`",
            release_dir.display(),
            if cases.is_empty() {
                "none".to_owned()
            } else {
                cases
                    .iter()
                    .map(|case| case.label.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
    }
    Ok(cases)
}

struct StepResult {
    name: String,
    passed: bool,
    seconds: f64,
    detail: Value,
}

struct Run {
    /// The app whose installers these are.
    app: runtime_spec::AppNames,
    steps: Vec<StepResult>,
    report_dir: PathBuf,
    target: Target,
    version: String,
    /// The app's own release.
    release_dir: PathBuf,
    /// The release folder it is in, as published at the release URL, and the app's folder in
    /// it (`""` or `<id>/`).
    site: PathBuf,
    folder: String,
    display: Option<test_support::display::Display>,
}

impl Run {
    /// Runs one named step; a failure is recorded with its message and stops the run.
    fn step<T>(
        &mut self,
        name: &str,
        work: impl FnOnce(&mut Run) -> Result<(T, Value)>,
    ) -> Result<T> {
        ui::step("ci-installed", name);
        let started = Instant::now();
        let outcome = work(self);
        let seconds = started.elapsed().as_secs_f64();
        match outcome {
            Ok((value, detail)) => {
                ui::info(&format!("ok {name} ({seconds:.1} s)"));
                self.steps.push(StepResult {
                    name: name.to_owned(),
                    passed: true,
                    seconds,
                    detail,
                });
                Ok(value)
            }
            Err(error) => {
                self.steps.push(StepResult {
                    name: name.to_owned(),
                    passed: false,
                    seconds,
                    detail: json!({ "error": format!("{error:#}") }),
                });
                Err(error.context(format!("step `{name}` failed")))
            }
        }
    }

    fn write_summary(&self, result: &Result<()>) -> Result<()> {
        let summary = json!({
            "target": self.target.name(),
            "version": self.version,
            "release_dir": self.release_dir,
            "passed": result.is_ok(),
            "error": result.as_ref().err().map(|error| format!("{error:#}")),
            "steps": self.steps.iter().map(|step| json!({
                "name": step.name,
                "passed": step.passed,
                "seconds": (step.seconds * 10.0).round() / 10.0,
                "detail": step.detail,
            })).collect::<Vec<_>>(),
        });
        fs_err::write(
            self.report_dir.join("summary.json"),
            format!("{}\n", serde_json::to_string_pretty(&summary)?),
        )?;
        Ok(())
    }

    /// Installs another app (`names`, from `installer`) that must stay as it is while this one
    /// is installed, run and removed.
    fn install_beside(
        &mut self,
        os: &Os,
        names: &AppNames,
        installer: &Path,
        work: &Path,
    ) -> Result<Beside> {
        let work = work.join("beside");
        fs_err::create_dir_all(&work)?;
        self.step(&format!("beside {}: install", names.id), |_| {
            let installed = os.install(names, installer, &work)?;
            let sha256 = fsutil::sha256_file(&installed.exe)?;
            let detail = json!({ "exe": installed.exe, "sha256": sha256 });
            Ok((
                Beside {
                    names: names.clone(),
                    installer: installer.to_path_buf(),
                    installed,
                    sha256,
                },
                detail,
            ))
        })
    }

    /// The app installed beside this one is still there, byte for byte, then uninstalled.
    fn check_beside(&mut self, os: &Os, beside: &Beside) -> Result<()> {
        let this = self.app.id.clone();
        self.step(
            &format!(
                "beside {}: untouched by {this}, then uninstalled",
                beside.names.id
            ),
            |_| {
                let exe = &beside.installed.exe;
                let after = fsutil::sha256_file(exe).with_context(|| {
                    format!("{this}'s install or uninstall removed {}", exe.display())
                })?;
                if after != beside.sha256 {
                    bail!("{this}'s install or uninstall changed {}", exe.display());
                }
                os.uninstall(&beside.names, &beside.installer, &beside.installed)?;
                if exe.exists() {
                    bail!("{} is still there after uninstalling", exe.display());
                }
                Ok(((), json!({ "exe": exe, "sha256": after })))
            },
        )
    }

    fn case(&mut self, os: &Os, case: &Case, work: &Path) -> Result<()> {
        let label = case.label.clone();
        let app = self.app.clone();
        let installed = self.step(&format!("{label}: install"), |_| {
            let installed = os.install(&app, &case.installer, work)?;
            let detail = json!({ "exe": installed.exe, "root": installed.root });
            Ok((installed, detail))
        })?;
        // Whatever fails from here on, the machine is left without the app.
        let result = self.installed_case(os, case, &installed, work);
        let data = data_dir(work, &label);
        let uninstalled = self.step(&format!("{label}: uninstall (the data folder stays)"), |_| {
            os.kill_running(&installed.exe);
            let before = database_files(&data);
            os.uninstall(&app, &case.installer, &installed)?;
            if installed.exe.exists() {
                bail!(
                    "{} is still there after uninstalling",
                    installed.exe.display()
                );
            }
            let after = database_files(&data);
            if after != before {
                bail!(
                    "uninstalling changed the user's data folder {}: databases {before:?} before, {after:?} after",
                    data.display()
                );
            }
            Ok(((), json!({ "removed": installed.exe, "data_kept": data, "databases": after })))
        });
        result?;
        uninstalled
    }

    fn installed_case(
        &mut self,
        os: &Os,
        case: &Case,
        installed: &Installed,
        work: &Path,
    ) -> Result<()> {
        let label = case.label.clone();
        if case.offline {
            self.step(
                &format!("{label}: carries the published runtime bytes"),
                |run| bundled_runtime_matches(&run.release_dir, run.target, &installed.root),
            )?;
        }
        let data = data_dir(work, &label);
        fsutil::remove_path(&data)?;
        // Thin: the first run installs the runtime from the release folder on loopback.
        // Offline: no network at all (the index URL points at a closed port).
        // The release folder is served as it is published: an app other than the default one
        // one folder below the release URL, the object store its index names at the top.
        let server = (!case.offline).then(|| Server::serving_dir(&self.site));
        let index_url = match &server {
            Some(server) => server.url(&format!("/{}{}", self.folder, self.index_name()?)),
            None => test_support::http::refused_url("/runtime.json"),
        };
        let report = self.step(&format!("{label}: self-test (first run)"), |run| {
            let report = run.self_test(installed, &data, &index_url, &label)?;
            let detail = compact(&report);
            Ok((report, detail))
        })?;
        self.step(
            &format!("{label}: engine stopped gracefully at exit"),
            |_| graceful_evidence(&report["exit"]["engine_stop"], &data),
        )?;
        if case.lifecycle {
            self.step(
                &format!("{label}: hard kill of the shell ({})", os.containment()),
                |run| run.hard_kill(os, installed, &data),
            )?;
            self.step(
                &format!("{label}: close like a user ({})", os.close_request()),
                |run| run.close_like_a_user(os, installed, &data),
            )?;
        }
        if case.self_update {
            self.step(&format!("{label}: shell self-update"), |run| {
                run.self_update(os, case, installed, &data, &index_url)
            })?;
            self.step(&format!("{label}: self-test after the update"), |run| {
                let report =
                    run.self_test(installed, &data, &index_url, &format!("{label}-updated"))?;
                Ok(((), compact(&report)))
            })?;
        }
        Ok(())
    }

    /// `runtime-<channel>.json` in the release folder.
    fn index_name(&self) -> Result<String> {
        let mut names: Vec<String> = fs_err::read_dir(&self.release_dir)?
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| {
                name.starts_with("runtime-")
                    && name.ends_with(".json")
                    && !name.contains("fragment")
            })
            .collect();
        names.sort();
        names.into_iter().next().with_context(|| {
            format!(
                "no runtime-<channel>.json in {}",
                self.release_dir.display()
            )
        })
    }

    /// The app's command, with `data` as its data folder and nothing of the developer's
    /// environment that could point it elsewhere.
    fn app_command(&self, installed: &Installed, data: &Path, index_url: &str) -> Command {
        let mut command = Command::new(&installed.exe);
        command
            .env(self.app.var(env::DATA_DIR), data)
            .env(self.app.var(env::INDEX_URL), index_url)
            .env(self.app.var(env::UPDATE_CHECK), "0")
            .env_remove(self.app.var(env::RUNTIME_DIR))
            .env_remove(self.app.var(env::SHELL_UPDATE_URL))
            .env_remove(self.app.var(env::BUNDLED_RUNTIME))
            .stdin(Stdio::null());
        // Other apps' data folders resolve to an empty folder (Linux, where they follow
        // XDG_DATA_HOME): what else the machine has installed must not turn a start into the
        // launcher.
        if cfg!(target_os = "linux") {
            let empty = self.report_dir.join("empty data home");
            let _ = fs_err::create_dir_all(&empty);
            command.env("XDG_DATA_HOME", empty);
        }
        if let Some(display) = &self.display {
            command
                .env("DISPLAY", &display.name)
                .env_remove("WAYLAND_DISPLAY");
        }
        command
    }

    fn output_file(&self, name: &str) -> Result<std::fs::File> {
        Ok(std::fs::File::create(
            self.report_dir.join(format!("{name}.out")),
        )?)
    }

    /// `<app> --self-test <report>`: exit 0, a passing report naming this version, the app's own
    /// steps done in the page.
    fn self_test(
        &self,
        installed: &Installed,
        data: &Path,
        index_url: &str,
        name: &str,
    ) -> Result<Value> {
        let report_path = self.report_dir.join(format!("self-test-{name}.json"));
        let output = self.output_file(&format!("self-test-{name}"))?;
        let mut child = self
            .app_command(installed, data, index_url)
            .arg("--self-test")
            .arg(&report_path)
            .arg("--self-test-timeout")
            .arg(SELF_TEST_TIMEOUT.as_secs().to_string())
            .stdout(output.try_clone()?)
            .stderr(output)
            .spawn()
            .with_context(|| format!("starting {}", installed.exe.display()))?;
        let status = wait_for_exit(&mut child, SELF_TEST_TIMEOUT + Duration::from_secs(60))?;
        let report: Value = serde_json::from_slice(
            &fs_err::read(&report_path).context("the self-test wrote no report")?,
        )
        .context("the self-test report is not JSON")?;
        if !status.success() || report["passed"] != true {
            bail!(
                "the self-test failed in step {} ({status}): {}\nshell log:\n{}",
                report["failed_step"],
                report["message"],
                tail(&data.join("logs").join("shell.log"), 30)
            );
        }
        if report["shell"]["version"] != self.version.as_str() {
            bail!(
                "the installed shell says version {}, the release is {}",
                report["shell"]["version"],
                self.version
            );
        }
        let exe = report["shell"]["executable"].as_str().map(PathBuf::from);
        let ran_installed = exe
            .as_deref()
            .is_some_and(|exe| same_file(exe, &installed.exe));
        if !ran_installed {
            bail!(
                "the self-test ran {exe:?}, not the installed {}",
                installed.exe.display()
            );
        }
        // The app's own steps (its descriptor's `self_test`) ran to their end inside the page.
        let app_steps_done = report["page"]["ok"] == true
            && report["page"]["steps"]
                .as_array()
                .is_some_and(|steps| !steps.is_empty());
        if !app_steps_done {
            bail!("the report shows the app's own steps did not all run: {report}");
        }
        Ok(report)
    }

    /// Starts the app normally and waits for its engine's READY line.
    fn start_app(
        &self,
        installed: &Installed,
        data: &Path,
        name: &str,
    ) -> Result<(Child, runtime_spec::launch::Ready)> {
        let engine_log = data.join("logs").join("engine.log");
        let before = fs_err::read_to_string(&engine_log)
            .unwrap_or_default()
            .len();
        let output = self.output_file(name)?;
        let mut child = self
            .app_command(
                installed,
                data,
                &test_support::http::refused_url("/runtime.json"),
            )
            .stdout(output.try_clone()?)
            .stderr(output)
            .spawn()
            .with_context(|| format!("starting {}", installed.exe.display()))?;
        let deadline = Instant::now() + READY_DEADLINE;
        let ready_prefix = self.app.ready_prefix();
        loop {
            let text = fs_err::read_to_string(&engine_log).unwrap_or_default();
            let ready = text
                .get(before..)
                .unwrap_or_default()
                .lines()
                .filter_map(|line| line.find(&ready_prefix).map(|at| &line[at..]))
                .find_map(|line| runtime_spec::launch::parse_ready_line(&ready_prefix, line));
            if let Some(ready) = ready {
                return Ok((child, ready));
            }
            if let Ok(Some(status)) = child.try_wait() {
                bail!(
                    "the app exited ({status}) before its engine was ready; shell log:\n{}",
                    tail(&data.join("logs").join("shell.log"), 30)
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "the engine was not ready within {} s; engine log:\n{}",
                    READY_DEADLINE.as_secs(),
                    tail(&engine_log, 30)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGKILL / TerminateProcess of the shell: the engine and its process group (job) are gone
    /// within [`KILL_DEADLINE`], and its port is free.
    fn hard_kill(&self, os: &Os, installed: &Installed, data: &Path) -> Result<((), Value)> {
        let (mut child, ready) = self.start_app(installed, data, "hard-kill")?;
        let killed_at = Instant::now();
        child.kill().context("killing the shell")?;
        let _ = child.wait();
        let gone = wait_until(KILL_DEADLINE, || !os.engine_alive(ready.pid));
        let after = killed_at.elapsed();
        if !gone {
            os.force_kill(ready.pid);
            bail!(
                "the engine (pid {}) was still running {} ms after the shell was killed ({})",
                ready.pid,
                after.as_millis(),
                os.containment()
            );
        }
        let port_free = wait_until(KILL_DEADLINE, || test_support::port_is_free(ready.port));
        if !port_free {
            bail!("port {} still in use after the engine died", ready.port);
        }
        Ok((
            (),
            json!({ "engine_pid": ready.pid, "gone_after_ms": after.as_millis() as u64, "mechanism": os.containment() }),
        ))
    }

    /// The OS's polite close (SIGTERM, WM_CLOSE): the app exits on its own and the engine
    /// finished its shutdown (`stopped` in its log, the database closed with no `-wal`).
    fn close_like_a_user(
        &self,
        os: &Os,
        installed: &Installed,
        data: &Path,
    ) -> Result<((), Value)> {
        let (mut child, ready) = self.start_app(installed, data, "close")?;
        // The window shows the UI before it is closed, as a user's would.
        let shell_log = data.join("logs").join("shell.log");
        let ui_line = format!("ui loaded: http://127.0.0.1:{}", ready.port);
        if !wait_until(Duration::from_secs(60), || {
            tail(&shell_log, 200).contains(&ui_line)
        }) {
            let _ = child.kill();
            bail!(
                "the window never showed the UI; shell log:\n{}",
                tail(&shell_log, 30)
            );
        }
        os.request_close(&child)?;
        let status = wait_for_exit(&mut child, Duration::from_secs(60))?;
        if !wait_until(KILL_DEADLINE, || !os.engine_alive(ready.pid)) {
            bail!("the engine (pid {}) outlived the app's exit", ready.pid);
        }
        let stop_line = tail(&shell_log, 200)
            .lines()
            .rev()
            .find(|line| line.contains("engine stopped: "))
            .map(str::to_owned)
            .context("the shell log has no `engine stopped` line")?;
        let outcome = stop_line
            .split("engine stopped: ")
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let ((), evidence) = graceful_evidence(&json!(outcome), data)?;
        Ok((
            (),
            json!({ "exit": status.to_string(), "evidence": evidence }),
        ))
    }

    /// The installed shell finds a newer version in a signed `latest-<channel>.json` on
    /// loopback, downloads and verifies it while it runs, and installs it when it closes.
    fn self_update(
        &self,
        os: &Os,
        case: &Case,
        installed: &Installed,
        data: &Path,
        index_url: &str,
    ) -> Result<((), Value)> {
        let scratch = tempfile::tempdir()?;
        let next = next_version(&self.version)?;
        let prepared = os.prepare_update(
            &self.app,
            case,
            installed,
            &self.release_dir,
            &next,
            scratch.path(),
        )?;
        let secret = update_secret_key(&self.release_dir)?;
        let name = prepared
            .artifact
            .file_name()
            .context("an update has a file name")?
            .to_string_lossy()
            .into_owned();
        let bytes = fs_err::read(&prepared.artifact)?;
        let signature = release_meta::sign(
            &bytes,
            secret.0.expose(),
            secret.1.as_ref().map(|password| password.expose().as_str()),
            &release_meta::updater_trusted_comment(0, &name, &next.parse()?),
        )?;
        let server = Server::with_routes([("/update.bin", bytes)]);
        server.route(
            "/latest.json",
            release_meta::tauri_latest_json(
                &next.parse()?,
                "ci-installed",
                "2026-01-01T00:00:00Z",
                &[(os.updater_key(), &server.url("/update.bin"), &signature)],
            )?
            .into_bytes(),
        );
        let output = self.output_file("self-update")?;
        let shell_log = data.join("logs").join("shell.log");
        let mut child = self
            .app_command(installed, data, index_url)
            .env(
                self.app.var(env::SHELL_UPDATE_URL),
                server.url("/latest.json"),
            )
            .env_remove(self.app.var(env::UPDATE_CHECK))
            .stdout(output.try_clone()?)
            .stderr(output)
            .spawn()?;
        let verified = wait_until(Duration::from_secs(180), || {
            tail(&shell_log, 200).contains(&format!("shell update {next}: downloaded and verified"))
        });
        if !verified {
            let _ = child.kill();
            bail!(
                "the shell never downloaded and verified {next}; shell log:\n{}",
                tail(&shell_log, 30)
            );
        }
        os.request_close(&child)?;
        let _ = wait_for_exit(&mut child, Duration::from_secs(180));
        let log = tail(&shell_log, 200);
        if !log.contains(&format!("shell update {next} installed")) && !os.installer_exits_the_app()
        {
            bail!(
                "the update was not installed at exit; shell log:\n{}",
                tail(&shell_log, 30)
            );
        }
        let evidence = os.update_evidence(&self.app, &prepared, installed, &next)?;
        // An installer may start the updated app when it is done (Windows, passive mode): the
        // next self-test must be the only app on this data folder.
        os.kill_running(&installed.exe);
        Ok((
            (),
            json!({ "version": next, "evidence": evidence, "served": server.hits("/update.bin") }),
        ))
    }
}

/// The offline installer put the release's runtime archive on disk byte for byte: its
/// sha256 is the one the release's SHA256SUMS lists.
fn bundled_runtime_matches(
    release_dir: &Path,
    target: Target,
    installed_root: &Path,
) -> Result<((), Value)> {
    let sums = fs_err::read_to_string(release_dir.join("SHA256SUMS"))?;
    let published: Vec<(String, String)> = sums
        .lines()
        .filter_map(|line| line.split_once("  "))
        .filter(|(_, name)| name.contains("-runtime-") && name.ends_with(".tar.zst"))
        .map(|(sha, name)| (sha.to_owned(), name.trim_start_matches('*').to_owned()))
        .collect();
    let base = published
        .iter()
        .find(|(_, name)| name.ends_with(&format!("-{}.tar.zst", target.name())))
        .context("SHA256SUMS lists no base runtime archive for this target")?;
    let bundled = walkdir::WalkDir::new(installed_root)
        .into_iter()
        .filter_map(|entry| entry.ok())
        .find(|entry| entry.file_type().is_file() && entry.file_name().to_string_lossy() == base.1)
        .map(|entry| entry.into_path())
        .with_context(|| format!("{} is not under {}", base.1, installed_root.display()))?;
    let sha = fsutil::sha256_file(&bundled)?;
    if sha != base.0 {
        bail!(
            "{} has sha256 {sha}, the published {} has {}",
            bundled.display(),
            base.1,
            base.0
        );
    }
    Ok(((), json!({ "archive": bundled, "sha256": sha })))
}

/// A case's data folder, under a name with a space.
fn data_dir(work: &Path, label: &str) -> PathBuf {
    work.join(format!("User Data {label}"))
}

/// The SQLite databases under a data folder with their sizes, sorted.
fn database_files(data: &Path) -> Vec<(PathBuf, u64)> {
    let mut found: Vec<(PathBuf, u64)> = walkdir::WalkDir::new(data)
        .into_iter()
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".db"))
        .map(|entry| {
            let size = entry.metadata().map(|meta| meta.len()).unwrap_or(0);
            (entry.into_path(), size)
        })
        .collect();
    found.sort();
    found
}

/// A self-test report in a few fields, for the summary (the whole report is its own file).
fn compact(report: &Value) -> Value {
    json!({
        "total_ms": report["total_ms"],
        "steps": report["steps"].as_array().map(|steps| steps.iter().map(|step| json!([step["name"], step["ms"]])).collect::<Vec<_>>()),
        "page": report["page"]["steps"].as_array().map(|steps| steps.iter().map(|step| json!([step["name"], step["ms"]])).collect::<Vec<_>>()),
        "engine_stop": report["exit"]["engine_stop"],
        "runtime": report["page"]["steps"][1]["detail"]["runtime"],
    })
}

/// The engine finished its shutdown: its stop was the graceful one, and every SQLite database
/// under the data folder was closed (no `-wal` file beside it).
fn graceful_evidence(stop: &Value, data: &Path) -> Result<((), Value)> {
    let stop = stop.as_str().unwrap_or_default();
    if !stop.starts_with("StdinClosed") && !stop.starts_with("AlreadyExited") {
        bail!("the engine did not stop on its own when asked: {stop:?}");
    }
    let mut databases = Vec::new();
    for entry in walkdir::WalkDir::new(data)
        .into_iter()
        .filter_map(|entry| entry.ok())
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".db-wal") {
            bail!(
                "{} was left behind: the database was not closed cleanly",
                entry.path().display()
            );
        }
        if name.ends_with(".db") {
            databases.push(entry.into_path());
        }
    }
    if databases.is_empty() {
        bail!("no database under {}", data.display());
    }
    let server_log = tail(&data.join("logs").join("server.log"), 20);
    if !server_log
        .lines()
        .rev()
        .take(5)
        .any(|line| line.ends_with(" stopped") || line.contains("stopped"))
    {
        bail!("the engine's log does not end with `stopped`:\n{server_log}");
    }
    Ok((
        (),
        json!({ "engine_stop": stop, "databases": databases, "wal_left": false }),
    ))
}

/// What an update run needs: the artifact to serve, and how to tell it was installed.
struct PreparedUpdate {
    artifact: PathBuf,
    /// A file the update must remove (macOS: a marker inside the replaced `.app`) or replace
    /// (Windows: the back-dated shell executable).
    marker: Option<PathBuf>,
}

/// The OS-specific half: how a user installs, closes and uninstalls, and what contains the
/// engine when the shell dies.
enum Os {
    Linux,
    Macos,
    Windows,
}

impl Os {
    fn for_target(target: Target) -> Os {
        match target {
            Target::LinuxX64 => Os::Linux,
            Target::MacosArm64 => Os::Macos,
            Target::WindowsX64 => Os::Windows,
        }
    }

    /// The mechanism the hard-kill step checks.
    fn containment(&self) -> &'static str {
        match self {
            Os::Linux => "PR_SET_PDEATHSIG and the engine's process group",
            Os::Macos => "the engine's stdin pipe: it exits when the shell's end closes",
            Os::Windows => "the Job Object with KILL_ON_JOB_CLOSE",
        }
    }

    fn close_request(&self) -> &'static str {
        match self {
            Os::Linux | Os::Macos => "SIGTERM",
            Os::Windows => "WM_CLOSE via taskkill",
        }
    }

    fn install(&self, app: &AppNames, installer: &Path, work: &Path) -> Result<Installed> {
        let name = installer
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        match self {
            Os::Linux => {
                run_ok(as_root("dpkg").arg("-i").arg(installer), "dpkg -i")?;
                Ok(Installed {
                    exe: PathBuf::from("/usr/bin").join(&app.id),
                    root: PathBuf::from("/usr/lib").join(&app.id),
                })
            }
            Os::Macos => {
                // Mount the image, copy the .app into a folder with a space, detach: what a
                // user does in Finder.
                let mount = work.join("dmg mount");
                fs_err::create_dir_all(&mount)?;
                run_ok(
                    Command::new("hdiutil")
                        .args([
                            "attach",
                            "-nobrowse",
                            "-readonly",
                            "-noautoopen",
                            "-mountpoint",
                        ])
                        .arg(&mount)
                        .arg(installer),
                    "hdiutil attach",
                )?;
                let apps = work.join("My Apps");
                let copied = (|| -> Result<PathBuf> {
                    let app = fs_err::read_dir(&mount)?
                        .filter_map(|entry| entry.ok())
                        .map(|entry| entry.path())
                        .find(|path| path.extension().is_some_and(|ext| ext == "app"))
                        .with_context(|| format!("no .app inside {name}"))?;
                    fs_err::create_dir_all(&apps)?;
                    let destination = apps.join(app.file_name().context("an app has a name")?);
                    fsutil::remove_path(&destination)?;
                    run_ok(Command::new("ditto").arg(&app).arg(&destination), "ditto")?;
                    Ok(destination)
                })();
                let _ = Command::new("hdiutil").arg("detach").arg(&mount).status();
                let bundle = copied?;
                Ok(Installed {
                    exe: bundle.join("Contents").join("MacOS").join(&app.id),
                    root: bundle,
                })
            }
            Os::Windows if name.ends_with(".msi") => {
                let log = work.join("msi-install.log");
                run_ok(
                    Command::new("msiexec")
                        .arg("/i")
                        .arg(installer)
                        .args(["/qn", "/norestart", "/l*v"])
                        .arg(&log),
                    "msiexec /i",
                )?;
                let exe = windows_installed_exe(app).with_context(|| {
                    format!(
                        "the MSI installed no {}.exe where expected; its log is {}",
                        app.id,
                        log.display()
                    )
                })?;
                let root = exe.parent().context("an exe has a folder")?.to_path_buf();
                Ok(Installed { exe, root })
            }
            Os::Windows => {
                // Per user and silent, into a folder with a space (`/D=` must come last and
                // unquoted, NSIS's rule).
                let dir = work.join("My Apps").join(&app.product_name);
                let mut command = Command::new(installer);
                command.arg("/S");
                nsis_path_arg(&mut command, "/D=", &dir);
                run_ok(&mut command, "the NSIS installer")?;
                let exe = dir.join(format!("{}.exe", app.id));
                if !exe.is_file() {
                    bail!("the NSIS installer put no {} there", exe.display());
                }
                Ok(Installed { exe, root: dir })
            }
        }
    }

    fn uninstall(&self, app: &AppNames, installer: &Path, installed: &Installed) -> Result<()> {
        match self {
            Os::Linux => run_ok(as_root("dpkg").args(["-r", app.id.as_str()]), "dpkg -r"),
            Os::Macos => fsutil::remove_path(&installed.root),
            Os::Windows if installer.extension().is_some_and(|ext| ext == "msi") => run_ok(
                Command::new("msiexec")
                    .arg("/x")
                    .arg(installer)
                    .args(["/qn", "/norestart"]),
                "msiexec /x",
            ),
            Os::Windows => {
                let uninstaller = installed.root.join("uninstall.exe");
                // `_?=` runs the uninstaller in place, so this waits for it to finish.
                let mut command = Command::new(&uninstaller);
                command.arg("/S");
                nsis_path_arg(&mut command, "_?=", &installed.root);
                run_ok(&mut command, "the NSIS uninstaller")?;
                // Run in place, it cannot delete itself.
                let _ = std::fs::remove_file(&uninstaller);
                let _ = std::fs::remove_dir(&installed.root);
                Ok(())
            }
        }
    }

    /// The engine, or anything in its process group (Unix; on Windows the Job Object holds
    /// them all and the engine's pid stands for it).
    fn engine_alive(&self, pid: u32) -> bool {
        test_support::is_alive(pid) || group_alive(pid)
    }

    fn force_kill(&self, pid: u32) {
        #[cfg(unix)]
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
        #[cfg(windows)]
        {
            let _ = Command::new("taskkill")
                .args(["/F", "/T", "/PID", &pid.to_string()])
                .status();
        }
    }

    /// Kills every process running `exe` (a window a failed step left, an app an update
    /// restarted).
    fn kill_running(&self, exe: &Path) {
        let _ = match self {
            Os::Windows => Command::new("taskkill")
                .args(["/F", "/T", "/IM"])
                .arg(exe.file_name().unwrap_or_default())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status(),
            // By the full path: `pkill -x` compares only the first 15 characters of a name.
            Os::Linux | Os::Macos => Command::new("pkill")
                .args(["-KILL", "-f"])
                .arg(exe)
                .status(),
        };
    }

    fn request_close(&self, child: &Child) -> Result<()> {
        match self {
            Os::Linux | Os::Macos => {
                #[cfg(unix)]
                unsafe {
                    libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
                }
                Ok(())
            }
            // Without /F, taskkill posts WM_CLOSE to the process's windows: the window's close
            // button, as far as the app can tell.
            Os::Windows => run_ok(
                Command::new("taskkill").args(["/PID", &child.id().to_string()]),
                "taskkill /PID",
            ),
        }
    }

    /// The `latest-<channel>.json` platform key the installed binary looks up.
    fn updater_key(&self) -> &'static str {
        match self {
            Os::Linux => "linux-x86_64-deb",
            Os::Macos => "darwin-aarch64-app",
            Os::Windows => "windows-x86_64-nsis",
        }
    }

    /// Windows: Tauri's updater starts the installer and ends the process itself.
    fn installer_exits_the_app(&self) -> bool {
        matches!(self, Os::Windows)
    }

    /// The next version's update. One commit builds one version, so it is this release's
    /// installer under the next version: Linux repacks the `.deb` with the new version in its
    /// control file (dpkg then records it); macOS serves the `.app` tarball and marks the
    /// installed `.app`, which the update replaces whole; Windows serves the NSIS installer and
    /// back-dates the installed shell, which the installer writes again.
    fn prepare_update(
        &self,
        app: &AppNames,
        case: &Case,
        installed: &Installed,
        release_dir: &Path,
        next: &str,
        scratch: &Path,
    ) -> Result<PreparedUpdate> {
        match self {
            Os::Linux => {
                let tree = scratch.join("pkg");
                run_ok(
                    Command::new("dpkg-deb")
                        .arg("-R")
                        .arg(&case.installer)
                        .arg(&tree),
                    "dpkg-deb -R",
                )?;
                let control = tree.join("DEBIAN").join("control");
                let text = fs_err::read_to_string(&control)?;
                let current = text
                    .lines()
                    .find_map(|line| line.strip_prefix("Version: "))
                    .context("the .deb's control file has no Version")?
                    .to_owned();
                fs_err::write(
                    &control,
                    text.replace(&format!("Version: {current}"), &format!("Version: {next}")),
                )?;
                let artifact = scratch.join(format!("{}_{next}_amd64.deb", app.id));
                run_ok(
                    Command::new("dpkg-deb")
                        .args(["--root-owner-group", "-Znone", "-b"])
                        .arg(&tree)
                        .arg(&artifact)
                        .stdout(Stdio::null()),
                    "dpkg-deb -b",
                )?;
                Ok(PreparedUpdate {
                    artifact,
                    marker: None,
                })
            }
            Os::Macos => {
                let artifact = find_file(release_dir, |name| name.ends_with(".app.tar.gz"))?;
                let marker = installed
                    .root
                    .join("Contents")
                    .join("Resources")
                    .join("ci-installed-marker");
                fs_err::write(&marker, b"replaced by the update")?;
                Ok(PreparedUpdate {
                    artifact,
                    marker: Some(marker),
                })
            }
            Os::Windows => {
                // Back-date the installed shell: NSIS writes a file with the time it was
                // packaged, so a newer time afterwards means the update's installer replaced
                // it. (Removing a file instead could make the installer's own steps fail.)
                let marker = installed.exe.clone();
                fs_err::File::options()
                    .write(true)
                    .open(&marker)?
                    .file()
                    .set_modified(backdated())?;
                Ok(PreparedUpdate {
                    artifact: case.installer.clone(),
                    marker: Some(marker),
                })
            }
        }
    }

    fn update_evidence(
        &self,
        app: &AppNames,
        prepared: &PreparedUpdate,
        installed: &Installed,
        next: &str,
    ) -> Result<Value> {
        match self {
            Os::Linux => {
                let output = Command::new("dpkg-query")
                    .args(["-W", "-f", "${Version}", app.id.as_str()])
                    .output()?;
                let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
                if version != next {
                    bail!("dpkg has {version:?} installed, not {next}");
                }
                Ok(json!({ "dpkg_version": version }))
            }
            Os::Macos => {
                let marker = prepared.marker.as_ref().context("a marker")?;
                if marker.exists() {
                    bail!(
                        "{} is still there: the update did not replace the .app",
                        marker.display()
                    );
                }
                if !installed.exe.is_file() {
                    bail!("the update left no {}", installed.exe.display());
                }
                Ok(json!({ "app_replaced": installed.root }))
            }
            Os::Windows => {
                let marker = prepared.marker.as_ref().context("a marker")?;
                // The installer runs after the app is gone; give it time.
                let replaced = wait_until(Duration::from_secs(180), || {
                    std::fs::metadata(marker)
                        .and_then(|meta| meta.modified())
                        .is_ok_and(|modified| modified > backdated())
                });
                if !replaced {
                    bail!(
                        "{} was not replaced: the update's installer did not run",
                        marker.display()
                    );
                }
                Ok(json!({ "installer_replaced": marker }))
            }
        }
    }
}

/// Whether a live (not zombie) process is in process group `pgid`.
fn group_alive(pgid: u32) -> bool {
    if cfg!(target_os = "linux") {
        // /proc/<pid>/stat: `pid (comm) state ppid pgrp …`; comm may hold spaces.
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return false;
        };
        entries.filter_map(|entry| entry.ok()).any(|entry| {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                return false;
            };
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string()
        })
    } else if cfg!(unix) {
        Command::new("pgrep")
            .args(["-g", &pgid.to_string()])
            .output()
            .is_ok_and(|output| !String::from_utf8_lossy(&output.stdout).trim().is_empty())
    } else {
        false
    }
}

/// NSIS reads `/D=` and `_?=` as the rest of its command line, unquoted even with spaces, so
/// they bypass the quoting Rust applies to arguments on Windows.
fn nsis_path_arg(command: &mut Command, switch: &str, path: &Path) {
    let argument = format!("{switch}{}", path.display());
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt;
        command.raw_arg(argument);
    }
    #[cfg(not(windows))]
    command.arg(argument);
}

/// The time a file is back-dated to, to see whether an installer wrote it again: 2001-09-09.
fn backdated() -> std::time::SystemTime {
    std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000)
}

/// Where an MSI put the shell: cargo-packager's WiX template installs per machine under
/// Program Files; a per-user one under LocalAppData.
fn windows_installed_exe(app: &AppNames) -> Option<PathBuf> {
    let exe = format!("{}.exe", app.id);
    ["ProgramFiles", "LOCALAPPDATA"]
        .iter()
        .filter_map(|name| plan::var_os(name).map(PathBuf::from))
        .flat_map(|base| {
            [
                base.join(&app.product_name),
                base.join("Programs").join(&app.product_name),
            ]
        })
        .map(|dir| dir.join(&exe))
        .find(|path| path.is_file())
}

/// The key that signs the release's updates: the configured one, or the local dev key when
/// the release folder's public key is the dev key's.
fn update_secret_key(
    release_dir: &Path,
) -> Result<(plan::Secret<String>, Option<plan::Secret<String>>)> {
    if let Some(secret) = plan::var(env::MINISIGN_KEY) {
        return Ok((plan::Secret::new(secret), plan::minisign_password()));
    }
    let (public, secret) = crate::release::dev_keys(&plan::project_root())?;
    let published = fs_err::read_to_string(release_dir.join("minisign.pub"))?;
    if published.trim() != public.trim() {
        bail!(
            "the release was signed with a key this machine does not hold: set {} to sign the test update",
            env::MINISIGN_KEY
        );
    }
    Ok((plan::Secret::new(secret), None))
}

/// `x.y.z` → `x.y.(z+1)` (a pre-release keeps its channel: `-beta.N` → `-beta.N+1`).
fn next_version(version: &str) -> Result<String> {
    let mut parsed: runtime_spec::Version = version.parse()?;
    if parsed.pre.is_empty() {
        parsed.patch += 1;
    } else {
        let pre = parsed.pre.as_str().to_owned();
        let (channel, number) = pre.rsplit_once('.').context("a pre-release like -beta.N")?;
        let number: u64 = number.parse().context("a pre-release like -beta.N")?;
        parsed.pre = semver::Prerelease::new(&format!("{channel}.{}", number + 1))?;
    }
    Ok(parsed.to_string())
}

fn find_file(dir: &Path, wanted: impl Fn(&str) -> bool) -> Result<PathBuf> {
    fs_err::read_dir(dir)?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .is_some_and(|name| wanted(&name.to_string_lossy()))
        })
        .with_context(|| format!("no such file in {}", dir.display()))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The last `lines` lines of a text file (empty when it does not exist).
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn wait_for_exit(child: &mut Child, limit: Duration) -> Result<std::process::ExitStatus> {
    let end = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the app did not exit within {} s (killed)", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn run_ok(command: &mut Command, what: &str) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("running {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// `program` as root: directly when this process is root, else through `sudo -n` (CI runners
/// have passwordless sudo; a prompt would hang a job).
fn as_root(program: &str) -> Command {
    #[cfg(unix)]
    if unsafe { libc::geteuid() } == 0 {
        return Command::new(program);
    }
    let mut command = Command::new("sudo");
    command.args(["-n", program]);
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_version_keeps_the_channel() {
        assert_eq!(next_version("0.1.0").unwrap(), "0.1.1");
        assert_eq!(next_version("1.2.3-beta.4").unwrap(), "1.2.3-beta.5");
        assert!(next_version("1.2.3-rc").is_err());
    }

    #[test]
    fn each_os_installs_thin_and_offline_installers_and_checks_each_thing_once() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "tokenizer-studio_0.1.0_amd64.deb",
            "tokenizer-studio_0.1.0_amd64-offline.deb",
            "Tokenizer Studio_0.1.0_x64-setup.exe",
            "Tokenizer Studio_0.1.0_x64-setup-offline.exe",
            "Tokenizer Studio_0.1.0_x64_en-US.msi",
            "Tokenizer Studio_0.1.0_x64_en-US-offline.msi",
            "Tokenizer Studio_0.1.0_aarch64.dmg",
            "Tokenizer Studio_0.1.0_aarch64-offline.dmg",
            "tokenizer-studio-runtime-0.1.0-linux-x64.tar.zst",
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let summary = |target| -> Vec<(String, bool, bool, bool)> {
            cases(target, dir.path())
                .unwrap()
                .into_iter()
                .map(|case| (case.label, case.offline, case.lifecycle, case.self_update))
                .collect()
        };
        let owned = |list: &[(&str, bool, bool, bool)]| -> Vec<(String, bool, bool, bool)> {
            list.iter()
                .map(|(label, a, b, c)| ((*label).to_owned(), *a, *b, *c))
                .collect()
        };
        assert_eq!(
            summary(Target::LinuxX64),
            owned(&[
                ("deb-offline", true, true, false),
                ("deb", false, false, true)
            ])
        );
        assert_eq!(
            summary(Target::MacosArm64),
            owned(&[
                ("dmg-offline", true, true, false),
                ("dmg", false, false, true)
            ])
        );
        assert_eq!(
            summary(Target::WindowsX64),
            owned(&[
                ("nsis-offline", true, true, false),
                ("nsis", false, false, true),
                ("msi-offline", true, false, false),
                ("msi", false, false, false),
            ])
        );
        // Only one kind of installer: refused with the command that makes both.
        std::fs::remove_file(dir.path().join("tokenizer-studio_0.1.0_amd64.deb")).unwrap();
        let error = cases(Target::LinuxX64, dir.path()).err().unwrap();
        assert!(format!("{error:#}").contains("--bundle both"), "{error:#}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_process_group_is_alive_while_a_member_runs() {
        use std::os::unix::process::CommandExt;
        let mut leader = Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = leader.id();
        assert!(group_alive(pgid));
        leader.kill().unwrap();
        leader.wait().unwrap();
        assert!(!group_alive(pgid));
    }

    #[test]
    fn an_offline_install_must_carry_the_published_runtime_bytes() {
        let release = tempfile::tempdir().unwrap();
        let installed = tempfile::tempdir().unwrap();
        let name = "tokenizer-studio-runtime-0.1.0-linux-x64.tar.zst";
        std::fs::write(installed.path().join(name), b"the published bytes").unwrap();
        let sha = test_support::sha256_hex(b"the published bytes");
        let sums = |sha: &str| format!("{sha}  {name}\n{}  other.deb\n", "0".repeat(64));
        std::fs::write(release.path().join("SHA256SUMS"), sums(&sha)).unwrap();
        assert!(
            bundled_runtime_matches(release.path(), Target::LinuxX64, installed.path()).is_ok()
        );
        // One byte different from what the release published.
        std::fs::write(installed.path().join(name), b"the published byteS").unwrap();
        let error = bundled_runtime_matches(release.path(), Target::LinuxX64, installed.path())
            .unwrap_err();
        assert!(format!("{error:#}").contains(&format!("the published {name} has {sha}")));
        // Not carried at all.
        std::fs::remove_file(installed.path().join(name)).unwrap();
        let error = bundled_runtime_matches(release.path(), Target::LinuxX64, installed.path())
            .unwrap_err();
        assert!(format!("{error:#}").contains("is not under"), "{error:#}");
    }

    #[test]
    fn graceful_means_stopped_on_request_with_every_database_closed() {
        let data = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(data.path().join("db")).unwrap();
        std::fs::create_dir_all(data.path().join("logs")).unwrap();
        std::fs::write(data.path().join("db/app.db"), b"").unwrap();
        std::fs::write(data.path().join("logs/server.log"), "x INFO app stopped\n").unwrap();
        let stop = json!("StdinClosed { code: Some(0) }");
        assert!(graceful_evidence(&stop, data.path()).is_ok());
        let error = graceful_evidence(&json!("Killed"), data.path()).unwrap_err();
        assert!(format!("{error:#}").contains("did not stop on its own"));
        std::fs::write(data.path().join("db/app.db-wal"), b"").unwrap();
        let error = graceful_evidence(&stop, data.path()).unwrap_err();
        assert!(
            format!("{error:#}").contains("not closed cleanly"),
            "{error:#}"
        );
    }
}
