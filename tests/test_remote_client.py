"""The API client against the fake Cloudflare API: envelope, errors, retries, pagination."""

from __future__ import annotations

import pytest

from tests.support.fake_cloudflare import ACCOUNT, TOKEN, FakeCloudflare, fake_fixture
from worktime_cli.errors import RemoteError
from worktime_cli.remote import client as clientmod
from worktime_cli.remote import credentials
from worktime_cli.remote.client import Client

fake = pytest.fixture(name="fake")(fake_fixture)


def make(fake: FakeCloudflare, **options) -> tuple[Client, list[float]]:
    slept: list[float] = []
    options.setdefault("account_id", ACCOUNT)
    client = Client(TOKEN, base_url=fake.url, sleep=slept.append, **options)
    return client, slept


def test_bearer_header_and_envelope_result(fake: FakeCloudflare) -> None:
    client, _ = make(fake)
    envelope = client.call("GET", "/user/tokens/verify")
    assert envelope.result == {"id": "f267e341f3dd4697bd3b9f71dd96247f", "status": "active"}
    assert fake.requests[-1].headers["authorization"] == f"Bearer {TOKEN}"


def test_error_is_one_line_with_code_and_hint(fake: FakeCloudflare) -> None:
    client, _ = make(fake)
    with pytest.raises(RemoteError) as caught:
        client.call("GET", client.account_path("/d1/database/nope"))
    assert caught.value.message == "7404: The database nope could not be found"
    assert caught.value.code == 7404
    assert "d1 list --remote" in (caught.value.hint or "")


def test_invalid_token_is_an_error_without_the_token(fake: FakeCloudflare) -> None:
    client = Client("wrong-" + TOKEN, base_url=fake.url, account_id=ACCOUNT)
    with pytest.raises(RemoteError) as caught:
        client.call("GET", "/user/tokens/verify")
    assert str(caught.value) == "9109: Invalid access token"
    assert TOKEN not in repr(client) + repr(client._auth)


def test_429_is_retried_honouring_retry_after_even_for_post(fake: FakeCloudflare) -> None:
    db = fake.add_database("worktime-db")
    fake.fail("POST", "/query$", 429, headers={"Retry-After": "3"}, code=971, message="Please wait")
    client, slept = make(fake)
    client.call(
        "POST", client.account_path(f"/d1/database/{db.uuid}/query"), json={"sql": "SELECT 1"}
    )
    assert slept == [3.0]
    assert len(fake.calls("POST", "/query$")) == 2


def test_5xx_is_retried_with_backoff_for_idempotent_calls(fake: FakeCloudflare) -> None:
    fake.fail("GET", "/d1/database$", 503, times=2)
    client, slept = make(fake, backoff=0.5)
    assert client.call("GET", client.account_path("/d1/database")).result == []
    assert slept == [0.5, 1.0]


def test_5xx_on_a_write_is_not_retried(fake: FakeCloudflare) -> None:
    fake.fail("POST", "/d1/database$", 502, code=10001, message="bad gateway")
    client, slept = make(fake)
    with pytest.raises(RemoteError, match=r"^10001: bad gateway$"):
        client.call("POST", client.account_path("/d1/database"), json={"name": "x"})
    assert slept == []
    assert len(fake.calls("POST", "/d1/database$")) == 1


def test_retries_give_up_after_max_retries(fake: FakeCloudflare) -> None:
    fake.fail("GET", "/user/tokens/verify", 429, times=10, headers={"Retry-After": "0"})
    client, slept = make(fake, max_retries=2)
    with pytest.raises(RemoteError, match="fault injected"):
        client.call("GET", "/user/tokens/verify")
    assert slept == [0.0, 0.0]


def test_html_challenge_gets_its_own_error(fake: FakeCloudflare) -> None:
    fake.fail(
        "GET",
        "/user/tokens/verify",
        403,
        headers={"Content-Type": "text/html; charset=UTF-8", "cf-mitigated": "challenge"},
        body=b"<!DOCTYPE html><title>Just a moment...</title>",
    )
    client, _ = make(fake)
    with pytest.raises(RemoteError) as caught:
        client.call("GET", "/user/tokens/verify")
    assert caught.value.message == (
        "Cloudflare answered with an HTML page (HTTP 403, a challenge) instead of API JSON"
    )


def test_non_json_answer_is_a_clear_error(fake: FakeCloudflare) -> None:
    fake.fail("GET", "/user/tokens/verify", 200, headers={"Content-Type": "text/plain"}, body=b"hi")
    client, _ = make(fake)
    with pytest.raises(
        RemoteError, match=r"^unexpected answer from Cloudflare: HTTP 200 \(text/plain\)$"
    ):
        client.call("GET", "/user/tokens/verify")


