"""Reported results compared (issue 25): a page per metric with each number's SFT of the same table, a page per
source table, "as reported" on each method's page, the canonical-setting view, and the trade-off plot."""

from __future__ import annotations

import html
import re
from collections import Counter
from pathlib import Path

import pytest

from hftkb.site.reported import SFT_KEYS, slug
from hftkb.validate import load_corpus

ROW = re.compile(r'<tr data-model="([^"]*)" data-task="([^"]*)" data-ratio="([^"]*)" data-samples="([^"]*)" '
                 r'data-stage="([^"]*)" data-paper="([^"]*)">(.*?)</tr>', re.S)
METRICS = ["harmful_score", "finetune_accuracy", "attack_success_rate"]


def entries(corpus, metric=None):
    return [(p, r) for p in corpus.papers.values() for r in p.results if metric is None or r.metric == metric]


def same_table_sft(paper, result):
    """The SFT value of the same table and setting, computed here independently of the site code."""
    if result.baseline is not None:
        return result.baseline
    if result.baseline_method is not None or result.method in SFT_KEYS:
        return None
    for other in paper.results:
        if other.method in SFT_KEYS and (other.table, other.metric, other.model, other.task, other.harmful_ratio,
                                         other.num_samples, other.harmful_data, other.setting) == (
                result.table, result.metric, result.model, result.task, result.harmful_ratio, result.num_samples,
                result.harmful_data, result.setting):
            return other.value
    return None


@pytest.mark.parametrize("metric", METRICS)
def test_every_number_is_on_its_metric_page_with_its_own_tables_sft(fabricated_site: Path, fabricated_kb: Path, metric):
    corpus = load_corpus(fabricated_kb)
    expected = entries(corpus, metric)
    page = (fabricated_site / f"results/{metric.replace('_', '-')}/index.html").read_text()
    rows = ROW.findall(page)
    assert len(rows) == len(expected) > 0
    with_delta = cross_paper = 0
    for model, task, ratio, samples, stage, reporter, cells in rows:
        value, baseline, delta = re.findall(r'<td data-value="([^"]*)">', cells)
        paper = corpus.papers[reporter]
        match = [r for p, r in expected if p.id == reporter and f"{r.value:g}" == value and r.model == model
                 and r.task == task and (f"{r.harmful_ratio:g}" if r.harmful_ratio is not None else "") == ratio]
        assert match, (reporter, value)
        sft = same_table_sft(paper, match[0])
        if sft is None:
            assert baseline == "" and delta == ""  # no SFT in that table: no difference, never a borrowed one
        else:
            assert float(baseline) == pytest.approx(sft) and float(delta) == pytest.approx(float(value) - sft)
            with_delta += 1
        # the method links to its own record; the last cell names the reporting paper and links its table's page
        method = match[0].method or reporter
        if method in corpus.papers:
            assert f'href="../../papers/{method}/"' in cells.split("</td>")[0]
            assert stage == (corpus.papers[method].stage or "")
            cross_paper += method != reporter
        last = cells.rsplit("<td>", 1)[1]
        assert f'href="../../papers/{reporter}/"' in last
        assert f'results/tables/{reporter}--{slug(match[0].table)}.html"' in last
    if metric == "harmful_score":
        assert with_delta and cross_paper  # SFT rows give other methods' rows a Δ, and rows link to their method
    for name in ("model", "task", "ratio", "stage", "paper"):
        if len({row[["model", "task", "ratio", "samples", "stage", "paper"].index(name)] for row in rows}) > 1:
            assert f'data-filter="{name}"' in page
    assert "data-url-state" in page  # the script keeps these filters in the address


def test_a_page_per_source_table_with_rows_per_method(fabricated_site: Path, fabricated_kb: Path):
    corpus = load_corpus(fabricated_kb)
    tables: dict[tuple, list] = {}
    for paper, result in entries(corpus):
        tables.setdefault((paper.id, result.table), []).append(result)
    index = (fabricated_site / "results/tables/index.html").read_text()
    for (paper_id, table), results in tables.items():
        href = f"{paper_id}--{slug(table)}.html"
        assert f'results/tables/{href}"' in index
        page = (fabricated_site / "results/tables" / href).read_text()  # a light static page (source_tables.py)
        assert page.startswith("<!doctype html>") and "source-table.css" in page and len(page) < 20_000
        body = page.split('class="hftkb-source-table"')[1].split("</table>")[0]
        methods = {r.method or paper_id for r in results}
        shown = set(re.findall(r'<tr data-method="([^"]+)">', body))
        assert methods <= shown and shown - methods <= {"sft"}
        for result in results:
            assert f">{result.value:g}</span>" in body
        assert f'href="../../papers/{paper_id}/"' in page  # the reporting paper
        for method in methods & set(corpus.papers):
            assert f'href="../../papers/{method}/"' in body  # each method row leads to its own page


