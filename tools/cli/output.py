"""Printing what the API sent: amounts of money, JSON, and text with its terminal control characters escaped."""

from __future__ import annotations

import json
import unicodedata
from typing import Any, TextIO

from tasks.models.order import UNPRINTABLE_CATEGORIES


def money(record: dict[str, Any], cents: str = "totalCents") -> str:
    """The record's amount in cents as a decimal with its currency, or ``-`` when it has none.

    Example
    -------
    >>> money({"priceCents": 8999, "currency": "USD"}, "priceCents"), money({})
    ('89.99 USD', '-')
    """
    if record.get(cents) is None:
        return "-"
    return f"{record[cents] / 100:.2f} {record.get('currency', '')}".strip()


class _Escapes(dict[int, str]):
    """What ``str.translate`` puts for each character: its escape if its Unicode category is unprintable, else itself.

    Worked out the first time a character is met, so the table costs nothing up front and stays as small as the text.
    """

    def __init__(self, *, keep_newlines: bool) -> None:
        super().__init__({ord("\n"): "\n"} if keep_newlines else {})

    def __missing__(self, code: int) -> str:
        character = chr(code)
        if unicodedata.category(character) not in UNPRINTABLE_CATEGORIES:
            escape = character
        elif code < 0x100:
            escape = f"\\x{code:02x}"
        elif code < 0x10000:
            escape = f"\\u{code:04x}"
        else:
            escape = f"\\U{code:08x}"
        self[code] = escape
        return escape


_ESCAPES = _Escapes(keep_newlines=False)
_ESCAPES_BUT_NEWLINE = _Escapes(keep_newlines=True)


def visible(text: str, *, newlines: bool = False) -> str:
    r"""Text from the API made inert: control, format and separator characters are printed as escapes.

    An ESC sequence in a cancel reason or an address would clear or recolour the terminal, a carriage return overwrite
    the line, U+202E reverse it, U+2028 break it, U+200B hide in it. A newline is escaped too, one datum staying one
    line, unless ``newlines``. The categories are the ones the API refuses in names and addresses
    (``tasks.models.order.UNPRINTABLE_CATEGORIES``): C0, DEL and C1 (Cc), format characters (Cf), line and paragraph
    separators (Zl, Zp).

    Example
    -------
    >>> print(visible("\x1b[2Jpaid\r\u202erefund\u200b"))
    \x1b[2Jpaid\x0d\u202erefund\u200b
    """
    return text.translate(_ESCAPES_BUT_NEWLINE if newlines else _ESCAPES)


def say(line: str, *, file: TextIO | None = None, flush: bool = False) -> None:
    """Print a line made from API data, escaped so that it stays one line of plain text."""
    print(visible(line), file=file, flush=flush)


def print_json(value: Any) -> None:
    """JSON as the API sent it; ``ensure_ascii`` escapes every control character and bidi override in it."""
    print(json.dumps(value, indent=2, ensure_ascii=True))
