"""Every reported number of the corpus, indexed the ways the result views need it (issue 25).

A `results:` entry lives in the record of the paper whose table it is; `method` says whose number it is (a
record id, a baseline key, or nothing for the paper's own method). The views read it three ways:

* by source table (`by_table`): a page per table of a paper, rows = methods, columns = settings and metrics;
* by method (`by_method`): on a method's page, every number any paper reports for it, grouped by setting;
* by setting (`canonical_setting`): the most common setting, every method's HS and FA in it.

The difference to SFT is only ever taken inside one table: the entry's own `baseline`, else the value of the SFT
row (`method: sft`, `sft_lora` or `sft_full`) of the same table, metric and setting. Never across tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hftkb.site.context import SiteContext

#: The baseline keys that are plain fine-tuning without a defense: their row is "the same table's SFT".
SFT_KEYS = ("sft", "sft_lora", "sft_full")


@dataclass(frozen=True)
class Reported:
    """One number, with who reports it, whose it is and its SFT reference in the same table."""

    paper: object  # the reporting paper (hftkb.models.Paper): the table is its
    index: int  # position in paper.results
    result: object  # hftkb.models.Result
    method: str  # record id, or a key of taxonomy/baselines.yaml
    baseline: float | None  # SFT value of the same table and setting (the entry's own, or the SFT row's)
    baseline_from_row: bool  # the baseline came from the table's SFT row, not the entry's `baseline`

    @property
    def delta(self) -> float | None:
        return None if self.baseline is None else self.result.value - self.baseline

    @property
    def setting(self) -> tuple:
        """(model, task, p, n): what the "as reported" view groups by."""
        r = self.result
        return (r.model, r.task, r.harmful_ratio, r.num_samples)

    @property
    def table_key(self) -> tuple[str, str]:
        return (self.paper.id, self.result.table)


def _same_cell(a, b) -> bool:
    """Two entries of one record describe the same setting of the same table (only the method differs)."""
    return (a.table, a.metric, a.model, a.task, a.harmful_ratio, a.num_samples, a.harmful_data, a.setting) == (
        b.table, b.metric, b.model, b.task, b.harmful_ratio, b.num_samples, b.harmful_data, b.setting)


def sft_row_value(paper, result) -> float | None:
    """The value of the same table's SFT row for this entry's metric and setting, or None."""
    if (result.method or "") in SFT_KEYS:
        return None  # the SFT row itself has no difference to itself
    wanted = result.baseline_method if result.baseline_method in SFT_KEYS else None
    for other in paper.results:
        if other is result or other.method not in SFT_KEYS or (wanted and other.method != wanted):
            continue
        if _same_cell(other, result):
            return other.value
    return None


def all_reported(site: SiteContext) -> list[Reported]:
    """Every entry of the corpus as `Reported`, in record order (memoised per build)."""
    cached = site.cache.get("reported")
    if cached is not None:
        return cached
    found = []
    for paper in site.corpus.papers.values():
        for index, result in enumerate(paper.results):
            baseline, from_row = result.baseline, False
            if baseline is None and result.baseline_method is None:
                baseline = sft_row_value(paper, result)
                from_row = baseline is not None
            found.append(Reported(paper, index, result, result.method or paper.id, baseline, from_row))
    site.cache["reported"] = found
    return found


def _grouped(site: SiteContext, name: str, key) -> dict:
    """Every reported number grouped by `key(item)`, in corpus order; built once per site build."""
    cached = site.cache.get(name)
    if cached is None:
        cached = {}
        for item in all_reported(site):
            cached.setdefault(key(item), []).append(item)
        site.cache[name] = cached
    return cached


def by_method(site: SiteContext) -> dict[str, list[Reported]]:
    """method (record id or baseline key) -> its numbers from every paper."""
    return _grouped(site, "reported-by-method", lambda item: item.method)


def by_table(site: SiteContext) -> dict[tuple[str, str], list[Reported]]:
    """(paper id, table) -> its numbers, in record order; tables in corpus order."""
    return _grouped(site, "reported-by-table", lambda item: item.table_key)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "table"


def table_src(paper_id: str, table: str) -> str:
    """Where the page of one source table lives: results/tables/<paper>--<table>.html, a light static page
    (hftkb.site.source_tables explains why)."""
    return f"results/tables/{paper_id}--{slug(table)}.html"


# -- display names ------------------------------------------------------------------------------------------


def method_name(site: SiteContext, method: str) -> str:
    """A method's short name: the record's short name (or its title, shortened), or the baseline's name."""
    paper = site.corpus.papers.get(method)
    if paper is not None:
        if paper.short_name:
            return paper.short_name
        return paper.title if len(paper.title) <= 48 else paper.title[:45].rsplit(" ", 1)[0] + "…"
    return site.term_name("baselines", method)


def method_stage(site: SiteContext, method: str) -> str:
    paper = site.corpus.papers.get(method)
    return paper.stage or "" if paper is not None else ""


def ratio_label(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def setting_label(site: SiteContext, setting: tuple) -> str:
    """'Llama-2-7B · SST-2 · p = 0.1 · n = 1000' (plain text)."""
    model, task, ratio, samples = setting
    parts = [site.term_name("models", model), site.term_name("tasks", task)]
    if ratio is not None:
        parts.append(f"p = {ratio:g}")
    if samples is not None:
        parts.append(f"n = {samples}")
    return " · ".join(parts)


def reporter_link(site: SiteContext, src: str, paper) -> str:
    """The reporting paper by its short name (its id when it has none), linked to its page: this link is in every
    row of the metric tables, kept short because 10,000 records make those pages large."""
    from hftkb.site.escape import esc

    return f'<a href="{site.link(src, site.paper_src(paper.id))}">{esc(paper.short_name or paper.id)}</a>'


def metric_name(site: SiteContext, metric: str) -> str:
    return site.term_name("metrics", metric)


def number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def signed(value: float | None) -> str:
    return "" if value is None else f"{value:+.4g}"
