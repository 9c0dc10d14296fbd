"""Decide every output path before any pixel work: mirror the tree, keep names
from colliding, recognise outputs already up to date, and never aim an output
at a source."""

from __future__ import annotations

import os
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence

from imgpar.formats import Target
from imgpar.spec import OutputRecord, Result, Task
from imgpar.walk import Folder

KEPT_EXTENSION = "output keeps the source extension: another source has the same name"


def fold(name: str) -> str:
    """The key under which a case-insensitive, normalising filesystem stores `name`."""
    return unicodedata.normalize("NFC", name).casefold()


class Planner:
    def __init__(self, targets: Sequence[Target], *, out: str | None, force: bool) -> None:
        self._targets = tuple(targets)
        self._out = out
        self._force = force
        self._target_exts = frozenset(ext for t in self._targets for ext in _extensions(t))
        # Outputs claimed so far across all folders, as hashes of folded paths:
        # two SOURCES can map into one output folder, and memory must stay small.
        self._claimed: set[int] = set()

    def plan(self, folder: Folder) -> Iterator[Task | Result]:
        dest = os.path.join(self._out, folder.rel) if self._out else folder.path
        in_place = _same_folder(dest, folder.path)
        stems = Counter(fold(os.path.splitext(n)[0]) for n in folder.names)
        own_outputs: set[str] = set()
        if in_place:
            own_outputs = {
                fold(os.path.basename(p))
                for n in folder.names
                if not self._is_target_file(n)
                for p in self._paths(dest, self._stem(n, stems))
            }
        for name in folder.names:
            source = os.path.join(folder.path, name)
            display = os.path.normpath(source)
            if in_place and self._is_target_file(name):
                if fold(name) in own_outputs:
                    continue  # an output of a sibling source, from an earlier run
                yield Result(
                    source=display,
                    status="skipped",
                    notes=("already in the target format; use --out to re-encode it",),
                )
                continue
            yield self._plan_file(name, source, display, dest, self._stem(name, stems))

    def _plan_file(
        self, name: str, source: str, display: str, dest: str, stem: str
    ) -> Task | Result:
        paths = self._paths(dest, stem)
        if self._collides(paths) and stem != name:
            stem = name
            paths = self._paths(dest, stem)
        if self._collides(paths):
            return Result(
                source=display,
                status="failed",
                error="output name collides with another source's output",
            )
        self._claimed.update(_key(p) for p in paths)
        notes = (KEPT_EXTENSION,) if stem == name else ()
        try:
            st = os.stat(source)
        except OSError as exc:
            return Result(
                source=display,
                status="failed",
                error=f"cannot read the file: {exc.strerror or exc}",
            )
        if not self._force:
            done = _up_to_date(paths, self._targets, st.st_mtime_ns)
            if done is not None:
                return Result(
                    source=display,
                    status="skipped",
                    outputs=done,
                    source_bytes=st.st_size,
                    notes=notes,
                )
        return Task(
            source=source, display=display, outputs=paths, source_bytes=st.st_size, notes=notes
        )

    def _stem(self, name: str, stems: Counter[str]) -> str:
        """The output stem: the source's, or its whole name when a sibling shares the stem."""
        stem = os.path.splitext(name)[0]
        return name if stems[fold(stem)] > 1 else stem

    def _paths(self, dest: str, stem: str) -> tuple[str, ...]:
        return tuple(os.path.join(dest, stem + t.ext) for t in self._targets)

    def _collides(self, paths: Sequence[str]) -> bool:
        return any(_key(p) in self._claimed for p in paths)

    def _is_target_file(self, name: str) -> bool:
        return os.path.splitext(name)[1].lower() in self._target_exts


def _key(path: str) -> int:
    return hash(fold(os.path.abspath(path)))


def _extensions(target: Target) -> tuple[str, ...]:
    aliases = {".jpg": (".jpg", ".jpeg", ".jpe", ".jfif"), ".tif": (".tif", ".tiff")}
    return aliases.get(target.ext, (target.ext,))


def _same_folder(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _up_to_date(
    paths: Sequence[str], targets: Sequence[Target], source_mtime_ns: int
) -> tuple[OutputRecord, ...] | None:
    records = []
    for path, target in zip(paths, targets, strict=False):
        try:
            st = os.stat(path)
        except OSError:
            return None
        if st.st_mtime_ns < source_mtime_ns:
            return None
        records.append(
            OutputRecord(
                path=path, format=target.pil_format, width=None, height=None, bytes=st.st_size
            )
        )
    return tuple(records)
