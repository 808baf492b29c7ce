//! Release index: fragments merge, conflicts are refused, the signed file verifies with minisign.

use std::path::{Path, PathBuf};
use std::process::Command;

use release_meta::minisign::public_key_line;
use release_meta::{
    build_index, entry_for_archive, generate_keypair, index_json, merge_fragments, read_index_file,
    verify_index, write_fragment, write_signed_index, Error,
};
use runtime_spec::manifest::{PythonInfo, PythonSource, MANIFEST_SCHEMA_VERSION};
use runtime_spec::{layout, IndexEntry, LaunchContract, Manifest, ReleaseIndex, Target};

use crate::{run, tool_available};

fn entry(target: Target) -> IndexEntry {
    IndexEntry {
        version: "0.2.0".parse().unwrap(),
        url: format!("tokenizer-studio-runtime-0.2.0-{}.tar.zst", target.name()),
        size: 70_000_000,
        sha256: "ab".repeat(32).parse().unwrap(),
        unpacked_size: 250_000_000,
        min_shell_version: "0.1.0".parse().unwrap(),
        profile: runtime_spec::Profile::Base,
        accelerator: runtime_spec::Accelerator::Cpu,
        requirements: runtime_spec::Variant::base(runtime_spec::Target::LinuxX64)
            .base_requirements(),
        manifest: runtime_spec::ObjectRef {
            sha256: "cd".repeat(32).parse().unwrap(),
            size: 1_300_000,
            packed_size: 260_000,
        },
    }
}

