"""--metadata: what EXIF and XMP each output keeps, read back from the output."""

from __future__ import annotations

import io
import os
import struct
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import (
    ARTIST,
    CAMERA_ARTIST,
    CAMERA_COPYRIGHT,
    COPYRIGHT,
    DATETIME_ORIGINAL,
    EXIF_IFD,
    GPS_IFD,
    MAKE,
    ORIENTATION,
    assert_upright,
    build_tree,
    camera_exif,
    convert_one,
    make_rgba_png,
    quadrant_picture,
    stored_for_orientation,
    written,
)
from PIL import Image, ImageFile, PngImagePlugin, TiffImagePlugin, TiffTags
from typer.testing import CliRunner

import imgpar
from imgpar.api import prepare
from imgpar.cli import app
from imgpar.errors import UsageError
from imgpar.formats import TARGETS
from imgpar.info import inspect
from imgpar.metadata import PIXEL_X, PIXEL_Y
from imgpar.spec import METADATA_POLICIES, Resize, Result

ALL_TARGETS = ("webp", "jpeg", "png", "avif", "tiff")
XMP_TAG = 700

NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "xmpRights": "http://ns.adobe.com/xap/1.0/rights/",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "xmpMM": "http://ns.adobe.com/xap/1.0/mm/",
    "Iptc4xmpCore": "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "drone-dji": "http://www.dji.com/drone-dji/1.0/",
}

# Location both as attributes and as elements, nested in a structure too;
# credits in both forms; and fields that are neither.
XMP = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="{NS["rdf"]}">
  <rdf:Description rdf:about=""
    xmlns:dc="{NS["dc"]}" xmlns:xmp="{NS["xmp"]}" xmlns:xmpRights="{NS["xmpRights"]}"
    xmlns:exif="{NS["exif"]}" xmlns:tiff="{NS["tiff"]}" xmlns:photoshop="{NS["photoshop"]}"
    xmlns:Iptc4xmpCore="{NS["Iptc4xmpCore"]}" xmlns:Iptc4xmpExt="{NS["Iptc4xmpExt"]}"
    xmp:CreatorTool="imgpar tests" xmpRights:Marked="True" tiff:Orientation="6"
    exif:GPSLatitude="52,31.2N" photoshop:City="Berlin" Iptc4xmpCore:Location="Home">
   <dc:creator><rdf:Seq><rdf:li>{CAMERA_ARTIST}</rdf:li></rdf:Seq></dc:creator>
   <dc:rights><rdf:Alt>
    <rdf:li xml:lang="x-default">{CAMERA_COPYRIGHT}</rdf:li>
   </rdf:Alt></dc:rights>
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">A test</rdf:li></rdf:Alt></dc:description>
   <exif:GPSLongitude>13,24.6E</exif:GPSLongitude>
   <photoshop:Country>Germany</photoshop:Country>
   <Iptc4xmpExt:LocationCreated><rdf:Bag><rdf:li rdf:parseType="Resource">
    <Iptc4xmpExt:City>Berlin</Iptc4xmpExt:City>
   </rdf:li></rdf:Bag></Iptc4xmpExt:LocationCreated>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode()

LOCATION = {
    "exif:GPSLatitude",
    "exif:GPSLongitude",
    "photoshop:City",
    "photoshop:Country",
    "Iptc4xmpCore:Location",
    "Iptc4xmpExt:LocationCreated",
}
CREDITS = {"dc:creator", "dc:rights", "xmpRights:Marked"}
OTHERS = {"dc:description", "xmp:CreatorTool", "tiff:Orientation"}
KEPT = {
    "all": CREDITS | OTHERS | LOCATION,
    "no-gps": CREDITS | OTHERS,
    "copyright": CREDITS,
    "none": set(),
}


@pytest.fixture(autouse=True)
def _pillow_globals() -> Iterator[None]:
    saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    yield
    Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved


def tagged_jpeg(path: Path, orientation: int = 6) -> Path:
    """A 60 x 90 portrait stored on its side: camera EXIF (GPS included) and XMP."""
    stored = stored_for_orientation(quadrant_picture((60, 90)), orientation)
    path.parent.mkdir(parents=True, exist_ok=True)
    stored.save(path, "JPEG", quality=92, exif=camera_exif(orientation), xmp=XMP)
    return path


def run(source: Path, *targets: str, policy: str | None = None) -> Result:
    options = {} if policy is None else {"metadata": policy}
    result = convert_one(source, source.parent / "out", *targets, **options)
    assert result.status == "converted", result.error
    return result


def properties(im: Image.Image) -> dict[str, str | None]:
    """The output's XMP properties as "prefix:name" -> text (attribute value or
    element text), those of the picture's own descriptions (not of documents
    described inside them); {} when it has no XMP."""
    data = im.info.get("xmp")
    if not data:
        return {}
    prefixes = {uri: prefix for prefix, uri in NS.items()}

    def short(name: str) -> str:
        uri, _, local = name[1:].partition("}")
        return f"{prefixes[uri]}:{local}"

    found: dict[str, str | None] = {}
    root = ET.fromstring(data.rstrip(b"\0 "))
    for description in root.iterfind(f"{{{NS['rdf']}}}RDF/{{{NS['rdf']}}}Description"):
        for name, value in description.attrib.items():
            if not name.startswith(f"{{{NS['rdf']}}}"):
                found[short(name)] = value
        for child in description:
            found[short(child.tag)] = "".join(child.itertext()).strip() or None
    return found


def plain_tags(target: str) -> set[int]:
    """The tags an encoder writes for pixels alone (a TIFF's layout tags)."""
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, TARGETS[target].pil_format)
    buffer.seek(0)
    with Image.open(buffer) as im:
        return set(im.getexif())


def metadata_tags(im: Image.Image, target: str) -> set[int]:
    """EXIF tags beyond the encoder's own (a TIFF's XMP tag, 700, aside: XMP is
    checked on its own)."""
    return set(im.getexif()) - plain_tags(target) - {XMP_TAG}


def assert_orientation_one(im: Image.Image, target: str) -> None:
    exif = im.getexif()
    # AVIF moves orientation into its own irot/imir boxes: absent means 1 there.
    assert exif.get(ORIENTATION, 1) == 1
    if target != "avif" and exif:
        assert exif.get(ORIENTATION) == 1


