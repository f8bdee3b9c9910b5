"""`worktime secret …`: secret values in the OS keyring, for local development.

Values are read from a hidden prompt on a terminal, or from standard input when piped,
never from argv: arguments are visible in `ps` and saved in shell history.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import ConfigOption, EnvOption, JsonOption, YesOption
from worktime_cli.errors import NotFoundError, WorktimeError

if TYPE_CHECKING:
    from worktime_cli.config import Config

app = typer.Typer(
    name="secret",
    help="Keep local secret values in the OS keyring (Keychain, Credential Locker, Secret Service).",
    no_args_is_help=True,
)

NameArg = Annotated[
    str, typer.Argument(help="The secret's name, e.g. JWT_SECRET.", show_default=False)
]


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    root.add_typer(app)


def _load(path: Path | None) -> Config:
    from worktime_cli import config

    return config.load(path)


def _stdin_is_terminal() -> bool:
    # Its own function so tests can take the prompt path (CliRunner's stdin is never a TTY).
    return output.is_terminal(sys.stdin)


def _read_value(name: str) -> str:
    if _stdin_is_terminal():
        value: str = typer.prompt(f"Enter a secret value for {name}", hide_input=True, err=True)
        return value
    return sys.stdin.read()


@app.command("put")
def put(name: NameArg, config: ConfigOption = None, json: JsonOption = False) -> None:
    """Store a secret in the OS keyring: typed at a hidden prompt, or piped on stdin.

    Trailing whitespace is trimmed, as `wrangler secret put` does.

    Example:

        worktime secret put JWT_SECRET
        printf %s "$JWT_SECRET" | worktime secret put JWT_SECRET
    """
    from worktime_cli import environment, secrets

    secrets.validate_name(name)  # before asking for a value that would then be refused
    cfg = _load(config)
    result = secrets.put(cfg, name, _read_value(name))
    if json:
        output.print_json(
            {"name": result.name, "service": result.service, "created": result.created}
        )
    else:
        verb = "stored" if result.created else "replaced"
        output.success(f"{verb} {name} in the OS keyring ({result.service})")
    try:
        source = environment.resolve(cfg, keyring=False).sources.get(name)
    except WorktimeError:
        source = None  # a broken .dev.vars is reported by the commands that read it
    if source is not None and source != environment.SOURCE_VARS:
        output.warn(f"{name} is also set in {source}, which takes precedence locally")


@app.command("list")
def list_(config: ConfigOption = None, env: EnvOption = None, json: JsonOption = False) -> None:
    """List the names in the local environment and where each resolves from; never values.

    Sources, lowest to highest: vars (wrangler.toml), keyring, .dev.vars (or .env files).

    Example:

        worktime secret list
        worktime secret list --env staging --json
    """
    from worktime_cli import environment, secrets

    cfg = _load(config)
    resolved = environment.resolve(cfg, env=env)
    names = sorted(set(resolved.sources) | set(resolved.missing))
    required = set(resolved.required)
    try:
        service: str | None = secrets.service_name(cfg)
    except WorktimeError:
        service = None  # no `name` in wrangler.toml: already reported as keyring_error
    if json:
        output.print_json(
            {
                "service": service,
                "keyring_error": resolved.keyring_error,
                "secrets": [
                    {
                        "name": name,
                        "source": resolved.sources.get(name),
                        "required": name in required,
                        "defined_in": list(resolved.layers.get(name, ())),
                    }
                    for name in names
                ],
                "missing": list(resolved.missing),
            }
        )
    elif names:
        output.print_table(
            ["name", "source", "required", "overrides"],
            [
                [
                    name,
                    resolved.sources.get(name, "missing"),
                    name in required,
                    ", ".join(resolved.layers.get(name, ())[:-1]),
                ]
                for name in names
            ],
        )
    else:
        output.info("no secrets or vars yet; add one with `worktime secret put NAME`")
    if resolved.keyring_error:
        output.warn(f"could not read the OS keyring: {resolved.keyring_error}")
    if resolved.missing:
        output.warn(
            "required but not set: " + ", ".join(resolved.missing) + " (`worktime secret put NAME`)"
        )


@app.command("delete")
def delete(
    name: NameArg, yes: YesOption = False, config: ConfigOption = None, json: JsonOption = False
) -> None:
    """Delete a secret from the OS keyring (asks first; --yes to skip).

    Example:

        worktime secret delete JWT_SECRET --yes
    """
    from worktime_cli import secrets

    cfg = _load(config)
    service = secrets.service_name(cfg)
    if not secrets.exists(cfg, name):
        raise NotFoundError(
            f"no secret {name} in the keyring ({service})",
            hint="see the names with `worktime secret list`",
        )
    output.confirm(f"Delete secret {name} from {service}?", yes=yes, action=f"delete secret {name}")
    secrets.delete(cfg, name)
    if json:
        output.print_json({"name": name, "service": service, "deleted": True})
    else:
        output.success(f"deleted {name} from the OS keyring ({service})")


@app.command("bulk")
def bulk(
    source: Annotated[
        str,
        typer.Argument(
            help='A JSON object {"NAME": "value" | null} (null deletes) or a .env file; - for stdin.',
            show_default=False,
            metavar="FILE|-",
        ),
    ],
    yes: YesOption = False,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Store (and delete) many secrets at once from a JSON or .env file; all or nothing.

    Example:

        worktime secret bulk secrets.json
        cat .dev.vars | worktime secret bulk - --yes
    """
    from worktime_cli import secrets

    cfg = _load(config)
    if source == "-":
        text, label = sys.stdin.read(), "<stdin>"
    else:
        try:
            text, label = Path(source).read_text(encoding="utf-8"), source
        except OSError as exc:
            raise WorktimeError(f"cannot read {source}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise WorktimeError(f"{source} is not UTF-8 text") from None
    changes = secrets.parse_bulk(text, label)
    doomed = [
        name for name, value in changes.items() if value is None and secrets.exists(cfg, name)
    ]
    if doomed:
        output.confirm(
            f"Delete {len(doomed)} secret(s) ({', '.join(doomed)})?",
            yes=yes,
            action=f"delete {len(doomed)} secret(s)",
        )
    result = secrets.bulk(cfg, changes)
    if json:
        output.print_json(
            {
                "service": result.service,
                "stored": list(result.stored),
                "deleted": list(result.deleted),
            }
        )
    else:
        output.success(
            f"stored {len(result.stored)} and deleted {len(result.deleted)} secret(s) in {result.service}"
        )
