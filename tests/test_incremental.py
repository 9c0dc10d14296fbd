"""Build steps: incremental re-runs, many outputs per source, manifest,
--check, --prune, settings files and the Python API."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from conftest import API_CONVERT, fresh_python, outputs_in
from PIL import Image
from typer.testing import CliRunner

import imgpar
from imgpar.api import prepare
from imgpar.cache import CACHE_NAME, kind_of_cache
from imgpar.cli import app
from imgpar.colour import is_srgb
from imgpar.manifest import Manifest
from imgpar.plan import KEPT_OUTPUTS
from imgpar.spec import OutputRecord, Result
from imgpar.temps import temp_prefix


def _photo(path: Path, size: tuple[int, int], shade: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.linear_gradient("L").resize(size).convert("RGB")
    im.paste((shade, 120, 200), (0, 0, size[0] // 4, size[1] // 4))
    im.save(path, quality=90)
    return path


@pytest.fixture
def site(tmp_path: Path) -> Path:
    src = tmp_path / "assets"
    _photo(src / "hero.jpg", (1600, 900))
    _photo(src / "team" / "ann.jpg", (800, 1000), 40)
    _photo(src / "team" / "bob.jpg", (300, 200), 80)
    return src


def invoke_convert(source: Path, *args: str | Path) -> Any:
    return CliRunner().invoke(app, ["convert", str(source), "--to", "webp", *map(str, args)])


def _statuses(report: imgpar.api.Report) -> dict[str, str]:
    return {Path(r.source).name: r.status for r in report.files}


def _bytes(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".imgpar")
    }


def test_second_run_skips_everything_without_decoding(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = imgpar.convert([site], to="webp", out=out, jobs=2)
    assert set(_statuses(first).values()) == {"converted"}
    # A fresh interpreter proves the no-op run decodes nothing: the parent never
    # loads Pillow itself, the engine or the executor, and no worker starts.
    code = API_CONVERT.format(jobs=2) + (
        "print(sorted({f.status for f in r.files}), any(f.worker for f in r.files),"
        " [m for m in ('PIL.Image', 'imgpar.engine', 'concurrent.futures.process',"
        " 'tqdm') if m in sys.modules])"
    )
    assert fresh_python(code, site, out).split() == ["['skipped']", "False", "[]"]


# What a module costs every run, a no-op re-run's included, if the command's
# own process imports it: OpenSSL (hashlib, secrets), ctypes (malloc tuning),
# Pillow and the engine, tempfile (and random) for catching what C libraries print.
_HEAVY = ("_hashlib", "ctypes", "PIL.Image", "imgpar.engine", "concurrent.futures.process",
          "imgpar.report", "imgpar.manifest", "tempfile")  # fmt: skip

_CLI_RUN = (
    "import sys\n"
    "from imgpar.cli import run\n"
    "code = run(sys.argv[1:])\n"
    f"heavy = [m for m in {_HEAVY!r} if m in sys.modules]\n"
    "heap = sys.modules.get('imgpar.heap')\n"
    "print(code, heap is not None and heap._trim is not None, heavy)\n"
)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_command_no_op_rerun_loads_nothing_heavy(site: Path, tmp_path: Path, jobs: str) -> None:
    out = tmp_path / "out"
    argv = ["convert", str(site), "--to", "webp", "--out", str(out), "--jobs", jobs, "--quiet"]
    # --jobs 1 converts in the command's own process, with malloc tuned for
    # images as in a worker (heap.py); --jobs 2 leaves that to the workers.
    assert fresh_python(_CLI_RUN, *argv).split()[:2] == ["0", str(jobs == "1")]
    assert fresh_python(_CLI_RUN, *argv).split() == ["0", "False", "[]"]


def test_a_program_calling_the_api_keeps_its_malloc(site: Path, tmp_path: Path) -> None:
    code = API_CONVERT.format(jobs=1) + (
        "from imgpar import heap\n"
        "print(sorted({f.status for f in r.files}), heap._trim is not None)"
    )
    assert fresh_python(code, site, tmp_path / "out").split() == ["['converted']", "False"]


def test_options_key_is_stable() -> None:
    # Every cache entry records this key: a change to it makes every user's
    # next run convert everything again. Change these values only with a
    # change to what is written (and OUTPUT_VERSION).
    from imgpar.api import prepare

    # _create_out=False: a prepared --out is marked as imgpar's at once, and
    # "o" is under the folder the suite runs in.

    webp = prepare(["."], to="webp", out="o", _create_out=False)
    assert webp.options_key == "2efd47fb8d1a3b4bbd21b659"  # no-gps places: 2026-12-08
    several = prepare(
        ["."], to="webp,avif", max_size="480,960", quality=70, out="o", _create_out=False
    )
    assert several.options_key == "af649b016b67b0f51b6bf5b1"
    cover = prepare(
        ["."], to="jpeg", width=300, height=200, fit="cover", gravity="north", srgb=True,
        metadata="none", out="o", _create_out=False,
    )  # fmt: skip
    assert cover.options_key == "0f981a0a5a4a0ab60bd1120c"
    scaled = prepare(["."], to="png", scale=33.3333, lossless=True, out="o", _create_out=False)
    assert scaled.options_key == "9be962a8b1951e9f8d8a5066"


def test_touched_changed_and_reoptioned_sources(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    imgpar.convert([site], to="webp", out=out, jobs=1)
    before = _bytes(out)
    # Touching a file without changing it redoes nothing.
    os.utime(site / "hero.jpg", ns=(1, 1))
    again = imgpar.convert([site], to="webp", out=out, jobs=1)
    assert set(_statuses(again).values()) == {"skipped"}
    # Changing one source redoes exactly its outputs.
    _photo(site / "team" / "bob.jpg", (300, 200), 250)
    changed = imgpar.convert([site], to="webp", out=out, jobs=1)
    assert _statuses(changed) == {
        "hero.jpg": "skipped",
        "ann.jpg": "skipped",
        "bob.jpg": "converted",
    }
    after = _bytes(out)
    assert {k for k in after if after[k] != before[k]} == {"team/bob.webp"}
    # Changing an option that shapes the output redoes all.
    requal = imgpar.convert([site], to="webp", out=out, jobs=1, quality=50)
    assert set(_statuses(requal).values()) == {"converted"}


def test_copied_output_folder_and_fresh_mtimes_redo_nothing(site: Path, tmp_path: Path) -> None:
    imgpar.convert([site], to="webp", out=tmp_path / "out", jobs=1)
    # What a CI cache restore looks like: outputs elsewhere, sources checked out anew.
    checkout = tmp_path / "ci" / "assets"
    shutil.copytree(site, checkout, copy_function=shutil.copyfile)
    shutil.copytree(tmp_path / "out", tmp_path / "ci" / "out")
    report = imgpar.convert([checkout], to="webp", out=tmp_path / "ci" / "out", jobs=1)
    assert set(_statuses(report).values()) == {"skipped"}
    assert report.files[0].outputs[0].bytes > 0


def test_an_out_run_over_a_tree_converted_in_place_skips_its_outputs(tmp_path: Path) -> None:
    """The nearest in-place cache at or above each folder says which files
    there are outputs: a tree converted as a whole, or a folder on its own."""
    photos, albums = tmp_path / "photos", tmp_path / "albums"
    (photos / "other").mkdir(parents=True)
    (albums / "sub").mkdir(parents=True)
    Image.new("RGB", (300, 200), (250, 0, 0)).save(photos / "a.jpg")
    Image.new("RGB", (200, 100), (0, 250, 0)).save(photos / "other" / "c.png")
    Image.new("RGB", (200, 100), (0, 0, 250)).save(albums / "sub" / "b.png")
    (tmp_path / "link").symlink_to(photos / "other")
    runner = CliRunner()
    for folder in (photos, albums / "sub"):
        assert runner.invoke(app, ["convert", str(folder), "--to", "webp"]).exit_code == 0
    assert sorted(outputs_in(photos)) == ["a.jpg", "a.webp", "other/c.png", "other/c.webp"]
    for source, made in (
        (photos, ["a.jpg", "other/c.jpg"]),
        (photos / "other", ["c.jpg"]),  # a folder of the tree alone
        (tmp_path / "link", ["c.jpg"]),  # the same through a link
        (albums, ["sub/b.jpg"]),
    ):
        out = tmp_path / f"web-{source.name}"
        result = runner.invoke(app, ["convert", str(source), "--to", "jpeg", "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert sorted(outputs_in(out)) == made


def test_names_do_not_depend_on_the_order_of_sources(tmp_path: Path) -> None:
    for cam, name in (("cam1", "x.jpg"), ("cam2", "X.png")):
        (tmp_path / cam / "trip").mkdir(parents=True)
        Image.new("RGB", (80, 60), (250, 0, 0)).save(tmp_path / cam / "trip" / name)
    out = tmp_path / "web"
    runner = CliRunner()
    for cams in (("cam1", "cam2"), ("cam2", "cam1")):
        args = ["convert", *(str(tmp_path / c) for c in cams), "--to", "webp", "--out", str(out)]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert sorted(outputs_in(out)) == ["trip/X.png.webp", "trip/x.webp"]
    assert "0 converted, 2 skipped" in result.output


def test_sizes_that_share_a_name_are_written_once(tmp_path: Path) -> None:
    """A strip 3 pixels wide is 1 pixel wide at both sizes: named by its
    width, one file, never two outputs at one path."""
    src, out, manifest = tmp_path / "src", tmp_path / "out", tmp_path / "m.json"
    src.mkdir()
    Image.linear_gradient("L").resize((3, 3000)).save(src / "line.png")
    args = ["convert", str(src), "--to", "webp", "--max-size", "480,960", "--out", str(out),
            "--manifest", str(manifest)]  # fmt: skip
    runner = CliRunner()
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert sorted(outputs_in(out)) == ["line-1.webp"]
    with Image.open(out / "line-1.webp") as im:
        assert im.size == (1, 480)  # the first size asked for
    srcset = json.loads(manifest.read_text())["sources"]["line.png"]["formats"]["webp"]["srcset"]
    assert srcset == "line-1.webp 1w"
    assert runner.invoke(app, [*args, "--check"]).exit_code == 0
    again = runner.invoke(app, args)
    assert "0 converted, 1 skipped" in again.output


def test_widths_and_formats_from_one_decode_with_manifest(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    runner = CliRunner()
    args = [
        "convert",
        str(site),
        "--to",
        "webp,avif",
        "--width",
        "320,640",
        "--out",
        str(out),
        "--manifest",
        str(tmp_path / "m.json"),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    names = sorted(Path(rel).name for rel in outputs_in(out))
    assert names == sorted(
        [
            "hero-320.webp",
            "hero-640.webp",
            "hero-320.avif",
            "hero-640.avif",
            "ann-320.webp",
            "ann-640.webp",
            "ann-320.avif",
            "ann-640.avif",
            # bob is 300 px wide: its own width, once per format, never upscaled
            "bob-300.webp",
            "bob-300.avif",
        ]
    )
    with Image.open(out / "hero-640.avif") as im:
        assert im.size == (640, 360)
    manifest = json.loads((tmp_path / "m.json").read_text())
    hero = manifest["sources"]["hero.jpg"]
    assert hero["width"] == 1600
    assert hero["formats"]["webp"]["srcset"] == "hero-320.webp 320w, hero-640.webp 640w"
    assert [o["width"] for o in hero["formats"]["avif"]["outputs"]] == [320, 640]
    assert hero["formats"]["avif"]["outputs"][0]["bytes"] == (out / "hero-320.avif").stat().st_size
    assert list(manifest["sources"]) == sorted(manifest["sources"])
    # A no-op run writes the same manifest: skipped outputs come from the cache.
    first = (tmp_path / "m.json").read_text()
    before = (tmp_path / "m.json").stat()
    assert runner.invoke(app, args).exit_code == 0
    assert (tmp_path / "m.json").read_text() == first
    # Not rewritten at all: a make rule or a watcher keyed on it stays still.
    after = (tmp_path / "m.json").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    # --check holds the manifest to what a run would write.
    assert runner.invoke(app, [*args, "--check"]).exit_code == 0
    for damage in ("", first.replace('"bytes"', '"byte"', 1), None):
        if damage is None:
            (tmp_path / "m.json").unlink()
        else:
            (tmp_path / "m.json").write_text(damage)
        checked = runner.invoke(app, [*args, "--check"])
        assert checked.exit_code == 1
        assert checked.stdout.splitlines() == [
            f"stale: {tmp_path / 'm.json'} (the manifest: missing or not what a run writes)"
        ]
    assert not (tmp_path / "m.json").exists()  # --check writes nothing
    # Missing, it is told beside stale sources too.
    _photo(site / "new.jpg", (300, 200))
    checked = runner.invoke(app, [*args, "--check"])
    assert checked.stdout.splitlines() == [
        f"stale: {site / 'new.jpg'}",
        f"stale: {tmp_path / 'm.json'} (the manifest: missing or not what a run writes)",
    ]


def test_a_new_format_or_width_makes_only_what_is_new(site: Path, tmp_path: Path) -> None:
    # hero.jpg is 1600 px wide, team/ann.jpg 800 and team/bob.jpg 300.
    out, manifest = tmp_path / "out", tmp_path / "m.json"
    runner = CliRunner()
    base = ["convert", str(site), "--out", str(out), "--manifest", str(manifest)]
    narrow = [*base, "--to", "webp", "--width", "320,480"]
    assert runner.invoke(app, narrow).exit_code == 0
    webp = outputs_in(out)
    both = [*base, "--to", "webp,jpeg", "--width", "320,480"]
    planned = runner.invoke(app, [*both, "--dry-run"])
    assert planned.exit_code == 0
    jpegs = [
        "hero-320.jpg", "hero-480.jpg", "team/ann-320.jpg", "team/ann-480.jpg", "team/bob-300.jpg"
    ]  # fmt: skip
    said = [Path(line.split(" -> ")[1]).relative_to(out).as_posix()
            for line in planned.stdout.splitlines() if " -> " in line]  # fmt: skip
    assert said == jpegs

    added = runner.invoke(app, [*both, "--report", str(tmp_path / "r.json")])
    assert added.exit_code == 0, added.output
    assert "note: 3 sources made only some outputs: the others were up to date" in added.stderr
    after = outputs_in(out)
    assert {rel: after[rel] for rel in webp} == webp  # not one of them written again
    assert sorted(set(after) - set(webp)) == sorted(jpegs)
    with Image.open(out / "hero-480.jpg") as im:
        assert (im.format, im.size) == ("JPEG", (480, 270))
    # The report and the manifest still list every output of each source.
    report = json.loads((tmp_path / "r.json").read_text())
    bob = next(f for f in report["files"] if f["source"].endswith("bob.jpg"))
    assert bob["status"] == "converted"
    assert sorted(Path(o["path"]).name for o in bob["outputs"]) == ["bob-300.jpg", "bob-300.webp"]
    hero = json.loads(manifest.read_text())["sources"]["hero.jpg"]["formats"]
    assert [o["width"] for o in hero["webp"]["outputs"]] == [320, 480]
    assert [o["width"] for o in hero["jpeg"]["outputs"]] == [320, 480]
    assert runner.invoke(app, [*both, "--check"]).exit_code == 0

    # A wider output: ann and bob make only it. hero.jpg was decoded at half
    # size for 480 px, and must be decoded whole for 1000: its outputs would
    # differ a little from such a run's, so all of them are made again.
    wider = [*base, "--to", "webp,jpeg", "--width", "320,480,1000"]
    before = outputs_in(out)
    assert runner.invoke(app, wider).exit_code == 0
    remade = outputs_in(out)
    assert {rel for rel in before if remade[rel] != before[rel]} == {
        "hero-320.webp", "hero-480.webp", "hero-320.jpg", "hero-480.jpg"
    }  # fmt: skip
    assert sorted(set(remade) - set(before)) == [
        "hero-1000.jpg", "hero-1000.webp", "team/ann-800.jpg", "team/ann-800.webp"
    ]  # fmt: skip
    # Whatever ran before, the outputs are those of a run that makes them all.
    fresh = tmp_path / "fresh"
    assert runner.invoke(app, [*wider[:2], "--out", str(fresh), *wider[6:]]).exit_code == 0
    assert _bytes(out) == _bytes(fresh)

    # A deleted output is made again, alone.
    (out / "team" / "ann-480.webp").unlink()
    assert runner.invoke(app, wider).exit_code == 0
    again = outputs_in(out)
    assert {rel for rel in again if again[rel] != remade.get(rel)} == {"team/ann-480.webp"}

    # Back to fewer: nothing is written, and what is no longer made is
    # imgpar's to prune. (hero would now decode at half size again: remade.)
    fewer = runner.invoke(app, both)
    assert fewer.exit_code == 0
    note = "note: 4 earlier outputs no source makes now; --prune deletes them"
    assert fewer.stderr.strip() == note
    assert {rel for rel in again if outputs_in(out).get(rel) != again[rel]} == {
        "hero-320.webp", "hero-480.webp", "hero-320.jpg", "hero-480.jpg",
    }  # fmt: skip
    checked = runner.invoke(app, [*both, "--check"])
    assert checked.exit_code == 1
    orphans = [line for line in checked.stdout.splitlines() if line.startswith("orphan: ")]
    assert len(orphans) == 4
    assert runner.invoke(app, [*both, "--prune"]).exit_code == 0
    assert sorted(outputs_in(out)) == sorted([*webp, *jpegs])


@pytest.mark.parametrize(
    "widths", [[], ["--width", "20,40"], ["--width", "20,40", "--name", "{stem}.{width}.{ext}"]]
)
def test_names_follow_a_sibling_of_the_same_name_as_a_fresh_run(
    tmp_path: Path, widths: list[str]
) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    _photo(src / "a.jpg", (60, 40))
    runner = CliRunner()
    args = ["convert", str(src), "--to", "webp", "--out", str(out), *widths]

    def fresh() -> set[str]:
        shutil.rmtree(tmp_path / "fresh", ignore_errors=True)
        made = runner.invoke(app, [*args[:4], "--out", str(tmp_path / "fresh"), *widths])
        assert made.exit_code == 0
        return set(outputs_in(tmp_path / "fresh"))

    assert runner.invoke(app, args).exit_code == 0
    # A sibling of the same name: both outputs now keep the source extension.
    Image.new("RGB", (30, 20), (20, 40, 200)).save(src / "a.png")
    assert runner.invoke(app, [*args, "--check"]).exit_code == 1
    assert runner.invoke(app, [*args, "--prune"]).exit_code == 0
    assert set(outputs_in(out)) == fresh()
    # ... and once it is gone, they no longer need to.
    (src / "a.png").unlink()
    assert runner.invoke(app, [*args, "--check"]).exit_code == 1
    assert runner.invoke(app, [*args, "--prune"]).exit_code == 0
    assert set(outputs_in(out)) == fresh()
    assert runner.invoke(app, [*args, "--check"]).exit_code == 0


def test_in_place_outputs_in_a_subfolder_are_never_sources(tmp_path: Path) -> None:
    src = tmp_path / "p"
    _photo(src / "a.jpg", (800, 600))
    _photo(src / "team" / "b.jpg", (600, 800))
    runner = CliRunner()
    # The first run too: its own outputs, written while it walks, are no
    # sources of it (the web/ folder exists beforehand, and is walked).
    many = tmp_path / "many"
    (many / "web").mkdir(parents=True)
    for i in range(30):
        _photo(many / f"m{i:02d}.jpg", (60, 40), i)
    first = ["convert", str(many), "--to", "webp", "--name", "web/{stem}.{ext}", "--jobs", "1"]
    assert runner.invoke(app, first).exit_code == 0
    assert sorted(p.relative_to(many).as_posix() for p in many.rglob("*.webp")) == [
        f"web/m{i:02d}.webp" for i in range(30)
    ]
    sized = ["convert", str(src), "--to", "webp", "--width", "320,640",
             "--name", "{width}/{stem}.{ext}"]  # fmt: skip
    made = [
        "320/a.webp", "640/a.webp", "a.jpg", "team/320/b.webp", "team/600/b.webp", "team/b.jpg"
    ]  # fmt: skip
    for _ in range(3):
        assert runner.invoke(app, sized).exit_code == 0
        assert sorted(Path(rel).as_posix() for rel in outputs_in(src)) == made
        assert runner.invoke(app, [*sized, "--check"]).exit_code == 0
    # Another template: the earlier outputs are imgpar's, to prune, not sources.
    web = ["convert", str(src), "--to", "webp", "--name", "web/{stem}.{ext}"]
    for _ in range(2):
        assert runner.invoke(app, web).exit_code == 0
    assert runner.invoke(app, [*web, "--prune"]).exit_code == 0
    assert sorted(Path(rel).as_posix() for rel in outputs_in(src)) == [
        "a.jpg", "team/b.jpg", "team/web/b.webp", "web/a.webp"
    ]  # fmt: skip




@pytest.mark.parametrize("sized", [False, True])
@pytest.mark.parametrize("first", ["sub", "tree"])
def test_a_subfolder_and_its_tree_converted_in_place_in_turn(
    tmp_path: Path, first: str, sized: bool
) -> None:
    """Each run's cache is the other's to read: its outputs are imgpar's,
    neither sources (`a.webp.webp`) nor files to name around (`a.jpg.webp`),
    also in folders named by the size; one the user changed since stays theirs."""
    tree = tmp_path / "photos"
    sub = tree / "2024"
    _photo(tree / "t.jpg", (400, 300))
    _photo(sub / "a.jpg", (400, 300), 1)
    _photo(sub / "b.jpg", (400, 300), 2)
    options: dict[str, object] = {"width": "320", "name": "{width}/{stem}.{ext}"} if sized else {}
    place = "320/" if sized else ""

    def run(folder: Path) -> dict[str, str]:
        report = imgpar.convert([folder], to="webp", jobs=1, **options)
        return {Path(f.source).name: f.status for f in report.files}

    order = [sub, tree] if first == "sub" else [tree, sub]
    assert set(run(order[0]).values()) == {"converted"}
    assert set(run(order[1]).values()) == {"converted"}
    assert sorted(outputs_in(tree)) == sorted([
        f"2024/{place}a.webp", f"2024/{place}b.webp", "2024/a.jpg", "2024/b.jpg", "t.jpg",
        f"{place}t.webp",
    ])  # fmt: skip
    with Image.open(sub / f"{place}a.webp") as im:
        assert im.size == ((320, 240) if sized else (400, 300))
    assert set(run(tree).values()) == {"skipped"}
    assert set(run(sub).values()) == {"skipped"}
    # The user's own b.webp now: no run writes over it.
    (sub / f"{place}b.webp").write_bytes(b"the user's own, longer than imgpar's output" * 100)
    _photo(sub / "b.jpg", (400, 300), 3)
    report = imgpar.convert([order[1]], to="webp", jobs=1, **options)
    (failed,) = [f for f in report.files if f.status == "failed"]
    assert Path(failed.source).name == "b.jpg"
    assert failed.error is not None
    assert failed.error.startswith(f"its output would overwrite a file imgpar did not write: {sub}")
    assert (sub / f"{place}b.webp").read_bytes().startswith(b"the user's own")


def test_an_earlier_output_you_replaced_is_a_source_at_once(tmp_path: Path) -> None:
    # In place, a.png was imgpar's (--to png); you saved your own over it.
    folder = tmp_path / "p"
    _photo(folder / "a.jpg", (60, 40))
    imgpar.convert([folder], to="png", jobs=1)
    Image.new("RGB", (50, 50), (0, 0, 255)).save(folder / "a.png")
    runner = CliRunner()
    run = runner.invoke(app, ["convert", str(folder), "--to", "webp"])
    assert run.exit_code == 0, run.output
    assert run.stdout.startswith("2 converted, 0 skipped, 0 failed")
    assert sorted(outputs_in(folder)) == ["a.jpg", "a.jpg.webp", "a.png", "a.png.webp"]
    with Image.open(folder / "a.png.webp") as im:
        assert im.size == (50, 50)
    check = runner.invoke(app, ["convert", str(folder), "--to", "webp", "--check"])
    assert check.exit_code == 0, check.output
    # A file named alone is named as a run on its folder names it.
    other = tmp_path / "q"
    _photo(other / "a.jpg", (60, 40))
    imgpar.convert([other], to="png", jobs=1)
    Image.new("RGB", (50, 50), (0, 0, 255)).save(other / "a.png")
    named = runner.invoke(app, ["convert", str(other / "a.jpg"), "--to", "webp"])
    assert named.exit_code == 0, named.output
    assert sorted(outputs_in(other)) == ["a.jpg", "a.jpg.webp", "a.png"]


def test_nested_in_place_runs_in_other_formats_and_an_out_run_over_them(tmp_path: Path) -> None:
    """A subfolder, then its tree, then the subfolder again, each to another
    format: no run converts another's outputs, nor does an --out run over
    them all, which reads every in-place cache at or above a folder."""
    tree = tmp_path / "photos"
    sub = tree / "sub"
    _photo(tree / "t.jpg", (300, 200))
    _photo(sub / "c.jpg", (400, 300), 1)
    Image.new("RGBA", (200, 100), (0, 250, 0, 128)).save(sub / "d.png")
    for folder, to in ((sub, "png"), (tree, "webp"), (sub, "png")):
        report = imgpar.convert([folder], to=to, jobs=1)
        assert {f.status for f in report.files} <= {"converted", "skipped"}
    assert sorted(outputs_in(tree)) == [
        "sub/c.jpg", "sub/c.png", "sub/c.webp", "sub/d.png", "sub/d.webp", "t.jpg", "t.webp"
    ]  # fmt: skip
    out = tmp_path / "web"
    report = imgpar.convert([tree], to="jpeg", out=out, jobs=1)
    assert sorted(Path(f.source).relative_to(tree).as_posix() for f in report.files) == [
        "sub/c.jpg", "sub/d.png", "t.jpg"
    ]  # fmt: skip


@pytest.mark.parametrize("pruned", ["sub", "tree"])
def test_prune_spares_what_another_in_place_run_makes_now(tmp_path: Path, pruned: str) -> None:
    """A subfolder and its tree converted in place to PNG, each with its own
    cache; then one of them to WebP with --prune: its PNGs there are
    superseded for it, but the other run's outputs now, and stay."""
    tree = tmp_path / "photos"
    sub = tree / "sub"
    _photo(tree / "t.jpg", (300, 200))
    _photo(sub / "a.jpg", (300, 200), 1)
    first, second = (sub, tree) if pruned == "sub" else (tree, sub)
    imgpar.convert([first], to="png", jobs=1)
    imgpar.convert([second], to="png", jobs=1, force=True)
    runner = CliRunner()
    target = sub if pruned == "sub" else tree
    result = runner.invoke(app, ["convert", str(target), "--to", "webp", "--prune"])
    assert result.exit_code == 0, result.output
    assert (sub / "a.png").is_file()
    other = tree if pruned == "sub" else sub
    checked = runner.invoke(app, ["convert", str(other), "--to", "png", "--check"])
    assert checked.exit_code == 0, checked.output
    if pruned == "tree":
        assert "pruned: " + str(tree / "t.png") in result.stderr.splitlines()



