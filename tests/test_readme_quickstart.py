"""The README's quick start, followed literally, ends with `worktime doctor` green (issue 23).

The commands are read from the README itself, so the test and the page cannot drift: the
install-and-run line (without its `pip install`, which the test's own environment did, and
without the long-running `worktime dev`, which test_newcomer_path.py covers), then the
first-hour block up to `worktime doctor` (the optional `npm install` line is the real Worker's,
tested in test_worker_scaffold.py). It needs an OS keyring, as a newcomer's machine has.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI, REPO
from tests.support.keyring_backends import real_secret_service


def _blocks(readme: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", readme, flags=re.DOTALL)


def _quick_start() -> tuple[list[str], list[str]]:
    """The init step of the install-and-run line, and the first-hour lines before npm's."""
    blocks = _blocks((REPO / "README.md").read_text(encoding="utf-8"))
    run = blocks[0].strip().split(" && ")
    assert run[:3] == ["python3 -m venv .venv", ". .venv/bin/activate", "pip install ."], run
    assert run[-2:] == ["cd backend", "worktime dev"], run
    first_hour = next(b for b in blocks if "worktime doctor" in b)
    lines = [line.split("#")[0].strip() for line in first_hour.strip().splitlines()]
    before_npm = lines[: next(i for i, line in enumerate(lines) if line.startswith("npm"))]
    return run[3:-2], before_npm


def test_the_quick_start_is_read_from_the_readme() -> None:
    init, first_hour = _quick_start()
    assert init == ["worktime init backend --yes"]
    assert first_hour[-1] == "worktime doctor"


@pytest.mark.secret_service
def test_the_quick_start_followed_literally_ends_with_doctor_green(tmp_path: Path) -> None:
    with real_secret_service(IN_CI):
        init, first_hour = _quick_start()
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }
        for line in init:
            done = subprocess.run(
                ["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True
            )
            assert done.returncode == 0, done.stderr
        backend = tmp_path / "backend"
        for line in first_hour:
            done = subprocess.run(
                ["bash", "-c", line], cwd=backend, env=env, capture_output=True, text=True
            )
            assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        assert done.stderr.endswith("✓ all checks passed\n"), done.stderr
        assert "✗" not in done.stdout, done.stdout
