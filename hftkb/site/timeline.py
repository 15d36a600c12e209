"""The timeline: papers per quarter (by first public date), stacked by stage or by kind, as inline SVG.

Plain SVG generated here needs no JavaScript and works offline; each bar segment carries a <title> tooltip.
"""

from __future__ import annotations

from collections import Counter

from hftkb.site.escape import esc
from hftkb.site.palette import OTHER, kind_colour, stage_colour


def quarter(day) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def _quarters(first: tuple[int, int], last: tuple[int, int]) -> list[tuple[int, int]]:
    out, (year, q) = [], first
    while (year, q) <= last:
        out.append((year, q))
        year, q = (year + 1, 1) if q == 4 else (year, q + 1)
    return out


def stacked_chart(papers, category_of, categories: list[tuple[str, str]], *, caption: str, colour_of) -> str:
    """An SVG bar chart (one bar per quarter) stacked by `category_of(paper)` and an HTML legend.

    `categories` lists (key, display name) in stacking order; papers whose key is not listed go to 'other'.
    `colour_of(key)` is the key's colour in the site's palette (hftkb.site.palette).
    """
    papers = list(papers)
    if not papers:
        return '<p class="hftkb-empty">No papers yet.</p>'
    known = [key for key, _ in categories]
    counts: Counter = Counter()
    for paper in papers:
        key = category_of(paper)
        counts[(quarter(paper.date), key if key in known else "")] += 1
    used = [(key, name) for key, name in categories if any(k == key for (_, k) in counts)]
    if any(k == "" for (_, k) in counts):
        used.append(("", "other / none"))
    colours = {key: (colour_of(key) if key else OTHER) for key, _ in used}
    quarters = _quarters(min(quarter(p.date) for p in papers), max(quarter(p.date) for p in papers))
    totals = {q: sum(counts[(q, key)] for key, _ in used) for q in quarters}
    peak = max(totals.values())

    bar, gap, height, left, bottom, top = 22, 6, 220, 34, 34, 10
    width = left + len(quarters) * (bar + gap) + gap
    scale = (height - top - bottom) / peak
    parts = [
        f'<svg class="hftkb-chart" viewBox="0 0 {width} {height}" role="img" aria-label="{esc(caption)}" '
        f'xmlns="http://www.w3.org/2000/svg" width="{round(width * 1.6)}" height="{round(height * 1.6)}" '
        f'style="min-width:{min(width, 560)}px">'
    ]
    # Horizontal grid lines with counts.
    step = max(1, round(peak / 4))
    for value in range(0, peak + 1, step):
        y = height - bottom - value * scale
        parts.append(f'<line x1="{left}" x2="{width}" y1="{y:.1f}" y2="{y:.1f}" class="hftkb-grid"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" class="hftkb-axis">{value}</text>')
    for index, q in enumerate(quarters):
        x = left + gap + index * (bar + gap)
        y = height - bottom
        for key, name in used:
            n = counts[(q, key)]
            if not n:
                continue
            h = n * scale
            y -= h
            parts.append(
                f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{h:.1f}" fill="{colours[key]}" data-key="{esc(key)}">'
                f"<title>{q[0]} Q{q[1]}: {n} {esc(name)}</title></rect>"
            )
        if totals[q]:
            parts.append(
                f'<text x="{x + bar / 2}" y="{y - 2:.1f}" text-anchor="middle" class="hftkb-axis">{totals[q]}</text>'
            )
        if q[1] == 1 or index == 0:
            parts.append(
                f'<text x="{x}" y="{height - bottom + 14}" class="hftkb-axis">{q[0]}</text>'
                f'<text x="{x}" y="{height - bottom + 26}" class="hftkb-axis hftkb-small">Q{q[1]}</text>'
            )
    parts.append("</svg>")
    legend = "".join(
        f'<li><span class="hftkb-swatch" style="background:{colours[key]}"></span>{esc(name)}</li>' for key, name in used
    )
    return (
        f'<div class="hftkb-figure"><div class="hftkb-scroll">{"".join(parts)}</div>'
        f'<p class="hftkb-note">{esc(caption)}</p><ul class="hftkb-legend">{legend}</ul></div>'
    )


def timeline_html(corpus) -> str:
    papers = list(corpus.papers.values())
    stages = [(key, term.name) for key, term in corpus.taxonomy.get("stages", {}).items()]
    kinds = [(key, term.name) for key, term in corpus.taxonomy.get("kinds", {}).items()]
    # Markdown headings (they go into the page's table of contents), each chart a raw HTML block.
    return (
        "## By stage\n\n"
        + stacked_chart(papers, lambda p: p.stage or "", stages, caption="Papers per quarter, stacked by stage",
                         colour_of=stage_colour)
        + "\n\n## By kind\n\n"
        + stacked_chart(papers, lambda p: p.kind, kinds, caption="Papers per quarter, stacked by kind",
                         colour_of=kind_colour)
        + "\n"
    )
