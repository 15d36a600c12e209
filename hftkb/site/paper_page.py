"""One page per paper: every field of the record, its links both ways, BibTeX, the reference implementation.

Paper pages stay out of the navigation (a 1,000-page nav would be carried by every page).
Only the title, short name, authors, summary and tags are indexed for search (everything below them sits in a
`data-search-exclude` block), which keeps the search index small at 10,000 records.
"""

from __future__ import annotations

from hftkb.site.context import FIELD_VOCABULARY, LATE_END, LATE_START, SiteContext
from hftkb.site.escape import attr, esc, front_matter_string, safe_url
from hftkb.site.as_reported import paper_results_section
from hftkb.site.authors import author_links
from hftkb.site.implementations import world_summary

IDENTIFIER_URLS = {
    "arxiv": ("arXiv", "https://arxiv.org/abs/{}"),
    "doi": ("DOI", "https://doi.org/{}"),
    "openreview": ("OpenReview", "https://openreview.net/forum?id={}"),
    "acl": ("ACL Anthology", "https://aclanthology.org/{}/"),
}


def plain_reference(paper, venues) -> str:
    """A plain-text reference in ACL style (natbib's acl_natbib layout, written out):

    Tiansheng Huang, Sihao Hu, and Ling Liu. 2024. Vaccine: .... In Advances in Neural ... Systems.

    The venue part follows the BibTeX entry type of `hftkb.bibtex`, so the two citations never disagree.
    """
    from hftkb.bibtex import booktitle_for, entry_type_for, submission_note, venue_display_name

    names = list(paper.authors)
    if len(names) > 2:
        who = ", ".join(names[:-1]) + ", and " + names[-1]
    else:
        who = " and ".join(names)
    entry_type = entry_type_for(paper)
    venue = paper.venue
    year = venue.year if venue is not None and venue.year and entry_type in ("article", "inproceedings") else paper.date.year
    title = paper.title.rstrip()
    parts = [f"{who}." if who else "", f"{year}.", title if title[-1:] in ".?!" else title + "."]
    if entry_type == "inproceedings":
        parts.append(f"In {booktitle_for(venue_display_name(venue.name, venues), venue.track, venue.note)}.")
    elif entry_type == "article":
        parts.append(f"{venue_display_name(venue.name, venues)}.")
    elif entry_type == "techreport":
        parts.append(f"Technical report{', ' + venue.note if venue.note else ''}.")
    elif paper.identifiers.arxiv:
        parts.append(f"arXiv preprint arXiv:{paper.identifiers.arxiv}.")
    if venue is not None and venue.track == "submission" and entry_type == "misc":
        parts.append((venue.note or submission_note(venue_display_name(venue.name, venues), venue.year)) + ".")
    return " ".join(part for part in parts if part)


def access_links(site: SiteContext, paper) -> list[tuple[str, str]]:
    """(label, url) of the paper, its PDF, its code and its OpenReview forum, those that exist."""
    from hftkb.bibtex import paper_url

    arxiv = paper.identifiers.arxiv
    page = paper_url(paper) or (f"https://arxiv.org/abs/{arxiv}" if arxiv else None)
    if page is None and paper.identifiers.doi:
        page = f"https://doi.org/{paper.identifiers.doi}"
    pdf = f"https://arxiv.org/pdf/{arxiv}" if arxiv else next(
        (link.url for link in paper.links if link.url.lower().endswith(".pdf")), None)
    openreview = next((link.url for link in paper.links if link.kind == "openreview"), None)
    if paper.identifiers.openreview:
        openreview = f"https://openreview.net/forum?id={paper.identifiers.openreview}"
    found = [("Paper", page), ("PDF", pdf), ("Code", site.code_url(paper)), ("OpenReview", openreview)]
    return [(label, safe_url(url)) for label, url in found if safe_url(url)]


