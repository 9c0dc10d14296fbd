"""What imgpar made before, so that an unchanged source is not converted again.

One SQLite file per output root (`.imgpar-cache.sqlite`). A row per source
records the source's size, mtime and content digest, a key of every option
that shapes the outputs, and the outputs made (paths relative to the root);
outputs a source no longer makes are kept in a table of their own for
`--prune`.
Source keys begin with their SOURCE folder's name (`plan.source_heads`) and output paths are
relative to the output root, so a cache restored onto a fresh checkout, or an
output folder copied elsewhere, still matches. A cache kept in place, in the
SOURCE folder itself, records the name that folder had when the cache was
made (its home): keys keep it after the folder is renamed, moved or copied,
and the earlier outputs beside the sources are still known for imgpar's.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import operator
import os
import sqlite3
import stat
import threading
import time
import urllib.parse
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import IO, NamedTuple

from imgpar.errors import UsageError
from imgpar.paths import make_folders, regular_fd
from imgpar.spec import OutputRecord

CACHE_NAME = ".imgpar-cache.sqlite"
LOCK_NAME = ".imgpar-lock"
_SCHEMA = 3
_MAGIC = "imgpar-cache"
# A batch of rows per transaction: per-row commits cost more than converting
# an icon. A batch also ends after a second, so a long run's rows are safe soon.
_BATCH_ROWS = 256
_BATCH_SECONDS = 1.0
# Keys per lookup query: well under SQLite's limit on bound parameters.
_LOOKUP_KEYS = 500


def _lock_file(path: str) -> int | None:
    """A descriptor of the lock file to flock: made where it is missing, and
    read-only where it is another user's (a run under sudo left it), as
    flock needs no more; None where there is none to be had."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        pass
    try:
        return regular_fd(path)  # a FIFO put there would block a plain open
    except OSError:
        return None


class Locks:
    """The lock files a run holds (`exclusive`), and the seconds it waited for them."""

    def __init__(self) -> None:
        self.waited = 0.0
        self.keys: set[tuple[int, int]] = set()

    def follow(self) -> None:
        """The thread that calls this drives the run now (a generator read
        on in another thread than the one that began it): a second run in
        that thread is refused, one in any other waits."""
        me = _this_thread()
        for key in self.keys:
            _holders[key] = me


def waiting_words(root: str) -> str:
    """What a run says as it waits for another on `root` (exclusive's `waiting`)."""
    return f"waiting for another imgpar run on {root} to finish"


@contextlib.contextmanager
def exclusive(
    roots: Iterable[str], waiting: Callable[[str], None] | None = None
) -> Iterator[Locks]:
    """Hold each output root's lock file (`.imgpar-lock`) for a run: a second
    run on the same folder waits for the first, then finds its work done,
    rather than encoding every file again beside it. `waiting` is told each
    root it waits for; the seconds waited in all are in what it gives. Where no
    lock is to be had (Windows, a filesystem without locks, a folder that
    cannot be written), the run goes on unlocked. The kernel releases a
    lock when its process ends, however it ends. (Not the cache file
    itself: on NFS, flock becomes an fcntl lock, which would stand in the
    way of SQLite's own.)"""
    try:
        import fcntl
    except ImportError:
        yield Locks()
        return
    mine = Locks()
    with contextlib.ExitStack() as held:
        for root in sorted(set(roots)):
            fd = _lock_file(os.path.join(root, LOCK_NAME))
            if fd is None:
                continue
            token = _locks[fd] = object()
            held.callback(_release, fd, token)
            try:
                lock = os.fstat(fd)
                key = (lock.st_dev, lock.st_ino)
                if key in mine.keys:
                    continue  # one folder named two ways (`.` and its full path): held
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if _holders.get(key) is _this_thread():
                    # This thread holds it, in a run it has not finished (an
                    # iter_convert() kept in a variable): waiting would be for ever.
                    raise UsageError(
                        f"{root} is held by a run this thread has not finished (an"
                        " iter_convert() not yet closed): close that run first"
                    ) from None
                if waiting is not None:
                    waiting(root)
                start = time.monotonic()
                fcntl.flock(fd, fcntl.LOCK_EX)
                mine.waited += time.monotonic() - start
            except OSError:
                continue
            _holders[key] = _this_thread()
            held.callback(_holders.pop, key, None)
            mine.keys.add(key)
        yield mine


