//! Tidy checks for this crate (rust-analyzer's `tidy.rs`): doc lines, no leftover markers.

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
    for entry in walkdir::WalkDir::new(crate_dir.join("src"))
        .into_iter()
        .chain(walkdir::WalkDir::new(crate_dir.join("tests")))
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
    assert!(n_files >= 9, "tidy found only {n_files} files");
}

#[test]
fn the_entitlements_plist_parses_and_holds_exactly_the_two_exceptions() {
    let plist =
        plist::Value::from_reader_xml(macos_sign::PYTHON_RUNTIME_ENTITLEMENTS.as_bytes()).unwrap();
    let dict = plist.as_dictionary().unwrap();
    let keys: Vec<&str> = dict.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "com.apple.security.cs.allow-unsigned-executable-memory",
            "com.apple.security.cs.disable-library-validation",
        ]
    );
    assert!(dict.values().all(|value| value.as_boolean() == Some(true)));
}
