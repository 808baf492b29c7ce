"""Training jobs over HTTP: real runs, artifacts, determinism, logs, cancel, failures, restarts."""

import json
import threading
import time

import pytest
from tokenizers import Tokenizer

from app import corpus as corpus_module
from app.db import Database
from templates import resolve_config
from tests.conftest import AUTH, upload, wait_for_job
from tests.corpus import sentences, text_corpus

CORPUS = text_corpus(300_000)


def _job(client, template="gpt2-byte-bpe", dataset_ids=(), overrides=None, name=None):
    body = {"template": template, "dataset_ids": list(dataset_ids), "overrides": overrides or {}}
    if name is not None:
        body["name"] = name
    return client.post("/api/v1/jobs", json=body, headers=AUTH)


@pytest.fixture
def corpus_ds(client):
    r = upload(client, "corpus.txt", CORPUS)
    assert r.status_code == 201
    return r.json()


def test_real_training_run_artifact_and_determinism(client, corpus_ds, data_dir):
    r = _job(client, dataset_ids=[corpus_ds["id"]], overrides={"vocab_size": 1000}, name="My tok")
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["id"].startswith("job_")
    assert job["status"] in ("queued", "running")
    assert job["config"]["vocab_size"] == 1000 and job["config"]["model"] == "byte_bpe"
    assert job["artifact"] is None and job["metrics"] is None

    done = wait_for_job(client, job["id"])
    assert done["status"] == "succeeded", done
    assert done["phase"] == "done" and done["progress"] == 1.0
    assert done["error"] is None
    assert done["started_at"] and done["finished_at"]
    metrics = done["metrics"]
    assert metrics["vocab_size"] == 1000
    assert metrics["n_input_bytes"] == len(CORPUS)
    assert metrics["n_input_rows"] == CORPUS.count(b"\n")
    assert metrics["duration_s"] > 0
    assert 1.0 <= metrics["avg_tokens_per_word"] < 5
    artifact = done["artifact"]
    assert artifact["path"] == f"artifacts/tokenizers/{job['id']}/tokenizer.json"
    on_disk = data_dir / artifact["path"]
    assert artifact["size_bytes"] == on_disk.stat().st_size
    config = json.loads((on_disk.parent / "config.json").read_text())
    assert config["template"] == "gpt2-byte-bpe" and config["datasets"][0]["sha256"] == corpus_ds["sha256"]

    download = client.get(f"/api/v1/jobs/{job['id']}/artifact", headers=AUTH)
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith('attachment; filename="My tok-tokenizer.json"')
    assert download.content == on_disk.read_bytes()

    tok = Tokenizer.from_file(str(on_disk))
    sample = "Hello, Tokenizer Studio! Ünïcode ✓ stays intact."
    assert tok.decode(tok.encode(sample).ids) == sample
    tried = client.post(f"/api/v1/jobs/{job['id']}/try", json={"text": sample}, headers=AUTH).json()
    assert tried["decoded"] == sample
    assert tried["ids"] == tok.encode(sample).ids and len(tried["tokens"]) == len(tried["ids"])

    logs = client.get(f"/api/v1/jobs/{job['id']}/logs", headers=AUTH).json()
    messages = [line["message"] for line in logs["lines"]]
    assert messages[0] == "Queued."
    assert any(m.startswith("Done in") for m in messages)
    assert [line["seq"] for line in logs["lines"]] == list(range(1, len(messages) + 1))
    assert logs["next"] == len(messages)
    assert client.get(f"/api/v1/jobs/{job['id']}/logs?after={logs['next']}", headers=AUTH).json() == {
        "lines": [],
        "next": logs["next"],
    }
    later = client.get(f"/api/v1/jobs/{job['id']}/logs?after={len(messages) - 1}", headers=AUTH).json()
    assert [line["message"] for line in later["lines"]] == messages[-1:]

    # Same input and config again: byte-identical tokenizer.json.
    again = wait_for_job(
        client, _job(client, dataset_ids=[corpus_ds["id"]], overrides={"vocab_size": 1000}).json()["id"]
    )
    assert again["artifact"]["sha256"] == artifact["sha256"]
    assert (data_dir / again["artifact"]["path"]).read_bytes() == on_disk.read_bytes()

    listed = client.get("/api/v1/jobs", headers=AUTH).json()
    assert [j["id"] for j in listed] == [again["id"], job["id"]]


