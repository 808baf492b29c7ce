//! What the splash page shows for a phase: title, plain-words message, details and actions.
//!
//! The wording lives here (not in the page's JS) so it is unit-tested with the state machine
//! and the page stays a dumb renderer.

use std::path::PathBuf;

use runtime_spec::Version;
use serde::Serialize;
use updater::{human_bytes, Method};

use crate::discovery::{RejectReason, Rejection};
use crate::help::{self, Help};
use crate::state::{Failure, InstallProgress, Phase, StartStep};

/// Free space below which the shell refuses to start: uploads, the database and training
/// outputs all land in the data root, and a full disk makes the engine fail in confusing ways.
pub const MIN_FREE_BYTES: u64 = 200 * 1024 * 1024;

/// Facts about the machine the error screens mention, gathered by the glue.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub logs_dir: PathBuf,
    /// `<data>/runtime/previous` exists with a usable manifest.
    pub previous_runtime_available: bool,
    /// This build knows where to download the runtime from (thin builds).
    pub can_install: bool,
    /// The updater's one-sentence notice (a rollback), shown until the UI is up.
    pub notice: Option<String>,
    /// The engine that last failed to start drives a GPU (its runtime is a CUDA or MPS build).
    pub gpu_engine: bool,
}

/// The serialised form the splash renders.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct View {
    /// The app's name: the splash's brand and the window's document title.
    pub product: String,
    /// `discovering`, `installing`, `starting`, `ready` or `failed`.
    pub phase: &'static str,
    /// The failure kind (`no_runtime`, `crashed`, ...) when `phase` is `failed`.
    pub kind: Option<&'static str>,
    pub title: String,
    pub message: String,
    /// Extra lines (where the shell looked, which folder is full, ...).
    pub details: Vec<String>,
    /// The engine log's last lines, for crash screens (the page keeps them behind "Show
    /// details": a traceback is never the first thing a user reads).
    pub log_tail: Vec<String>,
    /// The troubleshooting guide's section for this error screen.
    pub help: Option<Help>,
    pub actions: Vec<Action>,
    /// Download progress, 0.0–1.0, while installing (the page draws a bar).
    pub progress: Option<f64>,
    /// The updater's notice (a rollback), if any.
    pub notice: Option<String>,
    /// Order of this view among all views the shell handed out: an event and the answer to
    /// the page's first `shell_state` travel on different channels and can arrive out of
    /// order, so the page drops a view older than the one it shows.
    pub seq: u64,
}

/// The app's name, as a user reads it.
fn product() -> &'static str {
    &crate::app().product_name
}

/// A button on an error screen. `id` is the command the page invokes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    pub id: &'static str,
    pub label: &'static str,
    pub enabled: bool,
    /// Shown next to a disabled button to say why.
    pub note: Option<String>,
}

impl Action {
    fn enabled(id: &'static str, label: &'static str) -> Action {
        Action {
            id,
            label,
            enabled: true,
            note: None,
        }
    }
}

