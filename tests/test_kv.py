"""The local KV store: miniflare's layout, Cloudflare's limits, expiry, crash-safe writes."""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from worktime_cli import kv
from worktime_cli.errors import ConfigError, LimitError, LockedError, NotFoundError, WorktimeError
from worktime_cli.kv import KVStore, PutItem
from worktime_cli.project import config, state

NS = "0f2ac74b498b48028cb68387c421e279"
NOW = 1_800_000_000.5  # a fixed clock: expirations are exact


@pytest.fixture
def root(project: Path) -> Path:
    return project / ".wrangler" / "state"


@pytest.fixture
def store(root: Path):
    with KVStore(root, NS, clock=lambda: NOW) as s:
        yield s


def rows(s: KVStore) -> list[tuple[str, str, int | None, str | None]]:
    with sqlite3.connect(s.index_path) as conn:
        return conn.execute(
            "SELECT key, blob_id, expiration, metadata FROM _mf_entries ORDER BY key"
        ).fetchall()


def blob_names(s: KVStore) -> set[str]:
    return {p.name for p in s.blobs_dir.iterdir()} if s.blobs_dir.exists() else set()


# --- layout ----------------------------------------------------------------------------------


def test_index_path_uses_the_workerd_id_vector(root: Path) -> None:
    # Checked against wrangler 4.86's own file for this namespace id.
    expected = "604730949a2c43a4da6de962297f3c7fde76c71aeecb9720bc4cf749a8259307"
    assert state.durable_object_id(state.KV_UNIQUE_KEY, NS) == expected
    s = KVStore(root, NS)
    assert s.index_path == root / "v3" / "kv" / "miniflare-KVNamespaceObject" / f"{expected}.sqlite"
    assert s.blobs_dir == root / "v3" / "kv" / NS / "blobs"


def test_schema_is_miniflares_byte_for_byte(store: KVStore) -> None:
    store.put("k", b"v")
    with sqlite3.connect(store.index_path) as conn:
        master = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    # As read from a store wrangler 4.86 created.
    assert master == [
        (
            "table",
            "_mf_entries",
            "CREATE TABLE _mf_entries (\n  key TEXT PRIMARY KEY,\n  blob_id TEXT NOT NULL,\n"
            "  expiration INTEGER,\n  metadata TEXT\n)",
        ),
        (
            "index",
            "_mf_entries_expiration_idx",
            "CREATE INDEX _mf_entries_expiration_idx ON _mf_entries(expiration)",
        ),
        ("index", "sqlite_autoindex__mf_entries_1", None),
    ]
    assert journal == "wal"


def test_row_and_blob_format(store: KVStore) -> None:
    store.put("k", b"value", expiration_ttl=3600, metadata={"a": 1, "b": "é"})
    [(key, blob_id, expiration, metadata)] = rows(store)
    assert key == "k"
    assert len(blob_id) == 80 and int(blob_id, 16) >= 0
    assert int(blob_id[64:], 16) == int(NOW * 1000)  # the clock, big-endian millis
    assert expiration == (int(NOW) + 3600) * 1000  # milliseconds on disk
    assert metadata == '{"a":1,"b":"é"}'  # compact, as JSON.stringify writes it
    assert (store.blobs_dir / blob_id).read_bytes() == b"value"


def test_blob_dir_name_is_sanitised_like_miniflare() -> None:
    assert kv.blob_dir_name(NS) == NS
    assert kv.blob_dir_name("KV") == "KV"
    assert kv.blob_dir_name("a/b:c") == "a_b_c"
    assert kv.blob_dir_name("..") == "__"
    assert kv.blob_dir_name("con") == "_"


def test_reading_a_store_never_written_creates_nothing(root: Path) -> None:
    s = KVStore(root, NS)
    assert s.get("k") is None
    assert s.list().keys == ()
    assert s.count() == 0
    assert s.delete("k") is False
    assert not root.exists()


# --- values ----------------------------------------------------------------------------------


def test_binary_round_trip(store: KVStore) -> None:
    value = bytes(range(256)) * 64 + b"\x00\r\n\xff"
    store.put("bin", value)
    store.put("empty", b"")
    entry = store.get("bin")
    assert entry is not None and entry.value == value
    assert entry.expiration is None and entry.metadata is None
    empty = store.get("empty")
    assert empty is not None and empty.value == b""


