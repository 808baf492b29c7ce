//! Installers with cargo-packager, driven as a library: `.deb` (+ AppImage when linuxdeploy is
//! present) on Linux, `.app`/`.dmg` on macOS, NSIS and MSI (WiX) on Windows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use cargo_packager::config::{AppCategory, Binary, DebianConfig, HookCommand, Resource};
use cargo_packager::{Config, PackageFormat};
use runtime_spec::{Target, Version};

use crate::plan::{App, Channel, Signing};
use crate::{fsutil, sign, tools, ui};

/// What the installer carries besides the shell (`docs/decisions/0013-thin-and-full-bundles.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Bundle {
    /// The shell only; first run downloads the runtime.
    Thin,
    /// The shell plus the runtime archive, installed on first run with no network.
    Full,
    /// Both: the thin installer, and beside it the full one named `…-offline…`.
    Both,
}

impl Bundle {
    pub fn name(self) -> &'static str {
        match self {
            Bundle::Thin => "thin",
            Bundle::Full => "full",
            Bundle::Both => "thin and full",
        }
    }

    /// The installers this choice builds, thin first: the first is what the shell's updater
    /// manifest points at (the smaller download; an installed app already has its runtime).
    pub fn parts(self) -> &'static [Bundle] {
        match self {
            Bundle::Thin => &[Bundle::Thin],
            Bundle::Full => &[Bundle::Full],
            Bundle::Both => &[Bundle::Thin, Bundle::Full],
        }
    }

    /// Whether the thin installer is among them (it needs a download URL).
    pub fn has_thin(self) -> bool {
        self.parts().contains(&Bundle::Thin)
    }
}

/// An MSI's ProductVersion: numbers only (`major.minor.patch[.n]`), so a pre-release becomes
/// its fourth field: `-alpha.N` → `N`, `-beta.N` → `1000 + N` (a beta sorts after every alpha
/// of the same version). cargo-packager refuses anything else, and our channels only tag these.
pub fn msi_version(version: &Version) -> Result<String> {
    let core = format!("{}.{}.{}", version.major, version.minor, version.patch);
    if version.pre.is_empty() {
        return Ok(core);
    }
    let pre = version.pre.as_str();
    let number = |rest: &str| rest.parse::<u32>().ok().filter(|n| *n < 1000);
    let fourth = match pre.split_once('.') {
        Some(("alpha", rest)) => number(rest),
        Some(("beta", rest)) => number(rest).map(|n| 1000 + n),
        _ => None,
    };
    match fourth {
        Some(fourth) => Ok(format!("{core}.{fourth}")),
        None => bail!(
            "version {version}: an MSI needs a pre-release of the form -alpha.N or -beta.N (N below 1000)"
        ),
    }
}

/// Marks a full bundle's installer in its file name, so a user tells the offline installer
/// from the thin one: `<app>_0.1.0_amd64.deb` → `<app>_0.1.0_amd64-offline.deb`.
pub const OFFLINE_MARK: &str = "-offline";

/// The published name of a full bundle's installer: [`OFFLINE_MARK`] before the extension.
pub fn offline_name(name: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => format!("{stem}{OFFLINE_MARK}.{extension}"),
        _ => format!("{name}{OFFLINE_MARK}"),
    }
}

/// Moves a full bundle's installers from their scratch folder into the release folder under
/// their offline names. A macOS `.app` folder is not published on its own: the `.dmg` carries
/// it, and the loose `.app` is the thin release's (the updater's tarball is made from it).
pub fn publish_offline(installers: &[PathBuf], release_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut published = Vec::new();
    for installer in installers {
        if installer.is_dir() {
            continue;
        }
        let name = installer
            .file_name()
            .context("an installer has a file name")?
            .to_string_lossy();
        let target = release_dir.join(offline_name(&name));
        fsutil::remove_path(&target)?;
        fs_err::rename(installer, &target)?;
        published.push(target);
    }
    Ok(published)
}

