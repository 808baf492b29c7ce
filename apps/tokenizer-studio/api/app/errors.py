"""The single error shape of the API: {"error": {"code", "message", "details"?}}, never a trace.

Also the one disk-full error (507 `disk_full`): recognising a full disk in whatever form a layer
reports it (OSError, SQLite's SQLITE_FULL, a Rust I/O error's text) and the free-space check
that writers run before they start.
"""

from __future__ import annotations

import errno
import logging
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("tokenizer_studio")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


# ENOSPC everywhere; EDQUOT (a user quota) is the same situation for the user.
DISK_FULL_ERRNOS = frozenset(
    code for code in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if code is not None
)
# Layers that do not raise an OSError: the Rust `tokenizers` save ("No space left on device
# (os error 28)"), SQLite ("database or disk is full"), Windows ("not enough space on the disk").
_OS_ERROR_NUMBERS = "|".join(str(code) for code in sorted(DISK_FULL_ERRNOS))
_DISK_FULL_TEXT = re.compile(
    r"no space left on device|disk quota exceeded|database or disk is full"
    rf"|not enough space on the disk|os error (?:{_OS_ERROR_NUMBERS})\b",
    re.IGNORECASE,
)
# Room the engine keeps free beyond a file it is about to write: the history database still
# has to record the upload, a job's logs and its final status after that file.
DISK_HEADROOM_BYTES = 1024 * 1024


def human_bytes(n: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


class DiskFull(ApiError):
    """507 `disk_full`: a write found no room. `details` carries the byte counts known."""

    def __init__(
        self,
        data_root: Path | str | None,
        what: str = "the engine's data",
        needed: int | None = None,
        free: int | None = None,
        next_step: str = "try again",
    ) -> None:
        place = f"the drive holding {data_root}" if data_root else "the drive holding the data folder"
        if needed is not None and free is not None:
            happened = f"{what} needs {human_bytes(needed)} but the drive has only {human_bytes(free)} free"
        else:
            happened = f"there is no room left to save {what}"
        details = {k: v for k, v in (("needed_bytes", needed), ("free_bytes", free)) if v is not None}
        super().__init__(
            507,
            "disk_full",
            f"The disk is full: {happened}; free up space on {place}, then {next_step}.",
            details or None,
        )


def is_disk_full(exc: BaseException | None) -> bool:
    """True when `exc`, or the error it was raised from, means the disk (or quota) is full."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, DiskFull):
            return True
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return True
        if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return True
        if not isinstance(exc, (ApiError, OSError)) and _DISK_FULL_TEXT.search(str(exc)):
            return True
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return False


def free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def ensure_free_space(
    folder: Path,
    needed: int,
    what: str,
    data_root: Path | None = None,
    next_step: str = "try again",
) -> None:
    """Raises DiskFull unless `folder`'s drive has `needed` bytes plus the headroom free."""
    free = free_bytes(folder)
    if free is not None and free < needed + DISK_HEADROOM_BYTES:
        raise DiskFull(data_root or folder, what, needed + DISK_HEADROOM_BYTES, free, next_step)


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
