//! `cargo xtask lock [--check]`: hashed locks of the engine's dependencies, one per runtime
//! variant (`docs/decisions/0004-uv-target-install.md`,
//! `docs/decisions/0018-torch-profile-variants.md`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use runtime_spec::{Profile, Target, Variant};
use sha2::{Digest, Sha256};

use crate::plan::App;
use crate::{tools, ui};

/// Minimum macOS for wheel selection of the base profile, pinned so every lock resolves the
/// same way on any host.
pub const MACOSX_DEPLOYMENT_TARGET: &str = "13.0";
/// The torch profile's: torch >= 2.12 ships `macosx_14_0_arm64` wheels only.
pub const MACOSX_DEPLOYMENT_TARGET_TORCH: &str = "14.0";
const PYTHON_VERSION: &str = "3.12";
const HEADER_KEY: &str = "# inputs-sha256: ";

/// The `MACOSX_DEPLOYMENT_TARGET` a variant is locked and installed with (`None` off macOS).
pub fn deployment_target(variant: Variant) -> Option<&'static str> {
    match (variant.target, variant.profile) {
        (Target::MacosArm64, Profile::Base) => Some(MACOSX_DEPLOYMENT_TARGET),
        (Target::MacosArm64, Profile::Torch) => Some(MACOSX_DEPLOYMENT_TARGET_TORCH),
        _ => None,
    }
}

fn pyproject(api_dir: &Path) -> Result<(PathBuf, toml::Value)> {
    let path = api_dir.join("pyproject.toml");
    let text = fs_err::read_to_string(&path)?;
    let value = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok((path, value))
}

fn strings(value: Option<&toml::Value>, path: &Path, what: &str) -> Result<Vec<String>> {
    value
        .and_then(|list| list.as_array())
        .with_context(|| format!("{} has no {what} list", path.display()))?
        .iter()
        .map(|dependency| dependency.as_str().map(str::to_owned))
        .collect::<Option<Vec<_>>>()
        .with_context(|| format!("{}: every entry of {what} must be a string", path.display()))
}

/// The runtime dependencies declared in the app's `api/pyproject.toml` (the base
/// profile).
pub fn declared_dependencies(api_dir: &Path) -> Result<Vec<String>> {
    let (path, value) = pyproject(api_dir)?;
    strings(
        value
            .get("project")
            .and_then(|project| project.get("dependencies")),
        &path,
        "[project] dependencies",
    )
}

/// What a profile locks: the declared dependencies, plus for the torch profile the `torch`
/// optional dependency group (as `extra:<entry>`, so moving an entry between the two lists
/// changes the inputs hash).
pub fn profile_requirements(api_dir: &Path, profile: Profile) -> Result<Vec<String>> {
    let mut requirements = declared_dependencies(api_dir)?;
    if profile != Profile::Base {
        let (path, value) = pyproject(api_dir)?;
        let group = strings(
            value
                .get("project")
                .and_then(|project| project.get("optional-dependencies"))
                .and_then(|groups| groups.get(profile.name())),
            &path,
            &format!("[project.optional-dependencies] {}", profile.name()),
        )?;
        requirements.extend(group.into_iter().map(|entry| format!("extra:{entry}")));
    }
    Ok(requirements)
}

/// sha256 over everything that decides a lock's content, written into its header so a stale
/// lock is detected offline: uv version, triple, Python, flags, deployment target, the
/// profile's requirements, and whether an extra index was used (never its URL). A base
/// variant hashes exactly as the per-target locks did before profiles existed.
pub fn inputs_sha256(requirements: &[String], variant: Variant, extra_index: bool) -> String {
    let mut inputs = format!(
        "uv={}\ntarget={}\npython={PYTHON_VERSION}\nflags=--only-binary :all: --generate-hashes\n",
        tools::UV_VERSION,
        variant.target.triple()
    );
    if let Some(deployment_target) = deployment_target(variant) {
        inputs.push_str(&format!("macosx_deployment_target={deployment_target}\n"));
    }
    if variant.profile != Profile::Base {
        inputs.push_str(&format!(
            "profile={}\naccelerator={}\n",
            variant.profile, variant.accelerator
        ));
    }
    if extra_index {
        inputs.push_str("extra_index=configured\n");
    }
    for requirement in requirements {
        inputs.push_str(&format!("dependency={requirement}\n"));
    }
    hex::encode(Sha256::digest(inputs.as_bytes()))
}

