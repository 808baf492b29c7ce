//! Stage 1, python: the pinned python-build-standalone tree, or a local CPython packed for dev.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use runtime_spec::{PythonInfo, PythonSource, Target};

use crate::fsutil;
use crate::plan::{Plan, PythonChoice};
use crate::{tools, ui};

/// The unpacked, trimmed interpreter tree (`<build>/python-tree/python`), shared by later builds.
pub struct PythonTree {
    /// The folder that becomes `runtime/python/`.
    pub dir: PathBuf,
    pub info: PythonInfo,
    /// Identifies the tree's content; later stages key their caches on it.
    pub stamp: String,
}

/// Fetches (or reuses) the interpreter tree for the plan's target.
pub fn prepare(plan: &Plan) -> Result<PythonTree> {
    let tree_root = plan.build_dir.join("python-tree");
    let stamp_file = plan.build_dir.join("python.stamp");
    let (source, archive) = match &plan.python {
        PythonChoice::Override { location, sha256 } => {
            let archive = fetch_verified(plan, location, sha256)?;
            (PythonSource::Override, Some((archive, sha256.clone())))
        }
        PythonChoice::Pinned {
            url,
            sha256,
            local_fallback,
        } => match fetch_verified(plan, url, sha256) {
            Ok(archive) => (PythonSource::Pbs, Some((archive, sha256.clone()))),
            Err(error) if *local_fallback && is_network_failure(&error) => {
                warn_local_fallback(url, &error);
                (PythonSource::Local, None)
            }
            Err(error) => return Err(error),
        },
    };
    match archive {
        Some((archive, sha256)) => {
            let stamp = format!("archive:{sha256}:trim-v{TRIM_VERSION}");
            let info = PythonInfo {
                version: plan.python_version.clone(),
                build: plan.python_build.clone(),
                source,
                sha256: Some(runtime_spec::Sha256::parse(&sha256)?),
            };
            if fsutil::stamp_matches(&stamp_file, &stamp) && tree_root.join("python").is_dir() {
                ui::step("python", &format!("reusing unpacked {}", archive.display()));
            } else {
                ui::step("python", &format!("unpacking {}", archive.display()));
                fsutil::remove_path(&plan.build_dir.join(STDLIB_STAMP))?;
                let staging = fsutil::fresh_sibling(&tree_root)?;
                runtime_archive::extract_archive(&archive, &staging).with_context(|| {
                    format!("unpacking the Python archive {}", archive.display())
                })?;
                if !staging.join("python").is_dir() {
                    bail!(
                        "{} is not a python-build-standalone install_only archive: it has no top-level `python/` folder",
                        archive.display()
                    );
                }
                trim_tree(&staging.join("python"), plan.target)?;
                fsutil::replace_dir(&staging, &tree_root)?;
                fsutil::write_stamp(&stamp_file, &stamp)?;
            }
            Ok(PythonTree {
                dir: tree_root.join("python"),
                info,
                stamp,
            })
        }
        None => pack_local(plan, &tree_root, &stamp_file),
    }
}

/// Downloads `location` (URL, `file://` or path) into the content-addressed cache, or reuses
/// the cached copy; the sha256 pin is checked either way and a mismatch is never cached.
fn fetch_verified(plan: &Plan, location: &str, sha256: &str) -> Result<PathBuf> {
    let cached = plan.cache_dir.join("downloads").join("sha256").join(sha256);
    if cached.is_file() {
        let actual = fsutil::sha256_file(&cached)?;
        if actual == sha256 {
            ui::verbose(&format!("cache hit {}", cached.display()));
            return Ok(cached);
        }
        ui::warn(&format!(
            "cached {} is corrupt (sha256 {actual}); downloading again",
            cached.display()
        ));
        fs_err::remove_file(&cached)?;
    }
    fs_err::create_dir_all(cached.parent().expect("cache path has a parent"))?;
    ui::step("python", &format!("downloading {location}"));
    let bar = ui::bytes_bar(None, "python");
    let result = runtime_archive::download_verified(location, sha256, &cached, &mut |progress| {
        if let Some(total) = progress.total {
            bar.set_length(total);
        }
        bar.set_position(progress.downloaded);
    });
    bar.finish_and_clear();
    result.map_err(anyhow::Error::new).with_context(|| {
        format!(
            "could not fetch the Python archive {location}; set {} to a mirror (file:// works) or pass \
             --python-archive <path|url> --python-sha256 <hex>",
            runtime_spec::env::PYTHON_MIRROR
        )
    })?;
    Ok(cached)
}

