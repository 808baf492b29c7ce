//! "Export diagnostics" on the error screens: one zip a user can send when asking for help,
//! made by the shell because the engine, which makes the full one, is not running there.
//!
//! It holds `logs.txt` (the shell's and the supervisor's logs, rotated copies included, merged
//! in time order, the newest lines within a cap), `system.json` (OS, architecture, shell
//! version, free space, the machine probe), `screen.json` (the error screen as shown) and
//! `README.txt`. Every text is scrubbed: launch codes, access tokens and cookie or
//! authorization headers become `<redacted>`, the home folder becomes `~`. It never holds
//! datasets, tokenizers or job history (the engine's database is not read).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::json;

use crate::view::View;

/// The logs part keeps the newest lines within this many bytes.
const LOG_MAX_BYTES: usize = 5_000_000;
const LOG_FILES: [&str; 2] = ["shell.log", "engine.log"];
const MAX_ROTATED: u32 = 9;
const REDACTED: &str = "<redacted>";

/// What `README.txt` says; `{product}` is the app's name.
const README: &str = "This zip was made by {product}'s Export diagnostics on an error \
screen, to help someone find out what went wrong. It holds logs.txt (the app's and the engine \
supervisor's logs, merged in time order), system.json (the operating system, processor, memory \
and free disk space as the app measured them), screen.json (the error screen as it was shown) \
and this file. It never holds your files, what the app made from them or its history, the app's \
access codes, or your home folder's path (written as ~). Nothing was sent anywhere: the zip \
goes only where you send it.\n";

/// Writes the zip into `folder` (created if needed) under a name that replaces nothing; its
/// path.
pub fn export(
    data_root: &Path,
    folder: &Path,
    screen: &View,
    home: Option<&Path>,
) -> std::io::Result<PathBuf> {
    let scrub = Scrubber::new(home);
    let logs = merged_logs(&data_root.join("logs"), &scrub);
    let system = system_facts(data_root);
    let screen = json!({
        "kind": screen.kind,
        "title": screen.title,
        "message": screen.message,
        "details": screen.details,
        "log_tail": screen.log_tail,
    });
    let members: [(&str, String); 4] = [
        (
            "README.txt",
            README.replace("{product}", &crate::app().product_name),
        ),
        ("logs.txt", logs),
        ("system.json", scrub.text(&pretty(&system))),
        ("screen.json", scrub.text(&pretty(&screen))),
    ];
    std::fs::create_dir_all(folder)?;
    let stamp = crate::crash::file_stamp(SystemTime::now());
    let path = crate::downloads::free_name(
        folder,
        &format!("{}-diagnostics-{stamp}Z.zip", crate::app().id),
    );
    let bytes = zip(&members)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    let written = file.write_all(&bytes).and_then(|()| file.sync_all());
    if let Err(error) = written {
        // A full disk must not leave half a zip behind.
        drop(file);
        let _ = std::fs::remove_file(&path);
        return Err(error);
    }
    Ok(path)
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).expect("a JSON value serialises") + "\n"
}

fn system_facts(data_root: &Path) -> serde_json::Value {
    let machine = std::fs::read(data_root.join("machine.json"))
        .ok()
        .filter(|bytes| bytes.len() <= 64 * 1024)
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    json!({
        "shell_version": env!("CARGO_PKG_VERSION"),
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "data_dir": data_root.display().to_string(),
        "free_disk_bytes": runtime_archive::free_space(data_root).ok(),
        "machine": machine,
        "exported_at": supervisor::utc_timestamp(SystemTime::now()),
    })
}

/// Removes secrets and the home folder from a text.
struct Scrubber {
    homes: Vec<String>,
}

impl Scrubber {
    fn new(home: Option<&Path>) -> Scrubber {
        let mut homes: Vec<String> = home
            .into_iter()
            .flat_map(|home| {
                let canonical = std::fs::canonicalize(home).ok();
                [Some(home.to_path_buf()), canonical]
            })
            .flatten()
            .map(|path| path.display().to_string())
            .map(|text| text.trim_end_matches(['/', '\\']).to_owned())
            .filter(|text| text.len() > 1)
            .collect();
        // Longest first: a home inside a symlinked one is replaced whole.
        homes.sort_by_key(|text| std::cmp::Reverse(text.len()));
        homes.dedup();
        Scrubber { homes }
    }

    fn text(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for (index, line) in text.split('\n').enumerate() {
            if index > 0 {
                out.push('\n');
            }
            out.push_str(&self.line(line));
        }
        out
    }

