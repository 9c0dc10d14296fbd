"""ICC profiles for nclx colour descriptions, checked against the published
conversions they must reproduce through littleCMS; and the nclx of AVIF files,
read from their boxes."""

from __future__ import annotations

import io
import random
import struct
import warnings
from pathlib import Path

import pytest
from conftest import nclx_avif
from PIL import Image, ImageCms

from imgpar import profiles

P3 = {"color_primaries": 12, "transfer_characteristics": 13}
# Linear Display P3 to linear sRGB, as published (e.g. by the W3C CSS Color 4 notes).
P3_TO_SRGB = ((1.2249, -0.2247, 0.0), (-0.0420, 1.0419, 0.0), (-0.0197, -0.0786, 1.0979))
COLOURS = [(200, 120, 80), (128, 128, 128), (30, 160, 60), (250, 250, 250), (10, 20, 200)]


def _srgb_decode(v: int) -> float:
    f = v / 255
    return f / 12.92 if f <= 0.04045 else ((f + 0.055) / 1.055) ** 2.4


def _srgb_encode(f: float) -> int:
    f = min(1.0, max(0.0, f))
    return round(255 * (12.92 * f if f <= 0.0031308 else 1.055 * f ** (1 / 2.4) - 0.055))


def to_srgb(icc: bytes, pixel: tuple[int, int, int]) -> tuple[int, ...]:
    transform = ImageCms.buildTransform(
        ImageCms.ImageCmsProfile(io.BytesIO(icc)), ImageCms.createProfile("sRGB"), "RGB", "RGB"
    )
    converted = ImageCms.applyTransform(Image.new("RGB", (1, 1), pixel), transform)
    assert converted is not None
    return converted.getpixel((0, 0))  # type: ignore[return-value]


def near(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return all(abs(x - y) <= 1 for x, y in zip(a, b, strict=True))


def test_display_p3_converts_as_published() -> None:
    icc = profiles.from_nclx(P3)
    assert icc is not None
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    assert profile.profile.profile_description == "Display P3 (sRGB curve, nclx)"
    for pixel in COLOURS:
        linear = [_srgb_decode(v) for v in pixel]
        expected = tuple(
            _srgb_encode(sum(m * v for m, v in zip(row, linear, strict=True)))
            for row in P3_TO_SRGB
        )
        assert near(to_srgb(icc, pixel), expected), (pixel, expected)


def test_srgb_chromaticities_and_curve_make_the_identity() -> None:
    xy = [(0.64, 0.33), (0.30, 0.60), (0.15, 0.06), (0.3127, 0.3290)]
    srgb_curve = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)
    icc = profiles.matrix_profile("sRGB again", xy, 3, srgb_curve)
    for pixel in [*COLOURS, (0, 0, 0), (255, 255, 255), (5, 60, 250)]:
        assert near(to_srgb(icc, pixel), pixel), pixel


@pytest.mark.parametrize("codes", [(1, 13), (2, 2), (1, 2), (2, 13), (0, 0)])
def test_srgb_or_unsaid_colour_needs_no_profile(codes: tuple[int, int]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        described = {"color_primaries": codes[0], "transfer_characteristics": codes[1]}
        assert profiles.from_nclx(described) is None


def test_bt709_curve_is_inverted_for_display() -> None:
    icc = profiles.from_nclx({"color_primaries": 1, "transfer_characteristics": 1})
    assert icc is not None
    # Mid gray through BT.709's inverse camera curve, shown in sRGB.
    linear = ((128 / 255 + 0.099) / 1.099) ** (1 / 0.45)
    assert to_srgb(icc, (128, 128, 128)) == (_srgb_encode(linear),) * 3


@pytest.mark.parametrize(("transfer", "name"), [(16, "PQ"), (18, "HLG")])
def test_hdr_colour_is_named_not_faked(transfer: int, name: str) -> None:
    with pytest.warns(UserWarning, match=f"HDR \\({name}\\) colour written as is"):
        assert profiles.from_nclx({**P3, "transfer_characteristics": transfer}) is None


def test_unknown_codes_are_read_as_srgb_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="nclx transfer 7 unknown"):
        assert profiles.from_nclx({**P3, "transfer_characteristics": 7}) is None
    with pytest.warns(UserWarning, match="nclx primaries 22 unknown"):
        assert profiles.from_nclx({"color_primaries": 22, "transfer_characteristics": 13}) is None


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_avif_nclx_is_read_from_the_primary_image(mode: str, tmp_path: Path) -> None:
    with nclx_avif(tmp_path / "p3.avif", mode=mode).open("rb") as fp:
        fp.seek(5)
        assert profiles.read_avif_nclx(fp) == P3
        assert fp.tell() == 5
    with nclx_avif(tmp_path / "srgb.avif", primaries=1).open("rb") as fp:
        assert profiles.read_avif_nclx(fp) == {"color_primaries": 1, "transfer_characteristics": 13}


def test_damaged_avif_boxes_read_as_no_nclx(tmp_path: Path) -> None:
    data = nclx_avif(tmp_path / "p3.avif").read_bytes()
    rng = random.Random(5)
    damaged = [data[:cut] for cut in range(0, 400, 7)]
    for _ in range(200):
        at = rng.randrange(len(data))
        damaged.append(data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :])
    for blob in damaged:
        found = profiles.read_avif_nclx(io.BytesIO(blob))
        assert found is None or set(found) == set(P3)


# Linear Adobe RGB (1998) to linear sRGB: the two share red, blue and white.
ADOBE_TO_SRGB = ((1.3982832, -0.3982831, 0.0), (0.0, 1.0, 0.0), (0.0, -0.0429383, 1.0429383))


def test_adobe_rgb_converts_as_published() -> None:
    icc = profiles.adobe_rgb()
    for pixel in COLOURS:
        linear = [(v / 255) ** (563 / 256) for v in pixel]
        expected = tuple(
            _srgb_encode(sum(m * v for m, v in zip(row, linear, strict=True)))
            for row in ADOBE_TO_SRGB
        )
        assert near(to_srgb(icc, pixel), expected), (pixel, expected)


def test_png_cicp_is_found_before_the_pixels_only(tmp_path: Path) -> None:
    def png(*chunks: tuple[bytes, bytes]) -> io.BytesIO:
        body = b"".join(
            struct.pack(">I", len(data)) + kind + data + bytes(4) for kind, data in chunks
        )
        return io.BytesIO(b"\x89PNG\r\n\x1a\n" + body)

    header = (b"IHDR", bytes(13))
    cicp = (b"cICP", bytes((12, 13, 0, 1)))
    found = profiles.read_png_cicp(png(header, (b"tEXt", b"a\0b"), cicp, (b"IDAT", b"x")))
    assert found == P3
    assert profiles.read_png_cicp(png(header, (b"IDAT", b"x"), cicp)) is None
    assert profiles.read_png_cicp(png(header, (b"cICP", b"\x0c"))) is None  # cut short
    assert profiles.read_png_cicp(io.BytesIO(b"\x89PNG")) is None
