"""What imgpar made before, so that an unchanged source is not converted again.

One SQLite file per output root (`.imgpar-cache.sqlite`). A row per source
records the source's size, mtime and content digest, a key of every option
that shapes the outputs, and the outputs made (paths relative to the root).
Source keys are relative to their SOURCE folder and output paths to the
output root, so a cache restored onto a fresh checkout, or an output folder
copied elsewhere, still matches.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

from imgpar.spec import OutputRecord

CACHE_NAME = ".imgpar-cache.sqlite"
_SCHEMA = 2
_MAGIC = "imgpar-cache"


def digest_file(path: str) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fp:
        while chunk := fp.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class Entry:
    size: int
    mtime_ns: int
    digest: str
    options: str
    outputs: tuple[OutputRecord, ...]  # paths relative to the cache's root
    width: int | None  # the source's, as displayed
    height: int | None


class Cache:
    """A cache file, opened lazily; any damage means starting afresh with a warning."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.path = os.path.join(root, CACHE_NAME)
        self.warning: str | None = None
        self._db: sqlite3.Connection | None = None

    def _connect(self, *, create: bool) -> sqlite3.Connection | None:
        if self._db is not None:
            return self._db
        if not create and not os.path.exists(self.path):
            return None
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            self.warning = f"cache {self.path} unreadable ({exc}); rebuilding everything"
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            self._db = self._open()
        return self._db

    def _open(self) -> sqlite3.Connection:
        os.makedirs(self.root, exist_ok=True)
        # Autocommit: every row is its own small transaction, so a killed run
        # keeps what it recorded and two runs never hold a lock for long.
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout = 30000")
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
            expected = f"{_MAGIC} {_SCHEMA}"
            if row is None:
                db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (expected,))
            elif row[0] != expected:
                raise sqlite3.DatabaseError(f"not an imgpar cache of format {_SCHEMA}")
            db.execute(
                "CREATE TABLE IF NOT EXISTS sources (key TEXT PRIMARY KEY, size INTEGER,"
                " mtime_ns INTEGER, digest TEXT, options TEXT, outputs TEXT,"
                " width INTEGER, height INTEGER)"
            )
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def get(self, key: str) -> Entry | None:
        db = self._connect(create=False)
        if db is None:
            return None
        try:
            row = db.execute(
                "SELECT size, mtime_ns, digest, options, outputs, width, height"
                " FROM sources WHERE key = ?",
                (key,),
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            self.warning = f"cache {self.path} unreadable ({exc}); rebuilding everything"
            return None
        if row is None:
            return None
        size, mtime_ns, digest, options, outputs, width, height = row
        return Entry(size, mtime_ns, digest, options, _records(outputs), width, height)

    def put(self, key: str, entry: Entry) -> None:
        db = self._connect(create=True)
        assert db is not None
        outputs = json.dumps(
            [[o.path, o.format, o.width, o.height, o.bytes] for o in entry.outputs]
        )
        db.execute(
            "INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (key, entry.size, entry.mtime_ns, entry.digest, entry.options, outputs,
             entry.width, entry.height),
        )

    def touch(self, key: str, mtime_ns: int) -> None:
        """Record a new mtime for content that did not change."""
        db = self._connect(create=False)
        if db is not None:
            db.execute("UPDATE sources SET mtime_ns = ? WHERE key = ?", (mtime_ns, key))

    def forget(self, key: str) -> None:
        db = self._connect(create=False)
        if db is not None:
            db.execute("DELETE FROM sources WHERE key = ?", (key,))

    def items(self) -> Iterator[tuple[str, Entry]]:
        db = self._connect(create=False)
        if db is None:
            return
        rows = db.execute(
            "SELECT key, size, mtime_ns, digest, options, outputs, width, height"
            " FROM sources ORDER BY key"
        ).fetchall()
        for key, size, mtime_ns, digest, options, outputs, width, height in rows:
            yield key, Entry(size, mtime_ns, digest, options, _records(outputs), width, height)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _records(text: str) -> tuple[OutputRecord, ...]:
    return tuple(
        OutputRecord(path=p, format=f, width=w, height=h, bytes=b)
        for p, f, w, h, b in json.loads(text)
    )
