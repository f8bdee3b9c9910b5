"""wrangler.json / wrangler.jsonc: found as wrangler finds them, read, and edited in place.

The fixture is shaped like what `create cloudflare` writes (block and line comments,
trailing commas, `$schema`, `compatibility_flags`). Edits must keep every byte outside the
edited region, and the real wrangler must read every file worktime edited.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import random
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worktime_cli.errors import ConfigError, NotFoundError
from worktime_cli.project import config, editing, state

DATA = Path(__file__).parent / "data" / "jsonc"
C3 = (DATA / "create-cloudflare.jsonc").read_text(encoding="utf-8")

D1_ENTRY = {
    "binding": "DB",
    "database_name": "worktime-db",
    "database_id": "00000000-0000-4000-8000-000000000001",
    "migrations_dir": "migrations",
}
KV_ENTRY = {"binding": "KV", "id": "0f2ac74b498b48028cb68387c421e279"}


@pytest.fixture
def jsonc(project: Path) -> Path:
    """The project with only a create-cloudflare wrangler.jsonc (no wrangler.toml)."""
    (project / "wrangler.toml").unlink()
    path = project / "wrangler.jsonc"
    path.write_text(C3, encoding="utf-8")
    return path


def only_insertions(before: str, after: str) -> list[str]:
    """The inserted runs (one alignment of them), asserting no byte of `before` changed."""
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    inserted = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        assert op in ("equal", "insert"), (op, before[i1:i2], after[j1:j2])
        if op == "insert":
            inserted.append(after[j1:j2])
    return inserted


def test_create_cloudflare_config_loads(jsonc: Path) -> None:
    cfg = config.load()
    assert cfg.path == jsonc
    assert cfg.format == "jsonc"
    assert cfg.name == "worktime-backend"
    assert cfg.main == "src/index.ts"
    assert cfg.compatibility_date == "2025-04-01"
    assert cfg.section["compatibility_flags"] == ["nodejs_compat"]
    assert cfg.section["$schema"] == "node_modules/wrangler/config-schema.json"
    assert cfg.d1_databases == ()
    assert cfg.kv_namespaces == ()


def test_append_keeps_every_comment_byte_for_byte(jsonc: Path) -> None:
    cfg = editing.append_table(config.load(), "d1_databases", D1_ENTRY)
    cfg = editing.append_table(cfg, "kv_namespaces", KV_ENTRY)
    text = jsonc.read_text(encoding="utf-8")
    only_insertions(C3, text)
    # Both arrays land after the last member, in the file's own style (tabs, trailing comma).
    anchor = '\t"observability": {\n\t\t"enabled": true,\n\t},\n'
    assert text == C3.replace(
        anchor,
        anchor + '\t"d1_databases": [\n\t\t{\n\t\t\t"binding": "DB",\n'
        '\t\t\t"database_name": "worktime-db",\n'
        '\t\t\t"database_id": "00000000-0000-4000-8000-000000000001",\n'
        '\t\t\t"migrations_dir": "migrations"\n\t\t}\n\t],\n'
        '\t"kv_namespaces": [\n\t\t{\n\t\t\t"binding": "KV",\n'
        '\t\t\t"id": "0f2ac74b498b48028cb68387c421e279"\n\t\t}\n\t],\n',
    )
    assert cfg.d1("worktime-db").database_id == D1_ENTRY["database_id"]
    assert config.load().kv(binding="KV").id == KV_ENTRY["id"]


def test_second_entry_goes_after_its_sibling(jsonc: Path) -> None:
    editing.append_table(jsonc, "d1_databases", D1_ENTRY)
    before = jsonc.read_text(encoding="utf-8")
    cfg = editing.append_table(jsonc, "d1_databases", {"binding": "B", "database_name": "b"})
    after = jsonc.read_text(encoding="utf-8")
    only_insertions(before, after)
    closing = '"migrations_dir": "migrations"\n\t\t}'
    assert after == before.replace(
        closing, closing + ',\n\t\t{\n\t\t\t"binding": "B",\n\t\t\t"database_name": "b"\n\t\t}'
    )
    assert [db.binding for db in cfg.d1_databases] == ["DB", "B"]


def test_update_touches_only_the_value(jsonc: Path) -> None:
    editing.append_table(jsonc, "d1_databases", D1_ENTRY)
    before = jsonc.read_text(encoding="utf-8")
    cfg = editing.update_table(jsonc, "d1_databases", {"binding": "DB"}, {"database_id": "new-id"})
    after = jsonc.read_text(encoding="utf-8")
    assert after == before.replace(D1_ENTRY["database_id"], "new-id")
    assert cfg.d1("DB").database_id == "new-id"


def test_remove_restores_the_original_file(jsonc: Path) -> None:
    editing.append_table(jsonc, "d1_databases", D1_ENTRY)
    editing.append_table(jsonc, "kv_namespaces", KV_ENTRY)
    editing.remove_table(jsonc, "kv_namespaces", {"binding": "KV"})
    cfg = editing.remove_table(jsonc, "d1_databases", {"binding": "DB"})
    assert jsonc.read_text(encoding="utf-8") == C3
    assert cfg.d1_databases == ()


def test_remove_the_last_member_drops_its_comma(project: Path) -> None:
    path = project / "wrangler.json"
    path.write_text(
        '{\n    "name": "x", // the Worker\n    "kv_namespaces": [\n'
        '        { "binding": "A" },\n        { "binding": "B" } // B\n    ]\n}\n',
        encoding="utf-8",
    )
    editing.remove_table(path, "kv_namespaces", {"binding": "B"})
    assert path.read_text(encoding="utf-8") == (
        '{\n    "name": "x", // the Worker\n    "kv_namespaces": [\n'
        '        { "binding": "A" }\n    ]\n}\n'
    )


def test_indent_follows_the_file(project: Path) -> None:
    path = project / "wrangler.json"
    path.write_text('{\n  "name": "x",\n  "kv_namespaces": []\n}\n', encoding="utf-8")
    editing.append_table(path, "kv_namespaces", {"binding": "KV", "id": "a"})
    assert path.read_text(encoding="utf-8") == (
        '{\n  "name": "x",\n  "kv_namespaces": [\n    {\n      "binding": "KV",\n'
        '      "id": "a"\n    }\n  ]\n}\n'
    )


def test_one_line_file_stays_on_one_line(project: Path) -> None:
    path = project / "wrangler.json"
    path.write_text('{"name": "x", "kv_namespaces": [{"binding": "A"}]}', encoding="utf-8")
    editing.append_table(path, "kv_namespaces", {"binding": "B"})
    assert path.read_text(encoding="utf-8") == (
        '{"name": "x", "kv_namespaces": [{"binding": "A"}, {"binding": "B"}]}'
    )


def test_dict_style_callbacks_work_on_both_formats(project: Path) -> None:
    """`init` extends an existing config with a dict-like callback; the same code must
    work on TOML and JSONC (callers never branch on the format)."""

    def extend(document: editing.Document) -> None:
        if "main" not in document:
            document["main"] = "src/index.ts"
        if "vars" not in document:
            document["vars"] = {"ENVIRONMENT": "development"}
        document.setdefault("d1_databases", []).append(dict(D1_ENTRY))

    for name in ("wrangler.toml", "wrangler.jsonc"):
        path = project / name
        path.write_text(
            'name = "x" # keep\n' if name.endswith("toml") else '{\n\t"name": "x", // keep\n}\n',
            encoding="utf-8",
        )
        cfg = editing.edit(path, extend)
        assert cfg.main == "src/index.ts"
        assert cfg.section["vars"] == {"ENVIRONMENT": "development"}
        assert cfg.d1("DB").database_name == "worktime-db"
        assert "keep" in path.read_text(encoding="utf-8")
        # A second run finds everything in place and leaves the file alone.
        before = path.read_text(encoding="utf-8")
        editing.edit(path, lambda document: None)
        assert path.read_text(encoding="utf-8") == before


def test_edit_that_would_break_the_file_writes_nothing(jsonc: Path) -> None:
    editing.append_table(jsonc, "d1_databases", D1_ENTRY)
    before = jsonc.read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match="binding 'DB' is used twice"):
        editing.append_table(jsonc, "kv_namespaces", {"binding": "DB", "id": "dup"})
    assert jsonc.read_text(encoding="utf-8") == before
    assert list(jsonc.parent.glob(".wrangler.jsonc.*")) == []


def test_messages_name_the_actual_file(jsonc: Path) -> None:
    with pytest.raises(NotFoundError) as err:
        config.load().d1("worktime-db")
    assert err.value.message == (
        "database 'worktime-db' is not configured in wrangler.jsonc (configured: none)"
    )
    jsonc.write_text('{\n\t"name": "x",\n\t"main": \n}\n', encoding="utf-8")
    with pytest.raises(ConfigError) as syntax:
        config.load()
    assert syntax.value.message.startswith(f"{jsonc}:4:1: invalid JSON: ")
    assert "\n" not in syntax.value.message


@pytest.mark.parametrize("name", ["wrangler.json", "wrangler.jsonc"])
def test_comments_and_trailing_commas_are_read(project: Path, name: str) -> None:
    (project / "wrangler.toml").unlink()
    (project / name).write_text(
        '// c\n{ /* b */ "name": "x", "vars": { "A": "1", }, }\n', encoding="utf-8"
    )
    cfg = config.load()
    assert cfg.path.name == name
    assert cfg.section["vars"] == {"A": "1"}


def test_discovery_order_is_wranglers(project: Path) -> None:
    sub = project / "sub"
    sub.mkdir()
    (sub / "wrangler.toml").write_text('name = "toml"\n', encoding="utf-8")
    (sub / "wrangler.jsonc").write_text('{"name": "jsonc"}', encoding="utf-8")
    assert config.load(start=sub).name == "jsonc"
    (sub / "wrangler.json").write_text('{"name": "json"}', encoding="utf-8")
    assert config.load(start=sub).name == "json"
    # wrangler finds up one name at a time: a wrangler.json above beats a wrangler.toml here.
    (sub / "wrangler.json").unlink()
    (sub / "wrangler.jsonc").unlink()
    (project / "wrangler.json").write_text('{"name": "parent-json"}', encoding="utf-8")
    assert config.load(start=sub).name == "parent-json"


@pytest.mark.parametrize("suffix", ["json", "jsonc", "toml"])
def test_explicit_config_of_any_format(project: Path, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"custom.{suffix}"
    path.write_text('name = "c"\n' if suffix == "toml" else '{"name": "c"}', encoding="utf-8")
    assert config.load(path).name == "c"


def test_deep_nesting_is_one_clear_line(jsonc: Path) -> None:
    jsonc.write_text('{"vars": {"A": ' + "[" * 3000 + "]" * 3000 + "}}", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        config.load()
    assert "nesting is deeper than" in err.value.message
    assert "\n" not in err.value.message


# --- the real wrangler reads what worktime wrote ---------------------------------------------


def run_wrangler(wrangler: str, project: Path, *args: str) -> str:
    out = subprocess.run(
        [wrangler, *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "WRANGLER_SEND_METRICS": "false", "CI": "true"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.mark.wrangler
@pytest.mark.slow
def test_wrangler_reads_the_edited_jsonc(wrangler: str, jsonc: Path) -> None:
    from worktime_cli.kv import KVStore

    cfg = editing.append_table(config.load(), "d1_databases", D1_ENTRY)
    cfg = editing.append_table(cfg, "kv_namespaces", KV_ENTRY)
    cfg = editing.update_table(cfg, "d1_databases", {"binding": "DB"}, {"database_id": "db-1"})
    only_insertions(C3, jsonc.read_text(encoding="utf-8"))
    # Data written where worktime resolves the bindings; wrangler must resolve the same.
    root = state.root(cfg)
    with KVStore(root, cfg.kv(binding="KV").local_id) as store:
        store.put("greeting", b"hello from worktime")
    path = state.d1_path(root, cfg.d1("DB").local_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE t (v TEXT)")
        conn.execute("INSERT INTO t VALUES ('row from worktime')")

    project = jsonc.parent
    got = run_wrangler(
        wrangler, project, "kv", "key", "get", "greeting", "--binding", "KV", "--local"
    )
    assert got == "hello from worktime"
    out = run_wrangler(
        wrangler,
        project,
        "d1",
        "execute",
        "DB",
        "--local",
        "--json",
        "--command",
        "SELECT v FROM t",
    )
    assert json.loads(out)[0]["results"] == [{"v": "row from worktime"}]


def test_find_in_one_folder_only(project: Path) -> None:
    sub = project / "sub"
    sub.mkdir()
    assert config.find_in(sub) is None  # the parent's wrangler.toml is not this folder's
    assert config.find_in(project) == project / "wrangler.toml"
    (project / "wrangler.jsonc").write_text("{}", encoding="utf-8")
    assert config.find_in(project) == project / "wrangler.jsonc"


@pytest.mark.parametrize(
    "text",
    ["{'name': 'x'}", '{name: "x"}', '{"n": 0x10}', '{"n": .5}', '{"a": 1,,}'],
)
def test_json5_only_syntax_is_refused_as_wrangler_does(jsonc: Path, text: str) -> None:
    """jsonc-parser (wrangler) accepts comments and trailing commas, not JSON5's extras."""
    jsonc.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"wrangler\.jsonc:1:\d+: invalid JSON: "):
        config.load()


