"""What a written file carries from its source: EXIF and XMP under the
`--metadata` policy, always with Orientation 1.

The pixels are written upright, so any other Orientation (in EXIF or in XMP's
tiff:Orientation) would make viewers turn them a second time. The ICC profile
is colour.py's business: it follows `--srgb`, never the policy here.
"""

from __future__ import annotations

import math
import re
import struct
import warnings
from collections.abc import Mapping
from numbers import Real
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from PIL import Image, PngImagePlugin, TiffImagePlugin, TiffTags

from imgpar import profiles
from imgpar.formats import Target
from imgpar.spec import MetadataPolicy

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

ORIENTATION = 0x0112
X_RESOLUTION = 0x011A
Y_RESOLUTION = 0x011B
RESOLUTION_UNIT = 0x0128
ARTIST = 0x013B
COPYRIGHT = 0x8298
MAKE = 0x010F
MODEL = 0x0110
DATETIME = 0x0132
EXIF_IFD = 0x8769
GPS_IFD = 0x8825
DATETIME_ORIGINAL = 0x9003
INTEROP_IFD = 0xA005
COLOR_SPACE = 0xA001  # in the EXIF IFD: 1 sRGB, 2 Adobe RGB, 0xFFFF uncalibrated
PIXEL_X = 0xA002  # in the EXIF IFD: the width and height of the picture
PIXEL_Y = 0xA003
INTEROP_INDEX = 0x0001  # in the interoperability IFD: "R98" sRGB, "R03" Adobe RGB
_MAKERNOTE = 0x927C
_XMP_TAG = 700
_IPTC_TAG = 33723  # IPTC-IIM, in a TIFF

# The Exif IFD's fields by their type in the EXIF 2.32 standard. Pillow's
# table holds four of them and guesses the others' types from the values it
# decoded: a UserComment (UNDEFINED) would be written back as BYTE, and a
# positive exposure bias (signed) as unsigned.
_EXIF_TYPES = {
    TiffTags.ASCII: (
        0x8824, 0x9003, 0x9004, 0x9010, 0x9011, 0x9012, 0x9290, 0x9291, 0x9292,
        0xA004, 0xA420, 0xA430, 0xA431, 0xA433, 0xA434, 0xA435,
    ),
    TiffTags.SHORT: (
        0x8822, 0x8827, 0x8830, 0x9207, 0x9208, 0x9209, 0x9214, 0xA001, 0xA210, 0xA214,
        0xA217, 0xA401, 0xA402, 0xA403, 0xA405, 0xA406, 0xA407, 0xA408, 0xA409, 0xA40A,
        0xA40C, 0xA460, 0xA461,
    ),
    TiffTags.LONG: (0x8831, 0x8832, 0x8833, 0x8834, 0x8835),
    TiffTags.RATIONAL: (
        0x829A, 0x829D, 0x9102, 0x9202, 0x9205, 0x9206, 0x920A, 0x9401, 0x9402, 0x9404,
        0xA20B, 0xA20E, 0xA20F, 0xA215, 0xA404, 0xA432, 0xA500,
    ),
    TiffTags.SIGNED_RATIONAL: (0x9201, 0x9203, 0x9204, 0x9400, 0x9403, 0x9405),
    TiffTags.UNDEFINED: (0x8828, 0x9101, 0x927C, 0x9286, 0xA20C, 0xA300, 0xA301, 0xA40B, 0xA462),
}  # fmt: skip
_EXIF_IFD_TYPES = {tag: kind for kind, tags in _EXIF_TYPES.items() for tag in tags}
_TEXT = (TiffTags.ASCII, TiffTags.UNDEFINED)
# The whole numbers each integer type holds, and each rational type's
# numerator and denominator: least, and past the most.
_RANGES: dict[int, tuple[int, int]] = {
    TiffTags.BYTE: (0, 1 << 8),
    TiffTags.SHORT: (0, 1 << 16),
    TiffTags.LONG: (0, 1 << 32),
    TiffTags.SIGNED_SHORT: (-(1 << 15), 1 << 15),
    TiffTags.SIGNED_LONG: (-(1 << 31), 1 << 31),
    TiffTags.RATIONAL: (0, 1 << 32),
    TiffTags.SIGNED_RATIONAL: (-(1 << 31), 1 << 31),
}
_RATIONALS = (TiffTags.RATIONAL, TiffTags.SIGNED_RATIONAL)
_FLOATS = (TiffTags.FLOAT, TiffTags.DOUBLE)
# Types Pillow's table gives fields of IFD0 it does not know: PrintIM, which
# cameras write, is UNDEFINED.
_IFD0_TYPES = {0xC4A5: TiffTags.UNDEFINED}

