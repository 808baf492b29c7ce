//! Stage 7, manifest: stitch the stage outputs into `runtime/`, write `VERSION` and
//! `manifest.json`, pack the deterministic archive, and promote the result by rename.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use runtime_spec::manifest::MANIFEST_SCHEMA_VERSION;
use runtime_spec::{layout, LaunchContract, Manifest};

use crate::plan::{self, Plan};
use crate::{app, bytecode, fsutil, python, tools, ui, web, wheels};

/// What `cargo xtask runtime` produced.
pub struct RuntimeOutput {
    pub runtime_dir: PathBuf,
    pub archive: PathBuf,
    pub archive_sha256: String,
    pub unpacked_size: u64,
    pub archive_size: u64,
    pub rebuilt: bool,
}

/// Signs the native code of an assembled runtime before its manifest is hashed (macOS Mach-O,
/// Windows PE), so the archive carries signed files.
pub trait RuntimeSigner {
    /// Identifies the signing setup for the up-to-date check (no secrets).
    fn stamp(&self) -> String;
    /// Signs the files under `staging` in place (replacing, never editing, each file: staging
    /// files are hard links into the stage caches).
    fn sign(&self, staging: &Path) -> Result<()>;
}

/// Runtimes that carry no signatures (Linux; unsigned dev builds).
pub struct Unsigned;

impl RuntimeSigner for Unsigned {
    fn stamp(&self) -> String {
        "unsigned".into()
    }

    fn sign(&self, _staging: &Path) -> Result<()> {
        Ok(())
    }
}

/// Runs every runtime stage for `plan` without signing.
pub fn runtime(plan: &Plan) -> Result<RuntimeOutput> {
    runtime_signed(plan, &Unsigned)
}

