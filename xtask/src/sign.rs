//! Code signing of the runtime's native files: Mach-O with apple-codesign (from any host),
//! Windows PE with signtool (Windows hosts) or osslsigncode (elsewhere).

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use runtime_spec::Target;

use crate::assemble::{RuntimeSigner, Unsigned};
use crate::plan::{Channel, Plan};
use crate::{tools, ui};

/// Windows code-signing certificate (base64 of a `.p12`) and its password, from CI secrets.
pub const WINDOWS_P12_BASE64_ENV: &str = "WINDOWS_SIGNING_P12_BASE64";
pub const WINDOWS_P12_PASSWORD_ENV: &str = "WINDOWS_SIGNING_P12_PASSWORD";

/// The signer a release of `plan` uses. Release channels must sign; the dev channel signs
/// macOS ad hoc (so the runtime still loads on Apple silicon) and leaves Windows unsigned.
pub fn signer_for(plan: &Plan) -> Result<Box<dyn RuntimeSigner>> {
    match plan.target {
        Target::LinuxX64 => Ok(Box::new(Unsigned)),
        Target::MacosArm64 => {
            let identity = macos_identity(plan.channel)?;
            if identity.is_ad_hoc() {
                ui::warn("no Apple signing identity (APPLE_SIGNING_P12_*): signing the macOS runtime ad hoc (dev channel only)");
            }
            Ok(Box::new(MacosSigner {
                identity,
                signing_time: plan.source_date_epoch,
            }))
        }
        Target::WindowsX64 => {
            let p12 = std::env::var(WINDOWS_P12_BASE64_ENV)
                .ok()
                .filter(|value| !value.is_empty());
            match p12 {
                Some(p12) => Ok(Box::new(WindowsSigner {
                    p12_base64: p12,
                    password: std::env::var(WINDOWS_P12_PASSWORD_ENV).unwrap_or_default(),
                })),
                None if plan.channel == Channel::Dev => {
                    ui::info("no Windows signing certificate (WINDOWS_SIGNING_P12_*): the dev runtime is unsigned");
                    Ok(Box::new(Unsigned))
                }
                None => bail!(
                    "a {} release for Windows needs a code-signing certificate: set {WINDOWS_P12_BASE64_ENV} and {WINDOWS_P12_PASSWORD_ENV}",
                    plan.channel.name()
                ),
            }
        }
    }
}

/// Every Mach-O signed innermost-first with hardened runtime and the CPython entitlements, then
/// verified with our own verifier (the crate's misses forged code directories).
struct MacosSigner {
    identity: macos_sign::Identity,
    signing_time: u64,
}

impl RuntimeSigner for MacosSigner {
    fn stamp(&self) -> String {
        format!("macos:{}:{}", self.identity.describe(), self.signing_time)
    }

    fn sign(&self, staging: &Path) -> Result<()> {
        ui::step(
            "sign",
            &format!("Mach-O files ({})", self.identity.describe()),
        );
        let options = macos_sign::SignOptions {
            // A fixed signing time keeps RSA signatures reproducible.
            signing_time: Some(UNIX_EPOCH + Duration::from_secs(self.signing_time)),
            ..macos_sign::SignOptions::default()
        };
        let report = macos_sign::sign_runtime(staging, &self.identity, &options)?;
        let verified = macos_sign::verify_runtime(staging)?;
        verified.ensure_signed_by(&self.identity)?;
        ui::info(&format!(
            "signed {} executables and {} libraries in {:.1?}; all verify",
            report.n_executables(),
            report.n_libraries(),
            report.elapsed
        ));
        Ok(())
    }
}

/// Authenticode over every PE file (`.exe`, `.dll`, `.pyd`).
struct WindowsSigner {
    p12_base64: String,
    password: String,
}

impl RuntimeSigner for WindowsSigner {
    fn stamp(&self) -> String {
        "windows:p12".into()
    }

