"""The engine as a process, as the tests start it: with the shared packages found through
PYTHONPATH, as a fixture's processes killed after the test, and from a runtime layout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from enginetest import ENGINEKIT_DIR


def share_enginekit_with_children() -> Path:
    """Puts the enginekit folder first on PYTHONPATH for every child process the tests start, and
    returns it.

    pytest finds the shared packages through its own import path (the app's pyproject.toml); an
    engine process a test starts (`python -m <engine>` from the app's api folder) has only
    PYTHONPATH, where the runtime has them in app/ beside the engine."""
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ENGINEKIT_DIR), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    )
    return ENGINEKIT_DIR


def started(process: Callable[..., Any], tmp_path: Path, log_stem: str) -> Iterator[Callable[..., Any]]:
    """For a fixture to `yield from`: a function that starts `process(data_dir, log, **kwargs)`,
    all of them on the test's data folder, each with its own log, and kills each after the test."""
    processes: list = []

    def start(**kwargs):
        one = process(tmp_path / "data", tmp_path / f"{log_stem}-{len(processes)}.log", **kwargs)
        processes.append(one)
        return one

    yield start
    for one in processes:
        one.kill()


def copy_packages(app_dir: Path, own: Iterable[Path], shared: Iterable[str]) -> None:
    """Lays out a runtime's `app/` folder as the toolchain ships it: the engine's own package
    folders and the enginekit packages it names, copied as-is."""
    sources = [*own, *(ENGINEKIT_DIR / name for name in shared)]
    for source in sources:
        shutil.copytree(source, app_dir / source.name, ignore=shutil.ignore_patterns("__pycache__"))


@contextmanager
def runtime_engine(runtime: Path, module: str, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """`python -I` running `module` from `runtime` with `runtime/app` on the path, on a free port;
    killed on the way out if it has not exited."""
    # Stands in for the relative .pth file the runtime's site-packages carries.
    launcher = (
        "import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); "
        f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-I", "-c", launcher, str(runtime / "app"), "--port", "0"],
        cwd=runtime,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
