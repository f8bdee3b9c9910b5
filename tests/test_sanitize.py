"""Masking personal data while copying (worktime_cli.d1.sanitize): rules, determinism, no leaks."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from tests.support.migrations import Project, make_project
from worktime_cli import migrations
from worktime_cli.d1 import dump, sanitize
from worktime_cli.errors import ConfigError

EMAILS = ("ada@example.com", "grace.hopper@navy.mil", "linus@kernel.org")


@pytest.fixture
def proj(project: Path) -> Project:
    p = make_project(project)
    p.seed()
    migrations.apply(p.cfg, p.db, None)
    conn = sqlite3.connect(p.path)
    for i, email in enumerate(EMAILS, start=1):
        conn.execute(
            "INSERT INTO users (github_user_id, github_username, email, avatar_url) VALUES (?, ?, ?, ?)",
            (str(1000 + i), f"octo{i}", email, f"https://avatars.example/{i}.png"),
        )
        conn.execute(
            "INSERT INTO time_sessions (user_id, repo_owner, repo_name, pr_number, start_time) "
            "VALUES (?, 'acme', 'widget', ?, '2026-01-01T00:00:00Z')",
            (i, i),
        )
    conn.commit()
    conn.close()
    return p


def _dump_text(proj: Project, tmp_path: Path) -> str:
    out = tmp_path / "dump.sql"
    conn = sqlite3.connect(proj.path)
    try:
        dump.export(conn, out)
    finally:
        conn.close()
    return out.read_text(encoding="utf-8")


def _files_bytes(path: Path) -> bytes:
    return b"".join(
        p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-journal")) if p.exists()
    )


def test_a_sanitized_dump_holds_no_original_email_on_disk(proj: Project, tmp_path: Path) -> None:
    text = _dump_text(proj, tmp_path)
    target = tmp_path / "masked.sqlite"
    # The dump arrives in small chunks, as a download does.
    chunks = [text[i : i + 37] for i in range(0, len(text), 37)]
    result = sanitize.sanitize_dump(chunks, target)
    raw = _files_bytes(target)
    for email in EMAILS:
        assert email.encode() not in raw
    assert b"octo1" not in raw and b"avatars.example" not in raw
    assert {(m.table, m.column, m.rule, m.rows) for m in result.masked} == {
        ("users", "email", "fake-email", 3),
        ("users", "github_username", "fake-username", 3),
        ("users", "avatar_url", "null", 3),
    }
    conn = sqlite3.connect(target)
    rows = conn.execute(
        "SELECT id, email, github_username, avatar_url FROM users ORDER BY id"
    ).fetchall()
    # Joins still line up: every session keeps its user.
    joined = conn.execute(
        "SELECT count(*) FROM time_sessions s JOIN users u ON u.id = s.user_id"
    ).fetchone()
    conn.close()
    assert joined == (3,)
    assert all(str(r[1]).endswith("@example.invalid") and r[3] is None for r in rows)
    assert len({r[1] for r in rows}) == 3


def test_masking_is_deterministic_and_keyed_by_the_salt(proj: Project, tmp_path: Path) -> None:
    one = sanitize.sanitize_database(proj.path, tmp_path / "one.sqlite")
    two = sanitize.sanitize_database(proj.path, tmp_path / "two.sqlite")
    salted_rules = sanitize.parse_rules(
        'salt = "s3cret"\n[columns]\n"users.email" = "fake-email"\n', "rules.toml"
    )
    salted = sanitize.sanitize_database(proj.path, tmp_path / "salted.sqlite", salted_rules)

    def emails(result: sanitize.SanitizeResult) -> list[str]:
        conn = sqlite3.connect(result.path)
        try:
            return [r[0] for r in conn.execute("SELECT email FROM users ORDER BY id")]
        finally:
            conn.close()

    assert emails(one) == emails(two)
    assert emails(one) != emails(salted)
    # The source is never changed.
    assert proj.query("SELECT email FROM users ORDER BY id") == [(e,) for e in EMAILS]
    masker = sanitize.Masker("s3cret")
    assert emails(salted)[0] == masker.mask(sanitize.Rule("fake-email"), EMAILS[0])


def test_every_rule_and_its_types() -> None:
    m = sanitize.Masker()
    r = sanitize.parse_rule
    assert m.mask(r("null") or sanitize.Rule("x"), "a") is None
    assert m.mask(sanitize.Rule("keep"), "a") == "a"
    assert m.mask(sanitize.Rule("fixed", "acme"), "a") == "acme"
    assert r("fixed:acme:x") == sanitize.Rule("fixed", "acme:x")
    assert r("fake-mail") is None and r("fixed") is None
    hashed = m.mask(sanitize.Rule("hash"), "a")
    assert isinstance(hashed, str) and len(hashed) == 32
    assert isinstance(m.mask(sanitize.Rule("hash"), 42), int)
    assert m.mask(sanitize.Rule("hash"), 42) != m.mask(sanitize.Rule("hash"), "42")
    assert isinstance(m.mask(sanitize.Rule("hash"), b"\x00"), bytes)
    assert 0 <= m.mask(sanitize.Rule("hash"), 1.5) < 1
    assert m.mask(sanitize.Rule("fake-name"), "x").count(" ") == 2
    assert m.mask(sanitize.Rule("fake-email"), None) is None


def test_rules_file_errors_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("users.email = 'scramble' is not a rule")):
        sanitize.parse_rules('[columns]\n"users.email" = "scramble"\n', "r.toml")
    with pytest.raises(ConfigError, match=re.escape("is not `table.column`")):
        sanitize.parse_rules('[columns]\nemail = "null"\n', "r.toml")
    with pytest.raises(ConfigError, match="unknown key"):
        sanitize.parse_rules('[rules]\n"users.email" = "null"\n', "r.toml")
    quoted = sanitize.parse_rules('[columns]\n\'"my.table".Col\' = "hash"\n', "r.toml")
    assert quoted.columns == {("my.table", "col"): sanitize.Rule("hash")}
    path = tmp_path / "rules.toml"
    path.write_text('[columns]\n"users.email" = "keep"\n"ghost.col" = "null"\n')
    assert sanitize.load_rules(path).source == str(path)
    assert sanitize.load_rules(None) is sanitize.DEFAULT_RULES


def test_triggers_do_not_fire_while_masking_and_survive(tmp_path: Path) -> None:
    text = (
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE, touched INTEGER DEFAULT 0);\n"
        "INSERT INTO users (id, email) VALUES (1, 'a;b@example.com');\n"
        "INSERT INTO users (id, email) VALUES (2, 'line\nbreak@example.com');\n"
        "CREATE TRIGGER touch AFTER UPDATE ON users BEGIN\n"
        "  UPDATE users SET touched = touched + 1 WHERE id = new.id;\nEND;\n"
    )
    rules = sanitize.parse_rules('[columns]\n"USERS.Email" = "hash"\n"ghost.col" = "null"\n', "r")
    result = sanitize.sanitize_dump([text], tmp_path / "t.sqlite", rules)
    assert result.unmatched == ("ghost.col",)
    conn = sqlite3.connect(tmp_path / "t.sqlite")
    assert conn.execute("SELECT sum(touched) FROM users").fetchone() == (0,)
    assert conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall() == [
        ("touch",)
    ]
    conn.close()
    assert b"example.com" not in _files_bytes(tmp_path / "t.sqlite")


def test_a_dump_in_one_transaction_loads_across_batches(tmp_path: Path) -> None:
    source = sqlite3.connect(":memory:")
    source.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, note TEXT)")
    source.executemany(
        "INSERT INTO users (email, note) VALUES (?, ?)",
        ((f"u{i}@example.com", "a;\nb" * 10) for i in range(20_000)),
    )
    source.commit()
    lines = [line + "\n" for line in source.iterdump()]  # BEGIN TRANSACTION; … COMMIT;
    source.close()
    assert lines[0] == "BEGIN TRANSACTION;\n" and lines[-1] == "COMMIT;\n"
    assert sum(map(len, lines)) > 1 << 20  # more than one batch
    lines[-1] = "COMMIT;"  # the last line without its line end
    target = tmp_path / "t.sqlite"
    sanitize.sanitize_dump(lines, target)
    conn = sqlite3.connect(target)
    assert conn.execute("SELECT count(*), min(note) FROM users").fetchone() == (
        20_000,
        "a;\nb" * 10,
    )
    conn.close()
    assert b"@example.com" not in _files_bytes(target)


def test_no_replaced_value_survives_in_page_slack_or_free_pages(tmp_path: Path) -> None:
    # Indexed, long values: an UPDATE rewrites index pages and leaves the old keys in the
    # slack of the pages and on freed ones; a page-by-page copy would carry them along.
    lines = [
        "CREATE TABLE users (id INTEGER PRIMARY KEY, github_username TEXT, email TEXT UNIQUE,"
        " avatar_url TEXT);\n",
        "CREATE INDEX users_name ON users(github_username);\n",
    ]
    lines += [
        f"INSERT INTO users VALUES({i}, 'octocat{i}', 'person{i}@secret.example', "
        f"'https://avatars/{i}/{'x' * 300}');\n"
        for i in range(5000)
    ]
    target = tmp_path / "masked.sqlite"
    sanitize.sanitize_dump(lines, target)
    raw = _files_bytes(target)
    assert (raw.count(b"octocat"), raw.count(b"secret.example"), raw.count(b"avatars/")) == (
        0,
        0,
        0,
    )
