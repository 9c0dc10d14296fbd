"""Pixel operations between decode and encode: shrink-on-load, resize,
orientation and mode conversion."""

from __future__ import annotations

from typing import NamedTuple

from PIL import Image, ImageMath

from imgpar.formats import Target

# EXIF orientation -> the transpose that makes the picture upright.
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

WHITE = (255, 255, 255)


def stored_bits(im: Image.Image) -> int:
    """Bits per sample as stored, which Pillow's mode hides for 16-bit colour
    (decoded at 8). Read before getexif(), which may decode a PNG and drop
    the tiles that tell."""
    bits = {"1": 1, "I": 32, "F": 32}.get(im.mode, 16 if im.mode.startswith("I;16") else 8)
    for tile in im.tile:
        args = tile.args[0] if isinstance(tile.args, tuple) and tile.args else tile.args
        if isinstance(args, str) and ";16" in args:
            bits = 16
    sample_bits = getattr(im, "tag_v2", {}).get(258)  # TIFF BitsPerSample
    if isinstance(sample_bits, tuple) and sample_bits:
        bits = max(sample_bits)
    heif_bits = im.info.get("bit_depth")  # pillow-heif: 8, 10 or 12
    return heif_bits if isinstance(heif_bits, int) else bits


def gray_alpha_as_colour(im: Image.Image) -> bool:
    """Whether Pillow decodes `im`, gray with alpha, as RGBA: a 16-bit PNG's,
    for want of a 16-bit LA mode. Read before its pixels are (its tiles tell)."""
    return im.mode == "RGBA" and any(tile.args == "LA;16B" for tile in im.tile)


def gray_again(im: Image.Image) -> None:
    """Decode `im` (gray_alpha_as_colour) and make it LA in place, the file
    as Pillow opened it still: as RGBA its gray profile did not fit it, and
    its tones were taken as sRGB's."""
    im.load()
    im.im = im.im.convert("LA")  # of equal channels: each value exactly kept
    im._mode = "LA"


def release(im: Image.Image) -> None:
    """Free `im`'s pixels now. Not ImageFile.close(), which would close the
    file it was read from as well: a file whose digest is read after."""
    Image.Image.close(im)


def upright(im: Image.Image, orientation: int) -> Image.Image:
    method = _TRANSPOSE.get(orientation)
    return im if method is None else im.transpose(method)


def resized(
    im: Image.Image,
    size: tuple[int, int],
    *,
    box: tuple[float, float, float, float] | None = None,
    resample: str = "lanczos",
) -> Image.Image:
    """`im` scaled to `size`, showing only `box` of it when given."""
    if box is None and im.size == size:
        return im
    # spec.FILTERS names Pillow's own filters, in lower case.
    return im.resize(size, Image.Resampling[resample.upper()], box=box)


def working_mode(im: Image.Image) -> Image.Image:
    """Bring any decoded mode to one that resizes well and converts to every target.

    Results are L, LA, RGB, RGBA, CMYK, or I holding a 0..65535 range for high
    bit depth sources, so that 8-bit targets can scale rather than clip.
    """
    if im.mode in ("I", "F"):
        return wide_gray(im)[0]
    mode = working_mode_of(im)
    if mode == "LA" and im.mode.startswith("I;16"):
        return _keyed_gray_16(im)
    return im if mode == im.mode else im.convert(mode)


def working_mode_of(im: Image.Image) -> str:
    """The mode working_mode() brings `im` to, known without its pixels."""
    mode = im.mode
    if mode in ("L", "RGB") and _colour_key(im) is not None:
        return mode + "A"
    if mode.startswith("I;16") and _colour_key(im) is not None:
        # Pillow has no 16-bit mode with alpha: a logo's transparency
        # matters more than its depth.
        return "LA"
    if mode in ("L", "LA", "RGB", "RGBA", "CMYK"):
        return mode
    if mode == "P" or mode == "PA":
        return "RGBA" if mode == "PA" or "transparency" in im.info else "RGB"
    if mode == "1":
        return "L"
    if mode.startswith("I;16") or mode in ("I", "F"):
        return "I"
    if mode in ("La", "RGBa"):
        return mode.upper()
    return "RGBA" if "A" in mode else "RGB"


