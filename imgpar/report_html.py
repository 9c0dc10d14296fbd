"""The HTML report: one self-contained page (inline CSS and JS, no network)
with the summary, a worker timeline, the failures and a sortable file table.

Results are spooled to an anonymous temporary file as they arrive and the page
is assembled at the end, so memory stays flat however large the batch; the
page embeds its data as JSON and draws the timeline and table from it.
"""

from __future__ import annotations

import html
import json
import platform
import shlex
import tempfile
import time
from collections.abc import Sequence
from typing import IO, Any

from imgpar import __version__
from imgpar.collect import Summary
from imgpar.console import format_bytes, format_change, share
from imgpar.limits import PREVIEW_LIMIT
from imgpar.report import ReportWriter, to_json
from imgpar.spec import Result

# Rows of the file table, each with a thumbnail of a few KB: the cap keeps a
# 100,000-file report a few MB and the page quick on a phone.
TABLE_LIMIT = PREVIEW_LIMIT
# Bars drawn in the timeline; beyond this an SVG gets slow on a phone.
TIMELINE_LIMIT = 20000
FAILURE_LIMIT = 1000


class HtmlReport(ReportWriter):
    def _start(self) -> None:
        # Time zero of the timeline: opened just before the run starts, so the
        # gap before the first bar shows the workers' start-up cost.
        self._opened = time.time()
        self._spool: IO[str] = tempfile.TemporaryFile(  # noqa: SIM115
            "w+", encoding="utf-8", errors="backslashreplace"
        )
        self._files = 0
        self._written = 0
        self._bars = 0
        self._failed = 0
        self._failures_listed = 0
        # For a page read without JavaScript (a CI server's artifact viewer
        # blocks scripts): the listed failures, written as plain HTML.
        self._failures: list[tuple[str, str]] = []

    def discard(self) -> None:
        self._spool.close()
        super().discard()

    def add(self, result: Result) -> None:
        index = self._files
        self._files += 1
        in_table = index < TABLE_LIMIT
        on_timeline = bool(result.worker and result.started) and self._bars < TIMELINE_LIMIT
        failure = result.status == "failed"
        if failure:
            self._failed += 1
        listed = failure and self._failures_listed < FAILURE_LIMIT
        if not (in_table or on_timeline or listed):
            return
        self._bars += on_timeline
        self._failures_listed += listed
        if listed:
            self._failures.append((result.source, result.error or "failed"))
        record: dict[str, Any] = {
            "source": result.source,
            "status": result.status,
            "seconds": round(result.seconds, 4),
        }
        if result.error:
            record["error"] = result.error
        if on_timeline:
            record["worker"] = result.worker
            record["start"] = round(result.started - self._opened, 4)
            record["end"] = round(result.ended - self._opened, 4)
        if in_table:
            record["row"] = True
            record["source_bytes"] = result.source_bytes
            record["output_bytes"] = sum(o.bytes for o in result.outputs)
            record["width"] = result.width
            record["height"] = result.height
            record["outputs"] = [
                {"path": o.path, "format": o.format, "width": o.width, "height": o.height}
                for o in result.outputs
            ]
            if result.notes:
                record["notes"] = list(result.notes)
            if result.thumbnail:
                record["thumbnail"] = result.thumbnail
        self._spool.write((",\n" if self._written else "\n") + _script_json(record))
        self._written += 1

    def _finish(self, summary: Summary, said: Sequence[str]) -> None:
        wall = time.time() - self._opened
        data = {
            "imgpar": __version__,
            "argv": self.argv,
            "wall": round(wall, 4),
            "summary": summary.as_dict(),
            "limits": {"table": TABLE_LIMIT, "timeline": TIMELINE_LIMIT, "failures": FAILURE_LIMIT},
            "files_total": self._files,
            "failed_total": self._failed,
        }
        head = _script_json(data)
        out = self._fp
        out.write(_page_head(summary, self._opened))
        out.write(_summary_html(summary, self.argv, self._opened))
        out.write(_notes_html(self.notes, said))
        out.write(_failures_html(sorted(self._failures), self._failed))
        out.write(_BODY)
        out.write('<script type="application/json" id="imgpar-data">')
        # The spooled records are spliced into the data object, a chunk at a time.
        out.write(head[:-1] + ', "files": [')
        self._spool.seek(0)
        while chunk := self._spool.read(1 << 16):
            out.write(chunk)
        out.write("\n]}</script>\n<script>\n")
        out.write(_SCRIPT)
        out.write("</script>\n</body>\n</html>\n")
        self._spool.close()


