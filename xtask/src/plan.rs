//! The build plan: every target, version, path and output name, resolved once up front, and
//! for `cargo xtask release` the [`ReleasePlan`]: the whole release configuration (keys,
//! signing identities, release URL, channel, bundle, formats) gathered from the command line
//! and the environment by one function, checked, and then obeyed by `release`, `package` and
//! `sign`, which never read the environment themselves.
//!
//! Every read of the process environment by the xtask is in this module ([`var`], [`var_os`]):
//! the names are rows of `runtime_spec::env`'s table, so the README lists all of them.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use runtime_spec::pins::PythonPins;
use runtime_spec::{layout, Accelerator, Profile, Target, Variant, Version};

/// Release channel (the contract's); release channels refuse a local (non-portable) Python.
pub use runtime_spec::Channel;

/// `--channel`: one of the contract's channel names (listed in `--help`).
pub fn channel_arg() -> impl clap::builder::TypedValueParser<Value = Channel> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(Channel::NAMES).map(|name| {
        name.parse::<Channel>()
            .expect("a listed channel name parses")
    })
}

/// Where the embedded CPython comes from.
#[derive(Debug, Clone)]
pub enum PythonChoice {
    /// The pinned python-build-standalone archive (through the mirror when one is set). On a
    /// network failure, dev builds for the host target may pack a local CPython 3.12 instead.
    Pinned {
        url: String,
        sha256: String,
        local_fallback: bool,
    },
    /// `--python-archive` + `--python-sha256`.
    Override { location: String, sha256: String },
}

/// Everything a runtime build reads; stages never recompute any of it.
#[derive(Debug, Clone)]
pub struct Plan {
    pub root: PathBuf,
    /// The app the runtime is for.
    pub app: App,
    pub target: Target,
    /// `target` × profile × accelerator: names the lock, the build tree, the folder and the
    /// archive.
    pub variant: Variant,
    pub channel: Channel,
    pub version: Version,
    pub source_date_epoch: u64,
    pub python: PythonChoice,
    pub python_version: String,
    pub python_build: String,
    pub lock_file: PathBuf,
    /// The variant's extra package index (only variants that need one; from its variable).
    pub extra_index: Option<String>,
    pub api_dir: PathBuf,
    pub web_dir: PathBuf,
    /// Persistent per-target work tree under `target/` (incremental stages and stamps).
    pub build_dir: PathBuf,
    /// Content-addressed download cache and tool cache; survives `cargo clean`.
    pub cache_dir: PathBuf,
    pub out_dir: PathBuf,
    /// `<dist or --out-dir>/<version>/`: the release folder, published as it is at the release
    /// URL. Every app of the workspace releases into it (the default app at its top, another
    /// into `<id>/`), and its `objects/` is the store they share.
    pub release_site: PathBuf,
    pub runtime_dir: PathBuf,
    pub archive: PathBuf,
    pub zstd_level: i32,
}

/// Inputs of a plan, from the command line.
#[derive(Clone, Copy)]
pub struct PlanInput<'a> {
    /// `--app`: `None` for the default app.
    pub app: Option<&'a str>,
    pub target: Option<Target>,
    pub profile: Profile,
    /// `None`: the profile's accelerator on the default package index.
    pub accelerator: Option<Accelerator>,
    pub channel: Channel,
    pub python_archive: Option<&'a str>,
    pub python_sha256: Option<&'a str>,
    pub out_dir: Option<&'a Path>,
    pub zstd_level: Option<i32>,
}

/// Default zstd level of the runtime archive (see ARCHITECTURE.md "Compression").
pub const DEFAULT_ZSTD_LEVEL: i32 = 9;
/// zstd worker threads: fixed, because multithreaded output differs from single-threaded
/// output (but not between machines), and the archive must be reproducible. One thread packs
/// the Linux runtime 1 % smaller (the long-distance window reaches across the workers' jobs
/// only through their overlap) but takes twice as long on 2 cores, and the CUDA runtime is 16
/// times its size (ARCHITECTURE.md "Compression").
pub const ZSTD_WORKERS: u32 = 2;

impl Plan {
    pub fn new(input: PlanInput<'_>) -> Result<Plan> {
        Plan::from_lookup(input, &var)
    }

