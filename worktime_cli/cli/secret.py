"""`worktime secret …`: secret values in the OS keyring, for local development, and with
`--remote` (and `push`) the deployed Worker's secrets through Cloudflare's API.

Values are read from a hidden prompt on a terminal, or from standard input when piped,
never from argv: arguments are visible in `ps` and saved in shell history. The CLI context
hands each command a secret store (the keyring, or the Worker with `--remote`); the command
never asks which one it has.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import (
    ConfigOption,
    EnvOption,
    FormatOption,
    JsonOption,
    LocalOption,
    RemoteOption,
    YesOption,
    wants_json,
)
from worktime_cli.errors import LimitError, UsageError, WorktimeError

if TYPE_CHECKING:
    from worktime_cli.secrets import diff as secret_diff
    from worktime_cli.secrets import keyring_projects
    from worktime_cli.secrets.stores import SecretPush
    from worktime_cli.targets.secrets import SecretBulk, SecretDeleted, SecretList, SecretPut

app = typer.Typer(
    name="secret",
    help="Keep local secret values in the OS keyring (Keychain, Credential Locker, Secret Service).",
    no_args_is_help=True,
)

NameArg = Annotated[
    str, typer.Argument(help="The secret's name, e.g. JWT_SECRET.", show_default=False)
]
# Extra words after NAME are caught by the command itself: Click's own error quotes them,
# and the usual extra word is a pasted secret value.
CATCH_EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    root.add_typer(app)


def refuse_extra_arguments(extra: list[str], usage: str) -> None:
    """A usage error that says how many words were extra, never which: they may be a value."""
    if extra:
        raise UsageError(
            f"got {len(extra)} unexpected extra argument(s) (not shown: they may hold a secret value)",
            hint=f"usage: {usage}; a value is read from a hidden prompt or standard input, "
            "never from the command line (clear it from your shell history)",
        )


def checked_name(name: str) -> str:
    """A valid secret name, or an error that repeats it only when it cannot be a value.

    `secret put sk_live_…` is a value typed where the name goes.
    """
    from worktime_cli.secrets import scrub
    from worktime_cli.targets.secrets import validate_name

    hint = "names start with a letter or _ and contain only letters, digits and _"
    if scrub.value_as_name(name) or not name.isprintable():
        # `sk_live_…` even matches the name pattern: stored, its "name" would be printed.
        raise WorktimeError(
            "invalid secret name (not shown: it looks like a secret value)",
            hint="give the name (e.g. STRIPE_KEY) as the argument; the value is read from a "
            "hidden prompt or standard input (clear the value from your shell history)",
        )
    try:
        return validate_name(name)
    except WorktimeError as exc:
        raise WorktimeError(exc.message, exc.hint or hint) from None


def _stdin_is_terminal() -> bool:
    # Its own function so tests can take the prompt path (CliRunner's stdin is never a TTY).
    return output.is_terminal(sys.stdin)


def _read_value(name: str) -> str:
    if _stdin_is_terminal():
        value: str = typer.prompt(f"Enter a secret value for {name}", hide_input=True, err=True)
        return value
    from worktime_cli.secrets import stores as secrets

    # Bytes, bounded: a value is at most 5 KiB, so a pipe from /dev/zero is refused after
    # that much instead of filling memory; decoded strictly, never echoed.
    return secrets.decode_input(
        _read_bounded(sys.stdin.buffer, secrets.MAX_VALUE_BYTES * 4), f"the value for {name}"
    )


def _read_bounded(stream: BinaryIO, limit: int) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise LimitError(
            f"standard input is larger than {limit // 1024} KiB; nothing was stored",
            hint="pipe the value itself, not a file or device",
        )
    return bytes(data)


@app.command("put", context_settings=CATCH_EXTRA)
def put(
    click_context: typer.Context,
    name: NameArg,
    remote: RemoteOption = False,
    local: LocalOption = False,
    config: ConfigOption = None,
    env: EnvOption = None,
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
    with open_context(config=config, remote=remote, local=local, env=env) as ctx:
        store = ctx.secrets()
        _ = store.target  # a config without `name` fails here, before the value is asked for
        result = store.put(name, _read_value(name))
    output.render(result, json=json, human=_put_done)
    for warning in result.warnings:
        output.warn(warning)


def _put_done(result: SecretPut) -> None:
    verb = "stored" if result.created else "replaced"
    output.success(f"{verb} {result.name} {result.target.into}")


@app.command("list")
def list_(
    remote: RemoteOption = False,
    local: LocalOption = False,
    config: ConfigOption = None,
    env: EnvOption = None,
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
    with open_context(config=config, remote=remote, local=local, env=env) as ctx:
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


@app.command("diff")
def diff(
    remote: Annotated[
        bool,
        typer.Option(
            "--remote",
            help="Also compare the secrets set on the deployed Worker (Cloudflare's API).",
        ),
    ] = False,
    config: ConfigOption = None,
    env: EnvOption = None,
    json: JsonOption = False,
) -> None:
    """Compare secret names: required, in the keyring, in .dev.vars, on the Worker; never values.

    Required names are `[secrets] required` in the config, else the keys of
    .dev.vars.example. Locally a required name needs a value in the keyring or in .dev.vars
    (.dev.vars.<env> with --env; wrangler.toml [vars] do not count: they are committed
    plain text). With --remote it also needs to be set on the deployed Worker. A name that is
    set but not required is marked extra.

    Exits 1 when a required name is missing where it is needed (locally, or on the Worker
    with --remote), so a script or CI step can stop before a deploy; 0 otherwise.

    Example:

        worktime secret diff
        worktime secret diff --env staging --remote
        worktime secret diff --remote --json | jq .missing
    """
    from worktime_cli.cli.context import open_context
    from worktime_cli.secrets import diff as secret_diff

    with open_context(config=config, remote=remote, env=env) as ctx:
        local = secret_diff.local_places(ctx.config, env)
        worker = ctx.secrets().names().names if remote else None
        result = secret_diff.diff(local, worker)
    output.render(result, json=json, human=_diff_table)
    for warning in result.warnings:
        output.warn(warning)
    if not result.ok:
        if not json:
            for need, where, fix in (
                ("local", "locally", "`worktime secret put NAME`"),
                (
                    "worker",
                    "on the Worker",
                    "`worktime secret push`, or `worktime secret put NAME --remote`",
                ),
            ):
                names = [row.name for row in result.rows if need in row.missing]
                if names:
                    output.warn(f"required but missing {where}: {', '.join(names)} ({fix})")
        raise typer.Exit(1)


def _diff_table(result: secret_diff.SecretDiff) -> None:
    if not result.rows:
        output.info("no secret names anywhere, and none required")
        return
    output.print_table(
        ["name", "required", *result.places, "status"],
        [
            [row.name, row.required, *(place in row.present for place in result.places), row.status]
            for row in result.rows
        ],
    )


@app.command("adopt")
def adopt(
    source: Annotated[
        Path,
        typer.Option(
            "--from",
            help="Where the project was before it moved: its folder or its config file.",
            show_default=False,
        ),
    ],
    config: ConfigOption = None,
    env: EnvOption = None,
    json: JsonOption = False,
) -> None:
    """Carry this project's keyring secrets over from where it was before a move or rename.

    Keyring entries belong to one checkout (its config file's path), so two checkouts of one
    Worker never share values; a moved folder starts with none. This copies the old entries
    (names already set here keep their value) and deletes them when nothing is left at the
    old path; a copy that still exists keeps its own. Values are never shown.

    Example:

        mv ~/code/backend ~/src/backend && cd ~/src/backend
        worktime secret adopt --from ~/code/backend
        worktime secret adopt --from ~/code/backend --env staging
    """
    from worktime_cli.cli.context import open_context
    from worktime_cli.secrets import keyring_projects

    with open_context(config=config, env=env) as ctx:
        cfg = ctx.config
        old = source.expanduser().absolute()
        if old.is_dir() or old.suffix not in (".toml", ".json", ".jsonc"):
            old = old / cfg.path.name  # a folder: the config had the same file name there
        result = keyring_projects.adopt(cfg, old)
    output.render(result, json=json, human=_adopted)
    _keyring_notices()


def _adopted(result: keyring_projects.Adopted) -> None:
    output.success(
        f"copied {len(result.copied)} secret(s) from {result.source} into {result.target}"
        + (f": {', '.join(result.copied)}" if result.copied else "")
    )
    if result.kept:
        output.info(f"already set here, kept: {', '.join(result.kept)}")
    if result.removed_old:
        output.info("the old entries are deleted (nothing is left at the old path)")
    else:
        output.info("the old entries are kept: a project still exists at the old path")


@app.command("delete")
def delete(
    name: NameArg,
    yes: YesOption = False,
    remote: RemoteOption = False,
    local: LocalOption = False,
    config: ConfigOption = None,
    env: EnvOption = None,
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
    with open_context(config=config, remote=remote, local=local, env=env) as ctx:
        store = ctx.secrets()
        target = store.target
        if not store.exists(name):
            raise missing_secret(name, target)
        # Asked before the delete is sent: without a terminal and --yes, nothing changes.
        output.confirm(
            f"Delete secret {name} from {target.place}?",
            yes=yes,
            action=f"delete secret {name} from {target.place}",
        )
        result = store.delete(name)
    output.render(result, json=json, human=_deleted)
    _keyring_notices()


def _deleted(result: SecretDeleted) -> None:
    output.success(f"deleted {result.name} from {result.target.place}")


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
    local: LocalOption = False,
    config: ConfigOption = None,
    env: EnvOption = None,
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

    changes = secrets.parse_bulk(*_read_source(source))
    with open_context(config=config, remote=remote, local=local, env=env) as ctx:
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
    _keyring_notices()


def _keyring_notices() -> None:
    # An unencrypted backend named with PYTHON_KEYRING_BACKEND: said once per run.
    from worktime_cli.secrets import keyring_store

    for notice in keyring_store.take_notices():
        output.warn(notice)


def _read_source(source: str) -> tuple[str, str]:
    from worktime_cli.secrets import stores as secrets

    limit = secrets.MAX_BULK_BYTES
    if source == "-":
        return secrets.decode_input(_read_bounded(sys.stdin.buffer, limit), "<stdin>"), "<stdin>"
    path = Path(source)
    try:
        # O_NONBLOCK: a FIFO with no writer must not hang the command at open().
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise WorktimeError(f"cannot read {source}: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise WorktimeError(
            f"{source} is not a regular file",
            hint="give a JSON or .env file, or - to read standard input",
        )
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise LimitError(f"{source} is larger than {limit // 1024} KiB; nothing was stored")
    return secrets.decode_input(data, source), source


def _bulk_done(result: SecretBulk) -> None:
    output.success(
        f"stored {len(result.stored)} and deleted {len(result.deleted)} secret(s) {result.target.into}"
    )


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
    from worktime_cli.cli.context import open_context
    from worktime_cli.secrets import environment
    from worktime_cli.secrets import stores as secrets

    with open_context(config=config, remote=True, env=env) as ctx:
        resolved = environment.resolve(ctx.config, env=env)
        for warning in resolved.warnings:
            output.warn(warning)
        if resolved.keyring_error:
            output.warn(f"could not read the OS keyring: {resolved.keyring_error}")
        plan = secrets.plan_push(resolved)
        if plan.skipped and not allow_missing:
            raise WorktimeError(
                f"required secret(s) with no value in the keyring or .dev.vars: {', '.join(plan.skipped)}",
                hint="set them with `worktime secret put NAME`, or pass --allow-missing to skip them",
            )
        if plan.skipped:
            output.warn(f"no local value, skipped: {', '.join(plan.skipped)}")
        if not plan.values:
            from worktime_cli.remote.secrets import script_name
            from worktime_cli.targets.secrets import SecretTarget

            if not plan.required:
                output.info(
                    "no required secrets: list them under [secrets] required in wrangler.toml "
                    "or in .dev.vars.example"
                )
            # Nothing to send: no API client (and no token) needed to say so.
            target = SecretTarget("worker", script_name(ctx.config))
            result = secrets.SecretPush(target, (), plan.skipped)
        else:
            store = ctx.secrets()  # not logged in: said before the question, not after
            output.confirm(
                f"Upload {len(plan.values)} secret(s) to {store.target.place}: {', '.join(plan.values)}?",
                yes=yes,
                action=f"upload secrets to {store.target.place}",
            )
            uploaded = store.bulk(plan.values)
            result = secrets.SecretPush(uploaded.target, uploaded.stored, plan.skipped)
    output.render(result, json=json, human=_pushed)


def _pushed(result: SecretPush) -> None:
    if result.uploaded:
        output.success(
            f"uploaded {len(result.uploaded)} secret(s) to {result.target.place}: "
            + ", ".join(result.uploaded)
        )
