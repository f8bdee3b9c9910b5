"""wrangler's `migrations_pattern` rules: path normalisation, the glob, and the apply order.

wrangler ≥ 4.98 finds migrations by walking `migrations_dir` and keeping the regular files
(never symlinks) whose dir-relative path matches the binding's `migrations_pattern`, with
minimatch 5 (`dot: false`); it descends only into real folders the pattern could reach, and
orders the names segment by segment by their leading integer (workers-utils
`d1-migrations.ts`: `listFilesRelative`, `compareMigrationPaths`). This module is a port of
exactly that, so both tools see the same migrations in the same order.

The glob is minimatch 5's for `*`, `?`, `**`, `[...]` and `{a,b}`. Extglobs (`@(…)`,
`!(…)`, `+(…)`, `*(…)`, `?(…)`), brace ranges (`{1..9}`) and a leading `!` (negation) are
refused with a `UsageError`, never guessed: a pattern worktime read differently from
wrangler would apply a file wrangler does not, or skip one it runs.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from worktime_cli.errors import UsageError
from worktime_cli.project.bindings import normalize_relative_path, strip_dir_prefix

__all__ = [
    "GLOBSTAR",
    "Glob",
    "compare_paths",
    "normalize_relative_path",
    "parse_int",
    "path_key",
    "segment_number",
    "strip_dir_prefix",
]

# --- the order -------------------------------------------------------------------------------

# ECMAScript's StrWhiteSpaceChar: what `parseInt` skips before the digits.
_JS_SPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_JS_INT = re.compile(r"[+-]?[0-9]+")


def parse_int(text: str) -> float | None:
    """JavaScript's `parseInt(text, 10)` as a Number; None where that is NaN or not finite
    (`Number.isFinite` is false: wrangler treats such a name as unnumbered)."""
    match = _JS_INT.match(text.lstrip(_JS_SPACE))
    if match is None:
        return None
    digits = match.group()
    if len(digits.lstrip("+-").lstrip("0")) > 400:
        return None  # over Number.MAX_VALUE: Infinity
    try:
        value = float(int(digits))
    except OverflowError:
        return None
    return value + 0.0  # -0 is 0, as `!==` sees it


def segment_number(segment: str) -> float | None:
    """`parseInt(segment.split("_")[0], 10)`: the number a path segment carries."""
    return parse_int(segment.split("_", 1)[0])


def _js_less(a: str, b: str) -> bool:
    # JavaScript compares strings by UTF-16 code units, not code points.
    return a.encode("utf-16-be", "surrogatepass") < b.encode("utf-16-be", "surrogatepass")


def _compare_segments(a: str, b: str) -> int:
    a_num, b_num = segment_number(a), segment_number(b)
    if a_num != b_num:
        if a_num is not None and b_num is not None:
            return -1 if a_num < b_num else 1
        return -1 if a_num is not None else 1  # numbered before unnumbered
    if _js_less(a, b):
        return -1
    return 1 if _js_less(b, a) else 0


def compare_paths(a: str, b: str) -> int:
    """wrangler's `compareMigrationPaths`: segment by segment, by leading number (numbered
    before unnumbered), ties by code-unit order; the shorter path first."""
    a_parts, b_parts = a.split("/"), b.split("/")
    for x, y in zip(a_parts, b_parts, strict=False):
        cmp = _compare_segments(x, y)
        if cmp:
            return cmp
    return len(a_parts) - len(b_parts)


path_key: Callable[[str], Any] = functools.cmp_to_key(compare_paths)


# --- the glob (minimatch 5.1.9, dot: false) --------------------------------------------------


class _Globstar:
    def __repr__(self) -> str:
        return "**"


GLOBSTAR = _Globstar()
_Part = str | re.Pattern[str] | _Globstar

_RE_SPECIALS = set("().*{}+?[]^$\\!")
_ADD_PATTERN_START = set("[.(")
_QMARK = "[^/]"
_STAR = _QMARK + "*?"
_EXTGLOB = re.compile(r"[?*+@!]\(")
# JavaScript's `.` (in minimatch's `(?=.)`) does not match a line terminator.
_JS_ANY = "[^\\n\\r\\u2028\\u2029]"


def _unsupported(pattern: str, what: str) -> UsageError:
    return UsageError(
        f"migrations_pattern {pattern!r} uses {what}, which worktime does not read (it would "
        "risk applying a file wrangler does not)",
        hint="write it with *, ?, **, [...] and {a,b} only, e.g. migrations/*/migration.sql",
    )


def _parse(segment: str, sub: bool = False) -> tuple[str, bool]:
    """minimatch 5's `parse` of one segment, minus extglobs: (regex source, has magic)."""
    out = ""
    magic = False
    state: str | None = None
    in_class = False
    class_start = -1
    re_class_start = -1

    def clear() -> None:
        nonlocal out, magic, state
        if state == "*":
            out += _STAR
            magic = True
        elif state == "?":
            out += _QMARK
            magic = True
        elif state is not None:
            out += "\\" + state
        state = None

    for i, c in enumerate(segment):
        if c in "?*+@!":
            if in_class:
                out += "^" if c == "!" and i == class_start + 1 else c
                continue
            if c == "*" and state == "*":
                continue
            clear()
            state = c
            continue
        if c == "(":
            if in_class:
                out += "("
            elif state is None:
                out += "\\("
            else:
                raise _unsupported(segment, f"the extglob {state}(…)")
            continue
        if c in ")|":
            out += "\\" + c
            continue
        if c == "[":
            clear()
            if in_class:
                out += "\\["
                continue
            in_class, class_start, re_class_start = True, i, len(out)
            out += "["
            continue
        if c == "]":
            if i == class_start + 1 or not in_class:
                out += "\\]"
                continue
            if _compile(out[re_class_start:] + "]") is None:
                out = out[:re_class_start] + "(?:$.)"  # an invalid class matches nothing
            else:
                out += "]"
            magic = True
            in_class = False
            continue
        clear()
        if c in _RE_SPECIALS and not (c == "^" and in_class):
            out += "\\"
        out += c
    if in_class:
        rest, rest_magic = _parse(segment[class_start + 1 :], sub=True)
        out = out[:re_class_start] + "\\[" + rest
        magic = magic or rest_magic
    clear()
    add_start = out[:1] in _ADD_PATTERN_START
    if out and magic:
        out = f"(?={_JS_ANY})" + out
    if add_start and not segment.startswith("."):
        out = "(?!\\.)" + out
    return out, magic


