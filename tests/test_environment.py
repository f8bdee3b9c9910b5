from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import keyring
import pytest
from dotenv import dotenv_values
from keyring.backends import fail

from tests.support.memory_keyring import MemoryKeyring
from worktime_cli.errors import ConfigError, UsageError, WorktimeError
from worktime_cli.project import config
from worktime_cli.secrets import environment


def service(env: str | None = None) -> str:
    """This test's keyring service: keyed by the project's config path (issue 23 item 7)."""
    from worktime_cli.project import config as _config
    from worktime_cli.secrets import keyring_projects as _keyring_projects

    return _keyring_projects.service_name(_config.load(env=env))


TOML = 'name = "worktime-backend"\n'


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")


def store(backend: MemoryKeyring, values: dict[str, str]) -> None:
    import json

    for name, value in values.items():
        backend.store[(service(), name)] = value
    backend.store[(service(), "worktime.index")] = json.dumps(sorted(values))


# Each case: files in the project, keyring contents, --env, --var → expected values and sources.
LAYER_CASES = [
    pytest.param(
        {"wrangler.toml": TOML + '[vars]\nA = "vars"\nB = "vars"\nC = "vars"\nD = "vars"\n'},
        {},
        None,
        {},
        {
            "A": ("vars", "vars"),
            "B": ("vars", "vars"),
            "C": ("vars", "vars"),
            "D": ("vars", "vars"),
        },
        id="vars-only",
    ),
    pytest.param(
        {
            "wrangler.toml": TOML + '[vars]\nA = "vars"\nB = "vars"\nC = "vars"\nD = "vars"\n',
            ".dev.vars": "C=dev\nD=dev\n",
        },
        {"B": "kr", "C": "kr", "D": "kr"},
        None,
        {"D": "cli"},
        {
            "A": ("vars", "vars"),
            "B": ("kr", "keyring"),
            "C": ("dev", ".dev.vars"),
            "D": ("cli", "--var"),
        },
        id="all-four-layers",
    ),
    pytest.param(
        {".dev.vars": "A=dev\nB=dev\n", ".dev.vars.staging": "A=staging\n"},
        {},
        "staging",
        {},
        {"A": ("staging", ".dev.vars.staging")},  # one file, not merged with .dev.vars
        id="env-file-replaces-dev-vars",
    ),
    pytest.param(
        {".dev.vars": "A=dev\n"},
        {},
        "staging",
        {},
        {"A": ("dev", ".dev.vars")},
        id="env-falls-back-to-dev-vars",
    ),
    pytest.param(
        {".env": "A=env\nB=env\nC=env\n", ".env.local": "B=local\n", ".env.staging": "C=staging\n"},
        {"A": "kr"},
        None,
        {},
        {"A": ("env", ".env"), "B": ("local", ".env.local"), "C": ("env", ".env")},
        id="dot-env-fallback",
    ),
    pytest.param(
        {
            ".env": "A=env\nB=env\nC=env\nD=env\n",
            ".env.local": "B=local\nC=local\nD=local\n",
            ".env.staging": "C=staging\nD=staging\n",
            ".env.staging.local": "D=staging-local\n",
        },
        {},
        "staging",
        {},
        {
            "A": ("env", ".env"),
            "B": ("local", ".env.local"),
            "C": ("staging", ".env.staging"),
            "D": ("staging-local", ".env.staging.local"),
        },
        id="dot-env-fallback-with-env",
    ),
    pytest.param(
        {".dev.vars": "A=dev\n", ".env": "A=env\nB=env\n"},
        {},
        None,
        {},
        {"A": ("dev", ".dev.vars")},  # .env is only a fallback
        id="dev-vars-wins-over-dot-env",
    ),
    pytest.param(
        {
            "wrangler.toml": TOML
            + '[vars]\nA = "top"\nB = "top"\n[env.staging.vars]\nA = "staging"\n'
        },
        {},
        "staging",
        {},
        {"A": ("staging", "vars")},  # vars are not inherited by an environment, as wrangler
        id="env-vars-not-inherited",
    ),
]


@pytest.mark.parametrize(("files", "stored", "env", "cli_vars", "expected"), LAYER_CASES)
def test_layers(project, memory_keyring, files, stored, env, cli_vars, expected):
    write(project, files)
    store(memory_keyring, stored)
    resolved = environment.resolve(config.load(), env=env, cli_vars=cli_vars)
    assert {n: (resolved.values[n], resolved.sources[n]) for n in resolved.values} == expected
    assert resolved.keyring_error is None


