//! `ts-runtime`: the shell's runtime installer and launcher without a window, for release
//! engineers checking a published index, and for the fault tests (which SIGKILL it at exact
//! steps with `--pause-at`).
//!
//! ```text
//! ts-runtime install --data-dir D --index-url URL --public-key-file F --channel C --app-id ID [--pause-at STEP] [--backoff-ms N] [--read-timeout-ms N] [--variant V] [--no-delta]
//! ts-runtime launch  --data-dir D [--pause-at STEP]
//! ts-runtime status  --data-dir D
//! ```
//! `install` leaves a verified runtime in `pending`; `launch` applies it, starts it, confirms
//! or rolls back, prints `LAUNCHED <version> <url>` (and `ROLLED_BACK <bad version> <variant> <restored version> <variant>`), then
//! stops the engine. `--pause-at` prints `PAUSED <step>` and hangs at that step.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use runtime_spec::{Target, Variant};
use updater::launch::launch_with_rollback;
use updater::{check_and_install, Outcome, Stage, Store, UpdateSource};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ts-runtime: {message}");
            ExitCode::FAILURE
        }
    }
}

fn option(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|arg| arg == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn required(args: &[String], name: &str) -> Result<String, String> {
    option(args, name).ok_or_else(|| format!("{name} is required"))
}

fn run(args: &[String]) -> Result<(), String> {
    let command = args.first().map(String::as_str).unwrap_or("");
    let data_dir = PathBuf::from(required(args, "--data-dir")?);
    let target = Target::host().ok_or("this platform has no runtime target")?;
    let mut store = Store::open(&data_dir.join("runtime"), target).map_err(|e| e.to_string())?;
    if let Some(pause_at) = option(args, "--pause-at") {
        store.set_step_hook(Box::new(move |step| {
            if step == pause_at {
                println!("PAUSED {step}");
                let _ = std::io::stdout().flush();
                loop {
                    std::thread::sleep(Duration::from_secs(3600));
                }
            }
        }));
    }
    let result = match command {
        "install" => install(args, &mut store),
        "launch" => launch(&data_dir, &mut store),
        "status" => {
            let status = serde_json::json!({
                "current": store.version_in(updater::CURRENT).map(|v| v.to_string()),
                "previous": store.version_in(updater::PREVIOUS).map(|v| v.to_string()),
                "pending": store.version_in(updater::PENDING).map(|v| v.to_string()),
                "state": store.state(),
            });
            println!("{status}");
            Ok(())
        }
        other => Err(format!(
            "unknown command `{other}`; use install, launch or status"
        )),
    };
    for note in store.take_notes() {
        println!("NOTE {note}");
    }
    result
}

fn install(args: &[String], store: &mut Store) -> Result<(), String> {
    let key_file = required(args, "--public-key-file")?;
    let source = UpdateSource {
        index_url: required(args, "--index-url")?,
        public_key: fs_err::read_to_string(&key_file)
            .map_err(|e| e.to_string())?
            .parse()
            .map_err(|error: runtime_spec::keys::BadPublicKey| format!("{key_file}: {error}"))?,
        channel: required(args, "--channel")?
            .parse()
            .map_err(|error: runtime_spec::channel::UnknownChannel| error.to_string())?,
        // The identifier of the app whose runtimes these are (its manifests' `app_id`).
        app_id: required(args, "--app-id")?,
    };
    let mut options = updater::Options::default();
    if let Some(ms) = option(args, "--backoff-ms").and_then(|v| v.parse().ok()) {
        options.policy.initial_backoff = Duration::from_millis(ms);
        options.policy.max_backoff = Duration::from_millis(ms * 4);
    }
    if let Some(ms) = option(args, "--read-timeout-ms").and_then(|v| v.parse().ok()) {
        options.policy.read_timeout = Duration::from_millis(ms);
    }
    options.delta = !args.iter().any(|arg| arg == "--no-delta");
    let shell_version = semver::Version::parse(env!("CARGO_PKG_VERSION")).expect("semver");
    let mut last_reported = 0;
    let wanted: Variant = match option(args, "--variant") {
        Some(name) => name
            .parse()
            .map_err(|error: runtime_spec::variant::UnknownVariantName| error.to_string())?,
        None => store.installed_variant(),
    };
    let mut choose = |_: &runtime_spec::ReleaseIndex| Ok(wanted);
    let outcome = check_and_install(
        store,
        &source,
        &shell_version,
        &options,
        &mut choose,
        &mut |stage| {
            match stage {
                Stage::Downloading {
                    downloaded, total, ..
                } => {
                    // Enough lines to follow, not one per chunk.
                    if downloaded == total || downloaded >= last_reported + total / 20 {
                        last_reported = downloaded;
                        println!("DOWNLOADING {downloaded}/{total}");
                    }
                }
                Stage::CheckingIndex => println!("STAGE CheckingIndex"),
                Stage::Installing {
                    version,
                    done,
                    total,
                    ..
                } => {
                    if done == 0 {
                        println!("STAGE Installing {version}");
                    } else if done == total {
                        println!("INSTALLING {done}/{total}");
                    }
                }
            }
            let _ = std::io::stdout().flush();
        },
    )
    .map_err(|e| e.to_string())?;
    match outcome {
        Outcome::Installed { version, transfer } => {
            println!(
                "TRANSFER {} {} fetched={} reused={} reused_bytes={}",
                transfer.method,
                transfer.download_bytes,
                transfer.fetched_files,
                transfer.reused_files,
                transfer.reused_bytes
            );
            if let Some(reason) = &transfer.fallback {
                println!("FALLBACK {reason}");
            }
            println!("OUTCOME Installed {version}");
        }
        Outcome::UpToDate { version } => println!("OUTCOME UpToDate {version}"),
        Outcome::KnownBad { version } => println!("OUTCOME KnownBad {version}"),
    }
    Ok(())
}

fn launch(data_dir: &std::path::Path, store: &mut Store) -> Result<(), String> {
    let mut launched = launch_with_rollback(
        store,
        data_dir.to_path_buf(),
        &|request| {
            request.ready_timeout = Duration::from_secs(20);
            request.health_deadline = Duration::from_secs(10);
            request.max_attempts = 1;
        },
        Arc::new(|_| {}),
    )
    .map_err(|e| e.to_string())?;
    if let Some(rolled_back) = &launched.rolled_back {
        println!(
            "ROLLED_BACK {} {} {} {}",
            rolled_back.bad.version,
            rolled_back.bad.variant,
            rolled_back.restored.version,
            rolled_back.restored.variant
        );
        println!("NOTICE {}", rolled_back.notice);
    }
    println!("LAUNCHED {} {}", launched.version, launched.engine.url());
    let _ = std::io::stdout().flush();
    launched.engine.stop(Duration::from_secs(5));
    Ok(())
}
