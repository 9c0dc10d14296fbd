"""imgpar.colour through the pipeline: ICC profiles carried, or converted to sRGB
with littleCMS, checked on real (built) Display P3, gray and CMYK profiles."""

from __future__ import annotations

import base64
import io
import random
import struct
import zlib
from pathlib import Path

import pytest
from conftest import (
    API_CONVERT,
    close_to,
    convert_one,
    fresh_python,
    nclx_avif,
    png_chunk,
    written,
)
from iccprofiles import cmyk_profile, display_p3, gray_profile, p3_in_srgb, srgb_encode
from PIL import Image, ImageCms, PngImagePlugin
from typer.testing import CliRunner

import imgpar
from imgpar import colour, profiles
from imgpar.cli import app
from imgpar.formats import TARGETS
from imgpar.info import inspect
from imgpar.spec import Result

ALL_TARGETS = ("webp", "jpeg", "png", "avif", "tiff")
ALPHA_TARGETS = ("webp", "png", "avif", "tiff")
# A saturated orange-red in Display P3 numbers: read as sRGB it looks duller
# than it is; converted, its sRGB numbers spread further apart.
P3_COLOUR = (200, 80, 60)
# How far a lossy encoder may move a flat colour, per channel.
TOLERANCE = {"webp": 6, "jpeg": 6, "avif": 8, "png": 1, "tiff": 1}


def run(source: Path, *targets: str, srgb: bool = False) -> Result:
    result = convert_one(source, source.parent / "out", *targets, srgb=srgb)
    assert result.status == "converted", result.error
    return result


