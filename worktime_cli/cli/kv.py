"""`worktime kv …`: local Workers KV, in the same files `wrangler dev` reads, or with
`--remote` the account's namespaces through Cloudflare's API."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import (
    ConfigOption,
    JsonOption,
    PersistOption,
    RemoteOption,
    YesOption,
)

if TYPE_CHECKING:
    from worktime_cli.config import Config, KVBinding
    from worktime_cli.kv import KVStore
    from worktime_cli.remote.client import Client

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
    help="Put or delete many keys from a JSON file (wrangler's format).",
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


def _namespace(
    binding: str | None, namespace_id: str | None, config: Path | None
) -> tuple[KVBinding, Config]:
    """The namespace named by exactly one of --binding / --namespace-id, and the config."""
    from worktime_cli import config as config_module

    if (binding is None) == (namespace_id is None):
        raise typer.BadParameter("give exactly one of --binding or --namespace-id")
    cfg = config_module.load(config)
    return cfg.kv(binding=binding, namespace_id=namespace_id), cfg


def _refuse_with_remote(remote: bool, **options: object) -> None:
    """Local-only options mean nothing with --remote: a usage error (exit 2), never ignored."""
    given = [name for name, value in options.items() if value not in (None, False)]
    if remote and given:
        raise typer.BadParameter(f"{', '.join(given)} cannot be combined with --remote")


def _remote_namespace(c: Client, cfg: Config, binding: str | None, namespace_id: str | None) -> str:
    """The remote namespace id: --namespace-id as given, else the binding's id / title."""
    from worktime_cli.remote import kv as remote_kv

    if namespace_id is not None:
        return namespace_id
    assert binding is not None
    return remote_kv.resolve_namespace(c, cfg, binding)


def _load(binding: str | None, namespace_id: str | None, config: Path | None) -> Config:
    from worktime_cli import config as config_module

    if (binding is None) == (namespace_id is None):
        raise typer.BadParameter("give exactly one of --binding or --namespace-id")
    return config_module.load(config)


def _store(
    binding: str | None, namespace_id: str | None, config: Path | None, persist_to: Path | None
) -> KVStore:
    from worktime_cli import state
    from worktime_cli.kv import KVStore

    ns, cfg = _namespace(binding, namespace_id, config)
    return KVStore(state.root(cfg, persist_to), ns.local_id)


# --- namespace -------------------------------------------------------------------------------


