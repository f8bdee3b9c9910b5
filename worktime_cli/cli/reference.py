"""The command reference in docs/commands.md, generated from the CLI's own `--help`.

docs/commands.md holds a cog block that calls `markdown()`; `cog -r docs/commands.md`
rewrites it and a test (`tests/cli/test_docs.py`) fails when it is out of date, so the
reference cannot drift from the code. The help is rendered at a fixed width, without colour,
so the file is the same on every machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

WIDTH = 100


def _walk(command: Any, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """Every command path under `command`: the root's in its own order, groups' sorted."""
    yield path
    if not path:  # the root loads its commands on demand (cli.app.Root)
        for name in command.list_commands(None):
            yield from _walk(command.get_command(None, name), (name,))
        return
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _walk(sub, (*path, name))


def help_text(path: tuple[str, ...]) -> str:
    """The help of the command at `path`, as a user sees it in a 100-column terminal, no colour."""
    from typer.testing import CliRunner

    from worktime_cli.cli.app import app

    result = CliRunner().invoke(
        app,
        [*path, "--help"],
        env={"COLUMNS": str(WIDTH), "NO_COLOR": "1", "TERM": "dumb"},
        prog_name="worktime",
        standalone_mode=False,
    )
    if result.exit_code not in (0, None):
        raise RuntimeError(f"worktime {' '.join(path)} --help exited {result.exit_code}")
    return "\n".join(line.rstrip() for line in result.output.strip("\n").splitlines())


def markdown() -> str:
    """Every command's help, in the order of the command tree, as Markdown sections."""
    import typer

    from worktime_cli.cli.app import app

    root = typer.main.get_command(app)
    parts = []
    for path in _walk(root, ()):
        title = " ".join(("worktime", *path))
        level = "#" * min(len(path) + 2, 6)
        parts.append(f"{level} `{title}`\n\n```text\n{help_text(path)}\n```\n")
    return "\n".join(parts)