    /// [`Plan::new`] over any variable source (tests).
    pub fn from_lookup(input: PlanInput<'_>, lookup: &Lookup) -> Result<Plan> {
        let root = project_root_from(lookup);
        let app = App::load(&root, input.app)?;
        let target = match input.target {
            Some(target) => target,
            None => Target::host().context(
                "this host is not a release target (macos-arm64, windows-x64, linux-x64): pass --target",
            )?,
        };
        let variant = Variant::parse(target, input.profile, input.accelerator)?;
        let extra_index = match extra_index_var(variant) {
            Some(name) => Some(lookup(name).with_context(|| {
                format!("the {variant} runtime's wheels are on another package index than the default one: set {name} to it")
            })?),
            None => None,
        };
        let pins = PythonPins::builtin();
        let python = match (input.python_archive, input.python_sha256) {
            (Some(location), Some(sha256)) => {
                let Ok(sha256) = runtime_spec::Sha256::parse(sha256) else {
                    bail!("--python-sha256 must be 64 hex digits, got `{sha256}`");
                };
                PythonChoice::Override {
                    location: location.to_owned(),
                    sha256: sha256.to_hex(),
                }
            }
            (Some(_), None) | (None, Some(_)) => {
                bail!("--python-archive and --python-sha256 go together: an archive is only used with its checksum")
            }
            (None, None) => {
                let base = lookup(runtime_spec::env::PYTHON_MIRROR)
                    .unwrap_or_else(|| pins.base_url.clone());
                PythonChoice::Pinned {
                    url: pins.url(&base, target)?,
                    sha256: pins.pin(target)?.sha256.clone(),
                    local_fallback: input.channel == Channel::Dev && Some(target) == Target::host(),
                }
            }
        };
        let version = workspace_version();
        let (out_dir, release_site) = match input.out_dir {
            Some(dir) => (absolute(dir)?, absolute(dir)?.join(version.to_string())),
            None => (
                app.subdir(&root.join("dist")),
                root.join("dist").join(version.to_string()),
            ),
        };
        Ok(Plan {
            target,
            channel: input.channel,
            source_date_epoch: source_date_epoch_from(&root, lookup),
            python,
            python_version: pins.python_version.clone(),
            python_build: pins.release.clone(),
            lock_file: app.lock_dir().join(format!("{variant}.txt")),
            extra_index,
            api_dir: app.api_dir(),
            web_dir: app.web_dir(),
            build_dir: app
                .subdir(&root.join("target").join("runtime-build"))
                .join(variant.name()),
            cache_dir: cache_dir_from(lookup)?,
            runtime_dir: out_dir.join(format!("runtime-{variant}")),
            archive: out_dir.join(layout::archive_name(
                &app.names.archive_stem(),
                &version,
                variant,
            )),
            app,
            variant,
            out_dir,
            release_site,
            zstd_level: input.zstd_level.unwrap_or(DEFAULT_ZSTD_LEVEL),
            version,
            root,
        })
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "app:               {} ({})",
            self.app.descriptor.product_name, self.app.names.id
        )?;
        writeln!(
            f,
            "target:            {} ({})",
            self.target,
            self.target.triple()
        )?;
        writeln!(f, "channel:           {}", self.channel.name())?;
        writeln!(f, "runtime version:   {}", self.version)?;
        writeln!(f, "SOURCE_DATE_EPOCH: {}", self.source_date_epoch)?;
        match &self.python {
            PythonChoice::Pinned {
                url,
                sha256,
                local_fallback,
            } => {
                writeln!(
                    f,
                    "python:            CPython {} (PBS {})",
                    self.python_version, self.python_build
                )?;
                writeln!(f, "  url:             {url}")?;
                writeln!(f, "  sha256:          {sha256}")?;
                writeln!(
                    f,
                    "  local fallback:  {}",
                    if *local_fallback {
                        "allowed (dev, host target)"
                    } else {
                        "no"
                    }
                )?;
            }
            PythonChoice::Override { location, sha256 } => {
                writeln!(f, "python:            override archive {location}")?;
                writeln!(f, "  sha256:          {sha256}")?;
            }
        }
        writeln!(f, "variant:           {}", self.variant)?;
        writeln!(f, "lock:              {}", self.lock_file.display())?;
        if self.extra_index.is_some() {
            // Only whether: an index URL may carry credentials.
            writeln!(f, "extra index:       set")?;
        }
        writeln!(f, "site-packages:     {}", self.target.site_packages())?;
        writeln!(f, "build dir:         {}", self.build_dir.display())?;
        writeln!(f, "cache dir:         {}", self.cache_dir.display())?;
        writeln!(f, "output dir:        {}", self.out_dir.display())?;
        writeln!(f, "runtime dir:       {}", self.runtime_dir.display())?;
        writeln!(
            f,
            "archive:           {} (zstd level {})",
            self.archive.display(),
            self.zstd_level
        )
    }
}

/// The variable that configures a variant's extra package index (`None` for the variants the
/// default index builds).
pub fn extra_index_var(variant: Variant) -> Option<&'static str> {
    use runtime_spec::env::{EXTRA_INDEX_LINUX_X64_TORCH_CPU, EXTRA_INDEX_WINDOWS_X64_TORCH_CUDA};
    if !variant.needs_extra_index() {
        return None;
    }
    Some(match (variant.target, variant.accelerator) {
        (Target::LinuxX64, Accelerator::Cpu) => EXTRA_INDEX_LINUX_X64_TORCH_CPU,
        (Target::WindowsX64, Accelerator::Cuda) => EXTRA_INDEX_WINDOWS_X64_TORCH_CUDA,
        _ => unreachable!(
            "{variant} needs an extra index but has no variable: add a row to runtime_spec::env"
        ),
    })
}

/// The extra indexes configured through the variables (`--extra-index` flags are added on top).
pub fn configured_extra_indexes(lookup: &Lookup) -> std::collections::BTreeMap<Variant, String> {
    Variant::ALL
        .into_iter()
        .filter_map(|variant| Some((variant, lookup(extra_index_var(variant)?)?)))
        .collect()
}

/// The variants to build for `target` and `profiles`: every one the default index builds, and
/// each extra-index one whose index is configured (`cargo xtask release --profile base,torch`
/// builds a plan per variant, `PlanInput { profile, accelerator: Some(..) }`).
pub fn variants_to_build(target: Target, profiles: &[Profile], lookup: &Lookup) -> Vec<Variant> {
    Variant::ALL
        .into_iter()
        .filter(|variant| variant.target == target && profiles.contains(&variant.profile))
        .filter(|variant| extra_index_var(*variant).is_none_or(|name| lookup(name).is_some()))
        .collect()
}

/// One app of the workspace: its descriptor (`apps/<id>/app.toml`) and its folder. The
/// toolchain names no app: every app-specific name, path and text comes from here.
#[derive(Debug, Clone)]
pub struct App {
    pub descriptor: runtime_spec::AppDescriptor,
    /// `apps/<id>/`: the descriptor's relative paths start here.
    pub dir: PathBuf,
    /// The names the app goes by at run time.
    pub names: runtime_spec::AppNames,
    /// The workspace's default app keeps the workspace's top-level output folders (`dist/`,
    /// `target/runtime-build/`); another app's go one folder down, under its id.
    pub is_default: bool,
}

