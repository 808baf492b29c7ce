"""Hostile datasets: a file small on disk that would expand to gigabytes, or one line or value
of hundreds of megabytes. Inspection (upload), preview and training each run in a fresh
process whose peak RSS is measured; it must stay bounded whatever one line or value holds."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

API_DIR = Path(__file__).resolve().parent.parent
# Above what importing the app and pyarrow costs (~150 MB); far below the files' expansion.
MAX_PEAK_GROWTH_MB = 300
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")

# Runs the app's own readers on one file, the way the routes and the job runner do: inspect
# (upload), preview of one row (the original 3 GB case), then every text the trainer would get
# through the real tokenizers trainer. Prints JSON: the outcome of each step and peak RSS.
PROBE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from app.corpus import CorpusStream, Source, inspect, preview
    from app.errors import ApiError

    path, fmt, column = Path(sys.argv[1]), sys.argv[2], sys.argv[3] or None
    steps = sys.argv[4].split(",")
    import pyarrow  # noqa: F401  (part of the baseline, not of what the file costs)
    from tokenizers import Tokenizer, models, trainers

    def peak_kib():
        # VmHWM starts afresh with exec (ru_maxrss would carry the parent's peak over).
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])

    baseline = peak_kib()
    out = {}
    try:
        info = inspect(path, fmt)
        out["inspect"] = "ok"
        column = column or info.text_column
    except ApiError as exc:
        out["inspect"] = exc.code
        out["message"] = exc.message
    source = Source(path, fmt, column, path.stat().st_size)
    try:
        rows = preview(source, 1)
        out["preview"] = [len(r) for r in rows]
    except ApiError as exc:
        out["preview"] = exc.code
    try:
        if "train" not in steps:
            raise LookupError
        tok = Tokenizer(models.BPE(unk_token="[UNK]"))
        stream = CorpusStream([source])
        longest = [0]
        def texts():
            for text in stream:
                longest[0] = max(longest[0], len(text))
                yield text
        tok.train_from_iterator(texts(), trainers.BpeTrainer(vocab_size=300, show_progress=False))
        out["train"] = {"rows": stream.rows, "longest": longest[0]}
    except ApiError as exc:
        out["train"] = exc.code
    except LookupError:
        out["train"] = "not run"
    out["baseline_kib"] = baseline
    out["peak_kib"] = peak_kib()
    print(json.dumps(out))
    """
)


def probe(path: Path, fmt: str, column: str | None = None, steps: str = "train") -> dict:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(path), fmt, column or "", steps],
        cwd=API_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"probe died ({result.returncode}):\n{result.stderr[-3000:]}"
    out = json.loads(result.stdout.strip().splitlines()[-1])
    out["growth_mb"] = (out["peak_kib"] - out["baseline_kib"]) / 1024
    print(
        f"{path.name}: peak RSS {out['peak_kib'] / 1024:.0f} MB, +{out['growth_mb']:.0f} MB over the imports; {out}"
    )
    return out


def _write_long_line(path: Path, n_bytes: int, *, prefix: bytes = b"", suffix: bytes = b"\n") -> None:
    # Streamed to disk, so the test itself never holds the line.
    block = b"lorem ipsum " * 8192
    with path.open("wb") as f:
        f.write(prefix)
        written = 0
        while written < n_bytes:
            f.write(block)
            written += len(block)
        f.write(suffix)
        f.write(b"a normal second line\n")


@linux_only
def test_txt_with_one_200_mb_line_trains_in_bounded_memory(tmp_path):
    path = tmp_path / "one-line.txt"
    _write_long_line(path, 200 * 1024 * 1024)
    out = probe(path, "txt")
    assert out["inspect"] == "ok"
    assert out["preview"] == [2000]
    assert out["train"]["longest"] <= 64 * 1024, out
    assert out["growth_mb"] < MAX_PEAK_GROWTH_MB, out


@linux_only
def test_jsonl_with_one_200_mb_line_is_refused_in_words(tmp_path):
    path = tmp_path / "one-line.jsonl"
    _write_long_line(path, 200 * 1024 * 1024, prefix=b'{"text": "', suffix=b'"}\n')
    out = probe(path, "jsonl", "text")
    assert out["inspect"] == "line_too_long", out
    assert "split that record" in out["message"]
    # Training a file stored before the check skips the line instead of holding it.
    assert out["growth_mb"] < MAX_PEAK_GROWTH_MB, out


@linux_only
def test_csv_with_a_200_mb_field_is_refused_in_words(tmp_path):
    path = tmp_path / "one-field.csv"
    _write_long_line(path, 200 * 1024 * 1024, prefix=b'text\n"', suffix=b'"\n')
    out = probe(path, "csv", "text")
    assert out["inspect"] == "field_too_long", out
    assert "split long texts" in out["message"]
    assert out["growth_mb"] < MAX_PEAK_GROWTH_MB, out


def _dictionary_bomb(path: Path, *, rows: int, value_bytes: int) -> None:
    import random

    import pyarrow as pa
    import pyarrow.parquet as pq

    # One long value repeated in every row: dictionary-encoded, the file holds it once, and
    # its footer honestly declares only that one value's size, so no ratio check can tell.
    # The value is incompressible (random letters). Built as a dictionary array, so this test
    # never holds the expansion either.
    letters = random.Random(7).choices("abcdefghijklmnopqrstuvwxyz ", k=value_bytes)
    column = pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()), pa.array(["".join(letters)]))
    table = pa.table({"text": column})
    pq.write_table(table, path, compression="zstd", use_dictionary=True, row_group_size=rows)


