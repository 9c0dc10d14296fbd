"""imgpar.engine_dask: the same job on Dask distributed, with real worker
processes: LocalClusters, and `dask scheduler` / `dask worker` started as
programs of their own on 127.0.0.1."""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from conftest import build_tree, make_camera_jpeg, outputs_in, temp_leftovers, tiff_patched
from PIL import Image
from typer.testing import CliRunner

import imgpar
from imgpar.api import prepare
from imgpar.cli import app
from imgpar.errors import ClusterError
from imgpar.limits import CHUNK_BYTES
from imgpar.pipeline import CRASH_ENV, HANG_ENV
from imgpar.spec import ConvertSpec, OutputSpec, Result, Task

if TYPE_CHECKING:
    from distributed import Client

needs_dask = pytest.mark.skipif(
    importlib.util.find_spec("distributed") is None,
    reason="Dask distributed is not installed (pip install 'imgpar[dask]')",
)

HINT = "pip install 'imgpar[dask]'"
# Everything that waits on a cluster has a bound: a broken cluster fails a
# test instead of hanging the suite.
START_TIMEOUT = 60
RUN_TIMEOUT = 120


def _mixed_tree(root: Path) -> Path:
    return build_tree(
        root,
        {
            "camera/IMG_0001.JPG": make_camera_jpeg,
            "camera/IMG_0002.jpg": lambda p: make_camera_jpeg(p, orientation=8),
            "web/rgba.png": "rgba_png",
            "web/palette.png": "palette_png",
            "scan/gray16.png": "gray16_png",
            "print/cmyk.jpg": "cmyk_jpeg",
            "la.png": "la_png",
            "broken.jpg": b"\xff\xd8\xff\xe0 not really",
        },
    )


