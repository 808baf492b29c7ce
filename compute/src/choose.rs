//! The decision: which runtime variant this machine gets and which device its engine uses, as
//! a pure function of the probe, the variants on offer and the user's preference. The rules are
//! in the crate documentation.

use runtime_spec::variant::compare_dotted;
use runtime_spec::{Accelerator, CpuLevel, Profile, ReleaseIndex, Requirements, Target, Variant};
use serde::{Deserialize, Serialize};

use crate::probe::{Arch, Gpu, OsKind, Probe};
use crate::size::{human_bytes, human_bytes_up};

const MIB: u64 = 1024 * 1024;

/// Free space kept beyond the download and the unpacked runtime: the installer's own margin
/// (`docs/runtime-contract.md`, "The runtimes folder").
pub const DISK_MARGIN_BYTES: u64 = 200 * MIB;

/// How far below `min_ram_bytes` the reported RAM may be. Operating systems report installed
/// RAM minus what firmware and integrated graphics reserve: an "8 GB" laptop says 7.6 to
/// 7.8 GiB, and refusing it the torch engine over that would be wrong.
pub const RAM_SLACK_PERCENT: u64 = 10;

/// The CUDA version [`Candidate::known`] assumes for CUDA variants (the lock decides the real
/// one when a release is built).
pub const KNOWN_CUDA_VERSION: &str = "13.0";

/// A variant on offer, with what it needs and what it costs to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub variant: Variant,
    pub requirements: Requirements,
    /// Archive size.
    pub download_bytes: u64,
    /// Size of the installed runtime.
    pub unpacked_bytes: u64,
}

impl Candidate {
    /// Every entry of a release index, for every target.
    pub fn from_index(index: &ReleaseIndex) -> Vec<Candidate> {
        Target::ALL
            .into_iter()
            .flat_map(|target| {
                index.entries(target).iter().map(move |entry| Candidate {
                    variant: entry.variant(target),
                    requirements: entry.requirements.clone(),
                    download_bytes: entry.size,
                    unpacked_bytes: entry.unpacked_size,
                })
            })
            .collect()
    }

    /// Every variant this project builds, with the requirements known without a lock (CUDA
    /// ones for [`KNOWN_CUDA_VERSION`]) and sizes 0: what `cargo xtask doctor` decides with.
    pub fn known() -> Vec<Candidate> {
        Variant::ALL
            .into_iter()
            .map(|variant| {
                let requirements = variant.base_requirements();
                let requirements = match variant.accelerator {
                    Accelerator::Cuda => requirements
                        .clone()
                        .for_cuda(variant.target, KNOWN_CUDA_VERSION)
                        .unwrap_or(requirements),
                    _ => requirements,
                };
                Candidate {
                    variant,
                    requirements,
                    download_bytes: 0,
                    unpacked_bytes: 0,
                }
            })
            .collect()
    }
}

/// The user's GPU/CPU setting.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DevicePreference {
    /// The GPU when one is usable, else the CPU.
    #[default]
    Auto,
    /// The GPU; the CPU (with a note) when none is usable.
    Gpu,
    /// The CPU even when a GPU is usable.
    Cpu,
}

/// What the user asked for.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, Default)]
pub struct Preference {
    pub profile: Profile,
    pub device: DevicePreference,
}

/// What to install and run.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Choice {
    pub variant: Variant,
    /// The device the engine should use: a GPU build on a machine without a usable GPU runs
    /// on the CPU.
    pub device: Accelerator,
    /// One sentence for the user.
    pub reason: String,
    pub download_bytes: u64,
    /// More plain sentences: why not the GPU, why not torch.
    pub notes: Vec<String>,
}

/// Nothing on offer runs here; the message says what is wrong and what the user can do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub message: String,
}

impl Refusal {
    fn new(message: impl Into<String>) -> Refusal {
        Refusal {
            message: message.into(),
        }
    }
}

