"""worktime and the real wrangler 4 read and write the same local KV store."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from worktime_cli.kv import KVStore

NS = "0f2ac74b498b48028cb68387c421e279"

pytestmark = [pytest.mark.wrangler, pytest.mark.slow]


@pytest.fixture
def bound(project: Path) -> Path:
    toml = project / "wrangler.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8") + f'\n[[kv_namespaces]]\nbinding = "KV"\nid = "{NS}"\n',
        encoding="utf-8",
    )
    return project


def run_wrangler(wrangler: str, project: Path, *args: str) -> bytes:
    out = subprocess.run(
        [wrangler, *args],
        cwd=project,
        capture_output=True,
        timeout=120,
        check=False,
        env={**os.environ, "WRANGLER_SEND_METRICS": "false", "CI": "true"},
    )
    assert out.returncode == 0, out.stderr.decode(errors="replace")[-2000:]
    return out.stdout


def test_worktime_writes_wrangler_reads(wrangler: str, bound: Path) -> None:
    value = bytes(range(256)) * 4
    before = int(time.time())
    with KVStore(bound / ".wrangler" / "state", NS) as store:
        store.put("bin", value, expiration_ttl=3600, metadata={"user": 1, "tag": "é"})
        store.put("plain", b"hello")
    assert (
        run_wrangler(wrangler, bound, "kv", "key", "get", "bin", "--binding", "KV", "--local")
        == value
    )
    listed = json.loads(
        run_wrangler(wrangler, bound, "kv", "key", "list", "--binding", "KV", "--local")
    )
    assert listed[1] == {"name": "plain"}
    assert listed[0]["name"] == "bin"
    assert listed[0]["metadata"] == {"user": 1, "tag": "é"}
    assert before + 3600 <= listed[0]["expiration"] <= int(time.time()) + 3600


def test_wrangler_writes_worktime_reads(wrangler: str, bound: Path, cli) -> None:
    (bound / "value.bin").write_bytes(b"\x00\xffwrangler\n")
    run_wrangler(
        wrangler,
        bound,
        "kv",
        "key",
        "put",
        "w",
        "--path",
        "value.bin",
        "--binding",
        "KV",
        "--local",
        "--ttl",
        "600",
        "--metadata",
        '{"from":"wrangler"}',
    )
    entry = KVStore(bound / ".wrangler" / "state", NS).get("w")
    assert entry is not None
    assert entry.value == b"\x00\xffwrangler\n"
    assert entry.metadata == {"from": "wrangler"}
    assert entry.expiration is not None and entry.expiration > time.time() + 500
    # The CLI too, and our later writes land in the same store wrangler created.
    result = cli("kv", "key", "put", "ours", "v", "--binding", "KV")
    assert result.exit_code == 0, result.output
    assert [k.name for k in KVStore(bound / ".wrangler" / "state", NS).list().keys] == ["ours", "w"]


def test_store_created_by_either_tool_has_the_same_schema(
    wrangler: str, bound: Path, tmp_path: Path
) -> None:
    run_wrangler(wrangler, bound, "kv", "key", "put", "k", "v", "--binding", "KV", "--local")
    theirs = bound / ".wrangler" / "state"
    ours = tmp_path / "ours"
    with KVStore(ours, NS) as store:
        store.put("k", b"v")

    def schema(root: Path) -> list[tuple[str, str, str | None]]:
        with sqlite3.connect(KVStore(root, NS).index_path) as conn:
            return conn.execute(
                "SELECT type, name, sql FROM sqlite_master ORDER BY name"
            ).fetchall()

    assert schema(ours) == schema(theirs)
    assert {p.name for p in (ours / "v3" / "kv").iterdir()} <= {
        p.name for p in (theirs / "v3" / "kv").iterdir()
    }
