//! Parsers for what the probe reads: tool output and system files, as plain functions compiled
//! on every OS, so the macOS and Windows formats are tested on any machine with fixture text.
//!
//! Every parser is forgiving: text it does not understand gives `None` (or skips a line),
//! never a panic, because a tool's output changes between versions and locales.

use crate::probe::{Arch, Gpu};

const MIB: u64 = 1024 * 1024;

/// `nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader,nounits`
/// (`with_compute_cap`), or the same without `compute_cap` (older tools refuse that field).
/// One GPU a line; `[N/A]`, `[Not Supported]` and empty fields become `None`. `memory.total`
/// is in MiB.
pub fn parse_nvidia_smi_csv(text: &str, with_compute_cap: bool) -> Vec<Gpu> {
    let numeric_fields = if with_compute_cap { 3 } else { 2 };
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            if fields.len() < numeric_fields + 1 {
                return None;
            }
            // The name is everything before the fixed fields, in case it holds a comma.
            let split = fields.len() - numeric_fields;
            let name = fields[..split].join(", ");
            let rest = &fields[split..];
            let known = |field: &str| {
                let field = field.trim();
                (!field.is_empty() && !field.starts_with('[') && field != "N/A")
                    .then(|| field.to_owned())
            };
            let (driver_version, compute_capability, memory) = if with_compute_cap {
                (known(rest[0]), known(rest[1]), rest[2])
            } else {
                (known(rest[0]), None, rest[1])
            };
            let name = known(&name)?;
            Some(Gpu {
                vendor: "nvidia".to_owned(),
                name,
                driver_version,
                compute_capability,
                memory_bytes: known(memory)
                    .and_then(|mib| mib.parse::<u64>().ok())
                    .map(|mib| mib * MIB),
            })
        })
        .collect()
}

/// The driver version from `/proc/driver/nvidia/version`: the first dotted number on the
/// `NVRM version:` line (`... Kernel Module  535.129.03  Thu Oct 19 ...`).
pub fn parse_proc_driver_version(text: &str) -> Option<String> {
    let line = text
        .lines()
        .find(|line| line.trim_start().starts_with("NVRM version:"))?;
    line.split_whitespace()
        .find(|word| is_dotted_number(word))
        .map(str::to_owned)
}

/// The `Model:` line of `/proc/driver/nvidia/gpus/<bus>/information`.
pub fn parse_proc_gpu_information(text: &str) -> Option<String> {
    key_value(text, ':', "Model")
}

/// `PRETTY_NAME` from `/etc/os-release` (quotes removed), else `NAME` + `VERSION_ID`.
pub fn parse_os_release(text: &str) -> Option<String> {
    let field = |key: &str| {
        text.lines().find_map(|line| {
            let (name, value) = line.split_once('=')?;
            (name.trim() == key).then(|| unquote(value.trim()))
        })
    };
    field("PRETTY_NAME")
        .filter(|name| !name.is_empty())
        .or_else(|| {
            let name = field("NAME")?;
            Some(match field("VERSION_ID") {
                Some(version) => format!("{name} {version}"),
                None => name,
            })
        })
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
pub fn parse_meminfo(text: &str) -> Option<u64> {
    let value = key_value(text, ':', "MemTotal")?;
    let mut words = value.split_whitespace();
    let number: u64 = words.next()?.parse().ok()?;
    Some(match words.next() {
        Some("kB") | Some("KB") | Some("kb") => number * 1024,
        Some("MB") => number * MIB,
        _ => number,
    })
}

/// The first `model name` of `/proc/cpuinfo` (x86), else `Hardware` or `Model` (ARM boards).
pub fn parse_cpuinfo_model(text: &str) -> Option<String> {
    ["model name", "Hardware", "Model"]
        .into_iter()
        .find_map(|key| key_value(text, ':', key))
        .filter(|name| !name.is_empty())
}

/// The glibc version from `getconf GNU_LIBC_VERSION` (`glibc 2.36`) or
/// `gnu_get_libc_version()` (`2.36`).
pub fn parse_glibc_version(text: &str) -> Option<String> {
    text.split_whitespace()
        .find(|word| is_dotted_number(word))
        .map(str::to_owned)
}

/// The macOS version from `sw_vers -productVersion` (`14.5`) or the full `sw_vers` output
/// (`ProductVersion:\t14.5`).
pub fn parse_sw_vers(text: &str) -> Option<String> {
    let value = key_value(text, ':', "ProductVersion").unwrap_or_else(|| text.trim().to_owned());
    is_dotted_or_plain_number(&value).then_some(value)
}

/// One number from `sysctl -n <name>` (`hw.memsize`, `hw.ncpu`, `hw.optional.arm64`).
pub fn parse_sysctl_number(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// The version from `cmd /c ver`: `Microsoft Windows [Version 10.0.22631.4169]` gives
/// `10.0.22631` (major.minor.build, what `Requirements.min_os_version` is compared with). The
/// word "Version" is translated on localized Windows, so only the bracketed number is read.
pub fn parse_windows_ver(text: &str) -> Option<String> {
    let start = text.find('[')?;
    let end = start + text[start..].find(']')?;
    let number = text[start + 1..end]
        .split_whitespace()
        .rev()
        .find(|word| is_dotted_number(word))?;
    Some(number.split('.').take(3).collect::<Vec<_>>().join("."))
}

/// The values of a `reg query` listing, as `(name, data)` pairs: lines
/// `    <name>    REG_<type>    <data>`. `REG_DWORD` data (`0xa`) is given in decimal.
pub fn parse_reg_query(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim_end_matches('\r');
            if !line.starts_with(' ') {
                return None;
            }
            let at = line.find("    REG_")?;
            let name = line[..at].trim().to_owned();
            let rest = &line[at + 4..];
            let (kind, data) = rest.split_once("    ").unwrap_or((rest, ""));
            let data = data.trim();
            let data = match kind.trim() {
                "REG_DWORD" | "REG_QWORD" => data
                    .strip_prefix("0x")
                    .and_then(|hex| u64::from_str_radix(hex, 16).ok())
                    .map(|number| number.to_string())
                    .unwrap_or_else(|| data.to_owned()),
                _ => data.to_owned(),
            };
            (!name.is_empty()).then_some((name, data))
        })
        .collect()
}

