//! The decision on probe fixtures: one test per kind of machine, asserting the variant, the
//! device and the words the user reads.

use compute::{
    choose, Arch, Candidate, Choice, Cpu, DevicePreference, Gpu, Os, OsKind, Preference, Probe,
    Refusal,
};
use runtime_spec::{Accelerator, CpuLevel, Profile, Target, Variant};

const GIB: u64 = 1024 * 1024 * 1024;
const MIB: u64 = 1024 * 1024;

fn linux() -> Probe {
    Probe {
        os: Os {
            kind: OsKind::Linux,
            version: "2.36".into(),
            name: "Debian GNU/Linux 12 (bookworm)".into(),
        },
        arch: Arch::X86_64,
        emulated: false,
        cpu: Cpu {
            name: "AMD Ryzen 7 5800X".into(),
            level: CpuLevel::X86_64V3,
            cores: 16,
        },
        ram_bytes: 32 * GIB,
        free_disk_bytes: Some(200 * GIB),
        gpus: Vec::new(),
        apple_silicon: false,
    }
}

fn nvidia(name: &str, driver: &str, capability: Option<&str>) -> Gpu {
    Gpu {
        vendor: "nvidia".into(),
        name: name.into(),
        driver_version: Some(driver.into()),
        compute_capability: capability.map(Into::into),
        memory_bytes: Some(24 * GIB),
    }
}

fn with_gpu(mut probe: Probe, gpu: Gpu) -> Probe {
    probe.gpus.push(gpu);
    probe
}

fn mac(version: &str, apple_silicon: bool, emulated: bool) -> Probe {
    Probe {
        os: Os {
            kind: OsKind::Macos,
            version: version.into(),
            name: format!("macOS {version}"),
        },
        arch: if apple_silicon {
            Arch::Aarch64
        } else {
            Arch::X86_64
        },
        emulated,
        cpu: Cpu {
            name: if apple_silicon {
                "Apple M2".into()
            } else {
                "Intel(R) Core(TM) i9-9880H CPU @ 2.30GHz".into()
            },
            level: if apple_silicon {
                CpuLevel::Arm64
            } else {
                CpuLevel::X86_64V3
            },
            cores: 8,
        },
        ram_bytes: 16 * GIB,
        free_disk_bytes: Some(100 * GIB),
        gpus: if apple_silicon {
            vec![Gpu {
                vendor: "apple".into(),
                name: "Apple GPU".into(),
                driver_version: None,
                compute_capability: None,
                memory_bytes: None,
            }]
        } else {
            Vec::new()
        },
        apple_silicon,
    }
}

fn windows_on_arm() -> Probe {
    Probe {
        os: Os {
            kind: OsKind::Windows,
            version: "10.0.26100".into(),
            name: "Windows 11 24H2".into(),
        },
        arch: Arch::Aarch64,
        emulated: true,
        cpu: Cpu {
            name: "Snapdragon(R) X Elite - X1E78100 - Qualcomm(R) Oryon(TM) CPU".into(),
            level: CpuLevel::Arm64,
            cores: 12,
        },
        ram_bytes: 16 * GIB,
        free_disk_bytes: Some(50 * GIB),
        gpus: Vec::new(),
        apple_silicon: false,
    }
}

/// The variants of `target` (profile, accelerator, download size in MiB), with the
/// requirements the xtask would record.
fn offered(target: Target, variants: &[(Profile, Accelerator, u64)]) -> Vec<Candidate> {
    variants
        .iter()
        .map(|&(profile, accelerator, mib)| {
            let variant = Variant::new(target, profile, accelerator);
            let requirements = variant.base_requirements();
            let requirements = if accelerator == Accelerator::Cuda {
                requirements.for_cuda(target, "13.0").unwrap()
            } else {
                requirements
            };
            Candidate {
                variant,
                requirements,
                download_bytes: mib * MIB,
                unpacked_bytes: 3 * mib * MIB,
            }
        })
        .collect()
}

fn linux_cuda_only() -> Vec<Candidate> {
    offered(
        Target::LinuxX64,
        &[
            (Profile::Base, Accelerator::Cpu, 120),
            (Profile::Torch, Accelerator::Cuda, 3174),
        ],
    )
}

