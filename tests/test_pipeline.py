"""imgpar.pipeline: one image in, files out, checked by decoding what was written."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest
from conftest import (
    ARTIST,
    CAMERA_ARTIST,
    CAMERA_COPYRIGHT,
    COPYRIGHT,
    GPS_IFD,
    GRAY16_LEFT,
    GRAY16_RIGHT,
    ORIENTATION,
    assert_upright,
    close_to,
    convert_one,
    fresh_python,
    make_camera_jpeg,
    make_rgb16_png,
    make_small_jpeg,
    png_header_only,
    quadrant_picture,
    temp_leftovers,
    truncated_copy,
    written,
)
from PIL import Image, ImageChops, ImageOps, ImageSequence, JpegImagePlugin

import imgpar
from imgpar.errors import not_imgpars
from imgpar.pipeline import configure_worker, convert_file, describe
from imgpar.spec import ConvertSpec, OutputSpec, Resize, Task

ALL_TARGETS = ("webp", "jpeg", "png", "avif", "tiff")
ALPHA_TARGETS = ("webp", "png", "avif", "tiff")
LOSSLESS_TARGETS = ("png", "tiff")
WHITE = (255, 255, 255)


def half(im: Image.Image, side: str) -> tuple[int, ...]:
    """The pixel in the middle of the left or right half."""
    x = im.width // 4 if side == "left" else im.width * 3 // 4
    pixel = im.getpixel((x, im.height // 2))
    return pixel if isinstance(pixel, tuple) else (pixel,)


def no_red_anywhere(im: Image.Image) -> bool:
    rgb = im.convert("RGB")
    red, green, blue = rgb.split()
    # Red dominance: R - max(G, B), everywhere.
    dominance = ImageChops.subtract(red, ImageChops.lighter(green, blue))
    return dominance.getextrema()[1] < 60


# -- the camera JPEG: size, orientation, metadata, for every target ---------------------


@pytest.mark.parametrize("target", ALL_TARGETS)
def test_camera_jpeg_upright_in_every_target(
    target: str, camera_jpeg: Path, tmp_path: Path
) -> None:
    result = convert_one(camera_jpeg, tmp_path / "out", target)
    im = written(result)
    assert (result.width, result.height) == (200, 300)  # as displayed
    assert im.size == (200, 300)
    assert im.mode == "RGB"
    assert_upright(im)


@pytest.mark.parametrize("target", ALL_TARGETS)
@pytest.mark.parametrize("fixture", ["rgba_png", "cmyk_jpeg"])
def test_recorded_size_is_the_size_on_disk(
    fixture: str, target: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    source: Path = request.getfixturevalue(fixture)
    result = convert_one(source, tmp_path / "out", target)
    assert result.status == "converted", result.error
    (record,) = result.outputs
    assert record.bytes == os.path.getsize(record.path)


@pytest.mark.parametrize(
    ("target", "exif_ifd"),
    [
        *((t, True) for t in ALL_TARGETS),
        *((t, False) for t in ALL_TARGETS),
    ],
)
def test_metadata_orientation_reset_gps_dropped_credits_kept(
    target: str, exif_ifd: bool, tmp_path: Path
) -> None:
    source = make_camera_jpeg(tmp_path / "src" / "cam.jpg", exif_ifd=exif_ifd)
    with Image.open(source) as im:
        exif = im.getexif()
        assert exif[ORIENTATION] == 6 and exif.get_ifd(GPS_IFD)  # the fixture has both
    im = written(convert_one(source, tmp_path / "out", target))
    assert im.size == (200, 300)
    assert_upright(im)
    exif = im.getexif()
    # 1, or absent (AVIF moves orientation into its own irot/imir boxes): both
    # mean the stored pixels are shown as they are.
    assert exif.get(ORIENTATION, 1) == 1
    if target != "avif":
        assert exif.get(ORIENTATION) == 1
    assert GPS_IFD not in exif
    assert not exif.get_ifd(GPS_IFD)
    assert exif.get(ARTIST) == CAMERA_ARTIST
    assert exif.get(COPYRIGHT) == CAMERA_COPYRIGHT


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_every_rotation_made_upright(orientation: int, tmp_path: Path) -> None:
    source = make_camera_jpeg(tmp_path / "src" / "o.jpg", orientation=orientation)
    im = written(convert_one(source, tmp_path / "out", "png"))
    assert im.size == (200, 300)
    assert_upright(im)


# -- transparency ---------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["rgba_png", "palette_png", "colour_key_png"])
def test_transparency_flattened_on_white_for_jpeg(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    source: Path = request.getfixturevalue(fixture)
    im = written(convert_one(source, tmp_path / "out", "jpeg"))
    assert im.mode == "RGB"
    assert "transparency" not in im.info
    assert close_to(half(im, "right"), WHITE, 12)
    assert close_to(half(im, "left"), (0, 0, 255), 40)
    assert no_red_anywhere(im)


@pytest.mark.parametrize("target", ALPHA_TARGETS)
@pytest.mark.parametrize("fixture", ["rgba_png", "palette_png", "colour_key_png"])
def test_transparency_kept_where_the_format_has_alpha(
    fixture: str, target: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    source: Path = request.getfixturevalue(fixture)
    im = written(convert_one(source, tmp_path / "out", target))
    assert im.mode == "RGBA"
    assert im.size == (64, 48)
    assert half(im, "right")[3] <= 8
    assert half(im, "left")[3] >= 247
    assert close_to(half(im, "left")[:3], (0, 0, 255), 40)


@pytest.mark.parametrize("fixture", ["la_png", "gray_key_png", "gray16_key_png"])
def test_gray_alpha_flattened_on_white_for_jpeg(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    im = written(convert_one(request.getfixturevalue(fixture), tmp_path / "out", "jpeg"))
    assert im.mode in ("L", "RGB")
    assert close_to(half(im.convert("L"), "right"), (255,), 12)  # not the hidden black
    assert close_to(half(im.convert("L"), "left"), (60,), 12)


@pytest.mark.parametrize("target", ALPHA_TARGETS)
@pytest.mark.parametrize("fixture", ["la_png", "gray_key_png", "gray16_key_png"])
def test_gray_alpha_keeps_alpha(
    fixture: str, target: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    im = written(convert_one(request.getfixturevalue(fixture), tmp_path / "out", target))
    assert im.mode in ("LA", "RGBA")
    rgba = im.convert("RGBA")
    assert half(rgba, "right")[3] <= 8
    assert half(rgba, "left")[3] >= 247
    assert close_to(half(rgba, "left")[:3], (60, 60, 60), 15)


# -- bit depth and colour models --------------------------------------------------------


@pytest.mark.parametrize("target", ["webp", "jpeg", "avif"])
def test_16_bit_scaled_not_clipped_for_8_bit_targets(
    target: str, gray16_png: Path, tmp_path: Path
) -> None:
    with Image.open(gray16_png) as source:
        assert source.mode == "I;16"
    im = written(convert_one(gray16_png, tmp_path / "out", target))
    assert im.mode in ("L", "RGB")
    gray = im.convert("L")
    # 60000 / 257 = 233 and 30000 / 257 = 117; clipping would give 255 for both.
    assert close_to(half(gray, "left"), (GRAY16_LEFT // 257,), 4)
    assert close_to(half(gray, "right"), (GRAY16_RIGHT // 257,), 4)


@pytest.mark.parametrize("target", LOSSLESS_TARGETS)
def test_16_bit_kept_by_png_and_tiff(target: str, gray16_png: Path, tmp_path: Path) -> None:
    im = written(convert_one(gray16_png, tmp_path / "out", target))
    assert im.mode == "I;16"
    assert half(im, "left") == (GRAY16_LEFT,)
    assert half(im, "right") == (GRAY16_RIGHT,)


def test_16_bit_resized_keeps_its_range(gray16_png: Path, tmp_path: Path) -> None:
    result = convert_one(gray16_png, tmp_path / "out", "png", "webp", resize=Resize(width=32))
    png, webp = written(result, 0), written(result, 1)
    assert png.size == webp.size == (32, 24)
    assert png.mode == "I;16"
    assert abs(png.getpixel((2, 12)) - GRAY16_LEFT) <= 64  # type: ignore[operator]
    assert close_to(half(webp.convert("L"), "left"), (GRAY16_LEFT // 257,), 4)


@pytest.mark.parametrize("target", LOSSLESS_TARGETS)
def test_16_bit_colour_is_read_at_8_bits_and_said(target: str, tmp_path: Path) -> None:
    source = make_rgb16_png(tmp_path / "scan.png", (40, 30), (60000, 30000, 5000))
    result = convert_one(source, tmp_path / "out", target)
    im = written(result)
    assert (im.mode, im.size) == ("RGB", (40, 30))
    assert close_to(im.getpixel((20, 15)), (60000 // 257, 30000 // 257, 5000 // 257), 2)
    assert "16-bit colour read at 8 bits: Pillow keeps 16 bits for gray only" in result.notes


@pytest.mark.parametrize("target", ["png", "webp"])
def test_a_16_bit_colour_key_keys_the_colour_it_names(tmp_path: Path, target: str) -> None:
    # In 16-bit units the key (255, 0, 255) is a near-black, not the magenta
    # that its number would name at 8 bits.
    near_black = (255, 0, 255)
    source = make_rgb16_png(tmp_path / "logo.png", (40, 30), (65535, 0, 65535), left=near_black,
                            key=near_black)  # fmt: skip
    im = written(convert_one(source, tmp_path / "out", target, lossless=True))
    assert im.mode == "RGBA"
    assert im.getpixel((5, 15))[3] == 0
    assert im.getpixel((30, 15)) == (255, 0, 255, 255)


def test_a_16_bit_colour_key_keys_every_frame_of_an_animation(tmp_path: Path) -> None:
    near_black, blue = (255, 0, 255), (0, 0, 60000)
    source = make_rgb16_png(tmp_path / "sticker.png", (40, 30), (65535, 0, 65535),
                            key=near_black, frames=[near_black, blue, near_black])  # fmt: skip
    result = convert_one(source, tmp_path / "out", "webp", lossless=True)
    with Image.open(result.outputs[0].path) as im:
        assert im.n_frames == 3
        shown = [f.convert("RGBA").getpixel((5, 15)) for f in ImageSequence.Iterator(im)]
    assert [alpha for *_, alpha in shown] == [0, 255, 0]
    assert shown[1] == (0, 0, 234, 255)  # 60000 at 8 bits


@pytest.mark.parametrize(
    ("mode", "values", "read_as", "shown"),
    [
        ("F", (0.0, 0.5), "0-1", 0.5 * 255),
        ("I", (0, 200), "0-255", 200),
        ("I", (0, 300), "0-65535", 300 / 257),  # the brightest 300: dark, and said why
    ],
)
def test_32_bit_gray_is_read_in_the_smallest_usual_range_and_said(
    tmp_path: Path, mode: str, values: tuple[float, float], read_as: str, shown: float
) -> None:
    source = tmp_path / "scan.tif"
    im = Image.new(mode, (40, 30), values[0])
    im.paste(values[1], (20, 0, 40, 30))
    im.save(source)
    result = convert_one(source, tmp_path / "out", "webp")
    assert abs(written(result).convert("L").getpixel((30, 15)) - shown) <= 2
    said = f"32-bit gray read as {read_as}, as the file does not say its range"
    assert f"{said} (its values run {values[0]:g} to {values[1]:g})" in result.notes


@pytest.mark.parametrize(
    ("stray", "values"),
    [(1.0001, "0 to 1.0001"), (-0.0001, "-0.0001 to 0.5"), (7.0, "0 to 7")],
)
def test_a_float_picture_with_stray_values_is_still_read_as_0_to_1(
    tmp_path: Path, stray: float, values: str
) -> None:
    # Ringing or a highlight past 1 once read the whole picture as 0-255: black.
    source = tmp_path / "scan.tif"
    im = Image.new("F", (40, 30), 0.0)
    im.paste(0.5, (20, 0, 40, 30))
    im.putpixel((0, 0), stray)
    im.save(source)
    result = convert_one(source, tmp_path / "out", "png")
    out = written(result)
    assert out.mode.startswith("I")  # 16 bits kept
    assert abs(out.getpixel((30, 15)) - 0.5 * 65535) <= 1
    assert out.getpixel((0, 0)) == (65535 if stray > 0 else 0)  # clipped
    said = "32-bit gray read as 0-1, as the file does not say its range"
    assert f"{said} (its values run {values}: those outside it clipped)" in result.notes


def test_a_float_picture_is_rounded_to_16_bits_not_cut(tmp_path: Path) -> None:
    # Cut, every level came out half a level dark on average.
    source = tmp_path / "ramp.tif"
    ramp = [i / 511 for i in range(512)]
    im = Image.new("F", (512, 1))
    im.putdata(ramp)
    im.save(source)
    out = written(convert_one(source, tmp_path / "out", "png"))
    assert out.mode.startswith("I")
    errors = [got - v * 65535 for got, v in zip(out.get_flattened_data(), ramp, strict=True)]
    assert max(abs(e) for e in errors) <= 0.501  # float32's own rounding besides
    assert abs(sum(errors) / len(errors)) < 0.05


@pytest.mark.parametrize(("strays", "read_as_unit"), [(20, True), (60, False)])
def test_a_float_picture_is_read_as_0_to_1_when_99_percent_of_it_is(
    tmp_path: Path, strays: int, read_as_unit: bool
) -> None:
    # 4,000 values: 20 past 1 is half a percent, 60 is one and a half.
    source = tmp_path / "scan.tif"
    im = Image.new("F", (100, 40), 0.5)
    for i in range(strays):
        im.putpixel((i, 0), 5.0)
    im.save(source)
    result = convert_one(source, tmp_path / "out", "png")
    shown = written(result).getpixel((50, 20))
    assert shown == (32768 if read_as_unit else 129)  # 0.5 x 65535, 0.5 x 257: rounded
    assert ("read as 0-1" if read_as_unit else "read as 0-255") in result.notes[-1]


@pytest.mark.parametrize(
    ("base", "odd", "where", "said", "expected"),
    [
        # "No data" in a corner, as elevation models write it: the first
        # pixel's NaN made Pillow's extrema NaN, and the picture black.
        ((-50.0, 120.0), float("nan"), (0, 0), "stretched from its own range (its values run -50"
         " to 120; 16 no data (NaN, infinite or past 1e38), shown black (+inf white))",
         (0, 0, 65535)),
        ((10.0, 200.0), float("nan"), (8, 8), "read as 0-255, as the file does not say its range"
         " (its values run 10 to 200; 16 no data", (2570, 0, 51400)),
        ((10.0, 200.0), float("inf"), (8, 8), "read as 0-255, as the file does not say its range"
         " (its values run 10 to 200; 16 no data", (2570, 65535, 51400)),
        ((0.0, 0.5), float("nan"), (0, 0), "read as 0-1, as the file does not say its range (its"
         " values run 0 to 0.5; 16 no data", (0, 0, 32768)),
        # As GIS tools write "no data" in float32.
        ((0.0, 0.5), -3.4028234e38, (8, 8), "read as 0-1, as the file does not say its range (its"
         " values run 0 to 0.5; 16 no data", (0, 0, 32768)),
        ((float("nan"), float("nan")), float("inf"), (8, 8), "read as 0-1, as the file does not"
         " say its range (no value; 1200 no data", (0, 65535, 0)),
    ],
)  # fmt: skip
def test_nan_and_infinity_in_a_float_picture_are_read_at_its_ends(
    tmp_path: Path,
    base: tuple[float, float],
    odd: float,
    where: tuple[int, int],
    said: str,
    expected: tuple[int, int, int],
) -> None:
    source = tmp_path / "dem.tif"
    im = Image.new("F", (40, 30), base[0])
    im.paste(base[1], (20, 0, 40, 30))
    im.paste(odd, (*where, where[0] + 4, where[1] + 4))
    im.save(source)
    result = convert_one(source, tmp_path / "out", "png")
    out = written(result)
    assert (out.getpixel((12, 20)), out.getpixel(where), out.getpixel((30, 20))) == expected
    assert said in result.notes[-1]


@pytest.mark.parametrize("mark", [-9999.0, 500.0])
def test_an_elevation_models_no_data_value_is_no_data(tmp_path: Path, mark: float) -> None:
    # Stretched from -9999 with the rest, the terrain (100-120 m) was flat white.
    from PIL import TiffImagePlugin

    source = tmp_path / "dem.tif"
    im = Image.new("F", (40, 30), mark)
    im.paste(100.0, (10, 0, 25, 30))
    im.paste(120.0, (25, 0, 40, 30))
    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[42113] = f"{mark:g}"  # GDAL_NODATA, as GDAL writes it: text
    im.save(source, tiffinfo=tags)
    result = convert_one(source, tmp_path / "out", "png")
    out = written(result)
    assert [out.getpixel((x, 15)) for x in (5, 15, 30)] == [0, 100 * 257, 120 * 257]
    assert "(its values run 100 to 120; 300 no data" in result.notes[-1]


@pytest.mark.parametrize(("mode", "low", "high"), [("F", -1.0, 3.0), ("I", -5, 70000)])
def test_32_bit_gray_that_fits_no_usual_range_is_stretched(
    tmp_path: Path, mode: str, low: float, high: float
) -> None:
    source = tmp_path / "map.tif"
    im = Image.new(mode, (40, 30), low)
    im.paste(high, (20, 0, 40, 30))
    im.paste((low + high) / 2 if mode == "F" else (low + high) // 2, (10, 0, 20, 30))
    im.save(source)
    result = convert_one(source, tmp_path / "out", "png")
    out = written(result)
    assert [out.getpixel((x, 15)) for x in (5, 30)] == [0, 65535]
    assert abs(out.getpixel((15, 15)) - 65535 / 2) <= 1
    assert f"32-bit gray stretched from its own range (its values run {low:g} to {high:g})" in (
        result.notes
    )


@pytest.mark.parametrize("target", ["webp", "jpeg", "png", "avif"])
def test_cmyk_becomes_rgb(target: str, cmyk_jpeg: Path, tmp_path: Path) -> None:
    im = written(convert_one(cmyk_jpeg, tmp_path / "out", target))
    assert im.mode == "RGB"
    assert close_to(half(im, "left"), (0, 255, 255), 20)
    assert close_to(half(im, "right"), WHITE, 20)


def test_cmyk_tiff_keeps_its_colours(cmyk_jpeg: Path, tmp_path: Path) -> None:
    # TIFF can hold CMYK (formats.TARGETS lists it); either way the colours hold.
    im = written(convert_one(cmyk_jpeg, tmp_path / "out", "tiff"))
    assert im.mode in ("CMYK", "RGB")
    assert close_to(half(im.convert("RGB"), "left"), (0, 255, 255), 20)
    assert close_to(half(im.convert("RGB"), "right"), WHITE, 20)


@pytest.mark.parametrize("target", ALL_TARGETS)
def test_bilevel_png_in_every_target(target: str, bilevel_png: Path, tmp_path: Path) -> None:
    im = written(convert_one(bilevel_png, tmp_path / "out", target))
    assert im.size == (64, 48)
    assert im.mode in ("1", "L", "RGB")
    gray = im.convert("L")
    assert close_to(half(gray, "left"), (0,), 12)
    assert close_to(half(gray, "right"), (255,), 12)


@pytest.mark.parametrize("target", ALL_TARGETS)
@pytest.mark.parametrize(
    "fixture", ["rgba_png", "palette_png", "gray16_png", "cmyk_jpeg", "bilevel_png", "la_png"]
)
def test_every_input_mode_writes_every_target(
    fixture: str, target: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    source: Path = request.getfixturevalue(fixture)
    im = written(convert_one(source, tmp_path / "out", target))
    assert im.size == (64, 48)
    if target == "jpeg":
        assert im.mode in ("L", "RGB")
    assert temp_leftovers(tmp_path) == []


# -- resizing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resize", "size"),
    [
        (Resize(width=100, height=100), (67, 100)),  # --max-size 100
        (Resize(width=50), (50, 75)),  # --width 50
        (Resize(height=60), (40, 60)),  # --height 60
        (Resize(width=1000, height=1000), (200, 300)),  # never enlarges
        (Resize(width=150, height=150), (100, 150)),
    ],
)
def test_resize_fits_the_displayed_picture(
    resize: Resize, size: tuple[int, int], camera_jpeg: Path, tmp_path: Path
) -> None:
    result = convert_one(camera_jpeg, tmp_path / "out", "png", resize=resize)
    im = written(result)
    assert im.size == size
    assert (result.width, result.height) == (200, 300)  # the source's, not the output's
    assert_upright(im)


@pytest.mark.parametrize("target", ALL_TARGETS)
def test_resize_never_enlarges(target: str, rgba_png: Path, tmp_path: Path) -> None:
    resize = Resize(width=4000, height=4000)
    im = written(convert_one(rgba_png, tmp_path / "out", target, resize=resize))
    assert im.size == (64, 48)


def test_several_outputs_from_one_decode(camera_jpeg: Path, tmp_path: Path) -> None:
    spec = ConvertSpec(
        outputs=(
            OutputSpec(target="webp", resize=Resize(width=40, height=40)),
            OutputSpec(target="png", resize=None),
            OutputSpec(target="jpeg", resize=Resize(height=150)),
        )
    )
    configure_worker(spec)
    out = tmp_path / "out"
    paths = (str(out / "a.webp"), str(out / "a.png"), str(out / "a.jpg"))
    task = Task(
        source=str(camera_jpeg),
        display="a",
        outputs=paths,
        source_bytes=camera_jpeg.stat().st_size,
    )
    result = convert_file(task, spec)
    sizes = [written(result, i).size for i in range(3)]
    assert sizes == [(27, 40), (200, 300), (100, 150)]
    for i in range(3):
        assert_upright(written(result, i))


def test_big_reduction_shrinks_on_load(tmp_path: Path) -> None:
    """A 24 MP camera JPEG (orientation 6) fitted into 300 x 300 decodes at
    1/8 scale with JPEG draft: the worker's peak memory stays far below the
    96 MB that the full-size decode alone would need, and the output is right."""
    if not os.path.exists("/proc/self/status"):
        pytest.skip("peak memory is read from /proc")
    source = make_camera_jpeg(
        tmp_path / "big.jpg", displayed=(4000, 6000), orientation=6, noise=0, quality=80
    )
    out = tmp_path / "out" / "big.png"
    script = textwrap.dedent(
        """
        import os, sys
        from imgpar.pipeline import configure_worker, convert_file
        from imgpar.spec import ConvertSpec, OutputSpec, Resize, Task

        def peak():
            for line in open("/proc/self/status"):
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024

        box = Resize(width=300, height=300)
        spec = ConvertSpec(outputs=(OutputSpec(target="png", resize=box),))
        configure_worker(spec)
        before = peak()
        source, out = sys.argv[1], sys.argv[2]
        task = Task(source=source, display=source, outputs=(out,),
                    source_bytes=os.path.getsize(source))
        result = convert_file(task, spec)
        print(result.status, result.error, before, peak())
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(source), str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,  # import imgpar as installed, not from the current folder
    )
    assert proc.returncode == 0, proc.stderr
    status, error, before, after = proc.stdout.split()
    assert (status, error) == ("converted", "None")
    full_decode = 4000 * 6000 * 4
    assert int(after) - int(before) < full_decode // 3
    im = Image.open(out)
    assert im.size == (200, 300)
    assert_upright(im)


