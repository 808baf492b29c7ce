//! Profiles, accelerators and variants (`docs/runtime-contract.md`, "Variants").
//!
//! A **profile** is what the engine can import (`base`: the app's own dependencies; `torch`:
//! those plus torch). An **accelerator** is the device family the profile's wheels are built
//! for. A **variant** is target × profile × accelerator: it has its own lock, archive, manifest
//! and release-index entry, and the [`Requirements`] a machine must meet to run it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Target;

/// What the engine's Python environment holds beyond CPython.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// The app's declared dependencies: what every runtime had before profiles existed.
    #[default]
    Base,
    /// Base plus torch (the `torch` optional dependency group of the app).
    Torch,
}

impl Profile {
    pub const ALL: [Profile; 2] = [Profile::Base, Profile::Torch];

    pub fn name(self) -> &'static str {
        match self {
            Profile::Base => "base",
            Profile::Torch => "torch",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no profile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown profile `{name}`: expected base or torch")]
pub struct UnknownProfile {
    pub name: String,
}

impl FromStr for Profile {
    type Err = UnknownProfile;

    fn from_str(name: &str) -> Result<Profile, UnknownProfile> {
        Profile::ALL
            .into_iter()
            .find(|profile| profile.name() == name)
            .ok_or_else(|| UnknownProfile {
                name: name.to_owned(),
            })
    }
}

/// The device family a variant's wheels are built for.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Accelerator {
    /// The CPU only.
    #[default]
    Cpu,
    /// NVIDIA GPUs through CUDA (the wheels also run on the CPU when no GPU works).
    Cuda,
    /// Apple Silicon GPUs through Metal Performance Shaders (and the CPU).
    Mps,
}

impl Accelerator {
    pub const ALL: [Accelerator; 3] = [Accelerator::Cpu, Accelerator::Cuda, Accelerator::Mps];

    pub fn name(self) -> &'static str {
        match self {
            Accelerator::Cpu => "cpu",
            Accelerator::Cuda => "cuda",
            Accelerator::Mps => "mps",
        }
    }

    /// Whether the variant drives a GPU (what the user's GPU/CPU setting chooses between).
    pub fn is_gpu(self) -> bool {
        self != Accelerator::Cpu
    }
}

impl fmt::Display for Accelerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no accelerator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown accelerator `{name}`: expected cpu, cuda or mps")]
pub struct UnknownAccelerator {
    pub name: String,
}

impl FromStr for Accelerator {
    type Err = UnknownAccelerator;

    fn from_str(name: &str) -> Result<Accelerator, UnknownAccelerator> {
        Accelerator::ALL
            .into_iter()
            .find(|accelerator| accelerator.name() == name)
            .ok_or_else(|| UnknownAccelerator {
                name: name.to_owned(),
            })
    }
}

/// x86-64 microarchitecture levels (the psABI's), or the one arm64 level the targets use.
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
pub enum CpuLevel {
    /// Baseline x86-64 (SSE2).
    #[serde(rename = "x86-64")]
    X86_64,
    /// SSE4.2, SSSE3, POPCNT, CX16.
    #[serde(rename = "x86-64-v2")]
    X86_64V2,
    /// v2 + AVX, AVX2, BMI1/2, FMA, LZCNT, MOVBE.
    #[serde(rename = "x86-64-v3")]
    X86_64V3,
    /// v3 + AVX-512 F/BW/CD/DQ/VL.
    #[serde(rename = "x86-64-v4")]
    X86_64V4,
    /// 64-bit ARM (Apple Silicon and later).
    #[serde(rename = "arm64")]
    Arm64,
}

