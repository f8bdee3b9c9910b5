"""The backend's users: find one by login, list them, show one, forget one (D1 rows and KV token)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worktime_cli.admin import tokens
from worktime_cli.admin.targets import Database, Namespace
from worktime_cli.errors import NotFoundError, UsageError, WorktimeError


@dataclass(frozen=True)
class User:
    id: int
    login: str
    github_user_id: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "login": self.login, "github_user_id": self.github_user_id}


def resolve(db: Database, login: str | None = None, user_id: int | None = None) -> User:
    """A user by `github_username` (case-insensitive, as GitHub's) or by `users.id`.

    An unknown login lists near matches.
    """
    if (login is None) == (user_id is None):
        raise UsageError("give a LOGIN or --id, not both" if login else "give a LOGIN or --id")
    if user_id is not None:
        rows = db.query(
            "SELECT id, github_username, github_user_id FROM users WHERE id = ?", (user_id,)
        )
        if not rows:
            raise NotFoundError(f"no user with id {user_id}")
    else:
        rows = db.query(
            "SELECT id, github_username, github_user_id FROM users"
            " WHERE github_username = ? COLLATE NOCASE ORDER BY id",
            (login,),
        )
        if not rows:
            raise NotFoundError(f"no user {login!r}", hint=_near(db, str(login)))
    row = rows[0]
    return User(int(row["id"]), str(row["github_username"]), str(row["github_user_id"]))


def _near(db: Database, login: str) -> str:
    import difflib

    names = [str(r["github_username"]) for r in db.query("SELECT github_username FROM users")]
    by_lower = {n.lower(): n for n in names}
    close = difflib.get_close_matches(login.lower(), list(by_lower), n=5, cutoff=0.6)
    if close:
        return "did you mean: " + ", ".join(by_lower[c] for c in close) + "?"
    return "see `worktime users list`"


def resolve_optional(db: Database, login: str | None) -> User | None:
    return None if login is None else resolve(db, login)


# --- list / show -------------------------------------------------------------------------


@dataclass(frozen=True)
class UserSummary:
    id: int
    login: str
    github_user_id: str
    sessions: int
    active_sessions: int
    total_seconds: int
    last_active: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "login": self.login,
            "github_user_id": self.github_user_id,
            "sessions": self.sessions,
            "active_sessions": self.active_sessions,
            "total_seconds": self.total_seconds,
            "last_active": self.last_active,
        }


@dataclass(frozen=True)
class UserList:
    users: tuple[UserSummary, ...]

    def to_json(self) -> list[dict[str, Any]]:
        return [u.to_json() for u in self.users]


_SUMMARY = (
    "SELECT u.id, u.github_username, u.github_user_id,"
    " (SELECT count(*) FROM time_sessions AS s WHERE s.user_id = u.id) AS sessions,"
    " (SELECT count(*) FROM time_sessions AS s WHERE s.user_id = u.id AND s.status = 'active')"
    " AS active_sessions,"
    " (SELECT coalesce(sum(d.total_duration_seconds), 0) FROM daily_stats AS d"
    " WHERE d.user_id = u.id) AS total_seconds,"
    " u.last_active AS last_seen, (SELECT s.start_time FROM time_sessions AS s"
    " WHERE s.user_id = u.id ORDER BY julianday(s.start_time) DESC LIMIT 1) AS last_started"
    " FROM users AS u"
)


def utc_text(stamp: str | None) -> str | None:
    """A stored timestamp (`YYYY-MM-DD HH:MM:SS`, or ISO 8601 with `T`, fractions, `Z` or an
    offset) as one UTC form for people, `YYYY-MM-DD HH:MM:SS UTC`; a value that is none of
    these comes back as stored (it is data to look at, not to hide)."""
    moment = _moment(stamp)
    if moment is None:
        return stamp
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _moment(stamp: str | None) -> dt.datetime | None:
    if not stamp:
        return None
    try:
        moment = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    # The seed's DATETIME values carry no zone: they are UTC, as SQLite's datetime('now').
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _latest(*stamps: str | None) -> str | None:
    """The latest of stored timestamps compared as times, not text (`…T01:00` sorts after
    `… 09:00` as text); returned as stored."""
    known = [(m, s) for s in stamps if s for m in [_moment(s)] if m is not None]
    if known:
        return max(known, key=lambda pair: pair[0])[1]
    return next((s for s in stamps if s), None)


def _summary(row: dict[str, Any]) -> UserSummary:
    return UserSummary(
        id=int(row["id"]),
        login=str(row["github_username"]),
        github_user_id=str(row["github_user_id"]),
        sessions=int(row["sessions"]),
        active_sessions=int(row["active_sessions"]),
        total_seconds=int(row["total_seconds"]),
        last_active=_latest(row["last_seen"], row["last_started"]),
    )


def list_users(db: Database) -> UserList:
    """Every user with sessions, total time (from daily_stats) and last activity."""
    rows = db.query(_SUMMARY + " ORDER BY u.github_username COLLATE NOCASE, u.id")
    return UserList(tuple(_summary(r) for r in rows))


@dataclass(frozen=True)
class RepoTotal:
    repo: str
    total_seconds: int
    sessions: int
    days: int

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "total_seconds": self.total_seconds,
            "sessions": self.sessions,
            "days": self.days,
        }


@dataclass(frozen=True)
class ActiveSession:
    id: int
    repo: str
    pr_number: int
    start_time: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "repo": self.repo,
            "pr_number": self.pr_number,
            "start_time": self.start_time,
        }


@dataclass(frozen=True)
class UserDetail:
    summary: UserSummary
    repos: tuple[RepoTotal, ...]
    active: tuple[ActiveSession, ...]
    token_key: str
    token_present: bool
    token_expiration: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            **self.summary.to_json(),
            "repos": [r.to_json() for r in self.repos],
            "active": [a.to_json() for a in self.active],
            "token": {
                "key": self.token_key,
                "present": self.token_present,
                "expiration": self.token_expiration,
            },
        }


def show(db: Database, namespace: Namespace, where: tokens.Layout, user: User) -> UserDetail:
    """Per-repo totals, active sessions, and whether a token is stored (never the token)."""
    results = db.batch(
        [
            (_SUMMARY + " WHERE u.id = ?", (user.id,)),
            (
                "SELECT repo_owner, repo_name, sum(total_duration_seconds) AS total,"
                " sum(session_count) AS n, count(*) AS days FROM daily_stats WHERE user_id = ?"
                " GROUP BY repo_owner, repo_name ORDER BY total DESC, repo_owner, repo_name",
                (user.id,),
            ),
            (
                "SELECT id, repo_owner, repo_name, pr_number, start_time FROM time_sessions"
                " WHERE user_id = ? AND status = 'active' ORDER BY start_time, id",
                (user.id,),
            ),
        ]
    )
    key = where.key(user.github_user_id)
    present, expiration = tokens.token_expiration(namespace, key)
    return UserDetail(
        summary=_summary(results[0][0]),
        repos=tuple(
            RepoTotal(
                f"{r['repo_owner']}/{r['repo_name']}", int(r["total"]), int(r["n"]), int(r["days"])
            )
            for r in results[1]
        ),
        active=tuple(
            ActiveSession(
                int(r["id"]),
                f"{r['repo_owner']}/{r['repo_name']}",
                int(r["pr_number"]),
                str(r["start_time"]),
            )
            for r in results[2]
        ),
        token_key=key,
        token_present=present,
        token_expiration=expiration,
    )


# --- forget ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Forgotten:
    """What `users forget` removed (or, with `dry_run`, would remove)."""

    user: User
    dry_run: bool
    sessions: int
    stats_rows: int
    token_key: str
    token_removed: bool
    user_removed: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "user": self.user.to_json(),
            "dry_run": self.dry_run,
            "user_removed": self.user_removed,
            "sessions": self.sessions,
            "daily_stats_rows": self.stats_rows,
            "token_key": self.token_key,
            "token_removed": self.token_removed,
        }


class PendingForget:
    """Token keys still to delete after a forget whose KV step failed.

    The D1 rows are gone by then, so a re-run could not find the user's GitHub id again:
    the key is kept here (under the local state folder) until its delete succeeds.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, login: str) -> User | None:
        entry = self._read().get(login.lower())
        if entry is None:
            return None
        return User(int(entry["id"]), str(entry["login"]), str(entry["github_user_id"]))

    def add(self, user: User) -> None:
        from worktime_cli.project.config import write_atomic

        data = self._read()
        data[user.login.lower()] = user.to_json()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps(data, indent=2).encode())

    def remove(self, login: str) -> None:
        from worktime_cli.project.config import write_atomic

        data = self._read()
        if data.pop(login.lower(), None) is not None:
            write_atomic(self.path, json.dumps(data, indent=2).encode())


