"""A page per source table (issue 25): a paper's table as the paper reports it, rebuilt from the records.

Rows are the methods in the order the record files them (the paper's own method, the baselines, the compared
defenses), columns are the settings and metrics the table reports; each method links to its record, so the
Vaccine row of Booster's Table 4 leads to Vaccine's page, and the page links back to the reporting paper. The
index (a Material page in the navigation) lists every table with its size. Values are shown as filed; the
notes say where each was read.

Why the table pages are light static files (results/tables/<paper>--<table>.html, written by the build's last
hook like the author pages, with site/assets/stylesheets/source-table.css): a field of 10,000 papers files
about 5,000 tables, and a Material page costs about 12 KB of header, tabs and scripts each; 60 MB more would
break the 250 MB output target of the site (site/reference/site.md). A light page is 1-3 KB.
"""

from __future__ import annotations

from hftkb.site.context import SiteContext, late_block
from hftkb.site.escape import esc
from hftkb.site.reported import (
    SFT_KEYS, by_table, method_name, method_stage, metric_name, number, setting_label, table_src,
)

INDEX_SRC = "results/tables/index.md"


def _column(item) -> tuple:
    r = item.result
    return (r.metric, r.model, r.task, r.harmful_ratio, r.num_samples, r.harmful_data or "", r.setting or "")


def _column_label(site: SiteContext, column: tuple) -> str:
    metric, model, task, ratio, samples, data, setting = column
    where = setting_label(site, (model, task, ratio, samples))
    extra = "; ".join(part for part in (data, setting) if part)
    return (f"{esc(metric_name(site, metric))}<br><small>{esc(where)}</small>"
            + (f"<br><small>{esc(extra)}</small>" if extra else ""))


def method_cell(site: SiteContext, src: str, method: str) -> str:
    """The method's name, linked to its record when it has one, with its stage."""
    name = esc(method_name(site, method))
    if method in site.corpus.papers:
        stage = method_stage(site, method)
        stage_html = f"<br><small>{esc(site.term_name('stages', stage))}</small>" if stage else ""
        return f'<a href="{site.link(src, site.paper_src(method))}">{name}</a>{stage_html}'
    return f"{name}<br><small>baseline</small>"


def table_page(site: SiteContext, key: tuple[str, str], items: list, site_name: str) -> str:
    """The static HTML of one source table."""
    paper_id, table = key
    paper = site.corpus.papers[paper_id]
    src = table_src(paper_id, table)
    methods: list[str] = []
    columns: list[tuple] = []
    cells: dict[tuple, list] = {}
    for item in items:
        if item.method not in methods:
            methods.append(item.method)
        column = _column(item)
        if column not in columns:
            columns.append(column)
        cells.setdefault((item.method, column), []).append(item)
    # A table whose SFT value is filed as the entries' `baseline` (no SFT row of its own) still shows it in the
    # SFT row, as the paper prints it.
    sft = next((m for m in methods if m in SFT_KEYS), "sft")
    for column in columns:
        if (sft, column) in cells:
            continue
        baselines = {item.result.baseline for item in items if _column(item) == column and item.result.baseline is not None
                     and (item.result.baseline_method or "sft") in SFT_KEYS}
        if len(baselines) == 1:
            if sft not in methods:
                methods.append(sft)
            cells[(sft, column)] = [None, baselines.pop()]
    head = "".join(f"<th>{_column_label(site, column)}</th>" for column in columns)
    body = []
    for method in methods:
        row = []
        for column in columns:
            found = cells.get((method, column), [])
            if found and found[0] is None:  # the SFT value taken from the entries' `baseline`
                row.append(f'<td><span title="filed as the baseline of this column">{number(found[1])}</span></td>')
                continue
            row.append("<td>" + " / ".join(
                f'<span title="{esc(item.result.note or "")}">{number(item.result.value)}</span>' for item in found) + "</td>")
        body.append(f'<tr data-method="{esc(method)}"><th scope="row">{method_cell(site, src, method)}</th>{"".join(row)}</tr>')
    notes = sorted({item.result.note for item in items if item.result.note})
    notes_html = ("<h2>Where the numbers were read</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>"
                  if notes else "")
    title = f"{paper.short_name or paper.title}, {table}"
    up = "../../"
    return (
        '<!doctype html>\n<html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width,'
        f'initial-scale=1"><link rel="icon" href="{up}assets/favicon.svg">'
        f'<link rel="stylesheet" href="{up}assets/stylesheets/author.css">'
        f'<link rel="stylesheet" href="{up}assets/stylesheets/source-table.css">'
        f"<title>{esc(title)} - {esc(site_name)}</title>"
        f'<header><a href="{site.link(src, "index.md")}">{esc(site_name)}</a> '
        f'<a href="{site.link(src, INDEX_SRC)}">Source tables</a></header>'
        f'<main><h1>{esc(title)}</h1>'
        f"<p>{esc(table)} of {site.paper_link(src, paper_id)}, as its record files it: {len(methods)} methods, "
        f"{len(columns)} columns. Each method links to its own page, where the numbers other papers report for it "
        "are gathered; compare a method with the SFT row of this same table.</p>"
        '<div class="scroll"><table class="hftkb-source-table">'
        f"<thead><tr><th>Method</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        f"{notes_html}</main>\n"
    )


def index_page(site: SiteContext, tables: dict) -> str:
    src = INDEX_SRC
    rows = []
    for (paper_id, table), items in tables.items():
        paper = site.corpus.papers[paper_id]
        methods = {item.method for item in items}
        rows.append(
            f'<tr><td><a href="{site.link(src, table_src(paper_id, table))}">{esc(table)}</a></td>'
            f"<td>{site.paper_link(src, paper_id)}</td><td>{len(methods)}</td><td>{len(items)}</td></tr>"
        )
    return (
        '---\ntitle: "Source tables"\nhide:\n  - toc\n---\n\n<h1 id="source-tables">Source tables</h1>\n'
        f"<p>Every table of a paper that the records file numbers from ({len(tables)} tables): open one to see it "
        "as the paper reports it, with each method linked to its own page.</p>"
        + late_block(
            '<div class="hftkb-scroll"><table class="hftkb-table"><thead><tr><th>Table</th><th>Paper</th>'
            f"<th>Methods</th><th>Numbers</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        )
        + "\n"
    )


def source_table_pages(site: SiteContext) -> dict[str, str]:
    """The index (a Material page source)."""
    return {INDEX_SRC: index_page(site, by_table(site))}


def source_table_files(site: SiteContext, site_name: str = "Harmful Fine-tuning Knowledge Base") -> dict[str, str]:
    """{path: HTML} of every source-table page (static files, written after the MkDocs build)."""
    return {table_src(*key): table_page(site, key, items, site_name) for key, items in by_table(site).items()}
