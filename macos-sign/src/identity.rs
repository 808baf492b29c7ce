//! Who signs: a Developer ID certificate with its private key, or nobody (ad-hoc).

use std::path::Path;

use apple_codesign::cryptography::InMemoryPrivateKey;
use base64::Engine as _;
use x509_certificate::{CapturedX509Certificate, Sign as _};

use crate::{Error, Result};

/// Path of the `.p12` (PKCS#12) file holding the Developer ID Application certificate and key.
pub const ENV_P12_PATH: &str = "APPLE_SIGNING_P12_PATH";
/// The same `.p12`, base64-encoded (how CI secrets usually carry it). Used when
/// [`ENV_P12_PATH`] is unset.
pub const ENV_P12_BASE64: &str = "APPLE_SIGNING_P12_BASE64";
/// Password of the `.p12`; may be empty but must be set.
pub const ENV_P12_PASSWORD: &str = "APPLE_SIGNING_P12_PASSWORD";

/// DER of OID 1.2.840.113549.1.5.13 (PKCS#5 PBES2), tag and length included.
const PBES2_OID_DER: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d,
];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// The identity files are signed with.
pub enum Identity {
    /// No certificate: code hashes only. Runs on Apple silicon for local use, but Gatekeeper
    /// rejects it for downloaded apps, so the release toolchain allows it on the dev channel only.
    AdHoc,
    /// A certificate and its private key (a Developer ID Application identity for releases).
    Certificate(Box<SigningIdentity>),
}

/// A certificate with the private key that matches it.
pub struct SigningIdentity {
    certificate: CapturedX509Certificate,
    key: InMemoryPrivateKey,
}

impl std::fmt::Debug for Identity {
    // By hand so a private key can never end up in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Identity {
    /// Loads a `.p12` file. OpenSSL 3's default `.p12` encryption (AES/PBKDF2) is not
    /// understood by apple-codesign: export with `openssl pkcs12 -export -legacy`.
    pub fn from_p12(path: &Path, password: &str) -> Result<Self> {
        let data = fs_err::read(path)?;
        Self::from_p12_bytes(&data, password, &path.display().to_string())
    }

    /// Loads `.p12` bytes; `origin` names where they came from in error messages.
    pub fn from_p12_bytes(data: &[u8], password: &str, origin: &str) -> Result<Self> {
        let identity_error = |message: &str| Error::Identity {
            origin: origin.to_string(),
            message: message.to_string(),
        };
        // OpenSSL 3's default .p12 encrypts with PBES2 (AES-256) and MACs with SHA-256; the p12
        // crate under apple-codesign asserts on the latter instead of returning an error. The
        // PBES2 algorithm identifier is never encrypted, so spotting it is exact.
        if contains(data, PBES2_OID_DER) {
            return Err(identity_error(
                "the .p12 uses PBES2/AES encryption (OpenSSL 3's default), which is not supported",
            ));
        }
        let parsed = std::panic::catch_unwind(|| {
            apple_codesign::cryptography::parse_pfx_data(data, password)
                .map_err(|error| error.to_string())
        })
        .map_err(|_| identity_error("the .p12 uses an unsupported MAC or encryption algorithm"))?;
        let (certificate, key) = parsed.map_err(|message| identity_error(&message))?;
        SigningIdentity::new(certificate, key, origin)
            .map(|identity| Self::Certificate(Box::new(identity)))
    }

    /// Loads a PEM certificate and a PEM private key (PKCS#8 `PRIVATE KEY` or PKCS#1
    /// `RSA PRIVATE KEY`).
    pub fn from_pem(certificate: &Path, key: &Path) -> Result<Self> {
        let certificate_pem = fs_err::read(certificate)?;
        let key_pem = fs_err::read(key)?;
        Self::from_pem_bytes(
            &certificate_pem,
            &key_pem,
            &format!("{} and {}", certificate.display(), key.display()),
        )
    }

    /// Loads PEM bytes; `origin` names where they came from in error messages.
    pub fn from_pem_bytes(certificate_pem: &[u8], key_pem: &[u8], origin: &str) -> Result<Self> {
        let identity_error = |message: String| Error::Identity {
            origin: origin.to_string(),
            message,
        };
        let certificate = CapturedX509Certificate::from_pem(certificate_pem)
            .map_err(|error| identity_error(format!("certificate: {error}")))?;
        let key_block =
            pem::parse(key_pem).map_err(|error| identity_error(format!("private key: {error}")))?;
        let key = match key_block.tag() {
            "PRIVATE KEY" => InMemoryPrivateKey::from_pkcs8_der(key_block.contents()),
            "RSA PRIVATE KEY" => InMemoryPrivateKey::from_pkcs1_der(key_block.contents()),
            other => {
                return Err(identity_error(format!(
                    "unsupported PEM block `{other}`; convert the key with `openssl pkcs8 -topk8 -nocrypt`"
                )))
            }
        }
        .map_err(|error| identity_error(format!("private key: {error}")))?;
        SigningIdentity::new(certificate, key, origin)
            .map(|identity| Self::Certificate(Box::new(identity)))
    }

