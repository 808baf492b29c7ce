//! Signs every Mach-O of a runtime folder in place, or a whole `.app` through a staging copy.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use apple_codesign::{
    CodeSignatureFlags, MachOSigner, SettingsScope, SigningSettings, UnifiedSigner,
};
use x509_certificate::KeyInfoSigner;

use crate::bundle;
use crate::detect::{self, FoundMacho, MachoKind};
use crate::{Error, Identity, Result};

/// Entitlements given to every executable in the runtime (the Python interpreter).
///
/// Under the hardened runtime (which notarization requires) CPython needs exactly two
/// exceptions:
/// - `com.apple.security.cs.disable-library-validation`: the interpreter `dlopen`s extension
///   modules (`lib-dynload/*.so`, wheels such as tokenizers and pydantic-core) that we sign
///   with our own Developer ID, not Apple's; library validation would only accept code signed
///   by Apple or by the same team as the process, which a self-signed or ad-hoc dev build is not.
/// - `com.apple.security.cs.allow-unsigned-executable-memory`: `ctypes` (via libffi closures)
///   and cffi-based packages write trampolines into memory they then execute. The narrower
///   `allow-jit` needs `MAP_JIT`, which those libraries do not use.
///
/// Libraries get no entitlements: the kernel only reads them from a process's main executable,
/// and Apple's notarization guidance is to entitle executables only.
pub const PYTHON_RUNTIME_ENTITLEMENTS: &str = include_str!("python-runtime.entitlements");

/// Default prefix of each signed file's code signing identifier (`<prefix><file name>`).
pub const DEFAULT_IDENTIFIER_PREFIX: &str = "dev.tokenizer-studio.runtime.";

/// How to sign.
#[derive(Debug, Clone)]
pub struct SignOptions {
    /// Signing time written into the CMS signature. Fix it (e.g. from `SOURCE_DATE_EPOCH`) for
    /// byte-identical output; that also needs an RSA key, ECDSA signatures are randomised.
    /// `None` uses the current time.
    pub signing_time: Option<SystemTime>,
    /// Prefix of each file's code signing identifier.
    pub identifier_prefix: String,
    /// Entitlements plist (XML) for executables; [`PYTHON_RUNTIME_ENTITLEMENTS`] by default.
    pub executable_entitlements: String,
    /// RFC 3161 time-stamp server. Notarization requires a secure timestamp, so release CI
    /// sets Apple's (`http://timestamp.apple.com/ts01`); `None` signs offline.
    pub timestamp_url: Option<String>,
}

impl Default for SignOptions {
    fn default() -> Self {
        Self {
            signing_time: None,
            identifier_prefix: DEFAULT_IDENTIFIER_PREFIX.to_string(),
            executable_entitlements: PYTHON_RUNTIME_ENTITLEMENTS.to_string(),
            timestamp_url: None,
        }
    }
}

/// What a signing run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SignReport {
    /// [`Identity::describe`] of the identity used.
    pub identity: String,
    /// Whether the signatures are ad-hoc (no certificate).
    pub ad_hoc: bool,
    /// Every signed file, in the order it was signed.
    pub files: Vec<SignedFile>,
    /// Symlinks passed over (their targets are signed under their own names).
    pub n_symlinks_skipped: usize,
    /// Wall time of the whole run.
    pub elapsed: Duration,
}

impl SignReport {
    /// Number of executables signed.
    pub fn n_executables(&self) -> usize {
        self.files
            .iter()
            .filter(|file| file.kind == MachoKind::Executable)
            .count()
    }

    /// Number of libraries and extension modules signed.
    pub fn n_libraries(&self) -> usize {
        self.files
            .iter()
            .filter(|file| file.kind == MachoKind::Library)
            .count()
    }
}

/// One signed file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SignedFile {
    /// Path relative to the signed folder, `/`-separated.
    pub path: String,
    /// Executable or library.
    pub kind: MachoKind,
    /// Code signing identifier written into the code directory.
    pub identifier: String,
    /// Whether the file got the hardened runtime flag.
    pub hardened_runtime: bool,
    /// Whether the file got [`SignOptions::executable_entitlements`].
    pub entitlements: bool,
    /// Size before and after signing, in bytes.
    pub size_before: u64,
    /// Size after signing.
    pub size_after: u64,
}

