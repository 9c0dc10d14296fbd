"""Never hang, never lose a file: real processes, real signals, real files."""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import re
import resource
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import warnings
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import after_mount, temp_leftovers, tiff_patched, unprivileged
from hostile import make_hostile_tree
from PIL import Image
from typer.testing import CliRunner

import imgpar
from imgpar.api import prepare
from imgpar.cli import app
from imgpar.errors import UsageError
from imgpar.limits import CHUNK_BYTES
from imgpar.pipeline import CRASH_ENV, HANG_ENV, TRUNCATED_NOTE, convert_file
from imgpar.spec import Result, Task
from imgpar.temps import process_state, temp_prefix

IMGPAR = [sys.executable, "-m", "imgpar"]


_NOISE: dict[tuple[int, int], Image.Image] = {}


def _photo(path: Path, size: tuple[int, int] = (1600, 1200), seed: int = 0) -> None:
    # Noise makes decoding and encoding take real time; made once per size.
    if size not in _NOISE:
        _NOISE[size] = Image.effect_noise(size, 40).convert("RGB")
    im = _NOISE[size].copy()
    im.paste((seed * 40 % 255, 90, 160), (0, 0, size[0] // 3, size[1] // 3))
    im.save(path, quality=90)


def _tree(root: Path, count: int, size: tuple[int, int] = (1600, 1200)) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    paths = [root / f"p{i:02d}.jpg" for i in range(count)]
    for i, path in enumerate(paths):
        _photo(path, size, i)
    return paths


def _run(
    *args: str | Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*IMGPAR, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def _convert_with_a_crash(
    tmp_path: Path, count: int, size: tuple[int, int], *options: str | Path
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`count` photos and crash_here.jpg, whose worker dies, to WebP with --jobs 2."""
    _tree(tmp_path / "src", count, size)
    _photo(tmp_path / "src" / "crash_here.jpg", size)
    out = tmp_path / "out"
    proc = _run(
        "convert", tmp_path / "src", "--to", "webp", "--out", out, "--jobs", "2", *options,
        env={CRASH_ENV: "crash_here"},
    )
    return proc, out


def _stray(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".imgpar-tmp")]


def _report(path: Path) -> dict:
    return json.loads(path.read_text())


def test_hostile_collection_every_file_accounted_for(tmp_path: Path) -> None:
    names = make_hostile_tree(tmp_path / "src")
    out = tmp_path / "out"
    proc = _run(
        "convert", tmp_path / "src", "--to", "webp", "--out", out, "--report", tmp_path / "r.json"
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    report = _report(tmp_path / "r.json")
    reported = sorted(Path(f["source"]).name for f in report["files"])
    assert reported == names
    for entry in report["files"]:
        if entry["status"] == "failed":
            assert entry["error"] and "\n" not in entry["error"]
            assert f"failed: {entry['source']}: {entry['error']}" in proc.stderr
    noted = {Path(n["path"]).name for n in report["notes"]}
    assert {"broken_link.jpg", "back"} <= noted
    converted = {Path(f["source"]).stem for f in report["files"] if f["status"] == "converted"}
    assert {"png_named", "jpeg_named"} <= converted
    written = {p.stem for p in out.rglob("*.webp")}
    assert written == converted
    assert not _stray(out)
    bombs = [
        f
        for f in report["files"]
        if f["source"].endswith(("bomb_100000x100000.png", "bomb_screen.gif"))
    ]
    assert all("too many pixels" in f["error"] for f in bombs)
    errors = {Path(f["source"]).name: f["error"] for f in report["files"]}
    assert errors["empty.jpg"] == "empty file (0 bytes)"


def test_worker_killed_mid_batch_files_retried(tmp_path: Path) -> None:
    _tree(tmp_path / "src", 12, (2000, 1500))
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            *IMGPAR,
            "convert",
            str(tmp_path / "src"),
            "--to",
            "webp",
            "--out",
            str(out),
            "--jobs",
            "2",
            "--report",
            str(tmp_path / "r.json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    children: list[int] = []
    deadline = time.monotonic() + 30
    while not children and time.monotonic() < deadline:
        time.sleep(0.2)
        children = _children(proc.pid)
    assert children, "no worker process appeared"
    time.sleep(0.5)
    os.kill(children[0], signal.SIGKILL)
    _, stderr = proc.communicate(timeout=120)
    report = _report(tmp_path / "r.json")
    assert report["summary"]["files"] == 12
    # The killed worker's files were retried once, alone, and then succeeded.
    assert proc.returncode == 0, stderr
    assert report["summary"]["converted"] == 12
    # The retries ran in fresh workers: more pids than the two first started.
    assert len({f["worker"] for f in report["files"]}) >= 3
    for entry in report["files"]:
        with Image.open(entry["outputs"][0]["path"]) as im:
            assert im.size == (2000, 1500)
    assert not _stray(out)


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="finds workers through /proc")
def test_workers_end_with_a_run_killed_outright(tmp_path: Path) -> None:
    # SIGKILL leaves the run no time to stop its workers: they must not go
    # on converting unseen, nor hold the run's stdout open for ever (a CI
    # step reading it would never end).
    _tree(tmp_path / "src", 12, (2000, 1500))
    proc = subprocess.Popen(
        [*IMGPAR, "convert", str(tmp_path / "src"), "--to", "webp", "--out",
         str(tmp_path / "out"), "--jobs", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    workers: list[int] = []
    deadline = time.monotonic() + 30
    while len(workers) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
        workers = _children(proc.pid)
    assert workers, "no worker process appeared"
    proc.kill()
    proc.wait()
    assert proc.stdout is not None
    ended = threading.Thread(target=proc.stdout.read, daemon=True)
    ended.start()
    ended.join(timeout=10)
    assert not ended.is_alive(), "a worker still holds the run's stdout"
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if _alive(pid)]


def _alive(pid: int) -> bool:
    return process_state(pid) not in (None, "Z")


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(c) for c in text]
    return found


def test_a_stopped_worker_is_said_not_its_files_doing(tmp_path: Path) -> None:
    # A worker suspended (kill -STOP) ran the file to its --timeout, which
    # then blamed the file alone.
    _tree(tmp_path / "src", 1, (60, 40))
    _photo(tmp_path / "src" / "stall.jpg", (60, 40))
    proc = subprocess.Popen(
        [*IMGPAR, "convert", str(tmp_path / "src"), "--to", "webp", "--out",
         str(tmp_path / "out"), "--timeout", "3", "--jobs", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, HANG_ENV: "stall"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1)  # the stalled file in hand
        for worker in _children(proc.pid):
            os.kill(worker, signal.SIGSTOP)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1
    said = f"failed: {tmp_path / 'src' / 'stall.jpg'}: timed out after 3 s: its worker"
    assert f"{said} process was stopped, not converting it" in stderr.splitlines()


def test_crashing_file_reported_others_converted(tmp_path: Path) -> None:
    proc, out = _convert_with_a_crash(tmp_path, 5, (400, 300), "--report", tmp_path / "r.json")
    assert proc.returncode == 1
    report = _report(tmp_path / "r.json")
    by_name = {Path(f["source"]).name: f for f in report["files"]}
    assert by_name["crash_here.jpg"]["status"] == "failed"
    assert by_name["crash_here.jpg"]["error"] == f"worker process died (signal {signal.SIGSEGV})"
    assert sum(f["status"] == "converted" for f in report["files"]) == 5
    assert not (out / "crash_here.webp").exists()
    assert not _stray(out)


@pytest.mark.parametrize("size", [(300, 200), (1600, 1200)], ids=["in-a-chunk", "alone"])
def test_file_that_takes_forever_times_out(tmp_path: Path, size: tuple[int, int]) -> None:
    # Small files travel in one chunk with the stalled one; a big file alone.
    _tree(tmp_path / "src", 3, size)
    _photo(tmp_path / "src" / "stall.jpg", size)
    started = time.monotonic()
    proc = _run(
        "convert",
        tmp_path / "src",
        "--to",
        "webp",
        "--out",
        tmp_path / "out",
        "--timeout",
        "2",
        "--report",
        tmp_path / "r.json",
        env={HANG_ENV: "stall"},
    )
    # Stopped once it has run 2 s, not after its chunk's whole allowance
    # and a retry (3 to 10 times as long).
    assert time.monotonic() - started < 6
    assert proc.returncode == 1
    report = _report(tmp_path / "r.json")
    by_name = {Path(f["source"]).name: f for f in report["files"]}
    assert by_name["stall.jpg"]["error"] == "timed out after 2 s"
    # Its time in the worker is on record, for the report's timeline.
    stalled = by_name["stall.jpg"]
    assert 2 <= stalled["seconds"] < 4
    assert stalled["ended"] - stalled["started"] == pytest.approx(stalled["seconds"], abs=0.01)
    # It is work, but not waiting: nothing says how its time went, and a
    # note that the machine was busy would blame the wrong thing.
    assert report["summary"]["waited_seconds"] < 1
    assert "note: the workers waited" not in proc.stderr
    assert sum(f["status"] == "converted" for f in report["files"]) == 3
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.suffix == ".webp") == [
        "p00.webp", "p01.webp", "p02.webp"
    ]  # fmt: skip
    # Running out of time says nothing of the file: another run may not.
    checked = _run("convert", tmp_path / "src", "--to", "webp", "--out", tmp_path / "out",
                   "--check")  # fmt: skip
    assert checked.stdout.splitlines() == [f"stale: {tmp_path / 'src' / 'stall.jpg'}"]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="pins the run to one CPU")
def test_on_one_cpu_the_default_still_stops_a_stuck_file(tmp_path: Path) -> None:
    # One CPU means one job; by default in a worker process all the same,
    # which --timeout can stop (an explicit --jobs 1 converts in-process).
    _tree(tmp_path / "src", 2, (300, 200))
    _photo(tmp_path / "src" / "stall.jpg", (300, 200))
    started = time.monotonic()
    proc = subprocess.run(
        [*IMGPAR, "convert", str(tmp_path / "src"), "--to", "webp", "--out", str(tmp_path / "o"),
         "--timeout", "2"],
        capture_output=True, text=True, timeout=120, env={**os.environ, HANG_ENV: "stall"},
        preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}),
    )  # fmt: skip
    assert time.monotonic() - started < 30
    assert proc.returncode == 1
    assert "stall.jpg: timed out after 2 s" in proc.stderr
    assert "2 converted, 0 skipped, 1 failed" in proc.stdout
    assert "on 1 job" in proc.stdout


@pytest.mark.parametrize(
    ("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)]
)
def test_interrupt_stops_fast_keeps_finished_and_rerun_completes(
    tmp_path: Path, sig: signal.Signals, status: int
) -> None:
    _tree(tmp_path / "src", 3, (400, 300))
    # Large files in flight when the signal lands.
    for i in range(3):
        _photo(tmp_path / "src" / f"z_big{i}.jpg", (4000, 3000), i)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            *IMGPAR,
            "convert",
            str(tmp_path / "src"),
            "--to",
            "webp",
            "--out",
            str(out),
            "--jobs",
            "2",
            "--report",
            str(tmp_path / "r.json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while len(list(out.glob("*.webp"))) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    sent = time.monotonic()
    if sig == signal.SIGHUP:
        os.killpg(proc.pid, sig)  # a closed terminal's: to the workers too
    else:
        proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 2.0
    assert proc.returncode == status, stderr
    assert "interrupted" in stdout
    report = _report(tmp_path / "r.json")
    assert report["summary"]["interrupted"] is True
    finished = {f["outputs"][0]["path"] for f in report["files"] if f["status"] == "converted"}
    assert finished == {str(p) for p in out.glob("*.webp")}
    assert not _stray(out)
    assert not _children(proc.pid) if Path(f"/proc/{proc.pid}").exists() else True

    rerun = _run(
        "convert", tmp_path / "src", "--to", "webp", "--out", out, "--report", tmp_path / "r2.json"
    )
    assert rerun.returncode == 0
    summary = _report(tmp_path / "r2.json")["summary"]
    assert summary["skipped"] == len(finished)
    assert summary["converted"] == 6 - len(finished)


def test_interrupt_reports_every_output_it_left(tmp_path: Path) -> None:
    # Photos of a few hundred KB: under the old 1 MiB chunks, three or four
    # shared a chunk, and Ctrl-C left the finished ones on disk but out of
    # the report and the cache, to be converted again by the next run.
    src = tmp_path / "src"
    _tree(src, 12, (800, 600))
    # The biggest, so started first: it stalls one worker for good while
    # the other converts every photo, and then nothing more can happen.
    _photo(src / "stall.jpg", (840, 630))
    sizes = [p.stat().st_size for p in src.iterdir()]
    assert all(CHUNK_BYTES <= size < CHUNK_BYTES * 4 for size in sizes)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [*IMGPAR, "convert", str(src), "--to", "webp", "--out", str(out), "--jobs", "2",
         "--report", str(tmp_path / "r.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, HANG_ENV: "stall"},
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while len(list(out.glob("*.webp"))) < 12 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # for the last results to reach the parent
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    report = _report(tmp_path / "r.json")
    finished = {f["outputs"][0]["path"] for f in report["files"] if f["status"] == "converted"}
    assert finished == {str(out / f"p{i:02d}.webp") for i in range(12)}
    assert {str(p) for p in out.glob("*.webp")} == finished


def test_ctrl_c_pressed_again_during_cleanup_still_cleans_up(tmp_path: Path) -> None:
    # `timeout -s INT` signals the process and then its group; impatient users
    # press Ctrl-C twice. A second signal must not cut the cleanup short, nor
    # the report and summary after it.
    (tmp_path / "src").mkdir()
    for i in range(4):
        _photo(tmp_path / "src" / f"big{i}.jpg", (4000, 3000), i)
    out = tmp_path / "out"
    argv = [*IMGPAR, "convert", str(tmp_path / "src"), "--to", "webp", "--out", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not _stray(out) and time.monotonic() < deadline:
        time.sleep(0.01)  # until the workers are writing their first outputs
    while proc.poll() is None and time.monotonic() < deadline:  # again and again, to the end
        proc.send_signal(signal.SIGINT)
        time.sleep(0.002)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "(interrupted)" in stdout  # the summary, written after the cleanup
    assert not _stray(out)


@pytest.mark.parametrize("moment", ["loading", "parsing"])
@pytest.mark.parametrize(
    ("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)]
)
def test_a_stop_as_the_command_starts_says_so(
    tmp_path: Path, moment: str, sig: int, status: int
) -> None:
    # `timeout 5 imgpar ...` in a CI step on a slow machine: stopped as its
    # modules loaded, or as typer parsed the command line, it ended with an
    # empty log (SIGTERM, SIGHUP: Python's default; typer makes any stop
    # exit 130, without a word).
    _tree(tmp_path / "src", 1, (64, 48))
    land = f"os.kill(os.getpid(), {int(sig)})"
    hook = {
        "loading": (
            "import builtins\n"
            "load = builtins.__import__\n"
            "def hooked(name, *args, **kwargs):\n"
            "    if name == 'imgpar.cli':\n"
            f"        builtins.__import__ = load; {land}\n"
            "    return load(name, *args, **kwargs)\n"
            "builtins.__import__ = hooked\n"
        ),
        "parsing": (
            "import typer._click.core as core\n"
            "made = core.Context.__init__\n"
            "def hooked(self, *args, **kwargs):\n"
            f"    core.Context.__init__ = made; {land}\n"
            "    made(self, *args, **kwargs)\n"
            "core.Context.__init__ = hooked\n"
        ),
    }[moment]
    code = (
        "import os, sys\n"
        "from imgpar.__main__ import main\n"
        "sys.argv[0] = 'imgpar'\n"
        f"{hook}"
        "main()\n"
    )
    args = ["convert", str(tmp_path / "src"), "--to", "webp", "--out", str(tmp_path / "out")]
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert (done.returncode, done.stderr) == (status, "interrupted\n")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("mode", ["--check", "--dry-run"])
@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_preview_stopped_twice_ends_quietly(
    tmp_path: Path, mode: str, sig: int, status: int
) -> None:
    # `timeout` signals the process, then its group: the second signal cut
    # short the closing of the caches, "Exception ignored in: <generator
    # object Job.dry_plan>" and a KeyboardInterrupt traceback.
    _tree(tmp_path / "src", 2, (64, 48))
    twice = (
        "import os, sys, imgpar.api as m\n"
        "original = m.Job._close_caches\n"
        "def stopped(*args):\n"
        f"    os.kill(os.getpid(), {int(sig)})\n"
        "    try:\n"
        "        return original(*args)\n"
        "    finally:\n"
        f"        os.kill(os.getpid(), {int(sig)})\n"
        "m.Job._close_caches = stopped\n"
        "from imgpar.cli import main\n"
        "sys.argv[0] = 'imgpar'\n"
        "main()\n"
    )
    args = ["convert", str(tmp_path / "src"), "--to", "webp", "--out", str(tmp_path / "out")]
    done = subprocess.run([sys.executable, "-c", twice, *args, mode], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == status, done.stderr
    assert done.stderr.splitlines()[-1] == "interrupted", done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize(
    ("module", "method"),
    [("imgpar.report", "JsonReport.close"), ("imgpar.api", "Job._close_caches")],
)
def test_a_stop_after_the_last_file_changes_nothing(
    tmp_path: Path, sig: int, module: str, method: str
) -> None:
    # A CI timeout or a Ctrl-C in the last moments, as the run closes its
    # caches or writes its report: it left no report (only its temporary
    # file), no manifest and no summary, or with SIGTERM killed the run
    # outright; as the caches closed, their last batch was lost.
    _tree(tmp_path / "src", 2, (64, 48))
    out = tmp_path / "out"
    owner, name = method.split(".")
    stop_there = (
        f"import os, sys, {module} as m\n"
        f"original = m.{method}\n"
        f"def stopped(*args, **kwargs):\n    os.kill(os.getpid(), {int(sig)})\n"
        "    return original(*args, **kwargs)\n"
        f"m.{owner}.{name} = stopped\n"
        "from imgpar.cli import main\n"
        "sys.argv[0] = 'imgpar'\n"
        "main()\n"
    )
    args = ["convert", str(tmp_path / "src"), "--to", "webp", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-c", stop_there, *args, "--report", str(out / "r.json"),
         "--manifest", str(out / "m.json")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("2 converted, 0 skipped, 0 failed in ")
    assert "note: the stop came after the last file: the run is complete" in done.stderr
    report = _report(out / "r.json")
    assert "interrupted" not in report["summary"] and len(report["files"]) == 2
    assert sorted(_report(out / "m.json")) != []
    assert not _stray(out)
    assert _run(*args).stdout.startswith("0 converted, 2 skipped")  # the cache has both


def test_a_killed_runs_report_and_manifest_leftovers_are_removed(tmp_path: Path) -> None:
    # Killed while writing them (SIGKILL, a closed terminal), a run left its
    # report's and manifest's temporary files for ever, the manifest's not
    # even hidden: next to the site's files, to be deployed with them.
    _tree(tmp_path / "src", 1, (64, 48))
    dead = subprocess.Popen(["true"])  # its process id is no process's now
    dead.wait()
    reports, out = tmp_path / "reports", tmp_path / "out"
    reports.mkdir()
    out.mkdir()
    left = [reports / f"{temp_prefix(dead.pid)}report-r.json",
            out / f"{temp_prefix(dead.pid)}manifest-m.json"]  # fmt: skip
    for path in left:
        path.write_text("{half")
    done = _run("convert", tmp_path / "src", "--to", "webp", "--out", out,
                "--report", reports / "r.json", "--manifest", out / "m.json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [p for p in left if p.exists()] == []
    assert sorted(p.name for p in reports.iterdir()) == ["r.json"]
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".imgpar-")) == [
        "m.json", "p00.webp"
    ]  # fmt: skip


def test_ctrl_c_twice_with_one_job_stops_a_stuck_file(tmp_path: Path) -> None:
    # The first Ctrl-C waits for the file in hand; one that never ends must
    # still be stoppable without SIGKILL, which leaves no report.
    _tree(tmp_path / "src", 1, (60, 40))
    _photo(tmp_path / "src" / "stall.jpg", (60, 40))
    proc = subprocess.Popen(
        [*IMGPAR, "convert", str(tmp_path / "src"), "--to", "webp", "--out",
         str(tmp_path / "out"), "--jobs", "1", "--report", str(tmp_path / "r.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, HANG_ENV: "stall"},
    )  # fmt: skip
    try:
        time.sleep(1.5)  # start-up, the small photo, into the stall
        proc.send_signal(signal.SIGINT)
        assert proc.stderr is not None
        told = proc.stderr.readline()
        assert told.startswith("note: stopping once the file in hand is converted")
        proc.send_signal(signal.SIGINT)
        stdout, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()  # never left asleep for an hour when the test fails
    assert proc.returncode == 130
    assert "(interrupted)" in stdout
    assert _report(tmp_path / "r.json")["summary"]["interrupted"] is True
    assert not _stray(tmp_path / "out")


@pytest.mark.parametrize("ignored", [signal.SIGHUP, signal.SIGINT], ids=["nohup", "script's &"])
def test_a_stop_signal_ignored_from_the_start_stays_ignored(
    tmp_path: Path, ignored: signal.Signals
) -> None:
    # nohup ignores SIGHUP, and a shell script's `imgpar ... &` SIGINT: a
    # Ctrl-C for the script's foreground job then stopped imgpar too.
    _tree(tmp_path / "src", 6, (400, 300))
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [*IMGPAR, "convert", str(tmp_path / "src"), "--to", "webp", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(ignored, signal.SIG_IGN),
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not list(out.glob("*.webp")) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, ignored)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert stdout.startswith("6 converted, 0 skipped, 0 failed in ")


def test_ctrl_c_with_one_job_keeps_the_file_in_hand(tmp_path: Path) -> None:
    # --jobs 1 converts in this process, where the file cannot be stopped:
    # the run said nothing while it finished, then threw the output away.
    src = tmp_path / "src"
    _tree(src, 3, (4000, 3000))
    out = tmp_path / "out"
    argv = [*IMGPAR, "convert", str(src), "--to", "webp", "--out", str(out), "--jobs", "1",
            "--report", str(tmp_path / "r.json")]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not _stray(out) and time.monotonic() < deadline:
        time.sleep(0.005)  # until the first photo is being written
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "note: stopping once the file in hand is converted" in stderr
    assert stdout.startswith("1 converted, 0 skipped, 0 failed (interrupted)")
    (written,) = out.glob("*.webp")
    with Image.open(written) as im:
        assert im.size == (4000, 3000)
    assert [f["status"] for f in _report(tmp_path / "r.json")["files"]] == ["converted"]
    assert not _stray(out)


def test_truncated_fails_by_default_and_converts_when_allowed(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _photo(src / "whole.jpg", (600, 400))
    data = (src / "whole.jpg").read_bytes()
    (src / "cut.jpg").write_bytes(data[: len(data) * 2 // 3])
    strict = _run("convert", src, "--to", "png", "--out", tmp_path / "a")
    assert strict.returncode == 1
    assert "cut.jpg: truncated file" in strict.stderr
    assert not (tmp_path / "a" / "cut.png").exists()
    report = tmp_path / "r.json"
    lenient = _run(
        "convert", src, "--to", "png", "--out", tmp_path / "b", "--allow-truncated",
        "--report", report,
    )  # fmt: skip
    assert lenient.returncode == 0, lenient.stderr
    with Image.open(tmp_path / "b" / "cut.png") as im:
        assert im.size == (600, 400)
    # The output is marked as what it is; the whole file's is not.
    notes = {Path(f["source"]).name: f["notes"] for f in _report(report)["files"]}
    assert notes["cut.jpg"] == [TRUNCATED_NOTE]
    assert notes["whole.jpg"] == []
    # Kept once, such an output is up to date without the flag; --force
    # remakes what the flag would refuse, and so fails it.
    again = _run("convert", src, "--to", "png", "--out", tmp_path / "b")
    assert again.returncode == 0
    assert again.stdout.startswith("0 converted, 2 skipped, 0 failed")
    forced = _run("convert", src, "--to", "png", "--out", tmp_path / "b", "--force")
    assert forced.returncode == 1
    assert "cut.jpg: truncated file" in forced.stderr
    with Image.open(tmp_path / "b" / "cut.png") as im:
        assert im.size == (600, 400)


def _apng_patched(path: Path, chunk: bytes, nth: int, at: int, value: bytes) -> Path:
    """A two-frame APNG of 10x10 whose `nth` `chunk` (0: the first) has
    `value` written `at` bytes into its data, its CRC made right again."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = [Image.new("RGB", (10, 10), colour) for colour in ("red", "blue")]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50)
    data = bytearray(path.read_bytes())
    start = -1
    for _ in range(nth + 1):
        start = data.index(chunk, start + 1)  # the chunk's type; its length is before it
    length = struct.unpack(">I", data[start - 4 : start])[0]
    data[start + 4 + at : start + 4 + at + len(value)] = value
    end = start + 4 + length
    data[end : end + 4] = struct.pack(">I", zlib.crc32(bytes(data[start:end])))
    path.write_bytes(bytes(data))
    return path


def test_a_file_cut_where_allowing_it_cannot_help_says_so(tmp_path: Path) -> None:
    # An APNG that claims three frames and holds two: it failed as truncated,
    # "--allow-truncated accepts it", and with the flag, the same words.
    src = tmp_path / "src"
    _apng_patched(src / "short.png", b"acTL", 0, 0, struct.pack(">I", 3))
    strict = _run("convert", src, "--to", "webp", "--out", tmp_path / "a")
    assert "short.png: truncated file: image data ends early (--allow-truncated accepts it)" in (
        strict.stderr
    )
    allowed = _run("convert", src, "--to", "webp", "--out", tmp_path / "b", "--allow-truncated")
    assert allowed.returncode == 1
    assert "short.png: truncated file: image data ends early, even read as far as it goes" in (
        allowed.stderr
    ), allowed.stderr


def _short_ihdr(path: Path) -> None:
    Image.new("RGB", (4, 4), "red").save(path)
    data = bytearray(path.read_bytes())
    at = data.index(b"IHDR") - 4
    data[at : at + 4] = struct.pack(">I", 12)  # a header of 13 bytes said to be 12
    path.write_bytes(bytes(data))


def _tiff_page_without_width(path: Path) -> None:
    pages = [Image.new("RGB", (8, 8), colour) for colour in ("red", "blue")]
    pages[0].save(path, save_all=True, append_images=pages[1:])
    data = bytearray(path.read_bytes())
    first = struct.unpack("<I", data[4:8])[0]
    entries = struct.unpack("<H", data[first : first + 2])[0]
    second = struct.unpack("<I", data[first + 2 + 12 * entries : first + 6 + 12 * entries])[0]
    assert struct.unpack("<H", data[second + 2 : second + 4]) == (256,)  # ImageWidth
    data[second + 2 : second + 4] = struct.pack("<H", 255)
    path.write_bytes(bytes(data))


def test_a_tiff_whose_later_page_cannot_be_read_gives_its_first(tmp_path: Path) -> None:
    # It failed whole, "TypeError: Missing dimensions", where only its
    # first page is written; with --all-pages every page is asked for.
    src = tmp_path / "src"
    src.mkdir()
    _tiff_page_without_width(src / "scan.tif")
    [result] = imgpar.convert([src], to="png", out=tmp_path / "o").files
    assert (result.status, result.notes) == (
        "converted", ("warning: pages after the first cannot be read (Missing dimensions)",)
    )  # fmt: skip
    with Image.open(tmp_path / "o" / "scan.png") as im:
        assert (im.size, im.getpixel((0, 0))) == ((8, 8), (255, 0, 0))
    [every] = imgpar.convert([src], to="tiff", out=tmp_path / "p", all_pages=True).files
    assert (every.status, every.error) == ("failed", "corrupt image data (Missing dimensions)")
    [facts] = json.loads(_run("info", src / "scan.tif", "--json").stdout)
    assert (facts["frames"], facts["error"], facts["warnings"]) == (
        1, None, ["pages after the first cannot be read (Missing dimensions)"]
    )  # fmt: skip


def _avif_patched(path: Path, box: bytes, at: int, value: bytes) -> None:
    Image.new("RGB", (16, 16), "red").save(path)
    data = bytearray(path.read_bytes())
    start = data.index(box) + 4 + at
    data[start : start + len(value)] = value
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("name", "make", "detail"),
    [
        # Pillow's SyntaxError came out as it was: "SyntaxError: APNG contains invalid frames".
        (
            "odd.png",
            lambda p: _apng_patched(p, b"fcTL", 1, 4, struct.pack(">II", 30000, 30000)),
            "APNG contains invalid frames",
        ),
        ("short.png", _short_ihdr, "Truncated IHDR chunk"),  # was "ValueError: ..."
        # libavif's, through Pillow: "RuntimeError: Failed to decode ...".
        (
            "none.avif",
            lambda p: _avif_patched(p, b"pitm", 5, b"\x02"),
            "Failed to decode image: Missing or empty image item",
        ),
        (
            "noise.avif",
            lambda p: _avif_patched(p, b"mdat", 0, b"\xff" * 8),
            "Failed to decode frame 0: Decoding of color planes failed",
        ),
    ],
)
def test_a_file_that_breaks_its_formats_rules_is_corrupt_image_data(
    tmp_path: Path, name: str, make: Callable[[Path], Any], detail: str
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    make(src / name)
    Image.new("RGB", (8, 8), "green").save(src / "good.png")
    reason = f"corrupt image data ({detail})"
    results = {
        Path(r.source).name: r for r in imgpar.convert([src], to="webp", out=tmp_path / "o").files
    }
    assert (results[name].status, results[name].error) == ("failed", reason)
    assert results["good.png"].status == "converted"
    with Image.open(tmp_path / "o" / "good.webp") as im:
        assert im.size == (8, 8)
    assert not (tmp_path / "o" / Path(name).with_suffix(".webp").name).exists()
    # imgpar info reads it as the run does.
    [facts] = json.loads(_run("info", src / name, "--json").stdout)
    assert facts["error"] == reason


def test_a_palette_with_more_alphas_than_colours_is_converted(tmp_path: Path) -> None:
    # A tRNS of 300 alphas: Pillow kept them all, then failed the file
    # ("ValueError: palette index out of range"); the first 256 are those a
    # palette can use.
    src = tmp_path / "src"
    src.mkdir()
    im = Image.new("P", (4, 2))
    im.putpalette([255, 0, 0, 0, 0, 255])
    im.putdata([0, 1, 0, 1, 1, 0, 1, 0])
    im.save(src / "logo.png", transparency=bytes([0, 255]))
    data = (src / "logo.png").read_bytes()
    start = data.index(b"tRNS") - 4
    alphas = bytes([0, 200]) + bytes(298)
    chunk = b"tRNS" + alphas
    (src / "logo.png").write_bytes(
        data[:start] + struct.pack(">I", len(alphas)) + chunk
        + struct.pack(">I", zlib.crc32(chunk)) + data[start + 14 :]
    )  # fmt: skip
    [result] = imgpar.convert([src], to="webp", out=tmp_path / "o", lossless=True).files
    assert result.status == "converted", result.error
    assert result.notes == (
        "warning: damaged transparency: the first 256 alphas used"
        " (300 given, for a palette of at most 256 colours)",
    )
    with Image.open(tmp_path / "o" / "logo.webp") as out:
        assert out.mode == "RGBA"
        assert out.getpixel((0, 0)) == (0, 0, 0, 0)  # alpha 0: WebP keeps no colour under it
        assert out.getpixel((1, 0)) == (0, 0, 255, 200)


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (
            # Its one strip said to be half as long as it is.
            tiff_patched(279, lambda n: n // 2, compression="tiff_lzw"),
            "corrupt image data (LZWDecode: Strip 0 not terminated with EOI code)",
        ),
        (
            # libtiff said "_TIFFVSetField: tempfile.tif: ...", Pillow's name for every file.
            tiff_patched(284, lambda _: 137, compression="packbits"),
            'corrupt image data (_TIFFVSetField: Bad value 137 for "PlanarConfiguration" tag)',
        ),
        (
            # A valid TIFF whose codec this libtiff lacks is not damaged.
            tiff_patched(259, lambda _: 50001, compression="tiff_adobe_deflate"),
            "unsupported by its decoder (WEBP compression support is not configured)",
        ),
    ],
    ids=["lzw-cut", "planar", "webp-codec"],
)
def test_what_libtiff_says_of_a_file_is_its_reason(
    tmp_path: Path, jobs: str, make: Callable[[Path], None], reason: str
) -> None:
    # Pillow said "decoder error -2"; with --jobs 1 libtiff's own words tore
    # through the terminal, and from a worker they were lost.
    src = tmp_path / "src"
    src.mkdir()
    make(src / "bad.tif")
    if reason.startswith("unsupported"):
        with contextlib.suppress(OSError), Image.open(src / "bad.tif") as im:
            im.load()
            pytest.skip("this libtiff decodes WebP")
    Image.new("RGB", (8, 8), "green").save(src / "good.tif", compression="tiff_lzw")
    proc = _run("convert", src, "--to", "png", "--out", tmp_path / "o", "--jobs", jobs)
    assert proc.returncode == 1
    detail = reason.split(" (", 1)[1][:12]
    said = [line for line in (proc.stdout + proc.stderr).splitlines() if detail in line]
    assert said == [f"failed: {src / 'bad.tif'}: {reason}"]
    assert "tempfile" not in proc.stderr
    with Image.open(tmp_path / "o" / "good.png") as im:
        assert im.getpixel((0, 0)) == (0, 128, 0)
    # imgpar info reads it as the run does.
    info = _run("info", src / "bad.tif", "--json")
    assert [facts["error"] for facts in json.loads(info.stdout)] == [reason]
    assert [line for line in info.stderr.splitlines() if detail in line] == [
        f"imgpar: error: {src / 'bad.tif'}: {reason}"
    ]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_what_pillow_logs_of_a_file_is_its_warning(tmp_path: Path, jobs: str) -> None:
    # Pillow logs a TIFF of 9 samples a pixel: Python's last resort printed
    # it through the progress bar with --jobs 1, and a worker's went to the
    # next file's notes (or nowhere).
    src = tmp_path / "src"
    src.mkdir()
    tiff_patched(277, lambda _: 9)(src / "nine.tif")
    Image.new("RGB", (8, 8), "green").save(src / "good.png")
    proc = _run("convert", src, "--to", "webp", "--out", tmp_path / "o", "--jobs", jobs,
                "--report", tmp_path / "r.json")  # fmt: skip
    assert proc.returncode == 1
    assert "samples" not in proc.stderr.replace(f"failed: {src / 'nine.tif'}", "")
    notes = {Path(f["source"]).name: f["notes"] for f in _report(tmp_path / "r.json")["files"]}
    assert notes == {
        "nine.tif": ["warning: More samples per pixel than can be decoded: 9"],
        "good.png": [],
    }
    info = _run("info", src / "nine.tif", "--json")
    assert json.loads(info.stdout)[0]["warnings"] == [
        "More samples per pixel than can be decoded: 9"
    ]
    assert "samples" not in info.stderr
    # --verbose tells it with the reason, as it tells a converted file's notes.
    told = _run("convert", src, "--to", "webp", "--out", tmp_path / "v", "--jobs", jobs,
                "--verbose")  # fmt: skip
    assert (
        f"failed: {src / 'nine.tif'}: damaged TIFF file: its header cannot be read (truncated"
        " or corrupt); warning: More samples per pixel than can be decoded: 9"
    ) in told.stderr.splitlines()
    # A listing tells no warnings: not this one either, raw on stderr.
    listing = _run("convert", src, "--to", "webp", "--out", tmp_path / "o", "--dry-run")
    assert "nine.tif: would fail: damaged TIFF file" in listing.stdout
    assert "samples" not in listing.stderr


def test_a_programs_own_logging_gives_no_second_warning(tmp_path: Path) -> None:
    # A program's basicConfig() writes Pillow's record to descriptor 2: in a
    # worker, into its Catcher, a second note "ERROR:PIL.TiffImagePlugin:...".
    src = tmp_path / "src"
    src.mkdir()
    tiff_patched(277, lambda _: 9)(src / "nine.tif")
    code = textwrap.dedent(f"""
        import logging
        import imgpar
        if __name__ == "__main__":
            logging.basicConfig()
            [result] = imgpar.convert([{str(src)!r}], to="webp", out={str(tmp_path / "o")!r},
                                      jobs=2).files
            print(list(result.notes))
    """)  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.stdout.strip() == str(["warning: More samples per pixel than can be decoded: 9"])


def test_with_stderr_closed_what_libtiff_said_is_still_heard(tmp_path: Path) -> None:
    # Run with `2>&-`, descriptor 2 is the next file opened: a catcher must
    # not take its number and lose what it catches, nor libtiff write into
    # the run's cache or report.
    src = tmp_path / "src"
    src.mkdir()
    tiff_patched(279, lambda n: n // 2, compression="tiff_lzw")(src / "bad.tif")
    Image.new("RGB", (8, 8), "green").save(src / "good.tif", compression="tiff_lzw")
    code = textwrap.dedent(f"""
        import imgpar
        if __name__ == "__main__":
            report = imgpar.convert([{str(src)!r}], to="png", out={str(tmp_path / "o")!r}, jobs=2)
            print(sorted((r.source.rsplit("/", 1)[-1], r.status, r.error) for r in report.files))
    """)  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
        preexec_fn=lambda: os.close(2),
    )  # fmt: skip
    reason = "corrupt image data (LZWDecode: Strip 0 not terminated with EOI code)"
    results = [("bad.tif", "failed", reason), ("good.tif", "converted", None)]
    assert proc.stdout.strip() == str(results)
    cli = subprocess.run(
        [*IMGPAR, "convert", str(src), "--to", "png", "--out", str(tmp_path / "o1"), "--jobs",
         "1", "--report", str(tmp_path / "r.json")],
        capture_output=False, stdout=subprocess.DEVNULL, timeout=120,
        preexec_fn=lambda: os.close(2),
    )  # fmt: skip
    assert cli.returncode == 1
    report = _report(tmp_path / "r.json")
    assert [f["error"] for f in report["files"] if f["status"] == "failed"] == [reason]
    again = _run("convert", src, "--to", "png", "--out", tmp_path / "o1", "--jobs", "1")
    assert again.stdout.startswith("0 converted, 1 skipped, 1 failed"), again.stdout  # cache whole


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="reads workers' descriptors in /proc")
def test_workers_hold_neither_of_the_runs_pipes(tmp_path: Path) -> None:
    # The command writes its own words to a copy of its stderr, which a
    # forked worker inherited: a CI step reading the run's stderr waits for
    # every holder to close.
    _tree(tmp_path / "src", 1, (60, 40))
    _photo(tmp_path / "src" / "stall.jpg", (60, 40))
    proc = subprocess.Popen(
        [*IMGPAR, "convert", str(tmp_path / "src"), "--to", "webp", "--out",
         str(tmp_path / "out"), "--jobs", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, HANG_ENV: "stall"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        workers: list[int] = []
        while len(workers) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            workers = _children(proc.pid)
        time.sleep(1)  # into the stall
        runs = {os.readlink(f"/proc/{proc.pid}/fd/{fd}") for fd in (1, 2)}
        held = {os.readlink(fd) for pid in workers for fd in Path(f"/proc/{pid}/fd").iterdir()}
    finally:
        proc.kill()
        proc.communicate()
    assert len(workers) == 2
    assert all(name.startswith("pipe:") for name in runs)
    assert not runs & held


def test_max_pixels_refuses_before_work(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _photo(src / "a.jpg", (400, 300))
    proc = _run("convert", src, "--to", "webp", "--out", tmp_path / "o", "--max-pixels", "100000")
    assert proc.returncode == 1
    assert "too many pixels: 400x300, over --max-pixels 100,000" in proc.stderr
    # Over twice the limit, Pillow's own check fires first: the same words.
    proc = _run("convert", src, "--to", "webp", "--out", tmp_path / "o", "--max-pixels", "50000")
    assert proc.returncode == 1
    assert "too many pixels: 400x300, over --max-pixels 50,000" in proc.stderr


def test_max_pixels_counts_what_each_frame_costs_too(tmp_path: Path) -> None:
    # Frames of one pixel passed a limit counted in pixels alone: two million
    # of them held a worker at 1.8 GB, and 80,000 took libwebp 20 s. Each
    # counts 4,096 pixels more.
    src = tmp_path / "src"
    src.mkdir()
    frames = [Image.new("L", (1, 1), i % 2 * 255) for i in range(1000)]
    frames[0].save(src / "dust.gif", save_all=True, append_images=frames[1:], duration=10)
    frames[0].save(src / "few.gif", save_all=True, append_images=frames[1:100], duration=10)
    proc = _run("convert", src, "--to", "webp", "--out", tmp_path / "o", "--max-pixels", "1000000")
    assert proc.returncode == 1
    too_many = (
        "dust.gif: too many pixels: 1x1 x 1000 frames (and 4,096 a frame besides), over"
        " --max-pixels 1,000,000"
    )
    assert too_many in proc.stderr
    with Image.open(tmp_path / "o" / "few.webp") as im:
        assert im.n_frames == 100


def test_sources_are_never_modified(tmp_path: Path) -> None:
    src = tmp_path / "src"
    paths = _tree(src, 3, (300, 200))
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in paths}
    for p in paths:
        p.chmod(0o444)
    src.chmod(0o555)
    try:
        # Next to the sources is impossible here; --out elsewhere works.
        proc = _run("convert", src, "--to", "jpeg", "--out", tmp_path / "o", "--force")
        assert proc.returncode == 0, proc.stderr
    finally:
        src.chmod(0o755)
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in paths} == before


def test_output_folder_that_cannot_be_created_is_a_usage_error(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _tree(src, 1, (100, 100))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for read_only in ([], ["--dry-run"]):
        proc = _run("convert", src, "--to", "webp", "--out", blocker / "sub", *read_only)
        assert proc.returncode == 2
        # It said "cannot be created: Not a directory", where a report says this.
        assert proc.stderr == (
            f"imgpar: error: --out {blocker / 'sub'} cannot be made: {blocker} is a file, not a"
            " folder\n"
        )


def test_reports_and_manifests_that_cannot_be_written_stop_before_work(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _tree(src, 1, (100, 100))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for option in ("--report", "--manifest"):
        out = tmp_path / f"out{option}"
        proc = _run("convert", src, "--to", "webp", "--out", out, option, blocker / "r.json")
        assert proc.returncode == 2, proc.stderr
        what = "report" if option == "--report" else "manifest"
        expected = f"imgpar: error: cannot write the {what} {blocker / 'r.json'}:"
        assert proc.stderr.startswith(expected), proc.stderr
        assert not any(out.rglob("*.webp")), "converted before finding it could not report"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("command", ["convert", "info"])
def test_stdout_on_a_full_disk_fails_the_command_in_one_line(
    tmp_path: Path, command: str
) -> None:
    # `imgpar info --json > listing.json` on a full disk: a traceback, or
    # (quiet, as for a closed pipe) exit 0 with nothing written.
    _tree(tmp_path / "src", 2, (60, 40))
    argv = [*IMGPAR, command, str(tmp_path / "src")]
    argv += ["--json"] if command == "info" else ["--to", "webp", "--out", str(tmp_path / "o")]
    with open("/dev/full", "w") as full:
        done = subprocess.run(argv, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr == "imgpar: error: cannot write to stdout: No space left on device\n"
    if command == "convert":
        assert len(list((tmp_path / "o").glob("*.webp"))) == 2


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_notes_that_cannot_be_written_or_a_closed_stdout_fail_nothing(tmp_path: Path) -> None:
    # `2>/dev/full` failed a run that converted every file; `>&-` (no stdout
    # at all) was an AttributeError.
    _tree(tmp_path / "src", 2, (60, 40))
    argv = [*IMGPAR, "convert", str(tmp_path / "src"), "--to", "webp", "--verbose", "--out"]
    with open("/dev/full", "w") as full:
        noted = subprocess.run([*argv, str(tmp_path / "a")], stdout=subprocess.PIPE, stderr=full,
                               text=True, timeout=120)  # fmt: skip
    assert noted.returncode == 0
    assert noted.stdout.startswith("2 converted, 0 skipped, 0 failed")
    closed = subprocess.run(" ".join([*argv, str(tmp_path / "b")]) + " >&-", shell=True,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert closed.returncode == 0, closed.stderr
    assert len(list((tmp_path / "b").glob("*.webp"))) == 2


def test_a_closed_pipe_on_stderr_does_not_stop_the_batch(tmp_path: Path) -> None:
    # `imgpar ... 2>&1 >/dev/null | head -1`: the reader of the lines goes away.
    src = tmp_path / "src"
    _tree(src, 6, (200, 150))
    for i in range(3):
        (src / f"bad{i}.jpg").write_text("not a picture")
    report = tmp_path / "r.json"
    argv = [*IMGPAR, "convert", src, "--to", "webp", "--out", tmp_path / "out", "--verbose"]
    proc = subprocess.Popen([*map(str, argv), "--report", str(report)], stderr=subprocess.PIPE)
    assert proc.stderr is not None
    proc.stderr.close()
    assert proc.wait(timeout=120) == 1  # failed files, and nothing worse
    assert len(list((tmp_path / "out").glob("*.webp"))) == 6
    summary = json.loads(report.read_text())["summary"]
    assert (summary["converted"], summary["failed"]) == (6, 3)


def test_prune_deletes_under_the_runs_own_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --prune ran once the run had let go of the folder: a run that had
    # waited for it, let in, listed files --prune then deleted, and failed
    # on each ("cannot read the file").
    src = tmp_path / "src"
    _tree(src, 3, (300, 200))
    assert _run("convert", src, "--to", "webp", "--max-size", "100,200").returncode == 0
    held: list[bool] = []
    prune = imgpar.api.Job.prune

    def observed(job: imgpar.api.Job, **options: Any) -> list[str]:
        fd = os.open(src / ".imgpar-lock", os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held.append(False)
        except BlockingIOError:
            held.append(True)
        finally:
            os.close(fd)
        return prune(job, **options)

    monkeypatch.setattr(imgpar.api.Job, "prune", observed)
    result = CliRunner().invoke(app, ["convert", str(src), "--to", "webp", "--max-size", "100",
                                      "--prune", "--jobs", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert held == [True]
    assert sorted(p.name for p in src.glob("*.webp")) == ["p00.webp", "p01.webp", "p02.webp"]
    # And let go of once it is done: a run after it goes on at once.
    again = imgpar.convert([src], to="webp", max_size=[100], jobs=1)
    assert again.summary.skipped == 3
    # Also when the run fails: kept for a --prune that never comes, the lock
    # refused every later run in the process.
    def broken(*_: object) -> None:
        raise RuntimeError("recording failed")

    monkeypatch.setattr(imgpar.plan.Planner, "record", broken)
    failed = CliRunner().invoke(app, ["convert", str(src), "--to", "webp", "--max-size", "100",
                                      "--prune", "--jobs", "1", "--force"])  # fmt: skip
    assert failed.exit_code != 0
    monkeypatch.undo()
    assert imgpar.convert([src], to="webp", max_size=[100], jobs=1).summary.files == 3


def test_a_second_run_on_the_same_output_waits_and_redoes_nothing(tmp_path: Path) -> None:
    _tree(tmp_path / "src", 4, (300, 200))
    _photo(tmp_path / "src" / "stall.jpg", (300, 200))
    out = tmp_path / "out"
    args = [*IMGPAR, "convert", str(tmp_path / "src"), "--to", "webp", "--out", str(out)]
    # The first run holds the folder for 3 s, on a file that stalls.
    first = subprocess.Popen(
        [*args, "--timeout", "3"], env={**os.environ, HANG_ENV: "stall"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not list(out.glob("p*.webp")) and time.monotonic() < deadline:
        time.sleep(0.05)
    second = _run("convert", tmp_path / "src", "--to", "webp", "--out", out, "--verbose")
    assert first.wait(timeout=60) == 1  # the stalled file timed out
    assert second.returncode == 0, second.stderr
    assert f"note: waiting for another imgpar run on {out} to finish" in second.stderr
    # It found the first run's work done: only the file that run failed is new.
    assert "1 converted, 4 skipped, 0 failed" in second.stdout
    # Its time is its own, not the seconds it waited for the first.
    assert re.search(r"failed in 0\.\d s\n", second.stdout), second.stdout
    assert "converted: " in second.stderr and "stall.jpg" in second.stderr


@contextlib.contextmanager
def _lock_held(lock: Path, seconds: float = 60) -> Iterator[None]:
    """`lock` held by a process of its own, as another run holds it, for
    `seconds` at most."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\n"
         "time.sleep(float(sys.argv[2]))\n", str(lock), str(seconds)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        yield
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def test_a_file_saved_under_an_outputs_name_survives_a_run_that_kills_its_workers(
    tmp_path: Path,
) -> None:
    # In place, a run that killed its workers (a timeout, Ctrl-C) removed
    # every file newer than its start under the names of the outputs in
    # flight: the user's own, saved under names not yet written, too.
    src = tmp_path / "src"
    src.mkdir()
    Image.effect_noise((64, 64), 50).convert("RGB").save(src / "a-stall.png")
    for i in range(12):
        Image.new("RGB", (8, 8), (i * 20, 0, 0)).save(src / f"b{i:02d}.png")
    run = subprocess.Popen(
        [*IMGPAR, "convert", str(src), "--to", "webp", "--jobs", "2", "--timeout", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, HANG_ENV: "stall"},
    )  # fmt: skip
    time.sleep(1.5)  # every file but the stalled one's chunk is done by now
    saved = {}
    # (Not under the stalled file's own: one being written when the run
    # stops is taken for the run's.)
    for png in sorted(src.glob("b*.png")):
        mine = png.with_suffix(".webp")
        if not mine.exists():
            mine.write_text(f"my own {png.stem}")
            saved[mine] = mine.read_bytes()
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 1, stderr
    assert saved, "every output was there already: nothing was tested"
    assert {p: p.read_bytes() for p in saved if p.exists()} == saved


def test_a_program_is_warned_of_what_fails_a_run_beyond_its_files(tmp_path: Path) -> None:
    # A folder not read, a SOURCE emptied and a wait for another run: the
    # command line says each, the API said none, and iter_convert() yielded
    # nothing to tell that its run had failed.
    src = tmp_path / "src"
    _tree(src, 1, (60, 40))
    _tree(src / "locked", 1, (60, 40))
    code = textwrap.dedent("""
        import os, sys, warnings
        import imgpar
        os.chmod("src/locked", 0)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                for call in (imgpar.iter_convert, imgpar.convert):
                    list(call("src", to="webp", out="out", force=True))
        finally:
            os.chmod("src/locked", 0o755)
        for w in caught:
            print(w.category.__name__, w.message)
    """)
    said = subprocess.run([*unprivileged(), sys.executable, "-c", code], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert said.returncode == 0, said.stderr
    unread = "RuntimeWarning src/locked: cannot read folder: permission denied"
    assert said.stdout.splitlines() == [unread, unread]
    # A SOURCE emptied, its outputs kept.
    for photo in src.rglob("*.jpg"):
        photo.unlink()
    for call in (imgpar.iter_convert, imgpar.convert):
        with pytest.warns(RuntimeWarning, match=f"^{src}: no images in it now .*1 output of its"):
            list(call(src, to="webp", out=tmp_path / "out"))  # type: ignore[operator]
    # Another run holds the output folder for a second.
    _tree(src, 1, (60, 40))
    with (
        _lock_held(tmp_path / "out" / ".imgpar-lock", seconds=1),
        pytest.warns(RuntimeWarning, match=f"^waiting for another imgpar run on {tmp_path}")
        as waited,
    ):
        report = imgpar.convert(src, to="webp", out=tmp_path / "out")
    assert [w.filename for w in waited] == [__file__]  # the program's line, not imgpar's
    # A cache that cannot be written: the run's record lost, said.
    cache = tmp_path / "o2" / ".imgpar-cache.sqlite"
    cache.mkdir(parents=True)
    for call in (imgpar.iter_convert, imgpar.convert):
        with pytest.warns(RuntimeWarning, match=f"^cache {cache} cannot be written") as lost:
            list(call(src, to="webp", out=tmp_path / "o2"))  # type: ignore[operator]
        assert {w.filename for w in lost} == {__file__}
    assert report.summary.exit_status == 0 and report.summary.files == 1


def test_a_lock_file_another_user_owns_still_locks(tmp_path: Path) -> None:
    # Left read-only by a run under sudo: flock needs no more than reading.
    _tree(tmp_path / "src", 1, (60, 40))
    out = tmp_path / "out"
    out.mkdir()
    lock = out / ".imgpar-lock"
    with _lock_held(lock):
        lock.chmod(0o444)
        proc = subprocess.Popen(
            [*unprivileged(), *IMGPAR, "convert", str(tmp_path / "src"), "--to", "webp",
             "--out", str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stderr is not None
        told = proc.stderr.readline()
        assert told == f"note: waiting for another imgpar run on {out} to finish\n"
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert stdout.startswith("1 converted")


@pytest.mark.skipif(not os.path.exists("/proc/locks"), reason="needs Linux's /proc/locks")
def test_quiet_waits_for_another_run_without_a_note(tmp_path: Path) -> None:
    _tree(tmp_path / "src", 1, (60, 40))
    out = tmp_path / "out"
    out.mkdir()
    with _lock_held(out / ".imgpar-lock"):
        proc = subprocess.Popen(
            [*IMGPAR, "convert", str(tmp_path / "src"), "--to", "webp", "--out", str(out),
             "--quiet"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        # Blocked on the lock: the kernel lists a waiter ("->").
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open("/proc/locks") as locks:
                if any("->" in line and f" {proc.pid} " in line for line in locks):
                    break
            time.sleep(0.02)
        else:
            pytest.fail("the run never waited for the lock")
    stdout, stderr = proc.communicate(timeout=60)
    assert (proc.returncode, stderr) == (0, "")  # --quiet: failures and the summary only
    assert stdout.startswith("1 converted")


def test_a_fifo_where_the_lock_file_belongs_is_no_lock(tmp_path: Path) -> None:
    # Another user's, in a shared folder: read-only, its open would wait
    # for a writer for ever.
    _tree(tmp_path / "src", 1, (60, 40))
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / ".imgpar-lock", 0o444)
    argv = [*unprivileged(), *IMGPAR, "convert", str(tmp_path / "src"), "--to", "webp",
            "--out", str(out)]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1 converted")


@pytest.mark.parametrize("jobs", ["2", "1"])
def test_a_run_stopped_while_it_waits_leaves_the_wait_out_of_its_time(
    tmp_path: Path, jobs: str
) -> None:
    _tree(tmp_path / "src", 1, (60, 40))
    out = tmp_path / "out"
    out.mkdir()
    with _lock_held(out / ".imgpar-lock"):  # another run's
        proc = subprocess.Popen(
            [*IMGPAR, "convert", str(tmp_path / "src"), "--to", "webp", "--out", str(out),
             "--jobs", jobs],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stderr is not None
        told = proc.stderr.readline()
        assert told == f"note: waiting for another imgpar run on {out} to finish\n"
        time.sleep(2)
        proc.send_signal(signal.SIGINT)
        stdout, _ = proc.communicate(timeout=10)  # at once: no file is in hand
    assert proc.returncode == 130
    assert re.search(r"\(interrupted\) in 0\.\d s\n", stdout), stdout


def test_a_timeout_of_nothing_is_a_usage_error(tmp_path: Path) -> None:
    proc = _run("convert", tmp_path, "--to", "webp", "--timeout", "0")
    assert proc.returncode == 2
    assert "--timeout must be a positive, finite number of seconds" in proc.stderr


def test_a_folder_that_cannot_be_written_is_named(tmp_path: Path, tiny_disk: Path) -> None:
    _tree(tiny_disk, 2, (60, 40))
    remounted = subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk)], capture_output=True)
    if remounted.returncode != 0:
        pytest.skip("cannot remount the small tmpfs read-only here")
    proc = _run("convert", tiny_disk, "--to", "webp", "--jobs", "1")
    assert proc.returncode == 1
    failures = [line for line in proc.stderr.splitlines() if line.startswith("failed: ")]
    assert len(failures) == 2
    refused = f"cannot write to {tiny_disk}: read-only file system"
    assert all(line.split(": ", 2)[2] == refused for line in failures), failures


def _mounted_tmpfs(mount: Path, options: str) -> bool:
    try:
        made = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)],
                              capture_output=True)  # fmt: skip
    except OSError:  # no mount command at all
        return False
    return made.returncode == 0


@pytest.fixture
def tiny_disk(tmp_path: Path):
    mount = tmp_path / "tiny"
    mount.mkdir()
    if not _mounted_tmpfs(mount, "size=200k"):
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_full_disk_stops_cleanly(tmp_path: Path, tiny_disk: Path) -> None:
    _tree(tmp_path / "src", 12, (800, 600))
    proc = _run(
        "convert",
        tmp_path / "src",
        "--to",
        "png",
        "--out",
        tiny_disk,
        "--jobs",
        "2",
        "--report",
        tmp_path / "r.json",
    )
    assert proc.returncode == 1
    assert "disk full" in proc.stderr + proc.stdout
    summary = _report(tmp_path / "r.json")["summary"]
    assert summary["stopped"].startswith("disk full")
    assert summary["files"] < 12
    assert not _stray(tiny_disk)
    for png in tiny_disk.glob("*.png"):
        with Image.open(png) as im:
            im.load()  # every kept output is whole


def test_a_full_disk_leaves_no_folder_made_for_nothing(tmp_path: Path, tiny_disk: Path) -> None:
    # The other worker's file in hand, in a folder of its own, was killed
    # with its temporary file removed, and its folder (`e/deep/`) left empty.
    src = tmp_path / "src"
    for folder in "abcdef":
        _tree(src / folder / "deep", 1, (800, 600))
        _tree(src / folder, 1, (800, 600))
    proc = _run("convert", src, "--to", "png", "--out", tiny_disk, "--jobs", "2")
    assert proc.returncode == 1
    assert "disk full" in proc.stdout
    empty = [str(d) for d in tiny_disk.rglob("*") if d.is_dir() and not any(d.iterdir())]
    assert empty == []
    assert not _stray(tiny_disk)


def test_a_run_stopped_by_a_full_disk_warns_a_program_of_no_source_emptied(
    tmp_path: Path, tiny_disk: Path
) -> None:
    # Whether a SOURCE's images are all gone is known only once every file
    # is: the command line and convert() held their tongue after a stopped
    # run, and iter_convert() warned all the same.
    emptied, filling = tmp_path / "emptied", tmp_path / "filling"
    _tree(emptied, 1, (60, 40))
    assert imgpar.convert(emptied, to="png", out=tiny_disk).summary.converted == 1
    for photo in emptied.rglob("*.jpg"):
        photo.unlink()
    _tree(filling, 12, (800, 600))
    for call in (imgpar.iter_convert, imgpar.convert):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            done = call([emptied, filling], to="png", out=tiny_disk, jobs=1)  # type: ignore[operator]
            results = done.files if isinstance(done, imgpar.Report) else list(done)
        assert any(r.fatal and (r.error or "").startswith("disk full") for r in results)
        assert [str(w.message) for w in caught] == []


def _limited(limit: int, value: int) -> Callable[[], None]:
    def set_limit() -> None:
        resource.setrlimit(limit, (value, resource.getrlimit(limit)[1]))

    return set_limit


def test_a_file_size_limit_refuses_outputs_not_the_sources(tmp_path: Path) -> None:
    # `ulimit -f`: each file failed "OSError: [Errno 27] File too large",
    # recorded as its own, so --check listed every one as failing.
    _tree(tmp_path / "src", 3, (800, 600))
    out = tmp_path / "out"
    argv = [*IMGPAR, "convert", str(tmp_path / "src"), "--to", "png", "--out", str(out)]
    capped = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                            preexec_fn=_limited(resource.RLIMIT_FSIZE, 256 << 10))  # fmt: skip
    assert capped.returncode == 1
    failures = [line for line in capped.stderr.splitlines() if line.startswith("failed: ")]
    assert len(failures) == 3 and all(
        re.fullmatch(rf"failed: \S+: cannot write {out}/\S+\.png: file too large", line)
        for line in failures
    ), failures
    assert not _stray(out)
    check = subprocess.run([*argv, "--check"], capture_output=True, text=True, timeout=120)
    assert check.returncode == 1
    assert check.stderr.splitlines()[-1] == "3 stale, 0 failing, 0 orphaned outputs"


@pytest.mark.parametrize(
    ("limit", "value", "words"),
    [
        (resource.RLIMIT_NOFILE, 12, "too many open files: this process may have 12 open"),
        (resource.RLIMIT_AS, 45 << 20, "no thread can start: memory or processes are limited"),
    ],
    ids=["ulimit -n", "ulimit -v"],
)
def test_workers_that_cannot_start_stop_the_run_in_words(
    tmp_path: Path, limit: int, value: int, words: str
) -> None:
    # Each was an internal error: an OSError for the pool's pipes, a
    # RuntimeError for its thread.
    _tree(tmp_path / "src", 2, (60, 40))
    argv = [*IMGPAR, "convert", str(tmp_path / "src"), "--to", "webp", "--out",
            str(tmp_path / "out"), "--jobs", "2"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                          preexec_fn=_limited(limit, value))  # fmt: skip
    assert done.returncode == 1, done.stderr
    why = f"worker processes cannot start ({words}"
    assert why in done.stderr
    assert f"stopped: {why}" in done.stdout


def test_no_file_left_to_open_stops_the_run_and_is_no_files_fault(tmp_path: Path) -> None:
    # A worker that cannot open the next source: every file after would
    # fail alike. It failed each, recorded as the file's own fault.
    source = tmp_path / "a.jpg"
    _photo(source, (60, 40))
    code = textwrap.dedent(f"""
        import os, resource
        from pathlib import Path
        from conftest import convert_one
        source, out = Path({str(source)!r}), Path({str(tmp_path / "out")!r})
        convert_one(source, out, "webp")  # every module it needs, imported
        resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) - 1,
                           resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        result = convert_one(source, out, "webp")
        print(result.fatal, result.error)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).parent)  # fmt: skip
    assert done.returncode == 0, done.stderr
    fatal, error = done.stdout.strip().split(" ", 1)
    assert fatal == "True"
    assert re.fullmatch(r"too many open files: this process may have \d+ open \(ulimit -n\);"
                        r" raise it", error), error  # fmt: skip


def test_two_runs_on_one_output_folder(tmp_path: Path) -> None:
    _tree(tmp_path / "src", 8, (800, 600))
    out = tmp_path / "out"
    cmd = [
        *IMGPAR,
        "convert",
        str(tmp_path / "src"),
        "--to",
        "webp",
        "--out",
        str(out),
        "--force",
        "--jobs",
        "1",
    ]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)
    ]
    for p in procs:
        p.communicate(timeout=120)
        assert p.returncode == 0
    outputs = sorted(out.glob("*.webp"))
    assert len(outputs) == 8
    for path in outputs:
        with Image.open(path) as im:
            im.load()
            assert im.size == (800, 600)
    assert not _stray(out)


def test_workers_that_cannot_start_stop_the_run_at_once(tmp_path: Path) -> None:
    # A program read from stdin cannot be re-imported by spawned workers: every
    # worker dies at start-up, a real broken environment. The run must stop
    # with one clear reason, not retry each file alone.
    _tree(tmp_path / "src", 6, (200, 150))
    script = (
        "import sys, imgpar\n"
        "r = imgpar.convert([sys.argv[1]], to='webp', out=sys.argv[2], jobs=2,"
        " start_method='spawn')\n"
        "print(r.summary.stopped)\n"
    )
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-", str(tmp_path / "src"), str(tmp_path / "out")],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - started < 20
    assert proc.stdout.strip().startswith("worker processes cannot start")
    assert not list((tmp_path / "out").glob("*.webp"))


def test_killed_worker_temp_files_go_also_in_size_named_folders(tmp_path: Path) -> None:
    # With `{width}` in a folder name the folder is known only to the worker:
    # cleaning up after a dead worker must still find it, and not crash.
    proc, out = _convert_with_a_crash(
        tmp_path, 3, (300, 200), "--max-size", "150", "--name", "{width}/{stem}.{ext}"
    )
    assert proc.returncode == 1, proc.stderr
    assert "internal error" not in proc.stderr
    assert "crash_here.jpg: worker process died" in proc.stderr
    assert sorted(p.name for p in (out / "150").glob("*.webp")) == [
        "p00.webp",
        "p01.webp",
        "p02.webp",
    ]
    assert not _stray(out)


def test_a_ctrl_c_in_a_finalizer_is_raised_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from imgpar.console import StopSignals

    class Finalized:
        def __del__(self) -> None:
            # The handler runs here, inside __del__, where Python would print
            # and drop what it raised: how Dask's clients and futures used to
            # eat a Ctrl-C, then print a traceback.
            os.kill(os.getpid(), signal.SIGINT)

    dropped: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", dropped.append)
    with StopSignals() as signals:
        Finalized()
        assert signals.received == signal.SIGINT
        assert dropped == []  # nothing raised inside __del__, nothing printed
        with pytest.raises(KeyboardInterrupt):
            signals.raise_if_received()


def test_a_signal_waits_until_the_file_is_recorded() -> None:
    from imgpar.console import StopSignals
    from imgpar.errors import Terminated

    with StopSignals() as signals:
        signals.hold = True
        os.kill(os.getpid(), signal.SIGTERM)  # would raise here without hold
        recorded = True
        signals.hold = False
        assert recorded
        with pytest.raises(Terminated):
            signals.raise_if_received()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_stopped_command_ignores_later_signals_to_the_end() -> None:
    from imgpar.console import StopSignals
    from imgpar.errors import Terminated

    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with pytest.raises(Terminated), StopSignals(exiting=True):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # the signal is raised here
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C, while the report is written
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def test_a_file_named_in_place_never_writes_over_its_neighbour(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "ip"
    folder.mkdir()
    Image.new("RGB", (40, 30), (250, 0, 0)).save(folder / "a.jpg")
    Image.new("RGB", (40, 30), (0, 0, 250)).save(folder / "a.png")  # the user's own
    for named in (["a.jpg"], ["a.jpg", "a.png"], ["a.png", "a.jpg"]):
        proc = _run("convert", *(folder / n for n in named), "--to", "png", "--force")
        assert proc.returncode == 0, proc.stderr
        with Image.open(folder / "a.png") as im:
            assert im.getpixel((1, 1)) == (0, 0, 250)
        # Named as a run on the whole folder names it, whatever else is named.
        with Image.open(folder / "a.jpg.png") as im:
            assert im.getpixel((1, 1))[0] > 240
    # a.png named too makes no a.png.png, a copy of itself, as a run on the folder.
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "a.jpg", "a.jpg.png", "a.png"
    ]  # fmt: skip
    # The simplest call: one file of the current folder, in place.
    monkeypatch.chdir(folder)
    proc = _run("convert", "a.jpg", "--to", "webp", "--verbose")
    assert proc.returncode == 0, proc.stderr
    assert "converted: a.jpg -> a.jpg.webp" in proc.stderr
    assert (folder / "a.jpg.webp").is_file()


def test_a_path_that_is_not_utf8_fails_alone(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _tree(src, 2, (60, 40))
    odd = os.fsdecode(b"caf\xe9")
    os.link(src / "p00.jpg", src / f"{odd}.jpg")
    (src / odd).mkdir()
    os.link(src / "p01.jpg", src / odd / "x.jpg")
    out = tmp_path / "out"
    for where in (["--out", out], []):
        for _ in range(2):  # a second run reads what the first recorded
            proc = _run(
                "convert", src, "--to", "webp", *where, "--report", tmp_path / "r.json",
                "--report", tmp_path / "r.csv", "--report", tmp_path / "r.html",
            )  # fmt: skip
            assert proc.returncode == 1, proc.stderr
            failed = sorted(line for line in proc.stderr.splitlines() if line.startswith("failed"))
            assert failed == [
                f"failed: {_escaped(path)}: its path is not valid UTF-8 (byte 0xe9): rename it"
                " to convert it"
                for path in (f"{src}/{odd}.jpg", f"{src}/{odd}/x.jpg")
            ]
            files = _report(tmp_path / "r.json")["files"]
            assert [f["status"] for f in files].count("failed") == 2
            assert len(files) == 4
            # Every report shows it as the terminal does, in text that is all
            # Unicode: the JSON held the escape of a lone surrogate, which
            # strict parsers refuse, jq printed as U+FFFD, and so did the
            # HTML report's lists.
            assert f"{src}/caf\\udce9.jpg" in {f["source"] for f in files}
            assert "caf\\udce9.jpg" in (tmp_path / "r.csv").read_text()
            html = (tmp_path / "r.html").read_bytes().decode("utf-8")
            data = html.split('id="imgpar-data">', 1)[1].split("</script>", 1)[0]
            for text in ((tmp_path / "r.json").read_bytes().decode("utf-8"), data):
                assert "caf\\\\udce9.jpg" in text
                assert not re.search(r"[^\\]\\ud[c-f]", text)  # a lone surrogate's escape
    assert sorted(p.name for p in src.glob("*.webp")) == ["p00.webp", "p01.webp"]
    # Named on the command line, it is in the report's argv too.
    named = _run("convert", src / f"{odd}.jpg", "--to", "webp", "--out", out,
                 "--report", tmp_path / "named.json")  # fmt: skip
    assert named.returncode == 1
    text = (tmp_path / "named.json").read_bytes().decode("utf-8")
    assert not re.search(r"[^\\]\\ud[c-f]", text)
    assert json.loads(text)["argv"][1] == f"{src}/caf\\udce9.jpg"


def test_a_source_folder_whose_name_is_not_utf8_converts_into_an_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its name, or the folder the run started in, went into the cache's
    # keys as they were: every run into an --out, --dry-run and --check
    # too, ended in an internal error, the other SOURCES unconverted.
    odd = tmp_path / os.fsdecode(b"archiv\xe9")
    _tree(odd, 1, (60, 40))
    _tree(tmp_path / "ok", 1, (60, 40))
    out, manifest = tmp_path / "out", tmp_path / "m.json"
    argv = ["convert", tmp_path / "ok", odd, "--to", "webp", "--out", out,
            "--name", "{parent}/{stem}-{width}.{ext}", "--width", "32,48"]  # fmt: skip
    proc = _run(*argv, "--manifest", manifest)
    assert proc.returncode == 0, proc.stderr
    made = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.webp"))
    assert made == [f"{parent}/p00-{w}.webp" for parent in (odd.name, "ok") for w in (32, 48)]
    text = manifest.read_bytes().decode("utf-8")
    assert not re.search(r"[^\\]\\ud[c-f]", text)
    sources = json.loads(text)["sources"]
    assert sorted(sources) == ["archiv\\udce9/p00.jpg", "ok/p00.jpg"]
    webp = sources["archiv\\udce9/p00.jpg"]["formats"]["webp"]
    assert webp["outputs"][0]["path"] == "archiv\\udce9/p00-32.webp"
    # The URL of the file that is there: its name's own bytes, escaped.
    assert webp["srcset"] == "archiv%E9/p00-32.webp 32w, archiv%E9/p00-48.webp 48w"
    for check in (["--dry-run"], ["--check"], []):
        again = _run(*argv, *check)
        assert again.returncode == 0, again.stderr
        assert "internal error" not in again.stderr
    assert "2 skipped" in again.stdout
    # Started in such a folder, a SOURCE named by its own name.
    _tree(odd / "a", 1, (60, 40))
    monkeypatch.chdir(odd)
    here = _run("convert", "a", "--to", "webp", "--out", "o")
    assert here.returncode == 0, here.stderr
    assert (odd / "o" / "p00.webp").is_file()
    assert _run("convert", "a", "--to", "webp", "--out", "o", "--check").returncode == 0


def test_a_folder_whose_name_is_not_utf8_keeps_a_cache_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its first run made a cache there; every run after ended in a raw
    # traceback (in place, --check) or an internal error (into an --out).
    odd = tmp_path / os.fsdecode(b"caf\xe9")
    _tree(odd / "photos", 1, (60, 40))
    for argv in (["--out", tmp_path / "web"], [], ["--check"], ["--dry-run"]):
        for source in (odd / "photos", odd):
            proc = _run("convert", source, "--to", "webp", *argv)
            assert proc.returncode == 0, proc.stderr
            assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    # A file named in such a folder, from within it, in place: it failed,
    # "its path is not valid UTF-8 (bytes ): rename it", and info said so.
    monkeypatch.chdir(odd)
    (odd / "b.jpg").write_bytes((odd / "photos" / "p00.jpg").read_bytes())
    assert _run("convert", "b.jpg", "--to", "png").returncode == 0
    assert _run("convert", "b.jpg", "--to", "png").stdout.startswith("0 converted, 1 skipped")
    assert "fails" not in _run("info", "b.jpg").stdout


def test_a_folder_not_utf8_and_one_named_as_its_quoted_bytes_stay_apart(tmp_path: Path) -> None:
    # caf\xe9's name was quoted caf%E9 in the cache: the very name of the
    # other folder, whose files then shared its keys; each run converted
    # one again, and --prune deleted outputs sources still made.
    odd, literal = tmp_path / "d1" / os.fsdecode(b"caf\xe9"), tmp_path / "d2" / "caf%E9"
    for folder, name in ((odd, "only1"), (literal, "only2")):
        folder.mkdir(parents=True)
        for stem in ("a", name):
            Image.new("RGB", (30, 20), "red").save(folder / f"{stem}.jpg")
    argv = ["convert", odd, literal, "--to", "webp", "--out", tmp_path / "web"]
    assert _run(*argv).returncode == 0
    again = _run(*argv, "--prune")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("0 converted, 4 skipped, 0 failed in"), again.stdout
    assert "pruned" not in again.stderr
    assert _run(*argv, "--check").returncode == 0


def _escaped(path: str) -> str:
    """`path` as stderr prints it: bytes that are no text as escapes."""
    return path.encode("utf-8", "backslashreplace").decode()


def test_a_full_disk_before_the_cache_is_made(tmp_path: Path, tiny_disk: Path) -> None:
    _tree(tmp_path / "src", 4, (60, 40))
    _fill(tiny_disk, leave=8192)  # room for an output or two, none for the cache
    proc = _run("convert", tmp_path / "src", "--to", "png", "--out", tiny_disk, "--jobs", "1",
                "--report", tmp_path / "r.json")  # fmt: skip
    assert proc.returncode == 1
    assert "internal error" not in proc.stderr
    assert f"warning: cache {tiny_disk}/.imgpar-cache.sqlite cannot be written" in proc.stderr
    assert _report(tmp_path / "r.json")["summary"]["stopped"].startswith("disk full")
    # The reason has a line of its own, not a summary line wrapped in two.
    head, reason = proc.stdout.splitlines()[:2]
    counted = r"\d+ converted, 0 skipped, 1 failed, 1 cache not written in [\d.]+ s"
    assert re.fullmatch(counted, head), head
    assert reason == (
        "stopped: disk full: no space left for the output; the files not reached were left for"
        " the next run"
    )
    assert not _stray(tiny_disk)
    for png in tiny_disk.glob("*.png"):
        with Image.open(png) as im:
            im.load()


def _fill(disk: Path, leave: int = 0) -> None:
    with contextlib.suppress(OSError), open(disk / "filler", "wb") as fp:
        while True:
            fp.write(b"x" * 4096)
            fp.flush()
    os.truncate(disk / "filler", os.path.getsize(disk / "filler") - leave)


def test_a_full_disk_leaves_no_empty_folders(tmp_path: Path, tiny_disk: Path) -> None:
    _tree(tmp_path / "src" / "a" / "b" / "c", 2, (400, 300))
    out = tiny_disk / "out"
    (out / "a").mkdir(parents=True)  # the user's own, kept
    _fill(tiny_disk)
    proc = _run("convert", tmp_path / "src", "--to", "png", "--out", out, "--jobs", "1")
    assert proc.returncode == 1
    assert "disk full" in proc.stderr
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [".imgpar-lock", "a"]


def test_a_full_disk_takes_back_the_folders_where_the_kernel_made_them(
    tmp_path: Path, tiny_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `link/../x` is tiny/x to the kernel, ./x to the text: the user's own
    # empty ./x/a/b went, and the run's own empty tiny/x/a/b stayed.
    _tree(tmp_path / "src" / "a" / "b", 1, (800, 600))
    (tiny_disk / "deep").mkdir()
    (tiny_disk / "x").mkdir()
    (tmp_path / "link").symlink_to(tiny_disk / "deep")
    (tmp_path / "x" / "a" / "b").mkdir(parents=True)
    _fill(tiny_disk)
    monkeypatch.chdir(tmp_path)
    proc = _run("convert", "src", "--to", "png", "--out", "link/../x", "--jobs", "1")
    assert proc.returncode == 1
    assert "disk full" in proc.stderr
    assert (tmp_path / "x" / "a" / "b").is_dir()
    assert not (tiny_disk / "x" / "a").exists()


def test_folders_a_full_disk_stopped_halfway_are_taken_back(tmp_path: Path) -> None:
    # Out of inodes: makedirs made out/a, and could not make out/a/b.
    mount = tmp_path / "few"
    mount.mkdir()
    if not _mounted_tmpfs(mount, "size=2m,nr_inodes=32"):
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        _tree(tmp_path / "src" / "a" / "b", 1, (60, 40))
        out = mount / "out"
        out.mkdir()
        (out / ".imgpar-lock").touch()
        fillers = []
        with contextlib.suppress(OSError):
            while True:
                fillers.append(mount / f"f{len(fillers)}")
                fillers[-1].touch()
        fillers.pop().unlink(missing_ok=True)
        fillers.pop().unlink()  # one inode for out/a, none for out/a/b
        proc = _run("convert", tmp_path / "src", "--to", "png", "--out", out, "--jobs", "1")
        assert proc.returncode == 1
        assert "disk full" in proc.stderr
        assert not (out / "a").exists()
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_in_place_a_full_disk_leaves_no_cache(tiny_disk: Path) -> None:
    _tree(tiny_disk / "src", 2, (400, 300))
    _fill(tiny_disk)
    proc = _run("convert", tiny_disk / "src", "--to", "png", "--jobs", "1")
    assert proc.returncode == 1
    assert "cache" in proc.stderr and "cannot be written" in proc.stderr
    assert sorted(p.name for p in (tiny_disk / "src").iterdir()) == [
        ".imgpar-lock", "p00.jpg", "p01.jpg"
    ]


def test_a_cache_that_cannot_be_written_fails_the_run(tmp_path: Path) -> None:
    # Every output whole, their record lost (a full disk, a cache gone
    # read-only): the run exited 0, and the next one converts them again.
    _tree(tmp_path / "src", 2, (60, 40))
    out = tmp_path / "out"
    args = ["convert", tmp_path / "src", "--to", "webp", "--out", out]
    assert _run(*args).returncode == 0
    (out / ".imgpar-cache.sqlite").chmod(0o444)
    report, page = tmp_path / "r.json", tmp_path / "r.html"
    proc = subprocess.run(
        [*unprivileged(), *IMGPAR, *map(str, args), "--force", "--report", str(report),
         "--report", str(page)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("2 converted, 0 skipped, 0 failed, 1 cache not written in ")
    assert f"warning: cache {out}/.imgpar-cache.sqlite cannot be written (" in proc.stderr
    assert _report(report)["summary"]["unrecorded"] == [f"{out}/.imgpar-cache.sqlite"]
    assert f"The cache {out}/.imgpar-cache.sqlite could not be written" in page.read_text()
    with Image.open(out / "p00.webp") as im:
        assert im.size == (60, 40)


def test_a_cache_that_cannot_even_be_opened_fails_the_run(tmp_path: Path) -> None:
    # A folder in its place: read as none, then every record of the run lost
    # with exit 0 and nothing counted.
    _tree(tmp_path / "src", 2, (60, 40))
    out = tmp_path / "out"
    args = ["convert", tmp_path / "src", "--to", "webp", "--out", out]
    assert _run(*args).returncode == 0
    (out / ".imgpar-cache.sqlite").unlink()
    (out / ".imgpar-cache.sqlite").mkdir()
    report = tmp_path / "r.json"
    proc = _run(*args, "--report", report)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("2 converted, 0 skipped, 0 failed, 1 cache not written in ")
    assert f"warning: cache {out}/.imgpar-cache.sqlite cannot be written (" in proc.stderr
    assert _report(report)["summary"]["unrecorded"] == [f"{out}/.imgpar-cache.sqlite"]


def test_an_output_folder_removed_mid_run_is_no_fault_of_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its file went with it before the rename: "file disappeared before it
    # could be read", of a source that was there all along.
    from imgpar import writer

    src = tmp_path / "src"
    _tree(src, 1, (60, 40))
    out = tmp_path / "out"
    real_replace = os.replace

    def folder_gone(temp: str, path: str) -> None:
        shutil.rmtree(os.path.dirname(path))
        real_replace(temp, path)

    monkeypatch.setattr(writer.os, "replace", folder_gone)
    report = imgpar.convert(src, to="webp", out=out, jobs=1)
    monkeypatch.undo()
    (result,) = report.files
    assert result.status == "failed"
    assert result.error == f"cannot write {out / 'p00.webp'}: its folder was removed"


@pytest.mark.parametrize("kind", ["report", "manifest"])
def test_a_report_that_cannot_be_written_is_a_warning(
    tmp_path: Path, tiny_disk: Path, kind: str
) -> None:
    _tree(tmp_path / "src", 4, (60, 40))
    with contextlib.suppress(OSError), open(tiny_disk / "filler", "wb") as fp:
        fp.write(b"x" * 400_000)
    proc = _run("convert", tmp_path / "src", "--to", "webp", "--out", tmp_path / "out",
                f"--{kind}", tiny_disk / "r.json")  # fmt: skip
    # The outputs are made and the summary told; the run still fails, for a
    # CI step that reads the report.
    assert proc.returncode == 1
    assert proc.stdout.startswith("4 converted, 0 skipped, 0 failed")
    assert proc.stderr.strip().splitlines() == [
        f"warning: {kind} {tiny_disk}/r.json not written (No space left on device)"
    ]
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["filler"]
    assert len(list((tmp_path / "out").glob("*.webp"))) == 4


def test_ctrl_c_in_place_leaves_no_output_it_did_not_report(tmp_path: Path) -> None:
    # Small files go to workers in chunks, whose results come back together:
    # outputs a killed chunk had finished were left unrecorded, and in place
    # the next run took them for sources (a.png -> a.png.webp beside a.webp).
    src = tmp_path / "icons"
    src.mkdir()
    for i in range(600):
        Image.effect_noise((96, 96), 40 + i % 50).convert("RGB").save(src / f"i{i:04d}.png")
    proc = subprocess.Popen(
        [*IMGPAR, "convert", str(src), "--to", "webp", "--report", str(tmp_path / "r.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    while len(list(src.glob("*.webp"))) < 60 and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    report = _report(tmp_path / "r.json")
    assert report["summary"]["interrupted"]
    reported = {Path(o["path"]).name for f in report["files"] for o in f["outputs"]}
    assert {p.name for p in src.glob("*.webp")} == reported
    again = _run("convert", src, "--to", "webp")
    assert again.returncode == 0, again.stderr
    assert "same name" not in again.stderr
    assert len(list(src.glob("*.webp"))) == 600


def _killed_once(argv: list[str], done: Callable[[], bool]) -> int:
    """Run imgpar with `argv`, a file named `stall*` hanging its worker, and
    kill it outright (SIGKILL, as the OOM killer does) once `done()`; its pid."""
    proc = subprocess.Popen(
        [*IMGPAR, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, HANG_ENV: "stall"},
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not done() and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    return proc.pid


@pytest.mark.parametrize(
    ("options", "made"),
    [
        ([], ["{}.webp"]),
        (["--width", "32,48"], ["{}-32.webp", "{}-48.webp"]),
        (["--width", "32,48", "--name", "{width}/{stem}.{ext}"], ["32/{}.webp", "48/{}.webp"]),
        (["--name", "web/{stem}.{ext}"], ["web/{}.webp"]),
        (["files"], ["{}.webp"]),  # the files named as SOURCES
        (["sub"], ["{}.webp"]),  # a subfolder's run killed, then the tree's
    ],
)
def test_in_place_outputs_a_killed_run_never_recorded_stay_imgpars(
    tmp_path: Path, options: list[str], made: list[str]
) -> None:
    # A run killed outright (the OOM killer, a CI timeout) has written
    # outputs whose results it never recorded; the next run took them for
    # sources (a0.png -> a0.png.webp beside a0.webp, 32/32/a0.webp), or
    # refused to write over them.
    tree = tmp_path / "icons"
    src = tree / "sub" if options == ["sub"] else tree
    src.mkdir(parents=True)
    for i in range(6):
        Image.effect_noise((64, 64), 40 + i).convert("RGB").save(src / f"a{i}.png")
    Image.new("RGB", (4, 4)).save(src / "stall.png")  # the smallest: started last
    sources = sorted(map(str, src.iterdir())) if options == ["files"] else [str(src)]
    options = [] if options in (["files"], ["sub"]) else options
    expected = {pattern.format(f"a{i}") for i in range(6) for pattern in made}

    def outputs() -> set[str]:
        return {p.relative_to(src).as_posix() for p in src.rglob("a*.webp")}

    argv = ["convert", *sources, "--to", "webp", *options]
    pid = _killed_once(argv, lambda: outputs() == expected)
    assert outputs() == expected
    # What a killed worker was writing: the next run writing there removes it.
    abandoned = (src / min(expected)).parent / f"{temp_prefix(pid)}0000.webp"
    abandoned.write_bytes(b"half an image")
    rerun = [str(tree)] if sources == [str(src)] else sources
    again = _run("convert", *rerun, "--to", "webp", *options)
    assert again.returncode == 0, again.stderr
    assert "same name" not in again.stderr
    assert "7 converted, 0 skipped, 0 failed" in again.stdout
    assert outputs() == expected
    assert not abandoned.exists()
    for name in expected:
        with Image.open(src / name) as im:
            assert im.format == "WEBP"
            assert im.width in ((32, 48) if options[:1] == ["--width"] else (64,))
    assert "0 converted, 7 skipped" in _run("convert", *rerun, "--to", "webp", *options).stdout


def test_an_out_run_killed_leaves_nothing_after_the_next(tmp_path: Path) -> None:
    src, out = tmp_path / "icons", tmp_path / "out"
    src.mkdir()
    for i in range(4):
        Image.effect_noise((64, 64), 40 + i).convert("RGB").save(src / f"a{i}.png")
    Image.new("RGB", (4, 4)).save(src / "stall.png")
    argv = ["convert", str(src), "--to", "webp", "--out", str(out)]
    pid = _killed_once(argv, lambda: len(list(out.glob("a*.webp"))) == 4)
    (out / f"{temp_prefix(pid)}0000.webp").write_bytes(b"half an image")
    assert _run(*argv).returncode == 0
    assert temp_leftovers(out) == []
    assert _run(*argv, "--check").returncode == 0


def test_a_source_a_killed_run_left_alone_is_still_a_source(tmp_path: Path) -> None:
    # In place, a.jpg --to jpg,webp makes no a.jpg: its own name was never
    # in flight, so the photo the user exports there again is converted.
    src = tmp_path / "p"
    src.mkdir()
    Image.new("RGB", (60, 40), (200, 0, 0)).save(src / "a.jpg")
    Image.new("RGB", (4, 4)).save(src / "stall.png")
    _killed_once(["convert", str(src), "--to", "jpg,webp"], (src / "a.webp").exists)
    Image.new("RGB", (20, 20), (0, 0, 200)).save(src / "a.jpg")
    again = _run("convert", src, "--to", "jpg,webp")
    assert again.returncode == 0, again.stderr
    with Image.open(src / "a.webp") as im:
        assert im.size == (20, 20)
        assert im.convert("RGB").getpixel((10, 10))[2] > 150


def test_a_killed_run_that_remade_a_changed_sources_output(tmp_path: Path) -> None:
    # The new a.webp was taken for the user's: the old row records a.webp at
    # its old size, and every later run refused to write over it.
    src = tmp_path / "p"
    src.mkdir()
    Image.new("RGB", (60, 40), (200, 0, 0)).save(src / "a.jpg")
    assert _run("convert", src, "--to", "webp").returncode == 0
    before = (src / "a.webp").stat()
    Image.effect_noise((90, 60), 50).convert("RGB").save(src / "a.jpg")  # edited
    Image.new("RGB", (4, 4)).save(src / "stall.png")
    _killed_once(
        ["convert", str(src), "--to", "webp"],
        lambda: (src / "a.webp").stat().st_size != before.st_size,
    )
    for _ in range(2):
        again = _run("convert", src, "--to", "webp")
        assert again.returncode == 0, again.stderr
    with Image.open(src / "a.webp") as im:
        assert im.size == (90, 60)


def test_a_consumer_that_stops_early_leaves_no_outputs_to_take_for_sources(
    tmp_path: Path,
) -> None:
    # A chunk's results come back together: stopping after the first few
    # leaves the rest of its outputs written, and in flight for the next run.
    src = tmp_path / "icons"
    src.mkdir()
    for i in range(200):
        Image.effect_noise((48, 48), 40 + i % 50).convert("RGB").save(src / f"i{i:04d}.png")
    for n, _ in enumerate(imgpar.iter_convert([src], to="webp", jobs=2)):
        if n == 2:
            break
    report = imgpar.convert([src], to="webp", jobs=2)
    assert {f.status for f in report.files} <= {"converted", "skipped"}
    assert len(report.files) == 200
    assert sorted(p.name for p in src.glob("*.webp")) == [f"i{i:04d}.webp" for i in range(200)]
    # Nor a program that exits with one unfinished: it was closed as Python
    # tore itself down, and failed halfway with a traceback.
    for p in src.glob("*.webp"):
        p.unlink()
    code = f"import imgpar; it = imgpar.iter_convert([{str(src)!r}], to='jpeg'); next(it)"
    left = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert left.returncode == 0 and left.stderr == ""
    assert temp_leftovers(src) == []
    again = _run("convert", src, "--to", "jpeg")
    assert again.returncode == 0, again.stderr
    assert "same name" not in again.stderr


def test_a_file_saved_where_a_timed_out_output_would_go_stays_the_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On this machine a timed-out file's worker is killed and what it wrote
    # removed: a file under its output's name later on is the user's.
    src = tmp_path / "p"
    src.mkdir()
    Image.new("RGB", (40, 30), (200, 0, 0)).save(src / "stall.png")
    monkeypatch.setenv(HANG_ENV, "stall")
    report = imgpar.convert([src], to="webp", jobs=2, timeout=1)
    assert [f.error for f in report.files] == ["timed out after 1 s"]
    Image.new("RGB", (40, 30), (0, 0, 200)).save(src / "stall.webp")  # the user's own
    mine = (src / "stall.webp").read_bytes()
    monkeypatch.delenv(HANG_ENV)
    again = _run("convert", src, "--to", "webp", "--prune")
    assert again.returncode == 0, again.stderr
    assert (src / "stall.webp").read_bytes() == mine
    assert (src / "stall.png.webp").exists()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX's")
def test_a_child_the_program_forks_mid_run_takes_nothing_of_the_run(tmp_path: Path) -> None:
    # It shared the folder's lock, kept it while it lived, and at its exit
    # tried to stop its parent's workers.
    src = tmp_path / "src"
    src.mkdir()
    for i in range(40):
        Image.effect_noise((64, 64), 30 + i).convert("RGB").save(src / f"p{i:02d}.png")
    code = (
        "import fcntl, os, sys, imgpar\n"
        "run = imgpar.iter_convert(sys.argv[1], to='webp', out=sys.argv[2], jobs=2)\n"
        "next(run)\n"
        "done, told = os.pipe()\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    os.close(told)\n"
        "    os.read(done, 1)  # alive until the parent has tried the lock, or has gone\n"
        "    sys.exit(0)\n"
        "list(run)\n"
        "fd = os.open(os.path.join(sys.argv[2], '.imgpar-lock'), os.O_RDWR)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # refused while the child holds it\n"
        "os.write(told, b'x')\n"
        "print(os.waitpid(child, 0)[1])\n"
    )
    done = subprocess.run([sys.executable, "-c", code, src, tmp_path / "out"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"
    assert "imgpar" not in done.stderr
    assert len(list((tmp_path / "out").glob("*.webp"))) == 40


@pytest.mark.parametrize(
    ("theirs", "options"),
    [
        ("web/a.webp", ["--name", "web/{stem}.{ext}"]),
        ("a-320.webp", ["--width", "320,640"]),  # a name sized by the image
        ("320/a.webp", ["--width", "320,640", "--name", "{width}/{stem}.{ext}"]),  # a folder
    ],
)
def test_in_place_an_output_never_writes_over_the_users_file(
    tmp_path: Path, theirs: str, options: list[str]
) -> None:
    src = tmp_path / "p"
    (src / theirs).parent.mkdir(parents=True)
    Image.linear_gradient("L").resize((800, 600)).convert("RGB").save(src / "a.jpg")
    Image.new("RGB", (40, 30), (0, 250, 0)).save(src / "b.jpg")
    Image.new("RGB", (10, 10), (0, 0, 250)).save(src / theirs)  # the user's own
    (src / "a-640.webp").write_text("the user's notes, oddly named")
    mine = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
    for _ in range(2):
        proc = _run("convert", src, "--to", "webp", *options)
        assert proc.returncode == 1
        assert (
            f"failed: {src}/a.jpg: its output would overwrite a file imgpar did not write:"
            f" {src}/{theirs} (move that file, or give --name another pattern)"
        ) in proc.stderr.splitlines()
        assert {p: p.read_bytes() for p in mine} == mine
    made = next(p for p in src.rglob("b*.webp") if p not in mine)  # the rest went on
    with Image.open(made) as im:
        assert im.getpixel((5, 5))[1] > 200


def test_in_place_an_output_the_user_has_replaced_is_theirs(tmp_path: Path) -> None:
    src = tmp_path / "p"
    src.mkdir()
    Image.new("RGB", (800, 600), (250, 0, 0)).save(src / "a.jpg")
    assert _run("convert", src, "--to", "webp").returncode == 0
    Image.new("RGB", (50, 50), (0, 0, 250)).save(src / "a.webp")  # the user's own now
    theirs = (src / "a.webp").read_bytes()
    for _ in range(2):
        proc = _run("convert", src, "--to", "webp")
        assert proc.returncode == 1
        assert f"failed: {src}/a.jpg: its output would overwrite a file imgpar did not write:" \
            f" {src}/a.webp" in proc.stderr
        assert (src / "a.webp").read_bytes() == theirs
    (src / "a.webp").unlink()
    assert _run("convert", src, "--to", "webp").returncode == 0
    with Image.open(src / "a.webp") as im:
        assert im.size == (800, 600)


def test_an_out_inside_a_source_folder_holding_its_images_is_refused(tmp_path: Path) -> None:
    """The walk never enters --out: images of the user's there would be
    neither converted nor safe, whichever SOURCE's outputs land there."""
    photos, other = tmp_path / "photos", tmp_path / "other"
    (photos / "2024").mkdir(parents=True)
    other.mkdir()
    Image.new("RGB", (800, 600), (250, 0, 0)).save(photos / "a.jpg")
    Image.new("RGB", (800, 600), (0, 250, 0)).save(other / "b.jpg")
    for name in ("a.jpg", "b.jpg"):
        Image.new("RGB", (400, 300), (0, 0, 250)).save(photos / "2024" / name)  # the user's
    theirs = {p: p.read_bytes() for p in (photos / "2024").iterdir()}
    for sources in ([photos], [other, photos], [photos, other / "b.jpg"]):
        proc = _run("convert", *sources, "--to", "jpeg", "--out", photos / "2024")
        assert proc.returncode == 2
        assert proc.stderr.startswith(
            f"imgpar: error: --out {photos}/2024 is inside SOURCE {photos} and holds images,"
            f" but is no imgpar output folder ({photos}/2024/a.jpg)"
        )
        assert {p: p.read_bytes() for p in (photos / "2024").iterdir()} == theirs
    # Converted in place, it still holds the user's photos.
    assert _run("convert", photos / "2024", "--to", "webp").returncode == 0
    proc = _run("convert", photos, "--to", "jpeg", "--out", photos / "2024")
    assert proc.returncode == 2
    assert {p: p.read_bytes() for p in theirs} == theirs
    # An --out imgpar made there is its own, run after run, beside another
    # run's --out inside it.
    assert _run("convert", photos, "--to", "webp", "--out", photos / "web" / "t").returncode == 0
    for _ in range(2):
        assert _run("convert", photos, "--to", "webp", "--out", photos / "web").returncode == 0
    made = sorted(str(p.relative_to(photos / "web")) for p in (photos / "web").rglob("*.webp"))
    assert made == ["2024/a.webp", "2024/b.webp", "a.webp", "t/2024/a.webp", "t/2024/b.webp",
                    "t/a.webp"]  # fmt: skip


def test_in_place_a_name_sized_by_the_image_checks_before_any_write(tmp_path: Path) -> None:
    src = tmp_path / "p"
    src.mkdir()
    Image.linear_gradient("L").resize((800, 600)).convert("RGB").save(src / "a.jpg")
    Image.new("RGB", (10, 10), (250, 0, 0)).save(src / "a-640.webp")  # the user's own
    checked = _run("convert", src, "--to", "webp", "--width", "320,640", "--check")
    assert f"failing: {src}/a.jpg: its output would overwrite" in checked.stdout
    # Refused before anything is written: not its 320 px output either.
    assert _run("convert", src, "--to", "webp", "--width", "320,640").returncode == 1
    assert not (src / "a-320.webp").exists()
    # Its own outputs it writes again, under other options too.
    (src / "a-640.webp").unlink()
    for widths in ("320,640", "320,480,640"):
        proc = _run("convert", src, "--to", "webp", "--width", widths, "--force")
        assert proc.returncode == 0, proc.stderr
    for width in (320, 480, 640):
        with Image.open(src / f"a-{width}.webp") as im:
            assert im.size == (width, width * 3 // 4)


def test_no_output_lands_in_a_source_inside_out(tmp_path: Path) -> None:
    # --out photos of SOURCE photos/2024: a name template leads back into it.
    source = tmp_path / "photos" / "2024"
    source.mkdir(parents=True)
    _photo(source / "a.jpg", (300, 200))
    original = (source / "a.jpg").read_bytes()
    out = tmp_path / "photos"
    over = _run("convert", source, "--to", "jpeg", "--max-size", "100", "--out", out,
                "--name", "2024/{stem}.{ext}")  # fmt: skip
    assert over.returncode == 1
    assert f"failed: {source / 'a.jpg'}: its output would overwrite {source / 'a.jpg'}, in SOURCE" \
        in over.stderr  # fmt: skip
    beside = _run("convert", source, "--to", "webp", "--out", out, "--name", "2024/{stem}.{ext}")
    assert beside.returncode == 1
    assert f"inside SOURCE {source}, where a later run would take it for a source" in beside.stderr
    named = _run("convert", source / "a.jpg", "--to", "jpeg", "--out", out,
                 "--name", "2024/{stem}.{ext}")  # fmt: skip
    assert f"its output would overwrite a source: {source / 'a.jpg'}" in named.stderr
    assert sorted(p.name for p in source.iterdir()) == ["a.jpg"]
    assert (source / "a.jpg").read_bytes() == original
    # Outside the SOURCE, as ever.
    fine = _run("convert", source, "--to", "webp", "--out", out)
    assert fine.returncode == 0, fine.stderr
    assert (out / "a.webp").exists()
    # Through a link inside --out, or a folder named by the size.
    (out / "web").symlink_to(source, target_is_directory=True)
    linked = _run("convert", source, "--to", "webp", "--out", out, "--name", "web/{stem}.{ext}")
    assert f"where a later run would take it for a source: {out / 'web' / 'a.webp'}" \
        in linked.stderr  # fmt: skip
    sized = tmp_path / "s" / "300"
    sized.mkdir(parents=True)
    _photo(sized / "a.jpg", (300, 200))
    by_size = _run("convert", sized, "--to", "webp", "--width", "320", "--out", sized.parent,
                   "--name", "{width}/{stem}.{ext}")  # fmt: skip
    assert by_size.returncode == 1
    assert f"inside SOURCE {sized}, where a later run" in by_size.stderr
    # A folder named by the size after a fixed part (`v{width}`) as well.
    prefixed = tmp_path / "v" / "v300"
    prefixed.mkdir(parents=True)
    _photo(prefixed / "a.jpg", (300, 200))
    by_prefix = _run("convert", prefixed, "--to", "webp", "--width", "320", "--out",
                     prefixed.parent, "--name", "v{width}/{stem}.{ext}")  # fmt: skip
    assert by_prefix.returncode == 1
    assert f"inside SOURCE {prefixed}, where a later run" in by_prefix.stderr
    assert sorted(p.name for p in prefixed.iterdir()) == ["a.jpg"]
    # A folder named by a number no output can have is no output's folder.
    year = tmp_path / "p" / "2024"
    year.mkdir(parents=True)
    _photo(year / "a.jpg", (600, 400))
    by_year = _run("convert", year, "--to", "webp", "--width", "320", "--out", year.parent,
                   "--name", "{width}/{stem}.{ext}")  # fmt: skip
    assert by_year.returncode == 0, by_year.stderr
    assert (year.parent / "320" / "a.webp").exists()
    assert sorted(p.name for p in source.iterdir()) == ["a.jpg"]
    assert sorted(p.name for p in sized.iterdir()) == ["a.jpg"]


def test_no_output_lands_in_a_source_through_a_link_in_out(tmp_path: Path) -> None:
    # web/img a link to src/img: the outputs were written in the SOURCE,
    # and each later run took them for sources, a level deeper each time.
    src = tmp_path / "src"
    (src / "img").mkdir(parents=True)
    _photo(src / "img" / "a.jpg", (300, 200))
    _photo(src / "b.jpg", (300, 200))
    web = tmp_path / "web"
    web.mkdir()
    (web / "img").symlink_to(src / "img", target_is_directory=True)
    for _ in range(2):
        proc = _run("convert", src, "--to", "webp", "--out", web)
        assert proc.returncode == 1
        assert (
            f"failed: {src / 'img' / 'a.jpg'}: its output would be written inside SOURCE"
            f" {src}, where a later run would take it for a source: {web / 'img' / 'a.webp'}"
            " (through a link in the output folder)" in proc.stderr
        )
        assert sorted(p.name for p in (src / "img").iterdir()) == ["a.jpg"]
    assert (web / "b.webp").is_file()
    # An --out inside its SOURCE is skipped by the walk: outputs go there,
    # but not through a link of its own back into the SOURCE.
    gen = src / "_gen"
    first = _run("convert", src, "--to", "webp", "--out", gen)
    assert first.returncode == 0, first.stderr
    shutil.rmtree(gen / "img")
    (gen / "img").symlink_to(src / "img", target_is_directory=True)
    inner = _run("convert", src, "--to", "webp", "--out", gen)
    assert inner.returncode == 1
    assert f"inside SOURCE {src}, where a later run would take it for a source:" in inner.stderr
    assert (gen / "b.webp").is_file()
    assert sorted(p.name for p in (src / "img").iterdir()) == ["a.jpg"]


def test_another_runs_out_is_not_converted_in_place(tmp_path: Path) -> None:
    # Its cache records the other run's sources: in place, a logo.png dropped
    # into it was taken for assets/logo.png changed, and assets' logo.webp
    # was written over.
    assets, web = tmp_path / "assets", tmp_path / "web"
    assets.mkdir()
    Image.new("RGB", (64, 48), (250, 0, 0)).save(assets / "logo.png")
    assert _run("convert", assets, "--to", "webp", "--out", web).returncode == 0
    Image.new("RGB", (64, 48), (0, 0, 250)).save(web / "logo.png")
    before = (web / "logo.webp").read_bytes()
    for args in ([web], [web, "--out", web], [web / "logo.png"], [web, "--check"],
                 [web, "--dry-run"]):  # fmt: skip
        refused = _run("convert", *args, "--to", "webp")
        assert refused.returncode == 2
        assert f"imgpar: error: {web} is another run's output folder" in refused.stderr
    assert (web / "logo.webp").read_bytes() == before
    into = _run("convert", web, "--to", "png", "--out", tmp_path / "thumbs")
    assert into.returncode == 0, into.stderr
    # bench only lists it, to time runs into a folder of its own.
    timed = _run("bench", assets, "--to", "png", "--jobs", "1", "--repeat", "1")
    assert timed.returncode == 0, timed.stderr


def test_a_source_inside_an_out_that_holds_your_images_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "x"
    (out / "y").mkdir(parents=True)
    _photo(out / "a.jpg", (300, 200), seed=1)
    _photo(out / "y" / "a.jpg", (300, 200), seed=2)
    _photo(out / "y" / "c.jpg", (300, 200), seed=3)
    yours = (out / "a.jpg").read_bytes()
    for source in (out / "y", out / "y" / "c.jpg"):
        refused = _run("convert", source, "--to", "jpeg", "--max-size", "100", "--out", out)
        assert refused.returncode == 2
        assert refused.stderr == (
            f"imgpar: error: --out {out} holds SOURCE {source} and images of yours, but is no"
            f" imgpar output folder ({out / 'a.jpg'}): outputs written there could replace"
            " them (give an empty folder, or one outside the SOURCES)\n"
        )
    assert (out / "a.jpg").read_bytes() == yours
    # Where a template may write: hidden folders, and folders a link leads to.
    (out / "a.jpg").unlink()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _photo(elsewhere / "b.jpg", (60, 40))
    (out / ".thumbs").mkdir()
    _photo(out / ".thumbs" / "c.webp", (60, 40))
    hidden = _run("convert", out / "y", "--to", "webp", "--out", out)
    assert f"({out / '.thumbs' / 'c.webp'})" in hidden.stderr and hidden.returncode == 2
    shutil.rmtree(out / ".thumbs")
    (out / "sub").symlink_to(elsewhere, target_is_directory=True)
    linked = _run("convert", out / "y", "--to", "webp", "--out", out)
    assert f"({out / 'sub' / 'b.jpg'})" in linked.stderr and linked.returncode == 2
    (out / "sub").unlink()
    # Another run's output folder inside it holds its outputs, not yours.
    thumbs = _run("convert", out / "y", "--to", "webp", "--out", out / "thumbs")
    assert thumbs.returncode == 0, thumbs.stderr
    made = _run("convert", out / "y", "--to", "jpeg", "--max-size", "100", "--out", out)
    assert made.returncode == 0, made.stderr
    with Image.open(out / "a.jpg") as im:
        assert im.size == (100, 67)


@pytest.mark.parametrize("mounted", ["out", "source"])
def test_a_folder_mounted_at_a_second_path_is_inside_where_it_really_is(
    tmp_path: Path, mounted: str
) -> None:
    # Docker's `-v ~/photos:/src -v ~/photos/2024:/out`: the --out is a
    # folder of the SOURCE, holding your own images, by another path. Told
    # apart by path alone, the run skipped the images there and wrote over
    # your a.webp with the output of src/a.jpg, exit 0. And the other way
    # round: a SOURCE mounted from inside an --out that holds your images.
    # (The mount table writes a space in a name as \040.)
    src, mnt = tmp_path / "my src", tmp_path / "mnt"
    (src / "2024").mkdir(parents=True)
    mnt.mkdir()
    _photo(src / "a.jpg", (120, 80), seed=1)
    _photo(src / "2024" / "b.jpg", (120, 80), seed=2)
    Image.new("RGB", (50, 50), (0, 0, 255)).save(src / "2024" / "a.webp")
    yours = (src / "2024" / "a.webp").read_bytes()
    if mounted == "out":
        argv = [src, "--out", mnt]
        why = f"--out {mnt} is inside SOURCE {src} and holds images, but is no imgpar output"
    else:
        argv = [mnt, "--out", src]
        why = f"--out {src} holds SOURCE {mnt} and images of yours, but is no imgpar output"
    done = after_mount(
        f'mount --bind "{src / "2024"}" "{mnt}"', [*IMGPAR, "convert", *argv, "--to", "webp"]
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"imgpar: error: {why}")
    assert (src / "2024" / "a.webp").read_bytes() == yours
    assert sorted(p.name for p in (src / "2024").iterdir()) == ["a.webp", "b.jpg"]


def test_a_fifo_or_a_device_named_as_a_source_fails_at_once(tmp_path: Path) -> None:
    # Reading a FIFO waits for a writer; a device never ends.
    fifo = tmp_path / "fifo.jpg"
    os.mkfifo(fifo)
    out = tmp_path / "o"
    reason = "not a regular file (a FIFO, socket or device)"
    for source in (fifo, Path("/dev/zero")):
        run = _run("convert", source, "--to", "webp", "--out", out, timeout=30)
        assert run.returncode == 1
        assert f"failed: {source}: {reason}\n" in run.stderr
        assert run.stdout.startswith("0 converted, 0 skipped, 1 failed")
    check = _run("convert", fifo, "--to", "webp", "--out", out, "--check", timeout=30)
    assert (check.returncode, check.stdout) == (1, f"failing: {fifo}: {reason}\n")
    dry = _run("convert", fifo, "--to", "webp", "--out", out, "--dry-run", timeout=30)
    assert dry.stdout == f"{fifo}: would fail: {reason}\n"
    # A socket cannot even be opened: info said Python's words for that.
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(tmp_path / "sock.jpg"))
        for named in (fifo, tmp_path / "sock.jpg"):
            info = _run("info", named, timeout=30)
            assert (info.returncode, info.stderr) == (1, f"imgpar: error: {named}: {reason}\n")


@pytest.mark.parametrize(
    ("swapped_in", "reason"),
    [("fifo", "not a regular file (a FIFO, socket or device)"),
     ("/dev/urandom", "not a regular file (a FIFO, socket or device)"),
     # It was called a FIFO, socket or device too.
     ("folder", "a folder now, where the walk found a file")],
)  # fmt: skip
def test_a_source_swapped_for_a_fifo_or_device_after_planning_fails_at_once(
    tmp_path: Path, swapped_in: str, reason: str
) -> None:
    # The walk saw a file; what the worker opens is a FIFO (no writer: the
    # open blocks), an endless device or a folder, put there since.
    source = tmp_path / "src" / "a.jpg"
    source.parent.mkdir()
    _photo(source, (60, 40))
    job = prepare([str(tmp_path / "src")], to="webp", out=str(tmp_path / "o"), jobs=1)
    (task,) = [t for t in job.plan() if isinstance(t, Task)]
    source.unlink()
    if swapped_in == "fifo":
        os.mkfifo(source)
    elif swapped_in == "folder":
        source.mkdir()
    else:
        source.symlink_to(swapped_in)
    results: list[Result] = []
    worker = threading.Thread(target=lambda: results.append(convert_file(task, job.spec)),
                              daemon=True)  # fmt: skip
    worker.start()
    worker.join(10)
    assert results, "the worker is still reading"
    assert (results[0].status, results[0].error) == ("failed", reason)


def test_a_config_from_a_pipe_is_read_and_an_endless_one_refused(tmp_path: Path) -> None:
    # `--config <(make-settings)` is a pipe; /dev/zero grew to gigabytes.
    fifo = tmp_path / "settings.toml"
    os.mkfifo(fifo)
    _photo(tmp_path / "a.jpg", (60, 40))

    def write_settings() -> None:
        with open(fifo, "w") as pipe:
            pipe.write('to = "webp"\nwidth = 20\n')

    writer = threading.Thread(target=write_settings, daemon=True)
    writer.start()
    dry = _run("convert", tmp_path / "a.jpg", "--config", fifo, "--dry-run", timeout=30)
    writer.join(10)
    assert (dry.returncode, dry.stdout) == (0, f"{tmp_path / 'a.jpg'} -> {tmp_path / 'a.webp'}\n")
    run = _run("convert", tmp_path / "a.jpg", "--to", "webp", "--config", "/dev/zero", timeout=30)
    assert (run.returncode, run.stderr) == (
        2, "imgpar: error: cannot read config /dev/zero: over 1 MiB, no settings file\n"
    )


@pytest.mark.skipif(
    shutil.which("bash") is None or not os.path.isdir("/proc/self/fd"),
    reason="process substitution is bash's; /dev/stdin a link to the file, Linux's",
)
def test_a_piped_configs_paths_read_from_where_imgpar_runs(tmp_path: Path) -> None:
    # They were read from the pipe's "folder", /dev/fd: ../../../fd/assets/img.
    (tmp_path / "assets" / "img").mkdir(parents=True)
    _photo(tmp_path / "assets" / "img" / "a.jpg", (60, 40))
    command = " ".join(shlex.quote(part) for part in IMGPAR)
    settings = 'sources = ["assets/img"]\nto = "webp"\nout = "dist"\n'
    proc = subprocess.run(
        ["bash", "-c", f"{command} convert --config <(printf '{settings}') --dry-run"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (proc.returncode, proc.stdout) == (0, "assets/img/a.jpg -> dist/a.webp\n"), proc.stderr
    # Redirected from a file, /dev/stdin is that file: its paths read from its folder.
    (tmp_path / "site" / "assets" / "img").mkdir(parents=True)
    _photo(tmp_path / "site" / "assets" / "img" / "b.jpg", (60, 40))
    (tmp_path / "site" / "imgpar.toml").write_text(settings.replace("\\n", "\n"))
    with open(tmp_path / "site" / "imgpar.toml") as settings_file:
        proc = subprocess.run([*IMGPAR, "convert", "--config", "/dev/stdin", "--dry-run"],
                              stdin=settings_file, cwd=tmp_path, capture_output=True, text=True,
                              timeout=60)  # fmt: skip
    assert (proc.returncode, proc.stdout) == (0, "site/assets/img/b.jpg -> site/dist/b.webp\n")
    # A heredoc is a deleted file: no folder of the job's, as a pipe.
    with tempfile.TemporaryFile("w+", dir=tmp_path / "site") as heredoc:
        heredoc.write(settings.replace("\\n", "\n"))
        heredoc.seek(0)
        proc = subprocess.run([*IMGPAR, "convert", "--config", "/dev/stdin", "--dry-run"],
                              stdin=heredoc, cwd=tmp_path, capture_output=True, text=True,
                              timeout=60)  # fmt: skip
    assert (proc.returncode, proc.stdout) == (0, "assets/img/a.jpg -> dist/a.webp\n"), proc.stderr


def test_an_output_name_too_long_for_the_file_system_is_said_plainly(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    stem = "x" * 251  # .jpg fits in 255 bytes; .webp does not
    _photo(src / f"{stem}.jpg", (60, 40))
    run = _run("convert", src, "--to", "webp")
    assert run.returncode == 1
    assert run.stderr == (
        f"failed: {src / stem}.jpg: cannot write {src / stem}.webp: its name is too long for"
        " the file system\n"
    )
    assert sorted(p.name for p in src.iterdir() if not p.name.startswith(".")) == [f"{stem}.jpg"]


def test_an_output_path_too_long_for_the_system_is_said_plainly(tmp_path: Path) -> None:
    # Each name fits; the whole path passes PATH_MAX (4,096 bytes on Linux).
    out = tmp_path.joinpath(*["d" * 200] * 20)
    out.mkdir(parents=True)
    src = tmp_path / "src" / ("e" * 200)
    src.mkdir(parents=True)
    _photo(src / "x.jpg", (60, 40))
    run = _run("convert", tmp_path / "src", "--to", "webp", "--out", out)
    assert run.returncode == 1
    made = out / src.name / "x.webp"
    too_long = f"cannot write {made}: its name is too long for the file system"
    assert f"failed: {src / 'x.jpg'}: {too_long}" in run.stderr.splitlines()


def _as_user(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """imgpar run where permissions apply, the sticky bit's included."""
    argv = [*unprivileged("fowner"), *IMGPAR, *map(str, args)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def test_an_output_another_user_holds_in_a_sticky_folder_is_no_unreadable_source(
    tmp_path: Path,
) -> None:
    # A shared folder (mode 1777, as /tmp): the rename over another user's
    # output is refused; the source reads as well as ever.
    src = tmp_path / "src"
    src.mkdir()
    _photo(src / "a.jpg", (60, 40))
    shared = tmp_path / "shared"
    assert _run("convert", src, "--to", "webp", "--out", shared).returncode == 0
    for path in (shared, *shared.iterdir()):
        os.chown(path, 65534, 65534)
    shared.chmod(0o1777)
    for path in shared.iterdir():
        path.chmod(0o666)
    run = _as_user("convert", src, "--to", "webp", "--out", shared, "-q", "50")
    assert run.returncode == 1
    refused = f"failed: {src / 'a.jpg'}: cannot write {shared / 'a.webp'}: operation not permitted"
    assert refused in run.stderr.splitlines()  # beside a warning: the cache is the other's too


def test_a_folder_that_refuses_is_the_one_named(tmp_path: Path) -> None:
    # Not deep/x/y, which was still to be made, but deep, which refused it.
    src = tmp_path / "src"
    (src / "x" / "y").mkdir(parents=True)
    _photo(src / "x" / "y" / "c.jpg", (60, 40))
    out = tmp_path / "out"
    (out / "x").mkdir(parents=True)
    (out / "x").chmod(0o555)
    run = _as_user("convert", src, "--to", "webp", "--out", out)
    assert run.returncode == 1
    denied = f"failed: {src / 'x/y/c.jpg'}: cannot write to {out / 'x'}: permission denied"
    assert run.stderr.splitlines() == [denied]


def test_a_name_too_long_for_one_format_writes_none_of_them(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    stem = "x" * 251  # as .jpg it fits in 255 bytes; as .webp it does not
    _photo(src / f"{stem}.png", (60, 40))
    run = _run("convert", src, "--to", "jpeg,webp")
    assert run.returncode == 1
    assert "its name is too long for the file system" in run.stderr
    assert sorted(p.name for p in src.iterdir() if not p.name.startswith(".")) == [f"{stem}.png"]
    again = _run("convert", src, "--to", "jpeg,webp")
    assert again.stdout.startswith("0 converted, 0 skipped, 1 failed"), again.stderr


def test_a_folder_name_too_long_writes_none_of_the_outputs(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    stem = "x" * 250  # stem-xx80 fits in 255 bytes, stem-xx250 does not
    _photo(src / f"{stem}.png", (300, 200))
    out = tmp_path / "out"
    run = _run("convert", src, "--to", "webp", "--width", "80,250", "--out", out,
               "--name", "{stem}-xx{width}/x.{ext}")  # fmt: skip
    assert run.returncode == 1
    assert "its name is too long for the file system" in run.stderr
    assert not [p for p in out.rglob("*") if p.suffix == ".webp"]


def test_a_timed_out_file_s_memory_counts_in_the_peak(tmp_path: Path) -> None:
    # 144 MP of gray zeros: 140 KB on disk, 144 MB decoded, and its WebP
    # encode far outlasts --timeout. The worker killed with it held the
    # run's largest memory, and the summary said 29 MiB.
    src = tmp_path / "src"
    src.mkdir()
    side = 12_000
    rows = zlib.compressobj(9)
    data = b"".join(rows.compress(b"\0" * (side + 1)) for _ in range(side)) + rows.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    (src / "huge.png").write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )
    _photo(src / "small.jpg", (64, 48))
    proc = _run("convert", src, "--to", "webp", "--out", tmp_path / "out", "--timeout", "3",
                "--jobs", "2", "--report", tmp_path / "r.json")  # fmt: skip
    assert proc.returncode == 1
    report = _report(tmp_path / "r.json")
    by_name = {Path(f["source"]).name: f for f in report["files"]}
    assert by_name["huge.png"]["error"] == "timed out after 3 s"
    assert report["summary"]["peak_worker_rss"] > side * side


def _three_pngs(tmp_path: Path) -> tuple[Path, Path]:
    """A SOURCE of three small PNGs, and an --out for them."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        Image.new("RGB", (32, 24), (i * 80, 90, 30)).save(src / f"p{i}.png")
    return src, tmp_path / "out"


def test_a_second_run_in_the_thread_that_holds_the_folder_is_refused(tmp_path: Path) -> None:
    # An iter_convert() kept in a variable holds its folder's lock until
    # closed: a convert() of the same folder in the same thread waited for
    # it for ever, in silence. From another thread, waiting is right.
    src, out = _three_pngs(tmp_path)
    run = imgpar.iter_convert([src], to="webp", out=out, jobs=1)
    assert next(run).status == "converted"
    with pytest.raises(UsageError, match=r"is held by a run this thread has not finished"):
        imgpar.convert([src], to="webp", out=out, jobs=1)
    other: list[int] = []

    def wait_and_convert() -> None:
        with pytest.warns(RuntimeWarning, match="waiting for another imgpar run"):
            other.append(imgpar.convert([src], to="webp", out=out, jobs=1).summary.files)

    waiter = threading.Thread(target=wait_and_convert)
    waiter.start()
    time.sleep(0.5)
    assert waiter.is_alive()  # waiting its turn
    rest = list(run)
    waiter.join(timeout=60)
    assert len(rest) == 2 and other == [3]


def test_a_run_read_on_in_another_thread_is_that_threads(tmp_path: Path) -> None:
    # Begun in this thread, read on in another: that other's own convert()
    # of the folder waited for ever on the run it drives, and this thread's,
    # which should wait its turn, was refused.
    src, out = _three_pngs(tmp_path)
    run = imgpar.iter_convert([src], to="webp", out=out, jobs=1)
    assert next(run).status == "converted"
    outcome: list[object] = []

    def reader() -> None:
        outcome.append(next(run).status)
        try:
            imgpar.convert([src], to="webp", out=out, jobs=1)
        except UsageError as exc:
            outcome.append(str(exc))

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert outcome[0] == "converted"
    assert "is held by a run this thread has not finished" in str(outcome[1])
    rest: list[Result] = []

    def closer() -> None:
        time.sleep(0.5)
        rest.extend(run)

    threading.Thread(target=closer).start()
    # Another thread drives the run: this one waits for it, as for any other.
    with pytest.warns(RuntimeWarning, match="waiting for another imgpar run"):
        assert imgpar.convert([src], to="webp", out=out, jobs=1).summary.skipped == 3
    assert len(rest) == 1


def test_a_run_left_open_by_a_finished_thread_is_waited_for(tmp_path: Path) -> None:
    # Linux reuses a finished thread's id at once: a run left open by a
    # thread that has ended looked like the new thread's own, and was refused.
    src, out = _three_pngs(tmp_path)
    runs: list[Iterator[Result]] = []

    def start() -> None:
        runs.append(imgpar.iter_convert([src], to="webp", out=out, jobs=1))
        next(runs[0])

    opener = threading.Thread(target=start)
    opener.start()
    opener.join()
    outcome: list[object] = []

    def second() -> None:
        try:
            with pytest.warns(RuntimeWarning, match="waiting for another imgpar run"):
                outcome.append(imgpar.convert([src], to="webp", out=out, jobs=1).summary.files)
        except UsageError as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=second)
    waiter.start()
    time.sleep(0.5)
    assert waiter.is_alive() and outcome == []  # waiting its turn, not refused
    assert len(list(runs[0])) == 2
    waiter.join(timeout=60)
    assert outcome == [3]


@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize(("made_before", "again"), [(False, {}), (True, {"force": True}),
                                                    (True, {"quality": 30})])  # fmt: skip
def test_a_stopped_run_removes_only_the_unreported_files_own_outputs(
    tmp_path: Path, made_before: bool, again: dict[str, object], in_place: bool
) -> None:
    # Stopped after a1's result, with a's come back in the same chunk: a's
    # output goes (never reported), a1's stays. (Removed by the tasks'
    # planned names, `{stem}{width}` once let a's pattern take a1's file;
    # such a name is refused now, and the results' own paths are removed.)
    # Unless an earlier run made it as it is now: a --force run stopped so
    # removed an image a site had before the run. (One changed, at another
    # quality, goes: kept, nothing would know it for imgpar's.) In place
    # as into an --out.
    src = tmp_path / "src"
    src.mkdir()
    Image.effect_noise((300, 200), 60).convert("RGB").save(src / "a1.png")  # bigger: first
    Image.new("RGB", (300, 200), (20, 90, 160)).save(src / "a.png")
    out = src if in_place else tmp_path / "out"
    options = {"to": "webp", "width": [100], "name": "{stem}-{width}.{ext}",
               "out": None if in_place else out}  # fmt: skip
    if made_before:
        assert imgpar.convert([src], **options).summary.converted == 2
    run = imgpar.iter_convert([src], jobs=2, **options, **again)  # type: ignore[arg-type]
    first = next(run)
    run.close()
    assert first.source.endswith("a1.png") and first.status == "converted"
    assert [Path(o.path).name for o in first.outputs] == ["a1-100.webp"]
    left = ["a-100.webp", "a1-100.webp"] if "force" in again else ["a1-100.webp"]
    assert sorted(p.name for p in out.glob("*.webp")) == left
    for path in out.glob("*.webp"):
        with Image.open(path) as im:
            assert im.size == (100, 67)
    # What was kept is still the source's output, never a source itself.
    rerun = imgpar.convert([src], jobs=1, **options, **{k: v for k, v in again.items()
                                                       if k != "force"})  # fmt: skip
    assert sorted(Path(r.source).name for r in rerun.files) == ["a.png", "a1.png"]
    assert sorted(p.name for p in out.glob("*.webp")) == ["a-100.webp", "a1-100.webp"]


def test_an_output_prune_cannot_delete_stays_recorded_and_the_reports_are_written(
    tmp_path: Path,
) -> None:
    # An unlink that failed inside --prune escaped: no report, no manifest.
    # Then it was said nowhere.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a", "b"):
        Image.new("RGB", (30, 20), "red").save(src / f"{name}.png")
    out = tmp_path / "out"
    args = ["convert", src, "--to", "webp", "--out", out]
    assert _run(*args).returncode == 0
    (src / "a.png").unlink()
    (src / "b.png").unlink()
    (src / "c.png").write_bytes((out / "a.webp").read_bytes())  # a source left: no empty SOURCE
    if shutil.which("chattr") is None or subprocess.run(
        ["chattr", "+i", str(out / "a.webp")], capture_output=True
    ).returncode:
        pytest.skip("cannot make a file immutable here")
    try:
        proc = _run(*args, "--prune", "--quiet", "--report", tmp_path / "r.json",
                    "--manifest", tmp_path / "m.json")  # fmt: skip
        again = _run(*args, "--prune", "--dry-run")
    finally:
        subprocess.run(["chattr", "-i", str(out / "a.webp")], check=False)
    # Said, and failed: it passed silently, and --check failed after it.
    said = f"warning: cannot prune {out / 'a.webp'}: operation not permitted"
    assert proc.returncode == 1, proc.stderr
    assert said in proc.stderr.splitlines()
    report = _report(tmp_path / "r.json")
    assert report["summary"]["pruned"] == [str(out / "b.webp")]
    assert said in report["said"]
    assert json.loads((tmp_path / "m.json").read_text())["sources"]
    assert not (out / "b.webp").exists()
    assert f"would prune: {out / 'a.webp'}" in again.stdout  # still recorded: tried again
    # A killed run's temporary file that will not go: said too, where --check lists it.
    leftover = out / f"{temp_prefix(2**22 + 1)}0000.webp"
    leftover.write_bytes(b"half an image")
    subprocess.run(["chattr", "+i", str(leftover)], check=True)
    try:
        stuck = _run(*args, "--prune")
    finally:
        subprocess.run(["chattr", "-i", str(leftover)], check=False)
    assert stuck.returncode == 1
    assert f"warning: cannot prune {leftover}: operation not permitted" in stuck.stderr
    assert _run(*args, "--prune").returncode == 0
    assert not leftover.exists()


def test_one_folder_named_two_ways_is_one_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `cd photos; imgpar convert a.png $PWD/b.png`: the roots `.` and the full
    # path are one folder, whose lock the run waited on for ever (then,
    # after the same-thread check, was refused as held by itself).
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "b.png"):
        Image.new("RGB", (20, 20), (10, 120, 200)).save(photos / name)
    monkeypatch.chdir(photos)
    report = imgpar.convert(["a.png", str(photos / "b.png")], to="webp", jobs=1)
    assert report.summary.converted == 2


def _deep(root: Path, depth: int) -> Path:
    """`root` with `depth` folders nested below it, made without a path
    (os.makedirs recurses once a folder); the deepest one's path."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            below = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = below
    finally:
        os.close(fd)
    return root.joinpath(*["d"] * depth)


def test_a_tree_1000_folders_deep_converts(tmp_path: Path) -> None:
    # The walk, the in-place cache lookup and makedirs each called
    # themselves once a folder: "internal error: RecursionError", nothing
    # converted, and the deepest file failed with Python's words.
    src = tmp_path / "src"
    try:
        deepest = _deep(src, 1000)  # a 2 KB path: well inside PATH_MAX
        Image.new("RGB", (20, 10), "red").save(src / "top.jpg")
        Image.new("RGB", (20, 10), "blue").save(deepest / "deep.jpg")
        for out in (tmp_path / "out", None):
            args = ["convert", src, "--to", "webp", *(["--out", out] if out else [])]
            result = _run(*args)
            assert result.returncode == 0, result.stderr[-300:]
            assert result.stdout.startswith("2 converted, 0 skipped, 0 failed")
            made = (out or src).joinpath(*["d"] * 1000, "deep.webp")
            with Image.open(made) as im:
                assert im.size == (20, 10) and im.getpixel((5, 5))[2] > 200
            assert _run(*args, "--check").returncode == 0
        # An --out that holds its SOURCE is searched for images of yours.
        _deep(tmp_path / "o" / "deep", 1000)
        (src / "d").rename(tmp_path / "o" / "src")
        inside = _run("convert", tmp_path / "o" / "src", "--to", "webp", "--out", tmp_path / "o")
        assert inside.returncode == 0, inside.stderr[-300:]
    finally:
        # pytest's own clean-up of old temporary folders (shutil.rmtree)
        # recurses too, and would fail on every later run.
        _remove_tree(tmp_path)


def _remove_tree(root: Path) -> None:
    folders, pending = [], [str(root)]
    while pending:
        folder = pending.pop()
        folders.append(folder)
        for entry in os.scandir(folder):
            if entry.is_dir(follow_symlinks=False):
                pending.append(entry.path)
            else:
                os.unlink(entry.path)
    for folder in reversed(folders):
        os.rmdir(folder)


def test_a_progressive_jpeg_of_too_many_scans_is_refused(tmp_path: Path) -> None:
    # 25,000 one-byte scans of an 8000 x 8000 picture (525 KB) held a worker
    # for minutes, and `imgpar info` for as long.
    src = tmp_path / "src"
    src.mkdir()
    buffer = io.BytesIO()
    Image.new("L", (800, 800), 128).save(buffer, "JPEG", progressive=True, quality=50)
    head = buffer.getvalue()[:-2]  # up to its EOI
    refine = b"\xff\xda" + struct.pack(">H", 8) + bytes([1, 1, 0, 0, 0, 0x10]) + b"\x00"
    (src / "scans.jpg").write_bytes(head + refine * 1200 + b"\xff\xd9")
    (src / "fine.jpg").write_bytes(head + refine * 20 + b"\xff\xd9")
    proc = _run("convert", src, "--to", "webp", "--out", tmp_path / "o")
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"failed: {src / 'scans.jpg'}: too many scans: a progressive JPEG of over 1,000"
        " (about 10 is usual, and each is a pass over every pixel)"
    ]
    with Image.open(tmp_path / "o" / "fine.webp") as im:
        assert im.size == (800, 800)
    info = _run("info", src / "scans.jpg")
    assert "too many scans" in info.stdout + info.stderr


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs Linux's /proc")
def test_a_read_error_from_the_system_is_said_as_one(tmp_path: Path) -> None:
    # EIO, as from a failing disk: /proc/self/mem is a regular file whose
    # reads from the start fail so. convert said "OSError: [Errno 5] ...".
    src = tmp_path / "src"
    src.mkdir()
    (src / "mem.jpg").symlink_to("/proc/self/mem")
    Image.new("RGB", (30, 20), "red").save(src / "ok.jpg")
    for jobs in ("1", "2"):
        proc = _run("convert", src, "--to", "webp", "--out", tmp_path / "o", "--jobs", jobs)
        assert proc.returncode == 1
        assert f"failed: {src / 'mem.jpg'}: cannot read the file: input/output error" in proc.stderr
    info = _run("info", src / "mem.jpg")
    assert "cannot read the file: input/output error" in info.stderr
    assert (tmp_path / "o" / "ok.webp").is_file()


def test_a_tiff_whose_pages_lie_past_any_file_is_damaged_not_unreadable(tmp_path: Path) -> None:
    # A BigTIFF whose first page is said to be 2**62 bytes in: the seek
    # fails (EINVAL on most file systems), and it was "cannot read the
    # file: invalid argument", which is never recorded as the file's own
    # failure, as if the disk had failed.
    source = tmp_path / "big.tif"
    source.write_bytes(b"II+\x00\x08\x00\x00\x00" + (2**62).to_bytes(8, "little") + bytes(100))
    result = imgpar.convert([source], to="webp", out=tmp_path / "o", jobs=1).files[0]
    assert result.status == "failed"
    assert not result.error.startswith("cannot read the file"), result.error
    assert "Errno" not in result.error


@pytest.mark.parametrize("path", ["afile/sub/deeper", "afile", "broken", "broken/a", "x/y/z"])
def test_making_folders_fails_as_makedirs_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    # A file where a folder goes was "File exists" where makedirs says
    # "Not a directory", and the reason the run gave misled.
    from imgpar.paths import make_folders

    monkeypatch.chdir(tmp_path)
    Path("afile").touch()
    Path("broken").symlink_to("nowhere")
    outcomes = []
    for make in (make_folders, lambda p: os.makedirs(p, exist_ok=True)):
        try:
            make(path)
            outcomes.append(os.path.isdir(path))
        except OSError as exc:
            outcomes.append((type(exc), exc.errno, exc.filename))
    assert outcomes[0] == outcomes[1]
