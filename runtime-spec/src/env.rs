//! Every environment variable the project reads, in one table ([`ALL`]): its name, what its
//! value is, its default, who reads it and whether it is a secret. The README's list of
//! variables is generated from this table (`UPDATE_SNAPSHOTS=1 cargo test -p runtime-spec`)
//! and a test fails when the two drift apart or when code names an app's or the toolchain's
//! variable the table lacks.
//!
//! Rust code names variables through these constants; the xtask reads them all in one place
//! (`xtask/src/plan.rs`), the shell its build-time values in `shell/src/built_in.rs`.

use std::fmt;

/// What a variable's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Path,
    Url,
    /// `0`/`off`/`false`/`no` turn it off, anything else on (or `1` where a test reads it).
    Switch,
    Integer,
    Text,
    /// A minisign key in any of the forms [`crate::keys`] reads (or a secret key's text).
    MinisignKey,
    /// A file's contents, base64-encoded (CI secrets cannot hold binary files).
    Base64,
    /// Comma-separated values.
    List,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Path => "path",
            Kind::Url => "URL",
            Kind::Switch => "switch",
            Kind::Integer => "integer",
            Kind::Text => "text",
            Kind::MinisignKey => "minisign key",
            Kind::Base64 => "base64",
            Kind::List => "list",
        })
    }
}

/// Who reads a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// An app's Python engine (`apps/<app>/api`).
    Engine,
    /// The shell at run time.
    Shell,
    /// The shell's compiler: baked into the binary by `cargo xtask release`.
    ShellBuild,
    /// The supervisor (and `ts-runtime`, which uses it).
    Supervisor,
    /// `cargo xtask`.
    Xtask,
    /// Test suites and their helpers.
    Tests,
    /// Libraries the engine loads (Hugging Face, Python's `tempfile`); the engine sets them.
    Libraries,
}

impl fmt::Display for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reader::Engine => "engine",
            Reader::Shell => "shell",
            Reader::ShellBuild => "shell build",
            Reader::Supervisor => "supervisor",
            Reader::Xtask => "xtask",
            Reader::Tests => "tests",
            Reader::Libraries => "libraries",
        })
    }
}

/// A variable of one app: its name is the app's prefix (its descriptor's `env_prefix`), `_`,
/// then this (`TOKENIZER_STUDIO` + `DATA_DIR`). Each app so reads its own, and two apps on one
/// machine never see each other's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppVar(pub &'static str);