def test_get_returns_expiration_seconds_and_metadata(store: KVStore) -> None:
    store.put("k", b"v", expiration=int(NOW) + 600, metadata={"user": 7})
    entry = store.get("k")
    assert entry == kv.Entry(key="k", value=b"v", expiration=int(NOW) + 600, metadata={"user": 7})


def test_replacing_a_value_deletes_the_old_blob_after_commit(store: KVStore) -> None:
    store.put("k", b"one")
    [(_, first, _, _)] = rows(store)
    store.put("k", b"two")
    [(_, second, _, _)] = rows(store)
    assert first != second
    assert blob_names(store) == {second}
    assert store.get("k") == kv.Entry("k", b"two")


def test_delete(store: KVStore) -> None:
    store.put("k", b"v")
    assert store.delete("k") is True
    assert store.delete("k") is False
    assert store.get("k") is None
    assert rows(store) == []
    assert blob_names(store) == set()


# --- limits ----------------------------------------------------------------------------------


def test_key_length_boundary_counts_utf8_bytes(store: KVStore) -> None:
    at_limit = "é" * 256  # 512 bytes in UTF-8, 256 characters
    store.put(at_limit, b"v")
    assert store.get(at_limit) is not None
    with pytest.raises(LimitError, match=r"^key is 513 bytes \(UTF-8\); the limit is 512 bytes$"):
        store.put(at_limit + "a", b"v")
    with pytest.raises(LimitError, match="key is 513 bytes"):
        store.put("a" * 513, b"v")
    store.put("a" * 512, b"v")


@pytest.mark.parametrize("key", [".", ".."])
def test_dot_keys_are_refused(store: KVStore, key: str) -> None:
    with pytest.raises(LimitError, match=r"`\.` and `\.\.` are not allowed"):
        store.put(key, b"v")
    with pytest.raises(LimitError):
        store.get(key)


def test_empty_key_is_refused(store: KVStore) -> None:
    with pytest.raises(LimitError, match="must not be empty"):
        store.put("", b"v")


def test_ttl_boundary(store: KVStore) -> None:
    with pytest.raises(LimitError, match=r"^TTL of 59 seconds is below the minimum of 60 seconds$"):
        store.put("k", b"v", expiration_ttl=59)
    store.put("k", b"v", expiration_ttl=60)
    assert rows(store)[0][2] == (int(NOW) + 60) * 1000


def test_expiration_boundary(store: KVStore) -> None:
    now = int(NOW)
    with pytest.raises(LimitError, match="must be at least 60 seconds in the future"):
        store.put("k", b"v", expiration=now + 59)
    with pytest.raises(LimitError, match="must be at least 60 seconds in the future"):
        store.put("k", b"v", expiration=now - 5)
    store.put("k", b"v", expiration=now + 60)
    assert rows(store)[0][2] == (now + 60) * 1000


def test_ttl_wins_over_expiration_as_in_miniflare(store: KVStore) -> None:
    # The expiration is not even validated when a TTL is given.
    store.put("k", b"v", expiration_ttl=120, expiration=1)
    entry = store.get("k")
    assert entry is not None and entry.expiration == int(NOW) + 120


def metadata_of_size(size: int) -> dict[str, str]:
    data = {"a": "x" * (size - len('{"a":""}'))}
    assert len(json.dumps(data, separators=(",", ":")).encode()) == size
    return data


def test_metadata_boundary(store: KVStore) -> None:
    store.put("k", b"v", metadata=metadata_of_size(1024))
    with pytest.raises(
        LimitError, match=r"^metadata is 1025 bytes serialised; the limit is 1024 bytes$"
    ):
        store.put("k2", b"v", metadata=metadata_of_size(1025))
    with pytest.raises(LimitError, match="must be a JSON object"):
        store.put("k3", b"v", metadata=[1, 2])


def test_value_size_boundary() -> None:
    kv.validate_item(PutItem("k", bytes(kv.MAX_VALUE_BYTES)), NOW)
    with pytest.raises(
        LimitError, match=r"value is 26214401 bytes; the limit is 26214400 bytes \(25 MiB\)"
    ):
        kv.validate_item(PutItem("k", bytes(kv.MAX_VALUE_BYTES + 1)), NOW)