# TIFF sources report their own layout (strips, sample format, compression,
# page number, inks...) through getexif(); copied into another file these
# describe the wrong pixels. So do their colour tags (white point, primaries,
# transfer function, YCbCr coefficients): the ICC profile, or --srgb, says
# what the output's colours are, and an Adobe RGB TIFF's output claimed
# sRGB's primaries. Container blocks go too: XMP travels on its own
# (filtered), and IPTC-IIM and Photoshop resources hold location fields
# this module does not parse. So do a GeoTIFF's and GDAL's tags: where on
# the Earth the source's pixels lie, wrong for resized ones, and a place.
GEO_TAGS = frozenset({33550, 33922, 34264, 34735, 34736, 34737})  # what imgpar info calls GPS
_NOT_COPIED = GEO_TAGS | {42112, 42113} | frozenset(
    {
        254, 255, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 284, 297, 301, 317,
        318, 319, 320, 321, 322, 323, 324, 325, 330, 332, 333, 334, 336, 338, 339, 340,
        341, 513, 514, 529, 530, 531, 532,
        _XMP_TAG,
        _IPTC_TAG,
        34377,  # Photoshop image resources
        34675,  # ICC profile
        37724,  # Photoshop layers
    }
)  # fmt: skip

# Pillow's JPEG writer holds EXIF and XMP in one marker segment each.
_JPEG_EXIF_LIMIT = 65533
_JPEG_XMP_LIMIT = 65504

_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_DESCRIPTION = f"{{{_RDF}}}Description"
_EXIF_NS = "http://ns.adobe.com/exif/1.0/"
_TIFF_NS = "http://ns.adobe.com/tiff/1.0/"
_TIFF_ORIENTATION = f"{{{_TIFF_NS}}}Orientation"
_DC = "http://purl.org/dc/elements/1.1/"
_XMP_RIGHTS = "http://ns.adobe.com/xap/1.0/rights/"
_PHOTOSHOP = "http://ns.adobe.com/photoshop/1.0/"
_IPTC_CORE = "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"
_IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
_XMP_DM = "http://ns.adobe.com/xmp/1.0/DynamicMedia/"
_DJI = "http://www.dji.com/drone-dji/1.0/"
_MEDIAPRO = "http://ns.iview-multimedia.com/mediapro/1.0/"
# What XMP says of the colour space, as EXIF's ColorSpace and a Photoshop
# document's profile name, with the words for sRGB.
_SAYS_SRGB = {
    f"{{{_EXIF_NS}}}ColorSpace": "1",
    f"{{{_PHOTOSHOP}}}ICCProfile": "sRGB IEC61966-2.1",
}
# The picture's size, as cameras and editors write it: (width, height) names.
_XMP_SIZES = (
    (f"{{{_EXIF_NS}}}PixelXDimension", f"{{{_EXIF_NS}}}PixelYDimension"),
    (f"{{{_TIFF_NS}}}ImageWidth", f"{{{_TIFF_NS}}}ImageLength"),
)

# Where a picture was taken, beyond any property whose name starts with "GPS"
# (exif:GPSLatitude, drone-dji:GpsLongitude...).
_PLACES = frozenset(
    {
        f"{{{_DC}}}coverage",
        *(f"{{{_MEDIAPRO}}}{part}" for part in ("Location", "City", "State", "Country")),
        f"{{{_PHOTOSHOP}}}City",
        f"{{{_PHOTOSHOP}}}State",
        f"{{{_PHOTOSHOP}}}Country",
        f"{{{_IPTC_CORE}}}Location",
        f"{{{_IPTC_CORE}}}CountryCode",
        f"{{{_IPTC_EXT}}}LocationCreated",
        f"{{{_IPTC_EXT}}}LocationShown",
        f"{{{_IPTC_EXT}}}City",
        f"{{{_IPTC_EXT}}}Sublocation",
        f"{{{_IPTC_EXT}}}ProvinceState",
        f"{{{_IPTC_EXT}}}CountryName",
        f"{{{_IPTC_EXT}}}CountryCode",
        f"{{{_XMP_DM}}}shotLocation",
        f"{{{_DJI}}}AbsoluteAltitude",  # height above sea level: exif:GPSAltitude again
    }
)
# Where its creator lives, dropped with the places: the postal address of
# Iptc4xmpCore:CreatorContactInfo (its e-mail, phone and web address stay,
# for licensing).
_ADDRESS = frozenset(
    f"{{{_IPTC_CORE}}}CiAdr{part}" for part in ("Extadr", "City", "Region", "Pcode", "Ctry")
)
_CREDITS = frozenset({f"{{{_DC}}}creator", f"{{{_DC}}}rights"})