/// The lock file of an app's variant (`apps/<id>/lockfiles/linux-x64.txt`,
/// `…/linux-x64-torch-cuda.txt`).
pub fn lock_path(app: &App, variant: Variant) -> PathBuf {
    app.lock_dir().join(format!("{variant}.txt"))
}

/// The variants an app has locks for: those of the profiles its descriptor names.
pub fn app_variants(app: &App) -> impl Iterator<Item = Variant> + '_ {
    Variant::ALL
        .into_iter()
        .filter(|variant| app.descriptor.profiles.contains(&variant.profile))
}

/// What `cargo xtask lock` is asked to do.
pub struct LockOptions<'a> {
    pub app: &'a App,
    pub cache_dir: &'a Path,
    /// Only these variants (empty: every variant that can be locked here).
    pub only: Vec<Variant>,
    /// The extra index of each variant that needs one (from `--extra-index` and the plan's
    /// variables).
    pub extra_indexes: BTreeMap<Variant, String>,
}

/// Regenerates the locks with the pinned uv: every default-index variant, and each
/// extra-index variant whose index is configured (the others are named and left alone).
pub fn lock(options: &LockOptions<'_>) -> Result<()> {
    let uv = tools::uv(options.cache_dir)?;
    for variant in &options.only {
        if variant.needs_extra_index() && !options.extra_indexes.contains_key(variant) {
            bail!(
                "{variant} needs an extra package index: pass --extra-index {variant}=<url> or set {}",
                crate::plan::extra_index_var(*variant).unwrap_or("its variable")
            );
        }
    }
    for variant in &options.only {
        if !options.app.descriptor.profiles.contains(&variant.profile) {
            bail!(
                "{variant} is a {} variant, and {} has no {} profile (its app.toml's `profiles`)",
                variant.profile,
                options.app.names.id,
                variant.profile
            );
        }
    }
    for variant in app_variants(options.app) {
        if !options.only.is_empty() && !options.only.contains(&variant) {
            continue;
        }
        let extra_index = options.extra_indexes.get(&variant);
        if variant.needs_extra_index() && extra_index.is_none() {
            ui::info(&format!(
                "{variant}: skipped (its wheels are on another package index; configure it with --extra-index {variant}=<url> or {})",
                crate::plan::extra_index_var(variant).unwrap_or("its variable")
            ));
            continue;
        }
        lock_one(&uv, options, variant, extra_index.map(String::as_str))?;
    }
    Ok(())
}

