"""One page per paper: every field of the record, its links both ways, BibTeX, the reference implementation.

Paper pages stay out of the navigation (DESIGN.md section 4: a 1,000-page nav would be carried by every page).
Only the title, short name, authors, summary and tags are indexed for search (everything below them sits in a
`data-search-exclude` block), which keeps the search index small at 10,000 records.
"""

from __future__ import annotations

from hftkb.site.context import FIELD_VOCABULARY, LATE_END, LATE_START, SiteContext
from hftkb.site.escape import attr, esc, front_matter_string, safe_url
from hftkb.site.authors import author_links
from hftkb.site.implementations import world_summary

IDENTIFIER_URLS = {
    "arxiv": ("arXiv", "https://arxiv.org/abs/{}"),
    "doi": ("DOI", "https://doi.org/{}"),
    "openreview": ("OpenReview", "https://openreview.net/forum?id={}"),
    "acl": ("ACL Anthology", "https://aclanthology.org/{}/"),
}


def _description(paper) -> str:
    text = " ".join((paper.summary or paper.title).split())
    return text if len(text) <= 200 else text[:197].rsplit(" ", 1)[0] + "..."


def _definition_list(items: list[tuple[str, str]]) -> str:
    rows = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in items if value)
    return f'<dl class="hftkb-fields">{rows}</dl>' if rows else ""


def _relations(site: SiteContext, src: str, paper) -> str:
    relation_types = site.corpus.taxonomy.get("relation_types", {})
    outgoing = []
    for relation in paper.relations:
        term = relation_types.get(relation.type)
        label = term.name if term is not None else relation.type
        note = f' <span class="hftkb-note">{esc(relation.note)}</span>' if relation.note else ""
        outgoing.append(
            f'<li><span class="hftkb-reltype">{esc(label)}</span> {site.paper_link(src, relation.target)}{note}</li>'
        )
    incoming = []
    for source_id, relation in site.corpus.reverse_relations(paper.id):
        term = relation_types.get(relation.type)
        label = (term.inverse or f"{term.name} (reverse)") if term is not None else f"{relation.type} (reverse)"
        note = f' <span class="hftkb-note">{esc(relation.note)}</span>' if relation.note else ""
        incoming.append(
            f'<li><span class="hftkb-reltype">{esc(label)}</span> {site.paper_link(src, source_id)}{note}</li>'
        )
    parts = []
    if outgoing:
        parts.append(f"<h3>This paper</h3><ul>{''.join(outgoing)}</ul>")
    if incoming:
        parts.append(f"<h3>Other papers</h3><ul>{''.join(incoming)}</ul>")
    if not parts:
        return ""
    return "<h2>Related papers</h2>" + "".join(parts)


