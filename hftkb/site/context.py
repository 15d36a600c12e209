"""What every page generator needs: the corpus, where each page lives, and links between pages.

Generated pages hold raw HTML (see `hftkb.site.escape`), which MkDocs neither rewrites nor validates, so the
links are computed here the way MkDocs computes page URLs (`use_directory_urls`), always relative, so the
site works from any base path and offline. `tests/site` checks every internal link of a built site.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hftkb.site.escape import esc

#: Generated HTML between these comments skips Markdown and the search indexer: `generate` cuts it out of the
#: page source and the `on_post_page` hook puts it back into the finished page (see `late_block`).
LATE_START, LATE_END, LATE_MARKER = "<!--hftkb-late-start-->", "<!--hftkb-late-end-->", "<!--hftkb-late-->"


def late_block(html: str) -> str:
    """Mark finished HTML (big tables, the non-searchable part of a paper page) to be inserted after rendering.

    Why: Python-Markdown and the search plugin each parse every byte of a page's HTML; tables of thousands of
    rows would dominate the build time at 10,000 records, and neither step has anything to do with them.
    """
    return f"{LATE_START}{html}{LATE_END}"


_PRE = re.compile(r"(<pre\b.*?</pre>)", re.S | re.I)
_PRE_START = re.compile(r"<pre\b", re.I)
_INDENT = re.compile(r"\n[ \t\r\n]+")


def strip_indentation(html: str) -> str:
    """Drop the indentation and blank lines that templates leave (outside <pre>, where they are content).

    Line breaks stay, so inline scripts and whitespace-separated words are unchanged: a browser renders the
    page exactly as before. Material's templates are about one third indentation; at 10,000 pages that is
    tens of megabytes.
    """
    if not _PRE_START.search(html):  # most pages: no <pre> to keep apart
        return _INDENT.sub("\n", html)
    parts = _PRE.split(html)
    for index in range(0, len(parts), 2):  # even parts are outside <pre>
        parts[index] = _INDENT.sub("\n", parts[index])
    return "".join(parts)


_NAV = re.compile(r"<(/?)nav\b", re.I)


def tighten_navs(html: str) -> str:
    """Drop the line breaks inside each outermost <nav> (Material's tabs and drawer): their lists are flex and
    block boxes, so the breaks render as nothing, and at 10,000 paper pages they are 1.7 MB of the output."""
    out, last, depth, start = [], 0, 0, 0
    for match in _NAV.finditer(html):
        if not match.group(1):
            if depth == 0:
                start = match.start()
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                end = html.find(">", match.end()) + 1
                out += [html[last:start], html[start:end].replace("\n", "")]
                last = end
    out.append(html[last:])
    return "".join(out)


#: Vocabulary name -> folder of its term pages. Relation types have no pages (they label graph edges).
TERM_FOLDERS = {
    "kinds": "kinds",
    "stages": "stages",
    "sub_families": "sub-families",
    "attack_types": "attack-types",
    "venues": "venues",
    "tags": "tags",
    "needs": "needs",
}
#: Baselines of the reference implementations have no paper (so no short name): their names as papers write them.
BASELINE_LABELS = {"sft": "SFT", "non_aligned": "Non-aligned", "ewc": "EWC", "kl": "KL"}
#: Paper field -> vocabulary it draws from.
FIELD_VOCABULARY = {"kind": "kinds", "stage": "stages", "sub_family": "sub_families", "attack_type": "attack_types"}


def page_url(src_uri: str, use_directory_urls: bool = True) -> str:
    """The URL (relative to the site root) MkDocs gives to the page or file at `src_uri`."""
    if not src_uri.endswith(".md"):
        return src_uri
    stem = src_uri[:-3]
    if not use_directory_urls:
        return stem + ".html"
    if stem == "index":
        return ""
    if stem.endswith("/index"):
        return stem[: -len("index")]
    return stem + "/"


@dataclass
class SiteContext:
    corpus: Any  # hftkb.corpus.Corpus
    kb_dir: Path
    use_directory_urls: bool = True
    methods: dict[str, Any] = field(default_factory=dict)  # reference_impl.registry.METHODS
    implementations: dict[str, Any] = field(default_factory=dict)  # name -> hftkb.site.implementations.ImplInfo
    today: dt.date = field(default_factory=dt.date.today)
    cache: dict = field(default_factory=dict)  # memoised HTML fragments (e.g. table rows per paper and depth)
    edit_base: str | None = None  # 'https://github.com/<owner>/<repo>/edit/<branch>/' (mkdocs.yml repo_url, edit_uri)

    # -- where pages live -------------------------------------------------------------------------------

    @staticmethod
    def paper_src(paper_id: str) -> str:
        return f"papers/{paper_id}.md"

    @staticmethod
    def term_src(vocabulary: str, term_id: str) -> str:
        return f"{TERM_FOLDERS[vocabulary]}/{term_id}/index.md"

    def link(self, from_src: str, to_src: str) -> str:
        """Relative href from the page `from_src` to the page or file `to_src`, HTML-escaped.

        Up to the site root ("../" once per folder of the page's URL), then down to the target: always right,
        for any base path and offline, and cheap enough for the 60,000 table rows of a 10,000-record site.
        """
        here = page_url(from_src, self.use_directory_urls) if from_src.endswith(".md") else from_src
        target = page_url(to_src, self.use_directory_urls)
        href = "../" * here.count("/") + target
        return html.escape(href or "./", quote=True)

    # -- lookups ----------------------------------------------------------------------------------------

    def term(self, vocabulary: str, term_id: str | None):
        if term_id is None:
            return None
        return self.corpus.taxonomy.get(vocabulary, {}).get(term_id)

    def term_name(self, vocabulary: str, term_id: str | None) -> str:
        """Display name of a term (the id itself when the vocabulary does not know it)."""
        term = self.term(vocabulary, term_id)
        return term.name if term is not None else (term_id or "")

    def term_link(self, from_src: str, vocabulary: str, term_id: str | None, css: str = "hftkb-chip") -> str:
        if not term_id:
            return ""
        name = esc(self.term_name(vocabulary, term_id))
        if self.term(vocabulary, term_id) is None:
            return f'<span class="{css}">{name}</span>'
        return f'<a class="{css}" href="{self.link(from_src, self.term_src(vocabulary, term_id))}">{name}</a>'

    def paper_link(self, from_src: str, paper_id: str) -> str:
        paper = self.corpus.papers.get(paper_id)
        if paper is None:
            return f"<code>{esc(paper_id)}</code>"
        return f'<a href="{self.link(from_src, self.paper_src(paper_id))}">{esc(paper.title)}</a>'

    @staticmethod
    def venue_key(paper) -> str:
        """The venue a reader filters by: a 'preprint' with an arXiv id is an arXiv preprint (one "arXiv" in the
        Venue filter, not "arXiv" and "Preprint" apart); '' without a venue."""
        if paper.venue is None:
            return ""
        if paper.venue.name == "preprint" and paper.identifiers.arxiv:
            return "arxiv"
        return paper.venue.name

    def venue_label(self, paper) -> str:
        """'NeurIPS 2024', 'ACL 2024 (Findings)', 'arXiv': plain text, not escaped."""
        if paper.venue is None:
            return ""
        label = self.term_name("venues", self.venue_key(paper))
        if paper.venue.year and str(paper.venue.year) not in label:
            label += f" {paper.venue.year}"
        if paper.venue.track not in ("main", "preprint"):
            label += f" ({paper.venue.track})"
        return label

    def code_url(self, paper) -> str | None:
        for link in paper.links:
            if link.kind == "code":
                return link.url
        return None

    def method_label(self, name: str) -> str:
        """'t_vaccine' -> 'T-Vaccine': a registered method's display name (its paper's short name, else the
        baseline's usual name); plain text, not escaped."""
        method = self.methods.get(name)
        paper = self.corpus.papers.get(method.paper) if method is not None and method.paper else None
        if paper is not None and paper.short_name:
            return paper.short_name
        return BASELINE_LABELS.get(name, name.replace("_", " "))

    @staticmethod
    def metric_label(metric: str) -> str:
        """'harmful_score' -> 'Harmful score' (a record's metric key as readers read it)."""
        return metric.replace("_", " ").capitalize()

    def run_commands(self, name: str) -> list[tuple[str, str]]:
        """[(testbed, command)] that run a registered method on each testbed config of this checkout (the CPU
        miniature world first, then SmolLM2-135M, then the real runs), e.g. `python -m reference_impl run
        reference_impl/configs/miniature_world.yaml --method vaccine`."""
        folder = self.kb_dir / "reference_impl" / "configs"
        order = {"miniature_world": 0, "smollm2_135m": 1}
        stems = sorted((p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else [], key=lambda s: (order.get(s, 2), s))
        return [(stem, f"python -m reference_impl run reference_impl/configs/{stem}.yaml --method {name}") for stem in stems]

    def method_for_paper(self, paper):
        """The registered reference implementation of this paper, if any."""
        for method in self.methods.values():
            if method.paper == paper.id or (paper.reference_impl and method.name == paper.reference_impl):
                return method
        return None
