"""Every kind of input a photographer or a build step feeds imgpar, to every
target: right way up, colours close to a reference decode, animations kept,
and the resize modes. Each image is made here, small."""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_upright, close_to, convert_one, outputs_in, quadrant_picture
from PIL import (
    Image,
    ImageChops,
    ImageCms,
    ImageDraw,
    ImageFilter,
    ImageOps,
    ImageSequence,
    ImageStat,
)

import imgpar
from imgpar.info import inspect
from imgpar.spec import Resize, Result

TARGETS = ("webp", "jpeg", "png", "avif", "tiff")
EXT = {"webp": ".webp", "jpeg": ".jpg", "png": ".png", "avif": ".avif", "tiff": ".tif"}
LOSSY = {"webp": 9, "jpeg": 9, "avif": 12, "png": 2, "tiff": 2}
UPRIGHT_SIZE = (96, 64)  # non-square, so orientations 5-8 change the shape

# The stored pixels whose EXIF orientation shows the upright picture.
_STORE = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def _jpeg(orientation: int = 1, **options: object) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        upright = quadrant_picture(UPRIGHT_SIZE)
        method = _STORE[orientation]
        stored = upright if method is None else upright.transpose(method)
        exif = Image.Exif()
        exif[0x0112] = orientation
        stored.save(path, "JPEG", quality=95, exif=exif, **options)

    return make


def _saved(fmt: str, im_factory: Callable[[], Image.Image], **options: object):
    def make(path: Path) -> None:
        im_factory().save(path, fmt, **options)

    return make


def _rgba() -> Image.Image:
    im = quadrant_picture(UPRIGHT_SIZE).convert("RGBA")
    hidden = Image.new("RGBA", (40, 30), (255, 0, 0, 0))  # red, fully transparent
    im.paste(hidden, (0, 0))
    return im


def _frames(mode: str = "RGB") -> list[Image.Image]:
    return [Image.new(mode, UPRIGHT_SIZE, (40 * i, 200 - 40 * i, 90)) for i in range(4)]


