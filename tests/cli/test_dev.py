"""`worktime dev` end to end: the real CLI in a subprocess, on 127.0.0.1."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.dev import (
    NULL_KEYRING,
    READY_OK,
    dev,
    free_port,
    make_project,
    stop,
    wait_ready,
    wait_until,
)
from worktime_cli.dev import worker, worker_env


def test_dev_serves_health_and_ready_then_stops_on_sigterm(project):
    make_project(project)
    port = free_port()
    with dev(project, "--port", str(port)) as (proc, url):
        wait_ready(proc, url)
        health = httpx.get(url + "/health")
        head = httpx.head(url + "/health")
        ready = httpx.get(url + "/health/ready")
        (project / "migrations" / "0002_tags.sql").write_text("CREATE TABLE tags (id INTEGER);\n")
        pending = httpx.get(url + "/health/ready")
        code, out, err = stop(proc)
    assert (health.status_code, health.text) == (200, '{"status":"ok"}')
    assert health.headers["content-type"] == "application/json"
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "15")
    assert (ready.status_code, ready.text) == (200, READY_OK)
    assert pending.status_code == 503
    assert pending.json()["checks"]["migrations"] == "pending: 0002_tags.sql"
    assert code == 0
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == f"Ready on http://localhost:{port}"
    assert (
        lines[1]
        == "watching wrangler.toml, .dev.vars and the migrations for changes; Ctrl+C to stop"
    )
    assert lines[-1] == "stopped"
    requests = [
        line.rsplit(" (", 1)[0]
        for line in lines
        if line.split(" ")[0] in ("GET", "HEAD") and not line.startswith("GET /health 200")
    ]
    assert requests == [
        "HEAD /health 200 OK",
        "GET /health/ready 200 OK",
        "GET /health/ready 503 Service Unavailable",
    ]


def test_dev_sigint_exits_zero(project):
    port = free_port()
    with dev(project, "--port", str(port), "--log-level", "none") as (proc, url):
        wait_ready(proc, url)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=5)
    assert (proc.returncode, out, err) == (0, "", "")


def test_dev_binds_loopback_only(project):
    port = free_port()
    with dev(project, "--port", str(port), "--log-level", "warn") as (proc, url):
        wait_ready(proc, url)
        # Read from the kernel's socket table rather than probing other addresses: tests
        # send traffic to loopback only.
        listening = _listening_addresses(port)
        code, _out, err = stop(proc)
    assert listening == ["127.0.0.1"]
    assert (code, err) == (0, "")


def test_dev_explicit_busy_port_is_an_error(project):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with dev(project, "--port", str(port)) as (proc, _url):
            out, err = proc.communicate(timeout=20)
    assert proc.returncode == 1
    assert out == ""
    assert err == (
        f"error: port {port} on 127.0.0.1 is already in use\n"
        "hint: stop what is using it, or pick another with --port\n"
    )


def test_dev_warns_at_startup_and_quiets_requests_at_warn(project):
    make_project(project, required=("JWT_SECRET", "GITHUB_CLIENT_SECRET"), applied=False)
    (project / ".dev.vars").write_text("GITHUB_CLIENT_SECRET=s3cr3t-value\n")
    port = free_port()
    with dev(project, "--port", str(port), "--log-level", "warn") as (proc, url):
        wait_ready(proc, url)
        httpx.get(url + "/health")
        code, _out, err = stop(proc)
    assert code == 0
    assert err == (
        "warning: required secrets resolve from nowhere: JWT_SECRET (set them with "
        "`worktime secret put NAME` or in .dev.vars)\n"
        "warning: secrets stored with `worktime secret put` are unavailable: no usable OS "
        f"keyring (keyring chose {NULL_KEYRING})\n"
        "warning: migrations not applied: pending: 0001_initial_schema.sql (run "
        "`worktime d1 migrations apply DB`)\n"
    )
    assert "s3cr3t-value" not in err


def test_dev_var_sets_cors_origins(project):
    port = free_port()
    origin = "chrome-extension://abcdef"
    with dev(project, "--port", str(port), "--var", f"CORS_ORIGINS:{origin}") as (proc, url):
        wait_ready(proc, url)
        allowed = httpx.options(url + "/health", headers={"Origin": origin})
        refused = httpx.options(url + "/health", headers={"Origin": "https://other.example"})
        stop(proc)
    assert allowed.headers["access-control-allow-origin"] == origin
    assert "access-control-allow-origin" not in refused.headers


def test_dev_reloads_bindings_without_restart(project):
    make_project(project)
    port = free_port()
    with dev(project, "--port", str(port)) as (proc, url):
        wait_ready(proc, url)
        (project / ".dev.vars").write_text("CORS_ORIGINS=https://only.example\n")
        wait_until(
            lambda: (
                "access-control-allow-origin"
                not in httpx.get(url + "/health", headers={"Origin": "https://x.example"}).headers
            )
        )
        code, _out, err = stop(proc)
    assert code == 0
    assert ".dev.vars changed: bindings reloaded" in err.splitlines()


def test_dev_rejects_a_var_without_colon(cli):
    result = cli("dev", "--var", "NOCOLON")
    assert result.exit_code == 2  # a usage error; the item is not echoed (it may be a value)
    assert result.stderr.startswith("error: --var: expected KEY:VALUE\n")
    assert "NOCOLON" not in result.stderr


def test_dev_help_has_an_example(cli):
    result = cli("dev", "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout
    assert "worktime dev --port 8788 --var CORS_ORIGINS:chrome-extension://abcdef" in result.stdout


def _listening_addresses(port: int) -> list[str]:
    """Local addresses with a LISTEN socket on `port`, from /proc/net/tcp{,6}."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                if len(address) == 8:
                    found.append(socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1]))
                else:
                    found.append(address)
    return found