def _script_json(value: object) -> str:
    # "<" escaped so no file name can close the <script> element holding the data.
    return to_json(value, _compact).replace("<", "\\u003c")


_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _seconds(s: float) -> str:
    return f"{s:.2f} s" if s < 10 else f"{s:.1f} s"


def _pillow_version() -> str:
    # Read from the package metadata: the report process never imports Pillow.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pillow")
    except PackageNotFoundError:
        return "unknown"


def _page_head(s: Summary, opened: float) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(opened))
    title = html.escape(f"imgpar report: {s.files} files, {when}")
    return (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        # Nothing may load from anywhere: the page works offline, and a file
        # name in it can never fetch anything.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n"
        f"<title>{title}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n<main>\n"
    )


def _card(label: str, value: str, sub: str = "", *, key: str = "", tone: str = "") -> str:
    attr = f' data-count="{key}"' if key else ""
    cls = f"card {tone}".strip()
    sub_html = f'<div class="sub">{sub}</div>' if sub else ""
    return (
        f'<div class="{cls}"><div class="label">{label}</div>'
        f'<div class="value"{attr}>{value}</div>{sub_html}</div>'
    )


def _summary_html(s: Summary, argv: Sequence[str], opened: float) -> str:
    e = html.escape
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(opened))
    parts = [
        '<header><h1>imgpar report</h1>'
        f'<p class="muted">{e(when)} · {s.files} files</p></header>\n'
        '<section id="summary" aria-label="Summary">'
    ]
    if s.interrupted:
        parts.append(
            '<p class="banner warn">Interrupted: this report covers the files that finished.</p>'
        )
    if s.stopped:
        parts.append(f'<p class="banner warn">Stopped early: {e(s.stopped)}.</p>')
    if s.failed:
        noun = "file" if s.failed == 1 else "files"
        parts.append(
            f'<p class="banner bad"><a href="#failures">{s.failed} {noun} failed</a>: '
            "the reasons are listed below.</p>"
        )
    if s.held_back:
        names = ", ".join(s.held_back)
        parts.append(
            f'<p class="banner bad"><a href="#notes">No images in {e(names)}</a>, yet outputs'
            " of its sources are there: they were kept, and the run failed.</p>"
        )
    if s.unrecorded:
        parts.append(
            f'<p class="banner bad">The cache {e(", ".join(s.unrecorded))} could not be written:'
            " the outputs are whole, the next run converts these files again, and the run"
            " failed.</p>"
        )
    if s.pruned:
        noun = "output" if len(s.pruned) == 1 else "outputs"
        parts.append(
            f'<p class="banner">--prune deleted {len(s.pruned)} {noun} no source makes now:'
            f" {e(', '.join(s.pruned))}.</p>"
        )
    cards = [
        _card("Files", str(s.files), key="files"),
        _card("Converted", str(s.converted), key="converted", tone="ok"),
        _card("Skipped", str(s.skipped), "up to date", key="skipped"),
        _card("Failed", str(s.failed), key="failed", tone="bad" if s.failed else ""),
    ]
    if s.converted and s.source_bytes:
        change = s.size_change
        sizes = f"{format_bytes(s.source_bytes)} → {format_bytes(s.output_bytes)}"
        if change <= 0:
            cards.append(_card("Saved", format_change(change).lstrip("-+"), sizes, tone="ok"))
        else:
            cards.append(_card("Grew", format_change(change), sizes, tone="warn"))
    else:
        cards.append(_card("Size", "\u2013", "nothing converted"))
    cards.append(_card("Wall time", _seconds(s.wall_seconds), f"work {_seconds(s.work_seconds)}"))
    jobs = f"{s.jobs} {'job' if s.jobs == 1 else 'jobs'}"
    if s.converted:
        efficiency = f"efficiency {share(s.efficiency)} on {jobs}"
        cards.append(_card("Speedup", f"{s.speedup:.2f}\u00d7", efficiency))
    else:
        # As the terminal's summary: a run that converted nothing (all up
        # to date) measured no speedup, and 0.00x read as a broken engine.
        cards.append(_card("Speedup", "\u2013", f"nothing converted, on {jobs}"))
    parts.append('<div class="cards">' + "".join(cards) + "</div>")
    command = shlex.join(["imgpar", *argv]) if argv else "imgpar"
    facts = [
        ("Options", f"<code>{e(command)}</code>"),
        ("Engine", f"{e(s.engine)}, {s.jobs} {'job' if s.jobs == 1 else 'jobs'}"),
        (
            "Versions",
            f"imgpar {e(__version__)} · Pillow {e(_pillow_version())}"
            f" · Python {e(platform.python_version())}",
        ),
    ]
    parts.append(
        '<dl class="facts">'
        + "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in facts)
        + "</dl></section>\n"
    )
    return "".join(parts)


