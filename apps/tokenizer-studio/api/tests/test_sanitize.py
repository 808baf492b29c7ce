"""Upload file-name sanitising and extension detection."""

import pytest

from app.uploads import extension_of, sanitize_filename


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("corpus.txt", "corpus.txt"),
        ("../../x", "x"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("C:\\Users\\ann\\data.csv", "data.csv"),
        ("a\x00b.txt", "ab.txt"),
        ("new\nline\t.jsonl", "newline.jsonl"),
        ("\u202eevil.txt", "evil.txt"),  # right-to-left override would disguise the extension
        ("..hidden.txt", "hidden.txt"),
        ("  spaced.txt  ", "spaced.txt"),
        ("..", ""),
        ("/", ""),
        ("Cafe\u0301.txt", "Caf\u00e9.txt"),
    ],
)
def test_sanitize_filename(raw, clean):
    assert sanitize_filename(raw) == clean


def test_long_names_keep_their_extension():
    name = sanitize_filename("a" * 500 + ".parquet")
    assert len(name) == 200 and name.endswith(".parquet")


@pytest.mark.parametrize(
    ("name", "ext"),
    [
        ("a.txt", "txt"),
        ("A.TXT", "txt"),
        ("b.jsonl", "jsonl"),
        ("c.csv", "csv"),
        ("d.parquet", "parquet"),
        ("e.exe", None),
        ("x", None),
        (".txt", None),
        ("f.json", None),
    ],
)
def test_extension_of(name, ext):
    assert extension_of(name) == ext
