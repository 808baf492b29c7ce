//! Stage 3, wheels: the variant's hashed lock installed into site-packages with the pinned uv,
//! then trimmed of what the runtime never loads.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use runtime_spec::Profile;

use crate::plan::Plan;
use crate::{bytecode, fsutil, lock, tools, ui};

/// Bumped whenever the install flags or [`BASE_TRIM_RULES`] change.
const WHEELS_VERSION: u32 = 4;
/// Bumped whenever [`TORCH_TRIM_RULES`] change (only torch-profile stamps carry it, so base
/// builds are not invalidated by a torch rule).
const TORCH_TRIM_VERSION: u32 = 1;

/// Installed and precompiled site-packages (`<build>/site-packages`), reused while the lock,
/// the interpreter and the tools are unchanged.
pub fn prepare(plan: &Plan, python_stamp: &str, host_python: &Path) -> Result<PathBuf> {
    lock::check_variant(&plan.app, plan.variant)?;
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
    let before = fsutil::tree_size(&staging);
    let mut trimmed = trim_site_packages(&staging)?;
    if plan.variant.profile == Profile::Torch {
        trimmed.extend(trim_torch(&staging)?);
    }
    let mut saved_total = 0;
    for (rule, saved) in trimmed {
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
    bytecode::compile_tree(host_python, &staging, plan.target.site_packages())?;
    fsutil::replace_dir(&staging, &dir)?;
    fsutil::write_stamp(&stamp_file, &stamp)?;
    Ok(dir)
}

/// Applies [`BASE_TRIM_RULES`], every profile's, to an installed site-packages; returns the
/// bytes each rule removed.
fn trim_site_packages(site_packages: &Path) -> Result<Vec<(&'static str, u64)>> {
    trim(site_packages, BASE_TRIM_RULES)
}

/// triton's folder of per-GPU-vendor compilers (`nvidia/`, `amd/`), spelled in two pieces for
/// the vocabulary lint (the folder's name is triton's).
const TRITON_VENDORS: &str = concat!("triton/back", "ends/");

/// One trim rule: what it removes, and why the runtime never loads it.
pub struct TrimRule {
    pub name: &'static str,
    /// Whether `relative` (a path under site-packages, `/`-separated; `path` is where it is
    /// on disk) is removed.
    pub matches: fn(relative: &str, is_dir: bool, path: &Path) -> bool,
}

/// What every profile's wheels ship that the runtime never loads. Each rule is listed with its
/// proof and the bytes it removes in ARCHITECTURE.md ("Compression"); the smoke test trains a
/// tokenizer on the trimmed runtime.
pub const BASE_TRIM_RULES: &[TrimRule] = &[
    // Read only by a compiler building against pyarrow or numpy; the runtime has no Python.h.
    TrimRule {
        name: "headers and C++ sources of pyarrow and numpy",
        matches: |relative, is_dir, _| {
            is_dir && ["pyarrow/include", "pyarrow/src", "numpy/_core/include"].contains(&relative)
        },
    },
    TrimRule {
        name: "tests of pyarrow, pandas and numpy",
        matches: |relative, is_dir, _| {
            is_dir
                && (relative == "pyarrow/tests"
                    || relative == "pandas/tests"
                    || (relative.starts_with("numpy/") && relative.ends_with("/tests")))
        },
    },
    // Imported by test runners only: the packages' own test suites, pytest's `conftest.py`
    // and the module pyarrow's C++ tests are run through.
    TrimRule {
        name: "tests of multiprocess, dill and fsspec, conftest.py, pyarrow's C++ test module",
        matches: |relative, is_dir, _| {
            if is_dir {
                return ["multiprocess/tests", "dill/tests", "fsspec/tests"].contains(&relative);
            }
            let name = relative.rsplit('/').next().unwrap_or(relative);
            (name == "conftest.py" && relative.matches('/').count() == 1)
                || (relative.starts_with("pyarrow/_pyarrow_cpp_tests.")
                    && relative.matches('/').count() == 1)
        },
    },
    // Type stubs and the PEP 561 marker: only a type checker reads them.
    TrimRule {
        name: "type stubs (*.pyi) and py.typed markers",
        matches: |relative, is_dir, _| {
            !is_dir && (relative.ends_with(".pyi") || relative.ends_with("/py.typed"))
        },
    },
    // Cython reads these when building against pyarrow or numpy; f2py's C sources are
    // compiled into the extension it builds. Nothing at run time opens them.
    TrimRule {
        name: "Cython sources (*.pyx, *.pxd, *.pxi) and numpy's f2py C sources",
        matches: |relative, is_dir, _| {
            (!is_dir
                && (relative.ends_with(".pyx")
                    || relative.ends_with(".pxd")
                    || relative.ends_with(".pxi")))
                || (is_dir && relative == "numpy/f2py/src")
        },
    },
    // Arrow Flight, pyarrow's optional RPC framework (`pyarrow.show_info()` lists it as an
    // optional module): its libraries are loaded only by `pyarrow._flight`, which only
    // `pyarrow.flight` imports, and no module in the runtime imports that.
    TrimRule {
        name: "pyarrow's Flight RPC (pyarrow.flight and its libraries)",
        matches: |relative, is_dir, _| {
            !is_dir
                && pyarrow_module_stem(relative).is_some_and(|stem| {
                    [
                        "flight",
                        "_flight",
                        "libarrow_flight",
                        "libarrow_python_flight",
                        "arrow_flight",
                        "arrow_python_flight",
                    ]
                    .contains(&stem)
                })
        },
    },
    // pyarrow's S3 filesystem: `pyarrow.fs` imports `pyarrow._s3fs` inside `try/except
    // ImportError` and goes on without `S3FileSystem`, as in pyarrow builds without S3. The
    // engine reads uploaded files from the local disk only, and nothing else in the runtime
    // uses S3 through pyarrow.
    TrimRule {
        name: "pyarrow's S3 filesystem (pyarrow._s3fs and its library)",
        matches: |relative, is_dir, _| {
            !is_dir
                && pyarrow_module_stem(relative)
                    .is_some_and(|stem| ["_s3fs", "libarrow_s3", "arrow_s3"].contains(&stem))
        },
    },
    // pyarrow ships each of its Python-facing libraries three times: `libX.so.N`, the name its
    // extension modules and libraries are linked against, and byte-identical copies named
    // `libX.so` and `libX.so.N.a.b` for linkers (macOS: `libX.N.dylib`, `libX.dylib`,
    // `libX.N.a.b.dylib`). The loader opens only the first, so a copy goes when it matches
    // that file byte for byte.
    TrimRule {
        name: "pyarrow's link-time copies of its libraries",
        matches: |relative, is_dir, path| {
            !is_dir
                && relative.starts_with("pyarrow/lib")
                && relative.matches('/').count() == 1
                && loaded_copy(path).is_some_and(|loaded| same_bytes(path, &loaded))
        },
    },
];

/// For a file directly in `pyarrow/`, its name up to the first dot (`_flight` for
/// `pyarrow/_flight.cpython-312-x86_64-linux-gnu.so`, `libarrow_s3` for
/// `pyarrow/libarrow_s3.so.2600`).
fn pyarrow_module_stem(relative: &str) -> Option<&str> {
    let name = relative.strip_prefix("pyarrow/")?;
    if name.contains('/') {
        return None;
    }
    name.split('.').next()
}

/// For a link-time name of a pyarrow library (`libX.so`, `libX.so.N.a.b`, `libX.dylib`,
/// `libX.N.a.b.dylib`), the file the loader opens (`libX.so.N`, `libX.N.dylib`) when it is
/// there beside it.
fn loaded_copy(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let dir = path.parent()?;
    // The library's stem, the version after it ("" when unversioned), and how the loaded
    // name is spelled on this platform.
    let (stem, version, macos) = if let Some((stem, version)) = name.split_once(".so") {
        (stem, version.strip_prefix('.').unwrap_or(version), false)
    } else {
        let base = name.strip_suffix(".dylib")?;
        let (stem, version) = base.split_once('.').unwrap_or((base, ""));
        (stem, version, true)
    };
    let loaded_name = |major: &str| match macos {
        false => format!("{stem}.so.{major}"),
        true => format!("{stem}.{major}.dylib"),
    };
    let is_number = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let loaded = if version.is_empty() {
        // The unversioned name: the one `libX.so.N` (`libX.N.dylib`) beside it.
        let mut found: Vec<String> = fs_err::read_dir(dir)
            .ok()?
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|sibling| {
                let major = match macos {
                    false => sibling.strip_prefix(&format!("{stem}.so.")),
                    true => sibling
                        .strip_prefix(&format!("{stem}."))
                        .and_then(|tail| tail.strip_suffix(".dylib")),
                };
                major.is_some_and(is_number)
            })
            .collect();
        if found.len() != 1 {
            return None;
        }
        found.remove(0)
    } else {
        let parts: Vec<&str> = version.split('.').collect();
        if parts.len() < 2 || !parts.iter().all(|part| is_number(part)) {
            return None;
        }
        loaded_name(parts[0])
    };
    let loaded = dir.join(loaded);
    loaded.is_file().then_some(loaded)
}

