//! The first run installs the runtime variant the machine probe selects, end to end: the real
//! shell (built with the dev update key), a signed index on loopback offering the base, torch
//! CUDA and torch CPU variants of `linux-x64`, and a probe fixture in place of this machine.
//!
//! The torch variants are **stand-ins**: the real base runtime relabelled (hard-linked copy,
//! manifest rewritten with `profile: torch` and the variant's accelerator and requirements,
//! file list recomputed, packed under the variant's archive name). They hold no torch, which is
//! what the GPU case wants: told `TOKENIZER_STUDIO_DEVICE=cuda`, the engine's start-up device
//! check fails and it exits 3 with one sentence, and the shell offers "Use the CPU engine".

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use compute::{Arch, Cpu, Os, OsKind, Probe};
use runtime_spec::{layout, Accelerator, CpuLevel, Manifest, Profile, Target, Variant};
use test_support::http::Server;

use crate::support::{self, read_json, read_manifest, SHELL_EXE};
use crate::webdriver::Session;

const UI_TIMEOUT: Duration = Duration::from_secs(120);
const CHANNEL: &str = "dev";
const GIB: u64 = 1024 * 1024 * 1024;

const TORCH_CUDA: Variant = Variant::new(Target::LinuxX64, Profile::Torch, Accelerator::Cuda);
const TORCH_CPU: Variant = Variant::new(Target::LinuxX64, Profile::Torch, Accelerator::Cpu);

/// The signed index on loopback and the archives it names: the real base runtime's and the
/// two torch stand-ins'. Dropping it stops the server and removes the files.
struct Release {
    index_url: String,
    _server: Server,
    work: tempfile::TempDir,
}

impl Release {
    fn publish() -> Release {
        let started = Instant::now();
        let secret = support::dev_secret_key();
        let runtime = support::runtime_dir();
        let base = read_manifest(&runtime);
        assert_eq!(
            base.variant(),
            Variant::base(Target::LinuxX64),
            "{}",
            runtime.display()
        );
        let work = support::scratch("e2e-variants");
        let serve = work.path().join("serve");
        std::fs::create_dir_all(&serve).unwrap();

        let base_archive = runtime.parent().unwrap().join(layout::archive_name(
            &crate::app().archive_stem(),
            &base.runtime_version,
            base.variant(),
        ));
        assert!(
            base_archive.is_file(),
            "no {}: build it with `cargo xtask runtime`",
            base_archive.display()
        );
        let served_base = serve.join(base_archive.file_name().unwrap());
        std::fs::hard_link(&base_archive, &served_base).unwrap();

        let mut entries = vec![(served_base, base.clone())];
        for variant in [TORCH_CUDA, TORCH_CPU] {
            entries.push(stand_in(&runtime, &base, variant, work.path(), &serve));
        }
        let shell_min = "0.1.0".parse().unwrap();
        let index = release_meta::build_index(
            CHANNEL.parse().unwrap(),
            1_000,
            None,
            entries
                .iter()
                .map(|(archive, manifest)| {
                    let entry =
                        release_meta::entry_for_archive(archive, manifest, &shell_min).unwrap();
                    (Target::LinuxX64, entry)
                })
                .collect(),
        )
        .unwrap();
        release_meta::write_signed_index(&index, &serve, &secret, None).unwrap();
        let server = Server::serving_dir(&serve);
        let index_url = server.url(&format!("/runtime-{CHANNEL}.json"));
        eprintln!(
            "published base + stand-in torch-cuda + torch-cpu in {:.1?}",
            started.elapsed()
        );
        Release {
            index_url,
            _server: server,
            work,
        }
    }
}

/// The base runtime relabelled as `variant` (a stand-in: no torch inside), packed into `serve`.
/// Returns the archive and its manifest.
fn stand_in(
    runtime: &Path,
    base: &Manifest,
    variant: Variant,
    work: &Path,
    serve: &Path,
) -> (PathBuf, Manifest) {
    let copy = work.join(format!("stand-in-{variant}"));
    support::linked_copy(runtime, &copy);
    // Hard links into the real runtime: replace, never edit.
    std::fs::remove_file(copy.join(layout::MANIFEST_FILE)).unwrap();
    let requirements = match variant.accelerator {
        Accelerator::Cuda => variant
            .base_requirements()
            .for_cuda(variant.target, "13.2")
            .unwrap(),
        _ => variant.base_requirements(),
    };
    let mut manifest = base.clone();
    manifest.profile = variant.profile;
    manifest.accelerator = variant.accelerator;
    manifest.requirements = Some(requirements);
    manifest.files = runtime_archive::build_manifest_files(&copy).unwrap();
    assert_eq!(manifest.variant(), variant);
    std::fs::write(copy.join(layout::MANIFEST_FILE), manifest.to_json()).unwrap();
    let archive = serve.join(layout::archive_name(
        &crate::app().archive_stem(),
        &manifest.runtime_version,
        variant,
    ));
    let mut options = runtime_archive::PackOptions::new(1_700_000_000);
    options.zstd_level = 1;
    options.zstd_workers = 2;
    runtime_archive::pack_tar_zst(&copy, &archive, &options).unwrap();
    std::fs::remove_dir_all(&copy).unwrap();
    (archive, manifest)
}

