//! `cargo xtask doctor` and the release prerequisites step: what the build needs, what is
//! missing, and the one command that installs it; and what this machine is and which runtime
//! variant the shell would choose for it (the `compute` crate).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Result};
use compute::{Candidate, DevicePreference, Preference, Probe};
use runtime_spec::{Profile, Target};

use crate::{tools, ui};

/// How a missing requirement gets fixed.
#[derive(Debug, Clone)]
pub enum Fix {
    /// Debian/Ubuntu packages.
    Apt(&'static [&'static str]),
    /// The xtask bootstraps it itself (uv).
    Bootstrap,
    /// Something the user installs; the text says how.
    Manual(&'static str),
}

/// One checked prerequisite.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub found: Option<String>,
    pub fix: Fix,
}

/// Minimum Node.js for the web build (Vite 8).
const MIN_NODE: (u32, u32) = (20, 19);

/// Every prerequisite of `cargo xtask release --target <target>` on this host.
pub fn checks(target: Target, cache_dir: &Path) -> Vec<Check> {
    let mut checks = Vec::new();
    let builds_shell = Some(target) == Target::host();
    if cfg!(target_os = "linux") && builds_shell {
        checks.push(Check {
            name: "C compiler (cc)",
            found: tools::find_on_path("cc").map(display),
            fix: Fix::Apt(&["build-essential"]),
        });
        checks.push(Check {
            name: "pkg-config",
            found: tools::find_on_path("pkg-config").map(display),
            fix: Fix::Apt(&["pkg-config"]),
        });
        let libraries: [(&'static str, &'static [&'static str]); 5] = [
            ("webkit2gtk-4.1", &["libwebkit2gtk-4.1-dev"]),
            ("gtk+-3.0", &["libgtk-3-dev"]),
            ("librsvg-2.0", &["librsvg2-dev"]),
            (
                "ayatana-appindicator3-0.1",
                &["libayatana-appindicator3-dev"],
            ),
            ("openssl", &["libssl-dev"]),
        ];
        for (module, packages) in libraries {
            checks.push(Check {
                name: module,
                found: pkg_config_version(module),
                fix: Fix::Apt(packages),
            });
        }
    }
    if cfg!(target_os = "linux") && target == Target::LinuxX64 {
        checks.push(Check {
            name: "patchelf",
            found: tools::find_on_path("patchelf").map(display),
            fix: Fix::Apt(&["patchelf"]),
        });
    }
    checks.push(Check {
        name: "node >= 20.19 + npm",
        found: node_version()
            .filter(|version| version_at_least(version, MIN_NODE))
            .filter(|_| tools::find_on_path("npm").is_some()),
        fix: Fix::Manual(
            "install Node.js 20.19+ with npm (NodeSource packages, nvm, or your OS's nodejs 20+)",
        ),
    });
    checks.push(Check {
        name: "CPython 3.12",
        found: tools::host_python312().ok().map(display),
        fix: Fix::Manual("install CPython 3.12 (`pyenv install 3.12`, Ubuntu 24.04 `apt-get install python3.12`), or set XTASK_HOST_PYTHON"),
    });
    let cached_uv = cache_dir
        .join("tools")
        .join(format!("uv-{}", tools::UV_VERSION))
        .join(tools::exe_name("uv"));
    checks.push(Check {
        name: "uv (pinned)",
        found: cached_uv
            .is_file()
            .then(|| display(cached_uv.clone()))
            .or_else(|| crate::plan::var(runtime_spec::env::UV)),
        fix: Fix::Bootstrap,
    });
    checks
}

/// Prints the machine and the checks; fails when something is missing (nothing is changed).
pub fn doctor(target: Target, cache_dir: &Path) -> Result<()> {
    print_machine(cache_dir);
    println!();
    let checks = checks(target, cache_dir);
    for check in &checks {
        match &check.found {
            Some(found) => println!("  ok       {:<28} {found}", check.name),
            None => println!("  MISSING  {:<28} {}", check.name, describe_fix(&check.fix)),
        }
    }
    let apt = missing_apt_packages(&checks);
    if !apt.is_empty() {
        println!(
            "\n  install the system packages with:\n    sudo apt-get install -y {}",
            apt.join(" ")
        );
    }
    let blocking = checks
        .iter()
        .filter(|check| check.found.is_none() && !matches!(check.fix, Fix::Bootstrap))
        .count();
    if blocking > 0 {
        bail!("{blocking} prerequisite(s) missing for {target}; see above");
    }
    println!("\n  everything `cargo xtask release --target {target}` needs is here");
    Ok(())
}

/// The release prerequisites step: installs missing Debian packages when running as root
/// (otherwise prints the one command to run), bootstraps uv, and stops on anything else.
pub fn ensure(target: Target, cache_dir: &Path) -> Result<()> {
    let checks = checks(target, cache_dir);
    let apt = missing_apt_packages(&checks);
    if !apt.is_empty() {
        if is_root() && tools::find_on_path("apt-get").is_some() {
            ui::step(
                "prerequisites",
                &format!("apt-get install {}", apt.join(" ")),
            );
            run_apt(&["update", "-qq"])?;
            let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
            args.extend(apt.iter().map(String::as_str));
            run_apt(&args)?;
        } else {
            bail!("missing system packages; run:\n    sudo apt-get install -y {}\nthen run this command again", apt.join(" "));
        }
    }
    for check in checks.iter().filter(|check| check.found.is_none()) {
        match check.fix {
            Fix::Apt(_) => {}
            Fix::Bootstrap => {
                tools::uv(cache_dir)?;
            }
            Fix::Manual(hint) => bail!("{} is missing: {hint}", check.name),
        }
    }
    Ok(())
}

/// The probe (or the default app's `<PREFIX>_PROBE_FIXTURE`'s) and what the shell would choose for each
/// profile among every variant this project builds. Free disk is measured where the xtask
/// caches its downloads (or the nearest folder above it that exists).
fn print_machine(cache_dir: &Path) {
    // The variable of the app the toolchain builds by default: the shell of that app reads it.
    let fixture = crate::plan::var_os(&crate::bench::app().var(runtime_spec::env::PROBE_FIXTURE))
        .map(PathBuf::from);
    match compute::probe_with_fixture(fixture.as_deref(), cache_dir) {
        Ok(probe) => {
            for line in machine_lines(&probe, cache_dir, fixture.as_deref()) {
                println!("{line}");
            }
        }
        Err(error) => println!("  MISSING  {:<28} {error}", "machine probe"),
    }
}

/// One line per fact of the probe, then one per profile with the choice and its notes.
fn machine_lines(probe: &Probe, disk_at: &Path, fixture: Option<&Path>) -> Vec<String> {
    let line = |label: &str, text: String| format!("  {label:<8} {text}");
    let mut lines = Vec::new();
    if let Some(fixture) = fixture {
        lines.push(line(
            "machine",
            format!("from {} (not probed)", fixture.display()),
        ));
    }
    let version = match (probe.os.kind, probe.os.version.as_str()) {
        (_, "") => "version unknown".to_owned(),
        (compute::OsKind::Linux, version) => format!("glibc {version}"),
        (_, version) => version.to_owned(),
    };
    lines.push(line(
        "os",
        format!("{} ({}, {version})", probe.os.name, probe.os.kind.name()),
    ));
    lines.push(line(
        "cpu",
        format!(
            "{}, {}, {} cores, {}",
            if probe.cpu.name.is_empty() {
                "unknown CPU"
            } else {
                &probe.cpu.name
            },
            probe.cpu.level,
            probe.cpu.cores,
            probe.arch.name()
        ),
    ));
    lines.push(line("ram", compute::human_bytes(probe.ram_bytes)));
    lines.push(line(
        "disk",
        match probe.free_disk_bytes {
            // A fixture's free space is not measured at any folder here.
            Some(free) if fixture.is_some() => format!("{} free", compute::human_bytes(free)),
            Some(free) => format!(
                "{} free at {}",
                compute::human_bytes(free),
                disk_at.display()
            ),
            None => format!("free space unknown at {}", disk_at.display()),
        },
    ));
    if probe.gpus.is_empty() {
        lines.push(line("gpu", "none".to_owned()));
    }
    for gpu in &probe.gpus {
        let mut text = format!("{} ({})", gpu.name, gpu.vendor);
        if let Some(driver) = &gpu.driver_version {
            text.push_str(&format!(", driver {driver}"));
        }
        if let Some(capability) = &gpu.compute_capability {
            text.push_str(&format!(", compute capability {capability}"));
        }
        if let Some(memory) = gpu.memory_bytes {
            text.push_str(&format!(", {}", compute::human_bytes(memory)));
        }
        lines.push(line("gpu", text));
    }
    lines.push(line(
        "emulated",
        match (probe.emulated, probe.os.kind) {
            (false, _) => "no".to_owned(),
            (true, compute::OsKind::Macos) => "yes (Rosetta)".to_owned(),
            (true, _) => "yes (x64 emulation)".to_owned(),
        },
    ));
    let candidates = Candidate::known();
    for profile in Profile::ALL {
        let preference = Preference {
            profile,
            device: DevicePreference::Auto,
        };
        match compute::choose(probe, &candidates, &preference) {
            Ok(choice) => {
                lines.push(line(
                    profile.name(),
                    format!("{} on {}: {}", choice.variant, choice.device, choice.reason),
                ));
                for note in &choice.notes {
                    lines.push(line("", note.clone()));
                }
            }
            Err(refusal) => lines.push(line(profile.name(), format!("refused: {refusal}"))),
        }
    }
    lines
}

fn run_apt(args: &[&str]) -> Result<()> {
    let status = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()?;
    if !status.success() {
        bail!("apt-get {} failed ({status})", args.join(" "));
    }
    Ok(())
}

fn missing_apt_packages(checks: &[Check]) -> Vec<String> {
    let mut packages: Vec<String> = checks
        .iter()
        .filter(|check| check.found.is_none())
        .filter_map(|check| match check.fix {
            Fix::Apt(packages) => Some(packages.iter().map(|package| package.to_string())),
            _ => None,
        })
        .flatten()
        .collect();
    packages.sort();
    packages.dedup();
    packages
}

fn describe_fix(fix: &Fix) -> String {
    match fix {
        Fix::Apt(packages) => format!("apt-get install {}", packages.join(" ")),
        Fix::Bootstrap => "bootstrapped automatically by the xtask".into(),
        Fix::Manual(hint) => (*hint).into(),
    }
}

fn pkg_config_version(module: &str) -> Option<String> {
    let output = Command::new("pkg-config")
        .args(["--modversion", module])
        .output()
        .ok()?;
    output.status.success().then(|| {
        format!(
            "{module} {}",
            String::from_utf8_lossy(&output.stdout).trim()
        )
    })
}

fn node_version() -> Option<String> {
    let output = Command::new(tools::find_on_path("node")?)
        .arg("--version")
        .output()
        .ok()?;
    Some(
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .trim_start_matches('v')
            .to_owned(),
    )
}

fn version_at_least(version: &str, (major, minor): (u32, u32)) -> bool {
    let mut parts = version
        .split('.')
        .map(|part| part.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found >= (major, minor)
}

fn display(path: impl AsRef<Path>) -> String {
    path.as_ref().display().to_string()
}

#[cfg(unix)]
fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

#[cfg(not(unix))]
fn is_root() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_versions_compare() {
        for (version, ok) in [
            ("20.19.0", true),
            ("20.20.2", true),
            ("22.1.0", true),
            ("20.18.9", false),
            ("18.19.0", false),
            ("", false),
        ] {
            assert_eq!(version_at_least(version, MIN_NODE), ok, "{version}");
        }
    }

    #[test]
    fn machine_lines_show_the_probe_and_each_profiles_choice() {
        let probe: Probe = serde_json::from_value(serde_json::json!({
            "os": {"kind": "linux", "version": "2.36", "name": "Debian GNU/Linux 12 (bookworm)"},
            "arch": "x86_64",
            "emulated": false,
            "cpu": {"name": "Test CPU", "level": "x86-64-v3", "cores": 8},
            "ram_bytes": 17_179_869_184_u64,
            "free_disk_bytes": 107_374_182_400_u64,
            "gpus": [{"vendor": "nvidia", "name": "NVIDIA GeForce RTX 4090",
                      "driver_version": "580.76.05", "compute_capability": "8.9",
                      "memory_bytes": 25_769_803_776_u64}],
            "apple_silicon": false
        }))
        .unwrap();
        let lines = machine_lines(&probe, Path::new("/cache"), None).join("\n");
        for expected in [
            "  os       Debian GNU/Linux 12 (bookworm) (linux, glibc 2.36)",
            "  cpu      Test CPU, x86-64-v3, 8 cores, x86_64",
            "  ram      16 GB",
            "  disk     100 GB free at /cache",
            "  gpu      NVIDIA GeForce RTX 4090 (nvidia), driver 580.76.05, compute capability 8.9, 24 GB",
            "  emulated no",
            "  base     linux-x64 on cpu: The base engine runs on the CPU",
            "  torch    linux-x64-torch-cuda on cuda: NVIDIA GeForce RTX 4090 with driver 580.76.05",
        ] {
            assert!(lines.contains(expected), "{expected:?} is missing from:\n{lines}");
        }
    }

    #[test]
    fn missing_apt_packages_are_deduplicated_and_sorted() {
        let checks = vec![
            Check {
                name: "a",
                found: None,
                fix: Fix::Apt(&["zstd", "patchelf"]),
            },
            Check {
                name: "b",
                found: None,
                fix: Fix::Apt(&["patchelf"]),
            },
            Check {
                name: "c",
                found: Some("x".into()),
                fix: Fix::Apt(&["libssl-dev"]),
            },
            Check {
                name: "d",
                found: None,
                fix: Fix::Bootstrap,
            },
        ];
        assert_eq!(missing_apt_packages(&checks), ["patchelf", "zstd"]);
    }
}