def _animated(fmt: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        frames = _frames()
        frames[0].save(
            path, fmt, save_all=True, append_images=frames[1:], duration=[80, 120, 160, 200], loop=2
        )

    return make


def _gray16() -> Image.Image:
    im = Image.linear_gradient("L").resize(UPRIGHT_SIZE).convert("I")
    return im.point(lambda v: v * 200 + 10000).convert("I;16")


CASES: dict[str, tuple[str, Callable[[Path], None]]] = {
    "baseline": (".jpg", _jpeg()),
    "progressive": (".jpg", _jpeg(progressive=True)),
    **{f"orientation{o}": (".jpg", _jpeg(o)) for o in range(2, 9)},
    "grayscale_jpeg": (".jpg", _saved("JPEG", lambda: quadrant_picture(UPRIGHT_SIZE).convert("L"))),
    "cmyk_jpeg": (".jpg", _saved("JPEG", lambda: quadrant_picture(UPRIGHT_SIZE).convert("CMYK"))),
    "icc_jpeg": (
        ".jpg",
        _saved(
            "JPEG",
            lambda: quadrant_picture(UPRIGHT_SIZE),
            icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
        ),
    ),
    "rgba_png": (".png", _saved("PNG", _rgba)),
    "palette_trns_png": (".png", _saved("PNG", lambda: _rgba().convert("P"))),
    "la_png": (".png", _saved("PNG", lambda: _rgba().convert("LA"))),
    "bilevel_png": (".png", _saved("PNG", lambda: quadrant_picture(UPRIGHT_SIZE).convert("1"))),
    "gray16_png": (".png", _saved("PNG", _gray16)),
    "static_webp": (".webp", _saved("WEBP", lambda: quadrant_picture(UPRIGHT_SIZE), quality=95)),
    "lzw_tiff": (
        ".tif",
        _saved("TIFF", lambda: quadrant_picture(UPRIGHT_SIZE), compression="tiff_lzw"),
    ),
    "bmp": (".bmp", _saved("BMP", lambda: quadrant_picture(UPRIGHT_SIZE))),
    "animated_gif": (".gif", _animated("GIF")),
    "animated_webp": (".webp", _animated("WEBP")),
    "apng": (".png", _animated("PNG")),
}


def _reference(path: Path, alpha: bool) -> Image.Image:
    """What the picture should look like: Pillow's own full decode, upright,
    on white where the target has no alpha."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode.startswith("I"):
            im = im.point(lambda v: v / 257).convert("L")
        rgba = im.convert("RGBA")
    if alpha:
        return rgba
    return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)


def _difference(a: Image.Image, b: Image.Image) -> float:
    """How far apart two images look: over gray, so that the colour under
    fully transparent pixels, which no viewer shows, does not count."""
    diff = ImageChops.difference(_shown(a), _shown(b))
    return max(ImageStat.Stat(diff).mean)


def _shown(im: Image.Image) -> Image.Image:
    rgba = im.convert("RGBA")
    gray = Image.new("RGBA", rgba.size, (128, 128, 128, 255))
    return Image.alpha_composite(gray, rgba).convert("RGB")


def _convert(source: Path, target: str, tmp_path: Path, **spec: Any) -> tuple[Path, Result]:
    result = convert_one(source, tmp_path / "out", target, **spec)
    assert result.status == "converted", result.error
    return Path(result.outputs[0].path), result


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_case_to_every_target(case: str, target: str, tmp_path: Path) -> None:
    ext, make = CASES[case]
    source = tmp_path / f"source{ext}"
    make(source)
    out, result = _convert(source, target, tmp_path)
    has_alpha = target != "jpeg"
    reference = _reference(source, alpha=has_alpha)
    with Image.open(out) as written:
        assert written.size == reference.size == (result.width, result.height)
        shown = (
            written.convert("RGBA")
            if not written.mode.startswith("I")
            else (written.point(lambda v: v / 257).convert("L").convert("RGBA"))
        )
        assert _difference(shown, reference) <= LOSSY[target], case
        if case.startswith(("baseline", "progressive", "orientation", "icc")) or case in (
            "static_webp",
            "lzw_tiff",
            "bmp",
        ):
            assert_upright(written)
        if case == "gray16_png" and target in ("png", "tiff"):
            assert written.mode == "I;16"
        if case == "icc_jpeg":
            with Image.open(source) as src:
                assert written.info.get("icc_profile") == src.info["icc_profile"]
        animated = case.startswith("animated") or case == "apng"
        if animated and target in ("webp", "png", "avif"):
            assert getattr(written, "n_frames", 1) == 4
            frames = [f.convert("RGB").getpixel((5, 5)) for f in ImageSequence.Iterator(written)]
            expected = [f.getpixel((5, 5)) for f in _frames()]
            assert all(
                max(abs(a - b) for a, b in zip(got, want, strict=True)) <= 16
                for got, want in zip(frames, expected, strict=True)
            )
        elif animated:
            assert getattr(written, "n_frames", 1) == 1
            assert any("first frame" in n for n in result.notes)


def test_no_colour_leaks_from_under_transparency_into_jpeg(tmp_path: Path) -> None:
    source = tmp_path / "logo.png"
    _rgba().save(source)
    out, _ = _convert(source, "jpeg", tmp_path)
    with Image.open(out) as im:
        r, g, b = im.getpixel((10, 10))
        assert min(r, g, b) >= 245, (r, g, b)  # white, not red


def _durations(im: Image.Image) -> list[int]:
    durations = []
    for frame in ImageSequence.Iterator(im):
        frame.load()  # WebP sets a frame's duration only once it is decoded
        durations.append(frame.info.get("duration"))
    return durations


# Saved with loop=2: a GIF's count is of repeats (browsers play it three
# times), WebP's and APNG's of plays.
@pytest.mark.parametrize(("source_format", "plays"), [("GIF", 3), ("WEBP", 2), ("PNG", 2)])
@pytest.mark.parametrize("target", ["webp", "png"])
def test_animation_timing_and_plays_are_kept(
    source_format: str, plays: int, target: str, tmp_path: Path
) -> None:
    source = tmp_path / f"a.{source_format.lower()}"
    _animated(source_format)(source)
    out, _ = _convert(source, target, tmp_path)
    with Image.open(out) as im:
        assert _durations(im) == [80, 120, 160, 200]
        assert im.info.get("loop") == plays


def test_avif_says_it_loops_for_ever(tmp_path: Path) -> None:
    source = tmp_path / "a.gif"
    _animated("GIF")(source)
    _, result = _convert(source, "avif", tmp_path)
    assert "plays 3 times in the source, not kept: avif loops for ever" in result.notes


def test_an_apngs_default_image_is_no_frame(tmp_path: Path) -> None:
    # The image viewers that cannot animate show, before the animation's frames.
    source = tmp_path / "a.png"
    still, *frames = _frames()
    still.save(source, save_all=True, append_images=frames, default_image=True,
               duration=[80, 120, 160, 200], loop=0)  # fmt: skip
    with Image.open(source) as im:
        assert im.n_frames == 4 and im.info["default_image"]
        shown = [f.convert("RGB").getpixel((0, 0)) for f in ImageSequence.Iterator(im)][1:]
        played = _durations(im)[1:]
    for target in ("webp", "png"):
        out, _ = _convert(source, target, tmp_path)
        with Image.open(out) as im:
            assert not im.info.get("default_image"), target
            got = [f.convert("RGB").getpixel((0, 0)) for f in ImageSequence.Iterator(im)]
            assert len(got) == 3 and _durations(im) == played, target
            for frame, expected in zip(got, shown, strict=True):
                assert close_to(frame, expected, 4), target
    # What viewers that cannot animate show is what a still format gets.
    out, result = _convert(source, "jpeg", tmp_path)
    assert "3 frames: its still image written to jpeg" in result.notes
    with Image.open(out) as im:
        assert close_to(im.getpixel((0, 0)), still.getpixel((0, 0)), 4)
    facts = inspect(str(source))
    assert facts["frames"] == 3 and "still image only for jpeg/tiff" in facts["convert"]


def test_an_apng_of_one_frame_and_a_still_image_animates_its_frame(tmp_path: Path) -> None:
    source = tmp_path / "a.png"
    still, frame = _frames()[:2]
    still.save(source, save_all=True, append_images=[frame], default_image=True)
    for target, expected in (("webp", frame), ("png", frame), ("jpeg", still)):
        out, _ = _convert(source, target, tmp_path)
        with Image.open(out) as im:
            shown = im.convert("RGB").getpixel((0, 0))
            assert close_to(shown, expected.getpixel((0, 0)), 4), target


def test_an_avif_sequence_still_loops_for_ever(tmp_path: Path) -> None:
    source = tmp_path / "a.avif"
    frames = _frames()
    frames[0].save(source, save_all=True, append_images=frames[1:], duration=100)
    for target in ("webp", "png", "avif"):
        out, result = _convert(source, target, tmp_path)
        assert not [n for n in result.notes if "loop" in n], target
        with Image.open(out) as im:
            assert im.n_frames == 4
            assert im.info.get("loop", 0) == 0, target


@pytest.mark.parametrize("target", ["webp", "png"])
def test_a_gif_that_plays_once_still_plays_once(target: str, tmp_path: Path) -> None:
    source = tmp_path / "once.gif"
    frames = _frames()
    frames[0].save(source, save_all=True, append_images=frames[1:], duration=100)
    with Image.open(source) as im:
        assert "loop" not in im.info  # no NETSCAPE block: browsers play it once
    out, _ = _convert(source, target, tmp_path)
    with Image.open(out) as im:
        assert im.info.get("loop") == 1


def _sticker(size: tuple[int, int], boxes: list[tuple[int, int, int, int]]) -> list[Image.Image]:
    """A frame per box: an opaque red, green or blue shape there, the rest clear."""
    frames = []
    for box, colour in zip(boxes, [(255, 0, 0), (0, 255, 0), (0, 0, 255)], strict=True):
        frame = Image.new("RGBA", size, (0, 0, 0, 0))
        frame.paste((*colour, 255), box)
        frames.append(frame)
    return frames


@pytest.mark.parametrize("lossless", [False, True])
def test_a_transparent_sticker_stays_transparent_in_an_animated_webp(
    lossless: bool, tmp_path: Path
) -> None:
    # Opaque shapes on a clear canvas, as every GIF's alpha is all or nothing.
    frames = _sticker((80, 60), [(10 + 10 * i, 10, 50 + 10 * i, 50) for i in range(3)])
    source = tmp_path / "sticker.gif"
    frames[0].save(source, save_all=True, append_images=frames[1:], duration=100, disposal=2)
    out, _ = _convert(source, "webp", tmp_path, lossless=lossless)
    with Image.open(out) as im:
        assert im.mode == "RGBA"
        assert im.info["background"] == (0, 0, 0, 0)
        for i, frame in enumerate(ImageSequence.Iterator(im)):
            pixels = frame.convert("RGBA")
            assert pixels.getpixel((1, 1))[3] == 0, i
            assert pixels.getpixel((30 + 10 * i, 30))[3] == 255, i


@pytest.mark.parametrize("target", ["webp", "png"])
def test_an_animated_webp_on_a_clear_canvas_unmarked_stays_clear(
    target: str, tmp_path: Path
) -> None:
    # As libwebp writes opaque shapes moving on a clear canvas: each frame
    # cropped to its shape, the canvas clear, no alpha flag on the file.
    frames = _sticker((60, 40), [(20 * i, 0, 20 * i + 20, 40) for i in range(3)])
    source = tmp_path / "sticker.webp"
    frames[0].save(source, save_all=True, append_images=frames[1:], duration=80, lossless=True)
    with Image.open(source) as im:
        assert im.mode == "RGB"  # Pillow trusts the missing flag
    out, _ = _convert(source, target, tmp_path)
    with Image.open(out) as im:
        for i, frame in enumerate(ImageSequence.Iterator(im)):
            pixels = frame.convert("RGBA")
            for j in range(3):
                shown = pixels.getpixel((20 * j + 10, 20))
                assert shown[3] == (255 if i == j else 0), (i, j, shown)


def test_two_page_tiff_first_page_unless_all_pages(tmp_path: Path) -> None:
    source = tmp_path / "scan.tif"
    pages = _frames()[:2]
    pages[0].save(source, save_all=True, append_images=pages[1:])
    for target in ("tiff", "webp"):
        out, result = _convert(source, target, tmp_path)
        with Image.open(out) as im:
            assert getattr(im, "n_frames", 1) == 1
        # No promise --all-pages cannot keep: it keeps pages in a TIFF only.
        note = "2 pages: first page written (--all-pages keeps them all in TIFF output)"
        assert note in result.notes
    out, _ = _convert(source, "tiff", tmp_path, all_pages=True)
    with Image.open(out) as im:
        assert im.n_frames == 2
    _, result = _convert(source, "webp", tmp_path, all_pages=True)
    assert "2 pages: first page written to webp" in result.notes


def test_a_one_bit_scan_stays_one_bit_where_it_is_not_resized(tmp_path: Path) -> None:
    # A fax or line-art scan came out as 8-bit gray in PNG and TIFF, a third
    # larger; resized, its edges are gray, and stay so.
    scan = Image.new("1", (161, 97), 1)
    ImageDraw.Draw(scan).rectangle((20, 10, 90, 60), fill=0)
    source = tmp_path / "fax.tif"
    scan.save(source, compression="group4")
    for target in ("png", "tiff"):
        out, _ = _convert(source, target, tmp_path)
        with Image.open(out) as im:
            assert im.mode == "1"
            assert ImageChops.difference(im.convert("L"), scan.convert("L")).getbbox() is None
        smaller, _ = _convert(source, target, tmp_path / "small", resize=Resize(width=50))
        with Image.open(smaller) as im:
            assert (im.mode, im.size) == ("L", (50, 30))


def test_a_tiff_of_many_pages_is_counted_only_as_far_as_its_note_needs(tmp_path: Path) -> None:
    # Only its first page is written, and Pillow's count of a TIFF's pages
    # takes time that grows with their square: 80,000 tiny pages held a
    # worker 33 s. Counted to a thousand, the note says "over".
    source = tmp_path / "log.tif"
    page = Image.new("L", (2, 2), 90)
    page.save(source, save_all=True, append_images=[page] * 1100)
    _, result = _convert(source, "png", tmp_path)
    assert "over 1,000 pages: first page written (--all-pages keeps them all in TIFF output)" in (
        result.notes
    )


@pytest.mark.parametrize(("second", "said"), [(0, True), (0x010002, False)])
def test_a_stereo_mpo_says_its_other_image_is_left_out(
    tmp_path: Path, second: int, said: bool
) -> None:
    # The other eye was lost without a word; a camera JPEG's MPF preview
    # (MP type "Large Thumbnail") is no picture of its own.
    source = tmp_path / "DSCF0001.MPO"
    left, right = _frames()[:2]
    left.save(source, format="MPO", save_all=True, append_images=[right])
    data = bytearray(source.read_bytes())
    # The MP Entry tag (0xB002) in the MPF segment's little-endian IFD: its
    # value's offset counts from the segment's TIFF header.
    header = data.index(b"MPF\x00II*\x00") + 4
    tag = data.index(b"\x02\xb0\x07\x00", header)
    (entries,) = struct.unpack_from("<L", data, tag + 8)
    struct.pack_into("<L", data, header + entries + 16, second)  # the second entry's type
    source.write_bytes(bytes(data))
    out, result = _convert(source, "jpeg", tmp_path)
    note = "2 images (a stereo or multi-view MPO): first image written"
    assert (note in result.notes) == said, result.notes
    assert not any(n.startswith("warning:") for n in result.notes)
    with Image.open(out) as im:
        assert _difference(im, left) < 2 < _difference(im, right)


def _pages_of(path: Path) -> list[Image.Image]:
    with Image.open(path) as im:
        return [page.convert("RGB") for page in ImageSequence.Iterator(im)]


BLUE, GREEN = (20, 40, 220), (30, 180, 40)


@pytest.mark.parametrize(
    ("resize", "sizes", "lower"),
    [
        (None, [(64, 48), (30, 60)], GREEN),
        (Resize(long_edge=32), [(32, 24), (16, 32)], GREEN),
        # The portrait page's top square: its own crop, not the first page's.
        (Resize(width=20, height=20, fit="cover", gravity="north"), [(20, 20), (20, 20)], BLUE),
    ],
)
def test_all_pages_keep_their_own_shape(
    resize: Resize | None,
    sizes: list[tuple[int, int]],
    lower: tuple[int, int, int],
    tmp_path: Path,
) -> None:
    # A scan of a landscape page and a portrait one: each page is sized by
    # the output's rule from its own size, never stretched to the first's.
    source = tmp_path / "scan.tif"
    landscape = Image.new("RGB", (64, 48), (200, 30, 30))
    portrait = Image.new("RGB", (30, 60), BLUE)
    portrait.paste(GREEN, (0, 30, 30, 60))
    landscape.save(source, save_all=True, append_images=[portrait])
    out, result = _convert(source, "tiff", tmp_path, all_pages=True, resize=resize)
    assert (result.width, result.height) == (64, 48)
    pages = _pages_of(out)
    assert [page.size for page in pages] == sizes
    first, second = pages
    assert _difference(first.convert("RGBA"), Image.new("RGBA", first.size, (200, 30, 30))) <= 2
    w, h = second.size
    assert second.getpixel((w // 2, h // 4)) == pytest.approx(BLUE, abs=3)
    assert second.getpixel((w // 2, h * 3 // 4)) == pytest.approx(lower, abs=3)


def test_awkward_names_and_collisions(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("UPPER.JPG", "with space.jpg", "accentué.jpg", "new\nline.jpg", "dup.jpg"):
        _jpeg()(src / name)
    _jpeg()(src / "jpeg_named.png")
    _saved("PNG", _rgba)(src / "dup.png")
    report = imgpar.convert([src], to="webp", out=tmp_path / "out", jobs=2)
    assert report.summary.failed == 0
    written = sorted(outputs_in(tmp_path / "out"))
    assert written == sorted(
        [
            "UPPER.webp",
            "with space.webp",
            "accentué.webp",
            "new\nline.webp",
            "dup.jpg.webp",
            "dup.png.webp",
            "jpeg_named.webp",
        ]
    )
    with Image.open(tmp_path / "out" / "jpeg_named.webp") as im:
        assert_upright(im)


def test_case_and_unicode_folding_collisions(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _jpeg()(src / "Photo.jpg")
    _saved("PNG", _rgba)(src / "photo.png")
    _jpeg()(src / "caf\u00e9.jpg")  # composed é
    _saved("PNG", _rgba)(src / "cafe\u0301.png")  # e + combining accent
    imgpar.convert([src], to="webp", out=tmp_path / "out", jobs=1)
    written = sorted(outputs_in(tmp_path / "out"))
    assert written == sorted(
        [
            "Photo.jpg.webp",
            "photo.png.webp",
            "caf\u00e9.jpg.webp",
            "cafe\u0301.png.webp",
        ]
    )


# Resize modes, on an upright 300 x 200 picture stored sideways (orientation 6).
def _sized(tmp_path: Path, resize: Resize, **spec: Any) -> Image.Image:
    source = tmp_path / "p.jpg"
    upright = quadrant_picture((300, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    upright.transpose(Image.Transpose.ROTATE_90).save(source, quality=95, exif=exif)
    return Image.open(_convert(source, "png", tmp_path, resize=resize, **spec)[0])


@pytest.mark.parametrize(
    ("resize", "size"),
    [
        (Resize(width=150, height=150), (150, 100)),
        (Resize(width=150), (150, 100)),
        (Resize(height=50), (75, 50)),
        (Resize(long_edge=120), (120, 80)),
        (Resize(short_edge=120), (180, 120)),
        (Resize(scale=50), (150, 100)),
        (Resize(width=600), (300, 200)),  # never enlarges...
        (Resize(width=600, upscale=True), (600, 400)),  # ...unless asked
        (Resize(width=100, height=100, fit="cover"), (100, 100)),
        (Resize(width=100, height=40, fit="fill"), (100, 40)),
        (Resize(width=900, height=300, fit="cover"), (300, 100)),  # shape kept, no upscale
    ],
)
def test_resize_modes(tmp_path: Path, resize: Resize, size: tuple[int, int]) -> None:
    with _sized(tmp_path, resize) as im:
        assert im.size == size


@pytest.mark.parametrize(
    ("gravity", "colours"),
    [
        # A 100 x 200 crop of the 300 x 200 upright picture: which quadrants show.
        ("west", ((220, 30, 30), (30, 30, 220))),
        ("east", ((30, 200, 30), (235, 235, 235))),
    ],
)
def test_cover_crop_follows_gravity_on_a_rotated_source(
    tmp_path: Path, gravity: str, colours: tuple[tuple[int, ...], tuple[int, ...]]
) -> None:
    resize = Resize(width=50, height=100, fit="cover", gravity=gravity)  # type: ignore[arg-type]
    with _sized(tmp_path, resize) as im:
        assert im.size == (50, 100)
        top, bottom = im.convert("RGB").getpixel((25, 20)), im.convert("RGB").getpixel((25, 80))
        for got, want in ((top, colours[0]), (bottom, colours[1])):
            assert max(abs(a - b) for a, b in zip(got, want, strict=True)) <= 30, (got, want)


def test_cover_centre_crop_matches_a_reference_crop(tmp_path: Path) -> None:
    with _sized(tmp_path, Resize(width=120, height=120, fit="cover")) as im:
        got = im.convert("RGB")
    upright = quadrant_picture((300, 200))
    reference = upright.resize((120, 120), Image.Resampling.LANCZOS, box=(50, 0, 250, 200))
    assert _difference(got, reference) <= 3


def test_filters_are_used(tmp_path: Path) -> None:
    with _sized(tmp_path, Resize(width=97), filter="nearest") as a:
        nearest = a.convert("RGB")
    with _sized(tmp_path, Resize(width=97)) as b:
        lanczos = b.convert("RGB")
    assert ImageChops.difference(nearest, lanczos).getbbox() is not None
    colours = {nearest.getpixel((x, 10)) for x in range(nearest.width)}
    assert len(colours) <= 6  # nearest neighbour invents no blended colours


def _icc_bytes() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_io_roundtrip_helper_is_sane() -> None:
    # One profile: littleCMS stamps each it makes with the second it is made.
    icc = _icc_bytes()
    buf = io.BytesIO()
    quadrant_picture((10, 10)).save(buf, "PNG", icc_profile=icc)
    assert Image.open(io.BytesIO(buf.getvalue())).info["icc_profile"] == icc


def test_shrink_on_load_output_matches_a_full_decode_reference(tmp_path: Path) -> None:
    """The draft path (decode at 1/4 here) must look like a full-size decode
    resized with Lanczos: PSNR above 35 dB on a textured, rotated photo."""
    upright = quadrant_picture((2400, 1600), noise=40, seed=3)
    upright = upright.filter(ImageFilter.GaussianBlur(1.5))
    source = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    upright.transpose(Image.Transpose.ROTATE_90).save(source, quality=95, exif=exif)
    out, _ = _convert(source, "png", tmp_path, resize=Resize(long_edge=500))
    with Image.open(source) as full:
        reference = ImageOps.exif_transpose(full).resize((500, 333), Image.Resampling.LANCZOS)
    with Image.open(out) as got:
        assert got.size == (500, 333)
        assert _psnr(got, reference) > 35


def test_fine_detail_is_resized_by_lanczos_not_by_the_jpeg_decoder(tmp_path: Path) -> None:
    # A zone plate 800 px wide to 370: decoded at half size (400 px), Lanczos
    # was left almost nothing to do and libjpeg's scaled IDCT aliased the
    # rings, 21 dB against a full decode resized with Lanczos.
    size = (800, 600)
    rings = bytes(
        round(127.5 + 127.5 * math.cos(math.pi * ((x - 400) ** 2 + (y - 300) ** 2) / 1000))
        for y in range(size[1])
        for x in range(size[0])
    )
    source = tmp_path / "zone.jpg"
    Image.frombytes("L", size, rings).convert("RGB").save(source, quality=98)
    out, _ = _convert(source, "png", tmp_path, resize=Resize(width=370))
    with Image.open(source) as full:
        reference = full.resize((370, 278), Image.Resampling.LANCZOS)
    with Image.open(out) as got:
        assert _psnr(got, reference) > 35


def _psnr(got: Image.Image, reference: Image.Image) -> float:
    """How close `got` is to `reference`, in dB (both RGB-able, one size)."""
    diff = ImageChops.difference(got.convert("RGB"), reference.convert("RGB"))
    mse = sum(band * band for band in ImageStat.Stat(diff).rms) / 3
    return 10 * math.log10(255**2 / max(mse, 1e-9))


def test_colour_hidden_under_clear_pixels_never_tints_an_avif(tmp_path: Path) -> None:
    # A blue disc on clear pixels that hide red (a common export): libavif's
    # halved chroma blended the red into the disc's edge, up to R 112.
    disc = Image.new("RGBA", (128, 128), (255, 0, 0, 0))
    ImageDraw.Draw(disc).ellipse((24, 24, 104, 104), fill=(0, 0, 255, 255))
    source = tmp_path / "logo.png"
    disc.save(source)
    out, _ = _convert(source, "avif", tmp_path, quality=60)
    with Image.open(out) as im:
        shown = im.convert("RGBA")
    opaque = [
        shown.getpixel((x, y))
        for y in range(128)
        for x in range(128)
        if disc.getpixel((x, y))[3] == 255
    ]
    assert len(opaque) > 4000
    assert max(red for red, _, _, _ in opaque) < 40


def test_sixteen_bit_gray_is_rounded_to_eight_bits_not_cut(tmp_path: Path) -> None:
    # v // 257 made half the levels one step dark (a mean bias of half a level).
    source = tmp_path / "gray16.png"
    Image.new("I;16", (8, 8), 257 * 100 + 200).save(source)  # 100.78 of 255
    out, _ = _convert(source, "webp", tmp_path, lossless=True)
    with Image.open(out) as im:
        assert im.convert("L").getpixel((4, 4)) == 101