/// Where the apps live, relative to the workspace root.
pub const APPS_DIR: &str = "apps";
/// Where the shared engine packages (`engine.shared`) live, relative to the workspace root.
pub const ENGINEKIT_DIR: &str = "enginekit";

impl App {
    /// `--app <id>`, or with `None` the default: the only app, else the one the workspace
    /// names (`[workspace.metadata.apps] default` in the root Cargo.toml).
    pub fn load(root: &Path, id: Option<&str>) -> Result<App> {
        let ids = App::ids(root)?;
        let default = App::default_id(root, &ids)?;
        let id = id.unwrap_or(&default);
        if !ids.iter().any(|known| known == id) {
            bail!(
                "there is no app `{id}`: the apps are {} (folders of {APPS_DIR}/ with an app.toml)",
                ids.join(", ")
            );
        }
        let dir = root.join(APPS_DIR).join(id);
        let file = dir.join(runtime_spec::app::APP_FILE);
        let text = fs_err::read_to_string(&file)?;
        let descriptor = runtime_spec::AppDescriptor::parse(&text, &file.display().to_string())?;
        if descriptor.id != id {
            bail!(
                "{}: `id` is `{}` but the folder is `{id}`: they must be the same",
                file.display(),
                descriptor.id
            );
        }
        let names = descriptor.names();
        Ok(App {
            descriptor,
            dir,
            names,
            is_default: id == default,
        })
    }

    /// Every app of the workspace, the default first.
    pub fn all(root: &Path) -> Result<Vec<App>> {
        let mut apps = App::ids(root)?
            .iter()
            .map(|id| App::load(root, Some(id)))
            .collect::<Result<Vec<_>>>()?;
        apps.sort_by_key(|app| !app.is_default);
        Ok(apps)
    }

    /// The ids of the apps: the folders of `apps/` that hold an `app.toml`, sorted.
    pub fn ids(root: &Path) -> Result<Vec<String>> {
        let apps_dir = root.join(APPS_DIR);
        let mut ids = Vec::new();
        for entry in fs_err::read_dir(&apps_dir)? {
            let entry = entry?;
            if entry.path().join(runtime_spec::app::APP_FILE).is_file() {
                ids.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        ids.sort();
        if ids.is_empty() {
            bail!(
                "{} holds no app (a folder with an app.toml)",
                apps_dir.display()
            );
        }
        Ok(ids)
    }

    fn default_id(root: &Path, ids: &[String]) -> Result<String> {
        if let [only] = ids {
            return Ok(only.clone());
        }
        let manifest_path = root.join("Cargo.toml");
        let manifest: toml::Value = toml::from_str(&fs_err::read_to_string(&manifest_path)?)
            .with_context(|| format!("parsing {}", manifest_path.display()))?;
        manifest
            .get("workspace")
            .and_then(|workspace| workspace.get("metadata"))
            .and_then(|metadata| metadata.get("apps"))
            .and_then(|apps| apps.get("default"))
            .and_then(|default| default.as_str())
            .map(str::to_owned)
            .with_context(|| {
                format!(
                    "{} has several apps ({}): name the default one as `[workspace.metadata.apps] default` in {}, or pass --app",
                    APPS_DIR,
                    ids.join(", "),
                    manifest_path.display()
                )
            })
    }

    /// The engine's Python project (`pyproject.toml`, its tests).
    pub fn api_dir(&self) -> PathBuf {
        self.dir.join(&self.descriptor.engine.project)
    }

    /// The web project.
    pub fn web_dir(&self) -> PathBuf {
        self.dir.join(&self.descriptor.web.project)
    }

    /// Whether the web UI is built (`package.json`) or served as it is.
    pub fn web_has_build(&self) -> bool {
        self.web_dir().join("package.json").is_file()
    }

    /// The app's hashed locks, one per runtime variant.
    pub fn lock_dir(&self) -> PathBuf {
        self.dir.join("lockfiles")
    }

    /// The engine packages the runtime carries, by name, with their source folders: the app's
    /// own, then the shared ones it names.
    pub fn packages(&self, root: &Path) -> Vec<(String, PathBuf)> {
        let own = self.descriptor.engine.packages.iter().map(|path| {
            (
                runtime_spec::app::package_name(path).to_owned(),
                self.dir.join(path),
            )
        });
        let shared = self
            .descriptor
            .engine
            .shared
            .iter()
            .map(|name| (name.clone(), root.join(ENGINEKIT_DIR).join(name)));
        own.chain(shared).collect()
    }

    /// The app's own release in the release folder `site`: `site` itself for the default app,
    /// `site/<id>` for another (where the release URL's `<id>/` is published from).
    pub fn release_dir(&self, site: &Path) -> PathBuf {
        site.join(layout::app_release_folder(&self.names.id, self.is_default))
    }

    /// `base` for the default app, `base/<id>` for another.
    pub fn subdir(&self, base: &Path) -> PathBuf {
        if self.is_default {
            base.to_path_buf()
        } else {
            base.join(&self.names.id)
        }
    }
}

/// The workspace version: every runtime and installer this xtask builds carries it.
pub fn workspace_version() -> Version {
    Version::parse(env!("CARGO_PKG_VERSION"))
        .expect("Cargo checks that a package version is semver")
}

/// The repository root: the parent of `xtask/`, or `XTASK_PROJECT_ROOT` (tests build other
/// checkouts of the same commit with one xtask binary).
pub fn project_root() -> PathBuf {
    project_root_from(&var)
}

fn project_root_from(lookup: &Lookup) -> PathBuf {
    if let Some(root) = lookup(runtime_spec::env::XTASK_PROJECT_ROOT) {
        return PathBuf::from(root);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// `XTASK_CACHE_DIR`, else `$XDG_CACHE_HOME` or `~/.cache`, `/desktop-xtask`.
pub fn cache_dir() -> Result<PathBuf> {
    cache_dir_from(&var)
}

fn cache_dir_from(lookup: &Lookup) -> Result<PathBuf> {
    if let Some(dir) = lookup(runtime_spec::env::CACHE_DIR) {
        return absolute(Path::new(&dir));
    }
    let base = match lookup("XDG_CACHE_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home = lookup("HOME")
                .or_else(|| lookup("USERPROFILE"))
                .context("neither HOME nor XTASK_CACHE_DIR is set: set one")?;
            PathBuf::from(home).join(".cache")
        }
    };
    Ok(base.join("desktop-xtask"))
}

/// `SOURCE_DATE_EPOCH`, else the last commit's time, else 0: every timestamp in a build comes
/// from here, so the same commit gives the same bytes.
pub(crate) fn source_date_epoch(root: &Path) -> u64 {
    source_date_epoch_from(root, &var)
}

fn source_date_epoch_from(root: &Path, lookup: &Lookup) -> u64 {
    if let Some(epoch) =
        lookup(runtime_spec::env::SOURCE_DATE_EPOCH).and_then(|value| value.trim().parse().ok())
    {
        return epoch;
    }
    std::process::Command::new("git")
        .args(["log", "-1", "--format=%ct"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8_lossy(&output.stdout).trim().parse().ok())
        .unwrap_or(0)
}

fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    Ok(std::env::current_dir()
        .context("reading the current directory")?
        .join(path))
}

/// A source of environment variables: the process environment ([`var`]) or a test's map.
/// `None` for unset and empty alike (CI passes an unset secret as an empty variable).
pub type Lookup = dyn Fn(&str) -> Option<String>;

/// A variable of the process environment, `None` when unset or empty. The name must be a row of
/// `runtime_spec::env`'s table (checked in debug builds, which the xtask always is).
pub fn var(name: &str) -> Option<String> {
    var_os(name).map(|value| value.to_string_lossy().into_owned())
}

/// [`var`] for values that may not be UTF-8 (paths, `PATH`).
pub fn var_os(name: &str) -> Option<OsString> {
    debug_assert!(
        runtime_spec::env::is_listed(name),
        "{name} is read but not listed in runtime-spec/src/env.rs"
    );
    std::env::var_os(name).filter(|value| !value.is_empty())
}

/// A value that must never be printed: `Debug` and `Display` say `<redacted>`; the value is
/// reached only through [`Secret::expose`] where it is used.
#[derive(Clone)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Secret<T> {
        Secret(value)
    }

    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `set` or `unset`, how the plan shows a secret.
fn set_or_unset<T>(value: &Option<T>) -> &'static str {
    if value.is_some() {
        "set"
    } else {
        "unset"
    }
}

/// The minisign key pair that signs the release index and the shell's installers.
#[derive(Debug)]
pub enum IndexKey {
    /// From the environment (the CI secret): required on release channels.
    Configured {
        secret: Secret<String>,
        password: Option<Secret<String>>,
        public: runtime_spec::PublicKey,
    },
    /// The unencrypted dev key under `target/dev-minisign/`, made on first use (dev channel
    /// without a configured key; never committed).
    DevLocal { dir: PathBuf },
}

/// The Authenticode certificate of a Windows release, decoded once.
pub struct WindowsCertificate {
    pub p12: Secret<Vec<u8>>,
    pub password: Secret<String>,
    /// An RFC 3161 time-stamp server: a timestamped signature outlives the certificate.
    pub timestamp_url: Option<String>,
}

impl fmt::Debug for WindowsCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WindowsCertificate")
            .field("p12", &"<redacted>")
            .field("timestamp_url", &self.timestamp_url)
            .finish()
    }
}

