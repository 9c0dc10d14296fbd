"""A collection of broken and hostile files, made byte by byte.

Each entry is a kind of input imgpar must survive: it is converted or reported,
never a traceback, never a hang, never a stray file.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

from conftest import png_chunk
from PIL import Image


def png_header(width: int, height: int, *extra: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + b"".join(extra)


def _encoded(fmt: str, mode: str = "RGB", size: tuple[int, int] = (64, 48), **kw: object) -> bytes:
    im = Image.new(mode, size, (200, 80, 40) if mode == "RGB" else 128)
    for x in range(0, size[0], 4):
        im.putpixel((x, x % size[1]), (0, 0, 0) if mode == "RGB" else 0)
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _corrupt_idat() -> bytes:
    data = bytearray(_encoded("PNG"))
    at = data.index(b"IDAT") + 8
    data[at : at + 8] = b"\xff" * 8
    return bytes(data)


def _garbage_scan() -> bytes:
    data = bytearray(_encoded("JPEG"))
    sos = data.index(b"\xff\xda")
    for i in range(sos + 20, len(data) - 2, 3):
        data[i] = (data[i] * 7 + 13) % 256
    return bytes(data)


def _gif_huge_screen() -> bytes:
    # A logical screen of 30000 x 30000 with a single 1x1 frame.
    head = b"GIF89a" + struct.pack("<HHBBB", 30000, 30000, 0, 0, 0)
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return head + frame * 3 + b"\x3b"


def _tiff_huge() -> bytes:
    entries = [
        (256, 4, 1, 100000),
        (257, 4, 1, 100000),
        (258, 3, 1, 8),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (273, 4, 1, 8),
        (277, 3, 1, 1),
        (279, 4, 1, 1),
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        ifd += struct.pack("<HHII", tag, typ, count, value)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00\x00\x00\x00"


def _tiff_bad_ifd() -> bytes:
    return b"II*\x00" + struct.pack("<I", 10_000_000) + b"\x00" * 16


def _zlib_bomb(kind: bytes, prefix: bytes) -> bytes:
    payload = prefix + zlib.compress(b"\x00" * (64 << 20), 9)
    return png_header(16, 16, png_chunk(kind, payload)) + png_chunk(b"IEND", b"")


def _bmp_bad_offset() -> bytes:
    data = bytearray(_encoded("BMP"))
    data[10:14] = struct.pack("<I", 0x7FFFFFF0)
    return bytes(data)


def _webp_bad_riff() -> bytes:
    data = bytearray(_encoded("WEBP"))
    data[4:8] = struct.pack("<I", 0x7FFFFFF0)
    return bytes(data)


def _png_bad_crc() -> bytes:
    data = bytearray(_encoded("PNG"))
    at = data.index(b"IHDR") + 4 + 13
    data[at] ^= 0xFF
    return bytes(data)


HOSTILE: dict[str, Callable[[], bytes]] = {
    "empty.jpg": lambda: b"",
    "text.jpg": lambda: b"hello, I am not a picture\n" * 20,
    "truncated.jpg": lambda: _half(_encoded("JPEG")),
    "truncated.png": lambda: _half(_encoded("PNG")),
    "truncated.gif": lambda: _half(_encoded("GIF", "L")),
    "truncated.webp": lambda: _half(_encoded("WEBP")),
    "truncated.tif": lambda: _half(_encoded("TIFF")),
    "corrupt_idat.png": _corrupt_idat,
    "bad_crc.png": _png_bad_crc,
    "garbage_scan.jpg": _garbage_scan,
    "bomb_100000x100000.png": lambda: png_header(
        100000, 100000, png_chunk(b"IDAT", zlib.compress(b"")), png_chunk(b"IEND", b"")
    ),
    "bomb_screen.gif": _gif_huge_screen,
    "bomb_100000x100000.tif": _tiff_huge,
    "huge_iccp.png": lambda: _zlib_bomb(b"iCCP", b"icc\x00\x00"),
    "huge_text.png": lambda: _zlib_bomb(b"zTXt", b"Comment\x00\x00"),
    "zero_width.png": lambda: png_header(0, 10) + png_chunk(b"IEND", b""),
    "zero_height.png": lambda: png_header(10, 0) + png_chunk(b"IEND", b""),
    "soi_only.jpg": lambda: b"\xff\xd8",
    "header_only.gif": lambda: b"GIF89a" + struct.pack("<HHBBB", 10, 10, 0, 0, 0),
    "bad_ifd.tif": _tiff_bad_ifd,
    "bad_offset.bmp": _bmp_bad_offset,
    "bad_riff.webp": _webp_bad_riff,
    "random.png": lambda: bytes((i * 2654435761 >> 13) & 0xFF for i in range(4096)),
    "garbage.avif": lambda: b"\x00\x00\x00\x18ftypavif" + b"\x00" * 12 + b"\xde\xad" * 200,
    "garbage.heic": lambda: b"\x00\x00\x00\x18ftypheic" + b"\x00" * 12 + b"\xbe\xef" * 200,
    "png_named.jpg": lambda: _encoded("PNG"),
    "jpeg_named.webp": lambda: _encoded("JPEG"),
}


def make_hostile_tree(root: Path) -> list[str]:
    """Write every hostile file plus a symlink loop and a broken link under
    `root`; returns the names of the files that must appear in a report."""
    root.mkdir(parents=True, exist_ok=True)
    for name, make in HOSTILE.items():
        (root / name).write_bytes(make())
    loop = root / "loop"
    loop.mkdir()
    os.symlink("..", loop / "back")
    os.symlink("missing.jpg", root / "broken_link.jpg")
    return sorted(HOSTILE)