# -- encoder options --------------------------------------------------------------------


@pytest.mark.parametrize("target", ["webp", "jpeg", "avif"])
def test_quality_changes_the_size(target: str, camera_jpeg: Path, tmp_path: Path) -> None:
    low = convert_one(camera_jpeg, tmp_path / "low", target, quality=10)
    high = convert_one(camera_jpeg, tmp_path / "high", target, quality=95)
    assert written(low).size == written(high).size
    assert low.outputs[0].bytes < high.outputs[0].bytes


def _red_text(path: Path) -> Image.Image:
    """Pure red columns a pixel wide on white, as red text's strokes: the
    worst case for colour at half resolution."""
    picture = Image.new("RGB", (64, 48), "white")
    for x in range(0, 64, 2):
        picture.paste((255, 0, 0), (x, 0, x + 1, 48))
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path)
    return picture


@pytest.mark.parametrize("target", ["jpeg", "avif"])
def test_from_quality_90_colour_keeps_its_full_resolution(target: str, tmp_path: Path) -> None:
    # As libvips and ImageMagick choose: at -q 95 a photographer's red text
    # came out pink-fringed, its colour halved (4:2:0) as at any quality.
    source = tmp_path / "src" / "red.png"
    picture = _red_text(source)
    reds = {}
    for quality in (85, 95):
        result = convert_one(source, tmp_path / f"q{quality}", target, quality=quality)
        im = written(result).convert("RGB")
        # How far the red columns' green and blue are from 0: colour bled.
        bled = [im.getpixel((x, 24))[1] for x in range(2, 62, 2)]  # not the edges
        reds[quality] = sum(bled) / len(bled)
        if target == "jpeg":
            assert JpegImagePlugin.get_sampling(Image.open(result.outputs[0].path)) == (
                0 if quality >= 90 else 2
            )
    assert picture.getpixel((0, 24)) == (255, 0, 0)
    assert reds[95] < 10 < 25 < reds[85], reds


