"""Shared fixtures: an isolated data dir, an app with a token, and request helpers."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.paths import DataPaths
from app.server import create_app
from app.settings import Settings

# The shared packages (enginecore, jobrunner) the runtime carries in app/ beside the engine's own. pytest puts
# them on its own import path (pyproject.toml); the engine processes the tests start (`python -m
# app` from this folder) find them through PYTHONPATH, set here for every child process.
ENGINEKIT_DIR = Path(__file__).resolve().parents[4] / "enginekit"
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ENGINEKIT_DIR), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
)

TOKEN = "test-token-0123456789"
LAUNCH_ID = "launch-abc"
PORT = 8123
BASE_URL = f"http://127.0.0.1:{PORT}"
AUTH = {"X-Tokenizer-Studio-Token": TOKEN}
FINISHED = {"succeeded", "failed", "cancelled", "interrupted"}
_ENV_KEYS = (
    "HF_HOME",
    "HF_DATASETS_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TMPDIR",
)


@pytest.fixture(autouse=True)
def _restore_process_state() -> Iterator[None]:
    """create_app points env vars and tempfile at the data dir; undo that after each test."""
    saved_env = {k: os.environ.get(k) for k in _ENV_KEYS}
    saved_tempdir = tempfile.tempdir
    yield
    for key, value in saved_env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    tempfile.tempdir = saved_tempdir


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    return root


def make_settings(**overrides) -> Settings:
    values = {
        "token": TOKEN,
        "launch_id": LAUNCH_ID,
        "port": PORT,
        "web_dir": None,
        "max_upload_bytes": 5_000_000,
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


def wait_for_job(client: TestClient, job_id: str, statuses=FINISHED, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=AUTH).json()
        if job["status"] in statuses:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s: {job}")
        time.sleep(0.05)


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
