//! Which runtime variant this machine installs and which device the engine uses, decided by
//! the `compute` crate from the machine probe, the signed index and the user's settings.
//!
//! The settings live in `shell-settings.json` beside the update switch: `"profile"` (`base` or
//! `torch`; the app's default is `base`) and `"compute"` (`auto`, `gpu` or `cpu`). The probe and
//! the choice are written to `<data>/machine.json` for the engine's "About this computer".

use std::path::Path;

use compute::{Candidate, Choice, DevicePreference, Preference, Probe};
use runtime_spec::{Accelerator, Manifest, ReleaseIndex};

use crate::runtime_update::SETTINGS_FILE;

/// The user's profile and GPU/CPU settings; an unreadable file or value is the default.
pub fn preference(data_root: &Path) -> Preference {
    let settings = read_settings(data_root);
    let text = |key: &str| settings.get(key).and_then(|value| value.as_str());
    Preference {
        profile: text("profile")
            .and_then(|name| name.parse().ok())
            .unwrap_or_default(),
        device: text("compute")
            .and_then(|name| serde_json::from_value(serde_json::Value::from(name)).ok())
            .unwrap_or_default(),
    }
}

/// Saves the GPU/CPU setting, keeping the file's other keys.
pub fn set_device_preference(data_root: &Path, device: DevicePreference) -> std::io::Result<()> {
    let mut settings = read_settings(data_root);
    settings.insert(
        "compute".to_owned(),
        serde_json::to_value(device).expect("a preference serialises"),
    );
    let path = data_root.join(SETTINGS_FILE);
    let temp = data_root.join(format!("{SETTINGS_FILE}.tmp"));
    let mut json = serde_json::to_vec_pretty(&settings).expect("settings serialise");
    json.push(b'\n');
    std::fs::write(&temp, json)?;
    std::fs::rename(&temp, &path)
}

