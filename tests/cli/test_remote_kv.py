"""`worktime kv … --remote` through the real CLI against the fake Cloudflare API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.fake_cloudflare import ACCOUNT, TOKEN, FakeCloudflare, fake_fixture
from worktime_cli.project import config

fake = pytest.fixture(name="fake")(fake_fixture)


def test_namespace_create_remote_records_id_and_keeps_local_id(
    fake: FakeCloudflare, cli, project: Path
) -> None:
    assert cli("kv", "namespace", "create", "KV").exit_code == 0
    local_id = config.load().kv(binding="KV").id
    result = cli("kv", "namespace", "create", "KV", "--remote", "--json")
    assert result.exit_code == 0, result.output
    (ns_id,) = fake.namespaces
    assert json.loads(result.stdout) == {
        "binding": "KV",
        "id": ns_id,
        "title": "worktime-backend-KV",
        "preview_id": local_id,
        # Said before the write: the namespace did not exist yet (issue 19).
        "target": {
            "kind": "kv_namespace",
            "name": "KV",
            "id": None,
            "env": None,
            "account": ACCOUNT,
        },
    }
    ns = config.load().kv(binding="KV")
    assert (ns.id, ns.preview_id, ns.local_id) == (ns_id, local_id, local_id)
    assert fake.calls("POST", "/storage/kv/namespaces$")[0].json() == {
        "title": "worktime-backend-KV"
    }
    again = cli("kv", "namespace", "create", "KV", "--remote")
    assert again.exit_code == 1
    assert again.stderr.startswith(
        f"target: KV namespace KV (new), top-level config (no --env), account {ACCOUNT}\n"
        "error: 10014: a namespace with this account ID and title already exists\n"
    )
    assert TOKEN not in result.output + again.output


def test_namespace_list_and_delete_remote(fake, cli) -> None:
    ns_id = fake.add_namespace("worktime-backend-KV")
    listed = cli("kv", "namespace", "list", "--remote", "--json")
    assert listed.exit_code == 0, listed.output
    # The local list's shape, with what Cloudflare knows filled in.
    assert json.loads(listed.stdout) == [
        {
            "binding": None,
            "id": ns_id,
            "title": "worktime-backend-KV",
            "preview_id": None,
            "local_id": None,
            "path": None,
            "exists": None,
            "keys": None,
        }
    ]
    refused = cli("kv", "namespace", "delete", "--namespace-id", ns_id, "--remote")
    assert refused.exit_code == 1
    assert "refusing to delete the remote KV namespace" in refused.stderr
    assert not fake.calls("DELETE", "/namespaces/")
    done = cli("kv", "namespace", "delete", "--namespace-id", ns_id, "--remote", "--yes")
    assert done.exit_code == 0, done.output
    assert done.stderr == (
        f"target: KV namespace {ns_id} (id {ns_id}), top-level config (no --env), "
        f"account {ACCOUNT}\n"
        f"✓ deleted the remote KV namespace {ns_id} ({ns_id})\n"
    )
    assert fake.namespaces == {}


def test_key_put_get_list_delete_remote(fake, cli, project: Path) -> None:
    # A binding with no id yet is resolved by wrangler's title, `<worker>-<BINDING>`.
    toml = project / "wrangler.toml"
    toml.write_text(toml.read_text() + '\n[[kv_namespaces]]\nbinding = "KV"\n')
    fake.add_namespace("worktime-backend-KV")
    put = cli(
        "kv",
        "key",
        "put",
        "a/b c",
        "hello",
        "--binding",
        "KV",
        "--remote",
        "--ttl",
        "600",
        "--metadata",
        '{"u": 1}',
    )
    assert put.exit_code == 0, put.output
    assert put.stderr.endswith("\n✓ wrote 5 B to 'a/b c' on Cloudflare\n")
    assert put.stderr.startswith("target: KV namespace KV (id ")
    (request,) = fake.calls("PUT", "/values/")
    assert request.raw_path.split("?")[0].endswith("/values/a%2Fb%20c")
    assert request.query["expiration_ttl"] == ["600"]
    got = cli("kv", "key", "get", "a/b c", "--binding", "KV", "--remote")
    assert (got.exit_code, got.stdout) == (0, "hello")
    meta = cli("kv", "key", "get", "a/b c", "--binding", "KV", "--remote", "--metadata")
    assert json.loads(meta.stdout) == {"u": 1}
    listed = cli("kv", "key", "list", "--binding", "KV", "--remote", "--json")
    (key,) = json.loads(listed.stdout)
    assert (
        key["name"] == "a/b c"
        and key["metadata"] == {"u": 1}
        and isinstance(key["expiration"], int)
    )
    page = cli("kv", "key", "list", "--binding", "KV", "--remote", "--limit", "10", "--json")
    assert json.loads(page.stdout)["list_complete"] is True
    deleted = cli("kv", "key", "delete", "a/b c", "--binding", "KV", "--remote")
    assert deleted.exit_code == 0
    assert deleted.stderr.endswith("\n✓ deleted 'a/b c' on Cloudflare\n")
    again = cli("kv", "key", "delete", "a/b c", "--binding", "KV", "--remote")
    assert again.stderr.endswith("\n'a/b c' was not there on Cloudflare; nothing deleted\n")
    missing = cli("kv", "key", "get", "a/b c", "--binding", "KV", "--remote")
    # The same words and exit code as locally (not Cloudflare's "10009: get: 'key not found'").
    assert (missing.exit_code, missing.stderr) == (1, "error: key not found: 'a/b c'\n")


def test_bulk_put_and_delete_remote(fake, cli, project: Path) -> None:
    ns_id = fake.add_namespace("anything")
    (project / "seed.json").write_text(
        json.dumps([{"key": f"k{i}", "value": str(i)} for i in range(3)])
    )
    result = cli("kv", "bulk", "put", "seed.json", "--namespace-id", ns_id, "--remote", "--json")
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)
    assert written.pop("target")["id"] == ns_id
    assert written == {"written": 3, "requested": 3}
    assert fake.calls("PUT", "/bulk$")[0].json() == [
        {"key": f"k{i}", "value": str(i)} for i in range(3)
    ]
    (project / "old.json").write_text('["k0", "k1"]')
    assert (
        cli("kv", "bulk", "delete", "old.json", "--namespace-id", ns_id, "--remote").exit_code == 1
    )
    deleted = cli(
        "kv", "bulk", "delete", "old.json", "--namespace-id", ns_id, "--remote", "--yes", "--json"
    )
    gone = json.loads(deleted.stdout)
    assert gone.pop("target")["id"] == ns_id
    assert gone == {"deleted": 2, "requested": 2}
    assert sorted(fake.namespaces[ns_id]["entries"]) == ["k2"]


def test_bulk_put_remote_names_the_keys_of_a_chunk_that_failed(fake, cli, project: Path) -> None:
    ns_id = fake.add_namespace("anything")
    keys = [f"k{i:05d}" for i in range(10_003)]
    (project / "seed.json").write_text(json.dumps([{"key": k, "value": "v"} for k in keys]))
    fake.fail("PUT", "/bulk$", 400, code=10020, message="nope", body_contains=b'"key":"k10001"')
    argv = ("kv", "bulk", "put", "seed.json", "--namespace-id", ns_id, "--remote")
    human = cli(*argv)
    assert human.exit_code == 1
    assert human.stderr.splitlines()[0].startswith(f"target: KV namespace {ns_id} ")
    assert human.stderr.splitlines()[1] == (
        "error: 3 of 10003 key(s) were not written: 10020: nope"
    )
    assert "'k10000', 'k10001', 'k10002'" in human.stderr
    assert len(fake.namespaces[ns_id]["entries"]) == 10_000
    fake.fail("PUT", "/bulk$", 400, code=10020, message="nope", body_contains=b'"key":"k10001"')
    as_json = cli(*argv, "--json")
    assert as_json.exit_code == 1
    error = json.loads(as_json.stdout)["error"]
    assert error["result"] == {
        "written": 10_000,
        "requested": 10_003,
        "failed": [{"keys": keys[10_000:], "error": "10020: nope", "code": 10020}],
    }


def test_persist_to_with_remote_is_a_usage_error(fake, cli) -> None:
    result = cli("kv", "key", "get", "k", "--namespace-id", "x", "--remote", "--persist-to", "s")
    assert result.exit_code == 2
    assert "--persist-to cannot be combined with --remote" in result.stderr
    assert fake.requests == []