/// Inputs of the installer step.
pub struct InstallerInput<'a> {
    pub app: &'a App,
    pub version: &'a Version,
    pub target: Target,
    pub bundle: Bundle,
    /// Folder holding the release shell binary ([`SHELL_BINARY`]).
    pub binaries_dir: &'a Path,
    /// The runtime archive (carried as a resource in a full bundle).
    pub runtime_archive: &'a Path,
    pub out_dir: &'a Path,
    /// The formats to build ([`choose_formats`], checked before the release built anything).
    pub formats: &'a [PackageFormat],
    /// Timestamp for generated package files, so two builds of one commit package the same bytes.
    pub source_date_epoch: u64,
    /// Decides whether ad-hoc macOS signing is allowed.
    pub channel: Channel,
    /// The identities the release plan read (and checked against the channel).
    pub signing: &'a Signing,
}

/// The shell binary cargo builds (`shell/Cargo.toml`); installers carry it under the app's id.
pub const SHELL_BINARY: &str = "app-shell";

/// Maintainer of the packages (Debian needs a name and an address).
fn maintainer(app: &App) -> String {
    format!(
        "{} <maintainers@{}.invalid>",
        app.descriptor.package.publisher, app.names.id
    )
}

/// Builds the installers this host can build for the target and returns their paths.
pub fn installers(input: &InstallerInput<'_>) -> Result<Vec<PathBuf>> {
    let formats = input.formats.to_vec();
    if formats.is_empty() {
        return Ok(Vec::new());
    }
    let work = tempfile::tempdir().context("creating a scratch folder for packaging")?;
    let config = packager_config(input, &formats, work.path())?;
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
    // Windows: the shell and each installer get Authenticode when a certificate is configured
    // (signer_for already refused a release channel without one).
    let windows_identity = match (input.target, &input.signing.windows) {
        (Target::WindowsX64, Some(certificate)) => Some(sign::WindowsIdentity::new(
            certificate,
            &input.app.descriptor.product_name,
        )?),
        _ => None,
    };
    // Tauri's updater asks the binary which installer put it there (a marker string that
    // tauri-bundler rewrites per format; cargo-packager does not), so each format that needs a
    // marker is packaged from its own stamped copy of the shell.
    // Windows: the shell and each installer get Authenticode when a certificate is configured
    // (signer_for already refused a release channel without one).
    let mut outputs = Vec::new();
    for (marker, group) in formats_by_bundle_marker(&formats) {
        let mut config = config.clone();
        if marker == Some(BundleMarker::Msi) {
            config.version = msi_version(input.version)?;
        }
        config.formats = Some(group);
        if marker.is_some() || windows_identity.is_some() {
            config.binaries_dir = Some(shell_copy(
                input,
                work.path(),
                marker,
                windows_identity.as_ref(),
            )?);
        }
        outputs.extend(cargo_packager::package(&config).context("cargo-packager failed")?);
    }
    // cargo-packager leaves its intermediate tree in the output folder; it is not a release file.
    let _ = std::fs::remove_dir_all(input.out_dir.join(".cargo-packager"));
    let paths: Vec<PathBuf> = outputs
        .into_iter()
        .flat_map(|output| output.paths)
        .collect();
    sign_installers(input, &paths, windows_identity.as_ref())?;
    for path in &paths {
        ui::info(&format!("built {}", path.display()));
    }
    Ok(paths)
}

