//! Tidy checks for this crate's sources: a doc line first, no stray markers.

use std::path::Path;

#[test]
fn every_source_file_starts_with_a_doc_line_and_has_no_todo() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for entry in walkdir::WalkDir::new(root.join("src"))
        .into_iter()
        .chain(walkdir::WalkDir::new(root.join("tests")))
    {
        let entry = entry.unwrap();
        if entry.path().extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        assert!(
            text.starts_with("//! "),
            "{} must start with a `//!` line",
            entry.path().display()
        );
        // Spelled in two halves so this file does not trip its own check.
        for marker in [
            concat!("TO", "DO"),
            concat!("FIX", "ME"),
            concat!("unimplemented", "!"),
            concat!("todo", "!"),
        ] {
            assert!(
                !text.contains(marker),
                "{} contains {marker}",
                entry.path().display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} files found");
}