impl CpuLevel {
    pub fn name(self) -> &'static str {
        match self {
            CpuLevel::X86_64 => "x86-64",
            CpuLevel::X86_64V2 => "x86-64-v2",
            CpuLevel::X86_64V3 => "x86-64-v3",
            CpuLevel::X86_64V4 => "x86-64-v4",
            CpuLevel::Arm64 => "arm64",
        }
    }

    /// Whether a CPU at `self` runs code built for `needed` (x86 levels are cumulative; arm64
    /// and x86 never run each other's code natively).
    pub fn satisfies(self, needed: CpuLevel) -> bool {
        match (self, needed) {
            (CpuLevel::Arm64, CpuLevel::Arm64) => true,
            (CpuLevel::Arm64, _) | (_, CpuLevel::Arm64) => false,
            (have, needed) => have >= needed,
        }
    }
}

impl fmt::Display for CpuLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a machine must have to run a variant. Recorded in the variant's manifest and in its
/// release-index entry, so the shell decides before downloading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    /// Oldest OS release the wheels support: macOS `14.0`, Windows `10`, or the glibc version
    /// on Linux (`2.28`), compared component by component.
    pub min_os_version: String,
    /// CPU instruction level the wheels are built for.
    pub cpu_level: CpuLevel,
    /// Oldest NVIDIA driver the CUDA build runs on (`null` unless the accelerator is CUDA).
    pub min_nvidia_driver: Option<String>,
    /// Oldest CUDA compute capability the build ships kernels for (`null` unless CUDA).
    pub min_compute_capability: Option<String>,
    /// The CUDA version the wheels are built for (`null` unless CUDA).
    pub cuda_version: Option<String>,
    /// RAM the engine needs to start and train a small job, in bytes.
    pub min_ram_bytes: u64,
}

/// Target × profile × accelerator.
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
pub struct Variant {
    pub target: Target,
    pub profile: Profile,
    pub accelerator: Accelerator,
}

/// A variant no build of this project makes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("there is no {profile} runtime with accelerator {accelerator} for {target}: {reason}")]
pub struct UnknownVariant {
    pub target: Target,
    pub profile: Profile,
    pub accelerator: Accelerator,
    pub reason: &'static str,
}

const GIB: u64 = 1024 * 1024 * 1024;

impl Variant {
    /// Every variant this project can build. The ones [`Variant::needs_extra_index`] names
    /// are built only when an extra package index is configured for them.
    pub const ALL: [Variant; 8] = [
        Variant::base(Target::MacosArm64),
        Variant::base(Target::WindowsX64),
        Variant::base(Target::LinuxX64),
        Variant::new(Target::MacosArm64, Profile::Torch, Accelerator::Mps),
        Variant::new(Target::WindowsX64, Profile::Torch, Accelerator::Cpu),
        Variant::new(Target::LinuxX64, Profile::Torch, Accelerator::Cuda),
        Variant::new(Target::LinuxX64, Profile::Torch, Accelerator::Cpu),
        Variant::new(Target::WindowsX64, Profile::Torch, Accelerator::Cuda),
    ];

    pub const fn new(target: Target, profile: Profile, accelerator: Accelerator) -> Variant {
        Variant {
            target,
            profile,
            accelerator,
        }
    }

    /// The base profile of `target`: what every runtime was before profiles existed.
    pub const fn base(target: Target) -> Variant {
        Variant::new(target, Profile::Base, Accelerator::Cpu)
    }

    /// Checks the combination against [`Variant::ALL`].
    pub fn parse(
        target: Target,
        profile: Profile,
        accelerator: Option<Accelerator>,
    ) -> Result<Variant, UnknownVariant> {
        let accelerator =
            accelerator.unwrap_or_else(|| Variant::default_accelerator(target, profile));
        let variant = Variant::new(target, profile, accelerator);
        if Variant::ALL.contains(&variant) {
            return Ok(variant);
        }
        Err(UnknownVariant {
            target,
            profile,
            accelerator,
            reason: match (profile, accelerator) {
                (Profile::Base, _) => "the base profile runs on the CPU only",
                (_, Accelerator::Mps) => "MPS exists on macOS only",
                (_, Accelerator::Cuda) => "CUDA exists on Linux and Windows only",
                (_, Accelerator::Cpu) => "torch's macOS wheels always carry MPS: use mps",
            },
        })
    }

