"""The `imgpar` command, driven with typer's CliRunner (and a real process where
start-up itself is what is tested)."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import termios
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    after_mount,
    build_tree,
    fresh_python,
    listing,
    make_camera_jpeg,
    make_rgba_png,
    make_small_jpeg,
    outputs_in,
    png_header_only,
    temp_leftovers,
    under_read_only_mount,
    unprivileged,
)
from PIL import Image, PngImagePlugin
from typer.testing import CliRunner

import imgpar
from imgpar.api import prepare
from imgpar.cli import app
from imgpar.errors import UsageError, flag
from imgpar.formats import READ_EXTENSIONS
from imgpar.limits import default_jobs
from imgpar.pipeline import HANG_ENV
from imgpar.plan import IN_TARGET_FORMAT

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"


def invoke(*args: str | Path) -> Any:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    # Click only records an exception when it is not a clean exit.
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"imgpar {imgpar.__version__}"


def test_formats_lists_what_this_install_reads_and_writes() -> None:
    result = invoke("formats")
    assert result.exit_code == 0
    text = result.output
    for target in ("webp", "jpeg", "png", "avif", "tiff"):
        assert target in text
    for read in ("JPEG", "PNG", "TIFF", "WEBP"):
        assert read in text
    assert max(map(len, text.splitlines())) <= 79  # fits a terminal
    assert "ICC + EXIF main IFD only (no exposure,\n" + " " * 16 + "DateTimeOriginal" in text


def test_a_writer_missing_from_this_pillow_is_named(tmp_path: Path) -> None:
    # A Pillow built without libavif (or libwebp) has no PIL._avif module.
    script = (
        "import sys\n"
        "sys.modules['PIL._avif'] = None\n"
        "from imgpar.cli import run\n"
        "print('STATUS', run(sys.argv[1:]))\n"
    )
    src = tmp_path / "src"
    make_camera_jpeg(src / "a.jpg", displayed=(40, 30))
    table = _run("-c", script, "formats", cwd=tmp_path)
    assert "avif   not available in this Pillow build" in table.stdout
    assert "webp   .webp" in table.stdout
    out = str(tmp_path / "out")
    refused = _run("-c", script, "convert", str(src), "--to", "avif", "--out", out, cwd=tmp_path)
    assert "STATUS 2" in refused.stdout
    assert "--to names avif, which this install of Pillow cannot write" in refused.stderr
    done = _run("-c", script, "convert", str(src), "--to", "webp", "--out", out, cwd=tmp_path)
    assert "STATUS 0" in done.stdout, done.stderr
    assert (tmp_path / "out" / "a.webp").is_file()


def test_import_imgpar_reaches_the_modules_readme_names_without_pillow() -> None:
    # `imgpar.api.prepare()` and `imgpar.errors.UsageError`, as README names
    # them: `import imgpar` alone raised AttributeError for both.
    code = (
        "import sys, imgpar\n"
        "before = 'PIL' in sys.modules\n"
        "print(before, imgpar.api.prepare.__name__, imgpar.errors.UsageError.__name__)\n"
    )
    assert fresh_python(code) == "False prepare UsageError"


def test_help_shows_commands() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("convert", "bench", "info", "formats"):
        assert f"  {command} " in result.output
    commands = result.output.split("Commands:")[1]
    assert "..." not in commands  # no summary cut short


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        ("convert", "convert [OPTIONS] [SOURCES...]"),
        ("bench", "bench [OPTIONS] [SOURCES...]"),
        ("info", "info [OPTIONS] {FILES...}"),
    ],
)
def test_help_names_values_in_words(command: str, usage: str) -> None:
    # Not the Python types (`--to <str>`) nor a parameter's name (`{files}`).
    shown = invoke(command, "--help").stdout
    assert shown.splitlines()[0].endswith(f" {usage}")
    assert not re.search(r"<(str|int|float|path)>", shown), shown
    if command == "convert":
        assert "-t, --to FORMAT" in shown and "-o, --out DIR" in shown


def test_converts_every_sample(tmp_path: Path) -> None:
    samples = sorted(
        os.path.join(folder, name)
        for folder, _dirs, names in os.walk(SAMPLES)
        for name in names
        if os.path.splitext(name)[1].lower() in READ_EXTENSIONS and not name.startswith(".")
    )
    assert len(samples) >= 5
    out = tmp_path / "OUT"
    report = tmp_path / "r.json"
    result = invoke("convert", SAMPLES, "--to", "webp", "--out", out, "--report", report, "--quiet")
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text(encoding="utf-8"))
    files = {os.path.normpath(f["source"]): f for f in data["files"]}
    assert set(files) == {os.path.normpath(s) for s in samples}
    for sample, entry in files.items():
        assert entry["status"] == "converted", (sample, entry["error"])
        (output,) = entry["outputs"]
        assert output["bytes"] == os.path.getsize(output["path"])
        rel = os.path.relpath(sample, SAMPLES)
        assert os.path.normpath(output["path"]) == os.path.normpath(
            out / (os.path.splitext(rel)[0] + ".webp")
        )
        with Image.open(output["path"]) as im:
            assert im.format == "WEBP"
            assert im.size == (output["width"], output["height"])
            assert im.size == (entry["width"], entry["height"])  # no resize asked
    assert data["summary"]["converted"] == len(samples)
    assert data["summary"]["failed"] == 0
    assert temp_leftovers(out) == []


def _tree_with_one_corrupt_file(root: Path) -> Path:
    return build_tree(
        root,
        {
            "good/a.jpg": lambda p: make_camera_jpeg(p, displayed=(120, 180)),
            "good/b.png": "rgba_png",
            "corrupt.jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00 and then nothing useful",
            "c.png": "palette_png",
        },
    )


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_one_corrupt_file_fails_alone(tmp_path: Path, jobs: str) -> None:
    src = _tree_with_one_corrupt_file(tmp_path / "src")
    out = tmp_path / "out"
    result = invoke("convert", src, "--to", "webp", "--out", out, "--jobs", jobs)
    assert result.exit_code == 1, result.output
    failures = [line for line in result.output.splitlines() if "corrupt.jpg" in line]
    assert len(failures) == 1
    assert str(src / "corrupt.jpg") in failures[0]
    reason = failures[0].split(str(src / "corrupt.jpg"), 1)[1].strip(" :")
    assert reason  # a one-line reason follows the path
    assert sorted(outputs_in(out)) == ["c.webp", "good/a.webp", "good/b.webp"]
    with Image.open(out / "good" / "a.webp") as im:
        assert im.size == (120, 180)
    assert "1 failed" in result.output
    assert "3 converted" in result.output


def test_missing_source_is_a_usage_error(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke("convert", tmp_path / "nope", "--to", "webp", "--out", out)
    assert result.exit_code == 2
    assert "nope" in result.output
    assert not out.exists()


def test_unknown_format_is_a_usage_error(tmp_path: Path) -> None:
    src = build_tree(tmp_path / "src", {"a.png": "rgba_png"})
    before = listing(tmp_path)
    out = tmp_path / "out"
    result = invoke("convert", src, "--to", "webp,bmpx", "--out", out)
    assert result.exit_code == 2
    assert "bmpx" in result.output
    assert not out.exists()
    assert listing(tmp_path) == before


@pytest.mark.parametrize(
    "args",
    [
        ["--quality", "0"],
        ["--quality", "101"],
        ["--max-size", "0"],
        ["--max-size", "100", "--width", "50"],
        ["--jobs", "0"],
        ["--to", "jpeg", "--lossless"],
        ["--frobnicate"],
    ],
)
def test_bad_options_exit_2_before_any_work(tmp_path: Path, args: list[str]) -> None:
    src = build_tree(tmp_path / "src", {"a.png": "rgba_png"})
    out = tmp_path / "out"
    to = [] if "--to" in args else ["--to", "webp"]
    result = invoke("convert", src, *to, "--out", out, *args)
    assert result.exit_code == 2, result.output
    assert not out.exists()


@pytest.mark.parametrize("option", ["--report", "--manifest"])
def test_a_file_where_a_report_folder_should_be(tmp_path: Path, option: str) -> None:
    src = build_tree(tmp_path / "src", {"a.png": "rgba_png"})
    (tmp_path / "afile").write_text("not a folder")
    out = tmp_path / "out"
    result = invoke("convert", src, "--to", "webp", "--out", out, option,
                    tmp_path / "afile" / "deeper" / "r.json")  # fmt: skip
    assert result.exit_code == 2
    kind = option.removeprefix("--")
    assert result.stderr.strip() == (
        f"imgpar: error: cannot write the {kind} {tmp_path}/afile/deeper/r.json:"
        f" {tmp_path}/afile is a file, not a folder"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("written", "error"),
    [
        (["--manifest", "src/b.png"], "--manifest src/b.png: name it .json"),
        (["--manifest", "out/a.webp"], "--manifest out/a.webp: name it .json"),
        (["--manifest", "m.json", "--report", "m.json"], "the manifest m.json is also the report"),
        (["--report", "r.json"], "the report r.json is a SOURCE"),
        (["--report", "src/a.png"], "--report src/a.png: name it .json, .csv or .html"),
    ],
)
def test_a_report_or_manifest_never_writes_over_an_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written: list[str], error: str
) -> None:
    monkeypatch.chdir(tmp_path)
    build_tree(tmp_path / "src", {"a.png": "rgba_png", "b.png": "rgba_png"})
    # A PNG named .json, converted because it is named as a SOURCE.
    (tmp_path / "r.json").write_bytes((tmp_path / "src" / "a.png").read_bytes())
    assert invoke("convert", "src", "r.json", "--to", "webp", "--out", "out").exit_code == 0
    images = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}

    result = invoke("convert", "src", "r.json", "--to", "webp", "--out", "out", *written)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"imgpar: error: {error}")
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == images


@pytest.mark.parametrize(("out", "report"), [("out", "out"), ("out", "link"), ("link", "out")])
def test_an_output_named_like_the_report_fails_and_the_report_stays_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, out: str, report: str
) -> None:
    monkeypatch.chdir(tmp_path)
    build_tree(tmp_path / "src", {"a.png": "rgba_png", "b.png": "rgba_png"})
    (tmp_path / "out").mkdir()
    (tmp_path / "link").symlink_to("out")
    report = f"{report}/a.json"

    result = invoke(
        "convert", "src", "--to", "webp", "--out", out, "--name", "{stem}.json",
        "--report", report,
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert f"failed: src/a.png: its output would be overwritten by the run's report {report}" in (
        result.stderr
    )
    entries = {f["source"]: f for f in json.loads((tmp_path / report).read_text())["files"]}
    assert entries["src/a.png"]["status"] == "failed"
    assert entries["src/b.png"]["status"] == "converted"
    with Image.open(tmp_path / "out" / "b.json") as im:
        assert (im.format, im.size) == ("WEBP", (64, 48))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mount namespaces are Linux's")
def test_an_out_that_cannot_be_written_says_why(tmp_path: Path) -> None:
    src = build_tree(tmp_path / "src", {"a.png": "rgba_png"})
    mount = tmp_path / "mnt"
    mount.mkdir()
    run = [sys.executable, "-m", "imgpar", "convert", src, "--to", "webp", "--out", mount]
    done = under_read_only_mount(str(mount), run)
    assert done.returncode == 2
    assert done.stderr == (
        f"imgpar: error: --out {mount} cannot be written to: it is on a read-only file system\n"
    )
    # One still to be made there, in the same words (it was "Read-only file system").
    new = mount / "web"
    made = under_read_only_mount(str(mount), [*run[:-1], new])
    assert made.returncode == 2
    assert made.stderr == (
        f"imgpar: error: --out {new} cannot be created: it is on a read-only file system\n"
    )
    mount.chmod(0o500)
    argv = [*unprivileged(), *map(str, run)]
    refused = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    denied = f"imgpar: error: --out {mount} cannot be written to: permission denied\n"
    assert refused.stderr == denied


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mount namespaces are Linux's")
def test_an_out_up_to_date_needs_no_writing(tmp_path: Path) -> None:
    # A re-run with nothing to do exited 2 on a read-only --out, where
    # --check said all was well; one with a file to convert still says why.
    src = build_tree(tmp_path / "src", {"a.png": "rgba_png", "b.png": "rgba_png"})
    out = tmp_path / "out"
    run = [sys.executable, "-m", "imgpar", "convert", src, "--to", "webp", "--out", out]
    assert subprocess.run(run, capture_output=True, timeout=120).returncode == 0
    (src / "b.png").unlink()
    done = under_read_only_mount(str(out), [*run, "--quiet"], keep=True)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("0 converted, 1 skipped, 0 failed")
    refused = f"imgpar: error: --out {out} cannot be written to: it is on a read-only file system\n"
    # b.webp to delete: --prune did nothing there, and said nothing.
    pruning = under_read_only_mount(str(out), [*run, "--prune"], keep=True)
    assert (pruning.returncode, pruning.stderr) == (2, refused)
    build_tree(src, {"c.png": "rgba_png"})
    stale = under_read_only_mount(str(out), run, keep=True)
    assert (stale.returncode, stale.stderr) == (2, refused)
    assert (out / "b.webp").exists()


@pytest.mark.parametrize("kind", ["report", "manifest"])
def test_a_report_that_cannot_be_written_stops_the_run_before_any_work(
    tmp_path: Path, kind: str
) -> None:
    src = build_tree(tmp_path / "src", {"a.png": "rgba_png"})
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    out = tmp_path / "new" / "out"
    argv = [*unprivileged(), sys.executable, "-m", "imgpar", "convert", str(src), "--to",
            "webp", "--out", str(out), f"--{kind}", str(locked / "deep" / "r.json")]  # fmt: skip
    refused = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2
    assert refused.stderr == (
        f"imgpar: error: cannot write the {kind} {locked / 'deep' / 'r.json'}: {locked} cannot"
        " be written to\n"
    )
    assert not (tmp_path / "new").exists()  # refused before --out was made


def test_check_reads_a_manifest_in_a_folder_it_cannot_write(tmp_path: Path) -> None:
    # A CI checkout mounted read-only: --check only reads the manifest.
    src = build_tree(tmp_path / "src", {"a.png": "rgba_png"})
    site = tmp_path / "site"
    argv = [sys.executable, "-m", "imgpar", "convert", str(src), "--to", "webp", "--out",
            str(site), "--manifest", str(site / "m.json")]  # fmt: skip
    assert subprocess.run(argv, capture_output=True, timeout=120).returncode == 0
    site.chmod(0o500)
    try:
        checked = subprocess.run([*unprivileged(), *argv, "--check", "--report",
                                  str(site / "r.json")], capture_output=True, text=True,
                                 timeout=120)  # fmt: skip
    finally:
        site.chmod(0o755)
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr.endswith("everything is up to date\n")


def test_usage_error_is_one_line(tmp_path: Path) -> None:
    result = invoke("convert", tmp_path / "nope", "--to", "webp")
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("imgpar: error:")


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    src = _tree_with_one_corrupt_file(tmp_path / "src")
    before = listing(tmp_path)
    out = tmp_path / "out"
    report = tmp_path / "r.json"
    result = invoke(
        "convert", src, "--to", "webp,png", "--out", out, "--dry-run", "--report", report
    )
    assert result.exit_code == 0, result.output
    assert listing(tmp_path) == before
    assert not out.exists()
    assert not report.exists()
    # It says what would be written, and what would fail.
    assert str(out / "good" / "a.webp") in result.output
    assert str(out / "good" / "a.png") in result.output
    assert str(out / "c.webp") in result.output
    corrupt = [line for line in result.stdout.splitlines() if "corrupt.jpg" in line]
    assert corrupt == [f"{src / 'corrupt.jpg'}: would fail: {_failure(src, 'corrupt.jpg')}"]


def _failure(src: Path, name: str) -> str:
    """The reason a run gives for failing `name`."""
    result = imgpar.convert([src / name], to="webp", out=src.parent / "probe", jobs=1)
    assert result.files[0].status == "failed"
    return result.files[0].error or ""


@pytest.mark.parametrize("mode", ["--check", "--dry-run"])
def test_a_report_asked_of_a_run_that_writes_nothing_is_noted(tmp_path: Path, mode: str) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    report = tmp_path / "r.json"
    result = invoke("convert", tmp_path, "--to", "webp", "--out", tmp_path / "o", mode,
                    "--report", report)  # fmt: skip
    assert f"note: --report writes nothing with {mode}: a report is a run's" in result.stderr
    assert not report.exists()
    # Asked for by a settings file, it is the runs': nothing to say.
    (tmp_path / "imgpar.toml").write_text('to = "webp"\nreport = "r.json"\n')
    configured = invoke("convert", tmp_path, "--out", tmp_path / "o", mode,
                        "--config", tmp_path / "imgpar.toml")  # fmt: skip
    assert str(tmp_path / "a.png") in configured.stdout  # stale, or planned: the file was read
    assert "--report" not in configured.stderr


def test_check_calls_a_file_that_cannot_convert_failing(tmp_path: Path) -> None:
    src = _tree_with_one_corrupt_file(tmp_path / "src")
    out = tmp_path / "out"
    assert invoke("convert", src, "--to", "webp", "--out", out).exit_code == 1
    checked = invoke("convert", src, "--to", "webp", "--out", out, "--check")
    assert checked.exit_code == 1
    assert checked.stdout.splitlines() == [
        f"failing: {src / 'corrupt.jpg'}: {_failure(src, 'corrupt.jpg')}"
    ]
    assert "0 stale, 1 failing, 0 orphaned outputs" in checked.stderr


def test_check_calls_a_file_whose_output_could_not_be_written_stale(tmp_path: Path) -> None:
    # Once the folder was mended, --check still said "failing: ... cannot
    # write ... (as the last run found)", where a run converted it.
    src = build_tree(tmp_path / "src", {"sub/a.png": "rgba_png"})
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").write_text("in the way")
    run = invoke("convert", src, "--to", "webp", "--out", out)
    assert run.exit_code == 1
    assert f"cannot write {out / 'sub' / 'a.webp'}: {out / 'sub'} is a file" in run.stderr
    (out / "sub").unlink()
    checked = invoke("convert", src, "--to", "webp", "--out", out, "--check")
    assert (checked.exit_code, checked.stdout) == (1, f"stale: {src / 'sub' / 'a.png'}\n")
    assert invoke("convert", src, "--to", "webp", "--out", out).exit_code == 0
    with Image.open(out / "sub" / "a.webp") as im:
        assert im.format == "WEBP"


def test_check_calls_a_file_whose_pixels_failed_failing(tmp_path: Path) -> None:
    # Its header reads: only the last run's decode knows it fails.
    src = build_tree(tmp_path / "src", {"good.png": "rgba_png", "cut.jpg": "camera_jpeg"})
    data = (src / "cut.jpg").read_bytes()
    (src / "cut.jpg").write_bytes(data[: len(data) * 2 // 3])
    out = tmp_path / "out"
    run = invoke("convert", src, "--to", "webp", "--out", out)
    assert run.exit_code == 1
    reason = _failure(src, "cut.jpg")
    assert reason.startswith("truncated file")
    checked = invoke("convert", src, "--to", "webp", "--out", out, "--check")
    assert checked.exit_code == 1
    assert checked.stdout.splitlines() == [
        f"failing: {src / 'cut.jpg'}: {reason} (as the last run found)"
    ]
    dry = invoke("convert", src, "--to", "webp", "--out", out, "--dry-run")
    assert f"{src / 'cut.jpg'}: would fail: {reason} (as the last run found)" in dry.stdout
    # Under limits it did not meet, it may convert: only stale.
    lenient = invoke("convert", src, "--to", "webp", "--out", out, "--check", "--allow-truncated")
    assert lenient.stdout.splitlines() == [f"stale: {src / 'cut.jpg'}"]
    tight = invoke("convert", src, "--to", "webp", "--out", out, "--max-pixels", "100")
    assert tight.exit_code == 1 and "over --max-pixels 100" in tight.stderr
    again = invoke("convert", src, "--to", "webp", "--out", out, "--check")
    assert again.stdout.splitlines() == [f"stale: {src / 'cut.jpg'}"]  # not "over 100"
    # Mended, it is only stale; converted, it is nothing.
    make_camera_jpeg(src / "cut.jpg")
    mended = invoke("convert", src, "--to", "webp", "--out", out, "--check")
    assert mended.stdout.splitlines() == [f"stale: {src / 'cut.jpg'}"]
    assert invoke("convert", src, "--to", "webp", "--out", out).exit_code == 0
    assert invoke("convert", src, "--to", "webp", "--out", out, "--check").exit_code == 0


def test_dry_run_names_outputs_by_their_real_sizes(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    Image.new("RGB", (1000, 500)).save(src / "wide.jpg")
    Image.new("RGB", (400, 300)).save(src / "small.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 900x600, shown 600x900
    Image.new("RGB", (900, 600)).save(src / "turned.jpg", exif=exif.tobytes())
    out = tmp_path / "out"
    result = invoke("convert", src, "--to", "webp", "--width", "300,600", "--out", out, "--dry-run")
    assert result.exit_code == 0, result.output
    lines: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():  # a line per output
        source, output = line.split(" -> ")
        lines.setdefault(source, []).append(output)
    assert lines[str(src / "wide.jpg")] == [f"{out}/wide-300.webp", f"{out}/wide-600.webp"]
    # 600 is past the source's own 400: one output at 400, as converting makes.
    assert lines[str(src / "small.jpg")] == [f"{out}/small-300.webp", f"{out}/small-400.webp"]
    named = invoke(
        "convert", src / "turned.jpg", "--to", "webp", "--width", "300", "--name",
        "{stem}_{width}x{height}.{ext}", "--out", out, "--dry-run",
    )  # fmt: skip
    assert named.stdout.strip().endswith(str(out / "turned_300x450.webp"))
    assert not out.exists()
    # What converting writes is what the dry run said.
    done = invoke("convert", src, "--to", "webp", "--width", "300,600", "--out", out)
    assert done.exit_code == 0, done.output
    said = {p for outputs in lines.values() for p in outputs}
    assert said == {str(p) for p in out.glob("*.webp")}


def test_dry_run_and_check_turn_a_png_whose_exif_follows_its_pixels(tmp_path: Path) -> None:
    # Its eXIf chunk after IDAT, as some tools write it: the dry run read it
    # as upright and named p-200x50.webp where converting writes
    # p-50x200.webp, which --check then called an orphan. A corrupt EXIF
    # elsewhere printed Pillow's warning through the listing.
    src = tmp_path / "src"
    src.mkdir()
    Image.new("RGB", (400, 100)).save(src / "p.png")
    exif = Image.Exif()
    exif[0x0112] = 6
    body = b"eXIf" + exif.tobytes()
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
    png = (src / "p.png").read_bytes()
    end = png.rindex(b"IEND") - 4
    (src / "p.png").write_bytes(png[:end] + chunk + png[end:])
    Image.new("RGB", (40, 30)).save(src / "j.jpg", exif=b"Exif\0\0II*\0\x08\0\0\0\xff\xff\x01\x02")
    # ImageMagick keeps EXIF in a text chunk, read with the header.
    raw = b"Exif\0\0" + exif.tobytes()
    text = PngImagePlugin.PngInfo()
    text.add_text("Raw profile type exif", f"\nexif\n{len(raw):8}\n{raw.hex()}\n", zip=True)
    Image.new("RGB", (400, 100)).save(src / "r.png", pnginfo=text)
    # And XMP's orientation, which the run's getexif() reads too.
    xmp = PngImagePlugin.PngInfo()
    xmp.add_itxt("XML:com.adobe.xmp", '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf='
                 '"http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:tiff='
                 '"http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>')
    Image.new("RGB", (400, 100)).save(src / "x.png", pnginfo=xmp)
    out = tmp_path / "out"
    options = ["--to", "webp", "--max-size", "200", "--name", "{stem}-{width}x{height}.{ext}"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dry = invoke("convert", src, *options, "--out", out, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"{src / 'p.png'} -> {out / 'p-50x200.webp'}" in dry.stdout.splitlines()
    assert f"{src / 'r.png'} -> {out / 'r-50x200.webp'}" in dry.stdout.splitlines()
    assert f"{src / 'x.png'} -> {out / 'x-50x200.webp'}" in dry.stdout.splitlines()
    assert [str(w.message) for w in caught] == []
    done = invoke("convert", src, *options, "--out", out)
    assert done.exit_code == 0, done.output
    assert {p.name for p in out.glob("[prx]-*.webp")} == {
        "p-50x200.webp", "r-50x200.webp", "x-50x200.webp"
    }
    checked = invoke("convert", src, *options, "--out", out, "--check")
    assert checked.exit_code == 0, checked.output


def test_header_reads_use_imgpars_pixel_limit_not_pillows(tmp_path: Path) -> None:
    # 108 MP is past Pillow's own default limit (89 MP, a warning; twice
    # that, an error) but within imgpar's: as the workers see it.
    png_header_only(tmp_path / "src" / "pano.png", (12_000, 9_000))
    out = tmp_path / "out"
    result = invoke("convert", tmp_path / "src", "--to", "png", "--out", out, "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"{tmp_path / 'src' / 'pano.png'} -> {out / 'pano.png'}"]
    assert "Warning" not in result.stderr
    png_header_only(tmp_path / "src" / "pano.png", (20_000, 10_000))
    allowed = ["--max-pixels", "250000000", "--dry-run"]
    result = invoke("convert", tmp_path / "src", "--to", "png", "--out", out, *allowed)
    assert result.stdout.splitlines() == [f"{tmp_path / 'src' / 'pano.png'} -> {out / 'pano.png'}"]
    checked = invoke("convert", tmp_path / "src", "--to", "png", "--out", out, "--check")
    assert "failing: " in checked.stdout and "too many pixels: 20000x10000" in checked.stdout


def test_an_output_past_its_formats_size_limit_fails_before_decoding(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    # Cut short: decoding it would fail as truncated, so the reason proves
    # the limit was checked first.
    Image.new("RGB", (20_000, 1_000), (200, 90, 60)).save(src / "pano.jpg", quality=90)
    data = (src / "pano.jpg").read_bytes()
    (src / "pano.jpg").write_bytes(data[: len(data) // 2])
    Image.new("RGB", (17_000, 40), (20, 90, 160)).save(src / "strip.png")
    # A PNG's EXIF may follow its pixels: its header alone, all the same.
    png_header_only(src / "wide.png", (20_000, 100))
    out = tmp_path / "out"
    reason = (
        "too large for webp: {}x{}, over its limit of 16,383 pixels a side"
        " (--max-size 16383 fits it)"
    )
    result = invoke("convert", src, "--to", "webp", "--out", out, "--jobs", "1")
    assert result.exit_code == 1
    assert f"failed: {src / 'pano.jpg'}: {reason.format(20000, 1000)}" in result.stderr
    assert f"failed: {src / 'strip.png'}: {reason.format(17000, 40)}" in result.stderr
    assert f"failed: {src / 'wide.png'}: {reason.format(20000, 100)}" in result.stderr
    dry = invoke("convert", src, "--to", "webp", "--out", out, "--dry-run")
    assert f"{src / 'strip.png'}: would fail: {reason.format(17000, 40)}" in dry.stdout
    fitted = invoke("convert", src / "strip.png", "--to", "webp", "--out", out, "--max-size=16383")
    assert fitted.exit_code == 0, fitted.output
    with Image.open(out / "strip.webp") as im:
        assert im.size == (16383, 39)


def test_options_that_do_nothing_here_are_noted(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "a.jpg")
    args = ["convert", tmp_path, "--to", "png,tiff", "--out", tmp_path / "o", "--dry-run"]
    idle = invoke(*args, "--quality", "50", "--gravity", "north")
    assert idle.exit_code == 0, idle.output
    notes = [line for line in idle.stderr.splitlines() if line.startswith("note: ")]
    assert notes == [
        "note: --gravity only places a --fit cover crop",
        "note: --quality: png and tiff keep every pixel",
    ]
    fitting = invoke(*args, "--all-pages", "--width", "4", "--height", "4", "--fit", "cover")
    assert not [line for line in fitting.stderr.splitlines() if line.startswith("note: ")]
    unsized = invoke(*args, "--lossless", "--upscale", "--filter", "box")
    assert [line for line in unsized.stderr.splitlines() if line.startswith("note: ")] == [
        "note: --lossless: png and tiff are always lossless",
        "note: --upscale enlarges only to a size given (--width, --max-size...)",
        "note: --filter resamples only when a size is given (--width, --max-size...)",
    ]
    sized = invoke(*args, "--upscale", "--filter", "box", "--width", "16")
    assert not [line for line in sized.stderr.splitlines() if line.startswith("note: ")]
    in_process = invoke(*args, "--timeout", "5", "--jobs", "1")
    assert [line for line in in_process.stderr.splitlines() if line.startswith("note: ")] == [
        "note: --timeout: --jobs 1 converts in this process, where no file can be stopped"
    ]
    stoppable = invoke(*args, "--timeout", "5", "--jobs", "2")
    assert not [line for line in stoppable.stderr.splitlines() if line.startswith("note: ")]
    cpus = default_jobs()
    crowded = invoke(*args, "--jobs", str(cpus + 1))
    assert [line for line in crowded.stderr.splitlines() if line.startswith("note: ")] == [
        f"note: --jobs {cpus + 1}: this process may use {cpus} CPU{'s' * (cpus > 1)}; the"
        " other workers wait their turn, and the speedup counts the wait as work"
    ]


@pytest.mark.parametrize(
    ("name", "to", "noted"),
    [
        ("{stem}.{src_ext}", "webp", "'{stem}.{src_ext}' gives webp outputs their source's"
         " extension (a.png holding webp data)"),
        ("{stem}.{src_ext}", "jpeg", "'{stem}.{src_ext}' gives jpeg outputs their source's"
         " extension (a.png holding jpeg data)"),
        ("{width}/{stem}", "webp", "'{width}/{stem}' names webp outputs like 'a'"),
        ("{stem}-{src_ext}", "webp", "'{stem}-{src_ext}' names webp outputs like 'a-jpg'"),
        ("{stem}.{ext}", "webp,jpeg", None),
        ("{stem}.jpeg", "jpeg", None),
        ("{stem}-{width}.tiff", "tiff", None),
    ],
)
def test_a_name_against_the_outputs_format_is_noted(
    tmp_path: Path, name: str, to: str, noted: str | None
) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "a.jpg")
    args = ["convert", tmp_path, "--to", to, "--out", tmp_path / "o", "--name", name]
    result = invoke(*args, "--width", "4", "--dry-run")
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    expected = noted if "source's" in (noted or "") else f"{noted}: not their format's extension"
    assert notes == ([f"note: --name {expected}"] if noted else [])


@pytest.mark.parametrize("option", ["--width", "--max-size"])
def test_a_size_that_is_no_number_names_its_option(tmp_path: Path, option: str) -> None:
    result = invoke("convert", tmp_path, "--to", "webp", option, "320,abc")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"imgpar: error: {option} takes pixels, or several separated by commas (320,640):"
        " '320,abc'"
    )


@pytest.mark.parametrize("given", ["", ",,", " "])
@pytest.mark.parametrize("option", ["--width", "--max-size"])
def test_an_empty_size_list_is_a_usage_error(tmp_path: Path, option: str, given: str) -> None:
    # An unset CI variable (`--width "$WIDTHS"`) must not mean full size.
    Image.new("RGB", (8, 8)).save(tmp_path / "a.jpg")
    result = invoke("convert", tmp_path, "--to", "webp", option, given, "--out", tmp_path / "o")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"imgpar: error: {option} is empty: give pixels, or several separated by commas"
        f" (320,640): {given!r}"
    )
    assert not (tmp_path / "o").exists()
    with pytest.raises(UsageError, match=r"^width is empty"):
        prepare([str(tmp_path)], to="webp", width=[])


@pytest.mark.parametrize("option", ["--width", "--max-size"])
def test_a_size_list_with_an_empty_entry_is_a_usage_error(tmp_path: Path, option: str) -> None:
    # `--width "$SMALL,$LARGE"` with one unset: a size lost unsaid.
    result = invoke("convert", tmp_path, "--to", "webp", option, "320,,1280")
    assert (result.exit_code, result.stderr) == (
        2, f"imgpar: error: {option} has an empty entry: '320,,1280'\n"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("given", "said"),
    [(["--preset", "web", "--preset", "og"], "--preset is given 2 times"),
     (["-o", "a", "--out=b"], "--out is given 2 times"),
     (["-q", "50", "-q60", "--quality", "70"], "--quality is given 3 times")],
)  # fmt: skip
def test_an_option_of_one_value_given_twice_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], given: list[str], said: str
) -> None:
    # Click keeps the last: `--preset web --preset og --check` checked og alone.
    from imgpar.cli import run

    Image.new("RGB", (8, 8)).save(tmp_path / "a.jpg")
    status = run(["convert", str(tmp_path), "--to", "webp", *given, "--dry-run"])
    assert (status, capsys.readouterr().err) == (2, f"imgpar: error: {said}: it takes one value\n")
    # Lists and flags may be repeated; a value that looks like an option is a value.
    status = run(["convert", str(tmp_path), "--to", "webp", "--to", "png", "--force", "--force",
                  "--out", str(tmp_path / "o"), "--name", "-o{stem}.{ext}",
                  "--dry-run"])  # fmt: skip
    assert status == 0
    capsys.readouterr()
    assert run(["convert", str(tmp_path), "--to", "webp", "-vq50", "-q60", "--dry-run"]) == 2
    said = capsys.readouterr().err
    assert said == "imgpar: error: --quality is given 2 times: it takes one value\n"


@pytest.mark.parametrize(
    ("option", "what"),
    [("--preset", "a preset's name"), ("--manifest", "a file name (FILE.json)"),
     ("--config", "a settings file")],
)  # fmt: skip
def test_an_empty_preset_manifest_or_config_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: str, what: str
) -> None:
    # `--preset "$PRESET"` unset ran the file's top-level job; `--manifest
    # "$M"` wrote no manifest, and --check passed without one.
    Image.new("RGB", (8, 8)).save(tmp_path / "a.jpg")
    (tmp_path / "imgpar.toml").write_text(
        'to = "jpeg"\nout = "top"\n[presets.web]\nto = "webp"\nout = "web"\n'
        'manifest = "web.json"\n'
    )
    monkeypatch.chdir(tmp_path)
    for args in (["--check"], []):
        result = invoke("convert", ".", "--preset", "web", option, "", *args)
        assert (result.exit_code, result.stderr) == (2, f"imgpar: error: {option} is empty: give"
                                                     f" {what}\n")  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg", "imgpar.toml"]


@pytest.mark.parametrize(
    ("given", "said"),
    [("", "is empty: give a format (webp, jpeg, png, avif, tiff): ''"),
     ("webp,", "has an empty entry: 'webp,'")],
)  # fmt: skip
def test_an_empty_format_is_said_as_an_empty_size_is(tmp_path: Path, given: str, said: str) -> None:
    result = invoke("convert", tmp_path, "--to", given)
    assert (result.exit_code, result.stderr) == (2, f"imgpar: error: --to {said}\n")


def test_list_options_may_be_repeated(tmp_path: Path) -> None:
    # Only the last was kept: the WebP outputs dropped, and --prune deleted them.
    Image.new("RGB", (80, 60)).save(tmp_path / "a.jpg")
    out = tmp_path / "o"
    result = invoke("convert", tmp_path / "a.jpg", "--to", "webp", "--to", "jpeg", "--width",
                    "20", "--width", "40,10", "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    sizes = {}
    for path in sorted(out.glob("a-*")):
        with Image.open(path) as im:
            sizes[path.name] = (im.format, im.width)
    assert sizes == {
        f"a-{w}.{ext}": (fmt, w) for w in (10, 20, 40) for ext, fmt in (("webp", "WEBP"),
                                                                        ("jpg", "JPEG"))
    }  # fmt: skip


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("", "--name is empty: give a template ({stem}.{ext}), or leave it out: ''"),
        ("{stem}/", "--name '{stem}/' ends in a folder: end it with a file's name ({stem}.{ext})"),
        ("{stem}/.", "--name '{stem}/.' ends in a folder: end it with a file's name"
         " ({stem}.{ext})"),
        ("a//{stem}.{ext}", "--name 'a//{stem}.{ext}' has a folder with no name (//)"),
        ("../{stem}.{ext}", "--name '../{stem}.{ext}' could write outside the output folder"),
        # An output named so overwrote the cache, or was pruned as a leftover.
        (".imgpar-cache.sqlite", "--name '.imgpar-cache.sqlite' makes names that begin with"
         " .imgpar, which are imgpar's own (its cache, lock and temporary files)"),
        ("w/.imgpar-tmp-{stem}.{ext}", "--name 'w/.imgpar-tmp-{stem}.{ext}' makes names that"
         " begin with .imgpar, which are imgpar's own (its cache, lock and temporary files)"),
    ],
)
def test_a_name_that_names_no_file_says_why(tmp_path: Path, name: str, said: str) -> None:
    result = invoke("convert", tmp_path, "--to", "webp", "--name", name, "--out", tmp_path / "o")
    assert (result.exit_code, result.stderr) == (2, f"imgpar: error: {said}\n")


@pytest.mark.parametrize("mode", ["--check", "--dry-run", None])
def test_quiet_prints_no_notes(tmp_path: Path, mode: str | None) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "a.jpg")
    (tmp_path / "empty").mkdir()
    result = invoke("convert", tmp_path / "a.jpg", tmp_path / "empty", "--to", "png", "--out",
                    tmp_path / "o", "--quiet", "--quality", "50", "--jobs",
                    str(default_jobs() + 1), "--report", tmp_path / "r.json",
                    *([mode] if mode else []))  # fmt: skip
    assert result.exit_code == (1 if mode == "--check" else 0)  # --check: stale, never converted
    assert "note:" not in result.stderr


@pytest.mark.parametrize(
    ("first", "second", "why"),
    [
        ("--quiet", "--verbose", "ask for opposite things"),
        ("--check", "--dry-run", "are two previews"),
        ("--check", "--force", "ask for opposite things (--check converts nothing"),
        ("--check", "--prune", "ask for opposite things (--check deletes nothing"),
    ],
)
def test_options_that_contradict_each_other_are_a_usage_error(
    tmp_path: Path, first: str, second: str, why: str
) -> None:
    # One of them silently won: --check --force said everything was stale.
    Image.new("RGB", (8, 8)).save(tmp_path / "a.jpg")
    result = invoke("convert", tmp_path, "--to", "webp", first, second)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"imgpar: error: {first} and {second} {why}")
    assert result.stderr.rstrip().endswith(": choose one")
    assert sorted(listing(tmp_path)) == ["a.jpg"]


@pytest.mark.parametrize("folder", ["site", "my preset files"])
def test_the_command_line_wins_over_a_contradicting_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: str
) -> None:
    # A build's `prune = true`, and CI's `imgpar convert --check`. (In a
    # folder named "... preset ...", the file's own settings passed for a
    # preset's, and the preset's no longer won.)
    tmp_path = tmp_path / folder
    tmp_path.mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "a.jpg")
    (tmp_path / "imgpar.toml").write_text('to = "webp"\nprune = true\nquiet = true\n')
    monkeypatch.chdir(tmp_path)
    checked = invoke("convert", ".", "--check")
    assert checked.exit_code == 1, checked.output  # stale: never converted
    assert checked.stdout == "stale: a.jpg\n"
    shown = invoke("convert", ".", "--verbose")
    assert shown.exit_code == 0, shown.output
    assert "converted: a.jpg -> a.webp (" in shown.stderr
    # A preset over its file's top level; one place at odds with itself is an error.
    (tmp_path / "imgpar.toml").write_text(
        'to = "webp"\nprune = true\nquiet = true\n[presets.ci]\ncheck = true\nverbose = true\n'
        '[presets.odd]\ncheck = true\nforce = true\n'
    )
    assert invoke("convert", ".", "--preset", "ci").exit_code == 0  # up to date: check passes
    odd = invoke("convert", ".", "--preset", "odd")
    assert (odd.exit_code, odd.stderr) == (2, f"imgpar: error: {tmp_path / 'imgpar.toml'} preset"
        " 'odd': settings 'check' and 'force' ask for opposite things (--check converts nothing,"
        " --force everything): choose one\n")  # fmt: skip


def test_a_nearer_way_to_size_sets_aside_a_farther_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `--max-size 50` over the file's widths stopped with "--max-size and
    # --width cannot be combined", naming the file's setting as a flag.
    Image.new("RGB", (200, 100), "red").save(tmp_path / "a.jpg")
    (tmp_path / "imgpar.toml").write_text(
        'to = "png"\nwidth = [120, 160]\nheight = 90\nfit = "cover"\ngravity = "north"\n'
        "[presets.small]\nmax_size = 50\n[presets.tall]\nheight = 40\n"
        "[presets.odd]\nmax_size = 50\nscale = 20\n[presets.box]\nwidth = 60\nheight = 60\n"
    )
    monkeypatch.chdir(tmp_path)

    def sizes(*args: str) -> list[tuple[int, int]]:
        for made in tmp_path.glob("a*.png"):
            made.unlink()
        result = invoke("convert", ".", *args)
        assert result.exit_code == 0, result.output
        return [Image.open(p).size for p in sorted(tmp_path.glob("a*.png"))]

    assert sizes() == [(120, 90), (160, 90)]  # the file's own: cover crops
    # The file's fit and gravity shaped its widths only: they go with them.
    assert sizes("--max-size", "50") == [(50, 25)]
    assert sizes("--preset", "small") == [(50, 25)]
    assert sizes("--long-edge", "60", "--preset", "small") == [(60, 30)]
    # The preset's box took the file's fit: set aside with it.
    assert sizes("--preset", "box") == [(60, 60)]
    assert sizes("--preset", "box", "--max-size", "50") == [(50, 25)]
    # A fit with no sizes of its place beside it shaped none: still the
    # command line's to complete.
    (tmp_path / "fit.toml").write_text('to = "png"\nfit = "cover"\n')
    alone = invoke("convert", ".", "--config", "fit.toml", "--width", "50")
    assert alone.exit_code == 2
    assert "setting 'fit': cover needs both width and height" in alone.stderr
    # A height goes with the file's widths: nothing contradicts.
    assert sizes("--preset", "tall") == [(120, 40), (160, 40)]
    odd = invoke("convert", ".", "--preset", "odd")
    assert (odd.exit_code, odd.stderr) == (2, f"imgpar: error: {tmp_path / 'imgpar.toml'} preset"
        " 'odd': settings 'max_size' and 'scale' cannot be combined: give one way to size\n"
    )  # fmt: skip
    both = invoke("convert", ".", "--max-size", "50", "--scale", "20")
    assert both.exit_code == 2
    assert both.stderr.startswith("imgpar: error: --max-size and --scale cannot be combined")


def test_where_a_run_goes_is_the_nearer_place_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The file's jobs or local engine, and a --scheduler: "setting 'jobs':
    # sizes a run on this machine", where the command line must win.
    Image.new("RGB", (8, 8)).save(tmp_path / "a.jpg")
    monkeypatch.chdir(tmp_path)
    for settings, args in [
        ('jobs = 4\nengine = "local"\n', ["--scheduler", "tcp://127.0.0.1:1"]),
        ('scheduler = "tcp://127.0.0.1:1"\n', ["--jobs", "1"]),
        ('scheduler = "tcp://127.0.0.1:1"\n', ["--engine", "local"]),
        ('scheduler = "tcp://127.0.0.1:1"\n', ["--jobs", "1", "--engine", "local"]),  # KeyError
    ]:
        (tmp_path / "imgpar.toml").write_text('to = "webp"\n' + settings)
        planned = invoke("convert", ".", *args, "--dry-run")
        assert (planned.exit_code, planned.stdout) == (0, "a.jpg -> a.webp\n"), planned.output
    (tmp_path / "imgpar.toml").write_text('to = "webp"\njobs = 4\nscheduler = "tcp://127.0.0.1:1"\n')
    both = invoke("convert", ".", "--dry-run")
    assert both.exit_code == 2
    assert both.stderr.startswith(f"imgpar: error: {tmp_path / 'imgpar.toml'}: setting 'jobs'")


def test_dry_run_ends_with_its_counts(tmp_path: Path) -> None:
    src = _tree_with_one_corrupt_file(tmp_path / "src")
    args = ["convert", src, "--to", "webp", "--width", "20,40", "--out", tmp_path / "out"]
    assert invoke(*args).exit_code == 1  # the corrupt file
    make_rgba_png(src / "good" / "new.png")
    result = invoke(*args, "--dry-run")
    assert result.exit_code == 0, result.output
    assert [line for line in result.stdout.splitlines() if " -> " in line] == [
        f"{src / 'good' / 'new.png'} -> {tmp_path / 'out' / 'good' / f'new-{w}.webp'}"
        for w in (20, 40)
    ]
    assert result.stderr.splitlines()[-1] == "would convert 1 file (2 outputs), skip 3, fail 1"
    (src / "empty").mkdir()
    quiet = invoke("convert", src / "empty", *args[2:], "--dry-run", "--quiet")
    assert quiet.stderr == "would convert 0 files (0 outputs), skip 0, fail 0\n"  # no note


def test_dry_run_in_place_writes_nothing(tmp_path: Path) -> None:
    src = _tree_with_one_corrupt_file(tmp_path / "src")
    before = listing(tmp_path)
    result = invoke("convert", src, "--to", "jpeg", "--dry-run")
    assert result.exit_code == 0, result.output
    assert listing(tmp_path) == before
    assert str(src / "c.jpg") in result.output
    # What it would not touch is named only with --verbose, as a run names it.
    assert ": skipped: " not in result.output
    assert "skip 2, fail 0" in result.stderr
    verbose = invoke("convert", src, "--to", "jpeg", "--dry-run", "--verbose")
    skipped = [line for line in verbose.stdout.splitlines() if ": skipped: " in line]
    assert sorted(skipped) == [
        f"{src / name}: skipped: {IN_TARGET_FORMAT}" for name in ("corrupt.jpg", "good/a.jpg")
    ]


def test_in_place_conversion(tmp_path: Path) -> None:
    src = build_tree(tmp_path / "src", {"a.png": "rgba_png", "sub/b.jpg": "small_jpeg"})
    result = invoke("convert", src, "--to", "webp", "--jobs", "1")
    assert result.exit_code == 0, result.output
    assert sorted(outputs_in(src)) == ["a.png", "a.webp", "sub/b.jpg", "sub/b.webp"]


def test_in_place_a_file_named_in_the_target_format_that_is_no_image_fails(
    tmp_path: Path,
) -> None:
    # Skipped as "already in the target format", an empty or garbled file
    # passed a CI's --check that a run into --out fails.
    src = build_tree(tmp_path / "src", {"empty.jpg": b"", "noise.jpg": b"not a picture",
                                        "real.jpg": "small_jpeg"})  # fmt: skip
    result = invoke("convert", src, "--to", "jpeg")
    assert result.exit_code == 1, result.output
    assert f"failed: {src / 'empty.jpg'}: empty file (0 bytes)" in result.stderr
    assert (
        f"failed: {src / 'noise.jpg'}: not an image imgpar can read (unknown or unsupported"
        " format)" in result.stderr
    )
    assert "0 converted, 1 skipped, 2 failed" in result.stdout


def test_in_place_a_misnamed_file_fails_after_a_run_without_its_format(tmp_path: Path) -> None:
    src = build_tree(tmp_path / "src", {"shot.jpg": "rgba_png"})
    assert invoke("convert", src, "--to", "webp").exit_code == 0
    again = invoke("convert", src, "--to", "jpeg,webp")
    assert again.exit_code == 1, again.output
    assert f"failed: {src / 'shot.jpg'}: holds PNG data under a .jpg name" in again.stderr
    assert invoke("convert", src, "--to", "jpeg,webp", "--check").exit_code == 1


def test_in_place_bmp_data_under_a_jpg_name_is_named_as_bmp(tmp_path: Path) -> None:
    # BMP was missing from the formats known by their first bytes: "not an
    # image imgpar can read", of a picture imgpar reads.
    src = tmp_path / "src"
    src.mkdir()
    Image.new("RGB", (40, 30), (10, 120, 200)).save(src / "scan.jpg", "BMP")
    result = invoke("convert", src, "--to", "jpeg")
    assert result.exit_code == 1, result.output
    assert (
        f"failed: {src / 'scan.jpg'}: holds BMP data under a .jpg name: its jpeg output"
        " would replace it (rename it scan.bmp," in result.stderr
    )


def test_in_place_a_file_named_in_the_target_format_but_holding_another_fails(
    tmp_path: Path,
) -> None:
    # What phones and downloads hand out: PNG bytes under a .jpg name.
    src = build_tree(
        tmp_path / "src",
        {"real.jpg": "small_jpeg", "shot.jpg": "rgba_png", "photo.png": "small_jpeg"},
    )
    before = listing(src)
    error = (
        "holds PNG data under a .jpg name: its jpeg output would replace it"
        " (rename it shot.png, or use --out DIR or --name '{stem}-web.{ext}')"
    )

    check = invoke("convert", src, "--to", "jpeg", "--check")
    assert check.exit_code == 1, check.output
    assert f"failing: {src / 'shot.jpg'}: {error}" in check.stdout

    result = invoke("convert", src, "--to", "jpeg,webp", "--jobs", "1")
    assert result.exit_code == 1, result.output
    assert f"failed: {src / 'shot.jpg'}: {error}" in result.stderr
    # It fails whole, as a source with any output it cannot make does.
    assert sorted(outputs_in(src)) == ["photo.jpg", "photo.png", "photo.webp", "real.jpg",
                                       "real.webp", "shot.jpg"]  # fmt: skip
    assert {k: v for k, v in listing(src).items() if k in before} == before
    with Image.open(src / "photo.jpg") as im:
        assert im.format == "JPEG"


def test_a_no_op_rerun_in_place_reads_no_source(tmp_path: Path) -> None:
    # Only a file named in a target's format has its first bytes read on
    # every run (its name is all that says it is in that format).
    src = build_tree(tmp_path / "src", {"a.jpg": "small_jpeg", "b.jpg": "small_jpeg"})
    args = ("convert", src, "--to", "webp", "--jobs", "1")
    assert invoke(*args).exit_code == 0
    opened: list[str] = []
    recording = [True]  # an audit hook cannot be removed: it stops recording

    def hook(event: str, details: tuple[Any, ...]) -> None:
        if recording and event == "open":
            opened.append(str(details[0]))

    sys.addaudithook(hook)
    try:
        again = invoke(*args)
    finally:
        recording.clear()
    assert again.exit_code == 0, again.output
    assert "0 converted, 2 skipped" in again.stdout
    assert not [path for path in opened if path.endswith(".jpg")]


def test_a_partial_rerun_lists_outputs_as_a_fresh_run_does(tmp_path: Path) -> None:
    # Kept outputs came first: a report's order changed with what was kept.
    src = build_tree(tmp_path / "src", {"a.png": "rgba_png"})
    args = ["convert", src, "--to", "webp,avif", "--width", "20,40", "--out", tmp_path / "o"]

    def listed() -> list[str]:
        report = json.loads((tmp_path / "r.json").read_text())
        return [o["path"] for o in report["files"][0]["outputs"]]

    assert invoke(*args, "--report", tmp_path / "r.json").exit_code == 0
    fresh = listed()
    (tmp_path / "o" / "a-20.avif").unlink()
    (tmp_path / "o" / "a-40.webp").unlink()
    again = invoke(*args, "--report", tmp_path / "r.json")
    assert "1 converted" in again.stdout
    assert listed() == fresh


def test_in_place_a_source_in_one_target_format_still_makes_the_others(tmp_path: Path) -> None:
    src = build_tree(tmp_path / "src", {"a.jpg": "small_jpeg", "b.png": "rgba_png"})
    before = listing(src)
    assert invoke("convert", src, "--to", "webp", "--jobs", "1").exit_code == 0
    webp = outputs_in(src)
    # Its .jpg output would be the source itself: only that one is not made.
    both = invoke("convert", src, "--to", "webp,jpeg", "--jobs", "1")
    assert both.exit_code == 0, both.output
    assert "1 converted, 1 skipped, 0 failed" in both.stdout
    assert both.stderr.strip().splitlines() == [
        "note: 1 source already in one of the target formats: that output, which would"
        " replace it, is not made (the source stands for it as it is, its metadata too);"
        " --out DIR or --name '{stem}-web.{ext}' makes it",
        "note: 1 source made only some outputs: the others were up to date",
    ]
    after = outputs_in(src)
    assert {k: v for k, v in after.items() if k in webp} == webp  # a.webp kept, and the source
    assert sorted(set(after) - set(webp)) == ["b.jpg"]
    with Image.open(src / "b.jpg") as im:
        assert im.format == "JPEG"
    checked = invoke("convert", src, "--to", "webp,jpeg", "--check")
    assert checked.exit_code == 0, checked.output  # a.webp is no orphan
    pruned = invoke("convert", src, "--to", "webp,jpeg", "--prune", "--jobs", "1")
    assert pruned.exit_code == 0 and "pruned" not in pruned.stderr
    assert {k: v for k, v in listing(src).items() if k in before} == before
    assert (src / "a.webp").is_file()


def test_in_place_an_output_that_keeps_the_source_extension_replaces_nothing(
    tmp_path: Path,
) -> None:
    src = build_tree(tmp_path / "src", {"a.jpg": "small_jpeg", "a.png": "rgba_png"})
    result = invoke("convert", src, "--to", "webp,png", "--jobs", "1")
    assert result.exit_code == 0, result.output
    # a.png's PNG would be a.png.png: the same image in the same format as
    # the source, named so only for its sibling. Left out, as without a.jpg.
    assert sorted(outputs_in(src)) == [
        "a.jpg", "a.jpg.png", "a.jpg.webp", "a.png", "a.png.webp"
    ]  # fmt: skip
    assert "1 source already in one of the target formats" in result.stderr
    alone = invoke("convert", src, "--to", "png", "--jobs", "1")
    assert "0 converted, 2 skipped" in alone.stdout
    assert not (src / "a.png.png").exists()


def test_in_place_sources_already_in_the_target_format_are_named(tmp_path: Path) -> None:
    # Resizing JPEGs to JPEG in place would overwrite them: they are skipped,
    # and the run says so rather than ending on a bare "2 skipped".
    src = build_tree(tmp_path / "src", {"a.jpg": "camera_jpeg", "b.jpg": "small_jpeg"})
    build_tree(src, {"c.png": "rgba_png"})
    before = listing(src)
    result = invoke("convert", src, "--to", "jpeg", "--max-size", "40", "--jobs", "1")
    assert result.exit_code == 0, result.output
    assert "1 converted, 2 skipped, 0 failed" in result.stdout
    note = (
        "note: 2 skipped as already in the target format (left as they are, their metadata"
        " too); --out ANOTHER_DIR or --name '{stem}-web.{ext}' re-encodes them"
    )
    assert result.stderr.strip().splitlines() == [note]
    assert {k: v for k, v in listing(src).items() if k in before} == before
    again = invoke("convert", src, "--to", "jpeg", "--max-size", "40", "--jobs", "1")
    assert "0 converted, 3 skipped, 0 failed" in again.stdout
    assert again.stderr.strip().splitlines() == [note]  # c.jpg is c.png's output, not a source
    # A name that is not the source's own converts them, beside the sources.
    renamed = ["--name", "{stem}-web.{ext}"]
    web = invoke("convert", src, "--to", "jpeg", "--max-size", "40", *renamed, "--jobs", "1")
    assert "3 converted, 0 skipped, 0 failed" in web.stdout, web.output
    assert {k: v for k, v in listing(src).items() if k in before} == before
    for name in ("a-web.jpg", "b-web.jpg", "c-web.jpg"):
        with Image.open(src / name) as im:
            assert im.format == "JPEG" and max(im.size) <= 40
    # ... and the renamed outputs are imgpar's from then on, not sources.
    web = invoke("convert", src, "--to", "jpeg", "--max-size", "40", *renamed, "--jobs", "1")
    assert "0 converted, 3 skipped, 0 failed" in web.stdout, web.output
    widths = invoke("convert", src, "--to", "jpeg", "--width", "20,30", "--jobs", "1")
    assert "3 converted, 0 skipped, 0 failed" in widths.stdout, widths.output
    assert (src / "a-20.jpg").is_file() and not (src / "a-web-20.jpg").exists()


def test_images_imgpar_does_not_read_are_named_once(tmp_path: Path) -> None:
    # Camera raw files beside their JPEGs: left alone, and said so.
    src = build_tree(tmp_path / "src", {"a.jpg": "small_jpeg", "notes.txt": b"hello"})
    for name in ("IMG_1.CR2", "IMG_2.CR2", "sub/IMG_3.nef", "logo.svg", "L1000001.RWL"):
        (src / name).parent.mkdir(exist_ok=True)
        (src / name).write_bytes(b"not read")
    # A stereo camera's MPO is a JPEG: it was passed over without a word.
    left, right = Image.new("RGB", (60, 40), "red"), Image.new("RGB", (60, 40), "blue")
    left.save(src / "DSCF0001.MPO", format="MPO", save_all=True, append_images=[right])
    out = tmp_path / "out"
    report = tmp_path / "r.json"
    result = invoke("convert", src, "--to", "webp", "--out", out, "--report", report)
    assert result.exit_code == 0, result.output
    assert "2 converted, 0 skipped, 0 failed" in result.stdout
    assert result.stderr.strip().splitlines() == [
        "note: 5 files in formats imgpar does not read, left alone"
        " (2 .cr2, 1 .rwl, 1 .svg, 1 .nef)"
    ]
    noted = json.loads(report.read_text())["notes"]
    assert sorted(Path(n["path"]).name for n in noted) == [
        "IMG_1.CR2", "IMG_2.CR2", "IMG_3.nef", "L1000001.RWL", "logo.svg"
    ]  # fmt: skip
    with Image.open(out / "DSCF0001.webp") as im:
        assert (im.size, im.getpixel((30, 20))[0] > 200) == ((60, 40), True)  # the first, red
    verbose = invoke("convert", src, "--to", "webp", "--out", out, "--verbose")
    assert f"note: {src / 'logo.svg'}: an image format imgpar does not read" in verbose.stderr


def _card(folder: Path, *raw: str) -> list[Path]:
    """A camera card's files, sorted as `DCIM/*` names them: IMG_1.JPG, and
    each of `raw` as raw files are made, a small preview first (a TIFF)."""
    folder.mkdir()
    for name in raw:
        Image.new("RGB", (160, 120), "red").save(folder / name, format="TIFF")
    Image.new("RGB", (600, 400), "gray").save(folder / "IMG_1.JPG")
    return sorted(folder.iterdir())


def test_a_raw_file_named_as_a_source_is_left_alone(tmp_path: Path) -> None:
    # `imgpar convert DCIM/*`: a raw file's first picture, a small preview
    # Pillow reads as a TIFF, was converted as if it were the photo, and the
    # JPEG beside it lost its name to it (IMG_1.JPG -> IMG_1.JPG.jpg).
    named = _card(tmp_path / "DCIM", "IMG_1.CR2")
    out = tmp_path / "web"
    result = invoke("convert", *named, "--to", "jpeg", "--max-size", "200", "--out", out)
    assert result.exit_code == 0, result.output
    assert "1 converted, 0 skipped, 0 failed" in result.stdout
    assert result.stderr.splitlines() == [
        "note: 1 file in formats imgpar does not read, left alone (1 .cr2)"
    ]
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["IMG_1.jpg"]
    with Image.open(out / "IMG_1.jpg") as im:
        assert im.size == (200, 133)


def test_outputs_an_older_imgpar_made_of_raw_previews_are_pruned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Made by a version that converted a raw file named as a SOURCE, they
    # stayed for good: the raw file is still there, and --check passed.
    named = _card(tmp_path / "DCIM", "IMG_1.CR2", "IMG_3.dng")
    out = tmp_path / "web"
    with monkeypatch.context() as older:
        older.setattr("imgpar.walk.is_unread", lambda name: False)
        imgpar.convert(named, to="webp", out=out, jobs=1)
    made_then = {"IMG_1.CR2.webp", "IMG_1.JPG.webp", "IMG_3.webp"}
    assert {p.name for p in out.glob("*.webp")} == made_then
    checked = invoke("convert", *named, "--to", "webp", "--out", out, "--check")
    assert checked.exit_code == 1
    for name in ("IMG_1.CR2.webp", "IMG_3.webp"):
        assert f"orphan: {out / name} (no source makes it now" in checked.stdout
    pruned = invoke("convert", *named, "--to", "webp", "--out", out, "--prune")
    assert pruned.exit_code == 0, pruned.output
    assert {p.name for p in out.glob("*.webp")} == {"IMG_1.webp"}
    assert invoke("convert", *named, "--to", "webp", "--out", out, "--check").exit_code == 0


def test_names_that_hold_the_source_extension_tell_siblings_apart(tmp_path: Path) -> None:
    # a.jpg and a.png under '{stem}-{src_ext}.{ext}' became a.jpg-jpg.webp
    # and a.png-png.webp, with a note that they share a name.
    src = build_tree(tmp_path / "s", {"a.jpg": "small_jpeg", "a.png": "rgba_png"})
    result = invoke("convert", src, "--to", "webp", "--out", tmp_path / "o", "--name",
                    "{stem}-{src_ext}.{ext}")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "o").glob("*.webp")) == ["a-jpg.webp", "a-png.webp"]
    assert "same name" not in result.stderr


def test_outputs_that_keep_the_source_extension_are_named(tmp_path: Path) -> None:
    src = build_tree(tmp_path / "src", {"a.jpg": "small_jpeg", "a.png": "rgba_png"})
    out = tmp_path / "out"
    result = invoke("convert", src, "--to", "webp", "--out", out, "--jobs", "1")
    assert result.exit_code == 0, result.output
    assert sorted(outputs_in(out)) == ["a.jpg.webp", "a.png.webp"]
    assert result.stderr.strip().splitlines() == [
        "note: 2 sources with another of the same name: outputs keep the source extension"
        " (a.jpg -> a.jpg.webp)"
    ]
    # A file named with no extension at all keeps nothing: no note.
    make_small_jpeg(tmp_path / "export")
    lone = invoke("convert", tmp_path / "export", "--to", "webp", "--out", tmp_path / "lone")
    assert lone.exit_code == 0 and lone.stderr == "", lone.output
    jpeg = invoke("convert", src, "--to", "jpeg", "--out", tmp_path / "jpeg", "--jobs", "1")
    assert sorted(outputs_in(tmp_path / "jpeg")) == ["a.jpg.jpg", "a.png.jpg"]
    assert jpeg.stderr.strip().splitlines() == [
        "note: 2 sources with another of the same name: outputs keep the source extension"
        " (a.jpg -> a.jpg.jpg)"
    ]
    verbose = invoke("convert", src, "--to", "webp", "--out", out, "--jobs", "1", "--verbose")
    assert verbose.stderr.count("output keeps the source extension") == 2  # each file's line
    assert verbose.stderr.endswith(  # and counted at the end, far below them on a big tree
        "note: 2 sources with another of the same name: outputs keep the source extension"
        " (a.jpg -> a.jpg.webp)\n"
    )
    # The example is the first by path, not the first a worker finished:
    # the big pair is converted last, the tiny one first.
    big = build_tree(tmp_path / "big", {"b.jpg": "small_jpeg", "b.png": "rgba_png"})
    make_small_jpeg(big / "a.jpg", (1600, 1200))
    make_rgba_png(big / "a.png", (1200, 900))
    for _ in range(3):
        shuffled = invoke("convert", big, "--to", "webp", "--out", tmp_path / "big-out",
                          "--jobs", "2", "--force")  # fmt: skip
        assert shuffled.stderr.strip().splitlines() == [
            "note: 4 sources with another of the same name: outputs keep the source extension"
            " (a.jpg -> a.jpg.webp)"
        ]
    # A source that fails makes no output to name.
    (src / "a.gif").write_bytes(b"GIF89a, cut short")
    failing = invoke("convert", src, "--to", "webp", "--out", tmp_path / "f", "--jobs", "1")
    assert failing.exit_code == 1
    assert (
        "note: 2 sources with another of the same name: outputs keep the source extension"
        " (a.jpg -> a.jpg.webp)"
    ) in failing.stderr.splitlines()


def test_resize_options(tmp_path: Path) -> None:
    src = build_tree(tmp_path / "src", {"a.jpg": "camera_jpeg"})  # 200 x 300 displayed
    for option, value, size in [
        ("--max-size", "60", (40, 60)),
        ("--width", "50", (50, 75)),
        ("--height", "150", (100, 150)),
        ("--max-size", "5000", (200, 300)),
    ]:
        out = tmp_path / f"out{option}{value}"
        result = invoke("convert", src, "--to", "png", "--out", out, option, value, "-j", "1")
        assert result.exit_code == 0, result.output
        with Image.open(out / "a.png") as im:
            assert im.size == size, option


@pytest.mark.parametrize(
    ("options", "api", "command_line"),
    [
        ({"fit": "cover", "width": 10}, "fit cover needs both width and height",
         "--fit cover needs both --width and --height"),
        ({"max_size": 5, "scale": 50}, "max_size and scale cannot be combined",
         "--max-size and --scale cannot be combined"),
        ({"scheduler": "tcp://127.0.0.1:1", "jobs": 2},
         "jobs sizes a run on this machine; with scheduler the cluster's",
         "--jobs sizes a run on this machine; with --scheduler the cluster's"),
    ],
)  # fmt: skip
def test_errors_name_other_settings_as_each_caller_writes_them(
    tmp_path: Path, options: dict[str, Any], api: str, command_line: str
) -> None:
    src = build_tree(tmp_path / "src", {"a.png": "rgba_png"})
    with pytest.raises(UsageError) as raised:
        imgpar.convert(src, to="webp", out=tmp_path / "out", **options)
    assert str(raised.value).startswith(api)
    flags = [arg for name, value in options.items() for arg in (flag(name), str(value))]
    result = invoke("convert", src, "--to", "webp", "--out", tmp_path / "out", *flags)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"imgpar: error: {command_line}")


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"force": "false"}, "force"),  # true to Python: it forced a run
        ({"lossless": "no"}, "lossless"),  # every file failed with a TypeError
        ({"upscale": 1}, "upscale"),
        ({"scale": float("nan")}, "scale"),  # every file failed
        ({"timeout": float("inf")}, "timeout"),  # an internal error
        ({"max_size": 1.5}, "max_size"),  # a TypeError
        ({"start_method": "bogus"}, "start_method"),  # a ValueError at run time
        ({"scheduler": "tcp://127.0.0.1:1", "jobs": 2}, "jobs"),
    ],
)
@pytest.mark.parametrize("call", [imgpar.convert, imgpar.iter_convert])
def test_a_bad_value_from_a_program_is_a_usage_error_naming_it(
    tmp_path: Path, options: dict[str, Any], option: str, call: Callable[..., object]
) -> None:
    # Raised by the call: iter_convert()'s came at the first next(), inside
    # the program's `with closing(...)` or loop rather than at its call.
    src = build_tree(tmp_path / "src", {"a.png": "rgba_png"})
    with pytest.raises(UsageError) as raised:
        call(src, to="webp", out=tmp_path / "out", **options)
    assert raised.value.option == option
    assert str(raised.value).startswith(f"{option} ")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("options", "option", "message"),
    [
        ({"to": "gif"}, "to", "to names an unknown format 'gif' (choose from "),
        ({"to": "jpeg", "lossless": True}, "lossless",
         "lossless is not for jpeg, which has no lossless mode (use webp, png or tiff)"),
        ({"to": "webp", "max_size": 100, "width": 50}, "max_size",
         "max_size and width cannot be combined: give one way to size"),
    ],
)  # fmt: skip
def test_a_usage_error_names_its_keyword_as_its_option(
    tmp_path: Path, options: dict[str, Any], option: str, message: str
) -> None:
    # Each had option None, and the format's message read "to unknown format".
    with pytest.raises(imgpar.Error) as raised:
        imgpar.convert(tmp_path, **options)
    assert isinstance(raised.value, UsageError)
    assert raised.value.option == option
    assert str(raised.value).startswith(message)
    flags = [a for name, value in options.items()
             for a in ([flag(name)] if value is True else [flag(name), str(value)])]  # fmt: skip
    result = invoke("convert", tmp_path, *flags)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"imgpar: error: {flag(option)} ")


@pytest.mark.parametrize("call", [imgpar.convert, imgpar.iter_convert])
def test_the_api_takes_prepares_keywords_as_its_own(
    tmp_path: Path, call: Callable[..., object]
) -> None:
    # Typed `**options: Any`, a misspelt keyword passed every type checker,
    # then failed as prepare()'s, a function the program never called.
    import inspect

    published = list(inspect.signature(call).parameters)
    assert published == [p for p in inspect.signature(prepare).parameters if p[0] != "_"]
    for own in ("_create_out", "_thumbnails"):  # the command line's
        with pytest.raises(TypeError, match=f"unexpected keyword argument '{own}'"):
            call(tmp_path, to="webp", **{own: False})
    with pytest.raises(TypeError, match=rf"^{call.__name__}\(\) got an unexpected keyword"
                       " argument 'qualty'$"):  # fmt: skip
        call(tmp_path, to="webp", qualty=80)
    # Type checkers read the hints of a package that says it has them.
    assert (Path(imgpar.__file__).parent / "py.typed").is_file()
    # Sizes as the command line writes them, and paths as bytes, out included.
    src = build_tree(tmp_path / "src", {"a.png": "rgba_png"})
    out = os.fsencode(tmp_path / "out")
    results = list(imgpar.iter_convert([os.fsencode(src)], to="webp", out=out, width="20,32"))
    assert {(r.status, len(r.outputs)) for r in results} == {("converted", 2)}
    with Image.open(tmp_path / "out" / "a-32.webp") as im:
        assert im.size == (32, 24)


def test_second_run_skips_up_to_date_and_force_redoes(tmp_path: Path) -> None:
    src = build_tree(tmp_path / "src", {"a.png": "rgba_png"})
    out = tmp_path / "out"
    assert invoke("convert", src, "--to", "webp", "--out", out, "-j", "1").exit_code == 0
    again = invoke("convert", src, "--to", "webp", "--out", out, "-j", "1")
    assert again.exit_code == 0
    assert "0 converted, 1 skipped, 0 failed" in again.output
    forced = invoke("convert", src, "--to", "webp", "--out", out, "-j", "1", "--force")
    assert forced.exit_code == 0
    assert "1 converted, 0 skipped, 0 failed" in forced.output


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A real `python ...` process, importing imgpar as installed (not from cwd)."""
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=60, check=False, cwd=cwd
    )


