//! Foreign-target runtimes and releases, assembled here from a synthetic PBS archive.

use std::path::PathBuf;
use std::process::Command;

use runtime_spec::Target;

use crate::pbs;
use crate::support::{files_under, run, shared_cache, xtask};
use test_support::http::Server;

/// Builds a foreign-target runtime from a synthetic PBS-layout archive served on loopback, with
/// the real wheels for that platform from the package index, through `cargo xtask <subcommand>`
/// (`runtime`, or `release`, which also signs) with `envs` set. Returns the output folder and
/// the runtime folder in it.
fn build_foreign_runtime_with_synthetic_pbs(
    target: Target,
    subcommand: &str,
    envs: &[(&str, String)],
) -> (tempfile::TempDir, PathBuf) {
    let (mut archive, _) = pbs::synthetic_pbs(target);
    // A fresh archive each run, so the download really goes through the HTTP path.
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    archive.extend_from_slice(&[0u8; 1024]);
    archive.extend_from_slice(nonce.to_string().as_bytes());
    let sha256 = test_support::sha256_hex(&archive);
    let server = Server::with_routes([("/pbs.tar.gz", archive)]);
    let out = tempfile::tempdir().unwrap();
    let mut command = xtask(&shared_cache());
    command
        .args([
            subcommand,
            "--target",
            target.name(),
            "--python-archive",
            &server.url("/pbs.tar.gz"),
        ])
        .args(["--python-sha256", &sha256, "--zstd-level", "3", "--out-dir"])
        .arg(out.path())
        .envs(envs.iter().map(|(name, value)| (name, value)));
    let (ok, stdout, stderr) = run(&mut command);
    assert!(ok, "{target} build failed:\n{stderr}");
    assert!(
        stdout.contains(&format!("{subcommand} 0.1.0 {target}")),
        "{stdout}"
    );
    assert_eq!(server.hits("/pbs.tar.gz"), 1);

    let runtime = out.path().join(format!("runtime-{target}"));
    let site_packages = runtime_spec::launch::join_relative(&runtime, target.site_packages());
    let natives: Vec<PathBuf> = files_under(&site_packages)
        .into_iter()
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "so" || ext == "pyd")
        })
        .collect();
    for (package, prefix) in [
        ("pydantic_core", "_pydantic_core."),
        ("tokenizers", "tokenizers."),
        ("pyarrow", "lib."),
    ] {
        let found = natives.iter().any(|path| {
            path.parent().unwrap().ends_with(package)
                && path
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(prefix)
        });
        assert!(
            found,
            "{target}: no native module {package}/{prefix}* among {natives:?}"
        );
    }
    // Every native module is a binary for the target (Mach-O arm64 / PE x86-64), never ELF.
    for path in &natives {
        let head = std::fs::read(path).unwrap();
        let ok = match target {
            Target::MacosArm64 => {
                head.starts_with(&[0xcf, 0xfa, 0xed, 0xfe, 0x0c, 0x00, 0x00, 0x01])
                    || head.starts_with(&[0xca, 0xfe, 0xba, 0xbe])
            }
            Target::WindowsX64 => head.starts_with(b"MZ") && pe_machine(&head) == Some(0x8664),
            Target::LinuxX64 => head.starts_with(b"\x7fELF"),
        };
        assert!(ok, "{target}: {} is not a {target} binary", path.display());
    }
    assert!(
        !site_packages.join("bin").exists(),
        "{target}: uv's bin/ must be dropped"
    );
    assert!(site_packages.join("tokenizer_studio_app.pth").is_file());
    let python = runtime_spec::launch::join_relative(&runtime, target.python_exe());
    assert!(python.exists(), "{target}: {} missing", python.display());
    assert!(
        !runtime.join(target.stdlib_dir()).join("test").exists(),
        "{target}: stdlib tests must be trimmed"
    );
    assert!(files_under(&runtime.join("app"))
        .iter()
        .any(|path| path.extension().is_some_and(|ext| ext == "pyc")));

    let manifest: runtime_spec::Manifest =
        runtime_spec::Manifest::from_json(&std::fs::read(runtime.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest.target, target);
    assert_eq!(manifest.python.source, runtime_spec::PythonSource::Override);
    assert_eq!(manifest.launch.argv[0], target.python_exe());
    let archive = out
        .path()
        .join(format!("tokenizer-studio-runtime-0.1.0-{target}.tar.zst"));
    for path in [&runtime, &archive] {
        let (ok, stdout, stderr) = run(xtask(&shared_cache()).arg("verify").arg(path));
        assert!(ok, "verify {}: {stderr}", path.display());
        assert!(stdout.contains("matches its manifest"));
    }
    (out, runtime)
}

