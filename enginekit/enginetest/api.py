"""One engine's API in process, as its tests reach it: the settings an app is built with, a
`TestClient` per app, the token header, and the upload and job-polling calls every engine answers.

An app's conftest describes its engine once with an `EngineApi` and takes its fixtures from it:

    ENGINE = EngineApi("inspector", "X-Corpus-Inspector-Token", max_upload_bytes=..., ...)
    _restore_process_state, data_dir, make_client, client = ENGINE.fixtures()

pytest finds each fixture by the conftest's name for it, so a test module can still override one
(`data_dir`) with its own.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

TOKEN = "test-token-0123456789"
LAUNCH_ID = "launch-abc"
PORT = 8123
BASE_URL = f"http://127.0.0.1:{PORT}"
FINISHED = {"succeeded", "failed", "cancelled", "interrupted"}


class EngineApi:
    """What differs between the engines' in-process tests.

    `package` is the engine's package, with the entry points every engine has:
    `<package>.settings.Settings`, `<package>.server.create_app(settings, paths)` and
    `<package>.paths.DataPaths(root)`. `token_header` is the header the engine takes its token in,
    spelled out rather than derived from the prefix so the tests hold the engine to it.
    `max_upload_bytes` is the upload cap of the apps `make_settings` builds unless a test
    overrides it, `env_keys` the environment variables create_app points at the data folder (with
    tempfile's folder), and `poll_seconds` how long `wait_for_job` sleeps between two looks."""

    def __init__(
        self,
        package: str,
        token_header: str,
        *,
        max_upload_bytes: int,
        env_keys: tuple[str, ...],
        poll_seconds: float,
    ) -> None:
        self.settings = import_module(f"{package}.settings").Settings
        self.create_app = import_module(f"{package}.server").create_app
        self.data_paths = import_module(f"{package}.paths").DataPaths
        self.auth = {token_header: TOKEN}
        self.max_upload_bytes = max_upload_bytes
        self.env_keys = env_keys
        self.poll_seconds = poll_seconds

    def make_settings(self, **overrides) -> Any:
        values = {
            "token": TOKEN,
            "launch_id": LAUNCH_ID,
            "port": PORT,
            "web_dir": None,
            "max_upload_bytes": self.max_upload_bytes,
        }
        values.update(overrides)
        return self.settings(**values)

    def upload(self, client: TestClient, name: str, content: bytes, headers: dict | None = None):
        return client.post(
            "/api/v1/datasets",
            files={"file": (name, content, "application/octet-stream")},
            headers=self.auth if headers is None else headers,
        )

    def wait_for_job(self, client: TestClient, job_id: str, statuses=FINISHED, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = client.get(f"/api/v1/jobs/{job_id}", headers=self.auth).json()
            if job["status"] in statuses:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s: {job}")
            time.sleep(self.poll_seconds)

    def fixtures(self) -> tuple:
        """`_restore_process_state` (autouse), `data_dir`, `make_client` and `client`, in that order."""

        @pytest.fixture(autouse=True)
        def _restore_process_state() -> Iterator[None]:
            """create_app points env_keys and tempfile at the data folder; undo that after each test."""
            saved_env = {key: os.environ.get(key) for key in self.env_keys}
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
            return tmp_path / "data"

        @pytest.fixture
        def make_client(data_dir: Path):
            clients: list[TestClient] = []

            def factory(**overrides) -> TestClient:
                app = self.create_app(self.make_settings(**overrides), self.data_paths(data_dir))
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

        return _restore_process_state, data_dir, make_client, client


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
