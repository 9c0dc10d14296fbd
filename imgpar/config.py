"""Settings kept in the repository: `[tool.imgpar]` in pyproject.toml or an
`imgpar.toml`, found from the current folder upward, with named presets.
Keys are the `convert` option names; options given on the command line win."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from typing import Any

from imgpar.errors import UsageError

CONFIG_FILES = ("imgpar.toml", "pyproject.toml")
# Bytes a settings file may have: a pyproject.toml is a few KB.
_MOST = 1 << 20


def find_config(start: str = ".") -> str | None:
    folder = os.path.abspath(start)
    while True:
        for name in CONFIG_FILES:
            path = os.path.join(folder, name)
            if os.path.isfile(path) and (name == "imgpar.toml" or _has_section(path)):
                return path
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _has_section(path: str) -> bool:
    try:
        with open(path, "rb") as fp:
            if b"imgpar" not in fp.read():
                return False  # most projects' files: no need to parse them
    except OSError:
        return False
    # One that names imgpar but does not parse is an error, not "no config":
    # a run that silently ignores the settings it was given does the wrong work.
    tool = _read(path).get("tool", {})
    return isinstance(tool, dict) and "imgpar" in tool  # `tool = "imgpar"` is not imgpar's


def _read(path: str) -> dict[str, Any]:
    # Imported here: most runs find no config file and never parse TOML.
    import tomllib
    try:
        # A pipe may be given (`--config <(...)`, /dev/stdin); /dev/zero
        # would be read into all memory.
        with open(path, "rb") as fp:
            data = fp.read(_MOST + 1)
        if len(data) > _MOST:
            raise UsageError(f"cannot read config {path}: over {_MOST >> 20} MiB, no settings file")
        return tomllib.loads(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read config {path}: {exc}") from None


def load(
    path: str | None, preset: str | None, known: frozenset[str]
) -> tuple[dict[str, Any], dict[str, str], frozenset[str]]:
    """The settings from `path` (or the one found), with `preset` laid over
    them, where each came from (`imgpar.toml preset 'web'`), for errors,
    and those the preset gave, which are nearer than the file's own.

    Keys may be spelled `max-size` or `max_size`; an unknown key is a usage
    error naming it, so a typo never silently does nothing.
    """
    if path is None:
        path = find_config()
        if path is None:
            if preset:
                raise UsageError(f"--preset {preset}: no imgpar.toml or [tool.imgpar] found")
            return {}, {}, frozenset()
    data = _read(path)
    if _in_tool_table(path, data):
        tool = _table(data.get("tool", {}), f"{path}: [tool]")
        data = _table(tool.get("imgpar", {}), f"{path}: [tool.imgpar]")
    elif "tool" in data:
        raise UsageError(
            f"{path}: unknown setting 'tool': imgpar's settings go at the top level of an"
            " imgpar.toml, or in the [tool.imgpar] table of a pyproject.toml"
        )
    presets = _table(data.pop("presets", {}), f"{path}: presets")
    settings = _normalise(data, known, path)
    origins = dict.fromkeys(settings, path)
    # Every preset's keys, not only the chosen one's: a typo in the preset a
    # release uses must not wait for the release to be found.
    tables = {}
    for name, table in presets.items():
        where = f"{path} preset {name!r}"
        tables[name] = _normalise(_table(table, where), known, where)
    chosen: dict[str, Any] = {}
    if preset:
        if preset not in presets:
            names = ", ".join(sorted(presets)) or "none defined"
            raise UsageError(f"--preset {preset}: not in {path} ({names})")
        # A report or manifest describes one job's outputs: inherited, a
        # preset's run would overwrite the top-level job's with its own.
        for name in _PER_JOB:
            settings.pop(name, None)
        chosen = tables[preset]
        settings.update(chosen)
        origins.update(dict.fromkeys(chosen, f"{path} preset {preset!r}"))
    return _from_folder(settings, _folder_of(path)), origins, frozenset(chosen)


def _in_tool_table(path: str, data: dict[str, Any]) -> bool:
    """Whether a file's settings are in its `[tool.imgpar]`: a
    pyproject.toml's are, and those of a pipe (`--config <(...)`) that has
    one; an imgpar.toml's are at its top level, whatever tables it holds."""
    name = os.path.basename(path)
    if name in CONFIG_FILES:
        return name == "pyproject.toml"
    tool = data.get("tool")
    return isinstance(tool, dict) and "imgpar" in tool


def _folder_of(path: str) -> str:
    """The folder a settings file's paths are read from: its own. A pipe
    (`--config <(make-settings)`), a heredoc (a deleted file) or a file gone
    since lives in no folder of the job's: its paths read from where imgpar
    runs, as a command line's would; `/dev/stdin` redirected from a file
    reads from that file's."""
    try:
        st = os.stat(path)
    except OSError:
        return os.curdir
    if not stat.S_ISREG(st.st_mode) or st.st_nlink == 0:
        return os.curdir
    if path == "/dev/stdin" or path.startswith(("/dev/fd/", "/proc/")):
        real = os.path.realpath(path)
        return os.curdir if real.startswith(("/dev/", "/proc/")) else os.path.dirname(real)
    return os.path.dirname(os.path.abspath(path))


_PER_JOB = ("report", "manifest")

# Settings that name files or folders: relative to the config file's folder,
# as they read in it, whichever folder imgpar runs from.
_PATHS = frozenset({"sources", "out", "report", "manifest"})


def _from_folder(settings: dict[str, Any], folder: str) -> dict[str, Any]:
    def place(value: Any) -> Any:
        if not isinstance(value, str) or os.path.isabs(value):
            return value
        return os.path.relpath(os.path.join(folder, value))

    for name in _PATHS & settings.keys():
        value = settings[name]
        settings[name] = [place(v) for v in value] if isinstance(value, list) else place(value)
    return settings


def _table(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UsageError(f"{where}: a table of settings, not {value!r}")
    return value


def _normalise(table: Mapping[str, Any], known: frozenset[str], where: str) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in known:
            raise UsageError(f"{where}: unknown setting {key!r}")
        if isinstance(value, list) and name not in ("sources", "report"):
            value = ",".join(str(v) for v in value)
        settings[name] = value
    return settings
