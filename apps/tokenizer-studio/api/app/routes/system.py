"""`GET /api/v1/system` (what the engine runs on), `GET /api/v1/system/storage` (where the
user's data lives), `POST /api/v1/system/clear-caches` (frees what the caches take),
`POST /api/v1/system/compute-check`, `GET /api/v1/diagnostics` (a zip of logs and facts to send
when asking for help) and `GET /api/v1/logs` (the logs' newest lines).

All are plain `def` routes: they may import torch (seconds, once) or numpy and run matrix
multiplications, read megabytes of logs or remove thousands of cached files, so FastAPI runs
them in its thread pool, off the event loop.
"""

from __future__ import annotations

import dataclasses
import logging
import platform
from typing import Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from app import system
from app.context import AppContext, get_ctx
from app.models import (
    ERROR_RESPONSES,
    AppLogLine,
    AppLogs,
    ClearedCaches,
    ComputeCheck,
    DeviceCheck,
    DeviceFacts,
    PythonFacts,
    RuntimeFacts,
    StorageInfo,
    StoragePart,
    SystemInfo,
    TorchFacts,
)

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
log = logging.getLogger("tokenizer_studio")


@router.get("/system", name="get_system")
def get_system(ctx: AppContext = Depends(get_ctx)) -> SystemInfo:
    runtime = system.runtime_facts(ctx.settings.runtime_root)
    torch = system.torch_facts()
    device = ctx.settings.device
    check = system.check_device(device)
    if not check.ok:
        log.warning("device check on %s failed: %s", device, check.message)
    machine = system.read_machine(ctx.paths.root / system.MACHINE_FILE)
    return SystemInfo(
        runtime=RuntimeFacts(**dataclasses.asdict(runtime)),
        python=PythonFacts(
            version=platform.python_version(), implementation=platform.python_implementation()
        ),
        torch=TorchFacts(**dataclasses.asdict(torch)) if torch is not None else None,
        device=DeviceFacts(
            kind=device, name=system.device_name(device), check=DeviceCheck(**dataclasses.asdict(check))
        ),
        machine=machine,
    )


@router.get("/system/storage", name="get_storage")
def get_storage(ctx: AppContext = Depends(get_ctx)) -> StorageInfo:
    from app import storage

    free, total = storage.disk(ctx.paths)
    parts = [StoragePart(**dataclasses.asdict(storage.usage(part))) for part in storage.parts(ctx.paths)]
    return StorageInfo(data_dir=str(ctx.paths.root), free_bytes=free, total_bytes=total, parts=parts)


@router.post("/system/clear-caches", name="clear_caches")
def clear_caches(ctx: AppContext = Depends(get_ctx)) -> ClearedCaches:
    """Frees the space the caches take: everything in `<data>/cache` and the temp files older
    than an hour in `<data>/tmp`. Refused (409 `jobs_active`) while a job is queued or running."""
    import sys
    from pathlib import Path

    from app import caches
    from app.errors import ApiError
    from app.job_states import ACTIVE_STATUSES

    active = [
        row["id"]
        for row in ctx.db.query(
            f"SELECT id FROM jobs WHERE status IN ({', '.join('?' for _ in ACTIVE_STATUSES)})",
            ACTIVE_STATUSES,
        )
    ]
    # A job cancelled a moment ago is marked so at once, but its training stops only at its
    # next batch of text: the worker holds it until then.
    active += [job_id for job_id in ctx.jobs.held_job_ids() if job_id not in active]
    if active:
        raise ApiError(
            409,
            "jobs_active",
            "Wait for the running training to finish, or cancel it, then clear the caches.",
            {"job_ids": active},
        )
    # The running engine's own Python, should a setup have put it inside the caches.
    keep = [Path(sys.prefix)] + ([ctx.settings.runtime_root] if ctx.settings.runtime_root else [])
    # caches.clear logs what it removed and kept, folder by folder.
    result = caches.clear(ctx.paths, keep)
    return ClearedCaches(**dataclasses.asdict(result))


@router.post("/system/compute-check", name="compute_check")
def compute_check(ctx: AppContext = Depends(get_ctx)) -> ComputeCheck:
    result = system.compute_check(ctx.settings.device)
    if result.ok:
        log.info(
            "compute check: %.1f GFLOP/s on %s (%d×%d)",
            result.gflops,
            result.device,
            result.size,
            result.size,
        )
    else:
        log.warning("compute check failed: %s", result.message)
    return ComputeCheck(**dataclasses.asdict(result))


@router.get(
    "/diagnostics",
    name="export_diagnostics",
    response_class=Response,
    responses={
        200: {
            "description": (
                "A zip to send when asking for help: README.txt, logs.txt (the shell's and the "
                "engine's logs merged in time order, bounded), system.json, runtime.json and "
                "jobs.json (the last 50 jobs' states). Secrets, names, dataset contents, "
                "vocabularies and the home folder's path are left out or redacted."
            ),
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def export_diagnostics(ctx: AppContext = Depends(get_ctx)) -> Response:
    from datetime import UTC, datetime

    from app import diagnostics

    now = datetime.now(UTC)
    data = diagnostics.build_zip(ctx.settings, ctx.paths, ctx.db, now)
    log.info("diagnostics exported (%d bytes)", len(data))
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{diagnostics.file_name(now)}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/logs", name="get_logs")
def get_logs(
    level: Literal["debug", "info", "warning", "error"] | None = Query(
        None, description="The lowest level shown; every line when left out."
    ),
    limit: int = Query(500, ge=1, le=5000, description="The most lines answered, the newest."),
    source: Literal["all", "shell", "engine", "server"] = Query("all", description="Which log."),
    ctx: AppContext = Depends(get_ctx),
) -> AppLogs:
    from app import logfiles
    from app.diagnostics import Scrubber

    # The user reads their own machine's logs: names and the home folder stay, secrets do not.
    scrub = Scrubber(ctx.settings.token, (), None)
    found = logfiles.view(ctx.paths.logs, scrub.text, level=level, limit=limit, source=source)
    return AppLogs(
        lines=[AppLogLine(**dataclasses.asdict(line)) for line in found.lines],
        truncated=found.truncated,
        files=found.files,
    )
