"""The small frozen records that cross process boundaries.

Workers get a `ConvertSpec` once (at start-up) and `Task`s (paths and what
the plan decided of them); they send back `Result`s (paths, sizes, seconds,
an error string). No decoded pixels travel: an HTML report's results bring
back only a small WebP preview.
"""

from __future__ import annotations

import functools
import glob
import re
from typing import Literal, NamedTuple, get_args

from imgpar.limits import DEFAULT_MAX_PIXELS

Status = Literal["converted", "skipped", "failed"]
Fit = Literal["contain", "cover", "fill"]
Gravity = Literal[
    "center", "north", "south", "east", "west", "northeast", "northwest", "southeast", "southwest"
]
FITS: tuple[Fit, ...] = get_args(Fit)
GRAVITIES: tuple[Gravity, ...] = get_args(Gravity)
FILTERS = ("lanczos", "bicubic", "bilinear", "hamming", "box", "nearest")
# What EXIF and XMP an output keeps (see metadata.py); the ICC profile is not
# metadata here, it follows `srgb`.
MetadataPolicy = Literal["all", "copyright", "no-gps", "none"]
METADATA_POLICIES: tuple[MetadataPolicy, ...] = get_args(MetadataPolicy)

# Every record here is a named tuple rather than a dataclass: a frozen
# dataclass costs 1-3 ms to create at start-up (it compiles its methods), and
# a run's start-up made fifteen of them. Build those with many fields by
# keyword: a named tuple also takes its fields in order.
class Stages(NamedTuple):
    """Seconds (or shares of worker time) per part of a worker's time on a
    file: decode is open to pixels in memory in a working mode
    (shrink-on-load included); resize is every pixel operation after it
    (resize, crop, orientation, conversion for the target); write is the
    time blocked in the filesystem (creating, writing, renaming the file);
    encode is the rest of saving."""

    decode: float = 0.0
    resize: float = 0.0
    encode: float = 0.0
    write: float = 0.0


STAGES = Stages._fields  # the order of `Result.stages`


class Resize(NamedTuple):
    """How an output's size follows from its source's (see geometry.py).

    `width`/`height` box the image (`fit` says how); `long_edge`,
    `short_edge` and `scale` (percent) size it by one number instead.
    """

    width: int | None = None
    height: int | None = None
    fit: Fit = "contain"
    gravity: Gravity = "center"
    long_edge: int | None = None
    short_edge: int | None = None
    scale: float | None = None
    upscale: bool = False


class OutputSpec(NamedTuple):
    target: str  # key of formats.TARGETS
    resize: Resize | None = None


class ConvertSpec(NamedTuple):
    outputs: tuple[OutputSpec, ...]
    quality: int | None = None  # None: each format's own default
    lossless: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    allow_truncated: bool = False
    filter: str = "lanczos"
    all_pages: bool = False
    srgb: bool = False  # convert the pixels to sRGB and embed sRGB (colour.py)
    metadata: MetadataPolicy = "no-gps"
    # When the run was set up (ns since the epoch): a file at an output's
    # place changed since then is the run's own work (it holds the folder's
    # lock), such as a chunk's first try on a cluster before its retry.
    started_ns: int | None = None


# Output paths may depend on the output's size, known only once the worker has
# read the image: the planner leaves these markers (NUL never occurs in a
# file name) and the worker fills them in.
WIDTH_FIELD = "\0w"
HEIGHT_FIELD = "\0h"


def sized(path: str, size: tuple[int, int]) -> str:
    """A planned output path with the output's size in place of its markers."""
    return path.replace(WIDTH_FIELD, str(size[0])).replace(HEIGHT_FIELD, str(size[1]))


def as_template(planned: str) -> str:
    """A planned output path as a user reads it: `{width}` for its size marker."""
    return planned.replace(WIDTH_FIELD, "{width}").replace(HEIGHT_FIELD, "{height}")


def fixed_head(planned: str) -> str:
    """What every path `sized` may make of `planned` begins with."""
    return _size_split(planned)[0]