def _notes_html(notes: list[dict[str, str]], said: Sequence[str]) -> str:
    if not notes and not said:
        return ""
    items = "".join(
        f"<li><code>{html.escape(n['path'])}</code> {html.escape(n['reason'])}</li>" for n in notes
    )
    items += "".join(f"<li>{html.escape(line)}</li>" for line in said)
    return (
        '<section id="notes"><h2>Notes</h2><p class="muted">Paths the walker passed over,'
        " SOURCES with no images, and what the run said at its end.</p>"
        f'<ul class="notes">{items}</ul></section>\n'
    )


def _failures_html(failures: list[tuple[str, str]], total: int) -> str:
    """The failures section: filled and folded by the script, and listed
    plainly for a page read without it (the script removes that list)."""
    if not failures:
        return '<section id="failures" hidden></section>\n'
    items = "".join(
        f'<li><code>{html.escape(source)}</code> <span class="why">{html.escape(why)}</span></li>'
        for source, why in failures
    )
    more = (
        f'<p class="muted">The first {len(failures):,} of {total:,} failures; the JSON report'
        " lists them all.</p>"
        if total > len(failures)
        else ""
    )
    return (
        f'<section id="failures">\n<h2>Failed <span class="count">({total:,})</span></h2>\n'
        f'<ol class="failures"></ol>\n<p class="muted cap"></p>\n'
        f'<div class="plain"><ol class="failures">{items}</ol>{more}</div>\n</section>\n'
    )


_BODY = """\
<section id="timeline-section">
<h2>Worker timeline</h2>
<p class="muted">One lane per worker process (on a Dask cluster, per worker thread),
one bar per file from start to end.
Gaps are idle time; the shaded start is the workers' start-up.
Hover or tap a bar for its file and times.</p>
<div class="legend"><span class="key converted"></span>converted
<span class="key failed"></span>failed <span class="key startup"></span>start-up</div>
<div id="timeline"><p class="plain muted">The timeline and the file table need JavaScript.</p></div>
<p class="muted cap"></p>
</section>
<section id="files">
<h2>Files</h2>
<p class="muted cap"></p>
<div class="table-wrap"><table>
<thead><tr><th class="thumb-col"><span class="sr">Preview</span></th>
<th aria-sort="none"><button data-key="name">File</button></th>
<th aria-sort="none" class="num"><button data-key="size">Before</button></th>
<th aria-sort="none" class="num"><button data-key="output">After</button></th>
<th aria-sort="none" class="num"><button data-key="saving">Saving</button></th>
<th aria-sort="none" class="num"><button data-key="time">Time</button></th></tr></thead>
<tbody></tbody>
</table></div>
</section>
<div id="tip" role="tooltip" hidden></div>
</main>
"""

