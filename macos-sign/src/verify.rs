//! Our own verifier: recomputes every page hash of each code directory and checks the CMS
//! signature against the code directory bytes actually in the file.
//!
//! apple-codesign's `verify_macho_data` checks the CMS signature only over its signed
//! attributes, never that the signed message digest is the code directory's hash, so a forged
//! code directory (new page hashes for patched code) passes; it also reports every ad-hoc
//! signature as a failure. Apple's rules (TN2206, `codesign -dvvv`): the CMS blob's signed
//! `messageDigest` is the hash of the first code directory blob, the Apple `cdhashes` plist
//! attribute lists every code directory's hash truncated to 20 bytes, and each code
//! directory holds one hash per page of the file up to the signature plus hashes of the
//! other blobs (requirements, entitlements) in "special slots".

use std::path::{Path, PathBuf};

use apple_codesign::cryptography::DigestType;
use apple_codesign::{
    CodeDirectoryBlob, CodeSigningSlot, EmbeddedSignature, MachFile, MachOBinary,
};
use cryptographic_message_syntax::SignedData;

use crate::detect;
use crate::identity::certificate_sha256;
use crate::{Error, Identity, Result};

/// OID 1.2.840.113635.100.9.1: Apple's signed attribute holding the `cdhashes` plist.
const CD_HASHES_PLIST_OID: &[u8] = &[42, 134, 72, 134, 247, 99, 100, 9, 1];
/// Page mismatches listed by name before the rest are only counted.
const MAX_LISTED_PAGES: usize = 3;

/// The verdict on one Mach-O file (all slices of a universal binary together).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum VerifyOutcome {
    /// Every hash matches and a CMS signature over the code directory verifies with the
    /// embedded signer certificate. Says nothing about whether that certificate is trusted:
    /// compare `certificate_sha256` with the expected identity
    /// ([`VerifyReport::ensure_signed_by`]).
    Signed {
        /// Common name of the signer certificate.
        signer: String,
        /// Lowercase hex SHA-256 of the signer certificate.
        certificate_sha256: String,
        /// The code directory hash (`CDHash`) of the first slice, as `codesign -dvvv` shows it.
        cdhash: String,
    },
    /// Every hash matches but there is no CMS signature: ad-hoc or linker-signed.
    AdHoc {
        /// The code directory hash of the first slice.
        cdhash: String,
    },
    /// The file has no code signature at all.
    Unsigned,
    /// Something does not match; each entry says what (and which slice, for universal files).
    Invalid {
        /// What is wrong.
        problems: Vec<String>,
    },
}

impl VerifyOutcome {
    /// Signed or ad-hoc with every hash matching.
    pub fn is_intact(&self) -> bool {
        matches!(self, Self::Signed { .. } | Self::AdHoc { .. })
    }

    fn describe(&self) -> String {
        match self {
            Self::Signed {
                certificate_sha256, ..
            } => format!("signed by certificate sha256 {certificate_sha256}"),
            Self::AdHoc { .. } => "ad-hoc signed".to_string(),
            Self::Unsigned => "unsigned".to_string(),
            Self::Invalid { .. } => "invalid".to_string(),
        }
    }
}

/// One file's verdict in a [`VerifyReport`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileVerification {
    /// Path relative to the verified folder, `/`-separated.
    pub path: String,
    /// The verdict.
    pub outcome: VerifyOutcome,
}

/// The verdicts on every Mach-O file of a folder.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyReport {
    /// The verified folder.
    pub root: PathBuf,
    /// One entry per Mach-O file, in signing order.
    pub files: Vec<FileVerification>,
}

impl VerifyReport {
    /// Files with a valid CMS signature.
    pub fn n_signed(&self) -> usize {
        self.count(|outcome| matches!(outcome, VerifyOutcome::Signed { .. }))
    }

    /// Intact ad-hoc files.
    pub fn n_ad_hoc(&self) -> usize {
        self.count(|outcome| matches!(outcome, VerifyOutcome::AdHoc { .. }))
    }

