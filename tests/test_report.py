"""imgpar.report: the JSON and CSV reports, as DESIGN.md specifies them."""

from __future__ import annotations

import csv
import html
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import build_tree, make_camera_jpeg
from PIL import Image
from typer.testing import CliRunner

import imgpar
from imgpar.cli import app
from imgpar.collect import Collector
from imgpar.report import open_report
from imgpar.spec import OutputRecord, Result

FILE_KEYS = {
    "source": str,
    "status": str,
    "outputs": list,
    "source_bytes": int,
    "width": (int, type(None)),
    "height": (int, type(None)),
    "seconds": (int, float),
    "error": (str, type(None)),
}
OUTPUT_KEYS = {"path": str, "format": str, "width": int, "height": int, "bytes": int}
SUMMARY_KEYS = {
    "files": int,
    "converted": int,
    "skipped": int,
    "failed": int,
    "source_bytes": int,
    "output_bytes": int,
    "wall_seconds": (int, float),
    "work_seconds": (int, float),
    "waited_seconds": (int, float),
    "jobs": int,
    "speedup": (int, float),
    "efficiency": (int, float),
}
TARGETS = "webp,jpeg,png,avif,tiff"


def _photos(root: Path) -> Path:
    return build_tree(
        root,
        {
            "a.jpg": lambda p: make_camera_jpeg(p, exif_ifd=False),
            "2024/b.png": "rgba_png",
            "2024/c.png": "gray16_png",
            "2024/cmyk.jpg": "cmyk_jpeg",
            "bad.jpg": b"this is text",
        },
    )


def convert(monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    """Run `imgpar convert ...` in-process with the argv a real process would have."""
    argv = ["convert", *args]
    monkeypatch.setattr(sys, "argv", ["imgpar", *argv])
    return CliRunner().invoke(app, argv)


@pytest.fixture
def reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[str]]:
    monkeypatch.chdir(tmp_path)
    _photos(tmp_path / "photos")
    args = ["photos", "--to", TARGETS, "--out", "out", "--jobs", "1"]
    args += ["--report", "r.json", "--report", "r.csv"]
    result = convert(monkeypatch, *args)
    return result, args


def _check_types(data: dict[str, Any], keys: dict[str, Any]) -> None:
    for key, kind in keys.items():
        assert key in data, key
        assert isinstance(data[key], kind), (key, data[key])
        assert not isinstance(data[key], bool) or kind is bool, key


def test_json_report_shape(tmp_path: Path, reported: tuple[Any, list[str]]) -> None:
    result, args = reported
    assert result.exit_code == 1, result.output
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert {"imgpar", "argv", "files", "summary"} <= set(data)
    assert list(data)[:4] == ["imgpar", "imgpar_report", "argv", "files"]
    assert data["imgpar"] == imgpar.__version__
    assert data["imgpar_report"] == 1  # docs/report.md's layout
    assert data["argv"] == ["convert", *args]
    files = {f["source"]: f for f in data["files"]}
    assert set(files) == {
        "photos/a.jpg",
        "photos/2024/b.png",
        "photos/2024/c.png",
        "photos/2024/cmyk.jpg",
        "photos/bad.jpg",
    }
    for entry in data["files"]:
        _check_types(entry, FILE_KEYS)
        assert entry["status"] in ("converted", "skipped", "failed")
        for output in entry["outputs"]:
            _check_types(output, OUTPUT_KEYS)

    camera = files["photos/a.jpg"]
    assert camera["status"] == "converted"
    assert camera["error"] is None
    assert (camera["width"], camera["height"]) == (200, 300)  # as displayed
    assert [o["path"] for o in camera["outputs"]] == [
        "out/a.webp",
        "out/a.jpg",
        "out/a.png",
        "out/a.avif",
        "out/a.tif",
    ]
    assert [o["format"] for o in camera["outputs"]] == ["WEBP", "JPEG", "PNG", "AVIF", "TIFF"]
    assert camera["source_bytes"] == os.path.getsize(tmp_path / "photos" / "a.jpg")

    bad = files["photos/bad.jpg"]
    assert bad["status"] == "failed"
    assert bad["outputs"] == []
    assert isinstance(bad["error"], str) and bad["error"] and "\n" not in bad["error"]


