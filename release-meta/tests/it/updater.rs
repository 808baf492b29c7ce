//! Tauri updater `latest.json`: the shape Tauri v2 reads, signatures in `.sig` (base64) form.

use base64::Engine as _;
use release_meta::{generate_keypair, rfc3339_utc, sign, tauri_latest_json, verify, Error};

#[test]
fn latest_json_has_what_tauri_reads() {
    let (public_key, secret_key) = generate_keypair(None).unwrap();
    let appimage = b"appimage bytes";
    let signature = sign(appimage, &secret_key, None, "file:TokenizerStudio.AppImage").unwrap();
    let already_encoded = base64::engine::general_purpose::STANDARD.encode(&signature);
    let pub_date = rfc3339_utc(1_795_311_941);
    let json = tauri_latest_json(
        "0.2.0",
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

    assert!(matches!(
        tauri_latest_json("0.2.0", "", &pub_date, &[("macos-arm64", "u", &signature)]),
        Err(Error::UpdaterPlatformKey { .. })
    ));
    assert!(matches!(
        tauri_latest_json(
            "0.2.0",
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
            "0.2.0",
            "",
            &pub_date,
            &[("linux-x86_64", "u", "not a signature")]
        ),
        Err(Error::UpdaterSignature { .. })
    ));
}
