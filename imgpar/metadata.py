"""EXIF and ICC handling: what a written file carries from its source."""

from __future__ import annotations

from PIL import Image

ORIENTATION = 0x0112
GPS_IFD = 0x8825

# TIFF sources report their own layout (strips, sample format, compression...)
# through getexif(); copied into another file these describe the wrong pixels.
_LAYOUT_TAGS = frozenset(
    {
        254,
        255,
        256,
        257,
        258,
        259,
        262,
        266,
        273,
        277,
        278,
        279,
        284,
        317,
        320,
        322,
        323,
        324,
        325,
        338,
        339,
        340,
        341,
        530,
        531,
        532,
        34675,
    }
)


def orientation(exif: Image.Exif) -> int:
    value = exif.get(ORIENTATION, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def output_exif(exif: Image.Exif) -> bytes | None:
    """The source's EXIF minus its GPS block, with Orientation 1.

    The pixels are written upright, so any other Orientation would make viewers
    rotate them a second time. GPS is dropped because a photographer's home
    location must not leak into every web image by default.
    """
    if not exif:
        return None
    for tag in _LAYOUT_TAGS & exif.keys():
        del exif[tag]
    exif.pop(GPS_IFD, None)
    if ORIENTATION in exif:
        exif[ORIENTATION] = 1
    return exif.tobytes() if exif else None
