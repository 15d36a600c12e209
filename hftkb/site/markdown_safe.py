"""Markdown from a record (an FAQ answer) rendered to HTML that can hold nothing executable.

Three steps: HTML-escape the source (a raw `<script>` in the Markdown becomes text), render it with plain
Python-Markdown and no extensions (no attr_list, so `{: onclick=...}` stays text), then rebuild the output
keeping only an allowlist of tags and, on links, only http(s), relative or fragment hrefs.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser

from hftkb.site.escape import safe_url

ALLOWED_TAGS = {"p", "em", "strong", "code", "pre", "ul", "ol", "li", "blockquote", "br", "a", "h3", "h4", "hr"}
VOID_TAGS = {"br", "hr"}


def _safe_href(href: str) -> str | None:
    href = href.strip()
    if href.startswith("#") or (href and ":" not in href.split("/")[0] and not href.startswith("//")):
        return html.escape(href, quote=True)  # fragment or relative link
    return safe_url(href)


class _Sanitiser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in ALLOWED_TAGS:
            return
        attributes = ""
        if tag == "a":
            href = _safe_href(dict(attrs).get("href") or "")
            if href is None:
                self.open.append("span")  # keep the text, drop the link
                self.out.append("<span>")
                return
            attributes = f' href="{href}"'
        self.out.append(f"<{tag}{attributes}>")
        if tag not in VOID_TAGS:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if tag not in ALLOWED_TAGS or not self.open:
            return
        if tag == "a" and self.open[-1] == "span":
            self.out.append(f"</{self.open.pop()}>")
        elif tag in self.open:
            while self.open:
                name = self.open.pop()
                self.out.append(f"</{name}>")
                if name == tag:
                    break

    def handle_data(self, data):
        # Escape again, and make Jinja/Markdown syntax inert like every other record string.
        from hftkb.site.escape import esc

        self.out.append(esc(data))

    def result(self) -> str:
        while self.open:
            self.out.append(f"</{self.open.pop()}>")
        return "".join(self.out)


def render_markdown(source: str) -> str:
    import markdown

    # `&` and `<` only: that is enough to keep raw HTML out, and `>` must stay for block quotes.
    escaped = source.replace("&", "&amp;").replace("<", "&lt;")
    rendered = markdown.markdown(escaped, extensions=[], output_format="html")
    sanitiser = _Sanitiser()
    sanitiser.feed(rendered)
    sanitiser.close()
    return sanitiser.result()
