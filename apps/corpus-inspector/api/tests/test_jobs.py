"""Inspections as jobs of enginekit's runner: progress, cancelling, and recovery after a crash."""

from __future__ import annotations

import threading
import time

import pytest

from inspector import inspect_job
from inspector.jobs import JobHistory
from jobrunner import CRASH_REASON
from tests.conftest import AUTH, files_under, inspect, upload, upload_tokenizer, wait_for_job
from tests.engine import AUTH as ENGINE_AUTH
from tests.engine import Engine


@pytest.fixture
def held(monkeypatch):
    """Holds every inspection at its first document until `release()`; `reached` is set once
    one is there."""
    gate = threading.Event()
    reached = threading.Event()
    real_add = inspect_job.TextStats.add

    def add(self, text):
        reached.set()
        gate.wait(20)
        real_add(self, text)

    monkeypatch.setattr(inspect_job.TextStats, "add", add)
    yield reached, gate.set
    gate.set()


def test_progress_moves_through_the_declared_phases(client, bpe_tokenizer_json, monkeypatch):
    seen: list[tuple[str, float]] = []
    monkeypatch.setattr(inspect_job, "REPORT_EVERY_S", 0.0)
    real_progress = inspect_job.JobContext.progress

    def progress(self, phase, fraction):
        seen.append((phase, fraction))
        real_progress(self, phase, fraction)

    monkeypatch.setattr(inspect_job.JobContext, "progress", progress)
    dataset = upload(client, "c.txt", b"".join(b"word %d\n" % i for i in range(2000))).json()
    tokenizer = upload_tokenizer(client, bpe_tokenizer_json).json()
    job = wait_for_job(client, inspect(client, dataset_id=dataset["id"], tokenizer_id=tokenizer["id"])["id"])
    assert job["status"] == "succeeded" and job["phase"] == "done" and job["phase_label"] == "Done"
    phases = [phase for phase, _ in seen]
    assert phases[0] == "reading" and phases[-1] == "tokenizing"
    assert sorted(set(phases), key=phases.index) == ["reading", "counting", "tokenizing"]
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[-1] < 1


def test_a_running_inspection_is_cancelled(client, data_dir, held):
    reached, release = held
    dataset = upload(client, "c.txt", b"some text\n").json()
    job = inspect(client, dataset_id=dataset["id"])
    assert reached.wait(10)
    running = client.get(f"/api/v1/jobs/{job['id']}", headers=AUTH).json()
    assert running["status"] == "running" and running["phase_label"] == "Reading the corpus"
    r = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=AUTH)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    release()
    # The run stops at its next check, and leaves nothing behind.
    deadline = time.monotonic() + 10
    while client.app.state.ctx.runner.held_job_ids():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    done = client.get(f"/api/v1/jobs/{job['id']}", headers=AUTH).json()
    assert done["status"] == "cancelled" and not done["has_result"]
    assert done["messages"][-1] == "Cancelled by the user."
    assert files_under(data_dir / "jobs") == []
    r = client.get(f"/api/v1/jobs/{job['id']}/result", headers=AUTH)
    assert (
        r.status_code == 409
        and r.json()["error"]["message"] == "This inspection has no result. It was cancelled."
    )
    r = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=AUTH)
    assert r.status_code == 409 and "already finished" in r.json()["error"]["message"]
    # The corpus is still there for the next inspection.
    assert wait_for_job(client, inspect(client, dataset_id=dataset["id"])["id"])["status"] == "succeeded"


def test_a_waiting_inspection_is_cancelled_before_it_starts(client, held):
    reached, release = held
    dataset = upload(client, "c.txt", b"some text\n").json()
    first = inspect(client, dataset_id=dataset["id"])
    assert reached.wait(10)
    second = inspect(client, dataset_id=dataset["id"])
    assert (
        client.get(f"/api/v1/jobs/{second['id']}", headers=AUTH).json()["phase_label"] == "Waiting to start"
    )
    assert client.post(f"/api/v1/jobs/{second['id']}/cancel", headers=AUTH).json()["status"] == "cancelled"
    release()
    assert wait_for_job(client, first["id"])["status"] == "succeeded"
    late = wait_for_job(client, second["id"])
    assert late["status"] == "cancelled" and late["started_at"] is None


def test_an_inspection_interrupted_by_a_crash_is_marked_at_the_next_start(make_client, data_dir):
    """A previous run died with an inspection running: the next start says so, removes its
    half-written folder, and the corpus inspects again."""
    first = make_client()
    dataset = upload(first, "c.txt", b"some text\n").json()
    first.__exit__(None, None, None)
    # What the crashed run left: a running job and a partial result folder.
    history = JobHistory(data_dir / "db" / "corpus_inspector.db")
    job_id = history.create(
        "inspect", {"dataset_id": dataset["id"], "tokenizer_id": None, "text_field": None}
    )
    assert history.mark_running(job_id, "reading", "2026-01-01T00:00:00Z")
    history.set_progress(job_id, "reading", 0.3)
    history.close()
    (data_dir / "jobs" / job_id).mkdir(parents=True)
    (data_dir / "jobs" / job_id / "stats.json").write_text('{"half": ')

    client = make_client()
    job = client.get(f"/api/v1/jobs/{job_id}", headers=AUTH).json()
    assert job["status"] == "interrupted" and job["error"] == CRASH_REASON
    assert not (data_dir / "jobs" / job_id).exists()
    r = client.get(f"/api/v1/jobs/{job_id}/result", headers=AUTH)
    assert r.status_code == 409 and CRASH_REASON in r.json()["error"]["message"]
    assert wait_for_job(client, inspect(client, dataset_id=dataset["id"])["id"])["status"] == "succeeded"


def test_a_killed_engine_leaves_its_inspection_interrupted(tmp_path, bpe_tokenizer_json):
    """The same with a real process killed mid-inspection: a corpus large enough that its
    inspection is still running when the kill comes."""
    corpus = b"".join(
        b"line %d of a corpus large enough to take a while to tokenize\n" % i for i in range(150_000)
    )
    engine = Engine(tmp_path / "data", tmp_path / "first.log")
    try:
        engine.wait_ready()
        http = engine.http
        dataset = http.post(
            "/api/v1/datasets", files={"file": ("big.txt", corpus)}, headers=ENGINE_AUTH
        ).json()
        tokenizer = http.post(
            "/api/v1/tokenizers", files={"file": ("t.json", bpe_tokenizer_json.encode())}, headers=ENGINE_AUTH
        ).json()
        job = http.post(
            "/api/v1/jobs",
            json={"dataset_id": dataset["id"], "tokenizer_id": tokenizer["id"]},
            headers=ENGINE_AUTH,
        ).json()
        deadline = time.monotonic() + 30
        while (state := http.get(f"/api/v1/jobs/{job['id']}", headers=ENGINE_AUTH).json())["progress"] == 0:
            assert state["status"] in ("queued", "running") and time.monotonic() < deadline, state
            time.sleep(0.01)
        assert state["status"] == "running", state
    finally:
        engine.kill()

    again = Engine(tmp_path / "data", tmp_path / "second.log")
    try:
        again.wait_ready()
        after = again.http.get(f"/api/v1/jobs/{job['id']}", headers=ENGINE_AUTH).json()
        assert after["status"] == "interrupted" and after["error"] == CRASH_REASON
        assert not (tmp_path / "data" / "jobs" / job["id"]).exists()
        again.proc.stdin.close()
        assert again.wait_exit() == 0
    finally:
        again.kill()
