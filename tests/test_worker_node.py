"""Issue 22 item 2: `dev --worker` says exactly which Node.js to install, from the project's own
node_modules wrangler (`engines.node`), instead of a fixed "needs Node.js 20+"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from worktime_cli.dev import toolchain, worker
from worktime_cli.errors import WorktimeError


def fake_node(folder: Path, version: str) -> Path:
    """A `node` that answers `--version` as the given release would."""
    folder.mkdir(parents=True, exist_ok=True)
    node = folder / "node"
    node.write_text(f"#!/bin/sh\necho v{version}\n")
    node.chmod(0o755)
    return folder


def install_wrangler(root: Path, engines: str | None, version: str = "4.164.0") -> None:
    package = root / "node_modules" / "wrangler"
    package.mkdir(parents=True)
    data: dict[str, object] = {"name": "wrangler", "version": version}
    if engines is not None:
        data["engines"] = {"node": engines}
    (package / "package.json").write_text(json.dumps(data))


def test_too_old_a_node_names_the_version_the_installed_wrangler_needs(project, tmp_path):
    install_wrangler(project, ">=22.12.0")
    bin_dir = fake_node(tmp_path / "bin", "20.11.1")
    with pytest.raises(WorktimeError) as error:
        worker.require_node({"PATH": str(bin_dir)}, project)
    assert error.value.message == "node is 20.11.1, and wrangler needs Node.js >=22.12.0"
    assert error.value.hint == toolchain.NODE_HINT.format(need="22.12.0")
    assert "20+" not in (error.value.hint or "")


def test_a_new_enough_node_passes(project, tmp_path):
    install_wrangler(project, ">=22.12.0")
    worker.require_node({"PATH": str(fake_node(tmp_path / "bin", "22.12.0"))}, project)
    worker.require_node({"PATH": str(fake_node(tmp_path / "bin24", "24.1.0"))}, project)


def test_no_node_names_what_to_install(project, tmp_path):
    install_wrangler(project, ">=22.12.0")
    (tmp_path / "empty").mkdir()
    with pytest.raises(WorktimeError) as error:
        worker.require_node({"PATH": str(tmp_path / "empty")}, project)
    assert error.value.message == "node is not on PATH (wrangler needs Node.js >=22.12.0)"
    assert error.value.hint == toolchain.NODE_HINT.format(need="22.12.0")


def test_a_wrangler_without_engines_only_needs_a_node(project, tmp_path):
    install_wrangler(project, None)
    worker.require_node({"PATH": str(fake_node(tmp_path / "bin", "18.0.0"))}, project)


def test_the_missing_wrangler_hint_names_the_scaffolds_node_not_20(project):
    with pytest.raises(WorktimeError) as missing:
        worker.find_wrangler(project, {})
    need = toolchain.minimum_of(_scaffold_engines())
    assert need is not None
    assert "Node.js 20+" not in (missing.value.hint or "")
    assert f"needs Node.js {toolchain.shown(need)} or newer" in (missing.value.hint or "")


def test_no_module_still_says_needs_node_20():
    source = Path(worker.__file__).read_text(encoding="utf-8")
    assert "Node.js 20" not in source


def test_dev_worker_stops_before_wrangler_with_a_too_old_node(cli, project, tmp_path, monkeypatch):
    (project / "wrangler.toml").write_text('name = "worktime-backend"\nmain = "src/index.ts"\n')
    (project / "src").mkdir()
    (project / "src" / "index.ts").write_text("export default {};\n")
    install_wrangler(project, ">=22.12.0")
    launcher = project / "node_modules" / ".bin" / "wrangler"
    launcher.parent.mkdir(parents=True)
    launcher.write_text("#!/bin/sh\necho wrangler ran >&2\nexit 3\n")
    launcher.chmod(0o755)
    bin_dir = fake_node(tmp_path / "bin", "20.19.0")
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    result = cli("dev", "--worker")
    assert result.exit_code == 1, result.output
    assert "wrangler ran" not in result.stderr
    assert "error: node is 20.19.0, and wrangler needs Node.js >=22.12.0\n" in result.stderr
    assert "hint: install Node.js 22.12.0 or newer" in result.stderr


def _scaffold_engines() -> str:
    from worktime_cli.dev.scaffold import scaffold_file

    return str(json.loads(scaffold_file("package.json").read_text())["engines"]["node"])
