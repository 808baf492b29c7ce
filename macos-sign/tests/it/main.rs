//! Signs real arm64 Mach-O files (extension modules from PyPI macOS wheels) with a generated
//! certificate, then checks them with our verifier and with `openssl cms`.
//!
//! Fast cases fetch two small markupsafe wheels (thin arm64 and universal2) once per run into a
//! temporary folder. The end-to-end case cross-assembles a macOS runtime with
//! `cargo xtask runtime --target macos-arm64` and runs only with XTASK_SLOW_TESTS=1.

mod dmg;
mod entitlements;
mod support;

use std::time::{Duration, Instant, UNIX_EPOCH};

use macos_sign::{
    sign_app_bundle, sign_file, sign_runtime, verify_app_bundle, verify_file, verify_runtime,
    Error, Identity, MachoKind, SignOptions, VerifyOutcome, ENV_P12_BASE64, ENV_P12_PASSWORD,
    ENV_P12_PATH,
};
use support::*;

fn fixed_time_options() -> SignOptions {
    SignOptions {
        signing_time: Some(UNIX_EPOCH + Duration::from_secs(1_767_225_600)),
        ..SignOptions::default()
    }
}

#[test]
fn p12_identity_signs_a_runtime_that_verifies_with_our_verifier_and_openssl() {
    let work = tempfile::tempdir().unwrap();
    let runtime = fake_runtime(work.path());
    let credentials = Credentials::generate(work.path());
    let identity = Identity::from_p12(&credentials.p12, P12_PASSWORD).unwrap();
    assert!(!identity.is_ad_hoc());

    let started = Instant::now();
    let report = sign_runtime(&runtime, &identity, &fixed_time_options()).unwrap();
    eprintln!(
        "signed {} files in {:?}",
        report.files.len(),
        started.elapsed()
    );
    let order: Vec<(&str, MachoKind, bool)> = report
        .files
        .iter()
        .map(|file| (file.path.as_str(), file.kind, file.entitlements))
        .collect();
    assert_eq!(
        order,
        [
            (
                "lib/python3.12/site-packages/markupsafe/_speedups.cpython-312-darwin.so",
                MachoKind::Library,
                false
            ),
            (
                "lib/python3.12/lib-dynload/_universal.so",
                MachoKind::Library,
                false
            ),
            ("bin/python3.12", MachoKind::Executable, true),
        ]
    );
    assert_eq!((report.n_libraries(), report.n_executables()), (2, 1));
    assert_eq!(report.n_symlinks_skipped, 1, "bin/python3 -> python3.12");
    assert!(report.files.iter().all(|file| file.hardened_runtime));
    assert!(!report.ad_hoc);

    let verification = verify_runtime(&runtime).unwrap();
    assert_eq!(verification.files.len(), 3);
    assert_eq!(verification.n_signed(), 3, "{verification:#?}");
    verification.ensure_signed_by(&identity).unwrap();
    for file in &verification.files {
        let VerifyOutcome::Signed { signer, .. } = &file.outcome else {
            panic!("{}: {:?}", file.path, file.outcome)
        };
        assert_eq!(
            signer,
            "Developer ID Application: Tokenizer Studio Test (TSTEAM1234)"
        );
    }

    // What macOS enforces: hardened runtime everywhere, entitlements on the interpreter only.
    for (relative, entitled) in [
        ("bin/python3.12", true),
        ("lib/python3.12/lib-dynload/_universal.so", false),
    ] {
        let signature = signature_facts(&runtime.join(relative));
        assert!(
            signature.iter().all(|slice| slice.hardened_runtime),
            "{relative}"
        );
        for slice in &signature {
            let has = slice.entitlements.as_deref().is_some_and(|xml| {
                xml.contains("com.apple.security.cs.disable-library-validation")
                    && xml.contains("com.apple.security.cs.allow-unsigned-executable-memory")
            });
            assert_eq!(has, entitled, "{relative}: {:?}", slice.entitlements);
        }
    }
    assert_eq!(
        signature_facts(&runtime.join("lib/python3.12/lib-dynload/_universal.so")).len(),
        2
    );

    // An independent check of every CMS blob against its code directory.
    for file in &verification.files {
        let checked = openssl_verifies(&runtime.join(&file.path), work.path());
        assert!(checked >= 1, "{}: no CMS blob checked", file.path);
    }

    // Not Mach-O, so never signed or verified.
    assert_eq!(
        std::fs::read(runtime.join("lib/python3.12/os.py")).unwrap(),
        b"sep = '/'\n"
    );
    assert!(matches!(
        verify_file(&runtime.join("share/Hello.class")),
        Err(Error::NotMachO { .. })
    ));
}