def centre(im: Image.Image) -> tuple[int, ...]:
    pixel = im.getpixel((im.width // 2, im.height // 2))
    return pixel if isinstance(pixel, tuple) else (pixel,)


def near(a: tuple[int, ...], b: tuple[int, ...], tolerance: int) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def spread(pixel: tuple[int, ...]) -> int:
    return max(pixel[:3]) - min(pixel[:3])


def is_srgb(icc: bytes | None) -> bool:
    return bool(icc) and colour.is_srgb(icc)


def reference(pixel: tuple[int, ...], icc: bytes, mode: str) -> tuple[int, ...]:
    """What littleCMS itself makes of `pixel` in sRGB: the colour to match."""
    source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    im = Image.new(mode, (1, 1), pixel)
    converted = ImageCms.profileToProfile(
        im, source, ImageCms.createProfile("sRGB"), outputMode="RGB"
    )
    assert converted is not None
    return centre(converted)


def p3_png(path: Path, mode: str = "RGB") -> Path:
    fill = (*P3_COLOUR, 255) if mode == "RGBA" else P3_COLOUR
    im = Image.new(mode, (48, 32), fill)
    if mode == "RGBA":
        im.paste((*P3_COLOUR, 128), (24, 0, 48, 32))  # right half half-transparent
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, "PNG", icc_profile=display_p3())
    return path


def test_built_profiles_are_what_littlecms_reads() -> None:
    p3 = ImageCms.ImageCmsProfile(io.BytesIO(display_p3()))
    assert ImageCms.getProfileDescription(p3).strip() == "Test Display P3 (gamma 2.2)"
    assert colour.profile_space(display_p3()) == b"RGB "
    assert colour.profile_space(gray_profile()) == b"GRAY"
    assert colour.profile_space(cmyk_profile()) == b"CMYK"
    # P3 white is white in sRGB too: the primaries really are adapted to D50.
    assert near(reference((255, 255, 255), display_p3(), "RGB"), (255, 255, 255), 1)


@pytest.mark.parametrize("target", ALL_TARGETS)
def test_profile_carried_unchanged_without_srgb(target: str, tmp_path: Path) -> None:
    im = written(run(p3_png(tmp_path / "p3.png"), target))
    assert im.info.get("icc_profile") == display_p3()
    # The numbers stay P3 numbers: the profile tells viewers how to show them.
    assert near(centre(im.convert("RGB")), P3_COLOUR, TOLERANCE[target])


@pytest.mark.parametrize("target", ALL_TARGETS)
def test_srgb_converts_wide_gamut_without_dulling(target: str, tmp_path: Path) -> None:
    im = written(run(p3_png(tmp_path / "p3.png"), target, srgb=True))
    assert is_srgb(im.info.get("icc_profile"))
    got = centre(im.convert("RGB"))
    expected = reference(P3_COLOUR, display_p3(), "RGB")
    assert spread(expected) > spread(P3_COLOUR) + 20  # the check below means something
    assert near(got, expected, TOLERANCE[target]), (got, expected)
    assert spread(got) > spread(P3_COLOUR) + 10, f"{got} is duller than {P3_COLOUR}"


@pytest.mark.parametrize("target", ALPHA_TARGETS)
def test_srgb_keeps_alpha(target: str, tmp_path: Path) -> None:
    im = written(run(p3_png(tmp_path / "p3a.png", "RGBA"), target, srgb=True))
    assert im.mode == "RGBA"
    expected = reference(P3_COLOUR, display_p3(), "RGB")
    opaque = im.getpixel((8, 16))
    half = im.getpixel((40, 16))
    assert isinstance(opaque, tuple) and isinstance(half, tuple)
    assert opaque[3] == 255 and abs(half[3] - 128) <= 2
    assert near(opaque[:3], expected, TOLERANCE[target])


def test_srgb_source_is_not_converted_again(tmp_path: Path) -> None:
    path = tmp_path / "srgb.png"
    Image.new("RGB", (16, 16), P3_COLOUR).save(path, icc_profile=colour.srgb_profile())
    im = written(run(path, "png", srgb=True))
    assert centre(im) == P3_COLOUR
    assert im.info["icc_profile"] == colour.srgb_profile()


def test_untagged_source_gets_srgb_embedded_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "plain.png"
    Image.new("RGB", (16, 16), P3_COLOUR).save(path)
    assert "icc_profile" not in written(run(path, "png")).info
    im = written(run(path, "png", srgb=True))
    assert centre(im) == P3_COLOUR and is_srgb(im.info["icc_profile"])


# -- CMYK ------------------------------------------------------------------------------

CYAN = (255, 0, 0, 0)


def cmyk_jpeg(path: Path, icc: bytes | None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("CMYK", (32, 32), CYAN).save(path, "JPEG", quality=95, icc_profile=icc)
    return path


@pytest.mark.parametrize("target", ("webp", "jpeg", "png", "avif"))
def test_cmyk_with_profile_converts_through_it(target: str, tmp_path: Path) -> None:
    im = written(run(cmyk_jpeg(tmp_path / "c.jpg", cmyk_profile()), target))
    assert im.mode in ("RGB", "RGBA")
    expected = reference(CYAN, cmyk_profile(), "CMYK")
    assert near(expected, (0, 240, 215), 3)  # the profile's cream paper, not plain cyan
    assert near(centre(im.convert("RGB")), expected, TOLERANCE[target] + 2)
    # The CMYK profile would be wrong for RGB pixels: sRGB describes them.
    assert is_srgb(im.info.get("icc_profile"))


def test_cmyk_without_profile_uses_plain_conversion(tmp_path: Path) -> None:
    im = written(run(cmyk_jpeg(tmp_path / "c.jpg", None), "png"))
    assert near(centre(im), (0, 255, 255), 3)
    assert "icc_profile" not in im.info


def test_cmyk_tiff_keeps_ink_and_profile_unless_srgb(tmp_path: Path) -> None:
    source = cmyk_jpeg(tmp_path / "c.jpg", cmyk_profile())
    kept = written(run(source, "tiff"))
    assert kept.mode == "CMYK" and kept.info["icc_profile"] == cmyk_profile()
    converted = written(run(source, "tiff", srgb=True))
    assert converted.mode == "RGB" and is_srgb(converted.info["icc_profile"])
    assert near(centre(converted), reference(CYAN, cmyk_profile(), "CMYK"), 3)


# -- gray ------------------------------------------------------------------------------

GRAY = 128


def gray_jpeg(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (32, 32), GRAY).save(path, "JPEG", quality=95, icc_profile=gray_profile())
    return path


def test_gray_keeps_its_profile_where_it_stays_gray(tmp_path: Path) -> None:
    im = written(run(gray_jpeg(tmp_path / "g.jpg"), "jpeg"))
    assert im.mode == "L" and im.info["icc_profile"] == gray_profile()


def test_gray_into_webp_converts_through_its_profile(tmp_path: Path) -> None:
    # WebP has no gray mode, and a gray profile cannot describe RGB pixels.
    im = written(run(gray_jpeg(tmp_path / "g.jpg"), "webp"))
    expected = reference((GRAY,), gray_profile(), "L")
    assert expected[0] > GRAY + 10  # gamma 1.8 mid-gray is lighter in sRGB
    assert near(centre(im), expected, TOLERANCE["webp"])
    assert is_srgb(im.info.get("icc_profile"))


def test_16_bit_gray_keeps_its_profile_in_png_even_with_srgb_and_says_so(tmp_path: Path) -> None:
    source = tmp_path / "scan.png"
    gray = Image.new("I;16", (32, 32))
    gray.paste(Image.new("I;16", (32, 32), 20000))
    gray.save(source, icc_profile=gray_profile())
    result = run(source, "png", srgb=True)
    im = written(result)
    assert im.mode == "I;16" and im.info["icc_profile"] == gray_profile()
    assert im.getpixel((5, 5)) == 20000
    assert result.notes == (
        "warning: 16-bit gray keeps its gray ICC profile in png: --srgb converts it only for"
        " 8-bit formats",
    )


def gray_alpha_png(path: Path, bits: int = 8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if bits == 8:
        Image.new("LA", (32, 32), (GRAY, 200)).save(path, "PNG", icc_profile=gray_profile())
        return path

    # Pillow writes no 16-bit gray with alpha.
    row = b"\0" + struct.pack(">HH", GRAY * 257, 200 * 257) * 32
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 32, 32, 16, 4, 0, 0, 0))
        + png_chunk(b"iCCP", b"gray\0\0" + zlib.compress(gray_profile()))
        + png_chunk(b"IDAT", zlib.compress(row * 32))
        + png_chunk(b"IEND", b"")
    )
    return path


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("target", ALPHA_TARGETS)
def test_gray_with_alpha_is_gray_only_where_the_target_keeps_it(
    tmp_path: Path, target: str, bits: int
) -> None:
    # WebP and AVIF store gray with alpha as RGBA, which a gray profile
    # cannot describe: those pixels go to sRGB, as they look. Pillow reads
    # 16 bits of it as RGBA: its profile was dropped and its tones taken as
    # sRGB's, in every format.
    result = run(gray_alpha_png(tmp_path / "ga.png", bits), target)
    im = written(result)
    said = "16-bit gray with alpha read at 8 bits: Pillow has no such mode"
    assert (said in result.notes) == (bits == 16)
    if "LA" in TARGETS[target].modes:
        assert im.mode == "LA" and im.info["icc_profile"] == gray_profile()
        assert centre(im) == (GRAY, 200)
    else:
        assert im.mode == "RGBA" and is_srgb(im.info.get("icc_profile"))
        expected = (*reference((GRAY,), gray_profile(), "L"), 200)
        assert near(centre(im), expected, TOLERANCE[target])


