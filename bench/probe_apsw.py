"""Issue 21 item 5's probe: could `apsw` replace the ctypes path of `d1 execute --file`?

Not a `bench_*` module (apsw is not a dependency). It runs the worktime CLI with
`sqlite_native.open_native` swapped for an apsw connection of the same shape, so the very same
`d1.fastpath.execute_natively` loop (chunks cut at line ends, the guard armed only where needed, the
counting thread, the portable path on any failure) runs on apsw's statement API instead of
`sqlite3_exec`:

    pip install apsw
    python bench/probe_apsw.py d1 execute bench-db --file inserts.sql   # as `worktime ...`
    python bench/probe_apsw.py --bench                                   # the figures

`--bench` times, on the narrow and the seed workloads of `bench_d1`, interleaved round by round
(A B C D, A B C D, …) so background load weighs on all alike: the ctypes path, the portable path
(WORKTIME_NATIVE_SQLITE=0), this apsw path, and the sqlite3 shell.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


class ApswConnection:
    """`sqlite_native.NativeConnection`'s interface over an apsw connection."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def __enter__(self) -> ApswConnection:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    def execute_script(self, sql: str, *, rows_allowed: bool = False) -> None:
        import apsw

        from worktime_cli.sqlite.native import NativeError

        try:
            # A multi-statement string: apsw prepares and steps each statement in C and only
            # comes back to Python for a row.
            for _row in self._conn.execute(sql):
                if not rows_allowed:
                    raise NativeError("rows")
        except apsw.Error as exc:
            raise NativeError(str(exc)) from None

    def guard(self, authorizer: Callable[..., int] | None) -> None:
        self._conn.authorizer = authorizer

    @property
    def total_changes(self) -> int:
        return int(self._conn.total_changes())

    @property
    def last_row_id(self) -> int:
        return int(self._conn.last_insert_rowid())


def open_apsw(path: Path, *, busy_timeout_ms: int, limits: dict[int, int]) -> ApswConnection | None:
    import apsw

    from worktime_cli.sqlite.native import NativeError

    try:
        conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READWRITE)
    except apsw.Error:
        return None
    conn.set_busy_timeout(busy_timeout_ms)
    for limit, value in limits.items():
        conn.limit(limit, value)
    wrapped = ApswConnection(conn)
    try:
        wrapped.execute_script(
            "PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL;", rows_allowed=True
        )
    except NativeError:
        wrapped.close()
        return None
    return wrapped


def cli(argv: list[str]) -> None:
    from worktime_cli.cli.app import main
    from worktime_cli.sqlite import native as sqlite_native

    sqlite_native.open_native = open_apsw  # type: ignore[assignment]  # the probe's whole point
    sys.argv = ["worktime", *argv]
    main()


def bench(repeat: int) -> None:
    from bench.bench_d1 import (
        NARROW_SCHEMA,
        ROWS,
        SEED_SCHEMA,
        USERS,
        write_narrow,
        write_seed,
    )
    from bench.common import WORKTIME

    sqlite3 = shutil.which("sqlite3")
    assert sqlite3, "the sqlite3 shell is the peer"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        narrow = root / "narrow_schema.sql"
        narrow.write_text(NARROW_SCHEMA)
        for label, schema, write in (
            ("narrow", narrow, write_narrow),
            ("seed", SEED_SCHEMA, write_seed),
        ):
            work = root / label
            work.mkdir()
            sql = work / "inserts.sql"
            write(sql)
            (work / "wrangler.toml").write_text('name = "bench"\n')
            for args in (
                ["d1", "create", "bench-db"],
                ["d1", "execute", "bench-db", "--file", str(schema)],
            ):
                subprocess.run([*WORKTIME, *args], cwd=work, check=True, capture_output=True)
            from worktime_cli import d1
            from worktime_cli.project import config

            cfg = config.load(work / "wrangler.toml")
            db_path = d1.database_path(cfg, cfg.d1("bench-db"), None)
            pristine = work / "pristine.sqlite"
            shutil.copy(db_path, pristine)
            peer_db = work / "peer.sqlite"

            def reset_ours(db_path: Path = db_path, pristine: Path = pristine) -> None:
                for suffix in ("-wal", "-shm"):
                    Path(f"{db_path}{suffix}").unlink(missing_ok=True)
                shutil.copy(pristine, db_path)

            def reset_peer(peer_db: Path = peer_db, schema: Path = schema) -> None:
                for suffix in ("", "-wal", "-shm", "-journal"):
                    Path(f"{peer_db}{suffix}").unlink(missing_ok=True)
                subprocess.run([sqlite3, str(peer_db), f".read {schema}"], check=True)

            execute = ["d1", "execute", "bench-db", "--file", str(sql)]
            variants: dict[str, tuple[list[str], dict[str, str], Callable[[], None]]] = {
                "ctypes": ([*WORKTIME, *execute], {}, reset_ours),
                "fallback": ([*WORKTIME, *execute], {"WORKTIME_NATIVE_SQLITE": "0"}, reset_ours),
                "apsw": ([sys.executable, __file__, *execute], {}, reset_ours),
                "sqlite3": (
                    [sqlite3, str(peer_db), "BEGIN", f".read {sql}", "COMMIT"],
                    {},
                    reset_peer,
                ),
            }
            samples: dict[str, list[float]] = {name: [] for name in variants}
            import os

            for round_ in range(repeat + 1):  # round 0 warms the caches and is not kept
                for name, (argv, env, reset) in variants.items():
                    reset()
                    started = time.perf_counter()
                    subprocess.run(
                        argv,
                        cwd=work,
                        check=True,
                        stdout=subprocess.DEVNULL,
                        env={**os.environ, **env},
                    )
                    if round_:
                        samples[name].append(time.perf_counter() - started)
                    # Every variant must really have loaded the file.
                    target = peer_db if name == "sqlite3" else db_path
                    table = "events" if label == "narrow" else "time_sessions"
                    count = subprocess.run(
                        [sqlite3, str(target), f"SELECT count(*) FROM {table}"],
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    assert int(count.stdout) == ROWS - (USERS if label == "seed" else 0), name
            peer = statistics.median(samples["sqlite3"])
            size = sql.stat().st_size / 1e6
            print(f"== {label}: 100k INSERTs, {size:.0f} MB; medians of {repeat}")
            for name, values in samples.items():
                median = statistics.median(values)
                runs = " ".join(f"{v:.2f}" for v in values)
                print(f"{name:<9} {median:.3f} s  ratio {median / peer:.2f}x  runs [{runs}]")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--bench"]:
        bench(int(sys.argv[2]) if len(sys.argv) > 2 else 5)
    else:
        cli(sys.argv[1:])
