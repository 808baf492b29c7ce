"""Where the engine keeps its data: the data root (enginekit's rule, with this app's folder name
and variable), and the folders under it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath

from enginecore import paths as core
from enginecore.paths import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, make_private_dir
from inspector.settings import ENGINE

__all__ = ["PRIVATE_DIR_MODE", "PRIVATE_FILE_MODE", "DataPaths", "make_private_dir", "resolve_data_root"]

APP_DIR_NAME = ENGINE.data_dir_name


def resolve_data_root(platform: str, env: Mapping[str, str], home: PurePath | str | None) -> PurePath:
    """The data root for `platform` (a sys.platform value): CORPUS_INSPECTOR_DATA_DIR, else the
    OS's per-user data folder (enginekit's rule, `enginecore.paths`)."""
    return core.resolve_data_root(ENGINE, platform, env, home)


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
        folders = (self.db_file.parent, self.datasets, self.tokenizers, self.jobs, self.logs, self.tmp)
        core.prepare_private(self.root, folders)


def data_paths(override: Path | None = None) -> DataPaths:
    """The data root for this process: --data-dir, else the variable, else the OS default."""
    return DataPaths(core.data_root(ENGINE, override))


def configure_process(paths: DataPaths) -> None:
    """Temp files stay inside the data root, with the rest of the user's data."""
    core.keep_temp_files_in(paths.tmp)
