"""`imgpar bench`, and the per-stage timings and peak memory it reports.

Nothing here asserts a speed: timings on a shared test machine are noise.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
import zlib
from pathlib import Path

import pytest
from conftest import tiff_patched, under_read_only_mount, unprivileged
from PIL import Image
from typer.testing import CliRunner

import imgpar
from imgpar import bench as bench_module
from imgpar.bench import BenchResult, BenchRow, bench, evenly_spaced, jobs_ladder
from imgpar.cli import app
from imgpar.collect import Summary
from imgpar.console import format_bench, format_summary, waited_note
from imgpar.errors import UsageError
from imgpar.limits import default_jobs
from imgpar.report import open_report
from imgpar.spec import STAGES

ORIENTATION = 0x0112


def make_sources(root: Path) -> Path:
    """Four tiny images, two of them with the same name in different folders."""
    for folder in ("a", "b"):
        (root / folder).mkdir(parents=True)
        Image.new("RGB", (120, 80), (200, 40, 40)).save(root / folder / "same.jpg")
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    Image.new("RGB", (90, 60), (40, 200, 40)).save(root / "sideways.jpg", exif=exif)
    Image.new("RGBA", (64, 48), (40, 40, 200, 128)).save(root / "logo.png")
    return root


def listing(root: Path) -> dict[str, int]:
    return {
        os.path.relpath(os.path.join(folder, name), root): os.stat(
            os.path.join(folder, name)
        ).st_mtime_ns
        for folder, _, names in os.walk(root)
        for name in names
    }


@pytest.fixture
def shm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for /dev/shm, so a test can see what bench leaves there."""
    folder = tmp_path / "shm"
    folder.mkdir()
    monkeypatch.setattr(bench_module, "SHM", str(folder))
    return folder


