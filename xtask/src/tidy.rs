//! `cargo xtask tidy`: every lint of the repo in one command over the whole tree, as
//! rust-analyzer's `xtask/src/tidy.rs` does: rustfmt, clippy, ruff (lint and format), eslint and
//! tsc for the web UI, generated files (the Python lock headers, the API types) up to date, and
//! the source rules of this file (a `//!` line first in every Rust file, no leftover markers, no
//! `dead_code` allowance without a reason, no reference to a document outside the repo). One
//! line per check; fails when any check failed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::{lock, plan, test, tools};

/// Which checks to run.
pub struct TidyOptions {
    /// Also `cargo clippy --workspace --all-targets`: the slow check, it type-checks the whole
    /// workspace (the Tauri shell's tree included).
    pub clippy: bool,
}

/// Findings shown per failed check; the command that reproduces them shows the rest.
const SHOWN: usize = 5;

/// What a check found: nothing means it passed. An `Err` means it could not run (a missing
/// tool), which fails it too.
type Findings = Result<Vec<String>>;

/// A named check, run in order.
type Check<'a> = (&'static str, Box<dyn Fn() -> Findings + 'a>);

/// Runs every check, prints one line for each, and fails naming the checks that failed.
pub fn tidy(options: &TidyOptions) -> Result<()> {
    let root = plan::project_root();
    let apps = plan::App::all(&root)?;
    // The web checks (eslint, tsc, the API types) are for a web UI with a build step.
    let built_web: Vec<&plan::App> = apps.iter().filter(|app| app.web_has_build()).collect();
    let files = project_files(&root)?;
    let sources: Vec<(String, String)> = files
        .iter()
        .filter(|path| !skipped_for_text_rules(path))
        .filter_map(|path| {
            let text = std::fs::read(root.join(path)).ok()?;
            // Binary files (screenshots, fonts) have no comments to check.
            let text = String::from_utf8(text)
                .ok()
                .filter(|text| !text.contains('\0'))?;
            Some((path.clone(), text))
        })
        .collect();
    let python_files: Vec<&String> = files.iter().filter(|path| path.ends_with(".py")).collect();

    let mut checks: Vec<Check> = vec![
        ("rust doc lines", Box::new(|| Ok(rust_doc_lines(&sources)))),
        (
            "leftover markers",
            Box::new(|| Ok(per_file(&sources, marker_findings))),
        ),
        (
            "dead_code allowances",
            Box::new(|| Ok(per_file(&sources, dead_code_findings))),
        ),
        (
            "outside references",
            Box::new(|| Ok(per_file(&sources, outside_reference_findings))),
        ),
        (
            "one word for the engine",
            Box::new(|| Ok(per_file(&sources, retired_word_findings))),
        ),
        (
            "no app names in the toolchain",
            Box::new(|| {
                let names = squashed_app_names(&apps);
                Ok(sources
                    .iter()
                    .flat_map(|(path, text)| app_name_findings(&names, path, text))
                    .collect())
            }),
        ),
        ("python lock headers", Box::new(|| lock_headers(&apps))),
        ("rustfmt", Box::new(|| rustfmt(&root))),
        ("ruff check", Box::new(|| ruff(&root, &python_files, false))),
        ("ruff format", Box::new(|| ruff(&root, &python_files, true))),
        ("eslint", Box::new(|| per_web(&root, &built_web, eslint))),
        ("tsc", Box::new(|| per_web(&root, &built_web, tsc))),
        (
            "generated API types",
            Box::new(|| per_web(&root, &built_web, api_types)),
        ),
    ];
    if options.clippy {
        checks.push(("clippy", Box::new(|| clippy(&root))));
    }

    let mut failed = Vec::new();
    for (name, check) in &checks {
        let started = Instant::now();
        let findings = check();
        let seconds = started.elapsed().as_secs_f64();
        match findings {
            Ok(findings) if findings.is_empty() => {
                println!("tidy: ok      {name} ({seconds:.1}s)");
            }
            Ok(findings) => {
                println!(
                    "tidy: FAILED  {name} ({} finding{}, {seconds:.1}s)",
                    findings.len(),
                    if findings.len() == 1 { "" } else { "s" }
                );
                for finding in findings.iter().take(SHOWN) {
                    println!("        {finding}");
                }
                if findings.len() > SHOWN {
                    println!("        … and {} more", findings.len() - SHOWN);
                }
                failed.push(*name);
            }
            Err(error) => {
                println!("tidy: FAILED  {name}: {error:#}");
                failed.push(*name);
            }
        }
    }
    if !failed.is_empty() {
        bail!("tidy failed: {}", failed.join(", "));
    }
    Ok(())
}

