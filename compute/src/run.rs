//! External commands with a deadline: a probe must never hang the shell's start on a tool
//! that stalls (a wedged GPU driver can leave `nvidia-smi` waiting for a long time).

use std::ffi::OsStr;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long one tool may run before it is killed.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// More output than any probed tool prints: a runaway tool is cut, not buffered.
const MAX_OUTPUT: u64 = 1024 * 1024;

/// `program args` with [`COMMAND_TIMEOUT`]: its stdout when it exits successfully in time.
pub fn run(program: impl AsRef<OsStr>, args: &[&str]) -> Option<String> {
    run_with_timeout(program.as_ref(), args, COMMAND_TIMEOUT)
}

/// [`run`] with another deadline; the process is killed when it passes.
pub fn run_with_timeout(program: &OsStr, args: &[&str], timeout: Duration) -> Option<String> {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt;
        // CREATE_NO_WINDOW: the shell is a GUI program; a console tool must not flash a window.
        command.creation_flags(0x0800_0000);
    }
    let mut child = command.spawn().ok()?;
    let mut stdout = child.stdout.take()?;
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = (&mut stdout).take(MAX_OUTPUT).read_to_end(&mut bytes);
        let _ = sender.send(bytes);
    });
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let left = deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(100));
                let bytes = receiver.recv_timeout(left).ok()?;
                return status
                    .success()
                    .then(|| String::from_utf8_lossy(&bytes).into_owned());
            }
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn output_of_a_quick_tool_and_nothing_from_a_slow_or_missing_one() {
        assert_eq!(run("echo", &["hello"]).as_deref(), Some("hello\n"));
        assert_eq!(run("false", &[]), None);
        assert_eq!(run("no-such-tool-anywhere", &[]), None);
        let started = Instant::now();
        let slow = run_with_timeout(OsStr::new("sleep"), &["30"], Duration::from_millis(300));
        assert_eq!(slow, None);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }
}
