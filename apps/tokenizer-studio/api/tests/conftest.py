"""Shared fixtures: an isolated data dir, an app with a token, and request helpers.

What every engine's tests share comes from enginetest (`ENGINE` names this engine); the names
the test modules import from here are re-exported (`import X as X`)."""

from __future__ import annotations

from enginetest.api import BASE_URL as BASE_URL
from enginetest.api import LAUNCH_ID as LAUNCH_ID
from enginetest.api import PORT as PORT
from enginetest.api import TOKEN as TOKEN
from enginetest.api import EngineApi
from enginetest.api import files_under as files_under
from enginetest.process import share_enginekit_with_children

# The shared packages (enginecore, jobrunner) the runtime carries in app/ beside the engine's own,
# for the engine processes the tests start (`python -m app` from this folder).
ENGINEKIT_DIR = share_enginekit_with_children()

_ENV_KEYS = (
    "HF_HOME",
    "HF_DATASETS_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TMPDIR",
)
ENGINE = EngineApi(
    "app", "X-Tokenizer-Studio-Token", max_upload_bytes=5_000_000, env_keys=_ENV_KEYS, poll_seconds=0.05
)
AUTH = ENGINE.auth
make_settings = ENGINE.make_settings
upload = ENGINE.upload
wait_for_job = ENGINE.wait_for_job
_restore_process_state, data_dir, make_client, client = ENGINE.fixtures()