def _compile(source: str) -> re.Pattern[str] | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # `[a--z]`: Python's future set syntax
        try:
            return re.compile(source)
        except re.error:
            return None


def _segment(segment: str) -> _Part:
    if segment == "**":
        return GLOBSTAR
    if segment == "":
        return ""
    source, magic = _parse(segment)
    if not magic:
        return segment
    compiled = _compile(source)
    return compiled if compiled is not None else re.compile("(?!)")


def _expand_braces(pattern: str, top: bool = True) -> list[str]:
    """brace-expansion's comma lists (`{a,b}`, nested); ranges are refused."""
    start = -1
    depth = 0
    for i, c in enumerate(pattern):
        if c == "{":
            if depth == 0:
                start = i
            depth += 1
        elif c == "}" and depth:
            depth -= 1
            if depth == 0:
                pre, body, post = pattern[:start], pattern[start + 1 : i], pattern[i + 1 :]
                if pre.endswith("$"):
                    return [pre + "{" + body + "}" + p for p in _expand_braces(post, False)]
                if re.fullmatch(
                    r"-?\d+\.\.-?\d+(?:\.\.-?\d+)?|[a-zA-Z]\.\.[a-zA-Z](?:\.\.-?\d+)?", body
                ):
                    raise _unsupported(pattern, f"the brace range {{{body}}}")
                parts = _comma_parts(body)
                if len(parts) == 1:
                    return [
                        pre + "{" + v + "}" + p
                        for v in _expand_braces(body, False)
                        for p in _expand_braces(post, False)
                    ]
                values = [v for part in parts for v in _expand_braces(part, False)]
                if top and not pre and not post:
                    values = [v for v in values if v]
                return [pre + v + p for v in values for p in _expand_braces(post, False)]
    return [pattern]


