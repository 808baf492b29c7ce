//! Visible skips. libtest has no "skipped" outcome for a test that finds at run time that it
//! cannot run here: it returns early and counts as passed. [`skip`] records the test and the
//! reason where `cargo xtask test` collects them (the file named by `TEST_SKIP_LOG`, which it
//! sets), and on stderr, so the summary says "N skipped" and CI can refuse unexpected ones.

use std::io::Write as _;

/// Set to `1` to run the slow end-to-end tests (full runtime builds, windows, installers).
pub const SLOW_TESTS_ENV: &str = "XTASK_SLOW_TESTS";
/// A file each skip appends one line to (`cargo xtask test` sets it and reads it back).
pub const SKIP_LOG_ENV: &str = "TEST_SKIP_LOG";
/// The first word of a skip line: `TEST-SKIPPED <package> <test path>: <reason>`.
pub const SKIP_MARKER: &str = "TEST-SKIPPED";

/// Records that the running test did not check anything, and why; the caller returns right
/// after. The test is named by its thread (libtest names each test's thread after the test's
/// path), the package by `CARGO_PKG_NAME` (cargo sets it when it runs a test binary).
pub fn skip(reason: &str) {
    let line = skip_line(
        &std::env::var("CARGO_PKG_NAME").unwrap_or_else(|_| "unknown-package".to_owned()),
        std::thread::current().name().unwrap_or("unknown-test"),
        reason,
    );
    eprintln!("{line}");
    if let Some(path) = std::env::var_os(SKIP_LOG_ENV) {
        // One write per line with O_APPEND: lines of parallel tests do not interleave.
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut file| file.write_all(format!("{line}\n").as_bytes()));
        if let Err(error) = written {
            panic!(
                "cannot record the skip in {}: {error}",
                path.to_string_lossy()
            );
        }
    }
}

fn skip_line(package: &str, test: &str, reason: &str) -> String {
    // One line whatever the reason says.
    let reason = reason.replace(['\r', '\n'], " ");
    format!("{SKIP_MARKER} {package} {test}: {reason}")
}

/// Whether the slow end-to-end tests are switched on (`XTASK_SLOW_TESTS=1`); when
/// not, records the running test as skipped for that reason.
pub fn slow_tests_enabled() -> bool {
    let enabled = std::env::var(SLOW_TESTS_ENV).is_ok_and(|value| value == "1");
    if !enabled {
        skip(&format!(
            "slow end-to-end test; set {SLOW_TESTS_ENV}=1 to run it"
        ));
    }
    enabled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skip_is_one_line_naming_package_test_and_reason() {
        assert_eq!(
            skip_line("updater", "faults::stall", "no tmpfs\nhere"),
            "TEST-SKIPPED updater faults::stall: no tmpfs here"
        );
    }

    #[test]
    fn the_test_thread_carries_the_test_path() {
        // What `skip` relies on to name the test.
        assert_eq!(
            std::thread::current().name(),
            Some("skip::tests::the_test_thread_carries_the_test_path")
        );
    }
}
