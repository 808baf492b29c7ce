//! Code signing of the runtime's native files: Mach-O with apple-codesign (from any host),
//! Windows PE with signtool (Windows hosts) or osslsigncode (elsewhere).

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use runtime_spec::Target;

use crate::assemble::{RuntimeSigner, Unsigned};
use crate::plan::{Channel, Plan, Signing, WindowsCertificate};
use crate::{tools, ui};

/// The signer a release of `plan` uses, from the signing configuration the release plan read
/// (which already refused a release channel without an identity). The dev channel signs macOS
/// ad hoc (so the runtime still loads on Apple silicon) and leaves Windows unsigned.
pub fn signer_for<'a>(plan: &Plan, signing: &'a Signing) -> Result<Box<dyn RuntimeSigner + 'a>> {
    match plan.target {
        Target::LinuxX64 => Ok(Box::new(Unsigned)),
        Target::MacosArm64 => {
            let identity = macos_identity(&signing.apple, plan.channel)?;
            if identity.is_ad_hoc() {
                ui::warn("no Apple signing identity (APPLE_SIGNING_P12_*): signing the macOS runtime ad hoc (dev channel only)");
            }
            Ok(Box::new(MacosSigner {
                identity,
                signing_time: plan.source_date_epoch,
            }))
        }
        Target::WindowsX64 => match &signing.windows {
            Some(certificate) => Ok(Box::new(WindowsSigner {
                identity: WindowsIdentity::new(certificate, &plan.app.descriptor.product_name)?,
            })),
            None if plan.channel == Channel::Dev => {
                ui::info("no Windows signing certificate (WINDOWS_SIGNING_P12_*): the dev runtime is unsigned");
                Ok(Box::new(Unsigned))
            }
            None => bail!(
                "a {} release for Windows needs a code-signing certificate: set {} and {}",
                plan.channel.name(),
                runtime_spec::env::WINDOWS_P12_BASE64,
                runtime_spec::env::WINDOWS_P12_PASSWORD
            ),
        },
    }
}

/// Every Mach-O signed innermost-first with hardened runtime and the CPython entitlements, then
/// verified with our own verifier (the crate's misses forged code directories).
struct MacosSigner<'a> {
    identity: &'a macos_sign::Identity,
    signing_time: u64,
}

impl RuntimeSigner for MacosSigner<'_> {
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
        let report = macos_sign::sign_runtime(staging, self.identity, &options)?;
        let verified = macos_sign::verify_runtime(staging)?;
        verified.ensure_signed_by(self.identity)?;
        ui::info(&format!(
            "signed {} executables and {} libraries in {:.1?}; all verify",
            report.n_executables(),
            report.n_libraries(),
            report.elapsed
        ));
        Ok(())
    }
}

/// The release's Authenticode certificate (decoded once by the release plan), written to a
/// private scratch file for signtool / osslsigncode while this lives.
pub struct WindowsIdentity<'a> {
    _scratch: tempfile::TempDir,
    p12: PathBuf,
    certificate: &'a WindowsCertificate,
    /// The product name Windows shows in the UAC prompt and the signature details.
    description: String,
}

impl<'a> WindowsIdentity<'a> {
    pub fn new(
        certificate: &'a WindowsCertificate,
        description: &str,
    ) -> Result<WindowsIdentity<'a>> {
        let scratch = tempfile::tempdir()?;
        let p12 = scratch.path().join("signing.p12");
        fs_err::write(&p12, certificate.p12.expose())?;
        Ok(WindowsIdentity {
            _scratch: scratch,
            p12,
            certificate,
            description: description.to_owned(),
        })
    }

    /// Signs one PE file or `.msi` in place: signtool on Windows, osslsigncode elsewhere
    /// (into a new file renamed over the old one: staging files are hard links into the
    /// stage caches).
    pub fn sign_in_place(&self, file: &Path) -> Result<()> {
        if cfg!(windows) {
            let command = release_meta::signtool_command(
                file,
                &self.p12,
                Some(self.certificate.password.expose()),
                self.certificate.timestamp_url.as_deref(),
                &self.description,
            );
            let status = std::process::Command::new(&command[0])
                .args(&command[1..])
                .status()
                .context("starting signtool (Windows SDK)")?;
            if !status.success() {
                bail!("signtool failed on {} ({status})", file.display());
            }
            return Ok(());
        }
        tools::require(
            "osslsigncode",
            "install it (Debian/Ubuntu: `apt-get install osslsigncode`)",
        )?;
        let signed = file.with_extension("signed-tmp");
        release_meta::sign_pe_with_osslsigncode(
            file,
            &signed,
            &self.p12,
            None,
            Some(self.certificate.password.expose()),
            self.certificate.timestamp_url.as_deref(),
            &self.description,
        )?;
        fs_err::rename(&signed, file)?;
        Ok(())
    }
}

/// Authenticode over every PE file (`.exe`, `.dll`, `.pyd`).
struct WindowsSigner<'a> {
    identity: WindowsIdentity<'a>,
}