def test_in_place_a_file_sources_folder_is_pruned_for_that_file(tmp_path: Path) -> None:
    # Its cache is its folder's, which --prune, --check and the count of
    # outputs left behind never read: a.webp stayed. Another source gone
    # from the folder is not the named file's business, as into an --out.
    src = tmp_path / "src"
    _photo(src / "a.jpg", (100, 50))
    _photo(src / "b.jpg", (100, 50))
    imgpar.convert([src], to="webp", jobs=1)
    (src / "b.jpg").unlink()
    runner = CliRunner()
    checked = runner.invoke(app, ["convert", str(src / "a.jpg"), "--to", "png", "--check"])
    assert checked.exit_code == 1
    assert f"orphan: {src / 'a.webp'}" in checked.stdout
    result = runner.invoke(app, ["convert", str(src / "a.jpg"), "--to", "png", "--prune"])
    assert result.exit_code == 0, result.output
    assert f"pruned: {src / 'a.webp'}" in result.stderr.splitlines()
    assert sorted(p.name for p in src.iterdir() if not p.name.startswith(".")) == [
        "a.jpg", "a.png", "b.webp"
    ]


@pytest.mark.parametrize("first", ["sub", "tree"])
def test_an_output_both_nested_runs_record_is_pruned_once_its_source_goes(
    tmp_path: Path, first: str
) -> None:
    tree = tmp_path / "photos"
    sub = tree / "sub"
    _photo(tree / "t.jpg", (300, 200))
    _photo(sub / "a.jpg", (300, 200), 1)
    for folder in (sub, tree) if first == "sub" else (tree, sub):
        imgpar.convert([folder], to="webp", jobs=1, force=True)
    (sub / "a.jpg").unlink()
    runner = CliRunner()
    checked = runner.invoke(app, ["convert", str(sub), "--to", "webp", "--check"])
    assert checked.exit_code == 1
    assert f"orphan: {sub / 'a.webp'} (no source makes it now" in checked.stdout
    runner.invoke(app, ["convert", str(sub), "--to", "webp", "--prune"])
    assert not (sub / "a.webp").exists()


