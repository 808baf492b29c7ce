//! The minisign public key that signs release indexes and shell updates, in every form it is
//! written: the bare key line (`minisign -P`), the two-line `.pub` file (`minisign -G`,
//! `cargo xtask keygen`), and Tauri's base64 of that file (`plugins.updater.pubkey`, what
//! `cargo xtask keygen` prints for Tauri). One parser for all of them, so the xtask that
//! builds the key in, the runtime updater that checks indexes and the shell's updater that
//! checks installers cannot disagree about a key.

use std::fmt;

use base64::Engine as _;

/// First line of every minisign key or signature file.
pub const UNTRUSTED_COMMENT_PREFIX: &str = "untrusted comment:";
/// minisign's signature algorithm tag for ed25519 keys (`Ed`).
const ED25519: [u8; 2] = *b"Ed";
/// Tag + 8-byte key id + 32-byte ed25519 key.
const KEY_BYTES: usize = 42;

/// A minisign ed25519 public key. Two values are equal when they are the same key, whatever
/// form and comment they were read from.
#[derive(Clone)]
pub struct PublicKey {
    bytes: [u8; KEY_BYTES],
    /// The untrusted comment of the file form it was read from, kept so that Tauri's form of
    /// a key file is that file's base64 byte for byte; informational only, never trusted.
    comment: Option<String>,
}

/// Text that is none of the key forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a minisign public key: {reason}; give the key line, the `minisign.pub` file text, or its base64 (Tauri's form)")]
pub struct BadPublicKey {
    pub reason: String,
}

impl PublicKey {
    /// Reads any form: surrounding whitespace and a trailing newline are ignored, lines may end
    /// in CRLF.
    pub fn parse(text: &str) -> Result<PublicKey, BadPublicKey> {
        let bad = |reason: &str| BadPublicKey {
            reason: reason.to_owned(),
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(bad("the text is empty"));
        }
        if text.starts_with(UNTRUSTED_COMMENT_PREFIX) {
            return PublicKey::from_file_text(text);
        }
        if text.lines().count() > 1 {
            return Err(bad(
                "several lines, but the first is not an `untrusted comment:` line",
            ));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| bad("the line is not base64"))?;
        if decoded.len() == KEY_BYTES {
            return PublicKey::from_key_bytes(&decoded, None);
        }
        // Tauri's form: the base64 of the whole `.pub` file.
        match String::from_utf8(decoded) {
            Ok(file_text) if file_text.trim().starts_with(UNTRUSTED_COMMENT_PREFIX) => {
                PublicKey::from_file_text(file_text.trim())
            }
            _ => Err(bad(
                "the base64 is neither a 42-byte key nor the text of a key file",
            )),
        }
    }

    fn from_file_text(text: &str) -> Result<PublicKey, BadPublicKey> {
        let bad = |reason: &str| BadPublicKey {
            reason: reason.to_owned(),
        };
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect();
        let [comment, line] = lines.as_slice() else {
            return Err(bad(
                "a key file has two lines: the untrusted comment and the key",
            ));
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(line)
            .map_err(|_| bad("the key line is not base64"))?;
        PublicKey::from_key_bytes(&decoded, Some((*comment).to_owned()))
    }

    fn from_key_bytes(decoded: &[u8], comment: Option<String>) -> Result<PublicKey, BadPublicKey> {
        let bytes: [u8; KEY_BYTES] = decoded.try_into().map_err(|_| BadPublicKey {
            reason: format!("the key is {} bytes, not {KEY_BYTES}", decoded.len()),
        })?;
        if bytes[..2] != ED25519 {
            return Err(BadPublicKey {
                reason: "not an ed25519 (`Ed`) key".to_owned(),
            });
        }
        Ok(PublicKey { bytes, comment })
    }

    /// The bare base64 key line, as `minisign -V -P <key>` takes it.
    pub fn key_line(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.bytes)
    }

    /// The key id minisign prints, uppercase hex (the 8 id bytes as a little-endian u64).
    pub fn key_id(&self) -> String {
        let mut id = [0u8; 8];
        id.copy_from_slice(&self.bytes[2..10]);
        format!("{:016X}", u64::from_le_bytes(id))
    }

    /// The `.pub` file text: the comment it was read with (or minisign's own), then the key
    /// line, each ending in a newline.
    pub fn file_text(&self) -> String {
        let comment = self.comment.clone().unwrap_or_else(|| {
            format!(
                "{UNTRUSTED_COMMENT_PREFIX} minisign public key: {}",
                self.key_id()
            )
        });
        format!("{comment}\n{}\n", self.key_line())
    }

    /// Tauri's form (`plugins.updater.pubkey`): the base64 of [`PublicKey::file_text`].
    pub fn tauri_form(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.file_text())
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &PublicKey) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for PublicKey {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.key_id())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "minisign key {}", self.key_id())
    }
}

impl std::str::FromStr for PublicKey {
    type Err = BadPublicKey;

    fn from_str(text: &str) -> Result<PublicKey, BadPublicKey> {
        PublicKey::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real minisign key line (key id 53E7620F1842B4E8... as minisign prints it).
    const LINE: &str = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    /// Every form a release engineer may paste, with the whitespace copy and paste adds.
    #[test]
    fn every_form_of_one_key_is_the_same_key() {
        let file = format!("untrusted comment: minisign public key 1234\n{LINE}\n");
        let forms = [
            LINE.to_owned(),
            format!("{LINE}\n"),
            format!("  {LINE}\t\n"),
            file.clone(),
            file.trim_end().to_owned(),
            file.replace('\n', "\r\n"),
            format!("\n{file}\n\n"),
            format!("untrusted comment: x\n  {LINE}  \n"),
            b64(&file),
            format!("{}\n", b64(&file)),
            b64(file.trim_end()),
            b64(&format!(
                "untrusted comment: minisign public key: X\n{LINE}"
            )),
        ];
        let expected = PublicKey::parse(LINE).unwrap();
        for form in &forms {
            let key = PublicKey::parse(form).unwrap_or_else(|error| panic!("{form:?}: {error}"));
            assert_eq!(key, expected, "{form:?}");
            assert_eq!(key.key_line(), LINE, "{form:?}");
            assert_eq!(PublicKey::parse(&key.tauri_form()).unwrap(), expected);
            assert_eq!(PublicKey::parse(&key.file_text()).unwrap(), expected);
        }
        // The file form keeps its comment, so Tauri's form is that file's base64.
        assert_eq!(PublicKey::parse(&file).unwrap().tauri_form(), b64(&file));
        assert_eq!(
            PublicKey::parse(LINE).unwrap().file_text(),
            format!(
                "untrusted comment: minisign public key: {}\n{LINE}\n",
                expected.key_id()
            )
        );
    }

    #[test]
    fn what_is_not_a_key_is_refused() {
        let mut not_ed = base64::engine::general_purpose::STANDARD
            .decode(LINE)
            .unwrap();
        not_ed[1] = b'D';
        for text in [
            String::new(),
            " \n ".to_owned(),
            "RWQ".to_owned(),
            "untrusted comment: x\nRWQ".to_owned(),
            format!("untrusted comment: x\n{LINE}\n{LINE}"),
            format!("a comment without the prefix\n{LINE}"),
            format!("{LINE}{LINE}"),
            b64("untrusted comment: x\nRWQ"),
            b64("hello"),
            base64::engine::general_purpose::STANDARD.encode(not_ed),
            // A minisign signature's first line is not a key.
            "untrusted comment: signature from minisign secret key".to_owned(),
        ] {
            assert!(PublicKey::parse(&text).is_err(), "{text:?}");
        }
    }
}