def _cite(site: SiteContext, paper, bibtex: str) -> str:
    """Copy buttons (BibTeX, an ACL-style reference) and the links a reader follows to the paper."""
    venues = site.corpus.taxonomy.get("venues")
    pid = attr(paper.id)
    buttons = "".join(
        f'<a class="md-button" href="{url}">{label}</a>' for label, url in access_links(site, paper)
    )
    return (
        '<h2 id="cite">Cite</h2>'
        + (f'<p class="hftkb-access-links">{buttons}</p>' if buttons else "")
        # BibTeX: HTML-escaped only, like an attribute (this block is inserted after every other processor).
        + '<div class="hftkb-bibtex"><button type="button" class="md-button hftkb-copy" '
        f'data-copy-target="bibtex-{pid}">Copy BibTeX</button> <button type="button" class="md-button hftkb-copy" '
        f'data-copy-target="reference-{pid}">Copy reference</button>'
        f'<p class="hftkb-reference" id="reference-{pid}">{attr(plain_reference(paper, venues))}</p>'
        f'<pre><code id="bibtex-{pid}">{attr(bibtex)}</code></pre></div>'
    )


def _description(paper) -> str:
    """The page's meta description: the summary's start, at the 160 characters search engines show."""
    text = " ".join((paper.summary or paper.title).split())
    return text if len(text) <= 160 else text[:157].rsplit(" ", 1)[0] + "..."


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
            f"<li><b>{esc(label)}</b> {site.paper_link(src, relation.target)}{note}</li>"
        )
    incoming = []
    for source_id, relation in site.corpus.reverse_relations(paper.id):
        term = relation_types.get(relation.type)
        label = (term.inverse or f"{term.name} (reverse)") if term is not None else f"{relation.type} (reverse)"
        note = f' <span class="hftkb-note">{esc(relation.note)}</span>' if relation.note else ""
        incoming.append(
            f"<li><b>{esc(label)}</b> {site.paper_link(src, source_id)}{note}</li>"
        )
    from hftkb.site.graph import neighbourhood_svg

    parts = [neighbourhood_svg(site, src, paper)] if outgoing or incoming else []
    if outgoing:
        parts.append(f"<h3>This paper</h3><ul>{''.join(outgoing)}</ul>")
    if incoming:
        parts.append(f"<h3>Other papers</h3><ul>{''.join(incoming)}</ul>")
    similar = _similar(site, src, paper)
    if similar:
        parts.append(similar)
    if not parts:
        return ""
    return "<h2>Related papers</h2>" + "".join(parts)


def _neighbours(corpus, paper_id: str) -> set[str]:
    """Papers this one relates to, or that relate to it (either direction of any relation)."""
    paper = corpus.papers[paper_id]
    return {r.target for r in paper.relations} | {source for source, _ in corpus.reverse_relations(paper_id)}


def _related_index(corpus) -> dict:
    import bisect  # noqa: F401  (used by related_papers; imported here once)

    neighbours = {pid: _neighbours(corpus, pid) for pid in corpus.papers}
    by_neighbour: dict[str, list[str]] = {}
    for pid, found in neighbours.items():
        for other in found:
            by_neighbour.setdefault(other, []).append(pid)
    groups: dict[tuple, list] = {}
    for paper in corpus.papers.values():
        for key in [("tag", tag) for tag in paper.tags] + ([("stage", paper.stage)] if paper.stage else []):
            groups.setdefault(key, []).append(paper)
    for members in groups.values():
        members.sort(key=lambda p: (p.date, p.id))
    return {"neighbours": neighbours, "by_neighbour": by_neighbour, "groups": groups,
            "dates": {key: [p.date for p in members] for key, members in groups.items()}}


