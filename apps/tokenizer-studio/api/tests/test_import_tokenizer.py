"""Importing an existing tokenizer.json: checked by the real `tokenizers` library, then tried,
downloaded, exported and deleted like a trained tokenizer; refused files leave nothing behind."""

from __future__ import annotations

import errno
import io
import os
import sqlite3
import stat
import zipfile

import pytest
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from app.export import folder_name
from app.models import ErrorResponse, Job
from app.uploads import MAX_TOKENIZER_BYTES, MULTIPART_OVERHEAD
from tests.conftest import AUTH, files_under
from tests.corpus import sentences

IMPORT = "/api/v1/jobs/import"
SAMPLE = "Hello there, tokenizer!  Ünïcödé and digits 12345 sit beside émojis 🙂 and [MASK] words."
TEXTS = sentences(2000) + [SAMPLE]


def gpt2_style_bpe() -> str:
    """A byte-level BPE with GPT-2's end-of-text token, as `tokenizers` saves it."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=500,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(TEXTS, trainer)
    return tok.to_str(pretty=True)


def bert_style_wordpiece() -> str:
    """A BERT-like WordPiece: lowercasing, [CLS] … [SEP] around each text."""
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(vocab_size=400, special_tokens=special, show_progress=False)
    tok.train_from_iterator(TEXTS, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    return tok.to_str()


KINDS = {
    "bpe": (gpt2_style_bpe, "BPE", True, {"eos_token": "<|endoftext|>"}),
    "wordpiece": (
        bert_style_wordpiece,
        "WordPiece",
        False,
        {
            "unk_token": "[UNK]",
            "pad_token": "[PAD]",
            "cls_token": "[CLS]",
            "sep_token": "[SEP]",
            "mask_token": "[MASK]",
        },
    ),
}


def import_file(client, content: bytes, file_name: str = "tokenizer.json", name: str | None = None):
    data = {"name": name} if name is not None else None
    return client.post(
        IMPORT,
        files={"file": (file_name, content, "application/json")},
        data=data,
        headers=AUTH,
    )


def assert_nothing_kept(client, data_dir) -> None:
    """No tokenizer, no temp file, no row: a refused import leaves the data folder as it was."""
    assert files_under(data_dir / "artifacts") == []
    leftovers = [p for p in files_under(data_dir) if p.endswith((".part", ".tmp"))]
    assert leftovers == [] and files_under(data_dir / "tmp") == []
    assert client.get("/api/v1/jobs", headers=AUTH).json() == []


def assert_sentence(r, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    ErrorResponse.model_validate(r.json())
    error = r.json()["error"]
    assert error["code"] == code
    message = error["message"]
    # Plain words that say what to do: no library error, no JSON, no trace.
    assert message[0].isupper() and message.endswith("."), message
    for technical in ("line 1", "column", "Error", "Traceback", "{", "untagged enum"):
        assert technical not in message, message
    return message


# --- valid files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_an_imported_tokenizer_works_like_a_trained_one(client, data_dir, tmp_path, kind):
    build, model_type, byte_level, roles = KINDS[kind]
    text = build()
    content = text.encode()
    r = import_file(client, content, f"my-{kind}.json")
    assert r.status_code == 201, r.text
    job = r.json()
    assert set(job) == set(Job.model_fields)
    reference = Tokenizer.from_str(text)
    assert job["name"] == f"my-{kind}"
    assert job["template"] == "imported" and job["status"] == "succeeded" and job["phase"] == "done"
    assert job["config"] is None and job["dataset_ids"] == [] and job["error"] is None
    assert job["progress"] == 1.0 and job["finished_at"]
    assert job["metrics"]["vocab_size"] == reference.get_vocab_size() > 100
    assert job["metrics"]["model_type"] == model_type
    assert job["metrics"]["n_input_rows"] is None and job["metrics"]["duration_s"] is None

    # The file is kept exactly as uploaded, private like every file of the data folder.
    stored = data_dir / job["artifact"]["path"]
    assert stored.read_bytes() == content
    assert job["artifact"]["size_bytes"] == len(content)
    if os.name == "posix":
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
        assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    assert files_under(data_dir / "artifacts") == [f"tokenizers/{job['id']}/tokenizer.json"]

    listed = client.get("/api/v1/jobs", headers=AUTH).json()
    assert [j["id"] for j in listed] == [job["id"]] and listed[0] == job
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=AUTH).json() == job
    lines = client.get(f"/api/v1/jobs/{job['id']}/logs", headers=AUTH).json()["lines"]
    assert [line["message"] for line in lines] == [
        f"Imported my-{kind}.json: {model_type} model, {job['metrics']['vocab_size']:,} tokens, "
        f"{len(content):,} bytes."
    ]

    # Try it: the ids the tokenizers library itself gives.
    r = client.post(f"/api/v1/jobs/{job['id']}/try", json={"text": SAMPLE}, headers=AUTH)
    assert r.status_code == 200, r.text
    tried = r.json()
    expected = reference.encode(SAMPLE)
    assert tried["ids"] == expected.ids and tried["tokens"] == expected.tokens
    assert tried["decoded"] == reference.decode(expected.ids)
    assert tried["byte_level"] is byte_level

    r = client.get(f"/api/v1/jobs/{job['id']}/artifact", headers=AUTH)
    assert r.status_code == 200 and r.content == content

    # Export: a folder transformers loads, with the roles read from the tokenizer's own tokens.
    r = client.get(f"/api/v1/jobs/{job['id']}/export", headers=AUTH)
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        archive.extractall(tmp_path)
    exported = tmp_path / folder_name(job["name"])
    assert (exported / "tokenizer.json").read_bytes() == content
    loaded = AutoTokenizer.from_pretrained(str(exported))
    assert isinstance(loaded, PreTrainedTokenizerFast)
    for role, token in roles.items():
        assert getattr(loaded, role) == token, role
    assert loaded(SAMPLE)["input_ids"] == expected.ids
    assert loaded.decode(expected.ids, skip_special_tokens=True) == reference.decode(expected.ids)

    # Cancelling means nothing to it; deleting removes it like a trained tokenizer.
    r = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=AUTH)
    assert r.status_code == 409 and r.json()["error"]["code"] == "job_finished"
    assert client.delete(f"/api/v1/jobs/{job['id']}", headers=AUTH).status_code == 204
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=AUTH).status_code == 404
    assert client.post(f"/api/v1/jobs/{job['id']}/try", json={"text": "x"}, headers=AUTH).status_code == 404
    assert client.get("/api/v1/jobs", headers=AUTH).json() == []
    assert files_under(data_dir / "artifacts") == []


def test_the_name_field_names_the_job_and_the_file_name_is_the_default(client):
    content = bert_style_wordpiece().encode()
    named = import_file(client, content, "tokenizer.json", name="  My BERT\x07 tokenizer ")
    assert named.status_code == 201 and named.json()["name"] == "My BERT tokenizer"
    plain = import_file(client, content, "tokenizer.json")
    assert plain.json()["name"] == "tokenizer"
    # Any file name: the content decides, not the extension.
    renamed = import_file(client, content, "bert.tokenizer")
    assert renamed.status_code == 201 and renamed.json()["name"] == "bert.tokenizer"
    assert import_file(client, content, "C:\\Downloads\\Qwen.JSON").json()["name"] == "Qwen"


def test_a_tokenizer_without_special_tokens_exports_without_roles(client, tmp_path):
    tok = Tokenizer(models.WordLevel({"hello": 0, "world": 1, "?": 2}, unk_token="?"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    job = import_file(client, tok.to_str().encode(), "words.json").json()
    assert job["metrics"]["model_type"] == "WordLevel" and job["metrics"]["vocab_size"] == 3
    r = client.get(f"/api/v1/jobs/{job['id']}/export", headers=AUTH)
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        archive.extractall(tmp_path)
        assert archive.read("words/special_tokens_map.json") == b"{}\n"
    loaded = AutoTokenizer.from_pretrained(str(tmp_path / "words"))
    assert loaded("hello world")["input_ids"] == [0, 1]


def test_a_text_the_tokenizer_cannot_encode_is_a_sentence_not_a_crash(client):
    # A WordPiece without its unknown token fails on a word it cannot spell.
    tok = Tokenizer(models.WordPiece({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    data = tok.to_str().replace('"unk_token":"[UNK]"', '"unk_token":"<missing>"')
    job = import_file(client, data.encode(), "broken.json").json()
    assert client.post(f"/api/v1/jobs/{job['id']}/try", json={"text": "a"}, headers=AUTH).status_code == 200
    r = client.post(f"/api/v1/jobs/{job['id']}/try", json={"text": "zzz"}, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"]["code"] == "cannot_encode"
    assert r.json()["error"]["message"].startswith("The tokenizer cannot encode this text (")


def test_an_imported_tokenizer_survives_a_restart_and_a_cut_short_import_does_not(make_client, data_dir):
    client = make_client()
    text = gpt2_style_bpe()
    job = import_file(client, text.encode(), "kept.json").json()
    client.__exit__(None, None, None)
    # What an engine stopped mid-import leaves: its temp file in the tokenizers folder.
    partial = data_dir / "artifacts" / "tokenizers" / ".incoming-0123456789abcdef.part"
    partial.write_bytes(b'{"half": ')

    client = make_client()
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=AUTH).json() == job
    assert not partial.exists()
    assert files_under(data_dir / "artifacts") == [f"tokenizers/{job['id']}/tokenizer.json"]
    r = client.post(f"/api/v1/jobs/{job['id']}/try", json={"text": SAMPLE}, headers=AUTH)
    assert r.json()["ids"] == Tokenizer.from_str(text).encode(SAMPLE).ids


def test_imported_is_not_a_template_to_train_with(client):
    r = client.post("/api/v1/jobs", json={"template": "imported", "dataset_ids": ["ds_x"]}, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_template"


def test_import_needs_the_token(client, data_dir):
    r = client.post(IMPORT, files={"file": ("tokenizer.json", gpt2_style_bpe().encode())})
    assert r.status_code == 401
    assert files_under(data_dir / "artifacts") == []


# --- refused files --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "code", "says"),
    [
        (b"", "empty_file", "The file is empty"),
        (b"model: BPE\nvocab: {}\n", "not_json", "not JSON"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not_json", "not JSON"),
        (b'{"model": {"type": "BPE", "vocab": {"a": 0}', "not_json", "not JSON"),
        (b"[1, 2, 3]", "not_a_tokenizer", "JSON but not a tokenizer"),
        # A tokenizer_config.json: the file most often picked by mistake.
        (
            b'{"tokenizer_class": "PreTrainedTokenizerFast", "unk_token": "[UNK]"}',
            "not_a_tokenizer",
            "JSON but not a tokenizer",
        ),
        (b'{"version": "1.0", "model": {"type": "NoSuchModel"}}', "not_a_tokenizer", "not a tokenizer"),
    ],
    ids=["empty", "yaml", "binary", "cut-short", "array", "tokenizer-config", "unknown-model"],
)
def test_a_file_that_is_not_a_tokenizer_is_refused_in_a_sentence(client, data_dir, content, code, says):
    # An earlier import stays as it was.
    kept = import_file(client, bert_style_wordpiece().encode(), "kept.json").json()
    kept_files = files_under(data_dir / "artifacts")
    r = import_file(client, content, "tokenizer.json")
    message = assert_sentence(r, 422, code)
    assert says in message and "tokenizer.json" in message
    assert files_under(data_dir / "artifacts") == kept_files
    assert [j["id"] for j in client.get("/api/v1/jobs", headers=AUTH).json()] == [kept["id"]]
    assert client.delete(f"/api/v1/jobs/{kept['id']}", headers=AUTH).status_code == 204
    assert_nothing_kept(client, data_dir)


def test_a_name_too_long_is_refused_and_nothing_kept(client, data_dir):
    r = import_file(client, bert_style_wordpiece().encode(), name="n" * 201)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "name"
    assert_nothing_kept(client, data_dir)


def _multipart(size: int) -> tuple[bytes, bytes, str]:
    boundary = "import-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.json"\r\n'
        "Content-Type: application/json\r\n\r\n"
    ).encode()
    return head, f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_a_file_over_the_limit_is_refused_before_it_is_written(client, data_dir):
    head, tail, ctype = _multipart(0)
    declared = MAX_TOKENIZER_BYTES + MULTIPART_OVERHEAD + 1

    def body():
        yield head
        yield b" " * (declared - len(head) - len(tail))
        yield tail

    r = client.post(
        IMPORT, content=body(), headers={**AUTH, "Content-Type": ctype, "Content-Length": str(declared)}
    )
    message = assert_sentence(r, 413, "upload_too_large")
    assert "50 MB limit for a tokenizer.json" in message
    assert_nothing_kept(client, data_dir)


def test_a_file_over_the_limit_without_a_declared_size_is_refused_while_it_streams(client, data_dir):
    head, tail, ctype = _multipart(0)
    chunk = b" " * (1 << 20)

    def body():
        yield head
        for _ in range(MAX_TOKENIZER_BYTES // len(chunk)):
            yield chunk
        yield b" " * (MAX_TOKENIZER_BYTES % len(chunk) + 1)
        yield tail

    r = client.post(IMPORT, content=body(), headers={**AUTH, "Content-Type": ctype})
    assert "50 MB limit" in assert_sentence(r, 413, "upload_too_large")
    assert_nothing_kept(client, data_dir)


@pytest.mark.parametrize(
    "failure",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        sqlite3.OperationalError("database or disk is full"),
    ],
    ids=["enospc", "sqlite-full"],
)
def test_a_full_disk_while_saving_the_row_is_a_507_and_nothing_is_kept(client, data_dir, failure):
    db = client.app.state.ctx.db

    def full(*_args, **_kwargs):
        raise failure

    db.insert_finished_job = full
    r = import_file(client, gpt2_style_bpe().encode())
    assert r.status_code == 507, r.text
    ErrorResponse.model_validate(r.json())
    error = r.json()["error"]
    assert error["code"] == "disk_full"
    assert error["message"] == (
        "The disk is full: there is no room left to save the imported tokenizer; free up space on "
        f"the drive holding {data_dir}, then try again."
    )
    del db.insert_finished_job
    assert_nothing_kept(client, data_dir)
    assert import_file(client, gpt2_style_bpe().encode()).status_code == 201