    /// Reads the identity CI provides through the environment: [`ENV_P12_PATH`] (or
    /// [`ENV_P12_BASE64`]) and [`ENV_P12_PASSWORD`]. `Ok(None)` when neither `.p12` variable is
    /// set, so the caller decides whether ad-hoc is acceptable.
    pub fn from_env() -> Result<Option<Self>> {
        Self::from_env_lookup(&|name: &str| {
            std::env::var(name).ok().filter(|value| !value.is_empty())
        })
    }

    /// [`Identity::from_env`] over any variable source (tests, a `.env` file).
    pub fn from_env_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let p12_path = lookup(ENV_P12_PATH);
        let p12_base64 = lookup(ENV_P12_BASE64);
        if p12_path.is_none() && p12_base64.is_none() {
            return Ok(None);
        }
        let password_variable = if p12_path.is_some() {
            ENV_P12_PATH
        } else {
            ENV_P12_BASE64
        };
        let password = lookup(ENV_P12_PASSWORD).ok_or_else(|| Error::Env {
            name: ENV_P12_PASSWORD,
            message: format!(
                "not set, but {password_variable} is; set it to the .p12 password (an empty password must be set explicitly)"
            ),
        })?;
        let identity = match (p12_path, p12_base64) {
            (Some(path), _) => Self::from_p12(Path::new(&path), &password)?,
            (None, Some(encoded)) => {
                // Secrets pasted into CI settings often carry line breaks.
                let compact: String = encoded.split_whitespace().collect();
                let data = base64::engine::general_purpose::STANDARD
                    .decode(compact.as_bytes())
                    .map_err(|error| Error::Env {
                        name: ENV_P12_BASE64,
                        message: format!(
                            "not valid base64 ({error}); encode the .p12 with `base64 -w0`"
                        ),
                    })?;
                Self::from_p12_bytes(&data, &password, ENV_P12_BASE64)?
            }
            (None, None) => unreachable!("checked above"),
        };
        Ok(Some(identity))
    }

    /// Whether this is the ad-hoc identity (no certificate).
    pub fn is_ad_hoc(&self) -> bool {
        matches!(self, Self::AdHoc)
    }

    /// The certificate identity, if any.
    pub fn signing_identity(&self) -> Option<&SigningIdentity> {
        match self {
            Self::AdHoc => None,
            Self::Certificate(identity) => Some(identity),
        }
    }

    /// One line for logs and reports: `ad-hoc`, or the certificate's name and fingerprint.
    pub fn describe(&self) -> String {
        match self {
            Self::AdHoc => "ad-hoc".to_string(),
            Self::Certificate(identity) => format!(
                "{} (sha256 {})",
                identity
                    .common_name()
                    .unwrap_or_else(|| "certificate without a common name".to_string()),
                identity.sha256_fingerprint()
            ),
        }
    }
}

impl SigningIdentity {
    fn new(
        certificate: CapturedX509Certificate,
        key: InMemoryPrivateKey,
        origin: &str,
    ) -> Result<Self> {
        // A .p12 or PEM pair holding the wrong key signs fine and only fails on the user's Mac;
        // refuse it here instead.
        if key.public_key_data().as_ref() != certificate.public_key_data().as_ref() {
            return Err(Error::Identity {
                origin: origin.to_string(),
                message: "the private key does not belong to the certificate".to_string(),
            });
        }
        Ok(Self { certificate, key })
    }

    /// The signing certificate.
    pub fn certificate(&self) -> &CapturedX509Certificate {
        &self.certificate
    }

    /// The certificate's subject common name, e.g. `Developer ID Application: Name (TEAMID)`.
    pub fn common_name(&self) -> Option<String> {
        self.certificate.subject_common_name()
    }

    /// Lowercase hex SHA-256 of the certificate's DER encoding.
    pub fn sha256_fingerprint(&self) -> String {
        certificate_sha256(&self.certificate)
    }

    pub(crate) fn key(&self) -> &InMemoryPrivateKey {
        &self.key
    }
}

pub(crate) fn certificate_sha256(certificate: &CapturedX509Certificate) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(certificate.constructed_data()))
}
