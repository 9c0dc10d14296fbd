"""Real ICC v2 profiles built byte by byte, so colour tests need no shipped files.

A matrix/TRC profile is what cameras and editors embed for Display P3, Adobe RGB
and "Gray Gamma 2.2": a header, a tag table, the white point, three primaries
(already adapted to the D50 connection space) and a tone curve per channel.
The header, tag table and colourants come from imgpar.profiles, which makes
such profiles for files that name their colour; test_profiles checks them
against published conversions.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from imgpar.profiles import D50, assemble, d50_colourants, fixed, xyz_tag

# CIE xy chromaticities: red, green, blue, white (D65).
DISPLAY_P3 = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060), (0.3127, 0.3290))
SRGB = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06), (0.3127, 0.3290))
V2 = 0x02100000


def _curve(gamma: float) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256))


def _text(text: str) -> bytes:
    return b"text\0\0\0\0" + text.encode("ascii") + b"\0"


def _desc(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    # ASCII part, then empty Unicode and ScriptCode parts (67 bytes of Macintosh name).
    return (
        b"desc\0\0\0\0"
        + struct.pack(">I", len(ascii_))
        + ascii_
        + struct.pack(">II", 0, 0)
        + struct.pack(">HB", 0, 0)
        + bytes(67)
    )


def _common(description: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"desc", _desc(description)),
        (b"cprt", _text("No copyright, use freely")),
        (b"wtpt", xyz_tag(D50)),
    ]


def rgb_profile(
    description: str,
    xy: tuple[tuple[float, float], ...],
    gamma: float = 2.2,
    extra: Sequence[tuple[bytes, bytes]] = (),
) -> bytes:
    """An ICC v2 display profile for an RGB space with a pure gamma tone
    curve, and `extra` tags (signature, data) a reader may skip."""
    (red, green, blue), _ = d50_colourants(xy)
    curve = _curve(gamma)
    tags = [(b"rXYZ", xyz_tag(red)), (b"gXYZ", xyz_tag(green)), (b"bXYZ", xyz_tag(blue))]
    tags += [(b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve), *extra]
    return assemble(b"RGB ", _common(description) + tags, V2)


def gray_profile(description: str = "Test Gray Gamma 1.8", gamma: float = 1.8) -> bytes:
    """An ICC v2 grayscale profile with a pure gamma tone curve."""
    return assemble(b"GRAY", [*_common(description), (b"kTRC", _curve(gamma))], V2)


def display_p3(extra: Sequence[tuple[bytes, bytes]] = ()) -> bytes:
    return rgb_profile("Test Display P3 (gamma 2.2)", DISPLAY_P3, extra=extra)


def srgb_decode(v: int) -> float:
    """An 8-bit sRGB level as linear light, 0..1."""
    f = v / 255
    return f / 12.92 if f <= 0.04045 else ((f + 0.055) / 1.055) ** 2.4


def srgb_encode(f: float) -> int:
    """Linear light (clipped to 0..1) as an 8-bit sRGB level."""
    f = min(1.0, max(0.0, f))
    return round(255 * (12.92 * f if f <= 0.0031308 else 1.055 * f ** (1 / 2.4) - 0.055))


# Linear Display P3 to linear sRGB, as published (CSS Color 4's sample code).
P3_TO_SRGB = (
    (1.2249401, -0.2249404, 0.0),
    (-0.0420569, 1.0420571, 0.0),
    (-0.0196376, -0.0786361, 1.0982735),
)


def p3_in_srgb(pixel: tuple[int, int, int], gamma: float | None = None) -> tuple[int, ...]:
    """A Display P3 colour's sRGB levels, from the published matrix: an answer
    that owes nothing to the profiles under test. With `gamma`, its levels
    are read with that power, not P3's own (sRGB's) curve."""
    linear = [srgb_decode(v) if gamma is None else (v / 255) ** gamma for v in pixel]
    return tuple(
        srgb_encode(sum(m * v for m, v in zip(row, linear, strict=True))) for row in P3_TO_SRGB
    )


def cmyk_profile(
    description: str = "Test CMYK on cream paper", paper: tuple[int, int, int] = (250, 240, 215)
) -> bytes:
    """An ICC v2 CMYK input profile: a 2-point-per-ink lut16 from CMYK to XYZ.

    Inks multiply the paper colour (given as sRGB), so full cyan comes out
    (0, 240, 215) rather than the (0, 255, 255) of Pillow's plain CMYK -> RGB:
    a conversion that went through this profile is easy to tell from one that
    did not. (littleCMS maps bare paper itself to pure white either way.)
    """
    colourants, _ = d50_colourants(SRGB)
    table = b""
    for index in range(16):  # first ink varies slowest, as ICC lays out the grid
        c, mg, y, k = ((index >> shift) & 1 for shift in (3, 2, 1, 0))
        rgb = [
            srgb_decode(p) * (1 - ink) * (1 - k)
            for p, ink in zip(paper, (c, mg, y), strict=True)
        ]
        xyz = [
            sum(v * primary[i] for v, primary in zip(rgb, colourants, strict=True))
            for i in range(3)
        ]
        table += b"".join(struct.pack(">H", min(65535, round(v * 32768))) for v in xyz)
    identity = struct.pack(">HH", 0, 65535)
    lut = (
        b"mft2\0\0\0\0"
        + struct.pack(">BBBB", 4, 3, 2, 0)
        + fixed(*(1.0 if i % 4 == 0 else 0.0 for i in range(9)))
        + struct.pack(">HH", 2, 2)
        + identity * 4
        + table
        + identity * 3
    )
    profile = assemble(b"CMYK", [*_common(description), (b"A2B0", lut)], V2)
    # An output-class ("prtr") profile, as CMYK profiles are.
    return profile[:12] + b"prtr" + profile[16:]