def test_dev_warns_when_listening_on_every_interface(project):
    port = free_port()
    everywhere = "0.0.0.0"  # noqa: S104  # the point of this test; stopped right after
    with dev(project, "--port", str(port), "--ip", everywhere, "--log-level", "warn") as (
        proc,
        url,
    ):
        wait_ready(proc, url)
        code, _out, err = stop(proc)
    assert code == 0
    assert err == (
        "warning: listening on every network interface: anyone on your network can reach "
        "this server\n"
    )


# --- dev --worker ---------------------------------------------------------------------------

WORKER_TOML = """\
name = "worktime-backend"
main = "src/index.ts"
compatibility_date = "2025-01-01"

[vars]
ENVIRONMENT = "development"

[secrets]
required = ["JWT_SECRET"]
"""

# A stand-in for wrangler: records its argv, the names (never the values) in its environment
# and a hash of JWT_SECRET, starts a grandchild that ignores SIGINT (as a stuck workerd
# might), then waits for SIGINT and exits 7.
FAKE_WRANGLER = """\
#!{python}
import hashlib, json, os, signal, subprocess, sys, time
child = subprocess.Popen(
    [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(60)"]
)
record = {{
    "argv": sys.argv[1:],
    "names": sorted(n for n in os.environ if n != "LC_CTYPE"),
    "jwt": hashlib.sha256(os.environ.get("JWT_SECRET", "").encode()).hexdigest(),
    "grandchild": child.pid,
    "pgid_is_own": os.getpgid(0) == os.getpid(),
}}
with open("fake-wrangler.tmp", "w") as f:
    json.dump(record, f)
os.replace("fake-wrangler.tmp", "fake-wrangler.json")
if "WRANGLER_FAKE_EXIT" in os.environ:  # WRANGLER_* reach wrangler: they are its switches
    child.kill()
    sys.exit(int(os.environ["WRANGLER_FAKE_EXIT"]))
signal.signal(signal.SIGINT, lambda *_: sys.exit(7))
time.sleep(60)
sys.exit(1)
"""

WORKER_SECRET = "w0rker-Zq9-${HOME}-value"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes (its parent just has not reaped it yet).
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False