/// Runs every runtime stage for `plan`; stages whose inputs are unchanged are reused, and a
/// build whose inputs are all unchanged returns at once.
pub fn runtime_signed(plan: &Plan, signer: &dyn RuntimeSigner) -> Result<RuntimeOutput> {
    let host_python = preflight(plan)?;
    let python = python::prepare(plan)?;
    compile_stdlib(plan, &python, &host_python)?;
    let site_packages = wheels::prepare(plan, &python.stamp, &host_python)?;
    let web_dist = web::build(&plan.app, &web_build_root(plan))?;
    let app_dir = app::prepare(&plan.app, &plan.root, &plan.build_dir, &host_python)?;

    let final_stamp = [
        python.stamp.clone(),
        read_stamp(&plan.build_dir.join("site-packages.stamp")),
        read_stamp(&plan.build_dir.join("app.stamp")),
        read_stamp(&web_build_root(plan).join("web.stamp")),
        format!(
            "version:{}:epoch:{}:zstd:{}",
            plan.version, plan.source_date_epoch, plan.zstd_level
        ),
        format!("archive:{}", plan.archive.display()),
        // The archive's member order and the manifest's object sizes come from the toolchain
        // itself: a runtime packed by an older one is rebuilt, not reused.
        format!(
            "format:manifest-first:window-log-{}:workers-{}:objects-zstd-{}",
            runtime_archive::ZSTD_WINDOW_LOG,
            plan::ZSTD_WORKERS,
            runtime_archive::objects::OBJECT_ZSTD_LEVEL
        ),
        format!("signing:{}", signer.stamp()),
    ]
    .join("\n");
    let stamp_file = plan.build_dir.join("runtime.stamp");
    let sha_file = sha256_file_for(&plan.archive);
    if fsutil::stamp_matches(&stamp_file, &final_stamp)
        && plan.runtime_dir.join(layout::MANIFEST_FILE).is_file()
        && plan.archive.is_file()
        && sha_file.is_file()
    {
        ui::step(
            "runtime",
            "up to date: nothing changed since the last build",
        );
        let manifest = read_manifest(&plan.runtime_dir)?;
        let archive_sha256 = fs_err::read_to_string(&sha_file)?
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        return Ok(RuntimeOutput {
            runtime_dir: plan.runtime_dir.clone(),
            archive: plan.archive.clone(),
            archive_sha256,
            unpacked_size: manifest.unpacked_size(),
            archive_size: fs_err::metadata(&plan.archive)?.len(),
            rebuilt: false,
        });
    }
    // A failed or interrupted build never touches the previous runtime: everything is
    // assembled in a sibling folder and promoted by rename at the very end.
    fsutil::remove_path(&stamp_file)?;
    ui::step("runtime", "assembling");
    let staging = fsutil::fresh_sibling(&plan.runtime_dir)?;
    let target = plan.target;
    let site_relative = Path::new(target.site_packages())
        .strip_prefix(layout::PYTHON_DIR)
        .expect("site-packages is under python/")
        .to_path_buf();
    fsutil::hardlink_tree(
        &python.dir,
        &staging.join(layout::PYTHON_DIR),
        &|relative| relative != site_relative,
    )?;
    let site_dest = runtime_spec::launch::join_relative(&staging, target.site_packages());
    fsutil::hardlink_tree(&site_packages, &site_dest, &|_| true)?;
    fs_err::write(
        site_dest.join(plan.app.names.pth_file()),
        format!("{}\n", layout::app_pth_line(target)),
    )?;
    fsutil::hardlink_tree(&app_dir, &staging.join(layout::APP_DIR), &|_| true)?;
    fsutil::copy_tree(&web_dist, &staging.join(layout::WEB_DIR), &|_| true)?;
    let wheelhouse = staging.join(layout::WHEELHOUSE_DIR);
    fs_err::create_dir_all(&wheelhouse)?;
    let lock_name = plan.lock_file.file_name().expect("lock has a name");
    fs_err::copy(&plan.lock_file, wheelhouse.join(lock_name))?;
    fs_err::write(
        staging.join(layout::VERSION_FILE),
        format!("{}\n", plan.version),
    )?;
    signer.sign(&staging)?;

    let hashing = Instant::now();
    let mut files = runtime_archive::build_manifest_files(&staging)
        .with_context(|| format!("hashing the files of {}", staging.display()))?;
    // Every file's object for the release's store, packed once per content across builds,
    // versions and variants; the manifest records each object's size. Packing is CPU-bound and
    // each object is its own single-threaded zstd frame, so every core helps and the worker
    // count never changes the bytes (docs/decisions/0020-object-store-delta-updates.md).
    let store = object_store(plan);
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    runtime_archive::objects::pack_objects(&staging, &mut files, &store, workers).with_context(
        || {
            format!(
                "packing the objects of {} into {}",
                staging.display(),
                store.display()
            )
        },
    )?;
    let manifest = Manifest {
        schema_version: MANIFEST_SCHEMA_VERSION,
        app_id: plan.app.descriptor.identifier.clone(),
        runtime_version: plan.version.clone(),
        target,
        profile: plan.variant.profile,
        accelerator: plan.variant.accelerator,
        requirements: Some(requirements(plan)?),
        python: python.info.clone(),
        lock_sha256: fsutil::sha256_file(&plan.lock_file)?.parse()?,
        launch: LaunchContract::for_app(&plan.app.names, target),
        files,
    };
    manifest.validate()?;
    fs_err::write(staging.join(layout::MANIFEST_FILE), manifest.to_json())?;
    let manifest_ref = release_meta::manifest_ref(&manifest);
    runtime_archive::objects::pack_object(
        &staging.join(layout::MANIFEST_FILE),
        &manifest_ref.sha256,
        &store,
    )?;
    ui::verbose(&format!(
        "manifest: {} files hashed and packed as objects in {:.1?}",
        manifest.files.len(),
        hashing.elapsed()
    ));

    ui::step(
        "archive",
        &format!(
            "packing {} (zstd level {})",
            plan.archive.display(),
            plan.zstd_level
        ),
    );
    let spinner = ui::spinner("zstd");
    let options = runtime_archive::PackOptions {
        source_date_epoch: plan.source_date_epoch,
        zstd_level: plan.zstd_level,
        zstd_workers: plan::ZSTD_WORKERS,
    };
    let packed = runtime_archive::pack_tar_zst(&staging, &plan.archive, &options)
        .with_context(|| format!("packing {}", plan.archive.display()))?;
    spinner.finish_and_clear();
    fsutil::replace_dir(&staging, &plan.runtime_dir)?;
    fsutil::write_stamp(&stamp_file, &final_stamp)?;
    Ok(RuntimeOutput {
        runtime_dir: plan.runtime_dir.clone(),
        archive: plan.archive.clone(),
        archive_sha256: packed.sha256,
        unpacked_size: manifest.unpacked_size(),
        archive_size: packed.size,
        rebuilt: true,
    })
}

