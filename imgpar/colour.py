"""Colour management: carry the source's ICC profile, or convert the pixels to
sRGB through it with littleCMS (Pillow's ImageCms).

Pixels and profile always travel together here: whenever the pixels change
colour space, the profile that is embedded changes with them, because a
profile that describes other pixels (a CMYK profile in an RGB file) makes
every colour-managed viewer show wrong colours.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import struct
import warnings
from collections.abc import Iterator, Mapping
from functools import cache
from types import ModuleType
from typing import IO, TYPE_CHECKING

from imgpar import profiles
from imgpar.formats import Target
from imgpar.metadata import EXIF_IFD, INTEROP_IFD

if TYPE_CHECKING:
    from PIL import Image, ImageCms

# EXIF tags (in the Exif and the interoperability IFD) that name a colour space.
_COLOR_SPACE = 0xA001
_INTEROP_INDEX = 0x0001

# The ICC header's colour space signature (bytes 16-20) for each working mode.
_SPACE = {
    "RGB": b"RGB ",
    "RGBA": b"RGB ",
    "L": b"GRAY",
    "LA": b"GRAY",
    "I": b"GRAY",
    "CMYK": b"CMYK",
}

# Distinct profiles seen by one worker are few (a camera's, an editor's), so a
# small cache holds them all; it is cleared rather than aged when full.
_CACHE_SIZE = 32
_transforms: dict[tuple[bytes, str, str], ImageCms.ImageCmsTransform | None] = {}


DAMAGED = "ICC profile is damaged: not copied, colours taken as sRGB"
MISMATCHED = "ICC profile does not match the pixels: not copied, colours taken as sRGB"


class ProfileError(Exception):
    """littleCMS could not read a profile, or build or apply a transform."""


@contextlib.contextmanager
def _littlecms() -> Iterator[ModuleType]:
    """Pillow's littleCMS binding, its errors raised as ProfileError.

    Imported here, on first use: most files pass their profile through
    untouched, and loading littleCMS costs a process ~8 ms.
    """
    from PIL import ImageCms

    try:
        yield ImageCms
    except ImageCms.PyCMSError as exc:
        raise ProfileError(exc) from exc


@cache
def _srgb() -> ImageCms.ImageCmsProfile:
    with _littlecms() as cms:
        return cms.ImageCmsProfile(cms.createProfile("sRGB"))


@cache
def srgb_profile() -> bytes:
    """littleCMS's built-in sRGB profile, about 600 bytes, with no creation
    date: littleCMS stamps the time it was made, and the same source and
    options must give the same bytes on every run."""
    icc = _srgb().tobytes()
    return icc[:24] + bytes(12) + icc[36:]


def source_profile(im: Image.Image, exif: Image.Exif, source: IO[bytes]) -> bytes | None:
    """The ICC profile that says what an opened image's colours mean; None
    for sRGB or untagged colour. `exif` is `im.getexif()`, and `source` the
    open file `im` was read from: Pillow reports neither an AVIF's nclx nor a
    PNG's cICP, and may have let go of its own handle by now.

    What the file names that no profile can describe (an HDR curve, an
    unknown code, a broken chunk) gives way to an embedded profile, else is
    read as sRGB with a warning that reaches the file's result.
    """
    icc = page_profile(im) if im.format == "TIFF" else im.info.get("icc_profile")
    embedded = icc if isinstance(icc, bytes) and icc else None
    if embedded is not None and len(embedded) >= 4:
        declared = struct.unpack_from(">I", embedded)[0]
        if 128 <= declared < len(embedded):
            # Bytes past the size its header gives: no reader looks at them,
            # and every output would carry them (3 MB on a 588-byte profile).
            embedded = embedded[:declared]
    if im.format == "PNG" and "icc_profile" in im.info and icc is None:
        # Pillow's mark of an iCCP chunk whose data does not inflate.
        warnings.warn(DAMAGED, stacklevel=2)
    try:
        return _named_or(embedded, im, exif, source)
    except profiles.Unsupported as exc:
        if embedded is None:
            warnings.warn(str(exc), stacklevel=2)
        return embedded


def page_profile(im: Image.Image) -> bytes | None:
    """The ICC profile of the TIFF page `im` is at. Pillow's `info` keeps a
    profile from page to page where the next has none: once its pages were
    counted, a first page's colours were read in the last page's profile."""
    from PIL import TiffImagePlugin

    icc = getattr(im, "tag_v2", {}).get(TiffImagePlugin.ICCPROFILE)
    return icc if isinstance(icc, bytes) and icc else None


def _named_or(
    embedded: bytes | None, im: Image.Image, exif: Image.Exif, source: IO[bytes]
) -> bytes | None:
    """The profile by precedence: a PNG's cICP (above all in PNG's third
    edition), the embedded profile, nclx code points (HEIF, AVIF), a PNG's
    sRGB chunk before its gAMA and cHRM, EXIF's Adobe RGB."""
    if im.format == "PNG":
        cicp = profiles.read_png_cicp(source)
        if cicp is not None:
            return profiles.from_nclx(cicp)
    if embedded is not None:
        return embedded
    if im.format == "AVIF":
        described = profiles.read_avif_nclx(source)
    else:
        described = im.info.get("nclx_profile")  # pillow-heif's
    if isinstance(described, Mapping):
        return profiles.from_nclx(described)
    if im.format == "PNG" and "srgb" not in im.info:
        gamma, chromaticity = im.info.get("gamma"), im.info.get("chromaticity")
        if gamma is not None or chromaticity is not None:
            gray = im.mode in ("1", "L", "LA", "I") or im.mode.startswith("I;16")
            return profiles.from_png(gamma, chromaticity, gray=gray)
    return profiles.adobe_rgb() if _exif_says_adobe_rgb(exif) else None


