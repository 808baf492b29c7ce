//! Fixtures for the slow tests: the switch, Xvfb, tauri-driver, runtime copies, /proc scans.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

pub use test_support::http::free_port;
pub use test_support::{is_alive, workspace_root};

/// The shell binary cargo built for this test run (release with `--release`).
pub const SHELL_EXE: &str = env!("CARGO_BIN_EXE_app-shell");

/// Slow tests share one display and would fight over the single-instance lock: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// `Some(guard)` when slow tests are switched on (they need Xvfb, tauri-driver,
/// WebKitWebDriver and an assembled runtime), else records the test as skipped.
pub fn slow_test() -> Option<MutexGuard<'static, ()>> {
    if !test_support::slow_tests_enabled() {
        return None;
    }
    Some(SERIAL.lock().unwrap_or_else(|poison| poison.into_inner()))
}

/// Screenshots and logs of the E2E runs.
pub fn artifacts_dir() -> PathBuf {
    let dir = workspace_root().join("target").join("shell-e2e");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The assembled runtime under test: `XTASK_E2E_RUNTIME`, else
/// `dist/runtime-linux-x64` (built by `cargo xtask runtime`).
pub fn runtime_dir() -> PathBuf {
    let dir = std::env::var_os("XTASK_E2E_RUNTIME")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("dist").join("runtime-linux-x64"));
    assert!(
        dir.join("manifest.json").is_file(),
        "no runtime at {}: build one with `cargo xtask runtime`",
        dir.display()
    );
    dir
}

/// A scratch folder under `target/` (same filesystem as `dist/`, so hard links work).
pub fn scratch(name: &str) -> tempfile::TempDir {
    let parent = workspace_root()
        .join("target")
        .join("shell-e2e")
        .join("tmp");
    std::fs::create_dir_all(&parent).unwrap();
    tempfile::Builder::new()
        .prefix(name)
        .tempdir_in(parent)
        .unwrap()
}

/// `runtime` copied to `copy` as hard links (instant, and no disk for a 400 MB runtime): a
/// file of the copy is changed by replacing it ([`replace_file`]), never by editing it.
pub fn linked_copy(runtime: &Path, copy: &Path) {
    let status = Command::new("cp")
        .arg("-al")
        .arg(runtime)
        .arg(copy)
        .status()
        .unwrap();
    assert!(status.success(), "cp -al {} failed", runtime.display());
}

/// Writes `bytes` as a new file at `path`, first unlinking what is there (which may be a hard
/// link into the real runtime, whose bytes must not change).
pub fn replace_file(path: &Path, bytes: impl AsRef<[u8]>) {
    let _ = std::fs::remove_file(path);
    std::fs::write(path, bytes).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
}

/// A hard-linked copy of `runtime` whose engine prints `message` to stderr and exits 1.
///
/// The shell checks only the manifest's schema and target at launch, so the changed file
/// needs no new hash. The unchecked-hash `.pyc` of `__main__` is removed, or Python would keep
/// running the compiled original without looking at the source.
pub fn broken_runtime(runtime: &Path, into: &Path, message: &str) -> PathBuf {
    runtime_with_main(
        runtime,
        &into.join("runtime-broken"),
        format!("import sys\nprint({message:?}, file=sys.stderr)\nsys.exit(1)\n"),
    )
}

/// A copy of `runtime` whose engine says `message` on stderr and then never announces itself
/// (a start stuck before READY).
pub fn hung_runtime(runtime: &Path, into: &Path, message: &str) -> PathBuf {
    runtime_with_main(
        runtime,
        &into.join("runtime-hung"),
        format!(
            "import sys, time\nprint({message:?}, file=sys.stderr, flush=True)\ntime.sleep(3600)\n"
        ),
    )
}

/// A runtime folder whose manifest names another platform (only the manifest: discovery
/// refuses it before anything runs).
pub fn foreign_runtime(runtime: &Path, into: &Path, target: &str) -> PathBuf {
    let dir = into.join("runtime-foreign");
    std::fs::create_dir_all(&dir).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(runtime.join("manifest.json")).unwrap()).unwrap();
    manifest["target"] = serde_json::Value::String(target.to_owned());
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
    dir
}

