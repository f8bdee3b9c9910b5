"""Read and edit wrangler.json / wrangler.jsonc without losing the user's comments or layout.

wrangler reads both files with Microsoft's jsonc-parser (JSON plus comments and trailing
commas) and edits them with its `modify`: an edit is a text splice at the offsets of the
parsed tree, so everything outside the edited region stays byte for byte. We do the same.

Reading blanks comments and trailing commas and hands the rest to the stdlib `json`: as
strict as jsonc-parser, and fast enough for every command. Editing needs offsets, which the
stdlib does not give: they come from json-five (`json5` on import, PyPI `json-five`), a
maintained, typed, pure-Python JSON5 parser whose round-trip model keeps every token's
position (JSONC is a subset of JSON5, so it parses every file we read). We chose it because
`jsonc-edit` drives a Node daemon (worktime must run without Node), `json5` (dpranke) keeps
no positions, and json5kit is unmaintained. json-five's own dumper could re-emit an edited
model, but inserting a node there means hand-placing whitespace on neighbouring nodes (a
comment after a comma belongs to the *next* key), so we take only offsets from the model and
splice the text as jsonc-parser's `modify` + `applyEdits` do. Every edited text is read
back strictly before it is written.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worktime_cli.errors import ConfigError

if TYPE_CHECKING:
    from json5.model import Node

Key = str | int
KeyPath = Sequence[Key]

# The parsed values are plain dicts/lists; anything deeper than this is not a wrangler
# config, and Python's own recursion (in the parser or in code walking the result) would
# end in RecursionError long before a user could read why.
MAX_DEPTH = 256


def loads(path: Path, text: str) -> Any:
    """The plain value of a JSON/JSONC document, or a one-line ConfigError naming `path`.

    Read as jsonc-parser reads it for wrangler (`allowTrailingComma`): strict JSON plus
    comments and trailing commas, nothing of JSON5's extras. Comments and trailing commas
    become spaces, so the stdlib parser (fast: no json-five import on every command) sees
    the same offsets and its line:column points into the user's file.
    """
    plain = _blank_jsonc(text.removeprefix("\ufeff"))
    check_depth(path, plain)
    try:
        return json.loads(plain)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}",
            hint="fix the JSON there (comments and trailing commas are fine)",
        ) from None
    except RecursionError:  # check_depth makes this unreachable; kept as the last guard
        raise ConfigError(f"{path}: nesting is too deep") from None


# A double-quoted string (kept as is, so `//` or `,]` inside one is data), a comment.
_COMMENTS = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*|/\*.*?\*/', re.S)
# A string again, or a comma whose next non-space character closes an array/object.
_TRAILING_COMMAS = re.compile(r'"(?:[^"\\\n]|\\.)*"|,(?=\s*[\]}])')
_DEPTH_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"|[\[\]{}]')


def _blank_jsonc(text: str) -> str:
    """`text` with comments and trailing commas replaced by spaces (newlines kept)."""

    def comment(match: re.Match[str]) -> str:
        token = match.group(0)
        return token if token.startswith('"') else re.sub(r"[^\n]", " ", token)

    def comma(match: re.Match[str]) -> str:
        token = match.group(0)
        return token if token.startswith('"') else " "

    return _TRAILING_COMMAS.sub(comma, _COMMENTS.sub(comment, text))


def check_depth(path: Path, plain: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH before a recursive parser sees it.

    `plain` has its comments blanked already; strings are skipped so brackets in them do
    not count. Exact for valid input; for invalid input the parser reports the real error.
    """
    depth = 0
    for match in _DEPTH_TOKENS.finditer(plain):
        char = match.group(0)
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                line = plain.count("\n", 0, match.start()) + 1
                raise ConfigError(
                    f"{path}:{line}: nesting is deeper than {MAX_DEPTH} levels",
                    hint="a wrangler config is never nested that deep; check the file",
                )
        elif char in "]}":
            depth -= 1


# --- editing ------------------------------------------------------------------------------