def _exif_says_adobe_rgb(exif: Image.Exif) -> bool:
    # DCF's option file: colour space "uncalibrated" (0xFFFF) and the
    # interoperability index R03. Some cameras write colour space 2 instead.
    # A damaged block says nothing: the file converts as if it were absent.
    try:
        space = exif.get_ifd(EXIF_IFD).get(_COLOR_SPACE)
        if space == 2:
            return True
        index = exif.get_ifd(INTEROP_IFD).get(_INTEROP_INDEX) if space == 0xFFFF else None
    except (ValueError, TypeError, KeyError, OSError, struct.error):
        return False
    return isinstance(index, str) and index.strip("\0 ") == "R03"


def profile_space(icc: bytes | None) -> bytes | None:
    """The colour space an ICC profile describes (b"RGB ", b"GRAY", b"CMYK"...),
    read from its header; None when there is no profile or no valid header."""
    if not icc or len(icc) < 128 or icc[36:40] != b"acsp":
        return None
    return icc[16:20]


def intact(icc: bytes) -> bool:
    """Whether the tags that say what an ICC profile's colours are lie
    within its bytes: a profile cut short (a JPEG's APP2 chunk lost, a
    truncated file) keeps a valid header, and without this would be copied
    into every output. One whose text (its copyright) is said to run past
    its end, all its bytes there, is whole for colour, as littleCMS reads it."""
    if profile_space(icc) is None or len(icc) < 132:
        return False
    # Shorter than its header says: cut short, which browsers' colour
    # management (skcms) refuses whole.
    if struct.unpack_from(">I", icc, 0)[0] > len(icc):
        return False
    (count,) = struct.unpack_from(">I", icc, 128)
    if count == 0 or 132 + 12 * count > len(icc):
        return False
    found = False
    for i in range(count):
        signature, offset, size = struct.unpack_from(">4sII", icc, 132 + 12 * i)
        if signature in _COLOUR_TAGS:
            found = True
            if offset + size > len(icc):
                return False
    return found


# The tags from which colour management computes colours: a matrix profile's
# colourants, curves and white, a gray one's curve, a LUT profile's tables.
_COLOUR_TAGS = frozenset(
    {b"rXYZ", b"gXYZ", b"bXYZ", b"rTRC", b"gTRC", b"bTRC", b"kTRC", b"wtpt", b"chad",
     b"A2B0", b"A2B1", b"A2B2", b"B2A0", b"B2A1", b"B2A2"}
)  # fmt: skip


def fits(icc: bytes, mode: str) -> bool:
    """Whether `icc` can describe pixels in `mode`, a working mode (see
    imaging.working_mode). A profile made for other pixels (a CMYK profile
    in an RGB file), or bytes that are no profile at all, is never copied."""
    space = _SPACE.get(mode)
    return space is None or profile_space(icc) == space


def is_srgb(icc: bytes) -> bool:
    """Whether the profile is a variant of sRGB: every one ("sRGB IEC61966-2.1",
    "sRGB built-in", "sRGB2014") names itself so."""
    return (description(icc) or "").startswith("sRGB")


def description(icc: bytes) -> str | None:
    """The profile's own name ("Display P3", "sRGB IEC61966-2.1"...), or None."""
    try:
        return (_profile(icc).profile.profile_description or "").strip() or None
    except (ProfileError, OSError, ValueError):
        return None


# The most profile a JPEG holds: 255 APP2 markers of 65,519 bytes each.
_JPEG_ICC_LIMIT = 255 * 65519


def for_target(
    im: Image.Image, icc: bytes | None, target: Target, *, srgb: bool
) -> tuple[Image.Image, bytes | None]:
    """The pixels to hand to `target` and the ICC profile that describes them.

    `im` is in a working mode (see imaging.working_mode). Without `srgb` the
    pixels and profile pass through unchanged, unless the target cannot hold
    them as they are (CMYK outside TIFF, gray in WebP): then the pixels are
    converted through the profile to sRGB. With `srgb` every tagged source is
    converted, and RGB outputs embed sRGB.
    """
    space = _SPACE.get(im.mode)
    if space is None:
        return im, icc
    if icc and target.name == "jpeg" and len(icc) > _JPEG_ICC_LIMIT:
        # Its APP2 markers count to 255: past that, a JPEG no reader takes
        # the profile from, and the colours of another space shown as sRGB.
        warnings.warn(
            f"ICC profile too large for JPEG ({len(icc) / 2**20:.1f} MiB): the pixels"
            " converted to sRGB", stacklevel=2,
        )  # fmt: skip
        srgb = True
    if icc and not intact(icc):
        warnings.warn(DAMAGED, stacklevel=2)
        icc = None
    elif icc and not fits(icc, im.mode):
        warnings.warn(MISMATCHED, stacklevel=2)
        icc = None
    try:
        return _for_target(im, icc, space, target, srgb=srgb)
    except (ProfileError, OSError):
        warnings.warn(DAMAGED, stacklevel=2)
        return _for_target(im, None, space, target, srgb=srgb)