def _comma_parts(body: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for c in body:
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        if c == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += c
    parts.append(current)
    return parts


@dataclass(frozen=True)
class Glob:
    """One compiled `migrations_pattern`, relative to `migrations_dir`."""

    pattern: str
    sets: tuple[tuple[_Part, ...], ...]
    comment: bool = False

    @classmethod
    def compile(cls, pattern: str) -> Glob:
        if pattern.startswith("#"):
            return cls(pattern, (), comment=True)  # minimatch: a comment matches nothing
        if pattern.startswith("!"):
            raise _unsupported(pattern, "a leading ! (negation)")
        if _EXTGLOB.search(pattern):
            raise _unsupported(pattern, "an extglob")
        expanded = _expand_braces(pattern) if re.search(r"\{(?:(?!\{).)*\}", pattern) else [pattern]
        sets = tuple(tuple(_segment(s) for s in re.split(r"/+", p)) for p in expanded)
        return cls(pattern, sets)

    def match(self, path: str, partial: bool = False) -> bool:
        """minimatch's `match(path, partial)`: with `partial`, whether `path` (a folder)
        could be the start of a match, i.e. wrangler's walk descends into it."""
        if self.comment:
            return False
        if path == "/" and partial:
            return True
        file = re.split(r"/+", path)
        return any(_match_one(file, list(parts), partial) for parts in self.sets)


def _hit(part: _Part, segment: str) -> bool:
    if isinstance(part, str):
        return segment == part
    if isinstance(part, re.Pattern):
        return part.fullmatch(segment) is not None
    return False


def _hidden(segment: str) -> bool:
    return segment in (".", "..") or segment.startswith(".")


def _match_one(file: list[str], pattern: list[_Part], partial: bool) -> bool:
    if any(p is GLOBSTAR for p in pattern):
        return _match_globstar(file, pattern, partial, 0, 0)
    return _match_plain(file, pattern, partial, 0, 0)


def _match_plain(
    file: Sequence[str], pattern: Sequence[_Part], partial: bool, fi: int, pi: int
) -> bool:
    fl, pl = len(file), len(pattern)
    while fi < fl and pi < pl:
        part = pattern[pi]
        if part is GLOBSTAR or not _hit(part, file[fi]):
            return False
        fi += 1
        pi += 1
    if fi == fl and pi == pl:
        return True
    if fi == fl:
        return partial
    return fi == fl - 1 and file[fi] == ""


def _match_globstar(file: list[str], pattern: list[_Part], partial: bool, fi: int, pi: int) -> bool:
    first = next(i for i in range(pi, len(pattern)) if pattern[i] is GLOBSTAR)
    last = max(i for i in range(len(pattern)) if pattern[i] is GLOBSTAR)
    head = pattern[pi:first]
    body = pattern[first + 1 :] if partial else pattern[first + 1 : last]
    tail = [] if partial else pattern[last + 1 :]
    if head:
        if not _match_plain(file[fi : fi + len(head)], head, partial, 0, 0):
            return False
        fi += len(head)
    tail_match = 0
    if tail:
        if len(tail) + fi > len(file):
            return False
        tail_start = len(file) - len(tail)
        if _match_plain(file, tail, partial, tail_start, 0):
            tail_match = len(tail)
        else:
            if file[-1] != "" or fi + len(tail) == len(file):
                return False
            if not _match_plain(file, tail, partial, tail_start - 1, 0):
                return False
            tail_match = len(tail) + 1
    if not body:
        saw = bool(tail_match)
        for i in range(fi, len(file) - tail_match):
            saw = True
            if _hidden(file[i]):
                return False
        return partial or saw
    sections: list[list[Any]] = [[[], 0]]
    non_gs = 0
    sums = [0]
    for part in body:
        if part is GLOBSTAR:
            sums.append(non_gs)
            sections.append([[], 0])
        else:
            sections[-1][0].append(part)
            non_gs += 1
    idx = len(sections) - 1
    length = len(file) - tail_match
    for section in sections:
        section[1] = length - (sums[idx] + len(section[0]))
        idx -= 1
    return bool(_match_sections(file, sections, fi, 0, partial, 0, bool(tail_match)))


_MAX_GLOBSTAR_RECURSION = 200


def _match_sections(
    file: list[str],
    sections: list[list[Any]],
    fi: int,
    bi: int,
    partial: bool,
    depth: int,
    saw_tail: bool,
) -> bool | None:
    if bi >= len(sections):
        for i in range(fi, len(file)):
            saw_tail = True
            if _hidden(file[i]):
                return False
        return saw_tail
    body, after = sections[bi]
    while fi <= after:
        hit = _match_plain(file[: fi + len(body)], body, partial, fi, 0)
        if hit and depth < _MAX_GLOBSTAR_RECURSION:
            sub = _match_sections(
                file, sections, fi + len(body), bi + 1, partial, depth + 1, saw_tail
            )
            if sub is not False:
                return sub
        if fi < len(file) and _hidden(file[fi]):
            return False
        if fi >= len(file):
            return partial or None  # JS: file[fi] is undefined; the loop ends on the next test
        fi += 1
    return partial or None
