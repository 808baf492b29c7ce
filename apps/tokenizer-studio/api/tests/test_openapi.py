"""The OpenAPI schema: served behind the token, one model per response, one error envelope."""

import json

import pytest
from fastapi.testclient import TestClient

from app.models import ErrorResponse, Job, JobStatus
from app.openapi import openapi_document, render
from app.security import OPEN_ROUTES
from app.server import OPENAPI_URL
from tests.conftest import AUTH, BASE_URL, TOKEN, upload

# Answers whose body is not JSON described by a model: no content, or a file download.
NO_MODEL = {
    ("delete", "/api/v1/datasets/{dataset_id}"),
    ("delete", "/api/v1/jobs/{job_id}"),
    ("post", "/api/v1/session"),
    ("get", "/api/v1/jobs/{job_id}/artifact"),
    ("get", "/api/v1/jobs/{job_id}/export"),
    ("get", "/api/v1/diagnostics"),
}


def _operations(doc: dict):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def test_schema_is_not_an_open_route():
    assert OPENAPI_URL == "/api/v1/openapi.json"
    assert not any(path == OPENAPI_URL for _, path in OPEN_ROUTES)


@pytest.mark.parametrize("headers", [{}, {"X-Tokenizer-Studio-Token": "wrong"}])
def test_schema_needs_credentials(client, headers):
    r = client.get(OPENAPI_URL, headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    assert "paths" not in r.text


def test_schema_is_served_with_the_token_or_a_session(client):
    r = client.get(OPENAPI_URL, headers=AUTH)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    served = r.json()
    assert served["openapi"].startswith("3.")
    # The document written offline for the web's types is the one the server serves.
    assert served == openapi_document()
    assert TOKEN not in r.text

    code = client.post("/api/v1/session/launch-code", headers=AUTH).json()["code"]
    assert client.post("/api/v1/session", json={"code": code}).status_code == 204
    assert client.get(OPENAPI_URL).status_code == 200


def test_no_interactive_docs(client):
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        r = client.get(path, headers=AUTH)
        assert "swagger" not in r.text.lower() and "redoc" not in r.text.lower(), path
    assert client.get("/api/v1/docs", headers=AUTH).status_code == 404


def test_every_route_is_in_the_schema_with_a_model():
    doc = openapi_document()
    operations = {(m, p): op for m, p, op in _operations(doc)}
    expected = {
        ("get", "/health"),
        ("get", "/api/v1/health"),
        ("get", "/api/v1/session"),
        ("post", "/api/v1/session"),
        ("post", "/api/v1/session/launch-code"),
        ("get", "/api/v1/templates"),
        ("get", "/api/v1/datasets"),
        ("post", "/api/v1/datasets"),
        ("get", "/api/v1/datasets/{dataset_id}"),
        ("patch", "/api/v1/datasets/{dataset_id}"),
        ("delete", "/api/v1/datasets/{dataset_id}"),
        ("get", "/api/v1/datasets/{dataset_id}/preview"),
        ("get", "/api/v1/jobs"),
        ("post", "/api/v1/jobs"),
        ("post", "/api/v1/jobs/import"),
        ("get", "/api/v1/jobs/{job_id}"),
        ("delete", "/api/v1/jobs/{job_id}"),
        ("get", "/api/v1/jobs/{job_id}/logs"),
        ("post", "/api/v1/jobs/{job_id}/cancel"),
        ("get", "/api/v1/jobs/{job_id}/artifact"),
        ("get", "/api/v1/jobs/{job_id}/export"),
        ("post", "/api/v1/jobs/{job_id}/try"),
        ("post", "/api/v1/shutdown"),
        ("get", "/api/v1/system"),
        ("get", "/api/v1/system/storage"),
        ("post", "/api/v1/system/clear-caches"),
        ("post", "/api/v1/system/compute-check"),
        ("get", "/api/v1/diagnostics"),
        ("get", "/api/v1/logs"),
    }
    assert set(operations) == expected
    for key, operation in operations.items():
        responses = operation["responses"]
        success = [code for code in responses if code.startswith("2")]
        assert len(success) == 1, key
        content = responses[success[0]].get("content", {})
        if key in NO_MODEL:
            continue
        schema = content["application/json"]["schema"]
        ref = schema.get("$ref") or schema.get("items", {}).get("$ref")
        assert ref and ref.startswith("#/components/schemas/"), (key, schema)
    for upload_route in ("/api/v1/datasets", "/api/v1/jobs/import"):
        body = operations[("post", upload_route)]["requestBody"]["content"]["multipart/form-data"]
        assert body["schema"]["required"] == ["file"], upload_route
    import_body = operations[("post", "/api/v1/jobs/import")]["requestBody"]["content"]
    assert set(import_body["multipart/form-data"]["schema"]["properties"]) == {"file", "name"}


def test_errors_are_described_by_the_one_envelope():
    doc = openapi_document()
    envelope = {"$ref": "#/components/schemas/ErrorResponse"}
    for method, path, operation in _operations(doc):
        responses = operation["responses"]
        for code in ("4XX", "5XX"):
            assert responses[code]["content"]["application/json"]["schema"] == envelope, (
                method,
                path,
                code,
            )
        # FastAPI's own validation error shape is never sent, so it is never described.
        assert "422" not in responses, (method, path)
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert schemas["ErrorBody"]["required"] == ["code", "message"]


def test_job_status_in_the_schema_is_the_enum():
    schemas = openapi_document()["components"]["schemas"]
    assert schemas["JobStatus"]["enum"] == [s.value for s in JobStatus]
    assert schemas["Job"]["properties"]["status"] == {"$ref": "#/components/schemas/JobStatus"}


def test_real_answers_match_their_models(client):
    # An error of each producer (validation handler, ApiError, security middleware).
    for r in (
        client.post("/api/v1/jobs", json={"template": 3}, headers=AUTH),
        client.get("/api/v1/jobs/job_missing", headers=AUTH),
        client.get("/api/v1/jobs"),
    ):
        assert r.status_code >= 400
        ErrorResponse.model_validate(r.json())
    invalid = client.post("/api/v1/jobs", json={"template": 3}, headers=AUTH).json()
    assert invalid["error"]["details"][0].keys() == {"field", "message"}

    ds = upload(client, "c.txt", b"hello world\n" * 50).json()
    created = client.post(
        "/api/v1/jobs",
        json={
            "template": "classic-bpe",
            "dataset_ids": [ds["id"]],
            "overrides": {"vocab_size": 64},
        },
        headers=AUTH,
    )
    assert created.status_code == 201
    # Exactly the model's fields: nothing internal (the stored file name) leaks through.
    assert set(created.json()) == set(Job.model_fields)
    assert "stored_name" not in ds


def test_operation_ids_are_the_route_names():
    ids = [op["operationId"] for _, _, op in _operations(openapi_document())]
    assert len(ids) == len(set(ids))
    assert {"list_jobs", "create_job", "upload_dataset", "health", "api_health"} <= set(ids)


def test_render_is_stable():
    text = render()
    assert text == render()
    assert text.endswith("\n")
    assert json.loads(text) == openapi_document()


def test_a_row_that_does_not_fit_its_model_is_a_plain_500(client):
    # As a real server answers: the error handler's response, not the exception re-raised.
    server = TestClient(client.app, base_url=BASE_URL, raise_server_exceptions=False)
    db = client.app.state.ctx.db
    db.insert_job(
        {
            "id": "job_bad",
            "name": "bad",
            "template": "classic-bpe",
            "dataset_ids": [],
            "config": {"model": "not-a-model"},
            "created_at": "2026-01-01T00:00:00Z",
        }
    )
    r = server.get("/api/v1/jobs/job_bad", headers=AUTH)
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "internal_error"
    assert "not-a-model" not in r.text
