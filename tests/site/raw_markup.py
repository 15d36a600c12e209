"""Find Markdown or reST markup left raw in a built page's visible text (issue 26 item 3).

Only text a reader sees is scanned: outside <pre>, <code>, <kbd>, <script>, <style>, <svg> and <textarea>, and
outside elements marked data-raw-ok (none yet). What counts as raw markup, each with the example that was seen:
backticks (``code``, `code`), **bold** / __bold__, a reST literal-block marker ("Python::"), reST roles
(:func:`x`), Markdown links ([text](url)), "# " headings, "* " list items run into a paragraph, underlines
("-----"), and the metric keys harmful_score / finetune_accuracy shown as identifiers.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

SKIPPED = {"pre", "code", "kbd", "script", "style", "svg", "textarea", "samp"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
BLOCKS = {"p", "li", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "div", "dd", "dt", "figcaption", "blockquote", "summary"}

PATTERNS = {
    "backtick": re.compile(r"`"),
    "bold": re.compile(r"\*\*\S[^*]*\*\*|(?<!\w)__\S[^_]*__(?!\w)"),
    "rst literal marker": re.compile(r"\w::(\s|$)"),
    "rst role": re.compile(r":[a-z]+:`"),
    "markdown link": re.compile(r"\[[^\]\n]+\]\([^)\s]+\)"),
    "markdown heading": re.compile(r"(^|\n)\s*#{1,6} \w"),
    "list item in text": re.compile(r"(^|\n)\s*\* \w"),
    "underline": re.compile(r"(^|\n)\s*(-{4,}|={4,}|~{4,})\s*($|\n)"),
    "metric key": re.compile(r"\b(harmful_score|finetune_accuracy)\b"),
}


class _Visible(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.skip = 0
        self.stack: list[bool] = []
        self.blocks: list[str] = []
        self.current: list[str] = []

    def _flush(self):
        text = "".join(self.current)
        if text.strip():
            self.blocks.append(text)
        self.current = []

    def handle_starttag(self, tag, attrs):
        if tag in VOID:
            return
        skipped = tag in SKIPPED or any(name == "data-raw-ok" for name, _ in attrs)
        self.stack.append(skipped)
        self.skip += skipped
        if tag in BLOCKS:
            self._flush()

    def handle_endtag(self, tag):
        if tag in VOID or not self.stack:
            return
        self.skip -= self.stack.pop()
        if tag in BLOCKS:
            self._flush()

    def handle_data(self, data):
        if not self.skip:
            self.current.append(data)

    def close(self):
        super().close()
        self._flush()


def visible_blocks(html: str) -> list[str]:
    parser = _Visible()
    parser.feed(html)
    parser.close()
    return parser.blocks


def raw_markup(html: str) -> list[tuple[str, str]]:
    """[(kind, the text block around it)] for every piece of raw markup in the page's visible text."""
    found = []
    for block in visible_blocks(html):
        for kind, pattern in PATTERNS.items():
            if pattern.search(block):
                found.append((kind, " ".join(block.split())[:160]))
    return found
