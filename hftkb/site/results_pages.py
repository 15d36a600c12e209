"""Reported results, compared: a page per metric, the canonical setting, the source tables, a trade-off plot.

Raw numbers from different papers are not comparable (other models, judges, data), but a method's distance to
the plain-SFT row *of the same table of the same paper* is much closer to it: each row shows value, that SFT
value and the difference (hftkb.site.reported). A number whose table has no SFT row shows no difference: never
one computed against a number from another table.

Each row names the method (linked to its own record, with its stage) and the reporting paper and table (linked
to the source-table page). The rows carry data-* attributes of the structured fields (model, task, p, n, stage,
reporting paper) that site/assets/javascripts/hftkb.js filters and sorts; the block's `data-url-state` makes the
script keep the filters in the URL (`?model=llama-2-7b&task=sst2`), so a filtered view can be shared.
"""

from __future__ import annotations

from collections import Counter

from hftkb.site.context import SiteContext, late_block
from hftkb.site.escape import attr, esc, front_matter_string
from hftkb.site.reported import (
    reporter_link,
    all_reported, method_name, method_stage, metric_name, number, ratio_label, signed, table_src,
)
from hftkb.site.source_tables import method_cell
from hftkb.site.tables import _options

#: The metrics in the navigation, in this order; every other metric with numbers has its page too.
NAV_METRICS = ("harmful_score", "finetune_accuracy", "attack_success_rate")
INDEX_SRC = "results/index.md"


def metric_slug(metric: str) -> str:
    return metric.replace("_", "-").replace(".", "-")


def metric_src(metric: str) -> str:
    return f"results/{metric_slug(metric)}.md"


def result_rows(site: SiteContext, metric: str) -> list[dict]:
    rows = []
    for item in all_reported(site):
        r = item.result
        if r.metric != metric:
            continue
        rows.append({
            "item": item, "method": item.method, "model": r.model, "task": r.task,
            "ratio": ratio_label(r.harmful_ratio), "samples": "" if r.num_samples is None else str(r.num_samples),
            "stage": method_stage(site, item.method), "paper": item.paper.id,
        })
    rows.sort(key=lambda row: (row["model"], row["task"], row["ratio"], row["samples"], row["paper"], row["method"]))
    return rows


def _row_html(site: SiteContext, src: str, row: dict) -> str:
    item = row["item"]
    r = item.result
    table = f'<a href="{site.link(src, table_src(item.paper.id, r.table))}">{esc(r.table)}</a>'
    extra = "; ".join(part for part in (r.harmful_data, r.setting) if part)
    return (
        f'<tr data-model="{attr(row["model"])}" data-task="{attr(row["task"])}" data-ratio="{attr(row["ratio"])}" '
        f'data-samples="{attr(row["samples"])}" data-stage="{attr(row["stage"])}" data-paper="{attr(row["paper"])}">'
        f'<td>{method_cell(site, src, item.method)}</td>'
        f"<td>{esc(site.term_name('models', r.model))}</td><td>{esc(site.term_name('tasks', r.task))}</td>"
        f"<td>{esc(row['ratio'])}</td><td>{esc(row['samples'])}</td><td>{esc(extra)}</td>"
        f'<td data-value="{number(r.value)}">{number(r.value)}</td>'
        f'<td data-value="{number(item.baseline)}">{number(item.baseline)}</td>'
        f'<td data-value="{number(item.delta)}">{signed(item.delta)}</td>'
        f"<td>{reporter_link(site, src, item.paper)}, {table}</td></tr>"
    )


