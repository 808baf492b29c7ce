"""Deleting a job: its row, its log and its trained tokenizer go; nothing else does."""

from app.db import Database
from app.paths import DataPaths
from tests.conftest import AUTH, files_under, upload, wait_for_job
from tests.corpus import text_corpus
from tests.test_api_jobs import slow_reading  # noqa: F401 (a fixture)

CORPUS = text_corpus(100_000)


def _train(client, dataset_id, name, vocab_size=400):
    body = {
        "template": "classic-bpe",
        "dataset_ids": [dataset_id],
        "overrides": {"vocab_size": vocab_size},
        "name": name,
    }
    r = client.post("/api/v1/jobs", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    return r.json()


def test_deleting_a_finished_job_removes_its_tokenizer_and_log_only(client, data_dir):
    dataset = upload(client, "corpus.txt", CORPUS).json()
    keep = wait_for_job(client, _train(client, dataset["id"], "keep")["id"])
    gone = wait_for_job(client, _train(client, dataset["id"], "gone", 500)["id"])
    assert keep["status"] == gone["status"] == "succeeded"
    assert (data_dir / gone["artifact"]["path"]).is_file()

    r = client.delete(f"/api/v1/jobs/{gone['id']}", headers=AUTH)
    assert r.status_code == 204, r.text

    assert client.get(f"/api/v1/jobs/{gone['id']}", headers=AUTH).status_code == 404
    assert client.get(f"/api/v1/jobs/{gone['id']}/export", headers=AUTH).status_code == 404
    assert [job["id"] for job in client.get("/api/v1/jobs", headers=AUTH).json()] == [keep["id"]]
    assert not (data_dir / gone["artifact"]["path"]).parent.exists()
    db = Database(DataPaths(data_dir).db_file)
    try:
        assert db.query("SELECT COUNT(*) AS n FROM job_logs WHERE job_id = ?", (gone["id"],))[0]["n"] == 0
        assert db.query("SELECT COUNT(*) AS n FROM job_logs WHERE job_id = ?", (keep["id"],))[0]["n"] > 0
    finally:
        db.close()
    # What the user kept is untouched: the other tokenizer, the dataset.
    assert (data_dir / keep["artifact"]["path"]).is_file()
    r = client.post(f"/api/v1/jobs/{keep['id']}/try", json={"text": "still here"}, headers=AUTH)
    assert r.status_code == 200
    assert client.get(f"/api/v1/datasets/{dataset['id']}", headers=AUTH).status_code == 200
    assert any(name.startswith("uploads/") for name in files_under(data_dir))

    r = client.delete(f"/api/v1/jobs/{gone['id']}", headers=AUTH)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_an_active_job_cannot_be_deleted_until_cancelled(client, data_dir, slow_reading):  # noqa: F811
    dataset = upload(client, "corpus.txt", CORPUS).json()
    running = _train(client, dataset["id"], "running")
    wait_for_job(client, running["id"], statuses={"running"})
    r = client.delete(f"/api/v1/jobs/{running['id']}", headers=AUTH)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "job_active"
    assert "cancel it first" in r.json()["error"]["message"]

    assert client.post(f"/api/v1/jobs/{running['id']}/cancel", headers=AUTH).status_code == 200
    slow_reading.set()
    assert client.delete(f"/api/v1/jobs/{running['id']}", headers=AUTH).status_code == 204
    assert client.get(f"/api/v1/jobs/{running['id']}", headers=AUTH).status_code == 404


def test_delete_needs_the_token(client):
    assert client.delete("/api/v1/jobs/job_x").status_code == 401
