"""`d1 pull`'s local half (worktime_cli.d1.pull): a dump replaces the local content, masked on request."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.support.fake_cloudflare import _dump
from tests.support.migrations import Project, make_project
from worktime_cli import fsutil, migrations
from worktime_cli.d1 import pull, sanitize, snapshots

EMAILS = ("ada@example.com", "grace@navy.mil")


@pytest.fixture
def proj(project: Path) -> Project:
    p = make_project(project)
    p.seed()
    migrations.apply(p.cfg, p.db, None)
    return p


def _production(tmp_path: Path, proj: Project) -> str:
    """A dump as D1's export writes one (the fake's writer), of a 'production' database."""
    prod = tmp_path / "prod.sqlite"
    conn = sqlite3.connect(prod)
    conn.executescript(proj.migrations.joinpath("0001_initial_schema.sql").read_text())
    for i, email in enumerate(EMAILS, start=1):
        conn.execute(
            "INSERT INTO users (github_user_id, github_username, email) VALUES (?, ?, ?)",
            (str(i), f"octo{i}", email),
        )
    conn.commit()
    conn.close()
    return _dump(prod, {}).decode()


def _on_disk(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


def test_a_sanitized_pull_writes_no_original_email_anywhere(proj: Project, tmp_path: Path) -> None:
    text = _production(tmp_path, proj)
    state = proj.root / ".wrangler"
    result = pull.pull_into_local(
        proj.cfg, proj.db, None, [text[:50], text[50:]], rules=sanitize.DEFAULT_RULES
    )
    assert result.sanitized is not None and result.snapshot is not None
    raw = _on_disk(state)  # the live file, its -wal, the snapshot ring, any temp file
    for email in EMAILS:
        assert email.encode() not in raw
    rows = proj.query("SELECT github_user_id, email FROM users ORDER BY id")
    assert [r[0] for r in rows] == ["1", "2"]
    assert all(str(r[1]).endswith("@example.invalid") for r in rows)
    assert [s.path for s in snapshots.list_snapshots(proj.cfg, proj.db, None)] == [
        result.snapshot.path
    ]
    assert not [p for p in result.path.parent.iterdir() if fsutil.is_temp(p.name)]


def test_a_plain_pull_copies_the_dump_as_it_is(proj: Project, tmp_path: Path) -> None:
    text = _production(tmp_path, proj)
    result = pull.pull_into_local(proj.cfg, proj.db, None, [text])
    assert result.sanitized is None
    assert proj.query("SELECT email FROM users ORDER BY id") == [(e,) for e in EMAILS]
    assert result.to_json()["sanitized"] is None
