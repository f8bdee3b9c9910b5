"""An admin command that writes to Cloudflare names its target first, as every remote write does.

`users forget`, `sessions close-stale`, `stats rebuild`, `tokens revoke` and `demo seed` change
the production database or the token namespace: with --remote each says which D1 database (and
which KV namespace, where it deletes a token) before it asks or writes, and carries the target
in its --json output. Locally nothing is said.
"""

from __future__ import annotations

import json

import pytest

from tests.admin.backends import DB_ID, KV_ID, Backend, backend_fixture  # noqa: F401
from tests.admin.support import add_session, add_user
from tests.conftest import Runner

D1_LINE = f"target: D1 database worktime-db (id {DB_ID}), top-level config (no --env), account "
KV_LINE = f"target: KV namespace KV (id {KV_ID}), top-level config (no --env), account "


def _seeded(backend: Backend) -> None:
    alice = add_user(backend.db, "alice", "111")
    add_session(backend.db, alice, start_time="2024-06-01 10:00:00", duration_seconds=60)
    add_session(backend.db, alice, start_time="2024-06-01 12:00:00", status="active")
    backend.put_token("github_token:111", 3600)


WRITES = {
    "stats rebuild": (["stats", "rebuild"], [D1_LINE]),
    "sessions close-stale": (["sessions", "close-stale"], [D1_LINE]),
    "users forget": (["users", "forget", "alice"], [D1_LINE, KV_LINE]),
    "tokens revoke": (["tokens", "revoke", "alice"], [KV_LINE]),
}


@pytest.mark.parametrize("command", sorted(WRITES))
def test_a_remote_admin_write_names_its_target_first(
    cli: Runner, backend: Backend, command: str
) -> None:
    _seeded(backend)
    argv, lines = WRITES[command]
    result = cli(*argv, "--yes", "--json", *backend.args)
    assert result.exit_code == 0, result.output
    said = [line for line in result.stderr.splitlines() if line.startswith("target: ")]
    if not backend.remote:
        assert said == []
        assert "target" not in json.loads(result.stdout)
        return
    assert [line[: len(want)] for line, want in zip(said, lines, strict=True)] == lines
    assert result.stderr.startswith(said[0])  # before anything else it says
    target = json.loads(result.stdout)["target"]
    first = lines[0]
    assert (target["kind"], target["id"], target["env"]) == (
        ("d1_database", DB_ID, None) if first is D1_LINE else ("kv_namespace", KV_ID, None)
    )


def test_the_target_comes_before_the_confirmation(cli: Runner, backend: Backend) -> None:
    _seeded(backend)
    refused = cli("users", "forget", "alice", *backend.args)  # no --yes, not a terminal
    assert refused.exit_code == 1
    if backend.remote:
        first = refused.stderr.splitlines()[0]
        assert first.startswith(D1_LINE), refused.stderr
    else:
        assert "target: " not in refused.stderr


def test_demo_seed_names_both_targets_before_asking(cli: Runner, backend: Backend) -> None:
    argv = ["demo", "seed", "--users", "2", "--days", "2", "--end", "2024-06-30"]
    refused = cli(*argv, *backend.args)  # remotely it asks first; not a terminal: refused
    done = cli(*argv, "--yes", "--json", *backend.args)
    assert done.exit_code == 0, done.output
    said = [line for line in done.stderr.splitlines() if line.startswith("target: ")]
    if not backend.remote:
        assert said == []
        return
    assert refused.exit_code == 1
    assert [line[: len(D1_LINE)] for line in refused.stderr.splitlines()[:1]] == [D1_LINE]
    assert [said[0][: len(D1_LINE)], said[1][: len(KV_LINE)]] == [D1_LINE, KV_LINE]
    assert json.loads(done.stdout)["target"]["id"] == DB_ID
