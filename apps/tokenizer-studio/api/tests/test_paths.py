"""Data-root resolution per OS (pure function) and the folders/env the app sets up."""

import os
import tempfile
from pathlib import PurePosixPath, PureWindowsPath

import pytest

from app.paths import DataPaths, configure_process, resolve_data_root


@pytest.mark.parametrize(
    ("platform", "env", "home", "expected"),
    [
        ("darwin", {}, "/Users/ann", PurePosixPath("/Users/ann/Library/Application Support/TokenizerStudio")),
        (
            "win32",
            {"APPDATA": r"C:\Users\ann\AppData\Roaming"},
            r"C:\Users\ann",
            PureWindowsPath(r"C:\Users\ann\AppData\Roaming\TokenizerStudio"),
        ),
        ("win32", {}, r"C:\Users\ann", PureWindowsPath(r"C:\Users\ann\AppData\Roaming\TokenizerStudio")),
        ("linux", {}, "/home/ann", PurePosixPath("/home/ann/.local/share/TokenizerStudio")),
        ("linux", {"XDG_DATA_HOME": "/data/xdg"}, "/home/ann", PurePosixPath("/data/xdg/TokenizerStudio")),
        # A relative XDG_DATA_HOME is invalid per the spec and ignored.
        (
            "linux",
            {"XDG_DATA_HOME": "rel/xdg"},
            "/home/ann",
            PurePosixPath("/home/ann/.local/share/TokenizerStudio"),
        ),
        (
            "linux",
            {"TOKENIZER_STUDIO_DATA_DIR": "/srv/ts", "XDG_DATA_HOME": "/x"},
            "/home/ann",
            PurePosixPath("/srv/ts"),
        ),
        ("darwin", {"TOKENIZER_STUDIO_DATA_DIR": "/tmp/ts"}, "/Users/ann", PurePosixPath("/tmp/ts")),
        (
            "win32",
            {"TOKENIZER_STUDIO_DATA_DIR": r"D:\ts", "APPDATA": r"C:\x"},
            r"C:\Users\ann",
            PureWindowsPath(r"D:\ts"),
        ),
    ],
)
def test_resolve_data_root(platform, env, home, expected):
    result = resolve_data_root(platform, env, home)
    assert result == expected
    assert type(result) is type(expected)


def test_prepare_creates_layout_and_configures_env(tmp_path):
    paths = DataPaths(tmp_path / "root")
    paths.prepare()
    for rel in ("db", "uploads", "artifacts/tokenizers", "logs", "cache/huggingface", "tmp"):
        assert (tmp_path / "root" / rel).is_dir(), rel
    env: dict[str, str] = {}
    configure_process(paths, env)
    assert env["HF_HOME"] == str(tmp_path / "root" / "cache" / "huggingface")
    assert env["HF_DATASETS_CACHE"].startswith(env["HF_HOME"])
    assert env["HUGGINGFACE_HUB_CACHE"].startswith(env["HF_HOME"])
    assert env["HF_HUB_OFFLINE"] == "1"
    assert tempfile.gettempdir() == str(tmp_path / "root" / "tmp")
    assert paths.db_file == tmp_path / "root" / "db" / "tokenizer_studio.db"
    assert os.environ.get("HF_HOME") != env["HF_HOME"]  # only the given mapping was touched
    if os.name == "posix":
        assert (tmp_path / "root").stat().st_mode & 0o077 == 0
