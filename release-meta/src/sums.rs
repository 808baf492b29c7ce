//! `SHA256SUMS` in the exact format `sha256sum -c` reads, so a user checks a download with the
//! standard tool.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Writes `dir/SHA256SUMS` for `files` and returns its path.
///
/// `files` may be relative to `dir` or absolute paths inside it. Each line is
/// `<lowercase hex>  <name>\n` (two spaces: GNU's text-mode marker, which is what `sha256sum`
/// writes on Unix), names `/`-separated relative to `dir` and sorted bytewise, so
/// `cd dir && sha256sum -c SHA256SUMS` passes and the file is the same on every run.
pub fn write_sha256sums(dir: &Path, files: &[PathBuf]) -> Result<PathBuf> {
    let mut lines = Vec::with_capacity(files.len());
    for file in files {
        let name = name_in_dir(dir, file)?;
        let (_, sha256) = size_and_sha256(&dir.join(&name))?;
        lines.push((name, sha256));
    }
    lines.sort();
    let text: String = lines
        .iter()
        .map(|(name, sha256)| format!("{sha256}  {name}\n"))
        .collect();
    let path = dir.join("SHA256SUMS");
    fs_err::write(&path, text)?;
    Ok(path)
}

/// `file` as a `/`-separated name relative to `dir`, refusing anything outside it and any name
/// GNU `sha256sum` would have to escape (it prefixes such lines with `\`, which other checkers
/// misread).
fn name_in_dir(dir: &Path, file: &Path) -> Result<String> {
    let relative = if file.is_absolute() {
        file.strip_prefix(dir).map_err(|_| Error::OutsideSumsDir {
            path: file.to_owned(),
            dir: dir.to_owned(),
        })?
    } else {
        file
    };
    let mut parts = Vec::new();
    for component in relative.components() {
        match component {
            Component::Normal(part) => {
                parts.push(part.to_str().ok_or_else(|| Error::UnsupportedSumsName {
                    path: file.to_owned(),
                })?)
            }
            Component::CurDir => {}
            _ => {
                return Err(Error::OutsideSumsDir {
                    path: file.to_owned(),
                    dir: dir.to_owned(),
                })
            }
        }
    }
    let name = parts.join("/");
    if name.is_empty() {
        return Err(Error::OutsideSumsDir {
            path: file.to_owned(),
            dir: dir.to_owned(),
        });
    }
    if name.contains(['\n', '\r', '\\']) {
        return Err(Error::UnsupportedSumsName {
            path: file.to_owned(),
        });
    }
    Ok(name)
}

/// Size in bytes and lowercase hex sha256 of a file, streamed (archives are hundreds of MB).
pub(crate) fn size_and_sha256(path: &Path) -> Result<(u64, String)> {
    let mut file = fs_err::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n_read = file.read(&mut buffer)?;
        if n_read == 0 {
            break;
        }
        hasher.update(&buffer[..n_read]);
        size += n_read as u64;
    }
    Ok((size, hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let dir = Path::new("/release");
        for (file, expected) in [
            ("a.tar.zst", Some("a.tar.zst")),
            ("./sub/b.txt", Some("sub/b.txt")),
            ("/release/sub/c", Some("sub/c")),
            ("/elsewhere/c", None),
            ("../c", None),
            ("back\\slash", None),
            ("new\nline", None),
            (".", None),
        ] {
            let got = name_in_dir(dir, Path::new(file)).ok();
            assert_eq!(got.as_deref(), expected, "{file:?}");
        }
    }
}