/// cargo-packager's configuration for `formats`: product metadata, the bundled runtime of a
/// full bundle, Debian's policy files (written into `work`), and on macOS the hook that signs
/// the `.app` before the `.dmg` is made from it.
fn packager_config(
    input: &InstallerInput<'_>,
    formats: &[PackageFormat],
    work: &Path,
) -> Result<Config> {
    let app = input.app;
    let mut resources = Vec::new();
    if input.bundle == Bundle::Full {
        // Linux: /usr/lib/<app id>/<archive>; macOS: Contents/Resources/; Windows: beside
        // the exe. The shell installs it into <data>/runtime/default on first run.
        resources.push(Resource::Single(
            input.runtime_archive.display().to_string(),
        ));
    }
    // Debian policy (lintian errors otherwise): a copyright file and a changelog for a native
    // package, a Maintainer with an address, and the libc dependency of the binary.
    let copyright = work.join("copyright");
    fs_err::write(
        &copyright,
        debian_copyright(app, input.version, input.source_date_epoch),
    )?;
    let changelog = work.join("changelog.gz");
    fs_err::write(
        &changelog,
        debian_changelog_gz(app, input.version, input.source_date_epoch)?,
    )?;
    let mut deb_files = HashMap::new();
    deb_files.insert(
        copyright.display().to_string(),
        format!("usr/share/doc/{}/copyright", app.names.id),
    );
    deb_files.insert(
        changelog.display().to_string(),
        format!("usr/share/doc/{}/changelog.gz", app.names.id),
    );
    let deb = DebianConfig::new()
        .depends(["libc6 (>= 2.34)", "libwebkit2gtk-4.1-0", "libgtk-3-0"])
        .section("utils")
        .priority("optional")
        .files(deb_files);
    let builder = Config::builder()
        .product_name(app.descriptor.product_name.clone())
        .version(input.version.to_string())
        .identifier(app.descriptor.identifier.clone())
        .binaries([Binary::new(tools::exe_name(&app.names.id)).main(true)])
        .formats(formats.to_vec())
        .out_dir(input.out_dir)
        .description(app.descriptor.package.summary.clone())
        .long_description(app.descriptor.package.description.clone())
        .publisher(app.descriptor.package.publisher.clone())
        .authors([maintainer(app)])
        .copyright(format!("Copyright {}", app.descriptor.package.publisher))
        .icons([app
            .dir
            .join(&app.descriptor.icons.png)
            .display()
            .to_string()])
        .resources(resources)
        .deb(deb);
    let mut config = builder.config().clone();
    config.binaries_dir = Some(shell_copy(input, work, None, None)?);
    config.category = Some(AppCategory::DeveloperTool);
    if input.target == Target::MacosArm64 {
        // cargo-packager runs this before each format: before the `.dmg` it signs the `.app`.
        let exe =
            std::env::current_exe().context("locating the xtask binary for the signing hook")?;
        config.before_each_package_command = Some(HookCommand::Script(format!(
            "\"{}\" sign-macos-bundles --dir \"{}\" --channel {} --source-date-epoch {}",
            exe.display(),
            input.out_dir.display(),
            input.channel.name(),
            input.source_date_epoch
        )));
    }
    Ok(config)
}

/// A copy of the shell binary for one group of formats, in its own folder under `work`:
/// stamped with the installer kind `marker` names, then Authenticode-signed when an identity
/// is configured (after stamping: the stamp changes bytes the signature covers).
fn shell_copy(
    input: &InstallerInput<'_>,
    work: &Path,
    marker: Option<BundleMarker>,
    windows_identity: Option<&sign::WindowsIdentity>,
) -> Result<PathBuf> {
    let copy_dir = work.join(format!(
        "bin-{}{}",
        marker.map_or("plain", BundleMarker::name),
        if windows_identity.is_some() {
            "-signed"
        } else {
            ""
        }
    ));
    fs_err::create_dir_all(&copy_dir)?;
    // cargo builds the shell as `app-shell`; the installers carry it named after the app.
    let original = input.binaries_dir.join(tools::exe_name(SHELL_BINARY));
    let copy = copy_dir.join(tools::exe_name(&input.app.names.id));
    // Copy first so the stamped file keeps the original's mode bits.
    fs_err::copy(&original, &copy)?;
    if let Some(marker) = marker {
        let binary = stamp_bundle_type(&fs_err::read(&original)?, marker).with_context(|| {
            format!(
                "stamping {} for its {} installer",
                original.display(),
                marker.name()
            )
        })?;
        fs_err::write(&copy, binary)?;
    }
    // Sign after stamping: the stamp changes bytes the signature covers.
    if let Some(identity) = windows_identity {
        identity.sign_in_place(&copy)?;
    }
    Ok(copy_dir)
}

