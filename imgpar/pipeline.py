"""The per-image work done in a worker: open, shrink-on-load, resize, orient,
convert the mode, encode, write. It never raises for a bad image: the reason
becomes part of the returned `Result`."""

from __future__ import annotations

import contextlib
import errno
import functools
import itertools
import os
import re
import signal
import stat
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, NamedTuple

from PIL import (
    Image,
    ImageFile,
    ImageSequence,
    TiffImagePlugin,
    UnidentifiedImageError,
    WebPImagePlugin,
)

from imgpar import colour, cstderr, geometry, heap, imaging, metadata, thumbnail, writer
from imgpar.cache import digest_stream
from imgpar.errors import (
    DISK_FULL,
    NOT_REGULAR,
    NOW_A_FOLDER,
    OUT_OF_FILES,
    STOPS_THE_RUN,
    UNREADABLE,
    VANISHED,
    not_imgpars,
    out_of_files,
    unwritable,
    why_unreadable,
)
from imgpar.formats import (
    HEIF_EXTENSIONS,
    HEIF_FORMATS,
    READ_FORMATS,
    TARGETS,
    UNKNOWN_FORMAT,
    Target,
    signature,
    unreadable,
)
from imgpar.paths import regular_fd
from imgpar.spec import (
    NOT_ENLARGED,
    WARNING,
    ConvertSpec,
    OutputRecord,
    Resize,
    Result,
    Task,
    sized,
)

try:
    import resource
except ImportError:  # Windows has no getrusage
    resource = None  # type: ignore[assignment]


class ImageRejected(Exception):
    """A readable file that imgpar refuses to convert (too large, needs an extra...)."""


def configure_worker(spec: ConvertSpec) -> None:
    """Process-wide settings, for good; run once in every worker before any task."""
    prepare_worker()
    for (module, name), value in _pillow_settings(spec).items():
        setattr(module, name, value)


def prepare_worker() -> None:
    """What a process needs before its first file: the decoders, and the
    faults the tests ask for. Run once in a process that converts."""
    load_plugins()
    global _faults
    _faults = (os.environ.get(CRASH_ENV) or None, os.environ.get(HANG_ENV) or None)


@contextlib.contextmanager
def pillow_settings(spec: ConvertSpec) -> Iterator[None]:
    """configure_worker's Pillow settings while the block runs, and then the
    ones the process had: converting in a program's own process (`jobs=1`),
    imgpar must leave that program's limits as it set them. Counted: runs in
    several of its threads at once put back what the program had, once the
    last file of all is done, not what another run had set."""
    global _lent, _saved
    wanted = _pillow_settings(spec)
    with _lending:
        if not _lent:
            _saved = {key: getattr(*key) for key in wanted}
        _lent += 1
        for (module, name), value in wanted.items():
            setattr(module, name, value)
    try:
        yield
    finally:
        with _lending:
            _lent -= 1
            if not _lent:
                for (module, name), value in _saved.items():
                    setattr(module, name, value)


_lending = threading.Lock()
_lent = 0  # files converting under pillow_settings now
_saved: dict[tuple[object, str], object] = {}  # the program's own, while they do


def _pillow_settings(spec: ConvertSpec) -> dict[tuple[object, str], object]:
    from PIL import AvifImagePlugin

    return {
        # libavif decodes on as many threads as there are cores unless told:
        # N workers would start N each, and Result.cpu_seconds, the worker
        # thread's, would leave theirs out.
        (AvifImagePlugin, "DEFAULT_MAX_THREADS"): 1,
        # Our own check in open_checked gives the clear message; Pillow's bomb
        # check stays as a backstop at the same limit (its warning is
        # silenced file by file, in convert_file).
        (Image, "MAX_IMAGE_PIXELS"): spec.max_pixels,
        # Strict, even under --allow-truncated: convert_file decodes a truncated
        # file again with leave, so that its result can say it was cut short.
        (ImageFile, "LOAD_TRUNCATED_IMAGES"): False,
    }


def load_plugins() -> None:
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


@functools.cache
def register_heif() -> bool:
    """Register pillow-heif's decoder, once per process; False without the extra."""
    try:
        from pillow_heif import options, register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    # One thread, as every decoder and encoder here: N workers use N cores,
    # and a file's CPU time (Result.cpu_seconds) is its worker thread's.
    options.DECODE_THREADS = 1
    return True


# Fault injection for the test suite: a source whose name contains the value
# of one of these variables crashes or stalls the worker that converts it,
# which is the only honest way to test recovery from a real dead process.
# A stall is an hour, or `NAME:SECONDS`, after which the file converts.
CRASH_ENV = "IMGPAR_TEST_CRASH_ON"
HANG_ENV = "IMGPAR_TEST_HANG_ON"

# Read once per worker (prepare_worker): looking the variables up for every
# file cost an icon 1% of its time.
_faults: tuple[str | None, str | None] = (None, None)


def _inject_faults(path: str) -> None:
    crash, hang = _faults
    if crash is None and hang is None:
        return
    name = os.path.basename(path)
    if crash and crash in name:
        os.kill(os.getpid(), signal.SIGSEGV)
    stalled, _, seconds = (hang or "").partition(":")
    if stalled and stalled in name:
        time.sleep(float(seconds or 3600))


def peak_rss() -> int:
    """This process's peak resident memory so far, in bytes; 0 where unknown."""
    if resource is None:
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux counts KiB


def open_source(path: str) -> IO[bytes]:
    """`path` open for reading, if it is a regular file: the walk saw one,
    but a FIFO or a link to /dev/urandom put in its place since would block
    the open, or never end (ImageRejected)."""
    fd = regular_fd(path)
    if fd is None:
        raise ImageRejected(NOW_A_FOLDER if os.path.isdir(path) else NOT_REGULAR)
    return os.fdopen(fd, "rb")


