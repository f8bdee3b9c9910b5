"""`worktime dev` under a `migrations_pattern`: a new migration is a new subfolder with a file.

/health/ready reads the migrations through the binding's pattern on every request, so a
migration added in a new subfolder (which the non-recursive file watcher does not see) makes
the server not ready at once, and removing it makes it ready again.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from tests.support.dev import REPO, WRANGLER_TOML, dev, free_port, stop, wait_ready, wait_until
from worktime_cli import migrations
from worktime_cli.project import config


def _pattern_project(root: Path) -> None:
    (root / "wrangler.toml").write_text(
        WRANGLER_TOML.replace(
            'migrations_dir = "migrations"',
            'migrations_dir = "migrations"\nmigrations_pattern = "migrations/*/migration.sql"',
        ),
        encoding="utf-8",
    )
    first = root / "migrations" / "0001_initial_schema"
    first.mkdir(parents=True)
    shutil.copy(REPO / "migrations" / "0001_initial_schema.sql", first / "migration.sql")
    cfg = config.load(root / "wrangler.toml")
    migrations.apply(cfg, cfg.d1("DB"), None)


def test_a_migration_in_a_new_subfolder_makes_dev_not_ready(project: Path) -> None:
    _pattern_project(project)
    port = free_port()
    with dev(project, "--port", str(port)) as (proc, url):
        wait_ready(proc, url)
        new = project / "migrations" / "0002_notes"
        new.mkdir()
        (new / "migration.sql").write_text("CREATE TABLE notes (id INTEGER);\n")
        wait_until(lambda: httpx.get(url + "/health/ready").status_code == 503, timeout=15)
        assert "0002_notes/migration.sql" in httpx.get(url + "/health/ready").text
        # A change inside a subfolder that was already there is seen too.
        (new / "migration.sql").unlink()
        wait_until(lambda: httpx.get(url + "/health/ready").status_code == 200, timeout=15)
        code, _out, _err = stop(proc)
    assert code == 0
