"""`GET /api/v1/system/storage`: each part of the data folder, its path and its size on disk."""

import os

from tests.conftest import AUTH, upload, wait_for_job
from tests.corpus import text_corpus


def _parts(client):
    r = client.get("/api/v1/system/storage", headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    return body, {part["id"]: part for part in body["parts"]}


def _on_disk(*files):
    return sum(os.stat(f).st_blocks * 512 for f in files)


def test_each_part_is_its_folder_with_its_size(client, data_dir):
    corpus = text_corpus(200_000)
    dataset = upload(client, "corpus.txt", corpus).json()
    job = client.post(
        "/api/v1/jobs",
        json={"template": "classic-bpe", "dataset_ids": [dataset["id"]], "overrides": {"vocab_size": 400}},
        headers=AUTH,
    ).json()
    job = wait_for_job(client, job["id"])
    body, parts = _parts(client)

    assert body["data_dir"] == str(data_dir)
    assert 0 < body["free_bytes"] <= body["total_bytes"]
    assert list(parts) == ["uploads", "tokenizers", "database", "logs", "cache", "engines"]
    assert parts["uploads"]["path"] == str(data_dir / "uploads")
    uploads = [p for p in (data_dir / "uploads").rglob("*") if p.is_file()]
    assert parts["uploads"]["files"] == len(uploads) >= 1
    assert parts["uploads"]["bytes"] == _on_disk(*uploads) >= len(corpus) - 4096
    # tokenizer.json and the training config beside it.
    trained = [p for p in (data_dir / job["artifact"]["path"]).parent.iterdir()]
    assert parts["tokenizers"]["files"] == len(trained) >= 1
    assert parts["tokenizers"]["bytes"] == _on_disk(*trained)
    assert parts["database"]["bytes"] > 0
    assert parts["engines"] == {
        "id": "engines",
        "label": parts["engines"]["label"],
        "path": str(data_dir / "runtime"),
        "bytes": 0,
        "files": 0,
    }

    # Deleting the dataset gives its space back in the next answer.
    assert client.delete(f"/api/v1/datasets/{dataset['id']}", headers=AUTH).status_code == 204
    _, after = _parts(client)
    assert after["uploads"]["files"] == 0 and after["uploads"]["bytes"] == 0


def test_engines_sharing_files_by_hard_links_count_them_once(client, data_dir):
    runtime = data_dir / "runtime"
    current = runtime / "current" / "python"
    previous = runtime / "previous" / "python"
    current.mkdir(parents=True)
    previous.mkdir(parents=True)
    shared = current / "libpython.so"
    shared.write_bytes(os.urandom(300_000))
    os.link(shared, previous / "libpython.so")
    own = previous / "old.py"
    own.write_bytes(b"x" * 10_000)
    # A link out of the data folder is not followed, and a loop does not hang the walk.
    (previous / "elsewhere").symlink_to("/usr")
    (current / "loop").symlink_to(runtime)

    _, parts = _parts(client)
    assert parts["engines"]["files"] == 2
    assert parts["engines"]["bytes"] == _on_disk(shared, own)


def test_storage_needs_the_token(client):
    assert client.get("/api/v1/system/storage").status_code == 401