def _kill_session(sid: int) -> None:
    """Every process in session `sid` (the test's worktime and all it started)."""
    for line in subprocess.run(
        ["ps", "-eo", "pid=,sid="], capture_output=True, text=True, check=False
    ).stdout.splitlines():
        pid, session = (int(x) for x in line.split())
        if session == sid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _session_pids(sid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,sid=,stat="], capture_output=True, text=True).stdout
    return [
        int(pid)
        for pid, session, stat in (line.split() for line in out.splitlines())
        if int(session) == sid and not stat.startswith("Z")
    ]


@contextlib.contextmanager
def worker_dev(root: Path, env: dict[str, str], *args: str):
    proc = subprocess.Popen(
        [sys.executable, "-m", "worktime_cli", "dev", "--worker", *args],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # so the test can find and clean up everything it started
    )
    try:
        yield proc
    finally:
        _kill_session(proc.pid)
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def real_worker_dev(root: Path, env: dict[str, str], port: int):
    """`dev --worker` with the real wrangler on loopback `port`, its debugger on a free port.

    Two wranglers starting at the same moment (xdist workers) can both pick the default
    inspector port 9229, and the second workerd then fails to bind it.
    """
    return worker_dev(
        root, env, "--port", str(port), "--ip", "127.0.0.1", "--inspector-port", str(free_port())
    )


def wait_for_worker(proc: subprocess.Popen[str], url: str) -> None:
    """Until `url` answers 200; if `dev --worker` exits first, fail with what it printed."""

    def answered() -> bool:
        if proc.poll() is not None:
            _kill_session(proc.pid)  # workerd may still hold the pipes open
            out, err = proc.communicate(timeout=10)
            raise AssertionError(f"dev --worker exited with {proc.returncode}:\n{out}\n{err}")
        return httpx.get(url, timeout=5).status_code == 200

    wait_until(answered, timeout=90, interval=0.5)


def test_dev_worker_hands_wrangler_the_environment_and_stops_its_group(project, tmp_path):
    from tests.cli.test_run import shared_keyring_env, worktime

    (project / "wrangler.toml").write_text(WORKER_TOML)
    (project / "src").mkdir()
    (project / "src" / "index.ts").write_text("export default {};\n")
    (project / ".dev.vars").write_text("UNLISTED=x\n")
    fake = tmp_path / "bin" / "wrangler"
    fake.parent.mkdir()
    fake.write_text(FAKE_WRANGLER.format(python=sys.executable))
    fake.chmod(0o755)
    env = shared_keyring_env(tmp_path / "home")
    env.update(
        WORKTIME_WRANGLER=str(fake),
        CLOUDFLARE_API_TOKEN="must-not-travel",
        SHELL_ONLY="must-not-travel",
        WRANGLER_SEND_METRICS="false",
    )
    put = worktime(project, env, "secret", "put", "JWT_SECRET", input=WORKER_SECRET)
    assert put.returncode == 0, put.stderr
    port = free_port()
    with worker_dev(project, env, "--port", str(port), "--var", "ENVIRONMENT:ci") as proc:
        record_file = project / "fake-wrangler.json"
        wait_until(lambda: record_file.exists() or proc.poll() is not None, timeout=30)
        record = json.loads(record_file.read_text())
        proc.send_signal(signal.SIGINT)  # Ctrl+C
        out, err = proc.communicate(timeout=30)
        wait_until(lambda: not _alive(record["grandchild"]), timeout=10)
    assert proc.returncode == 7  # wrangler's own exit code
    assert record["argv"] == [
        "dev",
        "--config",
        str(project / "wrangler.toml"),
        "--envFile",
        worker.NO_DOTENV_FILE,
        "--port",
        str(port),
        "--ip",
        "localhost",
        "--var",
        "ENVIRONMENT:ci",
    ]
    assert record["jwt"] == hashlib.sha256(WORKER_SECRET.encode()).hexdigest()
    assert "JWT_SECRET" in record["names"]
    assert not {"CLOUDFLARE_API_TOKEN", "SHELL_ONLY", "UNLISTED", "PYTHONPATH"} & set(
        record["names"]
    )
    assert set(record["names"]) <= {"JWT_SECRET", *worker_env.RUNTIME_NAMES} | {
        n for n in record["names"] if n.startswith(worker_env.RUNTIME_PREFIXES)
    }
    assert record["pgid_is_own"] is True
    assert out == ""
    assert err.splitlines() == [
        "warning: not in [secrets] required, so wrangler does not hand them to the Worker: "
        "UNLISTED (.dev.vars)",
        f"running {fake} dev with worktime's values for: JWT_SECRET "
        "(through its process environment; wrangler itself reads no dotenv file)",
    ]
    assert WORKER_SECRET not in out + err


def test_dev_worker_passes_env_persist_to_and_log_level_and_the_exit_code(project, tmp_path):
    (project / "wrangler.toml").write_text(
        WORKER_TOML + '\n[env.staging]\nname = "worktime-backend-staging"\n'
        '[env.staging.secrets]\nrequired = ["STAGING_KEY"]\n'
    )
    (project / ".dev.vars.staging").write_text("STAGING_KEY=staging-value\nJWT_SECRET=top\n")
    (project / "src").mkdir()
    (project / "src" / "index.ts").write_text("export default {};\n")
    fake = tmp_path / "bin" / "wrangler"
    fake.parent.mkdir()
    fake.write_text(FAKE_WRANGLER.format(python=sys.executable))
    fake.chmod(0o755)
    env = {
        **os.environ,
        "WORKTIME_WRANGLER": str(fake),
        "WRANGLER_FAKE_EXIT": "3",
        "PYTHON_KEYRING_BACKEND": NULL_KEYRING,  # no machine's real keyring in this test
    }
    args = ["--env", "staging", "--persist-to", "state", "--log-level", "warn", "--ip", "::1"]
    with worker_dev(project, env, *args) as proc:
        out, err = proc.communicate(timeout=30)
    record = json.loads((project / "fake-wrangler.json").read_text())
    assert proc.returncode == 3
    assert record["argv"] == [
        "dev",
        "--config",
        str(project / "wrangler.toml"),
        "--envFile",
        worker.NO_DOTENV_FILE,
        "--ip",
        "::1",
        "--env",
        "staging",
        "--persist-to",
        str(project / "state"),
        "--log-level",
        "warn",
    ]
    # [env.staging] requires only STAGING_KEY: the top-level JWT_SECRET line is dropped.
    assert "STAGING_KEY" in record["names"] and "JWT_SECRET" not in record["names"]
    assert (out, err) == (
        "",
        "warning: not in [secrets] required, so wrangler does not hand them to the Worker: "
        "JWT_SECRET (.dev.vars.staging)\n",
    )


def test_dev_worker_without_wrangler_says_how_to_install(cli, project, monkeypatch):
    monkeypatch.delenv("WORKTIME_WRANGLER", raising=False)
    (project / "wrangler.toml").write_text(WORKER_TOML)
    (project / "src").mkdir()
    (project / "src" / "index.ts").write_text("export default {};\n")
    result = cli("dev", "--worker")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: wrangler is not installed in this project (no {project}/node_modules/.bin/wrangler)\n"
        "hint: run `npm install --save-dev wrangler@4` in the project folder (it needs Node.js "
        "22.12.0 or newer), or set WORKTIME_WRANGLER to a wrangler launcher\n"
    )