def test_json_report_outputs_are_real(tmp_path: Path, reported: tuple[Any, list[str]]) -> None:
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    outputs = [o for f in data["files"] for o in f["outputs"]]
    assert len(outputs) == 4 * 5
    for output in outputs:
        path = tmp_path / output["path"]
        assert output["bytes"] == os.path.getsize(path), output
        with Image.open(path) as im:
            assert im.format == output["format"]
            assert im.size == (output["width"], output["height"])


def test_json_report_summary(tmp_path: Path, reported: tuple[Any, list[str]]) -> None:
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    summary = data["summary"]
    _check_types(summary, SUMMARY_KEYS)
    files = data["files"]
    assert summary["files"] == len(files) == 5
    assert (summary["converted"], summary["skipped"], summary["failed"]) == (4, 0, 1)
    converted = [f for f in files if f["status"] == "converted"]
    assert summary["source_bytes"] == sum(f["source_bytes"] for f in converted)
    assert summary["output_bytes"] == sum(o["bytes"] for f in converted for o in f["outputs"])
    assert summary["jobs"] == 1
    assert summary["work_seconds"] == pytest.approx(sum(f["seconds"] for f in files), abs=0.01)
    assert 0 < summary["work_seconds"] <= summary["wall_seconds"] + 0.01
    # The files' time off a CPU: a part of their time, on a quiet machine a small one.
    assert 0 <= summary["waited_seconds"] <= summary["work_seconds"]
    speedup = summary["work_seconds"] / summary["wall_seconds"]
    assert summary["speedup"] == pytest.approx(speedup, abs=0.02)
    assert summary["efficiency"] == pytest.approx(summary["speedup"] / summary["jobs"], abs=0.02)
    stages = summary["stage_seconds"]
    assert list(stages) == ["decode", "resize", "encode", "write"]
    assert all(v >= 0 for v in stages.values()) and stages["encode"] > 0
    # The stages are the files' worker time without opening and hashing.
    assert sum(stages.values()) <= summary["work_seconds"] + 0.01


def test_json_report_of_an_up_to_date_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reported: tuple[Any, list[str]]
) -> None:
    again = convert(
        monkeypatch, "photos", "--to", TARGETS, "--out", "out", "--jobs", "1", "--report", "s.json"
    )
    data = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    statuses = {f["source"]: f["status"] for f in data["files"]}
    assert statuses == {
        "photos/a.jpg": "skipped",
        "photos/2024/b.png": "skipped",
        "photos/2024/c.png": "skipped",
        "photos/2024/cmyk.jpg": "skipped",
        "photos/bad.jpg": "failed",  # a failed file is never recorded as done
    }
    assert data["summary"]["skipped"] == 4
    assert again.exit_code == 1


def test_reports_say_what_the_run_said_at_its_end(tmp_path: Path) -> None:
    # A CI step reading the report missed the orphans, the renamed outputs
    # and a damaged cache the terminal told of.
    src = tmp_path / "s"
    src.mkdir()
    Image.new("RGB", (80, 60), "red").save(src / "logo.png")
    Image.new("RGB", (90, 60), "blue").save(src / "logo.jpg")
    out = tmp_path / "o"
    runner = CliRunner()
    base = ["convert", str(src), "--to", "webp", "--out", str(out)]
    assert runner.invoke(app, [*base, "--name", "x-{stem}.{ext}"]).exit_code == 0
    (out / ".imgpar-cache.sqlite").write_bytes(b"not a cache")
    reports = [tmp_path / "r.json", tmp_path / "r.html"]
    result = runner.invoke(app, [*base, *(a for r in reports for a in ("--report", str(r)))])
    ends = [line for line in result.stderr.splitlines() if line.startswith(("warning:", "note:"))]
    said = json.loads(reports[0].read_text(encoding="utf-8"))["said"]
    assert said == ends
    assert any(line.startswith("warning: cache") for line in said), said
    assert any("with another of the same name" in line for line in said), said
    page = reports[1].read_text(encoding="utf-8")
    for line in said:
        assert f"<li>{html.escape(line)}</li>" in page
    # The warning that fails a run is said too: a SOURCE emptied.
    for photo in src.iterdir():
        photo.unlink()
    emptied = runner.invoke(app, [*base, "--report", str(reports[0])])
    assert emptied.exit_code == 1
    ends = [line for line in emptied.stderr.splitlines() if line.startswith(("warning:", "note:"))]
    said = json.loads(reports[0].read_text(encoding="utf-8"))["said"]
    assert said == [line for line in ends if not line.startswith(f"note: {src}:")]
    assert any(line.startswith(f"warning: {src}: no images in it now") for line in said), said


