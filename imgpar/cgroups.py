"""The CPU time Linux's control groups give this process. A container's
`--cpus 2` (Docker; a Kubernetes CPU limit) is a quota of time, not a set
of CPUs: the process may still run on every core of the host, so its
affinity counts them all, and a worker per core would share two cores'
time (and each hold its memory)."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable

from imgpar.mounts import Mount, mount_table
from imgpar.paths import below

OWN_GROUPS = "/proc/self/cgroup"


def quota_cpus(
    mounts: list[Mount] | None = None, groups: dict[str, str] | None = None
) -> int | None:
    """The CPUs that the tightest CPU quota on this process's cgroups, or on
    a group above them (a pod's, over its container's), amounts to, rounded
    up; None where none is set, or Linux's tables cannot be read. `mounts`
    and `groups` are those of this process unless given."""
    mounts = mount_table() if mounts is None else mounts
    groups = own_groups() if groups is None else groups
    least: int | None = None
    for mount in mounts:
        read: Callable[[str], int | None]
        if mount.kind == "cgroup2":
            group, read = groups.get(""), _v2_quota
        elif mount.kind == "cgroup" and "cpu" in mount.options:
            group, read = groups.get("cpu"), _v1_quota
        else:
            continue
        folder = _shown_at(mount, group) if group is not None else None
        while folder is not None:
            cpus = read(folder)
            if cpus is not None:
                least = cpus if least is None else min(least, cpus)
            folder = os.path.dirname(folder) if below(folder, mount.point) else None
    return least


def own_groups() -> dict[str, str]:
    """This process's cgroup by controller ("cpu"), and "" for the one of
    cgroup v2's single hierarchy."""
    groups: dict[str, str] = {}
    with contextlib.suppress(OSError, ValueError), open(OWN_GROUPS, encoding="utf-8") as table:
        for line in table:
            _number, controllers, group = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(","):
                groups[controller] = group
    return groups


def _shown_at(mount: Mount, group: str) -> str | None:
    """Where `mount` shows the folder of `group`; None where it does not (a
    group outside the part of the hierarchy mounted there)."""
    if group == mount.root:
        return mount.point
    if mount.root != "/" and not below(group, mount.root):
        return None
    return os.path.normpath(os.path.join(mount.point, os.path.relpath(group, mount.root)))


def _v2_quota(folder: str) -> int | None:
    words = _read(os.path.join(folder, "cpu.max")).split()
    if len(words) != 2 or words[0] == "max":
        return None
    return _cpus(words[0], words[1])


def _v1_quota(folder: str) -> int | None:
    quota = _read(os.path.join(folder, "cpu.cfs_quota_us")).strip()
    if not quota or quota.startswith("-"):  # -1: no quota
        return None
    return _cpus(quota, _read(os.path.join(folder, "cpu.cfs_period_us")))


def _cpus(quota: str, period: str) -> int | None:
    try:
        share = int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None
    return max(1, math.ceil(share))


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii") as file:
            return file.read()
    except (OSError, ValueError):
        return ""
