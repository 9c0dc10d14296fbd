"""`imgpar info`: what imgpar sees in an image, and what `convert` would do with it.

Headers and metadata are read, then the pixels are decoded (JPEGs at 1/8
scale, which still reads all their data) so that a file `convert` would fail
on is reported as failing, not as fine. The answers come from the code the
pipeline uses (opening, EXIF, colour, metadata), so they cannot drift far
from what `convert` does.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any

from PIL import Image, ImageSequence

from imgpar import colour, cstderr, geometry, imaging, metadata, pipeline
from imgpar.formats import TARGETS, Target
from imgpar.limits import DEFAULT_MAX_PIXELS
from imgpar.plan import is_text, not_text

# What the pipeline does to the stored pixels for each EXIF orientation.
TURNS = {
    2: "flip left-right",
    3: "rotate 180°",
    4: "flip top-bottom",
    5: "rotate 90° clockwise and flip left-right",
    6: "rotate 90° clockwise",
    7: "rotate 90° counter-clockwise and flip left-right",
    8: "rotate 90° counter-clockwise",
}
_GPS_VERSION = 0  # present in GPS blocks that hold no position at all


def inspect(path: str, catcher: cstderr.Catcher | None = None) -> dict[str, Any]:
    """One file's facts as plain data (JSON-ready). Never raises for a bad
    file: `error` then holds a one-line reason, and the other facts are
    present only if the header could be read (the pixels could not). With
    `catcher`, what C libraries print meanwhile is told as convert tells it."""
    failure: Exception | None
    with warnings.catch_warnings(record=True) as caught, cstderr.listening(catcher) as heard:
        warnings.simplefilter("always")
        try:
            record, failure = _inspect(path)
        except Exception as exc:
            record, failure = {"path": path}, exc
    record["error"], warned, said = pipeline.hearsay(caught, heard, failure)
    record["warnings"] = list(dict.fromkeys(warned + said))
    # As convert fails it, named: by its name, which its cache key holds
    # (its folder's name is quoted there).
    if not record["error"] and not is_text(os.path.basename(path)):
        record["error"] = not_text(path)
    return record


def _inspect(path: str) -> tuple[dict[str, Any], Exception | None]:
    """The facts, and why the pixels do not decode."""
    with (
        pipeline.open_source(path) as fp,
        pipeline.open_checked(path, DEFAULT_MAX_PIXELS, fp) as im,
    ):
        bits = imaging.stored_bits(im)  # before getexif(), which may decode a PNG
        gray_alpha = pipeline.decoded_as_colour(im)
        try:
            if gray_alpha:
                imaging.gray_again(im)
            exif = im.getexif()
            damaged = None
        except Exception as exc:  # that decode met damaged pixels: the header still tells
            exif, damaged = Image.Exif(), exc
        orientation = metadata.orientation(exif)
        displayed = geometry.stored_size(
            metadata.decoded_size(im, exif), metadata.pending_orientation(im, exif)
        )
        icc = colour.source_profile(im, exif, fp)
        xmp = metadata.source_xmp(im)
        gps = any(tag != _GPS_VERSION for tag in exif.get_ifd(metadata.GPS_IFD))
        gps = gps or metadata.xmp_has_location(xmp) or not metadata.GEO_TAGS.isdisjoint(exif)
        frames = pipeline.frame_count(im, all_pages=False)
        if frames > 1 and pipeline.has_still(im):
            frames -= 1  # an APNG's still image, for viewers that cannot animate
        facts: dict[str, Any] = {
            "path": path,
            "format": im.format,
            "size": list(geometry.stored_size(displayed, orientation)),
            "displayed": list(displayed),
            "mode": im.mode,
            "bits": bits,
            "orientation": orientation,
            "icc": (colour.description(icc) or "unreadable") if icc else None,
            "camera": _camera(exif),
            "date": _date(exif),
            "gps": gps,
            "xmp": xmp is not None,
            "frames": frames,
            "animated": frames > 1 and im.format in pipeline.ANIMATED_FORMATS,
        }
        facts["convert"] = _actions(im, facts, icc)
        return facts, damaged or _decode_error(im, facts["animated"])


def _decode_error(im: Image.Image, animated: bool) -> Exception | None:
    """Why the pixels do not decode, as `convert` (default options) would
    meet it: every frame of an animation, the first page of a TIFF."""
    try:
        if im.format in ("JPEG", "MPO"):
            im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
        for frame in ImageSequence.Iterator(im) if animated else [im]:
            frame.load()
    except Exception as exc:
        return exc
    return None


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    return value.strip("\0 ") or None


def _camera(exif: Image.Exif) -> str | None:
    make, model = _text(exif.get(metadata.MAKE)), _text(exif.get(metadata.MODEL))
    if make and model and model.lower().startswith(make.lower()):
        return model  # "Canon" + "Canon EOS R5"
    return " ".join(part for part in (make, model) if part) or None


def _date(exif: Image.Exif) -> str | None:
    taken = exif.get_ifd(metadata.EXIF_IFD).get(metadata.DATETIME_ORIGINAL)
    return _text(taken) or _text(exif.get(metadata.DATETIME))


def _actions(im: Image.Image, facts: dict[str, Any], icc: bytes | None) -> list[str]:
    """What `convert` would do with default options, in the order it happens."""
    actions = []
    # convert's own test, on the mode it works in, so the two never disagree.
    intact = icc is not None and colour.intact(icc)
    usable = icc if intact and colour.fits(icc, imaging.working_mode_of(im)) else None
    if facts["orientation"] in TURNS:
        actions.append(f"{TURNS[facts['orientation']]} (written with Orientation 1)")
    if facts["frames"] > 1:
        if facts["animated"]:
            shown = "still image" if pipeline.has_still(im) else "first frame"
            actions.append(f"{shown} only for {_targets(lambda t: not t.animation)}")
        elif im.format == "TIFF":
            actions.append("first page only (--all-pages keeps every page in a TIFF)")
    if imaging.working_mode_of(im) in ("RGBA", "LA"):  # a palette's or a colour key's too
        actions.append(f"flatten alpha on white for {_targets(lambda t: not t.alpha)}")
    if icc and not intact:
        actions.append(f"drop the {facts['icc']!r} profile: it is damaged")
    elif icc and not usable:
        actions.append(f"drop the {facts['icc']!r} profile: it does not match the pixels")
    if im.mode == "CMYK":
        how = "through its ICC profile" if usable else "plain conversion (no ICC profile)"
        actions.append(f"CMYK → RGB, {how}, for {_targets(lambda t: 'CMYK' not in t.modes)}")
    if im.mode.startswith("I;16") and imaging.working_mode_of(im) == "LA":
        actions.append("16-bit → 8-bit for every target, to keep its colour key as alpha")
    elif im.mode.startswith("I;16"):
        actions.append(f"16-bit → 8-bit for {_targets(lambda t: not t.high_bit_depth)}")
    elif im.mode in ("I", "F") and (reading := _reading(im)):
        actions.append(f"32-bit gray {reading}")
        deep = _targets(lambda t: t.high_bit_depth)
        actions.append(f"32-bit → 16-bit for {deep}, 8-bit for the rest")
    elif 8 < facts["bits"] <= 16:
        actions.append(f"{facts['bits']}-bit → 8-bit for every target (decoded at 8 bits)")
    if usable and not colour.is_srgb(usable) and im.mode != "CMYK":
        mode = imaging.working_mode_of(im)
        gray = colour.profile_space(usable) == b"GRAY"
        if gray and (to_rgb := _targets(lambda t: not colour.stores_gray(mode, t))):
            actions.append(f"gray → sRGB, through its ICC profile, for {to_rgb}")
        if kept := _targets(lambda t: not gray or colour.stores_gray(mode, t)):
            every = "" if kept == _targets(lambda t: True) else f" for {kept}"
            actions.append(f"keep the {facts['icc']!r} profile{every} (--srgb converts to sRGB)")
    if facts["gps"]:
        actions.append("drop GPS and location (default --metadata no-gps)")
    return actions


def _reading(im: Image.Image) -> str | None:
    """How convert reads 32-bit gray: its range is guessed from its pixels."""
    try:
        return imaging.read_gray(im).said
    except Exception:  # pixels that do not decode: the error says so
        return None


def _targets(keep: Callable[[Target], bool]) -> str:
    return "/".join(t.name for t in TARGETS.values() if keep(t))
