//! The release's content-addressed object store (`docs/runtime-contract.md`, "Object store"):
//! each runtime file once, as one zstd frame of its bytes, at
//! [`runtime_spec::layout::object_path`] of their sha256.
//!
//! Packing is deterministic (fixed level, single-threaded, no dictionary), so two builds of the
//! same bytes publish the same object and a store can be merged across versions and variants
//! by copying files. Unpacking treats the object as untrusted: it never writes a byte beyond
//! the size the signed manifest declares, and the result counts only when its sha256 matches.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use runtime_spec::{FileEntry, Sha256};
use sha2::Digest;

use crate::error::{io_at, Error, Result};

/// zstd level of every object: the archive's level (`docs/decisions/0006-zstd-level-9.md`),
/// where a file-by-file pack of the base runtime costs a few seconds once per new file.
pub const OBJECT_ZSTD_LEVEL: i32 = 9;

/// The largest object a file of `size` bytes can honestly pack to: zstd's worst case
/// (`ZSTD_COMPRESSBOUND`) plus the frame header. A download is refused past it even before
/// the manifest's own `packed_size` is consulted.
pub fn max_packed_size(size: u64) -> u64 {
    size + size / 256 + 64 * 1024
}

/// Where the object of `sha256` lives in `store`, a folder laid out like the release's
/// `objects/` ([`runtime_spec::layout::object_path`] without its first component).
pub fn object_file(store: &Path, sha256: &Sha256) -> PathBuf {
    let hex = sha256.to_hex();
    store.join(&hex[..2]).join(format!("{hex}.zst"))
}

/// Packs `source` (whose bytes hash to `sha256`) into its object below `store` unless it is
/// already there; returns the object's size. Written to a temp file and renamed, so a store
/// never holds a partial object.
pub fn pack_object(source: &Path, sha256: &Sha256, store: &Path) -> Result<u64> {
    let object = object_file(store, sha256);
    if let Ok(metadata) = std::fs::metadata(&object) {
        return Ok(metadata.len());
    }
    let parent = object.parent().expect("objects live in a fan-out folder");
    fs_err::create_dir_all(parent).map_err(io_at(parent))?;
    let temp = tempfile::Builder::new()
        .prefix(".object.")
        .suffix(".part")
        .tempfile_in(parent)
        .map_err(io_at(parent))?;
    let input = File::open(source).map_err(io_at(source))?;
    let mut encoder = zstd::stream::write::Encoder::new(temp.as_file(), OBJECT_ZSTD_LEVEL)
        .map_err(io_at(temp.path()))?;
    // The frame records the content size, so an unpacker can refuse a lying frame early.
    encoder
        .set_pledged_src_size(Some(input.metadata().map_err(io_at(source))?.len()))
        .map_err(io_at(temp.path()))?;
    encoder
        .include_checksum(false)
        .map_err(io_at(temp.path()))?;
    std::io::copy(
        &mut BufReader::with_capacity(256 * 1024, input),
        &mut encoder,
    )
    .map_err(io_at(source))?;
    encoder.finish().map_err(io_at(temp.path()))?;
    let size = temp.as_file().metadata().map_err(io_at(temp.path()))?.len();
    temp.persist(&object)
        .map_err(|error| Error::io(&object, error.error))?;
    Ok(size)
}

/// Packs every file of `dir` listed in `files` into `store` and records each object's size in
/// its entry. Files with the same sha256 are packed once. Runs on up to `workers` threads.
pub fn pack_objects(
    dir: &Path,
    files: &mut [FileEntry],
    store: &Path,
    workers: usize,
) -> Result<()> {
    let workers = workers.max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let sizes: Vec<Result<u64>> = {
        let entries: &[FileEntry] = files;
        let results = std::sync::Mutex::new((0..entries.len()).map(|_| None).collect::<Vec<_>>());
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    let at = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(entry) = entries.get(at) else { break };
                    let source = runtime_spec::launch::join_relative(dir, &entry.path);
                    let result = pack_object(&source, &entry.sha256, store);
                    results.lock().expect("no worker panics holding it")[at] = Some(result);
                });
            }
        });
        results
            .into_inner()
            .expect("no worker panicked")
            .into_iter()
            .map(|result| result.expect("every index was taken by a worker"))
            .collect()
    };
    for (entry, size) in files.iter_mut().zip(sizes) {
        entry.packed_size = Some(size?);
    }
    Ok(())
}

/// Why an object could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectFault {
    /// It unpacks to more bytes than the manifest declares (stopped at the first one beyond).
    TooLarge { declared: u64 },
    /// It ends before the declared size.
    TooShort { declared: u64, unpacked: u64 },
    /// Its bytes are not the declared ones.
    WrongSha256 { expected: Sha256, actual: Sha256 },
    /// Not a zstd frame, or a damaged one.
    Corrupt { reason: String },
}

impl std::fmt::Display for ObjectFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ObjectFault::TooLarge { declared } => {
                write!(
                    f,
                    "it unpacks to more than the {declared} bytes the manifest declares"
                )
            }
            ObjectFault::TooShort { declared, unpacked } => write!(
                f,
                "it unpacks to {unpacked} bytes, the manifest declares {declared}"
            ),
            ObjectFault::WrongSha256 { expected, actual } => {
                write!(
                    f,
                    "its bytes hash to {actual}, the manifest says {expected}"
                )
            }
            ObjectFault::Corrupt { reason } => write!(f, "it is not a valid zstd frame ({reason})"),
        }
    }
}

