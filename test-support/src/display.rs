//! An X display for a window under test or measurement: the caller's `DISPLAY`, or a private
//! Xvfb on a free display number, stopped when dropped. Each user passes its own range of
//! numbers, so parallel users (the shell's window tests, `bench shell`, `ci-installed`) do not
//! race for the same one.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The display to use; a private Xvfb lives as long as this value.
pub struct Display {
    /// What `DISPLAY` must be set to (`:93`).
    pub name: String,
    xvfb: Option<Child>,
}

impl Display {
    /// `existing` (the caller's `DISPLAY`, read where that program reads its environment) when
    /// it is set, else a private Xvfb on the first free number of `numbers`. A killed Xvfb's
    /// leftover lock and socket are reclaimed once their pid is gone.
    pub fn start(
        existing: Option<String>,
        numbers: std::ops::Range<u32>,
    ) -> Result<Display, String> {
        if let Some(name) = existing.filter(|name| !name.is_empty()) {
            return Ok(Display { name, xvfb: None });
        }
        for number in numbers.clone() {
            let socket = format!("/tmp/.X11-unix/X{number}");
            let lock = format!("/tmp/.X{number}-lock");
            let owner = std::fs::read_to_string(&lock)
                .ok()
                .and_then(|text| text.trim().parse::<u32>().ok());
            if owner.is_some_and(|pid| !crate::is_alive(pid)) {
                let _ = std::fs::remove_file(&lock);
                let _ = std::fs::remove_file(&socket);
            }
            if Path::new(&socket).exists() || Path::new(&lock).exists() {
                continue;
            }
            let name = format!(":{number}");
            let mut child = Command::new("Xvfb")
                .args([name.as_str(), "-screen", "0", "1280x900x24", "-nolisten", "tcp"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|error| {
                    format!("starting Xvfb (Debian/Ubuntu: `apt-get install xvfb`), or set DISPLAY: {error}")
                })?;
            // Another process may take this number between the check above and this start;
            // its Xvfb wins, ours exits, and the next number is tried.
            let mut exited = false;
            let ready = crate::wait_until(crate::timeout(Duration::from_secs(10)), || {
                exited = child.try_wait().ok().flatten().is_some();
                exited || Path::new(&socket).exists()
            });
            if exited {
                continue;
            }
            if !ready {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("Xvfb on {name} did not start within 10 s"));
            }
            return Ok(Display {
                name,
                xvfb: Some(child),
            });
        }
        Err(format!(
            "no X display number in :{}–:{} could be started: set DISPLAY, or remove stale /tmp/.X*-lock files",
            numbers.start,
            numbers.end.saturating_sub(1)
        ))
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        if let Some(child) = &mut self.xvfb {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
