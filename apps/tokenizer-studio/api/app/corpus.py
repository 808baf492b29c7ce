"""Reading uploaded datasets: column detection at upload, previews, and text streams for training.

pyarrow is imported only inside the parquet paths: it costs ~0.3 s and most datasets are text.
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


@dataclass
class Inspection:
    columns: list[str] | None
    text_column: str | None
    n_rows: int | None
    string_columns: list[str] | None = None


def _allow_big_csv_fields() -> None:
    # One text cell can be a whole document; the csv default of 128 KiB is too small.
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


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
        for line in f:
            if line.strip():
                n_rows += 1
    if n_rows == 0:
        raise ApiError(422, "empty_file", "The file holds only blank lines; upload some text.")
    return Inspection(columns=None, text_column=None, n_rows=n_rows)


def _inspect_jsonl(path: Path, count_all: bool = True) -> Inspection:
    columns: list[str] = []
    strings: list[str] = []
    n_rows = 0
    with path.open("rb") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            n_rows += 1
            if n_rows > SAMPLE_ROWS:
                if not count_all:
                    break
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                raise ApiError(
                    422,
                    "invalid_file",
                    f"Line {line_no} is not valid JSON; a .jsonl file needs one JSON object "
                    "per line.",
                ) from None
            if not isinstance(obj, dict):
                raise ApiError(
                    422,
                    "invalid_file",
                    f"Line {line_no} is not a JSON object; write each row as {{\"text\": ...}}.",
                )
            for key, value in obj.items():
                if key not in columns:
                    columns.append(key)
                if isinstance(value, str) and key not in strings:
                    strings.append(key)
    if n_rows == 0:
        raise ApiError(422, "empty_file", "The file holds only blank lines; upload some rows.")
    ordered = [c for c in columns if c in strings]
    return Inspection(columns, _pick_text_column(ordered), n_rows, ordered)


def _inspect_csv(path: Path, count_all: bool = True) -> Inspection:
    _allow_big_csv_fields()
    with path.open("r", encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            header = []
        except csv.Error as exc:
            raise ApiError(422, "invalid_file", f"The CSV cannot be read ({exc}); check quoting.") from None
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
            raise ApiError(
                422, "invalid_file", f"The CSV cannot be read near row {n_rows + 1} ({exc})."
            ) from None
    strings = [h for h, is_text in zip(header, texty, strict=True) if is_text and h]
    return Inspection(header, _pick_text_column(strings), n_rows, strings)


def _is_string_type(arrow_type) -> bool:
    import pyarrow as pa

    checks = [pa.types.is_string, pa.types.is_large_string]
    if hasattr(pa.types, "is_string_view"):
        checks.append(pa.types.is_string_view)
    return any(check(arrow_type) for check in checks)


def _inspect_parquet(path: Path) -> Inspection:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
        n_rows = pf.metadata.num_rows
    except Exception:
        raise ApiError(
            422, "invalid_file", "The file is not a readable Parquet file; export it again."
        ) from None
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
    """The columns that hold text, from the sampled head only (no full pass over a big file)."""
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
        for line in text_stream:
            line = line.rstrip("\r\n")
            if line.strip():
                yield line
    elif fmt == "jsonl":
        for line in text_stream:
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue  # only the sampled head was validated at upload; skip bad rows
            value = obj.get(column) if isinstance(obj, dict) else None
            if isinstance(value, str) and value:
                yield value
    elif fmt == "csv":
        _allow_big_csv_fields()
        reader = csv.DictReader(text_stream)
        if reader.fieldnames:
            reader.fieldnames = [h.strip() for h in reader.fieldnames]
        for row in reader:
            value = row.get(column)
            if isinstance(value, str) and value.strip():
                yield value


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
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(source.path)
        total = pf.metadata.num_rows or 1
        seen = 0
        for batch in pf.iter_batches(columns=[source.column], batch_size=2048):
            values = batch.column(0).to_pylist()
            seen += len(values)
            # Parquet is compressed column data: the row share is the closest byte measure.
            self.current_bytes = source.size_bytes * seen / total
            for value in values:
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
