"""The diagnostics zip of `GET /api/v1/diagnostics`: what a person can send when asking for
help, with nothing private in it.

It holds the merged logs, the machine and runtime facts and the recent jobs' states. It never
holds the runtime token, launch codes, session cookies, dataset contents, dataset, file or job
names, tokenizer vocabularies, or the home folder's path: the JSON parts are built from chosen
fields only, and every text (each log line, each JSON string) goes through `Scrubber` before it
is written.
"""

from __future__ import annotations

import io
import json
import math
import os
import platform
import re
import shutil
import sys
import zipfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app import system
from app.db import Database
from app.logfiles import LOG_FILES, read_tail, timestamp
from app.paths import DataPaths
from app.settings import Settings

# The logs part keeps the newest lines within both caps, so the zip stays small enough to send.
LOG_MAX_BYTES = 5_000_000
LOG_MAX_LINES = 20_000
RECENT_JOBS = 50
# A name shorter than this is a common word or a letter; redacting it would garble the logs
# while hiding nothing that identifies a dataset.
MIN_NAME_LENGTH = 3
REDACTED = "<redacted>"
NAME = "<name>"

README = (
    "This zip was made by Tokenizer Studio's Export diagnostics to help someone find out what "
    "went wrong. It holds logs.txt (the app's and the engine's logs, merged in time order, the "
    "newest lines up to {max_mb} MB), system.json (the operating system, processor, memory, free "
    "disk space, Python and the compute device), runtime.json (the installed engine's version "
    "and variant) and jobs.json (the state, progress, timings, error message and numeric "
    "results of the last {jobs} training jobs). It never holds your datasets or their contents, "
    "the names of your datasets, files or jobs, trained tokenizers or their vocabularies, the "
    "app's access token, launch codes or session cookies, or your home folder's path (written "
    "as ~). Nothing was sent anywhere: the zip goes only where you send it.\n"
)

# The supervisor's token is 32 random bytes in hex; older lines hold older launches' tokens.
_SUPERVISOR_TOKEN_HEX = 64
_LAUNCH_FRAGMENT = re.compile(r"(#launch=)[^\s\"'<>&]*")
_SECRET_HEADER = re.compile(
    r"(?i)\b(authorization|proxy-authorization|cookie|set-cookie|x-tokenizer-studio-token)"
    r"(\"?\s*[:=]\s*\"?)[^\r\n\"']*"
)
_SESSION_COOKIE = re.compile(r"\b(tsession_\d*=)[^;\s\"']*")
_QUERY = re.compile(r"(?<=[\w/.\-%])\?[^\s\"'<>#]+")


