"""imgpar.plan: every output path decided before any pixel work."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import build_tree, outputs_in
from PIL import Image

import imgpar
from imgpar.api import Report, prepare
from imgpar.cache import CACHE_NAME, Cache, Entry
from imgpar.errors import UsageError
from imgpar.plan import KEPT_EXTENSION, fold
from imgpar.spec import OutputRecord, Result, Task
from imgpar.walk import Skipped


def plan(sources: list[Path], **options: object) -> list[Task | Result | Skipped]:
    """What a run would do, without doing it (no folder is created)."""
    job = prepare([str(s) for s in sources], _create_out=False, **options)  # type: ignore[arg-type]
    return list(job.plan())


def tasks(items: list[Task | Result | Skipped]) -> dict[str, tuple[str, ...]]:
    return {t.display: t.outputs for t in items if isinstance(t, Task)}


def results(items: list[Task | Result | Skipped]) -> dict[str, Result]:
    return {r.source: r for r in items if isinstance(r, Result)}


def test_mirror_layout_under_out(tmp_path: Path, tree: Callable[..., Path]) -> None:
    photos = tree({"a.jpg": b"x", "2024/b.png": b"x", "2024/may/c.JPG": b"x"}, tmp_path / "photos")
    single = tree({"single.jpeg": b"x"}, tmp_path / "elsewhere")
    out = tmp_path / "out"
    items = plan([photos, single / "single.jpeg"], to="webp", out=out)
    assert tasks(items) == {
        str(photos / "a.jpg"): (str(out / "a.webp"),),
        str(photos / "2024" / "b.png"): (str(out / "2024" / "b.webp"),),
        str(photos / "2024" / "may" / "c.JPG"): (str(out / "2024" / "may" / "c.webp"),),
        # A SOURCE file given directly goes to OUT/<its name>.
        str(single / "single.jpeg"): (str(out / "single.webp"),),
    }
    assert not out.exists()


def test_several_targets_one_output_each(tmp_path: Path, tree: Callable[..., Path]) -> None:
    photos = tree({"a.jpg": b"x"})
    out = tmp_path / "out"
    items = plan([photos], to="webp,jpeg,png,avif,tiff", out=out)
    assert tasks(items) == {
        str(photos / "a.jpg"): tuple(
            str(out / f"a{ext}") for ext in (".webp", ".jpg", ".png", ".avif", ".tif")
        )
    }


def test_next_to_source_layout(tree: Callable[..., Path]) -> None:
    photos = tree({"a.jpg": b"x", "2024/b.png": b"x"})
    items = plan([photos], to="webp")
    assert tasks(items) == {
        str(photos / "a.jpg"): (str(photos / "a.webp"),),
        str(photos / "2024" / "b.png"): (str(photos / "2024" / "b.webp"),),
    }


@pytest.mark.parametrize("out", [True, False], ids=["out", "in-place"])
def test_same_stem_keeps_source_extension(
    tmp_path: Path, tree: Callable[..., Path], out: bool
) -> None:
    photos = tree({"dup.jpg": b"x", "dup.png": b"x", "other.jpg": b"x"})
    dest = tmp_path / "out" if out else photos
    items = plan([photos], to="webp", out=dest if out else None)
    assert tasks(items) == {
        str(photos / "dup.jpg"): (str(dest / "dup.jpg.webp"),),
        str(photos / "dup.png"): (str(dest / "dup.png.webp"),),
        str(photos / "other.jpg"): (str(dest / "other.webp"),),
    }
    notes = {t.display: t.notes for t in items if isinstance(t, Task)}
    assert KEPT_EXTENSION in notes[str(photos / "dup.jpg")]
    assert KEPT_EXTENSION in notes[str(photos / "dup.png")]
    assert KEPT_EXTENSION not in notes[str(photos / "other.jpg")]


def test_case_folding_collision(tmp_path: Path, tree: Callable[..., Path]) -> None:
    """`A.jpg` and `a.png` would both become `a.webp` on a case-insensitive disk."""
    photos = tree({"A.jpg": b"x", "a.png": b"x"})
    out = tmp_path / "out"
    outputs = tasks(plan([photos], to="webp", out=out))
    assert outputs == {
        str(photos / "A.jpg"): (str(out / "A.jpg.webp"),),
        str(photos / "a.png"): (str(out / "a.png.webp"),),
    }


@pytest.mark.parametrize("folder", ["B.webp", "b.webp"])
def test_a_folder_of_outputs_never_takes_the_name_of_an_output(
    tmp_path: Path, tree: Callable[..., Path], folder: str
) -> None:
    """`b.png` and `B.webp/y.png`: a file and a folder of one name, which a
    case-insensitive disk cannot hold side by side (the same name failed
    only as it was written). The file, walked first, keeps the name."""
    photos = tree({f"{folder}/y.png": b"x", "b.png": b"x", "c.png": b"x"})
    dest = tmp_path / "out"
    items = plan([photos], to="webp", out=dest)
    assert tasks(items) == {
        str(photos / "b.png"): (str(dest / "b.webp"),),
        str(photos / "c.png"): (str(dest / "c.webp"),),
    }
    (failed,) = [i for i in items if isinstance(i, Result) and i.status == "failed"]
    assert (failed.source, failed.error) == (
        str(photos / folder / "y.png"),
        f"its output folder {dest / folder} has the name of another source's output"
        " (names that differ only in case are one name)",
    )


def test_an_output_never_takes_the_name_of_a_folder_of_outputs(
    tmp_path: Path, tree: Callable[..., Path]
) -> None:
    x = tree({"B.webp/y.png": b"x"}, tmp_path / "x")
    y = tree({"b.png": b"x"}, tmp_path / "y")
    out = tmp_path / "out"
    items = plan([y, x], to="webp", out=out)  # x's folder first, as SOURCES go by path
    assert tasks(items) == {str(x / "B.webp" / "y.png"): (str(out / "B.webp" / "y.webp"),)}
    (failed,) = [i for i in items if isinstance(i, Result) and i.status == "failed"]
    assert (failed.source, failed.error) == (
        str(y / "b.png"),
        f"output name is a folder of another source's outputs: {out / 'b.webp'}"
        " (names that differ only in case are one name)",
    )


def test_two_sources_into_one_out_never_share_an_output(
    tmp_path: Path, tree: Callable[..., Path]
) -> None:
    x = tree({"a.jpg": b"x", "b.jpg": b"x"}, tmp_path / "x")
    y = tree({"a.jpg": b"x", "B.png": b"x"}, tmp_path / "y")
    items = plan([x, y], to="webp", out=tmp_path / "out")
    outputs = [os.path.normcase(p).casefold() for paths in tasks(items).values() for p in paths]
    assert len(tasks(items)) == 4
    assert len(outputs) == len(set(outputs))
    assert not any(isinstance(r, Result) and r.status == "failed" for r in items)


def test_three_sources_same_names_into_one_out(tmp_path: Path) -> None:
    """x/, y/ and z/ each hold a.jpg and a.png; all map into one --out. No two
    tasks may share an output; whatever cannot get a unique name fails up
    front with a reason, and nothing is silently dropped."""
    roots = [build_tree(tmp_path / r, {"a.jpg": b"x", "a.png": b"x"}) for r in ("x", "y", "z")]
    items = plan(roots, to="webp", out=tmp_path / "out")
    planned = [i for i in items if isinstance(i, (Task, Result))]
    assert len(planned) == 6
    outputs = [fold(p) for paths in tasks(items).values() for p in paths]
    assert len(outputs) == len(set(outputs))
    for item in planned:
        if isinstance(item, Result):
            assert item.status == "failed" and item.error


def _convert_twice(photos: Path, **options: object) -> tuple[Report, Report]:
    first = imgpar.convert([photos], to="webp", jobs=1, **options)
    second = imgpar.convert([photos], to="webp", jobs=1, **options)
    return first, second


def test_up_to_date_outputs_skipped_and_force_replans(
    tmp_path: Path, tree: Callable[..., Path]
) -> None:
    photos = tree({"a.jpg": "small_jpeg", "sub/b.png": "rgb_png"})
    out = tmp_path / "out"
    first, second = _convert_twice(photos, out=out)
    assert {f.status for f in first.files} == {"converted"}
    before = outputs_in(out)
    assert {f.source: f.status for f in second.files} == {
        str(photos / "a.jpg"): "skipped",
        str(photos / "sub" / "b.png"): "skipped",
    }
    assert outputs_in(out) == before  # nothing rewritten
    forced = plan([photos], to="webp", out=out, force=True)
    assert set(tasks(forced)) == {str(photos / "a.jpg"), str(photos / "sub" / "b.png")}
    third = imgpar.convert([photos], to="webp", out=out, jobs=1, force=True)
    assert {f.status for f in third.files} == {"converted"}


def test_changed_source_is_replanned(tmp_path: Path, tree: Callable[..., Path]) -> None:
    photos = tree({"a.jpg": "small_jpeg", "b.jpg": "small_jpeg"})
    out = tmp_path / "out"
    imgpar.convert([photos], to="webp", out=out, jobs=1)
    Image.new("RGB", (30, 20), (1, 2, 3)).save(photos / "a.jpg")
    later = os.stat(out / "a.webp").st_mtime_ns + 5_000_000_000
    os.utime(photos / "a.jpg", ns=(later, later))
    items = plan([photos], to="webp", out=out)
    assert set(tasks(items)) == {str(photos / "a.jpg")}
    assert results(items)[str(photos / "b.jpg")].status == "skipped"


def test_in_place_never_targets_a_source(tree: Callable[..., Path]) -> None:
    """A user's own `x.webp` sits beside `x.jpg`: converting to webp in place
    must not aim `x.jpg`'s output at it; the same for jpeg and `p.png`/`p.JPG`."""
    photos = tree({"x.jpg": "small_jpeg", "x.webp": b"mine", "p.png": "rgb_png", "p.JPG": b"m"})
    sources = {str(photos / n).casefold() for n in os.listdir(photos)}
    for target in ("webp", "jpeg", "png"):
        items = plan([photos], to=target)
        for outputs in tasks(items).values():
            for path in outputs:
                assert path.casefold() not in sources
                assert not os.path.exists(path)


