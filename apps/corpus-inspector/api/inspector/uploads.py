"""The two uploads, a corpus (`DATASET_UPLOAD`) and a tokenizer.json (`TOKENIZER_UPLOAD`): what
each takes and the sentences that refuse a file. The streaming itself (size cap, sha256 and the
UTF-8 check on the fly) is enginekit's, `enginecore.uploads`."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request

from enginecore import uploads as core
from enginecore.uploads import (
    FIELD_NAME,
    MAX_NAME_CHARS,
    MULTIPART_OVERHEAD,
    DiskChecks,
    ReceivedFile,
    UploadKind,
    UploadWords,
    sanitize_filename,
)
from inspector.errors import DiskFull
from jobrunner.disk import ensure_free_space, free_bytes, is_disk_full

__all__ = [
    "CORPUS_FORMATS",
    "DATASET_UPLOAD",
    "FIELD_NAME",
    "MAX_NAME_CHARS",
    "MAX_TOKENIZER_BYTES",
    "MULTIPART_OVERHEAD",
    "TOKENIZER_UPLOAD",
    "ReceivedFile",
    "corpus_format",
    "receive_upload",
    "sanitize_filename",
]

# The largest published tokenizer.json files (vocabularies of a few hundred thousand tokens) are
# around 35 MB; a bigger file is almost surely not one, and loading it costs several times that.
MAX_TOKENIZER_BYTES = 50_000_000
CORPUS_FORMATS = ("txt", "jsonl", "csv")


def corpus_format(name: str) -> str | None:
    stem, dot, ext = name.rpartition(".")
    ext = ext.lower()
    return ext if dot and stem and ext in CORPUS_FORMATS else None


DATASET_UPLOAD = UploadKind(
    format_of=corpus_format,
    unsupported="This kind of file cannot be inspected; choose a .txt, .jsonl or .csv file.",
    too_large=lambda limit: (
        f"The file is larger than the {limit / 1_000_000:g} MB limit; split it or upload a part of it."
    ),
    empty="The file is empty; choose a file with some text in it.",
    not_text=(
        "The file is not UTF-8 text (it may be a binary file, or text saved in another encoding); "
        "save it as UTF-8 text and upload it again."
    ),
)

TOKENIZER_UPLOAD = UploadKind(
    # Any name: what the file holds decides, and a download renamed "tokenizer (1).json" is still one.
    format_of=lambda _name: "json",
    unsupported="",
    too_large=lambda limit: (
        f"The file is larger than the {limit / 1_000_000:g} MB limit for a tokenizer.json; check that "
        "it is the tokenizer.json file itself, not a model or an archive."
    ),
    empty="The file is empty; choose the tokenizer.json file saved by Tokenizer Studio.",
    not_text=(
        "This is not a tokenizer.json file: it is not UTF-8 text. Choose the tokenizer.json file "
        "saved by Tokenizer Studio."
    ),
)

WORDS = UploadWords(
    no_name="The file has no usable name; rename it and try again.",
    one_file="Upload one file at a time.",
    malformed="The upload is malformed; upload the file again.",
    cut_off="The upload was cut off before its end; upload the file again.",
)

DISK = DiskChecks(
    ensure_free_space=lambda folder, needed, what, root: ensure_free_space(
        folder, needed, what, root, error=DiskFull
    ),
    is_disk_full=is_disk_full,
    free_bytes=free_bytes,
    disk_full=DiskFull,
)


async def receive_upload(
    request: Request, folder: Path, max_bytes: int, kind: UploadKind, data_root: Path
) -> ReceivedFile:
    """Parses the multipart body into a temporary file in `folder`; leaves nothing behind when
    it raises."""
    return await core.receive_upload(
        request, folder, max_bytes, kind=kind, words=WORDS, disk=DISK, data_root=data_root
    )