/// A linked copy of `runtime` at `copy` with the engine's `app/__main__.py` replaced.
fn runtime_with_main(runtime: &Path, copy: &Path, main: String) -> PathBuf {
    let copy = copy.to_path_buf();
    linked_copy(runtime, &copy);
    replace_file(&copy.join("app").join("app").join("__main__.py"), main);
    let cache = copy.join("app").join("app").join("__pycache__");
    if let Ok(entries) = std::fs::read_dir(&cache) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with("__main__.") {
                std::fs::remove_file(entry.path()).unwrap();
            }
        }
    }
    copy
}

/// A child process killed (and reaped) when dropped.
pub struct Guarded(pub Child);

impl Drop for Guarded {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The X display to use: the caller's `DISPLAY`, or a private Xvfb started here.
pub type Display = test_support::display::Display;

pub fn display() -> Display {
    Display::start(std::env::var("DISPLAY").ok(), 90..140).unwrap_or_else(|error| panic!("{error}"))
}

/// A private D-Bus session bus, so the single-instance plugin has something to register on.
pub struct SessionBus {
    pub address: String,
    _daemon: Guarded,
}

pub fn session_bus() -> SessionBus {
    let mut child = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dbus-daemon not found");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
    SessionBus {
        address: line.trim().to_owned(),
        _daemon: Guarded(child),
    }
}

/// tauri-driver (plus WebKitWebDriver) on free ports, with `env` passed down to the app.
/// The real shell under tauri-driver with `env`, on its own display and session bus: one
/// window test's whole setup. The session goes first when dropped, then the driver, the bus
/// and the display.
pub struct Window {
    pub session: crate::webdriver::Session,
    _driver: Driver,
    _bus: SessionBus,
    _display: Display,
}

pub fn window(env: &[(&str, &Path)]) -> Window {
    let display = display();
    let bus = session_bus();
    let driver = tauri_driver(env, &display, &bus);
    let session = crate::webdriver::Session::start(&driver.url, Path::new(SHELL_EXE))
        .expect("WebDriver session");
    Window {
        session,
        _driver: driver,
        _bus: bus,
        _display: display,
    }
}

pub struct Driver {
    pub url: String,
    _child: Guarded,
}

pub fn tauri_driver(env: &[(&str, &Path)], display: &Display, bus: &SessionBus) -> Driver {
    let port = free_port();
    let native_port = free_port();
    let program = std::env::var_os("TAURI_DRIVER")
        .map(PathBuf::from)
        .or_else(|| {
            let home = std::env::var_os("CARGO_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))?;
            let candidate = home.join("bin").join("tauri-driver");
            candidate.exists().then_some(candidate)
        })
        .unwrap_or_else(|| PathBuf::from("tauri-driver"));
    let mut command = Command::new(&program);
    command
        .args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native_port.to_string(),
        ])
        .env("DISPLAY", &display.name)
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        // The other apps' data folders resolve to an empty folder: what this machine's user has
        // installed must not turn a test's start into the launcher.
        .env("XDG_DATA_HOME", empty_data_home())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (name, value) in env {
        command.env(name, value);
    }
    let child = command.spawn().unwrap_or_else(|error| {
        panic!(
            "cannot start {}: {error}; install it with `cargo install tauri-driver --locked` and `apt-get install webkit2gtk-driver`",
            program.display()
        )
    });
    let url = format!("http://127.0.0.1:{port}");
    let guard = Guarded(child);
    // Both must listen: tauri-driver forwards to WebKitWebDriver, which starts a moment later.
    wait_until(
        Duration::from_secs(20),
        "tauri-driver and WebKitWebDriver to listen",
        || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && std::net::TcpStream::connect(("127.0.0.1", native_port)).is_ok()
        },
    );
    Driver { url, _child: guard }
}

