"""The app and the launch sequence: bind 127.0.0.1, serve, announce READY, exit cleanly.

The launch contract is Tokenizer Studio's (docs/runtime-contract.md, "Launch contract") with
this app's names: CORPUS_INSPECTOR_* variables, the CORPUS_INSPECTOR_READY line, the
X-Corpus-Inspector-Token header.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import logging.config
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from inspector import __version__, routes
from inspector.catalog import Catalog
from inspector.context import AppContext
from inspector.errors import install_error_handlers
from inspector.inspect_job import inspect_job_type
from inspector.jobs import JobHistory
from inspector.paths import DataPaths, configure_process, data_paths
from inspector.security import SecurityMiddleware, SessionStore
from inspector.settings import Settings, SettingsError, parse_settings
from jobrunner import JobRunner

log = logging.getLogger("corpus_inspector")
READY_PREFIX = "CORPUS_INSPECTOR_READY"
WORKER_STOP_TIMEOUT_S = 2.0
# The launch contract's exit codes: the supervisor does not retry a start that cannot work.
EXIT_BAD_SETTINGS = 2


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


def _log_config(log_file: str) -> dict:
    # Everything to stderr (stdout carries only the READY line; the supervisor copies stderr
    # into logs/engine.log) and to the engine's own rotating file.
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"},
            "file": {
                "class": "logging.handlers.RotatingFileHandler",
                "formatter": "plain",
                "filename": log_file,
                "maxBytes": 5_000_000,
                "backupCount": 2,
                "encoding": "utf-8",
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr", "file"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["stderr", "file"], "level": "INFO", "propagate": False},
            "corpus_inspector": {"handlers": ["stderr", "file"], "level": "INFO", "propagate": False},
        },
    }


class _Server(uvicorn.Server):
    """Exits 0 on SIGTERM/SIGINT (uvicorn re-raises the signal after shutdown), and calls
    `on_listening` the moment it listens (the READY line)."""

    def __init__(self, config: uvicorn.Config, on_listening: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_listening = on_listening

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.on_listening()

    @contextlib.contextmanager
    def capture_signals(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handle(sig: int, _frame) -> None:
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
            self.should_exit = True

        signals = [signal.SIGINT, signal.SIGTERM]
        if hasattr(signal, "SIGBREAK"):
            signals.append(signal.SIGBREAK)
        previous = {sig: signal.signal(sig, handle) for sig in signals}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _watch_stdin(server: uvicorn.Server) -> None:
    """The parent holds our stdin open; end of file means it is gone, so the engine must not linger."""
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    log.info("stdin closed (the parent process is gone); shutting down")
    server.should_exit = True


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if sys.platform == "win32":
        # On Windows SO_REUSEADDR would let another process take the port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
    else:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def main(argv: list[str] | None = None) -> int:
    # From here on stdout carries the READY line only: stray prints go to stderr.
    ready_out = sys.stdout
    sys.stdout = sys.stderr
    # Everything this process writes is the user's alone: 0600 files, 0700 folders.
    if hasattr(os, "umask"):
        os.umask(0o077)
    try:
        settings = parse_settings(argv)
        paths = data_paths(settings.data_dir)
    except (SettingsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    try:
        paths.prepare()
    except OSError as exc:
        print(f"error: cannot create the data folder {paths.root}: {exc}", file=sys.stderr)
        return 1
    configure_process(paths)
    logging.config.dictConfig(_log_config(str(paths.logs / "server.log")))
    try:
        sock = _bind(settings.port)
    except OSError as exc:
        log.error("cannot listen on 127.0.0.1:%s (%s); choose another port or use 0", settings.port, exc)
        return 1
    settings.port = sock.getsockname()[1]
    server: _Server | None = None

    def request_shutdown() -> None:
        if server is not None:
            server.should_exit = True

    def announce() -> None:
        line = json.dumps(
            {
                "port": settings.port,
                "pid": os.getpid(),
                "version": __version__,
                "launch_id": settings.launch_id,
            }
        )
        ready_out.write(f"{READY_PREFIX} {line}\n")
        ready_out.flush()
        log.info("listening on http://127.0.0.1:%d", settings.port)

    app = create_app(settings, paths, request_shutdown)
    config = uvicorn.Config(
        app,
        log_config=None,
        http="h11",
        loop="asyncio",
        ws="none",
        lifespan="on",
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=3,
    )
    server = _Server(config, on_listening=announce)
    if settings.stdin_watch:
        threading.Thread(target=_watch_stdin, args=(server,), name="stdin-watch", daemon=True).start()
    asyncio.run(server.serve(sockets=[sock]))
    log.info("stopped")
    if app.state.ctx.runner.is_busy():
        # A tokenizer batch inside the Rust extension cannot be interrupted, and finalising the
        # interpreter around it can abort; the job is already marked interrupted.
        logging.shutdown()
        sys.stderr.flush()
        os._exit(0)
    return 0
