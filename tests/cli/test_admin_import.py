"""`worktime d1 import`: CSV/TSV/JSON/NDJSON rows, all or nothing, a bad row named, locally and remotely."""

from __future__ import annotations

import json
from pathlib import Path

from tests.admin.backends import Backend, backend_fixture  # noqa: F401  (the fixture)
from tests.conftest import Runner


def _users(b: Backend) -> list[tuple[str, str]]:
    return [
        (r["github_user_id"], r["github_username"])
        for r in b.db.query("SELECT * FROM users ORDER BY github_user_id")
    ]


def test_csv_import_then_upsert(cli: Runner, backend: Backend, project: Path) -> None:
    rows = "\n".join(f"{i},user{i},u{i}@example.com" for i in range(1, 251))
    (project / "users.csv").write_text(
        "github_user_id,github_username,email\n" + rows + "\n", encoding="utf-8"
    )
    result = cli("d1", "import", "DB", "users", "users.csv", *backend.args)
    assert result.exit_code == 0, result.output
    assert "imported 250 row(s) into users" in result.stderr
    assert len(_users(backend)) == 250
    (project / "more.nl").write_text(
        '{"github_user_id": "1", "github_username": "renamed"}\n'
        '{"github_user_id": "999", "github_username": "new"}\n',
        encoding="utf-8",
    )
    up = cli("d1", "import", "DB", "users", "more.nl", "--upsert", "--pk", "github_user_id",
             *backend.args)  # fmt: skip
    assert up.exit_code == 0, up.output
    names = dict(_users(backend))
    assert names["1"] == "renamed" and names["999"] == "new" and len(names) == 251


def test_bad_row_is_named_and_nothing_is_imported(
    cli: Runner, backend: Backend, project: Path
) -> None:
    lines = [f"{i},user{i}" for i in range(1, 40)] + ["7,duplicate"] + ["50,user50"]
    (project / "users.csv").write_text(
        "github_user_id,github_username\n" + "\n".join(lines) + "\n", encoding="utf-8"
    )
    result = cli("d1", "import", "DB", "users", "users.csv", *backend.args)
    assert result.exit_code == 1
    if backend.remote:
        assert "failed" in result.stderr and "UNIQUE" in result.stderr
    else:
        assert "row 40: UNIQUE constraint failed" in result.stderr
        assert "nothing was imported" in result.stderr
    assert _users(backend) == []  # one request / one transaction: nothing stays


def test_foreign_keys_and_columns_are_checked(cli: Runner, backend: Backend, project: Path) -> None:
    (project / "s.json").write_text(
        json.dumps([{"user_id": 42, "repo_owner": "a", "repo_name": "b", "pr_number": 1,
                     "start_time": "2024-01-01 10:00:00"}]),
        encoding="utf-8",
    )  # fmt: skip
    fk = cli("d1", "import", "DB", "time_sessions", "s.json", "--json", *backend.args)
    assert fk.exit_code == 1 and "FOREIGN KEY" in fk.stderr
    (project / "bad.csv").write_text("nope\n1\n", encoding="utf-8")
    unknown = cli("d1", "import", "DB", "users", "bad.csv", *backend.args)
    assert unknown.exit_code == 2 and "'nope': not a column of users" in unknown.stderr
    missing = cli("d1", "import", "DB", "nosuch", "bad.csv", *backend.args)
    assert missing.exit_code == 1 and "no table 'nosuch'" in missing.stderr


def test_dry_run_changes_nothing(cli: Runner, backend: Backend, project: Path) -> None:
    (project / "u.tsv").write_text(
        "github_user_id\tgithub_username\n1\ta\n2\tb\n", encoding="utf-8"
    )
    result = cli("d1", "import", "DB", "users", "u.tsv", "--dry-run", *backend.args)
    assert result.exit_code == 0, result.output
    assert "would import 2 row(s)" in result.stderr
    assert _users(backend) == []