/// Chooses the variant and device for `probe` among `candidates` (see the crate
/// documentation for the rules).
pub fn choose(
    probe: &Probe,
    candidates: &[Candidate],
    preference: &Preference,
) -> Result<Choice, Refusal> {
    let machine = Machine::of(probe)?;
    let offered: Vec<&Candidate> = candidates
        .iter()
        .filter(|candidate| candidate.variant.target == machine.target)
        .collect();
    let base = offered
        .iter()
        .copied()
        .find(|candidate| candidate.variant.profile == Profile::Base);
    let mut notes = Vec::new();
    if preference.profile == Profile::Torch {
        match choose_torch(&machine, &offered, preference.device) {
            Ok(choice) => return Ok(choice),
            Err(TorchUnavailable { note, misfit }) => {
                if base.is_none() {
                    if let Some(misfit) = misfit {
                        return Err(Refusal::new(misfit.refusal()));
                    }
                }
                notes.push(note);
            }
        }
    }
    let Some(base) = base else {
        return Err(Refusal::new(format!(
            "This release offers no engine for this computer ({}). Check for a newer version of Tokenizer Studio.",
            machine.target
        )));
    };
    if let Some(misfit) = machine.misfit(base) {
        return Err(Refusal::new(misfit.refusal()));
    }
    let reason = if machine.windows_on_arm {
        format!(
            "The base engine runs on this ARM PC through Windows' x64 emulation, slower than on an x64 PC{}.",
            download(base.download_bytes)
        )
    } else {
        format!(
            "The base engine runs on the CPU ({}){}.",
            machine.cpu_description(),
            download(base.download_bytes)
        )
    };
    Ok(Choice {
        variant: base.variant,
        device: Accelerator::Cpu,
        reason,
        download_bytes: base.download_bytes,
        notes,
    })
}

/// Why no torch variant is chosen: the note for the user, and the misfit when one decided it.
struct TorchUnavailable {
    note: String,
    misfit: Option<Misfit>,
}

fn choose_torch(
    machine: &Machine,
    offered: &[&Candidate],
    device: DevicePreference,
) -> Result<Choice, TorchUnavailable> {
    if machine.windows_on_arm {
        return Err(TorchUnavailable {
            note: "The torch engine is not offered for Windows on ARM; the base engine runs through Windows' x64 emulation, more slowly.".to_owned(),
            misfit: None,
        });
    }
    let torch: Vec<&Candidate> = offered
        .iter()
        .copied()
        .filter(|candidate| candidate.variant.profile == Profile::Torch)
        .collect();
    if torch.is_empty() {
        return Err(TorchUnavailable {
            note: format!(
                "This release offers no torch engine for {}, so the base engine is used.",
                os_label(machine.target)
            ),
            misfit: None,
        });
    }
    let gpu_builds: Vec<&Candidate> = torch
        .iter()
        .copied()
        .filter(|candidate| candidate.variant.accelerator.is_gpu())
        .collect();

    // Why the GPU is not used, when it is not.
    let mut why_not_gpu = None;
    if device == DevicePreference::Cpu {
        why_not_gpu = Some("You chose the CPU engine.".to_owned());
    } else if gpu_builds.is_empty() {
        why_not_gpu = Some(if machine.has_nvidia_gpu() {
            format!(
                "This release offers no GPU engine for {}, so the engine runs on the CPU.",
                os_label(machine.target)
            )
        } else {
            "No usable GPU was found, so the engine runs on the CPU.".to_owned()
        });
    } else {
        for candidate in &gpu_builds {
            let verdict = machine.gpu_for(candidate);
            match (verdict, machine.misfit(candidate)) {
                (Ok(gpu), None) => {
                    return Ok(gpu_choice(machine, candidate, &gpu));
                }
                (Ok(_), Some(misfit)) => {
                    why_not_gpu.get_or_insert(format!(
                        "The GPU engine does not fit here: {}, so the engine runs on the CPU.",
                        misfit.clause()
                    ));
                }
                (Err(why), _) => {
                    why_not_gpu.get_or_insert(why);
                }
            }
        }
    }

    let mut notes = Vec::new();
    if device == DevicePreference::Gpu {
        notes.push(
            "You asked for the GPU engine, but it cannot be used on this computer.".to_owned(),
        );
    }
    notes.extend(why_not_gpu);
    let fitting = |accelerator_is_gpu: bool| {
        torch.iter().copied().find(|candidate| {
            candidate.variant.accelerator.is_gpu() == accelerator_is_gpu
                && machine.misfit(candidate).is_none()
        })
    };
    let picked = match fitting(false) {
        Some(candidate) => Some(candidate),
        None => fitting(true).inspect(|candidate| {
            notes.push(format!(
                "This release's torch engine for {} is built for {} GPUs and runs on the CPU too.",
                os_label(machine.target),
                gpu_family(candidate.variant.accelerator)
            ));
        }),
    };
    if let Some(candidate) = picked {
        return Ok(Choice {
            variant: candidate.variant,
            device: Accelerator::Cpu,
            reason: format!(
                "The torch engine runs on the CPU ({}){}.",
                machine.cpu_description(),
                download(candidate.download_bytes)
            ),
            download_bytes: candidate.download_bytes,
            notes,
        });
    }
    // No torch variant fits: say why with the most permissive one (the CPU build if offered).
    let telling = torch
        .iter()
        .copied()
        .find(|candidate| !candidate.variant.accelerator.is_gpu())
        .unwrap_or(torch[0]);
    let misfit = std::iter::once(telling)
        .chain(torch.iter().copied())
        .find_map(|candidate| machine.misfit(candidate));
    let mut note = match &misfit {
        Some(misfit) => format!(
            "The torch engine is not available here: {}, so the base engine is used.",
            misfit.clause()
        ),
        None => "The torch engine is not available here, so the base engine is used.".to_owned(),
    };
    if let Some(remedy) = misfit.as_ref().and_then(Misfit::remedy) {
        note.push(' ');
        note.push_str(&remedy);
    }
    Err(TorchUnavailable { note, misfit })
}

