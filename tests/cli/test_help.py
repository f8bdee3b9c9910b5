"""Every command's help renders and says how to use it; the root listing stays truthful."""

from __future__ import annotations

from typing import Any

import pytest
import typer

from worktime_cli.cli.app import COMMANDS, app

ROOT: Any = typer.main.get_command(app)  # our Root group (lazy get_command)


def walk(command: Any, path: tuple[str, ...] = ()) -> Any:
    yield path, command
    if hasattr(command, "list_commands"):
        ctx = typer.Context(command)
        for name in command.list_commands(ctx):
            yield from walk(command.get_command(ctx, name), (*path, name))


ALL = list(walk(ROOT))


@pytest.mark.parametrize(("path", "command"), ALL, ids=[" ".join(p) or "root" for p, _ in ALL])
def test_help_renders(cli, path, command):
    result = cli(*path, "--help")
    assert result.exit_code == 0, result.output
    assert result.stdout.lstrip().startswith(f"Usage: worktime {' '.join(path)}".rstrip())
    if not hasattr(command, "list_commands"):
        assert "Example" in result.stdout, f"`worktime {' '.join(path)}` help has no example"


def test_root_listing_matches_each_commands_own_help():
    ctx = typer.Context(ROOT)
    for name, (_, short) in COMMANDS.items():
        command = ROOT.get_command(ctx, name)
        own = (command.help or "").strip().split("\n\n")[0].replace("\n", " ")
        assert own.rstrip(".") == short.rstrip("."), name


def test_root_help_loads_no_command_module(cli):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from worktime_cli.cli.app import main\n"
        "sys.argv = ['worktime', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('worktime_cli.cli.') and m not in"
        " ('worktime_cli.cli.app',)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


HEAVY = ("sqlite_utils", "tomlkit", "httpx", "keyring", "uvicorn", "starlette", "dotenv", "sqlite3")


@pytest.mark.parametrize("path", [p for p, _ in ALL if p], ids=[" ".join(p) for p, _ in ALL if p])
def test_every_commands_help_imports_nothing_heavy(path):
    """`worktime … --help` loads typer, rich and our CLI modules only: help stays instant."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        f"sys.argv = ['worktime', *{list(path)!r}, '--help']\n"
        "from worktime_cli.cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(sorted(set({HEAVY!r}) & {{m.split('.')[0] for m in sys.modules}}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", " ".join(path)