    /// The accelerator of a profile when none is named: what the default package index
    /// builds (see [`Variant::needs_extra_index`]).
    pub fn default_accelerator(target: Target, profile: Profile) -> Accelerator {
        match (profile, target) {
            (Profile::Base, _) => Accelerator::Cpu,
            (Profile::Torch, Target::MacosArm64) => Accelerator::Mps,
            (Profile::Torch, Target::WindowsX64) => Accelerator::Cpu,
            (Profile::Torch, Target::LinuxX64) => Accelerator::Cuda,
        }
    }

    /// Whether the variant's wheels live on another package index than the default one: the
    /// default index has CUDA torch for Linux and CPU torch for Windows only.
    pub fn needs_extra_index(self) -> bool {
        self.profile == Profile::Torch
            && self.accelerator != Variant::default_accelerator(self.target, self.profile)
    }

    /// `linux-x64` for the base profile (the names runtimes had before profiles), else
    /// `linux-x64-torch-cuda`: used in lock, folder and archive names.
    pub fn name(self) -> String {
        match self.profile {
            Profile::Base => self.target.name().to_owned(),
            _ => format!("{}-{}-{}", self.target, self.profile, self.accelerator),
        }
    }

    /// What the variant's wheels need. The CUDA fields are filled in from the lock by the
    /// xtask ([`Requirements::for_cuda`]); this is the part known without it.
    pub fn base_requirements(self) -> Requirements {
        let (min_os_version, cpu_level) = match (self.target, self.profile) {
            // torch >= 2.12 ships macOS 14 wheels only; the base wheels are locked for 13.0.
            (Target::MacosArm64, Profile::Torch) => ("14.0", CpuLevel::Arm64),
            (Target::MacosArm64, Profile::Base) => ("13.0", CpuLevel::Arm64),
            (Target::WindowsX64, _) => ("10", CpuLevel::X86_64V2),
            // manylinux_2_28 is the newest glibc tag among the locked wheels.
            (Target::LinuxX64, _) => ("2.28", CpuLevel::X86_64V2),
        };
        let min_ram_bytes = match self.profile {
            Profile::Base => 2 * GIB,
            Profile::Torch => 8 * GIB,
        };
        Requirements {
            min_os_version: min_os_version.to_owned(),
            cpu_level,
            min_nvidia_driver: None,
            min_compute_capability: None,
            cuda_version: None,
            min_ram_bytes,
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A name that is no variant this project builds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown runtime variant `{name}`: expected <target> for the base profile or <target>-<profile>-<accelerator>, e.g. linux-x64-torch-cuda")]
pub struct UnknownVariantName {
    pub name: String,
}

impl FromStr for Variant {
    type Err = UnknownVariantName;

    /// The inverse of [`Variant::name`].
    fn from_str(name: &str) -> Result<Variant, UnknownVariantName> {
        Variant::ALL
            .into_iter()
            .find(|variant| variant.name() == name)
            .ok_or_else(|| UnknownVariantName {
                name: name.to_owned(),
            })
    }
}

impl Requirements {
    /// The driver and GPU a CUDA `major.minor` build needs, per NVIDIA's CUDA release notes
    /// (minor-version compatibility: the `.0` release's driver runs every minor release).
    /// `None` for a CUDA version this table does not know: the xtask then refuses to publish.
    pub fn for_cuda(mut self, target: Target, cuda_version: &str) -> Option<Requirements> {
        let major = cuda_version.split('.').next()?;
        let (linux, windows, capability) = match major {
            "12" => ("525.60.13", "527.41", "5.0"),
            "13" => ("580.65.06", "580.88", "7.5"),
            _ => return None,
        };
        self.min_nvidia_driver = Some(
            match target {
                Target::WindowsX64 => windows,
                _ => linux,
            }
            .to_owned(),
        );
        self.min_compute_capability = Some(capability.to_owned());
        self.cuda_version = Some(cuda_version.to_owned());
        Some(self)
    }
}

/// Compares dotted version text component by component as numbers (`570.86.16` < `580.65.06`,
/// `10.0` = `10`); a part that is no number compares as 0.
pub fn compare_dotted(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |text: &str| -> Vec<u64> {
        text.trim()
            .split('.')
            .map(|part| part.trim().parse().unwrap_or(0))
            .collect()
    };
    let (a, b) = (parts(a), parts(b));
    for index in 0..a.len().max(b.len()) {
        let ordering = a.get(index).unwrap_or(&0).cmp(b.get(index).unwrap_or(&0));
        if ordering.is_ne() {
            return ordering;
        }
    }
    std::cmp::Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_base_keeps_the_old_names() {
        for variant in Variant::ALL {
            let parsed = Variant::parse(variant.target, variant.profile, Some(variant.accelerator));
            assert_eq!(parsed, Ok(variant));
        }
        assert_eq!(Variant::base(Target::LinuxX64).name(), "linux-x64");
        assert_eq!(
            Variant::parse(Target::LinuxX64, Profile::Torch, None)
                .unwrap()
                .name(),
            "linux-x64-torch-cuda"
        );
        for variant in Variant::ALL {
            assert_eq!(variant.name().parse(), Ok(variant));
        }
        assert!("linux-x64-torch".parse::<Variant>().is_err());
        assert_eq!("torch".parse(), Ok(Profile::Torch));
        assert_eq!("mps".parse(), Ok(Accelerator::Mps));
        assert!("rocm".parse::<Accelerator>().is_err());
        let error = Variant::parse(Target::MacosArm64, Profile::Torch, Some(Accelerator::Cuda))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("CUDA exists on Linux and Windows only"),
            "{error}"
        );
        assert!(Variant::parse(Target::LinuxX64, Profile::Base, Some(Accelerator::Cuda)).is_err());
    }

    #[test]
    fn only_the_other_index_variants_need_an_extra_index() {
        let extra: Vec<String> = Variant::ALL
            .into_iter()
            .filter(|variant| variant.needs_extra_index())
            .map(Variant::name)
            .collect();
        assert_eq!(extra, ["linux-x64-torch-cpu", "windows-x64-torch-cuda"]);
    }

    #[test]
    fn cpu_levels_and_dotted_versions_compare_as_machines_do() {
        assert!(CpuLevel::X86_64V3.satisfies(CpuLevel::X86_64V2));
        assert!(!CpuLevel::X86_64.satisfies(CpuLevel::X86_64V2));
        assert!(!CpuLevel::Arm64.satisfies(CpuLevel::X86_64));
        assert!(!CpuLevel::X86_64V4.satisfies(CpuLevel::Arm64));
        use std::cmp::Ordering::*;
        assert_eq!(compare_dotted("570.86.16", "580.65.06"), Less);
        assert_eq!(compare_dotted("10", "10.0"), Equal);
        assert_eq!(compare_dotted("14.5", "14.0"), Greater);
        assert_eq!(compare_dotted("2.36", "2.28"), Greater);
    }

    #[test]
    fn cuda_requirements_come_from_the_cuda_version() {
        let variant = Variant::new(Target::LinuxX64, Profile::Torch, Accelerator::Cuda);
        let requirements = variant
            .base_requirements()
            .for_cuda(Target::LinuxX64, "13.2")
            .unwrap();
        assert_eq!(requirements.min_nvidia_driver.as_deref(), Some("580.65.06"));
        assert_eq!(requirements.min_compute_capability.as_deref(), Some("7.5"));
        assert!(variant
            .base_requirements()
            .for_cuda(Target::LinuxX64, "11.8")
            .is_none());
    }
}