@namespace_app.command("create")
def namespace_create(
    binding: Annotated[
        str, typer.Argument(help="Binding name for the new namespace, e.g. KV.", show_default=False)
    ],
    remote: RemoteOption = False,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Create a namespace: a new 32-hex id, appended to wrangler.toml as [[kv_namespaces]].

    With --remote, create `<worker name>-<BINDING>` on Cloudflare (wrangler's title) and
    record its id; an existing local id is kept as preview_id so local data stays found.

    Example:

        worktime kv namespace create KV
        worktime kv namespace create KV --remote
    """
    from worktime_cli import config as config_module
    from worktime_cli import kv

    cfg = config_module.load(config)
    if remote:
        from worktime_cli.remote import client
        from worktime_cli.remote import kv as remote_kv

        with client.from_environment(cfg) as c:
            bound = remote_kv.create_bound_namespace(c, cfg, binding)
        output.result(
            bound.to_json(),
            f"created KV namespace {bound.namespace.title} on Cloudflare (id {bound.namespace.id}); "
            f"{bound.binding} in {cfg.path.name} now uses it",
            json=json,
        )
        if bound.preview_id is not None:
            output.info(f"local data stays under preview_id {bound.preview_id}")
        return
    _, ns = kv.create_namespace(cfg, binding)
    output.result(
        {"binding": ns.binding, "id": ns.id},
        f"created KV namespace {ns.binding} (id {ns.id}) in {cfg.path.name}",
        json=json,
    )


@namespace_app.command("list")
def namespace_list(
    remote: RemoteOption = False,
    config: ConfigOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """List the namespaces in wrangler.toml with their local key counts (--remote: the account's).

    Example:

        worktime kv namespace list --json
        worktime kv namespace list --remote
    """
    from worktime_cli import config as config_module
    from worktime_cli import kv, state

    _refuse_with_remote(remote, **{"--persist-to": persist_to})
    cfg = config_module.load(config)
    if remote:
        from worktime_cli.remote import client
        from worktime_cli.remote import kv as remote_kv

        with client.from_environment(cfg) as c:
            found = remote_kv.list_namespaces(c)
        if json:
            output.print_json([ns.to_json() for ns in found])
        elif not found:
            output.info("no KV namespaces on this account")
        else:
            output.print_table(["title", "id"], [[ns.title, ns.id] for ns in found])
        return
    infos = kv.describe_namespaces(cfg, state.root(cfg, persist_to))
    if json:
        output.print_json([i.to_json() for i in infos])
        return
    if not infos:
        output.info(
            "no KV namespaces configured; create one with `worktime kv namespace create KV`"
        )
        return
    output.print_table(
        ["binding", "id", "local keys"],
        [[i.binding, i.local_id, i.keys if i.exists else "no local data"] for i in infos],
        justify={"local keys": "right"},
    )


@namespace_app.command("delete")
def namespace_delete(
    binding: BindingOption = None,
    namespace_id: NamespaceIdOption = None,
    yes: YesOption = False,
    remote: RemoteOption = False,
    config: ConfigOption = None,
    persist_to: PersistOption = None,
) -> None:
    """Delete a namespace's local data and remove it from wrangler.toml.

    With --remote, delete the namespace and all its keys on Cloudflare instead;
    wrangler.toml and local data are left as they are.

    Example:

        worktime kv namespace delete --binding KV --yes
        worktime kv namespace delete --binding KV --remote
    """
    from worktime_cli import kv, state

    _refuse_with_remote(remote, **{"--persist-to": persist_to})
    if remote:
        from worktime_cli.remote import client
        from worktime_cli.remote import kv as remote_kv

        cfg = _load(binding, namespace_id, config)
        label = binding or namespace_id
        # Confirm before any request: without a terminal and --yes, nothing is sent.
        output.confirm(
            f"Delete the remote KV namespace {label} and every key in it? This cannot be undone.",
            yes=yes,
            action=f"delete the remote KV namespace {label}",
        )
        with client.from_environment(cfg) as c:
            ns_id = _remote_namespace(c, cfg, binding, namespace_id)
            remote_kv.delete_namespace(c, ns_id)
        output.success(f"deleted the remote KV namespace {label} ({ns_id})")
        return
    ns, cfg = _namespace(binding, namespace_id, config)
    output.confirm(
        f"Delete the local data of KV namespace {ns.binding} ({ns.local_id})? This cannot be undone.",
        yes=yes,
        action=f"delete KV namespace {ns.binding}",
    )
    new_cfg, existed = kv.delete_namespace(cfg, ns, state.root(cfg, persist_to))
    removed = len(new_cfg.kv_namespaces) < len(cfg.kv_namespaces)
    note = "its local data" if existed else "no local data"
    where = f" and removed it from {cfg.path.name}" if removed else ""
    output.success(f"deleted KV namespace {ns.binding} ({note}){where}")


@namespace_app.command("gc")
def namespace_gc(
    binding: BindingOption = None,
    namespace_id: NamespaceIdOption = None,
    config: ConfigOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Remove value files no key refers to (left behind by a crash or a kill).

    Every write already removes such files once they are a minute old; this removes them
    all now, so run it when nothing else (e.g. wrangler dev) is writing to the namespace.

    Example:

        worktime kv namespace gc --binding KV
    """
    with _store(binding, namespace_id, config, persist_to) as store:
        removed = store.gc(grace_seconds=0)
    output.result({"removed": removed}, f"removed {removed} orphaned value file(s)", json=json)


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
    config: ConfigOption = None,
    persist_to: PersistOption = None,
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

    from worktime_cli.errors import LimitError, WorktimeError
    from worktime_cli.kv import MAX_VALUE_BYTES, PutItem, validate_item

    if (value is None) == (path is None):
        raise typer.BadParameter("give exactly one of VALUE or --path")
    _refuse_with_remote(remote, **{"--persist-to": persist_to})
    meta: Any = None
    if metadata is not None:
        try:
            meta = jsonlib.loads(metadata)
        except ValueError as exc:
            raise WorktimeError(f"--metadata is not valid JSON: {exc}") from None
    # Check what we can before reading a possibly huge file or stdin.
    validate_item(
        PutItem(key, b"", expiration_ttl=ttl, expiration=expiration, metadata=meta), _now()
    )
    data: bytes
    if path is not None:
        try:
            size = path.stat().st_size
            if size > MAX_VALUE_BYTES:
                raise LimitError(
                    f"value is {size} bytes; the limit is {MAX_VALUE_BYTES} bytes (25 MiB)"
                )
            data = path.read_bytes()
        except OSError as exc:
            raise WorktimeError(f"cannot read {path}: {exc.strerror}") from None
    elif value == "-":
        data = sys.stdin.buffer.read(MAX_VALUE_BYTES + 1)
    else:
        assert value is not None
        data = value.encode("utf-8", "surrogateescape")
    if remote:
        if len(data) > MAX_VALUE_BYTES:  # the local store checks this itself
            raise LimitError(f"value is over {MAX_VALUE_BYTES} bytes (25 MiB), the limit")
        from worktime_cli.remote import client
        from worktime_cli.remote import kv as remote_kv

        cfg = _load(binding, namespace_id, config)
        with client.from_environment(cfg) as c:
            ns_id = _remote_namespace(c, cfg, binding, namespace_id)
            # --ttl wins over --expiration, as locally: send only one of them.
            remote_kv.put(
                c,
                ns_id,
                key,
                data,
                expiration=None if ttl is not None else expiration,
                expiration_ttl=ttl,
                metadata=meta,
            )
        output.success(f"wrote {output.human_size(len(data))} to {key!r} on Cloudflare")
        return
    with _store(binding, namespace_id, config, persist_to) as store:
        store.put(key, data, expiration_ttl=ttl, expiration=expiration, metadata=meta)
    output.success(f"wrote {output.human_size(len(data))} to {key!r}")


def _now() -> float:
    import time

    return time.time()


@key_app.command("get")
def key_get(
    key: KeyArg,
    binding: BindingOption = None,
    namespace_id: NamespaceIdOption = None,
    text: Annotated[
        bool, typer.Option("--text", help="Decode the value as UTF-8 and end it with a newline.")
    ] = False,
    metadata: Annotated[
        bool, typer.Option("--metadata", help="Print the key's metadata JSON instead of its value.")
    ] = False,
    remote: RemoteOption = False,
    config: ConfigOption = None,
    persist_to: PersistOption = None,
) -> None:
    """Print a key's value: the raw bytes, exactly as stored (no newline added).

    Example:

        worktime kv key get token:alice --binding KV --text
        worktime kv key get logo --binding KV > logo.png
        worktime kv key get token:alice --binding KV --remote
    """
    from worktime_cli.errors import NotFoundError

    _refuse_with_remote(remote, **{"--persist-to": persist_to})
    if remote:
        from worktime_cli.remote import client
        from worktime_cli.remote import kv as remote_kv

        cfg = _load(binding, namespace_id, config)
        with client.from_environment(cfg) as c:
            ns_id = _remote_namespace(c, cfg, binding, namespace_id)
            if metadata:
                output.print_json(remote_kv.get_metadata(c, ns_id, key))
                return
            value = remote_kv.get(c, ns_id, key)
        _write_value(value, text)
        return
    with _store(binding, namespace_id, config, persist_to) as store:
        entry = store.get(key)
    if entry is None:
        raise NotFoundError(f"key not found: {key!r}")
    if metadata:
        output.print_json(entry.metadata)
        return
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
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Only keys starting with this.")
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            help="At most this many keys (1–1000), with a cursor for the rest.",
            show_default=False,
        ),
    ] = None,
    cursor: Annotated[
        str | None, typer.Option("--cursor", help="Continue after a previous page.")
    ] = None,
    remote: RemoteOption = False,
    config: ConfigOption = None,
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
    from worktime_cli.kv import Page

    _refuse_with_remote(remote, **{"--persist-to": persist_to})
    page: Page
    if remote:
        from worktime_cli.remote import client
        from worktime_cli.remote import kv as remote_kv

        if limit is not None and not 1 <= limit <= 1000:
            raise typer.BadParameter("--limit must be between 1 and 1000")
        cfg = _load(binding, namespace_id, config)
        with client.from_environment(cfg) as c:
            ns_id = _remote_namespace(c, cfg, binding, namespace_id)
            if limit is None and cursor is None:
                page = Page(tuple(remote_kv.list_keys(c, ns_id, prefix=prefix)), None)
            else:
                page = remote_kv.list_page(
                    c, ns_id, prefix=prefix, limit=limit or 1000, cursor=cursor
                )
    else:
        with _store(binding, namespace_id, config, persist_to) as store:
            page = store.list(prefix=prefix, limit=limit, cursor=cursor)
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
    remote: RemoteOption = False,
    config: ConfigOption = None,
    persist_to: PersistOption = None,
) -> None:
    """Delete a key (deleting a missing key is not an error, as on Cloudflare).

    Example:

        worktime kv key delete token:alice --binding KV
        worktime kv key delete token:alice --binding KV --remote
    """
    _refuse_with_remote(remote, **{"--persist-to": persist_to})
    if remote:
        from worktime_cli.remote import client
        from worktime_cli.remote import kv as remote_kv

        cfg = _load(binding, namespace_id, config)
        with client.from_environment(cfg) as c:
            remote_kv.delete(c, _remote_namespace(c, cfg, binding, namespace_id), key)
        # The API answers the same whether or not the key existed.
        output.success(f"deleted {key!r} on Cloudflare")
        return
    with _store(binding, namespace_id, config, persist_to) as store:
        existed = store.delete(key)
    if existed:
        output.success(f"deleted {key!r}")
    else:
        output.info(f"{key!r} was not there; nothing deleted")