def test_gray_with_srgb_becomes_untagged_srgb_gray(tmp_path: Path) -> None:
    im = written(run(gray_jpeg(tmp_path / "g.jpg"), "png", srgb=True))
    assert im.mode == "L" and "icc_profile" not in im.info
    assert abs(centre(im)[0] - reference((GRAY,), gray_profile(), "L")[0]) <= 1


# -- damaged or mismatched profiles, and the cost of converting ---------------------------


def test_profile_of_another_colour_space_is_dropped_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "wrong.png"
    Image.new("RGB", (16, 16), P3_COLOUR).save(path, icc_profile=gray_profile())
    result = run(path, "png")
    assert "icc_profile" not in written(result).info
    assert any("ICC profile does not match" in note for note in result.notes)


def test_a_profile_is_damaged_when_what_says_its_colours_is_cut_off() -> None:
    from imgpar.colour import intact

    whole = display_p3()
    assert intact(whole)
    # Its last tags, the curves, cut short: the colours are not known.
    assert not intact(whole[:-8])
    # Cut where no colour tag lies (its tags in another order): shorter
    # than its header says, which browsers refuse.
    assert not intact(struct.pack(">I", len(whole) + 60) + whole[4:])
    # A copyright text said to run past the end: the colours are all there,
    # as littleCMS reads them.
    table = 132 + 12 * [struct.unpack_from(">4s", whole, 132 + 12 * i)[0]
                        for i in range(9)].index(b"cprt")  # fmt: skip
    cut_text = bytearray(whole)
    struct.pack_into(">I", cut_text, table + 8, len(whole))
    assert intact(bytes(cut_text))


