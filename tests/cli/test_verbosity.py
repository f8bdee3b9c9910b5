"""-q/--quiet and -v/--verbose: on every command, before or after the subcommand; quiet keeps
errors and warnings and never changes stdout; verbose says which config and folders a run uses."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from tests.conftest import Runner
from worktime_cli.cli.app import QUIET_HELP, VERBOSE_HELP, app

ROOT: Any = typer.main.get_command(app)


def walk(command: Any, path: tuple[str, ...] = ()) -> Any:
    yield path, command
    if hasattr(command, "list_commands"):
        ctx = typer.Context(command)
        for name in command.list_commands(ctx):
            yield from walk(command.get_command(ctx, name), (*path, name))


ALL = list(walk(ROOT))
LEAVES = [(path, command) for path, command in ALL if not hasattr(command, "list_commands")]


def _options(command: Any) -> dict[str, Any]:
    return {opt: param for param in command.params for opt in param.opts}


@pytest.mark.parametrize(("path", "command"), ALL, ids=[" ".join(p) or "root" for p, _ in ALL])
def test_every_command_takes_quiet_and_verbose_with_one_help(path, command) -> None:
    options = _options(command)
    for short, long, help_text in (
        ("-q", "--quiet", QUIET_HELP),
        ("-v", "--verbose", VERBOSE_HELP),
    ):
        assert options.get(short) is options.get(long) is not None, (path, short)
        param = options[short]
        assert param.help == help_text, path
        assert param.is_flag and not param.expose_value, path
    # No other option of the command took one of the letters.
    assert [p.name for p in command.params].count("quiet") == 1
    assert [p.name for p in command.params].count("verbose") == 1


def test_the_tree_is_the_whole_cli() -> None:
    assert len(LEAVES) > 50  # the walk reached every command module, not only the root


@pytest.mark.parametrize(("path", "command"), LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_the_options_parse_on_every_command(cli: Runner, path, command) -> None:
    """`worktime PATH -q --help` and `worktime -v PATH --help`: both spellings parse."""
    for argv in ((*path, "-q", "--help"), ("-v", *path, "--verbose", "--help")):
        result = cli(*argv)
        assert result.exit_code == 0, (argv, result.output)
        assert result.stdout.lstrip().startswith(f"Usage: worktime {' '.join(path)}"), argv


# --- quiet -----------------------------------------------------------------------------------


def test_quiet_hides_the_hint_line_after_or_before_the_subcommand(cli: Runner) -> None:
    plain = cli("d1", "list")
    assert plain.exit_code == 0
    assert plain.stderr == "no databases configured; create one with `worktime d1 create NAME`\n"
    for argv in (("d1", "list", "-q"), ("-q", "d1", "list"), ("d1", "list", "--quiet")):
        quiet = cli(*argv)
        assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, plain.stdout, ""), argv


def test_quiet_keeps_stdout_byte_for_byte(cli: Runner) -> None:
    assert cli("d1", "create", "worktime-db", "-q").stderr == ""  # success and info lines
    cli("d1", "execute", "worktime-db", "--command", "CREATE TABLE t (a); INSERT INTO t VALUES (1)")
    for argv in (
        ("d1", "list"),
        ("d1", "list", "--json"),
        ("d1", "info", "worktime-db"),
        ("d1", "export", "worktime-db", "--output", "-"),
    ):
        plain, quiet = cli(*argv), cli(*argv, "-q")
        assert plain.stdout and quiet.stdout == plain.stdout, argv
        assert quiet.exit_code == plain.exit_code == 0, argv
    assert cli("d1", "export", "worktime-db", "--output", "-", "-q").stderr == ""


def test_quiet_keeps_errors_and_their_hints(cli: Runner) -> None:
    plain = cli("d1", "info", "nope")
    quiet = cli("d1", "info", "nope", "-q")
    assert plain.exit_code == quiet.exit_code == 1
    assert plain.stderr.startswith("error: ") and "\nhint: " in plain.stderr
    assert (quiet.stdout, quiet.stderr) == (plain.stdout, plain.stderr)
    as_json = cli("-q", "d1", "info", "nope", "--json")
    assert json.loads(as_json.stdout)["error"]["code"] == 1


def test_quiet_keeps_warnings(cli: Runner, project: Path) -> None:
    toml = project / "wrangler.toml"
    toml.write_text(
        toml.read_text()
        + '\n[[kv_namespaces]]\nbinding = "KV"\nid = "0f2ac74b498b48028cb68387c421e279"\n'
    )
    (project / "bulk.json").write_text(json.dumps([{"key": "a", "value": "1", "odd": 2}]))
    result = cli("kv", "bulk", "put", "bulk.json", "--binding", "KV", "-q")
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        'warning: the item at index 0 contains unexpected properties: ["odd"]\n'
    )


def test_quiet_reaches_a_child_only_after_its_command(cli: Runner) -> None:
    """`run` passes everything after the command's name on: a -q there is the child's."""
    check = "import sys; sys.exit(0 if sys.argv[1:] == ['-q'] else 3)"
    assert cli("run", "-q", "--", sys.executable, "-c", check, "-q").exit_code == 0
    assert cli("run", "--", sys.executable, "-c", check).exit_code == 3


# --- verbose ---------------------------------------------------------------------------------


def test_verbose_says_which_config_and_state_folder(cli: Runner, project: Path) -> None:
    details = (
        f"config: {project / 'wrangler.toml'} (the nearest to the current folder)\n"
        "environment: top level (no --env)\n"
        f"local state: {project / '.wrangler' / 'state'}\n"
    )
    plain = cli("d1", "list")
    for argv in (("-v", "d1", "list"), ("d1", "list", "--verbose")):
        verbose = cli(*argv)
        assert verbose.exit_code == 0
        assert verbose.stdout == plain.stdout
        assert verbose.stderr == details + plain.stderr, argv
    assert "config:" not in plain.stderr


def test_verbose_names_a_given_config_and_folder(cli: Runner, project: Path) -> None:
    (project / "other").mkdir()
    (project / "other" / "wrangler.toml").write_text('name = "other"\n')
    state = project / "elsewhere"
    result = cli("d1", "list", "-v", "--config", "other/wrangler.toml", "--persist-to", str(state))
    assert result.exit_code == 0, result.output
    assert f"config: {project / 'other' / 'wrangler.toml'} (--config)\n" in result.stderr
    assert f"local state: {state} (--persist-to)\n" in result.stderr


def test_verbose_lists_each_migration_as_it_starts(cli: Runner, project: Path) -> None:
    cli("d1", "create", "worktime-db")
    (project / "migrations").mkdir(exist_ok=True)
    (project / "migrations" / "0001_a.sql").write_text("CREATE TABLE a (x);\n")
    (project / "migrations" / "0002_b.sql").write_text("CREATE TABLE b (x);\n")
    result = cli("d1", "migrations", "apply", "worktime-db", "-v")
    assert result.exit_code == 0, result.output
    assert "[1/2] 0001_a.sql …\n[2/2] 0002_b.sql …\n" in result.stderr


# --- both ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ("d1", "list", "-q", "-v"),
        ("-q", "d1", "list", "-v"),
        ("-v", "-q", "d1", "list"),
        ("--verbose", "d1", "list", "--quiet", "--json"),
    ],
)
def test_quiet_and_verbose_together_are_a_usage_error(cli: Runner, argv) -> None:
    result = cli(*argv)
    assert result.exit_code == 2
    assert result.stderr == (
        "error: -q/--quiet and -v/--verbose cannot be combined\nhint: give one of them\n"
    )


def test_each_run_starts_at_the_normal_level(cli: Runner) -> None:
    assert cli("-q", "d1", "list").stderr == ""
    assert cli("d1", "list").stderr != ""  # the level of the run before does not stick
    assert cli("d1", "list", "-v").exit_code == 0  # nor counts as given with -q
