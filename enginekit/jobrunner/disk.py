"""A full disk, in whatever form a layer reports it, and the free-space check before a write.

ENOSPC and EDQUOT from the OS, SQLITE_FULL from SQLite, and the text of layers that raise
neither (a Rust I/O error's "No space left on device (os error 28)", Windows' "not enough space
on the disk") all mean the same thing to the user: the disk is full, free up space.
"""

from __future__ import annotations

import errno
import re
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

# ENOSPC everywhere; EDQUOT (a user quota) is the same situation for the user.
DISK_FULL_ERRNOS = frozenset(
    code for code in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if code is not None
)
_OS_ERROR_NUMBERS = "|".join(str(code) for code in sorted(DISK_FULL_ERRNOS))
_DISK_FULL_TEXT = re.compile(
    r"no space left on device|disk quota exceeded|database or disk is full"
    rf"|not enough space on the disk|os error (?:{_OS_ERROR_NUMBERS})\b",
    re.IGNORECASE,
)
# Room kept free beyond a file about to be written: the history database still has to record
# the job's logs and its final status after that file.
DISK_HEADROOM_BYTES = 1024 * 1024


def human_bytes(n: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def disk_full_sentence(
    data_root: Path | str | None,
    what: str,
    needed: int | None = None,
    free: int | None = None,
    next_step: str = "try again",
) -> str:
    """ "The disk is full: …; free up space on the drive holding …, then <next_step>."."""
    place = f"the drive holding {data_root}" if data_root else "the drive holding the data folder"
    if needed is not None and free is not None:
        happened = f"{what} needs {human_bytes(needed)} but the drive has only {human_bytes(free)} free"
    else:
        happened = f"there is no room left to save {what}"
    return f"The disk is full: {happened}; free up space on {place}, then {next_step}."


class DiskFull(Exception):
    """A write found (or would find) no room. `message` is the sentence for the user;
    `details` the byte counts known. An app's own disk-full error may subclass this (and call
    `__init__` with the message alone) to be recognised as one."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    @classmethod
    def for_write(
        cls,
        data_root: Path | str | None,
        what: str,
        needed: int | None = None,
        free: int | None = None,
        next_step: str = "try again",
    ) -> DiskFull:
        details = {k: v for k, v in (("needed_bytes", needed), ("free_bytes", free)) if v is not None}
        return cls(disk_full_sentence(data_root, what, needed, free, next_step), details or None)


def is_disk_full(exc: BaseException | None) -> bool:
    """True when `exc`, or the error it was raised from, means the disk (or quota) is full.

    An error that carries a sentence for the user (a `message` attribute) is judged by its
    class, not its words: the sentence may quote a disk-full message without being one."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, DiskFull):
            return True
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return True
        if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return True
        if (
            not isinstance(exc, OSError)
            and not isinstance(getattr(exc, "message", None), str)
            and _DISK_FULL_TEXT.search(str(exc))
        ):
            return True
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return False


def free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def ensure_free_space(
    folder: Path,
    needed: int,
    what: str,
    data_root: Path | None = None,
    next_step: str = "try again",
    error: Callable[..., DiskFull] | None = None,
) -> None:
    """Raises DiskFull unless `folder`'s drive has `needed` bytes plus the headroom free.

    `error` builds the exception from (data_root, what, needed, free, next_step): an app's own
    DiskFull subclass (an HTTP 507, say); the default is this module's."""
    free = free_bytes(folder)
    if free is not None and free < needed + DISK_HEADROOM_BYTES:
        make = error or DiskFull.for_write
        raise make(data_root or folder, what, needed + DISK_HEADROOM_BYTES, free, next_step)
