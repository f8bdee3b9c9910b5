"""Config edits keep the file's bytes: line endings, BOM and final newline (issue 19, part 6).

The oracle: the same edit of the same file written plainly (LF, no BOM, final newline) gives
the plain result; the file written with CRLF, a BOM or no final newline must give exactly
that result written the same way. Every byte outside the edit is the byte that was there,
and the lines the edit adds end as the file's lines do.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from worktime_cli.errors import ConfigError
from worktime_cli.project import config, editing

BOM = b"\xef\xbb\xbf"

CONFIGS = {
    "toml": (
        "wrangler.toml",
        '# the Worker\nname = "w"\nmain = "src/index.ts"\n\n'
        '[[d1_databases]]\nbinding = "DB" # env.DB\ndatabase_name = "worktime-db"\n'
        'database_id = "00000000-0000-4000-8000-000000000001"\n\n'
        '[vars]\nA = "1"\n',
    ),
    "json": (
        "wrangler.json",
        '{\n  "name": "w",\n  "main": "src/index.ts",\n  "d1_databases": [\n    {\n'
        '      "binding": "DB",\n      "database_name": "worktime-db",\n'
        '      "database_id": "00000000-0000-4000-8000-000000000001"\n    }\n  ]\n}\n',
    ),
    "jsonc": (
        "wrangler.jsonc",
        '/**\n * the Worker\n */\n{\n\t"name": "w", // its name\n\t"main": "src/index.ts",\n'
        '\t"d1_databases": [\n\t\t{\n\t\t\t"binding": "DB",\n'
        '\t\t\t"database_name": "worktime-db",\n'
        '\t\t\t"database_id": "00000000-0000-4000-8000-000000000001",\n\t\t},\n\t],\n}\n',
    ),
}

LAYOUTS: dict[str, Callable[[bytes], bytes]] = {
    "crlf": lambda data: data.replace(b"\n", b"\r\n"),
    "bom": lambda data: BOM + data,
    "no-final-newline": lambda data: data.removesuffix(b"\n"),
    "bom-crlf-no-final-newline": lambda data: (
        BOM + data.replace(b"\n", b"\r\n").removesuffix(b"\r\n")
    ),
}

EDITS: dict[str, Callable[[Path], object]] = {
    "append": lambda path: editing.append_table(
        path, "kv_namespaces", {"binding": "KV", "id": "0f2ac74b498b48028cb68387c421e279"}
    ),
    "append-sibling": lambda path: editing.append_table(
        path, "d1_databases", {"binding": "OTHER", "database_name": "other"}
    ),
    "update": lambda path: editing.update_table(
        path, "d1_databases", {"binding": "DB"}, {"database_id": "remote-id", "x": "new"}
    ),
    "remove": lambda path: editing.remove_table(path, "d1_databases", {"binding": "DB"}),
    "set-env": lambda path: editing.edit(
        path, lambda doc: doc.set(("env", "production", "vars"), {"B": "2"})
    ),
}


def _write(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("edit", sorted(EDITS))
@pytest.mark.parametrize("fmt", sorted(CONFIGS))
def test_every_edit_keeps_line_endings_bom_and_final_newline(
    tmp_path: Path, fmt: str, edit: str, layout: str
) -> None:
    name, text = CONFIGS[fmt]
    plain = _write(tmp_path / "plain", name, text.encode())
    EDITS[edit](plain)
    expected = LAYOUTS[layout](plain.read_bytes())
    assert expected != LAYOUTS[layout](text.encode())  # the edit changed something

    shaped = _write(tmp_path / "shaped", name, LAYOUTS[layout](text.encode()))
    EDITS[edit](shaped)
    assert shaped.read_bytes() == expected


@pytest.mark.parametrize("fmt", sorted(CONFIGS))
def test_mixed_line_endings_keep_each_line_and_new_lines_take_the_common_one(
    tmp_path: Path, fmt: str
) -> None:
    name, text = CONFIGS[fmt]
    lines = text.encode().splitlines(keepends=True)
    # Every line CRLF but the second: a Windows file an editor touched once.
    mixed = b"".join(
        line if i == 1 else line.replace(b"\n", b"\r\n") for i, line in enumerate(lines)
    )
    path = _write(tmp_path, name, mixed)
    editing.append_table(path, "kv_namespaces", {"binding": "KV", "id": "abc"})
    after = path.read_bytes()
    assert after.splitlines(keepends=True)[1] == lines[1]  # still LF
    assert after.count(b"\n") - after.count(b"\r\n") == 1  # the only bare LF is that one
    assert config.load(path).kv("KV").id == "abc"


def test_an_edit_that_changes_nothing_leaves_the_bytes(tmp_path: Path) -> None:
    name, text = CONFIGS["toml"]
    data = BOM + text.encode().replace(b"\n", b"\r\n")
    path = _write(tmp_path, name, data)
    editing.edit(path, lambda doc: None)
    assert path.read_bytes() == data


@pytest.mark.parametrize("fmt", sorted(CONFIGS))
def test_a_bom_is_read_as_wrangler_reads_it(tmp_path: Path, fmt: str) -> None:
    """wrangler drops a UTF-8 BOM (`removeBOMAndValidate`): the config reads as without it."""
    name, text = CONFIGS[fmt]
    path = _write(tmp_path, name, BOM + text.encode().replace(b"\n", b"\r\n"))
    cfg = config.load(path)
    assert (cfg.name, cfg.d1("DB").database_name) == ("w", "worktime-db")


@pytest.mark.parametrize(
    ("bom", "encoding"),
    [(b"\xff\xfe", "UTF-16 LE"), (b"\xfe\xff", "UTF-16 BE"), (b"\xff\xfe\x00\x00", "UTF-32 LE")],
)
def test_a_utf16_or_utf32_file_is_one_clear_line(tmp_path: Path, bom: bytes, encoding: str) -> None:
    path = _write(tmp_path, "wrangler.toml", bom + 'name = "w"\n'.encode("utf-16-le"))
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    assert caught.value.message == f"{path} is encoded as {encoding}; wrangler reads only UTF-8"
    assert caught.value.hint == "save it as UTF-8 (without a byte order mark)"


# --- through the CLI: every command that writes the config ------------------------------


def _shaped(project: Path, fmt: str) -> tuple[Path, bytes]:
    """The project's config in `fmt`, with a BOM, CRLF and no final newline."""
    (project / "wrangler.toml").unlink()
    name, text = CONFIGS[fmt]
    data = LAYOUTS["bom-crlf-no-final-newline"](text.encode())
    return _write(project, name, data), data


