from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail, null

from tests.conftest import IN_CI
from tests.support.keyring_backends import (
    FailingKeyring,
    LeakyKeyring,
    LockedKeyring,
    SleepingKeyring,
    real_secret_service,
)
from tests.support.memory_keyring import MemoryKeyring
from worktime_cli.errors import (
    ConfigError,
    LimitError,
    NotFoundError,
    SecretStoreError,
    WorktimeError,
)
from worktime_cli.project import config
from worktime_cli.secrets import keyring_store
from worktime_cli.secrets import stores as secrets
from worktime_cli.targets.secrets import SecretBulk, SecretDeleted, SecretPut, SecretTarget


def service(env: str | None = None) -> str:
    """This test's keyring service: keyed by the project's config path (issue 23 item 7)."""
    from worktime_cli.project import config as _config
    from worktime_cli.secrets import keyring_projects as _keyring_projects

    return _keyring_projects.service_name(_config.load(env=env))


VALUE = "s3cr3t-${HOME}-value"


@pytest.fixture
def cfg() -> config.Config:
    return config.load()


@pytest.fixture
def sleeping(monkeypatch: pytest.MonkeyPatch) -> Iterator[SleepingKeyring]:
    backend = SleepingKeyring()
    keyring.set_keyring(backend)
    monkeypatch.setattr(keyring_store, "TIMEOUT_SECONDS", 0.2)
    yield backend
    backend.release()


def test_service_name(cfg):
    assert secrets.service_name(cfg) == service()


def test_service_name_needs_a_project_name(project: Path):
    (project / "wrangler.toml").write_text('main = "src/index.ts"\n')
    with pytest.raises(ConfigError, match="has no `name`"):
        secrets.service_name(config.load())


def test_put_list_read_delete_round_trip(cfg, memory_keyring: MemoryKeyring):
    first = secrets.put(cfg, "JWT_SECRET", VALUE + "\n")
    assert first == SecretPut(SecretTarget("keyring", service()), "JWT_SECRET", created=True)
    secrets.put(cfg, "GITHUB_CLIENT_ID", "abc")
    again = secrets.put(cfg, "JWT_SECRET", "rotated")
    assert again.created is False
    assert secrets.names(cfg) == ("GITHUB_CLIENT_ID", "JWT_SECRET")
    assert secrets.read_all(cfg) == {"GITHUB_CLIENT_ID": "abc", "JWT_SECRET": "rotated"}
    # The index is one more keyring entry and holds names only.
    assert json.loads(memory_keyring.store[(service(), secrets.INDEX_USERNAME)]) == [
        "GITHUB_CLIENT_ID",
        "JWT_SECRET",
    ]
    assert secrets.delete(cfg, "JWT_SECRET") == SecretDeleted(
        SecretTarget("keyring", service()), "JWT_SECRET"
    )
    assert secrets.names(cfg) == ("GITHUB_CLIENT_ID",)
    assert (service(), "JWT_SECRET") not in memory_keyring.store
    with pytest.raises(NotFoundError, match=r"no secret JWT_SECRET in the OS keyring \(worktime:"):
        secrets.delete(cfg, "JWT_SECRET")


def test_trailing_whitespace_is_trimmed_as_wrangler(cfg, memory_keyring):
    secrets.put(cfg, "A", "  value with ${X} \r\n\n")
    assert memory_keyring.store[(service(), "A")] == "  value with ${X}"


@pytest.mark.parametrize("name", ["", "1ABC", "MY-SECRET", "A B", "worktime.index", "É"])
def test_invalid_names_are_refused(cfg, name):
    with pytest.raises(WorktimeError, match="invalid secret name"):
        secrets.put(cfg, name, "value")


@pytest.mark.parametrize("value", ["", "\n", "  \t\n"])
def test_empty_values_are_refused(cfg, value, memory_keyring):
    with pytest.raises(WorktimeError, match="refusing to store an empty value for A"):
        secrets.put(cfg, "A", value)
    assert memory_keyring.store == {}


