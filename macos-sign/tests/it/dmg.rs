//! Disk image signing on a synthetic UDIF image: no tool on Linux writes a real `.dmg` (Apple's
//! `hdiutil` is macOS-only), so the image is built here with the UDIF layout the signer reads:
//! data fork, property list, 512-byte `koly` trailer. The signer and verifier look at nothing
//! else; the release job on macOS signs the real `.dmg` cargo-packager makes.

use std::path::{Path, PathBuf};

use macos_sign::{sign_dmg, verify_dmg, Error, Identity, VerifyOutcome};

use crate::fixed_time_options;
use crate::support::{Credentials, P12_PASSWORD};

const KOLY_SIZE: usize = 512;

/// Offsets of the `koly` trailer fields used here (big-endian, Apple's UDIF format).
const DATA_FORK_LENGTH: usize = 32;
const PLIST_OFFSET: usize = 216;
const PLIST_LENGTH: usize = 224;
const CODE_SIGNATURE_OFFSET: usize = 296;
const CODE_SIGNATURE_SIZE: usize = 304;

/// Writes a synthetic image: `n_data` bytes of data fork, an XML plist, and the trailer.
fn synthetic_udif(path: &Path, n_data: usize) -> PathBuf {
    let mut bytes: Vec<u8> = (0..n_data).map(|index| (index * 31 % 251) as u8).collect();
    let plist = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict><key>resource-fork</key><dict/></dict></plist>\n";
    bytes.extend_from_slice(plist);
    let mut koly = [0u8; KOLY_SIZE];
    koly[0..4].copy_from_slice(b"koly");
    koly[4..8].copy_from_slice(&4u32.to_be_bytes());
    koly[8..12].copy_from_slice(&(KOLY_SIZE as u32).to_be_bytes());
    koly[DATA_FORK_LENGTH..DATA_FORK_LENGTH + 8].copy_from_slice(&(n_data as u64).to_be_bytes());
    koly[PLIST_OFFSET..PLIST_OFFSET + 8].copy_from_slice(&(n_data as u64).to_be_bytes());
    koly[PLIST_LENGTH..PLIST_LENGTH + 8].copy_from_slice(&(plist.len() as u64).to_be_bytes());
    bytes.extend_from_slice(&koly);
    std::fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

fn be_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap())
}

fn problems_of(outcome: VerifyOutcome) -> String {
    match outcome {
        VerifyOutcome::Invalid { problems } => problems.join("; "),
        other => panic!("expected an invalid signature, got {other:?}"),
    }
}

#[test]
fn synthetic_udif_image_signs_verifies_and_detects_tampering() {
    let work = tempfile::tempdir().unwrap();
    let credentials = Credentials::generate(&work.path().join("credentials"));
    let identity = Identity::from_p12(&credentials.p12, P12_PASSWORD).unwrap();
    let image = synthetic_udif(
        &work.path().join("Tokenizer Studio_0.1.0_aarch64.dmg"),
        70_000,
    );
    let unsigned = std::fs::read(&image).unwrap();
    assert_eq!(verify_dmg(&image).unwrap(), VerifyOutcome::Unsigned);

    sign_dmg(&image, &identity, &fixed_time_options()).unwrap();
    let signed = std::fs::read(&image).unwrap();
    assert_eq!(
        &signed[..70_000],
        &unsigned[..70_000],
        "signing must not touch the image's data"
    );
    let trailer = &signed[signed.len() - KOLY_SIZE..];
    let signature_offset = be_u64(trailer, CODE_SIGNATURE_OFFSET);
    let signature_size = be_u64(trailer, CODE_SIGNATURE_SIZE);
    assert_eq!(
        signature_offset as usize,
        unsigned.len() - KOLY_SIZE,
        "the signature sits right after the plist"
    );
    assert_eq!(
        (signature_offset + signature_size) as usize + KOLY_SIZE,
        signed.len()
    );
    let outcome = verify_dmg(&image).unwrap();
    let VerifyOutcome::Signed {
        signer,
        certificate_sha256,
        ..
    } = &outcome
    else {
        panic!("{outcome:?}");
    };
    assert_eq!(
        signer,
        "Developer ID Application: Tokenizer Studio Test (TSTEAM1234)"
    );
    assert_eq!(
        *certificate_sha256,
        identity.signing_identity().unwrap().sha256_fingerprint()
    );

    // Signing again replaces the signature (a re-run of the release step), same bytes: RSA
    // with a fixed signing time is deterministic.
    sign_dmg(&image, &identity, &fixed_time_options()).unwrap();
    assert_eq!(std::fs::read(&image).unwrap(), signed);

    // (case, change to the signed image, what the verifier must say)
    type Tamper = fn(&mut Vec<u8>);
    let cases: [(&str, Tamper, &str); 4] = [
        (
            "a data byte flipped",
            |bytes| bytes[12_345] ^= 0x01,
            "modified after signing",
        ),
        (
            "the trailer's data fork length changed",
            |bytes| {
                let at = bytes.len() - KOLY_SIZE + DATA_FORK_LENGTH + 7;
                bytes[at] ^= 0x01;
            },
            "layout was changed",
        ),
        (
            "bytes slipped in before the trailer",
            |bytes| {
                let at = bytes.len() - KOLY_SIZE;
                bytes.splice(at..at, [0u8; 16]);
            },
            "not sealed",
        ),
        (
            "the code directory's identifier edited",
            |bytes| {
                let needle = b"Tokenizer-Studio_0.1.0_aarch64.dmg";
                let at = bytes
                    .windows(needle.len())
                    .position(|window| window == needle)
                    .expect("the identifier is in the code directory");
                bytes[at] = b't';
            },
            "different code directory",
        ),
    ];
    for (case, tamper, expected) in cases {
        let mut bytes = signed.clone();
        tamper(&mut bytes);
        let victim = work.path().join("tampered.dmg");
        std::fs::write(&victim, &bytes).unwrap();
        let problems = problems_of(verify_dmg(&victim).unwrap());
        assert!(
            problems.contains(expected),
            "{case}: expected {expected:?} in {problems:?}"
        );
    }

    // Ad hoc (the dev channel): intact, no certificate.
    let ad_hoc = synthetic_udif(&work.path().join("ad-hoc.dmg"), 5_000);
    sign_dmg(&ad_hoc, &Identity::AdHoc, &fixed_time_options()).unwrap();
    assert!(matches!(
        verify_dmg(&ad_hoc).unwrap(),
        VerifyOutcome::AdHoc { .. }
    ));

    // Not a disk image: refused by name, the file left as it was.
    let not_an_image = work.path().join("notes.dmg");
    std::fs::write(&not_an_image, b"just text, no trailer").unwrap();
    assert!(matches!(
        sign_dmg(&not_an_image, &identity, &fixed_time_options()),
        Err(Error::NotDmg { .. })
    ));
    assert!(matches!(
        verify_dmg(&not_an_image),
        Err(Error::NotDmg { .. })
    ));
    assert_eq!(
        std::fs::read(&not_an_image).unwrap(),
        b"just text, no trailer"
    );
}