def test_a_refused_put_writes_nothing(store: KVStore) -> None:
    store.put("keep", b"v")
    before = (rows(store), blob_names(store))
    for bad in (
        lambda: store.put("k", b"v", expiration_ttl=59),
        lambda: store.put("k", b"v", metadata=metadata_of_size(1025)),
        lambda: store.put("a" * 513, b"v"),
        lambda: store.put_many([PutItem("ok", b"v"), PutItem("..", b"v")]),
    ):
        with pytest.raises(LimitError):
            bad()
    assert (rows(store), blob_names(store)) == before


# --- expiry ----------------------------------------------------------------------------------


def test_an_expired_entry_vanishes_and_is_purged(store: KVStore) -> None:
    store.put("old", b"v", expiration_ttl=3600)
    store.put("live", b"v")
    old_blob = rows(store)[1][1] if rows(store)[1][0] == "old" else rows(store)[0][1]
    with sqlite3.connect(store.index_path) as conn:
        conn.execute(
            "UPDATE _mf_entries SET expiration = ? WHERE key = 'old'", (int(NOW * 1000) - 1,)
        )
    assert [k.name for k in store.list().keys] == ["live"]
    assert store.get("old") is None
    assert [r[0] for r in rows(store)] == ["live"]  # purged when seen
    assert old_blob not in blob_names(store)


def test_get_purges_an_expired_entry(root: Path) -> None:
    clock = [NOW]
    with KVStore(root, NS, clock=lambda: clock[0]) as s:
        s.put("k", b"v", expiration_ttl=60)
        assert s.get("k") is not None
        clock[0] = NOW + 61
        assert s.get("k") is None
        assert rows(s) == []
        assert blob_names(s) == set()
        assert s.count() == 0


# --- list ------------------------------------------------------------------------------------


def test_list_orders_by_key_and_filters_by_prefix(store: KVStore) -> None:
    store.put_many(
        [
            PutItem("user:b", b"1", metadata={"n": 2}),
            PutItem("token:z", b"1", expiration_ttl=600),
            PutItem("user:a", b"1"),
            PutItem("user", b"1"),
        ]
    )
    page = store.list()
    assert [k.name for k in page.keys] == ["token:z", "user", "user:a", "user:b"]
    assert page.list_complete and page.cursor is None
    assert [k.to_json() for k in store.list(prefix="user:").keys] == [
        {"name": "user:a"},
        {"name": "user:b", "metadata": {"n": 2}},
    ]
    assert store.list(prefix="token").keys[0].to_json() == {
        "name": "token:z",
        "expiration": int(NOW) + 600,
    }


def test_list_pagination_across_2500_keys(store: KVStore) -> None:
    names = [f"key-{i:05d}" for i in range(2500)]
    store.put_many(PutItem(n, n.encode()) for n in reversed(names))
    assert [
        k.name for k in store.list().keys
    ] == names  # no limit: every key (wrangler stops at 1000)
    seen: list[str] = []
    cursor = None
    sizes = []
    while True:
        page = store.list(limit=1000, cursor=cursor)
        sizes.append(len(page.keys))
        seen.extend(k.name for k in page.keys)
        if page.list_complete:
            break
        cursor = page.cursor
    assert sizes == [1000, 1000, 500]
    assert seen == names
    # miniflare's cursor: base64 of the last key returned.
    first = store.list(limit=1000)
    assert first.cursor == base64.b64encode(b"key-00999").decode()


def test_list_limit_bounds(store: KVStore) -> None:
    for bad in (0, 1001):
        with pytest.raises(LimitError, match="outside 1–1000"):
            store.list(limit=bad)
    with pytest.raises(WorktimeError, match="invalid cursor"):
        store.list(limit=1, cursor="%%%")


# --- bulk ------------------------------------------------------------------------------------


def test_put_many_last_duplicate_wins_without_orphans(store: KVStore) -> None:
    assert store.put_many([PutItem("k", b"1"), PutItem("j", b"x"), PutItem("k", b"2")]) == 2
    k = store.get("k")
    assert k is not None and k.value == b"2"
    assert len(blob_names(store)) == 2


