"""ICC profiles for colour that a file names instead of embedding a profile.

A HEIF or AVIF may say what its colours mean with an nclx description
(ITU-T H.273 code points: primaries, transfer characteristics), a PNG with
the same numbers in a cICP chunk or with gAMA and cHRM chunks, and a
camera's Adobe RGB JPEG often says it only in EXIF (the DCF option: colour
space "uncalibrated", interoperability index R03); a phone's Display P3
photo or a Canon's `_MG_1234.JPG` then carries no profile at all. The rest of
imgpar speaks ICC, so each such statement becomes the matrix/TRC profile it
denotes, and is carried into every output (or converted with `--srgb`) like
any embedded profile. Arithmetic and bytes only: no Pillow, no littleCMS.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from typing import IO

from imgpar import isobmff

Matrix = tuple[tuple[float, float, float], ...]
Vector = tuple[float, float, float]
Chromaticities = tuple[tuple[float, float], ...]  # red, green, blue, white: CIE xy

_D65 = (0.3127, 0.3290)
_BT709 = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06), _D65)
_SMPTE170M = ((0.630, 0.340), (0.310, 0.595), (0.155, 0.070), _D65)
_P3 = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))
# H.273 colour primaries: (name, chromaticities).
_PRIMARIES: dict[int, tuple[str, Chromaticities]] = {
    1: ("BT.709", _BT709),
    5: ("BT.601 625-line", ((0.64, 0.33), (0.29, 0.60), (0.15, 0.06), _D65)),
    6: ("BT.601 525-line", _SMPTE170M),
    7: ("SMPTE 240M", _SMPTE170M),
    9: ("BT.2020", ((0.708, 0.292), (0.170, 0.797), (0.131, 0.046), _D65)),
    11: ("DCI-P3", (*_P3, (0.314, 0.351))),
    12: ("Display P3", (*_P3, _D65)),
}

# H.273 transfer characteristics as ICC parametric curves: (name, function
# type, parameters). Type 3 is y = (a*x + b)^g above x = d, and c*x below.
_SRGB_CURVE = ("sRGB curve", 3, (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045))
# BT.709's codes name a camera curve; a display shows such pixels with
# BT.1886's pure 2.4 power, which is what a still image of them looked like.
_BT1886_CURVE = ("BT.1886 curve", 0, (2.4,))
_CURVES = {
    1: _BT1886_CURVE,
    4: ("gamma 2.2", 0, (2.2,)),
    5: ("gamma 2.8", 0, (2.8,)),
    6: _BT1886_CURVE,
    8: ("linear", 0, (1.0,)),
    13: _SRGB_CURVE,
    14: _BT1886_CURVE,
    15: _BT1886_CURVE,
    17: ("gamma 2.6", 0, (2.6,)),  # DCI-P3's
}
_HDR = {16: "PQ", 18: "HLG"}
# 0, 2 and 3 say nothing (reserved or unspecified): such colour is read as sRGB.
_UNSAID = {0, 2, 3}

D50: Vector = (0.9642, 1.0, 0.8249)  # the ICC connection space's white
_BRADFORD: Matrix = (
    (0.8951, 0.2664, -0.1614),
    (-0.7502, 1.7135, 0.0367),
    (0.0389, -0.0685, 1.0296),
)


class Unsupported(Exception):
    """What a file names is no colour an ICC matrix profile can describe
    (an HDR curve, an unknown code, a broken chunk); the message says so."""


def from_nclx(nclx: Mapping[str, object]) -> bytes | None:
    """The ICC profile for nclx code points (pillow-heif's `nclx_profile`
    info, `read_avif_nclx`'s or `read_png_cicp`'s); None for sRGB colour,
    which needs none (untagged pixels are read as sRGB anyway). Raises
    Unsupported for HDR curves and unknown codes."""
    primaries, transfer = _code(nclx, "color_primaries"), _code(nclx, "transfer_characteristics")
    if transfer in _HDR:
        raise Unsupported(f"HDR ({_HDR[transfer]}) colour read as sRGB: no tone mapping")
    curve = _SRGB_CURVE if transfer in _UNSAID else _CURVES.get(transfer)
    if curve is None:
        raise Unsupported(f"transfer characteristics {transfer} unknown: colours read as sRGB")
    if primaries in _UNSAID:
        primaries = 1
    if primaries == 1 and curve is _SRGB_CURVE:
        return None
    if primaries not in _PRIMARIES:
        raise Unsupported(f"colour primaries {primaries} unknown: colours read as sRGB")
    name, xy = _PRIMARIES[primaries]
    curve_name, kind, params = curve
    return matrix_profile(f"{name} ({curve_name}, nclx)", xy, kind, params)


@cache
def adobe_rgb() -> bytes:
    """A profile with Adobe RGB (1998)'s primaries, white and 563/256 gamma."""
    xy = ((0.64, 0.33), (0.21, 0.71), (0.15, 0.06), _D65)
    return matrix_profile("Adobe RGB (1998) compatible, from EXIF", xy, 0, (563 / 256,))


