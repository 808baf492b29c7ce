"""`POST /api/v1/shutdown`: the authenticated way for the shell to stop the engine."""

from fastapi import APIRouter, BackgroundTasks, Depends

from app.context import AppContext, get_ctx
from app.models import ERROR_RESPONSES, ShuttingDown

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)


@router.post("/shutdown", status_code=202)
def shutdown(background: BackgroundTasks, ctx: AppContext = Depends(get_ctx)) -> ShuttingDown:
    # After the response is sent, so the caller sees the 202 before the socket closes.
    background.add_task(ctx.request_shutdown)
    return ShuttingDown(status="shutting_down")
