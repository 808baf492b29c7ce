//! SHA256SUMS: GNU `sha256sum -c` accepts what we write and notices a changed file.

use std::path::PathBuf;
use std::process::Command;

use release_meta::write_sha256sums;

use crate::{flip_byte, run, tool_available};

#[test]
fn sha256sum_checks_our_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("installers")).unwrap();
    std::fs::write(
        root.join("tokenizer-studio-runtime-0.2.0-linux-x64.tar.zst"),
        b"archive",
    )
    .unwrap();
    std::fs::write(root.join("runtime-beta.json"), b"{}\n").unwrap();
    std::fs::write(
        root.join("installers/Tokenizer Studio_0.2.0_x64.msi"),
        b"msi",
    )
    .unwrap();

    let files: Vec<PathBuf> = vec![
        root.join("tokenizer-studio-runtime-0.2.0-linux-x64.tar.zst"),
        PathBuf::from("runtime-beta.json"),
        PathBuf::from("installers/Tokenizer Studio_0.2.0_x64.msi"),
    ];
    let sums_path = write_sha256sums(root, &files).unwrap();
    assert_eq!(sums_path, root.join("SHA256SUMS"));
    let text = std::fs::read_to_string(&sums_path).unwrap();
    let names: Vec<&str> = text.lines().map(|line| &line[66..]).collect();
    assert_eq!(
        names,
        [
            "installers/Tokenizer Studio_0.2.0_x64.msi",
            "runtime-beta.json",
            "tokenizer-studio-runtime-0.2.0-linux-x64.tar.zst"
        ]
    );
    for line in text.lines() {
        use sha2::Digest as _;
        let (hash, name) = line.split_once("  ").unwrap();
        let contents = std::fs::read(root.join(name)).unwrap();
        assert_eq!(hash, hex::encode(sha2::Sha256::digest(contents)), "{line}");
    }

    // Same input, same bytes.
    write_sha256sums(root, &files).unwrap();
    assert_eq!(std::fs::read_to_string(&sums_path).unwrap(), text);

    assert!(write_sha256sums(root, &[PathBuf::from("/etc/hostname")]).is_err());
    assert!(write_sha256sums(root, &[PathBuf::from("../x")]).is_err());

    if !tool_available("sha256sum", "apt-get install coreutils") {
        return;
    }
    let check = || {
        run(Command::new("sha256sum")
            .args(["-c", "--strict", "SHA256SUMS"])
            .current_dir(root))
    };
    let output = check();
    assert!(output.status.success(), "{output:?}");
    flip_byte(&root.join("runtime-beta.json"), 0);
    let output = check();
    assert!(
        !output.status.success(),
        "sha256sum -c accepted a changed file"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("runtime-beta.json: FAILED"));
}
