"""`pip install ./apps/tokenizer-studio/api` builds a wheel holding every package.

The declared list is checked against the folders in test_hardening.py; this builds the wheel
for real, offline, where setuptools is installed (the lockfile venv has none).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

API_DIR = Path(__file__).resolve().parent.parent


def _package_folders() -> set[str]:
    found = set()
    for init in API_DIR.rglob("__init__.py"):
        rel = init.parent.relative_to(API_DIR)
        if rel.parts and rel.parts[0] not in ("tests", "build") and not rel.parts[0].endswith(".egg-info"):
            found.add(".".join(rel.parts))
    return found


@pytest.mark.skipif(importlib.util.find_spec("setuptools") is None, reason="setuptools not installed")
def test_wheel_builds_offline_with_every_package(tmp_path):
    # A copy: building writes build/ and *.egg-info next to pyproject.toml.
    source = tmp_path / "api"
    shutil.copytree(API_DIR, source, ignore=shutil.ignore_patterns("__pycache__", "tests", "build"))
    out = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(out),
            str(source),
        ],
        check=True,
        timeout=120,
        cwd=tmp_path,
    )
    (wheel,) = out.glob("tokenizer_studio_api-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for package in _package_folders():
        assert package.replace(".", "/") + "/__init__.py" in names, package
    assert not [n for n in names if n.startswith("tests/")]
