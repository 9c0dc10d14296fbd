"""imgpar.engine: serial and process engines give the same results and files."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import (
    build_tree,
    make_camera_jpeg,
    outputs_in,
    temp_leftovers,
    under_read_only_mount,
)
from PIL import Image

import imgpar
from imgpar.engine import Passed, ProcessEngine, SerialEngine, scheduled
from imgpar.limits import CHUNK_BYTES, CHUNK_FILES
from imgpar.pipeline import HANG_ENV
from imgpar.spec import ConvertSpec, OutputSpec, Resize, Result, Task
from imgpar.temps import abandoned_temp_files, temp_prefix
from imgpar.walk import Skipped

TARGETS = "webp,jpeg,png,avif,tiff"
START_METHODS = [None, "spawn"]  # the platform default, and what macOS/Windows use


def _tree(root: Path) -> Path:
    return build_tree(
        root,
        {
            # No Exif IFD: TIFF output of one is a known bug (see test_pipeline).
            "camera/IMG_0001.JPG": lambda p: make_camera_jpeg(p, exif_ifd=False),
            "camera/IMG_0002.jpg": lambda p: make_camera_jpeg(p, orientation=8, exif_ifd=False),
            "web/rgba.png": "rgba_png",
            "web/palette.png": "palette_png",
            "scan/gray16.png": "gray16_png",
            "print/cmyk.jpg": "cmyk_jpeg",
            "la.png": "la_png",
            "bilevel.png": "bilevel_png",
            "broken.jpg": b"\xff\xd8\xff\xe0 not really",
        },
    )


@dataclass(frozen=True)
class Run:
    out: Path
    results: list[Result]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """One tree converted by the serial engine and by the process engine
    under each start method (module-scoped: each run is done once)."""
    base = tmp_path_factory.mktemp("engine")
    src = _tree(base / "src")
    done: dict[str, Run] = {}
    for name, jobs, method in [
        ("serial", 1, None),
        *((f"process-{m or 'default'}", 2, m) for m in START_METHODS),
    ]:
        out = base / name
        report = imgpar.convert(
            [src], to=TARGETS, out=out, max_size=120, jobs=jobs, start_method=method
        )
        done[name] = Run(out, report.files)
    return done


def _normal(run: Run) -> list[tuple[object, ...]]:
    """A result without its timings and pids, output paths relative to its --out."""
    rows = []
    for r in run.results:
        outputs = tuple(
            (os.path.relpath(o.path, run.out), o.format, o.width, o.height, o.bytes)
            for o in r.outputs
        )
        rows.append(
            (r.source, r.status, outputs, r.source_bytes, r.width, r.height, r.error, r.notes)
        )
    return sorted(rows, key=repr)


@pytest.mark.parametrize("method", START_METHODS)
def test_process_results_equal_serial_results(runs: dict[str, Run], method: str | None) -> None:
    serial, process = runs["serial"], runs[f"process-{method or 'default'}"]
    assert len(serial.results) == 9
    assert [r.status for r in serial.results].count("failed") == 1
    assert _normal(process) == _normal(serial)


@pytest.mark.parametrize("method", START_METHODS)
def test_process_outputs_byte_identical_to_serial(runs: dict[str, Run], method: str | None) -> None:
    serial, process = runs["serial"], runs[f"process-{method or 'default'}"]
    files = sorted(outputs_in(serial.out))
    assert len(files) == 8 * 5
    assert sorted(outputs_in(process.out)) == files
    for rel in files:
        assert (process.out / rel).read_bytes() == (serial.out / rel).read_bytes(), rel
    assert temp_leftovers(process.out) == []


@pytest.mark.parametrize("method", START_METHODS)
def test_process_engine_works_in_other_processes(runs: dict[str, Run], method: str | None) -> None:
    process = runs[f"process-{method or 'default'}"]
    workers = {r.worker for r in process.results if r.status == "converted"}
    assert workers and os.getpid() not in workers
    assert {r.worker for r in runs["serial"].results if r.status == "converted"} == {os.getpid()}


def _spec() -> ConvertSpec:
    return ConvertSpec(outputs=(OutputSpec(target="png", resize=Resize(width=16, height=16)),))


def _missing_task(folder: Path, i: int, size: int = 100) -> Task:
    return Task(
        source=str(folder / f"gone{i:05}.jpg"),
        display=f"gone{i:05}.jpg",
        outputs=(str(folder / "out" / f"gone{i:05}.png"),),
        source_bytes=size,
    )


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_a_script_that_converts_as_it_is_imported_is_told_the_guard(
    method: str, tmp_path: Path
) -> None:
    # Spawn (macOS's default) and forkserver (Linux's from Python 3.14)
    # workers import the main script again: without `if __name__ ==
    # "__main__":` each started a run of its own, waited for the output
    # folder its parent held, and the script never ended.
    (tmp_path / "src").mkdir()
    for i in range(3):
        Image.new("RGB", (60, 40), (i * 80, 20, 20)).save(tmp_path / "src" / f"a{i}.jpg")
    script = tmp_path / "build.py"
    script.write_text(
        "import multiprocessing\n"
        f"multiprocessing.set_start_method({method!r}, force=True)\n"
        "import imgpar\n"
        'report = imgpar.convert("src", to="webp", out="out", jobs=2)\n'
        "print(report.summary.converted, [f.error for f in report.files])\n"
    )
    done = subprocess.run([sys.executable, script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("0 ['worker processes cannot start"), done.stdout
    assert "call imgpar under `if __name__ == \"__main__\":`" in done.stderr
    assert not list((tmp_path / "out").glob("*.webp"))


@pytest.mark.parametrize("engine", ["serial", "process"])
def test_non_tasks_pass_through_unchanged(engine: str, tmp_path: Path) -> None:
    note = Skipped(str(tmp_path / "loop"), "symlink loop")
    decided = Result(source="x.jpg", status="skipped")
    task = _missing_task(tmp_path, 0)
    runner = SerialEngine(_spec()) if engine == "serial" else ProcessEngine(_spec(), jobs=2)
    out = list(runner.run([note, task, decided]))
    assert len(out) == 3
    assert any(item is note for item in out)
    assert any(item is decided for item in out)
    (result,) = [r for r in out if isinstance(r, Result) and r.source == "gone00000.jpg"]
    assert result.status == "failed" and result.error


def test_process_engine_takes_tasks_as_it_goes(tmp_path: Path) -> None:
    """Tasks are pulled a window at a time, not all submitted up front: when
    the first result arrives, most of a long stream is still unread."""
    total = 3000
    pulled = 0

    def stream() -> Iterator[Task]:
        nonlocal pulled
        for i in range(total):
            pulled += 1
            yield _missing_task(tmp_path, i)

    engine = ProcessEngine(_spec(), jobs=2)
    results = engine.run(stream())
    first = next(results)
    assert isinstance(first, Result)
    assert pulled < total // 2
    rest = list(results)
    assert len(rest) + 1 == total
    assert {r.status for r in rest if isinstance(r, Result)} == {"failed"}


def _tasks(sizes: list[int]) -> list[Task]:
    return [
        Task(source=f"f{i}", display=f"f{i}", outputs=(f"o{i}",), source_bytes=size)
        for i, size in enumerate(sizes)
    ]


def _flat(stream: Iterable[list[Task] | Passed]) -> list[Task | Passed]:
    return [t for c in stream for t in (c if isinstance(c, list) else [c])]


def test_scheduled_groups_many_tiny_files_and_drains_in_ever_smaller_chunks() -> None:
    tasks = _tasks([100] * 1000)
    chunks = list(scheduled(tasks, workers=2))
    assert sorted(_flat(chunks), key=lambda t: t.display) == sorted(tasks, key=lambda t: t.display)
    sizes = [len(c) for c in chunks]
    assert sizes[:4] == [CHUNK_FILES] * 4  # while the input lasts
    assert len(chunks) < 60  # 1,000 files, not 1,000 submissions
    # Once the input is over, each chunk is at most a quarter (two workers)
    # of what is left, down to single files at the very end.
    left = 1000
    for size in sizes:
        if left <= CHUNK_FILES * 4:
            assert size <= max(1, left // 4)
        left -= size
    assert sizes[-3:] == [1, 1, 1]


def test_scheduled_big_file_travels_alone() -> None:
    small, big, small2 = _tasks([1000, CHUNK_BYTES * 5, 2000])
    chunks = list(scheduled([small, big, small2], workers=1))
    assert [big] in chunks
    assert sorted(t.display for t in _flat(chunks)) == ["f0", "f1", "f2"]


def test_scheduled_closes_a_chunk_at_the_byte_budget() -> None:
    quarter = CHUNK_BYTES // 4
    tasks = _tasks([quarter] * 40)
    chunks = list(scheduled(tasks, workers=1))
    assert all(sum(t.source_bytes for t in c) <= CHUNK_BYTES for c in chunks)
    assert max(len(c) for c in chunks) == 4


def test_scheduled_passes_other_items_at_once() -> None:
    note = Skipped("x", "broken symlink")
    tasks = _tasks([10, 10])
    stream = scheduled([tasks[0], note, tasks[1]], workers=1)
    # The note is not held back until the chunk around it fills up.
    assert next(stream) is note
    assert _flat(stream) == tasks


def test_scheduled_is_lazy() -> None:
    def endless() -> Iterator[Task]:
        while True:
            yield _tasks([CHUNK_BYTES])[0]

    stream = scheduled(endless(), workers=2)
    assert len(next(stream)) == 1


def test_work_starts_at_once_and_the_batch_ends_with_the_smallest_files() -> None:
    mib = CHUNK_BYTES  # files this big travel alone, so the order shows
    sizes = [2 * mib, 5 * mib, 3 * mib, 4 * mib, mib]
    tasks = [
        Task(source=f"s{i}", display=f"s{i}", outputs=(f"o{i}",), source_bytes=n)
        for i, n in enumerate(sizes)
    ]
    note = Skipped("x", "a walker note")
    stream = scheduled([tasks[0], note, *tasks[1:]], workers=1, lookahead=16)
    assert next(stream) == [tasks[0]]  # the first file is not held back
    assert next(stream) is note  # nor are notes
    assert [t.source_bytes // mib for t in _flat(stream)] == [5, 4, 3, 1]
    # On a long batch the window reaches the lookahead and stays there: the
    # batch ends with the smallest files of its last window, largest first.
    rng = random.Random(5)
    many = [
        Task(source=f"m{i}", display=f"m{i}", outputs=(), source_bytes=rng.randrange(10**6))
        for i in range(400)
    ]
    ordered = [t.source_bytes for t in _flat(scheduled(many, workers=2, lookahead=32))]
    assert sorted(ordered) == sorted(t.source_bytes for t in many)
    tail = ordered[-31:]
    assert tail == sorted(tail, reverse=True)
    # The biggest file is never held back behind files walked after it.
    biggest = max(range(400), key=lambda i: many[i].source_bytes)
    assert ordered.index(many[biggest].source_bytes) <= biggest


def test_a_program_calling_the_api_keeps_its_garbage_collector(tmp_path: Path) -> None:
    import gc

    src = _tree(tmp_path / "src")
    # The workers are forked with the collector frozen; the caller must not be
    # left with every object it had then exempt from collection.
    report = imgpar.convert([src], to="webp", out=tmp_path / "out", jobs=2)
    assert report.summary.converted > 0
    assert gc.get_freeze_count() == 0


def test_a_program_converting_in_its_own_process_keeps_its_pillow_settings(
    tmp_path: Path,
) -> None:
    # jobs=1 set Pillow's limits for the run and left them: the program's
    # own Image.open then refused its 400x300 image as a bomb.
    import warnings

    from PIL import AvifImagePlugin, ImageFile

    src = tmp_path / "src"
    src.mkdir()
    Image.new("RGB", (400, 300)).save(src / "big.jpg")
    Image.new("RGB", (40, 30)).save(src / "small.jpg")
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    Image.MAX_IMAGE_PIXELS = None
    threads, filters = AvifImagePlugin.DEFAULT_MAX_THREADS, list(warnings.filters)
    seen = []
    for result in imgpar.iter_convert(src, to="png", out=tmp_path / "out", jobs=1,
                                      max_pixels=5000):  # fmt: skip
        seen.append((os.path.basename(result.source), result.status))
        # Between files too, the program's own settings hold.
        assert (ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS) == (True, None)
    assert sorted(seen) == [("big.jpg", "failed"), ("small.jpg", "converted")]
    assert (ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS) == (True, None)
    assert (AvifImagePlugin.DEFAULT_MAX_THREADS, warnings.filters) == (threads, filters)
    with Image.open(src / "big.jpg") as im:
        im.load()
    # Two runs in two threads at once: each put back what the other had set.
    for i in range(40):
        Image.new("RGB", (20, 10)).save(src / f"s{i:02d}.png")
    done = []

    def convert(n: int) -> None:
        report = imgpar.convert(src, to="webp", out=tmp_path / f"t{n}", jobs=1,
                                max_pixels=1_000_000 * (n + 1))  # fmt: skip
        done.append(report.summary.converted)

    import threading

    runs = [threading.Thread(target=convert, args=(n,)) for n in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert done == [42, 42]
    assert (ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS) == (True, None)


def test_the_summary_stages_are_read_by_name(tmp_path: Path) -> None:
    summary = imgpar.convert([_tree(tmp_path / "src")], to="webp", out=tmp_path / "out").summary
    stages = summary.stage_seconds
    assert stages._fields == ("decode", "resize", "encode", "write")
    assert stages.encode > 0 and stages.decode > 0
    assert sum(stages) <= summary.work_seconds


def test_a_submission_to_a_broken_pool_fails_its_chunk_not_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker can die between two submissions: the next one must fail as a
    # chunk (which the engine retries file by file), not raise out of the run.
    monkeypatch.setenv(HANG_ENV, "hang_here")
    workers = ProcessEngine(_spec(), jobs=1)._workers(1)
    try:
        hang = Task(source=str(tmp_path / "hang_here.jpg"), display="h", outputs=("o",),
                    source_bytes=1)  # fmt: skip
        first, _ = workers.submit([hang])
        for pid in workers._processes:
            os.kill(pid, signal.SIGKILL)
        with pytest.raises(BrokenProcessPool):
            first.result(timeout=60)
        later, _ = workers.submit([_missing_task(tmp_path, 1)])
        with pytest.raises(BrokenProcessPool):
            later.result(timeout=5)
    finally:
        workers.kill({})


def test_a_dead_process_awaiting_its_reaper_left_its_temp_files(tmp_path: Path) -> None:
    # The workers of a run killed outright stay zombies for a second or two
    # in a container; a re-run then took their half-written files for live.
    ended = subprocess.Popen([sys.executable, "-c", "pass"])  # never waited for: a zombie
    live = tmp_path / f"{temp_prefix(os.getpid())}live.webp"
    dead = tmp_path / f"{temp_prefix(ended.pid)}dead.webp"
    for path in (live, dead):
        path.write_bytes(b"half")
    try:
        deadline = time.monotonic() + 30
        while abandoned_temp_files(str(tmp_path)) == [] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert abandoned_temp_files(str(tmp_path)) == [str(dead)]
    finally:
        ended.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mount namespaces are Linux's")
def test_without_shared_memory_files_are_converted_in_this_process(tmp_path: Path) -> None:
    src = build_tree(tmp_path / "src", {f"p{i}.jpg": "camera_jpeg" for i in range(3)})
    out = tmp_path / "out"
    script = (
        "import sys\n"
        "from imgpar.cli import main\n"
        "sys.argv = ['imgpar', 'convert', sys.argv[1], '--to', 'webp', '--out', sys.argv[2],"
        " '--jobs', '2']\n"
        "main()\n"
    )
    done = under_read_only_mount("/dev/shm", [sys.executable, "-c", script, src, out])
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "note: /dev/shm: Read-only file system: worker processes cannot start, so files are"
        " converted in this process, on one core"
    ]
    assert "3 converted, 0 skipped, 0 failed" in done.stdout
    assert "on 1 job" in done.stdout
    assert sorted(outputs_in(out)) == ["p0.webp", "p1.webp", "p2.webp"]
    # A program calling the API gets Python's warning, and a summary that says so.
    api = (
        "import sys, warnings, imgpar\n"
        "warnings.simplefilter('error', RuntimeWarning)\n"
        "try:\n"
        "    imgpar.convert(sys.argv[1], to='png', out=sys.argv[2], jobs=2)\n"
        "except RuntimeWarning as warning:\n"
        "    print(warning)\n"
        "warnings.simplefilter('ignore', RuntimeWarning)\n"
        "r = imgpar.convert(sys.argv[1], to='png', out=sys.argv[2], jobs=2)\n"
        "print(r.summary.converted, r.summary.jobs, r.summary.engine)\n"
    )
    called = under_read_only_mount("/dev/shm", [sys.executable, "-c", api, src, tmp_path / "png"])
    assert called.returncode == 0, called.stderr
    assert called.stdout.splitlines() == [
        "/dev/shm: Read-only file system: worker processes cannot start, so files are"
        " converted in this process, on one core",
        "3 1 serial",
    ]


def _convert_in_a_pool_worker(paths: tuple[str, str]) -> tuple[int, int, str, list[str]]:
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = imgpar.convert(paths[0], to="png", out=paths[1], jobs=2).summary
    return summary.converted, summary.jobs, summary.engine, [str(w.message) for w in caught]


def test_a_pools_own_worker_converts_in_its_own_process(tmp_path: Path) -> None:
    # A daemonic process may start none: the pool's submission failed with
    # an AssertionError, after --out was made.
    src = build_tree(tmp_path / "src", {f"p{i}.jpg": "camera_jpeg" for i in range(3)})
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        ((converted, jobs, engine, said),) = pool.map(
            _convert_in_a_pool_worker, [(str(src), str(tmp_path / "out"))]
        )
    assert (converted, jobs, engine) == (3, 1, "serial")
    assert said == [
        "this process: a daemonic process (a multiprocessing pool's worker): worker processes"
        " cannot start, so files are converted in this process, on one core"
    ]


def test_each_batch_starts_with_its_biggest_file(tmp_path: Path) -> None:
    # Walked first, small files; the big photo in a folder walked last. A
    # batch is planned whole before any of it starts, so its biggest goes
    # first, and does not start late to keep one core busy alone at the end.
    src = build_tree(
        tmp_path / "src",
        {
            "a.png": "rgba_png",
            "b.png": "la_png",
            "c.jpg": "small_jpeg",
            "z/big.jpg": lambda p: make_camera_jpeg(p, displayed=(900, 1200)),
        },
    )
    job = imgpar.api.prepare([str(src)], to="webp", out=str(tmp_path / "out"), jobs=1)
    order = [Path(e.source).name for e in job.events() if isinstance(e, Result)]
    assert order[0] == "big.jpg"
    sizes = [next(src.rglob(name)).stat().st_size for name in order]
    assert sizes == sorted(sizes, reverse=True)


def test_a_run_stopped_between_results_that_came_back_together_leaves_only_reported_outputs(
    tmp_path: Path,
) -> None:
    # Ten icons travel in one chunk and come back together. Ctrl-C after the
    # first was reported left the other nine on disk, in no report and no
    # cache: in place, the next run took them for sources.
    src = tmp_path / "src"
    src.mkdir()
    tasks = []
    for i in range(10):
        Image.new("RGB", (32, 32), (i * 20, 80, 160)).save(src / f"i{i}.png")
        made = str(tmp_path / "out" / f"i{i}.png")
        tasks.append(Task(source=str(src / f"i{i}.png"), display=f"i{i}.png",
                          outputs=(made,), source_bytes=100))  # fmt: skip
    (tmp_path / "out").mkdir()
    results = ProcessEngine(_spec(), jobs=1).run(tasks)
    first = next(results)
    assert isinstance(first, Result) and first.status == "converted"
    results.close()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [first.source]


def _blocked(pid: int | str) -> int:
    """The signals process `pid` holds back, as a mask (/proc's SigBlk)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("SigBlk:"))
               .split()[1], 16)  # fmt: skip