def _plain_after(tmp_path: Path, fmt: str, cli, *args: str) -> bytes:
    name, text = CONFIGS[fmt]
    plain = _write(tmp_path / "plain", name, text.encode())
    result = cli(*args, "-c", str(plain))
    assert result.exit_code == 0, result.output
    return plain.read_bytes()


_IDS = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}")


@pytest.mark.parametrize(
    "args",
    [
        ("d1", "create", "second-db"),
        ("kv", "namespace", "create", "CACHE"),
        ("d1", "delete", "DB", "--yes"),
    ],
    ids=["d1-create", "kv-namespace-create", "d1-delete"],
)
@pytest.mark.parametrize("fmt", sorted(CONFIGS))
def test_cli_config_writers_keep_the_files_bytes(
    cli, project: Path, tmp_path: Path, fmt: str, args: tuple[str, ...]
) -> None:
    expected = LAYOUTS["bom-crlf-no-final-newline"](_plain_after(tmp_path, fmt, cli, *args))
    path, before = _shaped(project, fmt)
    result = cli(*args, "-c", str(path))
    assert result.exit_code == 0, result.output
    after = path.read_bytes()
    assert after != before
    # The new ids are random: the same edit, id for id.
    assert _IDS.sub(b"<id>", after) == _IDS.sub(b"<id>", expected)


@pytest.mark.parametrize("fmt", sorted(CONFIGS))
def test_cli_init_extends_a_crlf_bom_config_in_its_own_layout(cli, project: Path, fmt: str) -> None:
    path, _ = _shaped(project, fmt)
    result = cli("init")
    assert result.exit_code == 0, result.output
    after = path.read_bytes()
    assert after.startswith(BOM) and not after.endswith(b"\n")
    assert after.count(b"\n") == after.count(b"\r\n")  # every line, old and new, ends in CRLF
    assert config.load(path).kv("KV").binding == "KV"


@pytest.mark.wrangler
@pytest.mark.slow
@pytest.mark.parametrize("fmt", sorted(CONFIGS))
def test_wrangler_reads_the_config_worktime_edited_in_its_layout(
    wrangler: str, project: Path, fmt: str
) -> None:
    from tests.test_config_jsonc import run_wrangler
    from worktime_cli.kv import KVStore
    from worktime_cli.project import state

    path, _ = _shaped(project, fmt)
    cfg = editing.append_table(path, "kv_namespaces", {"binding": "KV", "id": "a" * 32})
    assert path.read_bytes().startswith(BOM)
    with KVStore(state.root(cfg), cfg.kv(binding="KV").local_id) as store:
        store.put("greeting", b"hello from worktime")
    got = run_wrangler(
        wrangler, project, "kv", "key", "get", "greeting", "--binding", "KV", "--local"
    )
    assert got == "hello from worktime"