fn is_network_failure(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<runtime_archive::Error>()
            .is_some_and(|error| error.is_network())
    })
}

fn warn_local_fallback(url: &str, error: &anyhow::Error) {
    let reason = error.root_cause();
    ui::warn("================================================================================");
    ui::warn(&format!(
        "the pinned Python archive is unreachable ({reason}):\n         {url}"
    ));
    ui::warn("packing the LOCAL CPython 3.12 instead. This runtime is for development only:");
    ui::warn(
        "it needs this machine's libssl/libsqlite/libffi, its manifest says python.source = local,",
    );
    ui::warn("and alpha/beta/stable releases refuse it.");
    ui::warn("================================================================================");
}

/// Stamp of the stdlib bytecode compiled into the tree; a rebuilt tree invalidates it.
pub const STDLIB_STAMP: &str = "stdlib-bytecode.stamp";

/// Bumped whenever the trim list or [`STDLIB_TRIM_RULES`] change, so cached trees are rebuilt.
const TRIM_VERSION: u32 = 2;

/// Parts of a CPython tree a desktop runtime never uses (relative to `python/`).
fn trim_list(target: Target) -> &'static [&'static str] {
    match target {
        Target::WindowsX64 => &[
            "Lib/test",
            "Lib/idlelib",
            "Lib/tkinter",
            "Lib/turtledemo",
            "Lib/ensurepip",
            "Lib/site-packages",
            "Scripts",
            "include",
            "libs",
            "tcl",
            "DLLs/_tkinter.pyd",
            "DLLs/tcl86t.dll",
            "DLLs/tk86t.dll",
        ],
        Target::MacosArm64 | Target::LinuxX64 => &[
            "lib/python3.12/test",
            "lib/python3.12/idlelib",
            "lib/python3.12/tkinter",
            "lib/python3.12/turtledemo",
            "lib/python3.12/ensurepip",
            "lib/python3.12/site-packages",
            "include",
            "share",
            "lib/pkgconfig",
            "lib/tcl8.6",
            "lib/tk8.6",
            "lib/itcl4.2.4",
            "lib/thread2.8.9",
            "lib/tcl9.0",
            "lib/tk9.0",
        ],
    }
}

/// One trim rule of the standard library: what it removes, and why nothing imports it.
pub struct StdlibTrimRule {
    pub name: &'static str,
    /// Whether `relative` (a path under the stdlib folder, `lib/python3.12` or `Lib`,
    /// `/`-separated) is removed; on Windows extension modules are under `../DLLs`.
    pub matches: fn(relative: &str, is_dir: bool) -> bool,
}

/// Extension modules that only CPython's own test suite (trimmed with `test/`) imports.
const TEST_EXTENSIONS: &[&str] = &[
    "_testcapi",
    "_testinternalcapi",
    "_testbuffer",
    "_testclinic",
    "_testmultiphase",
    "_testsinglephase",
    "_testimportmultiple",
    "_ctypes_test",
    "_xxtestfuzz",
    "xxlimited",
    "xxlimited_35",
    "xxsubtype",
];

/// The module an extension file in `lib-dynload/` (`DLLs/` on Windows) is: its name up to
/// the first dot.
fn extension_module(relative: &str) -> Option<&str> {
    let name = relative
        .strip_prefix("lib-dynload/")
        .or_else(|| relative.strip_prefix("../DLLs/"))?;
    name.split('.').next()
}

