"""Expand SOURCES into folders of candidate images, lazily and in sorted order.

The walker yields one `Folder` per directory (its image names, sorted) so the
planner can see sibling names together, and a `Skipped` note for anything it
passes over for a reason the user should hear about.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from typing import NamedTuple

from imgpar.cache import CACHE_NAME, kind_of_cache
from imgpar.errors import NOT_REGULAR, system_words
from imgpar.formats import READ_EXTENSIONS, is_unread
from imgpar.mounts import mount_table
from imgpar.paths import below, identity

UNREAD = "an image format imgpar does not read, left alone"
NO_IMAGES = "no images found in it"  # said of a SOURCE folder
OTHER_OUTPUTS = "another run's output folder (it holds that run's cache): outputs, not converted"


class Folder(NamedTuple):
    root: str  # the SOURCE folder this came from (or a file SOURCE's folder)
    rel: str  # this folder relative to root; "" for root itself
    names: tuple[str, ...]  # image file names in this folder, sorted
    # The names are the files named as SOURCES there, not all its images.
    named: bool = False

    @property
    def path(self) -> str:
        return os.path.join(self.root, self.rel) if self.rel else self.root

    def file(self, name: str) -> str:
        """One of its files' paths as the user would write it: `a.jpg` and
        `sub/a.jpg`, not `./a.jpg` and `./sub/a.jpg`."""
        return _as_written(self.root, self.rel, name)


def _as_written(root: str, rel: str, name: str = "") -> str:
    """A path in the tree of SOURCE `root` as the user would write it: under
    `.`, `sub/a.jpg`, not `./sub/a.jpg`."""
    inner = os.path.join(rel, name) if rel and name else rel or name
    if root == os.curdir and inner:
        return inner
    return os.path.join(root, inner) if inner else root


class Skipped(NamedTuple):
    path: str
    reason: str
    # A folder that cannot be read: its images, unseen, are not converted,
    # and the exit status says so.
    failed: bool = False


def walk(
    sources: Sequence[str],
    *,
    exclude: str | None = None,
    outputs: bool = False,
    in_place: bool = False,
) -> Iterator[Folder | Skipped]:
    """Walk `sources` (files and folders), never entering `exclude` (the output
    folder), nor another run's output folder unless `outputs` (`info` looks).
    Each folder is walked once per SOURCE, or once in all `in_place`, where a
    folder reached twice would be converted twice into itself.

    A file named directly is taken whatever its extension, the user asked
    for it, but one of a format imgpar does not read (a camera raw file).
    Files named in one folder come together, after the folders, so their
    names are decided together. SOURCES are walked in the order of their
    paths, not as named: where two of them map into one output folder
    (`cam1/trip`, `cam2/trip`), the first to claim a name keeps it, and
    `cam2 cam1` must name the outputs as `cam1 cam2` does.
    """
    excluded = identity(exclude) if exclude else None
    files: dict[str, list[str]] = {}
    seen_in_all: dict[tuple[int, int], str] = {}
    linked_last: list[_Tree] = []
    found: dict[str, int] = {}  # per SOURCE folder: images, and folders it could not read
    for source in sorted(sources, key=os.path.abspath):
        if os.path.isdir(source):
            # Links to folders last (in place, after every SOURCE's own
            # folders): a folder is walked under its own name, and a link to
            # one already walked is only noted.
            seen = seen_in_all if in_place else {}
            for holder in _holders_of(source):
                seen.setdefault(holder, HOLDS_THE_SOURCE)
            tree = _Tree(source, excluded, outputs, seen, deque())
            found[source] = 0
            yield from _counted(_walk_tree(tree, ""), found, source)
            if in_place:
                linked_last.append(tree)
            else:
                yield from _counted(_walk_links(tree), found, source)
        elif is_unread(source):
            # A raw file's first picture is a small preview Pillow reads as
            # a TIFF: converted, it passed for the photo, and took the name
            # of the JPEG beside it (IMG_1.JPG -> IMG_1.JPG.webp).
            yield Skipped(source, UNREAD)
        else:
            folder = os.path.normpath(os.path.dirname(source) or ".")  # ./a and a: one folder
            files.setdefault(folder, []).append(os.path.basename(source))
    for tree in linked_last:
        yield from _counted(_walk_links(tree), found, tree.root)
    # Said, not failed: an empty folder is no error, but an unmounted drive
    # or a build step that made nothing looks just like one.
    yield from (Skipped(source, NO_IMAGES) for source, n in found.items() if not n)
    for folder, names in sorted(files.items()):
        yield Folder(folder, "", tuple(sorted(set(names))), named=True)


def _counted(
    items: Iterator[Folder | Skipped], found: dict[str, int], source: str
) -> Iterator[Folder | Skipped]:
    """`items`, counting into `found[source]` the images and the folders
    that could not be read (which may hold some)."""
    for item in items:
        found[source] += len(item.names) if isinstance(item, Folder) else item.failed
        yield item


class _Tree(NamedTuple):
    """One SOURCE folder's walk: what it passes over, and what it has met."""

    root: str
    excluded: tuple[int, int] | None  # the output folder's identity
    outputs: bool  # another run's output folders are walked too (`info`)
    seen: dict[tuple[int, int], str]  # folders walked, by identity
    links: deque[str]  # links to folders met, walked last


