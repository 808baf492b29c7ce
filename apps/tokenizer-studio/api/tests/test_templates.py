"""Template presets and strict override validation, table-driven."""

import pytest

from templates import (
    CONFIG_KEYS,
    TEMPLATES,
    ConfigError,
    UnknownTemplateError,
    list_templates,
    resolve_config,
    validate_config,
)


def test_the_four_presets_exist_with_contract_names():
    listed = {t["id"]: t for t in list_templates()}
    assert list(listed) == ["gpt2-byte-bpe", "classic-bpe", "bert-wordpiece", "t5-unigram"]
    assert listed["gpt2-byte-bpe"]["name"] == "GPT-2 style byte-level BPE"
    assert listed["bert-wordpiece"]["name"] == "BERT style WordPiece"
    assert listed["t5-unigram"]["name"] == "T5/SentencePiece style Unigram"
    assert listed["gpt2-byte-bpe"]["model"] == "byte_bpe"
    assert listed["t5-unigram"]["model"] == "unigram"
    for t in listed.values():
        assert set(t["defaults"]) == set(CONFIG_KEYS)
        assert validate_config(t["defaults"]) == []
        assert "vocab_size" in t["knobs"] and "model" not in t["knobs"]


def test_listing_is_a_copy():
    listed = list_templates()
    listed[0]["defaults"]["special_tokens"].append("[X]")
    assert TEMPLATES["gpt2-byte-bpe"].defaults["special_tokens"] == ["<|endoftext|>"]


@pytest.mark.parametrize(
    ("template", "overrides", "expected"),
    [
        ("gpt2-byte-bpe", {}, {"vocab_size": 8000, "model": "byte_bpe"}),
        ("gpt2-byte-bpe", {"vocab_size": 32}, {"vocab_size": 32}),
        ("gpt2-byte-bpe", {"vocab_size": 1_000_000}, {"vocab_size": 1_000_000}),
        (
            "classic-bpe",
            {"pre_tokenizer": "whitespace_split", "lowercase": True},
            {"pre_tokenizer": "whitespace_split", "lowercase": True},
        ),
        (
            "bert-wordpiece",
            {"special_tokens": ["[UNK]", "[CLS]", "[SEP]"]},
            {"special_tokens": ["[UNK]", "[CLS]", "[SEP]"]},
        ),
        (
            "t5-unigram",
            {"special_tokens": ["<pad>", "</s>", "<unk>", "<|endoftext|>"]},
            {"special_tokens": ["<pad>", "</s>", "<unk>", "<|endoftext|>"]},
        ),
        (
            "t5-unigram",
            {"text_column": "body", "normalization": "nfc"},
            {"text_column": "body", "normalization": "nfc"},
        ),
    ],
)
def test_valid_overrides(template, overrides, expected):
    config = resolve_config(template, overrides)
    for key, value in expected.items():
        assert config[key] == value


@pytest.mark.parametrize(
    ("template", "overrides", "field"),
    [
        ("gpt2-byte-bpe", {"vocab_size": 0}, "vocab_size"),
        ("gpt2-byte-bpe", {"vocab_size": -5}, "vocab_size"),
        ("gpt2-byte-bpe", {"vocab_size": 31}, "vocab_size"),
        ("gpt2-byte-bpe", {"vocab_size": 10**12}, "vocab_size"),
        ("gpt2-byte-bpe", {"vocab_size": "8000"}, "vocab_size"),
        ("gpt2-byte-bpe", {"vocab_size": 8000.0}, "vocab_size"),
        ("gpt2-byte-bpe", {"vocab_size": True}, "vocab_size"),
        ("gpt2-byte-bpe", {"min_frequency": 0}, "min_frequency"),
        ("gpt2-byte-bpe", {"special_tokens": ["CLS"]}, "special_tokens"),
        ("gpt2-byte-bpe", {"special_tokens": ["[cls]"]}, "special_tokens"),
        ("gpt2-byte-bpe", {"special_tokens": ["<script>alert(1)</script>"]}, "special_tokens"),
        ("gpt2-byte-bpe", {"special_tokens": "[CLS]"}, "special_tokens"),
        ("gpt2-byte-bpe", {"special_tokens": ["[A]", "[A]"]}, "special_tokens"),
        (
            "gpt2-byte-bpe",
            {"special_tokens": [f"[T{chr(65 + i % 26)}{'_' * (i // 26)}]" for i in range(65)]},
            "special_tokens",
        ),
        ("gpt2-byte-bpe", {"normalization": "nfd"}, "normalization"),
        ("gpt2-byte-bpe", {"lowercase": "yes"}, "lowercase"),
        ("gpt2-byte-bpe", {"pre_tokenizer": "whitespace"}, "pre_tokenizer"),  # fixed by template
        ("gpt2-byte-bpe", {"model": "bpe"}, "model"),
        ("gpt2-byte-bpe", {"colour": "red"}, "colour"),
        ("classic-bpe", {"pre_tokenizer": "byte_level"}, "pre_tokenizer"),
        ("classic-bpe", {"pre_tokenizer": "spaces"}, "pre_tokenizer"),
        ("bert-wordpiece", {"special_tokens": ["[CLS]", "[SEP]"]}, "special_tokens"),  # no [UNK]
        ("t5-unigram", {"min_frequency": 3}, "min_frequency"),
        ("t5-unigram", {"text_column": ""}, "text_column"),
        ("t5-unigram", {"text_column": 5}, "text_column"),
    ],
)
def test_invalid_overrides(template, overrides, field):
    with pytest.raises(ConfigError) as info:
        resolve_config(template, overrides)
    assert [d["field"] for d in info.value.details] == [field]
    assert info.value.details[0]["message"]


def test_several_bad_fields_are_all_reported():
    with pytest.raises(ConfigError) as info:
        resolve_config("classic-bpe", {"vocab_size": 0, "lowercase": 1, "nope": 1})
    assert {d["field"] for d in info.value.details} == {"vocab_size", "lowercase", "nope"}


@pytest.mark.parametrize("template", ["gpt-5", "", None, 3])
def test_unknown_template(template):
    with pytest.raises(UnknownTemplateError):
        resolve_config(template, {})


def test_overrides_must_be_an_object():
    with pytest.raises(ConfigError):
        resolve_config("classic-bpe", ["vocab_size", 100])