/// A Linux x86-64-v3 PC with 16 GiB of RAM, plenty of free disk and no GPU.
fn no_gpu_probe() -> Probe {
    Probe {
        os: Os {
            kind: OsKind::Linux,
            version: "2.36".into(),
            name: "Debian GNU/Linux 12 (bookworm)".into(),
        },
        arch: Arch::X86_64,
        emulated: false,
        cpu: Cpu {
            name: "AMD Ryzen 7 7700 8-Core Processor".into(),
            level: CpuLevel::X86_64V3,
            cores: 8,
        },
        ram_bytes: 16 * GIB,
        free_disk_bytes: Some(500_000_000_000),
        gpus: Vec::new(),
        apple_silicon: false,
    }
}

/// The compute crate's RTX 4090 machine (driver 580, compute capability 8.9).
fn rtx_4090_fixture() -> PathBuf {
    let path = support::workspace_root()
        .join("compute")
        .join("tests")
        .join("fixtures")
        .join("probe-linux-rtx4090.json");
    assert!(path.is_file(), "{}", path.display());
    path
}

/// One first run: a fresh data folder asking for the torch profile, the machine `fixture`,
/// the shell under WebDriver.
struct FirstRun {
    data: PathBuf,
    display: support::Display,
    bus: support::SessionBus,
    shots: PathBuf,
}

impl FirstRun {
    fn new(release: &Release, name: &str) -> FirstRun {
        let data = release.work.path().join(name);
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(
            data.join("shell-settings.json"),
            "{\"profile\": \"torch\"}\n",
        )
        .unwrap();
        FirstRun {
            data,
            display: support::display(),
            bus: support::session_bus(),
            shots: support::artifacts_dir(),
        }
    }

    fn session(&self, release: &Release, fixture: &Path) -> (support::Driver, Session) {
        let driver = support::tauri_driver(
            &[
                ("TOKENIZER_STUDIO_DATA_DIR", self.data.as_path()),
                ("TOKENIZER_STUDIO_INDEX_URL", Path::new(&release.index_url)),
                ("TOKENIZER_STUDIO_UPDATE_CHECK", Path::new("0")),
                ("TOKENIZER_STUDIO_PROBE_FIXTURE", fixture),
            ],
            &self.display,
            &self.bus,
        );
        let session = Session::start(&driver.url, Path::new(SHELL_EXE)).expect("WebDriver session");
        (driver, session)
    }

    /// Presses "Download and install the engine" on the no-runtime screen; returns the
    /// download's detail lines if the splash could be caught showing them (on loopback the
    /// download may be over before a poll sees it).
    fn install(&self, session: &Session, shot: &str) -> Result<Option<String>, String> {
        session.wait_for(
            "body[data-phase=failed][data-kind=no_runtime]",
            None,
            UI_TIMEOUT,
        )?;
        let install = session.wait_for("[data-testid=action-install_runtime]", None, UI_TIMEOUT)?;
        session.click(&install)?;
        session.wait_for("body[data-phase=installing]", None, UI_TIMEOUT)?;
        Ok(self.catch_choice(session, shot))
    }