/// Signs what cargo-packager made, innermost first: macOS the `.app` and then the `.dmg`,
/// Windows each installer (its shell copy was signed before packaging).
fn sign_installers(
    input: &InstallerInput<'_>,
    paths: &[PathBuf],
    windows_identity: Option<&sign::WindowsIdentity>,
) -> Result<()> {
    if input.target == Target::MacosArm64 {
        // Innermost first: the runtime's Mach-O (assembly), the `.app` (hook, or here for an
        // `.app`-only build), then the `.dmg` that carries it.
        sign::sign_macos_bundles(
            input.out_dir,
            input.channel,
            input.source_date_epoch,
            input.signing,
        )?;
        sign::sign_macos_disk_images(
            &input.app.descriptor.identifier,
            input.out_dir,
            input.channel,
            input.source_date_epoch,
            input.signing,
        )?;
    }
    if let Some(identity) = windows_identity {
        for installer in paths.iter().filter(|path| {
            path.extension().is_some_and(|ext| {
                ext.eq_ignore_ascii_case("exe") || ext.eq_ignore_ascii_case("msi")
            })
        }) {
            ui::step("sign", &format!("Authenticode {}", installer.display()));
            identity.sign_in_place(installer)?;
        }
    }
    Ok(())
}

/// The installer kinds Tauri's updater tells apart at run time
/// (`tauri::utils::platform::bundle_type`). macOS needs none: an unmarked macOS binary counts
/// as an `.app`, which is what both the `.app` and the `.dmg` install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleMarker {
    Deb,
    AppImage,
    Nsis,
    Msi,
}

/// What an unstamped binary carries: `static __TAURI_BUNDLE_TYPE: &str` in tauri-utils.
const BUNDLE_TYPE_UNSTAMPED: &[u8] = b"__TAURI_BUNDLE_TYPE_VAR_UNK";

impl BundleMarker {
    fn for_format(format: PackageFormat) -> Option<BundleMarker> {
        match format {
            PackageFormat::Deb => Some(BundleMarker::Deb),
            PackageFormat::AppImage => Some(BundleMarker::AppImage),
            PackageFormat::Nsis => Some(BundleMarker::Nsis),
            PackageFormat::Wix => Some(BundleMarker::Msi),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            BundleMarker::Deb => "deb",
            BundleMarker::AppImage => "appimage",
            BundleMarker::Nsis => "nsis",
            BundleMarker::Msi => "msi",
        }
    }

    /// The marker's value, the same length as [`BUNDLE_TYPE_UNSTAMPED`] (tauri-utils matches
    /// these exact strings).
    fn stamp(self) -> &'static [u8] {
        match self {
            BundleMarker::Deb => b"__TAURI_BUNDLE_TYPE_VAR_DEB",
            BundleMarker::AppImage => b"__TAURI_BUNDLE_TYPE_VAR_APP",
            BundleMarker::Nsis => b"__TAURI_BUNDLE_TYPE_VAR_NSS",
            BundleMarker::Msi => b"__TAURI_BUNDLE_TYPE_VAR_MSI",
        }
    }
}

/// `formats` grouped by the marker their binary needs, in order of first appearance; formats
/// that need none stay together (cargo-packager builds a `.dmg` from the `.app` of the same run).
fn formats_by_bundle_marker(
    formats: &[PackageFormat],
) -> Vec<(Option<BundleMarker>, Vec<PackageFormat>)> {
    let mut groups: Vec<(Option<BundleMarker>, Vec<PackageFormat>)> = Vec::new();
    for &format in formats {
        let marker = BundleMarker::for_format(format);
        match groups.iter_mut().find(|(existing, _)| *existing == marker) {
            Some((_, group)) => group.push(format),
            None => groups.push((marker, vec![format])),
        }
    }
    groups
}

