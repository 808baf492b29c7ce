"""A real engine process for the tests: `python -m inspector` started as the supervisor starts
it, with its READY line read and its exit awaited."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.conftest import API_DIR

TOKEN = "process-test-token"
AUTH = {"X-Corpus-Inspector-Token": TOKEN}
READY = "CORPUS_INSPECTOR_READY "


def engine_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORPUS_INSPECTOR_")}
    env.update(CORPUS_INSPECTOR_DATA_DIR=str(data_dir), **extra)
    return env


class Engine:
    def __init__(self, data_dir: Path, log: Path, *, args=(), token: str | None = TOKEN, env=None) -> None:
        self.launch_id = f"launch-{time.monotonic_ns()}"
        extra = {"CORPUS_INSPECTOR_LAUNCH_ID": self.launch_id}
        if token is not None:
            extra["CORPUS_INSPECTOR_RUNTIME_TOKEN"] = token
        self.log_path = log
        self.log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inspector", "--port", "0", *args],
            cwd=API_DIR,
            env=env or engine_env(data_dir, **extra),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        self.port: int | None = None
        self.http: httpx.Client | None = None

    def wait_ready(self, timeout: float = 30.0) -> tuple[str, dict]:
        box: dict = {}

        def read() -> None:
            box["line"] = self.proc.stdout.readline().decode()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        line = box.get("line")
        assert line, f"no READY line within {timeout} s; stderr:\n{self.stderr()}"
        assert line.startswith(READY) and line.endswith("\n"), line
        ready = json.loads(line[len(READY) :])
        self.port = ready["port"]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.http = httpx.Client(base_url=self.base_url, timeout=30)
        return line, ready

    def stderr(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_exit(self, timeout: float = 20.0) -> int:
        code = self.proc.wait(timeout)
        self.rest_of_stdout = self.proc.stdout.read()
        self.close()
        return code

    def close(self) -> None:
        if self.http is not None:
            self.http.close()
        self.log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.close()