def convert_file(
    task: Task, spec: ConvertSpec, catcher: cstderr.Catcher | None = None
) -> Result:
    """`task` converted, never raising for a bad file; with `catcher`, what
    C libraries print on stderr meanwhile is told in its result."""
    started = time.time()
    clock, cpu = time.perf_counter(), time.thread_time()
    # Pillow's warnings about damaged metadata belong to this file's result,
    # not to stderr where they would tear through the progress bar.
    with warnings.catch_warnings(record=True) as caught, cstderr.listening(catcher) as heard:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        failure: Exception | None = None
        size = task.source_bytes  # as planned, until the file read says
        try:
            _inject_faults(task.source)
            # Hashed through the file the decoder reads: a second open and
            # read cost an icon more than hashing it. Not before a file with
            # no image's signature is opened, which mostly fails it at once:
            # a 20 GB file of zeros named .jpg was read whole (13 s) first.
            with open_source(task.source) as fp:
                # Replaced since it was planned, the file read is the one reported.
                size = os.fstat(fp.fileno()).st_size
                digest = _digest(fp) if _announced(fp) else None
                fp.seek(0)
                try:
                    made = _convert(task, fp, spec)
                except OSError as exc:
                    if not (spec.allow_truncated and _truncated(exc)):
                        raise
                    fp.seek(0)
                    made = _convert_truncated(task, fp, spec)
                if digest is None:
                    digest = _digest(fp)
            heap.give_back(made.decoded_bytes)
        except Exception as exc:
            made, digest, failure = None, None, exc
    reason, told, said = hearsay(caught, heard, failure, allow_truncated=spec.allow_truncated)
    warned = _told(told) + _told(said)
    common = {
        "source": task.display, "source_bytes": size, "started": started,
        "worker": os.getpid(),
    }
    if made is None:
        return Result(
            **common, status="failed", error=reason, notes=task.notes + warned,
            seconds=time.perf_counter() - clock, cpu_seconds=time.thread_time() - cpu,
            ended=time.time(), peak_rss=peak_rss(),
            fatal=isinstance(failure, OSError) and failure.errno in STOPS_THE_RUN,
        )
    return Result(
        **common, status="converted", outputs=made.outputs, width=made.displayed[0],
        height=made.displayed[1], notes=task.notes + made.notes + warned,
        seconds=time.perf_counter() - clock, cpu_seconds=time.thread_time() - cpu,
        ended=time.time(), stages=made.stages,
        peak_rss=peak_rss(), thumbnail=made.preview, digest=digest, shrink=made.shrink,
    )


def _digest(fp: IO[bytes]) -> str:
    """The content digest of the whole of `fp`; ImageRejected where it
    cannot be read."""
    try:
        fp.seek(0)
        return digest_stream(fp)
    except OSError as exc:
        raise _unreadable(exc) from None


def _unreadable(exc: OSError) -> Exception:
    """ImageRejected, for a read the system refused (EIO, EACCES); `exc`
    itself where every file after would meet it too (no file left to open),
    to stop the run."""
    return exc if exc.errno in STOPS_THE_RUN else ImageRejected(why_unreadable(exc))


def _announced(fp: IO[bytes]) -> bool:
    """Whether `fp`'s first bytes are an image format's; ImageRejected where
    they cannot be read."""
    try:
        return signature(_head(fp)) is not None
    except OSError as exc:
        raise _unreadable(exc) from None


def hearsay(
    caught: list[warnings.WarningMessage],
    heard: cstderr.Heard,
    failure: BaseException | None = None,
    *,
    allow_truncated: bool = False,
) -> tuple[str | None, list[str], list[str]]:
    """What a file's reading came to: the reason for its `failure`, if any
    (a decoder's own last words where it printed them, over Pillow's); its
    warnings, warned and logged, worded alike; and what else C libraries
    printed of it, which that reason does not already say."""
    said = library_words(heard.printed)
    reason = describe(failure, allow_truncated=allow_truncated, said=said) if failure else None
    warned = [describe_warning(w.message) for w in caught] + library_words(heard.logged)
    return reason, warned, [line for line in said if line not in (reason or "")]


def library_words(lines: list[str]) -> list[str]:
    """What C libraries printed, worded as warnings are. Pillow hands libtiff
    the name "tempfile.tif" for every file, which would only mislead, and
    libtiff names some of its parts twice ("LZWDecode: LZWDecode: ...")."""
    return [
        describe_warning(_NAMED_TWICE.sub(r"\1", line.replace("tempfile.tif: ", "")))
        for line in lines
    ]


_NAMED_TWICE = re.compile(r"^(\w+: )\1")


def _told(lines: Iterable[str]) -> tuple[str, ...]:
    """Notes for what libraries said, three at most: a damaged TIFF can
    make libtiff say the same thing for each of its thousand strips."""
    return tuple(itertools.islice(dict.fromkeys(WARNING + line for line in lines), 3))


# What is missing is left as the decoder leaves it: gray for JPEG, black for PNG.
TRUNCATED_NOTE = "truncated: converted as far as its data goes (the rest is left blank)"


def _truncated(exc: OSError) -> bool:
    """Whether a decoder error says the image data ends early."""
    return exc.errno is None and "truncated" in str(exc).lower()


def _convert_truncated(task: Task, fp: IO[bytes], spec: ConvertSpec) -> _Converted:
    """_convert with Pillow's leave to decode a file cut short, as far as it goes."""
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        made = _convert(task, fp, spec)
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    return made._replace(notes=(TRUNCATED_NOTE, *made.notes))


class _Converted(NamedTuple):
    outputs: tuple[OutputRecord, ...]
    displayed: tuple[int, int]
    notes: tuple[str, ...]
    preview: str | None
    stages: tuple[float, float, float, float]  # decode, resize, encode, write
    decoded_bytes: int  # the decoded frames' pixels, about
    shrink: int  # Result.shrink


# Formats whose extra frames are an animation (an MPO's second frame is a
# camera preview, and a TIFF's are pages).
ANIMATED_FORMATS = frozenset({"GIF", "WEBP", "PNG", "AVIF"})