impl AppVar {
    /// The variable's name for the app with this prefix.
    pub fn name(self, prefix: &str) -> String {
        format!("{prefix}_{}", self.0)
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct EnvVar {
    /// The name; for a variable of the app ([`EnvVar::app`]), what follows the app's prefix.
    pub name: &'static str,
    /// Named `<PREFIX>_<name>` after the app's prefix ([`AppVar`]).
    pub app: bool,
    pub kind: Kind,
    /// What applies when it is unset or empty (`""`: nothing, the feature is off).
    pub default: &'static str,
    pub read_by: &'static [Reader],
    /// Never printed, logged or written to a file the release publishes.
    pub secret: bool,
    /// One sentence.
    pub doc: &'static str,
}

/// Data root override (otherwise the per-OS default, see [`crate::discovery::data_root`]).
pub const DATA_DIR: AppVar = AppVar("DATA_DIR");
/// Random per launch; clients send it back in [`crate::launch::TOKEN_HEADER`].
pub const RUNTIME_TOKEN: AppVar = AppVar("RUNTIME_TOKEN");
/// Random per launch; `/health` echoes it so a stale server is never trusted.
pub const LAUNCH_ID: AppVar = AppVar("LAUNCH_ID");
/// The built web UI the engine serves.
pub const WEB_DIR: AppVar = AppVar("WEB_DIR");
/// Extra origins the engine accepts cross-origin requests from (the Vite dev server).
pub const CORS_ORIGINS: AppVar = AppVar("CORS_ORIGINS");
/// The engine's upload size cap.
pub const MAX_UPLOAD_BYTES: AppVar = AppVar("MAX_UPLOAD_BYTES");
/// The device the engine computes on and, for a GPU, proves at start.
pub const DEVICE: AppVar = AppVar("DEVICE");
/// Runtime discovery override: first place the shell looks.
pub const RUNTIME_DIR: AppVar = AppVar("RUNTIME_DIR");
/// Where the shell looks for the runtime archive a full installer carried.
pub const BUNDLED_RUNTIME: AppVar = AppVar("BUNDLED_RUNTIME");
/// Overrides the built-in release index URL (tests, mirrors); the built-in key still applies.
pub const INDEX_URL: AppVar = AppVar("INDEX_URL");
/// Overrides where the launcher reads the app registry (`apps-<channel>.json`); the built-in
/// key still applies.
pub const REGISTRY_URL: AppVar = AppVar("REGISTRY_URL");
/// Turns the background update checks off (`0`, `off`, `false`, `no`).
pub const UPDATE_CHECK: AppVar = AppVar("UPDATE_CHECK");
/// Overrides where the shell looks for `latest-<channel>.json`; the built-in key still applies.
pub const SHELL_UPDATE_URL: AppVar = AppVar("SHELL_UPDATE_URL");
/// The minisign public key built into the shell; the xtask also checks it pairs with the
/// secret key.
pub const UPDATE_PUBKEY: &str = "XTASK_UPDATE_PUBKEY";
/// Where `runtime-<channel>.json`, `latest-<channel>.json` and the archives are published.
pub const RELEASE_BASE_URL: &str = "XTASK_RELEASE_BASE_URL";
/// The app descriptor (`apps/<id>/app.toml`) the shell is built for; `cargo xtask release`
/// sets it from `--app`, a plain `cargo build -p shell` uses the workspace's default app.
pub const SHELL_APP: &str = "XTASK_SHELL_APP";
/// The channel built into the shell; `cargo xtask release` sets it from `--channel`.
pub const CHANNEL: &str = "XTASK_CHANNEL";
/// The release index signing key (minisign secret key text or its base64).
pub const MINISIGN_KEY: &str = "XTASK_MINISIGN_KEY";
/// Password of [`MINISIGN_KEY`] when it is encrypted; also encrypts a key `keygen` makes.
pub const MINISIGN_PASSWORD: &str = "XTASK_MINISIGN_PASSWORD";
/// Replaces the python-build-standalone download prefix (`file://` allowed), like uv's
/// `UV_PYTHON_INSTALL_MIRROR`. The sha256 pin still applies.
pub const PYTHON_MIRROR: &str = "XTASK_PYTHON_MIRROR";
/// The xtask's download and tool cache.
pub const CACHE_DIR: &str = "XTASK_CACHE_DIR";
/// The host CPython 3.12 the xtask compiles bytecode and resolves locks with.
pub const HOST_PYTHON: &str = "XTASK_HOST_PYTHON";
/// A uv binary of the pinned version, instead of the bootstrapped one.
pub const UV: &str = "XTASK_UV";
/// Another checkout for the xtask to build (tests build copies with one binary).
pub const XTASK_PROJECT_ROOT: &str = "XTASK_PROJECT_ROOT";
/// Reproducible timestamps; default: the last commit's time.
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";
/// Windows Authenticode certificate (`.p12`, base64) and its password; optional time-stamp
/// server.
pub const WINDOWS_P12_BASE64: &str = "WINDOWS_SIGNING_P12_BASE64";
pub const WINDOWS_P12_PASSWORD: &str = "WINDOWS_SIGNING_P12_PASSWORD";
pub const WINDOWS_TIMESTAMP_URL: &str = "WINDOWS_SIGNING_TIMESTAMP_URL";
/// Apple signing identity (`.p12` by path or base64) and its password.
pub const APPLE_P12_PATH: &str = "APPLE_SIGNING_P12_PATH";
pub const APPLE_P12_BASE64: &str = "APPLE_SIGNING_P12_BASE64";
pub const APPLE_P12_PASSWORD: &str = "APPLE_SIGNING_P12_PASSWORD";
/// App Store Connect API key for notarization.
pub const APPLE_API_KEY_ID: &str = "APPLE_API_KEY_ID";
pub const APPLE_API_ISSUER: &str = "APPLE_API_ISSUER";
pub const APPLE_API_KEY_P8_PATH: &str = "APPLE_API_KEY_P8_PATH";
pub const APPLE_API_KEY_P8: &str = "APPLE_API_KEY_P8";
/// The extra package index of the torch variants the default index does not build (their
/// wheels are on another index): `cargo xtask lock` and `cargo xtask runtime` use it for that
/// variant only; no lock or file records it.
pub const EXTRA_INDEX_LINUX_X64_TORCH_CPU: &str = "XTASK_EXTRA_INDEX_LINUX_X64_TORCH_CPU";
pub const EXTRA_INDEX_WINDOWS_X64_TORCH_CUDA: &str = "XTASK_EXTRA_INDEX_WINDOWS_X64_TORCH_CUDA";
/// The Python an app's web E2E tests run its engine with.
pub const PYTHON: AppVar = AppVar("PYTHON");
/// A JSON machine probe used instead of probing this machine (tests of the GPU paths).
pub const PROBE_FIXTURE: AppVar = AppVar("PROBE_FIXTURE");
/// Runs the slow end-to-end tests when `1`.
pub const SLOW_TESTS: &str = "XTASK_SLOW_TESTS";
/// Also runs the torch-runtime end-to-end tests (the host CUDA build is ≈ 5 GB) when `1`.
pub const TORCH_TESTS: &str = "XTASK_TORCH_TESTS";
/// Hugging Face caches, all under `<data>/cache/huggingface/`.
pub const HF_HOME: &str = "HF_HOME";
pub const HF_DATASETS_CACHE: &str = "HF_DATASETS_CACHE";
pub const HUGGINGFACE_HUB_CACHE: &str = "HUGGINGFACE_HUB_CACHE";

const XTASK: &[Reader] = &[Reader::Xtask];
const ENGINE: &[Reader] = &[Reader::Engine];
const SHELL: &[Reader] = &[Reader::Shell];
const TESTS: &[Reader] = &[Reader::Tests];
const LIBRARIES: &[Reader] = &[Reader::Libraries];

const fn var(
    name: &'static str,
    kind: Kind,
    default: &'static str,
    read_by: &'static [Reader],
    doc: &'static str,
) -> EnvVar {
    EnvVar {
        name,
        app: false,
        kind,
        default,
        read_by,
        secret: false,
        doc,
    }
}

const fn app_var(
    var: AppVar,
    kind: Kind,
    default: &'static str,
    read_by: &'static [Reader],
    doc: &'static str,
) -> EnvVar {
    EnvVar {
        app: true,
        ..self::var(var.0, kind, default, read_by, doc)
    }
}

const fn app_secret(
    var: AppVar,
    kind: Kind,
    read_by: &'static [Reader],
    doc: &'static str,
) -> EnvVar {
    EnvVar {
        app: true,
        ..secret(var.0, kind, read_by, doc)
    }
}

const fn secret(
    name: &'static str,
    kind: Kind,
    read_by: &'static [Reader],
    doc: &'static str,
) -> EnvVar {
    EnvVar {
        name,
        app: false,
        kind,
        default: "",
        read_by,
        secret: true,
        doc,
    }
}

/// Every variable, grouped: the data root and launch contract, the shell, release
/// configuration, the build machine, tests, then what the engine sets for its libraries.
pub const ALL: &[EnvVar] = &[
    app_var(DATA_DIR, Kind::Path, "per-OS data folder", &[Reader::Engine, Reader::Shell, Reader::Supervisor], "Where the app keeps its data; surrounding whitespace is ignored and only whitespace counts as unset."),
    var("APPDATA", Kind::Path, "`~/AppData/Roaming`", &[Reader::Engine, Reader::Shell], "Windows: the data folder's parent."),
    var("XDG_DATA_HOME", Kind::Path, "`~/.local/share`", &[Reader::Engine, Reader::Shell], "Linux: the data folder's parent (absolute values only)."),
    var("HOME", Kind::Path, "", &[Reader::Engine, Reader::Shell, Reader::Xtask], "The user's home folder (`USERPROFILE` on Windows)."),
    var("USERPROFILE", Kind::Path, "", &[Reader::Shell, Reader::Xtask], "Windows: the user's home folder."),
    var("ProgramFiles", Kind::Path, "", XTASK, "Windows: where `ci-installed` looks for what an MSI installed."),
    var("LOCALAPPDATA", Kind::Path, "", XTASK, "Windows: where `ci-installed` looks for a per-user install."),
    app_secret(RUNTIME_TOKEN, Kind::Text, ENGINE, "Random per launch, set by the supervisor: every request must carry it."),
    app_var(LAUNCH_ID, Kind::Text, "", ENGINE, "Random per launch, set by the supervisor: `/health` echoes it."),
    app_var(WEB_DIR, Kind::Path, "`<runtime>/web`", ENGINE, "The built web UI the engine serves."),
    app_var(CORS_ORIGINS, Kind::List, "", ENGINE, "Extra origins allowed to call the API (the Vite dev server)."),
    app_var(MAX_UPLOAD_BYTES, Kind::Integer, "1073741824", ENGINE, "Largest upload the engine accepts."),
    app_var(DEVICE, Kind::Text, "the manifest's accelerator", &[Reader::Engine, Reader::Supervisor], "`cpu`, `cuda` or `mps`: the device the engine computes on; set by the shell from its compute choice. A GPU is proven with a tensor operation before the engine reports ready."),
    app_var(RUNTIME_DIR, Kind::Path, "", SHELL, "A runtime folder the shell tries before `<data>/runtime/current`."),
    app_var(BUNDLED_RUNTIME, Kind::Path, "beside the shell", SHELL, "The runtime archive a full installer carried."),
    app_var(INDEX_URL, Kind::Url, "`<release URL>/runtime-<channel>.json`", SHELL, "Another release index (tests, mirrors); only indexes signed with the built-in key are accepted."),
    app_var(REGISTRY_URL, Kind::Url, "`<release URL>/apps-<channel>.json`", SHELL, "Another app registry for the launcher (tests, mirrors); only registries signed with the built-in key are accepted. Read from the shell's primary app."),
    app_var(UPDATE_CHECK, Kind::Switch, "on", SHELL, "`0` turns the background update checks off."),
    app_var(SHELL_UPDATE_URL, Kind::Url, "`<release URL>/latest-<channel>.json`", SHELL, "Another shell update manifest; https, or http from loopback only."),
    app_var(PROBE_FIXTURE, Kind::Path, "", &[Reader::Shell, Reader::Xtask], "A JSON machine probe used instead of probing this machine (tests of the GPU paths)."),
    var(UPDATE_PUBKEY, Kind::MinisignKey, "the dev key (dev channel)", &[Reader::Xtask, Reader::ShellBuild], "The public key built into the shell for runtime and shell updates."),
    var(RELEASE_BASE_URL, Kind::Url, "", &[Reader::Xtask, Reader::ShellBuild], "Where the release is published; built into the shell. A thin release-channel installer needs it."),
    var(SHELL_APP, Kind::Path, "the workspace's default app", &[Reader::ShellBuild], "The app descriptor the shell is built for (set by `cargo xtask release --app`)."),
    var(CHANNEL, Kind::Text, "dev", &[Reader::ShellBuild], "The channel built into the shell (set by `cargo xtask release --channel`)."),
    secret(MINISIGN_KEY, Kind::MinisignKey, XTASK, "The secret key that signs the release index and installers (release channels)."),
    secret(MINISIGN_PASSWORD, Kind::Text, XTASK, "Password of the secret key when it is encrypted."),
    secret(WINDOWS_P12_BASE64, Kind::Base64, XTASK, "Windows Authenticode certificate (`.p12`)."),
    secret(WINDOWS_P12_PASSWORD, Kind::Text, XTASK, "Password of the Windows certificate."),
    var(WINDOWS_TIMESTAMP_URL, Kind::Url, "", XTASK, "RFC 3161 time-stamp server for Authenticode signatures."),
    var(APPLE_P12_PATH, Kind::Path, "", XTASK, "Apple signing identity (`.p12` file)."),
    secret(APPLE_P12_BASE64, Kind::Base64, XTASK, "Apple signing identity (`.p12`), when not given by path."),
    secret(APPLE_P12_PASSWORD, Kind::Text, XTASK, "Password of the Apple identity."),
    var(APPLE_API_KEY_ID, Kind::Text, "", XTASK, "App Store Connect API key id (notarization)."),
    var(APPLE_API_ISSUER, Kind::Text, "", XTASK, "App Store Connect API issuer id (notarization)."),
    var(APPLE_API_KEY_P8_PATH, Kind::Path, "", XTASK, "App Store Connect private key (`.p8` file)."),
    secret(APPLE_API_KEY_P8, Kind::Text, XTASK, "App Store Connect private key (`.p8` text), when not given by path."),
    var(PYTHON_MIRROR, Kind::Url, "python-build-standalone releases", XTASK, "Replaces the CPython download prefix (`file://` works); the sha256 pin still applies."),
    var(EXTRA_INDEX_LINUX_X64_TORCH_CPU, Kind::Url, "", XTASK, "Package index with CPU-only Linux torch wheels: locks and builds `linux-x64-torch-cpu` (searched before the default index)."),
    var(EXTRA_INDEX_WINDOWS_X64_TORCH_CUDA, Kind::Url, "", XTASK, "Package index with CUDA Windows torch wheels: locks and builds `windows-x64-torch-cuda` (searched before the default index)."),
    var(CACHE_DIR, Kind::Path, "`~/.cache/desktop-xtask`", XTASK, "Downloads, uv's cache and the bootstrapped uv."),
    var("XDG_CACHE_HOME", Kind::Path, "`~/.cache`", XTASK, "Parent of the xtask cache."),
    var(HOST_PYTHON, Kind::Path, "python3.12 on PATH, pyenv", XTASK, "The host CPython 3.12."),
    var("PYENV_ROOT", Kind::Path, "`~/.pyenv`", XTASK, "Where pyenv keeps interpreters (searched for CPython 3.12)."),
    var(UV, Kind::Path, "uv on PATH, else bootstrapped", XTASK, "A uv of the pinned version."),
    var(SOURCE_DATE_EPOCH, Kind::Integer, "the last commit's time", XTASK, "Timestamp of every generated file."),
    var(XTASK_PROJECT_ROOT, Kind::Path, "the checkout of the xtask", XTASK, "Builds another checkout of the same commit."),
    var("CARGO", Kind::Path, "cargo", XTASK, "The cargo that runs the xtask (set by cargo)."),
    var("PATH", Kind::List, "", XTASK, "Where tools (npm, linuxdeploy, osslsigncode, uv, python3.12) are looked for."),
    var("CI", Kind::Switch, "", XTASK, "Set: plain progress output instead of bars."),
    var("DISPLAY", Kind::Text, "a private Xvfb", &[Reader::Xtask, Reader::Tests], "The X display `bench shell` and the window tests use."),
    var(SLOW_TESTS, Kind::Switch, "", TESTS, "`1` runs the slow end-to-end tests (full runtime builds, windows)."),
    var(TORCH_TESTS, Kind::Switch, "", TESTS, "`1` (with the slow tests) also runs the host CUDA torch runtime test (≈ 5.7 GB runtime); the Linux workflow's torch step sets it."),
    var("XTASK_E2E_RUNTIME", Kind::Path, "`dist/runtime-<target>`", TESTS, "The assembled runtime the shell E2E tests start."),
    app_var(PYTHON, Kind::Path, "the dev venv", TESTS, "The Python the web E2E tests run the engine with."),
    app_var(AppVar("TEST_DISK_FULL_NAMESPACE"), Kind::Switch, "", TESTS, "Set by the engine's disk-full tests in the user and mount namespace they rerun themselves in (to mount a small tmpfs without root)."),
    var("TEST_SKIP_LOG", Kind::Path, "set by `cargo xtask test`", TESTS, "File a test that cannot run appends `TEST-SKIPPED <package> <test>: <reason>` to, so the run counts it."),
    var("TEST_TIMEOUT_SCALE", Kind::Text, "1", TESTS, "Multiplies every timeout and grace period of the timing tests, for a loaded machine."),
    var("TEST_SUPPORT_OWN_PROCESS", Kind::Switch, "", TESTS, "Set by test-support in the child process a test that changes process-wide state reruns itself in."),
    var("UPDATE_SNAPSHOTS", Kind::Switch, "", TESTS, "Set: snapshot tests rewrite their snapshots (schemas, this table in the README)."),
    var(HF_HOME, Kind::Path, "`<data>/cache/huggingface`", LIBRARIES, "Set by the engine: Hugging Face caches stay in the data folder."),
    var(HF_DATASETS_CACHE, Kind::Path, "`<data>/cache/huggingface/datasets`", LIBRARIES, "Set by the engine."),
    var(HUGGINGFACE_HUB_CACHE, Kind::Path, "`<data>/cache/huggingface/hub`", LIBRARIES, "Set by the engine."),
    var("HF_HUB_OFFLINE", Kind::Switch, "1", LIBRARIES, "Set by the engine: a surprise download becomes an error."),
    var("HF_DATASETS_OFFLINE", Kind::Switch, "1", LIBRARIES, "Set by the engine."),
    var("TMPDIR", Kind::Path, "`<data>/tmp`", LIBRARIES, "Set by the engine: temporary files stay in the data folder."),
];

/// The table's row for `name`, a variable that is not an app's.
pub fn lookup(name: &str) -> Option<&'static EnvVar> {
    ALL.iter().find(|var| !var.app && var.name == name)
}

/// Whether `name` is a row of the table: a fixed name, or an app's prefix then `_` then one of
/// the app variables.
pub fn is_listed(name: &str) -> bool {
    lookup(name).is_some()
        || ALL.iter().any(|var| {
            var.app
                && name
                    .strip_suffix(var.name)
                    .and_then(|prefix| prefix.strip_suffix('_'))
                    .is_some_and(|prefix| !prefix.is_empty())
        })
}

/// The table's row for an app's variable, named without its prefix (`DATA_DIR`).
pub fn lookup_app(name: &str) -> Option<&'static EnvVar> {
    ALL.iter().find(|var| var.app && var.name == name)
}

