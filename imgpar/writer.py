"""Encoding and atomic writes: an output exists whole or not at all."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
from collections.abc import Collection
from typing import IO, TYPE_CHECKING, Any

from imgpar import isobmff
from imgpar.errors import STOPS_THE_RUN, UNWRITABLE, not_imgpars, unwritable
from imgpar.formats import Target, full_chroma
from imgpar.paths import file_in_the_way, make_folders, nearest_folder, remove_empty
from imgpar.temps import temp_prefix

if TYPE_CHECKING:
    from PIL import Image

def save_options(
    target: Target,
    *,
    quality: int | None,
    lossless: bool,
    icc_profile: bytes | None,
    gray: bool = False,
) -> dict[str, Any]:
    """Pillow's save options for `target`; `gray`: pixels of one channel
    (L), which AVIF stores without colour planes (4:0:0)."""
    options: dict[str, Any] = {}
    if target.quality:
        options["quality"] = quality if quality is not None else target.default_quality
    full = full_chroma(target, quality)
    # None too: PNG, TIFF and AVIF would otherwise embed whatever profile the
    # image object still carries from its source.
    options["icc_profile"] = icc_profile
    if target.lossless == "option":
        options["lossless"] = lossless
    if target.name == "webp":
        options["method"] = 4
    elif target.name == "jpeg":
        options["optimize"] = True
        options["subsampling"] = 0 if full else 2  # 4:4:4 or 4:2:0
    elif target.name == "avif":
        # libavif would otherwise start a thread per core in every worker:
        # each worker is one job already, on one core.
        options["max_threads"] = 1
        if full and not gray:
            options["subsampling"] = "4:4:4"
    elif target.name == "tiff":
        options["compression"] = "tiff_adobe_deflate"
    return options


class _TimedFile:
    """A binary file whose writes are timed. It has no fileno(), so Pillow
    hands every encoded block to write() rather than writing the descriptor
    from C: the blocks are the same, and the time spent in the filesystem
    can be told apart from the time spent encoding."""

    __slots__ = ("_fp", "seconds")

    def __init__(self, fp: IO[bytes]) -> None:
        self._fp = fp
        self.seconds = 0.0

    def write(self, data: bytes) -> int:
        start = time.perf_counter()
        try:
            return self._fp.write(data)
        finally:
            self.seconds += time.perf_counter() - start

    def flush(self) -> None:
        start = time.perf_counter()
        try:
            self._fp.flush()
        finally:
            self.seconds += time.perf_counter() - start

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._fp.seek(offset, whence)


    def tell(self) -> int:
        return self._fp.tell()


def write_atomic(
    im: Image.Image,
    path: str,
    target: Target,
    options: dict[str, Any],
    replaceable: Collection[tuple[str, int]] | None = None,
) -> tuple[int, float]:
    """Encode to a temporary file beside `path`, then rename it into place;
    in place (`replaceable`: imgpar's own files there, with their sizes),
    never over a file that is not imgpar's (_into_place).

    Returns the size written and the seconds spent in the filesystem (making
    the folder, creating, writing, closing and renaming the file); the rest
    of the call is encoding. The temporary name starts with `.imgpar` so the
    walker never mistakes it for a source, and a crash leaves no file under
    the real name.
    """
    start = time.perf_counter()
    folder = os.path.dirname(path) or "."
    temp = os.path.join(folder, f"{temp_prefix(os.getpid())}{os.urandom(4).hex()}{target.ext}")
    try:
        fd, top = _create(temp, folder)
    except OSError as exc:
        blocker = file_in_the_way(path) if exc.errno == errno.ENOTDIR else None
        if blocker is not None:
            raise OutputRefused(unwritable(path, f"{blocker} is a file, not a folder")) from exc
        if exc.errno == errno.ENAMETOOLONG:
            raise OutputRefused(unwritable(path, TOO_LONG)) from exc
        if exc.errno == errno.ENOENT:  # the folder made, and removed again, each try
            raise OutputRefused(unwritable(path, "its folder keeps being removed")) from exc
        if exc.errno in STOPS_THE_RUN:
            raise
        # The folder that refused (EACCES, EROFS, EIO): the first one there,
        # where those below it were still to be made.
        refusing = nearest_folder(folder)
        raise OutputRefused(f"{UNWRITABLE} to {refusing}: {_reason(exc)}") from exc
    opened = time.perf_counter()
    try:
        with os.fdopen(fd, "w+b") as raw:
            # Multi-frame writers read back and reopen what they wrote (TIFF
            # pages link to each other): they get the real file, untimed.
            fp = raw if options.get("save_all") else _TimedFile(raw)
            im.save(fp, format=target.pil_format, **options)
            if options.get("save_all") and target.pil_format == "AVIF":
                _clear_timestamps_in(raw)
            elif options.get("save_all") and target.pil_format == "WEBP":
                _flag_transparency(raw, [im, *options["append_images"]])
            size = raw.seek(0, os.SEEK_END)
            saved = time.perf_counter()
        try:
            _into_place(temp, path, replaceable)
        except IsADirectoryError as exc:
            raise OutputRefused(unwritable(path, A_FOLDER)) from exc
        except FileNotFoundError as exc:
            # Its folder removed as it was written, the temporary file with it:
            # nothing to do with the source.
            raise OutputRefused(unwritable(path, "its folder was removed")) from exc
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                raise OutputRefused(unwritable(path, TOO_LONG)) from exc
            raise
    except BaseException as exc:
        _remove_quietly(temp)
        if top is not None:
            remove_empty(folder, top)
        # The system's refusal of the output (another user's file in a
        # sticky folder, an immutable one, a file-size limit, EIO), never
        # the source's fault nor an encoder's (whose errors have no errno).
        if isinstance(exc, OSError) and exc.errno is not None and exc.errno not in STOPS_THE_RUN:
            raise OutputRefused(unwritable(path, _reason(exc))) from exc
        raise
    in_file = fp.seconds if isinstance(fp, _TimedFile) else 0.0
    return size, (opened - start) + in_file + (time.perf_counter() - saved)


def _into_place(temp: str, path: str, replaceable: Collection[tuple[str, int]] | None) -> None:
    """Rename `temp` to `path`. In place, not over a file that came since the
    run planned (a user's `a.webp` saved beside `a.jpg` meanwhile, which was
    replaced unsaid): a hard link claims the name only where none is there,
    and a file in the way is replaced only where it is imgpar's, or holds
    the very bytes written (an earlier try of this file in this run)."""
    if replaceable is None:
        os.replace(temp, path)
        return
    try:
        os.link(temp, path)
    except OSError:
        # A file in the way (FileExistsError), or no hard links there (FAT,
        # some network shares; each system says so in words of its own):
        # asked first, then renamed. What else went wrong, the rename meets too.
        pass
    else:
        os.unlink(temp)
        return
    try:
        st = os.lstat(path)
    except OSError:
        os.replace(temp, path)
        return
    if stat.S_ISDIR(st.st_mode):
        raise OutputRefused(unwritable(path, A_FOLDER))
    ours = (path, st.st_size) in replaceable or (stat.S_ISREG(st.st_mode) and _same(path, temp))
    if not ours:
        raise OutputRefused(not_imgpars(path))
    os.replace(temp, path)


def _same(path: str, other: str) -> bool:
    """Whether the files at `path` and `other` hold the same bytes."""
    with open(path, "rb") as one, open(other, "rb") as two:
        while True:
            block = two.read(1 << 16)
            if block != one.read(len(block) or 1):
                return False
            if not block:
                return True


def _clear_timestamps_in(fp: IO[bytes]) -> None:
    """Zero the encoding time that libavif writes into an image sequence's
    headers, so the same frames give the same bytes."""
    fp.seek(0)
    data = bytearray(fp.read())
    isobmff.clear_timestamps(data)
    fp.seek(0)
    fp.write(data)


# The VP8X chunk's flags byte, and its bit for "frames hold transparency".
_VP8X_FLAGS = 20
_ALPHA_FLAG = 0x10


def _flag_transparency(fp: IO[bytes], frames: list[Image.Image]) -> None:
    """Mark an animated WebP as transparent where its frames are. libwebp
    crops opaque frames to the part that changes and leaves the rest of the
    canvas clear, but sets the flag only for frames that carry alpha
    themselves; readers that trust it (Pillow) then show a sticker's
    transparent parts black, where browsers show them clear."""
    if not any(f.mode == "RGBA" and f.getextrema()[3][0] < 255 for f in frames):
        return
    fp.seek(12)
    if fp.read(4) != b"VP8X":
        return
    fp.seek(_VP8X_FLAGS)
    flags = fp.read(1)[0]
    fp.seek(_VP8X_FLAGS)
    fp.write(bytes([flags | _ALPHA_FLAG]))


class OutputRefused(Exception):
    """The output cannot be written where it belongs (permissions, a
    read-only disk, a file where its folder should be): the file's result
    says where, not that the source could not be read."""


# Why an output cannot be written where it belongs, as the run and --check say it.
TOO_LONG = "its name is too long for the file system"
A_FOLDER = "a folder has that name"


def _reason(exc: OSError) -> str:
    return (exc.strerror or "refused").lower()


def _create(temp: str, folder: str) -> tuple[int, str | None]:
    """The temporary file, open; and, where its folder was missing, the
    nearest one there was: the folders below it were made for it (here or
    by another worker), to be taken back, where still empty, if the write
    fails."""
    # os.open with 0o666 lets the umask decide permissions, as for any new file.
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL
    try:
        return os.open(temp, flags, 0o666), None
    except FileNotFoundError:
        pass
    # The folder is made by the first output into it, not checked for by
    # every one: two system calls fewer per file on a folder of icons.
    top = nearest_folder(os.path.dirname(folder))
    tries = 0
    try:
        while True:
            make_folders(folder)
            try:
                return os.open(temp, flags, 0o666), top
            except FileNotFoundError:
                # Another worker's failed write took the empty folder back.
                tries += 1
                if tries == _MAKE_TRIES:
                    raise
    except BaseException:
        remove_empty(folder, top)  # a full disk may stop makedirs halfway
        raise


_MAKE_TRIES = 3


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