@pytest.mark.parametrize("policy", METADATA_POLICIES)
@pytest.mark.parametrize("target", ALL_TARGETS)
def test_each_policy_keeps_exactly_its_metadata(target: str, policy: str, tmp_path: Path) -> None:
    im = written(run(tagged_jpeg(tmp_path / "cam.jpg"), target, policy=policy))
    assert_upright(im)
    exif = im.getexif()
    tags = metadata_tags(im, target)
    xmp = properties(im)

    assert set(xmp) == KEPT[policy]
    if "tiff:Orientation" in xmp:
        assert xmp["tiff:Orientation"] == "1"
    assert not any(name in xmp for name in LOCATION) or policy == "all"

    if policy == "none":
        assert tags == set()
        assert "xmp" not in im.info
        return
    assert exif.get(ARTIST) == CAMERA_ARTIST
    assert exif.get(COPYRIGHT) == CAMERA_COPYRIGHT
    assert xmp["dc:creator"] == CAMERA_ARTIST and xmp["dc:rights"] == CAMERA_COPYRIGHT
    if policy == "copyright":
        assert tags == {ARTIST, COPYRIGHT}
        return
    assert exif.get(MAKE) == "imgpar test camera"
    assert_orientation_one(im, target)
    sub_ifds = "exif" in TARGETS[target].metadata  # TIFF keeps EXIF's first IFD only
    assert bool(exif.get_ifd(EXIF_IFD).get(DATETIME_ORIGINAL)) == sub_ifds
    assert bool(exif.get_ifd(GPS_IFD)) == (policy == "all" and sub_ifds)
    if policy == "no-gps":
        assert GPS_IFD not in exif


def test_default_is_no_gps_through_the_cli(tmp_path: Path) -> None:
    source = tagged_jpeg(tmp_path / "src" / "cam.jpg")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["convert", str(source), "--to", "jpeg,webp", "--out", str(out), "--jobs", "1"]
    )
    assert result.exit_code == 0, result.output
    for name in ("cam.jpg", "cam.webp"):
        with Image.open(out / name) as im:
            exif = im.getexif()
            assert GPS_IFD not in exif and not exif.get_ifd(GPS_IFD)
            assert exif.get(ARTIST) == CAMERA_ARTIST
            kept = properties(im)
        assert not LOCATION & set(kept) and set(kept) >= CREDITS


def test_cli_metadata_all_keeps_gps(tmp_path: Path) -> None:
    source = tagged_jpeg(tmp_path / "src" / "cam.jpg")
    out = tmp_path / "out"
    args = ["convert", str(source), "--to", "png", "--out", str(out), "--metadata", "all"]
    result = CliRunner().invoke(app, [*args, "--jobs", "1"])
    assert result.exit_code == 0, result.output
    with Image.open(out / "cam.png") as im:
        assert im.getexif().get_ifd(GPS_IFD)
        assert set(properties(im)) >= LOCATION


def test_unknown_policy_is_a_usage_error(tmp_path: Path) -> None:
    source = tagged_jpeg(tmp_path / "cam.jpg")
    # The setting at fault as a program calling the API names it; the
    # command line names it as its flag.
    with pytest.raises(UsageError, match=r"^metadata must be one of all, copyright") as raised:
        prepare([source], to="webp", metadata="gps-only")
    assert raised.value.option == "metadata"
    # A value of the wrong kind is named the same way, not a TypeError.
    for option, value in (("quality", "high"), ("width", [320, "640"]), ("max_size", True)):
        with pytest.raises(UsageError, match=f"^{option} must be a whole number") as wrong:
            prepare([source], to="webp", **{option: value})
        assert wrong.value.option == option
    # The format, the name template and the output folder too.
    (tmp_path / "file").write_text("")
    bad_values = (("to", "gif"), ("name", "{bogus}"), ("out", tmp_path / "file"), ("to", 5),
                  ("to", ["webp", 3]), ("name", 5), ("out", 5), ("out", ""), ("to", None),
                  ("max_pixels", None), ("timeout", None), ("height", [100, 200]),
                  ("long_edge", "400,500"), ("short_edge", ["300"]),
                  ("width", b"300"))  # fmt: skip  (bytes read as [51, 48, 48] made 3 widths)
    for option, value in bad_values:
        with pytest.raises(UsageError, match=f"^{option} ") as bad:
            prepare([source], **{"to": "webp", option: value})
        assert bad.value.option == option
    # Sizes given as text are read as the command line reads them, and used
    # as read: "30" once reached the resize as text and failed every file.
    for option in ("height", "long_edge", "short_edge"):
        resize = prepare([source], to="webp", **{option: "30"}).spec.outputs[0].resize
        assert getattr(resize, option) == 30
    for sources in (5, None, [source, None]):
        with pytest.raises(UsageError, match=r"^SOURCES must be paths, or a list of them, not "):
            prepare(sources, to="webp")  # type: ignore[arg-type]
    # A path in bytes is a path, as os takes it: not a list of numbers.
    for sources in (os.fsencode(source), [os.fsencode(source)]):
        assert prepare(sources, to="webp").sources == (str(source),)
    result = CliRunner().invoke(app, ["convert", str(source), "--to", "webp", "--metadata", "x"])
    assert result.exit_code == 2
    assert "--metadata must be one of" in result.output


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_rotated_source_is_written_upright_with_orientation_1(
    orientation: int, tmp_path: Path
) -> None:
    result = run(tagged_jpeg(tmp_path / "cam.jpg", orientation), "jpeg", "png")
    for index, target in enumerate(("jpeg", "png")):
        im = written(result, index)
        assert im.size == (60, 90)
        assert_upright(im)
        assert_orientation_one(im, target)
        assert properties(im)["tiff:Orientation"] == "1"


@pytest.mark.parametrize("target", ALL_TARGETS)
def test_a_turned_tiff_is_written_with_orientation_1(target: str, tmp_path: Path) -> None:
    # Pillow turns a TIFF as it loads and drops its tag: its outputs said nothing.
    source = tmp_path / "scan.tif"
    exif = Image.Exif()
    exif.update({ORIENTATION: 6, 0x0110: "Scanner"})  # its model
    stored_for_orientation(quadrant_picture((60, 90)), 6).save(source, exif=exif)
    im = written(run(source, target))
    assert im.size == (60, 90)
    assert_upright(im)
    if target != "avif":  # irot and imir boxes there: absent means 1
        assert im.getexif().get(ORIENTATION) == 1