@pytest.mark.parametrize("template", ["classic-bpe", "bert-wordpiece", "t5-unigram"])
def test_other_templates_on_structured_data(client, template, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = sentences(1500)
    jsonl = "\n".join(json.dumps({"n": i, "body": t}) for i, t in enumerate(texts)).encode()
    csv_bytes = ("title,text\n" + "\n".join(f't{i},"{t}"' for i, t in enumerate(texts))).encode()
    pq.write_table(pa.table({"text": texts}), tmp_path / "p.parquet")
    ids = [
        upload(client, "a.jsonl", jsonl).json()["id"],
        upload(client, "b.csv", csv_bytes).json()["id"],
        upload(client, "c.parquet", (tmp_path / "p.parquet").read_bytes()).json()["id"],
    ]
    job = wait_for_job(client, _job(client, template, ids, {"vocab_size": 500}).json()["id"])
    assert job["status"] == "succeeded", job
    assert job["metrics"]["n_input_rows"] == 3 * len(texts)
    tok = Tokenizer.from_file(str(client.app.state.ctx.paths.root / job["artifact"]["path"]))
    assert tok.get_vocab_size() == job["metrics"]["vocab_size"]
    words = texts[0].split()[0]
    tried = client.post(f"/api/v1/jobs/{job['id']}/try", json={"text": words}, headers=AUTH).json()
    assert tried["decoded"].replace(" ", "").lower() == words.lower()


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"template": "nope"}, "unknown_template", None),
        ({"overrides": {"vocab_size": 0}}, "invalid_config", "vocab_size"),
        ({"overrides": {"vocab_size": -1}}, "invalid_config", "vocab_size"),
        ({"overrides": {"vocab_size": 10**9}}, "invalid_config", "vocab_size"),
        ({"overrides": {"special_tokens": ["{{CLS}}"]}}, "invalid_config", "special_tokens"),
        ({"overrides": {"special_tokens": ["[CLS"]}}, "invalid_config", "special_tokens"),
        ({"overrides": {"learning_rate": 0.1}}, "invalid_config", "learning_rate"),
        ({"overrides": {"text_column": "body"}}, None, None),  # txt datasets have no columns: fine
        ({"dataset_ids": ["ds_missing"]}, "unknown_dataset", None),
        ({"dataset_ids": []}, "invalid_request", None),
        ({"surprise": 1}, "invalid_request", None),
        ({"overrides": "vocab_size=10"}, "invalid_request", None),
    ],
)
def test_bad_job_requests(client, corpus_ds, body, code, field):
    full = {"template": "gpt2-byte-bpe", "dataset_ids": [corpus_ds["id"]], "overrides": {}}
    full.update(body)
    r = client.post("/api/v1/jobs", json=full, headers=AUTH)
    if code is None:
        assert r.status_code == 201
        wait_for_job(client, r.json()["id"])
        return
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == code and error["message"]
    if field:
        assert [d["field"] for d in error["details"]] == [field]
    assert client.get("/api/v1/jobs", headers=AUTH).json() == []  # nothing was created


def test_text_column_must_exist_in_structured_datasets(client):
    ds = upload(client, "a.jsonl", b'{"text": "hello"}\n').json()
    r = _job(client, "classic-bpe", [ds["id"]], {"text_column": "body"})
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "text_column"