fn linux_both() -> Vec<Candidate> {
    offered(
        Target::LinuxX64,
        &[
            (Profile::Base, Accelerator::Cpu, 120),
            (Profile::Torch, Accelerator::Cuda, 3174),
            (Profile::Torch, Accelerator::Cpu, 300),
        ],
    )
}

fn everything() -> Vec<Candidate> {
    let mut all = linux_both();
    all.extend(offered(
        Target::MacosArm64,
        &[
            (Profile::Base, Accelerator::Cpu, 100),
            (Profile::Torch, Accelerator::Mps, 400),
        ],
    ));
    all.extend(offered(
        Target::WindowsX64,
        &[
            (Profile::Base, Accelerator::Cpu, 110),
            (Profile::Torch, Accelerator::Cpu, 350),
            (Profile::Torch, Accelerator::Cuda, 2900),
        ],
    ));
    all
}

fn torch() -> Preference {
    Preference {
        profile: Profile::Torch,
        device: DevicePreference::Auto,
    }
}

fn base() -> Preference {
    Preference {
        profile: Profile::Base,
        device: DevicePreference::Auto,
    }
}

fn prefer(device: DevicePreference) -> Preference {
    Preference {
        profile: Profile::Torch,
        device,
    }
}

#[track_caller]
fn chosen(probe: &Probe, candidates: &[Candidate], preference: Preference) -> Choice {
    choose(probe, candidates, &preference).unwrap_or_else(|refusal| panic!("refused: {refusal}"))
}

#[track_caller]
fn refused(probe: &Probe, candidates: &[Candidate], preference: Preference) -> String {
    match choose(probe, candidates, &preference) {
        Ok(choice) => panic!("chose {choice:?}"),
        Err(Refusal { message }) => message,
    }
}

#[track_caller]
fn assert_says(text: &str, words: &[&str]) {
    for word in words {
        assert!(text.contains(word), "{word:?} is missing from {text:?}");
    }
}

fn notes(choice: &Choice) -> String {
    choice.notes.join(" ")
}

fn variant(name: &str) -> Variant {
    name.parse().unwrap()
}

#[test]
fn no_gpu_on_linux_runs_the_cuda_build_on_the_cpu_when_it_is_the_only_torch() {
    let choice = chosen(&linux(), &linux_cuda_only(), torch());
    assert_eq!(choice.variant, variant("linux-x64-torch-cuda"));
    assert_eq!(choice.device, Accelerator::Cpu);
    assert_says(
        &choice.reason,
        &["CPU", "AMD Ryzen 7 5800X", "3.1 GB download"],
    );
    assert_says(
        &notes(&choice),
        &["No NVIDIA GPU", "built for NVIDIA GPUs", "CPU too"],
    );
}

#[test]
fn no_gpu_on_linux_takes_the_cpu_build_when_both_are_offered() {
    let choice = chosen(&linux(), &linux_both(), torch());
    assert_eq!(choice.variant, variant("linux-x64-torch-cpu"));
    assert_eq!(choice.device, Accelerator::Cpu);
    assert_eq!(choice.download_bytes, 300 * MIB);
    assert_says(&choice.reason, &["300 MB download"]);
    assert_says(&notes(&choice), &["No NVIDIA GPU"]);
    assert!(!notes(&choice).contains("built for"), "{:?}", choice.notes);
}

#[test]
fn a_recent_nvidia_driver_gets_the_gpu_engine() {
    let probe = with_gpu(
        linux(),
        nvidia("NVIDIA GeForce RTX 4090", "580.76.05", Some("8.9")),
    );
    let choice = chosen(&probe, &linux_both(), torch());
    assert_eq!(choice.variant, variant("linux-x64-torch-cuda"));
    assert_eq!(choice.device, Accelerator::Cuda);
    assert_says(
        &choice.reason,
        &[
            "NVIDIA GeForce RTX 4090",
            "driver 580.76.05",
            "GPU engine",
            "3.1 GB",
        ],
    );
    assert!(choice.notes.is_empty(), "{:?}", choice.notes);
    // A missing compute capability counts as fine when the driver is known.
    let probe = with_gpu(
        linux(),
        nvidia("NVIDIA GeForce RTX 3080", "580.76.05", None),
    );
    assert_eq!(
        chosen(&probe, &linux_both(), torch()).device,
        Accelerator::Cuda
    );
}

