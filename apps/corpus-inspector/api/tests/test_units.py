"""The pure parts: settings, the data root per OS, the statistics and the corpus readers."""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest

from inspector.corpus import CorpusError, read_documents, scan
from inspector.paths import resolve_data_root
from inspector.settings import DEFAULT_MAX_UPLOAD_BYTES, SettingsError, default_web_dir, parse_settings
from inspector.stats import TextStats, histogram, median
from tests.conftest import API_DIR


def test_settings_from_the_launch_environment():
    env = {
        "CORPUS_INSPECTOR_RUNTIME_TOKEN": "t0ken",
        "CORPUS_INSPECTOR_LAUNCH_ID": "id-1",
        "CORPUS_INSPECTOR_MAX_UPLOAD_BYTES": "1000",
    }
    settings = parse_settings(["--port", "0"], env)
    assert (settings.token, settings.launch_id, settings.max_upload_bytes, settings.port) == (
        "t0ken",
        "id-1",
        1000,
        0,
    )
    assert settings.stdin_watch and settings.data_dir is None
    # The UI folder: the app's web/ in a checkout, as <runtime>/web in a runtime.
    assert settings.web_dir == API_DIR.parent / "web" == default_web_dir()
    bare = parse_settings([], {})
    assert (bare.token, bare.launch_id, bare.max_upload_bytes) == (None, None, DEFAULT_MAX_UPLOAD_BYTES)
    assert parse_settings(["--host", "localhost"], {}).port == 0


def test_the_web_folder_is_found_beside_the_package(tmp_path):
    assert default_web_dir(tmp_path) is None
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "index.html").write_text("<html></html>")
    assert default_web_dir(tmp_path) == tmp_path / "web"
    assert parse_settings([], {"CORPUS_INSPECTOR_WEB_DIR": str(tmp_path / "web")}).web_dir == tmp_path / "web"


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--host", "0.0.0.0"], "only listens on 127.0.0.1"),
        (["--port", "-1"], "out of range"),
        (["--port", "x"], "invalid int value"),
        (["--web-dir", "/nowhere"], "has no index.html"),
    ],
)
def test_bad_settings_say_what_to_change(argv, words):
    with pytest.raises(SettingsError, match=words):
        parse_settings(argv, {})


@pytest.mark.parametrize(
    ("platform", "env", "home", "expected"),
    [
        ("linux", {}, "/home/u", PurePosixPath("/home/u/.local/share/CorpusInspector")),
        ("linux", {"XDG_DATA_HOME": "/x"}, "/home/u", PurePosixPath("/x/CorpusInspector")),
        (
            "linux",
            {"XDG_DATA_HOME": "relative"},
            "/home/u",
            PurePosixPath("/home/u/.local/share/CorpusInspector"),
        ),
        ("linux", {"CORPUS_INSPECTOR_DATA_DIR": " /data "}, None, PurePosixPath("/data")),
        ("darwin", {}, "/Users/u", PurePosixPath("/Users/u/Library/Application Support/CorpusInspector")),
        (
            "win32",
            {"APPDATA": r"C:\Users\u\AppData\Roaming"},
            None,
            PureWindowsPath(r"C:\Users\u\AppData\Roaming\CorpusInspector"),
        ),
        ("win32", {}, r"C:\Users\u", PureWindowsPath(r"C:\Users\u\AppData\Roaming\CorpusInspector")),
    ],
)
def test_the_data_root_per_os(platform, env, home, expected):
    assert resolve_data_root(platform, env, home) == expected


def test_no_home_and_no_override_is_an_error():
    with pytest.raises(ValueError, match="CORPUS_INSPECTOR_DATA_DIR"):
        resolve_data_root("linux", {}, None)


def test_median_and_histogram():
    assert median([]) == 0 and median([3]) == 3 and median([1, 2, 3, 10]) == 2.5
    assert histogram([]) == []
    assert histogram([4, 4, 4]) == [{"from": 4, "to": 4, "count": 3}]
    # Fewer distinct lengths than buckets: one bucket per length.
    assert [(b["from"], b["to"], b["count"]) for b in histogram([1, 2, 2, 3])] == [
        (1, 1, 1),
        (2, 2, 2),
        (3, 3, 1),
    ]
    buckets = histogram(list(range(1, 101)))
    assert [(b["from"], b["to"], b["count"]) for b in buckets] == [
        (1 + 10 * i, 10 + 10 * i, 10) for i in range(10)
    ]
    # Every length lands in the bucket whose range holds it.
    lengths = sorted([0, 7, 13, 13, 58, 99, 250, 251, 999])
    for bucket in histogram(lengths):
        assert bucket["count"] == sum(bucket["from"] <= n <= bucket["to"] for n in lengths)


def test_text_stats_count_blank_lines_only_in_txt():
    txt, rows = TextStats(every_line_counts=True), TextStats()
    for stats in (txt, rows):
        for text in ("a b", "", "c\nd e\n", "   "):
            stats.add(text)
    assert (txt.documents, txt.empty_records, txt.lines, txt.words) == (2, 2, 5, 5)
    assert (rows.documents, rows.empty_records, rows.lines, rows.words) == (2, 2, 3, 5)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def test_readers_handle_line_endings_and_a_byte_order_mark(tmp_path):
    path = write(tmp_path, "c.txt", "\ufefffirst\r\nsecond\r\n\r\nthird")
    assert scan(path, "txt").records == 3
    texts = [text for text, _ in read_documents(path, "txt", None)]
    assert texts == ["first", "second", "", "third"]
    positions = [position for _, position in read_documents(path, "txt", None)]
    assert positions == sorted(positions) and positions[-1] == path.stat().st_size
    csv = write(tmp_path, "c.csv", '\ufefftext\r\n"quoted, with ""quotes"""\r\n"two\r\nlines"\r\n')
    assert scan(csv, "csv").fields == ["text"]
    assert [t for t, _ in read_documents(csv, "csv", "text")] == ['quoted, with "quotes"', "two\nlines"]


def test_a_reader_refuses_a_field_a_record_lacks(tmp_path):
    path = write(tmp_path, "c.jsonl", '{"text": "a"}\n{"body": "b"}\n{"text": 5}\n')
    with pytest.raises(CorpusError, match='Line 2 has no "text" field'):
        list(read_documents(path, "jsonl", "text"))
    only_bad_type = write(tmp_path, "d.jsonl", '{"text": 5}\n')
    with pytest.raises(CorpusError, match='On line 1 the "text" field is not text'):
        list(read_documents(only_bad_type, "jsonl", "text"))
    table = write(tmp_path, "c.csv", "a,b\n1,2\n")
    with pytest.raises(CorpusError, match='no column named "text"'):
        list(read_documents(table, "csv", "text"))


def test_an_unclosed_csv_quote_is_refused(tmp_path, monkeypatch):
    from inspector import corpus

    monkeypatch.setattr(corpus, "MAX_RECORD_BYTES", 200)
    path = write(tmp_path, "c.csv", 'text\n"never closed\n' + "more text\n" * 50)
    with pytest.raises(CorpusError, match="longer than 16 MB .or a quote is never closed"):
        scan(path, "csv")


def test_a_csv_quote_never_closed_before_the_end_is_refused(tmp_path):
    path = write(tmp_path, "c.csv", 'text\nfine\n"never closed\nmore text\n')
    with pytest.raises(
        CorpusError, match=r"cannot be read near line 4 \(unexpected end of data\); check its quotes"
    ):
        scan(path, "csv")