# The lock files this process holds open, each with a token of its opening.
# A process forked meanwhile (a worker, or the program's own child) shares
# their locks, and would hold them past the run for as long as it lives: it
# closes its copies at once, which leaves the locks to this process; its
# copy of the run, ending later, then finds no token of its own, and leaves
# alone whatever lock of the child's has come to have that number.
_locks: dict[int, object] = {}
# The thread of this process that holds each lock file, by (device, inode),
# as a token of its own: Linux gives a new thread the id of one just ended,
# and Python the same Thread object to threads it did not start.
_holders: dict[tuple[int, int], object] = {}
_threads = threading.local()


def _this_thread() -> object:
    token = getattr(_threads, "token", None)
    if token is None:
        token = _threads.token = object()
    return token


def _release(fd: int, token: object) -> None:
    if _locks.get(fd) is token:
        del _locks[fd]
        os.close(fd)


def _close_inherited_locks() -> None:
    for fd in _locks:
        with contextlib.suppress(OSError):
            os.close(fd)
    _locks.clear()
    _holders.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_inherited_locks)


def digest_file(path: str) -> str:
    with open(path, "rb") as fp:
        return digest_stream(fp)


def digest_stream(fp: IO[bytes]) -> str:
    """The content digest of what is left to read in `fp`."""
    # Imported here: hashlib loads OpenSSL (~8 ms), which a run whose sources
    # are all unchanged never needs. SHA-256 runs on the CPU's SHA extensions:
    # about twice blake2b's speed here.
    import hashlib

    h = hashlib.sha256()
    while chunk := fp.read(1 << 20):
        h.update(chunk)
    return h.hexdigest()


