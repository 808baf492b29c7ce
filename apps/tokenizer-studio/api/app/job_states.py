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

# The template of a tokenizer imported as a tokenizer.json rather than trained here: its row is
# `succeeded` from the start (never active, so neither the worker nor the restart recovery ever
# touches it), with no datasets and no training config.
IMPORTED_TEMPLATE = "imported"


class JobPhase(StrEnum):
    QUEUED = "queued"
    READING = "reading"
    TRAINING = "training"
    SAVING = "saving"
    DONE = "done"
