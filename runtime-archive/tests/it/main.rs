//! Integration tests for runtime-archive: real loopback HTTP, hostile archives, packing.

mod declared;
mod download;
mod extract;
mod install;
mod pack;
mod resume;
mod space;
mod support;
mod verify;

/// The workspace's default app's names.
pub(crate) fn app() -> runtime_spec::AppNames {
    let (id, text) = test_support::default_app_descriptor();
    runtime_spec::AppDescriptor::parse(&text, &id)
        .unwrap()
        .names()
}
