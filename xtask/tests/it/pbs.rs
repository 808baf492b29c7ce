//! Synthetic python-build-standalone-layout archives for targets whose real archive cannot be
//! downloaded here (GitHub is unreachable); nothing of a foreign target is executed.

use runtime_spec::Target;
use sha2::{Digest, Sha256};

/// A `.tar.gz` with the PBS `install_only` layout of `target` (placeholder binaries) and its sha256.
pub fn synthetic_pbs(target: Target) -> (Vec<u8>, String) {
    let mut files: Vec<(&str, &[u8], u32)> = vec![];
    match target {
        Target::WindowsX64 => {
            files.push(("python/python.exe", b"MZ synthetic", 0o755));
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
            files.push(("python/DLLs/_socket.pyd", b"MZ synthetic", 0o755));
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