# --- bulk ------------------------------------------------------------------------------------

FileArg = Annotated[Path, typer.Argument(help="The JSON file.", dir_okay=False, show_default=False)]


@bulk_app.command("put")
def bulk_put(
    file: FileArg,
    binding: BindingOption = None,
    namespace_id: NamespaceIdOption = None,
    remote: RemoteOption = False,
    config: ConfigOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Write many keys from a JSON array, all or nothing (--remote: in API requests of 1,000).

    Each item: {"key", "value", "expiration"?, "expiration_ttl"?, "metadata"?, "base64"?}.
    Every item is checked first; if any is invalid, they are all reported and nothing is written.

    Example:

        worktime kv bulk put seed.json --binding KV
        worktime kv bulk put seed.json --binding KV --remote
    """
    from worktime_cli import kv

    _refuse_with_remote(remote, **{"--persist-to": persist_to})
    if remote:
        from worktime_cli.remote import client
        from worktime_cli.remote import kv as remote_kv

        cfg = _load(binding, namespace_id, config)
        parsed = kv.parse_bulk_put(file)
        for warning in parsed.warnings:
            output.warn(warning)
        with client.from_environment(cfg) as c:
            ns_id = _remote_namespace(c, cfg, binding, namespace_id)
            written = remote_kv.bulk_put(
                c, ns_id, [remote_kv.BulkItem.from_put_item(i) for i in parsed.items]
            )
        output.result(
            {"written": written}, f"wrote {written} key(s) from {file} on Cloudflare", json=json
        )
        return
    store = _store(binding, namespace_id, config, persist_to)
    parsed = kv.parse_bulk_put(file)
    for warning in parsed.warnings:
        output.warn(warning)
    with store, output.progress_items(len(parsed.items), f"writing {file.name}") as advance:
        written = store.put_many(parsed.items, progress=advance)
    output.result({"written": written}, f"wrote {written} key(s) from {file}", json=json)


@bulk_app.command("delete")
def bulk_delete(
    file: FileArg,
    binding: BindingOption = None,
    namespace_id: NamespaceIdOption = None,
    yes: YesOption = False,
    remote: RemoteOption = False,
    config: ConfigOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Delete many keys listed in a JSON array of names or {"name": …} objects, all at once.

    Example:

        worktime kv bulk delete old-keys.json --binding KV --yes
        worktime kv bulk delete old-keys.json --binding KV --remote --yes
    """
    from worktime_cli import kv

    _refuse_with_remote(remote, **{"--persist-to": persist_to})
    if remote:
        from worktime_cli.remote import client
        from worktime_cli.remote import kv as remote_kv

        cfg = _load(binding, namespace_id, config)
        keys = kv.parse_bulk_delete(file)
        output.confirm(
            f"Delete {len(keys)} key(s) listed in {file} on Cloudflare?",
            yes=yes,
            action=f"delete {len(keys)} remote key(s)",
        )
        with client.from_environment(cfg) as c:
            ns_id = _remote_namespace(c, cfg, binding, namespace_id)
            sent = remote_kv.bulk_delete(c, ns_id, keys)
        if json:
            # The API does not say which keys existed: every listed key is gone now.
            output.print_json({"deleted": sent, "requested": len(keys)})
            return
        output.success(f"deleted {sent} key(s) listed in {file} on Cloudflare")
        return
    store = _store(binding, namespace_id, config, persist_to)
    keys = kv.parse_bulk_delete(file)
    output.confirm(
        f"Delete {len(keys)} key(s) listed in {file}?",
        yes=yes,
        action=f"delete {len(keys)} key(s)",
    )
    with store, output.progress_items(len(keys), f"deleting {file.name}") as advance:
        deleted = store.delete_many(keys, progress=advance)
    if json:
        output.print_json({"deleted": deleted, "requested": len(keys)})
        return
    output.success(f"deleted {deleted} of {len(keys)} key(s) listed in {file}")
