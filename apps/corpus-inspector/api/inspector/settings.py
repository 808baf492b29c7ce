"""Command line and environment settings for one engine launch (the options and variables every
engine takes are enginekit's, `enginecore.settings`)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from enginecore import EngineApp
from enginecore.settings import ALLOWED_HOSTS, SettingsError, launch_parser, parse_launch
from enginecore.settings import Settings as _LaunchSettings

__all__ = ["ALLOWED_HOSTS", "ENGINE", "Settings", "SettingsError", "default_web_dir", "parse_settings"]

# <root>: the folder holding the `inspector` package's parent (runtime/ in a runtime, the app's
# folder apps/corpus-inspector/ in a checkout); the UI is <root>/web in both.
PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent
ENGINE = EngineApp(
    prefix="CORPUS_INSPECTOR",
    product="Corpus Inspector",
    data_dir_name="CorpusInspector",
    package_root=PACKAGE_ROOT,
)
ENV_PREFIX = ENGINE.prefix
ENV_DATA_DIR = ENGINE.env_data_dir
ENV_TOKEN = ENGINE.env_token
ENV_LAUNCH_ID = ENGINE.env_launch_id
ENV_WEB_DIR = ENGINE.env_web_dir
ENV_MAX_UPLOAD = ENGINE.env_max_upload

# A corpus is read whole, more than once, by one inspection: 200 MB is minutes at most.
DEFAULT_MAX_UPLOAD_BYTES = 200_000_000


@dataclass
class Settings(_LaunchSettings):
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES


def default_web_dir(root: Path = PACKAGE_ROOT) -> Path | None:
    """`<root>/web` when it holds the UI (its index.html), else None. The UI needs no build, so
    the source folder of a checkout is served as it is."""
    web = root / "web"
    return web if (web / "index.html").is_file() else None


def parse_settings(argv: Sequence[str] | None, env: Mapping[str, str] | None = None) -> Settings:
    """Raises SettingsError for any unusable option or variable."""
    env = os.environ if env is None else env
    _, launch = parse_launch(
        ENGINE,
        launch_parser("python -m inspector", "Corpus Inspector engine"),
        argv,
        env,
        default_max_upload=DEFAULT_MAX_UPLOAD_BYTES,
        default_web_dir=default_web_dir(),
        web_dir_hint="point it at the UI folder",
    )
    data_dir = launch.data_dir
    if data_dir is not None and data_dir.exists() and not data_dir.is_dir():
        raise SettingsError(f"--data-dir {str(data_dir)!r} is a file; give a folder")
    return Settings(**vars(launch))