def test_size_limit_is_5_kib(cfg, memory_keyring):
    secrets.put(cfg, "A", "x" * 5120)
    big = "é" * 2561  # 5122 bytes in UTF-8: the limit is on bytes, not characters
    with pytest.raises(LimitError) as info:
        secrets.put(cfg, "B", big)
    assert (
        info.value.message
        == "the value for B is 5122 bytes; a Worker secret is at most 5120 bytes (5 KiB)"
    )
    assert (service(), "B") not in memory_keyring.store


def test_delete_works_for_a_value_missing_from_the_index(cfg, memory_keyring):
    memory_keyring.store[(service(), "OLD")] = "v"
    assert secrets.exists(cfg, "OLD")
    secrets.delete(cfg, "OLD")
    assert memory_keyring.store == {}


def test_read_all_skips_names_whose_value_vanished(cfg, memory_keyring):
    secrets.put(cfg, "A", "1")
    secrets.put(cfg, "B", "2")
    del memory_keyring.store[(service(), "A")]
    assert secrets.read_all(cfg) == {"B": "2"}


def test_projects_do_not_share_secrets(cfg, project: Path):
    secrets.put(cfg, "A", "1")
    other = project / "other"
    other.mkdir()
    (other / "wrangler.toml").write_text('name = "other-worker"\n')
    assert secrets.names(config.load(start=other)) == ()


def test_damaged_index_is_a_clear_error(cfg, memory_keyring):
    memory_keyring.store[(service(), secrets.INDEX_USERNAME)] = "not json"
    with pytest.raises(
        SecretStoreError, match=r"list of secret names in the keyring .* is damaged"
    ):
        secrets.names(cfg)


def test_put_removes_the_value_when_the_index_cannot_be_written(cfg):
    backend = FailingKeyring(fail_on=2)  # 1: the value, 2: the index
    keyring.set_keyring(backend)
    with pytest.raises(SecretStoreError, match="failed to update the list of secret names"):
        secrets.put(cfg, "A", VALUE)
    assert backend.store == {}


def test_bulk_sets_and_deletes(cfg, memory_keyring):
    secrets.put(cfg, "OLD", "1")
    secrets.put(cfg, "KEEP", "2")
    result = secrets.bulk(cfg, {"NEW": "3\n", "OLD": None, "ABSENT": None})
    assert result == SecretBulk(
        SecretTarget("keyring", service()), stored=("NEW",), deleted=("OLD",)
    )
    assert secrets.read_all(cfg) == {"KEEP": "2", "NEW": "3"}
    assert secrets.names(cfg) == ("KEEP", "NEW")


def test_bulk_validates_everything_before_writing(cfg, memory_keyring):
    with pytest.raises(WorktimeError, match="empty value for B"):
        secrets.bulk(cfg, {"A": "1", "B": ""})
    assert memory_keyring.store == {}


def test_bulk_restores_previous_values_when_a_write_fails(cfg):
    backend = FailingKeyring(fail_on=4)
    keyring.set_keyring(backend)
    secrets.put(cfg, "A", "old-a")  # writes 1 and 2 (value, index)
    before = dict(backend.store)
    with pytest.raises(SecretStoreError, match="failed to store C: PasswordSetError: disk full"):
        secrets.bulk(cfg, {"A": "new-a", "C": "c"})  # write 3 = A, write 4 = C fails
    assert backend.store == before


def test_parse_bulk_json_and_dotenv():
    assert secrets.parse_bulk('{"A": "1\\n", "B": null}', "f.json") == {"A": "1", "B": None}
    assert secrets.parse_bulk("# c\nA=1\nB='x ${Y}'\n", "f.env") == {"A": "1", "B": "x ${Y}"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"A": 1}', "f: A must be a string, or null to delete it"),
        ('["A"]', "f: expected a JSON object of names to values"),
        ('{"A": "1",', "f:1:11: invalid JSON"),
        ('{"bad-name": "x"}', "f: not a valid secret name"),
        ("A=1\nbad-name=x\n", "f:2: not a valid secret name"),
        ("A=1\nnot a line\n", "f:2: cannot parse this line"),
        ("A\n", "f:1: a line without '='"),
    ],
)
def test_parse_bulk_errors(text, message):
    with pytest.raises(WorktimeError) as info:
        secrets.parse_bulk(text, "f")
    assert info.value.message == message