def test_lossless_webp_is_exact(tmp_path: Path) -> None:
    source = tmp_path / "src" / "exact.png"
    source.parent.mkdir()
    picture = quadrant_picture((64, 48), noise=40)
    picture.save(source)
    im = written(convert_one(source, tmp_path / "out", "webp", lossless=True))
    assert im.convert("RGB").tobytes() == picture.tobytes()


# -- bad input --------------------------------------------------------------------------


@pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="counts the bytes read")
def test_a_huge_file_that_is_no_image_is_not_read_through(tmp_path: Path) -> None:
    # A 20 GB file of zeros named .jpg was hashed whole for the cache (13 s)
    # before its first bytes failed it; the time grows with its size.
    source = tmp_path / "src" / "zeros.jpg"
    source.parent.mkdir()
    with open(source, "wb") as fp:
        fp.truncate(2 << 30)  # sparse: no disk space
    before = _bytes_read()
    result = convert_one(source, tmp_path / "out", "webp")
    assert (result.status, result.error) == (
        "failed", "not an image imgpar can read (unknown or unsupported format)"
    )  # fmt: skip
    assert _bytes_read() - before < 1 << 20


def _bytes_read() -> int:
    """What this process has read so far, in bytes (Linux's count)."""
    with open("/proc/self/io") as counts:
        return next(int(line.split()[1]) for line in counts if line.startswith("rchar:"))


