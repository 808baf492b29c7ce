"""enginecore, the launch contract every app's engine shares: the app's names, the data root,
the launch options, the error shape, the request gate, uploads, and a real launch of a
throwaway engine built on it alone."""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel

from enginecore import EngineApp
from enginecore import paths as core_paths
from enginecore.errors import ApiError, install_error_handlers
from enginecore.security import (
    CONTENT_SECURITY_POLICY,
    OPEN_ROUTE_MAX_BODY,
    RouteLimit,
    SecurityMiddleware,
    SessionStore,
)
from enginecore.settings import SettingsError, launch_parser, parse_launch
from enginecore.uploads import (
    MULTIPART_OVERHEAD,
    DiskChecks,
    UploadKind,
    UploadWords,
    receive_upload,
    sanitize_filename,
)

ENGINEKIT_DIR = Path(__file__).resolve().parent.parent
THROWAWAY = Path(__file__).resolve().parent / "throwaway_engine.py"
ENGINE = EngineApp(prefix="SAMPLE_APP", product="Sample App", data_dir_name="SampleApp")
PORT = 8123
HOST = {"host": f"127.0.0.1:{PORT}"}
TOKEN = "t0ken"


def test_enginecore_imports_only_the_standard_library_and_the_web_stack():
    """Every app's engine carries this package: it names no app's package, nor enginekit's
    others (an app may not carry them), only what every engine has."""
    allowed = set(sys.stdlib_module_names) | {
        "enginecore",
        "__future__",
        "fastapi",
        "starlette",
        "uvicorn",
        "pydantic",
        "python_multipart",
    }
    for module in (ENGINEKIT_DIR / "enginecore").glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, (module.name, name)


def test_the_app_names_its_variables_ready_line_and_token_header():
    assert ENGINE.env_data_dir == "SAMPLE_APP_DATA_DIR"
    assert ENGINE.env_token == "SAMPLE_APP_RUNTIME_TOKEN"
    assert ENGINE.env_launch_id == "SAMPLE_APP_LAUNCH_ID"
    assert ENGINE.env_web_dir == "SAMPLE_APP_WEB_DIR"
    assert ENGINE.env_max_upload == "SAMPLE_APP_MAX_UPLOAD_BYTES"
    assert ENGINE.ready_prefix == "SAMPLE_APP_READY"
    # The launcher's rule: X-, the prefix's words capitalized and joined by -, then -Token.
    assert ENGINE.token_header == "X-Sample-App-Token"
    assert EngineApp("TOKENIZER_STUDIO", "Tokenizer Studio", "TokenizerStudio").token_header == (
        "X-Tokenizer-Studio-Token"
    )
    assert ENGINE.web_dir is None
    assert EngineApp("A", "A", "A", package_root=Path("/r")).web_dir == Path("/r/web")


# --- paths -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "env", "home", "expected"),
    [
        ("linux", {}, "/home/u", PurePosixPath("/home/u/.local/share/SampleApp")),
        ("linux", {"XDG_DATA_HOME": "/x"}, "/home/u", PurePosixPath("/x/SampleApp")),
        ("linux", {"XDG_DATA_HOME": "rel"}, "/home/u", PurePosixPath("/home/u/.local/share/SampleApp")),
        ("darwin", {}, "/Users/u", PurePosixPath("/Users/u/Library/Application Support/SampleApp")),
        ("win32", {"APPDATA": r"C:\A"}, r"C:\U", PureWindowsPath(r"C:\A\SampleApp")),
        ("win32", {}, r"C:\U", PureWindowsPath(r"C:\U\AppData\Roaming\SampleApp")),
        ("linux", {"SAMPLE_APP_DATA_DIR": " /d "}, None, PurePosixPath("/d")),
        ("linux", {"SAMPLE_APP_DATA_DIR": "  "}, "/h", PurePosixPath("/h/.local/share/SampleApp")),
    ],
)
def test_the_data_root_per_os(platform, env, home, expected):
    assert core_paths.resolve_data_root(ENGINE, platform, env, home) == expected


def test_no_home_asks_for_the_variable():
    with pytest.raises(ValueError, match="set SAMPLE_APP_DATA_DIR"):
        core_paths.resolve_data_root(ENGINE, "linux", {}, None)


