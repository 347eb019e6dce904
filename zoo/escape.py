"""Escaping user text (cards, validation results, paths) for the Markdown card and the terminal.

A card's strings are data, never markup: in the Markdown card they must not open HTML
(``<script>``), links (``[x](javascript:...)``), table cells (``|``) or new blocks (newlines);
on the terminal they must not be read as rich markup (``[/x]`` would raise, ``[link=...]`` would
render). Markdown escaping follows CommonMark's backslash escapes and entity references
(https://spec.commonmark.org/0.31.2/#backslash-escapes); terminal escaping is rich's own
:func:`rich.markup.escape`.
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote, urlsplit

from rich.markup import escape as rich_escape

__all__ = ["md", "md_code", "md_link", "rich_escape"]

# Backticks too: a code span opened by card text could pair with a backtick of the template and leave the
# template's own code span text outside. '_' and '~' only ever make emphasis: left alone, names keep them.
_MD_SPECIAL = re.compile(r"([\\`*\[\]|#])")
_URL_SAFE = ":/?#[]@!$&'*+,;=%-._~"  # RFC 3986 reserved and unreserved characters, less '(' ')': they end a link
LINK_SCHEMES = ("http", "https")


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def md(value: object) -> str:
    """Text for Markdown prose or a table cell: one line, HTML and Markdown syntax escaped.

    Example:
        >>> print(md("<script>x</script> | [a](javascript:b)"))
        &lt;script&gt;x&lt;/script&gt; \\| \\[a\\](javascript:b)
    """
    text = html.escape(_one_line(value), quote=False)
    return _MD_SPECIAL.sub(r"\\\1", text)


def md_code(value: object) -> str:
    """Text for inside a Markdown code span (`` `...` ``): one line, no backtick, pipes escaped for tables, and
    HTML escaped too (a backtick in other card text could pair with the span's own and leave this text outside)."""
    return html.escape(_one_line(value).replace("`", "'"), quote=False).replace("|", "\\|")


def md_link(text: object, url: object) -> str:
    """A Markdown link to an http(s) URL; any other URL (``javascript:``, a local path) is shown, not linked.

    Example:
        >>> md_link("paper", "javascript:alert(1)")
        'paper (`javascript:alert(1)`)'
    """
    target = str(url)
    parts = urlsplit(target) if target.isprintable() else None
    if parts is None or parts.scheme.lower() not in LINK_SCHEMES or not parts.netloc:
        return f"{md(text)} (`{md_code(target)}`)"
    return f"[{md(text)}]({quote(target, safe=_URL_SAFE)})"