_STYLE = """
:root{--bg:#f5f6f8;--card:#fff;--text:#1b2130;--muted:#5f6b7d;--line:#e2e6ec;
--ok:#1f8f5f;--bad:#d23c2f;--warn:#b86e00;--lane:#eef1f5;--startup:#dfe3ea;--accent:#2f62c9;
color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#12151b;--card:#1b2029;--text:#e6e9ef;
--muted:#9aa4b5;--line:#2c3340;--ok:#3fb47f;--bad:#f0625a;--warn:#e3a33b;--lane:#232a35;
--startup:#2e3643;--accent:#7aa2f7}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--text);
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1120px;margin:0 auto;padding:20px 16px 48px}
h1{font-size:1.6rem;margin:0}h2{font-size:1.15rem;margin:0 0 6px}
header{margin-bottom:14px}header p{margin:2px 0 0}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;
padding:16px;margin:0 0 16px}
.muted{color:var(--muted)}.muted:empty{display:none}p.muted{margin:0 0 10px;font-size:.9rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(124px,1fr));gap:10px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 12px;min-width:0}
.card .label{font-size:.78rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.card .value{font-size:1.5rem;font-weight:650;font-variant-numeric:tabular-nums}
.card .sub{font-size:.85rem;color:var(--muted)}
.card.ok .value{color:var(--ok)}.card.bad .value{color:var(--bad)}
.card.warn .value{color:var(--warn)}
.banner{margin:0 0 12px;padding:8px 12px;border-radius:8px;font-weight:600}
.banner.bad{background:color-mix(in srgb,var(--bad) 14%,transparent)}
.banner.bad a{color:var(--bad)}
.banner.warn{background:color-mix(in srgb,var(--warn) 16%,transparent)}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;margin:14px 0 0;
font-size:.9rem}
.facts dt{color:var(--muted)}.facts dd{margin:0;min-width:0;overflow-wrap:anywhere}
code{font:.85rem/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.legend{display:flex;flex-wrap:wrap;gap:4px 8px;align-items:center;font-size:.85rem;
color:var(--muted);margin-bottom:8px}
.key{display:inline-block;width:12px;height:12px;border-radius:3px;margin-left:6px}
.key.converted{background:var(--ok)}.key.failed{background:var(--bad)}
.key.startup{background:var(--startup)}
#timeline{width:100%;overflow:hidden}#timeline svg{display:block}
#timeline text{fill:var(--muted);font-size:11px}
.lane-bg{fill:var(--lane)}.startup{fill:var(--startup)}
.bar{stroke:var(--card);stroke-width:1;fill:var(--muted)}.bar.converted{fill:var(--ok)}
.bar.failed{fill:var(--bad)}.bar:hover,.bar.on{fill:var(--accent)}
.tick{stroke:var(--line)}
#tip{position:fixed;z-index:10;max-width:min(360px,90vw);padding:6px 9px;border-radius:6px;
background:var(--text);color:var(--bg);font-size:.82rem;pointer-events:none;
overflow-wrap:anywhere;box-shadow:0 2px 8px rgba(0,0,0,.25)}
ol.failures{margin:0;padding-left:1.4em}
ol.failures li{margin:0 0 6px}
button.more{font:inherit;color:var(--accent);background:none;border:1px solid var(--line);
border-radius:6px;padding:4px 10px;margin:4px 0 8px;cursor:pointer}
ol.failures .why{color:var(--bad);overflow-wrap:anywhere}
ol.failures code{overflow-wrap:anywhere}
.table-wrap{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{width:100%;border-collapse:collapse;font-size:.9rem}
th,td{padding:6px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:middle}
th.num,td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
th button{all:unset;cursor:pointer;font-weight:650}
th button:focus-visible{outline:2px solid var(--accent)}
th[aria-sort=ascending] button::after{content:" ▲";font-size:.7em}
th[aria-sort=descending] button::after{content:" ▼";font-size:.7em}
td.name{min-width:12em;overflow-wrap:anywhere}td.name .detail{font-size:.8rem;color:var(--muted)}
td.name .why{font-size:.8rem;color:var(--bad)}
tr.failed td.name code{color:var(--bad)}
.thumb-col{width:64px}
.thumb{width:56px;height:56px;display:flex;align-items:center;justify-content:center;
background:var(--lane);border-radius:6px;overflow:hidden}
.thumb img{max-width:56px;max-height:56px;display:block}
.pill{display:inline-block;font-size:.72rem;padding:0 6px;border-radius:9px;margin-left:4px;
vertical-align:1px;border:1px solid currentColor}
.pill.failed{color:var(--bad)}.pill.skipped{color:var(--muted)}
.saving.grew{color:var(--warn)}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
@media (max-width:600px){main{padding:12px 10px 32px}section{padding:12px}
.card .value{font-size:1.25rem}
/* On a phone each file is a small card: preview, name, then the figures. */
#files table,#files thead,#files tbody{display:block}
#files thead tr{display:flex;flex-wrap:wrap;gap:2px 14px;border-bottom:1px solid var(--line)}
#files th{border:0;padding:4px 0}#files th.thumb-col{display:none}
#files tbody tr{display:grid;grid-template-columns:52px repeat(4,minmax(0,1fr));
column-gap:8px;padding:8px 0;border-bottom:1px solid var(--line)}
#files td{border:0;padding:0}
#files td.thumbcell{grid-row:1/span 2}
#files td.name{grid-column:2/-1;min-width:0}
#files td.num{text-align:left;font-size:.85rem;padding-top:2px}
#files td.num::before{content:attr(data-label);display:block;font-size:.7rem;
color:var(--muted)}
.thumb{width:48px;height:48px}.thumb img{max-width:48px;max-height:48px}}
"""