def test_csv_report_one_row_per_output(tmp_path: Path, reported: tuple[Any, list[str]]) -> None:
    with open(tmp_path / "r.csv", newline="", encoding="utf-8") as fp:
        rows = list(csv.DictReader(fp))
    assert rows
    assert {"source", "status", "output", "format", "width", "height", "bytes", "error"} <= set(
        rows[0]
    )
    converted = [r for r in rows if r["status"] == "converted"]
    assert len(converted) == 4 * 5
    assert len({r["output"] for r in converted}) == len(converted)
    for row in converted:
        assert int(row["bytes"]) == os.path.getsize(tmp_path / row["output"]), row
        with Image.open(tmp_path / row["output"]) as im:
            assert im.size == (int(row["width"]), int(row["height"]))
            assert im.format == row["format"]
    (failed,) = [r for r in rows if r["status"] == "failed"]
    assert failed["source"] == "photos/bad.jpg"
    assert failed["output"] == ""
    assert failed["error"]
    json_data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert len(rows) == sum(max(1, len(f["outputs"])) for f in json_data["files"])
    notes = {f["source"]: "; ".join(f["notes"]) for f in json_data["files"]}
    assert all(row["notes"] == notes[row["source"]] for row in rows)


def test_csv_report_rows_carry_their_files_notes(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (16, 12), c) for c in ((250, 0, 0), (0, 0, 250))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    report = tmp_path / "r.csv"
    result = CliRunner().invoke(app, ["convert", str(tmp_path / "anim.gif"), "--to", "jpeg,png",
                                      "--out", str(tmp_path / "o"), "--report", str(report)])
    assert result.exit_code == 0, result.output
    with open(report, newline="", encoding="utf-8") as fp:
        rows = list(csv.DictReader(fp))
    assert len(rows) == 2  # one per output, each with the file's notes
    assert {row["notes"] for row in rows} == {"2 frames: first frame written to jpeg"}


def _result(tmp_path: Path) -> Result:
    out = tmp_path / "a.webp"
    out.write_bytes(b"x" * 10)
    return Result(
        source="a.jpg",
        status="converted",
        outputs=(OutputRecord(path=str(out), format="WEBP", width=4, height=3, bytes=10),),
        source_bytes=100,
        width=4,
        height=3,
        seconds=0.25,
    )


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_report_written_atomically(tmp_path: Path, suffix: str) -> None:
    """Until the run ends, the report's name holds the previous report whole
    (or nothing); at the end it holds the new one, and no temporary is left."""
    path = tmp_path / "reports" / f"r{suffix}"
    path.parent.mkdir()
    path.write_text("previous report\n", encoding="utf-8")
    writer = open_report(str(path), ["convert", "a.jpg"])
    for _ in range(200):
        writer.add(_result(tmp_path))
    assert path.read_text(encoding="utf-8") == "previous report\n"
    writer.close(Collector(jobs=1).summary())
    text = path.read_text(encoding="utf-8")
    if suffix == ".json":
        data = json.loads(text)
        assert len(data["files"]) == 200
        assert data["argv"] == ["convert", "a.jpg"]
    else:
        assert len(list(csv.DictReader(text.splitlines()))) == 200
    assert sorted(os.listdir(path.parent)) == [path.name]


def test_new_report_appears_only_when_complete(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    writer = open_report(str(path), ["convert"])
    writer.add(_result(tmp_path))
    assert not path.exists()
    writer.close(Collector(jobs=2).summary())
    assert json.loads(path.read_text(encoding="utf-8"))["summary"]["jobs"] == 2


def test_unknown_report_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.json"):
        open_report(str(tmp_path / "r.txt"), [])
    assert os.listdir(tmp_path) == []
