//! Crash reports: a shell panic or an engine that stopped on its own writes a plain-text report
//! into `<data>/logs/`, and the next start offers to open it. Nothing is sent anywhere: the
//! report is for the user to read or attach to a question.
//!
//! Reports are `crash-<UTC time>-<shell|engine>.txt`, private like the logs. Which ones were
//! already offered is kept in `crash-reports-offered.txt` (one file name a line), so each is
//! offered once.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// File names of reports start with this.
pub const REPORT_PREFIX: &str = "crash-";
const REPORT_SUFFIX: &str = ".txt";
/// The reports already offered, one file name a line.
const OFFERED_FILE: &str = "crash-reports-offered.txt";
/// A report keeps this many of the engine's last log lines.
const TAIL_LINES: usize = 60;

/// Who stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Shell,
    Engine,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Shell => "shell",
            Kind::Engine => "engine",
        }
    }
}

/// `2026-11-22T01:02:03.456Z` → `20261122T010203`: a file name's time, sortable, without the
/// `:` Windows refuses.
pub fn file_stamp(time: SystemTime) -> String {
    supervisor::utc_timestamp(time)
        .chars()
        .take(19)
        .filter(|c| c.is_ascii_alphanumeric() || *c == 'T')
        .collect()
}

/// Writes a report of `kind` with `body` under `logs_dir`; its path. Never replaces a report:
/// two in the same second get `-2`, `-3`, ...
pub fn write_report(logs_dir: &Path, kind: Kind, body: &str) -> std::io::Result<PathBuf> {
    supervisor::private::create_private_dir(logs_dir)?;
    let stamp = file_stamp(SystemTime::now());
    let header = format!(
        "{} crash report ({} stopped)\nTime: {}\nShell: {}\nSystem: {} {}\n\
         This report stays on this computer; nothing was sent anywhere.\n\n",
        crate::app().product_name,
        kind.name(),
        supervisor::utc_timestamp(SystemTime::now()),
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH,
    );
    for attempt in 1u32.. {
        let suffix = if attempt == 1 {
            String::new()
        } else {
            format!("-{attempt}")
        };
        let path = logs_dir.join(format!(
            "{REPORT_PREFIX}{stamp}Z-{}{suffix}{REPORT_SUFFIX}",
            kind.name()
        ));
        let mut options = supervisor::private::private_write_options();
        options.truncate(false).create_new(true);
        match options.open(&path) {
            Ok(mut file) => {
                file.write_all(header.as_bytes())?;
                file.write_all(body.as_bytes())?;
                file.sync_all()?;
                return Ok(path);
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        }
    }
    unreachable!("u32 attempts")
}

/// The body of an engine report: what the shell saw and the engine's last lines.
pub fn engine_body(message: &str, log_tail: &[String]) -> String {
    let start = log_tail.len().saturating_sub(TAIL_LINES);
    let mut body = format!("What happened: {message}\n\nThe engine's last log lines:\n");
    if log_tail.is_empty() {
        body.push_str("(none)\n");
    }
    for line in &log_tail[start..] {
        body.push_str(line);
        body.push('\n');
    }
    body
}

/// Makes a shell panic write a report before the default hook prints it. The report holds the
/// panic's message and place and a backtrace, never the app's state (no tokens in panics).
pub fn install_panic_hook(logs_dir: PathBuf) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        let body = format!(
            "The app stopped on an internal error (a panic) in thread {:?}.\n\n{info}\n\nBacktrace:\n{}\n",
            thread.name().unwrap_or("unnamed"),
            std::backtrace::Backtrace::force_capture()
        );
        if let Err(error) = write_report(&logs_dir, Kind::Shell, &body) {
            eprintln!("could not write the crash report: {error}");
        }
        previous(info);
    }));
}

/// Reports in `logs_dir` not offered yet, oldest first.
pub fn unoffered(logs_dir: &Path) -> Vec<PathBuf> {
    let offered = std::fs::read_to_string(logs_dir.join(OFFERED_FILE)).unwrap_or_default();
    let offered: std::collections::HashSet<&str> = offered.lines().collect();
    let Ok(entries) = std::fs::read_dir(logs_dir) else {
        return Vec::new();
    };
    let mut reports: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| {
                    is_report_name(name) && !offered.contains(name) && path.is_file()
                })
        })
        .collect();
    reports.sort();
    reports
}

fn is_report_name(name: &str) -> bool {
    name.starts_with(REPORT_PREFIX) && name.ends_with(REPORT_SUFFIX) && name != OFFERED_FILE
}

