//! Tidy checks for this crate (rust-analyzer's `tidy.rs`): doc lines, no leftover markers.

use walkdir::WalkDir;

#[test]
fn every_rust_file_starts_with_a_doc_line_and_has_no_markers() {
    let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // Built from pieces so this file does not trip its own check.
    let markers = [
        concat!("TO", "DO"),
        concat!("FIX", "ME"),
        concat!("unimplemented", "!"),
        concat!("to", "do!"),
        concat!("#[", "ignore"),
    ];
    let mut n_files = 0;
    for entry in WalkDir::new(crate_dir.join("src"))
        .into_iter()
        .chain(WalkDir::new(crate_dir.join("tests")))
    {
        let entry = entry.unwrap();
        if entry
            .path()
            .extension()
            .is_none_or(|extension| extension != "rs")
        {
            continue;
        }
        n_files += 1;
        let text = std::fs::read_to_string(entry.path()).unwrap();
        assert!(
            text.starts_with("//!"),
            "{} must start with a `//!` line saying what it is for",
            entry.path().display()
        );
        for marker in markers {
            assert!(
                !text.contains(marker),
                "{} contains `{marker}`",
                entry.path().display()
            );
        }
    }
    assert!(n_files >= 10, "tidy found only {n_files} files");
}
