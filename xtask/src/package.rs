//! Installers with cargo-packager, driven as a library: `.deb` (+ AppImage when linuxdeploy is
//! present) on Linux, `.app`/`.dmg` on macOS, NSIS on Windows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use cargo_packager::config::{Binary, DebianConfig, Resource};
use cargo_packager::{Config, PackageFormat};
use runtime_spec::Target;

use crate::{tools, ui};

/// What the installer carries besides the shell (DESIGN.md §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Bundle {
    /// The shell only; first run downloads the runtime.
    Thin,
    /// The shell plus the runtime archive, installed on first run with no network.
    Full,
}

impl Bundle {
    pub fn name(self) -> &'static str {
        match self {
            Bundle::Thin => "thin",
            Bundle::Full => "full",
        }
    }
}

/// Inputs of the installer step.
pub struct InstallerInput<'a> {
    pub root: &'a Path,
    pub version: &'a str,
    pub target: Target,
    pub bundle: Bundle,
    /// Folder holding the release `tokenizer-studio` binary.
    pub binaries_dir: &'a Path,
    /// The runtime archive (carried as a resource in a full bundle).
    pub runtime_archive: &'a Path,
    pub out_dir: &'a Path,
    /// Formats the user asked for explicitly; those must be built or the release fails.
    pub requested: &'a [String],
}

/// File name of the shell binary.
pub const SHELL_BINARY: &str = "tokenizer-studio";

/// Builds the installers this host can build for the target and returns their paths.
pub fn installers(input: &InstallerInput<'_>) -> Result<Vec<PathBuf>> {
    let formats = choose_formats(input.target, input.requested)?;
    if formats.is_empty() {
        return Ok(Vec::new());
    }
    let work = tempfile::tempdir().context("creating a scratch folder for packaging")?;
    let mut resources = Vec::new();
    if input.bundle == Bundle::Full {
        // Linux: /usr/lib/tokenizer-studio/<archive>; macOS: Contents/Resources/; Windows: beside
        // the exe. The shell installs it into <data>/runtime/default on first run.
        resources.push(Resource::Single(
            input.runtime_archive.display().to_string(),
        ));
    }
    let copyright = work.path().join("copyright");
    fs_err::write(&copyright, debian_copyright(input.version))?;
    let mut deb_files = HashMap::new();
    deb_files.insert(
        copyright.display().to_string(),
        "usr/share/doc/tokenizer-studio/copyright".to_owned(),
    );
    let deb = DebianConfig::new()
        .depends(["libwebkit2gtk-4.1-0", "libgtk-3-0"])
        .section("utils")
        .priority("optional")
        .files(deb_files);
    let builder = Config::builder()
        .product_name("Tokenizer Studio")
        .version(input.version)
        .identifier(runtime_spec::APP_ID)
        .binaries([Binary::new(tools::exe_name(SHELL_BINARY)).main(true)])
        .formats(formats.clone())
        .out_dir(input.out_dir)
        .description("Train tokenizers on your own files, on your own computer")
        .long_description(
            "Tokenizer Studio trains BPE, WordPiece and Unigram tokenizers with Hugging Face tokenizers.\n\
             Everything runs locally: no account, no upload.",
        )
        .publisher("Tokenizer Studio")
        .authors(["Tokenizer Studio developers"])
        .copyright("Copyright Tokenizer Studio developers")
        .icons([input.root.join("shell/icons/icon.png").display().to_string()])
        .resources(resources)
        .deb(deb);
    let mut config = builder.config().clone();
    config.binaries_dir = Some(input.binaries_dir.to_path_buf());
    ui::step(
        "installers",
        &format!(
            "{} ({} bundle)",
            formats
                .iter()
                .map(|f| f.short_name())
                .collect::<Vec<_>>()
                .join(", "),
            input.bundle.name()
        ),
    );
    let outputs = cargo_packager::package(&config).context("cargo-packager failed")?;
    let paths: Vec<PathBuf> = outputs
        .into_iter()
        .flat_map(|output| output.paths)
        .collect();
    for path in &paths {
        ui::info(&format!("built {}", path.display()));
    }
    Ok(paths)
}

/// The formats to build: the host's defaults that work offline, plus what was asked for.
fn choose_formats(target: Target, requested: &[String]) -> Result<Vec<PackageFormat>> {
    if Some(target) != Target::host() {
        ui::info(&format!(
            "skipped installers: {target} installers are built on {target} hosts (the CI matrix)"
        ));
        return Ok(Vec::new());
    }
    let mut formats = Vec::new();
    for name in requested {
        let format = PackageFormat::from_short_name(name).with_context(|| {
            format!("unknown installer format `{name}`: use deb, appimage, app, dmg, nsis or wix")
        })?;
        formats.push(format);
    }
    let explicit = !formats.is_empty();
    if !explicit {
        formats = match target {
            Target::LinuxX64 => vec![PackageFormat::Deb],
            Target::MacosArm64 => vec![PackageFormat::App, PackageFormat::Dmg],
            Target::WindowsX64 => vec![PackageFormat::Nsis],
        };
    }
    let has_linuxdeploy = tools::find_on_path("linuxdeploy").is_some()
        || tools::find_on_path("linuxdeploy-x86_64.AppImage").is_some();
    if target == Target::LinuxX64 && !explicit && has_linuxdeploy {
        formats.push(PackageFormat::AppImage);
    }
    if target == Target::LinuxX64 && !has_linuxdeploy {
        if formats.contains(&PackageFormat::AppImage) {
            bail!("AppImage was requested but linuxdeploy is not on PATH (cargo-packager would download it from GitHub): install linuxdeploy first");
        }
        ui::info("skipped AppImage: it needs linuxdeploy, which cargo-packager downloads from GitHub; put linuxdeploy on PATH to build it");
    }
    Ok(formats)
}

fn debian_copyright(version: &str) -> String {
    format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: tokenizer-studio\n\
         Comment: Tokenizer Studio {version}\n\n\
         Files: *\n\
         Copyright: Tokenizer Studio developers\n\
         License: Apache-2.0\n \
         On Debian systems, the full text of the Apache License 2.0 can be found in\n \
         /usr/share/common-licenses/Apache-2.0.\n"
    )
}
