"""The target options mean one thing everywhere: declared once (worktime_cli/cli/options.py).

Every command that resolves a binding (it takes --config) takes the same --config and --env,
with the same help, short flag and environment variable; --persist-to, --json, --yes,
--preview, --local and --remote are the same option wherever they appear, except where a
command deliberately refuses or ignores one (listed here, each with its own help saying so).
The target options reach every such command from its one `target: Target` parameter (or a
variant of it), in one fixed order.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

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


# The target options, by their parameter names, in the one order every command's help shows.
FIXED_ORDER = list(options.TARGET_OPTIONS)
VARIANTS = {
    "Target": (options.Target, ["remote", "local", "config", "env", "persist_to"]),
    "PreviewTarget": (
        options.PreviewTarget,
        ["remote", "local", "preview", "config", "env", "persist_to"],
    ),
    "LocalTarget": (options.LocalTarget, ["config", "env", "persist_to"]),
    "StatelessTarget": (options.StatelessTarget, ["remote", "local", "config", "env"]),
    "ProjectTarget": (options.ProjectTarget, ["config", "env"]),
}


def _function(command: Any) -> Any:
    """The command's own function, under Typer's wrapper and `options.expand`'s."""
    return inspect.unwrap(command.callback)


def _declared_target(command: Any) -> tuple[str, ...] | None:
    """The options the command's `Target` parameter stands for (None: it has none)."""
    signature = inspect.signature(_function(command), eval_str=True)
    found = [options._takes(p.annotation) for p in signature.parameters.values()]
    takes = [t for t in found if t is not None]
    assert len(takes) <= 1
    return takes[0].options if takes else None


def test_every_command_that_resolves_a_binding_declares_a_target() -> None:
    missing = [
        path
        for path, command in COMMANDS_NOW.items()
        if any("--config" in p.opts for p in command.params) and _declared_target(command) is None
    ]
    assert missing == []
    assert len([c for c in COMMANDS_NOW.values() if _declared_target(c) is not None]) >= 56


def test_every_command_takes_exactly_its_targets_options_together_in_the_fixed_order() -> None:
    wrong = {}
    for path, command in COMMANDS_NOW.items():
        declared = _declared_target(command)
        if declared is None:
            continue
        names = [p.name for p in command.params]
        # The command's own --remote/--local (DIFFERENT) are not the target's.
        taken = [
            name
            for name, param in zip(names, command.params, strict=True)
            if name in FIXED_ORDER and (path, param.opts[0]) not in DIFFERENT
        ]
        start = names.index(taken[0])
        if taken != list(declared) or names[start : start + len(taken)] != taken:
            wrong[path] = (names, declared)
    assert wrong == {}


def test_the_named_variants_take_what_they_say() -> None:
    for alias, wanted in VARIANTS.values():
        takes = options._takes(alias)
        assert takes is not None
        assert list(takes.options) == wanted
    # A one-off combination is put in the fixed order too.
    assert options.Takes("env", "remote", "config").options == ("remote", "config", "env")
    with pytest.raises(TypeError):
        options.Takes("--remote")


def _tiny_app(annotation: Any) -> tuple[typer.Typer, list[options.Target]]:
    """A new command as anyone would write one: its own argument and option, one target."""
    app = typer.Typer()
    seen: list[options.Target] = []

    def show(
        name: Annotated[str, typer.Argument()],
        target: options.Target = options.Target(),
        json: options.JsonOption = False,
    ) -> None:
        del name, json
        seen.append(target)

    show.__annotations__["target"] = annotation  # the variant under test
    app.command()(show)
    app.callback()(lambda: None)  # a group, as the real tree is
    options.expand_targets(app)
    return app, seen


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_new_command_gets_the_target_options_from_its_one_declaration(variant: str) -> None:
    alias, wanted = VARIANTS[variant]
    app, _ = _tiny_app(alias)
    (command,) = typer.main.get_command(app).commands.values()  # type: ignore[attr-defined]
    assert [p.name for p in command.params] == ["name", *wanted, "json"]
    for param in command.params:
        if param.name in wanted:
            declared = _declared(options.TARGET_OPTIONS[param.name])
            names = [declared.default, *declared.param_decls]
            assert (param.help, param.envvar) == (declared.help, declared.envvar)
            assert [*param.opts, *param.secondary_opts] == [
                part for name in names for part in name.split("/") if part
            ]
            assert param.default == getattr(options.Target(), param.name)


def test_the_values_reach_the_command_as_one_target() -> None:
    app, seen = _tiny_app(options.PreviewTarget)
    args = ["show", "x", "--remote", "--preview", "-c", "w.toml", "-e", "prod", "--persist-to", "s"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    from pathlib import Path

    assert seen == [
        options.Target(
            remote=True, preview=True, config=Path("w.toml"), env="prod", persist_to=Path("s")
        )
    ]
    seen.clear()
    assert CliRunner().invoke(app, ["show", "x"], env={"CLOUDFLARE_ENV": "staging"}).exit_code == 0
    assert seen == [options.Target(env="staging")]


def test_expanding_twice_changes_nothing_and_a_wrong_declaration_is_refused() -> None:
    app, _ = _tiny_app(options.Target)
    once = app.registered_commands[0].callback
    options.expand_targets(app)
    assert app.registered_commands[0].callback is once

    def clash(target: options.Target = options.Target(), env: str = "") -> None: ...

    def two(
        a: options.Target = options.Target(), b: options.LocalTarget = options.Target()
    ) -> None: ...

    def remote_by_default(target: options.Target = options.Target(remote=True)) -> None: ...

    for wrong in (clash, two, remote_by_default):
        with pytest.raises(TypeError):
            options.expand(wrong)
