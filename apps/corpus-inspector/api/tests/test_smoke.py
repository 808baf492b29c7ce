"""smoke.py, the toolchain's check of a built runtime's engine, run against a real engine."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import API_DIR
from tests.engine import TOKEN, Engine

SMOKE = API_DIR / "smoke.py"


def run_smoke(*args: str, token: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORPUS_INSPECTOR_")}
    if token is not None:
        env["CORPUS_INSPECTOR_RUNTIME_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-I", str(SMOKE), *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=API_DIR.parent,
        env=env,
    )


@pytest.fixture
def engine(tmp_path):
    started = Engine(tmp_path / "data", tmp_path / "engine.log")
    started.wait_ready()
    yield started
    started.kill()


def test_the_smoke_test_passes_against_a_real_engine(engine, tmp_path):
    # As the toolchain's smoke tests run it: `python -I smoke.py --base-url URL`, the token in
    # the environment (never on a command line).
    done = run_smoke("--base-url", engine.base_url, token=TOKEN)
    assert done.returncode == 0, done.stdout + done.stderr + engine.stderr()
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Smoke test passed: 200 documents, "), done.stdout
    assert lines[0].endswith(" s.")
    # It removed what it added.
    assert [p.name for p in (tmp_path / "data" / "uploads" / "datasets").iterdir()] == []
    assert [p.name for p in (tmp_path / "data" / "jobs").iterdir()] == []
    assert engine.http.get("/api/v1/jobs", headers={"X-Corpus-Inspector-Token": TOKEN}).json() == {"jobs": []}


def test_the_smoke_test_fails_with_a_sentence(engine):
    done = run_smoke("--base-url", engine.base_url, "--token", "not-the-token", token=TOKEN)
    assert done.returncode == 1
    assert done.stdout == (
        "Smoke test failed: POST /api/v1/datasets answered 401: Missing or wrong credentials: send the "
        "X-Corpus-Inspector-Token header, or reopen the app window to get a new session.\n"
    )


def test_the_smoke_test_fails_when_no_engine_answers(engine):
    url = engine.base_url
    engine.proc.stdin.close()
    assert engine.wait_exit() == 0
    done = run_smoke("--base-url", url, "--token", TOKEN)
    assert done.returncode == 1
    assert done.stdout.startswith(f"Smoke test failed: the engine at {url} does not answer ("), done.stdout