@pytest.mark.parametrize("in_place", [False, True])
def test_an_output_a_new_source_makes_under_a_gone_ones_name_is_kept(
    tmp_path: Path, in_place: bool
) -> None:
    src = tmp_path / "src"
    _photo(src / "UP.JPG", (60, 40))
    _photo(src / "b.jpg", (60, 40))
    out = src if in_place else tmp_path / "out"
    runner = CliRunner()
    args = ["convert", str(src), "--to", "webp", *([] if in_place else ["--out", str(out)])]
    assert runner.invoke(app, args).exit_code == 0
    (src / "UP.JPG").rename(src / "UP.jpg")  # the same name for its output
    b = src / "b.jpg"
    Image.new("RGB", (30, 20), (10, 200, 10)).save(src / "b.png")  # b exported again
    b.unlink()
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "no source makes now" not in again.stderr
    assert runner.invoke(app, [*args, "--check"]).exit_code == 0
    before = outputs_in(out)
    pruned = runner.invoke(app, [*args, "--prune"])
    assert pruned.exit_code == 0 and "pruned" not in pruned.stderr
    assert outputs_in(out) == before
    with Image.open(out / "b.webp") as im:
        assert im.size == (30, 20)
    # A gone source's output the user has written over since is the user's.
    (src / "b.png").unlink()
    (out / "b.webp").write_bytes(b"the user's own file, since")
    assert runner.invoke(app, [*args, "--prune"]).exit_code == 0
    assert (out / "b.webp").read_bytes() == b"the user's own file, since"


def test_prune_removes_the_folders_it_empties_but_never_a_source_folder(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    _photo(src / "a.jpg", (800, 600))
    _photo(src / "2024" / "b.jpg", (800, 600))
    runner = CliRunner()
    sized = ["convert", str(src), "--to", "webp", "--name", "{width}/{stem}.{ext}"]
    assert runner.invoke(app, [*sized, "--width", "320,640", "--out", str(out)]).exit_code == 0
    pruned = runner.invoke(app, [*sized, "--width", "320", "--out", str(out), "--prune"])
    assert pruned.exit_code == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_dir()) == [
        "2024", "2024/320", "320"
    ]  # fmt: skip
    # In place, a folder whose sources are gone is the user's: it stays.
    assert runner.invoke(app, sized[:4]).exit_code == 0
    (src / "2024" / "b.jpg").unlink()
    assert runner.invoke(app, [*sized[:4], "--prune"]).exit_code == 0
    assert (src / "2024").is_dir() and not (src / "2024" / "b.webp").exists()


def test_a_cache_row_from_before_output_settings_stays_up_to_date(
    site: Path, tmp_path: Path
) -> None:
    import sqlite3

    out = tmp_path / "out"
    imgpar.convert([site], to="webp", out=out, jobs=1)
    # As an imgpar that recorded only the run's key wrote it.
    with contextlib.closing(sqlite3.connect(out / CACHE_NAME)) as db, db:
        db.execute("UPDATE sources SET options = substr(options, 1, instr(options, ' ') - 1)")
    assert set(_statuses(imgpar.convert([site], to="webp", out=out, jobs=1)).values()) == {
        "skipped"
    }
    # Which settings made its outputs is not known: another run makes them all.
    before = outputs_in(out)
    both = imgpar.convert([site], to="webp,avif", out=out, jobs=1)
    assert all(KEPT_OUTPUTS not in f.notes for f in both.files)
    after = outputs_in(out)
    assert all(after[rel][1] != before[rel][1] for rel in before)


