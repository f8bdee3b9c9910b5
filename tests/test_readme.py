"""The README keeps its promises: CI runs its test command, its links lead somewhere, and
every exit code in its table is one a real worktime process returns."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def block_after(label: str) -> str:
    """The first ```sh block after the paragraph that starts with `label`."""
    rest = README[README.index(label) :]
    return re.search(r"```sh\n(.*?)\n```", rest, re.S).group(1)  # type: ignore[union-attr]


def test_ci_runs_exactly_the_readme_test_command():
    """Every step of the README's command, in its order (CI times the last one on its own)."""
    command = block_after("**Install and test**")
    assert command.startswith("python3 -m venv .venv")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    at = 0
    for step in command.split(" && "):
        found = ci.find(step, at)
        assert found >= 0, f"{step!r} is not in .ci/run after the steps before it"
        at = found + len(step)


def test_the_readme_is_short_and_its_links_lead_somewhere():
    assert len(README.splitlines()) < 200
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README)
    for target in targets:
        if not target.startswith("http"):
            assert (REPO / target).is_file(), target
    linked = {Path(t).name for t in targets if t.startswith("docs/")}
    assert linked == {p.name for p in (REPO / "docs").glob("*.md")}


def test_docs_links_lead_somewhere():
    for page in (REPO / "docs").glob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{page.name}: {target}"


def worktime(*argv: str, **kwargs) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "worktime_cli", *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--version"], 0),
        (["d1", "info", "no-such-database"], 1),
        (["--no-such-option"], 2),
        (["d1", "list", "--env", "no-such-env"], 2),
        (["run", "--", "no-such-program-worktime-test"], 127),
        (["run", "--", "./not-executable.sh"], 126),
    ],
)
def test_the_exit_codes_in_the_table(project, argv, code):
    (project / "not-executable.sh").write_text("#!/bin/sh\nexit 0\n")  # mode 0644
    proc = worktime(*argv)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    if code:
        assert err.startswith("error: "), err


def test_ctrl_c_exits_130(project):
    (project / "wrangler.toml").write_text(
        'name = "w"\n[[kv_namespaces]]\nbinding = "KV"\nid = "a1"\n'
    )
    # `kv key put KEY -` reads the value from stdin until EOF: interrupt it while it waits.
    proc = worktime("kv", "key", "put", "k", "-", "--binding", "KV")
    time.sleep(2)  # not a timing assertion: it only lets the process reach the read
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert "Traceback" not in err
