//! The engine's output: a size-capped, rotated `engine.log` plus an in-memory tail for error
//! screens.

use std::collections::VecDeque;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use crate::SupervisorError;

/// File name of the live log inside the log folder; rotated copies get `.1`, `.2`, ...
pub const LOG_FILE_NAME: &str = "engine.log";
/// Lines kept in memory for [`crate::Engine::log_tail`] and the events.
pub const TAIL_LINES: usize = 200;
/// Longer lines are split: an engine printing megabytes without a newline must not make the
/// supervisor buffer them all.
const MAX_LINE_BYTES: usize = 16 * 1024;

/// Which pipe a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
    /// Lines the supervisor itself writes (attempt headers, exit codes).
    Supervisor,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Supervisor => "supervisor",
        }
    }
}

/// Rotation limits for `engine.log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before a write would make `engine.log` larger than this.
    pub max_bytes: u64,
    /// Rotated files kept (`engine.log.1` ... `engine.log.N`); older ones are deleted.
    pub n_files_kept: u32,
}

/// Shared by the reader threads, the launcher and the handle.
#[derive(Debug)]
pub(crate) struct LogSink {
    inner: Mutex<Inner>,
    /// Signalled when a reader reaches end of file, so exit reports can include the last lines.
    streams_closed: Condvar,
    path: PathBuf,
}

#[derive(Debug)]
struct Inner {
    file: Option<fs_err::File>,
    file_size: u64,
    rotation: Rotation,
    tail: VecDeque<String>,
    open_streams: usize,
    /// The first write error, kept so a full disk is reported once, not per line.
    write_failed: bool,
}

