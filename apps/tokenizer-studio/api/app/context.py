"""The per-process objects the routes share, kept on `app.state.ctx`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request

from app.db import Database
from app.jobs import JobManager
from app.paths import DataPaths
from app.security import SessionStore
from app.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    paths: DataPaths
    db: Database
    jobs: JobManager
    sessions: SessionStore
    request_shutdown: Callable[[], None] = field(default=lambda: None)


async def get_ctx(request: Request) -> AppContext:
    # async: FastAPI runs a sync dependency in its thread pool, which costs a thread hop per
    # request (and, on the first request, starting the pool) for one attribute read.
    return request.app.state.ctx
