"""Dataset upload (streaming, checks, bad input), listing, text column, preview, delete."""

import hashlib
import json

import pytest

from tests.conftest import AUTH, files_under, upload

TEXT = b"first line of text\nsecond line\n\nthird line\n"


def _no_leftovers(data_dir):
    leftovers = [p for p in files_under(data_dir) if p.endswith(".part") or "incoming" in p]
    assert leftovers == []


def test_upload_txt(client, data_dir):
    r = upload(client, "corpus.txt", TEXT)
    assert r.status_code == 201, r.text
    ds = r.json()
    assert ds["id"].startswith("ds_")
    assert ds["name"] == "corpus.txt"
    assert ds["format"] == "txt"
    assert ds["size_bytes"] == len(TEXT)
    assert ds["sha256"] == hashlib.sha256(TEXT).hexdigest()
    assert ds["columns"] is None and ds["text_column"] is None
    assert ds["n_rows"] == 3
    assert ds["created_at"].endswith("Z")
    stored = data_dir / "uploads" / f"{ds['id']}.txt"
    assert stored.read_bytes() == TEXT
    assert client.get(f"/api/v1/datasets/{ds['id']}", headers=AUTH).json() == ds
    preview = client.get(f"/api/v1/datasets/{ds['id']}/preview?limit=2", headers=AUTH).json()
    assert preview == {"rows": ["first line of text", "second line"]}
    _no_leftovers(data_dir)


def test_upload_jsonl_picks_text_column_and_patch(client):
    rows = [{"id": i, "title": f"title {i}", "text": f"body number {i}"} for i in range(5)]
    content = "\n".join(json.dumps(r) for r in rows).encode()
    ds = upload(client, "rows.jsonl", content).json()
    assert ds["columns"] == ["id", "title", "text"]
    assert ds["text_column"] == "text"
    assert ds["n_rows"] == 5
    preview = client.get(f"/api/v1/datasets/{ds['id']}/preview", headers=AUTH).json()["rows"]
    assert preview[0] == "body number 0" and len(preview) == 5

    r = client.patch(f"/api/v1/datasets/{ds['id']}", json={"text_column": "title"}, headers=AUTH)
    assert r.status_code == 200 and r.json()["text_column"] == "title"
    preview = client.get(f"/api/v1/datasets/{ds['id']}/preview", headers=AUTH).json()["rows"]
    assert preview[0] == "title 0"
    for bad in ("missing", "id"):  # not a column / not a text column
        r = client.patch(f"/api/v1/datasets/{ds['id']}", json={"text_column": bad}, headers=AUTH)
        assert r.status_code == 422, bad
        assert r.json()["error"]["code"] == "invalid_column"
    r = client.patch(f"/api/v1/datasets/{ds['id']}", json={"text_column": "text", "x": 1}, headers=AUTH)
    assert r.status_code == 422


def test_a_jsonl_key_whose_strings_are_all_empty_is_not_a_text_column(client):
    rows = [{"text": "", "title": f"title number {i}"} for i in range(5)]
    ds = upload(client, "rows.jsonl", "\n".join(json.dumps(r) for r in rows).encode()).json()
    assert ds["columns"] == ["text", "title"]
    assert ds["text_column"] == "title", "the key that has words, not the empty `text`"
    r = client.patch(f"/api/v1/datasets/{ds['id']}", json={"text_column": "text"}, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_column"
    assert (
        r.json()["error"]["message"] == "'text' is not a text column of this dataset; choose one of: title."
    )


def test_upload_csv_first_string_column(client):
    content = b'id,score,body,note\n1,0.5,hello there,a\n2,0.7,"quoted, text\nover lines",b\n'
    ds = upload(client, "t.csv", content).json()
    assert ds["columns"] == ["id", "score", "body", "note"]
    assert ds["text_column"] == "body"
    assert ds["n_rows"] == 2
    rows = client.get(f"/api/v1/datasets/{ds['id']}/preview", headers=AUTH).json()["rows"]
    assert rows == ["hello there", "quoted, text\nover lines"]


def test_upload_parquet(client, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"n": [1, 2, 3], "content": ["alpha beta", "gamma", "delta epsilon"]})
    path = tmp_path / "d.parquet"
    pq.write_table(table, path)
    ds = upload(client, "d.parquet", path.read_bytes()).json()
    assert ds["format"] == "parquet"
    assert ds["columns"] == ["n", "content"]
    assert ds["text_column"] == "content"
    assert ds["n_rows"] == 3
    rows = client.get(f"/api/v1/datasets/{ds['id']}/preview?limit=2", headers=AUTH).json()["rows"]
    assert rows == ["alpha beta", "gamma"]


