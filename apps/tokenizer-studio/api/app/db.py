"""SQLite history (datasets, jobs, job logs) with WAL and `PRAGMA user_version` migrations."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.job_states import ACTIVE_STATUSES, JobPhase, JobStatus
from app.paths import PRIVATE_FILE_MODE, make_private_file

log = logging.getLogger("tokenizer_studio.db")

# Each entry moves the schema from version i to i + 1; never edit a shipped entry, append one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE datasets (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        stored_name TEXT NOT NULL,
        format TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        columns TEXT,
        text_column TEXT,
        n_rows INTEGER,
        created_at TEXT NOT NULL
    );
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        template TEXT NOT NULL,
        dataset_ids TEXT NOT NULL,
        config TEXT NOT NULL,
        status TEXT NOT NULL,
        phase TEXT NOT NULL,
        progress REAL NOT NULL DEFAULT 0,
        error TEXT,
        metrics TEXT,
        artifact TEXT,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT
    );
    CREATE INDEX jobs_status ON jobs(status);
    CREATE TABLE job_logs (
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        ts TEXT NOT NULL,
        message TEXT NOT NULL,
        PRIMARY KEY (job_id, seq)
    );
    """,
)


def _make_private(path: Path) -> None:
    """The database and its side files are 0600. SQLite gives -wal, -shm and -journal the mode
    of the database file, so the file is created 0600 before SQLite opens it; files left by an
    older build are tightened too."""
    if not path.exists():
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE))
    for suffix in ("", "-wal", "-shm", "-journal"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            make_private_file(side)


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Database:
    """One connection shared by the request threads and the job worker, serialised by a lock.

    The app's write rate is tiny (a progress update every 0.2 s), so one guarded connection is
    simpler and safer than a pool.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        _make_private(path)
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.migrate()

    def migrate(self) -> None:
        with self.lock:
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise RuntimeError(
                    f"The database {self.path} was written by a newer Tokenizer Studio "
                    f"(schema {version}); update the app or use another data directory."
                )
            for target in range(version + 1, len(MIGRATIONS) + 1):
                # executescript commits on its own, so the version bump rides in the same script.
                self.conn.executescript(
                    f"BEGIN; {MIGRATIONS[target - 1]}; PRAGMA user_version = {target}; COMMIT;"
                )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                # On a full disk the COMMIT is what fails (SQLITE_FULL while writing the WAL).
                self.conn.execute("COMMIT")
            except BaseException:
                self._end_failed_transaction()
                raise

    def _end_failed_transaction(self) -> None:
        """Rolls back whatever a failed write left open.

        SQLite may or may not have rolled back by itself after SQLITE_FULL or an I/O error,
        and a failed COMMIT leaves the transaction open: on this one shared connection every
        later statement would join it and hold the write lock. The original error is the one
        worth raising, so a failing ROLLBACK is only logged.
        """
        if not self.conn.in_transaction:
            return
        try:
            self.conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            log.warning("could not roll back a failed database write: %s", exc)

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def execute(self, sql: str, params: tuple | dict = ()) -> int:
        with self.lock:
            try:
                return self.conn.execute(sql, params).rowcount
            except BaseException:
                self._end_failed_transaction()
                raise

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    # --- datasets -------------------------------------------------------------------------

    def insert_dataset(self, row: dict[str, Any]) -> None:
        row = {**row, "columns": json.dumps(row["columns"]) if row["columns"] is not None else None}
        self.execute(
            "INSERT INTO datasets (id, name, stored_name, format, size_bytes, sha256, columns,"
            " text_column, n_rows, created_at) VALUES (:id, :name, :stored_name, :format,"
            " :size_bytes, :sha256, :columns, :text_column, :n_rows, :created_at)",
            row,
        )

    def get_dataset(self, dataset_id: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM datasets WHERE id = ?", (dataset_id,))
        return _dataset_row(rows[0]) if rows else None

    def list_datasets(self) -> list[dict[str, Any]]:
        rows = self.query("SELECT * FROM datasets ORDER BY created_at DESC, rowid DESC")
        return [_dataset_row(r) for r in rows]

    # --- jobs -----------------------------------------------------------------------------

    def insert_job(self, row: dict[str, Any]) -> None:
        self.execute(
            "INSERT INTO jobs (id, name, template, dataset_ids, config, status, phase, progress,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
            (
                row["id"],
                row["name"],
                row["template"],
                json.dumps(row["dataset_ids"]),
                json.dumps(row["config"]),
                JobStatus.QUEUED,
                JobPhase.QUEUED,
                row["created_at"],
            ),
        )

    def insert_finished_job(self, row: dict[str, Any], message: str) -> None:
        """A job that is final from the start (an imported tokenizer) and its one log line, in
        one transaction: a full disk leaves neither."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO jobs (id, name, template, dataset_ids, config, status, phase, progress,"
                " metrics, artifact, created_at, started_at, finished_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)",
                (
                    row["id"],
                    row["name"],
                    row["template"],
                    json.dumps(row["dataset_ids"]),
                    # JSON null for a job without a training config: the column stays NOT NULL.
                    json.dumps(row["config"]),
                    row["status"],
                    JobPhase.DONE,
                    json.dumps(row["metrics"]),
                    json.dumps(row["artifact"]),
                    row["created_at"],
                    row.get("started_at"),
                    row["finished_at"],
                ),
            )
            self._append_log(conn, row["id"], message)

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _job_row(rows[0]) if rows else None

    def list_jobs(self) -> list[dict[str, Any]]:
        rows = self.query("SELECT * FROM jobs ORDER BY created_at DESC, rowid DESC")
        return [_job_row(r) for r in rows]

    def active_jobs_using(self, dataset_id: str) -> list[str]:
        rows = self.query(
            f"SELECT id, dataset_ids FROM jobs WHERE status IN ({_placeholders(ACTIVE_STATUSES)})",
            ACTIVE_STATUSES,
        )
        return [r["id"] for r in rows if dataset_id in json.loads(r["dataset_ids"])]

    def update_job(
        self, job_id: str, only_if_status: tuple[JobStatus, ...] | None = None, **fields: Any
    ) -> bool:
        """Updates fields; with `only_if_status`, only while the job is in one of them.

        The guard is what keeps a late worker write from overriding a cancel or an interrupt.
        """
        for key in ("metrics", "artifact"):
            if key in fields and fields[key] is not None:
                fields[key] = json.dumps(fields[key])
        sets = ", ".join(f"{k} = ?" for k in fields)
        params: list[Any] = list(fields.values())
        sql = f"UPDATE jobs SET {sets} WHERE id = ?"
        params.append(job_id)
        if only_if_status:
            sql += f" AND status IN ({_placeholders(only_if_status)})"
            params.extend(only_if_status)
        return self.execute(sql, tuple(params)) > 0

    def finish_job(
        self,
        job_id: str,
        only_if_status: tuple[JobStatus, ...],
        fields: dict[str, Any],
        messages: list[str],
    ) -> bool:
        """A job's final fields and its last log lines in one transaction: both or neither.

        So a full disk cannot leave a failed job without the reason in its log, or the reason
        logged under a job that still says `running`.
        """
        sets = ", ".join(f"{k} = ?" for k in fields)
        sql = f"UPDATE jobs SET {sets} WHERE id = ? AND status IN ({_placeholders(only_if_status)})"
        with self.transaction() as conn:
            changed = conn.execute(sql, (*fields.values(), job_id, *only_if_status)).rowcount > 0
            if changed:
                for message in messages:
                    self._append_log(conn, job_id, message)
        return changed

    def interrupt_active_jobs(self, reason: str) -> list[str]:
        """Marks every queued/running job interrupted (startup after a crash, or shutdown)."""
        with self.transaction() as conn:
            active = conn.execute(
                f"SELECT id FROM jobs WHERE status IN ({_placeholders(ACTIVE_STATUSES)})",
                ACTIVE_STATUSES,
            )
            ids = [r["id"] for r in active]
            now = utc_now()
            for job_id in ids:
                conn.execute(
                    "UPDATE jobs SET status = ?, error = ?, finished_at = ? WHERE id = ?",
                    (JobStatus.INTERRUPTED, reason, now, job_id),
                )
                self._append_log(conn, job_id, reason)
        return ids

    # --- logs -----------------------------------------------------------------------------

    @staticmethod
    def _append_log(conn: sqlite3.Connection, job_id: str, message: str) -> None:
        seq = conn.execute(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM job_logs WHERE job_id = ?", (job_id,)
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO job_logs (job_id, seq, ts, message) VALUES (?, ?, ?, ?)",
            (job_id, seq, utc_now(), message),
        )

    def log(self, job_id: str, message: str) -> None:
        with self.transaction() as conn:
            self._append_log(conn, job_id, message)

    def logs_after(self, job_id: str, after: int, limit: int = 1000) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT seq, ts, message FROM job_logs WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (job_id, after, limit),
        )
        return [dict(r) for r in rows]


def _placeholders(values: tuple) -> str:
    return ", ".join("?" for _ in values)


def _dataset_row(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    data["columns"] = json.loads(data["columns"]) if data["columns"] is not None else None
    return data


def _job_row(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    for key in ("dataset_ids", "config", "metrics", "artifact"):
        data[key] = json.loads(data[key]) if data[key] is not None else None
    return data