/// Signs every Mach-O file under `runtime_dir` in place, innermost first (libraries and
/// extension modules before the interpreter), each with the hardened runtime; executables also
/// get [`SignOptions::executable_entitlements`].
///
/// Each file is signed into a temporary file next to it and renamed over the original, so an
/// interrupted run never leaves a half-written binary. Stops at the first file that fails.
pub fn sign_runtime(
    runtime_dir: &Path,
    identity: &Identity,
    options: &SignOptions,
) -> Result<SignReport> {
    let started = Instant::now();
    let scan = detect::scan(runtime_dir)?;
    let base = base_settings(identity, options)?;
    let mut files = Vec::with_capacity(scan.files.len());
    for found in &scan.files {
        files.push(sign_found(found, &base, options)?);
    }
    Ok(SignReport {
        identity: identity.describe(),
        ad_hoc: identity.is_ad_hoc(),
        files,
        n_symlinks_skipped: scan.n_symlinks_skipped,
        elapsed: started.elapsed(),
    })
}

/// Signs one Mach-O file in place, as [`sign_runtime`] would.
pub fn sign_file(path: &Path, identity: &Identity, options: &SignOptions) -> Result<SignedFile> {
    let kind = detect::macho_kind(path)?.ok_or_else(|| Error::NotMachO {
        path: path.to_path_buf(),
    })?;
    let found = FoundMacho {
        path: path.to_path_buf(),
        relative: file_name(path),
        kind,
    };
    sign_found(&found, &base_settings(identity, options)?, options)
}

pub(crate) fn base_settings<'key>(
    identity: &'key Identity,
    options: &SignOptions,
) -> Result<SigningSettings<'key>> {
    let mut settings = SigningSettings::default();
    if let Some(signing_identity) = identity.signing_identity() {
        let key: &dyn KeyInfoSigner = signing_identity.key();
        settings.set_signing_key(key, signing_identity.certificate().clone());
        // Developer ID certificates need Apple's intermediates in the CMS blob for Gatekeeper;
        // a no-op for self-signed test certificates.
        settings.chain_apple_certificates();
        settings.set_team_id_from_signing_certificate();
        if let Some(url) = &options.timestamp_url {
            settings
                .set_time_stamp_url(url.as_str())
                .map_err(|error| Error::InvalidOption {
                    option: "timestamp_url",
                    message: format!("`{url}` is not a usable time-stamp server URL: {error}"),
                })?;
        }
    }
    if let Some(time) = options.signing_time {
        settings.set_signing_time(chrono::DateTime::<chrono::Utc>::from(time));
    }
    Ok(settings)
}

fn sign_found(
    found: &FoundMacho,
    base: &SigningSettings<'_>,
    options: &SignOptions,
) -> Result<SignedFile> {
    let path = &found.path;
    let sign_error = |message: String| Error::Sign {
        path: path.clone(),
        message,
    };
    let data = fs_err::read(path)?;
    let identifier = identifier_for(&options.identifier_prefix, path);
    let with_entitlements = found.kind == MachoKind::Executable;
    let mut settings = base.clone();
    settings.set_binary_identifier(SettingsScope::Main, &identifier);
    // Setting the flags explicitly also drops the `linker-signed`/`adhoc` flags that
    // import_settings_from_macho would otherwise carry over from the wheel's linker signature.
    settings.set_code_signature_flags(SettingsScope::Main, CodeSignatureFlags::RUNTIME);
    if with_entitlements {
        settings
            .set_entitlements_xml(SettingsScope::Main, &options.executable_entitlements)
            .map_err(|error| sign_error(format!("invalid entitlements plist: {error}")))?;
    }
    settings
        .import_settings_from_macho(&data)
        .map_err(|error| sign_error(error.to_string()))?;
    let signer = MachOSigner::new(&data).map_err(|error| sign_error(error.to_string()))?;
    let mut signed = Vec::with_capacity(data.len() + 64 * 1024);
    signer
        .write_signed_binary(&settings, &mut signed)
        .map_err(|error| sign_error(error.to_string()))?;
    replace_file(path, &signed)?;
    Ok(SignedFile {
        path: found.relative.clone(),
        kind: found.kind,
        identifier,
        hardened_runtime: true,
        entitlements: with_entitlements,
        size_before: data.len() as u64,
        size_after: signed.len() as u64,
    })
}