/// Builds the view of `phase`.
pub fn view(phase: &Phase, context: &Context) -> View {
    let mut view = View {
        product: product().to_owned(),
        phase: "starting",
        kind: None,
        title: String::new(),
        message: String::new(),
        details: Vec::new(),
        log_tail: Vec::new(),
        help: None,
        actions: Vec::new(),
        progress: None,
        notice: context.notice.clone(),
        seq: 0,
    };
    match phase {
        Phase::Discovering => {
            view.phase = "discovering";
            view.title = "Getting ready".into();
            view.message = format!("Looking for the {} engine…", product());
        }
        Phase::Starting {
            runtime_version,
            step,
            ..
        } => {
            view.title = format!("Starting {}", product());
            view.message = match step {
                StartStep::Launching => format!("Starting the engine (version {runtime_version})…"),
                StartStep::Spawned { attempt: 1 } => "Starting the engine…".into(),
                StartStep::Spawned { attempt } => {
                    format!("The engine stopped early; trying again (attempt {attempt})…")
                }
                StartStep::WaitingForHealth { .. } => "Waiting for the engine to answer…".into(),
                StartStep::OpeningUi => "Opening the workspace…".into(),
            };
        }
        Phase::Ready { .. } => {
            view.phase = "ready";
            view.title = "Ready".into();
            view.message = "Opening the workspace…".into();
        }
        Phase::Installing(progress) => {
            view.phase = "installing";
            view.title = format!("Installing the {} engine", product());
            match progress {
                InstallProgress::CheckingIndex => {
                    view.message = "Checking for the latest engine…".into();
                }
                InstallProgress::Downloading {
                    version,
                    method,
                    downloaded,
                    total,
                    bytes_per_second,
                    seconds_left,
                    choice,
                } => {
                    view.message = downloading_message(version, *method, *total);
                    let mut line =
                        format!("{} of {}", human_bytes(*downloaded), human_bytes(*total));
                    if let Some(speed) = bytes_per_second {
                        line.push_str(&format!(" · {}/s", human_bytes(*speed)));
                    }
                    if let Some(left) = seconds_left {
                        line.push_str(&format!(" · about {} left", duration_words(*left)));
                    }
                    view.details = vec![line];
                    view.details.extend(choice.clone());
                    view.progress = Some(if *total == 0 {
                        0.0
                    } else {
                        (*downloaded as f64 / *total as f64).min(1.0)
                    });
                }
                InstallProgress::Installing {
                    version,
                    done,
                    total,
                    seconds_left,
                } => {
                    view.message =
                        format!("Unpacking and checking every file of version {version}…");
                    // Each file is written, then checked: the bar covers both passes.
                    let fraction = if *total == 0 {
                        0.0
                    } else {
                        (*done as f64 / *total as f64).min(1.0)
                    };
                    let mut line = format!("{:.0}% done", fraction * 100.0);
                    if let Some(left) = seconds_left {
                        line.push_str(&format!(" · about {} left", duration_words(*left)));
                    }
                    view.details = vec![line];
                    view.progress = Some(fraction);
                }
            }
        }
        Phase::Failed(failure) => {
            view.phase = "failed";
            failed_view(failure, context, &mut view);
            // Every error screen: the zip to send when asking for help.
            view.actions
                .push(Action::enabled("export_diagnostics", "Export diagnostics"));
            view.help = help::section(help::anchor_for(failure, context.gpu_engine));
        }
    }
    view
}

/// The splash's sentence while a runtime downloads. `total` is what this install really
/// transfers: the archive, or for an update only the changed files' objects and the manifest.
pub fn downloading_message(version: &Version, method: Method, total: u64) -> String {
    match method {
        Method::Archive => format!(
            "Downloading the engine (version {version}, {})…",
            transfer_phrase(method, total)
        ),
        Method::Delta => format!(
            "Updating the engine to version {version} ({}: only the files that changed)…",
            transfer_phrase(method, total)
        ),
    }
}

/// "a 12 KB update" (only the changed files) or "a 105 MB download" (the whole engine):
/// what an install transfers, in the words the splash and the notices use.
pub fn transfer_phrase(method: Method, bytes: u64) -> String {
    let noun = match method {
        Method::Delta => "update",
        Method::Archive => "download",
    };
    let size = human_bytes(bytes);
    // "512 bytes" before a noun is a compound adjective: "a 512-byte update".
    let size = match size.strip_suffix(" bytes") {
        Some(number) => format!("{number}-byte"),
        None => size,
    };
    format!("{} {size} {noun}", article_for_number(&size))
}

/// "an" before a number read aloud with a vowel first: 8, 8.5, 80–89, 800–899 (eight…),
/// 11 (eleven) and 18 (eighteen); "a" before every other size `human_bytes` writes.
fn article_for_number(text: &str) -> &'static str {
    let whole: String = text.chars().take_while(char::is_ascii_digit).collect();
    if whole.starts_with('8') || whole == "11" || whole == "18" {
        "an"
    } else {
        "a"
    }
}