def from_png(gamma: object, chromaticity: object, *, gray: bool) -> bytes | None:
    """The profile for a PNG's gAMA (`gamma`: the file's encoding exponent,
    0.45455 for 2.2) and cHRM (`chromaticity`: white, red, green, blue xy)
    chunks, as Pillow reports them; None when together they say sRGB. A gray
    image gets a gray profile: only its tone curve matters. Raises
    Unsupported for values that describe no colour space."""
    curve = _SRGB_CURVE
    if gamma is not None:
        if not isinstance(gamma, float) or not 0.01 <= gamma <= 10:
            raise Unsupported("PNG gAMA chunk out of range: colours read as sRGB")
        curve = (f"gamma {1 / gamma:.2f}", 0, (1 / gamma,))
    xy: Chromaticities = _BT709
    if chromaticity is not None and not gray:
        values = chromaticity if isinstance(chromaticity, tuple) and len(chromaticity) == 8 else ()
        points = tuple(zip(values[::2], values[1::2], strict=True))
        if not points or not all(x >= 0 and y > 0.01 and x + y <= 1 for x, y in points):
            raise Unsupported("PNG cHRM chunk out of range: colours read as sRGB")
        xy = (*points[1:], points[0])
    flat, srgb_flat = (tuple(v for point in x for v in point) for x in (xy, _BT709))
    srgb_xy = all(abs(a - b) < 0.001 for a, b in zip(flat, srgb_flat, strict=True))
    # 2.2 is how sRGB was written before the sRGB chunk. With other
    # primaries it is the power the chunk names, as Adobe RGB's own curve is.
    if srgb_xy and (gamma is None or abs(1 / gamma - 2.2) <= 0.05):
        return None
    name, kind, params = curve
    if gray:
        return gray_profile(f"PNG gAMA ({name})", kind, params)
    primaries = "sRGB primaries" if srgb_xy else "own primaries"
    try:
        return matrix_profile(f"PNG gAMA/cHRM ({name}, {primaries})", xy, kind, params)
    except (ZeroDivisionError, OverflowError, struct.error):
        # Primaries in a line (or nearly): no colour space has them.
        raise Unsupported("PNG cHRM chunk describes no colours: colours read as sRGB") from None


def _code(nclx: Mapping[str, object], key: str) -> int:
    value = nclx.get(key)
    return value if isinstance(value, int) else 2  # absent: unspecified


def read_avif_nclx(fp: IO[bytes]) -> dict[str, int] | None:
    """The nclx description of an AVIF's primary image (its `colr` property),
    which Pillow's AVIF reader does not report; None when it has none or the
    file's boxes cannot be read. The file position is kept."""
    position = fp.tell()
    try:
        meta = _top_level_box(fp, b"meta")
        return _primary_nclx(meta[4:]) if meta else None  # meta is a full box
    except (struct.error, ValueError, IndexError, OSError):
        return None
    finally:
        fp.seek(position)


def read_png_cicp(fp: IO[bytes]) -> dict[str, int] | None:
    """The code points of a PNG's cICP chunk (PNG's third edition: the same
    H.273 numbers as nclx), which Pillow does not report; None when there is
    none before the pixel data. The file position is kept."""
    data = png_chunk(fp, b"cICP", until=b"IDAT", most=4)
    if data is None or len(data) != 4:
        return None
    primaries, transfer = data[:2]
    return {"color_primaries": primaries, "transfer_characteristics": transfer}


