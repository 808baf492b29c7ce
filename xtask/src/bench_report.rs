//! The figures every bench reports, and `cargo xtask bench all`: every bench on this host in one
//! run, written as `bench/report.md` and `bench/report.json`.
//!
//! A [`Figure`] is one measured quantity of ours beside the anchor it is judged against, measured
//! in the same run (PyInstaller, a minimal Tauri app, `tar --zstd -xf`, a full-archive
//! download), the ratio, the goal and its verdict. A figure this host cannot measure stays in the
//! report with the reason, so a missing row never reads as a met goal.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use crate::bench::Samples;
use crate::plan::Plan;
use crate::ui;

/// The unit a figure's values are in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Seconds,
    Bytes,
}

impl Unit {
    pub fn show(self, value: f64) -> String {
        match self {
            Unit::Seconds => format!("{value:.3} s"),
            Unit::Bytes => ui::human_bytes(value.round() as u64),
        }
    }
}

/// What a figure must meet.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Goal {
    /// ours / anchor (medians) at most this.
    RatioAtMost { ratio: f64 },
    /// ours (median) at most this many units.
    AtMost { value: f64 },
}

impl Goal {
    fn show(self, unit: Unit) -> String {
        match self {
            Goal::RatioAtMost { ratio } => format!("≤ {ratio} ×"),
            Goal::AtMost { value } => format!("≤ {}", unit.show(value)),
        }
    }
}

/// The same quantity of the thing ours is judged against.
#[derive(Clone, Debug, Serialize)]
pub struct Anchor {
    pub name: String,
    pub value: Samples,
}

/// A figure's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Met,
    NotMet,
    /// Measured, reported, judged against nothing.
    NoGoal,
    /// Ours or the anchor the goal needs could not be measured on this host.
    NotMeasured,
}

impl Verdict {
    fn show(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::NotMet => "**NOT met**",
            Verdict::NoGoal => "—",
            Verdict::NotMeasured => "not measured here",
        }
    }
}

/// One measured quantity of ours beside its anchor.
#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    /// The bench that measured it (`startup`, `install`, …).
    pub bench: &'static str,
    pub name: String,
    pub unit: Unit,
    /// `None`: not measurable on this host (`not_measured` says why).
    pub ours: Option<Samples>,
    pub anchor: Option<Anchor>,
    pub goal: Option<Goal>,
    /// Why ours or the anchor is missing.
    pub not_measured: Option<String>,
    /// What the reader needs to weigh the figure (what was tried, what bounds it).
    pub note: Option<String>,
}

impl Figure {
    pub fn new(bench: &'static str, name: impl Into<String>, unit: Unit, ours: Samples) -> Figure {
        Figure {
            bench,
            name: name.into(),
            unit,
            ours: Some(ours),
            anchor: None,
            goal: None,
            not_measured: None,
            note: None,
        }
    }

    /// A figure this host cannot measure, and why.
    pub fn not_measured(
        bench: &'static str,
        name: impl Into<String>,
        unit: Unit,
        why: impl Into<String>,
    ) -> Figure {
        Figure {
            bench,
            name: name.into(),
            unit,
            ours: None,
            anchor: None,
            goal: None,
            not_measured: Some(why.into()),
            note: None,
        }
    }

    pub fn anchor(mut self, name: impl Into<String>, value: Samples) -> Figure {
        self.anchor = Some(Anchor {
            name: name.into(),
            value,
        });
        self
    }

