"""imgpar info: what imgpar sees in an image, as text and as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    camera_exif,
    convert_one,
    make_cmyk_jpeg,
    make_colour_key_png,
    make_gray16_key_png,
    make_gray16_png,
    make_palette_png,
    make_rgba_png,
    quadrant_picture,
    stored_for_orientation,
    truncated_copy,
    written,
)
from iccprofiles import cmyk_profile, display_p3, gray_profile
from PIL import Image, PngImagePlugin
from typer.testing import CliRunner

from imgpar.cli import app
from imgpar.info import inspect

GPS_XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
    b' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""'
    b' xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="52,31.2N"/>'
    b"</rdf:RDF></x:xmpmeta>"
)


def camera_jpeg(path: Path) -> Path:
    """60 x 90 portrait stored on its side (Orientation 6), P3 profile, GPS, XMP."""
    stored = stored_for_orientation(quadrant_picture((60, 90)), 6)
    path.parent.mkdir(parents=True, exist_ok=True)
    stored.save(path, "JPEG", exif=camera_exif(6), icc_profile=display_p3(), xmp=GPS_XMP)
    return path


def info(*args: str) -> Any:
    return CliRunner().invoke(app, ["info", *args])


def record(path: Path) -> dict[str, Any]:
    result = info(str(path), "--json")
    assert result.exit_code == 0, result.output
    (only,) = json.loads(result.stdout)
    return only


def test_text_shows_what_a_photographer_needs(tmp_path: Path) -> None:
    result = info(str(camera_jpeg(tmp_path / "IMG 0001.jpg")))
    assert result.exit_code == 0, result.output
    lines = [line.split(None, 1) for line in result.stdout.splitlines()[1:] if line.strip()]
    shown = {key: value for key, value in (pair for pair in lines if len(pair) == 2)}
    assert result.stdout.splitlines()[0].endswith("IMG 0001.jpg")
    assert shown["format"] == "JPEG"
    assert shown["size"] == "90x60 stored, 60x90 displayed"
    assert shown["mode"] == "RGB, 8-bit"
    assert shown["orientation"] == "6"
    assert "Test Display P3 (gamma 2.2)" in result.stdout
    assert shown["camera"] == "imgpar test camera"
    assert shown["date"] == "2024:05:01 12:00:00"
    assert shown["GPS"] == "yes" and shown["XMP"] == "yes"
    assert "rotate 90° clockwise (written with Orientation 1)" in result.stdout
    assert "drop GPS and location (default --metadata no-gps)" in result.stdout
    assert "--srgb converts to sRGB" in result.stdout


def test_json_for_scripts(tmp_path: Path) -> None:
    facts = record(camera_jpeg(tmp_path / "cam.jpg"))
    assert facts == {
        "path": str(tmp_path / "cam.jpg"),
        "format": "JPEG",
        "size": [90, 60],
        "displayed": [60, 90],
        "mode": "RGB",
        "bits": 8,
        "orientation": 6,
        "icc": "Test Display P3 (gamma 2.2)",
        "camera": "imgpar test camera",
        "date": "2024:05:01 12:00:00",
        "gps": True,
        "xmp": True,
        "frames": 1,
        "animated": False,
        "convert": [
            "rotate 90° clockwise (written with Orientation 1)",
            "keep the 'Test Display P3 (gamma 2.2)' profile (--srgb converts to sRGB)",
            "drop GPS and location (default --metadata no-gps)",
        ],
        "error": None,
        "warnings": [],
    }


def test_bad_file_fails_alone(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a picture")
    good = make_rgba_png(tmp_path / "good.png")
    result = info(str(bad), str(good))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"imgpar: error: {bad}: not an image imgpar can read (unknown or unsupported format)"
    )
    assert str(good) in result.stdout and "bad.jpg" not in result.stdout
    printed = info(str(bad), str(good), "--json").stdout
    listed = json.loads(printed)
    assert [r["error"] is None for r in listed] == [False, True]
    # Printed a record at a time, as one list indented throughout.
    assert printed == json.dumps(listed, indent=2, ensure_ascii=False) + "\n"
    (tmp_path / "empty").mkdir()
    assert info(str(tmp_path / "empty"), "--json").stdout == "[]\n"


@pytest.mark.parametrize("kind", ["jpeg", "png", "gif"])
def test_pixels_that_do_not_decode_fail_with_the_facts_shown(tmp_path: Path, kind: str) -> None:
    # The header reads, so convert's failure comes from the pixels: info must
    # not call such a file fine. (Pillow decodes a PNG sooner, to look for
    # EXIF after its pixels.)
    whole = tmp_path / f"whole.{kind}"
    if kind == "gif":
        frames = [Image.new("P", (64, 48), i * 40) for i in range(4)]
        frames[0].save(whole, save_all=True, append_images=frames[1:], duration=80)
    else:
        quadrant_picture((640, 480), noise=40).save(whole)
    cut = truncated_copy(whole, tmp_path / f"cut.{kind}", 0.6)
    reason = convert_one(cut, tmp_path / "out", "webp").error
    assert reason
    result = info(str(cut), str(whole))
    assert result.exit_code == 1
    assert result.stderr == ""  # said once, where the facts end
    shown = result.stdout.split("\n\n")[0]
    assert shown.startswith(f"{cut}\n  format       {kind.upper()}\n")
    assert shown.endswith(f"  convert      fails: {reason}")
    cut_record, whole_record = json.loads(info(str(cut), str(whole), "--json").stdout)
    assert (cut_record["error"], cut_record["format"]) == (reason, kind.upper())
    assert whole_record["error"] is None


def test_folders_show_every_image_in_their_tree(tmp_path: Path) -> None:
    make_rgba_png(tmp_path / "shoot" / "a.png")
    camera_jpeg(tmp_path / "shoot" / "day 2" / "b.jpg")
    (tmp_path / "shoot" / "notes.txt").write_text("not an image")
    (tmp_path / "shoot" / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    result = info(str(tmp_path / "shoot"), "--json")
    assert result.exit_code == 0, result.output
    paths = [r["path"] for r in json.loads(result.stdout)]
    assert paths == [str(tmp_path / "shoot" / "a.png"), str(tmp_path / "shoot" / "day 2" / "b.jpg")]
    assert f"note: {tmp_path / 'shoot' / 'gone.jpg'}: broken symlink, skipped" in result.stderr


def test_files_come_in_the_order_named_with_paths_as_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_rgba_png(tmp_path / "z.png")
    camera_jpeg(tmp_path / "sub" / "b.jpg")
    make_rgba_png(tmp_path / "sub" / "a.png")
    monkeypatch.chdir(tmp_path)

    def paths(*named: str) -> list[str]:
        result = info(*named, "--json")
        assert result.exit_code == 0, result.output
        return [r["path"] for r in json.loads(result.stdout)]

    assert paths("z.png", "sub/b.jpg", "sub/a.png") == ["z.png", "sub/b.jpg", "sub/a.png"]
    assert paths("sub/b.jpg", "z.png") == ["sub/b.jpg", "z.png"]
    assert paths(".") == ["z.png", "sub/a.png", "sub/b.jpg"]
    assert paths("sub", "z.png") == ["sub/a.png", "sub/b.jpg", "z.png"]
    assert paths("z.png", "sub/a.png", "./z.png", ".") == ["z.png", "sub/a.png", "sub/b.jpg"]


def test_a_broken_symlink_is_named_so(tmp_path: Path) -> None:
    link = tmp_path / "broken.jpg"
    link.symlink_to(tmp_path / "nowhere.jpg")
    result = info(str(link))
    assert result.exit_code == 1
    reason = "broken symlink: its target does not exist"
    assert result.stderr.strip() == f"imgpar: error: {link}: {reason}"
    assert convert_one(link, tmp_path / "out", "webp").error == reason
    # Named as a SOURCE of convert, it is a usage error, told the same way.
    named = CliRunner().invoke(app, ["convert", str(link), "--to", "webp"])
    assert named.exit_code == 2
    assert named.stderr.strip() == f"imgpar: error: {link}: {reason}"


def test_a_symlink_loop_is_named_so(tmp_path: Path) -> None:
    loop = tmp_path / "loop.jpg"
    loop.symlink_to(loop)
    result = info(str(loop))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"imgpar: error: {loop}: symlink loop: no file at the end of its links"
    )


def test_a_missing_source_is_a_usage_error(tmp_path: Path) -> None:
    typo = tmp_path / "typo.png"
    result = info(str(make_rgba_png(tmp_path / "a.png")), str(typo))
    assert result.exit_code == 2
    assert result.stderr.strip() == f"imgpar: error: no such file or folder: {typo}"
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (make_rgba_png, "flatten alpha on white for jpeg"),
        (make_palette_png, "flatten alpha on white for jpeg"),
        (make_colour_key_png, "flatten alpha on white for jpeg"),
        (make_cmyk_jpeg, "CMYK → RGB, plain conversion (no ICC profile), for webp/jpeg/png/avif"),
        (make_gray16_png, "16-bit → 8-bit for webp/jpeg/avif"),
        (make_gray16_key_png, "16-bit → 8-bit for every target, to keep its colour key as alpha"),
        (make_gray16_key_png, "flatten alpha on white for jpeg"),
    ],
)
def test_says_what_convert_would_do(make: Any, expected: str, tmp_path: Path) -> None:
    facts = record(make(tmp_path / f"image{make.__name__}"))
    assert expected in facts["convert"]


def test_32_bit_gray_says_how_its_range_is_read(tmp_path: Path) -> None:
    im = Image.new("F", (40, 30), -1.0)
    im.paste(3.0, (20, 0, 40, 30))
    im.save(tmp_path / "map.tif")
    facts = record(tmp_path / "map.tif")
    assert facts["convert"] == [
        "32-bit gray stretched from its own range (its values run -1 to 3)",
        "32-bit → 16-bit for png/tiff, 8-bit for the rest",
    ]


@pytest.mark.parametrize(
    ("profile", "shown", "why", "note"),
    [
        (b"not an ICC profile" * 10, "unreadable", "it is damaged", "is damaged: not copied"),
        # Cut short with its header whole, as a lost APP2 chunk leaves it.
        (display_p3()[:300], "unreadable", "it is damaged", "is damaged: not copied"),
        (display_p3()[:-8], "Test Display P3 (gamma 2.2)", "it is damaged", "is damaged"),
        (
            cmyk_profile(),
            "Test CMYK on cream paper",
            "it does not match the pixels",
            "does not match the pixels: not copied, colours taken as sRGB",
        ),
    ],
)
def test_a_profile_convert_drops_is_not_promised(
    profile: bytes, shown: str, why: str, note: str, tmp_path: Path
) -> None:
    path = tmp_path / "rgb.png"
    Image.new("RGB", (16, 16), (200, 80, 60)).save(path, icc_profile=profile)
    facts = record(path)
    assert facts["icc"] == shown
    assert facts["convert"] == [f"drop the {shown!r} profile: {why}"]
    for target in ("webp", "jpeg", "png"):
        result = convert_one(path, tmp_path / "out", target)
        assert any(n.startswith(f"warning: ICC profile {note}") for n in result.notes)
        assert "icc_profile" not in written(result).info


@pytest.mark.parametrize(
    ("mode", "converted", "kept"),
    [("L", "webp", "jpeg/png/avif/tiff"), ("LA", "webp/avif", "jpeg/png/tiff")],
)
def test_a_gray_profile_is_kept_only_where_the_pixels_stay_gray(
    mode: str, converted: str, kept: str, tmp_path: Path
) -> None:
    path = tmp_path / "g.png"
    Image.new(mode, (16, 16), (128,) * len(mode)).save(path, icc_profile=gray_profile())
    facts = record(path)
    name = facts["icc"]
    assert f"gray → sRGB, through its ICC profile, for {converted}" in facts["convert"]
    assert f"keep the {name!r} profile for {kept} (--srgb converts to sRGB)" in facts["convert"]
    for target in (*converted.split("/"), *kept.split("/")):
        out = written(convert_one(path, tmp_path / target, target))
        assert (out.info.get("icc_profile") == gray_profile()) == (target in kept), target


def test_sources_without_a_profile_say_how_they_are_read(tmp_path: Path) -> None:
    rgb = info(str(make_rgba_png(tmp_path / "a.png"))).stdout
    assert "  ICC profile  none (read as sRGB)\n" in rgb
    cmyk = info(str(make_cmyk_jpeg(tmp_path / "c.jpg"))).stdout
    assert "  ICC profile  none\n" in cmyk  # no sRGB for ink: the convert line says how


def test_cmyk_with_profile_and_16_bit_depth(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (8, 8), (0, 0, 0, 0)).save(path, icc_profile=cmyk_profile())
    facts = record(path)
    assert facts["icc"] == "Test CMYK on cream paper"
    assert facts["convert"] == ["CMYK → RGB, through its ICC profile, for webp/jpeg/png/avif"]
    gray16 = record(make_gray16_png(tmp_path / "g16.png"))
    assert (gray16["mode"], gray16["bits"]) == ("I;16", 16)


def test_animation_and_pages(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (16, 16), c) for c in ("red", "green", "blue")]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=80)
    facts = record(tmp_path / "a.gif")
    assert (facts["frames"], facts["animated"]) == (3, True)
    assert "first frame only for jpeg/tiff" in facts["convert"]
    pages = [Image.new("RGB", (16, 16), c) for c in ("red", "blue")]
    pages[0].save(tmp_path / "p.tif", save_all=True, append_images=pages[1:])
    facts = record(tmp_path / "p.tif")
    assert (facts["frames"], facts["animated"]) == (2, False)
    assert "first page only (--all-pages keeps every page in a TIFF)" in facts["convert"]


def test_gps_only_in_xmp_counts(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    info_chunk = PngImagePlugin.PngInfo()
    info_chunk.add_itxt("XML:com.adobe.xmp", GPS_XMP.decode())
    Image.new("RGB", (8, 8)).save(path, pnginfo=info_chunk)
    facts = record(path)
    assert facts["gps"] and facts["xmp"]


def test_rotated_tiff_size_as_stored_and_displayed(tmp_path: Path) -> None:
    # Pillow's TIFF reader reports the upright size itself.
    path = tmp_path / "r.tif"
    stored_for_orientation(quadrant_picture((60, 90)), 6).save(path, tiffinfo={0x0112: 6})
    facts = record(path)
    assert (facts["size"], facts["displayed"]) == ([90, 60], [60, 90])


def test_heic_with_the_extra(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    if not pillow_heif.libheif_info()["HEIF"]:
        pytest.skip("this libheif build has no HEIC encoder")
    pillow_heif.register_heif_opener()
    path = tmp_path / "phone.heic"
    Image.new("RGB", (32, 24), (200, 80, 60)).save(path, quality=90, exif=camera_exif(1))
    facts = inspect(str(path))
    assert facts["error"] is None, facts["error"]
    assert (facts["format"], facts["size"], facts["bits"]) == ("HEIF", [32, 24], 8)
    assert facts["camera"] == "imgpar test camera" and facts["gps"]


def test_names_that_could_act_on_a_terminal_or_are_no_text(tmp_path: Path) -> None:
    Image.new("RGB", (40, 30), (20, 90, 160)).save(tmp_path / "two\nlines.jpg")
    (tmp_path / "red\x1b[31m.jpg").write_bytes(b"not an image")
    odd = tmp_path / os.fsdecode(b"caf\xe9.jpg")
    Image.new("RGB", (40, 30), (20, 90, 160)).save(odd)
    proc = subprocess.run([sys.executable, "-m", "imgpar", "info", str(tmp_path)],
                          capture_output=True)  # fmt: skip
    assert proc.returncode == 1
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert "\x1b" not in out + err
    assert f"{tmp_path}/two\\nlines.jpg\n  format       JPEG\n" in out
    assert f"imgpar: error: {tmp_path}/red\\x1b[31m.jpg: not an image" in err
    # As convert fails it, and named as the run and the reports name it.
    shown = out.split(f"{tmp_path}/caf\\udce9.jpg\n", 1)[1].split("\n\n", 1)[0]
    assert shown.endswith(
        "  convert      fails: its path is not valid UTF-8 (byte 0xe9): rename it to convert it"
    )
    listed = subprocess.run([sys.executable, "-m", "imgpar", "info", "--json", str(odd)],
                            capture_output=True, check=False)  # fmt: skip
    # As the text the terminal shows, never a lone surrogate's JSON escape.
    assert json.loads(listed.stdout)[0]["path"] == f"{tmp_path}/caf\\udce9.jpg"
