from __future__ import annotations

import json

from worktime_cli.project import config


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


def test_init_writes_the_worker_and_says_what_next(cli, tmp_path):
    target = tmp_path / "backend"
    done = cli("init", str(target))
    assert done.exit_code == 0, done.output
    for label in ("src/index.ts", "package.json", "tsconfig.json", "worker-configuration.d.ts"):
        assert f"│   + {label} " in done.stderr
    assert "npm install" in done.stderr  # the next step for the real Worker, not run by init
    assert not (target / "node_modules").exists()


def test_install_runs_npm_and_keeps_stdout_json(cli, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "npm"
    # npm's chatter must not reach stdout, where the --json result goes.
    fake.write_text("#!/bin/sh\necho 'added 38 packages'\nmkdir -p node_modules\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    target = tmp_path / "backend"
    done = cli("init", str(target), "--install", "--json")
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["created"][-1] == "node_modules/ (npm install)"
    assert (target / "node_modules").is_dir()


def test_init_in_a_jsonc_project_needs_no_yes(cli, tmp_path):
    target = tmp_path / "c3"
    target.mkdir()
    (target / "wrangler.jsonc").write_text(
        '{\n  // from create cloudflare\n  "name": "c3-app",\n}\n'
    )
    done = cli("init", str(target))
    assert done.exit_code == 0, done.output
    assert not (target / "wrangler.toml").exists()
    assert "// from create cloudflare" in (target / "wrangler.jsonc").read_text()


def test_the_printed_dev_vars_step_makes_a_file_doctor_accepts(cli, tmp_path, monkeypatch):
    """Followed literally, init's `.dev.vars` step gives a file only its owner can read."""
    import shlex
    import subprocess

    import keyring
    from keyring.backends.fail import Keyring as NoKeyring

    from worktime_cli.secrets import safety

    # No usable keyring: init's next step is the local file, not `secret put`.
    monkeypatch.setattr(keyring, "get_keyring", NoKeyring)
    target = tmp_path / "backend"
    done = cli("init", str(target))
    assert done.exit_code == 0, done.output
    steps = [
        line.strip("│ ").split("#")[0].strip()
        for line in done.stderr.splitlines()
        if ".dev.vars.example .dev.vars" in line
    ]
    assert steps == ["install -m 600 .dev.vars.example .dev.vars"], done.stderr
    subprocess.run(shlex.split(steps[0]), cwd=target, check=True)
    assert (target / ".dev.vars").read_bytes() == (target / ".dev.vars.example").read_bytes()
    assert safety.check_permissions(target).status == "ok"
