"""Decide every output path before any pixel work: mirror the tree, name
outputs from a template, keep names from colliding, recognise sources whose
outputs are up to date, and never aim an output at a source."""

from __future__ import annotations

import bisect
import contextlib
import functools
import glob
import itertools
import os
import re
import stat
import string
import time
import unicodedata
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple, TypeVar

from imgpar import geometry
from imgpar.cache import (
    Cache,
    Entry,
    as_recorded,
    digest_file,
    file_state,
    kind_of_cache,
)
from imgpar.errors import (
    NOT_REGULAR,
    NOW_A_FOLDER,
    VANISHED,
    refused,
    why_unreadable,
)
from imgpar.formats import TARGETS, Target, signature, unreadable
from imgpar.keys import settings_key
from imgpar.paths import below, folder_of, regular_fd, same_folder
from imgpar.spec import (
    HEIGHT_FIELD,
    WIDTH_FIELD,
    ConvertSpec,
    OutputRecord,
    OutputSpec,
    Result,
    Task,
    as_template,
    could_be_sized,
    fixed_head,
    on_disk,
    sized,
)
from imgpar.walk import Folder, images_in

KEPT_EXTENSION = "output keeps the source extension: another source has the same name"
# Held by a source no SOURCE of the run holds: another run's, or this one's
# under a SOURCE folder's old name, which the note must not call a sibling.
KEPT_FOR_RECORDED = (
    "output keeps the source extension: the --out records the name for a file of another"
    " SOURCE (or of a SOURCE folder since renamed)"
)
IN_TARGET_FORMAT = (
    "already in the target format: its output would replace it"
    " (--out DIR or --name '{stem}-web.{ext}' re-encodes it)"
)
PARTLY_IN_TARGET = (
    "already in one of the target formats: that output would replace it and is not made"
    " (--out DIR or --name '{stem}-web.{ext}' makes it)"
)
KEPT_OUTPUTS = "outputs still up to date were kept; only the others were written"
TEMPLATE_FIELDS = frozenset({"stem", "ext", "src_ext", "width", "height", "parent"})
SINGLE_TEMPLATE = "{stem}.{ext}"
SIZED_TEMPLATE = "{stem}-{width}.{ext}"


# One of imgpar's own files: its name, and its size as imgpar wrote it.
Owned = tuple[str, int]
T = TypeVar("T")


def fold(name: str) -> str:
    """The key under which a case-insensitive, normalising filesystem stores `name`."""
    return unicodedata.normalize("NFC", name).casefold()


def default_template(outputs: Sequence[OutputSpec]) -> str:
    """`{stem}.{ext}`, or `{stem}-{width}.{ext}` when one format gets several sizes."""
    per_target = Counter(o.target for o in outputs)
    return SIZED_TEMPLATE if max(per_target.values()) > 1 else SINGLE_TEMPLATE


def check_template(template: str, outputs: Sequence[OutputSpec]) -> str | None:
    """Why `template` cannot name these outputs safely (a problem with the
    `name` option), or None when it can."""
    try:
        fields = _fields(template)
    except ValueError as exc:
        return f"{template!r}: {exc}"
    unknown = fields - TEMPLATE_FIELDS
    if unknown:
        known = ", ".join("{" + f + "}" for f in sorted(TEMPLATE_FIELDS))
        return f"{template!r}: unknown field {{{sorted(unknown)[0]}}} (use {known})"
    sample = sample_name(template, TARGETS["webp"])
    parts = sample.replace("\\", "/").split("/")
    if os.path.isabs(sample) or ".." in parts:
        return f"{template!r} could write outside the output folder"
    if parts[-1] in ("", "."):
        return f"{template!r} ends in a folder: end it with a file's name ({{stem}}.{{ext}})"
    if "" in parts:
        return f"{template!r} has a folder with no name (//)"
    if any(part.startswith(".imgpar") for part in parts):
        # An output named as the cache overwrote it; one named as a
        # temporary file was pruned as a killed run's leftover.
        return (
            f"{template!r} makes names that begin with .imgpar, which are imgpar's own (its"
            " cache, lock and temporary files)"
        )
    if len({o.target for o in outputs}) > 1 and "ext" not in fields:
        return f"{template!r} needs {{ext}}: several formats would share a name"
    if len(outputs) > len({o.target for o in outputs}) and not fields & {"width", "height"}:
        return f"{template!r} needs {{width}} or {{height}}: several sizes share a name"
    boxes = {o.resize for o in outputs if o.resize and o.resize.fit != "contain"}
    if "width" not in fields and len({box.height for box in boxes}) == 1 < len(boxes):
        # Cover and fill make every output the box's height: {height} names
        # them all alike, and all but one were silently left out.
        return (
            f"{template!r} needs {{width}}: with --fit {min(b.fit for b in boxes)} every size"
            " has the same height"
        )
    parts = list(string.Formatter().parse(template))
    for (_, before, _, _), (between, after, _, _) in itertools.pairwise(parts):
        joined = not between.strip(string.digits)  # digits join as the size's own would
        if before and after and joined and {before, after} & {"width", "height"}:
            # a.png at 1100 and a1.png at 100 would both be a1100.webp.
            return (
                f"{template!r}: put a separator that is not a digit between {{{before}}}"
                f" and {{{after}}} ({{{before}}}-{{{after}}}): a number beside a name can"
                " read two ways"
            )
    return None


_MARKERS = re.compile(f"{WIDTH_FIELD}|{HEIGHT_FIELD}")


_DIGITS = re.compile(r"(\d+)")  # captured: split keeps the runs
# Past this many runs of digits in a name, only each alone and all at once
# are taken for sizes: 2 ** n forms would cost more than such names are worth.
_MOST_RUNS = 4


@functools.cache
def _choices(runs: int) -> tuple[tuple[int, ...], ...]:
    """Which of `runs` runs of digits `_unsized` masks, form by form."""
    if runs > _MOST_RUNS:
        return (*((i,) for i in range(runs)), tuple(range(runs)))
    return tuple(tuple(i for i in range(runs) if bits >> i & 1) for bits in range(1, 1 << runs))


def _unsized(path: str) -> set[str]:
    """`path`, an output's, as the name patterns that may make it, with `#`
    in their markers' place (`_MARKERS`): itself, and with each choice of
    its runs of digits as `#`, any of which a pattern's size may fill
    (`IMG_320-320.webp` is `IMG_320-#.webp`, as `IMG_320-{width}.webp`
    makes it; `logo-64.webp`, whatever size it was made at, `logo-#.webp`)."""
    pieces = _DIGITS.split(path)  # text, digits, text, digits, ..., text
    runs = len(pieces) // 2
    if runs == 0:
        return {path}
    forms = {path}
    for masked in _choices(runs):
        parts = pieces.copy()
        for i in masked:
            parts[2 * i + 1] = "#"
        forms.add("".join(parts))
    return forms


def _by_form(
    rows: Iterable[tuple[int, str, tuple[OutputRecord, ...]]], row: Callable[[int, str], T]
) -> dict[int, list[T]]:
    """What `row` makes of each cache row (row id, key, outputs), by the
    hashes of its outputs' folded paths (from the cache's root) as the name
    patterns that may make them (`_unsized`)."""
    found: dict[int, list[T]] = {}
    for rowid, key, outputs in rows:
        made = row(rowid, key)
        for output in outputs:
            for form in _unsized(fold(os.path.normpath(output.path))):
                held = found.setdefault(hash(form), [])
                if not held or held[-1] != made:  # a row's outputs come together
                    held.append(made)
    return found


def _records(entry: Entry, planned: str) -> bool:
    """Whether `entry` records an output `planned` (folded, from the cache's
    root; its size markers may be filled) makes."""
    return any(could_be_sized(fold(os.path.normpath(o.path)), planned) for o in entry.outputs)


def _resolved(real: str, head: str, folder: str) -> str:
    """`folder`, a folder named by the size, with its fixed part `head` as
    the system resolves it (`real`): `v{width}` stays one name (`v320`)."""
    rest = folder[len(head) :]
    return os.path.join(real, rest) if head.endswith(os.sep) else real + rest


def source_name(root: str) -> str:
    """What the cache keys of a SOURCE folder's files begin with: its name,
    so keys survive moving or restoring the tree (_as_key)."""
    return _as_key(os.path.basename(os.path.abspath(root)))


