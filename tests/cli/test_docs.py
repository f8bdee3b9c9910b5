"""docs/commands.md is the CLI's own help: regenerate it with `cog -r docs/commands.md`."""

from __future__ import annotations

from pathlib import Path

from cogapp import Cog  # type: ignore[import-untyped]  # no type information upstream

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "commands.md"


def test_the_command_reference_is_current(capsys):
    status = Cog().main(["cog", "--check", str(REFERENCE)])
    out = capsys.readouterr()
    assert status == 0, (
        f"docs/commands.md is out of date: run `cog -r docs/commands.md`\n{out.out}{out.err}"
    )


def test_the_reference_covers_every_command():
    from worktime_cli.cli.app import COMMANDS

    text = REFERENCE.read_text(encoding="utf-8")
    for name in COMMANDS:
        assert f"## `worktime {name}`" in text
    assert "### `worktime d1 migrations`" in text
    assert "#### `worktime d1 migrations apply`" in text
