"""Tiny previews for the HTML report, made in the worker from pixels it
already holds, so a report never costs a second decode of any image."""

from __future__ import annotations

import base64
import io

from PIL import Image

from imgpar import colour, imaging
from imgpar.formats import TARGETS

SIZE = 96
# Base64 characters; a few KB each keeps a 1,000-file report a few MB.
MAX_CHARS = 6000
QUALITIES = (60, 35)


def data_uri(im: Image.Image, icc: bytes | None = None) -> str | None:
    """A `data:image/webp;base64,...` URI of `im` (whose colours `icc`
    describes) fitted inside size x size, or None when no preview small
    enough can be made."""
    try:
        small = imaging.working_mode(im)
        scale = min(SIZE / small.width, SIZE / small.height, 1.0)
        box = (max(1, round(small.width * scale)), max(1, round(small.height * scale)))
        # reducing_gap lets Pillow shrink by whole factors first: fast on big outputs.
        small = small.resize(box, Image.Resampling.BILINEAR, reducing_gap=2.0)
        # Any output mode (16-bit, CMYK, gray...) as WebP stores it, the way
        # the pipeline itself would write a WebP, in sRGB: the report's page
        # shows an untagged preview, where wide gamut would look dull.
        webp = TARGETS["webp"]
        small, _ = colour.for_target(small, icc, webp, srgb=True)
        small = imaging.target_mode(small, webp)
        for quality in QUALITIES:
            buffer = io.BytesIO()
            small.save(buffer, "WEBP", quality=quality, method=4)
            text = base64.b64encode(buffer.getvalue()).decode("ascii")
            if len(text) <= MAX_CHARS:
                return "data:image/webp;base64," + text
    except Exception:
        # A preview is decoration: it must never turn a written file into a failure.
        return None
    return None
