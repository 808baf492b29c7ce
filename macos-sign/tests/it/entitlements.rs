//! The entitlements the Python runtime's executables are signed with: exactly the two exceptions
//! an embedded CPython needs.

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