def _as_key(name: str) -> str:
    """`name` as the cache's text holds it: itself, or, where it is not
    UTF-8 (an archive's Latin-1 folder), its bytes quoted."""
    return name if is_text(name) else urllib.parse.quote(os.fsencode(name), safe="")


def source_heads(folders: Iterable[str]) -> dict[str, str]:
    """What the cache keys begin with, into an --out, for each of a run's
    SOURCE folders (a file SOURCE's own included), by its absolute path: its
    name, or where another of them has that name too (`cam1/trip` and
    `cam2/trip`), the name with as many folders above it as tell them
    apart, as one name (`cam1%2Ftrip`): their files would share keys, and
    each run would take the other's `a.jpg` for its own, changed."""
    named: dict[str, list[str]] = {}
    for folder in {os.path.abspath(f) for f in folders}:
        # By its head, not its name: a name that is not UTF-8 is quoted
        # (caf\xe9 as caf%E9), which another folder's name may be.
        named.setdefault(head_forms(folder)[0], []).append(folder)
    heads: dict[str, str] = {}
    for group in named.values():
        forms = {folder: head_forms(folder) for folder in group}
        depth = 0
        while len({f[depth] for f in forms.values()}) < len(group):
            depth += 1
        heads.update((folder, f[depth]) for folder, f in forms.items())
    return heads


def head_forms(folder: str) -> list[str]:
    """Every head a run may have given `folder` (source_heads): its name,
    then its name with one folder above, two, ... as one name."""
    parts = os.path.abspath(folder).split(os.sep)
    return [_as_key(parts[-1])] + [
        urllib.parse.quote(os.fsencode("/".join(parts[-depth:])), safe="")
        for depth in range(2, len(parts) + 1)
    ]


def sample_name(template: str, target: Target, src_ext: str = "jpg") -> str:
    """`template` filled in for a source `p/a.SRC_EXT` and `target`, with the
    size fields left as markers."""
    return _render(template, stem="a", target=target, src_ext=src_ext, parent="p")


def _fields(template: str) -> set[str]:
    """The fields `template` names (`stem`, `width`...); ValueError if it is malformed."""
    return {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}


def _render(template: str, *, stem: str, target: Target, src_ext: str, parent: str) -> str:
    return template.format(
        stem=stem,
        ext=target.ext.lstrip("."),
        src_ext=src_ext,
        parent=parent,
        width=WIDTH_FIELD,
        height=HEIGHT_FIELD,
    )


class _Here(NamedTuple):
    """What every file of one folder shares while the folder is planned."""

    folder: Folder
    dest: str  # where its outputs go
    absolute_dest: str
    recorded_dest: str  # dest as the cache records outputs: from its root, "" or "a/b/"
    parent: str  # the folder's own name, for --name "{parent}"
    cache: Cache
    prefix: str  # what its files' cache keys begin with
    keys: dict[str, str]  # file name -> cache key
    entries: dict[str, Entry]  # cache key -> what the cache recorded
    sources: frozenset[str]  # in place, the folder's sources' folded names; else none
    # In place, imgpar's own files in the folder, sorted (see _imgpars):
    # what its sources' outputs may write over.
    imgpars: list[Owned]


class Pending(NamedTuple):
    """What to record in the cache once a task's result comes back."""

    cache: Cache
    key: str
    size: int
    mtime_ns: int
    # What the cache recorded for it before, less what it keeps.
    earlier: tuple[OutputRecord, ...]
    kept: tuple[OutputRecord, ...]  # its outputs that are up to date, not made again
    # The spec's output each of `kept` is, and each of those made: the
    # result lists them all in the spec's order, whichever were kept.
    kept_at: tuple[int, ...] = ()
    made_at: tuple[int, ...] = ()


# A cache's in-flight row: source key, planned output path, its run's start.
Flying = tuple[str, str, int]
_OTHER_NAMES = " (give --name a pattern that makes other names)"
_ONE_NAME = " (names that differ only in case are one name)"


