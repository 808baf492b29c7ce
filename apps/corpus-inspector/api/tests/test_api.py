"""The API through a real app (TestClient): corpora, tokenizers, inspections and their numbers."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from tokenizers import Tokenizer

from tests.conftest import AUTH, files_under, inspect, result_of, upload, upload_tokenizer, wait_for_job


def test_a_txt_corpus_gets_its_numbers(client):
    lines = ["one two three", "", "two three", "three", "  ", "four four four four"]
    r = upload(client, "small.txt", ("\n".join(lines) + "\n").encode())
    assert r.status_code == 201, r.text
    dataset = r.json()
    assert dataset["name"] == "small.txt"
    assert (dataset["format"], dataset["records"], dataset["fields"], dataset["text_field"]) == (
        "txt",
        4,
        None,
        None,
    )
    job = inspect(client, dataset_id=dataset["id"])
    assert job["status"] in ("queued", "running", "succeeded")
    result = result_of(client, job["id"])
    assert result["dataset"] == {
        "id": dataset["id"],
        "name": "small.txt",
        "format": "txt",
        "size_bytes": dataset["size_bytes"],
        "text_field": None,
    }
    assert (result["documents"], result["empty_records"], result["lines"]) == (4, 2, 6)
    assert (result["characters"], result["words"], result["unique_words"]) == (46, 10, 4)
    assert result["top_words"] == [
        {"word": "four", "count": 4},
        {"word": "three", "count": 3},
        {"word": "two", "count": 2},
        {"word": "one", "count": 1},
    ]
    length = result["document_length"]
    assert (length["unit"], length["average"], length["median"], length["min"], length["max"]) == (
        "characters",
        11.5,
        11.0,
        5,
        19,
    )
    # Lengths 5, 9, 13 and 19 in ten equal buckets from 5 to 19.
    assert [(b["from"], b["to"], b["count"]) for b in length["histogram"]] == [
        (5, 6, 1),
        (7, 7, 0),
        (8, 9, 1),
        (10, 10, 0),
        (11, 12, 0),
        (13, 13, 1),
        (14, 15, 0),
        (16, 16, 0),
        (17, 18, 0),
        (19, 19, 1),
    ]
    assert result["tokenizer"] is None and result["tokens"] is None
    done = client.get(f"/api/v1/jobs/{job['id']}", headers=AUTH).json()
    assert done["phase"] == "done" and done["progress"] == 1 and done["has_result"]
    assert done["summary"] == {"documents": 4, "words": 10, "tokens": None}
    assert done["messages"][-1] == "Inspected 4 documents."


def reference(texts: list[str]) -> dict:
    """The statistics, computed the plainest way."""
    docs = [t for t in texts if t.strip()]
    words = [w for t in docs for w in t.split()]
    lengths = sorted(len(t) for t in docs)
    return {
        "documents": len(docs),
        "characters": sum(lengths),
        "words": len(words),
        "unique_words": len(set(words)),
        "top": Counter(words).most_common(20),
        "max": lengths[-1],
        "histogram_total": len(docs),
    }


def test_a_larger_generated_corpus_matches_a_plain_count(client):
    rng = random.Random(7)
    vocabulary = [f"w{i}" for i in range(300)] + ["naïve", "日本語", "emoji🙂"]
    texts = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 40))) for _ in range(3000)]
    r = upload(client, "gen.txt", ("\n".join(texts) + "\n").encode())
    result = result_of(client, inspect(client, dataset_id=r.json()["id"])["id"])
    expected = reference(texts)
    for key in ("documents", "characters", "words", "unique_words"):
        assert result[key] == expected[key], key
    counts = {w["word"]: w["count"] for w in result["top_words"]}
    assert len(result["top_words"]) == 20
    # The 20 most frequent, each with its true count (ties may come in either order).
    true = Counter(t for text in texts for t in text.split())
    assert all(true[word] == n for word, n in counts.items())
    assert min(counts.values()) >= expected["top"][19][1]
    histogram = result["document_length"]["histogram"]
    assert len(histogram) == 10 and sum(b["count"] for b in histogram) == 3000
    assert histogram[0]["from"] == result["document_length"]["min"]
    assert histogram[-1]["to"] == result["document_length"]["max"] == expected["max"]


def test_jsonl_takes_the_text_from_a_field(client):
    rows = [
        {"id": 1, "title": "First", "text": "hello world"},
        {"id": 2, "title": "Second", "text": "a text\nover two lines"},
        {"id": 3, "title": "Third", "text": None},
        {"id": 4, "title": "Fourth", "text": ""},
    ]
    content = (
        "\ufeff"
        + "\n".join(json.dumps(r) for r in rows[:2])
        + "\n\n"
        + "\n".join(json.dumps(r) for r in rows[2:])
    )
    dataset = upload(client, "rows.jsonl", content.encode()).json()
    assert dataset["records"] == 4
    # "id" holds numbers, so it cannot be the text.
    assert dataset["fields"] == ["title", "text"] and dataset["text_field"] == "text"
    result = result_of(client, inspect(client, dataset_id=dataset["id"])["id"])
    assert (result["documents"], result["empty_records"], result["lines"], result["words"]) == (2, 2, 3, 7)
    assert result["dataset"]["text_field"] == "text"
    titles = result_of(client, inspect(client, dataset_id=dataset["id"], text_field="title")["id"])
    assert (titles["documents"], titles["words"], titles["characters"]) == (
        4,
        4,
        len("FirstSecondThirdFourth"),
    )


def test_csv_takes_the_text_from_a_column(client):
    content = (
        "label,body,score\n"
        'a,"first row, with a comma",1\n'
        'b,"a cell\nover two lines",2\n'
        "c\n"  # a short row: its body is empty
        ",,\n"  # a blank row
        "d,last one,4\n"
    )
    dataset = upload(client, "table.csv", content.encode()).json()
    assert dataset["records"] == 4
    assert dataset["fields"] == ["label", "body", "score"]
    assert dataset["text_field"] == "label"  # no "text" column: the first that holds text
    result = result_of(client, inspect(client, dataset_id=dataset["id"], text_field="body")["id"])
    assert (result["documents"], result["empty_records"], result["lines"]) == (3, 1, 4)
    assert result["words"] == 5 + 5 + 2
    assert result["top_words"][0] == {"word": "a", "count": 2}  # "with a comma", "a cell"


def test_a_tokenizer_counts_the_tokens(client, bpe_tokenizer_json):
    r = upload_tokenizer(client, bpe_tokenizer_json)
    assert r.status_code == 201, r.text
    tokenizer = r.json()
    loaded = Tokenizer.from_str(bpe_tokenizer_json)
    assert tokenizer["model"] == "BPE" and tokenizer["unk_token"] == "[UNK]"
    assert tokenizer["vocab_size"] == loaded.get_vocab_size()
    texts = [
        "the quick brown fox jumps over the lazy dog",
        "tokens from a tokenizer",
        "unknown symbols: Ω Ж 12345",
        "",
        "the lazy dog",
    ]
    dataset = upload(client, "for-tokens.txt", ("\n".join(texts) + "\n").encode()).json()
    job = inspect(client, dataset_id=dataset["id"], tokenizer_id=tokenizer["id"])
    assert job["tokenizer"] == {"id": tokenizer["id"], "name": "tokenizer.json"}
    result = result_of(client, job["id"])

    encoded = [loaded.encode(t, add_special_tokens=False).ids for t in texts if t.strip()]
    ids = Counter(i for doc in encoded for i in doc)
    total = sum(ids.values())
    unk = loaded.token_to_id("[UNK]")
    tokens = result["tokens"]
    assert tokens["total"] == total
    assert tokens["per_word"] == round(total / result["words"], 4)
    assert tokens["per_character"] == round(total / result["characters"], 4)
    assert ids[unk] > 0
    assert tokens["unknown"] == {"token": "[UNK]", "count": ids[unk], "rate": round(ids[unk] / total, 6)}
    top = {t["id"]: t["count"] for t in tokens["top_tokens"]}
    assert all(ids[i] == n for i, n in top.items())
    assert [t["token"] for t in tokens["top_tokens"]] == [loaded.id_to_token(i) for i in top]
    assert result["tokenizer"]["name"] == "tokenizer.json" and result["tokenizer"]["model"] == "BPE"
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=AUTH).json()["summary"]["tokens"] == total


def test_a_tokenizer_without_an_unknown_token_reports_none(client):
    from tokenizers import Tokenizer as Tok
    from tokenizers import decoders, models, pre_tokenizers, trainers

    byte_level = Tok(models.BPE())
    byte_level.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    byte_level.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    byte_level.train_from_iterator(["some text to learn from"] * 10, trainer)
    tokenizer = upload_tokenizer(client, byte_level.to_str(), "byte-level.json").json()
    assert tokenizer["unk_token"] is None
    dataset = upload(client, "c.txt", b"some text\nnew words here\n").json()
    tokens = result_of(client, inspect(client, dataset_id=dataset["id"], tokenizer_id=tokenizer["id"])["id"])[
        "tokens"
    ]
    assert tokens["unknown"] is None and tokens["total"] > 0


@pytest.mark.parametrize("kind", ["WordPiece", "Unigram"])
def test_other_tokenizer_models_name_their_unknown_token(client, kind):
    from tokenizers import Tokenizer as Tok
    from tokenizers import models, pre_tokenizers, trainers

    if kind == "WordPiece":
        tok = Tok(models.WordPiece(unk_token="[UNK]"))
        trainer = trainers.WordPieceTrainer(vocab_size=80, special_tokens=["[UNK]"], show_progress=False)
    else:
        tok = Tok(models.Unigram())
        trainer = trainers.UnigramTrainer(
            vocab_size=60, special_tokens=["<unk>"], unk_token="<unk>", show_progress=False
        )
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(["the quick brown fox jumps over the lazy dog"] * 10, trainer)
    r = upload_tokenizer(client, tok.to_str())
    assert r.status_code == 201, r.text
    assert r.json()["model"] == kind
    assert r.json()["unk_token"] == ("[UNK]" if kind == "WordPiece" else "<unk>")
    dataset = upload(client, "c.txt", "the fox 🙂 Ω\n".encode()).json()
    tokens = result_of(client, inspect(client, dataset_id=dataset["id"], tokenizer_id=r.json()["id"])["id"])[
        "tokens"
    ]
    assert tokens["unknown"]["count"] >= 1


def test_lists_get_and_delete(client, data_dir, bpe_tokenizer_json):
    first = upload(client, "a.txt", b"alpha\n").json()
    second = upload(client, "b.jsonl", b'{"text": "beta"}\n').json()
    listed = client.get("/api/v1/datasets", headers=AUTH).json()["datasets"]
    assert [d["id"] for d in listed] == [second["id"], first["id"]]  # newest first
    assert client.get(f"/api/v1/datasets/{first['id']}", headers=AUTH).json() == listed[1]
    tokenizer = upload_tokenizer(client, bpe_tokenizer_json).json()
    assert client.get("/api/v1/tokenizers", headers=AUTH).json()["tokenizers"] == [tokenizer]
    assert client.get(f"/api/v1/tokenizers/{tokenizer['id']}", headers=AUTH).json() == tokenizer

    job = inspect(client, dataset_id=first["id"], tokenizer_id=tokenizer["id"])
    wait_for_job(client, job["id"])
    jobs = client.get("/api/v1/jobs", headers=AUTH).json()["jobs"]
    assert [j["id"] for j in jobs] == [job["id"]] and "messages" not in jobs[0]

    assert client.delete(f"/api/v1/datasets/{first['id']}", headers=AUTH).status_code == 204
    assert client.delete(f"/api/v1/tokenizers/{tokenizer['id']}", headers=AUTH).status_code == 204
    assert client.get(f"/api/v1/datasets/{first['id']}", headers=AUTH).status_code == 404
    # The inspection keeps its result, and says what it was of once its sources are gone.
    kept = client.get(f"/api/v1/jobs/{job['id']}", headers=AUTH).json()
    assert kept["dataset"] == {"id": first["id"], "name": None}
    assert kept["tokenizer"] == {"id": tokenizer["id"], "name": None}
    assert client.get(f"/api/v1/jobs/{job['id']}/result", headers=AUTH).json()["dataset"]["name"] == "a.txt"
    assert client.delete(f"/api/v1/jobs/{job['id']}", headers=AUTH).status_code == 204
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=AUTH).status_code == 404
    assert files_under(data_dir / "uploads") == [f"datasets/{second['id']}.jsonl"]
    assert files_under(data_dir / "jobs") == []


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/datasets/ds_0000000000000000",
        "/api/v1/datasets/../../etc",
        "/api/v1/tokenizers/tok_0000000000000000",
        "/api/v1/jobs/job_0000000000000000",
        "/api/v1/jobs/nonsense/result",
    ],
)
def test_unknown_ids_are_404_with_a_sentence(client, path):
    r = client.get(path, headers=AUTH)
    assert r.status_code == 404
    assert r.json()["error"]["message"].endswith(".")


def test_a_job_needs_a_known_corpus_and_tokenizer(client):
    r = client.post("/api/v1/jobs", json={"dataset_id": "ds_0123456789abcdef"}, headers=AUTH)
    assert r.status_code == 404 and "no corpus" in r.json()["error"]["message"]
    dataset = upload(client, "a.txt", b"alpha\n").json()
    r = client.post(
        "/api/v1/jobs",
        json={"dataset_id": dataset["id"], "tokenizer_id": "tok_0123456789abcdef"},
        headers=AUTH,
    )
    assert r.status_code == 404 and "no tokenizer" in r.json()["error"]["message"]
    r = client.post("/api/v1/jobs", json={"dataset_id": dataset["id"], "extra": 1}, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "extra"
    assert client.get("/api/v1/jobs", headers=AUTH).json()["jobs"] == []


def test_the_openapi_schema_lists_the_routes(client):
    schema = client.get("/api/v1/openapi.json", headers=AUTH).json()
    assert schema["info"]["title"] == "Corpus Inspector"
    paths = set(schema["paths"])
    assert {"/api/v1/datasets", "/api/v1/tokenizers", "/api/v1/jobs", "/api/v1/jobs/{job_id}/result"} <= paths