def test_parse_bulk_json_error_does_not_quote_values():
    with pytest.raises(WorktimeError) as info:
        secrets.parse_bulk('{"A": "' + VALUE + '" "B"}', "f")
    assert VALUE not in str(info.value) and VALUE not in (info.value.hint or "")


def test_hung_keyring_times_out(cfg, sleeping):
    with pytest.raises(SecretStoreError) as info:
        secrets.put(cfg, "A", VALUE)
    assert info.value.message == (
        "the OS keyring did not answer within 0.2 s (trying to read worktime.index)"
    )
    assert info.value.hint is not None and info.value.hint.startswith("unlock your keyring")
    assert sleeping.calls == 1


@pytest.mark.parametrize("backend", [fail.Keyring, null.Keyring])
def test_no_usable_backend_fails_closed(cfg, backend):
    keyring.set_keyring(backend())
    with pytest.raises(SecretStoreError) as info:
        secrets.put(cfg, "A", VALUE)
    name = f"{backend.__module__}.{backend.__qualname__}"
    assert info.value.message == f"no usable OS keyring (keyring chose {name})"
    assert info.value.hint == (
        "start and unlock a Secret Service (e.g. gnome-keyring), choose a keyring backend with "
        "PYTHON_KEYRING_BACKEND, or put local values in .dev.vars"
    )


def test_locked_keyring(cfg):
    keyring.set_keyring(LockedKeyring())
    with pytest.raises(
        SecretStoreError, match=r"the OS keyring is locked \(trying to read worktime.index\)"
    ):
        secrets.names(cfg)


def test_backend_errors_never_repeat_the_value(cfg):
    keyring.set_keyring(LeakyKeyring())
    with pytest.raises(SecretStoreError) as info:
        secrets.put(cfg, "A", VALUE)
    assert (
        info.value.message
        == "the OS keyring failed to store A: PasswordSetError: cannot store '***' for A"
    )
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.secret_service
def test_real_secret_service_round_trip(project: Path):
    name = f"worktime-test-{uuid.uuid4().hex[:12]}"
    (project / "wrangler.toml").write_text(f'name = "{name}"\n')
    cfg = config.load()
    with real_secret_service(IN_CI):
        try:
            assert secrets.put(cfg, "JWT_SECRET", VALUE).created
            assert secrets.put(cfg, "OTHER", "x").created
            assert secrets.names(cfg) == ("JWT_SECRET", "OTHER")
            assert secrets.read_all(cfg) == {"JWT_SECRET": VALUE, "OTHER": "x"}
            assert keyring.get_password(service(), "JWT_SECRET") == VALUE
            secrets.bulk(cfg, {"OTHER": None, "THIRD": "3"})
            assert secrets.read_all(cfg) == {"JWT_SECRET": VALUE, "THIRD": "3"}
            secrets.delete(cfg, "JWT_SECRET")
            assert secrets.names(cfg) == ("THIRD",)
        finally:
            for user in ("JWT_SECRET", "OTHER", "THIRD", secrets.INDEX_USERNAME):
                if keyring.get_password(service(), user) is not None:
                    keyring.delete_password(service(), user)


def test_ctrl_c_during_bulk_leaves_what_was_there(cfg):
    """Interrupted half-way, bulk restores every value it touched (review #7)."""
    from tests.support.keyring_backends import InterruptedKeyring

    backend = InterruptedKeyring(interrupt_on=4)
    keyring.set_keyring(backend)
    secrets.put(cfg, "A", "old-a")  # writes 1 and 2 (value, index)
    before = dict(backend.store)
    with pytest.raises(KeyboardInterrupt):
        secrets.bulk(cfg, {"A": "new-a", "B": "b", "C": "c"})  # write 4 (B) is interrupted
    assert backend.store == before
    assert secrets.names(cfg) == ("A",)


