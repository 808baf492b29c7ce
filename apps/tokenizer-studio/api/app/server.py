"""App factory and the launch sequence: bind 127.0.0.1, serve, announce READY, exit cleanly.

The launch contract (docs/runtime-contract.md, "Launch contract") is enginekit's
(`enginecore.server`) with this app's names; the app adds its start-up work (the device check,
the routers mounted on first use, the GC resumed after READY).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse

from app import __version__, routes
from app.context import AppContext
from app.db import Database
from app.errors import install_error_handlers
from app.jobs import JobManager
from app.paths import DataPaths, configure_process, data_paths
from app.security import SecurityMiddleware, SessionStore
from app.settings import ENGINE, Settings, SettingsError, parse_settings
from app.system import startup_problem
from enginecore import server as core
from enginecore.server import EXIT_BAD_SETTINGS, EXIT_DEVICE_UNUSABLE

log = logging.getLogger("tokenizer_studio")
READY_PREFIX = ENGINE.ready_prefix
__all__ = ["EXIT_BAD_SETTINGS", "EXIT_DEVICE_UNUSABLE", "READY_PREFIX", "build_api", "create_app", "main"]
WORKER_STOP_TIMEOUT_S = 2.0
# Under /api/, so the security middleware asks for the token or session like any API call.
OPENAPI_URL = "/api/v1/openapi.json"
# The liveness probes (security.OPEN_ROUTES), answered before the health router is mounted.
HEALTH_REQUESTS = {("GET", "/health"), ("GET", "/api/v1/health")}

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def _bare_api(lifespan: Callable | None = None) -> FastAPI:
    """The app with its error handlers and no routes yet."""
    app = FastAPI(
        title="Tokenizer Studio",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=OPENAPI_URL,
        # Operation ids are the route names (list_jobs, create_job, ...), not FastAPI's default
        # of name + path + method: they are what the generated web types are keyed by.
        generate_unique_id_function=lambda route: route.name,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    return app


def build_api(lifespan: Callable | None = None) -> FastAPI:
    """The routes, their models and the error handlers, without any per-process state.

    `create_app` adds the state and the security middleware, and mounts the same routers on
    first use, into the same order (`_MountOnFirstUse`); `python -m app.openapi` writes the
    schema from this alone, without a data folder.
    """
    app = _bare_api(lifespan)
    for name in routes.ROUTERS:
        app.include_router(routes.load(name))
    return app


class _MountOnFirstUse:
    """Mounts each router before the first request that could reach it.

    Importing the routes (their models, and FastAPI's analysis of every route) is ≈ 45 ms of
    CPU, and the supervisor's first probe needs none of it: the app starts without routes and
    this answers the health probes itself until the health router is mounted, with the health
    route's bytes (a test compares them). Any other request first waits for the routers
    its path could reach (`routes.routers_for`; all of them for the OpenAPI document), imported
    in a worker thread so that probes are still answered meanwhile, then goes on as if every
    route had been there from the start. It sits inside the security middleware: every request
    is gated the same way whether its route is mounted yet or not.
    """

    def __init__(self, app: Callable, *, api: FastAPI) -> None:
        self.app = app
        self.api = api
        # FastAPI's own routes (the OpenAPI document) come first, the routers' after them.
        self.own_routes = len(api.router.routes)
        self.mounted: dict[str, int] = {}  # router name -> how many routes it added
        self.loading: dict[str, asyncio.Future[APIRouter]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and len(self.mounted) < len(routes.ROUTERS):
            path = scope["path"]
            if "health" not in self.mounted and (scope["method"], path) in HEALTH_REQUESTS:
                settings: Settings = self.api.state.ctx.settings
                answer = {"status": "ok", "version": __version__, "launch_id": settings.launch_id}
                await JSONResponse(answer)(scope, receive, send)
                return
            await self._mount(routes.ROUTERS if path == OPENAPI_URL else routes.routers_for(path))
        await self.app(scope, receive, send)

    async def _mount(self, names: tuple[str, ...]) -> None:
        missing = [name for name in names if name not in self.mounted]
        if not missing:
            return
        loop = asyncio.get_running_loop()
        for name in missing:
            if name not in self.loading:
                # In a worker thread: health probes are still answered on the event loop.
                self.loading[name] = loop.run_in_executor(None, routes.load, name)
        for name in missing:
            future = self.loading[name]
            try:
                # Shielded: a waiting request that is cancelled must not cancel the others' load.
                router = await asyncio.shield(future)
            except Exception:
                if self.loading.get(name) is future:
                    del self.loading[name]  # the next request tries again (and logs why)
                raise
            if name not in self.mounted:
                self._insert(name, router)

    def _insert(self, name: str, router: APIRouter) -> None:
        """Adds the router's routes where `build_api` has them: after those of the routers
        before it in `routes.ROUTERS`. On the event loop with no await: no request sees a
        half-mounted list."""
        table = self.api.router.routes
        end = len(table)
        self.api.include_router(router)
        block = table[end:]
        del table[end:]
        at = self.own_routes + sum(
            self.mounted.get(other, 0) for other in routes.ROUTERS[: routes.ROUTERS.index(name)]
        )
        table[at:at] = block
        self.mounted[name] = len(block)


def create_app(
    settings: Settings, paths: DataPaths, request_shutdown: Callable[[], None] | None = None
) -> FastAPI:
    """Builds the app; `settings.port` must already be the bound port (Host/cookie checks)."""
    paths.prepare()
    configure_process(paths)
    db = Database(paths.db_file)
    jobs = JobManager(db, paths)
    sessions = SessionStore()
    ctx = AppContext(settings, paths, db, jobs, sessions, request_shutdown or (lambda: None))

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        jobs.start()
        try:
            yield
        finally:
            if not jobs.stop(WORKER_STOP_TIMEOUT_S):
                log.warning("the training thread is still busy; its job was marked interrupted")
            else:
                db.close()

    app = _bare_api(lifespan)
    app.state.ctx = ctx

    options = {
        "port": settings.port,
        "token": settings.token,
        "cors_origins": settings.cors_origins,
        "sessions": sessions,
        "max_upload_bytes": settings.max_upload_bytes,
    }
    # A detached instance answers "is this request authenticated?" for GET /api/v1/session.
    app.state.auth = SecurityMiddleware(None, **options)
    # Added first, so it runs inside the security middleware (the last added is outermost).
    app.add_middleware(_MountOnFirstUse, api=app)
    app.add_middleware(SecurityMiddleware, **options)
    return app


def _resume_gc() -> None:
    """Turns the cyclic GC back on if `python -m app` paused it for the imports (__main__.py).

    Freezing first moves everything start-up made into the permanent generation: without it,
    the first collection would walk all ~90k objects at once (≈ 30 ms, during a request).
    The price: the few hundred cyclic leftovers of the imports are never collected.
    """
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def main(argv: list[str] | None = None) -> int:
    ready_out = core.reserve_stdout()
    # Everything this process writes (database, uploads, tokenizers, logs, temp files) is the
    # user's alone.
    core.private_umask()
    try:
        settings = parse_settings(argv)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    # A GPU engine proves its device before anything else, so a broken driver is one sentence
    # and a non-zero exit before READY (the shell then offers the CPU engine), never a READY
    # engine that fails every training. The CPU needs no proof and loads nothing here.
    problem = startup_problem(settings.device)
    if problem is not None:
        print(problem, file=sys.stderr)
        return EXIT_DEVICE_UNUSABLE
    paths = data_paths(settings.data_dir)

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
        on_ready=_resume_gc,
        # A training step inside the Rust extension cannot be interrupted, and letting the
        # interpreter finalise around it can abort; the job row is already `interrupted`.
        busy=lambda app: app.state.ctx.jobs.is_busy(),
    )
