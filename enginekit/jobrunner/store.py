"""Where the runner keeps job history: the `JobStore` interface, and a SQLite store of its own.

An app with its own tables implements `JobStore` on them; an app without gets `SqliteJobStore`.
Every write that changes a job's status is guarded by the statuses it may change from, so a
late write of the worker never overrides a cancel or an interrupt.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from jobrunner.states import ACTIVE_STATUSES, DONE_PHASE, QUEUED_PHASE, JobStatus


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class JobRecord:
    """What the runner reads of a stored job: its type's name and its config as stored."""

    job_type: str
    config: Any


@dataclass(frozen=True)
class ArtifactRecord:
    name: str
    kind: str
    path: Path
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class Ending:
    """A job's final state and its last log lines, written together (both or neither).

    A succeeded ending also sets the phase to "done" and the progress to 1."""

    status: JobStatus
    finished_at: str
    error: str | None = None
    metrics: dict[str, Any] | None = None
    artifacts: tuple[ArtifactRecord, ...] = ()
    messages: tuple[str, ...] = field(default=())


class JobStore(Protocol):
    def active_job_ids(self) -> list[str]:
        """The jobs that are queued or running."""
        ...

    def load(self, job_id: str) -> JobRecord | None:
        """The job's type and config; None if it no longer exists."""
        ...

    def mark_running(self, job_id: str, phase: str, started_at: str) -> bool:
        """queued → running in `phase`; False (and no change) unless the job is queued."""
        ...

    def set_progress(self, job_id: str, phase: str, progress: float) -> bool:
        """Stores the phase and progress while the job is running; False otherwise."""
        ...

    def append_log(self, job_id: str, message: str) -> None: ...

    def finish(self, job_id: str, only_if: tuple[JobStatus, ...], ending: Ending) -> bool:
        """Writes `ending` if the job is in one of `only_if`, in one transaction with its
        messages; False (and no change) otherwise."""
        ...

    def interrupt_active(self, reason: str) -> list[str]:
        """Marks every queued or running job interrupted with `reason` (its error and its last
        log line); returns their ids."""
        ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobrunner_jobs (
    id TEXT PRIMARY KEY,
    job_type TEXT NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL,
    phase TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    error TEXT,
    metrics TEXT,
    artifacts TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS jobrunner_jobs_status ON jobrunner_jobs(status);
CREATE TABLE IF NOT EXISTS jobrunner_logs (
    job_id TEXT NOT NULL REFERENCES jobrunner_jobs(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    ts TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);
"""


class SqliteJobStore:
    """A `JobStore` on its own two tables (`jobrunner_jobs`, `jobrunner_logs`) in a SQLite file,
    for an app that has no job tables of its own. One connection, serialised by a lock: job
    writes are a few per second at most."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        if not path.exists():
            # Private from the start: SQLite gives its side files the database file's mode.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise

    # --- for the app -------------------------------------------------------------------------

    def create(self, job_type: str, config: dict[str, Any]) -> str:
        job_id = f"job_{secrets.token_hex(8)}"
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO jobrunner_jobs (id, job_type, config, status, phase, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (job_id, job_type, json.dumps(config), JobStatus.QUEUED, QUEUED_PHASE, utc_now()),
            )
        return job_id

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self.lock:
            row = self.conn.execute("SELECT * FROM jobrunner_jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            return None
        job = dict(row)
        for key in ("config", "metrics", "artifacts"):
            job[key] = json.loads(job[key]) if job[key] is not None else None
        return job

    def logs(self, job_id: str) -> list[str]:
        with self.lock:
            rows = self.conn.execute(
                "SELECT message FROM jobrunner_logs WHERE job_id = ? ORDER BY seq", (job_id,)
            ).fetchall()
        return [r["message"] for r in rows]

    # --- JobStore ------------------------------------------------------------------------------

    def active_job_ids(self) -> list[str]:
        with self.lock:
            rows = self.conn.execute(
                f"SELECT id FROM jobrunner_jobs WHERE status IN ({_marks(ACTIVE_STATUSES)})",
                ACTIVE_STATUSES,
            ).fetchall()
        return [r["id"] for r in rows]

    def load(self, job_id: str) -> JobRecord | None:
        with self.lock:
            row = self.conn.execute(
                "SELECT job_type, config FROM jobrunner_jobs WHERE id = ?", (job_id,)
            ).fetchone()
        return JobRecord(row["job_type"], json.loads(row["config"])) if row else None

    def mark_running(self, job_id: str, phase: str, started_at: str) -> bool:
        return self._update(
            "status = ?, phase = ?, progress = 0, started_at = ?",
            (JobStatus.RUNNING, phase, started_at),
            job_id,
            (JobStatus.QUEUED,),
        )

    def set_progress(self, job_id: str, phase: str, progress: float) -> bool:
        return self._update("phase = ?, progress = ?", (phase, progress), job_id, (JobStatus.RUNNING,))

    def append_log(self, job_id: str, message: str) -> None:
        with self._transaction() as conn:
            _append_log(conn, job_id, message)

    def finish(self, job_id: str, only_if: tuple[JobStatus, ...], ending: Ending) -> bool:
        fields: dict[str, Any] = {
            "status": ending.status,
            "error": ending.error,
            "finished_at": ending.finished_at,
        }
        if ending.status == JobStatus.SUCCEEDED:
            artifacts = [
                {
                    "name": a.name,
                    "kind": a.kind,
                    "path": str(a.path),
                    "size_bytes": a.size_bytes,
                    "sha256": a.sha256,
                }
                for a in ending.artifacts
            ]
            fields.update(
                phase=DONE_PHASE,
                progress=1.0,
                metrics=json.dumps(ending.metrics) if ending.metrics is not None else None,
                artifacts=json.dumps(artifacts),
            )
        sets = ", ".join(f"{k} = ?" for k in fields)
        sql = f"UPDATE jobrunner_jobs SET {sets} WHERE id = ? AND status IN ({_marks(only_if)})"
        with self._transaction() as conn:
            changed = conn.execute(sql, (*fields.values(), job_id, *only_if)).rowcount > 0
            if changed:
                for message in ending.messages:
                    _append_log(conn, job_id, message)
        return changed

    def interrupt_active(self, reason: str) -> list[str]:
        with self._transaction() as conn:
            rows = conn.execute(
                f"SELECT id FROM jobrunner_jobs WHERE status IN ({_marks(ACTIVE_STATUSES)})",
                ACTIVE_STATUSES,
            ).fetchall()
            ids = [r["id"] for r in rows]
            now = utc_now()
            for job_id in ids:
                conn.execute(
                    "UPDATE jobrunner_jobs SET status = ?, error = ?, finished_at = ? WHERE id = ?",
                    (JobStatus.INTERRUPTED, reason, now, job_id),
                )
                _append_log(conn, job_id, reason)
        return ids

    def _update(self, sets: str, values: tuple, job_id: str, only_if: tuple[JobStatus, ...]) -> bool:
        sql = f"UPDATE jobrunner_jobs SET {sets} WHERE id = ? AND status IN ({_marks(only_if)})"
        with self._transaction() as conn:
            return conn.execute(sql, (*values, job_id, *only_if)).rowcount > 0


def _marks(values: tuple) -> str:
    return ", ".join("?" for _ in values)


def _append_log(conn: sqlite3.Connection, job_id: str, message: str) -> None:
    seq = conn.execute(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM jobrunner_logs WHERE job_id = ?", (job_id,)
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO jobrunner_logs (job_id, seq, ts, message) VALUES (?, ?, ?, ?)",
        (job_id, seq, utc_now(), message),
    )