fn lock_one(
    uv: &Path,
    options: &LockOptions<'_>,
    variant: Variant,
    extra_index: Option<&str>,
) -> Result<()> {
    let requirements = profile_requirements(&options.app.api_dir(), variant.profile)?;
    let target = variant.target;
    ui::step(
        "lock",
        &format!(
            "{variant}: resolving {} requirements{}",
            requirements.len(),
            if extra_index.is_some() {
                " (with its extra index)"
            } else {
                ""
            }
        ),
    );
    let mut command = std::process::Command::new(uv);
    command
        .current_dir(options.app.api_dir())
        .args(["pip", "compile", "pyproject.toml"]);
    if variant.profile != Profile::Base {
        command.args(["--extra", variant.profile.name()]);
    }
    if let Some(url) = extra_index {
        // uv searches `--extra-index-url` before the default index, and with its default
        // `first-index` strategy takes every version of a package from the first index that
        // has it: torch comes from the extra index, the rest from wherever it is found first.
        command.args(["--extra-index-url", url]);
    }
    command
        .args(["--python-version", PYTHON_VERSION, "--python-platform"])
        .arg(target.triple())
        .args([
            "--only-binary",
            ":all:",
            "--generate-hashes",
            "--no-header",
            "--quiet",
        ])
        .env("UV_CACHE_DIR", options.cache_dir.join("uv"))
        .env_remove("MACOSX_DEPLOYMENT_TARGET");
    if let Some(deployment_target) = deployment_target(variant) {
        command.env("MACOSX_DEPLOYMENT_TARGET", deployment_target);
    }
    let output = command
        .output()
        .with_context(|| format!("running {}", uv.display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stderr = match extra_index {
            Some(url) => stderr.replace(url, "<extra index>"),
            None => stderr.into_owned(),
        };
        let (package, reason) = unresolved(&stderr);
        bail!(
            "uv could not resolve the {variant} lock ({target}, {}{}): package `{}`: {reason}\n\nuv said:\n{stderr}\nfix the dependency list in {} (the `{}` group for this profile) or the variant's index",
            target.triple(),
            deployment_target(variant)
                .map(|deployment| format!(", MACOSX_DEPLOYMENT_TARGET={deployment}"))
                .unwrap_or_default(),
            package.as_deref().unwrap_or("unknown"),
            options.app.api_dir().join("pyproject.toml").display(),
            variant.profile,
        );
    }
    let body = String::from_utf8(output.stdout).context("uv printed non-UTF-8 requirements")?;
    if body.contains("://") {
        bail!("uv wrote a URL into the {variant} lock; locks carry names, versions and hashes only, so they work with whatever index the user configured");
    }
    let header = format!(
        "# Generated by `cargo xtask lock` (uv {}): do not edit. {variant} ({}{}), CPython {PYTHON_VERSION}{}.\n{HEADER_KEY}{}\n",
        tools::UV_VERSION,
        target.triple(),
        deployment_target(variant)
            .map(|deployment| format!(", macOS {deployment}"))
            .unwrap_or_default(),
        if extra_index.is_some() {
            ", with an extra package index"
        } else {
            ""
        },
        inputs_sha256(&requirements, variant, extra_index.is_some())
    );
    let path = lock_path(options.app, variant);
    fs_err::create_dir_all(path.parent().expect("lock has a folder"))?;
    fs_err::write(&path, format!("{header}{body}"))?;
    ui::info(&format!(
        "wrote {} ({} packages)",
        path.display(),
        count_packages(&body)
    ));
    Ok(())
}

/// The package uv could not resolve and its reason, from uv's stderr: uv explains a failed
/// resolution as `Because <package>… , we can conclude that …`.
pub fn unresolved(stderr: &str) -> (Option<String>, String) {
    let because = stderr
        .lines()
        .map(|line| line.trim_start_matches(|c: char| !c.is_ascii_alphanumeric()))
        // uv prefixes the explanation with `╰─▶ ` on a terminal and `cause: ` otherwise.
        .map(|line| line.strip_prefix("cause: ").unwrap_or(line))
        .find(|line| line.starts_with("Because "));
    let reason_line = because
        .map(str::to_owned)
        .or_else(|| {
            stderr
                .lines()
                .map(str::trim)
                .find(|line| !line.is_empty())
                .map(|line| line.trim_start_matches(['×', 'x', ' ']).to_owned())
        })
        .unwrap_or_else(|| "uv gave no reason".to_owned());
    let package = because.and_then(|line| {
        let mut rest = line.strip_prefix("Because ")?;
        for prefix in [
            "there is no version of ",
            "there are no versions of ",
            "only the following versions of ",
            "all versions of ",
            "only ",
            "no versions of ",
        ] {
            if let Some(stripped) = rest.strip_prefix(prefix) {
                rest = stripped;
                break;
            }
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        (!name.is_empty()).then_some(name)
    });
    (package, reason_line)
}

/// Fails when a lock is missing (every default-index variant must have one), stale, or carries
/// a URL; an extra-index variant's lock is checked when it exists. Offline.
pub fn check(app: &App) -> Result<()> {
    let mut problems = Vec::new();
    let mut checked = Vec::new();
    for variant in app_variants(app) {
        if variant.needs_extra_index() && !lock_path(app, variant).is_file() {
            continue;
        }
        match check_variant(app, variant) {
            Ok(()) => checked.push(variant.name()),
            Err(error) => problems.push(format!("{error:#}")),
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    ui::step(
        "lock",
        &format!(
            "all locks of {} are fresh ({})",
            app.names.id,
            checked.join(", ")
        ),
    );
    Ok(())
}

/// Checks one variant's lock against the pyproject (an extra-index variant's lock must say it
/// was made with one).
pub fn check_variant(app: &App, variant: Variant) -> Result<()> {
    let requirements = profile_requirements(&app.api_dir(), variant.profile)?;
    check_lock(
        &lock_path(app, variant),
        &inputs_sha256(&requirements, variant, variant.needs_extra_index()),
        &variant.name(),
    )
}

fn check_lock(path: &Path, expected: &str, name: &str) -> Result<()> {
    let text = fs_err::read_to_string(path)
        .with_context(|| format!("the {name} lock is missing: run `cargo xtask lock`"))?;
    let recorded = text.lines().find_map(|line| line.strip_prefix(HEADER_KEY));
    if recorded != Some(expected) {
        bail!(
            "{} is stale: its inputs hash is {} but the declared dependencies and tool pins hash to {expected}; \
             run `cargo xtask lock` and commit the result",
            path.display(),
            recorded.unwrap_or("missing")
        );
    }
    if text.contains("://") {
        bail!(
            "{} contains a URL: regenerate it with `cargo xtask lock`",
            path.display()
        );
    }
    Ok(())
}

/// Number of pinned packages (`name==version` lines).
pub fn count_packages(lock_text: &str) -> usize {
    lock_text
        .lines()
        .filter(|line| !line.starts_with([' ', '#']) && line.contains("=="))
        .count()
}

/// The version pinned for `package` (`name==version` line), if any.
pub fn pinned_version<'a>(lock_text: &'a str, package: &str) -> Option<&'a str> {
    lock_text.lines().find_map(|line| {
        let (name, rest) = line.split_once("==")?;
        (name.trim() == package).then(|| rest.split_whitespace().next().unwrap_or(rest))
    })
}

/// The CUDA `major.minor` a CUDA variant's lock was resolved for: from the pinned
/// `cuda-toolkit` (torch's own pin), else the CUDA runtime package.
pub fn cuda_version(lock_text: &str) -> Option<String> {
    [
        "cuda-toolkit",
        "nvidia-cuda-runtime",
        "nvidia-cuda-runtime-cu13",
        "nvidia-cuda-runtime-cu12",
    ]
    .into_iter()
    .find_map(|package| pinned_version(lock_text, package))
    .and_then(|version| {
        let mut parts = version.split('.');
        let (major, minor) = (parts.next()?, parts.next()?);
        (major.parse::<u32>().is_ok() && minor.parse::<u32>().is_ok())
            .then(|| format!("{major}.{minor}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use runtime_spec::Accelerator;

    #[test]
    fn the_cuda_version_comes_from_the_pinned_toolkit() {
        let lock = "cuda-bindings==13.5.0 \\\n    --hash=sha256:00\ncuda-toolkit==13.2.2 \\\n    --hash=sha256:11\nnvidia-cuda-runtime==13.2.86 \\\n";
        assert_eq!(cuda_version(lock).as_deref(), Some("13.2"));
        assert_eq!(
            cuda_version("nvidia-cuda-runtime-cu12==12.8.90 \\\n").as_deref(),
            Some("12.8")
        );
        assert_eq!(cuda_version("torch==2.15.0 \\\n"), None);
        assert_eq!(pinned_version(lock, "cuda-bindings"), Some("13.5.0"));
    }

    #[test]
    fn uv_failures_name_the_package() {
        let stderr = "  × No solution found when resolving dependencies:\n  ╰─▶ Because torch==2.15.0 has no wheels with a matching platform tag (e.g., `macosx_13_0_arm64`) and you require torch>=2.12, we can conclude that your requirements are unsatisfiable.\n";
        let (package, reason) = unresolved(stderr);
        assert_eq!(package.as_deref(), Some("torch"));
        assert!(
            reason.contains("no wheels with a matching platform tag"),
            "{reason}"
        );
        let (package, _) = unresolved("  ╰─▶ Because there is no version of torch>=100 and you require torch>=100, we can conclude that your requirements are unsatisfiable.");
        assert_eq!(package.as_deref(), Some("torch"));
        let (package, _) = unresolved("  ╰─▶ Because only torch<=99.0.0 is available and you require torch>=100, we can conclude …");
        assert_eq!(package.as_deref(), Some("torch"));
        let (package, _) = unresolved("error: No solution found when resolving dependencies\n  cause: Because only torch==99.0.0 is available and tokenizer-studio-api depends on torch>=100, we can conclude that your requirements are unsatisfiable.\n");
        assert_eq!(package.as_deref(), Some("torch"));
        let (package, reason) = unresolved("error: Failed to fetch something\n");
        assert_eq!(package, None);
        assert_eq!(reason, "error: Failed to fetch something");
    }

    #[test]
    fn base_inputs_hash_as_before_and_torch_inputs_differ() {
        let requirements = vec!["tokenizers>=0.20".to_owned()];
        let base = Variant::base(Target::LinuxX64);
        let cuda = Variant::new(Target::LinuxX64, Profile::Torch, Accelerator::Cuda);
        let cpu = Variant::new(Target::LinuxX64, Profile::Torch, Accelerator::Cpu);
        let all: Vec<String> = [
            inputs_sha256(&requirements, base, false),
            inputs_sha256(&requirements, cuda, false),
            inputs_sha256(&requirements, cpu, true),
            inputs_sha256(&requirements, cpu, false),
        ]
        .into();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(
            deployment_target(Variant::new(
                Target::MacosArm64,
                Profile::Torch,
                Accelerator::Mps
            )),
            Some("14.0")
        );
        assert_eq!(
            deployment_target(Variant::base(Target::MacosArm64)),
            Some("13.0")
        );
    }
}
