"""Token hand-off to the web page: one-time launch code -> HttpOnly session cookie."""

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from app.context import AppContext, get_ctx
from app.errors import ApiError
from app.models import ERROR_RESPONSES, LaunchCode, SessionState
from app.security import LAUNCH_CODE_TTL_S, cookie_name

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=200)


@router.get("/session")
def session_state(request: Request, ctx: AppContext = Depends(get_ctx)) -> SessionState:
    return SessionState(
        authenticated=request.app.state.auth.is_authenticated(request.scope),
        token_required=ctx.settings.token is not None,
    )


@router.post("/session/launch-code")
def launch_code(request: Request, ctx: AppContext = Depends(get_ctx)) -> LaunchCode:
    # Only the holder of the launch token (the shell) mints codes: a page with a session cookie
    # must not be able to mint codes for other pages.
    if not request.app.state.auth.has_token(request.scope):
        raise ApiError(
            403,
            "token_required",
            "Launch codes are issued to the desktop app only; reopen the app window.",
        )
    return LaunchCode(code=ctx.sessions.issue_code(), expires_in=LAUNCH_CODE_TTL_S)


@router.post("/session", status_code=204)
def create_session(body: SessionCreate, ctx: AppContext = Depends(get_ctx)) -> Response:
    secret = ctx.sessions.redeem(body.code)
    if secret is None:
        raise ApiError(
            401,
            "unauthorized",
            "The launch code is unknown, used or expired; reopen the app window for a new one.",
        )
    response = Response(status_code=204)
    response.set_cookie(cookie_name(ctx.settings.port), secret, httponly=True, samesite="strict", path="/")
    return response