    fn line(&self, line: &str) -> String {
        let mut line = redact_after(line, "#launch=", |c| {
            c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '&')
        });
        for header in [
            "authorization",
            "proxy-authorization",
            "cookie",
            "set-cookie",
        ] {
            line = redact_header(&line, header);
        }
        line = redact_header(&line, &crate::app().token_header().to_ascii_lowercase());
        line = redact_hex_runs(&line, 64);
        for home in &self.homes {
            line = replace_path_prefix(&line, home);
        }
        line
    }
}

/// `marker` and what follows it up to a character `end` accepts: the marker kept, the rest
/// redacted.
fn redact_after(line: &str, marker: &str, end: impl Fn(char) -> bool) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(marker) {
        let (before, after) = rest.split_at(at + marker.len());
        out.push_str(before);
        out.push_str(REDACTED);
        let stop = after.find(&end).unwrap_or(after.len());
        rest = &after[stop..];
    }
    out.push_str(rest);
    out
}

/// `Name: value` or `name=value` of a secret header, any case: the value redacted to the end
/// of the line or the next quote.
fn redact_header(line: &str, name: &str) -> String {
    let lower = line.to_ascii_lowercase();
    let mut out = String::new();
    let mut from = 0;
    while let Some(found) = lower[from..].find(name) {
        let start = from + found;
        let after_name = start + name.len();
        let bounded_before = start == 0
            || !lower.as_bytes()[start - 1].is_ascii_alphanumeric()
                && lower.as_bytes()[start - 1] != b'-';
        let separator: usize = lower[after_name..]
            .chars()
            .take_while(|c| matches!(c, ' ' | '"' | ':' | '='))
            .map(char::len_utf8)
            .sum();
        let has_separator = lower[after_name..after_name + separator].contains([':', '=']);
        if !bounded_before || !has_separator {
            out.push_str(&line[from..after_name]);
            from = after_name;
            continue;
        }
        let value_start = after_name + separator;
        let value_end = line[value_start..]
            .find(['"', '\'', '\r'])
            .map_or(line.len(), |end| value_start + end);
        out.push_str(&line[from..value_start]);
        out.push_str(REDACTED);
        from = value_end;
    }
    out.push_str(&line[from..]);
    out
}

/// Runs of exactly `length` hex digits (an access token) become `<redacted>`.
fn redact_hex_runs(line: &str, length: usize) -> String {
    let bytes = line.as_bytes();
    let mut out = String::new();
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index].is_ascii_hexdigit()
            && (index == 0 || !bytes[index - 1].is_ascii_alphanumeric())
        {
            let run = bytes[index..]
                .iter()
                .take_while(|b| b.is_ascii_hexdigit())
                .count();
            let end = index + run;
            if run == length && (end == bytes.len() || !bytes[end].is_ascii_alphanumeric()) {
                out.push_str(REDACTED);
                index = end;
                continue;
            }
            out.push_str(&line[index..end]);
            index = end;
            continue;
        }
        let width = line[index..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&line[index..index + width]);
        index += width;
    }
    out
}

/// `home` where it starts a path (followed by a separator, a quote, a space or the end) → `~`.
fn replace_path_prefix(line: &str, home: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(home) {
        let after = &rest[at + home.len()..];
        let whole = after
            .chars()
            .next()
            .is_none_or(|c| matches!(c, '/' | '\\' | '"' | '\'' | ' ' | ')' | ',' | ':'));
        out.push_str(&rest[..at]);
        out.push_str(if whole { "~" } else { home });
        rest = after;
    }
    out.push_str(rest);
    out
}

/// A log file and its rotated copies (`.1` newest), oldest first.
fn log_files(logs: &Path, name: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = (1..=MAX_ROTATED)
        .rev()
        .map(|n| logs.join(format!("{name}.{n}")))
        .collect();
    files.push(logs.join(name));
    files.into_iter().filter(|path| path.is_file()).collect()
}

