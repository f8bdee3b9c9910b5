"""One behaviour, two targets: a local project, or the same project against the fake Cloudflare API."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.admin.support import SCHEMA, WRANGLER_TOML, admin_project, local_kv
from tests.support.fake_cloudflare import Database, FakeCloudflare, KVEntry, fake_fixture
from worktime_cli import clock
from worktime_cli.admin.targets import SQLiteDatabase

DB_ID = "6f1c0e0e-1111-4222-8333-444455556666"
KV_ID = "0f2b6a3c4d5e6f708192a3b4c5d6e7f8"


@dataclass
class Backend:
    """Where a test's data lives, and the flags that make the CLI act on it."""

    name: str
    db: SQLiteDatabase  # direct access to the same SQLite file the command changes
    args: list[str]
    fake: FakeCloudflare | None = None
    _kv: Any = None

    @property
    def remote(self) -> bool:
        return self.fake is not None

    def put_token(self, key: str, ttl: int | None) -> None:
        if self.fake is not None:
            expiration = None if ttl is None else int(clock.timestamp()) + ttl
            self.fake.namespaces[KV_ID]["entries"][key] = KVEntry(b"gho_secret_value", expiration)
        else:
            self._kv.put(key, b"gho_secret_value", expiration_ttl=ttl)

    def token_keys(self) -> set[str]:
        if self.fake is not None:
            return set(self.fake.namespaces[KV_ID]["entries"])
        return {k.name for k in self._kv.page(limit=1000).keys}


def _remote(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    (project / "wrangler.toml").write_text(WRANGLER_TOML, encoding="utf-8")
    for fake in fake_fixture(tmp_path, monkeypatch):
        path = fake.data_dir / f"{DB_ID}.sqlite"
        conn = sqlite3.connect(path)
        conn.executescript(SCHEMA)
        conn.close()
        fake.databases[DB_ID] = Database(DB_ID, "worktime-db", path)
        fake.namespaces[KV_ID] = {"title": "worktime-backend-KV", "entries": {}}
        db = SQLiteDatabase(path)
        try:
            yield Backend("remote", db, ["--remote"], fake)
        finally:
            db.close()


@pytest.fixture(name="backend", params=["local", "remote"])
def backend_fixture(
    request: pytest.FixtureRequest, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Backend]:
    if request.param == "remote":
        yield from _remote(project, tmp_path, monkeypatch)
        return
    db = admin_project(project)
    kv = local_kv(project)
    try:
        yield Backend("local", db, [], None, kv)
    finally:
        kv.close()
        db.close()