def _convert(task: Task, fp: IO[bytes], spec: ConvertSpec) -> _Converted:
    notes: list[str] = []
    start = time.perf_counter()
    with open_checked(task.source, spec.max_pixels, fp, all_pages=spec.all_pages) as im:
        bits = imaging.stored_bits(im)
        gray_alpha = decoded_as_colour(im)
        if gray_alpha:
            notes.append(f"{bits}-bit gray with alpha read at 8 bits: Pillow has no such mode")
        elif 8 < bits <= 16 and not im.mode.startswith("I;16"):
            notes.append(f"{bits}-bit colour read at 8 bits: Pillow keeps 16 bits for gray only")
        if im.format == "PNG" and "exif" not in im.info:
            _check_sizes_either_way(task, spec, im.size)
        if gray_alpha:
            imaging.gray_again(im)  # decoded here, not by getexif() below
        exif = im.getexif()
        orientation = metadata.pending_orientation(im, exif)
        turned = metadata.orientation(exif)  # by imgpar, or by Pillow as a TIFF loads
        # The size of the pixels as decoded, before shrink-on-load: crop boxes refer to it.
        stored = metadata.decoded_size(im, exif)
        displayed = geometry.stored_size(stored, orientation)
        layouts, todo = _planned(task, spec, displayed)
        if any(geometry.held_small(displayed, o.resize) for o in spec.outputs):
            notes.append(NOT_ENLARGED)
        shrink = 0
        if im.format in ("JPEG", "MPO"):
            # For every output, those the task keeps too: an output's pixels
            # depend on the scale it was decoded at, and must be those of a
            # run that makes them all.
            shrink = _shrink_on_load(im, displayed, orientation, layouts)
        icc = colour.source_profile(im, exif, fp)
        frames, timing, still = _frames(im, spec, notes)
        # Pages tagged with profiles of their own (a scan's pages from two
        # scanners): a TIFF of them all holds one profile, so there each is
        # converted to sRGB through its own. Other targets take the first page.
        tagged = _page_profiles(im, len(frames)) if im.format == "TIFF" and len(frames) > 1 else []
        # The first page's as read (an EXIF's Adobe RGB, a profile trimmed).
        pages_icc = [icc, *tagged[1:]] if len(set(tagged)) > 1 else []
        carried = metadata.carry(im, exif, spec.metadata, turned)
        lap = time.perf_counter()
        decode, resize, encode, write = lap - start, 0.0, 0.0, 0.0
        records: list[OutputRecord] = []
        # Several formats at one size share the crop, resize and rotation.
        scaled: dict[tuple[tuple[_Page, ...], bool], list[Image.Image]] = {}
        smallest: tuple[Image.Image, bytes | None] | None = None  # pixels, profile
        decoded_bytes = sum(f.width * f.height for f in frames) * 4
        for n, (target, size, box, rule, final) in enumerate(todo, 1):
            # Animations go to targets that animate; pages only into a TIFF.
            animate = len(frames) > 1 and (
                target.animation if timing is not None else target.name == "tiff"
            )
            if len(frames) > 1 and not animate:
                kind = "frame" if timing is not None else "page"
                which = f"first {kind}" if still is None else "its still image"
                notes.append(f"{len(frames)} {kind}s: {which} written to {target.name}")
            elif animate and timing is not None and timing[1] and target.name == "avif":
                # Pillow's AVIF writer has no loop count: its sequences repeat.
                plays = "once" if timing[1] == 1 else f"{timing[1]} times"
                notes.append(f"plays {plays} in the source, not kept: avif loops for ever")
            first = _Page(size, box, displayed, stored)
            # A target that cannot animate gets an APNG's still image; one
            # that can, its animation, even of one frame.
            shown_frames = [still] if still is not None and not target.animation else frames
            pages = _pages(shown_frames, timing is None, first, rule, orientation)
            upright = scaled.setdefault((pages, shown_frames[0] is still), [])
            for i in range(len(upright), len(shown_frames) if animate else 1):
                upright.append(_scale(shown_frames[i], pages[i], orientation, spec))
            shown = upright if animate else upright[:1]
            per_page = animate and bool(pages_icc)
            if per_page:
                notes.append(f"pages in different ICC profiles: each made sRGB in {target.name}")
            rendered = [
                _for_target(
                    frame, page_icc, target, srgb=spec.srgb or per_page, bilevel=im.mode == "1"
                )
                for frame, page_icc in zip(
                    shown, pages_icc if per_page else [icc] * len(shown), strict=True
                )
            ]
            pixels, profile = rendered[0]
            if smallest is None or pixels.width * pixels.height < _area(smallest[0]):
                smallest = pixels, profile
            resized = time.perf_counter()
            resize += resized - lap
            options = writer.save_options(
                target,
                quality=spec.quality,
                lossless=spec.lossless,
                icc_profile=profile,
                gray=all(frame.mode in ("1", "L") for frame, _ in rendered),
            )
            # A profile other than the source's: the pixels went to sRGB.
            options.update(
                metadata.save_options(carried, target, pixels.size, srgb=profile is not icc)
            )
            if animate:
                options.update(save_all=True, append_images=[frame for frame, _ in rendered[1:]])
                # Transparent, as browsers take it: Pillow would make a GIF's
                # background index opaque black, and viewers that honour it
                # (ImageMagick) fill a sticker's transparent parts with it.
                options.update(background=(0, 0, 0, 0))
                if timing is not None:
                    options.update(duration=timing[0], loop=timing[1])
            if n == len(todo) and len(frames) == 1 and frames[0] is not pixels:
                # The last output's pixels are made: the decoded picture is
                # not needed as it encodes (a 24 MP photo's 72 MB, twice that
                # where its orientation was turned into a copy).
                imaging.release(frames[0])
                imaging.release(im)
            try:
                written, in_filesystem = writer.write_atomic(
                    pixels, final, target, options, task.replaceable
                )
            except (ValueError, RuntimeError, SystemError) as exc:
                fewer = metadata.credits_only(options) if target.name == "tiff" else None
                if fewer is None:
                    raise
                written, in_filesystem = writer.write_atomic(
                    pixels, final, target, fewer, task.replaceable
                )
                # Only once it took the rest: a failure of its own is not the EXIF's.
                warnings.warn(f"EXIF refused by the TIFF writer ({describe(exc)}): only"
                              " Artist, Copyright and XMP copied", stacklevel=1)  # fmt: skip
            lap = time.perf_counter()
            encode += lap - resized - in_filesystem
            write += in_filesystem
            records.append(
                OutputRecord(
                    path=final,
                    format=target.pil_format,
                    width=pixels.width,
                    height=pixels.height,
                    bytes=written,
                )
            )
        # The smallest output's pixels are at hand: a preview costs no decode.
        preview = thumbnail.data_uri(*smallest) if task.preview and smallest else None
    return _Converted(
        tuple(records), displayed, tuple(dict.fromkeys(notes)), preview,
        (decode, resize, encode, write), decoded_bytes, shrink,
    )


class _Output(NamedTuple):
    target: Target
    size: tuple[int, int]
    box: geometry.Box | None  # the region of the source it shows; None: all of it
    resize: Resize | None  # the rule that gave size and box, for a TIFF's other pages
    path: str  # its size markers filled in


