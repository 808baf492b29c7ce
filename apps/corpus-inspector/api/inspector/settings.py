"""Command line and environment settings for one engine launch."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ENV_PREFIX = "CORPUS_INSPECTOR"
ENV_DATA_DIR = f"{ENV_PREFIX}_DATA_DIR"
ENV_TOKEN = f"{ENV_PREFIX}_RUNTIME_TOKEN"
ENV_LAUNCH_ID = f"{ENV_PREFIX}_LAUNCH_ID"
ENV_WEB_DIR = f"{ENV_PREFIX}_WEB_DIR"
ENV_MAX_UPLOAD = f"{ENV_PREFIX}_MAX_UPLOAD_BYTES"

# A corpus is read whole, more than once, by one inspection: 200 MB is minutes at most.
DEFAULT_MAX_UPLOAD_BYTES = 200_000_000
ALLOWED_HOSTS = ("127.0.0.1", "localhost")
# <root>: the folder holding the `inspector` package's parent (runtime/ in a runtime, the app's
# folder apps/corpus-inspector/ in a checkout); the UI is <root>/web in both.
PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent


class SettingsError(Exception):
    """A launch option is unusable; the message says what to change. Exit code 2."""


@dataclass
class Settings:
    data_dir: Path | None = None
    web_dir: Path | None = None
    token: str | None = None
    launch_id: str | None = None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    port: int = 0
    stdin_watch: bool = True


def default_web_dir(root: Path = PACKAGE_ROOT) -> Path | None:
    """`<root>/web` when it holds the UI (its index.html), else None. The UI needs no build, so
    the source folder of a checkout is served as it is."""
    web = root / "web"
    return web if (web / "index.html").is_file() else None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own exit code for bad options is 2 as well
        raise SettingsError(message)


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m inspector", description="Corpus Inspector engine")
    parser.add_argument("--host", default="127.0.0.1", help="only 127.0.0.1 or localhost")
    parser.add_argument("--port", type=int, default=0, help="0 (default) lets the OS choose")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--web-dir", type=Path, default=None)
    parser.add_argument(
        "--no-stdin-watch",
        action="store_true",
        help="keep running when stdin closes (interactive development only)",
    )
    return parser


def parse_settings(argv: Sequence[str] | None, env: Mapping[str, str] | None = None) -> Settings:
    """Raises SettingsError for any unusable option or variable."""
    env = os.environ if env is None else env
    args = _build_parser().parse_args(argv)
    if args.host not in ALLOWED_HOSTS:
        raise SettingsError(
            f"--host {args.host!r} is refused: the engine only listens on 127.0.0.1 "
            "(use --host 127.0.0.1 or leave it out)"
        )
    if not 0 <= args.port <= 65535:
        raise SettingsError(f"--port {args.port} is out of range; use 0 to let the OS choose")
    max_upload = DEFAULT_MAX_UPLOAD_BYTES
    if env.get(ENV_MAX_UPLOAD, "").strip():
        try:
            max_upload = int(env[ENV_MAX_UPLOAD])
        except ValueError:
            raise SettingsError(f"{ENV_MAX_UPLOAD} must be a number of bytes") from None
        if max_upload <= 0:
            raise SettingsError(f"{ENV_MAX_UPLOAD} must be a positive number of bytes")
    web_dir = args.web_dir or (Path(env[ENV_WEB_DIR]) if env.get(ENV_WEB_DIR, "").strip() else None)
    if web_dir is None:
        web_dir = default_web_dir()
    elif not (web_dir / "index.html").is_file():
        raise SettingsError(f"web dir {str(web_dir)!r} has no index.html; point it at the UI folder")
    data_dir = args.data_dir
    if data_dir is not None and data_dir.exists() and not data_dir.is_dir():
        raise SettingsError(f"--data-dir {str(data_dir)!r} is a file; give a folder")
    return Settings(
        data_dir=data_dir,
        web_dir=web_dir,
        token=env.get(ENV_TOKEN) or None,
        launch_id=env.get(ENV_LAUNCH_ID) or None,
        max_upload_bytes=max_upload,
        port=args.port,
        stdin_watch=not args.no_stdin_watch,
    )
