"""A job's lifecycle states, and the two phases the runner itself sets."""

from enum import StrEnum


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


# A job in one of these may still change: it can be cancelled, and a restart interrupts it.
ACTIVE_STATUSES: tuple[JobStatus, ...] = (JobStatus.QUEUED, JobStatus.RUNNING)
FINISHED_STATUSES: tuple[JobStatus, ...] = tuple(s for s in JobStatus if s not in ACTIVE_STATUSES)

# A job's phase before it starts and after it succeeded; a job type declares the ones between.
QUEUED_PHASE = "queued"
DONE_PHASE = "done"
RESERVED_PHASES = (QUEUED_PHASE, DONE_PHASE)
