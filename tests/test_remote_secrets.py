"""Remote Worker secrets against the fake Cloudflare API; values never leak into messages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_cloudflare import ACCOUNT, TOKEN, FakeCloudflare, fake_fixture
from worktime_cli import config
from worktime_cli.errors import ConfigError, RemoteError
from worktime_cli.remote import secrets
from worktime_cli.remote.client import Client

fake = pytest.fixture(name="fake")(fake_fixture)
VALUE = "s3cr3t-value-that-must-not-leak"


@pytest.fixture
def client(fake: FakeCloudflare) -> Iterator[Client]:
    with Client(TOKEN, base_url=fake.url, account_id=ACCOUNT, sleep=lambda _s: None) as c:
        yield c


def test_put_list_delete(fake, client) -> None:
    fake.scripts["worktime-backend"] = {}
    script = secrets.script_name(config.load())
    assert secrets.put(client, script, "JWT_SECRET", VALUE) == secrets.RemoteSecret("JWT_SECRET")
    put = fake.calls("PUT", "/secrets$")[0]
    assert put.path == f"/client/v4/accounts/{ACCOUNT}/workers/scripts/worktime-backend/secrets"
    assert put.json() == {"name": "JWT_SECRET", "text": VALUE, "type": "secret_text"}
    assert secrets.list_secrets(client, script) == [
        secrets.RemoteSecret("JWT_SECRET", "secret_text")
    ]
    secrets.delete(client, script, "JWT_SECRET")
    assert fake.scripts["worktime-backend"] == {}


def test_missing_worker_says_deploy_first(fake, client) -> None:
    with pytest.raises(RemoteError) as caught:
        secrets.put(client, "worktime-backend", "JWT_SECRET", VALUE)
    assert (
        caught.value.message
        == "the Worker 'worktime-backend' does not exist on this account yet (10007)"
    )
    assert caught.value.hint == "deploy the Worker first (`wrangler deploy`), then set its secrets"
    assert VALUE not in caught.value.message + (caught.value.hint or "")


def test_put_many_uploads_in_order(fake, client) -> None:
    fake.scripts["w"] = {}
    result = secrets.put_many(client, "w", {"A": VALUE, "B": VALUE + "2"})
    assert result.to_json() == {"script": "w", "uploaded": ["A", "B"]}
    assert fake.scripts["w"] == {"A": VALUE, "B": VALUE + "2"}


def test_put_many_names_what_was_uploaded_before_a_failure(fake, client) -> None:
    fake.scripts["w"] = {}
    original = fake._secrets

    def second_put_fails(req, rest):
        if req.method == "PUT" and len(fake.calls("PUT", "/secrets$")) == 2:
            return (
                400,
                {"Content-Type": "application/json"},
                (
                    b'{"success":false,"errors":[{"code":10021,"message":"no"}],"messages":[],"result":null}'
                ),
            )
        return original(req, rest)

    fake._secrets = second_put_fails  # one injected server fault
    with pytest.raises(RemoteError) as caught:
        secrets.put_many(client, "w", {"C": VALUE, "D": VALUE})
    assert caught.value.message == "10021: no (already uploaded: C)"
    assert VALUE not in str(caught.value)


def test_script_name_required(project) -> None:
    (project / "wrangler.toml").write_text("")
    with pytest.raises(ConfigError, match="has no `name`"):
        secrets.script_name(config.load())
