//! Smoke tests: start an assembled runtime exactly as the shell does and exercise it.
//!
//! Used by `cargo xtask smoke` and at the end of `cargo xtask runtime` for the host target.
//! Each step is a plain function that fails with a [`SmokeError`] naming the step.

mod client;
mod orphan;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use runtime_spec::{Accelerator, Manifest, Profile};
use supervisor::{Engine, LaunchRequest, StopOutcome};

pub use client::Client;
pub use orphan::{supervise_until_killed, SUPERVISOR_LINE_PREFIX};

/// A failed smoke step.
#[derive(Debug, thiserror::Error)]
#[error("smoke step `{step}` failed: {message}")]
pub struct SmokeError {
    pub step: &'static str,
    pub message: String,
}

pub(crate) fn fail(step: &'static str, message: impl Into<String>) -> SmokeError {
    SmokeError {
        step,
        message: message.into(),
    }
}

/// Builds the command of a separate supervising process for the SIGKILL step: it must call
/// [`supervise_until_killed`] with the runtime and data folders it is given.
pub type SupervisorCommand = Box<dyn Fn(&Path, &Path) -> Command>;

/// What to smoke-test.
pub struct SmokeOptions {
    /// A runtime folder, or a `.tar.zst` archive that is first extracted the way the installer
    /// extracts it.
    pub runtime: PathBuf,
    /// The supervising process to SIGKILL (Linux); `None` skips that step.
    pub supervisor_command: Option<SupervisorCommand>,
    /// Called with a one-line description as each step passes.
    pub on_step: Box<dyn Fn(&str)>,
    /// The app's own smoke script (its descriptor's `smoke`), run with the runtime's Python
    /// against the engine in place of the training steps.
    pub app_smoke: Option<PathBuf>,
}

/// The `TOKENIZER_STUDIO_DEVICE` the steps start the engine with: `None` leaves the engine its
/// default (the manifest's accelerator), which is what the shell gives a machine with that GPU;
/// a CUDA runtime on a machine without an NVIDIA GPU is exercised on the CPU (its wheels run
/// there too), as the shell would choose.
pub fn device_for(manifest: &Manifest) -> Option<&'static str> {
    (manifest.accelerator == Accelerator::Cuda && !nvidia_gpu_present()).then_some("cpu")
}

/// Whether this machine has an NVIDIA GPU a driver exposes (Linux: `/proc/driver/nvidia/gpus`;
/// elsewhere `nvidia-smi -L` lists one).
pub fn nvidia_gpu_present() -> bool {
    let listed = std::fs::read_dir("/proc/driver/nvidia/gpus")
        .map(|entries| entries.count() > 0)
        .unwrap_or(false);
    listed
        || Command::new("nvidia-smi")
            .arg("-L")
            .output()
            .is_ok_and(|output| {
                output.status.success() && String::from_utf8_lossy(&output.stdout).contains("GPU")
            })
}

/// What the engine reported for one device in [`check_compute`].
#[derive(Debug, Clone)]
pub struct ComputeFacts {
    pub torch_version: Option<String>,
    pub torch_cuda: Option<String>,
    pub device: String,
    pub gflops: f64,
}

