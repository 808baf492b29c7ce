"""The engine's job runner: `jobrunner.JobRunner` on the engine's own history tables, with
tokenizer training (`app.training_job`) as its one job type.

The training job type, `tokenizer` (and with it the `tokenizers` extension) and the dataset
readers are imported on the first job, not at startup.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from app.db import Database
from app.job_states import ACTIVE_STATUSES, JobStatus
from app.paths import DataPaths
from jobrunner import DONE_PHASE, Ending, JobRecord, JobRunner, JobType

log = logging.getLogger("tokenizer_studio.jobs")

# Every row of the `jobs` table that the worker runs is a training: an imported tokenizer is
# `succeeded` from its first write, so it is never queued. (app.training_job.NAME, which is
# not imported at start-up.)
TRAINING = "train-tokenizer"


class JobStore:
    """`jobrunner.JobStore` on the `jobs` and `job_logs` tables of the engine's database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def active_job_ids(self) -> list[str]:
        rows = self.db.query(
            f"SELECT id FROM jobs WHERE status IN ({', '.join('?' for _ in ACTIVE_STATUSES)})",
            ACTIVE_STATUSES,
        )
        return [r["id"] for r in rows]

    def load(self, job_id: str) -> JobRecord | None:
        job = self.db.get_job(job_id)
        if job is None:
            return None
        # What a training needs beyond its settings: the datasets, and the job's name and
        # template for the config.json written next to the tokenizer.
        keys = ("name", "template", "dataset_ids", "config")
        return JobRecord(TRAINING, {key: job[key] for key in keys})

    def mark_running(self, job_id: str, phase: str, started_at: str) -> bool:
        return self.db.update_job(
            job_id,
            only_if_status=(JobStatus.QUEUED,),
            status=JobStatus.RUNNING,
            phase=phase,
            started_at=started_at,
        )

    def set_progress(self, job_id: str, phase: str, progress: float) -> bool:
        return self.db.update_job(job_id, only_if_status=(JobStatus.RUNNING,), phase=phase, progress=progress)

    def append_log(self, job_id: str, message: str) -> None:
        self.db.log(job_id, message)

    def finish(self, job_id: str, only_if: tuple[JobStatus, ...], ending: Ending) -> bool:
        fields: dict[str, Any] = {"status": ending.status, "finished_at": ending.finished_at}
        if ending.error is not None:
            fields["error"] = ending.error
        if ending.status == JobStatus.SUCCEEDED:
            # The API's one artifact is the first the job type declares (tokenizer.json); the
            # others (config.json) sit next to it.
            main = ending.artifacts[0]
            artifact = {
                "path": f"artifacts/tokenizers/{job_id}/{main.name}",
                "size_bytes": main.size_bytes,
                "sha256": main.sha256,
            }
            fields.update(
                phase=DONE_PHASE,
                progress=1.0,
                metrics=json.dumps(ending.metrics),
                artifact=json.dumps(artifact),
            )
        return self.db.finish_job(job_id, only_if, fields, list(ending.messages))

    def interrupt_active(self, reason: str) -> list[str]:
        return self.db.interrupt_active_jobs(reason)


class JobManager(JobRunner):
    def __init__(self, db: Database, paths: DataPaths) -> None:
        super().__init__(
            JobStore(db),
            artifacts_root=paths.artifacts,
            job_dir=paths.job_artifacts,
            data_root=paths.root,
            log=log,
        )
        self.db = db
        self.paths = paths
        self.register_loader(TRAINING, self._training_job_type)

    def _training_job_type(self) -> JobType:
        from app.training_job import training_job_type

        return training_job_type(self.db, self.paths)

    def start(self) -> None:
        super().start()
        # An import the stop cut short left only its temp file in the tokenizers folder (its
        # folder and row come after the file is complete).
        for partial in self.paths.artifacts.glob(".incoming-*.part"):
            partial.unlink(missing_ok=True)
