"""imgpar's temporary files: how they are named (the host and the process
that writes each), where a run's may be, and which are abandoned (their
process gone, or a day old) to be removed. No Pillow, so any run may use it."""

from __future__ import annotations

import contextlib
import glob
import os
import socket
import time
import zlib
from collections.abc import Iterable

from imgpar.errors import system_words
from imgpar.spec import Task, sized_glob

TEMP_PREFIX = ".imgpar-tmp-"


def temporary(path: str) -> bool:
    """Whether `path` is one of imgpar's temporary files."""
    return os.path.basename(path).startswith(TEMP_PREFIX)


# This host, in the names of the temporary files its processes write: in a
# folder shared by a cluster, a process id alone does not say whose file it is.
HOST = f"{zlib.crc32(socket.gethostname().encode()):08x}"
# A temporary file of another host untouched this long is abandoned: no
# file takes a day to encode.
ABANDONED_AFTER = 24 * 3600.0


def temp_prefix(pid: int) -> str:
    """How the names of the temporary files process `pid` of this host writes begin."""
    return f"{TEMP_PREFIX}{HOST}-{pid}-"


def abandoned_temp_files(folder: str) -> list[str]:
    """The temporary files in `folder` that no process will finish: those of
    this host's processes that are gone (a run or a worker killed outright),
    and any untouched for a day. Another run's live writes are left alone."""
    try:
        names = [n for n in os.listdir(folder) if n.startswith(TEMP_PREFIX)]
    except OSError:
        return []
    found = []
    for name in names:
        path = os.path.join(folder, name)
        host, _, rest = name[len(TEMP_PREFIX) :].partition("-")
        pid = rest.partition("-")[0]
        try:
            old = time.time() - os.stat(path).st_mtime >= ABANDONED_AFTER
        except OSError:
            continue
        if old or (host == HOST and pid.isdigit() and not _running(int(pid))):
            found.append(path)
    return sorted(found)


def temp_file_places(tasks: Iterable[Task]) -> set[str]:
    """Glob patterns of the folders the tasks' temporary files are written in.

    A folder named from the output's size (`--name "{width}/{stem}.{ext}"`)
    is known only to the worker: any folder in its place matches.
    """
    places = set()
    for task in tasks:
        for path in task.outputs:
            places.add(sized_glob(os.path.dirname(path) or "."))
    return places


def remove_abandoned(
    folders: Iterable[str], *, dry_run: bool = False, refused: list[str] | None = None
) -> list[str]:
    """Delete the abandoned temporary files in `folders` (with `dry_run`,
    only find them); returns their paths. Those that cannot be deleted (an
    immutable file) are told to `refused`, as `PATH: reason`, where given."""
    removed = []
    for folder in sorted(set(folders)):
        for path in abandoned_temp_files(folder):
            try:
                if not dry_run:
                    os.unlink(path)
            except FileNotFoundError:
                continue  # gone since it was found
            except OSError as exc:
                if refused is not None:
                    refused.append(f"{path}: {system_words(exc)}")
                continue
            removed.append(path)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's, or not ours to ask: alive all the same
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether `pid` has ended and only waits to be reaped: the workers of
    a run killed outright linger so for a second or two in a container."""
    return process_state(pid) == "Z"


def process_state(pid: int) -> str | None:
    """The state Linux gives process `pid` (R, S, T stopped, Z...); None
    where it cannot be read: gone, or no /proc (macOS)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fp:
            # "PID (COMMAND) STATE ...": the command may hold spaces and parentheses.
            return fp.read().rpartition(b")")[2].split()[0].decode()
    except (OSError, IndexError, UnicodeDecodeError):
        return None


def remove_temp_files(places: Iterable[str], pids: set[int]) -> None:
    """Delete the temporary outputs that processes `pids` left in the folders
    `places` match; another imgpar run's temporary files are left alone."""
    prefixes = tuple(temp_prefix(pid) for pid in pids)
    for folder in {f for place in places for f in glob.glob(place)}:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if name.startswith(prefixes):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, name))