def test_damaged_profile_is_read_as_srgb_with_a_note(tmp_path: Path) -> None:
    damaged = bytearray(display_p3())
    damaged[128:] = bytes(len(damaged) - 128)  # header kept, tag table gone
    path = tmp_path / "damaged.png"
    Image.new("RGB", (16, 16), P3_COLOUR).save(path, icc_profile=bytes(damaged))
    result = run(path, "png", srgb=True)
    im = written(result)
    assert centre(im) == P3_COLOUR and is_srgb(im.info["icc_profile"])
    assert any("ICC profile is damaged" in note for note in result.notes)


def test_a_profile_padded_past_its_size_is_carried_without_the_padding(tmp_path: Path) -> None:
    path = tmp_path / "padded.png"
    padded = bytes(display_p3()) + bytes(100_000)
    Image.new("RGB", (16, 16), P3_COLOUR).save(path, icc_profile=padded)
    for target in ("webp", "png", "jpeg"):
        result = run(path, target)
        assert written(result).info["icc_profile"] == bytes(display_p3())
        assert result.outputs[0].bytes < 10_000
        assert not result.notes


def test_a_png_profile_that_does_not_inflate_is_damaged_with_a_note(tmp_path: Path) -> None:
    # Pillow drops an iCCP chunk whose data is not zlib's without a word:
    # the file read as sRGB, and nothing said its profile was lost.
    plain = tmp_path / "plain.png"
    Image.new("RGB", (16, 16), P3_COLOUR).save(plain)
    data = plain.read_bytes()
    body = b"Display P3\0\0" + b"\x78\x9cnot zlib at all"
    iccp = struct.pack(">I", len(body)) + b"iCCP" + body
    iccp += struct.pack(">I", zlib.crc32(b"iCCP" + body))
    at = data.index(b"IDAT") - 4
    path = tmp_path / "garbled.png"
    path.write_bytes(data[:at] + iccp + data[at:])
    result = run(path, "webp")
    im = written(result)
    assert "icc_profile" not in im.info or not im.info["icc_profile"]
    assert "ICC profile is damaged: not copied, colours taken as sRGB" in result.notes[-1]
    assert not any("damaged" in note for note in run(plain, "webp").notes)


def test_profiles_passed_through_never_load_littlecms(tmp_path: Path) -> None:
    # littleCMS and the XML parser cost a process ~8 ms each to load: a
    # tagged source whose profile is only carried over, and which has no XMP,
    # needs neither.
    source = p3_png(tmp_path / "p3.png")
    code = API_CONVERT.format(jobs=1) + (
        "print(r.files[0].status, [m for m in ('PIL.ImageCms', 'xml.etree.ElementTree')"
        " if m in sys.modules])\n"
    )
    assert fresh_python(code, source, tmp_path / "out").split() == ["converted", "[]"]
    assert Image.open(tmp_path / "out" / "p3.webp").info["icc_profile"] == bytes(display_p3())


