"""A trained tokenizer as a folder Hugging Face `transformers` loads with `AutoTokenizer`.

`AutoTokenizer.from_pretrained(folder)` needs, beside `tokenizer.json`, a `tokenizer_config.json`
naming the class (`PreTrainedTokenizerFast`: it wraps `tokenizer.json` as is, so encodings match
the app's byte for byte) and which special token plays which role (unknown, padding, …), and a
`special_tokens_map.json` with the same roles for older readers. The roles come from the job's
special tokens by their conventional spellings; a special token with no known role is listed
under `additional_special_tokens`, so it still never splits. An imported tokenizer has no
training config: its special tokens are the ones its `tokenizer.json` marks special.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

# Each role and the spellings that conventionally mean it (BERT, SentencePiece/T5, GPT-2).
_ROLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("unk_token", ("[UNK]", "<unk>")),
    ("pad_token", ("[PAD]", "<pad>")),
    ("cls_token", ("[CLS]",)),
    ("sep_token", ("[SEP]",)),
    ("mask_token", ("[MASK]", "<mask>")),
    ("bos_token", ("<s>", "<|startoftext|>")),
    ("eos_token", ("</s>", "<|endoftext|>")),
)

# Fixed inside every zip, so exporting the same tokenizer twice gives the same bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def special_token_roles(special_tokens: list[str]) -> dict[str, Any]:
    """The `special_tokens_map.json` of a job's special tokens."""
    roles: dict[str, Any] = {}
    assigned: set[str] = set()
    for role, spellings in _ROLES:
        for token in spellings:
            if token in special_tokens and role not in roles:
                roles[role] = token
                assigned.add(token)
    extra = [token for token in special_tokens if token not in assigned]
    if extra:
        roles["additional_special_tokens"] = extra
    return roles


def added_special_tokens(tokenizer_json: Path) -> list[str]:
    """The tokens a tokenizer.json adds as special (`added_tokens` with `special: true`), by id."""
    from tokenizers import Tokenizer

    added = Tokenizer.from_file(str(tokenizer_json)).get_added_tokens_decoder()
    return [token.content for _, token in sorted(added.items()) if token.special]


def tokenizer_config(special_tokens: list[str]) -> dict[str, Any]:
    """The `tokenizer_config.json`: the fast class over `tokenizer.json`, and the roles."""
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        # The tokenizer's decoder already restores spaces; transformers must not "clean" them again.
        "clean_up_tokenization_spaces": False,
        **special_token_roles(special_tokens),
    }


def folder_name(job_name: str) -> str:
    """A portable folder name for the export: letters, digits, `._-`; never empty."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", job_name).strip("-.")
    return (name or "tokenizer")[:80]


def export_zip(tokenizer_json: Path, special_tokens: list[str], job_name: str) -> bytes:
    """One zip holding `<name>/tokenizer.json`, `tokenizer_config.json`, `special_tokens_map.json`."""
    folder = folder_name(job_name)
    files = {
        "tokenizer.json": tokenizer_json.read_bytes(),
        "tokenizer_config.json": _json(tokenizer_config(special_tokens)),
        "special_tokens_map.json": _json(special_token_roles(special_tokens)),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(f"{folder}/{name}", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return out.getvalue()


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()
