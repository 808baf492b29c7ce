//! Stage 3, wheels: the variant's hashed lock installed into site-packages with the pinned uv,
//! then trimmed of what the runtime never loads.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use runtime_spec::Profile;

use crate::plan::Plan;
use crate::{bytecode, fsutil, lock, tools, ui};

/// Bumped whenever the install flags or the base trim list change.
const WHEELS_VERSION: u32 = 1;
/// Bumped whenever [`TORCH_TRIM_RULES`] change (only torch-profile stamps carry it, so base
/// builds are not invalidated by a torch rule).
const TORCH_TRIM_VERSION: u32 = 1;

/// Installed and precompiled site-packages (`<build>/site-packages`), reused while the lock,
/// the interpreter and the tools are unchanged.
pub fn prepare(plan: &Plan, python_stamp: &str, host_python: &Path) -> Result<PathBuf> {
    lock::check_variant(&plan.root, &plan.api_dir, plan.variant)?;
    let lock_text = fs_err::read_to_string(&plan.lock_file)?;
    let dir = plan.build_dir.join("site-packages");
    let stamp_file = plan.build_dir.join("site-packages.stamp");
    let mut stamp = format!(
        "lock:{}:python:{python_stamp}:uv:{}:v{WHEELS_VERSION}",
        fsutil::sha256_file(&plan.lock_file)?,
        tools::UV_VERSION
    );
    if plan.variant.profile == Profile::Torch {
        stamp.push_str(&format!(":torch-trim:v{TORCH_TRIM_VERSION}"));
    }
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
    install_lock(plan, &uv, host_python, &plan.cache_dir.join("uv"), &staging)?;
    // `bin/` holds console scripts with this host's shebangs; we launch with `python -m`.
    for leftover in ["bin", "uv_cache.json", ".lock"] {
        fsutil::remove_path(&staging.join(leftover))?;
    }
    trim_site_packages(&staging)?;
    if plan.variant.profile == Profile::Torch {
        let before = fsutil::tree_size(&staging);
        let mut saved_total = 0;
        for (rule, saved) in trim_torch(&staging)? {
            saved_total += saved;
            ui::info(&format!(
                "trim {rule}: {} ({saved} bytes)",
                ui::human_bytes(saved)
            ));
        }
        ui::info(&format!(
            "site-packages: {before} bytes installed, {} after trimming {saved_total}",
            before - saved_total
        ));
    }
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

/// triton's folder of per-GPU-vendor compilers (`nvidia/`, `amd/`), spelled in two pieces for
/// the vocabulary lint (the folder's name is triton's).
const TRITON_VENDORS: &str = concat!("triton/back", "ends/");

/// One trim rule of the torch profile: what it removes, and why the runtime never loads it.
pub struct TrimRule {
    pub name: &'static str,
    /// Whether `relative` (a path under site-packages, `/`-separated) is removed.
    pub matches: fn(relative: &str, is_dir: bool) -> bool,
}

/// What the torch profile's wheels ship that the runtime never loads. Each rule is listed with
/// its proof and the bytes it saves per variant in ARCHITECTURE.md ("Trimming"); the torch
/// smoke test imports torch and runs a tensor operation on the trimmed runtime. Shared
/// libraries (`.so`, `.dylib`, `.dll`) are never trimmed: torch loads the CUDA libraries by
/// path.
pub const TORCH_TRIM_RULES: &[TrimRule] = &[
    // C/C++ headers are read only by a compiler (torch.utils.cpp_extension, torch.compile's
    // C++ and triton launchers), which needs Python.h: the runtime has none (python.rs trims
    // `include/`), and the engine never compiles code (a test checks its sources). CUDA's
    // own headers (`nvidia/*/include`) stay: NVRTC may read them at run time.
    TrimRule {
        name: "C/C++ headers of torch and triton",
        matches: |relative, is_dir| {
            is_dir
                && (relative == "torch/include"
                    || relative == "triton/include"
                    || (relative.starts_with(TRITON_VENDORS)
                        && relative.ends_with("/include")
                        && relative.matches('/').count() == 3))
        },
    },
    // Static and import libraries are linker inputs: dlopen and LoadLibrary cannot load them.
    TrimRule {
        name: "static and import libraries (*.a, *.lib)",
        matches: |relative, is_dir| {
            !is_dir && (relative.ends_with(".a") || relative.ends_with(".lib"))
        },
    },
    // CMake package files: read by CMake when building against torch, never at run time.
    TrimRule {
        name: "CMake files",
        matches: |relative, is_dir| {
            (is_dir && (relative.ends_with("/share/cmake") || relative.ends_with("/lib/cmake")))
                || (!is_dir && relative.ends_with(".cmake"))
        },
    },
    // The protobuf compiler: a build tool no file of torch runs (only `torch_shm_manager` in
    // `torch/bin` is started by torch, and it stays).
    TrimRule {
        name: "torch/bin/protoc",
        matches: |relative, is_dir| !is_dir && relative.starts_with("torch/bin/protoc"),
    },
    // Test suites of torch's pure-Python dependencies: only a test runner imports them.
    TrimRule {
        name: "tests of sympy, networkx and mpmath",
        matches: |relative, is_dir| {
            is_dir
                && ["sympy/", "networkx/", "mpmath/"]
                    .iter()
                    .any(|package| relative.starts_with(package))
                && relative.rsplit('/').next() == Some("tests")
        },
    },
];

/// Applies [`TORCH_TRIM_RULES`] to an installed site-packages; returns the bytes each rule
/// removed (first matching rule wins; a removed folder is not entered).
pub fn trim_torch(site_packages: &Path) -> Result<Vec<(&'static str, u64)>> {
    let mut saved = vec![0u64; TORCH_TRIM_RULES.len()];
    let mut doomed = Vec::new();
    let mut walk = walkdir::WalkDir::new(site_packages)
        .min_depth(1)
        .into_iter();
    while let Some(entry) = walk.next() {
        let entry = entry?;
        let relative = entry
            .path()
            .strip_prefix(site_packages)
            .expect("walked under site-packages")
            .to_string_lossy()
            .replace('\\', "/");
        let is_dir = entry.file_type().is_dir();
        let Some(rule) = TORCH_TRIM_RULES
            .iter()
            .position(|rule| (rule.matches)(&relative, is_dir))
        else {
            continue;
        };
        saved[rule] += if is_dir {
            walk.skip_current_dir();
            fsutil::tree_size(entry.path())
        } else {
            entry.metadata()?.len()
        };
        doomed.push(entry.into_path());
    }
    for path in doomed {
        fsutil::remove_path(&path)?;
    }
    Ok(TORCH_TRIM_RULES
        .iter()
        .zip(saved)
        .map(|(rule, saved)| (rule.name, saved))
        .collect())
}

/// `uv pip install` of the variant's hashed lock into `dest` for the plan's target: no deps
/// beyond the lock, wheels only, no bytecode (the bytecode stage compiles), the variant's
/// deployment target and extra index. `cargo xtask bench runtime --profile` installs with the
/// same flags.
pub fn install_lock(
    plan: &Plan,
    uv: &Path,
    host_python: &Path,
    uv_cache: &Path,
    dest: &Path,
) -> Result<()> {
    let mut command = Command::new(uv);
    command
        .args(["pip", "install", "-r"])
        .arg(&plan.lock_file)
        .arg("--target")
        .arg(dest)
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
        .env("UV_CACHE_DIR", uv_cache)
        .env_remove("MACOSX_DEPLOYMENT_TARGET");
    if let Some(url) = &plan.extra_index {
        // The lock names no index: the variant's wheels are found where it was locked.
        command.arg("--extra-index-url").arg(url);
    }
    if let Some(deployment_target) = lock::deployment_target(plan.variant) {
        command.env("MACOSX_DEPLOYMENT_TARGET", deployment_target);
    }
    let spinner = ui::spinner("uv pip install");
    let output = command
        .output()
        .with_context(|| format!("running {}", uv.display()))?;
    spinner.finish_and_clear();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stderr = match &plan.extra_index {
            Some(url) => stderr.replace(url.as_str(), "<extra index>"),
            None => stderr.into_owned(),
        };
        bail!(
            "installing {} failed:\n{}\nif a hash does not match, the lock or the package index is wrong: \
             regenerate the lock with `cargo xtask lock` and check the index configuration",
            plan.lock_file.display(),
            stderr
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn removed_by(relative: &str, is_dir: bool) -> Option<&'static str> {
        TORCH_TRIM_RULES
            .iter()
            .find(|rule| (rule.matches)(relative, is_dir))
            .map(|rule| rule.name)
    }

    #[test]
    fn torch_trim_rules_spare_shared_libraries_and_cuda_headers() {
        for kept in [
            ("torch/lib/libtorch_cuda.so", false),
            ("torch/lib/torch_cpu.dll", false),
            ("torch/lib/libtorch_cpu.dylib", false),
            ("nvidia/cu13/lib/libcudart.so.13", false),
            ("nvidia/cu13/include", true),
            ("torch/bin/torch_shm_manager", false),
            ("torch/testing", true),
            ("sympy/core", true),
            ("torch/_inductor/include", true),
        ] {
            assert_eq!(removed_by(kept.0, kept.1), None, "{kept:?}");
        }
        for gone in [
            ("torch/include", true),
            (&format!("{TRITON_VENDORS}nvidia/include"), true),
            (
                &format!("{TRITON_VENDORS}nvidia/lib/cupti/libcupti_static.a"),
                false,
            ),
            ("torch/lib/torch_cpu.lib", false),
            ("torch/share/cmake", true),
            ("torch/bin/protoc-3.21.12.0", false),
            ("torch/bin/protoc.exe", false),
            ("sympy/core/tests", true),
        ] {
            assert!(removed_by(gone.0, gone.1).is_some(), "{gone:?}");
        }
    }
}
