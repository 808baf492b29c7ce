"""The data folder is private to the user: folders 0700, files 0600, whatever existed before,
also without the umask `python -m app` sets (the real server in the shell's launch order is in
test_hardening.py)."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from app.db import Database
from app.paths import DataPaths
from tests.conftest import AUTH, upload, wait_for_job
from tests.corpus import text_corpus

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")


def _modes(root: Path) -> tuple[dict[str, int], dict[str, int]]:
    folders = {".": stat.S_IMODE(root.stat().st_mode)}
    files = {}
    for path in root.rglob("*"):
        rel = str(path.relative_to(root))
        mode = stat.S_IMODE(path.lstat().st_mode)
        (folders if path.is_dir() else files)[rel] = mode
    return folders, files


def _assert_private(root: Path, expect_files: set[str]) -> None:
    folders, files = _modes(root)
    assert expect_files <= set(files), sorted(files)
    loose_folders = {k: oct(v) for k, v in folders.items() if v != 0o700}
    loose_files = {k: oct(v) for k, v in files.items() if v != 0o600}
    assert loose_folders == {} and loose_files == {}, (loose_folders, loose_files)


def _shell_first(root: Path) -> None:
    """What the desktop shell does before it starts the engine: `<data>/logs`, default modes."""
    (root / "logs").mkdir(parents=True)
    os.chmod(root, 0o755)
    os.chmod(root / "logs", 0o755)


def test_prepare_tightens_existing_folders(tmp_path):
    root = tmp_path / "data"
    _shell_first(root)
    (root / "uploads").mkdir(mode=0o755)
    os.chmod(root / "uploads", 0o755)
    DataPaths(root).prepare()
    folders, _ = _modes(root)
    assert {k: oct(v) for k, v in folders.items() if v != 0o700} == {}
    assert {
        "db",
        "uploads",
        "artifacts",
        "artifacts/tokenizers",
        "logs",
        "cache",
        "cache/huggingface",
        "tmp",
    } <= set(folders)


@pytest.fixture
def usual_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_files_written_through_create_app_are_private(make_client, data_dir, usual_umask):
    """Without `python -m app`'s umask (as in these TestClient tests) the modes are explicit."""
    _shell_first(data_dir)
    client = make_client()
    ds = upload(client, "c.txt", text_corpus(300))
    assert ds.status_code == 201, ds.text
    job = client.post(
        "/api/v1/jobs",
        json={"template": "classic-bpe", "dataset_ids": [ds.json()["id"]], "overrides": {"vocab_size": 300}},
        headers=AUTH,
    ).json()
    assert wait_for_job(client, job["id"])["status"] == "succeeded"
    art = f"artifacts/tokenizers/{job['id']}"
    _assert_private(
        data_dir,
        {
            "db/tokenizer_studio.db",
            "db/tokenizer_studio.db-wal",
            f"uploads/{ds.json()['id']}.txt",
            f"{art}/tokenizer.json",
            f"{art}/config.json",
        },
    )


def test_a_database_left_readable_by_an_older_build_is_tightened(tmp_path, usual_umask):
    db_file = tmp_path / "old.db"
    conn = sqlite3.connect(db_file)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x)")
    for side in ("", "-wal", "-shm"):
        if (tmp_path / f"old.db{side}").exists():
            os.chmod(tmp_path / f"old.db{side}", 0o644)
    db = Database(db_file)
    try:
        files = _modes(tmp_path)[1]
        assert {"old.db", "old.db-wal", "old.db-shm"} <= set(files)
        assert {k: oct(v) for k, v in files.items() if v != 0o600} == {}
    finally:
        db.close()
        conn.close()
