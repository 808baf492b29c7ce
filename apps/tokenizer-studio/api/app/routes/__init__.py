"""HTTP routes, one module per resource of API.md, and which module answers which path.

Nothing is imported here: the server mounts each router before the first request that could
reach it (`app.server._MountOnFirstUse`), so start-up imports none of them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import APIRouter

# Every router, in the order the app holds their routes: the web catch-all goes last so it
# never shadows an API route.
ROUTERS = ("health", "session", "templates", "datasets", "jobs", "process", "system", "web")
WEB = "web"
# The paths each router answers: a prefix itself or anything below it. Every route of a router
# but `web` is under one of its prefixes, and no other router's (a test checks both); the web
# catch-all can match any path.
PREFIXES = {
    "/health": "health",
    "/api/v1/health": "health",
    "/api/v1/session": "session",
    "/api/v1/templates": "templates",
    "/api/v1/datasets": "datasets",
    "/api/v1/jobs": "jobs",
    "/api/v1/shutdown": "process",
    "/api/v1/system": "system",
    "/api/v1/diagnostics": "system",
    "/api/v1/logs": "system",
}


def routers_for(path: str) -> tuple[str, ...]:
    """The routers whose routes could match `path`, in `ROUTERS` order."""
    needed = {WEB}
    for prefix, name in PREFIXES.items():
        if path == prefix or path.startswith(prefix + "/"):
            needed.add(name)
    return tuple(name for name in ROUTERS if name in needed)


def load(name: str) -> APIRouter:
    """Imports one router's module (its models and what it uses) and returns its router."""
    return importlib.import_module(f"app.routes.{name}").router
