"""Shared fixtures: small real images made with Pillow, and a tree builder.

Every picture is tiny (at most 400 x 300) so the whole suite stays fast, and
each one carries something a test can check by decoding what imgpar wrote:
coloured quadrants for orientation, hidden red under transparency, 16-bit
values that would turn white if clipped.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageFile

from imgpar.formats import TARGETS
from imgpar.pipeline import configure_worker, convert_file
from imgpar.spec import ConvertSpec, OutputSpec, Resize, Result, Task

# Quadrant colours of the upright picture: any rotation or flip moves them.
TOP_LEFT = (220, 30, 30)  # red
TOP_RIGHT = (30, 200, 30)  # green
BOTTOM_LEFT = (30, 30, 220)  # blue
BOTTOM_RIGHT = (235, 235, 235)  # near white

QUADRANTS = {
    "top_left": TOP_LEFT,
    "top_right": TOP_RIGHT,
    "bottom_left": BOTTOM_LEFT,
    "bottom_right": BOTTOM_RIGHT,
}

# Where each quadrant is sampled, as fractions of width and height.
QUADRANT_POINTS = {
    "top_left": (0.2, 0.2),
    "top_right": (0.8, 0.2),
    "bottom_left": (0.2, 0.8),
    "bottom_right": (0.8, 0.8),
}

# EXIF tags the camera JPEG carries.
ORIENTATION = 0x0112
ARTIST = 0x013B
COPYRIGHT = 0x8298
MAKE = 0x010F
EXIF_IFD = 0x8769
GPS_IFD = 0x8825
DATETIME_ORIGINAL = 0x9003

CAMERA_ARTIST = "Ada Lovelace"
CAMERA_COPYRIGHT = "(c) 2024 Ada Lovelace"

GRAY16_LEFT = 60000  # clipping to 8 bits would make this 255
GRAY16_RIGHT = 30000

RED = (255, 0, 0)


def quadrant_picture(size: tuple[int, int], *, noise: int = 0, seed: int = 0) -> Image.Image:
    """An upright RGB picture with four coloured quadrants, optionally textured
    with a little seeded noise (so shrink-on-load and full decodes differ)."""
    w, h = size
    im = Image.new("RGB", size)
    im.paste(TOP_LEFT, (0, 0, w // 2, h // 2))
    im.paste(TOP_RIGHT, (w // 2, 0, w, h // 2))
    im.paste(BOTTOM_LEFT, (0, h // 2, w // 2, h))
    im.paste(BOTTOM_RIGHT, (w // 2, h // 2, w, h))
    if noise:
        # Darken each pixel by a seeded random 0..noise: texture for the
        # DCT, small enough that every quadrant keeps its colour.
        rng = random.Random(seed)
        grain = Image.frombytes("L", size, bytes(rng.randrange(noise + 1) for _ in range(w * h)))
        im = Image.merge("RGB", [ImageChops.subtract(band, grain) for band in im.split()])
    return im


def stored_for_orientation(upright: Image.Image, orientation: int) -> Image.Image:
    """The stored pixels that a viewer honouring `orientation` shows as `upright`."""
    inverse = {
        1: None,
        3: Image.Transpose.ROTATE_180,
        6: Image.Transpose.ROTATE_90,
        8: Image.Transpose.ROTATE_270,
    }[orientation]
    return upright if inverse is None else upright.transpose(inverse)


def camera_exif(orientation: int, *, exif_ifd: bool = True) -> Image.Exif:
    """IFD0 credits and orientation, an Exif IFD (every real camera writes
    one) unless `exif_ifd` is False, and a GPS block."""
    exif = Image.Exif()
    exif[MAKE] = "imgpar test camera"
    exif[ORIENTATION] = orientation
    exif[ARTIST] = CAMERA_ARTIST
    exif[COPYRIGHT] = CAMERA_COPYRIGHT
    if exif_ifd:
        exif[EXIF_IFD] = {DATETIME_ORIGINAL: "2024:05:01 12:00:00"}
    exif[GPS_IFD] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}
    return exif


def make_camera_jpeg(
    path: Path,
    *,
    displayed: tuple[int, int] = (200, 300),
    orientation: int = 6,
    noise: int = 24,
    quality: int = 92,
    exif_ifd: bool = True,
) -> Path:
    """A camera-style JPEG: stored on its side with EXIF orientation (6 by
    default), quadrant marker, Artist/Copyright, an Exif IFD and a GPS block.

    `displayed` is the upright size a viewer shows (default 200 x 300, a 2:3
    portrait stored as 300 x 200).
    """
    upright = quadrant_picture(displayed, noise=noise)
    stored = stored_for_orientation(upright, orientation)
    path.parent.mkdir(parents=True, exist_ok=True)
    stored.save(path, "JPEG", quality=quality, exif=camera_exif(orientation, exif_ifd=exif_ifd))
    return path


def make_rgba_png(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    """Left half opaque blue; right half fully transparent, hiding bright red."""
    w, h = size
    im = Image.new("RGBA", size, (*RED, 0))
    im.paste((0, 0, 255, 255), (0, 0, w // 2, h))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, "PNG")
    return path


def make_palette_png(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    """Palette PNG with tRNS: index 0 is transparent red, index 1 opaque blue
    (left half), index 2 opaque green (top-right quarter, visible)."""
    w, h = size
    im = Image.new("P", size, 0)
    palette = [*RED, 0, 0, 255, 0, 200, 0] + [0, 0, 0] * 253
    im.putpalette(palette)
    im.paste(1, (0, 0, w // 2, h))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, "PNG", transparency=0)
    return path


def make_colour_key_png(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    """RGB PNG whose tRNS chunk makes one colour transparent (as optimisers
    write them): left half opaque blue, right half the key, red."""
    w, h = size
    im = Image.new("RGB", size, RED)
    im.paste((0, 0, 255), (0, 0, w // 2, h))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, "PNG", transparency=RED)
    return path


def make_gray_key_png(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    """Gray PNG whose tRNS chunk makes one value transparent: left half
    opaque dark gray (60), right half the key, black."""
    w, h = size
    im = Image.new("L", size, 0)
    im.paste(60, (0, 0, w // 2, h))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, "PNG", transparency=0)
    return path


def make_gray16_key_png(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    """16-bit gray PNG whose tRNS chunk makes one value transparent: left half
    opaque dark gray (60 x 257), right half the key, 1000."""
    w, h = size
    im = Image.new("I;16", size, 1000)
    im.paste(Image.new("I;16", (w // 2, h), 60 * 257), (0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, "PNG", transparency=1000)
    return path


def make_gray16_png(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    """16-bit grayscale (I;16): left half 60000, right half 30000."""
    w, h = size
    im = Image.new("I;16", size, GRAY16_RIGHT)
    # Paste an image, not an int: Pillow 13 garbles ints above 32767 in I;16.
    im.paste(Image.new("I;16", (w // 2, h), GRAY16_LEFT), (0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, "PNG")
    return path


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """A PNG chunk: its length, type, data and CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def make_rgb16_png(
    path: Path,
    size: tuple[int, int] = (64, 48),
    colour: tuple[int, int, int] = (60000, 30000, 5000),
    *,
    left: tuple[int, int, int] | None = None,
    key: tuple[int, int, int] | None = None,
    frames: Sequence[tuple[int, int, int]] = (),
) -> Path:
    """16-bit RGB, written by hand: Pillow cannot write it (and reads it at 8
    bits). `left` colours the left half; `key` is a tRNS colour key. With
    `frames`, an animation (APNG) of frames whose left halves have those
    colours, 10 ms each."""

    def pixels(left: tuple[int, int, int]) -> bytes:
        samples = struct.pack(">3H", *left) * (w // 2) + struct.pack(">3H", *colour) * (w - w // 2)
        return zlib.compress((b"\x00" + samples) * h)  # filter byte "none", then samples

    w, h = size
    data = png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
    if frames:
        data += png_chunk(b"acTL", struct.pack(">II", len(frames), 0))
    data += png_chunk(b"tRNS", struct.pack(">3H", *key)) if key else b""
    if not frames:
        data += png_chunk(b"IDAT", pixels(left or colour))
    for i, shade in enumerate(frames):
        sequence = 2 * i - (i > 0)  # fcTL and fdAT chunks share one count
        data += png_chunk(b"fcTL", struct.pack(">IIIIIHHBB", sequence, w, h, 0, 0, 1, 100, 0, 0))
        if i == 0:
            data += png_chunk(b"IDAT", pixels(shade))
        else:
            data += png_chunk(b"fdAT", struct.pack(">I", sequence + 1) + pixels(shade))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + data + png_chunk(b"IEND", b""))
    return path


