"""`worktime doctor`: one test per check that fails it, and a healthy project that passes."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from worktime_cli import d1, kv
from worktime_cli.dev import doctor, scaffold
from worktime_cli.project import config, state
from worktime_cli.secrets.safety import Check

SECRETS = {
    "JWT_SECRET": "jwt-s3cret-value",
    "GITHUB_CLIENT_ID": "gh-id-value",
    "GITHUB_CLIENT_SECRET": "gh-s3cret-value",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def healthy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "app"
    scaffold.init(root)
    dev_vars = root / ".dev.vars"
    dev_vars.write_text("".join(f"{k}={v}\n" for k, v in SECRETS.items()))
    dev_vars.chmod(0o600)
    monkeypatch.chdir(root)
    return root


def run(root: Path, port: int | None = None) -> dict[str, Check]:
    report = doctor.run(root / "wrangler.toml", port=port or free_port())
    return {c.name: c for c in report.checks}


def failing(root: Path) -> list[str]:
    return [name for name, c in run(root).items() if c.status == "fail"]


def db_path(root: Path) -> Path:
    cfg = config.load(root / "wrangler.toml")
    return d1.database_path(cfg, cfg.d1("DB"), None)


def test_healthy_project_passes(healthy):
    checks = run(healthy)
    assert [n for n, c in checks.items() if c.status not in ("ok", "skip")] == []
    assert (
        checks["secrets"].message
        == "JWT_SECRET (.dev.vars), GITHUB_CLIENT_ID (.dev.vars), GITHUB_CLIENT_SECRET (.dev.vars)"
    )
    assert checks["wrangler dev"].message == (
        "sees JWT_SECRET (.dev.vars), GITHUB_CLIENT_ID (.dev.vars), GITHUB_CLIENT_SECRET (.dev.vars)"
    )
    assert list(checks) == [
        "config",
        "d1 worktime-db: integrity",
        "d1 worktime-db: migrations",
        "d1 worktime-db: schema",
        "d1 worktime-db: foreign keys",
        "d1 worktime-db: verify",
        "kv KV",
        "environment",
        "secrets",
        "wrangler dev",
        "keyring",
        "wrangler",
        "gitignore",
        "dev-vars-untracked",
        "dev-vars-permissions",
        "dev port",
    ]


def test_a_broken_down_file_fails_verify(healthy):
    """Issue 12: doctor replays the migrations too, so a down that undoes nothing shows up."""
    (healthy / "migrations" / "down" / "0001_initial_schema.sql").write_text(
        "DROP TABLE daily_stats;\n"
    )
    check = run(healthy)["d1 worktime-db: verify"]
    assert check.status == "fail"
    assert check.message.startswith("0001_initial_schema.sql: up ok, down differs")


def test_broken_config(healthy):
    (healthy / "wrangler.toml").write_text("name = \n")
    report = doctor.run(healthy / "wrangler.toml")
    assert [(c.name, c.status) for c in report.checks] == [("config", "fail")]
    assert ":1:" in report.checks[0].message
    assert not report.ok


def test_missing_database_file(healthy):
    db_path(healthy).unlink()
    assert failing(healthy) == ["d1 worktime-db: file"]


def test_corrupt_database(healthy):
    path = db_path(healthy)
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # clobber the schema page
    path.write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    assert failing(healthy)[0].startswith("d1 worktime-db")


def test_manual_schema_change(healthy):
    d1.execute_command(db_path(healthy), "CREATE TABLE notes (id INTEGER PRIMARY KEY)")
    checks = run(healthy)
    assert checks["d1 worktime-db: schema"].status == "fail"
    assert checks["d1 worktime-db: schema"].message == "not from migrations: table notes"


def test_pending_migration(healthy):
    (healthy / "migrations" / "0002_notes.sql").write_text("CREATE TABLE notes (id INTEGER);\n")
    checks = run(healthy)
    assert checks["d1 worktime-db: migrations"].status == "fail"
    assert checks["d1 worktime-db: migrations"].message == "pending: 0002_notes.sql"


def test_drifted_migration(healthy):
    path = healthy / "migrations" / "0001_initial_schema.sql"
    path.write_text(path.read_text() + "\n-- edited after apply\n")
    assert "drifted: 0001_initial_schema.sql" in run(healthy)["d1 worktime-db: migrations"].message


def test_edited_migration_is_drift_not_a_manual_schema_change(healthy):
    """Issue 10: nobody changed the database; the file changed. Say that, once."""
    path = healthy / "migrations" / "0001_initial_schema.sql"
    path.write_text(path.read_text() + "\nCREATE TABLE added_later (id INTEGER);\n")
    checks = run(healthy)
    migrations_check = checks["d1 worktime-db: migrations"]
    assert (migrations_check.status, migrations_check.message) == (
        "fail",
        "drifted: 0001_initial_schema.sql (edited after it was applied: checksum differs)",
    )
    assert migrations_check.hint == "restore the applied files from git (or roll back and re-apply)"
    schema = checks["d1 worktime-db: schema"]
    assert (schema.status, schema.message, schema.hint) == (
        "skip",
        "not compared: 0001_initial_schema.sql changed after it was applied",
        None,
    )
    assert all("manual schema" not in (c.hint or "") for c in checks.values())


def test_orphan_rows(healthy):
    conn = sqlite3.connect(db_path(healthy))  # foreign keys off: how orphans get in
    conn.execute(
        "INSERT INTO time_sessions (user_id, repo_owner, repo_name, pr_number, start_time) "
        "VALUES (99, 'o', 'r', 1, '2025-01-01')"
    )
    conn.commit()
    conn.close()
    check = run(healthy)["d1 worktime-db: foreign keys"]
    assert check.status == "fail"
    assert check.message == "1 existing row(s) reference missing parents (in time_sessions)"


def test_unreadable_kv_index(healthy):
    cfg = config.load(healthy / "wrangler.toml")
    store = kv.KVStore(state.root(cfg), cfg.kv(binding="KV").local_id)
    for suffix in ("-wal", "-shm"):
        Path(f"{store.index_path}{suffix}").unlink(missing_ok=True)
    store.index_path.write_bytes(b"this is not sqlite" * 100)
    assert failing(healthy) == ["kv KV"]


def test_malformed_dev_vars(healthy):
    (healthy / ".dev.vars").write_text("JWT_SECRET=x\nnot a valid line\n")
    check = run(healthy)["environment"]
    assert check.status == "fail"
    assert ".dev.vars:2" in check.message


def test_missing_secret(healthy):
    (healthy / ".dev.vars").write_text("JWT_SECRET=x\n")
    check = run(healthy)["secrets"]
    assert (check.status, check.message) == (
        "fail",
        "required but not set: GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET",
    )


def test_a_secret_set_nowhere_says_so_not_none(healthy):
    """Review: both sides None read as "does not see JWT_SECRET (None)"."""
    (healthy / ".dev.vars").write_text("JWT_SECRET=x\n")
    message = run(healthy)["wrangler dev"].message
    assert "None" not in message
    assert "GITHUB_CLIENT_ID (worktime: nowhere)" in message


def test_doctor_json_failure_still_says_why_on_stderr(healthy, cli):
    (healthy / ".dev.vars").write_text("JWT_SECRET=x\n")
    result = cli("doctor", "--json", "--port", str(free_port()))
    assert result.exit_code == 1
    assert json.loads(result.stdout)["ok"] is False
    assert result.stderr == "error: 1 check(s) failed\n"


def test_keyring_unusable_is_a_warning_when_dev_vars_supplies_everything(healthy, monkeypatch):
    import keyring
    from keyring.backends import fail

    monkeypatch.setattr(keyring, "get_keyring", lambda: fail.Keyring())
    keyring.set_keyring(fail.Keyring())
    checks = run(healthy)
    assert checks["keyring"].status == "warn"
    (healthy / ".dev.vars").write_text("JWT_SECRET=x\n")
    assert run(healthy)["keyring"].status == "fail"


def test_dev_vars_readable_by_others(healthy):
    (healthy / ".dev.vars").chmod(0o644)
    assert failing(healthy) == ["dev-vars-permissions"]


def test_gitignore_missing_entries(healthy):
    (healthy / ".gitignore").write_text("node_modules/\n")
    assert failing(healthy) == ["gitignore"]


def test_dev_vars_tracked_by_git(healthy):
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=healthy, check=True)
    subprocess.run([*git, "add", "-f", ".dev.vars"], cwd=healthy, check=True)
    subprocess.run([*git, "commit", "-qm", "oops"], cwd=healthy, check=True)
    assert failing(healthy) == ["dev-vars-untracked"]


@pytest.fixture
def rude_server() -> Iterator[int]:
    """Something on a port that is not a dev server: accepts, then hangs up."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(5)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    server.close()


