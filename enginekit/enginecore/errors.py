"""The API's one error shape, {"error": {"code", "message", "details"?}}, and its handlers: a
sentence for the user, never a traceback."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


HTTP_CODES = {
    400: ("bad_request", "The request is malformed; check the method, URL and body."),
    404: ("not_found", "Nothing here; check the URL."),
    405: ("method_not_allowed", "This URL does not accept that method."),
}
INTERNAL_ERROR = "Something went wrong inside the engine; the details are in its log. Try again."

# Answers a full disk (507) for the request, or None when the error is not one. The app's: the
# test of a full disk and its sentence belong to the job runner the app carries.
DiskFullAnswer = Callable[[Request, BaseException], JSONResponse | None]


def install_error_handlers(
    app: FastAPI,
    *,
    log: logging.Logger,
    disk_full: DiskFullAnswer,
    storage_errors_reach_server: bool = False,
) -> None:
    """Every error the API answers in the one shape. A full disk is a 507 wherever it shows up
    (an upload, a database write, a temp file); anything else unexpected is a 500 whose details
    go to `log` only.

    With `storage_errors_reach_server`, an OSError or SQLite error that is not a full disk is
    answered by the outermost handler (Starlette's server error middleware, which also lets the
    server log it) rather than next to the route."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, message = HTTP_CODES.get(exc.status_code, ("http_error", str(exc.detail)))
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

    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        answer = disk_full(request, exc)
        if answer is not None:
            return answer
        log.exception("unhandled error: %s", exc)
        return error_response(500, "internal_error", INTERNAL_ERROR)

    async def _storage_error(request: Request, exc: Exception) -> JSONResponse:
        answer = disk_full(request, exc)
        if answer is not None:
            return answer
        raise exc

    storage_handler = _storage_error if storage_errors_reach_server else _unexpected
    app.add_exception_handler(OSError, storage_handler)
    app.add_exception_handler(sqlite3.Error, storage_handler)
    app.add_exception_handler(Exception, _unexpected)
