"""Entry point for `python -I -m app` (see API.md "Launch")."""

import gc
import sys

# The imports create ~55k long-lived objects (FastAPI's and pydantic's models and schemas) and
# almost no garbage: collecting while they are made was ~7 % of the start-up CPU, for nothing.
# The server freezes them and turns the collector back on once it listens (server._resume_gc).
gc.disable()

from app.server import main  # noqa: E402 (after gc.disable on purpose)

if __name__ == "__main__":
    sys.exit(main())