def metric_page(site: SiteContext, metric: str) -> str:
    term = site.term("metrics", metric)
    title = metric_name(site, metric)
    direction = term.direction if term is not None else ""
    src = metric_src(metric)
    rows = result_rows(site, metric)
    wants = f" A defense wants it {direction}." if direction else ""
    judge = f" Judge: {esc(term.judge)}." if term is not None and term.judge else ""
    described = f" {esc(term.description)}" if term is not None and term.description else ""
    intro = (
        f"<p>Every {esc(title)} number the records file ({len(rows)} numbers from "
        f"{len({r['paper'] for r in rows})} papers).{described}{wants}{judge} <b>Δ</b> is the value minus the SFT "
        "row of the same table and setting: it is what compares across papers, the raw numbers are not (other "
        "models, judges and data). A number whose table has no SFT row has no Δ. Filters are kept in the address, "
        "so a filtered view can be shared.</p>"
    )
    if not rows:
        body = intro + '<p class="hftkb-empty">No record reports this metric yet.</p>'
    else:
        counts = {name: Counter(r[name] for r in rows) for name in ("model", "task", "ratio", "samples", "stage", "paper")}
        names = {
            "model": {k: site.term_name("models", k) for k in counts["model"]},
            "task": {k: site.term_name("tasks", k) for k in counts["task"]},
            "stage": {k: site.term_name("stages", k) for k in counts["stage"] if k},
            "paper": {k: method_name(site, k) for k in counts["paper"]},
        }
        filters = "".join([
            _options("Model", "model", counts["model"], names["model"]),
            _options("Task", "task", counts["task"], names["task"]),
            _options("Harmful ratio p", "ratio", counts["ratio"], {}),
            _options("Samples n", "samples", counts["samples"], {}),
            _options("Stage", "stage", counts["stage"], names["stage"]),
            _options("Reported by", "paper", counts["paper"], names["paper"]),
        ])
        header = (
            '<tr><th><button type="button" data-sort="method">Method</button></th>'
            '<th><button type="button" data-sort="model">Model</button></th>'
            '<th><button type="button" data-sort="task">Task</button></th>'
            '<th><button type="button" data-sort="ratio" data-sort-type="number">p</button></th>'
            '<th><button type="button" data-sort="samples" data-sort-type="number">n</button></th><th>Setting</th>'
            '<th><button type="button" data-sort="value" data-sort-type="number">Value</button></th>'
            '<th><button type="button" data-sort="baseline" data-sort-type="number">SFT, same table</button></th>'
            '<th><button type="button" data-sort="diff" data-sort-type="number">Δ</button></th><th>Reported in</th></tr>'
        )
        body = intro + late_block(
            f'<section class="hftkb-papers hftkb-results" data-search-exclude data-hftkb-table data-url-state '
            f'data-text-column="0" data-metric="{attr(metric)}">'
            f'<form class="hftkb-filters">{filters}'
            '<label>Method <input type="search" data-filter="text" placeholder="words in the method"></label></form>'
            f'<p class="hftkb-count" aria-live="polite"><span data-shown>{len(rows)}</span> of {len(rows)} numbers</p>'
            f'<div class="hftkb-scroll"><table class="hftkb-table hftkb-results-table"><thead>{header}</thead><tbody>'
            + "".join(_row_html(site, src, row) for row in rows)
            + "</tbody></table></div></section>"
        )
    return (
        f"---\ntitle: {front_matter_string(title)}\nhide:\n  - toc\n---\n\n"
        f'<h1 id="{metric_slug(metric)}">Reported: {esc(title)}</h1>\n'
        f"{body}\n"
    )


def trade_offs(site: SiteContext) -> list[dict]:
    """(HS reduction, FA change) per defense, table and setting, where one table gives both with their SFT."""
    fa = {}
    for item in all_reported(site):
        r = item.result
        if r.metric == "finetune_accuracy" and item.baseline is not None:
            fa.setdefault((item.paper.id, item.method, r.table, r.model, r.task, r.harmful_ratio, r.num_samples,
                           r.setting), item)
    points = []
    for item in all_reported(site):
        r = item.result
        if r.metric != "harmful_score" or item.baseline is None:
            continue
        partner = fa.get((item.paper.id, item.method, r.table, r.model, r.task, r.harmful_ratio, r.num_samples, r.setting))
        if partner is None:
            continue
        setting = ", ".join(part for part in (site.term_name("models", r.model), site.term_name("tasks", r.task),
                                              f"p={r.harmful_ratio:g}" if r.harmful_ratio is not None else "",
                                              r.setting or "") if part)
        points.append({
            "paper": item.paper, "method": method_name(site, item.method), "stage": method_stage(site, item.method) or None,
            "hs_drop": item.baseline - r.value, "fa_change": partner.result.value - partner.baseline,
            "label": f"{method_name(site, item.method)} ({setting}; {item.paper.short_name or item.paper.id}, {r.table})",
        })
    return points


STAGE_COLOURS = {"alignment": "#3f51b5", "fine_tuning": "#ff7043", "post_fine_tuning": "#26a69a"}