/// What the standard library ships that the runtime never imports, beyond [`trim_list`]; each
/// rule with its bytes is listed in ARCHITECTURE.md ("Compression"). `_xxsubinterpreters` and
/// `_xxinterpchannels` stay: filelock and anyio import them.
pub const STDLIB_TRIM_RULES: &[StdlibTrimRule] = &[
    // lib2to3: the deprecated 2-to-3 converter (gone in 3.13); nothing imports it.
    StdlibTrimRule {
        name: "lib2to3",
        matches: |relative, is_dir| is_dir && relative == "lib2to3",
    },
    // pydoc_data: the text `help("topic")` prints in an interactive session; `pydoc` itself
    // (pyarrow imports it for docstrings) stays.
    StdlibTrimRule {
        name: "pydoc_data (interactive help topics)",
        matches: |relative, is_dir| is_dir && relative == "pydoc_data",
    },
    StdlibTrimRule {
        name: "test extension modules (_testcapi and the like)",
        matches: |relative, is_dir| {
            !is_dir
                && extension_module(relative).is_some_and(|name| TEST_EXTENSIONS.contains(&name))
        },
    },
    // tkinter is trimmed (no Tk ships), so its extension module and turtle, which imports
    // tkinter, cannot load.
    StdlibTrimRule {
        name: "_tkinter and turtle (Tk is not shipped)",
        matches: |relative, is_dir| {
            !is_dir && (relative == "turtle.py" || extension_module(relative) == Some("_tkinter"))
        },
    },
];

/// Removes [`trim_list`], [`STDLIB_TRIM_RULES`], every `__pycache__` and every static library,
/// and leaves an empty site-packages for the wheels stage.
fn trim_tree(python_dir: &Path, target: Target) -> Result<()> {
    for relative in trim_list(target) {
        fsutil::remove_path(&runtime_spec::launch::join_relative(python_dir, relative))?;
    }
    let mut doomed = Vec::new();
    for entry in walkdir::WalkDir::new(python_dir) {
        let entry = entry.with_context(|| format!("walking {}", python_dir.display()))?;
        let name = entry.file_name().to_string_lossy();
        let is_pycache = entry.file_type().is_dir() && name == "__pycache__";
        let is_static_lib = entry.file_type().is_file() && name.ends_with(".a");
        if is_pycache || is_static_lib {
            doomed.push(entry.into_path());
        }
    }
    for path in doomed {
        fsutil::remove_path(&path)?;
    }
    // Without the caches, so each rule's bytes are what it removes from the runtime.
    let stdlib = python_dir.join(stdlib_dir(target));
    let saved = fsutil::remove_by_rule(python_dir, STDLIB_TRIM_RULES.len(), &|entry, is_dir| {
        let relative = stdlib_relative(&stdlib, entry.path())?;
        STDLIB_TRIM_RULES
            .iter()
            .position(|rule| (rule.matches)(&relative, is_dir))
    })?;
    for (rule, saved) in STDLIB_TRIM_RULES.iter().zip(saved) {
        ui::info(&format!(
            "trim {}: {} ({saved} bytes)",
            rule.name,
            ui::human_bytes(saved)
        ));
    }
    let site_packages = python_dir
        .parent()
        .expect("python dir has a parent")
        .join(target.site_packages());
    fs_err::create_dir_all(site_packages)?;
    Ok(())
}

/// The stdlib folder under `python/`.
fn stdlib_dir(target: Target) -> &'static str {
    match target {
        Target::WindowsX64 => "Lib",
        Target::MacosArm64 | Target::LinuxX64 => "lib/python3.12",
    }
}

