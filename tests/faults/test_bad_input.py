"""Issue 13, part 6: the bad-input table.

Every case runs the real CLI in a child process (argv as bytes, so values that are not UTF-8
reach it as a shell would pass them) inside a fresh copy of a real project (D1 database with
the migrations applied, a KV namespace, .dev.vars). The child is a fork of the test process
(tests/support/forked.py: its own argv, environment, folder, fds, limits and exit status,
without the interpreter's 0.5 s start); one case per command group also runs as a true
`python -m worktime_cli` subprocess (`test_bad_input_end_to_end`). Each must:

- exit 1 (a user error) or 2 (a usage error);
- say so on stderr as one `error: …` line, optionally one `hint: …` line (lines indented
  by two spaces continue the one error: a bulk file's itemised problems);
- show no traceback and no "a bug in worktime";
- never repeat a planted secret-looking value, in any form (raw, repr, JSON, percent);
- change nothing on disk: the project, its state and HOME hash the same before and after.

The child runs with a null keyring (never this machine's), no API token, an API base URL
nobody listens on, a 1.5 GiB address-space limit (unbounded memory fails the case instead
of the machine) and a 256 MiB file-size limit.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import forked
from tests.support.dev import make_project
from worktime_cli.secrets import scrub

SECRET = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
GITHUB_TOKEN = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
HUGE = "9" * 40  # beyond any 64-bit integer
I64_OVER = str(2**63)
DEEP = 3000
TIMEOUT_S = 60
MEMORY_LIMIT = 1536 * 1024 * 1024
FILE_SIZE_LIMIT = 256 * 1024 * 1024

Arg = str | bytes


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[Arg, ...]
    stdin: bytes = b""
    planted: tuple[str, ...] = ()  # values that must never be shown
    timeout: float = TIMEOUT_S


def case(
    id: str,
    *argv: Arg,
    stdin: bytes = b"",
    planted: tuple[str, ...] = (),
    timeout: float = TIMEOUT_S,
) -> Case:
    return Case(id, argv, stdin, planted, timeout)


# Placeholders, replaced by paths in the test's own folder (see `_inputs`).
DIR = "{dir}"
FIFO = "{fifo}"
FULL = "{full}"  # a char device like /dev/full (a private one when root)
MISSING = "{missing}"
DEEP_JSON = "{deep_json}"
DEEP_TOML = "{deep_toml}"
BULK_SECRET = "{bulk_secret}"
BULK_HUGE_TTL = "{bulk_huge_ttl}"
BULK_OVERFLOW_TTL = "{bulk_overflow_ttl}"
BULK_SURROGATE = "{bulk_surrogate}"
SECRETS_BAD_NAME = "{secrets_bad_name}"
SECRETS_NOT_UTF8 = "{secrets_not_utf8}"
BIG_STATEMENT = "{big_statement}"
NOT_UTF8_FILE = "{not_utf8_file}"
EMPTY_FILE = "{empty_file}"


# fmt: off
CASES: list[Case] = [
    # --- integers out of range or of the wrong type ---------------------------------------
    case("dev-port-zero", "dev", "--port", "0"),
    case("dev-port-65536", "dev", "--port", "65536"),
    case("dev-port-huge", "dev", "--port", HUGE),
    case("dev-port-negative", "dev", "--port", "-1"),
    case("dev-port-text", "dev", "--port", "eighty"),
    case("dev-port-float", "dev", "--port", "80.5"),
    case("doctor-port-huge", "doctor", "--port", HUGE),
    case("doctor-port-negative", "doctor", "--port", "-5"),
    case("doctor-port-text", "doctor", "--port", "abc"),
    case("kv-put-ttl-i64-over", "kv", "key", "put", "k", "v", "--ttl", I64_OVER),
    case("kv-put-ttl-huge", "kv", "key", "put", "k", "v", "--ttl", HUGE),
    case("kv-put-ttl-negative", "kv", "key", "put", "k", "v", "--ttl", "-1"),
    case("kv-put-ttl-float", "kv", "key", "put", "k", "v", "--ttl", "1e300"),
    case("kv-put-ttl-below-minimum", "kv", "key", "put", "k", "v", "--ttl", "59"),
    case("kv-put-expiration-1e17", "kv", "key", "put", "k", "v", "--expiration", str(10**17)),
    case("kv-put-expiration-huge", "kv", "key", "put", "k", "v", "--expiration", HUGE),
    case("kv-put-expiration-past", "kv", "key", "put", "k", "v", "--expiration", "1"),
    case("kv-list-limit-zero", "kv", "key", "list", "--limit", "0"),
    case("kv-list-limit-huge", "kv", "key", "list", "--limit", HUGE),
    case("kv-list-limit-negative", "kv", "key", "list", "--limit", "-1"),
    case("kv-list-limit-text", "kv", "key", "list", "--limit", "many"),
    case("rollback-steps-huge", "d1", "migrations", "rollback", "DB", "--steps", "1" + "0" * 20, "--yes"),
    case("rollback-steps-zero", "d1", "migrations", "rollback", "DB", "--steps", "0"),
    case("rollback-steps-negative", "d1", "migrations", "rollback", "DB", "--steps", "-3"),
    case("rollback-steps-text", "d1", "migrations", "rollback", "DB", "--steps", "all"),
    case("sessions-pr-huge", "sessions", "list", "--pr", HUGE),
    case("sessions-limit-huge", "sessions", "list", "--limit", HUGE),
    case("sessions-limit-negative", "sessions", "list", "--limit", "-1"),
    case("users-show-id-huge", "users", "show", "--id", HUGE),
    case("users-show-id-text", "users", "show", "--id", "me"),
    case("users-forget-id-huge", "users", "forget", "--id", HUGE, "--yes"),
    case("demo-users-zero", "demo", "seed", "--users", "0", "--yes"),
    case("demo-users-huge", "demo", "seed", "--users", HUGE, "--yes"),
    case("demo-days-huge", "demo", "seed", "--days", HUGE, "--yes"),
    case("demo-database-unknown", "demo", "seed", "NOPE", "--yes"),
    case("demo-seed-text", "demo", "seed", "--seed", "random", "--yes"),
    # --- wrong choices and malformed values -----------------------------------------------
    case("dev-log-level-unknown", "dev", "--log-level", "loud"),
    case("dev-var-no-colon", "dev", "--var", SECRET, planted=(SECRET,)),
    case("dev-var-equals", "dev", "--var", f"API_KEY={SECRET}", planted=(SECRET,)),
    case("dev-var-empty-key", "dev", "--var", f":{SECRET}", planted=(SECRET,)),
    case("dev-var-second", "dev", "--var", "A:1", "--var", SECRET, planted=(SECRET,)),
    case("run-var-no-colon", "run", "--var", GITHUB_TOKEN, "--", "true", planted=(GITHUB_TOKEN,)),
    case("dev-ip-unresolvable", "dev", "--ip", "999.1.1.1"),
    case("dev-ip-escape", "dev", "--ip", "bad\x1b[31mhost"),
    case("dev-ip-huge", "dev", "--ip", "x" * 5000),
    case("report-by-unknown", "report", "--by", "planet"),
    case("report-from-invalid-date", "report", "--from", "2024-02-30"),
    case("report-from-huge-year", "report", "--from", "99999-01-01"),
    case("report-range-reversed", "report", "--from", "2024-06-30", "--to", "2024-06-01"),
    case("stats-tz-unknown", "stats", "rebuild", "--tz", "Mars/Phobos", "--yes"),
    case("stats-tz-traversal", "stats", "check", "--tz", "../../../etc/passwd"),
    case("stats-from-text", "stats", "check", "--from", "yesterday-ish"),
    case("sessions-since-invalid", "sessions", "list", "--since", "2024-13-01"),
    case("close-stale-older-than-huge", "sessions", "close-stale", "--older-than", "1e300d"),
    case("close-stale-older-than-negative", "sessions", "close-stale", "--older-than", "-5d"),
    case("close-stale-cap-text", "sessions", "close-stale", "--cap", "lots", "--yes"),
    case("close-stale-status-unknown", "sessions", "close-stale", "--as", "exploded", "--yes"),
    case("demo-end-invalid", "demo", "seed", "--end", "2024-02-30", "--yes"),
    case("kv-put-metadata-not-json", "kv", "key", "put", "k", "v", "--metadata", "{nope"),
    case("kv-put-metadata-array", "kv", "key", "put", "k", "v", "--metadata", "[1]"),
    case(
        "kv-put-metadata-too-big",
        "kv",
        "key",
        "put",
        "k",
        "v",
        "--metadata",
        json.dumps({"a": "x" * 2000}),
    ),
    case(
        "kv-put-metadata-deep", "kv", "key", "put", "k", "v", "--metadata", "[" * DEEP + "]" * DEEP
    ),
    case(
        "kv-put-metadata-surrogate", "kv", "key", "put", "k", "v", "--metadata", '{"a": "\\ud800"}'
    ),
    case("kv-put-key-too-long", "kv", "key", "put", "k" * 600, "v"),
    case("kv-put-key-dot", "kv", "key", "put", "..", "v"),
    case("kv-put-value-and-path", "kv", "key", "put", "k", "v", "--path", EMPTY_FILE),
    case("kv-get-unknown-binding", "kv", "key", "get", "k", "--binding", "NOPE"),
    case("kv-namespace-id-traversal", "kv", "key", "get", "k", "--namespace-id", "../../../etc"),
    case("kv-list-cursor-garbage", "kv", "key", "list", "--cursor", "\x00\x01garbage"[2:] + "%%%"),
    case("d1-execute-unknown-db", "d1", "execute", "NOPE", "--command", "SELECT 1"),
    case("d1-execute-db-traversal", "d1", "execute", "../../../tmp/x", "--command", "SELECT 1"),
    case("d1-execute-nothing", "d1", "execute", "DB"),
    case("d1-execute-both", "d1", "execute", "DB", "--command", "SELECT 1", "--file", EMPTY_FILE),
    case("d1-execute-bad-sql", "d1", "execute", "DB", "--command", "SELEC nonsense"),
    case("d1-execute-nul", "d1", "execute", "DB", "--command", "SELECT 'a\\0'", "--file", MISSING),
    case("d1-create-bad-name", "d1", "create", "bad name!"),
    case("d1-create-existing", "d1", "create", "worktime-db"),
    case("d1-create-location-local", "d1", "create", "other", "--location", "weur"),
    case(
        "d1-restore-snapshot-traversal",
        "d1",
        "restore", "DB", "../../../etc/passwd",
        "--yes",
    ),
    case("d1-restore-snapshot-missing", "d1", "restore", "DB", "nope", "--yes"),
    case("migrations-create-name-too-long", "d1", "migrations", "create", "DB", "x" * 300),
    case(
        "migrations-apply-to-unknown",
        "d1",
        "migrations",
        "apply",
        "DB",
        "--to",
        "9999_nope",
        "--yes",
    ),
    case("migrations-mark-unknown", "d1", "migrations", "mark-applied", "DB", "9999_nope"),
    case(
        "rollback-steps-and-to",
        "d1",
        "migrations",
        "rollback",
        "DB",
        "--steps",
        "1",
        "--to",
        "0001",
        "--yes",
    ),
    case("local-and-remote", "d1", "list", "--local", "--remote"),
    case("persist-to-with-remote", "kv", "key", "list", "--remote", "--persist-to", "x"),
    case("remote-without-token", "d1", "list", "--remote"),
    case("import-both-formats", "d1", "import", "DB", "t", EMPTY_FILE, "--csv", "--tsv"),
    case("users-show-both", "users", "show", "octocat", "--id", "1"),
    case("tokens-revoke-unknown", "tokens", "revoke", "nobody-at-all", "--yes"),
    case("secret-put-bad-name", "secret", "put", "1BAD", stdin=b"v"),
    case("secret-put-extra-arg", "secret", "put", "API_KEY", SECRET, stdin=b"v", planted=(SECRET,)),
    case(
        "secret-put-two-extra",
        "secret",
        "put",
        "API_KEY",
        SECRET,
        GITHUB_TOKEN,
        planted=(SECRET, GITHUB_TOKEN),
    ),
    case("secret-put-empty-stdin", "secret", "put", "API_KEY"),
    case("secret-put-stdin-too-big", "secret", "put", "API_KEY", stdin=b"x" * 6000),
    case(
        "secret-put-stdin-not-utf8",
        "secret",
        "put",
        "API_KEY",
        stdin=b"sk_live_\xff\xfe" + SECRET.encode()[8:],
        planted=(SECRET[8:],),
    ),
    case("secret-put-name-is-a-value", "secret", "put", SECRET, stdin=b"v", planted=(SECRET,)),
    case("secret-delete-name-is-a-value", "secret", "delete", GITHUB_TOKEN, "--yes", planted=(GITHUB_TOKEN,)),
    case("secret-bulk-fifo", "secret", "bulk", FIFO, "--yes", timeout=15),
    case("secret-bulk-device", "secret", "bulk", FULL, "--yes"),
    case("secret-delete-missing", "secret", "delete", "NOT_THERE", "--yes"),
    case("secret-delete-bad-name", "secret", "delete", "bad-name", "--yes"),
    case("login-token-in-argv", "login", SECRET, planted=(SECRET,)),
    case("kv-get-extra-arg", "kv", "key", "get", "k", SECRET, planted=(SECRET,)),
    case("env-traversal", "secret", "list", "--env", "../../../etc"),
    case("env-newline", "secret", "list", "--env", "staging\nerror: forged"),
    # --- values that are not UTF-8 (argv as bytes) ----------------------------------------
    case("kv-get-key-not-utf8", "kv", "key", "get", b"a\xffb"),
    case("kv-put-key-not-utf8", "kv", "key", "put", b"a\xffb", "v"),
    case("kv-delete-key-not-utf8", "kv", "key", "delete", b"\xfe\xff"),
    case("kv-list-prefix-not-utf8", "kv", "key", "list", "--prefix", b"p\xff"),
    case("d1-execute-sql-not-utf8", "d1", "execute", "DB", "--command", b"SELECT '\xff'"),
    case("d1-execute-db-not-utf8", "d1", "execute", b"D\xffB", "--command", "SELECT 1"),
    case("d1-create-not-utf8", "d1", "create", b"db\xff"),
    case("d1-info-not-utf8", "d1", "info", b"\xff"),
    case("migrations-create-not-utf8", "d1", "migrations", "create", "DB", b"add \xff column"),
    case("secret-put-name-not-utf8", "secret", "put", b"A\xffB", stdin=b"v"),
    case("secret-delete-name-not-utf8", "secret", "delete", b"A\xff", "--yes"),
    case("env-not-utf8", "secret", "list", "--env", b"st\xffg"),
    case("dev-env-not-utf8", "dev", "--env", b"\xff"),
    case("dev-ip-not-utf8", "dev", "--ip", b"127.0.0.\xff"),
    case("dev-var-not-utf8", "dev", "--var", b"A\xff"),
    case("dev-var-value-not-utf8", "dev", "--var", b"A:sk_live_\xff" + SECRET.encode()[8:], planted=(SECRET[8:],)),
    case("run-var-value-not-utf8", "run", "--var", b"A:\xfe\xff", "--", "true"),
    case("config-not-utf8-path", "d1", "list", "--config", b"wr\xffangler.toml"),
    case("persist-to-not-utf8", "d1", "info", "DB", "--persist-to", b"st\xffate"),
    case("report-user-not-utf8", "report", "--user", b"\xffoctocat"),
    case("sessions-user-not-utf8", "sessions", "list", "--user", b"\xff"),
    case("users-show-login-not-utf8", "users", "show", b"oct\xffocat"),
    case("stats-tz-not-utf8", "stats", "check", "--tz", b"Europe/\xff"),
    case("types-env-not-utf8", "types", "--env", b"\xff"),
    # --- special files, folders, missing files --------------------------------------------
    case("kv-put-path-dev-zero", "kv", "key", "put", "k", "--path", "/dev/zero"),
    case("kv-put-path-dir", "kv", "key", "put", "k", "--path", DIR),
    case("kv-put-path-fifo", "kv", "key", "put", "k", "--path", FIFO, timeout=15),
    case("kv-put-path-missing", "kv", "key", "put", "k", "--path", MISSING),
    case("kv-bulk-put-dev-zero", "kv", "bulk", "put", "/dev/zero"),
    case("kv-bulk-put-dir", "kv", "bulk", "put", DIR),
    case("kv-bulk-put-fifo", "kv", "bulk", "put", FIFO, timeout=15),
    case("kv-bulk-put-not-utf8", "kv", "bulk", "put", NOT_UTF8_FILE),
    case("kv-bulk-put-deep", "kv", "bulk", "put", DEEP_JSON),
    case("kv-bulk-put-secret-item", "kv", "bulk", "put", BULK_SECRET, planted=(GITHUB_TOKEN,)),
    case("kv-bulk-put-ttl-1e300", "kv", "bulk", "put", BULK_HUGE_TTL),
    case("kv-bulk-put-ttl-overflow", "kv", "bulk", "put", BULK_OVERFLOW_TTL),
    case("kv-bulk-put-surrogate", "kv", "bulk", "put", BULK_SURROGATE),
    case("kv-bulk-delete-dev-zero", "kv", "bulk", "delete", "/dev/zero", "--yes"),
    case("kv-bulk-delete-deep", "kv", "bulk", "delete", DEEP_JSON, "--yes"),
    case("kv-bulk-delete-dir", "kv", "bulk", "delete", DIR, "--yes"),
    case("d1-execute-file-dev-zero", "d1", "execute", "DB", "--file", "/dev/zero"),
    case("d1-execute-file-dir", "d1", "execute", "DB", "--file", DIR),
    case("d1-execute-file-fifo", "d1", "execute", "DB", "--file", FIFO, timeout=15),
    case("d1-execute-file-missing", "d1", "execute", "DB", "--file", MISSING),
    case("d1-execute-file-not-utf8", "d1", "execute", "DB", "--file", NOT_UTF8_FILE),
    case("d1-execute-statement-too-big", "d1", "execute", "DB", "--file", BIG_STATEMENT),
    case("d1-export-output-dir", "d1", "export", "DB", "--output", DIR),
    case("d1-export-output-full", "d1", "export", "DB", "--output", FULL),
    case(
        "d1-export-output-missing-folder", "d1", "export", "DB", "--output", MISSING + "/x/dump.sql"
    ),
    case("d1-export-table-unknown", "d1", "export", "DB", "--output", MISSING, "--table", "nope"),
    case("d1-import-file-dev-zero", "d1", "import", "DB", "sessions", "/dev/zero"),
    case("d1-import-file-dir", "d1", "import", "DB", "sessions", DIR),
    case("d1-import-file-deep", "d1", "import", "DB", "sessions", DEEP_JSON),
    case("types-output-dir", "types", "--output", DIR),
    case("report-html-dir", "report", "--html", DIR),
    case("report-html-full", "report", "--html", FULL),
    case("config-dir", "d1", "list", "--config", DIR),
    case("config-missing", "d1", "list", "--config", MISSING),
    case("config-dev-null", "d1", "list", "--config", "/dev/null"),
    case("config-fifo", "d1", "list", "--config", FIFO, timeout=15),
    case("config-deep", "d1", "list", "--config", DEEP_TOML),
    case("config-not-utf8", "d1", "list", "--config", NOT_UTF8_FILE),
    case("persist-to-file", "kv", "key", "list", "--persist-to", EMPTY_FILE),
    case("persist-to-dev-null", "d1", "info", "DB", "--persist-to", "/dev/null"),
    case("secret-bulk-dev-zero", "secret", "bulk", "/dev/zero", "--yes"),
    case("secret-bulk-dir", "secret", "bulk", DIR, "--yes"),
    case("secret-bulk-missing", "secret", "bulk", MISSING, "--yes"),
    case("secret-bulk-deep", "secret", "bulk", DEEP_JSON, "--yes"),
    case("secret-bulk-bad-name", "secret", "bulk", SECRETS_BAD_NAME, "--yes", planted=(SECRET,)),
    case("secret-bulk-not-utf8", "secret", "bulk", SECRETS_NOT_UTF8, "--yes"),
    case("secret-bulk-stdin-surrogate", "secret", "bulk", "-", "--yes", stdin=b'{"A": "\\ud800x"}'),
    case("secret-bulk-stdin-deep", "secret", "bulk", "-", "--yes", stdin=b"[" * DEEP + b"]" * DEEP),
    case("secret-bulk-stdin-not-utf8", "secret", "bulk", "-", "--yes", stdin=b"A=\xff\xfe\n"),
    case("init-directory-is-file", "init", EMPTY_FILE, "--yes"),
    case("init-persist-to-file", "init", DIR, "--persist-to", EMPTY_FILE, "--yes"),
]
# fmt: on


def _ids(cases: list[Case]) -> list[str]:
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    return ids


def test_the_table_is_large_enough():
    assert len(CASES) >= 100
    commands = {
        c.argv[0] if c.argv[0] not in ("d1", "kv") else " ".join(map(str, c.argv[:2]))
        for c in CASES
    }
    assert len(commands) >= 15


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real project (D1 with migrations applied, KV, .dev.vars), copied for each case."""
    root = tmp_path_factory.mktemp("bad-input") / "project"
    root.mkdir()
    make_project(root)
    (root / ".dev.vars").write_text("JWT_SECRET=dev-only-value\n")
    (root / ".dev.vars").chmod(0o600)
    return root


