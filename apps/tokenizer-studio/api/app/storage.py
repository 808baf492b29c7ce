"""Where the user's data lives and how much of the disk each part takes.

One walk per folder, symlinks neither followed nor counted, each inode counted once: the runtimes folder
shares unchanged files between its engines by hard links, and a plain sum would count them once
per engine. A part that vanishes mid-walk (a job finishing, an update settling) counts what was
there.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from app.paths import DataPaths


@dataclass(frozen=True)
class Part:
    id: str
    label: str
    path: Path


@dataclass(frozen=True)
class Usage:
    id: str
    label: str
    path: str
    bytes: int
    files: int


def parts(paths: DataPaths) -> list[Part]:
    """What the data folder holds, in the order a user thinks of it."""
    return [
        Part("uploads", "Uploaded datasets", paths.uploads),
        Part("tokenizers", "Trained tokenizers", paths.artifacts),
        Part("database", "Job history and settings", paths.db_dir),
        Part("logs", "Logs", paths.logs),
        Part("cache", "Caches", paths.root / "cache"),
        Part("engines", "Engines (the app's Python runtimes)", paths.root / "runtime"),
    ]


def usage(part: Part) -> Usage:
    seen: set[tuple[int, int]] = set()
    total = files = 0
    stack = [part.path]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_symlink():
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                    continue
                stat = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            key = (stat.st_dev, stat.st_ino)
            if key in seen:
                continue
            seen.add(key)
            files += 1
            # Blocks, where the OS reports them: what the file takes on disk, not its length.
            blocks = getattr(stat, "st_blocks", None)
            total += blocks * 512 if blocks is not None else stat.st_size
    return Usage(part.id, part.label, str(part.path), total, files)


def disk(paths: DataPaths) -> tuple[int, int]:
    """Free and total bytes of the disk holding the data folder."""
    found = shutil.disk_usage(paths.root)
    return found.free, found.total
