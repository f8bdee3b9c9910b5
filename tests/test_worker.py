"""`dev.worker`, `dev.worker_env`, `dev.runner`: the child environment, wrangler, a child run."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from worktime_cli.dev import runner, worker, worker_env
from worktime_cli.errors import WorktimeError
from worktime_cli.project import config
from worktime_cli.secrets import environment
from worktime_cli.secrets import stores as secrets

JWT = "jwt-Zq9-${x}-value"
GH = "gh-s3cret-value"
EXTRA = "extra-value-77"

BASE = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/someone",
    "WRANGLER_SEND_METRICS": "false",
    "CLOUDFLARE_API_TOKEN": "a-token-that-must-not-travel",
    "AWS_SECRET_ACCESS_KEY": "shell-secret",
    "JWT_SECRET": "from-the-shell",
}

DECLARED = """\
name = "worktime-backend"
main = "src/index.ts"

[vars]
ENVIRONMENT = "development"
LIMITS = { max = 3 }

[secrets]
required = ["JWT_SECRET", "GITHUB_CLIENT_SECRET"]
"""

UNDECLARED = """\
name = "worktime-backend"
main = "src/index.ts"

[vars]
ENVIRONMENT = "development"
LIMITS = { max = 3 }
"""


def load(project: Path, text: str) -> config.Config:
    (project / "wrangler.toml").write_text(text, encoding="utf-8")
    return config.load(project / "wrangler.toml")


def test_declared_secrets_only_required_names_and_runtime(project):
    cfg = load(project, DECLARED)
    secrets.put(cfg, "JWT_SECRET", JWT)
    secrets.put(cfg, "UNLISTED_KEY", "keyring-only")
    (project / ".dev.vars").write_text(f"GITHUB_CLIENT_SECRET={GH}\nEXTRA={EXTRA}\n")
    child = worker_env.worker_environment(environment.resolve(cfg), BASE)
    assert child.variables == {
        "PATH": "/usr/bin:/bin",
        "HOME": "/home/someone",
        "WRANGLER_SEND_METRICS": "false",
        "JWT_SECRET": JWT,  # the keyring's, not the shell's
        "GITHUB_CLIENT_SECRET": GH,
    }
    assert child.passed == ("GITHUB_CLIENT_SECRET", "JWT_SECRET")
    assert child.ignored == (("EXTRA", ".dev.vars"), ("UNLISTED_KEY", "keyring"))
    assert child.exposed == ()
    assert JWT not in repr(child) and GH not in repr(child)
    assert child.to_json() == {
        "passed": ["GITHUB_CLIENT_SECRET", "JWT_SECRET"],
        "ignored": [
            {"name": "EXTRA", "source": ".dev.vars"},
            {"name": "UNLISTED_KEY", "source": "keyring"},
        ],
        "exposed": [],
    }


def test_undeclared_secrets_include_process_env_and_say_what_is_exposed(project):
    cfg = load(project, UNDECLARED)
    secrets.put(cfg, "JWT_SECRET", JWT)
    (project / ".dev.vars").write_text(f"ENVIRONMENT=staging\nEXTRA={EXTRA}\n")
    child = worker_env.worker_environment(environment.resolve(cfg), BASE)
    # [vars] that nothing overrides stay with wrangler (LIMITS keeps its JSON type there);
    # a .dev.vars override of a var is passed, as wrangler's own .dev.vars would be.
    assert child.variables == {
        "PATH": "/usr/bin:/bin",
        "HOME": "/home/someone",
        "WRANGLER_SEND_METRICS": "false",
        "CLOUDFLARE_INCLUDE_PROCESS_ENV": "true",
        "JWT_SECRET": JWT,
        "ENVIRONMENT": "staging",
        "EXTRA": EXTRA,
    }
    assert child.passed == ("ENVIRONMENT", "EXTRA", "JWT_SECRET")
    assert child.ignored == ()
    assert child.exposed == (
        "CLOUDFLARE_INCLUDE_PROCESS_ENV",
        "HOME",
        "PATH",
        "WRANGLER_SEND_METRICS",
    )


def test_cli_vars_win_and_reach_the_environment(project):
    cfg = load(project, DECLARED)
    secrets.put(cfg, "JWT_SECRET", JWT)
    resolved = environment.resolve(cfg, cli_vars={"JWT_SECRET": "override"})
    assert worker_env.worker_environment(resolved, BASE).variables["JWT_SECRET"] == "override"


def test_child_environment_for_run_is_ours_plus_every_resolved_name(project):
    cfg = load(project, DECLARED)
    secrets.put(cfg, "JWT_SECRET", JWT)
    (project / ".dev.vars").write_text(f"EXTRA={EXTRA}\n")
    env = worker_env.child_environment(environment.resolve(cfg), BASE)
    assert env == {
        **BASE,
        "JWT_SECRET": JWT,
        "EXTRA": EXTRA,
        "ENVIRONMENT": "development",
        "LIMITS": '{"max":3}',
    }


def sights(project: Path, process_env: dict[str, str] | None = None) -> list[tuple[Any, ...]]:
    resolved = environment.resolve(config.load(project / "wrangler.toml"))
    return [
        (s.name, s.worktime, s.wrangler)
        for s in worker_env.wrangler_sight(resolved, process_env or {})
    ]


def test_sight_keyring_is_invisible_to_plain_wrangler(project):
    cfg = load(project, DECLARED)
    secrets.put(cfg, "JWT_SECRET", JWT)
    (project / ".dev.vars").write_text(f"GITHUB_CLIENT_SECRET={GH}\n")
    # .dev.vars exists: wrangler reads only it, not even the process environment.
    assert sights(project, {"JWT_SECRET": "x"}) == [
        ("JWT_SECRET", "keyring", None),
        ("GITHUB_CLIENT_SECRET", ".dev.vars", ".dev.vars"),
    ]


def test_sight_env_files_and_process_env(project):
    load(project, DECLARED)
    (project / ".env").write_text("JWT_SECRET=a\nGITHUB_CLIENT_SECRET=b\n")
    assert sights(project, {"GITHUB_CLIENT_SECRET": "c"}) == [
        ("JWT_SECRET", ".env", ".env"),
        ("GITHUB_CLIENT_SECRET", ".env", "process env"),
    ]


def test_sight_without_declared_secrets_reads_process_env_only_when_asked(project):
    load(project, UNDECLARED)
    (project / ".dev.vars.example").write_text("JWT_SECRET=\n")
    assert sights(project, {"JWT_SECRET": "x"}) == [("JWT_SECRET", None, None)]
    assert sights(project, {"JWT_SECRET": "x", "CLOUDFLARE_INCLUDE_PROCESS_ENV": "true"}) == [
        ("JWT_SECRET", None, "process env")
    ]


def test_undeclared_warning_names_sources_never_values(project):
    cfg = load(project, DECLARED)
    (project / ".dev.vars").write_text(f"EXTRA={EXTRA}\nJWT_SECRET={JWT}\n")
    warning = worker_env.undeclared_warning(environment.resolve(cfg))
    assert warning == (
        "not in [secrets] required, so wrangler does not hand them to the Worker: EXTRA (.dev.vars)"
    )
    # A --var goes on as wrangler's own --var, so the Worker does get it.
    assert worker_env.undeclared(environment.resolve(cfg, cli_vars={"EXTRA": "cli"})) == ()
    load(project, UNDECLARED)
    assert (
        worker_env.undeclared_warning(environment.resolve(config.load(project / "wrangler.toml")))
        is None
    )


def executable(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_find_wrangler_prefers_the_project_then_the_variable(project, tmp_path):
    launcher = executable(tmp_path / "bin" / "wrangler")
    assert worker.find_wrangler(project, {"WORKTIME_WRANGLER": str(launcher)}) == worker.Wrangler(
        launcher, "WORKTIME_WRANGLER"
    )
    local = executable(project / "node_modules" / ".bin" / "wrangler")
    assert worker.find_wrangler(project, {"WORKTIME_WRANGLER": str(launcher)}) == worker.Wrangler(
        local, "node_modules"
    )


def test_find_wrangler_errors_say_how_to_install(project, tmp_path):
    with pytest.raises(WorktimeError) as missing:
        worker.find_wrangler(project, {})
    assert missing.value.message == (
        f"wrangler is not installed in this project (no {project}/node_modules/.bin/wrangler)"
    )
    assert missing.value.hint == (
        "run `npm install --save-dev wrangler@4` in the project folder (it needs Node.js "
        "22.12.0 or newer), or set WORKTIME_WRANGLER to a wrangler launcher"
    )
    with pytest.raises(WorktimeError) as wrong:
        worker.find_wrangler(project, {"WORKTIME_WRANGLER": str(tmp_path / "nope")})
    assert (
        wrong.value.message
        == f"WORKTIME_WRANGLER is {tmp_path / 'nope'}, which is not an executable file"
    )


def test_wrangler_argv_has_names_and_paths_only(project):
    cfg = load(project, DECLARED)
    wrangler = worker.Wrangler(Path("/opt/wrangler"), "WORKTIME_WRANGLER")
    argv = worker.wrangler_dev_argv(
        wrangler,
        cfg,
        port=8799,
        ip="127.0.0.1",
        inspector_port=9230,
        env="staging",
        persist_to=Path("state"),
        log_level="warn",
        cli_vars={"CORS_ORIGINS": "https://a.example"},
    )
    assert argv == [
        "/opt/wrangler",
        "dev",
        "--config",
        str(cfg.path),
        "--envFile",
        worker.NO_DOTENV_FILE,
        "--port",
        "8799",
        "--ip",
        "127.0.0.1",
        "--inspector-port",
        "9230",
        "--env",
        "staging",
        "--persist-to",
        str(project / "state"),
        "--log-level",
        "warn",
        "--var",
        "CORS_ORIGINS:https://a.example",
    ]
    assert worker.wrangler_dev_argv(wrangler, cfg) == [
        "/opt/wrangler",
        "dev",
        "--config",
        str(cfg.path),
        "--envFile",
        worker.NO_DOTENV_FILE,
    ]


CHILD = """\
import hashlib, json, os, sys
names = sorted(n for n in os.environ if n != "LC_CTYPE")  # Python may coerce the C locale
digest = hashlib.sha256(os.environ.get("JWT_SECRET", "").encode()).hexdigest()
with open("child.json", "w") as f:
    json.dump({"names": names, "jwt": digest}, f)
