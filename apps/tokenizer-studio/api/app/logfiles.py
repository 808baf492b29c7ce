"""The logs folder (`paths.logs`): the files the shell, the supervisor and the engine write there,
how their lines look, bounded reads of their newest lines, and the log viewer of
`GET /api/v1/logs`. The diagnostics zip reads the logs through here too.

The writers and their line formats:

- `shell.log`, the desktop shell (`shell/src/shell_log.rs`), and `engine.log`, the supervisor's
  copy of the engine's stdout and stderr (`supervisor/src/logs.rs`), share one format:
  `<UTC time, RFC 3339, milliseconds> <source, padded to 6> | <text>`, the source being `shell`
  or `supervisor`, `stdout`, `stderr`. Neither writer has levels: the shell's and the
  supervisor's lines are decisions and state changes. The supervisor stamps every line of the
  engine's output as it reads it, a traceback's lines too.
- `server.log`, the engine's Python logging (`enginecore.server.log_config`):
  `<local time YYYY-MM-DD HH:MM:SS,mmm> <LEVEL> <logger>: <message>`, a traceback's lines
  unstamped after their record. The same records go to the engine's stderr, so `engine.log`'s
  `stderr` lines hold them a second time, after the supervisor's prefix.

Every file rotates into `.1` (newest), `.2`, ... at a few MB, and a log is never read whole: a
file of gigabytes (a runaway loop, a disk that never rotated) costs its tail only.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# The shell's log, the supervisor's copy of the engine's output and the engine's own file, each
# with its rotated copies (`.1` newest).
LOG_FILES = ("shell.log", "engine.log", "server.log")
SOURCES = {"shell": "shell.log", "engine": "engine.log", "server": "server.log"}
MAX_ROTATED = 9

# The viewer reads a log's tail from this many bytes up to VIEW_MAX_READ, four times more each
# round, until it holds `limit` lines of the chosen level: the usual tail of a few hundred lines
# costs a quarter of a MB, an "errors only" search through a chatty log a few MB.
VIEW_FIRST_READ = 256 * 1024
VIEW_MAX_READ = 4 * 1024 * 1024
# What one answer carries at most: the page shows it whole.
VIEW_MAX_BYTES = 2_000_000
# As the supervisor splits the engine's lines: a message of megabytes is not a line to read.
VIEW_MAX_LINE_CHARS = 16 * 1024

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}
# The filter's rank of lines whose writer has no levels (the shell, the supervisor, the engine's
# stdout): they are the app's decisions and state changes, shown from "info" up.
UNLEVELED_RANK = LEVELS["INFO"]

_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z")
_PY_LOG = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})")
# `<time> <source, padded> | <text>` of shell.log and engine.log.
_STAMPED = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (\S+) +\| ?(.*)$")
# A record of Python logging's `%(asctime)s %(levelname)s %(name)s: %(message)s`.
_PY_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) (.*)$")
# How Python itself reports a crash on stderr, outside logging: an uncaught exception (in the
# main thread or another) or a fatal error of the interpreter.
_CRASH = re.compile(r"^(Traceback \(most recent call last\):|Exception in thread |Fatal Python error: )")


def timestamp(line: str) -> float | None:
    """Seconds since the epoch of a line's leading time stamp: the supervisor's and the shell's
    UTC RFC 3339, or Python logging's local `YYYY-MM-DD HH:MM:SS,mmm`."""
    found = _RFC3339.match(line)
    try:
        if found is not None:
            return datetime.fromisoformat(found.group(1)).replace(tzinfo=UTC).timestamp()
        found = _PY_LOG.match(line)
        if found is not None:
            local = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S")
            return local.astimezone(UTC).timestamp() + int(found.group(2)) / 1000
    except ValueError:
        return None
    return None


