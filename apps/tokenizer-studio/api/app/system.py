"""What the engine runs on: the runtime variant, Python, torch, the compute device, the machine.

Imported at start-up, so it imports nothing heavy at module level: torch takes seconds to load
and numpy a noticeable part of the start-up budget. Both are loaded on first use (the device
check of a GPU engine at start, `GET /api/v1/system`, the compute check), never for `/health`.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEVICES = ("cpu", "cuda", "mps")
PROFILES = ("base", "torch")
MANIFEST = "manifest.json"
MACHINE_FILE = "machine.json"
# The shell's probe is a few hundred bytes; anything near this is not one.
MACHINE_MAX_BYTES = 64 * 1024
# A manifest is written as pretty JSON (two-space indent), so a top-level key starts its line
# after exactly two spaces; nested keys are indented further and file paths are values.
_TOP_LEVEL_ACCELERATOR = re.compile(rb'^  "accelerator": "([^"\\]*)"', re.MULTILINE)
_HOST_TARGETS = {
    ("linux", "x86_64"): "linux-x64",
    ("darwin", "arm64"): "macos-arm64",
    ("win32", "amd64"): "windows-x64",
}
_GPU_NAMES = {"cuda": "NVIDIA GPU", "mps": "Apple GPU"}
_GPU_ADVICE = {"cuda": "update the NVIDIA driver", "mps": "update macOS"}
# Sizes of the start-up and per-request device checks: enough to run a real kernel, too small
# to take measurable time once the library is loaded.
CHECK_SIZE = 64
BENCH_MIN_SIZE = 256
BENCH_MAX_SIZE = 4096
# One multiplication of the chosen size takes at least this long (or the size is the maximum).
BENCH_CALIBRATE_S = 0.05
BENCH_TARGET_S = 0.5
BENCH_BUDGET_S = 3.0
BENCH_MAX_REPEATS = 20


class ManifestError(Exception):
    """The runtime's manifest names a variant this engine cannot run; the message says so."""


# --- the runtime ------------------------------------------------------------------------------


def runtime_root(prefix: Path | None = None) -> Path | None:
    """The runtime root when this interpreter is a runtime's (`<root>/python` beside
    `<root>/manifest.json`), else None: a development venv or checkout."""
    prefix = Path(sys.prefix if prefix is None else prefix)
    if prefix.name != "python":
        return None
    root = prefix.parent
    return root if (root / MANIFEST).is_file() else None


def manifest_accelerator(root: Path | None) -> str:
    """The accelerator the runtime at `root` was built for; `cpu` without a runtime or for a
    manifest older than the key. Raises ManifestError for a value no engine knows.

    Read at every start, so the common case does not parse the whole file (its list of every
    file is megabytes): the key is found by its line, and the whole JSON is parsed only when
    the key is written some other way."""
    if root is None:
        return "cpu"
    try:
        data = (root / MANIFEST).read_bytes()
    except OSError as exc:
        raise ManifestError(
            f"The runtime's {MANIFEST} cannot be read ({exc}); reinstall Tokenizer Studio."
        ) from None
    found = _TOP_LEVEL_ACCELERATOR.search(data)
    if found is not None:
        value: Any = found.group(1).decode("utf-8", "replace")
    elif b'"accelerator"' in data:
        value = _parse_manifest(root, data).get("accelerator", "cpu")
    else:
        value = "cpu"
    if value not in DEVICES:
        raise ManifestError(
            f"The runtime's {MANIFEST} names the accelerator {value!r}, which this engine cannot "
            "use; reinstall Tokenizer Studio."
        )
    return value


def _parse_manifest(root: Path, data: bytes | None = None) -> dict[str, Any]:
    try:
        parsed = json.loads((root / MANIFEST).read_bytes() if data is None else data)
    except (OSError, ValueError) as exc:
        raise ManifestError(
            f"The runtime's {MANIFEST} is unreadable ({exc}); reinstall Tokenizer Studio."
        ) from None
    if not isinstance(parsed, dict):
        raise ManifestError(f"The runtime's {MANIFEST} is not a JSON object; reinstall Tokenizer Studio.")
    return parsed