def _colour_key(im: Image.Image) -> int | tuple[int, ...] | None:
    """The one value (gray) or colour (RGB) a PNG's tRNS chunk makes
    transparent, as optimisers write for logos and icons; None if none."""
    key = im.info.get("transparency")
    if (im.mode == "L" or im.mode.startswith("I;16")) and isinstance(key, int):
        return key
    if im.mode == "RGB" and isinstance(key, tuple) and len(key) == 3:
        return key
    return None


def _keyed_gray_16(im: Image.Image) -> Image.Image:
    """16-bit gray whose tRNS value is transparent, as 8-bit LA."""
    key = _colour_key(im)
    wide = im.convert("I")
    alpha = ImageMath.lambda_eval(lambda a: (a["v"] != key) * 255, v=wide)
    gray = wide.point(lambda v: v / 257 + 0.5)  # rounded, as target_mode rounds
    return Image.merge("LA", (gray.convert("L"), alpha.convert("L")))


class GrayReading(NamedTuple):
    """How 32-bit gray (I or F) is read, which the file does not say: its
    values clipped to `low`..`high` (where `clipped`: some lie outside, or
    are NaN), then mapped to 0..65535 as value x `scale` + `offset`; `said`
    tells which range and why."""

    low: float
    high: float
    scale: float
    offset: float
    said: str
    clipped: bool


def read_gray(im: Image.Image) -> GrayReading:
    """Floats are read as 0-1, their convention, where nearly all their
    values lie in it, the rest clipped (one stray value past 1 read a picture
    as 0-255, black); otherwise the smallest usual range that holds every
    value is taken, and values that fit none (negative, past 65535: a
    difference map) are stretched from their own range. Values that are no
    data (NaN, as scientific TIFFs write it, infinities, values past +-1e38,
    as some GIS tools write it, and a TIFF's GDAL_NODATA value) are left out
    of the range, and shown black (+inf white), in every range."""
    return _marked(im)[1]


def _marked(im: Image.Image) -> tuple[Image.Image, GrayReading]:
    """`im` with its GDAL_NODATA value marked as no data, and how it reads."""
    im = _no_data_marked(im)
    return im, _read(im)


def _read(im: Image.Image) -> GrayReading:
    low, high = im.getextrema()
    pixels = im.width * im.height
    # Pillow's float histogram counts only the values in its range: never NaN.
    odd = pixels - sum(im.histogram(extrema=(-_NO_DATA, _NO_DATA))) if im.mode == "F" else 0
    if odd:
        # Pillow takes a first pixel's NaN for both extrema, and counts infinities.
        low, high = _data_extrema(im)
    said = [f"its values run {low + 0.0:g} to {high + 0.0:g}" if odd < pixels else "no value"]
    if odd:
        said.append(f"{odd} no data (NaN, infinite or past 1e38), shown black (+inf white)")
    if im.mode == "F" and _mostly_unit(im, low, high, pixels - odd):
        clipped = low < 0 or high > 1
        if clipped:
            said[0] += ": those outside it clipped"
        read = f"read as 0-1, {_UNSAID} ({'; '.join(said)})"
        return GrayReading(0.0, 1.0, 65535, 0, read, clipped or bool(odd))
    values = "; ".join(said)
    for top in (255, 65535):
        if low >= 0 and high <= top:
            read = f"read as 0-{top}, {_UNSAID} ({values})"
            return GrayReading(0.0, top, 65535 / top, 0, read, bool(odd))
    scale = 65535 / (high - low) if high > low else 0
    # One value throughout, past every usual range, shows at its end.
    offset = -low * scale if scale else 65535 * (low > 0)
    read = f"stretched from its own range ({values})"
    return GrayReading(low, high, scale, offset, read, bool(odd))


_UNSAID = "as the file does not say its range"
# Values past it are no data: NaN, the infinities, and float32's extremes,
# which GIS tools write for "no data" (-3.4e38).
_NO_DATA = 1e38


# The TIFF tag where GDAL writes a raster's "no data" value, as text.
GDAL_NODATA = 42113


