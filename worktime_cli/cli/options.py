"""Options shared by many commands, declared once so their names and help never drift.

The target options (--remote, --local, --preview, --config, --env, --persist-to) reach a
command as one parameter, `target: Target` (or a variant: `PreviewTarget`, `LocalTarget`,
`StatelessTarget`, `ProjectTarget`), which it hands to `open_context`. Typer never sees that
parameter: `expand_targets` (run on every command tree as it is loaded, `cli.app._load`) puts
the options it stands for in its place, in one fixed order, and packs their values back into a
`Target` when the command runs. So a new command gets the options in one line, and no command
can declare one of them differently.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import typer

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Path to the wrangler config: wrangler.json, wrangler.jsonc or wrangler.toml "
        "(default: the nearest one, found as wrangler finds it).",
        show_default=False,
        dir_okay=False,
    ),
]
PersistOption = Annotated[
    Path | None,
    typer.Option(
        "--persist-to",
        help="Folder for local state, as wrangler's flag (default: .wrangler/state next to wrangler.toml).",
        show_default=False,
        file_okay=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
YesOption = Annotated[
    bool,
    typer.Option(
        "--yes",
        "-y",
        "--skip-confirmation",  # wrangler's name for -y on d1 commands
        help="Do not ask for confirmation (needed when not interactive).",
    ),
]
RemoteOption = Annotated[
    bool, typer.Option("--remote", help="Act on Cloudflare's API instead of the local state.")
]
DatabaseArg = Annotated[
    str,
    typer.Argument(
        metavar="DATABASE", help="The database's database_name or binding.", show_default=False
    ),
]
EnvOption = Annotated[
    str | None,
    typer.Option(
        "--env",
        "-e",
        envvar="CLOUDFLARE_ENV",  # wrangler reads the same variable
        help="wrangler environment: the env.NAME bindings, vars and Worker name, and "
        ".dev.vars.NAME instead of .dev.vars.",
        show_default=False,
    ),
]
PreviewOption = Annotated[
    bool | None,
    typer.Option(
        "--preview/--no-preview",
        help="As wrangler: act on the binding's preview_database_id / preview_id; "
        "--no-preview: its production id (D1: --remote only, as wrangler).",
        show_default=False,
    ),
]
FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        metavar="json|pretty",
        help="As wrangler's flag: json is --json, pretty the table (the default here).",
        show_default=False,
    ),
]
LocalOption = Annotated[
    bool,
    typer.Option(
        "--local", help="Act on the local state (the default; accepted as wrangler spells it)."
    ),
]


@dataclass(frozen=True)
class Target:
    """What one command acts on, as its target options say: local or remote (and the preview
    id), which config and environment, and where local state lives.

    The fields are in the fixed order the options take in every command's --help. An option a
    command does not take keeps its default here (no --remote: `remote` is False).
    """

    remote: bool = False
    local: bool = False
    preview: bool | None = None
    config: Path | None = None
    env: str | None = None
    persist_to: Path | None = None


# Each field of Target as Typer declares it; `Takes` and `expand` read them from here only.
TARGET_OPTIONS: dict[str, Any] = {
    "remote": RemoteOption,
    "local": LocalOption,
    "preview": PreviewOption,
    "config": ConfigOption,
    "env": EnvOption,
    "persist_to": PersistOption,
}


class Takes:
    """Which target options a command takes: `Annotated[Target, Takes("config", "env")]`.

    The named variants below cover the commands; a one-off combination (a command that only
    accepts wrangler's spelling of a flag) can say its own.
    """

    def __init__(self, *options: str) -> None:
        unknown = sorted(set(options) - set(TARGET_OPTIONS))
        if unknown or not options:
            raise TypeError(f"Takes(): not target options: {unknown or 'none given'}")
        self.options = tuple(name for name in TARGET_OPTIONS if name in options)  # fixed order

    def __repr__(self) -> str:
        return f"Takes{self.options!r}"


# A bare `Target` takes the options most commands take: local or remote, config, env, state.
TAKES_TARGET = Takes("remote", "local", "config", "env", "persist_to")
# ... plus --preview: the binding's preview id (d1 execute, d1 migrations apply/list, kv keys/bulk).
PreviewTarget = Annotated[
    Target, Takes("remote", "local", "preview", "config", "env", "persist_to")
]
# Local state only, no --remote/--local (diff, pull, restore, reset, dev, doctor, gc …).
LocalTarget = Annotated[Target, Takes("config", "env", "persist_to")]
# Local or remote, but no --persist-to: locally they act on wrangler.toml or the OS keyring,
# not on the state folder (secret put/list/delete/bulk, kv namespace create).
StatelessTarget = Annotated[Target, Takes("remote", "local", "config", "env")]
# The project only: the config and its environment (run, types, secret push, migrations create …).
ProjectTarget = Annotated[Target, Takes("config", "env")]


def _takes(annotation: Any) -> Takes | None:
    """The target options a parameter annotated `annotation` stands for (None: not a target)."""
    if annotation is Target:
        return TAKES_TARGET
    if get_origin(annotation) is Annotated and get_args(annotation)[0] is Target:
        found = [meta for meta in annotation.__metadata__ if isinstance(meta, Takes)]
        return found[0] if found else TAKES_TARGET
    return None


def expand(function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` as Typer should see it: its `Target` parameter replaced by the options that
    target takes (declared in TARGET_OPTIONS, in its order, at that parameter's place), and
    their values packed into a `Target` when it runs. Without such a parameter, `function`.

    Typer reads a command's parameters with `inspect.signature` and calls it with keywords
    only, so the new `__signature__` (every parameter keyword-only: the options have defaults
    and may come before an argument that has none) is all it needs.
    """
    signature = inspect.signature(function, eval_str=True)
    found = [
        (param.name, takes)
        for param in signature.parameters.values()
        if (takes := _takes(param.annotation)) is not None
    ]
    if not found:
        return function
    if len(found) > 1:
        raise TypeError(f"{function.__qualname__}: more than one Target parameter")
    [(name, takes)] = found
    clash = sorted(set(takes.options) & set(signature.parameters))
    if clash:
        raise TypeError(f"{function.__qualname__}: {clash} are already the target's options")
    if signature.parameters[name].default not in (inspect.Parameter.empty, Target()):
        # Typer would never see it: the options' defaults are Target's own.
        raise TypeError(f"{function.__qualname__}: a Target parameter's default is Target()")
    defaults = {field.name: field.default for field in fields(Target)}
    parameters: list[inspect.Parameter] = []
    for param in signature.parameters.values():
        if param.name != name:
            parameters.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY))
            continue
        parameters.extend(
            inspect.Parameter(
                option,
                inspect.Parameter.KEYWORD_ONLY,
                default=defaults[option],
                annotation=TARGET_OPTIONS[option],
            )
            for option in takes.options
        )

    @functools.wraps(function)
    def command(**values: Any) -> Any:
        target = Target(**{option: values.pop(option) for option in takes.options})
        return function(**values, **{name: target})

    # mypy knows only a function's declared attributes; inspect reads this one first.
    command.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    # functools.wraps copied the function's own annotations (strings naming `target`, not the
    # options); Typer's get_type_hints() must see the parameters it is given, as objects.
    command.__annotations__ = {param.name: param.annotation for param in parameters}
    command.__annotations__["return"] = signature.return_annotation
    return command


def expand_targets(app: typer.Typer) -> None:
    """Every command (and callback) of `app` and of the groups under it, `expand`ed in place.

    Expanding twice changes nothing: an expanded command has no `Target` parameter left.
    """
    infos: list[Any] = [*app.registered_commands, app.registered_callback]
    for group in app.registered_groups:
        infos.append(group)
        if isinstance(group.typer_instance, typer.Typer):
            expand_targets(group.typer_instance)
    for info in infos:
        if info is not None and inspect.isfunction(info.callback):
            info.callback = expand(info.callback)


def env_flag(env: str | None) -> str:
    """` --env NAME` for a command line printed as advice (`""` for the top level): an undo
    hint without it would act on the top level's database."""
    import shlex

    return "" if env is None else f" --env {shlex.quote(env)}"


def wants_json(json: bool, format: str | None) -> bool:
    """`--json` or wrangler's `--format json|pretty`; anything else is a usage error."""
    from worktime_cli.errors import UsageError

    if format is None:
        return json
    if format not in ("json", "pretty"):
        raise UsageError(f"--format must be json or pretty, not {format!r}")
    if json and format == "pretty":
        raise UsageError("--json and --format pretty cannot be combined", hint="give one of them")
    return json or format == "json"