def test_transform_built_once_per_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    built = []
    real = ImageCms.buildTransform

    def counting(*args: object, **kwargs: object) -> ImageCms.ImageCmsTransform:
        built.append(args[2:4])
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ImageCms, "buildTransform", counting)
    monkeypatch.setattr(colour, "_transforms", {})
    for size in (8, 16, 24):
        im = Image.new("RGB", (size, size), P3_COLOUR)
        colour.for_target(im, bytes(display_p3()), TARGETS["webp"], srgb=True)
    assert built == [("RGB", "RGB")]


def test_srgb_from_the_command_line(tmp_path: Path) -> None:
    source = p3_png(tmp_path / "src" / "p3.png")
    out = tmp_path / "web"
    args = ["convert", str(source), "--to", "webp", "--out", str(out), "--srgb", "--jobs", "1"]
    result = CliRunner().invoke(app, [*args, "--lossless"])
    assert result.exit_code == 0, result.output
    with Image.open(out / "p3.webp") as im:
        assert is_srgb(im.info.get("icc_profile"))
        assert near(centre(im), reference(P3_COLOUR, display_p3(), "RGB"), 1)


def test_avif_nclx_wide_gamut_is_tagged_or_converted(tmp_path: Path) -> None:
    # Display P3 said by code points, not by a profile: Pillow does not report
    # it, imgpar reads it from the file's boxes.
    source = nclx_avif(tmp_path / "p3.avif")
    kept = written(run(source, "png"))
    assert colour.description(kept.info["icc_profile"]) == "Display P3 (sRGB curve, nclx)"
    assert near(centre(kept), (200, 120, 80), TOLERANCE["avif"])
    converted = written(convert_one(source, tmp_path / "srgb", "png", srgb=True))
    assert is_srgb(converted.info["icc_profile"])
    # Linear P3 -> sRGB (published matrix) takes (200, 120, 80) to (213, 115, 70).
    assert near(centre(converted), (213, 115, 70), TOLERANCE["avif"]), centre(converted)


def test_srgb_avif_stays_untagged(tmp_path: Path) -> None:
    im = written(run(nclx_avif(tmp_path / "srgb.avif", primaries=1), "png"))
    assert "icc_profile" not in im.info


def camera_adobe_jpeg(path: Path, space: int = 0xFFFF, index: str | None = "R03") -> Path:
    """A camera JPEG shot in Adobe RGB that says so only in EXIF (DCF's option
    file, as Canon's _MG_ files do): no ICC profile."""
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    ifd: dict[int, object] = {0xA001: space}
    if index is not None:
        ifd[0xA005] = {0x0001: index}
    exif.get_ifd(0x8769).update(ifd)
    Image.new("RGB", (48, 32), (60, 170, 90)).save(path, quality=95, exif=exif.tobytes())
    return path


@pytest.mark.parametrize(("space", "index"), [(0xFFFF, "R03"), (2, None)])
def test_exif_adobe_rgb_is_tagged_or_converted(
    space: int, index: str | None, tmp_path: Path
) -> None:
    source = camera_adobe_jpeg(tmp_path / "_MG_0001.jpg", space, index)
    kept = written(run(source, "webp"))
    adobe = kept.info["icc_profile"]
    assert colour.description(adobe) == "Adobe RGB (1998) compatible, from EXIF"
    assert near(centre(kept), (60, 170, 90), TOLERANCE["webp"])
    converted = written(convert_one(source, tmp_path / "srgb", "png", srgb=True))
    assert is_srgb(converted.info["icc_profile"])
    expected = reference((60, 170, 90), adobe, "RGB")
    # Adobe RGB's green lies outside sRGB: converted, the numbers spread further.
    assert spread(expected) > spread((60, 170, 90)) + 20
    assert near(centre(converted), expected, TOLERANCE["jpeg"]), (centre(converted), expected)
    # EXIF says what the pixels are now, and still is where they were kept.
    for im, says in ((kept, (space, index)), (converted, (1, "R98" if index else None))):
        ifd = im.getexif().get_ifd(0x8769)
        interop = im.getexif().get_ifd(0xA005)
        assert (ifd[0xA001], interop.get(1)) == says