def test_a_text_column_without_text_is_refused_when_the_job_is_created(client, tmp_path):
    """The column the Datasets screen would refuse (`PATCH`: "not a text column") is refused
    for a training too, before a job exists, with the sentence saying what to do."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    titles = [f"Article number {i} about rivers" for i in range(40)]
    # A spreadsheet export whose text column came out empty; a JSONL with a numeric key; a
    # Parquet whose only other column holds numbers.
    csv_ds = upload(client, "articles.csv", ("title,text\r\n" + ",\r\n".join(titles) + ",\r\n").encode())
    assert csv_ds.status_code == 201, csv_ds.text
    jsonl = "\n".join(json.dumps({"n": i, "body": t}) for i, t in enumerate(titles)).encode()
    jsonl_ds = upload(client, "rows.jsonl", jsonl)
    pq.write_table(pa.table({"n": list(range(40)), "body": titles}), tmp_path / "p.parquet")
    parquet_ds = upload(client, "p.parquet", (tmp_path / "p.parquet").read_bytes())
    cases = [
        (csv_ds.json(), "text", "title"),
        (jsonl_ds.json(), "n", "body"),
        (parquet_ds.json(), "n", "body"),
    ]
    for ds, column, usable in cases:
        # What the Datasets screen answers for the same column.
        patched = client.patch(f"/api/v1/datasets/{ds['id']}", json={"text_column": column}, headers=AUTH)
        assert patched.status_code == 422, patched.text

        r = _job(client, "gpt2-byte-bpe", [ds["id"]], {"text_column": column, "vocab_size": 300})
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["code"] == "invalid_config"
        assert error["message"] == (
            f"The column {column!r} of dataset {ds['name']!r} holds no text: set the text column "
            f"to one of its text columns ({usable}), or leave it empty to use the column chosen "
            "on the Datasets screen."
        )
        assert error["details"] == [
            {"field": "text_column", "message": f"{column!r} holds no text in dataset {ds['name']!r}"}
        ]
    assert client.get("/api/v1/jobs", headers=AUTH).json() == []  # nothing was created

    # The same datasets with a column that has text (or the default one) train.
    ids = [ds["id"] for ds, _, _ in cases]
    r = _job(client, "gpt2-byte-bpe", ids[1:], {"text_column": "body", "vocab_size": 300})
    assert r.status_code == 201, r.text
    assert wait_for_job(client, r.json()["id"])["status"] == "succeeded"
    r = _job(client, "gpt2-byte-bpe", ids, {"vocab_size": 300})
    assert r.status_code == 201, r.text
    assert wait_for_job(client, r.json()["id"])["status"] == "succeeded"


def test_a_text_column_check_that_cannot_read_the_file_leaves_it_to_the_job(client, data_dir):
    ds = upload(client, "rows.jsonl", b'{"text": "some words here"}\n' * 20).json()
    (data_dir / "uploads" / f"{ds['id']}.jsonl").unlink()
    r = _job(client, "gpt2-byte-bpe", [ds["id"]], {"text_column": "text"})
    assert r.status_code == 201, r.text
    failed = wait_for_job(client, r.json()["id"])
    assert failed["status"] == "failed"
    assert failed["error"].startswith("Training failed: a dataset file could not be read;")


@pytest.fixture
def slow_reading(monkeypatch):
    """Makes reading take a while and lets the test release it."""
    release = threading.Event()
    original = corpus_module.CorpusStream._iter_source

    def slow(self, source):
        for i, text in enumerate(original(self, source)):
            if i % 256 == 0:
                release.wait(0.05)
            yield text

    monkeypatch.setattr(corpus_module.CorpusStream, "_iter_source", slow)
    yield release
    release.set()


def test_cancel_running_and_queued_jobs(client, corpus_ds, data_dir, slow_reading):
    running = _job(client, "classic-bpe", [corpus_ds["id"]]).json()
    queued = _job(client, "classic-bpe", [corpus_ds["id"]]).json()
    wait_for_job(client, running["id"], statuses={"running"})
    # Progress is real: it moves while reading.
    deadline = time.monotonic() + 10
    while client.get(f"/api/v1/jobs/{running['id']}", headers=AUTH).json()["progress"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # In use while queued/running.
    r = client.delete(f"/api/v1/datasets/{corpus_ds['id']}", headers=AUTH)
    assert r.status_code == 409 and r.json()["error"]["code"] == "dataset_in_use"

    r = client.post(f"/api/v1/jobs/{queued['id']}/cancel", headers=AUTH)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = client.post(f"/api/v1/jobs/{running['id']}/cancel", headers=AUTH)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    slow_reading.set()

    # The worker notices, discards the work and moves on to new jobs.
    follow_up = _job(client, "gpt2-byte-bpe", [corpus_ds["id"]], {"vocab_size": 300}).json()
    assert wait_for_job(client, follow_up["id"])["status"] == "succeeded"
    for job_id in (running["id"], queued["id"]):
        job = client.get(f"/api/v1/jobs/{job_id}", headers=AUTH).json()
        assert job["status"] == "cancelled" and job["artifact"] is None
        assert not (data_dir / "artifacts" / "tokenizers" / job_id).exists()
        r = client.get(f"/api/v1/jobs/{job_id}/artifact", headers=AUTH)
        assert r.status_code == 404 and r.json()["error"]["code"] == "no_artifact"
    r = client.post(f"/api/v1/jobs/{running['id']}/cancel", headers=AUTH)
    assert r.status_code == 409
    assert client.delete(f"/api/v1/datasets/{corpus_ds['id']}", headers=AUTH).status_code == 204


def test_a_failing_job_does_not_take_the_server_down(client, corpus_ds, data_dir):
    broken = upload(client, "gone.txt", b"some text\n").json()
    (data_dir / "uploads" / f"{broken['id']}.txt").unlink()
    failed = wait_for_job(client, _job(client, "classic-bpe", [broken["id"]]).json()["id"])
    assert failed["status"] == "failed"
    assert failed["error"].startswith("Training failed: a dataset file could not be read")
    assert "start a new job" in failed["error"]
    assert failed["artifact"] is None
    assert client.get("/health").status_code == 200
    ok = wait_for_job(
        client, _job(client, "gpt2-byte-bpe", [corpus_ds["id"]], {"vocab_size": 300}).json()["id"]
    )
    assert ok["status"] == "succeeded"
    r = client.post(f"/api/v1/jobs/{failed['id']}/try", json={"text": "x"}, headers=AUTH)
    assert r.status_code == 404 and r.json()["error"]["code"] == "no_artifact"


def test_try_limits(client, corpus_ds):
    job = wait_for_job(
        client, _job(client, "gpt2-byte-bpe", [corpus_ds["id"]], {"vocab_size": 300}).json()["id"]
    )
    ok = client.post(f"/api/v1/jobs/{job['id']}/try", json={"text": "a" * 100_000}, headers=AUTH)
    assert ok.status_code == 200
    too_long = client.post(f"/api/v1/jobs/{job['id']}/try", json={"text": "a" * 100_001}, headers=AUTH)
    assert too_long.status_code == 422
    assert client.post("/api/v1/jobs/job_missing/try", json={"text": "a"}, headers=AUTH).status_code == 404


def test_unknown_job_is_404(client):
    for method, path in [
        ("GET", "/api/v1/jobs/job_x"),
        ("GET", "/api/v1/jobs/job_x/logs"),
        ("POST", "/api/v1/jobs/job_x/cancel"),
        ("GET", "/api/v1/jobs/job_x/artifact"),
    ]:
        r = client.request(method, path, headers=AUTH)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_jobs_active_at_startup_become_interrupted(make_client, data_dir, corpus_ds, client):
    db: Database = client.app.state.ctx.db
    for job_id, status in (("job_stale1", "running"), ("job_stale2", "queued")):
        db.insert_job(
            {
                "id": job_id,
                "name": job_id,
                "template": "classic-bpe",
                "dataset_ids": [corpus_ds["id"]],
                "config": resolve_config("classic-bpe", {}),
                "created_at": "2026-01-01T00:00:00Z",
            }
        )
        db.update_job(job_id, status=status)
    restarted = make_client()
    for job_id in ("job_stale1", "job_stale2"):
        job = restarted.get(f"/api/v1/jobs/{job_id}", headers=AUTH).json()
        assert job["status"] == "interrupted"
        assert "Interrupted" in job["error"]
    assert client.delete(f"/api/v1/datasets/{corpus_ds['id']}", headers=AUTH).status_code == 204