#[test]
fn a_flipped_text_byte_fails_verification_naming_the_file() {
    let work = tempfile::tempdir().unwrap();
    let runtime = fake_runtime(work.path());
    let credentials = Credentials::generate(work.path());
    let identity = credentials.pem_identity();
    sign_runtime(&runtime, &identity, &SignOptions::default()).unwrap();

    let victim =
        runtime.join("lib/python3.12/site-packages/markupsafe/_speedups.cpython-312-darwin.so");
    let offset = text_section_offset(&victim);
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[offset + 7] ^= 0x01;
    std::fs::write(&victim, &bytes).unwrap();

    let report = verify_runtime(&runtime).unwrap();
    assert_eq!((report.n_signed(), report.n_invalid()), (2, 1));
    let error = report.ensure_signed_by(&identity).unwrap_err();
    let Error::Verification { path, problems } = &error else {
        panic!("{error}")
    };
    assert_eq!(path, &victim);
    assert!(
        problems
            .iter()
            .any(|problem| problem.contains("does not match its hash")),
        "{problems:?}"
    );
    assert!(
        error
            .to_string()
            .contains("_speedups.cpython-312-darwin.so"),
        "{error}"
    );

    // Appended bytes are covered by no page hash, and still rejected.
    let appended = runtime.join("bin/python3.12");
    let mut bytes = std::fs::read(&appended).unwrap();
    bytes.extend_from_slice(b"payload");
    std::fs::write(&appended, &bytes).unwrap();
    let VerifyOutcome::Invalid { problems } = verify_file(&appended).unwrap() else {
        panic!("appended bytes accepted")
    };
    assert!(
        problems
            .iter()
            .any(|problem| problem.contains("7 bytes after the code signature")),
        "{problems:?}"
    );
}

#[test]
fn a_forged_code_directory_fails_the_cms_check() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("_speedups.so");
    std::fs::copy(wheel_files().thin_arm64.clone(), &file).unwrap();
    let identity = Credentials::generate(work.path()).pem_identity();
    sign_file(&file, &identity, &SignOptions::default()).unwrap();

    // Patch code and put the new page hash into the code directory, as an attacker without
    // the key would: every page hash matches again, only the CMS signature can tell.
    forge_code_page(&file, text_section_offset(&file));
    let VerifyOutcome::Invalid { problems } = verify_file(&file).unwrap() else {
        panic!("forged code directory accepted")
    };
    assert!(
        problems
            .iter()
            .any(|problem| problem.contains("code directory was altered")),
        "{problems:?}"
    );
    assert!(
        !problems
            .iter()
            .any(|problem| problem.contains("does not match its hash")),
        "the page hashes were forged to match: {problems:?}"
    );
}

#[test]
fn ad_hoc_signing_is_reported_as_ad_hoc() {
    let work = tempfile::tempdir().unwrap();
    let runtime = fake_runtime(work.path());
    // Wheels ship linker-signed (ad-hoc) modules: intact, not "invalid" as apple-codesign's
    // own verifier reports them.
    let linker_signed = verify_file(&wheel_files().thin_arm64).unwrap();
    assert!(
        matches!(linker_signed, VerifyOutcome::AdHoc { .. }),
        "{linker_signed:?}"
    );

    let report = sign_runtime(&runtime, &Identity::AdHoc, &SignOptions::default()).unwrap();
    assert!(report.ad_hoc);
    assert_eq!(report.identity, "ad-hoc");

    let verification = verify_runtime(&runtime).unwrap();
    assert_eq!(verification.n_ad_hoc(), 3, "{verification:#?}");
    verification.ensure_signed_by(&Identity::AdHoc).unwrap();
    // Release builds demand the certificate: ad-hoc files are named, not waved through.
    let identity = Credentials::generate(work.path()).pem_identity();
    let error = verification.ensure_signed_by(&identity).unwrap_err();
    assert!(
        matches!(&error, Error::WrongSigner { found, .. } if found == "ad-hoc signed"),
        "{error}"
    );
    assert!(signature_facts(&runtime.join("bin/python3.12"))[0].hardened_runtime);
    // Ad-hoc still seals the pages.
    let victim = runtime.join("bin/python3.12");
    let offset = text_section_offset(&victim);
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[offset] ^= 0xff;
    std::fs::write(&victim, &bytes).unwrap();
    assert!(matches!(
        verify_file(&victim).unwrap(),
        VerifyOutcome::Invalid { .. }
    ));
}

