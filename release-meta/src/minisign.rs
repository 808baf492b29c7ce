//! minisign keys and signatures, byte-compatible with the reference `minisign` and Tauri's updater.
//!
//! Key and signature formats are minisign's own text files (two lines: an untrusted comment and
//! base64), so the reference tool checks what we write with
//! `minisign -V -P <public key line> -m <file>`. Signatures are always the prehashed `ED`
//! kind (BLAKE2b-512 of the file, then ed25519), which current minisign writes by default and
//! which both `minisign -V` and Tauri's `minisign-verify` accept.

use std::io::Cursor;

use ::minisign::{KeyPair, PublicKey, SecretKey, SecretKeyBox, SignatureBox};
use base64::Engine as _;

use crate::{Error, Result};

use runtime_spec::keys::UNTRUSTED_COMMENT_PREFIX as UNTRUSTED_PREFIX;

/// Untrusted comment written above our signatures (informational only, not signed).
const SIGNATURE_COMMENT: &str = "signature from the release key";

/// Makes a new key pair for `cargo xtask keygen`: `(public_key_text, secret_key_text)`.
///
/// Both are minisign key file texts. The public key is embedded in the shell (and, through
/// [`tauri_pubkey`], in `tauri.conf.json`); the secret key text goes into a CI secret env
/// var and never into a file in the repository.
///
/// With `Some(password)` the secret key is encrypted with scrypt as `minisign -G` does; Tauri's
/// own `tauri signer sign` only accepts encrypted keys, so give a password (even an empty one)
/// when the same key also signs app updates. `None` writes an unencrypted key, as
/// `minisign -G -W` does.
pub fn generate_keypair(password: Option<&str>) -> Result<(String, String)> {
    let generate = |source| Error::Minisign {
        what: "key generation",
        source,
    };
    // `generate_encrypted_keypair(None)` would prompt on the terminal, so the two cases are
    // separate calls rather than one with an optional password.
    let KeyPair { pk, sk } = match password {
        Some(password) => KeyPair::generate_encrypted_keypair(Some(password.to_owned())),
        None => KeyPair::generate_unencrypted_keypair(),
    }
    .map_err(generate)?;
    let public_key = pk.to_box().map_err(generate)?.into_string();
    let secret_key = sk
        .to_box(Some("release secret key"))
        .map_err(generate)?
        .into_string();
    Ok((public_key, secret_key))
}

/// Signs `data`, returning the text of a standard `.minisig` file (prehashed, `ED`).
///
/// `secret_key_text` is the key file text or its base64 (the form Tauri's
/// `TAURI_SIGNING_PRIVATE_KEY` uses). `password` must be given when the key is encrypted (an
/// empty one for a key encrypted with an empty password); for an unencrypted key it must be
/// `None` or empty, since CI passes an unset secret as an empty env var. The `trusted_comment`
/// is signed too and must be one line; `minisign -V` prints it.
pub fn sign(
    data: &[u8],
    secret_key_text: &str,
    password: Option<&str>,
    trusted_comment: &str,
) -> Result<String> {
    if trusted_comment.contains(['\n', '\r']) {
        return Err(Error::TrustedCommentNewline {
            comment: trusted_comment.to_owned(),
        });
    }
    let secret_key = parse_secret_key(secret_key_text, password)?;
    let public_key = PublicKey::from_secret_key(&secret_key).map_err(|source| Error::Minisign {
        what: "deriving the public key",
        source,
    })?;
    // Passing the public key makes the crate check its own signature before returning it.
    let signature = ::minisign::sign(
        Some(&public_key),
        &secret_key,
        Cursor::new(data),
        Some(trusted_comment),
        Some(SIGNATURE_COMMENT),
    )
    .map_err(|source| Error::Minisign {
        what: "signing",
        source,
    })?;
    Ok(signature.into_string())
}

