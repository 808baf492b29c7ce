//! What makes a folder a `.app`, and checking its resource seal (`_CodeSignature/CodeResources`).
//!
//! A bundle's main executable seals `Contents/Info.plist` and `CodeResources` in two special
//! slots of its code directory; `CodeResources` in turn lists a SHA-256 (`hash2`) for every
//! resource file, the target of every symlink and the `cdhash` of nested code. The embedded
//! runtime lives under `Contents/Resources/`, so this is what catches an edited `.py` file.

use std::path::{Path, PathBuf};

use apple_codesign::cryptography::DigestType;
use apple_codesign::{CodeSigningSlot, MachFile};

use crate::{verify_runtime, Error, FileVerification, Result, VerifyOutcome, VerifyReport};

/// The parts of `Contents/Info.plist` signing needs.
pub(crate) struct BundleInfo {
    /// `Contents/MacOS/<CFBundleExecutable>`.
    pub main_executable: String,
    /// `CFBundleIdentifier`, if set.
    pub identifier: Option<String>,
}

pub(crate) fn read_bundle_info(app_dir: &Path) -> Result<BundleInfo> {
    let not_bundle = |message: String| Error::NotAppBundle {
        path: app_dir.to_path_buf(),
        message,
    };
    let info_plist_path = app_dir.join("Contents").join("Info.plist");
    if !info_plist_path.is_file() {
        return Err(not_bundle(
            "it has no Contents/Info.plist; pass the `.app` folder itself".to_string(),
        ));
    }
    let info_plist = plist::Value::from_file(&info_plist_path).map_err(|error| Error::Parse {
        path: info_plist_path.clone(),
        message: error.to_string(),
    })?;
    let dict = info_plist.as_dictionary();
    let string = |key: &str| {
        dict.and_then(|dict| dict.get(key))
            .and_then(|value| value.as_string())
            .map(str::to_string)
    };
    let executable = string("CFBundleExecutable")
        .ok_or_else(|| not_bundle("Contents/Info.plist has no CFBundleExecutable".to_string()))?;
    let main_executable = format!("Contents/MacOS/{executable}");
    if !app_dir.join(&main_executable).is_file() {
        return Err(not_bundle(format!(
            "{main_executable} (CFBundleExecutable) does not exist"
        )));
    }
    Ok(BundleInfo {
        main_executable,
        identifier: string("CFBundleIdentifier"),
    })
}

/// [`verify_runtime`] over a signed `.app`, plus its resource seal: the main executable must
/// seal the current `Info.plist` and `CodeResources`, every file `CodeResources` lists must
/// match its hash (symlinks their target, nested code its cdhash), and no file under
/// `Contents/Resources/` may be missing from it. A resource that fails gets its own
/// [`FileVerification`] entry (outcome [`VerifyOutcome::Invalid`]), so errors name it.
pub fn verify_app_bundle(app_dir: &Path) -> Result<VerifyReport> {
    let info = read_bundle_info(app_dir)?;
    let mut report = verify_runtime(app_dir)?;
    let contents = app_dir.join("Contents");
    let code_resources_path = contents.join("_CodeSignature").join("CodeResources");

    let mut seal_problems = check_main_executable_slots(
        &app_dir.join(&info.main_executable),
        &contents.join("Info.plist"),
        &code_resources_path,
    )?;
    let mut resource_problems: Vec<(String, String)> = vec![];
    if code_resources_path.is_file() {
        let cdhashes: Vec<(String, String)> = report
            .files
            .iter()
            .filter_map(|file| match &file.outcome {
                VerifyOutcome::Signed { cdhash, .. } | VerifyOutcome::AdHoc { cdhash } => {
                    Some((file.path.clone(), cdhash.clone()))
                }
                _ => None,
            })
            .collect();
        resource_problems = check_code_resources(&contents, &code_resources_path, &cdhashes)?;
    } else {
        seal_problems.push("Contents/_CodeSignature/CodeResources is missing".to_string());
    }

    if !seal_problems.is_empty() {
        let entry = report
            .files
            .iter_mut()
            .find(|file| file.path == info.main_executable);
        if let Some(entry) = entry {
            let mut problems = match &entry.outcome {
                VerifyOutcome::Invalid { problems } => problems.clone(),
                _ => vec![],
            };
            problems.extend(seal_problems);
            entry.outcome = VerifyOutcome::Invalid { problems };
        }
    }
    for (path, problem) in resource_problems {
        match report.files.iter_mut().find(|file| file.path == path) {
            Some(entry) => {
                let mut problems = match &entry.outcome {
                    VerifyOutcome::Invalid { problems } => problems.clone(),
                    _ => vec![],
                };
                problems.push(problem);
                entry.outcome = VerifyOutcome::Invalid { problems };
            }
            None => report.files.push(FileVerification {
                path,
                outcome: VerifyOutcome::Invalid {
                    problems: vec![problem],
                },
            }),
        }
    }
    Ok(report)
}