@pytest.mark.parametrize("name", ["{stem}.{src_ext}", "{stem}.JPG", "b.png"])
def test_a_name_template_never_writes_over_a_source(
    tree: Callable[..., Path], name: str
) -> None:
    photos = tree({"a.jpg": "small_jpeg", "b.png": "rgb_png"})
    before = {p.name: p.read_bytes() for p in photos.iterdir()}
    report = imgpar.convert([photos], to="webp", name=name, jobs=1)
    assert {p.name: p.read_bytes() for p in photos.iterdir() if p.name in before} == before
    failed = [f for f in report.files if f.status == "failed"]
    assert failed, "nothing refused"
    assert all("its output would overwrite a source: " in (f.error or "") for f in failed)
    for f in report.files:
        for output in f.outputs:
            assert os.path.basename(output.path).casefold() not in {n.casefold() for n in before}


def test_the_source_in_the_way_is_named_as_spelled(tree: Callable[..., Path]) -> None:
    photos = tree({"a.jpg": "small_jpeg", "A-WEB.webp": "rgb_png"})
    report = imgpar.convert([photos], to="webp", name="{stem}-web.{ext}", jobs=1)
    failed = {f.source: f.error for f in report.files if f.status == "failed"}
    assert failed == {
        str(photos / "a.jpg"): f"its output would overwrite a source: {photos / 'A-WEB.webp'}"
        " (give --name a pattern that makes other names)"
    }


