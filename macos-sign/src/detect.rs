//! Finds the Mach-O files in a folder by their magic bytes, never by file name.

use std::cmp::Reverse;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::Result;

/// What a Mach-O file is, as far as signing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MachoKind {
    /// `MH_EXECUTE`: a program (the interpreter). Gets the entitlements.
    Executable,
    /// `MH_DYLIB`, `MH_BUNDLE` (Python extension modules) or `MH_DYLINKER`: loaded into a process.
    Library,
}

/// A Mach-O file found under a root folder.
#[derive(Debug, Clone)]
pub(crate) struct FoundMacho {
    pub path: PathBuf,
    /// Path relative to the root, with `/` separators on every host.
    pub relative: String,
    pub kind: MachoKind,
}

/// The Mach-O files under a folder, in signing order, and the symlinks passed over.
#[derive(Debug, Default)]
pub(crate) struct MachoScan {
    pub files: Vec<FoundMacho>,
    pub n_symlinks_skipped: usize,
}

const MH_MAGIC: u32 = 0xfeed_face;
const MH_MAGIC_64: u32 = 0xfeed_facf;
const FAT_MAGIC: u32 = 0xcafe_babe;
const FAT_MAGIC_64: u32 = 0xcafe_babf;
const MH_EXECUTE: u32 = 0x2;
const MH_DYLIB: u32 = 0x6;
const MH_DYLINKER: u32 = 0x7;
const MH_BUNDLE: u32 = 0x8;
/// Java class files share `cafebabe` with fat Mach-O; the next word is then the class file
/// version (major >= 45), while real universal binaries hold a handful of architectures.
const MAX_FAT_ARCHS: u32 = 16;

/// Reads the start of `path` and says whether it is a signable Mach-O (thin or universal).
///
/// Object files, dSYM companions and anything else are `None`: they are not loaded by dyld and
/// codesign does not sign them either.
pub fn macho_kind(path: &Path) -> Result<Option<MachoKind>> {
    let mut file = fs_err::File::open(path)?;
    let mut header = [0u8; 16];
    if read_up_to(&mut file, &mut header)? < 8 {
        return Ok(None);
    }
    let be = u32::from_be_bytes(header[0..4].try_into().expect("4 bytes"));
    let le = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes"));
    if [MH_MAGIC, MH_MAGIC_64].contains(&le) {
        return Ok(thin_kind(&header, u32::from_le_bytes));
    }
    if [MH_MAGIC, MH_MAGIC_64].contains(&be) {
        return Ok(thin_kind(&header, u32::from_be_bytes));
    }
    // Universal headers are big-endian on disk (`cafebabe`); `bebafeca` is the same header
    // written little-endian, which no Apple tool produces but costs nothing to accept.
    let word: fn([u8; 4]) -> u32 = if [FAT_MAGIC, FAT_MAGIC_64].contains(&be) {
        u32::from_be_bytes
    } else if [FAT_MAGIC, FAT_MAGIC_64].contains(&le) {
        u32::from_le_bytes
    } else {
        return Ok(None);
    };
    let is_64 = word(header[0..4].try_into().expect("4 bytes")) == FAT_MAGIC_64;
    let n_archs = word(header[4..8].try_into().expect("4 bytes"));
    if n_archs == 0 || n_archs > MAX_FAT_ARCHS {
        return Ok(None);
    }
    // The first fat_arch starts at byte 8: cputype, cpusubtype, then the slice offset
    // (u32 in fat_arch, u64 in fat_arch_64).
    let mut arch = [0u8; 16];
    file.seek(SeekFrom::Start(8))?;
    if read_up_to(&mut file, &mut arch)? < 16 {
        return Ok(None);
    }
    let slice_offset = if is_64 {
        let high = word(arch[8..12].try_into().expect("4 bytes")) as u64;
        let low = word(arch[12..16].try_into().expect("4 bytes")) as u64;
        (high << 32) | low
    } else {
        word(arch[8..12].try_into().expect("4 bytes")) as u64
    };
    file.seek(SeekFrom::Start(slice_offset))?;
    let mut slice_header = [0u8; 16];
    if read_up_to(&mut file, &mut slice_header)? < 16 {
        return Ok(None);
    }
    let slice_le = u32::from_le_bytes(slice_header[0..4].try_into().expect("4 bytes"));
    let slice_be = u32::from_be_bytes(slice_header[0..4].try_into().expect("4 bytes"));
    if [MH_MAGIC, MH_MAGIC_64].contains(&slice_le) {
        Ok(thin_kind(&slice_header, u32::from_le_bytes))
    } else if [MH_MAGIC, MH_MAGIC_64].contains(&slice_be) {
        Ok(thin_kind(&slice_header, u32::from_be_bytes))
    } else {
        // A `cafebabe` file whose first slice is not Mach-O is a Java class or garbage.
        Ok(None)
    }
}

fn thin_kind(header: &[u8; 16], word: fn([u8; 4]) -> u32) -> Option<MachoKind> {
    // mach_header: magic, cputype, cpusubtype, filetype, ...
    match word(header[12..16].try_into().expect("4 bytes")) {
        MH_EXECUTE => Some(MachoKind::Executable),
        MH_DYLIB | MH_DYLINKER | MH_BUNDLE => Some(MachoKind::Library),
        _ => None,
    }
}