@dataclass(frozen=True)
class RuntimeFacts:
    version: str
    target: str | None
    profile: str
    accelerator: str
    source: str


def host_target() -> str | None:
    import platform

    return _HOST_TARGETS.get((sys.platform, platform.machine().lower()))


_runtime_cache: dict[Path | None, RuntimeFacts] = {}


def runtime_facts(root: Path | None) -> RuntimeFacts:
    """The runtime's version and variant from its manifest (read once per root); without a
    runtime, the checkout's own version and whether torch is installed beside it."""
    cached = _runtime_cache.get(root)
    if cached is not None:
        return cached
    if root is None:
        from importlib.util import find_spec

        from app import __version__

        facts = RuntimeFacts(
            version=__version__,
            target=host_target(),
            profile="torch" if find_spec("torch") is not None else "base",
            accelerator="cpu",
            source="development",
        )
    else:
        try:
            manifest = _parse_manifest(root)
        except ManifestError:
            # Read fine at start (the accelerator came from it); an answer beats a 500.
            return RuntimeFacts("unknown", None, "base", "cpu", "runtime")
        profile = manifest.get("profile", "base")
        accelerator = manifest.get("accelerator", "cpu")
        facts = RuntimeFacts(
            version=str(manifest.get("runtime_version", "unknown")),
            target=str(manifest["target"]) if manifest.get("target") else None,
            profile=profile if profile in PROFILES else "base",
            accelerator=accelerator if accelerator in DEVICES else "cpu",
            source="runtime",
        )
    _runtime_cache[root] = facts
    return facts


def choose_device(requested: str | None, accelerator: str) -> str:
    """The device the engine computes on: the explicit choice, else the runtime's accelerator."""
    return requested or accelerator or "cpu"


# --- torch, loaded once on first use -----------------------------------------------------------


@dataclass(frozen=True)
class TorchLoad:
    module: Any | None
    error: str | None  # why an installed torch could not be imported


_torch_lock = threading.Lock()
_torch_loaded: TorchLoad | None = None


def one_line(text: object, limit: int = 300) -> str:
    """An exception or warning text as one short line, for a sentence shown to a person."""
    flat = " ".join(str(text).split()).rstrip(".")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def load_torch() -> TorchLoad:
    """torch, imported at most once per process; `module` None when it is not installed
    (the base profile) or failed to import (then `error` says why)."""
    global _torch_loaded
    with _torch_lock:
        if _torch_loaded is None:
            from importlib.util import find_spec

            if find_spec("torch") is None:
                _torch_loaded = TorchLoad(None, None)
            else:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        import torch
                    _torch_loaded = TorchLoad(torch, None)
                except Exception as exc:  # a broken install raises anything from OSError up
                    _torch_loaded = TorchLoad(None, one_line(f"{type(exc).__name__}: {exc}"))
        return _torch_loaded


@dataclass(frozen=True)
class TorchFacts:
    version: str
    cuda: str | None
    mps_built: bool


def torch_facts() -> TorchFacts | None:
    torch = load_torch().module
    if torch is None:
        return None
    version_info = getattr(torch, "version", None)
    cuda = getattr(version_info, "cuda", None)
    try:
        mps_built = bool(torch.backends.mps.is_built())
    except Exception:
        mps_built = False
    return TorchFacts(version=str(torch.__version__), cuda=str(cuda) if cuda else None, mps_built=mps_built)


# --- the device -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceCheck:
    ok: bool
    message: str | None
    seconds: float


class DeviceUnusable(Exception):
    """The device cannot run a computation; the message is the reason, in one line."""


