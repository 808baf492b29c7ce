"""Importing an existing Hugging Face `tokenizer.json`, to try it in the app like a trained one.

The file is checked by the `tokenizers` library itself (the loader the app, `transformers` and
the export use), so a file it accepts works everywhere the app uses a tokenizer. An imported
tokenizer is then a job row with template `imported`, status `succeeded` from the start, no
datasets and no training config, whose artifact is the file exactly as uploaded: the routes that
serve a trained tokenizer (download, export, try it, delete, the list) serve it unchanged.

`tokenizers` is imported inside the functions, as everywhere in the engine: this module loads
with the jobs routes, and the library only when a file is checked.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from app.errors import ApiError

log = logging.getLogger("tokenizer_studio.import")

NOT_JSON = (
    "The file is not JSON, so it is not a tokenizer.json; choose the tokenizer.json file of a "
    "Hugging Face tokenizer."
)
NOT_A_TOKENIZER = (
    "The file is JSON but not a tokenizer the Hugging Face tokenizers library can load; choose "
    "the tokenizer.json file (not tokenizer_config.json, config.json or vocab.json)."
)


@dataclass(frozen=True)
class ImportedTokenizer:
    vocab_size: int
    model_type: str


def check_tokenizer(path: Path) -> ImportedTokenizer:
    """What the tokenizers library reads from the file; a 422 with a sentence when it cannot."""
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:
        # Which sentence: whether the file is JSON at all. Parsed only on this path: a valid
        # tokenizer is never held in memory as Python objects.
        log.info("import refused: the tokenizers library cannot load the file: %s", exc)
        raise _refusal(path) from None
    return ImportedTokenizer(
        vocab_size=tok.get_vocab_size(with_added_tokens=True),
        model_type=type(tok.model).__name__,
    )


def _refusal(path: Path) -> ApiError:
    try:
        json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return ApiError(422, "not_json", NOT_JSON)
    return ApiError(422, "not_a_tokenizer", NOT_A_TOKENIZER)


def default_name(file_name: str) -> str:
    """A job name from the uploaded file's name: without its `.json`, never empty."""
    stem = file_name[:-5] if file_name.lower().endswith(".json") else file_name
    return stem.strip() or "Imported tokenizer"
