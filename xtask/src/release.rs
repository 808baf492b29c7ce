//! `cargo xtask release`: prerequisites → web → runtime → smoke → shell → installers → signing →
//! checksums, SBOM, release index and updater manifest, all into `dist/<version>/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use runtime_spec::{PythonSource, Target};

use crate::package;
use crate::plan::{Channel, IndexKey, ReleasePlan, Secret};
use crate::{assemble, doctor, fsutil, sign, smoke, ui};

/// The shell version the runtime needs at least (shell and runtime ship together today).
const MIN_SHELL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Builds (or reuses) one variant's runtime, refuses a local CPython on a release channel, and
/// smoke-tests the host's variants; returns the plan, the build and its manifest.
fn build_runtime<'a>(
    release: &ReleasePlan,
    plan: &'a crate::plan::Plan,
    signer: &dyn assemble::RuntimeSigner,
) -> Result<(
    &'a crate::plan::Plan,
    assemble::RuntimeOutput,
    runtime_spec::Manifest,
)> {
    let runtime = assemble::runtime_signed(plan, signer)?;
    let manifest = assemble::read_manifest(&runtime.runtime_dir)?;
    if plan.channel != Channel::Dev && manifest.python.source == PythonSource::Local {
        bail!(
            "a {} release cannot ship a local CPython (python.source = local); provide the pinned \
             python-build-standalone archive through {} or --python-archive",
            plan.channel.name(),
            runtime_spec::env::PYTHON_MIRROR
        );
    }
    if Some(plan.target) == Target::host() && !release.skip_smoke && runtime.rebuilt {
        smoke::smoke(&plan.app, &runtime.archive).inspect_err(|_| assemble::invalidate(plan))?;
    }
    Ok((plan, runtime, manifest))
}

