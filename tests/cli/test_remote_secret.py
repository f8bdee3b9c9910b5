"""`worktime secret … --remote` and `secret push` through the real CLI against the fake API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.fake_cloudflare import TOKEN, FakeCloudflare, fake_fixture

fake = pytest.fixture(name="fake")(fake_fixture)
VALUE = "s3cret-value-never-printed-9d1c"


@pytest.fixture
def worker(fake: FakeCloudflare) -> dict[str, str]:
    fake.scripts["worktime-backend"] = {}
    return fake.scripts["worktime-backend"]


def _clean(*results) -> None:
    for result in results:
        assert VALUE not in result.output
        assert TOKEN not in result.output


def test_put_remote_reads_stdin_and_never_prints_the_value(fake, cli, worker) -> None:
    result = cli("secret", "put", "JWT_SECRET", "--remote", "--json", input=VALUE + "\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "name": "JWT_SECRET",
        "script": "worktime-backend",
        "type": "secret_text",
    }
    assert worker == {"JWT_SECRET": VALUE}
    assert fake.calls("PUT", "/workers/scripts/worktime-backend/secrets$")[0].json() == {
        "name": "JWT_SECRET",
        "text": VALUE,
        "type": "secret_text",
    }
    _clean(result)


def test_put_remote_without_a_worker_says_deploy_first(fake, cli) -> None:
    result = cli("secret", "put", "JWT_SECRET", "--remote", input=VALUE)
    assert result.exit_code == 1
    assert result.stderr == (
        "error: the Worker 'worktime-backend' does not exist on this account yet (10007)\n"
        "hint: deploy the Worker first (`wrangler deploy`), then set its secrets\n"
    )
    _clean(result)


def test_list_and_delete_remote(fake, cli, worker) -> None:
    worker["A"] = VALUE
    listed = cli("secret", "list", "--remote", "--json")
    assert json.loads(listed.stdout) == {
        "script": "worktime-backend",
        "secrets": [{"name": "A", "type": "secret_text"}],
    }
    refused = cli("secret", "delete", "A", "--remote")
    assert refused.exit_code == 1 and worker == {"A": VALUE}
    done = cli("secret", "delete", "A", "--remote", "--yes", "--json")
    assert json.loads(done.stdout) == {"name": "A", "script": "worktime-backend", "deleted": True}
    assert worker == {}
    assert cli("secret", "list", "--remote", "--env", "staging").exit_code == 2
    _clean(listed, refused, done)


def test_bulk_remote(fake, cli, worker, project: Path) -> None:
    (project / "s.json").write_text(json.dumps({"A": VALUE, "B": VALUE + "2"}))
    result = cli("secret", "bulk", "s.json", "--remote", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"script": "worktime-backend", "uploaded": ["A", "B"]}
    assert worker == {"A": VALUE, "B": VALUE + "2"}
    (project / "d.json").write_text('{"A": null}')
    refused = cli("secret", "bulk", "d.json", "--remote")
    assert refused.exit_code == 1
    assert "null (delete) entries are not supported with --remote: A" in refused.stderr
    _clean(result, refused)


def test_push_uploads_required_secrets_with_values(fake, cli, worker, project: Path) -> None:
    (project / "wrangler.toml").write_text(
        'name = "worktime-backend"\n\n[secrets]\nrequired = ["A", "B", "C"]\n'
    )
    assert cli("secret", "put", "A", input=VALUE).exit_code == 0
    (project / ".dev.vars").write_text(f"B={VALUE}b\n")
    missing = cli("secret", "push", "--yes")
    assert missing.exit_code == 1
    assert missing.stderr.startswith(
        "error: required secret(s) with no value in the keyring or .dev.vars: C\n"
    )
    assert worker == {}
    refused = cli("secret", "push", "--allow-missing")
    assert refused.exit_code == 1
    assert "refusing to upload secrets to the Worker worktime-backend" in refused.stderr
    assert worker == {}
    pushed = cli("secret", "push", "--allow-missing", "--yes", "--json")
    assert pushed.exit_code == 0, pushed.output
    assert json.loads(pushed.stdout) == {
        "script": "worktime-backend",
        "uploaded": ["A", "B"],
        "skipped": ["C"],
    }
    assert worker == {"A": VALUE, "B": VALUE + "b"}
    human = cli("secret", "push", "--allow-missing", "--yes")
    assert human.stderr == (
        "warning: no local value, skipped: C\n✓ uploaded 2 secret(s) to the Worker worktime-backend: A, B\n"
    )
    _clean(missing, refused, pushed, human)
