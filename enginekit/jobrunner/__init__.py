"""A job runner any app can reuse: declare a job type, get queueing, progress, cancellation,
history, restart recovery, disk checks and failure sentences without writing any of them.

A job type (`JobType`) declares:
- its `name`, stored with each job;
- its `config_schema`, a Pydantic model the stored config is validated into before the run;
- its `phases`: the ordered `Phase(name, label)`s it reports progress in, each with the words a
  UI shows (the runner itself sets "queued" before and "done" after);
- its `artifacts`: the `Artifact(name, kind)` files a successful run leaves in its folder;
- `run(context, config)`: the work. It reports through `context.progress(phase, fraction)`
  (a phase it did not declare is refused with `UndeclaredPhase`) and `context.log(line)`,
  writes its artifacts under `context.output_dir`, and checks `context.cancelled` (or calls
  `context.raise_if_cancelled()`) often enough to stop soon. It may return an `Outcome`
  (metrics, last log line);
- optionally `expected_bytes(config)` (the runner checks that much space is free before the
  run), `output_words` (how the disk-full sentence names the artifacts), `headline(exc)` (a
  plain sentence for the type's own failures) and `generic_failure` (the sentence for others).

The runner (`JobRunner`) owns:
- queueing: FIFO, one worker thread, one job at a time (`submit`, or `enqueue` with a store that
  creates jobs);
- cancellation: `cancel(job_id)` marks the job `cancelled` at once and raises its flag; the run
  sees `context.cancelled` and stops; whatever it wrote is deleted;
- progress and per-job log lines, written through the store; a status write never overrides a
  cancel or an interrupt (every one is guarded by the statuses it may change from);
- history, through a `JobStore` (an app implements it on its own tables, or uses
  `SqliteJobStore`);
- restart recovery: `start()` marks the jobs a previous run left queued or running
  `interrupted` and deletes their folders; `stop()` interrupts the active ones;
- disk checks: the free-space check before a run, and a full disk (ENOSPC, EDQUOT, SQLite's
  "database or disk is full", at any point, in a store write too) fails the job with the
  disk-full sentence and leaves no partial artifact; a final status the disk has no room for is
  kept and written once it has;
- failure headlines: the job type's sentence for its own exceptions, else its generic one; the
  technical line (`Error: ExceptionClass: message`, without private class names) goes to the
  job log and the full traceback to the logger.

This package imports nothing of the app that uses it.
"""

from jobrunner.contract import (
    GENERIC_FAILURE,
    Artifact,
    Cancelled,
    JobContext,
    JobType,
    Outcome,
    Phase,
    UndeclaredPhase,
)
from jobrunner.disk import DiskFull, disk_full_sentence, ensure_free_space, is_disk_full
from jobrunner.runner import CRASH_REASON, STOP_REASON, JobRunner, technical_line
from jobrunner.states import ACTIVE_STATUSES, DONE_PHASE, QUEUED_PHASE, JobStatus
from jobrunner.store import ArtifactRecord, Ending, JobRecord, JobStore, SqliteJobStore, utc_now

__all__ = [
    "ACTIVE_STATUSES",
    "CRASH_REASON",
    "DONE_PHASE",
    "GENERIC_FAILURE",
    "QUEUED_PHASE",
    "STOP_REASON",
    "Artifact",
    "ArtifactRecord",
    "Cancelled",
    "DiskFull",
    "Ending",
    "JobContext",
    "JobRecord",
    "JobRunner",
    "JobStatus",
    "JobStore",
    "JobType",
    "Outcome",
    "Phase",
    "SqliteJobStore",
    "UndeclaredPhase",
    "disk_full_sentence",
    "ensure_free_space",
    "is_disk_full",
    "technical_line",
    "utc_now",
]