class Planner:
    def __init__(
        self,
        spec: ConvertSpec,
        *,
        out: str | None,
        force: bool,
        template: str | None,
        options_key: str,
        read_only: bool = False,
        previews: int = 0,
        sources: dict[str, str] | None = None,
        own_files: dict[str, str] | None = None,
    ) -> None:
        self._outputs = spec.outputs
        # The run's reports and manifest, as output claims ("the report PATH"):
        # written at the end over whatever has their name.
        self._own_files = {
            claim: f"{kind} {path}"
            for path, kind in (own_files or {}).items()
            for claim in self._claims("", [os.path.abspath(path), os.path.realpath(path)])
        }
        # The SOURCES by real path, into an --out: no output may land in one
        # (through a link in --out, or --out a folder that holds SOURCES),
        # save in that --out where a SOURCE holds it, as its walk skips it.
        self._sources = sources or {}
        # What leads their files' keys in an --out's cache, by absolute path.
        self._head_of = source_heads(folder_of(s) for s in self._sources.values())
        self._heads = frozenset(self._head_of.values())
        # Folders that hold a SOURCE file: an output there lands beside it.
        self._source_folders = {os.path.dirname(inner) for inner in self._sources}
        # The largest size an output may have, for a folder named by it;
        # None where a scale, or no size, leaves it open.
        asked = [
            [r.width, r.height, r.long_edge, r.short_edge]
            for r in (o.resize for o in spec.outputs)
            if r is not None and r.scale is None and not r.upscale
        ]
        self._largest_asked = (
            max((n for sizes in asked for n in sizes if n), default=None)
            if len(asked) == len(spec.outputs)
            else None
        )
        # What it launches is in flight from then: a file's time comes from a
        # coarser clock, which may lag time.time_ns() taken just before it.
        self._started_ns = spec.started_ns or time.time_ns()
        self._targets = tuple(TARGETS[o.target] for o in spec.outputs)
        self._out = out
        self._real_out = os.path.realpath(out) if out is not None else None
        # Where outputs in a folder (a destination, and a folder of a name
        # below it) land, and in which SOURCE: judged once each (`_landing`).
        self._landings: dict[tuple[str, str], tuple[str, str | None] | None] = {}
        # In an --out that runs of other SOURCE folders share, the outputs
        # their sources have (`_outputs_of_other_sources`): claimed as this
        # run's own claims are. Read at the first file.
        self._theirs: dict[int, list[int]] | None = None
        # Those of this run's SOURCES, each row with its SOURCE's name, where
        # it has several: read at the first file whose own row does not
        # record the name it is to take.
        self._run_rows: dict[int, list[tuple[int, str]]] | None = None
        self._force = force
        self._template = template or default_template(spec.outputs)
        fields = _fields(self._template)
        # Whether output names hold their size ({width}, {height}), and folders.
        self._sized_names = bool({"width", "height"} & fields)
        self._nested_names = "/" in self._template or os.sep in self._template
        # Names that hold the source's extension tell a.jpg's outputs from a.png's.
        self._by_extension = "src_ext" in fields
        # Why two sources' outputs would share a name (`_plan_file`'s collisions).
        self._collides = (
            " (from another SOURCE folder, or a name that differs only in case or Unicode form)"
            if "stem" in fields
            else f" (--name {self._template!r} has no {{stem}}: sources share the names it makes)"
        )
        self._options_key = options_key
        # A failure is replayed only under the limits it met: a file over
        # --max-pixels, or cut short, may convert under others.
        self._failure_key = f"{options_key} {spec.max_pixels} {spec.allow_truncated:d}"
        # The settings each output is made with (keys.py). A cache row holds
        # the run's key, those settings (its outputs were all made with them,
        # or kept because they had been) and the JPEG scale they were decoded
        # at: `KEY sSETTINGS... xSCALE`.
        self._settings = tuple(settings_key(spec, o) for o in spec.outputs)
        self._row_options = " ".join((options_key, *dict.fromkeys(self._settings)))
        self._read_only = read_only
        self._previews = previews  # tasks still to carry a thumbnail
        self._target_exts = frozenset(ext for t in self._targets for ext in _extensions(t))
        # Outputs claimed so far across all folders, as hashes of folded paths:
        # two SOURCES can map into one output folder, and memory must stay small.
        self._claimed: set[int] = set()
        # The folders they go in, likewise, up to the cache's root: a file
        # may not have a folder's name (`b.webp`, `B.webp/y.webp`), which a
        # case-insensitive disk cannot hold beside it. Into an --out only:
        # in place the folders are there already. The destinations whose
        # folders are claimed.
        self._folders: set[int] = set()
        self._dests_claimed: set[str] = set()
        self.caches: dict[str, Cache] = {}
        # The in-place caches of other runs over this run's SOURCE trees (an
        # --out run's, or a subfolder's of an in-place run), only read: which
        # files there are outputs of in-place runs, not sources.
        self.read_caches: dict[str, Cache] = {}
        self._in_place_at: dict[str, tuple[str, ...]] = {}  # _in_place_caches_of
        self._flying: set[Cache] = set()  # the caches `launch` wrote to
        # Per other run's cache: its version, and its in-flight rows by place.
        self._theirs_flying: dict[str, tuple[int | None, dict[str, list[Flying]]]] = {}
        # Per cache, the keys of sources failed while their worker may still
        # write (`Result.loose`): still in flight at the end.
        self._unlanded: dict[Cache, set[str]] = {}
        self._written_in: set[str] = set()  # glob patterns of the folders launched tasks write in
        # Every file of a folder asks for the same few absolute folders: worth
        # remembering on a 100,000-file tree (per planner: the cwd may change).
        self._absolute = functools.lru_cache(maxsize=1024)(os.path.abspath)
        self._real = functools.lru_cache(maxsize=64)(os.path.realpath)
        self.pending: dict[str, Pending] = {}  # display path -> cache record to make
        self.places: set[str] = set()  # the folders outputs are planned in, absolute
        # The folders of an --out a file was launched into that were not there
        # then, and those above them not there either, as the kernel resolves
        # them (`lnk/../x`): a worker killed mid-write leaves the ones it made
        # empty, for a stopped run to remove (remove_emptied_new_places).
        self._new_places: set[str] = set()
        # Under --check: what sources that make nothing now made before, to
        # be superseded by a run.
        # (cache, key, outputs) of sources that will no longer make those outputs.
        self.unmade: list[tuple[Cache, str, tuple[OutputRecord, ...]]] = []
        # In place, per (cache root, key prefix of a folder): the names of its
        # sources' outputs in the folders below it, by folder.
        self._below: dict[tuple[str, str], dict[str, list[Owned]]] = {}
        # In place, per (cache root, key prefix, folder below): _imgpars.
        self._imgpars_below: dict[tuple[str, str, str], list[Owned]] = {}
        # Per (cache root, folder named by the size): the folders that fit
        # it (_places_fitting).
        self._fitting: dict[tuple[str, str], list[str]] = {}
        # Per (cache root, folder): the superseded outputs there, still as
        # imgpar wrote them.
        self._left: dict[tuple[str, str], list[Owned]] = {}
        # Per cache root: superseded outputs by folder, (path, size, mtime_ns).
        self._superseded: dict[str, dict[str, list[tuple[str, int, int]]]] = {}
        # Per (cache root, SOURCE name in its keys): [sources it recorded
        # before this run, those this run found]; fewer found, some are gone.
        self._tally: dict[tuple[str, str], list[int]] = {}
        # Into an --out, per (cache root, folder's key prefix): the sources
        # recorded there that this run found.
        self._found_in: dict[tuple[str, str], int] = {}

    def plan(self, folder: Folder) -> Iterator[Task | Result]:
        dest = os.path.join(self._out, folder.rel) if self._out else folder.path
        in_place = same_folder(dest, folder.path)
        if dest == os.curdir:
            dest = ""  # outputs named as their sources are: `a.webp`, not `./a.webp`
        cache = self._cache(folder)
        prefix = self._key_prefix(folder, cache)
        if not is_text(prefix):
            for name in folder.names:
                yield _not_text(os.path.normpath(os.path.join(folder.path, name)))
            return
        keys = {name: f"{prefix}{name}" for name in folder.names}
        if in_place:
            # Every source recorded in this folder, those gone since too:
            # the outputs of each are imgpar's, never sources.
            recorded = cache.in_folder(prefix)
            entries = {key: recorded[key] for key in keys.values() if key in recorded}
        else:
            texts = [k for k in keys.values() if k.isascii() or is_text(k)]
            # Under --force too: what each source made before is the
            # engine's to keep if a Ctrl-C stops its rewrite (Task.earlier).
            entries = cache.lookup(texts)
        head = prefix.split("/", 1)[0]
        tally = self._tally.get((cache.root, head))
        if tally is None:
            tally = self._tally[(cache.root, head)] = [cache.count(head), 0]
        tally[1] += len(entries)
        if not in_place:
            self._found_in[(cache.root, prefix)] = len(entries)
        names = folder.names
        parent = os.path.basename(self._absolute(folder.path))
        imgpars: list[Owned] = []
        others: tuple[str, ...] = ()  # in place, the folder's images not named as SOURCES
        if in_place:
            # Outputs of earlier runs sit beside their sources, whatever
            # format those runs wrote (a JPEG source of a WebP run, in place,
            # is skipped by a JPEG run, but its .webp is still no source);
            # the cache tells them apart from the user's own files.
            imgpars = self._imgpars_here(folder, cache, prefix, recorded)
            theirs = self._other_in_place_outputs(folder, cache)
            if theirs:
                imgpars = sorted(imgpars + theirs)
            # Changed since imgpar wrote it (another size), an output is the
            # user's: a source now, as a later run would find it, save most
            # in a target's format (`_stays_out`).
            listed = images_in(folder.path) if folder.named else names
            here_now = {fold(n) for n in listed}
            ours = {
                fold(n)
                for n, size in imgpars
                if fold(n) not in here_now
                or as_recorded(os.path.join(folder.path, n), size) is not None
                or self._stays_out(n, parent)
            }
            names = tuple(n for n in names if fold(n) not in ours)
            # Beside files named as SOURCES, the folder's other images are
            # the user's all the same: never written over, and named around
            # as a run on the whole folder would.
            if folder.named:
                others = tuple(n for n in listed if n not in names and fold(n) not in ours)
        else:
            # An --out run over a tree converted in place: the outputs of
            # that are imgpar's too, never sources.
            theirs = {fold(n) for n, _ in self._other_in_place_outputs(folder)}
            if theirs:
                names = tuple(n for n in names if fold(n) not in theirs)
        sources = frozenset(fold(n) for n in (*names, *others)) if in_place else frozenset()
        absolute_dest = self._absolute(dest)
        recorded_dest = os.path.relpath(absolute_dest, self._absolute(cache.root))
        recorded_dest = "" if recorded_dest == os.curdir else f"{recorded_dest}{os.sep}"
        here = _Here(folder, dest, absolute_dest, recorded_dest, parent, cache, prefix, keys,
                     entries, sources, imgpars)  # fmt: skip
        self.places.add(here.absolute_dest)
        split = {name: os.path.splitext(name) for name in names}
        folded = {name: fold(stem) for name, (stem, _) in split.items()}
        stems = Counter(folded.values())
        stems.update(fold(os.path.splitext(n)[0]) for n in others)
        for name in names:
            stem, ext = split[name]
            # A stem shared by siblings (a.jpg, a.png) keeps the whole name,
            # unless the names hold the extension already ({src_ext}).
            shared = stems[folded[name]] > 1 and not self._by_extension
            yield self._plan_file(here, name, name if shared else stem, ext)

    def _unmade(self, cache: Cache, key: str, entry: Entry | None) -> None:
        """A source that makes nothing now (already in the target format, in
        place): what it made before is superseded, for --prune; under
        --check, only told (`unmade`)."""
        if entry is None or not entry.outputs:
            return
        if self._read_only:
            self.unmade.append((cache, key, entry.outputs))
            return
        for output in entry.outputs:
            _supersede(cache, output)
        cache.forget(key)

    def _imgpars_here(
        self, folder: Folder, cache: Cache, prefix: str, recorded: dict[str, Entry]
    ) -> list[Owned]:
        """In place, imgpar's own files in `folder`, sorted: the
        outputs its sources (`recorded`, under `prefix`) put there, and what
        _imgpars adds. Where they put outputs below it (`{width}/...`,
        `web/...`) is kept for the folders below."""
        place = self._place(folder, cache)
        below = _by_place(recorded.values())
        own = below.pop(place, [])
        self._below[(cache.root, prefix)] = below
        return sorted(own + self._gathered(cache, prefix, place))

    def _other_in_place_outputs(self, folder: Folder, own: Cache | None = None) -> list[Owned]:
        """imgpar's files in `folder` that other in-place runs recorded
        there: a subfolder converted on its own, the tree above it (every
        in-place cache at or above it but the run's own, `own`)."""
        # By its SOURCE's real path (a link to a folder of the tree is still
        # in it), resolved once per SOURCE rather than once per folder.
        real = self._real(folder.root)
        if folder.rel:
            real = os.path.join(real, folder.rel)
        found: list[Owned] = []
        besides = self._real(own.root) if own is not None else None
        for root in self._in_place_caches_of(real):
            if root == besides:
                continue
            cache = self.read_caches.get(root)
            if cache is None:
                cache = self.read_caches[root] = Cache(root, home=os.path.basename(root))
            rel = os.path.relpath(real, root)
            there = Folder(root, "" if rel == os.curdir else rel, folder.names)
            prefix = self._key_prefix(there, cache)
            # What that run has in flight here first, and then what it
            # recorded: a file it wrote is in one or the other.
            self._left_in(cache, self._place(there, cache))
            found += self._imgpars_here(there, cache, prefix, cache.in_folder(prefix))
        return found

    def launch(self, tasks: Iterable[Task]) -> None:
        """Record the outputs in-place `tasks` will write as in flight,
        before any worker may write them (`Cache.mark_in_flight`)."""
        from imgpar.temps import temp_file_places

        tasks = list(tasks)
        self._written_in.update(temp_file_places(tasks))
        if self._out is not None:
            root = os.path.realpath(self._out)
            for folder in {os.path.dirname(p) for task in tasks for p in task.outputs}:
                # Above a folder named by the output's size (`{width}/`).
                head = fixed_head(folder)
                fixed = folder if head == folder else os.path.dirname(head)
                self._note_new_place(os.path.realpath(fixed), root)
        launched: dict[Cache, list[tuple[str, list[str]]]] = {}
        for task in tasks:
            pending = self.pending.get(task.display)
            if task.replaceable is None or pending is None:
                continue
            root = pending.cache.root
            written = [p for i, p in enumerate(task.outputs) if not task.keep >> i & 1]
            outputs = [_relative(path, root) for path in dict.fromkeys(written)]
            launched.setdefault(pending.cache, []).append((pending.key, outputs))
        for cache, rows in launched.items():
            cache.mark_in_flight(rows, self._started_ns)
            self._flying.add(cache)

    def end_flights(self) -> None:
        """The run is over: what it had in flight and recorded is forgotten.
        A source launched and never recorded (the run stopped early), or
        failed while its worker may still write (`Result.loose`), stays in
        flight: its worker may have written outputs no one removed (a
        chunk's results given up, a Dask worker finishing its file after a
        timeout or a lost scheduler). The
        temporary files of workers gone (a run killed outright before it)
        are removed from the folders it wrote in, and, where it wrote
        anything, from every folder it would have: a killed run's files
        are converted again, maybe elsewhere, and its leftovers failed
        --check while the run that followed said nothing of them."""
        still: dict[Cache, set[str]] = {c: set(keys) for c, keys in self._unlanded.items()}
        for pending in self.pending.values():
            still.setdefault(pending.cache, set()).add(pending.key)
        for cache in self._flying:
            cache.clear_in_flight(self._started_ns, but=still.get(cache, set()))
        if self._written_in:
            from imgpar.temps import remove_abandoned

            written = (f for pattern in self._written_in for f in glob.glob(pattern))
            remove_abandoned([*written, *self.places])

    def _in_place_caches_of(self, path: str) -> tuple[str, ...]:
        """The folders at or above `path` whose caches were kept in place,
        nearest first; remembered per folder. Up to the nearest folder
        remembered, then down again: a loop, as a tree 1,000 folders deep
        passed Python's recursion limit."""
        unknown: list[str] = []
        while (found := self._in_place_at.get(path)) is None:
            unknown.append(path)
            above = os.path.dirname(path)
            if above == path:
                found = ()
                break
            path = above
        for folder in reversed(unknown):
            if kind_of_cache(folder) == "in place":
                found = (folder, *found)
            self._in_place_at[folder] = found
        return found

    def _imgpars(self, here: _Here, place: str) -> list[Owned]:
        """In place, imgpar's own files in `place` (the folder's own, or one
        below it), sorted."""
        if place == here.recorded_dest[:-1]:  # in place, the folder's own
            return here.imgpars
        key = (here.cache.root, here.prefix, place)
        names = self._imgpars_below.get(key)
        if names is None:
            rel = os.path.join(here.folder.rel, place[len(here.recorded_dest) :])
            below = Folder(here.folder.root, rel, ())
            gathered = self._gathered(here.cache, here.prefix, place)
            names = sorted(gathered + self._other_in_place_outputs(below, here.cache))
            self._imgpars_below[key] = names
        return names

    def _gathered(self, cache: Cache, prefix: str, place: str) -> list[Owned]:
        """The outputs in `place` that sources of the folder of
        `prefix` and of the folders above it put there, and of superseded
        outputs still there as imgpar wrote them."""
        names = list(self._left_in(cache, place))
        for above in _folder_and_above(prefix):
            names += self._placed_below(cache, above).get(place, [])
        return names

    def _places_fitting(self, here: _Here, folder: str) -> list[str]:
        """The folders (from the cache's root) named as `folder`, a folder
        named by the size, where `here`'s outputs may meet imgpar's files:
        those there are. Once per folder and pattern."""
        key = (here.cache.root, folder)
        places = self._fitting.get(key)
        if places is None:
            root = here.cache.root
            found = on_disk(os.path.join(root, folder))
            places = sorted(os.path.relpath(p, root) for p in found if os.path.isdir(p))
            self._fitting[key] = places
        return places

    def _place(self, folder: Folder, cache: Cache) -> str:
        """`folder` from the cache's root, as the cache records places: "" for the root."""
        place = os.path.relpath(folder.path, cache.root)
        return "" if place == os.curdir else place

    def _placed_below(self, cache: Cache, prefix: str) -> dict[str, list[Owned]]:
        """Where the outputs of the sources recorded under `prefix` are, by
        folder: remembered as the walk leaves a folder for those below it,
        else (a folder with no images now) read from the cache once."""
        found = self._below.get((cache.root, prefix))
        if found is None:
            found = self._below[(cache.root, prefix)] = _by_place(cache.in_folder(prefix).values())
        return found

    def _into_a_source(self, here: _Here, written: Sequence[str]) -> str | None:
        """Why an output of `written` may not be written, where it lands in
        a SOURCE (`--out photos --name '2024/{stem}.{ext}'` of `photos/2024`,
        a link in --out to a SOURCE's folder, or a folder named by the size):
        over a source, or beside them, where a later run would take it for one."""
        for name in written:
            at = (here.absolute_dest, os.path.dirname(name))
            if at not in self._landings:
                if len(self._landings) > 4096:  # a huge tree: forget the folders behind
                    self._landings.clear()
                self._landings[at] = self._landing(os.path.join(*at) if at[1] else at[0])
            landing = self._landings[at]
            if landing is None:
                continue  # the usual case, told apart once a folder
            real, holder = landing
            folder, base = os.path.split(os.path.join(here.absolute_dest, name))
            sized_folder = WIDTH_FIELD in folder or HEIGHT_FIELD in folder
            path = os.path.join(real, base)
            shown = as_template(os.path.join(here.dest, name))
            hint = (
                " (through a link in the output folder)"
                if self._linked(fixed_head(folder) if sized_folder else folder, real)
                else _OTHER_NAMES
            )
            if path in self._sources:
                return f"its output would overwrite a source: {shown}{hint}"
            if holder is None:
                continue
            source = self._sources[holder]
            if not sized_folder and os.path.lexists(path):
                return f"its output would overwrite {shown}, in SOURCE {source}{hint}"
            return (
                f"its output would be written inside SOURCE {source}, where a later"
                f" run would take it for a source: {shown}{hint}"
            )
        return None

    def _landing(self, folder: str) -> tuple[str, str | None] | None:
        """Where outputs in `folder` (absolute; one named by the size too)
        land, as the system resolves it (a link inside --out; a folder named
        by the size, as far as its fixed part goes, and then by the sizes it
        may be filled with: `{width}/` of `photos/300`, not of `photos/2024`
        at --width 320), and the SOURCE (real path) they land in, if any;
        None where no output there can touch a SOURCE, which most folders are.
        Not the --out a SOURCE holds, which its walk skips."""
        sized = WIDTH_FIELD in folder or HEIGHT_FIELD in folder
        head = fixed_head(folder) if sized else folder
        real = self._real(head)
        holder = None
        if sized:
            filled = _resolved(real, head, folder)
            for inner in self._sources:
                inside = real == inner or below(real, inner) or below(real + os.sep, inner)
                if (inside or self._sized_as(filled, inner)) and not self._skipped_in(inner, real):
                    holder = inner
                    break
        else:
            # The SOURCE that holds `real` is one of its ancestors (SOURCES
            # never nest): a look-up each, not a scan of every SOURCE.
            holders = (a for a in _and_above(real) if a in self._sources)
            holder = next((a for a in holders if not self._skipped_in(a, real)), None)
        beside = real in self._source_folders  # a SOURCE file's
        return None if holder is None and not beside else (real, holder)

    def _theirs_in(self, here: _Here, name: str, written: Sequence[str]) -> str | None:
        """The first of the outputs named `written` that a source of another
        SOURCE folder has in a shared --out (`convert assets --out web`, then
        `convert content --out web`, each with a logo.png), as its cache row
        records them, or None; one of another of the run's SOURCES too, for
        a file new to its own (walked first, it took the other's name on the
        site). Not one of the same image made with the same options: the
        same bytes, which both may have (a logo in two folders, a SOURCE
        folder renamed)."""
        if self._theirs is None:
            self._theirs = self._outputs_of_other_sources(here.cache)
        several = len(self._heads) > 1
        if not (self._theirs or several):
            return None  # most runs: one SOURCE, alone in its --out
        head = here.prefix.partition("/")[0]
        own = here.entries.get(here.keys[name])
        for output in written:
            planned = fold(os.path.normpath(here.recorded_dest + output))
            form = hash(_MARKERS.sub("#", planned))
            rows = self._theirs.get(form, [])
            if several and not (own is not None and _records(own, planned)):
                if self._run_rows is None:
                    self._run_rows = self._outputs_of_run_sources(here.cache)
                rows = rows + [r for r, h in self._run_rows.get(form, ()) if h != head]
            for rowid in rows:
                entry = here.cache.row(rowid)
                if entry is None or not _records(entry, planned):
                    continue
                if entry.options.startswith(self._options_key) and self._same_image(
                    here, name, entry
                ):
                    continue
                return output
        return None

    def _same_image(self, here: _Here, name: str, other: Entry) -> bool:
        """Whether the source `name` holds the image `other` records: by its
        own row's digest where it is unchanged, else read (only where the
        sizes agree)."""
        try:
            st = os.stat(os.path.join(here.folder.path, name))
        except OSError:
            return False
        if st.st_size != other.size:
            return False
        own = here.entries.get(here.keys[name])
        if own is not None and (own.size, own.mtime_ns) == (st.st_size, st.st_mtime_ns):
            return own.digest == other.digest
        try:
            return digest_file(os.path.join(here.folder.path, name)) == other.digest
        except OSError:
            return False

    def _outputs_of_other_sources(self, cache: Cache) -> dict[int, list[int]]:
        """The rows of other SOURCE folders' sources in the --out's cache, by
        the hashes of their outputs' folded paths, as recorded and as the
        patterns that may make them (`_unsized`): about half a kilobyte and
        15 us an output, once a run."""
        if self._out is None or not self._sources:
            return {}
        return _by_form(cache.outputs_beyond(self._heads), lambda rowid, _: rowid)

    def _outputs_of_run_sources(self, cache: Cache) -> dict[int, list[tuple[int, str]]]:
        """As `_outputs_of_other_sources`, the rows of this run's SOURCES,
        each with its SOURCE's name (its key's head)."""
        rows = cache.outputs_beyond(self._heads, within=True)
        return _by_form(rows, lambda rowid, key: (rowid, key.partition("/")[0]))

    def _linked(self, folder: str, real: str) -> bool:
        """Whether a link in the --out leads `folder` (absolute) to `real`,
        rather than one on the way to the --out (macOS's /tmp)."""
        if self._out is None or self._real_out is None:
            return False
        inside_out = os.path.relpath(folder, self._absolute(self._out))
        return real != os.path.normpath(os.path.join(self._real_out, inside_out))

    def _skipped_in(self, inner: str, real: str) -> bool:
        """Whether the folder `real` is in the --out, itself in SOURCE
        `inner`, whose walk skips it (`--out site/_gen` of `site`)."""
        out = self._real_out
        return out is not None and below(out, inner) and (real == out or below(real, out))

    def _sized_as(self, folder: str, inner: str) -> bool:
        """Whether a folder named by the size (`folder`, with its markers)
        may come out as `inner` or a folder inside it, at a size this run may
        write: at most the largest asked for, or any where a scale is asked."""
        if not any(could_be_sized(inner, f) for f in _and_above(folder)):
            return False
        most = self._largest_asked
        if most is None:
            return True
        numbers = [int(n) for n in re.findall(r"\d+", inner[len(fixed_head(folder)) :])]
        return any(n <= most for n in numbers)

    def _plan_file(self, here: _Here, name: str, stem: str, ext: str) -> Task | Result:
        source = os.path.join(here.folder.path, name)
        display = os.path.normpath(source)
        if not (name.isascii() or is_text(name)):
            return _not_text(display)
        names = self._names(here.parent, stem, ext)
        # In place, a source already in a target's format does not make the
        # output that would take its place.
        replaced = self._replaced(name, names) if here.sources else frozenset()
        # Read on every run: a cache row says nothing of an earlier run's
        # targets (`--to webp`, then `--to jpeg,webp`).
        if replaced and (misnamed := self._misnamed(source, name, replaced)) is not None:
            return Result(source=display, status="failed", error=misnamed)
        if len(replaced) == len(self._outputs):
            key = here.keys[name]
            self._unmade(here.cache, key, here.entries.get(key))
            return Result(source=display, status="skipped", notes=(IN_TARGET_FORMAT,))
        written = _written(names, replaced) if replaced else names
        claims = self._claims(here.absolute_dest, written)
        theirs = self._theirs_in(here, name, written)
        clash = not self._claimed.isdisjoint(claims)
        recorded = theirs is not None and not clash
        if (theirs is not None or clash) and stem != name:
            stem = name
            names = self._names(here.parent, stem, ext)
            if replaced:
                # Under the longer name, an output may no longer replace it.
                replaced = self._replaced(name, names)
            written = _written(names, replaced)
            claims = self._claims(here.absolute_dest, written)
            theirs = self._theirs_in(here, name, written)
        source_hit = next((n for n in written if fold(n) in here.sources), None)
        if source_hit is not None:
            # A name template that gives a source's own name: written, it
            # would replace that source.
            return Result(
                source=display,
                status="failed",
                error="its output would overwrite a source:"
                f" {os.path.join(here.dest, _spelled(here.folder.path, source_hit))}"
                + _OTHER_NAMES,
            )
        trespass = self._into_a_source(here, written) if self._sources else None
        if trespass is not None:
            return Result(source=display, status="failed", error=trespass)
        own = None
        if self._own_files:
            # Spelled, and as the system resolves the folder (`--out` a link).
            real = self._claims(self._real(here.absolute_dest), written)
            own = next((self._own_files[c] for c in claims | real if c in self._own_files), None)
        if own is not None:
            return Result(
                source=display,
                status="failed",
                error=f"its output would be overwritten by the run's {own}{_OTHER_NAMES}",
            )
        if theirs is not None or not self._claimed.isdisjoint(claims):
            taken = theirs or self._first_in(self._claimed, here, written)
            shown = as_template(os.path.join(here.dest, taken))
            # Sizes are known once decoded: the name is told as its pattern.
            what = (
                "output names collide with another source's outputs, at every size:"
                if WIDTH_FIELD in taken or HEIGHT_FIELD in taken
                else "output name collides with another source's output:"
            )
            return Result(source=display, status="failed", error=f"{what} {shown}{self._collides}")
        if not here.sources and not self._folders.isdisjoint(claims):
            taken = self._first_in(self._folders, here, written)
            shown = as_template(os.path.join(here.dest, taken))
            why = f"output name is a folder of another source's outputs: {shown}{_ONE_NAME}"
            return Result(source=display, status="failed", error=why)
        # In place, the folders are the SOURCE's own, there whatever it makes.
        if not here.sources and (
            self._nested_names or here.absolute_dest not in self._dests_claimed
        ):
            folders = self._output_folders(here, written)
            taken_folder = next((f for h, f in folders if h in self._claimed), None)
            if taken_folder is not None:
                why = f"its output folder {taken_folder} has the name of another source's output"
                return Result(source=display, status="failed", error=why + _ONE_NAME)
            self._folders.update(h for h, _ in folders)
            self._dests_claimed.add(here.absolute_dest)
        self._claimed.update(claims)
        extension = KEPT_FOR_RECORDED if recorded else KEPT_EXTENSION
        notes = (extension,) if stem == name and ext else ()  # not a name with none
        if replaced:
            notes += (PARTLY_IN_TARGET,)
        try:
            st = os.stat(source)
        except FileNotFoundError:
            # As a worker says it, where the file goes after its planning.
            return Result(source=display, status="failed", error=VANISHED)
        except OSError as exc:
            return Result(source=display, status="failed", error=why_unreadable(exc))
        if not stat.S_ISREG(st.st_mode):
            # Named as a SOURCE: reading a FIFO waits for a writer, and a
            # device never ends.
            why = NOW_A_FOLDER if stat.S_ISDIR(st.st_mode) else NOT_REGULAR
            return Result(source=display, status="failed", error=why)
        cache, key = here.cache, here.keys[name]
        entry = here.entries.get(key)
        kept: dict[int, OutputRecord] = {}
        if entry is not None and not self._force and self._unchanged(cache, key, entry, source, st):
            done = self._current_outputs(here, names, entry)
            if done is None:
                kept = self._reusable(here, names, entry)
                if len(kept.keys() | replaced) == len(self._outputs):
                    done = self._settle(cache, key, entry, st, kept)
            if done is not None:
                return Result(
                    source=display,
                    status="skipped",
                    outputs=done,
                    source_bytes=st.st_size,
                    width=entry.width,
                    height=entry.height,
                    notes=notes,
                )
        first_at: dict[OutputRecord, int] = {}
        for i, record in sorted(kept.items()):
            first_at.setdefault(record, i)
        keeps = tuple(first_at)
        earlier = tuple(o for o in entry.outputs if o not in keeps) if entry is not None else ()
        made_at = tuple(i for i in range(len(self._outputs)) if i not in kept and i not in replaced)
        self.pending[display] = Pending(
            cache, key, st.st_size, st.st_mtime_ns, earlier, keeps, tuple(first_at.values()),
            made_at,
        )  # fmt: skip
        self._previews -= 1
        outputs = tuple(os.path.join(here.dest, n) for n in names)
        return Task(
            source=source,
            display=display,
            outputs=outputs,
            source_bytes=st.st_size,
            notes=notes,
            preview=self._previews >= 0,
            keep=sum(1 << i for i in kept.keys() | replaced) if kept or replaced else 0,
            replaceable=self._replaceable(here, written) if here.sources else None,
            earlier=tuple((os.path.join(cache.root, o.path), o.bytes) for o in earlier),
        )

    def record(self, result: Result) -> Result:
        """Remember a finished task's outputs; failures are never recorded as
        done. Returns the result with the outputs its task kept, if any."""
        pending = self.pending.pop(result.source, None)
        # Only what the file itself caused, as a worker found it: not a
        # timeout, a dead worker, a lost cluster (no worker behind those
        # results) or a full disk, which another run may not meet.
        judged = result.status == "failed" and result.worker and not result.fatal
        judged = judged and not refused(result.error)
        if pending is not None and result.loose:
            # A Dask worker that could not be stopped, or one the lost
            # scheduler no longer speaks for, may still write its outputs:
            # they stay in flight, for the next run to take as imgpar's.
            self._unlanded.setdefault(pending.cache, set()).add(pending.key)
        if pending is not None and judged:
            pending.cache.fail(pending.key, pending.size, pending.mtime_ns, self._failure_key,
                               result.error or "")  # fmt: skip
        if pending is None or result.status != "converted" or not result.digest:
            return result
        root = pending.cache.root
        outputs = pending.kept + tuple(
            OutputRecord(
                path=_relative(o.path, root),
                format=o.format,
                width=o.width,
                height=o.height,
                bytes=o.bytes,
            )
            for o in result.outputs
        )
        pending.cache.put(
            pending.key,
            Entry(pending.size, pending.mtime_ns, result.digest,
                  f"{self._row_options} x{result.shrink}", outputs, result.width, result.height),
        )
        made = {o.path for o in outputs}
        for old in pending.earlier:
            if old.path not in made:
                _supersede(pending.cache, old)
        if not pending.kept:
            return result
        placed = [*zip(pending.kept_at, (_placed(root, o) for o in pending.kept), strict=True)]
        if len(pending.made_at) == len(result.outputs):
            placed += zip(pending.made_at, result.outputs, strict=True)
            ordered = tuple(o for _, o in sorted(placed, key=lambda p: p[0]))
        else:  # not every output made (none should be missing): as they came
            ordered = tuple(o for _, o in placed) + result.outputs
        return result._replace(outputs=ordered, notes=(*result.notes, KEPT_OUTPUTS))

    def known_failure(self, task: Task) -> str | None:
        """Why a planned task failed last time, if its source is unchanged since."""
        pending = self.pending.get(task.display)
        if pending is None:
            return None
        return pending.cache.failure(pending.key, pending.size, pending.mtime_ns,
                                     self._failure_key)  # fmt: skip

    def walked_whole(self, cache: Cache) -> set[str]:
        """The folders (their keys' prefix) of an --out's `cache` in which this
        run found every source it records: none of those is gone, and the
        count of outputs left behind need not look for each on disk."""
        return {
            prefix
            for prefix, n in cache.count_by_folder().items()
            if self._found_in.get((cache.root, prefix)) == n
        }

    def _note_new_place(self, place: str, root: str) -> None:
        while below(place, root) and place not in self._new_places and not os.path.isdir(place):
            self._new_places.add(place)
            place = os.path.dirname(place)

    def remove_emptied_new_places(self) -> None:
        """After a run stopped with files in hand, remove the folders of its
        --out not there when their files were launched that are empty now,
        deepest first: a worker killed mid-write (a Ctrl-C, another file's
        full disk) made them for nothing. Not one that was there then: it
        may be the user's."""
        for folder in sorted(self._new_places, key=len, reverse=True):
            with contextlib.suppress(OSError):  # not empty, or never made
                os.rmdir(folder)

    def may_leave_outputs(self) -> bool:
        """Whether outputs no source makes now may be left, found cheaply:
        the caches recorded sources this run did not find (gone or renamed),
        or hold outputs their sources no longer make. (Read from the caches,
        which are reopened: close them again after.)"""
        return any(found < recorded for recorded, found in self._tally.values()) or any(
            cache.has_superseded() for cache in self.caches.values()
        )

    def _unchanged(
        self, cache: Cache, key: str, entry: Entry, source: str, st: os.stat_result
    ) -> bool:
        """Whether the source is as `entry` recorded it, and some of what
        that row says may still hold for this run."""
        if entry.size != st.st_size:
            return False
        if " " not in entry.options and entry.options != self._options_key:
            return False  # another run's row from before outputs had settings
        if entry.mtime_ns != st.st_mtime_ns:
            # Touched, copied or restored from a CI cache: the content decides.
            try:
                if digest_file(source) != entry.digest:
                    return False
            except OSError:
                return False
            if not self._read_only:
                cache.touch(key, st.st_mtime_ns)
        return True

    def _current_outputs(
        self, here: _Here, names: Sequence[str], entry: Entry
    ) -> tuple[OutputRecord, ...] | None:
        """The recorded outputs, where they are now, when this run's options
        made them, under the names it gives them now (a sibling of the same
        name since, and they keep the source extension), and they all still
        are as written; else None."""
        if not entry.options.startswith(self._options_key):  # keys are of one length
            return None
        root = here.cache.root
        if self._sized_names:
            if not all(self._named(here, names, o) for o in entry.outputs):
                return None
        elif not {o.path for o in entry.outputs} <= {here.recorded_dest + n for n in names}:
            return None
        outputs = tuple(_placed(root, o) for o in entry.outputs)
        if any(as_recorded(o.path, o.bytes) is None for o in outputs):
            return None
        return outputs

    def _named(self, here: _Here, names: Sequence[str], output: OutputRecord) -> bool:
        """Whether a recorded output has a name this run gives: one of
        `names`, with the output's own size in place of its size markers."""
        if output.width is None or output.height is None:
            return False
        size = output.width, output.height
        return any(output.path == here.recorded_dest + sized(n, size) for n in names)

    def _reusable(
        self, here: _Here, names: Sequence[str], entry: Entry
    ) -> dict[int, OutputRecord]:
        """The recorded outputs this run would write again as they are, by
        output: made with its settings, at the size this source gives it and
        the name this run gives it, and still as written."""
        settings, shrink = _made_with(entry.options)
        if not settings or shrink is None or entry.width is None or entry.height is None:
            return {}
        displayed = entry.width, entry.height
        layouts = [geometry.layout(displayed, output.resize) for output in self._outputs]
        scale = geometry.jpeg_scale(displayed, geometry.draft_target(displayed, layouts))
        if shrink and scale != shrink:
            # A run that made them all would decode at another scale: pixels
            # that differ a little, for outputs that must not depend on
            # which ran before.
            return {}
        root = here.cache.root
        recorded = {o.path: o for o in entry.outputs}
        kept: dict[int, OutputRecord] = {}
        made = zip(self._targets, self._settings, layouts, names, strict=True)
        for i, (target, made_with, (size, _), name) in enumerate(made):
            if made_with not in settings:
                continue
            found = recorded.get(here.recorded_dest + sized(name, size))
            if (
                found is not None
                and found.format == target.pil_format
                and (found.width, found.height) == size
                and as_recorded(os.path.join(root, found.path), found.bytes) is not None
            ):
                kept[i] = found
        return kept

    def _settle(
        self,
        cache: Cache,
        key: str,
        entry: Entry,
        st: os.stat_result,
        kept: dict[int, OutputRecord],
    ) -> tuple[OutputRecord, ...]:
        """A source all of whose outputs this run are already there (a format or
        width dropped since): its row now says this run's options, and what
        else it made is superseded (under --check, only told). Returns its
        outputs, where they are now."""
        outputs = tuple(dict.fromkeys(kept.values()))
        dropped = tuple(o for o in entry.outputs if o not in outputs)
        if self._read_only:
            if dropped:
                self.unmade.append((cache, key, dropped))
        else:
            for output in dropped:
                _supersede(cache, output)
            options = f"{self._row_options} x{_made_with(entry.options)[1]}"
            cache.put(key, entry._replace(mtime_ns=st.st_mtime_ns, options=options,
                                          outputs=outputs))  # fmt: skip
        return tuple(_placed(cache.root, o) for o in outputs)

    def _replaceable(self, here: _Here, written: Sequence[str]) -> tuple[Owned, ...]:
        """In place, imgpar's own files that the outputs named `written` may
        write over, as the task names them, with the size imgpar wrote: the
        worker refuses any other file in their way (a user's own `a-320.webp`
        beside `a.jpg`, or `320/a.webp` under `--name '{width}/{stem}.{ext}'`),
        and one of imgpar's that has changed since."""
        mine: list[Owned] = []
        for n in written:
            folder, base = os.path.split(here.recorded_dest + n)
            places = [folder]
            if WIDTH_FIELD in folder or HEIGHT_FIELD in folder:
                places = self._places_fitting(here, folder)
            head = fixed_head(base)
            for place in places:
                below = place[len(here.recorded_dest) :]
                mine += [
                    (os.path.join(here.dest, below, name), size)
                    for name, size in _beginning(self._imgpars(here, place), head, _name)
                    if could_be_sized(name, base)
                ]
        return tuple(mine)

    def _left_in(self, cache: Cache, place: str) -> list[Owned]:
        """The outputs in `place` (from the cache's root) that
        their sources no longer make and that are still as imgpar wrote them:
        imgpar's files for --prune, never a later run's sources. Changed
        since, they are the user's."""
        key = (cache.root, place)
        names = self._left.get(key)
        if names is None:
            rows = self._superseded_in(cache).get(place, [])
            if not self._ours(cache):
                # Another run's, which may be converting now: what it has in
                # flight is read as each folder is, after its listing, not
                # once (an output it wrote since was a source here).
                rows = rows + self._left_in_flight(cache, self._flying_in(cache, place))
            names = self._left[key] = [
                (os.path.basename(relative), size)
                for relative, size, _ in rows
                if as_recorded(os.path.join(cache.root, relative), size) is not None
            ]
        return names

    def _superseded_in(self, cache: Cache) -> dict[str, list[tuple[str, int, int]]]:
        """The cache's superseded outputs (path, size, mtime) by folder, with,
        in the run's own, those a run killed outright left in flight; read once."""
        found = self._superseded.get(cache.root)
        if found is None:
            found = self._superseded[cache.root] = {}
            flying = self._left_in_flight(cache) if self._ours(cache) else []
            for row in (*cache.superseded(), *flying):
                found.setdefault(os.path.dirname(row[0]), []).append(row)
        return found

    def _ours(self, cache: Cache) -> bool:
        """Whether `cache` is one this run writes (and holds the lock of)."""
        return self.caches.get(cache.root) is cache

    def _flying_in(self, cache: Cache, place: str) -> list[Flying]:
        """Another run's cache's in-flight rows for outputs in `place`: read
        again only once that cache has changed (a folder at a time, the
        whole table each time, was quadratic on a big tree)."""
        version = cache.version()
        seen = self._theirs_flying.get(cache.root)
        if seen is None or seen[0] != version or version is None:
            rows: dict[str, list[Flying]] = {}
            for row in cache.in_flight():
                rows.setdefault(os.path.dirname(row[1]), []).append(row)
            seen = self._theirs_flying[cache.root] = (version, rows)
        return seen[1].get(place, [])

    def _left_in_flight(
        self, cache: Cache, flying: list[Flying] | None = None
    ) -> list[tuple[str, int, int]]:
        """The files a run killed outright wrote and never recorded: named
        as outputs it had in flight (`flying`, else all the cache has),
        written since it started, as they are now (path, size, mtime).
        Taken in by a run that writes the cache as superseded outputs:
        imgpar's while unchanged, for --prune, never sources."""
        if flying is None:
            flying = cache.in_flight()
        if not flying:
            return []
        recorded = cache.lookup(list(dict.fromkeys(key for key, _, _ in flying)))
        found = []
        for key, planned, since in flying:
            entry = recorded.get(key)
            mine = {o.path: o.bytes for o in entry.outputs} if entry is not None else {}
            for path in on_disk(os.path.join(cache.root, planned)):
                relative = _relative(path, cache.root)
                state = file_state(path)
                # Recorded as it is (the run had put it), or older: the user's.
                if state is not None and state[1] >= since and mine.get(relative) != state[0]:
                    found.append((relative, *state))
        if not self._read_only and self._ours(cache):  # not another run's
            for row in found:
                cache.supersede(*row)
            for since in {since for _, _, since in flying}:
                cache.clear_in_flight(since)
        return found

    def _cache(self, folder: Folder) -> Cache:
        root = self._out if self._out is not None else folder.root
        cache = self.caches.get(root)
        if cache is None:
            # An --out that is the SOURCE itself is converting in place.
            elsewhere = self._out is not None and not same_folder(self._out, folder.root)
            home = None if elsewhere else source_name(folder.root)
            cache = self.caches[root] = Cache(root or ".", home=home)
        return cache

    def _stays_out(self, name: str, parent: str) -> bool:
        """Whether `name`, an output the user changed, stays out of the
        sources: one in a target's format, save where its output in that
        format would take its own place and it makes others (`--to
        png,webp`: `a.png`). As a source, one would make nothing, and one
        under a name by the size (`320/a.webp`) outputs of outputs; left
        out, the source that would write over it fails and says so."""
        stem, ext = os.path.splitext(name)
        if ext.lower() not in self._target_exts:
            return False
        replaced = self._replaced(name, self._names(parent, stem, ext))
        return not 0 < len(replaced) < len(self._outputs)

    def _names(self, parent: str, stem: str, ext: str) -> tuple[str, ...]:
        """The outputs' paths relative to their destination folder, whose
        own name is `parent`."""
        src_ext = ext.lstrip(".")
        # Normalised (`./{stem}.{ext}` names a.webp): the cache and --prune
        # compare paths as text, and o/./a.webp, another spelling of
        # o/a.webp, was pruned as the orphan of the file just written.
        return tuple(
            os.path.normpath(
                _render(self._template, stem=stem, target=t, src_ext=src_ext, parent=parent)
            )
            for t in self._targets
        )

    def _output_folders(self, here: _Here, names: Sequence[str]) -> list[tuple[int, str]]:
        """The folders outputs named `names` go in, up to the cache's root
        (not claimed yet), each as its folded path's hash and as spelled."""
        folders = {os.path.dirname(os.path.join(here.dest, n)) for n in names}
        root = self._absolute(here.cache.root)
        found: list[tuple[int, str]] = []
        for folder in folders:
            path = self._absolute(folder)
            while path != root and below(path, root):
                key = hash(fold(path))
                if key in self._folders:
                    break  # and those above it
                found.append((key, folder))
                path, folder = os.path.dirname(path), os.path.dirname(folder)
        return found

    def _first_in(self, claimed: set[int], here: _Here, written: Sequence[str]) -> str:
        """The first of the outputs named `written` that `claimed` holds."""
        return next(
            n for n in written if not claimed.isdisjoint(self._claims(here.absolute_dest, [n]))
        )

    def _claims(self, absolute_dest: str, names: Sequence[str]) -> set[int]:
        """The outputs' identities on a case-insensitive, normalising filesystem."""
        return {hash(fold(os.path.normpath(os.path.join(absolute_dest, n)))) for n in names}

    def _key_prefix(self, folder: Folder, cache: Cache) -> str:
        """What leads a source's key in the cache: its SOURCE folder's name (in
        place, the cache's home) and the folder under it, so keys survive
        moving the tree or restoring it."""
        root = os.path.abspath(folder.root)
        parts = (cache.home() or self._head_of.get(root) or source_name(root), folder.rel)
        prefix = "/".join(p for p in parts if p).replace(os.sep, "/")
        return prefix + "/" if prefix else ""

    def _replaced(self, name: str, names: Sequence[str]) -> frozenset[int]:
        """The outputs (named `names`) of a source already in a target's
        format that would take its place: that target's, with its own stem,
        beside it (resized `a.jpg` over `a.jpg`, or `a.jpg` beside `a.JPEG`),
        or its own name for a stem (`a.png.png` beside `a.jpg`: the same
        image in the same format, as if the sibling were not there). A name
        that differs (`{stem}-web.{ext}`, several widths) converts it."""
        own, ext = os.path.splitext(name)
        if ext.lower() not in self._target_exts:
            return frozenset()
        itself = {fold(own), fold(name)}
        outputs = zip(self._targets, names, strict=True)
        return frozenset(
            i
            for i, (target, output) in enumerate(outputs)
            if ext.lower() in _extensions(target) and fold(os.path.splitext(output)[0]) in itself
        )


    def _misnamed(self, source: str, name: str, replaced: frozenset[int]) -> str | None:
        """Why a source named as in a target's format, whose output would
        take its place, is no such file (HEIC from a phone under a `.jpg`
        name, an empty file): not converted, it would pass for done. None
        when its first bytes agree."""
        try:
            fd = regular_fd(source)
            if fd is None:
                return None  # a FIFO under an image's name fails later, at its stat
            try:
                head = os.read(fd, 16)
            finally:
                os.close(fd)
        except PermissionError as exc:
            # Unread, it cannot pass for done: it fails as any unreadable file.
            return why_unreadable(exc)
        except OSError:
            return None
        found = signature(head)
        for i in replaced:
            made = self._targets[i].pil_format
            # An AVIF's first brand may be HEIF's, or one not known here.
            if head and (found == made or (made == "AVIF" and found in (None, "HEIF"))):
                continue
            if found is None:
                return unreadable(head)
            stem, ext = os.path.splitext(name)
            return (
                f"holds {found} data under a {ext} name: its {self._targets[i].name} output"
                f" would replace it (rename it {stem}{_PROPER[found]}, or use --out DIR"
                " or --name '{stem}-web.{ext}')"
            )
        return None