    /// Files without a signature.
    pub fn n_unsigned(&self) -> usize {
        self.count(|outcome| matches!(outcome, VerifyOutcome::Unsigned))
    }

    /// Files whose signature does not match their contents.
    pub fn n_invalid(&self) -> usize {
        self.count(|outcome| matches!(outcome, VerifyOutcome::Invalid { .. }))
    }

    fn count(&self, predicate: impl Fn(&VerifyOutcome) -> bool) -> usize {
        self.files
            .iter()
            .filter(|file| predicate(&file.outcome))
            .count()
    }

    /// Fails on the first file that is invalid (naming it and every problem), or, when
    /// `identity` is a certificate, not signed by exactly that certificate; when `identity` is
    /// ad-hoc, every file must be intact and ad-hoc.
    pub fn ensure_signed_by(&self, identity: &Identity) -> Result<()> {
        for file in &self.files {
            let path = self.root.join(&file.path);
            if let VerifyOutcome::Invalid { problems } = &file.outcome {
                return Err(Error::Verification {
                    path,
                    problems: problems.clone(),
                });
            }
            let matches = match (identity.signing_identity(), &file.outcome) {
                (None, VerifyOutcome::AdHoc { .. }) => true,
                (
                    Some(expected),
                    VerifyOutcome::Signed {
                        certificate_sha256, ..
                    },
                ) => *certificate_sha256 == expected.sha256_fingerprint(),
                _ => false,
            };
            if !matches {
                return Err(Error::WrongSigner {
                    path,
                    found: file.outcome.describe(),
                    expected: identity.describe(),
                });
            }
        }
        Ok(())
    }
}

/// Verifies every Mach-O file under `dir` (symlinks are not followed; their targets are
/// checked under their own names).
pub fn verify_runtime(dir: &Path) -> Result<VerifyReport> {
    let scan = detect::scan(dir)?;
    let mut files = Vec::with_capacity(scan.files.len());
    for found in scan.files {
        files.push(FileVerification {
            outcome: verify_file(&found.path)?,
            path: found.relative,
        });
    }
    Ok(VerifyReport {
        root: dir.to_path_buf(),
        files,
    })
}

/// Verifies one Mach-O file (thin or universal). `Err` only when the file cannot be read or
/// is not Mach-O; a signature that does not match is [`VerifyOutcome::Invalid`].
pub fn verify_file(path: &Path) -> Result<VerifyOutcome> {
    if detect::macho_kind(path)?.is_none() {
        return Err(Error::NotMachO {
            path: path.to_path_buf(),
        });
    }
    let data = fs_err::read(path)?;
    let mach = match MachFile::parse(&data) {
        Ok(mach) => mach,
        Err(error) => {
            return Ok(VerifyOutcome::Invalid {
                problems: vec![format!("cannot parse the Mach-O structure: {error}")],
            })
        }
    };
    let is_fat = mach.is_fat();
    let mut slices = vec![];
    for (index, macho) in mach.iter_macho().enumerate() {
        let label = if is_fat {
            format!("slice {index}: ")
        } else {
            String::new()
        };
        slices.push((label, verify_slice(macho)));
    }
    Ok(combine(slices))
}

