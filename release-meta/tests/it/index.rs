//! Release index: fragments merge, conflicts are refused, the signed file verifies with minisign.

use std::path::Path;
use std::process::Command;

use release_meta::minisign::public_key_line;
use release_meta::{
    build_index, entry_for_archive, generate_keypair, index_json, merge_fragments, read_index_file,
    verify_index, write_fragment, write_signed_index, Error,
};
use runtime_spec::{IndexEntry, Manifest, ReleaseIndex, Target};

use crate::{built_linux_runtime, run, tool_available};

fn entry(target: Target) -> IndexEntry {
    IndexEntry {
        version: "0.2.0".to_owned(),
        url: format!("tokenizer-studio-runtime-0.2.0-{}.tar.zst", target.name()),
        size: 70_000_000,
        sha256: "ab".repeat(32),
        unpacked_size: 250_000_000,
        min_shell_version: "0.1.0".to_owned(),
    }
}

fn fragment(channel: &str, published_at: u64, target: Target) -> ReleaseIndex {
    build_index(channel, published_at, vec![(target, entry(target))]).unwrap()
}

#[test]
fn fragments_merge_and_conflicts_are_refused() {
    let merged = merge_fragments(&[
        fragment("beta", 1_795_000_000, Target::WindowsX64),
        fragment("beta", 1_795_000_100, Target::LinuxX64),
    ])
    .unwrap();
    assert_eq!(merged.channel, "beta");
    assert_eq!(merged.published_at, 1_795_000_100);
    assert_eq!(
        merged.runtimes.keys().copied().collect::<Vec<_>>(),
        vec![Target::WindowsX64, Target::LinuxX64]
    );
    assert_eq!(merged.runtimes[&Target::LinuxX64], entry(Target::LinuxX64));
    // Same result whatever order the matrix jobs finished in.
    let reversed = merge_fragments(&[
        fragment("beta", 1_795_000_100, Target::LinuxX64),
        fragment("beta", 1_795_000_000, Target::WindowsX64),
    ])
    .unwrap();
    assert_eq!(index_json(&merged), index_json(&reversed));

    assert!(matches!(
        merge_fragments(&[
            fragment("beta", 1, Target::LinuxX64),
            fragment("stable", 1, Target::WindowsX64),
        ]),
        Err(Error::ChannelMismatch { .. })
    ));
    assert!(matches!(
        merge_fragments(&[
            fragment("beta", 1, Target::LinuxX64),
            fragment("beta", 2, Target::LinuxX64),
        ]),
        Err(Error::DuplicateTarget { .. })
    ));
    let mut old_schema = fragment("beta", 1, Target::MacosArm64);
    old_schema.schema_version += 1;
    assert!(matches!(
        merge_fragments(&[fragment("beta", 1, Target::LinuxX64), old_schema]),
        Err(Error::SchemaVersionMismatch { .. })
    ));
}

#[test]
fn index_json_snapshot() {
    let index = build_index(
        "stable",
        1_795_311_941,
        vec![(Target::LinuxX64, entry(Target::LinuxX64))],
    )
    .unwrap();
    let expected = format!(
        r#"{{
  "schema_version": 1,
  "channel": "stable",
  "published_at": 1795311941,
  "runtimes": {{
    "linux-x64": {{
      "version": "0.2.0",
      "url": "tokenizer-studio-runtime-0.2.0-linux-x64.tar.zst",
      "size": 70000000,
      "sha256": "{sha256}",
      "unpacked_size": 250000000,
      "min_shell_version": "0.1.0"
    }}
  }}
}}
"#,
        sha256 = "ab".repeat(32)
    );
    assert_eq!(index_json(&index), expected);
}

