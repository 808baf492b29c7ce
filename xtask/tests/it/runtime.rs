//! The host runtime: reproducible, verifiable, relocatable.

use std::collections::BTreeSet;
use std::process::Command;

use crate::objects;
use crate::support::{
    build_host_runtime, built_host_runtime, host_python, host_slow_test, http_get, root, run,
    shared_cache, xtask,
};

/// Two clean builds of one commit in two places give the same archive and pack the same
/// object store, name for name and byte for byte; each store holds exactly the objects its
/// manifest promises, which is what a release of that runtime publishes.
#[test]
fn two_checkouts_of_one_commit_build_identical_archives_and_objects() {
    if !host_slow_test() {
        return;
    }
    // Both checkouts of the commit the test started at, even if the repository moves on
    // while the first one builds.
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(head.status.success());
    let commit = String::from_utf8(head.stdout).unwrap().trim().to_owned();
    let scratch = tempfile::tempdir().unwrap();
    let mut hashes = Vec::new();
    let mut stores = Vec::new();
    for name in ["first checkout", "second/much-longer-checkout-path"] {
        let checkout = scratch.path().join(name);
        std::fs::create_dir_all(checkout.parent().unwrap()).unwrap();
        let status = Command::new("git")
            .args(["clone", "--quiet", "--no-hardlinks"])
            .arg(root())
            .arg(&checkout)
            .status()
            .unwrap();
        assert!(status.success());
        let status = Command::new("git")
            .args(["checkout", "--quiet", "--detach", &commit])
            .current_dir(&checkout)
            .status()
            .unwrap();
        assert!(status.success());
        hashes.push(build_host_runtime(&checkout, &checkout.join("dist")));
        let manifest_bytes =
            std::fs::read(checkout.join("dist/runtime-linux-x64/manifest.json")).unwrap();
        let manifest = runtime_spec::Manifest::from_json(&manifest_bytes).unwrap();
        let manifest_sha256 = test_support::sha256_hex(&manifest_bytes).parse().unwrap();
        let started = std::time::Instant::now();
        let store = objects::store_listing(&checkout.join("target/runtime-build/objects"));
        let listed: BTreeSet<String> = store.keys().cloned().collect();
        assert_eq!(
            listed,
            objects::promised_paths(&manifest, &manifest_sha256),
            "{name}: a clean build's object store must hold exactly its manifest's objects"
        );
        eprintln!(
            "OBJECTS {name}: {} objects listed and hashed in {:.1} s",
            store.len(),
            started.elapsed().as_secs_f64()
        );
        stores.push(store);
    }
    assert_eq!(
        hashes[0], hashes[1],
        "the same commit built in two places must give the same archive"
    );
    let differing: Vec<&String> = stores[0]
        .iter()
        .filter(|(name, object)| stores[1].get(*name) != Some(object))
        .map(|(name, _)| name)
        .take(10)
        .collect();
    assert!(
        differing.is_empty() && stores[0].len() == stores[1].len(),
        "the same commit built in two places must pack the same objects; differing: {differing:?}"
    );
}

#[test]
fn verify_names_the_file_whose_byte_was_flipped() {
    let Some(host) = built_host_runtime() else {
        return;
    };
    let out = &host.out;
    let runtime = out.path().join("runtime-linux-x64");
    let (ok, _, stderr) = run(xtask(&shared_cache()).arg("verify").arg(&runtime));
    assert!(ok, "{stderr}");
    let victim = runtime.join("app/app/__init__.py");
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[0] ^= 0x01;
    // The runtime's files may be hard links into the build cache: replace, don't edit in place.
    std::fs::remove_file(&victim).unwrap();
    std::fs::write(&victim, bytes).unwrap();
    let (ok, _, stderr) = run(xtask(&shared_cache()).arg("verify").arg(&runtime));
    assert!(!ok, "verify must fail after a flipped byte");
    assert!(stderr.contains("app/app/__init__.py"), "{stderr}");
}

#[test]
fn runtime_starts_from_a_path_with_spaces_with_the_original_interpreter_hidden() {
    let Some(host) = built_host_runtime() else {
        return;
    };
    let out = &host.out;
    let moved = out.path().join("moved here/with spaces/runtime");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    let status = Command::new("cp")
        .arg("-a")
        .arg(out.path().join("runtime-linux-x64"))
        .arg(&moved)
        .status()
        .unwrap();
    assert!(status.success());
    let manifest =
        runtime_spec::Manifest::from_json(&std::fs::read(moved.join("manifest.json")).unwrap())
            .unwrap();
    // Hide the folder the interpreter was packed from (a local CPython's prefix), so a stale
    // RUNPATH to it would fail to load libpython.
    let host = host_python();
    let prefix = host.parent().unwrap().parent().unwrap().to_path_buf();
    let data = tempfile::tempdir().unwrap();
    let script = format!(
        "mount -t tmpfs none '{prefix}' && exec '{python}' -I -m app --port 0",
        prefix = prefix.display(),
        python = manifest.launch.program(&moved).display()
    );
    // As root a private mount namespace is enough; otherwise map ourselves to root in a user
    // namespace so the mount is allowed (GitHub runners are not root).
    let is_root = unsafe { libc::geteuid() } == 0;
    let namespace_args: &[&str] = if is_root { &["-m"] } else { &["-r", "-m"] };
    let mut child = Command::new("unshare")
        .args(namespace_args)
        .args(["--propagation", "private", "sh", "-c", &script])
        .current_dir(&moved)
        .env("TOKENIZER_STUDIO_DATA_DIR", data.path())
        .env("TOKENIZER_STUDIO_LAUNCH_ID", "relocated")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
    let ready = runtime_spec::launch::parse_ready_line("TOKENIZER_STUDIO_READY ", &line);
    if ready.is_none() {
        let _ = child.kill();
        let output = child.wait_with_output().unwrap();
        panic!(
            "no READY line ({line:?}); stderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let port = ready.unwrap().port;
    let body = http_get(port, "/health");
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert!(
        body.contains("\"launch_id\":\"relocated\"")
            || body.contains("\"launch_id\": \"relocated\""),
        "{body}"
    );
    assert!(
        status.success(),
        "the engine must exit cleanly on stdin EOF: {status}"
    );
}
