"""What C libraries print on stderr while a file is read."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import pytest

from imgpar.cstderr import Catcher, listening
from imgpar.pipeline import library_words


def test_what_is_printed_while_a_file_converts_is_caught_once(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with Catcher(swap=True) as catcher:
        with listening(catcher) as heard:
            os.write(2, b"tempfile.tif: Using code not yet in table.\n")
            os.write(2, b"\nLZWDecode: LZWDecode: cut.\n")
        assert library_words(heard.printed) == ["Using code not yet in table", "LZWDecode: cut"]
        os.write(2, b"between files\n")  # descriptor 2 is this process's own again
        with listening(catcher) as heard:
            pass
    assert heard == ([], [])
    assert capfd.readouterr().err == "between files\n"


def test_a_long_say_keeps_whole_lines_from_its_start_and_its_end() -> None:
    # 200 lines of 64 bytes: the first 4 KiB, and the last 4 KiB from a line's start.
    lines = [f"Lib: line {i:03d} ".ljust(63, ".") for i in range(200)]
    with Catcher(swap=True) as catcher, listening(catcher) as heard:
        os.write(2, "".join(line + "\n" for line in lines).encode())
    assert heard.printed == lines[:64] + lines[136:]


def test_a_last_line_longer_than_what_is_kept_keeps_its_end() -> None:
    with Catcher(swap=True) as catcher, listening(catcher) as heard:
        os.write(2, b"Lib: first\n" + b"x" * 10_000 + b" why it stopped\n")
    assert heard.printed[0] == "Lib: first"
    assert heard.printed[-1].endswith("xxx why it stopped")


def test_a_flood_keeps_its_first_lines_and_its_last() -> None:
    # The last line said tells why the decoder stopped: a pipe, once full,
    # lost it and kept a warning from the middle of the flood.
    with Catcher(swap=True) as catcher, listening(catcher) as heard:
        for i in range(3000):
            os.write(2, f"FloodLib: warning {i:05d} about this file\n".encode())
        os.write(2, b"FloodLib: the real error\n")
    assert heard.printed[0] == "FloodLib: warning 00000 about this file"
    assert heard.printed[-1] == "FloodLib: the real error"
    assert len(heard.printed) < 300


def test_what_pillow_logs_is_heard_only_by_a_catcher(caplog: pytest.LogCaptureFixture) -> None:
    pillow = logging.getLogger("PIL.TiffImagePlugin")
    with Catcher(swap=True) as catcher, listening(catcher) as heard:
        pillow.error("More samples per pixel than can be decoded: %s", 9)
        pillow.error("a log call whose arguments do not fit: %d", "nine")
        pillow.debug("a detail no one asked for")
    assert heard == ([], ["More samples per pixel than can be decoded: 9"])
    # The process's own handlers (pytest's here, a program's basicConfig)
    # do not print it too.
    assert "More samples" not in caplog.text
    # Without one, a program keeps its logging as it was.
    with listening(None) as heard:
        pillow.error("no catcher here")
    assert heard == ([], [])
    assert "no catcher here" in caplog.text


def test_with_no_temporary_folder_nothing_is_caught_and_nothing_fails(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # A worker whose Catcher could not start would stop the whole run.
    with monkeypatch.context() as patched:
        patched.setattr(tempfile, "tempdir", str(tmp_path / "gone"))
        catcher = Catcher(swap=True)
    with catcher, listening(catcher) as heard:
        os.write(2, b"heard by no one but the terminal\n")
    assert heard.printed == []
    assert capfd.readouterr().err == "heard by no one but the terminal\n"