# The usual extension of what a misnamed file holds.
_PROPER = {
    "JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "TIFF": ".tif", "WEBP": ".webp",
    "HEIF": ".heic", "AVIF": ".avif", "BMP": ".bmp",
}  # fmt: skip


def _name(owned: Owned) -> str:
    return owned[0]


def _beginning(ordered: Sequence[T], head: str, name: Callable[[T], str]) -> Iterator[T]:
    """The items of `ordered` (sorted by `name`) whose names begin with `head`:
    together there, found by bisection."""
    at = bisect.bisect_left(ordered, head, key=name)
    while at < len(ordered) and name(ordered[at]).startswith(head):
        yield ordered[at]
        at += 1


def _spelled(folder: str, name: str) -> str:
    """`name` as the file that folds to it is spelled in `folder` (the
    user's `A-WEB.webp` for `a-web.webp`)."""
    try:
        found = os.listdir(folder)
    except OSError:
        return name
    return next((n for n in sorted(found) if fold(n) == fold(name)), name)


def _folder_and_above(prefix: str) -> Iterator[str]:
    """The cache-key prefixes of a folder and of those above it:
    "photos/2024/" gives "photos/2024/", then "photos/"."""
    parts = prefix.split("/")[:-1]
    for depth in range(len(parts), 0, -1):
        yield "/".join(parts[:depth]) + "/"