_STOPS = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1)) | (1 << (signal.SIGHUP - 1))


def _noting_init_worker(*args: object) -> None:
    """The worker's initializer, noting first what the worker holds back."""
    from imgpar import engine

    Path(os.environ["IMGPAR_TEST_MASKS"], str(os.getpid())).write_text(str(_blocked("self")))
    engine.__dict__["_real_init_worker"](*args)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc")
def test_workers_start_with_the_stop_signals_held_and_then_take_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Ctrl-C or SIGTERM that reached a worker as it was forked ran the
    # parent's handler there and printed tracebacks: they are held while the
    # workers are forked, and each takes them once its own handlers are set.
    from imgpar import engine

    masks = tmp_path / "masks"
    masks.mkdir()
    monkeypatch.setenv("IMGPAR_TEST_MASKS", str(masks))
    monkeypatch.setattr(engine, "_real_init_worker", engine._init_worker, raising=False)
    monkeypatch.setattr(engine, "_init_worker", _noting_init_worker)
    before = _blocked("self")
    results = imgpar.iter_convert([_tree(tmp_path / "src")], to="webp", out=tmp_path / "out",
                                  jobs=2, start_method="fork")  # fmt: skip
    first = next(results)
    assert _blocked(first.worker) & _STOPS == 0  # taken, once set up
    assert _blocked("self") == before
    results.close()
    held = [int(p.read_text()) for p in masks.iterdir()]
    assert held and all(mask & _STOPS == _STOPS for mask in held)
