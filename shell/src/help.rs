//! The troubleshooting guide inside the app: each error screen carries the section of
//! `docs/troubleshooting.md` that explains it, as plain paragraphs the splash shows behind
//! "Troubleshooting" (offline: the guide is compiled into the shell).
//!
//! The guide is Markdown for readers of the repository; the splash needs only its words, so
//! emphasis, code marks and link targets are dropped here rather than rendered.

use serde::Serialize;

use crate::state::Failure;

/// The guide, as the repository has it.
pub const GUIDE: &str = include_str!("../../docs/troubleshooting.md");

/// One section of the guide, ready for the splash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Help {
    /// The section's anchor in the guide (`no-engine`, …).
    pub anchor: &'static str,
    pub title: String,
    /// Paragraphs and list items, in order, as plain text.
    pub paragraphs: Vec<String>,
}

/// The guide's section for an error screen. `gpu_engine`: the engine that failed drives a GPU.
pub fn anchor_for(failure: &Failure, gpu_engine: bool) -> &'static str {
    match failure {
        Failure::LowDisk { .. } => "not-enough-space",
        Failure::NoRuntime { .. } => "no-engine",
        Failure::WrongPlatform { .. } => "incompatible-computer",
        Failure::Crashed { .. } if gpu_engine => "gpu-engine-failed",
        Failure::Crashed { .. } => "engine-wont-start",
        Failure::TimedOut { .. } => "engine-did-not-answer",
        Failure::InstallFailed { message } => install_anchor(message),
    }
}

/// Which kind of install failure a message describes: a refused signature, checksum or size
/// (never worked around), a full disk, or else a download that did not arrive.
fn install_anchor(message: &str) -> &'static str {
    let message = message.to_lowercase();
    if [
        "signature",
        "sha256",
        "checksum",
        "does not match",
        "tampered",
    ]
    .iter()
    .any(|word| message.contains(word))
    {
        "signature-refused"
    } else if ["disk space", "free space", "no space", "disk is full"]
        .iter()
        .any(|word| message.contains(word))
    {
        "not-enough-space"
    } else {
        "download-failed"
    }
}

/// The section of the guide with this anchor, or `None` when the guide has none.
pub fn section(anchor: &'static str) -> Option<Help> {
    let mut lines = GUIDE.lines();
    let title = lines.by_ref().find_map(|line| {
        line.strip_prefix("## ")
            .filter(|title| slug(title) == anchor)
    })?;
    let mut paragraphs = Vec::new();
    let mut current = String::new();
    for line in lines.take_while(|line| !line.starts_with("## ")) {
        let line = line.trim();
        let item = line.strip_prefix("- ");
        if line.is_empty() || item.is_some() {
            flush(&mut current, &mut paragraphs);
        }
        let text = item.unwrap_or(line);
        if !text.is_empty() {
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(text);
        }
    }
    flush(&mut current, &mut paragraphs);
    Some(Help {
        anchor,
        title: plain(title),
        paragraphs,
    })
}

fn flush(current: &mut String, paragraphs: &mut Vec<String>) {
    if !current.is_empty() {
        paragraphs.push(plain(current));
        current.clear();
    }
}

/// The anchor GitHub gives a heading: lower case, spaces to dashes, punctuation dropped.
pub fn slug(title: &str) -> String {
    title
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Markdown's marks dropped: `**bold**` and `` `code` `` keep their words, `[text](target)`
/// keeps its text.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('[') {
        let (before, from) = rest.split_at(start);
        out.push_str(before);
        match from.find("](").and_then(|middle| {
            let close = from[middle..].find(')')? + middle;
            Some((middle, close))
        }) {
            Some((middle, close)) => {
                out.push_str(&from[1..middle]);
                rest = &from[close + 1..];
            }
            None => {
                out.push('[');
                rest = &from[1..];
            }
        }
    }
    out.push_str(rest);
    without_emphasis(&out.replace("**", "")).replace('`', "")
}

