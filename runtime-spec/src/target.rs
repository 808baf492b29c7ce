//! The three release targets and their per-target runtime layout (`docs/runtime-contract.md`,
//! "Targets").

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::SpecError;

/// A platform Tokenizer Studio ships for.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub enum Target {
    #[serde(rename = "macos-arm64")]
    MacosArm64,
    #[serde(rename = "windows-x64")]
    WindowsX64,
    #[serde(rename = "linux-x64")]
    LinuxX64,
}

impl Target {
    /// Every target, in a fixed order (used by `cargo xtask lock` and the CI matrix).
    pub const ALL: [Target; 3] = [Target::MacosArm64, Target::WindowsX64, Target::LinuxX64];

    /// The name used on the command line, in file names and in manifests.
    pub fn name(self) -> &'static str {
        match self {
            Target::MacosArm64 => "macos-arm64",
            Target::WindowsX64 => "windows-x64",
            Target::LinuxX64 => "linux-x64",
        }
    }

    /// The Rust / python-build-standalone / uv `--python-platform` triple.
    pub fn triple(self) -> &'static str {
        match self {
            Target::MacosArm64 => "aarch64-apple-darwin",
            Target::WindowsX64 => "x86_64-pc-windows-msvc",
            Target::LinuxX64 => "x86_64-unknown-linux-gnu",
        }
    }

    /// The Python interpreter inside the runtime, relative to the runtime root, `/`-separated.
    pub fn python_exe(self) -> &'static str {
        match self {
            Target::WindowsX64 => "python/python.exe",
            Target::MacosArm64 | Target::LinuxX64 => "python/bin/python3",
        }
    }

    /// The standard library folder, relative to the runtime root.
    pub fn stdlib_dir(self) -> &'static str {
        match self {
            Target::WindowsX64 => "python/Lib",
            Target::MacosArm64 | Target::LinuxX64 => "python/lib/python3.12",
        }
    }

    /// The site-packages folder the wheels are installed into, relative to the runtime root.
    pub fn site_packages(self) -> &'static str {
        match self {
            Target::WindowsX64 => "python/Lib/site-packages",
            Target::MacosArm64 | Target::LinuxX64 => "python/lib/python3.12/site-packages",
        }
    }

    /// Whether executables on this target carry a Unix mode bit.
    pub fn is_unix(self) -> bool {
        !matches!(self, Target::WindowsX64)
    }

    /// The target this code was compiled for, if it is one we ship.
    pub fn host() -> Option<Target> {
        if cfg!(all(target_os = "macos", target_arch = "aarch64")) {
            Some(Target::MacosArm64)
        } else if cfg!(all(target_os = "windows", target_arch = "x86_64")) {
            Some(Target::WindowsX64)
        } else if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            Some(Target::LinuxX64)
        } else {
            None
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Target {
    type Err = SpecError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Target::ALL
            .into_iter()
            .find(|target| target.name() == name)
            .ok_or_else(|| SpecError::UnknownTarget {
                name: name.to_owned(),
            })
    }
}
