"""Realistic, reproducible demo data: users, repos and PRs, sessions, tokens, then daily_stats.

The same `seed` and `end` day give the same rows. Sessions cover what the real backend sees:
several repos and PRs per user, quiet weekends, sessions that cross midnight, completed ones
with and without `duration_seconds`, abandoned ones, a few still active (some stale, for
`sessions close-stale`), and tokens with TTLs spread over the 7-day window plus one orphan.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from worktime_cli.admin import stats, tokens
from worktime_cli.admin.targets import Database, Namespace, Statement
from worktime_cli.errors import WorktimeError

_FIRST = ["ada", "grace", "linus", "margaret", "ken", "barbara", "dennis", "frances", "alan",
          "radia", "guido", "yukihiro", "anita", "bjarne", "edsger", "sophie", "tim", "hedy",
          "john", "katherine"]  # fmt: skip
_OWNERS = ["acme", "octo-org", "northwind", "initech"]
_REPOS = ["api", "web", "mobile", "infra", "docs", "billing", "search", "auth"]
_PARAMS_PER_STATEMENT = 100  # D1's limit on bound parameters


@dataclass(frozen=True)
class DemoData:
    users: list[tuple[int, str, str, str]]  # id, github_user_id, login, email
    sessions: list[tuple[Any, ...]]  # user_id, owner, name, pr, start, end, duration, status
    tokens: list[tuple[str, int]]  # github_user_id, ttl seconds


@dataclass(frozen=True)
class SeedResult:
    users: int
    sessions: int
    tokens: int
    stats_rows: int
    first_day: str
    last_day: str

    def to_json(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "sessions": self.sessions,
            "tokens": self.tokens,
            "daily_stats_rows": self.stats_rows,
            "first_day": self.first_day,
            "last_day": self.last_day,
        }


def _stamp(moment: dt.datetime, iso: bool) -> str:
    if iso:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def generate(
    *, users: int = 20, days: int = 60, seed: int = 42, end: dt.date, now: dt.datetime
) -> DemoData:
    """The rows, computed only from the arguments (no clock, no global random state).

    `now` is naive UTC, like the stamps: every session starts (and ends) at or before it.
    """
    rng = random.Random(seed)  # noqa: S311  (reproducible demo data, not secrets)
    people: list[tuple[int, str, str, str]] = []
    sessions: list[tuple[Any, ...]] = []
    token_list: list[tuple[str, int]] = []
    first = end - dt.timedelta(days=days - 1)
    for i in range(users):
        user_id = i + 1
        login = f"{_FIRST[i % len(_FIRST)]}{'' if i < len(_FIRST) else i // len(_FIRST)}"
        github_id = str(1_000_000 + rng.randrange(9_000_000) * 10 + i % 10)
        people.append((user_id, github_id, login, f"{login}@example.com"))
        repos = [(rng.choice(_OWNERS), name) for name in rng.sample(_REPOS, rng.randint(2, 4))]
        prs = {repo: rng.sample(range(1, 400), rng.randint(2, 5)) for repo in repos}
        intensity = rng.uniform(0.4, 1.6)
        for d in range(days):
            day = first + dt.timedelta(days=d)
            weekend = day.weekday() >= 5
            count = rng.choice([0, 0, 1]) if weekend else rng.choice([0, 1, 2, 2, 3, 4])
            for _ in range(max(0, round(count * intensity))):
                owner, name = rng.choice(repos)
                pr = rng.choice(prs[(owner, name)])
                # Evening sessions sometimes run past midnight: they belong to their start day.
                hour = rng.choice([8, 9, 10, 11, 13, 14, 15, 16, 17, 20, 22, 23])
                start = dt.datetime.combine(
                    day, dt.time(hour, rng.randrange(60), rng.randrange(60))
                )
                start = start.replace(microsecond=rng.randrange(1000) * 1000)
                length = int(rng.triangular(300, 3 * 3600, 2400))
                finish = start + dt.timedelta(seconds=length, milliseconds=rng.randrange(1000))
                iso = rng.random() < 0.2
                roll = rng.random()
                # Demo data is history: nothing starts or ends after `now` (the last day's
                # evening, or an --end in the future). The draws above are taken either way,
                # so the rows before `now` do not depend on where it falls.
                if (start if roll < 0.06 else finish) > now:
                    continue
                if roll < 0.06:
                    sessions.append(
                        (user_id, owner, name, pr, _stamp(start, iso), None, None, "abandoned")
                    )
                elif roll < 0.25:  # the Worker's older path: end_time only, duration computed
                    sessions.append(
                        (
                            user_id,
                            owner,
                            name,
                            pr,
                            _stamp(start, iso),
                            _stamp(finish, iso),
                            None,
                            "completed",
                        )
                    )
                else:
                    sessions.append((user_id, owner, name, pr, _stamp(start, iso), _stamp(finish, iso), length, "completed"))  # fmt: skip
        # Active sessions: one started an hour ago, one stale (left open two days ago).
        if rng.random() < 0.3:
            owner, name = rng.choice(repos)
            recent = now - dt.timedelta(minutes=rng.randint(5, 90))
            sessions.append((user_id, owner, name, rng.choice(prs[(owner, name)]), _stamp(recent, False), None, None, "active"))  # fmt: skip
        if rng.random() < 0.15:
            owner, name = rng.choice(repos)
            stale = now - dt.timedelta(days=2, hours=rng.randint(0, 20))
            sessions.append((user_id, owner, name, rng.choice(prs[(owner, name)]), _stamp(stale, False), None, None, "active"))  # fmt: skip
        if rng.random() < 0.85:
            token_list.append((github_id, rng.randint(3600, tokens.TTL_SECONDS)))
    token_list.append(("999999999", rng.randint(3600, tokens.TTL_SECONDS)))  # an orphan
    return DemoData(people, sessions, token_list)


def _inserts(
    table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> Iterator[Statement]:
    per = max(1, _PARAMS_PER_STATEMENT // len(columns))
    marks = "(" + ", ".join("?" for _ in columns) + ")"
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        yield (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join(marks for _ in chunk)}",
            [value for row in chunk for value in row],
        )


def existing_users(db: Database) -> int:
    return int(db.query("SELECT count(*) AS n FROM users")[0]["n"])


@dataclass(frozen=True)
class SeedPlan:
    """What seeding `database` would do, and the confirmation it needs (None: none)."""

    existing: int  # users already there: replaced (locally only)
    question: str | None
    action: str  # as `output.confirm` words a refusal: "refusing to <action> without …"


def plan_seed(db: Database, place: str, database: str) -> SeedPlan:
    """Demo data is for local development: elsewhere (`place` is the D1 target's) it only
    fills an empty database, and always after confirmation; locally it replaces existing
    users after confirmation."""
    from worktime_cli.admin.targets import describe

    named = describe(place, database)
    existing = existing_users(db)
    if place != "local":
        if existing:
            raise WorktimeError(
                f"{named} has {existing} users; demo seed only fills an empty database there",
                hint="demo data is meant for local development",
            )
        return SeedPlan(
            0,
            f"Write demo rows to {named}? Demo data is meant for local development.",
            f"write demo data to {named}",
        )
    if existing:
        return SeedPlan(
            existing,
            f"Replace the {existing} users of {named} (and their sessions and stats) with demo data?",
            "replace the database's users with demo data",
        )
    return SeedPlan(0, None, "")


def seed(
    db: Database,
    namespace: Namespace,
    where: tokens.Layout,
    data: DemoData,
    *,
    replace: bool = False,
) -> SeedResult:
    """Write the demo rows and a consistent daily_stats in one batch, then the tokens in KV."""
    statements: list[Statement] = []
    if replace:
        statements += [
            ("DELETE FROM daily_stats", ()),
            ("DELETE FROM time_sessions", ()),
            ("DELETE FROM users", ()),
        ]
    elif existing_users(db):
        raise WorktimeError("the database already has users; demo data needs an empty one")
    statements += _inserts(
        "users", ("id", "github_user_id", "github_username", "email"), data.users
    )
    statements += _inserts(
        "time_sessions",
        ("user_id", "repo_owner", "repo_name", "pr_number", "start_time", "end_time",
         "duration_seconds", "status"),
        data.sessions,
    )  # fmt: skip
    # The Worker updates last_active as sessions start; the demo rows say the same.
    statements.append(
        (
            "UPDATE users SET created_at = (SELECT min(datetime(s.start_time)) FROM time_sessions"
            " AS s WHERE s.user_id = users.id), last_active = (SELECT max(datetime(s.start_time))"
            " FROM time_sessions AS s WHERE s.user_id = users.id)"
            " WHERE EXISTS (SELECT 1 FROM time_sessions AS s WHERE s.user_id = users.id)",
            (),
        )
    )
    statements += stats.rebuild_statements(stats.Selection())
    results = db.batch(statements)
    written = int(results[-4][0]["n"])  # rebuild_statements: changes() after the upsert
    for github_id, ttl in data.tokens:
        value = ("gho_demo_" + github_id).encode()  # a placeholder, not a usable token
        namespace.put(where.key(github_id), value, expiration_ttl=ttl)
    days = sorted({str(s[4])[:10] for s in data.sessions})
    return SeedResult(
        users=len(data.users),
        sessions=len(data.sessions),
        tokens=len(data.tokens),
        stats_rows=written,
        first_day=days[0] if days else "",
        last_day=days[-1] if days else "",
    )
