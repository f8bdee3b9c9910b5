"""`worktime kv …`: local Workers KV, in the same files `wrangler dev` reads, or with
`--remote` the account's namespaces through Cloudflare's API."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from worktime_cli.cli import output
from worktime_cli.cli.context import render
from worktime_cli.cli.options import (
    ConfigOption,
    EnvOption,
    JsonOption,
    LocalOption,
    PersistOption,
    PreviewOption,
    RemoteOption,
    YesOption,
)

if TYPE_CHECKING:
    from worktime_cli.cli.context import Context
    from worktime_cli.kv import (
        BulkResult,
        CreatedNamespace,
        DeletedNamespace,
        NamespaceList,
        Page,
    )
    from worktime_cli.targets.kv import KVNamespace
    from worktime_cli.targets.remote_write import RemoteWrite

app = typer.Typer(
    name="kv",
    help="Manage local KV namespaces and keys: the same store `wrangler dev` uses.",
    no_args_is_help=True,
)
namespace_app = typer.Typer(
    name="namespace", help="Create, list and delete KV namespaces.", no_args_is_help=True
)
key_app = typer.Typer(
    name="key", help="Put, get, list and delete single keys.", no_args_is_help=True
)
bulk_app = typer.Typer(
    name="bulk",
    help="Put, get or delete many keys from a JSON file (wrangler's format).",
    no_args_is_help=True,
)
app.add_typer(namespace_app)
app.add_typer(key_app)
app.add_typer(bulk_app)

BindingOption = Annotated[
    str | None,
    typer.Option(
        "--binding", help="The namespace's binding name in wrangler.toml.", show_default=False
    ),
]
NamespaceIdOption = Annotated[
    str | None,
    typer.Option(
        "--namespace-id",
        help="The namespace id (need not be in wrangler.toml).",
        show_default=False,
    ),
]
KeyArg = Annotated[
    str, typer.Argument(help="The key name (1–512 UTF-8 bytes).", show_default=False)
]


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    root.add_typer(app)


def _named(binding: str | None, namespace_id: str | None) -> tuple[str, bool]:
    """The namespace named by exactly one of --binding / --namespace-id, and whether by id."""
    from worktime_cli.errors import UsageError

    if (binding is None) == (namespace_id is None):
        raise UsageError("give exactly one of --binding or --namespace-id")
    if namespace_id is not None:
        return namespace_id, True
    assert binding is not None
    return binding, False


@contextmanager
def _context(
    *, config: Path | None, env: str | None, persist_to: Path | None, remote: bool, local: bool
) -> Iterator[Context]:
    """The command's context: --persist-to is local state, so it means nothing with --remote."""
    from worktime_cli.cli.context import open_context

    with open_context(
        config=config,
        persist_to=persist_to,
        remote=remote,
        local=local,
        env=env,
        local_only={"--persist-to": persist_to},
    ) as ctx:
        yield ctx


@contextmanager
def _namespace(
    binding: str | None,
    namespace_id: str | None,
    *,
    config: Path | None,
    env: str | None,
    persist_to: Path | None,
    remote: bool,
    local: bool,
    preview: bool | None = None,
) -> Iterator[tuple[KVNamespace, Callable[[], RemoteWrite | None]]]:
    """The one namespace a key or bulk command acts on, closed when the command ends, and
    `aim()`: a write calls it once its input is checked, just before writing (or asking)."""
    with _context(config=config, env=env, persist_to=persist_to, remote=remote, local=local) as ctx:
        name, by_id = _named(binding, namespace_id)
        namespace = ctx.kv().namespace(name, by_id=by_id, preview=preview)
        try:
            yield namespace, lambda: ctx.aim("kv_namespace", name, lambda: namespace.id)
        finally:
            namespace.close()


# --- namespace -------------------------------------------------------------------------------


