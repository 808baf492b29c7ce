"""The launch contract, on real engine processes: READY line, health, token, Host and Origin
checks, the launch-code session, the exits (stdin EOF, signals, shutdown) and bad settings."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from enginetest.process import copy_packages, runtime_engine, started
from inspector import __version__
from tests.conftest import API_DIR
from tests.engine import AUTH, READY, TOKEN, Engine, engine_env

WEB_DIR = API_DIR.parent / "web"
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and modes")


@pytest.fixture
def engines(tmp_path):
    yield from started(Engine, tmp_path, "engine")


def test_ready_line_health_and_the_token(engines, tmp_path):
    engine = engines()
    line, ready = engine.wait_ready()
    assert set(ready) == {"port", "pid", "version", "launch_id"}
    assert ready["pid"] == engine.proc.pid and ready["version"] == __version__
    assert ready["launch_id"] == engine.launch_id
    http = engine.http
    for path in ("/health", "/api/v1/health"):
        r = http.get(path)
        assert r.status_code == 200
        assert r.json() == {"status": "ok", "version": __version__, "launch_id": engine.launch_id}
    # Every other API call needs the token (or a session).
    r = http.get("/api/v1/datasets")
    assert r.status_code == 401 and "X-Corpus-Inspector-Token" in r.json()["error"]["message"]
    assert http.get("/api/v1/datasets", headers={"X-Corpus-Inspector-Token": "wrong"}).status_code == 401
    assert http.get("/api/v1/openapi.json").status_code == 401
    assert http.get("/api/v1/datasets", headers=AUTH).json() == {"datasets": []}
    # Only requests addressed to 127.0.0.1 or localhost with this port, from its own pages.
    r = http.get("/health", headers={"Host": "evil.example:80"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_host"
    assert http.get("/health", headers={"Host": f"127.0.0.1:{engine.port + 1}"}).status_code == 403
    assert http.get("/health", headers={"Host": f"localhost:{engine.port}"}).status_code == 200
    r = http.get("/api/v1/datasets", headers={**AUTH, "Origin": "http://evil.example"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_origin"
    assert http.get("/api/v1/datasets", headers={**AUTH, "Origin": engine.base_url}).status_code == 200
    r = http.get("/health")
    assert (
        r.headers["x-content-type-options"] == "nosniff"
        and "frame-ancestors 'none'" in r.headers["content-security-policy"]
    )
    # The parent goes away: stdin closes, the engine exits 0, having printed nothing more.
    engine.proc.stdin.close()
    assert engine.wait_exit() == 0
    assert engine.rest_of_stdout == b""
    log = (tmp_path / "data" / "logs" / "server.log").read_text()
    assert f"listening on http://127.0.0.1:{engine.port}" in log and TOKEN not in log


def test_the_launch_code_opens_a_session_for_the_page(engines):
    engine = engines()
    engine.wait_ready()
    http = engine.http
    assert http.get("/api/v1/session").json() == {"authenticated": False, "token_required": True}
    # The shell, holding the token, asks for a code; the page exchanges it for a cookie.
    code = http.post("/api/v1/session/launch-code", headers=AUTH).json()
    assert code["expires_in"] == 60
    page = httpx.Client(base_url=engine.base_url, timeout=10)
    try:
        assert "Corpus Inspector" in page.get("/").text
        r = page.post("/api/v1/session", json={"code": code["code"]})
        assert r.status_code == 204
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"cisession_{engine.port}=")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert page.get("/api/v1/session").json() == {"authenticated": True, "token_required": True}
        assert page.get("/api/v1/datasets").status_code == 200
        # A session is not the token: it cannot mint codes for other pages.
        r = page.post("/api/v1/session/launch-code")
        assert r.status_code == 403 and r.json()["error"]["code"] == "token_required"
    finally:
        page.close()
    # A code works once.
    r = http.post("/api/v1/session", json={"code": code["code"]})
    assert r.status_code == 401 and "reopen the app window" in r.json()["error"]["message"]
    stranger = httpx.Client(base_url=engine.base_url, cookies={f"cisession_{engine.port}": "guess"})
    try:
        assert stranger.get("/api/v1/datasets").status_code == 401
    finally:
        stranger.close()


@posix_only
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_exits_0(engines, sig):
    engine = engines()
    engine.wait_ready()
    engine.proc.send_signal(sig)
    assert engine.wait_exit() == 0


def test_the_shutdown_call_exits_0(engines):
    engine = engines()
    engine.wait_ready()
    assert engine.http.post("/api/v1/shutdown").status_code == 401
    r = engine.http.post("/api/v1/shutdown", headers=AUTH)
    assert r.status_code == 202 and r.json() == {"status": "shutting_down"}
    assert engine.wait_exit() == 0


def run_engine(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args],
        cwd=API_DIR,
        env=engine_env(tmp_path / "data", **env),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::", "example.com"])
def test_another_host_exits_2(tmp_path, host):
    done = run_engine(tmp_path, "--host", host)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "127.0.0.1" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        (("--port", "70000"), {}, "out of range"),
        (("--port", "eighty"), {}, "invalid int value"),
        (("--web-dir", "/nonexistent/ui"), {}, "has no index.html"),
        ((), {"CORPUS_INSPECTOR_WEB_DIR": "/nonexistent/ui"}, "has no index.html"),
        ((), {"CORPUS_INSPECTOR_MAX_UPLOAD_BYTES": "lots"}, "must be a number of bytes"),
        ((), {"CORPUS_INSPECTOR_MAX_UPLOAD_BYTES": "-5"}, "positive"),
        (("--colour",), {}, "unrecognized arguments"),
    ],
)
def test_invalid_settings_exit_2(tmp_path, args, env, words):
    done = run_engine(tmp_path, *args, **env)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], done.stderr


def test_a_data_folder_that_is_a_file_exits_2(tmp_path):
    (tmp_path / "a-file").write_text("x")
    done = run_engine(tmp_path, "--data-dir", str(tmp_path / "a-file"))
    assert done.returncode == 2 and "is a file" in done.stderr


@posix_only
def test_the_data_folder_is_created_private(engines, tmp_path):
    engine = engines()
    engine.wait_ready()
    data = tmp_path / "data"
    for folder in (
        data,
        data / "db",
        data / "uploads",
        data / "uploads" / "datasets",
        data / "jobs",
        data / "logs",
    ):
        assert folder.is_dir() and (folder.stat().st_mode & 0o777) == 0o700, folder
    assert (data / "db" / "corpus_inspector.db").stat().st_mode & 0o777 == 0o600


def test_runs_from_a_runtime_layout_in_isolated_mode(tmp_path):
    """As the toolchain ships it: runtime/app/{inspector,enginecore,jobrunner}, runtime/web, `python -I`."""
    runtime = tmp_path / "runtime"
    copy_packages(runtime / "app", [API_DIR / "inspector"], ["enginecore", "jobrunner"])
    shutil.copytree(WEB_DIR, runtime / "web", ignore=shutil.ignore_patterns("__pycache__"))
    env = engine_env(tmp_path / "data", CORPUS_INSPECTOR_LAUNCH_ID="rt", CORPUS_INSPECTOR_RUNTIME_TOKEN=TOKEN)
    with runtime_engine(runtime, "inspector", env) as proc:
        line = proc.stdout.readline().decode()
        assert line.startswith(READY), line
        port = int(line.split('"port": ')[1].split(",")[0])
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            assert http.get("/health").json()["launch_id"] == "rt"
            # The UI is <runtime>/web, found without being told.
            page = http.get("/")
            assert page.status_code == 200 and "<title>Corpus Inspector</title>" in page.text
            script = http.get("/app.js")
            assert script.headers["content-type"].startswith("text/javascript")
            assert http.get("/api/v1/datasets", headers=AUTH).status_code == 200
        proc.stdin.close()
        assert proc.wait(20) == 0
