//! The build plan: every target, version, path and output name, resolved once up front.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use runtime_spec::pins::PythonPins;
use runtime_spec::{layout, Target};

/// Release channel; release channels refuse a local (non-portable) Python.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Channel {
    Dev,
    Alpha,
    Beta,
    Stable,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Channel::Dev => "dev",
            Channel::Alpha => "alpha",
            Channel::Beta => "beta",
            Channel::Stable => "stable",
        }
    }
}

/// Where the embedded CPython comes from.
#[derive(Debug, Clone)]
pub enum PythonChoice {
    /// The pinned python-build-standalone archive (through the mirror when one is set). On a
    /// network failure, dev builds for the host target may pack a local CPython 3.12 instead.
    Pinned {
        url: String,
        sha256: String,
        local_fallback: bool,
    },
    /// `--python-archive` + `--python-sha256`.
    Override { location: String, sha256: String },
}

/// Everything a runtime build reads; stages never recompute any of it.
#[derive(Debug, Clone)]
pub struct Plan {
    pub root: PathBuf,
    pub target: Target,
    pub channel: Channel,
    pub version: String,
    pub source_date_epoch: u64,
    pub python: PythonChoice,
    pub python_version: String,
    pub python_build: String,
    pub lock_file: PathBuf,
    pub api_dir: PathBuf,
    pub web_dir: PathBuf,
    /// Persistent per-target work tree under `target/` (incremental stages and stamps).
    pub build_dir: PathBuf,
    /// Content-addressed download cache and tool cache; survives `cargo clean`.
    pub cache_dir: PathBuf,
    pub out_dir: PathBuf,
    pub runtime_dir: PathBuf,
    pub archive: PathBuf,
    pub zstd_level: i32,
}

/// Inputs of a plan, from the command line.
pub struct PlanInput<'a> {
    pub target: Option<Target>,
    pub channel: Channel,
    pub python_archive: Option<&'a str>,
    pub python_sha256: Option<&'a str>,
    pub out_dir: Option<&'a Path>,
    pub zstd_level: Option<i32>,
}

/// Default zstd level of the runtime archive (see ARCHITECTURE.md "Compression").
pub const DEFAULT_ZSTD_LEVEL: i32 = 9;
/// zstd worker threads: fixed, because multithreaded output differs from single-threaded
/// output (but not between machines), and the archive must be reproducible.
pub const ZSTD_WORKERS: u32 = 2;