#[test]
fn an_old_driver_runs_on_the_cpu_and_says_what_to_update() {
    let probe = with_gpu(
        linux(),
        nvidia("NVIDIA GeForce RTX 3060", "525.60.13", Some("8.6")),
    );
    let choice = chosen(&probe, &linux_both(), torch());
    assert_eq!(choice.variant, variant("linux-x64-torch-cpu"));
    assert_eq!(choice.device, Accelerator::Cpu);
    assert_says(
        &notes(&choice),
        &[
            "525.60.13 is older than 580.65.06",
            "update the NVIDIA driver",
        ],
    );
    // Only the CUDA build on offer: it runs on the CPU, with the same advice.
    let choice = chosen(&probe, &linux_cuda_only(), torch());
    assert_eq!(choice.variant, variant("linux-x64-torch-cuda"));
    assert_eq!(choice.device, Accelerator::Cpu);
    assert_says(
        &notes(&choice),
        &["update the NVIDIA driver", "runs on the CPU too"],
    );
}

#[test]
fn a_gpu_with_too_old_a_compute_capability_runs_on_the_cpu() {
    let probe = with_gpu(
        linux(),
        nvidia("NVIDIA GeForce GTX 1080", "580.76.05", Some("6.1")),
    );
    let choice = chosen(&probe, &linux_both(), torch());
    assert_eq!(choice.device, Accelerator::Cpu);
    assert_eq!(choice.variant, variant("linux-x64-torch-cpu"));
    assert_says(
        &notes(&choice),
        &["GTX 1080", "compute capability 6.1", "7.5"],
    );
    // A second, newer GPU is used instead.
    let probe = with_gpu(probe, nvidia("Tesla T4", "580.76.05", Some("7.5")));
    let choice = chosen(&probe, &linux_both(), torch());
    assert_eq!(choice.device, Accelerator::Cuda);
    assert_says(&choice.reason, &["Tesla T4"]);
}

#[test]
fn apple_silicon_gets_mps_even_under_rosetta() {
    let candidates = everything();
    let choice = chosen(&mac("14.5", true, false), &candidates, torch());
    assert_eq!(choice.variant, variant("macos-arm64-torch-mps"));
    assert_eq!(choice.device, Accelerator::Mps);
    assert_says(
        &choice.reason,
        &["Apple M2", "GPU engine (MPS)", "400 MB download"],
    );
    assert!(choice.notes.is_empty(), "{:?}", choice.notes);

    let mut rosetta = mac("14.5", true, true);
    // What an x86-64 process sees of the CPU must not matter.
    rosetta.cpu.level = CpuLevel::X86_64V2;
    let choice = chosen(&rosetta, &candidates, torch());
    assert_eq!(choice.variant, variant("macos-arm64-torch-mps"));
    assert_eq!(choice.device, Accelerator::Mps);
    assert_says(&notes(&choice), &["Rosetta"]);

    let choice = chosen(&mac("14.5", true, false), &candidates, base());
    assert_eq!(choice.variant, variant("macos-arm64"));
    assert_eq!(choice.device, Accelerator::Cpu);
}

#[test]
fn an_intel_mac_is_refused_with_one_sentence() {
    let candidates = everything();
    let message = refused(&mac("14.5", false, false), &candidates, base());
    assert_eq!(
        message,
        "This Mac has an Intel processor; Tokenizer Studio's engine needs a Mac with Apple Silicon (M1 or newer)."
    );
    assert_eq!(
        refused(&mac("14.5", false, false), &candidates, torch()),
        message
    );
}

#[test]
fn windows_on_arm_gets_the_emulated_base_engine_and_no_torch() {
    let candidates = everything();
    let choice = chosen(&windows_on_arm(), &candidates, torch());
    assert_eq!(choice.variant, variant("windows-x64"));
    assert_eq!(choice.device, Accelerator::Cpu);
    assert_says(&choice.reason, &["emulation", "110 MB download"]);
    assert_says(
        &notes(&choice),
        &[
            "torch engine is not offered for Windows on ARM",
            "emulation",
        ],
    );
    let choice = chosen(&windows_on_arm(), &candidates, base());
    assert_eq!(choice.variant, variant("windows-x64"));
    assert!(choice.notes.is_empty(), "{:?}", choice.notes);
}