/// The Windows version from `reg query "HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion"`:
/// `(version, name)`, e.g. `("10.0.22631", "Windows 11 23H2")`. `ProductName` still says
/// "Windows 10" on Windows 11, so the name comes from the build number (22000 and later is 11).
pub fn parse_windows_registry_version(text: &str) -> Option<(String, String)> {
    let values = parse_reg_query(text);
    let value = |key: &str| {
        values
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, data)| data.clone())
            .filter(|data| !data.is_empty())
    };
    let build = value("CurrentBuild").or_else(|| value("CurrentBuildNumber"))?;
    let build_number: u64 = build.parse().ok()?;
    let major = value("CurrentMajorVersionNumber");
    let minor = value("CurrentMinorVersionNumber");
    let version = match (major, minor) {
        (Some(major), Some(minor)) => format!("{major}.{minor}.{build}"),
        // Before Windows 10 only `CurrentVersion` (`6.1`) exists.
        _ => format!("{}.{build}", value("CurrentVersion")?),
    };
    let family = if version.starts_with("10.") {
        if build_number >= 22000 {
            "Windows 11".to_owned()
        } else {
            "Windows 10".to_owned()
        }
    } else {
        value("ProductName").unwrap_or_else(|| "Windows".to_owned())
    };
    let name = match value("DisplayVersion") {
        Some(display) => format!("{family} {display}"),
        None => family,
    };
    Some((version, name))
}

/// `PROCESSOR_ARCHITECTURE` as Windows spells it (`AMD64`, `ARM64`).
pub fn parse_windows_arch(text: &str) -> Option<Arch> {
    match text.trim().to_ascii_uppercase().as_str() {
        "AMD64" | "X64" | "X86_64" => Some(Arch::X86_64),
        "ARM64" | "AARCH64" => Some(Arch::Aarch64),
        _ => None,
    }
}

/// The value after `key` and `separator` on the first line that starts with `key` (trimmed).
fn key_value(text: &str, separator: char, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(separator)?;
        (name.trim() == key).then(|| value.trim().to_owned())
    })
}

fn unquote(value: &str) -> String {
    let stripped = value
        .strip_prefix('"')
        .and_then(|value| value.strip_suffix('"'))
        .or_else(|| {
            value
                .strip_prefix('\'')
                .and_then(|value| value.strip_suffix('\''))
        })
        .unwrap_or(value);
    stripped.replace("\\\"", "\"")
}

/// `535.129.03`, `2.36`: at least two parts, each digits only.
fn is_dotted_number(word: &str) -> bool {
    let parts: Vec<&str> = word.split('.').collect();
    parts.len() >= 2
        && parts
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit()))
}

