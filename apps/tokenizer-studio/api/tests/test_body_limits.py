"""Request body caps at their edges, and the cap tripping at awkward moments.

The caps per route class and a real server under a huge body are in test_hardening.py.
"""

from __future__ import annotations

import asyncio
import json

from app.security import JSON_MAX_BODY, OPEN_ROUTE_MAX_BODY, SecurityMiddleware, SessionStore
from app.uploads import MULTIPART_OVERHEAD
from tests.conftest import AUTH, files_under

JSON = {"Content-Type": "application/json"}


def _chunks(total: int, size: int = 4096):
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


def test_json_route_reads_a_body_of_exactly_the_cap(client):
    body = json.dumps({"template": "classic-bpe", "dataset_ids": ["ds_x"], "name": ""})
    body = body.replace('"name": ""', '"name": "' + "n" * (JSON_MAX_BODY - len(body)) + '"')
    assert len(body) == JSON_MAX_BODY
    for content in (body, _chunks(JSON_MAX_BODY)):
        r = client.post("/api/v1/jobs", content=content, headers={**AUTH, **JSON})
        # Judged by the route (name too long, or not JSON at all), not by the cap.
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "invalid_request"


def test_open_route_reads_a_body_of_exactly_the_cap(client):
    r = client.post("/api/v1/session", content=_chunks(OPEN_ROUTE_MAX_BODY), headers=JSON)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    r = client.post("/api/v1/session", content=_chunks(OPEN_ROUTE_MAX_BODY + 1), headers=JSON)
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"


def test_unauthenticated_big_body_is_401_before_the_cap(client):
    r = client.post("/api/v1/jobs", content=b"x" * (JSON_MAX_BODY + 1), headers=JSON)
    assert r.status_code == 401


def test_upload_cap_is_the_file_cap_plus_the_framing(make_client, data_dir):
    client = make_client(max_upload_bytes=1000)
    total = 1000 + MULTIPART_OVERHEAD + 1
    r = client.post(
        "/api/v1/datasets",
        content=_chunks(total),
        headers={**AUTH, "Content-Type": "multipart/form-data; boundary=b", "Content-Length": str(total)},
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "upload_too_large"
    assert "1,000 byte limit" in r.json()["error"]["message"]
    assert files_under(data_dir / "uploads") == []


def test_the_cap_tripping_after_the_app_answered_breaks_nothing():
    """An app that answers before it reads: no second response, no exception, it sees the
    client gone."""
    seen: list[str] = []
    sent: list[dict] = []
    incoming = [
        {"type": "http.request", "body": b"x" * OPEN_ROUTE_MAX_BODY, "more_body": True},
        {"type": "http.request", "body": b"x", "more_body": False},
    ]

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while True:
            message = await receive()
            seen.append(message["type"])
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        await send({"type": "http.response.body", "body": b"done"})

    async def receive():
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    middleware = SecurityMiddleware(app, port=8123, token=None, cors_origins=(), sessions=SessionStore())
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/session",
        "headers": [(b"host", b"127.0.0.1:8123")],
    }
    asyncio.run(middleware(scope, receive, send))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"done"
    assert seen == ["http.request", "http.disconnect"]
