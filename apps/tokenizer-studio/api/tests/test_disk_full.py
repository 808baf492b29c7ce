"""A full disk, for real: the data folder lives on a small tmpfs that the tests fill up.

Every case checks the answer (507 `disk_full` with a sentence, or a job failed with "The disk is
full"), that nothing half-written is left, that the database is consistent, and that the engine
works again once space is freed. Mounting needs root; without it the tests re-run themselves in
a private user and mount namespace (`unshare`), or skip saying what is missing.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.models import ErrorResponse
from tests.conftest import AUTH, files_under, upload, wait_for_job
from tests.corpus import text_corpus

IN_NAMESPACE = "TOKENIZER_STUDIO_TEST_DISK_FULL_NAMESPACE"
BOUNDARY = "disk-full-test-boundary"


def _mount_problem() -> str | None:
    if not sys.platform.startswith("linux"):
        return "mounting a small tmpfs needs Linux"
    if shutil.which("mount") is None or shutil.which("umount") is None:
        return "`mount`/`umount` (util-linux) are not installed"
    if os.geteuid() != 0:
        if shutil.which("unshare") is None:
            return "not root, and `unshare` (util-linux) is missing to mount a tmpfs without root"
        return "not root: these run in a private namespace through test_in_a_private_namespace"
    return None


def _in_a_private_namespace():
    """Without root, the whole file runs again as root of a private user + mount namespace."""
    unshare = shutil.which("unshare")
    if unshare is None or not sys.platform.startswith("linux"):
        pytest.skip("not root, and `unshare` (util-linux, Linux) is missing to mount a tmpfs")
    r = subprocess.run(
        [unshare, "--user", "--map-root-user", "--mount", sys.executable, "-m", "pytest", "-q"]
        + ["-p", "no:cacheprovider", __file__],
        cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, IN_NAMESPACE: "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


# Only where it has work to do: as root (CI, .ci/run) the tests below mount their tmpfs
# directly, and a test that always skips there would read as one that checked nothing.
# (Linux only: elsewhere `_mount_problem` skips every test, and Windows has no geteuid.)
if sys.platform.startswith("linux") and os.geteuid() != 0 and not os.environ.get(IN_NAMESPACE):
    test_in_a_private_namespace = _in_a_private_namespace


@pytest.fixture
def disk_options() -> dict[str, str]:
    return {"size": "8m"}


@pytest.fixture
def disk(tmp_path: Path, disk_options: dict[str, str]) -> Iterator[Path]:
    problem = _mount_problem()
    if problem:
        pytest.skip(problem)
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    options = ",".join(f"{k}={v}" for k, v in {**disk_options, "mode": "0700"}.items())
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "--lazy", str(mount_point)], check=True)


@pytest.fixture
def data_dir(disk: Path) -> Path:
    # Overrides conftest's: the engine's whole data folder is on the small disk. The clients
    # (make_client) depend on this, so they are closed before the disk is unmounted.
    return disk / "data"


def free(path: Path) -> int:
    return shutil.disk_usage(path).free


def fill(disk: Path, leave: int = 0, name: str = "ballast") -> Path:
    """Another program's file: writes until only `leave` bytes are free (0: until ENOSPC)."""
    ballast = disk / name
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        todo = max(0, free(disk) - leave) if leave else None
        for chunk in (1 << 20, 1 << 12, 1):
            block = b"\0" * chunk
            while todo is None or todo >= chunk:
                try:
                    written = os.write(fd, block)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
                if todo is not None:
                    todo -= written
    finally:
        os.close(fd)
    return ballast


def use_up_inodes(disk: Path, leave: int) -> Path:
    folder = disk / "inodes"
    folder.mkdir()
    for i in range(os.statvfs(disk).f_ffree - leave):
        (folder / str(i)).touch()
    assert os.statvfs(disk).f_ffree == leave
    return folder


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def multipart(name: str, content: bytes) -> tuple[bytes, bytes]:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    return head + content, f"\r\n--{BOUNDARY}--\r\n".encode()


