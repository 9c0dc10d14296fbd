"""JSON and CSV reports, streamed to disk as results arrive and renamed into
place at the end, so memory stays flat and a report is never half-written."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
from collections.abc import Callable, Sequence
from typing import IO, Any

from imgpar import __version__
from imgpar.collect import Summary
from imgpar.paths import make_folders
from imgpar.spec import Result
from imgpar.temps import remove_abandoned, temp_prefix

CSV_COLUMNS = (
    "source",
    "status",
    "output",
    "format",
    "width",
    "height",
    "bytes",
    "source_bytes",
    "source_width",
    "source_height",
    "seconds",
    "error",
    "notes",  # the file's notes and warnings, "; " between them
)


# One encoder for every line: json.dumps builds a new one per call whenever
# an option differs from its defaults.
_encode = json.JSONEncoder(ensure_ascii=False).encode


def to_json(value: object, encode: Callable[[object], str] = _encode) -> str:
    """`value` as JSON text that is all Unicode: a path's undecodable byte (a
    lone surrogate, as os.fsdecode gives it) is written as the text
    `\\udce9`, as the terminal and the CSV show it. Left to the encoder it
    was the JSON escape of a lone surrogate, which strict parsers refuse,
    jq prints as U+FFFD, and the HTML report showed as such."""
    text = encode(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub(lambda m: f"\\\\u{ord(m.group()):04x}", text)
    return text


_SURROGATE = re.compile("[\ud800-\udfff]")


def result_dict(result: Result) -> dict[str, Any]:
    return {
        "source": result.source,
        "status": result.status,
        "outputs": [
            {
                "path": o.path,
                "format": o.format,
                "width": o.width,
                "height": o.height,
                "bytes": o.bytes,
            }
            for o in result.outputs
        ],
        "source_bytes": result.source_bytes,
        "width": result.width,
        "height": result.height,
        "seconds": round(result.seconds, 4),
        "error": result.error,
        "notes": list(result.notes),
        "started": round(result.started, 4) if result.started else None,
        "ended": round(result.ended, 4) if result.ended else None,
        "worker": result.worker or None,
    }


class ReportWriter:
    """Base for a report file: a temporary file beside the target, renamed on close."""

    def __init__(self, path: str, argv: Sequence[str]) -> None:
        self.path = path
        self.argv = list(argv)
        folder = os.path.dirname(os.path.abspath(path))
        make_folders(folder)
        # Named as a worker's, so a killed run's is known for abandoned and
        # removed: here, and by --prune and the runs that write its folder.
        remove_abandoned([folder])
        name = f"{temp_prefix(os.getpid())}report-{os.path.basename(path)}"
        self._temp = os.path.join(folder, name)
        # A path that is not valid UTF-8 (a failure's) is written as its
        # escape, `caf\udce9.jpg`, which JSON reads back as it was.
        self._fp: IO[str] = open(  # noqa: SIM115
            self._temp, "w", encoding="utf-8", errors="backslashreplace", newline=""
        )
        # Walker notes (broken links, symlink loops, unreadable folders) are
        # few, so they are kept and written at the end.
        self.notes: list[dict[str, str]] = []
        self._start()

    def note(self, path: str, reason: str) -> None:
        self.notes.append({"path": path, "reason": reason})

    def _start(self) -> None:
        raise NotImplementedError

    def add(self, result: Result) -> None:
        raise NotImplementedError

    def _finish(self, summary: Summary, said: Sequence[str]) -> None:
        raise NotImplementedError

    def close(self, summary: Summary, said: Sequence[str] = ()) -> None:
        """Write the end of the report: the summary, and the run's `said`,
        its warnings and end notes as the terminal shows them (`warning:
        ...`, `note: ...`)."""
        self._finish(summary, said)
        self._fp.close()
        os.replace(self._temp, self.path)

    def discard(self) -> None:
        """Drop the unfinished report (an internal error, a full disk)."""
        with contextlib.suppress(OSError):  # closing flushes, on a full disk too
            self._fp.close()
        with contextlib.suppress(OSError):
            os.unlink(self._temp)


# The JSON report's layout, as docs/report.md gives it: raised when a field
# changes meaning or goes, not for one added.
REPORT_SCHEMA = 1


class JsonReport(ReportWriter):
    def _start(self) -> None:
        head = to_json({"imgpar": __version__, "imgpar_report": REPORT_SCHEMA, "argv": self.argv})
        self._fp.write(head[:-1] + ', "files": [')
        self._first = True

    def add(self, result: Result) -> None:
        line = to_json(result_dict(result))
        self._fp.write(("\n  " if self._first else ",\n  ") + line)
        self._first = False

    def _finish(self, summary: Summary, said: Sequence[str]) -> None:
        self._fp.write('\n], "notes": ')
        self._fp.write(to_json(self.notes))
        self._fp.write(', "said": ')
        self._fp.write(to_json(list(said)))
        self._fp.write(', "summary": ')
        self._fp.write(to_json(summary.as_dict()))
        self._fp.write("}\n")


class CsvReport(ReportWriter):
    """One row per output; a file with no output (failed or skipped) gets one row."""

    def _start(self) -> None:
        self._csv = csv.writer(self._fp)
        self._csv.writerow(CSV_COLUMNS)

    def add(self, result: Result) -> None:
        common = (
            result.source_bytes,
            result.width,
            result.height,
            round(result.seconds, 4),
            result.error or "",
            "; ".join(result.notes),
        )
        if not result.outputs:
            self._csv.writerow((result.source, result.status, "", "", "", "", "", *common))
        for o in result.outputs:
            self._csv.writerow(
                (
                    result.source,
                    result.status,
                    o.path,
                    o.format,
                    o.width,
                    o.height,
                    o.bytes,
                    *common,
                )
            )

    def _finish(self, summary: Summary, said: Sequence[str]) -> None:
        pass


def _html_report(path: str, argv: Sequence[str]) -> ReportWriter:
    # Imported on use: report_html builds on this module, and only an HTML
    # report needs its page template.
    from imgpar.report_html import HtmlReport

    return HtmlReport(path, argv)


REPORTS: dict[str, Callable[[str, Sequence[str]], ReportWriter]] = {
    ".json": JsonReport,
    ".csv": CsvReport,
    ".html": _html_report,
}


def misnamed(path: str) -> str | None:
    """Why `path` cannot be a report's name, if it cannot."""
    if os.path.splitext(path)[1].lower() in REPORTS:
        return None
    *others, last = REPORTS
    return f"{path}: name it {', '.join(others)} or {last}"


def open_report(path: str, argv: Sequence[str]) -> ReportWriter:
    if (problem := misnamed(path)) is not None:
        raise ValueError(problem)
    return REPORTS[os.path.splitext(path)[1].lower()](path, argv)