#[test]
fn rsa_with_a_fixed_signing_time_is_deterministic() {
    let work = tempfile::tempdir().unwrap();
    let identity = Credentials::generate(work.path()).pem_identity();
    let mut outputs = vec![];
    for attempt in ["first", "second"] {
        let file = work.path().join(attempt).join("_universal.so");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::copy(&wheel_files().universal2, &file).unwrap();
        sign_file(&file, &identity, &fixed_time_options()).unwrap();
        outputs.push(std::fs::read(&file).unwrap());
    }
    assert_eq!(outputs[0], outputs[1]);
    assert_ne!(
        outputs[0],
        std::fs::read(&wheel_files().universal2).unwrap()
    );
}

#[test]
fn identities_load_from_p12_pem_and_environment() {
    let work = tempfile::tempdir().unwrap();
    let credentials = Credentials::generate(work.path());
    let from_p12 = Identity::from_p12(&credentials.p12, P12_PASSWORD).unwrap();
    let fingerprint = from_p12.signing_identity().unwrap().sha256_fingerprint();
    assert_eq!(
        credentials
            .pem_identity()
            .signing_identity()
            .unwrap()
            .sha256_fingerprint(),
        fingerprint
    );
    assert!(
        from_p12
            .describe()
            .starts_with("Developer ID Application: Tokenizer Studio Test (TSTEAM1234) (sha256 "),
        "{}",
        from_p12.describe()
    );
    assert!(!format!("{from_p12:?}").contains("PRIVATE"));

    let wrong_password = Identity::from_p12(&credentials.p12, "nope").unwrap_err();
    assert!(
        wrong_password
            .to_string()
            .contains(&credentials.p12.display().to_string()),
        "{wrong_password}"
    );

    // OpenSSL 3's default .p12 is refused with a message that points at -legacy.
    let modern = Identity::from_p12(&credentials.modern_p12, P12_PASSWORD).unwrap_err();
    assert!(modern.to_string().contains("-legacy"), "{modern}");

    let mismatched = Identity::from_pem(
        &credentials.certificate_pem,
        &Credentials::generate(&work.path().join("other")).key_pem,
    )
    .unwrap_err();
    assert!(
        mismatched.to_string().contains("does not belong"),
        "{mismatched}"
    );

    let bad_timestamp_server = SignOptions {
        timestamp_url: Some("not a url".to_string()),
        ..SignOptions::default()
    };
    let scratch_copy = work.path().join("_speedups.so");
    std::fs::copy(&wheel_files().thin_arm64, &scratch_copy).unwrap();
    let error = sign_file(&scratch_copy, &from_p12, &bad_timestamp_server).unwrap_err();
    assert!(
        matches!(
            error,
            Error::InvalidOption {
                option: "timestamp_url",
                ..
            }
        ),
        "{error}"
    );

    let p12_base64 = base64_encode(&std::fs::read(&credentials.p12).unwrap());
    let p12_path = credentials.p12.display().to_string();
    // (case, variables set, Ok(whether an identity comes back) or Err(variable the error names))
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Result<bool, &'a str>);
    let cases: Vec<Case> = vec![
        ("nothing set", vec![], Ok(false)),
        (
            "only a password",
            vec![(ENV_P12_PASSWORD, P12_PASSWORD)],
            Ok(false),
        ),
        (
            "path and password",
            vec![(ENV_P12_PATH, &p12_path), (ENV_P12_PASSWORD, P12_PASSWORD)],
            Ok(true),
        ),
        (
            "base64 and password",
            vec![
                (ENV_P12_BASE64, &p12_base64),
                (ENV_P12_PASSWORD, P12_PASSWORD),
            ],
            Ok(true),
        ),
        (
            "path without password",
            vec![(ENV_P12_PATH, &p12_path)],
            Err(ENV_P12_PASSWORD),
        ),
        (
            "bad base64",
            vec![(ENV_P12_BASE64, "***"), (ENV_P12_PASSWORD, P12_PASSWORD)],
            Err(ENV_P12_BASE64),
        ),
    ];
    for (name, variables, expected) in cases {
        let lookup = |wanted: &str| {
            variables
                .iter()
                .find(|(variable, _)| *variable == wanted)
                .map(|(_, value)| value.to_string())
        };
        match (Identity::from_env_lookup(&lookup), expected) {
            (Ok(None), Ok(false)) => {}
            (Ok(Some(identity)), Ok(true)) => assert_eq!(
                identity.signing_identity().unwrap().sha256_fingerprint(),
                fingerprint,
                "{name}"
            ),
            (Err(error), Err(variable)) => {
                assert!(error.to_string().contains(variable), "{name}: {error}")
            }
            (got, expected) => panic!("{name}: got {got:?}, expected {expected:?}"),
        }
    }
}

