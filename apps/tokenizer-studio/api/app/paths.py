"""Where the app keeps its data, resolved per OS by a pure, testable function.

The rule is the one in docs/runtime-contract.md ("Data root"); the shell resolves the same root
in Rust (runtime_spec::discovery::data_root).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

APP_DIR_NAME = "TokenizerStudio"
ENV_DATA_DIR = "TOKENIZER_STUDIO_DATA_DIR"


def resolve_data_root(platform: str, env: Mapping[str, str], home: PurePath | str | None) -> PurePath:
    """Data root for `platform` (a sys.platform value) given the environment and home folder.

    Pure: no filesystem access, so every OS is testable from any OS. Values are trimmed (only
    whitespace counts as unset); the shell's `runtime-spec/src/discovery.rs::data_root` follows
    the same rule and both run `runtime-spec/tests/data-root-cases.json`. ValueError when the
    home folder is needed but unknown.
    """
    flavour = PureWindowsPath if platform == "win32" else PurePosixPath
    override = env.get(ENV_DATA_DIR, "").strip()
    if override:
        return flavour(override)

    def under_home(*parts: str) -> PurePath:
        if home is None:
            raise ValueError(f"no home folder to keep the data in: set {ENV_DATA_DIR}")
        return flavour(home).joinpath(*parts)

    if platform == "darwin":
        return under_home("Library", "Application Support", APP_DIR_NAME)
    if platform == "win32":
        appdata = env.get("APPDATA", "").strip()
        base = flavour(appdata) if appdata else under_home("AppData", "Roaming")
        return base / APP_DIR_NAME
    xdg = env.get("XDG_DATA_HOME", "").strip()
    # The XDG spec says relative values are invalid and must be ignored.
    base = flavour(xdg) if xdg and flavour(xdg).is_absolute() else under_home(".local", "share")
    return base / APP_DIR_NAME


PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private_dir(folder: Path) -> None:
    # On Windows the folder's inherited ACL already keeps it to the user; chmod there only
    # toggles the read-only flag.
    if os.name == "posix" and (folder.stat().st_mode & 0o777) != PRIVATE_DIR_MODE:
        folder.chmod(PRIVATE_DIR_MODE)


def make_private_file(path: Path) -> None:
    """0600 for a file the engine wrote. `python -m app` sets a 0077 umask, but an embedding
    process (create_app) keeps its own, and some writers (the Rust tokenizer save) take no mode."""
    if os.name == "posix" and (path.stat().st_mode & 0o777) != PRIVATE_FILE_MODE:
        path.chmod(PRIVATE_FILE_MODE)


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
        # Parents of the root are the user's, created with the usual defaults.
        self.root.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        make_private_dir(self.root)
        for folder in (self.db_dir, self.uploads, self.artifacts, self.logs, self.hf_cache, self.tmp):
            folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
            # Every folder between the root and this one (artifacts/, cache/) too.
            for part in [folder, *folder.parents]:
                if part == self.root:
                    break
                make_private_dir(part)


def data_paths(override: Path | None = None) -> DataPaths:
    """The data root for this process: --data-dir, else the env override, else the OS default."""
    if override is not None:
        return DataPaths(Path(override).expanduser().absolute())
    import sys

    root = resolve_data_root(sys.platform, os.environ, Path.home())
    return DataPaths(Path(root).expanduser().absolute())


def configure_process(paths: DataPaths, environ: MutableMapping[str, str] = os.environ) -> None:
    """Keeps every cache and temp file inside the data root; must run before any HF import."""
    hf = paths.hf_cache
    environ["HF_HOME"] = str(hf)
    environ["HF_DATASETS_CACHE"] = str(hf / "datasets")
    environ["HUGGINGFACE_HUB_CACHE"] = str(hf / "hub")
    # The app never downloads from the hub; offline mode turns a surprise download into an error.
    environ["HF_HUB_OFFLINE"] = "1"
    environ["HF_DATASETS_OFFLINE"] = "1"
    environ["TMPDIR"] = str(paths.tmp)
    tempfile.tempdir = str(paths.tmp)
