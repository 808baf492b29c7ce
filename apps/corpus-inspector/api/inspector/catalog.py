"""The corpora and tokenizers the user added: one SQLite table each, beside the job runner's.

The files themselves live under the data root, named by id (`<id>.<format>`, `<id>.json`);
the display name the user's file had is only ever shown.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
from pathlib import Path
from typing import Any

from jobrunner import utc_now

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    format TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    records INTEGER NOT NULL,
    fields TEXT,
    text_field TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokenizers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    model TEXT NOT NULL,
    vocab_size INTEGER NOT NULL,
    unk_token TEXT,
    created_at TEXT NOT NULL
);
"""
ID_PATTERN = r"^(ds|tok|job)_[0-9a-f]{16}$"


def new_id(kind: str) -> str:
    return f"{kind}_{secrets.token_hex(8)}"


class Catalog:
    """One connection, serialised by a lock: a few writes per upload at most."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            # Private from the start: SQLite gives its side files the database file's mode.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        self.lock = threading.Lock()
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    # --- corpora ------------------------------------------------------------------------------

    def add_dataset(self, **record: Any) -> dict[str, Any]:
        record = {**record, "created_at": utc_now()}
        stored = {**record, "fields": json.dumps(record["fields"]) if record["fields"] is not None else None}
        self._insert("datasets", stored)
        return record

    def datasets(self) -> list[dict[str, Any]]:
        return [
            _dataset(row) for row in self._rows("SELECT * FROM datasets ORDER BY created_at DESC, rowid DESC")
        ]

    def dataset(self, dataset_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM datasets WHERE id = ?", dataset_id)
        return _dataset(rows[0]) if rows else None

    def delete_dataset(self, dataset_id: str) -> bool:
        return self._delete("datasets", dataset_id)

    # --- tokenizers ---------------------------------------------------------------------------

    def add_tokenizer(self, **record: Any) -> dict[str, Any]:
        record = {**record, "created_at": utc_now()}
        self._insert("tokenizers", record)
        return record

    def tokenizers(self) -> list[dict[str, Any]]:
        return [
            dict(row) for row in self._rows("SELECT * FROM tokenizers ORDER BY created_at DESC, rowid DESC")
        ]

    def tokenizer(self, tokenizer_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM tokenizers WHERE id = ?", tokenizer_id)
        return dict(rows[0]) if rows else None

    def delete_tokenizer(self, tokenizer_id: str) -> bool:
        return self._delete("tokenizers", tokenizer_id)

    # --- helpers ------------------------------------------------------------------------------

    def _insert(self, table: str, record: dict[str, Any]) -> None:
        names = ", ".join(record)
        marks = ", ".join("?" for _ in record)
        with self.lock:
            self.conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", tuple(record.values()))

    def _rows(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self.lock:
            return self.conn.execute(sql, args).fetchall()

    def _delete(self, table: str, row_id: str) -> bool:
        with self.lock:
            return self.conn.execute(f"DELETE FROM {table} WHERE id = ?", (row_id,)).rowcount > 0


def _dataset(row: sqlite3.Row) -> dict[str, Any]:
    record = dict(row)
    record["fields"] = json.loads(record["fields"]) if record["fields"] is not None else None
    return record
