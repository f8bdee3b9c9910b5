"""`worktime run -- CMD`: the resolved environment in a child's process environment only.

Also home of `HexFileKeyring`, the keyring the subprocess tests share between one worktime
process (`secret put`) and the next (`run`, `dev --worker`): the in-memory test keyring does
not cross processes, and the real Secret Service is not on every machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

REPO = Path(__file__).resolve().parent.parent.parent
KEYRING_DIR_VARIABLE = "WORKTIME_TEST_KEYRING_DIR"
VALUE = "run-Zq9-${HOME}-s3cret"


class HexFileKeyring(KeyringBackend):
    """A keyring in one JSON file under $WORKTIME_TEST_KEYRING_DIR, values hex-encoded.

    Hex, so a test that searches every file for a secret's raw bytes finds none here either.
    """

    priority = 1.0

    def _path(self) -> Path:
        return Path(os.environ[KEYRING_DIR_VARIABLE]) / "keyring.json"

    def _load(self) -> dict[str, str]:
        try:
            return dict(json.loads(self._path().read_text()))
        except FileNotFoundError:
            return {}

    def _save(self, data: dict[str, str]) -> None:
        tmp = self._path().with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self._path())

    def get_password(self, service: str, username: str) -> str | None:
        found = self._load().get(f"{service}\n{username}")
        return None if found is None else bytes.fromhex(found).decode()

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}\n{username}"] = password.encode().hex()
        self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(f"{service}\n{username}", None) is None:
            raise PasswordDeleteError(username)
        self._save(data)


def shared_keyring_env(home: Path) -> dict[str, str]:
    """Environment for a worktime subprocess that uses the shared `HexFileKeyring`."""
    folder = home / "test-keyring"
    folder.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "PYTHON_KEYRING_BACKEND": f"{__name__}.HexFileKeyring",
        KEYRING_DIR_VARIABLE: str(folder),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }


def worktime(
    root: Path, env: dict[str, str], *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worktime_cli", *args],
        cwd=root,
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# The child prints names and a hash, never a value.
REPORT = """\
import hashlib, json, os, sys
print(json.dumps({
    "names": sorted(n for n in ("JWT_SECRET", "ENVIRONMENT", "EXTRA", "HOME") if n in os.environ),
    "jwt": hashlib.sha256(os.environ.get("JWT_SECRET", "").encode()).hexdigest(),
    "environment": os.environ.get("ENVIRONMENT"),
    "extra_is_cli": os.environ.get("EXTRA") == "from-cli",
    "argv": sys.argv[1:],
}))
sys.exit(int(sys.argv[1]))
"""


def test_run_hands_the_resolved_environment_and_the_exit_code(project, tmp_path):
    (project / "wrangler.toml").write_text(
        'name = "worktime-backend"\n\n[vars]\nENVIRONMENT = "development"\n'
    )
    (project / ".dev.vars").write_text("ENVIRONMENT=local\nEXTRA=from-file\n")
    env = shared_keyring_env(tmp_path / "home")
    put = worktime(project, env, "secret", "put", "JWT_SECRET", input=VALUE + "\n")
    assert put.returncode == 0, put.stderr
    ran = worktime(
        project,
        env,
        "run",
        "--var",
        "EXTRA:from-cli",
        "--",
        sys.executable,
        "-c",
        REPORT,
        "5",
        "--json",  # the child's own option, not ours
    )
    assert ran.returncode == 5, ran.stderr
    assert json.loads(ran.stdout) == {
        "names": ["ENVIRONMENT", "EXTRA", "HOME", "JWT_SECRET"],
        "jwt": hashlib.sha256(VALUE.encode()).hexdigest(),
        "environment": "local",  # .dev.vars over [vars]
        "extra_is_cli": True,  # --var over .dev.vars
        "argv": ["5", "--json"],
    }
    assert ran.stderr == ""
    assert VALUE not in put.stdout + put.stderr + ran.stdout + ran.stderr


def test_run_without_double_dash_keeps_the_commands_options(project):
    ran = subprocess.run(
        [sys.executable, "-m", "worktime_cli", "run", sys.executable, "-c", REPORT, "0", "--env"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["argv"] == ["0", "--env"]


def test_run_unknown_command(cli):
    result = cli("run", "--", "no-such-command-xyz", "arg")
    assert result.exit_code == 127  # as a shell
    assert result.stderr == (
        "error: cannot run no-such-command-xyz: command not found\n"
        "hint: check the command name and PATH\n"
    )


def test_run_needs_a_command(cli):
    result = cli("run")
    assert result.exit_code == 2


def test_run_exit_code_in_process(cli):
    result = cli("run", "--", sys.executable, "-c", "import sys; sys.exit(4)")
    assert result.exit_code == 4


def test_run_help_explains_wrangler_and_the_keyring(cli):
    result = cli("run", "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "Run a command with the project's resolved environment" in text
    assert "A plain `wrangler dev` never reads the keyring" in text
    assert "worktime dev --worker" in text
    assert "Example:" in result.stdout


def test_ctrl_c_reaches_the_command_once_and_its_exit_code_is_ours(project, tmp_path):
    """A terminal's Ctrl+C signals the whole foreground group: worktime waits, the child decides."""
    import signal
    import time

    child = (
        "import signal, sys, time\n"
        "hits = []\n"
        "signal.signal(signal.SIGINT, lambda *_: hits.append(1))\n"
        "open('ready', 'w').close()\n"
        "deadline = time.monotonic() + 30\n"
        "while not hits and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
        "time.sleep(0.3)  # a second SIGINT, if one came, lands meanwhile\n"
        "sys.exit(10 + len(hits))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "worktime_cli", "run", "--", sys.executable, "-c", child],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group, as a terminal's foreground job
    )
    try:
        deadline = time.monotonic() + 30
        while not (project / "ready").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "child never started"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert (proc.returncode, out, err) == (11, "", "")