fn gpu_choice(machine: &Machine, candidate: &Candidate, gpu: &Gpu) -> Choice {
    let accelerator = candidate.variant.accelerator;
    let reason = match accelerator {
        Accelerator::Mps => format!(
            "{} runs the GPU engine (MPS){}.",
            machine.apple_gpu_description(),
            download(candidate.download_bytes)
        ),
        _ => format!(
            "{}{} runs the GPU engine (CUDA){}.",
            gpu.name,
            gpu.driver_version
                .as_deref()
                .map(|driver| format!(" with driver {driver}"))
                .unwrap_or_default(),
            download(candidate.download_bytes)
        ),
    };
    let mut notes = Vec::new();
    if machine.probe.emulated && machine.target == Target::MacosArm64 {
        notes.push(
            "Tokenizer Studio runs under Rosetta here, but the engine runs natively on Apple Silicon."
                .to_owned(),
        );
    }
    Choice {
        variant: candidate.variant,
        device: accelerator,
        reason,
        download_bytes: candidate.download_bytes,
        notes,
    }
}

/// The probe seen as the target it runs.
struct Machine<'a> {
    probe: &'a Probe,
    target: Target,
    /// Windows on an ARM PC: x64 runtimes run through emulation.
    windows_on_arm: bool,
}

impl<'a> Machine<'a> {
    fn of(probe: &'a Probe) -> Result<Machine<'a>, Refusal> {
        let arm = probe.arch == Arch::Aarch64;
        let (target, windows_on_arm) = match probe.os.kind {
            OsKind::Linux if arm => {
                return Err(Refusal::new(
                    "This computer runs Linux on an ARM processor; Tokenizer Studio's engine runs on Linux and Windows PCs with an x86-64 processor, Windows on ARM (through emulation) and Macs with Apple Silicon.",
                ))
            }
            OsKind::Linux => (Target::LinuxX64, false),
            OsKind::Windows => (Target::WindowsX64, arm),
            OsKind::Macos if probe.apple_silicon || arm => (Target::MacosArm64, false),
            OsKind::Macos => {
                return Err(Refusal::new(
                    "This Mac has an Intel processor; Tokenizer Studio's engine needs a Mac with Apple Silicon (M1 or newer).",
                ))
            }
        };
        Ok(Machine {
            probe,
            target,
            windows_on_arm,
        })
    }

    /// The first reason `candidate` cannot run here, checked in the order processor, OS,
    /// memory, disk.
    fn misfit(&self, candidate: &Candidate) -> Option<Misfit> {
        let needs = &candidate.requirements;
        let probe = self.probe;
        // Emulated x64 on ARM runs whatever x64 level the emulator offers: Windows decides, not
        // the instructions this process sees. An Apple Silicon Mac runs the arm64 runtime.
        let level = if self.target == Target::MacosArm64 {
            CpuLevel::Arm64
        } else {
            probe.cpu.level
        };
        if !self.windows_on_arm && !level.satisfies(needs.cpu_level) {
            return Some(Misfit::Cpu {
                have: level,
                needed: needs.cpu_level,
            });
        }
        // An unreadable version or amount is not held against the machine: the engine's own
        // start-up check still catches a machine that really cannot run it.
        if !probe.os.version.is_empty()
            && compare_dotted(&probe.os.version, &needs.min_os_version).is_lt()
        {
            return Some(Misfit::Os {
                kind: probe.os.kind,
                have: probe.os.version.clone(),
                needed: needs.min_os_version.clone(),
            });
        }
        let ram_floor = needs.min_ram_bytes - needs.min_ram_bytes / 100 * RAM_SLACK_PERCENT;
        if probe.ram_bytes > 0 && probe.ram_bytes < ram_floor {
            return Some(Misfit::Ram {
                have: probe.ram_bytes,
                needed: needs.min_ram_bytes,
            });
        }
        let disk_needed = candidate
            .download_bytes
            .saturating_add(candidate.unpacked_bytes)
            .saturating_add(DISK_MARGIN_BYTES);
        if let Some(free) = probe.free_disk_bytes {
            if free < disk_needed {
                return Some(Misfit::Disk {
                    have: free,
                    needed: disk_needed,
                });
            }
        }
        None
    }

    /// The GPU `candidate` would run on, or the sentence saying why there is none.
    fn gpu_for(&self, candidate: &Candidate) -> Result<Gpu, String> {
        match candidate.variant.accelerator {
            Accelerator::Mps => {
                if self.probe.apple_silicon || self.target == Target::MacosArm64 {
                    Ok(self
                        .probe
                        .gpus
                        .iter()
                        .find(|gpu| gpu.vendor.eq_ignore_ascii_case("apple"))
                        .cloned()
                        .unwrap_or(Gpu {
                            vendor: "apple".to_owned(),
                            name: "Apple GPU".to_owned(),
                            driver_version: None,
                            compute_capability: None,
                            memory_bytes: None,
                        }))
                } else {
                    Err(
                        "This Mac has no Apple Silicon GPU, so the engine runs on the CPU."
                            .to_owned(),
                    )
                }
            }
            Accelerator::Cuda => self.nvidia_gpu_for(&candidate.requirements),
            Accelerator::Cpu => Err("This engine is built for the CPU.".to_owned()),
        }
    }

    fn nvidia_gpus(&self) -> impl Iterator<Item = &Gpu> {
        self.probe
            .gpus
            .iter()
            .filter(|gpu| gpu.vendor.eq_ignore_ascii_case("nvidia"))
    }

    fn has_nvidia_gpu(&self) -> bool {
        self.nvidia_gpus().next().is_some()
    }

    fn nvidia_gpu_for(&self, needs: &Requirements) -> Result<Gpu, String> {
        let mut first_problem = None;
        for gpu in self.nvidia_gpus() {
            match nvidia_problem(gpu, needs) {
                None => return Ok(gpu.clone()),
                Some(problem) => {
                    first_problem.get_or_insert(problem);
                }
            }
        }
        Err(first_problem.unwrap_or_else(|| {
            "No NVIDIA GPU was found, so the engine runs on the CPU.".to_owned()
        }))
    }

    fn cpu_description(&self) -> String {
        let name = self.probe.cpu.name.trim();
        if name.is_empty() {
            self.probe.cpu.level.to_string()
        } else {
            format!("{name}, {}", self.probe.cpu.level)
        }
    }

    fn apple_gpu_description(&self) -> String {
        let name = self.probe.cpu.name.trim();
        if name.starts_with("Apple M") {
            format!("The {name}'s GPU")
        } else {
            "This Mac's Apple Silicon GPU".to_owned()
        }
    }
}

/// Why an NVIDIA GPU cannot run a CUDA build: the driver must be known and new enough, the
/// compute capability new enough when known.
fn nvidia_problem(gpu: &Gpu, needs: &Requirements) -> Option<String> {
    let Some(driver) = gpu.driver_version.as_deref() else {
        return Some(format!(
            "The driver version of the {} could not be read, so the engine runs on the CPU; reinstalling the NVIDIA driver usually fixes this.",
            gpu.name
        ));
    };
    if let Some(min_driver) = needs.min_nvidia_driver.as_deref() {
        if compare_dotted(driver, min_driver).is_lt() {
            return Some(format!(
                "The NVIDIA driver {driver} is older than {min_driver}, which the GPU engine needs: update the NVIDIA driver to use the GPU."
            ));
        }
    }
    if let (Some(have), Some(min)) = (
        gpu.compute_capability.as_deref(),
        needs.min_compute_capability.as_deref(),
    ) {
        if compare_dotted(have, min).is_lt() {
            return Some(format!(
                "The {} has GPU compute capability {have}, older than the {min} the GPU engine needs, so the engine runs on the CPU.",
                gpu.name
            ));
        }
    }
    None
}

/// Why a candidate cannot run here.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Misfit {
    Cpu {
        have: CpuLevel,
        needed: CpuLevel,
    },
    Os {
        kind: OsKind,
        have: String,
        needed: String,
    },
    Ram {
        have: u64,
        needed: u64,
    },
    Disk {
        have: u64,
        needed: u64,
    },
}