def _noise_tree(root: Path, count: int) -> Path:
    """`count` incompressible PNGs just over a megabyte each: each is a task
    of its own (limits.CHUNK_BYTES) that takes a moment to convert."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        pixels = Image.frombytes("RGB", (620, 620), os.urandom(620 * 620 * 3))
        pixels.save(root / f"noise{i:02d}.png", compress_level=0)
    return root


def _pixels(path: Path) -> tuple[str, tuple[int, int], bytes]:
    with Image.open(path) as im:
        return im.mode, im.size, im.tobytes()


def _same_outputs(a: Path, b: Path) -> None:
    names = sorted(outputs_in(a))
    assert names
    assert names == sorted(outputs_in(b))
    for name in names:
        assert _pixels(a / name) == _pixels(b / name), name


def _normal(results: list[Result], out: str) -> list[tuple[object, ...]]:
    """What must not depend on the engine: results without timings, pids and
    memory, output paths relative to their --out."""
    rows = [
        (
            r.source,
            r.status,
            tuple((os.path.relpath(o.path, out), o.width, o.height, o.bytes) for o in r.outputs),
            r.width,
            r.height,
            r.error,
            r.notes,
        )
        for r in results
    ]
    return sorted(rows, key=repr)


def _counts(report: Path) -> dict[str, object]:
    summary = json.loads(report.read_text())["summary"]
    return {k: summary[k] for k in ("files", "converted", "skipped", "failed", "output_bytes")}


class DaskPrograms:
    """`dask scheduler` and `dask worker` programs on 127.0.0.1, each in a
    session of its own, so that stopping one stops its child processes too."""

    def __init__(self, folder: Path, *, workers: int) -> None:
        self.folder = folder
        self.workers = workers
        self.address = ""
        self._procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> DaskPrograms:
        self.folder.mkdir(parents=True, exist_ok=True)
        info = self.folder / "scheduler.json"
        try:
            # Port 0 and a scheduler file: a free port, with no race for it.
            self.scheduler = self._start(
                "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                "--scheduler-file", str(info), "--idle-timeout", "300s",
            )
            deadline = time.monotonic() + START_TIMEOUT
            while not self.address:
                assert self.scheduler.poll() is None, self.logs()
                assert time.monotonic() < deadline, self.logs()
                time.sleep(0.1)
                if info.exists():
                    self.address = json.loads(info.read_text() or "{}").get("address", "")
            for _ in range(self.workers):
                self._start(
                    "worker", "--scheduler-file", str(info), "--nthreads", "1",
                    "--nworkers", "1", "--host", "127.0.0.1", "--no-dashboard",
                    "--death-timeout", "60s",
                )
            if self.workers:
                with self.client() as client:
                    client.wait_for_workers(self.workers, timeout=START_TIMEOUT)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self, *args: str, wrap: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
        with open(self.folder / f"{args[0]}-{len(self._procs)}.log", "wb") as log:
            proc = subprocess.Popen(
                [*wrap, sys.executable, "-m", "dask", *args],
                # Not the tests' working folder: relative paths must still work.
                cwd=self.folder,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._procs.append(proc)
        return proc

    def add_worker(self, *, wrap: tuple[str, ...] = (), nthreads: int = 1) -> None:
        """One more worker, run through `wrap` (a namespace)."""
        self._start("worker", "--scheduler-file", str(self.folder / "scheduler.json"),
                    "--nthreads", str(nthreads), "--host", "127.0.0.1", "--no-dashboard",
                    wrap=wrap)  # fmt: skip

    def stop_workers(self) -> None:
        for proc in self._procs[1:]:  # each worker and its nanny
            self.stop(proc)

    def client(self) -> Client:
        from distributed import Client

        return Client(self.address, timeout=START_TIMEOUT, set_as_default=False)

    def worker_pids(self) -> dict[str, int]:
        with self.client() as client:
            client.wait_for_workers(self.workers, timeout=START_TIMEOUT)
            return client.run(os.getpid)

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-2000:] for p in self.folder.glob("*.log"))

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self._procs):
            self.stop(proc)


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskPrograms]:
    """A scheduler and two single-threaded workers, shared by the tests that
    leave them running."""
    with DaskPrograms(tmp_path_factory.mktemp("dask-programs"), workers=2) as running:
        yield running


def test_help_does_not_import_dask() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from imgpar.cli import app\n"
        "result = CliRunner().invoke(app, ['convert', '--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "assert '--scheduler' in result.output\n"
        "print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# The CLI with Dask unimportable, as on an install without the extra.
WITHOUT_DASK = (
    "import sys\n"
    "sys.modules['distributed'] = None\n"
    "sys.modules['dask'] = None\n"
    "from imgpar.cli import main\n"
    "main()\n"
)


@pytest.mark.parametrize("options", [["--engine", "dask"], ["--scheduler", "tcp://127.0.0.1:1"]])
def test_missing_extra_names_it(tmp_path: Path, options: list[str]) -> None:
    src = _mixed_tree(tmp_path / "src")
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_DASK, "convert", str(src), "--to", "webp",
         "--out", str(tmp_path / "out"), *options],
        capture_output=True, text=True, timeout=RUN_TIMEOUT,
    )
    assert done.returncode == 2, done.stderr
    assert HINT in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("mode", "status"), [("--check", 1), ("--dry-run", 0)])
def test_check_and_dry_run_need_no_dask_installed(tmp_path: Path, mode: str, status: int) -> None:
    # A CI check step of a cluster's outputs, on a plain install: refused, exit 2.
    src = _mixed_tree(tmp_path / "src")
    for options in (["--scheduler", "tcp://10.0.0.1:8786"], ["--engine", "dask"]):
        done = subprocess.run(
            [sys.executable, "-c", WITHOUT_DASK, "convert", str(src), "--to", "webp",
             "--out", str(tmp_path / "out"), *options, mode],
            capture_output=True, text=True, timeout=RUN_TIMEOUT,
        )  # fmt: skip
        assert done.returncode == status, done.stderr
        assert HINT not in done.stderr
    empty = subprocess.run(
        [sys.executable, "-c", WITHOUT_DASK, "convert", str(src), "--to", "webp", "--scheduler",
         ""], capture_output=True, text=True, timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert (empty.returncode, empty.stderr) == (2, "imgpar: error: --scheduler is empty: give"
                                                " the Dask scheduler's address (tcp://HOST:8786)\n")


def test_engine_options_are_checked(tmp_path: Path) -> None:
    src = str(_mixed_tree(tmp_path / "src"))
    runner = CliRunner()
    result = runner.invoke(app, ["convert", src, "--to", "webp", "--engine", "spark"])
    assert result.exit_code == 2
    assert "--engine must be local or dask" in result.output
    result = runner.invoke(
        app, ["convert", src, "--to", "webp", "--scheduler", "tcp://127.0.0.1:1", "-j", "2"]
    )
    assert result.exit_code == 2
    assert "--nthreads" in result.output
    # Both engines asked for: the run said "dask" and warned of nothing.
    both = runner.invoke(app, ["convert", src, "--to", "webp", "--engine", "local",
                               "--scheduler", "tcp://127.0.0.1:1"])  # fmt: skip
    assert both.exit_code == 2
    assert both.stderr == (
        "imgpar: error: --scheduler runs on Dask: --engine local asks for this machine's"
        " processes (give one)\n"
    )


@needs_dask
def test_local_cluster_matches_local_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Relative paths, as typed: the workers get them absolute, the report
    # shows them as given, as the local engine's does.
    monkeypatch.chdir(tmp_path)
    _mixed_tree(Path("src"))
    options = {"to": "webp,png", "max_size": 120, "jobs": 2}
    local = imgpar.convert(["src"], out="local", **options)
    dask = imgpar.convert(["src"], out="dask", engine="dask", **options)
    assert _normal(dask.files, "dask") == _normal(local.files, "local")
    assert all(o.path.startswith("dask/") for r in dask.files for o in r.outputs)
    summary = dask.summary
    assert (summary.converted, summary.failed, summary.jobs) == (7, 1, 2)
    _same_outputs(tmp_path / "local", tmp_path / "dask")


@needs_dask
def test_on_its_own_local_cluster_what_libtiff_says_is_the_files(tmp_path: Path) -> None:
    # The local cluster's workers print to the terminal, through the bar,
    # and the file failed as "decoder error -2".
    src = tmp_path / "src"
    src.mkdir()
    tiff_patched(279, lambda n: n // 2, compression="tiff_lzw")(src / "cut.tif")
    Image.new("RGB", (8, 8), "green").save(src / "good.tif", compression="tiff_lzw")
    proc = subprocess.run(
        [sys.executable, "-m", "imgpar", "convert", str(src), "--to", "png", "--out",
         str(tmp_path / "o"), "--engine", "dask", "--jobs", "2"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    said = [line for line in proc.stderr.splitlines() if "LZW" in line]
    reason = "corrupt image data (LZWDecode: Strip 0 not terminated with EOI code)"
    assert said == [f"failed: {src / 'cut.tif'}: {reason}"]
    assert (tmp_path / "o" / "good.png").exists()


@needs_dask
def test_in_place_a_rerun_on_dask_rewrites_its_own_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A relative SOURCE, as typed: the files the workers may write over
    # travel absolute, like the outputs, or every output was refused.
    monkeypatch.chdir(tmp_path)
    build_tree(Path("src"), {"a.png": "rgba_png", "b.jpg": "small_jpeg"})
    first = imgpar.convert(["src"], to="webp", engine="dask", jobs=2)
    assert first.summary.converted == 2
    sizes = {p.name: p.stat().st_size for p in Path("src").glob("*.webp")}
    again = imgpar.convert(["src"], to="webp", quality=20, engine="dask", jobs=2)
    assert [(f.status, f.error) for f in again.files] == [("converted", None)] * 2
    assert {p.name: p.stat().st_size for p in Path("src").glob("*.webp")} != sizes


@needs_dask
def test_a_script_that_converts_as_it_is_imported_is_told_the_guard(tmp_path: Path) -> None:
    # Each worker process of a local cluster imports the main script again:
    # without `if __name__ == "__main__":` its workers waited for the lock
    # of the output folder their parent held, and the run never ended.
    build_tree(tmp_path / "src", {"a.png": "rgba_png"})
    script = tmp_path / "build.py"
    script.write_text('import imgpar\nimgpar.convert("src", to="webp", out="out", engine="dask")\n')
    done = subprocess.run(
        [sys.executable, script], cwd=tmp_path, capture_output=True, text=True,
        timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 1
    assert "call imgpar under `if __name__ == \"__main__\":`" in done.stderr
    assert done.stderr.strip().endswith(
        "imgpar.errors.ClusterError: could not start a local Dask cluster: Nanny failed to start."
    )


@needs_dask
def test_a_program_read_from_stdin_is_told_to_be_a_file(tmp_path: Path) -> None:
    # `python - <<EOF`: the workers could not import a main script named
    # <stdin>, and the error said only "Nanny failed to start."
    build_tree(tmp_path / "src", {"a.png": "rgba_png"})
    program = (
        "import imgpar\n"
        'if __name__ == "__main__":\n'
        '    imgpar.convert("src", to="webp", out="out", engine="dask", jobs=1)\n'
    )
    done = subprocess.run(
        [sys.executable, "-"], input=program, cwd=tmp_path, capture_output=True, text=True,
        timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().endswith(
        "Nanny failed to start. (its worker processes import the program's main script, and"
        " <stdin> is no file: save the program to one)"
    )
    assert not (tmp_path / "out" / "a.webp").exists()


@needs_dask
def test_a_taken_dashboard_port_is_no_warning(tmp_path: Path) -> None:
    # Two CI jobs on one runner: the second finds Dask's 8787 taken.
    src = _mixed_tree(tmp_path / "src")
    with socket.socket() as taken:
        try:
            taken.bind(("", 8787))
        except OSError:
            pass  # taken already, as wanted
        else:
            taken.listen()
        run = subprocess.run(
            [sys.executable, "-m", "imgpar", "convert", str(src), "--to", "webp", "--out",
             str(tmp_path / "out"), "--engine", "dask", "--jobs", "2", "--quiet"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert "Port 8787" not in run.stderr and "Warning" not in run.stderr, run.stderr
    assert run.returncode == 1  # the tree's one broken file
    assert run.stdout.startswith("7 converted, 0 skipped, 1 failed")


@needs_dask
def test_a_local_cluster_listens_on_this_machine_only() -> None:
    from imgpar.engine_dask import DaskEngine

    spec = ConvertSpec(outputs=(OutputSpec(target="webp"),))
    cluster = DaskEngine(spec, scheduler=None, jobs=1)._start()
    try:
        assert cluster.local is not None
        scheduler = cluster.local.scheduler
        bound = {s.getsockname()[0] for s in scheduler.http_server._sockets.values()}
        assert bound == {"127.0.0.1"}
        assert scheduler.address.startswith("tcp://127.0.0.1:")
    finally:
        cluster.close([])


@needs_dask
def test_file_that_kills_its_workers_is_reported_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dask
    import distributed  # noqa: F401  (loads Dask's defaults, which the override below needs)

    src = _mixed_tree(tmp_path / "src")
    make_camera_jpeg(src / "crash-me.jpg")
    # The workers inherit the variable; the pipeline crashes on that name.
    monkeypatch.setenv(CRASH_ENV, "crash-me")
    # The LocalCluster's scheduler reads Dask's limit: two deaths, not four.
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        report = imgpar.convert([src], to="webp", out=tmp_path / "out", engine="dask", jobs=2)
    failed = {os.path.basename(r.source): r.error for r in report.files if r.status == "failed"}
    assert set(failed) == {"broken.jpg", "crash-me.jpg"}
    assert "2 Dask workers died" in (failed["crash-me.jpg"] or "")
    assert report.summary.converted == 7
    assert not temp_leftovers(tmp_path / "out")


def _imgpar(*args: str) -> subprocess.Popen[str]:
    """`imgpar ARGS --verbose` in a session of its own, like a terminal's
    foreground job: a signal to its process group reaches its workers too."""
    return subprocess.Popen(
        [sys.executable, "-m", "imgpar", *args, "--verbose"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


def _wait_for_a_result(run: subprocess.Popen[str]) -> queue.Queue[str]:
    """Block until `run` reports its first converted file; its stderr lines
    keep arriving in the queue returned."""
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in run.stderr or ()])
    reader.daemon = True
    reader.start()
    while not lines.get(timeout=RUN_TIMEOUT).startswith("converted: "):
        pass
    return lines


@needs_dask
def test_file_that_hangs_its_worker_times_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _mixed_tree(tmp_path / "src")
    # Big enough (1 MiB) to travel alone, as a camera file does.
    make_camera_jpeg(src / "hang-me.jpg", displayed=(1400, 2100), noise=80, quality=100)
    assert (src / "hang-me.jpg").stat().st_size >= CHUNK_BYTES
    # The workers inherit the variable; the pipeline sleeps an hour on that name.
    monkeypatch.setenv(HANG_ENV, "hang-me")
    started = time.monotonic()
    report = imgpar.convert(
        [src], to="webp", out=tmp_path / "out", engine="dask", jobs=2, timeout=2
    )
    # Given up after its timeout, and the stuck worker restarted: far from
    # the hour the file would take.
    assert time.monotonic() - started < RUN_TIMEOUT
    failed = {os.path.basename(r.source): r.error for r in report.files if r.status == "failed"}
    assert set(failed) == {"broken.jpg", "hang-me.jpg"}
    assert failed["hang-me.jpg"] == "timed out after 2 s"
    # Its time held by the worker is work, as on one machine (it counted none).
    hung = next(r for r in report.files if r.source.endswith("hang-me.jpg"))
    assert hung.seconds >= 2 and hung.ended - hung.started == pytest.approx(hung.seconds)
    assert report.summary.converted == 7
    assert not (tmp_path / "out" / "hang-me.webp").exists()
    assert not temp_leftovers(tmp_path / "out")


def _one_times_out(
    src: Path, stall: str, monkeypatch: pytest.MonkeyPatch, **where: str | Path
) -> None:
    """hang-me.jpg, a camera file whose worker stalls as `stall` says
    (HANG_ENV), and fine.jpg, converted on a local cluster at --timeout 2:
    only the first fails, timed out."""
    make_camera_jpeg(src / "hang-me.jpg", displayed=(1400, 2100), noise=80, quality=100)
    make_camera_jpeg(src / "fine.jpg")
    monkeypatch.setenv(HANG_ENV, stall)
    report = imgpar.convert([src], to="webp", engine="dask", jobs=2, timeout=2, **where)
    assert [f.error for f in report.files if f.status == "failed"] == ["timed out after 2 s"]


@needs_dask
def test_a_file_that_outlasts_its_timeout_on_the_local_cluster_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Slow, not stuck: its worker, restarted, closed once the file was done,
    # and wrote the output of a file the run had failed as timed out. It is
    # given up some 6 s in (its timeout, and twice that held by its worker);
    # a restart would have let it end, and write, at 9 s.
    _one_times_out(tmp_path / "src", "hang-me:9", monkeypatch, out=tmp_path / "out")
    time.sleep(9)  # as long as the file would have taken
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        ".imgpar-cache.sqlite", ".imgpar-lock", "fine.webp"
    ]  # fmt: skip


@needs_dask
def test_in_place_a_timed_out_files_late_output_is_never_taken_for_a_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A restarted Dask worker may finish the file after the run has failed
    # it. The next run in place took that output for a source.
    src = tmp_path / "src"
    _one_times_out(src, "hang-me", monkeypatch)
    Image.new("RGB", (30, 20)).save(src / "hang-me.webp")  # as the worker would, late
    monkeypatch.delenv(HANG_ENV)
    again = imgpar.convert([src], to="webp", jobs=2)
    assert {os.path.basename(f.source): f.status for f in again.files} == {
        "hang-me.jpg": "converted", "fine.jpg": "skipped"
    }  # fmt: skip
    assert sorted(p.name for p in src.iterdir() if not p.name.startswith(".")) == [
        "fine.jpg", "fine.webp", "hang-me.jpg", "hang-me.webp"
    ]  # fmt: skip
    with Image.open(src / "hang-me.webp") as im:
        assert im.size == (1400, 2100)


@needs_dask
def test_ctrl_c_cancels_and_exits_130(tmp_path: Path) -> None:
    src = _noise_tree(tmp_path / "src", 40)
    out = tmp_path / "out"
    report = tmp_path / "report.json"
    run = _imgpar("convert", str(src), "--to", "webp", "--out", str(out), "--engine", "dask",
                  "--jobs", "2", "--report", str(report))
    try:
        lines = _wait_for_a_result(run)
        os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        run.wait(timeout=RUN_TIMEOUT)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    stderr = "".join(lines.queue)
    assert run.returncode == 130, stderr
    assert "Traceback" not in stderr  # the workers ignored it; imgpar handled it
    summary = json.loads(report.read_text())["summary"]
    assert summary["interrupted"] is True
    assert 1 <= summary["converted"] < 40
    assert not temp_leftovers(out)


def _wait_for_a_worker_process(run: int) -> None:
    """Block until process `run` has started a worker process: a Python Dask
    spawned, still importing."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while not _workers_of(run):
        if time.monotonic() > deadline:
            raise AssertionError("no worker process started")
        time.sleep(0.005)


