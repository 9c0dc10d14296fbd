"""The per-image work done in a worker: open, shrink-on-load, resize, orient,
convert the mode, encode, write. It never raises for a bad image: the reason
becomes part of the returned `Result`."""

from __future__ import annotations

import errno
import os
import signal
import time
import warnings

from PIL import Image, ImageFile, UnidentifiedImageError

from imgpar import geometry, imaging, metadata, writer
from imgpar.formats import HEIF_EXTENSIONS, HEIF_FORMATS, READ_FORMATS, TARGETS
from imgpar.spec import ConvertSpec, OutputRecord, Result, Task


class ImageRejected(Exception):
    """A readable file that imgpar refuses to convert (too large, needs an extra...)."""


def configure_worker(spec: ConvertSpec) -> None:
    """Process-wide Pillow settings; run once in every worker before any task."""
    _load_plugins()
    # Our own check in _open_checked gives the clear message; Pillow's bomb
    # check stays as a backstop at the same limit.
    Image.MAX_IMAGE_PIXELS = spec.max_pixels
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
    ImageFile.LOAD_TRUNCATED_IMAGES = spec.allow_truncated
    _register_heif()


def _load_plugins() -> None:
    # Import exactly the decoders imgpar reads, rather than Image.init()'s
    # every plugin: faster start-up and fewer parsers facing untrusted files.
    from PIL import (  # noqa: F401
        AvifImagePlugin,
        BmpImagePlugin,
        GifImagePlugin,
        JpegImagePlugin,
        PngImagePlugin,
        TiffImagePlugin,
        WebPImagePlugin,
    )


def _register_heif() -> bool:
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


# Fault injection for the test suite: a source whose name contains the value
# of one of these variables crashes or stalls the worker that converts it,
# which is the only honest way to test recovery from a real dead process.
CRASH_ENV = "IMGPAR_TEST_CRASH_ON"
HANG_ENV = "IMGPAR_TEST_HANG_ON"
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def _inject_faults(path: str) -> None:
    name = os.path.basename(path)
    crash = os.environ.get(CRASH_ENV)
    if crash and crash in name:
        os.kill(os.getpid(), signal.SIGSEGV)
    hang = os.environ.get(HANG_ENV)
    if hang and hang in name:
        time.sleep(3600)


def convert_file(task: Task, spec: ConvertSpec) -> Result:
    started = time.time()
    clock = time.perf_counter()
    try:
        _inject_faults(task.source)
        outputs, displayed, notes = _convert(task, spec)
    except Exception as exc:
        return Result(
            source=task.display,
            status="failed",
            source_bytes=task.source_bytes,
            seconds=time.perf_counter() - clock,
            error=describe(exc),
            notes=task.notes,
            started=started,
            ended=time.time(),
            worker=os.getpid(),
            fatal=isinstance(exc, OSError) and exc.errno in DISK_FULL,
        )
    return Result(
        source=task.display,
        status="converted",
        outputs=outputs,
        source_bytes=task.source_bytes,
        width=displayed[0],
        height=displayed[1],
        seconds=time.perf_counter() - clock,
        notes=task.notes + notes,
        started=started,
        ended=time.time(),
        worker=os.getpid(),
    )


def _convert(
    task: Task, spec: ConvertSpec
) -> tuple[tuple[OutputRecord, ...], tuple[int, int], tuple[str, ...]]:
    notes: list[str] = []
    with _open_checked(task.source, spec) as im:
        exif = im.getexif()
        orientation = metadata.orientation(exif)
        displayed = geometry.stored_size(im.size, orientation)
        sizes = [geometry.fit(displayed, out.resize) for out in spec.outputs]
        frames = getattr(im, "n_frames", 1)
        if frames > 1:
            notes.append(f"{frames} frames: first frame written")
        if im.format in ("JPEG", "MPO"):
            largest = max(sizes, key=lambda s: s[0] * s[1])
            request = geometry.draft_request(im.size, geometry.stored_size(largest, orientation))
            if request is not None:
                im.draft(im.mode, request)
        base = imaging.working_mode(im)
        exif_bytes = metadata.output_exif(exif)
        icc = im.info.get("icc_profile")
        records = []
        for out_spec, size, path in zip(spec.outputs, sizes, task.outputs, strict=False):
            target = TARGETS[out_spec.target]
            stored = geometry.stored_size(size, orientation)
            pixels = imaging.upright(imaging.resized(base, stored), orientation)
            pixels = imaging.target_mode(pixels, target)
            options = writer.save_options(
                target,
                quality=spec.quality,
                lossless=spec.lossless,
                encoder_threads=spec.encoder_threads,
                exif=exif_bytes,
                icc_profile=icc,
            )
            written = writer.write_atomic(pixels, path, target, options)
            records.append(
                OutputRecord(
                    path=path,
                    format=target.pil_format,
                    width=pixels.width,
                    height=pixels.height,
                    bytes=written,
                )
            )
    return tuple(records), displayed, tuple(notes)


def _open_checked(path: str, spec: ConvertSpec) -> Image.Image:
    formats = READ_FORMATS
    if os.path.splitext(path)[1].lower() in HEIF_EXTENSIONS:
        if not _register_heif():
            raise ImageRejected("HEIC/HEIF needs an extra: pip install 'imgpar[heif]'")
        formats = READ_FORMATS + HEIF_FORMATS
    im = Image.open(path, formats=formats)
    width, height = im.size
    frames = getattr(im, "n_frames", 1)
    if width < 1 or height < 1:
        im.close()
        raise ImageRejected(f"image has no pixels ({width}x{height})")
    if width * height * frames > spec.max_pixels:
        im.close()
        raise ImageRejected(
            f"too many pixels: {width}x{height}"
            + (f" x {frames} frames" if frames > 1 else "")
            + f" exceeds --max-pixels {spec.max_pixels:,} (possible decompression bomb)"
        )
    return im


def describe(exc: BaseException) -> str:
    """One line that tells a user what went wrong with one file."""
    if isinstance(exc, ImageRejected):
        return str(exc)
    if isinstance(exc, UnidentifiedImageError):
        return "not an image imgpar can read (unknown or unsupported format)"
    if isinstance(exc, Image.DecompressionBombError):
        return f"too many pixels (possible decompression bomb): {exc}"
    if isinstance(exc, PermissionError):
        return "cannot read the file: permission denied"
    if isinstance(exc, FileNotFoundError):
        return "file disappeared before it could be read"
    if isinstance(exc, OSError) and exc.errno is None and "truncated" in str(exc):
        return "truncated file: image data ends early (--allow-truncated accepts it)"
    if isinstance(exc, OSError) and exc.errno in DISK_FULL:
        return "disk full: no space left for the output"
    if isinstance(exc, MemoryError):
        return "out of memory while decoding"
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    reason = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return reason[:300]
