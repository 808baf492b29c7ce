"""The static UI: served by the engine with the page's security headers, self-contained (no
file from elsewhere), and consistent with itself (every element the script looks up exists)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from inspector.security import CONTENT_SECURITY_POLICY
from tests.conftest import API_DIR, AUTH

WEB_DIR = API_DIR.parent / "web"
FILES = ("index.html", "app.js", "style.css")


@pytest.fixture
def web_client(make_client):
    return make_client(web_dir=WEB_DIR)


def test_the_ui_is_served_with_its_types_and_headers(web_client):
    page = web_client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-cache"
    assert page.text == (WEB_DIR / "index.html").read_text(encoding="utf-8")
    assert web_client.get("/app.js").headers["content-type"] == "text/javascript; charset=utf-8"
    assert web_client.get("/style.css").headers["content-type"] == "text/css; charset=utf-8"
    assert web_client.head("/index.html").status_code == 200


@pytest.mark.parametrize(
    "path",
    # app.toml and api/pyproject.toml are real files beside the UI folder.
    ["/missing.js", "/%2e%2e/app.toml", "/..%2fapi%2fpyproject.toml", "/web/app.js", "/%00index.html"],
)
def test_nothing_outside_the_ui_folder_is_served(web_client, path):
    r = web_client.get(path)
    assert r.status_code == 404 and r.json()["error"]["message"] == "No such page."


def test_an_unknown_api_path_is_a_json_404(web_client):
    r = web_client.get("/api/v1/nothing", headers=AUTH)
    assert r.status_code == 404 and "API.md" in r.json()["error"]["message"]


def test_without_a_ui_folder_the_page_says_so(client):
    r = client.get("/")
    assert r.status_code == 200 and "has no UI folder" in r.text


def test_the_ui_loads_nothing_from_elsewhere():
    for name in FILES:
        text = (WEB_DIR / name).read_text(encoding="utf-8")
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/|@import|url\(", text, re.IGNORECASE), name
    html = (WEB_DIR / "index.html").read_text(encoding="utf-8")
    # Scripts and styles from files only: the page's policy refuses inline ones.
    assert '<script type="module" src="app.js"></script>' in html
    assert '<link rel="stylesheet" href="style.css" />' in html
    assert len(re.findall(r"<script", html)) == 1 and "<style" not in html and " style=" not in html
    assert sorted(p.name for p in WEB_DIR.iterdir()) == sorted(FILES)


def test_every_element_the_script_uses_is_in_the_page():
    script = (WEB_DIR / "app.js").read_text(encoding="utf-8")
    html = (WEB_DIR / "index.html").read_text(encoding="utf-8")
    used = set(re.findall(r"\$\('([a-z-]+)'\)", script)) | set(
        re.findall(r"getElementById\('([a-z-]+)'\)", script)
    )
    present = set(re.findall(r'\bid="([a-z-]+)"', html))
    assert used and used <= present, used - present
    # The script puts corpus text into the page as text only.
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_script_parses_as_a_module():
    done = subprocess.run(
        ["node", "--input-type=module", "--check"],
        input=(WEB_DIR / "app.js").read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
