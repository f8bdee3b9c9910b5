"""Files the one way: atomic writes, bounded reads, temp files, and OSError as a user error.

- `atomic_output` / `write_atomic`: readers see the old file or the new one, never a mix. A
  target that exists and is not a regular file (a FIFO, `/dev/null`, `/dev/full`, a tty) is
  written into directly and never renamed over: replacing `/dev/full` with a regular file
  (issue 13) is worse than any torn write.
- `read_bounded`: read at most `limit` bytes, refusing as soon as more arrive, so
  `/dev/zero` or an endless FIFO costs `limit` bytes of memory, not all of it.
- Temporary files are named `.<name>.<random>.worktime-tmp` next to their target, and every
  folder we write temp files into is swept by `clean_temps` on the next run: a temp file
  (with any SQLite `-journal`/`-wal`/`-shm` of its own) older than `GRACE_SECONDS` belongs to
  a run that died.
- `GRACE_SECONDS` is the one grace rule of every cleanup (KV gc, temp files): anything younger
  may belong to a write still in flight in another process.
- `os_error`: one translation of OSError into `WorktimeError`, naming the path and a fix.
- `open_by`: which other processes hold a file open (a database we must not unlink).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from worktime_cli.errors import LimitError, WorktimeError

GRACE_SECONDS = 60
TEMP_SUFFIX = ".worktime-tmp"
# SQLite puts its own side files next to a temp database we write (a snapshot in progress).
_TEMP_NAME = re.compile(r"^\..+\.worktime-tmp(?:-journal|-wal|-shm)?$")
_READ_CHUNK = 1 << 20


# --- errors ----------------------------------------------------------------------------------

_FIXES: dict[int, str] = {
    errno.ENOSPC: "the disk is full: free some space, then run the command again",
    errno.EDQUOT: "your disk quota is used up: free some space, then run the command again",
    errno.EFBIG: "the file is larger than this process may write (ulimit -f): raise the limit",
    errno.EACCES: "you lack permission: check the owner and mode (ls -l), "
    "or run as the user who owns it",
    errno.EPERM: "the operation is not permitted: check the owner and mode (ls -l)",
    errno.EROFS: "the file system is read-only: use a writable folder (e.g. --persist-to DIR)",
    errno.ELOOP: "a symbolic link points (indirectly) at itself: fix or remove the link",
    errno.EISDIR: "a folder is where a file should be: move the folder aside",
    errno.ENOTDIR: "a file is where a folder should be: move the file aside",
    errno.ENAMETOOLONG: "the name is longer than the file system allows: choose a shorter one",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n)",
    errno.EIO: "the disk reported an I/O error: check the device",
}


def os_error(exc: OSError, path: Path | str | None = None, action: str = "write") -> WorktimeError:
    """`cannot <action> <path>: <reason>` with a fix for the errno, as a `WorktimeError`."""
    where = path if path is not None else exc.filename
    reason = exc.strerror or type(exc).__name__
    fix = _FIXES.get(exc.errno or 0)
    return WorktimeError(f"cannot {action} {where}: {reason}", hint=fix)


@contextlib.contextmanager
def translated(path: Path | str, action: str = "write") -> Iterator[None]:
    """Turn an OSError raised in the block into `os_error(exc, path, action)`."""
    try:
        yield
    except OSError as exc:
        raise os_error(exc, path, action) from None


def is_file(path: Path) -> bool:
    """`path.is_file()`, but a folder we may not enter is an error naming it, not a crash."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise os_error(exc, path, "open") from None


# --- temp files and their cleanup ------------------------------------------------------------


def temp_path(target: Path) -> Path:
    """A fresh temporary name beside `target`, which `clean_temps` recognises."""
    return target.with_name(f".{target.name}.{os.urandom(6).hex()}{TEMP_SUFFIX}")


def is_temp(name: str) -> bool:
    return _TEMP_NAME.match(name) is not None


def clean_temps(
    folder: Path, *, grace_seconds: float = GRACE_SECONDS, also: re.Pattern[str] | None = None
) -> int:
    """Remove temp files in `folder` older than the grace period (a killed run's); how many went.

    `also` matches older names of a folder that is ours alone (v1's `.NAME.tmp` snapshots).
    """
    cutoff = time.time() - grace_seconds
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return 0
    for entry in entries:
        if not is_temp(entry.name) and (also is None or not also.match(entry.name)):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_mtime > cutoff:
                continue
            os.unlink(entry.path)
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            continue
        removed += 1
    return removed


# --- other processes ---------------------------------------------------------------------------


