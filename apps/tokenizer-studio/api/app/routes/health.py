"""Liveness: `/health` and `/api/v1/health` (open, echo the launch id so a stale server is spotted)."""

from fastapi import APIRouter, Depends

from app import __version__
from app.context import AppContext, get_ctx

router = APIRouter()


@router.get("/health")
@router.get("/api/v1/health")
async def health(ctx: AppContext = Depends(get_ctx)) -> dict:
    # async on purpose: answered on the event loop, so the supervisor's first probe does not
    # wait for anyio's worker thread (and its backend import) to start.
    return {"status": "ok", "version": __version__, "launch_id": ctx.settings.launch_id}
