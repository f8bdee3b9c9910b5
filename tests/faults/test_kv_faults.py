"""Issue 13 for local KV: no lost values, bounded input, and machine faults as one-line errors."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import Runner
from tests.faults.machine import (
    PEAK_RSS,
    WORKTIME,
    as_other_user,
    assert_clean_failure,
    in_private_mounts,
)
from worktime_cli import clock, fsutil
from worktime_cli.errors import LimitError, WorktimeError
from worktime_cli.kv import (
    KVStore,
    LocalKV,
    PutItem,
    encode_metadata,
    new_blob_id,
    parse_bulk_put,
    resolve_expiration,
    validate_key,
)
from worktime_cli.project import config

NS = "5a1c0ffee5a1c0ffee5a1c0ffee5a1c0"
NOW = 1_700_000_000.0


@pytest.fixture
def kv_project(project: Path) -> Path:
    toml = project / "wrangler.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8") + f'\n[[kv_namespaces]]\nbinding = "KV"\nid = "{NS}"\n',
        encoding="utf-8",
    )
    return project


def state_root(project: Path) -> Path:
    return project / ".wrangler" / "state"


def worktime(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worktime_cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def tree(folder: Path) -> dict[str, str]:
    """Every file under `folder` with its content hash: "nothing changed" is this, equal."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# --- 1. data loss: gc and concurrent writes ----------------------------------------------------