def open_by(paths: Iterable[Path]) -> list[tuple[int, str]]:
    """Other processes that have one of `paths` open: (PID, command name), oldest PID first.

    Read from /proc (Linux), by device and inode, so another name for the same file counts.
    Empty where /proc is missing or a process's descriptors are not ours to read.
    """
    wanted = set()
    for path in paths:
        with contextlib.suppress(OSError):
            found = os.stat(path)
            wanted.add((found.st_dev, found.st_ino))
    if not wanted:
        return []
    try:
        pids = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
    except OSError:
        return []
    holders = []
    for pid in pids:
        if pid == os.getpid():
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:  # gone, or another user's
            continue
        for fd in fds:
            try:
                found = os.stat(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if (found.st_dev, found.st_ino) in wanted:
                holders.append((pid, _command_name(pid)))
                break
    return holders


def in_use_by(paths: Iterable[Path]) -> str:
    """`PID 123 (workerd), PID 456 (sqlite3)`: who holds one of `paths` open ('': none seen)."""
    return ", ".join(f"PID {pid} ({name})" for pid, name in open_by(paths))


def _command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return "?"


# --- writing -----------------------------------------------------------------------------------


def fsync_dir(folder: Path) -> None:
    """Make the names in `folder` durable (a rename or a new file is not, until this)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _special(path: Path) -> bool:
    """True when `path` exists and is not a regular file (FIFO, device, socket)."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return False
    if stat.S_ISDIR(mode):
        raise WorktimeError(
            f"cannot write {path}: it is a folder", hint="give a file name, not a folder"
        )
    return not stat.S_ISREG(mode)


@contextlib.contextmanager
def atomic_output(path: Path, mode: int | None = None) -> Iterator[BinaryIO]:
    """A binary file whose content replaces `path` only if the block completes.

    Regular files: written to a temp name, fsynced, given `mode` (else the old file's mode,
    else 0666 & ~umask), renamed over `path`, and the folder fsynced. A FIFO or device is
    opened and written directly. OSErrors become `os_error` naming `path`.
    """
    try:
        special = _special(path)
        if special:
            with open(path, "wb") as out:
                yield out
            return
        tmp = temp_path(path)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise os_error(exc, path) from None
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        elif path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
        with contextlib.suppress(OSError):  # some file systems refuse fsync on folders
            fsync_dir(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise os_error(exc, path) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write `data` to `path` so readers see the old file or the new one, never a mix."""
    with atomic_output(path, mode) as out:
        out.write(data)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- reading -----------------------------------------------------------------------------------


def read_bounded(path: Path, limit: int, what: str = "the file") -> bytes:
    """At most `limit` bytes of `path`; `LimitError` as soon as byte `limit + 1` arrives.

    Works on FIFOs and devices (their size is unknown until read). Memory stays at `limit`.
    """
    try:
        # O_NONBLOCK: opening a FIFO nobody writes to returns at once instead of hanging
        # (then `_wait_for_writer` waits, bounded); cleared right after, so reads block as usual.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        os.set_blocking(fd, True)
        with open(fd, "rb", buffering=0) as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if stat.S_ISDIR(mode):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
            if stat.S_ISREG(mode):
                # One read returns the whole file (no copy); one byte more tells "too big".
                data = handle.read(limit + 1)
                while len(data) <= limit and (more := handle.read(limit + 1 - len(data))):
                    data += more  # a short read (signal, network file system): rare
                if len(data) > limit:
                    raise _too_big(path, what, limit)
                return data
            if stat.S_ISFIFO(mode):
                _wait_for_writer(fd, path)
            buffer = bytearray()
            while chunk := handle.read(min(_READ_CHUNK, limit + 1 - len(buffer))):
                buffer += chunk
                if len(buffer) > limit:
                    raise _too_big(path, what, limit)
            return bytes(buffer)
    except FileNotFoundError:
        raise WorktimeError(f"{path} not found") from None
    except IsADirectoryError:
        raise WorktimeError(
            f"cannot read {path}: Is a directory", hint="give a file, not a folder"
        ) from None
    except OSError as exc:
        raise os_error(exc, path, "read") from None


def _wait_for_writer(fd: int, path: Path) -> None:
    """Wait (bounded) until a FIFO's writer has written or closed: a read before that sees EOF.

    A writer that starts a moment after us is the usual case (`mkfifo p; cmd > p &`); one that
    never comes would otherwise hang us, so after `WORKTIME_FIFO_TIMEOUT` seconds (10) it is an
    error naming the pipe.
    """
    import select

    timeout = float(os.environ.get("WORKTIME_FIFO_TIMEOUT", "10"))
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP)
    if not poller.poll(int(timeout * 1000)):
        raise WorktimeError(
            f"nothing was written to the pipe {path} within {timeout:g} s",
            hint="start the command that writes to it first, or give a regular file",
        )


def _too_big(path: Path, what: str, limit: int) -> LimitError:
    return LimitError(
        f"{path}: {what} is larger than the limit of {limit:,} bytes",
        hint="nothing was written; split it or shrink it",
    )