    fn sign(&self, staging: &Path) -> Result<()> {
        use base64::Engine;
        let scratch = tempfile::tempdir()?;
        let p12 = scratch.path().join("signing.p12");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(self.p12_base64.trim())
            .with_context(|| format!("{WINDOWS_P12_BASE64_ENV} is not valid base64"))?;
        fs_err::write(&p12, bytes)?;
        let files = pe_files(staging)?;
        ui::step(
            "sign",
            &format!("Authenticode over {} PE files", files.len()),
        );
        for file in files {
            let signed = file.with_extension("signed-tmp");
            if cfg!(windows) {
                let command =
                    release_meta::signtool_command(&file, &p12, Some(&self.password), None);
                let status = std::process::Command::new(&command[0])
                    .args(&command[1..])
                    .status()?;
                if !status.success() {
                    bail!("signtool failed on {} ({status})", file.display());
                }
                continue;
            }
            tools::require(
                "osslsigncode",
                "install it (Debian/Ubuntu: `apt-get install osslsigncode`)",
            )?;
            release_meta::sign_pe_with_osslsigncode(
                &file,
                &signed,
                &p12,
                None,
                Some(&self.password),
                None,
            )?;
            // Replace rather than edit: staging files are hard links into the stage caches.
            fs_err::rename(&signed, &file)?;
        }
        Ok(())
    }
}

fn pe_files(root: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_ascii_lowercase();
        if entry.file_type().is_file()
            && [".exe", ".dll", ".pyd"]
                .iter()
                .any(|ext| name.ends_with(ext))
        {
            let mut head = [0u8; 2];
            let is_pe =
                std::io::Read::read_exact(&mut fs_err::File::open(entry.path())?, &mut head)
                    .is_ok()
                    && &head == b"MZ";
            if is_pe {
                files.push(entry.into_path());
            }
        }
    }
    Ok(files)
}

/// The macOS signing identity of a release: from the environment, or ad hoc on the dev channel.
fn macos_identity(channel: Channel) -> Result<macos_sign::Identity> {
    match macos_sign::Identity::from_env()? {
        Some(identity) => Ok(identity),
        None if channel == Channel::Dev => Ok(macos_sign::Identity::AdHoc),
        None => bail!(
            "a {} release for macOS needs a signing identity: set {} (or {}) and {}",
            channel.name(),
            macos_sign::ENV_P12_BASE64,
            macos_sign::ENV_P12_PATH,
            macos_sign::ENV_P12_PASSWORD
        ),
    }
}

/// Signs every `.app` in `dir` (nested Mach-O first, main executable last), verifies it with our
/// own verifier, and notarizes it when App Store Connect API key variables are set (CI only).
/// Runs on macOS hosts as cargo-packager's hook before the `.dmg` is made, so the image
/// carries the signed app, and again after packaging for `.app`-only builds.
pub fn sign_macos_bundles(dir: &Path, channel: Channel, source_date_epoch: u64) -> Result<()> {
    let identity = macos_identity(channel)?;
    let options = macos_sign::SignOptions {
        signing_time: Some(UNIX_EPOCH + Duration::from_secs(source_date_epoch)),
        ..macos_sign::SignOptions::default()
    };
    let Ok(entries) = fs_err::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let app = entry?.path();
        if app.extension().is_none_or(|ext| ext != "app") {
            continue;
        }
        ui::step(
            "sign",
            &format!("{} ({})", app.display(), identity.describe()),
        );
        macos_sign::sign_app_bundle(&app, &identity, &options)?;
        macos_sign::verify_app_bundle(&app)?.ensure_signed_by(&identity)?;
        if let Some(key) = macos_sign::NotaryApiKey::from_env() {
            let scratch = tempfile::tempdir()?;
            for command in key.notarize_commands(&app, &scratch.path().join("api-key.json")) {
                let status = std::process::Command::new(&command.program)
                    .args(&command.args)
                    .status()
                    .with_context(|| {
                        format!(
                            "running {} (install rcodesign to notarize)",
                            command.program
                        )
                    })?;
                if !status.success() {
                    bail!(
                        "notarization step `{} {}` failed ({status})",
                        command.program,
                        command.args.join(" ")
                    );
                }
            }
        }
    }
    Ok(())
}
