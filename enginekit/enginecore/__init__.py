"""The engine launch contract (docs/runtime-contract.md, "Launch contract"), once for every app.

An app's engine names itself with an `EngineApp` (its variable prefix, product name, data folder
name) and builds on the parts here:

- `enginecore.settings`: the launch options and variables (`--port`, `<PREFIX>_RUNTIME_TOKEN`, ...).
- `enginecore.paths`: the data root per OS (`<PREFIX>_DATA_DIR`) and the user-private folders.
- `enginecore.errors`: the one error shape `{"error": {"code", "message", "details"?}}` and its
  handlers.
- `enginecore.security`: the request gate (Host and Origin checks, the token header or session
  cookie, one-time launch codes, body caps, hardening headers).
- `enginecore.uploads`: a multipart file streamed to disk with its cap and checks.
- `enginecore.server`: bind 127.0.0.1, print the `<PREFIX>_READY {...}` line, exit 0 on stdin
  end of file, SIGTERM/SIGINT or a shutdown request.

What differs between apps (routes, limits, the sentences that name the app) stays in the app.
The package imports only the standard library, FastAPI, Starlette, uvicorn, pydantic and
python-multipart (FastAPI's own upload dependency), never an app's packages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class EngineApp:
    """What the launch contract needs to know about one app."""

    # The variables' prefix, e.g. "TOKENIZER_STUDIO" (TOKENIZER_STUDIO_DATA_DIR, ...).
    prefix: str
    # The product name, e.g. "Tokenizer Studio".
    product: str
    # The data root's folder name under the OS's per-user data folder, e.g. "TokenizerStudio".
    data_dir_name: str
    # The folder holding the app's package's parent (runtime/ in a runtime, apps/<app>/ in a
    # checkout); the UI is looked for in <root>/web.
    package_root: Path | None = None

    def env(self, name: str) -> str:
        return f"{self.prefix}_{name}"

    @property
    def env_data_dir(self) -> str:
        return self.env("DATA_DIR")

    @property
    def env_token(self) -> str:
        return self.env("RUNTIME_TOKEN")

    @property
    def env_launch_id(self) -> str:
        return self.env("LAUNCH_ID")

    @property
    def env_web_dir(self) -> str:
        return self.env("WEB_DIR")

    @property
    def env_max_upload(self) -> str:
        return self.env("MAX_UPLOAD_BYTES")

    @property
    def ready_prefix(self) -> str:
        return self.env("READY")

    @property
    def token_header(self) -> str:
        """`X-`, the prefix's words capitalized and joined by `-`, then `-Token`: what the
        launcher derives from the READY prefix (X-Tokenizer-Studio-Token)."""
        words = [word.capitalize() for word in self.prefix.split("_") if word]
        return "-".join(["X", *words, "Token"])

    @property
    def web_dir(self) -> Path | None:
        """`<package_root>/web`, where the app's UI (or its source) lives."""
        return None if self.package_root is None else self.package_root / "web"