/// The platform signing configuration of one target, read once.
#[derive(Debug)]
pub struct Signing {
    /// macOS: the Developer ID identity, or ad hoc when none is configured (dev channel only).
    pub apple: macos_sign::Identity,
    /// macOS: the App Store Connect key; `None` skips notarization.
    pub notary: Option<macos_sign::NotaryApiKey>,
    /// Windows: the Authenticode certificate; `None` leaves the dev build unsigned.
    pub windows: Option<WindowsCertificate>,
}

impl Default for Signing {
    fn default() -> Signing {
        Signing {
            apple: macos_sign::Identity::AdHoc,
            notary: None,
            windows: None,
        }
    }
}

impl Signing {
    /// What `target` needs, from the process environment.
    pub fn from_env(target: Target) -> Result<Signing> {
        Signing::from_lookup(target, &var)
    }

    /// Only the variables of `target`'s platform are read: a Linux job is not stopped by an
    /// Apple secret it never uses.
    pub fn from_lookup(target: Target, lookup: &Lookup) -> Result<Signing> {
        use runtime_spec::env;
        let mut signing = Signing::default();
        match target {
            Target::LinuxX64 => {}
            Target::MacosArm64 => {
                if let Some(identity) = macos_sign::Identity::from_env_lookup(lookup)? {
                    signing.apple = identity;
                }
                signing.notary = macos_sign::NotaryApiKey::from_env_lookup(lookup);
            }
            Target::WindowsX64 => {
                if let Some(p12_base64) = lookup(env::WINDOWS_P12_BASE64) {
                    use base64::Engine;
                    // Secrets pasted into CI settings often carry line breaks.
                    let compact: String = p12_base64.split_whitespace().collect();
                    let p12 = base64::engine::general_purpose::STANDARD
                        .decode(compact)
                        .with_context(|| {
                            format!("{} is not valid base64", env::WINDOWS_P12_BASE64)
                        })?;
                    signing.windows = Some(WindowsCertificate {
                        p12: Secret::new(p12),
                        password: Secret::new(
                            lookup(env::WINDOWS_P12_PASSWORD).unwrap_or_default(),
                        ),
                        timestamp_url: lookup(env::WINDOWS_TIMESTAMP_URL),
                    });
                }
            }
        }
        Ok(signing)
    }
}