#[test]
fn fragments_round_trip_through_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for target in Target::ALL {
        paths.push(write_fragment(&fragment("alpha", 7, target), dir.path()).unwrap());
    }
    assert_eq!(
        paths[2].file_name().unwrap(),
        "runtime-alpha-linux-x64.fragment.json"
    );
    let fragments: Vec<ReleaseIndex> = paths
        .iter()
        .map(|path| read_index_file(path).unwrap())
        .collect();
    assert_eq!(merge_fragments(&fragments).unwrap().runtimes.len(), 3);

    let two_targets = build_index(
        "alpha",
        7,
        vec![
            (Target::LinuxX64, entry(Target::LinuxX64)),
            (Target::WindowsX64, entry(Target::WindowsX64)),
        ],
    )
    .unwrap();
    assert!(matches!(
        write_fragment(&two_targets, dir.path()),
        Err(Error::FragmentTargets { n_targets: 2 })
    ));
    let garbage = dir.path().join("runtime-alpha-garbage.fragment.json");
    std::fs::write(&garbage, "{\"schema_version\": 1}").unwrap();
    let error = read_index_file(&garbage).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("runtime-alpha-garbage.fragment.json"),
        "{error}"
    );
}

#[test]
fn signed_index_verifies_with_reference_minisign() {
    let index = merge_fragments(&[
        fragment("stable", 1_795_311_941, Target::MacosArm64),
        fragment("stable", 1_795_311_941, Target::LinuxX64),
    ])
    .unwrap();
    let (public_key, secret_key) = generate_keypair(Some("pw")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (json_path, minisig_path) =
        write_signed_index(&index, dir.path(), &secret_key, Some("pw")).unwrap();
    assert_eq!(json_path, dir.path().join("runtime-stable.json"));
    assert_eq!(minisig_path, dir.path().join("runtime-stable.json.minisig"));

    let json = std::fs::read(&json_path).unwrap();
    assert!(json.ends_with(b"}\n"));
    assert_eq!(ReleaseIndex::from_json(&json).unwrap(), index);
    let signature = std::fs::read_to_string(&minisig_path).unwrap();
    assert_eq!(
        verify_index(&json, &signature, &public_key, &json_path).unwrap(),
        index
    );

    // Deterministic JSON: a second write gives the same bytes (only the signature differs).
    let again = tempfile::tempdir().unwrap();
    let (json_again, _) =
        write_signed_index(&index, again.path(), &secret_key, Some("pw")).unwrap();
    assert_eq!(std::fs::read(json_again).unwrap(), json);

    // A signature over another channel's index is refused even though the key is right.
    let beta = build_index("beta", index.published_at, vec![]).unwrap();
    let (beta_json, beta_sig) =
        write_signed_index(&beta, dir.path(), &secret_key, Some("pw")).unwrap();
    let beta_signature = std::fs::read_to_string(beta_sig).unwrap();
    let mut forged = std::fs::read(beta_json).unwrap();
    assert!(verify_index(&forged, &beta_signature, &public_key, Path::new("beta")).is_ok());
    forged = String::from_utf8(forged)
        .unwrap()
        .replace("beta", "stable")
        .into_bytes();
    assert!(verify_index(&forged, &beta_signature, &public_key, Path::new("forged")).is_err());

    if !tool_available("minisign", "apt-get install minisign") {
        return;
    }
    let output = run(Command::new("minisign")
        .arg("-V")
        .arg("-P")
        .arg(public_key_line(&public_key).unwrap())
        .arg("-m")
        .arg(&json_path));
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("channel:stable") && stdout.contains("published_at:1795311941"),
        "trusted comment should name channel and published_at: {stdout}"
    );
}

#[test]
fn entry_from_a_real_archive_and_manifest() {
    let Some(runtime) = built_linux_runtime() else {
        return;
    };
    let manifest_json = std::fs::read(runtime.join("manifest.json")).unwrap();
    let manifest = Manifest::from_json(&manifest_json).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir
        .path()
        .join("tokenizer-studio-runtime-0.1.0-linux-x64.tar.zst");
    std::fs::write(&archive, b"not really zstd").unwrap();
    let entry = entry_for_archive(&archive, &manifest, "0.1.0").unwrap();
    assert_eq!(
        entry.url,
        "tokenizer-studio-runtime-0.1.0-linux-x64.tar.zst"
    );
    assert_eq!(entry.size, 15);
    use sha2::Digest as _;
    assert_eq!(
        entry.sha256,
        hex::encode(sha2::Sha256::digest(b"not really zstd"))
    );
    assert_eq!(entry.unpacked_size, manifest.unpacked_size());
    assert_eq!(entry.version, manifest.runtime_version);
}
