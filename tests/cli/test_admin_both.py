"""Admin commands, each tested locally and with --remote on the fake API, numbers checked in Python."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import defaultdict
from typing import Any

from tests.admin.backends import Backend, backend_fixture  # noqa: F401  (the fixture)
from tests.admin.support import add_session, add_user, stats_rows
from tests.admin.test_stats_property import expected
from tests.conftest import Runner
from worktime_cli import clock
from worktime_cli.admin import demo


def _load_demo(b: Backend, users: int = 6, days: int = 20) -> demo.DemoData:
    data = demo.generate(
        users=users, days=days, seed=7, end=dt.date(2024, 6, 30), now=dt.datetime(2024, 7, 1, 12)
    )
    b.db.batch(
        [("INSERT INTO users (id, github_user_id, github_username) VALUES (?, ?, ?)", u[:3])
         for u in data.users]
        + [("INSERT INTO time_sessions (user_id, repo_owner, repo_name, pr_number, start_time,"
            " end_time, duration_seconds, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", s)
           for s in data.sessions]
    )  # fmt: skip
    return data


def _expected(data: demo.DemoData) -> dict[Any, tuple[int, int, int]]:
    sessions = [
        {"user_id": s[0], "repo": s[2], "status": s[7], "start_time": s[4], "end_time": s[5],
         "duration_seconds": s[6], "owner": s[1]}
        for s in data.sessions
    ]  # fmt: skip
    # `expected` keys on repo "acme/<repo>"; re-key with each session's real owner.
    out: dict[Any, tuple[int, int, int]] = {}
    for owner in {s["owner"] for s in sessions}:
        for (uid, _, repo, day), v in expected(
            [s for s in sessions if s["owner"] == owner], None
        ).items():
            out[(uid, owner, repo, day)] = v
    return out


def test_stats_rebuild_and_check(cli: Runner, backend: Backend) -> None:
    data = _load_demo(backend)
    want = _expected(data)
    assert cli("stats", "check", *backend.args).exit_code == 1
    if backend.fake is not None:
        backend.fake.requests.clear()
    result = cli("stats", "rebuild", "--yes", "--json", *backend.args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["inserted"] == len(want)
    assert stats_rows(backend.db) == want
    if backend.fake is not None:
        # The whole rebuild is one /query request, whatever the number of rows.
        assert len(backend.fake.calls("POST", r"/query$")) == 1
    assert cli("stats", "check", *backend.args).exit_code == 0


def test_rebuild_confirms_changes_to_existing_rows(cli: Runner, backend: Backend) -> None:
    _load_demo(backend, users=2, days=3)
    first = cli("stats", "rebuild", *backend.args)  # only inserts: nothing to confirm
    assert first.exit_code == 0, first.output
    backend.db.batch([("UPDATE daily_stats SET session_count = 99", ())])
    refused = cli("stats", "rebuild", *backend.args)
    assert refused.exit_code == 1 and "--yes" in refused.stderr
    assert {r["session_count"] for r in backend.db.query("SELECT * FROM daily_stats")} == {99}
    assert cli("stats", "rebuild", "--yes", *backend.args).exit_code == 0
    assert cli("stats", "check", *backend.args).exit_code == 0


def test_report_by_repo_and_user_match_python(cli: Runner, backend: Backend) -> None:
    data = _load_demo(backend)
    assert cli("stats", "rebuild", "--yes", *backend.args).exit_code == 0
    per_repo: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (_uid, owner, repo, day), (total, n, _avg) in _expected(data).items():
        if "2024-06-10" <= day <= "2024-06-20":
            per_repo[f"{owner}/{repo}"][0] += total
            per_repo[f"{owner}/{repo}"][1] += n
    for exact in ([], ["--exact"]):
        result = cli("report", "--by", "repo", "--from", "2024-06-10", "--to", "2024-06-20",
                     "--json", *exact, *backend.args)  # fmt: skip
        assert result.exit_code == 0, result.output
        rows = json.loads(result.stdout)["rows"]
        assert {r["repo"]: [r["total_seconds"], r["sessions"]] for r in rows} == dict(per_repo)
    csv = cli("report", "--by", "user", "--csv", *backend.args)
    assert csv.stdout.splitlines()[0] == "user,total_seconds,hours,sessions"


def test_users_forget_removes_rows_and_token(cli: Runner, backend: Backend) -> None:
    alice = add_user(backend.db, "alice", "111")
    bob = add_user(backend.db, "bob", "222")
    add_session(backend.db, alice, start_time="2024-06-01 10:00:00", duration_seconds=60)
    add_session(backend.db, bob, start_time="2024-06-01 10:00:00", duration_seconds=60)
    assert cli("stats", "rebuild", "--yes", *backend.args).exit_code == 0
    backend.put_token("github_token:111", 3600)
    backend.put_token("github_token:222", 3600)
    dry = cli("users", "forget", "alice", "--dry-run", *backend.args)
    assert "would remove user alice, 1 session(s), 1 daily_stats row(s)" in dry.stderr
    refused = cli("users", "forget", "alice", *backend.args)
    assert refused.exit_code == 1 and "without confirmation" in refused.stderr
    done = cli("users", "forget", "alice", "--yes", "--json", *backend.args)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["token_removed"] is True
    assert [r["github_username"] for r in backend.db.query("SELECT * FROM users")] == ["bob"]
    assert backend.db.query("SELECT user_id FROM time_sessions") == [{"user_id": bob}]
    assert backend.db.query("SELECT user_id FROM daily_stats") == [{"user_id": bob}]
    assert backend.token_keys() == {"github_token:222"}
    assert "gho_secret_value" not in done.output


def test_forget_finishes_after_kv_failure(cli: Runner, backend: Backend) -> None:
    if backend.fake is None:
        return  # the local KV store has no failure to inject; the remote one does
    add_user(backend.db, "alice", "111")
    backend.put_token("github_token:111", 3600)
    backend.fake.fail("DELETE", r"/values/", 400, code=10001, message="storage unavailable")
    first = cli("users", "forget", "alice", "--yes", *backend.args)
    assert first.exit_code == 1
    assert "user alice removed from D1" in first.stderr
    assert "github_token:111" in first.stderr and "re-run" in first.stderr
    assert backend.db.query("SELECT * FROM users") == []
    again = cli("users", "forget", "alice", "--yes", *backend.args)
    assert again.exit_code == 0, again.output
    assert backend.token_keys() == set()


def test_tokens_audit_and_revoke(cli: Runner, backend: Backend) -> None:
    add_user(backend.db, "alice", "111")
    add_user(backend.db, "bob", "222")
    add_user(backend.db, "carol", "333")
    backend.put_token("github_token:111", 6 * 24 * 3600)
    backend.put_token("github_token:222", 3 * 3600)  # expiring within 24 h
    backend.put_token("github_token:999", 5 * 24 * 3600)  # orphan
    result = cli("tokens", "audit", "--json", *backend.args)
    assert result.exit_code == 0, result.output
    audit = json.loads(result.stdout)
    assert [t["key"] for t in audit["expiring_within_24h"]] == ["github_token:222"]
    assert [t["key"] for t in audit["orphans"]] == ["github_token:999"]
    assert audit["users_without_token"] == ["carol"]
    listed = cli("tokens", "list", *backend.args)
    assert "github_token:111" in listed.stdout and "gho_secret_value" not in listed.output
    shown = cli("users", "show", "bob", *backend.args)
    assert re.search(r"GitHub token: stored \(github_token:222, expires in [23]h", shown.stdout)
    assert cli("tokens", "revoke", "bob", "--yes", *backend.args).exit_code == 0
    assert backend.token_keys() == {"github_token:111", "github_token:999"}


def test_close_stale_completed_rebuilds_days(cli: Runner, backend: Backend) -> None:
    alice = add_user(backend.db, "alice")
    old = (clock.now() - dt.timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S")
    recent = (clock.now() - dt.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    stale = add_session(backend.db, alice, start_time=old, status="active")
    add_session(backend.db, alice, start_time=recent, status="active")
    result = cli("sessions", "close-stale", "--older-than", "12h", "--as", "completed",
                 "--cap", "2h", "--yes", "--json", *backend.args)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [c["id"] for c in json.loads(result.stdout)["closed"]] == [stale]
    row = backend.db.query("SELECT * FROM time_sessions WHERE id = ?", (stale,))[0]
    assert row["status"] == "completed" and row["duration_seconds"] == 7200
    assert [r["session_count"] for r in backend.db.query("SELECT * FROM daily_stats")] == [1]
    assert cli("stats", "check", *backend.args).exit_code == 0
    listed = cli("sessions", "list", "--status", "active", "--json", *backend.args)
    assert len(json.loads(listed.stdout)) == 1
    bad = cli("sessions", "close-stale", "--older-than", "12x", *backend.args)
    assert bad.exit_code == 2 and "'12x' is not a duration" in bad.stderr


def test_demo_seed(cli: Runner, backend: Backend) -> None:
    if backend.remote:
        # Refused as every destructive command is without a terminal: exit 1, --yes named.
        refused = cli("demo", "seed", *backend.args)
        assert refused.exit_code == 1, refused.output
        assert "refusing to write demo data to the remote database" in refused.stderr
        assert "--yes" in refused.stderr
        assert backend.db.query("SELECT count(*) AS n FROM users")[0]["n"] == 0
    result = cli("demo", "seed", "--users", "3", "--days", "5", "--end", "2024-06-30",
                 "--yes", "--json", *backend.args)  # fmt: skip
    assert result.exit_code == 0, result.output
    seeded = json.loads(result.stdout)
    assert seeded["users"] == 3
    assert cli("stats", "check", *backend.args).exit_code == 0
    if backend.remote:
        again = cli("demo", "seed", "--yes", *backend.args)
        assert again.exit_code == 1 and "only fills an empty database" in again.stderr


def test_partial_rebuild_with_bound_dates(cli: Runner, backend: Backend) -> None:
    data = _load_demo(backend)
    if backend.fake is not None:
        backend.fake.requests.clear()
    result = cli("stats", "rebuild", "--from", "2024-06-20", "--to", "2024-06-25", "--yes",
                 *backend.args)  # fmt: skip
    assert result.exit_code == 0, result.output
    want = {k: v for k, v in _expected(data).items() if "2024-06-20" <= k[3] <= "2024-06-25"}
    assert stats_rows(backend.db) == want
    if backend.fake is not None:
        (query,) = backend.fake.calls("POST", r"/query$")
        assert "batch" in query.json()  # values bound, statements in one atomic batch
    check = cli("stats", "check", "--from", "2024-06-20", "--to", "2024-06-25", *backend.args)
    assert check.exit_code == 0
