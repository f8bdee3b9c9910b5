"""`worktime login/whoami/logout` through the real CLI against the fake Cloudflare API."""

from __future__ import annotations

import json

import pytest

from tests.support.fake_cloudflare import ACCOUNT, TOKEN, FakeCloudflare, fake_fixture

fake = pytest.fixture(name="fake")(fake_fixture)
STORED = ("worktime:cloudflare", "api_token")


@pytest.fixture
def no_env_token(fake: FakeCloudflare, monkeypatch: pytest.MonkeyPatch) -> FakeCloudflare:
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN")
    return fake


def test_login_from_stdin_verifies_and_stores(no_env_token, cli, memory_keyring) -> None:
    result = cli("login", input=TOKEN + "\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == (
        "✓ logged in: token f267e341f3dd4697bd3b9f71dd96247f is active; stored in the keyring\n"
        f"account: Worktime Team ({ACCOUNT})\n"
    )
    assert memory_keyring.store[STORED] == TOKEN
    assert (
        no_env_token.calls("GET", "/user/tokens/verify")[0].headers["authorization"]
        == f"Bearer {TOKEN}"
    )
    assert TOKEN not in result.output


def test_login_json_shape(no_env_token, cli) -> None:
    result = cli("login", "--json", input=TOKEN)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "source": "keyring",
        "token_id": "f267e341f3dd4697bd3b9f71dd96247f",
        "status": "active",
        "expires_on": None,
        "accounts": [{"id": ACCOUNT, "name": "Worktime Team"}],
    }


def test_login_with_a_bad_token_stores_nothing(no_env_token, cli, memory_keyring) -> None:
    result = cli("login", input="bad-token-value\n")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: 9109: Invalid access token\nhint: the API token is invalid or expired; run `worktime login` again\n"
    )
    assert memory_keyring.store == {}
    debug = cli("--debug", "login", input="bad-token-value\n")
    assert debug.exit_code == 1
    assert "Traceback" in debug.stderr
    assert "bad-token-value" not in result.output + debug.output


def test_login_refuses_an_inactive_token(no_env_token, cli, memory_keyring) -> None:
    no_env_token.tokens[TOKEN] = "disabled"
    result = cli("login", input=TOKEN)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: the API token is disabled; nothing was stored\n")
    assert memory_keyring.store == {}


def test_login_empty_input(no_env_token, cli) -> None:
    result = cli("login", input="\n")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no API token given\n")
    assert no_env_token.requests == []


def test_whoami_uses_the_stored_token(no_env_token, cli, memory_keyring) -> None:
    memory_keyring.store[STORED] = TOKEN
    result = cli("whoami", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["source"] == "keyring"
    table = cli("whoami")
    assert table.exit_code == 0
    assert "the keyring (worktime login)" in table.stdout
    assert "Worktime Team" in table.stdout
    assert TOKEN not in table.output + result.output


def test_whoami_prefers_the_environment(fake, cli, memory_keyring) -> None:
    memory_keyring.store[STORED] = "some-other-token"
    result = cli("whoami", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["source"] == "environment"


def test_whoami_not_logged_in(no_env_token, cli) -> None:
    result = cli("whoami")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: not logged in to Cloudflare\nhint: run `worktime login`, or set CLOUDFLARE_API_TOKEN\n"
    )


def test_logout_removes_the_token(no_env_token, cli, memory_keyring) -> None:
    memory_keyring.store[STORED] = TOKEN
    result = cli("logout")
    assert result.exit_code == 0
    assert result.stderr == "✓ logged out: the API token was removed from the keyring\n"
    assert memory_keyring.store == {}
    again = cli("logout", "--json")
    assert json.loads(again.stdout) == {"removed": False}


def test_waf_challenge_through_the_cli(fake, cli) -> None:
    fake.fail(
        "GET",
        "/user/tokens/verify",
        403,
        headers={"Content-Type": "text/html", "cf-mitigated": "challenge"},
        body=b"<html></html>",
    )
    result = cli("whoami")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: Cloudflare answered with an HTML page (HTTP 403, a challenge) instead of API JSON\n"
    )


def test_help_renders_with_examples(cli) -> None:
    for command in ("login", "whoami", "logout"):
        result = cli(command, "--help")
        assert result.exit_code == 0
        assert "Example:" in result.stdout


def test_a_token_on_the_command_line_is_refused_without_echoing_it(
    no_env_token, cli, memory_keyring
) -> None:
    """Click's own error would be `Got unexpected extra argument (<the token>)`."""
    for args in (["login", TOKEN], ["login", "--json", TOKEN], ["login", f"--token={TOKEN}"]):
        result = cli(*args, input=TOKEN)
        assert result.exit_code == 2
        assert "got 1 unexpected extra argument(s)" in result.stderr
        assert TOKEN not in result.output
    assert memory_keyring.store == {}
    assert no_env_token.requests == []


def test_login_warns_when_the_environment_token_wins(fake, cli, memory_keyring) -> None:
    result = cli("login", input=TOKEN)
    assert result.exit_code == 0, result.output
    assert result.stderr.endswith(
        "warning: CLOUDFLARE_API_TOKEN is set and is used instead of the stored token\n"
    )
    assert memory_keyring.store[STORED] == TOKEN