/// The shell binary with its bundle-type marker rewritten for `marker`, as tauri-bundler does.
/// Exactly one unstamped marker must be present: none means the binary is not a Tauri v2 app
/// (or was stamped already), two would make the choice a guess.
pub fn stamp_bundle_type(binary: &[u8], marker: BundleMarker) -> Result<Vec<u8>> {
    let positions: Vec<usize> = binary
        .windows(BUNDLE_TYPE_UNSTAMPED.len())
        .enumerate()
        .filter(|(_, window)| *window == BUNDLE_TYPE_UNSTAMPED)
        .map(|(position, _)| position)
        .collect();
    match positions.as_slice() {
        [position] => {
            let mut stamped = binary.to_vec();
            stamped[*position..*position + BUNDLE_TYPE_UNSTAMPED.len()]
                .copy_from_slice(marker.stamp());
            Ok(stamped)
        }
        [] => bail!(
            "the binary has no unstamped Tauri bundle-type marker ({}): it is not a Tauri v2 \
             app, or it was stamped already; package the binary `cargo build --release -p shell` made",
            String::from_utf8_lossy(BUNDLE_TYPE_UNSTAMPED)
        ),
        many => bail!(
            "the binary has {} Tauri bundle-type markers; expected exactly one",
            many.len()
        ),
    }
}

/// The installer formats to build for `target`: the ones `requested` (each must be buildable
/// here, or the release fails), else what this host builds offline.
pub fn choose_formats(target: Target, requested: &[String]) -> Result<Vec<PackageFormat>> {
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
            // The MSI is what managed machines deploy (Group Policy, Intune); NSIS is the
            // per-user installer a person double-clicks.
            Target::WindowsX64 => vec![PackageFormat::Nsis, PackageFormat::Wix],
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

fn debian_copyright(app: &App, version: &Version, source_date_epoch: u64) -> String {
    let year = 1970 + source_date_epoch / 31_556_952;
    let (id, product, publisher) = (
        &app.names.id,
        &app.descriptor.product_name,
        &app.descriptor.package.publisher,
    );
    format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: {id}\n\
         Comment: {product} {version}\n\n\
         Files: *\n\
         Copyright: {year} {publisher}\n\
         License: Apache-2.0\n \
         On Debian systems, the full text of the Apache License 2.0 can be found in\n \
         /usr/share/common-licenses/Apache-2.0.\n"
    )
}

/// A one-entry Debian changelog, gzip-compressed with no timestamp in the header so the
/// package stays reproducible.
fn debian_changelog_gz(app: &App, version: &Version, source_date_epoch: u64) -> Result<Vec<u8>> {
    use std::io::Write;
    let date = release_meta::rfc3339_utc(source_date_epoch);
    let text = format!(
        "{} ({version}) unstable; urgency=medium\n\n  * Release {version}.\n\n -- {}  {}\n",
        app.names.id,
        maintainer(app),
        rfc2822(&date)
    );
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    encoder.write_all(text.as_bytes())?;
    Ok(encoder.finish()?)
}