_XPACKET_BEGIN = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
_XPACKET_END = '\n<?xpacket end="w"?>'


def orientation(exif: Image.Exif) -> int:
    value = exif.get(ORIENTATION, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def pending_orientation(im: Image.Image, exif: Image.Exif) -> int:
    """The orientation still to apply to the pixels Pillow decodes from `im`.

    Pillow's TIFF reader decodes the pixels already upright; turning them
    again would undo it.
    """
    return 1 if im.format == "TIFF" else orientation(exif)


def decoded_size(im: Image.Image, exif: Image.Exif) -> tuple[int, int]:
    """The size of the pixels Pillow decodes from `im`: the size it reports,
    save for a TIFF whose orientation only its XMP gives. Pillow reports a
    TIFF's size upright by its orientation tag alone, but turns the pixels
    as they load by getexif(), which reads XMP's too: planned by the size
    reported, the picture came out stretched to the other shape."""
    sideways = orientation(exif) in (5, 6, 7, 8)
    if im.format == "TIFF" and sideways and ORIENTATION not in getattr(im, "tag_v2", {}):
        return im.height, im.width
    return im.size


# A length past any real EXIF: a damaged or hostile chunk is not read whole.
_MOST_EXIF = 1 << 24


def header_exif(im: Image.Image) -> Image.Exif:
    """`im`'s EXIF, read without its pixels: a PNG's getexif() decodes them
    all, looking for an eXIf chunk after them, where stepping from chunk
    header to chunk header reaches it."""
    if im.format != "PNG" or "exif" in im.info:
        return im.getexif()
    # The base reads what the header holds (ImageMagick's EXIF text chunk,
    # XMP's orientation) without the pixels.
    exif = Image.Image.getexif(im)
    return exif if ORIENTATION in exif else _late_png_exif(im.fp)


def _late_png_exif(fp: IO[bytes]) -> Image.Exif:
    """The EXIF of a PNG whose eXIf chunk follows its pixels; empty if there
    is none to read."""
    exif = Image.Exif()
    data = profiles.png_chunk(fp, b"eXIf", until=b"IEND", most=_MOST_EXIF)
    try:
        if data:
            exif.load(data)
    except Exception:  # damaged: read as none
        return Image.Exif()
    return exif


class Carried(NamedTuple):
    """What a file passes on under a policy, worked out once per file."""

    exif: Image.Exif  # filtered, Orientation 1, sub-IFDs as dicts
    xmp: bytes | None
    comment: bytes  # JPEG's COM marker
    dpi: tuple[float, float] | None  # print resolution, whatever the policy


# PNG's own text keywords for the credits, and the EXIF fields that say the same.
_PNG_CREDITS = {"Author": ARTIST, "Copyright": COPYRIGHT}


def carry(im: Image.Image, exif: Image.Exif, policy: MetadataPolicy, turned: int) -> Carried:
    """`im`'s EXIF, XMP, comment and print resolution as `policy` keeps them.

    `exif` is `im.getexif()`, read before the pixels were loaded, and
    `turned` the orientation its pixels are turned by, whether Pillow (a
    TIFF's, which then drops the tag) or imgpar turns them. A comment can
    hold anything, location included, so only `all` keeps it. A PNG's Author
    and Copyright text go into EXIF's Artist and Copyright where EXIF has
    none: only EXIF and XMP travel to every target.
    """
    kept = _exif(exif, policy)
    xmp = source_xmp(im)
    if policy != "none" and xmp is None and has_iptc(im, exif):
        # An older newswire tool's credits: none of them travels.
        warnings.warn("IPTC-IIM caption and credits not copied: imgpar copies IPTC fields"
                      " from XMP only, and the file has no XMP", stacklevel=2)  # fmt: skip
    if turned > 1 and policy in ("all", "no-gps"):
        # Said where Pillow dropped the tag: what turned it is still known.
        kept[ORIENTATION] = 1
    if im.format == "PNG" and policy != "none":
        for keyword, tag in _PNG_CREDITS.items():
            text = im.info.get(keyword)
            if isinstance(text, str) and text.strip() and tag not in kept:
                kept[tag] = text.encode("utf-8")
    dpi = _upright_dpi(_dpi(im, exif), turned)
    if dpi and X_RESOLUTION in kept:
        # Said once for the outputs: a JFIF density and an EXIF resolution
        # that disagree leave readers to pick, and a turned photo's are turned.
        x, y = (TiffImagePlugin.IFDRational(v) for v in dpi)
        kept.update({X_RESOLUTION: x, Y_RESOLUTION: y, RESOLUTION_UNIT: 2})
    return Carried(
        exif=kept,
        xmp=filter_xmp(xmp, policy),
        comment=_comment(im) if policy == "all" else b"",
        dpi=dpi,
    )


def has_iptc(im: Image.Image, exif: Image.Exif) -> bool:
    """Whether `im` holds an IPTC-IIM record: a JPEG's Photoshop block
    (resource 0x0404), a TIFF's tag, a PNG's text as ImageMagick writes it."""
    resources = im.info.get("photoshop")
    return (
        (isinstance(resources, dict) and 0x0404 in resources)
        or _IPTC_TAG in exif
        or "Raw profile type iptc" in im.info
    )


def _upright_dpi(dpi: tuple[float, float] | None, orientation: int) -> tuple[float, float] | None:
    """The resolution of the pixels turned upright: turned a quarter, a
    scan's 200 x 100 dpi are 100 x 200."""
    return dpi[::-1] if dpi and orientation in (5, 6, 7, 8) else dpi


def _dpi(im: Image.Image, exif: Image.Exif) -> tuple[float, float] | None:
    """The print resolution the source states, as its writer meant it; None
    where it states none, though Pillow then says 72 dpi (a JPEG with EXIF
    but no resolution unit) or 1 (a TIFF)."""
    if im.format in ("JPEG", "MPO") and im.info.get("jfif_unit") not in (1, 2):
        value = _exif_dpi(exif)  # JFIF gives only an aspect ratio
    elif im.format == "TIFF" and X_RESOLUTION not in exif:
        return None
    else:
        value = im.info.get("dpi")
    if not (isinstance(value, tuple) and len(value) == 2 and _fits(value, TiffTags.DOUBLE)):
        return None
    if not all(0 < v < 1e6 for v in value):  # none given (0), unknown (0/0), or nonsense
        return None
    # PNG and BMP store dots per metre: 300 dpi reads back as 299.9994, and
    # half a dot per metre is 0.0127 dpi.
    x, y = (round(v) if abs(v - round(v)) < 0.015 else v for v in value)
    return x, y


def _exif_dpi(exif: Image.Exif) -> tuple[Any, Any] | None:
    """EXIF's resolution in dots per inch: its unit is inches unless it says
    centimetres (3), and none at all (1) states no print size."""
    x = exif.get(X_RESOLUTION)
    y = exif.get(Y_RESOLUTION, x)
    if exif.get(RESOLUTION_UNIT, 2) not in (2, 3) or not _fits((x, y), TiffTags.DOUBLE):
        return None
    per_inch = 2.54 if exif.get(RESOLUTION_UNIT) == 3 else 1
    return x * per_inch, y * per_inch


def save_options(
    carried: Carried, target: Target, size: tuple[int, int], *, srgb: bool = False
) -> dict[str, Any]:
    """The save() keywords that write `carried` into `target`; `size`: the
    output's pixels, which EXIF's and XMP's own size fields then say (a
    photo resized or turned upright kept its camera's 6000 x 4000); `srgb`:
    the pixels were converted to sRGB, which EXIF's and XMP's colour space
    then say.

    Keywords are returned even when empty, so that no encoder falls back on
    metadata it finds on the image object itself.
    """
    out_exif = Image.Exif()
    for tag, value in carried.exif.items():
        if isinstance(value, dict):
            if "exif" not in target.metadata:
                continue  # a writer that keeps only EXIF's first IFD (see formats.py)
            value = dict(value)  # the JPEG size limit below may trim it
            if tag == EXIF_IFD:
                for field, pixels in ((PIXEL_X, size[0]), (PIXEL_Y, size[1])):
                    if field in value:
                        value[field] = pixels
                if srgb:
                    _say_srgb(value)
        out_exif[tag] = value
    xmp = carried.xmp
    said: dict[str, str] = {}
    if xmp and (b"Dimension" in xmp or b"ImageWidth" in xmp or b"ImageLength" in xmp):
        said = {n: str(v) for names in _XMP_SIZES for n, v in zip(names, size, strict=True)}
    if srgb and xmp and (b"ColorSpace" in xmp or b"ICCProfile" in xmp):
        said.update(_SAYS_SRGB)
    if xmp and said:
        xmp = _xmp_says(xmp, said)
    if target.name == "avif":
        # Pillow's AVIF writer takes an Orientation out into its own boxes,
        # decoding and encoding the EXIF again on the way (its text as
        # ASCII); 1, upright, is what no Orientation says.
        out_exif.pop(ORIENTATION, None)
    # WebP and AVIF have no field of their own for it (EXIF's may say it).
    dpi = {"dpi": carried.dpi} if carried.dpi and target.name in ("jpeg", "png", "tiff") else {}
    if target.name == "tiff":
        # Pillow's TIFF writer types IFD0's fields by its own table: the
        # text of those it knows for text is given as its bytes. One whose
        # value is not of its type there (a DocumentName stored as a
        # number) libtiff refuses, failing the file, or crashes on.
        tiff_exif = Image.Exif()
        for tag, value in out_exif.items():
            standard = TiffTags.lookup(tag).type
            kind, typed = _typed(tag, None, value)
            if standard is not None and kind != standard and not _fits(value, standard):
                warnings.warn(f"EXIF field 0x{tag:04X} is not of its type: not copied to tiff",
                              stacklevel=2)  # fmt: skip
                continue
            tiff_exif[tag] = typed if kind == standard else value
        if xmp:
            tiff_exif[_XMP_TAG] = xmp
        return {"exif": tiff_exif, **dpi}
    if target.name == "jpeg":
        exif, xmp = _fit_jpeg(out_exif, xmp)
    else:
        exif = _exif_bytes(out_exif)
    options: dict[str, Any] = {"exif": exif, **dpi}
    if target.name == "png":
        info = PngImagePlugin.PngInfo()
        if xmp:
            info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8"))
        options["pnginfo"] = info
    else:
        options["xmp"] = xmp or b""
    if target.name == "jpeg":
        options["comment"] = carried.comment
    return options


def _say_srgb(ifd: dict[int, Any]) -> None:
    """Make an EXIF IFD say sRGB where it said Adobe RGB (ColorSpace 2, or
    uncalibrated with the interoperability index R03, as cameras write it):
    converted pixels with the old words are read as Adobe RGB again by
    anything that reads EXIF, or by imgpar once a CDN strips the profile."""
    if COLOR_SPACE in ifd:
        ifd[COLOR_SPACE] = 1
    interop = ifd.get(INTEROP_IFD)
    if isinstance(interop, dict) and interop.get(INTEROP_INDEX) == "R03":
        ifd[INTEROP_IFD] = {**interop, INTEROP_INDEX: "R98"}


def _comment(im: Image.Image) -> bytes:
    comment = im.info.get("comment", b"")
    return comment.encode("utf-8") if isinstance(comment, str) else comment


def _exif(exif: Image.Exif, policy: MetadataPolicy) -> Image.Exif:
    out = Image.Exif()
    if policy == "none":
        return out
    if policy == "copyright":
        for tag in (ARTIST, COPYRIGHT):
            if tag in exif:
                out[tag] = exif[tag]
        return out
    for tag, value in exif.items():
        if tag in _NOT_COPIED or (tag == GPS_IFD and policy == "no-gps"):
            continue
        if tag in (EXIF_IFD, GPS_IFD):
            value = _sub_ifd(exif, tag)
            if policy == "no-gps":
                # A maker's own block, opaque here, holds places too: a
                # home town (Pentax, Casio), a city and landmark (Panasonic).
                value.pop(_MAKERNOTE, None)
            if not value:
                continue
        out[tag] = value
    if ORIENTATION in out:
        out[ORIENTATION] = 1
    return out


def _sub_ifd(exif: Image.Exif, tag: int) -> dict[int, Any]:
    value = exif[tag]
    ifd = dict(value if isinstance(value, dict) else exif.get_ifd(tag))
    if tag == EXIF_IFD and INTEROP_IFD in ifd:
        # An offset into the source file; the interoperability IFD itself goes along.
        interop = exif.get_ifd(INTEROP_IFD)
        if interop:
            ifd[INTEROP_IFD] = dict(interop)
        else:
            del ifd[INTEROP_IFD]
    return ifd


# Where an EXIF block written here begins its first IFD: little-endian, at byte 8.
_HEAD = b"II*\x00\x08\x00\x00\x00"


def _exif_bytes(exif: Mapping[int, Any]) -> bytes:
    """The EXIF block that holds `exif` (IFD0's fields, sub-IFDs as dicts):
    each field in its standard type where its value is of that type, else
    in the type the value shows (the smallest that holds it, as Pillow
    would guess); text as the bytes it was read from (Pillow decodes text
    as Latin-1 and would write it as ASCII, turning the © of a UTF-8 credit
    into "?"). Pillow's own Exif.tobytes() guesses every sub-IFD field's
    type from its value: a UserComment would become BYTE."""
    if not exif:
        return b""
    try:
        return b"Exif\x00\x00" + _HEAD + _ifd_bytes(exif, None, 8)
    except (TypeError, ValueError, struct.error) as exc:  # a value no type can hold
        warnings.warn(f"EXIF could not be written ({exc}): not copied", stacklevel=3)
        return b""


def _ifd_bytes(fields: Mapping[int, Any], group: int | None, at: int) -> bytes:
    """`fields` as an IFD that starts `at` bytes into the TIFF data, its
    sub-IFDs after it."""
    subs = {tag: value for tag, value in fields.items() if isinstance(value, dict)}
    ifd = _ifd({tag: 0 if tag in subs else value for tag, value in fields.items()}, group, subs)
    if not subs:  # GPS, interop, most Exif IFDs: no offsets to learn first
        return ifd.tobytes(at)
    own = len(ifd.tobytes(at))  # its size, whatever its sub-IFDs' offsets
    tail = b""
    for tag, sub in subs.items():
        ifd[tag] = at + own + len(tail)
        tail += _ifd_bytes(sub, tag, ifd[tag])
    return ifd.tobytes(at) + tail


def _ifd(
    fields: Mapping[int, Any], group: int | None, pointers: Mapping[int, Any]
) -> TiffImagePlugin.ImageFileDirectory_v2:
    ifd = TiffImagePlugin.ImageFileDirectory_v2(ifh=_HEAD, group=group)
    for tag, value in fields.items():
        kind, value = (TiffTags.LONG, value) if tag in pointers else _typed(tag, group, value)
        if kind is None:
            # Pillow would fail the whole block on it, credits and all.
            warnings.warn(f"EXIF field 0x{tag:04X} holds what no EXIF type can: not copied",
                          stacklevel=5)  # fmt: skip
            continue
        ifd.tagtype[tag] = kind
        ifd[tag] = value
    return ifd


def credits_only(options: dict[str, Any]) -> dict[str, Any] | None:
    """A TIFF's save options with only Artist, Copyright and the XMP of its
    EXIF, where the TIFF writer refused the rest (a field libtiff defines
    otherwise: a FreeOffsets stored as text); None where there was no more."""
    exif = options.get("exif")
    kept = {ARTIST, COPYRIGHT, _XMP_TAG}
    if not isinstance(exif, Image.Exif) or set(exif) <= kept:
        return None
    credits = Image.Exif()
    for tag in kept & set(exif):
        credits[tag] = exif[tag]
    return {**options, "exif": credits}


def _typed(tag: int, group: int | None, value: Any) -> tuple[int | None, Any]:
    """The type to write a field of IFD `group` (None: IFD0) in, and its
    value as that type holds it; None where no type holds it."""
    ours = _EXIF_IFD_TYPES if group == EXIF_IFD else _IFD0_TYPES if group is None else {}
    standard = ours.get(tag) or TiffTags.lookup(tag, group).type
    kind = standard if standard is not None and _fits(value, standard) else _shown(value)
    if isinstance(value, str) and kind in _TEXT and not value.isascii():
        value = value.encode("latin-1")  # the bytes Pillow decoded it from
    return kind, value


def _shown(value: Any) -> int | None:
    """The type a value read from EXIF shows it was stored in, as Pillow
    would guess it for a field it knows no type for."""
    if isinstance(value, str):
        return TiffTags.ASCII
    if isinstance(value, bytes):
        return TiffTags.BYTE  # Pillow reads BYTE fields as bytes too
    values = value if isinstance(value, tuple) else (value,)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        kinds = (TiffTags.SHORT, TiffTags.LONG, TiffTags.SIGNED_SHORT, TiffTags.SIGNED_LONG)
    elif all(isinstance(v, TiffImagePlugin.IFDRational) for v in values):
        kinds = (TiffTags.RATIONAL, TiffTags.SIGNED_RATIONAL)
    elif all(isinstance(v, float) for v in values):
        kinds = (TiffTags.DOUBLE,)
    else:
        return None
    return next((kind for kind in kinds if _fits(value, kind)), None)


def _fits(value: Any, kind: int | None) -> bool:
    """Whether Pillow can write `value`, one value or a tuple, as a field of type `kind`."""
    if kind in _TEXT:
        return isinstance(value, (str, bytes))
    if kind == TiffTags.BYTE and isinstance(value, bytes):  # as Pillow reads BYTE fields
        return True
    values = value if isinstance(value, tuple) else (value,)
    if kind in _FLOATS:
        return bool(values) and all(_number(v) for v in values)
    if kind not in _RANGES:  # a type left to Pillow
        return True
    least, past = _RANGES[kind]
    return bool(values) and all(
        parts is not None and all(least <= part < past for part in parts)
        for parts in (_parts(v, kind) for v in values)
    )


def _number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _parts(value: Any, kind: int) -> tuple[float, ...] | None:
    """The numbers `value` is written as in a field of type `kind`: a
    rational's numerator and denominator (x/0 stands for an unknown value);
    None where it cannot be written as that type at all."""
    if kind not in _RATIONALS:
        return (value,) if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, TiffImagePlugin.IFDRational):
        return value.numerator, value.denominator
    if _number(value) and math.isfinite(value):
        return (value,)  # Pillow finds the fraction
    return None


