"""`worktime secret put`, `list`, `delete` and `bulk`: the secrets of one store, the OS keyring
or with --remote the deployed Worker (the context hands the command the store; it never asks
which one it has)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import (
    FormatOption,
    JsonOption,
    StatelessTarget,
    Target,
    YesOption,
    wants_json,
)
from worktime_cli.cli.secret_input import (
    checked_name,
    read_source,
    read_value,
    refuse_extra_arguments,
)

if TYPE_CHECKING:
    from worktime_cli.targets.secrets import SecretBulk, SecretDeleted, SecretList, SecretPut

NameArg = Annotated[
    str, typer.Argument(help="The secret's name, e.g. JWT_SECRET.", show_default=False)
]


def put(
    click_context: typer.Context,
    name: NameArg,
    target: StatelessTarget = Target(),
    json: JsonOption = False,
) -> None:
    """Store a secret in the OS keyring: typed at a hidden prompt, or piped on stdin.

    Trailing whitespace is trimmed, as `wrangler secret put` does. With --remote, set it
    on the deployed Worker named by `name` in wrangler.toml instead. With --env, the
    environment's own secrets (as wrangler's `<name>-<env>` Worker).

    Example:

        worktime secret put JWT_SECRET
        printf %s "$JWT_SECRET" | worktime secret put JWT_SECRET
        printf %s "$JWT_SECRET" | worktime secret put JWT_SECRET --remote
    """
    from worktime_cli.cli.context import open_context

    refuse_extra_arguments(click_context.args, "worktime secret put NAME")
    checked_name(name)  # before asking for a value that would then be refused
    with open_context(target) as ctx:
        store = ctx.secrets()
        _ = store.target  # a config without `name` fails here, before the value is asked for
        result = store.put(name, read_value(name))
    output.render(result, json=json, human=_put_done)
    for warning in result.warnings:
        output.warn(warning)


def _put_done(result: SecretPut) -> None:
    verb = "stored" if result.created else "replaced"
    output.success(f"{verb} {result.name} {result.target.into}")


def list_(
    target: StatelessTarget = Target(),
    json: JsonOption = False,
    format: FormatOption = None,
) -> None:
    """List the names in the local environment and where each resolves from; never values.

    Sources, lowest to highest: vars (wrangler.toml), keyring, .dev.vars (or .env files).
    With --remote, list the secret names set on the deployed Worker (and the required names
    it lacks).

    Example:

        worktime secret list
        worktime secret list --env staging --json
        worktime secret list --remote
    """
    from worktime_cli.cli.context import open_context

    json = wants_json(json, format)
    with open_context(target) as ctx:
        listing = ctx.secrets().names()
    output.render(listing, json=json, human=_list_table)
    for warning in listing.warnings:
        output.warn(warning)
    if listing.keyring_error:
        output.warn(f"could not read the OS keyring: {listing.keyring_error}")
    if listing.missing:
        output.warn(
            "required but not set: "
            + ", ".join(listing.missing)
            + f" (`worktime secret put NAME{_flag(listing)}`)"
        )


def _flag(listing: SecretList | SecretPut | SecretBulk | SecretDeleted) -> str:
    return " --remote" if listing.target.store == "worker" else ""


def _list_table(listing: SecretList) -> None:
    if listing.project:
        # Which checkout these values belong to: two checkouts of one Worker keep their own.
        output.info(f"project: {listing.project}")
    if not listing.secrets:
        output.info(
            f"no secrets {listing.target.into} yet; add one with `worktime secret put NAME{_flag(listing)}`"
        )
        return
    output.print_table(
        ["name", "source", "required", "overrides"],
        [
            [
                entry.name,
                entry.source or "missing",
                entry.required,
                ", ".join(entry.defined_in[:-1]),
            ]
            for entry in listing.secrets
        ],
    )


def delete(
    name: NameArg,
    yes: YesOption = False,
    target: StatelessTarget = Target(),
    json: JsonOption = False,
) -> None:
    """Delete a secret from the OS keyring (asks first; --yes to skip); --remote: from the Worker.

    Example:

        worktime secret delete JWT_SECRET --yes
        worktime secret delete JWT_SECRET --remote
    """
    from worktime_cli.cli.context import open_context
    from worktime_cli.targets.secrets import missing_secret

    checked_name(name)
    with open_context(target) as ctx:
        store = ctx.secrets()
        where = store.target
        if not store.exists(name):
            raise missing_secret(name, where)
        # Asked before the delete is sent: without a terminal and --yes, nothing changes.
        output.confirm(
            f"Delete secret {name} from {where.place}?",
            yes=yes,
            action=f"delete secret {name} from {where.place}",
        )
        result = store.delete(name)
    output.render(result, json=json, human=_deleted)
    keyring_notices()


def _deleted(result: SecretDeleted) -> None:
    output.success(f"deleted {result.name} from {result.target.place}")


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
    target: StatelessTarget = Target(),
    json: JsonOption = False,
) -> None:
    """Store (and delete) many secrets at once from a JSON or .env file.

    Every entry is checked before anything is written, and it is all or nothing: locally in
    the keyring; with --remote, one change to the Worker's settings for every entry, as
    `wrangler secret bulk` does.
    Deleting (`null`) asks first (--yes to skip).

    Example:

        worktime secret bulk secrets.json
        cat .dev.vars | worktime secret bulk - --yes
        worktime secret bulk secrets.json --remote
    """
    from worktime_cli.cli.context import open_context
    from worktime_cli.secrets import stores as secrets

    changes = secrets.parse_bulk(*read_source(source))
    with open_context(target) as ctx:
        store = ctx.secrets()
        doomed = [name for name, value in changes.items() if value is None and store.exists(name)]
        if doomed:
            output.confirm(
                f"Delete {len(doomed)} secret(s) ({', '.join(doomed)}) from {store.target.place}?",
                yes=yes,
                action=f"delete {len(doomed)} secret(s)",
            )
        result = store.bulk(changes)
    output.render(result, json=json, human=_bulk_done)
    keyring_notices()


def keyring_notices() -> None:
    # An unencrypted backend named with PYTHON_KEYRING_BACKEND: said once per run.
    from worktime_cli.secrets import keyring_store

    for notice in keyring_store.take_notices():
        output.warn(notice)


def _bulk_done(result: SecretBulk) -> None:
    output.success(
        f"stored {len(result.stored)} and deleted {len(result.deleted)} secret(s) {result.target.into}"
    )
