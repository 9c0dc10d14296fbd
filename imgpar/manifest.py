"""`--manifest FILE.json`: every source's outputs and a ready `srcset`, for
the templates of a web build. Stable key order so it diffs cleanly in git;
complete after a run that converted nothing (skipped outputs come from the
cache); written atomically."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

from imgpar.paths import below, make_folders
from imgpar.report import to_json
from imgpar.spec import Result
from imgpar.temps import remove_abandoned, temp_prefix

_compact = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode


class Manifest:
    def __init__(
        self, path: str, *, sources: Sequence[str], out: str | None, probe: bool = True
    ) -> None:
        self.path = path
        self._roots = [os.path.abspath(s) for s in sources if os.path.isdir(s)]
        # Keys are relative to the one SOURCE folder; with several SOURCES,
        # to the folder that holds them all, so that assets/a.png and
        # content/a.png stay two keys rather than one overwriting the other.
        places = [os.path.abspath(s) if os.path.isdir(s) else os.path.dirname(os.path.abspath(s))
                  for s in sources]  # fmt: skip
        self._base = _common(places) if len(places) > 1 else None
        self._out = out
        # Each entry as compact JSON text: as dicts of dicts, 100,000 sources
        # held 455 MB of the parent's memory until the end of the run.
        self._entries: dict[str, str] = {}
        if probe:
            # Written only at the end of a complete run, so a place it cannot
            # be written must be found now, before the work, not after it.
            folder = os.path.dirname(os.path.abspath(path))
            make_folders(folder)
            remove_abandoned([folder])  # a killed run's, named as a worker's
            with open(self._temp, "w"):
                pass
            os.unlink(self._temp)

    @property
    def _temp(self) -> str:
        folder, name = os.path.split(self.path)
        return os.path.join(folder, f"{temp_prefix(os.getpid())}manifest-{name}")

    def add(self, result: Result) -> None:
        if result.status == "failed" or not result.outputs:
            return
        source = os.path.abspath(result.source)
        root = self._root(source)
        formats: dict[str, list[dict[str, Any]]] = {}
        for o in result.outputs:
            base = self._out if self._out is not None else root
            formats.setdefault(o.format.lower(), []).append(
                {
                    "path": os.path.relpath(o.path, base).replace(os.sep, "/"),
                    "width": o.width,
                    "height": o.height,
                    "bytes": o.bytes,
                }
            )
        entry: dict[str, Any] = {"source_bytes": result.source_bytes, "formats": {}}
        if result.width is not None:
            entry["width"], entry["height"] = result.width, result.height
        for fmt, outputs in formats.items():
            outputs.sort(key=lambda o: (o["width"] or 0, o["path"]))
            entry["formats"][fmt] = {
                "outputs": outputs,
                "srcset": ", ".join(
                    f"{_url(o['path'])} {o['width']}w" for o in outputs if o["width"]
                ),
            }
        key = os.path.relpath(source, self._base or root)
        self._entries[key.replace(os.sep, "/")] = to_json(entry, _compact)

    def _root(self, source: str) -> str:
        for root in self._roots:
            if below(source, root):
                return root
        return os.path.dirname(source)

    def _text(self) -> Iterator[str]:
        """The file's text in pieces, an entry at a time: what
        `json.dumps(..., indent=2, sort_keys=True)` writes of the whole, without
        the whole in memory."""
        if not self._entries:
            yield '{\n  "imgpar_manifest": 1,\n  "sources": {}\n}\n'
            return
        yield '{\n  "imgpar_manifest": 1,\n  "sources": {'
        for i, key in enumerate(sorted(self._entries)):
            entry = json.dumps(
                json.loads(self._entries[key]), indent=2, sort_keys=True, ensure_ascii=False
            )
            name = to_json(key)
            yield f"{',' if i else ''}\n    {name}: " + entry.replace("\n", "\n    ")
        yield "\n  }\n}\n"

    def write(self) -> None:
        if self.is_current():
            # Left as it is, its time too: a make rule or a site generator's
            # watcher keyed on it would rebuild after every no-op run.
            return
        temp = self._temp
        try:
            with open(temp, "w", encoding="utf-8") as fp:
                fp.writelines(self._text())
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):  # never half a manifest left
                os.unlink(temp)
            raise

    def is_current(self) -> bool:
        """Whether the file on disk says what this manifest says."""
        try:
            # newline="": a copy with CRLF line ends is not what a run writes.
            with open(self.path, encoding="utf-8", newline="") as fp:
                same = all(fp.read(len(piece)) == piece for piece in self._text())
                return same and not fp.read(1)
        except (OSError, UnicodeDecodeError):
            return False


def _url(path: str) -> str:
    # In a srcset a space ends the URL and a comma the candidate: "my photo.webp"
    # must be written my%20photo.webp, and non-ASCII names as escapes of
    # their bytes (UTF-8, or whatever else the file system holds).
    return quote(os.fsencode(path), safe="/")


def _common(folders: Sequence[str]) -> str | None:
    try:
        return os.path.commonpath(folders)
    except ValueError:  # on different drives: only the folders' own names tell them apart
        return None