def test_manifest_keys_keep_several_sources_apart(tmp_path: Path) -> None:
    for folder, colour in (("assets", (200, 30, 30)), ("content/images", (30, 30, 200))):
        (tmp_path / folder / "products").mkdir(parents=True)
        Image.new("RGB", (400, 300), colour).save(tmp_path / folder / "products" / "p.png")
    out = tmp_path / "dist"
    result = CliRunner().invoke(
        app,
        ["convert", str(tmp_path / "assets"), str(tmp_path / "content" / "images"),
         "--to", "webp", "--out", str(out), "--manifest", str(tmp_path / "m.json")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    sources = json.loads((tmp_path / "m.json").read_text())["sources"]
    assert sorted(sources) == ["assets/products/p.png", "content/images/products/p.png"]
    paths = {k: v["formats"]["webp"]["outputs"][0]["path"] for k, v in sources.items()}
    # Both mirror into dist/products: the second keeps its extension.
    assert sorted(paths.values()) == ["products/p.png.webp", "products/p.webp"]
    for key, path in paths.items():
        with Image.open(out / path) as im:
            blue = im.getpixel((10, 10))[2] > 150
        assert blue == key.startswith("content")


def test_a_manifest_holds_little_per_source_and_reads_as_it_always_did(tmp_path: Path) -> None:
    # As dicts of dicts, 100,000 sources held 455 MB of the parent's memory
    # until the manifest was written; the file itself must not change.
    (tmp_path / "src").mkdir()
    listing = Manifest(str(tmp_path / "m.json"), sources=[str(tmp_path / "src")], out=None)
    outputs = (
        OutputRecord(str(tmp_path / "src" / "a-320.webp"), "WEBP", 320, 240, 9000),
        OutputRecord(str(tmp_path / "src" / "a-640.webp"), "WEBP", 640, 480, 30000),
        OutputRecord(str(tmp_path / "src" / "a-320.avif"), "AVIF", 320, 240, 7000),
    )
    names = [f"d{i % 7}/é {i:05d}.jpg" for i in range(2000)]
    # The paths made before the count: Python 3.13's pathlib interns their
    # parts in a table that grows by megabytes, and was counted as held.
    sources = [str(tmp_path / "src" / name) for name in names]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for source in sources:
        listing.add(Result(source=source, status="converted", outputs=outputs,
                           source_bytes=50_000, width=640, height=480))  # fmt: skip
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert held / len(names) < 1500  # bytes per source; 4.3 KB as dicts
    listing.write()
    text = (tmp_path / "m.json").read_text(encoding="utf-8")
    data = json.loads(text)
    assert text == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert sorted(data["sources"]) == sorted(names)
    entry = data["sources"][names[0]]
    assert entry["formats"]["webp"]["srcset"] == "a-320.webp 320w, a-640.webp 640w"
    assert listing.is_current()
    (tmp_path / "m.json").write_text(text + " ", encoding="utf-8")
    assert not listing.is_current()
    empty = Manifest(str(tmp_path / "e.json"), sources=[str(tmp_path)], out=None)
    empty.write()
    assert (tmp_path / "e.json").read_text() == '{\n  "imgpar_manifest": 1,\n  "sources": {}\n}\n'


def test_srcset_urls_are_escaped(tmp_path: Path) -> None:
    # In a srcset a space ends the URL and a comma ends the candidate.
    src = tmp_path / "src"
    src.mkdir()
    Image.new("RGB", (800, 400), (20, 90, 160)).save(src / "logo alpha, v2 é.png")
    out = tmp_path / "out"
    args = ["convert", str(src), "--to", "webp", "--width", "320,640", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--manifest", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    webp = json.loads((tmp_path / "m.json").read_text())["sources"]["logo alpha, v2 é.png"]
    assert webp["formats"]["webp"]["srcset"] == (
        "logo%20alpha%2C%20v2%20%C3%A9-320.webp 320w, logo%20alpha%2C%20v2%20%C3%A9-640.webp 640w"
    )
    paths = [o["path"] for o in webp["formats"]["webp"]["outputs"]]
    assert paths == ["logo alpha, v2 é-320.webp", "logo alpha, v2 é-640.webp"]
    assert all((out / p).is_file() for p in paths)


def test_check_and_prune(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    runner = CliRunner()
    base = ["convert", str(site), "--to", "webp", "--out", str(out)]
    stale = runner.invoke(app, [*base, "--check"])
    assert stale.exit_code == 1
    assert not out.exists() or not any(out.iterdir())  # --check writes nothing
    assert runner.invoke(app, base).exit_code == 0
    assert runner.invoke(app, [*base, "--check"]).exit_code == 0
    (out / "mine.txt").write_text("not imgpar's")
    (site / "team" / "ann.jpg").unlink()
    orphaned = runner.invoke(app, [*base, "--check"])
    assert orphaned.exit_code == 1
    assert "team/ann.webp" in orphaned.output
    # A run without --prune says what it leaves behind.
    left = runner.invoke(app, base)
    assert left.stderr.strip() == "note: 1 earlier output no source makes now; --prune deletes it"
    # Quiet, as CI runs it: the summary and the report say what went, for a CDN to purge.
    report = tmp_path / "r.json"
    pruned = runner.invoke(app, [*base, "--prune", "--quiet", "--report", str(report),
                                 "--report", str(tmp_path / "r.html")])  # fmt: skip
    assert pruned.exit_code == 0
    assert pruned.stderr == ""
    assert pruned.stdout.startswith("0 converted, 2 skipped, 0 failed, 1 pruned in ")
    assert json.loads(report.read_text())["summary"]["pruned"] == [str(out / "team" / "ann.webp")]
    assert "--prune deleted 1 output no source makes now" in (tmp_path / "r.html").read_text()
    assert not (out / "team" / "ann.webp").exists()
    assert (out / "team" / "bob.webp").exists()
    assert (out / "mine.txt").read_text() == "not imgpar's"


def test_prune_keeps_the_outputs_of_a_source_with_no_images_now(
    site: Path, tmp_path: Path
) -> None:
    # An asset drive not mounted: the SOURCE is there, empty.
    out = tmp_path / "out"
    manifest = tmp_path / "m.json"
    base = ["convert", str(site), "--to", "webp", "--out", str(out)]
    runner = CliRunner()
    assert runner.invoke(app, [*base, "--manifest", str(manifest)]).exit_code == 0
    made, listed = _bytes(out), manifest.read_text()
    site.rename(tmp_path / "away")
    site.mkdir()
    warning = (
        f"{site}: no images in it now (a drive not mounted?), yet {len(made)} outputs of"
        " its sources are there: --prune keeps them; delete them yourself if they should go"
    )

    # A build without --prune fails too, and keeps the manifest it would empty.
    plain = runner.invoke(app, [*base, "--manifest", str(manifest)])
    assert plain.exit_code == 1
    assert plain.stderr == (
        f"note: {site}: no images found in it\n"
        f"warning: manifest {manifest} not rewritten: a SOURCE has no images\n"
        f"warning: {warning}\n"
    )
    assert manifest.read_text() == listed
    assert plain.stdout.startswith("0 converted, 0 skipped, 0 failed, 1 SOURCE empty in ")
    check = runner.invoke(app, [*base, "--check"])
    assert check.exit_code == 1
    assert check.stdout == f"failing: {warning}\n"
    for dry_run in (["--dry-run"], ["--prune", "--dry-run"]):
        dry = runner.invoke(app, [*base, *dry_run])
        assert (dry.exit_code, dry.stdout) == (0, f"{warning.replace(': ', ': would fail: ', 1)}\n")
    report, page = tmp_path / "r.json", tmp_path / "r.html"
    pruned = runner.invoke(app, [*base, "--prune", "--report", str(report), "--report", str(page)])
    assert pruned.exit_code == 1
    assert f"warning: {warning}\n" in pruned.stderr
    assert _bytes(out) == made
    told = json.loads(report.read_text())
    assert f"{told['notes'][-1]['path']}: {told['notes'][-1]['reason']}" == warning
    assert told["summary"]["held_back"] == [str(site)]
    assert f'<a href="#notes">No images in {site}</a>' in page.read_text()

    # Deleted by hand, as the warning says, they are gone for good.
    (out / "hero.webp").unlink()
    again = runner.invoke(app, [*base, "--prune"])
    assert f"yet {len(made) - 1} outputs of its sources are there" in again.stderr
    shutil.rmtree(out / "team")
    cleared = runner.invoke(app, [*base, "--prune"])
    assert cleared.exit_code == 0, cleared.output
    checked = runner.invoke(app, [*base, "--check"])
    assert checked.exit_code == 0
    assert checked.stderr == f"note: {site}: no images found in it\neverything is up to date\n"
    quiet = runner.invoke(app, [*base, "--check", "--quiet"])
    assert "note" not in quiet.stderr


def test_sources_that_share_a_folder_name_are_pruned_by_what_is_in_each(
    tmp_path: Path,
) -> None:
    # cam1/trip and cam2/trip share one --out tree.
    cam1, cam2 = tmp_path / "cam1" / "trip", tmp_path / "cam2" / "trip"
    _photo(cam1 / "x.jpg", (60, 40))
    _photo(cam2 / "y.jpg", (60, 40))
    _photo(cam2 / "z.jpg", (60, 40))
    _photo(tmp_path / "other" / "trip" / "w.jpg", (60, 40))
    out = tmp_path / "out"
    base = ["convert", str(cam1), str(cam2), "--to", "webp", "--out", str(out)]
    runner = CliRunner()
    assert runner.invoke(app, base).exit_code == 0
    for args in ([*base, "--check"], [*base, "--prune"]):
        result = runner.invoke(app, args)
        assert "orphan" not in result.stdout and "pruned" not in result.stderr, args
    # A file named as a SOURCE, from a folder of that name elsewhere.
    named = ["convert", str(cam2), str(tmp_path / "other" / "trip" / "w.jpg"), "--to", "webp",
             "--out", str(tmp_path / "out2")]  # fmt: skip
    assert runner.invoke(app, named).exit_code == 0
    kept = runner.invoke(app, [*named, "--prune"])
    assert "pruned" not in kept.stderr
    assert sorted(_bytes(tmp_path / "out2")) == ["w.webp", "y.webp", "z.webp"]
    # One of them emptied (its drive not mounted): its outputs stay, while
    # the other's, of a file deleted there, goes.
    (cam1 / "x.jpg").rename(tmp_path / "x.jpg")
    (cam2 / "y.jpg").unlink()
    held = runner.invoke(app, [*base, "--prune"])
    assert held.exit_code == 1
    assert f"warning: {cam1}: no images in it now" in held.stderr
    assert f"pruned: {out / 'y.webp'}" in held.stderr
    assert sorted(_bytes(out)) == ["x.webp", "z.webp"]
    # Both emptied: each named in the summary, and through the API too.
    (cam2 / "z.jpg").rename(tmp_path / "z.jpg")
    both = runner.invoke(app, [*base, "--report", str(tmp_path / "r.json")])
    assert both.stdout.startswith("0 converted, 0 skipped, 0 failed, 2 SOURCEs empty in ")
    said = json.loads((tmp_path / "r.json").read_text())["summary"]["held_back"]
    assert said == [str(cam1), str(cam2)]
    with pytest.warns(RuntimeWarning, match="no images in it now") as warned:
        report = imgpar.convert([cam1, cam2], to="webp", out=out)
    assert [w.filename for w in warned] == [__file__] * 2
    assert report.summary.held_back == (str(cam1), str(cam2))
    assert report.summary.exit_status == 1
    assert report.summary.as_dict()["held_back"] == [str(cam1), str(cam2)]
    (tmp_path / "z.jpg").rename(cam2 / "z.jpg")
    (tmp_path / "x.jpg").rename(cam1 / "x.jpg")
    pruned = runner.invoke(app, [*base, "--prune"])
    assert pruned.exit_code == 0, pruned.output
    assert "pruned" not in pruned.stderr
    assert sorted(_bytes(out)) == ["x.webp", "z.webp"]


def test_sources_that_share_a_folder_name_and_a_file_name_settle(tmp_path: Path) -> None:
    # x/photos/a.png and y/photos/a.png shared one cache key: each run took
    # the other's for its own, changed, and converted it again, and --prune
    # deleted the live a.webp that the run's manifest listed.
    x, y = tmp_path / "x" / "photos", tmp_path / "y" / "photos"
    _photo(x / "a.png", (80, 60))
    _photo(y / "a.png", (70, 50), shade=90)
    _photo(y / "c.png", (30, 20))
    out, manifest = tmp_path / "o", tmp_path / "m.json"
    base = ["convert", str(x), str(y), "--to", "webp", "--out", str(out)]
    runner = CliRunner()
    first = runner.invoke(app, [*base, "--manifest", str(manifest)])
    assert first.stdout.startswith("3 converted, 0 skipped"), first.output
    again = runner.invoke(app, [*base, "--manifest", str(manifest)])
    assert again.stdout.startswith("0 converted, 3 skipped"), again.output
    checked = runner.invoke(app, [*base, "--check"])
    assert checked.exit_code == 0, checked.output
    pruned = runner.invoke(app, [*base, "--prune"])
    assert "pruned" not in pruned.stderr
    sources = json.loads(manifest.read_text())["sources"].values()
    listed = {o["path"] for e in sources for f in e["formats"].values() for o in f["outputs"]}
    assert listed == {"a.webp", "a.png.webp", "c.webp"}
    for name, size in (("a.webp", (80, 60)), ("a.png.webp", (70, 50)), ("c.webp", (30, 20))):
        with Image.open(out / name) as im:
            assert im.size == size, name
    # The second a.png gone: its output goes, the first's stays.
    (y / "a.png").unlink()
    gone = runner.invoke(app, [*base, "--prune"])
    assert gone.stderr.count("pruned:") == 1 and "a.png.webp" in gone.stderr, gone.output
    assert sorted(_bytes(out)) == ["a.webp", "c.webp"]
    # Run alone, the first's files are keyed by its name only; its keys of
    # the run of both are its own still, and go with its a.png: counted as
    # another SOURCE's, they kept a.webp for ever.
    alone = ["convert", str(x), "--to", "webp", "--out", str(out)]
    _photo(x / "b.png", (40, 30))
    assert runner.invoke(app, alone).exit_code == 0
    (x / "a.png").unlink()
    checked = runner.invoke(app, [*alone, "--check"])
    assert f"orphan: {out / 'a.webp'}" in checked.stdout, checked.output
    pruned = runner.invoke(app, [*alone, "--prune"])
    assert f"pruned: {out / 'a.webp'}" in pruned.stderr, pruned.output
    assert sorted(_bytes(out)) == ["b.webp", "c.webp"]


def test_runs_of_other_sources_into_one_out_keep_each_others_outputs(tmp_path: Path) -> None:
    # Two build steps, one --out: the second run wrote its logo.webp over the
    # first's, in silence, and the two went on overwriting each other.
    assets, content = tmp_path / "assets", tmp_path / "content"
    for folder, colour in ((assets, (250, 0, 0)), (content, (0, 0, 250))):
        folder.mkdir()
        Image.new("RGB", (64, 48), colour).save(folder / "logo.png")
    web = tmp_path / "web"
    runner = CliRunner()
    for source in (assets, content, assets, content):
        run = runner.invoke(app, ["convert", str(source), "--to", "webp", "--out", str(web)])
        assert run.exit_code == 0, run.output
        if source == content:
            # Told as another SOURCE's, not as a sibling of the same name,
            # which content has not (nor a SOURCE folder renamed, whose old
            # name holds its files' names).
            told = "note: 1 source whose output names the --out records for files of another"
            assert told in run.stderr, run.stderr
            assert "same name" not in run.stderr
    assert sorted(p.name for p in web.iterdir() if not p.name.startswith(".")) == [
        "logo.png.webp", "logo.webp"
    ]
    with Image.open(web / "logo.webp") as im:
        assert im.convert("RGB").getpixel((5, 5))[0] > 200  # assets', red
    with Image.open(web / "logo.png.webp") as im:
        assert im.convert("RGB").getpixel((5, 5))[2] > 200  # content's, blue
    for source in (assets, content):
        checked = runner.invoke(app, ["convert", str(source), "--to", "webp", "--out", str(web),
                                      "--check"])  # fmt: skip
        assert checked.exit_code == 0, checked.output
    # As one run of both names them.
    both = runner.invoke(app, ["convert", str(assets), str(content), "--to", "webp", "--out",
                               str(tmp_path / "web2")])  # fmt: skip
    assert both.exit_code == 0, both.output
    assert sorted(p.name for p in (tmp_path / "web2").glob("*.webp")) == [
        "logo.png.webp", "logo.webp"
    ]


def test_prune_takes_a_gone_sources_outputs_when_its_name_is_anothers_output(
    tmp_path: Path,
) -> None:
    # a.png deleted, a.jpg's PNG output took its name: the gone a.png's
    # a.png.webp was taken for a live source's, kept by --prune and --check.
    src = tmp_path / "src"
    src.mkdir()
    Image.new("RGB", (8, 8), "red").save(src / "a.jpg")
    Image.new("RGB", (10, 10), "blue").save(src / "a.png")
    args = ["--to", "webp", "--to", "png"]
    assert invoke_convert(src, *args).exit_code == 0
    assert (src / "a.png.webp").exists()
    (src / "a.png").unlink()
    pruned = invoke_convert(src, *args, "--prune")
    assert pruned.exit_code == 0, pruned.output
    assert sorted(p.name for p in src.iterdir() if not p.name.startswith(".")) == [
        "a.jpg", "a.png", "a.webp"
    ]
    with Image.open(src / "a.png") as im:
        assert im.size == (8, 8)  # a.jpg's
    checked = invoke_convert(src, *args, "--check")
    assert checked.exit_code == 0, checked.output


def test_your_image_saved_over_an_output_of_a_format_the_run_writes_is_a_source(
    tmp_path: Path,
) -> None:
    # In place, --to png,webp: a.jpg made a.png, then your own a.png went
    # over it. It was left out of the run, uncounted, its WebP never made.
    src = tmp_path / "src"
    src.mkdir()
    Image.new("RGB", (8, 8), "red").save(src / "a.jpg")
    args = ["--to", "png", "--to", "webp"]
    assert invoke_convert(src, *args).exit_code == 0
    Image.new("RGB", (12, 12), "green").save(src / "a.png")
    run = invoke_convert(src, *args, "--prune")
    assert run.exit_code == 0, run.output
    assert "2 converted, 0 skipped, 0 failed, 1 pruned" in run.output
    with Image.open(src / "a.png.webp") as im:
        assert im.size == (12, 12)
    with Image.open(src / "a.png") as im:
        assert im.size == (12, 12)  # yours, as you saved it
    for name in ("a.jpg.png", "a.jpg.webp"):
        with Image.open(src / name) as im:
            assert im.size == (8, 8)
    assert not (src / "a.webp").exists()  # a.jpg's under its old name, pruned
    assert invoke_convert(src, *args, "--check").exit_code == 0


def test_a_new_file_of_one_source_leaves_another_sources_recorded_name(tmp_path: Path) -> None:
    # One run of both SOURCES: content's logo.webp was on the site; a logo
    # added to assets, walked first, took that name and content's moved.
    assets, content = tmp_path / "assets", tmp_path / "content"
    assets.mkdir()
    content.mkdir()
    Image.new("RGB", (64, 48), (0, 0, 250)).save(content / "logo.png")
    web = tmp_path / "web"
    assert invoke_convert(assets, content, "--out", web).exit_code == 0
    Image.new("RGB", (64, 48), (250, 0, 0)).save(assets / "logo.png")
    for _ in range(2):
        run = invoke_convert(assets, content, "--out", web)
        assert run.exit_code == 0, run.output
        with Image.open(web / "logo.webp") as im:
            assert im.convert("RGB").getpixel((5, 5))[2] > 200  # content's, blue
        with Image.open(web / "logo.png.webp") as im:
            assert im.convert("RGB").getpixel((5, 5))[0] > 200  # assets', red
    assert invoke_convert(assets, content, "--out", web, "--check").exit_code == 0


@pytest.mark.parametrize(
    ("stem", "name", "theirs", "mine"),
    [
        ("logo", "{stem}-{width}.{ext}", "logo-32.webp", "logo.png-32.webp"),
        ("logo", "{width}/{stem}.{ext}", "32/logo.webp", "32/logo.png.webp"),
        # The size's digits in the name too: IMG_32-32.webp is IMG_32-{width}'s.
        ("IMG_32", "{stem}-{width}.{ext}", "IMG_32-32.webp", "IMG_32.png-32.webp"),
    ],
)
def test_runs_of_other_sources_into_one_out_keep_each_others_sized_outputs(
    stem: str, name: str, theirs: str, mine: str, tmp_path: Path
) -> None:
    assets, content = tmp_path / "assets", tmp_path / "content"
    for folder, colour in ((assets, (250, 0, 0)), (content, (0, 0, 250))):
        folder.mkdir()
        Image.new("RGB", (64, 48), colour).save(folder / f"{stem}.png")
    web = tmp_path / "web"
    for source in (assets, content):
        run = invoke_convert(source, "--out", web, "--width", "32", "--name", name)
        assert run.exit_code == 0, run.output
    with Image.open(web / theirs) as im:
        assert im.convert("RGB").getpixel((5, 5))[0] > 200  # assets', red
    with Image.open(web / mine) as im:
        assert im.convert("RGB").getpixel((5, 5))[2] > 200  # content's, blue


def test_a_claim_holds_whatever_size_or_spelling_makes_the_name(tmp_path: Path) -> None:
    # a2's logo-64.png made logo-64.webp at 32 px; c2's logo.png at 64 px
    # under {stem}-{width} makes that name too. And `./{stem}.{ext}` names
    # a2's logo.webp, spelled another way.
    a2, c2 = tmp_path / "a2", tmp_path / "c2"
    a2.mkdir()
    c2.mkdir()
    Image.new("RGB", (64, 48), (250, 0, 0)).save(a2 / "logo-64.png")
    Image.new("RGB", (64, 48), (250, 0, 0)).save(a2 / "logo.png")
    Image.new("RGB", (128, 96), (0, 0, 250)).save(c2 / "logo.png")
    web = tmp_path / "web"
    assert invoke_convert(a2, "--out", web, "--width", "32").exit_code == 0
    for name in ("{stem}-{width}.{ext}", "./{stem}.{ext}"):
        run = invoke_convert(c2, "--out", web, "--width", "64", "--name", name)
        assert run.exit_code == 0, run.output
    assert sorted(p.name for p in web.glob("*.webp")) == [
        "logo-64.webp", "logo.png-64.webp", "logo.png.webp", "logo.webp"
    ]
    for made in ("logo-64.webp", "logo.webp"):
        with Image.open(web / made) as im:
            assert im.size == (32, 24)  # a2's, not written over


def test_the_same_image_with_the_same_options_shares_its_name(tmp_path: Path) -> None:
    # The same image under another SOURCE name (assets moved to static, a
    # logo in two folders) makes the same bytes: its outputs keep their
    # names. Changed since, or made at another size, it is another's, and
    # re-runs of both stay as they are.
    assets = tmp_path / "assets"
    assets.mkdir()
    Image.new("RGB", (64, 48), (250, 0, 0)).save(assets / "logo.png")
    Image.new("RGB", (64, 48), (0, 250, 0)).save(assets / "icon.png")
    web = tmp_path / "web"
    assert invoke_convert(assets, "--out", web).exit_code == 0
    static = tmp_path / "static"
    shutil.copytree(assets, static)
    Image.new("RGB", (64, 48), (0, 0, 250)).save(static / "icon.png")  # changed
    for _ in range(2):
        moved = invoke_convert(static, "--out", web)
        assert moved.exit_code == 0, moved.output
        assert sorted(p.name for p in web.glob("*.webp")) == [
            "icon.png.webp", "icon.webp", "logo.webp"
        ]
    assert invoke_convert(static, "--out", web).stdout.startswith("0 converted")
    # At another size, the same logo's bytes differ: no run writes over the other's.
    for _ in range(2):
        for source, width in ((assets, "32"), (static, "16")):
            run = invoke_convert(source, "--out", tmp_path / "sized", "--width", width)
            assert run.exit_code == 0, run.output
    assert invoke_convert(assets, "--out", tmp_path / "sized", "--width", "32").stdout.startswith(
        "0 converted"
    )
    with Image.open(tmp_path / "sized" / "logo.webp") as im:
        assert im.size == (32, 24)


def test_a_shared_output_is_no_orphan_once_one_sharer_changes(tmp_path: Path) -> None:
    # assets' and content's logos were the same image and share logo.webp;
    # content's is edited: --check and --prune --dry-run say what --prune does.
    assets, content = tmp_path / "assets", tmp_path / "content"
    for folder in (assets, content):
        folder.mkdir()
        Image.new("RGB", (64, 48), (250, 0, 0)).save(folder / "logo.png")
    web = tmp_path / "web"
    for source in (assets, content):
        assert invoke_convert(source, "--out", web).exit_code == 0
    Image.new("RGB", (64, 48), (0, 0, 250)).save(content / "logo.png")
    checked = invoke_convert(content, "--out", web, "--check")
    assert checked.exit_code == 1
    assert checked.stdout.splitlines() == [f"stale: {content / 'logo.png'}"]
    preview = invoke_convert(content, "--out", web, "--prune", "--dry-run")
    assert "would prune" not in preview.stdout
    assert invoke_convert(content, "--out", web, "--prune").exit_code == 0
    with Image.open(web / "logo.webp") as im:
        assert im.convert("RGB").getpixel((5, 5))[0] > 200  # assets', red, still there
    for source in (assets, content):
        assert invoke_convert(source, "--out", web, "--check").exit_code == 0


def test_an_out_inside_its_source_is_pruned_as_ever(tmp_path: Path) -> None:
    # Were its SOURCE's drive gone, the outputs would be gone with it.
    src = tmp_path / "a"
    _photo(src / "p.jpg", (60, 40))
    base = ["convert", str(src), "--to", "webp", "--out", str(src / "web")]
    runner = CliRunner()
    assert runner.invoke(app, base).exit_code == 0
    (src / "p.jpg").unlink()
    pruned = runner.invoke(app, [*base, "--prune"])
    assert pruned.exit_code == 0, pruned.output
    assert not (src / "web" / "p.webp").exists()


def test_a_source_whose_files_were_all_renamed_is_pruned(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    base = ["convert", str(site), "--to", "webp", "--out", str(out)]
    runner = CliRunner()
    assert runner.invoke(app, base).exit_code == 0
    for path in [p for p in site.rglob("*.jpg")]:
        path.rename(path.with_name("new-" + path.name))
    # --check and --prune --dry-run tell what --prune does: the new files
    # are images, if not yet recorded ones.
    check = runner.invoke(app, [*base, "--check"])
    assert "failing" not in check.stdout
    assert check.stdout.count("orphan: ") == 3
    dry = runner.invoke(app, [*base, "--prune", "--dry-run"])
    assert dry.stdout.count("would prune: ") == 3
    pruned = runner.invoke(app, [*base, "--prune"])
    assert pruned.exit_code == 0, pruned.output
    assert pruned.stderr.count("pruned: ") == 3
    assert sorted(_bytes(out)) == ["new-hero.webp", "team/new-ann.webp", "team/new-bob.webp"]


def test_an_out_that_is_its_source_prunes_as_in_place(site: Path, tmp_path: Path) -> None:
    base = ["convert", str(site), "--to", "webp", "--out", str(site)]
    runner = CliRunner()
    assert runner.invoke(app, base).exit_code == 0
    for path in site.rglob("*.jpg"):
        path.unlink()
    pruned = runner.invoke(app, [*base, "--prune"])
    assert pruned.exit_code == 0, pruned.output
    assert not list(site.rglob("*.webp"))


def _gone_prefix() -> str:
    """How the temporary files of a process that is gone begin (a run killed outright)."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return temp_prefix(int(gone.stdout))


def test_a_run_that_writes_removes_a_killed_runs_leftovers_where_nothing_changed(
    site: Path, tmp_path: Path
) -> None:
    # Left in a folder whose files were up to date, a killed run's file
    # failed --check after the next run, which said nothing of it.
    out = tmp_path / "out"
    imgpar.convert(site, to="webp", out=out)
    dead = out / f"{_gone_prefix()}0a1b2c3d.webp"
    dead.write_bytes(b"half an image")
    Image.new("RGB", (300, 200), (9, 99, 199)).save(site / "team" / "bob.jpg")
    assert imgpar.convert(site, to="webp", out=out).summary.converted == 1
    assert not dead.exists()
    checked = CliRunner().invoke(app, ["convert", str(site), "--to", "webp", "--out", str(out),
                                       "--check"])  # fmt: skip
    assert checked.exit_code == 0, checked.output


def test_prune_removes_unfinished_writes_no_process_will_finish(
    site: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    runner = CliRunner()
    base = ["convert", str(site), "--to", "webp", "--out", str(out)]
    assert runner.invoke(app, base).exit_code == 0
    gone = _gone_prefix()
    dead = out / "team" / f"{gone}0a1b2c3d.webp"  # a run killed outright
    live = out / f"{temp_prefix(os.getpid())}4e5f6a7b.webp"  # a run writing now
    elsewhere = out / ".imgpar-tmp-0badc0de-17-00000000.webp"  # another host's
    stale = out / ".imgpar-tmp-0badc0de-18-11111111.webp"  # ... untouched for days
    for path in (dead, live, elsewhere, stale):
        path.write_bytes(b"half an image")
    days_ago = time.time() - 3 * 24 * 3600
    os.utime(stale, (days_ago, days_ago))
    checked = runner.invoke(app, [*base, "--check"])
    assert checked.exit_code == 1
    # No outputs: told apart from the orphaned ones.
    assert checked.stdout.splitlines() == [
        f"leftover: {p} (a temporary file of a run killed outright; --prune deletes it)"
        for p in sorted([str(stale), str(dead)])
    ]
    assert checked.stderr.endswith(
        "0 stale, 0 failing, 0 orphaned outputs, 2 leftover temporary files\n"
    )
    pruned = runner.invoke(app, [*base, "--prune"])
    assert pruned.exit_code == 0, pruned.output
    assert not dead.exists() and not stale.exists()
    assert live.exists() and elsewhere.exists()
    assert (out / "team" / "ann.webp").is_file()
    # A first run killed outright recorded nothing: its writes are found
    # where this run puts outputs.
    first = tmp_path / "first"
    (first / "team").mkdir(parents=True)
    dead = first / "team" / f"{gone}0a1b2c3d.webp"
    dead.write_bytes(b"half an image")
    again = ["convert", str(site), "--to", "webp", "--out", str(first)]
    checked = runner.invoke(app, [*again, "--check"])
    assert checked.exit_code == 1
    assert f"leftover: {dead}" in checked.stdout
    assert runner.invoke(app, [*again, "--prune"]).exit_code == 0
    assert not dead.exists()


def test_a_killed_runs_report_in_an_out_with_no_output_of_its_own_is_a_leftover(
    tmp_path: Path,
) -> None:
    # Every output in folders below --out, the report at its top: the top
    # was not looked at, and the report's unfinished write stayed for good.
    src, out = tmp_path / "src", tmp_path / "out"
    _photo(src / "team" / "ann.jpg", (64, 48))
    base = ["convert", str(src), "--to", "webp", "--out", str(out)]
    runner = CliRunner()
    assert runner.invoke(app, base).exit_code == 0
    gone = _gone_prefix()
    dead = out / f"{gone}report-r.json"
    dead.write_text('{"imgpar": ')
    checked = runner.invoke(app, [*base, "--check"])
    assert checked.exit_code == 1
    assert checked.stdout == (
        f"leftover: {dead} (a temporary file of a run killed outright; --prune deletes it)\n"
    )
    assert runner.invoke(app, [*base, "--prune"]).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == [".imgpar-cache.sqlite", ".imgpar-lock", "team"]


def test_outputs_a_source_no_longer_makes_are_orphans(site: Path, tmp_path: Path) -> None:
    # hero.jpg is 1600 px wide, team/ann.jpg 800 and team/bob.jpg 300.
    out = tmp_path / "out"
    runner = CliRunner()
    wide = ["convert", str(site), "--to", "avif,webp", "--width", "320,1280", "--out", str(out)]
    assert runner.invoke(app, wide).exit_code == 0
    # Other options: avif and the 1280 widths are no longer made.
    narrow = ["convert", str(site), "--to", "webp", "--width", "320,640", "--out", str(out)]
    changed = runner.invoke(app, narrow)
    assert changed.exit_code == 0
    # ann and hero keep their 320 px WebPs (hero is decoded whole for 640
    # px as for 1280: half size would leave Lanczos too little), and bob's
    # 300 px WebP is all it makes now.
    assert changed.stderr.strip().splitlines() == [
        "note: 2 sources made only some outputs: the others were up to date",
        "note: 7 earlier outputs no source makes now; --prune deletes them",
    ]
    # A copy of the --out (`cp -r`, a CI cache restored) gives each file
    # another mtime: those outputs were forgotten, never pruned.
    for path in out.rglob("*"):
        os.utime(path, (1_900_000_000, 1_900_000_000))
    (out / "hero-320.avif").write_text("the user's own file, since")
    checked = runner.invoke(app, [*narrow, "--check"])
    assert checked.exit_code == 1
    orphans = sorted(
        Path(line.split()[1]).relative_to(out).as_posix()
        for line in checked.stdout.splitlines()
        if line.startswith("orphan: ")
    )
    assert orphans == [
        "hero-1280.avif", "hero-1280.webp",
        "team/ann-320.avif", "team/ann-800.avif", "team/ann-800.webp", "team/bob-300.avif",
    ]  # fmt: skip
    # A smaller source: its 640 is no longer made either.
    Image.new("RGB", (500, 300), (20, 120, 40)).save(site / "hero.jpg")
    pruned = runner.invoke(app, [*narrow, "--prune"])
    assert pruned.exit_code == 0, pruned.output
    made = sorted(Path(rel).as_posix() for rel in outputs_in(out))
    assert made == [
        "hero-320.avif", "hero-320.webp", "hero-500.webp",
        "team/ann-320.webp", "team/ann-640.webp", "team/bob-300.webp",
    ]  # fmt: skip
    assert (out / "hero-320.avif").read_text() == "the user's own file, since"
    assert runner.invoke(app, [*narrow, "--check"]).exit_code == 0


def test_prune_takes_only_what_it_knows_is_its_own(site: Path, tmp_path: Path) -> None:
    runner = CliRunner()

    def convert(*args: str) -> None:
        result = runner.invoke(app, ["convert", str(site), *args])
        assert result.exit_code == 0, result.output

    # In an output folder, a superseded file written over since (its size
    # another) is no longer imgpar's.
    out = str(tmp_path / "out")
    convert("--to", "webp,jpeg", "--out", out)
    convert("--to", "webp", "--out", out)
    again = (tmp_path / "out" / "hero.jpg").read_bytes()
    (tmp_path / "out" / "hero.jpg").write_bytes(again + b"\0")
    convert("--to", "webp", "--out", out, "--prune")
    assert (tmp_path / "out" / "hero.jpg").is_file()
    assert not (tmp_path / "out" / "team" / "ann.jpg").exists()
    # In place, earlier outputs stay imgpar's: never a later run's sources
    # (no hero.webp.png), pruned on request, the sources left alone.
    for to in ("webp", "avif", "png"):
        convert("--to", to)
    assert sorted(p.name for p in site.glob("hero*")) == [
        "hero.avif", "hero.jpg", "hero.png", "hero.webp"
    ]  # fmt: skip
    convert("--to", "png", "--prune")
    assert sorted(p.name for p in site.glob("hero*")) == ["hero.jpg", "hero.png"]
    assert sorted(p.name for p in (site / "team").iterdir()) == [
        "ann.jpg", "ann.png", "bob.jpg", "bob.png"
    ]  # fmt: skip


def test_check_dry_run_and_prune_name_the_same_orphans(tmp_path: Path) -> None:
    src = tmp_path / "lib"
    _photo(src / "a.jpg", (300, 200))
    Image.new("RGB", (300, 200), (30, 30, 200)).save(src / "b.png")
    runner = CliRunner()
    web = ["convert", str(src), "--to", "jpeg", "--max-size", "100"]
    for args in (["--to", "webp"], [], ["--name", "{stem}-web.{ext}"]):
        assert runner.invoke(app, [*web, *args]).exit_code == 0
    # b.png's b.jpg was superseded by b-web.jpg, but the plain run makes it
    # again: not an orphan. b-web.jpg will be superseded: an orphan. a.jpg,
    # skipped in place as a JPEG already, makes nothing now: its a-web.jpg
    # is an orphan too, as is the a.webp that a-web.jpg superseded.
    # By path, each time: in the cache's order, they came in another after a run.
    expected = [str(src / n) for n in ("a-web.jpg", "a.webp", "b-web.jpg", "b.webp")]
    checked = runner.invoke(app, [*web, "--check"])
    orphans = [line.split()[1] for line in checked.stdout.splitlines() if line.startswith("orphan")]
    assert orphans == expected
    dry = runner.invoke(app, [*web, "--prune", "--dry-run"])
    said = [line.removeprefix("would prune: ") for line in dry.stdout.splitlines()
            if line.startswith("would prune: ")]  # fmt: skip
    assert said == expected
    pruned = runner.invoke(app, [*web, "--prune"])
    assert [line.removeprefix("pruned: ") for line in pruned.stderr.splitlines()
            if line.startswith("pruned: ")] == expected  # fmt: skip
    assert sorted(p.name for p in src.iterdir() if not p.name.startswith(".imgpar")) == [
        "a.jpg", "b.jpg", "b.png"
    ]  # fmt: skip
    assert runner.invoke(app, [*web, "--check"]).exit_code == 0


def test_a_source_that_now_fails_keeps_its_outputs_in_every_mode(tmp_path: Path) -> None:
    # A broken upload over a good source: the run fails it and keeps what it
    # made before, and --check and --dry-run call none of that an orphan.
    src = tmp_path / "logos"
    for i in range(2):
        _photo(src / f"l{i}.png", (300, 200), 40 * i)
    out = tmp_path / "out"
    base = ["convert", str(src), "--to", "webp", "--width", "100,200", "--out", str(out)]
    runner = CliRunner()
    assert runner.invoke(app, base).exit_code == 0
    made = _bytes(out)
    (src / "l1.png").write_text("<html>oops</html>")
    checked = runner.invoke(app, [*base, "--check"])
    assert checked.exit_code == 1
    assert checked.stdout == (
        f"failing: {src / 'l1.png'}: not an image imgpar can read (unknown or unsupported"
        " format)\n"
    )
    dry = runner.invoke(app, [*base, "--prune", "--dry-run"])
    assert "would prune" not in dry.stdout
    pruned = runner.invoke(app, [*base, "--prune"])
    assert pruned.exit_code == 1
    assert "pruned: " not in pruned.stderr
    assert _bytes(out) == made


def test_check_agrees_with_a_run_on_name_collisions(tmp_path: Path) -> None:
    src = tmp_path / "coll"
    src.mkdir()
    for name in ("pic.jpg", "pic.png", "PIC.JPG"):
        Image.new("RGB", (20, 20)).save(src / name)
    base = ["convert", str(src), "--to", "webp", "--out", str(tmp_path / "out")]
    runner = CliRunner()
    assert runner.invoke(app, base).exit_code == 1  # one of the three collides
    checked = runner.invoke(app, [*base, "--check"])
    assert checked.exit_code == 1
    (failing,) = [line for line in checked.stdout.splitlines() if line.startswith("failing: ")]
    out = tmp_path / "out"
    assert failing == (
        f"failing: {src / 'pic.jpg'}: output name collides with another source's output:"
        f" {out / 'pic.jpg.webp'} (from another SOURCE folder, or a name that differs"
        " only in case or Unicode form)"
    )
    assert "0 stale, 1 failing, 0 orphaned outputs" in checked.stderr
    # A name sized by the image is told as its pattern, not in imgpar's markers.
    sized = runner.invoke(app, [*base, "--width", "10,20"])
    assert (
        f"failed: {src / 'pic.jpg'}: output names collide with another source's outputs, at"
        f" every size: {out / 'pic.jpg-{width}.webp'} (from another SOURCE folder, or a name that"
        " differs only in case or Unicode form)"
    ) in sized.stderr.splitlines()
    # A pattern with no {stem} gives every source of a folder one name:
    # the reason says so, not a case or a folder that is not there.
    fixed = runner.invoke(app, [*base, "--name", "hero.{ext}", "--force"])
    assert fixed.exit_code == 1
    assert [line for line in fixed.stderr.splitlines() if line.startswith("failed: ")] == [
        f"failed: {src / name}: output name collides with another source's output:"
        f" {out / 'hero.webp'} (--name 'hero.{{ext}}' has no {{stem}}: sources share the"
        " names it makes)"
        for name in ("pic.jpg", "pic.png")
    ]


def test_failed_files_are_never_recorded_as_done(site: Path, tmp_path: Path) -> None:
    (site / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    assert _statuses(imgpar.convert([site], to="webp", out=out, jobs=1))["broken.jpg"] == "failed"
    assert _statuses(imgpar.convert([site], to="webp", out=out, jobs=1))["broken.jpg"] == "failed"
    _photo(site / "broken.jpg", (100, 80))
    assert _statuses(imgpar.convert([site], to="webp", out=out, jobs=1))["broken.jpg"] == (
        "converted"
    )


def test_damaged_cache_means_full_rebuild_with_warning(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    imgpar.convert([site], to="webp", out=out, jobs=1)
    damaged = b"this is not sqlite" * 100
    (out / CACHE_NAME).write_bytes(damaged)
    base = ["convert", str(site), "--to", "webp", "--out", str(out)]
    # Looking writes nothing, and says why everything looks stale.
    warning = f"warning: cache {out / CACHE_NAME} unreadable (file is not a database); "
    for look in ("--check", "--dry-run"):
        looked = CliRunner().invoke(app, [*base, look])
        assert f"{warning}everything is taken as stale\n" in looked.stderr, look
        assert (out / CACHE_NAME).read_bytes() == damaged
    result = CliRunner().invoke(app, base)
    assert result.exit_code == 0
    assert "3 converted" in result.output
    assert f"{warning}rebuilding everything\n" in result.stderr
    again = CliRunner().invoke(app, ["convert", str(site), "--to", "webp", "--out", str(out)])
    assert "3 skipped" in again.output
    # In place, the cache is what tells outputs from sources: the warning says so.
    CliRunner().invoke(app, ["convert", str(site), "--to", "webp"])
    (site / CACHE_NAME).write_bytes(damaged)
    in_place = CliRunner().invoke(app, ["convert", str(site), "--to", "webp", "--check"])
    assert (
        f"{warning.replace(str(out), str(site))}everything is taken as stale: outputs made before"
        " it are taken for sources\n"
    ) in in_place.stderr


def test_outputs_are_byte_identical_across_runs_and_jobs(site: Path, tmp_path: Path) -> None:
    for name, jobs in (("a", 1), ("b", 2), ("c", 2)):
        imgpar.convert([site], to="webp,avif,jpeg,png", out=tmp_path / name, jobs=jobs)
    assert _bytes(tmp_path / "a") == _bytes(tmp_path / "b") == _bytes(tmp_path / "c")


def test_srgb_outputs_are_byte_identical_across_runs(site: Path, tmp_path: Path) -> None:
    # littleCMS stamps the sRGB profile it builds with the time: processes a
    # second apart embedded different bytes.
    made = []
    for name in ("a", "b"):
        subprocess.run(
            [sys.executable, "-m", "imgpar", "convert", str(site), "--to", "webp,png", "--srgb",
             "--out", str(tmp_path / name), "--quiet"],
            check=True, capture_output=True,
        )  # fmt: skip
        made.append(_bytes(tmp_path / name))
        time.sleep(1.1)
    assert made[0] == made[1]
    with Image.open(tmp_path / "a" / "hero.png") as im:
        assert is_srgb(im.info["icc_profile"])


def test_animations_are_byte_identical_across_runs(tmp_path: Path) -> None:
    # libavif writes the encoding time, to the second, into an image
    # sequence's headers: runs a second apart gave different bytes.
    frames = [Image.new("RGB", (48, 32), (i * 60, 90, 200 - i * 60)) for i in range(4)]
    frames[0].save(tmp_path / "spin.gif", save_all=True, append_images=frames[1:], duration=80)
    made = []
    for name in ("a", "b"):
        imgpar.convert([tmp_path / "spin.gif"], to="avif,webp", out=tmp_path / name, jobs=1)
        made.append(_bytes(tmp_path / name))
        time.sleep(1.1)
    assert made[0] == made[1]
    with Image.open(tmp_path / "a" / "spin.avif") as im:
        assert im.n_frames == 4
        im.seek(3)
        assert abs(im.convert("RGB").getpixel((10, 10))[0] - 180) < 40


def test_a_preset_keeps_its_own_manifest_and_report(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "imgpar.toml").write_text(
        'sources = ["assets"]\nto = "webp"\nout = "dist/img"\n'
        'manifest = "dist/img.json"\nreport = "dist/r.json"\n\n'
        '[presets.thumbs]\nwidth = 64\nout = "dist/thumbs"\n'
    )
    assert site == tmp_path / "assets"
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["convert"]).exit_code == 0
    manifest = (tmp_path / "dist" / "img.json").read_text()
    report = (tmp_path / "dist" / "r.json").read_text()
    thumbs = runner.invoke(app, ["convert", "--preset", "thumbs"])
    assert thumbs.exit_code == 0, thumbs.output
    assert (tmp_path / "dist" / "thumbs" / "hero.webp").is_file()
    # The top-level job's manifest and report describe dist/img still.
    assert (tmp_path / "dist" / "img.json").read_text() == manifest
    assert (tmp_path / "dist" / "r.json").read_text() == report


def test_config_is_honoured_and_flags_win(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "site"\n\n'
        "[tool.imgpar]\n"
        'sources = ["assets"]\nout = "dist"\n\n'
        "[tool.imgpar.presets.thumbs]\n"
        'to = "jpeg"\nwidth = 100\nheight = 100\nfit = "cover"\nname = "{stem}-thumb.{ext}"\n'
    )
    nested = tmp_path / "deep" / "er"
    nested.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["convert", "--preset", "thumbs"])
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "dist" / "hero-thumb.jpg") as im:
        assert im.size == (100, 100)
    # Flags win over the preset.
    result = runner.invoke(
        app, ["convert", "--preset", "thumbs", "--width", "50", "--height", "40", "--force"]
    )
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "dist" / "hero-thumb.jpg") as im:
        assert im.size == (50, 40)
    # Found from a subfolder, and unknown keys are named.
    monkeypatch.chdir(nested)
    (tmp_path / "imgpar.toml").write_text('to = "webp"\nqualty = 3\n')
    bad = runner.invoke(app, ["convert", str(site)])
    assert bad.exit_code == 2
    assert "unknown setting 'qualty'" in bad.output


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("presets = 5\n", "imgpar.toml: presets: a table of settings, not 5"),
        ("[presets]\nweb = 5\n", "imgpar.toml preset 'web': a table of settings, not 5"),
        # A preset this run does not use: a release's typo found before the release.
        ('[presets.web]\nto = "webp"\n[presets.thumbs]\nwdith = 200\n',
         "imgpar.toml preset 'thumbs': unknown setting 'wdith'"),
        ("[tool]\nimgpar = 5\n", "pyproject.toml: [tool.imgpar]: a table of settings, not 5"),
        # An imgpar.toml's settings are its top level: with a [tool.*] table
        # they were all passed over for its [tool.imgpar], and none was read.
        ('out = "dist"\n[tool.other]\nx = 1\n', "imgpar.toml: unknown setting 'tool': imgpar's"
         " settings go at the top level of an imgpar.toml, or in the [tool.imgpar] table of a"
         " pyproject.toml"),
    ],
)  # fmt: skip
def test_a_settings_file_of_the_wrong_shape_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, said: str
) -> None:
    name = "pyproject.toml" if "[tool]" in text else "imgpar.toml"
    (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["convert", ".", "--to", "webp", "--preset", "web"])
    assert result.exit_code == 2, result.output
    assert f"imgpar: error: {tmp_path}/{said}\n" in result.output


@pytest.mark.parametrize(
    ("dotted", "plain", "made"),
    [("./{stem}.{ext}", "{stem}.{ext}", "a.webp"),
     ("{stem}/./{stem}.{ext}", "{stem}/{stem}.{ext}", "a/a.webp")],
)  # fmt: skip
def test_a_name_spelled_with_a_dot_folder_is_the_same_output(
    tmp_path: Path, dotted: str, plain: str, made: str
) -> None:
    # o/./a.webp and o/a.webp are one file: --prune deleted the one just written.
    Image.new("RGB", (40, 30), "red").save(tmp_path / "a.png")
    out = tmp_path / "o"
    runner = CliRunner()
    args = ["convert", str(tmp_path / "a.png"), "--to", "webp", "--out", str(out), "--name"]
    for first, then in ((dotted, plain), (plain, dotted)):
        assert runner.invoke(app, [*args, first, "--force"]).exit_code == 0
        result = runner.invoke(app, [*args, then, "--prune"])
        assert result.exit_code == 0, result.output
        assert "pruned" not in result.output
        assert [p.relative_to(out).as_posix() for p in out.rglob("*.webp")] == [made]
        with Image.open(out / made) as im:
            assert im.size == (40, 30)


def test_a_pyproject_whose_tool_is_no_table_is_not_imgpars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text("tool = 5  # imgpar\n")
    Image.new("RGB", (8, 8)).save(tmp_path / "a.jpg")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["convert", ".", "--to", "webp", "--dry-run"])
    assert (result.exit_code, result.stdout) == (0, "a.jpg -> a.webp\n")


def test_config_paths_kinds_and_syntax(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    shutil.copytree(site, project / "assets")
    config = project / "imgpar.toml"
    # One value where a list goes, paths relative to the config's own folder.
    config.write_text('sources = "assets"\nto = "webp"\nout = "dist"\nreport = "dist/r.json"\n')
    monkeypatch.chdir(project / "assets")
    runner = CliRunner()
    result = runner.invoke(app, ["convert"])
    assert result.exit_code == 0, result.output
    assert (project / "dist" / "hero.webp").is_file()
    assert json.loads((project / "dist" / "r.json").read_text())["summary"]["converted"] > 0
    # A value of the wrong kind names its setting; no traceback.
    config.write_text('sources = ["assets"]\nto = "webp"\nquality = "high"\n')
    wrong = runner.invoke(app, ["convert"])
    assert wrong.exit_code == 2
    assert f"{config}: setting 'quality': 'high' is not a whole number" in wrong.stderr
    # TOML values are typed: nothing is coerced, nothing crashes.
    for setting, message in [
        ("upscale = 1", "'upscale': 1 is not true or false"),
        ('force = "yes"', "'force': 'yes' is not true or false"),
        ("quality = 70.5", "'quality': 70.5 is not a whole number"),
        ("out = 5", "'out': 5 is not a path in quotes"),
        ("width = true", "'width': True is not text or a number"),
        # Checked past the type, where the option is named: still the setting.
        ("quality = 500", "'quality': must be between 1 and 100"),
        ('fit = "stretch"', "'fit': must be one of contain, cover, fill"),
        ("scale = 0", "'scale': must be a positive percentage, not 0"),
        ("scale = nan", "'scale': must be a positive percentage, not nan"),
        ("jobs = 100000", "'jobs': must be at most"),
        ("width = [320, 0]", "'width': must be a positive number of pixels"),
        ("width = []", "'width': is empty: give pixels, or several separated by commas"
         " (320,640): ''"),
    ]:
        config.write_text(f'sources = ["assets"]\nto = "webp"\n{setting}\n')
        typed = runner.invoke(app, ["convert", "--dry-run"])
        assert typed.exit_code == 2, typed.output
        assert typed.stderr.strip().startswith(f"imgpar: error: {config}: setting {message}")
    # A SOURCE it names that is not there is its setting too.
    config.write_text('sources = ["assets", "gone"]\nto = "webp"\n')
    missing = runner.invoke(app, ["convert", "--dry-run"])
    assert missing.stderr.strip() == (
        f"imgpar: error: {config}: setting 'sources': no such file or folder: ../gone"
    )
    config.write_text('sources = ["assets"]\nto = ["webp"]\nwidth = [100, 200]\nquality = 70\n')
    assert runner.invoke(app, ["convert", "--dry-run"]).exit_code == 0
    # A preset's setting is named with its preset.
    config.write_text('sources = ["assets"]\nto = "webp"\n[presets.web]\nquality = "70"\n')
    preset = runner.invoke(app, ["convert", "--preset", "web", "--dry-run"])
    assert preset.stderr.strip() == (
        f"imgpar: error: {config} preset 'web': setting 'quality': '70' is not a whole number"
    )
    # A pyproject.toml that mentions imgpar but does not parse is not ignored.
    config.unlink()
    (project / "pyproject.toml").write_text('[tool.imgpar\nto = "webp"\n')
    broken = runner.invoke(app, ["convert", "."])
    assert broken.exit_code == 2
    assert "cannot read config" in broken.stderr and "pyproject.toml" in broken.stderr


def test_a_name_that_cannot_tell_cropped_sizes_apart_is_refused(tmp_path: Path) -> None:
    # Cover makes every size the box's height: named by it, one of the two
    # asked for was silently never written.
    Image.new("RGB", (300, 200), "red").save(tmp_path / "a.png")
    args = ["convert", str(tmp_path / "a.png"), "--to", "webp", "--width", "100,200", "--height",
            "100", "--fit", "cover", "--out", str(tmp_path / "o"), "--name"]  # fmt: skip
    refused = CliRunner().invoke(app, [*args, "{stem}-{height}.{ext}"])
    assert refused.exit_code == 2
    assert "needs {width}: with --fit cover every size has the same height" in refused.output
    made = CliRunner().invoke(app, [*args, "{stem}-{width}x{height}.{ext}"])
    assert made.exit_code == 0, made.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir() if p.name[0] != ".") == [
        "a-100x100.webp", "a-200x100.webp"
    ]  # fmt: skip


def test_name_template_is_validated_up_front(site: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    for template, problem in (
        ("../{stem}.{ext}", "outside the output folder"),
        ("/abs/{stem}.{ext}", "outside the output folder"),
        ("{stem}.{colour}", "unknown field"),
        ("{stem}.webp", "needs {ext}"),
    ):
        result = runner.invoke(
            app,
            [
                "convert",
                str(site),
                "--to",
                "webp,jpeg",
                "--out",
                str(tmp_path / "o"),
                "--name",
                template,
            ],
        )
        assert result.exit_code == 2, template
        assert problem in result.output
    ok = runner.invoke(
        app,
        [
            "convert",
            str(site),
            "--to",
            "webp",
            "--out",
            str(tmp_path / "o"),
            "--name",
            "{parent}/{stem}_{width}x{height}.{ext}",
            "--max-size",
            "64",
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "o" / "team" / "team" / "ann_51x64.webp").exists()


def test_an_out_is_marked_before_any_output_is_written(site: Path, tmp_path: Path) -> None:
    # A first run killed before its first record left an --out no later run
    # knew for imgpar's: its outputs looked like your images.
    out = tmp_path / "out"
    prepare([site], to="webp", out=out)
    assert kind_of_cache(str(out)) == "out"
    looked = tmp_path / "looked"
    prepare([site], to="webp", out=looked, _create_out=False)
    assert not looked.exists()
    prepare([site], to="webp")  # in place: a cache of its own, made when it records
    assert not (site / CACHE_NAME).exists()


@pytest.mark.parametrize("in_place", [False, True])
def test_every_file_a_run_makes_follows_the_umask(tmp_path: Path, in_place: bool) -> None:
    # A folder a group shares, umask 002: SQLite made the cache 0644
    # whatever the umask, and a colleague's run could record nothing in it
    # (--out: every file converted again each run, exit 1; in place: refused).
    src = tmp_path / "src"
    src.mkdir()
    _photo(src / "a.jpg", (64, 48))
    out = src if in_place else tmp_path / "web"
    args = [sys.executable, "-m", "imgpar", "convert", str(src), "--to", "webp"]
    args += ["--report", str(tmp_path / "r.json")] + ([] if in_place else ["--out", str(out)])
    done = subprocess.run(args, capture_output=True, text=True, timeout=120,
                          preexec_fn=lambda: os.umask(0o002))  # fmt: skip
    assert done.returncode == 0, done.stderr
    made = [out / CACHE_NAME, out / ".imgpar-lock", out / "a.webp", tmp_path / "r.json"]
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in made} == {
        p.name: "0o664" for p in made
    }


def test_full_resolution_colour_remakes_only_the_outputs_it_changes(tmp_path: Path) -> None:
    # JPEG and AVIF keep colour at full resolution from quality 90 since
    # 2026-12-07: those outputs, recorded under the keys before it, are made
    # again; every other output's keys are as before, so a photographer's
    # library is not converted again whole. (The keys' values are pinned:
    # a cache made by an earlier imgpar must still be read the same.)
    from imgpar.keys import run_key, settings_key

    _photo(tmp_path / "src" / "a.jpg", (64, 48))
    keys = {}
    for to, quality in (("webp", None), ("jpeg,avif", 85), ("jpeg", 95)):
        spec = prepare([tmp_path / "src"], to=to, quality=quality, width=[320, 640],
                       out=tmp_path / "o").spec  # fmt: skip
        first = spec.outputs[0]
        keys[to, quality] = run_key(spec, "{stem}-{width}.{ext}"), settings_key(spec, first)
    # Every no-gps output's keys changed again on 2026-12-08 (the places it
    # drops now, which must not stay published): these are after both.
    assert keys == {
        ("webp", None): ("64e4098118a3030948eef828", "s6e274a798c922a3756dce71d"),
        ("jpeg,avif", 85): ("4c6a3c94817094986c86358d", "sda43b582d7829dcf08362c14"),
        ("jpeg", 95): ("7fe32e34f2d4254c2dfb3a80", "s92f1532b350efdbd0d8d86a4"),
    }