def test_a_png_of_no_interlace_method_png_has_is_damaged_not_truncated(tmp_path: Path) -> None:
    # Pillow reads its pixels as if cut short: "truncated", and under
    # --allow-truncated a blank image was written.
    source = tmp_path / "src" / "odd.png"
    source.parent.mkdir()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(source)
    data = bytearray(source.read_bytes())
    data[28] = 9  # IHDR's interlace method
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    source.write_bytes(bytes(data))
    for truncated in (False, True):
        result = convert_one(source, tmp_path / "out", "webp", allow_truncated=truncated)
        assert (result.status, result.error) == (
            "failed", "damaged PNG file: its header names interlace method 9 (PNG has 0 and 1)"
        )  # fmt: skip


def _bad(kind: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "empty":
        path = folder / "empty.jpg"
        path.write_bytes(b"")
    elif kind == "text":
        path = folder / "notes.jpg"
        path.write_text("these are not the pixels you are looking for\n")
    elif kind == "truncated":
        whole = make_small_jpeg(folder / "whole.jpg", size=(320, 240))
        path = truncated_copy(whole, folder / "truncated.jpg", 0.4)
        whole.unlink()
    elif kind == "truncated_camera":
        whole = make_camera_jpeg(folder / "whole.jpg")
        path = truncated_copy(whole, folder / "truncated_camera.jpg", 0.5)
        whole.unlink()
    elif kind == "huge_header":
        path = png_header_only(folder / "huge.png")
    elif kind == "missing":
        path = folder / "vanished.jpg"
    else:
        raise AssertionError(kind)
    return path


BAD_KINDS = ["empty", "text", "truncated", "truncated_camera", "huge_header", "missing"]


@pytest.mark.parametrize("target", ["jpeg", "webp", "png"])
@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_file_is_a_failed_result(kind: str, target: str, tmp_path: Path) -> None:
    source = _bad(kind, tmp_path / "src")
    out = tmp_path / "out"
    result = convert_one(source, out, target)
    assert result.status == "failed"
    assert result.outputs == ()
    assert result.error and result.error.strip() == result.error
    assert "\n" not in result.error and len(result.error) <= 300
    assert "Traceback" not in result.error
    assert result.source == str(source)
    produced = [p for p in out.rglob("*")] if out.exists() else []
    assert [p for p in produced if p.is_file()] == []
    assert temp_leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("empty", ("not an image", "empty", "cannot identify", "unknown")),
        ("text", ("not an image", "cannot identify", "unknown")),
        ("truncated", ("truncated",)),
        ("huge_header", ("pixels",)),
    ],
)
def test_bad_file_reason_says_what_is_wrong(
    kind: str, words: tuple[str, ...], tmp_path: Path
) -> None:
    result = convert_one(_bad(kind, tmp_path / "src"), tmp_path / "out", "webp")
    assert result.error is not None
    assert any(word in result.error.lower() for word in words), result.error