/// The password of the minisign secret key (`keygen` encrypts a new key with it).
pub fn minisign_password() -> Option<Secret<String>> {
    var(runtime_spec::env::MINISIGN_PASSWORD).map(Secret::new)
}

/// The index signing key and its password, for `cargo xtask index merge`.
pub fn index_signing_key() -> Result<(Secret<String>, Option<Secret<String>>)> {
    use runtime_spec::env::{MINISIGN_KEY, MINISIGN_PASSWORD};
    let secret = var(MINISIGN_KEY).with_context(|| {
        format!("set {MINISIGN_KEY} (and {MINISIGN_PASSWORD} if the key is encrypted) to sign the merged index")
    })?;
    Ok((Secret::new(secret), minisign_password()))
}

/// What a release is asked for on the command line.
pub struct ReleaseInput<'a> {
    pub build: PlanInput<'a>,
    /// The profiles whose variants go into the release; base is always among them (the full
    /// installer carries it, and every machine that runs anything runs it).
    pub profiles: &'a [Profile],
    pub bundle: crate::package::Bundle,
    pub formats: &'a [String],
    pub skip_smoke: bool,
}

/// Everything `cargo xtask release` does, resolved and checked before anything is built.
#[derive(Debug)]
pub struct ReleasePlan {
    /// The base variant: the one installers carry and the smoke tests run first.
    pub build: Plan,
    /// The release's other variants (`--profile torch`), each with its own archive and index
    /// entry, built with the same settings.
    pub variants: Vec<Plan>,
    pub bundle: crate::package::Bundle,
    /// The installer formats (empty when this host does not build the target's installers).
    pub formats: Vec<cargo_packager::PackageFormat>,
    pub skip_smoke: bool,
    /// Where the release is published (trimmed, without a trailing `/`): built into the shell.
    pub base_url: Option<String>,
    pub index_key: IndexKey,
    pub signing: Signing,
}

impl ReleasePlan {
    /// From the command line and the process environment.
    pub fn resolve(input: ReleaseInput<'_>) -> Result<ReleasePlan> {
        ReleasePlan::from_lookup(input, &var)
    }

    /// Gathers the configuration and checks all of it, reporting every mistake at once (the
    /// variable or tool to fix named in each): release channels need the index key pair (a
    /// secret key that signs for the public key built in) and the platform's signing identity;
    /// a thin release-channel installer needs its download URL; an explicit format must be
    /// buildable here.
    pub fn from_lookup(input: ReleaseInput<'_>, lookup: &Lookup) -> Result<ReleasePlan> {
        use runtime_spec::env::{
            APPLE_P12_BASE64, APPLE_P12_PASSWORD, APPLE_P12_PATH, MINISIGN_KEY, MINISIGN_PASSWORD,
            RELEASE_BASE_URL, UPDATE_PUBKEY, WINDOWS_P12_BASE64, WINDOWS_P12_PASSWORD,
        };
        let base_input = PlanInput {
            profile: Profile::Base,
            accelerator: None,
            ..input.build
        };
        let build = Plan::from_lookup(base_input, lookup)?;
        let channel = build.channel;
        let mut problems: Vec<String> = Vec::new();
        if !input.profiles.contains(&Profile::Base) {
            problems.push(
                "--profile must include base: every release carries the base engine (the full installer bundles it)"
                    .to_owned(),
            );
        }
        let mut variants = Vec::new();
        for variant in variants_to_build(build.target, input.profiles, lookup) {
            if variant.profile == Profile::Base {
                continue;
            }
            if input
                .build
                .accelerator
                .is_some_and(|wanted| wanted != variant.accelerator)
            {
                continue;
            }
            variants.push(Plan::from_lookup(
                PlanInput {
                    profile: variant.profile,
                    accelerator: Some(variant.accelerator),
                    ..input.build
                },
                lookup,
            )?);
        }
        for profile in input.profiles {
            let built = *profile == Profile::Base
                || variants.iter().any(|plan| plan.variant.profile == *profile);
            if !built {
                problems.push(format!(
                    "no {profile} variant of {} can be built here{}",
                    build.target,
                    input
                        .build
                        .accelerator
                        .map(|accelerator| format!(" with accelerator {accelerator}"))
                        .unwrap_or_default()
                ));
            }
        }

        let password = lookup(MINISIGN_PASSWORD).map(Secret::new);
        let public = lookup(UPDATE_PUBKEY).map(|text| runtime_spec::PublicKey::parse(&text));
        let index_key = match (lookup(MINISIGN_KEY), public) {
            (Some(secret), Some(Ok(public))) => {
                if let Err(error) = check_key_pair(&secret, password.as_ref(), &public) {
                    problems.push(format!("{MINISIGN_KEY} and {UPDATE_PUBKEY}: {error:#}"));
                }
                Some(IndexKey::Configured {
                    secret: Secret::new(secret),
                    password,
                    public,
                })
            }
            (secret, public) => {
                if let Some(Err(error)) = public {
                    problems.push(format!("{UPDATE_PUBKEY}: {error}"));
                } else if secret.is_some() {
                    problems.push(format!(
                        "{MINISIGN_KEY} is set but {UPDATE_PUBKEY} is not: set both (from `cargo xtask keygen`)"
                    ));
                }
                if secret.is_none() && channel.is_release() {
                    problems.push(format!(
                        "a {channel} release needs the release-index signing key: set {MINISIGN_KEY} and {UPDATE_PUBKEY} \
                         (make them with `cargo xtask keygen`)"
                    ));
                }
                None
            }
        };
        let index_key = index_key.unwrap_or_else(|| IndexKey::DevLocal {
            dir: crate::release::dev_key_dir(&build.root),
        });

        let signing = match Signing::from_lookup(build.target, lookup) {
            Ok(signing) => signing,
            Err(error) => {
                problems.push(format!("{error:#}"));
                Signing::default()
            }
        };
        // A release channel is downloaded by people: macOS Gatekeeper opens only a Developer ID
        // app that Apple notarized, and Windows SmartScreen warns about an unsigned installer.
        let missing_notary = missing_notary_variables(lookup);
        if channel.is_release() {
            match build.target {
                Target::MacosArm64 => {
                    if signing.apple.is_ad_hoc() {
                        problems.push(format!(
                            "a {channel} release for macOS needs a signing identity: set {APPLE_P12_BASE64} (or {APPLE_P12_PATH}) and {APPLE_P12_PASSWORD}"
                        ));
                    }
                    if !missing_notary.is_empty() {
                        problems.push(format!(
                            "a {channel} release for macOS must be notarized and stapled: set {} (an App Store Connect API key)",
                            missing_notary.join(" and ")
                        ));
                    }
                }
                Target::WindowsX64 if signing.windows.is_none() => problems.push(format!(
                    "a {channel} release for Windows needs a code-signing certificate: set {WINDOWS_P12_BASE64} and {WINDOWS_P12_PASSWORD}"
                )),
                _ => {}
            }
        } else if build.target == Target::MacosArm64 && !missing_notary.is_empty() {
            crate::ui::warn(&format!(
                "dev channel: the macOS app is not notarized ({} unset); Gatekeeper refuses it after a download",
                missing_notary.join(", ")
            ));
        }

        // The variable overrides the app's descriptor (a staging bucket, a test server).
        let base_url = lookup(RELEASE_BASE_URL)
            .or_else(|| build.app.descriptor.release.base_url.clone())
            .map(|url| url.trim().trim_end_matches('/').to_owned())
            .filter(|url| !url.is_empty());
        let builds_shell = Some(build.target) == Target::host();
        // A thin installer downloads its runtime from `<base>/runtime-<channel>.json`: without a
        // base URL its first run can only say "reinstall with the full installer".
        if builds_shell && input.bundle.has_thin() && base_url.is_none() {
            if channel.is_release() {
                problems.push(format!(
                    "a thin {channel} release needs {RELEASE_BASE_URL} or the app descriptor's release.base_url (where runtime-{channel}.json and the archives will be published): the shell's first run downloads the runtime from there"
                ));
            } else {
                crate::ui::warn(&format!(
                    "{RELEASE_BASE_URL} is not set: this thin dev shell cannot download a runtime by itself (set {} when running it, or build --bundle full)",
                    build.app.names.var(runtime_spec::env::INDEX_URL)
                ));
            }
        }

        let formats = match crate::package::choose_formats(build.target, input.formats) {
            Ok(formats) => formats,
            Err(error) => {
                problems.push(format!("{error:#}"));
                Vec::new()
            }
        };
        if !problems.is_empty() {
            bail!(
                "the release is misconfigured; nothing was built:\n  - {}",
                problems.join("\n  - ")
            );
        }
        if let IndexKey::DevLocal { dir } = &index_key {
            crate::ui::warn(&format!(
                "no {MINISIGN_KEY}: signing the dev release index with the local dev key in {}",
                dir.display()
            ));
        }
        Ok(ReleasePlan {
            build,
            variants,
            bundle: input.bundle,
            formats,
            skip_smoke: input.skip_smoke,
            base_url,
            index_key,
            signing,
        })
    }
}

