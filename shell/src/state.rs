//! The shell's launch state machine: Discovering → Starting → Ready, or Failed(kind). Pure.
//!
//! The Tauri glue feeds it [`Input`]s (supervisor events, discovery results, button presses) and
//! performs side effects by looking at the phase it lands in; keeping the rules here makes every
//! transition testable without a window or an engine.

use std::path::PathBuf;

use runtime_spec::Version;
use serde::Serialize;
use supervisor::SupervisorEvent;

use crate::discovery::{RejectReason, Rejection};

/// Where the launch is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Checking free space and looking for a runtime.
    Discovering,
    /// A runtime was chosen; the engine is being started.
    Starting {
        runtime_dir: PathBuf,
        runtime_version: Version,
        step: StartStep,
    },
    /// The window shows the engine's UI.
    Ready { url: String },
    /// Thin first run: fetching the index, downloading and installing the runtime.
    Installing(InstallProgress),
    /// Nothing more happens until the user picks an action.
    Failed(Failure),
}

/// What "starting" is doing right now, for the splash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum StartStep {
    /// Waiting for the supervisor's first event.
    Launching,
    /// A process was spawned (1-based attempt).
    Spawned { attempt: u32 },
    /// The engine announced its port; `/health` is being polled.
    WaitingForHealth { port: u16 },
    /// Healthy; minting the launch code and opening the UI.
    OpeningUi,
}

/// What the first-run installer is doing, for the splash's progress bar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum InstallProgress {
    /// Fetching and checking the signed release index.
    CheckingIndex,
    Downloading {
        version: Version,
        /// The whole archive, or only the objects of the files that changed.
        #[serde(serialize_with = "as_text")]
        method: updater::Method,
        downloaded: u64,
        /// What this install really transfers (the archive, or the objects and the manifest).
        total: u64,
        bytes_per_second: Option<u64>,
        seconds_left: Option<u64>,
        /// What was chosen for this machine and why ("NVIDIA GeForce RTX 4090, driver 580.76
        /// → GPU engine, 3.1 GB download").
        choice: Option<String>,
    },
    /// Extracting and checking every file: `done` of `total` bytes (each file counts once
    /// written and once checked; 0 of 0 while unknown).
    Installing {
        version: Version,
        done: u64,
        total: u64,
        seconds_left: Option<u64>,
    },
}

/// One line for the shell log.
impl std::fmt::Display for InstallProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InstallProgress::CheckingIndex => write!(f, "CheckingIndex"),
            InstallProgress::Downloading {
                version,
                method,
                downloaded,
                total,
                ..
            } => write!(
                f,
                "Downloading {version} by {method}: {downloaded}/{total} bytes"
            ),
            InstallProgress::Installing {
                version,
                done,
                total,
                ..
            } => write!(f, "Installing {version}: {done}/{total} bytes"),
        }
    }
}

/// Serialises a value by its `Display` text (`delta`, `archive`).
fn as_text<T: std::fmt::Display, S: serde::Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// Why the launch stopped, one variant per error screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    /// The data folder's disk is (nearly) full: the engine would fail in confusing ways.
    LowDisk {
        data_root: PathBuf,
        free_bytes: u64,
        needed_bytes: u64,
    },
    /// No candidate folder held a usable runtime.
    NoRuntime { rejections: Vec<Rejection> },
    /// A runtime was found, but only for another platform.
    WrongPlatform {
        found: String,
        expected: String,
        rejections: Vec<Rejection>,
    },
    /// The engine exited (before or after it was ready), or the UI could not be opened.
    Crashed {
        message: String,
        log_tail: Vec<String>,
    },
    /// The engine started but never answered in time.
    TimedOut {
        message: String,
        log_tail: Vec<String>,
    },
    /// The first-run download or install failed (network, signature, space, ...).
    InstallFailed { message: String },
}

