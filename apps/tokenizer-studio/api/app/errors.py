"""The single error shape of the API: {"error": {"code", "message", "details"?}}, never a trace
(enginekit's, `enginecore.errors`, with its handlers).

Also the one disk-full error (507 `disk_full`): recognising a full disk in whatever form a layer
reports it (OSError, SQLite's SQLITE_FULL, a Rust I/O error's text) and the free-space check
that writers run before they start.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from enginecore import errors as core
from enginecore.errors import ApiError, error_response

# Recognising a full disk is the job runner's (the same test for the engine and its jobs); a
# DiskFull here is the runner's one too, so a job failing with it keeps its sentence.
from jobrunner.disk import DiskFull as RunnerDiskFull
from jobrunner.disk import disk_full_sentence, free_bytes, is_disk_full
from jobrunner.disk import ensure_free_space as runner_ensure_free_space

log = logging.getLogger("tokenizer_studio")


__all__ = [
    "ApiError",
    "DiskFull",
    "ensure_free_space",
    "error_response",
    "free_bytes",
    "install_error_handlers",
    "is_disk_full",
]


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


def _disk_full(request: Request, exc: BaseException) -> JSONResponse | None:
    return _disk_full_response(request, exc) if is_disk_full(exc) else None


def install_error_handlers(app: FastAPI) -> None:
    # An OSError or SQLite error that is not a full disk goes on to the outermost 500 handler.
    core.install_error_handlers(app, log=log, disk_full=_disk_full, storage_errors_reach_server=True)
