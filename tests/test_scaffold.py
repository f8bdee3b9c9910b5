from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from worktime_cli import d1, kv
from worktime_cli.dev import scaffold, typegen
from worktime_cli.errors import WorktimeError
from worktime_cli.project import config, state

REPO = Path(__file__).resolve().parent.parent


def files(root: Path) -> dict[str, bytes]:
    """Every project file (local state excluded) with its bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".wrangler" not in p.parts
    }


def test_init_creates_a_working_project(tmp_path):
    root = tmp_path / "fresh"
    result = scaffold.init(root)
    assert set(files(root)) == {
        "wrangler.toml",
        ".dev.vars.example",
        ".gitignore",
        "migrations/0001_initial_schema.sql",
        "migrations/down/0001_initial_schema.sql",
        "src/index.ts",
        "package.json",
        "tsconfig.json",
        "worker-configuration.d.ts",
    }
    # The migrations are the package's, byte for byte.
    assert (root / "migrations/0001_initial_schema.sql").read_bytes() == (
        REPO / "migrations/0001_initial_schema.sql"
    ).read_bytes()
    assert (root / ".dev.vars.example").read_bytes() == (REPO / ".dev.vars.example").read_bytes()

    cfg = config.load(root / "wrangler.toml")
    assert cfg.name == "worktime-backend"
    assert cfg.data["observability"] == {"enabled": True}
    assert cfg.data["vars"] == {"ENVIRONMENT": "development"}
    assert cfg.data["secrets"] == {
        "required": ["JWT_SECRET", "GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET"]
    }
    (db,) = cfg.d1_databases
    assert (db.binding, db.database_name, db.migrations_dir) == ("DB", "worktime-db", "migrations")
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", db.database_id or ""
    )
    (ns,) = cfg.kv_namespaces
    assert ns.binding == "KV" and re.fullmatch(r"[0-9a-f]{32}", ns.id or "")
    assert "# KV: GitHub tokens" in (root / "wrangler.toml").read_text()

    conn = sqlite3.connect(d1.database_path(cfg, db, None))
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"users", "time_sessions", "daily_stats", "d1_migrations"} <= tables
    assert conn.execute("SELECT name FROM d1_migrations").fetchall() == [
        ("0001_initial_schema.sql",)
    ]
    assert kv.KVStore(state.root(cfg), ns.local_id).exists

    assert result.missing_secrets == ("JWT_SECRET", "GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET")
    assert "wrangler.toml" in result.created
    assert result.kept == []


def test_second_init_changes_nothing(tmp_path):
    root = tmp_path / "fresh"
    scaffold.init(root)
    before = files(root)
    state_files = sorted((root / ".wrangler").rglob("*.sqlite"))
    result = scaffold.init(root)
    assert files(root) == before
    assert result.created == []
    assert "wrangler.toml" in result.kept
    # No migration ran and no snapshot was taken on the second run.
    assert sorted((root / ".wrangler").rglob("*.sqlite")) == state_files
    assert not [p for p in state_files if "snapshots" in p.parts]


def test_existing_wrangler_toml_is_extended_not_overwritten(tmp_path):
    root = tmp_path / "existing"
    root.mkdir()
    original = (
        '# our worker\nname = "custom-name" # keep me\n\n'
        '[[kv_namespaces]]\nbinding = "CACHE"\nid = "abc"\n'
    )
    (root / "wrangler.toml").write_text(original)
    (root / ".gitignore").write_text("node_modules/\n.dev.vars\n")
    result = scaffold.init(root)
    text = (root / "wrangler.toml").read_text()
    assert text.startswith('# our worker\nname = "custom-name" # keep me\n')
    assert 'binding = "CACHE"' in text
    cfg = config.load(root / "wrangler.toml")
    assert cfg.name == "custom-name"
    assert [ns.binding for ns in cfg.kv_namespaces] == ["CACHE", "KV"]
    assert [db.database_name for db in cfg.d1_databases] == ["worktime-db"]
    assert any(item.startswith("wrangler.toml: ") for item in result.created)
    gitignore = (root / ".gitignore").read_text().splitlines()
    assert gitignore.count(".dev.vars") == 1  # appended, never duplicated
    assert gitignore[0] == "node_modules/"
    assert ".wrangler/" in gitignore


def test_an_existing_migrations_folder_is_the_projects_own(tmp_path):
    root = tmp_path / "p"
    (root / "migrations").mkdir(parents=True)
    (root / "migrations" / "0001_mine.sql").write_text("CREATE TABLE mine (id INTEGER);\n")
    scaffold.init(root)
    assert sorted(p.name for p in (root / "migrations").glob("*.sql")) == ["0001_mine.sql"]
    cfg = config.load(root / "wrangler.toml")
    conn = sqlite3.connect(d1.database_path(cfg, cfg.d1("DB"), None))
    assert conn.execute("SELECT name FROM d1_migrations").fetchall() == [("0001_mine.sql",)]


def test_persist_to(tmp_path):
    root, elsewhere = tmp_path / "p", tmp_path / "state"
    scaffold.init(root, persist_to=elsewhere)
    assert not (root / ".wrangler").exists()
    assert list(elsewhere.rglob("*.sqlite"))


def test_init_on_a_file_is_an_error(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(WorktimeError, match="is not a folder"):
        scaffold.init(path)


def test_package_data_is_the_repos_single_copy():
    assert (
        scaffold.package_data("migrations").joinpath("0001_initial_schema.sql").read_bytes()
        == (REPO / "migrations/0001_initial_schema.sql").read_bytes()
    )


@pytest.mark.parametrize("name", ['my"app', "two\nlines", "UPPER", ""])
def test_worker_names_that_would_break_wrangler_toml_are_refused(tmp_path, name):
    with pytest.raises(WorktimeError, match="is not a valid Worker name"):
        scaffold.init(tmp_path / "p", name=name)
    assert not (tmp_path / "p").exists()


SCAFFOLD = REPO / "worktime_cli" / "dev" / "scaffold_files"


def test_init_writes_the_seeds_worker(tmp_path):
    root = tmp_path / "fresh"
    result = scaffold.init(root, name="my-backend")
    assert (root / "src/index.ts").read_bytes() == (SCAFFOLD / "src/index.ts").read_bytes()
    index = (root / "src/index.ts").read_text()
    assert 'import { cors } from "hono/cors";' in index
    assert "new Hono<{ Bindings: Env }>()" in index
    assert 'app.get("/health", (c) => c.json({ status: "ok" }));' in index
    assert (root / "tsconfig.json").read_bytes() == (SCAFFOLD / "tsconfig.json").read_bytes()
    tsconfig = json.loads((root / "tsconfig.json").read_text())
    options = tsconfig["compilerOptions"]
    assert (options["strict"], options["noEmit"], options["module"]) == (True, True, "ES2022")
    assert options["moduleResolution"] == "bundler"
    assert options["types"] == ["@cloudflare/workers-types"]
    assert "worker-configuration.d.ts" in tsconfig["include"]

    package = json.loads((root / "package.json").read_text())
    assert package["name"] == "my-backend"
    assert package["private"] is True
    assert package["dependencies"] == {"hono": "^4.13.19"}
    # wrangler pinned exactly (the seed's risk table); workers-types as a range from the
    # version its workerd was built with (its peer dependency's minimum), so
    # `npm install -D wrangler@latest` can move it along instead of failing with ERESOLVE.
    assert package["devDependencies"] == {
        "@cloudflare/workers-types": "^5.20261117.1",
        "typescript": "5.9.3",
        "wrangler": "4.164.0",
    }
    assert package["engines"] == {"node": ">=22.12.0"}
    assert package["scripts"] == {
        "dev": "wrangler dev",
        "deploy": "wrangler deploy",
        "typecheck": "tsc --noEmit",
        "types": "worktime types",
    }
    assert (root / "package.json").read_text().endswith("}\n")

    cfg = config.load(root / "wrangler.toml")
    assert typegen.check(cfg).status == "current"
    assert "type UsersRow = {" in (root / "worker-configuration.d.ts").read_text()
    assert ".gitignore: .wrangler/, .dev.vars, .dev.vars.*, !.dev.vars.example, node_modules/" in (
        result.created
    )
    assert "node_modules/" in (root / ".gitignore").read_text().splitlines()
    for label in ("src/index.ts", "package.json", "tsconfig.json", "worker-configuration.d.ts"):
        assert label in result.created


def test_existing_worker_files_are_kept_and_missing_ones_filled_in(tmp_path):
    root = tmp_path / "p"
    (root / "src").mkdir(parents=True)
    (root / "src/index.ts").write_text("export default {};\n")
    (root / "package.json").write_text('{"name": "mine"}\n')
    (root / ".gitignore").write_text("/node_modules\n")
    result = scaffold.init(root)
    assert (root / "src/index.ts").read_text() == "export default {};\n"
    assert (root / "package.json").read_text() == '{"name": "mine"}\n'
    assert {"src/index.ts", "package.json"} <= set(result.kept)
    assert {"tsconfig.json", "worker-configuration.d.ts"} <= set(result.created)
    assert (root / ".gitignore").read_text().count("node_modules") == 1


def test_a_stale_types_file_is_kept_with_a_warning(tmp_path):
    root = tmp_path / "p"
    scaffold.init(root)
    (root / "migrations/0002_notes.sql").write_text("CREATE TABLE notes (id INTEGER);\n")
    before = (root / "worker-configuration.d.ts").read_bytes()
    result = scaffold.init(root)
    assert (root / "worker-configuration.d.ts").read_bytes() == before
    assert result.warnings == [
        "worker-configuration.d.ts is out of date: run `worktime types` to regenerate it"
    ]


def test_a_javascript_main_gets_no_typescript_scaffold(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    (root / "wrangler.toml").write_text('name = "js-worker"\nmain = "src/worker.js"\n')
    result = scaffold.init(root)
    assert not (root / "src").exists()
    assert not (root / "package.json").exists()
    assert any("not a .ts file" in w for w in result.warnings)


def test_a_jsonc_config_is_extended_not_joined_by_a_toml(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    original = '{\n  // mine\n  "name": "from-c3",\n  "main": "src/index.ts",\n}\n'
    (root / "wrangler.jsonc").write_text(original)
    result = scaffold.init(root)
    assert not (root / "wrangler.toml").exists()
    text = (root / "wrangler.jsonc").read_text()
    assert "// mine" in text
    cfg = config.load(root / "wrangler.jsonc")
    assert [db.binding for db in cfg.d1_databases] == ["DB"]
    assert [ns.binding for ns in cfg.kv_namespaces] == ["KV"]
    assert any(item.startswith("wrangler.jsonc: ") for item in result.created)
    assert json.loads((root / "package.json").read_text())["name"] == "from-c3"


def test_install_without_npm_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(WorktimeError, match="--install needs npm, which is not on PATH"):
        scaffold.init(tmp_path / "p", install=True)
    # Everything but node_modules is in place: the user can run npm later.
    assert (tmp_path / "p" / "package.json").exists()


def test_install_runs_npm_install_in_the_project(tmp_path, monkeypatch):
    # A stand-in npm on PATH records its argv and cwd: the real install is the CI test's.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "npm.log"
    fake = bin_dir / "npm"
    fake.write_text(f'#!/bin/sh\necho "$PWD $*" >> {log}\nmkdir -p node_modules\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    result = scaffold.init(tmp_path / "p", install=True)
    assert log.read_text() == f"{tmp_path / 'p'} install --no-audit --no-fund\n"
    assert result.created[-1] == "node_modules/ (npm install)"


def test_failed_npm_install_says_so(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "npm"
    fake.write_text("#!/bin/sh\necho 'npm error code E404'\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    with pytest.raises(WorktimeError, match=r"npm install failed \(exit 1\): npm error code E404"):
        scaffold.init(tmp_path / "p", install=True)
