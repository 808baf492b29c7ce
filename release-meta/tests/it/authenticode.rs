//! Authenticode: sign a real Windows `.pyd` with osslsigncode, verify it, and catch tampering.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use release_meta::{sign_pe_with_osslsigncode, signtool_command, verify_pe_with_osslsigncode};

use crate::{flip_byte, run, tool_available};

/// Downloads PyYAML's win_amd64 wheel with pip (from whatever index pip is configured with)
/// and extracts its `.pyd`, a real PE32+ DLL.
fn windows_pyd(dir: &Path) -> PathBuf {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let output = run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
        ])
        .args([
            "--platform",
            "win_amd64",
            "--python-version",
            "3.12",
            "pyyaml",
            "-d",
        ])
        .arg(dir));
    assert!(
        output.status.success(),
        "`{python} -m pip download pyyaml` (win_amd64) failed; this test needs pip and the package index:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let wheel = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|extension| extension == "whl"))
        .expect("pip downloaded a wheel");
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&wheel).unwrap()).unwrap();
    for index in 0..archive.len() {
        let mut file = archive.by_index(index).unwrap();
        if file.name().ends_with(".pyd") {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).unwrap();
            assert_eq!(&bytes[..2], b"MZ", "{} is not a PE file", file.name());
            let path = dir.join("_yaml.pyd");
            std::fs::write(&path, bytes).unwrap();
            return path;
        }
    }
    panic!("{} holds no .pyd", wheel.display());
}

/// A self-signed code-signing certificate and its password-protected key.
fn code_signing_cert(dir: &Path, password: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let output = run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-sha256", "-days", "30",
        ])
        .args(["-subj", "/CN=Tokenizer Studio Test Signing"])
        .args(["-addext", "extendedKeyUsage=codeSigning"])
        .args(["-addext", "keyUsage=critical,digitalSignature"])
        .arg("-passout")
        .arg(format!("pass:{password}"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    assert!(output.status.success(), "openssl req failed: {output:?}");
    (cert, key)
}

#[test]
fn osslsigncode_signs_a_real_pe_and_detects_tampering() {
    if !tool_available("osslsigncode", "apt-get install osslsigncode") {
        return;
    }
    assert!(
        tool_available("openssl", "apt-get install openssl"),
        "openssl is needed to make a test certificate"
    );
    let dir = tempfile::tempdir().unwrap();
    let unsigned = windows_pyd(dir.path());
    let (cert, key) = code_signing_cert(dir.path(), "test key password");

    // The unsigned file has no signature to verify.
    assert!(verify_pe_with_osslsigncode(&unsigned, &cert).is_err());

    let signed = dir.path().join("_yaml.signed.pyd");
    sign_pe_with_osslsigncode(
        &unsigned,
        &signed,
        &cert,
        Some(&key),
        Some("test key password"),
        None,
        "Tokenizer Studio",
    )
    .unwrap();
    verify_pe_with_osslsigncode(&signed, &cert).unwrap();
    assert!(
        std::fs::metadata(&signed).unwrap().len() > std::fs::metadata(&unsigned).unwrap().len()
    );

    // A wrong password is reported, not prompted for.
    let wrong = dir.path().join("_yaml.wrong.pyd");
    let error = sign_pe_with_osslsigncode(
        &unsigned,
        &wrong,
        &cert,
        Some(&key),
        Some("nope"),
        None,
        "Tokenizer Studio",
    )
    .unwrap_err();
    assert!(error.to_string().contains("osslsigncode sign"), "{error}");

    // PKCS#12 path: certificate and key in one `.p12`.
    let p12 = dir.path().join("release.p12");
    let output = run(Command::new("openssl")
        .args([
            "pkcs12",
            "-export",
            "-passin",
            "pass:test key password",
            "-passout",
            "pass:p12 password",
        ])
        .arg("-inkey")
        .arg(&key)
        .arg("-in")
        .arg(&cert)
        .arg("-out")
        .arg(&p12));
    assert!(output.status.success(), "openssl pkcs12 failed: {output:?}");
    let signed_p12 = dir.path().join("_yaml.p12.pyd");
    sign_pe_with_osslsigncode(
        &unsigned,
        &signed_p12,
        &p12,
        None,
        Some("p12 password"),
        None,
        "Tokenizer Studio",
    )
    .unwrap();
    verify_pe_with_osslsigncode(&signed_p12, &cert).unwrap();

    // One byte changed after signing (in the middle of the code) breaks the signature.
    let length = std::fs::metadata(&unsigned).unwrap().len() as usize;
    flip_byte(&signed, length / 2);
    let error = verify_pe_with_osslsigncode(&signed, &cert).unwrap_err();
    assert!(error.to_string().contains("osslsigncode verify"), "{error}");
}

#[test]
fn signtool_argv_for_windows_hosts() {
    let argv = signtool_command(
        Path::new("TokenizerStudio_0.2.0_x64-setup.exe"),
        Path::new("release.pfx"),
        Some("pfx password"),
        None,
        "Tokenizer Studio",
    );
    assert_eq!(
        argv,
        [
            "signtool",
            "sign",
            "/fd",
            "SHA256",
            "/f",
            "release.pfx",
            "/p",
            "pfx password",
            "/d",
            "Tokenizer Studio",
            "TokenizerStudio_0.2.0_x64-setup.exe"
        ]
    );
}
