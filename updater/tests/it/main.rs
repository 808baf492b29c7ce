//! Updater tests against a loopback HTTP server, real minisign signatures, real archives and a
//! (fake-engine) runtime started through the supervisor.
#![cfg(unix)]

mod delta;
mod faults;
mod load;
mod refusals;
mod support;
mod variants;