def _torch_device(torch: Any, device: str) -> None:
    """Raises DeviceUnusable when torch says the device is not there, with torch's own reason
    (the warning `torch.cuda.is_available()` gives for a driver that is too old) when it has one."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if device == "cuda":
            available = torch.cuda.is_available()
        elif device == "mps":
            available = torch.backends.mps.is_available()
        else:
            available = True
    if not available:
        if caught:
            raise DeviceUnusable(one_line(caught[0].message))
        if device == "cuda":
            raise DeviceUnusable("no CUDA device is visible to torch")
        raise DeviceUnusable("MPS is not available to torch on this Mac")


def _synchronize(torch: Any, device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()
    elif device == "mps":
        torch.mps.synchronize()


def _torch_matmul(torch: Any, device: str, size: int) -> Callable[[], None]:
    """Prepares two matrices on the device; the returned call multiplies them and waits."""
    a = torch.ones((size, size), device=device, dtype=torch.float32)
    b = torch.ones((size, size), device=device, dtype=torch.float32)

    def run() -> None:
        c = a @ b
        _synchronize(torch, device)
        del c

    return run


def _numpy_matmul(size: int) -> Callable[[], None]:
    import numpy

    a = numpy.ones((size, size), dtype=numpy.float32)
    b = numpy.ones((size, size), dtype=numpy.float32)

    def run() -> None:
        numpy.matmul(a, b)

    return run


def _prepare(device: str, size: int) -> Callable[[], None]:
    """A matmul of `size` on `device`: torch when present, else numpy (CPU only)."""
    loaded = load_torch()
    if loaded.module is not None:
        _torch_device(loaded.module, device)
        return _torch_matmul(loaded.module, device, size)
    if device != "cpu":
        if loaded.error is not None:
            raise DeviceUnusable(f"torch could not be loaded: {loaded.error}")
        raise DeviceUnusable("torch is not included in this engine")
    return _numpy_matmul(size)


def _verify(device: str, size: int) -> None:
    """One small multiplication whose result is known, read back to the host."""
    loaded = load_torch()
    if loaded.module is not None:
        torch = loaded.module
        _torch_device(torch, device)
        a = torch.ones((size, size), device=device, dtype=torch.float32)
        total = (a @ a).sum()
        _synchronize(torch, device)
        value = float(total.item())
    else:
        if device != "cpu":
            _prepare(device, size)  # raises with the reason
        import numpy

        a = numpy.ones((size, size), dtype=numpy.float32)
        value = float(numpy.matmul(a, a).sum())
    expected = float(size**3)
    if value != expected:
        raise DeviceUnusable(f"a test multiplication gave {value:g} instead of {expected:g}")


def _reason(exc: BaseException) -> str:
    # torch's messages name the library already ("CUDA error: ..."); a bare type says little.
    text = one_line(exc)
    return text if text else type(exc).__name__


def check_device(device: str) -> DeviceCheck:
    """Whether a small matrix multiplication on `device` succeeds and gives the right answer."""
    started = time.perf_counter()
    try:
        _verify(device, CHECK_SIZE)
    except DeviceUnusable as exc:
        return DeviceCheck(False, str(exc), time.perf_counter() - started)
    except Exception as exc:  # CUDA and MPS errors have no common base class
        return DeviceCheck(False, _reason(exc), time.perf_counter() - started)
    return DeviceCheck(True, None, time.perf_counter() - started)


def startup_problem(device: str) -> str | None:
    """For a GPU device: None when it works, else the one sentence to print before exiting.

    The CPU needs no proof (numpy or torch run on any CPU the runtime's target does), and
    loading a library for it would cost the base engine's start time."""
    if device not in _GPU_NAMES:
        return None
    loaded = load_torch()
    if loaded.module is None:
        reason = (
            f"torch could not be loaded: {loaded.error}"
            if loaded.error
            else "torch is not included in this engine"
        )
        return (
            f"The GPU engine could not load torch ({reason}): reinstall Tokenizer Studio, or "
            "switch to the CPU engine in Settings."
        )
    check = check_device(device)
    if check.ok:
        return None
    label = "CUDA" if device == "cuda" else "MPS"
    reason = check.message or "unknown error"
    if not reason.startswith(label):
        reason = f"{label} error: {reason}"
    return (
        f"The GPU engine could not use the {_GPU_NAMES[device]} ({reason}): "
        f"{_GPU_ADVICE[device]}, or switch to the CPU engine in Settings."
    )


def cpu_name() -> str:
    """The processor's marketing name where the OS tells it, else the architecture."""
    import platform

    if sys.platform.startswith("linux"):
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
                for line in info:
                    key, _, value = line.partition(":")
                    if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                        return value.strip()
        except OSError:
            pass
    elif sys.platform == "darwin":
        import subprocess

        try:
            done = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True,
                text=True,
                timeout=2,
                check=False,
            )
            if done.returncode == 0 and done.stdout.strip():
                return done.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine() or "CPU"