@namespace_app.command("create")
def namespace_create(
    binding: Annotated[
        str, typer.Argument(help="Binding name for the new namespace, e.g. KV.", show_default=False)
    ],
    as_binding: Annotated[
        str | None,
        typer.Option(
            "--binding",
            help="wrangler's binding name: accepted when it is the positional BINDING (worktime "
            "names a namespace by its binding; the remote title is derived from it).",
            show_default=False,
        ),
    ] = None,
    update_config: Annotated[
        bool,
        typer.Option(
            "--update-config",
            help="Accepted as wrangler spells it: worktime always records the namespace in "
            "wrangler.toml.",
        ),
    ] = False,
    remote: RemoteOption = False,
    local: LocalOption = False,
    config: ConfigOption = None,
    env: EnvOption = None,
    json: JsonOption = False,
) -> None:
    """Create a namespace: a new 32-hex id, appended to wrangler.toml as [[kv_namespaces]].

    With --remote, create `<worker name>-<BINDING>` on Cloudflare (wrangler's title) and
    record its id; an existing local id is kept as preview_id so local data stays found.

    Example:

        worktime kv namespace create KV
        worktime kv namespace create KV --remote
    """
    from worktime_cli.errors import UsageError

    del update_config  # wrangler's opt-in is what worktime always does
    if as_binding is not None and as_binding != binding:
        # wrangler's positional is the new namespace's title and --binding its binding; here
        # the positional is the binding, so two different names cannot both be honoured.
        raise UsageError(
            f"--binding {as_binding} differs from BINDING {binding}: worktime's positional is "
            "the binding (the remote title is derived from it)",
            hint=f"run `worktime kv namespace create {as_binding}`",
        )
    with _context(config=config, env=env, persist_to=None, remote=remote, local=local) as ctx:
        target = ctx.aim("kv_namespace", binding, lambda: None)
        created = ctx.kv().create(binding)
    render(created, target, json=json, human=_created)


def _created(created: CreatedNamespace) -> None:
    output.success(created.summary())
    if created.preview_id is not None:
        output.info(f"local data stays under preview_id {created.preview_id}")


@namespace_app.command("rename")
def namespace_rename(
    old_name: Annotated[
        str | None, typer.Argument(help="The namespace's current title.", show_default=False)
    ] = None,
    namespace_id: NamespaceIdOption = None,
    new_name: Annotated[
        str | None, typer.Option("--new-name", help="The new title.", show_default=False)
    ] = None,
    remote: RemoteOption = False,
    config: ConfigOption = None,
    env: EnvOption = None,
) -> None:
    """Refuse, naming what to use: worktime does not rename namespaces (wrangler's rename).

    Locally a namespace has no title (its binding in wrangler.toml is its name); a remote
    title is changed with `npx wrangler kv namespace rename OLD --new-name NEW`.

    Example:

        npx wrangler kv namespace rename worktime-backend-KV --new-name worktime-KV
    """
    from worktime_cli.errors import UsageError

    del old_name, namespace_id, new_name, remote, config, env
    raise UsageError(
        "worktime does not rename KV namespaces: locally a namespace has no title (its "
        "binding in wrangler.toml is its name), and the remote title is wrangler's to change",
        hint="run `npx wrangler kv namespace rename OLD --new-name NEW` (or rename the binding "
        "in wrangler.toml)",
    )


