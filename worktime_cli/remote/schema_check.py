"""`doctor`'s remote check: each configured D1 database's local schema against Cloudflare's.

Only when a remote can be asked: a binding with a database_id, and Cloudflare credentials
(`worktime login` or CLOUDFLARE_API_TOKEN); otherwise one `skip` says why. Drift is a
warning, not a failure: production ahead of a local copy is the normal state between a
deploy and a pull; `worktime d1 diff local remote` shows it.
"""

from __future__ import annotations

from pathlib import Path

from worktime_cli.errors import WorktimeError
from worktime_cli.secrets.safety import Check

NAME = "remote schema"


def remote_schema_checks(
    config_path: Path | None, *, persist_to: Path | None = None, env: str | None = None
) -> list[Check]:
    """One check per database with a database_id (see the module docstring)."""
    from worktime_cli.errors import RemoteError
    from worktime_cli.project import config as configmod
    from worktime_cli.remote.credentials import resolve_token

    try:
        cfg = configmod.load(config_path, env=env)
    except WorktimeError:
        return []  # the config check already failed and says why
    bindings = [b for b in cfg.d1_databases if b.database_id]
    if not bindings:
        return [Check(NAME, "skip", "no database_id configured: nothing remote to compare")]
    try:
        resolve_token()
    except RemoteError:
        return [Check(NAME, "skip", "not logged in to Cloudflare", "run `worktime login`")]
    from worktime_cli.d1 import LocalD1
    from worktime_cli.d1.schemadiff import compare, connection_query, read_schema
    from worktime_cli.remote.client import from_environment
    from worktime_cli.remote.d1 import RemoteD1

    checks: list[Check] = []
    client = from_environment(cfg)
    try:
        for b in bindings:
            label = f"{NAME}: {b.binding}"
            local = LocalD1(cfg, persist_to).database(b.binding)
            if not local.path.exists():
                checks.append(Check(label, "skip", "no local file yet"))
                continue
            try:
                from worktime_cli.d1.sanitize import open_read_only

                conn = open_read_only(local.path)
                try:
                    mine = read_schema(connection_query(conn), b.migrations_table)
                finally:
                    conn.close()
                remote = RemoteD1(client, cfg).database(b.binding)
                theirs = read_schema(remote.query, b.migrations_table)
            except WorktimeError as exc:
                checks.append(Check(label, "warn", exc.message, exc.hint))
                continue
            found = compare(mine, theirs, a_label="local", b_label="remote")
            if found.drift:
                checks.append(
                    Check(
                        label,
                        "warn",
                        f"{len(found.differences)} difference(s) between local and remote",
                        f"see `worktime d1 diff local remote{_env(env)}`",
                    )
                )
            else:
                checks.append(Check(label, "ok", "local and remote schema and ledger agree"))
    finally:
        client.close()
    return checks


def _env(env: str | None) -> str:
    return "" if env is None else f" --env {env}"