def test_in_place_run_leaves_sources_alone(tree: Callable[..., Path]) -> None:
    photos = tree({"x.jpg": "small_jpeg", "x.webp": b"mine, not an image"})
    report = imgpar.convert([photos], to="webp", jobs=1)
    assert (photos / "x.webp").read_bytes() == b"mine, not an image"
    converted = {f.source: f for f in report.files if f.status == "converted"}
    assert [o.path for o in converted[str(photos / "x.jpg")].outputs] == [
        str(photos / "x.jpg.webp")
    ]


def test_second_in_place_run_does_not_take_outputs_for_sources(
    tree: Callable[..., Path],
) -> None:
    photos = tree({"a.jpg": "small_jpeg", "b.png": "rgb_png"})
    first = imgpar.convert([photos], to="webp", jobs=1)
    assert {f.source: [o.path for o in f.outputs] for f in first.files} == {
        str(photos / "a.jpg"): [str(photos / "a.webp")],
        str(photos / "b.png"): [str(photos / "b.webp")],
    }
    after_first = outputs_in(photos)
    second = imgpar.convert([photos], to="webp", jobs=1)
    assert outputs_in(photos) == after_first  # nothing new written
    assert {f.source: f.status for f in second.files} == {
        str(photos / "a.jpg"): "skipped",
        str(photos / "b.png"): "skipped",
    }