impl Misfit {
    /// The whole answer when nothing runs: what is wrong and what the user can do.
    fn refusal(&self) -> String {
        match self {
            Misfit::Cpu { have, needed } => format!(
                "This computer's processor ({have}) lacks instructions the engine needs ({needed}); Tokenizer Studio cannot run on it."
            ),
            Misfit::Os { kind, have, needed } => match kind {
                OsKind::Macos => format!(
                    "The engine needs macOS {needed} or newer; this Mac runs {have}. Update macOS, then open Tokenizer Studio again."
                ),
                OsKind::Windows => format!(
                    "The engine needs Windows {needed} or newer; this PC runs Windows {have}. Update Windows, then open Tokenizer Studio again."
                ),
                OsKind::Linux => format!(
                    "The engine needs a Linux system with glibc {needed} or newer; this one has glibc {have}. Update the Linux distribution, then open Tokenizer Studio again."
                ),
            },
            Misfit::Ram { have, needed } => format!(
                "The engine needs at least {} of memory (RAM); this computer has {}. The app cannot run on it.",
                human_bytes(*needed),
                human_bytes(*have)
            ),
            Misfit::Disk { have, needed } => format!(
                "There is not enough free disk space: installing the engine needs {} and the drive that holds Tokenizer Studio's data has {} free. Free up at least {} on that drive, then try again.",
                human_bytes(*needed),
                human_bytes(*have),
                human_bytes_up(needed - have)
            ),
        }
    }