def _fit_jpeg(exif: Image.Exif, xmp: bytes | None) -> tuple[bytes, bytes | None]:
    """The EXIF block and XMP packet for a JPEG, each in its 64 KB."""
    data = _exif_bytes(exif)
    if len(data) > _JPEG_EXIF_LIMIT:
        ifd = exif.get(EXIF_IFD)
        if isinstance(ifd, dict) and _MAKERNOTE in ifd:
            del ifd[_MAKERNOTE]
            warnings.warn("EXIF MakerNote too large for JPEG: not copied", stacklevel=3)
            data = _exif_bytes(exif)
        if len(data) > _JPEG_EXIF_LIMIT:
            # The credits, at least, fit: a photographer's name must not go
            # with a bulky UserComment.
            credits = {tag: exif[tag] for tag in (ARTIST, COPYRIGHT) if tag in exif}
            data = _exif_bytes(credits)
            if credits and len(data) <= _JPEG_EXIF_LIMIT:
                warnings.warn("EXIF too large for JPEG: only Artist and Copyright copied",
                              stacklevel=3)  # fmt: skip
            else:
                warnings.warn("EXIF too large for JPEG: not copied", stacklevel=3)
                data = b""
    if xmp and len(xmp) > _JPEG_XMP_LIMIT:
        # An edited master's history (xmpMM:History, photoshop:DocumentAncestors)
        # can pass 64 KB on its own; its creator and rights still fit.
        credits_xmp = filter_xmp(xmp, "copyright")
        if credits_xmp and len(credits_xmp) <= _JPEG_XMP_LIMIT:
            warnings.warn("XMP too large for JPEG: only its creator and rights copied",
                          stacklevel=3)  # fmt: skip
        else:
            warnings.warn("XMP too large for JPEG: not copied", stacklevel=3)
            credits_xmp = None
        xmp = credits_xmp
    return data, xmp


