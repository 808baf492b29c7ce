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
