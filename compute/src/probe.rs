//! What this machine is: [`Probe`] and [`probe`]. Each source is best-effort: a tool that is
//! missing, slow or says something unexpected leaves its field empty, never a panic. The
//! per-OS glue is kept small; what it reads is parsed in [`crate::parse`].

use std::path::Path;

use runtime_spec::CpuLevel;
use serde::{Deserialize, Serialize};

/// The machine as the decision sees it; written into `<data>/machine.json` for the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub os: Os,
    /// The machine's native architecture (an x64 process on an ARM PC still says aarch64).
    pub arch: Arch,
    /// This process runs under Rosetta or Windows' x64 emulation.
    pub emulated: bool,
    pub cpu: Cpu,
    pub ram_bytes: u64,
    /// Free space at the data root given to [`probe`] (`None`: could not be read).
    pub free_disk_bytes: Option<u64>,
    pub gpus: Vec<Gpu>,
    /// An Apple Silicon Mac (true under Rosetta too).
    pub apple_silicon: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Os {
    pub kind: OsKind,
    /// What `Requirements.min_os_version` is compared with: macOS `14.5`, Windows
    /// `10.0.22631`, on Linux the glibc version `2.36` (empty when it could not be read).
    pub version: String,
    /// For people: `Debian GNU/Linux 12 (bookworm)`, `macOS 14.5`, `Windows 11 23H2`.
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OsKind {
    Linux,
    Macos,
    Windows,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    X86_64,
    Aarch64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cpu {
    pub name: String,
    /// The instruction level this CPU runs (`arm64` on ARM machines).
    pub level: CpuLevel,
    pub cores: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gpu {
    /// `nvidia` or `apple`.
    pub vendor: String,
    pub name: String,
    pub driver_version: Option<String>,
    /// CUDA compute capability, `8.9`.
    pub compute_capability: Option<String>,
    pub memory_bytes: Option<u64>,
}

impl OsKind {
    pub fn name(self) -> &'static str {
        match self {
            OsKind::Linux => "linux",
            OsKind::Macos => "macos",
            OsKind::Windows => "windows",
        }
    }
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// The architecture this program was compiled for.
    pub fn of_this_build() -> Arch {
        if cfg!(target_arch = "aarch64") {
            Arch::Aarch64
        } else {
            Arch::X86_64
        }
    }
}

/// Probes this machine; `data_root` is where free disk space is measured (the nearest folder
/// that exists, so it may be created later). Takes up to a few seconds when a tool is slow
/// (each runs at most [`crate::run::COMMAND_TIMEOUT`]).
pub fn probe(data_root: &Path) -> Probe {
    let mut probe = os::probe();
    probe.free_disk_bytes = runtime_archive::free_space(data_root).ok();
    probe
}

/// The CPU level of this process's CPU, from the instructions it reports.
pub fn cpu_level() -> CpuLevel {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let v2 = has!("sse4.2") && has!("ssse3") && has!("popcnt") && has!("cmpxchg16b");
        let v3 = v2
            && has!("avx")
            && has!("avx2")
            && has!("bmi1")
            && has!("bmi2")
            && has!("fma")
            && has!("lzcnt")
            && has!("movbe");
        let v4 = v3
            && has!("avx512f")
            && has!("avx512bw")
            && has!("avx512cd")
            && has!("avx512dq")
            && has!("avx512vl");
        if v4 {
            CpuLevel::X86_64V4
        } else if v3 {
            CpuLevel::X86_64V3
        } else if v2 {
            CpuLevel::X86_64V2
        } else {
            CpuLevel::X86_64
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        CpuLevel::Arm64
    }
}

fn cores() -> u32 {
    std::thread::available_parallelism()
        .map(|count| u32::try_from(count.get()).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

#[cfg(target_os = "linux")]
fn read(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

#[cfg(target_os = "linux")]
mod os {
    use super::*;
    use crate::parse;

    pub fn probe() -> Probe {
        let arch = Arch::of_this_build();
        let name = read("/etc/os-release")
            .or_else(|| read("/usr/lib/os-release"))
            .and_then(|text| parse::parse_os_release(&text))
            .unwrap_or_else(|| "Linux".to_owned());
        Probe {
            os: Os {
                kind: OsKind::Linux,
                version: glibc_version().unwrap_or_default(),
                name,
            },
            arch,
            emulated: false,
            cpu: Cpu {
                name: read("/proc/cpuinfo")
                    .and_then(|text| parse::parse_cpuinfo_model(&text))
                    .unwrap_or_default(),
                level: cpu_level(),
                cores: cores(),
            },
            ram_bytes: read("/proc/meminfo")
                .and_then(|text| parse::parse_meminfo(&text))
                .unwrap_or(0),
            free_disk_bytes: None,
            gpus: crate::nvidia::gpus(&["/usr/lib/wsl/lib/nvidia-smi"]).unwrap_or_else(proc_gpus),
            apple_silicon: false,
        }
    }

    #[cfg(target_env = "gnu")]
    fn glibc_version() -> Option<String> {
        // SAFETY: gnu_get_libc_version returns a pointer to a static NUL-terminated string.
        let version = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
        parse::parse_glibc_version(&version.to_string_lossy())
    }

    #[cfg(not(target_env = "gnu"))]
    fn glibc_version() -> Option<String> {
        parse::parse_glibc_version(&crate::run::run("getconf", &["GNU_LIBC_VERSION"])?)
    }

    /// Without nvidia-smi, the kernel module's files still name the driver and the GPUs
    /// (compute capability stays unknown).
    fn proc_gpus() -> Vec<Gpu> {
        let Some(driver) = read("/proc/driver/nvidia/version")
            .and_then(|text| parse::parse_proc_driver_version(&text))
        else {
            return Vec::new();
        };
        let mut folders: Vec<_> = std::fs::read_dir("/proc/driver/nvidia/gpus")
            .map(|entries| entries.flatten().map(|entry| entry.path()).collect())
            .unwrap_or_default();
        folders.sort();
        let names: Vec<String> = folders
            .iter()
            .filter_map(|folder| read(folder.join("information")))
            .filter_map(|text| parse::parse_proc_gpu_information(&text))
            .collect();
        let names = if names.is_empty() {
            vec!["NVIDIA GPU".to_owned()]
        } else {
            names
        };
        names
            .into_iter()
            .map(|name| Gpu {
                vendor: "nvidia".to_owned(),
                name,
                driver_version: Some(driver.clone()),
                compute_capability: None,
                memory_bytes: None,
            })
            .collect()
    }
}

#[cfg(target_os = "macos")]
mod os {
    use super::*;
    use crate::parse;
    use crate::run::run;

    fn sysctl(name: &str) -> Option<u64> {
        parse::parse_sysctl_number(&run("sysctl", &["-n", name])?)
    }

    pub fn probe() -> Probe {
        let version = run("sw_vers", &["-productVersion"])
            .and_then(|text| parse::parse_sw_vers(&text))
            .unwrap_or_default();
        // hw.optional.arm64 is 1 on Apple Silicon even for a process under Rosetta;
        // sysctl.proc_translated is 1 only under Rosetta (and missing on Intel Macs).
        let apple_silicon = sysctl("hw.optional.arm64") == Some(1);
        let emulated = sysctl("sysctl.proc_translated") == Some(1);
        let name = run("sysctl", &["-n", "machdep.cpu.brand_string"])
            .map(|text| text.trim().to_owned())
            .unwrap_or_default();
        let gpus = if apple_silicon {
            vec![Gpu {
                vendor: "apple".to_owned(),
                name: "Apple GPU".to_owned(),
                driver_version: None,
                compute_capability: None,
                memory_bytes: None,
            }]
        } else {
            Vec::new()
        };
        Probe {
            os: Os {
                kind: OsKind::Macos,
                name: if version.is_empty() {
                    "macOS".to_owned()
                } else {
                    format!("macOS {version}")
                },
                version,
            },
            arch: if apple_silicon {
                Arch::Aarch64
            } else {
                Arch::X86_64
            },
            emulated,
            cpu: Cpu {
                name,
                // The engine runs natively on Apple Silicon whatever this process runs as.
                level: if apple_silicon {
                    CpuLevel::Arm64
                } else {
                    cpu_level()
                },
                cores: sysctl("hw.ncpu")
                    .and_then(|count| u32::try_from(count).ok())
                    .unwrap_or_else(cores),
            },
            ram_bytes: sysctl("hw.memsize").unwrap_or(0),
            free_disk_bytes: None,
            gpus,
            apple_silicon,
        }
    }
}

#[cfg(windows)]
mod os {
    use super::*;
    use crate::parse;
    use crate::run::run;

    fn reg_query(key: &str, value: Option<&str>) -> Vec<(String, String)> {
        let mut args = vec!["query", key];
        if let Some(value) = value {
            args.extend(["/v", value]);
        }
        run("reg", &args)
            .map(|text| parse::parse_reg_query(&text))
            .unwrap_or_default()
    }

    pub fn probe() -> Probe {
        let (version, name) = run(
            "reg",
            &[
                "query",
                r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion",
            ],
        )
        .and_then(|text| parse::parse_windows_registry_version(&text))
        .or_else(|| {
            let version = parse::parse_windows_ver(&run("cmd", &["/c", "ver"])?)?;
            Some((version, "Windows".to_owned()))
        })
        .unwrap_or_else(|| (String::new(), "Windows".to_owned()));
        // The registry holds the machine's own architecture: the environment variable of the
        // same name says AMD64 to an x64 process emulated on an ARM PC.
        let build = Arch::of_this_build();
        let arch = reg_query(
            r"HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\Environment",
            Some("PROCESSOR_ARCHITECTURE"),
        )
        .into_iter()
        .find_map(|(_, data)| parse::parse_windows_arch(&data))
        .unwrap_or(build);
        let cpu_name = reg_query(
            r"HKLM\HARDWARE\DESCRIPTION\System\CentralProcessor\0",
            Some("ProcessorNameString"),
        )
        .into_iter()
        .map(|(_, data)| data)
        .next()
        .unwrap_or_default();
        Probe {
            os: Os {
                kind: OsKind::Windows,
                version,
                name,
            },
            arch,
            emulated: arch != build,
            cpu: Cpu {
                name: cpu_name,
                level: if arch == Arch::Aarch64 {
                    CpuLevel::Arm64
                } else {
                    cpu_level()
                },
                cores: cores(),
            },
            ram_bytes: ram_bytes().unwrap_or(0),
            free_disk_bytes: None,
            gpus: crate::nvidia::gpus(&[
                r"C:\Windows\System32\nvidia-smi.exe",
                r"C:\Program Files\NVIDIA Corporation\NVSMI\nvidia-smi.exe",
            ])
            .unwrap_or_default(),
            apple_silicon: false,
        }
    }

    fn ram_bytes() -> Option<u64> {
        use windows_sys::Win32::System::SystemInformation::{GlobalMemoryStatusEx, MEMORYSTATUSEX};
        // SAFETY: the struct is plain data; dwLength must hold its size before the call, which
        // only writes into it.
        let mut status: MEMORYSTATUSEX = unsafe { std::mem::zeroed() };
        status.dwLength = std::mem::size_of::<MEMORYSTATUSEX>() as u32;
        let ok = unsafe { GlobalMemoryStatusEx(&mut status) };
        (ok != 0).then_some(status.ullTotalPhys)
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
mod os {
    use super::*;

    pub fn probe() -> Probe {
        Probe {
            os: Os {
                kind: OsKind::Linux,
                version: String::new(),
                name: std::env::consts::OS.to_owned(),
            },
            arch: Arch::of_this_build(),
            emulated: false,
            cpu: Cpu {
                name: String::new(),
                level: cpu_level(),
                cores: cores(),
            },
            ram_bytes: 0,
            free_disk_bytes: None,
            gpus: Vec::new(),
            apple_silicon: false,
        }
    }
}
