from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_tool
from worktime_cli.secrets import safety

FULL = ".wrangler/\n.dev.vars\n.dev.vars.*\n!.dev.vars.example\n"
COMMENT = "# worktime: local state and secret values stay out of git"


@pytest.fixture
def git_repo(project: Path) -> Path:
    git = require_tool("git", "safety checks ask git what it ignores and tracks")
    subprocess.run([git, "init", "-q", str(project)], check=True)
    return project


def git_add(root: Path, *names: str) -> None:
    subprocess.run(["git", "-C", str(root), "add", "-f", *names], check=True)


def test_ensure_gitignore_creates_the_file(project):
    assert safety.ensure_gitignore(project) == (
        ".wrangler/",
        ".dev.vars",
        ".dev.vars.*",
        "!.dev.vars.example",
    )
    assert (project / ".gitignore").read_text() == f"{COMMENT}\n{FULL}"
    assert safety.ensure_gitignore(project) == ()  # idempotent
    assert (project / ".gitignore").read_text() == f"{COMMENT}\n{FULL}"


def test_ensure_gitignore_keeps_existing_lines_and_adds_only_what_is_missing(project):
    (project / ".gitignore").write_text("node_modules/\n.dev.vars*")  # no final newline
    assert safety.ensure_gitignore(project) == (".wrangler/", "!.dev.vars.example")
    assert (project / ".gitignore").read_text() == (  # still none: the file's bytes are kept
        f"node_modules/\n.dev.vars*\n\n{COMMENT}\n.wrangler/\n!.dev.vars.example"
    )
    assert safety.check_gitignore(project).status == "ok"


def test_ensure_gitignore_never_duplicates_a_line(project):
    # `.dev.vars` is there, but a later negation un-ignores it. That negation looks deliberate,
    # so init does not add a second `.dev.vars`; the check keeps reporting it instead.
    (project / ".gitignore").write_text(FULL + "!.dev.vars\n")
    assert safety.ensure_gitignore(project) == ()
    assert safety.check_gitignore(project).status == "fail"


def test_ensure_gitignore_with_everything_present(project):
    (project / ".gitignore").write_text("/.wrangler\n.dev.vars*\n!.dev.vars.example\n")
    assert safety.ensure_gitignore(project) == ()


@pytest.mark.parametrize("use_git", [False, True], ids=["own-matcher", "git"])
def test_check_gitignore(project, request, use_git):
    if use_git:
        request.getfixturevalue("git_repo")
    assert safety.check_gitignore(project) == safety.Check(
        "gitignore",
        "fail",
        ".wrangler/ is not ignored; .dev.vars is not ignored; .dev.vars.staging is not ignored",
        hint="add these lines to .gitignore (`worktime init` does it): .wrangler/, .dev.vars, .dev.vars.*",
    )
    (project / ".gitignore").write_text(".wrangler/\n.dev.vars*\n")
    check = safety.check_gitignore(project)
    assert (check.status, check.message) == ("fail", ".dev.vars.example is ignored")
    assert check.hint is not None and check.hint.endswith(": !.dev.vars.example")
    (project / ".gitignore").write_text(FULL)
    assert safety.check_gitignore(project) == safety.Check(
        "gitignore", "ok", ".gitignore covers .dev.vars, .dev.vars.* and .wrangler/"
    )


def test_check_gitignore_asks_git_about_parent_folders(tmp_path, project):
    require_tool("git", "the parent .gitignore is only visible to git")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text(FULL)
    assert safety.check_gitignore(project).status == "ok"


def test_check_untracked(project, git_repo):
    (project / ".dev.vars").write_text("A=1\n")
    (project / ".dev.vars.example").write_text("A=x\n")
    git_add(project, ".dev.vars.example")
    assert safety.check_untracked(project).status == "ok"
    git_add(project, ".dev.vars")
    check = safety.check_untracked(project)
    assert check == safety.Check(
        "dev-vars-untracked",
        "fail",
        ".dev.vars tracked by git: its values are in the repository history",
        hint="run `git rm --cached .dev.vars`, commit, and rotate those secrets",
    )
    assert not check.ok


def test_check_untracked_outside_a_repository(project):
    check = safety.check_untracked(project)
    assert check.status == "skip" and check.ok


def test_check_permissions(project):
    assert safety.check_permissions(project).message == "no .dev.vars file"
    (project / ".dev.vars.example").write_text("A=x\n")
    (project / ".dev.vars.example").chmod(0o644)  # meant to be shared
    (project / ".dev.vars").write_text("A=1\n")
    (project / ".dev.vars").chmod(0o644)
    (project / ".dev.vars.staging").write_text("A=1\n")
    (project / ".dev.vars.staging").chmod(0o600)
    assert safety.check_permissions(project) == safety.Check(
        "dev-vars-permissions",
        "fail",
        "readable by group or others: .dev.vars (mode 0644)",
        hint="run `chmod 600 .dev.vars`",
    )
    (project / ".dev.vars").chmod(0o600)
    check = safety.check_permissions(project)
    assert (check.status, check.message) == ("ok", "only you can read .dev.vars, .dev.vars.staging")


def test_checks_all(project):
    assert [c.name for c in safety.checks(project)] == [
        "gitignore",
        "dev-vars-untracked",
        "dev-vars-permissions",
    ]