def test_page_pagination_follows_to_the_end(fake: FakeCloudflare) -> None:
    for i in range(25):
        fake.add_database(f"db-{i:02d}")
    client, _ = make(fake)
    items = list(client.paginate(client.account_path("/d1/database"), per_page=10))
    assert [i["name"] for i in items] == [f"db-{i:02d}" for i in range(25)]
    pages = [r.query["page"] for r in fake.calls("GET", "/d1/database$")]
    assert pages == [["1"], ["2"], ["3"]]


def test_cursor_pagination_stops_on_empty_cursor(fake: FakeCloudflare) -> None:
    ns = fake.add_namespace("t")
    from tests.support.fake_cloudflare import KVEntry

    for i in range(25):
        fake.namespaces[ns]["entries"][f"k{i:02d}"] = KVEntry(b"v")
    client, _ = make(fake)
    names = [
        i["name"]
        for i in client.cursor(
            client.account_path(f"/storage/kv/namespaces/{ns}/keys"), params={"limit": 10}
        )
    ]
    assert names == [f"k{i:02d}" for i in range(25)]
    assert [r.query.get("cursor") for r in fake.calls("GET", "/keys$")] == [None, ["10"], ["20"]]


def test_account_from_the_only_account(fake: FakeCloudflare) -> None:
    client = Client(TOKEN, base_url=fake.url)
    assert client.account_id == ACCOUNT


def test_several_accounts_is_an_error_listing_them(fake: FakeCloudflare) -> None:
    fake.accounts.append({"id": "f" * 32, "name": "Other"})
    client = Client(TOKEN, base_url=fake.url)
    with pytest.raises(RemoteError) as caught:
        _ = client.account_id
    assert caught.value.message == (
        f"this API token can use several accounts: Worktime Team ({ACCOUNT}), Other ({'f' * 32})"
    )


def test_account_resolution_order(project, monkeypatch: pytest.MonkeyPatch) -> None:
    from worktime_cli.project import config

    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", "from-env")
    assert credentials.resolve_account_id(config.load()) == "from-env"
    (project / "wrangler.toml").write_text('name = "w"\naccount_id = "from-toml"\n')
    assert credentials.resolve_account_id(config.load()) == "from-toml"


def test_unreachable_server_error_has_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = Client(
        TOKEN, base_url=f"http://127.0.0.1:{port}", max_retries=1, sleep=lambda _s: None
    )
    with pytest.raises(RemoteError) as caught:
        client.call("GET", "/user/tokens/verify")
    assert caught.value.message.startswith("cannot reach 127.0.0.1: ConnectError")
    assert caught.value.__suppress_context__
    assert TOKEN not in caught.value.message + (caught.value.hint or "")


def test_token_comes_from_env_then_keyring(memory_keyring, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RemoteError, match="not logged in"):
        credentials.resolve_token()
    memory_keyring.set_password("worktime:cloudflare", "api_token", "stored")
    assert credentials.resolve_token() == ("stored", "keyring")
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "env")
    assert credentials.resolve_token() == ("env", "environment")


def test_from_environment_builds_the_client_from_the_credentials(fake, project) -> None:
    from worktime_cli.project import config

    (project / "wrangler.toml").write_text('name = "w"\naccount_id = "from-toml"\n')
    with clientmod.from_environment(config.load()) as client:
        assert client.account_id == "from-toml"
        assert client.base_url == fake.url
        assert TOKEN not in repr(client)


def test_a_429_holds_back_the_clients_other_requests(fake: FakeCloudflare) -> None:
    client, slept = make(fake)
    fake.fail("GET", "/user/tokens/verify", 429, headers={"Retry-After": "5"})
    client.call("GET", "/user/tokens/verify")
    assert slept == [5.0]
    # The fake sleep did not pass the time: any request (another thread's, here the next one)
    # waits out the rest of the pause before it is sent, and only once.
    client.call("GET", "/accounts")
    assert len(slept) == 2 and 4.0 < slept[1] <= 5.0
    assert len(fake.calls("GET", "/accounts")) == 1


def test_in_flight_bounds_the_work_and_reports_each_error() -> None:
    import threading

    running = 0
    most = 0
    lock = threading.Lock()
    release = threading.Event()

    def work(n: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            if running == 3:
                release.set()
        release.wait(5)
        with lock:
            running -= 1
        if n == 4:
            raise RemoteError("no", code=7)
        return n * 10

    outcomes = dict(clientmod.in_flight(work, list(range(10)), limit=3))
    assert most == 3
    assert {n: r for n, r in outcomes.items() if not isinstance(r, RemoteError)} == {
        n: n * 10 for n in range(10) if n != 4
    }
    error = outcomes[4]
    assert isinstance(error, RemoteError) and error.code == 7


def test_one_connection_serves_every_sequential_request(fake: FakeCloudflare) -> None:
    client, _slept = make(fake)
    for _ in range(5):
        client.call("GET", "/accounts")
    assert fake.connections == 1  # keep-alive: no second handshake