/// The table as Markdown, the block between `<!-- env-vars:start -->` and
/// `<!-- env-vars:end -->` in README.md.
pub fn markdown_table() -> String {
    let mut table = String::from(
        "| variable | value | default | read by | secret | what it does |\n|---|---|---|---|---|---|\n",
    );
    for var in ALL {
        let readers: Vec<String> = var.read_by.iter().map(ToString::to_string).collect();
        table.push_str(&format!(
            "| `{}{}` | {} | {} | {} | {} | {} |\n",
            if var.app { "<PREFIX>_" } else { "" },
            var.name,
            var.kind,
            if var.default.is_empty() {
                "–"
            } else {
                var.default
            },
            readers.join(", "),
            if var.secret { "yes" } else { "" },
            var.doc
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_secrets_have_no_default() {
        for (index, var) in ALL.iter().enumerate() {
            assert!(
                ALL[index + 1..]
                    .iter()
                    .all(|other| other.name != var.name || other.app != var.app),
                "{} is listed twice",
                var.name
            );
            assert!(!var.read_by.is_empty(), "{} has no reader", var.name);
            assert!(!var.secret || var.default.is_empty(), "{}", var.name);
            assert!(!var.doc.contains('|'), "{} would break the table", var.name);
        }
        assert!(lookup(MINISIGN_KEY).unwrap().secret);
        assert!(!lookup(RELEASE_BASE_URL).unwrap().secret);
        assert!(lookup_app("BUNDLE").is_none());
        assert!(lookup_app(DATA_DIR.0).unwrap().app);
        assert!(lookup(DATA_DIR.0).is_none());
        assert_eq!(
            DATA_DIR.name("CORPUS_INSPECTOR"),
            "CORPUS_INSPECTOR_DATA_DIR"
        );
    }
}