def test_port_taken_by_something_else(healthy, rude_server):
    check = run(healthy, port=rude_server)["dev port"]
    assert check.status == "fail"
    assert check.message.startswith(f"127.0.0.1:{rude_server} is taken")


def test_port_answered_by_a_dev_server(healthy):
    from tests.support.dev import running_server  # a real uvicorn server in a thread

    with running_server(healthy) as server:
        check = run(healthy, port=server.port)["dev port"]
    assert (check.status, check.message) == (
        "ok",
        f"a dev server on 127.0.0.1:{server.port} answers /health",
    )


def test_cli_json_shape_and_no_secret_values(healthy, cli):
    port = str(free_port())
    result = cli("doctor", "--json", "--port", port)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"ok", "checks"}
    assert data["ok"] is True
    assert all(set(c) == {"name", "status", "message", "hint"} for c in data["checks"])
    table = cli("doctor", "--port", port)
    (healthy / ".dev.vars").write_text("JWT_SECRET=jwt-s3cret-value\n")
    failed = cli("doctor", "--port", port)
    assert failed.exit_code == 1
    assert failed.stderr == "error: 1 check(s) failed\n"  # the two secrets no longer set
    for value in SECRETS.values():
        for out in (result, table, failed):
            assert value not in out.stdout + out.stderr


