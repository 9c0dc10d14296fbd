"""ISO base media file boxes, the container of AVIF and HEIF: walked in
bytes already read, to read a box (profiles) or patch one in place (writer)."""

from __future__ import annotations

import struct
from collections.abc import Iterator

# Boxes that carry creation and modification times, and the boxes that hold them.
_TIMED = frozenset({b"mvhd", b"tkhd", b"mdhd"})
_HOLDERS = frozenset({b"moov", b"trak", b"mdia"})


def boxes(
    data: bytes | bytearray, start: int = 0, end: int | None = None
) -> Iterator[tuple[bytes, int, int]]:
    """(type, body start, body end) of each box in `data[start:end]`; a box
    cut short by the end ends the walk."""
    end = len(data) if end is None else end
    at = start
    while at + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, at)
        head = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, at + 8)
            head = 16
        elif size == 0:
            size = end - at
        if size < head or at + size > end:
            return
        yield kind, at + head, at + size
        at += size


def clear_timestamps(data: bytearray, start: int = 0, end: int | None = None) -> None:
    """Zero, in place, the creation and modification times that an image
    sequence's movie, track and media headers carry."""
    for kind, body, stop in boxes(data, start, end):
        if kind in _HOLDERS:
            clear_timestamps(data, body, stop)
        elif kind in _TIMED and body < stop:
            width = 8 if data[body] == 1 else 4  # version 1 holds 64-bit times
            times = slice(body + 4, min(body + 4 + 2 * width, stop))
            data[times] = bytes(times.stop - times.start)
