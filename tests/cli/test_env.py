"""`--env NAME` / CLOUDFLARE_ENV on every d1 and kv command: the env's own bindings, locally
(its own file) and with --remote (its own ids in the request paths), and the one line that
names a remote write's target before it happens (issue 19)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer

from tests.support.fake_cloudflare import ACCOUNT, FakeCloudflare, fake_fixture
from worktime_cli.cli.app import app
from worktime_cli.project import config, state

fake = pytest.fixture(name="fake")(fake_fixture)

TOP_DB = "11111111-1111-4111-8111-111111111111"
TOP_KV = "a" * 32
PROD_KV = "b" * 32

# A database only in [env.production]: no top-level database shares its file or its id.
TOML = f"""\
name = "worktime-backend"

[[d1_databases]]
binding = "DB"
database_name = "worktime-db"
database_id = "{TOP_DB}"

[[kv_namespaces]]
binding = "KV"
id = "{TOP_KV}"

[env.production]
name = "worktime-prod"

[[env.production.d1_databases]]
binding = "DB"
database_name = "worktime-db-prod"
database_id = "PROD_DB"

[[env.production.kv_namespaces]]
binding = "KV"
id = "{PROD_KV}"
"""


@pytest.fixture
def two_envs(project: Path) -> Path:
    (project / "wrangler.toml").write_text(TOML, encoding="utf-8")
    return project


def _write_config(project: Path, prod_db: str) -> None:
    (project / "wrangler.toml").write_text(TOML.replace("PROD_DB", prod_db), encoding="utf-8")


def _d1_file(env: str | None) -> Path:
    cfg = config.load(env=env)
    return state.d1_path(state.root(cfg), cfg.d1("DB").local_id)


# --- every command takes it, the same way -----------------------------------------------------


def _leaves(command: Any, path: tuple[str, ...]) -> Any:
    if hasattr(command, "list_commands"):
        ctx = typer.Context(command)
        for name in command.list_commands(ctx):
            yield from _leaves(command.get_command(ctx, name), (*path, name))
    else:
        yield path, command


ROOT = typer.main.get_command(app)
GROUPS = [
    (path, command)
    for group in ("d1", "kv")
    for path, command in _leaves(ROOT.get_command(typer.Context(ROOT), group), (group,))  # type: ignore[attr-defined]
]


def test_every_d1_and_kv_command_is_walked() -> None:
    names = {" ".join(path) for path, _ in GROUPS}
    assert {
        "d1 execute",
        "d1 migrations apply",
        "d1 time-travel restore",
        "d1 import",
        "d1 reset",
        "d1 restore",
        "kv bulk put",
        "kv namespace gc",
    } <= names
    assert len(names) >= 25


def _secret_list() -> Any:
    group: Any = ROOT.get_command(typer.Context(ROOT), "secret")  # type: ignore[attr-defined]
    return group.get_command(typer.Context(group), "list")


@pytest.mark.parametrize(("path", "command"), GROUPS, ids=[" ".join(p) for p, _ in GROUPS])
def test_every_d1_and_kv_command_takes_env(path: tuple[str, ...], command: Any) -> None:
    """One declaration (`options.EnvOption`): the same flags, variable and help everywhere."""
    (reference,) = [p for p in _secret_list().params if p.name == "env"]
    (param,) = [p for p in command.params if p.name == "env"]
    assert param.opts == ["--env", "-e"]
    assert param.envvar == "CLOUDFLARE_ENV"
    assert param.help == reference.help


# --- unknown env ------------------------------------------------------------------------------


def test_unknown_env_is_a_usage_error_listing_the_defined_ones(cli, two_envs: Path) -> None:
    result = cli("d1", "execute", "DB", "--command", "SELECT 1", "--env", "prod")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {two_envs / 'wrangler.toml'}: no environment 'prod' (defined: production)\n"
        "hint: did you mean 'production'?\n"
    )
    assert not (two_envs / ".wrangler").exists()


def test_env_in_a_config_without_envs_is_a_usage_error(cli, project: Path, monkeypatch) -> None:
    cli("d1", "create", "worktime-db")
    monkeypatch.setenv("CLOUDFLARE_ENV", "production")
    result = cli("d1", "execute", "DB", "--command", "CREATE TABLE t (a)")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {project / 'wrangler.toml'}: no environment 'production' (none is defined)\n"
        "hint: add an `[env.production]` section to wrangler.toml (bindings are not "
        "inherited), or leave out --env / CLOUDFLARE_ENV for the top level\n"
    )
    monkeypatch.delenv("CLOUDFLARE_ENV")
    tables = cli("d1", "execute", "DB", "--command", "SELECT name FROM sqlite_master", "--json")
    assert json.loads(tables.stdout)[0]["results"] == []  # nothing reached the top level


# --- local: the env's own file ----------------------------------------------------------------


@pytest.mark.parametrize("how", ["flag", "variable"])
def test_local_execute_writes_the_envs_own_file(cli, two_envs: Path, monkeypatch, how) -> None:
    args = ["d1", "execute", "worktime-db-prod", "--command", "CREATE TABLE prod_only (a)"]
    if how == "flag":
        args += ["--env", "production"]
    else:
        monkeypatch.setenv("CLOUDFLARE_ENV", "production")
    result = cli(*args)
    assert result.exit_code == 0, result.output
    prod, top = _d1_file("production"), _d1_file(None)
    assert prod != top
    assert prod == state.d1_path(state.root(config.load()), "PROD_DB")  # wrangler's name
    assert prod.exists() and not top.exists()


def test_local_kv_put_writes_the_envs_namespace(cli, two_envs: Path) -> None:
    result = cli("kv", "key", "put", "k", "prod", "--binding", "KV", "--env", "production")
    assert result.exit_code == 0, result.output
    root = state.root(config.load())
    assert state.kv_index_path(root, PROD_KV).exists()
    assert not state.kv_index_path(root, TOP_KV).exists()
    top = cli("kv", "key", "get", "k", "--binding", "KV")
    assert top.exit_code == 1  # not in the top level's namespace
    assert cli("kv", "key", "get", "k", "--binding", "KV", "-e", "production").stdout == "prod"


def test_local_migrations_apply_under_env(cli, two_envs: Path) -> None:
    (two_envs / "migrations").mkdir()
    (two_envs / "migrations" / "0001_init.sql").write_text("CREATE TABLE t (a);\n")
    result = cli("d1", "migrations", "apply", "DB", "--env", "production")
    assert result.exit_code == 0, result.output
    assert _d1_file("production").exists() and not _d1_file(None).exists()


def test_local_create_and_delete_edit_the_envs_section(cli, two_envs: Path) -> None:
    created = cli("d1", "create", "staging-db", "--env", "production", "--binding", "STAGE")
    assert created.exit_code == 0, created.output
    assert [db.binding for db in config.load(env="production").d1_databases] == ["DB", "STAGE"]
    assert [db.binding for db in config.load().d1_databases] == ["DB"]  # top level untouched
    # Deleting DB under production removes production's entry, never the top level's.
    deleted = cli("d1", "delete", "DB", "--env", "production", "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert [db.binding for db in config.load(env="production").d1_databases] == ["STAGE"]
    assert config.load().d1("DB").database_id == TOP_DB


def test_restore_hint_names_the_env(cli, two_envs: Path) -> None:
    (two_envs / "migrations").mkdir()
    (two_envs / "migrations" / "0001_init.sql").write_text("CREATE TABLE t (a);\n")
    (two_envs / "migrations" / "0002_more.sql").write_text("CREATE TABLE u (a);\n")
    cli("d1", "migrations", "apply", "DB", "--env", "production", "--to", "0001_init")
    result = cli("d1", "migrations", "apply", "DB", "--env", "production")
    assert result.exit_code == 0, result.output
    assert "(undo with `worktime d1 restore worktime-db-prod --env production`)" in result.stderr


@pytest.mark.wrangler
@pytest.mark.slow
def test_wrangler_opens_the_file_worktime_wrote_for_the_env(
    cli, wrangler: str, two_envs: Path
) -> None:
    """`wrangler d1 execute --local --env production` reads what `worktime … --env production`
    wrote, and the top level's database (wrangler's and ours) does not have it."""
    import os
    import subprocess

    made = cli("d1", "execute", "DB", "-e", "production", "--command", "CREATE TABLE prod_only (a)")
    assert made.exit_code == 0, made.output
    cli("d1", "execute", "DB", "--command", "CREATE TABLE top_only (a)")

    def tables(*env: str) -> list[str]:
        out = subprocess.run(
            [wrangler, "d1", "execute", "DB", "--local", *env, "--json", "--command",
             "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%_only'"],
            cwd=two_envs, capture_output=True, text=True, timeout=180, check=False,
            env={**os.environ, "WRANGLER_SEND_METRICS": "false", "CI": "true"},
        )  # fmt: skip
        assert out.returncode == 0, out.stderr[-2000:]
        return [row["name"] for row in json.loads(out.stdout)[0]["results"]]

    assert tables("--env", "production") == ["prod_only"]
    assert tables() == ["top_only"]


# --- remote: the env's ids in every request, and the target said first ------------------------


def _target(name: str, ident: str | None, env: str | None) -> dict[str, Any]:
    kind = "kv_namespace" if name == "KV" else "d1_database"
    return {"kind": kind, "name": name, "id": ident, "env": env, "account": ACCOUNT}


def _line(what: str, name: str, ident: str, env: str | None) -> str:
    where = f"env {env}" if env else "top-level config (no --env)"
    return f"target: {what} {name} (id {ident}), {where}, account {ACCOUNT}\n"


@pytest.fixture
def remote_envs(fake: FakeCloudflare, project: Path) -> tuple[str, str]:
    top = fake.add_database("worktime-db", TOP_DB).uuid
    prod = fake.add_database("worktime-db-prod").uuid
    _write_config(project, prod)
    return top, prod


def test_remote_execute_goes_to_the_envs_database(
    cli, fake: FakeCloudflare, remote_envs, monkeypatch
) -> None:
    top, prod = remote_envs
    monkeypatch.setenv("CLOUDFLARE_ENV", "production")
    result = cli("d1", "execute", "DB", "--remote", "--command", "CREATE TABLE t (a)", "--json")
    assert result.exit_code == 0, result.output
    (call,) = fake.calls("POST", "/query$")
    assert call.path.endswith(f"/accounts/{ACCOUNT}/d1/database/{prod}/query")
    assert not fake.calls("POST", f"/d1/database/{top}/")
    assert result.stderr == _line("D1 database", "worktime-db-prod", prod, "production")
    (item,) = json.loads(result.stdout)
    assert item["target"] == _target("worktime-db-prod", prod, "production")


def test_remote_read_names_no_target(cli, fake: FakeCloudflare, remote_envs) -> None:
    _top, prod = remote_envs
    result = cli("d1", "execute", "DB", "--remote", "-e", "production", "--command", "SELECT 1")
    assert result.exit_code == 0, result.output
    assert "target:" not in result.stderr
    assert "target" not in json.loads(result.stdout)[0]
    assert fake.calls("POST", f"/d1/database/{prod}/query$")


def test_remote_top_level_write_says_so(cli, fake: FakeCloudflare, remote_envs) -> None:
    top, _prod = remote_envs
    result = cli("d1", "execute", "DB", "--remote", "--command", "CREATE TABLE t (a)")
    assert result.exit_code == 0, result.output
    assert result.stderr == _line("D1 database", "worktime-db", top, None)
    assert fake.calls("POST", f"/d1/database/{top}/query$")


def test_remote_delete_states_the_target_before_refusing(
    cli, fake: FakeCloudflare, remote_envs
) -> None:
    _top, prod = remote_envs
    result = cli("d1", "delete", "DB", "--remote", "--env", "production")
    assert result.exit_code == 1
    assert result.stderr.startswith(_line("D1 database", "worktime-db-prod", prod, "production"))
    assert "refusing to delete the remote database DB" in result.stderr
    assert not fake.calls("DELETE", "/d1/database/")
    deleted = cli("d1", "delete", "DB", "--remote", "--env", "production", "--yes", "--json")
    assert deleted.exit_code == 0, deleted.output
    (call,) = fake.calls("DELETE", "/d1/database/")
    assert call.path.endswith(f"/d1/database/{prod}")
    assert json.loads(deleted.stdout)["target"] == _target("worktime-db-prod", prod, "production")


def test_remote_migrations_apply_under_env(cli, fake: FakeCloudflare, remote_envs) -> None:
    top, prod = remote_envs
    (Path.cwd() / "migrations").mkdir()
    (Path.cwd() / "migrations" / "0001_init.sql").write_text("CREATE TABLE t (a);\n")
    result = cli("d1", "migrations", "apply", "DB", "--remote", "--env", "production", "--json")
    assert result.exit_code == 0, result.output
    assert fake.calls("POST", f"/d1/database/{prod}/query$")
    assert not fake.calls("POST", f"/d1/database/{top}/")
    assert _line("D1 database", "worktime-db-prod", prod, "production") in result.stderr
    data = json.loads(result.stdout)
    assert data["target"] == _target("worktime-db-prod", prod, "production")
    assert data["snapshot"] is not None
    assert "--env production" in result.stderr  # the way back names the env


def test_remote_kv_writes_go_to_the_envs_namespace(cli, fake: FakeCloudflare, project) -> None:
    _write_config(project, "unused")
    for ns_id, title in ((TOP_KV, "worktime-backend-KV"), (PROD_KV, "worktime-prod-KV")):
        fake.namespaces[ns_id] = {"title": title, "entries": {}}
    for args in (
        ("kv", "key", "put", "k", "v", "--binding", "KV"),
        ("kv", "key", "delete", "k", "--binding", "KV"),
    ):
        result = cli(*args, "--remote", "--env", "production", "--json")
        assert result.exit_code == 0, result.output
        assert result.stderr == _line("KV namespace", "KV", PROD_KV, "production")
        assert json.loads(result.stdout)["target"] == _target("KV", PROD_KV, "production")
    paths = [r.path for r in fake.requests if "/storage/kv/" in r.path]
    assert paths and all(f"/namespaces/{PROD_KV}/" in p for p in paths)


def test_a_refused_kv_write_names_no_target(cli, fake: FakeCloudflare, project) -> None:
    """Input checked first: a bad --ttl is the whole story, nothing is aimed or sent."""
    _write_config(project, "unused")
    fake.namespaces[PROD_KV] = {"title": "worktime-prod-KV", "entries": {}}
    args = ("kv", "key", "put", "k", "v", "--binding", "KV", "--ttl", "59")
    result = cli(*args, "--remote", "--env", "production")
    assert result.exit_code == 1
    assert result.stderr == "error: TTL of 59 seconds is below the minimum of 60 seconds\n"
    assert not fake.calls("PUT", "/values/")


def test_remote_kv_namespace_create_under_env_edits_its_section(
    cli, fake: FakeCloudflare, project
) -> None:
    _write_config(project, "unused")
    result = cli("kv", "namespace", "create", "CACHE", "--remote", "--env", "production")
    assert result.exit_code == 0, result.output
    (ns_id,) = [i for i, n in fake.namespaces.items() if n["title"] == "worktime-prod-CACHE"]
    assert config.load(env="production").kv(binding="CACHE").id == ns_id
    assert [ns.binding for ns in config.load().kv_namespaces] == ["KV"]
    assert result.stderr.startswith(
        f"target: KV namespace CACHE (new), env production, account {ACCOUNT}\n"
    )


def test_time_travel_restore_states_the_target_and_undo_names_the_env(
    cli, fake: FakeCloudflare, remote_envs
) -> None:
    _top, prod = remote_envs
    info = cli("d1", "time-travel", "info", "DB", "--env", "production", "--json")
    assert info.exit_code == 0, info.output
    mark = json.loads(info.stdout)["bookmark"]
    assert json.loads(info.stdout)["restore_command"].endswith("--env production")
    result = cli(
        "d1", "time-travel", "restore", "DB", "--bookmark", mark, "-e", "production", "--yes",
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(_line("D1 database", "worktime-db-prod", prod, "production"))
    data = json.loads(result.stdout)
    assert data["target"] == _target("worktime-db-prod", prod, "production")
    assert fake.calls("POST", f"/d1/database/{prod}/time_travel/restore")


def test_remote_import_goes_to_the_envs_database(
    cli, fake: FakeCloudflare, remote_envs, project: Path
) -> None:
    top, prod = remote_envs
    cli("d1", "execute", "DB", "--remote", "-e", "production", "--command", "CREATE TABLE u (a)")
    (project / "rows.csv").write_text("a\n1\n2\n")
    before = len(fake.calls("POST", "/query$"))
    result = cli("d1", "import", "DB", "u", "rows.csv", "--remote", "--env", "production")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(_line("D1 database", "worktime-db-prod", prod, "production"))
    sent = fake.calls("POST", "/query$")[before:]
    assert sent and all(f"/d1/database/{prod}/query" in r.path for r in sent)
    assert not fake.calls("POST", f"/d1/database/{top}/")
    dry = cli("d1", "import", "DB", "u", "rows.csv", "--remote", "-e", "production", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "target:" not in dry.stderr  # nothing is written


# --- d1 export --output - ---------------------------------------------------------------------


def test_export_to_stdout_locally(cli, project: Path) -> None:
    cli("d1", "create", "worktime-db")
    cli("d1", "execute", "DB", "--command", "CREATE TABLE t (a); INSERT INTO t VALUES ('x')")
    result = cli("d1", "export", "DB", "--output", "-")
    assert result.exit_code == 0, result.output
    assert not (project / "-").exists()
    assert "CREATE TABLE t (a);" in result.stdout
    assert 'INSERT INTO "t"' in result.stdout or "INSERT INTO t" in result.stdout
    assert result.stderr.startswith("✓ exported 1 table(s), 1 row(s) to stdout")


def test_export_to_stdout_remotely(cli, fake: FakeCloudflare, remote_envs, project) -> None:
    _top, prod = remote_envs
    cli("d1", "execute", "DB", "--remote", "-e", "production", "--command", "CREATE TABLE p (a)")
    result = cli("d1", "export", "DB", "--remote", "--env", "production", "--output", "-")
    assert result.exit_code == 0, result.output
    assert not (project / "-").exists()
    assert "CREATE TABLE p" in result.stdout
    assert fake.calls("POST", f"/d1/database/{prod}/export$")


def test_export_to_stdout_with_json_is_a_usage_error(cli, project: Path) -> None:
    cli("d1", "create", "worktime-db")
    result = cli("d1", "export", "DB", "--output", "-", "--json")
    assert result.exit_code == 2
    assert not (project / "-").exists()


@pytest.mark.parametrize("argv", [["types"], ["doctor"], ["types", "--check"]])
def test_types_and_doctor_refuse_an_unknown_env_as_every_command_does(cli, argv) -> None:
    """They used to answer with an error of their own (types, exit 1) or report the
    environment as fine (doctor, checking the top level's databases)."""
    done = cli(*argv, "--env", "nope")
    assert done.exit_code == 2, done.output
    assert "no environment 'nope'" in done.stderr
