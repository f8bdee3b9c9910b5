"""KV local vs remote: each scenario runs against the local store AND the fake Cloudflare API.

One wrangler.toml serves both sides (binding KV, id = the fake's namespace id, so the local
store lives under the same id). A scenario returns what it observed — results as `to_json()`,
failures as (kind, message, hint, exit code) — and the test asserts both sides observed the
same, plus a few literal expectations so both sides cannot be wrong in the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_cloudflare import FakeCloudflare, fake_fixture
from worktime_cli import clock
from worktime_cli.cli.context import open_context
from worktime_cli.cli.options import Target
from worktime_cli.errors import WorktimeError
from worktime_cli.kv import PutItem
from worktime_cli.targets.kv import KVNamespace, KVNamespaces, all_keys

fake = pytest.fixture(name="fake")(fake_fixture)

FAR = 4_000_000_000  # an absolute expiration both sides store as given
SIDES = (False, True)  # remote?


@pytest.fixture(autouse=True)
def bound(fake: FakeCloudflare, project: Path) -> str:
    ns_id = fake.add_namespace("worktime-backend-KV")
    toml = project / "wrangler.toml"
    toml.write_text(
        toml.read_text() + f'\n[[kv_namespaces]]\nbinding = "KV"\nid = "{ns_id}"\n',
        encoding="utf-8",
    )
    return ns_id


def outcome(call: Callable[[], Any]) -> Any:
    """A result's JSON, None, or the failure as the user sees it (kind, message, hint, exit)."""
    try:
        result = call()
    except WorktimeError as exc:
        # The two sides run a moment apart: a message that quotes the clock may differ by a tick.
        message = re.sub(r"now is \d+", "now is …", exc.message)
        return ("error", type(exc).__name__, message, exc.hint, exc.exit_code)
    return None if result is None else result.to_json()


def run_on(remote: bool, scenario: Callable[[KVNamespace], list[Any]]) -> list[Any]:
    with open_context(Target(remote=remote)) as ctx:
        namespace = ctx.kv().namespace("KV")
        try:
            return scenario(namespace)
        finally:
            namespace.close()


def both(scenario: Callable[[KVNamespace], list[Any]]) -> list[Any]:
    local, remote = (run_on(side, scenario) for side in SIDES)
    assert local == remote
    return local


def near(expiration: int | None, seconds: int) -> bool:
    return expiration is not None and abs(expiration - (int(clock.timestamp()) + seconds)) <= 2


# --- core: the KVNamespace protocol ----------------------------------------------------------


def test_put_get_missing_key() -> None:
    def scenario(ns: KVNamespace) -> list[Any]:
        return [
            outcome(lambda: ns.put("k", b"v\x00", expiration=FAR, metadata={"u": 1})),
            outcome(lambda: ns.put("plain", "héllo".encode())),
            outcome(lambda: ns.put("bin", b"\xff\x00")),
            outcome(lambda: ns.get("k")),
            outcome(lambda: ns.get("plain")),
            outcome(lambda: ns.get("bin")),
            outcome(lambda: ns.get("missing")),
        ]

    seen = both(scenario)
    assert seen[0] == {"key": "k", "size": 2, "expiration": FAR}
    assert seen[3] == {
        "key": "k",
        "value": "v\x00",
        "base64": False,
        "expiration": FAR,
        "metadata": {"u": 1},
    }
    assert seen[4]["value"] == "héllo" and seen[4]["expiration"] is None
    assert seen[5]["value"] == "/wA=" and seen[5]["base64"] is True  # not UTF-8: base64
    assert seen[6] is None


def test_ttl_is_resolved_the_same_way() -> None:
    for remote in SIDES:

        def scenario(ns: KVNamespace) -> list[Any]:
            put = ns.put("t", b"v", expiration_ttl=3600, expiration=FAR)  # the TTL wins
            got = ns.get("t")
            assert got is not None
            return [put.expiration, got.expiration]

        put_exp, got_exp = run_on(remote, scenario)
        assert near(put_exp, 3600) and near(got_exp, 3600), (remote, put_exp, got_exp)


