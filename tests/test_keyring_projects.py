"""Issue 23 item 7: keyring entries belong to one checkout, not to every Worker of that name.

Two checkouts whose Workers share a name must not read or overwrite each other's values;
entries written by the old scheme (`worktime:<name>`, shared) are copied on first use and
left for other checkouts; a moved checkout adopts its old entries explicitly.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.support.keyring_backends import real_secret_service
from tests.support.memory_keyring import MemoryKeyring
from worktime_cli.errors import SecretStoreError
from worktime_cli.project import config
from worktime_cli.secrets import keyring_projects, keyring_store
from worktime_cli.secrets import stores as secrets

VALUE = "kept-apart-Zq9-value"
OTHER = "the-other-checkout-value"
TOML = 'name = "worktime-backend"\n'
LEGACY = "worktime:worktime-backend"


@pytest.fixture(autouse=True)
def _no_leftover_notices() -> Iterator[None]:
    # Notices are process-wide until shown: one a test leaves must not reach the next.
    yield
    keyring_store.take_notices()


@pytest.fixture
def two_checkouts(tmp_path: Path) -> tuple[Path, Path]:
    """Two clones of one repository: same Worker name, different folders."""
    roots = (tmp_path / "clone-a", tmp_path / "clone-b")
    for root in roots:
        root.mkdir()
        (root / "wrangler.toml").write_text(TOML)
    return roots


def load(root: Path, env: str | None = None) -> config.Config:
    return config.load(root / "wrangler.toml", env=env)


def test_two_checkouts_of_one_worker_keep_their_own_values(two_checkouts, memory_keyring):
    a, b = (load(root) for root in two_checkouts)
    assert keyring_projects.service_name(a) != keyring_projects.service_name(b)
    secrets.put(a, "JWT_SECRET", VALUE)
    assert secrets.read_all(b) == {}  # B cannot read A's value
    assert not secrets.exists(b, "JWT_SECRET")
    secrets.put(b, "JWT_SECRET", OTHER)  # nor overwrite it
    assert secrets.read_all(a) == {"JWT_SECRET": VALUE}
    assert secrets.read_all(b) == {"JWT_SECRET": OTHER}
    secrets.delete(b, "JWT_SECRET")
    assert secrets.read_all(a) == {"JWT_SECRET": VALUE}


def test_the_key_names_the_worker_and_a_hash_of_the_config_path(project: Path):
    cfg = config.load()
    service = keyring_projects.service_name(cfg)
    assert service.startswith("worktime:worktime-backend:")
    project_id = service.rsplit(":", 1)[1]
    assert len(project_id) == 12 and int(project_id, 16) >= 0
    assert str(project) not in service  # the path itself is not written into the keyring
    # The same checkout reached through another spelling of its path is the same project.
    assert keyring_projects.service_name(config.load(Path("./wrangler.toml"))) == service


def test_env_secrets_stay_per_environment_and_per_checkout(two_checkouts, memory_keyring):
    for root in two_checkouts:
        (root / "wrangler.toml").write_text(TOML + "[env.staging]\n")
    a, b = two_checkouts
    secrets.put(load(a, "staging"), "A", VALUE)
    assert secrets.read_all(load(a)) == {}
    assert secrets.read_all(load(b, "staging")) == {}
    assert keyring_projects.service_name(load(a, "staging")).startswith(
        "worktime:worktime-backend-staging:"
    )


def _legacy(backend: MemoryKeyring, values: dict[str, str], service: str = LEGACY) -> None:
    for name, value in values.items():
        backend.store[(service, name)] = value
    backend.store[(service, "worktime.index")] = json.dumps(sorted(values))


def test_old_shared_entries_are_copied_on_first_use_and_left_in_place(
    project, memory_keyring: MemoryKeyring
):
    _legacy(memory_keyring, {"JWT_SECRET": VALUE, "B": "b"})
    cfg = config.load()
    assert secrets.read_all(cfg) == {"B": "b", "JWT_SECRET": VALUE}
    service = keyring_projects.service_name(cfg)
    assert memory_keyring.store[(service, "JWT_SECRET")] == VALUE
    assert json.loads(memory_keyring.store[(service, "worktime.index")]) == ["B", "JWT_SECRET"]
    # Left for the other checkouts that may have written it and may still need it.
    assert memory_keyring.store[(LEGACY, "JWT_SECRET")] == VALUE
    (notice,) = keyring_store.take_notices()
    assert notice == (
        f"copied 2 secret(s) (B, JWT_SECRET) from the keyring service {LEGACY}, which every "
        f"checkout of a Worker with this name shared, into this checkout's own ({service}); "
        "the shared entries are left for other checkouts"
    )
    assert VALUE not in notice
    # Once this checkout has its own index, the old entries are never read again: a value
    # deleted here does not come back from them.
    secrets.delete(cfg, "JWT_SECRET")
    secrets.delete(cfg, "B")
    assert secrets.read_all(cfg) == {}
    assert keyring_store.take_notices() == ()
    assert memory_keyring.store[(LEGACY, "B")] == "b"


def test_a_first_put_carries_the_old_entries_too(project, memory_keyring: MemoryKeyring):
    _legacy(memory_keyring, {"JWT_SECRET": VALUE})
    cfg = config.load()
    secrets.put(cfg, "NEW", "n")
    assert secrets.names(cfg) == ("JWT_SECRET", "NEW")


def test_migration_is_shown_by_secret_list(cli, project, memory_keyring: MemoryKeyring):
    _legacy(memory_keyring, {"JWT_SECRET": VALUE})
    result = cli("secret", "list", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["project"] == str(project / "wrangler.toml")
    assert [s["source"] for s in data["secrets"]] == ["keyring"]
    assert "copied 1 secret(s) (JWT_SECRET) from the keyring service" in result.stderr
    assert VALUE not in result.output


def test_secret_list_says_which_project(cli, project):
    assert cli("secret", "put", "A", input=VALUE).exit_code == 0
    result = cli("secret", "list")
    assert result.stderr.startswith(f"project: {project / 'wrangler.toml'}\n")
    assert json.loads(cli("secret", "list", "--json").stdout)["project"] == str(
        project / "wrangler.toml"
    )


def test_a_failed_copy_leaves_no_value_without_an_index(project, memory_keyring):
    from keyring.errors import PasswordSetError

    _legacy(memory_keyring, {"A": "a", "B": "b"})
    writes = []

    def failing(service: str, username: str, password: str) -> None:
        writes.append(username)
        if username == "B":
            raise PasswordSetError("disk full")
        memory_keyring.store[(service, username)] = password

    memory_keyring.set_password = failing  # one failing write
    cfg = config.load()
    with pytest.raises(SecretStoreError, match="copy B"):
        secrets.read_all(cfg)
    service = keyring_projects.service_name(cfg)
    assert not [key for key in memory_keyring.store if key[0] == service]


# --- a moved checkout ---------------------------------------------------------------------


def test_adopt_after_a_move_copies_and_removes_the_old_entries(
    cli, tmp_path, memory_keyring: MemoryKeyring
):
    old = tmp_path / "old-place"
    old.mkdir()
    (old / "wrangler.toml").write_text(TOML)
    secrets.put(config.load(old / "wrangler.toml"), "JWT_SECRET", VALUE)
    old_service = keyring_projects.service_name(config.load(old / "wrangler.toml"))
    new = tmp_path / "new-place"
    old.rename(new)
    os.chdir(new)
    assert secrets.read_all(config.load()) == {}  # a moved checkout starts empty...
    result = cli("secret", "adopt", "--from", str(old))
    assert result.exit_code == 0, result.output
    service = keyring_projects.service_name(config.load())
    assert result.stderr == (
        f"✓ copied 1 secret(s) from {old_service} into {service}: JWT_SECRET\n"
        "the old entries are deleted (nothing is left at the old path)\n"
    )
    assert secrets.read_all(config.load()) == {"JWT_SECRET": VALUE}  # ...until it adopts
    assert not [key for key in memory_keyring.store if key[0] == old_service]
    assert VALUE not in result.output


def test_adopt_from_a_copy_that_still_exists_keeps_its_entries(cli, two_checkouts, memory_keyring):
    a, b = two_checkouts
    secrets.put(load(a), "JWT_SECRET", VALUE)
    secrets.put(load(a), "B", "from-a")
    secrets.put(load(b), "B", "b-own")
    os.chdir(b)
    result = cli("secret", "adopt", "--from", str(a / "wrangler.toml"), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["copied"], data["kept"], data["removed_old"]) == (["JWT_SECRET"], ["B"], False)
    assert secrets.read_all(load(b)) == {"B": "b-own", "JWT_SECRET": VALUE}
    assert secrets.read_all(load(a)) == {"B": "from-a", "JWT_SECRET": VALUE}


def test_adopt_with_nothing_to_adopt_says_what_to_give(cli, tmp_path):
    result = cli("secret", "adopt", "--from", str(tmp_path / "nowhere"))
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: no secrets in the keyring for worktime-backend at {tmp_path / 'nowhere' / 'wrangler.toml'}\n"
    )


# --- the real Secret Service ----------------------------------------------------------------


@pytest.fixture
def secret_service() -> Iterator[None]:
    with real_secret_service(IN_CI):
        yield


@pytest.mark.secret_service
def test_real_secret_service_keeps_checkouts_apart_and_migrates(secret_service, tmp_path: Path):
    import keyring

    name = f"worktime-test-{uuid.uuid4().hex[:8]}"
    roots = [tmp_path / "a", tmp_path / "b"]
    for root in roots:
        root.mkdir()
        (root / "wrangler.toml").write_text(f'name = "{name}"\n')
    legacy = f"worktime:{name}"
    a, b = (load(root) for root in roots)
    touched = [legacy, keyring_projects.service_name(a), keyring_projects.service_name(b)]
    try:
        keyring.set_password(legacy, "OLD", VALUE)
        keyring.set_password(legacy, "worktime.index", '["OLD"]')
        assert secrets.read_all(a) == {"OLD": VALUE}  # copied on first use
        secrets.put(a, "OLD", OTHER)
        assert secrets.read_all(b) == {"OLD": VALUE}  # B copies the shared one, not A's
        assert keyring.get_password(legacy, "OLD") == VALUE  # left in place
        assert keyring.get_password(keyring_projects.service_name(a), "OLD") == OTHER
    finally:
        keyring_store.take_notices()
        for service in touched:
            for user in ("OLD", "worktime.index"):
                if keyring.get_password(service, user) is not None:
                    keyring.delete_password(service, user)