def test_manual_gc_never_removes_a_value_a_concurrent_bulk_put_commits(kv_project: Path) -> None:
    """v1: gc during `kv bulk put` deleted files of rows that committed a moment later."""
    items = [{"key": f"k{i:05d}", "value": f"value {i} " + "x" * 2000} for i in range(4000)]
    bulk = kv_project / "bulk.json"
    bulk.write_text(json.dumps(items), encoding="utf-8")
    target = LocalKV(config.load())
    writer = subprocess.Popen(
        [sys.executable, "-m", "worktime_cli", "kv", "bulk", "put", str(bulk), "--binding", "KV"],
        cwd=kv_project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    removed = 0
    while writer.poll() is None:
        removed += target.gc("KV").removed  # the manual gc, as `kv namespace gc` runs it
    assert writer.wait(timeout=120) == 0, writer.stderr.read() if writer.stderr else ""
    removed += target.gc("KV").removed
    assert removed == 0
    with KVStore(state_root(kv_project), NS) as store:
        keys = [k.name for k in store.list().keys]
        assert len(keys) == 4000
        missing = [k for k in keys if store.get(k) is None]
    assert missing == []


def test_gc_waits_for_a_write_in_flight_even_without_grace(kv_project: Path) -> None:
    """The writers' lock: a file written but not yet committed is never an orphan."""
    with KVStore(state_root(kv_project), NS) as store:
        store.put("seed", b"1")
        orphan = store.blobs_dir / new_blob_id(clock.timestamp() - 3600)
        orphan.write_bytes(b"left by a crash")
        with store.blobs.writing():  # another write is between its files and its commit
            assert store.gc(grace_seconds=0, wait=False) == 0
            assert orphan.exists()
            done: list[int] = []
            # A second store object: its own lock file descriptor, as another process has.
            other = KVStore(state_root(kv_project), NS)
            waiter = threading.Thread(target=lambda: done.append(other.gc(grace_seconds=0)))
            waiter.start()
            time.sleep(0.3)
            assert done == [] and orphan.exists()
        waiter.join(timeout=30)
        other.close()
    assert done == [1] and not orphan.exists()


def test_manual_gc_keeps_the_grace_period_for_wrangler_dev_writes(kv_project: Path) -> None:
    with KVStore(state_root(kv_project), NS) as store:
        store.put("seed", b"1")
        young = store.blobs_dir / new_blob_id()  # wrangler dev wrote it; its row comes next
        old = store.blobs_dir / new_blob_id(clock.timestamp() - fsutil.GRACE_SECONDS - 10)
        young.write_bytes(b"in flight")
        old.write_bytes(b"orphan")
    assert LocalKV(config.load()).gc("KV").removed == 1
    assert young.exists() and not old.exists()


def test_bulk_put_syncs_only_its_own_files(
    kv_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No machine-wide os.sync(): an fsync per value file and one for their folder."""
    synced: list[int] = []
    real_fsync = os.fsync

    def no_sync() -> None:
        raise AssertionError("os.sync() flushes every process's dirty data")

    def fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "sync", no_sync)
    monkeypatch.setattr(os, "fsync", fsync)
    with KVStore(state_root(kv_project), NS) as store:
        store.create()
        synced.clear()
        assert store.put_many(PutItem(f"k{i}", b"v" * 10) for i in range(600)) == 600
        assert store.get("k599") is not None
    # 600 value files + their folder; SQLite's own syncs go through its C code, not os.fsync.
    assert len(synced) == 601


# --- 2. limits -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ttl", "expiration", "message"),
    [
        (
            9223372036854775808,
            None,
            "TTL of 9223372036854775808 seconds ends after the latest expiration KV can store "
            "(8640000000000 seconds since the epoch)",
        ),
        (
            None,
            10**17,
            "expiration 100000000000000000 is after the latest KV can store "
            "(8640000000000 seconds since the epoch)",
        ),
        (
            10**400,
            None,
            "TTL of (a number of about 401 digits) seconds ends after the latest expiration KV "
            "can store (8640000000000 seconds since the epoch)",
        ),
    ],
)
def test_out_of_range_expirations_are_one_line_errors(
    ttl: int | None, expiration: int | None, message: str
) -> None:
    with pytest.raises(LimitError) as caught:
        resolve_expiration(ttl, expiration, NOW)
    assert caught.value.message == message


def test_cli_ttl_out_of_range(kv_project: Path, cli: Runner) -> None:
    result = cli("kv", "key", "put", "k", "v", "--binding", "KV", "--ttl", "9223372036854775808")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: TTL of 9223372036854775808 seconds ends after")
    assert not KVStore(state_root(kv_project), NS).exists


@pytest.mark.parametrize("number", ["1e300", "99999999999999999999", "1e400"])
def test_bulk_expiration_numbers_out_of_range(kv_project: Path, number: str) -> None:
    bulk = kv_project / "bulk.json"
    bulk.write_text(f'[{{"key": "a", "value": "b", "expiration_ttl": {number}}}]', encoding="utf-8")
    with pytest.raises(LimitError) as caught:
        parse_bulk_put(bulk, NOW)
    assert caught.value.message.count("\n") == 1  # the one bad item, on its own line
    assert "the item at index 0" in caught.value.message


def test_deeply_nested_bulk_file_is_one_error(kv_project: Path, cli: Runner) -> None:
    bulk = kv_project / "deep.json"
    bulk.write_text("[" * 3000 + "]" * 3000, encoding="utf-8")
    result = cli("kv", "bulk", "put", str(bulk), "--binding", "KV")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"error: {bulk} is nested too deeply to read as JSON"


def test_deeply_nested_metadata_is_one_error() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(3000):
        node["a"] = {}
        node = node["a"]  # type: ignore[assignment]  # building the nesting
    with pytest.raises(LimitError, match="nested too deeply"):
        encode_metadata(deep)


def test_bulk_put_from_dev_zero_stops_at_the_limit_with_bounded_memory(kv_project: Path) -> None:
    """v1 grew past 6 GB: now the read stops at Cloudflare's 100 MB bulk request limit."""
    code = (
        PEAK_RSS + "import sys\n"
        "from worktime_cli.cli.app import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    sys.stderr.write(f'exit {exc.code}\\n')\n"
        "    sys.stderr.write(f'rss {peak_rss_kib()}\\n')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "kv", "bulk", "put", "/dev/zero", "--binding", "KV"],
        cwd=kv_project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = result.stderr.splitlines()
    assert lines[0] == (
        "error: /dev/zero: a bulk file (Cloudflare's request limit) is larger than the limit of "
        "100,000,000 bytes"
    )
    assert "exit 1" in lines
    rss_kib = int(next(line for line in lines if line.startswith("rss ")).split()[1])
    assert rss_kib < 200 * 1024


def test_a_key_that_is_not_utf8_is_refused_without_echoing_it(
    kv_project: Path, cli: Runner
) -> None:
    key = "sk\udcffSECRETKEY"  # argv bytes b"sk\xffSECRETKEY" decode to this
    result = cli("kv", "key", "put", key, "v", "--binding", "KV")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "error: the key is not valid UTF-8 text (character 3 is an undecodable byte or a lone "
        "surrogate)"
    )
    assert "SECRETKEY" not in result.output
    with pytest.raises(LimitError):
        validate_key("\ud800")


def test_argv_bytes_that_are_not_utf8_in_a_real_process(kv_project: Path) -> None:
    argv = [os.fsencode(sys.executable), b"-m", b"worktime_cli", b"kv", b"key", b"get"]
    result = subprocess.run(
        [*argv, b"a\xffTOKENb", b"--binding", b"KV"], cwd=kv_project, capture_output=True
    )
    assert result.returncode == 1
    assert result.stderr.decode().startswith("error: the key is not valid UTF-8 text")
    assert b"TOKEN" not in result.stderr + result.stdout


def test_lone_surrogates_in_a_bulk_file_are_refused_without_echoing(kv_project: Path) -> None:
    bulk = kv_project / "bulk.json"
    bulk.write_text(
        '[{"key": "a", "value": "ghp_\\ud800SECRET"}, {"key": "\\udfffKEY", "value": "x"}]',
        encoding="utf-8",
    )
    with pytest.raises(LimitError) as caught:
        parse_bulk_put(bulk, NOW)
    assert "SECRET" not in caught.value.message and "KEY" not in caught.value.message
    assert caught.value.message.splitlines()[1:] == [
        "  the item at index 0 (key 'a'): the value is not valid UTF-8 text (character 5 is an "
        "undecodable byte or a lone surrogate)",
        "  the item at index 1 (a key that is not valid UTF-8): the key is not valid UTF-8 text "
        "(character 1 is an undecodable byte or a lone surrogate)",
    ]


# --- 3. faults of the machine ----------------------------------------------------------------


def test_corrupted_kv_index_is_one_error_and_left_alone(kv_project: Path) -> None:
    with KVStore(state_root(kv_project), NS) as store:
        store.put("k", b"v")
        index = store.index_path
    for suffix in ("-wal", "-shm"):
        Path(f"{index}{suffix}").unlink(missing_ok=True)
    index.write_bytes(b"this is not a database " * 100)
    before = tree(state_root(kv_project))
    for args in (("get", "k"), ("put", "k", "w"), ("list",)):
        result = worktime("kv", "key", *args, "--binding", "KV", cwd=kv_project)
        assert_clean_failure(result, str(index), "not a SQLite database")
    assert tree(state_root(kv_project)) == before


def test_value_file_replaced_by_a_folder(kv_project: Path) -> None:
    with KVStore(state_root(kv_project), NS) as store:
        store.put("k", b"v")
        (blob,) = list(store.blobs_dir.iterdir())
    blob.unlink()
    blob.mkdir()
    result = worktime("kv", "key", "get", "k", "--binding", "KV", cwd=kv_project)
    assert_clean_failure(result, f"cannot read {blob}: Is a directory", "move the folder aside")


def test_disk_full_while_writing_a_value(kv_project: Path) -> None:
    """A 2 MiB tmpfs holds the state; a 4 MiB value cannot fit: error, and nothing changed."""
    mnt = kv_project / "state"
    mnt.mkdir()
    value = kv_project / "big.bin"
    value.write_bytes(os.urandom(4 << 20))
    script = f"""
mount -t tmpfs -o size=2m tmpfs {mnt}
{WORKTIME} kv key put small tiny --binding KV --persist-to {mnt}
find {mnt} -type f | sort | xargs sha256sum > {kv_project}/before.txt
set +e
{WORKTIME} kv key put big --path {value} --binding KV --persist-to {mnt} 2> {kv_project}/err.txt
echo $? > {kv_project}/rc.txt
set -e
find {mnt} -type f | sort | xargs sha256sum > {kv_project}/after.txt
{WORKTIME} kv key get small --binding KV --persist-to {mnt} > {kv_project}/small.txt
"""
    done = in_private_mounts(script, cwd=kv_project)
    assert done.returncode == 0, done.stderr
    result = subprocess.CompletedProcess(
        [], int((kv_project / "rc.txt").read_text()), "", (kv_project / "err.txt").read_text()
    )
    assert_clean_failure(result, "No space left on device", str(mnt), "disk is full")
    before = (kv_project / "before.txt").read_text()
    after = (kv_project / "after.txt").read_text()
    # SQLite may have rewritten its -shm; no value file was added, none lost.
    blobs = [line for line in after.splitlines() if "/blobs/" in line]
    assert blobs == [line for line in before.splitlines() if "/blobs/" in line]
    assert (kv_project / "small.txt").read_text() == "tiny"


def test_file_size_limit_exceeded_while_writing_a_value(kv_project: Path) -> None:
    value = kv_project / "big.bin"
    value.write_bytes(os.urandom(2 << 20))
    with KVStore(state_root(kv_project), NS) as store:
        store.put("seed", b"1")
    before = tree(state_root(kv_project) / "v3" / "kv" / NS)
    command = f"ulimit -f 1024; exec {WORKTIME} kv key put big --path {shlex.quote(str(value))} --binding KV"
    result = subprocess.run(
        ["sh", "-c", command], cwd=kv_project, capture_output=True, text=True, timeout=120
    )
    assert_clean_failure(result, "File too large", "ulimit -f")
    assert tree(state_root(kv_project) / "v3" / "kv" / NS) == before


def test_read_only_state_folder(kv_project: Path) -> None:
    """The project's state folder on a tmpfs remounted read-only: errors, nothing changed."""
    mnt = kv_project / ".wrangler"
    mnt.mkdir()
    toml = kv_project / "wrangler.toml"
    script = f"""
mount -t tmpfs -o size=8m tmpfs {mnt}
{WORKTIME} kv key put k v --binding KV
find {mnt} -type f | sort | xargs sha256sum > {kv_project}/before.txt
mount -o remount,ro {mnt}
set +e
{WORKTIME} kv key put k2 v2 --binding KV 2> {kv_project}/put.txt
echo $? > {kv_project}/put.rc
{WORKTIME} kv namespace create NEWKV 2> {kv_project}/create.txt
echo $? > {kv_project}/create.rc
set -e
find {mnt} -type f | sort | xargs sha256sum > {kv_project}/after.txt
"""
    before_toml = toml.read_bytes()
    done = in_private_mounts(script, cwd=kv_project)
    assert done.returncode == 0, done.stderr
    for name in ("put", "create"):
        result = subprocess.CompletedProcess(
            [],
            int((kv_project / f"{name}.rc").read_text()),
            "",
            (kv_project / f"{name}.txt").read_text(),
        )
        assert_clean_failure(result, str(mnt))
    assert "read-only" in (kv_project / "put.txt").read_text().lower()
    assert "Read-only file system" in (kv_project / "create.txt").read_text()
    assert toml.read_bytes() == before_toml  # the namespace was not added to the config
    assert (kv_project / "after.txt").read_text() == (kv_project / "before.txt").read_text()


def test_kv_namespace_create_rolls_back_its_state_when_the_config_edit_fails(
    kv_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worktime_cli.kv import namespaces

    def broken(*_args: object, **_kwargs: object) -> None:
        raise WorktimeError("the edit failed")

    monkeypatch.setattr(namespaces, "append_table", broken)
    toml_before = (kv_project / "wrangler.toml").read_bytes()
    with pytest.raises(WorktimeError, match="the edit failed"):
        LocalKV(config.load()).create("NEWKV")
    kv_folder = state_root(kv_project) / "v3" / "kv"
    # The folders made to prove the state writable are gone again; the config is as it was.
    assert [p.name for p in kv_folder.iterdir() if p.name != "miniflare-KVNamespaceObject"] == []
    assert (kv_project / "wrangler.toml").read_bytes() == toml_before


def test_state_owned_by_another_user(kv_project: Path) -> None:
    """Run as `nobody` against root's state: an error naming the path, nothing changed."""
    from tests.faults.machine import open_folder

    shared = open_folder()
    project = shared / "project"
    project.mkdir()
    (project / "wrangler.toml").write_text((kv_project / "wrangler.toml").read_text())
    root = project / ".wrangler" / "state"
    with KVStore(root, NS) as store:
        store.put("k", b"v")
    for path in [root, *root.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)
    before = tree(root)
    argv = [sys.executable, "-m", "worktime_cli"]
    for args in (["kv", "key", "get", "k"], ["kv", "key", "put", "k", "w"]):
        result = as_other_user([*argv, *args, "--binding", "KV"], cwd=project, home=shared)
        assert_clean_failure(result, str(root))
    assert tree(root) == before
