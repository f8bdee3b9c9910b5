"""SIGKILL a real `worktime kv bulk put` part-way: the store must stay whole.

Whatever the moment of the kill, every row must point at a complete value file holding
either the key's old value or its new one; leftovers are only unreferenced files, which
`gc` removes.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from worktime_cli.kv import KVStore, PutItem

NS = "0f2ac74b498b48028cb68387c421e279"
KEYS = 50_000
PREEXISTING = 2_000  # keys that already hold an old value before the bulk put


def old_value(i: int) -> bytes:
    return f"old-{i}".encode()


def new_value(i: int) -> bytes:
    # Sizes vary so a truncated file cannot pass for a whole one.
    return f"new-{i}-".encode() + bytes([i % 251]) * (i % 700)


def check_consistent(root: Path) -> tuple[int, int]:
    """Every row's file exists and is exactly the old or the new value; returns (new, old) counts."""
    fresh = old = 0
    with KVStore(root, NS) as store:
        page = store.list()
        for info in page.keys:
            i = int(info.name[1:])
            entry = store.get(info.name)
            assert entry is not None, f"row {info.name} has no readable value file"
            if entry.value == new_value(i):
                fresh += 1
            else:
                assert i < PREEXISTING and entry.value == old_value(i), (
                    f"{info.name} holds a torn value"
                )
                old += 1
        assert len(page.keys) in (PREEXISTING, KEYS)
    return fresh, old


def count_files(path: Path) -> int:
    try:
        return sum(1 for _ in os.scandir(path))
    except FileNotFoundError:
        return 0


@pytest.mark.slow
def test_sigkill_during_bulk_put_never_tears_the_store(project: Path) -> None:
    toml = project / "wrangler.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8") + f'\n[[kv_namespaces]]\nbinding = "KV"\nid = "{NS}"\n',
        encoding="utf-8",
    )
    root = project / ".wrangler" / "state"
    with KVStore(root, NS) as store:
        store.put_many(PutItem(f"k{i:05d}", old_value(i)) for i in range(PREEXISTING))
        blobs = store.blobs_dir
    # Binary values travel as base64, as wrangler's format allows.
    items = [
        {"key": f"k{i:05d}", "value": base64.b64encode(new_value(i)).decode(), "base64": True}
        for i in range(KEYS)
    ]
    bulk = project / "bulk.json"
    bulk.write_text(json.dumps(items), encoding="utf-8")
    argv = [sys.executable, "-m", "worktime_cli", "kv", "bulk", "put", str(bulk), "--binding", "KV"]

    killed = 0
    # Kill a third of the way through the value files, then once they are all written (during
    # the sync / insert / commit). Each run is slow on a busy disk, so two kills only.
    for fraction in (0.3, 1.0):
        with KVStore(root, NS) as store:
            store.gc(grace_seconds=0)
        baseline = count_files(blobs)
        target = baseline + int(KEYS * fraction)
        proc = subprocess.Popen(
            argv, cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 300
        while proc.poll() is None and count_files(blobs) < target and time.monotonic() < deadline:
            time.sleep(0.02)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait(timeout=60)
        if proc.returncode == 0:
            # It finished before the kill landed: then every key must hold its new value.
            assert check_consistent(root) == (KEYS, 0)
            continue
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
        # One transaction: all new or all old, and every row readable and whole.
        assert check_consistent(root) in ((0, PREEXISTING), (KEYS, 0))
    assert killed >= 1

    # What a kill leaves behind is only unreferenced files, and gc removes exactly those.
    with KVStore(root, NS) as store:
        store.gc(grace_seconds=0)
        assert count_files(blobs) == len(store.list().keys)
    assert subprocess.run(
        [sys.executable, "-m", "worktime_cli", "kv", "key", "get", "k00001", "--binding", "KV"],
        cwd=project,
        capture_output=True,
        check=True,
    ).stdout in (old_value(1), new_value(1))