def test_list_pages_prefix_and_every_key() -> None:
    names = [f"p:{i:02d}" for i in range(25)]

    def scenario(ns: KVNamespace) -> list[Any]:
        ns.bulk_put([PutItem(n, b"v") for n in names] + [PutItem("q", b"v", expiration=FAR)])
        pages = []
        cursor = None
        while True:
            page = ns.page(prefix="p:", cursor=cursor, limit=10)
            # Cursors are opaque (base64 of a key locally, Cloudflare's token remotely).
            pages.append(([k.to_json() for k in page.keys], page.list_complete))
            if page.list_complete:
                break
            cursor = page.cursor
        everything = all_keys(ns)
        return [pages, everything.to_json(), all_keys(ns, "q").to_json()]

    pages, everything, only_q = both(scenario)
    assert [len(keys) for keys, _ in pages] == [10, 10, 5]
    assert [done for _, done in pages] == [False, False, True]
    assert [k["name"] for k in everything["keys"]] == [*names, "q"]
    assert only_q == {
        "keys": [{"name": "q", "expiration": FAR}],
        "list_complete": True,
        "cursor": None,
    }


def test_delete_says_whether_the_key_existed() -> None:
    def scenario(ns: KVNamespace) -> list[Any]:
        ns.put("k", b"v")
        return [
            outcome(lambda: ns.delete("k")),
            outcome(lambda: ns.delete("k")),
            outcome(lambda: ns.get("k")),
        ]

    assert both(scenario) == [{"key": "k", "deleted": True}, {"key": "k", "deleted": False}, None]


def test_bulk_put_last_duplicate_wins_and_bulk_delete() -> None:
    def scenario(ns: KVNamespace) -> list[Any]:
        items = [
            PutItem("a", b"1"),
            PutItem("b", b"2", metadata={"m": True}),
            PutItem("a", b"3", expiration=FAR),
        ]
        return [
            outcome(lambda: ns.bulk_put(items)),
            outcome(lambda: ns.get("a")),
            all_keys(ns).to_json(),
            outcome(lambda: ns.bulk_delete(["a", "b"])),
            all_keys(ns).to_json(),
        ]

    seen = both(scenario)
    assert seen[0] == {"written": 2, "requested": 3}
    assert seen[1]["value"] == "3" and seen[1]["expiration"] == FAR
    assert [k["name"] for k in seen[2]["keys"]] == ["a", "b"]  # key order, not write order
    assert seen[3] == {"deleted": 2, "requested": 2}
    assert seen[4]["keys"] == []


def test_limits_are_the_same_errors_before_any_write(fake: FakeCloudflare) -> None:
    now = int(clock.timestamp())

    def scenario(ns: KVNamespace) -> list[Any]:
        return [
            outcome(lambda: ns.put("k", b"v", expiration_ttl=59)),
            outcome(lambda: ns.put("k", b"v", expiration=now + 10)),
            outcome(lambda: ns.put("", b"v")),
            outcome(lambda: ns.put(".", b"v")),
            outcome(lambda: ns.put("a" * 513, b"v")),
            outcome(lambda: ns.put("k", b"v", metadata=[1])),
            outcome(lambda: ns.put("k", b"v", metadata={"a": "x" * 1017})),
            outcome(lambda: ns.get("..")),
            outcome(lambda: ns.delete("")),
            outcome(lambda: ns.page(limit=0)),
            outcome(lambda: ns.page(limit=1001)),
            outcome(lambda: ns.page(prefix="p" * 513)),
            outcome(lambda: ns.bulk_put([PutItem("ok", b"v"), PutItem("t", b"v", 10)])),
            outcome(lambda: ns.bulk_delete(["ok", "."])),
            all_keys(ns).to_json()["keys"],
        ]

    seen = both(scenario)
    assert seen[0] == (
        "error",
        "LimitError",
        "TTL of 59 seconds is below the minimum of 60 seconds",
        None,
        1,
    )
    assert seen[2][2] == "key names must not be empty"
    assert seen[3][2] == "illegal key name '.': `.` and `..` are not allowed"
    assert seen[9][2] == "list limit 0 is outside 1–1000"
    assert seen[-1] == []  # nothing was written on either side
    assert not fake.calls("PUT", "/values/|/bulk$")