/// Records `reports` as offered, so the next start does not offer them again.
pub fn mark_offered(logs_dir: &Path, reports: &[PathBuf]) -> std::io::Result<()> {
    let mut file =
        supervisor::private::private_append_options().open(logs_dir.join(OFFERED_FILE))?;
    for report in reports {
        if let Some(name) = report.file_name().and_then(|name| name.to_str()) {
            writeln!(file, "{name}")?;
        }
    }
    Ok(())
}

/// The sentence offering the reports of an earlier session.
pub fn notice(reports: &[PathBuf]) -> String {
    let engines = reports
        .iter()
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.contains("-engine"))
        })
        .count();
    let product = &crate::app().product_name;
    let who = match (engines, reports.len()) {
        (1, 1) => "The engine stopped unexpectedly last time.".to_owned(),
        (0, 1) => format!("{product} closed unexpectedly last time."),
        (e, n) if e == n => format!("The engine stopped unexpectedly {n} times earlier."),
        (0, n) => format!("{product} closed unexpectedly {n} times earlier."),
        _ => format!("{product} and its engine stopped unexpectedly earlier."),
    };
    let saved = if reports.len() == 1 {
        "A crash report was saved in the logs folder"
    } else {
        "Crash reports were saved in the logs folder"
    };
    format!("{who} {saved}; nothing was sent anywhere. You can open the newest to see what happened or attach it when asking for help.")
}

/// The newest report in `logs_dir`, offered or not.
pub fn newest(logs_dir: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(logs_dir).ok()?;
    entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(is_report_name)
        })
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_private_never_replaced_and_offered_once() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        let first = write_report(&logs, Kind::Engine, &engine_body("exit code 3", &[])).unwrap();
        let second = write_report(&logs, Kind::Engine, "again").unwrap();
        assert_ne!(first, second);
        let text = std::fs::read_to_string(&first).unwrap();
        assert!(
            text.contains("engine stopped") && text.contains("exit code 3"),
            "{text}"
        );
        assert!(text.contains("nothing was sent anywhere"), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&first).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(logs.join("shell.log"), "not a report").unwrap();
        let found = unoffered(&logs);
        assert_eq!(found, {
            let mut both = vec![first.clone(), second.clone()];
            both.sort();
            both
        });
        assert_eq!(newest(&logs), found.last().cloned());
        mark_offered(&logs, &found[..1]).unwrap();
        assert_eq!(unoffered(&logs), found[1..].to_vec());
        mark_offered(&logs, &found[1..]).unwrap();
        assert!(unoffered(&logs).is_empty());
        assert!(unoffered(&dir.path().join("missing")).is_empty());
    }

    #[test]
    fn the_engine_body_keeps_the_last_lines() {
        let tail: Vec<String> = (0..100).map(|n| format!("line {n}")).collect();
        let body = engine_body("the engine exited with code 1", &tail);
        assert!(body.contains("line 99") && body.contains("line 40"));
        assert!(!body.contains("line 39\n"));
    }

    #[test]
    fn the_notice_names_who_stopped() {
        let engine = [PathBuf::from("crash-20261122T010203Z-engine.txt")];
        let shell = [PathBuf::from("crash-20261122T010203Z-shell.txt")];
        assert!(notice(&engine).starts_with("The engine stopped unexpectedly last time."));
        assert!(notice(&shell).starts_with("Tokenizer Studio closed unexpectedly last time."));
        let both = [engine[0].clone(), shell[0].clone()];
        assert!(notice(&both).starts_with("Tokenizer Studio and its engine stopped"));
        assert!(notice(&both).contains("Crash reports were saved"));
        let engines = [engine[0].clone(), engine[0].clone()];
        assert!(notice(&engines).starts_with("The engine stopped unexpectedly 2 times earlier."));
    }

    #[test]
    fn a_panic_writes_a_report_with_its_message_and_place() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().to_path_buf();
        let previous = std::panic::take_hook();
        install_panic_hook(logs.clone());
        let outcome =
            std::panic::catch_unwind(|| panic!("the splash state was inconsistent (test)"));
        // Back to the default hook for the other tests (ours wraps the previous one).
        let _ = std::panic::take_hook();
        std::panic::set_hook(previous);
        assert!(outcome.is_err());
        let reports = unoffered(&logs);
        let ours: Vec<String> = reports
            .iter()
            .map(|path| std::fs::read_to_string(path).unwrap())
            .filter(|text| text.contains("the splash state was inconsistent (test)"))
            .collect();
        assert_eq!(ours.len(), 1, "{reports:?}");
        assert!(
            ours[0].contains("shell stopped") && ours[0].contains("crash.rs"),
            "{}",
            ours[0]
        );
        assert!(ours[0].contains("Backtrace:"), "{}", ours[0]);
    }
}
