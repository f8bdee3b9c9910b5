"""Every command's `--json` shape, pinned: the keys scripts rely on change only on purpose.

Each case runs the real CLI in a project made by `worktime init`, after the case's own setup,
and compares the keys of its JSON (two levels deep; a list by its first item) with the pinned
ones. Remote commands print the same shapes (the parity tests compare local and remote), and a
failure under `--json` is the error envelope.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

Shape = Any


def shape(value: Any, depth: int = 0) -> Shape:
    """The keys of a JSON value: dicts two levels deep, a list by its first item."""
    if isinstance(value, dict):
        return {k: shape(v, depth + 1) if depth < 1 else None for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(value[0], depth)] if value else []
    return None


ERROR = {"error": {"code": None, "kind": None, "notes": None, "text": None}}


def _files(project: Path) -> None:
    (project / "q.sql").write_text(
        "INSERT INTO users (github_user_id, github_username) VALUES ('1', 'ada');\n"
    )
    (project / "put.json").write_text('[{"key": "a", "value": "1"}]')
    (project / "del.json").write_text('["a"]')
    (project / "secrets.json").write_text('{"GITHUB_CLIENT_ID": "an-id"}')


def _notes_migration(cli: Any, project: Path) -> None:
    cli("d1", "migrations", "create", "worktime-db", "add notes")
    (project / "migrations" / "0002_add_notes.sql").write_text("CREATE TABLE notes (id INTEGER);\n")
    (project / "migrations" / "down" / "0002_add_notes.sql").write_text("DROP TABLE notes;\n")


SETUPS: dict[str, list[tuple[str, ...]]] = {
    "kv": [("kv", "key", "put", "k", "v", "--binding", "KV", "--ttl", "3600")],
    "cache": [("kv", "namespace", "create", "CACHE")],
    "other": [("d1", "create", "other-db")],
    "secret": [("secret", "bulk", "secrets.json", "--yes")],
    "demo": [("demo", "seed", "worktime-db", "--users", "3", "--days", "3", "--yes")],
}

# (setup, command, exit code, pinned shape): taken from a real run, reviewed by hand.
CASES: list[tuple[str, tuple[str, ...], int, Shape]] = [
    (
        "",
        ("d1", "list"),
        0,
        [
            {
                "binding": None,
                "created_at": None,
                "database_id": None,
                "database_name": None,
                "exists": None,
                "num_tables": None,
                "path": None,
                "size": None,
                "tables": None,
                "version": None,
            }
        ],
    ),
    (
        "",
        ("d1", "info", "worktime-db"),
        0,
        {
            "binding": None,
            "created_at": None,
            "database_id": None,
            "database_name": None,
            "exists": None,
            "num_tables": None,
            "path": None,
            "size": None,
            "tables": [{"name": None, "rows": None}],
            "version": None,
            "limits": {"largest_row": None, "largest_row_checked": None, "size": None},
        },
    ),
    (
        "",
        ("d1", "execute", "worktime-db", "--command", "SELECT 1 AS x"),
        0,
        [
            {
                "meta": {"changes": None, "duration": None, "last_row_id": None},
                "results": [{"x": None}],
                "success": None,
            }
        ],
    ),
    (
        "",
        ("d1", "execute", "worktime-db", "--file", "q.sql"),
        0,
        [
            {
                "meta": {
                    "changes": None,
                    "duration": None,
                    "last_row_id": None,
                    "statements": None,
                },
                "results": [],
                "success": None,
            }
        ],
    ),
    (
        "",
        ("d1", "export", "worktime-db", "--output", "out.sql"),
        0,
        {"path": None, "rows": None, "size": None, "tables": [None]},
    ),
    (
        "",
        ("d1", "create", "other-db"),
        0,
        {
            "binding": None,
            "config": None,
            "created_at": None,
            "database_id": None,
            "database_name": None,
            "local_moved_from": None,
            "local_moved_to": None,
            "path": None,
        },
    ),
    (
        "other",
        ("d1", "delete", "other-db", "--yes"),
        0,
        {
            "config": None,
            "database_id": None,
            "database_name": None,
            "had_file": None,
            "path": None,
        },
    ),
    (
        "",
        ("d1", "migrations", "list", "worktime-db"),
        0,
        {
            "counts": {
                "applied": None,
                "drifted": None,
                "missing": None,
                "pending": None,
                "unverified": None,
            },
            "database": None,
            "exists": None,
            "migrations": [
                {
                    "applied_at": None,
                    "down": None,
                    "has_down": None,
                    "name": None,
                    "out_of_order": None,
                    "status": None,
                }
            ],
            "path": None,
        },
    ),
    (
        "",
        ("d1", "migrations", "create", "worktime-db", "add notes"),
        0,
        {"down_path": None, "name": None, "path": None},
    ),
    (
        "",
        ("d1", "migrations", "apply", "worktime-db", "--yes"),
        0,
        {
            "applied": None,
            "database": None,
            "dry_run": None,
            "duration_ms": None,
            "error": None,
            "migrations": [],
            "snapshot": None,
            "warnings": [],
        },
    ),
    (
        "migration",
        ("d1", "migrations", "rollback", "worktime-db", "--yes"),
        0,
        {
            "database": None,
            "dry_run": None,
            "duration_ms": None,
            "error": None,
            "migrations": [{"duration_ms": None, "name": None, "source": None, "status": None}],
            "rolled_back": None,
            "snapshot": None,
            "warnings": [],
        },
    ),
    (
        "migration",
        ("d1", "restore", "worktime-db", "--list"),
        0,
        [{"created": None, "name": None, "operation": None, "path": None, "size": None}],
    ),
    (
        "",
        ("kv", "namespace", "list"),
        0,
        [
            {
                "binding": None,
                "exists": None,
                "id": None,
                "keys": None,
                "local_id": None,
                "path": None,
                "preview_id": None,
                "title": None,
            }
        ],
    ),
    (
        "",
        ("kv", "namespace", "create", "CACHE"),
        0,
        {"binding": None, "id": None, "preview_id": None, "title": None},
    ),
    (
        "cache",
        ("kv", "namespace", "delete", "--binding", "CACHE", "--yes"),
        0,
        {
            "id": None,
            "local_data": None,
            "namespace": None,
            "remote": None,
            "removed_from_config": None,
        },
    ),
    ("", ("kv", "namespace", "gc", "--binding", "KV"), 0, {"removed": None}),
    (
        "",
        ("kv", "key", "put", "k", "v", "--binding", "KV", "--ttl", "3600"),
        0,
        {"expiration": None, "key": None, "size": None},
    ),
    (
        "kv",
        ("kv", "key", "get", "k", "--binding", "KV"),
        0,
        {"base64": None, "expiration": None, "key": None, "metadata": None, "value": None},
    ),
    ("kv", ("kv", "key", "list", "--binding", "KV"), 0, [{"expiration": None, "name": None}]),
    ("kv", ("kv", "key", "delete", "k", "--binding", "KV"), 0, {"deleted": None, "key": None}),
    (
        "",
        ("kv", "bulk", "put", "put.json", "--binding", "KV"),
        0,
        {"requested": None, "written": None},
    ),
    (
        "kv",
        ("kv", "bulk", "delete", "del.json", "--binding", "KV", "--yes"),
        0,
        {"deleted": None, "requested": None},
    ),
    (
        "",
        ("secret", "put", "JWT_SECRET"),
        0,
        {"created": None, "location": None, "name": None, "store": None, "warnings": []},
    ),
    (
        "secret",
        ("secret", "list"),
        0,
        {
            "keyring_error": None,
            "location": None,
            "missing": [None],
            "project": None,
            "secrets": [
                {"defined_in": None, "name": None, "required": None, "source": None, "type": None}
            ],
            "store": None,
            "warnings": [],
        },
    ),
    (
        "",
        ("secret", "bulk", "secrets.json", "--yes"),
        0,
        {"deleted": [], "location": None, "store": None, "stored": [None]},
    ),
    (
        "secret",
        ("secret", "delete", "GITHUB_CLIENT_ID", "--yes"),
        0,
        {"deleted": None, "location": None, "name": None, "store": None},
    ),
    (
        "",
        ("types",),
        0,
        {
            "env": [{"name": None, "optional": None, "source": None, "type": None}],
            "path": None,
            "rows": [{"binding": None, "columns": None, "name": None, "table": None}],
            "status": None,
        },
    ),
    (
        "",
        ("doctor",),
        1,
        {"checks": [{"hint": None, "message": None, "name": None, "status": None}], "ok": None},
    ),
    ("", ("whoami",), 1, {"error": {"code": None, "kind": None, "notes": None, "text": None}}),
    (
        "",
        ("demo", "seed", "worktime-db", "--users", "3", "--days", "3", "--yes"),
        0,
        {
            "daily_stats_rows": None,
            "first_day": None,
            "last_day": None,
            "sessions": None,
            "tokens": None,
            "users": None,
        },
    ),
    (
        "demo",
        ("stats", "rebuild", "worktime-db", "--yes"),
        0,
        {
            "anomalies": {"sample": None, "total": None},
            "deleted": None,
            "dry_run": None,
            "inserted": None,
            "kept": None,
            "selection": {"from": None, "to": None, "tz": None, "user_id": None},
        },
    ),
    (
        "demo",
        ("stats", "check", "worktime-db"),
        0,
        {
            "anomalies": {"sample": None, "total": None},
            "differences": [],
            "ok": None,
            "selection": {"from": None, "to": None, "tz": None, "user_id": None},
        },
    ),
    (
        "demo",
        ("sessions", "list"),
        0,
        [
            {
                "duration_seconds": None,
                "end_time": None,
                "id": None,
                "login": None,
                "pr_number": None,
                "repo": None,
                "start_time": None,
                "status": None,
            }
        ],
    ),
    (
        "demo",
        ("sessions", "close-stale", "--older-than", "12h", "--yes"),
        0,
        {
            "closed": [
                {
                    "duration_seconds": None,
                    "end_time": None,
                    "id": None,
                    "login": None,
                    "new_duration_seconds": None,
                    "new_end_time": None,
                    "new_status": None,
                    "pr_number": None,
                    "repo": None,
                    "start_time": None,
                    "status": None,
                }
            ],
            "cutoff": None,
            "dry_run": None,
            "rebuilt_days": [],
        },
    ),
    (
        "demo",
        ("users", "list"),
        0,
        [
            {
                "active_sessions": None,
                "github_user_id": None,
                "id": None,
                "last_active": None,
                "login": None,
                "sessions": None,
                "total_seconds": None,
            }
        ],
    ),
    (
        "demo",
        ("users", "show", "--id", "1"),
        0,
        {
            "active": [{"id": None, "pr_number": None, "repo": None, "start_time": None}],
            "active_sessions": None,
            "github_user_id": None,
            "id": None,
            "last_active": None,
            "login": None,
            "repos": [],
            "sessions": None,
            "token": {"expiration": None, "key": None, "present": None},
            "total_seconds": None,
        },
    ),
    (
        "demo",
        ("users", "forget", "--id", "2", "--yes"),
        0,
        {
            "daily_stats_rows": None,
            "dry_run": None,
            "sessions": None,
            "token_key": None,
            "token_removed": None,
            "user": {"github_user_id": None, "id": None, "login": None},
            "user_removed": None,
        },
    ),
    (
        "demo",
        ("tokens", "list"),
        0,
        {
            "binding": None,
            "prefix": None,
            "tokens": [
                {
                    "expiration": None,
                    "github_user_id": None,
                    "key": None,
                    "login": None,
                    "orphan": None,
                    "seconds_left": None,
                    "state": None,
                }
            ],
        },
    ),
    (
        "demo",
        ("tokens", "audit"),
        0,
        {
            "binding": None,
            "expired": [],
            "expiring_within_24h": [
                {
                    "expiration": None,
                    "github_user_id": None,
                    "key": None,
                    "login": None,
                    "orphan": None,
                    "seconds_left": None,
                    "state": None,
                }
            ],
            "orphans": [
                {
                    "expiration": None,
                    "github_user_id": None,
                    "key": None,
                    "login": None,
                    "orphan": None,
                    "seconds_left": None,
                    "state": None,
                }
            ],
            "prefix": None,
            "tokens": None,
            "users_without_token": [],
        },
    ),
    (
        "demo",
        ("report",),
        0,
        {
            "by": None,
            "filters": {"from": None, "repo": None, "to": None, "user_id": None},
            "rows": [{"day": None, "sessions": None, "total_seconds": None}],
            "sessions": None,
            "source": None,
            "total_seconds": None,
        },
    ),
    (
        "demo",
        ("report", "--by", "repo"),
        0,
        {
            "by": None,
            "filters": {"from": None, "repo": None, "to": None, "user_id": None},
            "rows": [{"repo": None, "sessions": None, "total_seconds": None}],
            "sessions": None,
            "source": None,
            "total_seconds": None,
        },
    ),
]


@pytest.mark.parametrize(
    ("setup", "args", "code", "expected"), CASES, ids=[" ".join(c[1][:3]) for c in CASES]
)
def test_json_shape_is_pinned(cli, project: Path, frozen_clock, setup, args, code, expected):
    # A known clock: the demo rows (which lists are empty) follow the weekdays before today.
    assert cli("init", ".", "--yes").exit_code == 0
    _files(project)
    if setup == "migration":
        _notes_migration(cli, project)
        assert cli("d1", "migrations", "apply", "worktime-db", "--yes").exit_code == 0
    for step in SETUPS.get(setup, []):
        assert cli(*step).exit_code == 0, step
    result = cli(*args, "--json", input="s3cr3t-value\n" if args[:2] == ("secret", "put") else None)
    assert result.exit_code == code, result.stderr
    assert shape(json.loads(result.stdout)) == expected


def test_a_failure_under_json_is_the_error_envelope(cli):
    result = cli("d1", "execute", "nope-db", "--command", "SELECT 1", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert shape(data) == ERROR
    assert data["error"]["text"] in result.stderr
