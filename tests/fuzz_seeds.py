"""Small valid images of every format imgpar reads, as bytes: the seeds that
the fuzz test (and scripts/fuzz.py) mutate."""

from __future__ import annotations

import io

from PIL import Image


def seeds() -> dict[str, bytes]:
    im = Image.new("RGB", (24, 16), (30, 140, 220))
    for x in range(24):
        im.putpixel((x, x % 16), (250, 250, 0))
    rgba = im.convert("RGBA")
    rgba.putpixel((0, 0), (0, 0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6
    made: dict[str, bytes] = {}
    for ext, fmt, source, options in (
        (".jpg", "JPEG", im, {"exif": exif}),
        (".png", "PNG", rgba, {}),
        (".gif", "GIF", im.convert("P"), {}),
        (".webp", "WEBP", rgba, {}),
        (".tif", "TIFF", im, {"compression": "tiff_lzw"}),
        (".bmp", "BMP", im, {}),
        (".avif", "AVIF", im, {}),
    ):
        buf = io.BytesIO()
        source.save(buf, fmt, **options)
        made[ext] = buf.getvalue()
    return made
