"""The runner: one worker thread takes queued jobs in order and runs them by their job type.

A job failing only marks that job failed; the worker catches everything and moves on. A full
disk fails the job with "The disk is full: …"; when even that status cannot be saved, it is kept
in memory and written as soon as the store takes writes again (a restart marks it interrupted).
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jobrunner.contract import GENERIC_FAILURE, Cancelled, JobContext, JobType
from jobrunner.disk import DiskFull, disk_full_sentence, ensure_free_space, is_disk_full
from jobrunner.states import ACTIVE_STATUSES, JobStatus
from jobrunner.store import ArtifactRecord, Ending, JobStore, utc_now

# Worker writes are guarded by this: a cancel or an interrupt must not be overwritten.
ONLY_RUNNING = (JobStatus.RUNNING,)
STOP_REASON = "Interrupted: the server stopped while this job was queued or running."
CRASH_REASON = "Interrupted: the app stopped before this job finished. Start a new job to retry."
CANCELLED_MESSAGE = "Cancelled by the user."
# How often a final job status that found the disk full is tried again.
RETRY_UNSAVED_S = 1.0
NEXT_STEP = "start a new job"
PRIVATE_DIR_MODE = 0o700


# What stops the process rather than fails a job. Anything else a job raises only fails that
# job: a panic inside a native extension too (pyo3, which `tokenizers` is built with, raises
# PanicException, a BaseException), which would otherwise end the worker thread and leave every
# later job queued forever.
PROCESS_EXITS = (KeyboardInterrupt, SystemExit, GeneratorExit)


class _UnknownJobType(Exception):
    pass


class _MissingArtifact(Exception):
    pass


class JobRunner:
    """Queues, runs, cancels and records jobs of the registered types.

    `job_dir(job_id)` is the folder a job's artifacts go to, inside `artifacts_root` (whose
    drive the free-space check measures); `data_root` is the folder the disk-full sentence names.
    """

    def __init__(
        self,
        store: JobStore,
        artifacts_root: Path,
        job_dir: Callable[[str], Path] | None = None,
        data_root: Path | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.store = store
        self.artifacts_root = artifacts_root
        self.job_dir = job_dir or (lambda job_id: artifacts_root / job_id)
        self.data_root = data_root or artifacts_root
        self.log = log or logging.getLogger("jobrunner")
        self.job_types: dict[str, JobType] = {}
        self._loaders: dict[str, Callable[[], JobType]] = {}
        self.queue: queue.Queue[str | None] = queue.Queue()
        # Jobs submitted and not yet done with: a cancelled one stays here until its run stops.
        self.cancel_events: dict[str, threading.Event] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        # Final job writes that found the disk full: job id → (only-if statuses, ending).
        self._unsaved: dict[str, tuple[tuple[JobStatus, ...], Ending]] = {}

    # --- job types ----------------------------------------------------------------------------

    def register(self, job_type: JobType) -> None:
        self._check_new(job_type.name)
        self.job_types[job_type.name] = job_type

    def register_loader(self, name: str, load: Callable[[], JobType]) -> None:
        """A job type loaded on its first job: its module (and what it imports) stays out of
        the app's start-up."""
        self._check_new(name)
        self._loaders[name] = load

    def job_type(self, name: str) -> JobType:
        with self.lock:
            if name not in self.job_types and name in self._loaders:
                loaded = self._loaders.pop(name)()
                if loaded.name != name:
                    raise ValueError(f"the loader of job type {name!r} gave {loaded.name!r}")
                self.job_types[name] = loaded
            found = self.job_types.get(name)
        if found is None:
            raise _UnknownJobType(f"no job type {name!r} is registered")
        return found

    def _check_new(self, name: str) -> None:
        if name in self.job_types or name in self._loaders:
            raise ValueError(f"job type {name!r} is registered already")

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Marks the jobs a previous run left queued or running interrupted, then starts the
        worker."""
        # Through the retried writes: a disk that is full at start-up still gets them marked
        # once it has room.
        _make_private_dir(self.artifacts_root)
        stale = self.store.active_job_ids()
        for job_id in stale:
            ending = Ending(JobStatus.INTERRUPTED, utc_now(), error=CRASH_REASON, messages=(CRASH_REASON,))
            self._finish(job_id, ACTIVE_STATUSES, ending)
            # A run that stopped while saving leaves a partial folder; an interrupted job has none.
            shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
        if stale:
            self.log.warning("marked %d job(s) from a previous run as interrupted", len(stale))
        self.thread = threading.Thread(target=self._work, name="job-worker", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """Stops the worker; queued and running jobs become `interrupted`. True if it ended."""
        self.stopping.set()
        with self.lock:
            for event in self.cancel_events.values():
                event.set()
        self._save_unsaved()
        try:
            self.store.interrupt_active(STOP_REASON)
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            self.log.warning("the disk is full: active jobs are marked interrupted at the next start")
        self.queue.put(None)
        if self.thread is None:
            return True
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def is_busy(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    # --- requests -----------------------------------------------------------------------------

    def enqueue(self, job_type: str, config: dict[str, Any]) -> str:
        """Validates `config` against the type's schema, stores a queued job (the store must
        have `create(job_type, config) -> id`, as `SqliteJobStore` does) and submits it."""
        schema = self.job_type(job_type).config_schema
        stored = schema.model_validate(config).model_dump(mode="json")
        create = getattr(self.store, "create", None)
        if create is None:
            raise TypeError(f"{type(self.store).__name__} cannot create jobs; store the job, then submit it")
        job_id = create(job_type, stored)
        self.submit(job_id)
        return job_id

    def submit(self, job_id: str) -> None:
        """Queues a job the store holds as `queued`."""
        with self.lock:
            self.cancel_events[job_id] = threading.Event()
        try:
            self.store.append_log(job_id, "Queued.")
        except Exception as exc:
            # The job is stored: queue it anyway, so it ends (failed, saying the disk is full)
            # instead of staying queued forever.
            if not is_disk_full(exc):
                raise
            self.log.warning("job %s: the disk is full; queued without its first log line", job_id)
        self.queue.put(job_id)

    def cancel(self, job_id: str) -> bool:
        """Marks the job cancelled now; a running job stops when it next checks."""
        ending = Ending(JobStatus.CANCELLED, utc_now(), messages=(CANCELLED_MESSAGE,))
        changed = self.store.finish(job_id, ACTIVE_STATUSES, ending)
        if changed:
            with self.lock:
                event = self.cancel_events.get(job_id)
            if event is not None:
                event.set()
        return changed

    def held_job_ids(self) -> list[str]:
        """Jobs submitted and not yet let go by the worker (a cancelled one until it stops)."""
        with self.lock:
            return list(self.cancel_events)

    # --- worker -------------------------------------------------------------------------------

    def _work(self) -> None:
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
            except BaseException as exc:  # the worker must survive any single job
                if isinstance(exc, PROCESS_EXITS):
                    raise
                self.log.exception("job %s crashed the worker step", job_id)
            finally:
                with self.lock:
                    self.cancel_events.pop(job_id, None)

    def _run_job(self, job_id: str) -> None:
        with self.lock:
            cancel_event = self.cancel_events.get(job_id) or threading.Event()
        try:
            record = self.store.load(job_id)
            if record is None:
                return  # deleted while queued
            job_type = self.job_type(record.job_type)
            running = self.store.mark_running(job_id, job_type.phases[0].name, utc_now())
        except Exception as exc:
            self._fail(job_id, exc, None, only_if=(JobStatus.QUEUED,))
            return
        if not running:
            return  # cancelled while queued
        out_dir = self.job_dir(job_id)
        context = JobContext(
            job_id,
            job_type,
            out_dir,
            report=lambda phase, fraction: self._report(job_id, phase, fraction),
            write_log=lambda message: self.store.append_log(job_id, message),
            stop_requested=lambda: cancel_event.is_set() or self.stopping.is_set(),
            make_dir=_make_private_dir,
        )
        started = time.monotonic()
        try:
            config = job_type.config_schema.model_validate(record.config)
            if job_type.expected_bytes is not None:
                ensure_free_space(
                    self.artifacts_root,
                    job_type.expected_bytes(config),
                    job_type.output_words,
                    self.data_root,
                    next_step=NEXT_STEP,
                )
            outcome = job_type.run(context, config)
            if context.disk_full is not None:
                raise context.disk_full
            if self.stopping.is_set():
                shutil.rmtree(out_dir, ignore_errors=True)
                return  # stop() marked it interrupted
            context.raise_if_cancelled()
            artifacts = tuple(_record(job_type, out_dir))
            message = (outcome.message if outcome else None) or f"Done in {time.monotonic() - started:.1f} s."
            metrics = dict(outcome.metrics) if outcome and outcome.metrics is not None else None
            ending = Ending(
                JobStatus.SUCCEEDED, utc_now(), metrics=metrics, artifacts=artifacts, messages=(message,)
            )
            if not self.store.finish(job_id, ONLY_RUNNING, ending):
                # Cancelled or interrupted while saving: the result must not outlive the job.
                shutil.rmtree(out_dir, ignore_errors=True)
        except BaseException as exc:
            if isinstance(exc, PROCESS_EXITS):
                raise
            shutil.rmtree(out_dir, ignore_errors=True)
            # A full disk stops a job through its cancel check: that is a failure, not a cancel.
            stopped = isinstance(exc, Cancelled) or cancel_event.is_set() or self.stopping.is_set()
            if context.disk_full is None and stopped:
                if not self.stopping.is_set():
                    # Normally a no-op: cancel() wrote the status already.
                    self._finish(job_id, ONLY_RUNNING, Ending(JobStatus.CANCELLED, utc_now()))
                return
            self._fail(job_id, context.disk_full or exc, job_type)

    def _report(self, job_id: str, phase: str, fraction: float) -> None:
        self.store.set_progress(job_id, phase, round(fraction, 4))

    # --- failures -----------------------------------------------------------------------------

    def _fail(
        self,
        job_id: str,
        exc: BaseException,
        job_type: JobType | None,
        only_if: tuple[JobStatus, ...] = ONLY_RUNNING,
    ) -> None:
        """Marks the job failed with a sentence that says what to do; the technical error goes
        to the job log and the engine log."""
        headline = self.headline(exc, job_type)
        if is_disk_full(exc):
            self.log.warning("job %s: the disk is full: %s", job_id, exc)
        else:
            self.log.error("job %s failed", job_id, exc_info=exc)
        technical = f"Error: {technical_line(exc, job_type)}"
        ending = Ending(JobStatus.FAILED, utc_now(), error=headline, messages=(technical, headline))
        self._finish(job_id, only_if, ending)

    def headline(self, exc: BaseException, job_type: JobType | None) -> str:
        """The failed job's sentence: a full disk's first, then the job type's own, then its
        generic one."""
        if isinstance(exc, DiskFull):
            return exc.message
        if is_disk_full(exc):
            return disk_full_sentence(self.data_root, "this job's results", next_step=NEXT_STEP)
        if job_type is None:
            return GENERIC_FAILURE
        if job_type.headline is not None and (sentence := job_type.headline(exc)):
            return sentence
        return job_type.generic_failure

    def _finish(self, job_id: str, only_if: tuple[JobStatus, ...], ending: Ending) -> None:
        """Writes a job's final state; on a full disk keeps it to write later."""
        try:
            self.store.finish(job_id, only_if, ending)
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            self.log.warning("job %s: the disk is full; its final status is saved once there is room", job_id)
            with self.lock:
                self._unsaved[job_id] = (only_if, ending)

    def _save_unsaved(self) -> None:
        with self.lock:
            pending = list(self._unsaved.items())
        for job_id, (only_if, ending) in pending:
            try:
                self.store.finish(job_id, only_if, ending)
            except Exception as exc:
                if is_disk_full(exc):
                    return  # still full: the worker tries again
                self.log.exception("job %s: could not save its final status", job_id)
            with self.lock:
                self._unsaved.pop(job_id, None)