def test_an_in_place_run_to_another_format_leaves_earlier_outputs_alone(
    tree: Callable[..., Path],
) -> None:
    photos = tree({"a.jpg": "small_jpeg", "b.png": "rgb_png"})
    imgpar.convert([photos], to="webp", jobs=1)
    second = imgpar.convert([photos], to="jpeg", jobs=1)
    # b.png becomes b.jpg; a.jpg is already a JPEG; a.webp and b.webp were
    # written by imgpar, and are not sources.
    assert {f.source: f.status for f in second.files} == {
        str(photos / "a.jpg"): "skipped",
        str(photos / "b.png"): "converted",
    }
    assert sorted(os.listdir(photos)) == [
        ".imgpar-cache.sqlite", ".imgpar-lock", "a.jpg", "a.webp", "b.jpg", "b.png", "b.webp"
    ]


@pytest.mark.parametrize("older_cache", [False, True], ids=["cache", "cache-without-home"])
def test_a_moved_or_copied_folder_still_knows_its_outputs(
    tmp_path: Path, tree: Callable[..., Path], older_cache: bool
) -> None:
    photos = tree({"a.jpg": "small_jpeg", "sub/b.png": "rgb_png"})
    imgpar.convert([photos], to="webp", jobs=1)
    if older_cache:
        # As a cache written before the folder's name was recorded.
        with sqlite3.connect(photos / CACHE_NAME) as db:
            db.execute("DELETE FROM meta WHERE key = 'home'")
    moved = tmp_path / "moved"
    photos.rename(moved)
    copied = tmp_path / "copied"
    shutil.copytree(moved, copied)
    for folder in (moved, copied):
        again = imgpar.convert([folder], to="webp", jobs=1)
        assert {f.status for f in again.files} == {"skipped"}
        other = imgpar.convert([folder], to="jpeg", jobs=1)
        # a.webp and sub/b.webp are imgpar's, not sources: no a.webp.jpg.
        assert {os.path.relpath(f.source, folder): f.status for f in other.files} == {
            "a.jpg": "skipped",
            os.path.join("sub", "b.png"): "converted",
        }
        assert sorted(p.name for p in folder.rglob("*.*") if not p.name.startswith(".imgpar")) == [
            "a.jpg", "a.webp", "b.jpg", "b.png", "b.webp"
        ]  # fmt: skip


def test_one_path_is_one_source(tmp_path: Path, tree: Callable[..., Path]) -> None:
    photos = tree({"a.jpg": "small_jpeg", "b.png": "rgb_png"})
    for one in (str(photos), photos):
        report = imgpar.convert(one, to="webp", out=tmp_path / "out", jobs=1)
        assert sorted(Path(f.source).name for f in report.files) == ["a.jpg", "b.png"]


def test_a_deleted_sources_outputs_stay_imgpars_in_place(tree: Callable[..., Path]) -> None:
    photos = tree({"a.jpg": "small_jpeg", "b.png": "rgb_png"})
    imgpar.convert([photos], to="webp", jobs=1)
    (photos / "b.png").unlink()
    again = imgpar.convert([photos], to="avif", jobs=1)
    # b.webp is b.png's output, not a source: no b.avif made from it.
    assert [Path(f.source).name for f in again.files] == ["a.jpg"]
    assert not (photos / "b.avif").exists()
    orphans = prepare([photos], to="avif", jobs=1).orphans([])
    assert sorted(Path(p).name for p in orphans) == ["a.webp", "b.webp"]


