"""What C libraries print while a file is read, and errors met reading it."""

from __future__ import annotations

import contextlib
import errno
import io
import os

import pytest
from PIL import Image

from imgpar.cstderr import Catcher
from imgpar.pipeline import describe, heard


def _say(text: str) -> None:
    """Print to descriptor 2 as a C library does, whatever becomes of it."""
    with contextlib.suppress(BlockingIOError):  # C's stdio drops what a full pipe refuses
        os.write(2, text.encode())


def test_what_is_said_while_a_file_converts_is_heard_once() -> None:
    with Catcher(swap=True) as catcher:
        with catcher.during():
            _say("tempfile.tif: Using code not yet in table.\nLZWDecode: LZWDecode: cut.\n")
        assert heard(catcher) == (
            ["Using code not yet in table", "LZWDecode: cut"],
            "LZWDecode: cut",
        )
        _say("")  # descriptor 2 is this process's own again
        assert heard(catcher) == ([], "")


def test_a_flood_never_blocks_and_its_last_line_is_no_reason() -> None:
    # 3,000 lines fill the pipe: the rest are lost, so the last line kept
    # is not the one that said why the decoder stopped.
    with Catcher(swap=True) as catcher:
        with catcher.during():
            for i in range(3000):
                _say(f"FloodLib: warning {i:05d} about this file\n")
            _say("FloodLib: the real error\n")
        said, last = heard(catcher)
    assert said[0] == "FloodLib: warning 00000 about this file"
    assert "FloodLib: the real error" not in said
    assert last == ""


class _FailingDisk(io.BytesIO):
    """A file whose disk fails once its header has been read."""

    def read(self, size: int | None = -1) -> bytes:
        if self.tell() > 100:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return super().read(size)


def test_a_disk_that_fails_mid_read_is_no_damage_to_the_file() -> None:
    # Raised inside Pillow's load, EIO read "corrupt image data ([Errno 5] ...)".
    data = io.BytesIO()
    Image.effect_noise((256, 256), 40).convert("RGB").save(data, "PNG")
    with Image.open(_FailingDisk(data.getvalue())) as im, pytest.raises(OSError) as raised:
        im.load()
    assert describe(raised.value) == "cannot read the file: input/output error"


def test_a_file_read_once_closed_is_a_bug_not_damage() -> None:
    # Raised inside Pillow's load all the same, by the file object.
    data = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(data, "PNG")
    source = io.BytesIO(data.getvalue())
    with Image.open(source) as im, pytest.raises(ValueError) as raised:
        source.close()
        im.load()
    assert describe(raised.value) == "ValueError: I/O operation on closed file."
