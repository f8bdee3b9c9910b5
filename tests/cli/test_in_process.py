"""The CLI run many times in one process (as the tests and any embedding do) stays the same CLI.

Each top-level command module adds its subcommands to its own Typer app in `register`; the
root built that tree again on every run, so every run registered every subcommand once more
and a test worker's thousandth CLI test spent seconds building a tree with a thousand copies.
"""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("group", ["d1", "kv", "secret", "stats", "tokens"])
def test_a_second_run_registers_nothing_new(cli, group: str) -> None:
    module = importlib.import_module(f"worktime_cli.cli.{group}")
    first = cli(group, "--help")
    registered = [len(module.app.registered_commands), len(module.app.registered_groups)]
    for _ in range(3):
        again = cli(group, "--help")
        assert again.stdout == first.stdout
    assert [len(module.app.registered_commands), len(module.app.registered_groups)] == registered