/// The Info.plist and CodeResources hashes in every code directory of the main executable.
fn check_main_executable_slots(
    executable: &Path,
    info_plist: &Path,
    code_resources: &Path,
) -> Result<Vec<String>> {
    let data = fs_err::read(executable)?;
    let parse_error = |message: String| Error::Parse {
        path: executable.to_path_buf(),
        message,
    };
    let mach = MachFile::parse(&data).map_err(|error| parse_error(error.to_string()))?;
    let mut problems = vec![];
    for macho in mach.iter_macho() {
        let Some(signature) = macho
            .code_signature()
            .map_err(|error| parse_error(error.to_string()))?
        else {
            // verify_runtime already reports the executable as unsigned.
            continue;
        };
        let code_directories = signature
            .all_code_directories()
            .map_err(|error| parse_error(error.to_string()))?;
        for (_, code_directory) in code_directories {
            for (slot, path, name) in [
                (CodeSigningSlot::Info, info_plist, "Contents/Info.plist"),
                (
                    CodeSigningSlot::ResourceDir,
                    code_resources,
                    "Contents/_CodeSignature/CodeResources",
                ),
            ] {
                let sealed = code_directory
                    .special_digests
                    .get(&slot)
                    .filter(|digest| !digest.is_null());
                let Some(sealed) = sealed else {
                    problems.push(format!("the main executable does not seal {name}"));
                    continue;
                };
                let actual = match fs_err::read(path) {
                    Ok(bytes) => digest(code_directory.digest_type, &bytes),
                    Err(_) => None,
                };
                if actual.as_deref() != Some(sealed.data.as_ref()) {
                    problems.push(format!("{name} was modified or removed after signing"));
                }
            }
        }
    }
    problems.dedup();
    Ok(problems)
}

fn digest(digest_type: DigestType, bytes: &[u8]) -> Option<Vec<u8>> {
    digest_type.digest_data(bytes).ok()
}

/// Problems with the files `CodeResources` lists, and with files under `Contents/Resources/`
/// it does not list, as (bundle-relative path, problem).
fn check_code_resources(
    contents: &Path,
    code_resources_path: &Path,
    cdhashes: &[(String, String)],
) -> Result<Vec<(String, String)>> {
    let parse_error = |message: String| Error::Parse {
        path: code_resources_path.to_path_buf(),
        message,
    };
    let seal = plist::Value::from_file(code_resources_path)
        .map_err(|error| parse_error(error.to_string()))?;
    let files2 = seal
        .as_dictionary()
        .and_then(|dict| dict.get("files2"))
        .and_then(|value| value.as_dictionary())
        .ok_or_else(|| parse_error("it has no files2 dictionary".to_string()))?;
    let bundle_path = |relative: &str| format!("Contents/{relative}");
    let mut problems = vec![];
    for (relative, entry) in files2 {
        let path = contents.join(relative);
        let entry = entry.as_dictionary();
        let field = |key: &str| entry.and_then(|entry| entry.get(key));
        let optional = field("optional")
            .and_then(|value| value.as_boolean())
            .unwrap_or(false);
        let exists = fs_err::symlink_metadata(&path).is_ok();
        if !exists {
            if !optional {
                problems.push((
                    bundle_path(relative),
                    "listed in CodeResources but missing".to_string(),
                ));
            }
            continue;
        }
        if let Some(target) = field("symlink").and_then(|value| value.as_string()) {
            let actual = std::fs::read_link(&path).ok();
            if actual.as_deref() != Some(Path::new(target)) {
                problems.push((
                    bundle_path(relative),
                    format!("should be a symlink to {target}"),
                ));
            }
        } else if let Some(expected) = field("hash2").and_then(|value| value.as_data()) {
            let actual = fs_err::read(&path)
                .ok()
                .and_then(|bytes| digest(DigestType::Sha256, &bytes));
            if actual.as_deref() != Some(expected) {
                problems.push((
                    bundle_path(relative),
                    "modified after signing: its SHA-256 differs from CodeResources".to_string(),
                ));
            }
        } else if let Some(expected) = field("cdhash").and_then(|value| value.as_data()) {
            let actual = cdhashes
                .iter()
                .find(|(path, _)| *path == bundle_path(relative))
                .map(|(_, cdhash)| cdhash.clone());
            if actual.as_deref() != Some(hex::encode(expected).as_str()) {
                problems.push((
                    bundle_path(relative),
                    "nested code was re-signed or modified after the bundle was sealed".to_string(),
                ));
            }
        }
    }
    let resources = contents.join("Resources");
    if resources.is_dir() {
        for entry in walkdir::WalkDir::new(&resources).follow_links(false) {
            let entry = entry.map_err(|error| {
                std::io::Error::other(format!("cannot walk {}: {error}", resources.display()))
            })?;
            if entry.file_type().is_dir() || entry.file_name() == ".DS_Store" {
                continue;
            }
            let relative = relative_slash_path(contents, entry.path());
            if !files2.contains_key(&relative) {
                problems.push((
                    bundle_path(&relative),
                    "added after signing: not listed in CodeResources".to_string(),
                ));
            }
        }
    }
    Ok(problems)
}

fn relative_slash_path(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .map(PathBuf::from)
        .unwrap_or_default()
        .components()
        .map(|component| component.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
