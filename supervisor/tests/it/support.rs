//! Fixtures: a fake runtime root running `tests/fake_engine.py`, event capture, and checks of
//! the real process table and ports.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use runtime_spec::{LaunchContract, Target};
use supervisor::{EventHandler, LaunchRequest, Rotation, SupervisorEvent};
pub use test_support::{is_alive, port_is_free, timeout, wait_until};

const FAKE_ENGINE: &str = include_str!("../fake_engine.py");

/// A runtime root whose interpreter is the system Python (symlinked where the real runtime
/// keeps its own), plus a data root and a folder where the fake records what it was given.
pub struct Fixture {
    _dir: Option<tempfile::TempDir>,
    pub root: PathBuf,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        Fixture::populate(&root);
        Fixture {
            _dir: Some(dir),
            root,
        }
    }

    /// A fixture in a folder someone else owns (the re-executed helper process).
    pub fn reuse(root: &Path) -> Fixture {
        Fixture {
            _dir: None,
            root: root.to_owned(),
        }
    }

    fn populate(root: &Path) {
        let runtime = root.join("runtime");
        let python_dir = runtime.join("python").join("bin");
        fs_err::create_dir_all(&python_dir).unwrap();
        std::os::unix::fs::symlink(system_python(), python_dir.join("python3")).unwrap();
        fs_err::write(runtime.join("fake_engine.py"), FAKE_ENGINE).unwrap();
        fs_err::create_dir_all(root.join("state")).unwrap();
    }

    pub fn runtime_root(&self) -> PathBuf {
        self.root.join("runtime")
    }

    pub fn data_root(&self) -> PathBuf {
        self.root.join("data")
    }

    pub fn log_dir(&self) -> PathBuf {
        self.data_root().join("logs")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root.join("state")
    }

    /// The real contract for Linux with `-m app` swapped for the fake script; `-I` stays, as
    /// in production, so the script is found relative to cwd = runtime root.
    pub fn contract() -> LaunchContract {
        let (id, text) = test_support::default_app_descriptor();
        let app = runtime_spec::AppDescriptor::parse(&text, &id)
            .unwrap()
            .names();
        let mut contract = LaunchContract::for_app(&app, Target::LinuxX64);
        contract.argv.truncate(2);
        assert_eq!(contract.argv[1], "-I");
        contract.argv.push("fake_engine.py".into());
        contract
    }

    /// A request with test-sized timeouts and the fake switched to `mode`.
    pub fn request(&self, mode: &str) -> LaunchRequest {
        let mut request =
            LaunchRequest::new(self.runtime_root(), Fixture::contract(), self.data_root());
        request.extra_env = vec![
            (OsString::from("FAKE_MODE"), OsString::from(mode)),
            (
                OsString::from("FAKE_STATE_DIR"),
                self.state_dir().into_os_string(),
            ),
        ];
        request.ready_timeout = timeout(Duration::from_secs(15));
        request.health_deadline = timeout(Duration::from_secs(10));
        request.stop_grace = timeout(Duration::from_secs(3));
        request.log_rotation = Rotation {
            max_bytes: 1024 * 1024,
            n_files_kept: 2,
        };
        request
    }

    pub fn with_env(request: &mut LaunchRequest, name: &str, value: &str) {
        request.extra_env.push((name.into(), value.into()));
    }

    /// Lines the fake appended to `state/<name>`.
    pub fn recorded(&self, name: &str) -> Vec<String> {
        match fs_err::read_to_string(self.state_dir().join(name)) {
            Ok(text) => text.lines().map(str::to_owned).collect(),
            Err(_) => Vec::new(),
        }
    }

    pub fn log_text(&self) -> String {
        fs_err::read_to_string(self.log_dir().join("engine.log")).unwrap()
    }
}

fn system_python() -> PathBuf {
    let standard = Path::new("/usr/bin/python3");
    if standard.exists() {
        return standard.to_owned();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("python3"))
        .find(|candidate| candidate.exists())
        .expect("the tests need a python3 on PATH")
}

/// Collects every event in order.
#[derive(Clone, Default)]
pub struct Events(Arc<Mutex<Vec<SupervisorEvent>>>);

impl Events {
    pub fn handler(&self) -> EventHandler {
        let events = self.clone();
        Arc::new(move |event| events.0.lock().unwrap().push(event))
    }

    pub fn all(&self) -> Vec<SupervisorEvent> {
        self.0.lock().unwrap().clone()
    }

    pub fn attempts(&self) -> Vec<u32> {
        self.all()
            .iter()
            .filter_map(|event| match event {
                SupervisorEvent::Starting { attempt } => Some(*attempt),
                _ => None,
            })
            .collect()
    }

    pub fn wait_for(
        &self,
        timeout: Duration,
        mut wanted: impl FnMut(&SupervisorEvent) -> bool,
    ) -> Option<SupervisorEvent> {
        let mut found = None;
        wait_until(timeout, || {
            found = self.all().into_iter().find(|event| wanted(event));
            found.is_some()
        });
        found
    }
}

/// One GET on 127.0.0.1 through the supervisor's loopback client and the body, for poking
/// the fake directly.
pub fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let client =
        supervisor::loopback::client(Duration::from_secs(5)).map_err(std::io::Error::other)?;
    client
        .get(supervisor::loopback::url(port, path))
        .send()
        .and_then(|response| response.text())
        .map_err(std::io::Error::other)
}
