"""Remote Worker secrets against the fake Cloudflare API; values never leak into messages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_cloudflare import ACCOUNT, TOKEN, FakeCloudflare, fake_fixture
from worktime_cli.errors import ConfigError, RemoteError
from worktime_cli.project import config
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


def test_script_name_required(project) -> None:
    (project / "wrangler.toml").write_text("")
    with pytest.raises(ConfigError, match="has no `name`"):
        secrets.script_name(config.load())


# --- RemoteSecrets: the remote SecretStore ---------------------------------------------------


@pytest.fixture
def store(fake, client, project) -> secrets.RemoteSecrets:
    (project / "wrangler.toml").write_text(
        'name = "worktime-backend"\n[secrets]\nrequired = ["A", "B"]\n'
    )
    fake.scripts["worktime-backend"] = {}
    return secrets.RemoteSecrets(client, config.load())


def test_store_results_and_required_names(fake, store) -> None:
    from worktime_cli.targets.secrets import SecretPut, SecretTarget

    target = SecretTarget("worker", "worktime-backend")
    assert store.target == target
    assert store.put("A", VALUE + "\n") == SecretPut(target, "A", created=True)
    assert fake.scripts["worktime-backend"] == {"A": VALUE}  # trimmed, as locally
    assert store.put("A", VALUE).created is False
    listing = store.names()
    assert listing.names == ("A",)
    assert listing.missing == ("B",)
    assert [(e.name, e.source, e.required, e.type) for e in listing.secrets] == [
        ("A", "worker", True, "secret_text"),
        ("B", None, True, None),
    ]
    assert VALUE not in repr(store) + repr(listing)


def test_store_checks_before_any_request(fake, store) -> None:
    from worktime_cli.errors import LimitError, WorktimeError

    before = len(fake.requests)
    with pytest.raises(WorktimeError, match="invalid secret name"):
        store.put("bad-name", VALUE)
    with pytest.raises(LimitError):
        store.put("A", "x" * 5121)
    with pytest.raises(WorktimeError, match="empty value for B"):
        store.bulk({"A": VALUE, "B": ""})
    assert len(fake.requests) == before


def test_store_delete_of_a_missing_secret_is_not_found(fake, store) -> None:
    from worktime_cli.errors import NotFoundError

    with pytest.raises(NotFoundError) as caught:
        store.delete("NOPE")
    assert caught.value.message == "no secret NOPE on the Worker worktime-backend"
    assert caught.value.hint == "see the names with `worktime secret list --remote`"


def test_store_bulk_is_one_settings_change_all_or_nothing(fake, store) -> None:
    fake.scripts["worktime-backend"].update({"OLD": VALUE, "KEEP": VALUE + "k"})
    fake.script_bindings["worktime-backend"] = [{"type": "kv_namespace", "name": "KV"}]
    names = [f"S{i}" for i in range(20)]
    result = store.bulk({**{n: VALUE + n for n in names}, "OLD": None, "GONE": None})
    assert (result.stored, result.deleted) == (tuple(names), ("OLD",))
    # Two round trips for 22 changes: the bindings read, then written back whole.
    assert [(r.method, r.path.rsplit("/", 1)[1]) for r in fake.requests] == [
        ("GET", "settings"),
        ("PATCH", "settings"),
    ]
    assert fake.scripts["worktime-backend"] == {
        "KEEP": VALUE + "k",
        **{n: VALUE + n for n in names},
    }
    assert fake.script_bindings["worktime-backend"] == [{"type": "kv_namespace", "name": "KV"}]
    sent = fake.calls("PATCH", "/settings$")[0].body
    assert (
        b'"name": "KEEP"' in sent and VALUE.encode() + b'k"' not in sent
    )  # inherited, not re-sent


def test_store_bulk_failure_changes_nothing_and_says_so(fake, store) -> None:
    fake.scripts["worktime-backend"]["OLD"] = VALUE
    fake.fail("PATCH", "/settings$", 400, code=10021, message="no")
    with pytest.raises(RemoteError) as caught:
        store.bulk({"A": VALUE, "OLD": None, "B": VALUE})
    assert caught.value.message == "10021: no (nothing was changed: the secrets go in one request)"
    assert fake.scripts["worktime-backend"] == {"OLD": VALUE}
    assert VALUE not in str(caught.value) + repr(caught.value)


def test_store_bulk_with_nothing_to_change_sends_no_write(fake, store) -> None:
    assert store.bulk({"ABSENT": None}).deleted == ()
    assert [r.method for r in fake.requests] == ["GET"]


def test_store_bulk_on_a_missing_worker_says_deploy_first(fake, store) -> None:
    del fake.scripts["worktime-backend"]
    with pytest.raises(RemoteError, match="does not exist on this account yet"):
        store.bulk({"A": VALUE})
