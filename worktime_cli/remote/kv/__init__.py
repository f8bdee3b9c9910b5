"""Remote Workers KV under /accounts/{id}/storage/kv: namespaces, keys and bulk writes.

`RemoteKV` / `RemoteNamespace` (`target`) are the remote side of the KV seam (`targets.kv`);
the other modules are the HTTP calls, one function per API operation.

- `namespaces`: list, create (and bind in wrangler.toml) and delete namespaces
- `keys`: put, get, metadata and delete one key; list keys
- `bulk`: bulk put and delete in the largest chunks the API takes, every failed key named
- `target`: the remote side of the KV seam
"""

from __future__ import annotations

from worktime_cli.remote.kv.bulk import (
    BulkError,
    BulkItem,
    BulkReport,
    bulk_delete,
    bulk_put,
    put_chunks,
)
from worktime_cli.remote.kv.keys import delete, get, get_metadata, list_keys, put
from worktime_cli.remote.kv.namespaces import (
    Namespace,
    create_namespace,
    delete_namespace,
    list_namespaces,
    namespace_title,
)
from worktime_cli.remote.kv.target import RemoteKV, RemoteNamespace

__all__ = [
    "BulkError",
    "BulkItem",
    "BulkReport",
    "Namespace",
    "RemoteKV",
    "RemoteNamespace",
    "bulk_delete",
    "bulk_put",
    "create_namespace",
    "delete",
    "delete_namespace",
    "get",
    "get_metadata",
    "list_keys",
    "list_namespaces",
    "namespace_title",
    "put",
    "put_chunks",
]
