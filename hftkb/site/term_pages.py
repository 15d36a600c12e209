"""One page per taxonomy node (kinds, stages, sub-families, attack types, venues, tags, needs) and the index
pages that list them; each node page shows its description and the table of its papers. How complete the
records are is for curators: the page of incomplete records (hftkb.site.completeness_page) is under About ->
Reference, not on the pages readers browse."""

from __future__ import annotations

from collections import defaultdict

from hftkb.site.completeness_page import INCOMPLETE_SRC, incomplete_page
from hftkb.site.context import TERM_FOLDERS, SiteContext
from hftkb.site.escape import esc, front_matter_string
from hftkb.site.fragments import vocabularies
from hftkb.site.tables import paper_table

#: Vocabulary -> (page heading prefix, index page title, index page intro).
VOCABULARY_TEXT = {
    "kinds": ("Kind", "Kinds of paper", "Attacks, defenses, analyses, benchmarks and surveys."),
    "stages": ("Defense stage", "Defenses by stage", "Where in the fine-tuning-as-a-service pipeline a defense acts."),
    "sub_families": ("Sub-family", "Sub-families", "Groups of defenses within a stage that share an idea."),
    "attack_types": ("Attack type", "Attack types", "How an attack compromises the aligned model."),
    "venues": ("Venue", "Venues", "Where the papers appeared. A preprint counts as arXiv until it is published."),
    "tags": ("Tag", "Tags", "Free topics that cut across the taxonomy."),
    "needs": ("Needs", "What a method needs", "The data and models a defense needs beyond the user's fine-tuning data."),
}


def members(corpus) -> dict[tuple[str, str], list]:
    """(vocabulary, term id) -> papers filed under that term."""
    found: dict[tuple[str, str], list] = defaultdict(list)
    for paper in corpus.papers.values():
        found[("kinds", paper.kind)].append(paper)
        if paper.stage:
            found[("stages", paper.stage)].append(paper)
        if paper.sub_family:
            found[("sub_families", paper.sub_family)].append(paper)
        if paper.attack_type:
            found[("attack_types", paper.attack_type)].append(paper)
        if paper.venue:
            found[("venues", SiteContext.venue_key(paper))].append(paper)
        for tag in paper.tags:
            found[("tags", tag)].append(paper)
        for need in paper.needs:
            found[("needs", need)].append(paper)
    return found


def _front_matter(title: str, description: str | None = None) -> str:
    lines = ["---", f"title: {front_matter_string(title)}", "hide:", "  - toc"]  # no headings: give the table the width
    if description:
        lines.append(f"description: {front_matter_string(description)}")
    return "\n".join(lines) + "\n---\n\n"


def term_page(site: SiteContext, vocabulary: str, term, papers: list) -> str:
    src = site.term_src(vocabulary, term.id)
    prefix = VOCABULARY_TEXT[vocabulary][0]
    parts = [f'<h1 id="term">{esc(term.name)}</h1>', f'<p class="hftkb-kicker">{esc(prefix)} · {len(papers)} papers</p>']
    if term.description:
        parts.append(f'<p class="hftkb-description">{esc(term.description)}</p>')
    if term.aliases:
        parts.append(f'<p class="hftkb-aliases">Also written: {esc(", ".join(term.aliases))}</p>')
    if vocabulary == "sub_families" and term.parent:
        parts.append(f"<p>Part of: {site.term_link(src, 'stages', term.parent)}</p>")
    children = [t for t in site.corpus.taxonomy.get("sub_families", {}).values() if t.parent == term.id]
    if vocabulary == "stages" and children:
        links = " ".join(site.term_link(src, "sub_families", child.id) for child in children)
        parts.append(f'<p class="hftkb-children">Sub-families: {links}</p>')
    parts.append(paper_table(site, src, papers, empty="No paper is filed under this term yet."))
    return _front_matter(term.name, term.description) + "\n".join(parts) + "\n"


def index_page(site: SiteContext, vocabulary: str, found) -> str:
    folder = TERM_FOLDERS[vocabulary]
    src = f"{folder}/index.md"
    _, title, intro = VOCABULARY_TEXT[vocabulary]
    terms = list(site.corpus.taxonomy.get(vocabulary, {}).values())
    rows = []
    for term in sorted(terms, key=lambda t: (-len(found.get((vocabulary, t.id), [])), t.name.lower())):
        papers = found.get((vocabulary, term.id), [])
        href = site.link(src, site.term_src(vocabulary, term.id))
        rows.append(
            f'<tr><td><a href="{href}">{esc(term.name)}</a></td><td>{len(papers)}</td>'
            f"<td>{esc(term.description)}</td></tr>"
        )
    table = (
        "<table><thead><tr><th>Term</th><th>Papers</th>"
        f"<th>Description</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
    return _front_matter(title) + f'<h1 id="terms">{esc(title)}</h1>\n<p>{esc(intro)}</p>\n{table}\n'


def browse_page(site: SiteContext) -> str:
    papers = list(site.corpus.papers.values())
    intro = (
        "Every paper in the knowledge base. Sort by date, title or venue with the column headers; narrow the list "
        "with the filters. Each title opens the paper's page."
    )
    return (
        _front_matter("All papers")
        + f'<h1 id="all">All papers</h1>\n<p>{esc(intro)}</p>\n' + vocabularies(site, "browse/index.md") + "\n"
        + paper_table(site, "browse/index.md", papers)
        + "\n"
    )


def term_pages(site: SiteContext) -> dict[str, str]:
    """src_uri -> Markdown for every term page, every vocabulary index page, the browse page and the page of
    incomplete records."""
    found = members(site.corpus)
    from hftkb.site.freshness import BEYOND_SRC, beyond_page

    pages = {"browse/index.md": browse_page(site), INCOMPLETE_SRC: incomplete_page(site), BEYOND_SRC: beyond_page(site)}
    for vocabulary, folder in TERM_FOLDERS.items():
        terms = site.corpus.taxonomy.get(vocabulary, {})
        pages[f"{folder}/index.md"] = index_page(site, vocabulary, found)
        for term in terms.values():
            pages[site.term_src(vocabulary, term.id)] = term_page(site, vocabulary, term, found.get((vocabulary, term.id), []))
    return pages
