//! The torch profile's runtime variants: locks through an extra index (a stand-in torch wheel
//! on a loopback package index), cross-target torch runtimes, and the host CUDA runtime
//! started from a path with spaces (`docs/decisions/0018-torch-profile-variants.md`).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use runtime_spec::{Accelerator, Manifest, Profile, Target};

use crate::pbs;
use crate::support::{files_under, host_python, host_slow_test, root, run, shared_cache, xtask};
use test_support::http::Server;

/// The switch that runs the host torch runtime test (a ≈ 5.7 GB build: the Linux workflow's
/// torch step sets it; `cargo xtask test` records the skip). The cross-target torch runtimes
/// (≈ 30 s each here) run in every slow run.
const TORCH_TESTS_ENV: &str = runtime_spec::env::TORCH_TESTS;

/// A PEP 503 "simple" index of one folder on 127.0.0.1: `/simple/<name>/index.html` is served
/// as HTML (uv refuses another content type), every other file as bytes; unknown paths 404.
struct SimpleIndex {
    port: u16,
    _dir: tempfile::TempDir,
}

impl SimpleIndex {
    fn serve(dir: tempfile::TempDir) -> SimpleIndex {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let base = dir.path().to_path_buf();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let base = base.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut request_line = String::new();
                    let _ = reader.read_line(&mut request_line);
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|read| read > 2) {
                        line.clear();
                    }
                    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
                    let path = path.split(['?', '#']).next().unwrap_or("/");
                    let mut file = base.join(path.trim_start_matches('/'));
                    if path.ends_with('/') {
                        file = file.join("index.html");
                    }
                    let safe = !path.contains("..");
                    let mut stream = stream;
                    match std::fs::read(&file).ok().filter(|_| safe) {
                        Some(body) => {
                            let kind = if file.extension().is_some_and(|ext| ext == "html") {
                                "text/html"
                            } else {
                                "application/octet-stream"
                            };
                            let _ = write!(
                                stream,
                                "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                body.len()
                            );
                            let _ = stream.write_all(&body);
                        }
                        None => {
                            let _ = write!(
                                stream,
                                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            );
                        }
                    }
                });
            }
        });
        SimpleIndex { port, _dir: dir }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/simple", self.port)
    }
}

/// A real, minimal wheel named `torch` (pure Python, `py3-none-any`) written with the host
/// CPython's zipfile per the wheel spec; returns its file name and sha256.
fn stand_in_torch_wheel(dir: &Path, version: &str) -> (String, String) {
    let name = format!("torch-{version}-py3-none-any.whl");
    let script = r#"
import base64, hashlib, sys, zipfile
path, version = sys.argv[1], sys.argv[2]
info = f"torch-{version}.dist-info"
files = {
    "torch/__init__.py": f"__version__ = '{version}'\n",
    f"{info}/METADATA": f"Metadata-Version: 2.1\nName: torch\nVersion: {version}\nSummary: stand-in torch for a lock test\n",
    f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tokenizer-studio-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = []
for name, text in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
    record.append(f"{name},sha256={digest},{len(text.encode())}")
record.append(f"{info}/RECORD,,")
files[f"{info}/RECORD"] = "\n".join(record) + "\n"
with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
    for name, text in files.items():
        wheel.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), text)
"#;
    let output = Command::new(host_python())
        .args(["-I", "-c", script])
        .arg(dir.join(&name))
        .arg(version)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let sha256 = test_support::sha256_hex(&std::fs::read(dir.join(&name)).unwrap());
    (name, sha256)
}

/// A project root whose engine declares no dependencies and a `torch` group of `torch_spec`,
/// and a loopback index serving a stand-in torch 99.0.0.
fn stand_in_setup(torch_spec: &str) -> (tempfile::TempDir, SimpleIndex, String) {
    let scratch = tempfile::tempdir().unwrap();
    let api = scratch.path().join("apps/tokenizer-studio/api");
    std::fs::create_dir_all(&api).unwrap();
    std::fs::copy(
        root().join("apps/tokenizer-studio/app.toml"),
        scratch.path().join("apps/tokenizer-studio/app.toml"),
    )
    .unwrap();
    std::fs::write(
        api.join("pyproject.toml"),
        format!(
            "[project]\nname = \"tokenizer-studio-api\"\nversion = \"0.1.0\"\nrequires-python = \">=3.12\"\ndependencies = []\n\n[project.optional-dependencies]\ntorch = [\"{torch_spec}\"]\n"
        ),
    )
    .unwrap();
    let index_dir = tempfile::tempdir().unwrap();
    let files = index_dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let (wheel, sha256) = stand_in_torch_wheel(&files, "99.0.0");
    let project = index_dir.path().join("simple/torch");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("index.html"),
        format!(
            "<!DOCTYPE html>\n<html><body>\n<a href=\"../../files/{wheel}#sha256={sha256}\">{wheel}</a>\n</body></html>\n"
        ),
    )
    .unwrap();
    (scratch, SimpleIndex::serve(index_dir), sha256)
}

