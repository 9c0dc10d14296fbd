"""Time imgpar against a bare Pillow script and the usual peers, on a deterministic corpus.

    python scripts/bench_peers.py [--quick] [--repeat 3] [--corpus photos,web,icons]
                                  [--tools imgpar,bare,...] [--procs N] [--keep DIR]
                                  [--settle SECONDS] [--icons N]
    python scripts/bench_peers.py --jobs 1,2,4,8,16 [--quick]   # imgpar's own scaling

The corpus imitates three workloads: photo-like 24 MP camera JPEGs with EXIF
(every fourth stored sideways, orientation 6) shrunk to a long edge of 2048;
web assets (1920x1080 JPEGs and 1200x800 RGBA PNGs) re-encoded at full size;
and 64x64 PNG icons. Every tool writes WebP quality 80, method 4, Lanczos,
orientation applied (cwebp cannot: its rotated photos come out sideways).

Each tool runs as whole processes, start-up included, reading the corpus from
RAM and writing into RAM (/dev/shm when it exists), so a noisy disk does not
blur the figures. Runs alternate between tools, round after round, and every
figure is the median over the rounds; a tool's time is quoted as a ratio to
imgpar's. On a shared machine each run first waits (up to --settle seconds)
for other programs to leave the cores idle; the table says how many runs
started busy all the same, and "spread" ((max - min) / median) how far to
trust a ratio near 1. CPU (user + system time of all a tool's processes) is
the steadier figure there. Peak RSS is that of the largest single process a
tool ran (from getrusage(RUSAGE_CHILDREN) in a small runner process). Output
bytes are shown because a faster tool that writes bigger files has not won.

Peers (mogrify, vipsthumbnail, cwebp) are timed when installed:
    apt-get install imagemagick libvips-tools webp
Needs only Pillow, typer and tqdm (imgpar's own dependencies) otherwise.
"""

from __future__ import annotations

import argparse
import compileall
import datetime
import heapq
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing import Pool

from benchkit import scratch
from PIL import Image, ImageDraw, ImageFilter

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUALITY = 80
METHOD = 4
ORIENTATION = 0x0112
# Bumped when the corpus code changes, so that a kept corpus (--keep) is remade.
CORPUS_VERSION = 2


# ---------------------------------------------------------------- the corpus


def _noise(size: tuple[int, int], rng: random.Random) -> Image.Image:
    # From Python's seeded generator, not Image.effect_noise: C's rand() would
    # make the corpus depend on which worker drew which image.
    return Image.frombytes("L", size, rng.randbytes(size[0] * size[1]))


