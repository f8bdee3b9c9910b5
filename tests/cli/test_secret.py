from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest

from tests.conftest import IN_CI
from tests.support.keyring_backends import LeakyKeyring, SleepingKeyring, real_secret_service
from tests.support.memory_keyring import MemoryKeyring
from worktime_cli.cli import secret_input as secret_cli
from worktime_cli.project import config
from worktime_cli.secrets import keyring_projects, keyring_store
from worktime_cli.secrets import stores as secrets


def service(env: str | None = None) -> str:
    """This test's keyring service: keyed by the project's config path (issue 23 item 7)."""
    from worktime_cli.project import config as _config
    from worktime_cli.secrets import keyring_projects as _keyring_projects

    return _keyring_projects.service_name(_config.load(env=env))


VALUE = "pa55-${word}-Zq9"
NO_BACKEND_HINT = (
    "hint: start and unlock a Secret Service (e.g. gnome-keyring), choose a keyring backend with "
    "PYTHON_KEYRING_BACKEND, or put local values in .dev.vars\n"
)


def assert_secret_absent(value: str, *results) -> None:
    for result in results:
        assert value not in result.stdout
        assert value not in result.stderr
        assert value not in repr(result.exception)


@pytest.fixture
def sleeping(monkeypatch: pytest.MonkeyPatch) -> Iterator[SleepingKeyring]:
    backend = SleepingKeyring()
    keyring.set_keyring(backend)
    monkeypatch.setattr(keyring_store, "TIMEOUT_SECONDS", 0.2)
    yield backend
    backend.release()


# --- put -----------------------------------------------------------------------------------


def test_put_from_stdin(cli, memory_keyring: MemoryKeyring):
    result = cli("secret", "put", "JWT_SECRET", input=VALUE + "\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == f"✓ stored JWT_SECRET in the OS keyring ({service()})\n"
    assert memory_keyring.store[(service(), "JWT_SECRET")] == VALUE
    again = cli("--debug", "secret", "put", "JWT_SECRET", input="rotated")
    assert again.stderr == f"✓ replaced JWT_SECRET in the OS keyring ({service()})\n"
    assert_secret_absent(VALUE, result, again)


def test_put_from_hidden_prompt(cli, memory_keyring, monkeypatch):
    monkeypatch.setattr(secret_cli, "_stdin_is_terminal", lambda: True)
    result = cli("secret", "put", "JWT_SECRET", input=VALUE + "\n")
    assert result.exit_code == 0, result.output
    # click writes the prompt text to stderr; CliRunner's stand-in for getpass echoes the
    # prompt's last " " and a newline to stdout (a real getpass writes those to the terminal).
    assert result.stderr == (
        f"Enter a secret value for JWT_SECRET:✓ stored JWT_SECRET in the OS keyring ({service()})\n"
    )
    assert result.stdout == " \n"
    assert memory_keyring.store[(service(), "JWT_SECRET")] == VALUE
    assert_secret_absent(VALUE, result)


def test_put_json(cli):
    result = cli("secret", "put", "A", "--json", input="v")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "name": "A",
        "store": "keyring",
        "location": service(),
        "created": True,
        "warnings": [],
    }


def test_put_warns_when_a_dev_vars_file_overrides_the_keyring(cli, project):
    (project / ".dev.vars").write_text("JWT_SECRET=local\n")
    result = cli("secret", "put", "JWT_SECRET", input=VALUE)
    assert result.exit_code == 0
    assert result.stderr.endswith(
        "warning: JWT_SECRET is also set in .dev.vars, which takes precedence locally\n"
    )


@pytest.mark.parametrize(
    ("name", "value", "stderr"),
    [
        (
            "bad-name",
            VALUE,
            "error: invalid secret name 'bad-name'\n"
            "hint: names start with a letter or _ and contain only letters, digits and _\n",
        ),
        (
            "A",
            "\n",
            "error: refusing to store an empty value for A\n"
            "hint: type the value at the prompt or pipe it on standard input\n",
        ),
        (
            "A",
            VALUE + "x" * 5120,
            "error: the value for A is 5136 bytes; a Worker secret is at most 5120 bytes (5 KiB)\n",
        ),
    ],
    ids=["name", "empty", "too-big"],
)
def test_put_validation(cli, memory_keyring, name, value, stderr):
    plain = cli("secret", "put", name, input=value)
    debug = cli("--debug", "secret", "put", name, input=value)
    assert (plain.exit_code, plain.stdout, plain.stderr) == (1, "", stderr)
    assert debug.exit_code == 1 and debug.stderr.startswith("Traceback")
    assert debug.stderr.endswith(stderr)
    assert memory_keyring.store == {}
    assert_secret_absent(VALUE, plain, debug)