/// Starts the engine (with `device` as `TOKENIZER_STUDIO_DEVICE` when given), asks
/// `GET /api/v1/system` and `POST /api/v1/system/compute-check`, and checks that a torch
/// runtime's engine imported torch and ran its tensor operation on the device it reports (a
/// base runtime's engine reports no torch and computes with numpy).
pub fn check_compute(
    runtime: &Path,
    manifest: &Manifest,
    data: &Path,
    device: Option<&str>,
) -> Result<ComputeFacts, SmokeError> {
    let engine = start_on(runtime, manifest, data, device)?;
    let client = Client::new(&engine, manifest);
    let system = client.system()?;
    let expected_device = device.unwrap_or(manifest.accelerator.name());
    let torch = &system["torch"];
    let facts = ComputeFacts {
        torch_version: torch["version"].as_str().map(str::to_owned),
        torch_cuda: torch["cuda"].as_str().map(str::to_owned),
        device: system["device"]["kind"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        gflops: 0.0,
    };
    let problem = if system["runtime"]["profile"] != manifest.profile.name() {
        Some(format!(
            "it reports the profile {}",
            system["runtime"]["profile"]
        ))
    } else if manifest.profile == Profile::Torch && facts.torch_version.is_none() {
        Some("torch is missing or failed to import".to_owned())
    } else if manifest.profile == Profile::Base && !torch.is_null() {
        Some("a base runtime has torch".to_owned())
    } else if facts.device != expected_device {
        Some(format!("it computes on {:?}", facts.device))
    } else if system["device"]["check"]["ok"] != true {
        Some(format!(
            "its device check failed: {}",
            system["device"]["check"]
        ))
    } else {
        None
    };
    if let Some(problem) = problem {
        return Err(fail(
            "compute",
            format!("GET /api/v1/system on the {expected_device} engine: {problem}; it answered {system}"),
        ));
    }
    let check = client.compute_check()?;
    let gflops = check["gflops"].as_f64().unwrap_or(0.0);
    if check["ok"] != true || check["device"] != expected_device || gflops <= 0.0 {
        return Err(fail(
            "compute",
            format!("the compute check on {expected_device} answered {check}"),
        ));
    }
    drop(engine);
    Ok(ComputeFacts { gflops, ..facts })
}

fn describe(facts: &ComputeFacts) -> String {
    format!(
        "torch {}{} ran the compute check on {}: {:.1} GFLOP/s",
        facts.torch_version.as_deref().unwrap_or("none"),
        facts
            .torch_cuda
            .as_deref()
            .map(|cuda| format!(" (CUDA {cuda})"))
            .unwrap_or_default(),
        facts.device,
        facts.gflops
    )
}

/// Timings and facts from a passing run.
#[derive(Debug, Default)]
pub struct SmokeReport {
    pub steps_passed: Vec<String>,
    pub first_ready: Duration,
    pub training: Duration,
    /// A torch runtime's GPU ran the compute check (it is on this machine).
    pub gpu_checked: bool,
}

/// Runs every smoke step against the runtime; stops at the first failure.
pub fn run(options: &SmokeOptions) -> Result<SmokeReport, SmokeError> {
    let mut report = SmokeReport::default();
    let passed = |report: &mut SmokeReport, line: String| {
        (options.on_step)(&line);
        report.steps_passed.push(line);
    };
    // Spaces and non-ASCII in every path the runtime sees: the user's name can be anything.
    let scratch = tempfile::Builder::new()
        .prefix("app smöke ")
        .tempdir()
        .map_err(|error| fail("extract", format!("creating a temporary folder: {error}")))?;
    let runtime = if options.runtime.is_dir() {
        options.runtime.clone()
    } else {
        let dest = scratch.path().join("rüntime dir");
        runtime_archive::extract_archive(&options.runtime, &dest)
            .map_err(|error| fail("extract", error.to_string()))?;
        passed(
            &mut report,
            format!(
                "extracted {} to {}",
                options.runtime.display(),
                dest.display()
            ),
        );
        dest
    };
    let manifest = read_manifest(&runtime)?;
    let verify = runtime_archive::verify_dir(&runtime, &manifest);
    if !verify.is_ok() {
        return Err(fail("verify", verify.to_string()));
    }
    passed(
        &mut report,
        format!("{} files match the manifest", manifest.files.len()),
    );
    let data = scratch.path().join("dätä root");
    let device = device_for(&manifest);

    let started = Instant::now();
    let mut engine = start_on(&runtime, &manifest, &data, device)?;
    report.first_ready = started.elapsed();
    let client = Client::new(&engine, &manifest);
    client.check_health()?;
    let line = format!(
        "ready at {} in {:.2?}; /health and /api/v1/health echo the launch id",
        engine.url(),
        report.first_ready
    );
    passed(&mut report, line);

    client.check_security()?;
    passed(&mut report, "no token → 401, foreign Host → 403".into());

    let job_id = match &options.app_smoke {
        Some(script) => {
            let started = Instant::now();
            let said = run_app_smoke(&runtime, &manifest, script, &engine)?;
            report.training = started.elapsed();
            let line = format!(
                "the app's smoke step passed in {:.2?}: {said}",
                report.training
            );
            passed(&mut report, line);
            None
        }
        None => {
            let training = Instant::now();
            let job_id = client.train_small_corpus()?;
            report.training = training.elapsed();
            let artifact = data.join("smoke-download-tokenizer.json");
            client.download_artifact(&job_id, &artifact)?;
            round_trip_with_runtime_tokenizers(&runtime, &manifest, &artifact)?;
            let line = format!(
                "trained {job_id} in {:.2?}; artifact round-trips with the runtime's tokenizers",
                report.training
            );
            passed(&mut report, line);
            Some(job_id)
        }
    };

    let outcome = engine.stop(Duration::from_secs(10));
    if !matches!(outcome, StopOutcome::StdinClosed { code: Some(0) }) {
        return Err(fail(
            "stop",
            format!("the engine should exit 0 when its stdin closes; it ended with {outcome:?}"),
        ));
    }
    let engine = start_on(&runtime, &manifest, &data, device)?;
    let client = Client::new(&engine, &manifest);
    match &job_id {
        Some(job_id) => {
            client.check_job_listed(job_id)?;
            drop(engine);
            passed(
                &mut report,
                "stopped on stdin EOF; restarted on the same data: the job is in the history"
                    .into(),
            );
        }
        None => {
            client.check_health()?;
            drop(engine);
            passed(
                &mut report,
                "stopped on stdin EOF; restarted on the same data and healthy".into(),
            );
        }
    }

    if manifest.profile == Profile::Torch {
        let facts = check_compute(&runtime, &manifest, &scratch.path().join("dätä 3"), device)?;
        passed(&mut report, describe(&facts));
        if manifest.accelerator.is_gpu() && device.is_none() {
            report.gpu_checked = true;
        }
    }

    if let Some(command) = &options.supervisor_command {
        // The supervising process passes its environment on to the engine.
        let command = move |runtime: &Path, data: &Path| {
            let mut command = command(runtime, data);
            if let Some(device) = device {
                command.env(device_var(&manifest), device);
            }
            command
        };
        let message = orphan::check_no_orphan_after_sigkill(
            &command,
            &runtime,
            &scratch.path().join("dätä 2"),
        )?;
        passed(&mut report, message);
    }
    Ok(report)
}

fn read_manifest(runtime: &Path) -> Result<Manifest, SmokeError> {
    let path = runtime.join(runtime_spec::layout::MANIFEST_FILE);
    let bytes = fs_err::read(&path).map_err(|error| fail("manifest", error.to_string()))?;
    Manifest::from_json(&bytes)
        .map_err(|error| fail("manifest", format!("{}: {error}", path.display())))
}

/// Runs the app's smoke script with the runtime's interpreter (isolated: only the runtime's own
/// packages) against the running engine; the token goes in the environment, never on the
/// command line. Returns the script's last line.
fn run_app_smoke(
    runtime: &Path,
    manifest: &Manifest,
    script: &Path,
    engine: &Engine,
) -> Result<String, SmokeError> {
    let prefix = manifest.launch.env_prefix().unwrap_or_default();
    let output = Command::new(manifest.launch.program(runtime))
        .arg("-I")
        .arg(script)
        .arg("--base-url")
        .arg(engine.url().trim_end_matches('/'))
        .env(
            runtime_spec::env::RUNTIME_TOKEN.name(prefix),
            engine.token(),
        )
        .output()
        .map_err(|error| {
            fail(
                "app smoke",
                format!("starting {}: {error}", script.display()),
            )
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default().to_owned();
    if !output.status.success() {
        return Err(fail(
            "app smoke",
            format!(
                "{} exited {}: {last}\n{}",
                script.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ),
        ));
    }
    Ok(last)
}

/// The app's device variable (`<PREFIX>_DEVICE`), named after the manifest's contract.
fn device_var(manifest: &Manifest) -> String {
    runtime_spec::env::DEVICE.name(manifest.launch.env_prefix().unwrap_or_default())
}

/// Starts the runtime through the supervisor, as the shell does.
pub fn start(runtime: &Path, manifest: &Manifest, data: &Path) -> Result<Engine, SmokeError> {
    start_on(runtime, manifest, data, None)
}

/// [`start`] with `<PREFIX>_DEVICE` set to `device` (as the shell sets it from its
/// compute choice).
pub fn start_on(
    runtime: &Path,
    manifest: &Manifest,
    data: &Path,
    device: Option<&str>,
) -> Result<Engine, SmokeError> {
    let mut request =
        LaunchRequest::from_manifest(runtime.to_path_buf(), manifest, data.to_path_buf());
    if let Some(device) = device {
        request
            .extra_env
            .push((device_var(manifest).into(), device.into()));
    }
    // Importing torch and proving a GPU before READY takes longer than the base engine's start.
    if manifest.profile == Profile::Torch {
        request.ready_timeout = request.ready_timeout.max(Duration::from_secs(180));
    }
    supervisor::launch(&request, Arc::new(|_| {})).map_err(|error| fail("start", error.to_string()))
}

fn round_trip_with_runtime_tokenizers(
    runtime: &Path,
    manifest: &Manifest,
    artifact: &Path,
) -> Result<(), SmokeError> {
    let sentence = "Tokenizer Studio trains tokenizers locally: naïve café, 東京, 123!";
    let script = "import sys\nfrom tokenizers import Tokenizer\n\
                  tok = Tokenizer.from_file(sys.argv[1])\n\
                  ids = tok.encode(sys.argv[2]).ids\n\
                  sys.stdout.buffer.write(tok.decode(ids).encode('utf-8'))\n";
    let output = Command::new(manifest.launch.program(runtime))
        .arg("-I")
        .arg("-c")
        .arg(script)
        .arg(artifact)
        .arg(sentence)
        .current_dir(runtime)
        .output()
        .map_err(|error| {
            fail(
                "round-trip",
                format!("running the runtime's python: {error}"),
            )
        })?;
    let decoded = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || decoded != sentence {
        return Err(fail(
            "round-trip",
            format!(
                "decode(encode(s)) gave {decoded:?}, expected {sentence:?}; stderr: {}",
                String::from_utf8_lossy(&output.stderr)
            ),
        ));
    }
    Ok(())
}