def file_state(path: str) -> tuple[int, int] | None:
    """(size, mtime_ns) of a regular file, None where there is none: an
    output imgpar recorded this way and finds unchanged is still its own."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns) if stat.S_ISREG(st.st_mode) else None


def as_recorded(path: str, size: int) -> tuple[int, int] | None:
    """`file_state` of an output that still has the size imgpar recorded for
    it; None once it is gone or has been written over."""
    state = file_state(path)
    return state if state is not None and state[0] == size else None


class Entry(NamedTuple):
    size: int
    mtime_ns: int
    digest: str
    options: str
    outputs: tuple[OutputRecord, ...]  # paths relative to the cache's root
    width: int | None  # the source's, as displayed
    height: int | None


class Cache:
    """A cache file, opened lazily; any damage means starting afresh with a warning.

    `home` is given for a cache kept in place: the SOURCE folder's name now.
    """

    def __init__(self, root: str, *, home: str | None = None) -> None:
        self.root = root
        self.path = os.path.join(root, CACHE_NAME)
        self.warning: str | None = None
        self.lost = False  # what a run made could not be recorded
        self._home = home
        self._failures: bool | None = None  # whether the failed table has rows
        self._db: sqlite3.Connection | None = None
        # Why the cache cannot be opened, once it could not be (a full disk,
        # a folder in its place): not tried again.
        self._unwritable: Exception | None = None
        self._damaged = False  # unreadable, and not yet rebuilt
        self._rows: list[tuple[str, tuple[object, ...]]] = []
        self._since = 0.0

    def _connect(self, *, create: bool) -> sqlite3.Connection | None:
        """The open cache: None where there is none to read (unless `create`),
        or none can be written (a full disk, a read-only folder), which the
        warning tells; the run goes on without one."""
        if self._db is not None or self._unwritable is not None:
            return self._db
        there = os.path.exists(self.path)
        if not create and (self._damaged or not there):
            return None
        try:
            try:
                self._db = self._open()
            except sqlite3.OperationalError:
                raise  # the file may be sound: never deleted for this
            except sqlite3.DatabaseError as exc:
                self._unreadable(exc, rebuilt=create)
                if not create:
                    # Read as no cache and left alone until a run records
                    # something: --check and --dry-run write nothing.
                    self._damaged = True
                    return None
                with contextlib.suppress(OSError):
                    os.unlink(self.path)
                there = False  # the new one is this try's
                self._db = self._open()
        except (sqlite3.OperationalError, OSError) as exc:
            self._unwritable = exc
            self._cannot_write(exc, reading=not create)
            if not there:
                # Made by this try (a full disk): nothing of it is left, as
                # if never tried. (_open closed its connection.)
                for leftover in (self.path, f"{self.path}-journal"):
                    with contextlib.suppress(OSError):
                        os.unlink(leftover)
        return self._db

    def _open(self) -> sqlite3.Connection:
        make_folders(self.root)
        # Rows are committed in small batches (see put): two runs never hold
        # the lock for long, and a killed run loses at most a batch, which only
        # means converting those files again. No fsync either: a cache that a
        # power cut damages is detected and rebuilt, like any damaged cache.
        # Not tied to this thread: a run's generator may be resumed, or
        # closed at exit, by another; a generator never runs in two at once.
        # Made here, for the umask to decide who may write it, as for any new
        # file: SQLite makes it 0644 whatever the umask (umask 002 in a folder
        # a group shares: a colleague's run could not record a thing). Its
        # journal takes its permissions.
        with contextlib.suppress(OSError):
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA busy_timeout = 30000")
            db.execute("PRAGMA synchronous = OFF")
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            meta = dict(db.execute("SELECT key, value FROM meta"))
            expected = f"{_MAGIC} {_SCHEMA}"
            if "format" not in meta:
                db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (expected,))
            elif meta["format"] != expected:
                raise sqlite3.DatabaseError(f"not an imgpar cache of format {_SCHEMA}")
            db.execute(
                "CREATE TABLE IF NOT EXISTS sources (key TEXT PRIMARY KEY, size INTEGER,"
                " mtime_ns INTEGER, digest TEXT, options TEXT, outputs TEXT,"
                " width INTEGER, height INTEGER)"
            )
            # Outputs a source no longer makes (other options, a smaller
            # source): still imgpar's to prune once no entry claims them.
            db.execute(
                "CREATE TABLE IF NOT EXISTS superseded"
                " (path TEXT PRIMARY KEY, bytes INTEGER, mtime_ns INTEGER)"
            )
            # Sources whose last conversion failed, as they were then: for
            # --check, which reads no pixels, to tell them failing, not stale.
            db.execute(
                "CREATE TABLE IF NOT EXISTS failed (key TEXT PRIMARY KEY, size INTEGER,"
                " mtime_ns INTEGER, options TEXT, error TEXT)"
            )
            # In place, the outputs of the sources handed to workers and not
            # yet recorded: left by a run killed outright, they are imgpar's.
            # (Not made in an older cache on a read-only disk, which is read.)
            with contextlib.suppress(sqlite3.OperationalError):
                db.execute(
                    "CREATE TABLE IF NOT EXISTS flying"
                    " (key TEXT PRIMARY KEY, outputs TEXT, since INTEGER)"
                )
            if self._home is not None:
                self._home = meta.get("home") or _settle_home(db, self._home)
            elif "out" not in meta:
                # An --out folder says so, for a run on a SOURCE folder above
                # it, which must not take its files for sources.
                with contextlib.suppress(sqlite3.OperationalError):
                    db.execute("INSERT OR IGNORE INTO meta VALUES ('out', '')")
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def home(self) -> str | None:
        """The name that keys of a cache kept in place begin with: the SOURCE
        folder's when the cache was made, which may not be its name now."""
        if self._home is not None:
            self._connect(create=False)
        return self._home

    def lookup(self, keys: Sequence[str]) -> dict[str, Entry]:
        """The entries of those `keys` that are recorded: a folder's files are
        looked up together, a query per _LOOKUP_KEYS of them, not one each."""
        found: dict[str, Entry] = {}
        for start in range(0, len(keys), _LOOKUP_KEYS):
            batch = keys[start : start + _LOOKUP_KEYS]
            found.update(self._entries(f"WHERE key IN ({', '.join('?' * len(batch))})", batch))
        return found

    def in_folder(self, prefix: str) -> dict[str, Entry]:
        """The entries of every source recorded directly in the folder whose
        keys begin with `prefix` (`photos/2024/`), those gone since included."""
        return self._entries(
            "WHERE key >= ? AND key < ? AND instr(substr(key, ?), '/') = 0",
            (prefix, prefix + "\U0010ffff", len(prefix) + 1),
        )

    def _entries(self, where: str, params: Sequence[object]) -> dict[str, Entry]:
        """The entries of the sources `where` (an SQL clause) picks, by key."""
        return dict(self._selected(where, params))

    def _selected(self, where: str, params: Sequence[object]) -> Iterator[tuple[str, Entry]]:
        """(key, entry) of the sources `where` picks, as SQLite steps through
        them (never all at once); none from a cache that cannot be read,
        which the warning tells. Nothing may be written to the cache until it
        ends."""
        db = self._connect(create=False)
        if db is None:
            return
        try:
            rows = db.execute(
                "SELECT key, size, mtime_ns, digest, options, outputs, width, height"
                f" FROM sources {where}",
                params,
            )
            for key, size, mtime_ns, digest, options, outputs, width, height in rows:
                yield key, Entry(size, mtime_ns, digest, options, _records(outputs), width, height)
        except sqlite3.DatabaseError as exc:
            self._unreadable(exc)

    def put(self, key: str, entry: Entry) -> None:
        db = self._connect(create=True)
        if db is None:
            if self._unwritable is not None and not self.lost:
                # Not opened to be read either (a folder in its place): the
                # run's record is lost all the same.
                self._cannot_write(self._unwritable)
            return
        if self._failures is None:
            self._failures = db.execute("SELECT 1 FROM failed LIMIT 1").fetchone() is not None
        if self._failures:
            self._write("DELETE FROM failed WHERE key = ?", (key,))
        outputs = json.dumps(
            [[o.path, o.format, o.width, o.height, o.bytes] for o in entry.outputs]
        )
        self._write(
            "INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                entry.size,
                entry.mtime_ns,
                entry.digest,
                entry.options,
                outputs,
                entry.width,
                entry.height,
            ),
        )

    def fail(self, key: str, size: int, mtime_ns: int, options: str, error: str) -> None:
        """Remember that the source at `key`, as it is now, failed with `error`."""
        db = self._connect(create=self._may_create())
        if db is None:
            return
        self._failures = True
        self._write("INSERT OR REPLACE INTO failed VALUES (?, ?, ?, ?, ?)",
                    (key, size, mtime_ns, options, error))  # fmt: skip

    def failure(self, key: str, size: int, mtime_ns: int, options: str) -> str | None:
        """Why the source at `key` failed last time, if it is as it was then."""
        db = self._connect(create=False)
        if db is None:
            return None
        row = db.execute(
            "SELECT error FROM failed WHERE key = ? AND size = ? AND mtime_ns = ? AND options = ?",
            (key, size, mtime_ns, options),
        ).fetchone()
        return None if row is None else str(row[0])

    def mark_in_flight(self, launched: Sequence[tuple[str, Sequence[str]]], since: int) -> None:
        """Record (key, planned output paths) of sources about to be
        converted, committed at once: should the run be killed outright (the
        OOM killer, a CI timeout, a power cut), what a worker wrote under
        those names after `since` (ns) is known for imgpar's (`in_flight`)."""
        db = self._connect(create=self._may_create())
        if db is None:
            return
        for key, outputs in launched:
            sql = "INSERT OR REPLACE INTO flying VALUES (?, ?, ?)"
            self._write(sql, (key, json.dumps(outputs), since))
        self._flush()

    def version(self) -> int | None:
        """A number that changes whenever another connection commits to the
        cache (SQLite's data_version); None where it cannot be read."""
        db = self._connect(create=False)
        if db is None:
            return None
        try:
            return int(db.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.DatabaseError:
            return None

    def in_flight(self) -> list[tuple[str, str, int]]:
        """(key, planned path relative to the root and size markers and all,
        since) of the outputs a run killed outright left in flight."""
        db = self._connect(create=False)
        if db is None:
            return []
        try:
            rows = db.execute("SELECT key, outputs, since FROM flying").fetchall()
        except sqlite3.OperationalError:
            return []  # an older cache, only read
        return [(key, path, since) for key, outputs, since in rows for path in json.loads(outputs)]

    def clear_in_flight(self, since: int, *, but: Collection[str] = ()) -> None:
        """Forget what a run (started at `since`) had in flight, but the
        sources at keys `but`: once it ends, or once a later run has taken
        in what it left."""
        db = self._connect(create=False)
        if db is None:
            return
        if not but:
            self._write("DELETE FROM flying WHERE since = ?", (since,))
            return
        keys = [k for (k,) in db.execute("SELECT key FROM flying WHERE since = ?", (since,))]
        for key in keys:
            if key not in but:
                self._write("DELETE FROM flying WHERE key = ? AND since = ?", (key, since))

    def _may_create(self) -> bool:
        """Whether a hint (a failure, what is in flight) may make the cache:
        not where none can be made (converting in place in a read-only
        folder, where every file fails), which would only add a warning."""
        return self._db is not None or os.path.exists(self.path) or os.access(self.root, os.W_OK)

    def supersede(self, path: str, size: int, mtime_ns: int) -> None:
        """Remember an output its source no longer makes, as its file is, for `prune`."""
        db = self._connect(create=True)
        if db is None:
            return
        sql = "INSERT OR REPLACE INTO superseded VALUES (?, ?, ?)"
        self._write(sql, (path, size, mtime_ns))

    def count(self, head: str) -> int:
        """How many sources are recorded under the SOURCE folder named `head`
        (all of them for "")."""
        db = self._connect(create=False)
        if db is None:
            return 0
        if not head:
            return int(db.execute("SELECT count(*) FROM sources").fetchone()[0])
        # Keys "head/..." sort from "head/" up to "head0" ("0" follows "/").
        query = "SELECT count(*) FROM sources WHERE key >= ? AND key < ?"
        return int(db.execute(query, (f"{head}/", f"{head}0")).fetchone()[0])

    def count_by_folder(self) -> dict[str, int]:
        """How many sources are recorded in each folder, by the prefix of
        their keys (`photos/2024/`)."""
        db = self._connect(create=False)
        if db is None:
            return {}
        # rtrim by the key's own characters but "/" leaves its folder part.
        query = (
            "SELECT rtrim(key, replace(key, '/', '')) AS folder, count(*) FROM sources"
            " GROUP BY folder"
        )
        return {str(folder): int(n) for folder, n in db.execute(query)}

    def has_superseded(self) -> bool:
        db = self._connect(create=False)
        if db is None:
            return False
        return db.execute("SELECT 1 FROM superseded LIMIT 1").fetchone() is not None

    def superseded(self) -> list[tuple[str, int, int]]:
        """(path relative to the root, size, mtime_ns) of each superseded
        output. Its mtime is as it was; it is judged by size, as a recorded
        output is: a copy of an --out gives every file another mtime."""
        db = self._connect(create=False)
        if db is None:
            return []
        return db.execute("SELECT path, bytes, mtime_ns FROM superseded ORDER BY path").fetchall()

    def forget_superseded(self, path: str) -> None:
        db = self._connect(create=False)
        if db is not None:
            self._write("DELETE FROM superseded WHERE path = ?", (path,))

    def touch(self, key: str, mtime_ns: int) -> None:
        """Record a new mtime for content that did not change."""
        db = self._connect(create=False)
        if db is not None:
            self._write("UPDATE sources SET mtime_ns = ? WHERE key = ?", (mtime_ns, key))

    def _unreadable(self, exc: Exception, *, rebuilt: bool = False) -> None:
        then = "rebuilding everything" if rebuilt else "everything is taken as stale"
        if self._home is not None:
            then += ": outputs made before it are taken for sources"
        self.warning = f"cache {self.path} unreadable ({exc}); {then}"

    def _cannot_write(self, exc: Exception, *, reading: bool = False) -> None:
        # A full disk, a cache gone read-only: the outputs are whole, and only
        # the record of them is lost, which costs converting them again.
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        if self._db is not None and not os.path.exists(self.path):
            reason = "it was deleted as the run went on"  # SQLite: "a readonly database"
        if not reading:
            self.lost = True
        self.warning = (
            f"cache {self.path} cannot be read ({reason}): everything is taken as stale"
            if reading
            else f"cache {self.path} cannot be written ({reason}): the next run converts"
            " these files again"
        )

    def forget(self, key: str) -> None:
        db = self._connect(create=False)
        if db is not None:
            self._write("DELETE FROM sources WHERE key = ?", (key,))

    def _write(self, sql: str, params: tuple[object, ...]) -> None:
        # Rows wait here, not in an open transaction, so another run is never
        # locked out while this one converts a slow file.
        if not self._rows:
            self._since = time.monotonic()
        self._rows.append((sql, params))
        if len(self._rows) >= _BATCH_ROWS or time.monotonic() - self._since >= _BATCH_SECONDS:
            self._flush()

    def _flush(self) -> None:
        if self._db is None or not self._rows:
            return
        try:
            with self._db:  # one transaction for the batch
                self._db.execute("BEGIN IMMEDIATE")
                for sql, rows in itertools.groupby(self._rows, key=operator.itemgetter(0)):
                    self._db.executemany(sql, [params for _, params in rows])
        except sqlite3.OperationalError as exc:
            self._cannot_write(exc)
        self._rows.clear()

    def items(self) -> Iterator[tuple[str, Entry]]:
        """Every source's entry, by key, streamed (`_selected`): all at once,
        --check and --prune held 1 KB a source of a 100,000-file tree."""
        return self._selected("ORDER BY key", ())

    def outputs_beyond(
        self, heads: Collection[str], *, within: bool = False
    ) -> Iterator[tuple[int, str, tuple[OutputRecord, ...]]]:
        """(row id, key, outputs) of the sources whose keys begin with none
        of `heads` (SOURCE folder names): in an --out that runs of other
        SOURCE folders share, theirs; `within`, of those whose keys begin
        with one. Read between or in the heads' ranges of keys (`head/` up
        to `head0`, "0" following "/"), on the key's index: a cache of one
        SOURCE's sources costs two look-ups. Nothing may be written to the
        cache until it ends."""
        db = self._connect(create=False)
        if db is None or not heads:
            return
        starts = sorted(f"{head}/" for head in heads)
        bounds = [b for start in starts for b in (start, f"{start[:-1]}0")]
        if not within:
            bounds = ["", *bounds]
        try:
            for low, high in itertools.zip_longest(bounds[::2], bounds[1::2]):
                rows = db.execute(
                    "SELECT rowid, key, outputs FROM sources WHERE key >= ?"
                    + (" AND key < ?" if high is not None else ""),
                    (low,) if high is None else (low, high),
                )
                while batch := rows.fetchmany(_LOOKUP_KEYS):
                    for rowid, key, outputs in batch:
                        yield rowid, key, _records(outputs)
        except sqlite3.DatabaseError as exc:
            self._unreadable(exc)

    def row(self, rowid: int) -> Entry | None:
        """The entry of row `rowid` (from outputs_beyond), if it is still there."""
        return next((entry for _, entry in self._selected("WHERE rowid = ?", (rowid,))), None)

    def create(self) -> None:
        """Make the cache file now, rather than at the first record: an
        --out is marked as one (meta `out`) before any worker writes in it."""
        self._connect(create=True)

    def close(self) -> None:
        if self._db is not None:
            self._flush()
            self._db.close()
            self._db = None


def kind_of_cache(folder: str) -> str | None:
    """What the cache in `folder` says the folder is: "out" (an --out),
    "in place" (sources converted where they are, its home recorded), or
    None where there is none, it cannot be read or says neither."""
    path = os.path.abspath(os.path.join(folder, CACHE_NAME))
    if not os.path.exists(path):  # most folders: no connection to try
        return None
    uri = "file:" + urllib.parse.quote(os.fsencode(path))  # a name need not be UTF-8
    try:
        db = sqlite3.connect(uri + "?mode=ro", uri=True)
        try:
            keys = {row[0] for row in db.execute("SELECT key FROM meta")}
        finally:
            db.close()
    except sqlite3.Error:
        return None
    return "out" if "out" in keys else "in place" if "home" in keys else None


def _settle_home(db: sqlite3.Connection, name: str) -> str:
    """A home for a cache that records none: `name` in a new cache, or the
    folder the keys of an older one begin with; recorded now."""
    first = db.execute("SELECT key FROM sources LIMIT 1").fetchone()
    if first is not None and "/" in first[0]:
        name = first[0].split("/", 1)[0]
    # A cache on a read-only disk (--check in CI) is read all the same.
    with contextlib.suppress(sqlite3.OperationalError):
        db.execute("INSERT INTO meta VALUES ('home', ?)", (name,))
    return name


def _records(text: str) -> tuple[OutputRecord, ...]:
    # Normalised as the planner names outputs: a row a `./{stem}.{ext}` run
    # wrote is the same file as the name the default template gives.
    return tuple(
        OutputRecord(path=os.path.normpath(p), format=f, width=w, height=h, bytes=b)
        for p, f, w, h, b in json.loads(text)
    )
