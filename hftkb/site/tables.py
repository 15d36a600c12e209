"""The paper table shown on every taxonomy, tag, venue and browse page.

Rows are plain HTML carrying `data-*` attributes (kind, stage, venue, year, has-code, date); the small script
`site/assets/javascripts/hftkb.js` sorts them (date, title, venue) and filters them in the browser. The filter
choices are rendered here from the rows themselves, so a filter never offers a value that matches nothing.
The whole block is excluded from the search index: a paper is found through its own page, not through the
dozens of tables that list it.
"""

from __future__ import annotations

from collections import Counter

from hftkb.site.context import SiteContext, late_block
from hftkb.site.escape import attr, esc, safe_url


def sort_newest_first(papers) -> list:
    return sorted(papers, key=lambda p: (p.date, p.id), reverse=True)


def _options(label: str, name: str, counts: Counter, names: dict[str, str]) -> str:
    if len(counts) < 2:  # one value (or none): a filter would only hide everything or nothing
        return ""
    ordered = sorted(counts, key=lambda key: (-counts[key], names.get(key, key)))
    options = "".join(
        f'<option value="{attr(key)}">{esc(names.get(key, key) or "(none)")} ({counts[key]})</option>' for key in ordered
    )
    return (
        f'<label>{label} <select data-filter="{name}"><option value="">all</option>{options}</select></label>'
    )


def _row(site: SiteContext, from_src: str, paper, show_kind: bool = True) -> tuple[str, bool]:
    """The table row of `paper` (and whether it has code), memoised per folder depth of the table's page:
    a paper appears in several tables, and rows are most of the HTML of a 10,000-record site."""
    href = site.link(from_src, site.paper_src(paper.id))
    key = ("row", paper.id, href, show_kind)
    cached = site.cache.get(key)
    if cached is not None:
        return cached
    code = safe_url(site.code_url(paper))
    show_short = paper.short_name and not paper.title.lower().startswith(paper.short_name.lower())
    short = f"<b>{esc(paper.short_name)}</b>: " if show_short else ""
    kind = esc(site.term_name("kinds", paper.kind))
    if paper.stage:
        kind += f"<br><small>{esc(site.term_name('stages', paper.stage))}</small>"
    code_cell = f'<a href="{code}">code</a>' if code else ""
    html = (
        f'<tr data-kind="{attr(paper.kind)}" data-stage="{attr(paper.stage)}" '
        f'data-venue="{attr(site.venue_key(paper))}" data-year="{paper.date.year}" '
        f'data-code="{1 if code else 0}"><td>{paper.date.isoformat()}</td>'
        f'<td>{short}<a href="{href}">{esc(paper.title)}</a></td>'
        + (f"<td>{kind}</td>" if show_kind else "") + f"<td>{esc(site.venue_label(paper))}</td><td>{code_cell}</td></tr>"
    )
    site.cache[key] = (html, bool(code))
    return html, bool(code)


def paper_table(site: SiteContext, from_src: str, papers, *, empty: str = "No papers yet.") -> str:
    """A sortable, filterable table of `papers` (newest first) for the page at `from_src`."""
    papers = sort_newest_first(papers)
    if not papers:
        return f'<p class="hftkb-empty">{esc(empty)}</p>'

    kinds, stages, venues, years = Counter(), Counter(), Counter(), Counter()
    names: dict[str, str] = {}
    rows = []
    with_code = 0
    # A page whose papers all share one kind and stage (a stage page: every row "Defense / Fine-tuning stage")
    # drops the Kind column rather than repeat it.
    show_kind = len({(paper.kind, paper.stage) for paper in papers}) > 1
    for paper in papers:
        venue_key = site.venue_key(paper)
        kinds[paper.kind] += 1
        stages[paper.stage or ""] += 1
        venues[venue_key] += 1
        years[str(paper.date.year)] += 1
        names.setdefault(paper.kind, site.term_name("kinds", paper.kind))
        names.setdefault(paper.stage or "", site.term_name("stages", paper.stage))
        names.setdefault(venue_key, site.term_name("venues", venue_key) if venue_key else "")
        html, has_code = _row(site, from_src, paper, show_kind)
        with_code += has_code
        rows.append(html)

    filters = "".join(
        [
            _options("Kind", "kind", kinds, names),
            _options("Stage", "stage", stages, names),
            _options("Venue", "venue", venues, names),
            _options("Year", "year", years, {}),
        ]
    )
    if 0 < with_code < len(papers):
        filters += '<label><input type="checkbox" data-filter="code"> has code</label>'
    filters += '<label>Title <input type="search" data-filter="text" placeholder="words in the title"></label>'
    header = (
        '<tr><th aria-sort="descending"><button type="button" data-sort="date">Date</button></th>'
        '<th><button type="button" data-sort="title">Title</button></th>' + ("<th>Kind</th>" if show_kind else "")
        + '<th><button type="button" data-sort="venue">Venue</button></th><th>Code</th></tr>'
    )
    return late_block(
        f'<section class="hftkb-papers" data-search-exclude data-hftkb-table{"" if show_kind else " data-no-kind"}>\n'
        f'<form class="hftkb-filters">{filters}</form>\n'
        f'<p class="hftkb-count" aria-live="polite"><span data-shown>{len(papers)}</span> of {len(papers)} papers</p>\n'
        f'<div class="hftkb-scroll"><table class="hftkb-table"><thead>{header}</thead><tbody>\n'
        + "\n".join(rows)
        + "\n</tbody></table></div>\n</section>"
    )