/// Drops `*emphasis*` marks (touching the words they wrap, not inside a word); a `*` that is no
/// such mark (`a * b`, `*.txt`) stays.
fn without_emphasis(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '\\';
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let opens = chars[i] == '*'
            && (i == 0 || !word(chars[i - 1]))
            && chars
                .get(i + 1)
                .is_some_and(|next| !next.is_whitespace() && *next != '*');
        let close = opens
            .then(|| {
                (i + 2..chars.len()).find(|&j| {
                    chars[j] == '*'
                        && !chars[j - 1].is_whitespace()
                        && chars.get(j + 1).is_none_or(|after| !word(*after))
                })
            })
            .flatten();
        if let Some(close) = close {
            out.extend(&chars[i + 1..close]);
            i = close + 1;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn emphasis_marks_go_and_other_asterisks_stay() {
        assert_eq!(
            plain("press *Retry* or **Use the CPU engine**"),
            "press Retry or Use the CPU engine"
        );
        assert_eq!(
            plain("*About this computer*, then *Datasets*."),
            "About this computer, then Datasets."
        );
        assert_eq!(plain("a * b and *.txt files"), "a * b and *.txt files");
        assert_eq!(plain("2*3*4"), "2*3*4");
        assert_eq!(plain("see [the guide](#x) and `*`"), "see the guide and *");
    }

    /// One failure of every kind: the exhaustive match makes a new kind fail to compile here
    /// until it is added, and the test below then wants a section for it.
    fn every_failure() -> Vec<(Failure, bool)> {
        let samples = vec![
            Failure::LowDisk {
                data_root: PathBuf::from("/data"),
                free_bytes: 1,
                needed_bytes: 2,
            },
            Failure::NoRuntime { rejections: vec![] },
            Failure::WrongPlatform {
                found: "windows-x64".into(),
                expected: "linux-x64".into(),
                rejections: vec![],
            },
            Failure::Crashed {
                message: "exited".into(),
                log_tail: vec![],
            },
            Failure::TimedOut {
                message: "no answer".into(),
                log_tail: vec![],
            },
            Failure::InstallFailed {
                message: "the download stopped".into(),
            },
            Failure::InstallFailed {
                message: "the release index has no valid signature (bad key); refusing it".into(),
            },
            Failure::InstallFailed {
                message: "not enough free space: 90 MB needed".into(),
            },
        ];
        for failure in &samples {
            match failure {
                Failure::LowDisk { .. }
                | Failure::NoRuntime { .. }
                | Failure::WrongPlatform { .. }
                | Failure::Crashed { .. }
                | Failure::TimedOut { .. }
                | Failure::InstallFailed { .. } => {}
            }
        }
        let mut all: Vec<(Failure, bool)> = samples.into_iter().map(|f| (f, false)).collect();
        all.push((
            Failure::Crashed {
                message: "exited".into(),
                log_tail: vec![],
            },
            true,
        ));
        all
    }

    #[test]
    fn every_error_screen_has_a_section_with_what_you_see_why_and_what_to_do() {
        for (failure, gpu) in every_failure() {
            let anchor = anchor_for(&failure, gpu);
            let help = section(anchor).unwrap_or_else(|| {
                panic!("docs/troubleshooting.md has no `{anchor}` section for {failure:?}")
            });
            let text = help.paragraphs.join("\n");
            for part in ["What you see:", "Why:", "What to do:"] {
                assert!(text.contains(part), "`{anchor}` lacks {part:?}:\n{text}");
            }
        }
    }

    #[test]
    fn the_guide_covers_every_problem_class_the_app_shows() {
        // The classes the web UI links to too (training, the rollback banner, the port).
        for anchor in [
            "no-engine",
            "download-failed",
            "signature-refused",
            "not-enough-space",
            "engine-wont-start",
            "engine-did-not-answer",
            "another-app-on-the-port",
            "incompatible-computer",
            "gpu-engine-failed",
            "update-rolled-back",
            "training-failed",
        ] {
            assert!(section(anchor).is_some(), "no `{anchor}` section");
        }
    }

    #[test]
    fn install_failures_are_told_apart_by_their_words() {
        assert_eq!(
            install_anchor("archive sha256 does not match the index"),
            "signature-refused"
        );
        assert_eq!(
            install_anchor("Not enough disk space to install"),
            "not-enough-space"
        );
        assert_eq!(
            install_anchor("connection refused by 127.0.0.1"),
            "download-failed"
        );
    }

    #[test]
    fn sections_are_plain_paragraphs() {
        let help = section("engine-did-not-answer").unwrap();
        assert_eq!(help.title, "Engine did not answer");
        assert!(help.paragraphs[0].starts_with("What you see: \"The engine did not answer"));
        let last = help.paragraphs.last().unwrap();
        assert!(last.contains("read Another app on the port."), "{last}");
        assert!(!help
            .paragraphs
            .iter()
            .any(|p| p.contains("**") || p.contains('`')));
        assert_eq!(section("no-such-section"), None);
    }

    #[test]
    fn slugs_and_marks() {
        assert_eq!(slug("Engine won't start"), "engine-wont-start");
        assert_eq!(slug("GPU engine failed"), "gpu-engine-failed");
        assert_eq!(
            plain("**Why:** see [the port](#another-app-on-the-port) and `x`"),
            "Why: see the port and x"
        );
        assert_eq!(plain("a [b c"), "a [b c");
    }
}
