"""`POST /api/v1/system/clear-caches`: the caches and stale temp files go, nothing else does.

Real files on disk throughout: the space freed is checked against the storage figures, and
every other part of the data folder is hashed before and after.
"""

import hashlib
import logging
import os
import time
from pathlib import Path

import pytest

from app.paths import DataPaths
from tests.conftest import AUTH, upload, wait_for_job
from tests.corpus import text_corpus
from tests.test_api_jobs import slow_reading  # noqa: F401 (a fixture)

URL = "/api/v1/system/clear-caches"
HOUR = 3600


def _clear(client):
    r = client.post(URL, headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


def _cache_part(client):
    r = client.get("/api/v1/system/storage", headers=AUTH)
    assert r.status_code == 200, r.text
    return next(part for part in r.json()["parts"] if part["id"] == "cache")


def _write(path: Path, size: int, age_s: float = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    if age_s:
        then = time.time() - age_s
        os.utime(path, (then, then))
    return path


def _hashes(*folders: Path) -> dict[str, str]:
    return {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in folders
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def test_frees_the_bytes_it_says_and_storage_shows_the_cache_smaller(client, data_dir):
    paths = DataPaths(data_dir)
    planted = [
        _write(paths.hf_cache / "datasets" / "csv" / "default" / "0.0.0" / "data.arrow", 300_000),
        _write(paths.hf_cache / "hub" / "models--x" / "blobs" / "abc", 40_000),
        _write(data_dir / "cache" / "other-library" / "index.bin", 5_000),
        _write(data_dir / "cache" / "loose.txt", 10),
    ]
    before = _cache_part(client)
    assert before["files"] == len(planted) and before["bytes"] >= 345_000

    body = _clear(client)

    after = _cache_part(client)
    assert after["files"] == 0 and after["bytes"] == 0
    assert body == {"freed_bytes": before["bytes"], "removed_files": len(planted), "skipped": []}
    assert not any(path.exists() for path in planted)
    # Hugging Face's folder stays, empty and private: HF_HOME points at it.
    assert paths.hf_cache.is_dir() and list(paths.hf_cache.iterdir()) == []
    assert sorted(p.name for p in (data_dir / "cache").iterdir()) == ["huggingface"]
    if os.name == "posix":
        assert paths.hf_cache.stat().st_mode & 0o777 == 0o700

    # Nothing left: a second clear frees nothing and says nothing.
    assert _clear(client) == {"freed_bytes": 0, "removed_files": 0, "skipped": []}


def test_leaves_datasets_tokenizers_database_logs_and_engines_intact(client, data_dir):
    paths = DataPaths(data_dir)
    dataset = upload(client, "corpus.txt", text_corpus(100_000)).json()
    job = client.post(
        "/api/v1/jobs",
        json={"template": "classic-bpe", "dataset_ids": [dataset["id"]], "overrides": {"vocab_size": 400}},
        headers=AUTH,
    ).json()
    job = wait_for_job(client, job["id"])
    assert job["status"] == "succeeded"
    _write(paths.logs / "server.log.1", 2_000)
    _write(paths.logs / "shell.log", 1_000)
    _write(data_dir / "runtime" / "current" / "python" / "bin" / "python3", 3_000)
    _write(paths.hf_cache / "datasets" / "cached.arrow", 50_000)
    kept = (paths.uploads, paths.artifacts, paths.db_dir, paths.logs, data_dir / "runtime")
    before = _hashes(*kept)
    assert any(Path(name).parent == paths.uploads for name in before)
    assert any(name.endswith("tokenizer.json") for name in before)
    assert any(name.endswith(".db") for name in before)

    body = _clear(client)

    assert body["removed_files"] == 1 and body["freed_bytes"] > 0
    assert _hashes(*kept) == before
    # The engine still uses them: the dataset trains again, the tokenizer still encodes.
    r = client.post(f"/api/v1/jobs/{job['id']}/try", json={"text": "still here"}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert client.get(f"/api/v1/datasets/{dataset['id']}", headers=AUTH).status_code == 200


def test_a_link_inside_the_cache_is_removed_never_its_target(client, data_dir, tmp_path):
    outside = tmp_path / "outside"
    target_file = _write(outside / "precious.txt", 1_000)
    target_dir_file = _write(outside / "folder" / "inner.txt", 1_000)
    contents = {p: p.read_bytes() for p in (target_file, target_dir_file)}
    cache = data_dir / "cache"
    (cache / "huggingface" / "hub").mkdir(parents=True)
    (cache / "huggingface" / "hub" / "file-link").symlink_to(target_file)
    (cache / "dir-link").symlink_to(outside / "folder", target_is_directory=True)
    (cache / "dangling").symlink_to(tmp_path / "nowhere")
    # The same file hard-linked from outside: its link here goes, its bytes stay in use.
    os.link(target_file, cache / "hard-link")

    body = _clear(client)

    assert body["removed_files"] == 4
    assert body["freed_bytes"] == 0
    assert not any(os.path.lexists(cache / name) for name in ("dir-link", "dangling", "hard-link"))
    assert not os.path.lexists(cache / "huggingface" / "hub" / "file-link")
    assert {p: p.read_bytes() for p in contents} == contents
    assert target_file.stat().st_nlink == 1


def test_a_cache_folder_that_is_itself_a_link_is_left_alone(client, data_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    kept = _write(elsewhere / "huggingface" / "file.bin", 1_000)
    cache = data_dir / "cache"
    for path in sorted(cache.rglob("*"), reverse=True):
        path.rmdir()
    cache.rmdir()
    cache.symlink_to(elsewhere, target_is_directory=True)

    body = _clear(client)

    assert body["removed_files"] == 0
    assert kept.is_file() and cache.is_symlink()
    assert any("is a link or not a folder" in sentence for sentence in body["skipped"])


def test_temp_files_younger_than_an_hour_are_kept_and_said(client, data_dir):
    tmp = DataPaths(data_dir).tmp
    old = [
        _write(tmp / "old.bin", 20_000, age_s=2 * HOUR),
        _write(tmp / "tmpabc123" / "inner.bin", 1_000, age_s=2 * HOUR),
    ]
    old_dir = tmp / "tmpabc123"
    then = time.time() - 2 * HOUR
    os.utime(old_dir, (then, then))
    young = [
        _write(tmp / "young.part", 5_000),
        _write(tmp / "young-too.bin", 5_000, age_s=50 * 60),
        _write(tmp / "tmpold" / "being-written.bin", 5_000, age_s=10 * 60),
        # Unpacked with its archive's old times into a fresh folder: kept with the folder.
        _write(tmp / "tmpfresh" / "unpacked.bin", 5_000, age_s=24 * HOUR),
    ]
    os.utime(tmp / "tmpold", (then, then))

    body = _clear(client)

    assert body["removed_files"] == 2 and body["freed_bytes"] > 20_000
    assert not any(path.exists() for path in old) and not old_dir.exists()
    assert all(path.is_file() for path in young)
    assert len(body["skipped"]) == 1
    assert "Kept 3 temporary files and 1 temporary folder younger than an hour" in body["skipped"][0]
    assert str(tmp) in body["skipped"][0]
    assert tmp.is_dir()


def test_refused_while_a_job_is_active(client, data_dir, slow_reading):  # noqa: F811
    planted = _write(DataPaths(data_dir).hf_cache / "datasets" / "in-use.arrow", 10_000)
    dataset = upload(client, "corpus.txt", text_corpus(300_000)).json()
    job = client.post(
        "/api/v1/jobs", json={"template": "classic-bpe", "dataset_ids": [dataset["id"]]}, headers=AUTH
    ).json()
    wait_for_job(client, job["id"], statuses={"running"})

    r = client.post(URL, headers=AUTH)
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "jobs_active"
    assert error["message"] == "Wait for the running training to finish, or cancel it, then clear the caches."
    assert error["details"] == {"job_ids": [job["id"]]}
    assert planted.is_file()

    assert client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=AUTH).status_code == 200
    slow_reading.set()
    # Cancelled at once; the worker lets go of the training at its next batch.
    deadline = time.monotonic() + 30
    while (r := client.post(URL, headers=AUTH)).status_code == 409:
        assert time.monotonic() < deadline, r.text
        time.sleep(0.05)
    assert r.status_code == 200 and r.json()["removed_files"] == 1
    assert not planted.exists()


def test_logs_what_it_cleared(client, data_dir):
    _write(DataPaths(data_dir).hf_cache / "x.bin", 4_000)
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    logger = logging.getLogger("tokenizer_studio")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        _clear(client)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert any(f"cleared {data_dir / 'cache'}: 1 file(s) removed" in line for line in seen), seen


@pytest.mark.parametrize("headers", [{}, {"X-Tokenizer-Studio-Token": "wrong"}])
def test_needs_the_token(client, data_dir, headers):
    planted = _write(DataPaths(data_dir).hf_cache / "x.bin", 100)
    assert client.post(URL, headers=headers).status_code == 401
    assert planted.is_file()
