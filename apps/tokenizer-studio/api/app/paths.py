"""Where the app keeps its data, resolved per OS by a pure, testable function.

The rule is the one in docs/runtime-contract.md ("Data root"); the shell resolves the same root
in Rust (runtime_spec::discovery::data_root).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path, PurePath

from app.settings import ENGINE
from enginecore import paths as core
from enginecore.paths import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, make_private_dir, make_private_file

__all__ = [
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "DataPaths",
    "make_private_dir",
    "make_private_file",
    "resolve_data_root",
]

APP_DIR_NAME = ENGINE.data_dir_name
ENV_DATA_DIR = ENGINE.env_data_dir


def resolve_data_root(platform: str, env: Mapping[str, str], home: PurePath | str | None) -> PurePath:
    """Data root for `platform` (a sys.platform value) given the environment and home folder:
    enginekit's rule (`enginecore.paths`) with this app's variable and folder name."""
    return core.resolve_data_root(ENGINE, platform, env, home)


@dataclass(frozen=True)
class DataPaths:
    root: Path

    @property
    def db_dir(self) -> Path:
        return self.root / "db"

    @property
    def db_file(self) -> Path:
        return self.db_dir / "tokenizer_studio.db"

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts" / "tokenizers"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def hf_cache(self) -> Path:
        return self.root / "cache" / "huggingface"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    def job_artifacts(self, job_id: str) -> Path:
        return self.artifacts / job_id

    def prepare(self) -> None:
        """Creates the data folders, private to the user (uploads and history are nobody
        else's business), and re-applies that on every start: the shell or an older build
        may have created some of them first with the default mode."""
        folders = (self.db_dir, self.uploads, self.artifacts, self.logs, self.hf_cache, self.tmp)
        core.prepare_private(self.root, folders)


def data_paths(override: Path | None = None) -> DataPaths:
    """The data root for this process: --data-dir, else the env override, else the OS default."""
    return DataPaths(core.data_root(ENGINE, override))


def configure_process(paths: DataPaths, environ: MutableMapping[str, str] = os.environ) -> None:
    """Keeps every cache and temp file inside the data root; must run before any HF import."""
    hf = paths.hf_cache
    environ["HF_HOME"] = str(hf)
    environ["HF_DATASETS_CACHE"] = str(hf / "datasets")
    environ["HUGGINGFACE_HUB_CACHE"] = str(hf / "hub")
    # The app never downloads from the hub; offline mode turns a surprise download into an error.
    environ["HF_HUB_OFFLINE"] = "1"
    environ["HF_DATASETS_OFFLINE"] = "1"
    core.keep_temp_files_in(paths.tmp, environ)
