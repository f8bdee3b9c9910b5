from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from worktime_cli import config, d1, kv, scaffold, state
from worktime_cli.errors import WorktimeError

REPO = Path(__file__).resolve().parent.parent


def files(root: Path) -> dict[str, bytes]:
    """Every project file (local state excluded) with its bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".wrangler" not in p.parts
    }


def test_init_creates_a_working_project(tmp_path):
    root = tmp_path / "fresh"
    result = scaffold.init(root)
    assert set(files(root)) == {
        "wrangler.toml",
        ".dev.vars.example",
        ".gitignore",
        "migrations/0001_initial_schema.sql",
        "migrations/down/0001_initial_schema.sql",
    }
    # The migrations are the package's, byte for byte.
    assert (root / "migrations/0001_initial_schema.sql").read_bytes() == (
        REPO / "migrations/0001_initial_schema.sql"
    ).read_bytes()
    assert (root / ".dev.vars.example").read_bytes() == (REPO / ".dev.vars.example").read_bytes()

    cfg = config.load(root / "wrangler.toml")
    assert cfg.name == "worktime-backend"
    assert cfg.data["observability"] == {"enabled": True}
    assert cfg.data["vars"] == {"ENVIRONMENT": "development"}
    assert cfg.data["secrets"] == {
        "required": ["JWT_SECRET", "GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET"]
    }
    (db,) = cfg.d1_databases
    assert (db.binding, db.database_name, db.migrations_dir) == ("DB", "worktime-db", "migrations")
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", db.database_id or ""
    )
    (ns,) = cfg.kv_namespaces
    assert ns.binding == "KV" and re.fullmatch(r"[0-9a-f]{32}", ns.id or "")
    assert "# KV: GitHub tokens" in (root / "wrangler.toml").read_text()

    conn = sqlite3.connect(d1.database_path(cfg, db, None))
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"users", "time_sessions", "daily_stats", "d1_migrations"} <= tables
    assert conn.execute("SELECT name FROM d1_migrations").fetchall() == [
        ("0001_initial_schema.sql",)
    ]
    assert kv.KVStore(state.root(cfg), ns.local_id).exists

    assert result.missing_secrets == ("JWT_SECRET", "GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET")
    assert "wrangler.toml" in result.created
    assert result.kept == []


def test_second_init_changes_nothing(tmp_path):
    root = tmp_path / "fresh"
    scaffold.init(root)
    before = files(root)
    state_files = sorted((root / ".wrangler").rglob("*.sqlite"))
    result = scaffold.init(root)
    assert files(root) == before
    assert result.created == []
    assert "wrangler.toml" in result.kept
    # No migration ran and no snapshot was taken on the second run.
    assert sorted((root / ".wrangler").rglob("*.sqlite")) == state_files
    assert not [p for p in state_files if "snapshots" in p.parts]


def test_existing_wrangler_toml_is_extended_not_overwritten(tmp_path):
    root = tmp_path / "existing"
    root.mkdir()
    original = (
        '# our worker\nname = "custom-name" # keep me\n\n'
        '[[kv_namespaces]]\nbinding = "CACHE"\nid = "abc"\n'
    )
    (root / "wrangler.toml").write_text(original)
    (root / ".gitignore").write_text("node_modules/\n.dev.vars\n")
    result = scaffold.init(root)
    text = (root / "wrangler.toml").read_text()
    assert text.startswith('# our worker\nname = "custom-name" # keep me\n')
    assert 'binding = "CACHE"' in text
    cfg = config.load(root / "wrangler.toml")
    assert cfg.name == "custom-name"
    assert [ns.binding for ns in cfg.kv_namespaces] == ["CACHE", "KV"]
    assert [db.database_name for db in cfg.d1_databases] == ["worktime-db"]
    assert any(item.startswith("wrangler.toml: ") for item in result.created)
    gitignore = (root / ".gitignore").read_text().splitlines()
    assert gitignore.count(".dev.vars") == 1  # appended, never duplicated
    assert gitignore[0] == "node_modules/"
    assert ".wrangler/" in gitignore


def test_an_existing_migrations_folder_is_the_projects_own(tmp_path):
    root = tmp_path / "p"
    (root / "migrations").mkdir(parents=True)
    (root / "migrations" / "0001_mine.sql").write_text("CREATE TABLE mine (id INTEGER);\n")
    scaffold.init(root)
    assert sorted(p.name for p in (root / "migrations").glob("*.sql")) == ["0001_mine.sql"]
    cfg = config.load(root / "wrangler.toml")
    conn = sqlite3.connect(d1.database_path(cfg, cfg.d1("DB"), None))
    assert conn.execute("SELECT name FROM d1_migrations").fetchall() == [("0001_mine.sql",)]


def test_persist_to(tmp_path):
    root, elsewhere = tmp_path / "p", tmp_path / "state"
    scaffold.init(root, persist_to=elsewhere)
    assert not (root / ".wrangler").exists()
    assert list(elsewhere.rglob("*.sqlite"))


def test_init_on_a_file_is_an_error(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(WorktimeError, match="is not a folder"):
        scaffold.init(path)


def test_package_data_is_the_repos_single_copy():
    assert (
        scaffold.package_data("migrations").joinpath("0001_initial_schema.sql").read_bytes()
        == (REPO / "migrations/0001_initial_schema.sql").read_bytes()
    )


@pytest.mark.parametrize("name", ['my"app', "two\nlines", "UPPER", ""])
def test_worker_names_that_would_break_wrangler_toml_are_refused(tmp_path, name):
    with pytest.raises(WorktimeError, match="is not a valid Worker name"):
        scaffold.init(tmp_path / "p", name=name)
    assert not (tmp_path / "p").exists()