/// Verifies a `.minisig` text over `data`; returns the signed trusted comment.
///
/// Accepts only prehashed signatures, as `minisign -V` does for anything it wrote itself and as
/// the shell must (legacy signatures hash nothing and would need the whole file in memory).
/// `public_key_text` may be the key file text, its bare base64 line, or Tauri's base64 form.
pub fn verify(data: &[u8], signature_text: &str, public_key_text: &str) -> Result<String> {
    let public_key = parse_public_key(public_key_text)?;
    let key_id = key_id_of(&public_key);
    let signature =
        SignatureBox::from_string(signature_text).map_err(|error| Error::BadSignature {
            key_id: key_id.clone(),
            reason: format!("unreadable signature: {error}"),
        })?;
    ::minisign::verify(
        &public_key,
        &signature,
        Cursor::new(data),
        true,
        false,
        false,
    )
    .map_err(|error| Error::BadSignature {
        key_id: key_id.clone(),
        reason: error.to_string(),
    })?;
    signature
        .trusted_comment()
        .map_err(|source| Error::Minisign {
            what: "reading the trusted comment",
            source,
        })
}

/// The `pubkey` value for Tauri's updater config (`plugins.updater.pubkey` in `tauri.conf.json`).
///
/// Tauri does not take the minisign key line itself but the base64 of the whole public key
/// file text (comment line included), which is what `tauri signer generate` prints. Likewise a
/// `.sig` next to a Tauri update bundle is the base64 of the `.minisig` text.
///
/// Input already in Tauri's form, or a bare key line, is turned into the file text first, so the
/// result is the same whichever form of the same key is passed ([`runtime_spec::PublicKey`]
/// reads them all). Text that is no key is encoded as it is.
pub fn tauri_pubkey(public_key_text: &str) -> String {
    match runtime_spec::PublicKey::parse(public_key_text) {
        Ok(key) => key.tauri_form(),
        Err(_) => {
            base64::engine::general_purpose::STANDARD.encode(normalised_key_text(public_key_text))
        }
    }
}

/// The bare base64 key line, as `minisign -V -P <key>` takes it on the command line.
pub fn public_key_line(public_key_text: &str) -> Result<String> {
    Ok(parse_public_key(public_key_text)?.to_base64())
}

/// The key id minisign prints (`minisign public key 0123ABCD...`), uppercase hex.
pub fn key_id(public_key_text: &str) -> Result<String> {
    Ok(key_id_of(&parse_public_key(public_key_text)?))
}

fn key_id_of(public_key: &PublicKey) -> String {
    // minisign prints the 8-byte key number as a little-endian u64 in uppercase hex.
    let mut keynum = [0u8; 8];
    keynum.copy_from_slice(public_key.keynum());
    format!("{:016X}", u64::from_le_bytes(keynum))
}

/// Key text with a trailing newline; Tauri's key files end with one and so do ours.
fn normalised_key_text(text: &str) -> String {
    let mut text = text.trim().to_owned();
    text.push('\n');
    text
}

