"""`worktime secret diff` (issue 24 item 4): names only, locally and against the fake API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.fake_cloudflare import TOKEN, FakeCloudflare, fake_fixture
from worktime_cli.secrets import diff as secret_diff

fake = pytest.fixture(name="fake")(fake_fixture)
VALUE = "diff-value-never-printed-7a1b"
TOML = 'name = "worktime-backend"\n[vars]\nAPI_HOST = "h"\n[secrets]\nrequired = ["A", "B", "C"]\n'


@pytest.fixture
def setup(cli, project: Path) -> Path:
    (project / "wrangler.toml").write_text(TOML)
    (project / ".dev.vars").write_text(f"B={VALUE}\nEXTRA_LOCAL={VALUE}\n")
    assert cli("secret", "put", "A", input=VALUE).exit_code == 0
    return project


def _clean(*results) -> None:
    for result in results:
        assert VALUE not in result.output
        assert TOKEN not in result.output


def test_plan_marks_missing_and_extra():
    result = secret_diff.plan(
        ["A", "B", "C"],
        {"keyring": {"A"}, ".dev.vars": {"B", "X"}, "worker": {"A", "B", "Y"}},
    )
    assert [(row.name, row.present, row.missing, row.extra) for row in result.rows] == [
        ("A", ("keyring", "worker"), (), False),
        ("B", (".dev.vars", "worker"), (), False),
        ("C", (), ("local", "worker"), False),
        ("X", (".dev.vars",), (), True),
        ("Y", ("worker",), (), True),
    ]
    assert result.missing == ("C",) and not result.ok
    assert [row.status for row in result.rows] == [
        "ok",
        "ok",
        "missing locally and on the Worker",
        "extra",
        "extra",
    ]


def test_plan_without_a_required_list_marks_nothing_extra():
    result = secret_diff.plan([], {"keyring": {"A"}}, has_required_list=False)
    assert result.ok and [row.status for row in result.rows] == ["ok"]


def test_local_diff_table_and_exit_code(cli, setup):
    result = cli("secret", "diff")
    assert result.exit_code == 1, result.output
    assert result.stdout == (
        " name        ┃ required ┃ keyring ┃ .dev.vars ┃ status          \n"
        "━━━━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━\n"
        " A           │ yes      │ yes     │ no        │ ok              \n"
        " B           │ yes      │ no      │ yes       │ ok              \n"
        " C           │ yes      │ no      │ no        │ missing locally \n"
        " EXTRA_LOCAL │ no       │ no      │ yes       │ extra           \n"
    )
    assert result.stderr == (
        "warning: required but missing locally: C (`worktime secret put NAME`)\n"
    )
    _clean(result)
    # [vars] are not secrets: API_HOST is not listed, and a required name only there is missing.
    assert "API_HOST" not in result.output


def test_local_diff_passes_when_every_required_name_has_a_value(cli, setup):
    assert cli("secret", "put", "C", input=VALUE).exit_code == 0
    result = cli("secret", "diff", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == {
        "places": ["keyring", ".dev.vars"],
        "required_from": "wrangler.toml",
        "secrets": [
            {"name": "A", "required": True, "present": ["keyring"], "missing": [], "extra": False},
            {
                "name": "B",
                "required": True,
                "present": [".dev.vars"],
                "missing": [],
                "extra": False,
            },
            {"name": "C", "required": True, "present": ["keyring"], "missing": [], "extra": False},
            {
                "name": "EXTRA_LOCAL",
                "required": False,
                "present": [".dev.vars"],
                "missing": [],
                "extra": True,
            },
        ],
        "missing": [],
        "ok": True,
        "keyring_error": None,
        "warnings": [],
    }
    _clean(result)


def test_env_uses_the_env_file_and_the_env_keyring(cli, project):
    (project / "wrangler.toml").write_text(
        'name = "worktime-backend"\n[env.staging]\n[env.staging.secrets]\nrequired = ["S"]\n'
    )
    (project / ".dev.vars").write_text("S=top\n")  # not read under --env staging
    (project / ".dev.vars.staging").write_text("OTHER=x\n")
    result = cli("secret", "diff", "--env", "staging", "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["places"] == ["keyring", ".dev.vars.staging"]
    assert data["missing"] == ["S"]
    assert cli("secret", "put", "S", "--env", "staging", input=VALUE).exit_code == 0
    assert cli("secret", "diff", "--env", "staging").exit_code == 0


def test_required_names_from_dev_vars_example(cli, project):
    (project / ".dev.vars.example").write_text("JWT_SECRET=\n")
    result = cli("secret", "diff", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert (data["required_from"], data["missing"]) == (".dev.vars.example", ["JWT_SECRET"])
    assert data["places"] == ["keyring", ".dev.vars"]  # the file to add it to, though absent


def test_nothing_anywhere(cli):
    result = cli("secret", "diff")
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == "no secret names anywhere, and none required\n"


# --- against the stand-in Cloudflare API --------------------------------------------------


@pytest.fixture
def worker(fake: FakeCloudflare) -> dict[str, str]:
    fake.scripts["worktime-backend"] = {"A": VALUE, "ONLY_DEPLOYED": VALUE}
    return fake.scripts["worktime-backend"]


def test_remote_diff_adds_the_worker_column(fake, cli, setup, worker):
    result = cli("secret", "diff", "--remote")
    assert result.exit_code == 1, result.output
    assert result.stdout == (
        " name          ┃ required ┃ keyring ┃ .dev.vars ┃ worker ┃ status                            \n"
        "━━━━━━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━\n"
        " A             │ yes      │ yes     │ no        │ yes    │ ok                                \n"
        " B             │ yes      │ no      │ yes       │ no     │ missing on the Worker             \n"
        " C             │ yes      │ no      │ no        │ no     │ missing locally and on the Worker \n"
        " EXTRA_LOCAL   │ no       │ no      │ yes       │ no     │ extra                             \n"
        " ONLY_DEPLOYED │ no       │ no      │ no        │ yes    │ extra                             \n"
    )
    assert result.stderr == (
        "warning: required but missing locally: C (`worktime secret put NAME`)\n"
        "warning: required but missing on the Worker: B, C (`worktime secret push`, or "
        "`worktime secret put NAME --remote`)\n"
    )
    # Names only: the list endpoint, never a value read back.
    secrets_calls = [
        r for r in fake.requests if "/workers/scripts/worktime-backend/secrets" in r.path
    ]
    assert [call.method for call in secrets_calls] == ["GET"]
    _clean(result)


def test_remote_diff_passes_when_the_worker_has_every_required_name(fake, cli, setup, worker):
    assert cli("secret", "put", "C", input=VALUE).exit_code == 0
    worker.update({"B": VALUE, "C": VALUE})
    result = cli("secret", "diff", "--remote", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["places"] == ["keyring", ".dev.vars", "worker"]
    assert data["ok"] is True
    assert {row["name"]: row["present"] for row in data["secrets"]}["B"] == [".dev.vars", "worker"]
    _clean(result)
