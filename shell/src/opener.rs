//! Opens a folder in the OS file manager, or a web address in the user's browser, from Rust
//! (the webview never spawns processes).

use std::path::Path;
use std::process::Command;

/// Starts the platform's opener on `folder` (creating it first, so a fresh install opens an
/// empty folder instead of failing) and returns once it is spawned. The opener is reaped on a
/// thread so it never lingers as a zombie.
pub fn open_folder(folder: &Path) -> Result<(), String> {
    fs_err::create_dir_all(folder).map_err(|error| error.to_string())?;
    spawn_opener(folder.as_os_str(), &folder.display().to_string())
}

/// Opens an existing file (a crash report) with the program the OS associates with it.
pub fn open_file(file: &Path) -> Result<(), String> {
    if !file.is_file() {
        return Err(format!("{} is gone", file.display()));
    }
    spawn_opener(file.as_os_str(), &file.display().to_string())
}

/// Hands an `http(s)` address to the user's browser (the OS opener decides which). Only
/// called with URLs the navigation guard already checked are web addresses.
pub fn open_url(url: &url::Url) -> Result<(), String> {
    spawn_opener(std::ffi::OsStr::new(url.as_str()), url.as_str())
}

fn spawn_opener(what: &std::ffi::OsStr, shown: &str) -> Result<(), String> {
    let program = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    let mut child = Command::new(program)
        .arg(what)
        .spawn()
        .map_err(|error| format!("could not start {program} to open {shown} ({error})"))?;
    std::thread::spawn(move || child.wait());
    Ok(())
}
