"""Job states, without pydantic: the database and the training worker load them at start-up.

`app.models` re-exports them with the API's models, which load with their routes on first use.
"""

from enum import StrEnum

# The lifecycle is the job runner's: `jobrunner` owns queueing, cancelling and interrupting.
# A job in ACTIVE_STATUSES may still change; it holds its datasets and can be cancelled.
from jobrunner.states import ACTIVE_STATUSES, JobStatus

__all__ = ["ACTIVE_STATUSES", "IMPORTED_TEMPLATE", "JobPhase", "JobStatus"]

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
