"""Real ICC v2 profiles built byte by byte, so colour tests need no shipped files.

A matrix/TRC profile is what cameras and editors embed for Display P3, Adobe RGB
and "Gray Gamma 2.2": a header, a tag table, the white point, three primaries
(already adapted to the D50 connection space) and a tone curve per channel.
"""

from __future__ import annotations

import struct

# CIE xy chromaticities.
D65 = (0.3127, 0.3290)
D50_XYZ = (0.9642, 1.0, 0.8249)
DISPLAY_P3 = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))

Matrix = tuple[tuple[float, float, float], ...]

# Bradford cone response matrix, for adapting D65 primaries to D50.
_BRADFORD: Matrix = (
    (0.8951, 0.2664, -0.1614),
    (-0.7502, 1.7135, 0.0367),
    (0.0389, -0.0685, 1.0296),
)


def _mul(a: Matrix, b: Matrix) -> Matrix:
    return tuple(
        tuple(sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)) for i in range(3)
    )


def _apply(m: Matrix, v: tuple[float, float, float]) -> tuple[float, float, float]:
    x, y, z = (sum(m[i][k] * v[k] for k in range(3)) for i in range(3))
    return x, y, z


def _inverse(m: Matrix) -> Matrix:
    (a, b, c), (d, e, f), (g, h, i) = m
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    cofactors = (
        (e * i - f * h, c * h - b * i, b * f - c * e),
        (f * g - d * i, a * i - c * g, c * d - a * f),
        (d * h - e * g, b * g - a * h, a * e - b * d),
    )
    return tuple(tuple(v / det for v in row) for row in cofactors)


def _xyz(xy: tuple[float, float]) -> tuple[float, float, float]:
    x, y = xy
    return x / y, 1.0, (1 - x - y) / y


def rgb_to_xyz_d50(
    primaries: tuple[tuple[float, float], ...], white: tuple[float, float] = D65
) -> Matrix:
    """The RGB -> XYZ matrix of an RGB space, Bradford-adapted to D50 (columns: r, g, b)."""
    columns = [_xyz(p) for p in primaries]
    m: Matrix = tuple(tuple(columns[j][i] for j in range(3)) for i in range(3))
    scale = _apply(_inverse(m), _xyz(white))
    m = tuple(tuple(m[i][j] * scale[j] for j in range(3)) for i in range(3))
    source, target = _apply(_BRADFORD, _xyz(white)), _apply(_BRADFORD, D50_XYZ)
    gain: Matrix = tuple(
        tuple(target[i] / source[i] if i == j else 0.0 for j in range(3)) for i in range(3)
    )
    adapt = _mul(_inverse(_BRADFORD), _mul(gain, _BRADFORD))
    return _mul(adapt, m)


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz_tag(xyz: tuple[float, float, float]) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in xyz)


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


def _profile(space: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    entries, data = [], b""
    for signature, body in tags:
        entries.append(struct.pack(">4sII", signature, offset + len(data), len(body)))
        data += body + bytes(-len(body) % 4)
    size = offset + len(data)
    header = (
        struct.pack(">I4sI4s4s4s", size, b"\0\0\0\0", 0x02100000, b"mntr", space, b"XYZ ")
        + struct.pack(">6H", 2024, 1, 1, 0, 0, 0)
        + b"acsp"
        + bytes(4 + 4 + 4 + 4 + 8 + 4)  # platform, flags, maker, model, attributes, intent
        + b"".join(_s15(v) for v in D50_XYZ)
        + bytes(4 + 16 + 28)  # creator, profile ID, reserved
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + b"".join(entries) + data


def rgb_profile(
    description: str, primaries: tuple[tuple[float, float], ...], gamma: float = 2.2
) -> bytes:
    """An ICC v2 display profile for an RGB space with a pure gamma tone curve."""
    m = rgb_to_xyz_d50(primaries)
    curve = _curve(gamma)
    return _profile(
        b"RGB ",
        [
            (b"desc", _desc(description)),
            (b"cprt", _text("No copyright, use freely")),
            (b"wtpt", _xyz_tag(D50_XYZ)),
            (b"rXYZ", _xyz_tag((m[0][0], m[1][0], m[2][0]))),
            (b"gXYZ", _xyz_tag((m[0][1], m[1][1], m[2][1]))),
            (b"bXYZ", _xyz_tag((m[0][2], m[1][2], m[2][2]))),
            (b"rTRC", curve),
            (b"gTRC", curve),
            (b"bTRC", curve),
        ],
    )


def gray_profile(description: str = "Test Gray Gamma 1.8", gamma: float = 1.8) -> bytes:
    """An ICC v2 grayscale profile with a pure gamma tone curve."""
    return _profile(
        b"GRAY",
        [
            (b"desc", _desc(description)),
            (b"cprt", _text("No copyright, use freely")),
            (b"wtpt", _xyz_tag(D50_XYZ)),
            (b"kTRC", _curve(gamma)),
        ],
    )


def display_p3() -> bytes:
    return rgb_profile("Test Display P3 (gamma 2.2)", DISPLAY_P3)


def _srgb_linear(v: float) -> float:
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


def cmyk_profile(
    description: str = "Test CMYK on cream paper", paper: tuple[int, int, int] = (250, 240, 215)
) -> bytes:
    """An ICC v2 CMYK input profile: a 2-point-per-ink lut16 from CMYK to XYZ.

    Inks multiply the paper colour (given as sRGB), so full cyan comes out
    (0, 240, 215) rather than the (0, 255, 255) of Pillow's plain CMYK -> RGB:
    a conversion that went through this profile is easy to tell from one that
    did not. (littleCMS maps bare paper itself to pure white either way.)
    """
    m = rgb_to_xyz_d50(((0.64, 0.33), (0.30, 0.60), (0.15, 0.06)))  # sRGB primaries
    table = b""
    for index in range(16):  # first ink varies slowest, as ICC lays out the grid
        c, mg, y, k = ((index >> shift) & 1 for shift in (3, 2, 1, 0))
        r, g, b = (
            _srgb_linear(p / 255) * (1 - ink) * (1 - k)
            for p, ink in zip(paper, (c, mg, y), strict=True)
        )
        xyz = _apply(m, (r, g, b))
        table += b"".join(struct.pack(">H", min(65535, round(v * 32768))) for v in xyz)
    identity = struct.pack(">HH", 0, 65535)
    lut = (
        b"mft2\0\0\0\0"
        + struct.pack(">BBBB", 4, 3, 2, 0)
        + b"".join(_s15(1.0 if i % 4 == 0 else 0.0) for i in range(9))
        + struct.pack(">HH", 2, 2)
        + identity * 4
        + table
        + identity * 3
    )
    profile = _profile(
        b"CMYK",
        [
            (b"desc", _desc(description)),
            (b"cprt", _text("No copyright, use freely")),
            (b"wtpt", _xyz_tag(D50_XYZ)),
            (b"A2B0", lut),
        ],
    )
    # An output-class ("prtr") profile, as CMYK profiles are.
    return profile[:12] + b"prtr" + profile[16:]
