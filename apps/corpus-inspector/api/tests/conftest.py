"""Shared fixtures: an isolated data folder, an app with a token, request helpers, and a real
tokenizer trained with the `tokenizers` library."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from inspector.paths import DataPaths
from inspector.server import create_app
from inspector.settings import Settings

API_DIR = Path(__file__).resolve().parent.parent
# The shared packages (enginecore, jobrunner) the runtime carries in app/ beside the engine. pytest puts
# them on its own import path (pyproject.toml); engine processes the tests start (`python -m
# inspector` from API_DIR) find them through PYTHONPATH, set here for every child process.
ENGINEKIT_DIR = API_DIR.parents[2] / "enginekit"
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ENGINEKIT_DIR), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
)

TOKEN = "test-token-0123456789"
LAUNCH_ID = "launch-abc"
PORT = 8123
BASE_URL = f"http://127.0.0.1:{PORT}"
AUTH = {"X-Corpus-Inspector-Token": TOKEN}
FINISHED = {"succeeded", "failed", "cancelled", "interrupted"}


@pytest.fixture(autouse=True)
def _restore_process_state() -> Iterator[None]:
    """create_app points TMPDIR and tempfile at the data folder; undo that after each test."""
    saved_env = os.environ.get("TMPDIR")
    saved_tempdir = tempfile.tempdir
    yield
    if saved_env is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = saved_env
    tempfile.tempdir = saved_tempdir


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def make_settings(**overrides) -> Settings:
    values = {
        "token": TOKEN,
        "launch_id": LAUNCH_ID,
        "port": PORT,
        "web_dir": None,
        "max_upload_bytes": 2_000_000,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def make_client(data_dir: Path):
    clients: list[TestClient] = []

    def factory(**overrides) -> TestClient:
        app = create_app(make_settings(**overrides), DataPaths(data_dir))
        client = TestClient(app, base_url=BASE_URL)
        client.__enter__()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client) -> TestClient:
    return make_client()


def upload(client: TestClient, name: str, content: bytes, headers: dict | None = None):
    return client.post(
        "/api/v1/datasets",
        files={"file": (name, content, "application/octet-stream")},
        headers=AUTH if headers is None else headers,
    )


def upload_tokenizer(client: TestClient, content: bytes | str, name: str = "tokenizer.json"):
    data = content.encode() if isinstance(content, str) else content
    return client.post("/api/v1/tokenizers", files={"file": (name, data, "application/json")}, headers=AUTH)


def inspect(client: TestClient, **config) -> dict:
    r = client.post("/api/v1/jobs", json=config, headers=AUTH)
    assert r.status_code == 201, r.text
    return r.json()


def wait_for_job(client: TestClient, job_id: str, statuses=FINISHED, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=AUTH).json()
        if job["status"] in statuses:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s: {job}")
        time.sleep(0.02)


def result_of(client: TestClient, job_id: str) -> dict:
    job = wait_for_job(client, job_id)
    assert job["status"] == "succeeded", job
    r = client.get(f"/api/v1/jobs/{job_id}/result", headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# A small corpus with a vocabulary a BPE of a few hundred tokens cannot fully learn.
TRAINING_TEXT = [
    "the quick brown fox jumps over the lazy dog",
    "a tokenizer turns text into tokens and tokens into numbers",
    "corpus inspector counts words lines characters and tokens",
    "every document in a corpus has a length in characters",
    "the lazy dog sleeps while the quick fox runs",
] * 20


@pytest.fixture(scope="session")
def bpe_tokenizer_json() -> str:
    """A byte-pair tokenizer trained here with `tokenizers`, with an unknown token: what
    Tokenizer Studio saves for its "classic BPE" preset."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=120, special_tokens=["[UNK]"], show_progress=False)
    tokenizer.train_from_iterator(TRAINING_TEXT, trainer)
    return tokenizer.to_str()
