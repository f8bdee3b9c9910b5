"""Values no process environment can carry are refused where they enter, naming the key.

A NUL byte in a value, or `=` / NUL in a name, cannot go into an environment (`NAME=value` is
one NUL-terminated string): before, `run` and `dev --worker` crashed with "unexpected
ValueError (a bug)". Also: `run` reports a missing or unrunnable command as a shell does.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from worktime_cli.project import config
from worktime_cli.secrets import keyring_projects

CANNOT = "which no process environment can carry"
SECRET = "s3cr3t-Value-9"  # never shown in any message
WORKER_TOML = 'name = "worktime-backend"\nmain = "src/index.ts"\n'


def _worker_project(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A project `dev --worker` gets as far as resolving the environment in."""
    (project / "wrangler.toml").write_text(WORKER_TOML)
    (project / "src").mkdir()
    (project / "src" / "index.ts").write_text("export default {};\n")
    monkeypatch.setenv("WORKTIME_WRANGLER", "/bin/true")


# --- --var --------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [("run",), ("dev",), ("dev", "--worker")])
def test_var_name_with_equals_is_a_usage_error(cli, command: tuple[str, ...]) -> None:
    result = cli(
        *command, "--var", f"A=B:{SECRET}", *(["--", "true"] if command == ("run",) else [])
    )
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: --var: the name holds '=', {CANNOT} (the name ends at the first ':'; "
        "the item is not shown)\n"
        "hint: --var takes KEY:VALUE, split at the first ':'; for example --var API_HOST:localhost\n"
    )


@pytest.mark.parametrize("command", [("run",), ("dev",), ("dev", "--worker")])
def test_var_value_with_nul_is_a_usage_error(cli, command: tuple[str, ...]) -> None:
    extra = ["--", "true"] if command == ("run",) else []
    result = cli(*command, "--var", "OK:x", "--var", f"API_KEY:{SECRET}\x00tail", *extra)
    assert result.exit_code == 2
    assert result.stderr == f"error: --var API_KEY: the value holds a NUL byte, {CANNOT}\n"


# --- .dev.vars -----------------------------------------------------------------------------


@pytest.mark.parametrize("worker", [False, True])
def test_dev_vars_value_with_nul_is_refused_naming_file_line_and_key(
    cli, project: Path, monkeypatch: pytest.MonkeyPatch, worker: bool
) -> None:
    if worker:
        _worker_project(project, monkeypatch)
    (project / ".dev.vars").write_bytes(b"FIRST=1\nJWT_SECRET=" + SECRET.encode() + b"\x00x\n")
    result = cli("dev", "--worker") if worker else cli("run", "--", "true")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {project / '.dev.vars'}:2: JWT_SECRET: the value holds a NUL byte, {CANNOT}\n"
        "hint: a name is letters, digits and _; a value is text without NUL bytes\n"
    )


def test_dev_vars_name_with_equals_is_refused_without_showing_it(cli, project: Path) -> None:
    (project / ".dev.vars").write_text(f"'{SECRET}=x'=v\n")
    result = cli("run", "--", "true")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: {project / '.dev.vars'}:1: the line (not shown): the name holds '=', {CANNOT}\n"
    )
    assert SECRET not in result.stderr


# --- secret put / bulk ---------------------------------------------------------------------


def test_secret_put_with_nul_stores_nothing(cli, memory_keyring) -> None:
    result = cli("secret", "put", "JWT_SECRET", input=f"{SECRET}\x00rest".encode())
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: refusing to store JWT_SECRET: the value holds a NUL byte, {CANNOT}; "
        "nothing was stored\n"
        "hint: a secret value is text; encode binary values (e.g. base64) first\n"
    )
    assert (
        memory_keyring.get_password(keyring_projects.service_name(config.load()), "JWT_SECRET")
        is None
    )
    assert (
        memory_keyring.get_password(keyring_projects.service_name(config.load()), "worktime.index")
        is None
    )


def test_secret_bulk_with_a_nul_stores_nothing(cli, project: Path, memory_keyring) -> None:
    (project / "s.json").write_text(json.dumps({"GOOD": "fine", "BAD": f"{SECRET}\x00"}))
    result = cli("secret", "bulk", "s.json")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: refusing to store BAD: the value holds a NUL byte, {CANNOT}; nothing was stored\n"
    )
    assert memory_keyring.get_password(keyring_projects.service_name(config.load()), "GOOD") is None