    /// "it needs … and this … has …", for a note about one variant.
    fn clause(&self) -> String {
        match self {
            Misfit::Cpu { have, needed } => format!(
                "it needs a processor with {needed} instructions and this one has {have}"
            ),
            Misfit::Os { kind, have, needed } => match kind {
                OsKind::Macos => format!("it needs macOS {needed} or newer and this Mac runs {have}"),
                OsKind::Windows => format!("it needs Windows {needed} or newer and this PC runs Windows {have}"),
                OsKind::Linux => format!("it needs glibc {needed} or newer and this system has glibc {have}"),
            },
            Misfit::Ram { have, needed } => format!(
                "it needs {} of memory (RAM) and this computer has {}",
                human_bytes(*needed),
                human_bytes(*have)
            ),
            Misfit::Disk { have, needed } => format!(
                "it needs {} of free disk space and the drive that holds Tokenizer Studio's data has {}",
                human_bytes(*needed),
                human_bytes(*have)
            ),
        }
    }

    /// What the user can do about it, when anything.
    fn remedy(&self) -> Option<String> {
        match self {
            Misfit::Os { kind, .. } => Some(match kind {
                OsKind::Macos => "Update macOS to use it.".to_owned(),
                OsKind::Windows => "Update Windows to use it.".to_owned(),
                OsKind::Linux => "Update the Linux distribution to use it.".to_owned(),
            }),
            Misfit::Disk { have, needed } => Some(format!(
                "Free up at least {} on that drive to use it.",
                human_bytes_up(needed - have)
            )),
            Misfit::Cpu { .. } | Misfit::Ram { .. } => None,
        }
    }
}

fn download(bytes: u64) -> String {
    if bytes == 0 {
        String::new()
    } else {
        format!(", a {} download", human_bytes(bytes))
    }
}

fn os_label(target: Target) -> &'static str {
    match target {
        Target::LinuxX64 => "Linux",
        Target::WindowsX64 => "Windows",
        Target::MacosArm64 => "macOS",
    }
}

fn gpu_family(accelerator: Accelerator) -> &'static str {
    match accelerator {
        Accelerator::Cuda => "NVIDIA",
        Accelerator::Mps => "Apple Silicon",
        Accelerator::Cpu => "no",
    }
}
