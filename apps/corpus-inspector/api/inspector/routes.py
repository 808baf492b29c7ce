"""The HTTP API (API.md) and the UI's files."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from inspector import __version__
from inspector.catalog import new_id
from inspector.context import AppContext, get_ctx
from inspector.corpus import CorpusError, scan
from inspector.errors import ApiError, not_found
from inspector.inspect_job import NAME, PHASES, RESULT, InspectConfig
from inspector.security import LAUNCH_CODE_TTL_S, cookie_name
from inspector.tokenizer_files import check_tokenizer
from inspector.uploads import DATASET_UPLOAD, MAX_TOKENIZER_BYTES, TOKENIZER_UPLOAD, receive_upload
from jobrunner import ACTIVE_STATUSES, DONE_PHASE, QUEUED_PHASE, JobStatus

api = APIRouter(prefix="/api/v1")
open_routes = APIRouter()
web = APIRouter()

PHASE_LABELS = {
    QUEUED_PHASE: "Waiting to start",
    **{phase.name: phase.label for phase in PHASES},
    DONE_PHASE: "Done",
}
_ID = {kind: re.compile(rf"^{kind}_[0-9a-f]{{16}}$") for kind in ("ds", "tok", "job")}


def _checked_id(kind: str, value: str, what: str) -> str:
    if not _ID[kind].fullmatch(value):
        raise not_found(what)
    return value


# --- health and session -------------------------------------------------------------------------


@open_routes.get("/health")
@open_routes.get("/api/v1/health")
async def health(ctx: AppContext = Depends(get_ctx)) -> dict[str, Any]:
    return {"status": "ok", "version": __version__, "launch_id": ctx.settings.launch_id}


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=200)


@api.get("/session")
def session_state(request: Request, ctx: AppContext = Depends(get_ctx)) -> dict[str, bool]:
    return {
        "authenticated": request.app.state.auth.is_authenticated(request.scope),
        "token_required": ctx.settings.token is not None,
    }


@api.post("/session/launch-code")
def launch_code(request: Request, ctx: AppContext = Depends(get_ctx)) -> dict[str, Any]:
    # Only the holder of the launch token (the shell) mints codes: a page holding a session
    # cookie must not be able to mint codes for other pages.
    if not request.app.state.auth.has_token(request.scope):
        raise ApiError(
            403, "token_required", "Launch codes are issued to the desktop app only; reopen the app window."
        )
    return {"code": ctx.sessions.issue_code(), "expires_in": LAUNCH_CODE_TTL_S}


@api.post("/session", status_code=204)
def create_session(body: SessionCreate, ctx: AppContext = Depends(get_ctx)) -> Response:
    secret = ctx.sessions.redeem(body.code)
    if secret is None:
        raise ApiError(
            401, "unauthorized", "The launch code is unknown, used or expired; reopen the app window."
        )
    response = Response(status_code=204)
    response.set_cookie(cookie_name(ctx.settings.port), secret, httponly=True, samesite="strict", path="/")
    return response


@api.post("/shutdown", status_code=202)
def shutdown(background: BackgroundTasks, ctx: AppContext = Depends(get_ctx)) -> dict[str, str]:
    # After the response is sent, so the caller sees the 202 before the socket closes.
    background.add_task(ctx.request_shutdown)
    return {"status": "shutting_down"}


# --- corpora --------------------------------------------------------------------------------------


def _in_use(ctx: AppContext, key: str, value: str) -> bool:
    return any(config.get(key) == value for config in ctx.history.active_configs())


@api.get("/datasets")
def list_datasets(ctx: AppContext = Depends(get_ctx)) -> dict[str, Any]:
    return {"datasets": ctx.catalog.datasets()}


@api.post("/datasets", status_code=201)
async def upload_dataset(request: Request, ctx: AppContext = Depends(get_ctx)) -> dict[str, Any]:
    folder = ctx.paths.datasets
    received = await receive_upload(
        request, folder, ctx.settings.max_upload_bytes, DATASET_UPLOAD, ctx.paths.root
    )
    dataset_id = new_id("ds")
    final = folder / f"{dataset_id}.{received.fmt}"
    try:
        try:
            found = await run_in_threadpool(scan, received.temp_path, received.fmt)
        except CorpusError as exc:
            raise ApiError(422, "invalid_file", exc.message) from None
        os.replace(received.temp_path, final)
        return ctx.catalog.add_dataset(
            id=dataset_id,
            name=received.display_name,
            format=received.fmt,
            size_bytes=received.size_bytes,
            sha256=received.sha256,
            records=found.records,
            fields=found.fields,
            text_field=found.text_field,
        )
    except BaseException:
        received.temp_path.unlink(missing_ok=True)
        final.unlink(missing_ok=True)
        raise


@api.get("/datasets/{dataset_id}")
def get_dataset(dataset_id: str, ctx: AppContext = Depends(get_ctx)) -> dict[str, Any]:
    found = ctx.catalog.dataset(_checked_id("ds", dataset_id, "corpus"))
    if found is None:
        raise not_found("corpus")
    return found


@api.delete("/datasets/{dataset_id}", status_code=204)
def delete_dataset(dataset_id: str, ctx: AppContext = Depends(get_ctx)) -> Response:
    found = ctx.catalog.dataset(_checked_id("ds", dataset_id, "corpus"))
    if found is None:
        raise not_found("corpus")
    if _in_use(ctx, "dataset_id", dataset_id):
        raise ApiError(
            409,
            "in_use",
            "An inspection of this corpus is waiting or running; cancel it or let it finish, then remove the corpus.",
        )
    ctx.catalog.delete_dataset(dataset_id)
    (ctx.paths.datasets / f"{dataset_id}.{found['format']}").unlink(missing_ok=True)
    return Response(status_code=204)


# --- tokenizers -----------------------------------------------------------------------------------


@api.get("/tokenizers")
def list_tokenizers(ctx: AppContext = Depends(get_ctx)) -> dict[str, Any]:
    return {"tokenizers": ctx.catalog.tokenizers()}


@api.post("/tokenizers", status_code=201)
async def upload_tokenizer(request: Request, ctx: AppContext = Depends(get_ctx)) -> dict[str, Any]:
    folder = ctx.paths.tokenizers
    received = await receive_upload(request, folder, MAX_TOKENIZER_BYTES, TOKENIZER_UPLOAD, ctx.paths.root)
    tokenizer_id = new_id("tok")
    final = folder / f"{tokenizer_id}.json"
    try:
        info = await run_in_threadpool(check_tokenizer, received.temp_path)
        os.replace(received.temp_path, final)
        return ctx.catalog.add_tokenizer(
            id=tokenizer_id,
            name=received.display_name,
            size_bytes=received.size_bytes,
            sha256=received.sha256,
            model=info.model,
            vocab_size=info.vocab_size,
            unk_token=info.unk_token,
        )
    except BaseException:
        received.temp_path.unlink(missing_ok=True)
        final.unlink(missing_ok=True)
        raise


@api.get("/tokenizers/{tokenizer_id}")
def get_tokenizer(tokenizer_id: str, ctx: AppContext = Depends(get_ctx)) -> dict[str, Any]:
    found = ctx.catalog.tokenizer(_checked_id("tok", tokenizer_id, "tokenizer"))
    if found is None:
        raise not_found("tokenizer")
    return found


@api.delete("/tokenizers/{tokenizer_id}", status_code=204)
def delete_tokenizer(tokenizer_id: str, ctx: AppContext = Depends(get_ctx)) -> Response:
    if ctx.catalog.tokenizer(_checked_id("tok", tokenizer_id, "tokenizer")) is None:
        raise not_found("tokenizer")
    if _in_use(ctx, "tokenizer_id", tokenizer_id):
        raise ApiError(
            409,
            "in_use",
            "An inspection with this tokenizer is waiting or running; cancel it or let it finish, "
            "then remove the tokenizer.",
        )
    ctx.catalog.delete_tokenizer(tokenizer_id)
    (ctx.paths.tokenizers / f"{tokenizer_id}.json").unlink(missing_ok=True)
    return Response(status_code=204)


# --- inspections ----------------------------------------------------------------------------------


def _job_view(ctx: AppContext, job: dict[str, Any], messages: bool = False) -> dict[str, Any]:
    config = job["config"] or {}
    dataset = ctx.catalog.dataset(config.get("dataset_id", ""))
    tokenizer = ctx.catalog.tokenizer(config["tokenizer_id"]) if config.get("tokenizer_id") else None
    view = {
        "id": job["id"],
        "status": job["status"],
        "phase": job["phase"],
        "phase_label": PHASE_LABELS.get(job["phase"], job["phase"]),
        "progress": job["progress"],
        "error": job["error"],
        "created_at": job["created_at"],
        "started_at": job["started_at"],
        "finished_at": job["finished_at"],
        # The name is None once the corpus or tokenizer was removed; the result keeps it.
        "dataset": {"id": config.get("dataset_id"), "name": dataset["name"] if dataset else None},
        "tokenizer": (
            {"id": config["tokenizer_id"], "name": tokenizer["name"] if tokenizer else None}
            if config.get("tokenizer_id")
            else None
        ),
        "text_field": config.get("text_field"),
        "summary": job["metrics"],
        "has_result": job["status"] == JobStatus.SUCCEEDED,
    }
    if messages:
        view["messages"] = ctx.history.logs(job["id"])
    return view


def _job(ctx: AppContext, job_id: str) -> dict[str, Any]:
    job = ctx.history.get(_checked_id("job", job_id, "inspection"))
    if job is None or job["job_type"] != NAME:
        raise not_found("inspection")
    return job


@api.post("/jobs", status_code=201)
def create_job(body: InspectConfig, ctx: AppContext = Depends(get_ctx)) -> dict[str, Any]:
    dataset = ctx.catalog.dataset(body.dataset_id)
    if dataset is None:
        raise not_found("corpus")
    if body.tokenizer_id is not None and ctx.catalog.tokenizer(body.tokenizer_id) is None:
        raise not_found("tokenizer")
    field = body.text_field
    if dataset["format"] == "txt":
        if field is not None:
            raise ApiError(
                422,
                "unknown_field",
                "A .txt corpus has no fields or columns (each line is a document); leave the text field empty.",
            )
    else:
        field = field or dataset["text_field"]
        if field not in dataset["fields"]:
            choices = ", ".join(f'"{name}"' for name in dataset["fields"])
            if dataset["format"] == "csv":
                sentence = f'The corpus has no column named "{field}"; its columns are {choices}.'
            else:
                sentence = (
                    f'Not every line of the corpus has a "{field}" field holding text; the fields '
                    f"that do are {choices}."
                )
            raise ApiError(422, "unknown_field", sentence)
    config = body.model_copy(update={"text_field": field}).model_dump()
    job_id = ctx.runner.enqueue(NAME, config)
    return _job_view(ctx, ctx.history.get(job_id), messages=True)


@api.get("/jobs")
def list_jobs(ctx: AppContext = Depends(get_ctx)) -> dict[str, Any]:
    return {"jobs": [_job_view(ctx, job) for job in ctx.history.recent() if job["job_type"] == NAME]}


@api.get("/jobs/{job_id}")
def get_job(job_id: str, ctx: AppContext = Depends(get_ctx)) -> dict[str, Any]:
    return _job_view(ctx, _job(ctx, job_id), messages=True)


@api.post("/jobs/{job_id}/cancel")
def cancel_job(job_id: str, ctx: AppContext = Depends(get_ctx)) -> dict[str, Any]:
    _job(ctx, job_id)
    if not ctx.runner.cancel(job_id):
        raise ApiError(409, "not_active", "This inspection has already finished; there is nothing to cancel.")
    return _job_view(ctx, _job(ctx, job_id), messages=True)


@api.get("/jobs/{job_id}/result")
def job_result(job_id: str, ctx: AppContext = Depends(get_ctx)) -> JSONResponse:
    job = _job(ctx, job_id)
    status = job["status"]
    if status in ACTIVE_STATUSES:
        raise ApiError(409, "not_finished", "This inspection has not finished yet; wait for it to finish.")
    if status != JobStatus.SUCCEEDED:
        why = job["error"] or "It was cancelled."
        raise ApiError(409, "no_result", f"This inspection has no result. {why}")
    path = ctx.paths.jobs / job_id / RESULT
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ApiError(
            410,
            "result_missing",
            "The result of this inspection is no longer on disk; inspect the corpus again.",
        ) from None
    return JSONResponse(result)


@api.delete("/jobs/{job_id}", status_code=204)
def delete_job(job_id: str, ctx: AppContext = Depends(get_ctx)) -> Response:
    _job(ctx, job_id)
    if not ctx.history.delete_finished(job_id):
        raise ApiError(
            409, "in_use", "This inspection is waiting or running; cancel it first, then remove it."
        )
    shutil.rmtree(ctx.paths.jobs / job_id, ignore_errors=True)
    return Response(status_code=204)


# --- the UI -----------------------------------------------------------------------------------------

# Named here, not guessed from the OS: on Windows the registry's idea of a .js file can be
# anything, and the browser refuses a module script of the wrong type (nosniff).
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".svg": "image/svg+xml",
}

NO_UI_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Corpus Inspector</title></head>
<body><h1>Corpus Inspector</h1>
<p>The engine is running, but it has no UI folder; start it with --web-dir pointing at
apps/corpus-inspector/web.</p></body></html>
"""


@web.api_route("/{rel_path:path}", methods=["GET", "HEAD"], include_in_schema=False)
def web_file(rel_path: str, ctx: AppContext = Depends(get_ctx)) -> Response:
    if rel_path == "api" or rel_path.startswith("api/"):
        raise ApiError(404, "not_found", "No such API endpoint; API.md lists them.")
    root: Path | None = ctx.settings.web_dir
    if root is None:
        return Response(
            NO_UI_PAGE, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"}
        )
    rel_path = rel_path or "index.html"
    candidate = (root / rel_path).resolve() if "\x00" not in rel_path else None
    if (
        candidate is None
        or not candidate.is_relative_to(root.resolve())
        or not candidate.is_file()
        or candidate.suffix not in MEDIA_TYPES
    ):
        raise ApiError(404, "not_found", "No such page.")
    return FileResponse(
        candidate, media_type=MEDIA_TYPES[candidate.suffix], headers={"Cache-Control": "no-cache"}
    )
