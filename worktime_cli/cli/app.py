"""The root command and the single error boundary.

Only typer and rich are imported at module level anywhere under `cli/`, so `worktime --help`
stays fast; each command imports the core it needs when it runs.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from worktime_cli import __version__
from worktime_cli.errors import WorktimeError

EXIT_USER_ERROR = 1
EXIT_INTERRUPTED = 130


# -q/--quiet and -v/--verbose: declared once, given to the root and to every command under
# it (`_with_verbosity`), so `worktime -q d1 list` and `worktime d1 list -q` both work and a
# new command has them without declaring anything. Neither changes stdout (output.py).
QUIET_HELP = "Print only errors and warnings on stderr."
VERBOSE_HELP = "Also print details: config, state folder, API."


def _set_verbosity(ctx: Any, param: Any, value: bool) -> None:
    if not value or ctx.resilient_parsing:  # completion parses without running anything
        return
    from worktime_cli.cli import output
    from worktime_cli.errors import UsageError

    wanted = output.QUIET if param.name == "quiet" else output.VERBOSE
    if output.verbosity() not in (output.NORMAL, wanted):
        raise UsageError("-q/--quiet and -v/--verbose cannot be combined", hint="give one of them")
    output.set_verbosity(wanted)


def verbosity_options() -> list[Any]:
    """New -q/--quiet and -v/--verbose parameters for one command (click params are not
    shared between commands). They set `output`'s level and reach no command function."""
    from typer.core import TyperOption

    return [
        TyperOption(
            param_decls=["--quiet", "-q"],
            is_flag=True,
            default=False,
            expose_value=False,
            callback=_set_verbosity,
            help=QUIET_HELP,
        ),
        TyperOption(
            param_decls=["--verbose", "-v"],
            is_flag=True,
            default=False,
            expose_value=False,
            callback=_set_verbosity,
            help=VERBOSE_HELP,
        ),
    ]


def _with_verbosity(command: Any) -> None:
    """`command` and every command under it take -q and -v (after its other options)."""
    names = {param.name for param in getattr(command, "params", ())}
    if "quiet" not in names and "verbose" not in names:
        command.params.extend(verbosity_options())
    for sub in getattr(command, "commands", {}).values():
        _with_verbosity(sub)


class Root(TyperGroup):
    """Runs the command tree and turns every failure into one readable line.

    This wraps `main()`, which both the console script and test runners call, so the
    boundary behaves the same in tests as for users.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Next to --debug in the root's help, before the completion options.
        after = next((i + 1 for i, p in enumerate(self.params) if p.name == "debug"), 0)
        self.params[after:after] = verbosity_options()

    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        _reset_verbosity()
        argv = list(sys.argv[1:] if args is None else args)
        # Options after `--` belong to a child command (`worktime run -- …`), not to us.
        ours = argv[: argv.index("--")] if "--" in argv else argv
        debug = "--debug" in ours or os.environ.get("WORKTIME_DEBUG") == "1"
        as_json = "--json" in ours
        try:
            code = super().main(
                argv, prog_name or "worktime", complete_var, standalone_mode=False, **extra
            )
        except (typer.Abort, KeyboardInterrupt):
            from worktime_cli.cli import output

            output.error("interrupted")
            code = EXIT_INTERRUPTED
        except WorktimeError as exc:
            from worktime_cli.cli import output

            if debug:
                _print_traceback()
            from worktime_cli.secrets.scrub import clean

            # Values seen this run (stored, read) are scrubbed from what we print, in every
            # form: a backend's error can quote one.
            message = clean(exc.message)
            hint: str | None = clean(exc.hint) if exc.hint else None
            code = exc.exit_code
            if as_json:
                output.error_json(message, hint, code, getattr(exc, "result", None))
            output.error(message, hint)
        except Exception as exc:
            from worktime_cli.cli import output

            if _is_usage_error(exc):
                code = exc.exit_code  # type: ignore[attr-defined]
                message, hint = _usage_error(exc)
                if as_json:
                    output.error_json(message, hint, code)
                output.error(message, hint)
            else:
                if debug:
                    _print_traceback()
                message = f"unexpected {type(exc).__name__} (a bug in worktime)"
                hint = "re-run with --debug for the traceback"
                if debug:
                    message, hint = message[:-1] + "; traceback above)", None
                code = EXIT_USER_ERROR
                if as_json:
                    output.error_json(message, hint, code)
                output.error(message, hint)
        if code is None:
            code = 0
        if standalone_mode:
            sys.exit(code)
        return code

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        return _load(cmd_name)

    def invoke(self, ctx: Any) -> Any:
        # Typer turns a KeyboardInterrupt raised by a command into a silent exit 130; as an
        # error of ours it is said on stderr (and in the --json envelope) like any other.
        from worktime_cli.errors import Interrupted

        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise Interrupted() from None

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        return _resolve_suggesting(self, super().resolve_command, ctx, args)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        # The listing uses the one-line helps above instead of loading every module.
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, short) in COMMANDS.items()])


def _resolve_suggesting(group: Any, resolve: Any, ctx: Any, args: list[str]) -> Any:
    """Click's own command lookup, with "did you mean" when a name is close to a real one."""
    name = args[0] if args else ""
    unknown = name and not name.startswith("-") and group.get_command(ctx, name) is None
    if unknown and not ctx.resilient_parsing:
        import difflib

        import click

        close = difflib.get_close_matches(name, group.list_commands(ctx), n=1, cutoff=0.5)
        if close:
            error = click.UsageError(f"No such command {name!r}.", ctx)
            error.hint = f"did you mean `{ctx.command_path} {close[0]}`?"  # type: ignore[attr-defined]
            raise error
    return resolve(ctx, args)