def related_papers(corpus, paper, index: dict | None = None, count: int = 3, nearest: int = 12) -> list:
    """[(paper, (shared relations, shared tags + same stage))], best first, without the papers it relates to
    directly (the relations list shows them).

    Shared relations: both papers relate to (or are related from) the same paper. Then shared tags and stage;
    among papers that tie, the closest in date. Only the `nearest` papers by date of each tag and stage are
    considered, so a site of 10,000 records computes it in linear time.
    """
    import bisect

    index = index or _related_index(corpus)
    mine = index["neighbours"][paper.id]
    shared_relations: dict[str, int] = {}
    for other in mine:
        for pid in index["by_neighbour"].get(other, ()):
            shared_relations[pid] = shared_relations.get(pid, 0) + 1
    candidates = set(shared_relations)
    keys = [("tag", tag) for tag in paper.tags] + ([("stage", paper.stage)] if paper.stage else [])
    for key in keys:
        members, dates = index["groups"][key], index["dates"][key]
        at = bisect.bisect_left(dates, paper.date)
        candidates.update(p.id for p in members[max(0, at - nearest // 2): at + nearest // 2])
    candidates -= mine | {paper.id}
    tags = set(paper.tags)
    scored = []
    for pid in candidates:
        other = corpus.papers[pid]
        similar = len(tags & set(other.tags)) + (1 if paper.stage and other.stage == paper.stage else 0)
        score = (shared_relations.get(pid, 0), similar)
        if score != (0, 0):
            scored.append((other, score))
    scored.sort(key=lambda item: (-item[1][0], -item[1][1], abs((item[0].date - paper.date).days), item[0].id))
    return scored[:count]


def _similar(site: SiteContext, src: str, paper) -> str:
    index = site.cache.get("related_index")
    if index is None:
        index = site.cache["related_index"] = _related_index(site.corpus)
    found = related_papers(site.corpus, paper, index)
    if not found:
        return ""
    # Ranked as related_papers says (shared relations first, then shared tags and stage; the heading's tooltip
    # says so); no per-item note: 10,000 pages carry this list.
    items = "".join(f"<li>{site.paper_link(src, other.id)}</li>" for other, _ in found)
    return f'<h3 title="Shared relations first, then shared tags and stage">Similar papers</h3><ul>{items}</ul>'


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
        + _run_block(site, method.name) + "</div>"
    )


def _run_block(site: SiteContext, name: str) -> str:
    """The command that runs the method on the CPU testbed (the miniature world), the other testbeds named."""
    commands = site.run_commands(name)
    if not commands:
        return ""
    first, command = commands[0]
    others = ", ".join(f"<code>{esc(stem)}</code>" for stem, _ in commands[1:])
    return (f"<pre><code>{esc(command)}</code></pre>"
            + (f"<p>Other testbeds: {others} (same command, another file in <code>reference_impl/configs/</code>).</p>"
               if others else ""))


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

    links, shown = [], set()
    for key, (label, pattern) in IDENTIFIER_URLS.items():
        value = getattr(paper.identifiers, key)
        if value:
            url = safe_url(pattern.format(value))
            shown.add(url)
            links.append(f'<li>{label}: <a href="{url}">{esc(value)}</a></li>')
    for link in paper.links:
        url = safe_url(link.url)
        if url and url not in shown:  # a 'paper' link to the arXiv page is already the arXiv line
            shown.add(url)
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
    record_file = f"papers/{esc(paper.id)}.yaml"
    record = " · ".join(part for part in [
        f'<a class="hftkb-edit" href="{attr(site.edit_base)}{record_file}">Edit <code>{record_file}</code> on GitHub</a>'
        if site.edit_base else f"<code>{record_file}</code>",
        f"added {paper.added.isoformat()}",
        f"updated {paper.updated.isoformat()}" if paper.updated else "",
        f"source: {esc(paper.source)}",
    ] if part)
    body = "\n".join(
        part
        for part in [
            # The h1 comes first: any element before it would add an empty entry per page to the search index.
            f'<h1 id="paper">{short}{esc(paper.title)}</h1>',
            f'<p class="hftkb-meta">{head}</p>' if head else "",
            f'<p class="hftkb-when">{when}</p>',
            f'<p class="hftkb-authors">{authors}</p>',
            f'<p class="hftkb-summary">{esc(paper.summary)}</p>' if paper.summary else "",
            f'<p class="hftkb-tags">{tags}</p>' if tags else "",
            LATE_START + "<section data-search-exclude>",
            _implementation_box(site, src, paper),
            _cite(site, paper, bibtex),
            f"<h2>How it works</h2>{details}" if details else "",
            links_html,
            _relations(site, src, paper),
            paper_results_section(site, src, paper),
            _faq_mentions(site, src, paper),
            f"<h2>Record</h2><p>{record}</p>",
            "</section>" + LATE_END,
        ]
        if part
    )
    return (
        f"---\ntitle: {front_matter_string(paper.title)}\ndescription: {front_matter_string(_description(paper))}\n"
        # nav_cache: the page's tabs and sidebars are those of every paper page (site/overrides/main.html).
        f"hide:\n  - toc\nnav_cache: papers\n---\n\n{body}\n"
    )