fn read_settings(data_root: &Path) -> serde_json::Map<String, serde_json::Value> {
    std::fs::read(data_root.join(SETTINGS_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|value| value.as_object().cloned())
        .unwrap_or_default()
}

/// The app's machine probe fixture variable (`<PREFIX>_PROBE_FIXTURE`).
fn probe_fixture_var() -> String {
    crate::app().var(runtime_spec::env::PROBE_FIXTURE)
}

/// The variant to install from a verified index: probes the machine (or reads the test
/// fixture), decides, and records both in `machine.json`. `Err` is the sentence to show.
pub fn choose_from_index(
    data_root: &Path,
    index: &ReleaseIndex,
    preference: &Preference,
) -> Result<Choice, String> {
    let probe = compute::probe_or_fixture(&probe_fixture_var(), data_root)?;
    let choice = compute::choose(&probe, &Candidate::from_index(index), preference)
        .map_err(|refusal| refusal.message)?;
    let _ = compute::write_machine_file(data_root, &probe, Some(&choice));
    Ok(choice)
}

/// The device the engine of an installed runtime uses on this machine: the same decision, over
/// that runtime alone (a CUDA build without a usable NVIDIA GPU runs on the CPU). Also records
/// the probe and this choice for the engine (in the background for a CPU build). Returns the
/// device and a line for the log.
pub fn launch_device(data_root: &Path, manifest: &Manifest) -> (Accelerator, String) {
    if !manifest.accelerator.is_gpu() {
        // A CPU build needs no probe to start: the machine file is written beside the launch,
        // so probing (a few tool runs on macOS and Windows) never delays the engine.
        let line = format!(
            "engine device: cpu (the {} runtime is a CPU build)",
            manifest.variant()
        );
        let data_root = data_root.to_path_buf();
        let manifest = manifest.clone();
        let _ = std::thread::Builder::new()
            .name("shell-probe".into())
            .spawn(move || {
                if let Ok(probe) = compute::probe_or_fixture(&probe_fixture_var(), &data_root) {
                    let (_, _, choice) = device_for(&probe, &manifest, &preference(&data_root));
                    let _ = compute::write_machine_file(&data_root, &probe, choice.as_ref());
                }
            });
        return (Accelerator::Cpu, line);
    }
    let probe = match compute::probe_or_fixture(&probe_fixture_var(), data_root) {
        Ok(probe) => probe,
        Err(error) => return (Accelerator::Cpu, format!("machine probe failed: {error}")),
    };
    let (device, line, choice) = device_for(&probe, manifest, &preference(data_root));
    let _ = compute::write_machine_file(data_root, &probe, choice.as_ref());
    (device, line)
}

fn device_for(
    probe: &Probe,
    manifest: &Manifest,
    preference: &Preference,
) -> (Accelerator, String, Option<Choice>) {
    let candidate = Candidate {
        variant: manifest.variant(),
        requirements: manifest.requirements(),
        download_bytes: 0,
        unpacked_bytes: manifest.unpacked_size(),
    };
    let preference = Preference {
        profile: manifest.profile,
        device: preference.device,
    };
    // The runtime is already installed: no disk is needed for it.
    let mut installed = probe.clone();
    installed.free_disk_bytes = None;
    match compute::choose(&installed, &[candidate], &preference) {
        Ok(choice) if choice.variant == manifest.variant() => {
            let line = format!(
                "engine device: {} ({})",
                choice.device,
                std::iter::once(choice.reason.as_str())
                    .chain(choice.notes.iter().map(String::as_str))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            (choice.device, line, Some(choice))
        }
        Ok(choice) => (
            Accelerator::Cpu,
            format!(
                "engine device: cpu (this machine would rather run {})",
                choice.variant
            ),
            None,
        ),
        Err(refusal) => (
            Accelerator::Cpu,
            format!("engine device: cpu ({})", refusal.message),
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use runtime_spec::{Profile, Target, Variant};

    use super::*;

    /// The machine of the compute crate's fixture: an RTX 4090 with driver 580.
    fn rtx_4090() -> Probe {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../compute/tests/fixtures/probe-linux-rtx4090.json");
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    fn manifest(variant: Variant) -> Manifest {
        let requirements = match variant.accelerator {
            Accelerator::Cuda => variant
                .base_requirements()
                .for_cuda(variant.target, "13.2")
                .unwrap(),
            _ => variant.base_requirements(),
        };
        Manifest {
            schema_version: runtime_spec::manifest::MANIFEST_SCHEMA_VERSION,
            app_id: crate::app().identifier.clone(),
            runtime_version: "0.2.0".parse().unwrap(),
            target: variant.target,
            profile: variant.profile,
            accelerator: variant.accelerator,
            requirements: Some(requirements),
            python: runtime_spec::PythonInfo {
                version: "3.12.14".into(),
                build: "20260814".into(),
                source: runtime_spec::PythonSource::Pbs,
                sha256: None,
            },
            lock_sha256: "0".repeat(64).parse().unwrap(),
            launch: runtime_spec::LaunchContract::for_app(crate::app(), variant.target),
            files: Vec::new(),
        }
    }

    const CUDA: Variant = Variant::new(Target::LinuxX64, Profile::Torch, Accelerator::Cuda);

    #[test]
    fn an_installed_cuda_build_uses_the_gpu_only_where_one_is_usable() {
        let auto = Preference::default();
        let (device, line, choice) = device_for(&rtx_4090(), &manifest(CUDA), &auto);
        assert_eq!(device, Accelerator::Cuda, "{line}");
        assert!(line.contains("RTX 4090"), "{line}");
        assert_eq!(choice.unwrap().variant, CUDA);

        // The same machine with an old driver: the CUDA build runs on the CPU, and the log says
        // what to update.
        let mut old_driver = rtx_4090();
        old_driver.gpus[0].driver_version = Some("525.60.13".into());
        let (device, line, _) = device_for(&old_driver, &manifest(CUDA), &auto);
        assert_eq!(device, Accelerator::Cpu, "{line}");
        assert!(line.contains("525.60.13"), "{line}");

        // No GPU at all.
        let mut no_gpu = rtx_4090();
        no_gpu.gpus.clear();
        let (device, _, _) = device_for(&no_gpu, &manifest(CUDA), &auto);
        assert_eq!(device, Accelerator::Cpu);

        // The user chose the CPU.
        let cpu = Preference {
            profile: Profile::Torch,
            device: DevicePreference::Cpu,
        };
        let (device, _, _) = device_for(&rtx_4090(), &manifest(CUDA), &cpu);
        assert_eq!(device, Accelerator::Cpu);

        // The base runtime never asks for a GPU, and a full disk does not matter once installed.
        let mut full_disk = rtx_4090();
        full_disk.free_disk_bytes = Some(0);
        let (device, line, _) = device_for(
            &full_disk,
            &manifest(Variant::base(Target::LinuxX64)),
            &auto,
        );
        assert_eq!(device, Accelerator::Cpu, "{line}");
    }

    #[test]
    fn settings_keep_their_other_keys_and_default_when_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(preference(dir.path()), Preference::default());
        std::fs::write(
            dir.path().join(SETTINGS_FILE),
            br#"{"check_for_updates": false, "profile": "torch"}"#,
        )
        .unwrap();
        set_device_preference(dir.path(), DevicePreference::Cpu).unwrap();
        assert_eq!(
            preference(dir.path()),
            Preference {
                profile: Profile::Torch,
                device: DevicePreference::Cpu
            }
        );
        assert!(!crate::runtime_update::check_enabled(None, dir.path()));
        std::fs::write(
            dir.path().join(SETTINGS_FILE),
            b"{\"compute\": \"quantum\"}",
        )
        .unwrap();
        assert_eq!(preference(dir.path()), Preference::default());
    }
}
