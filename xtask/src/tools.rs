//! External tools the build needs: a host CPython 3.12, a pinned uv, node/npm, patchelf.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::ui;

/// The uv release every lock and install uses (`docs/decisions/0004-uv-target-install.md`); a
/// lock's header names it, so changing it makes every lock stale.
pub const UV_VERSION: &str = "0.13.9";

/// sha256 of the uv wheels on the package index, per host platform tag. pip checks them with
/// `--require-hashes` when the xtask bootstraps uv.
const UV_WHEEL_SHA256: [(&str, &str); 3] = [
    (
        "macosx_11_0_arm64",
        "66c512266d633bef48384a1f53003f41f2a8e7b36fe6e7fbfd3e0fd52d96fa63",
    ),
    (
        "win_amd64",
        "6a44b2ed8111d2f60d2b92627c5dccda3f7ed7570b18ce115e569cd68c28246b",
    ),
    (
        "manylinux_2_17_x86_64.manylinux2014_x86_64",
        "d7f459fe4fd247d830351c75686d3996ace3c6f3f728eb0e85a30b7ada0cef19",
    ),
];

/// A host CPython 3.12: compiles bytecode, runs uv's resolver checks, and is the local
/// fallback interpreter for dev builds. `XTASK_HOST_PYTHON` overrides the search.
pub fn host_python312() -> Result<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(path) = crate::plan::var_os(runtime_spec::env::HOST_PYTHON) {
        candidates.push(PathBuf::from(path));
    }
    if let Some(path) = find_on_path("python3.12") {
        candidates.push(path);
    }
    if let Some(home) = crate::plan::var_os("HOME") {
        let pyenv_root = crate::plan::var_os("PYENV_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(&home).join(".pyenv"));
        if let Ok(entries) = fs_err::read_dir(pyenv_root.join("versions")) {
            let mut versions: Vec<PathBuf> = entries
                .filter_map(|entry| entry.ok())
                .map(|entry| entry.path())
                .filter(|path| {
                    path.file_name()
                        .and_then(|name| name.to_str())
                        .is_some_and(|name| name.starts_with("3.12."))
                })
                .collect();
            versions.sort();
            candidates.extend(
                versions
                    .into_iter()
                    .rev()
                    .map(|dir| dir.join("bin").join("python3.12")),
            );
        }
    }
    candidates.extend(["/usr/bin/python3.12", "/usr/local/bin/python3.12"].map(PathBuf::from));
    for candidate in candidates {
        // pyenv shims exist on PATH but fail when 3.12 is not selected: run each candidate.
        let output = Command::new(&candidate)
            .args([
                "-I",
                "-c",
                "import sys; print('%d.%d' % sys.version_info[:2]); print(sys.executable)",
            ])
            .output();
        if let Ok(output) = output {
            let stdout = String::from_utf8_lossy(&output.stdout);
            let mut lines = stdout.lines();
            if output.status.success() && lines.next() == Some("3.12") {
                if let Some(executable) = lines.next() {
                    return Ok(PathBuf::from(executable));
                }
            }
        }
    }
    bail!(
        "no CPython 3.12 found (looked at XTASK_HOST_PYTHON, python3.12 on PATH, pyenv, /usr/bin): \
         install one (Debian/Ubuntu: `apt-get install python3.12`, or `pyenv install 3.12`) or set \
         XTASK_HOST_PYTHON=/path/to/python3.12"
    )
}

/// The pinned uv: from `XTASK_UV` or PATH when it is exactly [`UV_VERSION`], else
/// bootstrapped into `<cache>/tools/uv-<version>/` from its hash-checked wheel.
pub fn uv(cache_dir: &Path) -> Result<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(path) = crate::plan::var_os(runtime_spec::env::UV) {
        candidates.push(PathBuf::from(path));
    }
    let tool_dir = cache_dir.join("tools").join(format!("uv-{UV_VERSION}"));
    let cached = tool_dir.join(exe_name("uv"));
    candidates.push(cached.clone());
    candidates.extend(find_on_path("uv"));
    for candidate in &candidates {
        if uv_version(candidate).as_deref() == Some(UV_VERSION) {
            return Ok(candidate.clone());
        }
    }
    bootstrap_uv(&tool_dir, &cached)?;
    Ok(cached)
}

fn uv_version(path: &Path) -> Option<String> {
    let output = Command::new(path).arg("--version").output().ok()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    // `uv 0.13.9 (hash date)`
    stdout.split_whitespace().nth(1).map(str::to_owned)
}

