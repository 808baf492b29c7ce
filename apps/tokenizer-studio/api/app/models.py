"""The API's nouns: job states and the Pydantic model of every JSON response (and the error).

The job states are defined in `app.job_states` (start-up needs them, not pydantic) and
re-exported here.

These models are the OpenAPI schema served at `/api/v1/openapi.json`; the web UI's TypeScript
types are generated from that schema (web/src/api/schema.d.ts), so a change here is a change of
the contract: regenerate the types (`npm run gen:api` in web/) in the same commit.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.corpus import FORMATS
from app.job_states import (  # noqa: F401 (re-exported)
    ACTIVE_STATUSES,
    IMPORTED_TEMPLATE,
    JobPhase,
    JobStatus,
)
from templates.validation import CONFIG_KEYS, MODELS, NORMALIZATIONS, PRE_TOKENIZERS

# --- responses ------------------------------------------------------------------------------


class ApiModel(BaseModel):
    # Validators are built on first use, not at import: start-up (spawn to READY) pays only
    # for what the routes need to be registered.
    model_config = ConfigDict(defer_build=True)


class Health(BaseModel):
    # Built at import, with the health route: no probe waits for it once that is mounted.
    status: Literal["ok"]
    version: str
    launch_id: str | None


class SessionState(ApiModel):
    authenticated: bool
    token_required: bool


class LaunchCode(ApiModel):
    code: str
    expires_in: int = Field(description="Seconds the code stays valid; it can be redeemed once.")


class ShuttingDown(ApiModel):
    status: Literal["shutting_down"]


class TrainingConfig(ApiModel):
    """A complete, validated training config (template defaults plus the user's overrides).

    Every stored trained job is answered through this model: a key added later needs a default
    here (or a migration that fills it in), else the jobs written before it no longer load.
    """

    model: Literal[MODELS]  # type: ignore[valid-type]
    vocab_size: int
    min_frequency: int
    special_tokens: list[str]
    normalization: Literal[NORMALIZATIONS]  # type: ignore[valid-type]
    lowercase: bool
    pre_tokenizer: Literal[PRE_TOKENIZERS]  # type: ignore[valid-type]
    text_column: str | None


class Template(ApiModel):
    id: str
    name: str
    description: str
    model: Literal[MODELS]  # type: ignore[valid-type]
    defaults: TrainingConfig
    knobs: list[Literal[CONFIG_KEYS]] = Field(  # type: ignore[valid-type]
        description="The config keys a user may override for this template."
    )


class Dataset(ApiModel):
    id: str
    name: str
    format: Literal[FORMATS]  # type: ignore[valid-type]
    size_bytes: int
    sha256: str
    columns: list[str] | None
    text_column: str | None
    n_rows: int | None
    created_at: str


class DatasetPreview(ApiModel):
    rows: list[str]


class JobMetrics(ApiModel):
    """What a finished job measured. An imported tokenizer was never trained here: it reports
    only what the tokenizer itself gives (`vocab_size`, `model_type`); the rest are null."""

    vocab_size: int = Field(description="Tokens in the vocabulary, added (special) tokens included.")
    n_input_bytes: int | None
    n_input_rows: int | None
    duration_s: float | None
    avg_tokens_per_word: float | None
    model_type: str | None = Field(
        default=None,
        description="An imported tokenizer's model, as the tokenizers library names it (BPE, "
        "WordPiece, Unigram, WordLevel); null for a trained one (its config says it).",
    )


class Artifact(ApiModel):
    path: str
    size_bytes: int
    sha256: str


class Job(ApiModel):
    id: str
    name: str
    template: str = Field(
        description=f"The training template's id, or `{IMPORTED_TEMPLATE}` for a tokenizer imported "
        "as a tokenizer.json (succeeded from the start, no datasets, no config)."
    )
    dataset_ids: list[str]
    config: TrainingConfig | None = Field(description="The resolved training config; null when imported.")
    status: JobStatus
    phase: JobPhase
    progress: float = Field(ge=0, le=1)
    error: str | None
    metrics: JobMetrics | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    artifact: Artifact | None


class LogLine(ApiModel):
    seq: int
    ts: str
    message: str


class LogPage(ApiModel):
    lines: list[LogLine]
    next: int = Field(description="The `after` of the following call.")


class TryResult(ApiModel):
    tokens: list[str]
    ids: list[int]
    decoded: str
    byte_level: bool = Field(
        description="True when the tokens are spelled with GPT-2's byte characters (a ByteLevel "
        "pre-tokenizer or decoder): a reader wants them shown as the text they stand for."
    )


class RuntimeFacts(ApiModel):
    version: str = Field(description="The runtime's version (the engine's own in development).")
    target: str | None = Field(description="linux-x64, macos-arm64 or windows-x64; null if unknown.")
    profile: Literal["base", "torch"] = Field(description="base: today's libraries; torch: base + torch.")
    accelerator: Literal["cpu", "cuda", "mps"] = Field(description="What the runtime was built for.")
    source: Literal["runtime", "development"] = Field(
        description="runtime: read from the runtime's manifest.json; development: no runtime."
    )


class PythonFacts(ApiModel):
    version: str
    implementation: str


class TorchFacts(ApiModel):
    version: str
    cuda: str | None = Field(description="The CUDA version torch was built for; null for CPU/MPS builds.")
    mps_built: bool


class DeviceCheck(ApiModel):
    ok: bool
    message: str | None = Field(description="Why the check failed, in one sentence; null when it passed.")
    seconds: float


class DeviceFacts(ApiModel):
    kind: Literal["cpu", "cuda", "mps"]
    name: str = Field(description="The GPU's name, 'Apple GPU (MPS)', or the CPU model.")
    check: DeviceCheck = Field(description="A small matrix multiplication on this device, just now.")


MACHINE_DESCRIPTION = (
    "The shell's machine probe (<data>/machine.json) as written, or null when the file is missing, "
    "over 64 KiB or not a JSON object. Every key is optional. Expected: "
    '{"probe": {"os": {"kind", "version"}, "arch", "emulated", "cpu": {"name", "level", "cores"}, '
    '"ram_bytes", "free_disk_bytes", "gpus": [{"vendor", "name", "driver_version", '
    '"compute_capability", "memory_bytes"}], "apple_silicon"}, '
    '"choice": {"variant", "device", "reason"}}.'
)


class SystemInfo(ApiModel):
    runtime: RuntimeFacts
    python: PythonFacts
    torch: TorchFacts | None = Field(description="null when this engine has no torch (the base profile).")
    device: DeviceFacts
    machine: dict[str, Any] | None = Field(description=MACHINE_DESCRIPTION)


class StoragePart(ApiModel):
    id: Literal["uploads", "tokenizers", "database", "logs", "cache", "engines"]
    label: str
    path: str = Field(description="The folder, absolute.")
    bytes: int = Field(description="Disk space it takes; a file hard-linked twice counts once.")
    files: int


class StorageInfo(ApiModel):
    data_dir: str = Field(description="The data folder, absolute: everything below is inside it.")
    free_bytes: int = Field(description="Free space on the disk holding the data folder.")
    total_bytes: int
    parts: list[StoragePart]


class ClearedCaches(ApiModel):
    freed_bytes: int = Field(
        description="Disk space given back: the blocks of the files removed (a file still "
        "hard-linked elsewhere frees nothing), as the storage figures count them."
    )
    removed_files: int = Field(description="Files and links removed; a link's target is never touched.")
    skipped: list[str] = Field(
        description="What was left and why, one sentence each: temp files younger than an hour "
        "(perhaps still being written), files that could not be removed. Empty when all went."
    )


class ComputeCheck(ApiModel):
    device: Literal["cpu", "cuda", "mps"]
    size: int = Field(description="The matrices' side (size × size, float32).")
    seconds: float = Field(description="Time of the measured multiplications.")
    gflops: float | None = Field(
        description="Billions of floating-point operations per second; null on failure."
    )
    ok: bool
    message: str | None = Field(description="Why the check failed, in one sentence; null when it passed.")


LOG_SOURCES_DESCRIPTION = (
    "shell: the desktop shell's shell.log; engine: engine.log, the supervisor's own lines and its "
    "copy of the engine's stdout and stderr; server: server.log, the engine's Python logging."
)


class AppLogLine(ApiModel):
    time: str | None = Field(
        description="UTC, RFC 3339 with milliseconds; null on a line its writer did not stamp "
        "(a traceback's in server.log)."
    )
    source: Literal["shell", "engine", "server"] = Field(description=LOG_SOURCES_DESCRIPTION)
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = Field(
        description="The level of a record, on its first line; null on the lines that belong to "
        "the record before them (a traceback's) and on the lines of writers without levels (the "
        "shell, the supervisor, the engine's stdout), which count as INFO when filtering."
    )
    text: str = Field(description="The line without its time, source and level; secrets redacted.")


class AppLogs(ApiModel):
    lines: list[AppLogLine] = Field(description="Oldest first, newest last.")
    truncated: bool = Field(
        description="Whether older lines may have been left out: beyond `limit` or the size of an "
        "answer, or in the part of a log that was not read (logs are read from their end)."
    )
    files: list[str] = Field(description="The files read, e.g. server.log.1, server.log.")


# --- errors ---------------------------------------------------------------------------------


class FieldProblem(ApiModel):
    field: str
    message: str


class ErrorBody(ApiModel):
    code: str = Field(description="snake_case, stable: what the caller can branch on.")
    message: str = Field(description="Plain words for a person: what went wrong, what to do next.")
    details: list[FieldProblem] | dict[str, int] | None = Field(
        default=None,
        description=(
            "On validation errors: one entry per bad field. On `disk_full` (507): "
            "`needed_bytes` (where known) and `free_bytes`."
        ),
    )


class ErrorResponse(ApiModel):
    error: ErrorBody


def _error_response(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


# Every route answers its errors in this one envelope; FastAPI's own 422 shape is never sent.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": _error_response(
        "A client error (401 without credentials, 403 wrong Host or Origin, 404, 409, 413, "
        "415, 422 invalid input)."
    ),
    "5XX": _error_response(
        "507 `disk_full`: the drive holding the data folder has no room (free up space, then try "
        "again); otherwise an unexpected error, the details are in the engine's log."
    ),
}