def test_size_fields_say_the_output_size(tmp_path: Path) -> None:
    # A camera writes its sensor's size into the Exif IFD and XMP; resized
    # and turned upright, the output kept saying 90 x 60 about 30 x 45 pixels.
    exif = camera_exif(6)
    exif[EXIF_IFD] = {DATETIME_ORIGINAL: "2024:05:01 12:00:00", PIXEL_X: 90, PIXEL_Y: 60}
    xmp = XMP.replace(
        b'tiff:Orientation="6"',
        b'tiff:Orientation="6" exif:PixelXDimension="90" exif:PixelYDimension="60"',
    ).replace(
        b"<dc:creator>",
        b"<tiff:ImageWidth>90</tiff:ImageWidth>"
        # An embedded logo's record: its size is the logo's, not the photo's.
        b'<xmpMM:Pantry xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"><rdf:Bag>'
        b'<rdf:li><rdf:Description exif:PixelXDimension="320" tiff:ImageWidth="320"/>'
        b"</rdf:li></rdf:Bag></xmpMM:Pantry><dc:creator>",
    )
    path = tmp_path / "cam.jpg"
    stored_for_orientation(quadrant_picture((60, 90)), 6).save(path, exif=exif, xmp=xmp)
    result = convert_one(path, tmp_path / "out", "webp", "jpeg", "png", resize=Resize(width=30))
    for index in range(3):
        im = written(result, index)
        assert im.size == (30, 45)
        ifd = im.getexif().get_ifd(EXIF_IFD)
        assert (ifd[PIXEL_X], ifd[PIXEL_Y]) == (30, 45)
        assert ifd[DATETIME_ORIGINAL] == "2024:05:01 12:00:00"
        said = properties(im)
        assert (said["exif:PixelXDimension"], said["exif:PixelYDimension"]) == ("30", "45")
        assert said["tiff:ImageWidth"] == "30"
        assert "tiff:ImageLength" not in said  # said where the source said it, only
        assert b'exif:PixelXDimension="320" tiff:ImageWidth="320"' in im.info["xmp"]
    # A file that gives no size gets none.
    plain = written(run(tagged_jpeg(tmp_path / "plain.jpg"), "webp"))
    assert not {PIXEL_X, PIXEL_Y} & set(plain.getexif().get_ifd(EXIF_IFD))
    assert "exif:PixelXDimension" not in properties(plain)


def test_orientation_only_in_xmp_is_applied_and_reset(tmp_path: Path) -> None:
    # Pillow reads tiff:Orientation when EXIF has none; a stale 6 left in the
    # output's XMP would make such readers turn the picture a second time.
    path = tmp_path / "xmp-only.png"
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    stored_for_orientation(quadrant_picture((60, 90)), 6).save(path, pnginfo=info)
    im = written(run(path, "png", "jpeg"))
    assert im.size == (60, 90)
    assert_upright(im)
    assert properties(im)["tiff:Orientation"] == "1"
    assert Image.open(run(path, "jpeg").outputs[0].path).getexif().get(ORIENTATION, 1) == 1


def test_a_tiff_whose_orientation_only_xmp_gives_keeps_its_shape(tmp_path: Path) -> None:
    # Pillow reports such a TIFF's size as stored but turns its pixels as
    # they load: the 90 x 60 picture came out 60 x 90, stretched.
    path = tmp_path / "scan.tif"
    stored = stored_for_orientation(quadrant_picture((90, 60)), 6)
    stored.save(path, tiffinfo={XMP_TAG: XMP})
    for resize, size in ((None, (90, 60)), (Resize(width=45), (45, 30))):
        result = convert_one(path, tmp_path / f"out{size[0]}", "png", "jpeg", resize=resize)
        assert result.status == "converted", result.error
        assert (result.width, result.height) == (90, 60)
        for index in range(2):
            im = written(result, index)
            assert im.size == size
            assert_upright(im)
    facts = inspect(str(path))
    assert (facts["size"], facts["displayed"]) == ([60, 90], [90, 60])


def test_png_itxt_xmp_is_read_and_filtered(tmp_path: Path) -> None:
    path = tmp_path / "tagged.png"
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    Image.new("RGB", (16, 16)).save(path, pnginfo=info)
    kept = properties(written(run(path, "jpeg")))
    assert set(kept) == KEPT["no-gps"]


@pytest.mark.parametrize("policy", ["all", "no-gps", "copyright", "none"])
def test_a_pngs_xmp_as_imagemagick_writes_it_is_read_and_filtered(
    tmp_path: Path, policy: str
) -> None:
    # ImageMagick writes a PNG's XMP as a text chunk of hex; imgpar saw none:
    # the photographer's credit was dropped even under --metadata all, and
    # its orientation not applied.
    path = tmp_path / "magick.png"
    hexed = XMP.hex()
    lines = [hexed[i : i + 72] for i in range(0, len(hexed), 72)]
    info = PngImagePlugin.PngInfo()
    text = f"\nxmp\n{len(XMP):8d}\n" + "\n".join(lines)
    info.add_text("Raw profile type xmp", text, zip=True)
    stored_for_orientation(quadrant_picture((60, 90)), 6).save(path, pnginfo=info)
    assert inspect(str(path))["xmp"] is True
    im = written(run(path, "jpeg", policy=policy))
    assert im.size == (60, 90)
    assert_upright(im)
    kept = properties(im)
    assert set(kept) == KEPT[policy]
    if policy != "none":
        assert kept["dc:creator"] == CAMERA_ARTIST and kept.get("tiff:Orientation", "1") == "1"


@pytest.mark.parametrize("target", ["tiff", "jpeg"])
def test_tiff_source_tags_do_not_slip_past_the_policy(target: str, tmp_path: Path) -> None:
    # Pillow's TIFF writer copies every tag of an image opened from a TIFF;
    # the output must still hold only what the policy keeps.
    path = tmp_path / "tagged.tif"
    # (Pillow's TIFF reader applies an XMP orientation itself and drops it.)
    upright = XMP.replace(b' tiff:Orientation="6"', b"")
    Image.new("RGB", (16, 16)).save(
        path, compression="tiff_adobe_deflate", tiffinfo={XMP_TAG: upright, ARTIST: CAMERA_ARTIST}
    )
    kept = written(run(path, target, policy="none"))
    assert metadata_tags(kept, target) == set() and "xmp" not in kept.info
    filtered = written(run(path, target))
    assert set(properties(filtered)) == KEPT["no-gps"] - {"tiff:Orientation"}
    assert filtered.getexif().get(ARTIST) == CAMERA_ARTIST