/// What went wrong unpacking an object: its bytes, or the disk being written.
#[derive(Debug)]
pub enum UnpackError {
    Object(ObjectFault),
    Write(std::io::Error),
}

/// Unpacks one object from `packed` into `out`, hashing as it goes: writes at most `size`
/// bytes (the first byte beyond is never written) and succeeds only when the bytes are exactly
/// `size` long and hash to `sha256`. The caller deletes `out` on error.
pub fn unpack_object(
    packed: impl Read,
    out: &mut impl Write,
    size: u64,
    sha256: &Sha256,
) -> std::result::Result<(), UnpackError> {
    let corrupt = |error: std::io::Error| {
        UnpackError::Object(ObjectFault::Corrupt {
            reason: error.to_string(),
        })
    };
    let mut decoder = zstd::stream::read::Decoder::new(packed).map_err(corrupt)?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        let n = match decoder.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(corrupt(error)),
        };
        if written + n as u64 > size {
            return Err(UnpackError::Object(ObjectFault::TooLarge {
                declared: size,
            }));
        }
        out.write_all(&buffer[..n]).map_err(UnpackError::Write)?;
        hasher.update(&buffer[..n]);
        written += n as u64;
    }
    if written != size {
        return Err(UnpackError::Object(ObjectFault::TooShort {
            declared: size,
            unpacked: written,
        }));
    }
    let actual = Sha256::from_bytes(hasher.finalize().into());
    if actual != *sha256 {
        return Err(UnpackError::Object(ObjectFault::WrongSha256 {
            expected: *sha256,
            actual,
        }));
    }
    Ok(())
}

/// Packs bytes in memory the way [`pack_object`] packs a file (the release index's manifest
/// reference needs the packed size of a manifest that is not on disk yet).
pub fn pack_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = zstd::stream::write::Encoder::new(&mut out, OBJECT_ZSTD_LEVEL)
        .expect("zstd accepts the object level");
    encoder
        .set_pledged_src_size(Some(bytes.len() as u64))
        .expect("a pledged size is accepted before the first byte");
    encoder
        .include_checksum(false)
        .expect("a frame parameter is accepted before the first byte");
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(bytes: &[u8]) -> Sha256 {
        Sha256::from_bytes(sha2::Sha256::digest(bytes).into())
    }

    #[test]
    fn objects_round_trip_and_are_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("file");
        let bytes: Vec<u8> = (0..200_000u32)
            .flat_map(|n| (n % 251).to_le_bytes())
            .collect();
        std::fs::write(&source, &bytes).unwrap();
        let store = dir.path().join("objects");
        let size = pack_object(&source, &sha(&bytes), &store).unwrap();
        let object = object_file(&store, &sha(&bytes));
        assert!(object.ends_with(format!("{}.zst", sha(&bytes))));
        let packed = std::fs::read(&object).unwrap();
        assert_eq!(packed.len() as u64, size);
        assert_eq!(packed, pack_bytes(&bytes), "file and memory packing agree");
        let mut out = Vec::new();
        unpack_object(&packed[..], &mut out, bytes.len() as u64, &sha(&bytes)).unwrap();
        assert_eq!(out, bytes);
    }

    #[test]
    fn unpacking_never_writes_beyond_the_declared_size() {
        let bytes = vec![7u8; 100_000];
        let packed = pack_bytes(&bytes);
        let mut out = Vec::new();
        let error = unpack_object(&packed[..], &mut out, 1000, &sha(&bytes)).unwrap_err();
        assert!(matches!(
            error,
            UnpackError::Object(ObjectFault::TooLarge { declared: 1000 })
        ));
        assert!(out.len() <= 1000, "wrote {} bytes", out.len());
    }

    #[test]
    fn unpacking_refuses_wrong_short_and_corrupt_objects() {
        let bytes = b"print('hello')\n".to_vec();
        let packed = pack_bytes(&bytes);
        let other = sha(b"something else");
        let error = unpack_object(&packed[..], &mut Vec::new(), bytes.len() as u64, &other);
        assert!(matches!(
            error,
            Err(UnpackError::Object(ObjectFault::WrongSha256 { .. }))
        ));
        let error = unpack_object(&packed[..], &mut Vec::new(), 100, &sha(&bytes));
        assert!(matches!(
            error,
            Err(UnpackError::Object(ObjectFault::TooShort { .. }))
        ));
        let error = unpack_object(&b"not zstd"[..], &mut Vec::new(), 8, &sha(&bytes));
        assert!(matches!(
            error,
            Err(UnpackError::Object(ObjectFault::Corrupt { .. }))
        ));
        let error = unpack_object(
            &packed[..packed.len() - 3],
            &mut Vec::new(),
            15,
            &sha(&bytes),
        );
        assert!(error.is_err());
    }

    #[test]
    fn the_packed_bound_covers_incompressible_bytes() {
        let bytes: Vec<u8> = (0..300_000u64)
            .map(|n| (n.wrapping_mul(6364136223846793005).rotate_left(17) >> 56) as u8)
            .collect();
        assert!(pack_bytes(&bytes).len() as u64 <= max_packed_size(bytes.len() as u64));
        assert!(pack_bytes(b"").len() as u64 <= max_packed_size(0));
    }
}
