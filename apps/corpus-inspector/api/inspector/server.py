"""The app and the launch sequence: bind 127.0.0.1, serve, announce READY, exit cleanly.

The launch contract (docs/runtime-contract.md, "Launch contract") is enginekit's
(`enginecore.server`) with this app's names: CORPUS_INSPECTOR_* variables, the
CORPUS_INSPECTOR_READY line, the X-Corpus-Inspector-Token header.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from enginecore import server as core
from enginecore.server import EXIT_BAD_SETTINGS
from inspector import __version__, routes
from inspector.catalog import Catalog
from inspector.context import AppContext
from inspector.errors import install_error_handlers
from inspector.inspect_job import inspect_job_type
from inspector.jobs import JobHistory
from inspector.paths import DataPaths, configure_process, data_paths
from inspector.security import SecurityMiddleware, SessionStore
from inspector.settings import ENGINE, Settings, SettingsError, parse_settings
from jobrunner import JobRunner

log = logging.getLogger("corpus_inspector")
READY_PREFIX = ENGINE.ready_prefix
WORKER_STOP_TIMEOUT_S = 2.0
__all__ = ["EXIT_BAD_SETTINGS", "READY_PREFIX", "create_app", "main"]


def create_app(
    settings: Settings, paths: DataPaths, request_shutdown: Callable[[], None] | None = None
) -> FastAPI:
    """Builds the app; `settings.port` must already be the bound port (Host and cookie checks)."""
    paths.prepare()
    configure_process(paths)
    catalog = Catalog(paths.db_file)
    history = JobHistory(paths.db_file)
    runner = JobRunner(history, artifacts_root=paths.jobs, data_root=paths.root, log=log)
    runner.register(inspect_job_type(catalog, paths))
    sessions = SessionStore()
    ctx = AppContext(settings, paths, catalog, history, runner, sessions, request_shutdown or (lambda: None))

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        # Jobs a previous run left queued or running are marked interrupted here.
        runner.start()
        try:
            yield
        finally:
            if runner.stop(WORKER_STOP_TIMEOUT_S):
                history.close()
                catalog.close()
            else:
                log.warning("the inspection thread is still busy; its job was marked interrupted")

    app = FastAPI(
        title="Corpus Inspector",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        # Under /api/, so it needs the token like the rest of the API.
        openapi_url="/api/v1/openapi.json",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.state.ctx = ctx
    app.include_router(routes.open_routes)
    app.include_router(routes.api)
    app.include_router(routes.web)  # last: its catch-all must not shadow an API route
    options = {
        "port": settings.port,
        "token": settings.token,
        "sessions": sessions,
        "max_upload_bytes": settings.max_upload_bytes,
    }
    # A detached instance answers "is this request authenticated?" for GET /api/v1/session.
    app.state.auth = SecurityMiddleware(None, **options)
    app.add_middleware(SecurityMiddleware, **options)
    return app


def main(argv: list[str] | None = None) -> int:
    ready_out = core.reserve_stdout()
    core.private_umask()
    try:
        settings = parse_settings(argv)
        paths = data_paths(settings.data_dir)
    except (SettingsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS

    def make_app(port: int, request_shutdown: Callable[[], None]) -> FastAPI:
        settings.port = port
        return create_app(settings, paths, request_shutdown)

    return core.run(
        ENGINE,
        paths,
        port=settings.port,
        configure_process=lambda: configure_process(paths),
        make_app=make_app,
        ready_out=ready_out,
        version=__version__,
        launch_id=settings.launch_id,
        stdin_watch=settings.stdin_watch,
        log=log,
        # A tokenizer batch inside the Rust extension cannot be interrupted, and finalising the
        # interpreter around it can abort; the job is already marked interrupted.
        busy=lambda app: app.state.ctx.runner.is_busy(),
    )