def forget_plan(db: Database, user: User) -> tuple[int, int]:
    rows = db.batch(
        [
            ("SELECT count(*) AS n FROM time_sessions WHERE user_id = ?", (user.id,)),
            ("SELECT count(*) AS n FROM daily_stats WHERE user_id = ?", (user.id,)),
        ]
    )
    return int(rows[0][0]["n"]), int(rows[1][0]["n"])


def forget(
    db: Database,
    namespace: Namespace,
    where: tokens.Layout,
    user: User,
    pending: PendingForget,
    *,
    dry_run: bool = False,
    in_d1: bool = True,
) -> Forgotten:
    """Delete the user's rows in one batch (all or nothing), then their token in KV.

    Sessions and stats are deleted explicitly as well as by the schema's ON DELETE CASCADE,
    so the counts are exact and nothing survives where foreign keys are off. `in_d1=False`
    finishes an earlier forget whose KV delete failed (the rows are already gone).
    """
    key = where.key(user.github_user_id)
    present, _ = tokens.token_expiration(namespace, key)
    if dry_run:
        sessions, stats_rows = forget_plan(db, user) if in_d1 else (0, 0)
        return Forgotten(user, True, sessions, stats_rows, key, present, in_d1)
    sessions = stats_rows = 0
    if present:
        # Recorded before the D1 rows go: afterwards nothing else knows the token's key.
        pending.add(user)
    if in_d1:
        results = db.batch(
            [
                ("DELETE FROM daily_stats WHERE user_id = ?", (user.id,)),
                ("SELECT changes() AS n", ()),
                ("DELETE FROM time_sessions WHERE user_id = ?", (user.id,)),
                ("SELECT changes() AS n", ()),
                ("DELETE FROM users WHERE id = ?", (user.id,)),
            ]
        )
        stats_rows, sessions = int(results[1][0]["n"]), int(results[3][0]["n"])
    if present:
        try:
            namespace.delete(key)
        except WorktimeError as exc:
            done = (
                f"user {user.login} removed from D1 ({sessions} sessions, {stats_rows} daily_stats rows)"
                if in_d1
                else f"user {user.login} was already removed from D1"
            )
            raise WorktimeError(
                f"{done}, but deleting the GitHub token key {key} from KV namespace "
                f"{where.binding} failed: {exc.message}",
                hint=f"the token is still stored; re-run `worktime users forget {user.login}` "
                "to finish",
            ) from None
    pending.remove(user.login)
    return Forgotten(user, False, sessions, stats_rows, key, present, in_d1)
