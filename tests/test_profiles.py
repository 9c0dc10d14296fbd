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
from iccprofiles import p3_in_srgb, srgb_encode
from PIL import Image, ImageCms

from imgpar import profiles

P3 = {"color_primaries": 12, "transfer_characteristics": 13}
COLOURS = [(200, 120, 80), (128, 128, 128), (30, 160, 60), (250, 250, 250), (10, 20, 200)]


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
        assert near(to_srgb(icc, pixel), p3_in_srgb(pixel)), pixel


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


def test_bt709_code_points_are_shown_with_bt1886() -> None:
    icc = profiles.from_nclx({"color_primaries": 1, "transfer_characteristics": 1})
    assert icc is not None
    # BT.1886: the display shows a BT.709 signal with a 2.4 power.
    assert to_srgb(icc, (128, 128, 128)) == (srgb_encode((128 / 255) ** 2.4),) * 3


@pytest.mark.parametrize("primaries", [9, 11, 12])
def test_white_stays_white_whatever_the_primaries_and_white(primaries: int) -> None:
    # DCI-P3's white is not D65: only a right chromatic adaptation keeps it white.
    transfer = 17 if primaries == 11 else 13
    icc = profiles.from_nclx({"color_primaries": primaries, "transfer_characteristics": transfer})
    assert icc is not None
    assert near(to_srgb(icc, (255, 255, 255)), (255, 255, 255))


@pytest.mark.parametrize(("transfer", "name"), [(16, "PQ"), (18, "HLG")])
def test_hdr_colour_is_named_not_faked(transfer: int, name: str) -> None:
    with pytest.raises(profiles.Unsupported, match=f"HDR \\({name}\\) colour read as sRGB"):
        profiles.from_nclx({**P3, "transfer_characteristics": transfer})


def test_unknown_codes_are_unsupported() -> None:
    with pytest.raises(profiles.Unsupported, match="transfer characteristics 7 unknown"):
        profiles.from_nclx({**P3, "transfer_characteristics": 7})
    with pytest.raises(profiles.Unsupported, match="colour primaries 22 unknown"):
        profiles.from_nclx({"color_primaries": 22, "transfer_characteristics": 13})


@pytest.mark.parametrize(
    "chromaticity",
    [
        (0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3),  # every primary the same
        (0.3127, 0.329, 0.2, 0.2, 0.3, 0.3, 0.4, 0.4),  # primaries in a line
        (0.3127, 0.329, 0.64, 0.33, 0.3, 0.6, 0.15, 0.0),  # y of 0
        (0.3127, 0.329, 0.8, 0.3, 0.3, 0.6, 0.15, 0.06),  # x + y over 1
        (0.3127, 0.329, 0.64, 0.33, 0.3, 0.6, -0.15, 0.06),  # x below 0
    ],
)
def test_chromaticities_that_make_no_colour_space_are_unsupported(
    chromaticity: tuple[float, ...],
) -> None:
    with pytest.raises(profiles.Unsupported, match="PNG cHRM chunk"):
        profiles.from_png(None, chromaticity, gray=False)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_avif_nclx_is_read_from_the_primary_image(mode: str, tmp_path: Path) -> None:
    with nclx_avif(tmp_path / "p3.avif", mode=mode).open("rb") as fp:
        fp.seek(5)
        assert profiles.read_avif_nclx(fp) == P3
        assert fp.tell() == 5
    with nclx_avif(tmp_path / "srgb.avif", primaries=1).open("rb") as fp:
        assert profiles.read_avif_nclx(fp) == {"color_primaries": 1, "transfer_characteristics": 13}


class _Counted(io.BytesIO):
    """A file that counts the bytes read from it."""

    taken = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.taken += len(data)
        return data


def test_damaged_avif_boxes_never_raise_nor_read_much(tmp_path: Path) -> None:
    data = nclx_avif(tmp_path / "p3.avif").read_bytes() + bytes(2 << 20)  # pixels, say
    rng = random.Random(5)
    damaged = [data[:cut] for cut in range(0, 400, 7)]
    for _ in range(200):
        at = rng.randrange(400)
        damaged.append(data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :])
    for blob in damaged:
        fp = _Counted(blob)
        found = profiles.read_avif_nclx(fp)
        assert found is None or set(found) == set(P3)
        assert fp.taken <= (1 << 20) + 64, "read the pixels, not just a meta box at most"
    undamaged = _Counted(data)
    assert profiles.read_avif_nclx(undamaged) == P3 and undamaged.taken < 4096


@pytest.mark.parametrize("size", [0, 2, 7])
def test_a_meta_box_too_short_to_be_one_reads_as_none(size: int) -> None:
    data = struct.pack(">I4s", 16, b"ftyp") + bytes(8) + struct.pack(">I4s", size, b"meta")
    fp = _Counted(data + bytes(1 << 20))
    assert profiles.read_avif_nclx(fp) is None and fp.taken < 100


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


# Linear Adobe RGB (1998) to linear sRGB: the two share red, blue and white.
ADOBE_TO_SRGB = ((1.3982832, -0.3982831, 0.0), (0.0, 1.0, 0.0), (0.0, -0.0429383, 1.0429383))


def test_adobe_rgb_converts_as_published() -> None:
    icc = profiles.adobe_rgb()
    for pixel in COLOURS:
        linear = [(v / 255) ** (563 / 256) for v in pixel]
        expected = tuple(
            srgb_encode(sum(m * v for m, v in zip(row, linear, strict=True)))
            for row in ADOBE_TO_SRGB
        )
        assert near(to_srgb(icc, pixel), expected), (pixel, expected)