/// `2026-11-22T01:02:03Z` → `Sun, 22 Nov 2026 01:02:03 +0000` (Debian changelog dates).
fn rfc2822(rfc3339: &str) -> String {
    let (date, time) = rfc3339
        .trim_end_matches('Z')
        .split_once('T')
        .unwrap_or((rfc3339, "00:00:00"));
    let mut parts = date.split('-').map(|part| part.parse::<i64>().unwrap_or(1));
    let (year, month, day) = (
        parts.next().unwrap_or(1970),
        parts.next().unwrap_or(1),
        parts.next().unwrap_or(1),
    );
    // Zeller-style weekday via days since the epoch (civil-from-days inverse).
    let shifted_year = if month <= 2 { year - 1 } else { year };
    let era = shifted_year.div_euclid(400);
    let year_of_era = shifted_year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let month_name = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(month - 1) as usize];
    format!("{weekday}, {day:02} {month_name} {year} {time} +0000")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msi_versions_are_numbers_and_keep_the_channel_order() {
        let msi = |text: &str| msi_version(&text.parse().unwrap());
        assert_eq!(msi("1.2.3").unwrap(), "1.2.3");
        assert_eq!(msi("1.2.3-alpha.4").unwrap(), "1.2.3.4");
        assert_eq!(msi("1.2.3-beta.2").unwrap(), "1.2.3.1002");
        for refused in [
            "1.2.3-rc.1",
            "1.2.3-alpha",
            "1.2.3-alpha.1000",
            "1.2.3-beta.x",
        ] {
            let error = msi(refused).unwrap_err();
            assert!(
                format!("{error:#}").contains("-alpha.N or -beta.N"),
                "{refused}: {error:#}"
            );
        }
    }

    #[test]
    fn offline_installers_are_named_apart_and_published_without_loose_apps() {
        assert_eq!(
            offline_name("tokenizer-studio_0.1.0_amd64.deb"),
            "tokenizer-studio_0.1.0_amd64-offline.deb"
        );
        assert_eq!(
            offline_name("Tokenizer Studio_0.1.0_x64-setup.exe"),
            "Tokenizer Studio_0.1.0_x64-setup-offline.exe"
        );
        assert_eq!(offline_name("noextension"), "noextension-offline");
        let scratch = tempfile::tempdir().unwrap();
        let release = tempfile::tempdir().unwrap();
        let dmg = scratch.path().join("Tokenizer Studio_0.1.0_aarch64.dmg");
        std::fs::write(&dmg, b"dmg").unwrap();
        let app = scratch.path().join("Tokenizer Studio.app");
        std::fs::create_dir(&app).unwrap();
        let published = publish_offline(&[app.clone(), dmg], release.path()).unwrap();
        assert_eq!(
            published,
            vec![release
                .path()
                .join("Tokenizer Studio_0.1.0_aarch64-offline.dmg")]
        );
        assert_eq!(std::fs::read(&published[0]).unwrap(), b"dmg");
        assert!(app.is_dir(), "the loose .app is left in the scratch folder");
    }

    #[test]
    fn bundle_type_stamp_rewrites_exactly_one_marker() {
        let binary = b"\x7fELF....__TAURI_BUNDLE_TYPE_VAR_UNK\0rest".to_vec();
        for (marker, expected) in [
            (BundleMarker::Deb, &b"__TAURI_BUNDLE_TYPE_VAR_DEB"[..]),
            (BundleMarker::AppImage, b"__TAURI_BUNDLE_TYPE_VAR_APP"),
            (BundleMarker::Nsis, b"__TAURI_BUNDLE_TYPE_VAR_NSS"),
            (BundleMarker::Msi, b"__TAURI_BUNDLE_TYPE_VAR_MSI"),
        ] {
            let stamped = stamp_bundle_type(&binary, marker).unwrap();
            assert_eq!(stamped.len(), binary.len());
            assert_eq!(&stamped[8..8 + expected.len()], expected);
            assert!(stamped.ends_with(b"\0rest"));
            // Stamped once, it cannot be stamped again.
            let again = stamp_bundle_type(&stamped, marker).unwrap_err();
            assert!(format!("{again:#}").contains("no unstamped"), "{again:#}");
        }
        let twice = [&binary[..], &binary[..]].concat();
        let error = stamp_bundle_type(&twice, BundleMarker::Deb).unwrap_err();
        assert!(format!("{error:#}").contains("2 Tauri bundle-type markers"));
    }

    #[test]
    fn formats_are_grouped_by_marker_keeping_app_and_dmg_together() {
        let groups = formats_by_bundle_marker(&[
            PackageFormat::App,
            PackageFormat::Deb,
            PackageFormat::Dmg,
            PackageFormat::AppImage,
        ]);
        assert_eq!(
            groups,
            vec![
                (None, vec![PackageFormat::App, PackageFormat::Dmg]),
                (Some(BundleMarker::Deb), vec![PackageFormat::Deb]),
                (Some(BundleMarker::AppImage), vec![PackageFormat::AppImage]),
            ]
        );
    }

    #[test]
    fn debian_dates() {
        for (input, expected) in [
            ("1970-01-01T00:00:00Z", "Thu, 01 Jan 1970 00:00:00 +0000"),
            ("2026-11-22T01:15:54Z", "Sun, 22 Nov 2026 01:15:54 +0000"),
            ("2024-02-29T12:00:00Z", "Thu, 29 Feb 2024 12:00:00 +0000"),
        ] {
            assert_eq!(rfc2822(input), expected);
        }
    }
}
