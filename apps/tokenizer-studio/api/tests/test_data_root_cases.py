"""The data-root rule on the table the shell's Rust side runs too (runtime-spec/tests/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.paths import resolve_data_root

CASES_FILE = Path(__file__).resolve().parents[4] / "runtime-spec" / "tests" / "data-root-cases.json"
PLATFORMS = {"linux": "linux", "macos": "darwin", "windows": "win32"}
CASES = json.loads(CASES_FILE.read_text(encoding="utf-8"))["cases"]


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_data_root_case(case):
    platform = PLATFORMS[case["platform"]]
    if case["expected"] is None:
        with pytest.raises(ValueError, match="TOKENIZER_STUDIO_DATA_DIR"):
            resolve_data_root(platform, case["env"], case["home"])
        return
    root = resolve_data_root(platform, case["env"], case["home"])
    assert str(root).replace("\\", "/") == case["expected"]


def test_the_table_covers_every_platform_and_the_whitespace_rule():
    assert {case["platform"] for case in CASES} == set(PLATFORMS)
    assert any(case["env"].get("TOKENIZER_STUDIO_DATA_DIR", "x").strip() == "" for case in CASES)
