"""The same secret commands, locally (the OS keyring) and with --remote (the fake Cloudflare API).

Each scenario runs against both targets in one test and the two transcripts must match once
the place is named neutrally: the same exit codes, the same messages and hints, the same JSON
keys and values. Each scenario also pins what the transcript is, so both cannot be equally wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Result, Runner
from tests.support.fake_cloudflare import ACCOUNT, TOKEN, FakeCloudflare, fake_fixture
from tests.support.memory_keyring import MemoryKeyring

fake = pytest.fixture(name="fake")(fake_fixture)
VALUE = "parity-s3cret-value-never-shown"
SCRIPT = "worktime-backend"


@dataclass(frozen=True)
class Target:
    name: str
    flags: tuple[str, ...]
    place: str  # how messages name it
    store: str
    location: str
    source: str  # the layer a stored secret's value resolves from


def local_target() -> Target:
    # The keyring service is keyed by this test's project path (issue 23 item 7).
    from worktime_cli.project import config
    from worktime_cli.secrets import keyring_projects

    service = keyring_projects.service_name(config.load())
    return Target("local", (), f"the OS keyring ({service})", "keyring", service, "keyring")


REMOTE = Target("remote", ("--remote",), f"the Worker {SCRIPT}", "worker", SCRIPT, "worker")


@pytest.fixture
def worker(fake: FakeCloudflare) -> dict[str, str]:
    fake.scripts[SCRIPT] = {}
    return fake.scripts[SCRIPT]


def _neutral_text(text: str, target: Target) -> str:
    text = re.sub(rf"\b(in|on) {re.escape(target.place)}", "<in place>", text)
    text = text.replace(target.place, "<place>")
    return text.replace(" --remote`", "`")


def _neutral_json(data: Any, target: Target) -> Any:
    if isinstance(data, dict):
        out = {key: _neutral_json(value, target) for key, value in data.items()}
        if out.get("store") == target.store:
            out["store"] = "<store>"
        if out.get("location") == target.location:
            out["location"] = "<location>"
        if out.get("source") == target.source:
            out["source"] = "<source>"
        if "defined_in" in out:
            out["defined_in"] = ["<source>" if s == target.source else s for s in out["defined_in"]]
        out.pop("type", None)  # Cloudflare's binding type; the keyring has none
        return out
    if isinstance(data, list):
        return [_neutral_json(item, target) for item in data]
    if isinstance(data, str):
        return _neutral_text(data, target)
    return data


@dataclass(frozen=True)
class Step:
    exit_code: int
    stdout: Any  # parsed JSON when the command printed JSON
    stderr: str


def _step(result: Result, target: Target) -> Step:
    assert VALUE not in result.output and TOKEN not in result.output
    try:
        stdout: Any = _neutral_json(json.loads(result.stdout), target)
    except ValueError:
        stdout = _neutral_text(result.stdout, target)
    return Step(result.exit_code, stdout, _neutral_text(result.stderr, target))


Scenario = Callable[[Callable[..., Step]], list[Step]]


def both(cli: Runner, scenario: Scenario) -> list[Step]:
    """Run `scenario` locally, then remotely; the transcripts must be the same."""
    transcripts = []
    for target in (local_target(), REMOTE):

        def run(*args: str, input: str | None = None, target: Target = target) -> Step:
            return _step(cli("secret", *args, *target.flags, input=input), target)

        transcripts.append(scenario(run))
    local, remote = transcripts
    assert local == remote
    return local


@pytest.fixture
def targets(worker: dict[str, str], memory_keyring: MemoryKeyring) -> Iterator[None]:
    yield
    # Whatever a scenario stored, it stored on both sides, and never elsewhere.
    stored = {user for (_service, user) in memory_keyring.store if user != "worktime.index"}
    assert set(worker) == stored


def test_put_list_delete(cli, targets) -> None:
    def scenario(run: Callable[..., Step]) -> list[Step]:
        return [
            run("put", "JWT_SECRET", "--json", input=VALUE + "\n"),
            run("put", "JWT_SECRET", input=VALUE + "-rotated"),
            run("list", "--json"),
            run("delete", "JWT_SECRET", "--yes", "--json"),
            run("list"),
        ]

    put, replaced, listed, deleted, empty = both(cli, scenario)
    assert put == Step(
        0,
        {
            "name": "JWT_SECRET",
            "store": "<store>",
            "location": "<location>",
            "created": True,
            "warnings": [],
        },
        "",
    )
    assert replaced == Step(0, "", "✓ replaced JWT_SECRET <in place>\n")
    assert listed.stdout["secrets"] == [
        {"name": "JWT_SECRET", "source": "<source>", "required": False, "defined_in": ["<source>"]}
    ]
    assert deleted.stdout == {
        "name": "JWT_SECRET",
        "store": "<store>",
        "location": "<location>",
        "deleted": True,
    }
    assert empty == Step(
        0,
        "",
        f"project: {Path.cwd() / 'wrangler.toml'}\n"
        "no secrets <in place> yet; add one with `worktime secret put NAME`\n",
    )


@pytest.mark.parametrize(
    ("args", "stdin", "code", "stderr"),
    [
        pytest.param(
            ("put", "bad-name"),
            VALUE,
            1,
            "error: invalid secret name 'bad-name'\n"
            "hint: names start with a letter or _ and contain only letters, digits and _\n",
            id="bad-name-put",
        ),
        pytest.param(
            ("delete", "bad-name", "--yes"),
            None,
            1,
            "error: invalid secret name 'bad-name'\n"
            "hint: names start with a letter or _ and contain only letters, digits and _\n",
            id="bad-name-delete",
        ),
        pytest.param(
            ("delete", "NOPE", "--yes"),
            None,
            1,
            "error: no secret NOPE <in place>\nhint: see the names with `worktime secret list`\n",
            id="missing-secret",
        ),
        pytest.param(
            ("put", "A"),
            " \n",
            1,
            "error: refusing to store an empty value for A\n"
            "hint: type the value at the prompt or pipe it on standard input\n",
            id="empty-value",
        ),
        pytest.param(
            ("put", "A"),
            "x" * 5121,
            1,
            "error: the value for A is 5121 bytes; a Worker secret is at most 5120 bytes (5 KiB)\n",
            id="too-big",
        ),
        pytest.param(
            ("put", "A", VALUE),
            "v",
            2,
            "error: got 1 unexpected extra argument(s) (not shown: they may hold a secret value)\n"
            "hint: usage: worktime secret put NAME; a value is read from a hidden prompt or "
            "standard input, never from the command line (clear it from your shell history)\n",
            id="value-in-argv",
        ),
        pytest.param(
            ("delete", "A"),
            None,
            1,
            "error: no secret A <in place>\nhint: see the names with `worktime secret list`\n",
            id="missing-before-confirmation",
        ),
    ],
)
def test_the_same_mistake_reads_the_same(cli, targets, fake, args, stdin, code, stderr) -> None:
    def scenario(run: Callable[..., Step]) -> list[Step]:
        return [run(*args, input=stdin), run(*args, "--json", input=stdin)]

    plain, as_json = both(cli, scenario)
    assert plain == Step(code, "", stderr)
    message, _, hint = stderr.removeprefix("error: ").rstrip("\n").partition("\nhint: ")
    assert as_json.exit_code == code
    assert as_json.stdout == {
        "error": {
            "text": message,
            "notes": [{"text": hint}] if hint else [],
            "kind": "error",
            "code": code,
        }
    }
    assert fake.calls("PUT", "/secrets$") == []
    assert fake.calls("DELETE", "/secrets/") == []


def test_bulk_puts_and_deletes(cli, targets, project) -> None:
    (project / "first.json").write_text(json.dumps({"A": VALUE, "B": VALUE + "b"}))
    (project / "second.env").write_text(f"C={VALUE}c\n")
    (project / "third.json").write_text('{"A": null, "ABSENT": null, "D": "d"}')

    def scenario(run: Callable[..., Step]) -> list[Step]:
        return [
            run("bulk", "first.json", "--json"),
            run("bulk", "second.env"),
            run("bulk", "third.json"),  # deletes without --yes: refused, nothing changed
            run("bulk", "third.json", "--yes", "--json"),
            run("list", "--json"),
        ]

    first, second, refused, third, listed = both(cli, scenario)
    assert first.stdout == {
        "store": "<store>",
        "location": "<location>",
        "stored": ["A", "B"],
        "deleted": [],
    }
    assert second.stderr == "✓ stored 1 and deleted 0 secret(s) <in place>\n"
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: refusing to delete 1 secret(s) without confirmation")
    assert (third.stdout["stored"], third.stdout["deleted"]) == (["D"], ["A"])
    assert [s["name"] for s in listed.stdout["secrets"]] == ["B", "C", "D"]


def test_core_stores_return_the_same_result_types(fake, worker, project) -> None:
    """Through the protocol, without the CLI: the same results, field by field."""
    from worktime_cli.project import config
    from worktime_cli.remote.client import Client
    from worktime_cli.remote.secrets import RemoteSecrets
    from worktime_cli.secrets.stores import KeyringSecrets
    from worktime_cli.targets.secrets import SecretStore

    cfg = config.load()
    with Client(TOKEN, base_url=fake.url, account_id=ACCOUNT, sleep=lambda _s: None) as client:
        stores: list[SecretStore] = [KeyringSecrets(cfg), RemoteSecrets(client, cfg)]
        outcomes = []
        for store in stores:
            put = store.put("A", VALUE)
            bulk = store.bulk({"B": "b", "A": None})
            names = store.names()
            deleted = store.delete("B")
            outcomes.append(
                [
                    (type(put), put.name, put.created),
                    (type(bulk), bulk.stored, bulk.deleted),
                    (type(names), names.names, names.missing),
                    (type(deleted), deleted.name),
                    store.exists("B"),
                ]
            )
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][2][1] == ("B",)  # type: ignore[index]  # a list of mixed tuples
