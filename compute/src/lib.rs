//! What this machine is, and which runtime variant and device it should use.
//!
//! # The probe
//!
//! [`probe`] reads the machine without linking any GPU library, so it works the same on a
//! machine with no GPU software at all. Every source is best-effort: a failure leaves its field
//! empty (or `false`), never a panic, and every external command is killed after
//! [`run::COMMAND_TIMEOUT`] (5 s). All text is parsed by plain functions in [`parse`], compiled
//! and tested on every OS with fixture text copied from the real tools.
//!
//! - **Linux**: the glibc version (`gnu_get_libc_version`, what a runtime's
//!   `min_os_version` means on Linux), `PRETTY_NAME` of `/etc/os-release`, the `model name` of
//!   `/proc/cpuinfo`, `MemTotal` of `/proc/meminfo`; NVIDIA GPUs from `nvidia-smi` (name,
//!   driver, compute capability, memory), else from the kernel module's
//!   `/proc/driver/nvidia/version` and `/proc/driver/nvidia/gpus/*/information` (no compute
//!   capability there).
//! - **macOS**: `sw_vers -productVersion`, `sysctl` for memory, CPU name and core count;
//!   `hw.optional.arm64` says Apple Silicon (also to a process under Rosetta),
//!   `sysctl.proc_translated` says Rosetta. Apple Silicon has one GPU, vendor `apple`.
//! - **Windows**: version and name from the registry's `CurrentVersion` key (`cmd /c ver` when
//!   that fails), the machine's own architecture from the registry (an x64 process on an ARM PC
//!   is told AMD64 by its environment), CPU name from the registry, RAM from
//!   `GlobalMemoryStatusEx`, NVIDIA GPUs from `nvidia-smi`.
//! - **Everywhere**: cores from `available_parallelism`, the CPU level from the instructions
//!   the CPU reports (x86-64-v2: SSE4.2, SSSE3, POPCNT, CX16; v3: + AVX, AVX2, BMI1/2, FMA,
//!   LZCNT, MOVBE; v4: + AVX-512 F/BW/CD/DQ/VL; `arm64` on ARM machines), free disk at the
//!   data root (the free-space check the updater's installs use, `runtime_archive::free_space`).
//!
//! [`probe_or_fixture`] reads the probe from the JSON file `TOKENIZER_STUDIO_PROBE_FIXTURE`
//! names instead, so tests drive the GPU paths on machines without a GPU.
//!
//! # The decision
//!
//! [`choose`] is a pure function of the probe, the variants on offer ([`Candidate`], from the
//! release index or [`Candidate::known`]) and the user's [`Preference`]. It answers a
//! [`Choice`] (variant, device, a one-sentence reason, notes) or a [`Refusal`] whose message
//! says what is wrong and what the user can do.
//!
//! 1. **The machine's target.** Linux on x86-64 runs `linux-x64`, Windows on x86-64
//!    `windows-x64`, Windows on ARM `windows-x64` through Windows' x64 emulation (the base
//!    profile only: torch is not offered there), a Mac with Apple Silicon `macos-arm64` (also
//!    when this process runs under Rosetta). An Intel Mac and Linux on ARM are refused with a
//!    sentence naming the machines that are supported.
//! 2. **A variant fits** when it is for that target, the OS version is at least its
//!    `min_os_version` (compared as dotted numbers), the CPU level satisfies its `cpu_level`
//!    (always, under Windows' emulation), RAM is at least `min_ram_bytes` less
//!    [`RAM_SLACK_PERCENT`] (operating systems report installed RAM minus what firmware and
//!    graphics reserve), and the free disk, when known, holds the download, the unpacked
//!    runtime and a [`DISK_MARGIN_BYTES`] margin. An unreadable OS version or RAM size is not
//!    held against the machine.
//! 3. **Torch** uses the GPU when the preference is auto or GPU and a GPU is usable: a CUDA
//!    build needs an NVIDIA GPU whose driver is at least `min_nvidia_driver` and whose compute
//!    capability, when known, is at least `min_compute_capability`; an MPS build needs Apple
//!    Silicon. Otherwise it runs on the CPU: a CPU build when one is offered and fits, else a
//!    GPU build, which runs on the CPU too (device `cpu`, with a note). The notes say why the
//!    GPU was not used (no NVIDIA GPU, a driver to update, a compute capability too old, the
//!    user chose the CPU). Asking for the GPU where none is usable is not refused: the engine
//!    runs on the CPU and a note says so.
//! 4. **No torch variant fits** (Windows on ARM, too little RAM or disk, an OS or CPU too
//!    old): the base variant if it fits, with a note saying why torch is not available.
//! 5. **Base** is the base variant if it fits.
//! 6. **Nothing fits**: a refusal naming the reason and the remedy: the processor lacks
//!    instructions, the OS is too old (update it), the disk is too full (the amount to free),
//!    too little memory, or the release offers nothing for this machine.
//!
//! Sizes in sentences are binary units named as people see them (`3.1 GB`).
//!
//! # The machine file
//!
//! [`write_machine_file`] writes `<data>/machine.json`, `{"probe": …, "choice": {"variant",
//! "device", "reason"}}`, atomically and under 64 KiB, for the engine's `GET /api/v1/system`
//! (`docs/runtime-contract.md`, "Compute device and machine probe").

pub mod choose;
pub mod machine_file;
mod nvidia;
pub mod parse;
pub mod probe;
pub mod run;
mod size;

pub use choose::{
    choose, Candidate, Choice, DevicePreference, Preference, Refusal, DISK_MARGIN_BYTES,
    RAM_SLACK_PERCENT,
};
pub use machine_file::{
    machine_file, probe_or_fixture, probe_with_fixture, write_machine_file, MAX_MACHINE_FILE_BYTES,
};
pub use probe::{probe, Arch, Cpu, Gpu, Os, OsKind, Probe};
pub use size::{human_bytes, human_bytes_up};