def keyring_project(healthy: Path) -> Path:
    """The healthy project with JWT_SECRET in the keyring instead of .dev.vars."""
    from worktime_cli.secrets import stores as secrets

    cfg = config.load(healthy / "wrangler.toml")
    secrets.put(cfg, "JWT_SECRET", SECRETS["JWT_SECRET"])
    rest = {k: v for k, v in SECRETS.items() if k != "JWT_SECRET"}
    (healthy / ".dev.vars").write_text("".join(f"{k}={v}\n" for k, v in rest.items()))
    return healthy


def test_keyring_secret_is_resolved_but_plain_wrangler_dev_does_not_see_it(healthy):
    """Issue 11: doctor said "all checks passed" while wrangler dev missed every keyring secret."""
    checks = run(keyring_project(healthy))
    assert checks["secrets"].status == "ok"
    assert checks["secrets"].message.startswith("JWT_SECRET (keyring), ")
    seen = checks["wrangler dev"]
    assert (seen.status, seen.message) == (
        "warn",
        "does not see JWT_SECRET (worktime: keyring); "
        "sees GITHUB_CLIENT_ID (.dev.vars), GITHUB_CLIENT_SECRET (.dev.vars)",
    )
    assert seen.hint == (
        "wrangler reads .dev.vars, .env and the process environment, never the keyring: "
        "run the Worker with `worktime dev --worker`"
    )


def test_process_env_is_what_wrangler_sees_without_dev_vars(healthy, monkeypatch):
    keyring_project(healthy)
    (healthy / ".dev.vars").unlink()
    monkeypatch.setenv("GITHUB_CLIENT_ID", "from-the-shell")
    (healthy / ".env").write_text(f"GITHUB_CLIENT_SECRET={SECRETS['GITHUB_CLIENT_SECRET']}\n")
    seen = run(healthy)["wrangler dev"]
    # worktime does not read the process environment; wrangler does (with [secrets] required).
    assert seen.message == (
        "does not see JWT_SECRET (worktime: keyring); "
        "sees GITHUB_CLIENT_ID (process env; worktime: nowhere), GITHUB_CLIENT_SECRET (.env)"
    )


def test_dev_vars_names_not_in_required_are_reported(healthy):
    with (healthy / ".dev.vars").open("a") as f:
        f.write("DEBUG_TOKEN=dbg-value\nAPI_HOST=localhost\n")
    checks = run(healthy)
    check = checks["undeclared secrets"]
    assert (check.status, check.message) == (
        "warn",
        "not in [secrets] required, so wrangler does not hand them to the Worker: "
        "API_HOST (.dev.vars), DEBUG_TOKEN (.dev.vars)",
    )
    assert check.hint == "add them to [secrets] required in wrangler.toml, or remove them"
    assert list(checks).index("undeclared secrets") == list(checks).index("wrangler dev") + 1


def test_cli_says_warnings_are_not_failures(healthy, cli):
    keyring_project(healthy)
    result = cli("doctor", "--port", str(free_port()))
    assert result.exit_code == 0
    assert result.stderr == "warning: 1 warning, no check failed\n"
    assert "does not see JWT_SECRET" in " ".join(result.stdout.split())
    for value in SECRETS.values():
        assert value not in result.stdout + result.stderr
