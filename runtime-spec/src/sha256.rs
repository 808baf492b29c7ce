//! A sha256 digest as the contract writes it: 64 lowercase hex digits.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A sha256 digest. On the wire (index, manifest, `.sha256` files) it is 64 lowercase hex
/// digits; [`Sha256::parse`] also takes uppercase (what some tools print and people paste),
/// while JSON is read strictly so a signed file has exactly one spelling of each digest.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256([u8; 32]);

/// Text that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a sha256: expected 64 hex digits")]
pub struct BadSha256(pub String);

impl Sha256 {
    /// 64 hex digits, either case, nothing around them.
    pub fn parse(text: &str) -> Result<Sha256, BadSha256> {
        let bad = || BadSha256(text.to_owned());
        if text.len() != 64 {
            return Err(bad());
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks(2)) {
            let digit = |c: u8| (c as char).to_digit(16).ok_or_else(bad);
            *byte = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
        }
        Ok(Sha256(bytes))
    }

    /// Like [`Sha256::parse`], lowercase only: the form signed files carry.
    pub fn parse_lowercase(text: &str) -> Result<Sha256, BadSha256> {
        if text.bytes().any(|byte| byte.is_ascii_uppercase()) {
            return Err(BadSha256(text.to_owned()));
        }
        Sha256::parse(text)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Sha256 {
        Sha256(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({self})")
    }
}

impl FromStr for Sha256 {
    type Err = BadSha256;

    fn from_str(text: &str) -> Result<Sha256, BadSha256> {
        Sha256::parse(text)
    }
}

impl PartialEq<str> for Sha256 {
    fn eq(&self, other: &str) -> bool {
        Sha256::parse(other).is_ok_and(|other| other == *self)
    }
}

impl Serialize for Sha256 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Sha256 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Sha256, D::Error> {
        let text = Cow::<str>::deserialize(deserializer)?;
        Sha256::parse_lowercase(&text).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Sha256 {
    fn schema_name() -> Cow<'static, str> {
        "Sha256".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9a-f]{64}$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_hex_of_either_case_and_writes_lowercase() {
        let digest = Sha256::parse(EMPTY).unwrap();
        assert_eq!(digest.to_string(), EMPTY);
        assert_eq!(Sha256::parse(&EMPTY.to_uppercase()).unwrap(), digest);
        assert!(Sha256::parse_lowercase(&EMPTY.to_uppercase()).is_err());
        for bad in [
            "",
            &EMPTY[1..],
            &format!("{EMPTY}0"),
            &format!(" {}", &EMPTY[1..]),
            &EMPTY.replace('e', "g"),
            &"é".repeat(32),
        ] {
            assert!(Sha256::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            serde_json::to_string(&digest).unwrap(),
            format!("\"{EMPTY}\"")
        );
        assert_eq!(
            serde_json::from_str::<Sha256>(&format!("\"{EMPTY}\"")).unwrap(),
            digest
        );
        assert!(serde_json::from_str::<Sha256>(&format!("\"{}\"", EMPTY.to_uppercase())).is_err());
        assert!(digest == *EMPTY.to_uppercase().as_str());
    }
}