def _by_place(entries: Iterable[Entry]) -> dict[str, list[Owned]]:
    """The entries' outputs, by the folder they are in (from the cache's root)."""
    found: dict[str, list[Owned]] = {}
    for entry in entries:
        for output in entry.outputs:
            place, name = os.path.split(output.path)
            found.setdefault(place, []).append((name, output.bytes))
    return found


def _written(names: Sequence[str], replaced: frozenset[int]) -> Sequence[str]:
    """The names of the outputs made: not those that would replace the source."""
    return tuple(n for i, n in enumerate(names) if i not in replaced)


def _made_with(options: str) -> tuple[list[str], int | None]:
    """What a cache row's options say after the run's key: its outputs'
    settings and the JPEG scale they were decoded at (none for a row from
    before either)."""
    tokens = options.split(" ")[1:]
    scales = [int(t[1:]) for t in tokens if t.startswith("x")]
    return [t for t in tokens if t.startswith("s")], scales[0] if scales else None


def _supersede(cache: Cache, output: OutputRecord) -> None:
    """Keep an output its source no longer makes for --prune, as the file is
    now; not one already replaced or removed, which is no longer imgpar's."""
    state = as_recorded(os.path.join(cache.root, output.path), output.bytes)
    if state is not None:
        cache.supersede(output.path, *state)