def device_name(device: str) -> str:
    if device == "cuda":
        torch = load_torch().module
        if torch is not None:
            try:
                if torch.cuda.is_available():
                    return str(torch.cuda.get_device_name(0))
            except Exception:
                pass
        return _GPU_NAMES["cuda"]
    if device == "mps":
        return "Apple GPU (MPS)"
    return cpu_name()


# --- the shell's machine probe ----------------------------------------------------------------


def read_machine(path: Path) -> dict[str, Any] | None:
    """The shell's probe file as a JSON object; None when it is missing, larger than
    MACHINE_MAX_BYTES, unreadable, not JSON, not an object, or holds NaN/Infinity (which a
    JSON answer cannot carry)."""
    try:
        with open(path, "rb") as file:
            data = file.read(MACHINE_MAX_BYTES + 1)
    except OSError:
        return None
    if len(data) > MACHINE_MAX_BYTES:
        return None

    def refuse_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        parsed = json.loads(data, parse_constant=refuse_constant)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


# --- the compute check ------------------------------------------------------------------------


@dataclass(frozen=True)
class ComputeResult:
    device: str
    size: int
    seconds: float
    gflops: float | None
    ok: bool
    message: str | None


_bench_lock = threading.Lock()


def compute_check(device: str, budget_s: float = BENCH_BUDGET_S) -> ComputeResult:
    """Multiplies two float32 matrices a few times on `device` and reports the speed.

    The size doubles from BENCH_MIN_SIZE until one multiplication takes BENCH_CALIBRATE_S
    (a slow CPU stops early, a GPU goes to BENCH_MAX_SIZE), then it repeats for about
    BENCH_TARGET_S; everything stops at `budget_s`. One check at a time: two at once would
    only measure each other. Never raises: a failure is `ok=False` with a sentence."""
    with _bench_lock:
        started = time.perf_counter()
        size = 0
        try:
            size = BENCH_MIN_SIZE
            run = _prepare(device, size)
            while True:
                t0 = time.perf_counter()
                run()
                one = time.perf_counter() - t0
                if (
                    one >= BENCH_CALIBRATE_S
                    or size >= BENCH_MAX_SIZE
                    or time.perf_counter() - started + one * 8 > budget_s / 2
                ):
                    break
                size *= 2
                run = _prepare(device, size)
            repeats = max(1, min(BENCH_MAX_REPEATS, int(BENCH_TARGET_S / max(one, 1e-6))))
            done = 0
            t0 = time.perf_counter()
            while done < repeats:
                run()
                done += 1
                if time.perf_counter() - started > budget_s:
                    break
            seconds = max(time.perf_counter() - t0, 1e-9)
        except DeviceUnusable as exc:
            return _failed(device, size, started, str(exc))
        except MemoryError:
            return _failed(device, size, started, f"not enough memory for {size}×{size} matrices")
        except Exception as exc:  # CUDA, MPS and BLAS errors have no common base class
            return _failed(device, size, started, _reason(exc))
        gflops = 2 * size**3 * done / seconds / 1e9
        return ComputeResult(device, size, round(seconds, 4), round(gflops, 2), True, None)


def _failed(device: str, size: int, started: float, reason: str) -> ComputeResult:
    where = {"cpu": "the CPU", "cuda": "the NVIDIA GPU", "mps": "the Apple GPU"}[device]
    return ComputeResult(
        device,
        size,
        round(time.perf_counter() - started, 4),
        None,
        False,
        f"The compute check could not run on {where} ({reason}).",
    )