def test_layers_records_every_definition(project, memory_keyring):
    write(project, {"wrangler.toml": TOML + '[vars]\nA = "v"\n', ".dev.vars": "A=d\n"})
    store(memory_keyring, {"A": "k"})
    resolved = environment.resolve(config.load(), cli_vars={"A": "c"})
    assert resolved.layers == {"A": ("vars", "keyring", ".dev.vars", "--var")}
    assert resolved.files == (project / ".dev.vars",)


def test_json_vars_are_serialised(project):
    write(
        project,
        {"wrangler.toml": TOML + '[vars]\nN = 3\nB = true\nO = { url = "x", ids = [1, 2] }\n'},
    )
    values = environment.resolve(config.load(), keyring=False).values
    assert values == {"N": "3", "B": "true", "O": '{"url":"x","ids":[1,2]}'}


def test_interpolation_is_off(project):
    text = "A=${B}\nB=b\nC=\"x${B}y\"\nD='$HOME'\nE=p@ss${word}\n"
    write(project, {".dev.vars": text})
    values = environment.resolve(config.load(), keyring=False).values
    assert values == {"A": "${B}", "B": "b", "C": "x${B}y", "D": "$HOME", "E": "p@ss${word}"}
    assert values == dotenv_values(project / ".dev.vars", interpolate=False)


@pytest.mark.parametrize(
    ("text", "location"),
    [
        ("A=1\nthis is not a line\n", ":2"),
        ("A=1\n\n\nB='unterminated\n", ":4"),  # blank lines before it still count
        ('X="secret value\n', ":1"),
    ],
)
def test_malformed_line_is_an_error_naming_file_and_line(project, text, location):
    write(project, {".dev.vars": text})
    with pytest.raises(ConfigError) as info:
        environment.resolve(config.load(), keyring=False)
    assert info.value.message == f"{project / '.dev.vars'}{location}: cannot parse this line"
    assert "secret value" not in info.value.message


def test_bare_key_is_an_error(project):
    write(project, {".dev.vars": "A=1\nB\n"})
    with pytest.raises(ConfigError) as info:
        environment.resolve(config.load(), keyring=False)
    assert info.value.message == f"{project / '.dev.vars'}:2: a line without '='"


def test_required_from_wrangler_toml(project, memory_keyring):
    write(
        project,
        {
            "wrangler.toml": TOML + '[secrets]\nrequired = ["JWT_SECRET", "GITHUB_CLIENT_ID"]\n',
            ".dev.vars.example": "IGNORED=x\n",
            ".dev.vars": "GITHUB_CLIENT_ID=abc\n",
        },
    )
    resolved = environment.resolve(config.load())
    assert resolved.required == ("JWT_SECRET", "GITHUB_CLIENT_ID")
    assert resolved.required_from == "wrangler.toml"
    assert resolved.missing == ("JWT_SECRET",)
    store(memory_keyring, {"JWT_SECRET": "k"})
    assert environment.resolve(config.load()).missing == ()


def test_required_from_dev_vars_example(project):
    example = Path(__file__).resolve().parent.parent / ".dev.vars.example"
    write(project, {".dev.vars.example": example.read_text(encoding="utf-8")})
    resolved = environment.resolve(config.load(), keyring=False)
    assert resolved.required == ("JWT_SECRET", "GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET")
    assert resolved.required_from == ".dev.vars.example"
    assert resolved.missing == resolved.required
    assert resolved.values == {}  # the example's placeholders are never values


def test_nothing_required(project):
    resolved = environment.resolve(config.load(), keyring=False)
    assert (resolved.required, resolved.missing, resolved.required_from) == ((), (), None)


def test_required_must_be_a_list_of_names(project):
    write(project, {"wrangler.toml": TOML + '[secrets]\nrequired = "JWT_SECRET"\n'})
    with pytest.raises(ConfigError, match=r"secrets\.required must be a list of names"):
        environment.resolve(config.load(), keyring=False)


def test_unusable_keyring_still_resolves_the_other_layers(project):
    keyring.set_keyring(fail.Keyring())
    write(project, {".dev.vars": "A=1\n"})
    resolved = environment.resolve(config.load())
    assert resolved.values == {"A": "1"}
    assert (
        resolved.keyring_error
        == "no usable OS keyring (keyring chose keyring.backends.fail.Keyring)"
    )


def test_dot_env_fallback_can_be_turned_off(project, monkeypatch):
    monkeypatch.setenv("CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV", "false")
    write(project, {".env": "A=1\n"})
    assert environment.resolve(config.load(), keyring=False).values == {}


def test_repr_never_shows_values(project):
    write(project, {".dev.vars": "A=hunter2\n"})
    resolved = environment.resolve(config.load(), keyring=False)
    assert "hunter2" not in repr(resolved)