def test_python_m_imgpar_version(tmp_path: Path) -> None:
    proc = _run("-m", "imgpar", "--version", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"imgpar {imgpar.__version__}"


@pytest.mark.parametrize(
    "argv", [["--help"], ["convert", "--help"], ["info", "--help"], ["--version"]]
)
def test_help_does_not_import_pillow(argv: list[str], tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from imgpar.cli import run\n"
        f"code = run({argv!r})\n"
        "heavy = sorted(m for m in sys.modules if m == 'PIL' or m.startswith(('PIL.', 'dask')))\n"
        "print('HEAVY', heavy, code)\n"
    )
    proc = _run("-c", script, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last == "HEAVY [] 0", proc.stdout


def test_profiler_still_gets_its_data(tmp_path: Path) -> None:
    # The command skips the interpreter's teardown, except under a profiler
    # or coverage tool, which write their data at exit.
    profile = tmp_path / "imgpar.prof"
    proc = _run("-m", "cProfile", "-o", str(profile), "-m", "imgpar", "--version", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert profile.stat().st_size > 0


def test_real_process_exit_status_and_no_traceback(tmp_path: Path) -> None:
    src = _tree_with_one_corrupt_file(tmp_path / "src")
    out = str(tmp_path / "o")
    report = tmp_path / "r.json"
    proc = _run(
        "-m", "imgpar", "convert", str(src), "--to", "png", "--out", out,
        "--report", str(report), cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "corrupt.jpg" in proc.stderr
    # The process ends without tearing down the interpreter (cli.main): what
    # it printed into a pipe and its report must be whole all the same.
    assert "3 converted, 0 skipped, 1 failed" in proc.stdout
    assert len(json.loads(report.read_text())["files"]) == 4


def test_progress_bar_shows_the_total_before_any_file_finishes(tmp_path: Path) -> None:
    # The only file stalls its worker until --timeout: the total must be on
    # the bar meanwhile, not only once some file is done.
    src = build_tree(tmp_path / "src", {"stall.jpg": "small_jpeg"})
    terminal, bar_side = os.openpty()
    # A terminal of 80 columns (a new pseudo-terminal has none: tqdm then draws nothing).
    fcntl.ioctl(bar_side, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "imgpar", "convert", src, "--to", "webp", "--out",
         tmp_path / "out", "--timeout", "1"],
        stdout=subprocess.PIPE,
        stderr=bar_side,
        env={**os.environ, HANG_ENV: "stall"},
    )  # fmt: skip
    os.close(bar_side)
    shown = b""
    while True:
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # the other side is closed: the run is over
            break
        if not chunk:
            break
        shown += chunk
    os.close(terminal)
    proc.communicate(timeout=30)
    assert proc.returncode == 1
    before_failure = shown.split(b"failed:")[0].decode()
    assert " 0/1 " in before_failure, before_failure


@pytest.mark.parametrize("command", ["convert", "info", "bench"])
def test_an_unreadable_named_file_fails_alone(tmp_path: Path, command: str) -> None:
    # Named on the command line, it was click's usage error for the whole run.
    make_camera_jpeg(tmp_path / "a.jpg")
    locked = tmp_path / "locked.jpg"
    locked.write_bytes((tmp_path / "a.jpg").read_bytes())
    locked.chmod(0)
    argv = [*unprivileged(), sys.executable, "-m", "imgpar", command, "locked.jpg", "a.jpg"]
    if command != "info":
        argv += ["--to", "webp", "--jobs", "1"]
    if command == "convert":
        argv += ["--out", "out"]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 1, proc.stderr
    reason = "cannot read the file: permission denied"
    if command == "info":
        assert proc.stderr.strip() == f"imgpar: error: locked.jpg: {reason}"
        assert proc.stdout.startswith("a.jpg\n  format       JPEG\n")
    else:
        assert f"failed: locked.jpg: {reason}" in proc.stderr + proc.stdout
        assert "Usage" not in proc.stderr
    if command == "convert":
        assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.suffix == ".webp") == [
            "a.webp"
        ]


def _run_and_check_unreadable(
    argv: list[str], cwd: Path, locked: Path, locked_mode: int = 0
) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """`argv` run, then with --check, while `locked` has `locked_mode` (can
    be neither read nor searched); its permissions are given back after."""
    mode = locked.stat().st_mode
    locked.chmod(locked_mode)
    try:
        run, check = (
            subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=120)
            for args in (argv, [*argv, "--check"])
        )
    finally:
        locked.chmod(mode)
    return run, check


def test_an_unreadable_folder_fails_the_run(tmp_path: Path) -> None:
    # Its images go unseen: a note and exit 0 let a CI step pass without them.
    src = tmp_path / "src"
    make_camera_jpeg(src / "a.jpg")
    make_camera_jpeg(src / "locked" / "b.jpg")
    argv = [*unprivileged(), sys.executable, "-m", "imgpar", "convert", "src", "--to", "webp"]
    run, check = _run_and_check_unreadable(argv, tmp_path, src / "locked")
    assert run.returncode == 1, run.stderr
    reason = "src/locked: cannot read folder: permission denied"
    assert f"failed: {reason}" in run.stderr.splitlines()
    assert run.stdout.startswith("1 converted, 0 skipped, 0 failed, 1 folder not read in ")
    assert check.returncode == 1
    assert f"failing: {reason}" in check.stdout.splitlines()
    assert sorted(p.name for p in src.rglob("*.webp")) == ["a.webp"]
    # info too: what it cannot see is no success.
    (src / "locked").chmod(0)
    try:
        info = subprocess.run([*argv[:-4], "info", "src"], capture_output=True, text=True,
                              cwd=tmp_path, timeout=120)  # fmt: skip
    finally:
        (src / "locked").chmod(0o755)
    assert info.returncode == 1
    assert f"imgpar: error: {reason}" in info.stderr.splitlines()


def test_a_folder_that_can_be_listed_not_searched_fails_once(tmp_path: Path) -> None:
    # Mode r--: its files were each "cannot read the file", its subfolder
    # "cannot read folder", and the folder itself went unnamed and uncounted.
    src = tmp_path / "src"
    make_camera_jpeg(src / "a.jpg")
    for name in ("b.jpg", "c.jpg", "sub/d.jpg"):
        make_camera_jpeg(src / "listed" / name)
    argv = [*unprivileged(), sys.executable, "-m", "imgpar", "convert", "src", "--to", "webp",
            "--out", "out"]  # fmt: skip
    run, check = _run_and_check_unreadable(argv, tmp_path, src / "listed", 0o444)
    assert run.returncode == 1, run.stderr
    reason = (
        "src/listed: cannot read folder: permission denied (its names can be listed, not opened)"
    )
    assert run.stderr.splitlines() == [f"failed: {reason}"]
    assert run.stdout.startswith("1 converted, 0 skipped, 0 failed, 1 folder not read in ")
    assert (check.returncode, check.stdout.splitlines()) == (1, [f"failing: {reason}"])
    # One with nothing imgpar would read (notes, hidden files) is no failure.
    shutil.rmtree(src / "listed")
    (src / "docs").mkdir()
    (src / "docs" / "notes.txt").write_text("x")
    (src / "docs" / ".DS_Store").write_text("x")
    run, check = _run_and_check_unreadable(argv, tmp_path, src / "docs", 0o444)
    assert (run.returncode, run.stderr, check.returncode) == (0, "", 0)


def test_an_unreadable_source_in_the_target_format_fails_in_place(tmp_path: Path) -> None:
    # Unread, it cannot be told a JPEG: skipped, it would pass for done.
    src = tmp_path / "src"
    make_camera_jpeg(src / "a.jpg")
    argv = [*unprivileged(), sys.executable, "-m", "imgpar", "convert", "src", "--to", "jpeg"]
    run, check = _run_and_check_unreadable(argv, tmp_path, src / "a.jpg")
    reason = "src/a.jpg: cannot read the file: permission denied"
    assert (run.returncode, run.stderr) == (1, f"failed: {reason}\n")
    assert (check.returncode, check.stdout) == (1, f"failing: {reason}\n")
    again = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert again.returncode == 0, again.stderr  # readable again: in the target format, skipped


def test_in_place_a_cache_this_user_cannot_write_stops_the_run(tmp_path: Path) -> None:
    # Left by a run under sudo: outputs it cannot record, the next run would
    # take for sources (b.jpg -> b.jpg.png).
    src = tmp_path / "src"
    make_camera_jpeg(src / "a.jpg")
    Image.new("RGB", (8, 8)).save(src / "b.png")
    argv = [*unprivileged(), sys.executable, "-m", "imgpar", "convert", "src", "--to"]
    assert subprocess.run([*argv, "webp"], cwd=tmp_path, timeout=120).returncode == 0
    cache = src / ".imgpar-cache.sqlite"
    cache.chmod(0o444)
    try:
        run = subprocess.run([*argv, "webp,jpeg"], capture_output=True, text=True,
                             cwd=tmp_path, timeout=120)  # fmt: skip
        check = subprocess.run([*argv, "webp", "--check"], capture_output=True, text=True,
                               cwd=tmp_path, timeout=120)  # fmt: skip
    finally:
        cache.chmod(0o644)
    assert run.returncode == 2
    assert run.stderr.startswith(f"imgpar: error: cache src/{cache.name} cannot be read and"
                                 " written (Permission denied): in place, outputs")  # fmt: skip
    assert "(sudo, or a colleague's): make it this user's again, `chmod g+w` it" in run.stderr
    assert sorted(p.name for p in src.iterdir() if not p.name.startswith(".")) == [
        "a.jpg", "a.webp", "b.png", "b.webp"
    ]
    assert check.returncode == 0, check.stderr  # reading it is all --check does
    # One who may only read the folder can write no output there to mistake.
    src.chmod(0o555)
    cache.chmod(0o444)
    try:
        reader = subprocess.run([*argv, "webp"], capture_output=True, text=True,
                                cwd=tmp_path, timeout=120)  # fmt: skip
    finally:
        src.chmod(0o755)
        cache.chmod(0o644)
    assert reader.returncode == 0, reader.stderr
    assert reader.stdout.startswith("0 converted, 2 skipped, 0 failed")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mount namespaces are Linux's")
def test_in_place_on_read_only_media_each_file_says_so(tmp_path: Path) -> None:
    # A card or a read-only share converted before: its cache cannot be
    # written, nor can any output, so nothing is mistaken and nothing is refused.
    src = tmp_path / "src"
    make_camera_jpeg(src / "a.jpg")
    argv = [sys.executable, "-m", "imgpar", "convert", str(src), "--to"]
    assert subprocess.run([*argv, "webp"], timeout=120).returncode == 0
    same = under_read_only_mount(str(src), [*argv, "webp"], keep=True)
    assert (same.returncode, same.stdout[:29]) == (0, "0 converted, 1 skipped, 0 fai"), same.stderr
    more = under_read_only_mount(str(src), [*argv, "webp,png"], keep=True)
    assert more.returncode == 1
    assert f"cannot write to {src}: read-only file system" in more.stderr


@pytest.mark.parametrize("into", [["--out", "out"], []], ids=["out", "in place"])
def test_prune_keeps_the_outputs_of_a_folder_it_cannot_read(
    tmp_path: Path, into: list[str]
) -> None:
    # Unseen is not gone: its sources may all be there.
    src = tmp_path / "src"
    make_camera_jpeg(src / "a.jpg")
    make_camera_jpeg(src / "locked" / "b.jpg")
    argv = [*unprivileged(), sys.executable, "-m", "imgpar", "convert", "src", "--to", "webp",
            *into]  # fmt: skip
    assert subprocess.run(argv, cwd=tmp_path, timeout=120).returncode == 0
    made = tmp_path / ("out" if into else "src") / "locked" / "b.webp"
    (src / "locked").chmod(0)
    try:
        pruned = subprocess.run(
            [*argv, "--prune"], capture_output=True, text=True, cwd=tmp_path, timeout=120
        )
    finally:
        (src / "locked").chmod(0o755)
    assert pruned.returncode == 1
    assert "pruned" not in pruned.stderr
    assert made.exists()
    again = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert again.stdout.startswith("0 converted, 2 skipped, 0 failed"), again.stderr
    assert sorted(p.name for p in made.parent.iterdir() if not p.name.startswith(".")) == (
        ["b.jpg", "b.webp"] if not into else ["b.webp"]
    )


@pytest.mark.parametrize("into", [["--out", "out"], []], ids=["out", "in place"])
def test_prune_keeps_the_outputs_of_links_to_nothing(tmp_path: Path, into: list[str]) -> None:
    # A link to a drive not mounted: its sources are unseen, not gone. Their
    # outputs were deleted, and listed for a CDN to purge.
    src, drive = tmp_path / "src", tmp_path / "drive"
    make_camera_jpeg(src / "a.jpg")
    for name in ("b.jpg", "c.jpg"):
        make_camera_jpeg(drive / name)
    (src / "linked").symlink_to(drive)
    (src / "one.jpg").symlink_to(drive / "c.jpg")
    argv = [sys.executable, "-m", "imgpar", "convert", "src", "--to", "webp", *into]
    assert subprocess.run(argv, cwd=tmp_path, timeout=120).returncode == 0
    out = tmp_path / ("out" if into else "src")
    # In place, the link's outputs are in the folder it leads to, gone with it.
    kept = [out / "one.webp", *([out / "linked" / n for n in ("b.webp", "c.webp")] * bool(into))]
    assert all(p.is_file() for p in kept)
    drive.rename(tmp_path / "unmounted")
    pruned = subprocess.run(
        [*argv, "--prune"], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert pruned.returncode == 0, pruned.stderr
    assert "note: src/one.jpg: broken symlink, skipped" in pruned.stderr
    assert "pruned" not in pruned.stderr + pruned.stdout
    assert all(p.is_file() for p in kept)
    # The link itself deleted: its sources are gone.
    (src / "one.jpg").unlink()
    (src / "linked").unlink()
    pruned = subprocess.run(
        [*argv, "--prune"], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert pruned.returncode == 0, pruned.stderr
    assert not any(p.exists() for p in kept)


def test_a_file_in_a_folder_that_cannot_be_searched_is_no_missing_file(tmp_path: Path) -> None:
    make_camera_jpeg(tmp_path / "locked" / "c.jpg")
    (tmp_path / "locked").chmod(0)
    argv = [*unprivileged(), sys.executable, "-m", "imgpar", "convert", "locked/c.jpg", "--to",
            "webp", "--out", "o"]  # fmt: skip
    try:
        run = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=120)
        info = subprocess.run([*argv[:-6], "info", "locked/c.jpg"], capture_output=True,
                              text=True, cwd=tmp_path, timeout=120)  # fmt: skip
    finally:
        (tmp_path / "locked").chmod(0o755)
    said = "imgpar: error: cannot read locked/c.jpg: permission denied on a folder on the way\n"
    assert (run.returncode, run.stderr) == (2, said)
    assert (info.returncode, info.stderr) == (2, said)


def test_a_name_with_a_newline_or_an_escape_prints_on_one_line(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    Image.new("RGB", (40, 30), (20, 90, 160)).save(src / "two\nlines.jpg")
    # Spelled with a backslash and an n: it printed as the one with a newline.
    Image.new("RGB", (40, 30), (20, 90, 160)).save(src / "two\\nlines.jpg")
    (src / "red\x1b[31m.jpg").write_bytes(b"not an image")
    out = tmp_path / "out"
    result = invoke("convert", src, "--to", "webp", "--out", out, "--verbose")
    assert result.exit_code == 1
    assert "\x1b" not in result.stderr
    assert f"converted: {src}/two\\nlines.jpg -> {out}/two\\nlines.webp (" in result.stderr
    assert f"converted: {src}/two\\\\nlines.jpg -> {out}/two\\\\nlines.webp (" in result.stderr
    assert f"failed: {src}/red\\x1b[31m.jpg: not an image imgpar can read" in result.stderr
    assert (out / "two\nlines.webp").is_file()  # the name itself is kept
    planned = invoke("convert", src, "--to", "webp", "--out", tmp_path / "o2", "--dry-run")
    assert planned.stdout.splitlines() == [
        f"{src}/red\\x1b[31m.jpg: would fail: not an image imgpar can read (unknown or"
        " unsupported format)",
        f"{src}/two\\nlines.jpg -> {tmp_path}/o2/two\\nlines.webp",
        f"{src}/two\\\\nlines.jpg -> {tmp_path}/o2/two\\\\nlines.webp",
    ]


def test_an_out_holding_its_source_and_a_link_loop_is_still_searched(tmp_path: Path) -> None:
    # The loop's entry raised as the folder was listed, and the folder's
    # other subfolders went unsearched: your images there were not seen.
    build_tree(tmp_path / "x", {"src/a.jpg": "small_jpeg", "sub/mine.jpg": "small_jpeg"})
    (tmp_path / "x" / "loop").symlink_to("loop")
    result = invoke("convert", tmp_path / "x" / "src", "--to", "png", "--out", tmp_path / "x",
                    "--dry-run")  # fmt: skip
    assert result.exit_code == 2
    assert f"images of yours, but is no imgpar output folder ({tmp_path}/x/sub/mine.jpg)" in (
        result.stderr
    )


def test_an_out_that_is_one_of_several_sources_is_refused(tmp_path: Path) -> None:
    one = build_tree(tmp_path / "one", {"a.jpg": "small_jpeg"})
    two = build_tree(tmp_path / "two", {"a.webp": "small_jpeg"})
    before = listing(tmp_path)
    result = invoke("convert", one, two, "--to", "webp", "--out", two)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "imgpar: error: --out is one of several SOURCES: the others' outputs would land"
        " among its sources (give an --out of its own)"
    )
    assert listing(tmp_path) == before
    # Alone, a folder still converts into itself.
    assert invoke("convert", one, "--to", "webp", "--out", one).exit_code == 0


@pytest.mark.parametrize(("source", "out"), [("photos", "link"), ("link", "photos")])
def test_an_out_that_is_the_source_through_a_link_converts_in_place(
    tmp_path: Path, source: str, out: str
) -> None:
    # The second run took its own a.png for a source (a.jpg.png beside it),
    # and the third refused the folder as another run's --out.
    photos = build_tree(tmp_path / "photos", {"a.jpg": "small_jpeg"})
    (tmp_path / "link").symlink_to(photos)
    args = ["convert", tmp_path / source, "--to", "png", "--out", tmp_path / out]
    for converted in (1, 0, 0):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(f"{converted} converted, {1 - converted} skipped, 0 failed")
    assert invoke("convert", photos, "--to", "png").stdout.startswith("0 converted, 1 skipped")
    assert sorted(p.name for p in photos.iterdir() if p.name[0] != ".") == ["a.jpg", "a.png"]
    with Image.open(photos / "a.png") as im:
        assert im.format == "PNG"


def test_a_source_inside_another_converted_twice_is_refused(tmp_path: Path) -> None:
    # Its files were converted twice into one folder: a.webp, then a.jpg.webp.
    src = build_tree(tmp_path / "p", {"t.jpg": "small_jpeg", "s/a.jpg": "small_jpeg"})
    before = listing(tmp_path)
    for inner in (src / "s", src / "s" / "a.jpg"):
        result = invoke("convert", src, inner, "--to", "webp")
        assert result.exit_code == 2
        assert result.stderr.strip() == (
            f"imgpar: error: {inner} is inside SOURCE {src}: converting in place, its"
            " files would be converted twice (name one of them)"
        )
    assert listing(tmp_path) == before
    # Into an --out, a file named as well as its folder was converted twice
    # too (o/s/a.webp and o/a.webp; o/t.webp and o/t.jpg.webp).
    for inner in (src / "t.jpg", src / "s" / "a.jpg"):
        result = invoke("convert", inner, src, "--to", "webp", "--out", tmp_path / "o")
        assert result.exit_code == 2
        assert result.stderr.strip() == (
            f"imgpar: error: {inner} is inside SOURCE {src}: it would be converted twice"
            " (name one of them)"
        )
    # So was a link named with its folder, whatever it leads to.
    elsewhere = build_tree(tmp_path / "else", {"x.jpg": "small_jpeg"})
    (src / "link.jpg").symlink_to(elsewhere / "x.jpg")
    linked = invoke("convert", src, src / "link.jpg", "--to", "webp", "--out", tmp_path / "o")
    assert linked.exit_code == 2
    assert f"{src / 'link.jpg'} is inside SOURCE {src}" in linked.stderr
    assert not (tmp_path / "o").exists()
    (src / "link.jpg").unlink()
    # And a file named through a link to a folder, which the walk follows.
    (src / "linked").symlink_to(elsewhere)
    through = invoke("convert", src, src / "linked" / "x.jpg", "--to", "webp", "--out",
                     tmp_path / "o")  # fmt: skip
    assert through.exit_code == 2
    assert f"{src / 'linked' / 'x.jpg'} is inside SOURCE {src}" in through.stderr
    (src / "linked").unlink()
    # What the walk of the folder never takes is converted once: fine.
    build_tree(src, {".hidden/h.png": "rgba_png"})
    (src / "r.json").write_bytes((src / "t.jpg").read_bytes())
    assert invoke("convert", src, "--to", "png", "--out", src / "thumbs").exit_code == 0
    for named in (src / ".hidden" / "h.png", src / "r.json", src / "thumbs" / "t.png"):
        once = invoke("convert", src, named, "--to", "webp", "--out", tmp_path / named.name)
        assert once.exit_code == 0, once.output
    # So is a folder inside, whose files went into two places (o/s/a.webp
    # and o/a.webp), each run converting them again; not one the walk
    # passes over.
    inner = invoke("convert", src, src / "s", "--to", "webp", "--out", tmp_path / "o")
    assert inner.exit_code == 2
    assert inner.stderr.strip() == (
        f"imgpar: error: {src / 's'} is inside SOURCE {src}: it would be converted twice"
        " (name one of them)"
    )
    # Named through a link in it, which the walk follows, too.
    (src / "there").symlink_to(elsewhere)
    for args in (["--out", tmp_path / "o"], []):
        linked = invoke("convert", src, src / "there", "--to", "webp", *args)
        assert linked.exit_code == 2, linked.output
        assert f"{src / 'there'} is inside SOURCE {src}" in linked.stderr
    (src / "there").unlink()
    assert not (tmp_path / "o").exists() and not list(elsewhere.glob("*.webp"))
    hidden = invoke("convert", src, src / ".hidden", "--to", "webp", "--out", tmp_path / "h")
    assert hidden.exit_code == 0, hidden.output
    made = sorted(p.name for p in (tmp_path / "h").rglob("*.webp"))
    assert made == ["a.webp", "h.webp", "t.webp"]


def test_a_source_folder_mounted_at_a_second_path_is_known_there(tmp_path: Path) -> None:
    # `-v ~/photos:/src -v ~/photos/sub:/sub`: a SOURCE inside another by
    # where it really is had its files converted into two places (o/sub/b.webp
    # and o/b.webp), and one folder named at both paths was two SOURCES
    # (b.webp and b.jpg.webp).
    photos, mnt = tmp_path / "photos", tmp_path / "mnt"
    build_tree(photos, {"a.jpg": "small_jpeg", "sub/b.jpg": "small_jpeg"})
    mnt.mkdir()
    convert = [sys.executable, "-m", "imgpar", "convert", "--to", "webp", "--out"]
    bind = f'mount --bind "{photos / "sub"}" "{mnt}"'
    for named in (mnt, mnt / "b.jpg"):
        done = after_mount(bind, [*convert, tmp_path / "o", photos, named])
        assert (done.returncode, done.stderr) == (
            2, f"imgpar: error: {named} is inside SOURCE {photos}: it would be converted"
            " twice (name one of them)\n",
        )  # fmt: skip
    assert not (tmp_path / "o").exists()
    once = after_mount(bind, [*convert, tmp_path / "once", photos / "sub", mnt])
    assert once.returncode == 0, once.stderr
    assert list(outputs_in(tmp_path / "once")) == ["b.webp"]


def test_quiet_prunes_without_a_line_per_file(tmp_path: Path) -> None:
    # --quiet promises failures and the summary only.
    src = build_tree(tmp_path / "src", {"a.jpg": "small_jpeg", "b.jpg": "small_jpeg"})
    out = tmp_path / "out"
    assert invoke("convert", src, "--to", "webp", "--out", out).exit_code == 0
    (src / "b.jpg").unlink()
    quiet = invoke("convert", src, "--to", "webp", "--out", out, "--prune", "--quiet")
    assert quiet.exit_code == 0
    assert quiet.stderr == ""
    assert not (out / "b.webp").exists() and (out / "a.webp").is_file()


def test_a_source_smaller_than_asked_is_not_enlarged_and_the_run_says_so(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    Image.new("RGB", (10, 8), (200, 40, 40)).save(src / "t.png")
    Image.new("RGB", (1000, 800), (40, 40, 200)).save(src / "big.png")
    asks = (["--scale", "300"], ["--width", "640", "--height", "640", "--fit", "cover"])
    for n, (ask, sizes) in enumerate(zip(asks, ([(10, 8), (1000, 800)], [(8, 8), (640, 640)]),
                                         strict=True)):  # fmt: skip
        out = tmp_path / f"out{n}"
        result = invoke("convert", src, "--to", "webp", "--out", out, *ask)
        assert result.exit_code == 0, result.output
        said = 2 if ask[0] == "--scale" else 1
        # (Other lines may come on a busy machine: the note of workers waiting.)
        assert (
            f"note: {said} source{'s' if said > 1 else ''} smaller than the size asked for:"
            f" not enlarged; --upscale enlarges {'them' if said > 1 else 'it'}"
        ) in result.stderr.splitlines()
        assert [Image.open(out / f"{s}.webp").size for s in ("t", "big")] == sizes
    upscaled = invoke("convert", src, "--to", "webp", "--out", tmp_path / "up", "--scale", "300",
                      "--upscale")  # fmt: skip
    assert "smaller than the size asked" not in upscaled.stderr
    assert Image.open(tmp_path / "up" / "t.webp").size == (30, 24)
