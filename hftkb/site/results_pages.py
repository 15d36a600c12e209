"""Reported results, compared: a page per metric and a plot of what each defense trades.

Raw numbers from different papers are not comparable (other models, judges, data), but a defense's distance to
the plain-SFT baseline *of the same table of the same paper* is much closer to it: each record's `results`
entry carries that baseline (`baseline`, `baseline_method`), and the tables show value, baseline and the
difference (value - baseline). An entry without a baseline shows no difference: never one computed against a
number from another table.

The tables are plain HTML rows with data-* attributes (model, ratio, task, stage) that
site/assets/javascripts/hftkb.js filters and sorts, like the paper tables; the plot is inline SVG. No CDN.
"""

from __future__ import annotations

import re
from collections import Counter

from hftkb.site.context import SiteContext, late_block
from hftkb.site.escape import attr, esc
from hftkb.site.tables import _options

#: metric key in the records -> (page slug, title, which direction a defense wants).
METRICS = {
    "harmful_score": ("harmful-score", "Harmful score", "lower"),
    "finetune_accuracy": ("finetune-accuracy", "Fine-tune accuracy", "higher"),
    "attack_success_rate": ("attack-success-rate", "Attack success rate", "lower"),
}
INDEX_SRC = "results/index.md"

# "p=0.1", "p = 0.05", "harmful ratio 10%", "ratio 0.2": the share of harmful data in the user's fine-tuning set.
_RATIO = re.compile(r"(?:\bp\s*=\s*|harmful[ _-]ratio\s*(?:=|:|of)?\s*|\bratio\s*(?:=|:)?\s*)(\d+(?:\.\d+)?|\.\d+)\s*(%?)", re.I)


def metric_src(metric: str) -> str:
    return f"results/{METRICS[metric][0]}.md"


def harmful_ratio(setting: str | None) -> str:
    """The harmful ratio named in a setting, as a fraction ('0.1'), or '' when it names none."""
    if not setting:
        return ""
    match = _RATIO.search(setting)
    if not match:
        return ""
    value = float(match.group(1))
    if match.group(2) == "%" or value > 1:
        value /= 100
    return f"{value:g}" if 0 < value <= 1 else ""


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _method_of(paper, result) -> tuple[str, bool]:
    """(shown method name, whether the number is the paper's own method)."""
    own = paper.short_name or (paper.title if len(paper.title) <= 48 else paper.title[:45].rsplit(" ", 1)[0] + "…")
    if not result.method:
        return own, True
    return result.method, bool(paper.short_name) and result.method.strip().lower() == paper.short_name.strip().lower()


def result_rows(site: SiteContext, metric: str) -> list[dict]:
    rows = []
    for paper in site.corpus.papers.values():
        for result in paper.results:
            if result.metric != metric:
                continue
            method, own = _method_of(paper, result)
            diff = result.value - result.baseline if result.baseline is not None else None
            rows.append({
                "paper": paper, "result": result, "method": method, "own": own,
                "model": result.model or "", "task": result.task or "", "ratio": harmful_ratio(result.setting),
                "stage": paper.stage if own and paper.stage else "", "diff": diff,
            })
    rows.sort(key=lambda r: (r["model"].lower() or "~", (r["result"].setting or "").lower(), r["paper"].id, r["method"]))
    return rows


def _row_html(site: SiteContext, src: str, row: dict) -> str:
    paper, result = row["paper"], row["result"]
    href = site.link(src, site.paper_src(paper.id))
    source = result.table or "not stated"
    where = f' title="{attr(source)}"'
    baseline = ""
    if result.baseline is not None:
        baseline = f"{_number(result.baseline)} <small>({esc(result.baseline_method or 'SFT')})</small>"
    diff = ""
    if row["diff"] is not None:
        diff = f"{row['diff']:+.4g}"
    stage = esc(site.term_name("stages", row["stage"])) if row["stage"] else ""
    return (
        f'<tr data-model="{attr(row["model"])}" data-ratio="{attr(row["ratio"])}" data-task="{attr(row["task"])}" '
        f'data-stage="{attr(row["stage"])}">'
        f'<td><a href="{href}">{esc(row["method"])}</a>' + (f"<br><small>{stage}</small>" if stage else "") + "</td>"
        f"<td>{esc(row['model'])}</td><td>{esc(row['task'])}</td><td>{esc(row['ratio'])}</td>"
        f"<td>{esc(result.setting)}</td>"
        f'<td data-value="{result.value:g}"><a href="{href}"{where}>{_number(result.value)}</a></td>'
        f'<td data-value="{_number(result.baseline)}">{baseline}</td>'
        f'<td data-value="{_number(row["diff"])}">{diff}</td>'
        f'<td><a href="{href}">{esc(paper.short_name or paper.id)}</a>, {esc(source)}</td></tr>'
    )