/// What a machine needs to run the variant: the variant's fixed part, and for CUDA the driver
/// and GPU of the CUDA version its lock pins (`cuda-toolkit==13.2.2` → 13.2).
fn requirements(plan: &Plan) -> Result<runtime_spec::Requirements> {
    let requirements = plan.variant.base_requirements();
    if plan.variant.accelerator != runtime_spec::Accelerator::Cuda {
        return Ok(requirements);
    }
    let lock_text = fs_err::read_to_string(&plan.lock_file)?;
    let cuda = crate::lock::cuda_version(&lock_text).with_context(|| {
        format!(
            "{} pins no cuda-toolkit or nvidia-cuda-runtime package: the CUDA version of the {} runtime (and so the driver it needs) is unknown",
            plan.lock_file.display(),
            plan.variant
        )
    })?;
    requirements
        .for_cuda(plan.target, &cuda)
        .with_context(|| {
            format!(
                "the {} lock pins CUDA {cuda}, which runtime_spec::Requirements::for_cuda does not know: add its driver and compute capability there",
                plan.variant
            )
        })
}

/// Forgets that the last build is up to date (its smoke tests failed).
pub fn invalidate(plan: &Plan) {
    let _ = fsutil::remove_path(&plan.build_dir.join("runtime.stamp"));
}

/// Fails fast, before any download, when a tool the build needs is missing; returns the host
/// CPython 3.12.
pub fn preflight(plan: &Plan) -> Result<PathBuf> {
    let host_python = tools::host_python312()?;
    ui::verbose(&format!("host CPython 3.12: {}", host_python.display()));
    let uv = tools::uv(&plan.cache_dir)?;
    ui::verbose(&format!("uv {}: {}", tools::UV_VERSION, uv.display()));
    web::check_tools(&plan.app, &web_build_root(plan))?;
    Ok(host_python)
}

/// The build's object store, shared by every variant: `target/runtime-build/objects/`, laid
/// out like a release's `objects/` ([`runtime_spec::layout::object_path`]).
/// The build's content-addressed object store: one for every app and variant, so the files two
/// runtimes share (the Python, the wheels) are packed once.
pub fn object_store(plan: &Plan) -> PathBuf {
    plan.root
        .join("target")
        .join("runtime-build")
        .join(layout::OBJECTS_DIR)
}

fn web_build_root(plan: &Plan) -> PathBuf {
    plan.build_dir
        .parent()
        .expect("build dir has a parent")
        .to_path_buf()
}

/// The stdlib is compiled once per interpreter tree, in the tree itself.
fn compile_stdlib(plan: &Plan, python: &python::PythonTree, host_python: &Path) -> Result<()> {
    let stamp_file = plan.build_dir.join(python::STDLIB_STAMP);
    if fsutil::stamp_matches(&stamp_file, &python.stamp) {
        return Ok(());
    }
    ui::step(
        "bytecode",
        "compiling the standard library (unchecked-hash .pyc)",
    );
    bytecode::compile_tree(host_python, &python.dir, layout::PYTHON_DIR)?;
    fsutil::write_stamp(&stamp_file, &python.stamp)
}

fn read_stamp(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// `<archive>.sha256`.
pub fn sha256_file_for(archive: &Path) -> PathBuf {
    let mut name = archive.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// Reads and validates `<dir>/manifest.json`.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(layout::MANIFEST_FILE);
    let bytes = fs_err::read(&path)?;
    Manifest::from_json(&bytes).with_context(|| format!("reading {}", path.display()))
}