def tail_lines(path: Path, budget: int) -> tuple[list[str], int, bool]:
    """The last whole lines of `path` within `budget` bytes, the bytes read, and whether the
    file had more."""
    try:
        with open(path, "rb") as file:
            size = file.seek(0, os.SEEK_END)
            start = max(0, size - budget)
            file.seek(start)
            data = file.read(budget)
    except OSError:
        return [], 0, False
    # Split at newlines only, as the writers end their lines: a form feed or a line separator
    # inside a message does not start a line. Python logging on Windows ends them with `\r\n`.
    lines = [line.removesuffix("\r") for line in data.decode("utf-8", "replace").split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    if start > 0 and lines:
        lines = lines[1:]  # cut in the middle
    return lines, len(data), start > 0


def log_files(logs: Path, name: str) -> list[Path]:
    """`name` and its rotated copies, newest first."""
    files = [logs / name] + [logs / f"{name}.{n}" for n in range(1, MAX_ROTATED + 1)]
    return [f for f in files if f.is_file()]


@dataclass
class Tail:
    files: list[tuple[Path, list[str]]]
    """Each file read and its lines, oldest file first."""
    complete: bool
    """Whether every line of every file was read."""


def read_tail(logs: Path, name: str, budget: int) -> Tail:
    """The newest lines of `name` and its rotated copies within `budget` bytes in all."""
    chosen: list[tuple[Path, list[str]]] = []
    complete = True
    for path in log_files(logs, name):
        if budget <= 0:
            complete = False
            break
        lines, read, cut = tail_lines(path, budget)
        chosen.append((path, lines))
        if cut:
            complete = False
        budget = 0 if cut else budget - read
    chosen.reverse()
    return Tail(chosen, complete)


# --- the viewer -------------------------------------------------------------------------------


@dataclass
class ViewLine:
    time: str | None
    source: str
    level: str | None
    text: str


@dataclass
class View:
    lines: list[ViewLine]
    truncated: bool
    files: list[str]


@dataclass
class _Record:
    """A line with a level, or of a writer without levels, and the lines that belong to it."""

    time: float
    order: int
    source: str
    level: str | None
    rank: int
    lines: list[tuple[str | None, str]]
    # A logging record's lines as written, to know engine.log's copy of a server.log record.
    key: list[str] | None = None
    # Whether the record is the engine's stderr in engine.log, which a crash report continues.
    stderr: bool = False


def _rfc3339(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _level(name: str) -> str:
    # The enum of the API has four levels; nothing of the engine logs CRITICAL, and if a library
    # does, it is an error to the reader.
    return "ERROR" if name == "CRITICAL" else name


class _Parser:
    """Groups one log's lines (oldest file first) into records."""

    def __init__(self, source: str, cut: bool, order: int) -> None:
        self.source = source
        self.records: list[_Record] = []
        self.current: _Record | None = None
        self.last_time = float("-inf")
        self.order = order
        # A window that starts inside the file may start inside a record: its lines before the
        # first record belong to one that was not read, whose level is unknown.
        self.orphans_dropped = cut

    def start(self, seconds: float | None, level: str | None, rank: int, **extra) -> _Record:
        if seconds is not None:
            self.last_time = seconds
        record = _Record(self.last_time, self.order, self.source, level, rank, [], **extra)
        self.order += 1
        self.records.append(record)
        self.current = record
        return record

    def continuation(self, time: str | None, text: str) -> None:
        if self.current is None:
            if self.orphans_dropped:
                return
            self.start(None, None, UNLEVELED_RANK)
        assert self.current is not None
        self.current.lines.append((time, text))
        if self.current.key is not None:
            self.current.key.append(text)

    def stamped(self, line: str) -> None:
        """A line of shell.log or engine.log."""
        found = _STAMPED.match(line)
        if found is None:
            self.continuation(None, line)
            return
        stamp, stream, text = found.groups()
        seconds = timestamp(stamp)
        if stream != "stderr":
            record = self.start(seconds, None, UNLEVELED_RANK)
            record.lines.append((stamp, text if stream == "shell" else f"{stream}: {text}"))
            return
        logged = _PY_RECORD.match(text)
        if logged is not None:
            level = _level(logged.group(1))
            record = self.start(seconds, level, LEVELS[level], key=[text], stderr=True)
            record.lines.append((stamp, logged.group(2)))
            return
        crash = _CRASH.match(text) is not None
        current = self.current
        if current is None and self.orphans_dropped and not crash:
            return  # the rest of a traceback whose record was not read
        if current is not None and current.stderr:
            # A logging record's traceback, unless Python reports a crash of its own after a
            # record that is no warning (log.exception and exc_info come with ERROR or WARNING).
            floor = LEVELS["WARNING"] if current.key is not None else LEVELS["ERROR"]
            if not crash or current.rank >= floor:
                self.continuation(stamp, text)
                return
        # The engine's stderr outside logging: an uncaught exception's traceback or a fatal
        # error, or what Python's warnings and the libraries print.
        level = "ERROR" if crash else "WARNING"
        record = self.start(seconds, level, LEVELS[level], stderr=True)
        record.lines.append((stamp, text))

    def python(self, line: str) -> None:
        """A line of server.log."""
        logged = _PY_RECORD.match(line)
        if logged is None:
            self.continuation(None, line)
            return
        seconds = timestamp(line)
        level = _level(logged.group(1))
        record = self.start(seconds, level, LEVELS[level], key=[line])
        record.lines.append((_rfc3339(seconds) if seconds is not None else None, logged.group(2)))


def _read_source(logs: Path, source: str, min_rank: int, limit: int, order: int) -> tuple[_Parser, Tail]:
    """One log (with its rotated copies) read from its tail into records: enough to hold `limit`
    lines of `min_rank` and up, or all of the log, or VIEW_MAX_READ bytes of it."""
    budget = VIEW_FIRST_READ
    while True:
        tail = read_tail(logs, SOURCES[source], budget)
        parser = _Parser(source, not tail.complete, order)
        for _path, lines in tail.files:
            for line in lines:
                if source == "server":
                    parser.python(line)
                else:
                    parser.stamped(line)
        shown = sum(len(r.lines) for r in parser.records if r.rank >= min_rank)
        if tail.complete or budget >= VIEW_MAX_READ or shown >= limit:
            return parser, tail
        budget = min(budget * 4, VIEW_MAX_READ)


def _without_copies(records: list[_Record]) -> list[_Record]:
    """`records` less engine.log's copies of the records server.log holds."""
    logged = Counter(tuple(r.key) for r in records if r.source == "server" and r.key is not None)
    kept = []
    for record in records:
        key = tuple(record.key) if record.source == "engine" and record.key is not None else None
        if key is not None and logged[key] > 0:
            logged[key] -= 1
            continue
        kept.append(record)
    return kept


def _clean(record: _Record, scrub: Callable[[str], str]) -> list[tuple[str | None, str]]:
    lines = []
    for time, text in record.lines:
        # Scrubbed before it is shortened, so no cut leaves the start of a secret behind.
        clean = scrub(text)
        if len(clean) > VIEW_MAX_LINE_CHARS:
            clean = clean[:VIEW_MAX_LINE_CHARS] + " …"
        lines.append((time, clean))
    return lines


def _bytes(line: tuple[str | None, str]) -> int:
    return len(line[1].encode("utf-8")) + 64  # the time, source and level around the text


def view(logs: Path, scrub: Callable[[str], str], *, level: str | None, limit: int, source: str) -> View:
    """The newest `limit` lines (within VIEW_MAX_BYTES) of the chosen logs at `level` and up,
    newest last, each text through `scrub`.

    A line without a level (a traceback's) is filtered with the record before it, and records
    are kept whole but for the oldest one kept when it alone is over a cap. With every source, a
    record the engine logged is listed once, from server.log, not again from engine.log's copy
    of the engine's stderr; engine.log keeps what only the stderr saw (a crash's traceback).
    """
    min_rank = LEVELS[level.upper()] if level else 0
    sources = list(SOURCES) if source == "all" else [source]
    records: list[_Record] = []
    files: list[str] = []
    complete = True
    order = 0
    for name in sources:
        parser, tail = _read_source(logs, name, min_rank, limit, order)
        order = parser.order
        records.extend(r for r in parser.records if r.rank >= min_rank)
        files.extend(path.name for path, _lines in tail.files)
        complete = complete and tail.complete
    if "engine" in sources and "server" in sources:
        records = _without_copies(records)
    records.sort(key=lambda r: (r.time, r.order))

    shown: list[ViewLine] = []
    size = 0
    truncated = not complete
    for record in reversed(records):
        lines = _clean(record, scrub)
        needed = sum(_bytes(line) for line in lines)
        if len(shown) + len(lines) > limit or size + needed > VIEW_MAX_BYTES:
            truncated = True
            if shown:
                break
            # The newest record alone is over a cap: its newest lines.
            while len(lines) > 1 and (len(lines) > limit or needed > VIEW_MAX_BYTES):
                needed -= _bytes(lines.pop(0))
        size += needed
        # The record's level goes with its first line shown: its head, or the first one kept.
        for index, (time, text) in reversed(list(enumerate(lines))):
            shown.append(ViewLine(time, record.source, record.level if index == 0 else None, text))
    shown.reverse()
    return View(shown, truncated, files)
