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

use runtime_spec::Manifest;
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
}

/// Timings and facts from a passing run.
#[derive(Debug, Default)]
pub struct SmokeReport {
    pub steps_passed: Vec<String>,
    pub first_ready: Duration,
    pub training: Duration,
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
        .prefix("tokenizer studio smöke ")
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

    let started = Instant::now();
    let mut engine = start(&runtime, &manifest, &data)?;
    report.first_ready = started.elapsed();
    let client = Client::new(&engine);
    client.check_health()?;
    let line = format!(
        "ready at {} in {:.2?}; /health and /api/v1/health echo the launch id",
        engine.url(),
        report.first_ready
    );
    passed(&mut report, line);

    client.check_security()?;
    passed(&mut report, "no token → 401, foreign Host → 403".into());

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

    let outcome = engine.stop(Duration::from_secs(10));
    if !matches!(outcome, StopOutcome::StdinClosed { code: Some(0) }) {
        return Err(fail(
            "stop",
            format!("the engine should exit 0 when its stdin closes; it ended with {outcome:?}"),
        ));
    }
    let engine = start(&runtime, &manifest, &data)?;
    let client = Client::new(&engine);
    client.check_job_listed(&job_id)?;
    drop(engine);
    passed(
        &mut report,
        "stopped on stdin EOF; restarted on the same data: the job is in the history".into(),
    );

    if let Some(command) = &options.supervisor_command {
        let message = orphan::check_no_orphan_after_sigkill(
            command,
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

/// Starts the runtime through the supervisor, as the shell does.
pub fn start(runtime: &Path, manifest: &Manifest, data: &Path) -> Result<Engine, SmokeError> {
    let request = LaunchRequest::from_manifest(runtime.to_path_buf(), manifest, data.to_path_buf());
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