/// The project's files, relative to the root with `/` separators: tracked and new files that
/// git does not ignore (so build outputs, `node_modules` and venvs are never read).
fn project_files(root: &Path) -> Result<Vec<String>> {
    let output = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root)
        .output()
        .context("running `git ls-files`: tidy needs git and a git checkout")?;
    if !output.status.success() {
        bail!(
            "`git ls-files` failed in {}: {}",
            root.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let files: BTreeSet<String> = String::from_utf8_lossy(&output.stdout)
        .split('\0')
        .filter(|path| !path.is_empty() && root.join(path).is_file())
        .map(str::to_owned)
        .collect();
    Ok(files.into_iter().collect())
}

/// Generated or vendored files, whose text the project does not write: lock files and test
/// fixtures copied from elsewhere (a vendored JSON schema describes its own issue fields).
fn skipped_for_text_rules(path: &str) -> bool {
    path.contains("lockfiles/")
        || path.contains("/fixtures/")
        || ["Cargo.lock", "package-lock.json"]
            .iter()
            .any(|name| path == *name || path.ends_with(&format!("/{name}")))
}

fn per_file(sources: &[(String, String)], rule: fn(&str, &str) -> Vec<String>) -> Vec<String> {
    sources
        .iter()
        .flat_map(|(path, text)| rule(path, text))
        .collect()
}

/// Every Rust file starts with a `//!` line saying what it is for.
fn rust_doc_lines(sources: &[(String, String)]) -> Vec<String> {
    let rust: Vec<&(String, String)> = sources
        .iter()
        .filter(|(path, _)| path.ends_with(".rs"))
        .collect();
    // A walk that finds almost nothing (wrong root, git trouble) must not pass as clean.
    if rust.len() < 50 {
        return vec![format!(
            "found only {} Rust files: is this the repository root?",
            rust.len()
        )];
    }
    rust.into_iter()
        .filter_map(|(path, text)| doc_line_finding(path, text))
        .collect()
}

fn doc_line_finding(path: &str, text: &str) -> Option<String> {
    (!text.starts_with("//!"))
        .then(|| format!("{path}:1: must start with a `//!` line saying what the file is for"))
}

/// Source files whose comments the project writes (markers are checked in these).
fn is_source(path: &str) -> bool {
    const EXTENSIONS: [&str; 13] = [
        ".rs", ".py", ".ts", ".tsx", ".mjs", ".js", ".sh", ".toml", ".yml", ".yaml", ".css",
        ".html", ".md",
    ];
    EXTENSIONS.iter().any(|extension| path.ends_with(extension)) || path.starts_with(".ci/")
}

/// Leftover work markers: the to-do, fix-me and triple-X words anywhere in a source file, and
/// in Rust the to-do and unimplemented macros and ignored tests. Spelled in pieces so this file
/// passes.
fn marker_findings(path: &str, text: &str) -> Vec<String> {
    if !is_source(path) {
        return Vec::new();
    }
    let words = [
        concat!("TO", "DO"),
        concat!("FIX", "ME"),
        concat!("X", "XX"),
    ];
    let rust_markers = [
        concat!("to", "do!"),
        concat!("unimplemented", "!"),
        concat!("#[", "ignore"),
    ];
    let mut findings = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let found = words
            .iter()
            .find(|word| contains_word(line, word))
            .or_else(|| {
                rust_markers
                    .iter()
                    .find(|marker| path.ends_with(".rs") && line.contains(**marker))
            });
        if let Some(marker) = found {
            findings.push(format!("{path}:{}: contains `{marker}`", number + 1));
        }
    }
    findings
}

