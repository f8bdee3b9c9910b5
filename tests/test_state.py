from __future__ import annotations

import hashlib
import hmac
import re

from hypothesis import given
from hypothesis import strategies as st

from worktime_cli.project import state
from worktime_cli.project.config import parse

# Checked against the files wrangler 4.86 itself created.
D1_VECTOR = (
    "00000000-0000-4000-8000-000000000001",
    "37202af4a48e51a6f9bf1676145f85cdbaaf76a4a51b95f5120b328bf5460e72",
)
KV_VECTOR = (
    "0f2ac74b498b48028cb68387c421e279",
    "604730949a2c43a4da6de962297f3c7fde76c71aeecb9720bc4cf749a8259307",
)


def test_d1_vector():
    assert state.durable_object_id(state.D1_UNIQUE_KEY, D1_VECTOR[0]) == D1_VECTOR[1]


def test_kv_vector():
    assert state.durable_object_id(state.KV_UNIQUE_KEY, KV_VECTOR[0]) == KV_VECTOR[1]


@given(
    st.text(min_size=1, max_size=80), st.sampled_from([state.D1_UNIQUE_KEY, state.KV_UNIQUE_KEY])
)
def test_id_is_a_valid_workerd_id(name, unique_key):
    """workerd accepts an id only if its second half is the MAC of its first half."""
    doid = state.durable_object_id(unique_key, name)
    assert re.fullmatch(r"[0-9a-f]{64}", doid)
    first, second = bytes.fromhex(doid[:32]), bytes.fromhex(doid[32:])
    key = hashlib.sha256(unique_key.encode()).digest()
    assert hmac.new(key, first, hashlib.sha256).digest()[:16] == second
    assert state.durable_object_id(unique_key, name) == doid  # deterministic


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_distinct_names_get_distinct_files(a, b):
    if a != b:
        assert state.durable_object_id(state.D1_UNIQUE_KEY, a) != state.durable_object_id(
            state.D1_UNIQUE_KEY, b
        )


def test_d1_path_uses_preview_id_then_id_then_binding(tmp_path):
    text = """
[[d1_databases]]
binding = "A"
database_name = "a"
database_id = "id-a"
preview_database_id = "preview-a"

[[d1_databases]]
binding = "B"
database_name = "b"
database_id = "id-b"

[[d1_databases]]
binding = "C"
database_name = "c"
"""
    cfg = parse(tmp_path / "wrangler.toml", text)
    root = state.root(cfg)
    assert root == tmp_path / ".wrangler" / "state"
    names = [state.d1_path(root, db.local_id).name for db in cfg.d1_databases]
    expected = [
        state.durable_object_id(state.D1_UNIQUE_KEY, n) + ".sqlite"
        for n in ("preview-a", "id-b", "C")
    ]
    assert names == expected
    assert state.d1_path(root, "x").parent == root / "v3" / "d1" / "miniflare-D1DatabaseObject"


def test_persist_to_replaces_the_state_root(tmp_path):
    cfg = parse(tmp_path / "wrangler.toml", "")
    assert state.root(cfg, tmp_path / "elsewhere") == tmp_path / "elsewhere"


def test_snapshot_folder_never_leaves_the_state_root(tmp_path):
    """Database names come from wrangler.toml: a hostile one must not pick the folder."""
    root = tmp_path / "state"
    assert (
        state.d1_snapshot_dir(root, "worktime-db")
        == root / "v3" / "d1" / "snapshots" / "worktime-db"
    )
    for name in ("../../esc", "/abs/path", "..", "a/b", ""):
        folder = state.d1_snapshot_dir(root, name)
        assert folder.parent == root / "v3" / "d1" / "snapshots"
        assert re.fullmatch(r"[0-9a-f]{64}", folder.name)