@pytest.mark.parametrize("target", ["jpeg", "webp", "tiff"])
def test_a_tiffs_page_and_colour_tags_are_not_copied(target: str, tmp_path: Path) -> None:
    # An Adobe RGB TIFF's output claimed sRGB's primaries and white point in
    # its EXIF, and page 0 of 1.
    path = tmp_path / "scan.tif"
    tags = {
        297: (0, 1),  # PageNumber
        318: (0.3127, 0.329),  # WhitePoint
        319: (0.64, 0.33, 0.3, 0.6, 0.15, 0.06),  # PrimaryChromaticities
        529: (0.299, 0.587, 0.114),  # YCbCrCoefficients
        ARTIST: CAMERA_ARTIST,
    }
    Image.new("RGB", (16, 16)).save(path, tiffinfo=tags)
    with Image.open(path) as source:
        assert set(tags) <= set(source.getexif())
    exif = written(run(path, target, policy="all")).getexif()
    assert not {297, 318, 319, 529} & set(exif)
    assert exif.get(ARTIST) == CAMERA_ARTIST


def test_xmp_with_a_dtd_is_not_copied(tmp_path: Path) -> None:
    hostile = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>' + XMP.split(b"?>", 1)[1]
    path = tmp_path / "dtd.jpg"
    Image.new("RGB", (16, 16)).save(path, xmp=hostile)
    result = run(path, "jpeg")
    assert "xmp" not in written(result).info
    assert any("XMP metadata unreadable" in note for note in result.notes)


def test_oversized_makernote_is_left_out_of_a_jpeg(tmp_path: Path) -> None:
    # One JPEG marker segment holds at most 64 KB of EXIF; the rest still fits.
    exif = Image.Exif()
    exif[ARTIST] = CAMERA_ARTIST
    exif[EXIF_IFD] = {0x927C: b"M" * 70_000, DATETIME_ORIGINAL: "2024:05:01 12:00:00"}
    path = tmp_path / "makernote.png"
    Image.new("RGB", (8, 8)).save(path, exif=exif.tobytes())
    result = run(path, "jpeg", policy="all")
    kept = written(result).getexif()
    assert kept.get(ARTIST) == CAMERA_ARTIST
    assert kept.get_ifd(EXIF_IFD) == {DATETIME_ORIGINAL: "2024:05:01 12:00:00"}
    assert "warning: EXIF MakerNote too large for JPEG: not copied" in result.notes


def test_damaged_exif_is_warned_of_in_one_clean_line(tmp_path: Path) -> None:
    # An IFD that promises one 12-byte entry and holds 2 bytes of it: Pillow's
    # own words come with a double space and a trailing one.
    ifd = struct.pack("<H", 1) + struct.pack("<H", ARTIST)
    path = tmp_path / "cut-exif.jpg"
    quadrant_picture((32, 24)).save(path, exif=b"Exif\0\0II*\0" + struct.pack("<I", 8) + ifd)
    said = "damaged EXIF data (expecting to read 12 bytes but only got 2)"
    result = run(path, "webp")
    assert [note for note in result.notes if note.startswith("warning:")] == [f"warning: {said}"]
    assert_upright(written(result))
    assert inspect(str(path))["warnings"] == [said]


def test_exif_whose_tag_data_lies_past_its_end_is_damaged_exif(tmp_path: Path) -> None:
    # Pillow's own words for it are "Truncated File Read", about the file.
    entry = struct.pack("<HHII", ARTIST, 2, 10, 1000)  # 10 ASCII bytes, far past the block
    ifd = struct.pack("<H", 1) + entry + struct.pack("<I", 0)
    path = tmp_path / "cut-tag.jpg"
    quadrant_picture((32, 24)).save(path, exif=b"Exif\0\0II*\0" + struct.pack("<I", 8) + ifd)
    result = run(path, "webp")
    notes = [note for note in result.notes if note.startswith("warning:")]
    assert notes == ["warning: damaged EXIF data (cut short)"]
    assert inspect(str(path))["warnings"] == ["damaged EXIF data (cut short)"]


def _big_comment(path: Path) -> None:
    exif = Image.Exif()
    exif[ARTIST] = CAMERA_ARTIST
    exif[EXIF_IFD] = {0x9286: b"ASCII\0\0\0" + b"c" * 70_000}
    Image.new("RGB", (8, 8)).save(path, exif=exif.tobytes())


def _cut_exif(entries: int) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        ifd = struct.pack("<H", entries) + struct.pack("<H", ARTIST)
        exif = b"Exif\0\0II*\0" + struct.pack("<I", 8) + ifd
        quadrant_picture((32, 24)).save(path, exif=exif)

    return make


def _hdr_png(path: Path) -> None:
    said = PngImagePlugin.PngInfo()
    said.add(b"cICP", bytes((9, 16, 0, 1)))  # BT.2020 with the PQ curve
    Image.new("RGB", (16, 16), (10, 20, 30)).save(path, pnginfo=said)