class JsoncText:
    """A JSON/JSONC document edited in place: every change is one splice of the text.

    The text is the file's without its BOM and with LF line endings (`editing.edit` reads it
    so and `config_text` writes the file's own BOM, line endings and final newline back), so
    the splices here only ever meet `\n`.
    """

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text
        self._value: Any = loads(path, text)  # a file we cannot read is never edited

    def get(self, keys: KeyPath) -> Any:
        """The plain value at `keys`, or None when the path does not exist."""
        value: Any = self._value
        for key in keys:
            if isinstance(value, dict) and isinstance(key, str):
                value = value.get(key)
            elif isinstance(value, list) and isinstance(key, int):
                value = value[key] if -len(value) <= key < len(value) else None
            else:
                return None
        return copy.deepcopy(value)

    def set(self, keys: KeyPath, value: Any) -> None:
        """Set `keys` to `value`, creating missing objects on the way (as `modify`)."""
        if not keys:
            raise ValueError("cannot replace the whole document")
        node, depth = self._deepest(keys[:-1])
        remaining = list(keys[depth:])
        if depth < len(keys) - 1 or not _has(node, keys[-1]):
            # Build the missing part as one value and insert it where the path stops.
            nested: Any = value
            for key in reversed(remaining[1:]):
                nested = {str(key): nested}
            self._insert(node, remaining[0], nested)
            return
        child = _child(node, keys[-1])
        start, end = _span(child)
        indent = self._line_indent(self._entry_start(node, keys[-1]))
        self._splice([(start, end, self._render(value, indent))])

    def append(self, keys: KeyPath, value: Any) -> None:
        """Append `value` to the array at `keys`, creating the array if it is missing."""
        node, depth = self._deepest(keys)
        if depth < len(keys):
            self.set(keys, [value])
            return
        from json5.model import JSONArray

        if not isinstance(node, JSONArray):
            raise ConfigError(f"{self.path}: `{_dotted(keys)}` is not an array")
        self._insert(node, None, value)

    def remove(self, keys: KeyPath) -> None:
        """Remove the member or element at `keys`, with its comma and its line."""
        if not keys:
            raise ValueError("cannot remove the whole document")
        node, depth = self._deepest(keys[:-1])
        if depth < len(keys) - 1 or not _has(node, keys[-1]):
            raise KeyError(_dotted(keys))
        self._remove(node, keys[-1])

    # --- the splices ------------------------------------------------------------------

    def _model(self) -> Node:
        import json5
        from json5.loader import ModelLoader

        try:
            model: Node = json5.loads(self.text, loader=ModelLoader()).value
        except (json5.JSON5DecodeError, RecursionError):
            # `loads` accepted this text, so json-five (a superset) should too; if it does
            # not, refuse the edit rather than guess offsets.
            raise ConfigError(
                f"{self.path}: cannot edit this file in place",
                hint=f"edit {self.path.name} by hand",
            ) from None
        return model

    def _deepest(self, keys: KeyPath) -> tuple[Node, int]:
        """The node at the longest existing prefix of `keys`, and that prefix's length."""
        node = self._model()
        for depth, key in enumerate(keys):
            if not _has(node, key):
                return node, depth
            node = _child(node, key)
        return node, len(keys)

    def _insert(self, container: Node, key: Key | None, value: Any) -> None:
        """Add a member (`key` set, objects) or an element (`key` None, arrays) at the end."""
        from json5.model import JSONObject

        if isinstance(container, JSONObject):
            if not isinstance(key, str):
                raise ConfigError(f"{self.path}: expected a key for an object member")
        elif key is not None:
            raise ConfigError(f"{self.path}: cannot set {key!r} on a value that is no object")
        entries = _entries(container)
        open_at, close_at = _span(container)
        if entries:
            first_start = entries[0][0]
            child_indent = self._own_line_indent(first_start)
        else:
            child_indent = self._line_indent(open_at) + self._unit()
        if child_indent is None:  # `{ "binding": "DB" }`: keep it on one line
            rendered = _member(key, json.dumps(_plain(value), ensure_ascii=False))
            last_end = entries[-1][1]
            self._splice([(last_end, last_end, ", " + rendered)])
            return
        rendered = _member(key, self._render(value, child_indent))
        if not entries:
            inner = self.text[open_at + 1 : close_at - 1]
            if inner.strip():  # only comments inside: keep them after the new member
                self._splice([(open_at + 1, open_at + 1, "\n" + child_indent + rendered)])
            else:
                closing = "\n" + self._line_indent(open_at)
                self._splice(
                    [(open_at + 1, close_at - 1, "\n" + child_indent + rendered + closing)]
                )
            return
        last_end = entries[-1][1]
        after = _skip_space(self.text, last_end)
        if after < len(self.text) and self.text[after] == ",":
            # A trailing comma: the file's style, so the new last member gets one too.
            at = self._end_of_line(after + 1)
            self._splice([(at, at, "\n" + child_indent + rendered + ",")])
        else:
            at = self._end_of_line(last_end)
            self._splice([(at, at, "\n" + child_indent + rendered), (last_end, last_end, ",")])

    def _remove(self, container: Node, key: Key) -> None:
        entries = _entries(container)
        index = _index(container, key)
        start, end = entries[index]
        text = self.text
        after = _skip_space(text, end)
        has_comma = after < len(text) and text[after] == ","
        line_start = text.rfind("\n", 0, start) + 1
        cuts: list[tuple[int, int, str]] = []
        if not text[line_start:start].strip():
            # The entry starts its own line: take its line(s) whole when nothing else is on
            # the last one but its comma and a comment (the comment was about the entry).
            if has_comma:
                end = after + 1
            line_end = self._blank_rest(end)
            if line_end is not None:
                if not has_comma and index > 0:  # the last one: drop the comma before it
                    comma = _skip_space(text, entries[index - 1][1])
                    if text[comma] == ",":
                        cuts.append((comma, comma + 1, ""))
                start, end = line_start, min(line_end + 1, len(text))
            elif _skip_space(text, end) < len(text) and text[_skip_space(text, end)] in "]}":
                # `"b": 2}`: the bracket closes on this line; take the line break before
                # the entry (and, for the last one, the comma before it) instead.
                if not has_comma and index > 0:
                    start = entries[index - 1][1]
                elif line_start > 0:
                    start = line_start - 1
            else:  # another entry follows on this line: up to it
                while end < len(text) and text[end] in " \t":
                    end += 1
        elif has_comma:  # `{ "a": 1, "b": 2 }` without "a": up to the next member
            end = after + 1
            while end < len(text) and text[end] in " \t":
                end += 1
        elif index > 0:  # without the last one: from the end of the one before it
            start = entries[index - 1][1]
        cuts.append((start, end, ""))
        self._splice(cuts)

    def _blank_rest(self, offset: int) -> int | None:
        """The end of `offset`'s line if only whitespace or a comment follows, else None."""
        newline = self.text.find("\n", offset)
        line_end = len(self.text) if newline < 0 else newline
        return line_end if self._end_of_line(offset) == line_end else None

    def _splice(self, edits: list[tuple[int, int, str]]) -> None:
        text = self.text
        for start, end, content in sorted(edits, key=lambda e: e[0], reverse=True):
            text = text[:start] + content + text[end:]
        try:
            self._value = loads(self.path, text)  # never a file wrangler could not read
        except ConfigError:
            raise ConfigError(
                f"{self.path}: worktime could not make this edit without breaking the file",
                hint=f"make the change by hand; {self.path.name} was not touched",
            ) from None
        self.text = text

    # --- layout -----------------------------------------------------------------------

    def _entry_start(self, container: Node, key: Key) -> int:
        return _entries(container)[_index(container, key)][0]

    def _line_indent(self, offset: int) -> str:
        line_start = self.text.rfind("\n", 0, offset) + 1
        match = re.match(r"[ \t]*", self.text[line_start:offset])
        return match.group(0) if match else ""

    def _own_line_indent(self, offset: int) -> str | None:
        """The indent of `offset`'s line if it starts that line, else None (inline layout)."""
        line_start = self.text.rfind("\n", 0, offset) + 1
        before = self.text[line_start:offset]
        return before if not before.strip() else None

    def _end_of_line(self, offset: int) -> int:
        """Where to insert after `offset`: the end of its line when only whitespace or a
        comment follows there (the comment stays with its entry), else `offset` itself."""
        newline = self.text.find("\n", offset)
        line_end = len(self.text) if newline < 0 else newline
        rest = self.text[offset:line_end].strip()
        if not rest or rest.startswith("//"):
            return line_end
        if rest.startswith("/*") and rest.endswith("*/") and rest.find("*/") == len(rest) - 2:
            return line_end
        return offset

    def _unit(self) -> str:
        """One level of indentation as the file uses it: the root's first member's indent
        (comment lines such as ` * docs` say nothing); a tab, as create-cloudflare writes,
        when the file shows none."""
        root = self._model()
        entries = _entries(root)
        if entries:
            child = self._own_line_indent(entries[0][0])
            outer = self._line_indent(_span(root)[0])
            if child and child.startswith(outer) and len(child) > len(outer):
                return child[len(outer) :]
        return "\t"

    def _render(self, value: Any, indent: str) -> str:
        plain = _plain(value)
        if not isinstance(plain, dict | list) or not plain:
            return json.dumps(plain, ensure_ascii=False)
        unit = self._unit()
        text = json.dumps(plain, ensure_ascii=False, indent=unit)
        return text.replace("\n", "\n" + indent)