class Scrubber:
    """Removes secrets, private names and the home folder from a text."""

    def __init__(self, token: str | None, names: Iterable[str], home: str | None) -> None:
        hex_lengths = {_SUPERVISOR_TOKEN_HEX}
        self.token = token or None
        if self.token and re.fullmatch(r"[0-9a-fA-F]+", self.token):
            hex_lengths.add(len(self.token))
        self.hex_runs = [
            re.compile(rf"(?<![0-9A-Za-z])[0-9a-fA-F]{{{n}}}(?![0-9A-Za-z])") for n in sorted(hex_lengths)
        ]
        # Longest first, so a file name goes before the stem it contains.
        usable = sorted({n for n in names if len(n) >= MIN_NAME_LENGTH}, key=len, reverse=True)
        self.names = (
            re.compile("|".join(rf"(?<![0-9A-Za-z]){re.escape(n)}(?![0-9A-Za-z])" for n in usable))
            if usable
            else None
        )
        homes: set[str] = set()
        if home and home.rstrip("/\\"):
            for form in (home, os.path.realpath(home), Path(home).as_posix()):
                homes.add(form.rstrip("/\\"))
        self.homes = [
            re.compile(rf"{re.escape(h)}(?![0-9A-Za-z_.\-])") for h in sorted(homes, key=len, reverse=True)
        ]

    def text(self, value: str) -> str:
        if self.token:
            value = value.replace(self.token, REDACTED)
        value = _LAUNCH_FRAGMENT.sub(rf"\1{REDACTED}", value)
        value = _SECRET_HEADER.sub(rf"\1\2{REDACTED}", value)
        value = _SESSION_COOKIE.sub(rf"\1{REDACTED}", value)
        value = _QUERY.sub(f"?{REDACTED}", value)
        for pattern in self.hex_runs:
            value = pattern.sub(REDACTED, value)
        if self.names is not None:
            value = self.names.sub(NAME, value)
        for pattern in self.homes:
            value = pattern.sub("~", value)
        return value

    def data(self, value: Any) -> Any:
        """Every string of a JSON value (keys too) scrubbed."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value


def private_names(db: Database) -> set[str]:
    """Every dataset and job name (and a file name's stem) the history knows."""
    names: set[str] = set()
    for row in db.query("SELECT name, stored_name FROM datasets"):
        for value in (row["name"], row["stored_name"]):
            if value:
                names.update({value, Path(value).stem})
    for row in db.query("SELECT name FROM jobs"):
        if row["name"]:
            names.add(row["name"])
    return {n.strip() for n in names if n.strip()}


# --- logs.txt ---------------------------------------------------------------------------------


@dataclass
class _Entry:
    time: float
    order: int
    lines: list[str]


def merged_logs(logs: Path, scrub: Scrubber) -> tuple[str, dict[str, int]]:
    """The logs as one text ordered by time, each line prefixed by its file, the newest lines
    within LOG_MAX_LINES and LOG_MAX_BYTES; and how many lines each file gave."""
    entries: list[_Entry] = []
    counts: dict[str, int] = {}
    order = 0
    for name in LOG_FILES:
        # Oldest file first, so an entry's order follows the file's own order.
        for path, lines in read_tail(logs, name, LOG_MAX_BYTES).files:
            counts[path.name] = len(lines)
            last_time = float("-inf")
            current: _Entry | None = None
            for line in lines:
                stamped = timestamp(line)
                text = f"{path.name:<12} | {line}"
                if stamped is None and current is not None:
                    current.lines.append(text)  # a traceback's lines stay with their record
                    continue
                last_time = stamped if stamped is not None else last_time
                current = _Entry(last_time, order, [text])
                order += 1
                entries.append(current)
    entries.sort(key=lambda e: (e.time, e.order))
    lines = [line for entry in entries for line in entry.lines]
    total = len(lines)
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        clean = scrub.text(line)
        size += len(clean.encode("utf-8")) + 1
        if len(kept) >= LOG_MAX_LINES or size > LOG_MAX_BYTES:
            break
        kept.append(clean)
    kept.reverse()
    header = []
    if len(kept) < total:
        header.append(f"[{total - len(kept):,} older lines left out; the newest {len(kept):,} follow]")
    if not lines:
        header.append("[no log files in the logs folder]")
    return "\n".join(header + kept) + "\n", counts


# --- system.json, runtime.json, jobs.json -----------------------------------------------------


def _ram_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        pass
    if sys.platform == "win32":
        import ctypes

        class _Status(ctypes.Structure):
            _fields_ = [
                ("length", ctypes.c_ulong),
                ("load", ctypes.c_ulong),
                ("total_phys", ctypes.c_ulonglong),
                ("avail_phys", ctypes.c_ulonglong),
                ("total_page", ctypes.c_ulonglong),
                ("avail_page", ctypes.c_ulonglong),
                ("total_virtual", ctypes.c_ulonglong),
                ("avail_virtual", ctypes.c_ulonglong),
                ("avail_extended", ctypes.c_ulonglong),
            ]

        status = _Status()
        status.length = ctypes.sizeof(_Status)
        if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):  # type: ignore[attr-defined]
            return int(status.total_phys)
    return None


def _device_check(device: str) -> dict[str, Any]:
    """The start-up device check, when it costs milliseconds: on the CPU of an engine without
    torch (numpy), or when torch is loaded already. Loading torch for a zip would take seconds."""
    from importlib.util import find_spec

    loaded = system._torch_loaded
    torch_present = find_spec("torch") is not None
    if (device == "cpu" and not torch_present) or (loaded is not None and loaded.module is not None):
        return {"ran": True, **asdict(system.check_device(device))}
    return {"ran": False, "reason": "torch is not loaded yet; loading it would take seconds"}


def system_info(settings: Settings, paths: DataPaths) -> dict[str, Any]:
    try:
        disk = shutil.disk_usage(paths.root)
        free, total = disk.free, disk.total
    except OSError:
        free = total = None
    loaded = system._torch_loaded
    torch: dict[str, Any] | None
    if loaded is not None and loaded.module is not None:
        facts = system.torch_facts()
        torch = asdict(facts) if facts is not None else None
    else:
        torch = {"loaded": False, "error": loaded.error if loaded is not None else None}
    from app import __version__

    return {
        "engine_version": __version__,
        "os": {
            "platform": platform.platform(),
            "system": platform.system(),
            "release": platform.release(),
            "machine": platform.machine(),
        },
        "cpu": {"name": system.cpu_name(), "logical_cores": os.cpu_count()},
        "ram_bytes": _ram_bytes(),
        "disk": {"data_dir": str(paths.root), "free_bytes": free, "total_bytes": total},
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
        },
        "runtime": asdict(system.runtime_facts(settings.runtime_root)),
        "torch": torch,
        "device": {"kind": settings.device, "check": _device_check(settings.device)},
        "max_upload_bytes": settings.max_upload_bytes,
        "machine": system.read_machine(paths.root / system.MACHINE_FILE),
    }