@pytest.mark.parametrize(
    ("made", "to", "said"),
    [
        ({"a.png": _big_comment, "b.png": _big_comment, "plain.png": make_rgba_png},
         "jpeg", "EXIF too large for JPEG: only Artist and Copyright copied (2 files)"),
        # By kind: each file's detail (which bytes) differs.
        ({f"cut{n}.jpg": _cut_exif(n) for n in (2, 4, 6)}, "webp", "damaged EXIF data (3 files)"),
        # A bracket inside a kind is no detail.
        ({"h1.png": _hdr_png, "h2.png": _hdr_png}, "webp",
         "HDR (PQ) colour read as sRGB: no tone mapping (2 files)"),
    ],
)  # fmt: skip
def test_warnings_are_told_at_the_end_of_a_plain_run(
    tmp_path: Path, made: dict[str, Callable[[Path], None]], to: str, said: str
) -> None:
    src = build_tree(tmp_path / "src", made)
    args = ["convert", str(src), "--to", to, "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stderr == f"note: converted with warnings (--verbose names the files): {said}\n"
    verbose = CliRunner().invoke(app, [*args, "--force", "--verbose"]).stderr
    assert verbose.count("; warning: ") == len(made) - ("plain.png" in made)
    assert verbose.endswith(f"note: converted with warnings: {said}\n")


def test_formats_says_what_each_target_carries() -> None:
    result = CliRunner().invoke(app, ["formats"])
    assert result.exit_code == 0
    unwrapped = result.stdout.replace("\n" + " " * 16, " ")  # long lines wrap under their text
    lines = {line.split()[0]: line for line in unwrapped.splitlines() if line.startswith("  ")}
    for target in ("webp", "jpeg", "png", "avif"):
        assert "ICC + EXIF + XMP" in lines[target]
    assert "EXIF main IFD only (no exposure, DateTimeOriginal or GPS)" in lines["tiff"]


@pytest.mark.parametrize(("policy", "kept"), [("all", True), ("no-gps", False), ("none", False)])
def test_jpeg_comment_follows_the_policy(tmp_path: Path, policy: str, kept: bool) -> None:
    source = tmp_path / "c.jpg"
    Image.new("RGB", (40, 30), (90, 120, 200)).save(source, comment=b"shot at 51.5N 0.1W")
    out = tmp_path / "o"
    imgpar.convert([source], to="jpeg", out=out, jobs=1, metadata=policy, max_size=20)
    with Image.open(out / "c.jpg") as im:
        assert (im.info.get("comment") == b"shot at 51.5N 0.1W") is kept


# EXIF field types (TIFF 6.0): how a reader must take a field's bytes.
BYTE, ASCII, SHORT, LONG, RATIONAL, UNDEFINED, SSHORT, SRATIONAL = 1, 2, 3, 4, 5, 7, 8, 10
_NUMBERS = {SHORT: "H", LONG: "I", RATIONAL: "II", SSHORT: "h", SRATIONAL: "ii"}
_SIZES = {BYTE: 1, ASCII: 1, UNDEFINED: 1, **{k: struct.calcsize(f) for k, f in _NUMBERS.items()}}
Field = tuple[int, int, bytes]  # type, count, the value's bytes (little-endian)


def exif_block(ifd0: dict[int, Field], exif_ifd: dict[int, Field]) -> bytes:
    """Little-endian EXIF with IFD0 and an Exif IFD, each field of the type
    given, as a camera or Lightroom writes them (no Pillow in the way)."""

    def ifd(fields: dict[int, Field], at: int) -> tuple[bytes, bytes]:
        data_at = at + 2 + 12 * len(fields) + 4
        entries, data = b"", b""
        for tag, (kind, count, value) in sorted(fields.items()):
            if len(value) <= 4:
                entries += struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\0")
            else:
                entries += struct.pack("<HHII", tag, kind, count, data_at + len(data))
                data += value + b"\0" * (len(value) % 2)
        return struct.pack("<H", len(fields)) + entries + struct.pack("<I", 0), data

    placeholder = (LONG, 1, b"\0\0\0\0")
    first, first_data = ifd({**ifd0, EXIF_IFD: placeholder}, 8)
    second_at = 8 + len(first) + len(first_data)
    first, first_data = ifd({**ifd0, EXIF_IFD: (LONG, 1, struct.pack("<I", second_at))}, 8)
    second, second_data = ifd(exif_ifd, second_at)
    return b"Exif\0\0II*\0" + struct.pack("<I", 8) + first + first_data + second + second_data


def exif_fields(data: bytes) -> dict[str, dict[int, Field]]:
    """IFD0's and the Exif IFD's fields as stored: the reader's side of
    exif_block, taking either byte order (numbers come back little-endian)."""
    tiff = data.removeprefix(b"Exif\0\0")
    order = "<" if tiff[:2] == b"II" else ">"

    def ifd(at: int) -> dict[int, Field]:
        (count,) = struct.unpack_from(order + "H", tiff, at)
        fields = {}
        for n in range(count):
            tag, kind, items, raw = struct.unpack_from(order + "HHI4s", tiff, at + 2 + 12 * n)
            size = _SIZES.get(kind, 1) * items
            if size > 4:
                (offset,) = struct.unpack(order + "I", raw)
                raw = tiff[offset : offset + size]
            raw = raw[:size]
            if kind in _NUMBERS:
                form = _NUMBERS[kind] * items
                raw = struct.pack("<" + form, *struct.unpack(order + form, raw))
            fields[tag] = (kind, items, raw)
        return fields

    first = ifd(struct.unpack_from(order + "I", tiff, 4)[0])
    found = {"ifd0": first}
    if EXIF_IFD in first:
        found["exif"] = ifd(struct.unpack("<I", first[EXIF_IFD][2])[0])
    return found


def ascii_field(text: str) -> Field:
    value = text.encode("utf-8") + b"\0"
    return ASCII, len(value), value


@pytest.mark.parametrize("target", ALL_TARGETS)
def test_exif_fields_keep_their_bytes_and_types(target: str, tmp_path: Path) -> None:
    # Lightroom and exiftool write credits in UTF-8; EXIF readers take
    # UNDEFINED and signed fields by their type, which must not change.
    credits = {ARTIST: ascii_field("Jürgen Müller"), COPYRIGHT: ascii_field("© 2024 Jürgen")}
    # Upright already: Pillow's AVIF writer re-encodes EXIF that has one.
    orientation = {ORIENTATION: (SHORT, 1, struct.pack("<H", 1))}
    exposure = {
        0x9286: (UNDEFINED, 13, b"ASCII\0\0\0hello"),  # UserComment
        0x9101: (UNDEFINED, 4, b"\1\2\3\0"),  # ComponentsConfiguration
        0x9204: (SRATIONAL, 1, struct.pack("<ii", 1, 3)),  # ExposureBiasValue, +1/3
        0xA434: ascii_field("Planar 1,4/50 — Zeiß"),  # LensModel
        DATETIME_ORIGINAL: ascii_field("2024:05:01 12:00:00"),
    }
    source = tmp_path / "credits.jpg"
    quadrant_picture((32, 24)).save(source, exif=exif_block(credits | orientation, exposure))
    result = run(source, target, policy="all")
    output = Path(result.outputs[0].path)
    with Image.open(output) as im:
        data = output.read_bytes() if target == "tiff" else im.info["exif"]
    fields = exif_fields(data)
    for tag, field in credits.items():
        assert fields["ifd0"][tag] == field
    if target != "tiff":  # its writer keeps IFD0 only (formats.py)
        for tag, field in exposure.items():
            assert fields["exif"][tag] == field


def test_oversized_xmp_leaves_its_credits_in_a_jpeg(tmp_path: Path) -> None:
    # An edited master's history passes 64 KB on its own; JPEG holds no more.
    history = "".join(f"<rdf:li>xmp.did:{n:032x}</rdf:li>" for n in range(1500))
    bulky = XMP.replace(
        b"</rdf:Description>",
        b"<photoshop:DocumentAncestors><rdf:Bag>" + history.encode()
        + b"</rdf:Bag></photoshop:DocumentAncestors></rdf:Description>",
    )  # fmt: skip
    path = tmp_path / "master.png"
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", bulky.decode())
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    result = run(path, "jpeg", "webp")
    jpeg, webp = (Image.open(o.path) for o in result.outputs)
    assert set(properties(jpeg)) == CREDITS
    assert "photoshop:DocumentAncestors" in properties(webp)
    assert "warning: XMP too large for JPEG: only its creator and rights copied" in result.notes


def test_oversized_exif_leaves_its_credits_in_a_jpeg(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[ARTIST] = CAMERA_ARTIST
    exif[COPYRIGHT] = CAMERA_COPYRIGHT
    exif[MAKE] = "imgpar test camera"
    exif[EXIF_IFD] = {0x9286: b"ASCII\0\0\0" + b"c" * 70_000}  # a UserComment past 64 KB
    path = tmp_path / "comment.png"
    Image.new("RGB", (8, 8)).save(path, exif=exif.tobytes())
    result = run(path, "jpeg")
    kept = written(result).getexif()
    assert dict(kept) == {ARTIST: CAMERA_ARTIST, COPYRIGHT: CAMERA_COPYRIGHT}
    assert "warning: EXIF too large for JPEG: only Artist and Copyright copied" in result.notes


def test_no_gps_drops_a_drones_position_and_altitude(tmp_path: Path) -> None:
    xmp = XMP.replace(
        b'xmlns:dc="',
        f'xmlns:drone-dji="{NS["drone-dji"]}" drone-dji:GpsLatitude="52.52"'
        ' drone-dji:GpsLongtitude="13.4" drone-dji:AbsoluteAltitude="+50.0"'
        ' drone-dji:FlightYawDegree="+90.0" xmlns:dc="'.encode(),
    )  # fmt: skip
    path = tmp_path / "drone.jpg"
    quadrant_picture((32, 24)).save(path, xmp=xmp)
    kept = properties(written(run(path, "webp")))
    assert "drone-dji:FlightYawDegree" in kept
    position = {"GpsLatitude", "GpsLongtitude", "AbsoluteAltitude"}  # sic: DJI's spelling
    assert not {f"drone-dji:{name}" for name in position} & set(kept)


def test_no_gps_drops_places_beyond_gps(tmp_path: Path) -> None:
    # A maker note's home town, XMP's other place fields and the creator's
    # postal address went into every output, and a GeoTIFF's position into
    # every output whatever the policy (imgpar info said "GPS no").
    mediapro = "http://ns.iview-multimedia.com/mediapro/1.0/"
    xmp = XMP.replace(
        b'xmlns:dc="',
        f'xmlns:mediapro="{mediapro}" mediapro:City="MPCITY" dc:coverage="COVERED"'
        ' xmlns:dc="'.encode(),
    ).replace(
        b"</rdf:Description>",
        b"<Iptc4xmpCore:CreatorContactInfo rdf:parseType='Resource'>"
        b"<Iptc4xmpCore:CiAdrExtadr>1 HOME STREET</Iptc4xmpCore:CiAdrExtadr>"
        b"<Iptc4xmpCore:CiAdrCity>HOMECITY</Iptc4xmpCore:CiAdrCity>"
        b"<Iptc4xmpCore:CiEmailWork>ada@example.org</Iptc4xmpCore:CiEmailWork>"
        b"</Iptc4xmpCore:CreatorContactInfo></rdf:Description>",
    )
    exif = Image.Exif()
    exif[ARTIST] = CAMERA_ARTIST
    exif[EXIF_IFD] = {0x927C: b"Pentax\0HometownCity=SECRETTOWN", DATETIME_ORIGINAL: "2024:05:01"}
    geo = TiffImagePlugin.ImageFileDirectory_v2()
    geo[33922] = (0.0, 0.0, 0.0, 2.294481, 48.85837, 0.0)  # ModelTiepoint
    geo.tagtype[33922] = TiffTags.DOUBLE
    geo[42112] = "<GDALMetadata><Item name='place'>SECRETPLACE</Item></GDALMetadata>"
    geo.tagtype[42112] = TiffTags.ASCII
    tiff = tmp_path / "ortho.tif"
    quadrant_picture((32, 24)).save(tiff, tiffinfo=geo)
    jpeg = tmp_path / "cam.jpg"
    quadrant_picture((32, 24)).save(jpeg, exif=exif.tobytes(), xmp=xmp)
    assert inspect(str(tiff))["gps"]
    # Neither a GDAL no-data value nor the creator's address is a place of the picture.
    nodata = TiffImagePlugin.ImageFileDirectory_v2()
    nodata[42113] = "0"
    nodata.tagtype[42113] = TiffTags.ASCII
    quadrant_picture((32, 24)).save(tmp_path / "dem.tif", tiffinfo=nodata)
    assert not inspect(str(tmp_path / "dem.tif"))["gps"]
    address = XMP.split(b"<rdf:Description")[0] + (
        f'<rdf:Description rdf:about="" xmlns:Iptc4xmpCore="{NS["Iptc4xmpCore"]}">'
        "<Iptc4xmpCore:CreatorContactInfo rdf:parseType='Resource'>"
        "<Iptc4xmpCore:CiAdrCity>HOMECITY</Iptc4xmpCore:CiAdrCity>"
        "</Iptc4xmpCore:CreatorContactInfo></rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()
    quadrant_picture((32, 24)).save(tmp_path / "card.jpg", xmp=address)
    assert not inspect(str(tmp_path / "card.jpg"))["gps"]
    carded = written(run(tmp_path / "card.jpg", "webp"))
    assert b"HOMECITY" not in Path(carded.filename).read_bytes()
    secrets = (b"SECRETTOWN", b"MPCITY", b"COVERED", b"HOME STREET", b"HOMECITY", b"SECRETPLACE")
    for target in ALL_TARGETS:
        for source in (jpeg, tiff):
            out = written(run(source, target))
            data = Path(out.filename).read_bytes()
            assert not [secret for secret in secrets if secret in data], (source, target)
        if "xmp" in TARGETS[target].metadata:
            assert b"ada@example.org" in Path(written(run(jpeg, target)).filename).read_bytes()
        # Never copied: where on the Earth the source's pixels lie.
        everything = Path(written(run(tiff, target, policy="all")).filename).read_bytes()
        assert b"SECRETPLACE" not in everything
    kept = written(run(jpeg, "webp", policy="all"))
    assert b"SECRETTOWN" in Path(kept.filename).read_bytes()
    assert kept.getexif().get_ifd(EXIF_IFD)[DATETIME_ORIGINAL] == "2024:05:01"


def test_exif_fields_of_another_type_than_the_standards_keep_the_one_stored(
    tmp_path: Path,
) -> None:
    # As odd cameras write them: no standard type holds these values.
    odd = {
        0x829A: ascii_field("1/250"),  # ExposureTime, RATIONAL
        0x829D: (SRATIONAL, 1, struct.pack("<ii", -28, 10)),  # FNumber, RATIONAL
        0x8827: (LONG, 1, struct.pack("<I", 102_400)),  # ISO, SHORT
        0x9207: (SSHORT, 1, struct.pack("<h", -1)),  # MeteringMode, SHORT
        0x9206: (RATIONAL, 1, struct.pack("<II", 1, 0)),  # SubjectDistance, unknown: 1/0
        0x9205: (SRATIONAL, 1, struct.pack("<ii", -1, 0)),  # MaxApertureValue, RATIONAL
        DATETIME_ORIGINAL: ascii_field("2024:05:01 12:00:00"),
    }
    source = tmp_path / "odd.jpg"
    quadrant_picture((32, 24)).save(source, exif=exif_block({ARTIST: ascii_field("Ada")}, odd))
    for target in ("webp", "jpeg"):
        result = run(source, target, policy="all")
        fields = exif_fields(written(result).info["exif"])
        assert fields["ifd0"][ARTIST] == ascii_field("Ada")
        assert {tag: fields["exif"][tag] for tag in odd} == odd
        assert not [note for note in result.notes if "EXIF" in note]


@pytest.mark.parametrize(("source", "saved"), [
    ("print.jpg", {"dpi": (300, 300)}),  # JFIF's density
    ("print.png", {"dpi": (300, 300)}),  # pHYs, in dots per metre
    ("print.tif", {"dpi": (300, 300)}),
])  # fmt: skip
def test_print_resolution_is_kept_whatever_the_policy(
    tmp_path: Path, source: str, saved: dict[str, object]
) -> None:
    path = tmp_path / source
    quadrant_picture((60, 40)).save(path, **saved)
    for target in ("jpeg", "png", "tiff"):
        out = written(run(path, target, policy="none"))
        assert out.info["dpi"] == pytest.approx((300, 300), abs=0.001)


@pytest.mark.parametrize(
    ("fields", "dpi"),
    [
        ({0x011A: (RATIONAL, 1, struct.pack("<II", 300, 1))}, (300, 300)),  # inches unsaid
        ({0x011A: (RATIONAL, 1, struct.pack("<II", 11811, 100)), 0x0128: (SHORT, 1,
          struct.pack("<H", 3))}, (300, 300)),  # per centimetre
        ({0x011A: (RATIONAL, 1, struct.pack("<II", 0, 0))}, None),  # unknown
        ({0x011A: (RATIONAL, 1, struct.pack("<II", 300, 1)), 0x0128: (SHORT, 1,
          struct.pack("<H", 1))}, None),  # no unit: no print size
    ],
)  # fmt: skip
def test_print_resolution_in_exif_alone_is_read_as_exif_says(
    tmp_path: Path, fields: dict[int, Field], dpi: tuple[int, int] | None
) -> None:
    source = tmp_path / "exif-dpi.jpg"
    quadrant_picture((60, 40)).save(source, exif=exif_block(fields, {}))
    assert written(run(source, "png", policy="none")).info.get("dpi") == (
        pytest.approx(dpi, abs=0.02) if dpi else None
    )


def test_a_png_resolution_stays_a_whole_number(tmp_path: Path) -> None:
    # 96 dpi is 3779.5 dots per metre, stored as 3780: 96.012 read back.
    source = tmp_path / "screen.png"
    quadrant_picture((60, 40)).save(source, dpi=(96, 96))
    assert written(run(source, "tiff")).info["dpi"] == (96, 96)


def test_no_print_resolution_is_made_up(tmp_path: Path) -> None:
    # Pillow says 72 dpi for a JPEG with EXIF and no resolution in it, 1 for a TIFF.
    jpeg = tmp_path / "camera.jpg"
    quadrant_picture((60, 40)).save(jpeg, exif=camera_exif(1))
    tiff = tmp_path / "scan.tif"
    quadrant_picture((60, 40)).save(tiff)
    for source in (jpeg, tiff):
        as_jpeg, as_png = (written(run(source, target)) for target in ("jpeg", "png"))
        assert as_jpeg.info["jfif_unit"] == 0  # an aspect ratio only: no resolution
        assert "dpi" not in as_png.info


@pytest.mark.parametrize("policy", METADATA_POLICIES)
def test_png_credits_travel_as_exif(tmp_path: Path, policy: str) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("Author", "Jürgen Müller")
    info.add_text("Copyright", "(c) 2024 Jürgen Müller")
    path = tmp_path / "logo.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    for target in ("webp", "tiff"):
        fields = written(run(path, target, policy=policy)).getexif()
        if policy == "none":
            assert ARTIST not in fields and COPYRIGHT not in fields
        else:
            # Text in EXIF is read back as Latin-1; the bytes are UTF-8.
            assert fields[ARTIST].encode("latin-1").decode() == "Jürgen Müller"
            assert fields[COPYRIGHT].encode("latin-1").decode() == "(c) 2024 Jürgen Müller"


def test_an_exif_field_no_type_holds_goes_alone(tmp_path: Path) -> None:
    # A 64-bit number (TIFF's LONG8, which EXIF has not): Pillow would fail
    # the whole block on it, the credits with it.
    huge = {0xC000: (16, 1, struct.pack("<Q", 1 << 40))}
    source = tmp_path / "huge.jpg"
    quadrant_picture((32, 24)).save(source, exif=exif_block({ARTIST: ascii_field("Ada")}, huge))
    result = run(source, "webp", policy="all")
    fields = exif_fields(written(result).info["exif"])
    assert fields["ifd0"][ARTIST] == ascii_field("Ada")
    assert 0xC000 not in fields["exif"]
    assert "warning: EXIF field 0xC000 holds what no EXIF type can: not copied" in result.notes


def test_pillow_is_left_as_it_was_for_the_program_around_imgpar(tmp_path: Path) -> None:
    # In-process runs (jobs=1, the API) share Pillow with their program,
    # whose own EXIF must save as before: an ISO past SHORT's range included.
    source = tmp_path / "odd.jpg"
    iso = {0x8827: (LONG, 1, struct.pack("<I", 102_400))}
    quadrant_picture((32, 24)).save(source, exif=exif_block({ARTIST: ascii_field("Ada")}, iso))
    run(source, "webp", policy="all")
    exif = Image.Exif()
    exif[EXIF_IFD] = {0x8827: 102_400}
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "JPEG", exif=exif)
    buffer.seek(0)
    with Image.open(buffer) as im:
        assert im.getexif().get_ifd(EXIF_IFD)[0x8827] == 102_400


@pytest.mark.parametrize("kind", ["jpg", "tif"])
def test_an_uneven_resolution_turns_with_the_pixels(tmp_path: Path, kind: str) -> None:
    # Stored on its side at 200 x 100 dpi: upright, 100 x 200, so it prints
    # as the camera framed it. (A TIFF's pixels, which Pillow turns as it
    # loads them, kept the resolution as stored.)
    source = tmp_path / f"sideways.{kind}"
    stored_for_orientation(quadrant_picture((40, 60)), 6).save(
        source, dpi=(200, 100), exif=camera_exif(6).tobytes()
    )
    for target in ("png", "tiff"):
        out = written(run(source, target))
        assert_upright(out)
        assert out.info["dpi"] == pytest.approx((100, 200), abs=0.02)


def test_exif_resolution_says_what_the_output_s_density_says(tmp_path: Path) -> None:
    # JFIF 300 dpi, EXIF 72 (as some cameras leave it), stored sideways at
    # an uneven 200 x 100: the output says one thing, upright, in both.
    exif = camera_exif(6)
    exif.update({0x011A: 72.0, 0x011B: 72.0, 0x0128: 2})
    source = tmp_path / "two-dpis.jpg"
    stored_for_orientation(quadrant_picture((40, 60)), 6).save(
        source, dpi=(200, 100), exif=exif
    )
    out = written(run(source, "jpeg"))
    fields = out.getexif()
    assert out.info["dpi"] == (100, 200)
    assert (fields[0x011A], fields[0x011B], fields[0x0128]) == (100, 200, 2)


def _jpeg_with_ifd0(path: Path, fields: list[tuple[int, int, int, bytes]]) -> Path:
    """A JPEG whose EXIF IFD0 holds `fields`, written by hand as (tag, type,
    count, value or offset): of types other than the standard's."""
    data = b""
    entries = b""
    at = 8 + 2 + 12 * len(fields) + 4  # where values that need room go
    for tag, kind, count, value in fields:
        if len(value) <= 4:
            entries += struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\0")
        else:
            entries += struct.pack("<HHII", tag, kind, count, at + len(data))
            data += value
    tiff = b"II*\0" + struct.pack("<IH", 8, len(fields)) + entries + b"\0\0\0\0" + data
    app1 = b"Exif\0\0" + tiff
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (50, 100, 150)).save(buffer, "JPEG")
    jpeg = buffer.getvalue()
    path.write_bytes(jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:])
    return path