def _results(paper) -> str:
    if not paper.results:
        return ""
    rows = "".join(
        f"<tr><td>{esc(r.metric)}</td><td>{r.value:g}</td><td>{esc(r.method or 'this paper')}</td>"
        f"<td>{esc(r.model)}</td><td>{esc(r.dataset)}</td><td>{esc(r.setting)}</td><td>{esc(r.source)}</td></tr>"
        for r in paper.results
    )
    return (
        "<h2>Reported results</h2><table><thead><tr><th>Metric</th><th>Value</th>"
        "<th>Method</th><th>Model</th><th>Dataset</th><th>Setting</th><th>Where</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _implementation_box(site: SiteContext, src: str, paper) -> str:
    method = site.method_for_paper(paper)
    if method is None:
        return ""
    page = site.link(src, f"implementations/{method.name}.md")
    measured = world_summary(site, method.name)
    return (
        '<div class="admonition tip hftkb-impl"><p class="admonition-title">Reference implementation</p>'
        f"<p>This knowledge base ships a runnable implementation of this method: <code>{esc(method.module)}</code>. "
        f'<a href="{page}">How to run it, its defaults and measured results</a>.</p>'
        + (f"<p>{esc(measured)}</p>" if measured else "")
        + f"<pre><code>python -m reference_impl run config.yaml --method {esc(method.name)}</code></pre></div>"
    )


def _faq_mentions(site: SiteContext, src: str, paper) -> str:
    items = []
    for entry in site.corpus.faq.values():
        for evidence in entry.evidence:
            if evidence.paper == paper.id:
                href = site.link(src, f"faq/{entry.id}.md")
                items.append(f'<li><a href="{href}">{esc(entry.question)}</a>: {esc(evidence.shows)}</li>')
    if not items:
        return ""
    return "<h2>Cited in the FAQ</h2><ul>" + "".join(items) + "</ul>"


def render_paper(site: SiteContext, paper, bibtex: str) -> str:
    """Markdown source (front matter + one raw HTML block) of the page of `paper`."""
    src = site.paper_src(paper.id)
    chips = [site.term_link(src, vocab, getattr(paper, field)) for field, vocab in FIELD_VOCABULARY.items()]
    if paper.venue:
        chips.append(site.term_link(src, "venues", paper.venue.name))
    head = " ".join(chip for chip in chips if chip)
    # The short name as a badge, unless the title already starts with it ("Vaccine: Perturbation-aware ...").
    show_short = paper.short_name and not paper.title.lower().startswith(paper.short_name.lower())
    short = f'<span class="hftkb-short">{esc(paper.short_name)}</span> ' if show_short else ""
    venue = esc(site.venue_label(paper))
    when = f"{venue} · first public {paper.date.isoformat()}" if venue else f"first public {paper.date.isoformat()}"
    authors = author_links(site, src, paper) if paper.authors else "<em>authors not recorded</em>"
    tags = " ".join(site.term_link(src, "tags", tag, css="hftkb-tag") for tag in paper.tags)

    links = []
    for key, (label, pattern) in IDENTIFIER_URLS.items():
        value = getattr(paper.identifiers, key)
        if value:
            url = safe_url(pattern.format(value))
            links.append(f'<li>{label}: <a href="{url}">{esc(value)}</a></li>')
    for link in paper.links:
        url = safe_url(link.url)
        if url:
            links.append(f'<li>{esc(link.kind)}: <a href="{url}">{esc(link.url)}</a></li>')
    links_html = f"<h2>Links</h2><ul class=\"hftkb-links\">{''.join(links)}</ul>" if links else ""

    needs = " ".join(site.term_link(src, "needs", need) for need in paper.needs)
    cost = ""
    if paper.cost:
        cost = esc(paper.cost.paid.replace("_", " "))
        if paper.cost.passes_per_step is not None:
            cost += f"; {paper.cost.passes_per_step:g} forward-backward passes per step (SFT = 1)"
        if paper.cost.note:
            cost += f"; {esc(paper.cost.note)}"
    details = _definition_list(
        [
            ("Mechanism", esc(paper.mechanism)),
            ("Needs", needs),
            ("Cost paid", cost),
            ("Venue note", esc(paper.venue.note) if paper.venue and paper.venue.note else ""),
        ]
    )
    record = _definition_list(
        [
            ("Record", f"<code>papers/{esc(paper.id)}.yaml</code>"),
            ("Added", paper.added.isoformat()),
            ("Updated", paper.updated.isoformat() if paper.updated else ""),
            ("Source", esc(paper.source)),
        ]
    )
    body = "\n".join(
        part
        for part in [
            # The h1 comes first: any element before it would add an empty entry per page to the search index.
            f'<h1 id="paper" data-paper-id="{attr(paper.id)}">{short}{esc(paper.title)}</h1>',
            f'<p class="hftkb-meta">{head}</p>' if head else "",
            f'<p class="hftkb-when">{when}</p>',
            f'<p class="hftkb-authors">{authors}</p>',
            f'<p class="hftkb-summary">{esc(paper.summary)}</p>' if paper.summary else "",
            f'<p class="hftkb-tags">{tags}</p>' if tags else "",
            LATE_START + "<section data-search-exclude>",
            _implementation_box(site, src, paper),
            f"<h2>How it works</h2>{details}" if details else "",
            links_html,
            _relations(site, src, paper),
            _results(paper),
            _faq_mentions(site, src, paper),
            # BibTeX: HTML-escaped only, like an attribute (this block is inserted after every other processor).
            '<h2>Cite</h2><div class="hftkb-bibtex"><button type="button" class="md-button hftkb-copy" '
            f'data-copy-target="bibtex-{attr(paper.id)}">Copy BibTeX</button>'
            f'<pre><code id="bibtex-{attr(paper.id)}">{attr(bibtex)}</code></pre></div>',
            f"<h2>Record</h2>{record}",
            "</section>" + LATE_END,
        ]
        if part
    )
    return (
        f"---\ntitle: {front_matter_string(paper.title)}\ndescription: {front_matter_string(_description(paper))}\n"
        # nav_cache: the page's tabs and sidebars are those of every paper page (site/overrides/main.html).
        f"hide:\n  - toc\nnav_cache: papers\n---\n\n{body}\n"
    )