sys.exit(int(sys.argv[1]))
"""


def test_run_passes_exactly_the_environment_and_returns_the_exit_code(project):
    import hashlib

    code = runner.run(
        [sys.executable, "-c", CHILD, "3"],
        {"JWT_SECRET": JWT, "PATH": os.environ["PATH"]},
        cwd=project,
    )
    seen = json.loads((project / "child.json").read_text())
    assert code == 3
    assert seen == {
        "names": ["JWT_SECRET", "PATH"],
        "jwt": hashlib.sha256(JWT.encode()).hexdigest(),
    }


def test_run_reports_signal_deaths_as_128_plus_n(project):
    script = "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"
    assert runner.run([sys.executable, "-c", script], dict(os.environ), own_group=True) == 143


def test_run_unknown_command_is_a_clean_error(project):
    with pytest.raises(WorktimeError) as error:
        runner.run(["no-such-command-here", "--flag"], dict(os.environ))
    assert error.value.message == "cannot run no-such-command-here: command not found"
    assert error.value.exit_code == 127


def test_require_node(tmp_path):
    with pytest.raises(WorktimeError) as error:
        worker.require_node({"PATH": str(tmp_path)})
    assert error.value.message == "node is not on PATH, and wrangler runs on Node.js"
    executable(tmp_path / "node")
    worker.require_node({"PATH": str(tmp_path)})


def test_sight_dot_env_switched_off_means_no_process_env_either(project):
    load(project, DECLARED)
    process_env = {"JWT_SECRET": "x", "CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV": "false"}
    assert sights(project, process_env)[0] == ("JWT_SECRET", None, None)


def test_entry_point_must_be_declared_and_exist(project):
    cfg = load(project, 'name = "worktime-backend"\n')
    with pytest.raises(WorktimeError) as undeclared_main:
        worker.entry_point(cfg)
    assert undeclared_main.value.message == (
        "wrangler.toml has no `main`, the Worker's entry point that wrangler dev runs"
    )
    cfg = load(project, DECLARED)
    with pytest.raises(WorktimeError) as absent:
        worker.entry_point(cfg)
    assert absent.value.message == (
        "the Worker's entry point src/index.ts (`main` in wrangler.toml) does not exist"
    )
    executable(project / "src" / "index.ts", "export default {};\n")
    assert worker.entry_point(cfg) == project / "src" / "index.ts"