#[test]
fn linux_on_arm_is_refused_naming_what_runs() {
    let mut probe = linux();
    probe.arch = Arch::Aarch64;
    probe.cpu.level = CpuLevel::Arm64;
    let message = refused(&probe, &everything(), base());
    assert_says(
        &message,
        &["Linux on an ARM processor", "x86-64", "Apple Silicon"],
    );
}

#[test]
fn a_cpu_below_the_wheels_level_is_refused() {
    let mut probe = linux();
    probe.cpu.level = CpuLevel::X86_64;
    let message = refused(&probe, &linux_both(), torch());
    assert_eq!(
        message,
        "This computer's processor (x86-64) lacks instructions the engine needs (x86-64-v2); Tokenizer Studio cannot run on it."
    );
    assert_eq!(refused(&probe, &linux_both(), base()), message);
}

#[test]
fn an_old_os_is_refused_or_loses_torch() {
    let candidates = everything();
    // macOS 13: base (13.0) runs, torch (14.0) does not.
    let choice = chosen(&mac("13.6", true, false), &candidates, torch());
    assert_eq!(choice.variant, variant("macos-arm64"));
    assert_says(
        &notes(&choice),
        &[
            "torch engine is not available",
            "macOS 14.0 or newer",
            "runs 13.6",
            "Update macOS",
        ],
    );
    // macOS 12: nothing runs.
    let message = refused(&mac("12.7", true, false), &candidates, base());
    assert_says(
        &message,
        &[
            "needs macOS 13.0 or newer",
            "this Mac runs 12.7",
            "Update macOS",
        ],
    );
    // An old glibc.
    let mut probe = linux();
    probe.os.version = "2.27".into();
    let message = refused(&probe, &candidates, torch());
    assert_says(&message, &["glibc 2.28 or newer", "glibc 2.27", "Update"]);
    // An unreadable version is not held against the machine.
    probe.os.version = String::new();
    assert_eq!(
        chosen(&probe, &candidates, torch()).variant,
        variant("linux-x64-torch-cpu")
    );
}

#[test]
fn too_little_disk_is_refused_naming_the_size_to_free() {
    let mut probe = linux();
    // Base needs 120 + 360 + 200 MiB = 680 MiB.
    probe.free_disk_bytes = Some(300 * MIB);
    let message = refused(&probe, &linux_both(), base());
    assert_says(
        &message,
        &[
            "not enough free disk space",
            "680 MB",
            "300 MB free",
            "Free up at least 380 MB",
        ],
    );
    // Enough for base, not for any torch: base with a sentence.
    probe.free_disk_bytes = Some(GIB);
    let choice = chosen(&probe, &linux_both(), torch());
    assert_eq!(choice.variant, variant("linux-x64"));
    assert_says(
        &notes(&choice),
        &[
            "torch engine is not available",
            "free disk space",
            "Free up at least",
        ],
    );
    // Enough for the CPU build but not the CUDA one, on a GPU machine.
    probe.free_disk_bytes = Some(5 * GIB);
    let probe = with_gpu(
        probe,
        nvidia("NVIDIA GeForce RTX 4090", "580.76.05", Some("8.9")),
    );
    let choice = chosen(&probe, &linux_both(), torch());
    assert_eq!(choice.variant, variant("linux-x64-torch-cpu"));
    assert_eq!(choice.device, Accelerator::Cpu);
    assert_says(
        &notes(&choice),
        &["GPU engine does not fit", "free disk space"],
    );
    // Unknown free space is not held against the machine.
    let mut unknown = linux();
    unknown.free_disk_bytes = None;
    assert_eq!(
        chosen(&unknown, &linux_both(), base()).variant,
        variant("linux-x64")
    );
}

#[test]
fn too_little_ram_for_torch_gives_base_with_a_sentence() {
    let mut probe = linux();
    probe.ram_bytes = 4 * GIB;
    let choice = chosen(&probe, &linux_both(), torch());
    assert_eq!(choice.variant, variant("linux-x64"));
    assert_eq!(choice.device, Accelerator::Cpu);
    assert_says(
        &notes(&choice),
        &[
            "torch engine is not available",
            "8 GB of memory",
            "has 4 GB",
        ],
    );
    // An "8 GB" machine reports a little less and still gets torch.
    probe.ram_bytes = 7 * GIB + 700 * MIB;
    assert_eq!(
        chosen(&probe, &linux_both(), torch()).variant,
        variant("linux-x64-torch-cpu")
    );
    // Below base's minimum: refused.
    probe.ram_bytes = GIB;
    let message = refused(&probe, &linux_both(), torch());
    assert_says(&message, &["at least 2 GB of memory", "has 1 GB"]);
}