def source_xmp(im: Image.Image) -> bytes | None:
    """The XMP packet as stored in the file: JPEG, WebP, AVIF, HEIF and TIFF
    (tag 700) under "xmp", PNG's iTXt chunk under "XML:com.adobe.xmp", or
    the text chunk ImageMagick writes instead (adopt_raw_xmp)."""
    data = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    if isinstance(data, str):
        data = data.encode("utf-8")
    return data if isinstance(data, bytes) and data.strip(b"\0 \t\r\n") else None


_RAW_XMP = "Raw profile type xmp"


def adopt_raw_xmp(im: Image.Image) -> None:
    """A PNG's XMP as ImageMagick writes it, a text chunk in hex, put where
    Pillow and source_xmp read XMP (`info["xmp"]`), before its EXIF is
    read: its tiff:Orientation then turns the picture as an iTXt packet's
    does, and its credits travel."""
    raw = im.info.get(_RAW_XMP)
    if isinstance(raw, str) and not ({"xmp", "XML:com.adobe.xmp"} & set(im.info)):
        data = _raw_profile(raw)
        if data is not None:
            im.info["xmp"] = data


def _raw_profile(text: str) -> bytes | None:
    """The bytes of an ImageMagick raw profile: a blank line, the profile's
    name, its length, then its bytes in hex over many lines. None where it
    is not one."""
    lines = text.split("\n")
    try:
        data = bytes.fromhex("".join(lines[3:]))
        length = int(lines[2])
    except (ValueError, IndexError):
        return None
    return data if len(data) == length else None