def test_delete_many(store: KVStore) -> None:
    store.put_many(PutItem(f"k{i}", b"v") for i in range(10))
    assert store.delete_many(["k1", "k2", "nope", "k2"]) == 2
    assert store.count() == 8
    assert len(blob_names(store)) == 8


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_parse_bulk_put_reads_wranglers_format(project: Path) -> None:
    raw = bytes(range(256))
    path = write_json(
        project / "bulk.json",
        [
            {"key": "a", "value": "text"},
            {"key": "b", "value": base64.b64encode(raw).decode(), "base64": True},
            {"key": "c", "value": "v", "expiration_ttl": 3600.0, "metadata": {"m": 1}},
            {"key": "d", "value": "v", "expiration": int(NOW) + 100, "extra": 1},
        ],
    )
    parsed = kv.parse_bulk_put(path, now=NOW)
    assert parsed.items == (
        PutItem("a", b"text"),
        PutItem("b", raw),
        PutItem("c", b"v", expiration_ttl=3600, metadata={"m": 1}),
        PutItem("d", b"v", expiration=int(NOW) + 100),
    )
    assert parsed.warnings == ('the item at index 3 contains unexpected properties: ["extra"]',)


def test_bulk_put_reports_every_bad_item_and_writes_nothing(project: Path, store: KVStore) -> None:
    items: list[object] = [{"key": f"ok{i}", "value": "v"} for i in range(5)]
    items[1] = {"key": "a" * 513, "value": "v"}
    items[3] = {"key": "t", "value": "v", "expiration_ttl": 59}
    items.append(["not", "an", "object"])
    items.append({"key": "m", "value": "v", "metadata": metadata_of_size(1025)})
    items.append({"key": "n", "value": 5})
    items.append({"key": "b", "value": "***", "base64": True})
    path = write_json(project / "bulk.json", items)
    with pytest.raises(LimitError) as caught:
        kv.parse_bulk_put(path, now=NOW)
    lines = caught.value.message.splitlines()
    assert lines[0] == f"{path}: invalid item(s), nothing written:"
    assert [line.strip() for line in lines[1:]] == [
        "the item at index 1 (key '"
        + "a" * 60
        + "'): key is 513 bytes (UTF-8); the limit is 512 bytes",
        "the item at index 3 (key 't'): TTL of 59 seconds is below the minimum of 60 seconds",
        # Strings by length only: a bulk file holds GitHub tokens (issue 13).
        "the item at index 5 is [<string, 3 chars>, <string, 2 chars>, <string, 6 chars>]",
        "the item at index 6 (key 'm'): metadata is 1025 bytes serialised; the limit is 1024 bytes",
        'the item at index 7 is {"key": <string, 1 chars>, "value": 5}',
        "the item at index 8 (key 'b'): value is not valid base64",
    ]
    assert not store.exists  # nothing was written, not even an empty index


def test_bulk_put_shows_the_first_12_bad_items_like_wrangler(project: Path) -> None:
    path = write_json(project / "bulk.json", [{"key": i} for i in range(30)])
    with pytest.raises(LimitError) as caught:
        kv.parse_bulk_put(path)
    lines = caught.value.message.splitlines()
    assert len(lines) == 1 + 12 + 1
    assert lines[-1].strip() == "..."
    assert "(first 12 shown)" in lines[0]


def test_bulk_put_rejects_a_non_array(project: Path) -> None:
    with pytest.raises(WorktimeError, match="expected a JSON array of key-value objects, got dict"):
        kv.parse_bulk_put(write_json(project / "bulk.json", {"key": "a"}))
    (project / "broken.json").write_text("[{", encoding="utf-8")
    with pytest.raises(WorktimeError, match="is not valid JSON"):
        kv.parse_bulk_put(project / "broken.json")


def test_parse_bulk_delete(project: Path) -> None:
    assert kv.parse_bulk_delete(write_json(project / "d.json", ["a", {"name": "b"}])) == ["a", "b"]
    with pytest.raises(LimitError) as caught:
        kv.parse_bulk_delete(write_json(project / "d.json", ["a", 3, {"nom": "x"}, ".."]))
    assert [line.strip() for line in caught.value.message.splitlines()[1:]] == [
        "the item at index 1 is 3",
        'the item at index 2 is {"nom": <string, 1 chars>}',
        "the item at index 3 (key '..'): illegal key name '..': `.` and `..` are not allowed",
    ]


