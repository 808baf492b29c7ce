//! `<data>/logs/shell.log`: what the shell decided and why, rotated at a small cap.
//!
//! The engine's own output is the supervisor's `engine.log`; this file is for discovery
//! results, state changes and actions, so a support request has both sides. Never log the token.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// Name of the shell's log inside `<data>/logs/`.
pub const SHELL_LOG_FILE_NAME: &str = "shell.log";

/// A line-oriented log file that keeps `max_bytes` plus one rotated copy (`shell.log.1`).
pub struct ShellLog {
    path: PathBuf,
    max_bytes: u64,
    file: Mutex<Option<std::fs::File>>,
}

impl ShellLog {
    /// Opens (appending) `<logs_dir>/shell.log`. Logging must never stop the app, so a log that
    /// cannot be opened just writes nothing (stderr still gets every line).
    pub fn open(logs_dir: &Path, max_bytes: u64) -> ShellLog {
        ShellLog::open_file(logs_dir, SHELL_LOG_FILE_NAME, max_bytes)
    }

    /// [`ShellLog::open`] for another file of the logs folder (the launcher's).
    pub fn open_file(logs_dir: &Path, name: &str, max_bytes: u64) -> ShellLog {
        let path = logs_dir.join(name);
        let file = supervisor::private::create_private_dir(logs_dir)
            .and_then(|()| open_append(&path))
            .map_err(|error| eprintln!("shell log unavailable: {error}"))
            .ok();
        ShellLog {
            path,
            max_bytes,
            file: Mutex::new(file),
        }
    }

    /// Appends one line in `engine.log`'s format ([`supervisor::format_line`], source
    /// `shell`), rotating first when the file is over its cap. URLs in it lose their
    /// credentials and queries: a mirror's token must not end up in a support request.
    pub fn line(&self, message: &str) {
        let message = runtime_archive::url_policy::redact_in_text(message);
        let line = supervisor::format_line(SystemTime::now(), "shell", &message);
        eprint!("{line}");
        let mut guard = self
            .file
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let too_big = guard
            .as_ref()
            .and_then(|file| file.metadata().ok())
            .is_some_and(|meta| meta.len() + line.len() as u64 > self.max_bytes);
        if too_big {
            *guard = None;
            let rotated = self.path.with_extension("log.1");
            let _ = std::fs::rename(&self.path, rotated);
            *guard = open_append(&self.path).ok();
        }
        if let Some(file) = guard.as_mut() {
            let _ = file.write_all(line.as_bytes());
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    supervisor::private::private_append_options().open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_at_the_cap_and_keeps_one_copy() {
        let temp = tempfile::tempdir().unwrap();
        let log = ShellLog::open(&temp.path().join("logs"), 200);
        for n in 0..20 {
            log.line(&format!("line number {n}"));
        }
        let current = fs_err::read_to_string(log.path()).unwrap();
        let rotated = fs_err::read_to_string(log.path().with_extension("log.1")).unwrap();
        assert!(current.len() <= 200, "{}", current.len());
        assert!(current.ends_with(" shell  | line number 19\n"), "{current}");
        assert!(!rotated.is_empty() && rotated.len() <= 200);
        assert!(!temp.path().join("logs/shell.log.2").exists());
    }

    #[test]
    fn urls_lose_their_credentials_and_the_file_is_private() {
        let temp = tempfile::tempdir().unwrap();
        let log = ShellLog::open(&temp.path().join("logs"), 10_000);
        log.line("runtime downloads from https://me:hunter2@mirror.example/runtime-beta.json?token=abc (channel beta)");
        let text = fs_err::read_to_string(log.path()).unwrap();
        assert!(
            text.contains("https://mirror.example/runtime-beta.json (channel beta)"),
            "{text}"
        );
        assert!(
            !text.contains("hunter2") && !text.contains("token=abc"),
            "{text}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs_err::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(log.path()), 0o600);
            assert_eq!(mode(&temp.path().join("logs")), 0o700);
        }
    }
}