#[test]
fn macos_arm64_runtime_gets_darwin_wheels_with_synthetic_pbs_on_loopback() {
    if test_support::slow_tests_enabled() {
        build_foreign_runtime_with_synthetic_pbs(Target::MacosArm64, "runtime", &[]);
    }
}

/// A Windows release cross-assembled here with a self-signed Authenticode certificate: every
/// PE file of the runtime (interpreter, DLLs, `.pyd`) is signed by osslsigncode before the
/// manifest is written, so the manifest, archive and objects describe the signed bytes.
#[test]
fn windows_x64_release_gets_win_amd64_wheels_signed_with_synthetic_pbs_on_loopback() {
    if !test_support::slow_tests_enabled() {
        return;
    }
    use base64::Engine as _;
    let keys = tempfile::tempdir().unwrap();
    let cert = keys.path().join("cert.pem");
    let password = "test signing password";
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(keys.path())
            .output()
            .expect("openssl (Debian package openssl)");
        assert!(output.status.success(), "openssl {args:?}: {output:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-sha256",
        "-days",
        "30",
        "-nodes",
        "-subj",
        "/CN=Tokenizer Studio Test Signing",
        "-addext",
        "extendedKeyUsage=codeSigning",
        "-addext",
        "keyUsage=critical,digitalSignature",
        "-keyout",
        "key.pem",
        "-out",
        "cert.pem",
    ]);
    openssl(&[
        "pkcs12",
        "-export",
        "-in",
        "cert.pem",
        "-inkey",
        "key.pem",
        "-out",
        "signing.p12",
        "-passout",
        &format!("pass:{password}"),
    ]);
    let p12 = std::fs::read(keys.path().join("signing.p12")).unwrap();
    let (out, runtime) = build_foreign_runtime_with_synthetic_pbs(
        Target::WindowsX64,
        "release",
        &[
            (
                "WINDOWS_SIGNING_P12_BASE64",
                base64::engine::general_purpose::STANDARD.encode(p12),
            ),
            ("WINDOWS_SIGNING_P12_PASSWORD", password.to_owned()),
        ],
    );
    let pe_files: Vec<PathBuf> = files_under(&runtime)
        .into_iter()
        .filter(|path| {
            path.extension().is_some_and(|ext| {
                ["exe", "dll", "pyd"].contains(&ext.to_string_lossy().to_lowercase().as_str())
            })
        })
        .collect();
    assert!(pe_files.len() > 20, "{pe_files:?}");
    for path in &pe_files {
        let output = Command::new("osslsigncode")
            .args(["verify", "-CAfile"])
            .arg(&cert)
            .arg("-in")
            .arg(path)
            .output()
            .expect("osslsigncode (Debian package osslsigncode)");
        assert!(
            output.status.success(),
            "{} is not Authenticode-signed by the test certificate:\n{}",
            path.display(),
            String::from_utf8_lossy(&output.stdout)
        );
    }
    // The objects are of the signed files: the manifest hashed them after signing.
    crate::objects::check_release_objects(out.path(), Target::WindowsX64);
}

/// The machine field of a PE file's COFF header.
fn pe_machine(bytes: &[u8]) -> Option<u16> {
    let offset = u32::from_le_bytes(bytes.get(0x3c..0x40)?.try_into().ok()?) as usize;
    if bytes.get(offset..offset + 4)? != b"PE\0\0" {
        return None;
    }
    Some(u16::from_le_bytes(
        bytes.get(offset + 4..offset + 6)?.try_into().ok()?,
    ))
}