#[test]
fn choosing_the_cpu_on_a_gpu_machine() {
    let probe = with_gpu(
        linux(),
        nvidia("NVIDIA GeForce RTX 4090", "580.76.05", Some("8.9")),
    );
    let choice = chosen(&probe, &linux_both(), prefer(DevicePreference::Cpu));
    assert_eq!(choice.variant, variant("linux-x64-torch-cpu"));
    assert_eq!(choice.device, Accelerator::Cpu);
    assert_says(&notes(&choice), &["You chose the CPU engine"]);
    // On an Apple Silicon Mac the MPS build runs on the CPU.
    let choice = chosen(
        &mac("14.5", true, false),
        &everything(),
        prefer(DevicePreference::Cpu),
    );
    assert_eq!(choice.variant, variant("macos-arm64-torch-mps"));
    assert_eq!(choice.device, Accelerator::Cpu);
    assert_says(&notes(&choice), &["You chose the CPU engine"]);
}

#[test]
fn asking_for_the_gpu_without_one_falls_back_to_the_cpu_with_a_note() {
    let choice = chosen(&linux(), &linux_both(), prefer(DevicePreference::Gpu));
    assert_eq!(choice.variant, variant("linux-x64-torch-cpu"));
    assert_eq!(choice.device, Accelerator::Cpu);
    assert_says(
        &notes(&choice),
        &["You asked for the GPU engine", "No NVIDIA GPU"],
    );
    let probe = with_gpu(
        linux(),
        nvidia("NVIDIA GeForce RTX 4090", "580.76.05", Some("8.9")),
    );
    assert_eq!(
        chosen(&probe, &linux_both(), prefer(DevicePreference::Gpu)).device,
        Accelerator::Cuda
    );
}

#[test]
fn nothing_offered_for_this_machine_is_refused() {
    let message = refused(
        &linux(),
        &offered(Target::MacosArm64, &[(Profile::Base, Accelerator::Cpu, 1)]),
        base(),
    );
    assert_says(
        &message,
        &["offers no engine for this computer (linux-x64)"],
    );
    // Only base offered: torch is declined with a sentence.
    let only_base = offered(Target::LinuxX64, &[(Profile::Base, Accelerator::Cpu, 120)]);
    let choice = chosen(&linux(), &only_base, torch());
    assert_eq!(choice.variant, variant("linux-x64"));
    assert_says(&notes(&choice), &["offers no torch engine for Linux"]);
}

#[test]
fn windows_with_an_nvidia_gpu_uses_the_windows_driver_minimum() {
    let mut probe = linux();
    probe.os = Os {
        kind: OsKind::Windows,
        version: "10.0.22631".into(),
        name: "Windows 11 23H2".into(),
    };
    let probe = with_gpu(
        probe,
        nvidia("NVIDIA GeForce RTX 4070", "581.15", Some("8.9")),
    );
    let choice = chosen(&probe, &everything(), torch());
    assert_eq!(choice.variant, variant("windows-x64-torch-cuda"));
    assert_eq!(choice.device, Accelerator::Cuda);
    // Base on Windows 7 is refused with the Windows sentence.
    let mut old = probe.clone();
    old.os.version = "6.1.7601".into();
    assert_says(
        &refused(&old, &everything(), base()),
        &["Windows 10 or newer", "Update Windows"],
    );
}

#[test]
fn the_known_candidates_cover_every_variant() {
    let known = Candidate::known();
    assert_eq!(known.len(), Variant::ALL.len());
    let cuda = known
        .iter()
        .find(|candidate| candidate.variant == variant("linux-x64-torch-cuda"))
        .unwrap();
    assert_eq!(
        cuda.requirements.min_nvidia_driver.as_deref(),
        Some("580.65.06")
    );
    // Without sizes, the sentences name no download.
    let choice = chosen(&linux(), &known, torch());
    assert!(!choice.reason.contains("download"), "{}", choice.reason);
}
