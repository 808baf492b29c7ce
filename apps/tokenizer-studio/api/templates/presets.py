"""The four built-in presets: their defaults and which config keys a user may change."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Template:
    id: str
    name: str
    description: str
    defaults: dict[str, Any]
    knobs: tuple[str, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> str:
        return self.defaults["model"]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "model": self.model,
            # A copy, so a caller mutating the answer cannot change the preset.
            "defaults": copy.deepcopy(self.defaults),
            "knobs": list(self.knobs),
        }


_COMMON_KNOBS = ("vocab_size", "min_frequency", "special_tokens", "normalization", "lowercase")

TEMPLATES: dict[str, Template] = {
    t.id: t
    for t in (
        Template(
            id="gpt2-byte-bpe",
            name="GPT-2 style byte-level BPE",
            description=(
                "Byte-level BPE as used by GPT-2/RoBERTa: every byte is in the base alphabet, "
                "so any text can be encoded without unknown tokens."
            ),
            defaults={
                "model": "byte_bpe",
                "vocab_size": 8000,
                "min_frequency": 2,
                "special_tokens": ["<|endoftext|>"],
                "normalization": "none",
                "lowercase": False,
                "pre_tokenizer": "byte_level",
                "text_column": None,
            },
            # The byte-level pre-tokenizer is what makes this model byte-level, so it is fixed.
            knobs=(*_COMMON_KNOBS, "text_column"),
        ),
        Template(
            id="classic-bpe",
            name="Classic BPE",
            description=(
                "Character-level BPE over whitespace-split words with an end-of-word marker; "
                "characters never seen in training become [UNK]."
            ),
            defaults={
                "model": "bpe",
                "vocab_size": 8000,
                "min_frequency": 2,
                "special_tokens": ["[UNK]", "[PAD]"],
                "normalization": "nfc",
                "lowercase": False,
                "pre_tokenizer": "whitespace",
                "text_column": None,
            },
            knobs=(*_COMMON_KNOBS, "pre_tokenizer", "text_column"),
        ),
        Template(
            id="bert-wordpiece",
            name="BERT style WordPiece",
            description=(
                "WordPiece with '##' continuation pieces, BERT pre-tokenization and "
                "[CLS] ... [SEP] added around every encoded text."
            ),
            defaults={
                "model": "wordpiece",
                "vocab_size": 16000,
                "min_frequency": 2,
                "special_tokens": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
                "normalization": "nfc",
                "lowercase": True,
                "pre_tokenizer": "bert",
                "text_column": None,
            },
            knobs=(*_COMMON_KNOBS, "pre_tokenizer", "text_column"),
        ),
        Template(
            id="t5-unigram",
            name="T5/SentencePiece style Unigram",
            description=(
                "Unigram language model over Metaspace pre-tokenization ('\u2581' marks a word "
                "start), as SentencePiece does for T5."
            ),
            defaults={
                "model": "unigram",
                "vocab_size": 8000,
                # The Unigram trainer has no frequency cut-off; kept for a uniform config shape.
                "min_frequency": 1,
                "special_tokens": ["<pad>", "</s>", "<unk>"],
                "normalization": "nfkc",
                "lowercase": False,
                "pre_tokenizer": "metaspace",
                "text_column": None,
            },
            knobs=("vocab_size", "special_tokens", "normalization", "lowercase", "text_column"),
        ),
    )
}


def list_templates() -> list[dict[str, Any]]:
    return [t.to_json() for t in TEMPLATES.values()]


def get_template(template_id: str) -> Template | None:
    return TEMPLATES.get(template_id)