def test_list_newest_first_and_delete(client, data_dir):
    a = upload(client, "a.txt", b"aaa\n").json()
    b = upload(client, "b.txt", b"bbb\n").json()
    listed = client.get("/api/v1/datasets", headers=AUTH).json()
    assert [d["id"] for d in listed] == [b["id"], a["id"]]
    assert client.delete(f"/api/v1/datasets/{a['id']}", headers=AUTH).status_code == 204
    assert not (data_dir / "uploads" / f"{a['id']}.txt").exists()
    assert client.get(f"/api/v1/datasets/{a['id']}", headers=AUTH).status_code == 404
    assert client.delete(f"/api/v1/datasets/{a['id']}", headers=AUTH).status_code == 404
    assert [d["id"] for d in client.get("/api/v1/datasets", headers=AUTH).json()] == [b["id"]]


@pytest.mark.parametrize(
    ("name", "content", "status", "code"),
    [
        ("empty.txt", b"", 422, "empty_file"),
        ("blank.txt", b"\n\n  \n", 422, "empty_file"),
        ("bin.txt", b"looks like text\x00\x01\x02 but is not", 422, "not_text"),
        ("latin1.txt", "caf\u00e9 cr\u00e8me".encode("latin-1"), 422, "not_text"),
        ("truncated.txt", "ok \u00e9".encode()[:-1], 422, "not_text"),
        ("fake.csv", bytes(range(256)) * 10, 422, "not_text"),
        ("image.jsonl", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 422, "not_text"),
        ("../../x", b"hello\n", 415, "unsupported_type"),
        ("program.exe", b"hello\n", 415, "unsupported_type"),
        ("data.json", b'{"text": "a"}', 415, "unsupported_type"),
        ("noext", b"hello\n", 415, "unsupported_type"),
        ("..", b"hello\n", 400, "invalid_filename"),
        ("numbers.jsonl", b'{"a": 1, "b": 2.5}\n{"a": 3, "b": null}\n', 422, "no_text_column"),
        # Strings that are all empty hold no text, as an all-blank CSV column does.
        ("blank.jsonl", b'{"text": ""}\n{"text": "  ", "n": 2}\n', 422, "no_text_column"),
        ("blank.csv", b"n,text\n1,\n2,  \n", 422, "no_text_column"),
        ("numbers.csv", b"a,b\n1,2\n3,4.5\n", 422, "no_text_column"),
        ("noheader.csv", b"\n", 422, "no_text_column"),
        ("broken.jsonl", b'{"text": "a"}\nnot json\n', 422, "invalid_file"),
        ("list.jsonl", b'["a", "b"]\n', 422, "invalid_file"),
        ("bad.parquet", b"PAR1 definitely not parquet PAR1", 422, "invalid_file"),
    ],
)
def test_bad_uploads(client, data_dir, tmp_path, name, content, status, code):
    r = upload(client, name, content)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["message"]
    assert files_under(data_dir / "uploads") == []
    assert files_under(data_dir / "tmp") == []
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # nothing outside the data root
    assert client.get("/api/v1/datasets", headers=AUTH).json() == []