def test_xmp_says_srgb_once_the_pixels_are(tmp_path: Path) -> None:
    source = camera_adobe_jpeg(tmp_path / "_MG_0004.jpg")
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
        ' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description'
        ' xmlns:exif="http://ns.adobe.com/exif/1.0/"'
        ' xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" exif:ColorSpace="65535">'
        "<photoshop:ICCProfile>Adobe RGB (1998)</photoshop:ICCProfile>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    with Image.open(source) as im:
        im.save(tmp_path / "xmp.jpg", quality=95, exif=im.info["exif"], xmp=xmp.encode())
    kept = written(run(tmp_path / "xmp.jpg", "webp")).info["xmp"]
    assert b'exif:ColorSpace="65535"' in kept and b">Adobe RGB (1998)<" in kept
    converted = written(convert_one(tmp_path / "xmp.jpg", tmp_path / "srgb", "webp", srgb=True))
    said = converted.info["xmp"]
    assert b'exif:ColorSpace="1"' in said and b">sRGB IEC61966-2.1<" in said, said


@pytest.mark.parametrize(("space", "index"), [(1, None), (0xFFFF, None), (0xFFFF, "R98")])
def test_exif_srgb_or_unsaid_stays_untagged(space: int, index: str | None, tmp_path: Path) -> None:
    im = written(run(camera_adobe_jpeg(tmp_path / "IMG_0001.jpg", space, index), "webp"))
    assert "icc_profile" not in im.info


def test_an_embedded_profile_outranks_exif(tmp_path: Path) -> None:
    source = camera_adobe_jpeg(tmp_path / "_MG_0002.jpg")
    with Image.open(source) as im:
        im.save(tmp_path / "tagged.jpg", quality=95, exif=im.info["exif"], icc_profile=display_p3())
    im = written(run(tmp_path / "tagged.jpg", "webp"))
    assert im.info["icc_profile"] == display_p3()


def test_info_names_the_exif_colour_space(tmp_path: Path) -> None:
    facts = inspect(str(camera_adobe_jpeg(tmp_path / "_MG_0003.jpg")))
    assert facts["icc"] == "Adobe RGB (1998) compatible, from EXIF"
    keep = "keep the 'Adobe RGB (1998) compatible, from EXIF' profile (--srgb converts to sRGB)"
    assert keep in facts["convert"]


def _chunks(chunks: dict[str, bytes]) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    for kind, data in chunks.items():
        info.add(kind.encode("ascii"), data)
    return info


def png_with_chunks(path: Path, mode: str, fill: object, **chunks: bytes) -> Path:
    """A PNG whose colour is said by cICP, gAMA, cHRM or sRGB chunks, not a profile."""
    Image.new(mode, (48, 32), fill).save(path, pnginfo=_chunks(chunks))  # type: ignore[arg-type]
    return path


LINEAR = {"gAMA": struct.pack(">I", 100000)}  # encoding gamma 1.0: linear light
GAMMA_22 = {"gAMA": struct.pack(">I", 45455)}
SRGB_CHRM = {"cHRM": struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)}
P3_CHRM = {"cHRM": struct.pack(">8I", 31270, 32900, 68000, 32000, 26500, 69000, 15000, 6000)}


def test_png_gamma_is_carried_or_converted(tmp_path: Path) -> None:
    source = png_with_chunks(tmp_path / "render.png", "RGB", (128, 64, 32), **LINEAR)
    kept = written(run(source, "webp"))
    linear = kept.info["icc_profile"]
    assert colour.description(linear) == "PNG gAMA/cHRM (gamma 1.00, sRGB primaries)"
    converted = written(convert_one(source, tmp_path / "srgb", "png", srgb=True))
    expected = tuple(srgb_encode(v / 255) for v in (128, 64, 32))
    assert near(centre(converted), expected, 1), (centre(converted), expected)


def test_png_gray_gamma_gets_a_gray_profile(tmp_path: Path) -> None:
    source = png_with_chunks(tmp_path / "mask.png", "L", 128, **LINEAR)
    kept = written(run(source, "png"))
    assert kept.mode == "L"
    assert colour.description(kept.info["icc_profile"]) == "PNG gAMA (gamma 1.00)"
    assert colour.profile_space(kept.info["icc_profile"]) == b"GRAY"
    # WebP holds no gray: the level goes to sRGB through the gray profile.
    webp = written(convert_one(source, tmp_path / "webp", "webp"))
    assert near(centre(webp.convert("RGB")), (srgb_encode(128 / 255),) * 3, 2)