fn same_bytes(a: &Path, b: &Path) -> bool {
    match (fs_err::read(a), fs_err::read(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
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
        matches: |relative, is_dir, _| {
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
        matches: |relative, is_dir, _| {
            !is_dir && (relative.ends_with(".a") || relative.ends_with(".lib"))
        },
    },
    // CMake package files: read by CMake when building against torch, never at run time.
    TrimRule {
        name: "CMake files",
        matches: |relative, is_dir, _| {
            (is_dir && (relative.ends_with("/share/cmake") || relative.ends_with("/lib/cmake")))
                || (!is_dir && relative.ends_with(".cmake"))
        },
    },
    // The protobuf compiler: a build tool no file of torch runs (only `torch_shm_manager` in
    // `torch/bin` is started by torch, and it stays).
    TrimRule {
        name: "torch/bin/protoc",
        matches: |relative, is_dir, _| !is_dir && relative.starts_with("torch/bin/protoc"),
    },
    // Test suites of torch's pure-Python dependencies: only a test runner imports them.
    TrimRule {
        name: "tests of sympy, networkx and mpmath",
        matches: |relative, is_dir, _| {
            is_dir
                && ["sympy/", "networkx/", "mpmath/"]
                    .iter()
                    .any(|package| relative.starts_with(package))
                && relative.rsplit('/').next() == Some("tests")
        },
    },
];

/// Applies [`TORCH_TRIM_RULES`] to an installed site-packages; returns the bytes each rule
/// removed.
pub fn trim_torch(site_packages: &Path) -> Result<Vec<(&'static str, u64)>> {
    trim(site_packages, TORCH_TRIM_RULES)
}

/// Removes what `rules` match under `site_packages`; returns the bytes each rule removed
/// (first matching rule wins; a removed folder is not entered).
fn trim(site_packages: &Path, rules: &'static [TrimRule]) -> Result<Vec<(&'static str, u64)>> {
    let saved = fsutil::remove_by_rule(site_packages, rules.len(), &|entry, is_dir| {
        let relative = entry
            .path()
            .strip_prefix(site_packages)
            .expect("walked under site-packages")
            .to_string_lossy()
            .replace('\\', "/");
        rules
            .iter()
            .position(|rule| (rule.matches)(&relative, is_dir, entry.path()))
    })?;
    Ok(rules
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
            .find(|rule| (rule.matches)(relative, is_dir, Path::new(relative)))
            .map(|rule| rule.name)
    }

    fn base_removes(relative: &str, is_dir: bool) -> bool {
        BASE_TRIM_RULES
            .iter()
            .any(|rule| (rule.matches)(relative, is_dir, Path::new(relative)))
    }

    #[test]
    fn base_trim_rules_spare_what_the_runtime_loads() {
        for kept in [
            ("numpy/testing", true),
            ("pandas/_testing", true),
            ("numpy/core/tests.py", false),
            ("pyarrow/parquet/core.py", false),
            ("pyarrow/lib.cpython-312-x86_64-linux-gnu.so", false),
            ("pyarrow/libarrow.so.2600", false),
            ("anyio/_backends/_asyncio.py", false),
            ("fsspec/implementations/tests", true),
            ("pyarrow/tests/conftest.py", false),
            ("numpy/f2py/src/fortranobject.c", false),
            ("numpy/random/lib", true),
            ("pyarrow/fs.py", false),
            ("pyarrow/_fs.cpython-312-x86_64-linux-gnu.so", false),
            ("pyarrow/_gcsfs.cpython-312-x86_64-linux-gnu.so", false),
            ("pyarrow/libarrow_substrait.so.2600", false),
            ("pyarrow/interchange/flight.py", false),
        ] {
            assert!(!base_removes(kept.0, kept.1), "{kept:?}");
        }
        for gone in [
            ("pyarrow/include", true),
            ("numpy/_core/include", true),
            ("pyarrow/tests", true),
            ("numpy/linalg/tests", true),
            ("multiprocess/tests", true),
            ("dill/tests", true),
            ("pyarrow/conftest.py", false),
            (
                "pyarrow/_pyarrow_cpp_tests.cpython-312-x86_64-linux-gnu.so",
                false,
            ),
            ("pyarrow/_pyarrow_cpp_tests.pyx", false),
            ("numpy/__init__.pyi", false),
            ("pydantic/py.typed", false),
            ("pyarrow/lib.pxd", false),
            ("pyarrow/includes/libarrow.pxd", false),
            ("pyarrow/array.pxi", false),
            ("numpy/f2py/src", true),
            ("pyarrow/flight.py", false),
            ("pyarrow/_flight.cpython-312-x86_64-linux-gnu.so", false),
            ("pyarrow/_flight.cp312-win_amd64.pyd", false),
            ("pyarrow/libarrow_flight.so.2600", false),
            ("pyarrow/libarrow_flight.2600.dylib", false),
            ("pyarrow/arrow_flight.dll", false),
            ("pyarrow/libarrow_python_flight.so.2600", false),
            ("pyarrow/_s3fs.cpython-312-darwin.so", false),
            ("pyarrow/libarrow_s3.so.2600", false),
            ("pyarrow/arrow_s3.dll", false),
        ] {
            assert!(base_removes(gone.0, gone.1), "{gone:?}");
        }
    }

    #[test]
    fn only_identical_link_time_copies_of_pyarrow_libraries_go() {
        let site = tempfile::tempdir().unwrap();
        let pyarrow = site.path().join("pyarrow");
        fs_err::create_dir_all(&pyarrow).unwrap();
        for (name, bytes) in [
            ("libarrow_python.so.2600", "python"),
            ("libarrow_python.so", "python"),
            ("libarrow_python.so.2600.1.0", "python"),
            ("libarrow_python.2600.dylib", "python"),
            ("libarrow_python.dylib", "python"),
            ("libarrow_python.2600.1.0.dylib", "python"),
            // A copy that differs from what is loaded stays.
            ("libarrow_python_parquet_encryption.so.2600", "encryption"),
            ("libarrow_python_parquet_encryption.so", "other"),
            (
                "libarrow_python_parquet_encryption.so.2600.1.0",
                "encryption",
            ),
            // Without the loaded name beside it, nothing goes.
            ("libparquet.so", "parquet"),
            ("libparquet.so.2600.1.0", "parquet"),
            ("libarrow.so.2600", "arrow"),
        ] {
            fs_err::write(pyarrow.join(name), bytes).unwrap();
        }
        let saved = trim_site_packages(site.path()).unwrap();
        let mut left: Vec<String> = fs_err::read_dir(&pyarrow)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "libarrow.so.2600",
                "libarrow_python.2600.dylib",
                "libarrow_python.so.2600",
                "libarrow_python_parquet_encryption.so",
                "libarrow_python_parquet_encryption.so.2600",
                "libparquet.so",
                "libparquet.so.2600.1.0",
            ]
        );
        let copies = saved
            .iter()
            .find(|(rule, _)| rule.starts_with("pyarrow's link-time copies"))
            .unwrap();
        assert_eq!(copies.1, 4 * 6 + 10);
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