def scatter_svg(site: SiteContext, src: str, points: list[dict]) -> str:
    """Inline SVG: x = FA change (points), y = HS reduction (points); each dot links to its paper."""
    width, height, pad = 640, 400, 48
    xs = [p["fa_change"] for p in points] + [0.0]
    ys = [p["hs_drop"] for p in points] + [0.0]
    x_lo, x_hi = min(xs) - 2, max(xs) + 2
    y_lo, y_hi = min(ys) - 2, max(ys) + 2

    def sx(value: float) -> float:
        return pad + (value - x_lo) / (x_hi - x_lo) * (width - 2 * pad)

    def sy(value: float) -> float:
        return height - pad - (value - y_lo) / (y_hi - y_lo) * (height - 2 * pad)

    parts = [
        f'<svg class="hftkb-chart hftkb-scatter" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="HS reduction against FA change, one dot per defense and setting" data-points="{len(points)}">',
        f'<line class="hftkb-grid" x1="{pad}" x2="{width - pad}" y1="{sy(0):.1f}" y2="{sy(0):.1f}"/>',
        f'<line class="hftkb-grid" x1="{sx(0):.1f}" x2="{sx(0):.1f}" y1="{pad}" y2="{height - pad}"/>',
        f'<text class="hftkb-axis" x="{width / 2}" y="{height - 10}" text-anchor="middle">fine-tune accuracy change '
        "(defense − SFT, points)</text>",
        f'<text class="hftkb-axis" x="14" y="{height / 2}" text-anchor="middle" transform="rotate(-90 14 {height / 2})">'
        "harmful score reduction (SFT − defense, points)</text>",
        f'<text class="hftkb-axis" x="{pad}" y="{height - pad + 14}">{x_lo:.0f}</text>',
        f'<text class="hftkb-axis" x="{width - pad}" y="{height - pad + 14}" text-anchor="end">{x_hi:.0f}</text>',
        f'<text class="hftkb-axis" x="{pad - 4}" y="{height - pad}" text-anchor="end">{y_lo:.0f}</text>',
        f'<text class="hftkb-axis" x="{pad - 4}" y="{pad + 4}" text-anchor="end">{y_hi:.0f}</text>',
    ]
    for point in points:
        colour = STAGE_COLOURS.get(point["stage"] or "", "#9e9e9e")
        href = site.link(src, site.paper_src(point["paper"].id))
        parts.append(
            f'<a href="{href}"><circle class="hftkb-dot" cx="{sx(point["fa_change"]):.1f}" cy="{sy(point["hs_drop"]):.1f}" '
            f'r="6" fill="{colour}"><title>{esc(point["label"])}: HS −{point["hs_drop"]:.3g}, FA {point["fa_change"]:+.3g}'
            "</title></circle></a>"
        )
    parts.append("</svg>")
    legend = "".join(
        f'<li><span class="hftkb-swatch" style="background:{colour}"></span>{esc(site.term_name("stages", stage))}</li>'
        for stage, colour in STAGE_COLOURS.items()
    ) + '<li><span class="hftkb-swatch" style="background:#9e9e9e"></span>a compared method, stage not recorded</li>'
    return f'<div class="hftkb-figure">{"".join(parts)}<ul class="hftkb-legend">{legend}</ul></div>'


def metrics_with_numbers(site: SiteContext) -> list[str]:
    """The metrics that have numbers, the navigation's first, then the others by name."""
    counts = Counter(item.result.metric for item in all_reported(site))
    return [m for m in NAV_METRICS if m in counts] + sorted((m for m in counts if m not in NAV_METRICS),
                                                            key=lambda m: metric_name(site, m).lower())


def index_page(site: SiteContext) -> str:
    from hftkb.site.canonical import SRC as CANONICAL_SRC
    from hftkb.site.source_tables import INDEX_SRC as TABLES_SRC

    src = INDEX_SRC
    counts = Counter(item.result.metric for item in all_reported(site))
    items = [f'<li><a href="{site.link(src, metric_src(m))}">{esc(metric_name(site, m))}</a>: {counts[m]} numbers</li>'
             for m in metrics_with_numbers(site)]
    points = trade_offs(site)
    plot = ""
    if points:
        plot = (
            "<h2 id=\"trade-off\">What each defense trades</h2><p>One dot per defense, table and setting where a paper "
            "reports both its harmful score and its fine-tune accuracy with the SFT row of the same table: up is "
            "safer than SFT, right is more accurate than SFT. Hover a dot for the method, setting and table; click "
            f"it for the reporting paper. {len(points)} dots.</p>" + late_block(scatter_svg(site, src, points))
        )
    return (
        '---\ntitle: "Reported results"\nhide:\n  - toc\n---\n\n<h1 id="results">Reported results</h1>\n'
        "<p>What the papers report, side by side: each number next to the SFT row of its own table, and the "
        "difference between them. Three ways in:</p><ul>"
        f'<li><a href="{site.link(src, CANONICAL_SRC)}">The canonical setting</a>: every method in the setting '
        "most numbers share, with its distance to its own table's SFT;</li>"
        f'<li><a href="{site.link(src, TABLES_SRC)}">Source tables</a>: each paper\'s table as it reports it;</li>'
        "<li>each method's own page, whose <em>As reported</em> section gathers what every paper reports for it.</li>"
        f"</ul><h2 id=\"metrics\">By metric</h2><ul>{''.join(items)}</ul>{plot}\n"
    )


def results_pages(site: SiteContext) -> dict[str, str]:
    from hftkb.site.canonical import SRC as CANONICAL_SRC, canonical_page
    from hftkb.site.source_tables import source_table_pages

    pages = {INDEX_SRC: index_page(site), CANONICAL_SRC: canonical_page(site)}
    for metric in set(metrics_with_numbers(site)) | set(NAV_METRICS):
        pages[metric_src(metric)] = metric_page(site, metric)
    pages.update(source_table_pages(site))
    return pages


def results_nav() -> list:
    from hftkb.site.canonical import SRC as CANONICAL_SRC
    from hftkb.site.source_tables import INDEX_SRC as TABLES_SRC

    return [INDEX_SRC, CANONICAL_SRC, *(metric_src(metric) for metric in NAV_METRICS), TABLES_SRC]
