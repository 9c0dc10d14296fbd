"""What imgpar reads and writes, and what each target format can hold.

The table itself is plain data; only Pillow's codec modules are imported, to
ask what this install can actually write.
"""

from __future__ import annotations

import importlib
import os
from typing import NamedTuple


class Target(NamedTuple):
    name: str  # as spelled on the command line
    pil_format: str
    ext: str
    # The part of Pillow that writes it: a module, or "module:attribute".
    # Looked up directly rather than through PIL.features, which imports
    # PIL.Image: a run with nothing to convert never needs Pillow itself.
    writer: str
    modes: frozenset[str]  # modes written as they are; anything else is converted
    alpha: bool
    quality: bool  # has a lossy quality knob
    lossless: str | None  # how --lossless is honoured: "option", "always" or None
    default_quality: int | None
    high_bit_depth: bool  # keeps 16-bit samples
    animation: bool  # can hold several timed frames
    # What it can carry: "icc", "xmp", "exif" (all of it) or "exif-main" (the
    # first IFD only: Pillow's libtiff writer cannot write the Exif and GPS
    # sub-IFDs, so exposure settings, DateTimeOriginal and GPS are lost).
    metadata: frozenset[str]
    max_side: int | None  # the encoder's largest width or height, if it has one
    # A lossy encoder whose subsampled chroma mixes the colour hidden under
    # fully transparent pixels into visible ones beside them (libavif), and
    # which does not clear it itself, as libwebp does: imgpar clears it.
    hidden_bleeds: bool = False


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "webp",
            "WEBP",
            ".webp",
            "PIL._webp",
            frozenset({"RGB", "RGBA"}),
            alpha=True,
            quality=True,
            lossless="option",
            default_quality=80,
            high_bit_depth=False,
            animation=True,
            metadata=frozenset({"icc", "exif", "xmp"}),
            max_side=16383,
        ),
        Target(
            "jpeg",
            "JPEG",
            ".jpg",
            "PIL._imaging:jpeg_encoder",
            frozenset({"L", "RGB"}),
            alpha=False,
            quality=True,
            lossless=None,
            default_quality=85,
            high_bit_depth=False,
            animation=False,
            metadata=frozenset({"icc", "exif", "xmp"}),
            max_side=65500,
        ),
        Target(
            "png",
            "PNG",
            ".png",
            "PIL._imaging:zip_encoder",
            frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I;16"}),
            alpha=True,
            quality=False,
            lossless="always",
            default_quality=None,
            high_bit_depth=True,
            animation=True,
            metadata=frozenset({"icc", "exif", "xmp"}),
            max_side=None,
        ),
        Target(
            "avif",
            "AVIF",
            ".avif",
            "PIL._avif",
            frozenset({"L", "RGB", "RGBA"}),
            alpha=True,
            quality=True,
            lossless=None,
            default_quality=60,
            high_bit_depth=False,
            animation=True,
            metadata=frozenset({"icc", "exif", "xmp"}),
            max_side=65536,
            hidden_bleeds=True,
        ),
        Target(
            "tiff",
            "TIFF",
            ".tif",
            "PIL._imaging:libtiff_encoder",
            frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16"}),
            alpha=True,
            quality=False,
            lossless="always",
            default_quality=None,
            high_bit_depth=True,
            animation=False,
            metadata=frozenset({"icc", "exif-main", "xmp"}),
            max_side=None,
        ),
    )
}

# From this quality JPEG and AVIF keep colour at full resolution (4:4:4), as
# libvips and ImageMagick choose: halved (4:2:0), the colour of saturated
# edges, red text on white or a logo, bleeds, which a high quality is asked
# to avoid. Below it the halving saves a third of the bytes, unseen in photos.
FULL_CHROMA_QUALITY = 90


def full_chroma(target: Target, quality: int | None) -> bool:
    """Whether `target` at `quality` (None: its default) keeps full-resolution colour."""
    chosen = quality if quality is not None else target.default_quality
    return target.name in ("jpeg", "avif") and (chosen or 0) >= FULL_CHROMA_QUALITY