def _inputs(folder: Path) -> dict[str, str]:
    """Create the files the placeholders name; return placeholder → path."""
    folder.mkdir()
    paths: dict[str, Path] = {}

    def write(name: str, data: bytes) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    paths[DIR] = folder / "a-folder"
    paths[DIR].mkdir()
    paths[FIFO] = folder / "a-fifo"
    os.mkfifo(paths[FIFO])
    full = folder / "full"
    if os.geteuid() == 0:
        # A private copy of /dev/full: a bug that renames over it replaces only this one.
        os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    else:
        full = Path("/dev/full")  # not root: nothing can rename over it
    paths[FULL] = full
    paths[MISSING] = folder / "missing"
    paths[EMPTY_FILE] = write("empty.txt", b"")
    paths[DEEP_JSON] = write("deep.json", b"[" * DEEP + b"]" * DEEP)
    paths[DEEP_TOML] = write("deep.toml", b'name = "x"\na = ' + b"[" * DEEP + b"]" * DEEP + b"\n")
    paths[BULK_SECRET] = write(
        "bulk-secret.json", json.dumps([{"key": 1, "value": GITHUB_TOKEN}]).encode()
    )
    paths[BULK_HUGE_TTL] = write(
        "bulk-ttl.json", b'[{"key": "k", "value": "v", "expiration_ttl": 1e300}]'
    )
    paths[BULK_OVERFLOW_TTL] = write(
        "bulk-overflow.json",
        b'[{"key": "k", "value": "v", "expiration_ttl": 99999999999999999999}]',
    )
    paths[BULK_SURROGATE] = write("bulk-surrogate.json", b'[{"key": "\\ud800", "value": "v"}]')
    paths[SECRETS_BAD_NAME] = write("secrets.json", json.dumps({SECRET: "v"}).encode())
    paths[SECRETS_NOT_UTF8] = write("secrets.env", b"A=\xff\xfe\n")
    paths[BIG_STATEMENT] = write("big.sql", b"INSERT INTO t VALUES ('" + b"x" * 200_000 + b"');\n")
    paths[NOT_UTF8_FILE] = write("latin1.txt", b"caf\xe9 \xff\xfe\n")
    return {key: str(value) for key, value in paths.items()}


