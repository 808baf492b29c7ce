"""The launch sequence: bind 127.0.0.1, serve, announce READY, exit cleanly.

The contract is docs/runtime-contract.md's "Launch contract": the engine binds 127.0.0.1 on a
port the OS chooses, prints exactly one stdout line `<PREFIX>_READY {"port", "pid", "version",
"launch_id"}` once it listens, and exits 0 when its stdin closes (the parent is gone), on
SIGTERM/SIGINT, or when asked to (`request_shutdown`, the app's shutdown route).

An app's `main` calls `reserve_stdout` and `private_umask` first, reads its settings and finds
its data folder, then hands over to `run` (data folder, logging, `bind`, `serve`).
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
from pathlib import Path
from typing import Protocol, TextIO

import uvicorn
from fastapi import FastAPI

from enginecore import EngineApp

# The launch contract's exit codes (docs/runtime-contract.md, "Launch contract"): the supervisor
# does not retry these, since the same start fails the same way.
EXIT_BAD_SETTINGS = 2
EXIT_DEVICE_UNUSABLE = 78


def reserve_stdout() -> TextIO:
    """From here on stdout carries the READY line only: stray prints go to stderr. Returns the
    real stdout, for the READY line."""
    ready_out = sys.stdout
    sys.stdout = sys.stderr
    return ready_out


def private_umask() -> None:
    """Everything this process writes is the user's alone: 0600 files, 0700 folders, whatever
    umask the parent had."""
    if hasattr(os, "umask"):
        os.umask(0o077)


def log_config(log_file: str, logger_name: str) -> dict:
    """Everything to stderr (stdout carries only the READY line; the supervisor copies stderr
    into logs/engine.log) and to the engine's own rotating file."""
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
            logger_name: {"handlers": ["stderr", "file"], "level": "INFO", "propagate": False},
        },
    }


def configure_logging(log_file: str, logger_name: str) -> None:
    logging.config.dictConfig(log_config(log_file, logger_name))


class Server(uvicorn.Server):
    """uvicorn re-raises a caught SIGTERM after shutdown (exit by signal); the contract wants
    exit code 0. `on_listening` runs once, the moment uvicorn listens (the READY line)."""

    def __init__(self, config: uvicorn.Config, on_listening: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_listening = on_listening

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            # Straight after the listen, not from a polling task: the supervisor waits on it.
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


def watch_stdin(server: uvicorn.Server, log: logging.Logger) -> None:
    """The parent holds our stdin open; end of file means it is gone, so the engine must not linger."""
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    log.info("stdin closed (the parent process is gone); shutting down")
    server.should_exit = True


def bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:`port` (0: the OS chooses), before the app exists, so the
    app is built knowing its port (Host and cookie checks)."""
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


def ready_line(engine: EngineApp, port: int, version: str, launch_id: str | None) -> str:
    payload = json.dumps({"port": port, "pid": os.getpid(), "version": version, "launch_id": launch_id})
    return f"{engine.ready_prefix} {payload}\n"


def serve(
    engine: EngineApp,
    make_app: Callable[[Callable[[], None]], FastAPI],
    sock: socket.socket,
    *,
    ready_out: TextIO,
    version: str,
    launch_id: str | None,
    stdin_watch: bool,
    log: logging.Logger,
    on_ready: Callable[[], None] | None = None,
) -> FastAPI:
    """Serves the app `make_app(request_shutdown)` builds on `sock` until it is told to stop,
    and returns the app. The READY line goes to `ready_out` once the server listens, then
    `on_ready` runs."""
    port = sock.getsockname()[1]
    server: Server | None = None

    def request_shutdown() -> None:
        if server is not None:
            server.should_exit = True

    def announce() -> None:
        ready_out.write(ready_line(engine, port, version, launch_id))
        ready_out.flush()
        log.info("listening on http://127.0.0.1:%d", port)
        if on_ready is not None:
            on_ready()

    app = make_app(request_shutdown)
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
    server = Server(config, on_listening=announce)
    if stdin_watch:
        threading.Thread(target=watch_stdin, args=(server, log), name="stdin-watch", daemon=True).start()
    asyncio.run(server.serve(sockets=[sock]))
    log.info("stopped")
    return app


class DataFolders(Protocol):
    """What `run` needs of an app's data paths."""

    root: Path

    @property
    def logs(self) -> Path: ...

    def prepare(self) -> None: ...


def run(
    engine: EngineApp,
    paths: DataFolders,
    *,
    port: int,
    configure_process: Callable[[], None],
    make_app: Callable[[int, Callable[[], None]], FastAPI],
    ready_out: TextIO,
    version: str,
    launch_id: str | None,
    stdin_watch: bool,
    log: logging.Logger,
    on_ready: Callable[[], None] | None = None,
    busy: Callable[[FastAPI], bool] = lambda _app: False,
) -> int:
    """The launch after the settings: creates the data folders, sets up the process
    (`configure_process`) and logging, listens, and serves the app
    `make_app(bound port, request_shutdown)` builds. Returns the exit code: 1 when the data
    folder or the port is unusable, else 0 once stopped (at once, without finalising the
    interpreter, when `busy(app)` says a worker is still inside native code)."""
    try:
        paths.prepare()
    except OSError as exc:
        print(f"error: cannot create the data folder {paths.root}: {exc}", file=sys.stderr)
        return 1
    configure_process()
    configure_logging(str(paths.logs / "server.log"), log.name)
    try:
        sock = bind(port)
    except OSError as exc:
        log.error("cannot listen on 127.0.0.1:%s (%s); choose another port or use 0", port, exc)
        return 1
    bound = sock.getsockname()[1]
    app = serve(
        engine,
        lambda request_shutdown: make_app(bound, request_shutdown),
        sock,
        ready_out=ready_out,
        version=version,
        launch_id=launch_id,
        stdin_watch=stdin_watch,
        log=log,
        on_ready=on_ready,
    )
    if busy(app):
        exit_now()
    return 0


def exit_now() -> None:
    """Ends the process at once with exit code 0, after flushing the logs: for a worker thread
    busy inside native code that cannot be interrupted, around which finalising the interpreter
    can abort (its job is already marked interrupted)."""
    logging.shutdown()
    sys.stderr.flush()
    os._exit(0)
