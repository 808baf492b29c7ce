"""Command line and environment settings for one server launch (the options and variables every
engine takes are enginekit's, `enginecore.settings`)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from app import system
from enginecore import EngineApp
from enginecore.settings import ALLOWED_HOSTS, SettingsError, launch_parser, parse_launch
from enginecore.settings import Settings as _LaunchSettings

__all__ = ["ALLOWED_HOSTS", "ENGINE", "Settings", "SettingsError", "default_web_dir", "parse_settings"]

# <root>: the folder holding the `app` package's parent (runtime/ in a runtime, the app's source
# folder apps/tokenizer-studio/ in a checkout).
PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent
ENGINE = EngineApp(
    prefix="TOKENIZER_STUDIO",
    product="Tokenizer Studio",
    data_dir_name="TokenizerStudio",
    package_root=PACKAGE_ROOT,
)
ENV_DATA_DIR = ENGINE.env_data_dir
ENV_TOKEN = ENGINE.env_token
ENV_LAUNCH_ID = ENGINE.env_launch_id
ENV_WEB_DIR = ENGINE.env_web_dir
ENV_CORS = ENGINE.env("CORS_ORIGINS")
ENV_MAX_UPLOAD = ENGINE.env_max_upload
ENV_DEVICE = ENGINE.env("DEVICE")

DEFAULT_MAX_UPLOAD_BYTES = 1 << 30


@dataclass
class Settings(_LaunchSettings):
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    # Development only: a dev server's origin allowed to call the engine (TOKENIZER_STUDIO_CORS_ORIGINS).
    cors_origins: tuple[str, ...] = ()
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
    _, launch = parse_launch(
        ENGINE,
        launch_parser("python -m app", "Tokenizer Studio engine", raise_errors=False),
        argv,
        env,
        default_max_upload=DEFAULT_MAX_UPLOAD_BYTES,
        default_web_dir=default_web_dir(),
        web_dir_hint="build the web UI first",
        # A variable of only spaces is a mistake to report here, not an unset one.
        trim_env=False,
    )
    root = system.runtime_root(prefix)
    return Settings(
        **vars(launch),
        cors_origins=_parse_origins(env.get(ENV_CORS, "")),
        runtime_root=root,
        device=_device(env, root),
    )
