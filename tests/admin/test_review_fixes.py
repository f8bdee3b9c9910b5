"""Review of issue 14: --env on admin commands, one UTC form for last active, the import path
chosen from the database handle, every token namespace closed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.admin.support import WRANGLER_TOML, add_session, add_user, admin_project, schema_db
from tests.conftest import Runner
from worktime_cli.admin import importer, users
from worktime_cli.admin.targets import SQLiteDatabase, Statement, describe, local_file

STAGING = """
[env.staging]

[[env.staging.d1_databases]]
binding = "DB"
database_name = "worktime-db-staging"
database_id = "7a2d1f1f-2222-4333-8444-555566667777"

[[env.staging.kv_namespaces]]
binding = "KV"
id = "1a2b3c4d5e6f708192a3b4c5d6e7f809"
"""


def test_env_selects_the_environments_database(cli: Runner, project: Path) -> None:
    from worktime_cli import d1
    from worktime_cli.project import config

    top = admin_project(project)
    add_user(top, "top-user")
    (project / "wrangler.toml").write_text(WRANGLER_TOML + STAGING, encoding="utf-8")
    cfg = config.load(project / "wrangler.toml", env="staging")
    staging = schema_db(d1.database_path(cfg, cfg.d1("DB"), None))
    add_user(staging, "staging-user")
    try:
        on_top = cli("users", "list", "--json")
        on_staging = cli("users", "list", "--env", "staging", "--json")
        tokens = cli("tokens", "audit", "--env", "staging", "--json")
    finally:
        top.close()
        staging.close()
    assert on_top.exit_code == 0, on_top.output
    assert [u["login"] for u in json.loads(on_top.stdout)] == ["top-user"]
    assert on_staging.exit_code == 0, on_staging.output
    assert [u["login"] for u in json.loads(on_staging.stdout)] == ["staging-user"]
    assert tokens.exit_code == 0, tokens.output
    assert json.loads(tokens.stdout)["users_without_token"] == ["staging-user"]


def test_last_active_is_one_utc_form_on_the_terminal(cli: Runner, project: Path) -> None:
    db = admin_project(project)
    try:
        uid = add_user(db, "alice")
        db.batch([("UPDATE users SET last_active = '2026-11-29 23:00:00'", ())])  # not now
        # Stored in two formats: as text the ISO one (`T` > ` `) would wrongly win.
        add_session(db, uid, start_time="2026-11-30T01:00:00.514Z", status="completed")
        add_session(db, uid, start_time="2026-11-30 09:15:00", status="completed")
        add_session(db, uid, start_time="2026-11-30T10:30:00+02:00", status="completed")
    finally:
        db.close()
    listed = cli("users", "list", "--json")
    assert json.loads(listed.stdout)[0]["last_active"] == "2026-11-30 09:15:00"  # as stored
    table = cli("users", "list")
    assert table.exit_code == 0, table.output
    assert "2026-11-30 09:15:00 UTC" in table.stdout
    assert "T01:00" not in table.stdout


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("2026-11-30T08:37:30.514Z", "2026-11-30 08:37:30 UTC"),
        ("2026-11-30 08:37:30", "2026-11-30 08:37:30 UTC"),
        ("2026-11-30T10:37:30+02:00", "2026-11-30 08:37:30 UTC"),
        ("yesterday", "yesterday"),
        (None, None),
    ],
)
def test_utc_text(stored: str | None, shown: str | None) -> None:
    assert users.utc_text(stored) == shown


def test_the_import_path_follows_the_handle(project: Path) -> None:
    from worktime_cli.d1 import LocalD1
    from worktime_cli.project import config

    db = admin_project(project)
    try:
        assert local_file(db) == db.path
        local = LocalD1(config.load(project / "wrangler.toml")).database("DB")
        assert local_file(local) == db.path

        class Elsewhere:  # any other Database: batched statements
            def __init__(self, inner: SQLiteDatabase) -> None:
                self.inner = inner
                self.batches = 0

            def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
                return self.inner.query(sql, params)

            def batch(self, statements: Sequence[Statement]) -> list[list[dict[str, Any]]]:
                self.batches += 1
                return self.inner.batch(statements)

        other = Elsewhere(db)
        assert local_file(other) is None
        rows = iter([[str(i), f"u{i}"] for i in range(120)])
        result = importer.import_rows(other, "users", ["github_user_id", "github_username"], rows)
        assert result.rows == 120 and other.batches == 1
        assert db.query("SELECT count(*) AS n FROM users")[0]["n"] == 120
    finally:
        db.close()


def test_describe_names_the_place() -> None:
    assert describe("remote", "worktime-db") == "the remote database worktime-db"
    assert describe("local", "worktime-db") == "the local database worktime-db"


def test_token_namespaces_are_closed(
    cli: Runner, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worktime_cli.kv.namespaces import LocalNamespace

    admin_project(project).close()
    opened: list[LocalNamespace] = []
    closed: list[LocalNamespace] = []
    real_init, real_close = LocalNamespace.__init__, LocalNamespace.close

    def tracking_init(self: LocalNamespace, *args: object, **kwargs: object) -> None:
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]  # passes through
        opened.append(self)

    def tracking_close(self: LocalNamespace) -> None:
        closed.append(self)
        real_close(self)

    monkeypatch.setattr(LocalNamespace, "__init__", tracking_init)
    monkeypatch.setattr(LocalNamespace, "close", tracking_close)
    for args in (("tokens", "list"), ("tokens", "audit"), ("demo", "seed", "--users", "2",
                 "--days", "2", "--yes")):  # fmt: skip
        result = cli(*args)
        assert result.exit_code == 0, result.output
    assert opened and all(ns in closed for ns in opened)
