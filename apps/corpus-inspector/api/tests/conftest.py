"""Shared fixtures: an isolated data folder, an app with a token, request helpers, and a real
tokenizer trained with the `tokenizers` library.

What every engine's tests share comes from enginetest (`ENGINE` names this engine); the names
the test modules import from here are re-exported (`import X as X`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from enginetest.api import BASE_URL as BASE_URL
from enginetest.api import LAUNCH_ID as LAUNCH_ID
from enginetest.api import PORT as PORT
from enginetest.api import TOKEN as TOKEN
from enginetest.api import EngineApi
from enginetest.api import files_under as files_under
from enginetest.process import share_enginekit_with_children

API_DIR = Path(__file__).resolve().parent.parent
# The shared packages (enginecore, jobrunner) the runtime carries in app/ beside the engine, for
# the engine processes the tests start (`python -m inspector` from API_DIR).
ENGINEKIT_DIR = share_enginekit_with_children()

ENGINE = EngineApi(
    "inspector",
    "X-Corpus-Inspector-Token",
    max_upload_bytes=2_000_000,
    env_keys=("TMPDIR",),
    poll_seconds=0.02,
)
AUTH = ENGINE.auth
make_settings = ENGINE.make_settings
upload = ENGINE.upload
wait_for_job = ENGINE.wait_for_job
_restore_process_state, data_dir, make_client, client = ENGINE.fixtures()


def upload_tokenizer(client: TestClient, content: bytes | str, name: str = "tokenizer.json"):
    data = content.encode() if isinstance(content, str) else content
    return client.post("/api/v1/tokenizers", files={"file": (name, data, "application/json")}, headers=AUTH)


def inspect(client: TestClient, **config) -> dict:
    r = client.post("/api/v1/jobs", json=config, headers=AUTH)
    assert r.status_code == 201, r.text
    return r.json()


def result_of(client: TestClient, job_id: str) -> dict:
    job = wait_for_job(client, job_id)
    assert job["status"] == "succeeded", job
    r = client.get(f"/api/v1/jobs/{job_id}/result", headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


# A small corpus with a vocabulary a BPE of a few hundred tokens cannot fully learn.
TRAINING_TEXT = [
    "the quick brown fox jumps over the lazy dog",
    "a tokenizer turns text into tokens and tokens into numbers",
    "corpus inspector counts words lines characters and tokens",
    "every document in a corpus has a length in characters",
    "the lazy dog sleeps while the quick fox runs",
] * 20


@pytest.fixture(scope="session")
def bpe_tokenizer_json() -> str:
    """A byte-pair tokenizer trained here with `tokenizers`, with an unknown token: what
    Tokenizer Studio saves for its "classic BPE" preset."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=120, special_tokens=["[UNK]"], show_progress=False)
    tokenizer.train_from_iterator(TRAINING_TEXT, trainer)
    return tokenizer.to_str()
