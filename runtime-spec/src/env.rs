//! Environment variable names of the launch contract and the toolchain (what each does:
//! `docs/runtime-contract.md`, "Environment variables").

/// Data root override (otherwise the per-OS default, see [`crate::discovery::data_root`]).
pub const DATA_DIR: &str = "TOKENIZER_STUDIO_DATA_DIR";
/// Random per launch; clients send it back in [`crate::launch::TOKEN_HEADER`].
pub const RUNTIME_TOKEN: &str = "TOKENIZER_STUDIO_RUNTIME_TOKEN";
/// Random per launch; `/health` echoes it so a stale server is never trusted.
pub const LAUNCH_ID: &str = "TOKENIZER_STUDIO_LAUNCH_ID";
/// The built web UI the backend serves.
pub const WEB_DIR: &str = "TOKENIZER_STUDIO_WEB_DIR";
/// Runtime discovery override: first place the shell looks.
pub const RUNTIME_DIR: &str = "TOKENIZER_STUDIO_RUNTIME_DIR";
/// Replaces the python-build-standalone download prefix (`file://` allowed), like uv's
/// `UV_PYTHON_INSTALL_MIRROR`. The sha256 pin still applies.
pub const PYTHON_MIRROR: &str = "TOKENIZER_STUDIO_PYTHON_MIRROR";
/// Hugging Face caches, all under `<data>/cache/huggingface/`.
pub const HF_HOME: &str = "HF_HOME";
pub const HF_DATASETS_CACHE: &str = "HF_DATASETS_CACHE";
pub const HUGGINGFACE_HUB_CACHE: &str = "HUGGINGFACE_HUB_CACHE";