# --- values that reach the gate: [vars] and an old keyring entry -------------------------


def test_config_var_with_nul_is_refused_by_run_naming_it(cli, project: Path) -> None:
    (project / "wrangler.toml").write_text(
        'name = "worktime-backend"\n[vars]\nMODE = "a\\u0000b"\n"K=J" = "1"\n'
    )
    result = cli("run", "--", "true")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: cannot hand MODE (from [vars] in the config) to a process: the value holds a "
        f"NUL byte, {CANNOT}\n"
        "hint: change or remove it in the config's [vars]\n"
    )


def test_config_var_name_with_equals_is_refused_by_run(cli, project: Path) -> None:
    (project / "wrangler.toml").write_text('name = "worktime-backend"\n[vars]\n"K=J" = "1"\n')
    result = cli("run", "--", "true")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f'error: cannot hand "K=J" (from [vars] in the config) to a process: the name holds '
        f"'=', {CANNOT}\n"
    )


@pytest.mark.parametrize("worker", [False, True])
def test_a_keyring_value_with_nul_stored_earlier_is_refused(
    cli, project: Path, memory_keyring, monkeypatch: pytest.MonkeyPatch, worker: bool
) -> None:
    if worker:
        _worker_project(project, monkeypatch)
    service = keyring_projects.service_name(config.load())
    memory_keyring.set_password(service, "worktime.index", '["JWT_SECRET"]')
    memory_keyring.set_password(service, "JWT_SECRET", f"{SECRET}\x00")
    result = cli("dev", "--worker") if worker else cli("run", "--", "true")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: cannot hand JWT_SECRET (from the keyring) to a process: the value holds a NUL "
        f"byte, {CANNOT}\n"
        "hint: store it again with `worktime secret put JWT_SECRET`, or delete it\n"
    )


# --- the command itself --------------------------------------------------------------------


def test_run_a_missing_command_exits_127(cli) -> None:
    result = cli("run", "--", "nonexistent-program", "arg")
    assert result.exit_code == 127
    assert result.stderr == (
        "error: cannot run nonexistent-program: command not found\n"
        "hint: check the command name and PATH\n"
    )


def test_run_a_missing_path_exits_127(cli, project: Path) -> None:
    result = cli("run", "--", "./nope.sh")
    assert result.exit_code == 127
    assert result.stderr == "error: cannot run ./nope.sh: no such file\n"


def test_run_a_file_that_is_not_executable_exits_126(cli, project: Path) -> None:
    (project / "script.sh").write_text("echo hi\n")
    result = cli("run", "--", "./script.sh")
    assert result.exit_code == 126
    assert result.stderr == (
        "error: cannot run ./script.sh: not executable\n"
        "hint: make it executable (chmod +x ./script.sh), or run it with its interpreter\n"
    )


def test_run_a_command_on_path_that_is_not_executable_exits_126(
    cli, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = project / "bin"
    folder.mkdir()
    (folder / "mytool").write_text("echo hi\n")
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    result = cli("run", "--", "mytool")
    assert result.exit_code == 126
    assert result.stderr == (
        "error: cannot run mytool: the mytool on PATH is not executable\n"
        "hint: make it executable (chmod +x), or run it with its interpreter\n"
    )


def test_run_a_folder_exits_126(cli, project: Path) -> None:
    (project / "tools").mkdir()
    result = cli("run", "--", "./tools")
    assert result.exit_code == 126
    assert result.stderr == "error: cannot run ./tools: it is a folder\n"


def test_run_a_script_whose_interpreter_is_missing_exits_127(cli, project: Path) -> None:
    script = project / "script.sh"
    script.write_text("#!/nonexistent/interpreter\n")
    script.chmod(0o755)
    result = cli("run", "--", "./script.sh")
    assert result.exit_code == 127
    assert result.stderr == "error: cannot run ./script.sh: No such file or directory\n"


def test_run_still_runs_a_good_command(cli) -> None:
    result = cli(
        "run",
        "--var",
        "A:b",
        "--",
        sys.executable,
        "-c",
        "import os,sys; sys.exit(os.environ['A'] == 'b' and 5)",
    )
    assert result.exit_code == 5
