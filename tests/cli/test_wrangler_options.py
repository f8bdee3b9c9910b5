"""wrangler 4.164's options on the commands worktime mirrors (issue 22 item 5), through the
CLI, locally and against the fake Cloudflare API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.fake_cloudflare import FakeCloudflare, fake_fixture
from worktime_cli.project import config

fake = pytest.fixture(name="fake")(fake_fixture)

PROD_NS = "a" * 32
PREVIEW_NS = "b" * 32


def _kv_config(project: Path, *, preview_id: str | None = PREVIEW_NS) -> None:
    preview = f'preview_id = "{preview_id}"\n' if preview_id else ""
    (project / "wrangler.toml").write_text(
        f'name = "worktime-backend"\n\n[[kv_namespaces]]\nbinding = "KV"\nid = "{PROD_NS}"\n'
        + preview,
        encoding="utf-8",
    )


# --- --preview: kv ---------------------------------------------------------------------------


def test_kv_preview_locally_uses_the_chosen_ids_folder(cli, project: Path) -> None:
    # wrangler's getKVNamespaceId: --preview the preview_id, --no-preview the id; locally that
    # id is also the folder (miniflare's namespace name), as `wrangler kv … --local --preview`.
    _kv_config(project)
    assert cli("kv", "key", "put", "k", "p", "--binding", "KV", "--preview").exit_code == 0
    assert cli("kv", "key", "put", "k", "n", "--binding", "KV", "--no-preview").exit_code == 0
    got = cli("kv", "key", "get", "k", "--binding", "KV", "--preview", "--text")
    assert got.stdout == "p\n"
    assert cli("kv", "key", "get", "k", "--binding", "KV", "--no-preview", "--text").stdout == "n\n"
    # No flag: `wrangler dev`'s namespace (preview_id ?? id), as before.
    assert cli("kv", "key", "get", "k", "--binding", "KV", "--text").stdout == "p\n"
    kv_root = project / ".wrangler" / "state" / "v3" / "kv"
    assert {p.name for p in kv_root.iterdir() if p.is_dir()} >= {PROD_NS, PREVIEW_NS}


def test_kv_preview_without_preview_id_is_wranglers_error(cli, project: Path) -> None:
    _kv_config(project, preview_id=None)
    result = cli("kv", "key", "get", "k", "--binding", "KV", "--preview")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: No preview namespace ID is configured for binding 'KV'\n"
    )


def test_kv_preview_remote_sends_to_the_preview_namespace(
    fake: FakeCloudflare, cli, project: Path
) -> None:
    fake.namespaces[PROD_NS] = {"title": "prod", "entries": {}}
    fake.namespaces[PREVIEW_NS] = {"title": "preview", "entries": {}}
    _kv_config(project)
    put = cli("kv", "key", "put", "k", "v", "--binding", "KV", "--remote", "--preview")
    assert put.exit_code == 0, put.output
    assert fake.calls("PUT", f"/storage/kv/namespaces/{PREVIEW_NS}/values/k")
    assert not fake.calls("PUT", f"/storage/kv/namespaces/{PROD_NS}/")
    bulk = project / "items.json"
    bulk.write_text(json.dumps([{"key": "b", "value": "1"}]), encoding="utf-8")
    done = cli("kv", "bulk", "put", str(bulk), "--binding", "KV", "--remote", "--no-preview")
    assert done.exit_code == 0, done.output
    assert fake.calls("PUT", f"/storage/kv/namespaces/{PROD_NS}/bulk")
    assert set(fake.namespaces[PREVIEW_NS]["entries"]) == {"k"}
    assert set(fake.namespaces[PROD_NS]["entries"]) == {"b"}


# --- --preview: d1 ---------------------------------------------------------------------------


@pytest.fixture
def preview_db(fake: FakeCloudflare, project: Path) -> tuple[str, str]:
    prod = fake.add_database("worktime-db")
    preview = fake.add_database("worktime-db-preview")
    (project / "wrangler.toml").write_text(
        'name = "worktime-backend"\n\n[[d1_databases]]\nbinding = "DB"\n'
        f'database_name = "worktime-db"\ndatabase_id = "{prod.uuid}"\n'
        f'preview_database_id = "{preview.uuid}"\nmigrations_dir = "migrations"\n',
        encoding="utf-8",
    )
    (project / "migrations").mkdir()
    (project / "migrations" / "0001_init.sql").write_text("CREATE TABLE a (x);\n")
    return prod.uuid, preview.uuid


def test_d1_execute_preview_remote_queries_the_preview_database(
    fake: FakeCloudflare, cli, preview_db: tuple[str, str]
) -> None:
    prod, preview = preview_db
    result = cli("d1", "execute", "DB", "--remote", "--preview", "--command", "SELECT 1 AS one")
    assert result.exit_code == 0, result.output
    assert fake.calls("POST", f"/d1/database/{preview}/query$")
    assert not fake.calls("POST", f"/d1/database/{prod}/query$")


def test_d1_migrations_preview_remote_applies_to_the_preview_database(
    fake: FakeCloudflare, cli, preview_db: tuple[str, str]
) -> None:
    prod, preview = preview_db
    listed = cli("d1", "migrations", "list", "DB", "--remote", "--preview", "--json")
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout)["database_id"] == preview
    applied = cli("d1", "migrations", "apply", "DB", "--remote", "--preview", "--json")
    assert applied.exit_code == 0, applied.output
    assert fake.calls("POST", f"/d1/database/{preview}/query$")
    assert not fake.calls("POST", f"/d1/database/{prod}/query$")


@pytest.mark.parametrize(
    "args",
    [
        ("d1", "execute", "DB", "--preview", "--command", "SELECT 1"),
        ("d1", "migrations", "list", "DB", "--preview"),
        ("d1", "migrations", "apply", "DB", "--preview"),
    ],
)
def test_d1_preview_without_remote_is_refused_as_wrangler(
    cli, preview_db: tuple[str, str], args: tuple[str, ...]
) -> None:
    # wrangler 4.164: "Cannot use --preview without --remote"; locally the file is already
    # the preview_database_id's (miniflare's `preview_database_id ?? database_id`).
    result = cli(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --preview needs --remote\n")


def test_d1_preview_without_preview_database_id_is_wranglers_error(
    fake: FakeCloudflare, cli, project: Path
) -> None:
    db = fake.add_database("worktime-db")
    (project / "wrangler.toml").write_text(
        'name = "worktime-backend"\n\n[[d1_databases]]\nbinding = "DB"\n'
        f'database_name = "worktime-db"\ndatabase_id = "{db.uuid}"\n',
        encoding="utf-8",
    )
    result = cli("d1", "execute", "DB", "--remote", "--preview", "--command", "SELECT 1")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: Please define a `preview_database_id` in your wrangler.toml file"
    )
    assert config.load().d1("DB").preview_database_id is None


# --- kv bulk put --ttl/--expiration/--metadata -----------------------------------------------


@pytest.mark.parametrize(
    ("flags", "fields"),
    [
        (("--ttl", "3600"), '"expiration_ttl"'),
        (("--expiration", "1900000000", "--metadata", "{}"), '"expiration", "metadata"'),
    ],
)
def test_kv_bulk_put_refuses_the_flags_wrangler_ignores(
    cli, project: Path, flags: tuple[str, ...], fields: str
) -> None:
    # wrangler 4.164 declares them (putCommonArgs) but its bulk put handler never reads them:
    # applying them here would expire keys that wrangler keeps.
    _kv_config(project)
    items = project / "items.json"
    items.write_text(json.dumps([{"key": "k", "value": "v"}]), encoding="utf-8")
    result = cli("kv", "bulk", "put", str(items), "--binding", "KV", *flags)
    assert result.exit_code == 2
    assert f"hint: set {fields} in each item of the JSON file" in result.stderr
    assert "wrangler 4.164 accepts" in result.stderr
    assert cli("kv", "key", "list", "--binding", "KV", "--json").stdout.strip() == "[]"


# --- secret list --format --------------------------------------------------------------------


def test_secret_list_format_json_is_json_and_pretty_the_table(cli, project: Path) -> None:
    as_json = cli("secret", "list", "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    assert as_json.stdout == cli("secret", "list", "--json").stdout
    assert json.loads(as_json.stdout)["secrets"] == []
    pretty = cli("secret", "list", "--format", "pretty")
    assert pretty.exit_code == 0, pretty.output
    assert pretty.stdout == cli("secret", "list").stdout
    bad = cli("secret", "list", "--format", "xml")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: --format must be json or pretty, not 'xml'\n")
    both = cli("secret", "list", "--json", "--format", "pretty")
    assert both.exit_code == 2


# --- kv bulk get -----------------------------------------------------------------------------


def test_kv_bulk_get_prints_wranglers_local_shape(cli, project: Path) -> None:
    _kv_config(project)
    assert cli("kv", "key", "put", "a", "1", "--binding", "KV").exit_code == 0
    keys = project / "keys.json"
    keys.write_text(json.dumps(["a", {"name": "absent"}]), encoding="utf-8")
    result = cli("kv", "bulk", "get", str(keys), "--binding", "KV")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"a": {"value": "1"}, "absent": {"value": None}}


def test_kv_bulk_get_remote_reads_the_chosen_namespace(
    fake: FakeCloudflare, cli, project: Path
) -> None:
    fake.namespaces[PROD_NS] = {"title": "prod", "entries": {}}
    fake.namespaces[PREVIEW_NS] = {"title": "preview", "entries": {}}
    _kv_config(project)
    put = cli("kv", "key", "put", "a", "p", "--binding", "KV", "--remote", "--preview")
    assert put.exit_code == 0, put.output
    keys = project / "keys.json"
    keys.write_text(json.dumps(["a"]), encoding="utf-8")
    got = cli("kv", "bulk", "get", str(keys), "--binding", "KV", "--remote", "--preview")
    assert got.exit_code == 0, got.output
    assert json.loads(got.stdout) == {"a": {"value": "p"}}
    prod = cli("kv", "bulk", "get", str(keys), "--binding", "KV", "--remote", "--no-preview")
    assert json.loads(prod.stdout) == {"a": {"value": None}}


# --- -y/--skip-confirmation ------------------------------------------------------------------


def test_skip_confirmation_is_yes(cli, project: Path) -> None:
    _kv_config(project)
    assert cli("kv", "key", "put", "a", "1", "--binding", "KV").exit_code == 0
    keys = project / "keys.json"
    keys.write_text(json.dumps(["a"]), encoding="utf-8")
    done = cli("kv", "bulk", "delete", str(keys), "--binding", "KV", "--skip-confirmation")
    assert done.exit_code == 0, done.output
    assert cli("kv", "key", "get", "a", "--binding", "KV").exit_code == 1


# --- kv namespace create --binding/--update-config, kv namespace rename ----------------------


def test_namespace_create_accepts_wranglers_binding_and_update_config(cli, project: Path) -> None:
    done = cli("kv", "namespace", "create", "KV", "--binding", "KV", "--update-config")
    assert done.exit_code == 0, done.output
    assert config.load().kv(binding="KV").id
    other = cli("kv", "namespace", "create", "my-title", "--binding", "CACHE")
    assert other.exit_code == 2
    assert "hint: run `worktime kv namespace create CACHE`" in other.stderr
    assert [ns.binding for ns in config.load().kv_namespaces] == ["KV"]


def test_namespace_rename_is_refused_naming_wrangler(cli, project: Path) -> None:
    result = cli("kv", "namespace", "rename", "old", "--new-name", "new")
    assert result.exit_code == 2
    assert "npx wrangler kv namespace rename OLD --new-name NEW" in result.stderr


# --- d1 export --compatibility ---------------------------------------------------------------


def test_d1_export_compatibility_d1_is_accepted_and_sqlite3_cli_only_refused(
    cli, project: Path
) -> None:
    assert cli("d1", "create", "worktime-db").exit_code == 0
    out = project / "dump.sql"
    done = cli("d1", "export", "worktime-db", "--output", str(out), "--compatibility", "d1")
    assert done.exit_code == 0, done.output
    assert out.is_file()
    refused = cli(
        "d1", "export", "worktime-db", "--output", str(out), "--compatibility", "sqlite3_cli_only"
    )
    assert refused.exit_code == 2
    assert "`sqlite3 FILE .dump`" in refused.stderr
