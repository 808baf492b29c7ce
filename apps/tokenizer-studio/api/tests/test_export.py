"""Export: a trained tokenizer as a zip whose folder Hugging Face transformers loads as is."""

import io
import zipfile

import pytest
from tokenizers import Tokenizer
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from app.export import folder_name, special_token_roles
from tests.conftest import AUTH, upload, wait_for_job
from tests.corpus import text_corpus

CORPUS = text_corpus(120_000)
SAMPLE = "Hello there, tokenizer!  Ünïcödé and digits 12345 sit beside émojis 🙂 and [MASK] words."


@pytest.fixture
def corpus_id(client):
    r = upload(client, "corpus.txt", CORPUS)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _train(client, corpus_id, template, name):
    body = {
        "template": template,
        "dataset_ids": [corpus_id],
        "overrides": {"vocab_size": 600},
        "name": name,
    }
    r = client.post("/api/v1/jobs", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    job = wait_for_job(client, r.json()["id"])
    assert job["status"] == "succeeded", job
    return job


@pytest.mark.parametrize(
    ("template", "roles"),
    [
        ("gpt2-byte-bpe", {"eos_token": "<|endoftext|>"}),
        ("classic-bpe", {"unk_token": "[UNK]", "pad_token": "[PAD]"}),
        (
            "bert-wordpiece",
            {
                "unk_token": "[UNK]",
                "pad_token": "[PAD]",
                "cls_token": "[CLS]",
                "sep_token": "[SEP]",
                "mask_token": "[MASK]",
            },
        ),
        ("t5-unigram", {"unk_token": "<unk>", "pad_token": "<pad>", "eos_token": "</s>"}),
    ],
)
def test_auto_tokenizer_loads_the_export_and_encodes_like_the_app(
    client, corpus_id, data_dir, tmp_path, template, roles
):
    job = _train(client, corpus_id, template, f"My {template} tokenizer")
    r = client.get(f"/api/v1/jobs/{job['id']}/export", headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert f"My {template} tokenizer-tokenizer.zip" in r.headers["content-disposition"]

    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        folder = folder_name(job["name"])
        assert sorted(archive.namelist()) == [
            f"{folder}/special_tokens_map.json",
            f"{folder}/tokenizer.json",
            f"{folder}/tokenizer_config.json",
        ]
        archive.extractall(tmp_path)
    exported = tmp_path / folder
    app_json = (data_dir / job["artifact"]["path"]).read_bytes()
    assert (exported / "tokenizer.json").read_bytes() == app_json

    loaded = AutoTokenizer.from_pretrained(str(exported))
    assert isinstance(loaded, PreTrainedTokenizerFast)
    for role, token in roles.items():
        assert getattr(loaded, role) == token, role
    # The same ids as the app's own tokenizer, special tokens (BERT's [CLS] … [SEP]) included.
    ours = Tokenizer.from_str(app_json.decode())
    assert loaded(SAMPLE)["input_ids"] == ours.encode(SAMPLE).ids
    assert loaded.decode(loaded(SAMPLE)["input_ids"], skip_special_tokens=True) == ours.decode(
        ours.encode(SAMPLE).ids
    )
    # Padding works where the tokenizer has a padding token, as a training loop needs.
    if "pad_token" in roles:
        batch = loaded(["short", SAMPLE], padding=True)
        assert len(batch["input_ids"][0]) == len(batch["input_ids"][1])
        assert batch["input_ids"][0][-1] == loaded.pad_token_id


def test_the_same_tokenizer_exports_to_the_same_bytes(client, corpus_id):
    job = _train(client, corpus_id, "classic-bpe", "twice")
    first = client.get(f"/api/v1/jobs/{job['id']}/export", headers=AUTH)
    second = client.get(f"/api/v1/jobs/{job['id']}/export", headers=AUTH)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content


def test_export_needs_a_succeeded_job_and_the_token(client, corpus_id):
    r = client.get("/api/v1/jobs/job_nope/export", headers=AUTH)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    job = _train(client, corpus_id, "classic-bpe", "auth")
    assert client.get(f"/api/v1/jobs/{job['id']}/export").status_code == 401


def test_roles_follow_the_conventional_spellings_and_keep_the_rest():
    assert special_token_roles(["[PAD]", "<|user|>", "[UNK]"]) == {
        "unk_token": "[UNK]",
        "pad_token": "[PAD]",
        "additional_special_tokens": ["<|user|>"],
    }
    assert special_token_roles([]) == {}


def test_folder_names_are_portable():
    assert folder_name("My tok/../x") == "My-tok-..-x"
    assert folder_name("../..") == "tokenizer"
    assert folder_name("日本語") == "tokenizer"
    assert len(folder_name("a" * 300)) == 80
