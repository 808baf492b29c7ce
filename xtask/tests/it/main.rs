//! Integration tests of `cargo xtask`: plans, locks, the download path, runtime assembly.
//!
//! Slow end-to-end cases (full runtime builds) run only with `XTASK_SLOW_TESTS=1`
//! (`.ci/run` sets it); without it they are recorded as skipped (`test_support::skip`).
//!
//! Unix only: these tests drive unshare, dpkg, Xvfb and POSIX signals; Windows CI runs the
//! other crates' tests (`cargo xtask test --fast`).
#![cfg(unix)]

mod bench;
mod foreign;
mod lock;
mod objects;
mod pbs;
mod plan;
mod preflight;
mod python;
mod release;
mod runtime;
mod smoke;
mod support;
mod torch;
