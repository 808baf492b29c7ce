//! Opens a folder in the OS file manager, from Rust (the webview never spawns processes).

use std::path::Path;
use std::process::Command;

/// Starts the platform's opener on `folder` (creating it first, so a fresh install opens an
/// empty folder instead of failing) and returns once it is spawned. The opener is reaped on a
/// thread so it never lingers as a zombie.
pub fn open_folder(folder: &Path) -> Result<(), String> {
    fs_err::create_dir_all(folder).map_err(|error| error.to_string())?;
    let program = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    let mut child = Command::new(program).arg(folder).spawn().map_err(|error| {
        format!(
            "could not start {program} to open {} ({error})",
            folder.display()
        )
    })?;
    std::thread::spawn(move || child.wait());
    Ok(())
}
