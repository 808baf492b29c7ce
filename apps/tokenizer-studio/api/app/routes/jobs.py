"""Training jobs: create, import a tokenizer.json, list, get, logs, cancel, delete, artifact
download and export, "try it"."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import threading
from collections import OrderedDict
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from app.context import AppContext, get_ctx
from app.corpus import string_columns
from app.db import utc_now
from app.errors import ApiError, DiskFull, is_disk_full
from app.job_states import ACTIVE_STATUSES, IMPORTED_TEMPLATE
from app.models import ERROR_RESPONSES, Job, JobStatus, LogLine, LogPage, TryResult
from app.paths import PRIVATE_DIR_MODE, make_private_dir
from app.uploads import MAX_TOKENIZER_BYTES, TOKENIZER_UPLOAD, receive_upload, remove_quietly
from templates import ConfigError, UnknownTemplateError, resolve_config

log = logging.getLogger("tokenizer_studio.jobs")

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)

MAX_TRY_CHARS = 100_000
MAX_NAME_CHARS = 200


def _get(ctx: AppContext, job_id: str) -> dict[str, Any]:
    row = ctx.db.get_job(job_id)
    if row is None:
        raise ApiError(404, "not_found", f"No job {job_id!r}; list jobs to see the ids.")
    return row


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    template: str = Field(max_length=100)
    dataset_ids: list[str] = Field(min_length=1, max_length=32)
    overrides: dict[str, Any] = Field(default_factory=dict)


class TryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=MAX_TRY_CHARS)


def _clean_name(name: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", "", name).strip()


def _ensure_text_column(ctx: AppContext, ds: dict[str, Any], column: str) -> None:
    """Refuses a `text_column` that holds no text in `ds`: the check the Datasets screen's
    choice of text column makes (`corpus.string_columns`), so a training is not started only to
    fail once it has read the whole file."""
    if ds["columns"] is None:
        return  # a .txt dataset: every line is a text, the setting does not apply
    try:
        usable = string_columns(ctx.paths.uploads / ds["stored_name"], ds["format"])
    except ApiError:
        usable = []  # the file reads as having no text column at all
    except OSError:
        return  # moved or deleted since the upload: the job fails saying so, in words
    if column in usable:
        return
    if usable:
        what_to_do = (
            f"set the text column to one of its text columns ({', '.join(usable)}), or leave it "
            "empty to use the column chosen on the Datasets screen."
        )
    else:
        what_to_do = "upload the file again with its text in a column named 'text'."
    raise ApiError(
        422,
        "invalid_config",
        f"The column {column!r} of dataset {ds['name']!r} holds no text: {what_to_do}",
        [
            {
                "field": "text_column",
                "message": f"{column!r} holds no text in dataset {ds['name']!r}",
            }
        ],
    )


@router.post("/jobs", status_code=201)
def create_job(body: JobCreate, ctx: AppContext = Depends(get_ctx)) -> Job:
    try:
        config = resolve_config(body.template, body.overrides)
    except UnknownTemplateError as exc:
        raise ApiError(422, "unknown_template", str(exc)) from None
    except ConfigError as exc:
        raise ApiError(422, "invalid_config", str(exc), exc.details) from None
    if len(set(body.dataset_ids)) != len(body.dataset_ids):
        raise ApiError(422, "invalid_request", "A dataset is listed twice; list each once.")
    job_id = f"job_{secrets.token_hex(8)}"
    with ctx.db.lock:  # pairs with the in-use check of dataset deletion
        datasets = []
        for dataset_id in body.dataset_ids:
            ds = ctx.db.get_dataset(dataset_id)
            if ds is None:
                raise ApiError(422, "unknown_dataset", f"No dataset {dataset_id!r}; upload it first.")
            datasets.append(ds)
        column = config["text_column"]
        if column is not None:
            missing = [d for d in datasets if d["columns"] is not None and column not in d["columns"]]
            if missing:
                raise ApiError(
                    422,
                    "invalid_config",
                    "The training config is not valid (text_column); fix the listed fields.",
                    [
                        {
                            "field": "text_column",
                            "message": f"dataset {missing[0]['name']!r} has no column {column!r}",
                        }
                    ],
                )
            for ds in datasets:
                _ensure_text_column(ctx, ds, column)
        name = _clean_name(body.name or "") or f"{body.template} on {datasets[0]['name']}"
        ctx.db.insert_job(
            {
                "id": job_id,
                "name": name,
                "template": body.template,
                "dataset_ids": body.dataset_ids,
                "config": config,
                "created_at": utc_now(),
            }
        )
    ctx.jobs.submit(job_id)
    return Job.model_validate(_get(ctx, job_id))


# The route reads the multipart stream itself (a size cap while it arrives), so FastAPI cannot
# see the body: the schema states it.
IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "A Hugging Face tokenizer.json, at most "
                            f"{MAX_TOKENIZER_BYTES // 1_000_000} MB.",
                        },
                        "name": {
                            "type": "string",
                            "maxLength": MAX_NAME_CHARS,
                            "description": "The job's name; default: the file's name without .json.",
                        },
                    },
                }
            }
        },
    }
}


@router.post("/jobs/import", status_code=201, openapi_extra=IMPORT_BODY)
async def import_tokenizer(request: Request, ctx: AppContext = Depends(get_ctx)) -> Job:
    """Imports a Hugging Face tokenizer.json, checked by the tokenizers library, to try, download
    and export like a trained tokenizer: a job with template `imported`, succeeded from the start.
    """
    from app.tokenizer_import import check_tokenizer, default_name

    # Received into the tokenizers folder itself, so the final move is a rename on one drive.
    received = await receive_upload(
        request, ctx.paths.artifacts, MAX_TOKENIZER_BYTES, ctx.paths.root, TOKENIZER_UPLOAD
    )
    job_id = f"job_{secrets.token_hex(8)}"
    job_dir = ctx.paths.job_artifacts(job_id)
    try:
        name = _clean_name(received.fields.get("name", ""))
        if len(name) > MAX_NAME_CHARS:
            raise ApiError(
                422,
                "invalid_request",
                "The request body is not valid; fix the listed fields.",
                [{"field": "name", "message": f"String should have at most {MAX_NAME_CHARS} characters"}],
            )
        found = await run_in_threadpool(check_tokenizer, received.temp_path)
        job_dir.mkdir(mode=PRIVATE_DIR_MODE)
        make_private_dir(job_dir)
        os.replace(received.temp_path, job_dir / "tokenizer.json")
        now = utc_now()
        row = {
            "id": job_id,
            "name": name or default_name(received.display_name),
            "template": IMPORTED_TEMPLATE,
            "dataset_ids": [],
            "config": None,
            "status": JobStatus.SUCCEEDED,
            "metrics": {
                "vocab_size": found.vocab_size,
                "model_type": found.model_type,
                "n_input_bytes": None,
                "n_input_rows": None,
                "duration_s": None,
                "avg_tokens_per_word": None,
            },
            "artifact": {
                "path": f"artifacts/tokenizers/{job_id}/tokenizer.json",
                "size_bytes": received.size_bytes,
                "sha256": received.sha256,
            },
            "created_at": now,
            "finished_at": now,
        }
        # The file first, then its row: a crash between the two leaves an unreferenced folder,
        # never a job whose tokenizer is missing.
        ctx.db.insert_finished_job(
            row,
            f"Imported {received.display_name}: {found.model_type} model, "
            f"{found.vocab_size:,} tokens, {received.size_bytes:,} bytes.",
        )
    except BaseException as exc:
        remove_quietly(received.temp_path)
        shutil.rmtree(job_dir, ignore_errors=True)
        if is_disk_full(exc) and not isinstance(exc, DiskFull):
            raise DiskFull(ctx.paths.root, "the imported tokenizer") from exc
        raise
    log.info("imported a tokenizer as %s: %s, %d tokens", job_id, found.model_type, found.vocab_size)
    return Job.model_validate(_get(ctx, job_id))


@router.get("/jobs")
def list_jobs(ctx: AppContext = Depends(get_ctx)) -> list[Job]:
    return [Job.model_validate(r) for r in ctx.db.list_jobs()]


@router.get("/jobs/{job_id}")
def get_job(job_id: str, ctx: AppContext = Depends(get_ctx)) -> Job:
    return Job.model_validate(_get(ctx, job_id))


@router.get("/jobs/{job_id}/logs")
def job_logs(job_id: str, after: int = Query(0, ge=0), ctx: AppContext = Depends(get_ctx)) -> LogPage:
    _get(ctx, job_id)
    lines = [LogLine.model_validate(line) for line in ctx.db.logs_after(job_id, after)]
    # `next` is the `after` of the following call: the last seq returned (nothing is skipped).
    return LogPage(lines=lines, next=lines[-1].seq if lines else after)


@router.post("/jobs/{job_id}/cancel")
def cancel_job(job_id: str, ctx: AppContext = Depends(get_ctx)) -> Job:
    _get(ctx, job_id)
    if not ctx.jobs.cancel(job_id):
        raise ApiError(
            409, "job_finished", f"The job is already {_get(ctx, job_id)['status']}; nothing to cancel."
        )
    return Job.model_validate(_get(ctx, job_id))


@router.delete("/jobs/{job_id}", status_code=204)
def delete_job(job_id: str, ctx: AppContext = Depends(get_ctx)) -> Response:
    with ctx.db.lock:  # the job cannot start between the check and the delete
        row = _get(ctx, job_id)
        if row["status"] in ACTIVE_STATUSES:
            raise ApiError(
                409,
                "job_active",
                f"The job is {row['status']}; cancel it first, then delete it.",
            )
        # The row first (its log lines go with it): a crash between the two leaves an
        # unreferenced folder, never a job whose tokenizer is gone.
        ctx.db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
    with _cache_lock:
        _tokenizer_cache.pop(job_id, None)
    shutil.rmtree(ctx.paths.job_artifacts(row["id"]), ignore_errors=True)
    return Response(status_code=204)


def _artifact_path(ctx: AppContext, row: dict[str, Any]):
    if row["status"] != JobStatus.SUCCEEDED or not row["artifact"]:
        raise ApiError(
            404, "no_artifact", f"The job is {row['status']}; a tokenizer exists only after success."
        )
    path = ctx.paths.job_artifacts(row["id"]) / "tokenizer.json"
    if not path.is_file():
        again = "import it again" if row["template"] == IMPORTED_TEMPLATE else "train again"
        raise ApiError(404, "no_artifact", f"The tokenizer file is missing from the data folder; {again}.")
    return path


@router.get(
    "/jobs/{job_id}/artifact",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The trained tokenizer.json, as an attachment.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
def download_artifact(job_id: str, ctx: AppContext = Depends(get_ctx)) -> FileResponse:
    row = _get(ctx, job_id)
    path = _artifact_path(ctx, row)
    disposition = _attachment(f"{row['name']}-tokenizer.json", "tokenizer.json")
    return FileResponse(path, media_type="application/json", headers={"Content-Disposition": disposition})


def _attachment(filename: str, fallback: str) -> str:
    # The quoted form must stay plain ASCII without quotes; filename* carries the exact name.
    ascii_name = re.sub(r"[^A-Za-z0-9 ._()+-]+", "_", filename).strip(" _") or fallback
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


@router.get(
    "/jobs/{job_id}/export",
    response_class=Response,
    responses={
        200: {
            "description": (
                "The trained tokenizer as a zip of one folder that Hugging Face transformers "
                "loads with AutoTokenizer.from_pretrained: tokenizer.json, tokenizer_config.json "
                "and special_tokens_map.json."
            ),
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def export_tokenizer(job_id: str, ctx: AppContext = Depends(get_ctx)) -> Response:
    from app.export import added_special_tokens, export_zip

    row = _get(ctx, job_id)
    path = _artifact_path(ctx, row)
    if row["config"] is not None:
        special_tokens = list(row["config"].get("special_tokens") or [])
    else:
        # Imported: no training config says them; the tokenizer.json does.
        special_tokens = added_special_tokens(path)
    data = export_zip(path, special_tokens, row["name"])
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": _attachment(f"{row['name']}-tokenizer.zip", "tokenizer.zip")},
    )


_cache_lock = threading.Lock()
# job id → (tokenizer, whether its tokens are spelled in GPT-2's byte characters)
_tokenizer_cache: OrderedDict[str, tuple[Any, bool]] = OrderedDict()


def _load_tokenizer(job_id: str, path) -> tuple[Any, bool]:
    from tokenizers import Tokenizer

    with _cache_lock:
        if job_id in _tokenizer_cache:
            _tokenizer_cache.move_to_end(job_id)
            return _tokenizer_cache[job_id]
    tok = Tokenizer.from_file(str(path))
    loaded = (tok, _spelled_in_bytes(tok))
    with _cache_lock:
        _tokenizer_cache[job_id] = loaded
        while len(_tokenizer_cache) > 4:
            _tokenizer_cache.popitem(last=False)
    return loaded


def _spelled_in_bytes(tok) -> bool:
    """True when a ByteLevel step is the pre-tokenizer or decoder, or inside their sequence.

    Read from each step's own small JSON, not from the whole tokenizer.json (megabytes).
    """

    def has_byte_level(node: Any) -> bool:
        if isinstance(node, dict):
            return node.get("type") == "ByteLevel" or any(has_byte_level(v) for v in node.values())
        if isinstance(node, list):
            return any(has_byte_level(v) for v in node)
        return False

    steps = (tok.pre_tokenizer, tok.decoder)
    return any(step is not None and has_byte_level(json.loads(step.__getstate__())) for step in steps)


@router.post("/jobs/{job_id}/try")
def try_tokenizer(job_id: str, body: TryRequest, ctx: AppContext = Depends(get_ctx)) -> TryResult:
    from tokenizer import encode

    row = _get(ctx, job_id)
    path = _artifact_path(ctx, row)
    tok, byte_level = _load_tokenizer(job_id, path)
    try:
        result = encode(tok, body.text)
    except Exception as exc:
        # An imported tokenizer may refuse some texts (a WordPiece without an unknown token
        # meeting a word it cannot spell): the library's reason is the useful part.
        raise ApiError(
            422, "cannot_encode", f"The tokenizer cannot encode this text ({exc}); try another text."
        ) from None
    return TryResult.model_validate({**result, "byte_level": byte_level})
