"""Generated blocks inside hand-written pages.

A hand-written page in `site/` writes a marker such as `<!-- hftkb:counts -->` on a line of its own; the
build replaces it with the block computed from the records (the prose around it stays editable Markdown).
An unknown marker fails the build, so a typo cannot ship an empty block.
"""

from __future__ import annotations

import re
from collections import Counter

from hftkb.site.context import SiteContext
from hftkb.site.downloads import latest_papers
from hftkb.site.escape import attr, esc
from hftkb.site.timeline import timeline_html

MARKER = re.compile(r"^<!-- hftkb:([a-z-]+) -->$", re.MULTILINE)


def counts(site: SiteContext, src: str) -> str:
    """Cards: papers per kind, then defenses per stage, each linking to its taxonomy page."""
    papers = list(site.corpus.papers.values())
    by_kind = Counter(p.kind for p in papers)
    by_stage = Counter(p.stage for p in papers if p.stage)

    def cards(vocabulary: str, counter: Counter) -> str:
        items = []
        for key, term in site.corpus.taxonomy.get(vocabulary, {}).items():
            if counter[key]:
                href = site.link(src, site.term_src(vocabulary, key))
                items.append(f'<a class="hftkb-card" href="{href}"><strong>{counter[key]}</strong><span>{esc(term.name)}</span></a>')
        return f'<div class="hftkb-cards">{"".join(items)}</div>'

    with_code = sum(1 for p in papers if site.code_url(p))
    defenses = sum(1 for m in site.methods.values() if m.paper)
    baselines = len(site.methods) - defenses
    total = (
        f'<p class="hftkb-total"><strong>{len(papers)}</strong> papers, {with_code} with code, '
        f"{len(site.corpus.faq)} reviewer questions answered, {defenses} defenses with a runnable reference "
        f"implementation (and {baselines} baselines).</p>"
    )
    return total + "\n<h3>By kind</h3>\n" + cards("kinds", by_kind) + "\n<h3>By stage</h3>\n" + cards("stages", by_stage)


def latest(site: SiteContext, src: str, count: int = 8) -> str:
    items = []
    for paper in latest_papers(site.corpus.papers.values(), count):
        short = f"<b>{esc(paper.short_name)}</b>: " if paper.short_name else ""
        kind = esc(site.term_name("kinds", paper.kind))
        href = site.link(src, site.paper_src(paper.id))
        items.append(
            f'<li>{short}<a href="{href}">{esc(paper.title)}</a> <span class="hftkb-note">{kind} · '
            f"{paper.date.isoformat()} · added {paper.added.isoformat()}</span></li>"
        )
    feed = site.link(src, "feed.xml")
    return f'<ul class="hftkb-latest">{"".join(items)}</ul>\n<p><a href="{feed}">Atom feed of the latest additions</a></p>'


