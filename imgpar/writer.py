"""Encoding and atomic writes: an output exists whole or not at all."""

from __future__ import annotations

import contextlib
import os
import secrets
from typing import TYPE_CHECKING, Any

from imgpar.formats import Target

if TYPE_CHECKING:
    from PIL import Image

TEMP_PREFIX = ".imgpar-tmp-"


def save_options(
    target: Target,
    *,
    quality: int | None,
    lossless: bool,
    encoder_threads: int,
    exif: bytes | None,
    icc_profile: bytes | None,
) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if target.quality:
        options["quality"] = quality if quality is not None else target.default_quality
    if exif:
        options["exif"] = exif
    if icc_profile:
        options["icc_profile"] = icc_profile
    if target.name == "webp":
        options["method"] = 4
        options["lossless"] = lossless
    elif target.name == "jpeg":
        options["optimize"] = True
    elif target.name == "avif":
        # libavif would otherwise start a thread per core in every worker.
        options["max_threads"] = encoder_threads
    elif target.name == "tiff":
        options["compression"] = "tiff_adobe_deflate"
    return options


def write_atomic(im: Image.Image, path: str, target: Target, options: dict[str, Any]) -> int:
    """Encode to a temporary file beside `path`, then rename it into place.

    Returns the size written. The temporary name starts with `.imgpar` so the
    walker never mistakes it for a source, and a crash leaves no file under
    the real name.
    """
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    temp = os.path.join(folder, f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}{target.ext}")
    # os.open with 0o666 lets the umask decide permissions, as for any new file.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fp:
            im.save(fp, format=target.pil_format, **options)
            size = fp.tell()
        os.replace(temp, path)
    except BaseException:
        _remove_quietly(temp)
        raise
    return size


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
