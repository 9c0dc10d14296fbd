"""HEIC/HEIF input through the `heif` extra (pillow-heif), and the hint
when the extra is missing."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from conftest import API_CONVERT, fresh_python
from PIL import Image

import imgpar
from imgpar import colour
from imgpar.info import inspect

pillow_heif = pytest.importorskip("pillow_heif", reason="the heif extra is not installed")


def _heic(path: Path) -> Path:
    pillow_heif.register_heif_opener()
    im = Image.new("RGB", (90, 60), (200, 30, 30))
    im.paste((30, 30, 200), (0, 0, 30, 20))  # a blue marker at the top left, stored
    exif = Image.Exif()
    exif[0x0112] = 6  # the phone was held upright
    im.save(path, exif=exif.tobytes(), quality=95)
    return path


def test_heic_converts_upright(tmp_path: Path) -> None:
    source = _heic(tmp_path / "IMG_1234.HEIC")
    report = imgpar.convert([source], to="jpeg", out=tmp_path / "out", jobs=1)
    assert report.summary.converted == 1, report.files[0].error
    with Image.open(tmp_path / "out" / "IMG_1234.jpg") as im:
        assert im.size == (60, 90)  # displayed portrait
        r, _, b = im.getpixel((55, 5))  # the marker moved to the top right
        assert b > 150 and r < 90
        assert im.getexif().get(0x0112, 1) == 1


def test_heic_named_jpg_is_read_as_heic(tmp_path: Path) -> None:
    # Phones and transfer tools hand out HEIC data under a .jpg name.
    source = _heic(tmp_path / "heic.heic").rename(tmp_path / "IMG_5678.jpg")
    report = imgpar.convert([source], to="webp", out=tmp_path / "out", jobs=1)
    assert report.summary.converted == 1, report.files[0].error
    with Image.open(tmp_path / "out" / "IMG_5678.webp") as im:
        assert im.size == (60, 90)
    assert inspect(str(source))["format"] == "HEIF"


@pytest.mark.parametrize("name", ["phone.heic", "phone.jpg"])
def test_heic_without_the_extra_names_the_install(tmp_path: Path, name: str) -> None:
    source = _heic(tmp_path / "phone.heic").rename(tmp_path / name)
    code = (
        "import sys, json; sys.modules['pillow_heif'] = None\n"
        + API_CONVERT.format(jobs=1)
        + "print(json.dumps([f.error for f in r.files]))"
    )
    errors = json.loads(fresh_python(code, source, tmp_path / "o"))
    assert errors == ["HEIC/HEIF needs an extra: pip install 'imgpar[heif]'"]


def _p3_heic(path: Path, transfer: int = 13) -> Path:
    """A phone-style HEIC whose colour is Display P3, said by nclx code points
    rather than by an ICC profile."""
    pillow_heif.register_heif_opener()
    im = Image.new("RGB", (48, 32), P3_COLOUR)
    im.save(path, quality=95, color_primaries=12, transfer_characteristics=transfer)
    return path


# Display P3 numbers and what they are in sRGB (linear P3 -> sRGB, published
# matrix): read as sRGB instead, this orange would come out duller.
P3_COLOUR = (200, 120, 80)
IN_SRGB = (213, 115, 70)


def _centre(path: Path) -> tuple[Image.Image, tuple[int, ...]]:
    im = Image.open(path)
    return im, im.convert("RGB").getpixel((im.width // 2, im.height // 2))  # type: ignore[return-value]


def _near(a: tuple[int, ...], b: tuple[int, ...], tolerance: int = 4) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("target", ["webp", "jpeg", "png"])
def test_nclx_wide_gamut_is_tagged_not_dulled(target: str, tmp_path: Path) -> None:
    source = _p3_heic(tmp_path / "IMG_0001.heic")
    report = imgpar.convert([source], to=target, out=tmp_path / "out", jobs=1)
    assert report.summary.converted == 1, report.files[0].error
    im, pixel = _centre(Path(report.files[0].outputs[0].path))
    # The numbers stay P3 numbers, and the profile says so.
    assert _near(pixel, P3_COLOUR)
    assert colour.description(im.info["icc_profile"]) == "Display P3 (sRGB curve, nclx)"


def test_nclx_wide_gamut_converts_with_srgb(tmp_path: Path) -> None:
    source = _p3_heic(tmp_path / "IMG_0002.heic")
    report = imgpar.convert([source], to="png", out=tmp_path / "out", jobs=1, srgb=True)
    im, pixel = _centre(Path(report.files[0].outputs[0].path))
    assert colour.is_srgb(im.info["icc_profile"])
    assert _near(pixel, IN_SRGB), pixel


def test_hdr_heic_is_written_with_a_note(tmp_path: Path) -> None:
    source = _p3_heic(tmp_path / "hdr.heic", transfer=16)
    report = imgpar.convert([source], to="webp", out=tmp_path / "out", jobs=1)
    result = report.files[0]
    assert result.status == "converted", result.error
    assert "warning: HDR (PQ) colour read as sRGB: no tone mapping" in result.notes
    assert "icc_profile" not in Image.open(result.outputs[0].path).info


def test_info_names_the_nclx_colour(tmp_path: Path) -> None:
    facts = inspect(str(_p3_heic(tmp_path / "IMG_0003.heic")))
    assert facts["icc"] == "Display P3 (sRGB curve, nclx)"
    keep = "keep the 'Display P3 (sRGB curve, nclx)' profile (--srgb converts to sRGB)"
    assert keep in facts["convert"]


def test_bench_counts_a_heic_s_pixels_for_lossless_outputs(tmp_path: Path) -> None:
    # Unread by bench's own process (no opener registered there yet), a HEIC
    # counted for nothing, and a small RAM disk took its PNGs and filled up.
    (tmp_path / "src").mkdir()
    source = _heic(tmp_path / "src" / "IMG_1.HEIC")
    shm = tmp_path / "shm"
    shm.mkdir()
    code = (
        "import shutil, sys, imgpar.bench as b\n"
        "b.SHM = sys.argv[1]\n"
        "b.LOSSLESS_BYTES_PER_PIXEL = shutil.disk_usage(sys.argv[1]).free // (90 * 60) + 1\n"
        "print(b.bench([sys.argv[2]], to='png', jobs=[1], repeat=1).scratch)"
    )
    assert fresh_python(code, shm, source) != str(shm)


def test_a_heic_cut_short_is_called_truncated(tmp_path: Path) -> None:
    # Its header whole, its image data cut: libheif's own words were the reason.
    pillow_heif.register_heif_opener()
    Image.effect_noise((400, 300), 60).convert("RGB").save(tmp_path / "whole.heic")
    whole = (tmp_path / "whole.heic").read_bytes()
    cut = tmp_path / "src" / "cut.heic"
    cut.parent.mkdir()
    cut.write_bytes(whole[: len(whole) // 2])
    [result] = imgpar.convert([cut], to="png", out=tmp_path / "out", jobs=1).files
    assert (result.status, result.error) == ("failed", "truncated HEIF file: it ends early")


def test_a_heic_over_libheif_s_own_limit_is_too_many_pixels(tmp_path: Path) -> None:
    # Its stated size patched to 60000x60000: libheif's own words were the reason.
    pillow_heif.register_heif_opener()
    Image.new("RGB", (64, 48), "red").save(tmp_path / "small.heic")
    data = bytearray((tmp_path / "small.heic").read_bytes())
    at = data.index(b"ispe") + 8  # after the box's version and flags
    data[at : at + 8] = struct.pack(">II", 60000, 60000)
    big = tmp_path / "src" / "big.heic"
    big.parent.mkdir()
    big.write_bytes(bytes(data))
    [result] = imgpar.convert([big], to="png", out=tmp_path / "out", jobs=1).files
    assert (result.status, result.error) == (
        "failed",
        "too many pixels: 60000x60000, over libheif's own limit (possible decompression bomb)",
    )


def test_a_heic_burst_says_its_other_shots_are_left_out(tmp_path: Path) -> None:
    pillow_heif.register_heif_opener()
    source = tmp_path / "burst.heic"
    shots = [Image.new("RGB", (40, 30), colour) for colour in ("red", "blue", "green")]
    shots[0].save(source, save_all=True, append_images=shots[1:], quality=95)
    report = imgpar.convert([source], to="jpeg", out=tmp_path / "out", jobs=1)
    result = report.files[0]
    assert result.status == "converted", result.error
    assert "3 images (a HEIF burst or collection): first image written" in result.notes
    with Image.open(tmp_path / "out" / "burst.jpg") as im:
        red, green, blue = im.convert("RGB").getpixel((20, 15))
        assert red > 200 and green < 60 and blue < 60