def _fill(arg: Arg, inputs: dict[str, str]) -> bytes:
    raw = os.fsencode(arg) if isinstance(arg, str) else arg
    for key, value in inputs.items():
        raw = raw.replace(key.encode(), os.fsencode(value))
    return raw


def _tree_hash(*roots: Path) -> dict[str, str]:
    """Every entry under `roots`: kind, mode and content digest (FIFOs/devices are not read)."""
    seen: dict[str, str] = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                path = Path(dirpath) / name
                info = path.lstat()
                kind = stat.S_IFMT(info.st_mode)
                digest = ""
                if stat.S_ISREG(info.st_mode):
                    digest = hashlib.sha256(path.read_bytes()).hexdigest()
                elif stat.S_ISLNK(info.st_mode):
                    digest = os.readlink(path)
                seen[str(path)] = f"{kind:o}:{stat.S_IMODE(info.st_mode):o}:{digest}"
    return seen


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))


def _forked_limits() -> None:
    """The same budget for a fork: MEMORY_LIMIT on top of the test process it copies."""
    pages = int(Path("/proc/self/statm").read_text().split()[0])
    limit = pages * resource.getpagesize() + MEMORY_LIMIT
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))


def _child_env(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "NO_COLOR": "1",
        "COLUMNS": "80",
        "TERM": "dumb",
        "LANG": "C.UTF-8",
        "WORKTIME_FIFO_TIMEOUT": "1",  # a pipe nobody writes to: an error after 1 s, not 10
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
        "CLOUDFLARE_API_BASE_URL": "http://127.0.0.1:9/client/v4",
        "CLOUDFLARE_ACCOUNT_ID": "0" * 32,
        "DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent",
    }


