"""Checks of a traffic file's text that no parser makes: lone surrogates in JSON, CSV quotes that go wrong.

Why apart from :mod:`workbench.traffic`: both parsers accept these silently. ``json.loads`` turns an
unpaired ``\\ud800`` escape into a string no encoder can write (it failed later, as a traceback and a
failed run row); Python's csv reader, given a quote that never closes, reads the rest of the file as
one value (one giant prompt). Each check finds the place to name (the field; the line the quote
opened on) so that the user gets one error before anything runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.errors import TrafficError

__all__ = ["reject_surrogates", "bad_quote"]


def reject_surrogates(record: dict, p: Path, line: int) -> None:
    """Raise one :class:`TrafficError` naming the field if ``record`` holds a lone surrogate.

    A JSON escape such as ``\\ud800`` without its pair decodes to a lone surrogate, which no
    provider, store or export can encode: stop here, naming the field, not with a traceback later."""
    stack: list[tuple[str | None, Any]] = [(None, record)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            for k, v in value.items():
                key = str(k)
                if _has_surrogate(key):
                    raise TrafficError(f"lone surrogate in a key {_surrogates(key)}: not valid Unicode "
                                       "(a \\uD800-\\uDFFF escape without its pair)", file=p, line=line, field=where)
                stack.append((key if where is None else f"{where}.{key}", v))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(value))
        elif isinstance(value, str) and _has_surrogate(value):
            raise TrafficError(f"lone surrogate {_surrogates(value)} in the text: not valid Unicode "
                               "(a \\uD800-\\uDFFF escape without its pair)", file=p, line=line, field=where)


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _surrogates(text: str) -> str:
    return ", ".join(sorted({f"\\u{ord(c):04x}" for c in text if 0xD800 <= ord(c) <= 0xDFFF}))


def bad_quote(text: str, start: int) -> tuple[int, str] | None:
    """Where a quoted value goes wrong, scanning from line ``start`` (the first line of the record the
    reader failed on): the line its quote opened on and what is wrong, or None."""
    offset = 0
    for _ in range(start - 1):
        offset = text.index("\n", offset) + 1
    line, opened, quoted, field_start, closed = start, 0, False, True, False
    for ch in text[offset:]:
        if quoted:
            if ch == '"':
                quoted, closed = False, True
        elif ch == '"' and (field_start or closed):  # a value's opening quote, or "" inside one
            quoted, opened = True, (opened if closed else line)
        elif closed and ch not in ",\r\n":
            return opened, (f"the quoted value opened here closes on line {line} and is followed by {ch!r}: "
                            "a quote is missing or stray (quotes inside a quoted value are doubled: \"\")")
        else:
            field_start = ch in ",\n\r"
        if ch != '"':
            closed = False
        if ch == "\n":
            line += 1
    if quoted:
        return opened, ("unterminated quote: the quoted value opened here never closes (the rest of the file "
                        "would be read as one value)")
    return None
