"""Streaming multipart upload straight to disk: size cap, sha256 and the UTF-8 check on the fly.

Starlette's form parser would spool the whole file before anything could look at it; parsing
the body here lets an oversized or binary upload stop at its first bad chunk. Two routes take a
file, a corpus (`DATASET_UPLOAD`) and a tokenizer.json (`TOKENIZER_UPLOAD`).
"""

from __future__ import annotations

import codecs
import hashlib
import os
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header

from inspector.errors import ApiError, DiskFull
from inspector.paths import PRIVATE_FILE_MODE
from jobrunner.disk import ensure_free_space, free_bytes, is_disk_full

FIELD_NAME = "file"
MAX_NAME_CHARS = 200
# Boundaries and part headers around the file; generous on purpose.
MULTIPART_OVERHEAD = 64 * 1024
# The largest published tokenizer.json files (vocabularies of a few hundred thousand tokens) are
# around 35 MB; a bigger file is almost surely not one, and loading it costs several times that.
MAX_TOKENIZER_BYTES = 50_000_000
CORPUS_FORMATS = ("txt", "jsonl", "csv")


def sanitize_filename(name: str) -> str:
    """A display name safe to show: no folders, no control characters. Stored files are named
    by their id, never by this."""
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf"))
    name = name.strip().lstrip(".").strip()
    if len(name) > MAX_NAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        name = (
            stem[: MAX_NAME_CHARS - len(ext) - 1] + "." + ext
            if dot and len(ext) <= 16
            else name[:MAX_NAME_CHARS]
        )
    return name


def corpus_format(name: str) -> str | None:
    stem, dot, ext = name.rpartition(".")
    ext = ext.lower()
    return ext if dot and stem and ext in CORPUS_FORMATS else None


@dataclass(frozen=True)
class UploadKind:
    """What one upload route takes, and the sentences that refuse a file."""

    # The format a file name stands for, or None to refuse the name with `unsupported`.
    format_of: Callable[[str], str | None]
    unsupported: str
    too_large: Callable[[int], str]
    empty: str
    not_text: str

    def too_large_error(self, max_bytes: int) -> ApiError:
        return ApiError(413, "upload_too_large", self.too_large(max_bytes))


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


@dataclass
class ReceivedFile:
    display_name: str
    fmt: str
    temp_path: Path
    size_bytes: int
    sha256: str


class _FilePart:
    """Receives the bytes of the one `file` part, checking them as they arrive."""

    def __init__(self, display_name: str, fmt: str, folder: Path, max_bytes: int, kind: UploadKind) -> None:
        self.display_name = display_name
        self.fmt = fmt
        self.max_bytes = max_bytes
        self.kind = kind
        self.path = folder / f".incoming-{secrets.token_hex(8)}.part"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        self.file = os.fdopen(os.open(self.path, flags, PRIVATE_FILE_MODE), "wb")
        self.sha = hashlib.sha256()
        self.size = 0
        self.complete = False
        self.decoder = codecs.getincrementaldecoder("utf-8")()

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            raise self.kind.too_large_error(self.max_bytes)
        # NUL never occurs in text: a file holding one is binary, whatever decodes.
        if b"\x00" in data:
            raise self._not_text()
        try:
            self.decoder.decode(data)
        except UnicodeDecodeError:
            raise self._not_text() from None
        self.sha.update(data)
        self.file.write(data)

    def finish(self) -> None:
        self.file.close()
        try:
            self.decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise self._not_text() from None

    def discard(self) -> None:
        try:
            self.file.close()
        except OSError:
            pass
        finally:
            self.path.unlink(missing_ok=True)

    def _not_text(self) -> ApiError:
        return ApiError(422, "not_text", self.kind.not_text)


def _check_name(raw_name: str, kind: UploadKind) -> tuple[str, str]:
    name = sanitize_filename(raw_name.replace("\x00", ""))
    if not name:
        raise ApiError(400, "invalid_filename", "The file has no usable name; rename it and try again.")
    fmt = kind.format_of(name)
    if fmt is None:
        raise ApiError(415, "unsupported_type", kind.unsupported)
    return name, fmt


async def receive_upload(
    request: Request, folder: Path, max_bytes: int, kind: UploadKind, data_root: Path
) -> ReceivedFile:
    """Parses the multipart body into a temporary file in `folder`; leaves nothing behind when
    it raises."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise ApiError(
            400, "invalid_request", "Send the file as multipart/form-data in a field named 'file'."
        )
    length = request.headers.get("content-length")
    declared = int(length) if length and length.isdigit() else None
    if declared is not None:
        # The body holds a little multipart framing besides the file: a slight overestimate.
        ensure_free_space(folder, declared, "the upload", data_root, error=DiskFull)

    state: dict = {"headers": {}, "field": b"", "value": b"", "current": None}
    received: list[_FilePart] = []
    other_bytes = 0

    def on_part_begin() -> None:
        state["headers"] = {}
        state["current"] = None

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
            return  # another field: ignored, within MULTIPART_OVERHEAD
        raw = params.get(b"filename")
        if raw is None:
            raise ApiError(400, "invalid_request", "The 'file' field must be a file upload.")
        if received:
            raise ApiError(400, "invalid_request", "Upload one file at a time.")
        try:
            raw_name = raw.decode("utf-8")
        except UnicodeDecodeError:
            raw_name = raw.decode("latin-1")
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

    def on_part_end() -> None:
        if state["current"] is not None:
            state["current"].complete = True
        state["current"] = None

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
        if not part.complete:
            # The body stopped before the file's closing boundary: what arrived is a fragment.
            raise ApiError(
                400, "invalid_request", "The upload was cut off before its end; upload the file again."
            )
        part.finish()
        if part.size == 0:
            raise ApiError(422, "empty_file", kind.empty)
    except BaseException as exc:
        disk_full = is_disk_full(exc)
        free = free_bytes(folder) if disk_full else None  # before the partial file is removed
        for part in received:
            part.discard()
        if disk_full:
            raise DiskFull(data_root, "the upload", declared, free) from exc
        if isinstance(exc, ApiError) or not isinstance(exc, Exception) or isinstance(exc, OSError):
            raise
        # Malformed multipart framing: python-multipart raises its own error types.
        raise ApiError(400, "invalid_request", "The upload is malformed; upload the file again.") from None
    return ReceivedFile(part.display_name, part.fmt, part.path, part.size, part.sha.hexdigest())
