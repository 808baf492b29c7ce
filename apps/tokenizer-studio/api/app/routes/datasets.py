"""Datasets: streaming upload, list, get, choose the text column, preview, delete."""

from __future__ import annotations

import os
import secrets
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from app.context import AppContext, get_ctx
from app.corpus import Source, inspect, preview, string_columns
from app.db import utc_now
from app.errors import ApiError, DiskFull, is_disk_full
from app.models import ERROR_RESPONSES, Dataset, DatasetPreview
from app.uploads import receive_upload, remove_quietly

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)


def _get(ctx: AppContext, dataset_id: str) -> dict[str, Any]:
    row = ctx.db.get_dataset(dataset_id)
    if row is None:
        raise ApiError(404, "not_found", f"No dataset {dataset_id!r}; list datasets to see the ids.")
    return row


class DatasetPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text_column: str = Field(min_length=1, max_length=256)


# The route reads the multipart stream itself (a size cap and a hash while it arrives), so
# FastAPI cannot see the body: the schema states it.
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


@router.post("/datasets", status_code=201, openapi_extra=UPLOAD_BODY)
async def upload_dataset(request: Request, ctx: AppContext = Depends(get_ctx)) -> Dataset:
    received = await receive_upload(request, ctx.paths.uploads, ctx.settings.max_upload_bytes, ctx.paths.root)
    dataset_id = f"ds_{secrets.token_hex(8)}"
    stored_name = f"{dataset_id}.{received.fmt}"
    try:
        info = await run_in_threadpool(inspect, received.temp_path, received.fmt)
        os.replace(received.temp_path, ctx.paths.uploads / stored_name)
    except BaseException:
        remove_quietly(received.temp_path)
        raise
    row = {
        "id": dataset_id,
        "name": received.display_name,
        "stored_name": stored_name,
        "format": received.fmt,
        "size_bytes": received.size_bytes,
        "sha256": received.sha256,
        "columns": info.columns,
        "text_column": info.text_column,
        "n_rows": info.n_rows,
        "created_at": utc_now(),
    }
    try:
        ctx.db.insert_dataset(row)
    except BaseException as exc:
        # No file without its row: a database that could not take the row takes the file too.
        remove_quietly(ctx.paths.uploads / stored_name)
        if is_disk_full(exc):
            raise DiskFull(ctx.paths.root, "the dataset's entry in the history") from exc
        raise
    return Dataset.model_validate(row)


@router.get("/datasets")
def list_datasets(ctx: AppContext = Depends(get_ctx)) -> list[Dataset]:
    return [Dataset.model_validate(r) for r in ctx.db.list_datasets()]


@router.get("/datasets/{dataset_id}")
def get_dataset(dataset_id: str, ctx: AppContext = Depends(get_ctx)) -> Dataset:
    return Dataset.model_validate(_get(ctx, dataset_id))


@router.patch("/datasets/{dataset_id}")
def patch_dataset(dataset_id: str, body: DatasetPatch, ctx: AppContext = Depends(get_ctx)) -> Dataset:
    row = _get(ctx, dataset_id)
    if row["format"] == "txt":
        raise ApiError(422, "invalid_column", "A .txt dataset has no columns: every line is one text.")
    usable = string_columns(ctx.paths.uploads / row["stored_name"], row["format"])
    if body.text_column not in usable:
        raise ApiError(
            422,
            "invalid_column",
            f"{body.text_column!r} is not a text column of this dataset; choose one of: {', '.join(usable)}.",
        )
    ctx.db.execute("UPDATE datasets SET text_column = ? WHERE id = ?", (body.text_column, dataset_id))
    return Dataset.model_validate(_get(ctx, dataset_id))


@router.get("/datasets/{dataset_id}/preview")
def preview_dataset(
    dataset_id: str, limit: int = Query(20, ge=1, le=200), ctx: AppContext = Depends(get_ctx)
) -> DatasetPreview:
    row = _get(ctx, dataset_id)
    source = Source(
        ctx.paths.uploads / row["stored_name"], row["format"], row["text_column"], row["size_bytes"]
    )
    return DatasetPreview(rows=preview(source, limit))


@router.delete("/datasets/{dataset_id}", status_code=204)
def delete_dataset(dataset_id: str, ctx: AppContext = Depends(get_ctx)) -> Response:
    with ctx.db.lock:  # no job may be created for this dataset between the check and the delete
        row = _get(ctx, dataset_id)
        users = ctx.db.active_jobs_using(dataset_id)
        if users:
            raise ApiError(
                409,
                "dataset_in_use",
                f"Job {users[0]} is using this dataset; cancel it or wait for it to finish.",
            )
        ctx.db.execute("DELETE FROM datasets WHERE id = ?", (dataset_id,))
        remove_quietly(ctx.paths.uploads / row["stored_name"])
    return Response(status_code=204)
