"""Auth, Host/Origin checks, CORS, the launch-code session hand-off, health and web serving."""

import pytest

from tests.conftest import AUTH, BASE_URL, LAUNCH_ID, PORT, TOKEN


def test_health_is_open_and_echoes_launch_id(client):
    for path in ("/health", "/api/v1/health"):
        r = client.get(path)
        assert r.status_code == 200
        assert r.json() == {"status": "ok", "version": "0.1.0", "launch_id": LAUNCH_ID}


def test_health_launch_id_null_when_unset(make_client):
    client = make_client(launch_id=None)
    assert client.get("/health").json()["launch_id"] is None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/templates"),
        ("GET", "/api/v1/datasets"),
        ("GET", "/api/v1/jobs"),
        ("POST", "/api/v1/jobs"),
        ("POST", "/api/v1/shutdown"),
        ("POST", "/api/v1/session/launch-code"),
        ("GET", "/api/v1/system"),
        ("POST", "/api/v1/system/compute-check"),
        ("GET", "/api/v1/does-not-exist"),
    ],
)
@pytest.mark.parametrize(
    "headers", [{}, {"X-Tokenizer-Studio-Token": "wrong"}, {"X-Tokenizer-Studio-Token": ""}]
)
def test_missing_or_wrong_token_is_401(client, method, path, headers):
    r = client.request(method, path, headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    assert TOKEN not in r.text


def test_right_token_passes(client):
    r = client.get("/api/v1/templates", headers=AUTH)
    assert r.status_code == 200
    assert [t["id"] for t in r.json()] == ["gpt2-byte-bpe", "classic-bpe", "bert-wordpiece", "t5-unigram"]


def test_no_token_configured_means_open(make_client):
    client = make_client(token=None)
    assert client.get("/api/v1/templates").status_code == 200
    assert client.get("/api/v1/session").json() == {"authenticated": True, "token_required": False}


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        f"evil.example:{PORT}",
        "127.0.0.1",
        "127.0.0.1:1",
        f"127.0.0.2:{PORT}",
        f"localhost.evil.example:{PORT}",
        "",
    ],
)
def test_foreign_host_is_403(client, host):
    for path in ("/health", "/api/v1/templates", "/"):
        r = client.get(path, headers={**AUTH, "Host": host})
        assert r.status_code == 403, (host, path)
        assert r.json()["error"]["code"] == "forbidden_host"


def test_localhost_host_is_accepted(client):
    r = client.get("/api/v1/templates", headers={**AUTH, "Host": f"localhost:{PORT}"})
    assert r.status_code == 200
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "null", f"http://127.0.0.1:{PORT + 1}", f"https://127.0.0.1:{PORT}"]
)
def test_foreign_origin_is_403_even_with_token(client, origin):
    r = client.post("/api/v1/shutdown", headers={**AUTH, "Origin": origin})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden_origin"


def test_own_origin_is_accepted_without_cors_headers(client):
    r = client.get("/api/v1/datasets", headers={**AUTH, "Origin": BASE_URL})
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers


def test_cors_closed_by_default(client):
    r = client.options(
        "/api/v1/datasets",
        headers={"Origin": "http://127.0.0.1:5173", "Access-Control-Request-Method": "GET"},
    )
    assert r.status_code == 403
    assert "access-control-allow-origin" not in r.headers


def test_configured_cors_origin(make_client):
    dev = "http://127.0.0.1:5173"
    client = make_client(cors_origins=(dev,))
    pre = client.options(
        "/api/v1/datasets",
        headers={
            "Origin": dev,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-tokenizer-studio-token",
        },
    )
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == dev
    assert "x-tokenizer-studio-token" in pre.headers["access-control-allow-headers"]
    r = client.get("/api/v1/datasets", headers={**AUTH, "Origin": dev})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == dev
    assert r.headers["access-control-allow-credentials"] == "true"
    # The dev origin still needs credentials.
    assert client.get("/api/v1/datasets", headers={"Origin": dev}).status_code == 401