/// A dotted number or a plain one (`15` is a macOS version too).
fn is_dotted_or_plain_number(word: &str) -> bool {
    is_dotted_number(word) || (!word.is_empty() && word.bytes().all(|byte| byte.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
    }

    #[test]
    fn nvidia_smi_rows_become_gpus() {
        let gpus = parse_nvidia_smi_csv(&fixture("nvidia-smi-rtx4090.csv"), true);
        assert_eq!(
            gpus,
            [Gpu {
                vendor: "nvidia".into(),
                name: "NVIDIA GeForce RTX 4090".into(),
                driver_version: Some("580.76.05".into()),
                compute_capability: Some("8.9".into()),
                memory_bytes: Some(24564 * MIB),
            }]
        );
        let gpus = parse_nvidia_smi_csv(&fixture("nvidia-smi-two-gpus.csv"), true);
        assert_eq!(gpus.len(), 2);
        assert_eq!(gpus[0].compute_capability.as_deref(), Some("6.1"));
        assert_eq!(gpus[1].name, "Tesla T4");
        let gpus = parse_nvidia_smi_csv(&fixture("nvidia-smi-no-memory.csv"), true);
        assert_eq!(gpus[0].memory_bytes, None);
        assert_eq!(gpus[0].driver_version.as_deref(), Some("550.54.15"));
        // The older query without compute_cap.
        let gpus = parse_nvidia_smi_csv("Quadro P4000, 470.256.02, 8192\n", false);
        assert_eq!(gpus[0].driver_version.as_deref(), Some("470.256.02"));
        assert_eq!(gpus[0].compute_capability, None);
        assert_eq!(gpus[0].memory_bytes, Some(8192 * MIB));
        // A name with a comma, and noise.
        let gpus = parse_nvidia_smi_csv("Odd, Name, 580.1, 9.0, 1\n\ngarbage\n", true);
        assert_eq!(gpus.len(), 1);
        assert_eq!(gpus[0].name, "Odd, Name");
        assert!(parse_nvidia_smi_csv(
            "Field \"compute_cap\" is not a valid field to query.\n",
            true
        )
        .is_empty());
    }

    #[test]
    fn proc_driver_files_give_driver_and_model() {
        assert_eq!(
            parse_proc_driver_version(&fixture("proc-driver-nvidia-version.txt")).as_deref(),
            Some("535.129.03")
        );
        assert_eq!(
            parse_proc_driver_version(&fixture("proc-driver-nvidia-version-open.txt")).as_deref(),
            Some("580.76.05")
        );
        assert_eq!(parse_proc_driver_version("nothing here"), None);
        assert_eq!(
            parse_proc_gpu_information(&fixture("proc-nvidia-gpu-information.txt")).as_deref(),
            Some("NVIDIA GeForce RTX 3080")
        );
    }

    #[test]
    fn linux_files_parse() {
        assert_eq!(
            parse_os_release(&fixture("os-release-debian12.txt")).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(
            parse_os_release("NAME=Alpine\nVERSION_ID=3.20.1\n").as_deref(),
            Some("Alpine 3.20.1")
        );
        assert_eq!(parse_os_release(""), None);
        assert_eq!(
            parse_meminfo(&fixture("meminfo.txt")),
            Some(16318412 * 1024)
        );
        assert_eq!(parse_meminfo("MemFree: 1 kB"), None);
        assert_eq!(
            parse_cpuinfo_model(&fixture("cpuinfo-x86.txt")).as_deref(),
            Some("12th Gen Intel(R) Core(TM) i7-12700K")
        );
        assert_eq!(parse_glibc_version("glibc 2.36\n").as_deref(), Some("2.36"));
        assert_eq!(parse_glibc_version("2.39").as_deref(), Some("2.39"));
        assert_eq!(parse_glibc_version("musl"), None);
    }

    #[test]
    fn macos_tools_parse() {
        assert_eq!(parse_sw_vers("14.5\n").as_deref(), Some("14.5"));
        assert_eq!(parse_sw_vers("15\n").as_deref(), Some("15"));
        assert_eq!(
            parse_sw_vers(&fixture("sw_vers.txt")).as_deref(),
            Some("14.5")
        );
        assert_eq!(parse_sw_vers("sw_vers: not found"), None);
        assert_eq!(parse_sysctl_number("17179869184\n"), Some(17179869184));
        assert_eq!(parse_sysctl_number("1\n"), Some(1));
        assert_eq!(parse_sysctl_number("sysctl: unknown oid"), None);
    }

    #[test]
    fn windows_tools_parse() {
        assert_eq!(
            parse_windows_ver(&fixture("windows-ver.txt")).as_deref(),
            Some("10.0.22631")
        );
        // Localized: the word "Version" is translated, the number is not.
        assert_eq!(
            parse_windows_ver("\r\nMicrosoft Windows [Versión 10.0.19045.3570]\r\n").as_deref(),
            Some("10.0.19045")
        );
        assert_eq!(parse_windows_ver("no brackets"), None);
        assert_eq!(
            parse_windows_registry_version(&fixture("reg-query-currentversion.txt")),
            Some(("10.0.22631".into(), "Windows 11 23H2".into()))
        );
        let windows_10 = "    CurrentBuild    REG_SZ    19045\r\n    CurrentMajorVersionNumber    REG_DWORD    0xa\r\n    CurrentMinorVersionNumber    REG_DWORD    0x0\r\n";
        assert_eq!(
            parse_windows_registry_version(windows_10),
            Some(("10.0.19045".into(), "Windows 10".into()))
        );
        let values = parse_reg_query(&fixture("reg-query-processor.txt"));
        assert_eq!(
            values,
            [(
                "ProcessorNameString".to_owned(),
                "AMD Ryzen 9 7950X 16-Core Processor".to_owned()
            )]
        );
        let values = parse_reg_query(&fixture("reg-query-currentversion.txt"));
        assert!(values.contains(&("RegisteredOrganization".into(), String::new())));
        assert!(values.contains(&("CurrentType".into(), "Multiprocessor Free".into())));
        let arch = parse_reg_query(&fixture("reg-query-arch-arm64.txt"));
        assert_eq!(parse_windows_arch(&arch[0].1), Some(Arch::Aarch64));
        assert_eq!(parse_windows_arch("AMD64"), Some(Arch::X86_64));
        assert_eq!(parse_windows_arch("x86"), None);
    }
}