@pytest.mark.parametrize(
    ("fmt", "cut", "reason"),
    [
        ("JPEG", 3, "damaged JPEG file: its header cannot be read (truncated or corrupt)"),
        ("JPEG", 12, "truncated JPEG file: it ends within its header"),
        ("PNG", 10, "damaged PNG file: its header cannot be read (truncated or corrupt)"),
        ("PNG", 20, "truncated PNG file: it ends within its header"),
        ("GIF", 8, "damaged GIF file: its header cannot be read (truncated or corrupt)"),
        ("TIFF", 6, "damaged TIFF file: its header cannot be read (truncated or corrupt)"),
        ("WEBP", 14, "truncated WEBP file: it ends early (14 of 86 bytes)"),
        ("AVIF", 40, "damaged AVIF file: its header cannot be read (truncated or corrupt)"),
        ("BMP", 10, "damaged BMP file: its header cannot be read (truncated or corrupt)"),
        ("BMP", 20, "truncated BMP file: it ends within its header"),
    ],
)
def test_a_header_cut_short_is_named_by_its_format(
    fmt: str, cut: int, reason: str, tmp_path: Path
) -> None:
    # A copy interrupted in its first bytes is a damaged image, not "no image".
    whole = tmp_path / "whole"
    Image.new("RGB", (40, 30), (10, 120, 200)).save(whole, fmt)
    source = tmp_path / "src" / f"cut.{fmt.lower()}"
    source.parent.mkdir()
    source.write_bytes(whole.read_bytes()[:cut])
    result = convert_one(source, tmp_path / "out", "png")
    assert (result.status, result.error) == ("failed", reason)