def test_launch_code_session_flow(client):
    assert client.get("/api/v1/session").json() == {"authenticated": False, "token_required": True}
    issued = client.post("/api/v1/session/launch-code", headers=AUTH)
    assert issued.status_code == 200
    body = issued.json()
    assert body["expires_in"] == 60 and len(body["code"]) >= 20

    bad = client.post("/api/v1/session", json={"code": "not-a-code"})
    assert bad.status_code == 401

    r = client.post("/api/v1/session", json={"code": body["code"]})
    assert r.status_code == 204
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"tsession_{PORT}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Path=/" in cookie
    assert TOKEN not in cookie

    # The cookie now authenticates API calls (TestClient keeps it in its jar).
    assert client.get("/api/v1/session").json()["authenticated"] is True
    assert client.get("/api/v1/datasets").status_code == 200
    # ...but only the token holder (the shell) may mint launch codes.
    minted_by_cookie = client.post("/api/v1/session/launch-code")
    assert minted_by_cookie.status_code == 403
    assert minted_by_cookie.json()["error"]["code"] == "token_required"

    # Single use: the same code cannot mint a second session.
    assert client.post("/api/v1/session", json={"code": body["code"]}).status_code == 401

    # A forged cookie is not accepted.
    client.cookies.clear()
    client.cookies.set(f"tsession_{PORT}", "forged")
    assert client.get("/api/v1/datasets").status_code == 401


def test_expired_launch_code(client, monkeypatch):
    # The launch codes are enginekit's (the store the app's gate uses).
    import enginecore.security as security

    code = client.post("/api/v1/session/launch-code", headers=AUTH).json()["code"]
    real = security.time.monotonic
    monkeypatch.setattr(security.time, "monotonic", lambda: real() + 61)
    assert client.post("/api/v1/session", json={"code": code}).status_code == 401


def test_unknown_api_path_is_json_404(client):
    r = client.get("/api/v1/nope", headers=AUTH)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    r = client.get("/api/other", headers=AUTH)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_no_web_dir_serves_not_built_page(client):
    r = client.get("/")
    assert r.status_code == 200
    assert "not built" in r.text
    assert client.get("/some/page").status_code == 200


def test_web_dir_spa_and_assets(make_client, tmp_path):
    web = tmp_path / "web"
    (web / "assets").mkdir(parents=True)
    (web / "index.html").write_text("<html>INDEX</html>")
    (web / "assets" / "app-1234.js").write_text("console.log(1)")
    (web / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("SECRET")
    client = make_client(web_dir=web)
    root = client.get("/")
    assert root.status_code == 200 and "INDEX" in root.text
    assert root.headers["cache-control"] == "no-cache"
    asset = client.get("/assets/app-1234.js")
    assert asset.status_code == 200 and asset.text == "console.log(1)"
    assert "immutable" in asset.headers["cache-control"]
    assert client.get("/favicon.svg").text == "<svg/>"
    # SPA fallback for client-side routes; missing assets are real 404s.
    deep = client.get("/jobs/job_1")
    assert deep.status_code == 200 and "INDEX" in deep.text
    assert client.get("/assets/missing.js").status_code == 404
    # No escaping the web dir.
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/assets/../../secret.txt"):
        assert "SECRET" not in client.get(path).text


def test_errors_never_leak_a_traceback(client):
    r = client.post("/api/v1/jobs", headers={**AUTH, "Content-Type": "application/json"}, content=b"{nope")
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_request"
    assert "Traceback" not in r.text


def test_json_endpoints_refuse_form_encoded_bodies(client):
    """A cross-site <form> can only send simple encodings; none of them is accepted."""
    code = client.post("/api/v1/session/launch-code", headers=AUTH).json()["code"]
    for ctype, body in (
        ("text/plain", f'{{"code": "{code}"}}'),
        ("application/x-www-form-urlencoded", f"code={code}"),
    ):
        r = client.post("/api/v1/session", content=body, headers={"Content-Type": ctype})
        assert r.status_code == 422, ctype
        assert "set-cookie" not in r.headers
    # The code was not consumed by the refused attempts.
    assert client.post("/api/v1/session", json={"code": code}).status_code == 204
