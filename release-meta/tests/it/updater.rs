//! Tauri updater `latest.json`: the shape Tauri v2 reads, signatures in `.sig` (base64) form.

use base64::Engine as _;
use release_meta::{
    generate_keypair, rfc3339_utc, sign, tauri_latest_json, tauri_pubkey, verify, Error,
};

#[test]
fn latest_json_has_what_tauri_reads() {
    let (public_key, secret_key) = generate_keypair(None).unwrap();
    let appimage = b"appimage bytes";
    let signature = sign(appimage, &secret_key, None, "file:TokenizerStudio.AppImage").unwrap();
    let already_encoded = base64::engine::general_purpose::STANDARD.encode(&signature);
    let pub_date = rfc3339_utc(1_795_311_941);
    let json = tauri_latest_json(
        &"0.2.0".parse().unwrap(),
        "Faster tokenizer training.",
        &pub_date,
        &[
            (
                "windows-x86_64",
                "TokenizerStudio_0.2.0_x64-setup.exe",
                &already_encoded,
            ),
            (
                "linux-x86_64",
                "TokenizerStudio_0.2.0_amd64.AppImage",
                &signature,
            ),
        ],
    )
    .unwrap();
    assert!(json.ends_with("}\n"));
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["version"], "0.2.0");
    assert_eq!(value["notes"], "Faster tokenizer training.");
    assert_eq!(value["pub_date"], "2026-11-22T01:45:41Z");
    let linux = &value["platforms"]["linux-x86_64"];
    assert_eq!(linux["url"], "TokenizerStudio_0.2.0_amd64.AppImage");
    // Both input forms end up as the base64 `.sig` content, which decodes to a signature that
    // verifies over the bundle.
    for key in ["linux-x86_64", "windows-x86_64"] {
        let encoded = value["platforms"][key]["signature"].as_str().unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        let decoded = String::from_utf8(decoded).unwrap();
        verify(appimage, &decoded, &public_key).unwrap();
    }

    // What Tauri's updater does with `pubkey` and a platform's `signature`: base64-decode both,
    // then check with the `minisign-verify` crate, prehashed signatures allowed.
    let tauri_config_pubkey = tauri_pubkey(&public_key);
    let decode = |text: &str| {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap(),
        )
        .unwrap()
    };
    let tauri_key = minisign_verify::PublicKey::decode(&decode(&tauri_config_pubkey)).unwrap();
    let tauri_signature = minisign_verify::Signature::decode(&decode(
        value["platforms"]["linux-x86_64"]["signature"]
            .as_str()
            .unwrap(),
    ))
    .unwrap();
    tauri_key.verify(appimage, &tauri_signature, false).unwrap();
    assert!(tauri_key
        .verify(b"other bytes", &tauri_signature, false)
        .is_err());

    assert!(matches!(
        tauri_latest_json(
            &"0.2.0".parse().unwrap(),
            "",
            &pub_date,
            &[("macos-arm64", "u", &signature)]
        ),
        Err(Error::UpdaterPlatformKey { .. })
    ));
    assert!(matches!(
        tauri_latest_json(
            &"0.2.0".parse().unwrap(),
            "",
            &pub_date,
            &[
                ("linux-x86_64", "u", &signature),
                ("linux-x86_64", "v", &signature)
            ]
        ),
        Err(Error::UpdaterDuplicatePlatform { .. })
    ));
    assert!(matches!(
        tauri_latest_json(
            &"0.2.0".parse().unwrap(),
            "",
            &pub_date,
            &[("linux-x86_64", "u", "not a signature")]
        ),
        Err(Error::UpdaterSignature { .. })
    ));
}

#[test]
fn installer_signatures_carry_the_version_tauri_checks() {
    let (_, secret_key) = generate_keypair(None).unwrap();
    let comment = release_meta::updater_trusted_comment(
        1_795_311_941,
        "tokenizer-studio_0.2.0_amd64.deb",
        &"0.2.0".parse().unwrap(),
    );
    let signature = sign(b"deb bytes", &secret_key, None, &comment).unwrap();
    let decoded = minisign_verify::Signature::decode(&signature).unwrap();
    // Tauri's `requireSignedVersion`: the `version:` field of the tab-separated trusted comment.
    let signed_version = decoded
        .trusted_comment()
        .split('\t')
        .find_map(|field| field.strip_prefix("version:"));
    assert_eq!(signed_version, Some("0.2.0"));
    assert!(decoded
        .trusted_comment()
        .contains("file:tokenizer-studio_0.2.0_amd64.deb"));
    assert_eq!(
        release_meta::shell_manifest_name(runtime_spec::Channel::Beta),
        "latest-beta.json"
    );
}
