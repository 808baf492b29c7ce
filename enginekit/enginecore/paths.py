"""Where an engine keeps its data: the data root, resolved per OS by a pure, testable function,
and the folders under it kept private to the user.

The rule is the one in docs/runtime-contract.md ("Data root"); the shell resolves the same root
in Rust (runtime_spec::discovery::data_root), and both run `runtime-spec/tests/data-root-cases.json`.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable, Mapping, MutableMapping
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

from enginecore import EngineApp

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def resolve_data_root(
    engine: EngineApp, platform: str, env: Mapping[str, str], home: PurePath | str | None
) -> PurePath:
    """The data root for `platform` (a sys.platform value): `<PREFIX>_DATA_DIR`, else the OS's
    per-user data folder with the app's folder name.

    Pure: no filesystem access, so every OS is testable from any OS. Values are trimmed (only
    whitespace counts as unset). ValueError when the home folder is needed but unknown.
    """
    flavour = PureWindowsPath if platform == "win32" else PurePosixPath
    override = env.get(engine.env_data_dir, "").strip()
    if override:
        return flavour(override)

    def under_home(*parts: str) -> PurePath:
        if home is None:
            raise ValueError(f"no home folder to keep the data in: set {engine.env_data_dir}")
        return flavour(home).joinpath(*parts)

    if platform == "darwin":
        return under_home("Library", "Application Support", engine.data_dir_name)
    if platform == "win32":
        appdata = env.get("APPDATA", "").strip()
        base = flavour(appdata) if appdata else under_home("AppData", "Roaming")
        return base / engine.data_dir_name
    xdg = env.get("XDG_DATA_HOME", "").strip()
    # The XDG spec says relative values are invalid and must be ignored.
    base = flavour(xdg) if xdg and flavour(xdg).is_absolute() else under_home(".local", "share")
    return base / engine.data_dir_name


def data_root(engine: EngineApp, override: Path | None = None) -> Path:
    """The data root for this process: --data-dir, else the variable, else the OS default."""
    if override is not None:
        return Path(override).expanduser().absolute()
    root = resolve_data_root(engine, sys.platform, os.environ, Path.home())
    return Path(root).expanduser().absolute()


def make_private_dir(folder: Path) -> None:
    # On Windows the folder's inherited ACL already keeps it to the user; chmod there only
    # toggles the read-only flag.
    if os.name == "posix" and (folder.stat().st_mode & 0o777) != PRIVATE_DIR_MODE:
        folder.chmod(PRIVATE_DIR_MODE)


def make_private_file(path: Path) -> None:
    """0600 for a file the engine wrote. The engine's main sets a 0077 umask, but an embedding
    process (a test's create_app) keeps its own, and some writers take no mode."""
    if os.name == "posix" and (path.stat().st_mode & 0o777) != PRIVATE_FILE_MODE:
        path.chmod(PRIVATE_FILE_MODE)


def prepare_private(root: Path, folders: Iterable[Path]) -> None:
    """Creates the root and `folders` under it private to the user, and re-applies that on every
    start: the shell or an older build may have created some of them first with the default
    mode. The root's parents are the user's, created with the usual defaults."""
    root.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    make_private_dir(root)
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        # Every folder between the root and this one too.
        for part in [folder, *folder.parents]:
            if part == root:
                break
            make_private_dir(part)


def keep_temp_files_in(tmp: Path, environ: MutableMapping[str, str] = os.environ) -> None:
    """Temp files stay inside the data root, with the rest of the user's data."""
    environ["TMPDIR"] = str(tmp)
    tempfile.tempdir = str(tmp)