def test_unknown_binding_is_the_same_error_with_did_you_mean(fake: FakeCloudflare) -> None:
    def attempt(remote: bool, name: str) -> Any:
        with open_context(Target(remote=remote)) as ctx:
            return outcome(lambda: ctx.kv().namespace(name))

    for name, hint in (("NOPE", "did you mean 'KV'?"), ("kv", "did you mean 'KV'?")):
        local, remote = (attempt(side, name) for side in SIDES)
        assert (
            local
            == remote
            == (
                "error",
                "NotFoundError",
                f"KV binding {name!r} is not configured in wrangler.toml (configured: KV)",
                hint,
                1,
            )
        )
    assert fake.requests == []  # resolved from wrangler.toml: nothing sent


def test_namespace_list_names_the_same_binding_and_id(bound: str) -> None:
    def listed(remote: bool) -> list[tuple[Any, Any]]:
        with open_context(Target(remote=remote)) as ctx:
            kvs: KVNamespaces = ctx.kv()
            return [(n["binding"], n["id"]) for n in kvs.list().to_json()]

    assert listed(False) == listed(True) == [("KV", bound)]


def test_invalid_binding_name_is_refused_the_same_way(fake: FakeCloudflare) -> None:
    def create(remote: bool) -> Any:
        with open_context(Target(remote=remote)) as ctx:
            return outcome(lambda: ctx.kv().create("1-bad"))

    assert create(False) == create(True)
    assert create(False)[1:3] == ("ConfigError", "'1-bad' is not a valid binding name")
    assert not fake.calls("POST", "/storage/kv/namespaces$")


# --- through the CLI: same stdout, stderr and exit code ---------------------------------------


def transcript(cli: Any, remote: bool, *commands: list[str]) -> list[tuple[int, str, str]]:
    """Each command's (exit code, stdout, stderr); success lines may say where ("on Cloudflare")."""
    flag = "--remote" if remote else "--local"
    seen = []
    for command in commands:
        result = cli(*command, flag)
        stderr, stdout = result.stderr.replace(" on Cloudflare", ""), result.stdout
        if remote:
            # A remote write's one difference: its target, named first (line and JSON key).
            stderr, stdout = _without_target(stderr, stdout)
        seen.append((result.exit_code, stdout, stderr))
    return seen


def _without_target(stderr: str, stdout: str) -> tuple[str, str]:
    lines = stderr.splitlines(keepends=True)
    if lines and lines[0].startswith("target: KV namespace KV (id "):
        stderr = "".join(lines[1:])
    if stdout.startswith("{") and '"target"' in stdout:
        data = json.loads(stdout)
        assert data.pop("target")["kind"] == "kv_namespace"
        stdout = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return stderr, stdout


def cli_both(cli: Any, *commands: list[str]) -> list[tuple[int, str, str]]:
    local, remote = (transcript(cli, side, *commands) for side in SIDES)
    assert local == remote
    return local


KV = ["--binding", "KV"]