impl LogSink {
    /// Opens (appends to) `<log_dir>/engine.log`, creating the folder.
    pub(crate) fn open(
        log_dir: &Path,
        rotation: Rotation,
    ) -> Result<Arc<LogSink>, SupervisorError> {
        let path = log_dir.join(LOG_FILE_NAME);
        let log_error = |source| SupervisorError::Log {
            path: path.clone(),
            source,
        };
        crate::private::create_private_dir(log_dir).map_err(log_error)?;
        let file = open_log(&path).map_err(log_error)?;
        let file_size = file.metadata().map_err(log_error)?.len();
        Ok(Arc::new(LogSink {
            inner: Mutex::new(Inner {
                file: Some(file),
                file_size,
                rotation,
                tail: VecDeque::with_capacity(TAIL_LINES),
                open_streams: 0,
                write_failed: false,
            }),
            streams_closed: Condvar::new(),
            path,
        }))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking reader thread must not take the log (and error screens) down with it.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends one line to the file and the tail.
    pub(crate) fn line(&self, stream: Stream, text: &str) {
        let text = text.trim_end_matches(['\n', '\r']);
        // Stamped under the lock: the two pipe readers' lines reach the file in time order,
        // which merging it with the shell's log by sorting relies on.
        let mut inner = self.lock();
        let formatted = format_line(SystemTime::now(), stream.name(), text);
        inner.write(&self.path, formatted.as_bytes());
        if inner.tail.len() == TAIL_LINES {
            inner.tail.pop_front();
        }
        inner.tail.push_back(formatted.trim_end().to_owned());
    }

    /// The last [`TAIL_LINES`] lines, oldest first.
    pub(crate) fn tail(&self) -> Vec<String> {
        self.lock().tail.iter().cloned().collect()
    }

    /// Starts a thread copying `pipe` into the log line by line; `on_line` sees each line first
    /// (the stdout reader looks for the readiness line there).
    pub(crate) fn spawn_reader<R, F>(self: &Arc<Self>, stream: Stream, pipe: R, mut on_line: F)
    where
        R: Read + Send + 'static,
        F: FnMut(&str) + Send + 'static,
    {
        self.lock().open_streams += 1;
        let sink = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name(format!("engine-{}", stream.name()))
            .spawn(move || {
                // Draining both pipes continuously is what keeps a chatty engine from blocking
                // on a full pipe buffer while we wait for its readiness line.
                let mut reader = std::io::BufReader::with_capacity(64 * 1024, pipe);
                let mut line = Vec::with_capacity(256);
                while read_bounded_line(&mut reader, &mut line) {
                    let text = String::from_utf8_lossy(&line);
                    // Logged first: whatever `on_line` sets off (readiness) comes after the line
                    // in the log.
                    sink.line(stream, &text);
                    on_line(&text);
                }
                let mut inner = sink.lock();
                inner.open_streams -= 1;
                drop(inner);
                sink.streams_closed.notify_all();
            });
        if spawned.is_err() {
            // Without a thread the pipe is never read; count it closed so nobody waits on it.
            self.lock().open_streams -= 1;
            self.line(Stream::Supervisor, "could not start a log reader thread");
        }
    }

    /// Waits until every reader hit end of file or `timeout` passed. A grandchild that inherited
    /// the pipes can keep them open, hence the bound.
    pub(crate) fn wait_streams_closed(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut inner = self.lock();
        while inner.open_streams > 0 {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            inner = match self.streams_closed.wait_timeout(inner, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

impl Inner {
    fn write(&mut self, path: &Path, bytes: &[u8]) {
        if self.write_failed {
            return;
        }
        let len = bytes.len() as u64;
        if self.file_size > 0 && self.file_size + len > self.rotation.max_bytes {
            if let Err(error) = self.rotate(path) {
                self.fail(error);
                return;
            }
        }
        let Some(file) = self.file.as_mut() else {
            return;
        };
        match file.write_all(bytes) {
            Ok(()) => self.file_size += len,
            Err(error) => self.fail(error),
        }
    }

    fn fail(&mut self, error: std::io::Error) {
        // The in-memory tail still works; keep the reason where error screens will show it.
        self.write_failed = true;
        self.file = None;
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(format!("(log file disabled: {error})"));
    }

    /// `engine.log.{N-1}` → `.N`, ..., `engine.log` → `.1`, then a fresh `engine.log`.
    fn rotate(&mut self, path: &Path) -> std::io::Result<()> {
        self.file = None;
        let numbered = |n: u32| {
            let mut name = path.as_os_str().to_owned();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        let kept = self.rotation.n_files_kept;
        if kept == 0 {
            fs_err::remove_file(path)?;
        } else {
            let oldest = numbered(kept);
            if oldest.exists() {
                fs_err::remove_file(&oldest)?;
            }
            for n in (1..kept).rev() {
                let from = numbered(n);
                if from.exists() {
                    fs_err::rename(&from, numbered(n + 1))?;
                }
            }
            fs_err::rename(path, numbered(1))?;
        }
        self.file = Some(open_log(path)?);
        self.file_size = 0;
        Ok(())
    }
}

/// Opens (appending) a log file readable by its owner only.
fn open_log(path: &Path) -> std::io::Result<fs_err::File> {
    fs_err::OpenOptions::from_options(crate::private::private_append_options()).open(path)
}

/// Reads one line (without its newline) of at most [`MAX_LINE_BYTES`]; false at end of file
/// with nothing read. Read errors end the stream like end of file: the pipe is gone either way.
fn read_bounded_line<R: BufRead>(reader: &mut R, line: &mut Vec<u8>) -> bool {
    line.clear();
    loop {
        let available = match reader.fill_buf() {
            Ok(buffer) => buffer,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return !line.is_empty(),
        };
        if available.is_empty() {
            return !line.is_empty();
        }
        let room = MAX_LINE_BYTES - line.len();
        let window = &available[..available.len().min(room)];
        match window.iter().position(|&byte| byte == b'\n') {
            Some(newline) => {
                line.extend_from_slice(&window[..newline]);
                reader.consume(newline + 1);
                return true;
            }
            None => {
                let taken = window.len();
                line.extend_from_slice(window);
                reader.consume(taken);
                if line.len() >= MAX_LINE_BYTES {
                    return true;
                }
            }
        }
    }
}

/// One line of `engine.log` or the shell's `shell.log`:
/// `<UTC time, RFC 3339, milliseconds> <source, padded to 6> | <text>` and a newline. Both logs
/// use it so the two files of one support request merge by sorting their lines.
pub fn format_line(time: SystemTime, source: &str, text: &str) -> String {
    format!("{} {source:<6} | {text}\n", utc_timestamp(time))
}

/// `2026-11-22T01:02:03.456Z`: fixed width, so lines sort by time as text.
pub fn utc_timestamp(time: SystemTime) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from(time)
        .format(FORMAT)
        .unwrap_or_else(|_| "0000-00-00T00:00:00.000Z".to_owned())
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    #[test]
    fn formats_utc_timestamps() {
        for (seconds, millis, expected) in [
            (0, 0, "1970-01-01T00:00:00.000Z"),
            (951_782_400, 5, "2000-02-29T00:00:00.005Z"),
            (1_795_309_384, 999, "2026-11-22T01:03:04.999Z"),
            (4_102_444_799, 0, "2099-12-31T23:59:59.000Z"),
        ] {
            let time = UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_millis(millis);
            assert_eq!(utc_timestamp(time), expected, "{seconds}");
        }
        // Milliseconds are cut, not rounded: a line never claims a later time than its event.
        let time = UNIX_EPOCH + Duration::from_nanos(1_795_309_384_999_999_999);
        assert_eq!(utc_timestamp(time), "2026-11-22T01:03:04.999Z");
    }

    #[test]
    fn lines_carry_an_rfc3339_time_and_their_source() {
        let time = UNIX_EPOCH + Duration::from_millis(1_795_309_384_120);
        let line = format_line(time, "stderr", "Traceback (most recent call last):");
        assert_eq!(
            line,
            "2026-11-22T01:03:04.120Z stderr | Traceback (most recent call last):\n"
        );
        let line = format_line(time, "shell", "ui loaded");
        assert_eq!(line, "2026-11-22T01:03:04.120Z shell  | ui loaded\n");
        let (stamp, _) = line.split_once(' ').unwrap();
        let parsed =
            time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
                .unwrap();
        assert_eq!(std::time::SystemTime::from(parsed), time);
    }

    #[test]
    fn splits_long_lines_and_keeps_the_last_partial_one() {
        let mut input = vec![b'a'; MAX_LINE_BYTES + 10];
        input.extend_from_slice(b"\nshort\r\nlast");
        let mut reader = std::io::BufReader::with_capacity(1000, &input[..]);
        let mut line = Vec::new();
        let mut lines = Vec::new();
        while read_bounded_line(&mut reader, &mut line) {
            lines.push(String::from_utf8_lossy(&line).into_owned());
        }
        let lengths: Vec<usize> = lines.iter().map(String::len).collect();
        assert_eq!(lengths, [MAX_LINE_BYTES, 10, 6, 4]);
        assert_eq!(lines[2], "short\r");
        assert_eq!(lines[3], "last");
    }

    #[test]
    fn rotates_and_bounds_the_tail() {
        let dir = tempfile::tempdir().unwrap();
        let rotation = Rotation {
            max_bytes: 2_000,
            n_files_kept: 2,
        };
        let sink = LogSink::open(dir.path(), rotation).unwrap();
        for n in 0..1_000 {
            sink.line(Stream::Stderr, &format!("line {n:04}"));
        }
        let mut names: Vec<String> = fs_err::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["engine.log", "engine.log.1", "engine.log.2"]);
        for name in &names {
            let size = fs_err::metadata(dir.path().join(name)).unwrap().len();
            assert!(size <= rotation.max_bytes, "{name} has {size} bytes");
        }
        let current = fs_err::read_to_string(dir.path().join("engine.log")).unwrap();
        assert!(
            current.trim_end().ends_with("stderr | line 0999"),
            "{current}"
        );
        let tail = sink.tail();
        assert_eq!(tail.len(), TAIL_LINES);
        assert!(tail[0].ends_with("line 0800"), "{}", tail[0]);
        assert!(tail[TAIL_LINES - 1].ends_with("line 0999"));
    }

    #[test]
    fn appends_to_an_existing_log_and_counts_its_size() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join(LOG_FILE_NAME), vec![b'x'; 900]).unwrap();
        let rotation = Rotation {
            max_bytes: 1_000,
            n_files_kept: 1,
        };
        let sink = LogSink::open(dir.path(), rotation).unwrap();
        sink.line(Stream::Supervisor, &"y".repeat(200));
        let rotated = fs_err::read(dir.path().join("engine.log.1")).unwrap();
        assert_eq!(rotated, vec![b'x'; 900]);
    }
}
