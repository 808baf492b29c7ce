//! `download_resumable` against a scripted loopback HTTP server: resuming, retries, stalls.

use std::path::Path;
use std::time::{Duration, Instant};

use runtime_archive::{
    download_resumable, part_file_for, Downloaded, Error, ExpectedFile, Progress, RetryPolicy,
};
use test_support::timeout;

use crate::support::{list_dir, sha256_hex, ScriptedServer, Seen, Step};

/// A few hundred KiB of non-repeating-looking bytes.
fn payload() -> Vec<u8> {
    (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn expected(body: &[u8]) -> ExpectedFile {
    ExpectedFile {
        size: body.len() as u64,
        sha256: sha256_hex(body),
    }
}

/// Tiny backoffs so retries cost milliseconds.
fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        attempts: 4,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        connect_timeout: timeout(Duration::from_secs(2)),
        read_timeout: timeout(Duration::from_secs(5)),
    }
}

fn fetch(
    url: &str,
    expected: &ExpectedFile,
    dest: &Path,
    policy: &RetryPolicy,
) -> (Result<Downloaded, Error>, Vec<Progress>) {
    let mut reports = Vec::new();
    let result = download_resumable(url, expected, dest, policy, &mut |progress| {
        reports.push(progress)
    });
    (result, reports)
}

fn ranges(seen: &[Seen]) -> Vec<Option<String>> {
    seen.iter().map(|request| request.range.clone()).collect()
}

#[test]
fn part_file_is_next_to_the_destination() {
    assert_eq!(
        part_file_for(Path::new("/data/runtimes/runtime-0.1.0.tar.zst")),
        Path::new("/data/runtimes/runtime-0.1.0.tar.zst.part")
    );
}

