"""Where local state lives: the same files wrangler 4 / miniflare use under `.wrangler/state`.

Keeping the exact layout is what lets a team mix `wrangler dev` and `worktime` on one
checkout: both open the same SQLite files.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

from worktime_cli.project.config import Config

D1_UNIQUE_KEY = "miniflare-D1DatabaseObject"
KV_UNIQUE_KEY = "miniflare-KVNamespaceObject"


def durable_object_id(unique_key: str, name: str) -> str:
    """workerd's `idFromName` for a durable object class, as miniflare names its files.

    key = sha256(unique_key); a = HMAC(key, name)[:16]; b = HMAC(key, a)[:16]; id = hex(a+b).
    """
    key = hashlib.sha256(unique_key.encode()).digest()
    a = hmac.new(key, name.encode(), hashlib.sha256).digest()[:16]
    b = hmac.new(key, a, hashlib.sha256).digest()[:16]
    return (a + b).hex()


def root(config: Config, persist_to: Path | None = None) -> Path:
    """The state root: `--persist-to DIR` (as wrangler's flag) or `<project>/.wrangler/state`."""
    if persist_to is not None:
        return persist_to.resolve()
    return config.root / ".wrangler" / "state"


def d1_path(state_root: Path, local_id: str) -> Path:
    """`v3/d1/miniflare-D1DatabaseObject/<do id>.sqlite` for a database's local id."""
    return (
        state_root
        / "v3"
        / "d1"
        / D1_UNIQUE_KEY
        / f"{durable_object_id(D1_UNIQUE_KEY, local_id)}.sqlite"
    )


_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def d1_snapshot_dir(state_root: Path, database_name: str, local_id: str | None = None) -> Path:
    """Where apply/rollback snapshots of one database are kept.

    The name comes from wrangler.toml, so it is used as a folder name only when it is a
    plain one; anything else (`../x`, `/abs`) gets its durable-object id instead, which
    can never leave the state folder. `local_id`, given when the name alone does not say
    which local database is meant (two environments share it), adds that database's
    durable-object id, so each file keeps its own snapshots.
    """
    safe = _SAFE_SEGMENT.fullmatch(database_name) and ".." not in database_name
    segment = database_name if safe else durable_object_id(D1_UNIQUE_KEY, database_name)
    if local_id is not None:
        segment += "." + durable_object_id(D1_UNIQUE_KEY, local_id)[:16]
    return state_root / "v3" / "d1" / "snapshots" / segment


def kv_index_path(state_root: Path, namespace_id: str) -> Path:
    """miniflare's KV index: `v3/kv/miniflare-KVNamespaceObject/<do id>.sqlite`."""
    return (
        state_root
        / "v3"
        / "kv"
        / KV_UNIQUE_KEY
        / f"{durable_object_id(KV_UNIQUE_KEY, namespace_id)}.sqlite"
    )


def kv_blobs_dir(state_root: Path, namespace_id: str) -> Path:
    """miniflare's KV value files: `v3/kv/<namespace id>/blobs/`."""
    return state_root / "v3" / "kv" / namespace_id / "blobs"
