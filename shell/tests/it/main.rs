//! Integration tests of the shell binary (one test binary, per the workspace's convention).
//!
//! Everything here drives a real window and engine, so it runs only with
//! `XTASK_SLOW_TESTS=1` (otherwise each test records a skip, which
//! `cargo xtask test` counts and names):
//! `XTASK_SLOW_TESTS=1 cargo test -p shell --release --test it`.

mod e2e;
mod launcher;
mod navigation;
mod process;
mod support;
mod updates;
mod variants;
mod webdriver;

/// The workspace's default app's names.
pub(crate) fn app() -> runtime_spec::AppNames {
    let (id, text) = test_support::default_app_descriptor();
    runtime_spec::AppDescriptor::parse(&text, &id)
        .unwrap()
        .names()
}