/// `path` relative to the stdlib folder, `/`-separated; Windows' `DLLs/` (beside `Lib/`) as
/// `../DLLs/…`. `None` for anything else.
fn stdlib_relative(stdlib: &Path, path: &Path) -> Option<String> {
    let to_string = |relative: &Path| relative.to_string_lossy().replace('\\', "/");
    if let Ok(relative) = path.strip_prefix(stdlib) {
        return Some(to_string(relative)).filter(|relative| !relative.is_empty());
    }
    let dlls = stdlib.parent()?.join("DLLs");
    let relative = path.strip_prefix(&dlls).ok()?;
    Some(format!("../DLLs/{}", to_string(relative))).filter(|_| !relative.as_os_str().is_empty())
}

/// Dev fallback (`docs/decisions/0001-python-build-standalone.md`): copies the host CPython
/// 3.12 into PBS layout and makes it relocatable. A plain copy only looks relocatable: pyenv's
/// RUNPATH still points at the original prefix, so the interpreter, libpython and every
/// extension get `$ORIGIN` paths.
fn pack_local(plan: &Plan, tree_root: &Path, stamp_file: &Path) -> Result<PythonTree> {
    if !cfg!(target_os = "linux") || plan.target != Target::LinuxX64 {
        bail!("packing a local CPython is supported for linux-x64 on Linux only; pass --python-archive");
    }
    let host = tools::host_python312()?;
    let output = Command::new(&host)
        .args([
            "-I",
            "-c",
            "import sys, platform; print(sys.base_prefix); print(platform.python_version())",
        ])
        .output()
        .with_context(|| format!("running {}", host.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines = stdout.lines();
    let (prefix, version) = match (lines.next(), lines.next()) {
        (Some(prefix), Some(version)) if output.status.success() => {
            (PathBuf::from(prefix), version.to_owned())
        }
        _ => bail!("{} did not report its prefix and version", host.display()),
    };
    let libpython = prefix.join("lib").join("libpython3.12.so.1.0");
    let stamp = format!(
        "local:{}:{version}:{}:trim-v{TRIM_VERSION}",
        prefix.display(),
        fsutil::mtime_secs(&libpython).unwrap_or(0)
    );
    let info = PythonInfo {
        version: version.clone(),
        build: "local".into(),
        source: PythonSource::Local,
        sha256: None,
    };
    if fsutil::stamp_matches(stamp_file, &stamp) && tree_root.join("python").is_dir() {
        ui::step(
            "python",
            &format!(
                "reusing packed local CPython {version} from {}",
                prefix.display()
            ),
        );
        return Ok(PythonTree {
            dir: tree_root.join("python"),
            info,
            stamp,
        });
    }
    fsutil::remove_path(&plan.build_dir.join(STDLIB_STAMP))?;
    let patchelf = tools::require(
        "patchelf",
        "install it (Debian/Ubuntu: `apt-get install patchelf`)",
    )?;
    ui::step(
        "python",
        &format!("packing local CPython {version} from {}", prefix.display()),
    );
    let staging = fsutil::fresh_sibling(tree_root)?;
    let python_dir = staging.join("python");
    let stdlib_src = prefix.join("lib").join("python3.12");
    fsutil::copy_tree(
        &stdlib_src,
        &python_dir.join("lib").join("python3.12"),
        &|relative| {
            // site-packages holds this machine's own packages (e.g. an egress CA .pth): never ship it.
            !relative.starts_with("site-packages")
        },
    )?;
    fs_err::create_dir_all(python_dir.join("bin"))?;
    fs_err::copy(
        prefix.join("bin").join("python3.12"),
        python_dir.join("bin").join("python3.12"),
    )?;
    fsutil::symlink("python3.12", &python_dir.join("bin").join("python3"))?;
    if libpython.is_file() {
        fs_err::copy(
            &libpython,
            python_dir.join("lib").join("libpython3.12.so.1.0"),
        )?;
        fsutil::symlink(
            "libpython3.12.so.1.0",
            &python_dir.join("lib").join("libpython3.12.so"),
        )?;
    }
    trim_tree(&python_dir, plan.target)?;

    let set_rpath = |file: &Path, rpath: &str| -> Result<()> {
        let status = Command::new(&patchelf)
            .arg("--set-rpath")
            .arg(rpath)
            .arg(file)
            .status()
            .with_context(|| format!("running patchelf on {}", file.display()))?;
        if !status.success() {
            bail!(
                "patchelf --set-rpath {rpath} {} failed ({status})",
                file.display()
            );
        }
        Ok(())
    };
    set_rpath(&python_dir.join("bin").join("python3.12"), "$ORIGIN/../lib")?;
    if libpython.is_file() {
        set_rpath(
            &python_dir.join("lib").join("libpython3.12.so.1.0"),
            "$ORIGIN",
        )?;
    }
    let dynload = python_dir
        .join("lib")
        .join("python3.12")
        .join("lib-dynload");
    for entry in fs_err::read_dir(&dynload)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "so") {
            set_rpath(&path, "$ORIGIN/../..")?;
        }
    }
    fsutil::replace_dir(&staging, tree_root)?;
    fsutil::write_stamp(stamp_file, &stamp)?;
    Ok(PythonTree {
        dir: tree_root.join("python"),
        info,
        stamp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path, files: &[&str]) {
        for file in files {
            let path = root.join(file);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(path, b"x").unwrap();
        }
    }

    fn left(root: &Path) -> Vec<String> {
        let mut files: Vec<String> = walkdir::WalkDir::new(root)
            .into_iter()
            .map(|entry| entry.unwrap())
            .filter(|entry| entry.file_type().is_file())
            .map(|entry| {
                let relative = entry.path().strip_prefix(root).unwrap();
                relative.to_string_lossy().replace('\\', "/")
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn stdlib_trim_keeps_what_packages_import() {
        let dir = tempfile::tempdir().unwrap();
        let unix = dir.path().join("unix");
        tree(
            &unix,
            &[
                "lib/python3.12/os.py",
                "lib/python3.12/pydoc.py",
                "lib/python3.12/turtle.py",
                "lib/python3.12/lib2to3/pytree.py",
                "lib/python3.12/pydoc_data/topics.py",
                "lib/python3.12/lib-dynload/_testcapi.cpython-312-x86_64-linux-gnu.so",
                "lib/python3.12/lib-dynload/xxlimited_35.cpython-312-darwin.so",
                "lib/python3.12/lib-dynload/_tkinter.cpython-312-x86_64-linux-gnu.so",
                "lib/python3.12/lib-dynload/_xxsubinterpreters.cpython-312-x86_64-linux-gnu.so",
                "lib/python3.12/lib-dynload/_ssl.cpython-312-x86_64-linux-gnu.so",
                "lib/python3.12/unittest/__init__.py",
            ],
        );
        trim_tree(&unix, Target::LinuxX64).unwrap();
        assert_eq!(
            left(&unix),
            [
                "lib/python3.12/lib-dynload/_ssl.cpython-312-x86_64-linux-gnu.so",
                "lib/python3.12/lib-dynload/_xxsubinterpreters.cpython-312-x86_64-linux-gnu.so",
                "lib/python3.12/os.py",
                "lib/python3.12/pydoc.py",
                "lib/python3.12/unittest/__init__.py",
            ]
        );

        let windows = dir.path().join("windows");
        tree(
            &windows,
            &[
                "Lib/os.py",
                "Lib/turtle.py",
                "Lib/lib2to3/pytree.py",
                "DLLs/_testcapi.pyd",
                "DLLs/_ctypes_test.pyd",
                "DLLs/_socket.pyd",
                "python.exe",
            ],
        );
        trim_tree(&windows, Target::WindowsX64).unwrap();
        assert_eq!(
            left(&windows),
            ["DLLs/_socket.pyd", "Lib/os.py", "python.exe"]
        );
    }
}
