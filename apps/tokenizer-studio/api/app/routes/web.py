"""Serves the built web UI: files, SPA fallback to index.html, long-cached /assets/*."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from app.errors import ApiError

router = APIRouter()

NOT_BUILT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tokenizer Studio</title></head>
<body><h1>Tokenizer Studio</h1>
<p>The API is running, but the web UI is not built. Build it (see apps/tokenizer-studio/web)
or start the engine with --web-dir pointing at a built UI.</p></body></html>
"""


def _file_under(root: Path, rel: str) -> Path | None:
    if "\x00" in rel:
        return None
    candidate = (root / rel).resolve()
    if not candidate.is_relative_to(root.resolve()) or not candidate.is_file():
        return None
    return candidate


@router.api_route("/{rel_path:path}", methods=["GET", "HEAD"], include_in_schema=False)
def web(rel_path: str, request: Request) -> Response:
    if rel_path == "api" or rel_path.startswith("api/"):
        raise ApiError(404, "not_found", "No such API endpoint; see API.md for the list.")
    web_dir: Path | None = request.app.state.ctx.settings.web_dir
    if web_dir is None:
        return HTMLResponse(NOT_BUILT_PAGE, headers={"Cache-Control": "no-cache"})
    found = _file_under(web_dir, rel_path) if rel_path else None
    if found is not None:
        # Vite puts a content hash in every /assets/ file name, so they never change.
        cache = "public, max-age=31536000, immutable" if rel_path.startswith("assets/") else "no-cache"
        return FileResponse(found, headers={"Cache-Control": cache})
    if rel_path.startswith("assets/"):
        raise ApiError(404, "not_found", "No such asset; rebuild the web UI.")
    return FileResponse(web_dir / "index.html", headers={"Cache-Control": "no-cache"})