def test_parquet_without_string_column(client, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"n": [1, 2]}), tmp_path / "n.parquet")
    r = upload(client, "n.parquet", (tmp_path / "n.parquet").read_bytes())
    assert r.status_code == 422 and r.json()["error"]["code"] == "no_text_column"


def test_traversal_name_is_sanitised_and_stays_inside(client, data_dir, tmp_path):
    r = upload(client, "../../escape.txt", b"hello\n")
    assert r.status_code == 201
    assert r.json()["name"] == "escape.txt"
    assert not (tmp_path / "escape.txt").exists()
    assert not (data_dir.parent / "escape.txt").exists()
    assert files_under(data_dir / "uploads") == [f"{r.json()['id']}.txt"]


def _raw_multipart(filename: bytes, content: bytes) -> tuple[bytes, str]:
    boundary = "----tsboundary"
    body = (
        f"--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="file"; filename="'
        + filename
        + b'"\r\n'
        + b"Content-Type: text/plain\r\n\r\n"
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("filename", [b"a\x00b.txt", b"evil.txt\x00.parquet"])
def test_nul_in_filename_is_rejected(client, data_dir, filename):
    body, ctype = _raw_multipart(filename, b"hello\n")
    r = client.post("/api/v1/datasets", content=body, headers={**AUTH, "Content-Type": ctype})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_filename"
    assert files_under(data_dir / "uploads") == []


def test_rfc5987_only_filename_is_rejected(client, data_dir):
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f"filename*=UTF-8''a%00b.txt\r\n\r\nhello\n\r\n--{boundary}--\r\n"
    ).encode()
    r = client.post(
        "/api/v1/datasets",
        content=body,
        headers={**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    # Only a plain filename parameter is accepted (browsers never send filename* alone).
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"
    assert files_under(data_dir / "uploads") == []


def test_oversized_upload_streamed(make_client, data_dir):
    client = make_client(max_upload_bytes=10_000)
    r = upload(client, "big.txt", b"a" * 10_001)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "upload_too_large"
    assert files_under(data_dir / "uploads") == []
    ok = upload(client, "fits.txt", b"a" * 10_000)
    assert ok.status_code == 201


def test_oversized_upload_rejected_from_content_length(make_client, data_dir):
    client = make_client(max_upload_bytes=1000)
    body, ctype = _raw_multipart(b"big.txt", b"b" * 200_000)

    def chunks():
        for i in range(0, len(body), 4096):
            yield body[i : i + 4096]

    r = client.post(
        "/api/v1/datasets",
        content=chunks(),
        headers={**AUTH, "Content-Type": ctype, "Content-Length": str(len(body))},
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "upload_too_large"
    assert files_under(data_dir / "uploads") == []


def test_upload_needs_multipart_file_field(client, data_dir):
    r = client.post("/api/v1/datasets", content=b"raw", headers={**AUTH, "Content-Type": "text/plain"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"
    r = client.post("/api/v1/datasets", data={"other": "x"}, files={"wrong": ("a.txt", b"x")}, headers=AUTH)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"
    r = client.post("/api/v1/datasets", data={"file": "not a file"}, headers=AUTH)
    assert r.status_code == 400
    assert files_under(data_dir / "uploads") == []


def test_upload_needs_token(client, data_dir):
    r = upload(client, "a.txt", b"hello\n", headers={})
    assert r.status_code == 401
    assert files_under(data_dir / "uploads") == []


def test_preview_limits(client):
    ds = upload(client, "a.txt", b"x\n" * 300).json()
    assert (
        len(client.get(f"/api/v1/datasets/{ds['id']}/preview?limit=200", headers=AUTH).json()["rows"]) == 200
    )
    assert client.get(f"/api/v1/datasets/{ds['id']}/preview?limit=0", headers=AUTH).status_code == 422
    assert client.get(f"/api/v1/datasets/{ds['id']}/preview?limit=201", headers=AUTH).status_code == 422
    assert client.get("/api/v1/datasets/ds_missing/preview", headers=AUTH).status_code == 404
