"""How wide a line of the graph's text is, computed on the server before the browser ever draws it.

The graph's text is set in Arial or a font with Arial's advance widths (Liberation Sans on Linux, Helvetica on
macOS), so one table of widths holds wherever the SVG is shown. The SVG turns kerning off (``font-kerning: none``),
so a line is exactly the sum of its characters' advances: the browser tests compare this to ``getBBox()``.
"""

from __future__ import annotations

FONT_FAMILY = "Arial, 'Liberation Sans', Arimo, Helvetica, sans-serif"
UNITS_PER_EM = 2048

_FIRST = 32
_REGULAR = (
    "569 569 727 1139 1139 1821 1366 391 682 682 797 1196 569 682 569 569 1139 1139 1139 1139 1139 1139 1139 1139 "
    "1139 1139 569 569 1196 1196 1196 1139 2079 1366 1366 1479 1479 1366 1251 1593 1479 569 1024 1366 1139 1706 "
    "1479 1593 1366 1593 1479 1366 1251 1479 1366 1933 1366 1366 1251 569 569 569 961 1139 682 1139 1139 1024 1139 "
    "1139 569 1139 1139 455 455 1024 455 1706 1139 1139 1139 1139 682 1024 569 1139 1024 1479 1024 1024 1024 684 "
    "532 684 1196"
)
_BOLD = (
    "569 682 971 1139 1139 1821 1479 487 682 682 797 1196 569 682 569 569 1139 1139 1139 1139 1139 1139 1139 1139 "
    "1139 1139 682 682 1196 1196 1196 1251 1997 1479 1479 1479 1479 1366 1251 1593 1479 569 1139 1479 1251 1706 "
    "1479 1593 1366 1593 1479 1366 1251 1479 1366 1933 1366 1366 1251 682 569 682 1196 1139 682 1139 1251 1139 1251 "
    "1139 682 1251 1251 569 569 1139 569 1821 1251 1251 1251 1251 797 1139 682 1251 1139 1593 1139 1139 1024 797 "
    "573 797 1196"
)
"""Advance widths of printable ASCII (space to ``~``) in 1/2048 em, from the fonts' ``hmtx`` tables."""
_OTHERS = {"·": 569, "→": 2048, "≤": 1124, "≥": 1124, "●": 1237, "■": 1237}
"""The few other characters the graph writes that the fonts have, in both weights."""
_UNKNOWN = UNITS_PER_EM
"""Anything else (the status marks ✓ ⚠ ✕ ↻ come from a fallback font, 0.84 to 0.9 em there) counts a whole em."""

_WIDTHS = {
    weight: {chr(_FIRST + index): int(width) for index, width in enumerate(table.split())} | _OTHERS
    for weight, table in (("regular", _REGULAR), ("bold", _BOLD))
}


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """The advance width of ``text`` at ``size`` px: where a box or a label background must end to hold it.

    Example
    -------
    >>> round(text_width("ValidateOrder", 13, bold=True), 2)
    85.26
    >>> text_width("✓", 10) == 10
    True
    """
    widths = _WIDTHS["bold" if bold else "regular"]
    return sum(widths.get(char, _UNKNOWN) for char in text) * size / UNITS_PER_EM


def wrap(text: str, size: float, max_width: float, *, bold: bool = False) -> list[str]:
    """Break ``text`` between words into lines no wider than ``max_width``; a word is never cut, so none is lost.

    A one-character word (a condition's ``=`` or ``<``) that does not fit the line before it starts the next line
    with the word after it, rather than standing alone; a line that holds one word may be wider than ``max_width``.

    Example
    -------
    >>> wrap("payment.error = PaymentDeclinedError", 10, 120)
    ['payment.error =', 'PaymentDeclinedError']
    >>> wrap("preparationFailure.Error = OutOfStockError", 10, 110)
    ['preparationFailure.Error', '= OutOfStockError']
    >>> wrap("any error", 10, 120)
    ['any error']
    """
    lines: list[str] = []
    glued = ""
    for word in text.split(" "):
        word = f"{glued} {word}" if glued else word
        glued = ""
        if lines and text_width(f"{lines[-1]} {word}", size, bold=bold) <= max_width:
            lines[-1] = f"{lines[-1]} {word}"
        elif len(word) == 1 and lines:
            glued = word
        else:
            lines.append(word)
    if glued:
        lines.append(glued)
    return lines
