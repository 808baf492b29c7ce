//! Disk images: signs a `.dmg` (UDIF) with apple-codesign's DMG signer and verifies it with our
//! own checks (the crate has no DMG verifier).
//!
//! A DMG's code signature (apple-codesign `dmg.rs`, as Apple's `codesign` writes it) is an
//! embedded superblob placed right after the image's property list and before its 512-byte
//! `koly` trailer, which records where the signature is. Its code directory seals:
//! - one "page" hash over every byte before the signature (`page_size` 1 means one page);
//! - in the `RepSpecific` special slot, the hash of the trailer as it would be unsigned
//!   (signature offset = end of the plist, size 0), so the image's layout is sealed too.
//!
//! Nothing but the trailer may follow the signature.

use std::io::Cursor;
use std::path::Path;

use apple_codesign::dmg::{DmgReader, DmgSigner};
use apple_codesign::{CodeSigningSlot, SettingsScope};

use crate::sign::{base_settings, identifier_for};
use crate::verify::{finish_verification, seal_problems};
use crate::{Error, Identity, Result, SignOptions, VerifyOutcome};

/// Size of the UDIF trailer at the end of every disk image.
const KOLY_SIZE: u64 = 512;

/// Signs the disk image at `path` in place (through a temporary copy beside it, renamed over
/// the original, so a failure leaves the image as it was). An existing signature is replaced.
/// The identifier is `<identifier_prefix><file name>`; no hardened runtime or entitlements
/// (those belong to executables).
pub fn sign_dmg(path: &Path, identity: &Identity, options: &SignOptions) -> Result<()> {
    let sign_error = |message: String| Error::Sign {
        path: path.to_path_buf(),
        message,
    };
    let mut settings = base_settings(identity, options)?;
    settings.set_binary_identifier(
        SettingsScope::Main,
        identifier_for(&options.identifier_prefix, path),
    );
    // DmgSigner writes into an open file: sign a copy beside the image (same filesystem, same
    // permissions, streamed rather than read into memory), then rename it over the original.
    let parent = path.parent().unwrap_or(Path::new("."));
    let copy = tempfile::Builder::new()
        .prefix(".macos-sign-")
        .tempfile_in(parent)?;
    fs_err::copy(path, copy.path())?;
    let mut file = copy.reopen()?;
    if DmgReader::new(&mut file).is_err() {
        return Err(Error::NotDmg {
            path: path.to_path_buf(),
        });
    }
    DmgSigner::default()
        .sign_file(&settings, &mut file)
        .map_err(|error| sign_error(error.to_string()))?;
    file.sync_all()?;
    drop(file);
    copy.persist(path).map_err(|error| {
        std::io::Error::new(
            error.error.kind(),
            format!("cannot replace {}: {}", path.display(), error.error),
        )
    })?;
    Ok(())
}

/// Verifies the disk image at `path`. `Err` only when it cannot be read or has no UDIF
/// trailer; a signature that does not match is [`VerifyOutcome::Invalid`], naming what.
pub fn verify_dmg(path: &Path) -> Result<VerifyOutcome> {
    let data = fs_err::read(path)?;
    let reader = DmgReader::new(&mut Cursor::new(&data)).map_err(|_| Error::NotDmg {
        path: path.to_path_buf(),
    })?;
    let koly = reader.koly().clone();
    if koly.code_signature_offset == 0 || koly.code_signature_size == 0 {
        return Ok(VerifyOutcome::Unsigned);
    }
    let invalid = |problem: String| {
        Ok(VerifyOutcome::Invalid {
            problems: vec![problem],
        })
    };
    let signature_start = koly.code_signature_offset;
    let signature_end = signature_start.saturating_add(koly.code_signature_size);
    if signature_end.saturating_add(KOLY_SIZE) > data.len() as u64 {
        return invalid(format!(
            "the trailer places the signature at bytes {signature_start}..{signature_end}, past the end of the {}-byte image",
            data.len()
        ));
    }
    let signature = match reader.embedded_signature() {
        Ok(Some(signature)) => signature,
        Ok(None) => return Ok(VerifyOutcome::Unsigned),
        Err(error) => return invalid(format!("cannot parse the code signature: {error}")),
    };
    let code_directories = match signature.all_code_directories() {
        Ok(code_directories) if !code_directories.is_empty() => code_directories,
        Ok(_) => return invalid("the signature has no code directory".to_string()),
        Err(error) => return invalid(format!("cannot parse a code directory: {error}")),
    };

    let mut problems = vec![];
    if signature_start != koly.offset_after_plist() {
        problems.push(format!(
            "the signature starts at byte {signature_start}, not right after the image's property list (byte {})",
            koly.offset_after_plist()
        ));
    }
    let n_trailing = (data.len() as u64).saturating_sub(signature_end + KOLY_SIZE);
    if n_trailing > 0 {
        problems.push(format!(
            "{n_trailing} bytes between the code signature and the trailer are not sealed: something was added after signing"
        ));
    }
    let content = &data[..signature_start as usize];
    for (_, code_directory) in &code_directories {
        let name = format!("{:?} code directory", code_directory.digest_type);
        let digest_type = code_directory.digest_type;
        let limit = code_directory
            .code_limit_64
            .filter(|limit| *limit != 0)
            .unwrap_or(code_directory.code_limit as u64);
        if limit != signature_start {
            problems.push(format!(
                "{name}: covers {limit} bytes but the signature starts at byte {signature_start}"
            ));
        }
        match (
            code_directory.code_digests.as_slice(),
            digest_type.digest_data(content),
        ) {
            ([expected], Ok(actual)) if expected.data.as_ref() == actual.as_slice() => {}
            ([_], Ok(_)) => problems.push(format!(
                "{name}: the image's contents do not match their hash: the image was modified after signing"
            )),
            (hashes, Ok(_)) => problems.push(format!(
                "{name}: has {} content hashes, a disk image has exactly one",
                hashes.len()
            )),
            (_, Err(error)) => problems.push(format!("{name}: cannot hash the image: {error}")),
        }
        match (
            code_directory
                .special_digests
                .get(&CodeSigningSlot::RepSpecific),
            koly.digest_for_code_directory(digest_type),
        ) {
            (Some(expected), Ok(actual)) if expected.data.as_ref() == actual.as_slice() => {}
            (Some(_), Ok(_)) => problems.push(format!(
                "{name}: the trailer does not match its hash: the image's layout was changed after signing"
            )),
            (None, _) => problems.push(format!("{name}: the trailer is not sealed")),
            (_, Err(error)) => problems.push(format!("{name}: cannot hash the trailer: {error}")),
        }
        problems.extend(
            seal_problems(&signature, code_directory, &[CodeSigningSlot::RepSpecific])
                .into_iter()
                .map(|problem| format!("{name}: {problem}")),
        );
    }
    Ok(finish_verification(&signature, &code_directories, problems))
}
