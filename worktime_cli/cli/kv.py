"""`worktime kv …`: local Workers KV, in the same files `wrangler dev` reads."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import ConfigOption, JsonOption, PersistOption, YesOption

if TYPE_CHECKING:
    from worktime_cli.config import Config, KVBinding
    from worktime_cli.kv import KVStore

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
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Create a namespace: a new 32-hex id, appended to wrangler.toml as [[kv_namespaces]].

    Example:

        worktime kv namespace create KV
    """
    from worktime_cli import config as config_module
    from worktime_cli import kv

    cfg = config_module.load(config)
    _, ns = kv.create_namespace(cfg, binding)
    if json:
        output.print_json({"binding": ns.binding, "id": ns.id})
        return
    output.success(f"created KV namespace {ns.binding} (id {ns.id}) in {cfg.path.name}")


@namespace_app.command("list")
def namespace_list(
    config: ConfigOption = None, persist_to: PersistOption = None, json: JsonOption = False
) -> None:
    """List the namespaces in wrangler.toml with their local key counts.

    Example:

        worktime kv namespace list --json
    """
    from worktime_cli import config as config_module
    from worktime_cli import kv, state

    cfg = config_module.load(config)
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
    config: ConfigOption = None,
    persist_to: PersistOption = None,
) -> None:
    """Delete a namespace's local data and remove it from wrangler.toml.

    Example:

        worktime kv namespace delete --binding KV --yes
    """
    from worktime_cli import kv, state

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
    if json:
        output.print_json({"removed": removed})
        return
    output.success(f"removed {removed} orphaned value file(s)")


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
    config: ConfigOption = None,
    persist_to: PersistOption = None,
) -> None:
    """Write a value to a key, with an optional expiry and metadata.

    VALUE `-` reads the value from stdin; to store a literal "-", pipe it in the same way
    (`printf - | worktime kv key put K - …`). --ttl wins over --expiration when both are given.

    Example:

        worktime kv key put token:alice s3cret --binding KV --ttl 604800 --metadata '{"user": 1}'
        worktime kv key put logo --path logo.png --binding KV
    """
    import json as jsonlib

    from worktime_cli.errors import LimitError, WorktimeError
    from worktime_cli.kv import MAX_VALUE_BYTES, PutItem, validate_item

    if (value is None) == (path is None):
        raise typer.BadParameter("give exactly one of VALUE or --path")
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
    config: ConfigOption = None,
    persist_to: PersistOption = None,
) -> None:
    """Print a key's value: the raw bytes, exactly as stored (no newline added).

    Example:

        worktime kv key get token:alice --binding KV --text
        worktime kv key get logo --binding KV > logo.png
    """
    from worktime_cli.errors import NotFoundError

    with _store(binding, namespace_id, config, persist_to) as store:
        entry = store.get(key)
    if entry is None:
        raise NotFoundError(f"key not found: {key!r}")
    if metadata:
        output.print_json(entry.metadata)
        return
    if text:
        output.print_value(entry.value.decode("utf-8", "replace"))
        return
    out = sys.stdout.buffer
    out.write(entry.value)
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
    """
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
    config: ConfigOption = None,
    persist_to: PersistOption = None,
) -> None:
    """Delete a key (deleting a missing key is not an error, as on Cloudflare).

    Example:

        worktime kv key delete token:alice --binding KV
    """
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
    config: ConfigOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Write many keys from a JSON array, all or nothing.

    Each item: {"key", "value", "expiration"?, "expiration_ttl"?, "metadata"?, "base64"?}.
    Every item is checked first; if any is invalid, they are all reported and nothing is written.

    Example:

        worktime kv bulk put seed.json --binding KV
    """
    from worktime_cli import kv

    store = _store(binding, namespace_id, config, persist_to)
    parsed = kv.parse_bulk_put(file)
    for warning in parsed.warnings:
        output.warn(warning)
    with store, output.progress_items(len(parsed.items), f"writing {file.name}") as advance:
        written = store.put_many(parsed.items, progress=advance)
    if json:
        output.print_json({"written": written})
        return
    output.success(f"wrote {written} key(s) from {file}")


@bulk_app.command("delete")
def bulk_delete(
    file: FileArg,
    binding: BindingOption = None,
    namespace_id: NamespaceIdOption = None,
    yes: YesOption = False,
    config: ConfigOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Delete many keys listed in a JSON array of names or {"name": …} objects, all at once.

    Example:

        worktime kv bulk delete old-keys.json --binding KV --yes
    """
    from worktime_cli import kv

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
