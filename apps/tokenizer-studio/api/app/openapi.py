"""Writes the API's OpenAPI schema, built from the routes alone (no server, no data folder).

`python -m app.openapi [FILE]` prints it (or writes FILE); the web UI's TypeScript types are
generated from it (`npm run gen:api` in web/). The same document is served, behind the token,
at `/api/v1/openapi.json`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from app.server import build_api


def openapi_document() -> dict[str, Any]:
    return build_api().openapi()


def render() -> str:
    # FastAPI's order (routes as registered, fields as declared) is stable from run to run.
    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if len(argv) > 1:
        with open(argv[1], "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