def streamed_upload(client, body: list[bytes], declare_length: bool, between=None, route="/api/v1/datasets"):
    """Sends `body` in pieces; `between()` runs after the first piece has been received."""

    def pieces():
        yield body[0]
        if between is not None:
            between()
        yield from body[1:]

    headers = {**AUTH, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    if declare_length:
        headers["Content-Length"] = str(sum(len(b) for b in body))
    return client.post(route, content=pieces(), headers=headers)


def assert_disk_full_answer(r, data_dir: Path) -> dict:
    assert r.status_code == 507, r.text
    # The body is the API's one error envelope, as the schema (and the web types) describe it.
    ErrorResponse.model_validate(r.json())
    error = r.json()["error"]
    assert error["code"] == "disk_full"
    message = error["message"]
    assert message.startswith("The disk is full: ")
    assert f"free up space on the drive holding {data_dir}, then try again." in message
    assert "Errno" not in message and "os error" not in message
    return error


def database(data_dir: Path) -> dict:
    """The database as a fresh connection sees it: intact, and every dataset with its file."""
    conn = sqlite3.connect(data_dir / "db" / "tokenizer_studio.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        datasets = dict(conn.execute("SELECT id, stored_name FROM datasets").fetchall())
        jobs = dict(conn.execute("SELECT id, status FROM jobs").fetchall())
    finally:
        conn.close()
    stored = set(files_under(data_dir / "uploads"))
    assert stored == set(datasets.values()), "a dataset row without its file, or a file without its row"
    return {"datasets": datasets, "jobs": jobs}


def assert_no_partial_files(data_dir: Path) -> None:
    leftovers = [p for p in files_under(data_dir) if p.endswith((".part", ".tmp"))]
    assert leftovers == [] and files_under(data_dir / "tmp") == []


def assert_still_serves(client, data_dir: Path, name: str = "after.txt") -> None:
    assert client.get("/health").status_code == 200
    assert client.get("/api/v1/datasets", headers=AUTH).status_code == 200
    r = upload(client, name, b"the engine takes uploads again\n" * 20)
    assert r.status_code == 201, r.text


def job(client, dataset_id: str, template: str = "gpt2-byte-bpe", **overrides):
    overrides.setdefault("vocab_size", 300)
    r = client.post(
        "/api/v1/jobs",
        json={"template": template, "dataset_ids": [dataset_id], "overrides": overrides},
        headers=AUTH,
    )
    assert r.status_code == 201, r.text
    return r.json()


def log_text(client, job_id: str) -> str:
    lines = client.get(f"/api/v1/jobs/{job_id}/logs", headers=AUTH).json()["lines"]
    return "\n".join(line["message"] for line in lines)


# --- uploads ------------------------------------------------------------------------------------


def test_an_upload_larger_than_the_free_space_is_refused_before_it_is_written(client, disk, data_dir):
    earlier = upload(client, "earlier.txt", b"an earlier dataset\n" * 100).json()
    earlier_file = data_dir / "uploads" / f"{earlier['id']}.txt"
    earlier_sha = sha256(earlier_file)
    ballast = fill(disk, leave=2_000_000)
    big = text_corpus(3_000_000)

    r = upload(client, "big.txt", big)
    error = assert_disk_full_answer(r, data_dir)
    assert "the upload needs" in error["message"]
    assert error["details"]["needed_bytes"] > 3_000_000 > error["details"]["free_bytes"]

    # Without a declared size the same file fails while streaming in, with the same answer.
    body = list(multipart("chunked.txt", big))
    assert_disk_full_answer(streamed_upload(client, body, declare_length=False), data_dir)

    assert_no_partial_files(data_dir)
    assert database(data_dir)["datasets"] == {earlier["id"]: earlier_file.name}
    assert [d["id"] for d in client.get("/api/v1/datasets", headers=AUTH).json()] == [earlier["id"]]
    assert sha256(earlier_file) == earlier_sha
    ballast.unlink()
    assert_still_serves(client, data_dir)
    assert upload(client, "big.txt", big).status_code == 201


def test_a_disk_that_fills_while_the_upload_streams_in(client, disk, data_dir):
    earlier = upload(client, "earlier.txt", b"an earlier dataset\n" * 100).json()
    content = text_corpus(2_000_000)
    head, tail = multipart("fits.txt", content[:100_000])
    body = [head, content[100_000:1_000_000], content[1_000_000:], tail]
    declared = sum(len(b) for b in body)
    assert free(disk) > declared + 1024 * 1024  # the check before the write passes
    ballasts: list[Path] = []

    r = streamed_upload(client, body, declare_length=True, between=lambda: ballasts.append(fill(disk)))
    error = assert_disk_full_answer(r, data_dir)
    assert error["details"]["needed_bytes"] == declared

    assert_no_partial_files(data_dir)
    assert list(database(data_dir)["datasets"]) == [earlier["id"]]
    ballasts[0].unlink()
    assert_still_serves(client, data_dir)


def test_an_imported_tokenizer_that_does_not_fit_leaves_nothing(client, disk, data_dir):
    from tests.test_import_tokenizer import gpt2_style_bpe

    route = "/api/v1/jobs/import"
    kept = client.post(route, files={"file": ("kept.json", gpt2_style_bpe().encode())}, headers=AUTH).json()
    kept_file = data_dir / kept["artifact"]["path"]
    kept_sha = sha256(kept_file)
    content = gpt2_style_bpe().encode()
    # Larger than the free space: refused from its declared size, before a byte is written.
    ballast = fill(disk, leave=2_000_000)
    big = list(multipart("big.json", content + b" " * 3_000_000))
    error = assert_disk_full_answer(streamed_upload(client, big, True, route=route), data_dir)
    assert "the upload needs" in error["message"]
    ballast.unlink()

    # Room for it at first, then the disk fills while it streams in.
    head, tail = multipart("fills.json", content[:1000])
    body = [head, content[1000:] + b" " * 1_000_000, tail]
    assert free(disk) > sum(len(b) for b in body) + 1024 * 1024  # the check before the write passes
    ballasts: list[Path] = []
    r = streamed_upload(client, body, True, between=lambda: ballasts.append(fill(disk)), route=route)
    assert_disk_full_answer(r, data_dir)

    assert_no_partial_files(data_dir)
    assert files_under(data_dir / "artifacts") == [f"tokenizers/{kept['id']}/tokenizer.json"]
    assert sha256(kept_file) == kept_sha
    assert database(data_dir)["jobs"] == {kept["id"]: "succeeded"}
    ballasts[0].unlink()
    r = client.post(route, files={"file": ("again.json", content)}, headers=AUTH)
    assert r.status_code == 201, r.text


# --- training -----------------------------------------------------------------------------------


@pytest.mark.parametrize("disk_options", [{"size": "16m", "nr_inodes": "64"}])
def test_training_whose_artifact_write_hits_a_full_disk(client, disk, data_dir):
    # The disk runs out of inodes, a real ENOSPC that the byte count before training cannot
    # see: the artifact folder is created, its tokenizer.json is not.
    corpus = upload(client, "corpus.txt", text_corpus(200_000)).json()
    first = wait_for_job(client, job(client, corpus["id"])["id"])
    assert first["status"] == "succeeded"
    first_dir = data_dir / "artifacts" / "tokenizers" / first["id"]
    first_files = {name: sha256(first_dir / name) for name in files_under(first_dir)}
    ballast = use_up_inodes(disk, leave=1)

    failed = wait_for_job(client, job(client, corpus["id"])["id"])
    assert failed["status"] == "failed" and failed["artifact"] is None
    assert failed["error"].startswith("The disk is full: ")
    assert f"the drive holding {data_dir}, then start a new job." in failed["error"]
    assert "os error" not in failed["error"]
    # The technical message is in the job's log, below the headline.
    logs = log_text(client, failed["id"])
    assert "No space left on device" in logs and failed["error"] in logs
    assert not (data_dir / "artifacts" / "tokenizers" / failed["id"]).exists()
    assert_no_partial_files(data_dir)
    assert database(data_dir)["jobs"] == {first["id"]: "succeeded", failed["id"]: "failed"}
    assert {name: sha256(first_dir / name) for name in files_under(first_dir)} == first_files

    shutil.rmtree(ballast)
    again = wait_for_job(client, job(client, corpus["id"])["id"])
    assert again["status"] == "succeeded"


def test_training_without_room_for_the_tokenizer_fails_before_it_starts(client, disk, data_dir):
    corpus = upload(client, "corpus.txt", text_corpus(100_000)).json()
    ballast = fill(disk, leave=2_000_000)
    # A 20,000-token vocabulary is bounded at 256 bytes a token: more than is left.
    failed = wait_for_job(client, job(client, corpus["id"], vocab_size=20_000)["id"])
    assert failed["status"] == "failed"
    assert failed["error"].startswith("The disk is full: the tokenizer needs ")
    assert "then start a new job." in failed["error"]
    assert failed["started_at"] and failed["finished_at"]
    assert not (data_dir / "artifacts" / "tokenizers" / failed["id"]).exists()
    ballast.unlink()
    assert wait_for_job(client, job(client, corpus["id"])["id"])["status"] == "succeeded"


# --- the database -------------------------------------------------------------------------------


def test_a_database_write_on_a_full_disk_is_a_507_and_the_database_stays_intact(client, disk, data_dir):
    corpus = upload(client, "corpus.txt", text_corpus(50_000)).json()
    done = wait_for_job(client, job(client, corpus["id"])["id"])
    before = database(data_dir)
    ballast = fill(disk)

    r = client.post(
        "/api/v1/jobs",
        json={"template": "gpt2-byte-bpe", "dataset_ids": [corpus["id"]]},
        headers=AUTH,
    )
    assert_disk_full_answer(r, data_dir)
    r = client.patch(f"/api/v1/datasets/{corpus['id']}", json={"text_column": "x"}, headers=AUTH)
    assert r.status_code == 422  # a .txt has no columns: refused before any write
    r = client.delete(f"/api/v1/datasets/{corpus['id']}", headers=AUTH)
    assert_disk_full_answer(r, data_dir)
    # Reads still work, and no write was left half-open on the shared connection.
    assert [j["id"] for j in client.get("/api/v1/jobs", headers=AUTH).json()] == [done["id"]]
    assert not client.app.state.ctx.db.conn.in_transaction

    ballast.unlink()
    assert database(data_dir) == before
    assert client.get(f"/api/v1/datasets/{corpus['id']}", headers=AUTH).status_code == 200
    assert wait_for_job(client, job(client, corpus["id"])["id"])["status"] == "succeeded"
    assert client.delete(f"/api/v1/datasets/{corpus['id']}", headers=AUTH).status_code == 204


@pytest.mark.parametrize("disk_options", [{"size": "24m"}])
@pytest.mark.parametrize("recovered_by", ["freed_space", "restart"])
def test_a_job_whose_final_status_cannot_be_saved_is_not_left_running(
    make_client, disk, data_dir, recovered_by
):
    client = make_client()
    corpus = upload(client, "corpus.txt", text_corpus(1_000_000)).json()
    # Unigram spends seconds computing the vocabulary after reading, with no database write:
    # the disk fills then, so the next write (the switch to "saving") finds it full.
    job_id = job(client, corpus["id"], template="t5-unigram", vocab_size=2000)["id"]
    deadline = time.monotonic() + 60
    while (state := client.get(f"/api/v1/jobs/{job_id}", headers=AUTH).json())["phase"] != "training":
        assert state["status"] == "running" or state["status"] == "queued", state
        assert time.monotonic() < deadline, state
        time.sleep(0.02)
    ballast = fill(disk)
    manager = client.app.state.ctx.jobs
    deadline = time.monotonic() + 120
    while job_id not in manager._unsaved:
        assert time.monotonic() < deadline, client.get(f"/api/v1/jobs/{job_id}", headers=AUTH).json()
        time.sleep(0.05)
    assert client.get(f"/api/v1/jobs/{job_id}", headers=AUTH).json()["status"] == "running"

    if recovered_by == "freed_space":
        ballast.unlink()
        failed = wait_for_job(client, job_id, timeout=10)
        assert failed["status"] == "failed"
        assert failed["error"].startswith("The disk is full: ")
        assert "database or disk is full" in log_text(client, job_id)
    else:
        client.__exit__(None, None, None)  # the engine stops while the disk is still full
        ballast.unlink()
        client = make_client()
        stopped = client.get(f"/api/v1/jobs/{job_id}", headers=AUTH).json()
        assert stopped["status"] == "interrupted"
    assert not (data_dir / "artifacts" / "tokenizers" / job_id).exists()
    assert database(data_dir)["jobs"] == {
        job_id: "failed" if recovered_by == "freed_space" else "interrupted"
    }
    assert wait_for_job(client, job(client, corpus["id"])["id"])["status"] == "succeeded"


# --- the other common failures say what to do too (no small disk needed) -------------------------


def test_a_column_without_text_and_an_unreadable_file_fail_in_words(tmp_path):
    from fastapi.testclient import TestClient

    from app.paths import DataPaths
    from app.server import create_app
    from tests.conftest import BASE_URL, make_settings

    data_dir = tmp_path / "plain"
    with TestClient(create_app(make_settings(), DataPaths(data_dir)), base_url=BASE_URL) as client:
        import pyarrow as pa
        import pyarrow.parquet as pq

        # A Parquet string column is taken at upload by its type; every value of this one is
        # empty, which only reading the rows shows.
        pq.write_table(pa.table({"text": [""] * 50, "n": list(range(50))}), tmp_path / "empty.parquet")
        ds = upload(client, "empty.parquet", (tmp_path / "empty.parquet").read_bytes()).json()
        assert ds["text_column"] == "text"
        failed = wait_for_job(client, job(client, ds["id"])["id"])
        assert failed["status"] == "failed"
        assert failed["error"].startswith("The file has no text column 'text': ")
        assert "then start a new job." in failed["error"]
        # The technical line says what happened, without the engine's private class names.
        log = log_text(client, failed["id"]).splitlines()
        assert log[-2:] == ["Error: no text read from column 'text'", failed["error"]]

        broken = upload(client, "gone.txt", b"some text\n").json()
        (data_dir / "uploads" / f"{broken['id']}.txt").unlink()
        failed = wait_for_job(client, job(client, broken["id"])["id"])
        assert failed["error"].startswith("Training failed: a dataset file could not be read;")
        log = log_text(client, failed["id"]).splitlines()
        assert log[-2].startswith("Error: FileNotFoundError: [Errno 2] No such file or directory: ")
        assert log[-1] == failed["error"]
        assert "Errno" not in failed["error"]