    /// Polls the installing splash for the chosen variant's reason under the progress.
    fn catch_choice(&self, session: &Session, shot: &str) -> Option<String> {
        let deadline = Instant::now() + UI_TIMEOUT;
        while Instant::now() < deadline {
            let details = session
                .execute(
                    "if (document.body.dataset.phase !== 'installing') return null;
                     return [...document.querySelectorAll('[data-testid=splash-details] li')]
                       .map((li) => li.textContent).join('\\n');",
                    vec![],
                )
                .ok()?;
            let details = details.as_str()?;
            if details.contains("engine") {
                let _ = session.screenshot(&self.shots.join(format!("{shot}.png")));
                return Some(details.to_owned());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.data.join("logs").join("shell.log")).unwrap_or_default()
    }

    fn current(&self) -> Manifest {
        read_manifest(&self.data.join("runtime").join("current"))
    }

    fn machine_choice(&self) -> (String, String) {
        let machine = read_json(&self.data.join("machine.json"));
        let choice = &machine["choice"];
        (
            choice["variant"].as_str().unwrap_or_default().to_owned(),
            choice["device"].as_str().unwrap_or_default().to_owned(),
        )
    }

    /// Ends the session (the driver closes the shell, which stops its engine) and checks that
    /// no engine of this data folder outlives it.
    fn end(
        &self,
        driver: support::Driver,
        session: Session,
        name: &str,
        result: Result<(), String>,
    ) {
        if let Err(error) = result {
            let _ = session.screenshot(&self.shots.join(format!("{name}-failure.png")));
            let _ = session.end();
            drop(driver);
            support::print_log_tails(&self.data, 40);
            panic!("{name}: {error}");
        }
        session.end().expect("end the session");
        drop(driver);
        support::wait_until(Duration::from_secs(15), "the engines to stop", || {
            support::live_engines(&self.data).is_empty()
        });
    }
}

#[test]
fn stand_in_torch_first_run_without_a_gpu_installs_the_cpu_variant() {
    let Some(_serial) = support::slow_test() else {
        return;
    };
    let started = Instant::now();
    let release = Release::publish();
    let run = FirstRun::new(&release, "data-no-gpu");
    let fixture = release.work.path().join("probe-no-gpu.json");
    std::fs::write(
        &fixture,
        serde_json::to_vec_pretty(&no_gpu_probe()).unwrap(),
    )
    .unwrap();

    let (driver, session) = run.session(&release, &fixture);
    let mut shown = None;
    let result = (|| -> Result<(), String> {
        shown = run.install(&session, "variants-no-gpu-installing")?;
        session.wait_for("[data-testid=datasets-screen]", None, UI_TIMEOUT)?;
        session.screenshot(&run.shots.join("variants-no-gpu-ui.png"))?;
        Ok(())
    })();
    run.end(driver, session, "variants-no-gpu", result);

    let current = run.current();
    assert_eq!(current.variant(), TORCH_CPU, "runtime/current");
    assert_eq!(current.requirements, Some(TORCH_CPU.base_requirements()));
    assert_eq!(
        run.machine_choice(),
        (TORCH_CPU.name(), "cpu".to_owned()),
        "machine.json"
    );
    let log = run.log();
    assert!(
        log.contains(
            "first-run choice: linux-x64-torch-cpu on cpu (The torch engine runs on the CPU"
        ),
        "the shell log names the choice and its reason:\n{log}"
    );
    assert!(log.contains("engine device: cpu"), "{log}");
    match shown {
        Some(details) => {
            assert!(
                details.contains("The torch engine runs on the CPU"),
                "the splash shows the reason under the progress: {details}"
            );
            eprintln!("splash while downloading:\n{details}");
        }
        None => eprintln!("the download was over before the splash could be caught"),
    }
    eprintln!("no-GPU case took {:.1?}", started.elapsed());
}

#[test]
fn stand_in_torch_first_run_on_an_rtx_4090_installs_cuda_then_falls_back_to_the_cpu_engine() {
    let Some(_serial) = support::slow_test() else {
        return;
    };
    let started = Instant::now();
    let release = Release::publish();
    let run = FirstRun::new(&release, "data-rtx-4090");
    let fixture = rtx_4090_fixture();
    let settings_file = run.data.join("shell-settings.json");

    let (driver, session) = run.session(&release, &fixture);
    let mut tail = String::new();
    let mut cuda_checks = Ok(());
    let result = (|| -> Result<(), String> {
        run.install(&session, "variants-rtx-4090-installing")?;
        // The CUDA stand-in has no torch: the engine's device check fails before READY.
        let landed = session.wait_for(
            "body[data-phase=failed], [data-testid=datasets-screen]",
            None,
            UI_TIMEOUT,
        )?;
        if session.attribute(&landed, "data-testid")?.as_deref() == Some("datasets-screen") {
            return Err(format!(
                "the CUDA stand-in started without torch: is {} older than the engine's start-up device check? Rebuild it with `cargo xtask runtime` (or point XTASK_E2E_RUNTIME at a fresh one)",
                support::runtime_dir().display()
            ));
        }
        session.wait_for(
            "body[data-phase=failed][data-kind=crashed]",
            None,
            UI_TIMEOUT,
        )?;
        let title =
            session.text(&session.wait_for("[data-testid=splash-title]", None, UI_TIMEOUT)?)?;
        if title != "The engine stopped" {
            return Err(format!("error screen title: {title:?}"));
        }
        // As a user first sees it: the CPU engine offered first, the guide's GPU section and
        // the log collapsed.
        session.wait_for("[data-testid=action-use_cpu_engine]", None, UI_TIMEOUT)?;
        let help_title = session.text(&session.wait_for(
            "[data-testid=splash-help-title]",
            None,
            UI_TIMEOUT,
        )?)?;
        if help_title != "GPU engine failed" {
            return Err(format!("troubleshooting section: {help_title:?}"));
        }
        let open: serde_json::Value = session.execute(
            "return [document.querySelector('[data-testid=splash-log]').open,
                     document.querySelector('[data-testid=splash-help]').open];",
            vec![],
        )?;
        if open != serde_json::json!([false, false]) {
            return Err(format!("log and help should start collapsed: {open}"));
        }
        session.screenshot(&run.shots.join("variants-rtx-4090-gpu-failed-collapsed.png"))?;
        session.click(&session.wait_for("[data-testid=splash-log-toggle]", None, UI_TIMEOUT)?)?;
        tail = session.text(&session.wait_for(
            "[data-testid=splash-log-tail]",
            Some("GPU engine"),
            UI_TIMEOUT,
        )?)?;
        session.screenshot(&run.shots.join("variants-rtx-4090-gpu-failed.png"))?;
        // What the first run chose, checked before the CPU engine replaces it.
        cuda_checks = (|| {
            let current = run.current();
            if current.variant() != TORCH_CUDA {
                return Err(format!("runtime/current is {}", current.variant()));
            }
            let choice = run.machine_choice();
            if choice != (TORCH_CUDA.name(), "cuda".to_owned()) {
                return Err(format!("machine.json's choice is {choice:?}"));
            }
            Ok(())
        })();

        // The way out comes first: retrying cannot fix a GPU.
        let use_cpu = session.wait_for(
            "[data-testid=splash-actions] > button:first-of-type[data-testid=action-use_cpu_engine]",
            None,
            UI_TIMEOUT,
        )?;
        session.click(&use_cpu)?;
        session.wait_for("[data-testid=datasets-screen]", None, UI_TIMEOUT)?;
        session.screenshot(&run.shots.join("variants-rtx-4090-cpu-ui.png"))?;
        Ok(())
    })();
    run.end(driver, session, "variants-rtx-4090", result);