#[test]
fn app_bundle_signs_nested_runtime_with_per_path_settings_and_main_executable_last() {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("Tokenizer Studio.app");
    let runtime = app.join("Contents/Resources/runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    fake_runtime_at(&runtime);
    std::fs::create_dir_all(app.join("Contents/MacOS")).unwrap();
    write_executable(&app.join("Contents/MacOS/tokenizer-studio"));
    std::fs::write(app.join("Contents/Info.plist"), INFO_PLIST).unwrap();
    let identity = Credentials::generate(work.path()).pem_identity();

    let started = Instant::now();
    let report = sign_app_bundle(&app, &identity, &fixed_time_options()).unwrap();
    eprintln!(
        "signed the bundle ({} Mach-O) in {:?}",
        report.files.len(),
        started.elapsed()
    );
    assert_eq!(
        report.files.last().unwrap().path,
        "Contents/MacOS/tokenizer-studio"
    );
    assert_eq!(
        report.files.last().unwrap().identifier,
        "dev.tokenizer-studio.app"
    );
    assert_eq!(report.files.len(), 4);

    let verification = verify_runtime(&app).unwrap();
    assert_eq!(verification.n_signed(), 4, "{verification:#?}");
    verification.ensure_signed_by(&identity).unwrap();

    let nested_python = signature_facts(&runtime.join("bin/python3.12"));
    assert!(
        nested_python[0].hardened_runtime,
        "per-path flags reach nested executables"
    );
    assert!(
        nested_python[0].entitlements.is_some(),
        "per-path entitlements reach the interpreter"
    );
    assert!(
        signature_facts(&runtime.join("lib/python3.12/lib-dynload/_universal.so"))
            .iter()
            .all(|slice| slice.hardened_runtime && slice.entitlements.is_none())
    );
    let main = signature_facts(&app.join("Contents/MacOS/tokenizer-studio"));
    assert!(main[0].hardened_runtime);
    assert_eq!(main[0].identifier, "dev.tokenizer-studio.app");

    // The seal lists the nested binaries, and the main executable seals the seal and Info.plist.
    let code_resources =
        std::fs::read_to_string(app.join("Contents/_CodeSignature/CodeResources")).unwrap();
    assert!(
        code_resources.contains("Resources/runtime/bin/python3.12"),
        "{code_resources}"
    );
    assert_eq!(
        main[0].info_plist_slot.as_deref(),
        Some(sha256_hex(&std::fs::read(app.join("Contents/Info.plist")).unwrap()).as_str())
    );
    assert_eq!(
        main[0].resources_slot.as_deref(),
        Some(sha256_hex(code_resources.as_bytes()).as_str())
    );
    // The resource seal: an edited, an added file and a changed Info.plist are each named.
    verify_app_bundle(&app)
        .unwrap()
        .ensure_signed_by(&identity)
        .unwrap();
    let os_py = runtime.join("lib/python3.12/os.py");
    let added = runtime.join("lib/python3.12/sitecustomize.py");
    let info_plist = app.join("Contents/Info.plist");
    let original_info = std::fs::read(&info_plist).unwrap();
    for (tampered, expected_path, expected_problem) in [
        (&os_py, &os_py, "modified after signing"),
        (&added, &added, "added after signing"),
        (
            &info_plist,
            &app.join("Contents/MacOS/tokenizer-studio"),
            "Contents/Info.plist was modified",
        ),
    ] {
        let before = std::fs::read(tampered).ok();
        // Info.plist must stay parseable: a trailing newline changes only its hash.
        let mut new_contents = before.clone().unwrap_or_default();
        new_contents.extend_from_slice(b"\n# import evil\n");
        if tampered == &info_plist {
            new_contents = [original_info.as_slice(), b"\n"].concat();
        }
        std::fs::write(tampered, new_contents).unwrap();
        let error = verify_app_bundle(&app)
            .unwrap()
            .ensure_signed_by(&identity)
            .unwrap_err();
        let Error::Verification { path, problems } = &error else {
            panic!("{error}")
        };
        assert_eq!(path, expected_path, "{error}");
        assert!(
            problems
                .iter()
                .any(|problem| problem.contains(expected_problem)),
            "{problems:?}"
        );
        match before {
            Some(bytes) => std::fs::write(tampered, bytes).unwrap(),
            None => std::fs::remove_file(tampered).unwrap(),
        }
    }
    assert_eq!(std::fs::read(&info_plist).unwrap(), original_info);
    verify_app_bundle(&app)
        .unwrap()
        .ensure_signed_by(&identity)
        .unwrap();

    // Signing happened in a staging copy that is gone now.
    let leftovers: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".macos-sign"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let not_an_app = sign_app_bundle(&runtime, &identity, &SignOptions::default()).unwrap_err();
    assert!(
        matches!(not_an_app, Error::NotAppBundle { .. }),
        "{not_an_app}"
    );
}

/// The path a release takes, end to end: a macOS runtime cross-assembled by the xtask on this
/// host (synthetic PBS archive whose interpreter is a real arm64 Mach-O, real darwin wheels from
/// the index), then signed and verified.
#[test]
fn cross_assembled_macos_runtime_signs_and_verifies_end_to_end() {
    if !slow_tests_enabled() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let runtime = cross_assemble_macos_runtime(work.path());
    eprintln!(
        "cross-assembled {} in {:?}",
        runtime.display(),
        started.elapsed()
    );
    let credentials = Credentials::generate(work.path());
    let identity = Identity::from_p12(&credentials.p12, P12_PASSWORD).unwrap();

    let started = Instant::now();
    let report = sign_runtime(&runtime, &identity, &fixed_time_options()).unwrap();
    eprintln!(
        "signed {} libraries and {} executables in {:?}",
        report.n_libraries(),
        report.n_executables(),
        started.elapsed()
    );
    assert_eq!(report.files.last().unwrap().path, "python/bin/python3.12");
    for package in ["tokenizers/", "pydantic_core/"] {
        assert!(
            report.files.iter().any(|file| file.path.contains(package)),
            "no {package} module signed"
        );
    }

    let started = Instant::now();
    let verification = verify_runtime(&runtime).unwrap();
    eprintln!(
        "verified {} files in {:?}",
        verification.files.len(),
        started.elapsed()
    );
    assert_eq!(
        verification.n_signed(),
        report.files.len(),
        "{verification:#?}"
    );
    verification.ensure_signed_by(&identity).unwrap();
    let started = Instant::now();
    for file in &verification.files {
        assert!(
            openssl_verifies(&runtime.join(&file.path), work.path()) >= 1,
            "{}",
            file.path
        );
    }
    eprintln!(
        "openssl cms agreed on every file in {:?}",
        started.elapsed()
    );

    let victim = runtime.join(
        &report
            .files
            .iter()
            .find(|file| file.path.contains("tokenizers/"))
            .unwrap()
            .path,
    );
    let offset = text_section_offset(&victim);
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[offset + 4096 + 3] ^= 0x20;
    std::fs::write(&victim, &bytes).unwrap();
    let error = verify_runtime(&runtime)
        .unwrap()
        .ensure_signed_by(&identity)
        .unwrap_err();
    assert!(
        matches!(&error, Error::Verification { path, .. } if *path == victim),
        "{error}"
    );
}

fn base64_encode(bytes: &[u8]) -> String {
    let output = std::process::Command::new("base64")
        .arg("-w0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(bytes)?;
            child.wait_with_output()
        })
        .unwrap();
    String::from_utf8(output.stdout).unwrap()
}

const INFO_PLIST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>CFBundleExecutable</key>
	<string>tokenizer-studio</string>
	<key>CFBundleIdentifier</key>
	<string>dev.tokenizer-studio.app</string>
	<key>CFBundleName</key>
	<string>Tokenizer Studio</string>
	<key>CFBundlePackageType</key>
	<string>APPL</string>
	<key>CFBundleShortVersionString</key>
	<string>0.1.0</string>
	<key>CFBundleVersion</key>
	<string>0.1.0</string>
</dict>
</plist>
"#;