def make_cmyk_jpeg(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    """CMYK JPEG: left half pure cyan ink (RGB 0,255,255), right half no ink (white)."""
    w, h = size
    im = Image.new("CMYK", size, (0, 0, 0, 0))
    im.paste((255, 0, 0, 0), (0, 0, w // 2, h))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, "JPEG", quality=95)
    return path


def make_bilevel_png(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    """1-bit PNG: left half black, right half white."""
    w, h = size
    im = Image.new("1", size, 1)
    im.paste(0, (0, 0, w // 2, h))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, "PNG")
    return path


def make_la_png(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    """Gray + alpha: left half opaque dark gray (60), right half transparent
    hiding black (flattening must give white there, not black)."""
    w, h = size
    im = Image.new("LA", size, (0, 0))
    im.paste((60, 255), (0, 0, w // 2, h))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, "PNG")
    return path


def make_rgb_png(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    """A plain upright RGB PNG with the quadrant marker."""
    path.parent.mkdir(parents=True, exist_ok=True)
    quadrant_picture(size).save(path, "PNG")
    return path


def make_small_jpeg(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    """A plain upright RGB JPEG with the quadrant marker and no EXIF."""
    path.parent.mkdir(parents=True, exist_ok=True)
    quadrant_picture(size).save(path, "JPEG", quality=90)
    return path


def png_header_only(path: Path, size: tuple[int, int] = (100_000, 100_000)) -> Path:
    """A PNG signature and an IHDR that claims `size`, with almost no data."""

    ihdr = struct.pack(">IIBBBBB", size[0], size[1], 8, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def truncated_copy(source: Path, path: Path, fraction: float = 0.5) -> Path:
    """The first `fraction` of `source`'s bytes."""
    data = source.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def nclx_avif(path: Path, primaries: int = 12, mode: str = "RGB") -> Path:
    """An AVIF whose colr box says `primaries` (Pillow writes BT.709 / sRGB)."""
    im = Image.new(mode, (32, 24), (200, 120, 80, 160)[: len(mode)])
    buffer = io.BytesIO()
    im.save(buffer, "AVIF", quality=95)
    said = b"colrnclx" + struct.pack(">HH", 1, 13)
    data = buffer.getvalue()
    assert data.count(said) == 1
    path.write_bytes(data.replace(said, b"colrnclx" + struct.pack(">HH", primaries, 13)))
    return path


MAKERS: dict[str, Callable[[Path], Path]] = {
    "camera_jpeg": make_camera_jpeg,
    "rgba_png": make_rgba_png,
    "palette_png": make_palette_png,
    "gray16_png": make_gray16_png,
    "cmyk_jpeg": make_cmyk_jpeg,
    "bilevel_png": make_bilevel_png,
    "la_png": make_la_png,
    "rgb_png": make_rgb_png,
    "small_jpeg": make_small_jpeg,
}

# A tree entry: raw content, or a maker called with the file's path.
Entry = bytes | str | Callable[[Path], Path]


def build_tree(root: Path, entries: Mapping[str, Entry]) -> Path:
    """Create files under `root` from {relative path: content}.

    Content is bytes or text written as is, the name of a maker in `MAKERS`
    (e.g. "camera_jpeg"), or any callable taking the file's path.
    """
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in entries.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str) and content in MAKERS:
            MAKERS[content](path)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            content(path)
    return root


# For fresh_python: converts sys.argv[1] into sys.argv[2] through the API
# (the result is `r`), for code that then prints what the run left behind.
API_CONVERT = (
    "import sys, imgpar\n"
    "r = imgpar.convert([sys.argv[1]], to='webp', out=sys.argv[2], jobs={jobs})\n"
)


def unprivileged(*also: str) -> list[str]:
    """A command prefix under which file permissions apply, even to root
    (who keeps being root, minus the power to read and search anything, and
    the capabilities named in `also`, such as "fowner")."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("root reads every file, and setpriv is not here to stop that")
    dropped = ",".join(f"-{cap}" for cap in ("dac_override", "dac_read_search", *also))
    return ["setpriv", "--bounding-set", dropped, "--"]


def fresh_python(code: str, *args: object, cwd: Path | None = None) -> str:
    """The last line `code` prints in a fresh interpreter, given `args` as
    sys.argv[1:]: what a run imports and tunes shows only there."""
    done = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True, text=True, timeout=120, cwd=cwd,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), f"printed nothing; stderr: {done.stderr}"
    return done.stdout.strip().splitlines()[-1]


def under_read_only_mount(
    folder: str, argv: list[Any], *, keep: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run `argv` where `folder` is an empty read-only file system, or with
    `keep` the folder as it is, made read-only (a mount namespace of its
    own); skips the test where one cannot be made."""
    mount = (
        f'mount --bind "{folder}" "{folder}" && mount -o remount,bind,ro "{folder}"'
        if keep
        else f'mount -t tmpfs -o ro tmpfs "{folder}"'
    )
    return after_mount(mount, argv)


def after_mount(mount: str, argv: list[Any]) -> subprocess.CompletedProcess[str]:
    """Run `argv` in a mount namespace of its own, where the shell command
    `mount` ran first (as that namespace's root); skips the test where none
    can be made."""
    wrap = ["unshare", "-m", "--map-root-user", "sh", "-c", f'{mount} && exec "$@"', "sh"]
    try:
        probe = subprocess.run([*wrap, "true"], capture_output=True, text=True)
    except FileNotFoundError:
        pytest.skip("no unshare here")
    if probe.returncode != 0:
        pytest.skip(f"cannot {mount} here: {probe.stderr.strip()}")
    return subprocess.run(
        [*wrap, *map(str, argv)], capture_output=True, text=True, timeout=120
    )


def convert_one(
    source: Path,
    out: Path,
    *targets: str,
    resize: Resize | None = None,
    preview: bool = False,
    **options: Any,
) -> Result:
    """Convert `source` into the folder `out`, one output per target, in this
    process as a worker would (with the HTML report's preview if `preview`);
    `options` are the other ConvertSpec fields."""
    spec = ConvertSpec(
        outputs=tuple(OutputSpec(target=t, resize=resize) for t in targets), **options
    )
    configure_worker(spec)
    task = Task(
        source=str(source),
        display=str(source),
        outputs=tuple(str(out / f"{source.stem}{TARGETS[t].ext}") for t in targets),
        source_bytes=source.stat().st_size if source.exists() else 0,
        preview=preview,
    )
    return convert_file(task, spec)


def written(result: Result, index: int = 0) -> Image.Image:
    """Decode output `index` of a converted result, checking its record on the way."""
    assert result.status == "converted", result.error
    record = result.outputs[index]
    im = Image.open(record.path)
    im.load()
    assert im.format == record.format
    assert im.size == (record.width, record.height)
    return im


def listing(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under `root` (hidden ones too): relative path -> (size, mtime_ns)."""
    found: dict[str, tuple[int, int]] = {}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            found[os.path.relpath(path, root)] = (st.st_size, st.st_mtime_ns)
    return found


def outputs_in(root: Path) -> dict[str, tuple[int, int]]:
    """Like `listing`, without imgpar's own state (names starting `.imgpar`:
    its cache, locks and temporary files)."""
    return {
        rel: stat
        for rel, stat in listing(root).items()
        if not any(part.startswith(".imgpar") for part in Path(rel).parts)
    }


def temp_leftovers(root: Path) -> list[str]:
    """Temporary files imgpar may have left anywhere under `root`."""
    return [rel for rel in listing(root) if os.path.basename(rel).startswith(".imgpar-tmp-")]


def sample(im: Image.Image, where: str) -> tuple[int, ...]:
    """The pixel at a quadrant's sample point, as RGB."""
    fx, fy = QUADRANT_POINTS[where]
    pixel = im.convert("RGB").getpixel((int(im.width * fx), int(im.height * fy)))
    assert isinstance(pixel, tuple)
    return pixel


def close_to(pixel: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


def assert_upright(im: Image.Image, tolerance: int = 45) -> None:
    """The four quadrant colours are where the upright picture has them."""
    for where, colour in QUADRANTS.items():
        got = sample(im, where)
        assert close_to(got, colour, tolerance), f"{where}: {got} is not close to {colour}"


@pytest.fixture(autouse=True, scope="session")
def _ctrl_c_heard() -> None:
    """The tests' imgpar processes hear Ctrl-C where the runner was started
    ignoring it (`pytest ... &` in a script): they inherit that, and keep
    ignoring it, as a background job in a script should."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _pillow_globals() -> Iterator[None]:
    """Running a worker in-process (SerialEngine, convert_file) sets Pillow's
    process-wide limits; put them back so tests cannot leak into each other."""
    saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    yield
    Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved


def _source_fixture(make: Callable[[Path], Path], name: str) -> Callable[[Path], Path]:
    """A fixture: one test image made by `make` as src/`name`."""

    def made(tmp_path: Path) -> Path:
        return make(tmp_path / "src" / name)

    return pytest.fixture(made)


camera_jpeg = _source_fixture(make_camera_jpeg, "IMG_0001.JPG")
rgba_png = _source_fixture(make_rgba_png, "rgba.png")
palette_png = _source_fixture(make_palette_png, "palette.png")
gray16_png = _source_fixture(make_gray16_png, "gray16.png")
cmyk_jpeg = _source_fixture(make_cmyk_jpeg, "cmyk.jpg")
bilevel_png = _source_fixture(make_bilevel_png, "bilevel.png")
la_png = _source_fixture(make_la_png, "la.png")
colour_key_png = _source_fixture(make_colour_key_png, "key.png")
gray_key_png = _source_fixture(make_gray_key_png, "graykey.png")
gray16_key_png = _source_fixture(make_gray16_key_png, "gray16key.png")


@pytest.fixture
def tree(tmp_path: Path) -> Callable[..., Path]:
    """Build a tree under tmp_path/src: `tree({"a/b.jpg": "camera_jpeg", ...})`."""

    def build(entries: Mapping[str, Entry], root: Path | None = None) -> Path:
        return build_tree(root or tmp_path / "src", entries)

    return build


def tiff_patched(
    tag: int, change: Callable[[int], int], **options: Any
) -> Callable[[Path], None]:
    """A maker of a one-page TIFF of noise (saved with `options`) whose
    `tag`, a single SHORT or LONG, has its value changed by `change`."""

    def make(path: Path) -> None:
        Image.effect_noise((64, 64), 40).convert("RGB").save(path, **options)
        data = bytearray(path.read_bytes())
        first = struct.unpack("<I", data[4:8])[0]
        for i in range(struct.unpack("<H", data[first : first + 2])[0]):
            entry = first + 2 + 12 * i
            found, kind, count = struct.unpack("<HHI", data[entry : entry + 8])
            if found == tag:
                assert kind in (3, 4) and count == 1
                form = "<H" if kind == 3 else "<I"
                at = slice(entry + 8, entry + 8 + struct.calcsize(form))
                data[at] = struct.pack(form, change(struct.unpack(form, data[at])[0]))
        path.write_bytes(bytes(data))

    return make
