"""Strict validation of a training config: unknown keys, wrong types and bad values are refused."""

from __future__ import annotations

import copy
import re
from typing import Any

from templates.presets import TEMPLATES, get_template

CONFIG_KEYS = (
    "model",
    "vocab_size",
    "min_frequency",
    "special_tokens",
    "normalization",
    "lowercase",
    "pre_tokenizer",
    "text_column",
)
MODELS = ("bpe", "byte_bpe", "wordpiece", "unigram")
NORMALIZATIONS = ("none", "nfc", "nfkc")
PRE_TOKENIZERS = ("byte_level", "whitespace", "whitespace_split", "metaspace", "bert")
VOCAB_MIN, VOCAB_MAX = 32, 1_000_000
MIN_FREQ_MIN, MIN_FREQ_MAX = 1, 1_000_000
MAX_SPECIAL_TOKENS = 64
MAX_TEXT_COLUMN_LEN = 256
# The three accepted spellings: [CLS], <|endoftext|> / <pad>, </s>.
SPECIAL_TOKEN_PATTERNS = (
    re.compile(r"\[[A-Z_]{1,24}\]"),
    re.compile(r"<\|?[a-z_]{1,24}\|?>"),
    re.compile(r"</?[a-z]{1,8}>"),
)
UNK_TOKENS = ("[UNK]", "<unk>")


class UnknownTemplateError(ValueError):
    def __init__(self, template_id: object) -> None:
        known = ", ".join(TEMPLATES)
        super().__init__(f"Unknown template {template_id!r}; choose one of: {known}.")
        self.template_id = template_id


class ConfigError(ValueError):
    """Carries one entry per bad field so a form can show each problem next to its input."""

    def __init__(self, details: list[dict[str, str]]) -> None:
        fields = ", ".join(d["field"] for d in details)
        super().__init__(f"The training config is not valid ({fields}); fix the listed fields.")
        self.details = details


def is_special_token(value: object) -> bool:
    return isinstance(value, str) and any(p.fullmatch(value) for p in SPECIAL_TOKEN_PATTERNS)


def _is_int(value: object) -> bool:
    # bool is a subclass of int, but `true` is never a meaningful vocabulary size.
    return isinstance(value, int) and not isinstance(value, bool)


def _check_field(key: str, value: Any) -> str | None:
    """Returns a message when the value is wrong, None when it is fine."""
    if key == "model":
        if value not in MODELS:
            return f"must be one of {', '.join(MODELS)}"
    elif key == "vocab_size":
        if not _is_int(value) or not VOCAB_MIN <= value <= VOCAB_MAX:
            return f"must be a whole number from {VOCAB_MIN} to {VOCAB_MAX:,}"
    elif key == "min_frequency":
        if not _is_int(value) or not MIN_FREQ_MIN <= value <= MIN_FREQ_MAX:
            return f"must be a whole number from {MIN_FREQ_MIN} to {MIN_FREQ_MAX:,}"
    elif key == "special_tokens":
        if not isinstance(value, list):
            return 'must be a list of strings such as ["[CLS]", "<pad>"]'
        if len(value) > MAX_SPECIAL_TOKENS:
            return f"may hold at most {MAX_SPECIAL_TOKENS} tokens"
        bad = [v for v in value if not is_special_token(v)]
        if bad:
            return (
                f"{bad[0]!r} is not an accepted special token; use [UPPER_CASE], "
                "<lower_case>, <|lower_case|> or </tag>"
            )
        if len(set(value)) != len(value):
            return "lists a token twice; remove the duplicate"
    elif key == "normalization":
        if value not in NORMALIZATIONS:
            return f"must be one of {', '.join(NORMALIZATIONS)}"
    elif key == "lowercase":
        if not isinstance(value, bool):
            return "must be true or false"
    elif key == "pre_tokenizer":
        if value not in PRE_TOKENIZERS:
            return f"must be one of {', '.join(PRE_TOKENIZERS)}"
    elif key == "text_column":
        if value is not None and (
            not isinstance(value, str) or not value or len(value) > MAX_TEXT_COLUMN_LEN
        ):
            return f"must be null or a column name of 1 to {MAX_TEXT_COLUMN_LEN} characters"
    return None


def validate_config(config: dict[str, Any]) -> list[dict[str, str]]:
    """Checks a complete config; returns the problems (empty when valid)."""
    details: list[dict[str, str]] = []
    for key in config:
        if key not in CONFIG_KEYS:
            details.append({"field": key, "message": "is not a known setting"})
    for key in CONFIG_KEYS:
        if key not in config:
            details.append({"field": key, "message": "is missing"})
            continue
        message = _check_field(key, config[key])
        if message:
            details.append({"field": key, "message": message})
    if details:
        return details
    # Combinations that would train but give a tokenizer that cannot round-trip text.
    if (config["model"] == "byte_bpe") != (config["pre_tokenizer"] == "byte_level"):
        details.append(
            {
                "field": "pre_tokenizer",
                "message": "byte_level goes with model byte_bpe only, and byte_bpe needs byte_level",
            }
        )
    if config["model"] == "wordpiece" and not any(t in config["special_tokens"] for t in UNK_TOKENS):
        details.append({"field": "special_tokens", "message": "WordPiece needs an unknown token: add [UNK]"})
    return details


def resolve_config(template_id: object, overrides: object) -> dict[str, Any]:
    """Template defaults + overrides. Raises UnknownTemplateError or ConfigError."""
    template = get_template(template_id) if isinstance(template_id, str) else None
    if template is None:
        raise UnknownTemplateError(template_id)
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, dict):
        raise ConfigError([{"field": "overrides", "message": "must be an object of settings"}])
    details: list[dict[str, str]] = []
    for key in overrides:
        if key not in CONFIG_KEYS:
            details.append({"field": str(key), "message": "is not a known setting"})
        elif key not in template.knobs:
            details.append({"field": key, "message": f"is fixed by the template {template.id!r}"})
        else:
            message = _check_field(key, overrides[key])
            if message:
                details.append({"field": key, "message": message})
    if details:
        raise ConfigError(details)
    config = copy.deepcopy(template.defaults)
    config.update(copy.deepcopy(overrides))
    details = validate_config(config)
    if details:
        raise ConfigError(details)
    return config
