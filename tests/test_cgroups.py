"""A cgroup's CPU quota (a container's --cpus) sets the default jobs."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from imgpar.cgroups import quota_cpus
from imgpar.mounts import Mount, mount_table


def _groups(root: Path, quotas: dict[str, str], name: str) -> None:
    """Folders of a cgroup hierarchy under `root`, each with its quota file `name`."""
    for group, quota in quotas.items():
        folder = root / group.strip("/")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(quota + "\n")
        if name == "cpu.cfs_quota_us":
            (folder / "cpu.cfs_period_us").write_text("100000\n")


def test_the_tightest_quota_on_the_way_up_counts_in_whole_cpus(tmp_path: Path) -> None:
    # cgroup v2: a pod's limit of 1.5 CPUs over a container with none of its own.
    unified = tmp_path / "unified"
    _groups(unified, {"/": "max 100000", "/kube": "max 100000", "/kube/pod": "150000 100000",
                      "/kube/pod/ctr": "max 100000"}, "cpu.max")  # fmt: skip
    v2 = Mount("0:1", "/", str(unified), "cgroup2", ("rw",))
    assert quota_cpus([v2], {"": "/kube/pod/ctr"}) == 2
    assert quota_cpus([v2], {"": "/kube"}) is None
    # cgroup v1, as Docker mounts it inside a container (the group's own
    # folder at the top), with a quota of half a CPU: one job, not none.
    cpu = tmp_path / "cpu"
    _groups(cpu, {"/": "50000"}, "cpu.cfs_quota_us")
    v1 = Mount("0:2", "/docker/abc", str(cpu), "cgroup", ("rw", "cpu", "cpuacct"))
    assert quota_cpus([v1], {"cpu": "/docker/abc", "cpuacct": "/docker/abc"}) == 1
    # Both: the tighter one. A group the mount does not show, and a
    # hierarchy without the cpu controller, say nothing.
    _groups(unified, {"/kube/pod/ctr": "400000 100000"}, "cpu.max")
    assert quota_cpus([v2, v1], {"": "/kube/pod/ctr", "cpu": "/docker/abc"}) == 1
    assert quota_cpus([v1], {"cpu": "/elsewhere"}) is None
    other = Mount("0:3", "/", str(cpu), "cgroup", ("rw", "memory"))
    assert quota_cpus([other], {"memory": "/"}) is None
    _groups(cpu, {"/": "-1"}, "cpu.cfs_quota_us")
    assert quota_cpus([v1], {"cpu": "/docker/abc"}) is None


@contextlib.contextmanager
def _cpu_group(quota: str) -> Iterator[Path]:
    """A cgroup of this machine with a CPU quota, for the length of the
    block; skips the test where none can be made (not root, no cpu
    controller there)."""
    for mount in mount_table():
        v1 = mount.kind == "cgroup" and "cpu" in mount.options
        v2 = mount.kind == "cgroup2" and "cpu" in _text(Path(mount.point, "cgroup.subtree_control"))
        if not (v1 or v2) or not os.access(mount.point, os.W_OK):
            continue
        group = Path(mount.point, f"imgpar-test-{os.getpid()}")
        try:
            group.mkdir()
        except OSError:
            continue
        try:
            if v1:
                (group / "cpu.cfs_quota_us").write_text(quota.split()[0])
            else:
                (group / "cpu.max").write_text(quota)
        except OSError:
            group.rmdir()
            continue
        try:
            yield group
        finally:
            _remove(group)
        return
    pytest.skip("no cgroup with a CPU quota can be made here")


def _remove(group: Path) -> None:
    """Remove a cgroup whose processes have ended: cgroup v2 may call it
    busy for a moment after the last one exits."""
    for _ in range(50):
        try:
            group.rmdir()
            return
        except OSError:
            time.sleep(0.05)
    group.rmdir()


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def test_a_containers_cpu_quota_sets_the_default_jobs(tmp_path: Path) -> None:
    # Docker's --cpus 1 on a host of many cores: one worker, as the README
    # says, not one per core of the host sharing one core's time.
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        Image.new("RGB", (64, 48), (i * 60, 90, 30)).save(src / f"p{i}.png")
    argv = [sys.executable, "-m", "imgpar", "convert", str(src), "--to", "webp"]
    with _cpu_group("100000 100000") as group:
        done = subprocess.run(
            ["sh", "-c", f'echo $$ > "{group}/cgroup.procs" && exec "$@"', "sh", *argv],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "on 1 job" in done.stdout, done.stdout
