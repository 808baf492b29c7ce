"""The per-process objects the routes share, kept on `app.state.ctx`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request

from inspector.catalog import Catalog
from inspector.jobs import JobHistory
from inspector.paths import DataPaths
from inspector.security import SessionStore
from inspector.settings import Settings
from jobrunner import JobRunner


@dataclass
class AppContext:
    settings: Settings
    paths: DataPaths
    catalog: Catalog
    history: JobHistory
    runner: JobRunner
    sessions: SessionStore
    request_shutdown: Callable[[], None] = field(default=lambda: None)


async def get_ctx(request: Request) -> AppContext:
    return request.app.state.ctx