def runtime_info(root: Path | None) -> dict[str, Any]:
    """The manifest's summary: which runtime, not its list of files."""
    if root is None:
        return {"source": "development", "root": None}
    summary: dict[str, Any] = {"source": "runtime", "root": str(root)}
    try:
        manifest = json.loads((root / system.MANIFEST).read_bytes())
    except (OSError, ValueError) as exc:
        return {**summary, "error": f"{system.MANIFEST} unreadable: {system.one_line(exc)}"}
    if not isinstance(manifest, dict):
        return {**summary, "error": f"{system.MANIFEST} is not a JSON object"}
    files = manifest.get("files")
    files = files if isinstance(files, list) else []

    def total(key: str) -> int:
        return sum(f.get(key, 0) for f in files if isinstance(f, dict) and isinstance(f.get(key), int))

    python = manifest.get("python")
    return {
        **summary,
        "schema_version": manifest.get("schema_version"),
        "version": manifest.get("runtime_version"),
        "target": manifest.get("target"),
        "profile": manifest.get("profile"),
        "accelerator": manifest.get("accelerator"),
        "python": python.get("version") if isinstance(python, dict) else None,
        "files": len(files),
        "unpacked_bytes": total("size"),
        "packed_bytes": total("packed_size"),
    }


def _numbers(value: Any) -> dict[str, Any]:
    # Only numbers and flags: a config's strings (special tokens) and a metric's text are the
    # user's own words.
    if not isinstance(value, dict):
        return {}
    return {
        k: v
        for k, v in value.items()
        if isinstance(v, bool | int) or (isinstance(v, float) and math.isfinite(v))
    }


def recent_jobs(db: Database) -> list[dict[str, Any]]:
    rows = db.query(
        "SELECT id, template, dataset_ids, config, status, phase, progress, error, metrics, "
        "created_at, started_at, finished_at FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ?",
        (RECENT_JOBS,),
    )
    jobs = []
    for row in rows:
        config = json.loads(row["config"]) if row["config"] else {}
        model = config.get("model") if isinstance(config, dict) else None
        jobs.append(
            {
                "id": row["id"],
                "template": row["template"],
                "status": row["status"],
                "phase": row["phase"],
                "progress": row["progress"],
                "created_at": row["created_at"],
                "started_at": row["started_at"],
                "finished_at": row["finished_at"],
                "error": row["error"],
                "n_datasets": len(json.loads(row["dataset_ids"] or "[]")),
                "model": model if isinstance(model, str) else None,
                "config": _numbers(config),
                "metrics": _numbers(json.loads(row["metrics"])) if row["metrics"] else None,
            }
        )
    return jobs


# --- the zip ----------------------------------------------------------------------------------


def build_zip(settings: Settings, paths: DataPaths, db: Database, now: datetime | None = None) -> bytes:
    now = now or datetime.now(UTC)
    scrub = Scrubber(settings.token, private_names(db), str(Path.home()))
    logs, counts = merged_logs(paths.logs, scrub)
    info = system_info(settings, paths)
    info["log_files"] = counts
    info["exported_at"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    members = {
        "README.txt": README.format(max_mb=LOG_MAX_BYTES // 1_000_000, jobs=RECENT_JOBS),
        "logs.txt": logs,
        "system.json": _json(scrub.data(info)),
        "runtime.json": _json(scrub.data(runtime_info(settings.runtime_root))),
        "jobs.json": _json(scrub.data(recent_jobs(db))),
    }
    buffer = io.BytesIO()
    stamp = now.timetuple()[:6]
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, text in members.items():
            info_entry = zipfile.ZipInfo(name, date_time=stamp)
            info_entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info_entry, text.encode("utf-8"))
    return buffer.getvalue()


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def file_name(now: datetime) -> str:
    return f"tokenizer-studio-diagnostics-{now.strftime('%Y%m%dT%H%M%SZ')}.zip"