#[test]
fn stand_in_torch_wheel_is_locked_from_a_loopback_extra_index_without_its_url() {
    let (scratch, index, sha256) = stand_in_setup("torch>=2.11");
    // Once through the flag, once through the variant's variable.
    for through_variable in [false, true] {
        let lock = scratch
            .path()
            .join("apps/tokenizer-studio/lockfiles/linux-x64-torch-cpu.txt");
        let _ = std::fs::remove_file(&lock);
        let mut command = xtask(&shared_cache());
        command.env("XTASK_PROJECT_ROOT", scratch.path()).args([
            "lock",
            "--variant",
            "linux-x64-torch-cpu",
        ]);
        if through_variable {
            command.env(
                runtime_spec::env::EXTRA_INDEX_LINUX_X64_TORCH_CPU,
                index.url(),
            );
        } else {
            command.args([
                "--extra-index",
                &format!("linux-x64-torch-cpu={}", index.url()),
            ]);
        }
        let (ok, _, stderr) = run(&mut command);
        assert!(ok, "{stderr}");
        let text = std::fs::read_to_string(&lock).unwrap();
        assert!(text.contains("torch==99.0.0"), "{text}");
        assert!(text.contains(&format!("--hash=sha256:{sha256}")), "{text}");
        assert!(!text.contains("://"), "{text}");
        assert!(!text.contains("127.0.0.1"), "{text}");
        assert!(text.contains("with an extra package index"), "{text}");
        assert!(text.contains("# inputs-sha256: "), "{text}");
        assert!(!stderr.contains("127.0.0.1"), "{stderr}");
    }
}

#[test]
fn stand_in_torch_wheel_that_cannot_satisfy_the_group_fails_naming_package_and_variant() {
    let (scratch, index, _) = stand_in_setup("torch>=100");
    let (ok, _, stderr) = run(xtask(&shared_cache())
        .env("XTASK_PROJECT_ROOT", scratch.path())
        .args(["lock", "--variant", "linux-x64-torch-cpu", "--extra-index"])
        .arg(format!("linux-x64-torch-cpu={}", index.url())));
    assert!(!ok);
    for expected in [
        "could not resolve the linux-x64-torch-cpu lock",
        "x86_64-unknown-linux-gnu",
        "package `torch`",
        "torch>=100",
    ] {
        assert!(stderr.contains(expected), "{expected:?} missing:\n{stderr}");
    }
    assert!(
        !stderr.contains("127.0.0.1"),
        "the index URL leaked:\n{stderr}"
    );
    // Without an index the variant is refused before uv runs, naming what to set.
    let (ok, _, stderr) = run(xtask(&shared_cache())
        .env("XTASK_PROJECT_ROOT", scratch.path())
        .env_remove(runtime_spec::env::EXTRA_INDEX_LINUX_X64_TORCH_CPU)
        .args(["lock", "--variant", "linux-x64-torch-cpu"]));
    assert!(!ok);
    assert!(
        stderr.contains(runtime_spec::env::EXTRA_INDEX_LINUX_X64_TORCH_CPU),
        "{stderr}"
    );
}

/// The torch runtime trims by rule only what nothing loads; the engine must therefore never
/// compile code at run time (the proof of the headers rule in `wheels::TORCH_TRIM_RULES`).
#[test]
fn the_engine_never_compiles_code_at_run_time() {
    let packages = [
        "apps/tokenizer-studio/api/app",
        "apps/tokenizer-studio/api/tokenizer",
        "apps/tokenizer-studio/api/templates",
        "enginekit/enginecore",
        "enginekit/jobrunner",
    ];
    for dir in packages {
        for path in files_under(&root().join(dir)) {
            if path.extension().is_none_or(|ext| ext != "py") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for needle in [
                "torch.compile",
                "cpp_extension",
                "import triton",
                "torch.jit",
            ] {
                assert!(
                    !text.contains(needle),
                    "{} uses {needle}: the torch trim rules assume the engine compiles nothing (docs/decisions/0018-torch-profile-variants.md)",
                    path.display()
                );
            }
        }
    }
}

/// Numbers of one assembled variant, printed for ARCHITECTURE.md's table.
fn report(variant: &str, runtime: &Path, archive: &Path, seconds: f64) -> Manifest {
    let manifest =
        Manifest::from_json(&std::fs::read(runtime.join("manifest.json")).unwrap()).unwrap();
    eprintln!(
        "MEASURED {variant}: unpacked {} bytes, archive {} bytes, {} files, assembled in {seconds:.1} s",
        manifest.unpacked_size(),
        std::fs::metadata(archive).unwrap().len(),
        manifest.files.len()
    );
    manifest
}