    pub fn goal(mut self, goal: Goal) -> Figure {
        self.goal = Some(goal);
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Figure {
        self.note = Some(note.into());
        self
    }

    /// ours / anchor, medians.
    pub fn ratio(&self) -> Option<f64> {
        let ours = self.ours.as_ref()?;
        let anchor = self.anchor.as_ref()?;
        (anchor.value.median > 0.0).then(|| ours.median / anchor.value.median)
    }

    pub fn verdict(&self) -> Verdict {
        let Some(goal) = self.goal else {
            return Verdict::NoGoal;
        };
        let Some(ours) = &self.ours else {
            return Verdict::NotMeasured;
        };
        let met = match goal {
            Goal::RatioAtMost { ratio: most } => match self.ratio() {
                Some(ratio) => ratio <= most,
                None => return Verdict::NotMeasured,
            },
            Goal::AtMost { value } => ours.median <= value,
        };
        if met {
            Verdict::Met
        } else {
            Verdict::NotMet
        }
    }
}

/// The machine a report was measured on.
#[derive(Debug, Serialize)]
pub struct Machine {
    pub os: String,
    pub cpu: String,
    pub cores: usize,
    pub ram_bytes: Option<u64>,
    /// 1-minute load average at the start and at the end of the run.
    pub load: (Option<f64>, Option<f64>),
}

impl Machine {
    pub fn probe() -> Machine {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let os = read("/etc/os-release")
            .lines()
            .find_map(|line| line.strip_prefix("PRETTY_NAME="))
            .map(|name| name.trim_matches('"').to_owned())
            .unwrap_or_else(|| std::env::consts::OS.to_owned());
        let kernel = read("/proc/sys/kernel/osrelease").trim().to_owned();
        let os = if kernel.is_empty() {
            os
        } else {
            format!("{os}, kernel {kernel}")
        };
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == "model name").then(|| value.trim().to_owned())
            })
            .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
        let ram_bytes = read("/proc/meminfo").lines().find_map(|line| {
            let kib = line.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?;
            Some(kib.trim().parse::<u64>().ok()? * 1024)
        });
        Machine {
            os,
            cpu,
            cores: crate::bench::cores(),
            ram_bytes,
            load: (load_average(), None),
        }
    }
}

/// The 1-minute load average (Linux), to show what else the machine was doing.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A bench that ran, or why it could not.
#[derive(Debug, Serialize)]
pub struct BenchRun {
    pub bench: &'static str,
    pub seconds: f64,
    /// The bench failed: its error, and no figures.
    pub error: Option<String>,
}

/// The whole report of one `bench all`.
#[derive(Debug, Serialize)]
pub struct Report {
    pub schema: u32,
    pub quick: bool,
    pub commit: Option<String>,
    pub target: String,
    pub machine: Machine,
    pub runs: Vec<BenchRun>,
    pub figures: Vec<Figure>,
    pub seconds: f64,
}

/// The folder `bench all` writes its report into by default: `bench/` for a full run,
/// `target/bench/quick/` for `--quick` (a smoke run never overwrites the measured report).
pub fn default_report_dir(root: &Path, quick: bool) -> PathBuf {
    if quick {
        root.join("target").join("bench").join("quick")
    } else {
        root.join("bench")
    }
}

/// One bench of `bench all`: runs it and returns its figures.
pub type BenchFn<'a> = Box<dyn FnOnce() -> Result<Vec<Figure>> + 'a>;

