"""Bad input gets a sentence saying what to do, and loses nothing: no half-stored upload, no
change to what was there before."""

from __future__ import annotations

import json
import struct
import zlib

import pytest

from inspector import routes, security
from tests.conftest import AUTH, files_under, inspect, upload, upload_tokenizer, wait_for_job


@pytest.fixture
def kept(client, data_dir):
    """A corpus already stored: every refusal below must leave it, and only it."""
    dataset = upload(client, "kept.txt", b"kept text\n").json()

    def check() -> None:
        assert client.get("/api/v1/datasets", headers=AUTH).json()["datasets"] == [dataset]
        assert client.get("/api/v1/tokenizers", headers=AUTH).json()["tokenizers"] == []
        assert files_under(data_dir / "uploads") == [f"datasets/{dataset['id']}.txt"]

    return check


def assert_refused(r, status: int, code: str, words: str) -> str:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    message = error["message"]
    assert words in message and message.endswith("."), message
    return message


def a_png() -> bytes:
    row = b"\x00" + b"\xff\x00\x00\xff" * 4
    raw = zlib.compress(row * 4)
    ihdr = struct.pack(">IIBBBBB", 4, 4, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + ihdr + raw


@pytest.mark.parametrize(
    ("name", "content", "status", "code", "words"),
    [
        ("picture.txt", a_png(), 422, "not_text", "not UTF-8 text (it may be a binary file"),
        ("latin1.txt", "café crème\n".encode("latin-1"), 422, "not_text", "save it as UTF-8"),
        ("cut.txt", b"ok " + "é".encode()[:1], 422, "not_text", "UTF-8"),
        ("empty.txt", b"", 422, "empty_file", "The file is empty"),
        ("blank.txt", b"\n  \n\t\n", 422, "invalid_file", "only blank lines"),
        ("blank.jsonl", b"\n\n", 422, "invalid_file", "only blank lines"),
        ("broken.jsonl", b'{"text": "ok"}\n{"text": \n', 422, "invalid_file", "Line 2 is not valid JSON"),
        ("list.jsonl", b'["text"]\n', 422, "invalid_file", "Line 1 is not a JSON object"),
        ("deep.jsonl", b"[" * 100_000 + b"\n", 422, "invalid_file", "Line 1 is not valid JSON"),
        ("numbers.jsonl", b'{"n": 1}\n{"n": 2}\n', 422, "invalid_file", "No field holds text in every line"),
        ("mixed.jsonl", b'{"text": "a"}\n{"body": "b"}\n', 422, "invalid_file", "No field holds text"),
        ("header-only.csv", b"text,label\n", 422, "invalid_file", "header row but no rows"),
        ("no-header.csv", b",,\nhello,world,x\n", 422, "invalid_file", "no header row"),
        ("sheet.xlsx", b"PK\x03\x04", 415, "unsupported_type", ".txt, .jsonl or .csv"),
        ("noextension", b"text\n", 415, "unsupported_type", "cannot be inspected"),
    ],
)
def test_a_bad_corpus_is_refused_and_nothing_is_stored(client, kept, name, content, status, code, words):
    assert_refused(upload(client, name, content), status, code, words)
    kept()


def test_an_overlong_line_is_refused(client, kept, monkeypatch):
    from inspector import corpus

    monkeypatch.setattr(corpus, "MAX_RECORD_BYTES", 1000)
    assert_refused(
        upload(client, "long.txt", b"short\n" + b"x" * 1001 + b"\n"), 422, "invalid_file", "Line 2 is longer"
    )
    kept()


def test_a_corpus_over_the_limit_is_refused_before_it_is_read(client, kept):
    # The app's limit here is 2 MB (conftest): the declared size alone refuses it.
    message = assert_refused(upload(client, "big.txt", b"word " * 500_000), 413, "upload_too_large", "limit")
    assert "2 MB" in message
    kept()


def test_a_streamed_corpus_over_the_limit_is_cut_off(client, kept):
    """Without a Content-Length (chunked), the count of the bytes received stops it."""
    boundary = "cut-here"

    def body():
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n\r\n'.encode()
        for _ in range(50):
            yield b"word " * 10_000
        yield f"\r\n--{boundary}--\r\n".encode()

    r = client.post(
        "/api/v1/datasets",
        content=body(),
        headers={**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert_refused(r, 413, "upload_too_large", "limit")
    kept()


def test_malformed_uploads(client, kept):
    r = client.post("/api/v1/datasets", json={"text": "hello"}, headers=AUTH)
    assert_refused(r, 400, "invalid_request", "multipart/form-data")
    r = client.post("/api/v1/datasets", files={"other": ("a.txt", b"hi")}, headers=AUTH)
    assert_refused(r, 400, "invalid_request", "field named 'file'")
    r = client.post(
        "/api/v1/datasets",
        content=b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nhello',
        headers={**AUTH, "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert_refused(r, 400, "invalid_request", "cut off before its end")
    kept()


def test_a_missing_column_or_field_is_refused_with_the_choices(client, kept):
    csv = upload(client, "t.csv", b"title,body\nA,some text\n").json()
    message = assert_refused(
        client.post("/api/v1/jobs", json={"dataset_id": csv["id"], "text_field": "text"}, headers=AUTH),
        422,
        "unknown_field",
        'no column named "text"',
    )
    assert '"title", "body"' in message
    jsonl = upload(client, "t.jsonl", b'{"text": "a", "note": "b"}\n{"text": "c"}\n').json()
    assert jsonl["fields"] == ["text"]  # "note" is not in every line
    assert_refused(
        client.post("/api/v1/jobs", json={"dataset_id": jsonl["id"], "text_field": "note"}, headers=AUTH),
        422,
        "unknown_field",
        'Not every line of the corpus has a "note" field',
    )
    txt = client.get("/api/v1/datasets", headers=AUTH).json()["datasets"][-1]
    assert_refused(
        client.post("/api/v1/jobs", json={"dataset_id": txt["id"], "text_field": "text"}, headers=AUTH),
        422,
        "unknown_field",
        "has no fields or columns",
    )
    assert client.get("/api/v1/jobs", headers=AUTH).json()["jobs"] == []


def test_a_field_empty_everywhere_fails_the_job_with_a_sentence(client):
    dataset = upload(client, "t.csv", b"title,body\nA,\nB,\n").json()
    job = inspect(client, dataset_id=dataset["id"], text_field="body")
    done = wait_for_job(client, job["id"])
    assert done["status"] == "failed"
    assert done["error"] == 'The "body" column is empty in every record; choose the one that holds the text.'
    r = client.get(f"/api/v1/jobs/{job['id']}/result", headers=AUTH)
    assert_refused(r, 409, "no_result", "empty in every record")
    # The corpus is still there, and the right column works.
    ok = wait_for_job(client, inspect(client, dataset_id=dataset["id"], text_field="title")["id"])
    assert ok["status"] == "succeeded"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"this is not json", "it is not valid JSON (line 1, column 1)"),
        (b"{}", 'has no "model" section'),
        (b"[1, 2, 3]", 'has no "model" section'),
        (json.dumps({"model": {"type": "Nope"}}).encode(), "the tokenizers library cannot load it"),
        (json.dumps({"model": {"type": "BPE", "vocab": "x"}}).encode(), "cannot load it"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "it is not UTF-8 text"),
    ],
)
def test_an_invalid_tokenizer_is_refused(client, kept, content, words):
    message = assert_refused(upload_tokenizer(client, content), 422, *_tokenizer_code(content), words)
    assert message.startswith("This is not a tokenizer.json file")
    assert "Tokenizer Studio" in message
    kept()


def _tokenizer_code(content: bytes) -> tuple[str]:
    return ("not_text",) if b"\x00" in content else ("invalid_tokenizer",)


def test_an_empty_or_oversized_tokenizer_is_refused(client, kept, monkeypatch):
    assert_refused(upload_tokenizer(client, b""), 422, "empty_file", "The file is empty")
    monkeypatch.setattr(security, "MAX_TOKENIZER_BYTES", 1000)
    monkeypatch.setattr(routes, "MAX_TOKENIZER_BYTES", 1000)
    big = json.dumps({"model": {"type": "WordLevel", "vocab": {f"w{i}": i for i in range(500)}}})
    assert_refused(upload_tokenizer(client, big), 413, "upload_too_large", "MB limit for a tokenizer.json")
    kept()


def test_a_corpus_in_use_cannot_be_removed(client, monkeypatch):
    """While its inspection waits or runs, its corpus and tokenizer stay."""
    import threading

    from inspector import inspect_job

    gate = threading.Event()
    started = threading.Event()
    real_add = inspect_job.TextStats.add

    def held_add(self, text):
        started.set()
        gate.wait(10)
        real_add(self, text)

    monkeypatch.setattr(inspect_job.TextStats, "add", held_add)
    dataset = upload(client, "a.txt", b"alpha\n").json()
    job = inspect(client, dataset_id=dataset["id"])
    assert started.wait(10)
    try:
        assert_refused(
            client.delete(f"/api/v1/datasets/{dataset['id']}", headers=AUTH), 409, "in_use", "cancel it"
        )
        assert_refused(
            client.delete(f"/api/v1/jobs/{job['id']}", headers=AUTH), 409, "in_use", "cancel it first"
        )
        assert_refused(
            client.get(f"/api/v1/jobs/{job['id']}/result", headers=AUTH),
            409,
            "not_finished",
            "not finished yet",
        )
    finally:
        gate.set()
    assert wait_for_job(client, job["id"])["status"] == "succeeded"
    assert client.delete(f"/api/v1/datasets/{dataset['id']}", headers=AUTH).status_code == 204
