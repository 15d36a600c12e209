"""Escaping every string that comes from a record before it reaches a page.

A record's title can hold `<script>`, an `onerror=` attribute, a Markdown link to `javascript:` or a Jinja
`{{ config }}`: all of it must show as text. Generated page bodies are HTML built here and handed to MkDocs
after its Markdown step (hftkb.site.hooks), so HTML escaping is the main defence. On top of it, the characters
that open a Markdown link or code span or a template expression are written as numeric character references:
the browser shows them unchanged, but no later processor (a macros plugin someone adds, a theme that runs
Markdown over titles, Zensical) can read them as syntax.
"""

from __future__ import annotations

import html
from urllib.parse import urlsplit

# HTML's five, then the characters that would start a Markdown link or code span (`[`, `]`, backtick) or a Jinja
# expression (`{`, `}`). One translate() pass, so an entity written for one character is never escaped again.
_TABLE = {ord(c): f"&#{ord(c)};" for c in "[]{}`"}
_TABLE.update({ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord('"'): "&quot;", ord("'"): "&#39;"})


def esc(value: object) -> str:
    """Text for an HTML element body or a double-quoted attribute: shows exactly as written, runs nothing."""
    if value is None:
        return ""
    return str(value).translate(_TABLE)


def attr(value: object) -> str:
    """A value for a data-* attribute (term keys, years): HTML-escaped only, so scripts read it back unchanged.

    Attribute values are never parsed as Markdown or templates, so the extra encoding of `esc` is not needed.
    """
    return "" if value is None else html.escape(str(value), quote=True)


def safe_url(url: str | None) -> str | None:
    """An http(s) URL escaped for an href, or None for anything else (`javascript:`, `data:`, relative).

    The models already reject other schemes; this second check keeps a hand-built record or a future field
    from becoming a script link.
    """
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    # Only HTML-escape: numeric references in an href are decoded by the browser anyway, and the URL must stay
    # readable for copy-paste in the page source.
    return html.escape(url.strip(), quote=True)


def front_matter_string(value: str) -> str:
    """A YAML scalar for a generated page's front matter (title, description).

    Material inserts `page.meta.title` and `page.meta.description` into the page unescaped, so the value is
    escaped here, then JSON-quoted (JSON strings are valid YAML).
    """
    import json

    return json.dumps(esc(" ".join(value.split())), ensure_ascii=False)