def test_one_folder_named_twice_is_one_source(tmp_path: Path, tree: Callable[..., Path]) -> None:
    photos = tree({"a.jpg": "small_jpeg"})
    (tmp_path / "link").symlink_to(photos)
    names = [str(photos), f"{photos}{os.sep}", str(tmp_path / "link")]
    report = imgpar.convert(names, to="webp", out=tmp_path / "out", jobs=1)
    assert [(Path(f.source).name, f.status) for f in report.files] == [("a.jpg", "converted")]


def test_outputs_of_a_source_now_in_the_target_format_are_orphans(
    tree: Callable[..., Path],
) -> None:
    photos = tree({"c.png": "rgb_png"})
    imgpar.convert([photos], to="webp", jobs=1)
    imgpar.convert([photos], to="png", jobs=1)  # c.png makes nothing now
    assert [Path(p).name for p in prepare([photos], to="png").orphans([])] == ["c.webp"]
    prepare([photos], to="png").prune()
    assert sorted(p.name for p in photos.iterdir() if not p.name.startswith(".imgpar")) == [
        "c.png"
    ]  # fmt: skip


def test_planning_reads_no_pixels(tmp_path: Path, tree: Callable[..., Path]) -> None:
    """Planning a tree of files that are not images plans them all: whether
    a file decodes is the pipeline's business, not the planner's."""
    photos = tree({"a.jpg": b"not a jpeg", "b.png": b""})
    items = plan([photos], to="png", out=tmp_path / "out")
    assert set(tasks(items)) == {str(photos / "a.jpg"), str(photos / "b.png")}


def test_task_carries_source_size(tmp_path: Path, tree: Callable[..., Path]) -> None:
    photos = tree({"a.jpg": "camera_jpeg"})
    (task,) = [t for t in plan([photos], to="png", out=tmp_path / "o") if isinstance(t, Task)]
    assert task.source_bytes == os.path.getsize(photos / "a.jpg")
    with Image.open(task.source) as im:
        assert im.format == "JPEG"


def test_only_the_first_tasks_carry_a_thumbnail(tmp_path: Path, tree: Callable[..., Path]) -> None:
    from imgpar.plan import Planner
    from imgpar.spec import ConvertSpec, OutputSpec
    from imgpar.walk import Folder, walk

    photos = tree({f"p{i}.jpg": b"x" for i in range(5)}, tmp_path / "photos")
    planner = Planner(ConvertSpec((OutputSpec(target="webp"),)), out=str(tmp_path / "out"),
                      force=False, template=None, options_key="k", read_only=True, previews=2)
    planned = [t for f in walk([str(photos)]) if isinstance(f, Folder) for t in planner.plan(f)]
    assert [t.preview for t in planned if isinstance(t, Task)] == [True, True, False, False, False]
    # Without an HTML report no task makes one.
    job = prepare([photos], to="webp", out=tmp_path / "out2", _create_out=False)
    assert not any(t.preview for t in job.plan() if isinstance(t, Task))


def test_a_note_of_outputs_left_looks_on_disk_only_where_the_walk_missed_a_source(
    tmp_path: Path,
) -> None:
    # A source looked for on disk, for each of a tree's: a stat each, on a
    # network share a long wait after every no-op run that leaves one output.
    for folder in ("a", "a/b.x", "c"):
        (tmp_path / "src" / folder).mkdir(parents=True)
        for name in ("p.png", "q é.png"):
            Image.new("RGB", (8, 8), "red").save(tmp_path / "src" / folder / name)
    out = tmp_path / "out"
    imgpar.convert(tmp_path / "src", to="webp", out=out)
    (tmp_path / "src" / "c" / "p.png").unlink()
    job = prepare([tmp_path / "src"], to="webp", out=out)
    assert all(isinstance(e, Skipped) or e.status == "skipped" for e in job.events())
    assert job.planner is not None
    cache = Cache(str(out))
    try:
        assert cache.count_by_folder() == {"src/a/": 2, "src/a/b.x/": 2, "src/c/": 2}
        assert job.planner.walked_whole(cache) == {"src/a/", "src/a/b.x/"}
    finally:
        cache.close()
    assert job.left_behind() == 1