def metric_page(site: SiteContext, metric: str) -> str:
    slug, title, direction = METRICS[metric]
    src = metric_src(metric)
    rows = result_rows(site, metric)
    intro = (
        f"<p>Every {esc(title.lower())} a record reports, by model and setting ({len(rows)} numbers from "
        f"{len({r['paper'].id for r in rows})} papers). A defense wants it {direction}. <b>Δ</b> is the value minus "
        "the SFT baseline of the same table of the same paper: it is what compares across papers, the raw numbers "
        "are not (other models, judges and data). A row without a baseline has no Δ. Each value links to its paper "
        "and the last column names the table it comes from.</p>"
    )
    if not rows:
        body = intro + '<p class="hftkb-empty">No record reports this metric yet.</p>'
    else:
        counts = {name: Counter(r[name] for r in rows) for name in ("model", "ratio", "task", "stage")}
        stage_names = {key: site.term_name("stages", key) for key in counts["stage"] if key}
        filters = "".join([
            _options("Model", "model", counts["model"], {}),
            _options("Harmful ratio", "ratio", counts["ratio"], {}),
            _options("Task", "task", counts["task"], {}),
            _options("Stage", "stage", counts["stage"], stage_names),
        ])
        header = (
            '<tr><th><button type="button" data-sort="method">Method</button></th>'
            '<th><button type="button" data-sort="model">Model</button></th>'
            '<th><button type="button" data-sort="task">Task</button></th>'
            '<th><button type="button" data-sort="ratio" data-sort-type="number">p</button></th><th>Setting</th>'
            '<th><button type="button" data-sort="value" data-sort-type="number">Value</button></th>'
            '<th><button type="button" data-sort="baseline" data-sort-type="number">SFT baseline</button></th>'
            '<th><button type="button" data-sort="diff" data-sort-type="number">Δ</button></th><th>Source</th></tr>'
        )
        body = intro + late_block(
            f'<section class="hftkb-papers hftkb-results" data-search-exclude data-hftkb-table data-text-column="0" data-metric="{attr(metric)}">'
            f'<form class="hftkb-filters">{filters}'
            '<label>Method <input type="search" data-filter="text" placeholder="words in the method"></label></form>'
            f'<p class="hftkb-count" aria-live="polite"><span data-shown>{len(rows)}</span> of {len(rows)} numbers</p>'
            f'<div class="hftkb-scroll"><table class="hftkb-table hftkb-results-table"><thead>{header}</thead><tbody>'
            + "".join(_row_html(site, src, row) for row in rows)
            + "</tbody></table></div></section>"
        )
    return (
        f'---\ntitle: "{title}"\nhide:\n  - toc\n---\n\n<h1 id="{slug}">Reported {esc(title.lower())}</h1>\n{body}\n'
    )


def trade_offs(site: SiteContext) -> list[dict]:
    """(HS reduction, FA change) per defense and setting, where one paper gives both numbers with baselines."""
    points = []
    for paper in site.corpus.papers.values():
        fa = {}
        for result in paper.results:
            if result.metric == "finetune_accuracy" and result.baseline is not None:
                fa.setdefault((result.method, result.model, result.task, result.setting), result)
        for result in paper.results:
            if result.metric != "harmful_score" or result.baseline is None:
                continue
            partner = fa.get((result.method, result.model, result.task, result.setting))
            if partner is None:
                continue
            method, own = _method_of(paper, result)
            points.append({
                "paper": paper, "method": method, "stage": paper.stage if own else None,
                "hs_drop": result.baseline - result.value, "fa_change": partner.value - partner.baseline,
                "label": f"{method} ({result.model or 'model not stated'}; {result.setting or 'setting not stated'}; "
                f"{result.table or 'source not stated'})",
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


def index_page(site: SiteContext) -> str:
    src = INDEX_SRC
    items = []
    for metric, (slug, title, _) in METRICS.items():
        count = sum(1 for p in site.corpus.papers.values() for r in p.results if r.metric == metric)
        items.append(f'<li><a href="{site.link(src, metric_src(metric))}">{esc(title)}</a>: {count} numbers</li>')
    others = Counter(r.metric for p in site.corpus.papers.values() for r in p.results if r.metric not in METRICS)
    other = ""
    if others:
        other = ("<p>Other metrics the records report (on the paper pages only): "
                 + esc(", ".join(f"{name} ({n})" for name, n in sorted(others.items()))) + ".</p>")
    points = trade_offs(site)
    plot = ""
    if points:
        plot = (
            "<h2 id=\"trade-off\">What each defense trades</h2><p>One dot per defense and setting where a paper "
            "reports both its harmful score and its fine-tune accuracy with the SFT baseline of the same table: up "
            "is safer than SFT, right is more accurate than SFT. Hover a dot for the method, model, setting and table; "
            f"click it for the paper. {len(points)} dots.</p>" + late_block(scatter_svg(site, src, points))
        )
    return (
        '---\ntitle: "Reported results"\nhide:\n  - toc\n---\n\n<h1 id="results">Reported results</h1>\n'
        "<p>What the papers report, side by side: each number next to the SFT baseline of its own table, and the "
        f"difference between them.</p><ul>{''.join(items)}</ul>{other}{plot}\n"
    )


def results_pages(site: SiteContext) -> dict[str, str]:
    pages = {INDEX_SRC: index_page(site)}
    for metric in METRICS:
        pages[metric_src(metric)] = metric_page(site, metric)
    return pages


def results_nav() -> list:
    return [INDEX_SRC, *(metric_src(metric) for metric in METRICS)]
