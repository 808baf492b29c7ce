//! The release's object store (`docs/runtime-contract.md`, "Object store"), checked the way a
//! client uses it: the signed index names each variant's manifest object, the manifest names
//! every file's object with its packed size, and each object unpacks to the bytes named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use runtime_archive::objects::{max_packed_size, unpack_object, UnpackError};
use runtime_spec::{layout, Manifest, ReleaseIndex, Sha256, Target};

/// What a release's `objects/` holds, for the test's report.
#[derive(Debug)]
pub struct PublishedObjects {
    /// Distinct objects.
    pub objects: usize,
    /// Their packed bytes.
    pub bytes: u64,
    /// Files of all published manifests, and the manifests themselves.
    pub files: usize,
    /// Objects named by more than one variant.
    pub shared: usize,
}

/// One object a manifest (or the index) promises: where it is and what it unpacks to.
struct Promised {
    /// `objects/<aa>/<sha256>.zst`, relative to the release folder.
    path: String,
    sha256: Sha256,
    size: u64,
    packed_size: u64,
    /// The file of the runtime it stands for, for messages.
    name: String,
}

/// The `objects/…` path of every object `manifest` promises, its own object (`manifest_sha256`)
/// included: the set a build of that runtime alone must have packed.
pub fn promised_paths(manifest: &Manifest, manifest_sha256: &Sha256) -> BTreeSet<String> {
    manifest
        .files
        .iter()
        .map(|file| layout::object_path(&file.sha256))
        .chain(std::iter::once(layout::object_path(manifest_sha256)))
        .collect()
}