/// A foreign torch runtime from a synthetic PBS archive on loopback with the real torch wheels
/// of the target (zstd level 9, the release level, so the archive size is the real one).
/// `runtime --profile torch`, or `release --profile base,torch` (both variants, one signed
/// index) when `release` is set.
fn foreign_torch_runtime(target: Target, release: bool) -> (tempfile::TempDir, PathBuf, Manifest) {
    let (archive, sha256) = pbs::synthetic_pbs(target);
    let server = Server::with_routes([("/pbs.tar.gz", archive)]);
    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (command, profiles) = if release {
        ("release", "base,torch")
    } else {
        ("runtime", "torch")
    };
    let (ok, stdout, stderr) = run(xtask(&shared_cache())
        .args([command, "--target", target.name(), "--profile", profiles])
        .args(["--python-archive", &server.url("/pbs.tar.gz")])
        .args(["--python-sha256", &sha256, "--out-dir"])
        .arg(out.path()));
    assert!(ok, "{target} torch build failed:\n{stderr}");
    let seconds = started.elapsed().as_secs_f64();
    let variant = runtime_spec::Variant::parse(target, Profile::Torch, None).unwrap();
    let summary = if release {
        format!("release 0.1.0 {target} (dev, thin bundle, 2 variants)")
    } else {
        format!("0.1.0 {variant}")
    };
    assert!(stdout.contains(&summary), "{stdout}");
    eprintln!("{stderr}");
    let runtime = out.path().join(format!("runtime-{variant}"));
    let archive = out
        .path()
        .join(format!("tokenizer-studio-runtime-0.1.0-{variant}.tar.zst"));
    let manifest = report(&variant.name(), &runtime, &archive, seconds);
    assert_eq!(manifest.profile, Profile::Torch);
    assert_eq!(manifest.accelerator, variant.accelerator);
    let (ok, _, stderr) = run(xtask(&shared_cache()).arg("verify").arg(&archive));
    assert!(ok, "{stderr}");
    let site = runtime_spec::launch::join_relative(&runtime, target.site_packages());
    assert!(site.join("torch/__init__.py").is_file());
    assert!(
        !site.join("torch/include").exists(),
        "headers must be trimmed"
    );
    for path in files_under(&site) {
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(
            !name.ends_with(".a") && !name.ends_with(".lib"),
            "{} should be trimmed",
            path.display()
        );
    }
    (out, runtime, manifest)
}

#[test]
fn windows_x64_torch_runtime_assembles_here_with_torch_cpu_wheels() {
    if !test_support::slow_tests_enabled() {
        return;
    }
    // Through the release: both variants in one signed index.
    let (out, runtime, manifest) = foreign_torch_runtime(Target::WindowsX64, true);
    let release = out.path().join("0.1.0");
    let index: runtime_spec::ReleaseIndex = runtime_spec::ReleaseIndex::from_json(
        &std::fs::read(release.join("runtime-dev.json")).unwrap(),
    )
    .unwrap();
    let variants: Vec<String> = index
        .entries(Target::WindowsX64)
        .iter()
        .map(|entry| entry.variant(Target::WindowsX64).name())
        .collect();
    assert_eq!(variants, ["windows-x64", "windows-x64-torch-cpu"]);
    let torch_entry = &index.entries(Target::WindowsX64)[1];
    assert_eq!(
        torch_entry.requirements,
        manifest.requirements.clone().unwrap()
    );
    assert_eq!(torch_entry.unpacked_size, manifest.unpacked_size());
    for variant in &variants {
        let archive = release.join(format!("tokenizer-studio-runtime-0.1.0-{variant}.tar.zst"));
        assert_eq!(
            std::fs::metadata(&archive).unwrap().len(),
            index
                .entries(Target::WindowsX64)
                .iter()
                .find(|entry| entry.url == archive.file_name().unwrap().to_string_lossy())
                .unwrap()
                .size
        );
        assert!(release
            .join(format!("tokenizer-studio-runtime-0.1.0-{variant}.cdx.json"))
            .is_file());
    }
    let signature = std::fs::read_to_string(release.join("runtime-dev.json.minisig")).unwrap();
    let public_key = std::fs::read_to_string(release.join("minisign.pub")).unwrap();
    release_meta::verify(
        &std::fs::read(release.join("runtime-dev.json")).unwrap(),
        &signature,
        &public_key,
    )
    .expect("the index of both variants is signed");
    // One object store for both variants: what they share (the interpreter, the engine, the
    // base packages) is published once.
    let published = crate::objects::check_release_objects(out.path(), Target::WindowsX64);
    assert!(published.shared > 1000, "{published:?}");
    let site = runtime_spec::launch::join_relative(&runtime, Target::WindowsX64.site_packages());
    let dll = site.join("torch/lib/torch_cpu.dll");
    let head = std::fs::read(&dll).unwrap();
    assert!(head.starts_with(b"MZ"), "{} is no PE file", dll.display());
    let requirements = manifest.requirements.unwrap();
    assert_eq!(requirements.min_os_version, "10");
    assert_eq!(requirements.cuda_version, None);
}