/// Writes `contents` to a temporary file beside `path`, gives it `path`'s permissions and
/// renames it over `path`.
fn replace_file(path: &Path, contents: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let parent = path.parent().unwrap_or(Path::new("."));
    let permissions = fs_err::metadata(path)?.permissions();
    let mut temporary = tempfile::Builder::new()
        .prefix(".macos-sign-")
        .tempfile_in(parent)
        .map_err(|error| {
            std::io::Error::new(
                error.kind(),
                format!(
                    "cannot create a temporary file in {}: {error}",
                    parent.display()
                ),
            )
        })?;
    temporary
        .write_all(contents)
        .and_then(|()| temporary.as_file().sync_all())
        .map_err(|error| {
            std::io::Error::new(
                error.kind(),
                format!("cannot write {}: {error}", temporary.path().display()),
            )
        })?;
    fs_err::set_permissions(temporary.path(), permissions)?;
    temporary.persist(path).map_err(|error| {
        std::io::Error::new(
            error.error.kind(),
            format!("cannot replace {}: {}", path.display(), error.error),
        )
    })?;
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `<prefix><file name>`, with characters outside Apple's identifier alphabet replaced by `-`.
pub(crate) fn identifier_for(prefix: &str, path: &Path) -> String {
    let name: String = file_name(path)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{prefix}{name}")
}

/// Signs a macOS `.app` folder: every nested Mach-O (the embedded runtime under
/// `Contents/Resources/`) with the hardened runtime and per-path settings, then the main
/// executable last, with the bundle's `CodeResources` sealing it all.
///
/// apple-codesign applies `Main`-scope flags and entitlements to the main executable only, so
/// each nested file gets its own `SettingsScope::Path`. Signing into a separate output folder
/// leaves stale `CodeResources` entries, so the bundle is copied to a staging folder beside it,
/// signed there in place, and swapped in; `app_dir` is untouched if signing fails.
pub fn sign_app_bundle(
    app_dir: &Path,
    identity: &Identity,
    options: &SignOptions,
) -> Result<SignReport> {
    let started = Instant::now();
    let info = bundle::read_bundle_info(app_dir)?;
    let main_executable = info.main_executable.clone();
    let bundle_name = app_dir.file_name().ok_or_else(|| Error::NotAppBundle {
        path: app_dir.to_path_buf(),
        message: "the path has no folder name".to_string(),
    })?;
    let parent = app_dir.parent().unwrap_or(Path::new("."));
    let staging = tempfile::Builder::new()
        .prefix(".macos-sign-staging-")
        .tempdir_in(parent)
        .map_err(|error| {
            std::io::Error::new(
                error.kind(),
                format!(
                    "cannot create a staging folder in {}: {error}",
                    parent.display()
                ),
            )
        })?;
    let staged_app = staging.path().join(bundle_name);
    copy_tree(app_dir, &staged_app)?;

    let scan = detect::scan(&staged_app)?;
    let mut settings = base_settings(identity, options)?;
    settings.set_code_signature_flags(SettingsScope::Main, CodeSignatureFlags::RUNTIME);
    exclude_lookalikes(&staged_app, &mut settings)?;
    let mut files = vec![];
    for found in scan
        .files
        .iter()
        .filter(|found| found.relative != main_executable)
    {
        let scope = SettingsScope::Path(found.relative.clone());
        let identifier = identifier_for(&options.identifier_prefix, &found.path);
        settings.set_binary_identifier(scope.clone(), &identifier);
        settings.set_code_signature_flags(scope.clone(), CodeSignatureFlags::RUNTIME);
        let with_entitlements = found.kind == MachoKind::Executable;
        if with_entitlements {
            settings
                .set_entitlements_xml(scope, &options.executable_entitlements)
                .map_err(|error| Error::Sign {
                    path: found.path.clone(),
                    message: format!("invalid entitlements plist: {error}"),
                })?;
        }
        files.push(SignedFile {
            path: found.relative.clone(),
            kind: found.kind,
            identifier,
            hardened_runtime: true,
            entitlements: with_entitlements,
            size_before: fs_err::metadata(&found.path)?.len(),
            size_after: 0,
        });
    }
    UnifiedSigner::new(settings)
        .sign_path_in_place(&staged_app)
        .map_err(|error| Error::Sign {
            path: app_dir.to_path_buf(),
            message: error.to_string(),
        })?;
    files.push(SignedFile {
        path: main_executable.clone(),
        kind: MachoKind::Executable,
        // apple-codesign takes the main executable's identifier from CFBundleIdentifier.
        identifier: info.identifier.clone().unwrap_or_default(),
        hardened_runtime: true,
        entitlements: false,
        size_before: fs_err::metadata(app_dir.join(&main_executable))?.len(),
        size_after: 0,
    });
    for file in &mut files {
        file.size_after = fs_err::metadata(staged_app.join(&file.path))?.len();
    }

    // Swap: the old bundle moves into the staging folder, which is deleted on drop.
    let old_app = staging.path().join(".old.app");
    fs_err::rename(app_dir, &old_app)?;
    if let Err(error) = fs_err::rename(&staged_app, app_dir) {
        // Put the original back so a failed swap leaves the caller where it started.
        let _ = fs_err::rename(&old_app, app_dir);
        return Err(error.into());
    }
    Ok(SignReport {
        identity: identity.describe(),
        ad_hoc: identity.is_ad_hoc(),
        files,
        n_symlinks_skipped: scan.n_symlinks_skipped,
        elapsed: started.elapsed(),
    })
}

/// apple-codesign's bundle walker takes any file starting with `cafebabe` for a universal
/// binary (Java class files, which the runtime may ship in data packages) and fails on it, and
/// would try to sign object files. Path exclusions make it seal those as plain resources.
fn exclude_lookalikes(bundle: &Path, settings: &mut SigningSettings<'_>) -> Result<()> {
    for entry in walkdir::WalkDir::new(bundle).follow_links(false) {
        let entry = entry.map_err(|error| {
            std::io::Error::other(format!("cannot walk {}: {error}", bundle.display()))
        })?;
        if !entry.file_type().is_file() || detect::macho_kind(entry.path())?.is_some() {
            continue;
        }
        let looks_like_macho = apple_codesign::path_is_macho(entry.path()).unwrap_or(true);
        if !looks_like_macho {
            continue;
        }
        let relative = entry
            .path()
            .strip_prefix(bundle)
            .expect("walkdir yields paths under its root")
            .components()
            .map(|component| component.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        settings
            .add_path_exclusion(&glob_escape(&relative))
            .map_err(|error| Error::Sign {
                path: entry.path().to_path_buf(),
                message: format!("cannot exclude it from signing: {error}"),
            })?;
    }
    Ok(())
}

/// Escapes glob metacharacters the way `glob::Pattern::escape` does (`[x]`).
fn glob_escape(path: &str) -> String {
    path.chars()
        .map(|c| match c {
            '?' | '*' | '[' | ']' => format!("[{c}]"),
            c => c.to_string(),
        })
        .collect()
}

/// Copies a folder tree, keeping symlinks as symlinks and file permissions.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    for entry in walkdir::WalkDir::new(from).follow_links(false) {
        let entry = entry.map_err(|error| {
            std::io::Error::other(format!("cannot walk {}: {error}", from.display()))
        })?;
        let relative = entry
            .path()
            .strip_prefix(from)
            .expect("walkdir yields paths under its root");
        let destination = to.join(relative);
        let file_type = entry.file_type();
        if file_type.is_dir() {
            fs_err::create_dir_all(&destination)?;
        } else if file_type.is_symlink() {
            // A symlink must stay one: CodeResources seals it as a link, not as its target.
            #[cfg(unix)]
            fs_err::os::unix::fs::symlink(fs_err::read_link(entry.path())?, &destination)?;
            #[cfg(not(unix))]
            fs_err::copy(entry.path(), &destination).map(drop)?;
        } else {
            fs_err::copy(entry.path(), &destination)?;
        }
    }
    Ok(())
}