    cuda_checks.expect("the first run installed the CUDA variant");
    let log = run.log();
    assert!(
        log.contains("first-run choice: linux-x64-torch-cuda on cuda (NVIDIA GeForce RTX 4090"),
        "the shell log names the first choice:\n{log}"
    );
    assert!(
        log.contains("engine device: cuda"),
        "the CUDA runtime was launched on the GPU:\n{log}"
    );
    assert!(
        log.contains(&format!(
            "(exit code {}) after 1 attempt(s)",
            runtime_spec::launch::EXIT_DEVICE_UNUSABLE
        )),
        "an unusable GPU is a permanent failure, not retried:\n{log}"
    );
    assert!(
        tail.contains("The GPU engine could not load torch")
            && tail.contains("torch is not included in this engine"),
        "the error screen's log tail has the engine's one sentence:\n{tail}"
    );

    // "Use the CPU engine": saved as the preference, the CPU variant installed and started.
    let settings = read_json(&settings_file);
    assert_eq!(settings["compute"], "cpu", "{settings}");
    assert_eq!(settings["profile"], "torch", "{settings}");
    assert_eq!(run.current().variant(), TORCH_CPU, "runtime/current");
    assert_eq!(
        run.machine_choice(),
        (TORCH_CPU.name(), "cpu".to_owned()),
        "machine.json"
    );
    assert!(
        log.contains("first-run choice: linux-x64-torch-cpu on cpu"),
        "the second install chose the CPU variant:\n{log}"
    );
    let after_cuda = &log[log.find("engine device: cuda").unwrap()..];
    assert!(
        after_cuda.contains("engine device: cpu"),
        "the CPU variant was launched on the CPU:\n{log}"
    );
    eprintln!("RTX 4090 case took {:.1?}", started.elapsed());
}
