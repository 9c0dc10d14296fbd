"""HEIC/HEIF input through the `heif` extra (pillow-heif), and the hint
when the extra is missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import API_CONVERT, fresh_python
from PIL import Image

import imgpar

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


def test_heic_without_the_extra_names_the_install(tmp_path: Path) -> None:
    source = _heic(tmp_path / "phone.heic")
    code = (
        "import sys, json; sys.modules['pillow_heif'] = None\n"
        + API_CONVERT.format(jobs=1)
        + "print(json.dumps([f.error for f in r.files]))"
    )
    errors = json.loads(fresh_python(code, source, tmp_path / "o"))
    assert errors == ["HEIC/HEIF needs an extra: pip install 'imgpar[heif]'"]