def test_png_primaries_are_carried(tmp_path: Path) -> None:
    source = png_with_chunks(tmp_path / "p3.png", "RGB", P3_COLOUR, **GAMMA_22, **P3_CHRM)
    kept = written(run(source, "png"))
    profile = kept.info["icc_profile"]
    assert colour.description(profile) == "PNG gAMA/cHRM (gamma 2.20, own primaries)"
    # The power gAMA names, as PNG defines it: 2.2 stands for sRGB's curve
    # with sRGB's primaries alone (with Adobe RGB's, it is that space's own).
    assert near(reference(P3_COLOUR, profile, "RGB"), p3_in_srgb(P3_COLOUR, gamma=2.2), 1)


@pytest.mark.parametrize(
    "chunks",
    [GAMMA_22, {**GAMMA_22, **SRGB_CHRM}, SRGB_CHRM, {"sRGB": b"\0", **LINEAR}],
    ids=["gamma 2.2", "gamma 2.2 and sRGB primaries", "sRGB primaries", "sRGB chunk wins"],
)
def test_png_chunks_that_say_srgb_leave_it_untagged(
    chunks: dict[str, bytes], tmp_path: Path
) -> None:
    im = written(run(png_with_chunks(tmp_path / "web.png", "RGB", (10, 20, 30), **chunks), "webp"))
    assert "icc_profile" not in im.info


def test_a_broken_chrm_chunk_is_read_as_srgb_with_a_note(tmp_path: Path) -> None:
    broken = {"cHRM": bytes(32)}
    result = run(png_with_chunks(tmp_path / "odd.png", "RGB", (10, 20, 30), **broken), "webp")
    assert "icc_profile" not in written(result).info
    assert "warning: PNG cHRM chunk out of range: colours read as sRGB" in result.notes


def test_png_cicp_is_read_and_outranks_every_other_chunk(tmp_path: Path) -> None:
    cicp = {"cICP": bytes((12, 13, 0, 1))}  # Display P3, sRGB curve, RGB, full range
    source = png_with_chunks(tmp_path / "shot.png", "RGB", P3_COLOUR, **cicp, **LINEAR)
    kept = written(run(source, "webp"))
    assert colour.description(kept.info["icc_profile"]) == "Display P3 (sRGB curve, nclx)"
    # Above an embedded profile too (PNG's third edition).
    with Image.open(source) as im:
        im.save(tmp_path / "both.png", pnginfo=_chunks(cicp), icc_profile=display_p3())
    both = written(run(tmp_path / "both.png", "webp"))
    assert colour.description(both.info["icc_profile"]) == "Display P3 (sRGB curve, nclx)"


def test_png_hdr_cicp_gives_way_to_the_profile_beside_it(tmp_path: Path) -> None:
    hdr = {"cICP": bytes((9, 16, 0, 1))}  # BT.2020 with the PQ curve
    result = run(png_with_chunks(tmp_path / "hdr.png", "RGB", (10, 20, 30), **hdr), "webp")
    assert "icc_profile" not in written(result).info
    assert "warning: HDR (PQ) colour read as sRGB: no tone mapping" in result.notes
    with Image.open(tmp_path / "hdr.png") as im:
        im.save(tmp_path / "fallback.png", pnginfo=_chunks(hdr), icc_profile=display_p3())
    fallback = run(tmp_path / "fallback.png", "webp")
    assert written(fallback).info["icc_profile"] == display_p3()
    assert not any("HDR" in note for note in fallback.notes)