/// Checks `objects/` of the `0.1.0` release in `out_dir` against its signed-to-be index for
/// `target` (`runtime-dev.json`) and the runtime folders beside it:
///
/// - each index entry's `manifest` reference is the runtime's `manifest.json` (sha256, size),
///   and its object unpacks to exactly those bytes;
/// - every file of that manifest has its object, whose size is the manifest's `packed_size`
///   (within zstd's bound for the file's size) and which unpacks to the file's size and sha256;
/// - `objects/` holds nothing else: no other object, no temp file, only two-hex-digit fan-out
///   folders;
/// - `SHA256SUMS` lists no object (each is verified by its name).
pub fn check_release_objects(out_dir: &Path, target: Target) -> PublishedObjects {
    let started = Instant::now();
    let release = out_dir.join("0.1.0");
    let index = ReleaseIndex::from_json(
        &std::fs::read(release.join(layout::index_file_name(runtime_spec::Channel::Dev))).unwrap(),
    )
    .unwrap();
    let entries = index.entries(target);
    assert!(!entries.is_empty(), "the index lists no {target} runtime");

    let mut promised: BTreeMap<String, Promised> = BTreeMap::new();
    let mut variants_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = 0;
    for entry in entries {
        let variant = entry.variant(target).name();
        let runtime_manifest = std::fs::read(
            out_dir
                .join(format!("runtime-{variant}"))
                .join(layout::MANIFEST_FILE),
        )
        .unwrap();
        assert_eq!(
            entry.manifest.sha256.to_hex(),
            test_support::sha256_hex(&runtime_manifest),
            "{variant}: the index's manifest reference is not the runtime's manifest.json"
        );
        assert_eq!(
            entry.manifest.size,
            runtime_manifest.len() as u64,
            "{variant}"
        );
        // A client reads the manifest from its object, not from the archive.
        let manifest_object = release.join(layout::object_path(&entry.manifest.sha256));
        assert_eq!(
            std::fs::metadata(&manifest_object).unwrap().len(),
            entry.manifest.packed_size,
            "{variant}: the manifest object's size is not the index's packed_size"
        );
        let mut unpacked = Vec::new();
        unpack(
            &manifest_object,
            &mut unpacked,
            entry.manifest.size,
            &entry.manifest.sha256,
        )
        .unwrap_or_else(|fault| panic!("{variant}: the manifest object: {fault}"));
        assert_eq!(unpacked, runtime_manifest, "{variant}");
        let manifest = Manifest::from_json(&unpacked).unwrap();

        let listed = manifest
            .files
            .iter()
            .map(|file| {
                let packed_size = file
                    .packed_size
                    .unwrap_or_else(|| panic!("{variant}: {} has no packed_size", file.path));
                (file.path.clone(), file.sha256, file.size, packed_size)
            })
            .chain(std::iter::once((
                layout::MANIFEST_FILE.to_owned(),
                entry.manifest.sha256,
                entry.manifest.size,
                entry.manifest.packed_size,
            )));
        for (name, sha256, size, packed_size) in listed {
            files += 1;
            assert!(
                packed_size <= max_packed_size(size),
                "{variant}: {name} declares a {packed_size}-byte object for {size} bytes"
            );
            let path = layout::object_path(&sha256);
            variants_of
                .entry(path.clone())
                .or_default()
                .insert(variant.clone());
            let earlier = promised.entry(path.clone()).or_insert(Promised {
                path,
                sha256,
                size,
                packed_size,
                name: format!("{variant}: {name}"),
            });
            // One name, one object: every variant must agree on what it is.
            assert_eq!(
                (earlier.size, earlier.packed_size),
                (size, packed_size),
                "{variant}: {name} and {} name the same object with other sizes",
                earlier.name
            );
        }
    }

    // Nothing but the promised objects, in their fan-out folders.
    let store = release.join(layout::OBJECTS_DIR);
    let mut found = BTreeSet::new();
    for entry in walkdir::WalkDir::new(&store).min_depth(1) {
        let entry = entry.unwrap();
        let relative = entry
            .path()
            .strip_prefix(&release)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if entry.file_type().is_dir() {
            let name = entry.file_name().to_string_lossy();
            assert!(
                entry.depth() == 1
                    && name.len() == 2
                    && name
                        .bytes()
                        .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f')),
                "{relative}: not a fan-out folder of objects/"
            );
            continue;
        }
        assert!(
            entry.file_type().is_file(),
            "{relative}: neither an object nor a fan-out folder"
        );
        found.insert(relative);
    }
    let expected: BTreeSet<String> = promised.keys().cloned().collect();
    let stray: Vec<&String> = found.difference(&expected).take(10).collect();
    let missing: Vec<&String> = expected.difference(&found).take(10).collect();
    assert!(
        stray.is_empty() && missing.is_empty(),
        "objects/ differs from what the manifests promise: stray {stray:?}, missing {missing:?}"
    );

    let sums = std::fs::read_to_string(release.join("SHA256SUMS")).unwrap();
    assert!(
        !sums.contains(layout::OBJECTS_DIR),
        "SHA256SUMS lists objects:\n{sums}"
    );

    // Every object, largest first over every core: the bytes a client would install.
    let mut work: Vec<&Promised> = promised.values().collect();
    work.sort_by_key(|object| std::cmp::Reverse(object.size));
    let failures = std::sync::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let taken = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(object) = work.get(taken) else { break };
                let path = release.join(&object.path);
                let packed = std::fs::metadata(&path).unwrap().len();
                let result = if packed != object.packed_size {
                    Err(format!(
                        "{} bytes, the manifest says {}",
                        packed, object.packed_size
                    ))
                } else {
                    unpack(&path, &mut std::io::sink(), object.size, &object.sha256)
                };
                if let Err(fault) = result {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("{} ({}): {fault}", object.path, object.name));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} objects are not what their manifest says:\n{}",
        failures.len(),
        promised.len(),
        failures[..failures.len().min(10)].join("\n")
    );

    let published = PublishedObjects {
        objects: promised.len(),
        bytes: promised.values().map(|object| object.packed_size).sum(),
        files,
        shared: variants_of.values().filter(|names| names.len() > 1).count(),
    };
    eprintln!(
        "OBJECTS {target}: {} objects, {:.1} MB, for {} files of {} variants ({} shared), checked in {:.1} s",
        published.objects,
        published.bytes as f64 / 1e6,
        published.files,
        entries.len(),
        published.shared,
        started.elapsed().as_secs_f64()
    );
    published
}

/// Unpacks the object file at `path` into `out` as a client does, with the fault as text.
fn unpack(
    path: &Path,
    out: &mut impl std::io::Write,
    size: u64,
    sha256: &Sha256,
) -> Result<(), String> {
    let file = std::fs::File::open(path).map_err(|error| error.to_string())?;
    unpack_object(std::io::BufReader::new(file), out, size, sha256).map_err(|error| match error {
        UnpackError::Object(fault) => fault.to_string(),
        UnpackError::Write(error) => error.to_string(),
    })
}

/// Every file below the object store `store` (a folder named `objects`) by its path relative to
/// the store's parent, as [`layout::object_path`] names it, with its size and sha256: two stores
/// with the same listing hold the same objects, byte for byte.
pub fn store_listing(store: &Path) -> BTreeMap<String, (u64, String)> {
    let parent = store.parent().unwrap();
    crate::support::files_under(store)
        .into_iter()
        .map(|path: PathBuf| {
            let bytes = std::fs::read(&path).unwrap();
            let relative = path
                .strip_prefix(parent)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (
                relative,
                (bytes.len() as u64, test_support::sha256_hex(&bytes)),
            )
        })
        .collect()
}
