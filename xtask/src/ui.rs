//! Terminal output: step lines, progress bars on a terminal, plain lines in CI or pipes.

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// How chatty the xtask is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

struct Settings {
    verbosity: Verbosity,
    /// Progress bars only on an interactive terminal outside CI; otherwise plain lines.
    fancy: bool,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Sets the output mode once, from the global flags.
pub fn init(verbosity: Verbosity) {
    let fancy = std::io::stderr().is_terminal() && crate::plan::var_os("CI").is_none();
    let _ = SETTINGS.set(Settings { verbosity, fancy });
}

fn settings() -> &'static Settings {
    SETTINGS.get_or_init(|| Settings {
        verbosity: Verbosity::Normal,
        fancy: false,
    })
}

/// Whether verbose output (commands run, per-file detail) is on.
pub fn is_verbose() -> bool {
    settings().verbosity >= Verbosity::Verbose
}

/// A pipeline step starting: `==> python: …`.
pub fn step(stage: &str, message: &str) {
    if settings().verbosity >= Verbosity::Normal {
        eprintln!("==> {stage}: {message}");
    }
}

/// A detail line shown by default.
pub fn info(message: &str) {
    if settings().verbosity >= Verbosity::Normal {
        eprintln!("    {message}");
    }
}

/// A detail line shown only with `--verbose`.
pub fn verbose(message: &str) {
    if is_verbose() {
        eprintln!("    {message}");
    }
}

/// A warning: always shown, even with `--quiet`.
pub fn warn(message: &str) {
    eprintln!("warning: {message}");
}

/// The final one-line summary: always shown, on stdout so scripts can capture it.
pub fn summary(message: &str) {
    println!("{message}");
}

/// A byte-counting progress bar for downloads (hidden when quiet or not a terminal).
pub fn bytes_bar(total: Option<u64>, label: &str) -> ProgressBar {
    let settings = settings();
    if !settings.fancy || settings.verbosity == Verbosity::Quiet {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::new_spinner(),
    };
    let template = "    {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}";
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(label.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// A spinner for a long step without a measurable total (hidden when not a terminal).
pub fn spinner(label: &str) -> ProgressBar {
    let settings = settings();
    if !settings.fancy || settings.verbosity == Verbosity::Quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("    {spinner} {msg} {elapsed}").expect("valid template"),
    );
    bar.set_message(label.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Human-readable byte count (`12.3 MB`).
pub fn human_bytes(bytes: u64) -> String {
    let units = ["B", "KB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < units.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}
