"""The canonical-setting view (issue 25): the setting most numbers are reported in, every method in it.

The setting is chosen from the harmful scores themselves: the (model, task, p, n, harmful data) that most of
them share (today Llama-2-7B / SST-2 / p = 0.1 / n = 1000 / BeaverTails). Each method's harmful score and
fine-tune accuracy are listed with the difference to the SFT row of the same table; the page says plainly that
numbers from different tables are not directly comparable.
"""

from __future__ import annotations

from collections import Counter

from hftkb.site.context import SiteContext, late_block
from hftkb.site.escape import attr, esc
from hftkb.site.reported import reporter_link, all_reported, method_stage, number, setting_label, signed, table_src
from hftkb.site.source_tables import method_cell

SRC = "results/canonical.md"
HS, FA = "harmful_score", "finetune_accuracy"


def setting_of(item) -> tuple:
    r = item.result
    return (r.model, r.task, r.harmful_ratio, r.num_samples, r.harmful_data)


def canonical_setting(site: SiteContext) -> tuple | None:
    """The (model, task, p, n, harmful data) most harmful scores share, with p and n stated; None if none."""
    counts = Counter(setting_of(i) for i in all_reported(site)
                     if i.result.metric == HS and i.result.harmful_ratio is not None and i.result.num_samples is not None)
    if not counts:
        return None
    return max(counts, key=lambda key: (counts[key], key[0], key[1]))


def canonical_rows(site: SiteContext, setting: tuple) -> list[dict]:
    """One row per (method, reporting table) in the setting: its HS and FA items (either may be missing)."""
    rows: dict[tuple, dict] = {}
    for item in all_reported(site):
        if setting_of(item) != setting or item.result.metric not in (HS, FA):
            continue
        # the free-text setting stays part of the key: 'under guardrail moderation' is not the plain run
        key = (item.method, item.paper.id, item.result.table, item.result.setting or "")
        row = rows.setdefault(key, {"method": item.method, "paper": item.paper, "table": item.result.table,
                                    "setting": item.result.setting or ""})
        row.setdefault(item.result.metric, item)
    return sorted(rows.values(), key=lambda row: (row[HS].result.value if HS in row else 1e9, row["method"]))


def canonical_page(site: SiteContext) -> str:
    src = SRC
    setting = canonical_setting(site)
    caveat = (
        '<div class="admonition warning"><p class="admonition-title">Different tables, different numbers</p>'
        "<p>Every number below is reported in the same nominal setting, but by different papers: each ran its own "
        "alignment, its own generations and its own copy of the judge, on its own samples of the data. The same SFT "
        "run scores differently from one paper to the next. Compare each method with the SFT row of its own table "
        "(the Δ columns), not raw values across tables.</p></div>"
    )
    if setting is None:
        body = caveat + '<p class="hftkb-empty">No harmful score with its p and n is filed yet.</p>'
    else:
        model, task, ratio, samples, data = setting
        label = setting_label(site, (model, task, ratio, samples)) + (f" · {data}" if data else "")
        rows = canonical_rows(site, setting)
        html_rows = []
        for row in rows:
            hs, fa = row.get(HS), row.get(FA)
            stage = method_stage(site, row["method"])
            html_rows.append(
                f'<tr data-method="{attr(row["method"])}" data-stage="{attr(stage)}" data-paper="{attr(row["paper"].id)}">'
                f"<td>{method_cell(site, src, row['method'])}</td>"
                f'<td data-value="{number(hs.result.value) if hs else ""}">{number(hs.result.value) if hs else ""}</td>'
                f'<td data-value="{number(hs.delta) if hs else ""}">{signed(hs.delta) if hs else ""}</td>'
                f'<td data-value="{number(fa.result.value) if fa else ""}">{number(fa.result.value) if fa else ""}</td>'
                f'<td data-value="{number(fa.delta) if fa else ""}">{signed(fa.delta) if fa else ""}</td>'
                f'<td>{reporter_link(site, src, row["paper"])}, '
                f'<a href="{site.link(src, table_src(row["paper"].id, row["table"]))}">{esc(row["table"])}</a>'
                + (f'<br><small>{esc(row["setting"])}</small>' if row["setting"] else "") + "</td></tr>"
            )
        body = (
            f'<p>The setting most harmful scores in the knowledge base are reported in: <b class="hftkb-canonical">'
            f"{esc(label)}</b>. Every method's harmful score (HS, lower is safer) and fine-tune accuracy (FA) in it, "
            f"each with its difference to the SFT row of the same table ({len(rows)} rows).</p>" + caveat
            + late_block(
                '<section class="hftkb-papers" data-search-exclude data-hftkb-table data-text-column="0">'
                '<div class="hftkb-scroll"><table class="hftkb-table hftkb-canonical-table"><thead><tr><th>Method</th>'
                '<th><button type="button" data-sort="hs" data-sort-type="number">HS</button></th>'
                '<th><button type="button" data-sort="dhs" data-sort-type="number">Δ HS vs SFT</button></th>'
                '<th><button type="button" data-sort="fa" data-sort-type="number">FA</button></th>'
                '<th><button type="button" data-sort="dfa" data-sort-type="number">Δ FA vs SFT</button></th>'
                f"<th>Reported in</th></tr></thead><tbody>{''.join(html_rows)}</tbody></table></div></section>"
            )
        )
    return (
        '---\ntitle: "Canonical setting"\nhide:\n  - toc\n---\n\n<h1 id="canonical">Every method in the most common '
        f"setting</h1>\n{body}\n"
    )
