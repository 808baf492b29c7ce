"""The job history: the job runner's own SQLite store, with the reads and the delete the API
needs on top."""

from __future__ import annotations

import json
from typing import Any

from jobrunner import ACTIVE_STATUSES, SqliteJobStore


class JobHistory(SqliteJobStore):
    def recent(self, limit: int = 200) -> list[dict[str, Any]]:
        """The newest jobs first."""
        with self.lock:
            rows = self.conn.execute(
                "SELECT id FROM jobrunner_jobs ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)
            ).fetchall()
        return [job for row in rows if (job := self.get(row["id"])) is not None]

    def active_configs(self) -> list[dict[str, Any]]:
        """The configs of the queued and running jobs (what may not be deleted under them)."""
        marks = ", ".join("?" for _ in ACTIVE_STATUSES)
        with self.lock:
            rows = self.conn.execute(
                f"SELECT config FROM jobrunner_jobs WHERE status IN ({marks})", ACTIVE_STATUSES
            ).fetchall()
        return [json.loads(row["config"]) for row in rows]

    def delete_finished(self, job_id: str) -> bool:
        """Deletes a job that is no longer queued or running, and its log; False otherwise."""
        marks = ", ".join("?" for _ in ACTIVE_STATUSES)
        with self._transaction() as conn:
            return (
                conn.execute(
                    f"DELETE FROM jobrunner_jobs WHERE id = ? AND status NOT IN ({marks})",
                    (job_id, *ACTIVE_STATUSES),
                ).rowcount
                > 0
            )
