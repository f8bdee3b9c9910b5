"""Remote KV against the fake Cloudflare API: raw paths, metadata multipart, cursors, bulk."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.fake_cloudflare import ACCOUNT, TOKEN, FakeCloudflare, fake_fixture
from worktime_cli.errors import LimitError, NotFoundError, RemoteError
from worktime_cli.kv import PutItem
from worktime_cli.project import config
from worktime_cli.remote import kv
from worktime_cli.remote.client import Client

fake = pytest.fixture(name="fake")(fake_fixture)


@pytest.fixture
def client(fake: FakeCloudflare) -> Iterator[Client]:
    with Client(TOKEN, base_url=fake.url, account_id=ACCOUNT, sleep=lambda _s: None) as c:
        yield c


def test_namespace_create_list_delete(fake, client) -> None:
    created = kv.create_namespace(client, kv.namespace_title(config.load(), "KV"))
    assert created.title == "worktime-backend-KV"
    assert fake.calls("POST", "/namespaces$")[0].json() == {"title": "worktime-backend-KV"}
    assert kv.list_namespaces(client) == [created]
    with pytest.raises(
        RemoteError, match=r"^10014: a namespace with this account ID and title already exists$"
    ):
        kv.create_namespace(client, "worktime-backend-KV")
    kv.delete_namespace(client, created.id)
    assert kv.list_namespaces(client) == []


def test_namespace_list_follows_pages(fake, client) -> None:
    ids = [fake.add_namespace(f"ns-{i}") for i in range(12)]
    assert [n.id for n in kv.list_namespaces(client, per_page=5)] == ids
    assert len(fake.calls("GET", "/namespaces$")) == 3


def test_key_is_one_percent_encoded_segment(fake, client) -> None:
    ns = fake.add_namespace("t")
    key = "user/42 ?#%é"
    kv.put(client, ns, key, b"\x00binary")
    put = fake.calls("PUT", "/values/")[0]
    assert put.path.endswith("/values/user%2F42%20%3F%23%25%C3%A9")
    assert put.headers["content-type"] == "application/octet-stream"
    assert kv.get(client, ns, key) == b"\x00binary"
    assert fake.namespaces[ns]["entries"][key].value == b"\x00binary"
    kv.delete(client, ns, key)
    with pytest.raises(RemoteError, match=r"^10009: get: 'key not found'$"):
        kv.get(client, ns, key)


def test_metadata_goes_as_multipart_and_expiration_as_query(fake, client) -> None:
    ns = fake.add_namespace("t")
    kv.put(client, ns, "k", b"v", metadata={"owner": "ana"}, expiration_ttl=120)
    put = fake.calls("PUT", "/values/k$")[0]
    assert put.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert put.query == {"expiration_ttl": ["120"]}
    assert kv.get_metadata(client, ns, "k") == {"owner": "ana"}
    assert kv.get(client, ns, "k") == b"v"
    kv.put(client, ns, "e", b"v", expiration=2_000_000_000)
    assert fake.calls("PUT", "/values/e$")[0].query == {"expiration": ["2000000000"]}


def test_bad_keys_refused_before_sending(fake, client) -> None:
    for key in ("", ".", "x" * 513):
        with pytest.raises(LimitError):
            kv.put(client, "ns", key, b"v")
    assert fake.requests == []


def test_list_keys_follows_the_cursor_with_prefix(fake, client) -> None:
    ns = fake.add_namespace("t")
    kv.bulk_put(
        client, ns, [kv.BulkItem(f"a:{i:03d}", "v") for i in range(30)] + [kv.BulkItem("b", "v")]
    )
    keys = kv.list_keys(client, ns, prefix="a:", limit=10)
    assert [k.name for k in keys] == [f"a:{i:03d}" for i in range(30)]
    assert [r.query.get("cursor") for r in fake.calls("GET", "/keys$")] == [None, ["10"], ["20"]]


def test_bulk_put_and_delete_are_chunked(fake, client) -> None:
    ns = fake.add_namespace("t")
    items = [
        kv.BulkItem(f"k{i}", str(i), metadata={"i": i} if i == 0 else None) for i in range(2500)
    ]
    assert kv.bulk_put(client, ns, items, chunk=1000) == 2500
    puts = fake.calls("PUT", "/bulk$")
    assert sorted(len(r.json()) for r in puts) == [500, 1000, 1000]
    assert {"key": "k0", "value": "0", "metadata": {"i": 0}} in next(
        r.json() for r in puts if r.json()[0]["key"] == "k0"
    )
    assert all(r.headers["content-type"] == "application/json" for r in puts)
    assert len(fake.namespaces[ns]["entries"]) == 2500
    assert kv.bulk_delete(client, ns, [f"k{i}" for i in range(1500)], chunk=1000) == 1500
    assert sorted(len(r.json()) for r in fake.calls("POST", "/bulk/delete$")) == [500, 1000]
    assert len(fake.namespaces[ns]["entries"]) == 1000


def test_chunks_are_as_large_as_the_api_allows() -> None:
    items = [kv.BulkItem(f"k{i:05d}", "v") for i in range(20_001)]
    assert [len(c.keys) for c in kv.put_chunks(items)] == [10_000, 10_000, 1]
    # The body limit cuts a chunk before the item that would reach it, never after.
    big = [kv.BulkItem(f"k{i}", "x" * 40) for i in range(10)]
    size = len(kv.put_chunks(big[:1])[0].body)  # one item with its brackets
    chunks = kv.put_chunks(big, max_bytes=3 * size)
    assert [len(c.keys) for c in chunks] == [3, 3, 3, 1]
    assert all(len(c.body) < 3 * size for c in chunks)
    assert json.loads(chunks[0].body) == [i.to_api() for i in big[:3]]
    with pytest.raises(LimitError, match="alone is"):
        kv.put_chunks(big[:1], max_bytes=size)
    with pytest.raises(LimitError):
        kv.put_chunks([kv.BulkItem("..", "v")])  # the API's key rules, before any request


def test_a_chunk_retried_after_429_is_neither_lost_nor_doubled(fake, client) -> None:
    ns = fake.add_namespace("t")
    items = [kv.BulkItem(f"k{i:05d}", str(i)) for i in range(25_000)]
    fake.fail("PUT", "/bulk$", 429, headers={"Retry-After": "0"}, body_contains=b'"key":"k12345"')
    assert kv.bulk_put(client, ns, items) == 25_000
    puts = fake.calls("PUT", "/bulk$")
    assert sorted(r.status for r in puts) == [200, 200, 200, 429]
    refused = next(r for r in puts if r.status == 429)
    assert [r.body for r in puts].count(refused.body) == 2  # the same chunk, sent again
    landed = [item["key"] for r in puts if r.status == 200 for item in r.json()]
    assert sorted(landed) == [i.key for i in items]  # each key in exactly one landed chunk
    assert len(fake.namespaces[ns]["entries"]) == 25_000


def test_a_chunk_that_fails_for_good_is_reported_with_its_keys(fake, client) -> None:
    ns = fake.add_namespace("t")
    items = [kv.BulkItem(f"k{i:05d}", str(i)) for i in range(25_000)]
    fake.fail("PUT", "/bulk$", 503, times=99, body_contains=b'"key":"k12345"')
    with pytest.raises(kv.BulkError) as caught:
        kv.bulk_put(client, ns, items)
    error = caught.value
    assert error.message == "10000 of 25000 key(s) were not written: 10001: fault injected"
    assert error.hint is not None
    assert error.hint.startswith("not written: 'k10000', 'k10001', ")
    assert "and 9990 more (--json lists every key)" in error.hint
    report = error.result
    assert report.failed_keys == tuple(f"k{i:05d}" for i in range(10_000, 20_000))
    assert (report.landed, report.requested) == (15_000, 25_000)
    assert report.to_json()["failed"][0]["code"] == 10001
    entries = fake.namespaces[ns]["entries"]
    assert sorted(entries) == sorted(set(i.key for i in items) - set(report.failed_keys))
    # Every try of the failing chunk: the first and the client's retries, nothing more.
    assert sum(r.status == 503 for r in fake.calls("PUT", "/bulk$")) == client.max_retries + 1


def test_keys_the_api_calls_unsuccessful_are_reported(fake, client) -> None:
    ns = fake.add_namespace("t")
    answer = {
        "success": True,
        "errors": [],
        "messages": [],
        "result": {"successful_key_count": 2, "unsuccessful_keys": ["b"]},
    }
    fake.fail(
        "PUT",
        "/bulk$",
        200,
        body=json.dumps(answer).encode(),
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(kv.BulkError) as caught:
        kv.bulk_put(client, ns, [kv.BulkItem(k, "v") for k in "abc"])
    assert caught.value.message == (
        "1 of 3 key(s) were not written: Cloudflare answered that these keys failed"
    )
    assert caught.value.result.failed_keys == ("b",)
    assert caught.value.result.landed == 2


def test_nothing_landed_for_one_reason_is_that_error(fake, client) -> None:
    with pytest.raises(kv.BulkError) as caught:
        kv.bulk_delete(client, "no-such-namespace", ["a", "b"])
    assert caught.value.message == "10013: namespace not found"
    assert caught.value.hint is not None and "namespace list --remote" in caught.value.hint
    assert caught.value.result.failed_keys == ("a", "b")


def test_remote_namespace_bulk_advances_progress_by_keys(fake, client) -> None:
    ns = fake.add_namespace("t")
    advanced: list[int] = []
    namespace = kv.RemoteNamespace(client, ns)
    items = [PutItem(f"k{i}", b"v") for i in range(10_001)]
    assert namespace.bulk_put(items, progress=advanced.append).count == 10_001
    assert sorted(advanced) == [1, 10_000]


def test_remote_target_names_a_namespace_by_binding_id_or_given_id(fake, client, project) -> None:
    ns = fake.add_namespace("worktime-backend-KV")
    (project / "wrangler.toml").write_text(
        f'name = "w"\n[[kv_namespaces]]\nbinding = "KV"\nid = "{ns}"\n'
    )
    targets = kv.RemoteKV(client, config.load())
    assert targets.namespace("KV").id == ns
    assert targets.namespace(ns).id == ns  # a configured id names its binding too
    assert targets.namespace("any-id", by_id=True).id == "any-id"  # --namespace-id: as given
    with pytest.raises(
        NotFoundError, match=r"KV binding 'nope' is not configured in wrangler\.toml"
    ):
        targets.namespace("nope")
    assert fake.requests == []  # all from wrangler.toml


# --- the remote target (`RemoteKV` / `RemoteNamespace`) ----------------------------------------


def test_remote_target_resolves_an_id_less_binding_by_title_once(fake, client, project) -> None:
    (project / "wrangler.toml").write_text(
        'name = "worktime-backend"\n[[kv_namespaces]]\nbinding = "KV"\n'
    )
    targets = kv.RemoteKV(client, config.load())
    ns = targets.namespace("KV")
    assert fake.requests == []  # resolved on first use, so a prompt can come first
    ns_id = fake.add_namespace("worktime-backend-KV")
    ns.put("a", b"1")
    ns.put("b", b"2")
    assert ns.id == ns_id
    assert len(fake.calls("GET", "/storage/kv/namespaces$")) == 1


def test_remote_target_without_a_namespace_to_find(fake, client, project) -> None:
    (project / "wrangler.toml").write_text(
        'name = "worktime-backend"\n[[kv_namespaces]]\nbinding = "KV"\n'
    )
    ns = kv.RemoteKV(client, config.load()).namespace("KV")
    with pytest.raises(NotFoundError) as caught:
        ns.get("k")
    assert caught.value.message == (
        "KV binding 'KV' has no id in wrangler.toml, and the account has no namespace titled "
        "'worktime-backend-KV'"
    )
    assert caught.value.hint == "create it with `worktime kv namespace create KV --remote`"


def test_remote_list_limit_below_the_api_minimum_is_refused_before_sending(fake, client) -> None:
    ns = kv.RemoteNamespace(client, fake.add_namespace("t"))
    with pytest.raises(LimitError, match="below Cloudflare's minimum of 10"):
        ns.page(limit=9)
    assert fake.calls("GET", "/keys") == []
    assert ns.page(limit=10).list_complete


def test_remote_get_reads_expiration_and_metadata_from_the_key_list(fake, client) -> None:
    ns = kv.RemoteNamespace(client, fake.add_namespace("t"))
    ns.put("k", b"v", expiration=4_000_000_000, metadata={"m": 1})
    ns.put("k2", b"other")  # sorts after "k": the exact name is picked, not the first match
    entry = ns.get("k")
    assert entry is not None
    assert (entry.value, entry.expiration, entry.metadata) == (b"v", 4_000_000_000, {"m": 1})
    assert ns.get("nope") is None


def test_remote_create_refuses_a_d1_binding_name(fake, client, project) -> None:
    (project / "wrangler.toml").write_text(
        'name = "w"\n[[d1_databases]]\nbinding = "DB"\ndatabase_name = "db"\ndatabase_id = "x"\n'
    )
    from worktime_cli.errors import ConfigError

    with pytest.raises(ConfigError, match="binding 'DB' already exists"):
        kv.RemoteKV(client, config.load()).create("DB")
    assert fake.requests == []
