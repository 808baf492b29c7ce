//! `cargo xtask smoke`: the smoke tests of `smoke-tests/` against an assembled runtime.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::ui;

/// Runs every smoke step against a runtime folder or archive of `app`.
pub fn smoke(app: &crate::plan::App, runtime: &Path) -> Result<()> {
    ui::step("smoke", &format!("exercising {}", runtime.display()));
    // The steps start processes in other working directories: a relative path would dangle.
    let runtime = &std::path::absolute(runtime)
        .with_context(|| format!("resolving the runtime path {}", runtime.display()))?;
    let exe =
        std::env::current_exe().context("locating the xtask binary for the supervising process")?;
    let options = smoke_tests::SmokeOptions {
        runtime: runtime.to_path_buf(),
        supervisor_command: Some(Box::new(move |runtime: &Path, data: &Path| {
            let mut command = Command::new(&exe);
            command
                .arg("smoke-supervise")
                .arg("--runtime")
                .arg(runtime)
                .arg("--data")
                .arg(data);
            command
        })),
        on_step: Box::new(|line| ui::info(&format!("ok: {line}"))),
        app_smoke: app
            .descriptor
            .smoke
            .as_ref()
            .map(|script| app.dir.join(script)),
    };
    let report = smoke_tests::run(&options)
        .with_context(|| format!("the runtime {} failed its smoke tests", runtime.display()))?;
    ui::summary(&format!(
        "smoke ok: {} steps passed ({})",
        report.steps_passed.len(),
        runtime.display()
    ));
    Ok(())
}

/// The hidden `smoke-supervise` command: the process the smoke tests SIGKILL.
pub fn supervise(runtime: &Path, data: &Path) -> Result<()> {
    smoke_tests::supervise_until_killed(runtime, data)?;
    Ok(())
}

/// The host target's archive of `app` in `out_dir` (its `dist/`).
pub fn default_runtime(
    app: &crate::plan::App,
    out_dir: &Path,
    version: &runtime_spec::Version,
) -> Result<PathBuf> {
    let target = runtime_spec::Target::host()
        .context("this host is not a release target: pass --runtime")?;
    Ok(out_dir.join(runtime_spec::layout::archive_name(
        &app.names.archive_stem(),
        version,
        runtime_spec::Variant::base(target),
    )))
}
