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
        "store": "worker",
        "location": "worktime-backend",
        "created": True,
        "warnings": [],
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


def test_put_remote_human_line_says_stored_or_replaced(fake, cli, worker) -> None:
    first = cli("secret", "put", "A", "--remote", input=VALUE)
    again = cli("secret", "put", "A", "--remote", input=VALUE + "2")
    assert first.stderr == "✓ stored A on the Worker worktime-backend\n"
    assert again.stderr == "✓ replaced A on the Worker worktime-backend\n"
    assert worker == {"A": VALUE + "2"}
    _clean(first, again)


def test_list_and_delete_remote(fake, cli, worker, project: Path) -> None:
    (project / "wrangler.toml").write_text(
        'name = "worktime-backend"\n\n[secrets]\nrequired = ["A", "B"]\n'
    )
    worker["A"] = VALUE
    listed = cli("secret", "list", "--remote", "--json")
    assert json.loads(listed.stdout) == {
        "store": "worker",
        "location": "worktime-backend",
        "secrets": [
            {
                "name": "A",
                "source": "worker",
                "required": True,
                "defined_in": ["worker"],
                "type": "secret_text",
            },
            {"name": "B", "source": None, "required": True, "defined_in": [], "type": None},
        ],
        "missing": ["B"],
        "keyring_error": None,
        "warnings": [],
        "project": str(project / "wrangler.toml"),
    }
    assert (
        listed.stderr == "warning: required but not set: B (`worktime secret put NAME --remote`)\n"
    )
    table = cli("secret", "list", "--remote")
    assert table.stdout.splitlines()[2:] == [
        " A    │ worker  │ yes      │           ",
        " B    │ missing │ yes      │           ",
    ]
    refused = cli("secret", "delete", "A", "--remote")
    assert refused.exit_code == 1 and worker == {"A": VALUE}
    assert refused.stderr.startswith(
        "error: refusing to delete secret A from the Worker worktime-backend without confirmation\n"
    )
    assert fake.calls("DELETE", "/secrets/A$") == []  # nothing destructive was sent
    done = cli("secret", "delete", "A", "--remote", "--yes", "--json")
    assert json.loads(done.stdout) == {
        "name": "A",
        "store": "worker",
        "location": "worktime-backend",
        "deleted": True,
    }
    assert worker == {}
    missing = cli("secret", "delete", "A", "--remote", "--yes")
    assert (missing.exit_code, missing.stderr) == (
        1,
        "error: no secret A on the Worker worktime-backend\n"
        "hint: see the names with `worktime secret list --remote`\n",
    )
    _clean(listed, table, refused, done, missing)


def test_env_selects_the_environments_worker(fake, cli, project: Path) -> None:
    (project / "wrangler.toml").write_text('name = "worktime-backend"\n[env.staging]\n')
    fake.scripts["worktime-backend-staging"] = {}
    result = cli("secret", "put", "A", "--remote", "--env", "staging", input=VALUE)
    assert result.exit_code == 0, result.output
    assert fake.scripts["worktime-backend-staging"] == {"A": VALUE}
    listed = cli("secret", "list", "--remote", "--env", "staging", "--json")
    assert json.loads(listed.stdout)["location"] == "worktime-backend-staging"
    _clean(result, listed)


def test_local_and_remote_together_is_a_usage_error(fake, cli, worker) -> None:
    result = cli("secret", "put", "A", "--local", "--remote", input=VALUE)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --local and --remote cannot be combined\n")
    assert worker == {} and fake.requests == []


def test_bulk_remote(fake, cli, worker, project: Path) -> None:
    (project / "s.json").write_text(json.dumps({"A": VALUE, "B": VALUE + "2"}))
    result = cli("secret", "bulk", "s.json", "--remote", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "store": "worker",
        "location": "worktime-backend",
        "stored": ["A", "B"],
        "deleted": [],
    }
    assert worker == {"A": VALUE, "B": VALUE + "2"}
    (project / "d.json").write_text('{"A": null, "ABSENT": null, "C": "c"}')
    refused = cli("secret", "bulk", "d.json", "--remote")
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: refusing to delete 1 secret(s) without confirmation\n")
    assert worker == {"A": VALUE, "B": VALUE + "2"}
    done = cli("secret", "bulk", "d.json", "--remote", "--yes")
    assert done.stderr == "✓ stored 1 and deleted 1 secret(s) on the Worker worktime-backend\n"
    assert worker == {"B": VALUE + "2", "C": "c"}
    _clean(result, refused, done)


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
        "store": "worker",
        "location": "worktime-backend",
        "uploaded": ["A", "B"],
        "skipped": ["C"],
    }
    assert worker == {"A": VALUE, "B": VALUE + "b"}
    human = cli("secret", "push", "--allow-missing", "--yes")
    assert human.stderr == (
        "warning: no local value, skipped: C\n✓ uploaded 2 secret(s) to the Worker worktime-backend: A, B\n"
    )
    _clean(missing, refused, pushed, human)


def test_push_with_nothing_required_needs_no_login(cli, project: Path, monkeypatch) -> None:
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    result = cli("secret", "push", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "store": "worker",
        "location": "worktime-backend",
        "uploaded": [],
        "skipped": [],
    }
    assert result.stderr.startswith("no required secrets:")


def test_push_and_bulk_are_one_settings_change(fake, cli, worker, project: Path) -> None:
    names = [f"S{i:02d}" for i in range(12)]
    (project / "wrangler.toml").write_text(
        f'name = "worktime-backend"\n\n[secrets]\nrequired = {json.dumps(names)}\n'
    )
    (project / ".dev.vars").write_text("".join(f"{n}={VALUE}{n}\n" for n in names))
    pushed = cli("secret", "push", "--yes", "--json")
    assert pushed.exit_code == 0, pushed.output
    assert json.loads(pushed.stdout)["uploaded"] == names
    # Two round trips for twelve secrets: the Worker's bindings read, then written back whole.
    assert [(r.method, r.path.rsplit("/", 1)[1]) for r in fake.requests] == [
        ("GET", "settings"),
        ("PATCH", "settings"),
    ]
    assert worker == {n: VALUE + n for n in names}
    fake.fail("PATCH", "/settings$", 400, code=10013, message="try later")
    (project / "s.json").write_text(json.dumps({"S00": "new", "S01": None}))
    failed = cli("secret", "bulk", "s.json", "--remote", "--yes")
    assert failed.exit_code == 1
    assert failed.stderr.startswith(
        "error: 10013: try later (nothing was changed: the secrets go in one request)\n"
    )
    assert worker == {n: VALUE + n for n in names}
    _clean(pushed, failed)
