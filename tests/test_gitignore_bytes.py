"""`.gitignore` edits keep the file's bytes: a CRLF file stays CRLF, a BOM stays, a missing
final newline stays missing; only the added lines differ (`git diff` shows them and nothing
else). Through `safety.ensure_gitignore`, `worktime init` and the fix `doctor` names."""

from __future__ import annotations

from pathlib import Path

from worktime_cli.dev import doctor
from worktime_cli.secrets import safety

COMMENT = "# worktime: local state and secret values stay out of git"
CRLF = b"# mine\r\nnode_modules/\r\n*.log\r\n"


def lone_lf(data: bytes) -> int:
    return data.count(b"\n") - data.count(b"\r\n")


def test_ensure_gitignore_keeps_crlf(project: Path):
    (project / ".gitignore").write_bytes(CRLF)
    assert safety.ensure_gitignore(project) == (
        ".wrangler/",
        ".dev.vars",
        ".dev.vars.*",
        "!.dev.vars.example",
    )
    data = (project / ".gitignore").read_bytes()
    assert (
        data
        == CRLF
        + (
            f"\r\n{COMMENT}\r\n.wrangler/\r\n.dev.vars\r\n.dev.vars.*\r\n!.dev.vars.example\r\n"
        ).encode()
    )
    assert lone_lf(data) == 0
    assert safety.check_gitignore(project).status == "ok"
    assert safety.ensure_gitignore(project) == ()
    assert (project / ".gitignore").read_bytes() == data  # idempotent, byte for byte


def test_ensure_gitignore_keeps_a_bom_and_reads_the_first_line_without_it(project: Path):
    (project / ".gitignore").write_bytes(b"\xef\xbb\xbf.wrangler/\r\n")
    # The BOM is not part of the first pattern: `.wrangler/` counts as present.
    assert safety.ensure_gitignore(project) == (".dev.vars", ".dev.vars.*", "!.dev.vars.example")
    data = (project / ".gitignore").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf.wrangler/\r\n\r\n")
    assert data.count(b"\xef\xbb\xbf") == 1 and lone_lf(data) == 0
    assert safety.check_gitignore(project).status == "ok"


def test_ensure_gitignore_keeps_a_missing_final_newline(project: Path):
    (project / ".gitignore").write_bytes(b"node_modules/\r\n.dev.vars*")
    safety.ensure_gitignore(project)
    data = (project / ".gitignore").read_bytes()
    assert data.startswith(b"node_modules/\r\n.dev.vars*\r\n")
    assert data.endswith(b"!.dev.vars.example") and lone_lf(data) == 0


def test_init_keeps_a_crlf_gitignore(cli, project: Path):
    (project / ".gitignore").write_bytes(b"# mine\r\n*.log\r\n")
    result = cli("init", ".", "--yes")
    assert result.exit_code == 0, result.output
    data = (project / ".gitignore").read_bytes()
    assert data.startswith(b"# mine\r\n*.log\r\n")
    assert lone_lf(data) == 0, data
    assert b"node_modules/\r\n" in data and b".dev.vars\r\n" in data


def test_doctors_fix_for_a_crlf_gitignore_keeps_its_bytes(cli, project: Path):
    (project / ".gitignore").write_bytes(CRLF)
    before = {c.name: c for c in doctor.run(project / "wrangler.toml", port=1).checks}
    assert before["gitignore"].status == "fail"
    assert "`worktime init` does it" in (before["gitignore"].hint or "")
    assert cli("init", ".", "--yes").exit_code == 0  # the fix doctor names
    after = {c.name: c for c in doctor.run(project / "wrangler.toml", port=1).checks}
    assert after["gitignore"].status == "ok"
    data = (project / ".gitignore").read_bytes()
    assert data.startswith(CRLF) and lone_lf(data) == 0