def test_cli_put_get_list_delete(cli) -> None:
    seen = cli_both(
        cli,
        ["kv", "key", "put", "a/b c", "hello", *KV, "--metadata", '{"u": 1}'],
        ["kv", "key", "get", "a/b c", *KV],
        ["kv", "key", "get", "a/b c", *KV, "--metadata"],
        ["kv", "key", "list", *KV, "--json"],
        ["kv", "key", "list", *KV, "--limit", "10", "--json"],
        ["kv", "key", "delete", "a/b c", *KV],
        ["kv", "key", "delete", "a/b c", *KV],
        ["kv", "key", "get", "a/b c", *KV],
        ["kv", "key", "get", "a/b c", *KV, "--json"],
    )
    assert seen[0] == (0, "", "✓ wrote 5 B to 'a/b c'\n")
    assert seen[1] == (0, "hello", "")
    assert json.loads(seen[2][1]) == {"u": 1}
    assert json.loads(seen[3][1]) == [{"name": "a/b c", "metadata": {"u": 1}}]
    assert json.loads(seen[4][1]) == {
        "keys": [{"name": "a/b c", "metadata": {"u": 1}}],
        "list_complete": True,
        "cursor": None,
    }
    assert seen[5] == (0, "", "✓ deleted 'a/b c'\n")
    assert seen[6] == (0, "", "'a/b c' was not there; nothing deleted\n")
    assert seen[7] == (1, "", "error: key not found: 'a/b c'\n")
    assert json.loads(seen[8][1]) == {
        "error": {"text": "key not found: 'a/b c'", "notes": [], "kind": "error", "code": 1}
    }


def test_cli_mistakes_give_the_same_message_and_exit_code(cli, project: Path) -> None:
    (project / "bad.json").write_text(
        json.dumps([{"key": "ok", "value": "1"}, {"key": "t", "value": "v", "expiration_ttl": 10}])
    )
    seen = cli_both(
        cli,
        ["kv", "key", "put", "k", "v", *KV, "--ttl", "59"],
        ["kv", "key", "put", ".", "v", *KV],
        ["kv", "key", "put", "k", "v", *KV, "--metadata", "[1]"],
        ["kv", "key", "get", "k", "--binding", "NOPE"],
        ["kv", "key", "get", "k", *KV, "--namespace-id", "x"],
        ["kv", "key", "list", *KV, "--limit", "0"],
        ["kv", "bulk", "put", "bad.json", *KV],
        ["kv", "key", "list", *KV, "--json"],
    )
    assert seen[0] == (1, "", "error: TTL of 59 seconds is below the minimum of 60 seconds\n")
    assert seen[3] == (
        1,
        "",
        "error: KV binding 'NOPE' is not configured in wrangler.toml (configured: KV)\n"
        "hint: did you mean 'KV'?\n",
    )
    assert seen[4][0] == 2 and "give exactly one of --binding or --namespace-id" in seen[4][2]
    assert seen[5] == (1, "", "error: list limit 0 is outside 1–1000\n")
    assert seen[6][0] == 1 and "nothing written" in seen[6][2]
    assert json.loads(seen[7][1]) == []


def test_cli_bulk_put_and_delete(cli, project: Path) -> None:
    (project / "seed.json").write_text(
        json.dumps([{"key": f"k{i}", "value": str(i)} for i in range(3)])
    )
    (project / "old.json").write_text('["k0", {"name": "k1"}]')
    seen = cli_both(
        cli,
        ["kv", "bulk", "put", "seed.json", *KV, "--json"],
        ["kv", "bulk", "delete", "old.json", *KV],
        ["kv", "bulk", "delete", "old.json", *KV, "--yes", "--json"],
        ["kv", "key", "list", *KV, "--json"],
    )
    assert json.loads(seen[0][1]) == {"written": 3, "requested": 3}
    assert seen[1][0] == 1 and "refusing to delete 2 key(s)" in seen[1][2]
    assert json.loads(seen[2][1]) == {"deleted": 2, "requested": 2}
    assert json.loads(seen[3][1]) == [{"name": "k2"}]


@pytest.fixture
def _no_requests(fake: FakeCloudflare) -> Iterator[None]:
    yield
    assert fake.requests == []


def test_local_and_remote_together_is_a_usage_error(cli, _no_requests: None) -> None:
    result = cli("kv", "key", "get", "k", *KV, "--local", "--remote")
    assert result.exit_code == 2
    assert "--local and --remote cannot be combined" in result.stderr