fn duration_words(seconds: u64) -> String {
    match seconds {
        0..=59 => format!("{seconds} s"),
        60..=3599 => format!("{} min", seconds.div_ceil(60)),
        _ => format!("{} h {} min", seconds / 3600, (seconds % 3600) / 60),
    }
}

fn failed_view(failure: &Failure, context: &Context, view: &mut View) {
    let retry = Action::enabled("retry", "Retry");
    let open_logs = Action::enabled("open_logs_folder", "Open logs folder");
    match failure {
        Failure::LowDisk {
            data_root,
            free_bytes,
            needed_bytes,
        } => {
            view.kind = Some("low_disk");
            view.title = "Not enough disk space".into();
            view.message = format!(
                "{} needs at least {} free to store its data, but only {} is left.",
                product(),
                megabytes(*needed_bytes),
                megabytes(*free_bytes)
            );
            view.details = vec![
                format!("Data folder: {}", data_root.display()),
                "Free some space on this disk, then press Retry.".into(),
            ];
            view.actions = vec![retry];
        }
        Failure::NoRuntime { rejections } => {
            view.kind = Some("no_runtime");
            view.title = format!("The {} engine is not installed", product());
            view.message = format!("{} needs its engine (a bundled Python runtime) to work, and none was found on this computer.", product());
            view.details = looked_in(rejections);
            view.actions = vec![
                Action {
                    id: "install_runtime",
                    label: "Download and install the engine",
                    enabled: context.can_install,
                    note: (!context.can_install).then(|| format!(
                        "This copy of {} was built without a download source; reinstall it with the full installer.",
                        product()
                    )),
                },
                retry,
            ];
        }
        Failure::InstallFailed { message } => {
            view.kind = Some("install_failed");
            view.title = "The engine could not be installed".into();
            view.message = format!(
                "{} Nothing on this computer was changed.",
                first_sentence(message)
            );
            view.details = vec![
                message.clone(),
                format!("Logs: {}", context.logs_dir.display()),
            ];
            view.actions = vec![retry, open_logs];
        }
        Failure::WrongPlatform {
            found,
            expected,
            rejections,
        } => {
            view.kind = Some("wrong_platform");
            view.title = "The installed engine is for another kind of computer".into();
            view.message = format!(
                "The engine found was built for {} but this computer needs the {} one. Reinstall {} for this computer.",
                platform_words(found),
                platform_words(expected),
                product()
            );
            view.details = looked_in(rejections);
            view.actions = vec![retry];
        }
        Failure::Crashed { message, log_tail } | Failure::TimedOut { message, log_tail } => {
            let timed_out = matches!(failure, Failure::TimedOut { .. });
            view.kind = Some(if timed_out { "timed_out" } else { "crashed" });
            view.title = if timed_out {
                "The engine did not answer in time".into()
            } else {
                "The engine stopped".into()
            };
            view.message = if context.gpu_engine {
                // A GPU that failed its check fails the same way again: say what helps.
                format!(
                    "{} The GPU engine could not start on this computer: use the CPU engine, or update the GPU driver and press Retry. Show details has the log of what went wrong.",
                    first_sentence(message)
                )
            } else {
                format!(
                    "{} Retry usually helps; if it keeps happening, Show details has the log of what went wrong.",
                    first_sentence(message)
                )
            };
            view.details = vec![format!("Logs: {}", context.logs_dir.display())];
            view.log_tail = log_tail.clone();
            view.actions = vec![retry, open_logs];
            if context.gpu_engine && context.can_install {
                // A GPU that does not work is not fixed by retrying: the way out comes first.
                view.actions.insert(
                    0,
                    Action {
                        id: "use_cpu_engine",
                        label: "Use the CPU engine",
                        enabled: true,
                        note: Some("The GPU engine could not start on this computer. The CPU engine runs on the processor; it is slower but needs no GPU driver.".into()),
                    },
                );
            }
            if context.previous_runtime_available {
                view.actions.push(Action::enabled(
                    "use_previous_runtime",
                    "Use previous runtime",
                ));
            }
        }
    }
}