/// A universal file is as good as its worst slice.
fn combine(slices: Vec<(String, VerifyOutcome)>) -> VerifyOutcome {
    let mut problems = vec![];
    for (label, outcome) in &slices {
        if let VerifyOutcome::Invalid {
            problems: slice_problems,
        } = outcome
        {
            problems.extend(
                slice_problems
                    .iter()
                    .map(|problem| format!("{label}{problem}")),
            );
        }
    }
    if !problems.is_empty() {
        return VerifyOutcome::Invalid { problems };
    }
    let outcomes: Vec<VerifyOutcome> = slices.into_iter().map(|(_, outcome)| outcome).collect();
    let Some(first) = outcomes.first().cloned() else {
        return VerifyOutcome::Invalid {
            problems: vec!["the file holds no Mach-O slice".to_string()],
        };
    };
    if outcomes.contains(&VerifyOutcome::Unsigned) {
        if outcomes
            .iter()
            .all(|outcome| *outcome == VerifyOutcome::Unsigned)
        {
            return VerifyOutcome::Unsigned;
        }
        return VerifyOutcome::Invalid {
            problems: vec!["some slices are signed and others are not".to_string()],
        };
    }
    if outcomes
        .iter()
        .any(|outcome| matches!(outcome, VerifyOutcome::AdHoc { .. }))
    {
        if let VerifyOutcome::AdHoc { .. } = first {
            if outcomes
                .iter()
                .all(|outcome| matches!(outcome, VerifyOutcome::AdHoc { .. }))
            {
                return first;
            }
        }
        return VerifyOutcome::Invalid {
            problems: vec!["some slices are ad-hoc and others carry a certificate".to_string()],
        };
    }
    let first_certificate = match &first {
        VerifyOutcome::Signed {
            certificate_sha256, ..
        } => certificate_sha256.clone(),
        _ => unreachable!("only signed outcomes are left"),
    };
    let same_signer = outcomes.iter().all(|outcome| {
        matches!(outcome, VerifyOutcome::Signed { certificate_sha256, .. } if *certificate_sha256 == first_certificate)
    });
    if same_signer {
        first
    } else {
        VerifyOutcome::Invalid {
            problems: vec!["slices are signed by different certificates".to_string()],
        }
    }
}

fn verify_slice(macho: &MachOBinary<'_>) -> VerifyOutcome {
    let invalid = |problem: String| VerifyOutcome::Invalid {
        problems: vec![problem],
    };
    let signature = match macho.code_signature() {
        Ok(Some(signature)) => signature,
        Ok(None) => return VerifyOutcome::Unsigned,
        Err(error) => return invalid(format!("cannot parse the code signature: {error}")),
    };
    let code_directories = match signature.all_code_directories() {
        Ok(code_directories) => code_directories,
        Err(error) => return invalid(format!("cannot parse a code directory: {error}")),
    };
    let mut problems = vec![];
    // Bytes after the signature are covered by no hash; codesign --strict rejects them too.
    if let Ok(Some(location)) = macho.find_signature_data() {
        let n_trailing = macho
            .data
            .len()
            .saturating_sub(location.signature_file_end_offset);
        if n_trailing > 0 {
            problems.push(format!(
                "{n_trailing} bytes after the code signature are not sealed: something was appended after signing"
            ));
        }
    }
    for (_, code_directory) in &code_directories {
        let name = format!("{:?} code directory", code_directory.digest_type);
        problems.extend(
            check_code_pages(macho, code_directory)
                .into_iter()
                .map(|problem| format!("{name}: {problem}")),
        );
        // Info.plist and CodeResources live outside the binary, in its bundle.
        problems.extend(
            seal_problems(
                &signature,
                code_directory,
                &[CodeSigningSlot::Info, CodeSigningSlot::ResourceDir],
            )
            .into_iter()
            .map(|problem| format!("{name}: {problem}")),
        );
    }
    finish_verification(&signature, &code_directories, problems)
}

