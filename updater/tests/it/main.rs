//! Updater tests against a loopback HTTP server, real minisign signatures, real archives and a
//! (fake-engine) runtime started through the supervisor.
#![cfg(unix)]

mod delta;
mod faults;
mod load;
mod refusals;
mod registry;
mod support;
mod variants;

/// The workspace's default app's names.
pub(crate) fn app() -> runtime_spec::AppNames {
    let (id, text) = test_support::default_app_descriptor();
    runtime_spec::AppDescriptor::parse(&text, &id)
        .unwrap()
        .names()
}
