//! Downloads from the engine's page (a trained tokenizer, its Transformers export, the
//! diagnostics zip) land in the user's Downloads folder, as a browser would put them, and a
//! banner over the UI says where, with a button that shows the folder.
//!
//! Without a handler the webview has nowhere to put a download (WebKitGTK drops it), so the
//! buttons would do nothing in the desktop app. Only the running engine's origin may download;
//! a file never replaces another: `name (1).ext`, `name (2).ext`, ...

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tauri::{Manager, Url, Webview};

use crate::app::{self, Shell};

/// Id of the banner that says where a download went (its test id too).
pub const DOWNLOAD_NOTICE_ID: &str = "shell-download-notice";

/// The folder downloads go to: the OS's Downloads folder (XDG user dirs on Linux), else
/// `~/Downloads`.
pub fn downloads_dir<R: tauri::Runtime>(manager: &impl Manager<R>) -> Option<PathBuf> {
    let paths = manager.path();
    paths
        .download_dir()
        .ok()
        .or_else(|| paths.home_dir().ok().map(|home| home.join("Downloads")))
}

/// The `Requested` step: whether the download may start, and where it goes.
pub fn requested(shell: &Shell, webview: &Webview, url: &Url, destination: &mut PathBuf) -> bool {
    let origin = app::origin_of(url).unwrap_or_default();
    if !shell.is_engine_origin(&origin) {
        shell
            .log
            .line(&format!("refused a download from {origin:?}"));
        return false;
    }
    let Some(folder) = downloads_dir(webview) else {
        shell
            .log
            .line("refused a download: this system has no Downloads or home folder");
        return false;
    };
    if let Err(error) = std::fs::create_dir_all(&folder) {
        shell.log.line(&format!(
            "refused a download: {} cannot be created ({error})",
            folder.display()
        ));
        return false;
    }
    let suggested = destination
        .file_name()
        .and_then(|name| name.to_str())
        .map(safe_file_name)
        .unwrap_or_else(|| "download".to_owned());
    *destination = free_name(&folder, &suggested);
    shell.log.line(&format!(
        "downloading {} to {}",
        url.path(),
        destination.display()
    ));
    true
}

/// The `Finished` step: logs it and says where the file is (or that it failed) over the UI.
pub fn finished(shell: &Arc<Shell>, webview: &Webview, path: Option<PathBuf>, success: bool) {
    // macOS does not report the path: the folder is still the Downloads folder.
    let folder = downloads_dir(webview);
    let sentence = match (success, &path) {
        (true, Some(path)) => format!(
            "Saved {} in {}.",
            path.file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default(),
            path.parent().unwrap_or(Path::new("")).display()
        ),
        (true, None) => format!(
            "Saved in {}.",
            folder
                .as_deref()
                .unwrap_or(Path::new("Downloads"))
                .display()
        ),
        (false, _) => {
            "The download did not finish: the engine stopped or the disk is full. Try again."
                .to_owned()
        }
    };
    shell.log.line(&format!(
        "download {}: {}",
        if success { "finished" } else { "failed" },
        path.as_deref().unwrap_or(Path::new("?")).display()
    ));
    let script = if success {
        crate::runtime_update::notice_banner_with_action(
            DOWNLOAD_NOTICE_ID,
            &sentence,
            "Show in folder",
            "open_downloads_folder",
        )
    } else {
        crate::runtime_update::notice_banner_script(DOWNLOAD_NOTICE_ID, &sentence)
    };
    if let Err(error) = webview.eval(script) {
        shell
            .log
            .line(&format!("could not show the download notice: {error}"));
    }
}

/// A file name the page suggested, reduced to one plain name: no folders, no leading dots, no
/// characters Windows refuses.
fn safe_file_name(name: &str) -> String {
    let name = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.').trim();
    if cleaned.is_empty() {
        "download".to_owned()
    } else {
        cleaned.to_owned()
    }
}

/// `folder/name`, or `name (1).ext`, `name (2).ext`, ... when taken.
pub(crate) fn free_name(folder: &Path, name: &str) -> PathBuf {
    let candidate = folder.join(name);
    if !candidate.exists() {
        return candidate;
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, format!(".{ext}")),
        _ => (name, String::new()),
    };
    (1u32..)
        .map(|n| folder.join(format!("{stem} ({n}){ext}")))
        .find(|path| !path.exists())
        .expect("a free name")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_in_the_folder_and_never_replace_a_file() {
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name("..\\evil.zip"), "evil.zip");
        assert_eq!(safe_file_name(".hidden"), "hidden");
        assert_eq!(safe_file_name("a:b?.json"), "a_b_.json");
        assert_eq!(safe_file_name(".."), "download");
        let dir = tempfile::tempdir().unwrap();
        let first = free_name(dir.path(), "tokenizer.zip");
        assert_eq!(first, dir.path().join("tokenizer.zip"));
        std::fs::write(&first, b"1").unwrap();
        let second = free_name(dir.path(), "tokenizer.zip");
        assert_eq!(second, dir.path().join("tokenizer (1).zip"));
        std::fs::write(&second, b"2").unwrap();
        assert_eq!(
            free_name(dir.path(), "tokenizer.zip"),
            dir.path().join("tokenizer (2).zip")
        );
        std::fs::write(dir.path().join("README"), b"x").unwrap();
        assert_eq!(
            free_name(dir.path(), "README"),
            dir.path().join("README (1)")
        );
    }
}