def png_chunk(fp: IO[bytes], wanted: bytes, *, until: bytes, most: int) -> bytes | None:
    """The data of a PNG's first `wanted` chunk before an `until` chunk,
    found by stepping from chunk header to chunk header (no pixel is
    decoded); None where there is none, or it is longer than `most` bytes
    (damaged, or hostile). The file position is kept."""
    position = fp.tell()
    try:
        fp.seek(8)  # past the signature
        while len(head := fp.read(8)) == 8:
            length, kind = struct.unpack(">I4s", head)
            if kind == wanted:
                return fp.read(length) if length <= most else None
            if kind == until:
                return None
            fp.seek(length + 4, 1)  # the data and its CRC
        return None
    except (struct.error, ValueError, OSError):
        return None
    finally:
        fp.seek(position)


# The boxes that describe the image are small; a `meta` box past this is not read.
_META_MOST = 1 << 20


def _top_level_box(fp: IO[bytes], wanted: bytes) -> bytes | None:
    """The body of the file's first top-level box of type `wanted`, the boxes
    before it skipped over rather than read (one may hold all the pixels)."""
    at = 0
    while True:
        fp.seek(at)
        head = fp.read(16)
        if len(head) < 8:
            return None
        size, kind = struct.unpack_from(">I4s", head)
        skip = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", head, 8)
            skip = 16
        if size < skip:  # 0 (to the end of the file) too: never a meta box
            return None
        if kind == wanted:
            if size - skip > _META_MOST:
                return None
            fp.seek(at + skip)
            return fp.read(size - skip)
        at += size