/// The Python process is the *engine* in code, UI and docs alike (`docs/decisions/0017`): the
/// words it had before are refused anywhere in the tree, in any case and inside identifiers.
/// Other projects' names that contain one stay: PEP 517's build-backend key, torch's
/// `torch.backends` module and anyio's `anyio/_backends` package (a path the trim rules name).
/// Spelled in pieces so this file passes.
fn retired_word_findings(path: &str, text: &str) -> Vec<String> {
    let retired = [concat!("back", "end"), concat!("side", "car")];
    let foreign = [
        concat!("build-", "back", "end"),
        concat!("torch.", "back", "ends"),
        concat!("anyio/_", "back", "ends"),
    ];
    let mut findings = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let mut lower = line.to_ascii_lowercase();
        for name in foreign {
            lower = lower.replace(name, "");
        }
        if let Some(word) = retired.iter().find(|word| lower.contains(**word)) {
            findings.push(format!(
                "{path}:{}: says `{word}`; the Python process is the engine",
                number + 1
            ));
        }
    }
    findings
}

/// The toolchain: every crate an app is built, run or updated by. No app's name is written in
/// their code (it comes from the app's descriptor through `plan::App`, `runtime_spec::AppNames`
/// and the shell's embedded descriptor), so a second app needs no fork of them. Their tests may
/// name an app.
const APP_NEUTRAL_CRATES: [&str; 6] = [
    "xtask/",
    "shell/",
    "supervisor/",
    "updater/",
    "runtime-archive/",
    "release-meta/",
];

/// The spellings of the apps' names this check looks for: each app's id and product name,
/// lower-case letters and digits only (`myapp` for `my-app` and `My App`).
fn squashed_app_names(apps: &[plan::App]) -> Vec<String> {
    let squash = |text: &str| -> String {
        text.to_ascii_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect()
    };
    let mut names: Vec<String> = apps
        .iter()
        .flat_map(|app| [squash(&app.names.id), squash(&app.descriptor.product_name)])
        .collect();
    names.sort();
    names.dedup();
    names
}

fn app_name_findings(names: &[String], path: &str, text: &str) -> Vec<String> {
    let in_crate = APP_NEUTRAL_CRATES
        .iter()
        .find(|krate| path.starts_with(**krate));
    let Some(krate) = in_crate else {
        return Vec::new();
    };
    let inside = &path[krate.len()..];
    let code = (inside.starts_with("src/")
        && [".rs", ".js", ".html", ".css"]
            .iter()
            .any(|ext| inside.ends_with(ext)))
        || inside.starts_with("ui/")
        || ["build.rs", "Cargo.toml", "tauri.conf.json"].contains(&inside)
        || inside.starts_with("capabilities/");
    if !code {
        return Vec::new();
    }
    let mut findings = Vec::new();
    for (number, line) in text.lines().enumerate() {
        // A file's unit tests come last.
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let squashed: String = line
            .to_ascii_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        if let Some(name) = names.iter().find(|name| squashed.contains(name.as_str())) {
            findings.push(format!(
                "{path}:{}: names an app (`{name}`); take it from the app's descriptor (plan::App, runtime_spec::AppNames, the shell's app()) instead",
                number + 1
            ));
        }
    }
    findings
}

/// `word` in `line` with no letter, digit or `_` right before or after it.
fn contains_word(line: &str, word: &str) -> bool {
    let is_word_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    line.match_indices(word).any(|(start, _)| {
        let before = line[..start].chars().next_back();
        let after = line[start + word.len()..].chars().next();
        !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
    })
}

/// An `allow`/`expect` of `dead_code` (or the whole `unused` group) in Rust needs a plain `//`
/// comment saying why, on the line above or at the end of the same line. Doc comments (`///`,
/// `//!`) describe the item or module, not the allowance, so they do not count.
fn dead_code_findings(path: &str, text: &str) -> Vec<String> {
    if !path.ends_with(".rs") {
        return Vec::new();
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut findings = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if !(trimmed.starts_with("#[") || trimmed.starts_with("#![")) {
            continue;
        }
        let (attribute, comment) = match trimmed.find("//") {
            Some(at) => (&trimmed[..at], Some(&trimmed[at..])),
            None => (trimmed, None),
        };
        if !allows_dead_code(attribute) {
            continue;
        }
        let same_line =
            comment.is_some_and(|comment| !comment.trim_start_matches('/').trim().is_empty());
        let line_above = index
            .checked_sub(1)
            .map(|above| lines[above].trim_start())
            .is_some_and(|above| {
                above.starts_with("//") && !above.starts_with("///") && !above.starts_with("//!")
            });
        if !same_line && !line_above {
            findings.push(format!(
                "{path}:{}: `{}` needs a `//` comment saying why, above it or on its line",
                index + 1,
                attribute.trim()
            ));
        }
    }
    findings
}