/// Something that happened, fed to [`Phase::next`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The free-space check of the data root failed the threshold.
    DiskTooFull {
        data_root: PathBuf,
        free_bytes: u64,
        needed_bytes: u64,
    },
    /// Discovery finished.
    RuntimeFound {
        runtime_dir: PathBuf,
        runtime_version: Version,
    },
    RuntimeNotFound {
        rejections: Vec<Rejection>,
    },
    /// An event from the supervisor of the current launch (`GaveUp` is ignored here: the
    /// launch thread reports the classified error as [`Input::LaunchFailed`]).
    Supervisor(SupervisorEvent),
    /// `supervisor::launch` returned an error.
    LaunchFailed {
        timed_out: bool,
        message: String,
        log_tail: Vec<String>,
    },
    /// The launch code was minted and the window navigated to the UI.
    UiOpened {
        url: String,
    },
    /// The launch-code hand-off failed (the engine then gets stopped).
    HandoffFailed {
        message: String,
        log_tail: Vec<String>,
    },
    /// "Retry" on an error screen: start over from discovery.
    Retry,
    /// "Download and install" on the no-runtime screen (or Retry after an install failed).
    InstallRequested,
    /// "Use the CPU engine" on the error screen of a GPU engine that could not start: the
    /// setting is saved, then the install flow runs again with it.
    UseCpuEngine,
    /// Progress of the first-run install.
    InstallProgress(InstallProgress),
    /// The first-run install stopped.
    InstallFailed {
        message: String,
    },
    /// The install finished (discovery runs again), or a runtime on trial failed and the
    /// previous one was put back (it is then discovered and started).
    Reinstalled,
    /// "Use previous runtime" on an error screen, after the glue checked that folder.
    UsePrevious {
        runtime_dir: PathBuf,
        runtime_version: Version,
    },
}

impl Phase {
    /// The phase after `input`, or `None` when the input does not apply now (a late event
    /// from a launch that was already given up, a double click on Retry, ...).
    pub fn next(&self, input: Input) -> Option<Phase> {
        match (self, input) {
            (
                Phase::Discovering,
                Input::DiskTooFull {
                    data_root,
                    free_bytes,
                    needed_bytes,
                },
            ) => Some(Phase::Failed(Failure::LowDisk {
                data_root,
                free_bytes,
                needed_bytes,
            })),
            (
                Phase::Discovering,
                Input::RuntimeFound {
                    runtime_dir,
                    runtime_version,
                },
            ) => Some(Phase::Starting {
                runtime_dir,
                runtime_version,
                step: StartStep::Launching,
            }),
            (Phase::Discovering, Input::RuntimeNotFound { rejections }) => {
                Some(Phase::Failed(classify_not_found(rejections)))
            }
            (
                Phase::Starting {
                    runtime_dir,
                    runtime_version,
                    ..
                },
                Input::Supervisor(event),
            ) => {
                let step = match event {
                    SupervisorEvent::Starting { attempt } => StartStep::Spawned { attempt },
                    SupervisorEvent::WaitingForHealth { port } => {
                        StartStep::WaitingForHealth { port }
                    }
                    SupervisorEvent::Ready { .. } => StartStep::OpeningUi,
                    SupervisorEvent::Exited { code, log_tail } => {
                        return Some(Phase::Failed(exited(code, log_tail)))
                    }
                    SupervisorEvent::GaveUp { .. } => return None,
                };
                Some(Phase::Starting {
                    runtime_dir: runtime_dir.clone(),
                    runtime_version: runtime_version.clone(),
                    step,
                })
            }
            (
                Phase::Starting { .. },
                Input::LaunchFailed {
                    timed_out,
                    message,
                    log_tail,
                },
            ) => Some(Phase::Failed(if timed_out {
                Failure::TimedOut { message, log_tail }
            } else {
                Failure::Crashed { message, log_tail }
            })),
            (
                Phase::Starting {
                    step: StartStep::OpeningUi,
                    ..
                },
                Input::UiOpened { url },
            ) => Some(Phase::Ready { url }),
            (Phase::Starting { .. }, Input::HandoffFailed { message, log_tail }) => {
                Some(Phase::Failed(Failure::Crashed { message, log_tail }))
            }
            (
                Phase::Ready { .. },
                Input::Supervisor(SupervisorEvent::Exited { code, log_tail }),
            ) => Some(Phase::Failed(exited(code, log_tail))),
            (Phase::Failed(Failure::InstallFailed { .. }), Input::Retry) => {
                Some(Phase::Installing(InstallProgress::CheckingIndex))
            }
            (Phase::Failed(_), Input::Retry) => Some(Phase::Discovering),
            (Phase::Failed(Failure::NoRuntime { .. }), Input::InstallRequested) => {
                Some(Phase::Installing(InstallProgress::CheckingIndex))
            }
            (
                Phase::Failed(Failure::Crashed { .. } | Failure::TimedOut { .. }),
                Input::UseCpuEngine,
            ) => Some(Phase::Installing(InstallProgress::CheckingIndex)),
            (Phase::Installing(_), Input::InstallProgress(progress)) => {
                Some(Phase::Installing(progress))
            }
            (Phase::Installing(_), Input::InstallFailed { message }) => {
                Some(Phase::Failed(Failure::InstallFailed { message }))
            }
            (Phase::Installing(_) | Phase::Starting { .. }, Input::Reinstalled) => {
                Some(Phase::Discovering)
            }
            (
                Phase::Failed(_),
                Input::UsePrevious {
                    runtime_dir,
                    runtime_version,
                },
            ) => Some(Phase::Starting {
                runtime_dir,
                runtime_version,
                step: StartStep::Launching,
            }),
            _ => None,
        }
    }
}

