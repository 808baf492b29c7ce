"""Where the engine keeps its data: the data root (the same rule as Tokenizer Studio's, with this
app's folder name and variable), and the folders under it."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

from inspector.settings import ENV_DATA_DIR

APP_DIR_NAME = "CorpusInspector"
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def resolve_data_root(platform: str, env: Mapping[str, str], home: PurePath | str | None) -> PurePath:
    """The data root for `platform` (a sys.platform value): CORPUS_INSPECTOR_DATA_DIR, else the
    OS's per-user data folder. Pure, so every OS is testable anywhere. ValueError when the home
    folder is needed but unknown."""
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


def make_private_dir(folder: Path) -> None:
    # On Windows the folder's inherited ACL already keeps it to the user; chmod there only
    # toggles the read-only flag.
    if os.name == "posix" and (folder.stat().st_mode & 0o777) != PRIVATE_DIR_MODE:
        folder.chmod(PRIVATE_DIR_MODE)


@dataclass(frozen=True)
class DataPaths:
    root: Path

    @property
    def db_file(self) -> Path:
        return self.root / "db" / "corpus_inspector.db"

    @property
    def datasets(self) -> Path:
        return self.root / "uploads" / "datasets"

    @property
    def tokenizers(self) -> Path:
        return self.root / "uploads" / "tokenizers"

    @property
    def jobs(self) -> Path:
        """One folder per inspection, holding its stats.json (the job runner's artifacts root)."""
        return self.root / "jobs"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    def prepare(self) -> None:
        """Creates the data folders private to the user (a corpus is nobody else's business),
        and re-applies that on every start: something else may have created them first."""
        self.root.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        make_private_dir(self.root)
        for folder in (self.db_file.parent, self.datasets, self.tokenizers, self.jobs, self.logs, self.tmp):
            folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
            for part in [folder, *folder.parents]:
                if part == self.root:
                    break
                make_private_dir(part)


def data_paths(override: Path | None = None) -> DataPaths:
    """The data root for this process: --data-dir, else the variable, else the OS default."""
    if override is not None:
        return DataPaths(Path(override).expanduser().absolute())
    root = resolve_data_root(sys.platform, os.environ, Path.home())
    return DataPaths(Path(root).expanduser().absolute())


def configure_process(paths: DataPaths) -> None:
    """Temp files stay inside the data root, with the rest of the user's data."""
    os.environ["TMPDIR"] = str(paths.tmp)
    tempfile.tempdir = str(paths.tmp)
