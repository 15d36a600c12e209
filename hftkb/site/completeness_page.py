"""How complete the records are (issue 9): a figure on every taxonomy page, and the page of the records still
missing something, with the fields they miss. The rules are those of `hftkb validate --strict`
(hftkb.completeness), so the site and CI count the same way."""

from __future__ import annotations

from hftkb.completeness import EVERY_RECORD, BY_KIND, METHOD_FIELDS, completeness, missing_fields
from hftkb.site.context import SiteContext, late_block
from hftkb.site.escape import esc

#: Where the page of incomplete records lives (linked from the navigation and from every taxonomy page).
INCOMPLETE_SRC = "browse/incomplete.md"


def missing_of(site: SiteContext, paper) -> list[str]:
    """`missing_fields` of a paper, worked out once per build (every taxonomy page it is on counts it)."""
    found = site.cache.setdefault("missing_fields", {})
    if paper.id not in found:
        found[paper.id] = missing_fields(paper)
    return found[paper.id]


def completeness_note(site: SiteContext, from_src: str, papers: list) -> str:
    """'12 of 15 records complete (80%) · what is missing' for the papers of one taxonomy page."""
    if not papers:
        return ""
    complete = sum(not missing_of(site, paper) for paper in papers)
    share = round(100 * complete / len(papers))
    missing = "" if complete == len(papers) else (
        f' · <a href="{site.link(from_src, INCOMPLETE_SRC)}">what the others miss</a>'
    )
    return (f'<p class="hftkb-completeness" data-complete="{complete}" data-total="{len(papers)}">'
            f"{complete} of {len(papers)} records complete ({share}%){missing}</p>")


def complete_count(site: SiteContext, papers: list) -> str:
    """'12/15' for an index table cell."""
    return f"{sum(not missing_of(site, paper) for paper in papers)}/{len(papers)}"


def incomplete_page(site: SiteContext) -> str:
    """The records still missing something, with the fields they miss, and the figure per field."""
    src = INCOMPLETE_SRC
    papers = list(site.corpus.papers.values())
    rows = []
    for paper in papers:
        fields = missing_of(site, paper)
        if fields:
            kind = site.term_link(src, "kinds", paper.kind)
            rows.append(f'<tr data-missing="{esc(" ".join(fields))}"><td>{site.paper_link(src, paper.id)}</td>'
                        f"<td>{kind}</td><td>{esc(', '.join(fields))}</td></tr>")
    figures = "".join(
        f"<tr><td><code>{esc(c.field)}</code></td><td>{c.present}</td><td>{c.absent}</td><td>{c.applies}</td>"
        f"<td>{100 * c.share:.0f}%</td></tr>"
        for c in completeness(papers)
    )
    by_kind = "; ".join(f"{kind}s also {', '.join(fields)}" for kind, fields in BY_KIND.items())
    intro = (
        f"A complete record has {', '.join(EVERY_RECORD)} (at least one identifier, and a code link); {by_kind}; "
        f"defenses and attacks also {', '.join(METHOD_FIELDS)}. A field the paper cannot have is listed under "
        "absent: with the reason, and counts as complete. These are the rules of hftkb validate --strict."
    )
    # Out of the search index, and inserted after rendering (a late block), as the paper tables are
    # (hftkb.site.tables): a paper is found on its own page, and the indexer would parse megabytes for nothing.
    listing = late_block(
        "<section data-search-exclude><table><thead><tr><th>Paper</th><th>Kind</th><th>Missing</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>") if rows else "<p>Every record is complete.</p>"
    front = "---\ntitle: Incomplete records\nhide:\n  - toc\n---\n\n"
    return (
        front
        + '<h1 id="incomplete">Incomplete records</h1>\n'
        + f"<p>{esc(intro)}</p>\n"
        + f'<p class="hftkb-completeness">{len(papers) - len(rows)} of {len(papers)} records complete; '
        + f"{len(rows)} still miss something.</p>\n"
        + f'<h2 id="records">Records still missing something</h2>\n{listing}\n'
        + '<h2 id="fields">Per field</h2>\n'
        + "<table><thead><tr><th>Field</th><th>Present</th><th>Marked absent</th><th>Applies to</th>"
        + f"<th>Complete</th></tr></thead><tbody>{figures}</tbody></table>\n"
    )