/// A platform mismatch gets its own screen only when it is the whole story: some folder held
/// a runtime, just not for us, and nothing usable was anywhere.
fn classify_not_found(rejections: Vec<Rejection>) -> Failure {
    let wrong_platform = rejections
        .iter()
        .find_map(|rejection| match &rejection.reason {
            RejectReason::WrongPlatform { found, expected } => {
                Some((found.clone(), expected.clone()))
            }
            _ => None,
        });
    match wrong_platform {
        Some((found, expected)) => Failure::WrongPlatform {
            found,
            expected,
            rejections,
        },
        None => Failure::NoRuntime { rejections },
    }
}

fn exited(code: Option<i32>, log_tail: Vec<String>) -> Failure {
    let message = match code {
        Some(code) => format!("The engine stopped unexpectedly (exit code {code})."),
        None => "The engine was stopped by the operating system.".to_owned(),
    };
    Failure::Crashed { message, log_tail }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starting(step: StartStep) -> Phase {
        Phase::Starting {
            runtime_dir: "/rt".into(),
            runtime_version: "0.1.0".parse().unwrap(),
            step,
        }
    }

    fn rejection(reason: RejectReason) -> Rejection {
        Rejection {
            source: "installed runtime".into(),
            dir: "/data/runtime/current".into(),
            reason,
        }
    }

    fn crashed() -> Phase {
        Phase::Failed(Failure::Crashed {
            message: "m".into(),
            log_tail: vec![],
        })
    }

    #[test]
    fn happy_path() {
        let mut phase = Phase::Discovering;
        for input in [
            Input::RuntimeFound {
                runtime_dir: "/rt".into(),
                runtime_version: "0.1.0".parse().unwrap(),
            },
            Input::Supervisor(SupervisorEvent::Starting { attempt: 1 }),
            Input::Supervisor(SupervisorEvent::WaitingForHealth { port: 4000 }),
            Input::Supervisor(SupervisorEvent::Ready {
                url: "http://127.0.0.1:4000".into(),
                port: 4000,
                pid: 9,
            }),
            Input::UiOpened {
                url: "http://127.0.0.1:4000".into(),
            },
        ] {
            phase = phase
                .next(input.clone())
                .unwrap_or_else(|| panic!("{input:?}"));
        }
        assert_eq!(
            phase,
            Phase::Ready {
                url: "http://127.0.0.1:4000".into()
            }
        );
    }

    #[test]
    fn first_run_install_path() {
        let no_runtime = Phase::Failed(Failure::NoRuntime { rejections: vec![] });
        let installing = no_runtime.next(Input::InstallRequested).unwrap();
        assert_eq!(
            installing,
            Phase::Installing(InstallProgress::CheckingIndex)
        );
        let downloading = InstallProgress::Downloading {
            version: "0.2.0".parse().unwrap(),
            method: updater::Method::Archive,
            downloaded: 5,
            total: 10,
            bytes_per_second: Some(5),
            seconds_left: Some(1),
            choice: None,
        };
        let installing = installing
            .next(Input::InstallProgress(downloading.clone()))
            .unwrap();
        assert_eq!(installing, Phase::Installing(downloading));
        // Buttons of other screens do nothing while installing.
        assert_eq!(installing.next(Input::Retry), None);
        assert_eq!(installing.next(Input::InstallRequested), None);
        assert_eq!(
            installing.next(Input::Reinstalled),
            Some(Phase::Discovering)
        );
        let failed = installing
            .next(Input::InstallFailed {
                message: "offline".into(),
            })
            .unwrap();
        assert!(matches!(
            failed,
            Phase::Failed(Failure::InstallFailed { .. })
        ));
        // Retry on that screen retries the install, not discovery.
        assert_eq!(
            failed.next(Input::Retry),
            Some(Phase::Installing(InstallProgress::CheckingIndex))
        );
        // Install is only offered where no runtime was found.
        assert_eq!(crashed().next(Input::InstallRequested), None);
        assert_eq!(
            crashed().next(Input::UseCpuEngine),
            Some(Phase::Installing(InstallProgress::CheckingIndex))
        );
        assert_eq!(
            Phase::Discovering.next(Input::UseCpuEngine),
            None,
            "only an error screen offers it"
        );
        // A rollback during a start goes back to discovery.
        assert_eq!(
            starting(StartStep::WaitingForHealth { port: 1 }).next(Input::Reinstalled),
            Some(Phase::Discovering)
        );
    }

    #[test]
    fn table_of_transitions() {
        let ready = Phase::Ready {
            url: "http://127.0.0.1:1".into(),
        };
        let exited = Input::Supervisor(SupervisorEvent::Exited {
            code: Some(1),
            log_tail: vec!["boom".into()],
        });
        let cases: Vec<(Phase, Input, Option<&str>)> = vec![
            (
                Phase::Discovering,
                Input::DiskTooFull {
                    data_root: "/d".into(),
                    free_bytes: 1,
                    needed_bytes: 2,
                },
                Some("failed:low_disk"),
            ),
            (
                Phase::Discovering,
                Input::RuntimeNotFound {
                    rejections: vec![rejection(RejectReason::Missing)],
                },
                Some("failed:no_runtime"),
            ),
            (
                Phase::Discovering,
                Input::RuntimeNotFound {
                    rejections: vec![
                        rejection(RejectReason::Missing),
                        rejection(RejectReason::WrongPlatform {
                            found: "macos-arm64".into(),
                            expected: "linux-x64".into(),
                        }),
                    ],
                },
                Some("failed:wrong_platform"),
            ),
            (
                starting(StartStep::Spawned { attempt: 1 }),
                Input::LaunchFailed {
                    timed_out: true,
                    message: "slow".into(),
                    log_tail: vec![],
                },
                Some("failed:timed_out"),
            ),
            (
                starting(StartStep::Spawned { attempt: 3 }),
                Input::LaunchFailed {
                    timed_out: false,
                    message: "exit 1".into(),
                    log_tail: vec![],
                },
                Some("failed:crashed"),
            ),
            (
                starting(StartStep::OpeningUi),
                Input::HandoffFailed {
                    message: "no code".into(),
                    log_tail: vec![],
                },
                Some("failed:crashed"),
            ),
            (
                starting(StartStep::OpeningUi),
                exited.clone(),
                Some("failed:crashed"),
            ),
            (ready.clone(), exited.clone(), Some("failed:crashed")),
            (crashed(), Input::Retry, Some("discovering")),
            (
                crashed(),
                Input::UsePrevious {
                    runtime_dir: "/prev".into(),
                    runtime_version: "0.0.9".parse().unwrap(),
                },
                Some("starting"),
            ),
            // Ignored: stale or out-of-place inputs never move the machine.
            (Phase::Discovering, Input::Retry, None),
            (ready.clone(), Input::Retry, None),
            (crashed(), exited.clone(), None),
            (
                starting(StartStep::Spawned { attempt: 1 }),
                Input::UiOpened { url: "x".into() },
                None,
            ),
            (
                starting(StartStep::Spawned { attempt: 1 }),
                Input::Supervisor(SupervisorEvent::GaveUp {
                    reason: "r".into(),
                    log_tail: vec![],
                }),
                None,
            ),
            (
                ready.clone(),
                Input::Supervisor(SupervisorEvent::Starting { attempt: 2 }),
                None,
            ),
        ];
        for (phase, input, expected) in cases {
            let label = phase.next(input.clone()).map(|next| match next {
                Phase::Failed(failure) => format!(
                    "failed:{}",
                    serde_json::to_value(&failure).unwrap()["kind"]
                        .as_str()
                        .unwrap()
                ),
                other => serde_json::to_value(&other).unwrap()["phase"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            });
            assert_eq!(label.as_deref(), expected, "{phase:?} + {input:?}");
        }
    }

    #[test]
    fn an_exit_after_ready_keeps_the_log_tail() {
        let phase = Phase::Ready { url: "u".into() }
            .next(Input::Supervisor(SupervisorEvent::Exited {
                code: None,
                log_tail: vec!["last words".into()],
            }))
            .unwrap();
        let Phase::Failed(Failure::Crashed { message, log_tail }) = phase else {
            panic!("{phase:?}")
        };
        assert!(message.contains("operating system"));
        assert_eq!(log_tail, ["last words"]);
    }
}
