//! Fixtures: real wheel Mach-O files, a generated certificate, signature inspection, openssl.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use apple_codesign::cryptography::DigestType;
use apple_codesign::{CodeSignatureFlags, CodeSigningSlot, MachFile};
use macos_sign::Identity;

pub const P12_PASSWORD: &str = "correct horse";
const MARKUPSAFE: &str = "markupsafe==3.0.2";

pub use test_support::{sha256_hex, slow_tests_enabled, workspace_root};

/// Fixtures shared by the tests of one run, in cargo's scratch folder for integration tests;
/// wiped at the first use of each run so nothing carries over between runs.
fn scratch() -> &'static Path {
    static SCRATCH: OnceLock<PathBuf> = OnceLock::new();
    SCRATCH.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("macos-sign-fixtures");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

pub struct WheelFiles {
    /// `_speedups.cpython-312-darwin.so` from the macosx_11_0_arm64 wheel (thin, MH_BUNDLE).
    pub thin_arm64: PathBuf,
    /// The same module from the universal2 wheel (fat: x86_64 + arm64).
    pub universal2: PathBuf,
}

/// Downloads the two markupsafe wheels once per run and unpacks their extension module.
pub fn wheel_files() -> &'static WheelFiles {
    static FILES: OnceLock<WheelFiles> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = scratch().join("wheels");
        let mut paths = vec![];
        for platform in ["macosx_11_0_arm64", "macosx_10_13_universal2"] {
            let download = dir.join(platform);
            let mut command = pip();
            command
                .args([
                    "download",
                    "--no-deps",
                    "--only-binary",
                    ":all:",
                    "--platform",
                    platform,
                ])
                .args(["--python-version", "3.12", MARKUPSAFE, "-d"])
                .arg(&download);
            run_ok(&mut command);
            let wheel = std::fs::read_dir(&download)
                .unwrap()
                .map(|entry| entry.unwrap().path())
                .find(|path| path.extension().is_some_and(|ext| ext == "whl"))
                .expect("pip downloaded a wheel");
            let mut archive = zip::ZipArchive::new(std::fs::File::open(&wheel).unwrap()).unwrap();
            let mut member = archive
                .by_name("markupsafe/_speedups.cpython-312-darwin.so")
                .expect("the wheel ships the C speedups");
            let out = download.join("_speedups.cpython-312-darwin.so");
            std::io::copy(&mut member, &mut std::fs::File::create(&out).unwrap()).unwrap();
            paths.push(out);
        }
        WheelFiles {
            universal2: paths.pop().unwrap(),
            thin_arm64: paths.pop().unwrap(),
        }
    })
}

fn pip() -> Command {
    let mut command = Command::new("python3");
    command.args(["-m", "pip"]);
    command
}

