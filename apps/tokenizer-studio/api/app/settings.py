"""Command line and environment settings for one server launch."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from app import system

ENV_DATA_DIR = "TOKENIZER_STUDIO_DATA_DIR"
ENV_TOKEN = "TOKENIZER_STUDIO_RUNTIME_TOKEN"
ENV_LAUNCH_ID = "TOKENIZER_STUDIO_LAUNCH_ID"
ENV_WEB_DIR = "TOKENIZER_STUDIO_WEB_DIR"
ENV_CORS = "TOKENIZER_STUDIO_CORS_ORIGINS"
ENV_MAX_UPLOAD = "TOKENIZER_STUDIO_MAX_UPLOAD_BYTES"
ENV_DEVICE = "TOKENIZER_STUDIO_DEVICE"

DEFAULT_MAX_UPLOAD_BYTES = 1 << 30
ALLOWED_HOSTS = ("127.0.0.1", "localhost")
# <root>: the folder holding the `app` package's parent (runtime/ in a runtime, the app's source
# folder apps/tokenizer-studio/ in a checkout).
PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent


class SettingsError(Exception):
    """A launch option is unusable; the message says what to change. Exit code 2."""


@dataclass
class Settings:
    data_dir: Path | None = None
    web_dir: Path | None = None
    token: str | None = None
    launch_id: str | None = None
    cors_origins: tuple[str, ...] = ()
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    port: int = 0
    stdin_watch: bool = True
    # The runtime this interpreter belongs to (None in development) and the device the engine
    # computes on: TOKENIZER_STUDIO_DEVICE, else the runtime's accelerator, else the CPU.
    runtime_root: Path | None = None
    device: str = "cpu"


def default_web_dir(root: Path = PACKAGE_ROOT) -> Path | None:
    """`<root>/web` when it holds a built UI, else `<root>/web/dist`, else None.

    In a checkout `<root>/web` is the Vite source folder: its index.html (next to package.json)
    points at /src/main.tsx and cannot be served, so only a folder without package.json counts.
    """
    web = root / "web"
    if (web / "index.html").is_file() and not (web / "package.json").exists():
        return web
    if (web / "dist" / "index.html").is_file():
        return web / "dist"
    return None


def _parse_origins(raw: str) -> tuple[str, ...]:
    origins = []
    for item in raw.split(","):
        item = item.strip().rstrip("/")
        if not item:
            continue
        if not item.startswith(("http://", "https://")):
            raise SettingsError(
                f"{ENV_CORS} entry {item!r} is not an origin; write it like http://127.0.0.1:5173"
            )
        origins.append(item)
    return tuple(origins)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description="Tokenizer Studio engine")
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


def _device(env: Mapping[str, str], root: Path | None) -> str:
    requested = env.get(ENV_DEVICE, "").strip().lower() or None
    if requested is not None and requested not in system.DEVICES:
        raise SettingsError(
            f"{ENV_DEVICE} is {env[ENV_DEVICE]!r}, which is not a device the engine knows; "
            "set it to cpu, cuda or mps, or leave it unset to use the runtime's own"
        )
    try:
        accelerator = system.manifest_accelerator(root)
    except system.ManifestError as exc:
        raise SettingsError(str(exc).rstrip(".")) from None
    return system.choose_device(requested, accelerator)


def parse_settings(
    argv: Sequence[str] | None, env: Mapping[str, str] | None = None, prefix: Path | None = None
) -> Settings:
    """Raises SettingsError for bad values; argparse itself exits 2 for malformed options.

    `prefix` stands for `sys.prefix`, the interpreter whose runtime (if any) is read."""
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
    if env.get(ENV_MAX_UPLOAD):
        try:
            max_upload = int(env[ENV_MAX_UPLOAD])
        except ValueError:
            raise SettingsError(f"{ENV_MAX_UPLOAD} must be a number of bytes") from None
        if max_upload <= 0:
            raise SettingsError(f"{ENV_MAX_UPLOAD} must be a positive number of bytes")
    web_dir = args.web_dir or (Path(env[ENV_WEB_DIR]) if env.get(ENV_WEB_DIR) else None)
    if web_dir is None:
        web_dir = default_web_dir()
    elif not (web_dir / "index.html").is_file():
        raise SettingsError(f"web dir {str(web_dir)!r} has no index.html; build the web UI first")
    root = system.runtime_root(prefix)
    return Settings(
        data_dir=args.data_dir,
        web_dir=web_dir,
        token=env.get(ENV_TOKEN) or None,
        launch_id=env.get(ENV_LAUNCH_ID) or None,
        cors_origins=_parse_origins(env.get(ENV_CORS, "")),
        max_upload_bytes=max_upload,
        port=args.port,
        stdin_watch=not args.no_stdin_watch,
        runtime_root=root,
        device=_device(env, root),
    )