# --- crash leftovers and threads -------------------------------------------------------------


def test_first_write_collects_old_orphans_but_spares_young_ones(root: Path, store: KVStore) -> None:
    store.put("k", b"v")
    old = kv.new_blob_id(NOW - kv.GC_GRACE_SECONDS - 1)
    young = kv.new_blob_id(NOW - 1)
    (store.blobs_dir / old).write_bytes(b"partial")
    (store.blobs_dir / young).write_bytes(b"in flight elsewhere")
    (store.blobs_dir / "not-a-blob").write_bytes(b"")
    with KVStore(root, NS, clock=lambda: NOW) as fresh:
        fresh.put("j", b"v")
        names = blob_names(fresh)
        assert old not in names
        assert {young, "not-a-blob"} <= names
        assert fresh.gc(grace_seconds=0) == 1
        assert blob_names(fresh) == {r[1] for r in rows(fresh)} | {"not-a-blob"}


def test_a_store_can_be_shared_between_threads(root: Path) -> None:
    with KVStore(root, NS) as s:
        s.put("warm", b"up")

        def round_trip(i: int) -> bytes | None:
            key = f"health-{threading.get_ident()}-{i}"
            s.put(key, str(i).encode(), expiration_ttl=60)
            entry = s.get(key)
            s.delete(key)
            return None if entry is None else entry.value

        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(round_trip, range(40)))
        assert results == [str(i).encode() for i in range(40)]
        assert [k.name for k in s.list().keys] == ["warm"]


