from __future__ import annotations

import json

from worktime_cli import config


def test_init_then_again(cli, tmp_path):
    target = tmp_path / "backend"
    first = cli("init", str(target), "--json")
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert set(data) == {"root", "created", "kept", "missing_secrets", "warnings"}
    assert data["root"] == str(target)
    assert data["created"][:3] == [
        "wrangler.toml",
        "migrations/0001_initial_schema.sql",
        "migrations/down/0001_initial_schema.sql",
    ]
    assert data["missing_secrets"] == ["JWT_SECRET", "GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET"]
    second = cli("init", str(target))
    assert second.exit_code == 0
    assert second.stdout == ""
    assert "Nothing to do: the project is complete." in second.stderr
    assert "worktime secret put JWT_SECRET" in second.stderr
    assert config.load(target / "wrangler.toml").d1("worktime-db").binding == "DB"


def test_non_empty_folder_needs_yes_when_not_interactive(cli, tmp_path):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    refused = cli("init", str(target))
    assert refused.exit_code == 1
    assert refused.stderr.startswith(
        "error: refusing to initialise a project in the non-empty folder"
    )
    assert not (target / "wrangler.toml").exists()
    accepted = cli("init", str(target), "--yes")
    assert accepted.exit_code == 0, accepted.output
    assert (target / "wrangler.toml").exists()
    assert (target / "notes.txt").read_text() == "mine"
