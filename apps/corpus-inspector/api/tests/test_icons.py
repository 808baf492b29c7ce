"""The icons: a 512x512 RGBA PNG and an ICO of PNGs at 16, 32, 48 and 256 pixels, the very
bytes make_icons.py draws."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib

from tests.conftest import API_DIR

ICONS = API_DIR.parent / "icons"


def png_header(data: bytes) -> tuple[int, int, int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    return width, height, depth, colour


def png_pixel(data: bytes, x: int, y: int) -> tuple[int, ...]:
    """A pixel of one of our PNGs (one IDAT, filter type 0 on every row)."""
    width = png_header(data)[0]
    at = data.index(b"IDAT")
    (length,) = struct.unpack(">I", data[at - 4 : at])
    raw = zlib.decompress(data[at + 4 : at + 4 + length])
    stride = 1 + 4 * width
    assert raw[y * stride] == 0
    start = y * stride + 1 + 4 * x
    return tuple(raw[start : start + 4])


def test_the_png_is_512_pixels_rgba():
    data = (ICONS / "icon.png").read_bytes()
    assert png_header(data) == (512, 512, 8, 6)
    assert png_pixel(data, 0, 0)[3] == 0  # a transparent corner
    assert png_pixel(data, 40, 256) == (15, 118, 110, 255)  # teal, unlike Tokenizer Studio's indigo


def test_the_ico_holds_pngs_of_every_size():
    data = (ICONS / "icon.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", data[:6])
    assert (reserved, kind, count) == (0, 1, 4)
    sizes = []
    for i in range(count):
        width, height, _, _, planes, bits, size, offset = struct.unpack(
            "<BBBBHHII", data[6 + 16 * i : 22 + 16 * i]
        )
        image = data[offset : offset + size]
        side = png_header(image)[0]
        assert png_header(image) == (side, side, 8, 6)
        assert (width or 256, height or 256, planes, bits) == (side, side, 1, 32)
        sizes.append(side)
    assert sizes == [16, 32, 48, 256]


def test_make_icons_draws_the_committed_bytes(tmp_path):
    done = subprocess.run(
        [sys.executable, "-I", str(ICONS / "make_icons.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for name in ("icon.png", "icon.ico"):
        assert (tmp_path / name).read_bytes() == (ICONS / name).read_bytes(), name
