"""Test helpers shared by every app's engine test suite; never part of a runtime.

An app's tests import it from this folder, which the app's pytest config puts on the import path
beside `enginecore` and `jobrunner` (`pythonpath` in `apps/<app>/api/pyproject.toml`). No app's
`engine.shared` names it, so the toolchain never copies it into a runtime, and no engine package
may import it.

- `enginetest.api`: the engine in process: settings, a `TestClient` per app, the token header,
  uploads and job polling, and the fixtures every engine's conftest offers.
- `enginetest.process`: the engine as a process: the shared packages on the children's
  PYTHONPATH, a fixture's started processes, and the engine launched from a runtime layout.

What the apps' tests check, and the helpers only one app needs, stay in the app.
"""

from __future__ import annotations

from pathlib import Path

# This folder's parent: where `enginecore` and `jobrunner` live in development.
ENGINEKIT_DIR = Path(__file__).resolve().parent.parent
