"""A throwaway engine on enginecore alone, for the launch contract tests: `python -I
throwaway_engine.py <enginekit> [options]`. Its one app route is the authenticated shutdown."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, sys.argv.pop(1))

from fastapi import FastAPI  # noqa: E402

from enginecore import EngineApp  # noqa: E402
from enginecore import server as core  # noqa: E402
from enginecore.errors import install_error_handlers  # noqa: E402
from enginecore.paths import data_root, keep_temp_files_in, prepare_private  # noqa: E402
from enginecore.security import SecurityMiddleware, SessionStore  # noqa: E402
from enginecore.settings import SettingsError, launch_parser, parse_launch  # noqa: E402

ENGINE = EngineApp(prefix="THROWAWAY_TOOL", product="Throwaway Tool", data_dir_name="ThrowawayTool")
log = logging.getLogger("throwaway_tool")


@dataclass(frozen=True)
class Folders:
    root: Path

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    def prepare(self) -> None:
        prepare_private(self.root, [self.logs, self.tmp])


class Gate(SecurityMiddleware):
    token_header = ENGINE.token_header.lower()
    cookie_prefix = "twsession"
    host_refused = "Wrong host."
    origin_refused = "Wrong origin."


def main() -> int:
    ready_out = core.reserve_stdout()
    core.private_umask()
    try:
        _, settings = parse_launch(
            ENGINE,
            launch_parser("throwaway", "Throwaway engine"),
            None,
            os.environ,
            default_max_upload=1000,
            default_web_dir=None,
            web_dir_hint="give a UI folder",
        )
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return core.EXIT_BAD_SETTINGS
    paths = Folders(data_root(ENGINE, settings.data_dir))

    def make_app(port, request_shutdown):
        app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
        install_error_handlers(app, log=log, disk_full=lambda _request, _exc: None)

        @app.get("/health")
        def health() -> dict:
            return {"status": "ok", "version": "9.9.9", "launch_id": settings.launch_id}

        @app.post("/api/v1/shutdown", status_code=202)
        def shutdown() -> dict:
            request_shutdown()
            return {"status": "stopping"}

        app.add_middleware(Gate, port=port, token=settings.token, sessions=SessionStore())
        return app

    return core.run(
        ENGINE,
        paths,
        port=settings.port,
        configure_process=lambda: keep_temp_files_in(paths.tmp),
        make_app=make_app,
        ready_out=ready_out,
        version="9.9.9",
        launch_id=settings.launch_id,
        stdin_watch=settings.stdin_watch,
        log=log,
        on_ready=lambda: log.info("ready hook ran"),
    )


if __name__ == "__main__":
    sys.exit(main())
