"""The two uploads, a dataset (`DATASET_UPLOAD`) and an imported tokenizer.json
(`TOKENIZER_UPLOAD`): what each takes and the sentences that refuse a file. The streaming itself
(size cap, sha256 and text checks on the fly, straight to disk) is enginekit's,
`enginecore.uploads`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import Request

from app.errors import ApiError, DiskFull, ensure_free_space, free_bytes, is_disk_full
from enginecore import uploads as core
from enginecore.uploads import (
    FIELD_NAME,
    MAX_NAME_CHARS,
    MULTIPART_OVERHEAD,
    DiskChecks,
    ReceivedFile,
    UploadKind,
    UploadWords,
    remove_quietly,
    sanitize_filename,
)

__all__ = [
    "DATASET_UPLOAD",
    "FIELD_NAME",
    "MAX_NAME_CHARS",
    "MAX_TOKENIZER_BYTES",
    "MULTIPART_OVERHEAD",
    "TOKENIZER_UPLOAD",
    "ReceivedFile",
    "extension_of",
    "receive_upload",
    "remove_quietly",
    "sanitize_filename",
    "upload_too_large",
]

# An imported tokenizer.json: the largest published ones (multilingual vocabularies of a few
# hundred thousand tokens) are around 35 MB; a bigger file is almost surely not a tokenizer, and
# checking it would hold that much in memory several times over.
MAX_TOKENIZER_BYTES = 50_000_000


def extension_of(name: str) -> str | None:
    # Imported here: the security gate imports this module before READY, the readers load later.
    from app.corpus import FORMATS

    stem, dot, ext = name.rpartition(".")
    ext = ext.lower()
    return ext if dot and stem and ext in FORMATS else None


def _is_text(fmt: str) -> bool:
    from app.corpus import TEXT_FORMATS

    return fmt in TEXT_FORMATS


NOT_TEXT = (
    "The file is not UTF-8 text (it holds NUL bytes or invalid UTF-8). Save it as UTF-8 "
    "or convert it to Parquet."
)

DATASET_UPLOAD = UploadKind(
    format_of=extension_of,
    unsupported="Unsupported file type; upload a .txt, .jsonl, .csv or .parquet file.",
    too_large=lambda limit: f"The file is larger than the {limit:,} byte limit; split it or upload a sample.",
    empty="The file is empty; choose a file with some text.",
    not_text=NOT_TEXT,
    is_text=_is_text,
)

TOKENIZER_UPLOAD = UploadKind(
    # Any name: what the file holds decides (the tokenizers library loads it, or it is refused),
    # and a download renamed "tokenizer (1).json" or "gpt2.tokenizer" is still a tokenizer.
    format_of=lambda _name: "json",
    unsupported="",
    too_large=lambda limit: (
        f"The file is larger than the {limit / 1_000_000:g} MB limit for a tokenizer.json; "
        "check that it is the tokenizer.json file itself, not a model's weights or an archive."
    ),
    empty="The file is empty; choose the tokenizer.json file of a Hugging Face tokenizer.",
    not_text=NOT_TEXT,
    is_text=_is_text,
)

WORDS = UploadWords(
    no_name="The file name is empty; give the file a name.",
    one_file="Upload one file per request.",
    malformed="The multipart body is malformed; upload the file again.",
    nul_in_name="The file name contains a NUL byte; rename the file and retry.",
    # An import's `name` field comes with the file.
    keep_fields=True,
)

DISK = DiskChecks(
    ensure_free_space=ensure_free_space,
    is_disk_full=is_disk_full,
    free_bytes=free_bytes,
    disk_full=DiskFull,
)


def upload_too_large(max_bytes: int) -> ApiError:
    return DATASET_UPLOAD.too_large_error(max_bytes)


async def receive_upload(
    request: Request,
    folder: Path,
    max_bytes: int,
    data_root: Path | None = None,
    kind: UploadKind = DATASET_UPLOAD,
) -> ReceivedFile:
    """Parses the multipart body into `folder`; leaves no file behind when it raises. Text
    fields beside the file come back in `fields`."""
    return await core.receive_upload(
        request, folder, max_bytes, kind=kind, words=WORDS, disk=DISK, data_root=data_root
    )