_scalars = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=8)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(
    extra=st.dictionaries(st.sampled_from(["vars", "x", "routes", "$schema"]), _values, max_size=3),
    entries=st.lists(st.sampled_from(["A", "B", "C", "D"]), min_size=1, max_size=3, unique=True),
    order=st.randoms(use_true_random=False),
    indent=st.sampled_from(["\t", "  ", "    ", None]),
    trailing=st.booleans(),
    tight=st.booleans(),
)
def test_append_then_remove_round_trips(
    tmp_path_factory: pytest.TempPathFactory,
    extra: dict[str, object],
    entries: list[str],
    order: random.Random,
    indent: str | None,
    trailing: bool,
    tight: bool,
) -> None:
    """Any layout: appending entries and removing them again (in any order) gives back
    the same bytes."""
    path = tmp_path_factory.mktemp("rt") / "wrangler.jsonc"
    text = json.dumps({"name": "x", **extra}, indent=indent, ensure_ascii=False)
    if tight:  # closing brackets on the line of the last member: `"x": 1}`
        text = re.sub(r"\n\s*([\]}])", r"\1", text)
    if trailing:
        text = text[: text.rindex("}")].rstrip() + ", // the end\n}"
    text = "// top comment\n" + text + "\n"
    path.write_text(text, encoding="utf-8")
    for binding in entries:
        editing.append_table(path, "kv_namespaces", {"binding": binding, "id": binding.lower()})
    cfg = config.load(path)
    assert [ns.binding for ns in cfg.kv_namespaces] == entries
    assert {k: cfg.data[k] for k in extra} == extra
    order.shuffle(entries)
    for binding in entries:
        editing.remove_table(path, "kv_namespaces", {"binding": binding})
    assert path.read_text(encoding="utf-8") == text