def could_be_sized(path: str, planned: str) -> bool:
    """Whether `path` may be what `sized` makes of `planned`."""
    parts = _size_split(planned)
    if len(parts) == 1:
        return path == planned
    if len(parts) == 2:  # one size in it: a folder's every pattern, compiled, would cost more
        head, tail = parts
        size = path[len(head) : len(path) - len(tail)]
        return path.startswith(head) and path.endswith(tail) and size.isdecimal() and size.isascii()
    return _sized_pattern(planned).fullmatch(path) is not None


def sized_glob(planned: str) -> str:
    """A glob pattern for the paths `sized` may make of `planned`."""
    return glob.escape(planned).replace(WIDTH_FIELD, "*").replace(HEIGHT_FIELD, "*")


def on_disk(planned: str) -> list[str]:
    """The paths there are whose names are `planned` with its size markers filled in."""
    if WIDTH_FIELD not in planned and HEIGHT_FIELD not in planned:
        return [planned]
    return [path for path in glob.glob(sized_glob(planned)) if could_be_sized(path, planned)]


def _size_split(planned: str) -> list[str]:
    return planned.replace(HEIGHT_FIELD, WIDTH_FIELD).split(WIDTH_FIELD)


@functools.lru_cache(maxsize=4096)  # a pattern per output folder of a tree
def _sized_pattern(planned: str) -> re.Pattern[str]:
    return re.compile("[0-9]+".join(map(re.escape, _size_split(planned))))


# One Task, OutputRecord and Result crosses the pool for every file: as
# tuples they are also built, pickled and unpickled in C, at a third of a
# frozen dataclass's cost.
class Task(NamedTuple):
    source: str  # path to open
    display: str  # path as the user sees it, for reports
    outputs: tuple[str, ...]  # one destination per spec output, in order
    source_bytes: int
    notes: tuple[str, ...] = ()
    preview: bool = False  # make a thumbnail for the HTML report
    # Bit i set: the spec's output i is not made: up to date as it is, or (in
    # place) it would take the source's own place.
    keep: int = 0
    # In place, the files its outputs may replace (imgpar's own), each with
    # the size imgpar wrote; None: any. The worker checks every output's
    # final name, sized by the image, before writing anything.
    replaceable: tuple[tuple[str, int], ...] | None = None
    # The outputs an earlier run recorded for this source, with their sizes:
    # one its worker writes over as it was (--force), then never reports
    # (Ctrl-C), stays, still recorded, where a new one is removed.
    earlier: tuple[tuple[str, int], ...] = ()


class OutputRecord(NamedTuple):
    path: str
    format: str
    width: int | None
    height: int | None
    bytes: int


# How a file's warnings begin among its notes (`warning: XMP too large ...`).
WARNING = "warning: "
# A file's note where a size asked for is beyond its own (no --upscale).
NOT_ENLARGED = "smaller than the size asked for: not enlarged (--upscale enlarges it)"


class Result(NamedTuple):
    source: str  # display path
    status: Status
    outputs: tuple[OutputRecord, ...] = ()
    source_bytes: int = 0
    width: int | None = None  # as displayed, after EXIF orientation
    height: int | None = None
    seconds: float = 0.0
    # The worker thread's CPU time on the file: below `seconds` by the time
    # it waited for a CPU (other programs busy) or for the disk.
    cpu_seconds: float = 0.0
    error: str | None = None
    notes: tuple[str, ...] = ()
    started: float = 0.0  # time.time() in the worker
    ended: float = 0.0
    # What did the work: its process's pid; on a Dask cluster, whose workers'
    # pids may repeat from host to host (containers), the worker's address,
    # with its thread's number where it runs several files at once.
    worker: int | str = 0
    # Worker seconds per STAGES entry; () when the file was not converted.
    stages: tuple[float, ...] = ()
    # The worker's peak resident memory so far, in bytes; 0 where unknown.
    peak_rss: int = 0
    thumbnail: str | None = None  # data: URI of a small WebP preview, see thumbnail.py
    fatal: bool = False  # the run cannot go on (the disk is full)
    digest: str | None = None  # content hash of the source, for the cache
    # The JPEG scale (1, 2, 4, 8) it was decoded at, which its outputs'
    # pixels depend on; 0 for formats decoded whole.
    shrink: int = 0
    # Failed while a worker that could not be stopped (a Dask task) may
    # still write its outputs.
    loose: bool = False