/// The common end of a Mach-O and a disk image verification: hashes each code directory as
/// stored, checks the CMS signature against them (when there is one) and gives the verdict,
/// `Invalid` when `problems` (found by the caller) or the CMS checks say so.
pub(crate) fn finish_verification(
    signature: &EmbeddedSignature<'_>,
    code_directories: &[(CodeSigningSlot, Box<CodeDirectoryBlob<'_>>)],
    mut problems: Vec<String>,
) -> VerifyOutcome {
    let Some(primary) = signature.find_slot(CodeSigningSlot::CodeDirectory) else {
        problems.push("the signature has no code directory".to_string());
        return VerifyOutcome::Invalid { problems };
    };
    let mut cdhashes = vec![];
    for (slot, code_directory) in code_directories {
        let name = format!("{:?} code directory", code_directory.digest_type);
        let raw = signature
            .find_slot(*slot)
            .expect("all_code_directories only returns present slots");
        match raw.digest_with(code_directory.digest_type) {
            Ok(mut digest) => {
                digest.truncate(20);
                cdhashes.push((code_directory.digest_type, digest));
            }
            Err(error) => problems.push(format!("{name}: cannot hash it: {error}")),
        }
    }
    // `codesign` reports the SHA-256 code directory's hash when there is one.
    let cdhash = cdhashes
        .iter()
        .find(|(digest_type, _)| *digest_type == DigestType::Sha256)
        .or(cdhashes.first())
        .map(|(_, digest)| hex::encode(digest))
        .unwrap_or_default();

    let cms = match signature.signature_data() {
        Ok(cms) => cms.filter(|cms| !cms.is_empty()),
        Err(error) => {
            problems.push(format!("cannot read the CMS signature blob: {error}"));
            None
        }
    };
    let signer = cms.map(|cms| check_cms(cms, primary.data, &cdhashes));
    if let Some(Err(cms_problems)) = &signer {
        problems.extend(cms_problems.iter().cloned());
    }
    if !problems.is_empty() {
        return VerifyOutcome::Invalid { problems };
    }
    match signer {
        None => VerifyOutcome::AdHoc { cdhash },
        Some(Ok((signer, certificate_sha256))) => VerifyOutcome::Signed {
            signer,
            certificate_sha256,
            cdhash,
        },
        Some(Err(_)) => unreachable!("problems were returned above"),
    }
}

/// Recomputes the hash of every page of the file up to the signature.
fn check_code_pages(
    macho: &MachOBinary<'_>,
    code_directory: &CodeDirectoryBlob<'_>,
) -> Vec<String> {
    let mut problems = vec![];
    let signature_offset = match macho.code_limit_binary_offset() {
        Ok(offset) => offset,
        Err(error) => return vec![format!("cannot locate the signature: {error}")],
    };
    let code_limit = match code_directory.code_limit_64 {
        Some(limit) if limit != 0 => limit,
        _ => code_directory.code_limit as u64,
    };
    if code_limit != signature_offset {
        problems.push(format!(
            "covers {code_limit} bytes but the signature starts at byte {signature_offset}"
        ));
    }
    let page_size = code_directory.page_size as usize;
    let actual = match macho.code_digests(code_directory.digest_type, page_size) {
        Ok(actual) => actual,
        Err(error) => {
            problems.push(format!("cannot hash the code pages: {error}"));
            return problems;
        }
    };
    if actual.len() != code_directory.code_digests.len() {
        problems.push(format!(
            "has {} page hashes but the file has {} pages",
            code_directory.code_digests.len(),
            actual.len()
        ));
    }
    let mismatched: Vec<usize> = code_directory
        .code_digests
        .iter()
        .zip(&actual)
        .enumerate()
        .filter(|(_, (expected, actual))| expected.data.as_ref() != actual.as_slice())
        .map(|(index, _)| index)
        .collect();
    for index in mismatched.iter().take(MAX_LISTED_PAGES) {
        let start = index * page_size;
        problems.push(format!(
            "page {index} (bytes {start}..{}) does not match its hash: the file was modified after signing",
            start + page_size
        ));
    }
    if mismatched.len() > MAX_LISTED_PAGES {
        problems.push(format!(
            "{} more pages do not match",
            mismatched.len() - MAX_LISTED_PAGES
        ));
    }
    problems
}

/// Checks the hashes of the blobs the code directory seals (requirements, entitlements,
/// launch constraints) and that no such blob is present unsealed. `external` slots are sealed
/// things that live outside the signature (a bundle's Info.plist and resources, a disk image's
/// trailer): the caller checks those.
pub(crate) fn seal_problems(
    signature: &EmbeddedSignature<'_>,
    code_directory: &CodeDirectoryBlob<'_>,
    external: &[CodeSigningSlot],
) -> Vec<String> {
    let mut problems = vec![];
    for (slot, expected) in &code_directory.special_digests {
        if expected.is_null() {
            continue;
        }
        match signature.find_slot(*slot) {
            Some(blob) => match blob.digest_with(code_directory.digest_type) {
                Ok(actual) if actual == expected.data.as_ref() => {}
                Ok(_) => problems.push(format!("the {slot:?} blob does not match its hash")),
                Err(error) => problems.push(format!("cannot hash the {slot:?} blob: {error}")),
            },
            None if external.contains(slot) => {}
            None => problems.push(format!("the sealed {slot:?} blob is missing")),
        }
    }
    for blob in &signature.blobs {
        let slot_number = u32::from(blob.slot);
        let is_special = (1..0x1000).contains(&slot_number);
        let sealed = code_directory
            .special_digests
            .get(&blob.slot)
            .is_some_and(|digest| !digest.is_null());
        if is_special && !sealed {
            problems.push(format!(
                "the {:?} blob is not sealed by the code directory",
                blob.slot
            ));
        }
    }
    problems
}

/// Checks the CMS blob: one signer whose signed message digest is the hash of the first code
/// directory as stored in the file, whose signature verifies with its certificate's public
/// key, and whose `cdhashes` attribute lists every code directory. Returns the signer's
/// common name and certificate fingerprint.
fn check_cms(
    cms: &[u8],
    primary_code_directory: &[u8],
    cdhashes: &[(DigestType, Vec<u8>)],
) -> Result<(String, String), Vec<String>> {
    let signed_data = SignedData::parse_ber(cms)
        .map_err(|error| vec![format!("cannot parse the CMS signature: {error}")])?;
    let signers: Vec<_> = signed_data.signers().collect();
    let [signer] = signers.as_slice() else {
        return Err(vec![format!(
            "the CMS signature has {} signers, expected one",
            signers.len()
        )]);
    };
    let mut problems = vec![];
    if signer
        .verify_message_digest_with_content(primary_code_directory)
        .is_err()
    {
        problems.push(
            "the CMS signature was made over a different code directory: the code directory was altered after signing"
                .to_string(),
        );
    }
    if let Err(error) = signer.verify_signature_with_signed_data(&signed_data) {
        problems.push(format!(
            "the CMS signature does not verify with the signer certificate's public key ({error})"
        ));
    }
    match signed_cdhashes(signer) {
        Some(listed) => {
            for (digest_type, cdhash) in cdhashes {
                if !listed.contains(cdhash) {
                    problems.push(format!(
                        "the {digest_type:?} code directory is not listed in the signed cdhashes"
                    ));
                }
            }
        }
        // Old signatures carry no list; then the CMS covers only the first code directory, and
        // an unlisted second one (which macOS would prefer) could be swapped freely.
        None if cdhashes.len() > 1 => problems.push(
            "the CMS signature has no cdhashes attribute, so the alternate code directories are unsigned".to_string(),
        ),
        None => {}
    }
    let certificate = signed_data.certificates().find(|certificate| {
        x509_certificate::certificate::certificate_is_subset_of(
            signer
                .certificate_issuer_and_serial()
                .map(|(_, serial)| serial)
                .expect("signer has a serial"),
            signer
                .certificate_issuer_and_serial()
                .map(|(issuer, _)| issuer)
                .expect("signer has an issuer"),
            certificate.serial_number_asn1(),
            certificate.issuer_name(),
        )
    });
    let Some(certificate) = certificate else {
        problems.push("the CMS signature does not embed its signer certificate".to_string());
        return Err(problems);
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok((
        certificate.subject_common_name().unwrap_or_default(),
        certificate_sha256(certificate),
    ))
}

/// The 20-byte code directory hashes in the signer's Apple `cdhashes` plist attribute.
fn signed_cdhashes(signer: &cryptographic_message_syntax::SignerInfo) -> Option<Vec<Vec<u8>>> {
    let attributes = signer.signed_attributes()?;
    let attribute = attributes
        .attributes()
        .iter()
        .find(|attribute| attribute.typ.as_ref() == CD_HASHES_PLIST_OID)?;
    let value = attribute.values.first()?;
    let plist_bytes = der_octet_string(value.as_slice())?;
    let plist = plist::Value::from_reader(std::io::Cursor::new(plist_bytes)).ok()?;
    let list = plist.as_dictionary()?.get("cdhashes")?.as_array()?;
    Some(
        list.iter()
            .filter_map(|value| value.as_data().map(<[u8]>::to_vec))
            .collect(),
    )
}

/// The contents of a DER `OCTET STRING` (tag 4, definite length).
fn der_octet_string(der: &[u8]) -> Option<&[u8]> {
    let (&tag, rest) = der.split_first()?;
    if tag != 0x04 {
        return None;
    }
    let (&first_length, rest) = rest.split_first()?;
    let (length, rest) = if first_length < 0x80 {
        (first_length as usize, rest)
    } else {
        let n_length_bytes = (first_length & 0x7f) as usize;
        if n_length_bytes == 0 || n_length_bytes > 4 || rest.len() < n_length_bytes {
            return None;
        }
        let length = rest[..n_length_bytes]
            .iter()
            .fold(0usize, |acc, byte| (acc << 8) | *byte as usize);
        (length, &rest[n_length_bytes..])
    };
    rest.get(..length)
}

/// The raw CMS blob and the first code directory blob of a signed thin Mach-O (or of each
/// slice of a universal one), for checking with an independent tool:
/// `openssl cms -verify -noverify -binary -inform DER -in cms.der -content cd.bin`.
/// `Ok(vec![])` for ad-hoc or unsigned files.
pub fn extract_cms_and_code_directory(path: &Path) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let data = fs_err::read(path)?;
    let parse_error = |message: String| Error::Parse {
        path: path.to_path_buf(),
        message,
    };
    let mach = MachFile::parse(&data).map_err(|error| parse_error(error.to_string()))?;
    let mut pairs = vec![];
    for macho in mach.iter_macho() {
        let Some(signature) = macho
            .code_signature()
            .map_err(|error| parse_error(error.to_string()))?
        else {
            continue;
        };
        let cms = signature
            .signature_data()
            .map_err(|error| parse_error(error.to_string()))?
            .filter(|cms| !cms.is_empty());
        let code_directory = signature.find_slot(CodeSigningSlot::CodeDirectory);
        if let (Some(cms), Some(code_directory)) = (cms, code_directory) {
            pairs.push((cms.to_vec(), code_directory.data.to_vec()));
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_macho_without_a_signature_is_unsigned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("libempty.dylib");
        // mach_header_64 for an arm64 MH_DYLIB with no load commands.
        let mut header = vec![];
        for word in [0xfeed_facfu32, 0x0100_000c, 0, 6, 0, 0, 0, 0] {
            header.extend(word.to_le_bytes());
        }
        std::fs::write(&path, header).unwrap();
        assert_eq!(verify_file(&path).unwrap(), VerifyOutcome::Unsigned);
    }

    #[test]
    fn der_octet_strings() {
        let long = vec![7u8; 200];
        let mut long_der = vec![0x04, 0x81, 200];
        long_der.extend(&long);
        // (case, DER input, expected contents)
        type Case<'a> = (&'a str, Vec<u8>, Option<&'a [u8]>);
        let cases: Vec<Case> = vec![
            (
                "short form",
                vec![0x04, 0x02, 0xaa, 0xbb],
                Some(&[0xaa, 0xbb]),
            ),
            ("long form", long_der, Some(&long)),
            ("wrong tag", vec![0x0c, 0x01, 0x41], None),
            ("truncated", vec![0x04, 0x05, 0x01], None),
            ("empty", vec![], None),
        ];
        for (name, der, expected) in cases {
            assert_eq!(der_octet_string(&der), expected, "{name}");
        }
    }
}
