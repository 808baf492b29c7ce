//! Integration tests for release-meta against the real tools (minisign, sha256sum, osslsigncode).
