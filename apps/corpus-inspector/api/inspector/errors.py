"""The API's one error shape and its handlers (enginekit's, `enginecore.errors`), and this
engine's 507 `disk_full`."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from enginecore import errors as core
from enginecore.errors import ApiError, error_response

# The job runner's: the same test of a full disk for the engine and its jobs.
from jobrunner.disk import DiskFull as RunnerDiskFull
from jobrunner.disk import disk_full_sentence, is_disk_full

log = logging.getLogger("corpus_inspector")


__all__ = ["ApiError", "DiskFull", "error_response", "install_error_handlers", "not_found"]


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


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"There is no {what} with that id; it may have been removed.")


def _data_root(request: Request) -> Path | None:
    ctx = getattr(request.app.state, "ctx", None)
    return getattr(getattr(ctx, "paths", None), "root", None)


def _disk_full(request: Request, exc: BaseException) -> JSONResponse | None:
    if not is_disk_full(exc):
        return None
    log.error("disk full: %s: %s", type(exc).__name__, exc)
    error = exc if isinstance(exc, DiskFull) else DiskFull(_data_root(request))
    return error_response(error.status, error.code, error.message, error.details)


def install_error_handlers(app: FastAPI) -> None:
    # A full disk is a 507 wherever it shows up (an upload, a database write); anything else
    # unexpected is a 500 whose details go to the log only.
    core.install_error_handlers(app, log=log, disk_full=_disk_full)
