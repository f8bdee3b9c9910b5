"""A config file's bytes around an edit: its BOM, its line endings, its final newline.

wrangler reads its config as UTF-8 and drops a leading UTF-8 BOM; a UTF-16 or UTF-32 BOM is
an error (`removeBOMAndValidate` in workers-utils' parse.ts). Here parsers and editors see
the text without the BOM and with LF line endings, and `restore` turns an edited text back
into bytes the way the file was written: its BOM, each untouched line with its own line
ending, new lines with the file's usual one, a final newline only if it had one. So a
Windows checkout keeps its CRLF, and `git diff` shows the edit and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from worktime_cli.errors import ConfigError

_UTF8_BOM = "\ufeff"
# Longest first: a UTF-32 LE BOM starts with the UTF-16 LE one.
_OTHER_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32 BE"),
    (b"\xff\xfe\x00\x00", "UTF-32 LE"),
    (b"\xfe\xff", "UTF-16 BE"),
    (b"\xff\xfe", "UTF-16 LE"),
)


@dataclass(frozen=True)
class ConfigText:
    """A config file as read: `data` its bytes, `text` what parsers and editors see."""

    data: bytes
    raw: str  # `data` decoded, BOM and line endings as they are
    text: str  # without the BOM, every CRLF as LF, ending in a newline

    def restore(self, edited: str) -> bytes:
        """`edited` (a change of `text`) as bytes laid out as the file was."""
        if edited == self.text:
            return self.data
        raw = self.raw
        bom = raw.startswith(_UTF8_BOM)
        raw = raw.removeprefix(_UTF8_BOM)
        crlf = raw.count("\r\n")
        newline = "\r\n" if crlf > raw.count("\n") - crlf else "\n"
        old = _lines(raw)
        new = _lines(edited)
        import difflib  # only when a file is written: it costs ~20 ms to import

        # Lines are matched as the editor saw them (LF); a matched line is written back with
        # its own ending, so a file with mixed endings keeps each one.
        matcher = difflib.SequenceMatcher(None, [_lf(line) for line in old], new, autojunk=False)
        out: list[str] = []
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                out += old[i1:i2]
            else:
                out += [line[:-1] + newline if line.endswith("\n") else line for line in new[j1:j2]]
        result = "".join(out)
        if raw and not raw.endswith("\n"):
            result = result[:-2] if result.endswith("\r\n") else result.removesuffix("\n")
        elif raw and result and not result.endswith("\n"):
            result += newline
        return ((_UTF8_BOM if bom else "") + result).encode("utf-8")


def _lines(text: str) -> list[str]:
    """`text` cut after each LF (a CR alone is no line break here, as in TOML and JSON)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _lf(line: str) -> str:
    return line[:-2] + "\n" if line.endswith("\r\n") else line


def read(path: Path) -> ConfigText:
    """The config at `path`, as wrangler reads it: UTF-8, a UTF-8 BOM dropped."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    for bom, encoding in _OTHER_BOMS:
        if data.startswith(bom):
            raise ConfigError(
                f"{path} is encoded as {encoding}; wrangler reads only UTF-8",
                hint="save it as UTF-8 (without a byte order mark)",
            )
    try:
        raw = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    text = raw.removeprefix(_UTF8_BOM).replace("\r\n", "\n")
    if text and not text.endswith("\n"):
        # Editors then lay out an edit the same with or without one; `restore` drops it.
        text += "\n"
    return ConfigText(data, raw, text)