def test_the_pixel_limit_counts_the_pages_that_are_decoded(tmp_path: Path) -> None:
    # A 20-page scan was refused a first-page JPEG for its 20 pages, though
    # only the first is ever decoded; --all-pages decodes them all.
    pages = [Image.new("L", (100, 100), 40 * i) for i in range(3)]
    source = tmp_path / "src" / "scan.tif"
    source.parent.mkdir()
    pages[0].save(source, save_all=True, append_images=pages[1:])
    first = convert_one(source, tmp_path / "out", "jpeg", max_pixels=25_000)
    assert first.status == "converted", first.error
    every = convert_one(source, tmp_path / "all", "tiff", max_pixels=25_000, all_pages=True)
    assert every.error == (
        "too many pixels: 100x100 x 3 pages (and 4,096 a page besides), over --max-pixels 25,000"
        " (possible decompression bomb)"
    )
    # An animation's frames are all decoded, whatever the target.
    gif = tmp_path / "src" / "anim.gif"
    pages[0].save(gif, save_all=True, append_images=pages[1:], duration=100)
    assert convert_one(gif, tmp_path / "gif", "jpeg", max_pixels=25_000).status == "failed"


def test_a_webp_cut_short_is_called_truncated(tmp_path: Path) -> None:
    # libwebp opens nothing of it: "corrupt image data (could not create
    # decoder object)" said nothing of a copy that stopped half way.
    whole = tmp_path / "whole"
    Image.effect_noise((200, 150), 60).convert("RGB").save(whole, "WEBP")
    data = whole.read_bytes()
    source = tmp_path / "src" / "cut.webp"
    source.parent.mkdir()
    source.write_bytes(data[: len(data) // 2])
    result = convert_one(source, tmp_path / "out", "png")
    assert (result.status, result.error) == (
        "failed",
        f"truncated WEBP file: it ends early ({len(data) // 2:,} of {len(data):,} bytes)",
    )


def test_failed_output_leaves_an_existing_output_whole(tmp_path: Path) -> None:
    """Atomic writes: a failure never leaves a half-written file under the real
    name, and an older complete output there is not destroyed."""
    source = _bad("truncated", tmp_path / "src")
    out = tmp_path / "out"
    out.mkdir()
    previous = out / "truncated.jpg"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(previous)
    before = previous.read_bytes()
    result = convert_one(source, out, "jpeg")
    assert result.status == "failed"
    assert previous.read_bytes() == before
    assert temp_leftovers(tmp_path) == []


@pytest.mark.parametrize("below", ["", "deeper"])
def test_a_file_where_the_output_folder_should_be(below: str, tmp_path: Path) -> None:
    # The reason names the output and what is in its way, never a temporary name.
    source = tmp_path / "b.png"
    quadrant_picture((32, 24)).save(source)
    blocker = tmp_path / "out" / "sub"
    blocker.parent.mkdir()
    blocker.write_bytes(b"the user's file")
    folder = blocker / below if below else blocker
    result = convert_one(source, folder, "webp")
    assert (result.status, result.error) == (
        "failed",
        f"cannot write {folder / 'b.webp'}: {blocker} is a file, not a folder",
    )
    assert blocker.read_bytes() == b"the user's file"
    assert temp_leftovers(tmp_path) == []


@pytest.mark.parametrize("in_place", [False, True])
def test_a_folder_where_the_output_should_be(tmp_path: Path, in_place: bool) -> None:
    source = tmp_path / "b.png"
    quadrant_picture((32, 24)).save(source)
    out = tmp_path if in_place else tmp_path / "out"
    (out / "b.webp").mkdir(parents=True)
    result = imgpar.convert([tmp_path], to="webp", out=None if in_place else out, jobs=1)
    (failed,) = result.files
    assert (failed.status, failed.error) == (
        "failed",
        f"cannot write {out / 'b.webp'}: a folder has that name",
    )
    assert temp_leftovers(tmp_path) == []


def test_quadrant_fixture_is_what_pillow_shows(camera_jpeg: Path) -> None:
    """The fixture itself: Pillow's own exif_transpose shows it upright, and
    the stored pixels are not upright (so the pipeline tests can fail)."""
    with Image.open(camera_jpeg) as im:
        assert im.size == (300, 200)
        upright = ImageOps.exif_transpose(im)
        assert upright is not None
        assert_upright(upright)
        with pytest.raises(AssertionError):
            assert_upright(im.resize((200, 300)))


def test_in_place_a_file_in_an_outputs_way_is_replaced_only_if_imgpars(tmp_path: Path) -> None:
    """imgpar's own as it recorded it, or written by this very run (a chunk's
    first try on a cluster, before its retry: the same bytes); never another
    file, one saved since the run began included, which was replaced unsaid."""
    source, made = tmp_path / "a.png", tmp_path / "a.webp"
    Image.new("RGB", (40, 30), (250, 0, 0)).save(source)
    task = Task(source=str(source), display=str(source), outputs=(str(made),),
                source_bytes=source.stat().st_size, replaceable=())  # fmt: skip
    spec = ConvertSpec(outputs=(OutputSpec(target="webp"),))
    assert convert_file(task._replace(replaceable=None), spec).status == "converted"
    output = made.read_bytes()
    run_started = os.stat(source).st_mtime_ns + 10**9
    older, newer = run_started - 10**9, run_started + 10**9
    for there, mine, started, when, converted in (
        (b"mine!", (), run_started, older, False),  # the user's file, older than the run
        (b"mine!", (), None, older, False),
        (b"mine!", ((str(made), 5),), run_started, older, True),  # imgpar's, as recorded
        (b"mine!", (), run_started, newer, False),  # the user's, saved as the run went on
        (output, (), run_started, newer, True),  # this run's own first try
        (output[:-1] + b"!", (), run_started, newer, False),
    ):
        made.write_bytes(there)
        os.utime(made, ns=(when, when))
        spec = ConvertSpec(outputs=(OutputSpec(target="webp"),), started_ns=started)
        result = convert_file(task._replace(replaceable=mine), spec)
        assert (result.status == "converted") is converted, result.error
        if converted:
            assert made.read_bytes() == output
        else:
            assert made.read_bytes() == there
            assert result.error == not_imgpars(str(made))
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a.webp"]


@pytest.mark.parametrize("refusal", [errno.EPERM, errno.EINVAL, errno.ENOTSUP])
def test_in_place_without_hard_links_an_output_still_takes_only_a_free_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refusal: int
) -> None:
    # FAT, some network shares: link() refuses, each system in words of its own.
    from imgpar import writer

    def no_links(*args: object) -> None:
        raise OSError(refusal, os.strerror(refusal))

    monkeypatch.setattr(writer.os, "link", no_links)
    source, made = tmp_path / "a.png", tmp_path / "a.webp"
    Image.new("RGB", (40, 30), (250, 0, 0)).save(source)
    task = Task(source=str(source), display=str(source), outputs=(str(made),),
                source_bytes=source.stat().st_size, replaceable=())  # fmt: skip
    spec = ConvertSpec(outputs=(OutputSpec(target="webp"),), started_ns=0)
    assert convert_file(task, spec).status == "converted"
    with Image.open(made) as im:
        assert im.size == (40, 30)
    made.write_bytes(b"mine!")
    refused = convert_file(task, spec)
    assert refused.error == not_imgpars(str(made))
    assert made.read_bytes() == b"mine!"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a.webp"]


# -- what a failure is called --------------------------------------------------------


class _FailingDisk(io.BytesIO):
    """A file whose disk fails once its header has been read."""

    def read(self, size: int | None = -1) -> bytes:
        if self.tell() > 100:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return super().read(size)


def test_a_source_replaced_since_its_planning_is_reported_as_read(tmp_path: Path) -> None:
    # The report gave the planned file's size beside the new one's pixels.
    source = make_small_jpeg(tmp_path / "a.jpg", size=(320, 240))
    spec = ConvertSpec(outputs=(OutputSpec(target="webp"),))
    configure_worker(spec)
    task = Task(source=str(source), display="a.jpg", outputs=(str(tmp_path / "a.webp"),),
                source_bytes=2_695_895)  # fmt: skip
    result = convert_file(task, spec)
    assert (result.status, result.width) == ("converted", 320)
    assert result.source_bytes == source.stat().st_size


def test_a_disk_that_fails_mid_read_is_no_damage_to_the_file() -> None:
    # Raised inside Pillow's load, EIO read "corrupt image data ([Errno 5] ...)".
    data = io.BytesIO()
    Image.effect_noise((256, 256), 40).convert("RGB").save(data, "PNG")
    with Image.open(_FailingDisk(data.getvalue())) as im, pytest.raises(OSError) as raised:
        im.load()
    assert describe(raised.value) == "cannot read the file: input/output error"


def test_a_file_read_once_closed_is_a_bug_not_damage() -> None:
    # Raised inside Pillow's load all the same, by the file object.
    data = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(data, "PNG")
    source = io.BytesIO(data.getvalue())
    with Image.open(source) as im, pytest.raises(ValueError) as raised:
        source.close()
        im.load()
    assert describe(raised.value) == "ValueError: I/O operation on closed file."


def test_libwebp_out_of_memory_is_said_in_words(tmp_path: Path) -> None:
    # Pillow says only "encoding error 1" (libwebp's VP8_ENC_ERROR_OUT_OF_MEMORY).
    # The address space is capped once the pixels are decoded, leaving the
    # encoder too little.
    program = textwrap.dedent(
        """
        import resource, sys
        from PIL import Image
        from imgpar.pipeline import describe
        im = Image.effect_noise((3000, 2000), 60).convert("RGB")
        with open("/proc/self/status") as status:
            vm = next(int(line.split()[1]) for line in status if line.startswith("VmSize"))
        resource.setrlimit(resource.RLIMIT_AS, (vm * 1024 + (48 << 20), resource.RLIM_INFINITY))
        try:
            im.save(sys.argv[1], "WEBP")
        except Exception as exc:
            print(repr(exc)); print(describe(exc))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program, str(tmp_path / "a.webp")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.splitlines() == ["ValueError('encoding error 1')", "out of memory"]


def test_what_the_decoder_printed_is_said_only_of_a_read() -> None:
    data = io.BytesIO()
    Image.effect_noise((64, 64), 40).convert("RGB").save(data, "PNG")
    damaged = bytearray(data.getvalue())
    start = damaged.index(b"IDAT") + 24
    damaged[start : start + 40] = bytes(b ^ 0x55 for b in damaged[start : start + 40])
    with Image.open(io.BytesIO(bytes(damaged))) as im, pytest.raises(OSError) as reading:
        im.load()
    said = ["zlib: invalid distance too far back"]
    assert describe(reading.value) == (
        "corrupt image data (broken data stream when reading image file)"
    )
    assert describe(reading.value, said=said) == f"corrupt image data ({said[0]})"
    # An encoder's error, with a line a decoder printed before it: neither damage nor its words.
    with pytest.raises(OSError) as writing:
        Image.new("I;16", (4, 4)).save(io.BytesIO(), "JPEG")
    assert describe(writing.value, said=said) == (
        "the encoder failed (cannot write mode I;16 as JPEG)"
    )


_PEAK_OF_ONE_CONVERSION = """
import resource, sys
from imgpar.api import prepare
from imgpar.pipeline import configure_worker, convert_file
from imgpar.spec import Task
job = prepare([sys.argv[1]], to="webp", out=sys.argv[2], jobs=1)
configure_worker(job.spec)
[task] = [t for t in job.plan() if isinstance(t, Task)]
result = convert_file(task, job.spec)
assert result.status == "converted", result.error
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def test_a_turned_photo_encodes_without_its_decoded_copy(tmp_path: Path) -> None:
    # The decoded picture stayed alive beside its upright copy while the
    # encoder ran: a turned 24 MP photo at full size peaked 90 MB higher
    # than the same photo stored upright (and a resized one 20 MB higher).
    size = (3000, 2000)
    noise = Image.effect_noise((size[0] // 4, size[1] // 4), 50).convert("L").resize(size)
    photo = Image.merge("RGB", (noise, noise.transpose(Image.Transpose.ROTATE_180), noise))
    peaks = {}
    for orientation in (1, 6):
        exif = Image.Exif()
        exif[ORIENTATION] = orientation
        source = tmp_path / f"o{orientation}" / "p.jpg"
        source.parent.mkdir()
        photo.save(source, quality=90, exif=exif)
        peaks[orientation] = int(fresh_python(_PEAK_OF_ONE_CONVERSION, source, tmp_path / "out"))
    decoded = size[0] * size[1] * 3
    assert peaks[6] - peaks[1] < decoded / 2, peaks