def filter_xmp(data: bytes | None, policy: MetadataPolicy) -> bytes | None:
    """`data` with only what `policy` keeps and tiff:Orientation 1; None when
    nothing is left to write or the packet cannot be read."""
    if data is None or policy == "none":
        return None
    parsed = _parse(data)
    if parsed is None:
        warnings.warn("XMP metadata unreadable: not copied", stacklevel=2)
        return None
    root, namespaces = parsed
    properties = 0
    for description in root.iter(_DESCRIPTION):
        if policy == "copyright":
            _keep_only_credits(description)
        elif policy == "no-gps":
            _drop_location(description)
        _upright(description)
        properties += len(description) + sum(not _is_rdf(name) for name in description.attrib)
    if not properties:
        return None
    return _packet(root, namespaces)


def _xmp_says(data: bytes, values: dict[str, str]) -> bytes:
    """A filtered packet (`filter_xmp`) whose properties named in `values`
    say those values where the picture's own description has them: an sRGB
    colour space for pixels converted to it (as EXIF's, see _say_srgb), an
    output's size. Not those of documents it describes inside itself (a
    logo's record in xmpMM:Pantry keeps the logo's size)."""
    parsed = _parse(data)
    if parsed is None:
        return data
    root, namespaces = parsed
    rdf = root if root.tag == f"{{{_RDF}}}RDF" else root.find(f"{{{_RDF}}}RDF")
    for description in [] if rdf is None else rdf.findall(_DESCRIPTION):
        for name, value in values.items():
            if name in description.attrib:
                description.attrib[name] = value
            for child in description.findall(name):
                child.text = value
    return _packet(root, namespaces)


