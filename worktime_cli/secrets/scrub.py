"""One scrubber for secret values in any text worktime repeats: messages, hints, log lines.

A value rarely comes back in the form it was given. A backend error may quote it with
`repr()` (`'sk_TOP\\\\slash'`), a JSON body escapes it (`"a\\"b"`, `\\u00e9`), a bytes repr
shows `b'\\xc3\\xa9'`, a URL percent-encodes it. `scrub(text, values)` removes every one of
those forms, longest first, so a shorter form inside a longer one cannot leave a tail behind.

Values worktime learns during a run (what it stores, what it reads from the keyring) are
remembered with `remember()`; `clean()` scrubs those from any text, which is what an error
boundary calls before printing. The set lives only in this process's memory.

`describe()` shows the shape of a JSON value with every string replaced by its length, for
messages that must say what was wrong with an item without repeating it (a KV bulk item
holds tokens: `{"key": 1, "value": <string, 40 chars>}`).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
# Values shorter than this are scrubbed only as a whole word: masking every "a" in a
# message would make it unreadable, and a one- or two-character value is no secret.
_WORD_ONLY_BELOW = 4

_remembered: set[str] = set()


def forms(value: str) -> set[str]:
    """Every spelling of `value` a message may contain (each non-empty)."""
    found = {value}
    found.add(repr(value)[1:-1])  # Python escapes: \\ \' \n \x1b \udcff
    found.add(json.dumps(value)[1:-1])  # JSON escapes, non-ASCII as \uXXXX
    found.add(json.dumps(value, ensure_ascii=False)[1:-1])
    found.add(value.encode("unicode_escape").decode("ascii"))
    encoded = value.encode("utf-8", "surrogateescape")
    found.add(repr(encoded)[2:-1])  # inside b'...'
    found.add(encoded.decode("latin-1"))  # bytes shown one char per byte
    found.add(quote(encoded, safe=""))
    found.add(quote(encoded, safe="/"))
    found.add(quote_plus(encoded, safe=""))
    found.add(quote(encoded, safe="").lower())  # %2f as well as %2F
    # repr() of a string holding a quote switches quote style: both escapes.
    found.add(value.replace("\\", "\\\\").replace('"', '\\"'))
    found.add(value.replace("\\", "\\\\").replace("'", "\\'"))
    found.discard("")
    return found


def scrub(text: str, values: Iterable[str], mask: str = MASK) -> str:
    """`text` with every form of every value in `values` replaced by `mask`."""
    spellings: set[str] = set()
    short: set[str] = set()
    for value in values:
        if not value:
            continue
        if len(value.strip()) < _WORD_ONLY_BELOW:
            short.update(forms(value))
        else:
            spellings.update(forms(value))
    for spelling in sorted(spellings, key=len, reverse=True):
        text = text.replace(spelling, mask)
    for spelling in sorted(short, key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(spelling)}(?!\w)", mask, text)
    return text


def remember(value: str | None) -> None:
    """Count `value` as a secret for the rest of this process (see `clean`)."""
    if value:
        _remembered.add(value)


def forget_all() -> None:
    """Drop every remembered value (tests; a long-lived embedding process)."""
    _remembered.clear()


def clean(text: str) -> str:
    """`text` with every remembered value scrubbed, in every form."""
    return scrub(text, _remembered) if _remembered else text


def describe(value: Any, *, depth: int = 3) -> str:
    """A JSON value's shape, strings shown only by length: safe to put in a message."""
    return _describe(value, depth)


def _describe(value: Any, depth: int) -> str:
    if isinstance(value, str):
        return f"<string, {len(value)} chars>"
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    if depth <= 0:
        return "{…}" if isinstance(value, dict) else "[…]"
    if isinstance(value, dict):
        items = list(value.items())
        shown = [f"{json.dumps(str(k)[:40])}: {_describe(v, depth - 1)}" for k, v in items[:8]]
        return "{" + ", ".join(shown + (["…"] if len(items) > 8 else [])) + "}"
    if isinstance(value, list | tuple):
        shown = [_describe(v, depth - 1) for v in value[:8]]
        return "[" + ", ".join(shown + (["…"] if len(value) > 8 else [])) + "]"
    return f"<{type(value).__name__}>"


_SECRET_SHAPES = re.compile(
    r"""
    ^(?:sk|pk|rk)_(?:live|test)_\w{8,}      # Stripe
    |^gh[pousr]_\w{20,}                    # GitHub tokens
    |^github_pat_\w{20,}
    |^xox[abprs]-[\w-]{10,}                # Slack
    |^AKIA[0-9A-Z]{16}$                     # AWS access key id
    |^eyJ[\w-]+\.[\w-]+\.                   # a JWT
    |^-----BEGIN[ A-Z]*PRIVATE\ KEY
    """,
    re.VERBOSE,
)


def looks_secret(text: str) -> bool:
    """Whether `text` looks like a credential: a known token prefix, or long random-looking text.

    "Random-looking" is 16+ characters without spaces mixing upper case, lower case and
    digits (base64, most API tokens); hex ids (KV namespaces, hashes) and paths are not.
    For deciding whether to repeat a word the user typed: when in doubt, it is not shown.
    """
    if _SECRET_SHAPES.search(text):
        return True
    if len(text) < 16 or any(c.isspace() for c in text):
        return False
    if text.startswith(("/", "./", "../", "~/")) and text.count("/") >= 2:
        return False  # a path: Click names the file it could not use
    return (
        any(c.islower() for c in text)
        and any(c.isupper() for c in text)
        and any(c.isdigit() for c in text)
    )


def value_as_name(name: str) -> bool:
    """Whether a would-be secret *name* is more likely a value typed in its place.

    Stricter than `looks_secret`: names like `GithubClientId2024Prod` stay usable; a token
    prefix, or 20+ characters with no `_` that switch between upper case, lower case and
    digits at least every other character (random text does ~62% of the time, words far
    less), does not pass.
    """
    if _SECRET_SHAPES.search(name):
        return True
    if len(name) < 20 or "_" in name or not looks_secret(name):
        return False
    classes = [0 if c.islower() else 1 if c.isupper() else 2 if c.isdigit() else 3 for c in name]
    switches = sum(a != b for a, b in itertools.pairwise(classes))
    return switches / (len(name) - 1) >= 0.5


_WORD = re.compile(r"""[^\s'"(),]+""")


def usage_message(message: str) -> str:
    """A usage error's text (Click's own wording) with every word that looks like a secret masked.

    Click repeats what it could not parse ("Got unexpected extra argument (sk_live_…)",
    "No such option: --ghp_…"); the usual such word is a value pasted in the wrong place.
    """
    return _WORD.sub(lambda m: MASK if looks_secret(m.group().lstrip("-")) else m.group(), message)