def _no_data_marked(im: Image.Image) -> Image.Image:
    """A float picture whose GDAL_NODATA value (-9999 in an elevation model)
    is moved past the data's range, as no data: stretched with the rest, it
    flattened the terrain to white."""
    tags = getattr(im, "tag_v2", None)
    text = tags.get(GDAL_NODATA) if im.mode == "F" and tags is not None else None
    if text is None:
        return im
    try:
        mark = float(str(text).strip("\0 "))
    except ValueError:
        return im
    if mark != mark:  # NaN marks itself
        return im
    return ImageMath.lambda_eval(lambda a: a["v"] - (a["v"] == mark) * 3e38, v=im)


def _data_extrema(im: Image.Image) -> tuple[float, float]:
    """The lowest and highest values that are data; 0, 0 where none are."""
    data = ImageMath.lambda_eval(lambda a: abs(a["v"]) <= _NO_DATA, v=im)  # NaN <= x: false
    # min and max give NaN their other argument: every value is then a number.
    bounded = ImageMath.lambda_eval(lambda a: a["min"](a["max"](a["v"], -_NO_DATA), _NO_DATA), v=im)
    away = ImageMath.lambda_eval(lambda a: (1 - a["d"]) * 3 * _NO_DATA, d=data)
    low = ImageMath.lambda_eval(lambda a: a["b"] + a["w"], b=bounded, w=away).getextrema()[0]
    high = ImageMath.lambda_eval(lambda a: a["b"] - a["w"], b=bounded, w=away).getextrema()[1]
    return (low, high) if low <= high else (0.0, 0.0)


# How many of a float picture's values (data) must lie in 0-1 for it to be
# read so. A stray 1% (ringing, hot pixels) is clipped; more past 1 is data
# of another range. (A sparse 0-255 picture, stars on black, is read as 0-1
# all the same, its stars clipped: read as 0-255 it would be near black.)
_UNIT_SHARE = 0.99


def _mostly_unit(im: Image.Image, low: float, high: float, data: int) -> bool:
    if low >= 0 and high <= 1:
        return True
    # Values within a 255th outside 0-1 count as in: they clip to the same.
    return sum(im.histogram(extrema=(0.0, 1.0))) >= _UNIT_SHARE * data


def wide_gray(im: Image.Image) -> tuple[Image.Image, str]:
    """32-bit gray (I or F) as I holding 0..65535, and how it was read."""
    im, reading = _marked(im)
    if reading.clipped:  # min and max give NaN their bound
        im = ImageMath.lambda_eval(
            lambda a: a["min"](a["max"](a["v"], reading.low), reading.high), v=im
        )
    elif reading.scale == 1 and reading.offset == 0 and im.mode == "I":
        return im, reading.said
    # Rounded, not cut (convert("I") cuts): half a level's bias over the picture.
    scaled = im.point(lambda v: v * reading.scale + reading.offset + 0.5)
    return scaled.convert("I"), reading.said


def black_and_white(im: Image.Image) -> bool:
    """Whether gray `im` holds no value but 0 and 255."""
    return not any(im.histogram()[1:255])


def target_mode(im: Image.Image, target: Target) -> Image.Image:
    """Convert a working-mode image to one `target` can store."""
    mode = im.mode
    if mode == "I":
        if target.high_bit_depth:
            return im.convert("I;16")
        im = im.point(lambda v: v / 257 + 0.5).convert("L")  # rounded, not cut: no bias
        mode = "L"
    if mode in target.modes:
        out = im
    elif mode in ("RGBA", "LA"):
        if not target.alpha:
            return _flatten(im, "L" if mode == "LA" and "L" in target.modes else "RGB")
        out = im.convert("RGBA")
    else:
        return im.convert("RGB")
    return _cleared(out) if target.hidden_bleeds and out.mode == "RGBA" else out


def _cleared(im: Image.Image) -> Image.Image:
    """RGBA `im` with black under its fully transparent pixels: neutral in
    chroma, so that what was hidden there (red under a blue logo's clear
    corners) cannot tint the visible pixels an encoder blends it with."""
    alpha = im.getchannel("A")
    if alpha.getextrema()[0] > 0:
        return im  # nothing fully transparent
    shown = alpha.point(lambda a: 255 if a else 0)
    return Image.composite(im, Image.new("RGBA", im.size), shown)


def _flatten(im: Image.Image, mode: str) -> Image.Image:
    """Composite on white so that colour hidden under transparent pixels never shows."""
    rgba = im.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (*WHITE, 255))
    return Image.alpha_composite(background, rgba).convert(mode)
