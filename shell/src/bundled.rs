//! Full-bundle first run (`docs/decisions/0013-thin-and-full-bundles.md`): the installer
//! carries the runtime archive; it goes through the same verify-and-promote path into
//! `<data>/runtime/default`, with no network.

use std::path::{Path, PathBuf};

use runtime_spec::{layout, AppNames, Target, Version};

/// The runtime archive an installer put beside the shell, if any: Linux packages keep resources
/// in `/usr/lib/<binary>/`, macOS bundles in `Contents/Resources/`, Windows beside the exe.
/// The app's `<PREFIX>_BUNDLED_RUNTIME` overrides where it is looked for (tests, unusual
/// installs).
pub fn bundled_archive(app: &AppNames, exe: &Path, target: Target) -> Option<PathBuf> {
    let over = app.var(runtime_spec::env::BUNDLED_RUNTIME);
    if let Some(path) = std::env::var_os(over).filter(|path| !path.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let exe_dir = exe.parent()?;
    let binary = exe.file_stem()?.to_string_lossy().into_owned();
    let folders = [
        exe_dir.join("..").join("lib").join(&binary),
        exe_dir.join("..").join("Resources"),
        exe_dir.to_path_buf(),
    ];
    let prefix = format!("{}-", app.archive_stem());
    let suffix = format!("-{target}.tar.zst");
    folders.iter().find_map(|folder| {
        let mut found: Vec<PathBuf> = std::fs::read_dir(folder)
            .ok()?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| {
                path.file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.starts_with(&prefix) && name.ends_with(&suffix))
            })
            .collect();
        found.sort();
        found.pop()
    })
}

/// Version in a runtime archive's name (`<app>-runtime-<version>-<target>.tar.zst`).
pub fn archive_version(app: &AppNames, archive: &Path, target: Target) -> Option<Version> {
    let name = archive.file_name()?.to_str()?;
    let version = name
        .strip_prefix(&app.archive_stem())?
        .strip_prefix('-')?
        .strip_suffix(&format!("-{target}.tar.zst"))?;
    Version::parse(version).ok()
}

/// Installs the bundled archive as `runtime/default` unless that already holds the same version.
/// Returns the installed version, or `None` when nothing had to be done.
pub fn install_if_needed(
    archive: &Path,
    data_root: &Path,
    target: Target,
) -> Result<Option<Version>, runtime_archive::Error> {
    let runtimes = data_root.join("runtime");
    let installed = std::fs::read_to_string(runtimes.join("default").join(layout::VERSION_FILE))
        .ok()
        .and_then(|text| Version::parse(text.trim()).ok());
    if installed.is_some() && installed == archive_version(crate::app(), archive, target) {
        return Ok(None);
    }
    let report = runtime_archive::install_archive(archive, &runtimes, "default", target)?;
    Ok(Some(report.manifest.runtime_version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_archive_in_the_linux_package_layout() {
        let root = tempfile::tempdir().unwrap();
        let bin = root.path().join("usr/bin");
        let lib = root.path().join("usr/lib/tokenizer-studio");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&lib).unwrap();
        let exe = bin.join("tokenizer-studio");
        assert_eq!(bundled_archive(crate::app(), &exe, Target::LinuxX64), None);
        std::fs::write(
            lib.join("tokenizer-studio-runtime-0.1.0-windows-x64.tar.zst"),
            b"",
        )
        .unwrap();
        assert_eq!(
            bundled_archive(crate::app(), &exe, Target::LinuxX64),
            None,
            "another platform's archive is not ours"
        );
        let archive = lib.join("tokenizer-studio-runtime-0.1.0-linux-x64.tar.zst");
        std::fs::write(&archive, b"").unwrap();
        let found = bundled_archive(crate::app(), &exe, Target::LinuxX64).unwrap();
        assert_eq!(found.file_name(), archive.file_name());
        assert_eq!(
            archive_version(crate::app(), &found, Target::LinuxX64),
            Some(Version::new(0, 1, 0))
        );
    }
}