@namespace_app.command("list")
def namespace_list(
    remote: RemoteOption = False,
    local: LocalOption = False,
    config: ConfigOption = None,
    env: EnvOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """List the namespaces in wrangler.toml with their local key counts (--remote: the account's).

    Example:

        worktime kv namespace list --json
        worktime kv namespace list --remote
    """
    with _context(config=config, env=env, persist_to=persist_to, remote=remote, local=local) as ctx:
        found = ctx.kv().list()
    output.render(found, json=json, human=_namespace_table)


def _namespace_table(found: NamespaceList) -> None:
    if not found.namespaces:
        output.info(found.empty_note)
        return
    columns, rows = found.table()
    output.print_table(columns, rows, justify={"local keys": "right"})


@namespace_app.command("delete")
def namespace_delete(
    binding: BindingOption = None,
    namespace_id: NamespaceIdOption = None,
    yes: YesOption = False,
    remote: RemoteOption = False,
    local: LocalOption = False,
    config: ConfigOption = None,
    env: EnvOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Delete a namespace's local data and remove it from wrangler.toml.

    With --remote, delete the namespace and all its keys on Cloudflare instead;
    wrangler.toml and local data are left as they are.

    Example:

        worktime kv namespace delete --binding KV --yes
        worktime kv namespace delete --binding KV --remote
    """
    with _context(config=config, env=env, persist_to=persist_to, remote=remote, local=local) as ctx:
        name, by_id = _named(binding, namespace_id)
        namespaces = ctx.kv()
        # Resolve before asking: an unknown name fails without a prompt (and sends nothing).
        found = namespaces.namespace(name, by_id=by_id)
        found.close()
        target = ctx.aim("kv_namespace", name, lambda: found.id)
        label = namespaces.describe(name)
        output.confirm(
            f"Delete {label} and every key in it? This cannot be undone.",
            yes=yes,
            action=f"delete {label}",
        )
        deleted = namespaces.delete(name, by_id=by_id)
    render(deleted, target, json=json, human=_deleted)


def _deleted(deleted: DeletedNamespace) -> None:
    output.success(deleted.summary())


@namespace_app.command("gc")
def namespace_gc(
    binding: BindingOption = None,
    namespace_id: NamespaceIdOption = None,
    config: ConfigOption = None,
    env: EnvOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Remove value files no key refers to (left behind by a crash or a kill).

    Every write already removes such files once they are a minute old; this removes them
    all now, so run it when nothing else (e.g. wrangler dev) is writing to the namespace.

    Example:

        worktime kv namespace gc --binding KV
    """
    from worktime_cli.kv import LocalKV

    with _context(config=config, env=env, persist_to=persist_to, remote=False, local=False) as ctx:
        name, by_id = _named(binding, namespace_id)
        # Local files only: there is nothing to collect on Cloudflare.
        result = LocalKV(ctx.config, persist_to).gc(name, by_id=by_id)
    output.render(
        result,
        json=json,
        human=lambda r: output.success(f"removed {r.removed} orphaned value file(s)"),
    )


# --- key -------------------------------------------------------------------------------------


@key_app.command("put")
def key_put(
    key: KeyArg,
    value: Annotated[
        str | None,
        typer.Argument(
            help="The value; `-` reads it from stdin (binary-safe).", show_default=False
        ),
    ] = None,
    path: Annotated[
        Path | None,
        typer.Option("--path", help="Read the value from this file (binary-safe).", dir_okay=False),
    ] = None,
    binding: BindingOption = None,
    namespace_id: NamespaceIdOption = None,
    preview: PreviewOption = None,
    ttl: Annotated[
        int | None,
        typer.Option(
            "--ttl", help="Expire after this many seconds (at least 60).", show_default=False
        ),
    ] = None,
    expiration: Annotated[
        int | None,
        typer.Option(
            "--expiration",
            help="Expire at this time, in seconds since the epoch.",
            show_default=False,
        ),
    ] = None,
    metadata: Annotated[
        str | None,
        typer.Option(
            "--metadata", help="A JSON object of at most 1,024 bytes.", show_default=False
        ),
    ] = None,
    remote: RemoteOption = False,
    local: LocalOption = False,
    config: ConfigOption = None,
    env: EnvOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Write a value to a key, with an optional expiry and metadata (--remote: on Cloudflare).

    VALUE `-` reads the value from stdin; to store a literal "-", pipe it in the same way
    (`printf - | worktime kv key put K - …`). --ttl wins over --expiration when both are given.

    Example:

        worktime kv key put token:alice s3cret --binding KV --ttl 604800 --metadata '{"user": 1}'
        worktime kv key put logo --path logo.png --binding KV
        worktime kv key put token:alice s3cret --binding KV --remote
    """
    import json as jsonlib

    from worktime_cli.errors import UsageError, WorktimeError
    from worktime_cli.kv import MAX_VALUE_BYTES, PutItem, validate_item
    from worktime_cli.kv.bulk import read_value_file

    if (value is None) == (path is None):
        raise UsageError("give exactly one of VALUE or --path")
    with _namespace(
        binding,
        namespace_id,
        config=config,
        env=env,
        persist_to=persist_to,
        remote=remote,
        local=local,
        preview=preview,
    ) as (namespace, aim):
        meta: Any = None
        if metadata is not None:
            try:
                meta = jsonlib.loads(metadata)
            except RecursionError:
                raise WorktimeError("--metadata is nested too deeply") from None
            except ValueError as exc:
                raise WorktimeError(f"--metadata is not valid JSON: {exc}") from None
        # Check what we can before reading a possibly huge file or stdin.
        validate_item(
            PutItem(key, b"", expiration_ttl=ttl, expiration=expiration, metadata=meta), _now()
        )
        data: bytes
        if path is not None:
            # Bounded while reading: /dev/zero or a FIFO cannot make us read without end.
            data = read_value_file(path)
        elif value == "-":
            data = sys.stdin.buffer.read(MAX_VALUE_BYTES + 1)
        else:
            assert value is not None
            data = value.encode("utf-8", "surrogateescape")
        target = aim()
        written = namespace.put(key, data, expiration=expiration, expiration_ttl=ttl, metadata=meta)
        where = namespace.where
    render(
        written,
        target,
        json=json,
        human=lambda r: output.success(f"wrote {output.human_size(r.size)} to {r.key!r}{where}"),
    )


def _now() -> float:
    from worktime_cli import clock

    return clock.timestamp()


@key_app.command("get")
def key_get(
    key: KeyArg,
    binding: BindingOption = None,
    namespace_id: NamespaceIdOption = None,
    preview: PreviewOption = None,
    text: Annotated[
        bool, typer.Option("--text", help="Decode the value as UTF-8 and end it with a newline.")
    ] = False,
    metadata: Annotated[
        bool, typer.Option("--metadata", help="Print the key's metadata JSON instead of its value.")
    ] = False,
    remote: RemoteOption = False,
    local: LocalOption = False,
    config: ConfigOption = None,
    env: EnvOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Print a key's value: the raw bytes, exactly as stored (no newline added).

    --json prints the entry instead: {"key", "value", "base64", "expiration", "metadata"}
    (binary values as base64, as `bulk put` files carry them).

    Example:

        worktime kv key get token:alice --binding KV --text
        worktime kv key get logo --binding KV > logo.png
        worktime kv key get token:alice --binding KV --remote
    """
    from worktime_cli.errors import NotFoundError

    with _namespace(
        binding,
        namespace_id,
        config=config,
        env=env,
        persist_to=persist_to,
        remote=remote,
        local=local,
        preview=preview,
    ) as (namespace, _aim):
        entry = namespace.get(key)
    if entry is None:
        raise NotFoundError(f"key not found: {key!r}")
    if json:
        output.print_json(entry.to_json())
    elif metadata:
        output.print_json(entry.metadata)
    else:
        _write_value(entry.value, text)


def _write_value(value: bytes, text: bool) -> None:
    if text:
        output.print_value(value.decode("utf-8", "replace"))
        return
    out = sys.stdout.buffer
    out.write(value)
    out.flush()


@key_app.command("list")
def key_list(
    binding: BindingOption = None,
    namespace_id: NamespaceIdOption = None,
    preview: PreviewOption = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Only keys starting with this.")
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            help="At most this many keys (1–1000; 10–1000 with --remote), with a cursor for the rest.",
            show_default=False,
        ),
    ] = None,
    cursor: Annotated[
        str | None, typer.Option("--cursor", help="Continue after a previous page.")
    ] = None,
    remote: RemoteOption = False,
    local: LocalOption = False,
    config: ConfigOption = None,
    env: EnvOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """List keys in order with their expiration (seconds) and metadata; every key unless --limit.

    JSON (--json, or when piped) is the API's list: [{"name", "expiration"?, "metadata"?}].
    With --limit it is an object: {"keys": [...], "list_complete": bool, "cursor": str|null}.

    Example:

        worktime kv key list --binding KV --prefix token:
        worktime kv key list --binding KV --limit 1000 --cursor "$CURSOR" --json
        worktime kv key list --binding KV --remote --prefix token:
    """
    from worktime_cli.targets.kv import all_keys

    page: Page
    with _namespace(
        binding,
        namespace_id,
        config=config,
        env=env,
        persist_to=persist_to,
        remote=remote,
        local=local,
        preview=preview,
    ) as (namespace, _aim):
        if limit is None:
            page = all_keys(namespace, prefix, cursor=cursor)
        else:
            page = namespace.page(prefix=prefix, cursor=cursor, limit=limit)
    if json or not output.is_terminal():
        if limit is None:
            output.print_json([k.to_json() for k in page.keys])
        else:
            output.print_json(page.to_json())
        return
    import time

    output.print_table(
        ["name", "expiration", "metadata"],
        [
            [
                k.name,
                ""
                if k.expiration is None
                else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(k.expiration)),
                "" if k.metadata is None else _compact(k.metadata),
            ]
            for k in page.keys
        ],
    )
    if page.cursor is not None:
        output.info(f"more keys follow: pass --cursor {page.cursor}")


def _compact(data: Any) -> str:
    import json as jsonlib

    return jsonlib.dumps(data, separators=(",", ":"), ensure_ascii=False)


@key_app.command("delete")
def key_delete(
    key: KeyArg,
    binding: BindingOption = None,
    namespace_id: NamespaceIdOption = None,
    preview: PreviewOption = None,
    remote: RemoteOption = False,
    local: LocalOption = False,
    config: ConfigOption = None,
    env: EnvOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Delete a key (deleting a missing key is not an error, as on Cloudflare).

    Example:

        worktime kv key delete token:alice --binding KV
        worktime kv key delete token:alice --binding KV --remote
    """
    with _namespace(
        binding,
        namespace_id,
        config=config,
        env=env,
        persist_to=persist_to,
        remote=remote,
        local=local,
        preview=preview,
    ) as (namespace, aim):
        target = aim()
        deleted = namespace.delete(key)
        where = namespace.where
    render(
        deleted,
        target,
        json=json,
        human=lambda r: (
            output.success(f"deleted {r.key!r}{where}")
            if r.existed
            else output.info(f"{r.key!r} was not there{where}; nothing deleted")
        ),
    )


# --- bulk ------------------------------------------------------------------------------------

FileArg = Annotated[Path, typer.Argument(help="The JSON file.", dir_okay=False, show_default=False)]


_IGNORED_BY_WRANGLER = (
    "wrangler 4.164 declares it on `kv bulk put` but writes no item with it; refused rather "
    "than ignored: set it per item in the file"
)
BulkTtlOption = Annotated[
    str | None,
    typer.Option(
        "--ttl", metavar="S", help=f"Refused: {_IGNORED_BY_WRANGLER}.", show_default=False
    ),
]
BulkExpirationOption = Annotated[
    str | None,
    typer.Option("--expiration", metavar="EPOCH", help="Refused, as --ttl.", show_default=False),
]
BulkMetadataOption = Annotated[
    str | None,
    typer.Option("--metadata", metavar="JSON", help="Refused, as --ttl.", show_default=False),
]


def _refuse_bulk_defaults(ttl: str | None, expiration: str | None, metadata: str | None) -> None:
    """wrangler's `kv bulk put` accepts --ttl/--expiration/--metadata (putCommonArgs) and its
    handler never reads them: a script's `--ttl 3600` writes keys that never expire. Applying
    them here would expire keys that wrangler keeps, so refuse and name the per-item fields."""
    from worktime_cli.errors import UsageError

    given = {"--ttl": ttl, "--expiration": expiration, "--metadata": metadata}
    named = [name for name, value in given.items() if value is not None]
    if named:
        fields = {"--ttl": "expiration_ttl", "--expiration": "expiration", "--metadata": "metadata"}
        raise UsageError(
            f"`kv bulk put` refuses {' and '.join(named)}: wrangler 4.164 accepts "
            f"{'it' if len(named) == 1 else 'them'} there but applies "
            f"{'it' if len(named) == 1 else 'them'} to no item",
            hint="set "
            + ", ".join(f'"{fields[n]}"' for n in named)
            + " in each item of the JSON file (items may differ)",
        )


@bulk_app.command("put")
def bulk_put(
    file: FileArg,
    binding: BindingOption = None,
    namespace_id: NamespaceIdOption = None,
    preview: PreviewOption = None,
    ttl: BulkTtlOption = None,
    expiration: BulkExpirationOption = None,
    metadata: BulkMetadataOption = None,
    remote: RemoteOption = False,
    local: LocalOption = False,
    config: ConfigOption = None,
    env: EnvOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Write many keys from a JSON array; locally all or nothing.

    Each item: {"key", "value", "expiration"?, "expiration_ttl"?, "metadata"?, "base64"?}.
    Every item is checked first; if any is invalid, they are all reported and nothing is written.
    With --remote: requests of up to 10,000 keys (under 100 MB), a few in flight, each retried
    on 429/5xx; a request that still fails leaves its keys unwritten and the error names them
    (--json: all of them) while the others land, so running the same file again is safe.

    Example:

        worktime kv bulk put seed.json --binding KV
        worktime kv bulk put seed.json --binding KV --remote
    """
    from worktime_cli import kv

    _refuse_bulk_defaults(ttl, expiration, metadata)

    with _namespace(
        binding,
        namespace_id,
        config=config,
        env=env,
        persist_to=persist_to,
        remote=remote,
        local=local,
        preview=preview,
    ) as (namespace, aim):
        parsed = kv.parse_bulk_put(file)
        for warning in parsed.warnings:
            output.warn(warning)
        target = aim()
        with output.progress(f"writing {file.name}", len(parsed.items), unit="keys") as bar:
            result = namespace.bulk_put(parsed.items, progress=bar.advance)
        where = namespace.where
    render(result, target, json=json, human=lambda r: _bulk_done(r, file, where))


@bulk_app.command("get")
def bulk_get(
    file: FileArg,
    binding: BindingOption = None,
    namespace_id: NamespaceIdOption = None,
    preview: PreviewOption = None,
    remote: RemoteOption = False,
    local: LocalOption = False,
    config: ConfigOption = None,
    env: EnvOption = None,
    persist_to: PersistOption = None,
) -> None:
    """Print the values of the keys listed in a JSON array, as `wrangler kv bulk get`.

    The file is bulk delete's: key names or {"name": …} objects. stdout is one JSON object,
    {"KEY": {"value": "text" | null}} (null: absent or expired), wrangler's local shape, also
    with --remote (one read per key; wrangler's remote prints {"KEY": "text"}).

    Example:

        worktime kv bulk get keys.json --binding KV
        worktime kv bulk get keys.json --binding KV --remote
    """
    from worktime_cli import kv

    with _namespace(
        binding,
        namespace_id,
        config=config,
        env=env,
        persist_to=persist_to,
        remote=remote,
        local=local,
        preview=preview,
    ) as (namespace, _aim):
        keys = kv.parse_bulk_delete(file)
        found: dict[str, dict[str, str | None]] = {}
        for key in keys:
            entry = namespace.get(key)
            # wrangler reads with get(key, "text"): invalid UTF-8 becomes U+FFFD, as here.
            text = None if entry is None else entry.value.decode("utf-8", errors="replace")
            found[key] = {"value": text}
    output.print_json(found)


@bulk_app.command("delete")
def bulk_delete(
    file: FileArg,
    binding: BindingOption = None,
    namespace_id: NamespaceIdOption = None,
    preview: PreviewOption = None,
    yes: YesOption = False,
    remote: RemoteOption = False,
    local: LocalOption = False,
    config: ConfigOption = None,
    env: EnvOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Delete many keys listed in a JSON array of names or {"name": …} objects, all at once.

    Locally `deleted` counts the keys that were there; Cloudflare does not say, so with
    --remote it counts every distinct key listed (all of them are gone now).

    Example:

        worktime kv bulk delete old-keys.json --binding KV --yes
        worktime kv bulk delete old-keys.json --binding KV --remote --yes
    """
    from worktime_cli import kv

    with _namespace(
        binding,
        namespace_id,
        config=config,
        env=env,
        persist_to=persist_to,
        remote=remote,
        local=local,
        preview=preview,
    ) as (namespace, aim):
        keys = kv.parse_bulk_delete(file)
        where = namespace.where
        target = aim()
        output.confirm(
            f"Delete {len(keys)} key(s) listed in {file}{where}?",
            yes=yes,
            action=f"delete {len(keys)} key(s){where}",
        )
        with output.progress(f"deleting {file.name}", len(keys), unit="keys") as bar:
            result = namespace.bulk_delete(keys, progress=bar.advance)
    render(result, target, json=json, human=lambda r: _bulk_done(r, file, where))


def _bulk_done(result: BulkResult, file: Path, where: str) -> None:
    if result.action == "written":
        output.success(f"wrote {result.count} key(s) from {file}{where}")
    else:
        output.success(
            f"deleted {result.count} of {result.requested} key(s) listed in {file}{where}"
        )