def test_parse_cli_vars():
    assert environment.parse_cli_vars(["A:1", "URL:http://x:8787", "E:"]) == {
        "A": "1",
        "URL": "http://x:8787",
        "E": "",
    }
    with pytest.raises(UsageError, match=r"^--var: expected KEY:VALUE$"):
        environment.parse_cli_vars(["A"])
    with pytest.raises(UsageError, match=r"^--var: expected KEY:VALUE$"):
        environment.parse_cli_vars([":secret"])
    with pytest.raises(UsageError, match=r"^--var #2: expected KEY:VALUE$"):
        environment.parse_cli_vars(["A:1", "oops"])


def test_a_var_without_a_colon_never_echoes_the_value():
    """`--var VALUE` (the name forgotten) is refused without repeating VALUE (issue 10)."""
    for given in (["mysecretvalue"], ["A:1", "mysecretvalue"], ["bXlzZWNyZXR2YWx1ZQ=="]):
        with pytest.raises(UsageError) as err:
            environment.parse_cli_vars(given)
        assert err.value.exit_code == 2
        shown = str(err.value) + (err.value.hint or "")
        assert "mysecretvalue" not in shown and "bXlzZWNyZXR2YWx1ZQ" not in shown


def test_keyring_free_resolution_does_not_import_keyring(project):
    write(project, {".dev.vars": "A=1\n"})
    code = (
        "import sys\n"
        "from worktime_cli.project import config\n"
        "from worktime_cli.secrets import environment\n"
        "env = environment.resolve(config.load(), keyring=False)\n"
        "print(env.values, 'keyring' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "{'A': '1'} False\n"


def test_a_var_typed_with_equals_never_echoes_its_value():
    from worktime_cli.secrets.environment import parse_cli_vars

    with pytest.raises(WorktimeError) as err:
        parse_cli_vars(["JWT_SECRET=s3cr3t-value"])
    assert err.value.message == "--var: expected KEY:VALUE"
    assert err.value.hint == (
        "separate the name and value with ':', not '=': "
        "for example --var API_HOST:localhost (the value given is not shown)"
    )
    assert "s3cr3t" not in str(err.value) + (err.value.hint or "")


def test_an_env_that_nothing_defines_warns(project):
    # config.load refuses such an env (exit 2); resolve still warns when handed one.
    resolved = environment.resolve(config.load(), env="stagign", keyring=False)
    assert resolved.warnings == (
        "no environment 'stagign': wrangler.toml has no [env.stagign] and there is no "
        ".dev.vars.stagign or .env.stagign file; using the top-level settings",
    )


@pytest.mark.parametrize(
    "files",
    [
        {".dev.vars.staging": "A=1\n"},
        {".env.staging": "A=1\n"},
        {"wrangler.toml": TOML + "[env.staging]\n"},
    ],
)
def test_an_env_defined_anywhere_does_not_warn(project, files):
    write(project, files)
    cfg = config.load()
    assert environment.resolve(cfg, env="staging", keyring=False).warnings == ()
    assert environment.resolve(cfg, keyring=False).warnings == ()


def test_env_vars_come_from_the_selected_section(project):
    write(
        project,
        {"wrangler.toml": TOML + '[vars]\nA = "top"\n[env.prod.vars]\nB = "prod"\n'},
    )
    assert environment.resolve(config.load(env="prod"), env="prod", keyring=False).values == {
        "B": "prod"
    }
    # A config loaded for the top level still answers for an env asked for explicitly, and a
    # config loaded for an env answers for it by default.
    assert environment.resolve(config.load(), env="prod", keyring=False).values == {"B": "prod"}
    assert environment.resolve(config.load(env="prod"), keyring=False).values == {"B": "prod"}
    assert environment.resolve(config.load(), keyring=False).values == {"A": "top"}


def test_dotenv_helpers_live_in_devvars_and_stay_importable_from_environment():
    from worktime_cli.project import devvars

    assert environment.parse_dotenv is devvars.parse_dotenv
    assert environment.dotenv_files is devvars.dotenv_files
    assert environment.DEV_VARS == devvars.DEV_VARS == ".dev.vars"


@pytest.mark.parametrize(
    "env", ["../../../etc", "a/b", "a\\b", "st\udcffg", "x\nerror: forged", "", ".."]
)
def test_env_names_that_would_leave_the_project_or_forge_lines_are_refused(project, env):
    """`--env ../../x` read `.dev.vars.../../x`, outside the project (issue 13)."""
    with pytest.raises(UsageError, match="is not a usable environment name") as info:
        environment.resolve(config.load(), env=env)
    assert "\n" not in info.value.message


def test_env_names_with_dots_and_dashes_are_fine(project):
    assert environment.resolve(config.load(), env="prod-eu.1").warnings