def test_value_never_comes_from_argv(cli, memory_keyring):
    result = cli("secret", "put", "A", VALUE, input="v")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "error: got 1 unexpected extra argument(s) (not shown: they may hold a secret value)\n"
        "hint: usage: worktime secret put NAME; a value is read from a hidden prompt or "
        "standard input, never from the command line (clear it from your shell history)\n"
    )
    assert memory_keyring.store == {}


@pytest.mark.parametrize(
    "extra",
    [["mysecretvalue"], ["mysecretvalue", "--remote"], ["--value=mysecretvalue"], ["a", "b"]],
)
def test_extra_arguments_are_refused_without_echoing_them(cli, memory_keyring, extra):
    """Click's own message was `Got unexpected extra argument(s) (mysecretvalue)` (issue 10)."""
    for args in (["secret", "put", "A", *extra], ["secret", "put", "A", *extra, "--json"]):
        result = cli(*args, input="v")
        assert result.exit_code == 2
        assert "mysecretvalue" not in result.stdout + result.stderr
        assert f"got {len([e for e in extra if e != '--remote'])} unexpected" in result.stderr
    assert json.loads(result.stdout)["error"]["code"] == 2
    assert memory_keyring.store == {}


def test_backend_error_never_shows_the_value_even_with_debug(cli):
    keyring.set_keyring(LeakyKeyring())
    plain = cli("secret", "put", "A", input=VALUE)
    debug = cli("--debug", "secret", "put", "A", input=VALUE)
    assert plain.exit_code == 1
    assert plain.stderr.startswith(
        "error: the OS keyring failed to store A: PasswordSetError: cannot store '***' for A\n"
    )
    assert "Traceback" in debug.stderr
    assert_secret_absent(VALUE, plain, debug)


def test_hung_keyring_times_out(cli, sleeping):
    result = cli("secret", "put", "A", input=VALUE)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: the OS keyring did not answer within 0.2 s (trying to read worktime.index)\n"
        "hint: unlock your keyring (it may be waiting for a password), or start and unlock"
    )
    assert_secret_absent(VALUE, result)


def test_no_backend_fails_closed_in_a_real_process(project):
    # A fresh interpreter, so keyring itself reads PYTHON_KEYRING_BACKEND as it would for a user.
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    out = subprocess.run(
        [sys.executable, "-m", "worktime_cli", "--debug", "secret", "put", "JWT_SECRET"],
        input=VALUE,
        capture_output=True,
        text=True,
        env=env,
        cwd=project,
        check=False,
    )
    assert out.returncode == 1
    assert out.stdout == ""
    assert out.stderr.endswith(
        "error: no usable OS keyring (keyring chose keyring.backends.fail.Keyring)\n"
        + NO_BACKEND_HINT
    )
    assert VALUE not in out.stderr
    assert list(project.iterdir()) == [project / "wrangler.toml"]  # no plaintext fallback


# --- list ----------------------------------------------------------------------------------


@pytest.fixture
def populated(cli, project: Path) -> Path:
    (project / "wrangler.toml").write_text(
        'name = "worktime-backend"\n[vars]\nAPI_HOST = "localhost"\n'
        '[secrets]\nrequired = ["JWT_SECRET", "GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET"]\n'
    )
    (project / ".dev.vars").write_text("GITHUB_CLIENT_ID=dev-id\n")
    for name in ("JWT_SECRET", "GITHUB_CLIENT_ID"):
        assert cli("secret", "put", name, input=VALUE).exit_code == 0
    return project


def test_list_table(cli, populated):
    result = cli("secret", "list")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        " name                 ┃ source    ┃ required ┃ overrides \n"
        "━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━━━\n"
        " API_HOST             │ vars      │ no       │           \n"
        " GITHUB_CLIENT_ID     │ .dev.vars │ yes      │ keyring   \n"
        " GITHUB_CLIENT_SECRET │ missing   │ yes      │           \n"
        " JWT_SECRET           │ keyring   │ yes      │           \n"
    )
    assert result.stderr == (
        f"project: {populated / 'wrangler.toml'}\n"
        "warning: required but not set: GITHUB_CLIENT_SECRET (`worktime secret put NAME`)\n"
    )
    assert_secret_absent(VALUE, result)
    assert "dev-id" not in result.output and "localhost" not in result.output


def test_list_json_shape(cli, populated):
    result = cli("secret", "list", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "store": "keyring",
        "location": service(),
        "secrets": [
            {
                "name": "API_HOST",
                "source": "vars",
                "required": False,
                "defined_in": ["vars"],
                "type": None,
            },
            {
                "name": "GITHUB_CLIENT_ID",
                "source": ".dev.vars",
                "required": True,
                "defined_in": ["keyring", ".dev.vars"],
                "type": None,
            },
            {
                "name": "GITHUB_CLIENT_SECRET",
                "source": None,
                "required": True,
                "defined_in": [],
                "type": None,
            },
            {
                "name": "JWT_SECRET",
                "source": "keyring",
                "required": True,
                "defined_in": ["keyring"],
                "type": None,
            },
        ],
        "missing": ["GITHUB_CLIENT_SECRET"],
        "keyring_error": None,
        "warnings": [],
        "project": str(populated / "wrangler.toml"),
    }
    assert_secret_absent(VALUE, result)