/// One line per place the shell looked, skipping the development paths nobody needs to hear
/// about unless something was actually there.
fn looked_in(rejections: &[Rejection]) -> Vec<String> {
    rejections
        .iter()
        .filter(|rejection| {
            !(rejection.source == "development build" && rejection.reason == RejectReason::Missing)
        })
        .map(|rejection| {
            let why = match &rejection.reason {
                RejectReason::Missing => "nothing there".to_owned(),
                RejectReason::Unreadable { message } => format!("could not be read ({message})"),
                RejectReason::Invalid { message } => format!("not a usable engine ({message})"),
                RejectReason::OtherApp { found } => format!("the engine of another app ({found})"),
                RejectReason::WrongPlatform { found, .. } => {
                    format!("built for {}", platform_words(found))
                }
            };
            format!(
                "Looked in {} ({}): {why}",
                rejection.dir.display(),
                rejection.source
            )
        })
        .collect()
}

fn platform_words(target: &str) -> String {
    match target {
        "macos-arm64" => "Apple silicon Macs".into(),
        "windows-x64" => "64-bit Windows".into(),
        "linux-x64" => "64-bit Linux".into(),
        other => format!("“{other}”"),
    }
}

/// Supervisor messages are full sentences with file paths and advice; the screen leads with
/// the first one and shows paths in the details.
fn first_sentence(message: &str) -> String {
    let mut sentence = message
        .split("; ")
        .next()
        .unwrap_or(message)
        .trim()
        .to_owned();
    if let Some(first) = sentence.get(..1) {
        let upper = first.to_uppercase();
        sentence.replace_range(..1, &upper);
    }
    if !sentence.ends_with('.') {
        sentence.push('.');
    }
    sentence
}