def _packet(root: ET.Element, namespaces: dict[str, str]) -> bytes:
    import xml.etree.ElementTree as ET

    for uri, prefix in namespaces.items():
        # Keep the file's own prefixes (x:, rdf:, dc:...): some XMP readers
        # match on them. Prefixes Python reserves fall back to ns0, ns1...
        if prefix and not re.fullmatch(r"ns\d+", prefix):
            ET.register_namespace(prefix, uri)
    body = ET.tostring(root, encoding="unicode")
    return (_XPACKET_BEGIN + body + _XPACKET_END).encode("utf-8")


def xmp_has_location(data: bytes | None) -> bool:
    """Whether `data` says where its picture was taken (the creator's
    address is no such place)."""
    parsed = _parse(data) if data else None
    if parsed is None:
        return False
    for element in parsed[0].iter():
        if _is_place(element.tag) or any(_is_place(name) for name in element.attrib):
            return True
    return False


def _parse(data: bytes) -> tuple[ET.Element, dict[str, str]] | None:
    """The packet's root element and its namespace prefixes (uri -> prefix)."""
    # XMP never needs a DTD; refusing one keeps entity tricks out of the parser.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return None
    # Loaded by the first file that carries XMP: ~8 ms that most runs of
    # icons and web assets never need.
    import xml.etree.ElementTree as ET

    parser = ET.XMLPullParser(events=("start-ns", "start"))
    try:
        parser.feed(data.rstrip(b"\0 \t\r\n"))
        parser.close()
    except ET.ParseError:
        return None
    root: ET.Element | None = None
    namespaces: dict[str, str] = {}
    for event, item in parser.read_events():
        if event == "start-ns":
            prefix, uri = item
            namespaces.setdefault(uri, prefix)
        elif root is None:
            root = item
    return (root, namespaces) if root is not None else None


