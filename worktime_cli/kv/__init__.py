"""Workers KV in the core: Cloudflare's limits, the local store, bulk files and namespaces.

- `records`: the shapes keys and values travel in (`PutItem`, `Entry`, `Page`, results);
- `limits`: Cloudflare's limits, checked with the same words locally and remotely;
- `store`: `KVStore`, one namespace in the files wrangler 4 / miniflare use (its SQLite index);
- `blobs`: that namespace's value files (names, durable writes, the writers' lock, orphan gc);
- `bulk`: `bulk put` / `bulk delete` files in wrangler's format;
- `namespaces`: which namespace a command names, create/delete, and the local target
  (`LocalKV`, `LocalNamespace`) of the `targets.kv` protocols.

Everything callers need is re-exported here: `from worktime_cli.kv import KVStore, LocalKV`.
"""

from __future__ import annotations

from worktime_cli.kv.blobs import GC_GRACE_SECONDS, blob_dir_name, new_blob_id
from worktime_cli.kv.bulk import BulkPut, parse_bulk_delete, parse_bulk_put, read_value_file
from worktime_cli.kv.limits import (
    BULK_MAX_ERRORS,
    MAX_KEY_BYTES,
    MAX_LIST_LIMIT,
    MAX_METADATA_BYTES,
    MAX_VALUE_BYTES,
    MIN_TTL_SECONDS,
    Row,
    check_list_args,
    encode_metadata,
    latest_rows,
    resolve_expiration,
    validate_item,
    validate_key,
)
from worktime_cli.kv.namespaces import (
    CreatedNamespace,
    DeletedNamespace,
    GCResult,
    LocalKV,
    LocalNamespace,
    NamespaceInfo,
    NamespaceList,
    check_new_binding,
    create_namespace,
    delete_namespace,
    describe_namespaces,
    select_binding,
    unknown_binding,
)
from worktime_cli.kv.records import (
    BulkResult,
    DeleteResult,
    Entry,
    KeyInfo,
    Page,
    PutItem,
    PutResult,
)
from worktime_cli.kv.store import BUSY_TIMEOUT_SECONDS, KVStore

__all__ = [
    "BULK_MAX_ERRORS",
    "BUSY_TIMEOUT_SECONDS",
    "GC_GRACE_SECONDS",
    "MAX_KEY_BYTES",
    "MAX_LIST_LIMIT",
    "MAX_METADATA_BYTES",
    "MAX_VALUE_BYTES",
    "MIN_TTL_SECONDS",
    "BulkPut",
    "BulkResult",
    "CreatedNamespace",
    "DeleteResult",
    "DeletedNamespace",
    "Entry",
    "GCResult",
    "KVStore",
    "KeyInfo",
    "LocalKV",
    "LocalNamespace",
    "NamespaceInfo",
    "NamespaceList",
    "Page",
    "PutItem",
    "PutResult",
    "Row",
    "blob_dir_name",
    "check_list_args",
    "check_new_binding",
    "create_namespace",
    "delete_namespace",
    "describe_namespaces",
    "encode_metadata",
    "latest_rows",
    "new_blob_id",
    "parse_bulk_delete",
    "parse_bulk_put",
    "read_value_file",
    "resolve_expiration",
    "select_binding",
    "unknown_binding",
    "validate_item",
    "validate_key",
]