#[test]
fn full_download_with_progress_against_the_expected_size() {
    let body = payload();
    let server = ScriptedServer::start(body.clone(), vec![Step::Serve]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("cache/runtime.tar.zst");

    let (result, reports) = fetch(&server.url, &expected(&body), &dest, &fast_policy());
    let downloaded = result.unwrap();

    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(
        downloaded,
        Downloaded {
            path: dest.clone(),
            size: body.len() as u64,
            sha256: sha256_hex(&body),
        }
    );
    assert_eq!(list_dir(&dir.path().join("cache")), vec!["runtime.tar.zst"]);
    assert_eq!(ranges(&server.seen()), vec![None]);
    assert!(reports.len() >= 3, "{reports:?}");
    assert_eq!(reports.first().unwrap().downloaded, 0);
    assert_eq!(reports.last().unwrap().downloaded, body.len() as u64);
    assert!(reports
        .iter()
        .all(|report| report.total == Some(body.len() as u64)));
    assert!(reports
        .windows(2)
        .all(|pair| pair[0].downloaded <= pair[1].downloaded));
}

#[test]
fn dropped_connection_resumes_with_a_range() {
    let body = payload();
    let cut = body.len() / 3;
    let server = ScriptedServer::start(body.clone(), vec![Step::CutAfter(cut), Step::Serve]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("runtime.tar.zst");

    let (result, reports) = fetch(&server.url, &expected(&body), &dest, &fast_policy());
    result.unwrap();

    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(list_dir(dir.path()), vec!["runtime.tar.zst"]);
    let seen = server.seen();
    assert_eq!(
        ranges(&seen),
        vec![None, Some(format!("bytes={cut}-"))],
        "{seen:?}"
    );
    assert_eq!(seen[0].sent, cut);
    assert_eq!(seen[1].sent, body.len() - cut);
    assert!(seen[1].sent < body.len());
    // The second attempt reports the resumed bytes before its first new byte.
    assert!(
        reports.iter().any(|report| report.downloaded == cut as u64),
        "{reports:?}"
    );
    assert_eq!(reports.last().unwrap().downloaded, body.len() as u64);
}

#[test]
fn part_left_by_a_previous_process_is_resumed() {
    let body = payload();
    let half = body.len() / 2;
    let server = ScriptedServer::start(body.clone(), vec![Step::Serve]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("runtime.tar.zst");
    std::fs::write(part_file_for(&dest), &body[..half]).unwrap();

    let (result, reports) = fetch(&server.url, &expected(&body), &dest, &fast_policy());
    result.unwrap();

    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(list_dir(dir.path()), vec!["runtime.tar.zst"]);
    let seen = server.seen();
    assert_eq!(ranges(&seen), vec![Some(format!("bytes={half}-"))]);
    assert_eq!(seen[0].sent, body.len() - half);
    assert_eq!(reports[0].downloaded, half as u64);
}

#[test]
fn server_ignoring_the_range_still_gives_the_right_file() {
    let body = payload();
    let half = body.len() / 2;
    let server = ScriptedServer::start(body.clone(), vec![Step::IgnoreRange]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("runtime.tar.zst");
    std::fs::write(part_file_for(&dest), &body[..half]).unwrap();

    let (result, reports) = fetch(&server.url, &expected(&body), &dest, &fast_policy());
    result.unwrap();

    // Appending the 200's full body would have made a 450 000-byte file.
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(list_dir(dir.path()), vec!["runtime.tar.zst"]);
    assert_eq!(ranges(&server.seen()), vec![Some(format!("bytes={half}-"))]);
    // Started over: progress went back to 0 before counting up again.
    assert_eq!(reports[0].downloaded, half as u64);
    assert_eq!(reports[1].downloaded, 0);
}

#[test]
fn corrupted_byte_is_a_checksum_mismatch_and_leaves_nothing() {
    let body = payload();
    let mut served = body.clone();
    served[123_456] ^= 0x40;
    let server = ScriptedServer::start(served.clone(), vec![Step::Serve]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("runtime.tar.zst");

    let (result, _) = fetch(&server.url, &expected(&body), &dest, &fast_policy());
    let error = result.unwrap_err();

    match &error {
        Error::ChecksumMismatch {
            url,
            expected,
            actual,
        } => {
            assert_eq!(url, &server.url);
            assert_eq!(expected, &sha256_hex(&body));
            assert_eq!(actual, &sha256_hex(&served));
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(!error.is_network());
    assert_eq!(list_dir(dir.path()), Vec::<String>::new());
    // Not retried: the server would serve the same bytes again.
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn server_errors_are_retried_until_it_recovers() {
    let body = payload();
    let server = ScriptedServer::start(
        body.clone(),
        vec![Step::Status(500), Step::Status(503), Step::Serve],
    );
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("runtime.tar.zst");

    let (result, _) = fetch(&server.url, &expected(&body), &dest, &fast_policy());
    result.unwrap();

    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(server.seen().len(), 3);
    assert_eq!(list_dir(dir.path()), vec!["runtime.tar.zst"]);
}

#[test]
fn persistent_server_error_gives_up_after_every_attempt() {
    let body = payload();
    let server = ScriptedServer::start(body.clone(), vec![Step::Status(500)]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("runtime.tar.zst");
    let policy = RetryPolicy {
        attempts: 5,
        ..fast_policy()
    };

    let (result, _) = fetch(&server.url, &expected(&body), &dest, &policy);
    let error = result.unwrap_err();

    assert_eq!(server.seen().len(), 5);
    match &error {
        Error::RetriesExhausted {
            attempts,
            partial_bytes,
            last,
            ..
        } => {
            assert_eq!(*attempts, 5);
            assert_eq!(*partial_bytes, 0);
            assert!(
                matches!(**last, Error::HttpStatus { status: 500, .. }),
                "{last:?}"
            );
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(error.is_network());
    let message = error.to_string();
    assert!(message.contains("after 5 attempts"), "{message}");
    assert!(message.contains(&server.url), "{message}");
    // No body ever arrived, so no `.part` pretends a download is under way.
    assert_eq!(list_dir(dir.path()), Vec::<String>::new());
}

#[test]
fn exhausted_retries_keep_the_part_for_the_next_launch() {
    let body = payload();
    let cut = body.len() / 4;
    let server = ScriptedServer::start(body.clone(), vec![Step::CutAfter(cut), Step::Status(503)]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("runtime.tar.zst");
    let policy = RetryPolicy {
        attempts: 3,
        ..fast_policy()
    };

    let (result, _) = fetch(&server.url, &expected(&body), &dest, &policy);
    let error = result.unwrap_err();

    assert!(
        matches!(
            error,
            Error::RetriesExhausted { attempts: 3, partial_bytes, .. } if partial_bytes == cut as u64
        ),
        "{error:?}"
    );
    assert!(error.is_network());
    assert_eq!(std::fs::read(part_file_for(&dest)).unwrap(), &body[..cut]);
    assert!(!dest.exists());
    assert_eq!(server.seen().len(), 3);
}

#[test]
fn not_found_fails_after_exactly_one_request() {
    let body = payload();
    let server = ScriptedServer::start(body.clone(), vec![Step::Status(404)]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("runtime.tar.zst");

    let (result, _) = fetch(&server.url, &expected(&body), &dest, &fast_policy());
    let error = result.unwrap_err();

    assert!(
        matches!(error, Error::HttpStatus { status: 404, .. }),
        "{error:?}"
    );
    assert!(!error.is_network());
    assert_eq!(server.seen().len(), 1);
    assert_eq!(list_dir(dir.path()), Vec::<String>::new());
}

#[test]
fn stalled_body_times_out_and_resumes() {
    let body = payload();
    let half = body.len() / 2;
    let server = ScriptedServer::start(
        body.clone(),
        vec![
            Step::StallAfter(half, timeout(Duration::from_secs(5))),
            Step::Serve,
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("runtime.tar.zst");
    let policy = RetryPolicy {
        read_timeout: timeout(Duration::from_millis(300)),
        ..fast_policy()
    };

    let started = Instant::now();
    let (result, _) = fetch(&server.url, &expected(&body), &dest, &policy);
    result.unwrap();

    assert!(
        started.elapsed() < timeout(Duration::from_secs(4)),
        "took {:?}: the stall was not detected",
        started.elapsed()
    );
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    let seen = server.seen();
    assert_eq!(
        ranges(&seen),
        vec![None, Some(format!("bytes={half}-"))],
        "{seen:?}"
    );
}

/// The stall timeout bounds each read, not the whole transfer: a body that keeps coming,
/// slowly, must not be cut off (a total-request timeout would fail this).
#[test]
fn slow_but_steady_body_is_not_a_stall() {
    let body = payload();
    let server = ScriptedServer::start(
        body.clone(),
        vec![Step::Slow(8, Duration::from_millis(100))],
    );
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("runtime.tar.zst");
    // The pauses stay 100 ms at any scale; only the read timeout above them grows.
    let policy = RetryPolicy {
        read_timeout: timeout(Duration::from_millis(300)),
        ..fast_policy()
    };

    let started = Instant::now();
    let (result, _) = fetch(&server.url, &expected(&body), &dest, &policy);
    result.unwrap();

    assert!(started.elapsed() > Duration::from_millis(600));
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn body_longer_than_expected_is_refused_and_leaves_nothing() {
    let body = payload();
    let mut longer = body.clone();
    longer.extend_from_slice(b"trailing bytes the index does not know about");
    for (name, step) in [("announced", Step::Serve), ("unannounced", Step::NoLength)] {
        let server = ScriptedServer::start(longer.clone(), vec![step]);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("runtime.tar.zst");

        let (result, _) = fetch(&server.url, &expected(&body), &dest, &fast_policy());
        let error = result.unwrap_err();

        match &error {
            Error::WrongSize {
                url,
                expected,
                received,
            } => {
                assert_eq!(url, &server.url, "{name}");
                assert_eq!(*expected, body.len() as u64, "{name}");
                assert!(*received > body.len() as u64, "{name}: {received}");
            }
            other => panic!("{name}: unexpected error {other:?}"),
        }
        assert!(!error.is_network(), "{name}");
        let message = error.to_string();
        assert!(message.contains(&body.len().to_string()), "{message}");
        assert_eq!(list_dir(dir.path()), Vec::<String>::new(), "{name}");
        assert_eq!(server.seen().len(), 1, "{name}");
    }
}

#[test]
fn complete_destination_makes_no_request() {
    let body = payload();
    let server = ScriptedServer::start(body.clone(), vec![Step::Serve]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("runtime.tar.zst");
    std::fs::write(&dest, &body).unwrap();

    let (result, reports) = fetch(&server.url, &expected(&body), &dest, &fast_policy());
    assert_eq!(result.unwrap().sha256, sha256_hex(&body));

    assert!(server.seen().is_empty());
    assert_eq!(
        reports,
        vec![Progress {
            downloaded: body.len() as u64,
            total: Some(body.len() as u64)
        }]
    );
}

#[test]
fn wrong_destination_file_is_replaced() {
    let body = payload();
    let server = ScriptedServer::start(body.clone(), vec![Step::Serve]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("runtime.tar.zst");
    let mut stale = body.clone();
    stale[0] ^= 1;
    std::fs::write(&dest, &stale).unwrap();

    let (result, _) = fetch(&server.url, &expected(&body), &dest, &fast_policy());
    result.unwrap();

    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn part_longer_than_expected_is_dropped() {
    let body = payload();
    let server = ScriptedServer::start(body.clone(), vec![Step::Serve]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("runtime.tar.zst");
    std::fs::write(part_file_for(&dest), vec![7u8; body.len() + 10]).unwrap();

    let (result, _) = fetch(&server.url, &expected(&body), &dest, &fast_policy());
    result.unwrap();

    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(ranges(&server.seen()), vec![None]);
    assert_eq!(list_dir(dir.path()), vec!["runtime.tar.zst"]);
}

#[test]
fn range_not_satisfiable_starts_over() {
    let body = payload();
    let half = body.len() / 2;
    let server = ScriptedServer::start(body.clone(), vec![Step::Status(416), Step::Serve]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("runtime.tar.zst");
    std::fs::write(part_file_for(&dest), &body[..half]).unwrap();

    let (result, _) = fetch(&server.url, &expected(&body), &dest, &fast_policy());
    result.unwrap();

    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(
        ranges(&server.seen()),
        vec![Some(format!("bytes={half}-")), None]
    );
}

/// A `.part` from an earlier run whose bytes are not a prefix of this file (damaged on disk,
/// or an older release under the same name) costs one fresh download, not a false alarm.
#[test]
fn foreign_part_from_an_earlier_run_is_downloaded_again() {
    let body = payload();
    let half = body.len() / 2;
    let server = ScriptedServer::start(body.clone(), vec![Step::Serve]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("runtime.tar.zst");
    std::fs::write(part_file_for(&dest), vec![0u8; half]).unwrap();

    let (result, _) = fetch(&server.url, &expected(&body), &dest, &fast_policy());
    result.unwrap();

    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(
        ranges(&server.seen()),
        vec![Some(format!("bytes={half}-")), None]
    );
    assert_eq!(list_dir(dir.path()), vec!["runtime.tar.zst"]);
}

#[test]
fn refused_connection_is_retried_then_reported_as_network() {
    let body = payload();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("runtime.tar.zst");
    let url = crate::support::refused_url("/file.bin");

    let (result, reports) = fetch(&url, &expected(&body), &dest, &fast_policy());
    let error = result.unwrap_err();

    assert!(
        matches!(&error, Error::RetriesExhausted { attempts: 4, last, .. } if matches!(**last, Error::Network { .. })),
        "{error:?}"
    );
    assert!(error.is_network());
    assert!(error.to_string().contains("after 4 attempts"), "{error}");
    // Reported before each attempt.
    assert_eq!(reports.len(), 4);
    assert_eq!(list_dir(dir.path()), Vec::<String>::new());
}

#[test]
fn file_url_and_plain_path_are_copied() {
    let dir = tempfile::tempdir().unwrap();
    let body = payload();
    let source = dir.path().join("mirror/runtime+1.tar.zst");
    std::fs::create_dir_all(source.parent().unwrap()).unwrap();
    std::fs::write(&source, &body).unwrap();
    let file_url = format!(
        "file://{}",
        source.display().to_string().replace('+', "%2B")
    );
    for (name, url) in [
        ("file-url", file_url),
        ("plain-path", source.display().to_string()),
    ] {
        let dest = dir.path().join(name).join("runtime.tar.zst");
        let (result, reports) = fetch(&url, &expected(&body), &dest, &fast_policy());
        result.unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(std::fs::read(&dest).unwrap(), body, "{name}");
        assert_eq!(list_dir(&dir.path().join(name)), vec!["runtime.tar.zst"]);
        assert_eq!(
            reports.last(),
            Some(&Progress {
                downloaded: body.len() as u64,
                total: Some(body.len() as u64)
            })
        );
    }

    // A local file of another size is refused before copying.
    let dest = dir.path().join("short/runtime.tar.zst");
    let error = download_resumable(
        &source.display().to_string(),
        &ExpectedFile {
            size: body.len() as u64 + 1,
            sha256: sha256_hex(&body),
        },
        &dest,
        &fast_policy(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(error, Error::WrongSize { .. }), "{error:?}");
    assert!(!dest.exists());
}

#[test]
fn malformed_expected_hash_is_refused_before_any_request() {
    let body = payload();
    let server = ScriptedServer::start(body.clone(), vec![Step::Serve]);
    let dir = tempfile::tempdir().unwrap();
    let error = download_resumable(
        &server.url,
        &ExpectedFile {
            size: body.len() as u64,
            sha256: "abc".to_owned(),
        },
        &dir.path().join("f"),
        &fast_policy(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(error, Error::InvalidSha256 { .. }), "{error:?}");
    assert!(server.seen().is_empty());
}
