"""`worktime kv …`: local Workers KV, in the same files `wrangler dev` reads, or with
`--remote` the account's namespaces through Cloudflare's API.

This module only wires the group: `kv namespace …` lives in `kv_namespaces`, `kv key …` in
`kv_keys`, `kv bulk …` in `kv_bulk`; the options and the opening step they share (which
namespace, the context) in `kv_options`.
"""

from __future__ import annotations

import typer

from worktime_cli.cli import kv_bulk, kv_keys, kv_namespaces

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

namespace_app.command("create")(kv_namespaces.namespace_create)
namespace_app.command("rename")(kv_namespaces.namespace_rename)
namespace_app.command("list")(kv_namespaces.namespace_list)
namespace_app.command("delete")(kv_namespaces.namespace_delete)
namespace_app.command("gc")(kv_namespaces.namespace_gc)

key_app.command("put")(kv_keys.key_put)
key_app.command("get")(kv_keys.key_get)
key_app.command("list")(kv_keys.key_list)
key_app.command("delete")(kv_keys.key_delete)

bulk_app.command("put")(kv_bulk.bulk_put)
bulk_app.command("get")(kv_bulk.bulk_get)
bulk_app.command("delete")(kv_bulk.bulk_delete)


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    root.add_typer(app)