def test_ctrl_c_during_put_leaves_no_invisible_value(cfg):
    from tests.support.keyring_backends import InterruptedKeyring

    backend = InterruptedKeyring(interrupt_on=1)
    keyring.set_keyring(backend)
    with pytest.raises(KeyboardInterrupt):
        secrets.put(cfg, "NEW", "value")
    assert backend.store == {}


# --- the local SecretStore -------------------------------------------------------------------


def test_keyring_store_returns_the_shared_results(cfg, memory_keyring):
    store = secrets.KeyringSecrets(cfg)
    target = SecretTarget("keyring", service())
    assert store.target == target
    assert store.put("A", VALUE) == SecretPut(target, "A", created=True)
    assert store.put("A", "rotated").created is False
    assert store.exists("A") and not store.exists("B")
    assert store.bulk({"B": "b", "A": None}) == SecretBulk(target, ("B",), ("A",))
    assert store.delete("B") == SecretDeleted(target, "B")
    with pytest.raises(NotFoundError) as info:
        store.delete("B")
    assert info.value.message == f"no secret B in the OS keyring ({service()})"
    assert info.value.hint == "see the names with `worktime secret list`"
    assert VALUE not in repr(store)


def test_keyring_store_lists_the_local_environment(cfg, project, memory_keyring):
    (project / "wrangler.toml").write_text(
        'name = "worktime-backend"\n[vars]\nHOST = "h"\n[secrets]\nrequired = ["A", "B"]\n'
    )
    (project / ".dev.vars").write_text("A=dev\n")
    store = secrets.KeyringSecrets(config.load())
    store.put("A", VALUE)
    listing = store.names()
    assert listing.to_json() == {
        "store": "keyring",
        "location": service(),
        "secrets": [
            {
                "name": "A",
                "source": ".dev.vars",
                "required": True,
                "defined_in": ["keyring", ".dev.vars"],
                "type": None,
            },
            {"name": "B", "source": None, "required": True, "defined_in": [], "type": None},
            {
                "name": "HOST",
                "source": "vars",
                "required": False,
                "defined_in": ["vars"],
                "type": None,
            },
        ],
        "missing": ["B"],
        "keyring_error": None,
        "warnings": [],
        "project": str(project / "wrangler.toml"),
    }
    assert listing.names == ("A", "HOST")
    assert VALUE not in repr(listing) + str(listing.to_json())


def test_put_warns_when_a_dotenv_file_wins(cfg, project, memory_keyring):
    (project / ".dev.vars").write_text("A=local\n")
    result = secrets.KeyringSecrets(cfg).put("A", VALUE)
    assert result.warnings == ("A is also set in .dev.vars, which takes precedence locally",)


def test_each_environment_has_its_own_keyring_service(project, memory_keyring):
    (project / "wrangler.toml").write_text('name = "worktime-backend"\n[env.staging]\n')
    staging = secrets.KeyringSecrets(config.load(env="staging"), "staging")
    assert staging.put("A", VALUE).target.location == service("staging")
    assert secrets.names(config.load()) == ()
    assert memory_keyring.store[(service("staging"), "A")] == VALUE


def test_plan_push_takes_keyring_and_dotenv_values_only(project, memory_keyring):
    from worktime_cli.secrets import environment

    (project / "wrangler.toml").write_text(
        'name = "w"\n[vars]\nV = "var"\n[secrets]\nrequired = ["K", "D", "V", "C", "N"]\n'
    )
    (project / ".dev.vars").write_text("D=dev\n")
    cfg = config.load()
    secrets.put(cfg, "K", VALUE)
    plan = secrets.plan_push(environment.resolve(cfg, cli_vars={"C": "cli"}))
    assert plan.values == {"K": VALUE, "D": "dev"}
    assert plan.skipped == ("V", "C", "N")
    assert VALUE not in repr(plan)