def _member(key: Key | None, rendered: str) -> str:
    return rendered if key is None else f"{json.dumps(key, ensure_ascii=False)}: {rendered}"


def _plain(value: Any) -> Any:
    """Plain JSON values from whatever a caller built (tomlkit items unwrap themselves)."""
    unwrap = getattr(value, "unwrap", None)
    if callable(unwrap):
        value = unwrap()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _span(node: Node) -> tuple[int, int]:
    # json-five keeps the first and last token of every node (private names, stable in 1.x,
    # which pyproject pins); their offsets index the str we parsed.
    first = node._tok
    last = node._end_tok or first
    assert first is not None and last is not None
    return int(first.index), int(last.end)


def _entries(container: Node) -> list[tuple[int, int]]:
    """(start, end) of each member (key to value) or element, in order."""
    from json5.model import JSONArray, JSONObject

    if isinstance(container, JSONObject):
        return [
            (_span(k)[0], _span(v)[1])
            for k, v in zip(container.keys, container.values, strict=True)
        ]
    if isinstance(container, JSONArray):
        return [_span(v) for v in container.values]
    return []


def _key_name(node: Node) -> str:
    name = getattr(node, "characters", None)
    if name is None:
        name = getattr(node, "name", "")
    return str(name)


def _index(container: Node, key: Key) -> int:
    from json5.model import JSONArray, JSONObject

    if isinstance(container, JSONObject) and isinstance(key, str):
        names = [_key_name(k) for k in container.keys]
        # Duplicate keys: the last one wins when parsed, so it is the one edited.
        return len(names) - 1 - names[::-1].index(key)
    if isinstance(container, JSONArray) and isinstance(key, int):
        return key % len(container.values)
    raise KeyError(key)


def _has(container: Node, key: Key) -> bool:
    from json5.model import JSONArray, JSONObject

    if isinstance(container, JSONObject):
        return isinstance(key, str) and key in {_key_name(k) for k in container.keys}
    if isinstance(container, JSONArray):
        return isinstance(key, int) and -len(container.values) <= key < len(container.values)
    return False


def _child(container: Node, key: Key) -> Node:
    from json5.model import JSONArray, JSONObject

    assert isinstance(container, JSONObject | JSONArray)  # _has checked the kind
    value: Node = container.values[_index(container, key)]
    return value


def _skip_space(text: str, offset: int) -> int:
    """The offset of the next character that is neither whitespace nor in a comment."""
    while offset < len(text):
        if text[offset].isspace():
            offset += 1
        elif text.startswith("//", offset):
            newline = text.find("\n", offset)
            offset = len(text) if newline < 0 else newline
        elif text.startswith("/*", offset):
            close = text.find("*/", offset + 2)
            offset = len(text) if close < 0 else close + 2
        else:
            break
    return offset


def _dotted(keys: KeyPath) -> str:
    return ".".join(str(k) for k in keys)