fn bootstrap_uv(tool_dir: &Path, uv_path: &Path) -> Result<()> {
    ui::step(
        "tools",
        &format!("bootstrapping uv {UV_VERSION} into {}", tool_dir.display()),
    );
    let python = find_on_path("python3")
        .or_else(|| find_on_path("python"))
        .context("bootstrapping uv needs a Python with pip on PATH: install python3 and python3-pip, or put uv on PATH")?;
    let download_dir =
        tempfile::tempdir().context("creating a temporary folder for the uv wheel")?;
    let requirements = download_dir.path().join("uv-requirements.txt");
    let hashes: Vec<String> = UV_WHEEL_SHA256
        .iter()
        .map(|(_, sha)| format!(" --hash=sha256:{sha}"))
        .collect();
    fs_err::write(
        &requirements,
        format!("uv=={UV_VERSION}{}\n", hashes.join("")),
    )?;
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
            "--require-hashes",
            "--quiet",
            "-r",
        ])
        .arg(&requirements)
        .arg("-d")
        .arg(download_dir.path())
        .status()
        .with_context(|| format!("running {} -m pip", python.display()))?;
    if !status.success() {
        bail!(
            "downloading the uv {UV_VERSION} wheel with pip failed ({status}): check your package index \
             configuration (pip config / PIP_INDEX_URL), or install uv {UV_VERSION} and set XTASK_UV"
        );
    }
    let wheel = fs_err::read_dir(download_dir.path())?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .context("pip reported success but left no uv wheel")?;
    let mut archive = zip::ZipArchive::new(fs_err::File::open(&wheel)?)
        .with_context(|| format!("reading {}", wheel.display()))?;
    let member = format!("uv-{UV_VERSION}.data/scripts/{}", exe_name("uv"));
    let mut entry = archive
        .by_name(&member)
        .with_context(|| format!("{} has no {member}", wheel.display()))?;
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes)?;
    fs_err::create_dir_all(tool_dir)?;
    let partial = tool_dir.join(".uv.partial");
    fs_err::write(&partial, bytes)?;
    set_executable(&partial)?;
    fs_err::rename(&partial, uv_path)?;
    Ok(())
}

/// `name` with `.exe` on Windows.
pub fn exe_name(name: &str) -> String {
    if cfg!(windows) {
        format!("{name}.exe")
    } else {
        name.to_owned()
    }
}

/// First executable called `name` on PATH.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = crate::plan::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(exe_name(name)))
        .find(|candidate| candidate.is_file())
}

/// A required tool on PATH, or an error saying what to install.
pub fn require(name: &str, install_hint: &str) -> Result<PathBuf> {
    find_on_path(name).with_context(|| format!("`{name}` is not on PATH: {install_hint}"))
}

#[cfg(unix)]
pub fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

#[cfg(not(unix))]
pub fn set_executable(_path: &Path) -> Result<()> {
    Ok(())
}

/// A CPython 3.12 venv at `venv` with `lock` installed hash-checked, plus `extra` packages (test
/// or benchmark tools, not part of any runtime). Returns the venv's interpreter.
pub fn lock_venv(
    uv: &Path,
    host_python: &Path,
    venv: &Path,
    lock: &Path,
    uv_cache: &Path,
    extra: &[&str],
) -> Result<PathBuf> {
    let run = |command: &mut Command, what: &str| -> Result<()> {
        let output = command
            .env("UV_CACHE_DIR", uv_cache)
            .output()
            .with_context(|| format!("running {what}"))?;
        if !output.status.success() {
            bail!(
                "{what} failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    };
    run(
        Command::new(uv)
            .args(["venv", "--quiet", "--python"])
            .arg(host_python)
            .arg(venv),
        "uv venv",
    )?;
    let python = venv_python(venv);
    run(
        Command::new(uv)
            .args([
                "pip",
                "install",
                "--quiet",
                "--require-hashes",
                "--no-deps",
                "--only-binary",
                ":all:",
                "--python",
            ])
            .arg(&python)
            .arg("-r")
            .arg(lock),
        "uv pip install (lock)",
    )?;
    if !extra.is_empty() {
        run(
            Command::new(uv)
                .args(["pip", "install", "--quiet", "--python"])
                .arg(&python)
                .args(extra),
            "uv pip install (tools)",
        )?;
    }
    Ok(python)
}

/// The interpreter of a venv (`Scripts\\python.exe` on Windows, `bin/python` elsewhere).
pub fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}
