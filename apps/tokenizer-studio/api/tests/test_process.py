"""The real server process: READY line, health, exits (stdin EOF, SIGTERM, shutdown), restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from enginetest.process import copy_packages, runtime_engine, started
from tests.conftest import ENGINEKIT_DIR
from tests.corpus import text_corpus

API_DIR = Path(__file__).resolve().parent.parent
SLOW_SITE = Path(__file__).resolve().parent / "slow_site"
TOKEN = "process-test-token"
AUTH = {"X-Tokenizer-Studio-Token": TOKEN}
READY = "TOKENIZER_STUDIO_READY "
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


class Server:
    def __init__(
        self,
        data_dir: Path,
        log: Path,
        *,
        read_delay: float = 0.0,
        python_args=(),
        args=(),
        extra_env: dict[str, str] | None = None,
    ):
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENIZER_STUDIO_")}
        self.launch_id = f"launch-{time.monotonic_ns()}"
        env.update(
            TOKENIZER_STUDIO_RUNTIME_TOKEN=TOKEN,
            TOKENIZER_STUDIO_LAUNCH_ID=self.launch_id,
            TOKENIZER_STUDIO_DATA_DIR=str(data_dir),
        )
        if read_delay:
            env["PYTHONPATH"] = os.pathsep.join([str(SLOW_SITE), str(API_DIR), str(ENGINEKIT_DIR)])
            env["TS_TEST_READ_DELAY_S"] = str(read_delay)
        env.update(extra_env or {})
        self.log_path = log
        self.log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, *python_args, "-m", "app", "--port", "0", *args],
            cwd=API_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        self.ready = None
        self.port = None

    def wait_ready(self, timeout: float = 20.0) -> dict:
        box: dict = {}

        def read() -> None:
            box["line"] = self.proc.stdout.readline().decode()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        line = box.get("line")
        assert line, f"no READY line within {timeout} s; stderr:\n{self.stderr()}"
        assert line.startswith(READY) and line.endswith("\n"), line
        self.ready = json.loads(line[len(READY) :])
        self.port = self.ready["port"]
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)
        return self.ready

    def stderr(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_exit(self, timeout: float = 15.0) -> int:
        code = self.proc.wait(timeout)
        self.rest_of_stdout = self.proc.stdout.read()
        self.log.close()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()

    def wait_job(self, job_id: str, statuses: set[str], timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.http.get(f"/api/v1/jobs/{job_id}", headers=AUTH).json()
            if job["status"] in statuses:
                return job
            assert time.monotonic() < deadline, job
            time.sleep(0.05)

    def start_job(self, content: bytes, template: str = "classic-bpe") -> str:
        ds = self.http.post("/api/v1/datasets", files={"file": ("c.txt", content)}, headers=AUTH).json()
        r = self.http.post(
            "/api/v1/jobs",
            json={"template": template, "dataset_ids": [ds["id"]], "overrides": {"vocab_size": 500}},
            headers=AUTH,
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]


@pytest.fixture
def servers(tmp_path):
    yield from started(Server, tmp_path, "stderr")


def test_ready_line_health_and_exit_on_stdin_eof(servers):
    server = servers()
    ready = server.wait_ready()
    assert set(ready) == {"port", "pid", "version", "launch_id"}
    assert ready["pid"] == server.proc.pid
    assert ready["version"] == "0.1.0"
    assert ready["launch_id"] == server.launch_id
    assert 0 < ready["port"] < 65536
    for path in ("/health", "/api/v1/health"):
        r = server.http.get(path)
        assert r.status_code == 200
        assert r.json() == {"status": "ok", "version": "0.1.0", "launch_id": server.launch_id}
    assert server.http.get("/api/v1/templates").status_code == 401
    assert server.http.get("/api/v1/templates", headers=AUTH).status_code == 200
    assert server.http.get("/health", headers={"Host": "evil.example"}).status_code == 403

    server.proc.stdin.close()  # the parent is gone
    started = time.monotonic()
    assert server.wait_exit(10) == 0
    assert time.monotonic() - started < 5
    assert server.rest_of_stdout == b""  # exactly one stdout line in the whole run
    log = server.stderr()
    assert "stdin closed" in log
    assert TOKEN not in log


def test_authenticated_shutdown(servers):
    server = servers()
    server.wait_ready()
    assert server.http.post("/api/v1/shutdown").status_code == 401
    assert server.proc.poll() is None
    r = server.http.post("/api/v1/shutdown", headers=AUTH)
    assert r.status_code == 202
    assert server.wait_exit(10) == 0
    assert server.rest_of_stdout == b""


@posix_only
def test_sigterm_interrupts_running_job_and_restart_lists_it(servers):
    server = servers(read_delay=0.002)
    server.wait_ready()
    job_id = server.start_job(text_corpus(200_000))
    server.wait_job(job_id, {"running"})
    server.proc.send_signal(signal.SIGTERM)
    assert server.wait_exit(10) == 0
    assert server.rest_of_stdout == b""

    again = servers()
    assert again.wait_ready()["launch_id"] == again.launch_id
    jobs = again.http.get("/api/v1/jobs", headers=AUTH).json()
    assert [j["id"] for j in jobs] == [job_id]
    assert jobs[0]["status"] == "interrupted"
    assert "server stopped" in jobs[0]["error"]
    again.proc.stdin.close()
    assert again.wait_exit(10) == 0


@posix_only
def test_sigint_exits_cleanly(servers):
    server = servers()
    server.wait_ready()
    server.proc.send_signal(signal.SIGINT)
    assert server.wait_exit(10) == 0


@posix_only
def test_killed_mid_run_then_restart(servers):
    server = servers(read_delay=0.002)
    server.wait_ready()
    finished = server.start_job(b"tiny corpus line\nanother line\n")
    assert server.wait_job(finished, {"succeeded", "failed"})["status"] == "succeeded"
    killed = server.start_job(text_corpus(200_000))
    server.wait_job(killed, {"running"})
    server.proc.kill()  # no chance to clean up
    server.proc.wait(10)

    again = servers()
    again.wait_ready()
    jobs = {j["id"]: j for j in again.http.get("/api/v1/jobs", headers=AUTH).json()}
    assert set(jobs) == {finished, killed}
    assert jobs[finished]["status"] == "succeeded"
    assert jobs[finished]["artifact"]["path"].endswith("tokenizer.json")
    assert jobs[killed]["status"] == "interrupted"
    logs = again.http.get(f"/api/v1/jobs/{killed}/logs", headers=AUTH).json()["lines"]
    assert logs[-1]["message"].startswith("Interrupted")
    tried = again.http.post(f"/api/v1/jobs/{finished}/try", json={"text": "tiny line"}, headers=AUTH)
    assert tried.status_code == 200
    again.proc.stdin.close()
    assert again.wait_exit(10) == 0


def test_refuses_other_hosts(tmp_path):
    env = {**os.environ, "TOKENIZER_STUDIO_DATA_DIR": str(tmp_path / "data")}
    for host in ("0.0.0.0", "192.168.1.5", "::"):
        done = subprocess.run(
            [sys.executable, "-m", "app", "--host", host],
            cwd=API_DIR,
            env=env,
            capture_output=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 2
        assert done.stdout == b""
        assert b"127.0.0.1" in done.stderr


def test_startup_imports_stay_light(servers):
    server = servers(python_args=("-X", "importtime"))
    server.wait_ready()
    assert server.http.get("/health").status_code == 200
    server.proc.stdin.close()
    assert server.wait_exit(10) == 0
    modules = set()
    for line in server.stderr().splitlines():
        if line.startswith("import time:") and "|" in line:
            modules.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert "fastapi" in modules and "uvicorn" in modules  # the parse worked
    heavy = {"datasets", "pyarrow", "tokenizers", "numpy", "pandas", "tokenizer", "huggingface_hub", "torch"}
    assert modules & heavy == set()


def test_health_is_answered_on_the_event_loop():
    # A sync endpoint or dependency runs in anyio's thread pool: the supervisor's first probe
    # would wait for the pool (and its engine import) to start.
    import inspect

    from app.context import get_ctx
    from app.routes.health import health

    assert inspect.iscoroutinefunction(health) and inspect.iscoroutinefunction(get_ctx)


def test_gc_paused_for_the_imports_is_resumed_and_frozen():
    import gc

    from app.server import _resume_gc

    was_enabled = gc.isenabled()
    try:
        gc.disable()  # as app/__main__.py does before importing the server
        _resume_gc()
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0
        frozen = gc.get_freeze_count()
        _resume_gc()  # with the GC already on (imported by anything else): nothing happens
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
        if not was_enabled:
            gc.disable()


def test_runs_from_a_runtime_layout_in_isolated_mode(tmp_path):
    """As the toolchain ships it: runtime/app/{app,enginecore,jobrunner,tokenizer,templates},
    runtime/web, `-I`."""
    runtime = tmp_path / "runtime"
    own = [API_DIR / package for package in ("app", "tokenizer", "templates")]
    copy_packages(runtime / "app", own, ["enginecore", "jobrunner"])
    (runtime / "web" / "assets").mkdir(parents=True)
    (runtime / "web" / "index.html").write_text("<html>RUNTIME UI</html>")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENIZER_STUDIO_")}
    env.update(TOKENIZER_STUDIO_DATA_DIR=str(tmp_path / "data"), TOKENIZER_STUDIO_LAUNCH_ID="rt")
    with runtime_engine(runtime, "app", env) as proc:
        line = proc.stdout.readline().decode()
        assert line.startswith(READY), line
        port = json.loads(line[len(READY) :])["port"]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            assert http.get("/health").json()["launch_id"] == "rt"
            assert "RUNTIME UI" in http.get("/").text
            assert http.get("/api/v1/templates").status_code == 200  # no token: dev mode
        proc.stdin.close()
        assert proc.wait(10) == 0
        assert proc.stdout.read() == b""
    assert (tmp_path / "data" / "db" / "tokenizer_studio.db").is_file()
