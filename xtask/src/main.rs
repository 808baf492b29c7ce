//! The release toolchain: `cargo xtask <command>` builds, verifies and packages Tokenizer Studio.
fn main() {}