def test_dev_server_warns_about_undeclared_dev_vars(project):
    make_project(project, required=("JWT_SECRET",))
    (project / ".dev.vars").write_text("JWT_SECRET=a\nLEFT_OUT=b\n")
    port = free_port()
    with dev(project, "--port", str(port), "--log-level", "warn") as (proc, url):
        wait_ready(proc, url)
        code, _out, err = stop(proc)
    assert code == 0
    assert err == (
        "warning: not in [secrets] required, so wrangler does not hand them to the Worker: "
        "LEFT_OUT (.dev.vars)\n"
    )


WORKER_TS = """\
interface Env {
  JWT_SECRET?: string;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const expected = new URL(request.url).searchParams.get("sha256");
    const data = new TextEncoder().encode(env.JWT_SECRET ?? "");
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
    const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
    return Response.json({
      present: env.JWT_SECRET !== undefined,
      matches: hex === expected,
      names: Object.keys(env).sort(),
    });
  },
};
"""


@pytest.mark.wrangler
def test_real_wrangler_sees_the_keyring_secret_and_nothing_leaks(project, tmp_path, wrangler):
    """The issue's check: `secret put` then `dev --worker`; the Worker has the value, ps does not."""
    from tests.cli.test_run import shared_keyring_env, worktime

    (project / "wrangler.toml").write_text(WORKER_TOML)
    (project / "src").mkdir()
    (project / "src" / "index.ts").write_text(WORKER_TS)
    env = shared_keyring_env(tmp_path / "home")
    env["WORKTIME_WRANGLER"] = wrangler
    env["SHELL_ONLY"] = "must-not-travel"
    put = worktime(project, env, "secret", "put", "JWT_SECRET", input=WORKER_SECRET + "\n")
    assert put.returncode == 0, put.stderr
    port = free_port()
    expected = hashlib.sha256(WORKER_SECRET.encode()).hexdigest()
    with real_worker_dev(project, env, port) as proc:
        url = f"http://127.0.0.1:{port}/?sha256={expected}"
        wait_for_worker(proc, url)
        answer = httpx.get(url, timeout=5).json()
        processes = subprocess.run(
            ["ps", "-ww", "-eo", "args"], capture_output=True, text=True, check=True
        ).stdout
        proc.send_signal(signal.SIGINT)  # Ctrl+C
        out, err = proc.communicate(timeout=30)
        wait_until(lambda: _session_pids(proc.pid) == [], timeout=15)
    assert answer == {"present": True, "matches": True, "names": ["ENVIRONMENT", "JWT_SECRET"]}
    assert "wrangler" in processes and "--envFile" in processes  # we did look at the right list
    assert WORKER_SECRET not in processes
    assert "a bug in worktime" not in err
    assert WORKER_SECRET not in out + err
    leaks = [
        path
        for path in tmp_path.rglob("*")
        if path.is_file() and WORKER_SECRET.encode() in path.read_bytes()
    ]
    assert leaks == []
