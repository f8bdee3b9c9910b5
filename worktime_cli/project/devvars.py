"""Dotenv files: which ones wrangler reads (`.dev.vars`, or the `.env` family), and a strict parser.

Discovery mirrors `wrangler dev`: `.dev.vars.<env>` with `--env` (one file, falling back to
`.dev.vars`, never merged); if there is none, `.env`, `.env.local`, `.env.<env>`,
`.env.<env>.local` merged in that order, unless CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV=false.

Parsing uses python-dotenv's own parser with no interpolation: a `${` inside a secret is part
of the secret (python-dotenv issue #422). python-dotenv only logs a warning for a line it
cannot parse and drops it; a dropped secret would surface much later as a confusing 401, so
here a malformed line is an error naming `file:line` — never its content, which is probably a
secret.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

from worktime_cli.errors import ConfigError, UsageError

DEV_VARS = ".dev.vars"
DEV_VARS_EXAMPLE = ".dev.vars.example"
# wrangler's switch for the `.env` fallback; "false" turns it off.
LOAD_DOT_ENV_VARIABLE = "CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV"


@dataclass(frozen=True)
class DotenvEntry:
    key: str
    value: str | None  # None for a bare `KEY` line
    line: int


# Control characters (a forged log line), and lone surrogates: bytes that were not UTF-8.
_UNUSABLE_IN_ENV = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff/\\\\]")


def validate_env(env: str | None) -> str | None:
    """`--env NAME` is part of file names (`.dev.vars.NAME`): no folders, no control characters.

    `--env ../../x` would otherwise read `.dev.vars.../../x`, a file outside the project.
    """
    if env is None:
        return None
    if env in ("", ".", "..") or _UNUSABLE_IN_ENV.search(env):
        shown = "".join(_escaped(ch) for ch in env[:60])
        raise UsageError(
            f'--env "{shown}" is not a usable environment name',
            hint="an environment is an [env.NAME] table in the config; its name has no "
            "/, \\, control characters or bytes that are not UTF-8",
        )
    return env


def _escaped(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, as Python decodes argv
        return f"\\x{code - 0xDC00:02x}"
    if ch.isprintable() and not 0xD800 <= code <= 0xDFFF:
        return ch
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def dotenv_files(root: Path, env: str | None = None) -> list[Path]:
    """The dotenv files wrangler would read for `env`, lowest precedence first."""
    validate_env(env)
    if env is not None and (root / f"{DEV_VARS}.{env}").is_file():
        return [root / f"{DEV_VARS}.{env}"]
    if (root / DEV_VARS).is_file():
        return [root / DEV_VARS]
    if os.environ.get(LOAD_DOT_ENV_VARIABLE, "").lower() == "false":
        return []
    names = [".env", ".env.local"]
    if env is not None:
        names += [f".env.{env}", f".env.{env}.local"]
    return [root / name for name in names if (root / name).is_file()]


def env_files(root: Path, env: str) -> list[Path]:
    """The files that exist only for `env` (`.dev.vars.<env>`, `.env.<env>`, `.env.<env>.local`)."""
    validate_env(env)
    names = (f"{DEV_VARS}.{env}", f".env.{env}", f".env.{env}.local")
    return [root / name for name in names if (root / name).is_file()]


def read_dotenv(path: Path) -> dict[str, str]:
    """A dotenv file's names and values; a malformed line, a bare `KEY`, or a name or value
    no process environment can carry (see `environment_problem`) is an error."""
    result: dict[str, str] = {}
    for entry in parse_dotenv(read_text(path), str(path)):
        if entry.value is None:
            # Not even the "name": a bare line is as likely a pasted value as a name.
            raise ConfigError(
                f"{path}:{entry.line}: a line without '='",
                hint="lines look like NAME=value",
            )
        problem = environment_problem(entry.key, entry.value)
        if problem is not None:
            # Refused here, where it enters, and not when `run` or `dev --worker` hands it
            # to a child: the OS cannot, and the error then would name no file.
            about = entry.key if problem.startswith("the value") else "the line (not shown)"
            raise ConfigError(
                f"{path}:{entry.line}: {about}: {problem}{CANNOT_CARRY}",
                hint="a name is letters, digits and _; a value is text without NUL bytes",
            )
        result[entry.key] = entry.value
    return result


CANNOT_CARRY = ", which no process environment can carry"


def environment_problem(name: str, value: str | None = None) -> str | None:
    """Why `name` (and `value`) cannot go into a process environment, or None.

    The OS stores `NAME=value` as one NUL-terminated string: a NUL anywhere, an `=` in the
    name or an empty name cannot be carried (Python raises ValueError at exec). Text that
    is not encodable (a lone surrogate) neither. The reason never quotes either.
    """
    if not name:
        return "the name is empty"
    if "=" in name:
        return "the name holds '='"
    if "\x00" in name:
        return "the name holds a NUL byte"
    if not _encodable(name):
        return "the name is not text (a lone surrogate)"
    if value is not None:
        if "\x00" in value:
            return "the value holds a NUL byte"
        if not _encodable(value):
            return "the value is not text (a lone surrogate)"
    return None


def _encodable(text: str) -> bool:
    try:
        os.fsencode(text)  # exactly what subprocess does with each environment entry
    except UnicodeEncodeError:
        return False
    return True


def parse_dotenv(text: str, source: str) -> list[DotenvEntry]:
    """Parse dotenv text exactly as `dotenv_values(interpolate=False)` would, but strictly.

    The error names the line, never its content: the content is probably a secret.
    """
    from dotenv.parser import parse_stream

    entries: list[DotenvEntry] = []
    for binding in parse_stream(io.StringIO(text)):
        raw = binding.original.string
        # parse_stream attaches blank lines to the binding that follows them.
        line = binding.original.line + raw[: len(raw) - len(raw.lstrip())].count("\n")
        if binding.error:
            raise ConfigError(
                f"{source}:{line}: cannot parse this line",
                hint="lines look like NAME=value; quote a value with spaces or # in it",
            )
        if binding.key is not None:
            entries.append(DotenvEntry(binding.key, binding.value, line))
    return entries


def example_keys(root: Path) -> tuple[str, ...] | None:
    """The names in `.dev.vars.example` (never its placeholder values), or None without one."""
    example = root / DEV_VARS_EXAMPLE
    if not example.is_file():
        return None
    keys = [entry.key for entry in parse_dotenv(read_text(example), str(example))]
    return tuple(dict.fromkeys(keys))


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
