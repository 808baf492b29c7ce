"""Background training: one worker thread takes queued jobs, reports progress and logs to SQLite.

A job failing only marks that job failed; the worker catches everything and moves on.
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


class JobManager:
    def __init__(self, db: Database, paths: DataPaths) -> None:
        self.db = db
        self.paths = paths
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.cancel_events: dict[str, threading.Event] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        stale = self.db.interrupt_active_jobs(
            "Interrupted: the app stopped before this job finished. Start a new job to retry."
        )
        if stale:
            log.warning("marked %d job(s) from a previous run as interrupted", len(stale))
        self.thread = threading.Thread(target=self._run, name="job-worker", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """Stops the worker; queued and running jobs become `interrupted`. True if it ended."""
        self.stopping.set()
        with self.lock:
            for event in self.cancel_events.values():
                event.set()
        self.db.interrupt_active_jobs(STOP_REASON)
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
        self.db.log(job_id, "Queued.")
        self.queue.put(job_id)

    def cancel(self, job_id: str) -> bool:
        """Marks the job cancelled now; a running training stops at its next batch of text."""
        changed = self.db.update_job(
            job_id,
            only_if_status=ACTIVE_STATUSES,
            status=JobStatus.CANCELLED,
            finished_at=utc_now(),
        )
        if changed:
            self.db.log(job_id, "Cancelled by the user.")
            with self.lock:
                event = self.cancel_events.get(job_id)
            if event is not None:
                event.set()
        return changed

    # --- worker -------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self.stopping.is_set():
            job_id = self.queue.get()
            if job_id is None or self.stopping.is_set():
                return
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
        if not self.db.update_job(
            job_id,
            only_if_status=(JobStatus.QUEUED,),
            status=JobStatus.RUNNING,
            phase=JobPhase.READING,
            started_at=utc_now(),
        ):
            return  # cancelled while queued
        job = self.db.get_job(job_id)
        config = job["config"]
        out_dir = self.paths.job_artifacts(job_id)
        try:
            sources = self._sources(job)
            total = sum(s.size_bytes for s in sources)
            self.db.log(
                job_id,
                f"Reading {len(sources)} dataset(s), {total:,} bytes; model {config['model']}, "
                f"vocab size {config['vocab_size']:,}.",
            )
            tok, stream, sample = self._train(job_id, config, sources, cancel_event)
            if self.stopping.is_set():
                return
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
            done = self.db.update_job(
                job_id,
                only_if_status=ONLY_RUNNING,
                status=JobStatus.SUCCEEDED,
                phase=JobPhase.DONE,
                progress=1.0,
                metrics=metrics,
                artifact=artifact,
                finished_at=utc_now(),
            )
            if not done:
                # Cancelled or interrupted while saving: the result must not outlive the job.
                shutil.rmtree(out_dir, ignore_errors=True)
                return
            self.db.log(
                job_id,
                f"Done in {metrics['duration_s']:.1f} s: {metrics['vocab_size']:,} tokens, "
                f"tokenizer.json {artifact['size_bytes']:,} bytes.",
            )
        except Exception as exc:
            shutil.rmtree(out_dir, ignore_errors=True)
            from tokenizer import TrainingCancelled

            if isinstance(exc, TrainingCancelled):
                if not self.stopping.is_set():
                    self.db.update_job(
                        job_id,
                        only_if_status=ONLY_RUNNING,
                        status=JobStatus.CANCELLED,
                        finished_at=utc_now(),
                    )
                return
            log.exception("job %s failed", job_id)
            if isinstance(exc, OSError):
                reason = f"a dataset file could not be read ({exc.strerror or exc})"
            else:
                reason = str(exc) or type(exc).__name__
            message = f"Training failed: {reason}. Check the dataset and the settings, then start a new job."
            if self.db.update_job(
                job_id,
                only_if_status=ONLY_RUNNING,
                status=JobStatus.FAILED,
                error=message,
                finished_at=utc_now(),
            ):
                self.db.log(job_id, message)

    def _sources(self, job: dict[str, Any]) -> list[Source]:
        from app.corpus import Source

        sources = []
        for dataset_id in job["dataset_ids"]:
            ds = self.db.get_dataset(dataset_id)
            if ds is None:
                raise RuntimeError(f"dataset {dataset_id} no longer exists")
            column = None
            if ds["format"] != "txt":
                column = job["config"].get("text_column") or ds["text_column"]
            sources.append(
                Source(self.paths.uploads / ds["stored_name"], ds["format"], column, ds["size_bytes"])
            )
        return sources

    def _train(self, job_id: str, config: dict, sources: list[Source], cancel_event: threading.Event):
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
            should_cancel=lambda: cancel_event.is_set() or self.stopping.is_set(),
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


def _avg_tokens_per_word(tok, sample: list[str]) -> float | None:
    words = sum(len(t.split()) for t in sample)
    if not words:
        return None
    encodings = tok.encode_batch(sample, add_special_tokens=False)
    return round(sum(len(e.ids) for e in encodings) / words, 4)