def test_reading_a_whole_cache_holds_a_batch_not_the_tree(tmp_path: Path) -> None:
    # --check and --prune read every entry; all at once, they held 1 KB a
    # source of a 100,000-file tree until the end.
    cache = Cache(str(tmp_path))
    output = (OutputRecord("d/p.webp", "WEBP", 16, 16, 100),)
    for i in range(5000):
        cache.put(f"src/d{i // 250}/p{i:05d}.png", Entry(100, i, "x" * 64, "k", output, 16, 16))
    cache.close()
    tracemalloc.start()
    count = sum(1 for _ in Cache(str(tmp_path)).items())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 5000
    assert peak < 1_000_000  # a few hundred bytes an entry, for one batch


def test_a_size_beside_another_field_without_a_separator_is_refused() -> None:
    # a.png at 1100 and a1.png at 100 were both a1100.webp, and no collision
    # was found: the names' templates differ until the sizes fill them in.
    with pytest.raises(UsageError, match=r"not a digit between \{stem\} and \{width\}"):
        prepare(["."], to="webp", width=[100, 1100], name="{stem}{width}.{ext}", _create_out=False)
    # Digits between them join as the size's own: a + 1 + 1100 is a1 + 1 + 100.
    with pytest.raises(UsageError, match=r"not a digit between \{stem\} and \{width\}"):
        prepare(["."], to="webp", width=[100, 1100], name="{stem}1{width}.{ext}", _create_out=False)
    with pytest.raises(UsageError, match=r"between \{height\} and \{parent\}"):
        prepare(["."], to="webp", height=100, name="{height}{parent}.{ext}", _create_out=False)
    apart = prepare(["."], to="webp", width=[100, 1100], name="{stem}-{width}.{ext}",
                    _create_out=False)  # fmt: skip
    assert len(apart.spec.outputs) == 2


def test_an_out_run_never_takes_what_an_in_place_run_has_in_flight_for_a_source(
    tmp_path: Path,
) -> None:
    # An in-place run converting beside an --out run over the same tree: an
    # output it put in flight after the --out run had read its cache was a
    # source to that run (img.webp -> img.webp.webp), and stayed one.
    src = tmp_path / "src"
    build_tree(src, {"s0/a.png": "rgba_png"})
    assert imgpar.convert([src], to="webp", jobs=1).summary.converted == 1
    build_tree(src, {"s1/b.png": "rgba_png"})
    items = prepare([src], to="webp", out=tmp_path / "out", jobs=1).plan()
    first = next(items)
    assert isinstance(first, Task) and first.display == str(src / "s0" / "a.png")
    # Meanwhile the in-place run launches b.png, and its worker writes b.webp.
    Cache(str(src), home="src").mark_in_flight([("src/s1/b.png", ["s1/b.webp"])], time.time_ns())
    shutil.copy(src / "s0" / "a.webp", src / "s1" / "b.webp")
    rest = [i for i in items if isinstance(i, (Task, Result))]
    assert [Path(i.display if isinstance(i, Task) else i.source).name for i in rest] == ["b.png"]


def test_a_file_gone_before_it_is_planned_is_said_gone(tmp_path: Path) -> None:
    # Deleted between the walk and its planning, it failed as a read error
    # of the system ("cannot read the file: no such file or directory"),
    # where one gone a moment later fails as the worker says it.
    source = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(source)
    job = prepare([source], to="webp", out=tmp_path / "out")
    source.unlink()
    planned = [item for item in job.plan() if isinstance(item, Result)]
    assert [(r.status, r.error) for r in planned] == [
        ("failed", "file disappeared before it could be read")
    ]