def technical_line(exc: BaseException, job_type: JobType | None = None) -> str:
    """What happened, for a developer reading the job log: the exception's public class name
    (FileNotFoundError, ArrowInvalid, ...) and message. A private class (`_NoText`, ...) is a
    name inside some module, not anything a reader can look up: its message alone says it."""
    if isinstance(exc, DiskFull):
        words = job_type.output_words if job_type else "this job's results"
        return f"not enough free space for {words}: {exc.details}"
    name = type(exc).__name__
    message = str(exc)
    if name.startswith("_"):
        return message or "the job stopped without a message"
    return f"{name}: {message}" if message else name


def _record(job_type: JobType, out_dir: Path):
    for artifact in job_type.artifacts:
        path = out_dir / artifact.name
        if not path.is_file():
            raise _MissingArtifact(f"the job ended without writing its artifact {artifact.name}")
        digest = hashlib.sha256()
        size = 0
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
        yield ArtifactRecord(artifact.name, artifact.kind, path, size, digest.hexdigest())


def _make_private_dir(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    # On Windows the folder's inherited ACL already keeps it to the user; chmod there only
    # toggles the read-only flag.
    if os.name == "posix" and (folder.stat().st_mode & 0o777) != PRIVATE_DIR_MODE:
        folder.chmod(PRIVATE_DIR_MODE)
