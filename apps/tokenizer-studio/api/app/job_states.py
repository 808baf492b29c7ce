"""Job states, without pydantic: the database and the training worker load them at start-up.

`app.models` re-exports them with the API's models, which load with their routes on first use.
"""

from enum import StrEnum


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


# A job in one of these may still change; it holds its datasets and can be cancelled.
ACTIVE_STATUSES: tuple[JobStatus, ...] = (JobStatus.QUEUED, JobStatus.RUNNING)


class JobPhase(StrEnum):
    QUEUED = "queued"
    READING = "reading"
    TRAINING = "training"
    SAVING = "saving"
    DONE = "done"
