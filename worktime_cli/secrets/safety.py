"""Checks that local secrets stay local, for `worktime init` and `worktime doctor`.

- `.gitignore` covers `.dev.vars` and `.dev.vars.*` (but not `.dev.vars.example`, which is
  meant to be committed) and `.wrangler/` (local databases may hold real data);
- `.dev.vars` is not already tracked by git (an ignore rule does not untrack a file);
- `.dev.vars` files are not readable by group or others.

When git is available and the project is in a work tree, git itself answers "is this
ignored?" (it knows about parent folders' .gitignore files and negations). Otherwise a small
matcher reads the project's own `.gitignore`, which is enough for the top-level names we ask
about. `ensure_gitignore` always uses that matcher on the project's file: the fix has to
travel with the repository, not live in one developer's global excludes.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from worktime_cli.errors import WorktimeError
from worktime_cli.project.config import write_atomic

# "warn" is not produced here; doctor shares this type for its own checks.
Status = Literal["ok", "warn", "fail", "skip"]
GIT_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    message: str
    hint: str | None = None

    @property
    def ok(self) -> bool:
        return self.status != "fail"


@dataclass(frozen=True)
class _Probe:
    path: str  # what we ask git about
    is_dir: bool
    should_ignore: bool
    line: str  # the .gitignore line that fixes it


# Order matters for ensure_gitignore: `!.dev.vars.example` must come after `.dev.vars.*`.
_PROBES = (
    _Probe(".wrangler", True, True, ".wrangler/"),
    _Probe(".dev.vars", False, True, ".dev.vars"),
    _Probe(".dev.vars.staging", False, True, ".dev.vars.*"),  # stands for every .dev.vars.<env>
    _Probe(".dev.vars.example", False, False, "!.dev.vars.example"),
)
_COMMENT = "# worktime: local state and secret values stay out of git"


def checks(root: Path) -> tuple[Check, ...]:
    """All safety checks for the project in `root`."""
    return (check_gitignore(root), check_untracked(root), check_permissions(root))


def check_gitignore(root: Path) -> Check:
    ignored = _git_ignored(root, [p.path + ("/x" if p.is_dir else "") for p in _PROBES])
    if ignored is None:
        lines = _gitignore_lines(root)
        wrong = [p for p in _PROBES if _ignored_by(lines, p.path, p.is_dir) != p.should_ignore]
    else:
        wrong = [
            p
            for p in _PROBES
            if (p.path + ("/x" if p.is_dir else "") in ignored) != p.should_ignore
        ]
    if not wrong:
        return Check("gitignore", "ok", ".gitignore covers .dev.vars, .dev.vars.* and .wrangler/")
    problems = [
        f"{p.path}{'/' if p.is_dir else ''} is {'not ' if p.should_ignore else ''}ignored"
        for p in wrong
    ]
    return Check(
        "gitignore",
        "fail",
        "; ".join(problems),
        hint="add these lines to .gitignore (`worktime init` does it): "
        + ", ".join(p.line for p in wrong),
    )


def check_untracked(root: Path) -> Check:
    git = shutil.which("git")
    if git is None:
        return Check("dev-vars-untracked", "skip", "git is not installed")
    out = _run([git, "-C", str(root), "ls-files", "-z", "--", ".dev.vars", ".dev.vars.*"])
    if out is None:
        return Check("dev-vars-untracked", "skip", "not a git repository")
    tracked = [name for name in out.split("\0") if name and Path(name).name != ".dev.vars.example"]
    if not tracked:
        return Check("dev-vars-untracked", "ok", "no .dev.vars file is tracked by git")
    names = ", ".join(tracked)
    return Check(
        "dev-vars-untracked",
        "fail",
        f"{names} tracked by git: its values are in the repository history",
        hint=f"run `git rm --cached {' '.join(tracked)}`, commit, and rotate those secrets",
    )


def check_permissions(root: Path) -> Check:
    if os.name == "nt":
        return Check("dev-vars-permissions", "skip", "file modes do not apply on Windows")
    files = sorted(
        p for p in root.glob(".dev.vars*") if p.is_file() and p.name != ".dev.vars.example"
    )
    if not files:
        return Check("dev-vars-permissions", "ok", "no .dev.vars file")
    loose = [p for p in files if p.stat().st_mode & 0o077]
    if not loose:
        return Check(
            "dev-vars-permissions", "ok", "only you can read " + ", ".join(p.name for p in files)
        )
    described = ", ".join(f"{p.name} (mode {stat.S_IMODE(p.stat().st_mode):04o})" for p in loose)
    return Check(
        "dev-vars-permissions",
        "fail",
        f"readable by group or others: {described}",
        hint="run `chmod 600 " + " ".join(p.name for p in loose) + "`",
    )


def ensure_gitignore(root: Path) -> tuple[str, ...]:
    """Append to `root/.gitignore` the lines it lacks; returns them (empty: nothing changed)."""
    from worktime_cli.project import text as config_text

    path = root / ".gitignore"
    # Read as config_text reads a config (no BOM, LF, a final newline) and written back by
    # `restore`: a CRLF file stays CRLF, a BOM and a missing final newline stay as they were.
    original = config_text.read(path) if path.exists() else None
    text = original.text if original is not None else ""
    lines = _parse_lines(text)
    present = {line.strip() for line in text.splitlines()}
    added: list[str] = []
    for probe in _PROBES:
        if _ignored_by(lines, probe.path, probe.is_dir) == probe.should_ignore:
            continue
        if probe.line not in present:
            added.append(probe.line)
            present.add(probe.line)
        # A pattern earlier in the file may be overridden by a later one; appending at the
        # end makes ours the last word either way.
        lines.append(probe.line)
    if not added:
        return ()
    block = ([_COMMENT] if _COMMENT not in present else []) + added
    separator = "\n" if text.strip() else ""
    edited = text + separator + "\n".join(block) + "\n"
    write_atomic(path, original.restore(edited) if original else edited.encode("utf-8"))
    return tuple(added)


# --- helpers -------------------------------------------------------------------------------


def _git_ignored(root: Path, paths: list[str]) -> set[str] | None:
    """The subset of `paths` git ignores, or None when git cannot tell (no git, no repo)."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        # --no-index: answer for tracked files too; whether they are *tracked* is another check.
        out = subprocess.run(
            [git, "-C", str(root), "check-ignore", "--no-index", "--stdin"],
            input="\n".join(paths) + "\n",
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode not in (0, 1):  # 128: not a work tree
        return None
    return {line for line in out.stdout.splitlines() if line}


def _run(argv: list[str]) -> str | None:
    try:
        out = subprocess.run(
            argv, capture_output=True, text=True, timeout=GIT_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def _gitignore_lines(root: Path) -> list[str]:
    from worktime_cli.project import text as config_text

    path = root / ".gitignore"
    if not path.is_file():
        return []
    try:
        return _parse_lines(config_text.read(path).text)  # without a BOM on the first line
    except WorktimeError:
        return []


def _parse_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _ignored_by(lines: list[str], name: str, is_dir: bool) -> bool:
    """gitignore semantics for a top-level `name`: the last matching pattern wins."""
    ignored = False
    for line in lines:
        negated = line.startswith("!")
        pattern = line[1:] if negated else line
        dir_only = pattern.endswith("/")
        pattern = pattern.strip("/")
        if pattern.startswith("**/"):
            pattern = pattern[3:]
        if "/" in pattern or (dir_only and not is_dir):
            continue  # deeper paths never match a top-level name
        if fnmatch.fnmatchcase(name, pattern):
            ignored = not negated
    return ignored
