"""`worktime kv …` through the real CLI: exact output, JSON shapes, exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from worktime_cli import clock
from worktime_cli.kv import KVStore
from worktime_cli.project import config

NS = "0f2ac74b498b48028cb68387c421e279"


@pytest.fixture
def bound(project: Path) -> Path:
    """wrangler.toml with a KV binding, as a user of wrangler would have it."""
    toml = project / "wrangler.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8") + f'\n[[kv_namespaces]]\nbinding = "KV"\nid = "{NS}"\n',
        encoding="utf-8",
    )
    return project


def store(project: Path) -> KVStore:
    return KVStore(project / ".wrangler" / "state", NS)


def raw_stdout(*args: str, input: bytes | None = None) -> tuple[int, bytes]:
    """Run the CLI and return stdout as bytes (the `cli` fixture decodes it)."""
    from worktime_cli.cli.app import app

    result = CliRunner().invoke(app, list(args), input=input)
    return result.exit_code, result.stdout_bytes


# --- help ------------------------------------------------------------------------------------

COMMANDS = [
    ["kv"],
    ["kv", "namespace"],
    ["kv", "namespace", "create"],
    ["kv", "namespace", "list"],
    ["kv", "namespace", "delete"],
    ["kv", "namespace", "gc"],
    ["kv", "key"],
    ["kv", "key", "put"],
    ["kv", "key", "get"],
    ["kv", "key", "list"],
    ["kv", "key", "delete"],
    ["kv", "bulk"],
    ["kv", "bulk", "put"],
    ["kv", "bulk", "delete"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_renders(cli, command: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage: worktime " + " ".join(command) in result.stdout
    if len(command) == 3:
        assert "Example:" in result.stdout
        assert f"worktime {' '.join(command)}" in result.stdout


# --- namespaces ------------------------------------------------------------------------------


def test_namespace_create_and_list_json(cli, project: Path) -> None:
    result = cli("kv", "namespace", "create", "KV", "--json")
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    # One shape locally and with --remote: title/preview_id are Cloudflare's, null here.
    assert list(created) == ["binding", "id", "title", "preview_id"]
    assert created["title"] is created["preview_id"] is None
    assert created["binding"] == "KV" and re.fullmatch(r"[0-9a-f]{32}", created["id"])
    assert config.load().kv(binding="KV").id == created["id"]

    listed = cli("kv", "namespace", "list", "--json")
    assert listed.exit_code == 0
    [entry] = json.loads(listed.stdout)
    assert entry == {
        "binding": "KV",
        "id": created["id"],
        "title": None,
        "preview_id": None,
        "local_id": created["id"],
        "path": entry["path"],
        "exists": False,
        "keys": 0,
    }
    assert entry["path"].endswith(".sqlite")


def test_namespace_create_twice_is_an_error(cli) -> None:
    assert cli("kv", "namespace", "create", "KV").exit_code == 0
    result = cli("kv", "namespace", "create", "KV")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: binding 'KV' already exists in wrangler.toml\n"
        "hint: choose another binding name, or use the existing namespace\n"
    )


def test_namespace_list_table(cli, bound: Path) -> None:
    cli("kv", "key", "put", "a", "1", "--binding", "KV")
    result = cli("kv", "namespace", "list")
    assert result.exit_code == 0
    assert "KV" in result.stdout and NS in result.stdout
    assert re.search(r"│\s+1\s*$", result.stdout, re.MULTILINE)


def test_namespace_delete_needs_confirmation(cli, bound: Path) -> None:
    cli("kv", "key", "put", "a", "1", "--binding", "KV")
    refused = cli("kv", "namespace", "delete", "--binding", "KV")
    assert refused.exit_code == 1
    assert refused.stderr.startswith(
        "error: refusing to delete KV namespace KV without confirmation\n"
    )
    assert store(bound).exists
    done = cli("kv", "namespace", "delete", "--binding", "KV", "--yes")
    assert done.exit_code == 0, done.output
    assert (
        done.stderr
        == "✓ deleted KV namespace KV (its local data) and removed it from wrangler.toml\n"
    )
    assert not store(bound).exists
    assert config.load().kv_namespaces == ()


def test_binding_and_namespace_id_are_exclusive(cli, bound: Path) -> None:
    both = cli("kv", "key", "get", "k", "--binding", "KV", "--namespace-id", NS)
    neither = cli("kv", "key", "get", "k")
    assert both.exit_code == neither.exit_code == 2
    assert "give exactly one of --binding or --namespace-id" in both.stderr


def test_unknown_binding_is_a_clear_error(cli) -> None:
    result = cli("kv", "key", "get", "k", "--binding", "NOPE")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: KV binding 'NOPE' is not configured in wrangler.toml")


# --- keys ------------------------------------------------------------------------------------


def test_put_get_raw_bytes_without_newline(cli, bound: Path) -> None:
    put = cli("kv", "key", "put", "greeting", "héllo", "--binding", "KV")
    assert put.exit_code == 0, put.output
    assert put.stdout == ""
    assert put.stderr == "✓ wrote 6 B to 'greeting'\n"
    assert raw_stdout("kv", "key", "get", "greeting", "--binding", "KV") == (0, "héllo".encode())
    text = cli("kv", "key", "get", "greeting", "--binding", "KV", "--text")
    assert text.stdout == "héllo\n"


def test_put_from_file_and_stdin_is_binary_safe(cli, bound: Path) -> None:
    data = bytes(range(256)) * 10
    (bound / "blob.bin").write_bytes(data)
    assert cli("kv", "key", "put", "file", "--path", "blob.bin", "--binding", "KV").exit_code == 0
    assert raw_stdout("kv", "key", "get", "file", "--binding", "KV") == (0, data)
    code, _ = raw_stdout("kv", "key", "put", "stdin", "-", "--binding", "KV", input=data[::-1])
    assert code == 0
    assert raw_stdout("kv", "key", "get", "stdin", "--namespace-id", NS) == (0, data[::-1])


def test_put_needs_exactly_one_value_source(cli, bound: Path) -> None:
    (bound / "v.txt").write_text("x", encoding="utf-8")
    assert cli("kv", "key", "put", "k", "--binding", "KV").exit_code == 2
    assert cli("kv", "key", "put", "k", "v", "--path", "v.txt", "--binding", "KV").exit_code == 2


def test_get_metadata(cli, bound: Path) -> None:
    cli("kv", "key", "put", "k", "v", "--binding", "KV", "--metadata", '{"user": 1}')
    result = cli("kv", "key", "get", "k", "--binding", "KV", "--metadata")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"user": 1}


def test_get_missing_key(cli, bound: Path) -> None:
    result = cli("kv", "key", "get", "nope", "--binding", "KV")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "error: key not found: 'nope'\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["k", "v", "--ttl", "59"],
            "error: TTL of 59 seconds is below the minimum of 60 seconds\n",
        ),
        (["a" * 513, "v"], "error: key is 513 bytes (UTF-8); the limit is 512 bytes\n"),
        ([".", "v"], "error: illegal key name '.': `.` and `..` are not allowed\n"),
        (["k", "v", "--metadata", "[1]"], "error: metadata must be a JSON object\n"),
        (
            ["k", "v", "--metadata", json.dumps({"a": "x" * 1017})],
            "error: metadata is 1025 bytes serialised; the limit is 1024 bytes\n",
        ),
    ],
)
def test_put_limits_are_one_line_errors_and_write_nothing(
    cli, bound: Path, args: list[str], message: str
) -> None:
    result = cli("kv", "key", "put", *args, "--binding", "KV")
    assert result.exit_code == 1
    assert result.stderr == message
    assert not store(bound).exists


def test_put_with_ttl_shows_in_list_json(cli, bound: Path) -> None:
    before = int(clock.timestamp())
    assert (
        cli(
            "kv",
            "key",
            "put",
            "t",
            "v",
            "--binding",
            "KV",
            "--ttl",
            "3600",
            "--metadata",
            '{"a":1}',
        ).exit_code
        == 0
    )
    assert cli("kv", "key", "put", "plain", "v", "--binding", "KV").exit_code == 0
    result = cli("kv", "key", "list", "--binding", "KV", "--json")
    assert result.exit_code == 0
    listed = json.loads(result.stdout)
    assert listed[0] == {"name": "plain"}
    assert set(listed[1]) == {"name", "expiration", "metadata"}
    assert listed[1]["name"] == "t" and listed[1]["metadata"] == {"a": 1}
    assert before + 3600 <= listed[1]["expiration"] <= int(clock.timestamp()) + 3600


def test_key_list_pagination_across_2500_keys(cli, bound: Path) -> None:
    names = [f"key-{i:04d}" for i in range(2500)]
    (bound / "bulk.json").write_text(
        json.dumps([{"key": n, "value": n} for n in names]), encoding="utf-8"
    )
    assert cli("kv", "bulk", "put", "bulk.json", "--binding", "KV").exit_code == 0

    everything = cli("kv", "key", "list", "--binding", "KV", "--json")
    assert [k["name"] for k in json.loads(everything.stdout)] == names

    pages = []
    args = ["kv", "key", "list", "--binding", "KV", "--limit", "1000", "--json"]
    cursor = None
    while True:
        result = cli(*args, *(["--cursor", cursor] if cursor else []))
        assert result.exit_code == 0, result.output
        page = json.loads(result.stdout)
        assert list(page) == ["keys", "list_complete", "cursor"]
        pages.append(page)
        if page["list_complete"]:
            assert page["cursor"] is None
            break
        cursor = page["cursor"]
    assert [len(p["keys"]) for p in pages] == [1000, 1000, 500]
    assert [k["name"] for p in pages for k in p["keys"]] == names


def test_key_list_prefix(cli, bound: Path) -> None:
    for key in ("token:a", "token:b", "user:a"):
        cli("kv", "key", "put", key, "v", "--binding", "KV")
    result = cli("kv", "key", "list", "--binding", "KV", "--prefix", "token:")
    # Not a terminal: JSON, as wrangler prints.
    assert json.loads(result.stdout) == [{"name": "token:a"}, {"name": "token:b"}]


def test_key_delete(cli, bound: Path) -> None:
    cli("kv", "key", "put", "k", "v", "--binding", "KV")
    first = cli("kv", "key", "delete", "k", "--binding", "KV")
    second = cli("kv", "key", "delete", "k", "--binding", "KV")
    assert (first.exit_code, first.stderr) == (0, "✓ deleted 'k'\n")
    assert (second.exit_code, second.stderr) == (0, "'k' was not there; nothing deleted\n")


def test_persist_to(cli, bound: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "state"
    assert (
        cli(
            "kv", "key", "put", "k", "v", "--binding", "KV", "--persist-to", str(elsewhere)
        ).exit_code
        == 0
    )
    assert KVStore(elsewhere, NS).get("k") is not None
    assert not store(bound).exists
    assert cli("kv", "key", "get", "k", "--binding", "KV").exit_code == 1


# --- bulk ------------------------------------------------------------------------------------


def test_bulk_put_json_and_values(cli, bound: Path) -> None:
    (bound / "bulk.json").write_text(
        json.dumps(
            [
                {"key": "a", "value": "1"},
                {"key": "b", "value": "AAEC/w==", "base64": True},
                {"key": "c", "value": "3", "expiration_ttl": 600, "metadata": {"m": True}},
            ]
        ),
        encoding="utf-8",
    )
    result = cli("kv", "bulk", "put", "bulk.json", "--binding", "KV", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"written": 3, "requested": 3}
    assert raw_stdout("kv", "key", "get", "b", "--binding", "KV") == (0, b"\x00\x01\x02\xff")
    c = store(bound).get("c")
    assert c is not None and c.metadata == {"m": True}


def test_bulk_put_invalid_items_write_nothing(cli, bound: Path) -> None:
    (bound / "bulk.json").write_text(
        json.dumps(
            [
                {"key": "ok", "value": "1"},
                {"key": "t", "value": "v", "expiration_ttl": 10},
                {"value": "x"},
            ]
        ),
        encoding="utf-8",
    )
    result = cli("kv", "bulk", "put", "bulk.json", "--binding", "KV")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: bulk.json: invalid item(s), nothing written:\n"
        "  the item at index 1 (key 't'): TTL of 10 seconds is below the minimum of 60 seconds\n"
        '  the item at index 2 is {"value": <string, 1 chars>}\n'
        "hint: fix the 2 item(s) above; each item needs a string key and value\n"
    )
    assert not store(bound).exists


def test_bulk_delete(cli, bound: Path) -> None:
    for key in ("a", "b", "c"):
        cli("kv", "key", "put", key, "v", "--binding", "KV")
    (bound / "gone.json").write_text(json.dumps(["a", {"name": "b"}, "zzz"]), encoding="utf-8")
    refused = cli("kv", "bulk", "delete", "gone.json", "--binding", "KV")
    assert refused.exit_code == 1
    assert "refusing to delete 3 key(s) without confirmation" in refused.stderr
    result = cli("kv", "bulk", "delete", "gone.json", "--binding", "KV", "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"deleted": 2, "requested": 3}
    assert [k.name for k in store(bound).list().keys] == ["c"]


def test_namespace_gc_json(cli, bound: Path) -> None:
    cli("kv", "key", "put", "k", "v", "--binding", "KV")

    from worktime_cli.kv import new_blob_id

    # Older than the grace period: a fresh orphan may belong to a write still committing.
    (store(bound).blobs_dir / new_blob_id(clock.timestamp() - 120)).write_bytes(b"orphan")
    result = cli("kv", "namespace", "gc", "--binding", "KV", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"removed": 1}
    assert len(list(store(bound).blobs_dir.iterdir())) == 1


@pytest.mark.parametrize("bad_id", ["", "miniflare-KVNamespaceObject"])
def test_namespace_ids_that_would_escape_their_folder_are_refused(cli, project, bad_id):
    """Deleting `--namespace-id ""` must not wipe every namespace (review #4)."""
    (project / "wrangler.toml").write_text(
        'name = "w"\n[[kv_namespaces]]\nbinding = "KV"\nid = "0f2ac74b498b48028cb68387c421e279"\n'
    )
    assert cli("kv", "key", "put", "k1", "v1", "--binding", "KV").exit_code == 0
    result = cli("kv", "namespace", "delete", "--namespace-id", bad_id, "--yes")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {bad_id!r} cannot be a KV namespace id\n")
    got = cli("kv", "key", "get", "k1", "--binding", "KV")
    assert (got.exit_code, got.stdout) == (0, "v1")
