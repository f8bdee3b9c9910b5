"""Every command's help renders, and says how to use it."""

from __future__ import annotations

import pytest
import typer

from worktime_cli.cli.app import app


def walk(command, path: tuple[str, ...] = ()):
    yield path, command
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from walk(sub, (*path, name))


COMMANDS = list(walk(typer.main.get_command(app)))


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS, ids=[" ".join(p) or "root" for p, _ in COMMANDS]
)
def test_help_renders(cli, path, command):
    result = cli(*path, "--help")
    assert result.exit_code == 0, result.output
    assert result.stdout.lstrip().startswith(f"Usage: worktime {' '.join(path)}".rstrip())
    if not hasattr(command, "commands"):
        assert "Example" in result.stdout, f"`worktime {' '.join(path)}` help has no example"