/// Whether an attribute allows or expects `dead_code` or `unused` (also inside `cfg_attr`).
fn allows_dead_code(attribute: &str) -> bool {
    ["allow(", "expect("].iter().any(|opener| {
        attribute.match_indices(opener).any(|(start, _)| {
            let lints = &attribute[start + opener.len()..];
            let lints = &lints[..lints.find(')').unwrap_or(lints.len())];
            lints
                .split(',')
                .map(str::trim)
                .any(|lint| lint == "dead_code" || lint == "unused")
        })
    })
}

/// References to documents that are not in this repository (the design notes kept beside it)
/// and history instead of reasons (an issue number, or a goal credited to "the" + "issue"): a
/// reader of the repo can follow neither. Spelled in pieces so this file passes.
fn outside_reference_findings(path: &str, text: &str) -> Vec<String> {
    let documents = [
        concat!("../", "shared"),
        concat!("DESIGN", ".md"),
        concat!("FACTS", ".md"),
        concat!("STYLE", ".md"),
    ];
    let mut findings = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let reference = documents
            .iter()
            .find(|document| line.contains(**document))
            .map(|document| format!("`{document}`, a document outside the repo"))
            .or_else(|| {
                issue_history(line)
                    .map(|found| format!("`{found}`: say the reason, not the history"))
            });
        if let Some(reference) = reference {
            findings.push(format!("{path}:{}: {reference}", number + 1));
        }
    }
    findings
}

/// An issue number ("issue" or "issues", a space, maybe `#`, digits) or "the" + "issue" in a
/// line, any case, as written in it.
fn issue_history(line: &str) -> Option<String> {
    let lower = line.to_ascii_lowercase();
    let is_letter = |c: char| c.is_ascii_alphabetic();
    for (start, _) in lower.match_indices(concat!("iss", "ue")) {
        if lower[..start].chars().next_back().is_some_and(is_letter) {
            continue;
        }
        let mut end = start + "issue".len();
        if lower[end..].starts_with('s') {
            end += 1;
        }
        let rest = &lower[end..];
        let spaces = rest.len() - rest.trim_start().len();
        let after = rest.trim_start();
        let number = after.strip_prefix('#').unwrap_or(after);
        let numbered = spaces > 0 && number.starts_with(|c: char| c.is_ascii_digit());
        let the = lower[..start].ends_with("the ");
        let ends_word = !rest.starts_with(is_letter);
        if numbered {
            let digits = number.len()
                - number
                    .trim_start_matches(|c: char| c.is_ascii_digit())
                    .len();
            let stop = lower.len() - number.len() + digits;
            return Some(line[start..stop].to_owned());
        }
        if the && ends_word {
            return Some(line[start - "the ".len()..end].to_owned());
        }
    }
    None
}

/// `cargo xtask lock --check`: each lock's header matches the declared dependencies (offline).
/// Every variant's lock that must exist (the default index's) or does exist (an extra
/// index's), as `cargo xtask lock --check` sees them.
fn lock_headers(apps: &[plan::App]) -> Findings {
    Ok(apps
        .iter()
        .flat_map(|app| {
            lock::app_variants(app)
                .filter(|variant| {
                    !variant.needs_extra_index() || lock::lock_path(app, *variant).is_file()
                })
                .filter_map(|variant| lock::check_variant(app, variant).err())
        })
        .map(|error| format!("{error:#}"))
        .collect())
}

fn rustfmt(root: &Path) -> Findings {
    let output = run_tool(
        Command::new("cargo")
            .args(["fmt", "--all", "--check"])
            .current_dir(root),
        "cargo fmt (install it with `rustup component add rustfmt`)",
    )?;
    if output.status.success() {
        return Ok(Vec::new());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let findings = rustfmt_findings(&stdout, root);
    Ok(if findings.is_empty() {
        vec![first_lines(&output)]
    } else {
        findings
    })
}

/// The files `cargo fmt --check` would change, from its `Diff in <file>:<line>:` headers.
fn rustfmt_findings(stdout: &str, root: &Path) -> Vec<String> {
    let files: BTreeSet<String> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("Diff in "))
        .map(|rest| {
            let file = rest.trim_end_matches(':');
            let file = file
                .rsplit_once(':')
                .filter(|(_, line)| line.chars().all(|c| c.is_ascii_digit()))
                .map_or(file, |(file, _)| file);
            relative(file, root)
        })
        .collect();
    files
        .into_iter()
        .map(|file| format!("{file}: not formatted (run `cargo fmt --all`)"))
        .collect()
}

