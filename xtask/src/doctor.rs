//! `cargo xtask doctor` and the release prerequisites step: what the build needs, what is
//! missing, and the one command that installs it.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Result};
use runtime_spec::Target;

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
        fix: Fix::Manual("install CPython 3.12 (`pyenv install 3.12`, Ubuntu 24.04 `apt-get install python3.12`), or set TOKENIZER_STUDIO_HOST_PYTHON"),
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

/// Prints the checks; fails when something is missing (nothing is changed).
pub fn doctor(target: Target, cache_dir: &Path) -> Result<()> {
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
