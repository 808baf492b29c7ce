"""Reading uploaded datasets: column detection at upload, previews, and text streams for training.

pyarrow is imported only inside the parquet paths: it costs ~0.3 s and most datasets are text.

Datasets come from anywhere, so every reader is bounded by what it may decode, never by what
the file says it holds: lines are read with a length limit, a CSV field and a JSON line have
caps, Parquet is read a few rows at a time with dictionaries kept as dictionaries, and every
text handed on is at most MAX_RECORD_CHARS (a longer one is split, which for tokenizer training
only moves a word boundary). Peak memory is then independent of one line's or value's size.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app.errors import ApiError

FORMATS = ("txt", "jsonl", "csv", "parquet")
TEXT_FORMATS = ("txt", "jsonl", "csv")
SAMPLE_ROWS = 1000
PREVIEW_MAX_CHARS = 2000
# The longest text handed to the trainer or the preview in one piece. The trainer takes texts
# in batches of 512, so this bounds a batch at ~32 M characters.
MAX_RECORD_CHARS = 64 * 1024
# A JSON line must be parsed whole; longer ones are refused at upload and skipped later.
MAX_JSONL_LINE_BYTES = 16 * 1024 * 1024
# One CSV field, and one physical CSV line (a quoted field may span several lines).
MAX_CSV_FIELD_CHARS = 16 * 1024 * 1024
# Parquet: rows decoded at a time, and what the footer may declare. Text compresses 3-10x;
# a file declaring more than 200x its size of uncompressed data is a decompression bomb.
PARQUET_BATCH_ROWS = 64
MAX_PARQUET_EXPANSION = 200
MAX_PARQUET_UNCOMPRESSED_BYTES = 16 * 1024**3
MAX_PARQUET_COLUMN_CHUNK_BYTES = 512 * 1024 * 1024
# One page is decompressed whole; writers default to about 1 MiB pages.
MAX_PARQUET_PAGE_BYTES = 64 * 1024 * 1024


@dataclass
class Inspection:
    columns: list[str] | None
    text_column: str | None
    n_rows: int | None
    string_columns: list[str] | None = None


def _allow_big_csv_fields() -> None:
    # One text cell can be a whole document (the csv default of 128 KiB is too small), but not
    # gigabytes: the reader holds a field whole.
    csv.field_size_limit(min(sys.maxsize, MAX_CSV_FIELD_CHARS))


def _split(text: str) -> Iterator[str]:
    """`text` in pieces of at most MAX_RECORD_CHARS."""
    for start in range(0, len(text), MAX_RECORD_CHARS):
        yield text[start : start + MAX_RECORD_CHARS]


def _bounded_lines(f, limit: int) -> Iterator[tuple[object, bool]]:
    """(line, complete) pairs read with at most `limit` bytes/characters at a time; a longer
    line comes as several pieces, all but the last with complete=False."""
    while True:
        line = f.readline(limit)
        if not line:
            return
        yield line, line.endswith(b"\n" if isinstance(line, bytes) else "\n")


def _whole_lines(f, limit: int) -> Iterator[object | None]:
    """Lines of at most `limit`; a longer one is skipped without being held, and yields None."""
    overlong = False
    for piece, complete in _bounded_lines(f, limit):
        if overlong or not complete and len(piece) >= limit:
            overlong = not complete
            if not overlong:
                yield None
            continue
        yield piece


def _csv_lines(f) -> Iterator[str]:
    """Physical lines for the csv module, refusing one longer than a field may be (the csv
    module would otherwise read it whole before its own field limit applies)."""
    for piece, complete in _bounded_lines(f, MAX_CSV_FIELD_CHARS):
        if not complete and len(piece) >= MAX_CSV_FIELD_CHARS:
            raise csv.Error(f"a line is longer than {MAX_CSV_FIELD_CHARS:,} characters")
        yield piece


def _pick_text_column(string_columns: list[str]) -> str:
    if not string_columns:
        raise ApiError(
            422,
            "no_text_column",
            "No column holds text. Upload a file with a string column (ideally named 'text').",
        )
    return "text" if "text" in string_columns else string_columns[0]


def _looks_numeric(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _inspect_txt(path: Path) -> Inspection:
    n_rows = 0
    with path.open("rb") as f:
        line_has_text = False
        for piece, complete in _bounded_lines(f, 1 << 20):
            line_has_text = line_has_text or bool(piece.strip())
            if complete:
                n_rows += line_has_text
                line_has_text = False
        n_rows += line_has_text
    if n_rows == 0:
        raise ApiError(422, "empty_file", "The file holds only blank lines; upload some text.")
    return Inspection(columns=None, text_column=None, n_rows=n_rows)


def _inspect_jsonl(path: Path, count_all: bool = True) -> Inspection:
    columns: list[str] = []
    strings: list[str] = []
    n_rows = 0
    with path.open("rb") as f:
        for line_no, line in enumerate(_whole_lines(f, MAX_JSONL_LINE_BYTES), 1):
            if line is None:
                raise ApiError(
                    422,
                    "line_too_long",
                    f"Line {line_no} is longer than {MAX_JSONL_LINE_BYTES // (1024 * 1024)} MiB; "
                    "split that record into smaller ones (one JSON object per line).",
                )
            if not line.strip():
                continue
            n_rows += 1
            if n_rows > SAMPLE_ROWS:
                if not count_all:
                    break
                continue
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError):
                # RecursionError: nesting deeper than the parser's stack, e.g. "[[[[…".
                raise ApiError(
                    422,
                    "invalid_file",
                    f"Line {line_no} is not valid JSON; a .jsonl file needs one JSON object per line.",
                ) from None
            if not isinstance(obj, dict):
                raise ApiError(
                    422,
                    "invalid_file",
                    f'Line {line_no} is not a JSON object; write each row as {{"text": ...}}.',
                )
            for key, value in obj.items():
                if key not in columns:
                    columns.append(key)
                # Text, as for a CSV cell: a key whose strings are all empty holds none.
                if isinstance(value, str) and value.strip() and key not in strings:
                    strings.append(key)
    if n_rows == 0:
        raise ApiError(422, "empty_file", "The file holds only blank lines; upload some rows.")
    ordered = [c for c in columns if c in strings]
    return Inspection(columns, _pick_text_column(ordered), n_rows, ordered)


def _inspect_csv(path: Path, count_all: bool = True) -> Inspection:
    _allow_big_csv_fields()
    with path.open("r", encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(_csv_lines(f))
        try:
            header = next(reader)
        except StopIteration:
            header = []
        except csv.Error as exc:
            raise _csv_error(exc, 1) from None
        header = [h.strip() for h in header]
        if not header or not any(header):
            raise ApiError(422, "no_text_column", "The CSV has no header row; add one naming the columns.")
        texty = [False] * len(header)
        n_rows = 0
        try:
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                n_rows += 1
                if n_rows > SAMPLE_ROWS and not count_all:
                    break
                if n_rows <= SAMPLE_ROWS:
                    for i, cell in enumerate(row[: len(header)]):
                        if cell.strip() and not _looks_numeric(cell):
                            texty[i] = True
        except csv.Error as exc:
            raise _csv_error(exc, n_rows + 1) from None
    strings = [h for h, is_text in zip(header, texty, strict=True) if is_text and h]
    return Inspection(header, _pick_text_column(strings), n_rows, strings)


def _csv_error(exc: csv.Error, row: int) -> ApiError:
    if "field larger than field limit" in str(exc) or "longer than" in str(exc):
        return ApiError(
            422,
            "field_too_long",
            f"Row {row} of the CSV has a field or line longer than "
            f"{MAX_CSV_FIELD_CHARS // (1024 * 1024)} MiB; split long texts into several rows "
            "(or check for an unclosed quote).",
        )
    return ApiError(422, "invalid_file", f"The CSV cannot be read near row {row} ({exc}); check quoting.")


def _is_string_type(arrow_type) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        # A categorical text column (pandas writes these) is text too.
        arrow_type = arrow_type.value_type

    checks = [pa.types.is_string, pa.types.is_large_string]
    if hasattr(pa.types, "is_string_view"):
        checks.append(pa.types.is_string_view)
    return any(check(arrow_type) for check in checks)


def _open_parquet(path: Path, read_dictionary: list[str] | None = None):
    """The file, after what it holds was checked against what the app may decode; reads stream
    through a small buffer instead of loading whole column chunks.

    Two claims are checked: the footer's size of every column chunk, and the sizes in the page
    headers of each chunk, which are what the decoder allocates from (a footer can understate
    them). Walking the headers reads a few bytes per page and decompresses nothing."""
    import pyarrow.parquet as pq

    from app.parquet_pages import BadPageHeader, scan_chunk

    try:
        pf = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20, read_dictionary=read_dictionary)
        meta = pf.metadata
        columns = [
            meta.row_group(g).column(c) for g in range(meta.num_row_groups) for c in range(meta.num_columns)
        ]
    except Exception:
        raise ApiError(
            422, "invalid_file", "The file is not a readable Parquet file; export it again."
        ) from None
    file_size = max(path.stat().st_size, 1)
    chunks: list[int] = []
    largest_page = 0
    with path.open("rb") as f:
        for column in columns:
            start = column.data_page_offset
            if column.has_dictionary_page and column.dictionary_page_offset:
                start = min(start, column.dictionary_page_offset)
            try:
                if (
                    start < 0
                    or column.total_compressed_size < 0
                    or start + column.total_compressed_size > file_size
                ):
                    raise BadPageHeader("a column chunk lies outside the file")
                pages = scan_chunk(f, start, column.total_compressed_size)
            except BadPageHeader as exc:
                raise ApiError(
                    422,
                    "invalid_file",
                    f"The Parquet file is damaged ({exc}); export it again.",
                ) from None
            # The larger of the two claims is what reading may cost.
            chunks.append(max(column.total_uncompressed_size, pages.uncompressed_bytes))
            largest_page = max(largest_page, pages.largest_page)
    declared = sum(chunks)
    if (
        declared > MAX_PARQUET_UNCOMPRESSED_BYTES
        or declared > MAX_PARQUET_EXPANSION * file_size
        or any(size > MAX_PARQUET_COLUMN_CHUNK_BYTES for size in chunks)
        or largest_page > MAX_PARQUET_PAGE_BYTES
    ):
        raise ApiError(
            422,
            "parquet_too_large",
            f"The Parquet file declares {declared:,} bytes of data in {file_size:,} bytes "
            f"(largest page {largest_page:,} bytes), more than the app unpacks safely; write it "
            "again with smaller row groups and pages, or upload the text as .txt or .jsonl.",
        )
    return pf


def _inspect_parquet(path: Path) -> Inspection:
    pf = _open_parquet(path)
    schema = pf.schema_arrow
    n_rows = pf.metadata.num_rows
    columns = list(schema.names)
    strings = [f.name for f in schema if _is_string_type(f.type)]
    return Inspection(columns, _pick_text_column(strings), n_rows, strings)


def inspect(path: Path, fmt: str) -> Inspection:
    """Detects columns and the text column; raises ApiError (422) for unusable files."""
    return {
        "txt": _inspect_txt,
        "jsonl": _inspect_jsonl,
        "csv": _inspect_csv,
        "parquet": _inspect_parquet,
    }[fmt](path)


def string_columns(path: Path, fmt: str) -> list[str]:
    """The columns that hold text, from the sampled head only (no full pass over a big file): the
    Datasets screen's choice of text column and a training's `text_column` are checked against
    these."""
    if fmt == "txt":
        return []
    if fmt == "jsonl":
        return _inspect_jsonl(path, count_all=False).string_columns or []
    if fmt == "csv":
        return _inspect_csv(path, count_all=False).string_columns or []
    return _inspect_parquet(path).string_columns or []


class _CountingReader(io.RawIOBase):
    """Counts bytes pulled from the file, which is the honest measure of reading progress."""

    def __init__(self, raw) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.raw.readinto(buffer)
        self.count += n or 0
        return n

    def close(self) -> None:
        self.raw.close()
        super().close()


def _texts_from_text_file(fmt: str, column: str | None, text_stream) -> Iterator[str]:
    if fmt == "txt":
        # A line longer than a record comes in record-sized pieces, never whole.
        for piece, _ in _bounded_lines(text_stream, MAX_RECORD_CHARS):
            piece = piece.rstrip("\r\n")
            if piece.strip():
                yield piece
    elif fmt == "jsonl":
        for line in _whole_lines(text_stream, MAX_JSONL_LINE_BYTES):
            if line is None or not line.strip():
                continue  # an over-long line was refused at upload if it was in the head
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError):
                continue  # only the sampled head was validated at upload; skip bad rows
            value = obj.get(column) if isinstance(obj, dict) else None
            if isinstance(value, str) and value:
                yield from _split(value)
    elif fmt == "csv":
        _allow_big_csv_fields()
        reader = csv.DictReader(_csv_lines(text_stream))
        try:
            if reader.fieldnames:
                reader.fieldnames = [h.strip() for h in reader.fieldnames]
            for row in reader:
                value = row.get(column)
                if isinstance(value, str) and value.strip():
                    yield from _split(value)
        except csv.Error as exc:
            # Past the sampled head: the job fails with the same sentence the upload gives.
            raise _csv_error(exc, reader.line_num) from None


@dataclass
class Source:
    path: Path
    fmt: str
    column: str | None
    size_bytes: int


class CorpusStream:
    """Texts of several datasets in order; `consumed_fraction()` is bytes read / total bytes."""

    def __init__(self, sources: list[Source]) -> None:
        self.sources = sources
        self.total_bytes = sum(s.size_bytes for s in sources) or 1
        self.done_bytes = 0
        self.current_bytes = 0.0
        self.rows = 0

    def consumed_fraction(self) -> float:
        return min(1.0, (self.done_bytes + self.current_bytes) / self.total_bytes)

    def __iter__(self) -> Iterator[str]:
        for source in self.sources:
            self.current_bytes = 0
            for text in self._iter_source(source):
                self.rows += 1
                yield text
            self.done_bytes += source.size_bytes
            self.current_bytes = 0

    def _iter_source(self, source: Source) -> Iterator[str]:
        if source.fmt == "parquet":
            yield from self._iter_parquet(source)
            return
        counting = _CountingReader(source.path.open("rb"))
        buffered = io.BufferedReader(counting, buffer_size=1 << 16)
        newline = "" if source.fmt == "csv" else None
        with io.TextIOWrapper(buffered, encoding="utf-8-sig", errors="replace", newline=newline) as f:
            for text in _texts_from_text_file(source.fmt, source.column, f):
                self.current_bytes = counting.count
                yield text

    def _iter_parquet(self, source: Source) -> Iterator[str]:
        import pyarrow as pa
        import pyarrow.compute as pc

        # Checked again here: the file may predate the upload checks. Read as a dictionary
        # column: a file that repeats one huge value in every row (tiny on disk) stays one
        # value in memory instead of one copy per row.
        pf = _open_parquet(source.path, read_dictionary=[source.column])
        total = pf.metadata.num_rows or 1
        seen = 0
        # The dictionary is shared by every batch of a column chunk: converted once per chunk.
        dictionary_key, values = None, []
        for batch in pf.iter_batches(columns=[source.column], batch_size=PARQUET_BATCH_ROWS):
            column = batch.column(0)
            if pa.types.is_dictionary(column.type):
                key = (column.dictionary.buffers()[-1].address, len(column.dictionary))
                if key != dictionary_key:
                    dictionary = pc.utf8_slice_codeunits(column.dictionary, 0, MAX_RECORD_CHARS)
                    dictionary_key, values = key, dictionary.to_pylist()
                texts = (None if i is None else values[i] for i in column.indices.to_pylist())
            else:
                texts = iter(pc.utf8_slice_codeunits(column, 0, MAX_RECORD_CHARS).to_pylist())
            seen += len(column)
            # Parquet is compressed column data: the row share is the closest byte measure.
            self.current_bytes = source.size_bytes * seen / total
            for value in texts:
                if isinstance(value, str) and value:
                    yield value


def preview(source: Source, limit: int) -> list[str]:
    rows: list[str] = []
    texts = iter(CorpusStream([source]))
    try:
        for text in texts:
            rows.append(text[:PREVIEW_MAX_CHARS])
            if len(rows) >= limit:
                break
    finally:
        texts.close()  # closes the file now instead of whenever the generator is collected
    return rows
