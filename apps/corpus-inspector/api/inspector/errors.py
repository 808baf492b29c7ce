"""The API's one error shape, {"error": {"code", "message", "details"?}}, and its handlers: a
sentence for the user, never a traceback."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

# The job runner's: the same test of a full disk for the engine and its jobs.
from jobrunner.disk import DiskFull as RunnerDiskFull
from jobrunner.disk import disk_full_sentence, is_disk_full

log = logging.getLogger("corpus_inspector")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class DiskFull(ApiError, RunnerDiskFull):
    """507 `disk_full`: a write found, or would find, no room."""

    def __init__(
        self,
        data_root: Path | str | None,
        what: str = "the engine's data",
        needed: int | None = None,
        free: int | None = None,
        next_step: str = "try again",
    ) -> None:
        details = {k: v for k, v in (("needed_bytes", needed), ("free_bytes", free)) if v is not None}
        message = disk_full_sentence(data_root, what, needed, free, next_step)
        super().__init__(507, "disk_full", message, details or None)


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"There is no {what} with that id; it may have been removed.")


_HTTP_CODES = {
    400: ("bad_request", "The request is malformed; check the method, URL and body."),
    404: ("not_found", "Nothing here; check the URL."),
    405: ("method_not_allowed", "This URL does not accept that method."),
}


def _data_root(request: Request) -> Path | None:
    ctx = getattr(request.app.state, "ctx", None)
    return getattr(getattr(ctx, "paths", None), "root", None)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, message = _HTTP_CODES.get(exc.status_code, ("http_error", str(exc.detail)))
        return error_response(exc.status_code, code, message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body",
                "message": err.get("msg", "is not valid"),
            }
            for err in exc.errors()
        ]
        return error_response(
            422, "invalid_request", "The request body is not valid; fix the listed fields.", details
        )

    # A full disk is a 507 wherever it shows up (an upload, a database write); anything else
    # unexpected is a 500 whose details go to the log only.
    @app.exception_handler(OSError)
    @app.exception_handler(sqlite3.Error)
    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if is_disk_full(exc):
            log.error("disk full: %s: %s", type(exc).__name__, exc)
            error = exc if isinstance(exc, DiskFull) else DiskFull(_data_root(request))
            return error_response(error.status, error.code, error.message, error.details)
        log.exception("unhandled error: %s", exc)
        return error_response(
            500,
            "internal_error",
            "Something went wrong inside the engine; the details are in its log. Try again.",
        )
