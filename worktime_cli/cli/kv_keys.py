"""`worktime kv key …`: put, get, list and delete single keys of one namespace."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from worktime_cli.cli import output
from worktime_cli.cli.context import render
from worktime_cli.cli.kv_options import BindingOption, NamespaceIdOption, open_namespace
from worktime_cli.cli.options import (
    JsonOption,
    PreviewTarget,
    Target,
)

if TYPE_CHECKING:
    from worktime_cli.kv import Page

KeyArg = Annotated[
    str, typer.Argument(help="The key name (1–512 UTF-8 bytes).", show_default=False)
]


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
    target: PreviewTarget = Target(),
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
    with open_namespace(binding, namespace_id, target) as (namespace, aim):
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
        aimed = aim()
        written = namespace.put(key, data, expiration=expiration, expiration_ttl=ttl, metadata=meta)
        where = namespace.where
    render(
        written,
        aimed,
        json=json,
        human=lambda r: output.success(f"wrote {output.human_size(r.size)} to {r.key!r}{where}"),
    )


def _now() -> float:
    from worktime_cli import clock

    return clock.timestamp()


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
    target: PreviewTarget = Target(),
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

    with open_namespace(binding, namespace_id, target) as (namespace, _aim):
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
            help="At most this many keys (1–1000; 10–1000 with --remote), with a cursor for the rest.",
            show_default=False,
        ),
    ] = None,
    cursor: Annotated[
        str | None, typer.Option("--cursor", help="Continue after a previous page.")
    ] = None,
    target: PreviewTarget = Target(),
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
    with open_namespace(binding, namespace_id, target) as (namespace, _aim):
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


def key_delete(
    key: KeyArg,
    binding: BindingOption = None,
    namespace_id: NamespaceIdOption = None,
    target: PreviewTarget = Target(),
    json: JsonOption = False,
) -> None:
    """Delete a key (deleting a missing key is not an error, as on Cloudflare).

    Example:

        worktime kv key delete token:alice --binding KV
        worktime kv key delete token:alice --binding KV --remote
    """
    with open_namespace(binding, namespace_id, target) as (namespace, aim):
        aimed = aim()
        deleted = namespace.delete(key)
        where = namespace.where
    render(
        deleted,
        aimed,
        json=json,
        human=lambda r: (
            output.success(f"deleted {r.key!r}{where}")
            if r.existed
            else output.info(f"{r.key!r} was not there{where}; nothing deleted")
        ),
    )
