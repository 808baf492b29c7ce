"""Draws Corpus Inspector's icons with the standard library alone: icon.png (512x512 RGBA) and
icon.ico (PNG images of 16, 32, 48 and 256 pixels).

The picture: a magnifying glass over a small bar chart, white and amber on a teal rounded
square (Tokenizer Studio's is a white letter on indigo). Every shape is a signed distance
function, so each size is drawn at its own resolution with smooth edges, and the output is the
same bytes on every run and every OS.

    python make_icons.py [--out FOLDER]   (default: the folder of this script)
"""

from __future__ import annotations

import argparse
import math
import struct
import zlib
from pathlib import Path

# The drawing's own units: a 512x512 canvas.
CANVAS = 512.0
PNG_SIZE = 512
ICO_SIZES = (16, 32, 48, 256)

TEAL = (15, 118, 110)
WHITE = (255, 255, 255)
AMBER = (251, 191, 36)

LENS_CENTRE = (222.0, 222.0)
LENS_RADIUS = 132.0
RING_WIDTH = 38.0
HANDLE = ((322.0, 322.0), (414.0, 414.0))
HANDLE_RADIUS = 30.0
# The bars inside the lens: (left, top, right) with the bottom shared.
BARS = ((146.0, 230.0, 186.0), (202.0, 160.0, 242.0), (258.0, 200.0, 298.0))
BARS_BOTTOM = 300.0


def rounded_box(x: float, y: float, cx: float, cy: float, hw: float, hh: float, r: float) -> float:
    qx = abs(x - cx) - (hw - r)
    qy = abs(y - cy) - (hh - r)
    outside = math.hypot(max(qx, 0.0), max(qy, 0.0))
    return outside + min(max(qx, qy), 0.0) - r


def segment(x: float, y: float, a: tuple[float, float], b: tuple[float, float], r: float) -> float:
    (ax, ay), (bx, by) = a, b
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(x - (ax + t * dx), y - (ay + t * dy)) - r


def coverage(distance: float, pixel: float) -> float:
    """How much of a pixel a shape covers, from its signed distance (in canvas units) at the
    pixel's centre: a one-pixel-wide ramp across the edge."""
    return max(0.0, min(1.0, 0.5 - distance / pixel))


def over(colour: tuple[float, float, float], layer: tuple[int, int, int], alpha: float):
    return tuple(c + (lc - c) * alpha for c, lc in zip(colour, layer, strict=True))


def pixel_at(x: float, y: float, pixel: float) -> tuple[int, int, int, int]:
    background = coverage(rounded_box(x, y, 256.0, 256.0, 240.0, 240.0, 96.0), pixel)
    if background == 0.0:
        return (0, 0, 0, 0)
    colour: tuple[float, float, float] = TEAL
    lx, ly = LENS_CENTRE
    from_centre = math.hypot(x - lx, y - ly)
    # The bars, clipped to the inside of the lens.
    inside_lens = from_centre - (LENS_RADIUS - RING_WIDTH / 2)
    bars = min(
        rounded_box(
            x,
            y,
            (left + right) / 2,
            (top + BARS_BOTTOM) / 2,
            (right - left) / 2,
            (BARS_BOTTOM - top) / 2,
            6.0,
        )
        for left, top, right in BARS
    )
    colour = over(colour, AMBER, coverage(max(bars, inside_lens), pixel))
    ring = abs(from_centre - LENS_RADIUS) - RING_WIDTH / 2
    handle = segment(x, y, *HANDLE, HANDLE_RADIUS)
    colour = over(colour, WHITE, coverage(min(ring, handle), pixel))
    return (*(round(c) for c in colour), round(255 * background))


def draw(size: int) -> bytes:
    """The icon at `size` x `size` pixels, as PNG file bytes."""
    pixel = CANVAS / size
    rows = bytearray()
    for row in range(size):
        rows.append(0)  # PNG filter type: none
        y = (row + 0.5) * pixel
        for col in range(size):
            rows.extend(pixel_at((col + 0.5) * pixel, y, pixel))
    return png(size, size, bytes(rows))


def png(width: int, height: int, filtered_rows: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(filtered_rows, 9))
        + chunk(b"IEND", b"")
    )


def ico(images: dict[int, bytes]) -> bytes:
    """An ICO file holding PNG images (Windows Vista and later read those), smallest first."""
    sizes = sorted(images)
    out = struct.pack("<HHH", 0, 1, len(sizes))
    offset = 6 + 16 * len(sizes)
    for size in sizes:
        data = images[size]
        side = 0 if size >= 256 else size  # 0 stands for 256
        out += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
    return out + b"".join(images[size] for size in sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    (out / "icon.png").write_bytes(draw(PNG_SIZE))
    (out / "icon.ico").write_bytes(ico({size: draw(size) for size in ICO_SIZES}))
    print(f"wrote {out / 'icon.png'} and {out / 'icon.ico'}")


if __name__ == "__main__":
    main()
