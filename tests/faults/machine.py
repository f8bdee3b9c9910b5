"""Real machine faults for the fault suite: a private tmpfs (disk full, read-only), another uid.

CI runs as root on Debian, where `unshare -m` gives a private mount namespace (a tmpfs
mounted there vanishes with the process, and nothing outside sees it) and `setpriv` runs a
command as another user. Locally without root these tests skip with the reason; under
CI=true they fail instead, so the suite cannot silently stop testing anything.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import IN_CI, require_tool

# Peak RSS of the process itself: VmHWM starts afresh at exec, whereas ru_maxrss keeps the
# forking parent's (pytest's) resident size.
PEAK_RSS = (
    "def peak_rss_kib():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            return int(line.split()[1])\n"
)

WORKTIME = f"{shlex.quote(sys.executable)} -m worktime_cli"


def require_root(why: str) -> None:
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail(f"root is required under CI=true ({why})")
        pytest.skip(f"needs root ({why})")


def in_private_mounts(
    script: str, *, cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a `sh -eu` script in a private mount namespace (it may mount tmpfs freely)."""
    require_root("mount a tmpfs in a private mount namespace")
    unshare = require_tool("unshare", "a private mount namespace for a small tmpfs")
    return subprocess.run(
        [unshare, "-m", "--propagation", "private", "sh", "-euc", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


def as_other_user(argv: list[str], *, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """Run `argv` as `nobody` (a uid that owns nothing here)."""
    require_root("switch to another uid")
    setpriv = require_tool("setpriv", "run a command as a second uid")
    repo = Path(__file__).resolve().parents[2]
    # The second uid must reach this interpreter and the repository; a checkout or Python
    # under a root-only folder (0700 /root, a mktemp parent) does not allow that, and no test
    # should loosen the machine's permissions to get there.
    probe = subprocess.run(
        [
            setpriv,
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            sys.executable,
            "-c",
            f"import os; os.listdir({str(repo)!r})",
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(
            "uid 65534 cannot run this Python or read the repository here (a root-only parent "
            "folder); clone and install under a folder every uid can enter to run this test"
        )
    return subprocess.run(
        [setpriv, "--reuid", "65534", "--regid", "65534", "--clear-groups", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "HOME": str(home),
            "PYTHONDONTWRITEBYTECODE": "1",
            # The repository, importable by any uid (the editable install's hook may not be).
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        },
    )


def open_folder() -> Path:
    """A folder every uid can enter (pytest's tmp_path is root-only)."""
    folder = Path(tempfile.mkdtemp(prefix="worktime-faults-"))
    folder.chmod(0o755)
    return folder


def error_lines(stderr: str) -> list[str]:
    """The lines of a failure: `error: …` and maybe `hint: …`, nothing else."""
    return [line for line in stderr.splitlines() if line.strip()]


def assert_clean_failure(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    """exit 1, `error: …` naming every needle, at most a hint after it, no traceback or bug."""
    lines = error_lines(result.stderr)
    assert result.returncode == 1, result.stderr
    assert lines and lines[0].startswith("error: "), result.stderr
    assert all(line.startswith(("error: ", "hint: ")) for line in lines), result.stderr
    assert "Traceback" not in result.stderr and "a bug in worktime" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr
