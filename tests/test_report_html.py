"""--report FILE.html: the page's text, the page as headless Chromium renders
it, and the terminal output of the same run."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from chromium import Chromium, find_chromium
from conftest import build_tree
from PIL import Image
from typer.testing import CliRunner

from imgpar import report_html
from imgpar.cli import app
from imgpar.collect import Summary
from imgpar.console import format_summary
from imgpar.report import open_report
from imgpar.spec import OutputRecord, Result

ODD_NAME = "a&b <x>.png"  # must reach the page as text, never as markup
LONG_NAME = "M" * 251 + ".jpg"
DATA_OPEN = '<script type="application/json" id="imgpar-data">'


def _noisy_jpeg(path: Path) -> Path:
    # Over 1 MiB, so the engine hands it to a worker alone: both workers get work.
    bands = [Image.effect_noise((1200, 1000), 60) for _ in range(3)]
    Image.merge("RGB", bands).save(path, "JPEG", quality=95)
    assert path.stat().st_size > 1 << 20
    return path


@dataclass(frozen=True)
class Batch:
    out: Path
    html: Path
    text: str
    data: dict[str, Any]  # the page's embedded data
    report: dict[str, Any]  # the JSON report of the same run
    returncode: int
    stdout: str


def page_data(text: str) -> dict[str, Any]:
    start = text.index(DATA_OPEN) + len(DATA_OPEN)
    return json.loads(text[start : text.index("</script>", start)])


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Batch:
    root = tmp_path_factory.mktemp("html")
    src = build_tree(
        root / "photos",
        {
            "beach.jpg": "camera_jpeg",
            "city/night.jpg": "small_jpeg",
            "city/big-1.jpg": _noisy_jpeg,
            "city/big-2.jpg": _noisy_jpeg,
            "logo.png": "rgba_png",
            "scan.png": "gray16_png",
            ODD_NAME: "rgb_png",
            "broken.jpg": b"\xff\xd8\xff\xe0 this is not a JPEG",
            # Its output's name is too long: a reason with a path in it, of
            # no place to break, overflowed the page 2,000 px wide.
            LONG_NAME: "small_jpeg",
        },
    )
    out = root / "out"
    html, report = out / "r.html", out / "r.json"
    done = subprocess.run(
        [sys.executable, "-m", "imgpar", "convert", str(src), "--to", "webp",
         "--max-size", "640", "--out", str(out), "--jobs", "2",
         "--report", str(html), "--report", str(report)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert html.exists(), done.stderr
    text = html.read_text(encoding="utf-8")
    return Batch(
        out=out,
        html=html,
        text=text,
        data=page_data(text),
        report=json.loads(report.read_text(encoding="utf-8")),
        returncode=done.returncode,
        stdout=done.stdout,
    )


# -- the HTML text -------------------------------------------------------------


def test_run_fails_only_the_broken_files(batch: Batch) -> None:
    assert batch.returncode == 1
    summary = batch.report["summary"]
    assert (summary["converted"], summary["failed"]) == (7, 2)
    failed = {f["source"].rsplit("/", 1)[1] for f in batch.report["files"] if f["error"]}
    assert failed == {"broken.jpg", LONG_NAME}


def test_page_is_one_self_contained_file(batch: Batch) -> None:
    text = batch.text
    assert text.startswith("<!doctype html>")
    assert '<meta name="viewport"' in text
    # The policy forbids every load from anywhere, so offline is the only mode.
    assert "default-src 'none'" in text
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text)
    assert "@import" not in text and not re.search(r"url\(\s*['\"]?https?:", text)
    assert not [p for p in os.listdir(batch.out) if p.startswith(".imgpar-tmp-")]


def test_page_data_matches_the_json_report(batch: Batch) -> None:
    data, report = batch.data, batch.report
    assert data["summary"] == report["summary"]
    assert data["files_total"] == len(report["files"])
    assert sorted(f["source"] for f in data["files"]) == sorted(
        f["source"] for f in report["files"]
    )
    for key in ("files", "converted", "skipped", "failed"):
        shown = re.search(rf'data-count="{key}">(\d+)<', batch.text)
        assert shown and int(shown.group(1)) == report["summary"][key], key


def test_failures_are_listed_without_javascript_too(batch: Batch) -> None:
    # An artifact viewer that blocks scripts (Jenkins) must still say why.
    failed = sorted((f["source"], f["error"]) for f in batch.report["files"] if f["error"])
    # Not in a <noscript>: a viewer that blocks scripts by policy (a CSP
    # header) runs none, and shows no <noscript> either.
    listed = re.search(r"<div class=\"plain\"><ol class=\"failures\">(.*?)</ol>", batch.text)
    assert listed is not None
    assert listed.group(1) == "".join(
        f'<li><code>{source}</code> <span class="why">{why}</span></li>' for source, why in failed
    )


def test_file_names_are_text_not_markup(batch: Batch) -> None:
    assert "<x>" not in batch.text
    assert any(f["source"].endswith(ODD_NAME) for f in batch.data["files"])


def test_thumbnails_are_small_webp_made_for_converted_files(batch: Batch) -> None:
    for record in batch.data["files"]:
        uri = record.get("thumbnail")
        if record["status"] != "converted":
            assert uri is None
            continue
        assert uri and uri.startswith("data:image/webp;base64,"), record["source"]
        assert len(uri) <= 8000
        with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as im:
            assert im.format == "WEBP" and max(im.size) <= 96
    # Thumbnails are for the page only: the JSON report stays lean.
    assert "thumbnail" not in json.dumps(batch.report)


def _result(i: int, *, failed: bool = False) -> Result:
    now = time.time()
    return Result(
        source=f"photos/{i:05d}.jpg",
        status="failed" if failed else "converted",
        outputs=() if failed else (OutputRecord(path=f"out/{i:05d}.webp", format="WEBP",
                                                width=96, height=64, bytes=500),),
        source_bytes=2000,
        seconds=0.01,
        error="corrupt image data" if failed else None,
        started=now + i / 1000,
        ended=now + i / 1000 + 0.001,
        worker=100 + i % 4,
        thumbnail=None if failed else "data:image/webp;base64," + "A" * 3000,
    )  # fmt: skip


def _page(path: Path, results: list[Result]) -> Path:
    """An HTML report of `results`, as a run of them on 4 jobs writes it."""
    writer = open_report(str(path), ["convert", "photos"])
    for result in results:
        writer.add(result)
    failed = sum(r.status == "failed" for r in results)
    writer.close(
        Summary(files=len(results), converted=len(results) - failed, skipped=0, failed=failed,
                source_bytes=1, output_bytes=1, wall_seconds=1.0, work_seconds=1.0, jobs=4)
    )  # fmt: skip
    return path


def test_caps_keep_the_page_small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_html, "TIMELINE_LIMIT", 1100)
    monkeypatch.setattr(report_html, "FAILURE_LIMIT", 12)
    total = 1250
    results = [_result(i, failed=i % 100 == 7) for i in range(total)]
    path = _page(tmp_path / "big.html", results)
    data = page_data(path.read_text(encoding="utf-8"))
    files = data["files"]
    assert data["files_total"] == total and data["failed_total"] == 13
    assert sum(1 for f in files if f.get("row")) == report_html.TABLE_LIMIT
    assert sum(1 for f in files if f.get("thumbnail")) == report_html.TABLE_LIMIT - 10
    assert sum(1 for f in files if "worker" in f) == 1100
    # Past the table and timeline caps only failures are kept, up to their own cap.
    failed = [f["source"] for f in files if f["status"] == "failed"]
    assert failed == [f"photos/{i:05d}.jpg" for i in range(7, 1200, 100)]
    assert path.stat().st_size < report_html.TABLE_LIMIT * 3300 + 200_000


# -- the page in a real browser ------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    binary = find_chromium()
    if binary is None:
        pytest.skip(
            "Chromium not found: install Debian's `chromium` (apt-get install chromium; "
            ".ci/run does) or set IMGPAR_CHROMIUM to a Chromium binary"
        )
    with Chromium(binary) as chromium:
        yield chromium


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    named = os.environ.get("IMGPAR_ARTIFACTS")
    folder = Path(named) if named else tmp_path_factory.mktemp("artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


PAGE_STATE = """(() => {
  const q = (s) => Array.from(document.querySelectorAll(s));
  const count = (k) => Number(document.querySelector(`[data-count="${k}"]`).textContent);
  const failures = document.getElementById("failures");
  const table = document.querySelector("#files table");
  return {
    counts: {files: count("files"), converted: count("converted"),
             skipped: count("skipped"), failed: count("failed")},
    lanes: q("#timeline g.lane").map((g) => Number(g.dataset.worker)),
    bars: q("#timeline rect.bar").map((r) => ({
      status: r.getAttribute("class").replace("bar", "").trim(),
      lane: Number(r.parentNode.dataset.worker)})),
    failuresShown: !failures.hidden,
    failures: q("#failures li code").map((c) => c.textContent),
    failuresBeforeTable: Boolean(
      failures.compareDocumentPosition(table) & Node.DOCUMENT_POSITION_FOLLOWING),
    rows: q("#files tbody tr").map((tr) => ({status: tr.className,
      name: tr.querySelector("td.name code").textContent,
      thumb: Boolean(tr.querySelector("img"))})),
    overflow: document.documentElement.scrollWidth - window.innerWidth,
  };
})()"""


def _open(browser: Chromium, html: Path, *, width: int, height: int = 900) -> dict[str, Any]:
    browser.events.clear()
    browser.open(html.resolve().as_uri(), width=width, height=height, mobile=width < 600)
    browser.wait_for("document.documentElement.dataset.rendered === 'true'")
    state: dict[str, Any] = browser.evaluate(PAGE_STATE)
    return state


def _tip(browser: Chromium, bar: str) -> str:
    """The tip shown as the pointer rests on `bar` (a script's expression)."""
    box = browser.evaluate(
        f"(() => {{ ({bar}).scrollIntoView({{block: 'center'}});"
        f" const r = ({bar}).getBoundingClientRect();"
        " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
    )
    browser.mouse("mouseMoved", box[0], box[1])
    tip: str = browser.wait_for("!document.getElementById('tip').hidden && "
                                "document.getElementById('tip').textContent")  # fmt: skip
    return tip


def test_page_renders_in_chromium(
    batch: Batch, browser: Chromium, artifacts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _open(browser, batch.html, width=1280)
    assert browser.errors() == []
    report = batch.report
    summary = report["summary"]
    assert state["counts"] == {k: summary[k] for k in ("files", "converted", "skipped", "failed")}

    workers = {f["worker"] for f in report["files"] if f["worker"]}
    assert sorted(state["lanes"]) == sorted(workers)
    worked = [f["status"] for f in report["files"] if f["worker"]]
    assert sorted(bar["status"] for bar in state["bars"]) == sorted(worked)
    assert worked.count("converted") == summary["converted"]
    for bar in state["bars"]:
        assert bar["lane"] in workers

    failed = sorted(f["source"] for f in report["files"] if f["status"] == "failed")
    assert state["failuresShown"] and sorted(state["failures"]) == failed
    # The plain list for a page without script is gone once the script runs.
    assert browser.evaluate("document.querySelectorAll('.plain').length") == 0
    assert state["failuresBeforeTable"]
    statuses = [row["status"] for row in state["rows"]]
    assert statuses[: len(failed)] == ["failed"] * len(failed)
    assert len(state["rows"]) == len(report["files"])
    assert all(row["thumb"] == (row["status"] == "converted") for row in state["rows"])
    assert any(row["name"].endswith(ODD_NAME) for row in state["rows"])
    assert state["overflow"] <= 0

    # Hovering a bar names its file.
    bar = "document.querySelector('#timeline rect.bar.converted')"
    index = int(browser.evaluate(f"{bar}.dataset.index"))
    assert batch.data["files"][index]["source"] in _tip(browser, bar)
    desktop = browser.screenshot(artifacts / "report-desktop.png")

    # Sorting by saving, largest first; files that saved nothing go last.
    browser.evaluate("document.querySelector('#files button[data-key=saving]').click()")
    savings = browser.evaluate(
        "Array.from(document.querySelectorAll('#files tbody td.saving'))"
        ".map((td) => td.textContent)"
    )
    numbers = [int(s.replace("\u2212", "-").rstrip("%")) for s in savings if s != "\u2013"]
    assert numbers == sorted(numbers) and savings[-1] == "\u2013"
    assert browser.errors() == []

    phone = _open(browser, batch.html, width=390, height=844)
    assert browser.errors() == []
    assert phone["overflow"] <= 0, "the page scrolls sideways on a phone"
    mobile = browser.screenshot(artifacts / "report-phone.png")
    with capsys.disabled():
        print(f"\nHTML report screenshots: {desktop} {mobile}")


def test_caps_are_stated_on_the_page(
    tmp_path: Path, browser: Chromium, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_html, "TABLE_LIMIT", 20)
    monkeypatch.setattr(report_html, "TIMELINE_LIMIT", 30)
    path = _page(tmp_path / "capped.html", [_result(i, failed=i == 45) for i in range(50)])
    _open(browser, path, width=1280)
    assert browser.errors() == []
    caps = browser.evaluate(
        "Array.from(document.querySelectorAll('p.cap')).map((p) => p.textContent).join(' | ')"
    )
    assert "first 20 of 50 files" in caps
    assert "timeline shows the first 30 of 50" in caps
    # A failure past every cap is still listed.
    assert browser.evaluate("document.querySelector('#failures li code').textContent") == (
        "photos/00045.jpg"
    )


def test_dask_workers_are_lanes_named_in_their_tips(tmp_path: Path, browser: Chromium) -> None:
    # A Dask worker is named by its address and thread (its pid may repeat
    # from host to host): too long for the lane, it is in each bar's tip.
    names = ["tcp://10.0.0.7:40123 #1", "tcp://10.0.0.7:40123 #2", "tcp://10.0.0.8:40123"]
    results = [_result(i)._replace(worker=names[i % 3]) for i in range(9)]
    _open(browser, _page(tmp_path / "dask.html", results), width=1280)
    assert browser.errors() == []
    lanes = browser.evaluate(
        "Array.from(document.querySelectorAll('#timeline g.lane'))"
        ".map((g) => [g.dataset.worker, g.querySelector('text').textContent])"
    )
    assert lanes == [[name, f"worker {i + 1}"] for i, name in enumerate(names)]
    tip = _tip(browser, "document.querySelectorAll('#timeline g.lane')[1].querySelector('.bar')")
    assert f" · {names[1]} · " in tip and "pid" not in tip


# -- the terminal side of the same work ------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "shown"),
    [
        (34_200_000, 68_100, "(-99.8%)"),
        (155_100, 50, "(-99.9%)"),
        (1000, 0, "(-100%)"),
        (1000, 1500, "(+50%)"),
    ],
)
def test_summary_size_change_never_rounds_to_nothing(before: int, after: int, shown: str) -> None:
    summary = Summary(files=1, converted=1, skipped=0, failed=0, source_bytes=before,
                      output_bytes=after, wall_seconds=1.0, work_seconds=1.0, jobs=1)  # fmt: skip
    assert shown in format_summary(summary)


def test_page_says_a_big_saving_as_the_summary_does(tmp_path: Path) -> None:
    path = tmp_path / "r.html"
    writer = open_report(str(path), ["convert", "photos"])
    writer.add(_result(0, failed=False))
    writer.close(
        Summary(files=1, converted=1, skipped=0, failed=0, source_bytes=155_100,
                output_bytes=50, wall_seconds=1.0, work_seconds=1.0, jobs=1)
    )  # fmt: skip
    page = path.read_text(encoding="utf-8")
    assert '<div class="label">Saved</div><div class="value">99.9%</div>' in page


def test_a_run_that_converted_nothing_shows_no_speedup(tmp_path: Path) -> None:
    # Everything up to date: the page said "0.00x, efficiency 0%", where the
    # terminal's summary leaves the work line out.
    path = tmp_path / "r.html"
    writer = open_report(str(path), ["convert", "photos"])
    writer.close(
        Summary(files=3, converted=0, skipped=3, failed=0, source_bytes=0, output_bytes=0,
                wall_seconds=0.1, work_seconds=0.0, jobs=2)
    )  # fmt: skip
    page = path.read_text(encoding="utf-8")
    card = page.split('<div class="label">Speedup</div>', 1)[1].split("</div></div>", 1)[0]
    assert card == '<div class="value">\u2013</div><div class="sub">nothing converted, on 2 jobs'


def test_summary_fits_80_columns() -> None:
    huge = Summary(
        files=3_000_000, converted=1_000_000, skipped=1_000_000, failed=1_000_000,
        source_bytes=999 * 10**12, output_bytes=10**12, wall_seconds=123_456.7,
        work_seconds=9_876_543.2, jobs=256, peak_worker_rss=12_345 * 2**20,
        interrupted=True,
    )  # fmt: skip
    text = format_summary(huge)
    assert max(len(line) for line in text.splitlines()) <= 80, text
    for figure in ("1000000 failed", "speedup", "efficiency", "12345 MiB"):
        assert figure in text


def _two_frame_gif(path: Path) -> Path:
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((200, 0, 0), (0, 0, 200))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    return path


def test_verbose_prints_one_line_per_file_with_its_notes(tmp_path: Path) -> None:
    src = build_tree(tmp_path / "src", {"a.jpg": "small_jpeg", "b.gif": _two_frame_gif})
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["convert", str(src), "--to", "jpeg", "--out", str(out), "--jobs", "1", "-v"]
    )
    assert result.exit_code == 0, result.output
    lines = sorted(line for line in result.stderr.splitlines() if line.startswith("converted: "))
    assert len(lines) == 2
    assert all(" -> " in line and " s)" in line for line in lines)
    assert lines[0].endswith(" s)")
    assert lines[1].endswith(" s); 2 frames: first frame written to jpeg"), lines[1]


def test_traceback_shows_the_real_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: object, result: Result) -> None:
        raise RuntimeError("collector bug")

    monkeypatch.setattr("imgpar.collect.Collector.add", broken)
    src = build_tree(tmp_path / "src", {"a.jpg": "small_jpeg"})
    args = ["convert", str(src), "--to", "webp", "--out", str(tmp_path / "out"), "--jobs", "1"]
    plain = CliRunner().invoke(app, args)
    assert plain.exit_code == 1
    assert "internal error: RuntimeError: collector bug (--traceback" in plain.stderr
    assert "Traceback" not in plain.output
    traced = CliRunner().invoke(app, [*args, "--traceback"])
    assert isinstance(traced.exception, RuntimeError)
    assert str(traced.exception) == "collector bug"
