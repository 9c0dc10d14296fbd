"""What Linux's mount table says of a folder: the file system it is on,
and where in that file system it is, however many places show it (a bind
mount, Docker's `-v`, shows one folder at a second path). Elsewhere, or
where the table cannot be read, nothing: paths are then all there is."""

from __future__ import annotations

import contextlib
import os
import re
from typing import NamedTuple

from imgpar.paths import below

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
        open(MOUNT_TABLE, encoding="utf-8", errors="surrogateescape") as table,
    ):
        for line in table:
            fields, _, rest = line.partition(" - ")
            parts = fields.split()
            if len(parts) >= 5 and rest:
                root, point = _unescaped(parts[3]), _unescaped(parts[4])
                kind, _source, options = [*rest.split(), "", ""][:3]
                mounts.append(Mount(parts[2], root, point, kind, tuple(options.split(","))))
    return mounts


def place(path: str, mounts: list[Mount]) -> tuple[str, str] | None:
    """Where `path` (real: os.path.realpath) is: its file system's device,
    and its path from that file system's top; None where no mount holds it."""
    holder: Mount | None = None
    for mount in mounts:
        inside = path == mount.point or path.startswith(os.path.join(mount.point, ""))
        if inside and (holder is None or len(mount.point) >= len(holder.point)):
            holder = mount
    if holder is None:
        return None
    rest = os.path.relpath(path, holder.point)
    return holder.device, os.path.normpath(os.path.join(holder.root, rest))


def within(path: str, folder: str, mounts: list[Mount]) -> bool:
    """Whether `path` lies inside `folder` (not `folder` itself), both real:
    by their paths, or in their file system, where a folder shows at a
    second path (`-v ~/photos:/src -v ~/photos/2024:/out` puts /out in /src)."""
    return below(path, folder) or mounted_below(path, folder, mounts) is not None


def mounted_below(path: str, folder: str, mounts: list[Mount]) -> str | None:
    """Where `path` lies inside `folder`, relative to it, in their file
    system (both real); None where it does not."""
    inner, outer = place(path, mounts), place(folder, mounts)
    if inner is None or outer is None or inner[0] != outer[0] or not below(inner[1], outer[1]):
        return None
    return os.path.relpath(inner[1], outer[1])


# Space, tab, newline and backslash in a name are written as octal escapes.
_ESCAPE = re.compile(r"\\([0-7]{3})")


def _unescaped(field: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)
