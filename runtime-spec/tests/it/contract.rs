//! The contract against the rest of the repository: the data-root table both languages run,
//! the README's list of variables, and every variable name the code uses.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use runtime_spec::discovery::{data_root, Os};
use runtime_spec::env;

use test_support::workspace_root as repo_root;

#[test]
fn data_root_cases_shared_with_the_engine() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data-root-cases.json"),
    )
    .unwrap();
    let table: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = table["cases"].as_array().unwrap();
    assert!(cases.len() >= 20, "the table lost its cases");
    // The table is Tokenizer Studio's: its engine runs the same cases.
    let app = crate::apps()
        .into_iter()
        .map(|(_, app)| app.names())
        .find(|app| app.data_folder == "TokenizerStudio")
        .unwrap();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let os = match case["platform"].as_str().unwrap() {
            "linux" => Os::Linux,
            "macos" => Os::Macos,
            "windows" => Os::Windows,
            other => panic!("{name}: unknown platform {other}"),
        };
        let vars: std::collections::HashMap<String, String> =
            serde_json::from_value(case["env"].clone()).unwrap();
        let lookup = |key: &str| vars.get(key).cloned();
        let home = case["home"].as_str().map(PathBuf::from);
        let root = data_root(&app, os, &lookup, home.as_deref())
            .map(|root| root.to_string_lossy().replace('\\', "/"));
        assert_eq!(root.as_deref(), case["expected"].as_str(), "{name}");
    }
}

const START: &str = "<!-- env-vars:start -->\n";
const END: &str = "<!-- env-vars:end -->";

/// README.md's list of variables is the table in `runtime_spec::env`;
/// `UPDATE_SNAPSHOTS=1 cargo test -p runtime-spec` rewrites it.
#[test]
fn readme_lists_every_variable_of_the_table() {
    let path = repo_root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (Some(start), Some(end)) = (readme.find(START), readme.find(END)) else {
        panic!("README.md has no `{}`…`{END}` block", START.trim());
    };
    let body = &readme[start + START.len()..end];
    let expected = env::markdown_table();
    if body == expected {
        return;
    }
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        let updated = format!(
            "{}{expected}{}",
            &readme[..start + START.len()],
            &readme[end..]
        );
        std::fs::write(&path, updated).unwrap();
        return;
    }
    panic!(
        "README.md's list of variables differs from runtime-spec/src/env.rs: run \
         `UPDATE_SNAPSHOTS=1 cargo test -p runtime-spec` and commit the result"
    );
}

/// Every variable name in the code, tests, workflows and docs that starts with an app's prefix
/// (`TOKENIZER_STUDIO_`, from its descriptor) is one of the table's app variables, and every
/// `XTASK_` name one of its toolchain variables, so a new variable cannot be read without being
/// documented.
#[test]
fn every_variable_the_code_names_is_in_the_table() {
    let mut prefixes: Vec<(String, bool)> = crate::apps()
        .into_iter()
        .map(|(_, app)| (format!("{}_", app.env_prefix), true))
        .collect();
    prefixes.push((concat!("XTASK", "_").to_owned(), false));
    let mut missing = BTreeSet::new();
    let mut files = Vec::new();
    collect_files(&repo_root(), &mut files);
    assert!(files.len() > 50, "the walk found too few files");
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (prefix, app) in &prefixes {
            let mut rest = text.as_str();
            while let Some(at) = rest.find(prefix.as_str()) {
                let preceded_by_name = text[..text.len() - rest.len() + at]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                rest = &rest[at + prefix.len()..];
                let name = name.trim_end_matches('_');
                if preceded_by_name || name.len() <= prefix.len() {
                    continue;
                }
                let known = if *app {
                    // The READY line is not a variable.
                    let suffix = &name[prefix.len()..];
                    suffix == "READY" || env::lookup_app(suffix).is_some()
                } else {
                    env::lookup(name).is_some()
                };
                if !known {
                    missing.insert(format!("{name} ({})", file.display()));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "add these to runtime-spec/src/env.rs: {missing:#?}"
    );
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            let skipped = [
                ".git",
                "target",
                "node_modules",
                "dist",
                ".venv",
                "__pycache__",
                ".pytest_cache",
                "test-results",
                "playwright-report",
            ];
            if !skipped.contains(&name.as_str()) {
                collect_files(&path, files);
            }
        } else if [
            ".rs", ".py", ".mjs", ".ts", ".tsx", ".yml", ".toml", ".md", ".json", ".sh",
        ]
        .iter()
        .any(|ext| name.ends_with(ext))
            || name == "run"
        {
            files.push(path);
        }
    }
}
