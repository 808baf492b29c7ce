"""Streaming multipart upload straight to disk: size cap, sha256 and text checks on the fly.

Starlette's form parser would spool the whole file first and only then let us look at it;
parsing the body ourselves lets an oversized or binary upload stop at the first bad chunk.
Two routes take a file: a dataset (`DATASET_UPLOAD`) and an imported tokenizer.json
(`TOKENIZER_UPLOAD`); an `UploadKind` holds what differs between them.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header

from app.errors import ApiError, DiskFull, ensure_free_space, free_bytes, is_disk_full
from app.paths import PRIVATE_FILE_MODE

FIELD_NAME = "file"
MAX_NAME_CHARS = 200
# Multipart framing around the file: boundaries and part headers, and the small text fields
# beside it (an import's `name`). Generous on purpose.
MULTIPART_OVERHEAD = 64 * 1024
# An imported tokenizer.json: the largest published ones (multilingual vocabularies of a few
# hundred thousand tokens) are around 35 MB; a bigger file is almost surely not a tokenizer, and
# checking it would hold that much in memory several times over.
MAX_TOKENIZER_BYTES = 50_000_000


def sanitize_filename(name: str) -> str:
    """A display name safe to show and to put in a header: no folders, no control characters.

    The stored file is always named after the dataset id, never after this.
    """
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf"))
    name = name.strip().lstrip(".").strip()
    if len(name) > MAX_NAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        if dot and len(ext) <= 16:
            name = stem[: MAX_NAME_CHARS - len(ext) - 1] + "." + ext
        else:
            name = name[:MAX_NAME_CHARS]
    return name


def extension_of(name: str) -> str | None:
    # Imported here: the security gate imports this module before READY, the readers load later.
    from app.corpus import FORMATS

    stem, dot, ext = name.rpartition(".")
    ext = ext.lower()
    return ext if dot and stem and ext in FORMATS else None


@dataclass
class ReceivedFile:
    display_name: str
    fmt: str
    temp_path: Path
    size_bytes: int
    sha256: str
    # The other (text) fields of the form, by name, e.g. an import's `name`.
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class UploadKind:
    """What one upload route takes, and the sentences that refuse a file."""

    # The format a file name stands for (it decides the text checks), or None to refuse the
    # name with `unsupported` (415).
    format_of: Callable[[str], str | None]
    unsupported: str
    # The 413 sentence, given the limit in bytes.
    too_large: Callable[[int], str]
    empty: str

    def too_large_error(self, max_bytes: int) -> ApiError:
        return ApiError(413, "upload_too_large", self.too_large(max_bytes))


DATASET_UPLOAD = UploadKind(
    format_of=extension_of,
    unsupported="Unsupported file type; upload a .txt, .jsonl, .csv or .parquet file.",
    too_large=lambda limit: f"The file is larger than the {limit:,} byte limit; split it or upload a sample.",
    empty="The file is empty; choose a file with some text.",
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
)


def upload_too_large(max_bytes: int) -> ApiError:
    return DATASET_UPLOAD.too_large_error(max_bytes)


class _FilePart:
    """Receives the bytes of the one `file` part, checking them as they arrive."""

    def __init__(self, display_name: str, fmt: str, folder: Path, max_bytes: int, kind: UploadKind) -> None:
        from app.corpus import TEXT_FORMATS

        self.display_name = display_name
        self.fmt = fmt
        self.max_bytes = max_bytes
        self.kind = kind
        self.path = folder / f".incoming-{secrets.token_hex(8)}.part"
        # 0600 whatever the process umask: the upload is the user's data.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        self.file = os.fdopen(os.open(self.path, flags, PRIVATE_FILE_MODE), "wb")
        self.sha = hashlib.sha256()
        self.size = 0
        self.decoder = codecs.getincrementaldecoder("utf-8")() if fmt in TEXT_FORMATS else None

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            raise self.kind.too_large_error(self.max_bytes)
        if self.decoder is not None:
            if b"\x00" in data:
                raise _not_text()
            try:
                self.decoder.decode(data)
            except UnicodeDecodeError:
                raise _not_text() from None
        self.sha.update(data)
        self.file.write(data)

    def finish(self) -> None:
        self.file.close()
        if self.decoder is not None:
            try:
                self.decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                raise _not_text() from None

    def discard(self) -> None:
        try:
            # Closing flushes the buffer, which fails again on a full disk; the fd is closed
            # regardless, and the file must go either way.
            self.file.close()
        except OSError:
            pass
        finally:
            self.path.unlink(missing_ok=True)


def _not_text() -> ApiError:
    return ApiError(
        422,
        "not_text",
        "The file is not UTF-8 text (it holds NUL bytes or invalid UTF-8). Save it as UTF-8 "
        "or convert it to Parquet.",
    )


def _filename_from_disposition(params: dict[bytes, bytes]) -> str | None:
    # python-multipart drops RFC 5987 `filename*`; browsers send a plain `filename` anyway.
    raw = params.get(b"filename")
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _check_name(raw_name: str, kind: UploadKind) -> tuple[str, str]:
    if "\x00" in raw_name:
        raise ApiError(
            400, "invalid_filename", "The file name contains a NUL byte; rename the file and retry."
        )
    name = sanitize_filename(raw_name)
    if not name:
        raise ApiError(400, "invalid_filename", "The file name is empty; give the file a name.")
    fmt = kind.format_of(name)
    if fmt is None:
        raise ApiError(415, "unsupported_type", kind.unsupported)
    return name, fmt


async def receive_upload(
    request: Request,
    folder: Path,
    max_bytes: int,
    data_root: Path | None = None,
    kind: UploadKind = DATASET_UPLOAD,
) -> ReceivedFile:
    """Parses the multipart body into `folder`; leaves no file behind when it raises.

    A declared size (Content-Length) is checked against the free space first; a disk that
    fills while the file streams in (a chunked body, or another program writing) is a
    DiskFull too. Text fields beside the file come back in `fields` (together at most
    MULTIPART_OVERHEAD bytes).
    """
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise ApiError(
            400,
            "invalid_request",
            "Send the file as multipart/form-data in a field named 'file'.",
        )
    length = request.headers.get("content-length")
    declared = int(length) if length and length.isdigit() else None
    if declared is not None and declared > max_bytes + MULTIPART_OVERHEAD:
        raise kind.too_large_error(max_bytes)
    if declared is not None:
        # The body's size includes a little multipart framing: a slight overestimate.
        ensure_free_space(folder, declared, "the upload", data_root)

    state: dict = {"headers": {}, "field": b"", "value": b"", "part": None, "current": None, "other": None}
    received: list[_FilePart] = []
    other_bytes = 0
    other_fields: dict[str, bytearray] = {}

    def on_part_begin() -> None:
        state["headers"] = {}
        state["current"] = None
        state["other"] = None

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["field"].lower()] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_headers_finished() -> None:
        _, params = parse_options_header(state["headers"].get(b"content-disposition", b""))
        if params.get(b"name") != FIELD_NAME.encode():
            # Another form field: kept for the route (which reads the ones it knows), unless
            # it is a file itself.
            field_name = params.get(b"name")
            if field_name is not None and b"filename" not in params:
                state["other"] = other_fields.setdefault(field_name.decode("utf-8", "replace"), bytearray())
            return
        raw_name = _filename_from_disposition(params)
        if raw_name is None:
            raise ApiError(400, "invalid_request", "The 'file' field must be a file upload.")
        if received:
            raise ApiError(400, "invalid_request", "Upload one file per request.")
        name, fmt = _check_name(raw_name, kind)
        part = _FilePart(name, fmt, folder, max_bytes, kind)
        received.append(part)
        state["current"] = part

    def on_part_data(data: bytes, start: int, end: int) -> None:
        nonlocal other_bytes
        part = state["current"]
        if part is not None:
            part.write(data[start:end])
        else:
            other_bytes += end - start
            if other_bytes > MULTIPART_OVERHEAD:
                raise ApiError(400, "invalid_request", "Only one field, 'file', is expected.")
            if state["other"] is not None:
                state["other"] += data[start:end]

    def on_part_end() -> None:
        state["current"] = None
        state["other"] = None

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        async for chunk in request.stream():
            if chunk:
                parser.write(chunk)
        parser.finalize()
        if not received:
            raise ApiError(400, "invalid_request", "No file found: send it in a field named 'file'.")
        part = received[0]
        part.finish()
        if part.size == 0:
            raise ApiError(422, "empty_file", kind.empty)
    except BaseException as exc:
        disk_full = is_disk_full(exc)
        free = free_bytes(folder) if disk_full else None  # before the partial file is removed
        for part in received:
            part.discard()
        if disk_full:
            raise DiskFull(data_root or folder, "the upload", declared, free) from exc
        if isinstance(exc, ApiError):
            raise
        if isinstance(exc, Exception) and not isinstance(exc, OSError):
            # Malformed multipart framing (python-multipart raises its own error types).
            raise ApiError(
                400, "invalid_request", "The multipart body is malformed; upload the file again."
            ) from None
        raise
    fields = {name: bytes(value).decode("utf-8", "replace") for name, value in other_fields.items()}
    return ReceivedFile(part.display_name, part.fmt, part.path, part.size, part.sha.hexdigest(), fields)


def remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
