"""Shell completion in a real bash, and "did you mean" for a mistyped command at every level."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_tool
from worktime_cli.dev import scaffold


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    scaffold.init(root)
    env = root / "wrangler.toml"
    env.write_text(
        env.read_text() + '\n[env.production]\n[[env.production.d1_databases]]\nbinding = "DB"\n'
        'database_name = "worktime-prod"\ndatabase_id = "00000000-0000-4000-8000-000000000001"\n'
    )
    return root


def complete(root: Path, line: str) -> list[str]:
    """What bash offers for `line` + Tab, through the script `--show-completion bash` prints."""
    bash = require_tool("bash", "completion is tested in a real bash")
    words = shlex.split(line) + ([""] if line.endswith(" ") else [])
    script = (
        'eval "$(worktime --show-completion bash)"\n'
        "complete -p worktime >/dev/null\n"  # registered for the command
        f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})\n"
        f"COMP_CWORD={len(words) - 1}\n"
        "_worktime_completion worktime\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    assert shutil.which("worktime", path=env["PATH"]), "the worktime script is not installed"
    done = subprocess.run(
        [bash, "--norc", "--noprofile", "-c", script],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


def test_bash_completes_command_names(project):
    assert complete(project, "worktime d1 mi") == ["migrations"]
    assert complete(project, "worktime d1 migrations ap") == ["apply"]
    assert "doctor" in complete(project, "worktime do")


def test_bash_completes_the_projects_names(project):
    assert complete(project, "worktime d1 execute ") == ["worktime-db", "DB"]
    assert complete(project, "worktime d1 execute --env ") == ["production"]
    assert complete(project, "worktime d1 execute --env production ") == ["worktime-prod", "DB"]
    assert complete(project, "worktime kv key get --binding ") == ["KV"]
    assert complete(project, "worktime secret put G") == [
        "GITHUB_CLIENT_ID",
        "GITHUB_CLIENT_SECRET",
    ]
    assert complete(project, "worktime d1 migrations rollback worktime-db --to ") == [
        "0001_initial_schema.sql"
    ]


def test_completion_outside_a_project_offers_nothing_and_does_not_fail(tmp_path):
    assert complete(tmp_path, "worktime d1 execute ") == []


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["dv"], "did you mean `worktime dev`?"),
        (["d1", "migratons"], "did you mean `worktime d1 migrations`?"),
        (["d1", "migrations", "aply", "DB"], "did you mean `worktime d1 migrations apply`?"),
        (["kv", "ky"], "did you mean `worktime kv key`?"),
        (["d1", "zzzz"], "see `worktime d1 --help`"),
    ],
)
def test_a_mistyped_command_says_what_was_meant(cli, argv, hint):
    done = cli(*argv)
    assert done.exit_code == 2
    assert done.stderr.splitlines()[-1] == f"hint: {hint}"
    if hint.startswith("did you mean"):
        # The hinted command exists: its help parses.
        meant = hint.split("`")[1].split()[1:]
        assert cli(*meant, "--help").exit_code == 0