@pytest.mark.skipif(os.name != "posix", reason="modes are POSIX")
def test_the_data_folders_are_private_every_start(tmp_path):
    root = tmp_path / "data"
    folders = [root / "db", root / "a" / "b"]
    core_paths.prepare_private(root, folders)
    (root / "a").chmod(0o755)
    core_paths.prepare_private(root, folders)
    for folder in [root, *folders, root / "a"]:
        assert folder.stat().st_mode & 0o777 == 0o700, folder
    file = root / "f"
    file.write_text("x")
    file.chmod(0o644)
    core_paths.make_private_file(file)
    assert file.stat().st_mode & 0o777 == 0o600


def test_data_root_prefers_the_option(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMPLE_APP_DATA_DIR", str(tmp_path / "from-env"))
    assert core_paths.data_root(ENGINE, tmp_path / "opt") == tmp_path / "opt"
    assert core_paths.data_root(ENGINE) == tmp_path / "from-env"


# --- settings --------------------------------------------------------------------------------


def _parse(argv, env=None, **options):
    options = {"default_max_upload": 1000, "default_web_dir": None, "web_dir_hint": "fix it"} | options
    parser = launch_parser("sample", "Sample engine")
    return parse_launch(ENGINE, parser, argv, env or {}, **options)[1]


def test_launch_settings_from_options_and_variables(tmp_path):
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<html></html>")
    env = {
        "SAMPLE_APP_RUNTIME_TOKEN": "tok",
        "SAMPLE_APP_LAUNCH_ID": "lid",
        "SAMPLE_APP_MAX_UPLOAD_BYTES": "77",
        "SAMPLE_APP_WEB_DIR": str(web),
    }
    settings = _parse(["--port", "5", "--no-stdin-watch", "--data-dir", str(tmp_path)], env)
    assert (settings.port, settings.token, settings.launch_id) == (5, "tok", "lid")
    assert (settings.max_upload_bytes, settings.web_dir, settings.data_dir) == (77, web, tmp_path)
    assert settings.stdin_watch is False
    defaults = _parse([])
    assert (defaults.port, defaults.token, defaults.max_upload_bytes, defaults.stdin_watch) == (
        0,
        None,
        1000,
        True,
    )


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--host", "0.0.0.0"], {}, "--host '0.0.0.0' is refused"),
        (["--port", "70000"], {}, "--port 70000 is out of range"),
        (["--port", "x"], {}, "invalid int value"),
        (
            [],
            {"SAMPLE_APP_MAX_UPLOAD_BYTES": "lots"},
            "SAMPLE_APP_MAX_UPLOAD_BYTES must be a number of bytes",
        ),
        ([], {"SAMPLE_APP_MAX_UPLOAD_BYTES": "0"}, "must be a positive number of bytes"),
        (["--web-dir", "/nowhere"], {}, "has no index.html; fix it"),
    ],
)
def test_unusable_launch_settings_say_what_to_change(argv, env, message):
    with pytest.raises(SettingsError, match=message):
        _parse(argv, env)


def test_blank_variables_count_as_unset_unless_told_otherwise():
    assert _parse([], {"SAMPLE_APP_MAX_UPLOAD_BYTES": "  "}).max_upload_bytes == 1000
    with pytest.raises(SettingsError, match="must be a number of bytes"):
        _parse([], {"SAMPLE_APP_MAX_UPLOAD_BYTES": "  "}, trim_env=False)


def test_a_parser_that_does_not_raise_exits_2_itself():
    with pytest.raises(SystemExit) as exited:
        launch_parser("sample", "Sample engine", raise_errors=False).parse_args(["--port", "x"])
    assert exited.value.code == 2


# --- the gate, errors and uploads, on a tiny app -----------------------------------------------

UPLOAD_LIMIT = 100
TEXT = UploadKind(
    format_of=lambda name: "txt" if name.endswith(".txt") else None,
    unsupported="Only .txt.",
    too_large=lambda limit: f"Over {limit} bytes.",
    empty="Empty.",
    not_text="Not text.",
)
WORDS = UploadWords(
    no_name="No name.",
    one_file="One file.",
    malformed="Malformed.",
    cut_off="Cut off.",
    keep_fields=True,
)
DISK = DiskChecks(
    ensure_free_space=lambda folder, needed, what, root: None,
    is_disk_full=lambda exc: isinstance(exc, OSError) and exc.errno == 28,
    free_bytes=lambda folder: 0,
    disk_full=lambda root, what, needed, free: ApiError(507, "disk_full", f"No room for {what}."),
)