def _is_rdf(name: str) -> bool:
    return name.startswith(f"{{{_RDF}}}")


def _is_place(name: str) -> bool:
    return name in _PLACES or name.rpartition("}")[2].lower().startswith("gps")


def _is_location(name: str) -> bool:
    """Whether no-gps drops property `name`: a place, or the creator's address."""
    return _is_place(name) or name in _ADDRESS


def _drop_location(element: ET.Element) -> None:
    for name in [n for n in element.attrib if _is_location(n)]:
        del element.attrib[name]
    for child in list(element):
        if _is_location(child.tag):
            element.remove(child)
        else:
            _drop_location(child)


def _keep_only_credits(description: ET.Element) -> None:
    for name in [n for n in description.attrib if not (_is_rdf(n) or _is_credit(n))]:
        del description.attrib[name]
    for child in list(description):
        if not _is_credit(child.tag):
            description.remove(child)


def _is_credit(name: str) -> bool:
    return name in _CREDITS or name.startswith(f"{{{_XMP_RIGHTS}}}")


def _upright(description: ET.Element) -> None:
    if _TIFF_ORIENTATION in description.attrib:
        description.attrib[_TIFF_ORIENTATION] = "1"
    for child in description.iter(_TIFF_ORIENTATION):
        child.text = "1"
