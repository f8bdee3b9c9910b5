"""The target options mean one thing everywhere: declared once (worktime_cli/cli/options.py).

Every command that resolves a binding (it takes --config) takes the same --config and --env,
with the same help, short flag and environment variable; --persist-to, --json, --yes,
--preview, --local and --remote are the same option wherever they appear, except where a
command deliberately refuses or ignores one (listed here, each with its own help saying so).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from worktime_cli.cli import options
from worktime_cli.cli.app import COMMANDS, _load

SHARED = {
    "--config": options.ConfigOption,
    "--persist-to": options.PersistOption,
    "--env": options.EnvOption,
    "--json": options.JsonOption,
    "--yes": options.YesOption,
    "--preview": options.PreviewOption,
    "--local": options.LocalOption,
    "--remote": options.RemoteOption,
}

# Commands whose option of that name is a different option on purpose.
DIFFERENT = {
    ("d1 import", "--json"),  # FILE's format, not the output's
    ("d1 reset", "--remote"),  # refused: a reset never touches a remote database
    ("d1 time-travel info", "--remote"),  # accepted for wrangler's spelling; always remote
    ("d1 time-travel restore", "--remote"),
    ("d1 time-travel info", "--local"),  # refused: locally, `d1 restore` restores
    ("d1 time-travel restore", "--local"),
    ("secret diff", "--remote"),  # also compare the deployed Worker's secrets
}


def _leaves(command: Any, path: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    subs = getattr(command, "commands", None)
    if subs:
        for name, sub in subs.items():
            yield from _leaves(sub, (*path, name))
    else:
        yield " ".join(path), command


def _commands() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in dict.fromkeys(COMMANDS):
        found.update(_leaves(_load(name), (name,)))
    return found


def _declared(annotated: Any) -> Any:
    """The typer.Option inside an `Annotated[...]` alias."""
    return annotated.__metadata__[0]


def _shape(param: Any) -> tuple[Any, ...]:
    return (param.help, tuple(param.opts), tuple(param.secondary_opts), param.envvar)


COMMANDS_NOW = _commands()


@pytest.mark.parametrize("option", sorted(SHARED))
def test_each_shared_option_is_the_declared_one(option: str) -> None:
    declared = _declared(SHARED[option])
    want = (declared.help, declared.envvar)
    wrong = {}
    for path, command in COMMANDS_NOW.items():
        for param in command.params:
            shared = option in param.opts and (path, option) not in DIFFERENT
            if shared and (param.help, param.envvar) != want:
                wrong[path] = (param.help, param.envvar)
    assert wrong == {}


def test_every_command_that_resolves_a_binding_takes_config_and_env_alike() -> None:
    shapes: dict[str, set[tuple[Any, ...]]] = {"--config": set(), "--env": set()}
    missing = []
    for path, command in COMMANDS_NOW.items():
        by_name = {opt: param for param in command.params for opt in param.opts}
        if "--config" not in by_name:
            continue
        for option, seen in shapes.items():
            if option in by_name:
                seen.add(_shape(by_name[option]))
            else:
                missing.append(f"{path} lacks {option}")
    assert missing == []
    assert all(len(seen) == 1 for seen in shapes.values()), shapes


def test_the_check_sees_a_drifted_option() -> None:
    # The checks above can fail: a command whose --env lost its environment variable differs.
    import typer

    drifted = typer.Typer()

    @drifted.command()
    def show(env: str = typer.Option(None, "--env", "-e", help="An environment.")) -> None:
        del env

    command = typer.main.get_command(drifted)
    (param,) = [p for p in command.params if "--env" in p.opts]
    declared = _declared(options.EnvOption)
    assert (getattr(param, "help", None), param.envvar) != (declared.help, declared.envvar)


def test_every_required_database_argument_is_the_declared_one() -> None:
    declared = _declared(options.DatabaseArg)
    seen = {
        path: getattr(param, "help", None)
        for path, command in COMMANDS_NOW.items()
        for param in command.params
        if param.name == "database" and param.required and not param.opts[0].startswith("-")
    }
    assert len(seen) >= 15  # d1 (create … pull), d1 migrations, reset, restore, time-travel
    assert {path for path, help in seen.items() if help != declared.help} == set()
