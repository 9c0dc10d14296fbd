"""How paths stand to each other: one folder, one below another, a file
where a folder should be; and opening only what is a regular file. Only
os and stat: every run loads it."""

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

def folder_of(source: str) -> str:
    """The folder a SOURCE converts in, in place: itself, or a file's own."""
    return source if os.path.isdir(source) else os.path.dirname(source) or os.curdir


def same_folder(a: str, b: str) -> bool:
    """Whether `a` and `b` are one folder (by path where one does not exist)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def below(path: str, folder: str) -> bool:
    """Whether `path` lies inside `folder`, not `folder` itself; both
    absolute and normalised (abspath, realpath)."""
    return path.startswith(os.path.join(folder, ""))


def may_exist(path: str) -> bool:
    """Whether `path` may be there: False only where the system says it is
    not, not where a folder on the way cannot be searched (os.path.exists
    says False to both, and a source unseen is not a source gone), nor
    where the path leads through a link to nothing (a drive not mounted)."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return _through_broken_link(path)
    except ValueError:
        return False
    except OSError:
        return True
    return True


def _through_broken_link(path: str) -> bool:
    """Whether the last part of `path` that is there is a link to nothing."""
    while True:
        if os.path.lexists(path):
            return os.path.islink(path) and not os.path.exists(path)
        above = os.path.dirname(path)
        if above == path:
            return False
        path = above


def not_there(path: str, *, follow: bool = True) -> str | None:
    """Why `path`, named by the user, cannot be taken, in a few words; None
    where it is there (with `follow` False, a link counts, broken or not)."""
    try:
        os.stat(path) if follow else os.lstat(path)
    except (FileNotFoundError, NotADirectoryError, ValueError):
        if os.path.islink(path):  # there, and named: "no such file" would mislead
            return f"{path}: broken symlink: its target does not exist"
        return f"no such file or folder: {path}"
    except PermissionError:
        return f"cannot read {path}: permission denied on a folder on the way"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    return None


def file_in_the_way(path: str) -> str | None:
    """The file that stands where a folder above `path` should be, if any."""
    _, folder = _missing_below(os.path.dirname(path))
    return folder if folder and os.path.lexists(folder) and not os.path.isdir(folder) else None


def _missing_below(path: str) -> tuple[list[str], str]:
    """`path` and the folders above it that are not there, nearest first,
    and the first above them that is there, folder or not ("" if none)."""
    missing = []
    while path and not os.path.lexists(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return missing, path


def regular_fd(path: str) -> int | None:
    """A descriptor of `path` open for reading if it is a regular file; None
    if it is a FIFO, socket or device, whose open would block (a FIFO with
    no writer) or whose data never ends (/dev/zero). OSError as os.open()
    raises it. The descriptor blocks as any other."""
    nonblocking = getattr(os, "O_NONBLOCK", 0)  # Windows has no FIFOs to fear
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0) | nonblocking)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket, which cannot be opened at all
            return None
        raise
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            if nonblocking:
                os.set_blocking(fd, True)
            return fd
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    return None


def nearest_folder(folder: str) -> str:
    """`folder`, or the nearest folder above it that is there: the one that
    decides whether `folder` can be made."""
    while folder and not os.path.isdir(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return folder or "."


def identity(path: str) -> tuple[int, int] | None:
    """What the system knows `path`'s file or folder by, however it is
    spelled (links, `..`); None where it is not there."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def folders_below(top: str, enter: Callable[[str], bool]) -> Iterator[str]:
    """`top` and the folders below it that `enter` lets in, links followed,
    each before those below it, in name order. A loop: os.walk calls itself
    for each level (before Python 3.12), and a tree 1,000 folders deep
    passed Python's recursion limit. Folders that cannot be read are passed
    over, as os.walk passes them."""
    pending = [top]
    while pending:
        folder = pending.pop()
        yield folder
        try:
            with os.scandir(folder) as it:
                names = sorted(entry.name for entry in it if _is_folder(entry))
        except OSError:
            continue
        pending.extend(reversed([p for n in names if enter(p := os.path.join(folder, n))]))


def _is_folder(entry: os.DirEntry[str]) -> bool:
    """Whether `entry` is a folder, or a link to one; a link that leads
    nowhere (a loop) is none, and the folder's other entries still count."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def make_folders(folder: str) -> None:
    """`os.makedirs(folder, exist_ok=True)`, in a loop: makedirs calls itself
    for each folder it makes, and one 1,000 folders deep passed Python's
    recursion limit."""
    # Up to the first that is there, folder or not: under a file, mkdir
    # fails as makedirs does, "Not a directory".
    missing, _ = _missing_below(folder)
    if not missing and folder and not os.path.isdir(folder):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), folder)
    for path in reversed(missing):
        try:
            os.mkdir(path)
        except FileExistsError:
            if not os.path.isdir(path):  # made meanwhile, by another run: as makedirs
                raise


def remove_empty(folder: str, top: str) -> None:
    """Remove `folder` and each folder above it, up to `top` (kept), while
    they are empty: what a failed write made, or deleted outputs emptied.
    One that is not there is passed over (a write failed making it)."""
    # Real paths: `--out link/../x` is where the kernel takes `..`, past the
    # link, not where the text says.
    folder, top = os.path.realpath(folder), os.path.realpath(top)
    while below(folder, top):
        try:
            os.rmdir(folder)  # only ever an empty one
        except FileNotFoundError:
            pass
        except OSError:  # something is in it, or on its way
            return
        folder = os.path.dirname(folder)
