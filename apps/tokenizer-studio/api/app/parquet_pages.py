"""The page sizes a Parquet column chunk really holds, read from its page headers.

The footer's `total_uncompressed_size` is only a claim: the decoder allocates each page's buffer
from `uncompressed_page_size` in the page's own header, so a file whose footer understates its
pages would pass a footer check and still make the reader allocate up to 2 GiB per page. This
walks the page headers of a chunk (Thrift compact protocol, as the Parquet format defines
`PageHeader`) without decompressing anything, so the reader's real allocations can be bounded
before it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

# Thrift compact protocol type codes (the Thrift "compact protocol" spec, field and element types).
_BOOL_TRUE, _BOOL_FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE = 1, 2, 3, 4, 5, 6, 7
_BINARY, _LIST, _SET, _MAP, _STRUCT = 8, 9, 10, 11, 12
# PageHeader field ids (parquet.thrift).
_UNCOMPRESSED_PAGE_SIZE, _COMPRESSED_PAGE_SIZE = 2, 3
# A page header is a few dozen bytes; statistics can add min/max values. More is not a header.
MAX_HEADER_BYTES = 1 << 20
_MAX_DEPTH = 16


class BadPageHeader(ValueError):
    """The bytes at a page's offset are not a page header the reader could use."""


@dataclass(frozen=True)
class ChunkPages:
    n_pages: int
    uncompressed_bytes: int
    largest_page: int


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise BadPageHeader("the page header is cut short")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 63:
                raise BadPageHeader("a number in the page header is too long")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def advance(self, n: int) -> None:
        if n < 0 or self.pos + n > len(self.data):
            raise BadPageHeader("the page header is cut short")
        self.pos += n

    def pass_over(self, kind: int, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise BadPageHeader("the page header nests too deeply")
        if kind in (_BOOL_TRUE, _BOOL_FALSE):
            return  # a struct field's bool lives in its type code
        if kind == _BYTE:
            self.advance(1)
        elif kind in (_I16, _I32, _I64):
            self.varint()
        elif kind == _DOUBLE:
            self.advance(8)
        elif kind == _BINARY:
            self.advance(self.varint())
        elif kind in (_LIST, _SET):
            header = self.byte()
            size = header >> 4 if header >> 4 != 15 else self.varint()
            element = header & 0x0F
            for _ in range(size):
                # Bools inside a list take one byte each.
                self.advance(1) if element in (_BOOL_TRUE, _BOOL_FALSE) else self.pass_over(
                    element, depth + 1
                )
        elif kind == _MAP:
            size = self.varint()
            if size:
                types = self.byte()
                for _ in range(size):
                    self.pass_over(types >> 4, depth + 1)
                    self.pass_over(types & 0x0F, depth + 1)
        elif kind == _STRUCT:
            self.struct(depth + 1)
        else:
            raise BadPageHeader(f"unknown field type {kind} in the page header")

    def struct(self, depth: int) -> dict[int, int]:
        """Skips a struct; returns its top-level integer fields by id."""
        fields: dict[int, int] = {}
        last_id = 0
        while True:
            header = self.byte()
            kind = header & 0x0F
            if kind == 0:
                return fields
            delta = header >> 4
            field_id = last_id + delta if delta else self.zigzag()
            last_id = field_id
            if kind in (_I16, _I32, _I64):
                fields[field_id] = self.zigzag()
            else:
                self.pass_over(kind, depth)


def scan_chunk(f: BinaryIO, start: int, length: int) -> ChunkPages:
    """Walks the pages of the column chunk at [start, start + length) and sums what their
    headers declare. Raises BadPageHeader when the chunk is not a sequence of pages."""
    pos, end = start, start + length
    n_pages = total = largest = 0
    while pos < end:
        f.seek(pos)
        reader = _Reader(f.read(min(MAX_HEADER_BYTES, end - pos)))
        fields = reader.struct(0)
        uncompressed = fields.get(_UNCOMPRESSED_PAGE_SIZE)
        compressed = fields.get(_COMPRESSED_PAGE_SIZE)
        if uncompressed is None or compressed is None or uncompressed < 0 or compressed < 0:
            raise BadPageHeader(f"the page at byte {pos} has no sizes")
        n_pages += 1
        total += uncompressed
        largest = max(largest, uncompressed)
        pos += reader.pos + compressed
    if pos != end:
        raise BadPageHeader("the last page runs past the column chunk")
    return ChunkPages(n_pages, total, largest)