def _walk_links(tree: _Tree) -> Iterator[Folder | Skipped]:
    while tree.links:
        yield from _walk_tree(tree, tree.links.popleft())


def _holds_cache(entries: Sequence[os.DirEntry[str]]) -> bool:
    return any(e.name == CACHE_NAME for e in entries)


def images_in(folder: str) -> tuple[str, ...]:
    """The names of the files in `folder` that a walk would take for images."""
    try:
        with os.scandir(folder) as it:
            return tuple(sorted(e.name for e in it if _is_image(e.name) and _is_file(e)))
    except OSError:
        return ()


def walked_to(folder: str, rel: str, *, exclude: str | None = None) -> bool:
    """Whether a walk of `folder` takes the file, or enters the folder, at
    `rel` below it, as `walk` decides: an image's extension, nothing hidden
    on the way, and no folder on the way that it passes over (`exclude`, the
    run's --out; another run's --out; a file system's lost+found)."""
    *folders, name = os.path.normpath(rel).split(os.sep)
    if os.path.isdir(os.path.join(folder, rel)):
        folders.append(name)
    elif not _is_image(name):
        return False
    excluded = identity(exclude) if exclude else None
    here = folder
    for part in folders:
        if passed_over(here, part):
            return False
        here = os.path.join(here, part)
        if excluded is not None and identity(here) == excluded:
            return False
        if kind_of_cache(here) == "out":
            return False
    return True


def passed_over(folder: str, name: str) -> bool:
    """Whether the walk leaves `name` in `folder` alone, unsaid: hidden, or
    a file system's own lost+found (at its top, readable by root alone)."""
    return name.startswith(".") or (name == "lost+found" and os.path.ismount(folder))


SYSTEM_FOLDER = "the kernel's own folders (/proc, /sys): not walked"
# How the folders that hold a SOURCE are marked among those walked.
HOLDS_THE_SOURCE = "\0"


def _holders_of(source: str) -> list[tuple[int, int]]:
    """The identities of the folders above `source`, as it really is, up to `/`."""
    held: list[tuple[int, int]] = []
    folder = os.path.realpath(source)
    while (above := os.path.dirname(folder)) != folder:
        folder = above
        if (known := identity(folder)) is not None:
            held.append(known)
    return held


@functools.cache
def _system_devices() -> frozenset[int]:
    """The devices of the kernel's own file systems, /proc and /sys, and of
    every other mount of them (Linux's mount table says which): they hold
    no images, and /proc's folders lead to every process's root and working
    folder, so that a link to it walked, and converted, the whole machine."""
    found = set()
    for folder in ("/proc", "/sys"):
        with contextlib.suppress(OSError):
            found.add(os.stat(folder).st_dev)
    for mount in mount_table():
        if mount.kind in _KERNELS_OWN:
            with contextlib.suppress(ValueError):
                major, minor = mount.device.split(":")
                found.add(os.makedev(int(major), int(minor)))
    return frozenset(found)


_KERNELS_OWN = frozenset({"proc", "sysfs"})


