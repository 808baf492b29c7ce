//! `download_verified` against a real loopback HTTP server and local files.

use runtime_archive::{download_verified, Error, Progress};

use crate::support::{list_dir, refused_url, sha256_hex, Server, Step};

fn payload() -> Vec<u8> {
    // Several chunks' worth, so progress is reported more than once.
    (0..700_000u32).map(|i| (i % 251) as u8).collect()
}

#[test]
fn http_good_file_lands_verified_with_progress() {
    let body = payload();
    let server = Server::with_routes([("/good.tar.gz", body.clone())]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("cache/good.tar.gz");
    let mut reports: Vec<Progress> = Vec::new();

    let downloaded = download_verified(
        &server.url("/good.tar.gz"),
        &sha256_hex(&body),
        &dest,
        &mut |progress| reports.push(progress),
    )
    .unwrap();

    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(downloaded.size, body.len() as u64);
    assert_eq!(downloaded.sha256, sha256_hex(&body));
    assert_eq!(list_dir(&dir.path().join("cache")), vec!["good.tar.gz"]);
    assert_eq!(reports.first().unwrap().downloaded, 0);
    let last = reports.last().unwrap();
    assert_eq!(last.downloaded, body.len() as u64);
    assert_eq!(last.total, Some(body.len() as u64));
    assert!(reports
        .windows(2)
        .all(|pair| pair[0].downloaded <= pair[1].downloaded));
}

#[test]
fn uppercase_expected_hash_is_accepted() {
    let body = b"hello".to_vec();
    let server = Server::with_routes([("/x", body.clone())]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("x");
    download_verified(
        &server.url("/x"),
        &sha256_hex(&body).to_uppercase(),
        &dest,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
}

/// Every failure must leave the destination folder exactly as it was: no file, no temp file.
#[test]
fn failures_leave_nothing_and_are_classified() {
    let body = payload();
    let good_sha = sha256_hex(&body);
    let server = Server::with_routes([
        ("/good", body.clone()),
        ("/wrong", b"not the pinned bytes".to_vec()),
        ("/truncated", body.clone()),
    ]);
    // The whole length announced, the connection closed after 1000 bytes.
    server.script("/truncated", vec![Step::CutAfter(1000)]);
    server.script("/error", vec![Step::Status(500)]);
    server.script("/busy", vec![Step::Status(503)]);
    let dir = tempfile::tempdir().unwrap();
    let missing_file = dir.path().join("does-not-exist.tar.gz");
    let missing_file_url = format!("file://{}", missing_file.display());

    struct Case {
        name: &'static str,
        url: String,
        sha: String,
        is_network: bool,
        check: fn(&Error) -> bool,
    }
    for case in [
        Case {
            name: "checksum mismatch",
            url: server.url("/wrong"),
            sha: good_sha.clone(),
            is_network: false,
            check: |error| matches!(error, Error::ChecksumMismatch { .. }),
        },
        Case {
            name: "truncated body",
            url: server.url("/truncated"),
            sha: good_sha.clone(),
            is_network: true,
            check: |error| matches!(error, Error::Network { .. } | Error::Truncated { .. }),
        },
        Case {
            name: "404",
            url: server.url("/missing"),
            sha: good_sha.clone(),
            is_network: false,
            check: |error| matches!(error, Error::HttpStatus { status: 404, .. }),
        },
        Case {
            name: "500",
            url: server.url("/error"),
            sha: good_sha.clone(),
            is_network: true,
            check: |error| matches!(error, Error::HttpStatus { status: 500, .. }),
        },
        Case {
            name: "503",
            url: server.url("/busy"),
            sha: good_sha.clone(),
            is_network: true,
            check: |error| matches!(error, Error::HttpStatus { status: 503, .. }),
        },
        Case {
            name: "connection refused",
            url: refused_url("/file.bin"),
            sha: good_sha.clone(),
            is_network: true,
            check: |error| matches!(error, Error::Network { .. }),
        },
        Case {
            name: "missing file:// source",
            url: missing_file_url.clone(),
            sha: good_sha.clone(),
            is_network: false,
            check: |error| matches!(error, Error::LocalSource { .. }),
        },
        Case {
            name: "malformed expected hash",
            url: server.url("/good"),
            sha: "abc".to_owned(),
            is_network: false,
            check: |error| matches!(error, Error::InvalidSha256 { .. }),
        },
        Case {
            name: "unsupported scheme",
            url: "ftp://example.invalid/x".to_owned(),
            sha: good_sha.clone(),
            is_network: false,
            check: |error| matches!(error, Error::InvalidUrl { .. }),
        },
    ] {
        let dest_dir = dir.path().join("dest");
        std::fs::create_dir_all(&dest_dir).unwrap();
        let dest = dest_dir.join("python.tar.gz");
        let error =
            download_verified(&case.url, &case.sha, &dest, &mut |_| {}).expect_err(case.name);
        assert!(
            (case.check)(&error),
            "{}: unexpected error {error:?}",
            case.name
        );
        assert_eq!(
            error.is_network(),
            case.is_network,
            "{}: {error}",
            case.name
        );
        let message = error.to_string();
        eprintln!("{}: {message}", case.name);
        assert!(
            message.contains(&case.url) || case.name == "malformed expected hash",
            "{}: {message}",
            case.name
        );
        assert!(!dest.exists(), "{}: destination was written", case.name);
        assert_eq!(
            list_dir(&dest_dir),
            Vec::<String>::new(),
            "{}: leftovers",
            case.name
        );
    }
}

#[test]
fn checksum_mismatch_names_url_expected_and_actual() {
    let server = Server::with_routes([("/wrong", b"evil".to_vec())]);
    let dir = tempfile::tempdir().unwrap();
    let expected = sha256_hex(b"good");
    let error = download_verified(
        &server.url("/wrong"),
        &expected,
        &dir.path().join("f"),
        &mut |_| {},
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(message.contains(&server.url("/wrong")), "{message}");
    assert!(message.contains(&expected), "{message}");
    assert!(message.contains(&sha256_hex(b"evil")), "{message}");
    assert!(!error.is_network());
}

#[test]
fn mismatch_keeps_an_existing_good_file() {
    // A failed update must not clobber what is already in the cache.
    let server = Server::with_routes([("/wrong", b"evil".to_vec())]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("f");
    std::fs::write(&dest, b"previous").unwrap();
    download_verified(
        &server.url("/wrong"),
        &sha256_hex(b"good"),
        &dest,
        &mut |_| {},
    )
    .unwrap_err();
    assert_eq!(std::fs::read(&dest).unwrap(), b"previous");
    assert_eq!(list_dir(dir.path()), vec!["f"]);
}

#[test]
fn file_url_and_plain_path() {
    let dir = tempfile::tempdir().unwrap();
    let body = payload();
    // `+` percent-encoded, as PBS asset URLs have it.
    let source = dir.path().join("mirror/cpython-3.12.14+20260814.tar.gz");
    std::fs::create_dir_all(source.parent().unwrap()).unwrap();
    std::fs::write(&source, &body).unwrap();
    let file_url = format!(
        "file://{}",
        source.display().to_string().replace('+', "%2B")
    );

    for (name, url) in [
        ("file url", file_url),
        ("plain path", source.display().to_string()),
    ] {
        let dest = dir.path().join(format!("out/{}", name.replace(' ', "-")));
        let mut last = None;
        download_verified(&url, &sha256_hex(&body), &dest, &mut |progress| {
            last = Some(progress)
        })
        .unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(std::fs::read(&dest).unwrap(), body, "{name}");
        assert_eq!(
            last,
            Some(Progress {
                downloaded: body.len() as u64,
                total: Some(body.len() as u64)
            }),
            "{name}"
        );
    }
}
