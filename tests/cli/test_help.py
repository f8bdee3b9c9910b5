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


# One interpreter for every command's help (a new one each took ~0.5 s): after each command
# the modules it loaded are unloaded again, so each starts from the same set a fresh
# `worktime … --help` would, and what it loaded is its own.
_EACH_HELP = """
import json, sys
paths = json.loads(sys.stdin.read())
heavy = set(json.loads(sys.argv[1]))
from worktime_cli.cli.app import main
base = set(sys.modules)
found = {"": sorted(heavy & {m.split(".")[0] for m in base})}
for path in paths:
    sys.argv = ["worktime", *path, "--help"]
    try:
        main()
    except SystemExit:
        pass
    new = set(sys.modules) - base
    found[" ".join(path)] = sorted(heavy & {m.split(".")[0] for m in new})
    for name in new:
        del sys.modules[name]
sys.stdout.flush()
sys.__stdout__.write("\\n" + json.dumps(found) + "\\n")
"""


@pytest.fixture(scope="module")
def heavy_imports() -> dict[str, list[str]]:
    """Command path -> the heavy modules its --help loaded, in one child interpreter."""
    import json
    import subprocess
    import sys

    paths = [list(p) for p, _ in ALL if p]
    out = subprocess.run(
        [sys.executable, "-c", _EACH_HELP, json.dumps(HEAVY)],
        input=json.dumps(paths),
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, list[str]] = json.loads(out.stdout.strip().splitlines()[-1])
    assert found.pop("") == [], "importing the CLI's entry point loads a heavy module"
    return found


@pytest.mark.parametrize("path", [p for p, _ in ALL if p], ids=[" ".join(p) for p, _ in ALL if p])
def test_every_commands_help_imports_nothing_heavy(path, heavy_imports):
    """`worktime … --help` loads typer, rich and our CLI modules only: help stays instant."""
    assert heavy_imports[" ".join(path)] == [], " ".join(path)


def test_one_commands_help_in_its_own_interpreter():
    """The shared child above, checked against one true fresh start."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "sys.argv = ['worktime', 'd1', 'execute', '--help']\n"
        "from worktime_cli.cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(sorted(set({HEAVY!r}) & {{m.split('.')[0] for m in sys.modules}}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_shared_child_sees_a_heavy_import():
    """The harness can fail: a module loaded by one help is reported for that command only."""
    import json
    import subprocess
    import sys

    probe = _EACH_HELP.replace(
        "    new = set(sys.modules)", "    import sqlite3\n    new = set(sys.modules)", 1
    )
    paths = [["d1", "list"], ["kv", "key", "get"]]
    out = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(HEAVY)],
        input=json.dumps(paths),
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["d1 list"] == ["sqlite3"] and found["kv key get"] == ["sqlite3"]
