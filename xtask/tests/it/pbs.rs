//! Synthetic python-build-standalone-layout archives for targets whose real archive cannot be
//! downloaded here (GitHub is unreachable); nothing of a foreign target is executed.

use runtime_spec::Target;
use sha2::{Digest, Sha256};

/// The smallest well-formed PE32+ x86-64 image: a DOS stub pointing at the PE header, one
/// `.text` section holding `ret`. Nothing runs it; Authenticode tools sign and verify it like
/// the real interpreter, so a Windows release from this archive exercises signing for real.
fn minimal_pe32_plus() -> Vec<u8> {
    let mut image = vec![0u8; 0x400];
    let put = |image: &mut Vec<u8>, at: usize, bytes: &[u8]| {
        image[at..at + bytes.len()].copy_from_slice(bytes)
    };
    put(&mut image, 0, b"MZ");
    put(&mut image, 0x3c, &0x40u32.to_le_bytes()); // e_lfanew
    put(&mut image, 0x40, b"PE\0\0");
    // COFF header: machine x86-64, one section, optional header size, executable image.
    put(&mut image, 0x44, &0x8664u16.to_le_bytes());
    put(&mut image, 0x46, &1u16.to_le_bytes());
    put(&mut image, 0x54, &0xF0u16.to_le_bytes());
    put(&mut image, 0x56, &0x22u16.to_le_bytes());
    // Optional header (PE32+).
    let optional = 0x58;
    put(&mut image, optional, &0x20Bu16.to_le_bytes());
    put(&mut image, optional + 4, &0x200u32.to_le_bytes()); // SizeOfCode
    put(&mut image, optional + 16, &0x1000u32.to_le_bytes()); // AddressOfEntryPoint
    put(&mut image, optional + 20, &0x1000u32.to_le_bytes()); // BaseOfCode
    put(&mut image, optional + 24, &0x1_4000_0000u64.to_le_bytes()); // ImageBase
    put(&mut image, optional + 32, &0x1000u32.to_le_bytes()); // SectionAlignment
    put(&mut image, optional + 36, &0x200u32.to_le_bytes()); // FileAlignment
    put(&mut image, optional + 40, &6u16.to_le_bytes()); // OS version
    put(&mut image, optional + 48, &6u16.to_le_bytes()); // subsystem version
    put(&mut image, optional + 56, &0x2000u32.to_le_bytes()); // SizeOfImage
    put(&mut image, optional + 60, &0x200u32.to_le_bytes()); // SizeOfHeaders
    put(&mut image, optional + 68, &3u16.to_le_bytes()); // console subsystem
    put(&mut image, optional + 70, &0x8160u16.to_le_bytes()); // DllCharacteristics
    for (index, size) in [0x10_0000u64, 0x1000, 0x10_0000, 0x1000]
        .into_iter()
        .enumerate()
    {
        put(&mut image, optional + 72 + index * 8, &size.to_le_bytes()); // stack and heap
    }
    put(&mut image, optional + 108, &16u32.to_le_bytes()); // NumberOfRvaAndSizes
                                                           // Section table: .text, 0x200 bytes at file offset 0x200, mapped at 0x1000, code.
    let section = optional + 0xF0;
    put(&mut image, section, b".text\0\0\0");
    for (offset, value) in [
        (8, 0x1000u32),
        (12, 0x1000),
        (16, 0x200),
        (20, 0x200),
        (36, 0x6000_0020),
    ] {
        put(&mut image, section + offset, &value.to_le_bytes());
    }
    image[0x200] = 0xC3; // ret
    image
}

/// A `.tar.gz` with the PBS `install_only` layout of `target` (placeholder binaries) and its sha256.
pub fn synthetic_pbs(target: Target) -> (Vec<u8>, String) {
    let pe = minimal_pe32_plus();
    let mut files: Vec<(&str, &[u8], u32)> = vec![];
    match target {
        Target::WindowsX64 => {
            files.push(("python/python.exe", &pe, 0o755));
            files.push((
                "python/Lib/os.py",
                b"# synthetic stdlib module\nsep = '\\\\'\n",
                0o644,
            ));
            files.push((
                "python/Lib/site-packages/README.txt",
                b"pip would be here\n",
                0o644,
            ));
            files.push(("python/Lib/test/test_x.py", b"# trimmed\n", 0o644));
            files.push(("python/DLLs/_socket.pyd", &pe, 0o755));
        }
        Target::MacosArm64 | Target::LinuxX64 => {
            files.push((
                "python/bin/python3.12",
                b"\xcf\xfa\xed\xfe synthetic",
                0o755,
            ));
            files.push((
                "python/lib/python3.12/os.py",
                b"# synthetic stdlib module\nsep = '/'\n",
                0o644,
            ));
            files.push((
                "python/lib/python3.12/site-packages/README.txt",
                b"pip would be here\n",
                0o644,
            ));
            files.push((
                "python/lib/python3.12/test/test_x.py",
                b"# trimmed\n",
                0o644,
            ));
            files.push(("python/lib/libpython3.12.a", b"!<arch>\n", 0o644));
        }
    }
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (path, body, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(mode);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        builder.append_data(&mut header, path, body).unwrap();
    }
    if target.is_unix() {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        header.set_mode(0o777);
        header.set_cksum();
        builder
            .append_link(&mut header, "python/bin/python3", "python3.12")
            .unwrap();
    }
    let bytes = builder.into_inner().unwrap().finish().unwrap();
    let sha256 = hex::encode(Sha256::digest(&bytes));
    (bytes, sha256)
}