def photo(size: tuple[int, int], seed: int, detail: float = 0.22) -> Image.Image:
    """A landscape with soft shapes, texture a few pixels wide (foliage,
    fabric: detail that survives the shrink and costs the encoder bytes) and
    sensor grain. Drawn small and enlarged, so making it is quick."""
    rng = random.Random(seed)
    w, h = size
    sw, sh = max(8, w // 8), max(8, h // 8)
    sky = Image.linear_gradient("L").resize((sw, sh))
    shade = rng.randrange(-30, 30)
    bands = (
        sky.point(lambda v: 40 + shade + v * 3 // 5),
        sky.point(lambda v: 100 + v // 3),
        sky.point(lambda v: 230 - shade - v * 2 // 3),
    )
    im = Image.merge("RGB", bands)
    draw = ImageDraw.Draw(im)
    for _ in range(60):
        x, y = rng.randrange(sw), rng.randrange(sh // 4, sh)
        rad = rng.randrange(max(2, sw // 60), max(3, sw // 8))
        colour = (rng.randrange(20, 230), rng.randrange(20, 230), rng.randrange(20, 230))
        draw.ellipse((x - rad, y - rad // 2, x + rad, y + rad // 2), fill=colour)
    im = im.resize(size, Image.Resampling.BILINEAR)
    texture = _noise((w // 3, h // 3), rng).resize(size, Image.Resampling.BILINEAR)
    grain = Image.blend(texture, _noise(size, rng), 0.35).convert("RGB")
    return Image.blend(im, grain, detail)


def camera_exif(orientation: int, seed: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Imgpar Optics"  # Make
    exif[0x0110] = "IP-24"  # Model
    exif[0x0132] = f"2026:05:{1 + seed % 28:02d} 09:41:00"  # DateTime
    exif[0x013B] = "Bench Photographer"  # Artist
    exif[ORIENTATION] = orientation
    return exif


def web_graphic(size: tuple[int, int], seed: int) -> Image.Image:
    """A transparent RGBA web graphic: a soft-edged card with flat shapes and
    lines of 'text', lightly dithered like an exported illustration."""
    rng = random.Random(seed)
    w, h = size
    im = Image.linear_gradient("L").rotate(90).resize(size).convert("RGB")
    im = Image.blend(im, Image.new("RGB", size, tuple(rng.randrange(256) for _ in "rgb")), 0.7)
    draw = ImageDraw.Draw(im)
    for _ in range(12):
        x, y = rng.randrange(w), rng.randrange(h)
        r = rng.randrange(20, w // 5)
        colour = tuple(rng.randrange(256) for _ in "rgb")
        if rng.random() < 0.5:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        else:
            draw.rounded_rectangle((x - r, y - r // 2, x + r, y + r // 2), radius=12, fill=colour)
    for line in range(10):
        y = h // 8 + line * 22
        x = w // 10
        while x < w * 3 // 5:
            word = rng.randrange(20, 70)
            draw.rectangle((x, y, x + word, y + 10), fill=(30, 30, 30))
            x += word + 9
    im = Image.blend(im, _noise(size, rng).convert("RGB"), 0.04)
    mask = Image.new("L", (w // 4, h // 4), 0)
    ImageDraw.Draw(mask).rounded_rectangle(
        (w // 40, h // 40, w // 4 - w // 40, h // 4 - h // 40), radius=12, fill=255
    )
    mask = mask.filter(ImageFilter.GaussianBlur(3)).resize(size, Image.Resampling.BILINEAR)
    im.putalpha(mask)
    return im


def icon(seed: int) -> Image.Image:
    rng = random.Random(seed)
    im = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    draw = ImageDraw.Draw(im)
    colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256), 255)
    if rng.random() < 0.5:
        draw.ellipse((4, 4, 59, 59), fill=colour)
    else:
        draw.rounded_rectangle((4, 4, 59, 59), radius=12, fill=colour)
    points = [(rng.randrange(14, 50), rng.randrange(14, 50)) for _ in range(5)]
    draw.polygon(points, fill=(255, 255, 255, 230))
    return im


def _make_photo(args: tuple[str, int]) -> None:
    path, seed = args
    orientation = 6 if seed % 4 == 3 else 1
    photo((6000, 4000), seed).save(path, quality=92, exif=camera_exif(orientation, seed))


def _make_web(args: tuple[str, int]) -> None:
    path, seed = args
    if path.endswith(".jpg"):
        # Web photos are edited and sharpened for the screen, not raw grain.
        photo((1920, 1080), seed, detail=0.08).save(path, quality=85)
    else:
        web_graphic((1200, 800), seed).save(path)


def _make_icon(args: tuple[str, int]) -> None:
    path, seed = args
    icon(seed).save(path)


@dataclass(frozen=True)
class Corpus:
    name: str
    title: str
    names: tuple[str, ...]
    maker: Callable[[tuple[str, int]], None]
    max_size: int | None  # long edge of the outputs; None: full size


def corpora(quick: bool, icons: int | None = None) -> dict[str, Corpus]:
    photos, web, default_icons = (4, 40, 200) if quick else (16, 200, 1000)
    icons = icons or default_icons
    return {
        "photos": Corpus(
            "photos",
            f"{photos} photo-like 24 MP JPEGs with EXIF ({photos // 4} orientation 6)"
            " -> long edge 2048",
            tuple(f"IMG_{i:04d}.jpg" for i in range(photos)),
            _make_photo,
            2048,
        ),
        "web": Corpus(
            "web",
            f"{web} web assets (1920x1080 JPEG, 1200x800 RGBA PNG), no resize",
            tuple(f"asset_{i:04d}.{'jpg' if i % 2 == 0 else 'png'}" for i in range(web)),
            _make_web,
            None,
        ),
        "icons": Corpus(
            "icons",
            f"{icons} 64x64 PNG icons",
            tuple(f"icon_{i:05d}.png" for i in range(icons)),
            _make_icon,
            None,
        ),
    }


def make_corpus(corpus: Corpus, folder: str) -> list[str]:
    """The corpus's files in `folder`, made unless a complete set is already there."""
    paths = [os.path.join(folder, name) for name in corpus.names]
    done = os.path.join(folder, f".complete-v{CORPUS_VERSION}")
    if not os.path.exists(done):
        os.makedirs(folder, exist_ok=True)
        with Pool(initializer=_quiet_on_stop) as pool:
            pool.map(corpus.maker, [(p, i) for i, p in enumerate(paths)], chunksize=1)
        open(done, "w").close()
    return paths


def _quiet_on_stop() -> None:
    # The parent stops on Ctrl-C or SIGTERM and ends the pool, which sends
    # its workers SIGTERM: they end there, without a traceback each.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


# ---------------------------------------------------------------- the tools

# The Pillow baselines, as a program of their own so each runs as a whole
# process like the other tools. `bare` is the bar imgpar must reach: a pool
# of N over paths with an aspect-correct JPEG draft. `seq` and `map` are the
# textbook loop and Pool().map: thumbnail() alone, whose draft never shrinks
# a 3:2 photo on load.
PILLOW_SCRIPT = """
import os, sys
from multiprocessing import Pool
from PIL import Image, ImageOps

def convert(job):
    src, dst, edge, draft = job
    with Image.open(src) as im:
        if draft and edge and im.format == "JPEG":
            w, h = im.size
            scale = edge / max(w, h)
            if scale < 1:
                im.draft("RGB", (round(w * scale), round(h * scale)))
        im = ImageOps.exif_transpose(im)
        if edge:
            im.thumbnail((edge, edge), Image.Resampling.LANCZOS)
        im.save(dst, "WEBP", quality=QUALITY, method=METHOD)

def main():
    mode, procs, edge, listing, out = sys.argv[1:]
    with open(listing) as fp:
        files = fp.read().split("\\n")
    jobs = [
        (f, os.path.join(out, os.path.splitext(os.path.basename(f))[0] + ".webp"),
         int(edge), mode == "bare")
        for f in files
    ]
    if mode == "seq":
        for job in jobs:
            convert(job)
    elif mode == "map":
        with Pool() as pool:
            pool.map(convert, jobs)
    else:
        with Pool(int(procs)) as pool:
            for _ in pool.imap_unordered(convert, jobs):
                pass

if __name__ == "__main__":
    main()
"""

# Runs a tool's commands, at most `parallel` at once, and reports the wall
# time, the largest process's peak RSS and the CPU time of all of them. A
# process of its own, so that RUSAGE_CHILDREN holds this tool's processes only.
RUNNER_SCRIPT = """
import json, os, resource, subprocess, sys, time
from collections import deque
spec = json.load(sys.stdin)
env = dict(os.environ, **spec["env"])
pending = deque(spec["commands"])
running = {}
failed = 0
launched = time.time()
with open(spec["log"], "ab") as log:
    start = time.perf_counter()
    while pending or running:
        while pending and len(running) < spec["parallel"]:
            p = subprocess.Popen(pending.popleft(), env=env, stdout=log, stderr=log)
            running[p.pid] = p
        pid, status = os.wait()
        if running.pop(pid, None) is not None and status != 0:
            failed += 1
    wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
json.dump({"wall": wall, "rss": usage.ru_maxrss * 1024, "launched": launched,
           "cpu": usage.ru_utime + usage.ru_stime, "failed": failed}, sys.stdout)
"""


@dataclass
class Plan:
    commands: list[list[str]]
    parallel: int = 1
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    corpus: Corpus
    files: list[str]
    src: str  # the corpus folder
    out: str  # empty folder for the outputs
    work: str  # scratch for listings and reports
    procs: int


@dataclass(frozen=True)
class Tool:
    key: str
    label: str
    needs: str | None  # executable that must be on PATH
    plan: Callable[[Context], Plan]
    resizing_only: bool = False  # timed only on corpora that are resized


def _imgpar(jobs: int) -> Callable[[Context], Plan]:
    def plan(c: Context) -> Plan:
        argv = [sys.executable, "-m", "imgpar", "convert", c.src, "--to", "webp"]
        argv += ["-q", str(QUALITY), "--jobs", str(jobs), "--out", c.out, "--quiet"]
        argv += ["--report", os.path.join(c.work, "report.json")]
        if c.corpus.max_size:
            argv += ["--max-size", str(c.corpus.max_size)]
        # A fresh clone runs without installing imgpar.
        path = os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")]))
        return Plan([argv], env={"PYTHONPATH": path})

    return plan


def _pillow(mode: str) -> Callable[[Context], Plan]:
    def plan(c: Context) -> Plan:
        script = os.path.join(c.work, "pillow_baseline.py")
        listing = os.path.join(c.work, "files.txt")
        if not os.path.exists(script):
            source = PILLOW_SCRIPT.replace("QUALITY", str(QUALITY))
            with open(script, "w") as fp:
                fp.write(source.replace("METHOD", str(METHOD)))
        with open(listing, "w") as fp:
            fp.write("\n".join(c.files))
        edge = str(c.corpus.max_size or 0)
        return Plan([[sys.executable, script, mode, str(c.procs), edge, listing, c.out]])

    return plan


def _split(files: Sequence[str], parts: int) -> list[list[str]]:
    """Shares of about equal bytes, biggest files first, each to the lightest
    share: the peers get imgpar's largest-first order, and no process is
    left with the slow half (round-robin gave one all the JPEGs of a corpus
    whose names alternate .jpg and .png)."""
    sizes = {path: os.path.getsize(path) for path in files}
    shares: list[tuple[int, int, list[str]]] = [(0, i, []) for i in range(parts)]
    for path in sorted(files, key=sizes.__getitem__, reverse=True):
        size, i, share = heapq.heappop(shares)
        share.append(path)
        heapq.heappush(shares, (size + sizes[path], i, share))
    return [share for _, _, share in sorted(shares, key=lambda s: s[1]) if share]


def _mogrify(procs: int, *, told_size: bool = False) -> Callable[[Context], Plan]:
    def plan(c: Context) -> Plan:
        argv = ["mogrify", "-path", c.out, "-auto-orient"]
        if c.corpus.max_size:
            if told_size:
                # ImageMagick's shrink-on-load, which it needs to be told
                # about: an aspect-correct hint, as an informed user gives.
                with Image.open(c.files[0]) as im:
                    w, h = im.size
                scale = c.corpus.max_size / max(w, h)
                argv += ["-define", f"jpeg:size={round(w * scale)}x{round(h * scale)}"]
            argv += ["-filter", "Lanczos", "-resize", f"{c.corpus.max_size}x{c.corpus.max_size}>"]
        argv += ["-quality", str(QUALITY), "-define", f"webp:method={METHOD}", "-format", "webp"]
        # One process uses ImageMagick's own OpenMP threads, as users get it;
        # several processes get one thread each, so they share the cores fairly.
        env = {} if procs == 1 else {"MAGICK_THREAD_LIMIT": "1", "OMP_NUM_THREADS": "1"}
        return Plan([argv + part for part in _split(c.files, procs)], procs, env)

    return plan


def _vipsthumbnail(c: Context) -> Plan:
    # vipsthumbnail shrinks on load, applies orientation and uses Lanczos by
    # itself; "x>" with a huge box means "never enlarge", i.e. keep the size.
    size = f"{c.corpus.max_size or 100000}x{c.corpus.max_size or 100000}>"
    target = os.path.join(c.out, f"%s.webp[Q={QUALITY},effort={METHOD}]")
    commands = [
        ["vipsthumbnail", *part, "-s", size, "-o", target] for part in _split(c.files, c.procs)
    ]
    return Plan(commands, c.procs, {"VIPS_CONCURRENCY": "1"})


def _cwebp(c: Context) -> Plan:
    commands = []
    for path in c.files:
        stem = os.path.splitext(os.path.basename(path))[0]
        argv = ["cwebp", "-quiet", "-q", str(QUALITY), "-m", str(METHOD)]
        if c.corpus.max_size:
            with Image.open(path) as im:
                landscape = im.width >= im.height
            edge = str(c.corpus.max_size)
            argv += ["-resize", edge, "0"] if landscape else ["-resize", "0", edge]
        commands.append([*argv, path, "-o", os.path.join(c.out, stem + ".webp")])
    return Plan(commands, c.procs)


def tools(procs: int) -> list[Tool]:
    return [
        Tool("imgpar", f"imgpar --jobs {procs}", None, _imgpar(procs)),
        Tool("bare", f"Pillow script, Pool({procs})", None, _pillow("bare")),
        Tool("seq", "Pillow loop, sequential", None, _pillow("seq")),
        Tool("map", "Pillow Pool().map", None, _pillow("map")),
        Tool("mogrify", "mogrify", "mogrify", _mogrify(1)),
        Tool(f"mogrify{procs}", f"mogrify x{procs}", "mogrify", _mogrify(procs)),
        Tool(
            f"mogrify{procs}-size",
            f"mogrify x{procs}, told size",
            "mogrify",
            _mogrify(procs, told_size=True),
            resizing_only=True,
        ),
        Tool("vips", f"vipsthumbnail x{procs}", "vipsthumbnail", _vipsthumbnail),
        Tool("cwebp", f"cwebp x{procs}", "cwebp", _cwebp),
    ]


# ---------------------------------------------------------------- measuring


@dataclass
class Measured:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss: int = 0
    bytes: int = 0
    outputs: int = 0
    failed: int = 0
    busy_starts: int = 0  # runs started while other programs were busy
    # imgpar's, from its report: launch to the first file's start, and the
    # first file's start to the last one's end.
    first_start: list[float] = field(default_factory=list)
    working: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    @property
    def spread(self) -> float:
        """(max - min) / median: how much to trust a ratio near 1."""
        return (max(self.wall) - min(self.wall)) / self.median


def run(plan: Plan, work: str) -> dict[str, float]:
    runner = os.path.join(work, "runner.py")
    if not os.path.exists(runner):
        with open(runner, "w") as fp:
            fp.write(RUNNER_SCRIPT)
    log = os.path.join(work, "tools.log")
    with open(log, "w"):
        pass  # each run's log starts empty, so a failure shows its own cause
    spec = {"commands": plan.commands, "parallel": plan.parallel, "env": plan.env, "log": log}
    # A process group of its own, killed whole if this script stops: the
    # tools it started must not write on into a scratch folder being removed.
    with subprocess.Popen(
        [sys.executable, runner],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    ) as proc:  # fmt: skip
        try:
            out, err = proc.communicate(json.dumps(spec))
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, proc.args, out, err)
    return json.loads(out)


def _log_tail(work: str, lines: int = 6) -> str:
    with open(os.path.join(work, "tools.log"), errors="replace") as fp:
        return "".join(fp.readlines()[-lines:])


def _outputs(folder: str) -> tuple[int, int]:
    count = size = 0
    for root, _, names in os.walk(folder):
        for name in names:
            if name.endswith(".webp"):
                count += 1
                size += os.path.getsize(os.path.join(root, name))
    return count, size


# Other programs may use this much of the machine, in cores, when a run starts.
QUIET_CORES = 0.25


def busy_cores(interval: float = 0.5) -> float | None:
    """Cores kept busy by anything over `interval` (Linux /proc/stat), else None."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as fp:
            ticks = [int(v) for v in fp.readline().split()[1:]]
        return sum(ticks), ticks[3] + ticks[4]  # all, idle + iowait

    try:
        total, idle = sample()
        time.sleep(interval)
        total2, idle2 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return (1 - (idle2 - idle) / max(1, total2 - total)) * (os.cpu_count() or 1)


def wait_for_quiet(limit: float) -> bool:
    """Wait, at most `limit` seconds, until other programs leave the cores idle.
    On a shared machine their bursts would otherwise land on random runs."""
    deadline = time.monotonic() + limit
    while True:
        busy = busy_cores()
        if busy is None or busy <= QUIET_CORES:
            return True
        if time.monotonic() >= deadline:
            return False


def measure(
    corpus: Corpus,
    files: list[str],
    src: str,
    work: str,
    chosen: Sequence[Tool],
    *,
    repeat: int,
    procs: int,
    settle: float,
    tick: Callable[[], None],
) -> dict[str, Measured]:
    """Every tool once per round, each round starting one tool further on, so
    that no tool always runs first (cold) or right after the heaviest one."""
    results = {t.key: Measured() for t in chosen}
    out = os.path.join(work, "out")
    for round_ in range(repeat):
        for i in range(len(chosen)):
            tool = chosen[(i + round_) % len(chosen)]
            os.mkdir(out)
            plan = tool.plan(Context(corpus, files, src, out, work, procs))
            # With --settle 0 nothing waits, but a busy start is still counted.
            quiet = wait_for_quiet(max(settle, 0))
            figures = run(plan, work)
            count, size = _outputs(out)
            shutil.rmtree(out)
            if figures["failed"] or count != len(files):
                print(f"\n{tool.label} wrote {count} of {len(files)}:", file=sys.stderr)
                print(textwrap.indent(_log_tail(work), "  "), file=sys.stderr)
            m = results[tool.key]
            m.wall.append(figures["wall"])
            m.cpu.append(figures["cpu"])
            m.rss = max(m.rss, int(figures["rss"]))
            m.bytes, m.outputs = size, count
            m.failed = max(m.failed, int(figures["failed"]))
            m.busy_starts += not quiet
            if tool.key == "imgpar":
                _phases(m, os.path.join(work, "report.json"), figures["launched"])
            tick()
    return results


def _phases(m: Measured, report: str, launched: float) -> None:
    with open(report) as fp:
        files = [f for f in json.load(fp)["files"] if f.get("started")]
    if files:
        started = min(f["started"] for f in files)
        m.first_start.append(started - launched)
        m.working.append(max(f["ended"] for f in files) - started)


# ---------------------------------------------------------------- reporting


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def _mb(n: int) -> str:
    # Icon sets weigh a fraction of a MB: 0.1 MB against 0.1 MB hid a 20% gap.
    return f"{n / 1e6:.1f} MB" if n >= 10**6 else f"{n / 1e3:.0f} KB"


def peers_table(
    corpus: Corpus, files: list[str], chosen: Sequence[Tool], r: dict[str, Measured]
) -> str:
    ours = r.get("imgpar")
    lines = [
        f"{corpus.name}: {corpus.title}",
        f"  {'tool':<26}{'median s':>9}{'x imgpar':>9}{'spread':>8}{'CPU s':>8}{'CPU x':>7}"
        f"{'peak RSS':>10}{'output':>10}",
    ]
    for tool in chosen:
        m = r[tool.key]
        ratio = f"{m.median / ours.median:.2f}x" if ours else "-"
        cpu_ratio = f"{m.cpu_median / ours.cpu_median:.2f}x" if ours else "-"
        note = ""
        if m.outputs != len(files) or m.failed:
            note = f"  ({m.outputs} of {len(files)} written)"
        lines.append(
            f"  {tool.label:<26}{m.median:>9.2f}{ratio:>9}{m.spread:>8.0%}"
            f"{m.cpu_median:>8.2f}{cpu_ratio:>7}{_mib(m.rss):>10}{_mb(m.bytes):>10}{note}"
        )
    if ours and ours.working:
        lines.append(
            f"  imgpar's first file started {statistics.median(ours.first_start):.2f} s after"
            f" launch; files took {statistics.median(ours.working):.2f} s from the first"
            " start to the last end"
        )
    if ours and "bare" in r:
        bare = r["bare"]
        verdict = "faster" if ours.median < bare.median else "slower"
        lines.append(
            f"  imgpar vs the bare Pillow script: {bare.median / ours.median:.3f}x ({verdict}),"
            f" CPU {bare.cpu_median / ours.cpu_median:.3f}x"
        )
    return "\n".join(lines + _busy_note(r))


def _busy_note(r: dict[str, Measured]) -> list[str]:
    busy = sum(m.busy_starts for m in r.values())
    runs = sum(len(m.wall) for m in r.values())
    return [f"  {busy} of {runs} runs started while other programs were busy"] if busy else []


def scaling_table(
    corpus: Corpus, files: list[str], jobs: Sequence[int], r: dict[str, Measured]
) -> str:
    lines = [
        f"{corpus.name}: {corpus.title}",
        f"  {'jobs':>4}{'median s':>10}{'images/s':>10}{'speedup':>9}{'efficiency':>12}"
        f"{'spread':>8}{'CPU s':>8}{'peak RSS':>10}",
    ]
    base = r[f"imgpar{jobs[0]}"].median
    for j in jobs:
        m = r[f"imgpar{j}"]
        speedup = base / m.median
        lines.append(
            f"  {j:>4}{m.median:>10.2f}{len(files) / m.median:>10.1f}{speedup:>8.2f}x"
            f"{speedup / j * jobs[0]:>12.0%}{m.spread:>8.0%}{m.cpu_median:>8.2f}"
            f"{_mib(m.rss):>10}"
        )
    return "\n".join(lines + _busy_note(r))


def usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except OSError:
        return "?"
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0] if text else "?"


def machine() -> str:
    import PIL

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fp:
            cpu = next(
                line.split(":", 1)[1].strip() for line in fp if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    peers = []
    if shutil.which("mogrify"):
        peers.append(_version(["mogrify", "-version"]).replace("Version: ", ""))
    if shutil.which("vipsthumbnail"):
        peers.append(_version(["vips", "--version"]))
    if shutil.which("cwebp"):
        peers.append("cwebp " + _version(["cwebp", "-version"]))
    lines = [
        f"{datetime.date.today().isoformat()}, {cpu}, {usable_cores()} usable cores, "
        f"{platform.system()} {platform.release()}",
        f"Python {platform.python_version()}, Pillow {PIL.__version__}; "
        + ("; ".join(peers) if peers else "no peers installed"),
    ]
    return "\n".join(textwrap.fill(line, 100, subsequent_indent="  ") for line in lines)


# ---------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n")[1],
    )
    known = {t.key: t for t in tools(2)}
    names = list(corpora(False, None))
    parser.add_argument("--quick", action="store_true", help="a much smaller corpus")
    parser.add_argument(
        "--repeat", type=_positive, default=3, help="rounds; medians are quoted (default 3)"
    )
    parser.add_argument(
        "--corpus",
        type=_among(names),
        default=names,
        help=f"which corpora (default {','.join(names)})",
    )
    parser.add_argument(
        "--icons",
        type=_positive,
        metavar="N",
        help="icons in that corpus (default 1000; --quick 200)",
    )
    parser.add_argument(
        "--tools",
        type=_among(list(known)),
        help="which tools (default: all installed): " + ", ".join(known),
    )
    parser.add_argument(
        "--procs",
        type=_positive,
        default=usable_cores(),
        help="processes for imgpar, the bare script and the xN peers (default: usable cores)",
    )
    parser.add_argument(
        "--jobs", type=_jobs, help="instead of peers: imgpar's scaling over these --jobs (1,2,4)"
    )
    parser.add_argument("--keep", metavar="DIR", help="make the corpus in DIR, keep and reuse it")
    parser.add_argument(
        "--settle",
        type=float,
        default=30,
        metavar="S",
        help="before each run, wait up to S seconds for other programs to go idle"
        " (default 30; 0: no wait, but a half-second look still counts busy starts)",
    )
    args = parser.parse_args(argv)
    # SIGTERM ends the run as Ctrl-C does: through the scratch folder's cleanup.
    signal.signal(signal.SIGTERM, _terminated)
    try:
        _main(args)
    except KeyboardInterrupt as stop:
        print("\ninterrupted", file=sys.stderr)
        sys.exit(143 if isinstance(stop, _Terminated) else 130)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, unwinding as Ctrl-C does."""


def _terminated(signum: int, frame: object) -> None:
    raise _Terminated


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _jobs(text: str) -> list[int]:
    return sorted({_positive(j) for j in text.split(",")})


def _among(allowed: list[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        names = text.split(",")
        unknown = [n for n in names if n not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown: {', '.join(unknown)} (choose from {', '.join(allowed)})"
            )
        return names

    return parse


def _main(args: argparse.Namespace) -> None:
    chosen_corpora = [corpora(args.quick, args.icons)[name] for name in args.corpus]
    if args.jobs:
        jobs = args.jobs
        chosen = [Tool(f"imgpar{j}", f"imgpar --jobs {j}", None, _imgpar(j)) for j in jobs]
    else:
        known = {t.key: t for t in tools(args.procs)}
        keys = args.tools or list(known)
        chosen = [known[k] for k in keys if known[k].needs is None or shutil.which(known[k].needs)]
        missing = [k for k in keys if known[k] not in chosen]
        if missing:
            print(f"not installed, skipped: {', '.join(missing)}", file=sys.stderr)

    # Compiled as pip compiles an installed package; without it, and with
    # PYTHONDONTWRITEBYTECODE set, every run would compile imgpar's source
    # (~25 ms), a cost no installed copy has.
    compileall.compile_dir(os.path.join(REPO, "imgpar"), quiet=1)
    with scratch("imgpar-peers-") as outputs:
        corpus_root = args.keep or os.path.join(outputs, "corpus")
        print(machine())
        print(f"corpus in {corpus_root}, outputs in {outputs}; {args.repeat} rounds, medians\n")
        present = {
            c.name: [t for t in chosen if c.max_size or not t.resizing_only] for c in chosen_corpora
        }
        runs = args.repeat * sum(map(len, present.values()))
        done = 0

        def tick() -> None:
            nonlocal done
            done += 1
            print(f"\r  run {done}/{runs}", end="", file=sys.stderr, flush=True)

        for corpus in chosen_corpora:
            src = os.path.join(corpus_root, f"{corpus.name}-{len(corpus.names)}")
            files = make_corpus(corpus, src)
            work = os.path.join(outputs, "work-" + corpus.name)
            os.mkdir(work)
            r = measure(
                corpus,
                files,
                src,
                work,
                present[corpus.name],
                repeat=args.repeat,
                procs=args.procs,
                settle=args.settle,
                tick=tick,
            )
            print("\r" + " " * 24 + "\r", end="", file=sys.stderr)
            if args.jobs:
                print(scaling_table(corpus, files, jobs, r) + "\n", flush=True)
            else:
                print(peers_table(corpus, files, present[corpus.name], r) + "\n", flush=True)


if __name__ == "__main__":
    main()
