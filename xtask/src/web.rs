//! Stage 4, web: `npm ci && npm run build` of the web UI, skipped when its inputs are unchanged.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::plan::App;
use crate::{fsutil, tools, ui};

/// Fails when the web UI needs a build and node/npm are missing.
pub fn check_tools(app: &App, build_root: &Path) -> Result<()> {
    if !app.web_has_build() {
        return Ok(());
    }
    let web_dir = &app.web_dir();
    let dist = web_dir.join(&app.descriptor.web.out_dir);
    if fsutil::stamp_matches(&build_root.join("web.stamp"), &input_hash(web_dir)?)
        && dist.join("index.html").is_file()
    {
        return Ok(());
    }
    require_node()?;
    Ok(())
}

fn require_node() -> Result<PathBuf> {
    let npm = tools::require(
        "npm",
        "install Node.js 20+ with npm (Debian/Ubuntu: `apt-get install nodejs npm`)",
    )?;
    tools::require(
        "node",
        "install Node.js 20+ (Debian/Ubuntu: `apt-get install nodejs npm`)",
    )?;
    Ok(npm)
}

/// Builds (or reuses) the app's web UI and returns the folder the runtime ships as `web/`. A
/// web project without `package.json` has no build step: its `out_dir` is the UI.
pub fn build(app: &App, build_root: &Path) -> Result<PathBuf> {
    let web_dir = &app.web_dir();
    let dist = web_dir.join(&app.descriptor.web.out_dir);
    if !app.web_has_build() {
        if !dist.join("index.html").is_file() {
            bail!(
                "{} has neither a package.json (a web build) nor an index.html (a UI without one)",
                dist.display()
            );
        }
        ui::step("web", "a UI without a build step: shipped as it is");
        return Ok(dist);
    }
    let stamp_file = build_root.join("web.stamp");
    let inputs = input_hash(web_dir)?;
    if fsutil::stamp_matches(&stamp_file, &inputs) && dist.join("index.html").is_file() {
        ui::step("web", "reusing the built web UI (inputs unchanged)");
        return Ok(dist);
    }
    let npm = require_node()?;
    let has_modules = web_dir.join("node_modules").is_dir()
        && fsutil::stamp_matches(&stamp_file.with_extension("deps"), &deps_hash(web_dir)?);
    if !has_modules {
        ui::step("web", "npm ci");
        run(&npm, &["ci", "--no-audit", "--no-fund"], web_dir)?;
        fsutil::write_stamp(&stamp_file.with_extension("deps"), &deps_hash(web_dir)?)?;
    }
    ui::step("web", "npm run build");
    run(&npm, &["run", "build"], web_dir)?;
    if !dist.join("index.html").is_file() {
        bail!(
            "`npm run build` succeeded but {} has no index.html",
            dist.display()
        );
    }
    fsutil::write_stamp(&stamp_file, &inputs)?;
    Ok(dist)
}

fn run(npm: &Path, args: &[&str], web_dir: &Path) -> Result<()> {
    let output = Command::new(npm)
        .args(args)
        .current_dir(web_dir)
        .output()
        .with_context(|| format!("running npm {}", args.join(" ")))?;
    if !output.status.success() {
        bail!(
            "`npm {}` failed in {}:\n{}{}",
            args.join(" "),
            web_dir.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

fn deps_hash(web_dir: &Path) -> Result<String> {
    fsutil::hash_tree(
        &[
            &web_dir.join("package.json"),
            &web_dir.join("package-lock.json"),
        ],
        web_dir,
        &|_| true,
    )
}

/// Everything in the web folder except build outputs, dependencies and test leftovers.
fn input_hash(web_dir: &Path) -> Result<String> {
    let skipped = ["node_modules", "dist", "test-results", "e2e"];
    fsutil::hash_tree(&[web_dir], web_dir, &|relative| {
        !relative
            .components()
            .next()
            .is_some_and(|first| skipped.iter().any(|skip| first.as_os_str() == *skip))
    })
}