/// Runs the whole release pipeline of `release`, whose configuration
/// [`ReleasePlan::resolve`] already checked: a mistake there is reported in a second, before
/// anything is built.
pub fn release(release: &ReleasePlan) -> Result<()> {
    let started = Instant::now();
    let plan = &release.build;
    let keys = release_keys(release)?;
    let signer = sign::signer_for(plan, &release.signing)?;
    ui::step(
        "prerequisites",
        &format!("checking what a {} release needs", plan.target),
    );
    doctor::ensure(plan.target, &plan.cache_dir)?;

    // Every variant is built and smoke-tested before anything is published into the release
    // folder: base first (the installers carry it), then the other profiles' variants.
    let mut built = Vec::new();
    for variant_plan in std::iter::once(plan).chain(&release.variants) {
        built.push(build_runtime(release, variant_plan, signer.as_ref())?);
    }

    let site = &plan.release_site;
    let dir = plan.app.release_dir(site);
    clear_app_release(plan)?;
    fs_err::create_dir_all(&dir)?;
    let mut files = Vec::new();
    let mut published = Vec::new();
    for (variant_plan, runtime, manifest) in &built {
        let archive = dir.join(
            variant_plan
                .archive
                .file_name()
                .expect("archive has a name"),
        );
        fs_err::copy(&runtime.archive, &archive)?;
        files.push(archive.clone());
        published.push((*variant_plan, runtime, manifest, archive));
    }
    ui::step(
        "objects",
        "publishing every runtime file once into the release's object store",
    );
    let mut store = ObjectsPublished::default();
    for (variant_plan, runtime, manifest, _) in &published {
        publish_objects(
            manifest,
            &runtime.runtime_dir,
            &assemble::object_store(variant_plan),
            &site.join(runtime_spec::layout::OBJECTS_DIR),
            &mut store,
        )?;
    }
    ui::info(&format!(
        "objects: {} new ({:.1} MB) for {} files of {} variant{} ({} of them already in the store)",
        store.objects,
        store.bytes as f64 / 1e6,
        store.files,
        published.len(),
        if published.len() == 1 { "" } else { "s" },
        store.already,
    ));
    let archive = published[0].3.clone();

    // The installers the shell's updater manifest points at: the first bundle's.
    let mut updater_installers = Vec::new();
    if Some(plan.target) == Target::host() {
        let binaries_dir = build_shell(release, &keys.public)?;
        for (position, bundle) in release.bundle.parts().iter().enumerate() {
            // A full bundle is packaged aside, then published under its offline names.
            let offline = *bundle == package::Bundle::Full;
            let out_dir = if offline {
                dir.join(".offline")
            } else {
                dir.clone()
            };
            let mut installers = package::installers(&package::InstallerInput {
                app: &plan.app,
                version: &plan.version,
                target: plan.target,
                bundle: *bundle,
                binaries_dir: &binaries_dir,
                runtime_archive: &archive,
                out_dir: &out_dir,
                formats: &release.formats,
                source_date_epoch: plan.source_date_epoch,
                channel: plan.channel,
                signing: &release.signing,
            })?;
            if offline {
                installers = package::publish_offline(&installers, &dir)?;
                fsutil::remove_path(&out_dir)?;
            }
            if position == 0 {
                updater_installers = installers.clone();
            }
            files.extend(installers);
        }
    } else {
        ui::info(&format!(
            "skipped shell and installers: they are built on {} hosts (the CI matrix)",
            plan.target
        ));
    }

    ui::step(
        "metadata",
        "SBOM, release index, updater manifest, checksums",
    );
    let min_shell_version = runtime_spec::version::parse(MIN_SHELL_VERSION, "the xtask's version")?;
    let mut entries = Vec::new();
    for (variant_plan, runtime, manifest, archive) in &published {
        let lock_text = fs_err::read_to_string(&variant_plan.lock_file)?;
        let site_packages = runtime_spec::launch::join_relative(
            &runtime.runtime_dir,
            variant_plan.target.site_packages(),
        );
        let sbom = release_meta::cyclonedx_from_lock(
            &lock_text,
            Some(&site_packages),
            &release_meta::SbomMetadata::from_manifest(
                &plan.app.names,
                manifest,
                plan.source_date_epoch,
            ),
        )?;
        let sbom_path = dir.join(format!(
            "{}-{}-{}.cdx.json",
            plan.app.names.archive_stem(),
            plan.version,
            variant_plan.variant
        ));
        fs_err::write(
            &sbom_path,
            format!("{}\n", serde_json::to_string_pretty(&sbom)?),
        )?;
        files.push(sbom_path);
        entries.push((
            plan.target,
            release_meta::entry_for_archive(archive, manifest, &min_shell_version)?,
        ));
    }
    // An app other than the default one is published a folder down and names the store at the
    // release URL, which every app of the release shares.
    let objects =
        (!plan.app.is_default).then(|| runtime_spec::layout::SHARED_OBJECTS_FROM_APP.to_owned());
    let index = release_meta::build_index(plan.channel, plan.source_date_epoch, objects, entries)?;
    // The unsigned one-target fragment is what the CI merge job combines across targets.
    files.push(release_meta::write_fragment(&index, &dir)?);
    let (index_path, minisig_path) = release_meta::write_signed_index(
        &index,
        &dir,
        keys.secret.expose(),
        keys.password
            .as_ref()
            .map(|password| password.expose().as_str()),
    )?;
    files.push(index_path);
    files.push(minisig_path);
    // The default app's release publishes the channel's app registry at the release URL: every
    // app of the workspace, the others' releases one folder down (`<id>/`).
    if plan.app.is_default {
        let registry = app_registry(
            &plan.root,
            plan.channel,
            plan.source_date_epoch,
            &plan.version,
        )?;
        let (registry_path, registry_minisig) = release_meta::write_signed_registry(
            &registry,
            &dir,
            keys.secret.expose(),
            keys.password
                .as_ref()
                .map(|password| password.expose().as_str()),
        )?;
        files.push(registry_path);
        files.push(registry_minisig);
    }
    let public_key_path = dir.join("minisign.pub");
    fs_err::write(&public_key_path, &keys.public)?;
    files.push(public_key_path);

    let shell_update_files = updater_manifest(release, &dir, &updater_installers, &keys)?;
    files.extend(shell_update_files);

    release_meta::write_sha256sums(&dir, &files)?;
    prune_objects(plan)?;
    ui::summary(&format!(
        "release {} {} ({}, {} bundle, {} variant{}) -> {} ({} files) in {:.1}s",
        plan.version,
        plan.target,
        plan.channel.name(),
        release.bundle.name(),
        published.len(),
        if published.len() == 1 { "" } else { "s" },
        dir.display(),
        files.len() + 1,
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Empties this app's part of the release folder and nothing else: the default app's files
/// at its top (not `objects/`, not another app's folder), another app's own folder. The store
/// keeps every object; [`prune_objects`] drops those no index names once this app's is written.
fn clear_app_release(plan: &crate::plan::Plan) -> Result<()> {
    let site = &plan.release_site;
    if !plan.app.is_default {
        return fsutil::remove_path(&plan.app.release_dir(site));
    }
    if !site.is_dir() {
        return Ok(());
    }
    let others: Vec<String> = crate::plan::App::ids(&plan.root)?
        .into_iter()
        .filter(|id| *id != plan.app.names.id)
        .collect();
    for entry in fs_err::read_dir(site)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == runtime_spec::layout::OBJECTS_DIR || others.contains(&name) {
            continue;
        }
        fsutil::remove_path(&entry.path())?;
    }
    Ok(())
}

/// Drops the objects of the release folder no app's index names any more (left by an earlier
/// build of this version), and says how much the apps share. A release folder whose other
/// indexes do not check keeps every object: nothing is removed on a guess.
fn prune_objects(plan: &crate::plan::Plan) -> Result<()> {
    let site = &plan.release_site;
    let apps = crate::plan::App::all(&plan.root)?;
    match crate::release_site::check(site, &apps, crate::release_site::Depth::Sizes) {
        Ok(report) => {
            let removed = crate::release_site::prune(site, &report)?;
            if removed > 0 {
                ui::info(&format!(
                    "objects: removed {removed} that no index of {} names",
                    site.display()
                ));
            }
            for line in report.summary().lines() {
                ui::info(line);
            }
        }
        Err(error) => ui::warn(&format!(
            "kept every object of {}: {error:#}",
            site.join(runtime_spec::layout::OBJECTS_DIR).display()
        )),
    }
    Ok(())
}

/// What [`publish_objects`] put into a release's `objects/`.
#[derive(Debug, Default)]
struct ObjectsPublished {
    /// Distinct objects (a file shared by variants is one object).
    objects: u64,
    /// Their size as served.
    bytes: u64,
    /// Files of all manifests (and the manifests themselves) they stand for.
    files: u64,
    /// Files whose object the store already held (another app's, another variant's, a file of
    /// the same bytes, or an earlier build's of this version).
    already: u64,
}

/// Copies the object of every file of `manifest`, and of the manifest itself, from the build's
/// object store into the release's `objects/` (hard links where possible). Objects already
/// there (another variant's) are kept: the same name is the same bytes. An object missing
/// from the build store is packed again from the runtime folder, and every object must have
/// the size the manifest recorded, so a stale store cannot publish what the manifest does not
/// describe.
fn publish_objects(
    manifest: &runtime_spec::Manifest,
    runtime_dir: &Path,
    build_store: &Path,
    release_store: &Path,
    published: &mut ObjectsPublished,
) -> Result<()> {
    use runtime_archive::objects;
    let manifest_ref = release_meta::manifest_ref(manifest);
    let listed = manifest
        .files
        .iter()
        .map(|file| (file.path.as_str(), &file.sha256, file.packed_size))
        .chain(std::iter::once((
            runtime_spec::layout::MANIFEST_FILE,
            &manifest_ref.sha256,
            Some(manifest_ref.packed_size),
        )));
    for (path, sha256, packed_size) in listed {
        let Some(packed_size) = packed_size else {
            bail!(
                "{} lists `{path}` without the size of its object: rebuild the runtime with this xtask",
                runtime_dir.join(runtime_spec::layout::MANIFEST_FILE).display()
            );
        };
        published.files += 1;
        let dest = objects::object_file(release_store, sha256);
        if dest.is_file() {
            published.already += 1;
            continue;
        }
        let source = runtime_spec::launch::join_relative(runtime_dir, path);
        let size = objects::pack_object(&source, sha256, build_store)?;
        if size != packed_size {
            bail!(
                "the object of `{path}` ({sha256}) in {} is {size} bytes, the manifest says {packed_size}: remove that folder and build again",
                build_store.display()
            );
        }
        let object = objects::object_file(build_store, sha256);
        fs_err::create_dir_all(dest.parent().expect("objects sit in a fan-out folder"))?;
        if std::fs::hard_link(&object, &dest).is_err() {
            fs_err::copy(&object, &dest)?;
        }
        published.objects += 1;
        published.bytes += size;
    }
    Ok(())
}

/// The minisign key pair of this release, as the signing steps use it.
struct ReleaseKeys {
    /// The `.pub` file text, built into the shell and published as `minisign.pub`.
    public: String,
    secret: Secret<String>,
    password: Option<Secret<String>>,
}

/// The configured key pair, or the local dev key (made on first use).
fn release_keys(release: &ReleasePlan) -> Result<ReleaseKeys> {
    match &release.index_key {
        IndexKey::Configured {
            secret,
            password,
            public,
        } => Ok(ReleaseKeys {
            public: public.file_text(),
            secret: secret.clone(),
            password: password.clone(),
        }),
        IndexKey::DevLocal { .. } => {
            let (public, secret) = dev_keys(&release.build.root)?;
            Ok(ReleaseKeys {
                public,
                secret: Secret::new(secret),
                password: None,
            })
        }
    }
}

/// `target/dev-minisign/`: the unencrypted dev key pair (never committed; `target/` is ignored).
pub fn dev_key_dir(root: &Path) -> PathBuf {
    root.join("target").join("dev-minisign")
}

/// The dev key pair `(public, secret)`, made on first use. Dev releases sign with it, and the
/// shell E2E tests sign their loopback indexes with it (the shell under test embeds its public
/// half, as a dev release's shell does).
pub fn dev_keys(root: &Path) -> Result<(String, String)> {
    let dir = dev_key_dir(root);
    let (public_path, secret_path) = (dir.join("minisign.pub"), dir.join("minisign.key"));
    if !public_path.is_file() || !secret_path.is_file() {
        let (public, secret) = release_meta::generate_keypair(None)?;
        fs_err::create_dir_all(&dir)?;
        fs_err::write(&public_path, public)?;
        fs_err::write(&secret_path, secret)?;
    }
    Ok((
        fs_err::read_to_string(&public_path)?,
        fs_err::read_to_string(&secret_path)?,
    ))
}

/// The channel's app registry: every app of the workspace at this release's version, each
/// with its runtime index relative to the registry (the default app's beside it, another app's
/// in its own folder `<id>/`, where its release is published).
pub fn app_registry(
    root: &Path,
    channel: Channel,
    published_at: u64,
    version: &runtime_spec::Version,
) -> Result<runtime_spec::AppRegistry> {
    let mut apps: Vec<runtime_spec::RegistryApp> = crate::plan::App::all(root)?
        .into_iter()
        .map(|app| runtime_spec::RegistryApp {
            index_url: format!(
                "{}{}",
                runtime_spec::layout::app_release_folder(&app.names.id, app.is_default),
                runtime_spec::layout::index_file_name(channel)
            ),
            version: version.clone(),
            identifier: app.names.identifier.clone(),
            data_folder: app.names.data_folder.clone(),
            env_prefix: app.names.env_prefix.clone(),
            module: app.names.module.clone(),
            id: app.names.id,
            product_name: app.descriptor.product_name,
        })
        .collect();
    apps.sort_by(|a, b| a.id.cmp(&b.id));
    let registry = runtime_spec::AppRegistry {
        schema_version: runtime_spec::registry::REGISTRY_SCHEMA_VERSION,
        channel,
        published_at,
        apps,
    };
    registry.validate()?;
    Ok(registry)
}

/// `cargo build --release` of the shell for the release's app (its descriptor, `shell/build.rs`)
/// with the release's public key, channel and release URL baked in (`shell/src/built_in.rs`
/// reads them).
fn build_shell(release: &ReleasePlan, public_key: &str) -> Result<PathBuf> {
    use runtime_spec::env;
    let plan = &release.build;
    ui::step("shell", "cargo build --release -p shell");
    let cargo = crate::plan::var_os("CARGO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("cargo"));
    let base_url = release.base_url.clone().unwrap_or_default();
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "shell",
            "--bin",
            package::SHELL_BINARY,
        ])
        .current_dir(&plan.root)
        .env(
            env::SHELL_APP,
            plan.app.dir.join(runtime_spec::app::APP_FILE),
        )
        .env(env::UPDATE_PUBKEY, public_key)
        .env(env::RELEASE_BASE_URL, base_url)
        .env(env::CHANNEL, plan.channel.name())
        .env(env::SOURCE_DATE_EPOCH, plan.source_date_epoch.to_string())
        .status()
        .context("running cargo build for the shell")?;
    if !status.success() {
        bail!("building the shell failed ({status}); the compiler output above names the problem");
    }
    Ok(plan.root.join("target").join("release"))
}

/// Tauri's updater manifest for the shell, `latest-<channel>.json` (one per channel, like
/// `runtime-<channel>.json`, so a stable shell never sees a beta): one entry per installer the
/// updater can apply, under the `<os>-<arch>-<kind>` key Tauri looks up for a binary stamped
/// with that kind (`package::stamp_bundle_type`). Each installer is signed with the release
/// key; the trusted comment carries the version, which the shell requires
/// (`requireSignedVersion`), so a manifest cannot pair a new version with an old installer.
/// Without a base URL the entries hold bare file names, which Tauri cannot fetch: a shell only
/// uses a manifest published under `XTASK_RELEASE_BASE_URL`.
fn updater_manifest(
    release: &ReleasePlan,
    dir: &Path,
    files: &[PathBuf],
    keys: &ReleaseKeys,
) -> Result<Vec<PathBuf>> {
    let plan = &release.build;
    // The installers are published with the app's release: at the release URL for the
    // default app, in `<id>/` under it for another.
    let base_url = match release.base_url.as_deref().map(str::trim) {
        Some(base) if !base.is_empty() => format!(
            "{}/{}",
            base.trim_end_matches('/'),
            runtime_spec::layout::app_release_folder(&plan.app.names.id, plan.app.is_default)
        ),
        _ => String::new(),
    };
    let mut written = Vec::new();
    let mut platforms: Vec<(String, String, String)> = Vec::new();
    for installer in files {
        let Some(kind) = updater_kind(plan.target, installer) else {
            continue;
        };
        // macOS: Tauri's updater replaces the `.app` from a `.app.tar.gz` of it (named
        // without spaces: GitHub renames release assets that have them).
        let artifact = if kind.ends_with("-app") {
            let tarball = dir.join(format!(
                "{}-{}-{}.app.tar.gz",
                plan.app.names.id, plan.version, plan.target
            ));
            tar_gz_app(installer, &tarball, plan.source_date_epoch)?;
            written.push(tarball.clone());
            tarball
        } else {
            installer.clone()
        };
        let name = artifact
            .file_name()
            .expect("an installer has a name")
            .to_string_lossy()
            .into_owned();
        let signature = release_meta::sign(
            &fs_err::read(&artifact)?,
            keys.secret.expose(),
            keys.password
                .as_ref()
                .map(|password| password.expose().as_str()),
            &release_meta::updater_trusted_comment(plan.source_date_epoch, &name, &plan.version),
        )?;
        let signature_path = dir.join(format!("{name}.sig"));
        fs_err::write(&signature_path, &signature)?;
        written.push(signature_path);
        platforms.push((kind, artifact_url(&base_url, &name), signature));
    }
    if base_url.trim().is_empty() && !platforms.is_empty() {
        ui::info(&format!(
            "{} lists bare file names: set {} for shells to update from it",
            runtime_spec::layout::shell_update_manifest_name(plan.channel),
            runtime_spec::env::RELEASE_BASE_URL
        ));
    }
    let platform_refs: Vec<(&str, &str, &str)> = platforms
        .iter()
        .map(|(key, url, signature)| (key.as_str(), url.as_str(), signature.as_str()))
        .collect();
    let latest = release_meta::tauri_latest_json(
        &plan.version,
        &format!("{} {}", plan.app.descriptor.product_name, plan.version),
        &release_meta::rfc3339_utc(plan.source_date_epoch),
        &platform_refs,
    )?;
    let path = dir.join(release_meta::shell_manifest_name(plan.channel));
    fs_err::write(&path, latest)?;
    written.push(path);
    Ok(written)
}

/// The `latest-<channel>.json` key of an installer Tauri's updater can apply, if it is one.
fn updater_kind(target: Target, installer: &Path) -> Option<String> {
    let name = installer.file_name()?.to_string_lossy();
    let (platform, kind) = match target {
        Target::LinuxX64 if name.ends_with(".deb") => ("linux-x86_64", "deb"),
        Target::LinuxX64 if name.ends_with(".AppImage") => ("linux-x86_64", "appimage"),
        Target::WindowsX64 if name.ends_with(".exe") => ("windows-x86_64", "nsis"),
        Target::WindowsX64 if name.ends_with(".msi") => ("windows-x86_64", "msi"),
        Target::MacosArm64 if name.ends_with(".app") && installer.is_dir() => {
            ("darwin-aarch64", "app")
        }
        _ => return None,
    };
    Some(format!("{platform}-{kind}"))
}

/// Where a published release file is downloaded from: `<base>/<name>`, or the bare name when
/// the release has no base URL.
fn artifact_url(base_url: &str, name: &str) -> String {
    let base = base_url.trim().trim_end_matches('/');
    if base.is_empty() {
        name.to_owned()
    } else {
        // File names like `<Product Name>_0.1.0_x64-setup.exe` carry spaces.
        format!("{base}/{}", name.replace(' ', "%20"))
    }
}

/// `<app>.tar.gz` holding `<name>.app/…` as Tauri's macOS updater expects: entries sorted,
/// uid/gid 0, one mtime, modes and symlinks kept (a signed bundle's `Contents/` links and
/// executable bits must survive), gzip without a timestamp.
fn tar_gz_app(app: &Path, out: &Path, source_date_epoch: u64) -> Result<()> {
    #[cfg(unix)]
    use std::os::unix::fs::PermissionsExt as _;
    let name = app.file_name().expect("an app has a name");
    let file = fs_err::File::create(out)?;
    let encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(file, flate2::Compression::best());
    let mut builder = tar::Builder::new(encoder);
    builder.follow_symlinks(false);
    for entry in walkdir::WalkDir::new(app).sort_by_file_name() {
        let entry = entry?;
        let relative = entry
            .path()
            .strip_prefix(app)
            .expect("walkdir stays under its root");
        let archive_path = if relative.as_os_str().is_empty() {
            PathBuf::from(name)
        } else {
            Path::new(name).join(relative)
        };
        let metadata = fs_err::symlink_metadata(entry.path())?;
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(source_date_epoch);
        if metadata.file_type().is_symlink() {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_mode(0o777);
            header.set_size(0);
            let target = fs_err::read_link(entry.path())?;
            builder.append_link(&mut header, &archive_path, target)?;
        } else if metadata.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            builder.append_data(&mut header, &archive_path, std::io::empty())?;
        } else {
            #[cfg(unix)]
            let executable = metadata.permissions().mode() & 0o111 != 0;
            #[cfg(not(unix))]
            let executable = false;
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(if executable { 0o755 } else { 0o644 });
            header.set_size(metadata.len());
            builder.append_data(
                &mut header,
                &archive_path,
                fs_err::File::open(entry.path())?,
            )?;
        }
    }
    builder
        .into_inner()?
        .finish()
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// `cargo xtask keygen`: prints a new minisign key pair for the release index and updater,
/// encrypted with `password` when one is given.
pub fn keygen(out_dir: &Path, password: Option<&Secret<String>>) -> Result<()> {
    use runtime_spec::env::{MINISIGN_KEY, UPDATE_PUBKEY};
    let password = password.map(|password| password.expose().as_str());
    let (public, secret) = release_meta::generate_keypair(password)?;
    fs_err::create_dir_all(out_dir)?;
    let public_path = out_dir.join("minisign.pub");
    let secret_path = out_dir.join("minisign.key");
    if secret_path.exists() {
        bail!(
            "{} exists: refusing to overwrite a signing key; choose another --out",
            secret_path.display()
        );
    }
    fs_err::write(&public_path, &public)?;
    write_private(&secret_path, &secret)?;
    ui::summary(&format!(
        "wrote {} and {}: store the secret key's text in the CI secret MINISIGN_SECRET_KEY (env {MINISIGN_KEY}) \
         and the public key's text in {UPDATE_PUBKEY}; never commit the secret key. Tauri updater pubkey: {}",
        public_path.display(),
        secret_path.display(),
        release_meta::tauri_pubkey(&public)
    ));
    Ok(())
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> Result<()> {
    fs_err::write(path, text)?;
    Ok(())
}

/// `cargo xtask index merge`: combines per-target fragments into one signed channel index
/// with `key` (the secret key and its password).
pub fn merge_index(
    channel: Channel,
    out: &Path,
    fragments: &[PathBuf],
    key: &(Secret<String>, Option<Secret<String>>),
) -> Result<()> {
    let parsed = fragments
        .iter()
        .map(|path| release_meta::read_index_file(path))
        .collect::<Result<Vec<_>, _>>()?;
    let merged = release_meta::merge_fragments(&parsed)?;
    if merged.channel != channel {
        bail!(
            "the fragments are for channel {}, not {}",
            merged.channel,
            channel.name()
        );
    }
    let (secret, password) = key;
    let (json, minisig) = release_meta::write_signed_index(
        &merged,
        out,
        secret.expose(),
        password.as_ref().map(|password| password.expose().as_str()),
    )?;
    ui::summary(&format!(
        "merged {} targets into {} (+ {})",
        merged.runtimes.len(),
        json.display(),
        minisig.display()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_lists_every_app_with_its_index_beside_or_in_its_folder() {
        let root = crate::plan::project_root();
        let version: runtime_spec::Version = "0.1.0".parse().unwrap();
        let registry = app_registry(&root, Channel::Beta, 1_800_000_000, &version).unwrap();
        let apps = crate::plan::App::all(&root).unwrap();
        assert_eq!(registry.apps.len(), apps.len());
        for app in &apps {
            let entry = registry.app(&app.names.id).unwrap();
            assert_eq!(entry.product_name, app.descriptor.product_name);
            let expected = if app.is_default {
                "runtime-beta.json".to_owned()
            } else {
                format!("{}/runtime-beta.json", app.names.id)
            };
            assert_eq!(entry.index_url, expected);
        }
        let parsed = runtime_spec::AppRegistry::from_json(registry.to_json().as_bytes()).unwrap();
        assert_eq!(parsed, registry);
    }

    #[test]
    fn updater_keys_per_installer_kind() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("Tokenizer Studio.app");
        fs_err::create_dir_all(&app).unwrap();
        for (target, path, expected) in [
            (
                Target::LinuxX64,
                PathBuf::from("a/ts_0.1.0_amd64.deb"),
                Some("linux-x86_64-deb"),
            ),
            (
                Target::LinuxX64,
                PathBuf::from("ts_0.1.0_x86_64.AppImage"),
                Some("linux-x86_64-appimage"),
            ),
            (Target::LinuxX64, PathBuf::from("runtime.tar.zst"), None),
            (
                Target::WindowsX64,
                PathBuf::from("ts_0.1.0_x64-setup.exe"),
                Some("windows-x86_64-nsis"),
            ),
            (
                Target::WindowsX64,
                PathBuf::from("ts_0.1.0_x64.msi"),
                Some("windows-x86_64-msi"),
            ),
            (Target::MacosArm64, app.clone(), Some("darwin-aarch64-app")),
            // The .dmg is for people; the updater replaces the .app.
            (
                Target::MacosArm64,
                PathBuf::from("ts_0.1.0_aarch64.dmg"),
                None,
            ),
            // A file that only looks like an app bundle.
            (Target::MacosArm64, dir.path().join("missing.app"), None),
        ] {
            assert_eq!(
                updater_kind(target, &path).as_deref(),
                expected,
                "{}",
                path.display()
            );
        }
    }

    #[test]
    fn artifact_urls_are_absolute_under_a_base() {
        assert_eq!(artifact_url("", "a.deb"), "a.deb");
        assert_eq!(
            artifact_url("https://dl.example/rel/", "a b.app.tar.gz"),
            "https://dl.example/rel/a%20b.app.tar.gz"
        );
    }

    #[cfg(unix)]
    #[test]
    fn app_tarball_keeps_modes_and_links_and_is_reproducible() {
        use std::io::Read as _;
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("Tokenizer Studio.app");
        let macos = app.join("Contents/MacOS");
        fs_err::create_dir_all(&macos).unwrap();
        fs_err::write(macos.join("tokenizer-studio"), b"\xcf\xfa\xed\xfe").unwrap();
        fsutil::symlink("MacOS/tokenizer-studio", &app.join("Contents/link")).unwrap();
        fs_err::write(app.join("Contents/Info.plist"), b"<plist/>").unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        fs_err::set_permissions(
            macos.join("tokenizer-studio"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        let first = dir.path().join("one.app.tar.gz");
        let second = dir.path().join("two.app.tar.gz");
        tar_gz_app(&app, &first, 1_700_000_000).unwrap();
        // Other mtimes, same tree: same bytes.
        fs_err::write(app.join("Contents/Info.plist"), b"<plist/>").unwrap();
        tar_gz_app(&app, &second, 1_700_000_000).unwrap();
        assert_eq!(
            fs_err::read(&first).unwrap(),
            fs_err::read(&second).unwrap()
        );

        let mut entries = Vec::new();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(
            fs_err::File::open(&first).unwrap(),
        ));
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let header = entry.header().clone();
            let mut body = Vec::new();
            entry.read_to_end(&mut body).unwrap();
            entries.push((
                entry.path().unwrap().display().to_string(),
                header.mode().unwrap(),
                header.entry_type(),
                header.link_name().unwrap().map(|l| l.display().to_string()),
                header.mtime().unwrap(),
            ));
        }
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "Tokenizer Studio.app",
                "Tokenizer Studio.app/Contents",
                "Tokenizer Studio.app/Contents/Info.plist",
                "Tokenizer Studio.app/Contents/MacOS",
                "Tokenizer Studio.app/Contents/MacOS/tokenizer-studio",
                "Tokenizer Studio.app/Contents/link",
            ]
        );
        assert_eq!(entries[4].1, 0o755, "the executable keeps its x bit");
        assert_eq!(entries[2].1, 0o644);
        assert!(entries[5].2.is_symlink());
        assert_eq!(entries[5].3.as_deref(), Some("MacOS/tokenizer-studio"));
        assert!(entries.iter().all(|e| e.4 == 1_700_000_000));
    }
}