class Gate(SecurityMiddleware):
    token_header = ENGINE.token_header.lower()
    cookie_prefix = "sasession"
    host_refused = "Wrong host."
    origin_refused = "Wrong origin."
    json_max_body = 1000

    def route_limit(self, method: str, path: str) -> RouteLimit:
        if (method, path) == ("POST", "/api/v1/files"):
            return UPLOAD_LIMIT + MULTIPART_OVERHEAD, lambda: TEXT.too_large_error(UPLOAD_LIMIT)
        return super().route_limit(method, path)


class Config(BaseModel):
    n: int


@pytest.fixture
def client(tmp_path):
    app = FastAPI()
    sessions = SessionStore()
    install_error_handlers(
        app,
        log=logging.getLogger("enginecore-test"),
        disk_full=lambda _request, exc: (
            JSONResponse({"error": {"code": "disk_full"}}, status_code=507)
            if isinstance(exc, OSError) and exc.errno == 28
            else None
        ),
    )
    options = {"port": PORT, "token": TOKEN, "sessions": sessions, "cors_origins": ("http://dev:5173",)}
    auth = Gate(None, **options)

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.post("/api/v1/session/launch-code")
    def launch_code(request: Request) -> dict:
        if not auth.has_token(request.scope):
            raise ApiError(403, "token_required", "Token only.")
        return {"code": sessions.issue_code()}

    @app.post("/api/v1/session")
    async def session(request: Request) -> JSONResponse:
        secret = sessions.redeem((await request.json())["code"])
        if secret is None:
            raise ApiError(401, "bad_code", "Bad code.")
        response = JSONResponse({"ok": True})
        response.set_cookie(Gate.cookie_name(PORT), secret, httponly=True)
        return response

    @app.post("/api/v1/config")
    def config(body: Config) -> dict:
        return {"n": body.n}

    @app.get("/api/v1/boom")
    def boom() -> dict:
        raise RuntimeError("secret detail")

    @app.get("/api/v1/full")
    def full() -> dict:
        raise OSError(28, "No space left on device")

    @app.post("/api/v1/files")
    async def upload(request: Request) -> dict:
        received = await receive_upload(
            request, tmp_path, UPLOAD_LIMIT, kind=TEXT, words=WORDS, disk=DISK, data_root=tmp_path
        )
        body = received.temp_path.read_bytes()
        received.temp_path.unlink()
        return {
            "name": received.display_name,
            "size": received.size_bytes,
            "sha": received.sha256,
            "fields": received.fields,
            "same": hashlib.sha256(body).hexdigest() == received.sha256,
        }

    app.add_middleware(Gate, **options)
    with TestClient(app, base_url=f"http://127.0.0.1:{PORT}", raise_server_exceptions=False) as c:
        yield c


AUTH = {"x-sample-app-token": TOKEN}


def test_host_and_origin_are_checked_first(client):
    refused = client.get("/health", headers={"host": "evil.example:8123"})
    assert (refused.status_code, refused.json()["error"]) == (
        403,
        {"code": "forbidden_host", "message": "Wrong host."},
    )
    refused = client.get("/health", headers={"origin": "http://evil.example"})
    assert (refused.status_code, refused.json()["error"]["message"]) == (403, "Wrong origin.")
    assert client.get("/health", headers={"origin": f"http://localhost:{PORT}"}).status_code == 200


def test_the_api_needs_the_token_header_or_a_session(client):
    refused = client.post("/api/v1/config", json={"n": 1})
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == (
        "Missing or wrong credentials: send the X-Sample-App-Token header, or "
        "reopen the app window to get a new session."
    )
    assert (
        client.post("/api/v1/config", json={"n": 1}, headers={"x-sample-app-token": "nope"}).status_code
        == 401
    )
    assert client.post("/api/v1/config", json={"n": 1}, headers=AUTH).json() == {"n": 1}
    code = client.post("/api/v1/session/launch-code", headers=AUTH).json()["code"]
    assert client.post("/api/v1/session", json={"code": code}).status_code == 200
    assert client.cookies.get(f"sasession_{PORT}")
    assert client.post("/api/v1/config", json={"n": 2}).json() == {"n": 2}
    # A launch code is good once; a session cannot get another code (it needs the token).
    assert client.post("/api/v1/session", json={"code": code}).status_code == 401
    assert client.post("/api/v1/session/launch-code").status_code == 403