def _planned(
    task: Task, spec: ConvertSpec, displayed: tuple[int, int]
) -> tuple[list[tuple[tuple[int, int], geometry.Box | None]], list[_Output]]:
    """Every output's layout for a source of `displayed` size, and the
    outputs to make; ImageRejected, before any decoding, for one its format
    cannot hold or that would write over a file it must not."""
    layouts = [geometry.layout(displayed, out.resize) for out in spec.outputs]
    todo = _to_make(task, spec, layouts)
    _check_sizes(todo)
    _check_names(todo)
    _check_places(task, todo, spec.started_ns)
    return layouts, todo


def _check_names(todo: list[_Output]) -> None:
    """Refuse, before writing any, an output whose name, or a folder its
    name template makes, the file system cannot hold: written in turn, the
    others would be left behind, and in place taken for sources."""
    for out in todo:
        # Any file system holds 143 bytes (eCryptfs's limit, the lowest in
        # use), and a character is at most 4: most paths need no question,
        # which costs an encoding, and a system call per folder.
        if all(len(part) * 4 <= _SURELY_HELD for part in out.path.split(os.sep)):
            continue
        folder, name = os.path.split(out.path)
        made = [name]  # folders already there are the file system's business
        while folder and not os.path.isdir(folder):
            folder, part = os.path.split(folder)
            made.append(part)
        longest = _longest_name(folder)
        for part in made:
            length = len(os.fsencode(part))
            if length > _SURELY_HELD and length > longest:
                raise writer.OutputRefused(unwritable(out.path, writer.TOO_LONG))


_SURELY_HELD = 143