/// The logs merged by their leading UTC time stamps (both logs write
/// `supervisor::format_line`), each line prefixed by its file; a line without a stamp stays
/// with the record before it. The newest lines within [`LOG_MAX_BYTES`].
fn merged_logs(logs: &Path, scrub: &Scrubber) -> String {
    let mut records: Vec<(String, usize, Vec<String>)> = Vec::new();
    for name in LOG_FILES {
        for path in log_files(logs, name) {
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            // Only the end of a huge file: the cap keeps the newest lines anyway.
            let start = bytes.len().saturating_sub(LOG_MAX_BYTES);
            let text = String::from_utf8_lossy(&bytes[start..]);
            let file = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut lines = text.lines();
            if start > 0 {
                lines.next(); // cut in the middle
            }
            let mut stamp = String::new();
            for line in lines {
                let shown = format!("{file:<12} | {}", scrub.line(line));
                match leading_stamp(line) {
                    Some(found) => {
                        stamp = found.to_owned();
                        let order = records.len();
                        records.push((stamp.clone(), order, vec![shown]));
                    }
                    None => match records.last_mut() {
                        Some(last) if !stamp.is_empty() => last.2.push(shown),
                        _ => {
                            let order = records.len();
                            records.push((stamp.clone(), order, vec![shown]));
                        }
                    },
                }
            }
        }
    }
    // RFC 3339 UTC stamps of fixed width sort as text; equal ones keep their file order.
    records.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let lines: Vec<&String> = records.iter().flat_map(|record| &record.2).collect();
    let mut kept = Vec::new();
    let mut size = 0;
    for line in lines.iter().rev() {
        size += line.len() + 1;
        if size > LOG_MAX_BYTES {
            break;
        }
        kept.push(line.as_str());
    }
    kept.reverse();
    let mut out = String::new();
    if lines.is_empty() {
        out.push_str("[no log files in the logs folder]\n");
    } else if kept.len() < lines.len() {
        out.push_str(&format!(
            "[{} older lines left out; the newest {} follow]\n",
            lines.len() - kept.len(),
            kept.len()
        ));
    }
    for line in kept {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// `2026-11-22T01:02:03.456Z` at the start of a line.
fn leading_stamp(line: &str) -> Option<&str> {
    let stamp = line.get(..24)?;
    let bytes = stamp.as_bytes();
    let shape = bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b'T'
        && bytes[13] == b':'
        && bytes[16] == b':'
        && bytes[19] == b'.'
        && bytes[23] == b'Z';
    shape.then_some(stamp)
}

/// A zip of `members` (deflated, UTF-8 names, the current UTC time on each).
fn zip(members: &[(&str, String)]) -> std::io::Result<Vec<u8>> {
    let (time, date) = dos_time(SystemTime::now());
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, text) in members {
        let data = text.as_bytes();
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data)?;
        let packed = encoder.finish()?;
        let crc = crc32fast::hash(data);
        let offset = out.len() as u32;
        let header = |signature: u32, central: bool| {
            let mut h = Vec::new();
            h.extend(signature.to_le_bytes());
            if central {
                h.extend(20u16.to_le_bytes()); // made by
            }
            h.extend(20u16.to_le_bytes()); // needed
            h.extend(0x0800u16.to_le_bytes()); // UTF-8 names
            h.extend(8u16.to_le_bytes()); // deflate
            h.extend(time.to_le_bytes());
            h.extend(date.to_le_bytes());
            h.extend(crc.to_le_bytes());
            h.extend((packed.len() as u32).to_le_bytes());
            h.extend((data.len() as u32).to_le_bytes());
            h.extend((name.len() as u16).to_le_bytes());
            h.extend(0u16.to_le_bytes()); // extra
            if central {
                h.extend(0u16.to_le_bytes()); // comment
                h.extend(0u16.to_le_bytes()); // disk
                h.extend(0u16.to_le_bytes()); // internal attributes
                h.extend(0u32.to_le_bytes()); // external attributes
                h.extend(offset.to_le_bytes());
            }
            h.extend(name.as_bytes());
            h
        };
        out.extend(header(0x0403_4b50, false));
        out.extend(&packed);
        central.extend(header(0x0201_4b50, true));
    }
    let central_offset = out.len() as u32;
    out.extend(&central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend((members.len() as u16).to_le_bytes());
    out.extend((members.len() as u16).to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(central_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    Ok(out)
}

/// MS-DOS time and date (2-second steps, from 1980) of `time` in UTC.
fn dos_time(time: SystemTime) -> (u16, u16) {
    let stamp = supervisor::utc_timestamp(time);
    let number = |range: std::ops::Range<usize>| -> u16 {
        stamp.get(range).and_then(|s| s.parse().ok()).unwrap_or(0)
    };
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let (hour, minute, second) = (number(11..13), number(14..16), number(17..19));
    let time = (hour << 11) | (minute << 5) | (second / 2);
    let date = (year.saturating_sub(1980) << 9) | (month << 5) | day;
    (time, date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_the_home_folder_are_scrubbed() {
        let home = tempfile::tempdir().unwrap();
        let scrub = Scrubber::new(Some(home.path()));
        let home_text = home.path().display().to_string();
        let token = "ab".repeat(32);
        // A header's value runs to the end of its line: one header a line, as HTTP writes them.
        let text = format!(
            "GET http://127.0.0.1:4000/#launch=abc123&x token {token} data {home_text}/data\n\
             Authorization: Bearer s3cret\ncookie=tsession=zzz"
        );
        let clean = scrub.text(&text);
        for secret in ["abc123", "s3cret", &token, &home_text, "tsession=zzz"] {
            assert!(!clean.contains(secret), "{secret} in {clean}");
        }
        assert!(clean.contains("#launch=<redacted>&x"), "{clean}");
        assert!(clean.contains("data ~/data"), "{clean}");
        assert!(clean.contains("Authorization: <redacted>"), "{clean}");
        assert_eq!(clean.lines().count(), 3, "{clean}");
        // A sha256 is 64 hex digits too: redacted, as a token would be. Shorter runs stay.
        assert_eq!(
            scrub.line("version 1.2.3 id 0123abcd"),
            "version 1.2.3 id 0123abcd"
        );
        // A longer folder name starting like the home is not the home.
        assert_eq!(
            scrub.line(&format!("{home_text}x/file")),
            format!("{home_text}x/file")
        );
    }

    #[test]
    fn logs_merge_by_time_and_keep_tracebacks_with_their_record() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path();
        std::fs::write(
            logs.join("shell.log"),
            "2026-12-06T10:00:02.000Z shell  | second\n2026-12-06T10:00:04.000Z shell  | fourth\n",
        )
        .unwrap();
        std::fs::write(
            logs.join("engine.log"),
            "2026-12-06T10:00:03.000Z stderr | Traceback (most recent call last):\n  File \"x.py\"\nValueError: boom\n",
        )
        .unwrap();
        std::fs::write(
            logs.join("engine.log.1"),
            "2026-12-06T10:00:01.000Z engine | first\n",
        )
        .unwrap();
        let merged = merged_logs(logs, &Scrubber::new(None));
        let order: Vec<&str> = merged
            .lines()
            .map(|line| line.split(" | ").last().unwrap())
            .collect();
        assert_eq!(
            order,
            [
                "first",
                "second",
                "Traceback (most recent call last):",
                "  File \"x.py\"",
                "ValueError: boom",
                "fourth"
            ],
            "{merged}"
        );
        assert!(merged.starts_with("engine.log.1 |"), "{merged}");
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(
            merged_logs(empty.path(), &Scrubber::new(None)),
            "[no log files in the logs folder]\n"
        );
    }

    #[test]
    fn the_zip_opens_with_every_member_and_never_replaces_a_file() {
        let data = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(data.path().join("logs")).unwrap();
        std::fs::write(
            data.path().join("logs").join("shell.log"),
            "2026-12-06T10:00:02.000Z shell  | the engine exited\n",
        )
        .unwrap();
        let screen = crate::view::View {
            product: "Tokenizer Studio".into(),
            phase: "failed",
            kind: Some("crashed"),
            title: "The engine stopped".into(),
            message: "It exited.".into(),
            details: vec![],
            log_tail: vec!["boom".into()],
            help: None,
            actions: vec![],
            progress: None,
            notice: None,
            seq: 0,
        };
        let first = export(data.path(), out.path(), &screen, None).unwrap();
        let second = export(data.path(), out.path(), &screen, None).unwrap();
        assert_ne!(first, second);
        // Read back with an independent reader: Python's zipfile where there is one.
        let python = ["python3", "python"]
            .into_iter()
            .find(|p| std::process::Command::new(p).arg("-V").output().is_ok());
        let Some(python) = python else {
            return;
        };
        let listing = std::process::Command::new(python)
            .args([
                "-c",
                "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; \
                 print(sorted(z.namelist())); print(z.read('logs.txt').decode())",
            ])
            .arg(&first)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&listing.stdout);
        assert!(
            listing.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&listing.stderr)
        );
        assert!(
            text.contains("['README.txt', 'logs.txt', 'screen.json', 'system.json']"),
            "{text}"
        );
        assert!(text.contains("the engine exited"), "{text}");
    }
}
