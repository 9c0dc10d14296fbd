"""What Linux's mount table says of a folder: the file system it is on,
and where in that file system it is, however many places show it (a bind
mount, Docker's `-v`, shows one folder at a second path). Elsewhere, or
where the table cannot be read, nothing: paths are then all there is."""

from __future__ import annotations

import contextlib
import functools
import os
import re
from typing import NamedTuple

from imgpar.paths import below, identity

MOUNT_TABLE = "/proc/self/mountinfo"


class Mount(NamedTuple):
    device: str  # "major:minor": one file system, wherever it is mounted
    root: str  # the folder of that file system it shows
    point: str  # where it shows it
    kind: str  # the file system's type (ext4, proc, cgroup, ...)
    options: tuple[str, ...]  # its own (a cgroup v1 hierarchy's controllers among them)


def mount_table() -> list[Mount]:
    """The mounts this process sees, in the table's order (a later mount
    at a point hides an earlier one); [] where there is no table."""
    mounts: list[Mount] = []
    with (
        contextlib.suppress(OSError, ValueError),
        # Names are bytes there, as on disk: decoded as os.fsdecode does.
        # A line ends at "\n" alone: a "\r" in a mount point is no escape there.
        open(MOUNT_TABLE, encoding="utf-8", errors="surrogateescape", newline="\n") as table,
    ):
        for line in table:
            fields, _, rest = line.partition(" - ")
            parts = fields.split()
            if len(parts) >= 5 and rest:
                root, point = _unescaped(parts[3]), _unescaped(parts[4])
                kind, _source, options = [*rest.split(), "", ""][:3]
                mounts.append(Mount(parts[2], root, point, kind, tuple(options.split(","))))
    return mounts


class Mounts:
    """The mount table, asked where folders are."""

    def __init__(self, table: list[Mount] | None = None) -> None:
        self._table = table  # None: this process's, read when first asked
        self._places: dict[str, tuple[str, str] | None] = {}

    @functools.cached_property
    def _at(self) -> dict[str, Mount]:
        """The mounts by mount point; a later one at a point hides an earlier one."""
        return {m.point: m for m in (mount_table() if self._table is None else self._table)}

    def place(self, path: str) -> tuple[str, str] | None:
        """Where `path` (real: os.path.realpath) is: its file system's
        device, and its path from that file system's top; None where no
        mount holds it."""
        if path in self._places:
            return self._places[path]
        found, here = None, path
        while found is None:
            mount = self._at.get(here)
            if mount is not None:
                rest = os.path.relpath(path, here)
                found = mount.device, os.path.normpath(os.path.join(mount.root, rest))
            elif (above := os.path.dirname(here)) == here:
                break
            else:
                here = above
        self._places[path] = found
        return found

    def within(self, path: str, folder: str) -> bool:
        """Whether `path` lies inside `folder` (not `folder` itself), both
        real: by their paths, or in their file system, where a folder shows
        at a second path (`-v ~/photos:/src -v ~/photos/2024:/out` puts /out
        in /src)."""
        return below(path, folder) or self.mounted_below(path, folder) is not None

    def mounted_below(self, path: str, folder: str) -> str | None:
        """Where `path` lies inside `folder`, relative to it, in their file
        system (both real, and there); None where it does not."""
        inner, outer = self.place(path), self.place(folder)
        if inner is None or outer is None or inner[0] != outer[0] or not below(inner[1], outer[1]):
            return None
        rel = os.path.relpath(inner[1], outer[1])
        # The table's word, checked: NFS gives "/" for every mount's root, so
        # two shares of one server's file system seemed to hold each other,
        # and a mount another hides still answers for its point.
        there = identity(os.path.join(folder, rel))
        return rel if there is not None and there == identity(path) else None


# Space, tab, newline and backslash in a name are written as octal escapes.
_ESCAPE = re.compile(r"\\([0-7]{3})")


def _unescaped(field: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)
