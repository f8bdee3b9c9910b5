"""Remote calls, whole process, worktime vs wrangler 4 against the same fake Cloudflare API.

Both tools honour CLOUDFLARE_API_BASE_URL, so each pair talks to tests/support/fake_cloudflare.py
on 127.0.0.1 in the same run. Two sections:

- no latency: the tools' own cost (start-up, client, envelope handling), not the network;
- `RTT` of latency (50 ms by default, `WORKTIME_BENCH_RTT` in seconds): the fake adds it to
  every answer and once more to every new connection (the TCP handshake), the stand-in for a
  laptop on a good connection. Each figure prints the requests each tool sent (counted by the
  fake) and its round-trip limit: the process start plus the round trips the operation cannot
  avoid (one connection, then the requests that must follow one another), times the RTT.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.common import WORKTIME, Figure, time_command, wrangler

RTT = float(os.environ.get("WORKTIME_BENCH_RTT", "0.05"))
KEYS = 20_000
MIGRATIONS = 20


def run() -> list[Figure]:
    from tests.support.fake_cloudflare import ACCOUNT, TOKEN, FakeCloudflare

    peer = wrangler()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "fake"
        data.mkdir()
        fake = FakeCloudflare(data).start()
        try:
            env = {
                "CLOUDFLARE_API_BASE_URL": fake.url,
                "CLOUDFLARE_API_TOKEN": TOKEN,
                "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
                "WRANGLER_SEND_METRICS": "false",
                "CI": "true",  # wrangler: no prompts, no update check
                "NO_COLOR": "1",
            }
            return [
                *_without_latency(fake, root, env, peer),
                *_with_latency(fake, root, env, peer),
                *_pull_and_rehearse(fake, root, env),
            ]
        finally:
            fake.stop()


# --- no latency: the tools' own cost ---------------------------------------------------------


def _without_latency(fake: Any, root: Path, env: dict[str, str], peer: str | None) -> list[Figure]:
    project = root / "plain"
    project.mkdir()
    (project / "wrangler.toml").write_text('name = "bench"\n')
    for i in range(5):
        fake.add_database(f"db-{i}")
    ns = fake.add_namespace("bench-KV")
    pairs = [
        (
            "d1 list --remote",
            [*WORKTIME, "d1", "list", "--remote", "--json"],
            [peer, "d1", "list", "--json"] if peer else None,
        ),
        (
            "kv key put --remote",
            [*WORKTIME, "kv", "key", "put", "--remote", "--namespace-id", ns, "a/b", "hello"],
            [peer, "kv", "key", "put", "--remote", "--namespace-id", ns, "a/b", "hello"]
            if peer
            else None,
        ),
    ]
    figures = []
    for name, ours_argv, peer_argv in pairs:
        ours = time_command(ours_argv, cwd=project, env=env)
        theirs = time_command(peer_argv, cwd=project, env=env, repeat=3) if peer_argv else None
        figures.append(
            Figure(
                name=name,
                ours=ours,
                peer=theirs,
                peer_name="wrangler",
                goal="ratio <= 0.5",
                ok=None if theirs is None else ours / theirs <= 0.5,
            )
        )
    return figures


# --- at RTT: round trips ---------------------------------------------------------------------


def _with_latency(fake: Any, root: Path, env: dict[str, str], peer: str | None) -> list[Figure]:
    project = root / "latency"
    project.mkdir()
    db = fake.add_database("bench-db")
    (project / "wrangler.toml").write_text(
        'name = "bench"\ncompatibility_date = "2024-09-23"\n\n'
        f'[[d1_databases]]\nbinding = "DB"\ndatabase_name = "bench-db"\ndatabase_id = "{db.uuid}"\n'
    )
    migrations = project / "migrations"
    migrations.mkdir()
    for i in range(1, MIGRATIONS + 1):
        (migrations / f"{i:04d}_table_{i}.sql").write_text(
            f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, note TEXT);\n"
            f"INSERT INTO t{i} (note) VALUES ('migration {i}');\n"
        )
    seed = project / "seed.json"
    seed.write_text(json.dumps([{"key": f"key:{i:06d}", "value": f"v{i}"} for i in range(KEYS)]))
    put_ns = fake.add_namespace("bench-bulk")
    list_ns = fake.add_namespace("bench-list")
    from tests.support.fake_cloudflare import KVEntry

    fake.namespaces[list_ns]["entries"].update(
        {f"key:{i:06d}": KVEntry(f"v{i}".encode()) for i in range(KEYS)}
    )

    def fresh_database() -> None:
        # Every run applies all 20: an empty database (the fake opens the file anew).
        db.path.unlink(missing_ok=True)

    group = _has_group()
    apply_ours = [*WORKTIME, "d1", "migrations", "apply", "bench-db", "--remote", "--yes"]
    apply_name = f"migrations apply --remote{' --group' if group else ''}, {MIGRATIONS}"
    startup_ours = time_command([*WORKTIME, "--version"], cwd=project, env=env)
    startup_peer = (
        time_command([peer, "--version"], cwd=project, env=env, repeat=3) if peer else None
    )
    print(
        f"   RTT {RTT * 1000:.0f} ms; process start: worktime {startup_ours:.3f} s"
        + (f", wrangler {startup_peer:.3f} s" if startup_peer is not None else "")
        + "; limit = worktime's start + the round trips the operation cannot avoid",
        flush=True,
    )
    cases: list[tuple[str, list[str], list[str] | None, int, str, Callable[[], None] | None]] = [
        (
            f"kv bulk put --remote, {KEYS:,} keys",
            [*WORKTIME, "kv", "bulk", "put", str(seed), "--namespace-id", put_ns, "--remote"],
            [peer, "kv", "bulk", "put", str(seed), "--namespace-id", put_ns, "--remote"]
            if peer
            else None,
            2,  # connect, then 2 x 10,000 in parallel
            "ratio <= 0.25, <= 1.5x limit",
            None,
        ),
        (
            f"kv key list --remote, {KEYS:,} keys",
            [*WORKTIME, "kv", "key", "list", "--namespace-id", list_ns, "--remote", "--json"],
            [peer, "kv", "key", "list", "--namespace-id", list_ns, "--remote"] if peer else None,
            1 + KEYS // 1000,  # connect, then one page of 1,000 after another (the cursor)
            "<= 1.2x limit",
            None,
        ),
        (
            apply_name,
            [*apply_ours, "--group"] if group else apply_ours,
            [peer, "d1", "migrations", "apply", "bench-db", "--remote"] if peer else None,
            # connect, read what is applied, then one batch (--group) or one per migration
            3 if group else 2 + MIGRATIONS,
            "ratio <= 0.2, <= 1.5x limit" if group else "(no --group yet)",
            fresh_database,
        ),
    ]
    figures = []
    # The same commands without latency: their local work (and the fake's), for the floor.
    local = {
        name: time_command(argv, cwd=project, env=env, repeat=3, setup=setup)
        for name, argv, _peer, _trips, _goal, setup in cases
    }
    fake.latency = RTT
    try:
        for name, ours_argv, peer_argv, round_trips, goal, setup in cases:
            ours_requests = _requests(fake, ours_argv, project, env, setup)
            ours = time_command(ours_argv, cwd=project, env=env, repeat=3, setup=setup)
            theirs = theirs_requests = None
            if peer_argv is not None:
                theirs_requests = _requests(fake, peer_argv, project, env, setup)
                theirs = time_command(peer_argv, cwd=project, env=env, repeat=3, setup=setup)
            limit = startup_ours + round_trips * RTT
            floor = local[name] + round_trips * RTT
            print(
                f"   {name}: requests worktime {ours_requests}"
                + (f", wrangler {theirs_requests}" if theirs_requests is not None else "")
                + f"; limit {limit:.3f} s ({round_trips} round trips); worktime {ours / limit:.2f}x"
                f" the limit; without latency worktime takes {local[name]:.3f} s, so its floor"
                f" is {floor:.3f} s ({ours / floor:.2f}x)",
                flush=True,
            )
            figures.append(
                Figure(
                    name=name,
                    ours=ours,
                    peer=theirs,
                    peer_name="wrangler",
                    goal=goal,
                    ok=_verdict(goal, ours, theirs, limit),
                )
            )
    finally:
        fake.latency = 0.0
    return figures


def _verdict(goal: str, ours: float, theirs: float | None, limit: float) -> bool | None:
    checks = []
    if "ratio <= " in goal and theirs is not None:
        checks.append(ours / theirs <= float(goal.split("ratio <= ")[1].split(",")[0]))
    if "x limit" in goal:
        checks.append(ours <= float(goal.split("<= ")[-1].split("x limit")[0]) * limit)
    return all(checks) if checks else None


def _requests(
    fake: Any,
    argv: Sequence[str],
    cwd: Path,
    env: dict[str, str],
    setup: Callable[[], None] | None,
) -> int:
    """Requests one run sends (an untimed run, counted by the fake)."""
    if setup is not None:
        setup()
    before = len(fake.requests)
    started = time.perf_counter()
    done = subprocess.run(
        argv, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv[:6])}… failed after {time.perf_counter() - started:.1f} s:\n"
            + (done.stderr or done.stdout)[-2000:]
        )
    return len(fake.requests) - before


def _has_group() -> bool:
    """Whether `d1 migrations apply` has --group yet (the migrations work adds it)."""
    out = subprocess.run(
        [*WORKTIME, "d1", "migrations", "apply", "--help"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    return "--group" in out.stdout


# --- d1 pull and the rehearsed apply, against the bare export (issue 24) ---------------------

PULL_ROWS = int(os.environ.get("WORKTIME_BENCH_PULL_ROWS", "1000000"))


def _pull_and_rehearse(fake: Any, root: Path, env: dict[str, str]) -> list[Figure]:
    """`d1 pull --sanitize` and `migrations apply --remote --rehearse-only` of a database of
    PULL_ROWS rows (users and their notes, half each) at RTT, each against the bare
    `d1 export --remote` of the same database: what masking, loading and rehearsing add."""
    import sqlite3

    project = root / "pull"
    (project / "migrations").mkdir(parents=True)
    db = fake.add_database("bench-pull")
    (project / "wrangler.toml").write_text(
        'name = "bench"\n\n[[d1_databases]]\nbinding = "DB"\ndatabase_name = "bench-pull"\n'
        f'database_id = "{db.uuid}"\nmigrations_dir = "migrations"\n'
    )
    (project / "migrations" / "0001_init.sql").write_text(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, github_username TEXT);\n"
        "CREATE TABLE notes (id INTEGER PRIMARY KEY,\n"
        "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE, body TEXT);\n"
    )
    run_env = {**os.environ, **env}
    subprocess.run(
        [*WORKTIME, "d1", "migrations", "apply", "DB", "--remote", "--yes"],
        cwd=project,
        env=run_env,
        check=True,
        capture_output=True,
    )
    half = PULL_ROWS // 2
    conn = sqlite3.connect(db.path)
    with conn:
        conn.executemany(
            "INSERT INTO users VALUES (?, ?, ?)",
            ((i, f"user{i}@example.com", f"octo{i}") for i in range(1, half + 1)),
        )
        conn.executemany(
            "INSERT INTO notes (user_id, body) VALUES (?, ?)",
            ((i, f"note of user {i}") for i in range(1, half + 1)),
        )
    conn.close()
    (project / "migrations" / "0002_tz.sql").write_text("ALTER TABLE users ADD COLUMN tz TEXT;\n")
    fake.latency = RTT
    try:
        export = time_command(
            [*WORKTIME, "d1", "export", "DB", "--remote", "--output", str(root / "dump.sql")],
            repeat=1,
            cwd=project,
            env=env,
        )
        pull = time_command(
            [*WORKTIME, "d1", "pull", "DB", "--sanitize", "--yes"], repeat=1, cwd=project, env=env
        )
        rehearse = time_command(
            [*WORKTIME, "d1", "migrations", "apply", "DB", "--remote", "--rehearse-only"],
            repeat=1,
            cwd=project,
            env=env,
        )
    finally:
        fake.latency = 0.0
    rows = f"{PULL_ROWS:,} rows, {RTT * 1000:.0f} ms RTT"
    return [
        Figure(f"d1 pull --sanitize ({rows})", pull, export, "bare d1 export --remote"),
        Figure(
            f"migrations apply --rehearse-only ({rows})",
            rehearse,
            export,
            "bare d1 export --remote",
        ),
    ]