/// Runs each bench in turn, catching its failure into the report (one broken bench does not
/// lose the others' figures), writes `report.md` and `report.json`, and fails when a bench did.
pub fn all(
    plan: &Plan,
    quick: bool,
    report_dir: &Path,
    benches: Vec<(&'static str, BenchFn<'_>)>,
) -> Result<()> {
    let started = Instant::now();
    let mut report = Report {
        schema: 1,
        quick,
        commit: commit(&plan.root),
        target: plan.target.to_string(),
        machine: Machine::probe(),
        runs: Vec::new(),
        figures: Vec::new(),
        seconds: 0.0,
    };
    for (bench, run) in benches {
        ui::step("bench all", &format!("{bench} ({})", elapsed(started)));
        let bench_started = Instant::now();
        let outcome = run();
        let seconds = bench_started.elapsed().as_secs_f64();
        match outcome {
            Ok(figures) if figures.is_empty() => {
                report.runs.push(BenchRun {
                    bench,
                    seconds,
                    error: Some("it reported no figure".to_owned()),
                });
            }
            Ok(figures) => {
                report.figures.extend(figures);
                report.runs.push(BenchRun {
                    bench,
                    seconds,
                    error: None,
                });
            }
            Err(error) => {
                ui::warn(&format!("bench {bench} failed: {error:#}"));
                report.runs.push(BenchRun {
                    bench,
                    seconds,
                    error: Some(format!("{error:#}")),
                });
            }
        }
    }
    report.machine.load.1 = load_average();
    report.seconds = started.elapsed().as_secs_f64();

    fs_err::create_dir_all(report_dir)?;
    let markdown = markdown(&report);
    fs_err::write(report_dir.join("report.md"), &markdown)?;
    fs_err::write(
        report_dir.join("report.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    println!("{markdown}");
    ui::step(
        "bench all",
        &format!(
            "wrote {} and report.json in {}",
            report_dir.join("report.md").display(),
            elapsed(started)
        ),
    );
    let failed: Vec<&str> = report
        .runs
        .iter()
        .filter(|run| run.error.is_some())
        .map(|run| run.bench)
        .collect();
    anyhow::ensure!(
        failed.is_empty(),
        "bench all: {} failed (the report names the error)",
        failed.join(", ")
    );
    Ok(())
}

fn elapsed(started: Instant) -> String {
    let seconds = started.elapsed().as_secs();
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

fn commit(root: &Path) -> Option<String> {
    let output = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root)
        .output()
        .ok()?;
    let rev = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && !rev.is_empty()).then_some(rev)
}

fn show_samples(unit: Unit, samples: &Samples) -> String {
    if samples.n <= 1 || samples.min == samples.max {
        unit.show(samples.median)
    } else {
        format!(
            "{} [{}–{}]",
            unit.show(samples.median),
            unit.show(samples.min),
            unit.show(samples.max)
        )
    }
}

/// The report as Markdown: the machine, one table of every figure, the notes under it.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Bench report{}\n",
        if report.quick {
            " (--quick: one run each, a smoke test, not a measurement)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "`cargo xtask bench all{}` on {} at {}: {} min in all.\n",
        if report.quick { " --quick" } else { "" },
        report.target,
        report.commit.as_deref().unwrap_or("an unknown commit"),
        (report.seconds / 60.0).round()
    );
    let machine = &report.machine;
    let load = |value: Option<f64>| value.map_or("?".to_owned(), |load| format!("{load:.2}"));
    let _ = writeln!(
        out,
        "Machine: {}; {}; {} cores; {} RAM; load average {} at the start, {} at the end.\n",
        machine.os,
        machine.cpu,
        machine.cores,
        machine
            .ram_bytes
            .map_or("unknown".to_owned(), ui::human_bytes),
        load(machine.load.0),
        load(machine.load.1),
    );
    let _ = writeln!(
        out,
        "Values are medians with [min–max] over the runs (n); a ratio is ours / anchor of the \
         medians.\n"
    );
    let _ = writeln!(
        out,
        "| bench | figure | ours | n | anchor | anchor value | ratio | goal | verdict |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    let mut notes = Vec::new();
    for figure in &report.figures {
        let ours = figure
            .ours
            .as_ref()
            .map_or("not measured".to_owned(), |ours| {
                show_samples(figure.unit, ours)
            });
        let n = figure
            .ours
            .as_ref()
            .map_or("—".to_owned(), |ours| ours.n.to_string());
        let (anchor, anchor_value) = match &figure.anchor {
            Some(anchor) => (
                anchor.name.clone(),
                show_samples(figure.unit, &anchor.value),
            ),
            None => ("—".to_owned(), "—".to_owned()),
        };
        let ratio = figure
            .ratio()
            .map_or("—".to_owned(), |ratio| format!("{ratio:.2} ×"));
        let goal = figure
            .goal
            .map_or("—".to_owned(), |goal| goal.show(figure.unit));
        let mut mark = String::new();
        for text in [&figure.not_measured, &figure.note].into_iter().flatten() {
            notes.push(text.clone());
            let _ = write!(mark, " [{}]", notes.len());
        }
        let _ = writeln!(
            out,
            "| {} | {}{mark} | {ours} | {n} | {anchor} | {anchor_value} | {ratio} | {goal} | {} |",
            figure.bench,
            figure.name,
            figure.verdict().show()
        );
    }
    if !notes.is_empty() {
        out.push('\n');
        for (number, note) in notes.iter().enumerate() {
            let _ = writeln!(out, "{}. {note}", number + 1);
        }
    }
    out.push_str("\n## Benches\n\n| bench | time | outcome |\n|---|---|---|\n");
    for run in &report.runs {
        let _ = writeln!(
            out,
            "| {} | {:.0} s | {} |",
            run.bench,
            run.seconds,
            run.error
                .as_deref()
                .map_or("ran".to_owned(), |error| format!(
                    "FAILED: {}",
                    error.replace('\n', " ")
                ))
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(values: &[f64]) -> Samples {
        Samples::of(values.to_vec())
    }

    #[test]
    fn a_ratio_goal_is_judged_on_the_medians() {
        let figure = Figure::new(
            "startup",
            "cold start",
            Unit::Seconds,
            samples(&[0.3, 0.2, 0.4]),
        )
        .anchor("PyInstaller", samples(&[0.5, 0.4, 0.6]))
        .goal(Goal::RatioAtMost { ratio: 0.59 });
        assert_eq!(figure.ratio(), Some(0.3 / 0.5));
        assert_eq!(figure.verdict(), Verdict::NotMet);
        let figure = figure.goal(Goal::RatioAtMost { ratio: 0.61 });
        assert_eq!(figure.verdict(), Verdict::Met);
    }

    #[test]
    fn a_missing_anchor_or_value_is_not_measured_never_met() {
        let no_anchor = Figure::new("shell", "memory", Unit::Bytes, samples(&[1.0]))
            .goal(Goal::RatioAtMost { ratio: 1.1 });
        assert_eq!(no_anchor.verdict(), Verdict::NotMeasured);
        let nothing = Figure::not_measured("update", "python patch", Unit::Bytes, "one PBS build")
            .goal(Goal::AtMost { value: 1.0 });
        assert_eq!(nothing.verdict(), Verdict::NotMeasured);
        let absolute = Figure::new("shell", "binary", Unit::Bytes, samples(&[13.0]))
            .goal(Goal::AtMost { value: 12.0 });
        assert_eq!(absolute.verdict(), Verdict::NotMet);
    }

    #[test]
    fn markdown_has_a_row_per_figure_and_numbers_the_notes() {
        let report = Report {
            schema: 1,
            quick: false,
            commit: Some("abc".into()),
            target: "linux-x64".into(),
            machine: Machine {
                os: "Debian".into(),
                cpu: "cpu".into(),
                cores: 2,
                ram_bytes: Some(1 << 30),
                load: (Some(0.5), None),
            },
            runs: vec![BenchRun {
                bench: "startup",
                seconds: 3.0,
                error: None,
            }],
            figures: vec![
                Figure::new("startup", "cold start", Unit::Seconds, samples(&[0.3, 0.2]))
                    .anchor("PyInstaller onedir", samples(&[0.5]))
                    .goal(Goal::RatioAtMost { ratio: 0.6 })
                    .note("the import floor"),
                Figure::not_measured("update", "python patch", Unit::Bytes, "one PBS build"),
            ],
            seconds: 60.0,
        };
        let text = markdown(&report);
        assert!(
            text.contains("| startup | cold start [1] | 0.300 s [0.200 s–0.300 s] | 2 | PyInstaller onedir | 0.500 s | 0.60 × | ≤ 0.6 × | met |"),
            "{text}"
        );
        assert!(
            text.contains("| update | python patch [2] | not measured | — |"),
            "{text}"
        );
        assert!(
            text.contains("1. the import floor\n2. one PBS build\n"),
            "{text}"
        );
    }
}
