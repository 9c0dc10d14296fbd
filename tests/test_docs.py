"""The README documents every command and every option (so it cannot drift
from the CLI), and its two commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from imgpar.cli import app

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