def test_bench_command_prints_the_table_and_leaves_nothing(tmp_path: Path, shm: Path) -> None:
    src = make_sources(tmp_path / "src")
    before = listing(src)
    result = CliRunner().invoke(
        app,
        ["bench", str(src), "--to", "webp", "--max-size", "32", "--jobs", "1,2", "--repeat", "1"],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(line for line in lines if line.split()[:2] == ["jobs", "wall"])
    for column in ("images/s", "speedup", "efficiency", *STAGES):
        assert column in header
    rows = [line.split() for line in lines if line.split()[:1] in (["1"], ["2"])]
    assert [row[0] for row in rows] == ["1", "2"]
    assert all(len(row) == 5 + len(STAGES) for row in rows)
    assert rows[0][3] == "1.00x"
    assert "all 4 images (" in result.output and "one run each" in result.output
    cores = default_jobs()
    assert f"{cores} CPU {'core' if cores == 1 else 'cores'}" in result.output
    assert "peak worker memory: " in result.output
    assert "(jobs=1, in this process with imgpar's own)" in result.output.replace("\n  ", " ")
    assert "failed" not in result.output
    assert list(shm.iterdir()) == []
    assert listing(src) == before


def test_bench_says_of_a_damaged_file_what_convert_says(tmp_path: Path) -> None:
    # Its jobs=1 runs and its header pass printed libtiff's and Pillow's
    # lines raw, and the TIFF failed as "decoder error -2".
    src = make_sources(tmp_path / "src")
    tiff_patched(279, lambda n: n // 2, compression="tiff_lzw")(src / "cut.tif")
    tiff_patched(277, lambda _: 9)(src / "nine.tif")
    proc = subprocess.run(
        [sys.executable, "-m", "imgpar", "bench", str(src), "--to", "webp", "--jobs", "1,2",
         "--repeat", "1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    assert f"failed: {src / 'cut.tif'}: corrupt image data (LZWDecode: Strip 0 not" in (
        proc.stdout
    )
    assert f"failed: {src / 'nine.tif'}: damaged TIFF file" in proc.stdout
    assert "LZWDecode" not in proc.stderr and "samples" not in proc.stderr, proc.stderr


def test_bench_times_sources_not_the_outputs_beside_them(tmp_path: Path, shm: Path) -> None:
    # A folder converted in place holds its outputs too: bench timed them as
    # sources, two thirds of its sample being already-converted files.
    src = make_sources(tmp_path / "src")
    assert imgpar.convert([src], to="webp,png", width=[16, 32]).summary.converted == 4
    assert len(list(src.rglob("*-*.webp"))) == 8
    result = bench([src], to="webp", max_size=32, jobs=[1], repeat=1)
    assert (result.found, result.sample) == (4, 4)


def test_bench_times_the_images_a_run_wrote_into_an_out(tmp_path: Path, shm: Path) -> None:
    # A site's converted images (dist/img) are sources to a run, or to bench,
    # into another folder: bench listed them as a run in place would, found
    # them all imgpar's outputs, and said there was no image.
    web = tmp_path / "web"
    assert imgpar.convert([make_sources(tmp_path / "src")], to="webp", out=web).summary.files == 4
    result = bench([web], to="avif", jobs=[1], repeat=1)
    assert (result.found, result.sample) == (4, 4)
    one = bench([web / "logo.webp"], to="avif", jobs=[1], repeat=1)
    assert (one.found, one.failures) == (1, ())
    assert list(shm.iterdir()) == []


def test_bench_times_a_folder_whose_cache_it_cannot_write(tmp_path: Path) -> None:
    # Converted in place under sudo, say: bench writes only into a folder of its own.
    src = make_sources(tmp_path / "src")
    assert imgpar.convert([src], to="webp").summary.converted == 4
    (src / ".imgpar-cache.sqlite").chmod(0o444)
    argv = [*unprivileged(), sys.executable, "-m", "imgpar", "bench", str(src), "--to", "webp",
            "--jobs", "1", "--repeat", "1"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "all 4 images (" in done.stdout


def test_bench_times_a_named_file_with_no_image_extension(tmp_path: Path, shm: Path) -> None:
    # convert takes a file named as a SOURCE whatever its name; bench's runs
    # walked their sample folder, passed over it, and timed nothing.
    Image.new("RGB", (120, 80), (200, 40, 40)).save(tmp_path / "export", "JPEG")
    result = bench([tmp_path / "export"], to="webp", jobs=[1], repeat=1)
    assert result.sample == 1
    assert [row.images for row in result.rows] == [1]


def test_bench_with_failing_images_says_so_and_exits_1(tmp_path: Path, shm: Path) -> None:
    src = make_sources(tmp_path / "src")
    (src / "broken.jpg").write_text("not a picture")
    result = CliRunner().invoke(
        app, ["bench", str(src), "--to", "webp", "--jobs", "1", "--repeat", "1"]
    )
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    # The user's own path, not the sample folder's numbered link to it.
    failure = f"failed: {src / 'broken.jpg'}: not an image imgpar can read"
    assert [line for line in lines if line.startswith("failed:")] == [
        failure + " (unknown or unsupported format)"
    ]
    assert "1 image failed, timed in as failures" in lines


def test_bench_falls_back_to_the_temp_folder_and_cleans_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = make_sources(tmp_path / "src")
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(bench_module, "SHM", str(tmp_path / "no-shm-here"))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    calls: list[tuple[int, int]] = []
    result = bench(
        [src],
        to="webp",
        max_size=32,
        jobs=[2],
        repeat=2,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert [row.jobs for row in result.rows] == [1, 2]
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert result.scratch == str(temp)
    assert (result.found, result.sample, result.repeat) == (4, 4, 2)
    for row in result.rows:
        assert (row.images, row.failed) == (4, 0)
        assert row.wall_seconds > 0 and row.speedup > 0
        assert len(row.stage_shares) == len(STAGES)
        assert all(share >= 0 for share in row.stage_shares)
        assert sum(row.stage_shares) <= 1.0 + 1e-9
        assert row.peak_worker_rss > 0
    assert result.rows[0].speedup == 1.0
    assert list(temp.iterdir()) == []


def test_bench_removes_its_folder_when_interrupted(tmp_path: Path, shm: Path) -> None:
    src = make_sources(tmp_path / "src")

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        bench([src], to="webp", jobs=[1, 2], repeat=1, progress=interrupt)
    assert list(shm.iterdir()) == []


def test_bench_samples_evenly_and_deterministically(tmp_path: Path, shm: Path) -> None:
    names = [f"{i:02d}.png" for i in range(10)]
    assert evenly_spaced(names, 3) == ["01.png", "05.png", "08.png"]
    assert evenly_spaced(names, 3) == evenly_spaced(names, 3)
    assert evenly_spaced(names, 10) == names
    assert evenly_spaced(names, 50) == names
    src = make_sources(tmp_path / "src")
    result = bench([src], to="png", jobs=[1], sample=2, repeat=1)
    assert (result.found, result.sample, result.rows[0].images) == (4, 2, 2)


def test_jobs_ladder() -> None:
    assert jobs_ladder([4, 2, 2]) == (1, 2, 4)
    assert jobs_ladder([1]) == (1,)
    default = jobs_ladder(None)
    assert default[0] == 1 and default[-1] == default_jobs()
    assert list(default) == sorted(set(default))
    with pytest.raises(UsageError):
        jobs_ladder([0, 2])


@pytest.mark.parametrize(
    "args",
    [
        ["--jobs", "1,two"],
        ["--jobs", "0"],
        ["--jobs", ""],  # an unset variable: no default ladder
        ["--jobs", "99999"],  # forked until the OOM killer stopped it
        ["--sample", "0"],
        ["--repeat", "0"],
        ["--to", "bmp"],
        ["--max-size", "0"],
        ["--fit", "bogus", "--width", "10", "--height", "10"],
        ["--quality", "101"],
    ],
)
def test_bench_usage_errors(tmp_path: Path, shm: Path, args: list[str]) -> None:
    src = make_sources(tmp_path / "src")
    result = CliRunner().invoke(app, ["bench", str(src), "--to", "webp", *args])
    assert result.exit_code == 2
    assert "imgpar: error:" in result.output
    assert list(shm.iterdir()) == []


@pytest.mark.parametrize("jobs", [1, 2])
def test_results_carry_stage_timings_and_peak_memory(tmp_path: Path, jobs: int) -> None:
    src = make_sources(tmp_path / "src")
    report = imgpar.convert([src], to="webp,png", max_size=32, out=tmp_path / "out", jobs=jobs)
    assert len(report.files) == 4
    for result in report.files:
        assert result.status == "converted"
        assert len(result.stages) == len(STAGES)
        assert all(seconds >= 0 for seconds in result.stages)
        assert sum(result.stages) <= result.seconds
        assert 0 < result.cpu_seconds <= result.seconds + 0.005
        assert result.peak_rss > 0
    summary = report.summary
    waits = [r.seconds - r.cpu_seconds for r in report.files]
    assert summary.waited_seconds == pytest.approx(sum(max(0.0, w) for w in waits))
    assert summary.peak_worker_rss == max(r.peak_rss for r in report.files) > 0
    assert summary.as_dict()["peak_worker_rss"] == summary.peak_worker_rss
    assert "MiB/worker" in format_summary(summary)
    assert f"on {jobs} {'job' if jobs == 1 else 'jobs'}: " in format_summary(summary)
    assert all(len(line) < 80 for line in format_summary(summary).splitlines())


def test_a_failed_file_has_no_stages(tmp_path: Path) -> None:
    (tmp_path / "bad.jpg").write_bytes(b"not a picture")
    [result] = imgpar.convert([tmp_path / "bad.jpg"], to="webp", out=tmp_path / "out").files
    assert result.status == "failed"
    assert result.stages == ()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mount namespaces are Linux's")
def test_bench_without_shared_memory_refuses_rows_it_cannot_time(tmp_path: Path) -> None:
    # Every row would have run on one core, speedups and all.
    src = make_sources(tmp_path / "src")
    command = [sys.executable, "-m", "imgpar", "bench", src, "--to", "webp", "--repeat", "1"]
    refused = under_read_only_mount("/dev/shm", [*command, "--jobs", "1,2"])
    assert refused.returncode == 2
    assert refused.stderr == (
        "imgpar: error: --jobs cannot be timed above 1 here: worker processes cannot start"
        " (/dev/shm: Read-only file system)\n"
    )
    alone = under_read_only_mount("/dev/shm", [*command, "--jobs", "1"])
    assert alone.returncode == 0, alone.stderr
    # Not asked for any: jobs=1 alone, and why.
    default = under_read_only_mount("/dev/shm", command)
    assert default.returncode == 0, default.stderr
    rows = [line.split()[0] for line in default.stdout.splitlines() if line[:4].strip().isdigit()]
    assert rows == ["1"]
    assert (
        "note: only jobs=1 is timed: worker processes cannot start (/dev/shm: Read-only file"
        " system)"
    ) in default.stdout.splitlines()


def test_bench_takes_long_names_and_the_settings_file(
    tmp_path: Path, shm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = make_sources(tmp_path / "src")
    # A name near the file system's limit: bench's own prefix made it too long.
    long = src / ("x" * 250 + ".jpg")
    Image.new("RGB", (40, 30)).save(long)
    (src / "broken.jpg").write_text("not a picture")
    monkeypatch.chdir(tmp_path)
    # What convert would run here: SOURCES, --to and a limit that fails
    # every image bigger than 40 x 30, all from the project's settings.
    (tmp_path / "imgpar.toml").write_text(
        'sources = ["src"]\nto = "webp"\nmax_pixels = 1200\nout = "dist"\nname = "{stem}.{ext}"\n'
    )
    result = CliRunner().invoke(app, ["bench", "--jobs", "1", "--repeat", "1"])
    assert result.exit_code == 1, result.output
    failed = sorted(line for line in result.output.splitlines() if line.startswith("failed: "))
    assert [line.split(": ")[1] for line in failed] == [
        "src/a/same.jpg", "src/b/same.jpg", "src/broken.jpg", "src/logo.png",
        "src/sideways.jpg",
    ]  # fmt: skip
    assert "all 6 images" in result.output
    assert not (tmp_path / "dist").exists()
    # The settings file's mistakes are named as its own.
    (tmp_path / "imgpar.toml").write_text('to = "webp"\nquality = 200\n')
    wrong = CliRunner().invoke(app, ["bench", "src", "--jobs", "1"])
    assert wrong.exit_code == 2
    assert "imgpar.toml: setting 'quality': must be between 1 and 100" in wrong.output
    assert list(shm.iterdir()) == []


def test_bench_keeps_lossless_outputs_out_of_a_small_ram_disk(
    tmp_path: Path, shm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A PNG of a JPEG photo is ten times its size: counted by the source's
    # bytes, a 64 MB /dev/shm filled up and the run timed "disk full" failures.
    src = make_sources(tmp_path / "src")
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    free = shutil.disk_usage(shm).free
    monkeypatch.setattr(bench_module, "LOSSLESS_BYTES_PER_PIXEL", free // 120 // 80 + 1)
    lossy = bench([src], to="webp", jobs=[1], repeat=1)
    assert lossy.scratch == str(shm)
    lossless = bench([src], to="png", jobs=[1], repeat=1)
    assert lossless.scratch == str(temp)
    assert bench([src], to="webp", lossless=True, jobs=[1], repeat=1).scratch == str(temp)
    assert list(shm.iterdir()) == [] and list(temp.iterdir()) == []


def test_bench_interrupted_says_so(tmp_path: Path) -> None:
    src = make_sources(tmp_path / "src")
    temp = tmp_path / "tmp"
    temp.mkdir()
    shm = Path(bench_module.SHM)
    places = [temp, shm] if shm.is_dir() else [temp]
    before = {p for place in places for p in place.glob("imgpar-bench-*")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "imgpar", "bench", str(src), "--to", "webp", "--jobs", "1,2",
         "--repeat", "500"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TMPDIR": str(temp)},
    )  # fmt: skip
    # Stopped once it times, not while Python starts (no handler of its own yet).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if {p for place in places for p in place.glob("imgpar-bench-*")} - before:
            break
        time.sleep(0.05)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert out == ""
    assert err.splitlines()[-1] == "interrupted: no table, as not every run was done"


def test_a_run_whose_workers_waited_says_its_speedup_counts_the_wait() -> None:
    def run(work: float, waited: float, jobs: int = 1, engine: str = "process") -> Summary:
        return Summary(files=10, converted=10, skipped=0, failed=0, source_bytes=1,
                       output_bytes=1, wall_seconds=work / 1.9, work_seconds=work, jobs=jobs,
                       waited_seconds=waited, engine=engine)  # fmt: skip

    # Two CPU-bound programs beside a --jobs 2 run: it claimed 1.90x, and gained 1.51x.
    note = waited_note(run(20.0, 9.6))
    assert note == (
        "the workers waited 48% of their work time, for a CPU (other programs busy) or the"
        " disk: the speedup counts the wait as work (imgpar bench times the real gain)"
    )
    assert waited_note(run(20.0, 1.0)) is None  # a quiet machine
    assert waited_note(run(1.0, 0.9)) is None  # too short to tell
    # More jobs than CPUs were noted when the run began.
    assert waited_note(run(20.0, 15.0, jobs=default_jobs() + 1)) is None
    assert waited_note(run(20.0, 15.0, jobs=default_jobs() + 1, engine="dask")) is not None


def test_bench_peers_script_prints_its_table_and_leaves_nothing() -> None:
    script = Path(__file__).parent.parent / "scripts" / "bench_peers.py"
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    before = set(shm.glob("imgpar-peers-*"))
    done = subprocess.run(
        [sys.executable, str(script), "--quick", "--corpus", "icons", "--icons", "12",
         "--tools", "imgpar,bare", "--repeat", "1", "--settle", "0"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "icons: 12 64x64 PNG icons" in lines
    rows = [line.split() for line in lines if line.startswith(("  imgpar --jobs", "  Pillow"))]
    assert len(rows) == 2 and rows[0][4] == "1.00x"
    assert all(row[-1] == "KB" for row in rows)  # both wrote every icon, sized alike
    assert set(shm.glob("imgpar-peers-*")) == before
    wrong = subprocess.run(
        [sys.executable, str(script), "--tools", "imgpar,gimp"], capture_output=True, text=True
    )
    assert wrong.returncode == 2
    assert "argument --tools: unknown: gimp (choose from imgpar, bare," in wrong.stderr


def test_bench_counts_every_page_kept_and_each_output_size(
    tmp_path: Path, shm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 12 pages kept by --all-pages, or an output enlarged 4x: counted by the
    # first page or the source's size, each filled a small RAM disk.
    src = tmp_path / "src"
    src.mkdir()
    pages = [Image.new("RGB", (100, 100), (i * 20, 0, 0)) for i in range(12)]
    pages[0].save(src / "scan.tif", save_all=True, append_images=pages[1:])
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    free = shutil.disk_usage(shm).free
    # Room for one page's pixels at the source size, with a little to spare.
    monkeypatch.setattr(bench_module, "LOSSLESS_BYTES_PER_PIXEL", free // (100 * 100) // 3)
    assert bench([src], to="tiff", jobs=[1], repeat=1).scratch == str(shm)
    assert bench([src], to="tiff", all_pages=True, jobs=[1], repeat=1).scratch == str(temp)
    enlarged = bench([src], to="tiff", width=200, upscale=True, jobs=[1], repeat=1)
    assert enlarged.scratch == str(temp)
    assert list(shm.iterdir()) == [] and list(temp.iterdir()) == []


def test_bench_room_for_a_big_image_says_nothing_of_pillow_s_limit(
    tmp_path: Path, shm: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    # Above the pixel limit Pillow warns at (its 89 MP, or the 160 MP an
    # earlier run in this process set): a header only.
    Image.new("L", (1, 1)).save(src / "big.png")
    data = bytearray((src / "big.png").read_bytes())
    data[16:24] = (13_000).to_bytes(4, "big") * 2
    data[29:33] = zlib.crc32(data[12:29]).to_bytes(4, "big")
    (src / "big.png").write_bytes(bytes(data))
    Image.new("RGB", (8, 8)).save(src / "small.png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = bench([src], to="png", jobs=[1], repeat=1)
    assert (result.rows[0].failed, result.rows[0].images) == (1, 1)
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]


def test_efficiency_below_ten_percent_keeps_a_decimal(tmp_path: Path) -> None:
    # --jobs 64 on 2 cores: 0.5% efficiency read as "0%".
    common = {"wall_seconds": 1.0, "images": 4, "failed": 0, "work_seconds": 1.0,
              "stage_seconds": (0.25,) * len(STAGES), "peak_worker_rss": 0}  # fmt: skip
    row = BenchRow(jobs=64, speedup=0.32, **common)
    base = BenchRow(jobs=1, speedup=1.0, **common)
    table = format_bench(BenchResult(rows=(base, row), found=4, sample=4, sample_bytes=1,
                                     repeat=1, cores=2, scratch="/tmp"))  # fmt: skip
    assert "    0.32x        0.5%" in table
    assert "    1.00x        100%" in table
    # So do a run's summary and its HTML report.
    summary = Summary(files=1, converted=1, skipped=0, failed=0, source_bytes=9, output_bytes=1,
                      wall_seconds=1.0, work_seconds=0.32, jobs=64)  # fmt: skip
    assert "speedup 0.32x, efficiency 0.5%" in format_summary(summary)
    page = tmp_path / "r.html"
    writer = open_report(str(page), ["convert", "photos"])
    writer.close(summary)
    assert "efficiency 0.5% on 64 jobs" in page.read_text(encoding="utf-8")


def test_a_sample_that_never_converts_is_no_table(tmp_path: Path, shm: Path) -> None:
    # A table of speedups for nothing converted: 0.00 s, 0.11x.
    (tmp_path / "notes.jpg").write_text("not a picture")
    (tmp_path / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(UsageError) as refused:
        bench([tmp_path], to="webp", jobs=[1, 2], repeat=1)
    assert str(refused.value).startswith(
        f"no image of the sample converts, nothing to time: {tmp_path / 'cut.png'}: "
    )
    assert str(refused.value).endswith(" (and 1 more)")
    assert list(shm.iterdir()) == []


def test_jobs_beyond_this_machine_are_refused(tmp_path: Path) -> None:
    most = 16 * default_jobs()
    src = make_sources(tmp_path / "src")
    for command in (["convert", str(src), "--to", "webp"], ["bench", str(src), "--to", "webp"]):
        result = CliRunner().invoke(app, [*command, "--jobs", str(most + 1)])
        assert result.exit_code == 2
        assert result.stderr.startswith(
            f"imgpar: error: --jobs must be at most {most} here (16 per CPU this process may use)"
        )
    assert not list(src.rglob("*.webp"))
    with pytest.raises(UsageError, match="must be at most"):
        jobs_ladder([1, most + 1])
    with pytest.raises(UsageError, match="is empty"):
        jobs_ladder([])


def test_bench_says_what_makes_its_rows_read_low() -> None:
    def runs(wall: float, work: float, waited: float, jobs: int) -> list[Summary]:
        return [Summary(files=4, converted=4, skipped=0, failed=0, source_bytes=1,
                        output_bytes=1, wall_seconds=wall, work_seconds=work, jobs=jobs,
                        waited_seconds=waited)] * 3  # fmt: skip

    def caveats(ladder: dict[int, list[Summary]]) -> tuple[str, ...]:
        return bench_module._caveats(ladder, bench_module._rows(ladder), 2)

    assert caveats({1: runs(4.0, 4.0, 0.0, 1), 2: runs(2.2, 4.1, 0.1, 2)}) == ()
    # A sample of icons: 0.05 s on one core, 0.08 s on four (the pool's start),
    # its workers' waits too short to tell anything.
    said = caveats({1: runs(0.05, 0.05, 0.0, 1), 2: runs(0.04, 0.08, 0.02, 2),
                    4: runs(0.08, 0.1, 0.0, 4)})  # fmt: skip
    assert said == (
        "the sample takes 0.05 s on one core: starting the worker processes weighs on the"
        " other rows; a larger --sample times the real gain",
        "jobs above the 2 CPUs this process may use wait their turn: their rows time the wait",
    )
    [note] = caveats({1: runs(4.0, 4.0, 0.0, 1), 2: runs(3.5, 7.0, 3.0, 2)})
    assert note.startswith("at jobs=2 the workers waited 43% of their work time")