def test_list_with_env(cli, populated, memory_keyring):
    # An env must be defined in the config (issue 19: an unknown env is a usage error).
    with (populated / "wrangler.toml").open("a") as toml:
        toml.write("\n[env.staging]\n")
    (populated / ".dev.vars.staging").write_text("JWT_SECRET=staging\n")
    put = cli("secret", "put", "GITHUB_CLIENT_ID", "--env", "staging", input=VALUE)
    assert put.stderr.startswith(
        f"✓ stored GITHUB_CLIENT_ID in the OS keyring ({service('staging')})\n"
    )
    result = cli("secret", "list", "--env", "staging", "--json")
    data = json.loads(result.stdout)
    assert data["location"] == service("staging")  # the env's own secrets
    sources = {s["name"]: s["source"] for s in data["secrets"]}
    assert sources["JWT_SECRET"] == ".dev.vars.staging"
    assert sources["GITHUB_CLIENT_ID"] == "keyring"  # .dev.vars is not merged in
    assert (service(), "GITHUB_CLIENT_ID") in memory_keyring.store  # the top level's, untouched


def test_list_with_an_env_the_config_does_not_define_is_a_usage_error(cli, populated):
    """`--env stagign` with no [env.stagign] is refused (issue 19), even with .dev.vars.stagign:
    the top level's bindings and secrets would be used in its place."""
    (populated / ".dev.vars.stagign").write_text("A=1\n")
    result = cli("secret", "list", "--env", "stagign")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(
        f"error: {populated / 'wrangler.toml'}: no environment 'stagign' (none is defined)\n"
    )


def test_list_empty(cli, project):
    result = cli("secret", "list")
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == (
        f"project: {project / 'wrangler.toml'}\n"
        f"no secrets in the OS keyring ({service()}) yet; add one with `worktime secret put NAME`\n"
    )


def test_list_without_a_keyring_still_shows_the_files(cli, project):
    from keyring.backends import fail

    (project / ".dev.vars").write_text("A=1\n")
    keyring.set_keyring(fail.Keyring())
    result = cli("secret", "list", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert (
        data["keyring_error"]
        == "no usable OS keyring (keyring chose keyring.backends.fail.Keyring)"
    )
    assert [s["name"] for s in data["secrets"]] == ["A"]
    assert result.stderr == (
        "warning: could not read the OS keyring: no usable OS keyring "
        "(keyring chose keyring.backends.fail.Keyring)\n"
    )


def test_list_reports_a_malformed_dev_vars(cli, project):
    (project / ".dev.vars").write_text("A=1\nB='" + VALUE + "\n")
    result = cli("secret", "list")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {project / '.dev.vars'}:2: cannot parse this line\n")
    assert_secret_absent(VALUE, result)


# --- delete --------------------------------------------------------------------------------


def test_delete_needs_confirmation_when_not_interactive(cli, memory_keyring):
    cli("secret", "put", "A", input=VALUE)
    refused = cli("secret", "delete", "A")
    assert refused.exit_code == 1
    assert refused.stderr == (
        f"error: refusing to delete secret A from the OS keyring ({service()}) without confirmation\n"
        "hint: pass --yes to confirm non-interactively\n"
    )
    assert (service(), "A") in memory_keyring.store
    done = cli("secret", "delete", "A", "--yes")
    assert (done.exit_code, done.stderr) == (0, f"✓ deleted A from the OS keyring ({service()})\n")
    assert (service(), "A") not in memory_keyring.store
    assert cli("secret", "list", "--json").stdout.count('"name"') == 0


def test_delete_json(cli):
    cli("secret", "put", "A", input=VALUE)
    result = cli("secret", "delete", "A", "--yes", "--json")
    assert json.loads(result.stdout) == {
        "name": "A",
        "store": "keyring",
        "location": service(),
        "deleted": True,
    }


def test_delete_missing(cli):
    result = cli("secret", "delete", "NOPE", "--yes")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"error: no secret NOPE in the OS keyring ({service()})\nhint: see the names with `worktime secret list`\n"
    )


# --- bulk ----------------------------------------------------------------------------------


