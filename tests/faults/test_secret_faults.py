"""Issue 13, part 4: no plaintext keyring by accident, and no secret value in any message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordSetError

from tests.support.keyring_backends import PlaintextFileKeyring
from tests.support.memory_keyring import MemoryKeyring
from worktime_cli.dev import doctor
from worktime_cli.errors import SecretStoreError
from worktime_cli.project import config
from worktime_cli.secrets import environment, keyring_store, scrub
from worktime_cli.secrets import stores as secrets

SECRET = "sk_live_TOP\\slash\"q'é\x1b\n-9f8e7d6c"
PLAINTEXT = "tests.support.keyring_backends.PlaintextFileKeyring"
NOT_RECOMMENDED = "keyring rates it not recommended (priority 0.5)"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _forget_remembered_values():
    yield
    scrub.forget_all()


@pytest.fixture
def plaintext(tmp_path: Path) -> PlaintextFileKeyring:
    """A plaintext file backend (the tests' own), as keyring picks one with no Secret Service."""
    backend = PlaintextFileKeyring(str(tmp_path / "keyring_pass.json"))
    keyring.set_keyring(backend)
    return backend


class LowPriorityKeyring(MemoryKeyring):
    """Rated below keyring's "recommended" priority of 1."""

    priority = 0.4


def test_plaintext_backend_chosen_by_keyring_is_refused(plaintext: PlaintextFileKeyring):
    with pytest.raises(SecretStoreError) as info:
        secrets.put(config.load(), "JWT_SECRET", "value-1234")
    assert info.value.message == (
        f"keyring picked {PLAINTEXT}, which is not safe for secrets: {NOT_RECOMMENDED}"
    )
    assert f"PYTHON_KEYRING_BACKEND={PLAINTEXT}" in (info.value.hint or "")
    assert not Path(plaintext.file_path).exists()  # nothing written in the clear


def test_keyrings_alt_backends_are_refused_by_name():
    """keyrings.alt's file backends are refused whatever priority they claim (judged by the
    module keyring reports, as PYTHON_KEYRING_BACKEND spells it); a stand-in with its name."""

    class PlaintextKeyring(MemoryKeyring):
        __module__ = "keyrings.alt.file"
        __qualname__ = "PlaintextKeyring"
        priority = 1.5

    judged = keyring_store.assess(PlaintextKeyring())
    assert (judged.path, judged.secure, judged.reason) == (
        "keyrings.alt.file.PlaintextKeyring",
        False,
        "it keeps values unencrypted in a file",
    )


def test_low_priority_backend_is_refused():
    keyring.set_keyring(LowPriorityKeyring())
    with pytest.raises(SecretStoreError, match=r"not recommended \(priority 0.4\)"):
        secrets.names(config.load())


def test_plaintext_backend_named_explicitly_works_and_warns_once(
    plaintext: PlaintextFileKeyring, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", PLAINTEXT)
    cfg = config.load()
    first = secrets.KeyringSecrets(cfg).put("JWT_SECRET", "value-1234")
    assert first.warnings == (
        f"secret values are stored unencrypted: PYTHON_KEYRING_BACKEND chose {PLAINTEXT}, "
        f"and {NOT_RECOMMENDED}",
    )
    second = secrets.KeyringSecrets(cfg).put("OTHER", "value-5678")
    assert second.warnings == ()
    assert secrets.read_all(cfg) == {"JWT_SECRET": "value-1234", "OTHER": "value-5678"}
    assert keyring_store.take_notices() == ()


def test_environment_reports_the_refusal_and_keeps_other_layers(plaintext, project: Path):
    (project / ".dev.vars").write_text("A=1\n")
    resolved = environment.resolve(config.load())
    assert resolved.values == {"A": "1"}
    assert resolved.keyring_error is not None
    assert PLAINTEXT in resolved.keyring_error


def test_cli_secret_put_refuses_plaintext(cli, plaintext):
    result = cli("secret", "put", "JWT_SECRET", input="value-1234")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: keyring picked {PLAINTEXT}, which is not safe")
    assert "stored" not in result.stderr


def test_cli_explicit_plaintext_warns_once(cli, plaintext, monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", PLAINTEXT)
    result = cli("secret", "put", "JWT_SECRET", input="value-1234")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("stored unencrypted") == 1


def _fresh_process_env(home: Path, tmp_path: Path) -> dict[str, str]:
    # What a user's shell gives `worktime`: no PYTHONPATH, no test fixture, no Secret Service.
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path / 'no-bus'}",
        "NO_COLOR": "1",
    }


# A plaintext backend installed as a package would be: a module and a dist-info that registers
# it under keyring's entry point group. Written to a private folder that only the one
# subprocess below has on its path.
_PLUGIN = """
import json, os
from keyring.backend import KeyringBackend

class PlaintextFileKeyring(KeyringBackend):
    priority = 0.5
    path = os.path.join(os.environ["HOME"], "keyring_pass.json")

    def get_password(self, service, username):
        return None

    def set_password(self, service, username, password):
        with open(self.path, "a") as handle:
            handle.write(json.dumps([service, username, password]))

    def delete_password(self, service, username):
        pass
"""


def test_a_plaintext_backend_keyring_finds_by_itself_is_refused_in_a_real_process(
    tmp_path: Path, project: Path
):
    """The reported case: no Secret Service reachable, keyring falls back to a plaintext file."""
    site = tmp_path / "private-site"
    dist = site / "worktime_test_plaintext-1.0.dist-info"
    dist.mkdir(parents=True)
    (site / "worktime_test_plaintext.py").write_text(_PLUGIN)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: worktime-test-plaintext\n")
    (dist / "entry_points.txt").write_text(
        "[keyring.backends]\nplaintext = worktime_test_plaintext\n"
    )
    home = tmp_path / "user-home"
    home.mkdir()
    out = subprocess.run(
        [sys.executable, "-m", "worktime_cli", "secret", "put", "JWT_SECRET"],
        input=b"value-1234",
        env={**_fresh_process_env(home, tmp_path), "PYTHONPATH": str(site)},
        cwd=project,
        capture_output=True,
        timeout=60,
        check=False,
    )
    stderr = out.stderr.decode()
    assert out.returncode == 1, stderr
    assert stderr.startswith(
        "error: keyring picked worktime_test_plaintext.PlaintextFileKeyring"
    ), stderr
    assert not (home / "keyring_pass.json").exists()


_DISCOVER = """
from importlib import metadata
import keyring.backend

for ep in metadata.entry_points(group="keyring.backends"):
    print("entry point", ep.name, ep.value)
for backend in keyring.backend.get_all_keyring():
    print("backend", type(backend).__module__ + "." + type(backend).__qualname__)
"""


def test_keyrings_own_discovery_in_a_fresh_process_sees_no_test_only_backend(tmp_path: Path):
    """What a user's `worktime secret put` does: keyring discovers backends by itself. With the
    test extra installed (as it is here), it must find none of the tests' backends, nor
    keyrings.alt (issue 23 item 8)."""
    home = tmp_path / "user-home"
    home.mkdir()
    out = subprocess.run(
        [sys.executable, "-c", _DISCOVER],
        env=_fresh_process_env(home, tmp_path),
        cwd=tmp_path,  # not the repository: `tests` is not importable from here
        capture_output=True,
        timeout=60,
        check=True,
    )
    found = out.stdout.decode().splitlines()
    test_only = [
        line
        for line in found
        if "keyrings.alt" in line or " tests." in line or "keyring_backends" in line
    ]
    assert test_only == [], found
    # And the test extra itself names no keyring backend package.
    import tomllib

    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert not [req for req in extra["test"] if req.lower().startswith("keyrings")]


def test_doctor_names_the_backend(project: Path):
    checks = {c.name: c for c in doctor.run(project / "wrangler.toml", port=1).checks}
    assert checks["keyring"].status == "ok"
    assert checks["keyring"].message == (
        "OS keyring usable (tests.support.memory_keyring.MemoryKeyring)"
    )


def test_doctor_warns_about_an_explicit_plaintext_backend(project, plaintext, monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", PLAINTEXT)
    checks = {c.name: c for c in doctor.run(project / "wrangler.toml", port=1).checks}
    assert checks["keyring"].status == "warn"
    assert "stored unencrypted" in checks["keyring"].message
    assert PLAINTEXT in checks["keyring"].message


def test_doctor_reports_a_refused_backend(project, plaintext):
    checks = {c.name: c for c in doctor.run(project / "wrangler.toml", port=1).checks}
    assert checks["keyring"].status in ("warn", "fail")
    assert PLAINTEXT in checks["keyring"].message


# --- scrubbing every form of a value -----------------------------------------------------


def _forms_of(value: str) -> dict[str, str]:
    import json
    from urllib.parse import quote

    return {
        "raw": value,
        "repr": repr(value),
        "json": json.dumps(value),
        "json-unicode": json.dumps(value, ensure_ascii=False),
        "bytes": repr(value.encode()),
        "percent": quote(value, safe=""),
        "unicode_escape": value.encode("unicode_escape").decode(),
    }


class QuotingKeyring(MemoryKeyring):
    """A careless backend: its error quotes the value in the form `form`."""

    def __init__(self, form: str) -> None:
        super().__init__()
        self.form = form

    def set_password(self, service: str, username: str, password: str) -> None:
        raise PasswordSetError(f"cannot store {_forms_of(password)[self.form]} for {username}")


@pytest.mark.parametrize("form", sorted(_forms_of("x")))
def test_backend_error_never_repeats_the_value_in_any_form(form: str):
    keyring.set_keyring(QuotingKeyring(form))
    with pytest.raises(SecretStoreError) as info:
        secrets.put(config.load(), "API_KEY", SECRET)
    message = info.value.message
    assert message.startswith("the OS keyring failed to store API_KEY: PasswordSetError: cannot")
    for spelling in _forms_of(SECRET.strip()).values():
        assert spelling not in message
    for fragment in ("TOP", "9f8e7d6c", "slash"):
        assert fragment not in message, message


@pytest.mark.parametrize("form", sorted(_forms_of("x")))
def test_scrub_removes_every_form(form: str):
    text = f"before {_forms_of(SECRET)[form]} after"
    cleaned = scrub.scrub(text, [SECRET])
    assert cleaned == "before *** after" or (
        # repr/json keep their quotes around the mask
        cleaned.startswith("before ") and cleaned.endswith(" after") and "TOP" not in cleaned
    )


def test_scrub_short_values_only_as_whole_words():
    assert scrub.scrub("cannot store abc for a", ["a"]) == "cannot store abc for ***"


def test_remembered_values_are_cleaned_from_later_messages(memory_keyring):
    cfg = config.load()
    secrets.put(cfg, "TOKEN", "ghp_abcdefghijklmnopqrstuvwx")
    assert scrub.clean("oops 'ghp_abcdefghijklmnopqrstuvwx'") == "oops '***'"


def test_describe_shows_shape_not_strings():
    shown = scrub.describe({"key": 1, "value": "ghp_abcdefghijklmnopqrstuvwx", "n": [True, None]})
    assert shown == '{"key": 1, "value": <string, 28 chars>, "n": [true, null]}'
    assert "ghp_" not in shown


@pytest.mark.parametrize(
    ("word", "secret"),
    [
        ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", True),
        ("ghp_16C7e42F292c6912E7710c838347Ae178B4a", True),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", True),
        ("Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA==", True),
        ("JWT_SECRET", False),
        ("8261cfe8323dd703d3e553434db498fec63d9a7e", False),  # a hex id
        ("/tmp/pytest-of-root/test_Bad_input0/inputs/a-folder", False),
        ("Jq7dK2mX9pLwR4tZ8vN3bY6c", True),
        ("localhost", False),
        ("wrangler.toml", False),
    ],
)
def test_looks_secret(word: str, secret: bool):
    assert scrub.looks_secret(word) is secret


def test_var_without_colon_is_not_echoed(cli):
    result = cli("dev", "--var", "sk_live_4eC39HqLyjWDarjtT1zdp7dc")
    assert result.exit_code == 2
    assert "4eC39" not in result.output
    assert result.stderr.startswith("error: --var: expected KEY:VALUE")


def test_secret_put_extra_argument_is_not_echoed(cli, memory_keyring):
    result = cli("secret", "put", "API_KEY", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", input="x")
    assert result.exit_code == 2
    assert "4eC39" not in result.output
    assert memory_keyring.store == {}


def test_a_backend_without_priority_is_not_trusted():
    class Unrated(KeyringBackend):
        @property
        def priority(self) -> float:
            raise RuntimeError("not on this system")

        def get_password(self, service: str, username: str) -> str | None:
            return None

        def set_password(self, service: str, username: str, password: str) -> None:
            pass

        def delete_password(self, service: str, username: str) -> None:
            pass

    assert keyring_store.assess(Unrated()).secure is False


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "Got unexpected extra argument (sk_live_4eC39HqLyjWDarjtT1zdp7dc)",
            "Got unexpected extra argument (***)",
        ),
        (
            "No such option: --ghp_16C7e42F292c6912E7710c838347Ae178B4a",
            "No such option: ***",
        ),
        (
            "Invalid value for '--port' / '-p': 'eighty' is not a valid int range.",
            "Invalid value for '--port' / '-p': 'eighty' is not a valid int range.",
        ),
        (
            "Invalid value for '--config': File '/tmp/pytest-7/Inputs2/a-folder' is a directory.",
            "Invalid value for '--config': File '/tmp/pytest-7/Inputs2/a-folder' is a directory.",
        ),
    ],
)
def test_usage_messages_mask_secret_looking_words(message: str, expected: str):
    assert scrub.usage_message(message) == expected


@pytest.mark.parametrize(
    ("name", "refused"),
    [
        ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", True),
        ("Jq7dK2mX9pLwR4tZ8vN3bY6c", True),
        ("GithubClientId2024Prod", False),
        ("STRIPE_KEY_2024_PROD_EU", False),
    ],
)
def test_secret_names_that_are_values(cli, memory_keyring, name: str, refused: bool):
    result = cli("secret", "put", name, input="value-1234")
    if refused:
        assert result.exit_code == 1
        assert name not in result.output
        assert memory_keyring.store == {}
    else:
        assert result.exit_code == 0, result.stderr
