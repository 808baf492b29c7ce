//! Stage 3, wheels: the target's hashed lock installed into site-packages with the pinned uv.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use runtime_spec::Target;

use crate::plan::Plan;
use crate::{bytecode, fsutil, lock, tools, ui};

/// Bumped whenever the install flags or the trim list change.
const WHEELS_VERSION: u32 = 1;

/// Installed and precompiled site-packages (`<build>/site-packages`), reused while the lock,
/// the interpreter and the tools are unchanged.
pub fn prepare(plan: &Plan, python_stamp: &str, host_python: &Path) -> Result<PathBuf> {
    let dependencies = lock::declared_dependencies(&plan.api_dir)?;
    lock::check_one(&plan.root, &dependencies, plan.target)?;
    let lock_text = fs_err::read_to_string(&plan.lock_file)?;
    let dir = plan.build_dir.join("site-packages");
    let stamp_file = plan.build_dir.join("site-packages.stamp");
    let stamp = format!(
        "lock:{}:python:{python_stamp}:uv:{}:v{WHEELS_VERSION}",
        fsutil::sha256_file(&plan.lock_file)?,
        tools::UV_VERSION
    );
    if fsutil::stamp_matches(&stamp_file, &stamp) && dir.is_dir() {
        ui::step("wheels", "reusing installed site-packages (lock unchanged)");
        return Ok(dir);
    }
    let uv = tools::uv(&plan.cache_dir)?;
    ui::step(
        "wheels",
        &format!(
            "installing {} packages from {}",
            lock::count_packages(&lock_text),
            plan.lock_file.display()
        ),
    );
    let staging = fsutil::fresh_sibling(&dir)?;
    let mut command = Command::new(&uv);
    command
        .args(["pip", "install", "-r"])
        .arg(&plan.lock_file)
        .arg("--target")
        .arg(&staging)
        .args([
            "--python-platform",
            plan.target.triple(),
            "--python-version",
            "3.12",
            "--python",
        ])
        .arg(host_python)
        .args([
            "--require-hashes",
            "--no-deps",
            "--only-binary",
            ":all:",
            "--no-compile",
            "--quiet",
        ])
        .env("UV_CACHE_DIR", plan.cache_dir.join("uv"));
    if plan.target == Target::MacosArm64 {
        command.env("MACOSX_DEPLOYMENT_TARGET", lock::MACOSX_DEPLOYMENT_TARGET);
    }
    let spinner = ui::spinner("uv pip install");
    let output = command
        .output()
        .with_context(|| format!("running {}", uv.display()))?;
    spinner.finish_and_clear();
    if !output.status.success() {
        bail!(
            "installing {} failed:\n{}\nif a hash does not match, the lock or the package index is wrong: \
             regenerate the lock with `cargo xtask lock` and check the index configuration",
            plan.lock_file.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // `bin/` holds console scripts with this host's shebangs; we launch with `python -m`.
    for leftover in ["bin", "uv_cache.json", ".lock"] {
        fsutil::remove_path(&staging.join(leftover))?;
    }
    trim_site_packages(&staging)?;
    bytecode::compile_tree(host_python, &staging, plan.target.site_packages())?;
    fsutil::replace_dir(&staging, &dir)?;
    fsutil::write_stamp(&stamp_file, &stamp)?;
    Ok(dir)
}

/// Package test suites and C/C++ headers that nothing imports at run time (≈ 67 MB of tests in
/// Linux site-packages; pyarrow's `include/` and `src/`; see
/// `docs/decisions/0002-plain-cpython-not-frozen.md`).
fn trim_site_packages(site_packages: &Path) -> Result<()> {
    for relative in [
        "pyarrow/include",
        "pyarrow/src",
        "pyarrow/tests",
        "pandas/tests",
        "numpy/_core/include",
    ] {
        fsutil::remove_path(&site_packages.join(relative))?;
    }
    let numpy = site_packages.join("numpy");
    if numpy.is_dir() {
        let mut doomed = Vec::new();
        for entry in walkdir::WalkDir::new(&numpy) {
            let entry = entry?;
            if entry.file_type().is_dir() && entry.file_name() == "tests" {
                doomed.push(entry.into_path());
            }
        }
        for path in doomed {
            fsutil::remove_path(&path)?;
        }
    }
    Ok(())
}