/// An empty `XDG_DATA_HOME` for the shells under test.
pub fn empty_data_home() -> PathBuf {
    let dir = artifacts_dir().join("empty-data-home");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits for `done`; fails the test naming `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, done: impl FnMut() -> bool) {
    assert!(
        test_support::wait_until(timeout, done),
        "timed out after {timeout:?} waiting for {what}"
    );
}

/// Live (not zombie) engines started for `data_dir`: processes whose environment carries
/// `TOKENIZER_STUDIO_DATA_DIR=<data_dir>` and whose command line runs `-m app`.
pub fn live_engines(data_dir: &Path) -> Vec<u32> {
    let needle = format!("TOKENIZER_STUDIO_DATA_DIR={}", data_dir.display());
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let has_env = environ
            .split(|byte| *byte == 0)
            .any(|var| var == needle.as_bytes());
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let runs_app = cmdline.windows(7).any(|window| window == b"-m\0app\0");
        if has_env && runs_app && is_alive(pid) {
            found.push(pid);
        }
    }
    found
}

/// The shell run directly (no WebDriver), for the signal tests and the bench.
pub fn spawn_shell(display: &Display, bus: &SessionBus, runtime: &Path, data_dir: &Path) -> Child {
    Command::new(SHELL_EXE)
        .env("DISPLAY", &display.name)
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .env("TOKENIZER_STUDIO_RUNTIME_DIR", runtime)
        .env("TOKENIZER_STUDIO_DATA_DIR", data_dir)
        .env("XDG_DATA_HOME", empty_data_home())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits for the shell log line that says the engine's page finished loading.
pub fn wait_for_ui(data_dir: &Path, timeout: Duration) {
    let log = data_dir.join("logs").join("shell.log");
    wait_until(timeout, "the shell to open the UI", || {
        std::fs::read_to_string(&log).is_ok_and(|text| text.contains("ui loaded"))
    });
}

/// The secret half of the dev key pair `cargo xtask` made (`target/dev-minisign`), after
/// checking that the shell under test embeds its public half (`cargo xtask test` builds it so).
pub fn dev_secret_key() -> String {
    let built_in = shell::built_in::update_key().expect(
        "this shell was built without an update key: run the shell tests through `cargo xtask test`, which builds it with the dev key",
    );
    let dir = workspace_root().join("target").join("dev-minisign");
    let secret = std::fs::read_to_string(dir.join("minisign.key")).expect(
        "target/dev-minisign/minisign.key (made by `cargo xtask release` or `cargo xtask test`)",
    );
    let probe = release_meta::sign(b"probe", &secret, None, "probe").unwrap();
    release_meta::verify(b"probe", &probe, &built_in.key_line())
        .expect("the shell under test embeds a different key than target/dev-minisign");
    secret
}

/// The manifest of the runtime in `dir`.
pub fn read_manifest(dir: &Path) -> runtime_spec::Manifest {
    let path = dir.join(runtime_spec::layout::MANIFEST_FILE);
    let bytes = std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    runtime_spec::Manifest::from_json(&bytes)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The JSON file at `path`.
pub fn read_json(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The last `lines` lines of each of the shell's and the engine's logs, for a failure message.
pub fn print_log_tails(data_dir: &Path, lines: usize) {
    for file in ["shell.log", "engine.log"] {
        if let Ok(text) = std::fs::read_to_string(data_dir.join("logs").join(file)) {
            eprintln!("--- {file} ---");
            let all: Vec<&str> = text.lines().collect();
            for line in &all[all.len().saturating_sub(lines)..] {
                eprintln!("{line}");
            }
        }
    }
}

/// A Downloads folder `<work>/<name>` declared the way desktops declare it (XDG user dirs):
/// the `XDG_CONFIG_HOME` to give the shell, and the folder its downloads must land in.
pub fn downloads_folder(work: &Path, name: &str) -> (PathBuf, PathBuf) {
    let config_home = work.join("config");
    let downloads = work.join(name);
    std::fs::create_dir_all(&config_home).unwrap();
    std::fs::write(
        config_home.join("user-dirs.dirs"),
        format!("XDG_DOWNLOAD_DIR=\"{}\"\n", downloads.display()),
    )
    .unwrap();
    (config_home, downloads)
}