/// The App Store Connect API key variables notarization needs that are unset, by name.
pub fn missing_notary_variables(lookup: &Lookup) -> Vec<String> {
    use macos_sign::{ENV_API_ISSUER, ENV_API_KEY_ID, ENV_API_KEY_P8, ENV_API_KEY_P8_PATH};
    let set = |name: &str| lookup(name).is_some_and(|value| !value.trim().is_empty());
    let mut missing = Vec::new();
    if !set(ENV_API_KEY_ID) {
        missing.push(ENV_API_KEY_ID.to_owned());
    }
    if !set(ENV_API_ISSUER) {
        missing.push(ENV_API_ISSUER.to_owned());
    }
    if !set(ENV_API_KEY_P8) && !set(ENV_API_KEY_P8_PATH) {
        missing.push(format!("{ENV_API_KEY_P8} (or {ENV_API_KEY_P8_PATH})"));
    }
    missing
}

/// The secret key must sign for the public key the shell gets, or every shell of this release
/// refuses its index and updates: sign a probe and verify it.
fn check_key_pair(
    secret: &str,
    password: Option<&Secret<String>>,
    public: &runtime_spec::PublicKey,
) -> Result<()> {
    let password = password.map(|password| password.expose().as_str());
    let probe = b"release key check";
    let signature = release_meta::sign(probe, secret, password, "key check")
        .context("the secret key cannot sign")?;
    release_meta::verify(probe, &signature, &public.key_line())
        .map(|_| ())
        .with_context(|| {
            format!(
                "the secret key does not belong to public key {}",
                public.key_id()
            )
        })
}