fn fragment(channel: &str, published_at: u64, target: Target) -> ReleaseIndex {
    build_index(
        channel.parse().unwrap(),
        published_at,
        None,
        vec![(target, entry(target))],
    )
    .unwrap()
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
    assert_eq!(
        merged.runtimes[&Target::LinuxX64],
        [entry(Target::LinuxX64)]
    );
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
        Err(Error::DuplicateVariant { .. })
    ));
    let mut old_schema = fragment("beta", 1, Target::MacosArm64);
    old_schema.schema_version += 1;
    assert!(matches!(
        merge_fragments(&[fragment("beta", 1, Target::LinuxX64), old_schema]),
        Err(Error::SchemaVersionMismatch { .. })
    ));
    // Two apps' fragments (one beside the shared store, one a folder below it) never merge.
    let mut other_app = fragment("beta", 1, Target::MacosArm64);
    other_app.objects = Some(runtime_spec::layout::SHARED_OBJECTS_FROM_APP.to_owned());
    let error =
        merge_fragments(&[fragment("beta", 1, Target::LinuxX64), other_app.clone()]).unwrap_err();
    assert!(matches!(error, Error::ObjectsMismatch { .. }), "{error}");
    assert!(error.to_string().contains("two apps' releases"), "{error}");
    let mut same_app = fragment("beta", 1, Target::LinuxX64);
    same_app.objects = other_app.objects.clone();
    let merged = merge_fragments(&[same_app, other_app]).unwrap();
    assert_eq!(merged.objects_dir(), "../objects/");
    assert!(index_json(&merged).contains(r#""objects": "../objects/""#));
    // An object store off the index's server is refused when the index is built.
    assert!(matches!(
        build_index(
            "beta".parse().unwrap(),
            1,
            Some("https://elsewhere.invalid/objects/".into()),
            vec![]
        ),
        Err(Error::Spec(_))
    ));
}

#[test]
fn index_json_snapshot() {
    let index = build_index(
        "stable".parse().unwrap(),
        1_795_311_941,
        None,
        vec![(Target::LinuxX64, entry(Target::LinuxX64))],
    )
    .unwrap();
    let expected = format!(
        r#"{{
  "schema_version": 3,
  "channel": "stable",
  "published_at": 1795311941,
  "runtimes": {{
    "linux-x64": [
      {{
        "version": "0.2.0",
        "url": "tokenizer-studio-runtime-0.2.0-linux-x64.tar.zst",
        "size": 70000000,
        "sha256": "{sha256}",
        "unpacked_size": 250000000,
        "min_shell_version": "0.1.0",
        "profile": "base",
        "accelerator": "cpu",
        "requirements": {{
          "min_os_version": "2.28",
          "cpu_level": "x86-64-v2",
          "min_nvidia_driver": null,
          "min_compute_capability": null,
          "cuda_version": null,
          "min_ram_bytes": 2147483648
        }},
        "manifest": {{
          "sha256": "{manifest_sha256}",
          "size": 1300000,
          "packed_size": 260000
        }}
      }}
    ]
  }}
}}
"#,
        sha256 = "ab".repeat(32),
        manifest_sha256 = "cd".repeat(32)
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
        "alpha".parse().unwrap(),
        7,
        None,
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
    let beta = build_index("beta".parse().unwrap(), index.published_at, None, vec![]).unwrap();
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

/// A runtime folder with its manifest, packed by runtime-archive's packer as a release packs
/// one: the archive and the manifest describe the same runtime (the archive verifies against
/// the manifest it carries), so the entry's numbers can be checked against both.
fn packed_runtime(work: &Path, version: &str) -> (PathBuf, Manifest, runtime_archive::PackReport) {
    let runtime = work.join("runtime");
    for (path, bytes) in [
        (layout::VERSION_FILE, format!("{version}\n")),
        ("python/bin/python3", "#!/bin/sh\n".to_owned()),
        ("app/app/__init__.py", "print('hello')\n".repeat(100)),
    ] {
        let path = runtime.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let manifest = Manifest {
        schema_version: MANIFEST_SCHEMA_VERSION,
        app_id: crate::app().identifier,
        runtime_version: version.parse().unwrap(),
        target: Target::LinuxX64,
        python: PythonInfo {
            version: "3.12.14".to_owned(),
            build: "20260814".to_owned(),
            source: PythonSource::Pbs,
            sha256: None,
        },
        profile: Default::default(),
        accelerator: Default::default(),
        requirements: None,
        lock_sha256: "0".repeat(64).parse().unwrap(),
        launch: LaunchContract::for_app(&crate::app(), Target::LinuxX64),
        files: runtime_archive::build_manifest_files(&runtime).unwrap(),
    };
    std::fs::write(runtime.join(layout::MANIFEST_FILE), manifest.to_json()).unwrap();
    let archive = work.join(layout::archive_name(
        &crate::app().archive_stem(),
        &version.parse().unwrap(),
        runtime_spec::Variant::base(Target::LinuxX64),
    ));
    let report = runtime_archive::pack_tar_zst(
        &runtime,
        &archive,
        &runtime_archive::PackOptions::new(1_700_000_000),
    )
    .unwrap();
    let inside =
        runtime_archive::extract_and_verify(&archive, &work.join("check"), Target::LinuxX64)
            .unwrap();
    assert_eq!(inside, manifest, "the archive carries another manifest");
    (archive, manifest, report)
}

/// The entry of a real archive: size and sha256 are the archive's bytes, version and unpacked
/// size its manifest's. `entry_for_archive` does not open the archive to compare it with the
/// manifest: the release describes the archive it has just packed from that manifest's folder.
#[test]
fn entry_from_a_real_archive_and_manifest() {
    let work = tempfile::tempdir().unwrap();
    let (archive, manifest, report) = packed_runtime(work.path(), "0.3.1");
    let entry = entry_for_archive(&archive, &manifest, &"0.1.0".parse().unwrap()).unwrap();
    assert_eq!(
        entry.url,
        "tokenizer-studio-runtime-0.3.1-linux-x64.tar.zst"
    );
    let bytes = std::fs::read(&archive).unwrap();
    assert_eq!(entry.size, bytes.len() as u64);
    assert_eq!(entry.size, report.size);
    assert_eq!(entry.sha256.to_string(), test_support::sha256_hex(&bytes));
    assert_eq!(entry.sha256.to_string(), report.sha256);
    assert!(
        manifest.unpacked_size() > 1500,
        "{}",
        manifest.unpacked_size()
    );
    assert_eq!(entry.unpacked_size, manifest.unpacked_size());
    assert_eq!(entry.version.to_string(), "0.3.1");
    assert_eq!(entry.min_shell_version.to_string(), "0.1.0");
}
