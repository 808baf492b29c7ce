//! A release folder as it is published at the release URL (`dist/<version>/`): the default
//! app's release at its top, every other app's one folder down (`<id>/`), and one object store,
//! `objects/`, that every app's index names (`docs/runtime-contract.md`, "Object store").
//!
//! [`check`] reads it the way a client does: each app's index verified with the `minisign.pub`
//! beside it, each variant's manifest from its object, each file's object at its packed size
//! and, with [`Depth::Bytes`], unpacked to its size and sha256. [`prune`] removes the objects no
//! index of the folder names, which a rebuild of one app can leave behind.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use runtime_archive::objects;
use runtime_spec::{layout, Manifest, ReleaseIndex, Sha256};

use crate::plan::App;

/// How much of every object [`check`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// That it exists at its packed size (what a release needs to prune).
    Sizes,
    /// Also that it unpacks to exactly its file's size and sha256 (what publishing needs).
    Bytes,
}

/// One app's release found in the folder.
#[derive(Debug)]
pub struct AppRelease {
    pub id: String,
    /// Its signed index, relative to the release folder.
    pub index: String,
    /// Variants it lists, over every target.
    pub variants: usize,
    /// Distinct objects its manifests name (the manifests' own included).
    pub objects: usize,
}

/// What [`check`] found.
#[derive(Debug, Default)]
pub struct SiteReport {
    pub apps: Vec<AppRelease>,
    /// Every object some index names, with the apps that name it.
    pub named: BTreeMap<Sha256, BTreeSet<String>>,
    /// Packed size of each named object.
    pub packed: BTreeMap<Sha256, u64>,
    /// Objects in the store that no index names (relative paths).
    pub unnamed: Vec<PathBuf>,
}

impl SiteReport {
    /// Objects named by more than one app, and their packed bytes: what the shared store saves.
    pub fn shared(&self) -> (usize, u64) {
        self.named
            .iter()
            .filter(|(_, apps)| apps.len() > 1)
            .fold((0, 0), |(count, bytes), (sha256, _)| {
                (count + 1, bytes + self.packed[sha256])
            })
    }

    /// One line per app and one for the store.
    pub fn summary(&self) -> String {
        let mut lines: Vec<String> = self
            .apps
            .iter()
            .map(|app| {
                format!(
                    "{}: {} ({} variant{}, {} objects)",
                    app.id,
                    app.index,
                    app.variants,
                    if app.variants == 1 { "" } else { "s" },
                    app.objects
                )
            })
            .collect();
        let total: u64 = self.packed.values().sum();
        let (shared, shared_bytes) = self.shared();
        lines.push(format!(
            "objects/: {} objects ({:.1} MB), {} of them ({:.1} MB) named by more than one app",
            self.named.len(),
            total as f64 / 1e6,
            shared,
            shared_bytes as f64 / 1e6
        ));
        lines.join("\n")
    }
}