def _workers_of(pid: int) -> list[str]:
    """The worker processes Dask has started for process `pid`."""
    found = []
    for child in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            parent = int(Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[1])
            if parent == pid and b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
    return found


@needs_dask
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the workers in /proc")
def test_ctrl_c_while_the_local_cluster_starts_is_quiet(tmp_path: Path) -> None:
    src = _noise_tree(tmp_path / "src", 2)
    out = tmp_path / "out"
    run = _imgpar("convert", str(src), "--to", "webp", "--out", str(out), "--engine", "dask",
                  "--jobs", "2")  # fmt: skip
    try:
        _wait_for_a_worker_process(run.pid)
        os.killpg(run.pid, signal.SIGINT)
        stdout, stderr = run.communicate(timeout=RUN_TIMEOUT)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert run.returncode == 130, stderr
    # Not a traceback from each worker that was importing Dask, nor
    # multiprocessing's warning of the semaphores they left.
    assert stderr == "", stderr
    assert "(interrupted)" in stdout
    assert not temp_leftovers(out)


@needs_dask
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the workers in /proc")
def test_a_second_ctrl_c_stops_a_cluster_start_that_hangs(tmp_path: Path) -> None:
    # Every thread blocked the signal: a start that hung could not be stopped.
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import sys, time\n"
        "if '--multiprocessing-fork' in sys.orig_argv:  # a worker, importing\n"
        "    time.sleep(120)\n"
    )
    src = _noise_tree(tmp_path / "src", 2)
    run = subprocess.Popen(
        [sys.executable, "-m", "imgpar", "convert", str(src), "--to", "webp", "--out",
         str(tmp_path / "out"), "--engine", "dask", "--jobs", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(hook)}, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for_a_worker_process(run.pid)
        workers = _workers_of(run.pid)
        run.send_signal(signal.SIGINT)  # held: the start goes on
        with pytest.raises(subprocess.TimeoutExpired):
            run.wait(timeout=2)
        run.send_signal(signal.SIGINT)
        stdout, stderr = run.communicate(timeout=30)  # the workers sleep 120 s
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert run.returncode == 130, stderr
    assert "(interrupted)" in stdout
    assert "Traceback" not in stderr, stderr
    deadline = time.monotonic() + 10
    while any(map(_running, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)  # killed, they may wait a moment to be reaped
    assert workers and not any(map(_running, workers))


def _running(pid: str) -> bool:
    """Whether process `pid` is there and not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


_CALLER_WITH_A_THREAD = """
import sys, threading, time
import imgpar
if __name__ == "__main__":
    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()  # a GUI's, say
    try:
        imgpar.convert(sys.argv[1], to="webp", out=sys.argv[2], engine="dask", jobs=2)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    time.sleep(60)  # alive, as a host program stays: its cluster must not
"""


@needs_dask
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the workers in /proc")
def test_ctrl_c_while_the_local_cluster_starts_in_a_program_with_threads(tmp_path: Path) -> None:
    # Another thread took the signal, where the main thread's mask held it
    # back: the cluster was cut off mid-start, and its workers lived on.
    script = tmp_path / "host.py"
    script.write_text(_CALLER_WITH_A_THREAD)
    src = _noise_tree(tmp_path / "src", 2)
    host = subprocess.Popen([sys.executable, str(script), str(src), str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        _wait_for_a_worker_process(host.pid)
        host.send_signal(signal.SIGINT)
        said: queue.Queue[str] = queue.Queue()
        out = host.stdout
        assert out is not None
        reader = threading.Thread(target=lambda: said.put(out.readline()))
        reader.daemon = True
        reader.start()
        assert said.get(timeout=RUN_TIMEOUT) == "interrupted\n"
        deadline = time.monotonic() + 15
        while _workers_of(host.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _workers_of(host.pid)
    finally:
        os.killpg(host.pid, signal.SIGKILL)
        _, stderr = host.communicate()
    assert "Traceback" not in stderr, stderr


@needs_dask
def test_dask_programs_match_local_run(
    programs: DaskPrograms, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _mixed_tree(Path("src"))
    runner = CliRunner()
    common = ["convert", "src", "--to", "webp", "--max-size", "100", "--quiet"]
    local = runner.invoke(app, [*common, "--out", "local", "--report", "local.json"])
    assert local.exit_code == 1, local.output  # broken.jpg
    # The address from the environment, as a site would set it once.
    monkeypatch.setenv("IMGPAR_SCHEDULER", programs.address)
    dask = runner.invoke(
        app, [*common, "--out", "dask", "--report", "dask.json", "--engine", "dask"]
    )
    assert dask.exit_code == 1, dask.output
    assert _counts(Path("dask.json")) == _counts(Path("local.json"))
    assert json.loads(Path("dask.json").read_text())["summary"]["jobs"] == 2
    _same_outputs(tmp_path / "local", tmp_path / "dask")


@needs_dask
def test_a_worker_thread_is_a_lane_of_its_own(tmp_path: Path) -> None:
    # The report named a Dask worker by its pid: a worker's threads shared a
    # lane, their bars on top of each other, as did workers on two hosts
    # (containers) whose pids were the same.
    src = tmp_path / "src"
    src.mkdir()
    for i in range(16):
        Image.effect_noise((600, 400), 40 + i).convert("RGB").save(src / f"n{i:02d}.png")
    with DaskPrograms(tmp_path / "dask", workers=0) as running:
        running.add_worker(nthreads=2)
        with running.client() as client:
            client.wait_for_workers(1, timeout=START_TIMEOUT)
            [address] = client.scheduler_info()["workers"]
        result = CliRunner().invoke(app, [
            "convert", str(src), "--to", "webp", "--out", str(tmp_path / "out"), "--quiet",
            "--engine", "dask", "--scheduler", running.address,
            "--report", str(tmp_path / "r.json"), "--report", str(tmp_path / "r.html"),
        ])  # fmt: skip
    assert result.exit_code == 0, result.output
    lanes: dict[str, list[tuple[float, float]]] = {}
    for f in json.loads((tmp_path / "r.json").read_text())["files"]:
        lanes.setdefault(f["worker"], []).append((f["started"], f["ended"]))
    assert set(lanes) <= {f"{address} #1", f"{address} #2"}, lanes.keys()
    for bars in lanes.values():
        bars.sort()
        assert all(end <= start for (_, end), (start, _) in itertools.pairwise(bars))
    assert f'"worker":"{address} #1"' in (tmp_path / "r.html").read_text()


@needs_dask
def test_a_scheduler_run_connects_once(
    programs: DaskPrograms, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Sizing the run (prepare) and running it share one connection.
    log = programs.folder / "scheduler-0.log"

    def connections() -> int:
        return log.read_text(errors="replace").count("Receive client connection")

    src = _noise_tree(tmp_path / "src", 2)
    before = connections()
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app, ["convert", "src", "--to", "webp", "--out", "out", "--scheduler", programs.address]
    )
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out").glob("*.webp"))) == len(list(src.iterdir()))
    deadline = time.monotonic() + 10
    while connections() == before and time.monotonic() < deadline:
        time.sleep(0.1)  # the scheduler writes its log as it goes
    assert connections() - before == 1


@needs_dask
def test_worker_killed_mid_run(programs: DaskPrograms, tmp_path: Path) -> None:
    src = _noise_tree(tmp_path / "src", 16)
    out = tmp_path / "out"
    victim = next(iter(programs.worker_pids().values()))
    results = _acting_during(programs.address, src, out, 2, lambda: os.kill(victim, signal.SIGKILL))
    # Dask moved the dead worker's files to the other worker (the nanny
    # restarts the dead one): every file ends up converted.
    assert sorted(r.source for r in results) == sorted(str(p) for p in src.iterdir())
    assert {r.status for r in results} == {"converted"}
    for r in results:
        for o in r.outputs:
            assert _pixels(Path(o.path))[1] == (620, 620)
    assert victim not in programs.worker_pids().values()


@needs_dask
def test_workers_must_see_the_files(programs: DaskPrograms, tmp_path: Path) -> None:
    from imgpar.engine_dask import DaskEngine

    spec = ConvertSpec(outputs=(OutputSpec(target="webp"),))
    out = tmp_path / "out"
    out.mkdir()
    # As on a worker host where the folder is not mounted.
    unseen = Task(
        source=str(tmp_path / "not-shared" / "a.jpg"),
        display="a.jpg",
        outputs=(str(out / "a.webp"),),
        source_bytes=1000,
    )
    engine = DaskEngine(spec, scheduler=programs.address, jobs=2, out=str(out))
    pattern = r"^worker tcp://127\.0\.0\.1:\d+ cannot read .*a\.jpg .*: is the folder shared\?$"
    with pytest.raises(ClusterError, match=pattern):
        list(engine.run([unseen]))
    seen = Task(
        source=str(make_camera_jpeg(tmp_path / "src" / "b.jpg")),
        display="b.jpg",
        outputs=(str(tmp_path / "gone" / "b.webp"),),
        source_bytes=1000,
    )
    engine = DaskEngine(spec, scheduler=programs.address, jobs=2, out=str(tmp_path / "gone"))
    with pytest.raises(ClusterError, match=r"cannot write to .*gone .*: is the folder shared\?$"):
        list(engine.run([seen]))
    assert not out.joinpath("a.webp").exists()


@pytest.mark.parametrize(
    ("address", "error"),
    [
        ("", "--scheduler is empty: give the Dask scheduler's address (tcp://HOST:8786)"),
        ("tcp://127.0.0.1:99999", "--scheduler 'tcp://127.0.0.1:99999': port 99999 is out of"
         " range (1-65535)"),
        ("http://127.0.0.1:8786", "--scheduler 'http://127.0.0.1:8786': Dask schedulers listen"
         " on tcp://, tls://, ucx://, ws://, wss:// addresses (tcp://HOST:8786)"),
        ("10.0.0.1", "--scheduler '10.0.0.1' has no port (tcp://HOST:8786)"),
        # Python's internals were the reason ("not enough values to unpack").
        ("inproc://x", "--scheduler 'inproc://x': an inproc:// scheduler is reached from its"
         " own process only: give its tcp:// address (tcp://HOST:8786)"),
        pytest.param("ucx://127.0.0.1:8786", "--scheduler 'ucx://127.0.0.1:8786': ucx:// needs"
                     " UCX for Dask (pip install distributed-ucxx), not installed here",
                     marks=pytest.mark.skipif(importlib.util.find_spec("ucp") is not None,
                                              reason="UCX is installed")),
    ],
)  # fmt: skip
def test_a_scheduler_address_that_is_none_is_a_usage_error(
    tmp_path: Path, address: str, error: str
) -> None:
    # Said before any connection: an unset CI variable, a pasted dashboard URL.
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    result = CliRunner().invoke(
        app, ["convert", str(tmp_path), "--to", "webp", "--scheduler", address]
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == f"imgpar: error: {error}"


@needs_dask
def test_a_bad_scheduler_from_the_environment_is_named_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    monkeypatch.setenv("IMGPAR_SCHEDULER", "garbage")
    result = CliRunner().invoke(app, ["convert", str(tmp_path), "--to", "webp", "--engine", "dask"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "imgpar: error: $IMGPAR_SCHEDULER 'garbage' has no port (tcp://HOST:8786)"
    )
    # No --scheduler was given: --jobs is refused for the variable's.
    monkeypatch.setenv("IMGPAR_SCHEDULER", "tcp://127.0.0.1:1")
    sized = CliRunner().invoke(app, ["convert", str(tmp_path), "--to", "webp", "--engine",
                                     "dask", "--jobs", "2"])  # fmt: skip
    assert sized.exit_code == 2
    assert sized.stderr.startswith(
        "imgpar: error: --jobs sizes a run on this machine; with $IMGPAR_SCHEDULER the cluster's"
    ), sized.stderr


@needs_dask
def test_a_wrong_scheduler_address_fails_fast_and_clearly(tmp_path: Path) -> None:
    src = str(_mixed_tree(tmp_path / "src"))
    runner = CliRunner()

    def refused(address: str) -> str:
        started = time.monotonic()
        result = runner.invoke(app, ["convert", src, "--to", "webp", "--scheduler", address])
        assert result.exit_code == 2
        # Well within Dask's own 30 s connect timeout, which it does not
        # even apply to a server that never greets it.
        assert time.monotonic() - started < 15
        return result.stderr.strip()

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    assert refused(f"tcp://127.0.0.1:{port}") == (
        f"imgpar: error: cannot reach the Dask scheduler at tcp://127.0.0.1:{port}"
        " (Connection refused): is `dask scheduler` running?"
    )
    # tls:// with no TLS settings here: Dask's TypeError blamed the scheduler.
    assert refused("tls://127.0.0.1:1") == (
        "imgpar: error: tls://127.0.0.1:1 asks for TLS, and this machine's Dask config has no"
        " TLS settings for a client (distributed.comm.tls.ca-file, .client.cert,"
        " .client.key); a scheduler without TLS is tcp://"
    )
    # A server that waits to be spoken to, as a dashboard's web server does.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        assert refused(address) == (
            f"imgpar: error: {address} is not a Dask scheduler (it does not greet as one):"
            " give the scheduler's address, port 8786 unless set otherwise, not the dashboard's"
        )


@needs_dask
def test_check_and_dry_run_need_no_cluster_up(tmp_path: Path) -> None:
    # A CI step that checks a cluster run's outputs failed (exit 2) whenever
    # the cluster was down, or waited a minute for a worker.
    src = str(_mixed_tree(tmp_path / "src"))
    out = str(tmp_path / "out")
    runner = CliRunner()
    assert runner.invoke(app, ["convert", src, "--to", "webp", "--out", out]).exit_code == 1
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        down = f"tcp://127.0.0.1:{closed.getsockname()[1]}"
    base = ["convert", src, "--to", "webp", "--out", out, "--scheduler", down]
    checked = runner.invoke(app, [*base, "--check"])
    assert checked.exit_code == 1  # broken.jpg fails, as without a scheduler
    assert checked.stdout.startswith("failing: ")
    assert "cannot reach" not in checked.output
    dry = runner.invoke(app, [*base, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "cannot reach" not in dry.output
    # A run needs the cluster: it says so, before anything is written.
    fresh = runner.invoke(app, [*base[:-3], str(tmp_path / "fresh"), "--scheduler", down])
    assert fresh.exit_code == 2
    assert "cannot reach the Dask scheduler" in fresh.stderr
    assert not (tmp_path / "fresh").exists()


@needs_dask
def test_a_stop_while_a_scheduler_has_no_worker_yet_says_so(tmp_path: Path) -> None:
    # SIGTERM and SIGHUP killed the run outright, with no word.
    src = _noise_tree(tmp_path / "src", 2)
    # The first waits long enough to be told what it waits for (8 s after
    # the command starts, with seconds to spare for a loaded machine's
    # start): silent, a minute's wait for a worker read as a hang.
    stops = [(signal.SIGINT, 130, 11), (signal.SIGTERM, 143, 3), (signal.SIGHUP, 129, 3)]
    with DaskPrograms(tmp_path / "cluster", workers=0) as cluster:
        for sig, status, waited in stops:
            run = subprocess.Popen(
                [sys.executable, "-m", "imgpar", "convert", str(src), "--to", "webp", "--out",
                 str(tmp_path / "out"), "--scheduler", cluster.address],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            time.sleep(waited)  # waiting for a worker to join, as for a minute
            run.send_signal(sig)
            _, stderr = run.communicate(timeout=30)
            told = (
                f"note: waiting for the Dask scheduler at {cluster.address} and a first worker"
                " to join\n" if waited > 8 else ""
            )
            said = f"{told}interrupted: nothing was converted\n"
            assert (run.returncode, stderr) == (status, said)
    assert not (tmp_path / "out").exists()


def _acting_during(
    address: str, src: Path, out: Path, at: int, act: Callable[[], object]
) -> list[Result]:
    """The results of a run on the scheduler at `address`, with `act` done
    once `at` files are back."""
    job = prepare([src], to="webp", out=out, scheduler=address)
    results: list[Result] = []
    for event in job.events():
        assert isinstance(event, Result)
        results.append(event)
        if len(results) == at:
            act()
    return results


def _losing_its_worker(
    cluster: DaskPrograms, src: Path, out: Path, *, then: tuple[str, ...] | None = None
) -> list[Result]:
    """The results of a run on `cluster` whose workers stop once the first
    file is back; `then`, one joins in their place, run through it."""

    def replace() -> None:
        cluster.stop_workers()
        if then is not None:
            cluster.add_worker(wrap=then)

    return _acting_during(cluster.address, src, out, 1, replace)


@needs_dask
def test_a_run_whose_workers_all_leave_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imgpar import engine_dask

    monkeypatch.setattr(engine_dask, "WORKERS_TIMEOUT", 2)
    monkeypatch.setattr(engine_dask, "WORKERS_CHECK", 0.5)
    src = _noise_tree(tmp_path / "src", 16)
    with DaskPrograms(tmp_path / "cluster", workers=1) as cluster:
        started = time.monotonic()
        results = _losing_its_worker(cluster, src, tmp_path / "out")
        assert time.monotonic() - started < RUN_TIMEOUT
    failed = [r for r in results if r.status == "failed"]
    assert failed and failed[-1].fatal
    assert {r.error for r in failed} == {
        f"no Dask worker left at {cluster.address} for 2 s"
    }


@needs_dask
@pytest.mark.parametrize("check", [0.2, 600])
def test_the_summary_counts_workers_that_join_during_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, check: float
) -> None:
    from imgpar import engine_dask

    # Counted during the run, and at its end: a run shorter than a check's
    # interval said 1.
    monkeypatch.setattr(engine_dask, "WORKERS_CHECK", check)
    src = _noise_tree(tmp_path / "src", 40)
    with DaskPrograms(tmp_path / "cluster", workers=1) as cluster:
        job = prepare([src], to="webp", out=tmp_path / "out", scheduler=cluster.address)
        assert job.jobs == 1
        workers: set[int | None] = set()
        for event in job.events():
            assert isinstance(event, Result) and event.status == "converted"
            if not workers:
                cluster.add_worker()
            workers.add(event.worker)
        assert len(workers) == 2, "the second worker converted no file"
    # Two worker threads worked: the summary's efficiency is not over 100%.
    assert job.jobs == 2


@needs_dask
def test_a_worker_that_joins_and_cannot_see_the_files_stops_the_run(tmp_path: Path) -> None:
    # Checked at the start, a worker that joined later (a node without the
    # share mounted) failed most of the batch, each file "disappeared".
    src = _noise_tree(tmp_path / "src", 24)
    hidden = f'mount -t tmpfs tmpfs "{src}" && exec "$@"'
    wrap = ("unshare", "-m", "--map-root-user", "sh", "-c", hidden, "sh")
    if subprocess.run([*wrap, "true"], capture_output=True).returncode != 0:
        pytest.skip(f"cannot mount over {src} here")
    with DaskPrograms(tmp_path / "cluster", workers=1) as cluster:
        results = _losing_its_worker(cluster, src, tmp_path / "out", then=wrap)
    failed = [r for r in results if r.status == "failed"]
    assert failed and failed[-1].fatal
    assert len({r.error for r in failed}) == 1
    assert re.fullmatch(r"worker tcp://127\.0\.0\.1:\d+ cannot read .*\.png \(no such file or"
                        r" directory\): is the folder shared\?", str(failed[0].error))  # fmt: skip
    # The files not reached are left for the next run, as when a scheduler is
    # lost. (The worker stopped may have written one it never reported.)
    converted = {Path(r.source).stem for r in results if r.status == "converted"}
    assert converted <= {p.stem for p in (tmp_path / "out").glob("*.webp")}


@needs_dask
def test_a_worker_that_joins_with_another_imgpar_stops_the_run(tmp_path: Path) -> None:
    # Checked at the start only: one that joined later converted files with
    # its own version's code, unsaid.
    src = _noise_tree(tmp_path / "src", 24)
    other = tmp_path / "other"
    shutil.copytree(Path(imgpar.__file__).parent, other / "imgpar")
    init = other / "imgpar" / "__init__.py"
    init.write_text(init.read_text().replace(f'"{imgpar.__version__}"', '"0.0.9"'))
    wrap = ("env", f"PYTHONPATH={other}")
    with DaskPrograms(tmp_path / "cluster", workers=1) as cluster:
        results = _losing_its_worker(cluster, src, tmp_path / "out", then=wrap)
    failed = [r for r in results if r.status == "failed"]
    assert failed and failed[-1].fatal
    assert re.fullmatch(rf"worker tcp://127\.0\.0\.1:\d+ runs imgpar 0\.0\.9, this machine"
                        rf" {re.escape(imgpar.__version__)}: install the same version on every"
                        r" worker", str(failed[0].error))  # fmt: skip
    converted = {Path(r.source).stem for r in results if r.status == "converted"}
    assert converted and converted <= {p.stem for p in (tmp_path / "out").glob("*.webp")}


@needs_dask
def test_a_scheduler_lost_while_waiting_for_a_worker_is_said_in_one_line(tmp_path: Path) -> None:
    src = _noise_tree(tmp_path / "src", 2)
    with DaskPrograms(tmp_path / "cluster", workers=0) as cluster:
        def clients(dask_scheduler: Any) -> int:  # sent by value: the scheduler has no tests
            return len(dask_scheduler.clients)

        with cluster.client() as client:  # until imgpar is connected, waiting for a worker
            before = client.run_on_scheduler(clients)
            run = _imgpar("convert", str(src), "--to", "webp", "--out", str(tmp_path / "out"),
                          "--scheduler", cluster.address)  # fmt: skip
            deadline = time.monotonic() + START_TIMEOUT
            while client.run_on_scheduler(clients) == before:
                assert time.monotonic() < deadline and run.poll() is None
                time.sleep(0.2)
        cluster.stop(cluster.scheduler)
        _, stderr = run.communicate(timeout=RUN_TIMEOUT)
    assert run.returncode == 2, stderr
    assert stderr.startswith(
        f"imgpar: error: lost the Dask scheduler at {cluster.address} while waiting for a worker"
    ), stderr
    assert len(stderr.splitlines()) == 1
    assert not (tmp_path / "out").exists()


@needs_dask
def test_scheduler_gone_ends_run_with_report(tmp_path: Path) -> None:
    src = _noise_tree(tmp_path / "src", 24)
    out = tmp_path / "out"
    report = tmp_path / "report.json"
    with DaskPrograms(tmp_path / "cluster", workers=1) as cluster:
        run = _imgpar("convert", str(src), "--to", "webp", "--out", str(out),
                      "--scheduler", cluster.address, "--report", str(report))
        try:
            lines = _wait_for_a_result(run)
            cluster.stop(cluster.scheduler)
            run.wait(timeout=RUN_TIMEOUT)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
    stdout = run.stdout.read() if run.stdout else ""
    stderr = "".join(lines.queue)
    assert run.returncode == 1, stderr
    assert "stopped: lost the Dask scheduler at tcp://127.0.0.1:" in stdout
    assert "Traceback" not in stderr
    data = json.loads(report.read_text())
    assert data["summary"]["stopped"].startswith("lost the Dask scheduler")
    converted = [f for f in data["files"] if f["status"] == "converted"]
    assert 1 <= len(converted) < 24
    for f in converted:
        assert Path(f["outputs"][0]["path"]).is_file()
    assert all(f["error"].startswith("lost the Dask") for f in data["files"] if f["error"])


def test_what_a_worker_does_where_this_machine_does_not_see_it_fails_saying_so(
    tmp_path: Path,
) -> None:
    # A worker whose --out is its own (not shared): its outputs passed for
    # converted, every run again; one that cannot see a source's folder had
    # it "disappeared".
    from imgpar.engine_dask import _back
    from imgpar.spec import OutputRecord, Result, Task

    source = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(source)
    out = tmp_path / "out" / "a.webp"
    task = Task(source=str(source), display=str(source), outputs=(str(out),),
                source_bytes=source.stat().st_size)  # fmt: skip
    made = Result(source=str(source), status="converted", worker="tcp://10.0.0.2:4000",
                  outputs=(OutputRecord(str(out), "WEBP", 8, 8, 40),), digest="d")  # fmt: skip
    unseen = _back(made, task, "")
    assert (unseen.status, unseen.outputs, unseen.digest) == ("failed", (), None)
    assert unseen.error == (
        f"cannot write {out}: worker tcp://10.0.0.2:4000 wrote it where this machine does not"
        " see it: is the folder shared?"
    )
    out.parent.mkdir()
    out.write_bytes(b"RIFF")
    assert _back(made, task, "") == made
    gone = Result(source=str(source), status="failed", worker="tcp://10.0.0.2:4000",
                  error="file disappeared before it could be read")  # fmt: skip
    assert _back(gone, task, "").error == (
        f"worker tcp://10.0.0.2:4000 cannot see {source}: is the folder shared?"
    )
    source.unlink()  # gone here too: it did disappear
    assert _back(gone, task, "") == gone


@needs_dask
def test_a_local_clusters_workers_leave_nothing_on_the_terminal(tmp_path: Path) -> None:
    # Their stderr is the user's: each left its temporary file for stderr
    # open at its exit, and Python printed "ResourceWarning: unclosed file".
    src = tmp_path / "src"
    src.mkdir()
    Image.new("RGB", (40, 30)).save(src / "a.tif", compression="tiff_lzw")
    (src / "b.tif").write_bytes((src / "a.tif").read_bytes()[:60])  # libtiff speaks
    run = subprocess.run(
        [sys.executable, "-m", "imgpar", "convert", str(src), "--to", "webp", "--out",
         str(tmp_path / "out"), "--engine", "dask", "--quiet"],
        capture_output=True, text=True, timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        f"failed: {src / 'b.tif'}: damaged TIFF file: its header cannot be read (truncated or"
        " corrupt)"
    ]
