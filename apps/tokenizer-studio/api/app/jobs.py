"""Background training: one worker thread takes queued jobs, reports progress and logs to SQLite.

A job failing only marks that job failed; the worker catches everything and moves on. A full disk
fails the job with "The disk is full: …"; when even that status cannot be saved, it is kept in
memory and written as soon as the database takes writes again (a restart marks it interrupted).
`tokenizer` (and with it the `tokenizers` extension) and the dataset readers are imported on the
first job, not at startup.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import shutil
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.db import Database, utc_now
from app.errors import ApiError, DiskFull, ensure_free_space, is_disk_full
from app.job_states import ACTIVE_STATUSES, JobPhase, JobStatus
from app.paths import PRIVATE_DIR_MODE, DataPaths, make_private_dir, make_private_file

if TYPE_CHECKING:
    from app.corpus import Source

log = logging.getLogger("tokenizer_studio.jobs")

# Share of the progress bar for each phase: reading is the part we can measure in bytes.
READING_SHARE = 0.9
SAVING_PROGRESS = 0.97
METRIC_SAMPLE_TEXTS = 200
# Worker writes are guarded by this: a cancel or an interrupt must not be overwritten.
ONLY_RUNNING = (JobStatus.RUNNING,)
STOP_REASON = "Interrupted: the server stopped while this job was queued or running."
CRASH_REASON = "Interrupted: the app stopped before this job finished. Start a new job to retry."
# How often a final job status that found the disk full is tried again.
RETRY_UNSAVED_S = 1.0
UNREADABLE_FILE = (
    "Training failed: a dataset file could not be read; it may have been moved, deleted or "
    "damaged. Upload it again, then start a new job."
)
UNEXPECTED_FAILURE = (
    "Training failed because of an unexpected error (the job log has the details); check the "
    "dataset and the settings, then start a new job."
)


class _DatasetGone(Exception):
    pass


class _NoText(Exception):
    def __init__(self, column: str | None) -> None:
        super().__init__(f"no text read from column {column!r}")
        self.column = column


class JobManager:
    def __init__(self, db: Database, paths: DataPaths) -> None:
        self.db = db
        self.paths = paths
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.cancel_events: dict[str, threading.Event] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        # Final job writes that found the disk full: job id → (only-if statuses, fields, logs).
        self._unsaved: dict[str, tuple[tuple[JobStatus, ...], dict[str, Any], list[str]]] = {}

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        # Jobs a previous run left active: marked through the retried writes, so a disk that is
        # full at start-up still gets them marked once it has room.
        stale = self.db.query(
            f"SELECT id FROM jobs WHERE status IN ({', '.join('?' for _ in ACTIVE_STATUSES)})",
            ACTIVE_STATUSES,
        )
        for row in stale:
            fields = {"status": JobStatus.INTERRUPTED, "error": CRASH_REASON, "finished_at": utc_now()}
            self._finish(row["id"], ACTIVE_STATUSES, fields, [CRASH_REASON])
            # A run that stopped while saving leaves a partial folder; an interrupted job has none.
            shutil.rmtree(self.paths.job_artifacts(row["id"]), ignore_errors=True)
        if stale:
            log.warning("marked %d job(s) from a previous run as interrupted", len(stale))
        # Only active rows are stale: an imported tokenizer is `succeeded` from its first write,
        # so it is never touched here. An import the stop cut short left only its temp file in
        # the tokenizers folder (its folder and row come after the file is complete).
        for partial in self.paths.artifacts.glob(".incoming-*.part"):
            partial.unlink(missing_ok=True)
        self.thread = threading.Thread(target=self._run, name="job-worker", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """Stops the worker; queued and running jobs become `interrupted`. True if it ended."""
        self.stopping.set()
        with self.lock:
            for event in self.cancel_events.values():
                event.set()
        self._save_unsaved()
        try:
            self.db.interrupt_active_jobs(STOP_REASON)
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            log.warning("the disk is full: active jobs are marked interrupted at the next start")
        self.queue.put(None)
        if self.thread is None:
            return True
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def is_busy(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    # --- requests from the API ----------------------------------------------------------------

    def submit(self, job_id: str) -> None:
        with self.lock:
            self.cancel_events[job_id] = threading.Event()
        try:
            self.db.log(job_id, "Queued.")
        except Exception as exc:
            # The job row is saved: queue it anyway, so it ends (failed, saying the disk is
            # full) instead of staying queued forever.
            if not is_disk_full(exc):
                raise
            log.warning("job %s: the disk is full; queued without its first log line", job_id)
        self.queue.put(job_id)

    def cancel(self, job_id: str) -> bool:
        """Marks the job cancelled now; a running training stops at its next batch of text."""
        changed = self.db.finish_job(
            job_id,
            ACTIVE_STATUSES,
            {"status": JobStatus.CANCELLED, "finished_at": utc_now()},
            ["Cancelled by the user."],
        )
        if changed:
            with self.lock:
                event = self.cancel_events.get(job_id)
            if event is not None:
                event.set()
        return changed

    # --- worker -------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                job_id = self.queue.get(timeout=RETRY_UNSAVED_S if self._unsaved else None)
            except queue.Empty:
                self._save_unsaved()
                continue
            if job_id is None or self.stopping.is_set():
                return
            self._save_unsaved()
            try:
                self._run_job(job_id)
            except Exception:  # the worker must survive any single job
                log.exception("job %s crashed the worker step", job_id)
            finally:
                with self.lock:
                    self.cancel_events.pop(job_id, None)

    def _run_job(self, job_id: str) -> None:
        with self.lock:
            cancel_event = self.cancel_events.get(job_id) or threading.Event()
        started = time.monotonic()
        try:
            running = self.db.update_job(
                job_id,
                only_if_status=(JobStatus.QUEUED,),
                status=JobStatus.RUNNING,
                phase=JobPhase.READING,
                started_at=utc_now(),
            )
        except Exception as exc:
            self._fail(job_id, exc, only_if_status=(JobStatus.QUEUED,))
            return
        if not running:
            return  # cancelled while queued
        out_dir = self.paths.job_artifacts(job_id)
        # A progress write that found the disk full: training stops at its next batch.
        disk_full: list[BaseException] = []
        try:
            from tokenizer.train import artifact_size_bound

            job = self.db.get_job(job_id)
            config = job["config"]
            sources = self._sources(job)
            total = sum(s.size_bytes for s in sources)
            ensure_free_space(
                self.paths.artifacts,
                artifact_size_bound(config),
                "the tokenizer",
                self.paths.root,
                next_step="start a new job",
            )
            self.db.log(
                job_id,
                f"Reading {len(sources)} dataset(s), {total:,} bytes; model {config['model']}, "
                f"vocab size {config['vocab_size']:,}.",
            )
            tok, stream, sample = self._train(job_id, config, sources, cancel_event, disk_full)
            if self.stopping.is_set():
                return
            if stream.rows == 0:
                raise _NoText(next((s.column for s in sources if s.column), None))
            self.db.update_job(
                job_id, only_if_status=ONLY_RUNNING, phase=JobPhase.SAVING, progress=SAVING_PROGRESS
            )
            artifact = self._save(job, tok, out_dir)
            metrics = {
                "vocab_size": tok.get_vocab_size(),
                "n_input_bytes": total,
                "n_input_rows": stream.rows,
                "duration_s": round(time.monotonic() - started, 3),
                "avg_tokens_per_word": _avg_tokens_per_word(tok, sample),
            }
            done_message = (
                f"Done in {metrics['duration_s']:.1f} s: {metrics['vocab_size']:,} tokens, "
                f"tokenizer.json {artifact['size_bytes']:,} bytes."
            )
            done = self.db.finish_job(
                job_id,
                ONLY_RUNNING,
                {
                    "status": JobStatus.SUCCEEDED,
                    "phase": JobPhase.DONE,
                    "progress": 1.0,
                    "metrics": json.dumps(metrics),
                    "artifact": json.dumps(artifact),
                    "finished_at": utc_now(),
                },
                [done_message],
            )
            if not done:
                # Cancelled or interrupted while saving: the result must not outlive the job.
                shutil.rmtree(out_dir, ignore_errors=True)
        except Exception as exc:
            shutil.rmtree(out_dir, ignore_errors=True)
            from tokenizer import TrainingCancelled

            if isinstance(exc, TrainingCancelled) and disk_full:
                exc = disk_full[0]
            elif isinstance(exc, TrainingCancelled):
                if not self.stopping.is_set():
                    self._finish(
                        job_id,
                        ONLY_RUNNING,
                        {"status": JobStatus.CANCELLED, "finished_at": utc_now()},
                        [],
                    )
                return
            self._fail(job_id, exc)

    def _fail(
        self, job_id: str, exc: BaseException, only_if_status: tuple[JobStatus, ...] = ONLY_RUNNING
    ) -> None:
        """Marks the job failed with a sentence that says what to do; the technical error goes
        to the job log and the engine log."""
        headline = self._headline(exc)
        if is_disk_full(exc):
            log.warning("job %s: the disk is full: %s", job_id, exc)
        else:
            log.error("job %s failed", job_id, exc_info=exc)
        technical = f"Error: {_technical(exc)}"
        fields = {"status": JobStatus.FAILED, "error": headline, "finished_at": utc_now()}
        self._finish(job_id, only_if_status, fields, [technical, headline])

    def _headline(self, exc: BaseException) -> str:
        if isinstance(exc, DiskFull):
            return exc.message
        if is_disk_full(exc):
            return DiskFull(self.paths.root, "this job's results", next_step="start a new job").message
        if isinstance(exc, _DatasetGone):
            return (
                "Training failed: a dataset of this job was deleted; upload it again, then start a new job."
            )
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
        return UNEXPECTED_FAILURE

    def _finish(
        self,
        job_id: str,
        only_if_status: tuple[JobStatus, ...],
        fields: dict[str, Any],
        messages: list[str],
    ) -> None:
        """Writes a job's final state; on a full disk keeps it to write later."""
        try:
            self.db.finish_job(job_id, only_if_status, fields, messages)
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            log.warning("job %s: the disk is full; its final status is saved once there is room", job_id)
            with self.lock:
                self._unsaved[job_id] = (only_if_status, fields, messages)

    def _save_unsaved(self) -> None:
        with self.lock:
            pending = list(self._unsaved.items())
        for job_id, (only_if_status, fields, messages) in pending:
            try:
                self.db.finish_job(job_id, only_if_status, fields, messages)
            except Exception as exc:
                if is_disk_full(exc):
                    return  # still full: the worker tries again
                log.exception("job %s: could not save its final status", job_id)
            with self.lock:
                self._unsaved.pop(job_id, None)

    def _sources(self, job: dict[str, Any]) -> list[Source]:
        from app.corpus import Source

        sources = []
        for dataset_id in job["dataset_ids"]:
            ds = self.db.get_dataset(dataset_id)
            if ds is None:
                raise _DatasetGone(f"dataset {dataset_id} no longer exists")
            column = None
            if ds["format"] != "txt":
                column = job["config"].get("text_column") or ds["text_column"]
            sources.append(
                Source(self.paths.uploads / ds["stored_name"], ds["format"], column, ds["size_bytes"])
            )
        return sources

    def _train(
        self,
        job_id: str,
        config: dict,
        sources: list[Source],
        cancel_event: threading.Event,
        disk_full: list[BaseException],
    ):
        from app.corpus import CorpusStream
        from tokenizer import PHASE_TRAINING, train

        stream = CorpusStream(sources)
        sample: list[str] = []

        def sampled():
            for text in stream:
                if len(sample) < METRIC_SAMPLE_TEXTS:
                    sample.append(text)
                yield text

        next_log = [0.25]

        def progress(phase: str, fraction: float) -> None:
            # Runs inside the Rust trainer's iteration, where an exception is not reliably
            # passed on: a full disk is recorded and stops the training instead.
            if disk_full:
                return
            try:
                report(phase, fraction)
            except Exception as exc:
                if not is_disk_full(exc):
                    raise
                disk_full.append(exc)

        def report(phase: str, fraction: float) -> None:
            if phase == PHASE_TRAINING:
                self.db.update_job(
                    job_id,
                    only_if_status=ONLY_RUNNING,
                    phase=JobPhase.TRAINING,
                    progress=READING_SHARE,
                )
                self.db.log(job_id, f"Read {stream.rows:,} rows; computing the vocabulary.")
                return
            self.db.update_job(
                job_id, only_if_status=ONLY_RUNNING, progress=round(READING_SHARE * fraction, 4)
            )
            while fraction >= next_log[0] and next_log[0] < 1:
                self.db.log(job_id, f"Read {int(next_log[0] * 100)}% of the input.")
                next_log[0] += 0.25

        texts = _Texts(sampled(), stream.consumed_fraction)
        tok = train(
            texts,
            config,
            progress=progress,
            should_cancel=lambda: cancel_event.is_set() or self.stopping.is_set() or bool(disk_full),
        )
        return tok, stream, sample

    def _save(self, job: dict[str, Any], tok, out_dir: Path) -> dict[str, Any]:
        out_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        make_private_dir(out_dir)
        tok_path = out_dir / "tokenizer.json"
        tmp = out_dir / "tokenizer.json.tmp"
        tok.save(str(tmp), pretty=True)
        make_private_file(tmp)
        os.replace(tmp, tok_path)
        data = tok_path.read_bytes()
        datasets = [self.db.get_dataset(d) for d in job["dataset_ids"]]
        config_doc = {
            "job_id": job["id"],
            "name": job["name"],
            "template": job["template"],
            "config": job["config"],
            "datasets": [{"id": d["id"], "name": d["name"], "sha256": d["sha256"]} for d in datasets if d],
            "tokenizer_sha256": hashlib.sha256(data).hexdigest(),
        }
        cfg_tmp = out_dir / "config.json.tmp"
        cfg_tmp.write_text(json.dumps(config_doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        make_private_file(cfg_tmp)
        os.replace(cfg_tmp, out_dir / "config.json")
        return {
            "path": f"artifacts/tokenizers/{job['id']}/tokenizer.json",
            "size_bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }


class _Texts:
    """An iterable of texts that also tells the trainer how much of the input it has read."""

    def __init__(self, iterator, fraction) -> None:
        self._iterator = iterator
        self.consumed_fraction = fraction

    def __iter__(self):
        return self._iterator


def _technical(exc: BaseException) -> str:
    """What happened, for a developer reading the job log or a diagnostics zip: the exception's
    public class name (FileNotFoundError, ArrowInvalid, ...) and message. The engine's own
    private classes (`_NoText`, ...) are names of this module, not of anything a reader can look
    up: their message alone says what happened."""
    if isinstance(exc, DiskFull):
        return f"not enough free space for the tokenizer: {exc.details}"
    name = type(exc).__name__
    message = str(exc)
    if name.startswith("_"):
        return message or "the training stopped without a message"
    return f"{name}: {message}" if message else name


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