def _for_target(
    im: Image.Image, icc: bytes | None, space: bytes, target: Target, *, srgb: bool
) -> tuple[Image.Image, bytes | None]:
    if space == b"CMYK":
        return _from_cmyk(im, icc, target, srgb=srgb)
    if space == b"GRAY":
        return _from_gray(im, icc, target, srgb=srgb)
    if not srgb:
        return im, icc
    return (_convert(im, icc, im.mode) if icc else im), srgb_profile()


def _from_cmyk(
    im: Image.Image, icc: bytes | None, target: Target, *, srgb: bool
) -> tuple[Image.Image, bytes | None]:
    if not srgb and "CMYK" in target.modes:
        return im, icc
    if icc:
        return _convert(im, icc, "RGB"), srgb_profile()
    # No profile means no defined colour, and no CMYK profile ships with Pillow
    # or littleCMS: Pillow's plain inversion keeps pure inks pure rather than
    # guessing a printing press. Untagged output is read as sRGB anyway.
    return im.convert("RGB"), srgb_profile() if srgb else None


def _from_gray(
    im: Image.Image, icc: bytes | None, target: Target, *, srgb: bool
) -> tuple[Image.Image, bytes | None]:
    if im.mode == "I" and target.high_bit_depth:
        # sRGB is an RGB profile and cannot describe gray samples; converting
        # would cost 16-bit gray its tonal range, so it keeps its own profile.
        if srgb and icc:
            warnings.warn(
                f"16-bit gray keeps its gray ICC profile in {target.name}: --srgb converts it"
                " only for 8-bit formats",
                stacklevel=2,
            )
        return im, icc
    stays_gray = stores_gray(im.mode, target)
    if icc is None:
        # Untagged gray is read as sRGB gray; an RGB target gets sRGB embedded
        # when asked, a gray one has no profile that could say so.
        return im, srgb_profile() if srgb and not stays_gray else None
    if stays_gray and not srgb:
        return im, icc
    alpha = im.getchannel("A") if im.mode == "LA" else None
    gray = im.convert("L") if alpha is not None else im
    if gray.mode == "I":
        # 0..65535 in 32-bit samples: exact in I;16, which littleCMS reads.
        gray = gray.convert("I;16")
    rgb = _convert(gray, icc, "RGB")
    if stays_gray:
        # Neutral in, neutral out: the sRGB gray level, embedded as untagged gray.
        rgb, profile = rgb.convert("L"), None
    else:
        profile = srgb_profile()
    if alpha is not None:
        rgb.putalpha(alpha)
    return rgb, profile


def stores_gray(mode: str, target: Target) -> bool:
    """Whether `target` stores gray pixels of `mode` (L, LA, I) as gray, where
    a gray profile still describes them. Gray with alpha stays gray only
    where the target holds LA: WebP and AVIF store it as RGBA (JPEG flattens
    it to L)."""
    if mode == "LA" and target.alpha:
        return "LA" in target.modes
    return "L" in target.modes or (mode == "I" and target.high_bit_depth)


def _convert(im: Image.Image, icc: bytes, out_mode: str) -> Image.Image:
    """`im`'s pixels from `icc` to sRGB; alpha, if any, is copied unchanged."""
    if im.mode == "RGBA":
        out_mode = "RGBA"
    transform = _transform(icc, im.mode, out_mode)
    if transform is None:
        return im
    with _littlecms() as cms:
        return cms.applyTransform(im, transform)


def _transform(icc: bytes, in_mode: str, out_mode: str) -> ImageCms.ImageCmsTransform | None:
    """The cached transform from `icc` to sRGB; None when `icc` is sRGB already."""
    key = (hashlib.blake2b(icc, digest_size=16).digest(), in_mode, out_mode)
    if key in _transforms:
        return _transforms[key]
    if len(_transforms) >= _CACHE_SIZE:
        _transforms.clear()
    source = _profile(icc)
    transform = None
    # Converting sRGB to sRGB would only add rounding.
    if in_mode != out_mode or not is_srgb(icc):
        with _littlecms() as cms:
            # Perceptual keeps gradations in out-of-gamut areas (CMYK blacks,
            # wide-gamut greens); for matrix/TRC profiles littleCMS treats it
            # as relative colorimetric.
            transform = cms.buildTransform(
                source, _srgb(), in_mode, out_mode, renderingIntent=cms.Intent.PERCEPTUAL
            )
    _transforms[key] = transform
    return transform


def _profile(icc: bytes) -> ImageCms.ImageCmsProfile:
    with _littlecms() as cms:
        return cms.ImageCmsProfile(io.BytesIO(icc))