#[test]
fn macos_arm64_torch_runtime_assembles_here_with_macos_14_wheels() {
    if !test_support::slow_tests_enabled() {
        return;
    }
    let (_out, runtime, manifest) = foreign_torch_runtime(Target::MacosArm64, false);
    let site = runtime_spec::launch::join_relative(&runtime, Target::MacosArm64.site_packages());
    assert!(site.join("torch/lib/libtorch_cpu.dylib").is_file());
    let requirements = manifest.requirements.unwrap();
    assert_eq!(requirements.min_os_version, "14.0");
    let lock = std::fs::read_to_string(
        root().join("apps/tokenizer-studio/lockfiles/macos-arm64-torch-mps.txt"),
    )
    .unwrap();
    let version = lock
        .lines()
        .find_map(|line| line.strip_prefix("torch=="))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap();
    let minor: u32 = version.split('.').nth(1).unwrap().parse().unwrap();
    assert!(
        minor >= 12,
        "macOS 14 wheels are torch >= 2.12, locked {version}"
    );
}

/// The host CUDA torch runtime (`dist/runtime-linux-x64-torch-cuda`, built when missing or
/// stale) copied to a path with spaces: torch imports and multiplies matrices on the CPU (the
/// CUDA wheels run there too), and on a machine with an NVIDIA GPU on the GPU as well.
#[test]
fn host_torch_cuda_runtime_computes_from_a_path_with_spaces() {
    if !host_slow_test() {
        return;
    }
    if std::env::var(TORCH_TESTS_ENV).as_deref() != Ok("1") {
        test_support::skip(&format!(
            "builds the ≈ 5 GB linux-x64 CUDA torch runtime (the Linux workflow's torch step); set {TORCH_TESTS_ENV}=1 to run it"
        ));
        return;
    }
    let _lock = crate::support::HOST_BUILD
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let started = Instant::now();
    let (ok, stdout, stderr) =
        run(xtask(&shared_cache()).args(["runtime", "--profile", "torch", "--no-smoke"]));
    assert!(ok, "{stderr}");
    let seconds = started.elapsed().as_secs_f64();
    assert!(stdout.contains("linux-x64-torch-cuda"), "{stdout}");
    let dist = root().join("dist");
    let built = dist.join("runtime-linux-x64-torch-cuda");
    let archive = dist.join("tokenizer-studio-runtime-0.1.0-linux-x64-torch-cuda.tar.zst");
    let manifest = report("linux-x64-torch-cuda", &built, &archive, seconds);
    assert_eq!(manifest.profile, Profile::Torch);
    assert_eq!(manifest.accelerator, Accelerator::Cuda);
    let requirements = manifest.requirements.clone().unwrap();
    assert!(requirements.cuda_version.is_some(), "{requirements:?}");
    assert!(requirements.min_nvidia_driver.is_some(), "{requirements:?}");

    let scratch = tempfile::tempdir().unwrap();
    let moved = scratch.path().join("moved here/with spaces/torch runtime");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    let status = Command::new("cp")
        .arg("-al")
        .arg(&built)
        .arg(&moved)
        .status()
        .unwrap();
    assert!(status.success());
    let data = scratch.path().join("data dir");
    let facts = smoke_tests::check_compute(&moved, &manifest, &data, Some("cpu"))
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(facts.device, "cpu");
    assert!(
        facts
            .torch_version
            .as_deref()
            .is_some_and(|v| v.starts_with('2')),
        "{facts:?}"
    );
    assert_eq!(
        facts.torch_cuda.as_deref().map(|cuda| cuda
            .split('.')
            .take(2)
            .collect::<Vec<_>>()
            .join(".")),
        requirements.cuda_version,
        "torch's CUDA build must be the one the manifest requires"
    );
    eprintln!("compute on the CPU: {facts:?}");
    if !smoke_tests::nvidia_gpu_present() {
        test_support::skip("no NVIDIA GPU on this machine");
        return;
    }
    let facts = smoke_tests::check_compute(&moved, &manifest, &data, Some("cuda"))
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(facts.device, "cuda");
    eprintln!("compute on the GPU: {facts:?}");
}