fn clippy(root: &Path) -> Findings {
    let output = run_tool(
        Command::new("cargo")
            .args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--quiet",
                "--message-format=short",
                "--",
                "-D",
                "warnings",
            ])
            .current_dir(root),
        "cargo clippy (install it with `rustup component add clippy`)",
    )?;
    if output.status.success() {
        return Ok(Vec::new());
    }
    let findings = clippy_findings(&String::from_utf8_lossy(&output.stderr));
    Ok(if findings.is_empty() {
        vec![first_lines(&output)]
    } else {
        findings
    })
}

/// `path:line:col: error: message` lines of clippy's short message format, deduplicated (a
/// finding in a library shows up again for its test target).
fn clippy_findings(stderr: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    stderr
        .lines()
        .filter(|line| {
            !line.starts_with(' ') && (line.contains(": error: ") || line.contains(": warning: "))
        })
        .filter(|line| seen.insert(line.to_string()))
        .map(str::to_owned)
        .collect()
}

/// `ruff check`, or `ruff format --check`, over every Python file with the repository's
/// settings (`ruff.toml`), from the test venv where the pinned ruff lives.
fn ruff(root: &Path, files: &[&String], format: bool) -> Findings {
    let python = test::test_venv(root, &plan::cache_dir()?)?;
    let config = root.join("ruff.toml");
    let mut command = Command::new(python);
    command.args(["-m", "ruff"]);
    command
        .args(if format {
            ["format", "--check"]
        } else {
            ["check", "--quiet"]
        })
        .args(["--output-format", "concise", "--no-cache"])
        .arg("--config")
        .arg(&config)
        .args(files)
        .current_dir(root);
    let output = run_tool(&mut command, "ruff (from the test venv)")?;
    if output.status.success() {
        return Ok(Vec::new());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let findings = ruff_findings(&stdout, format);
    Ok(if findings.is_empty() {
        vec![first_lines(&output)]
    } else {
        findings
    })
}

/// The `path:line:col: message` lines of ruff's concise format; for `format --check`, the
/// files it would change.
fn ruff_findings(stdout: &str, format: bool) -> Vec<String> {
    let findings = stdout.lines().filter(|line| has_location(line));
    if format {
        findings
            .filter_map(|line| line.split(':').next())
            .map(|file| format!("{file}: not formatted (run `ruff format`)"))
            .collect()
    } else {
        findings.map(str::to_owned).collect()
    }
}

/// Whether a line is a `path:line:col: message` finding (ruff's concise format).
fn has_location(line: &str) -> bool {
    let mut parts = line.splitn(4, ':');
    let (Some(_), Some(row), Some(column), Some(_)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    [row, column]
        .iter()
        .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
}

/// A web check over every app's web project; findings name files from the repository root.
fn per_web(
    root: &Path,
    apps: &[&plan::App],
    check: fn(&Path, &plan::App, &Path, &str) -> Findings,
) -> Findings {
    let mut findings = Vec::new();
    for app in apps {
        let web_dir = app.web_dir();
        let shown = web_dir
            .strip_prefix(root)
            .unwrap_or(&web_dir)
            .to_string_lossy()
            .replace('\\', "/");
        findings.extend(check(root, app, &web_dir, &shown)?);
    }
    Ok(findings)
}

fn eslint(_root: &Path, _app: &plan::App, web_dir: &Path, shown: &str) -> Findings {
    let node = node_with_modules(web_dir)?;
    let output = run_tool(
        Command::new(node)
            .args([
                "node_modules/eslint/bin/eslint.js",
                "--max-warnings",
                "0",
                "--format",
                "json",
                ".",
            ])
            .current_dir(web_dir),
        "eslint",
    )?;
    if output.status.success() {
        return Ok(Vec::new());
    }
    let findings = eslint_findings(&String::from_utf8_lossy(&output.stdout), web_dir, shown);
    Ok(if findings.is_empty() {
        vec![first_lines(&output)]
    } else {
        findings
    })
}

/// One finding per message of eslint's JSON report.
fn eslint_findings(json: &str, web_dir: &Path, shown: &str) -> Vec<String> {
    let Ok(serde_json::Value::Array(files)) = serde_json::from_str(json) else {
        return Vec::new();
    };
    let mut findings = Vec::new();
    for file in files {
        let path = relative(file["filePath"].as_str().unwrap_or("?"), web_dir);
        for message in file["messages"].as_array().into_iter().flatten() {
            findings.push(format!(
                "{shown}/{path}:{}:{}: {} ({})",
                message["line"],
                message["column"],
                message["message"].as_str().unwrap_or(""),
                message["ruleId"].as_str().unwrap_or("syntax"),
            ));
        }
    }
    findings
}

fn tsc(_root: &Path, _app: &plan::App, web_dir: &Path, shown: &str) -> Findings {
    let node = node_with_modules(web_dir)?;
    let output = run_tool(
        Command::new(node)
            .args(["node_modules/typescript/bin/tsc", "-b", "--pretty", "false"])
            .current_dir(web_dir),
        "tsc",
    )?;
    if output.status.success() {
        return Ok(Vec::new());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let findings: Vec<String> = stdout
        .lines()
        .filter(|line| line.contains("error TS"))
        .map(|line| format!("{shown}/{line}"))
        .collect();
    Ok(if findings.is_empty() {
        vec![first_lines(&output)]
    } else {
        findings
    })
}

/// `src/api/schema.d.ts` is what `npm run gen:api` makes from the engine as it is now.
fn api_types(root: &Path, app: &plan::App, web_dir: &Path, _shown: &str) -> Findings {
    let node = node_with_modules(web_dir)?;
    let python = test::test_venv(root, &plan::cache_dir()?)?;
    let output = run_tool(
        Command::new(node)
            .args(["scripts/api-types.mjs", "--check"])
            .env(app.names.var(runtime_spec::env::PYTHON), python)
            .current_dir(web_dir),
        "the API types generator",
    )?;
    Ok(if output.status.success() {
        Vec::new()
    } else {
        vec![first_lines(&output)]
    })
}

/// node, after `npm ci` when the web UI's dependencies are missing or older than its lock.
fn node_with_modules(web_dir: &Path) -> Result<PathBuf> {
    let hint = "install Node.js 20+ with npm (Debian/Ubuntu: `apt-get install nodejs npm`)";
    let node = tools::require("node", hint)?;
    let installed = web_dir.join("node_modules/.package-lock.json");
    let modified = |path: &Path| {
        std::fs::metadata(path)
            .and_then(|meta| meta.modified())
            .ok()
    };
    let fresh = match (
        modified(&installed),
        modified(&web_dir.join("package-lock.json")),
    ) {
        (Some(installed), Some(lock)) => installed >= lock,
        _ => false,
    };
    if !fresh || !web_dir.join("node_modules/eslint").is_dir() {
        let npm = tools::require("npm", hint)?;
        let output = run_tool(
            Command::new(npm)
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(web_dir),
            "npm ci",
        )?;
        if !output.status.success() {
            bail!(
                "`npm ci` failed in {}: {}",
                web_dir.display(),
                first_lines(&output)
            );
        }
    }
    Ok(node)
}

fn run_tool(command: &mut Command, what: &str) -> Result<Output> {
    command.output().with_context(|| format!("starting {what}"))
}

/// The first lines a tool printed, for a failure whose findings could not be parsed.
fn first_lines(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let text: Vec<&str> = stdout
        .lines()
        .chain(stderr.lines())
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .take(3)
        .collect();
    format!("exited with {}: {}", output.status, text.join(" | "))
}

/// `path` relative to `base` with `/` separators, when it is inside it.
fn relative(path: &str, base: &Path) -> String {
    Path::new(path)
        .strip_prefix(base)
        .map(|relative| relative.to_string_lossy().replace('\\', "/"))
        .unwrap_or_else(|_| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Markers and outside references are spelled in pieces here too, so this file passes tidy.
    const MARKER: &str = concat!("TO", "DO");

    #[test]
    fn a_rust_file_without_a_doc_line_is_named() {
        assert_eq!(
            doc_line_finding("a/lib.rs", "//! Parses things.\nfn f() {}\n"),
            None
        );
        let finding = doc_line_finding("a/lib.rs", "// Parses things.\nfn f() {}\n").unwrap();
        assert!(
            finding.starts_with("a/lib.rs:1: must start with"),
            "{finding}"
        );
        let few: Vec<(String, String)> = vec![("a.rs".into(), "//! A.\n".into())];
        assert!(rust_doc_lines(&few)[0].contains("found only 1 Rust files"));
    }

    #[test]
    fn markers_are_found_as_words_and_rust_macros_only_in_rust() {
        let text = format!("//! A.\nfn f() {{}} // {MARKER}: later\nlet t = \"XXXXXX\";\n");
        assert_eq!(
            marker_findings("src/a.rs", &text),
            [format!("src/a.rs:2: contains `{MARKER}`")]
        );
        assert_eq!(
            marker_findings("a.py", &format!("# {MARKER}S and MY{MARKER}\n")),
            Vec::<String>::new()
        );
        let macro_line = concat!("    to", "do!()\n");
        assert_eq!(marker_findings("a.rs", macro_line).len(), 1);
        assert!(marker_findings("notes.txt", &format!("{MARKER}\n")).is_empty());
        assert!(marker_findings("a.py", macro_line).is_empty());
    }

    #[test]
    fn the_toolchain_names_no_app_outside_its_tests() {
        let names = vec!["corpusinspector".to_owned(), "tokenizerstudio".to_owned()];
        let code = "//! A.\nconst A: &str = \"Tokenizer Studio\";\n#[cfg(test)]\nmod tests { const B: &str = \"tokenizer-studio\"; }\n";
        let findings = app_name_findings(&names, "updater/src/store.rs", code);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(
            findings[0].starts_with("updater/src/store.rs:2:"),
            "{findings:?}"
        );
        for spelling in [
            concat!("TOKENIZER_STUDIO", "_X"),
            "TokenizerStudio",
            "tokenizer_studio",
            "Corpus Inspector",
        ] {
            let text = format!("fn f() {{ let _ = \"{spelling}\"; }}\n");
            for path in [
                "release-meta/src/a.rs",
                "shell/src/view.rs",
                "shell/src/self_test.js",
                "shell/ui/index.html",
                "shell/tauri.conf.json",
                "shell/build.rs",
                "xtask/src/package.rs",
            ] {
                assert_eq!(
                    app_name_findings(&names, path, &text).len(),
                    1,
                    "{spelling} in {path}"
                );
            }
        }
        // Tests, docs and the apps themselves are out of scope.
        assert!(app_name_findings(&names, "supervisor/tests/it/main.rs", code).is_empty());
        assert!(app_name_findings(&names, "release-meta/README.md", code).is_empty());
        assert!(app_name_findings(&names, "apps/tokenizer-studio/app.toml", code).is_empty());
    }

    #[test]
    fn the_engine_has_one_name() {
        let old = concat!("Back", "end");
        let text = format!(
            "fn start() {{}}\nlet x: {old}Handle;\nbuild-{}\n",
            old.to_lowercase()
        );
        assert_eq!(
            retired_word_findings("src/a.rs", &text),
            ["src/a.rs:2: says `back\u{65}nd`; the Python process is the engine"]
        );
        let torch = format!("torch.{}s.mps.is_available()", old.to_lowercase());
        assert!(retired_word_findings("probe.py", &torch).is_empty());
        let anyio = format!("(\"anyio/_{}s/_asyncio.py\", false),", old.to_lowercase());
        assert!(retired_word_findings("src/wheels.rs", &anyio).is_empty());
    }

    #[test]
    fn a_dead_code_allowance_needs_a_plain_comment_saying_why() {
        let bare = "//! A.\n\n#[allow(dead_code)]\nfn helper() {}\n";
        assert_eq!(
            dead_code_findings("t/support.rs", bare),
            ["t/support.rs:3: `#[allow(dead_code)]` needs a `//` comment saying why, above it or on its line"]
        );
        for justified in [
            "//! A.\n// Each test binary uses a different subset of these helpers.\n#![allow(dead_code)]\n",
            "//! A.\n#[allow(dead_code)] // read by the macOS build only\nfn f() {}\n",
            "//! A.\n    // kept for the Windows job\n    #[cfg_attr(not(windows), allow(dead_code))]\n",
        ] {
            assert_eq!(dead_code_findings("a.rs", justified), Vec::<String>::new(), "{justified}");
        }
        for unjustified in [
            "/// Reads everything.\n#[allow(dead_code)]\nfn read_all() {}\n",
            "//! Helpers.\n#![allow(dead_code)]\n",
            "#[allow(unused, clippy::all)]\nfn f() {}\n",
            "#[expect(dead_code)] //\nfn f() {}\n",
        ] {
            assert_eq!(
                dead_code_findings("a.rs", unjustified).len(),
                1,
                "{unjustified}"
            );
        }
        // Other lints, and the same text outside Rust, are not this rule's business.
        assert!(dead_code_findings("a.rs", "#[allow(unused_imports)]\nuse a::b;\n").is_empty());
        assert!(dead_code_findings("a.md", "#[allow(dead_code)]\n").is_empty());
    }

    #[test]
    fn references_outside_the_repo_and_issue_history_are_named() {
        let design = concat!("DESIGN", ".md");
        let text = format!(
            "//! A.\n// See ../{}/{design} §3.\nlet issue = 1; // t{} 5\n",
            "shared",
            concat!("iss", "ue"),
        );
        let findings = outside_reference_findings("src/a.rs", &text);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(
            findings[0].starts_with(concat!("src/a.rs:2: `../", "shared`")),
            "{findings:?}"
        );

        // The history phrases, spelled in pieces so this file passes its own check.
        let issue = concat!("iss", "ue");
        for (line, found) in [
            (format!("Flow ({issue} 5, see below)"), format!("{issue} 5")),
            (
                format!("What I{}s 2–7 built", &issue[1..]),
                format!("I{}s 2", &issue[1..]),
            ),
            (format!("fixed in {issue} #16"), format!("{issue} #16")),
            (
                format!("/// The {issue}'s goal for ours / tar."),
                format!("The {issue}"),
            ),
            (
                format!("kept, as the {issue} defines it."),
                format!("the {issue}"),
            ),
        ] {
            let findings = outside_reference_findings("README.md", &line);
            assert_eq!(findings.len(), 1, "{line}");
            assert!(
                findings[0].contains(&format!("`{found}`")),
                "{line}: {findings:?}"
            );
        }
        for clean in [
            "an issue with the cache",
            "issues: none",
            concat!("the iss", "ued token"),
            "see docs/runtime-contract.md",
        ] {
            assert!(
                outside_reference_findings("a.md", clean).is_empty(),
                "{clean}"
            );
        }
    }

    #[test]
    fn tool_outputs_become_one_finding_per_file_or_message() {
        let root = Path::new("/repo");
        let rustfmt = "Diff in /repo/xtask/src/a.rs:12:\n-x\n+y\nDiff in /repo/xtask/src/a.rs:40:\nDiff in /repo/shell/build.rs:1:\n";
        assert_eq!(
            rustfmt_findings(rustfmt, root),
            [
                "shell/build.rs: not formatted (run `cargo fmt --all`)",
                "xtask/src/a.rs: not formatted (run `cargo fmt --all`)",
            ]
        );
        let clippy = "xtask/src/a.rs:3:9: error: redundant clone\n  = help: remove it\nxtask/src/a.rs:3:9: error: redundant clone\nerror: could not compile `xtask`\n";
        assert_eq!(
            clippy_findings(clippy),
            ["xtask/src/a.rs:3:9: error: redundant clone"]
        );
        let ruff = "app/db.py:3:1: I001 [*] Import block is un-sorted\nFound 1 error.\n";
        assert_eq!(
            ruff_findings(ruff, false),
            ["app/db.py:3:1: I001 [*] Import block is un-sorted"]
        );
        let ruff_format = "app/db.py:238:80: unformatted: File would be reformatted\n1 file would be reformatted\n";
        assert_eq!(
            ruff_findings(ruff_format, true),
            ["app/db.py: not formatted (run `ruff format`)"]
        );
        let eslint = r#"[{"filePath":"/w/src/a.ts","messages":[{"line":2,"column":5,"message":"'x' is never used","ruleId":"no-unused-vars"}]},{"filePath":"/w/b.ts","messages":[]}]"#;
        assert_eq!(
            eslint_findings(eslint, Path::new("/w"), "apps/tokenizer-studio/web"),
            ["apps/tokenizer-studio/web/src/a.ts:2:5: 'x' is never used (no-unused-vars)"]
        );
    }

    #[test]
    fn generated_and_vendored_files_are_skipped() {
        assert!(skipped_for_text_rules(
            "apps/tokenizer-studio/lockfiles/linux-x64.txt"
        ));
        assert!(skipped_for_text_rules(
            "apps/tokenizer-studio/web/package-lock.json"
        ));
        assert!(skipped_for_text_rules(
            "release-meta/tests/fixtures/cyclonedx/bom.json"
        ));
        assert!(!skipped_for_text_rules("xtask/src/tidy.rs"));
    }
}
