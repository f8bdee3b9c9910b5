"""`--env NAME`: the section wrangler selects, in TOML and in JSONC, and edits made under it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from worktime_cli.errors import UsageError
from worktime_cli.project import config, editing, state

TOML = """\
name = "worktime-backend"
main = "src/index.ts"
compatibility_date = "2024-01-01"
account_id = "top-account"

[[d1_databases]]
binding = "DB"
database_name = "worktime-db"

[[kv_namespaces]]
binding = "KV"
id = "top-kv"

[vars]
ENVIRONMENT = "development"

[env.production]
# production runs on its own database
[env.production.vars]
ENVIRONMENT = "production"

[[env.production.d1_databases]]
binding = "DB"
database_name = "worktime-db-production"

[env.staging]
name = "worktime-staging"
compatibility_date = "2025-01-01"
"""

JSONC = """\
{
\t"name": "worktime-backend",
\t"main": "src/index.ts",
\t"compatibility_date": "2024-01-01",
\t"account_id": "top-account",
\t"d1_databases": [
\t\t{ "binding": "DB", "database_name": "worktime-db" },
\t],
\t"kv_namespaces": [
\t\t{ "binding": "KV", "id": "top-kv" },
\t],
\t"vars": { "ENVIRONMENT": "development" },
\t"env": {
\t\t// production runs on its own database
\t\t"production": {
\t\t\t"vars": { "ENVIRONMENT": "production" },
\t\t\t"d1_databases": [
\t\t\t\t{ "binding": "DB", "database_name": "worktime-db-production" },
\t\t\t],
\t\t},
\t\t"staging": {
\t\t\t"name": "worktime-staging",
\t\t\t"compatibility_date": "2025-01-01",
\t\t},
\t},
}
"""


@pytest.fixture(params=["wrangler.toml", "wrangler.jsonc"])
def cfg_path(request: pytest.FixtureRequest, project: Path) -> Path:
    (project / "wrangler.toml").unlink()
    path: Path = project / request.param
    path.write_text(TOML if request.param.endswith("toml") else JSONC, encoding="utf-8")
    return path


def test_top_level_without_env(cfg_path: Path) -> None:
    cfg = config.load()
    assert cfg.env is None
    assert cfg.name == "worktime-backend"
    assert [db.database_name for db in cfg.d1_databases] == ["worktime-db"]
    assert cfg.defined_envs == ("production", "staging")
    assert "env" not in cfg.section
    assert cfg.section_path == ()


def test_env_bindings_are_not_inherited(cfg_path: Path) -> None:
    cfg = config.load(env="production")
    assert cfg.env == "production"
    assert cfg.name == "worktime-backend-production"
    assert cfg.top_level_name == "worktime-backend"
    # Inheritable keys come from the top level…
    assert cfg.main == "src/index.ts"
    assert cfg.compatibility_date == "2024-01-01"
    assert cfg.account_id == "top-account"
    # …bindings and vars only from the env itself.
    assert [db.database_name for db in cfg.d1_databases] == ["worktime-db-production"]
    assert cfg.kv_namespaces == ()
    assert cfg.section["vars"] == {"ENVIRONMENT": "production"}
    assert cfg.section_path == ("env", "production")
    # wrangler warns about a top-level binding the env does not redeclare; so do we.
    assert cfg.warnings == (
        '"kv_namespaces" exists at the top level, but not on "env.production": '
        "it is not inherited by environments",
    )


def test_env_with_its_own_name_and_overrides(cfg_path: Path) -> None:
    cfg = config.load(env="staging")
    assert cfg.name == "worktime-staging"
    assert cfg.compatibility_date == "2025-01-01"
    assert cfg.d1_databases == ()
    assert "vars" not in cfg.section


def test_unknown_env_lists_the_defined_ones(cfg_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        config.load(env="prod")
    assert err.value.message == (
        f"{cfg_path}: no environment 'prod' (defined: production, staging)"
    )
    assert err.value.hint == "did you mean 'production'?"


def test_env_in_a_config_without_envs_is_refused(project: Path) -> None:
    """wrangler only warns and uses the top level here, bindings included: a write meant for
    `--env preview` would reach the top-level database. Refused, saying how to add one."""
    (project / "wrangler.toml").write_text(
        'name = "app"\n\n[[kv_namespaces]]\nbinding = "KV"\nid = "k"\n', encoding="utf-8"
    )
    with pytest.raises(UsageError) as err:
        config.load(env="preview")
    assert err.value.exit_code == 2
    assert err.value.message == (
        f"{project / 'wrangler.toml'}: no environment 'preview' (none is defined)"
    )
    assert err.value.hint == (
        "add an `[env.preview]` section to wrangler.toml (bindings are not inherited), "
        "or leave out --env / CLOUDFLARE_ENV for the top level"
    )


def test_unknown_name_in_an_env_says_where(cfg_path: Path) -> None:
    with pytest.raises(Exception) as err:
        config.load(env="production").d1("worktime-db")
    assert str(err.value).startswith(
        f"database 'worktime-db' is not configured in {cfg_path.name} [env.production]"
    )
    assert err.value.hint == "did you mean 'worktime-db-production'?"  # type: ignore[attr-defined]


def test_edits_under_an_env_go_into_its_section(cfg_path: Path) -> None:
    top_before = config.load()
    cfg = editing.append_table(
        config.load(env="production"), "kv_namespaces", {"binding": "KV", "id": "prod-kv"}
    )
    assert cfg.env == "production"
    assert cfg.kv(binding="KV").id == "prod-kv"
    cfg = editing.update_table(cfg, "d1_databases", {"binding": "DB"}, {"database_id": "prod-db"})
    assert cfg.d1("DB").database_id == "prod-db"
    # The top level is exactly as it was.
    top = config.load()
    assert top.d1_databases == top_before.d1_databases
    assert top.kv_namespaces == top_before.kv_namespaces
    text = cfg_path.read_text(encoding="utf-8")
    assert "# production runs on its own database" in text or "// production runs" in text
    if cfg_path.suffix == ".toml":
        assert '[[env.production.kv_namespaces]]\nbinding = "KV"\nid = "prod-kv"\n' in text
    else:
        assert '\t\t\t"kv_namespaces": [\n\t\t\t\t{\n\t\t\t\t\t"binding": "KV",' in text
    editing.remove_table(cfg, "kv_namespaces", {"binding": "KV"})
    assert config.load(env="production").kv_namespaces == ()
    assert config.load().kv(binding="KV").id == "top-kv"


def test_env_selected_edit_reloads_with_the_same_env(cfg_path: Path) -> None:
    cfg = editing.edit(config.load(env="staging"), lambda doc: doc.set("main", "src/staging.ts"))
    assert cfg.env == "staging"
    assert cfg.main == "src/staging.ts"
    assert config.load().main == "src/index.ts"


@pytest.mark.wrangler
@pytest.mark.slow
def test_wrangler_reads_the_env_edit(wrangler: str, cfg_path: Path) -> None:
    """The env edit is where wrangler looks for `--env production` bindings."""
    from worktime_cli.kv import KVStore

    project = cfg_path.parent
    ns = "0f2ac74b498b48028cb68387c421e279"
    cfg = editing.append_table(
        config.load(env="production"), "kv_namespaces", {"binding": "CACHE", "id": ns}
    )
    with KVStore(state.root(cfg), cfg.kv(binding="CACHE").local_id) as store:
        store.put("k", b"production value")
    out = subprocess.run(
        [wrangler, "kv", "key", "get", "k", "--binding", "CACHE", "--local", "--env", "production"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "WRANGLER_SEND_METRICS": "false", "CI": "true"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout == "production value"