def _is_image(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in READ_EXTENSIONS


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def _link_trouble(path: str) -> str:
    """Why a link that is neither a file nor a folder is skipped."""
    try:
        os.stat(path)
    except OSError as exc:
        return "symlink loop, skipped" if exc.errno == errno.ELOOP else "broken symlink, skipped"
    return f"{NOT_REGULAR}, skipped"


def _walk_tree(tree: _Tree, rel: str) -> Iterator[Folder | Skipped]:
    """The folder `rel` of the tree and those below it, depth first in name
    order; links to folders are put in `tree.links`, to walk last. A loop,
    not recursion: a tree 1,000 folders deep passed Python's recursion
    limit, and the run stopped with an internal error."""
    pending = [(False, rel)]
    while pending:
        link, folder = pending.pop()
        if link:
            # Put aside as the recursion did, when the walk reaches it: the
            # order decides which spelling of a folder is walked.
            tree.links.append(folder)
        else:
            subfolders = yield from _walk_folder(tree, folder)
            pending.extend(reversed(subfolders))


def _walk_folder(
    tree: _Tree, rel: str
) -> Generator[Folder | Skipped, None, list[tuple[bool, str]]]:
    """One folder's images and notes; returns its subfolders, in name
    order, each with whether it is a link."""
    root, seen = tree.root, tree.seen
    here = os.path.join(root, rel) if rel else root
    shown = _as_written(root, rel)  # `here` in a note, as the user writes it
    known_as = identity(here)
    # A SOURCE named itself, that holds another named otherwise (a bind
    # mount of its folder), is walked as named.
    holds = known_as is not None and seen.get(known_as) == HOLDS_THE_SOURCE
    if known_as is not None and known_as in seen and not (holds and not rel):
        first = seen[known_as]
        if holds:
            # A link to `/`, or `..` twice: what it leads to holds the whole
            # tree, the SOURCE's siblings and the machine's other folders.
            yield Skipped(shown, "symlink loop: a folder that holds the SOURCE, not followed")
            return []
        if below(here, first):
            yield Skipped(shown, "symlink loop: folder is its own ancestor, not followed")
        else:
            # A link to a folder of the tree: its images once, not twice
            # over (in place, into the very same outputs).
            yield Skipped(shown, f"the same folder as {first}, walked there")
        return []
    if known_as is not None and known_as[0] in _system_devices():
        yield Skipped(shown, SYSTEM_FOLDER)
        return []
    if known_as is not None:
        seen[known_as] = here
    # The output folder is skipped unless it is the very SOURCE being walked
    # (converting a folder into itself is allowed; outputs are told apart by name).
    if rel and known_as is not None and known_as == tree.excluded:
        return []
    try:
        with os.scandir(here) as it:
            entries = sorted(it, key=lambda e: e.name)
    except FileNotFoundError:
        yield Skipped(shown, "folder gone while the tree was walked")
        return []
    except OSError as exc:
        yield Skipped(shown, f"cannot read folder: {system_words(exc)}", failed=True)
        return []
    # Another run's --out (a preset's thumbnails beside its web images): its
    # files are outputs, and converted they would nest deeper each run.
    if rel and not tree.outputs and _holds_cache(entries) and kind_of_cache(here) == "out":
        yield Skipped(shown, OTHER_OUTPUTS)
        return []
    names: list[str] = []
    subfolders: list[tuple[bool, str]] = []
    for entry in entries:
        if passed_over(here, entry.name):
            continue
        try:
            is_dir = entry.is_dir()
            is_file = not is_dir and entry.is_file()
        except OSError:
            is_dir = is_file = False
        if is_dir:
            subfolders.append((entry.is_symlink(), entry.name))
        elif is_file:
            if _is_image(entry.name):
                names.append(entry.name)
            elif is_unread(entry.name):
                yield Skipped(_as_written(root, rel, entry.name), UNREAD)
        elif entry.is_symlink():
            yield Skipped(_as_written(root, rel, entry.name), _link_trouble(entry.path))
        elif _is_image(entry.name):  # a FIFO, socket or device under an image's name
            yield Skipped(_as_written(root, rel, entry.name), f"{NOT_REGULAR}, skipped")
    if (names or subfolders) and not _searchable(here):
        # Its names listed, yet none of its files can be opened: the folder
        # is at fault, not each of them (nor its subfolders, each once).
        yield Skipped(shown, "cannot read folder: permission denied (its names can be listed,"
                             " not opened)", failed=True)  # fmt: skip
        return []
    if names:
        yield Folder(root, rel, tuple(names))
    return [(link, os.path.join(rel, name) if rel else name) for link, name in subfolders]


def _searchable(folder: str) -> bool:
    """Whether `folder` can be searched: one that can be read and not
    searched (mode r--) lists its names, but no file in it can be opened."""
    try:
        os.stat(os.path.join(folder, os.curdir))
    except PermissionError:
        return False
    except OSError:
        return True
    return True


def count_images(sources: Sequence[str], *, exclude: str | None = None) -> int:
    found = walk(sources, exclude=exclude)
    return sum(len(item.names) for item in found if isinstance(item, Folder))
