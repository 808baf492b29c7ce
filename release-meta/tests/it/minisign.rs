//! minisign signatures checked by the reference `minisign -V`, and our `verify` agreeing with it.

use std::path::Path;

use base64::Engine as _;
use std::process::Command;

use release_meta::minisign::public_key_line;
use release_meta::{generate_keypair, sign, tauri_pubkey, verify};

use crate::{flip_byte, run, tool_available};

/// `minisign -V` over `file` with `file.minisig`; true when it verifies.
fn reference_verifies(file: &Path, public_key_text: &str) -> bool {
    let output = run(Command::new("minisign")
        .arg("-V")
        .arg("-P")
        .arg(public_key_line(public_key_text).unwrap())
        .arg("-m")
        .arg(file));
    output.status.success()
}

#[test]
fn reference_minisign_agrees_with_verify() {
    if !tool_available("minisign", "apt-get install minisign") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("runtime-beta.json");
    let data = b"{\n  \"schema_version\": 1\n}\n".repeat(100);
    std::fs::write(&file, &data).unwrap();

    for password in [None, Some("ci secret")] {
        let (public_key, secret_key) = generate_keypair(password).unwrap();
        let signature = sign(&data, &secret_key, password, "file:runtime-beta.json").unwrap();
        let signature_path = dir.path().join("runtime-beta.json.minisig");
        std::fs::write(&signature_path, &signature).unwrap();
        // Prehashed: the decoded signature starts with the `ED` algorithm tag.
        let signature_bytes = base64::engine::general_purpose::STANDARD
            .decode(signature.lines().nth(1).unwrap())
            .unwrap();
        assert_eq!(&signature_bytes[..2], b"ED", "{signature}");

        assert!(
            reference_verifies(&file, &public_key),
            "minisign -V rejects our signature"
        );
        assert_eq!(
            verify(&data, &signature, &public_key).unwrap(),
            "file:runtime-beta.json"
        );
        verify(&data, &signature, &tauri_pubkey(&public_key)).unwrap();

        let (other_public_key, _) = generate_keypair(None).unwrap();
        assert!(!reference_verifies(&file, &other_public_key));
        assert!(verify(&data, &signature, &other_public_key).is_err());

        flip_byte(&file, 7);
        let changed = std::fs::read(&file).unwrap();
        assert!(
            !reference_verifies(&file, &public_key),
            "minisign -V accepts a changed file"
        );
        assert!(verify(&changed, &signature, &public_key).is_err());
        std::fs::write(&file, &data).unwrap();
    }
}

#[test]
fn tauri_pubkey_is_base64_of_the_key_file() {
    let (public_key, _) = generate_keypair(None).unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(tauri_pubkey(&public_key))
        .unwrap();
    let decoded = String::from_utf8(decoded).unwrap();
    assert!(decoded.starts_with("untrusted comment: minisign public key"));
    assert_eq!(decoded.trim(), public_key.trim());
    // Every form of the same key gives the same Tauri value.
    assert_eq!(
        tauri_pubkey(&tauri_pubkey(&public_key)),
        tauri_pubkey(&public_key)
    );
    assert_eq!(
        tauri_pubkey(&public_key_line(&public_key).unwrap()),
        tauri_pubkey(&public_key)
    );
}

#[test]
fn reference_minisign_signs_with_our_secret_key() {
    if !tool_available("minisign", "apt-get install minisign") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (public_key, secret_key) = generate_keypair(None).unwrap();
    let key_path = dir.path().join("release.key");
    std::fs::write(&key_path, &secret_key).unwrap();
    let file = dir.path().join("payload.bin");
    std::fs::write(&file, b"payload").unwrap();
    let output = run(Command::new("minisign")
        .arg("-S")
        .arg("-s")
        .arg(&key_path)
        .arg("-m")
        .arg(&file)
        .args(["-t", "signed by the reference tool"])
        .stdin(std::process::Stdio::null()));
    assert!(
        output.status.success(),
        "minisign -S with our key: {output:?}"
    );
    let signature = std::fs::read_to_string(dir.path().join("payload.bin.minisig")).unwrap();
    assert_eq!(
        verify(b"payload", &signature, &public_key).unwrap(),
        "signed by the reference tool"
    );
}