@linux_only
def test_parquet_repeating_one_huge_value_stays_one_value_in_memory(tmp_path):
    path = tmp_path / "bomb.parquet"
    # 2 MB on disk, 8 GB as one Python string per row. Previewing one row decoded a batch of
    # 2,048 rows (4 GB). Training reads every row for real, which is honest work on 8 GB of
    # text, so only inspection and preview run here.
    _dictionary_bomb(path, rows=4096, value_bytes=2 * 1024 * 1024)
    assert path.stat().st_size < 4 * 1024 * 1024, path.stat().st_size
    out = probe(path, "parquet", "text", steps="preview")
    assert out["inspect"] == "ok", out
    assert out["preview"] == [2000]
    assert out["growth_mb"] < MAX_PEAK_GROWTH_MB, out


@linux_only
def test_parquet_declaring_far_more_than_its_size_is_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Plain encoding: the footer declares the 32 MB this ~2 KB file unpacks to (the same
    # ratio at any size refuses it).
    path = tmp_path / "plain-bomb.parquet"
    table = pa.table({"text": pa.array(["a" * (1024 * 1024)] * 32)})
    pq.write_table(table, path, compression="zstd", use_dictionary=False)
    del table
    out = probe(path, "parquet", "text")
    assert out["inspect"] == "parquet_too_large", out
    assert out["preview"] == "parquet_too_large"
    assert out["train"] == "parquet_too_large"
    assert out["growth_mb"] < MAX_PEAK_GROWTH_MB, out


@linux_only
@pytest.mark.parametrize("fmt", ["txt", "jsonl", "csv", "parquet"])
def test_an_ordinary_file_of_each_format_still_reads_whole(tmp_path, fmt):
    lines = [f"sentence number {i} with some words in it" for i in range(2000)]
    path = tmp_path / f"ok.{fmt}"
    if fmt == "txt":
        path.write_text("\n".join(lines) + "\n")
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(lines)))
    elif fmt == "csv":
        path.write_text("id,text\n" + "".join(f'{i},"{t}"\n' for i, t in enumerate(lines)))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"id": list(range(2000)), "text": lines}), path)
    out = probe(path, fmt)
    assert out["inspect"] == "ok", out
    assert out["preview"] == [len(lines[0])]
    assert out["train"]["rows"] == 2000, out


def _understate_footer(path: Path, claimed: int) -> None:
    """Rewrites every size the footer gives for the file's only column chunk to `claimed`,
    keeping the footer's length (a Thrift varint may carry padding bytes), so the footer
    lies while the page headers still tell the truth."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    true_sizes = {meta.row_group(0).column(0).total_uncompressed_size, meta.row_group(0).total_byte_size}

    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            low, n = n & 0x7F, n >> 7
            out.append(low | (0x80 if n else 0))
            if not n:
                return bytes(out)

    data = bytearray(path.read_bytes())
    footer_len = int.from_bytes(data[-8:-4], "little")
    start = len(data) - 8 - footer_len
    footer = bytes(data[start:-8])
    for size in true_sizes:
        honest = varint(size << 1)  # zigzag of a positive i64
        lie = bytearray(varint(claimed << 1))
        while len(lie) < len(honest):
            lie[-1] |= 0x80
            lie.append(0)
        assert honest in footer
        footer = footer.replace(honest, bytes(lie))
    data[start:-8] = footer
    path.write_bytes(data)
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).total_uncompressed_size == claimed


@linux_only
def test_parquet_whose_footer_understates_its_pages_is_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    # One 384 MB page (compressed to a few KB), while the footer claims 1,000 bytes: a footer
    # check alone passes it, and the decoder then allocates the page's own declared size.
    path = tmp_path / "liar.parquet"
    table = pa.table({"text": pa.array(["a" * (1024 * 1024)] * 384)})
    pq.write_table(table, path, compression="zstd", use_dictionary=False, data_page_size=1 << 30)
    del table
    _understate_footer(path, 1000)
    out = probe(path, "parquet", "text")
    assert out["inspect"] == "parquet_too_large", out
    assert "largest page" in out["message"]
    assert out["preview"] == "parquet_too_large"
    assert out["train"] == "parquet_too_large"
    assert out["growth_mb"] < MAX_PEAK_GROWTH_MB, out


@linux_only
def test_parquet_with_a_damaged_page_header_is_refused_in_words(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "damaged.parquet"
    pq.write_table(pa.table({"text": ["some words"] * 100}), path, use_dictionary=False)
    offset = pq.ParquetFile(path).metadata.row_group(0).column(0).data_page_offset
    data = bytearray(path.read_bytes())
    data[offset : offset + 8] = b"\xff" * 8
    path.write_bytes(data)
    out = probe(path, "parquet", "text")
    assert out["inspect"] == "invalid_file", out
    assert "export it again" in out["message"]
    assert out["preview"] == "invalid_file"
    assert out["train"] == "invalid_file"
