"""Reading a corpus: the check of an upload (`scan`) and the documents an inspection reads.

A corpus is a .txt file (one document per line), a .jsonl file (one JSON object per line, the
text in one of its fields) or a .csv file (a header row, the text in one of its columns), in
UTF-8. Every read is bounded by what it may hold, never by what the file says it holds: a line
or a CSV record longer than MAX_RECORD_BYTES is refused, so memory does not depend on the file.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# One document is read whole (a .txt or .jsonl line, a CSV record).
MAX_RECORD_BYTES = 16_000_000
MAX_RECORD_TEXT = "16 MB"
# Rows looked at to guess which CSV column holds the text.
SAMPLE_ROWS = 1000
BOM = "\ufeff"


class CorpusError(Exception):
    """The file cannot be read as the corpus it claims to be; `message` says why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Scan:
    """What an upload holds: its records (non-blank lines, JSON objects or CSV rows), the fields
    or columns that can be the text (None for .txt), and the one to use unless told otherwise."""

    records: int
    fields: list[str] | None
    text_field: str | None


def _lines(f) -> Iterator[tuple[int, str]]:
    """(line number, text without its line break) of a file opened in binary, refusing a line
    longer than MAX_RECORD_BYTES before it is held whole."""
    number = 0
    while True:
        raw = f.readline(MAX_RECORD_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_RECORD_BYTES:
            raise CorpusError(
                f"Line {number} is longer than {MAX_RECORD_TEXT}; split it into shorter lines and "
                "upload the file again."
            )
        text = raw.decode("utf-8")
        if number == 1:
            text = text.removeprefix(BOM)
        yield number, text.rstrip("\r\n")


def _json_object(number: int, line: str) -> dict:
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        # RecursionError: nesting deeper than the parser's stack, e.g. "[[[[…".
        raise CorpusError(
            f"Line {number} is not valid JSON; a .jsonl file needs one JSON object per line, "
            'like {"text": "…"}.'
        ) from None
    if not isinstance(value, dict):
        raise CorpusError(f'Line {number} is not a JSON object; write each line like {{"text": "…"}}.')
    return value


class _PhysicalLines:
    """The file's lines for the csv module, line breaks put back (it joins the lines of a
    quoted field), counting them for error messages."""

    def __init__(self, f) -> None:
        self.lines = _lines(f)
        self.number = 0

    def __iter__(self) -> _PhysicalLines:
        return self

    def __next__(self) -> str:
        self.number, text = next(self.lines)
        return text + "\n"


def _csv_rows(f) -> Iterator[list[str]]:
    # A cell may be a whole document, not more: the csv module's own default is 128 KB.
    csv.field_size_limit(min(sys.maxsize, MAX_RECORD_BYTES))
    lines = _PhysicalLines(f)
    # Strict: a quote that is never closed is an error, not the rest of the file in one cell.
    reader = csv.reader(lines, strict=True)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise CorpusError(
                    f"A cell of the CSV file ending near line {lines.number} is longer than "
                    f"{MAX_RECORD_TEXT} (or a quote is never closed); check its quotes, or split "
                    "long texts into several rows."
                ) from None
            raise CorpusError(
                f"The CSV file cannot be read near line {lines.number} ({exc}); check its quotes, or "
                "save it again from a spreadsheet as CSV UTF-8."
            ) from None
        yield row


def _csv_header(rows: Iterator[list[str]]) -> list[str]:
    header = [name.strip() for name in next(rows, [])]
    if not any(header):
        raise CorpusError("The CSV file has no header row; its first line must name the columns.")
    return header


def _looks_numeric(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def scan(path: Path, fmt: str) -> Scan:
    """Checks a whole upload; raises CorpusError with a sentence for the user."""
    with path.open("rb") as f:
        if fmt == "txt":
            records = sum(1 for _, line in _lines(f) if line.strip())
            if records == 0:
                raise CorpusError("The file holds only blank lines; choose a file with some text in it.")
            return Scan(records, None, None)
        if fmt == "jsonl":
            return _scan_jsonl(f)
        if fmt == "csv":
            return _scan_csv(f)
    raise ValueError(f"unknown corpus format {fmt!r}")


def _scan_jsonl(f) -> Scan:
    records = 0
    order: list[str] = []
    texty: dict[str, int] = {}  # field -> records where it is a string or null
    filled: set[str] = set()  # fields with some non-blank text
    for number, line in _lines(f):
        if not line.strip():
            continue
        obj = _json_object(number, line)
        records += 1
        for key, value in obj.items():
            if key not in texty:
                order.append(key)
                texty[key] = 0
            if value is None or isinstance(value, str):
                texty[key] += 1
                if value and value.strip():
                    filled.add(key)
    if records == 0:
        raise CorpusError("The file holds only blank lines; choose a file with some text in it.")
    fields = [key for key in order if texty[key] == records and key in filled]
    if not fields:
        raise CorpusError(
            "No field holds text in every line of this .jsonl file; give each line a text field, "
            'like {"text": "…"}.'
        )
    return Scan(records, fields, "text" if "text" in fields else fields[0])


def _scan_csv(f) -> Scan:
    rows = _csv_rows(f)
    header = _csv_header(rows)
    columns = list(dict.fromkeys(name for name in header if name))
    texty: set[str] = set()
    records = 0
    for row in rows:
        if not any(cell.strip() for cell in row):
            continue
        records += 1
        if records <= SAMPLE_ROWS:
            for name, cell in zip(header, row, strict=False):
                if name and cell.strip() and not _looks_numeric(cell):
                    texty.add(name)
    if records == 0:
        raise CorpusError("The CSV file has a header row but no rows; add some rows of text.")
    guess = "text" if "text" in columns else next((c for c in columns if c in texty), columns[0])
    return Scan(records, columns, guess)


def read_documents(path: Path, fmt: str, field: str | None) -> Iterator[tuple[str, int]]:
    """Every record's text, blank ones too, with the file position after it (for progress).
    `field` names the .jsonl field or .csv column; a record without it raises CorpusError."""
    with path.open("rb") as f:
        if fmt == "txt":
            for _, line in _lines(f):
                yield line, f.tell()
        elif fmt == "jsonl":
            for number, line in _lines(f):
                if not line.strip():
                    continue
                value = _json_object(number, line).get(field, _MISSING)
                if value is _MISSING:
                    raise CorpusError(f'Line {number} has no "{field}" field; choose a field every line has.')
                if value is not None and not isinstance(value, str):
                    raise CorpusError(
                        f'On line {number} the "{field}" field is not text; choose a field that holds text.'
                    )
                yield value or "", f.tell()
        elif fmt == "csv":
            rows = _csv_rows(f)
            header = _csv_header(rows)
            if field not in header:
                raise CorpusError(f'The CSV file has no column named "{field}"; choose one of its columns.')
            index = header.index(field)
            for row in rows:
                if not any(cell.strip() for cell in row):
                    continue
                # A short row (fewer cells than the header) has an empty cell there.
                yield (row[index] if index < len(row) else ""), f.tell()
        else:
            raise ValueError(f"unknown corpus format {fmt!r}")


_MISSING = object()
