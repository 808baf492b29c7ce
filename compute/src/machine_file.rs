//! `<data>/machine.json`: the probe and the choice, written by the shell for the engine
//! (`docs/runtime-contract.md`, "Compute device and machine probe"), and the fixture hook
//! that stands in for the probe in tests of the GPU paths.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::choose::Choice;
use crate::probe::{probe, Probe};

/// The engine refuses a larger file; the writer trims text so it never gets there.
pub const MAX_MACHINE_FILE_BYTES: usize = 64 * 1024;

/// Longest text kept from a tool (names, versions) and most GPUs listed: enough for any real
/// machine, and 16 × 5 short fields cannot reach [`MAX_MACHINE_FILE_BYTES`].
const MAX_TEXT_CHARS: usize = 256;
const MAX_GPUS: usize = 16;

/// `<data_root>/machine.json`.
pub fn machine_file(data_root: &Path) -> PathBuf {
    data_root.join("machine.json")
}

#[derive(Serialize)]
struct MachineFile<'a> {
    probe: &'a Probe,
    choice: Option<ChoiceFile<'a>>,
}

#[derive(Serialize)]
struct ChoiceFile<'a> {
    /// The variant's name (`linux-x64-torch-cuda`), as in lock, folder and archive names.
    variant: String,
    device: runtime_spec::Accelerator,
    reason: &'a str,
}

/// Writes `{"probe": …, "choice": {"variant", "device", "reason"} | null}` to
/// [`machine_file`] atomically (a temporary file beside it, then a rename), so the engine
/// never reads half a file.
pub fn write_machine_file(
    data_root: &Path,
    probe: &Probe,
    choice: Option<&Choice>,
) -> io::Result<()> {
    let probe = trimmed(probe);
    let reason = choice.map(|choice| truncate(&choice.reason, 4 * MAX_TEXT_CHARS));
    let file = MachineFile {
        probe: &probe,
        choice: choice
            .zip(reason.as_deref())
            .map(|(choice, reason)| ChoiceFile {
                variant: choice.variant.name(),
                device: choice.device,
                reason,
            }),
    };
    let mut bytes = serde_json::to_vec_pretty(&file).map_err(io::Error::other)?;
    bytes.push(b'\n');
    if bytes.len() > MAX_MACHINE_FILE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "machine.json would be {} bytes; the engine reads at most {MAX_MACHINE_FILE_BYTES}",
                bytes.len()
            ),
        ));
    }
    std::fs::create_dir_all(data_root)?;
    let target = machine_file(data_root);
    let temporary = data_root.join(format!("machine.json.{}.tmp", std::process::id()));
    let written = write_new(&temporary, &bytes).and_then(|()| std::fs::rename(&temporary, &target));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Like the engine's own files in the data root: readable by this user only.
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn trimmed(probe: &Probe) -> Probe {
    let mut probe = probe.clone();
    for text in [
        &mut probe.os.version,
        &mut probe.os.name,
        &mut probe.cpu.name,
    ] {
        *text = truncate(text, MAX_TEXT_CHARS);
    }
    probe.gpus.truncate(MAX_GPUS);
    for gpu in &mut probe.gpus {
        gpu.vendor = truncate(&gpu.vendor, MAX_TEXT_CHARS);
        gpu.name = truncate(&gpu.name, MAX_TEXT_CHARS);
        for text in [&mut gpu.driver_version, &mut gpu.compute_capability]
            .into_iter()
            .flatten()
        {
            *text = truncate(text, MAX_TEXT_CHARS);
        }
    }
    probe
}

fn truncate(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

/// The probe, or when the variable `fixture_var` (the app's
/// [`runtime_spec::env::PROBE_FIXTURE`]) names a JSON file, the probe read from it (tests drive
/// the GPU paths on machines without a GPU).
pub fn probe_or_fixture(fixture_var: &str, data_root: &Path) -> Result<Probe, String> {
    let fixture = std::env::var_os(fixture_var)
        .filter(|value| !value.to_string_lossy().trim().is_empty())
        .map(PathBuf::from);
    probe_with_fixture(fixture.as_deref(), data_root)
}

/// [`probe_or_fixture`] for a caller that read the variable itself (the xtask reads the
/// environment in one place).
pub fn probe_with_fixture(fixture: Option<&Path>, data_root: &Path) -> Result<Probe, String> {
    let Some(fixture) = fixture else {
        return Ok(probe(data_root));
    };
    let bytes = std::fs::read(fixture).map_err(|error| {
        format!(
            "cannot read the machine probe fixture {}: {error}",
            fixture.display()
        )
    })?;
    // A bare probe, or a machine file (its `probe`), so a real machine's file can be replayed.
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Fixture {
        Probe(Probe),
        MachineFile { probe: Probe },
    }
    let parsed = serde_json::from_slice::<Fixture>(&bytes).map(|fixture| match fixture {
        Fixture::Probe(probe) | Fixture::MachineFile { probe } => probe,
    });
    // The untagged error says nothing useful; the bare probe's own error names the field.
    parsed
        .or_else(|_| serde_json::from_slice::<Probe>(&bytes))
        .map_err(|error| {
            format!(
                "the machine probe fixture {} is not a probe: {error}",
                fixture.display()
            )
        })
}