def test_a_store_locked_by_another_process_is_a_clear_error(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kv.store, "BUSY_TIMEOUT_SECONDS", 0.05)
    with KVStore(root, NS) as s:
        s.put("k", b"v")
        holder = sqlite3.connect(s.index_path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with (
                KVStore(root, NS) as other,
                pytest.raises(WorktimeError, match="locked by another process"),
            ):
                other.put("k", b"new")
            assert blob_names(s) == {r[1] for r in rows(s)}  # the refused value's file is gone
        finally:
            holder.execute("ROLLBACK")
            holder.close()


# --- namespaces ------------------------------------------------------------------------------


def test_create_namespace_appends_to_wrangler_toml_keeping_comments(project: Path) -> None:
    toml = project / "wrangler.toml"
    toml.write_text('# the backend\nname = "worktime-backend" # keep me\n', encoding="utf-8")
    cfg, ns = kv.create_namespace(config.load(), "KV")
    assert ns.binding == "KV" and ns.id is not None and len(ns.id) == 32 and int(ns.id, 16) >= 0
    text = toml.read_text(encoding="utf-8")
    assert text.startswith('# the backend\nname = "worktime-backend" # keep me\n')
    assert f'[[kv_namespaces]]\nbinding = "KV"\nid = "{ns.id}"\n' in text
    assert cfg.kv(binding="KV") == ns
    with pytest.raises(ConfigError, match=r"binding 'KV' already exists in wrangler\.toml"):
        kv.create_namespace(cfg, "KV")
    with pytest.raises(ConfigError, match="not a valid binding name"):
        kv.create_namespace(cfg, "1-bad")


def test_delete_namespace_removes_data_and_config(project: Path, root: Path) -> None:
    cfg, ns = kv.create_namespace(config.load(), "KV")
    with KVStore(root, ns.local_id) as s:
        s.put("k", b"v")
        index, blobs = s.index_path, s.blobs_dir
    new_cfg, existed = kv.delete_namespace(cfg, ns, root)
    assert existed
    assert new_cfg.kv_namespaces == ()
    assert not index.exists() and not blobs.exists()
    assert "kv_namespaces" not in (project / "wrangler.toml").read_text(encoding="utf-8")


def test_describe_namespaces_counts_live_keys(project: Path, root: Path) -> None:
    cfg, ns = kv.create_namespace(config.load(), "KV")
    cfg, _ = kv.create_namespace(cfg, "CACHE")
    with KVStore(root, ns.local_id) as s:
        s.put_many(PutItem(f"k{i}", b"v") for i in range(3))
    infos = {i.binding: i for i in kv.describe_namespaces(cfg, root)}
    assert (infos["KV"].exists, infos["KV"].keys) == (True, 3)
    assert (infos["CACHE"].exists, infos["CACHE"].keys) == (False, 0)


def test_value_files_are_private(store: KVStore) -> None:
    """Values are GitHub tokens: only the owner may read their files."""
    store.put("token:alice", b"gho_value")
    store.put_many([PutItem(key=f"k{i}", value=b"v") for i in range(40)])  # the batched path
    modes = {(store.blobs_dir / name).stat().st_mode & 0o777 for name in blob_names(store)}
    assert modes == {0o600}


# --- issue 10: errors by code, names with "did you mean", the local target --------------------


def test_a_message_that_mentions_locked_is_not_a_lock(tmp_path: Path) -> None:
    """Busy/locked is SQLite's error code, not the word: `unlocked_items` is no lock (issue 10)."""
    conn = sqlite3.connect(tmp_path / "x.sqlite")
    try:
        with pytest.raises(sqlite3.OperationalError) as caught:
            conn.execute("SELECT * FROM unlocked_items")
    finally:
        conn.close()
    error = kv.store._sqlite_error(caught.value, tmp_path / "x.sqlite")
    assert type(error) is WorktimeError
    assert "no such table: unlocked_items" in error.message


def test_a_really_busy_store_is_locked_by_code(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kv.store, "BUSY_TIMEOUT_SECONDS", 0.05)
    with KVStore(root, NS) as s:
        s.put("k", b"v")
        holder = sqlite3.connect(s.index_path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with KVStore(root, NS) as other, pytest.raises(LockedError) as caught:
                other.put("k", b"new")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    assert caught.value.message == f"the KV store {s.index_path.name} is locked by another process"


def test_unknown_binding_says_did_you_mean_not_create_it(project: Path) -> None:
    cfg, _ = kv.create_namespace(config.load(), "SESSIONS")
    cfg, _ = kv.create_namespace(cfg, "CACHE")
    with pytest.raises(NotFoundError) as caught:
        kv.select_binding(cfg, "SESSION")
    assert caught.value.message == (
        "KV binding 'SESSION' is not configured in wrangler.toml (configured: SESSIONS, CACHE)"
    )
    assert caught.value.hint == "did you mean 'SESSIONS'?"
    with pytest.raises(NotFoundError) as far:
        kv.select_binding(cfg, "ZZZ")
    assert far.value.hint == "did you mean 'SESSIONS' or 'CACHE'?"
    # Nothing configured at all: then creating one is the useful hint.
    (project / "none.toml").write_text('name = "w"\n', encoding="utf-8")
    with pytest.raises(NotFoundError) as empty:
        kv.select_binding(config.load(project / "none.toml"), "KV")
    assert "worktime kv namespace create KV" in (empty.value.hint or "")


def test_select_binding_by_binding_id_or_given_id(project: Path) -> None:
    cfg, ns = kv.create_namespace(config.load(), "KV")
    assert ns.id is not None
    assert kv.select_binding(cfg, "KV") == ns
    assert kv.select_binding(cfg, ns.id) == ns  # a configured id names its binding too
    assert kv.select_binding(cfg, "other-id", by_id=True).local_id == "other-id"  # as wrangler


def test_local_kv_target_round_trip(project: Path, root: Path) -> None:
    targets = kv.LocalKV(config.load())
    created = targets.create("KV")
    assert created.to_json() == {
        "binding": "KV",
        "id": created.id,
        "title": None,
        "preview_id": None,
    }
    with targets.namespace("KV") as ns:
        assert ns.put("k", b"v", expiration=2_000_000_000).to_json() == {
            "key": "k",
            "size": 1,
            "expiration": 2_000_000_000,
        }
        assert ns.delete("k") == kv.DeleteResult("k", existed=True)
        assert ns.delete("k") == kv.DeleteResult("k", existed=False)
        assert ns.bulk_put([PutItem("a", b"1"), PutItem("a", b"2")]).to_json() == {
            "written": 1,
            "requested": 2,
        }
    listed = targets.list()
    assert [(n.binding, n.keys) for n in listed.namespaces] == [("KV", 1)]
    assert listed.table()[0] == ["binding", "id", "local keys"]
    deleted = targets.delete("KV")
    assert deleted.summary() == (
        "deleted KV namespace KV (its local data) and removed it from wrangler.toml"
    )
    assert targets.list().namespaces == ()
