"""A local KV namespace's value files: `<state>/v3/kv/<namespace id>/blobs/<blob id>`.

One file per value, named as miniflare names them: the folder is miniflare's `sanitisePath` of
the namespace id, and a blob id is 32 random bytes + the 8-byte big-endian millisecond clock,
in hex (80 chars), so every file carries its age in its name. The index that points at these
files, and the order of file and row that makes a crash harmless, are `store`'s.

Cleanup never races a write (issue 13): a worktime write holds a shared `flock` on
`<state>/v3/kv/<id>/.worktime-writers.lock` from before its first value file until after its
commit, and gc takes it exclusively, so gc sees either no file of that write or its committed
row. Writers that do not take the lock (wrangler dev) write one small value at a time, and
files younger than the grace period (`fsutil.GRACE_SECONDS`, the one rule of every cleanup)
are spared for them, by the manual gc too.

Value files are made durable with an fsync of each file (issued in parallel, so the file
system batches them into few journal commits) and one of their folder, never a machine-wide
`sync()` whose time depends on other processes' dirty data.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from pathlib import Path

from worktime_cli import clock as worktime_clock
from worktime_cli import fsutil
from worktime_cli.kv.limits import Row

# Orphaned value files younger than this may belong to a put that is still in flight in
# another process (wrangler dev writes the file before its row too), so automatic GC spares them.
GC_GRACE_SECONDS = fsutil.GRACE_SECONDS
_WRITERS_LOCK = ".worktime-writers.lock"
_BLOB_ID = re.compile(r"[0-9a-f]{80}")
# Value files fsynced together: enough for the file system to batch their journal commits,
# few enough open descriptors for any `ulimit -n`.
_FSYNC_BATCH = 256
_FSYNC_THREADS = 8


def blob_dir_name(namespace_id: str) -> str:
    """miniflare's `sanitisePath` of the namespace id: the name of its blob folder."""
    name = namespace_id
    dots = re.compile(r"(^|/|\\)(\.+)(/|\\|$)")
    for _ in range(2):
        name = dots.sub(lambda m: m.group(1) + "_" * len(m.group(2)) + m.group(3), name)
    name = re.sub(r"[?<>*\"'^/\\:|\x00-\x1f\x80-\x9f]", "_", name)
    name = re.sub(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", "_", name, flags=re.IGNORECASE)
    name = re.sub(r"^[ /\\]+", lambda m: "_" * len(m.group(0)), name)
    name = re.sub(r"[ /\\]+$", lambda m: "_" * len(m.group(0)), name)
    return name[:255]


def new_blob_id(now: float | None = None) -> str:
    """32 random bytes + the big-endian 8-byte millisecond clock, hex (miniflare's format)."""
    millis = int((worktime_clock.timestamp() if now is None else now) * 1000)
    return os.urandom(32).hex() + millis.to_bytes(8, "big", signed=True).hex()


def _blob_millis(blob_id: str) -> int:
    return int.from_bytes(bytes.fromhex(blob_id[64:]), "big", signed=True)


class BlobFolder:
    """One namespace's value files, and the writers' lock that keeps gc off a write in flight."""

    def __init__(self, path: Path, clock: Callable[[], float]) -> None:
        self.path = path
        self._clock = clock

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the writers' lock shared: gc waits until this write's rows are committed."""
        fd = self._open_writers_lock()
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _open_writers_lock(self) -> int:
        path = self.path.parent / _WRITERS_LOCK
        with fsutil.translated(path, "create"):
            self.path.mkdir(parents=True, exist_ok=True)
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def collect(
        self, referenced: Callable[[], Collection[str]], grace_seconds: float, *, wait: bool
    ) -> int:
        """Remove value files older than `grace_seconds` that `referenced()` does not name.

        Takes the writers' lock exclusively; with `wait=False` a write in flight skips it (0).
        """
        if not self.path.is_dir():
            return 0
        fd = self._open_writers_lock()
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                return 0  # another write is in flight: its files are not orphans yet
            return self._collect_locked(referenced, grace_seconds)
        finally:
            os.close(fd)

    def _collect_locked(
        self, referenced: Callable[[], Collection[str]], grace_seconds: float
    ) -> int:
        try:
            names = [e.name for e in os.scandir(self.path) if _BLOB_ID.fullmatch(e.name)]
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise fsutil.os_error(exc, self.path, "read") from None
        if not names:
            return 0
        cutoff = int(self._clock() * 1000) - int(grace_seconds * 1000)
        candidates = [n for n in names if _blob_millis(n) <= cutoff]
        if not candidates:
            return 0
        in_use = referenced()
        orphans = [n for n in candidates if n not in in_use]
        self.unlink(orphans)
        return len(orphans)

    def write(self, rows: Sequence[Row], progress: Callable[[int], None] | None) -> Sequence[str]:
        """Write each value to a new file, fsync them in batches, then fsync their folder."""
        from concurrent.futures import ThreadPoolExecutor

        ids: list[str] = []
        reported = 0
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        current = self.path
        pool = ThreadPoolExecutor(_FSYNC_THREADS) if len(rows) > 1 else None
        try:
            with fsutil.translated(current, "create"):
                self.path.mkdir(parents=True, exist_ok=True)
            dir_fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
            try:
                for start in range(0, len(rows), _FSYNC_BATCH):
                    fds: list[int] = []
                    try:
                        for n, row in enumerate(rows[start : start + _FSYNC_BATCH], start + 1):
                            blob_id = new_blob_id(self._clock())
                            current = self.path / blob_id
                            # 0600: values are GitHub tokens; wrangler dev runs as the same user.
                            fd = os.open(blob_id, flags, 0o600, dir_fd=dir_fd)
                            ids.append(blob_id)
                            fds.append(fd)
                            view = memoryview(row.value)
                            while view:
                                view = view[os.write(fd, view) :]
                            if progress is not None and (n % 256 == 0 or n == len(rows)):
                                progress(n - reported)  # batched: one update per value is slow
                                reported = n
                        current = self.path
                        # Only what this write made: parallel fsyncs share journal commits.
                        if pool is None:
                            for fd in fds:
                                os.fsync(fd)
                        else:
                            list(pool.map(os.fsync, fds))
                    finally:
                        for fd in fds:
                            os.close(fd)
                os.fsync(dir_fd)  # the new names must be durable too, not just the bytes
            finally:
                os.close(dir_fd)
        except BaseException as exc:
            self.unlink(ids)
            if isinstance(exc, OSError):
                raise fsutil.os_error(exc, current) from None
            raise
        finally:
            if pool is not None:
                pool.shutdown()
        return ids

    def unlink(self, blob_ids: Iterable[str]) -> None:
        for blob_id in blob_ids:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path / blob_id)