def _and_above(path: str) -> Iterator[str]:
    """`path` and the folders above it, up to the root."""
    while True:
        yield path
        parent = os.path.dirname(path)
        if parent == path:
            return
        path = parent


def _extensions(target: Target) -> tuple[str, ...]:
    aliases = {".jpg": (".jpg", ".jpeg", ".jpe", ".jfif"), ".tif": (".tif", ".tiff")}
    return aliases.get(target.ext, (target.ext,))


def is_text(path: str) -> bool:
    """Whether `path` is text, not raw bytes Python kept as lone surrogates."""
    try:
        path.encode()
    except UnicodeEncodeError:
        return False
    return True


def not_text(path: str) -> str:
    """Why a path that is no text cannot be converted: bytes no encoding was
    given for, where the cache, the reports and a web page's srcset all hold
    text."""
    raw = [f"0x{ord(c) - 0xDC00:02x}" for c in path if 0xDC80 <= ord(c) <= 0xDCFF]
    which = "byte" if len(raw) == 1 else "bytes"
    return f"its path is not valid UTF-8 ({which} {', '.join(raw)}): rename it to convert it"


def _not_text(display: str) -> Result:
    return Result(source=display, status="failed", error=not_text(display))


def _placed(root: str, output: OutputRecord) -> OutputRecord:
    """A recorded output with its path from where imgpar runs, as the
    planner names outputs (`a.webp`, not `./a.webp`)."""
    path = output.path if root == os.curdir else os.path.join(root, output.path)
    return output._replace(path=path)


def _relative(path: str, root: str) -> str:
    # Outputs are planned inside their root, so most need no os.path.relpath,
    # whose two abspath calls were most of the cost of recording an icon.
    inside = os.path.join(root, "")
    return path[len(inside) :] if path.startswith(inside) else os.path.relpath(path, root)