def _boxes(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, body) of each box in `data`."""
    return ((kind, data[body:end]) for kind, body, end in isobmff.boxes(data))


def _primary_nclx(meta: bytes) -> dict[str, int] | None:
    children = dict(_boxes(meta))
    pitm, iprp = children.get(b"pitm"), children.get(b"iprp")
    if pitm is None or iprp is None:
        return None
    primary = struct.unpack_from(">H" if pitm[0] == 0 else ">I", pitm, 4)[0]
    parts = dict(_boxes(iprp))
    properties = list(_boxes(parts.get(b"ipco", b"")))
    for index in _associations(parts.get(b"ipma", b""), primary):
        if index < 1:  # 0: no property
            continue
        kind, body = properties[index - 1]
        if kind == b"colr" and body[:4] == b"nclx":
            primaries, transfer = struct.unpack_from(">HH", body, 4)
            return {"color_primaries": primaries, "transfer_characteristics": transfer}
    return None


def _associations(ipma: bytes, item: int) -> list[int]:
    """The property indices (from 1) that an `ipma` box gives `item`."""
    version, flags = ipma[0], int.from_bytes(ipma[1:4], "big")
    (count,) = struct.unpack_from(">I", ipma, 4)
    at = 8
    for _ in range(count):
        if version < 1:
            (entry,) = struct.unpack_from(">H", ipma, at)
            at += 2
        else:
            (entry,) = struct.unpack_from(">I", ipma, at)
            at += 4
        n = ipma[at]
        at += 1
        wide = flags & 1
        if wide:
            indices = [v & 0x7FFF for v in struct.unpack_from(f">{n}H", ipma, at)]
        else:
            indices = [v & 0x7F for v in ipma[at : at + n]]
        at += n * (2 if wide else 1)
        if entry == item:
            return indices
    return []


def matrix_profile(
    name: str,
    xy: Sequence[tuple[float, float]],
    curve_kind: int,
    curve_params: Sequence[float],
) -> bytes:
    """An ICC v4 RGB display profile: the red, green, blue and white
    chromaticities `xy`, and one parametric tone curve for all three channels."""
    colourants, adaptation = d50_colourants(xy)
    curve = _parametric(curve_kind, curve_params)
    return assemble(
        b"RGB ",
        [
            *_named(name),
            (b"chad", b"sf32" + bytes(4) + fixed(*(v for row in adaptation for v in row))),
            (b"rXYZ", xyz_tag(colourants[0])),
            (b"gXYZ", xyz_tag(colourants[1])),
            (b"bXYZ", xyz_tag(colourants[2])),
            (b"rTRC", curve),
            (b"gTRC", curve),
            (b"bTRC", curve),
        ],
    )


def gray_profile(name: str, curve_kind: int, curve_params: Sequence[float]) -> bytes:
    """An ICC v4 gray display profile with one parametric tone curve."""
    return assemble(b"GRAY", [*_named(name), (b"kTRC", _parametric(curve_kind, curve_params))])


def _named(name: str) -> list[tuple[bytes, bytes]]:
    """The tags every profile here starts with: its name, rights and white."""
    return [
        (b"desc", _text(name)),
        (b"cprt", _text("No copyright, use freely")),
        (b"wtpt", xyz_tag(D50)),
    ]


def _parametric(kind: int, params: Sequence[float]) -> bytes:
    return b"para" + bytes(4) + struct.pack(">HH", kind, 0) + fixed(*params)


def assemble(space: bytes, tags: Sequence[tuple[bytes, bytes]], version: int = 0x04300000) -> bytes:
    """A display profile of colour space `space` (b"RGB ", b"GRAY"...) from its
    tags, each (signature, data); tags with equal data share it."""
    table_end = 128 + 4 + 12 * len(tags)
    table, data, placed = [], b"", {}
    for signature, body in tags:
        if body not in placed:
            placed[body] = table_end + len(data)
            data += body + bytes(-len(body) % 4)
        table.append(signature + struct.pack(">II", placed[body], len(body)))
    header = b"".join(
        [
            struct.pack(">II", table_end + len(data), 0),  # size; preferred CMM: none
            struct.pack(">I", version),
            b"mntr" + space + b"XYZ ",
            bytes(12),  # creation date: none, so equal descriptions give equal bytes
            b"acsp",
            bytes(24),  # platform, flags, manufacturer, model, attributes
            bytes(4),  # perceptual intent
            fixed(*D50),
            bytes(48),  # creator, profile ID (not computed), reserved
        ]
    )
    return header + struct.pack(">I", len(tags)) + b"".join(table) + data


def d50_colourants(xy: Sequence[tuple[float, float]]) -> tuple[Matrix, Matrix]:
    """The XYZ of full red, green and blue for the chromaticities `xy` (red,
    green, blue, white), adapted to D50 (Bradford) as an ICC profile stores
    them; and that adaptation matrix."""
    red, green, blue, white = (_xyz_of(x, y) for x, y in xy)
    primaries = _transpose((red, green, blue))
    scale = _apply(_inverse(primaries), white)
    to_xyz = tuple(tuple(row[i] * scale[i] for i in range(3)) for row in primaries)
    cone_white, cone_d50 = _apply(_BRADFORD, white), _apply(_BRADFORD, D50)
    gains = tuple(cone_d50[i] / cone_white[i] for i in range(3))
    cones = tuple(tuple(gains[i] * v for v in _BRADFORD[i]) for i in range(3))
    adaptation = _multiply(_inverse(_BRADFORD), cones)
    return _transpose(_multiply(adaptation, to_xyz)), adaptation


def _xyz_of(x: float, y: float) -> Vector:
    return (x / y, 1.0, (1 - x - y) / y)


def _transpose(m: Sequence[Sequence[float]]) -> Matrix:
    return tuple((m[0][i], m[1][i], m[2][i]) for i in range(3))


def _apply(m: Matrix, v: Sequence[float]) -> Vector:
    return (
        m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2],
        m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2],
        m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2],
    )


def _multiply(a: Matrix, b: Matrix) -> Matrix:
    return _transpose([_apply(a, column) for column in _transpose(b)])


def _inverse(m: Matrix) -> Matrix:
    (a, b, c), (d, e, f), (g, h, i) = m
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    return (
        ((e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det),
        ((f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det),
        ((d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det),
    )


def fixed(*values: float) -> bytes:
    """ICC s15Fixed16Number values."""
    return struct.pack(f">{len(values)}i", *(round(v * 65536) for v in values))


def xyz_tag(v: Sequence[float]) -> bytes:
    return b"XYZ " + bytes(4) + fixed(*v)


def _text(text: str) -> bytes:
    encoded = text.encode("utf-16-be")
    # A 16-byte header, then one 12-byte record (US English): the text is at 28.
    record = b"enUS" + struct.pack(">II", len(encoded), 28)
    return b"mluc" + bytes(4) + struct.pack(">II", 1, 12) + record + encoded
