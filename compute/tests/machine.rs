//! The probe on this machine, the machine file the engine reads, the fixture hook, and
//! candidates from a release index.

use compute::{
    choose, machine_file, probe, probe_with_fixture, write_machine_file, Arch, Candidate, OsKind,
    Preference, Probe, MAX_MACHINE_FILE_BYTES,
};
use runtime_spec::{CpuLevel, ReleaseIndex};

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn probing_this_linux_machine() {
    let data = tempfile::tempdir().unwrap();
    // The data root need not exist yet: free space is measured at its nearest ancestor.
    let probe = probe(&data.path().join("not-yet").join("created"));
    assert_eq!(probe.os.kind, OsKind::Linux);
    assert_eq!(probe.arch, Arch::X86_64);
    assert!(!probe.emulated);
    assert!(
        runtime_spec::variant::compare_dotted(&probe.os.version, "2.17").is_ge(),
        "glibc version {:?}",
        probe.os.version
    );
    assert!(!probe.os.name.is_empty());
    assert!(
        probe.cpu.level.satisfies(CpuLevel::X86_64),
        "{:?}",
        probe.cpu.level
    );
    assert!(probe.cpu.cores > 0);
    assert!(probe.ram_bytes > 0);
    assert!(probe.free_disk_bytes.is_some_and(|free| free > 0));
    assert!(!probe.apple_silicon);
    // This machine is expected to have no GPU; one with a GPU reports it.
    let has_nvidia = std::path::Path::new("/proc/driver/nvidia/version").exists();
    assert_eq!(probe.gpus.is_empty(), !has_nvidia, "{:?}", probe.gpus);
}

fn sample() -> Probe {
    serde_json::from_str(include_str!("fixtures/probe-linux-rtx4090.json")).unwrap()
}

#[test]
fn the_machine_file_has_the_shape_the_engine_reads() {
    let data = tempfile::tempdir().unwrap();
    let probe = sample();
    let choice = choose(
        &probe,
        &Candidate::known(),
        &Preference {
            profile: runtime_spec::Profile::Torch,
            ..Preference::default()
        },
    )
    .unwrap();
    write_machine_file(data.path(), &probe, Some(&choice)).unwrap();
    let path = machine_file(data.path());
    assert_eq!(path, data.path().join("machine.json"));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(json["choice"]["variant"], "linux-x64-torch-cuda");
    assert_eq!(json["choice"]["device"], "cuda");
    assert!(json["choice"]["reason"]
        .as_str()
        .unwrap()
        .contains("RTX 4090"));
    let probe_json = &json["probe"];
    assert_eq!(probe_json["os"]["kind"], "linux");
    assert_eq!(probe_json["os"]["version"], "2.36");
    assert_eq!(probe_json["arch"], "x86_64");
    assert_eq!(probe_json["emulated"], false);
    assert_eq!(probe_json["cpu"]["level"], "x86-64-v3");
    assert_eq!(probe_json["cpu"]["cores"], 16);
    assert_eq!(probe_json["gpus"][0]["vendor"], "nvidia");
    assert_eq!(probe_json["gpus"][0]["compute_capability"], "8.9");
    assert_eq!(probe_json["apple_silicon"], false);
    assert!(probe_json["free_disk_bytes"].is_u64());
    // Exactly the keys the engine documents, nothing else at the top.
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["choice", "probe"]);
    let choice_keys: Vec<&String> = json["choice"].as_object().unwrap().keys().collect();
    assert_eq!(choice_keys, ["device", "reason", "variant"]);
    // Written again without a choice, through a rename: no temporary file stays behind.
    write_machine_file(data.path(), &probe, None).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(json["choice"].is_null());
    let names: Vec<_> = std::fs::read_dir(data.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names, ["machine.json"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
}

#[test]
fn the_machine_file_stays_under_the_engines_limit() {
    let data = tempfile::tempdir().unwrap();
    let mut probe = sample();
    probe.cpu.name = "x".repeat(100_000);
    probe.gpus = vec![probe.gpus[0].clone(); 500];
    probe.gpus[0].name = "y".repeat(100_000);
    write_machine_file(data.path(), &probe, None).unwrap();
    let bytes = std::fs::read(machine_file(data.path())).unwrap();
    assert!(bytes.len() <= MAX_MACHINE_FILE_BYTES, "{}", bytes.len());
    let written: Probe = serde_json::from_slice::<serde_json::Value>(&bytes)
        .map(|json| serde_json::from_value(json["probe"].clone()).unwrap())
        .unwrap();
    assert_eq!(written.gpus.len(), 16);
}

#[test]
fn a_fixture_replaces_the_probe_and_a_bad_one_is_an_error_naming_it() {
    let data = tempfile::tempdir().unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/probe-linux-rtx4090.json");
    assert_eq!(
        probe_with_fixture(Some(&fixture), data.path()).unwrap(),
        sample()
    );
    // The machine file's own shape works as a fixture too.
    write_machine_file(data.path(), &sample(), None).unwrap();
    assert_eq!(
        probe_with_fixture(Some(&machine_file(data.path())), data.path()).unwrap(),
        sample()
    );
    let bad = data.path().join("bad.json");
    std::fs::write(&bad, "{\"os\": 1}").unwrap();
    let error = probe_with_fixture(Some(&bad), data.path()).unwrap_err();
    assert!(error.contains("bad.json"), "{error}");
    let missing = data.path().join("missing.json");
    let error = probe_with_fixture(Some(&missing), data.path()).unwrap_err();
    assert!(error.contains("missing.json"), "{error}");
}

#[test]
fn candidates_come_from_every_target_of_an_index() {
    let index = ReleaseIndex::from_json(include_bytes!("fixtures/release-index.json")).unwrap();
    let candidates = Candidate::from_index(&index);
    let names: Vec<String> = candidates
        .iter()
        .map(|candidate| candidate.variant.name())
        .collect();
    assert_eq!(names, ["macos-arm64", "linux-x64", "linux-x64-torch-cuda"]);
    let cuda = &candidates[2];
    assert_eq!(cuda.download_bytes, 3_300_000_000);
    assert_eq!(cuda.unpacked_bytes, 7_000_000_000);
    assert_eq!(
        cuda.requirements.min_nvidia_driver.as_deref(),
        Some("580.65.06")
    );
    let choice = choose(
        &sample(),
        &candidates,
        &Preference {
            profile: runtime_spec::Profile::Torch,
            ..Preference::default()
        },
    )
    .unwrap();
    assert_eq!(choice.variant.name(), "linux-x64-torch-cuda");
    assert!(
        choice.reason.contains("3.1 GB download"),
        "{}",
        choice.reason
    );
}