def test_a_launch_code_expires(monkeypatch):
    import enginecore.security as security

    store = SessionStore()
    code = store.issue_code()
    real = security.time.monotonic
    monkeypatch.setattr(security.time, "monotonic", lambda: real() + security.LAUNCH_CODE_TTL_S + 1)
    assert store.redeem(code) is None


def test_every_answer_carries_the_hardening_headers(client):
    for response in (client.get("/health"), client.get("/api/v1/config", headers=AUTH)):
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"


def test_a_listed_dev_origin_gets_cors_and_a_preflight(client):
    origin = {"origin": "http://dev:5173"}
    preflight = client.options("/api/v1/config", headers=origin | {"access-control-request-method": "POST"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "http://dev:5173"
    assert "x-sample-app-token" in preflight.headers["access-control-allow-headers"]
    answer = client.post("/api/v1/config", json={"n": 3}, headers=origin | AUTH)
    assert answer.headers["access-control-allow-origin"] == "http://dev:5173"
    assert "access-control-allow-origin" not in client.get("/health").headers


def test_bodies_are_capped_declared_or_streamed(client):
    big = b"x" * (OPEN_ROUTE_MAX_BODY + 1)
    refused = client.post("/api/v1/session", content=big)
    assert refused.status_code == 413
    assert refused.json()["error"]["message"] == (
        f"The request body is larger than the {OPEN_ROUTE_MAX_BODY:,} bytes this endpoint accepts; send less."
    )
    assert refused.headers["content-security-policy"] == CONTENT_SECURITY_POLICY

    def chunks():
        for _ in range(3):
            yield b"y" * 600

    streamed = client.post("/api/v1/config", content=chunks(), headers=AUTH)
    assert streamed.status_code == 413
    assert "1,000 bytes" in streamed.json()["error"]["message"]


def test_errors_have_one_shape(client):
    missing = client.get("/nothing")
    assert (missing.status_code, missing.json()) == (
        404,
        {"error": {"code": "not_found", "message": "Nothing here; check the URL."}},
    )
    invalid = client.post("/api/v1/config", json={"n": "many"}, headers=AUTH)
    assert invalid.status_code == 422
    assert invalid.json()["error"]["code"] == "invalid_request"
    assert invalid.json()["error"]["details"][0]["field"] == "n"
    crashed = client.get("/api/v1/boom", headers=AUTH)
    assert crashed.status_code == 500
    assert "secret detail" not in crashed.text
    assert crashed.json()["error"]["code"] == "internal_error"
    assert client.get("/api/v1/full", headers=AUTH).status_code == 507


def _post_file(client, name, data, extra=None):
    files = {"file": (name, data, "text/plain")}
    return client.post("/api/v1/files", files=files, data=extra or {}, headers=AUTH)


def test_an_upload_streams_to_disk_with_its_hash(client, tmp_path):
    answer = _post_file(client, "../notes.txt", b"hello\n", {"label": "mine"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body == {
        "name": "notes.txt",
        "size": 6,
        "sha": hashlib.sha256(b"hello\n").hexdigest(),
        "fields": {"label": "mine"},
        "same": True,
    }
    assert not list(tmp_path.glob(".incoming-*"))


@pytest.mark.parametrize(
    ("name", "data", "status", "message"),
    [
        ("a.txt", b"x" * (UPLOAD_LIMIT + 1), 413, f"Over {UPLOAD_LIMIT} bytes."),
        ("a.txt", b"\x00\x01", 422, "Not text."),
        ("a.txt", b"\xff\xfe", 422, "Not text."),
        ("a.txt", b"", 422, "Empty."),
        ("a.bin", b"x", 415, "Only .txt."),
        ("...", b"x", 400, "No name."),
    ],
)
def test_an_upload_is_refused_in_its_kinds_words(client, tmp_path, name, data, status, message):
    answer = _post_file(client, name, data)
    assert (answer.status_code, answer.json()["error"]["message"]) == (status, message)
    assert not list(tmp_path.glob(".incoming-*"))


def test_a_cut_off_or_malformed_upload_is_refused(client, tmp_path):
    head = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nhello"
    )
    headers = AUTH | {"content-type": "multipart/form-data; boundary=b"}
    cut = client.post("/api/v1/files", content=head, headers=headers)
    assert (cut.status_code, cut.json()["error"]["message"]) == (400, "Cut off.")
    assert not list(tmp_path.glob(".incoming-*"))
    plain = client.post("/api/v1/files", content=b"hello", headers=AUTH | {"content-type": "text/plain"})
    assert plain.status_code == 400


def test_sanitize_filename():
    assert sanitize_filename("C:\\Users\\me\\data.txt") == "data.txt"
    assert sanitize_filename("..hidden\u202e.txt") == "hidden.txt"
    long = "a" * 300 + ".txt"
    assert sanitize_filename(long) == "a" * 196 + ".txt"


# --- the launch contract, in a real process ----------------------------------------------------


def _start(tmp_path, *args, env=None):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("THROWAWAY_TOOL_")}
    full_env.update(
        THROWAWAY_TOOL_DATA_DIR=str(tmp_path / "data"),
        THROWAWAY_TOOL_RUNTIME_TOKEN=TOKEN,
        THROWAWAY_TOOL_LAUNCH_ID="launch-1",
    )
    full_env.update(env or {})
    return subprocess.Popen(
        [sys.executable, "-I", str(THROWAWAY), str(ENGINEKIT_DIR), *args],
        env=full_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _ready(proc) -> dict:
    line = proc.stdout.readline().decode()
    assert line.startswith("THROWAWAY_TOOL_READY "), line + proc.stderr.read().decode()
    return json.loads(line.removeprefix("THROWAWAY_TOOL_READY "))


def _get(port, path, headers=None, method="GET"):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _stopped(proc) -> tuple[int, str]:
    # The engine writes a few log lines only: its pipes cannot fill before it exits.
    proc.wait(timeout=20)
    return proc.returncode, proc.stderr.read().decode()


def test_the_engine_announces_ready_and_stops_when_stdin_closes(tmp_path):
    proc = _start(tmp_path)
    try:
        ready = _ready(proc)
        assert set(ready) == {"port", "pid", "version", "launch_id"}
        assert (ready["pid"], ready["version"], ready["launch_id"]) == (proc.pid, "9.9.9", "launch-1")
        assert _get(ready["port"], "/health") == (
            200,
            {"status": "ok", "version": "9.9.9", "launch_id": "launch-1"},
        )
        assert _get(ready["port"], "/api/v1/shutdown", method="POST")[0] == 401
        # Exactly one stdout line: everything else goes to stderr.
        proc.stdin.close()
        code, stderr = _stopped(proc)
        assert code == 0
        assert proc.stdout.read() == b""
        assert "stdin closed (the parent process is gone); shutting down" in stderr
        assert f"listening on http://127.0.0.1:{ready['port']}" in stderr
        assert "ready hook ran" in stderr
        assert "stopped" in stderr
        log = (tmp_path / "data" / "logs" / "server.log").read_text()
        assert "listening on" in log
    finally:
        proc.kill()


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM as POSIX sends it")
def test_sigterm_exits_0(tmp_path):
    proc = _start(tmp_path)
    try:
        _ready(proc)
        proc.send_signal(signal.SIGTERM)
        assert _stopped(proc)[0] == 0
    finally:
        proc.kill()


def test_the_shutdown_request_exits_0(tmp_path):
    proc = _start(tmp_path, "--no-stdin-watch")
    try:
        port = _ready(proc)["port"]
        assert _get(port, "/api/v1/shutdown", {"X-Throwaway-Tool-Token": TOKEN}, method="POST")[0] == 202
        assert _stopped(proc)[0] == 0
    finally:
        proc.kill()


def test_bad_settings_exit_2_before_ready(tmp_path):
    proc = _start(tmp_path, "--host", "0.0.0.0")
    code, stderr = _stopped(proc)
    assert code == 2
    assert "--host '0.0.0.0' is refused" in stderr
    assert proc.stdout.read() == b""


def test_the_data_root_comes_from_the_variable(tmp_path):
    proc = _start(tmp_path, env={"THROWAWAY_TOOL_DATA_DIR": str(tmp_path / "elsewhere")})
    try:
        _ready(proc)
        if os.name == "posix":
            assert (tmp_path / "elsewhere").stat().st_mode & 0o777 == 0o700
        assert (tmp_path / "elsewhere" / "logs" / "server.log").is_file()
    finally:
        proc.stdin.close()
        _stopped(proc)


def test_a_taken_port_exits_1_naming_it(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = _start(tmp_path, "--port", str(port))
        code, stderr = _stopped(proc)
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in stderr
    assert proc.stdout.read() == b""
