"""Start-up loads what the first `/health` needs and nothing else; the routes mount on first use.

The server starts without routes (`app.server._MountOnFirstUse`): it answers the health probes
itself and mounts each router before the first request that could reach it. These tests keep
the deferred modules out of start-up, and the lazily mounted app the same as the eager one:
same answers, same route order, same security gate.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app import routes
from app.server import _MountOnFirstUse, build_api
from tests.conftest import AUTH, BASE_URL, ENGINEKIT_DIR, LAUNCH_ID, PORT

API_DIR = Path(__file__).resolve().parent.parent

# Loaded on first use, never for the first /health: the routes and their models, the dataset
# readers, the training core and the presets, the libraries behind them, the OpenAPI writer.
DEFERRED = {
    *(f"app.routes.{name}" for name in routes.ROUTERS),
    "app.models",
    "app.corpus",
    "app.parquet_pages",
    "app.openapi",
    "templates",
    "tokenizer",
    "tokenizers",
    "datasets",
    "huggingface_hub",
    "pyarrow",
    "pandas",
    "numpy",
    "torch",
    "pydantic.v1",
}

# Runs the engine's own start (`python -m app` minus the process exit) in a fresh interpreter,
# asks for /health over a socket, then prints what the process had imported by then.
_PROBE = r"""
import json, socket, sys, threading

import app.__main__  # what `python -m app` runs before main(): GC pause, import the server
from app.server import main

class Ready:
    def __init__(self):
        self.line = ""
        self.seen = threading.Event()
    def write(self, text):
        self.line += text
        if "\n" in self.line:
            self.seen.set()
    def flush(self):
        pass

