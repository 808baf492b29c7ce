//! Helpers shared by the xtask integration tests: the xtask command, the project root, host builds.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

use runtime_spec::Target;

/// Builds of the repository's own host runtime share one build folder: one at a time.
pub static HOST_BUILD: Mutex<()> = Mutex::new(());

pub use test_support::workspace_root as root;

/// A persistent cache for the slow tests (wheels, uv), so reruns don't download again.
pub fn shared_cache() -> PathBuf {
    root().join("target").join("xtask-test-cache")
}

pub fn xtask(cache: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command
        .env("CI", "1")
        .env("XTASK_CACHE_DIR", cache)
        .env_remove("XTASK_PYTHON_MIRROR");
    command
}

pub fn run(command: &mut Command) -> (bool, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().unwrap();
    (
        status.success(),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// Whether a slow test that builds or runs the host's own runtime can run: slow tests are on
/// and the host is linux-x64. Records the skip and its reason when not.
/// The host-build lock, when the host slow tests run here (`None`, with the skip recorded,
/// otherwise).
pub fn host_build_lock() -> Option<MutexGuard<'static, ()>> {
    host_slow_test().then(|| {
        HOST_BUILD
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    })
}

/// A host runtime built into a fresh folder under the host-build lock, held as long as it
/// lives (the folder is removed first, then the lock released).
pub struct HostRuntime {
    pub out: tempfile::TempDir,
    _lock: MutexGuard<'static, ()>,
}

/// [`HostRuntime`], when the host slow tests run here.
pub fn built_host_runtime() -> Option<HostRuntime> {
    let lock = host_build_lock()?;
    let out = tempfile::tempdir().unwrap();
    build_host_runtime(&root(), out.path());
    Some(HostRuntime { out, _lock: lock })
}

pub fn host_slow_test() -> bool {
    if !test_support::slow_tests_enabled() {
        return false;
    }
    if Target::host() != Some(Target::LinuxX64) {
        test_support::skip("builds and runs the linux-x64 runtime; this host is not linux-x64");
        return false;
    }
    true
}

pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_file())
        .map(|entry| entry.into_path())
        .collect()
}

/// A minimal project root with one app: its descriptor, its engine's pyproject and its
/// committed locks.
pub fn scratch_root() -> tempfile::TempDir {
    let scratch = tempfile::tempdir().unwrap();
    let app = scratch.path().join("apps/tokenizer-studio");
    std::fs::create_dir_all(app.join("api")).unwrap();
    for file in ["app.toml", "api/pyproject.toml"] {
        std::fs::copy(
            root().join("apps/tokenizer-studio").join(file),
            app.join(file),
        )
        .unwrap();
    }
    std::fs::create_dir_all(app.join("lockfiles")).unwrap();
    for target in Target::ALL {
        let name = format!("{target}.txt");
        std::fs::copy(
            root().join("apps/tokenizer-studio/lockfiles").join(&name),
            app.join("lockfiles").join(&name),
        )
        .unwrap();
    }
    scratch
}

/// The host CPython 3.12 the build uses (resolved by the xtask itself).
pub fn host_python() -> PathBuf {
    let cache = shared_cache();
    let (ok, stdout, stderr) = run(xtask(&cache).args(["tools", "python"]));
    assert!(ok, "{stderr}");
    PathBuf::from(stdout.trim())
}

/// The pinned uv (bootstrapped into the shared test cache when needed).
pub fn real_uv() -> PathBuf {
    let cache = shared_cache();
    let (ok, stdout, stderr) = run(xtask(&cache).args(["tools", "uv"]));
    assert!(ok, "{stderr}");
    PathBuf::from(stdout.trim())
}

/// Builds the host runtime of this checkout into `out` (serialised with other host builds).
pub fn build_host_runtime(project_root: &Path, out: &Path) -> String {
    let mut command = xtask(&shared_cache());
    command
        .env("XTASK_PROJECT_ROOT", project_root)
        .args(["runtime", "--out-dir"])
        .arg(out);
    let (ok, stdout, stderr) = run(&mut command);
    assert!(
        ok,
        "host build in {} failed:\n{stderr}",
        project_root.display()
    );
    let archive = out.join("tokenizer-studio-runtime-0.1.0-linux-x64.tar.zst.sha256");
    let line = std::fs::read_to_string(&archive).unwrap();
    assert!(stdout.contains("linux-x64"), "{stdout}");
    line.split_whitespace().next().unwrap().to_owned()
}

pub fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}