fn megabytes(bytes: u64) -> String {
    format!("{} MB", bytes / (1024 * 1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(previous: bool) -> Context {
        Context {
            logs_dir: "/data/logs".into(),
            previous_runtime_available: previous,
            can_install: false,
            notice: None,
            gpu_engine: false,
        }
    }

    #[test]
    fn install_button_enabled_when_the_build_has_a_source() {
        let phase = Phase::Failed(Failure::NoRuntime { rejections: vec![] });
        let shown = view(
            &phase,
            &Context {
                can_install: true,
                ..context(false)
            },
        );
        assert_eq!(shown.actions[0].id, "install_runtime");
        assert!(shown.actions[0].enabled);
        assert!(shown.actions[0].note.is_none());
    }

    #[test]
    fn unpacking_shows_a_fraction_and_the_time_left() {
        let phase = Phase::Installing(InstallProgress::Installing {
            version: "0.2.0".parse().unwrap(),
            done: 300,
            total: 1_200,
            seconds_left: Some(75),
        });
        let shown = view(&phase, &context(false));
        assert_eq!(shown.progress, Some(0.25));
        assert_eq!(
            shown.details,
            vec!["25% done · about 2 min left".to_owned()]
        );
        assert!(shown.message.contains("0.2.0"), "{}", shown.message);
        let unknown = Phase::Installing(InstallProgress::Installing {
            version: "0.2.0".parse().unwrap(),
            done: 0,
            total: 0,
            seconds_left: None,
        });
        assert_eq!(view(&unknown, &context(false)).progress, Some(0.0));
    }

    #[test]
    fn download_progress_in_words_and_a_fraction() {
        let phase = Phase::Installing(InstallProgress::Downloading {
            version: "0.2.0".parse().unwrap(),
            method: Method::Archive,
            downloaded: 25_000_000,
            total: 100_000_000,
            bytes_per_second: Some(5_000_000),
            seconds_left: Some(75),
            choice: Some(
                "NVIDIA GeForce RTX 4090, driver 580.76.05 → GPU engine, 3.1 GB download".into(),
            ),
        });
        let shown = view(&phase, &context(false));
        assert_eq!(shown.phase, "installing");
        assert_eq!(
            shown.message,
            "Downloading the engine (version 0.2.0, a 100 MB download)…"
        );
        assert_eq!(shown.progress, Some(0.25));
        assert_eq!(
            shown.details,
            [
                "25 MB of 100 MB · 5.0 MB/s · about 2 min left",
                "NVIDIA GeForce RTX 4090, driver 580.76.05 → GPU engine, 3.1 GB download"
            ]
        );
        let failed = view(
            &Phase::Failed(Failure::InstallFailed {
                message: "could not reach http://x/runtime-beta.json: refused; check the connection and try again".into(),
            }),
            &context(false),
        );
        assert_eq!(failed.kind, Some("install_failed"));
        assert!(failed
            .message
            .starts_with("Could not reach http://x/runtime-beta.json: refused."));
        assert_eq!(failed.actions[0].id, "retry");
    }

    #[test]
    fn an_update_is_worded_by_what_it_really_downloads() {
        // A delta's total is the changed files' objects and the manifest, not the archive.
        let phase = Phase::Installing(InstallProgress::Downloading {
            version: "0.2.0".parse().unwrap(),
            method: Method::Delta,
            downloaded: 4_000,
            total: 12_345,
            bytes_per_second: None,
            seconds_left: None,
            choice: None,
        });
        let shown = view(&phase, &context(false));
        assert_eq!(
            shown.message,
            "Updating the engine to version 0.2.0 (a 12 KB update: only the files that changed)…"
        );
        assert_eq!(shown.details, ["4.0 KB of 12 KB"]);
        assert_eq!(shown.progress, Some(4_000.0 / 12_345.0));
    }

    #[test]
    fn transfer_sizes_read_as_a_phrase_with_the_right_article() {
        for (method, bytes, phrase) in [
            (Method::Delta, 12_345, "a 12 KB update"),
            (Method::Delta, 1_234_567_890, "a 1.2 GB update"),
            (Method::Archive, 105_369_509, "a 105 MB download"),
            (Method::Delta, 8_400_000, "an 8.4 MB update"),
            (Method::Delta, 11_200, "an 11 KB update"),
            (Method::Delta, 18_000_000, "an 18 MB update"),
            (Method::Archive, 83_000_000, "an 83 MB download"),
            (Method::Archive, 812_000_000, "an 812 MB download"),
            (Method::Delta, 110_000, "a 110 KB update"),
            (Method::Delta, 180_000, "a 180 KB update"),
            (Method::Delta, 1_100_000, "a 1.1 MB update"),
            (Method::Delta, 512, "a 512-byte update"),
            (Method::Delta, 8, "an 8-byte update"),
        ] {
            assert_eq!(transfer_phrase(method, bytes), phrase, "{bytes}");
        }
    }

    fn action_ids(view: &View) -> Vec<(&str, bool)> {
        view.actions
            .iter()
            .map(|action| (action.id, action.enabled))
            .collect()
    }

    #[test]
    fn crash_screen_offers_retry_logs_and_previous_only_when_present() {
        let failure = Phase::Failed(Failure::Crashed {
            message: "the engine stopped before it was ready (exit status: 1) after 3 attempt(s); see the log /data/logs/engine.log".into(),
            log_tail: vec!["[stderr] cannot start".into()],
        });
        let without = view(&failure, &context(false));
        assert_eq!(without.kind, Some("crashed"));
        assert_eq!(
            action_ids(&without),
            [
                ("retry", true),
                ("open_logs_folder", true),
                ("export_diagnostics", true)
            ]
        );
        assert_eq!(without.log_tail, ["[stderr] cannot start"]);
        assert!(without.message.starts_with(
            "The engine stopped before it was ready (exit status: 1) after 3 attempt(s)."
        ));
        let with = view(&failure, &context(true));
        assert!(with
            .actions
            .iter()
            .any(|action| action.id == "use_previous_runtime"));
        assert_eq!(with.actions.last().unwrap().id, "export_diagnostics");

        // A GPU engine that cannot start: the CPU engine is the first way out, when this build
        // can download it.
        let gpu = Context {
            gpu_engine: true,
            can_install: true,
            ..context(false)
        };
        let gpu_view = view(&failure, &gpu);
        assert!(
            gpu_view.message.contains("use the CPU engine")
                && !gpu_view.message.contains("Retry usually helps"),
            "{}",
            gpu_view.message
        );
        assert_eq!(
            action_ids(&gpu_view),
            [
                ("use_cpu_engine", true),
                ("retry", true),
                ("open_logs_folder", true),
                ("export_diagnostics", true)
            ]
        );
        let cannot_download = Context {
            gpu_engine: true,
            ..context(false)
        };
        assert_eq!(view(&failure, &cannot_download).actions[0].id, "retry");
    }

    #[test]
    fn no_runtime_shows_a_disabled_install_button_with_a_note() {
        let phase = Phase::Failed(Failure::NoRuntime {
            rejections: vec![
                Rejection {
                    source: "installed runtime".into(),
                    dir: "/data/runtime/current".into(),
                    reason: RejectReason::Missing,
                },
                Rejection {
                    source: "development build".into(),
                    dir: "/cwd/runtime".into(),
                    reason: RejectReason::Missing,
                },
            ],
        });
        let shown = view(&phase, &context(false));
        assert_eq!(shown.kind, Some("no_runtime"));
        assert_eq!(
            action_ids(&shown),
            [
                ("install_runtime", false),
                ("retry", true),
                ("export_diagnostics", true)
            ]
        );
        assert!(shown.actions[0].note.is_some());
        assert_eq!(
            shown.details,
            ["Looked in /data/runtime/current (installed runtime): nothing there"]
        );
    }

    #[test]
    fn every_failure_has_a_title_a_message_and_an_action() {
        for failure in [
            Failure::LowDisk {
                data_root: "/d".into(),
                free_bytes: 10 << 20,
                needed_bytes: MIN_FREE_BYTES,
            },
            Failure::NoRuntime { rejections: vec![] },
            Failure::WrongPlatform {
                found: "macos-arm64".into(),
                expected: "linux-x64".into(),
                rejections: vec![],
            },
            Failure::Crashed {
                message: "x".into(),
                log_tail: vec![],
            },
            Failure::TimedOut {
                message: "x".into(),
                log_tail: vec![],
            },
            Failure::InstallFailed {
                message: "x".into(),
            },
        ] {
            let shown = view(&Phase::Failed(failure.clone()), &context(false));
            assert_eq!(shown.phase, "failed");
            assert!(
                !shown.title.is_empty() && !shown.message.is_empty(),
                "{failure:?}"
            );
            assert!(
                shown.actions.iter().any(|action| action.enabled),
                "{failure:?}"
            );
            let help = shown
                .help
                .expect("every error screen links its troubleshooting");
            assert!(!help.paragraphs.is_empty(), "{failure:?}");
        }
        let starting = view(&Phase::Discovering, &context(false));
        assert_eq!(starting.help, None, "help belongs to error screens");
        let low = view(
            &Phase::Failed(Failure::LowDisk {
                data_root: "/d".into(),
                free_bytes: 10 << 20,
                needed_bytes: MIN_FREE_BYTES,
            }),
            &context(false),
        );
        assert!(low.message.contains("200 MB") && low.message.contains("10 MB"));
    }
}