/// The signed indexes of one folder: `runtime-<channel>.json` with a `.minisig`, no fragment.
fn indexes_in(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    if !dir.is_dir() {
        return Ok(names);
    }
    for entry in fs_err::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.starts_with("runtime-") && name.ends_with(".json") && !name.contains(".fragment.") {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// `base` joined with the relative `path` (`..` allowed), refused when it leaves `site`.
fn resolve_inside(site: &Path, base: &Path, path: &str) -> Result<PathBuf> {
    let mut resolved = base.to_path_buf();
    for component in Path::new(path).components() {
        match component {
            Component::ParentDir => {
                resolved.pop();
            }
            Component::Normal(part) => resolved.push(part),
            Component::CurDir => {}
            _ => bail!("`{path}` is not a relative path"),
        }
    }
    if !resolved.starts_with(site) {
        bail!(
            "`{path}` from {} leaves the release folder {}",
            base.display(),
            site.display()
        );
    }
    Ok(resolved)
}

/// Checks one object of `store`: present at `packed_size` and, with [`Depth::Bytes`], unpacking
/// to exactly `size` bytes of `sha256`. Returns the unpacked bytes when `keep` (a manifest).
fn check_object(
    store: &Path,
    sha256: &Sha256,
    size: u64,
    packed_size: u64,
    depth: Depth,
    keep: bool,
    what: &str,
) -> Result<Option<Vec<u8>>> {
    let path = objects::object_file(store, sha256);
    let on_disk = fs_err::metadata(&path)
        .with_context(|| format!("{what}: its object is missing from {}", store.display()))?
        .len();
    if on_disk != packed_size {
        bail!(
            "{what}: its object {} is {on_disk} bytes, the manifest says {packed_size}",
            path.display()
        );
    }
    if depth == Depth::Sizes && !keep {
        return Ok(None);
    }
    let mut out = Vec::new();
    let mut sink = std::io::sink();
    let mut writer: &mut dyn std::io::Write = if keep { &mut out } else { &mut sink };
    objects::unpack_object(fs_err::File::open(&path)?, &mut writer, size, sha256).map_err(
        |error| {
            let reason = match error {
                objects::UnpackError::Object(fault) => fault.to_string(),
                objects::UnpackError::Write(error) => error.to_string(),
            };
            anyhow::anyhow!("{what}: its object {} is bad: {reason}", path.display())
        },
    )?;
    Ok(keep.then_some(out))
}

/// Checks every app's release in `site` (see the module docs) and lists the store's objects no
/// index names.
pub fn check(site: &Path, apps: &[App], depth: Depth) -> Result<SiteReport> {
    let mut report = SiteReport::default();
    let mut stores = BTreeSet::new();
    for app in apps {
        let folder = site.join(layout::app_release_folder(&app.names.id, app.is_default));
        for name in indexes_in(&folder)? {
            let path = folder.join(&name);
            let relative = path
                .strip_prefix(site)
                .unwrap_or(&path)
                .display()
                .to_string();
            let json = fs_err::read(&path)?;
            let signature = fs_err::read_to_string(folder.join(format!("{name}.minisig")))
                .with_context(|| format!("{relative} has no signature beside it"))?;
            let public_key = fs_err::read_to_string(folder.join("minisign.pub"))
                .with_context(|| format!("{relative}: no minisign.pub beside it to verify it"))?;
            let index: ReleaseIndex =
                release_meta::verify_index(&json, &signature, &public_key, &path)
                    .with_context(|| format!("{relative} does not verify"))?;
            index
                .validate()
                .with_context(|| format!("{relative} is not a valid index"))?;
            let store = resolve_inside(site, &folder, &index.objects_dir())
                .with_context(|| format!("{relative}: its object store"))?;
            stores.insert(store.clone());
            let mut variants = 0;
            let mut app_objects = BTreeSet::new();
            for (target, entries) in &index.runtimes {
                for entry in entries {
                    variants += 1;
                    let variant = entry.variant(*target).name();
                    let what = format!("{relative} {variant} manifest.json");
                    let bytes = check_object(
                        &store,
                        &entry.manifest.sha256,
                        entry.manifest.size,
                        entry.manifest.packed_size,
                        depth,
                        true,
                        &what,
                    )?
                    .expect("kept");
                    let manifest = Manifest::from_json(&bytes)
                        .with_context(|| format!("{what}: not a manifest"))?;
                    app_objects.insert(entry.manifest.sha256);
                    report
                        .packed
                        .insert(entry.manifest.sha256, entry.manifest.packed_size);
                    for file in &manifest.files {
                        let Some(packed_size) = file.packed_size else {
                            bail!("{what} lists `{}` without its object's size", file.path);
                        };
                        if app_objects.insert(file.sha256) {
                            check_object(
                                &store,
                                &file.sha256,
                                file.size,
                                packed_size,
                                depth,
                                false,
                                &format!("{relative} {variant} `{}`", file.path),
                            )?;
                        }
                        report.packed.insert(file.sha256, packed_size);
                    }
                }
            }
            for sha256 in &app_objects {
                report
                    .named
                    .entry(*sha256)
                    .or_default()
                    .insert(app.names.id.clone());
            }
            report.apps.push(AppRelease {
                id: app.names.id.clone(),
                index: relative,
                variants,
                objects: app_objects.len(),
            });
        }
    }
    for store in &stores {
        for entry in walkdir::WalkDir::new(store).min_depth(1) {
            let entry = entry?;
            if entry.file_type().is_dir() {
                continue;
            }
            let relative = entry.path().strip_prefix(site).unwrap_or(entry.path());
            let named = entry
                .file_name()
                .to_str()
                .and_then(|name| name.strip_suffix(".zst"))
                .and_then(|hex| Sha256::parse(hex).ok())
                .filter(|sha256| objects::object_file(store, sha256) == entry.path())
                .is_some_and(|sha256| report.named.contains_key(&sha256));
            if !named {
                report.unnamed.push(relative.to_path_buf());
            }
        }
    }
    Ok(report)
}

/// Removes the objects of `site` that no index names (see [`check`]) and returns how many.
pub fn prune(site: &Path, report: &SiteReport) -> Result<usize> {
    for relative in &report.unnamed {
        fs_err::remove_file(site.join(relative))?;
    }
    Ok(report.unnamed.len())
}

/// `cargo xtask index check <folder>`: the whole folder as it is to be published. Fails on an
/// app the folder's registry lists whose index is not there, and on anything in the store no
/// index names.
pub fn check_command(site: PathBuf) -> Result<()> {
    let root = crate::plan::project_root();
    let apps = App::all(&root)?;
    let site = std::path::absolute(site)?;
    let report = check(&site, &apps, Depth::Bytes)?;
    if report.apps.is_empty() {
        bail!(
            "{} holds no signed release index (runtime-<channel>.json) of any app",
            site.display()
        );
    }
    for entry in fs_err::read_dir(&site)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("apps-") && name.ends_with(".json")) {
            continue;
        }
        let registry = runtime_spec::AppRegistry::from_json(&fs_err::read(site.join(&name))?)
            .with_context(|| format!("{name} is not an app registry"))?;
        for app in &registry.apps {
            let index = resolve_inside(&site, &site, &app.index_url)
                .with_context(|| format!("{name}: the index of {}", app.id))?;
            if !index.is_file() {
                bail!(
                    "{name} offers {} with its index at {}, which this folder lacks: release that app into it too",
                    app.id,
                    app.index_url
                );
            }
        }
    }
    if !report.unnamed.is_empty() {
        bail!(
            "{} objects in {} are named by no index, e.g. {}: publish only what the indexes name",
            report.unnamed.len(),
            site.display(),
            report.unnamed[0].display()
        );
    }
    crate::ui::summary(&report.summary());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use runtime_spec::{
        manifest::MANIFEST_SCHEMA_VERSION, Channel, LaunchContract, PythonInfo, PythonSource,
        Target, Variant,
    };

    /// Publishes a runtime of `app` holding `files` into `site` the way a release does: its
    /// objects into the shared store, its signed index (with `minisign.pub`) into the app's
    /// folder.
    fn release(site: &Path, app: &App, files: &[(&str, &[u8])], secret: &str, public: &str) {
        let work = tempfile::tempdir().unwrap();
        let root = work.path().join("runtime");
        for (path, bytes) in files {
            let path = root.join(path);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(path, bytes).unwrap();
        }
        let store = site.join(layout::OBJECTS_DIR);
        let mut entries = runtime_archive::build_manifest_files(&root).unwrap();
        objects::pack_objects(&root, &mut entries, &store, 1).unwrap();
        let target = Target::LinuxX64;
        let variant = Variant::base(target);
        let manifest = Manifest {
            schema_version: MANIFEST_SCHEMA_VERSION,
            app_id: app.names.identifier.clone(),
            runtime_version: "0.1.0".parse().unwrap(),
            target,
            python: PythonInfo {
                version: "3.12".into(),
                build: "local".into(),
                source: PythonSource::Local,
                sha256: None,
            },
            profile: variant.profile,
            accelerator: variant.accelerator,
            requirements: Some(variant.base_requirements()),
            lock_sha256: "0".repeat(64).parse().unwrap(),
            launch: LaunchContract::for_app(&app.names, target),
            files: entries,
        };
        let manifest_ref = release_meta::manifest_ref(&manifest);
        let manifest_path = work.path().join("manifest.json");
        fs_err::write(&manifest_path, manifest.to_json()).unwrap();
        objects::pack_object(&manifest_path, &manifest_ref.sha256, &store).unwrap();
        let archive = work.path().join("runtime.tar.zst");
        fs_err::write(&archive, b"an archive").unwrap();
        let entry = release_meta::entry_for_archive(&archive, &manifest, &"0.1.0".parse().unwrap())
            .unwrap();
        let index = release_meta::build_index(
            Channel::Dev,
            1,
            (!app.is_default).then(|| layout::SHARED_OBJECTS_FROM_APP.to_owned()),
            vec![(target, entry)],
        )
        .unwrap();
        let folder = app.release_dir(site);
        release_meta::write_signed_index(&index, &folder, secret, None).unwrap();
        fs_err::write(folder.join("minisign.pub"), public).unwrap();
    }

    #[test]
    fn two_apps_share_one_store_and_a_client_side_check_finds_every_fault() {
        let apps = App::all(&crate::plan::project_root()).unwrap();
        assert!(apps.len() >= 2, "the workspace has a second app");
        let (public, secret) = release_meta::generate_keypair(None).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("0.1.0");
        let python: &[u8] = b"the interpreter both runtimes hold";
        release(
            &site,
            &apps[0],
            &[("python/lib.so", python), ("app/main.py", b"first app")],
            &secret,
            &public,
        );
        release(
            &site,
            &apps[1],
            &[("python/lib.so", python), ("app/main.py", b"second app")],
            &secret,
            &public,
        );

        let report = check(&site, &apps[..2], Depth::Bytes).unwrap();
        assert_eq!(report.apps.len(), 2, "{}", report.summary());
        assert_eq!(
            report.apps[1].index,
            format!("{}/runtime-dev.json", apps[1].names.id)
        );
        // The interpreter's file is one object named by both apps; each app's own file and
        // manifest are its alone.
        assert_eq!(report.shared().0, 1, "{}", report.summary());
        assert_eq!(report.named.len(), 5);
        assert!(report.unnamed.is_empty());
        let stray = site.join("objects/zz/stray.zst");
        fs_err::create_dir_all(stray.parent().unwrap()).unwrap();
        fs_err::write(&stray, b"x").unwrap();
        let report = check(&site, &apps[..2], Depth::Sizes).unwrap();
        assert_eq!(report.unnamed, vec![PathBuf::from("objects/zz/stray.zst")]);
        assert_eq!(prune(&site, &report).unwrap(), 1);
        assert!(!stray.exists());

        // Damage is named by the app, the file and what is wrong.
        let sha = |bytes: &[u8]| Sha256::parse(&test_support::sha256_hex(bytes)).unwrap();
        let second_own = objects::object_file(&site.join("objects"), &sha(b"second app"));
        let good = fs_err::read(&second_own).unwrap();
        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0xff;
        fs_err::write(&second_own, &flipped).unwrap();
        // Same size: only unpacking sees it.
        check(&site, &apps[..2], Depth::Sizes).unwrap();
        let error = format!("{:#}", check(&site, &apps[..2], Depth::Bytes).unwrap_err());
        assert!(
            error.contains(&apps[1].names.id) && error.contains("app/main.py"),
            "{error}"
        );
        fs_err::remove_file(&second_own).unwrap();
        let error = format!("{:#}", check(&site, &apps[..2], Depth::Sizes).unwrap_err());
        assert!(error.contains("missing"), "{error}");
        fs_err::write(&second_own, &good).unwrap();

        // An index signed by another key is refused.
        let (other_public, _) = release_meta::generate_keypair(None).unwrap();
        let key_file = apps[1].release_dir(&site).join("minisign.pub");
        fs_err::write(&key_file, other_public).unwrap();
        let error = format!("{:#}", check(&site, &apps[..2], Depth::Sizes).unwrap_err());
        assert!(error.contains("does not verify"), "{error}");
        fs_err::write(&key_file, &public).unwrap();
        check(&site, &apps[..2], Depth::Bytes).unwrap();
    }
}