def _shown_forms(value: str) -> set[str]:
    # Long forms only: a four-letter fragment of a token may appear by chance in a message.
    return {form for form in scrub.forms(value) if len(form) >= 8}


@pytest.mark.parametrize("bad", CASES, ids=_ids(CASES))
def test_bad_input(bad: Case, template: Path, tmp_path: Path):
    _check(bad, template, tmp_path, subprocess_run=False)


# One case per command group (and the special inputs) as a true `python -m worktime_cli`: the
# interpreter's own argv decoding, stdio and exit; the forked battery covers the rest.
END_TO_END = (
    "dev-port-zero",
    "kv-put-ttl-i64-over",
    "rollback-steps-huge",
    "sessions-pr-huge",
    "secret-put-stdin-not-utf8",
    "secret-put-two-extra",
    "d1-restore-snapshot-traversal",
    "d1-export-output-missing-folder",
)


@pytest.mark.parametrize(
    "bad",
    [c for c in CASES if c.id in END_TO_END],
    ids=[c.id for c in CASES if c.id in END_TO_END],
)
def test_bad_input_end_to_end(bad: Case, template: Path, tmp_path: Path):
    _check(bad, template, tmp_path, subprocess_run=True)


def test_the_end_to_end_cases_exist():
    assert set(END_TO_END) <= {c.id for c in CASES}