def graph(site: SiteContext, src: str) -> str:
    """The graph viewer: search, filters with the palette's swatches, the canvas, the scripts (vendored
    cytoscape, then our viewer), and the graph as a text list (inserted after rendering: hftkb.site.hooks)."""
    from hftkb.site.context import LATE_MARKER
    from hftkb.site.graph import relation_list
    from hftkb.site.palette import kind_colour, stage_colour

    def swatch(colour: str) -> str:
        return f'<span class="hftkb-swatch" style="background:{colour}"></span>'

    kinds = "".join(
        f'<label><input type="checkbox" data-kind="{attr(k)}" checked>'
        f'{swatch(kind_colour(k)) if k != "defense" else ""}{esc(t.name)}</label>'
        for k, t in site.corpus.taxonomy.get("kinds", {}).items()
    )
    stages = "".join(
        f'<label><input type="checkbox" data-stage="{attr(k)}" checked>{swatch(stage_colour(k))}{esc(t.name)}</label>'
        for k, t in site.corpus.taxonomy.get("stages", {}).items()
    )
    site.cache.setdefault("late_pages", {})[src] = (
        '<details class="hftkb-graph-text" data-search-exclude><summary>The graph as a list: every paper with '
        f"relations and what it relates to</summary>{relation_list(site, src)}</details>"
    )
    return (
        f'<div class="hftkb-graph" data-search-exclude data-graph-url="{site.link(src, "downloads/graph.json")}"'
        f' data-site-root="{site.link(src, "index.md")}">\n'
        f'<form class="hftkb-graph-filters"><fieldset><legend>Kind</legend>{kinds}</fieldset>'
        f'<fieldset><legend>Stage</legend>{stages}<label><input type="checkbox" data-stage="" checked> no stage</label></fieldset>'
        '<fieldset><legend>Show</legend><label><input type="checkbox" data-isolated> papers without relations</label>'
        "</fieldset>"
        '<label class="hftkb-graph-find">Find <input type="search" data-graph-search placeholder="a short name or title words"'
        ' autocomplete="off"></label></form>\n'
        '<p class="hftkb-graph-status" aria-live="polite">Loading the graph…</p>\n'
        '<div id="hftkb-cy" class="hftkb-cy"></div>\n'
        "</div>\n\n"
        f'<script src="{site.link(src, "assets/vendor/cytoscape/cytoscape.min.js")}"></script>\n'
        f'<script src="{site.link(src, "assets/javascripts/graph.js")}"></script>\n\n{LATE_MARKER}\n'
    )


def downloads(site: SiteContext, src: str) -> str:
    files = [
        ("downloads/papers.json", "papers.json", "every record as JSON (a list of objects in the record schema)"),
        ("downloads/papers.csv", "papers.csv", "one row per paper, lists joined with '; '"),
        ("downloads/papers.bib", "papers.bib", "one BibTeX entry per paper, key = record id"),
        ("downloads/papers.schema.json", "papers.schema.json", "the JSON Schema of a paper record"),
        ("downloads/graph.json", "graph.json", "the relationship graph (Cytoscape elements format)"),
        ("feed.xml", "feed.xml", "Atom feed of the latest additions"),
    ]
    rows = "".join(
        f'<tr><td><a href="{site.link(src, path)}" download>{name}</a></td><td>{esc(what)}</td></tr>'
        for path, name, what in files
    )
    return (
        f"<p>Generated from {len(site.corpus.papers)} records at build time.</p>"
        f'<table><thead><tr><th>File</th><th>Contents</th></tr></thead><tbody>{rows}</tbody></table>'
    )


def vocabularies(site: SiteContext, src: str) -> str:
    """Links to the overview page of every vocabulary (kinds, stages, sub-families, attack types, ...)."""
    from hftkb.site.context import TERM_FOLDERS

    names = {"kinds": "kind", "stages": "defense stage", "sub_families": "sub-family", "attack_types": "attack type",
             "venues": "venue", "tags": "tag", "needs": "what a defense needs"}
    links = [f'<a href="{site.link(src, f"{TERM_FOLDERS[v]}/index.md")}">{names[v]}</a>'
             for v in TERM_FOLDERS if site.corpus.taxonomy.get(v)]
    return f'<p class="hftkb-vocabularies">Browse by {", ".join(links[:-1])} or {links[-1]}.</p>' if links else ""


def freshness(site: SiteContext, src: str) -> str:
    from hftkb.site.freshness import freshness as line

    return line(site, src)


FRAGMENTS = {
    "counts": lambda site, src: counts(site, src) + "\n" + vocabularies(site, src),
    "freshness": freshness,
    "latest": latest,
    "timeline": lambda site, src: timeline_html(site.corpus),
    "graph": graph,
    "downloads": downloads,
}


def fill_markers(site: SiteContext, src: str, markdown: str) -> str:
    """Replace every `<!-- hftkb:NAME -->` line; raise ValueError naming an unknown marker."""

    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name not in FRAGMENTS:
            raise ValueError(f"site/{src}: unknown marker <!-- hftkb:{name} --> (known: {', '.join(FRAGMENTS)})")
        return "\n" + FRAGMENTS[name](site, src) + "\n"

    return MARKER.sub(replace, markdown)
