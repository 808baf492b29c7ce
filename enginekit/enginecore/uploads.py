"""A multipart upload streamed straight to disk: size cap, sha256 and the UTF-8 check on the fly.

Starlette's form parser would spool the whole file before anything could look at it; parsing
the body here lets an oversized or binary upload stop at its first bad chunk. What one route
takes, and the sentences that refuse a file, are an `UploadKind`; the sentences an engine says
about any upload are its `UploadWords`; a full disk is told by the app's `DiskChecks` (the job
runner's test of a full disk, which this package does not import).
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

from enginecore.errors import ApiError
from enginecore.paths import PRIVATE_FILE_MODE

FIELD_NAME = "file"
MAX_NAME_CHARS = 200
# Multipart framing around the file: boundaries and part headers, and any small text fields
# beside it. Generous on purpose.
MULTIPART_OVERHEAD = 64 * 1024


def sanitize_filename(name: str) -> str:
    """A display name safe to show and to put in a header: no folders, no control characters.
    Stored files are named by their id, never by this."""
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


def _every_format(_fmt: str) -> bool:
    return True


@dataclass(frozen=True)
class UploadKind:
    """What one upload route takes, and the sentences that refuse a file."""

    # The format a file name stands for, or None to refuse the name with `unsupported` (415).
    format_of: Callable[[str], str | None]
    unsupported: str
    # The 413 sentence, given the limit in bytes.
    too_large: Callable[[int], str]
    empty: str
    # The 422 `not_text` sentence, for a format `is_text` says must be UTF-8 text.
    not_text: str
    is_text: Callable[[str], bool] = _every_format

    def too_large_error(self, max_bytes: int) -> ApiError:
        return ApiError(413, "upload_too_large", self.too_large(max_bytes))


@dataclass(frozen=True)
class UploadWords:
    """The sentences an engine says about any upload, and its choices where engines differ."""

    no_name: str
    one_file: str
    malformed: str
    # A NUL in the file name: refused with this sentence, or (None) dropped from the name.
    nul_in_name: str | None = None
    # A body that stops before the file's closing boundary: refused with this sentence, or
    # (None) the part that arrived is kept.
    cut_off: str | None = None
    # Whether the form's other (text) fields come back in `ReceivedFile.fields`.
    keep_fields: bool = False


@dataclass(frozen=True)
class DiskChecks:
    """How the app tells a full disk: checks before writing, and the 507 it answers."""

    ensure_free_space: Callable[[Path, int, str, Path | None], None]
    is_disk_full: Callable[[BaseException], bool]
    free_bytes: Callable[[Path], int | None]
    # DiskFull(data_root, what, needed, free)
    disk_full: Callable[[Path | None, str, int | None, int | None], Exception]


@dataclass
class ReceivedFile:
    display_name: str
    fmt: str
    temp_path: Path
    size_bytes: int
    sha256: str
    # The other (text) fields of the form, by name, when the engine keeps them.
    fields: dict[str, str] = field(default_factory=dict)


class _FilePart:
    """Receives the bytes of the one `file` part, checking them as they arrive."""

    def __init__(self, display_name: str, fmt: str, folder: Path, max_bytes: int, kind: UploadKind) -> None:
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
        self.complete = False
        self.decoder = codecs.getincrementaldecoder("utf-8")() if kind.is_text(fmt) else None

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            raise self.kind.too_large_error(self.max_bytes)
        if self.decoder is not None:
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
        if self.decoder is not None:
            try:
                self.decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                raise self._not_text() from None

    def discard(self) -> None:
        try:
            # Closing flushes the buffer, which fails again on a full disk; the fd is closed
            # regardless, and the file must go either way.
            self.file.close()
        except OSError:
            pass
        finally:
            self.path.unlink(missing_ok=True)

    def _not_text(self) -> ApiError:
        return ApiError(422, "not_text", self.kind.not_text)


def _filename_from_disposition(params: dict[bytes, bytes]) -> str | None:
    # python-multipart drops RFC 5987 `filename*`; browsers send a plain `filename` anyway.
    raw = params.get(b"filename")
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _check_name(raw_name: str, kind: UploadKind, words: UploadWords) -> tuple[str, str]:
    if "\x00" in raw_name:
        if words.nul_in_name is not None:
            raise ApiError(400, "invalid_filename", words.nul_in_name)
        raw_name = raw_name.replace("\x00", "")
    name = sanitize_filename(raw_name)
    if not name:
        raise ApiError(400, "invalid_filename", words.no_name)
    fmt = kind.format_of(name)
    if fmt is None:
        raise ApiError(415, "unsupported_type", kind.unsupported)
    return name, fmt


async def receive_upload(
    request: Request,
    folder: Path,
    max_bytes: int,
    *,
    kind: UploadKind,
    words: UploadWords,
    disk: DiskChecks,
    data_root: Path | None,
) -> ReceivedFile:
    """Parses the multipart body into a temporary file in `folder`; leaves no file behind when
    it raises.

    A declared size (Content-Length) is checked against the cap and the free space first; a
    disk that fills while the file streams in (a chunked body, or another program writing) is
    the app's DiskFull too. Other form fields are together at most MULTIPART_OVERHEAD bytes.
    """
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise ApiError(
            400, "invalid_request", "Send the file as multipart/form-data in a field named 'file'."
        )
    length = request.headers.get("content-length")
    declared = int(length) if length and length.isdigit() else None
    if declared is not None and declared > max_bytes + MULTIPART_OVERHEAD:
        raise kind.too_large_error(max_bytes)
    if declared is not None:
        # The body holds a little multipart framing besides the file: a slight overestimate.
        disk.ensure_free_space(folder, declared, "the upload", data_root)

    state: dict = {"headers": {}, "field": b"", "value": b"", "current": None, "other": None}
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
            # Another form field: kept for the route (which reads the ones it knows) when the
            # engine keeps them, unless it is a file itself.
            field_name = params.get(b"name")
            if words.keep_fields and field_name is not None and b"filename" not in params:
                state["other"] = other_fields.setdefault(field_name.decode("utf-8", "replace"), bytearray())
            return
        raw_name = _filename_from_disposition(params)
        if raw_name is None:
            raise ApiError(400, "invalid_request", "The 'file' field must be a file upload.")
        if received:
            raise ApiError(400, "invalid_request", words.one_file)
        name, fmt = _check_name(raw_name, kind, words)
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
        if state["current"] is not None:
            state["current"].complete = True
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
        if words.cut_off is not None and not part.complete:
            # The body stopped before the file's closing boundary: what arrived is a fragment.
            raise ApiError(400, "invalid_request", words.cut_off)
        part.finish()
        if part.size == 0:
            raise ApiError(422, "empty_file", kind.empty)
    except BaseException as exc:
        disk_full = disk.is_disk_full(exc)
        free = disk.free_bytes(folder) if disk_full else None  # before the partial file is removed
        for part in received:
            part.discard()
        if disk_full:
            raise disk.disk_full(data_root or folder, "the upload", declared, free) from exc
        if isinstance(exc, ApiError) or not isinstance(exc, Exception) or isinstance(exc, OSError):
            raise
        # Malformed multipart framing: python-multipart raises its own error types.
        raise ApiError(400, "invalid_request", words.malformed) from None
    fields = {name: bytes(value).decode("utf-8", "replace") for name, value in other_fields.items()}
    return ReceivedFile(part.display_name, part.fmt, part.path, part.size, part.sha.hexdigest(), fields)


def remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