impl fmt::Display for ReleasePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.build)?;
        let mut variants = vec![self.build.variant.name()];
        variants.extend(self.variants.iter().map(|plan| plan.variant.name()));
        writeln!(f, "variants:          {}", variants.join(", "))?;
        writeln!(
            f,
            "release folder:    {} (published at the release URL)",
            self.build
                .app
                .release_dir(&self.build.release_site)
                .display()
        )?;
        writeln!(
            f,
            "object store:      {}/{}/ (shared by every app; one zstd-{} object per runtime file, for delta updates; not in SHA256SUMS)",
            self.build.release_site.display(),
            runtime_spec::layout::OBJECTS_DIR,
            runtime_archive::objects::OBJECT_ZSTD_LEVEL
        )?;
        writeln!(f, "bundle:            {}", self.bundle.name())?;
        let formats: Vec<&str> = self
            .formats
            .iter()
            .map(|format| format.short_name())
            .collect();
        writeln!(
            f,
            "installers:        {}",
            if formats.is_empty() {
                "none on this host".to_owned()
            } else {
                formats.join(", ")
            }
        )?;
        writeln!(
            f,
            "smoke tests:       {}",
            if self.skip_smoke { "skipped" } else { "yes" }
        )?;
        writeln!(
            f,
            "release URL:       {}",
            self.base_url.as_deref().unwrap_or("unset")
        )?;
        match &self.index_key {
            IndexKey::Configured {
                password, public, ..
            } => {
                writeln!(
                    f,
                    "index key:         secret set, password {}",
                    set_or_unset(password)
                )?;
                writeln!(
                    f,
                    "  public key:      {} ({})",
                    public.key_id(),
                    public.key_line()
                )?;
            }
            IndexKey::DevLocal { dir } => {
                writeln!(
                    f,
                    "index key:         unset: the dev key in {}",
                    dir.display()
                )?;
            }
        }
        match self.build.target {
            Target::LinuxX64 => writeln!(f, "signing:           none (Linux)"),
            Target::MacosArm64 => {
                writeln!(
                    f,
                    "apple identity:    {}",
                    if self.signing.apple.is_ad_hoc() {
                        "unset: ad hoc".to_owned()
                    } else {
                        format!("set ({})", self.signing.apple.describe())
                    }
                )?;
                writeln!(
                    f,
                    "notary key:        {}",
                    set_or_unset(&self.signing.notary)
                )
            }
            Target::WindowsX64 => match &self.signing.windows {
                Some(certificate) => writeln!(
                    f,
                    "windows cert:      set, time-stamp server {}",
                    certificate.timestamp_url.as_deref().unwrap_or("unset")
                ),
                None => writeln!(f, "windows cert:      unset: unsigned"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::package::Bundle;

    fn plan_with(
        args: &[(&str, &str)],
        target: Target,
        channel: Channel,
        bundle: Bundle,
    ) -> Result<ReleasePlan> {
        plan_with_profiles(args, target, channel, bundle, &[Profile::Base])
    }

    fn plan_with_profiles(
        args: &[(&str, &str)],
        target: Target,
        channel: Channel,
        bundle: Bundle,
        profiles: &[Profile],
    ) -> Result<ReleasePlan> {
        let cache = std::env::temp_dir();
        let mut vars: HashMap<String, String> = args
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        vars.insert(
            runtime_spec::env::CACHE_DIR.to_owned(),
            cache.display().to_string(),
        );
        ReleasePlan::from_lookup(
            ReleaseInput {
                build: PlanInput {
                    app: None,
                    target: Some(target),
                    profile: Profile::Base,
                    accelerator: None,
                    channel,
                    python_archive: None,
                    python_sha256: None,
                    out_dir: None,
                    zstd_level: None,
                },
                profiles,
                bundle,
                formats: &[],
                skip_smoke: false,
            },
            &move |name: &str| vars.get(name).filter(|value| !value.is_empty()).cloned(),
        )
    }

    #[test]
    fn variants_to_build_add_extra_index_ones_only_when_configured() {
        let none = |_: &str| None;
        assert_eq!(
            variants_to_build(Target::LinuxX64, &[Profile::Base, Profile::Torch], &none),
            [
                Variant::base(Target::LinuxX64),
                Variant::new(Target::LinuxX64, Profile::Torch, Accelerator::Cuda)
            ]
        );
        let configured = |name: &str| {
            (name == runtime_spec::env::EXTRA_INDEX_LINUX_X64_TORCH_CPU)
                .then(|| "https://index.invalid/simple".to_owned())
        };
        let names: Vec<String> =
            variants_to_build(Target::LinuxX64, &[Profile::Torch], &configured)
                .into_iter()
                .map(Variant::name)
                .collect();
        assert_eq!(names, ["linux-x64-torch-cuda", "linux-x64-torch-cpu"]);
        assert_eq!(
            variants_to_build(Target::WindowsX64, &[Profile::Torch], &configured),
            [Variant::new(
                Target::WindowsX64,
                Profile::Torch,
                Accelerator::Cpu
            )]
        );
        for variant in Variant::ALL {
            assert_eq!(
                extra_index_var(variant).is_some(),
                variant.needs_extra_index()
            );
            if let Some(name) = extra_index_var(variant) {
                assert!(runtime_spec::env::lookup(name).is_some(), "{name}");
            }
        }
        // A plan for an extra-index variant without its index names the variable.
        let cache = std::env::temp_dir().display().to_string();
        let error = Plan::from_lookup(
            PlanInput {
                app: None,
                target: Some(Target::LinuxX64),
                profile: Profile::Torch,
                accelerator: Some(Accelerator::Cpu),
                channel: Channel::Dev,
                python_archive: None,
                python_sha256: None,
                out_dir: None,
                zstd_level: None,
            },
            &move |name: &str| (name == runtime_spec::env::CACHE_DIR).then(|| cache.clone()),
        )
        .unwrap_err();
        assert!(
            format!("{error:#}").contains(runtime_spec::env::EXTRA_INDEX_LINUX_X64_TORCH_CPU),
            "{error:#}"
        );
    }

    #[test]
    fn a_configured_release_plan_shows_secrets_only_as_set() {
        use runtime_spec::env::*;
        let (public, secret) = release_meta::generate_keypair(Some("hunter2-password")).unwrap();
        let p12 = "c2VjcmV0LWNlcnRpZmljYXRlLWJ5dGVz";
        // Tauri's form of the public key is the same key.
        let tauri_form = release_meta::tauri_pubkey(&public);
        let plan = plan_with(
            &[
                (MINISIGN_KEY, secret.as_str()),
                (MINISIGN_PASSWORD, "hunter2-password"),
                (UPDATE_PUBKEY, tauri_form.as_str()),
                (RELEASE_BASE_URL, " https://releases.invalid/ts/ "),
                (WINDOWS_P12_BASE64, p12),
                (WINDOWS_P12_PASSWORD, "p12-password"),
            ],
            Target::WindowsX64,
            Channel::Beta,
            Bundle::Thin,
        )
        .unwrap();
        assert_eq!(
            plan.base_url.as_deref(),
            Some("https://releases.invalid/ts")
        );
        let IndexKey::Configured { public: key, .. } = &plan.index_key else {
            panic!("{plan:?}")
        };
        assert_eq!(*key, runtime_spec::PublicKey::parse(&public).unwrap());
        assert_eq!(
            plan.signing.windows.as_ref().unwrap().p12.expose(),
            b"secret-certificate-bytes"
        );
        let shown = format!("{plan}\n{plan:?}");
        for needle in [
            "secret set, password set",
            "windows cert:      set",
            "channel:           beta",
        ] {
            assert!(shown.contains(needle), "{needle:?} missing in:\n{shown}");
        }
        let secret_line = secret.lines().nth(1).unwrap();
        for leaked in [
            secret_line,
            "hunter2-password",
            p12,
            "p12-password",
            "secret-certificate",
        ] {
            assert!(!shown.contains(leaked), "{leaked:?} printed:\n{shown}");
        }
    }

    #[test]
    fn every_mistake_of_a_release_is_reported_at_once() {
        use runtime_spec::env::*;
        let (public, _) = release_meta::generate_keypair(None).unwrap();
        let (_, other_secret) = release_meta::generate_keypair(None).unwrap();
        let error = plan_with(
            &[
                (MINISIGN_KEY, other_secret.as_str()),
                (UPDATE_PUBKEY, public.as_str()),
            ],
            Target::MacosArm64,
            Channel::Stable,
            Bundle::Full,
        )
        .unwrap_err();
        let message = format!("{error:#}");
        for expected in ["does not belong to public key", APPLE_P12_BASE64] {
            assert!(
                message.contains(expected),
                "{expected:?} missing in:\n{message}"
            );
        }
        let error = plan_with(
            &[(UPDATE_PUBKEY, "RWQ")],
            Target::WindowsX64,
            Channel::Alpha,
            Bundle::Full,
        )
        .unwrap_err();
        let message = format!("{error:#}");
        for expected in [
            UPDATE_PUBKEY,
            MINISIGN_KEY,
            WINDOWS_P12_BASE64,
            "not a minisign public key",
        ] {
            assert!(
                message.contains(expected),
                "{expected:?} missing in:\n{message}"
            );
        }
        // A signed macOS release without the notary key: refused, each missing variable named.
        let (public, secret) = release_meta::generate_keypair(None).unwrap();
        let variables = [
            (MINISIGN_KEY, secret.as_str()),
            (UPDATE_PUBKEY, public.as_str()),
            (macos_sign::ENV_API_KEY_ID, "KEY123"),
        ];
        let error =
            plan_with(&variables, Target::MacosArm64, Channel::Beta, Bundle::Full).unwrap_err();
        let message = format!("{error:#}");
        assert!(
            message.contains("must be notarized and stapled"),
            "{message}"
        );
        assert!(
            message
                .contains("set APPLE_API_ISSUER and APPLE_API_KEY_P8 (or APPLE_API_KEY_P8_PATH)"),
            "{message}"
        );
        assert!(!message.contains("set APPLE_API_KEY_ID"), "{message}");
        // The dev channel needs none of it.
        let plan = plan_with(&[], Target::WindowsX64, Channel::Dev, Bundle::Full).unwrap();
        assert!(plan_with(&[], Target::MacosArm64, Channel::Dev, Bundle::Full).is_ok());
        assert!(matches!(plan.index_key, IndexKey::DevLocal { .. }));
        assert!(plan.signing.windows.is_none());
        assert!(format!("{plan}").contains("index key:         unset"));
    }

    #[test]
    fn a_release_of_several_profiles_plans_every_variant_it_can_build() {
        let both = [Profile::Base, Profile::Torch];
        let release =
            plan_with_profiles(&[], Target::LinuxX64, Channel::Dev, Bundle::Thin, &both).unwrap();
        assert_eq!(release.build.variant, Variant::base(Target::LinuxX64));
        let names: Vec<String> = release
            .variants
            .iter()
            .map(|plan| plan.variant.name())
            .collect();
        // The CPU-only Linux torch needs an extra index, which is not configured here.
        assert_eq!(names, ["linux-x64-torch-cuda"]);
        assert!(release
            .to_string()
            .contains("variants:          linux-x64, linux-x64-torch-cuda"));
        assert!(release.to_string().contains("object store:      "));
        let torch = &release.variants[0];
        assert_eq!(
            torch.lock_file.file_name().unwrap(),
            "linux-x64-torch-cuda.txt"
        );
        assert_ne!(torch.runtime_dir, release.build.runtime_dir);
        assert_ne!(torch.archive, release.build.archive);

        let configured = plan_with_profiles(
            &[(
                runtime_spec::env::EXTRA_INDEX_LINUX_X64_TORCH_CPU,
                "http://127.0.0.1:9/simple",
            )],
            Target::LinuxX64,
            Channel::Dev,
            Bundle::Thin,
            &both,
        )
        .unwrap();
        let names: Vec<String> = configured
            .variants
            .iter()
            .map(|plan| plan.variant.name())
            .collect();
        assert_eq!(names, ["linux-x64-torch-cuda", "linux-x64-torch-cpu"]);

        let error = plan_with_profiles(
            &[],
            Target::LinuxX64,
            Channel::Dev,
            Bundle::Thin,
            &[Profile::Torch],
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("--profile must include base"), "{error}");
    }
}