pub fn run_ok(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{command:?}: {error}"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A copy of the thin arm64 module with its file type set to `MH_EXECUTE`, standing in for
/// the interpreter (signing only reads headers and load commands; nothing runs it).
pub fn write_executable(path: &Path) {
    let mut bytes = std::fs::read(&wheel_files().thin_arm64).unwrap();
    bytes[12..16].copy_from_slice(&2u32.to_le_bytes());
    std::fs::write(path, bytes).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// A small runtime: interpreter, a thin and a universal extension module, a symlink, a Java
/// class file (`cafebabe` too) and a Python file.
pub fn fake_runtime(work: &Path) -> PathBuf {
    let runtime = work.join("runtime");
    fake_runtime_at(&runtime);
    runtime
}

pub fn fake_runtime_at(runtime: &Path) {
    let site = runtime.join("lib/python3.12/site-packages/markupsafe");
    let dynload = runtime.join("lib/python3.12/lib-dynload");
    for dir in [
        &site,
        &dynload,
        &runtime.join("bin"),
        &runtime.join("share"),
    ] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let files = wheel_files();
    std::fs::copy(
        &files.thin_arm64,
        site.join("_speedups.cpython-312-darwin.so"),
    )
    .unwrap();
    std::fs::copy(&files.universal2, dynload.join("_universal.so")).unwrap();
    write_executable(&runtime.join("bin/python3.12"));
    #[cfg(unix)]
    std::os::unix::fs::symlink("python3.12", runtime.join("bin/python3")).unwrap();
    std::fs::write(runtime.join("lib/python3.12/os.py"), "sep = '/'\n").unwrap();
    let mut class = vec![0xca, 0xfe, 0xba, 0xbe, 0x00, 0x00, 0x00, 0x41];
    class.extend([0u8; 64]);
    std::fs::write(runtime.join("share/Hello.class"), class).unwrap();
}

/// A self-signed RSA code signing certificate as PEM files and as `.p12` files.
pub struct Credentials {
    pub certificate_pem: PathBuf,
    pub key_pem: PathBuf,
    /// `openssl pkcs12 -export -legacy`: what apple-codesign reads.
    pub p12: PathBuf,
    /// OpenSSL 3's default encryption: refused.
    pub modern_p12: PathBuf,
}

impl Credentials {
    pub fn generate(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let (certificate, key) = apple_codesign::create_self_signed_code_signing_certificate(
            x509_certificate::KeyAlgorithm::Rsa,
            apple_codesign::CertificateProfile::DeveloperIdApplication,
            "TSTEAM1234",
            "Tokenizer Studio Test",
            "US",
            chrono::Duration::days(2),
        )
        .unwrap();
        let credentials = Self {
            certificate_pem: dir.join("certificate.pem"),
            key_pem: dir.join("key.pem"),
            p12: dir.join("identity.p12"),
            modern_p12: dir.join("identity-openssl3.p12"),
        };
        std::fs::write(&credentials.certificate_pem, certificate.encode_pem()).unwrap();
        let key_pem = pem::encode(&pem::Pem::new(
            "PRIVATE KEY",
            key.to_pkcs8_one_asymmetric_key_der().to_vec(),
        ));
        std::fs::write(&credentials.key_pem, key_pem).unwrap();
        for (out, legacy) in [(&credentials.p12, true), (&credentials.modern_p12, false)] {
            let mut command = Command::new("openssl");
            command.args(["pkcs12", "-export"]);
            if legacy {
                command.arg("-legacy");
            }
            command
                .arg("-in")
                .arg(&credentials.certificate_pem)
                .arg("-inkey")
                .arg(&credentials.key_pem)
                .arg("-out")
                .arg(out)
                .args([
                    "-passout",
                    &format!("pass:{P12_PASSWORD}"),
                    "-name",
                    "Tokenizer Studio Test",
                ]);
            run_ok(&mut command);
        }
        credentials
    }

    pub fn pem_identity(&self) -> Identity {
        Identity::from_pem(&self.certificate_pem, &self.key_pem).unwrap()
    }
}

/// What one slice's signature says, read with apple-codesign's parser.
#[derive(Debug)]
pub struct SliceFacts {
    pub identifier: String,
    pub hardened_runtime: bool,
    pub entitlements: Option<String>,
    /// Hex SHA-256 sealed for Contents/Info.plist (bundle main executables).
    pub info_plist_slot: Option<String>,
    /// Hex SHA-256 sealed for _CodeSignature/CodeResources.
    pub resources_slot: Option<String>,
}

pub fn signature_facts(path: &Path) -> Vec<SliceFacts> {
    let data = std::fs::read(path).unwrap();
    let mach = MachFile::parse(&data).unwrap();
    mach.iter_macho()
        .map(|macho| {
            let signature = macho.code_signature().unwrap().expect("signed");
            let code_directory = signature
                .code_directory_for_digest(DigestType::Sha256)
                .unwrap()
                .expect("a SHA-256 code directory");
            let slot = |slot: CodeSigningSlot| {
                code_directory
                    .special_digests
                    .get(&slot)
                    .filter(|digest| !digest.is_null())
                    .map(|digest| digest.as_hex())
            };
            SliceFacts {
                identifier: code_directory.ident.to_string(),
                hardened_runtime: code_directory.flags.contains(CodeSignatureFlags::RUNTIME),
                entitlements: signature
                    .entitlements()
                    .unwrap()
                    .map(|blob| blob.as_str().to_string()),
                info_plist_slot: slot(CodeSigningSlot::Info),
                resources_slot: slot(CodeSigningSlot::ResourceDir),
            }
        })
        .collect()
}

/// File offset of the first slice's `__TEXT,__text` section.
pub fn text_section_offset(path: &Path) -> usize {
    let data = std::fs::read(path).unwrap();
    let mach = MachFile::parse(&data).unwrap();
    let macho = mach.iter_macho().next().unwrap();
    let slice_start = macho.data.as_ptr() as usize - data.as_ptr() as usize;
    for segment in &macho.macho.segments {
        for (section, _) in segment.sections().unwrap() {
            if section.name().unwrap() == "__text" {
                return slice_start + section.offset as usize;
            }
        }
    }
    panic!("{} has no __text section", path.display())
}

/// Flips a code byte at `offset` (thin files only) and rewrites the matching SHA-256 page hash
/// in the code directory, leaving the CMS signature as it was.
pub fn forge_code_page(path: &Path, offset: usize) {
    use sha2::Digest as _;
    let mut data = std::fs::read(path).unwrap();
    let page = offset / 4096;
    let (code_limit, old_hash) = {
        let mach = MachFile::parse(&data).unwrap();
        let macho = mach.iter_macho().next().unwrap();
        let signature = macho.code_signature().unwrap().unwrap();
        let code_directory = signature
            .code_directory_for_digest(DigestType::Sha256)
            .unwrap()
            .unwrap();
        assert_eq!(code_directory.page_size, 4096);
        (
            code_directory.code_limit as usize,
            code_directory.code_digests[page].to_vec(),
        )
    };
    data[offset] ^= 0x01;
    let page_end = ((page + 1) * 4096).min(code_limit);
    let new_hash = sha2::Sha256::digest(&data[page * 4096..page_end]).to_vec();
    let position = data
        .windows(old_hash.len())
        .rposition(|window| window == old_hash.as_slice())
        .expect("the page hash is in the code directory");
    assert!(
        position >= code_limit,
        "page hash found inside the code itself"
    );
    data[position..position + new_hash.len()].copy_from_slice(&new_hash);
    std::fs::write(path, data).unwrap();
}

/// Checks every CMS blob of `path` against its code directory with `openssl cms` (an
/// implementation independent of ours), and that openssl rejects a tampered code directory.
/// Returns how many blobs were checked.
pub fn openssl_verifies(path: &Path, work: &Path) -> usize {
    let pairs = macos_sign::extract_cms_and_code_directory(path).unwrap();
    let dir = tempfile::tempdir_in(work).unwrap();
    for (index, (cms, code_directory)) in pairs.iter().enumerate() {
        let cms_path = dir.path().join(format!("{index}.cms.der"));
        let content_path = dir.path().join(format!("{index}.cd.bin"));
        std::fs::write(&cms_path, cms).unwrap();
        std::fs::write(&content_path, code_directory).unwrap();
        let verify = |content: &Path| {
            Command::new("openssl")
                .args([
                    "cms",
                    "-verify",
                    "-noverify",
                    "-binary",
                    "-inform",
                    "DER",
                    "-in",
                ])
                .arg(&cms_path)
                .arg("-content")
                .arg(content)
                .args(["-out", "/dev/null"])
                .output()
                .unwrap()
        };
        let output = verify(&content_path);
        assert!(
            output.status.success(),
            "openssl rejects {} slice {index}: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let mut tampered = code_directory.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 0x01;
        let tampered_path = dir.path().join(format!("{index}.tampered.bin"));
        std::fs::write(&tampered_path, tampered).unwrap();
        assert!(
            !verify(&tampered_path).status.success(),
            "openssl accepted a tampered code directory"
        );
    }
    pairs.len()
}

/// `cargo xtask runtime --target macos-arm64` from a synthetic PBS-layout archive whose
/// interpreter is a real arm64 Mach-O; the wheels are the real darwin ones from the index.
pub fn cross_assemble_macos_runtime(work: &Path) -> PathBuf {
    use sha2::Digest as _;
    let pbs = work.join("pbs");
    std::fs::create_dir_all(pbs.join("python/bin")).unwrap();
    std::fs::create_dir_all(pbs.join("python/lib/python3.12")).unwrap();
    write_executable(&pbs.join("python/bin/python3.12"));
    std::fs::write(
        pbs.join("python/lib/python3.12/os.py"),
        "# synthetic stdlib module\nsep = '/'\n",
    )
    .unwrap();
    let archive = work.join("cpython-3.12-aarch64-apple-darwin-install_only.tar.gz");
    run_ok(
        Command::new("tar")
            .arg("czf")
            .arg(&archive)
            .arg("-C")
            .arg(&pbs)
            .arg("python"),
    );
    let sha256 = hex::encode(sha2::Sha256::digest(std::fs::read(&archive).unwrap()));
    let out = work.join("out");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace_root())
        .env("CI", "1")
        // The xtask tests' download cache (wheels, uv) under target/, never committed.
        .env(
            "XTASK_CACHE_DIR",
            workspace_root().join("target/xtask-test-cache"),
        )
        .args([
            "xtask",
            "runtime",
            "--target",
            "macos-arm64",
            "--no-smoke",
            "--python-archive",
        ])
        .arg(&archive)
        .args(["--python-sha256", &sha256, "--out-dir"])
        .arg(&out);
    run_ok(&mut command);
    let runtime = out.join("runtime-macos-arm64");
    assert!(
        runtime.join("python/bin/python3.12").is_file(),
        "{}",
        runtime.display()
    );
    runtime
}