ready = Ready()
sys.stdout, out = ready, sys.stdout
threading.Thread(target=main, args=(["--port", "0", "--no-stdin-watch"],), daemon=True).start()
assert ready.seen.wait(60), "no READY line"
port = json.loads(ready.line.split(" ", 1)[1])["port"]
with socket.create_connection(("127.0.0.1", port)) as conn:
    conn.sendall(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
    answer = b""
    while chunk := conn.recv(65536):
        answer += chunk
loaded = sorted(name for name, module in sys.modules.items() if module is not None)
out.write(json.dumps({"answer": answer.decode("latin-1"), "modules": loaded}))
out.flush()
import os
os._exit(0)
"""


def test_health_imports_none_of_the_deferred_modules(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKENIZER_STUDIO_", "PYTHON"))}
    env.update(
        # jobrunner, from where the runtime would have it beside the engine.
        PYTHONPATH=str(ENGINEKIT_DIR),
        TOKENIZER_STUDIO_DATA_DIR=str(tmp_path / "data"),
        TOKENIZER_STUDIO_RUNTIME_TOKEN="startup-test-token",
        TOKENIZER_STUDIO_LAUNCH_ID="startup-test",
    )
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=API_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    result = json.loads(done.stdout)
    assert result["answer"].startswith("HTTP/1.1 200"), result["answer"]
    assert '"launch_id":"startup-test"' in result["answer"]
    modules = set(result["modules"])
    assert {"fastapi", "uvicorn", "app.server"} <= modules  # the probe saw the real start
    assert modules & DEFERRED == set()


def _mounter(app) -> _MountOnFirstUse:
    layer = app.middleware_stack
    while not isinstance(layer, _MountOnFirstUse):
        layer = layer.app
    return layer


def _route_table(app) -> list:
    # FastAPI keeps an included router as one entry that points at the router itself.
    return [getattr(r, "original_router", None) or (r.path, r.name) for r in app.routes]


@pytest.mark.parametrize("launch_id", [LAUNCH_ID, None])
def test_the_probe_answers_with_the_health_routes_bytes(make_client, launch_id):
    client = make_client(launch_id=launch_id)
    before = {path: client.get(path) for path in ("/health", "/api/v1/health")}
    assert "health" not in _mounter(client.app).mounted
    client.get("/health/below")  # a path only the health router (and the web catch-all) can reach
    assert "health" in _mounter(client.app).mounted
    for path, probe in before.items():
        route = client.get(path)
        assert probe.status_code == route.status_code == 200
        assert probe.content == route.content
        assert probe.headers == route.headers
    assert before["/health"].json()["launch_id"] == launch_id


def test_routers_mount_in_any_order_into_the_eager_order(client):
    assert _mounter(client.app).mounted == {}
    for path in (
        "/",
        "/api/v1/system",
        "/api/v1/jobs",
        "/api/v1/session",
        "/health/below",
        "/api/v1/templates",
        "/api/v1/shutdown",  # a GET: 405, the engine keeps running
        "/api/v1/datasets",
    ):
        client.get(path, headers=AUTH)
    assert set(_mounter(client.app).mounted) == set(routes.ROUTERS)
    assert _route_table(client.app) == _route_table(build_api())


def test_a_path_mounts_only_the_routers_that_could_answer_it(client):
    assert client.get("/", headers=AUTH).status_code == 200
    assert set(_mounter(client.app).mounted) == {"web"}
    assert client.get("/api/v1/jobs", headers=AUTH).json() == []
    assert set(_mounter(client.app).mounted) == {"jobs", "web"}
    assert client.get("/api/v1/openapi.json", headers=AUTH).status_code == 200
    assert set(_mounter(client.app).mounted) == set(routes.ROUTERS)


def test_every_route_is_under_a_prefix_of_its_own_router():
    """`routes.routers_for` must name every router whose routes could match a path."""
    for name in routes.ROUTERS:
        for route in routes.load(name).routes:
            if name == routes.WEB:
                assert route.path == "/{rel_path:path}"
                continue
            assert ":path}" not in route.path, route.path  # a parameter never spans a "/"
            sample = route.path.replace("{", "").replace("}", "")
            assert name in routes.routers_for(sample), route.path
            owners = {
                owner
                for prefix, owner in routes.PREFIXES.items()
                if route.path == prefix or route.path.startswith(prefix + "/")
            }
            assert owners == {name}, (route.path, owners)
    for prefix, owner in routes.PREFIXES.items():
        for other, other_owner in routes.PREFIXES.items():
            if other_owner != owner:
                assert not (prefix == other or prefix.startswith(other + "/")), (prefix, other)


def test_the_gate_answers_before_anything_is_mounted(make_client):
    client = make_client(max_upload_bytes=1000)
    refused = [
        client.get("/api/v1/jobs"),
        client.get("/api/v1/jobs", headers={**AUTH, "Host": f"evil.example:{PORT}"}),
        client.get("/api/v1/datasets", headers={**AUTH, "Origin": "http://evil.example"}),
        client.post("/api/v1/session", content=b"x" * (17 * 1024)),
        client.post("/api/v1/datasets", content=b"x" * 70_000, headers=AUTH),
        client.get("/api/v1/openapi.json"),
    ]
    assert [r.status_code for r in refused] == [401, 403, 403, 413, 413, 401]
    assert _mounter(client.app).mounted == {}


def test_a_router_that_fails_to_load_is_a_500_then_loads_on_the_next_request(make_client, monkeypatch):
    client = TestClient(make_client().app, base_url=BASE_URL, raise_server_exceptions=False)
    real_load = routes.load
    failures = []

    def load_once_broken(name):
        if name == "jobs" and not failures:
            failures.append(name)
            raise ImportError("simulated broken module")
        return real_load(name)

    monkeypatch.setattr(routes, "load", load_once_broken)
    broken = client.get("/api/v1/jobs", headers=AUTH)
    assert broken.status_code == 500
    assert broken.json()["error"]["code"] == "internal_error"
    assert client.get("/api/v1/jobs", headers=AUTH).json() == []
    assert failures == ["jobs"]
