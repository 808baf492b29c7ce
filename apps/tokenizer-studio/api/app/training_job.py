"""Tokenizer training as a `jobrunner` job type: read the datasets, train, save tokenizer.json
and its config.json. The runner does the rest (queue, cancel, progress writes, history, disk
checks, failure sentences); this module says what training reports and how its failures read.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any

from pydantic import BaseModel

from app.corpus import CorpusStream, Source
from app.db import Database
from app.errors import ApiError
from app.models import TrainingConfig
from app.paths import DataPaths, make_private_file
from jobrunner import Artifact, Cancelled, JobContext, JobType, Outcome, Phase
from tokenizer import PHASE_TRAINING, TrainingCancelled, train
from tokenizer.train import artifact_size_bound

NAME = "train-tokenizer"
# Share of the progress bar for each phase: reading is the part we can measure in bytes.
READING_SHARE = 0.9
SAVING_PROGRESS = 0.97
METRIC_SAMPLE_TEXTS = 200
PHASES = (
    Phase("reading", "Reading the datasets"),
    Phase("training", "Training the tokenizer"),
    Phase("saving", "Saving the tokenizer"),
)
# The first is the job's artifact in the API (download, try, export).
ARTIFACTS = (
    Artifact("tokenizer.json", "application/json; tokenizer"),
    Artifact("config.json", "application/json; training-config"),
)
UNREADABLE_FILE = (
    "Training failed: a dataset file could not be read; it may have been moved, deleted or "
    "damaged. Upload it again, then start a new job."
)
UNEXPECTED_FAILURE = (
    "Training failed because of an unexpected error (the job log has the details); check the "
    "dataset and the settings, then start a new job."
)


class TrainingJob(BaseModel):
    """A stored training job as its run needs it: the settings, datasets, name and template."""

    name: str
    template: str
    dataset_ids: list[str]
    config: TrainingConfig


class _DatasetGone(Exception):
    pass


class _NoText(Exception):
    def __init__(self, column: str | None) -> None:
        super().__init__(f"no text read from column {column!r}")
        self.column = column


def training_job_type(db: Database, paths: DataPaths) -> JobType:
    """The job type, reading datasets from `paths.uploads` as `db` describes them."""

    def run(context: JobContext, job: TrainingJob) -> Outcome:
        started = time.monotonic()
        config = job.config.model_dump()
        sources = _sources(db, paths, job, config)
        total = sum(s.size_bytes for s in sources)
        context.log(
            f"Reading {len(sources)} dataset(s), {total:,} bytes; model {config['model']}, "
            f"vocab size {config['vocab_size']:,}."
        )
        stream = CorpusStream(sources)
        sample: list[str] = []
        tok = _train(context, config, stream, sample)
        if stream.rows == 0:
            raise _NoText(next((s.column for s in sources if s.column), None))
        context.progress("saving", SAVING_PROGRESS)
        context.raise_if_cancelled()
        size = _save(db, context, job, config, tok)
        metrics = {
            "vocab_size": tok.get_vocab_size(),
            "n_input_bytes": total,
            "n_input_rows": stream.rows,
            "duration_s": round(time.monotonic() - started, 3),
            "avg_tokens_per_word": _avg_tokens_per_word(tok, sample),
        }
        return Outcome(
            metrics,
            f"Done in {metrics['duration_s']:.1f} s: {metrics['vocab_size']:,} tokens, "
            f"tokenizer.json {size:,} bytes.",
        )

    return JobType(
        name=NAME,
        config_schema=TrainingJob,
        phases=PHASES,
        artifacts=ARTIFACTS,
        run=run,
        expected_bytes=lambda job: artifact_size_bound(job.config.model_dump()),
        output_words="the tokenizer",
        headline=headline,
        generic_failure=UNEXPECTED_FAILURE,
    )


def headline(exc: BaseException) -> str | None:
    """The sentence for a training failure, saying what to do next; None for one it does not
    know (the job type's generic sentence then)."""
    if isinstance(exc, _DatasetGone):
        return "Training failed: a dataset of this job was deleted; upload it again, then start a new job."
    if isinstance(exc, _NoText) or _is_column_type_error(exc):
        column = exc.column if isinstance(exc, _NoText) else None
        named = f" {column!r}" if column else ""
        return (
            f"The file has no text column{named}: the column chosen for training holds no "
            "text. Choose a column with text for the dataset (or upload the file with its "
            "text in a column named 'text'), then start a new job."
        )
    if isinstance(exc, ApiError):
        # The dataset readers' own sentences, which already say what to do.
        return f"Training failed: {exc.message[:1].lower()}{exc.message[1:]}"
    if isinstance(exc, (OSError, UnicodeError)) or _is_unreadable_arrow(exc):
        return UNREADABLE_FILE
    return None


def _sources(db: Database, paths: DataPaths, job: TrainingJob, config: dict[str, Any]) -> list[Source]:
    sources = []
    for dataset_id in job.dataset_ids:
        ds = db.get_dataset(dataset_id)
        if ds is None:
            raise _DatasetGone(f"dataset {dataset_id} no longer exists")
        column = None
        if ds["format"] != "txt":
            column = config.get("text_column") or ds["text_column"]
        sources.append(Source(paths.uploads / ds["stored_name"], ds["format"], column, ds["size_bytes"]))
    return sources


def _train(context: JobContext, config: dict, stream: CorpusStream, sample: list[str]):
    def sampled():
        for text in stream:
            if len(sample) < METRIC_SAMPLE_TEXTS:
                sample.append(text)
            yield text

    next_log = [0.25]

    def progress(phase: str, fraction: float) -> None:
        # Runs inside the Rust trainer's iteration; the context's writes never raise a full
        # disk into it (they ask the job to stop instead).
        if phase == PHASE_TRAINING:
            context.progress("training", READING_SHARE)
            context.log(f"Read {stream.rows:,} rows; computing the vocabulary.")
            return
        context.progress("reading", READING_SHARE * fraction)
        while fraction >= next_log[0] and next_log[0] < 1:
            context.log(f"Read {int(next_log[0] * 100)}% of the input.")
            next_log[0] += 0.25

    texts = _Texts(sampled(), stream.consumed_fraction)
    try:
        return train(texts, config, progress=progress, should_cancel=lambda: context.cancelled)
    except TrainingCancelled as exc:
        raise Cancelled(str(exc)) from exc


def _save(db: Database, context: JobContext, job: TrainingJob, config: dict, tok) -> int:
    """Writes tokenizer.json and config.json (each through a temp file); returns the
    tokenizer's size in bytes."""
    tok_path = context.artifact_path("tokenizer.json")
    tmp = tok_path.with_name("tokenizer.json.tmp")
    tok.save(str(tmp), pretty=True)
    make_private_file(tmp)
    os.replace(tmp, tok_path)
    data = tok_path.read_bytes()
    datasets = [db.get_dataset(d) for d in job.dataset_ids]
    config_doc = {
        "job_id": context.job_id,
        "name": job.name,
        "template": job.template,
        "config": config,
        "datasets": [{"id": d["id"], "name": d["name"], "sha256": d["sha256"]} for d in datasets if d],
        "tokenizer_sha256": hashlib.sha256(data).hexdigest(),
    }
    cfg_path = context.artifact_path("config.json")
    cfg_tmp = cfg_path.with_name("config.json.tmp")
    cfg_tmp.write_text(json.dumps(config_doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    make_private_file(cfg_tmp)
    os.replace(cfg_tmp, cfg_path)
    return len(data)


class _Texts:
    """An iterable of texts that also tells the trainer how much of the input it has read."""

    def __init__(self, iterator, fraction) -> None:
        self._iterator = iterator
        self.consumed_fraction = fraction

    def __iter__(self):
        return self._iterator


def _is_column_type_error(exc: BaseException) -> bool:
    # pyarrow's string kernels refuse a numeric or binary column chosen as the text column.
    return type(exc).__module__.startswith("pyarrow") and type(exc).__name__ in (
        "ArrowNotImplementedError",
        "ArrowTypeError",
    )


def _is_unreadable_arrow(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("pyarrow") and type(exc).__name__ in (
        "ArrowInvalid",
        "ArrowIOError",
        "ArrowException",
    )


def _avg_tokens_per_word(tok, sample: list[str]) -> float | None:
    words = sum(len(t.split()) for t in sample)
    if not words:
        return None
    encodings = tok.encode_batch(sample, add_special_tokens=False)
    return round(sum(len(e.ids) for e in encodings) / words, 4)
