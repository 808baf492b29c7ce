"""The launch options and variables every engine takes (docs/runtime-contract.md, "Launch
contract"): `--host` (127.0.0.1 only), `--port` (0: the OS chooses), `--data-dir`, `--web-dir`,
`--no-stdin-watch`, and `<PREFIX>_RUNTIME_TOKEN`, `<PREFIX>_LAUNCH_ID`, `<PREFIX>_WEB_DIR`,
`<PREFIX>_MAX_UPLOAD_BYTES`."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from enginecore import EngineApp

ALLOWED_HOSTS = ("127.0.0.1", "localhost")


class SettingsError(Exception):
    """A launch option is unusable; the message says what to change. Exit code 2."""


@dataclass
class Settings:
    data_dir: Path | None = None
    web_dir: Path | None = None
    token: str | None = None
    launch_id: str | None = None
    max_upload_bytes: int = 0
    port: int = 0
    stdin_watch: bool = True


class _RaisingParser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own exit code for bad options is 2 as well
        raise SettingsError(message)


def launch_parser(prog: str, description: str, *, raise_errors: bool = True) -> argparse.ArgumentParser:
    """The launch options. With `raise_errors`, a malformed option is a SettingsError (one
    sentence); without, argparse prints its usage and exits 2 itself."""
    parser_class = _RaisingParser if raise_errors else argparse.ArgumentParser
    parser = parser_class(prog=prog, description=description)
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


def _is_set(value: str | None, trim: bool) -> bool:
    return bool(value and (value.strip() if trim else value))


def parse_launch(
    engine: EngineApp,
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    env: Mapping[str, str],
    *,
    default_max_upload: int,
    default_web_dir: Path | None,
    web_dir_hint: str,
    trim_env: bool = True,
) -> tuple[argparse.Namespace, Settings]:
    """The parsed options and the settings every engine has; SettingsError for any unusable
    option or variable. `trim_env`: a variable of only whitespace counts as unset."""
    args = parser.parse_args(argv)
    if args.host not in ALLOWED_HOSTS:
        raise SettingsError(
            f"--host {args.host!r} is refused: the engine only listens on 127.0.0.1 "
            "(use --host 127.0.0.1 or leave it out)"
        )
    if not 0 <= args.port <= 65535:
        raise SettingsError(f"--port {args.port} is out of range; use 0 to let the OS choose")
    max_upload = default_max_upload
    max_upload_var = engine.env_max_upload
    if _is_set(env.get(max_upload_var), trim_env):
        try:
            max_upload = int(env[max_upload_var])
        except ValueError:
            raise SettingsError(f"{max_upload_var} must be a number of bytes") from None
        if max_upload <= 0:
            raise SettingsError(f"{max_upload_var} must be a positive number of bytes")
    web_var = engine.env_web_dir
    web_dir = args.web_dir or (Path(env[web_var]) if _is_set(env.get(web_var), trim_env) else None)
    if web_dir is None:
        web_dir = default_web_dir
    elif not (web_dir / "index.html").is_file():
        raise SettingsError(f"web dir {str(web_dir)!r} has no index.html; {web_dir_hint}")
    settings = Settings(
        data_dir=args.data_dir,
        web_dir=web_dir,
        token=env.get(engine.env_token) or None,
        launch_id=env.get(engine.env_launch_id) or None,
        max_upload_bytes=max_upload,
        port=args.port,
        stdin_watch=not args.no_stdin_watch,
    )
    return args, settings
