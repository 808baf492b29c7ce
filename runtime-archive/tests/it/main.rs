//! Integration tests for runtime-archive.