def test_as_reported_gathers_a_methods_numbers_from_every_paper(fabricated_site: Path, fabricated_kb: Path):
    corpus = load_corpus(fabricated_kb)
    by_method: dict[str, set] = {}
    for paper, result in entries(corpus):
        by_method.setdefault(result.method or paper.id, set()).add(paper.id)
    shared = [m for m, reporters in by_method.items() if m in corpus.papers and len(reporters) >= 2]
    assert shared, "the fabricated corpus has methods re-run in other papers' tables"
    for method in shared:
        page = (fabricated_site / f"papers/{method}/index.html").read_text()
        section = page.split('id="as-reported"')[1].split('id="tables"')[0]
        for reporter in by_method[method]:
            assert f'data-reporter="{reporter}"' in section and f'papers/{reporter}/"' in section
        count = sum(1 for p, r in entries(corpus) if (r.method or p.id) == method)
        assert section.count("<tr data-reporter=") == count
        settings = {(r.model, r.task, r.harmful_ratio, r.num_samples) for p, r in entries(corpus) if (r.method or p.id) == method}
        assert section.count('class="hftkb-setting"') == len(settings)
    # a method with no number says nothing
    silent = next(p for p in corpus.papers.values() if p.id not in by_method)
    assert 'id="as-reported"' not in (fabricated_site / f"papers/{silent.id}/index.html").read_text()


def test_canonical_setting_is_the_most_common_with_deltas_and_the_caveat(fabricated_site: Path, fabricated_kb: Path):
    corpus = load_corpus(fabricated_kb)
    hs = [(p, r) for p, r in entries(corpus, "harmful_score") if r.harmful_ratio is not None and r.num_samples is not None]
    counts = Counter((r.model, r.task, r.harmful_ratio, r.num_samples, r.harmful_data) for _, r in hs)
    top = max(counts.values())
    page = (fabricated_site / "results/canonical/index.html").read_text()
    assert "Different tables, different numbers" in page and "not raw values across tables" in page
    label = html.unescape(re.search(r'<b class="hftkb-canonical">([^<]+)</b>', page).group(1))
    chosen = [key for key, n in counts.items() if n == top]
    assert any(f"p = {key[2]:g} · n = {key[3]}" in label for key in chosen)
    rows = re.findall(r'<tr data-method="([^"]+)" data-stage="[^"]*" data-paper="([^"]+)">(.*?)</tr>', page, re.S)
    assert len(rows) >= top - sum(1 for p, r in hs if r.method in SFT_KEYS)  # each HS of the setting has a row
    for method, reporter, cells in rows:
        values = re.findall(r'<td data-value="([^"]*)">', cells)
        hs_value, hs_delta = values[0], values[1]
        if hs_value and hs_delta:
            paper = corpus.papers[reporter]
            result = next(r for r in paper.results if (r.method or reporter) == method and r.metric == "harmful_score"
                          and f"{r.value:g}" == hs_value)
            assert float(hs_delta) == pytest.approx(result.value - same_table_sft(paper, result))


def test_scatter_plot_has_one_dot_per_defense_table_and_setting(fabricated_site: Path, fabricated_kb: Path):
    corpus = load_corpus(fabricated_kb)
    pairs = 0
    for paper in corpus.papers.values():
        def key(r):
            return (r.method, r.table, r.model, r.task, r.harmful_ratio, r.num_samples, r.setting)
        fa = {key(r) for r in paper.results if r.metric == "finetune_accuracy" and same_table_sft(paper, r) is not None}
        pairs += sum(1 for r in paper.results if r.metric == "harmful_score" and same_table_sft(paper, r) is not None
                     and key(r) in fa)
    page = (fabricated_site / "results/index.html").read_text()
    assert pairs > 0 and f'data-points="{pairs}"' in page
    assert page.count('<circle class="hftkb-dot"') == pairs
    assert "<script" not in page.split('<svg class="hftkb-chart hftkb-scatter"')[1].split("</svg>")[0]
    # the result views are in the navigation
    for href in ("harmful-score/", "finetune-accuracy/", "attack-success-rate/", "canonical/", "tables/"):
        assert f'href="{href}"' in page


def test_real_corpus_booster_table_4_links_each_row_to_its_method(tmp_path: Path):
    """The issue's example: the Vaccine, Lisa and RepNoise rows of Booster's Table 4 lead to their own pages, show
    their stage and their difference to that table's SFT (33.7)."""
    from hftkb.site.as_reported import as_reported_table
    from hftkb.site.generate import make_context
    from hftkb.site.source_tables import source_table_files

    from site_helpers import REPO

    site = make_context(REPO)
    page = source_table_files(site)["results/tables/booster-2024--table-4.html"]
    for method, value in (("vaccine-2024", "28.3"), ("lisa-2024", "23.7"), ("repnoise-2024", "32.1")):
        row = page.split(f'<tr data-method="{method}">')[1].split("</tr>")[0]
        assert f'href="../../papers/{method}/"' in row and "stage</small>" in row and f">{value}</span>" in row
    vaccine = as_reported_table(site, "papers/vaccine-2024.md", "vaccine-2024")
    assert "<td>28.3</td><td>33.7</td><td>-5.4</td>" in vaccine  # Booster's Table 4
    assert "<td>48.2</td><td>55.2</td><td>-7</td>" in vaccine  # Vaccine's own Table 1
