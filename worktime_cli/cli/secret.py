"""`worktime secret …`: secret values in the OS keyring, for local development, and with
`--remote` (and `push`) the deployed Worker's secrets through Cloudflare's API.

Values are read from a hidden prompt on a terminal, or from standard input when piped,
never from argv: arguments are visible in `ps` and saved in shell history.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import ConfigOption, EnvOption, JsonOption, RemoteOption, YesOption
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


def _refuse_with_remote(remote: bool, **options: object) -> None:
    """Local-only options mean nothing with --remote: a usage error (exit 2), never ignored."""
    given = [name for name, value in options.items() if value not in (None, False)]
    if remote and given:
        raise typer.BadParameter(f"{', '.join(given)} cannot be combined with --remote")


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
def put(
    name: NameArg,
    remote: RemoteOption = False,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Store a secret in the OS keyring: typed at a hidden prompt, or piped on stdin.

    Trailing whitespace is trimmed, as `wrangler secret put` does. With --remote, set it
    on the deployed Worker named by `name` in wrangler.toml instead.

    Example:

        worktime secret put JWT_SECRET
        printf %s "$JWT_SECRET" | worktime secret put JWT_SECRET
        printf %s "$JWT_SECRET" | worktime secret put JWT_SECRET --remote
    """
    from worktime_cli import environment, secrets

    secrets.validate_name(name)  # before asking for a value that would then be refused
    cfg = _load(config)
    if remote:
        from worktime_cli.remote import client
        from worktime_cli.remote import secrets as remote_secrets

        script = remote_secrets.script_name(cfg)
        value = secrets.normalise_value(name, _read_value(name))
        with client.from_environment(cfg) as c:
            stored = remote_secrets.put(c, script, name, value)
        if json:
            output.print_json({"name": stored.name, "script": script, "type": stored.type})
        else:
            output.success(f"set {name} on the Worker {script}")
        return
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
def list_(
    remote: RemoteOption = False,
    config: ConfigOption = None,
    env: EnvOption = None,
    json: JsonOption = False,
) -> None:
    """List the names in the local environment and where each resolves from; never values.

    Sources, lowest to highest: vars (wrangler.toml), keyring, .dev.vars (or .env files).
    With --remote, list the secret names set on the deployed Worker.

    Example:

        worktime secret list
        worktime secret list --env staging --json
        worktime secret list --remote
    """
    from worktime_cli import environment, secrets

    _refuse_with_remote(remote, **{"--env": env})
    cfg = _load(config)
    if remote:
        from worktime_cli.remote import client
        from worktime_cli.remote import secrets as remote_secrets

        script = remote_secrets.script_name(cfg)
        with client.from_environment(cfg) as c:
            found = remote_secrets.list_secrets(c, script)
        if json:
            output.print_json({"script": script, "secrets": [x.to_json() for x in found]})
        elif found:
            output.print_table(["name", "type"], [[x.name, x.type] for x in found])
        else:
            output.info(f"the Worker {script} has no secrets")
        return
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
    name: NameArg,
    yes: YesOption = False,
    remote: RemoteOption = False,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Delete a secret from the OS keyring (asks first; --yes to skip); --remote: from the Worker.

    Example:

        worktime secret delete JWT_SECRET --yes
        worktime secret delete JWT_SECRET --remote
    """
    from worktime_cli import secrets

    cfg = _load(config)
    if remote:
        from worktime_cli.remote import client
        from worktime_cli.remote import secrets as remote_secrets

        secrets.validate_name(name)
        script = remote_secrets.script_name(cfg)
        # Confirm before any request: without a terminal and --yes, nothing is sent.
        output.confirm(
            f"Delete secret {name} from the deployed Worker {script}?",
            yes=yes,
            action=f"delete secret {name} from the Worker {script}",
        )
        with client.from_environment(cfg) as c:
            remote_secrets.delete(c, script, name)
        if json:
            output.print_json({"name": name, "script": script, "deleted": True})
        else:
            output.success(f"deleted {name} from the Worker {script}")
        return
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
    remote: RemoteOption = False,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Store (and delete) many secrets at once from a JSON or .env file; all or nothing.

    With --remote, upload them to the deployed Worker, one request each, in file order
    (deletions, `null` values, are refused there: use `secret delete NAME --remote`).

    Example:

        worktime secret bulk secrets.json
        cat .dev.vars | worktime secret bulk - --yes
        worktime secret bulk secrets.json --remote
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
    if remote:
        _bulk_remote(cfg, changes, label, json)
        return
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


def _bulk_remote(cfg: Config, changes: dict[str, str | None], label: str, json: bool) -> None:
    from worktime_cli.remote import client
    from worktime_cli.remote import secrets as remote_secrets

    deletions = [name for name, value in changes.items() if value is None]
    if deletions:
        raise WorktimeError(
            f"{label}: null (delete) entries are not supported with --remote: {', '.join(deletions)}",
            hint="remove them from the file, and use `worktime secret delete NAME --remote`",
        )
    script = remote_secrets.script_name(cfg)
    values = {name: value for name, value in changes.items() if value is not None}
    with client.from_environment(cfg) as c:
        result = remote_secrets.put_many(c, script, values)
    if json:
        output.print_json(result.to_json())
    else:
        output.success(f"uploaded {len(result.uploaded)} secret(s) to the Worker {script}")


@app.command("push")
def push(
    yes: YesOption = False,
    allow_missing: Annotated[
        bool,
        typer.Option(
            "--allow-missing", help="Upload the secrets that have a value; skip the others."
        ),
    ] = False,
    config: ConfigOption = None,
    env: EnvOption = None,
    json: JsonOption = False,
) -> None:
    """Upload every required secret that has a local value to the deployed Worker.

    Required names are `[secrets] required` in wrangler.toml, else the keys of
    .dev.vars.example; values come from the OS keyring or .dev.vars (never wrangler.toml
    vars). A required name without a value stops the push before anything is sent,
    unless --allow-missing. Asks first, listing the names (--yes to skip).

    Example:

        worktime secret push
        worktime secret push --env staging --yes
    """
    from worktime_cli import environment
    from worktime_cli.remote import client
    from worktime_cli.remote import secrets as remote_secrets

    cfg = _load(config)
    script = remote_secrets.script_name(cfg)
    resolved = environment.resolve(cfg, env=env)
    if resolved.keyring_error:
        output.warn(f"could not read the OS keyring: {resolved.keyring_error}")
    local_only = (environment.SOURCE_VARS, environment.SOURCE_CLI)
    values: dict[str, str] = {}
    skipped: list[str] = []
    for name in resolved.required:
        source = resolved.sources.get(name)
        if source is None or source in local_only:
            skipped.append(name)
        else:
            values[name] = resolved.values[name]
    if skipped and not allow_missing:
        raise WorktimeError(
            f"required secret(s) with no value in the keyring or .dev.vars: {', '.join(skipped)}",
            hint="set them with `worktime secret put NAME`, or pass --allow-missing to skip them",
        )
    if skipped:
        output.warn(f"no local value, skipped: {', '.join(skipped)}")
    if not values:
        if not resolved.required:
            output.info(
                "no required secrets: list them under [secrets] required in wrangler.toml "
                "or in .dev.vars.example"
            )
        if json:
            output.print_json({"script": script, "uploaded": [], "skipped": skipped})
        return
    output.confirm(
        f"Upload {len(values)} secret(s) to the deployed Worker {script}: {', '.join(values)}?",
        yes=yes,
        action=f"upload secrets to the Worker {script}",
    )
    with client.from_environment(cfg) as c:
        result = remote_secrets.put_many(c, script, values)
    output.result(
        {**result.to_json(), "skipped": skipped},
        f"uploaded {len(result.uploaded)} secret(s) to the Worker {script}: "
        + ", ".join(result.uploaded),
        json=json,
    )
