"""Clearing the caches: everything in `<data>/cache`, and the stale files in `<data>/tmp`.

Both hold only what can be made again: Hugging Face's caches (the engine points HF_HOME there)
and temp files (the engine points TMPDIR there). Nothing else in the data folder is touched.

The walk never follows a link: a symlink (or a Windows junction) is removed itself and its
target stays, wherever it is; a folder on another file system (a mount point) is left whole.
The two top folders themselves stay, so HF_HOME and TMPDIR keep pointing at folders that exist.

A temp file younger than an hour is kept: it may be a download, an export or a library's
scratch file being written right now. The route refuses while a job is active, so a training
never loses a file under it.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from app.paths import PRIVATE_DIR_MODE, DataPaths, make_private_dir

log = logging.getLogger("tokenizer_studio")

# A temp file modified within this long may still be in use.
TMP_MIN_AGE_S = 3600.0

# Two clears at once would race over the same files and count them twice.
_lock = threading.Lock()


@dataclass
class Cleared:
    freed_bytes: int = 0
    removed_files: int = 0
    skipped: list[str] = field(default_factory=list)


@dataclass
class _Walk:
    """One folder's clearing: what it removed and what it left, summed up at the end."""

    protected: set[tuple[int, int]]
    min_age_s: float | None
    now: float
    freed_bytes: int = 0
    removed_files: int = 0
    young_files: int = 0
    young_folders: int = 0
    other_drive: list[str] = field(default_factory=list)
    in_use: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    # Why the folder itself was left alone, when it was.
    left_alone: str | None = None


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _is_link(entry: os.DirEntry) -> bool:
    # A junction is a link too: rmtree-style descent into it would empty its target.
    return entry.is_symlink() or entry.is_junction()


def _remove_link(path: str) -> None:
    try:
        os.unlink(path)
    except (IsADirectoryError, PermissionError):
        # Windows removes a directory symlink or junction with rmdir, which removes the link
        # only, never what it points at.
        if sys.platform != "win32":
            raise
        os.rmdir(path)


def _is_young(found: os.stat_result, walk: _Walk) -> bool:
    return walk.min_age_s is not None and walk.now - found.st_mtime < walk.min_age_s


def _clear_folder(folder: str, device: int, walk: _Walk) -> bool:
    """Removes what `folder` holds; True when it is left empty."""
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return True
    except OSError as exc:
        walk.failed.append(f"{folder} ({exc.strerror or exc})")
        return False
    empty = True
    for entry in entries:
        try:
            if _is_link(entry):
                _remove_link(entry.path)
                walk.removed_files += 1
                continue
            found = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(found.st_mode):
                if (found.st_dev, found.st_ino) in walk.protected:
                    walk.in_use.append(entry.path)
                    empty = False
                elif found.st_dev != device:
                    walk.other_drive.append(entry.path)
                    empty = False
                elif _is_young(found, walk):
                    # A fresh temp folder is kept whole: what is unpacked or copied into it may
                    # carry old times while it is still being used.
                    walk.young_folders += 1
                    empty = False
                elif _clear_folder(entry.path, device, walk):
                    os.rmdir(entry.path)
                else:
                    empty = False
                continue
            if _is_young(found, walk):
                walk.young_files += 1
                empty = False
                continue
            os.unlink(entry.path)
            walk.removed_files += 1
            # The space comes back only with a file's last link; blocks where the OS reports
            # them, as the storage figures count them.
            if found.st_nlink <= 1:
                blocks = getattr(found, "st_blocks", None)
                walk.freed_bytes += blocks * 512 if blocks is not None else found.st_size
        except FileNotFoundError:
            continue  # gone already: whoever wrote it removed it
        except OSError as exc:
            walk.failed.append(f"{entry.path} ({exc.strerror or exc})")
            empty = False
    return empty


def _clear(top: Path, what: str, protected: set[tuple[int, int]], min_age_s: float | None) -> _Walk:
    walk = _Walk(protected, min_age_s, time.time())
    try:
        found = os.lstat(top)
    except FileNotFoundError:
        return walk
    except OSError as exc:
        walk.failed.append(f"{top} ({exc.strerror or exc})")
        return walk
    if not stat.S_ISDIR(found.st_mode) or os.path.isjunction(top):
        # A link put in the folder's place (the user moved it elsewhere): not ours to empty.
        walk.left_alone = f"The {what} folder {top} is a link or not a folder; it was left as it is."
        return walk
    _clear_folder(str(top), found.st_dev, walk)
    return walk


def _sentences(walk: _Walk, what: str, top: Path) -> list[str]:
    said = []
    if walk.left_alone:
        said.append(walk.left_alone)
    if walk.young_files or walk.young_folders:
        counted = [
            f"{n} {what} {noun if n == 1 else noun + 's'}"
            for n, noun in ((walk.young_files, "file"), (walk.young_folders, "folder"))
            if n
        ]
        said.append(
            f"Kept {' and '.join(counted)} younger than an hour in {top}: they may belong to an "
            "upload, an export or a download in progress."
        )
    for path in walk.in_use:
        said.append(f"Kept {path}: it holds the app's own files.")
    for path in walk.other_drive:
        said.append(f"Kept {path}: it is another drive mounted inside the {what} folder.")
    if walk.failed:
        more = f" and {len(walk.failed) - 1} more" if len(walk.failed) > 1 else ""
        said.append(f"Could not remove {walk.failed[0]}{more}; close the program using it and try again.")
    return said


def clear(paths: DataPaths, keep: list[Path]) -> Cleared:
    """Empties `<data>/cache` and removes temp files older than an hour from `<data>/tmp`.

    `keep`: folders never removed even if found inside those two (the running engine's own
    runtime, in a setup that put it there); the other parts of the data folder lie outside them.
    """
    protected = {
        found
        for folder in (
            paths.uploads,
            paths.artifacts,
            paths.db_dir,
            paths.logs,
            paths.root / "runtime",
            *keep,
        )
        if (found := _identity(folder)) is not None
    }
    result = Cleared()
    with _lock:
        for top, what, min_age_s in (
            (paths.root / "cache", "cache", None),
            (paths.tmp, "temporary", TMP_MIN_AGE_S),
        ):
            walk = _clear(top, what, protected, min_age_s)
            result.freed_bytes += walk.freed_bytes
            result.removed_files += walk.removed_files
            result.skipped.extend(_sentences(walk, what, top))
            log.info(
                "cleared %s: %d file(s) removed, %d bytes freed; kept %d young file(s) and %d young "
                "folder(s); %d failed",
                top,
                walk.removed_files,
                walk.freed_bytes,
                walk.young_files,
                walk.young_folders,
                len(walk.failed),
            )
            for failure in walk.failed:
                log.warning("could not clear %s", failure)
        # HF_HOME must keep naming a folder that exists (TMPDIR's is never removed).
        if not paths.hf_cache.parent.is_symlink() and paths.hf_cache.parent.is_dir():
            try:
                paths.hf_cache.mkdir(exist_ok=True, mode=PRIVATE_DIR_MODE)
                make_private_dir(paths.hf_cache)
            except OSError as exc:
                log.warning("could not make %s again: %s", paths.hf_cache, exc)
    return result
