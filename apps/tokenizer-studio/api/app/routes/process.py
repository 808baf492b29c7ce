"""`POST /api/v1/shutdown`: the authenticated way for the shell to stop the backend."""

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

from app.context import AppContext, get_ctx

router = APIRouter(prefix="/api/v1")


@router.post("/shutdown", status_code=202)
def shutdown(ctx: AppContext = Depends(get_ctx)) -> JSONResponse:
    # After the response is sent, so the caller sees the 202 before the socket closes.
    return JSONResponse(
        {"status": "shutting_down"}, status_code=202, background=BackgroundTask(ctx.request_shutdown)
    )