ALIASES = {"jpg": "jpeg", "tif": "tiff"}

# Formats imgpar hands to Pillow's decoders; opening is restricted to these so
# a file cannot reach an obscure plugin just by its contents. (Camera JPEGs
# that carry a preview picture open through JPEG and report format "MPO".)
READ_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP", "AVIF")
HEIF_FORMATS = ("HEIF",)

READ_EXTENSIONS = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".mpo",  # a JPEG with more images after it (stereo cameras)
        ".png",
        ".apng",
        ".gif",
        ".webp",
        ".tif",
        ".tiff",
        ".bmp",
        ".avif",
        ".heic",
        ".heif",
        ".hif",
    }
)
HEIF_EXTENSIONS = frozenset({".heic", ".heif", ".hif"})
# Images imgpar does not read, found beside the ones it does (camera raw
# files beside their JPEGs, say): left alone, and said so, not silently.
UNREAD_EXTENSIONS = frozenset(
    {
        ".3fr", ".arw", ".cap", ".cr2", ".cr3", ".crw", ".dcr", ".dcs", ".dng", ".erf",
        ".fff", ".gpr", ".iiq", ".k25", ".kdc", ".mef", ".mos", ".mrw", ".nef", ".nrw",
        ".orf", ".pef", ".raf", ".raw", ".rw2", ".rwl", ".rwz", ".sr2", ".srf", ".srw",
        ".x3f",
        ".dds", ".eps", ".exr", ".hdp", ".hdr", ".icns", ".ico", ".j2k", ".jp2", ".jpf",
        ".jpx", ".jxl", ".jxr", ".pbm", ".pcx", ".pgm", ".pnm", ".ppm", ".psb", ".psd",
        ".qoi", ".svg", ".tga", ".wdp", ".xcf",
    }
)  # fmt: skip

def is_unread(name: str) -> bool:
    """Whether `name` is an image's of a format imgpar does not read (a camera raw file)."""
    return os.path.splitext(name)[1].lower() in UNREAD_EXTENSIONS


# Leading bytes of the formats imgpar reads, to tell a damaged image from a
# file that is no image at all when no decoder recognises it.
_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
# An ISO base media file's brand, after "ftyp": HEIC and HEIF, AVIF.
_BRANDS = {
    **dict.fromkeys((b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"),
                    "HEIF"),
    **dict.fromkeys((b"avif", b"avis"), "AVIF"),
}


UNKNOWN_FORMAT = "not an image imgpar can read (unknown or unsupported format)"


def unreadable(head: bytes) -> str:
    """Why a file that no decoder takes, or that is not what its name
    says, fails, by what its first bytes (`head`) announce."""
    if not head:
        return "empty file (0 bytes)"
    found = signature(head)
    if found is None:
        return UNKNOWN_FORMAT
    return f"damaged {found} file: its header cannot be read (truncated or corrupt)"


def signature(head: bytes) -> str | None:
    """The format a file's first bytes announce ("HEIF" for HEIC and HEIF
    brands), or None; only the formats imgpar reads are known."""
    for magic, name in _SIGNATURES:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:2] == b"BM" and head[6:10] == b"\0\0\0\0":  # "BM" alone starts text too
        return "BMP"
    return _BRANDS.get(head[8:12]) if head[4:8] == b"ftyp" else None


def resolve_target(name: str) -> Target:
    key = ALIASES.get(name.lower(), name.lower())
    try:
        return TARGETS[key]
    except KeyError:
        known = ", ".join(TARGETS)
        raise ValueError(f"unknown format {name!r} (choose from {known})") from None


def target_available(target: Target) -> bool:
    module, _, attribute = target.writer.partition(":")
    try:
        found = importlib.import_module(module)
    except ImportError:
        return False
    return not attribute or hasattr(found, attribute)


def heif_available() -> bool:
    try:
        import pillow_heif  # noqa: F401
    except ImportError:
        return False
    return True
