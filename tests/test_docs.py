"""The README documents every command and every option (so it cannot drift
from the CLI), and its two commands are the ones CI runs."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
from PIL import Image
from typer.testing import CliRunner

from imgpar.cli import app
from imgpar.collect import Collector, Summary
from imgpar.report import CSV_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_command_and_option_is_in_the_readme() -> None:
    group = typer.main.get_group(app)
    missing = []
    for name, command in group.commands.items():
        if f"imgpar {name}" not in README:
            missing.append(f"imgpar {name}")
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("--") and opt != "--help" and opt not in README:
                    missing.append(f"imgpar {name} {opt}")
    assert not missing, f"not in README.md: {missing}"


def test_every_command_help_ends_with_an_example() -> None:
    group = typer.main.get_group(app)
    for name, command in group.commands.items():
        assert "Example: imgpar " + name in (command.help or ""), name


def test_ci_runs_the_readme_test_command() -> None:
    command = re.search(r"Run the tests.*?```sh\n(.+?)\n```", README, re.S)
    assert command, "README has no test command"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert command.group(1).strip() in ci


def _full_summary() -> Summary:
    """A summary with every optional field set, so that its dict has every key."""
    filled: dict[str, Any] = {}
    for name, default in Summary._field_defaults.items():
        if isinstance(default, bool):
            filled[name] = True
        elif default is None:
            filled[name] = "why"
        elif default == ():
            filled[name] = ("a path",)
    return Collector(jobs=1).summary()._replace(**filled)


def test_every_report_key_is_in_docs_report_md(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = (ROOT / "docs" / "report.md").read_text(encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    os.makedirs("src/sub")
    for name in ("src/a.png", "src/gone.png", "src/sub/b.png"):
        Image.new("RGB", (64, 48)).save(name)
    Path("src/bad.jpg").write_bytes(b"not an image")
    Path("src/raw.cr2").write_bytes(b"")  # a walker note, and an end note in `said`

    def run(*args: str) -> dict[str, Any]:
        argv = ["convert", "src", "--to", "webp", "--out", "out", "--jobs", "1", *args]
        monkeypatch.setattr(sys, "argv", ["imgpar", *argv])
        done = CliRunner().invoke(app, [*argv, "--report", "r.json"])
        assert done.exit_code == 1, done.output  # bad.jpg fails
        return json.loads(Path("r.json").read_text(encoding="utf-8"))

    run()
    os.remove("src/gone.png")
    Image.new("RGB", (32, 32)).save("src/new.png")
    data = run("--prune")  # new.png converted, a.png and b.png skipped, gone.webp pruned
    files = data["files"]
    assert {f["status"] for f in files} == {"converted", "skipped", "failed"}
    assert data["notes"] and data["said"] and "pruned" in data["summary"]

    keys = set(data) | set(data["summary"]) | set(data["summary"]["stage_seconds"])
    keys |= {k for f in files for k in f} | {k for f in files for o in f["outputs"] for k in o}
    keys |= {k for note in data["notes"] for k in note}
    keys |= set(_full_summary().as_dict())  # the keys only some runs have
    missing = sorted(k for k in keys if f"`{k}`" not in doc)
    assert not missing, f"report keys not in docs/report.md: {missing}"
    columns = [c for c in CSV_COLUMNS if f"`{c}`" not in doc]
    assert not columns, f"CSV columns not in docs/report.md: {columns}"
