"""The small frozen records that cross process boundaries.

Workers get a `ConvertSpec` once (at start-up) and `Task`s (paths only); they
send back `Result`s (paths, sizes, seconds, an error string). No pixels and no
display settings ever travel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from imgpar.limits import DEFAULT_MAX_PIXELS

Status = Literal["converted", "skipped", "failed"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Resize:
    """Fit inside `width` x `height` (either may be None: that side is free)."""

    width: int | None = None
    height: int | None = None
    upscale: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputSpec:
    target: str  # key of formats.TARGETS
    resize: Resize | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConvertSpec:
    outputs: tuple[OutputSpec, ...]
    quality: int | None = None  # None: each format's own default
    lossless: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    allow_truncated: bool = False
    encoder_threads: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Task:
    source: str  # path to open
    display: str  # path as the user sees it, for reports
    outputs: tuple[str, ...]  # one destination per spec output, in order
    source_bytes: int
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputRecord:
    path: str
    format: str
    width: int | None
    height: int | None
    bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    source: str  # display path
    status: Status
    outputs: tuple[OutputRecord, ...] = ()
    source_bytes: int = 0
    width: int | None = None  # as displayed, after EXIF orientation
    height: int | None = None
    seconds: float = 0.0
    error: str | None = None
    notes: tuple[str, ...] = ()
    started: float = 0.0  # time.time() in the worker
    ended: float = 0.0
    worker: int = 0  # pid of the process that did the work
    fatal: bool = False  # the run cannot go on (the disk is full)
