"""Entry point for `python -I -m app` (see API.md "Launch")."""

import gc
import sys

# The imports create ~55k long-lived objects (FastAPI's and pydantic's models and schemas) and
# almost no garbage: collecting while they are made was ~7 % of the start-up CPU, for nothing.
# The server freezes them and turns the collector back on once it listens (server._resume_gc).
gc.disable()

# FastAPI imports `pydantic.v1` when it builds its first route, only to refuse pydantic v1
# models; the engine has none, and nothing in the runtime imports pydantic.v1 otherwise. That
# import (≈ 15 ms) would be half of what the first API request spends mounting its router
# (server._MountOnFirstUse). Blocked, the check finds no pydantic v1, as with a pydantic that
# has none. Here, not in `create_app`: a process embedding the app keeps its pydantic.v1.
sys.modules.setdefault("pydantic.v1", None)

from app.server import main  # noqa: E402 (after gc.disable on purpose)

if __name__ == "__main__":
    sys.exit(main())