def _check(bad: Case, template: Path, tmp_path: Path, *, subprocess_run: bool) -> None:
    project = tmp_path / "case-project"
    shutil.copytree(template, project, symlinks=True)
    home = tmp_path / "case-home"
    home.mkdir()
    inputs = _inputs(tmp_path / "inputs")
    args = [_fill(a, inputs) for a in bad.argv]
    named = b"--binding" in args or b"--namespace-id" in args
    if args[:1] == [b"kv"] and args[1:2] in ([b"key"], [b"bulk"]) and not named:
        args += [b"--binding", b"KV"]  # name the namespace: each case reaches its own check
    before = _tree_hash(project, home, tmp_path / "inputs")
    out: subprocess.CompletedProcess[bytes] | forked.Completed
    try:
        if subprocess_run:
            out = subprocess.run(
                [sys.executable.encode(), b"-m", b"worktime_cli", *args],
                input=bad.stdin,
                cwd=project,
                env=_child_env(home),
                capture_output=True,
                timeout=bad.timeout,
                preexec_fn=_limits,  # no threads in this test process use fork-unsafe state
                check=False,
            )
        else:
            out = forked.run(
                args,
                cwd=project,
                env=_child_env(home),
                stdin=bad.stdin,
                timeout=bad.timeout,
                preexec=_forked_limits,
            )
    except (subprocess.TimeoutExpired, forked.Hung):
        pytest.fail(f"{bad.id}: no answer within {bad.timeout:g} s (hung on input)")
    stderr = out.stderr.decode("utf-8", "replace")
    stdout = out.stdout.decode("utf-8", "replace")
    shown = f"exit {out.returncode}\n--- stderr\n{stderr}--- stdout\n{stdout}"
    assert out.returncode in (1, 2), shown
    assert "Traceback" not in stderr and "a bug in worktime" not in stderr, shown
    lines = stderr.splitlines()
    assert lines and lines[0].startswith("error: "), shown
    assert sum(line.startswith("error: ") for line in lines) == 1, shown
    hints = [line for line in lines[1:] if line.startswith("hint: ")]
    others = [line for line in lines[1:] if not line.startswith(("hint: ", "  "))]
    assert len(hints) <= 1 and not others, shown
    for value in bad.planted:
        for form in _shown_forms(value):
            assert form not in stderr and form not in stdout, f"{bad.id} echoed {form!r}\n{shown}"
    after = _tree_hash(project, home, tmp_path / "inputs")
    changed = sorted(set(before.items()) ^ set(after.items()))
    assert not changed, f"{bad.id} changed files on disk: {changed[:5]}\n{shown}"


def test_a_good_command_passes_the_same_checks(template: Path, tmp_path: Path):
    """The harness itself: a valid read-only command succeeds and changes nothing."""
    project = tmp_path / "case-project"
    shutil.copytree(template, project, symlinks=True)
    home = tmp_path / "case-home"
    home.mkdir()
    before = _tree_hash(project, home)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "worktime_cli",
            "d1",
            "execute",
            "DB",
            "--command",
            "SELECT 1 AS one",
            "--json",
        ],
        cwd=project,
        env=_child_env(home),
        capture_output=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert out.returncode == 0, out.stderr.decode()
    assert _tree_hash(project, home) == before
