"""Hardening: the CSP header, request bodies capped before they are read, a private data folder,
and the engine installable as a package."""

from __future__ import annotations

import http.client
import os
import re
import sys
import tomllib
from pathlib import Path

import pytest

from app.security import CONTENT_SECURITY_POLICY, JSON_MAX_BODY, OPEN_ROUTE_MAX_BODY
from tests.conftest import AUTH, upload
from tests.corpus import text_corpus
from tests.test_process import Server

API_DIR = Path(__file__).resolve().parent.parent
WEB_DIR = API_DIR.parent / "web"
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes and /proc")


def _directives(policy: str) -> dict[str, str]:
    return {
        part.strip().split(" ", 1)[0]: part.strip().split(" ", 1)[1]
        for part in policy.split(";")
        if part.strip()
    }


def test_every_response_carries_the_strict_csp(make_client, tmp_path):
    web = tmp_path / "web"
    (web / "assets").mkdir(parents=True)
    (web / "index.html").write_text("<!doctype html><title>t</title>")
    (web / "assets" / "a.js").write_text("console.log(1)")
    client = make_client(web_dir=web)
    for path in ("/", "/assets/a.js", "/api/v1/health", "/health", "/api/v1/templates", "/nope"):
        r = client.get(path, headers=AUTH)
        policy = r.headers.get("content-security-policy")
        assert policy == CONTENT_SECURITY_POLICY, (path, policy)
    directives = _directives(CONTENT_SECURITY_POLICY)
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


def test_the_web_builds_meta_policy_agrees_with_the_header():
    # frame-ancestors is ignored in a <meta> policy, so the header alone carries it.
    source = (WEB_DIR / "vite.config.ts").read_text()
    block = re.search(r"CONTENT_SECURITY_POLICY = \[(.*?)\]\.join", source, re.S)
    assert block, "vite.config.ts defines CONTENT_SECURITY_POLICY as a list of directives"
    meta = "; ".join(re.findall(r'"([^"]+)"', block.group(1)))
    header = _directives(CONTENT_SECURITY_POLICY)
    header.pop("frame-ancestors")
    assert _directives(meta) == header


@pytest.mark.parametrize(
    ("method", "path", "limit"),
    [
        ("POST", "/api/v1/session", OPEN_ROUTE_MAX_BODY),
        ("POST", "/api/v1/jobs", JSON_MAX_BODY),
        ("PATCH", "/api/v1/datasets/ds_x", JSON_MAX_BODY),
    ],
)
def test_bodies_over_the_routes_cap_are_413_by_length_and_by_stream(client, method, path, limit):
    too_big = b"x" * (limit + 1)
    r = client.request(method, path, content=too_big, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "body_too_large"
    assert f"{limit:,}" in r.json()["error"]["message"]

    # No Content-Length (a chunked body): counted while it streams in.
    def chunks():
        for _ in range(limit // 4096 + 2):
            yield b"x" * 4096

    r = client.request(method, path, content=chunks(), headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "body_too_large"


def test_a_body_under_the_cap_still_reaches_the_route(client):
    r = client.post("/api/v1/session", json={"code": "x" * 100})
    assert r.status_code in (401, 403, 422), r.text
    assert r.json()["error"]["code"] != "body_too_large"
    assert upload(client, "ok.txt", text_corpus(2_000_000)).status_code == 201


def test_the_upload_route_gets_the_upload_cap(make_client):
    client = make_client(max_upload_bytes=3_000_000)
    r = upload(client, "big.txt", b"word " * 1_000_000)  # 5 MB: over the upload cap only
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "upload_too_large"
    assert "3,000,000" in r.json()["error"]["message"]


def _vm_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


@posix_only
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_huge_body_to_the_open_route_does_not_grow_the_server(tmp_path):
    server = Server(tmp_path / "data", tmp_path / "stderr.log")
    try:
        server.wait_ready()
        pid = server.ready["pid"]
        server.http.get("/health")
        before = _vm_kib(pid, "VmRSS")

        # 400 MB announced: refused from the header, nothing read.
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.putrequest("POST", "/api/v1/session")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(400 * 1024 * 1024))
        conn.endheaders()
        # The answer comes from the header alone, before any body byte is sent: reading it
        # first keeps the server's close from racing the client's read (a socket closed with
        # unread bytes resets the connection, which may discard the answer).
        r = conn.getresponse()
        assert r.status == 413
        assert b"body_too_large" in r.read()
        try:
            conn.send(b"x" * (1024 * 1024))
        except OSError:
            pass  # the server closed: what a client still sends is never read
        conn.close()

        # 64 MB chunked, no length: refused once the cap is passed while it streams.
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.putrequest("POST", "/api/v1/session")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        chunk = b"x" * (256 * 1024)
        try:
            for _ in range(256):
                conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            conn.send(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed: the rest was never read
        r = conn.getresponse()
        assert r.status == 413
        conn.close()

        peak = _vm_kib(pid, "VmHWM")
        after = _vm_kib(pid, "VmRSS")
        print(f"engine RSS {before} KiB before, {after} KiB after, peak {peak} KiB")
        assert peak - before < 50 * 1024, f"peak RSS grew by {(peak - before) // 1024} MB"
        assert server.http.get("/health").status_code == 200
    finally:
        server.kill()


@posix_only
def test_the_data_folder_is_private_in_the_shells_launch_order(tmp_path):
    data = tmp_path / "data"
    # The shell creates <data>/logs first (an older shell with the default umask).
    (data / "logs").mkdir(parents=True)
    os.chmod(data, 0o755)
    os.chmod(data / "logs", 0o755)
    (data / "logs" / "shell.log").write_text("shell line\n")
    os.chmod(data / "logs" / "shell.log", 0o600)
    old_umask = os.umask(0o022)
    try:
        server = Server(data, tmp_path / "stderr.log")
    finally:
        os.umask(old_umask)
    try:
        server.wait_ready()
        job_id = server.start_job(text_corpus(50_000))
        job = server.wait_job(job_id, {"succeeded", "failed"}, timeout=60)
        assert job["status"] == "succeeded", job
    finally:
        server.kill()
    open_to_others = []
    for path in [data, *data.rglob("*")]:
        mode = path.stat().st_mode & 0o777
        wanted = 0o700 if path.is_dir() else 0o600
        if mode != wanted:
            open_to_others.append(f"{path.relative_to(tmp_path)} {mode:o}")
    assert not open_to_others, open_to_others
    assert any(p.suffix == ".db" for p in data.rglob("*")), "the database was written"
    assert list((data / "artifacts").rglob("tokenizer.json")), "the tokenizer was written"


def test_the_package_declares_every_package_it_has():
    pyproject = tomllib.loads((API_DIR / "pyproject.toml").read_text())
    declared = set(pyproject["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(API_DIR).parts)
        for init in API_DIR.rglob("__init__.py")
        if not {"tests", "build"} & set(init.relative_to(API_DIR).parts)
    }
    assert declared == on_disk
    assert pyproject["build-system"]["build-backend"] == "setuptools.build_meta"