def _suggest_everywhere(command: Any) -> None:
    """`command`, if it is a group, and every group under it answer an unknown subcommand
    with "did you mean"."""
    import functools

    if not (hasattr(command, "commands") and hasattr(command, "resolve_command")):
        return
    # An instance attribute: the groups are built by Typer in each command's module, and
    # this keeps the one behaviour in one place instead of a class per module.
    command.resolve_command = functools.partial(
        _resolve_suggesting, command, command.resolve_command
    )
    for sub in command.commands.values():
        _suggest_everywhere(sub)


def _reset_verbosity() -> None:
    """Each run starts at the normal level (tests make many runs in one process). Only a
    loaded `output` can hold another level, and `--help` should not load it."""
    output = sys.modules.get("worktime_cli.cli.output")
    if output is not None:
        output.set_verbosity(output.NORMAL)


def _is_usage_error(exc: Exception) -> bool:
    # Click's exceptions (bad option, missing argument…) carry their own message and exit
    # code (2 for usage). Typer vendors its own copy of click, so match on the interface
    # rather than on a class that depends on which click is in use.
    return callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int)


def _usage_error(exc: Exception) -> tuple[str, str]:
    """A usage error as our one line plus a hint, never echoing a pasted secret.

    Click repeats what it could not parse ("Got unexpected extra argument (sk_live_…)"): words
    that look like secret values are masked.
    """
    from worktime_cli.secrets.scrub import usage_message

    format_message = getattr(exc, "format_message", None)
    text = str(format_message() if callable(format_message) else exc)
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None) or "worktime"
    hint = getattr(exc, "hint", None) or f"see `{path} --help`"
    return usage_message(" ".join(text.split())), hint


def _print_traceback() -> None:
    # Plain traceback, never Rich's with locals: locals can hold secret values.
    import traceback

    traceback.print_exc(file=sys.stderr)


app = typer.Typer(
    cls=Root,
    name="worktime",
    help="Set up and run the worktime Worker's backend locally: D1, KV, secrets and a dev server.\n\n"
    "Reads the same wrangler.toml and .wrangler/state files as wrangler 4.\n\n"
    "Example:\n\n    worktime init && worktime dev",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # locals in tracebacks can hold secrets
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=True,
    # Plain click formatting for the root help only: Typer's Rich help would load every
    # command module to list them (about 2.5x the start-up); subcommands keep Rich help.
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"worktime {__version__}\n")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback when something fails.")
    ] = False,
) -> None:
    # The help text comes from the Typer(...) above; the options are handled by callbacks
    # (--version) and by Root.main (--debug).
    del version, debug