@pytest.mark.parametrize(
    ("field", "said"),
    [
        # DocumentName as a number: libtiff crashed, the worker died.
        ((0x010D, 3, 1, b"\1\0"), "EXIF field 0x010D is not of its type: not copied to tiff"),
        ((0x0107, 2, 4, b"abc\0"), "EXIF field 0x0107 is not of its type: not copied to tiff"),
        # FreeOffsets as a SHORT: of its type to Pillow, not to libtiff.
        ((0x0120, 3, 1, b"\1\0"), "EXIF refused by the TIFF writer"),
    ],
)
def test_a_field_not_of_its_type_is_left_out_of_a_tiff(
    tmp_path: Path, field: tuple[int, int, int, bytes], said: str
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    credits = [(0x013B, 2, 11, b"Ann Smith\0\0"), (0x8298, 2, 10, b"(c) 2026\0\0")]
    _jpeg_with_ifd0(src / "odd.jpg", sorted([field, *credits]))
    report = imgpar.convert([src], to="tiff", out=tmp_path / "out", jobs=2)
    (result,) = report.files
    assert result.status == "converted", result.error
    assert any(note.startswith(f"warning: {said}") for note in result.notes), result.notes
    with Image.open(tmp_path / "out" / "odd.tif") as im:
        assert im.size == (64, 48)
        exif = im.getexif()
        assert (exif.get(0x013B), exif.get(0x8298)) == ("Ann Smith", "(c) 2026")
        assert field[0] not in exif


def _iptc_record(*fields: tuple[int, bytes]) -> bytes:
    """An IPTC-IIM record of application fields (2:80 byline, 2:120 caption)."""
    return b"".join(b"\x1c\x02" + bytes([tag]) + struct.pack(">H", len(v)) + v for tag, v in fields)


def test_iptc_iim_without_xmp_is_said_to_be_left_out(tmp_path: Path) -> None:
    # An older newswire tool's byline and caption, in IPTC-IIM alone: they
    # went without a word, under every policy.
    iim = _iptc_record((80, b"WIRE BYLINE"), (120, b"WIRE CAPTION"))
    resource = b"8BIM" + struct.pack(">HHI", 0x0404, 0, len(iim)) + iim + b"\0" * (len(iim) % 2)
    app13 = b"Photoshop 3.0\0" + resource
    segment = b"\xff\xed" + struct.pack(">H", len(app13) + 2) + app13
    plain, described = io.BytesIO(), io.BytesIO()
    quadrant_picture((32, 24)).save(plain, "JPEG")
    quadrant_picture((32, 24)).save(described, "JPEG", xmp=XMP)
    wire, both = tmp_path / "wire.jpg", tmp_path / "both.jpg"
    for path, jpeg in ((wire, plain.getvalue()), (both, described.getvalue())):
        path.write_bytes(jpeg[:2] + segment + jpeg[2:])
    tagged = TiffImagePlugin.ImageFileDirectory_v2()
    tagged[33723] = iim
    tagged.tagtype[33723] = TiffTags.UNDEFINED
    tiff = tmp_path / "wire.tif"
    quadrant_picture((32, 24)).save(tiff, tiffinfo=tagged)
    said = (
        "warning: IPTC-IIM caption and credits not copied: imgpar copies IPTC fields from XMP"
        " only, and the file has no XMP"
    )
    for source in (wire, tiff):
        for policy in ("all", "no-gps", "copyright"):
            result = run(source, "webp", policy=policy)
            assert said in result.notes
            assert b"WIRE" not in Path(result.outputs[0].path).read_bytes()
        assert said not in run(source, "webp", policy="none").notes
    # With XMP beside it, where tools write the same fields: no word.
    assert said not in run(both, "webp").notes
