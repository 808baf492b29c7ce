"""Liveness: `/health` and `/api/v1/health` (open, echo the launch id so a stale server is spotted)."""

from fastapi import APIRouter, Depends

from app import __version__
from app.context import AppContext, get_ctx
from app.models import ERROR_RESPONSES, Health

router = APIRouter(responses=ERROR_RESPONSES)


@router.get("/health", name="health")
@router.get("/api/v1/health", name="api_health")
async def health(ctx: AppContext = Depends(get_ctx)) -> Health:
    # async on purpose: answered on the event loop, never waiting for anyio's worker threads.
    # Until this router is mounted, server._MountOnFirstUse answers the probes with the same
    # bytes (a test compares them): change both together.
    return Health(status="ok", version=__version__, launch_id=ctx.settings.launch_id)