# Top-level commands: name -> (module under worktime_cli.cli, one-line help for `--help`).
# Modules load only when their command runs, so `worktime --version`, `--help` and
# `worktime d1 …` do not pay for building every other command. A test keeps the
# one-line help here equal to each command's own.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("init", "Create or complete a project: wrangler.toml, migrations, local D1 and KV."),
    "d1": (
        "d1",
        "Manage D1 databases: the local SQLite files `wrangler dev` uses, or with --remote Cloudflare's.",
    ),
    "kv": ("kv", "Manage local KV namespaces and keys: the same store `wrangler dev` uses."),
    "secret": (
        "secret",
        "Keep local secret values in the OS keyring (Keychain, Credential Locker, Secret Service).",
    ),
    "dev": ("dev", "Serve the local D1, KV and environment over HTTP until Ctrl+C."),
    "run": (
        "run",
        "Run a command with the project's resolved environment (vars, keyring secrets, .dev.vars).",
    ),
    "types": (
        "types",
        "Write worker-configuration.d.ts: the Env interface and a row type per table.",
    ),
    "doctor": ("doctor", "Check the project against the setup plan; exit 1 if a check fails."),
    "stats": ("stats", "Rebuild and check daily_stats from time_sessions."),
    "sessions": ("sessions", "List time-tracking sessions and close stale ones."),
    "users": ("users", "List, show and forget the backend's users."),
    "tokens": ("tokens", "List, audit and revoke the GitHub tokens stored in KV."),
    "report": ("report", "Report tracked time by day, repo, PR or user (table, JSON, CSV, HTML)."),
    "demo": ("demo", "Seed a local database with realistic demo data."),
    "login": ("login", "Store a Cloudflare API token in the OS keyring, after verifying it."),
    "whoami": (
        "login",
        "Show which API token is in use, whether it is active, and its accounts (never the token).",
    ),
    "logout": ("login", "Remove the stored API token from the OS keyring."),
}


@functools.cache
def _load(name: str) -> Any:
    """The click command for a top-level name, built from its module's `register`.

    Built once per process: `register` adds to its module's Typer app, so a second build
    would register every subcommand again (and the tree would grow with each in-process run,
    as the tests make thousands); click commands hold no state of a run.
    """
    import importlib

    module = importlib.import_module(f"worktime_cli.cli.{COMMANDS[name][0]}")
    holder = typer.Typer()
    holder.callback()(lambda: None)  # a callback keeps get_command() a group
    module.register(holder)
    from worktime_cli.cli.options import expand_targets

    expand_targets(holder)  # a `target: Target` parameter becomes the options it stands for
    command = typer.main.get_command(holder).commands[name]  # type: ignore[attr-defined]
    _plain_help(command)
    _with_verbosity(command)
    _suggest_everywhere(command)
    from worktime_cli.cli import complete

    complete.attach(command, (name,))
    return command


def _plain_help(command: Any) -> None:
    """Help text is shown as written, reflowed to the terminal.

    `[vars]` or `[[d1_databases]]` in a docstring or an option's help is text, not Rich
    markup (which would silently drop it); prose paragraphs are joined so they wrap at the
    window's width instead of at the source's; indented blocks (examples) keep their lines.
    Arguments show as `KEY`, not `{key}`.
    """
    from rich.markup import escape

    if command.help:
        command.help = escape(_reflow(command.help))
    for param in getattr(command, "params", ()):
        if getattr(param, "help", None):
            param.help = escape(param.help)
        if getattr(param, "param_type_name", "") == "argument" and param.metavar is None:
            param.metavar = param.name.upper()
    for sub in getattr(command, "commands", {}).values():
        _plain_help(sub)


def _reflow(text: str) -> str:
    import inspect

    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(
        p
        if any(line.startswith((" ", "\t")) for line in p.splitlines())
        else " ".join(p.split("\n"))
        for p in paragraphs
    )


def main() -> None:
    """Console-script entry point."""
    typer.main.get_command(app).main(prog_name="worktime")
