from __future__ import annotations

from pathlib import Path

import pytest

from worktime_cli.errors import ConfigError, NotFoundError
from worktime_cli.project import bindings, config, editing

SEED_TOML = """\
# wrangler.toml
name = "worktime-backend"
main = "src/index.ts"
compatibility_date = "2024-01-01"
node_compat = true

[observability]
enabled = true

[[d1_databases]]
binding = "DB" # the Worker's env.DB
database_name = "worktime-db"
database_id = "your-database-id"
migrations_dir = "migrations"

[[kv_namespaces]]
binding = "KV"
id = "your-kv-id"

[vars]
ENVIRONMENT = "development"

# Secrets (use wrangler secret put)
# JWT_SECRET
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_found_in_cwd_and_parents(project):
    write(project / "wrangler.toml", SEED_TOML)
    sub = project / "src" / "deep"
    sub.mkdir(parents=True)
    assert config.find(start=sub) == project / "wrangler.toml"
    cfg = config.load(start=sub)
    assert cfg.root == project
    assert cfg.name == "worktime-backend"


def test_explicit_config_wins(project, tmp_path):
    other = write(tmp_path / "other.toml", 'name = "other"\n')
    assert config.load(other).name == "other"


def test_missing_config_says_what_to_do(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError) as err:
        config.find(start=empty)
    assert "no wrangler.json, wrangler.jsonc or wrangler.toml in" in err.value.message
    assert err.value.hint == "run `worktime init` or pass --config"


def test_explicit_missing_config(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        config.find(tmp_path / "nope.toml")


def test_syntax_error_names_file_line_and_column(project):
    path = write(project / "wrangler.toml", 'name = "x"\n\n[vars\nA = 1\n')
    with pytest.raises(ConfigError) as err:
        config.load()
    assert err.value.message.startswith(f"{path}:3:")
    assert "invalid TOML" in err.value.message


def test_seed_config_parses_with_defaults(project):
    write(project / "wrangler.toml", SEED_TOML)
    cfg = config.load()
    (db,) = cfg.d1_databases
    assert db == config.D1Binding(
        binding="DB",
        database_name="worktime-db",
        database_id="your-database-id",
        migrations_dir="migrations",
        migrations_table="d1_migrations",
    )
    assert cfg.kv_namespaces == (config.KVBinding(binding="KV", id="your-kv-id"),)
    assert cfg.d1("DB") is db
    assert cfg.d1("worktime-db") is db


def test_unknown_database_lists_the_configured_ones(project):
    write(project / "wrangler.toml", SEED_TOML)
    with pytest.raises(NotFoundError) as err:
        config.load().d1("nope")
    assert err.value.message == (
        "database 'nope' is not configured in wrangler.toml (configured: worktime-db)"
    )


def test_duplicate_bindings_are_refused(project):
    write(
        project / "wrangler.toml",
        '[[d1_databases]]\nbinding = "DB"\ndatabase_name = "a"\n\n'
        '[[kv_namespaces]]\nbinding = "DB"\nid = "x"\n',
    )
    with pytest.raises(ConfigError, match=r"binding 'DB' is used twice"):
        config.load()


def test_duplicate_database_names_are_refused(project):
    write(
        project / "wrangler.toml",
        '[[d1_databases]]\nbinding = "A"\ndatabase_name = "a"\n\n'
        '[[d1_databases]]\nbinding = "B"\ndatabase_name = "a"\n',
    )
    with pytest.raises(ConfigError, match="configured twice"):
        config.load()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('d1_databases = "x"\n', "must be an array of tables"),
        ('[[d1_databases]]\ndatabase_name = "a"\n', "has no `binding`"),
        ("[[d1_databases]]\nbinding = 3\n", "must be a non-empty string"),
        ('[[kv_namespaces]]\nid = "x"\n', "has no `binding`"),
    ],
)
def test_bad_entries_get_one_clear_line(project, text, message):
    write(project / "wrangler.toml", text)
    with pytest.raises(ConfigError, match=message):
        config.load()


def test_append_keeps_comments_and_unknown_keys(project):
    path = write(project / "wrangler.toml", SEED_TOML + '\n[unknown_table]\nweird = [1, "two"]\n')
    editing.append_table(path, "d1_databases", {"binding": "OTHER", "database_name": "other"})
    text = path.read_text()
    new_entry = '[[d1_databases]]\nbinding = "OTHER"\ndatabase_name = "other"\n\n'
    # The entry lands after its sibling; every other byte is as it was.
    assert text.replace(new_entry, "") == SEED_TOML + '\n[unknown_table]\nweird = [1, "two"]\n'
    assert text.index(new_entry) < text.index("[[kv_namespaces]]")
    cfg = config.load()
    assert [db.binding for db in cfg.d1_databases] == ["DB", "OTHER"]


def test_update_and_remove_entries(project):
    path = write(project / "wrangler.toml", SEED_TOML)
    editing.update_table(path, "d1_databases", {"binding": "DB"}, {"database_id": "new-id"})
    assert config.load().d1("DB").database_id == "new-id"
    assert "# the Worker's env.DB" in path.read_text()
    editing.remove_table(path, "d1_databases", {"binding": "DB"})
    text = path.read_text()
    assert "d1_databases" not in text
    assert "[[kv_namespaces]]" in text
    assert "# Secrets (use wrangler secret put)" in text


def test_edit_that_would_break_the_file_writes_nothing(project):
    path = write(project / "wrangler.toml", SEED_TOML)
    with pytest.raises(ConfigError):
        editing.append_table(path, "kv_namespaces", {"binding": "DB", "id": "dup"})
    assert path.read_text() == SEED_TOML
    assert list(project.glob(".wrangler.toml.*")) == []


@pytest.mark.parametrize(
    ("name", "binding"),
    [("worktime-db", "WORKTIME_DB"), ("my.db", "MY_DB"), ("1st", "_1ST"), ("ok_name", "OK_NAME")],
)
def test_binding_from_name(name, binding):
    assert bindings.binding_from_name(name) == binding


# --- unknown names: "did you mean", never "create it" next to a configured name (issue 10) ---


def test_unknown_database_typo_gets_did_you_mean(project):
    write(project / "wrangler.toml", SEED_TOML)
    with pytest.raises(NotFoundError) as err:
        config.load().d1("worktime_db")
    assert err.value.hint == "did you mean 'worktime-db'?"


def test_unknown_database_far_from_all_lists_them(project):
    write(project / "wrangler.toml", SEED_TOML)
    with pytest.raises(NotFoundError) as err:
        config.load().d1("nope")
    assert err.value.hint == "use one of: worktime-db"


def test_unknown_database_with_none_configured_says_create(project):
    with pytest.raises(NotFoundError) as err:
        config.load().d1("worktime-db")
    assert err.value.hint == "create it with `worktime d1 create worktime-db`"


def test_unknown_kv_binding_gets_did_you_mean(project):
    write(project / "wrangler.toml", SEED_TOML)
    with pytest.raises(NotFoundError) as err:
        config.load().kv(binding="kv")
    assert err.value.message == (
        "KV binding 'kv' is not configured in wrangler.toml (configured: KV)"
    )
    assert err.value.hint == "did you mean 'KV'?"


def test_cli_typo_in_database_name_suggests_the_configured_one(project, cli):
    """Regression: `d1 execute worktime_db` used to hint `d1 create worktime_db`."""
    write(project / "wrangler.toml", SEED_TOML)
    result = cli("d1", "execute", "worktime_db", "--command", "SELECT 1")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: database 'worktime_db' is not configured in wrangler.toml "
        "(configured: worktime-db)\n"
        "hint: did you mean 'worktime-db'?\n"
    )
    assert "d1 create" not in result.output


# --- hostile input (issue 13) ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 3000 + "]" * 3000 + "\n",
        "a = " + "{b = " * 3000 + "1" + "}" * 3000 + "\n",
    ],
)
def test_deep_nesting_in_toml_is_one_clear_line(project, text):
    write(project / "wrangler.toml", text)
    with pytest.raises(ConfigError) as err:
        config.load()
    assert err.value.message == f"{project / 'wrangler.toml'}: nesting is too deep"
    # Editing refuses the same file the same way (tomlkit would recurse too).
    with pytest.raises(ConfigError, match="nesting is too deep"):
        editing.append_table(project / "wrangler.toml", "kv_namespaces", {"binding": "KV"})


@pytest.mark.parametrize(
    ("text", "env", "written"),
    [
        (
            'name = "x"\nkv_namespaces = [\n  { binding = "A", id = "a" },\n]\n',
            None,
            'name = "x"\nkv_namespaces = [\n  { binding = "A", id = "a" },\n'
            '  {binding = "KV", id = "k"},\n]\n',
        ),
        (
            'name = "x"\n\n[env]\nproduction = { name = "p" }\n',
            "production",
            'name = "x"\n\n[env]\n'
            'production = { name = "p", kv_namespaces = [{binding = "KV", id = "k"}]}\n',
        ),
    ],
)
def test_inline_tables_get_inline_entries(project, text, env, written):
    """A `[[table]]` cannot go inside an inline array or table: write the file's own way."""
    path = write(project / "wrangler.toml", text)
    cfg = editing.append_table(config.load(env=env), "kv_namespaces", {"binding": "KV", "id": "k"})
    assert path.read_text() == written
    assert cfg.kv(binding="KV").id == "k"
    editing.remove_table(cfg, "kv_namespaces", {"binding": "KV"})
    assert path.read_text() == text


def test_an_edit_tomlkit_cannot_write_is_refused_untouched(project):
    path = write(project / "wrangler.toml", SEED_TOML)
    with pytest.raises(ConfigError) as err:
        editing.edit(path, lambda document: document.set("x", None))
    assert (
        err.value.message == f"{path}: worktime could not make this edit without breaking the file"
    )
    assert path.read_text() == SEED_TOML