def test_bulk_json_file(cli, project, memory_keyring):
    (project / "secrets.json").write_text(json.dumps({"A": VALUE, "B": "b\n"}))
    result = cli("secret", "bulk", "secrets.json", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "store": "keyring",
        "location": service(),
        "stored": ["A", "B"],
        "deleted": [],
    }
    assert memory_keyring.store[(service(), "A")] == VALUE
    assert memory_keyring.store[(service(), "B")] == "b"
    assert_secret_absent(VALUE, result)


def test_bulk_dotenv_from_stdin(cli, memory_keyring):
    result = cli("secret", "bulk", "-", input=f"# seed\nJWT_SECRET='{VALUE}'\nOTHER=x\n")
    assert result.exit_code == 0, result.output
    assert result.stderr == f"✓ stored 2 and deleted 0 secret(s) in the OS keyring ({service()})\n"
    assert memory_keyring.store[(service(), "JWT_SECRET")] == VALUE  # ${ kept as written
    assert_secret_absent(VALUE, result)


def test_bulk_null_deletes_after_confirmation(cli, project, memory_keyring):
    cli("secret", "put", "OLD", input=VALUE)
    (project / "s.json").write_text('{"OLD": null, "NEW": "n"}')
    refused = cli("secret", "bulk", "s.json")
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: refusing to delete 1 secret(s) without confirmation\n")
    assert (service(), "NEW") not in memory_keyring.store
    done = cli("secret", "bulk", "s.json", "--yes")
    assert done.stderr == f"✓ stored 1 and deleted 1 secret(s) in the OS keyring ({service()})\n"
    assert (service(), "OLD") not in memory_keyring.store


def test_bulk_is_all_or_nothing(cli, project, memory_keyring):
    (project / "s.env").write_text(f"A={VALUE}\nB=\n")
    result = cli("secret", "bulk", "s.env")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: refusing to store an empty value for B\n")
    assert memory_keyring.store == {}
    assert_secret_absent(VALUE, result)


def test_bulk_missing_file(cli):
    result = cli("secret", "bulk", "nope.json")
    assert (result.exit_code, result.stderr) == (
        1,
        "error: cannot read nope.json: No such file or directory\n",
    )


# --- help ----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["put", "list", "delete", "bulk"])
def test_help_has_an_example(cli, command):
    result = cli("secret", command, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout
    assert f"worktime secret {command}" in result.stdout


# --- the real Secret Service ---------------------------------------------------------------


@pytest.mark.secret_service
def test_round_trip_against_the_real_secret_service(cli, project):
    name = f"worktime-test-{uuid.uuid4().hex[:12]}"
    (project / "wrangler.toml").write_text(f'name = "{name}"\n')
    service = keyring_projects.service_name(config.load())  # this checkout's own entry
    with real_secret_service(IN_CI):
        try:
            put = cli("--debug", "secret", "put", "JWT_SECRET", input=VALUE + "\n")
            assert put.exit_code == 0, put.output
            assert keyring.get_password(service, "JWT_SECRET") == VALUE
            listed = cli("secret", "list", "--json")
            assert json.loads(listed.stdout)["secrets"] == [
                {
                    "name": "JWT_SECRET",
                    "source": "keyring",
                    "required": False,
                    "defined_in": ["keyring"],
                    "type": None,  # remote lists say secret_text; a local keyring entry has none
                }
            ]
            deleted = cli("secret", "delete", "JWT_SECRET", "--yes")
            assert deleted.exit_code == 0, deleted.output
            assert keyring.get_password(service, "JWT_SECRET") is None
            assert_secret_absent(VALUE, put, listed, deleted)
        finally:
            for user in ("JWT_SECRET", secrets.INDEX_USERNAME):
                if keyring.get_password(service, user) is not None:
                    keyring.delete_password(service, user)


def test_list_without_a_project_name_still_lists_the_files(cli, project):
    (project / "wrangler.toml").write_text('main = "src/index.ts"\n')
    (project / ".dev.vars").write_text("A=1\n")
    result = cli("secret", "list", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["location"] is None
    assert data["keyring_error"].endswith(
        "has no `name`, which names this project's secrets in the keyring"
    )
    assert [s["name"] for s in data["secrets"]] == ["A"]


def test_a_pasted_value_on_a_line_of_its_own_is_never_echoed(cli, project):
    """A bare line in .dev.vars or a bulk file is reported by position only (review #3)."""
    token = "ghp_SuperSecretTokenValue123"
    (project / ".dev.vars").write_text(f"JWT_SECRET=x\n{token}\n")
    listed = cli("secret", "list")
    assert listed.exit_code == 1
    assert listed.stderr.startswith(f"error: {project / '.dev.vars'}:2: a line without '='\n")
    (project / ".dev.vars").unlink()
    bulk = cli("secret", "bulk", "-", input=f"sk-live-{token}\n")
    assert bulk.exit_code == 1
    for result in (listed, bulk):
        assert token not in result.stdout + result.stderr