/// Key file text from what the user pasted: the file text itself, or its base64 (Tauri's form).
fn key_file_text(text: &str) -> Option<String> {
    let text = text.trim();
    if text.starts_with(UNTRUSTED_PREFIX) {
        return Some(text.to_owned());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    decoded
        .trim()
        .starts_with(UNTRUSTED_PREFIX)
        .then(|| decoded.trim().to_owned())
}

/// Every form [`runtime_spec::PublicKey`] reads, the same forms the shell and the updater accept.
fn parse_public_key(text: &str) -> Result<PublicKey> {
    let not_a_key = || Error::KeyFormat { what: "public key" };
    let key = runtime_spec::PublicKey::parse(text).map_err(|_| not_a_key())?;
    PublicKey::from_base64(&key.key_line()).map_err(|_| not_a_key())
}

fn parse_secret_key(text: &str, password: Option<&str>) -> Result<SecretKey> {
    let file_text = key_file_text(text).ok_or(Error::KeyFormat { what: "secret key" })?;
    let encoded = file_text
        .lines()
        .nth(1)
        .ok_or(Error::KeyFormat { what: "secret key" })?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| Error::KeyFormat { what: "secret key" })?;
    let is_encrypted = SecretKey::from_bytes(&bytes)
        .map_err(|_| Error::KeyFormat { what: "secret key" })?
        .is_encrypted();
    let key_box = SecretKeyBox::from_string(&file_text).map_err(|source| Error::Minisign {
        what: "reading the secret key",
        source,
    })?;
    // Checked here because the crate prompts on the terminal for a missing password.
    let secret_key = match (is_encrypted, password) {
        (true, Some(password)) => key_box.into_secret_key(Some(password.to_owned())),
        (true, None) => return Err(Error::SecretKeyNeedsPassword),
        (false, None | Some("")) => key_box.into_unencrypted_secret_key(),
        (false, Some(_)) => return Err(Error::SecretKeyNotEncrypted),
    };
    secret_key.map_err(|source| Error::Minisign {
        what: "decrypting the secret key (wrong password?)",
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_unencrypted_and_tauri_forms() {
        let (public_key, secret_key) = generate_keypair(None).unwrap();
        let signature = sign(b"hello", &secret_key, None, "file:hello").unwrap();
        assert_eq!(
            verify(b"hello", &signature, &public_key).unwrap(),
            "file:hello"
        );
        assert_eq!(
            verify(b"hello", &signature, &tauri_pubkey(&public_key)).unwrap(),
            "file:hello"
        );
        let line = public_key_line(&public_key).unwrap();
        assert_eq!(verify(b"hello", &signature, &line).unwrap(), "file:hello");
        assert!(verify(b"hellO", &signature, &public_key).is_err());
        let tauri_secret = base64::engine::general_purpose::STANDARD.encode(&secret_key);
        sign(b"x", &tauri_secret, None, "c").unwrap();
        sign(b"x", &secret_key, Some(""), "c").unwrap();
        assert!(matches!(
            sign(b"x", &secret_key, Some("pw"), "c"),
            Err(Error::SecretKeyNotEncrypted)
        ));
        assert!(matches!(
            sign(b"x", &secret_key, None, "two\nlines"),
            Err(Error::TrustedCommentNewline { .. })
        ));
    }

    #[test]
    fn encrypted_key_needs_its_password() {
        let (public_key, secret_key) = generate_keypair(Some("correct horse")).unwrap();
        assert!(matches!(
            sign(b"x", &secret_key, None, "c"),
            Err(Error::SecretKeyNeedsPassword)
        ));
        assert!(sign(b"x", &secret_key, Some("wrong"), "c").is_err());
        let signature = sign(b"x", &secret_key, Some("correct horse"), "c").unwrap();
        verify(b"x", &signature, &public_key).unwrap();
    }

    /// The forms the shell and the runtime updater accept (runtime_spec::PublicKey) are the
    /// forms signatures verify against here, whitespace and all.
    #[test]
    fn every_key_form_verifies() {
        let (public_key, secret_key) = generate_keypair(None).unwrap();
        let signature = sign(b"data", &secret_key, None, "c").unwrap();
        let line = public_key_line(&public_key).unwrap();
        let tauri = tauri_pubkey(&public_key);
        for form in [
            public_key.clone(),
            public_key.trim_end().to_owned(),
            public_key.replace('\n', "\r\n"),
            format!("\n {public_key} \n"),
            line.clone(),
            format!(" {line}\n"),
            tauri.clone(),
            format!("{tauri}\n"),
        ] {
            assert_eq!(verify(b"data", &signature, &form).unwrap(), "c", "{form:?}");
            assert_eq!(tauri_pubkey(&form), tauri, "{form:?}");
            assert_eq!(key_id(&form).unwrap(), key_id(&public_key).unwrap());
        }
    }
}
