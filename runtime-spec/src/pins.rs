//! The pinned python-build-standalone archives, read from `python-pins.toml`
//! (`docs/decisions/0001-python-build-standalone.md`).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::{SpecError, Target};

/// The committed pins file, compiled in.
pub const PINS_TOML: &str = include_str!("../python-pins.toml");

/// All pins.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PythonPins {
    pub python_version: String,
    pub release: String,
    pub flavor: String,
    pub base_url: String,
    targets: BTreeMap<String, TargetPin>,
}

/// The pinned archive of one target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetPin {
    pub asset: String,
    pub sha256: String,
}

impl PythonPins {
    /// The compiled-in pins.
    pub fn builtin() -> PythonPins {
        PythonPins::parse(PINS_TOML).expect("the committed python-pins.toml parses")
    }

    /// Parses a pins file.
    pub fn parse(text: &str) -> Result<PythonPins, SpecError> {
        Ok(toml::from_str(text)?)
    }

    /// The pin of one target.
    pub fn pin(&self, target: Target) -> Result<&TargetPin, SpecError> {
        self.targets
            .get(target.name())
            .ok_or_else(|| SpecError::MissingPin {
                target: target.name().into(),
            })
    }

    /// Download URL for a target under `base` (the pinned base URL or a mirror), with `+`
    /// percent-encoded as the release host expects.
    pub fn url(&self, base: &str, target: Target) -> Result<String, SpecError> {
        let pin = self.pin(target)?;
        Ok(format!(
            "{}/{}/{}",
            base.trim_end_matches('/'),
            self.release,
            pin.asset.replace('+', "%2B")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_is_pinned_with_a_sha256() {
        let pins = PythonPins::builtin();
        for target in Target::ALL {
            let pin = pins.pin(target).unwrap();
            assert_eq!(pin.sha256.len(), 64);
            assert!(pin.asset.contains(target.triple()), "{}", pin.asset);
            assert!(pin.asset.contains(&pins.python_version));
        }
        let url = pins.url("file:///m/", Target::LinuxX64).unwrap();
        assert_eq!(
            url,
            "file:///m/20260814/cpython-3.12.14%2B20260814-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz"
        );
    }
}
