"""The "inspect" job type: a corpus's statistics, and its token counts with a tokenizer.

The job runner (enginekit's `jobrunner`) does the rest: the queue, progress, cancelling, the
history, restart recovery and the disk checks. The result is one artifact, stats.json.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from inspector.catalog import Catalog
from inspector.corpus import CorpusError, read_documents
from inspector.paths import DataPaths
from inspector.stats import TextStats, TokenStats
from jobrunner import Artifact, JobContext, JobType, Outcome, Phase

NAME = "inspect"
RESULT = "stats.json"
PHASES = (
    Phase("reading", "Reading the corpus"),
    Phase("counting", "Counting words"),
    Phase("tokenizing", "Counting tokens"),
)
GENERIC_FAILURE = (
    "The inspection failed because of an unexpected error (the engine's log has the details); "
    "start it again, and if it fails again, check the file."
)
# Documents handed to the tokenizer at once: its batches run on all cores.
TOKENIZE_BATCH = 1000
# Progress is stored at most this often (each report is a database write).
REPORT_EVERY_S = 0.2


class InspectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset_id: str = Field(pattern=r"^ds_[0-9a-f]{16}$")
    tokenizer_id: str | None = Field(default=None, pattern=r"^tok_[0-9a-f]{16}$")
    # The .jsonl field or .csv column holding the text; None: the one found at upload.
    text_field: str | None = Field(default=None, min_length=1, max_length=200)


class InspectError(Exception):
    """A failure the user can act on; `message` is the job's error sentence."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _headline(exc: BaseException) -> str | None:
    if isinstance(exc, InspectError | CorpusError):
        return exc.message
    return None


class _Reporter:
    """Stores progress no more often than REPORT_EVERY_S, and checks for a cancel each time."""

    def __init__(self, context: JobContext) -> None:
        self.context = context
        self.last = 0.0

    def __call__(self, phase: str, fraction: float, force: bool = False) -> None:
        self.context.raise_if_cancelled()
        now = time.monotonic()
        if force or now - self.last >= REPORT_EVERY_S:
            self.last = now
            self.context.progress(phase, fraction)


def inspect_job_type(catalog: Catalog, paths: DataPaths) -> JobType:
    def run(context: JobContext, config: InspectConfig) -> Outcome:
        dataset = catalog.dataset(config.dataset_id)
        if dataset is None:
            raise InspectError("The corpus was removed before the inspection started; add it again.")
        tokenizer = None
        if config.tokenizer_id is not None:
            tokenizer = catalog.tokenizer(config.tokenizer_id)
            if tokenizer is None:
                raise InspectError("The tokenizer was removed before the inspection started; add it again.")
        result = inspect(context, paths, dataset, tokenizer, config.text_field or dataset["text_field"])
        with context.artifact_path(RESULT).open("w", encoding="utf-8") as out:
            json.dump(result, out, ensure_ascii=False, indent=1)
        tokens = result["tokens"]
        metrics = {
            "documents": result["documents"],
            "words": result["words"],
            "tokens": tokens["total"] if tokens else None,
        }
        return Outcome(metrics, f"Inspected {result['documents']:,} documents.")

    return JobType(
        name=NAME,
        config_schema=InspectConfig,
        phases=PHASES,
        artifacts=(Artifact(RESULT, "application/json"),),
        run=run,
        # stats.json holds a few hundred numbers and words; a word may be long, so room for them.
        expected_bytes=lambda _config: 1_000_000,
        output_words="the inspection's results",
        headline=_headline,
        generic_failure=GENERIC_FAILURE,
    )


def inspect(
    context: JobContext,
    paths: DataPaths,
    dataset: dict[str, Any],
    tokenizer: dict[str, Any] | None,
    text_field: str | None,
) -> dict[str, Any]:
    path = paths.datasets / f"{dataset['id']}.{dataset['format']}"
    size = max(1, os.path.getsize(path))
    fmt = dataset["format"]
    # The share of the progress bar each pass gets: tokenizing takes about as long as reading.
    reading_share = 0.45 if tokenizer else 0.9
    report = _Reporter(context)

    context.log(f"Reading {dataset['name']}" + (f' (text in "{text_field}")' if text_field else "") + ".")
    stats = TextStats(every_line_counts=fmt == "txt")
    for text, position in read_documents(path, fmt, text_field):
        stats.add(text)
        report("reading", reading_share * position / size)
    report("counting", reading_share, force=True)
    if stats.documents == 0:
        if text_field is None:
            raise InspectError("The file holds only blank lines; choose a file with some text in it.")
        where = f'"{text_field}" field' if fmt == "jsonl" else f'"{text_field}" column'
        raise InspectError(f"The {where} is empty in every record; choose the one that holds the text.")
    result = {
        "dataset": {
            "id": dataset["id"],
            "name": dataset["name"],
            "format": fmt,
            "size_bytes": dataset["size_bytes"],
            "text_field": text_field,
        },
        "tokenizer": None,
        **stats.result(),
        "tokens": None,
    }
    context.log(f"{stats.documents:,} documents, {stats.words:,} words.")
    if tokenizer is not None:
        report("tokenizing", reading_share + 0.05, force=True)
        result["tokenizer"] = {
            "id": tokenizer["id"],
            "name": tokenizer["name"],
            "model": tokenizer["model"],
            "vocab_size": tokenizer["vocab_size"],
        }
        result["tokens"] = _count_tokens(report, paths, path, fmt, text_field, tokenizer, stats, size)
        context.log(f"{result['tokens']['total']:,} tokens.")
    return result


def _count_tokens(
    report: _Reporter,
    paths: DataPaths,
    path: Path,
    fmt: str,
    text_field: str | None,
    tokenizer: dict[str, Any],
    stats: TextStats,
    size: int,
) -> dict[str, Any]:
    # Imported here: only an inspection with a tokenizer needs the library.
    from tokenizers import Tokenizer

    loaded = Tokenizer.from_file(str(paths.tokenizers / f"{tokenizer['id']}.json"))
    unk = tokenizer["unk_token"]
    counter = TokenStats(loaded.token_to_id(unk) if unk is not None else None)
    start = 0.5
    batch: list[str] = []

    def encode() -> None:
        try:
            encodings = loaded.encode_batch(batch, add_special_tokens=False)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            # A panic inside the Rust library is a BaseException, which would stop the job
            # runner's worker; as an ordinary failure it only fails this inspection.
            raise InspectError(
                "The tokenizer failed on this corpus (the engine's log has the details); try "
                "another tokenizer, or inspect the corpus without one."
            ) from exc
        counter.add(e.ids for e in encodings)
        batch.clear()

    for text, position in read_documents(path, fmt, text_field):
        if text.strip():
            batch.append(text)
        if len(batch) >= TOKENIZE_BATCH:
            encode()
        report("tokenizing", start + (0.99 - start) * position / size)
    if batch:
        encode()
    return counter.result(loaded.id_to_token, stats.words, stats.characters, unk)
