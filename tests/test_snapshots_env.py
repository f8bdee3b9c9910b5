"""Two environments that give one database_name to different databases keep their snapshots
apart: `d1 restore DB --env production` never lists or restores the top level's snapshots
into production's file (or the other way round)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from worktime_cli.d1 import snapshots
from worktime_cli.project import config

SHARED_NAME = """\
name = "w"

[[d1_databases]]
binding = "DB"
database_name = "worktime-db"
database_id = "00000000-0000-4000-8000-00000000000a"

[env.production]
[[env.production.d1_databases]]
binding = "DB"
database_name = "worktime-db"
database_id = "00000000-0000-4000-8000-00000000000b"
"""


@pytest.fixture
def shared(project: Path) -> Path:
    (project / "wrangler.toml").write_text(SHARED_NAME)
    (project / "migrations").mkdir()
    (project / "migrations" / "0001_t.sql").write_text("CREATE TABLE t (a);\n")
    (project / "migrations" / "0002_u.sql").write_text("CREATE TABLE u (a);\n")
    return project


def listed(cli, *env: str) -> list[str]:
    done = cli("d1", "restore", "worktime-db", "--list", "--json", *env)
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    rows = data["snapshots"] if isinstance(data, dict) else data
    return [row["name"] for row in rows]


def test_each_environments_database_keeps_its_own_snapshots(cli, shared):
    for env in ((), ("--env", "production")):
        cli("d1", "migrations", "apply", "worktime-db", *env, "--to", "0001_t.sql")
        done = cli("d1", "migrations", "apply", "worktime-db", *env)
        assert done.exit_code == 0, done.output
    top = listed(cli)
    production = listed(cli, "--env", "production")
    assert len(top) == 1 and len(production) == 1
    assert set(top).isdisjoint(production)

    # The top level's snapshot cannot be restored into production's file.
    refused = cli("d1", "restore", "worktime-db", top[0], "--env", "production", "--yes")
    assert refused.exit_code == 1
    assert production == listed(cli, "--env", "production")


def test_the_top_level_keeps_the_folder_it_always_had(shared):
    top = config.load(shared / "wrangler.toml")
    prod = config.load(shared / "wrangler.toml", env="production")
    top_folder = snapshots.folder(top, top.d1("worktime-db"), None)
    prod_folder = snapshots.folder(prod, prod.d1("worktime-db"), None)
    assert top_folder.name == "worktime-db"  # where earlier versions put its snapshots
    assert prod_folder.name.startswith("worktime-db.") and prod_folder != top_folder


def test_a_name_used_once_keeps_its_plain_folder(project):
    (project / "wrangler.toml").write_text(
        SHARED_NAME.replace(
            '"worktime-db"\ndatabase_id = "00000000-0000-4000-8000-00000000000b"',
            '"prod-db"\ndatabase_id = "00000000-0000-4000-8000-00000000000b"',
        )
    )
    prod = config.load(project / "wrangler.toml", env="production")
    assert snapshots.folder(prod, prod.d1("prod-db"), None).name == "prod-db"