impl RuntimeSigner for WindowsSigner<'_> {
    fn stamp(&self) -> String {
        "windows:p12".into()
    }

    fn sign(&self, staging: &Path) -> Result<()> {
        let files = pe_files(staging)?;
        ui::step(
            "sign",
            &format!("Authenticode over {} PE files", files.len()),
        );
        for file in files {
            self.identity.sign_in_place(&file)?;
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

/// The macOS signing identity of a release: the configured one, or ad hoc on the dev channel.
fn macos_identity(
    identity: &macos_sign::Identity,
    channel: Channel,
) -> Result<&macos_sign::Identity> {
    match identity {
        identity if !identity.is_ad_hoc() || channel == Channel::Dev => Ok(identity),
        _ => bail!(
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
/// carries the signed app, and again after packaging for `.app`-only builds; an app already
/// signed by this identity (by the hook) is left alone, so it is notarized once.
pub fn sign_macos_bundles(
    dir: &Path,
    channel: Channel,
    source_date_epoch: u64,
    signing: &Signing,
) -> Result<()> {
    let identity = macos_identity(&signing.apple, channel)?;
    let options = macos_sign_options(source_date_epoch, signing);
    for app in files_with_extension(dir, "app")? {
        let already_signed = macos_sign::verify_app_bundle(&app)
            .is_ok_and(|report| report.ensure_signed_by(identity).is_ok());
        if already_signed {
            continue;
        }
        ui::step(
            "sign",
            &format!("{} ({})", app.display(), identity.describe()),
        );
        macos_sign::sign_app_bundle(&app, identity, &options)?;
        macos_sign::verify_app_bundle(&app)?.ensure_signed_by(identity)?;
        notarize(&app, channel, signing)?;
    }
    Ok(())
}

/// Signs every `.dmg` in `dir` (after the app inside it was signed and notarized), verifies the
/// signature with our own DMG checks (its code identifier under the app's `identifier`), and notarizes and staples the image when configured.
pub fn sign_macos_disk_images(
    identifier: &str,
    dir: &Path,
    channel: Channel,
    source_date_epoch: u64,
    signing: &Signing,
) -> Result<()> {
    let identity = macos_identity(&signing.apple, channel)?;
    let options = macos_sign::SignOptions {
        identifier_prefix: format!("{identifier}."),
        ..macos_sign_options(source_date_epoch, signing)
    };
    for image in files_with_extension(dir, "dmg")? {
        ui::step(
            "sign",
            &format!("{} ({})", image.display(), identity.describe()),
        );
        macos_sign::sign_dmg(&image, identity, &options)?;
        match macos_sign::verify_dmg(&image)? {
            macos_sign::VerifyOutcome::Signed {
                certificate_sha256, ..
            } if identity
                .signing_identity()
                .is_some_and(|expected| expected.sha256_fingerprint() == certificate_sha256) => {}
            macos_sign::VerifyOutcome::AdHoc { .. } if identity.is_ad_hoc() => {}
            other => bail!(
                "{} does not verify after signing ({other:?}); nothing should touch it between the two steps",
                image.display()
            ),
        }
        notarize(&image, channel, signing)?;
    }
    Ok(())
}

/// Signing options of the installer step: the release's fixed signing time, and the time-stamp
/// server notarization needs when a notary key is configured (a secure timestamp is one of
/// Apple's notarization requirements; it makes those signatures differ run to run).
fn macos_sign_options(source_date_epoch: u64, signing: &Signing) -> macos_sign::SignOptions {
    macos_sign::SignOptions {
        signing_time: Some(UNIX_EPOCH + Duration::from_secs(source_date_epoch)),
        timestamp_url: signing
            .notary
            .is_some()
            .then(|| macos_sign::APPLE_TIMESTAMP_URL.to_owned()),
        ..macos_sign::SignOptions::default()
    }
}

/// Notarizes and staples `path` with rcodesign when the App Store Connect key is configured;
/// otherwise says what a user of a release channel will see.
fn notarize(path: &Path, channel: Channel, signing: &Signing) -> Result<()> {
    let Some(key) = &signing.notary else {
        if channel != Channel::Dev {
            ui::warn(&format!(
                "{} is not notarized (set {}, {} and {} or {}): Gatekeeper will refuse to open it after a download",
                path.display(),
                macos_sign::ENV_API_KEY_ID,
                macos_sign::ENV_API_ISSUER,
                macos_sign::ENV_API_KEY_P8,
                macos_sign::ENV_API_KEY_P8_PATH,
            ));
        }
        return Ok(());
    };
    let scratch = tempfile::tempdir()?;
    for command in key.notarize_commands(path, scratch.path())? {
        ui::step("notarize", &command.to_string());
        let status = std::process::Command::new(&command.program)
            .args(&command.args)
            .status()
            .with_context(|| {
                format!(
                    "running {} (install it with `cargo install apple-codesign --locked` to notarize)",
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
    Ok(())
}

/// The entries of `dir` whose name ends in `.<extension>`, sorted; none when `dir` is missing.
fn files_with_extension(dir: &Path, extension: &str) -> Result<Vec<PathBuf>> {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == extension) {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}
