"""The single error shape of the API: {"error": {"code", "message", "details"?}}, never a trace.

Also the one disk-full error (507 `disk_full`): recognising a full disk in whatever form a layer
reports it (OSError, SQLite's SQLITE_FULL, a Rust I/O error's text) and the free-space check
that writers run before they start.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

# Recognising a full disk is the job runner's (the same test for the engine and its jobs); a
# DiskFull here is the runner's one too, so a job failing with it keeps its sentence.
from jobrunner.disk import DiskFull as RunnerDiskFull
from jobrunner.disk import disk_full_sentence, free_bytes, is_disk_full
from jobrunner.disk import ensure_free_space as runner_ensure_free_space

log = logging.getLogger("tokenizer_studio")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class DiskFull(ApiError, RunnerDiskFull):
    """507 `disk_full`: a write found no room. `details` carries the byte counts known."""

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


def ensure_free_space(
    folder: Path,
    needed: int,
    what: str,
    data_root: Path | None = None,
    next_step: str = "try again",
) -> None:
    """Raises DiskFull (507) unless `folder`'s drive has `needed` bytes plus the headroom free."""
    runner_ensure_free_space(folder, needed, what, data_root, next_step, error=DiskFull)


def _data_root(request: Request) -> Path | None:
    ctx = getattr(request.app.state, "ctx", None)
    return getattr(getattr(ctx, "paths", None), "root", None)


def _disk_full_response(request: Request, exc: BaseException) -> JSONResponse:
    log.error("disk full: %s: %s", type(exc).__name__, exc)
    root = _data_root(request)
    error = exc if isinstance(exc, DiskFull) else DiskFull(root, free=None)
    details = error.details
    if details is None and root is not None and (free := free_bytes(root)) is not None:
        details = {"free_bytes": free}
    return error_response(error.status, error.code, error.message, details)


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


_HTTP_CODES = {
    400: ("bad_request", "The request is malformed; check the method, URL and body."),
    404: ("not_found", "Nothing here; check the URL."),
    405: ("method_not_allowed", "This URL does not accept that method."),
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    # OSError and SQLite errors pass through here so a full disk is a 507 wherever it happens
    # (the upload, a database write, a temp file); anything else goes on to the 500 below.
    @app.exception_handler(OSError)
    @app.exception_handler(sqlite3.Error)
    async def _maybe_disk_full(request: Request, exc: Exception) -> JSONResponse:
        if is_disk_full(exc):
            return _disk_full_response(request, exc)
        raise exc

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

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if is_disk_full(exc):
            return _disk_full_response(request, exc)
        log.exception("unhandled error: %s", exc)
        return error_response(
            500,
            "internal_error",
            "Something went wrong inside the engine; the details are in its log. Try again.",
        )
