"""Checking an uploaded tokenizer.json: the `tokenizers` library must load it, or it is refused
with a sentence saying what it is instead."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from inspector.errors import ApiError

CHOOSE = (
    "Choose the tokenizer.json file saved by Tokenizer Studio (or by the Hugging Face tokenizers library)."
)


@dataclass(frozen=True)
class TokenizerInfo:
    model: str
    vocab_size: int
    unk_token: str | None


def _refuse(what: str) -> ApiError:
    return ApiError(422, "invalid_tokenizer", f"This is not a tokenizer.json file: {what}. {CHOOSE}")


def check_tokenizer(path: Path) -> TokenizerInfo:
    text = path.read_text(encoding="utf-8-sig")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise _refuse(f"it is not valid JSON{where}") from None
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise _refuse('it is JSON, but has no "model" section, which every tokenizer.json has')

    from tokenizers import Tokenizer

    try:
        loaded = Tokenizer.from_str(text)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # a panic inside the Rust library is a BaseException
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise _refuse(f"the tokenizers library cannot load it ({reason})") from None
    model = data["model"]
    kind = str(model.get("type") or type(loaded.model).__name__)
    return TokenizerInfo(kind, loaded.get_vocab_size(with_added_tokens=True), _unk_token(model, loaded))


def _unk_token(model: dict, loaded) -> str | None:
    """The token the model puts for what it cannot encode, if it has one (BPE, WordPiece and
    WordLevel name it; Unigram gives its position in the vocabulary)."""
    token = model.get("unk_token")
    if isinstance(token, str) and loaded.token_to_id(token) is not None:
        return token
    unk_id = model.get("unk_id")
    if isinstance(unk_id, int) and not isinstance(unk_id, bool):
        return loaded.id_to_token(unk_id)
    return None