impl Plan {
    pub fn new(input: PlanInput<'_>) -> Result<Plan> {
        let root = project_root();
        let target = match input.target {
            Some(target) => target,
            None => Target::host().context(
                "this host is not a release target (macos-arm64, windows-x64, linux-x64): pass --target",
            )?,
        };
        let pins = PythonPins::builtin();
        let python = match (input.python_archive, input.python_sha256) {
            (Some(location), Some(sha256)) => {
                if sha256.len() != 64 || !sha256.bytes().all(|byte| byte.is_ascii_hexdigit()) {
                    bail!("--python-sha256 must be 64 hex digits, got `{sha256}`");
                }
                PythonChoice::Override {
                    location: location.to_owned(),
                    sha256: sha256.to_ascii_lowercase(),
                }
            }
            (Some(_), None) | (None, Some(_)) => {
                bail!("--python-archive and --python-sha256 go together: an archive is only used with its checksum")
            }
            (None, None) => {
                let base = std::env::var(runtime_spec::env::PYTHON_MIRROR)
                    .ok()
                    .filter(|mirror| !mirror.is_empty())
                    .unwrap_or_else(|| pins.base_url.clone());
                PythonChoice::Pinned {
                    url: pins.url(&base, target)?,
                    sha256: pins.pin(target)?.sha256.clone(),
                    local_fallback: input.channel == Channel::Dev && Some(target) == Target::host(),
                }
            }
        };
        let version = env!("CARGO_PKG_VERSION").to_owned();
        let out_dir = match input.out_dir {
            Some(dir) => absolute(dir)?,
            None => root.join("dist"),
        };
        Ok(Plan {
            target,
            channel: input.channel,
            source_date_epoch: source_date_epoch(&root),
            python,
            python_version: pins.python_version.clone(),
            python_build: pins.release.clone(),
            lock_file: root.join("lockfiles").join(format!("{target}.txt")),
            api_dir: root.join("apps/tokenizer-studio/api"),
            web_dir: root.join("apps/tokenizer-studio/web"),
            build_dir: root
                .join("target")
                .join("runtime-build")
                .join(target.name()),
            cache_dir: cache_dir()?,
            runtime_dir: out_dir.join(format!("runtime-{target}")),
            archive: out_dir.join(layout::archive_name(&version, target)),
            out_dir,
            zstd_level: input.zstd_level.unwrap_or(DEFAULT_ZSTD_LEVEL),
            version,
            root,
        })
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "target:            {} ({})",
            self.target,
            self.target.triple()
        )?;
        writeln!(f, "channel:           {}", self.channel.name())?;
        writeln!(f, "runtime version:   {}", self.version)?;
        writeln!(f, "SOURCE_DATE_EPOCH: {}", self.source_date_epoch)?;
        match &self.python {
            PythonChoice::Pinned {
                url,
                sha256,
                local_fallback,
            } => {
                writeln!(
                    f,
                    "python:            CPython {} (PBS {})",
                    self.python_version, self.python_build
                )?;
                writeln!(f, "  url:             {url}")?;
                writeln!(f, "  sha256:          {sha256}")?;
                writeln!(
                    f,
                    "  local fallback:  {}",
                    if *local_fallback {
                        "allowed (dev, host target)"
                    } else {
                        "no"
                    }
                )?;
            }
            PythonChoice::Override { location, sha256 } => {
                writeln!(f, "python:            override archive {location}")?;
                writeln!(f, "  sha256:          {sha256}")?;
            }
        }
        writeln!(f, "lock:              {}", self.lock_file.display())?;
        writeln!(f, "site-packages:     {}", self.target.site_packages())?;
        writeln!(f, "build dir:         {}", self.build_dir.display())?;
        writeln!(f, "cache dir:         {}", self.cache_dir.display())?;
        writeln!(f, "output dir:        {}", self.out_dir.display())?;
        writeln!(f, "runtime dir:       {}", self.runtime_dir.display())?;
        writeln!(
            f,
            "archive:           {} (zstd level {})",
            self.archive.display(),
            self.zstd_level
        )
    }
}

/// The repository root: the parent of `xtask/`, or `XTASK_PROJECT_ROOT` (tests build other
/// checkouts of the same commit with one xtask binary).
pub fn project_root() -> PathBuf {
    if let Some(root) = std::env::var_os("XTASK_PROJECT_ROOT").filter(|root| !root.is_empty()) {
        return PathBuf::from(root);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// `TOKENIZER_STUDIO_CACHE_DIR`, else `$XDG_CACHE_HOME` or `~/.cache`, `/tokenizer-studio-xtask`.
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("TOKENIZER_STUDIO_CACHE_DIR").filter(|dir| !dir.is_empty())
    {
        return absolute(Path::new(&dir));
    }
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|dir| !dir.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home = std::env::var_os("HOME")
                .or_else(|| std::env::var_os("USERPROFILE"))
                .context("neither HOME nor TOKENIZER_STUDIO_CACHE_DIR is set: set one")?;
            PathBuf::from(home).join(".cache")
        }
    };
    Ok(base.join("tokenizer-studio-xtask"))
}

/// `SOURCE_DATE_EPOCH`, else the last commit's time, else 0: every timestamp in a build comes
/// from here, so the same commit gives the same bytes.
pub(crate) fn source_date_epoch(root: &Path) -> u64 {
    if let Some(epoch) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|value| value.trim().parse().ok())
    {
        return epoch;
    }
    std::process::Command::new("git")
        .args(["log", "-1", "--format=%ct"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8_lossy(&output.stdout).trim().parse().ok())
        .unwrap_or(0)
}

fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    Ok(std::env::current_dir()
        .context("reading the current directory")?
        .join(path))
}