@pytest.mark.filterwarnings("ignore")  # Pillow's own words on each damaged block
def test_damaged_exif_never_stops_a_conversion() -> None:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif.get_ifd(0x8769).update({0xA001: 0xFFFF, 0xA005: {1: "R03"}})
    raw = exif.tobytes()
    rng = random.Random(3)
    untagged = Image.new("RGB", (4, 4))
    for _ in range(5000):
        damaged = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(6, len(damaged))] = rng.randrange(256)
        read = Image.Exif()
        try:
            read.load(bytes(damaged))
        except Exception:
            continue  # Pillow itself refuses it: the pipeline reports that file
        profile = colour.source_profile(untagged, read, io.BytesIO())
        assert profile in (None, profiles.adobe_rgb())


def test_report_previews_show_wide_gamut_in_srgb(tmp_path: Path) -> None:
    # The HTML report shows previews untagged: P3 numbers there would look dull.
    source = png_with_chunks(tmp_path / "p3.png", "RGB", P3_COLOUR, cICP=bytes((12, 13, 0, 1)))
    result = convert_one(source, tmp_path / "out", "png", preview=True)
    assert result.thumbnail is not None
    encoded = base64.b64decode(result.thumbnail.split(",", 1)[1])
    with Image.open(io.BytesIO(encoded)) as preview:
        assert near(centre(preview.convert("RGB")), p3_in_srgb(P3_COLOUR), TOLERANCE["webp"])


def test_a_profile_too_large_for_jpeg_is_converted_to_srgb(tmp_path: Path) -> None:
    # 17 MB of private tag: a JPEG counts its profile's markers to 255, so
    # the output wrapped them, and no reader found the profile it carried.
    big = display_p3(extra=[(b"zzzz", b"zzzz\0\0\0\0" + bytes(17_000_000))])
    source = tmp_path / "big.tif"  # PNG's limit on a chunk would refuse it
    Image.new("RGB", (48, 32), P3_COLOUR).save(source, icc_profile=big)
    result = run(source, "jpeg")
    assert any("ICC profile too large for JPEG" in note for note in result.notes), result.notes
    assert result.outputs[0].bytes < 100_000
    im = written(result)
    assert is_srgb(im.info.get("icc_profile"))
    assert near(centre(im.convert("RGB")), reference(P3_COLOUR, display_p3(), "RGB"), 6)


def test_a_tiff_s_pages_are_read_each_in_its_own_profile(tmp_path: Path) -> None:
    # With --all-pages every page was counted first, and Pillow's `info`
    # kept the last page's profile: an untagged first page came out tagged
    # (and converted, with --srgb) as the last page's Display P3, and the
    # pages of a TIFF all took one profile.
    source = tmp_path / "scan.tif"
    pages = [Image.new("RGB", (40, 30), (200, 100, 50)) for _ in range(2)]
    pages[1].info["icc_profile"] = display_p3()
    pages[0].save(source, save_all=True, append_images=pages[1:])
    with Image.open(source) as im:
        im.seek(1)
        assert im.info.get("icc_profile")  # the source is as meant: page 2 tagged
    report = imgpar.convert([source], to="tiff,jpeg", out=tmp_path / "o", all_pages=True, jobs=1)
    result = report.files[0]
    assert result.status == "converted", result.error
    with Image.open(tmp_path / "o" / "scan.jpg") as first_only:
        assert not first_only.info.get("icc_profile")
        assert close_to(first_only.getpixel((20, 15)), (200, 100, 50), 3)
    # One profile for all its pages: each page made sRGB through its own.
    assert "pages in different ICC profiles: each made sRGB in tiff" in result.notes
    p3 = ImageCms.ImageCmsProfile(io.BytesIO(display_p3()))
    in_srgb = ImageCms.profileToProfile(pages[1], p3, ImageCms.createProfile("sRGB"))
    with Image.open(tmp_path / "o" / "scan.tif") as tiff:
        assert colour.is_srgb(tiff.info["icc_profile"])
        assert close_to(tiff.getpixel((20, 15)), (200, 100, 50), 3)
        tiff.seek(1)
        assert close_to(tiff.getpixel((20, 15)), in_srgb.getpixel((20, 15)), 3)
        assert in_srgb.getpixel((20, 15))[0] > 210  # P3's red, wider than sRGB's
