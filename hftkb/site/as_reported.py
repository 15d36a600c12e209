"""On every method's page, "as reported" (issue 25): every number any paper reports for this method.

Grouped by setting (model, task, p, n), so a reader sees how Vaccine fares in Vaccine's, Lisa's, Booster's and
T-Vaccine's own tables side by side; each number names the reporting paper (linked) and its table (linked to
the source-table page), with the difference to that same table's SFT. A record whose tables also hold other
methods' numbers lists those tables too. Shared by the paper pages and the reference-implementation pages.
"""

from __future__ import annotations

from hftkb.site.context import SiteContext
from hftkb.site.escape import esc
from hftkb.site.reported import (
    reporter_link,
    by_method, by_table, metric_name, number, setting_label, signed, table_src,
)


def _sort_key(setting: tuple) -> tuple:
    model, task, ratio, samples = setting
    return (model, task, -1 if ratio is None else ratio, -1 if samples is None else samples)


def reported_for(site: SiteContext, method: str) -> list:
    return by_method(site).get(method, [])


def as_reported_table(site: SiteContext, src: str, method: str, heading: str = "h2") -> str:
    """The grouped table of every number reported for `method`, or '' when there is none."""
    items = reported_for(site, method)
    if not items:
        return ""
    groups: dict[tuple, list] = {}
    for item in items:
        groups.setdefault(item.setting, []).append(item)
    reporters = sorted({item.paper.id for item in items})
    sub = f"h{int(heading[1]) + 1}"  # the settings sit one level below the section heading
    parts = [
        f'<{heading} id="as-reported">As reported</{heading}><p>Every number the knowledge base files for this method, '
        f"from {len(reporters)} paper(s), grouped by setting. Δ is the difference to the SFT row of the same table "
        "and setting; numbers from different tables differ in judge, data and training details, so compare the Δ, "
        "not the raw values.</p>"
    ]
    for setting in sorted(groups, key=_sort_key):
        rows = []
        for item in groups[setting]:
            r = item.result
            where = (f'<a href="{site.link(src, table_src(item.paper.id, r.table))}">{esc(r.table)}</a>')
            extra = "; ".join(part for part in (r.harmful_data, r.setting) if part)
            rows.append(
                f'<tr data-reporter="{esc(item.paper.id)}"><td>{esc(metric_name(site, r.metric))}</td>'
                f"<td>{number(r.value)}</td><td>{number(item.baseline)}</td><td>{signed(item.delta)}</td>"
                f"<td>{reporter_link(site, src, item.paper)}</td><td>{where}</td><td>{esc(extra)}</td></tr>"
            )
        parts.append(
            f'<{sub} class="hftkb-setting">{esc(setting_label(site, setting))}</{sub}>'
            '<div class="hftkb-scroll"><table class="hftkb-table hftkb-as-reported"><thead><tr><th>Metric</th>'
            "<th>Value</th><th>SFT, same table</th><th>Δ</th><th>Reported by</th><th>Where</th><th>Setting</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table></div>"
        )
    return "".join(parts)


def own_tables(site: SiteContext, src: str, paper) -> str:
    """The tables of this paper that the records file, each linked to its page ('' when none)."""
    per_paper = site.cache.get("tables-per-paper")
    if per_paper is None:  # indexed once: every paper page asks
        per_paper = {}
        for key, rows in by_table(site).items():
            per_paper.setdefault(key[0], []).append((key, rows))
        site.cache["tables-per-paper"] = per_paper
    tables = per_paper.get(paper.id, [])
    if not tables:
        return ""
    items = "".join(
        f'<li><a href="{site.link(src, table_src(*key))}">{esc(key[1])}</a>: {len(rows)} numbers, '
        f"{len({row.method for row in rows})} methods</li>"
        for key, rows in tables
    )
    return f'<h2 id="tables">This paper\'s tables</h2><ul class="hftkb-tables">{items}</ul>'


def paper_results_section(site: SiteContext, src: str, paper) -> str:
    """What a paper page shows of results: the numbers for its method, and its own tables."""
    return as_reported_table(site, src, paper.id) + own_tables(site, src, paper)