@functools.lru_cache(maxsize=64)
def _longest_name(folder: str) -> int:
    """The longest name, in bytes, the file system of `folder` holds."""
    try:
        return os.pathconf(folder or os.curdir, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255  # nearly every file system's


def _to_make(
    task: Task, spec: ConvertSpec, layouts: list[tuple[tuple[int, int], geometry.Box | None]]
) -> list[_Output]:
    """The outputs `task` makes, in order: not those its keep mask leaves out,
    and one for several asked-for sizes that come out the same (widths
    beyond the source's own) or under one name (a 3-pixel-wide strip at
    --max-size 480,960, named by its width): the first asked for."""
    # Names hold the format and the size (check_template), so one name is
    # one output.
    todo: list[_Output] = []
    finals: set[str] = set()
    made = zip(spec.outputs, task.outputs, layouts, strict=True)
    for i, (out, path, (size, box)) in enumerate(made):
        final = sized(path, size)
        if final in finals:
            continue
        finals.add(final)
        if not task.keep >> i & 1:
            todo.append(_Output(TARGETS[out.target], size, box, out.resize, final))
    return todo


def _check_sizes_either_way(task: Task, spec: ConvertSpec, size: tuple[int, int]) -> None:
    """Refuse an output too large for its format however the image turns:
    before a PNG is decoded, as its getexif() decodes every pixel, looking
    for an EXIF chunk after them (a 30000x4000 panorama: 480 MiB, to fail)."""
    try:
        _check_sizes(_to_make(task, spec, [geometry.layout(size, o.resize) for o in spec.outputs]))
    except ImageRejected as stored:
        turned = [geometry.layout((size[1], size[0]), o.resize) for o in spec.outputs]
        try:
            _check_sizes(_to_make(task, spec, turned))
        except ImageRejected:
            raise stored from None


def _check_sizes(todo: list[_Output]) -> None:
    """Refuse, before decoding, an output larger than its format can hold."""
    for out in todo:
        target, (width, height) = out.target, out.size
        if target.max_side is not None and max(width, height) > target.max_side:
            raise ImageRejected(
                f"too large for {target.name}: {width}x{height}, over its limit of"
                f" {target.max_side:,} pixels a side (--max-size {target.max_side} fits it)"
            )


def _check_places(task: Task, todo: list[_Output], started_ns: int | None) -> None:
    """In place, refuse before writing anything an output that would replace
    a file imgpar did not write (a user's own `a-320.webp` beside `a.jpg`),
    or one of its own that is no longer the size it wrote (the user's now),
    unless this run wrote it (`ConvertSpec.started_ns`)."""
    if task.replaceable is None:
        return
    for path in (out.path for out in todo):
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if (path, st.st_size) in task.replaceable:
            continue
        if stat.S_ISDIR(st.st_mode):
            raise writer.OutputRefused(unwritable(path, writer.A_FOLDER))
        if started_ns is None or st.st_mtime_ns < started_ns:
            raise writer.OutputRefused(not_imgpars(path))


def _shrink_on_load(
    im: Image.Image,
    displayed: tuple[int, int],
    orientation: int,
    layouts: list[tuple[tuple[int, int], geometry.Box | None]],
) -> int:
    """Let libjpeg decode at 1/2, 1/4 or 1/8 scale when every output is that
    small; returns the scale (1: none)."""
    stored = im.size
    target = geometry.stored_size(geometry.draft_target(displayed, layouts), orientation)
    request = geometry.draft_request(stored, target)
    drafted = im.draft(im.mode, request) if request is not None else None
    # What Pillow did, not only what it was asked: its box is the stored
    # size over the scale it chose.
    return round(stored[0] / drafted[1][2]) if drafted else 1


def _every_frame_decoded(im: Image.Image, all_pages: bool) -> bool:
    """Whether converting `im` decodes all its frames (an animation's, or a
    TIFF's pages under --all-pages) or its first alone (an MPO's preview,
    a HEIF burst, a TIFF's other pages)."""
    return im.format in ANIMATED_FORMATS or (im.format == "TIFF" and all_pages)


def _frames(
    im: Image.Image, spec: ConvertSpec, notes: list[str]
) -> tuple[list[Image.Image], tuple[list[int], int] | None, Image.Image | None]:
    """The decoded frames in a working mode, with (durations, loop) for
    animations, and an APNG's default image: shown by viewers that cannot
    animate, no frame of its animation, and what a target that cannot
    animate gets.

    A still image gives one frame. Animations keep every frame; a multi-page
    TIFF keeps its pages only with --all-pages.
    """
    # The first page alone is written: its pages are counted only as far as
    # a note needs them, as Pillow's count of a TIFF's pages takes time that
    # grows with their square (80,000 pages of 4x4 pixels: 33 s).
    most = None if spec.all_pages else NOTED_PAGES
    count = frame_count(im, all_pages=spec.all_pages, most=most)
    animated = count > 1 and im.format in ANIMATED_FORMATS
    if count > 1 and im.format == "TIFF" and not spec.all_pages:
        # --all-pages keeps pages in a TIFF only: no promise for other targets.
        pages = f"over {NOTED_PAGES:,}" if count > NOTED_PAGES else str(count)
        notes.append(
            f"{pages} pages: first page written (--all-pages keeps them all in TIFF output)"
        )
    if count > 1 and _other_pictures(im):
        kind = "a stereo or multi-view MPO" if im.format == "MPO" else "a HEIF burst or collection"
        notes.append(f"{count} images ({kind}): first image written")
    if count == 1 or not _every_frame_decoded(im, spec.all_pages):
        im.load()
        if im.mode in ("I", "F"):
            gray, reading = imaging.wide_gray(im)
            # Why a picture whose brightest value is 300 comes out dark.
            notes.append(f"32-bit gray {reading}")
            return [gray], None, None
        return [imaging.working_mode(im)], None, None
    frames: list[Image.Image] = []
    durations: list[int] = []
    for frame in ImageSequence.Iterator(im):
        # Frames after the first may differ in mode; a uniform one keeps
        # the encoders from re-quantising each frame differently.
        converted = imaging.working_mode(frame.convert("RGBA" if animated else frame.mode))
        # Else Pillow's APNG writer takes the first frame for a default image.
        converted.info.pop("default_image", None)
        frames.append(converted)
        durations.append(int(frame.info.get("duration", 100)))
    if not animated:
        return frames, None, None
    still = None
    if has_still(im):
        still, frames, durations = frames[0], frames[1:], durations[1:]
    return frames, (durations, _plays(im)), still


def has_still(im: Image.Image) -> bool:
    """Whether `im` is an APNG with a default image: a still picture for
    viewers that cannot animate, before its animation's first frame."""
    return im.format == "PNG" and bool(im.info.get("default_image"))


def _other_pictures(im: Image.Image) -> bool:
    """Whether the images after an MPO's or a HEIF's first are pictures of
    their own (a stereo camera's other eye, a burst's other shots), not
    previews of it (a camera JPEG's MPF preview)."""
    if im.format == "HEIF":
        return True
    if im.format != "MPO":
        return False
    entries = getattr(im, "mpinfo", {}).get(0xB002) or []
    return any(
        "Thumbnail" not in str(entry.get("Attribute", {}).get("MPType", ""))
        for entry in entries[1:]
    )


def _page_profiles(im: Image.Image, pages: int) -> list[bytes | None]:
    """The ICC profiles a TIFF's first `pages` pages are tagged with; `im`
    is left at its first page."""
    try:
        profiles = []
        for page in range(pages):
            im.seek(page)
            profiles.append(colour.page_profile(im))
    finally:
        im.seek(0)
    return profiles


def frame_count(im: Image.Image, *, all_pages: bool, most: int | None = None) -> int:
    """How many frames or pages `im` has; a TIFF's counted to `most` + 1 at
    most, where given. A TIFF whose later pages cannot be read counts one,
    with a warning, unless `all_pages`: its first page is all that is
    written (a scanner's damaged second page failed the whole file)."""
    try:
        if most is not None and im.format == "TIFF":
            return _pages_up_to(im, most + 1)
        return int(getattr(im, "n_frames", 1))
    except Exception as exc:
        if im.format != "TIFF" or all_pages or _raised_in(exc) != "reading":
            raise
        im.seek(0)
        detail = _first_line(exc) or type(exc).__name__
        warnings.warn(f"pages after the first cannot be read ({detail})", stacklevel=1)
        return 1


def decoded_as_colour(im: Image.Image) -> bool:
    """Whether `im` is a still gray image with alpha that Pillow decodes as
    RGBA (imaging.gray_alpha_as_colour), to be made LA again once decoded
    (imaging.gray_again); an animation's frames are RGBA all the same."""
    return imaging.gray_alpha_as_colour(im) and frame_count(im, all_pages=False) == 1


def _pages_up_to(im: Image.Image, limit: int) -> int:
    """A TIFF's pages, counted to `limit` at most; `im` left at its first."""
    count = 1
    try:
        while count < limit:
            im.seek(count)
            count += 1
    except EOFError:
        pass
    finally:
        im.seek(0)
    return count


# Pages counted for a note of a TIFF of which only the first is written.
NOTED_PAGES = 1000


def _plays(im: Image.Image) -> int:
    """How many times an animation plays, 0 for ever, as WebP and APNG
    count. A GIF counts the repeats after the first play (browsers play a
    loop count of 2 three times), and with no count at all plays once. An
    AVIF's, which Pillow does not report, loops for ever, as do the other
    formats' by default."""
    loop = im.info.get("loop")
    if im.format != "GIF":
        return int(loop or 0)
    if loop is None:
        return 1
    return min(int(loop) + 1, _MOST_PLAYS) if loop else 0


_MOST_PLAYS = 65535  # a 16-bit field in WebP and APNG alike


class _Page(NamedTuple):
    """How one frame becomes an output frame."""

    size: tuple[int, int]  # the output frame's, upright
    box: geometry.Box | None  # on the upright picture; None: all of it
    displayed: tuple[int, int]  # the picture's upright size, before shrink-on-load
    stored: tuple[int, int]  # the same, as stored


def _pages(
    frames: list[Image.Image],
    paged: bool,
    first: _Page,
    resize: Resize | None,
    orientation: int,
) -> tuple[_Page, ...]:
    """How each of `frames` is made for one output, the first as `first`.

    An animation's frames share one canvas, so they share the first's way.
    A TIFF's pages may each have their own size (a portrait page in a
    landscape scan): each is sized by the output's rule from its own, as
    stretching it to the first page's shape would distort it.
    """
    if not paged:
        return (first,) * len(frames)
    pages = [first]
    for frame in frames[1:]:
        displayed = geometry.stored_size(frame.size, orientation)
        pages.append(_Page(*geometry.layout(displayed, resize), displayed, frame.size))
    return tuple(pages)


def _scale(frame: Image.Image, page: _Page, orientation: int, spec: ConvertSpec) -> Image.Image:
    """One decoded frame cropped to its page's box, resized and turned upright."""
    region = None
    if page.box is not None:
        # Boxes are on the upright, full-size picture; the frame may be stored
        # sideways and already shrunk on load.
        x0, y0, x1, y1 = geometry.stored_box(page.box, page.displayed, orientation)
        fx, fy = frame.width / page.stored[0], frame.height / page.stored[1]
        region = (x0 * fx, y0 * fy, x1 * fx, y1 * fy)
    scaled = imaging.resized(
        frame, geometry.stored_size(page.size, orientation), box=region, resample=spec.filter
    )
    return imaging.upright(scaled, orientation)


def _for_target(
    upright: Image.Image, icc: bytes | None, target: Target, *, srgb: bool, bilevel: bool = False
) -> tuple[Image.Image, bytes | None]:
    """Pixels `target` can store, and the ICC profile that describes them;
    of a `bilevel` source (1-bit: a fax, a line scan), 1-bit again where
    the target holds it and they are still black and white (not resized)."""
    # Colour after resizing: littleCMS then handles output pixels, not source ones.
    pixels, profile = colour.for_target(upright, icc, target, srgb=srgb)
    pixels = imaging.target_mode(pixels, target)
    if bilevel and "1" in target.modes and pixels.mode == "L" and imaging.black_and_white(pixels):
        # Read as 8-bit gray, a 1-bit scan made PNGs and TIFFs a third larger.
        pixels = pixels.convert("1", dither=Image.Dither.NONE)
    if isinstance(pixels, TiffImagePlugin.TiffImageFile):
        # Saving the opened file itself would let Pillow's TIFF writer copy all
        # its tags, GPS and XMP included, past --metadata.
        pixels = pixels.copy()
    return pixels, profile


def _area(im: Image.Image) -> int:
    return im.width * im.height


def sized_outputs(
    task: Task, spec: ConvertSpec, catcher: cstderr.Catcher | None = None
) -> tuple[str, ...] | str:
    """The paths `task` will write, sizes filled in, for `--dry-run` and
    `--check`: read from the image's header (and EXIF orientation) as the
    worker reads them, with the same one output for several widths beyond
    the source's own. When the header cannot be read, converting would fail
    the file: the reason, as the run would give it (with `catcher`, in
    libtiff's words too)."""
    failure = None
    # Pillow's warnings (corrupt EXIF) are the run's notes, not the listing's.
    with warnings.catch_warnings(), cstderr.listening(catcher) as heard:
        warnings.simplefilter("ignore")
        try:
            with (
                open_source(task.source) as fp,
                open_checked(
                    task.source, spec.max_pixels, fp, all_pages=spec.all_pages, decoding=False
                ) as im,
            ):
                exif = metadata.header_exif(im)
                decoded = metadata.decoded_size(im, exif)
                displayed = geometry.stored_size(decoded, metadata.pending_orientation(im, exif))
        except Exception as exc:
            failure = exc
    if failure is not None:
        return describe(failure, said=library_words(heard.printed))
    try:
        _, todo = _planned(task, spec, displayed)
    except (ImageRejected, writer.OutputRefused) as exc:
        return str(exc)
    return tuple(out.path for out in todo)


def open_checked(
    path: str, max_pixels: int, fp: IO[bytes], *, all_pages: bool = False, decoding: bool = True
) -> Image.Image:
    """`path`, read from `fp` (open_source), opened lazily with only imgpar's
    decoders, its pixel count checked before anything is allocated: the
    pixels of every frame that will be decoded (`_frames`), an animation's
    all, a multi-page TIFF's first page unless `all_pages`. Where the caller
    is `decoding` the pixels, a progressive JPEG's scans are counted too,
    which reads the whole file: not for a header's facts alone."""
    # pillow-heif is loaded only for what needs it: by name, or, for HEIC
    # from a phone renamed .jpg, once no other decoder took the file.
    heif = os.path.splitext(path)[1].lower() in HEIF_EXTENSIONS
    try:
        im = _open(fp, READ_FORMATS + HEIF_FORMATS if heif else READ_FORMATS, max_pixels)
    except UnidentifiedImageError:
        head = _head(fp)
        if signature(head) != "HEIF" or heif:
            raise ImageRejected(unreadable(head)) from None
        im = _open(fp, HEIF_FORMATS, max_pixels)
    width, height = im.size
    # Only the frames `_frames` decodes count: a 20-page scan at 300 dpi was
    # refused a first-page JPEG for the pages it would never decode.
    frames = frame_count(im, all_pages=all_pages) if _every_frame_decoded(im, all_pages) else 1
    if isinstance(im, WebPImagePlugin.WebPImageFile) and frames > 1 and im.rawmode == "RGBX":
        # libwebp crops an animation's opaque frames to what changes and
        # leaves the rest of the canvas clear, mostly without marking the
        # file transparent; browsers show it clear, and Pillow, trusting the
        # mark, black. Its decoder gives the alpha all the same: read it.
        im.rawmode = "RGBA"
        im._mode = "RGBA"
    key = im.info.get("transparency")
    if im.mode == "P" and isinstance(key, bytes) and len(key) > _PALETTE_MOST:
        # An alpha per palette entry (PNG's tRNS), and a palette holds 256 at
        # most: Pillow keeps the rest, and then fails the file ("palette
        # index out of range"), where those it can use are all there.
        im.info["transparency"] = key[:_PALETTE_MOST]
        warnings.warn(
            f"damaged transparency: the first {_PALETTE_MOST} alphas used ({len(key)}"
            f" given, for a palette of at most {_PALETTE_MOST} colours)",
            stacklevel=1,
        )
    if im.mode == "RGB" and isinstance(key, tuple) and imaging.stored_bits(im) == 16:
        # A 16-bit PNG's colour key is in 16-bit units, and Pillow decodes
        # its pixels at 8: compared as they are, a colour the file never
        # named turned transparent, and the one it named stayed opaque.
        im.info["transparency"] = tuple(value >> 8 for value in key)
    if width < 1 or height < 1:
        im.close()
        raise ImageRejected(f"image has no pixels ({width}x{height})")
    if (width * height + (FRAME_COST if frames > 1 else 0)) * frames > max_pixels:
        im.close()
        counted = f" (and {FRAME_COST:,} a {'page' if im.format == 'TIFF' else 'frame'} besides)"
        size = _size(im, frames) + (counted if frames > 1 else "")
        raise ImageRejected(_too_many_pixels(max_pixels, size))
    # Read only where Pillow says interlaced, as it says of any method but 0.
    if im.format == "PNG" and im.info.get("interlace") and (method := _png_interlace(fp)) > 1:
        # Pillow reads the pixels as if cut short: "truncated", and a blank
        # image under --allow-truncated.
        im.close()
        raise ImageRejected(
            f"damaged PNG file: its header names interlace method {method} (PNG has 0 and 1)"
        )
    progressive = im.format in ("JPEG", "MPO") and im.info.get("progressive")
    if decoding and progressive and _scans(fp) > MOST_SCANS:
        im.close()
        raise ImageRejected(
            f"too many scans: a progressive JPEG of over {MOST_SCANS:,} (about 10 is usual,"
            " and each is a pass over every pixel)"
        )
    metadata.adopt_raw_xmp(im)
    return im


def _png_interlace(fp: IO[bytes]) -> int:
    """The interlace method a PNG's header names (its IHDR's last byte)."""
    at = fp.tell()
    try:
        fp.seek(_PNG_INTERLACE_AT)
        return fp.read(1)[0]
    finally:
        fp.seek(at)


_PNG_INTERLACE_AT = 28  # signature 8, IHDR length and type 8, then 12 bytes in


# A progressive JPEG's scans each pass over all its pixels: 25,000 one-byte
# scans of an 8000 x 8000 picture, 525 KB, held a worker for minutes; 1,000
# of 160 MP take some 15 s.
MOST_SCANS = 1000


def _scans(fp: IO[bytes]) -> int:
    """A JPEG's start-of-scan markers, counted to MOST_SCANS + 1 at most.
    In its coded data a 0xFF byte is always followed by 0x00 or a restart
    marker: only metadata (an EXIF thumbnail's scan) can add to the count."""
    at = fp.tell()
    fp.seek(0)
    count, last = 0, 0
    try:
        while count <= MOST_SCANS and (chunk := fp.read(1 << 20)):
            count += chunk.count(b"\xff\xda") + (last == 0xFF and chunk[0] == 0xDA)
            last = chunk[-1]
    finally:
        fp.seek(at)
    return count


_PALETTE_MOST = 256

# What a decoded frame costs beyond its pixels (Pillow's image object, its
# timing, the list it is kept in, the WebP writer's time), as pixels: a 46 MB
# GIF of two million 1x1 frames held a worker at 1.8 GB for 80 s, well within
# a limit counted in pixels alone, and libwebp's animation writer takes time
# that grows with the square of the frames (1x1 frames: 20,000 in 2 s,
# 80,000 in 20 s). At this cost, 39,000 such frames at most.
FRAME_COST = 4096


def _size(im: Image.Image, frames: int) -> str:
    """`im`'s size as a reason gives it: 400x300, 400x300 x 3 frames (or pages)."""
    kind = "pages" if im.format == "TIFF" else "frames"
    return f"{im.width}x{im.height}" + (f" x {frames} {kind}" if frames > 1 else "")


# A read's errors that are the file's damage: a seek to where no file
# reaches (a BigTIFF's pages said to be 2**62 bytes in). Any other is the
# system's (EIO from a failing disk, a network share gone), which the cache
# never records as the file's failure.
FILE_DAMAGE_ERRORS = frozenset({errno.EINVAL, errno.EOVERFLOW, errno.EFBIG})


def _open(fp: IO[bytes], formats: tuple[str, ...], max_pixels: int) -> Image.Image:
    if "HEIF" in formats and not register_heif():
        raise ImageRejected("HEIC/HEIF needs an extra: pip install 'imgpar[heif]'")
    try:
        return _pillow_open(fp, formats, max_pixels)
    except Image.DecompressionBombError:
        # Pillow's own backstop fired at twice our limit, without the size:
        # the header, read again without it, gives the size to say it as
        # our own check does.
        raise ImageRejected(_too_many_pixels(max_pixels, _bomb_size(fp, formats))) from None
    except OSError as exc:
        if exc.errno is not None and exc.errno not in FILE_DAMAGE_ERRORS:
            raise _unreadable(exc) from None
        # A header cut short, where --allow-truncated cannot help.
        head = _head(fp)
        found = signature(head) or "image"
        if _truncated(exc):
            raise ImageRejected(f"truncated {found} file: it ends within its header") from None
        # libwebp opens nothing of a file cut short ("could not create decoder
        # object"); its RIFF header says how long the file should be.
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            expected = int.from_bytes(head[4:8], "little") + 8
            size = os.fstat(fp.fileno()).st_size
            if size < expected:
                raise ImageRejected(
                    f"truncated {found} file: it ends early ({size:,} of {expected:,} bytes)"
                ) from None
        raise


def _pillow_open(source: IO[bytes], formats: tuple[str, ...], max_pixels: int) -> Image.Image:
    """Image.open under Pillow's pixel limit set to ours, without its warning
    above that limit: open_checked gives its own reason. A worker has them
    set for good (configure_worker); `--check`, `--dry-run` and `info` run in
    the command's process, where Pillow keeps its defaults."""
    if max_pixels == Image.MAX_IMAGE_PIXELS:
        return Image.open(source, formats=formats)
    with _pixel_limit(max_pixels):
        return Image.open(source, formats=formats)


def _bomb_size(fp: IO[bytes], formats: tuple[str, ...]) -> str:
    """The size a file's header declares, read without Pillow's pixel limit
    (opening reads the header alone); "" where it cannot be read."""
    try:
        fp.seek(0)
        with _pixel_limit(None), Image.open(fp, formats=formats) as im:
            return _size(im, 1)
    except Exception:  # a reason without a size is still the reason
        return ""


@contextlib.contextmanager
def _pixel_limit(limit: int | None) -> Iterator[None]:
    """Pillow's pixel limit set to `limit` (None: none), without its
    warning above it, for as long as the block runs."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = limit
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _head(fp: IO[bytes]) -> bytes:
    """The file's first bytes, which tell its format (formats.signature)."""
    fp.seek(0)
    return fp.read(16)


def _too_many_pixels(max_pixels: int, size: str = "") -> str:
    return (f"too many pixels{': ' + size if size else ''}, over --max-pixels "
            f"{max_pixels:,} (possible decompression bomb)")


# Pillow's words for EXIF it cannot read whole ("Corrupt EXIF data.  Expecting
# to read 12 bytes but only got 2. "), its detail in the last group.
_DAMAGED_EXIF = re.compile(r"(possibly )?corrupt (exif(?: makernote)?) data\.? ?(.*)", re.I)


def describe_warning(message: Warning | str) -> str:
    """One line for a warning met on one file: Pillow writes sentences with
    double spaces, trailing blanks and full stops, and calls damage
    corruption; the detail is kept."""
    text = " ".join(str(message).split())[:200].rstrip(".")
    if text == "Truncated File Read":  # Pillow's, for tags whose data ends early
        return "damaged EXIF data (cut short)"
    damaged = _DAMAGED_EXIF.fullmatch(text)
    if damaged is None:
        return text
    possibly, what, detail = damaged.groups()
    said = f"{'possibly ' if possibly else ''}damaged {what} data"
    if not detail:
        return said
    # "Expecting ... got 10. Skipping tag 270" -> "expecting ... got 10; skipping tag 270"
    sentences = [s[:1].lower() + s[1:] for s in detail.split(". ")]
    return f"{said} ({'; '.join(sentences)})"


def describe(
    exc: BaseException, *, allow_truncated: bool = False, said: Sequence[str] = ()
) -> str:
    """One line that tells a user what went wrong with one file (read with
    `allow_truncated`, a cut file is not told to try it; `said`: what C
    libraries printed meanwhile, library_words)."""
    if isinstance(exc, (ImageRejected, writer.OutputRefused)):
        return str(exc)
    if isinstance(exc, UnidentifiedImageError):
        return UNKNOWN_FORMAT
    if isinstance(exc, Image.DecompressionBombError):
        return "too many pixels (possible decompression bomb)"
    if isinstance(exc, PermissionError):
        return f"{UNREADABLE}: permission denied"
    if isinstance(exc, FileNotFoundError):
        # A link to nothing is there to be seen: saying the file went would mislead.
        if isinstance(exc.filename, str) and os.path.islink(exc.filename):
            return "broken symlink: its target does not exist"
        return VANISHED
    if isinstance(exc, OSError) and exc.errno == errno.ELOOP:
        return "symlink loop: no file at the end of its links"
    if isinstance(exc, OSError) and exc.errno in DISK_FULL:
        return "disk full: no space left for the output"
    if isinstance(exc, OSError) and exc.errno in OUT_OF_FILES:
        return out_of_files(exc)
    message = _first_line(exc)
    # Python's words for a file read after it was closed are imgpar's bug,
    # never the file's damage, wherever they are raised.
    raised = None if "closed file" in message else _raised_in(exc)
    if isinstance(exc, OSError) and exc.errno is None:
        # Codec errors: Pillow raises bare OSErrors for damaged image data.
        if _truncated(exc):
            if allow_truncated:  # what is there cannot be read either (a frame count that lies)
                return "truncated file: image data ends early, even read as far as it goes"
            return "truncated file: image data ends early (--allow-truncated accepts it)"
        if raised == "writing":
            return f"the encoder failed ({message or 'encoder error'})"
        # A library's own words for what stopped its decoder, the last it
        # printed, over Pillow's "decoder error -2".
        heard = said[-1] if said and raised == "reading" else ""
        return _undecodable(heard or message or "decoder error")
    if isinstance(exc, ValueError) and "Decompressed data too large" in message:
        return "a metadata chunk decompresses to more than Pillow's safety limit"
    if isinstance(exc, MemoryError):
        # Decoding or encoding: a traceback would tell which, its reason cannot.
        return "out of memory"
    code = _WEBP_ERROR.fullmatch(message) if raised == "writing" else None
    if isinstance(exc, ValueError) and code:
        return _LIBWEBP_ERRORS.get(int(code[1]), f"the encoder failed (libwebp error {code[1]})")
    if isinstance(exc, RuntimeError) and "Security limit exceeded" in message:
        # libheif's own limit on a HEIF's stated size, met before imgpar's.
        size = re.search(r"Image size (\d+x\d+)", message)
        stated = f"{size.group(1)}, " if size else ""
        return f"too many pixels: {stated}over libheif's own limit (possible decompression bomb)"
    if isinstance(exc, ValueError) and message.startswith("Invalid input: "):
        # libheif's words, through pillow-heif: a HEIC cut short, or damaged.
        if "Unexpected end of file" in message:
            return "truncated HEIF file: it ends early"
        return f"damaged HEIF file ({message.removeprefix('Invalid input: ')})"
    if raised == "reading":
        if isinstance(exc, OSError) and exc.errno not in FILE_DAMAGE_ERRORS:
            return why_unreadable(exc)  # no fault of the file's
        # A key or an index is no reason to a user (KeyError: 256), nor an
        # errno ("[Errno 22] Invalid argument").
        detail = "" if isinstance(exc, LookupError) else message
        if isinstance(exc, OSError) and exc.strerror:
            detail = exc.strerror
        return _undecodable(detail or "not as its format says")
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


# Pillow's words for libwebp's WebPEncodingError, which say only its number.
_WEBP_ERROR = re.compile(r"encoding error (\d+)")
_LIBWEBP_ERRORS = {
    1: "out of memory",
    2: "out of memory",
    6: "the encoder failed (too much detail for WebP's first partition, 512 KiB:"
    " a lower --quality, or a smaller size, fits it)",
    7: "the encoder failed (too much detail for a WebP partition, 16 MiB:"
    " a lower --quality, or a smaller size, fits it)",
    9: "too large for webp: the file would be over its limit of 4 GiB",
}


def _first_line(exc: BaseException) -> str:
    """An exception's message, its first line, at most 200 characters."""
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else ""


# Decoders' words for data a valid file may hold that they cannot decode
# (libtiff: "WEBP compression support is not configured").
_UNSUPPORTED = re.compile(r"not configured|not implemented|unsupported", re.IGNORECASE)


def _undecodable(detail: str) -> str:
    """Why a decoder gave up, in its words: damage, or what it cannot do."""
    if _UNSUPPORTED.search(detail):
        return f"unsupported by its decoder ({detail})"
    return f"corrupt image data ({detail})"


# Where Pillow and pillow-heif read a file (an ImageFile's methods): its
# header (a plugin's _open), its other frames or pages (seek, _seek) and
# its pixels (load); and where Pillow writes one.
_READERS = ("PIL.", "pillow_heif.")
_READING = frozenset({"_open", "seek", "_seek", "load"})


def _raised_in(exc: BaseException) -> str | None:
    """Whether Pillow raised `exc` "reading" a file, or "writing" one
    (Image.save); None where neither. Their plugins and codecs say that a
    file breaks its format's rules with whatever comes to hand (SyntaxError,
    ValueError: Truncated IHDR chunk, TypeError: Missing dimensions,
    RuntimeError from libavif): raised elsewhere (an encoder refusing
    metadata, imgpar's own code, Pillow's on pixels imgpar made) such an
    error says nothing of the source, and is shown as it is."""
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        module = frame.f_globals.get("__name__", "")
        name = frame.f_code.co_name
        if name == "save" and module == "PIL.Image":
            return "writing"
        if (
            name in _READING
            and module.startswith(_READERS)
            and isinstance(frame.f_locals.get("self"), ImageFile.ImageFile)
        ):
            return "reading"
        tb = tb.tb_next
    return None