fn read_up_to(file: &mut fs_err::File, buf: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Every signable Mach-O file under `root` (relative paths, `/`-separated), in signing order.
///
/// Symlinks are not followed: the file they point at is found (and signed) once under its own
/// name. The order is innermost first: libraries before executables, then deeper paths first,
/// then by path, so a file is never signed before something it could seal.
pub fn find_macho_files(root: &Path) -> Result<Vec<(String, MachoKind)>> {
    Ok(scan(root)?
        .files
        .into_iter()
        .map(|found| (found.relative, found.kind))
        .collect())
}

pub(crate) fn scan(root: &Path) -> Result<MachoScan> {
    let mut scan = MachoScan::default();
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let entry = entry.map_err(|error| {
            let path = error.path().unwrap_or(root).to_path_buf();
            std::io::Error::other(format!("cannot walk {}: {error}", path.display()))
        })?;
        if entry.path_is_symlink() {
            scan.n_symlinks_skipped += 1;
            continue;
        }
        if !entry.file_type().is_file() {
            continue;
        }
        let Some(kind) = macho_kind(entry.path())? else {
            continue;
        };
        let relative = entry
            .path()
            .strip_prefix(root)
            .expect("walkdir yields paths under its root")
            .components()
            .map(|component| component.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        scan.files.push(FoundMacho {
            path: entry.path().to_path_buf(),
            relative,
            kind,
        });
    }
    scan.files
        .sort_by(|a, b| signing_order_key(a).cmp(&signing_order_key(b)));
    Ok(scan)
}

fn signing_order_key(found: &FoundMacho) -> (bool, Reverse<usize>, &str) {
    (
        found.kind == MachoKind::Executable,
        Reverse(found.relative.matches('/').count()),
        found.relative.as_str(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(bytes: &[u8]) -> Option<MachoKind> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        std::fs::write(&path, bytes).unwrap();
        macho_kind(&path).unwrap()
    }

    fn thin_le(filetype: u32) -> Vec<u8> {
        let mut bytes = vec![];
        bytes.extend(MH_MAGIC_64.to_le_bytes());
        bytes.extend(0x0100_000cu32.to_le_bytes()); // CPU_TYPE_ARM64
        bytes.extend(0u32.to_le_bytes());
        bytes.extend(filetype.to_le_bytes());
        bytes.extend([0u8; 16]);
        bytes
    }

    fn fat(n_archs: u32, slice: &[u8]) -> Vec<u8> {
        let mut bytes = vec![];
        bytes.extend(FAT_MAGIC.to_be_bytes());
        bytes.extend(n_archs.to_be_bytes());
        bytes.extend(0x0100_000cu32.to_be_bytes());
        bytes.extend(0u32.to_be_bytes());
        bytes.extend(64u32.to_be_bytes()); // slice offset
        bytes.extend((slice.len() as u32).to_be_bytes());
        bytes.extend(0u32.to_be_bytes());
        bytes.resize(64, 0);
        bytes.extend(slice);
        bytes
    }

    #[test]
    fn magic_bytes_table() {
        let java_class = {
            let mut bytes = FAT_MAGIC.to_be_bytes().to_vec();
            bytes.extend([0, 0, 0, 65]); // minor 0, major 65 (Java 21)
            bytes.extend([0u8; 64]);
            bytes
        };
        let cases: Vec<(&str, Vec<u8>, Option<MachoKind>)> = vec![
            (
                "thin executable",
                thin_le(MH_EXECUTE),
                Some(MachoKind::Executable),
            ),
            ("thin dylib", thin_le(MH_DYLIB), Some(MachoKind::Library)),
            (
                "thin bundle (.so)",
                thin_le(MH_BUNDLE),
                Some(MachoKind::Library),
            ),
            ("object file", thin_le(1), None),
            (
                "fat with one dylib",
                fat(1, &thin_le(MH_DYLIB)),
                Some(MachoKind::Library),
            ),
            ("fat with garbage slice", fat(1, &[0u8; 32]), None),
            ("java class", java_class, None),
            ("fat with absurd count", fat(1000, &thin_le(MH_DYLIB)), None),
            ("text", b"#!/bin/sh\necho hi\n".to_vec(), None),
            ("tiny", vec![0xcf, 0xfa], None),
        ];
        for (name, bytes, expected) in cases {
            assert_eq!(kind_of(&bytes), expected, "{name}");
        }
    }

    #[test]
    fn signing_order_is_innermost_first_and_executables_last() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (relative, filetype) in [
            ("bin/python3.12", MH_EXECUTE),
            ("lib/libpython3.12.dylib", MH_DYLIB),
            ("lib/python3.12/lib-dynload/_ssl.so", MH_BUNDLE),
            (
                "lib/python3.12/site-packages/tokenizers/tokenizers.abi3.so",
                MH_BUNDLE,
            ),
        ] {
            let path = root.join(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, thin_le(filetype)).unwrap();
        }
        std::fs::write(root.join("lib/readme.txt"), "not a binary").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("python3.12", root.join("bin/python3")).unwrap();

        let order: Vec<String> = find_macho_files(root)
            .unwrap()
            .into_iter()
            .map(|(relative, _)| relative)
            .collect();
        assert_eq!(
            order,
            [
                "lib/python3.12/site-packages/tokenizers/tokenizers.abi3.so",
                "lib/python3.12/lib-dynload/_ssl.so",
                "lib/libpython3.12.dylib",
                "bin/python3.12",
            ]
        );
    }
}
