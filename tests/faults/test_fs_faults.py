"""Issue 13: the one file mechanism (fsutil): atomic writes, special files, bounded reads, temps."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.faults.machine import PEAK_RSS, require_root
from worktime_cli import fsutil
from worktime_cli.errors import LimitError, WorktimeError
from worktime_cli.project import config


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An empty folder (tmp_path also holds the autouse project and HOME)."""
    path = tmp_path / "files"
    path.mkdir()
    return path


def read_fifo_in_background(fifo: Path) -> tuple[threading.Thread, list[bytes]]:
    got: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as handle:
            got.append(handle.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader, got


def test_write_atomic_replaces_a_regular_file_and_keeps_its_mode(folder: Path) -> None:
    target = folder / "out.txt"
    target.write_bytes(b"old")
    target.chmod(0o640)
    fsutil.write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in folder.iterdir()) == ["out.txt"]


def test_write_atomic_writes_into_a_fifo_and_leaves_it_a_fifo(folder: Path) -> None:
    fifo = folder / "pipe"
    os.mkfifo(fifo)
    reader, got = read_fifo_in_background(fifo)
    fsutil.write_atomic(fifo, b"through the pipe")
    reader.join(timeout=10)
    assert got == [b"through the pipe"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert sorted(p.name for p in folder.iterdir()) == ["pipe"]


def test_config_write_atomic_is_the_same_function() -> None:
    assert config.write_atomic is fsutil.write_atomic


def test_writing_to_a_full_device_is_an_error_and_the_device_stays(folder: Path) -> None:
    require_root("make a private /dev/full node with mknod")
    full = folder / "full"
    os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    with pytest.raises(WorktimeError) as caught:
        fsutil.write_atomic(full, b"x" * 10_000)
    assert caught.value.message == f"cannot write {full}: No space left on device"
    assert caught.value.hint is not None and "disk is full" in caught.value.hint
    assert stat.S_ISCHR(full.stat().st_mode)


def test_a_failed_write_leaves_the_old_file_and_no_temp(folder: Path) -> None:
    target = folder / "out.txt"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), fsutil.atomic_output(target) as out:
        out.write(b"half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in folder.iterdir()) == ["out.txt"]


def test_a_folder_in_the_way_is_one_error(folder: Path) -> None:
    (folder / "dir").mkdir()
    with pytest.raises(WorktimeError, match="it is a folder"):
        fsutil.write_atomic(folder / "dir", b"x")


def test_os_error_names_the_path_and_a_fix_for_each_machine_fault() -> None:
    for code, words in [
        (errno.ENOSPC, "disk is full"),
        (errno.EFBIG, "ulimit -f"),
        (errno.EACCES, "owner and mode"),
        (errno.EROFS, "read-only"),
        (errno.ELOOP, "symbolic link"),
        (errno.EISDIR, "folder"),
    ]:
        error = fsutil.os_error(OSError(code, os.strerror(code)), Path("/x/y"))
        assert error.message == f"cannot write /x/y: {os.strerror(code)}"
        assert error.hint is not None and words in error.hint


def test_read_bounded_stops_at_the_limit_on_an_endless_device() -> None:
    with pytest.raises(LimitError) as caught:
        fsutil.read_bounded(Path("/dev/zero"), 1 << 20, "the value")
    assert (
        caught.value.message == "/dev/zero: the value is larger than the limit of 1,048,576 bytes"
    )


def test_read_bounded_reads_a_fifo_and_a_regular_file(folder: Path) -> None:
    regular = folder / "f"
    regular.write_bytes(b"abc")
    assert fsutil.read_bounded(regular, 3) == b"abc"
    with pytest.raises(LimitError):
        fsutil.read_bounded(regular, 2)
    fifo = folder / "pipe"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as handle:
            handle.write(b"x" * 100_000)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    assert fsutil.read_bounded(fifo, 100_000) == b"x" * 100_000
    writer.join(timeout=10)


def test_read_bounded_on_a_folder_and_a_missing_file(folder: Path) -> None:
    with pytest.raises(WorktimeError) as caught:
        fsutil.read_bounded(folder, 10)
    assert caught.value.message == f"cannot read {folder}: Is a directory"
    with pytest.raises(WorktimeError, match="not found"):
        fsutil.read_bounded(folder / "missing", 10)


def test_read_bounded_memory_stays_at_the_limit() -> None:
    """25 MiB from /dev/zero: peak RSS of a fresh interpreter stays near the limit (v1: 6 GB+)."""
    code = (
        PEAK_RSS + "import sys\n"
        "from pathlib import Path\n"
        "from worktime_cli.kv import read_value_file\n"
        "from worktime_cli.errors import LimitError\n"
        "try:\n"
        "    read_value_file(Path('/dev/zero'))\n"
        "except LimitError as exc:\n"
        "    print(exc.message)\n"
        "print(peak_rss_kib())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()
    assert out[0] == (
        "/dev/zero: the value (KV's limit is 25 MiB) is larger than the limit of 26,214,400 bytes"
    )
    assert int(out[1]) < 150 * 1024  # KiB


def test_temp_names_are_recognised_and_cleaned_only_after_the_grace_period(folder: Path) -> None:
    target = folder / "db.sqlite"
    old = fsutil.temp_path(target)
    young = fsutil.temp_path(target)
    assert old != young and fsutil.is_temp(old.name)
    old_journal = old.with_name(old.name + "-journal")
    for path in (old, young, old_journal, target):
        path.write_bytes(b"x")
    past = time.time() - fsutil.GRACE_SECONDS - 5
    for path in (old, old_journal):
        os.utime(path, (past, past))
    assert fsutil.clean_temps(folder) == 2
    assert sorted(p.name for p in folder.iterdir()) == sorted([young.name, target.name])