_SCRIPT = r"""
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("imgpar-data").textContent);
  const files = data.files;
  files.forEach((f, i) => { f.index = i; });
  const SVG = "http://www.w3.org/2000/svg";

  function fmtBytes(n) {
    // Same units as the terminal summary.
    let size = n;
    for (const unit of ["B", "KB", "MB", "GB"]) {
      if (size < 1000 || unit === "GB") {
        return unit === "B" ? size.toFixed(0) + " B" : size.toFixed(1) + " " + unit;
      }
      size /= 1000;
    }
    return n + " B";
  }
  function fmtSec(s) { return s < 10 ? s.toFixed(2) + " s" : s.toFixed(1) + " s"; }
  function num(n) { return n.toLocaleString("en-US"); }
  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    return node;
  }

  // Failures first: what failed and why is the first thing to act on.
  function renderFailures() {
    const failed = files.filter((f) => f.status === "failed");
    if (!data.failed_total) return;
    const section = document.getElementById("failures");
    section.hidden = false;
    section.querySelector(".count").textContent = "(" + num(data.failed_total) + ")";
    const list = section.querySelector("ol");
    failed.sort((a, b) => a.source.localeCompare(b.source));
    // A long list is folded so the timeline and table stay in reach.
    const folded = failed.length > 12 ? 10 : failed.length;
    failed.forEach((f, i) => {
      const li = el("li");
      li.append(el("code", {}, f.source), " ", el("span", {class: "why"}, f.error || "failed"));
      li.hidden = i >= folded;
      list.append(li);
    });
    if (folded < failed.length) {
      const more = el("button", {type: "button", class: "more"},
        "Show all " + num(failed.length) + " listed failures");
      more.addEventListener("click", () => {
        for (const li of list.children) li.hidden = false;
        more.remove();
      });
      list.after(more);
    }
    if (data.failed_total > failed.length) {
      section.querySelector(".cap").textContent = "Showing the first " + num(failed.length) +
        " of " + num(data.failed_total) + " failures; the JSON report lists them all.";
    }
  }

  const bars = files.filter((f) => f.worker && f.end >= f.start);
  const lanes = [];
  (function () {
    const first = new Map();
    for (const f of bars) {
      if (!first.has(f.worker) || f.start < first.get(f.worker)) first.set(f.worker, f.start);
    }
    for (const [pid, start] of first) lanes.push({pid, start, busy: 0, files: 0});
    lanes.sort((a, b) => a.start - b.start);
    const byPid = new Map(lanes.map((l) => [l.pid, l]));
    for (const f of bars) {
      const lane = byPid.get(f.worker);
      lane.busy += f.end - f.start;
      lane.files += 1;
    }
  })();

  function niceStep(span, count) {
    const raw = span / count;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * power) return m * power;
    return 10 * power;
  }

  function renderTimeline() {
    const box = document.getElementById("timeline");
    box.replaceChildren();
    const section = document.getElementById("timeline-section");
    if (!bars.length) {
      box.append(el("p", {class: "muted"}, "No file was converted by a worker in this run."));
      return;
    }
    // reduce, not Math.max(...spread): a spread of 20,000 arguments can overflow the stack.
    const end = bars.reduce((m, f) => Math.max(m, f.end), data.wall);
    const firstStart = bars.reduce((m, f) => Math.min(m, f.start), Infinity);
    const begin = Math.min(0, firstStart);
    const span = Math.max(end - begin, 1e-3);
    const width = Math.max(box.clientWidth, 280);
    const label = width < 500 ? 62 : 92;
    // Lanes thin out as workers multiply, so 64 workers still fit a screen.
    const laneH = lanes.length <= 8 ? 28 : lanes.length <= 24 ? 20 : 12;
    const gap = laneH > 12 ? 6 : 3, top = 4, axis = 22;
    const plot = width - label - 18;  // room for the last tick label
    const height = top + lanes.length * (laneH + gap) + axis;
    const x = (t) => label + ((t - begin) / span) * plot;
    const root = svg("svg", {width, height, viewBox: "0 0 " + width + " " + height,
      role: "img", "aria-label": "Worker timeline"});
    const step = niceStep(span, width < 500 ? 4 : 8);
    for (let k = 0; k * step <= end + 1e-9; k++) {
      // k * step, not a running sum, so 0.1 + 0.2 never shows as 0.30000000000000004.
      const t = k * step;
      root.append(svg("line", {class: "tick", x1: x(t), x2: x(t), y1: top,
        y2: height - axis + 4}));
      const text = svg("text", {x: x(t), y: height - 6, "text-anchor": "middle"});
      text.textContent = Number(t.toFixed(3)) + " s";
      root.append(text);
    }
    lanes.forEach((lane, i) => {
      const y = top + i * (laneH + gap);
      const g = svg("g", {class: "lane", "data-worker": lane.pid});
      g.append(svg("rect", {class: "lane-bg", x: label, y, width: plot, height: laneH, rx: 3}));
      if (firstStart > begin) {
        g.append(svg("rect", {class: "startup", x: x(begin), y,
          width: Math.max(0, x(firstStart) - x(begin)), height: laneH}));
      }
      const percent = Math.round((100 * lane.busy) / span) + "% busy";
      // A pid, or a Dask worker's address: too long for the lane, it is in each bar's tip.
      const local = typeof lane.pid === "number";
      if (laneH >= 20) {
        const name = svg("text", {x: 0, y: y + laneH / 2 - 2});
        name.textContent = local ? "pid " + lane.pid : "worker " + (i + 1);
        const busy = svg("text", {x: 0, y: y + laneH / 2 + 10});
        busy.textContent = percent;
        g.append(name, busy);
      } else {
        const name = svg("text", {x: 0, y: y + laneH - 2});
        name.textContent = (local ? lane.pid : "w" + (i + 1)) + " " + percent.replace(" busy", "");
        g.append(name);
      }
      lane.group = g;
      root.append(g);
    });
    const byPid = new Map(lanes.map((l, i) => [l.pid, i]));
    // Failures drawn last and never thinner than 4 px: a quick failure among
    // many quick files must still catch the eye.
    const ordered = bars.filter((f) => f.status !== "failed")
      .concat(bars.filter((f) => f.status === "failed"));
    for (const f of ordered) {
      const i = byPid.get(f.worker);
      const y = top + i * (laneH + gap);
      const least = f.status === "failed" ? 4 : 2;
      const rect = svg("rect", {class: "bar " + f.status, x: x(f.start), y: y + 2,
        width: Math.max(least, x(f.end) - x(f.start)), height: laneH - 4,
        "data-index": f.index});
      lanes[i].group.append(rect);
    }
    box.append(root);
    if (data.files_total > bars.length && bars.length >= data.limits.timeline) {
      section.querySelector(".cap").textContent = "The timeline shows the first " +
        num(bars.length) + " of " + num(data.files_total) + " files.";
    }
  }

  const tip = document.getElementById("tip");
  let pinned = null;
  function showTip(rect, cx, cy) {
    const f = files[Number(rect.getAttribute("data-index"))];
    if (!f) return;
    tip.replaceChildren(el("strong", {}, f.source), el("br"),
      document.createTextNode(f.status + " in " + fmtSec(f.end - f.start) +
        (typeof f.worker === "number" ? " · pid " : " · ") + f.worker + " · " +
        fmtSec(f.start) + " → " + fmtSec(f.end)));
    if (f.error) tip.append(el("br"), document.createTextNode(f.error));
    tip.hidden = false;
    const w = tip.offsetWidth, h = tip.offsetHeight;
    const left = Math.min(Math.max(4, cx + 12), window.innerWidth - w - 4);
    const topPos = cy + 16 + h > window.innerHeight ? cy - h - 12 : cy + 16;
    tip.style.left = left + "px";
    tip.style.top = Math.max(4, topPos) + "px";
  }
  function hideTip() {
    tip.hidden = true;
    if (pinned) pinned.classList.remove("on");
    pinned = null;
  }
  const box = document.getElementById("timeline");
  box.addEventListener("pointermove", (ev) => {
    if (pinned || ev.pointerType === "touch") return;
    if (ev.target.classList && ev.target.classList.contains("bar")) {
      showTip(ev.target, ev.clientX, ev.clientY);
    } else {
      tip.hidden = true;
    }
  });
  box.addEventListener("pointerleave", () => { if (!pinned) tip.hidden = true; });
  // A tap pins the tip (phones have no hover); a second tap elsewhere clears it.
  document.addEventListener("click", (ev) => {
    const target = ev.target;
    if (target.classList && target.classList.contains("bar")) {
      hideTip();
      pinned = target;
      target.classList.add("on");
      showTip(target, ev.clientX, ev.clientY);
    } else if (pinned) {
      hideTip();
    }
  });
  window.addEventListener("scroll", () => { if (pinned) hideTip(); }, {passive: true});

  const rows = files.filter((f) => f.row);
  const rank = {failed: 0, converted: 1, skipped: 2};
  function saving(f) {
    return f.status === "converted" && f.source_bytes ? 1 - f.output_bytes / f.source_bytes : null;
  }
  const keys = {
    name: (f) => f.source.toLowerCase(),
    size: (f) => f.source_bytes,
    output: (f) => (f.status === "converted" ? f.output_bytes : null),
    saving: saving,
    time: (f) => f.seconds,
  };
  function compare(a, b, key, dir) {
    const va = keys[key](a), vb = keys[key](b);
    // Files with no value (failed, skipped) stay at the bottom either way.
    if (va === null || vb === null) return va === vb ? 0 : va === null ? 1 : -1;
    return (va < vb ? -1 : va > vb ? 1 : 0) * dir;
  }
  function row(f) {
    const tr = el("tr", {class: f.status});
    const thumb = el("div", {class: "thumb"});
    if (f.thumbnail && f.thumbnail.startsWith("data:image/")) {
      thumb.append(el("img", {src: f.thumbnail, alt: "", loading: "lazy", decoding: "async"}));
    }
    const tdThumb = el("td", {class: "thumbcell"});
    tdThumb.append(thumb);
    const name = el("td", {class: "name"});
    name.append(el("code", {}, f.source));
    if (f.status !== "converted") name.append(el("span", {class: "pill " + f.status}, f.status));
    if (f.error) name.append(el("div", {class: "why"}, f.error));
    const outs = (f.outputs || []).map((o) => o.format + " " + o.width + "\u00d7" + o.height);
    if (outs.length) name.append(el("div", {class: "detail"}, outs.join(", ")));
    for (const note of f.notes || []) name.append(el("div", {class: "detail"}, note));
    const s = saving(f);
    const pct = s === null ? "\u2013"
      : (s < 0 ? "+" + Math.round(-100 * s) : "\u2212" + Math.round(100 * s)) + "%";
    // data-label names each figure where a phone shows rows as cards.
    const cells = [
      el("td", {class: "num", "data-label": "Before"}, fmtBytes(f.source_bytes)),
      el("td", {class: "num", "data-label": "After"},
        f.status === "converted" ? fmtBytes(f.output_bytes) : "\u2013"),
      el("td", {class: "num saving" + (s !== null && s < 0 ? " grew" : ""),
        "data-label": "Saving"}, pct),
      el("td", {class: "num", "data-label": "Time"},
        f.status === "skipped" ? "\u2013" : fmtSec(f.seconds)),
    ];
    tr.append(tdThumb, name, ...cells);
    return tr;
  }
  function renderTable(key, dir) {
    const sorted = rows.slice();
    if (key) {
      sorted.sort((a, b) => compare(a, b, key, dir) || keys.name(a).localeCompare(keys.name(b)));
    } else {
      sorted.sort((a, b) => rank[a.status] - rank[b.status] ||
        keys.name(a).localeCompare(keys.name(b)));
    }
    const body = document.querySelector("#files tbody");
    body.replaceChildren(...sorted.map(row));
  }
  let sortKey = null, sortDir = 1;
  for (const button of document.querySelectorAll("#files th button")) {
    button.addEventListener("click", () => {
      const key = button.getAttribute("data-key");
      sortDir = key === sortKey ? -sortDir : key === "name" ? 1 : -1;
      sortKey = key;
      for (const th of document.querySelectorAll("#files th[aria-sort]")) {
        th.setAttribute("aria-sort", "none");
      }
      button.parentElement.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
      renderTable(sortKey, sortDir);
    });
  }
  const filesCap = document.querySelector("#files .cap");
  if (data.files_total > rows.length) {
    filesCap.textContent = "Showing the first " + num(rows.length) + " of " +
      num(data.files_total) + " files (the cap is " + num(data.limits.table) +
      "); the JSON report lists them all.";
  } else {
    filesCap.textContent = (data.failed_total ? "Failures first, then by name" : "By name") +
      "; click a column to sort.";
  }

  // What the page says for a viewer that runs no script: a <noscript> is
  // not shown where scripts are blocked by policy rather than turned off.
  for (const plain of document.querySelectorAll(".plain")) plain.remove();
  renderFailures();
  renderTimeline();
  renderTable(null, 1);
  let resizeTimer = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { hideTip(); renderTimeline(); }, 100);
  });
  document.documentElement.setAttribute("data-rendered", "true");
})();
"""
